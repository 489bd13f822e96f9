/* The reconcile engine (engine.h): pure planning from spec, memory and what
 * is observed. Read engine.h first: it states the model this file follows. */
#include "operator/engine.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define REQUEUE_BUSY_MS 1000 /* observe about once a second during a change */
#define REQUEUE_IDLE_MS 2000 /* and a little less often when nothing changes */
#define RETRY_FAILED_MS 5000 /* a prohibiting node with sessions left: retry after */

static const char *const phase_names[] = {
    [FO_PHASE_PENDING] = "Pending",       [FO_PHASE_CREATING] = "Creating",
    [FO_PHASE_RUNNING] = "Running",       [FO_PHASE_CREATING_GREEN] = "CreatingGreen",
    [FO_PHASE_DELAYING] = "Delaying",     [FO_PHASE_SWITCHING] = "Switching",
    [FO_PHASE_EVACUATING] = "Evacuating", [FO_PHASE_FORGETTING] = "Forgetting",
    [FO_PHASE_ROLLING] = "Rolling",       [FO_PHASE_ROLLING_BACK] = "RollingBack",
};

static const char *const evac_names[] = {
    [FO_EVAC_NONE] = "none",
    [FO_EVAC_WAITING_HEALTH_CHECK] = "waiting_health_check",
    [FO_EVAC_EVICTING_CONNS] = "evicting_conns",
    [FO_EVAC_WAITING_TAKEOVER] = "waiting_takeover",
    [FO_EVAC_EVICTING_SESSIONS] = "evicting_sessions",
    [FO_EVAC_PROHIBITING] = "prohibiting",
};

#define N_OF(a) (sizeof(a) / sizeof *(a))

static const char *name_of(const char *const *names, size_t n, unsigned i)
{
    return i < n ? names[i] : "?";
}

/* The index of s in names, or -1. */
static int index_of(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return (int)i;
    return -1;
}

const char *fo_phase_name(fo_phase_t p)
{
    return name_of(phase_names, N_OF(phase_names), (unsigned)p);
}

bool fo_phase_parse(const char *s, fo_phase_t *out)
{
    int i = index_of(phase_names, N_OF(phase_names), s);
    if (i >= 0)
        *out = (fo_phase_t)i;
    return i >= 0;
}

const char *fo_evac_state_name(fo_evac_state_t s)
{
    return name_of(evac_names, N_OF(evac_names), (unsigned)s);
}

bool fo_evac_state_parse(const char *s, fo_evac_state_t *out)
{
    int i = index_of(evac_names, N_OF(evac_names), s);
    if (i >= 0)
        *out = (fo_evac_state_t)i;
    return i >= 0;
}

void fo_node_name(char *buf, const char *cluster, const char *revision, uint32_t ordinal)
{
    snprintf(buf, FO_NODE_NAME_MAX, "%s-%s-%" PRIu32, cluster, revision, ordinal);
}

bool fo_node_name_parse(const char *name, const char *cluster, char revision[FO_REV_BUF],
                        uint32_t *ordinal)
{
    size_t cl = strlen(cluster);
    if (strncmp(name, cluster, cl) != 0 || name[cl] != '-')
        return false;
    const char *r = name + cl + 1;
    for (int i = 0; i < FO_REVISION_LEN; i++)
        if (!((r[i] >= '0' && r[i] <= '9') || (r[i] >= 'a' && r[i] <= 'f')))
            return false;
    if (r[FO_REVISION_LEN] != '-')
        return false;
    const char *o = r + FO_REVISION_LEN + 1;
    uint32_t v = 0;
    size_t nd = 0;
    for (; o[nd] >= '0' && o[nd] <= '9' && nd < 3; nd++)
        v = v * 10 + (uint32_t)(o[nd] - '0');
    if (nd == 0 || o[nd] != '\0' || (nd > 1 && o[0] == '0') || v >= FO_REPLICAS_MAX)
        return false;
    memcpy(revision, r, FO_REVISION_LEN);
    revision[FO_REVISION_LEN] = '\0';
    *ordinal = v;
    return true;
}

