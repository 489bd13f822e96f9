/* The controller of one cluster (controller.h): observe, plan, act, record. */
#include "operator/pathf.h"
#include "operator/controller.h"

#include "operator/engine.h"
#include "operator/lb.h"
#include "operator/netns.h"
#include "operator/platform_local.h"
#include "operator/probe.h"
#include "operator/state.h"
#include "operator/textfile.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define PROBE_TIMEOUT_MS 4000 /* a node busy with a reconnect storm answers late */
#define POST_TIMEOUT_MS 5000
/* A ready node whose admin API stops answering is taken for unready only
 * after this long (Kubernetes' failureThreshold x periodSeconds): a node busy
 * with a reconnect storm answers late, and dropping it from the balancer for
 * that concentrates the storm on fewer nodes (seen at 100,000 clients). A
 * node that answers "not ready", or whose process is gone, is down at once. */
#define PROBE_GRACE_MS 30000

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void path_of(char *buf, size_t len, const char *dir, const char *leaf)
{
    fo_pathf(buf, len, "%s/%s", dir, leaf);
}

/* Writes j to dir/leaf through a temporary file and rename. */
static int save_json(const char *dir, const char *leaf, json_t *j)
{
    char path[4200];
    path_of(path, sizeof path, dir, leaf);
    char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    int rc = text ? fo_text_write(path, text) : -1;
    free(text);
    return rc;
}

/* ---- platform.json ---- */

int fo_platform_conf_save(const char *dir, const fo_platform_conf_t *c, char *err, size_t errlen)
{
    json_t *j = json_pack("{s:s, s:s, s:i, s:i, s:s, s:s, s:s}", "load_balancer", fo_lb_name(c->lb),
                          "service_host", c->service_host, "service_port", (int)c->service_port,
                          "port_base", (int)c->port_base, "balance",
                          c->leastconn ? "leastconn" : "roundrobin", "binary", c->binary, "netns",
                          c->netns);
    int rc = save_json(dir, "platform.json", j);
    json_decref(j);
    if (rc != 0)
        snprintf(err, errlen, "cannot write %s/platform.json: %s", dir, strerror(errno));
    return rc;
}

int fo_platform_conf_load(const char *dir, fo_platform_conf_t *c, char *err, size_t errlen)
{
    char path[4200];
    path_of(path, sizeof path, dir, "platform.json");
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) {
        snprintf(err, errlen, "%s: %s", path, je.text);
        return -1;
    }
    memset(c, 0, sizeof *c);
    const char *lb = json_string_value(json_object_get(j, "load_balancer"));
    c->lb = lb && strcmp(lb, "kernel") == 0 ? FO_LB_KERNEL : FO_LB_HAPROXY;
    const char *s;
    s = json_string_value(json_object_get(j, "service_host"));
    snprintf(c->service_host, sizeof c->service_host, "%s", s ? s : "127.0.0.1");
    c->service_port = (uint16_t)json_integer_value(json_object_get(j, "service_port"));
    c->port_base = (uint16_t)json_integer_value(json_object_get(j, "port_base"));
    s = json_string_value(json_object_get(j, "balance"));
    c->leastconn = !s || strcmp(s, "roundrobin") != 0;
    s = json_string_value(json_object_get(j, "binary"));
    snprintf(c->binary, sizeof c->binary, "%s", s ? s : "");
    s = json_string_value(json_object_get(j, "netns"));
    snprintf(c->netns, sizeof c->netns, "%s", s ? s : "");
    json_decref(j);
    return 0;
}

/* ---- state.json: the engine's memory ---- */

/* Loads state.json; a missing file is a new memory, an unreadable one too
 * (with the reason in err, which the caller logs). */
static int memory_load(const char *dir, fo_memory_t *m, char *err, size_t errlen)
{
    char path[4200];
    path_of(path, sizeof path, dir, "state.json");
    err[0] = '\0';
    size_t n = 0;
    char *buf = fo_text_read(path, FO_STATE_MAX_BYTES, &n);
    if (!buf) { /* a new memory: no file yet, or one that cannot be read */
        int e = errno;
        fo_memory_parse("{}", 2, m, err, errlen);
        if (e != EFBIG && e != ENOMEM)
            return 0;
        snprintf(err, errlen, "%s", strerror(e));
        return -1;
    }
    int rc = fo_memory_parse(buf, n, m, err, errlen);
    free(buf);
    return rc;
}

