/* Node evacuation (evac.h): the state machine, session moves shared with
 * the rebalance donor, the state file, the load reports. */
#include "evac/evac_int.h"

#include "broker/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_FILE "evacuation.json"

const char *const fe_evac_state_names[6] = {"disabled",          "waiting_health_check",
                                            "evicting_conns",    "waiting_takeover",
                                            "evicting_sessions", "prohibiting"};

const char *fe__ev_state_name(int state)
{
    return state >= 0 && state <= EV_PROHIBITING ? fe_evac_state_names[state] : "?";
}

void fe_node_metrics(const fe_node_t *n, fe_metrics_t *out)
{
    *out = (fe_metrics_t){
        .evac_state = n->ev.state,
        .evac_rate_now = n->ev.state == EV_EVICTING_CONNS && n->ev.lims ? n->ev.conn_lim.rate : 0,
        .evac_conns_evicted = n->total_evicted[OWN_EVAC],
        .evac_sessions_migrated = n->total_migrated[OWN_EVAC],
        .evac_sessions_failed = n->total_failed[OWN_EVAC],
        .coordinator = n->rc.state != RB_DISABLED,
        .donor = n->dn.on,
        .donor_conns_evicted = n->total_evicted[OWN_DONOR],
        .donor_sessions_migrated = n->total_migrated[OWN_DONOR],
    };
}

const char *fe__rb_state_name(int state)
{
    static const char *const names[] = {"disabled", "waiting_health_check", "evicting_conns",
                                        "waiting_takeover", "evicting_sessions"};
    return state >= 0 && state <= RB_EVICTING_SESSIONS ? names[state] : "?";
}

void fe__set_agent(fe_node_t *n, uint8_t kind, bool block, const char *ref)
{
    fb_evict_agent_t *a = &n->b->agent;
    a->kind = kind;
    a->block_connects = kind != FB_AGENT_NONE && block;
    snprintf(a->server_ref, sizeof a->server_ref, "%s", kind != FB_AGENT_NONE && ref ? ref : "");
    n->load_dirty = true;
}

void fe__count_sessions(const fb_broker_t *b, uint32_t *total, uint32_t *offline)
{
    uint32_t t = 0, off = 0;
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (fb_map_next(b->sessions, &pos, &k, &kl, &v)) {
        const fb_session_t *s = v;
        if (s->moved)
            continue;
        t++;
        if (!s->conn)
            off++;
    }
    *total = t;
    *offline = off;
}

bool fe__peer_info(const fe_node_t *n, const char *name, fc_peer_info_t *out)
{
    fc_peer_info_t info[FE_MAX_NODES];
    size_t np = n->cl ? fc_cluster_peers(n->cl, info, FE_MAX_NODES) : 0;
    for (size_t i = 0; i < np && i < FE_MAX_NODES; i++)
        if (strcmp(info[i].name, name) == 0) {
            *out = info[i];
            return info[i].up;
        }
    return false;
}

bool fe__peer_available(const fe_node_t *n, const char *name)
{
    if (!n->cl)
        return false;
    fc_node_load_t ld;
    if (fc_cluster_peer_load(n->cl, name, &ld))
        return ld.available;
    /* Up without a load report: a node speaking protocol 3 (it takes
     * migrated sessions, but cannot say whether it is being evacuated). */
    fc_peer_info_t info;
    return fe__peer_info(n, name, &info) && info.version < 4;
}

/* ---- session moves ---- */

static void on_migrated(void *ctx, fmq_bytes_t client_id, const char *node, int status)
{
    fe_node_t *n = ctx;
    fe_attempt_t *a = fb_map_get(n->attempts, client_id.ptr, client_id.len);
    if (!a || !a->in_flight)
        return; /* from an evacuation that was stopped since */
    a->in_flight = false;
    if (n->in_flight[a->owner])
        n->in_flight[a->owner]--;
    uint64_t *migrated = a->owner == OWN_EVAC ? &n->ev.migrated : &n->dn.migrated;
    uint64_t *failed = a->owner == OWN_EVAC ? &n->ev.failed : &n->dn.failed;
    if (status == 0) {
        (*migrated)++;
        n->total_migrated[a->owner]++;
        free(fb_map_del(n->attempts, client_id.ptr, client_id.len));
        return;
    }
    a->tries++;
    if (a->tries >= FE_MIGRATE_TRIES) {
        a->failed = true;
        (*failed)++;
        n->total_failed[a->owner]++;
        FB_WARN("evacuation: session %.*s: %u transfers failed (last to %s); it stays here",
                (int)client_id.len, (const char *)client_id.ptr, a->tries, node);
    } else {
        a->retry_ms = n->now_ms + FE_RETRY_MS;
    }
    n->load_dirty = true;
}