/* ---- the plan being built ---- */

typedef struct ctx {
    const fo_spec_t *spec;
    const fo_observed_t *obs;
    fo_plan_t *out;
    fo_memory_t *m;
    const char *target; /* T */
    uint32_t replicas;
    bool deleting[FO_MAX_NODES]; /* a DELETE for this observed node is planned */
} ctx_t;

__attribute__((format(printf, 2, 3))) static void event(ctx_t *c, const char *fmt, ...)
{
    if (c->out->n_events >= FO_MAX_EVENTS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->out->events[c->out->n_events++], FO_TEXT_MAX, fmt, ap);
    va_end(ap);
}

static fo_action_t *action(ctx_t *c, fo_action_kind_t kind, const char *node)
{
    if (c->out->n_actions >= FO_MAX_ACTIONS)
        return NULL; /* cannot happen within the bounds; the next plan goes on */
    fo_action_t *a = &c->out->actions[c->out->n_actions++];
    memset(a, 0, sizeof *a);
    a->kind = kind;
    if (node)
        snprintf(a->node, sizeof a->node, "%s", node);
    return a;
}

static void set_phase(ctx_t *c, fo_phase_t p)
{
    if (c->m->phase == p)
        return;
    event(c, "phase %s -> %s", fo_phase_name(c->m->phase), fo_phase_name(p));
    c->m->phase = p;
    c->m->phase_since_ms = c->obs->now_ms;
}

static bool phase_timed_out(const ctx_t *c)
{
    return c->obs->now_ms - c->m->phase_since_ms > (int64_t)c->spec->phase_timeout_s * 1000;
}

static const fo_obs_node_t *node_at(const ctx_t *c, size_t i)
{
    return &c->obs->nodes[i];
}

static int find(const ctx_t *c, const char *rev, uint32_t ordinal)
{
    for (size_t i = 0; i < c->obs->n_nodes; i++)
        if (node_at(c, i)->ordinal == ordinal && strcmp(node_at(c, i)->revision, rev) == 0)
            return (int)i;
    return -1;
}

/* Serves, and will go on serving: a node being deleted is not up even while
 * its readiness probe still answers. */
static bool up(const fo_obs_node_t *n)
{
    return n->running && n->ready && !n->terminating;
}

