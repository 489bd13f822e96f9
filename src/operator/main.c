/*
 * ferry-operator: applies FerryCluster specs to local clusters and runs the
 * controller that upgrades them (controller.h). Commands:
 *
 *   apply -f FILE      validate, store, start the controller if none runs
 *   status             phase, revisions, conditions, nodes
 *   events             the event log
 *   abort              stop the running upgrade, back to the current revision
 *   delete             stop every node and the balancer, remove the cluster
 *   run NAME           the controller itself (apply starts it in the background)
 */
#include "operator/pathf.h"
#include "operator/controller.h"
#include "operator/spec.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

static const char usage[] =
    "usage: ferry-operator COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  apply -f FILE     validate the FerryCluster spec and apply it: the first apply\n"
    "                    creates the cluster, a later one changes it (an upgrade when\n"
    "                    the revision changes); starts the controller if none runs\n"
    "      --foreground  run the controller here, printing progress, until Ctrl-C\n"
    "                    (nodes keep running; apply again to resume)\n"
    "      --wait        after starting it in the background, follow the events until\n"
    "                    the spec's revision serves (exit 0) or is held (exit 1)\n"
    "      --timeout S   with --wait: give up after S seconds (default 3600)\n"
    "      first apply only (kept in platform.json for the cluster's life):\n"
    "      --service-port N   where clients connect (default 1883)\n"
    "      --port-base N      haproxy: node ports from N (default 21000; MQTT N+slot,\n"
    "                         admin N+300+slot, cluster N+600+slot)\n"
    "      --balance leastconn|roundrobin   haproxy's algorithm (default leastconn)\n"
    "      --binary PATH      ferrymq for specs that name none (default: next to\n"
    "                         ferry-operator)\n"
    "  status [-o json]  the cluster's phase, revisions, conditions and nodes\n"
    "  events [-n N]     the last N events (default all)\n"
    "  abort             abort the running upgrade: traffic goes back to the current\n"
    "                    revision, the new nodes are drained and deleted\n"
    "  delete [--wait]   stop every node and the load balancer and remove the cluster\n"
    "  run NAME          the controller (what apply starts in the background)\n"
    "\n"
    "common options:\n"
    "  --run-dir DIR     where clusters live (default $FERRY_RUN_DIR, else ./ferry-run);\n"
    "                    each cluster in DIR/<metadata.name>\n"
    "  --name NAME       the cluster (default: the only one in the run directory)\n"
    "\n"
    "exit status: 0 ok, 1 failed, 2 invalid spec or usage\n";

typedef struct opts {
    const char *cmd;
    const char *file;
    const char *run_dir;
    const char *name;
    const char *output;
    bool foreground, wait;
    long timeout_s, tail;
    long service_port, port_base;
    const char *balance;
    const char *binary;
} opts_t;

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ferry-operator: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

static int mkdirs(const char *path)
{
    char buf[PATH_MAX];
    fo_pathf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static void run_dir(const opts_t *o, char *buf, size_t len)
{
    const char *d = o->run_dir ? o->run_dir : getenv("FERRY_RUN_DIR");
    char abs[PATH_MAX];
    d = d && *d ? d : "ferry-run";
    if (d[0] != '/' && getcwd(abs, sizeof abs))
        fo_pathf(buf, len, "%s/%s", abs, d);
    else
        snprintf(buf, len, "%s", d);
}

/* The cluster directory: --name, or the only cluster in the run directory. */
static int cluster_dir(const opts_t *o, char *buf, size_t len)
{
    char rd[PATH_MAX];
    run_dir(o, rd, sizeof rd);
    if (o->name) {
        fo_pathf(buf, len, "%s/%s", rd, o->name);
    } else {
        char found[256] = "";
        int n = 0;
        DIR *d = opendir(rd);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            char probe[PATH_MAX + 300];
            fo_pathf(probe, sizeof probe, "%s/%s/platform.json", rd, e->d_name);
            if (e->d_name[0] != '.' && access(probe, F_OK) == 0) {
                n++;
                snprintf(found, sizeof found, "%s", e->d_name);
            }
        }
        if (d)
            closedir(d);
        if (n != 1) {
            if (n)
                fail(EXIT_USAGE, "%d clusters in %s: name one with --name", n, rd);
            else
                fail(EXIT_USAGE, "no cluster in %s (apply one, or give --run-dir)", rd);
            return -1;
        }
        fo_pathf(buf, len, "%s/%s", rd, found);
    }
    char probe[PATH_MAX + 32];
    fo_pathf(probe, sizeof probe, "%s/platform.json", buf);
    if (access(probe, F_OK) != 0) {
        fail(EXIT_USAGE, "no cluster at %s", buf);
        return -1;
    }
    return 0;
}