void fe__forget_attempts(fe_node_t *n, uint8_t owner)
{
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (fb_map_next(n->attempts, &pos, &k, &kl, &v)) {
        fe_attempt_t *a = v;
        if ((!owner || a->owner == owner) && !a->in_flight)
            free(fb_map_del(n->attempts, k, kl));
    }
}

static bool movable(const fe_node_t *n, const fb_session_t *s)
{
    if (s->moved || s->conn)
        return false;
    const fe_attempt_t *a = fb_map_get(n->attempts, s->client_id, s->id_len);
    return !a || (!a->in_flight && !a->failed && a->retry_ms <= n->now_ms);
}

uint32_t fe__movable_sessions(const fe_node_t *n)
{
    uint32_t c = 0;
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (fb_map_next(n->b->sessions, &pos, &k, &kl, &v)) {
        const fb_session_t *s = v;
        if (s->moved || s->conn)
            continue;
        const fe_attempt_t *a = fb_map_get(n->attempts, s->client_id, s->id_len);
        if (!a || !a->failed)
            c++;
    }
    return c;
}

uint32_t fe__migrate_some(fe_node_t *n, uint8_t owner, fe_targets_t *t, uint32_t k)
{
    if (!n->cl || !t->n || !k)
        return 0;
    /* Pick first, move after: a move can change the session table (a link
     * that fails restores the sessions that were on their way). */
    char **ids = calloc(k, sizeof *ids);
    uint32_t picked = 0;
    size_t pos = 0;
    const void *key;
    size_t kl;
    void *v;
    while (ids && picked < k && fb_map_next(n->b->sessions, &pos, &key, &kl, &v)) {
        const fb_session_t *s = v;
        if (movable(n, s) && (ids[picked] = strdup(s->client_id)))
            picked++;
    }
    uint32_t started = 0;
    for (uint32_t i = 0; i < picked; i++) {
        fmq_bytes_t id = fmq_cstr(ids[i]);
        fe_attempt_t *a = fb_map_get(n->attempts, id.ptr, id.len);
        if (!a) {
            a = calloc(1, sizeof *a);
            if (!a || fb_map_put(n->attempts, id.ptr, id.len, a) != 0) {
                free(a);
                continue;
            }
        }
        a->owner = owner;
        const char *to = t->name[t->rr++ % t->n];
        const char *why = NULL;
        a->in_flight = true; /* before the call: done() may run inside it */
        n->in_flight[owner]++;
        if (fc_cluster_migrate(n->cl, id, to, on_migrated, n, &why) == 0) {
            started++;
            continue;
        }
        FB_INFO("evacuation: session %s cannot move to %s now: %s", ids[i], to, why);
        on_migrated(n, id, to, -1);
    }
    for (uint32_t i = 0; i < picked; i++)
        free(ids[i]);
    free(ids);
    return started;
}

/* ---- the state file ---- */

static int state_path(const fe_node_t *n, char *buf, size_t len)
{
    int r = snprintf(buf, len, "%s/%s", n->cfg->data_dir, STATE_FILE);
    return r > 0 && (size_t)r < len ? 0 : -1;
}