static void memory_save(const char *dir, const fo_memory_t *m)
{
    char path[4200];
    path_of(path, sizeof path, dir, "state.json");
    char *text = fo_memory_dump(m);
    if (text)
        fo_text_write(path, text);
    free(text);
}

/* ---- the controller ---- */

typedef struct ctl {
    char dir[4096];
    bool echo;
    fo_platform_conf_t conf;
    char secret[256];
    fo_platform_t *pf;
    uv_loop_t loop;
    uv_timer_t timer;
    uv_signal_t sigint, sigterm;
    FILE *events;
    bool stop, deleted;
    int exit_code;
    /* Conditions keep the time they last changed. */
    fo_condition_t prev_cond[FO_N_CONDITIONS];
    int64_t cond_since[FO_N_CONDITIONS];
    char last_line[512];
    /* When each ready node last answered its probe (by name). */
    struct {
        char name[FO_NODE_NAME_MAX];
        int64_t ms;
    } probe_ok[FO_MAX_NODES];
    size_t n_probe_ok;
    /* The last round's events: one repeated every round while the world
     * catches up (a route not yet confirmed) is logged once. */
    char prev_events[FO_MAX_EVENTS][FO_TEXT_MAX];
    size_t n_prev_events;
    fo_pworld_t world;
    fo_obs_node_t obs_nodes[FO_MAX_NODES];
    fo_probe_members_t members;
    fo_plan_t plan;
} ctl_t;

static void timestamp(char *buf, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

__attribute__((format(printf, 2, 3))) static void log_event(ctl_t *c, const char *fmt, ...)
{
    char ts[40], msg[1024];
    timestamp(ts, sizeof ts);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->events) {
        fprintf(c->events, "%s %s\n", ts, msg);
        fflush(c->events);
    }
    if (c->echo) {
        printf("%s %s\n", ts + 11, msg);
        fflush(stdout);
    }
}

static const fo_pnode_t *pnode(const ctl_t *c, const char *name)
{
    for (size_t i = 0; i < c->world.n_nodes; i++)
        if (strcmp(c->world.nodes[i].name, name) == 0)
            return &c->world.nodes[i];
    return NULL;
}

static void evacuate(ctl_t *c, const fo_spec_t *spec, const fo_action_t *a)
{
    const fo_pnode_t *p = pnode(c, a->node);
    if (!p)
        return;
    json_t *to = json_array();
    for (size_t i = 0; i < a->n_names; i++)
        json_array_append_new(to, json_string(c->obs_nodes[a->names[i]].name));
    json_t *body = json_pack("{s:i, s:I, s:s, s:o}", "sess_evict_rate", (int)spec->sess_evict_rate,
                             "wait_takeover", (json_int_t)spec->wait_takeover_s,
                             "wait_health_check", "0s", "migrate_to", to);
    if (spec->conn_evict_auto)
        json_object_set_new(body, "conn_evict_rate", json_string("auto"));
    else
        json_object_set_new(body, "conn_evict_rate", json_integer(spec->conn_evict_rate));
    char *text = json_dumps(body, JSON_COMPACT);
    long status = 0;
    char answer[512];
    fo_probe_post(p->admin_url, "/api/v1/evacuation/start", text, POST_TIMEOUT_MS, &status, answer,
                  sizeof answer);
    if (status == 200)
        log_event(c, "evacuation of %s started: %s", a->node, text);
    else if (status != 409) /* 409: one runs already, which is what we want */
        log_event(c, "error: evacuation of %s not started (%ld): %s", a->node, status, answer);
    free(text);
    json_decref(body);
}

static void stop_evacuation(ctl_t *c, const fo_action_t *a)
{
    const fo_pnode_t *p = pnode(c, a->node);
    if (!p)
        return;
    long status = 0;
    char answer[512];
    fo_probe_post(p->admin_url, "/api/v1/evacuation/stop", "", POST_TIMEOUT_MS, &status, answer,
                  sizeof answer);
    if (status != 200 && status != 409)
        log_event(c, "error: evacuation of %s not stopped (%ld): %s", a->node, status, answer);
}