static void default_binary(char *buf, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    buf[0] = '\0';
    if (n <= 0)
        return;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return;
    *slash = '\0';
    const char *tries[] = {"%s/ferrymq", "%s/../broker/ferrymq"};
    for (size_t i = 0; i < sizeof tries / sizeof *tries; i++) {
        char p[PATH_MAX + 32];
        snprintf(p, sizeof p, tries[i], self);
        char real[PATH_MAX];
        if (access(p, X_OK) == 0 && realpath(p, real)) {
            snprintf(buf, len, "%s", real);
            return;
        }
    }
}

static int write_secret(const char *dir)
{
    char path[PATH_MAX + 16];
    fo_pathf(path, sizeof path, "%s/secret", dir);
    if (access(path, F_OK) == 0)
        return 0;
    unsigned char raw[24];
    FILE *r = fopen("/dev/urandom", "r");
    if (!r || fread(raw, 1, sizeof raw, r) != sizeof raw) {
        if (r)
            fclose(r);
        return -1;
    }
    fclose(r);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return -1;
    char hex[64];
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    hex[2 * sizeof raw] = '\n';
    ssize_t w = write(fd, hex, 2 * sizeof raw + 1);
    close(fd);
    return w == (ssize_t)(2 * sizeof raw + 1) ? 0 : -1;
}

