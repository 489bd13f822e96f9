/*
 * The local platform (platform.h): nodes are ferrymq child processes under
 * <dir>/nodes/<name>/ (node.json, data/, node.log), the load balancer is
 * haproxy or the kernel (lb.h).
 *
 * Nodes are spawned detached (libuv), so they outlive the controller: a
 * restarted controller adopts them from node.json, checking that the pid is
 * still that node's ferrymq (/proc/<pid>/cmdline names it). node.json is
 * the only record, rewritten atomically (temp file, rename).
 *
 * Addresses (slot = the lowest number no other node uses):
 *   haproxy: every node on 127.0.0.1; MQTT port_base + slot, admin
 *            port_base + 300 + slot, cluster port_base + 600 + slot.
 *   kernel:  node on 127.0.1.<slot + 1> with the well-known ports 1883,
 *            18083, 4370, inside the cluster's network namespace.
 */
#include "operator/pathf.h"
#include "operator/platform_local.h"

#include "operator/answers.h"
#include "operator/lb.h"
#include "operator/textfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SLOT_MAX 256u
#define KILL_AFTER_MS 20000 /* SIGTERM, then SIGKILL after this */

typedef struct local {
    fo_platform_t base;
    fo_local_config_t cfg;
    char dir[4096];
    fo_lb_handle_t *lb;
    char lb_err[256];
} local_t;

typedef fo_node_rec_t node_rec_t; /* nodes/<name>/node.json (answers.h) */

/* Copies src into dst (len bytes), cut to fit: names here are bounded, so
 * a cut only happens to input that is not one of ours. */