static void act(ctl_t *c, const fo_spec_t *spec, const fo_plan_t *plan)
{
    char err[512];
    for (size_t i = 0; i < plan->n_actions; i++) {
        const fo_action_t *a = &plan->actions[i];
        int rc = 0;
        err[0] = '\0';
        switch (a->kind) {
        case FO_ACT_ENSURE_NODE:
            rc = c->pf->ops->ensure_node(c->pf, spec, a->revision, a->ordinal, err, sizeof err);
            break;
        case FO_ACT_DELETE_NODE:
            rc = c->pf->ops->delete_node(c->pf, a->node, err, sizeof err);
            break;
        case FO_ACT_ROUTE: {
            const char *names[FO_MAX_NODES];
            for (size_t k = 0; k < a->n_names; k++)
                names[k] = c->obs_nodes[a->names[k]].name;
            rc = c->pf->ops->route(c->pf, names, a->n_names, err, sizeof err);
            break;
        }
        case FO_ACT_EVACUATE:
            evacuate(c, spec, a);
            break;
        case FO_ACT_STOP_EVACUATION:
            stop_evacuation(c, a);
            break;
        }
        if (rc != 0)
            log_event(c, "error: %s", err);
        else if (err[0]) /* a platform's note, e.g. why a node it restarted had exited */
            log_event(c, "%s", err);
    }
}

static const char *role(const fo_memory_t *m, const fo_obs_node_t *o)
{
    if (o->terminating)
        return "deleting";
    if (strcmp(o->revision, m->target) == 0 && strcmp(o->revision, m->current) != 0)
        return "green";
    if (strcmp(o->revision, m->current) == 0)
        return strcmp(m->target, m->current) == 0 ? "serving" : "blue";
    return "old";
}

static void write_status(ctl_t *c, const fo_spec_t *spec, const fo_plan_t *plan)
{
    const fo_memory_t *m = &plan->memory;
    int64_t now = wall_ms();
    char spec_rev[FO_REV_BUF] = "";
    if (spec)
        fo_spec_revision(spec, spec_rev);
    json_t *conds = json_array();
    for (int i = 0; i < FO_N_CONDITIONS; i++) {
        const fo_condition_t *k = &plan->conditions[i];
        if (!k->type)
            continue;
        if (!c->prev_cond[i].type || c->prev_cond[i].status != k->status ||
            strcmp(c->prev_cond[i].reason, k->reason) != 0)
            c->cond_since[i] = now;
        c->prev_cond[i] = *k;
        json_array_append_new(conds, json_pack("{s:s, s:s, s:s, s:s, s:I}", "type", k->type,
                                               "status", k->status ? "True" : "False", "reason",
                                               k->reason, "message", k->message,
                                               "last_transition_ms", (json_int_t)c->cond_since[i]));
    }
    json_t *nodes = json_array();
    for (size_t i = 0; i < c->world.n_nodes; i++) {
        const fo_obs_node_t *o = &c->obs_nodes[i];
        const fo_pnode_t *p = &c->world.nodes[i];
        bool routed = false;
        for (size_t k = 0; k < c->world.n_lb_active; k++)
            routed = routed || strcmp(c->world.lb_active[k], o->name) == 0;
        json_t *n = json_pack("{s:s, s:s, s:i, s:s, s:i, s:b, s:b, s:b, s:I, s:I, s:i, s:s, s:s}",
                              "name", o->name, "revision", o->revision, "ordinal", (int)o->ordinal,
                              "role", role(m, o), "pid", p->pid, "running", o->running, "ready",
                              o->ready, "routed", routed, "connections", (json_int_t)o->conns,
                              "sessions", (json_int_t)o->sessions, "restarts", (int)o->restarts,
                              "mqtt", p->mqtt_addr, "admin", p->admin_url);
        if (o->evac != FO_EVAC_NONE)
            json_object_set_new(n, "evacuation",
                                json_pack("{s:s, s:I, s:I, s:i}", "state",
                                          fo_evac_state_name(o->evac), "connections",
                                          (json_int_t)o->evac_conns, "sessions",
                                          (json_int_t)o->evac_sessions, "failed_sessions",
                                          (int)o->failed_sessions));
        json_array_append_new(nodes, n);
    }
    json_t *j = json_pack(
        "{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:i, s:s, s:o, s:o, s:{s:s, s:s, s:b}, s:I}", "name",
        spec ? spec->name : "", "phase", fo_phase_name(m->phase), "phase_since_ms",
        (json_int_t)m->phase_since_ms, "spec_revision", spec_rev, "current_revision", m->current,
        "target_revision", m->target, "strategy", spec ? fo_strategy_name(spec->strategy) : "",
        "replicas", spec ? (int)spec->replicas : 0, "image", spec && spec->image ? spec->image : "",
        "conditions", conds, "nodes", nodes, "load_balancer", "kind", fo_lb_name(c->conf.lb),
        "service", "", "running", c->world.lb_running, "updated_ms", (json_int_t)now);
    char svc[96];
    snprintf(svc, sizeof svc, "%s:%u", c->conf.service_host, c->conf.service_port);
    json_object_set_new(json_object_get(j, "load_balancer"), "service", json_string(svc));
    if (m->held[0])
        json_object_set_new(j, "held",
                            json_pack("{s:s, s:s, s:s}", "revision", m->held, "reason",
                                      m->held_reason, "message", m->held_message));
    save_json(c->dir, "status.json", j);
    json_decref(j);

    /* One progress line when something visible changed. */
    char line[512];
    size_t l = (size_t)snprintf(line, sizeof line, "%s:", fo_phase_name(m->phase));
    for (size_t i = 0; i < c->world.n_nodes && l < sizeof line; i++) {
        const fo_obs_node_t *o = &c->obs_nodes[i];
        l += (size_t)snprintf(line + l, sizeof line - l, " %s-%u=%s%s", o->revision,
                              (unsigned)o->ordinal,
                              !o->running ? "down"
                              : o->evac   ? fo_evac_state_name(o->evac)
                              : o->ready  ? "ready"
                                          : "starting",
                              o->conns >= 0 ? "" : "");
        if (o->conns >= 0 && l < sizeof line)
            l += (size_t)snprintf(line + l, sizeof line - l, "(%" PRId64 ")", o->conns);
    }
    if (strcmp(line, c->last_line) != 0 && c->echo) {
        char ts[40];
        timestamp(ts, sizeof ts);
        printf("%s   %s\n", ts + 11, line);
        fflush(stdout);
    }
    snprintf(c->last_line, sizeof c->last_line, "%s", line);
}