static bool in_list(const char *const *list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

static bool lb_routes(const ctx_t *c, const fo_obs_node_t *n)
{
    return c->obs->lb_running && in_list(c->obs->lb_active, c->obs->n_lb_active, n->name);
}

/* Does the balancer route exactly the nodes flagged in `want`? */
static bool lb_is(const ctx_t *c, const bool *want)
{
    size_t n_want = 0;
    for (size_t i = 0; i < c->obs->n_nodes; i++) {
        if (!want[i])
            continue;
        n_want++;
        if (!lb_routes(c, node_at(c, i)))
            return false;
    }
    return c->obs->lb_running && c->obs->n_lb_active == n_want;
}

static void route(ctx_t *c, const bool *want)
{
    if (lb_is(c, want))
        return;
    fo_action_t *a = action(c, FO_ACT_ROUTE, NULL);
    if (!a)
        return;
    char names[FO_TEXT_MAX] = "";
    size_t len = 0;
    for (size_t i = 0; i < c->obs->n_nodes && a->n_names < FO_MAX_NODES; i++)
        if (want[i]) {
            a->names[a->n_names++] = (uint16_t)i;
            int w = snprintf(names + len, sizeof names - len, "%s%s", len ? " " : "",
                             node_at(c, i)->name);
            len = w > 0 && (size_t)w < sizeof names - len ? len + (size_t)w : len;
        }
    event(c, "route the load balancer to: %s", a->n_names ? names : "(nothing)");
}

static void ensure(ctx_t *c, const char *rev, uint32_t ordinal, int idx)
{
    char name[FO_NODE_NAME_MAX];
    fo_node_name(name, c->spec->name, rev, ordinal);
    fo_action_t *a = action(c, FO_ACT_ENSURE_NODE, name);
    if (!a)
        return;
    snprintf(a->revision, sizeof a->revision, "%s", rev);
    a->ordinal = ordinal;
    /* The node is wanted again (a revert recreates a deleted ordinal): no
     * longer wait for the cluster to forget it. */
    fo_memory_t *m = c->m;
    for (size_t i = 0; i < m->n_forgetting; i++)
        if (strcmp(m->forgetting[i].name, name) == 0) {
            m->forgetting[i] = m->forgetting[--m->n_forgetting];
            break;
        }
    if (idx < 0)
        event(c, "create node %s", name);
    else if (!node_at(c, (size_t)idx)->running)
        event(c, "node %s is down: start it again", name);
}

/* Deletion also starts waiting for the cluster to forget the node. */
static void delete_node(ctx_t *c, size_t idx, const char *why)
{
    const fo_obs_node_t *n = node_at(c, idx);
    if (c->deleting[idx])
        return;
    c->deleting[idx] = true;
    action(c, FO_ACT_DELETE_NODE, n->name);
    event(c, "delete node %s: %s", n->name, why);
    fo_memory_t *m = c->m;
    for (size_t i = 0; i < m->n_forgetting; i++)
        if (strcmp(m->forgetting[i].name, n->name) == 0)
            return;
    if (m->n_forgetting < FO_MAX_NODES) {
        snprintf(m->forgetting[m->n_forgetting].name, FO_NODE_NAME_MAX, "%s", n->name);
        m->forgetting[m->n_forgetting++].since_ms = c->obs->now_ms;
    }
}

static void hold(ctx_t *c, const char *rev, const char *reason, const char *message)
{
    fo_memory_t *m = c->m;
    snprintf(m->held, sizeof m->held, "%s", rev);
    snprintf(m->held_reason, sizeof m->held_reason, "%s", reason);
    snprintf(m->held_message, sizeof m->held_message, "%s", message);
    event(c, "revision %s held (%s): %s; back to revision %s", rev, reason, message, m->current);
    c->out->requeue_ms = 0; /* plan the way back at once */
}

static void condition(ctx_t *c, int i, const char *type, bool status, const char *reason,
                      const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void condition(ctx_t *c, int i, const char *type, bool status, const char *reason,
                      const char *fmt, ...)
{
    fo_condition_t *k = &c->out->conditions[i];
    k->type = type;
    k->status = status ? FO_COND_TRUE : FO_COND_FALSE;
    snprintf(k->reason, sizeof k->reason, "%s", reason);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->message, sizeof k->message, fmt, ap);
    va_end(ap);
}

/* Names of the target nodes not up, for messages. */
static void not_up_names(const ctx_t *c, char *buf, size_t len)
{
    size_t l = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < c->replicas; i++) {
        int idx = find(c, c->target, i);
        if (idx >= 0 && up(node_at(c, (size_t)idx)))
            continue;
        char name[FO_NODE_NAME_MAX];
        fo_node_name(name, c->spec->name, c->target, i);
        int w = snprintf(buf + l, len - l, "%s%s", l ? ", " : "", name);
        if (w < 0 || (size_t)w >= len - l)
            break;
        l += (size_t)w;
    }
}

/* ---- forgetting deleted nodes ---- */

static void update_forgetting(ctx_t *c)
{
    fo_memory_t *m = c->m;
    size_t keep = 0;
    for (size_t i = 0; i < m->n_forgetting; i++) {
        fo_forget_t *f = &m->forgetting[i];
        bool exists = false;
        for (size_t j = 0; j < c->obs->n_nodes; j++)
            if (strcmp(node_at(c, j)->name, f->name) == 0 && !c->deleting[j])
                exists = true; /* still being stopped */
        bool listed = in_list(c->obs->members, c->obs->n_members, f->name);
        bool planned_now = f->since_ms == c->obs->now_ms;
        if (!exists && !listed && !planned_now) {
            event(c, "node %s is gone and no node lists it any more", f->name);
            continue;
        }
        if (c->obs->now_ms - f->since_ms > (int64_t)c->spec->phase_timeout_s * 1000) {
            event(c,
                  "node %s still listed by the cluster after %" PRIu32
                  " s: no longer waiting for it",
                  f->name, c->spec->phase_timeout_s);
            continue;
        }
        m->forgetting[keep++] = *f;
    }
    m->n_forgetting = keep;
}