static void copy(char *dst, size_t len, const char *src)
{
    size_t n = strlen(src);
    n = n < len - 1 ? n : len - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void node_dir(const local_t *l, const char *name, const char *leaf, char *buf, size_t len)
{
    fo_pathf(buf, len, "%s/nodes/%s%s%s", l->dir, name, leaf ? "/" : "", leaf ? leaf : "");
}

static void addrs(const local_t *l, uint32_t slot, char *host, size_t hlen, uint16_t *mqtt,
                  uint16_t *admin, uint16_t *cluster)
{
    if (l->cfg.lb == FO_LB_KERNEL) {
        snprintf(host, hlen, "127.0.1.%u", (unsigned)slot + 1);
        *mqtt = 1883;
        *admin = 18083;
        *cluster = 4370;
    } else {
        snprintf(host, hlen, "127.0.0.1");
        *mqtt = (uint16_t)(l->cfg.port_base + slot);
        *admin = (uint16_t)(l->cfg.port_base + 300 + slot);
        *cluster = (uint16_t)(l->cfg.port_base + 600 + slot);
    }
}

static int rec_load(const local_t *l, const char *name, node_rec_t *r)
{
    char path[4200];
    node_dir(l, name, "node.json", path, sizeof path);
    memset(r, 0, sizeof *r);
    size_t len = 0;
    char *buf = fo_text_read(path, FO_ANSWER_MAX_BYTES, &len);
    if (!buf && errno != EFBIG)
        return -1; /* not written yet (or gone) */
    char err[200];
    const char *why = NULL;
    if (!buf)
        why = "too large";
    else if (fo_node_rec_parse(buf, len, r, err, sizeof err) != 0)
        why = err;
    else if (strcmp(r->name, name) != 0)
        why = "its name is not its directory's";
    else if (r->slot >= SLOT_MAX)
        why = "slot out of range";
    free(buf);
    if (!why)
        return 0;
    /* Said once per file, not every round; the node is left alone. */
    static char last[4200];
    if (strcmp(last, path) != 0) {
        fprintf(stderr, "ferry-operator: %s ignored: %s\n", path, why);
        snprintf(last, sizeof last, "%s", path);
    }
    memset(r, 0, sizeof *r);
    return -1;
}

static int rec_save(const local_t *l, const node_rec_t *r)
{
    char *text = fo_node_rec_dump(r);
    if (!text)
        return -1;
    char path[4200];
    node_dir(l, r->name, "node.json", path, sizeof path);
    int rc = fo_text_write(path, text);
    free(text);
    return rc;
}

/* The pid is alive, not a zombie, and is this node's ferrymq. */
static bool pid_is_node(int pid, const char *name)
{
    if (pid <= 0 || kill(pid, 0) != 0)
        return false;
    char path[64], buf[8192];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    if (!paren || paren[1] != ' ' || paren[2] == 'Z' || paren[2] == 'X')
        return false;
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    f = fopen(path, "r");
    if (!f)
        return false;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    /* argv is NUL-separated: look for "--node-name" followed by the name. */
    for (size_t i = 0; i + 12 < n; i++)
        if (memcmp(buf + i, "--node-name", 12) == 0 && i + 12 + strlen(name) < n &&
            strcmp(buf + i + 12, name) == 0)
            return true;
    return false;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Names of the nodes, from the directory. */
static size_t list_names(const local_t *l, char names[][FO_NODE_NAME_MAX], size_t max)
{
    char path[4200];
    fo_pathf(path, sizeof path, "%s/nodes", l->dir);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        if (e->d_name[0] == '.' || strlen(e->d_name) >= FO_NODE_NAME_MAX)
            continue;
        copy(names[n++], FO_NODE_NAME_MAX, e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name); /* stable order: ordinals, revisions */
    return n;
}

static void on_close(uv_handle_t *h)
{
    free(h);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    local_t *l = p->data;
    (void)status;
    (void)sig;
    uv_close((uv_handle_t *)p, on_close);
    if (l->cfg.on_exit)
        l->cfg.on_exit(l->cfg.ctx);
}

/* The cluster addresses of the other nodes that are meant to run. */
static void seeds(const local_t *l, const char *self_addr, char *buf, size_t len)
{
    char names[SLOT_MAX][FO_NODE_NAME_MAX];
    size_t n = list_names(l, names, SLOT_MAX), off = 0;
    off += (size_t)snprintf(buf, len, "%s", self_addr);
    for (size_t i = 0; i < n && off < len; i++) {
        node_rec_t r;
        if (rec_load(l, names[i], &r) != 0 || r.terminating)
            continue;
        char host[32];
        uint16_t mq, ad, cp;
        addrs(l, r.slot, host, sizeof host, &mq, &ad, &cp);
        char a[64];
        snprintf(a, sizeof a, "%s:%u", host, cp);
        if (strcmp(a, self_addr) != 0)
            off += (size_t)snprintf(buf + off, len - off, ",%s", a);
    }
}

static int spawn(local_t *l, const fo_spec_t *spec, node_rec_t *r, char *err, size_t errlen)
{
    char host[32], listen[64], admin[64], cluster[64], data[4200], logp[4200];
    uint16_t mq, ad, cp;
    addrs(l, r->slot, host, sizeof host, &mq, &ad, &cp);
    snprintf(listen, sizeof listen, "%s:%u", host, mq);
    snprintf(admin, sizeof admin, "%s:%u", host, ad);
    snprintf(cluster, sizeof cluster, "%s:%u", host, cp);
    node_dir(l, r->name, "data", data, sizeof data);
    node_dir(l, r->name, "node.log", logp, sizeof logp);
    mkdir(data, 0700);
    char seed_list[8192];
    seeds(l, cluster, seed_list, sizeof seed_list);

    const char *binary = spec->binary ? spec->binary : l->cfg.default_binary;
    char *args[64 + FO_SPEC_MAX_CONFIG];
    char *owned[FO_SPEC_MAX_CONFIG];
    size_t na = 0, no = 0;
    args[na++] = (char *)binary;
    const char *fixed[][2] = {
        {"--node-name", r->name},       {"--listen", listen},
        {"--admin-listen", admin},      {"--data-dir", data},
        {"--cluster-listen", cluster},  {"--cluster-name", spec->name},
        {"--cluster-seeds", seed_list},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        args[na++] = (char *)fixed[i][0];
        args[na++] = (char *)fixed[i][1];
    }
    for (size_t i = 0; i < spec->n_config && no < FO_SPEC_MAX_CONFIG; i++) {
        char *a = NULL;
        if (asprintf(&a, "--%s=%s", spec->config[i].key, spec->config[i].value) < 0)
            break;
        for (char *p = a + 2; *p && *p != '='; p++)
            if (*p == '_')
                *p = '-';
        owned[no++] = a;
        args[na++] = a;
    }
    args[na] = NULL;

    char secret_env[1100];
    snprintf(secret_env, sizeof secret_env, "FERRYMQ_CLUSTER_SECRET=%s", l->cfg.secret);
    extern char **environ;
    size_t ne = 0;
    while (environ[ne])
        ne++;
    char **env = calloc(ne + 2, sizeof *env);
    int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    uv_process_t *proc = calloc(1, sizeof *proc);
    int rc = -1;
    if (!env || fd < 0 || !proc) {
        snprintf(err, errlen, "cannot start %s: %s", r->name, strerror(errno));
        goto fail;
    }
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        if (strncmp(environ[i], "FERRYMQ_", 8) != 0) /* the spec decides, not our env */
            env[k++] = environ[i];
    env[k++] = secret_env;
    env[k] = NULL;
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_INHERIT_FD, .data.fd = fd},
        {.flags = UV_INHERIT_FD, .data.fd = fd},
    };
    uv_process_options_t o = {.file = binary,
                              .args = args,
                              .env = env,
                              .flags = UV_PROCESS_DETACHED,
                              .stdio_count = 3,
                              .stdio = stdio,
                              .exit_cb = on_exit_cb};
    proc->data = l;
    int e = uv_spawn(l->cfg.loop, proc, &o);
    if (e != 0) {
        snprintf(err, errlen, "cannot start %s (%s): %s", r->name, binary, uv_strerror(e));
        free(proc);
        proc = NULL;
        goto fail;
    }
    r->pid = proc->pid;
    r->started_ms = now_ms();
    proc = NULL; /* the loop owns it until its exit callback closes it */
    rc = rec_save(l, r);
fail:
    free(proc);
    if (fd >= 0)
        close(fd);
    free(env);
    for (size_t i = 0; i < no; i++)
        free(owned[i]);
    return rc;
}