static bool take_flag(const char *dir, const char *leaf)
{
    char path[4200];
    path_of(path, sizeof path, dir, leaf);
    return unlink(path) == 0;
}

static bool has_flag(const char *dir, const char *leaf)
{
    char path[4200];
    path_of(path, sizeof path, dir, leaf);
    return access(path, F_OK) == 0;
}

/* Applies PROBE_GRACE_MS: a running node that was ready and now does not
 * answer at all (a busy loop, not a refusal) stays ready for a while; a node
 * that answers "not ready" is unready at once. */
static void smooth_readiness(ctl_t *c)
{
    int64_t now = wall_ms();
    size_t keep = 0;
    int64_t last_ok[FO_MAX_NODES] = {0};
    for (size_t i = 0; i < c->world.n_nodes; i++)
        for (size_t k = 0; k < c->n_probe_ok; k++)
            if (strcmp(c->probe_ok[k].name, c->obs_nodes[i].name) == 0)
                last_ok[i] = c->probe_ok[k].ms;
    for (size_t i = 0; i < c->world.n_nodes; i++) {
        fo_obs_node_t *o = &c->obs_nodes[i];
        int64_t ok_ms = now;
        if (!o->ready) {
            bool silent = o->conns < 0; /* GET /api/v1/node got no answer */
            if (!(silent && last_ok[i] && o->running && !o->terminating &&
                  now - last_ok[i] < PROBE_GRACE_MS))
                continue; /* unready: forgotten until it is ready again */
            o->ready = true;
            ok_ms = last_ok[i];
        }
        snprintf(c->probe_ok[keep].name, FO_NODE_NAME_MAX, "%s", o->name);
        c->probe_ok[keep++].ms = ok_ms;
    }
    c->n_probe_ok = keep;
}