/* ---- BlueGreen, scaling and reverts ---- */

/* Evacuates and deletes old nodes; returns how many old nodes remain. */
static size_t drain_old(ctx_t *c, const bool *targets)
{
    const fo_obs_node_t *nodes = c->obs->nodes;
    size_t n = c->obs->n_nodes, remaining = 0, in_flight = 0;
    /* Order: nodes of revisions other than current first (an abandoned
     * intermediate revision), then the highest ordinal first. */
    size_t order[FO_MAX_NODES], k = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int ord = (int)FO_REPLICAS_MAX - 1; ord >= 0; ord--)
            for (size_t i = 0; i < n && k < FO_MAX_NODES; i++) {
                bool cur = strcmp(nodes[i].revision, c->m->current) == 0;
                if (!targets[i] && nodes[i].ordinal == (uint32_t)ord && cur == (pass == 1))
                    order[k++] = i;
            }
    /* In flight: evacuations not yet over. One that is over (prohibiting,
     * empty) is deleted below and must not hold back a node earlier in the
     * order than it. */
    for (size_t j = 0; j < k; j++) {
        const fo_obs_node_t *o = &nodes[order[j]];
        bool over = o->evac == FO_EVAC_PROHIBITING && o->conns == 0 && o->sessions == 0;
        if (o->running && o->evac != FO_EVAC_NONE && !over)
            in_flight++;
    }

    uint16_t migrate[FO_MAX_NODES];
    size_t n_migrate = 0;
    for (size_t i = 0; i < n; i++)
        if (targets[i])
            migrate[n_migrate++] = (uint16_t)i;

    for (size_t j = 0; j < k; j++) {
        size_t i = order[j];
        const fo_obs_node_t *o = &nodes[i];
        bool empty = o->conns == 0 && o->sessions == 0;
        if (o->terminating) {
            remaining++;
            continue;
        }
        if (!o->running) {
            delete_node(c, i,
                        "it is down while being replaced: nothing left to move "
                        "(sessions it held in memory are gone with it)");
            continue;
        }
        remaining++;
        if (o->evac == FO_EVAC_PROHIBITING && empty) {
            delete_node(c, i, "evacuated (prohibiting, 0 connections, 0 sessions)");
            continue;
        }
        if (!o->ever_ready && !lb_routes(c, o)) {
            delete_node(c, i, "it never became ready, so it never served");
            continue;
        }
        if (o->evac == FO_EVAC_NONE && empty && !lb_routes(c, o)) {
            delete_node(c, i, "no connections, no sessions, no traffic routed to it");
            continue;
        }
        if (o->evac == FO_EVAC_NONE) {
            if (in_flight >= c->spec->concurrency)
                continue;
            fo_action_t *a = action(c, FO_ACT_EVACUATE, o->name);
            if (!a)
                continue;
            memcpy(a->names, migrate, n_migrate * sizeof *migrate);
            a->n_names = n_migrate;
            in_flight++;
            event(c, "evacuate node %s (%" PRId64 " connections, %" PRId64 " sessions)", o->name,
                  o->conns, o->sessions);
            continue;
        }
        if (o->evac == FO_EVAC_PROHIBITING && o->sessions > 0 &&
            c->obs->now_ms - o->evac_since_ms >= RETRY_FAILED_MS) {
            action(c, FO_ACT_STOP_EVACUATION, o->name);
            event(c,
                  "node %s: %" PRId64 " sessions left after its evacuation (%" PRIu32
                  " failed to move): evacuate it again",
                  o->name, o->sessions, o->failed_sessions);
        }
    }
    return remaining;
}