/* The last non-empty line of a node's log (what it said before exiting). */
static void last_log_line(const local_t *l, const char *name, char *buf, size_t len)
{
    char path[4200];
    node_dir(l, name, "node.log", path, sizeof path);
    snprintf(buf, len, "(no log)");
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char tail[4096];
    if (fseek(f, -(long)sizeof tail + 1, SEEK_END) != 0)
        rewind(f);
    size_t n = fread(tail, 1, sizeof tail - 1, f);
    fclose(f);
    tail[n] = '\0';
    while (n && (tail[n - 1] == '\n' || tail[n - 1] == '\r'))
        tail[--n] = '\0';
    const char *line = strrchr(tail, '\n');
    copy(buf, len, line ? line + 1 : tail);
}

static int local_ensure(fo_platform_t *p, const fo_spec_t *spec, const char *revision,
                        uint32_t ordinal, char *err, size_t errlen)
{
    local_t *l = (local_t *)p;
    char name[FO_NODE_NAME_MAX];
    fo_node_name(name, spec->name, revision, ordinal);
    node_rec_t r;
    if (rec_load(l, name, &r) == 0) {
        if (r.terminating || pid_is_node(r.pid, name))
            return 0;
        /* A node that keeps exiting is restarted at most once per
         * min(restarts, 30) seconds, and says why it exited. */
        int64_t backoff = 1000 * (int64_t)(r.restarts < 30 ? r.restarts : 30);
        if (now_ms() - r.started_ms < backoff)
            return 0;
        char last[256];
        last_log_line(l, name, last, sizeof last);
        r.restarts++;
        int rc = spawn(l, spec, &r, err, errlen);
        if (rc == 0)
            snprintf(err, errlen, "node %s exited (restart %u); its log ends: %s", name, r.restarts,
                     last);
        return rc;
    }
    /* A new node: the lowest free slot. */
    bool used[SLOT_MAX] = {0};
    char names[SLOT_MAX][FO_NODE_NAME_MAX];
    size_t n = list_names(l, names, SLOT_MAX);
    for (size_t i = 0; i < n; i++) {
        node_rec_t o;
        if (rec_load(l, names[i], &o) == 0)
            used[o.slot] = true;
    }
    uint32_t slot = 0;
    while (slot < SLOT_MAX && used[slot])
        slot++;
    if (slot == SLOT_MAX) {
        snprintf(err, errlen, "no free node slot (%u in use)", SLOT_MAX);
        return -1;
    }
    memset(&r, 0, sizeof r);
    snprintf(r.name, sizeof r.name, "%s", name);
    snprintf(r.revision, sizeof r.revision, "%s", revision);
    r.ordinal = ordinal;
    r.slot = slot;
    char path[4200];
    node_dir(l, name, NULL, path, sizeof path);
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    return spawn(l, spec, &r, err, errlen);
}