static int64_t round_once(ctl_t *c)
{
    char err[1024], path[4200];
    if (has_flag(c->dir, "delete-requested")) {
        log_event(c, "delete requested: stopping every node and the load balancer");
        if (c->pf->ops->destroy(c->pf, err, sizeof err) != 0)
            log_event(c, "error: %s", err);
        take_flag(c->dir, "delete-requested");
        c->deleted = true;
        c->stop = true;
        return -1;
    }
    fo_spec_t spec;
    fo_spec_init(&spec);
    path_of(path, sizeof path, c->dir, "spec.yaml");
    bool have_spec = fo_spec_load_file(&spec, path, err, sizeof err) == 0;
    if (!have_spec)
        log_event(c, "error: %s", err);

    c->pf->ops->observe(c->pf, &c->world);
    fo_probe_nodes(&c->world, c->obs_nodes, &c->members, PROBE_TIMEOUT_MS);
    smooth_readiness(c);
    for (size_t i = 0; i < c->world.n_nodes; i++)
        if (c->obs_nodes[i].ready && !c->obs_nodes[i].ever_ready) {
            c->pf->ops->mark_ready(c->pf, c->obs_nodes[i].name);
            c->obs_nodes[i].ever_ready = true;
        }
    const char *active[FO_MAX_NODES], *members[FO_MAX_NODES];
    for (size_t i = 0; i < c->world.n_lb_active; i++)
        active[i] = c->world.lb_active[i];
    for (size_t i = 0; i < c->members.n; i++)
        members[i] = c->members.names[i];
    bool abort_req = take_flag(c->dir, "abort-requested");
    fo_observed_t obs = {.now_ms = wall_ms(),
                         .nodes = c->obs_nodes,
                         .n_nodes = c->world.n_nodes,
                         .lb_running = c->world.lb_running,
                         .lb_active = active,
                         .n_lb_active = c->world.n_lb_active,
                         .members = members,
                         .n_members = c->members.n,
                         .abort_requested = abort_req};
    fo_memory_t mem;
    if (memory_load(c->dir, &mem, err, sizeof err) != 0)
        log_event(c, "error: state.json: %s; starting from an empty memory", err);
    if (have_spec && spec.lb != c->conf.lb)
        log_event(c,
                  "error: spec.loadBalancer is %s but this cluster runs behind %s; it "
                  "cannot change on a running cluster (delete it first)",
                  fo_lb_name(spec.lb), fo_lb_name(c->conf.lb));
    fo_engine_plan(have_spec ? &spec : NULL, &mem, &obs, &c->plan);
    for (size_t i = 0; i < c->plan.n_events; i++) {
        bool repeated = false;
        for (size_t k = 0; k < c->n_prev_events && !repeated; k++)
            repeated = strcmp(c->prev_events[k], c->plan.events[i]) == 0;
        if (!repeated)
            log_event(c, "%s", c->plan.events[i]);
    }
    memcpy(c->prev_events, c->plan.events, sizeof c->prev_events);
    c->n_prev_events = c->plan.n_events;
    if (!c->world.lb_running && c->world.lb_error[0])
        log_event(c, "load balancer: %s", c->world.lb_error);
    /* Remember before acting: a crash in between repeats idempotent actions. */
    memory_save(c->dir, &c->plan.memory);
    if (have_spec)
        act(c, &spec, &c->plan);
    write_status(c, have_spec ? &spec : NULL, &c->plan);
    fo_spec_free(&spec);
    return c->plan.n_actions ? 200 : c->plan.requeue_ms;
}

static void on_timer(uv_timer_t *t)
{
    ctl_t *c = t->data;
    int64_t next = round_once(c);
    if (c->stop) {
        uv_stop(&c->loop);
        return;
    }
    uv_timer_start(&c->timer, on_timer, (uint64_t)(next < 0 ? 1000 : next), 0);
}

static void on_node_exit(void *ctx)
{
    ctl_t *c = ctx;
    if (!c->stop)
        uv_timer_start(&c->timer, on_timer, 100, 0); /* restart it soon */
}

static void on_signal(uv_signal_t *s, int signum)
{
    ctl_t *c = s->data;
    log_event(c, "signal %d: the controller stops; nodes and load balancer keep running", signum);
    c->stop = true;
    uv_stop(&c->loop);
}

static int lock_dir(const char *dir, int *fd_out)
{
    char path[4200];
    path_of(path, sizeof path, dir, "controller.lock");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return -2;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        close(fd);
        return -1;
    }
    *fd_out = fd;
    return 0;
}

int fo_controller_pid(const char *dir)
{
    char path[4200];
    path_of(path, sizeof path, dir, "controller.lock");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int pid = 0;
    if (flock(fd, LOCK_SH | LOCK_NB) != 0) { /* held: read who holds it */
        char buf[32] = "";
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        if (n > 0)
            pid = atoi(buf);
        if (pid <= 0)
            pid = -1;
    }
    close(fd);
    return pid;
}

static int read_secret(const char *dir, char *buf, size_t len)
{
    char path[4200];
    path_of(path, sizeof path, dir, "secret");
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    bool ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return ok && buf[0] ? 0 : -1;
}