static void plan_blue_green(ctx_t *c)
{
    const fo_observed_t *obs = c->obs;
    fo_memory_t *m = c->m;
    bool first = m->current[0] == '\0';
    bool new_rev = !first && strcmp(c->target, m->current) != 0;
    bool targets[FO_MAX_NODES] = {0};
    size_t n_up = 0, n_old = 0, n_targets = 0;

    for (uint32_t i = 0; i < c->replicas; i++) {
        int idx = find(c, c->target, i);
        if (idx >= 0) {
            targets[idx] = true;
            n_targets++;
            const fo_obs_node_t *t = node_at(c, (size_t)idx);
            n_up += up(t);
            if (t->running && t->evac != FO_EVAC_NONE) {
                action(c, FO_ACT_STOP_EVACUATION, t->name);
                event(c, "node %s is a target again: stop its evacuation", t->name);
            }
        }
        if (idx < 0 || !node_at(c, (size_t)idx)->running)
            ensure(c, c->target, i, idx);
    }
    for (size_t i = 0; i < obs->n_nodes; i++)
        n_old += !targets[i];
    bool all_up = n_up == c->replicas;
    if (!all_up)
        m->ready_since_ms = 0;
    else if (!m->ready_since_ms)
        m->ready_since_ms = obs->now_ms;
    /* Routed to the target nodes: all of them exist and the balancer routes
     * exactly them (an empty balancer does not route to nodes not there yet). */
    bool switched = n_targets == c->replicas && lb_is(c, targets);

    if (!switched) {
        /* Until the switch the balancer keeps what it routes; old nodes that
         * serve are kept running. */
        for (size_t i = 0; i < obs->n_nodes; i++) {
            const fo_obs_node_t *o = node_at(c, i);
            if (!targets[i] && !o->running && lb_routes(c, o))
                ensure(c, o->revision, o->ordinal, (int)i);
        }
        char missing[FO_TEXT_MAX / 2];
        if (!all_up) {
            set_phase(c, first ? FO_PHASE_CREATING
                               : (m->held[0] ? FO_PHASE_ROLLING_BACK : FO_PHASE_CREATING_GREEN));
            if (phase_timed_out(c)) {
                not_up_names(c, missing, sizeof missing);
                char msg[FO_TEXT_MAX];
                snprintf(msg, sizeof msg, "not ready after %" PRIu32 " s: %s",
                         c->spec->phase_timeout_s, missing);
                if (new_rev && !m->held[0]) {
                    hold(c, c->target, "GreenNotReady", msg);
                    return;
                }
                condition(c, 1, "Progressing", false, "NodesNotReady", "%s", msg);
            }
            return;
        }
        int64_t delay_ms = (int64_t)c->spec->initial_delay_s * 1000;
        int64_t waited = obs->now_ms - m->ready_since_ms;
        if (new_rev && waited < delay_ms) {
            set_phase(c, FO_PHASE_DELAYING);
            int64_t left = delay_ms - waited;
            if (left < c->out->requeue_ms)
                c->out->requeue_ms = left;
            return;
        }
        if (m->phase != FO_PHASE_SWITCHING && m->phase != FO_PHASE_ROLLING_BACK)
            set_phase(c, first ? FO_PHASE_CREATING : FO_PHASE_SWITCHING);
        if (phase_timed_out(c) && new_rev && !m->held[0]) {
            hold(c, c->target, "SwitchFailed",
                 "the load balancer did not take the route to the new nodes");
            return;
        }
        route(c, targets);
        return;
    }

    /* Routed to the targets: drain everything else. */
    size_t left = n_old ? drain_old(c, targets) : 0;
    update_forgetting(c);
    if (left) {
        set_phase(c, m->held[0] ? FO_PHASE_ROLLING_BACK : FO_PHASE_EVACUATING);
        if (phase_timed_out(c))
            condition(c, 1, "Progressing", false, "EvacuationStalled",
                      "%zu old nodes not yet evacuated after %" PRIu32 " s", left,
                      c->spec->phase_timeout_s);
        return;
    }
    if (m->n_forgetting) {
        set_phase(c, FO_PHASE_FORGETTING);
        return;
    }
    if (strcmp(m->current, c->target) != 0) {
        event(c, "revision %s serves (%s in %" PRId64 " s)", c->target,
              first ? "created" : "upgraded", (obs->now_ms - m->change_since_ms) / 1000);
        snprintf(m->current, sizeof m->current, "%s", c->target);
    }
    set_phase(c, FO_PHASE_RUNNING);
}