static int local_delete(fo_platform_t *p, const char *name, char *err, size_t errlen)
{
    local_t *l = (local_t *)p;
    node_rec_t r;
    if (rec_load(l, name, &r) != 0)
        return 0; /* already gone */
    if (!r.terminating) {
        r.terminating = true;
        r.term_since_ms = now_ms();
        if (rec_save(l, &r) != 0) {
            snprintf(err, errlen, "cannot write %s's record: %s", name, strerror(errno));
            return -1;
        }
    }
    if (pid_is_node(r.pid, name))
        kill(r.pid, SIGTERM);
    return 0;
}

/* A terminated node's directory goes; its log is kept under logs/. */
static void reap(local_t *l, const node_rec_t *r)
{
    char from[4200], to[4400], cmd[8600];
    node_dir(l, r->name, "node.log", from, sizeof from);
    fo_pathf(to, sizeof to, "%s/logs", l->dir);
    mkdir(to, 0700);
    fo_pathf(to, sizeof to, "%s/logs/%s.log", l->dir, r->name);
    rename(from, to);
    node_dir(l, r->name, NULL, from, sizeof from);
    /* data/ holds the evacuation state file and nothing else we need. */
    fo_pathf(cmd, sizeof cmd, "%s/data/evacuation.json", from);
    unlink(cmd);
    fo_pathf(cmd, sizeof cmd, "%s/data", from);
    rmdir(cmd);
    fo_pathf(cmd, sizeof cmd, "%s/node.json", from);
    unlink(cmd);
    if (rmdir(from) != 0)
        fprintf(stderr, "ferry-operator: cannot remove %s: %s\n", from, strerror(errno));
}

static int route_now(fo_platform_t *p, const fo_pworld_t *w, const char *const *names, size_t n,
                     char *err, size_t errlen);

static int local_observe(fo_platform_t *p, fo_pworld_t *w)
{
    local_t *l = (local_t *)p;
    memset(w, 0, sizeof *w);
    char names[SLOT_MAX][FO_NODE_NAME_MAX];
    size_t n = list_names(l, names, SLOT_MAX);
    for (size_t i = 0; i < n; i++) {
        node_rec_t r;
        if (rec_load(l, names[i], &r) != 0)
            continue;
        bool alive = pid_is_node(r.pid, r.name);
        if (r.terminating && !alive) {
            reap(l, &r);
            continue;
        }
        if (r.terminating && now_ms() - r.term_since_ms > KILL_AFTER_MS)
            kill(r.pid, SIGKILL);
        fo_pnode_t *o = &w->nodes[w->n_nodes++];
        snprintf(o->name, sizeof o->name, "%s", r.name);
        snprintf(o->revision, sizeof o->revision, "%s", r.revision);
        o->ordinal = r.ordinal;
        o->running = alive;
        o->terminating = r.terminating;
        o->ever_ready = r.ever_ready;
        o->restarts = r.restarts;
        o->pid = r.pid;
        char host[32];
        uint16_t mq, ad, cp;
        addrs(l, r.slot, host, sizeof host, &mq, &ad, &cp);
        snprintf(o->mqtt_addr, sizeof o->mqtt_addr, "%s:%u", host, mq);
        snprintf(o->admin_url, sizeof o->admin_url, "http://%s:%u", host, ad);
        snprintf(o->cluster_addr, sizeof o->cluster_addr, "%s:%u", host, cp);
    }
    fo_lb_observed_t *lo = malloc(sizeof *lo);
    if (!lo)
        return -1;
    w->lb_running = false;
    if (!l->lb)
        l->lb = fo_lb_open(&l->cfg.lbcfg, w->lb_error, sizeof w->lb_error);
    if (l->lb && fo_lb_observe(l->lb, lo, w->lb_error, sizeof w->lb_error) == 0 && lo->running) {
        w->lb_running = true;
        for (size_t i = 0; i < lo->n && w->n_lb_active < FO_MAX_NODES; i++)
            if (lo->servers[i].active && lo->servers[i].healthy)
                copy(w->lb_active[w->n_lb_active++], FO_NODE_NAME_MAX, lo->servers[i].name);
        /* Servers of nodes that are gone are dropped (lb_set removes them). */
        bool stale = false;
        for (size_t i = 0; i < lo->n; i++) {
            bool found = false;
            for (size_t j = 0; j < w->n_nodes; j++)
                found = found || strcmp(w->nodes[j].name, lo->servers[i].name) == 0;
            stale = stale || !found;
        }
        if (stale) {
            const char *act[FO_MAX_NODES];
            size_t na = 0;
            for (size_t i = 0; i < lo->n; i++)
                if (lo->servers[i].active)
                    act[na++] = lo->servers[i].name;
            char e[256];
            route_now(p, w, act, na, e, sizeof e);
        }
    } else if (l->lb) {
        fo_lb_close(l->lb); /* reopened (adopted or restarted) next time */
        l->lb = NULL;
    }
    free(lo);
    return 0;
}