static int save_state(const fe_node_t *n, char *err, size_t errlen)
{
    char path[4200], tmp[4210];
    if (state_path(n, path, sizeof path) != 0) {
        snprintf(err, errlen, "data_dir too long for the evacuation state file");
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (mkdir(n->cfg->data_dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create data_dir %s: %s", n->cfg->data_dir, strerror(errno));
        return -1;
    }
    char *text = fe_evac_opts_json(&n->ev.o);
    if (!text) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t len = strlen(text);
    bool ok = fd >= 0 && write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1 &&
              fsync(fd) == 0;
    int e = errno;
    if (fd >= 0)
        close(fd);
    free(text);
    if (!ok || rename(tmp, path) != 0) {
        if (ok)
            e = errno;
        unlink(tmp);
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(e));
        return -1;
    }
    return 0;
}

static void remove_state(const fe_node_t *n)
{
    char path[4200];
    if (state_path(n, path, sizeof path) == 0 && unlink(path) != 0 && errno != ENOENT)
        FB_WARN("evacuation: cannot remove %s: %s", path, strerror(errno));
}

/* ---- evacuation ---- */

static uint64_t mono_us(const fe_node_t *n)
{
    return n->now_ms * 1000u;
}

static void ev_enter(fe_node_t *n, int state)
{
    FB_INFO("evacuation: %s -> %s", fe__ev_state_name(n->ev.state), fe__ev_state_name(state));
    n->ev.state = state;
    n->ev.since_wall_ms = fb_now_ms();
    n->load_dirty = true;
}

static void ev_free_limiters(fe_node_t *n)
{
    if (n->ev.lims) {
        fe_limiter_free(&n->ev.conn_lim);
        fe_limiter_free(&n->ev.sess_lim);
        n->ev.lims = false;
    }
}

static int ev_begin(fe_node_t *n, const fe_evac_opts_t *o, bool resumed, char *err, size_t errlen)
{
    n->ev.o = *o;
    n->ev.resumed = resumed;
    n->ev.started_wall_ms = fb_now_ms();
    n->ev.evicted = n->ev.migrated = n->ev.failed = 0;
    n->ev.no_target = false;
    n->ev.initial_conns = n->b->n_clients;
    uint32_t offline;
    fe__count_sessions(n->b, &n->ev.initial_sessions, &offline);
    uint32_t ceiling = o->conn_auto ? o->conn_evict_rate_max : o->conn_evict_rate;
    uint32_t start_rate = o->conn_evict_rate;
    if (o->conn_auto) {
        fe_auto_init(&n->ev.autoc, ceiling, FE_AUTO_TARGET_MS);
        start_rate = n->ev.autoc.rate;
    }
    ev_free_limiters(n);
    if (fe_limiter_init(&n->ev.conn_lim, start_rate, ceiling, mono_us(n)) != 0 ||
        fe_limiter_init(&n->ev.sess_lim, o->sess_evict_rate, o->sess_evict_rate, mono_us(n)) != 0) {
        fe_limiter_free(&n->ev.conn_lim);
        snprintf(err, errlen, "out of memory");
        return 500;
    }
    n->ev.lims = true;
    fe__forget_attempts(n, 0); /* earlier runs' (a rebalance's too) */
    if (resumed) {
        /* As EMQX does on boot: no health-check wait, refuse at once. */
        fe__set_agent(n, FB_AGENT_EVACUATION, true, o->redirect_to);
        n->ev.state = EV_DISABLED;
        ev_enter(n, EV_EVICTING_CONNS);
    } else {
        fe__set_agent(n, FB_AGENT_EVACUATION, false, o->redirect_to);
        n->ev.state = EV_DISABLED;
        ev_enter(n, EV_WAITING_HEALTH_CHECK);
        n->ev.until_ms = n->now_ms + o->wait_health_check_ms;
    }
    n->ev.next_auto_ms = n->now_ms + 1000;
    return 0;
}

int fe_evac_start(fe_node_t *n, const fe_evac_opts_t *o, char *err, size_t errlen)
{
    if (n->ev.state != EV_DISABLED) {
        snprintf(err, errlen, "already started");
        return 409;
    }
    if (n->b->agent.kind != FB_AGENT_NONE || n->rc.state != RB_DISABLED) {
        snprintf(err, errlen, "busy: a rebalance is running on this node");
        return 409;
    }
    if (n->b->shutting_down) {
        snprintf(err, errlen, "the node is shutting down");
        return 409;
    }
    for (size_t i = 0; i < o->n_migrate_to; i++) {
        const char *m = o->migrate_to[i];
        if (n->cl && strcmp(m, fc_cluster_self(n->cl)) == 0) {
            snprintf(err, errlen, "migrate_to: %.255s is this node", m);
            return 400;
        }
        if (!fe__peer_available(n, m)) {
            snprintf(err, errlen, "migrate_to: node %.255s is not up and available in the cluster",
                     m);
            return 400;
        }
    }
    int r = ev_begin(n, o, false, err, errlen);
    if (r)
        return r;
    if (save_state(n, err, errlen) != 0) {
        fe__set_agent(n, FB_AGENT_NONE, false, NULL);
        n->ev.state = EV_DISABLED;
        ev_free_limiters(n);
        return 500;
    }
    FB_WARN("evacuation started: connections at %s/s after %u ms, sessions at %u/s after %u ms "
            "more%s%s",
            o->conn_auto ? "auto" : "a fixed rate", o->wait_health_check_ms, o->sess_evict_rate,
            o->wait_takeover_ms, *o->redirect_to ? ", clients sent to " : "", o->redirect_to);
    return 0;
}

int fe_evac_stop(fe_node_t *n, char *err, size_t errlen)
{
    if (n->ev.state == EV_DISABLED) {
        snprintf(err, errlen, "not started");
        return 409;
    }
    remove_state(n);
    FB_WARN("evacuation stopped in state %s: the node takes clients again",
            fe__ev_state_name(n->ev.state));
    ev_enter(n, EV_DISABLED);
    fe__set_agent(n, FB_AGENT_NONE, false, NULL);
    ev_free_limiters(n);
    return 0;
}

/* The targets of session moves now: migrate_to, or every other available
 * node, in a stable order (round-robin spreads them evenly). */
static void ev_targets(fe_node_t *n)
{
    fe_targets_t *t = &n->ev.targets;
    size_t rr = t->rr;
    t->n = 0;
    if (!n->cl)
        return;
    if (n->ev.o.n_migrate_to) {
        for (size_t i = 0; i < n->ev.o.n_migrate_to; i++)
            if (fe__peer_available(n, n->ev.o.migrate_to[i]))
                snprintf(t->name[t->n++], FE_NAME_CAP, "%s", n->ev.o.migrate_to[i]);
    } else {
        fc_peer_info_t info[FE_MAX_NODES];
        size_t np = fc_cluster_peers(n->cl, info, FE_MAX_NODES);
        for (size_t i = 0; i < np && i < FE_MAX_NODES; i++)
            if (fe__peer_available(n, info[i].name))
                snprintf(t->name[t->n++], FE_NAME_CAP, "%s", info[i].name);
    }
    t->rr = rr;
}

static void ev_auto_step(fe_node_t *n)
{
    fe_auto_sample_t s[FE_MAX_NODES];
    size_t k = 0;
    fc_peer_info_t info[FE_MAX_NODES];
    size_t np = n->cl ? fc_cluster_peers(n->cl, info, FE_MAX_NODES) : 0;
    for (size_t i = 0; i < np && i < FE_MAX_NODES; i++) {
        fc_node_load_t ld;
        if (fc_cluster_peer_load(n->cl, info[i].name, &ld) && ld.available)
            s[k++] = (fe_auto_sample_t){ld.connack_count, ld.connack_mean_ms, ld.connack_max_ms,
                                        ld.pending_connects};
    }
    uint32_t before = n->ev.autoc.rate;
    uint32_t rate = fe_auto_step(&n->ev.autoc, s, k);
    if (rate != before) {
        FB_INFO("evacuation: auto rate %u -> %u connections/s", before, rate);
        fe_limiter_set_rate(&n->ev.conn_lim, rate, mono_us(n));
    }
}

static void ev_evict_conns(fe_node_t *n)
{
    if (!n->b->n_clients)
        return;
    uint32_t k = fe_limiter_take(&n->ev.conn_lim, mono_us(n), n->b->n_clients);
    for (uint32_t i = 0; i < k; i++) {
        if (!fb_broker_evict_one(n->b))
            break;
        n->ev.evicted++;
        n->total_evicted[OWN_EVAC]++;
    }
}

static void ev_tick(fe_node_t *n)
{
    switch (n->ev.state) {
    case EV_WAITING_HEALTH_CHECK:
        if (n->now_ms < n->ev.until_ms)
            return;
        fe__set_agent(n, FB_AGENT_EVACUATION, true, n->ev.o.redirect_to);
        fe_limiter_set_rate(&n->ev.conn_lim, n->ev.conn_lim.rate, mono_us(n));
        ev_enter(n, EV_EVICTING_CONNS);
        /* fall through */
    case EV_EVICTING_CONNS:
        if (n->ev.o.conn_auto && n->now_ms >= n->ev.next_auto_ms) {
            n->ev.next_auto_ms = n->now_ms + 1000;
            ev_auto_step(n);
        }
        ev_evict_conns(n);
        if (n->b->n_clients == 0) {
            ev_enter(n, EV_WAITING_TAKEOVER);
            n->ev.until_ms = n->now_ms + n->ev.o.wait_takeover_ms;
        }
        return;
    case EV_WAITING_TAKEOVER:
        ev_evict_conns(n);
        if (n->now_ms < n->ev.until_ms)
            return;
        fe_limiter_set_rate(&n->ev.sess_lim, n->ev.o.sess_evict_rate, mono_us(n));
        ev_enter(n, EV_EVICTING_SESSIONS);
        /* fall through */
    case EV_EVICTING_SESSIONS: {
        ev_evict_conns(n);
        if (n->now_ms >= n->ev.next_count_ms) { /* a full scan: not on every fast tick */
            n->ev.left = fe__movable_sessions(n);
            n->ev.next_count_ms = n->now_ms + FE_SLOW_TICK_MS;
        }
        if (n->ev.left == 0 && n->in_flight[OWN_EVAC] == 0)
            n->ev.left = fe__movable_sessions(n); /* sure before the last step */
        uint32_t left = n->ev.left;
        if (left == 0 && n->in_flight[OWN_EVAC] == 0) {
            if (n->ev.failed)
                FB_WARN("evacuation: %llu sessions could not be moved and stay here",
                        (unsigned long long)n->ev.failed);
            ev_enter(n, EV_PROHIBITING);
            return;
        }
        ev_targets(n);
        n->ev.no_target = n->ev.targets.n == 0;
        if (n->ev.no_target) {
            if (n->now_ms >= n->ev.no_target_log_ms) {
                n->ev.no_target_log_ms = n->now_ms + FE_NO_TARGET_LOG_MS;
                FB_WARN("evacuation: %u sessions wait: no available node to migrate them to", left);
            }
            return;
        }
        uint32_t k = fe_limiter_take(&n->ev.sess_lim, mono_us(n), left);
        uint32_t started = fe__migrate_some(n, OWN_EVAC, &n->ev.targets, k);
        n->ev.left -= started < n->ev.left ? started : n->ev.left;
        if (started < k)
            n->ev.next_count_ms = 0; /* fewer than counted: count again */
        return;
    }
    case EV_PROHIBITING:
        ev_evict_conns(n); /* nothing should be here; if something is, it goes */
        return;
    default:
        return;
    }
}

/* ---- the node ---- */

static void resume_from_file(fe_node_t *n)
{
    char path[4200];
    if (state_path(n, path, sizeof path) != 0)
        return;
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    char *buf = malloc(FE_BODY_MAX + 1);
    size_t len = buf ? fread(buf, 1, FE_BODY_MAX + 1, f) : 0;
    fclose(f);
    fe_evac_opts_t o;
    char err[256];
    if (!buf || len > FE_BODY_MAX || fe_evac_opts_parse(buf, len, &o, err, sizeof err) != 0) {
        FB_WARN("evacuation: %s is unreadable (%s): evacuating with the defaults", path,
                buf ? (len > FE_BODY_MAX ? "too large" : err) : "out of memory");
        fe_evac_opts_default(&o);
    }
    free(buf);
    if (ev_begin(n, &o, true, err, sizeof err) != 0) {
        FB_ERROR("evacuation: cannot resume: %s", err);
        return;
    }
    FB_WARN("Node evacuation is enabled (%s). The node will not receive connections until "
            "the evacuation is stopped (ferryctl evacuate stop).",
            path);
}

fe_node_t *fe_node_new(fb_broker_t *b, fc_cluster_t *cl, const fb_config_t *cfg, uint64_t mono_ms)
{
    fe_node_t *n = calloc(1, sizeof *n);
    if (!n || !(n->attempts = fb_map_new())) {
        free(n);
        return NULL;
    }
    n->b = b;
    n->cl = cl;
    n->cfg = cfg;
    n->now_ms = mono_ms;
    n->load_dirty = true;
    if (cl)
        fc_cluster_on_rebalance(cl, fe__on_order, n);
    resume_from_file(n);
    return n;
}

void fe_node_free(fe_node_t *n)
{
    if (!n)
        return;
    ev_free_limiters(n);
    if (n->dn.lims) {
        fe_limiter_free(&n->dn.conn_lim);
        fe_limiter_free(&n->dn.sess_lim);
    }
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (fb_map_next(n->attempts, &pos, &k, &kl, &v))
        free(v);
    fb_map_free(n->attempts);
    free(n);
}

bool fe_node_available(const fe_node_t *n)
{
    return n->b->agent.kind == FB_AGENT_NONE && !n->b->shutting_down;
}

void fe_node_load(const fe_node_t *n, fe_load_t *out)
{
    uint32_t total, offline;
    fe__count_sessions(n->b, &total, &offline);
    *out = (fe_load_t){n->b->n_clients, total, offline};
}

const char *fe_node_agent(const fe_node_t *n)
{
    switch (n->b->agent.kind) {
    case FB_AGENT_EVACUATION:
        return "evacuation";
    case FB_AGENT_REBALANCE:
        return "rebalance";
    default:
        return "none";
    }
}

const char *fe_node_state(const fe_node_t *n)
{
    if (n->ev.state != EV_DISABLED)
        return fe__ev_state_name(n->ev.state);
    if (n->dn.on)
        return fe__rb_state_name(n->dn.state);
    return "disabled";
}

static void publish_load(fe_node_t *n)
{
    if (!n->cl)
        return;
    fe_load_t ld;
    fe_node_load(n, &ld);
    char *status = fe__load_status_text(n);
    fb_connack_window_t *w = &n->b->connack;
    fc_node_load_t out = {
        .connections = ld.connections,
        .sessions = ld.sessions,
        .offline_sessions = ld.offline_sessions,
        .pending_connects = n->b->n_conns - n->b->n_clients,
        .connack_count = w->count,
        .connack_mean_ms = w->count ? (uint32_t)(w->sum_ms / w->count) : 0,
        .connack_max_ms = w->max_ms,
        .agent = n->b->agent.kind,
        .available = fe_node_available(n),
        .status = status ? status : "",
    };
    fc_cluster_publish_load(n->cl, &out);
    free(status);
}

uint32_t fe_node_tick(fe_node_t *n, uint64_t mono_ms)
{
    n->now_ms = mono_ms;
    ev_tick(n);
    fe__donor_tick(n, mono_us(n));
    fe__rebal_tick(n);
    if (n->now_ms >= n->next_load_ms) {
        publish_load(n);
        n->b->connack = (fb_connack_window_t){0}; /* a window per report */
        n->next_load_ms = n->now_ms + FE_LOAD_EVERY_MS;
        n->load_dirty = false;
    } else if (n->load_dirty) {
        publish_load(n); /* a state change: peers learn it now */
        n->load_dirty = false;
    }
    bool busy = n->ev.state == EV_EVICTING_CONNS || n->ev.state == EV_WAITING_TAKEOVER ||
                n->ev.state == EV_EVICTING_SESSIONS || n->dn.conn_budget || n->dn.sess_budget;
    return busy ? FE_FAST_TICK_MS : FE_SLOW_TICK_MS;
}