static fo_platform_t *open_platform(ctl_t *c, char *err, size_t errlen)
{
    if (fo_platform_conf_load(c->dir, &c->conf, err, errlen) != 0)
        return NULL;
    if (read_secret(c->dir, c->secret, sizeof c->secret) != 0) {
        fo_pathf(err, errlen, "%s/secret: missing or empty", c->dir);
        return NULL;
    }
    if (c->conf.lb == FO_LB_KERNEL && fo_netns_enter(c->conf.netns, err, errlen) != 0)
        return NULL;
    char lbdir[4200];
    path_of(lbdir, sizeof lbdir, c->dir, "lb");
    static char lbdir_keep[4200]; /* the config keeps pointers; one cluster per process */
    snprintf(lbdir_keep, sizeof lbdir_keep, "%s", lbdir);
    const char *name = strrchr(c->dir, '/') ? strrchr(c->dir, '/') + 1 : c->dir;
    fo_local_config_t lc = {
        .dir = c->dir,
        .lb = c->conf.lb,
        .port_base = c->conf.port_base,
        .default_binary = c->conf.binary,
        .secret = c->secret,
        .lbcfg = {.kind = c->conf.lb,
                  .dir = lbdir_keep,
                  .name = name,
                  .service_host = c->conf.service_host,
                  .service_port = c->conf.service_port,
                  .maxconn = 9900,
                  .leastconn = c->conf.leastconn,
                  .check_ms = 500,
                  .netns = c->conf.netns},
        .loop = &c->loop,
        .on_exit = on_node_exit,
        .ctx = c,
    };
    return fo_local_open(&lc, err, errlen);
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

/* The handles left are node processes' (platform_local.c allocates them):
 * closing one leaves its process running. */
static void close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, h->type == UV_PROCESS ? free_handle : NULL);
}

int fo_controller_run(const char *dir, bool echo)
{
    ctl_t *c = calloc(1, sizeof *c);
    int lockfd = -1, rc = 1;
    char err[1024];
    if (!c)
        return 1;
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    c->echo = echo;
    int l = lock_dir(dir, &lockfd);
    if (l != 0) {
        if (l == -2)
            fprintf(stderr, "ferry-operator: a controller already runs for %s (pid %d)\n", dir,
                    fo_controller_pid(dir));
        else
            fprintf(stderr, "ferry-operator: cannot lock %s: %s\n", dir, strerror(errno));
        free(c);
        return 1;
    }
    char path[4200];
    path_of(path, sizeof path, dir, "events.log");
    c->events = fopen(path, "a");
    uv_loop_init(&c->loop);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!(c->pf = open_platform(c, err, sizeof err))) {
        fprintf(stderr, "ferry-operator: %s\n", err);
        log_event(c, "error: %s", err);
        goto out;
    }
    log_event(c, "controller started (pid %d, %s load balancer on %s:%u)", (int)getpid(),
              fo_lb_name(c->conf.lb), c->conf.service_host, c->conf.service_port);
    uv_timer_init(&c->loop, &c->timer);
    c->timer.data = c;
    uv_signal_init(&c->loop, &c->sigint);
    uv_signal_init(&c->loop, &c->sigterm);
    c->sigint.data = c->sigterm.data = c;
    uv_signal_start(&c->sigint, on_signal, SIGINT);
    uv_signal_start(&c->sigterm, on_signal, SIGTERM);
    uv_timer_start(&c->timer, on_timer, 0, 0);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    rc = 0;
    if (c->deleted) {
        log_event(c, "cluster deleted");
        if (c->conf.lb == FO_LB_KERNEL && fo_netns_delete(c->conf.netns, err, sizeof err) != 0)
            log_event(c, "error: %s", err);
    }
out:
    if (c->pf)
        c->pf->ops->free(c->pf);
    uv_close((uv_handle_t *)&c->timer, NULL);
    uv_close((uv_handle_t *)&c->sigint, NULL);
    uv_close((uv_handle_t *)&c->sigterm, NULL);
    /* Node processes still running stay running (detached); their handles
     * are closed here without touching the processes. */
    uv_walk(&c->loop, close_handle, NULL);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    uv_loop_close(&c->loop);
    curl_global_cleanup();
    if (c->events)
        fclose(c->events);
    if (lockfd >= 0)
        close(lockfd);
    free(c);
    return rc;
}

int fo_controller_destroy(const char *dir, char *err, size_t errlen)
{
    ctl_t *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    uv_loop_init(&c->loop);
    int rc = -1;
    if ((c->pf = open_platform(c, err, errlen))) {
        rc = c->pf->ops->destroy(c->pf, err, errlen);
        c->pf->ops->free(c->pf);
        if (c->conf.lb == FO_LB_KERNEL)
            fo_netns_delete(c->conf.netns, err, errlen);
    }
    uv_run(&c->loop, UV_RUN_NOWAIT);
    uv_loop_close(&c->loop);
    free(c);
    return rc;
}