static int route_now(fo_platform_t *p, const fo_pworld_t *w, const char *const *names, size_t n,
                     char *err, size_t errlen)
{
    local_t *l = (local_t *)p;
    if (!l->lb && !(l->lb = fo_lb_open(&l->cfg.lbcfg, err, errlen)))
        return -1;
    fo_lb_backend_t b[FO_MAX_NODES];
    char hosts[FO_MAX_NODES][32];
    size_t nb = 0;
    for (size_t i = 0; i < w->n_nodes; i++) {
        const fo_pnode_t *o = &w->nodes[i];
        bool active = false;
        for (size_t j = 0; j < n; j++)
            active = active || strcmp(names[j], o->name) == 0;
        const char *colon = strrchr(o->mqtt_addr, ':');
        const char *acolon = strrchr(o->admin_url, ':');
        snprintf(hosts[nb], sizeof hosts[nb], "%.*s", (int)(colon - o->mqtt_addr), o->mqtt_addr);
        b[nb] = (fo_lb_backend_t){.name = o->name,
                                  .host = hosts[nb],
                                  .port = (uint16_t)atoi(colon + 1),
                                  .admin_port = (uint16_t)atoi(acolon + 1),
                                  .active = active && !o->terminating};
        nb++;
    }
    return fo_lb_set(l->lb, b, nb, err, errlen);
}

static int local_route(fo_platform_t *p, const char *const *names, size_t n, char *err,
                       size_t errlen)
{
    fo_pworld_t *w = malloc(sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = local_observe(p, w);
    if (rc == 0)
        rc = route_now(p, w, names, n, err, errlen);
    free(w);
    return rc;
}

static void local_mark_ready(fo_platform_t *p, const char *name)
{
    local_t *l = (local_t *)p;
    node_rec_t r;
    if (rec_load(l, name, &r) == 0 && !r.ever_ready) {
        r.ever_ready = true;
        rec_save(l, &r);
    }
}

static int local_destroy(fo_platform_t *p, char *err, size_t errlen)
{
    local_t *l = (local_t *)p;
    char names[SLOT_MAX][FO_NODE_NAME_MAX];
    size_t n = list_names(l, names, SLOT_MAX);
    for (size_t i = 0; i < n; i++)
        local_delete(p, names[i], err, errlen);
    /* Wait (bounded) for them to exit, then make sure. */
    for (int t = 0; t < 200; t++) {
        bool any = false;
        for (size_t i = 0; i < n; i++) {
            node_rec_t r;
            if (rec_load(l, names[i], &r) == 0 && pid_is_node(r.pid, r.name))
                any = true;
        }
        if (!any)
            break;
        if (t == 150)
            for (size_t i = 0; i < n; i++) {
                node_rec_t r;
                if (rec_load(l, names[i], &r) == 0 && pid_is_node(r.pid, r.name))
                    kill(r.pid, SIGKILL);
            }
        usleep(100 * 1000);
    }
    for (size_t i = 0; i < n; i++) {
        node_rec_t r;
        if (rec_load(l, names[i], &r) == 0)
            reap(l, &r);
    }
    int rc = 0;
    if (!l->lb)
        l->lb = fo_lb_open(&l->cfg.lbcfg, err, errlen);
    if (l->lb) {
        rc = fo_lb_destroy(l->lb, err, errlen);
        l->lb = NULL;
    }
    return rc;
}

static void local_free(fo_platform_t *p)
{
    local_t *l = (local_t *)p;
    if (!l)
        return;
    fo_lb_close(l->lb);
    free(l);
}

static const fo_platform_ops_t local_ops = {
    .observe = local_observe,
    .ensure_node = local_ensure,
    .delete_node = local_delete,
    .route = local_route,
    .mark_ready = local_mark_ready,
    .destroy = local_destroy,
    .free = local_free,
};

fo_platform_t *fo_local_open(const fo_local_config_t *cfg, char *err, size_t errlen)
{
    local_t *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->base.ops = &local_ops;
    l->cfg = *cfg;
    snprintf(l->dir, sizeof l->dir, "%s", cfg->dir);
    char path[4200];
    fo_pathf(path, sizeof path, "%s/nodes", l->dir);
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        free(l);
        return NULL;
    }
    return &l->base;
}