/* Starts `ferry-operator run NAME` detached, its output in controller.log. */
static int start_background(const char *rd, const char *name, const char *dir)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setsid();
        if (fork() != 0)
            _exit(0);
        char logp[PATH_MAX + 32];
        fo_pathf(logp, sizeof logp, "%s/controller.log", dir);
        int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0600);
        int nul = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (nul >= 0)
            dup2(nul, 0);
        execl(self, self, "run", name, "--run-dir", rd, (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    /* Until it holds the lock, it is not known to run. */
    for (int i = 0; i < 50 && fo_controller_pid(dir) <= 0; i++)
        usleep(100 * 1000);
    return fo_controller_pid(dir) > 0 ? 0 : -1;
}

static volatile sig_atomic_t interrupted;
static void on_int(int s)
{
    (void)s;
    interrupted = 1;
}

/* Follows events.log from `from` and status.json until the revision serves
 * or is held. */
static int follow(const char *dir, const char *revision, long from, long timeout_s)
{
    char evp[PATH_MAX + 16], stp[PATH_MAX + 16];
    fo_pathf(evp, sizeof evp, "%s/events.log", dir);
    fo_pathf(stp, sizeof stp, "%s/status.json", dir);
    signal(SIGINT, on_int);
    time_t end = time(NULL) + timeout_s;
    long off = from;
    while (!interrupted && time(NULL) < end) {
        FILE *f = fopen(evp, "r");
        if (f) {
            fseek(f, off, SEEK_SET);
            char line[2048];
            while (fgets(line, sizeof line, f))
                fputs(line, stdout);
            off = ftell(f);
            fclose(f);
            fflush(stdout);
        }
        json_t *st = json_load_file(stp, 0, NULL);
        if (st) {
            const char *phase = json_string_value(json_object_get(st, "phase"));
            const char *cur = json_string_value(json_object_get(st, "current_revision"));
            const char *held =
                json_string_value(json_object_get(json_object_get(st, "held"), "revision"));
            int rc = -1;
            if (held && strcmp(held, revision) == 0 && phase && strcmp(phase, "Running") == 0) {
                fprintf(stderr, "ferry-operator: revision %s held: %s\n", revision,
                        json_string_value(json_object_get(json_object_get(st, "held"), "message")));
                rc = EXIT_FAIL;
            } else if (phase && cur && strcmp(phase, "Running") == 0 &&
                       strcmp(cur, revision) == 0) {
                rc = EXIT_OK;
            }
            json_decref(st);
            if (rc >= 0)
                return rc;
        }
        usleep(500 * 1000);
    }
    return fail(EXIT_FAIL,
                interrupted ? "interrupted (the controller goes on)"
                            : "timed out waiting for revision %s",
                revision);
}

static int cmd_apply(const opts_t *o)
{
    if (!o->file)
        return fail(EXIT_USAGE, "apply needs -f FILE");
    fo_spec_t spec;
    fo_spec_init(&spec);
    char err[1024];
    if (fo_spec_load_file(&spec, o->file, err, sizeof err) != 0)
        return fail(EXIT_USAGE, "%s", err);
    char rd[PATH_MAX], dir[PATH_MAX + 80];
    run_dir(o, rd, sizeof rd);
    fo_pathf(dir, sizeof dir, "%s/%s", rd, spec.name);
    int rc = EXIT_FAIL;
    if (mkdirs(dir) != 0) {
        fail(EXIT_FAIL, "cannot create %s: %s", dir, strerror(errno));
        goto out;
    }
    fo_platform_conf_t conf;
    if (fo_platform_conf_load(dir, &conf, err, sizeof err) == 0) {
        if (conf.lb != spec.lb) {
            rc = fail(EXIT_USAGE,
                      "spec.loadBalancer: %s, but cluster %s runs behind %s; the load "
                      "balancer cannot change on a running cluster (delete it first)",
                      fo_lb_name(spec.lb), spec.name, fo_lb_name(conf.lb));
            goto out;
        }
    } else {
        memset(&conf, 0, sizeof conf);
        conf.lb = spec.lb;
        conf.service_port = (uint16_t)(o->service_port ? o->service_port : 1883);
        conf.port_base = (uint16_t)(o->port_base ? o->port_base : 21000);
        conf.leastconn = !o->balance || strcmp(o->balance, "roundrobin") != 0;
        if (spec.lb == FO_LB_KERNEL) {
            snprintf(conf.service_host, sizeof conf.service_host, "127.10.0.1");
            snprintf(conf.netns, sizeof conf.netns, "ferry-%.50s", spec.name);
            if (geteuid() != 0) {
                rc = fail(EXIT_FAIL, "spec.loadBalancer: kernel needs root (a network "
                                     "namespace and nftables); use haproxy without root");
                goto out;
            }
        } else {
            snprintf(conf.service_host, sizeof conf.service_host, "127.0.0.1");
        }
        if (o->binary)
            snprintf(conf.binary, sizeof conf.binary, "%s", o->binary);
        else
            default_binary(conf.binary, sizeof conf.binary);
        if (!spec.binary && access(conf.binary, X_OK) != 0) {
            rc = fail(EXIT_USAGE, "no ferrymq binary: the spec names none (spec.binary) and "
                                  "none was found next to ferry-operator; give --binary");
            goto out;
        }
        if (write_secret(dir) != 0 || fo_platform_conf_save(dir, &conf, err, sizeof err) != 0) {
            fail(EXIT_FAIL, "cannot set up %s: %s", dir, err[0] ? err : strerror(errno));
            goto out;
        }
    }
    if (spec.binary && access(spec.binary, X_OK) != 0) {
        rc = fail(EXIT_USAGE, "spec.binary: %s is not an executable file", spec.binary);
        goto out;
    }
    /* Store the spec, canonical, through a temporary file. */
    char path[PATH_MAX + 100], tmp[PATH_MAX + 120];
    fo_pathf(path, sizeof path, "%s/spec.yaml", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fail(EXIT_FAIL, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    fo_spec_write(&spec, f);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        fail(EXIT_FAIL, "cannot write %s: %s", path, strerror(errno));
        goto out;
    }
    char rev[FO_REVISION_LEN + 1];
    fo_spec_revision(&spec, rev);
    char evp[PATH_MAX + 100];
    fo_pathf(evp, sizeof evp, "%s/events.log", dir);
    struct stat sb;
    long from = stat(evp, &sb) == 0 ? (long)sb.st_size : 0;
    printf("ferrycluster/%s: revision %s applied (%s, %u replicas, %s load balancer on "
           "%s:%u)\n",
           spec.name, rev, fo_strategy_name(spec.strategy), spec.replicas, fo_lb_name(spec.lb),
           conf.service_host, conf.service_port);
    fflush(stdout);
    int pid = fo_controller_pid(dir);
    if (pid > 0) {
        printf("the controller (pid %d) picks it up\n", pid);
    } else if (o->foreground) {
        rc = fo_controller_run(dir, true);
        goto out;
    } else {
        if (start_background(rd, spec.name, dir) != 0) {
            fail(EXIT_FAIL, "the controller did not start: see %s/controller.log", dir);
            goto out;
        }
        printf("controller started in the background (pid %d); log: %s/events.log\n",
               fo_controller_pid(dir), dir);
    }
    fflush(stdout);
    rc = o->wait ? follow(dir, rev, from, o->timeout_s) : EXIT_OK;
out:
    fo_spec_free(&spec);
    return rc;
}

static void fmt_age(int64_t since_ms, char *buf, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t s = ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - since_ms) / 1000;
    if (since_ms <= 0)
        snprintf(buf, len, "-");
    else if (s < 120)
        snprintf(buf, len, "%llds", (long long)s);
    else
        snprintf(buf, len, "%lldm%llds", (long long)s / 60, (long long)s % 60);
}

static const char *js(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s && *s ? s : "-";
}

/* The cluster's file `leaf` (see cluster_dir); also gives the directory. */
static int cluster_file(const opts_t *o, const char *leaf, char *dir, size_t dlen, char *path,
                        size_t plen)
{
    if (cluster_dir(o, dir, dlen) != 0)
        return -1;
    return fo_pathf(path, plen, "%s/%s", dir, leaf) ? 0 : -1;
}

static int cmd_status(const opts_t *o)
{
    char dir[PATH_MAX], path[PATH_MAX + 16];
    if (cluster_file(o, "status.json", dir, sizeof dir, path, sizeof path) != 0)
        return EXIT_USAGE;
    json_error_t je;
    json_t *st = json_load_file(path, 0, &je);
    if (!st)
        return fail(EXIT_FAIL, "no status yet (%s: %s)", path, je.text);
    int pid = fo_controller_pid(dir);
    if (o->output && strcmp(o->output, "json") == 0) {
        json_object_set_new(st, "controller_pid", json_integer(pid > 0 ? pid : 0));
        json_dumpf(st, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(st);
        return EXIT_OK;
    }
    char age[32];
    fmt_age(json_integer_value(json_object_get(st, "phase_since_ms")), age, sizeof age);
    json_t *lb = json_object_get(st, "load_balancer");
    printf("cluster     %s (%s, %lld replicas, image %s)\n", js(st, "name"), js(st, "strategy"),
           (long long)json_integer_value(json_object_get(st, "replicas")), js(st, "image"));
    printf("phase       %s for %s\n", js(st, "phase"), age);
    printf("revisions   current %s, target %s, spec %s\n", js(st, "current_revision"),
           js(st, "target_revision"), js(st, "spec_revision"));
    json_t *held = json_object_get(st, "held");
    if (held)
        printf("held        %s (%s): %s\n", js(held, "revision"), js(held, "reason"),
               js(held, "message"));
    printf("service     %s via %s%s\n", js(lb, "service"), js(lb, "kind"),
           json_is_true(json_object_get(lb, "running")) ? "" : " (NOT RUNNING)");
    printf("controller  %s\n", pid > 0 ? "running" : "not running (apply again to resume)");
    if (pid > 0)
        printf("            pid %d\n", pid);
    size_t i;
    json_t *e;
    printf("conditions\n");
    json_array_foreach(json_object_get(st, "conditions"), i, e)
    {
        fmt_age(json_integer_value(json_object_get(e, "last_transition_ms")), age, sizeof age);
        printf("  %-12s %-5s %-18s %s (%s)\n", js(e, "type"), js(e, "status"), js(e, "reason"),
               js(e, "message"), age);
    }
    printf("nodes\n  %-28s %-9s %-8s %-6s %-7s %8s %8s  %s\n", "NAME", "ROLE", "STATE", "ROUTED",
           "RESTART", "CONNS", "SESSIONS", "EVACUATION");
    json_array_foreach(json_object_get(st, "nodes"), i, e)
    {
        json_t *ev = json_object_get(e, "evacuation");
        char evs[128] = "";
        if (ev)
            snprintf(evs, sizeof evs, "%s (%lld conns, %lld sessions, %lld failed)",
                     js(ev, "state"),
                     (long long)json_integer_value(json_object_get(ev, "connections")),
                     (long long)json_integer_value(json_object_get(ev, "sessions")),
                     (long long)json_integer_value(json_object_get(ev, "failed_sessions")));
        bool running = json_is_true(json_object_get(e, "running"));
        bool ready = json_is_true(json_object_get(e, "ready"));
        printf("  %-28s %-9s %-8s %-6s %-7lld %8lld %8lld  %s\n", js(e, "name"), js(e, "role"),
               !running ? "down"
               : ready  ? "ready"
                        : "starting",
               json_is_true(json_object_get(e, "routed")) ? "yes" : "no",
               (long long)json_integer_value(json_object_get(e, "restarts")),
               (long long)json_integer_value(json_object_get(e, "connections")),
               (long long)json_integer_value(json_object_get(e, "sessions")), evs);
    }
    json_decref(st);
    return EXIT_OK;
}

static int cmd_events(const opts_t *o)
{
    char dir[PATH_MAX], path[PATH_MAX + 16];
    if (cluster_file(o, "events.log", dir, sizeof dir, path, sizeof path) != 0)
        return EXIT_USAGE;
    FILE *f = fopen(path, "r");
    if (!f)
        return fail(EXIT_FAIL, "%s: %s", path, strerror(errno));
    char line[2048];
    long total = 0;
    while (fgets(line, sizeof line, f))
        total++;
    rewind(f);
    long skip = o->tail > 0 && total > o->tail ? total - o->tail : 0;
    for (long n = 0; fgets(line, sizeof line, f); n++)
        if (n >= skip)
            fputs(line, stdout);
    fclose(f);
    return EXIT_OK;
}

static int touch(const char *dir, const char *leaf)
{
    char path[PATH_MAX + 32];
    fo_pathf(path, sizeof path, "%s/%s", dir, leaf);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int cmd_abort(const opts_t *o)
{
    char dir[PATH_MAX];
    if (cluster_dir(o, dir, sizeof dir) != 0)
        return EXIT_USAGE;
    if (touch(dir, "abort-requested") != 0)
        return fail(EXIT_FAIL, "cannot write to %s: %s", dir, strerror(errno));
    int pid = fo_controller_pid(dir);
    printf("abort requested%s\n", pid > 0
                                      ? "; the controller acts on it within a second"
                                      : "; no controller runs: apply the spec again to act on it");
    return EXIT_OK;
}

static int cmd_delete(const opts_t *o)
{
    char dir[PATH_MAX];
    if (cluster_dir(o, dir, sizeof dir) != 0)
        return EXIT_USAGE;
    int pid = fo_controller_pid(dir);
    char err[1024];
    if (pid > 0) {
        if (touch(dir, "delete-requested") != 0)
            return fail(EXIT_FAIL, "cannot write to %s: %s", dir, strerror(errno));
        printf("delete requested; the controller (pid %d) stops the cluster\n", pid);
        if (!o->wait)
            return EXIT_OK;
        for (int i = 0; i < 600 && fo_controller_pid(dir) > 0; i++)
            usleep(100 * 1000);
        if (fo_controller_pid(dir) > 0)
            return fail(EXIT_FAIL, "the controller is still running after 60 s");
    } else if (fo_controller_destroy(dir, err, sizeof err) != 0) {
        return fail(EXIT_FAIL, "%s", err);
    }
    /* The directory's own files; logs stay for a post-mortem. */
    const char *files[] = {"spec.yaml", "platform.json",   "state.json",      "status.json",
                           "secret",    "controller.lock", "abort-requested", "delete-requested"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[PATH_MAX + 32];
        fo_pathf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    printf("cluster deleted (logs kept in %s)\n", dir);
    return EXIT_OK;
}

static int cmd_run(const opts_t *o)
{
    char rd[PATH_MAX], dir[PATH_MAX + 80];
    run_dir(o, rd, sizeof rd);
    fo_pathf(dir, sizeof dir, "%s/%s", rd, o->name);
    char probe[PATH_MAX + 100];
    fo_pathf(probe, sizeof probe, "%s/platform.json", dir);
    if (access(probe, F_OK) != 0)
        return fail(EXIT_USAGE, "no cluster at %s (apply a spec first)", dir);
    return fo_controller_run(dir, true);
}

int main(int argc, char **argv)
{
    opts_t o = {.timeout_s = 3600};
    enum { O_RUN_DIR = 256, O_NAME, O_FG, O_WAIT, O_TIMEOUT, O_SVC, O_BASE, O_BAL, O_BIN };
    static const struct option lo[] = {{"file", required_argument, 0, 'f'},
                                       {"output", required_argument, 0, 'o'},
                                       {"run-dir", required_argument, 0, O_RUN_DIR},
                                       {"name", required_argument, 0, O_NAME},
                                       {"foreground", no_argument, 0, O_FG},
                                       {"wait", no_argument, 0, O_WAIT},
                                       {"timeout", required_argument, 0, O_TIMEOUT},
                                       {"service-port", required_argument, 0, O_SVC},
                                       {"port-base", required_argument, 0, O_BASE},
                                       {"balance", required_argument, 0, O_BAL},
                                       {"binary", required_argument, 0, O_BIN},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    o.cmd = argv[1];
    optind = 2;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "f:o:n:h", lo, NULL)) != -1) {
        long v = 0;
        if (c == O_TIMEOUT || c == O_SVC || c == O_BASE || c == 'n') {
            errno = 0;
            v = strtol(optarg, &end, 10);
            long max = c == O_TIMEOUT ? 86400 * 7 : c == 'n' ? 1000000000L : 65535;
            long min = c == O_BASE ? 1024 : 1;
            if (errno || *end || v < min || v > max || (c == O_BASE && v > 65535 - 900))
                return fail(EXIT_USAGE, "--%s: an integer %ld..%ld, got '%s'",
                            c == O_TIMEOUT ? "timeout"
                            : c == O_SVC   ? "service-port"
                            : c == 'n'     ? "n"
                                           : "port-base",
                            min, c == O_BASE ? 65535 - 900 : max, optarg);
        }
        switch (c) {
        case 'f':
            o.file = optarg;
            break;
        case 'o':
            o.output = optarg;
            break;
        case 'n':
            o.tail = v;
            break;
        case O_RUN_DIR:
            o.run_dir = optarg;
            break;
        case O_NAME:
            o.name = optarg;
            break;
        case O_FG:
            o.foreground = true;
            break;
        case O_WAIT:
            o.wait = true;
            break;
        case O_TIMEOUT:
            o.timeout_s = v;
            break;
        case O_SVC:
            o.service_port = v;
            break;
        case O_BASE:
            o.port_base = v;
            break;
        case O_BAL:
            if (strcmp(optarg, "leastconn") != 0 && strcmp(optarg, "roundrobin") != 0)
                return fail(EXIT_USAGE, "--balance: leastconn or roundrobin, got '%s'", optarg);
            o.balance = optarg;
            break;
        case O_BIN:
            o.binary = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return EXIT_OK;
        default:
            return EXIT_USAGE;
        }
    }
    if (o.output && strcmp(o.output, "json") != 0 && strcmp(o.output, "text") != 0)
        return fail(EXIT_USAGE, "-o: json or text, got '%s'", o.output);
    if (strcmp(o.cmd, "run") == 0) {
        if (optind >= argc)
            return fail(EXIT_USAGE, "run needs the cluster's name");
        o.name = argv[optind++];
    }
    if (optind < argc)
        return fail(EXIT_USAGE, "unexpected argument '%s'", argv[optind]);
    if (o.name && (strchr(o.name, '/') || strcmp(o.name, "..") == 0 || !*o.name))
        return fail(EXIT_USAGE, "--name: a cluster name, got '%s'", o.name);
    if (strcmp(o.cmd, "apply") == 0)
        return cmd_apply(&o);
    if (strcmp(o.cmd, "status") == 0)
        return cmd_status(&o);
    if (strcmp(o.cmd, "events") == 0)
        return cmd_events(&o);
    if (strcmp(o.cmd, "abort") == 0)
        return cmd_abort(&o);
    if (strcmp(o.cmd, "delete") == 0)
        return cmd_delete(&o);
    if (strcmp(o.cmd, "run") == 0)
        return cmd_run(&o);
    return fail(EXIT_USAGE, "unknown command '%s' (see --help)", o.cmd);
}