/* ---- Rolling ---- */

static void plan_rolling(ctx_t *c)
{
    const fo_observed_t *obs = c->obs;
    fo_memory_t *m = c->m;
    bool want[FO_MAX_NODES] = {0};
    bool busy = false;
    int busy_ord = -1; /* the ordinal being replaced (its ENSURE is planned there) */

    /* Replace ordinals from the highest down, one at a time. */
    for (int i = (int)c->replicas - 1; i >= 0 && !busy; i--) {
        int idx = find(c, c->target, (uint32_t)i);
        if (idx >= 0 && up(node_at(c, (size_t)idx)))
            continue;
        busy = true;
        busy_ord = i;
        set_phase(c, m->held[0] ? FO_PHASE_ROLLING_BACK : FO_PHASE_ROLLING);
        if (m->step != i) { /* each ordinal gets the whole phase timeout */
            m->step = i;
            m->phase_since_ms = obs->now_ms;
        }
        bool old_left = false;
        for (size_t j = 0; j < obs->n_nodes; j++) {
            const fo_obs_node_t *o = node_at(c, j);
            if (o->ordinal == (uint32_t)i && strcmp(o->revision, c->target) != 0) {
                old_left = true;
                if (!o->terminating)
                    delete_node(c, j,
                                "replaced by a node of the new revision (Rolling: its "
                                "clients are disconnected)");
            }
        }
        if (!old_left)
            ensure(c, c->target, (uint32_t)i, idx);
        /* Timed out whether the new node is not ready, never appeared, or
         * the old one does not go away. */
        char name[FO_NODE_NAME_MAX];
        fo_node_name(name, c->spec->name, c->target, (uint32_t)i);
        if (phase_timed_out(c) && strcmp(c->target, m->current) != 0 && !m->held[0]) {
            char msg[FO_TEXT_MAX];
            snprintf(msg, sizeof msg, "node %s not ready after %" PRIu32 " s", name,
                     c->spec->phase_timeout_s);
            hold(c, c->target, "NodeNotReady", msg);
        } else if (phase_timed_out(c)) {
            condition(c, 1, "Progressing", false, "NodesNotReady", "node %s not ready", name);
        }
    }
    /* An ordinal with no node at all (its old node is gone, the rollout
     * waits elsewhere) gets its node of the target revision now, as a
     * StatefulSet recreates a missing pod at the update revision. */
    for (uint32_t i = 0; i < c->replicas; i++) {
        bool any = false;
        for (size_t j = 0; j < obs->n_nodes && !any; j++)
            any = node_at(c, j)->ordinal == i;
        if (!any && (int)i != busy_ord)
            ensure(c, c->target, i, -1);
    }
    /* Nodes of the other ordinals keep running; beyond replicas they go. */
    for (size_t j = 0; j < obs->n_nodes; j++) {
        const fo_obs_node_t *o = node_at(c, j);
        if (c->deleting[j] || o->terminating) {
            busy = busy || o->ordinal >= c->replicas;
            continue;
        }
        if (o->ordinal >= c->replicas) {
            if (!busy) {
                busy = true;
                delete_node(c, j, "beyond spec.replicas");
            }
            continue;
        }
        if (strcmp(o->revision, c->target) != 0 && find(c, c->target, o->ordinal) >= 0 && !busy) {
            busy = true;
            delete_node(c, j, "a node of the new revision has its ordinal");
            continue;
        }
        if (!o->running && !((int)o->ordinal == busy_ord && strcmp(o->revision, c->target) == 0))
            ensure(c, o->revision, o->ordinal, (int)j);
        want[j] = up(o);
    }
    route(c, want);
    update_forgetting(c);
    if (busy)
        return;
    m->step = -1;
    if (m->n_forgetting) {
        set_phase(c, FO_PHASE_FORGETTING);
        return;
    }
    if (strcmp(m->current, c->target) != 0) {
        event(c, "revision %s serves (rolled in %" PRId64 " s)", c->target,
              (obs->now_ms - m->change_since_ms) / 1000);
        snprintf(m->current, sizeof m->current, "%s", c->target);
    }
    set_phase(c, FO_PHASE_RUNNING);
}

/* ---- status ---- */

static void conditions(ctx_t *c, const char *spec_rev)
{
    const fo_observed_t *obs = c->obs;
    size_t serving = 0;
    for (size_t i = 0; i < obs->n_nodes; i++)
        serving += up(node_at(c, i)) && lb_routes(c, node_at(c, i));
    condition(c, 0, "Available", serving >= c->replicas,
              serving >= c->replicas ? "Serving" : "TooFewNodes",
              "%zu routed nodes ready, %" PRIu32 " wanted", serving, c->replicas);
    fo_memory_t *m = c->m;
    if (!c->out->conditions[1].type) {
        bool idle = m->phase == FO_PHASE_RUNNING;
        if (m->held[0])
            condition(c, 1, "Progressing", false, m->held_reason, "revision %s: %s", m->held,
                      m->held_message);
        else
            condition(c, 1, "Progressing", !idle, idle ? "Idle" : fo_phase_name(m->phase),
                      idle ? "nothing to change" : "to revision %s", c->target);
    }
    bool ready = m->phase == FO_PHASE_RUNNING && strcmp(m->current, spec_rev) == 0;
    condition(c, 2, "Ready", ready, ready ? "UpToDate" : (m->held[0] ? "Held" : "Updating"),
              "current revision %s, spec revision %s", m->current[0] ? m->current : "-", spec_rev);
}

void fo_engine_plan(const fo_spec_t *spec, const fo_memory_t *mem, const fo_observed_t *obs,
                    fo_plan_t *out)
{
    memset(out, 0, sizeof *out);
    out->memory = *mem;
    out->requeue_ms = REQUEUE_BUSY_MS;
    if (!spec)
        return;
    ctx_t c = {.spec = spec,
               .obs = obs,
               .out = out,
               .m = &out->memory,
               .replicas = spec->replicas < FO_REPLICAS_MAX ? spec->replicas : FO_REPLICAS_MAX};
    fo_memory_t *m = c.m;
    if (obs->n_nodes > FO_MAX_NODES) {
        event(&c, "%zu nodes observed, more than %u: planning nothing", obs->n_nodes, FO_MAX_NODES);
        return;
    }
    char spec_rev[FO_REV_BUF];
    fo_spec_revision(spec, spec_rev);

    if (m->held[0] && strcmp(m->held, spec_rev) != 0) {
        event(&c, "spec revision %s replaces held revision %s", spec_rev, m->held);
        m->held[0] = m->held_reason[0] = m->held_message[0] = '\0';
    }
    if (obs->abort_requested) {
        if (m->current[0] && strcmp(m->target, m->current) != 0 && !m->held[0])
            hold(&c, m->target, "Aborted", "upgrade aborted by command");
        else
            event(&c, "abort: no upgrade in progress");
    }
    c.target = m->held[0] && m->current[0] ? m->current : spec_rev;
    if (strcmp(m->target, c.target) != 0) {
        event(&c, "target revision %s (current %s, %s)", c.target,
              m->current[0] ? m->current : "none", fo_strategy_name(spec->strategy));
        snprintf(m->target, sizeof m->target, "%s", c.target);
        m->change_since_ms = obs->now_ms;
        m->ready_since_ms = 0;
        m->phase_since_ms = obs->now_ms; /* a new change gets a fresh timeout */
    }

    if (spec->strategy == FO_STRATEGY_ROLLING && m->current[0])
        plan_rolling(&c);
    else
        plan_blue_green(&c);
    if (m->phase == FO_PHASE_RUNNING && !out->n_actions && out->requeue_ms > 0)
        out->requeue_ms = REQUEUE_IDLE_MS;
    conditions(&c, spec_rev);
}
