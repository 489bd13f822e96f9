/* Cluster rebalance: the coordinator (on the node where it was started)
 * and the donor role (on the nodes it gives orders to). Orders travel as
 * REBALANCE frames, loads as NODE_LOAD frames (src/cluster/load.c). */
#include "evac/evac_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ORDER_EVERY_MS 1000

static bool within(double donor_avg, double recipient_avg, uint32_t abs_t, double rel_t)
{
    return donor_avg <= recipient_avg + abs_t || donor_avg <= recipient_avg * rel_t;
}

static const char *self_name(const fe_node_t *n)
{
    return n->cl ? fc_cluster_self(n->cl) : n->cfg->node_name;
}

static bool is_self(const fe_node_t *n, const char *name)
{
    return strcmp(name, self_name(n)) == 0;
}

/* A participant's connections and offline sessions now: false when it is
 * gone (or reports nothing). */
static bool load_of(const fe_node_t *n, const char *name, uint32_t *conns, uint32_t *offline)
{
    if (is_self(n, name)) {
        uint32_t total;
        fe__count_sessions(n->b, &total, offline);
        *conns = n->b->n_clients;
        return true;
    }
    fc_node_load_t ld;
    if (!n->cl || !fc_cluster_peer_load(n->cl, name, &ld))
        return false;
    *conns = ld.connections;
    *offline = ld.offline_sessions;
    return true;
}

/* The sequence number of the last order a donor finished, from its status. */
static uint64_t donor_seq_done(const fe_node_t *n, const char *name)
{
    if (is_self(n, name))
        return n->dn.seq_done;
    fc_node_load_t ld;
    if (!fc_cluster_peer_load(n->cl, name, &ld) || !*ld.status)
        return 0;
    json_t *j = json_loads(ld.status, 0, NULL);
    json_t *seq = json_object_get(json_object_get(j, "rebalance"), "seq_done");
    uint64_t v =
        json_is_integer(seq) && json_integer_value(seq) > 0 ? (uint64_t)json_integer_value(seq) : 0;
    json_decref(j);
    return v;
}

static void send_order(fe_node_t *n, fe_participant_t *p, uint8_t op, uint32_t conns,
                       uint32_t sessions, uint64_t seq)
{
    fc_rebal_order_t o = {.op = op, .lease_ms = FE_LEASE_MS, .conns = conns, .sessions = sessions};
    if (op == FC_REBAL_SESSIONS)
        for (size_t i = 0; i < n->rc.n && o.n_recipients < 64; i++)
            if (!n->rc.p[i].donor)
                o.recipients[o.n_recipients++] = fmq_cstr(n->rc.p[i].name);
    char info[160];
    snprintf(info, sizeof info, "{\"seq\":%llu,\"state\":\"%s\"}", (unsigned long long)seq,
             fe__rb_state_name(n->rc.state));
    o.info = fmq_cstr(info);
    if (is_self(n, p->name)) {
        fe__on_order(n, p->name, &o);
        return;
    }
    const char *why = NULL;
    if (fc_cluster_send_rebalance(n->cl, p->name, &o, &why) != 0)
        FB_WARN("rebalance: order to %s not sent: %s", p->name, why);
}

static void rc_enter(fe_node_t *n, int state)
{
    FB_INFO("rebalance: %s -> %s", fe__rb_state_name(n->rc.state), fe__rb_state_name(state));
    n->rc.state = state;
    n->rc.since_wall_ms = fb_now_ms();
    n->load_dirty = true;
}

static void rc_finish(fe_node_t *n, const char *result)
{
    for (size_t i = 0; i < n->rc.n; i++)
        if (n->rc.p[i].donor)
            send_order(n, &n->rc.p[i], FC_REBAL_STOP, 0, 0, n->rc.seq);
    snprintf(n->rc.last_result, sizeof n->rc.last_result, "%s", result);
    FB_WARN("rebalance: %s", result);
    rc_enter(n, RB_DISABLED);
}

/* Donor and recipient averages of connections (sessions = false) or
 * offline sessions. */
static void averages(fe_node_t *n, bool sessions, double *d, double *r)
{
    double sd = 0, sr = 0;
    size_t nd = 0, nr = 0;
    for (size_t i = 0; i < n->rc.n; i++) {
        const fe_participant_t *p = &n->rc.p[i];
        double v = sessions ? p->sessions : p->conns;
        if (p->donor) {
            sd += v;
            nd++;
        } else {
            sr += v;
            nr++;
        }
    }
    *d = nd ? sd / (double)nd : 0;
    *r = nr ? sr / (double)nr : 0;
}

int fe_rebal_start(fe_node_t *n, const fe_rebal_opts_t *o, char *err, size_t errlen)
{
    if (n->rc.state != RB_DISABLED) {
        snprintf(err, errlen, "already started");
        return 409;
    }
    if (n->ev.state != EV_DISABLED || n->dn.on) {
        snprintf(err, errlen, "busy: this node is being evacuated or is a rebalance donor");
        return 409;
    }
    if (!n->cl) {
        snprintf(err, errlen, "nothing to balance: this node is not in a cluster");
        return 409;
    }
    fe_participant_t p[FE_MAX_NODES];
    size_t np = 0;
    if (o->n_nodes) {
        for (size_t i = 0; i < o->n_nodes; i++) {
            const char *name = o->nodes[i];
            bool ok = is_self(n, name) ? fe_node_available(n) : fe__peer_available(n, name);
            fc_node_load_t ld;
            if (!ok || (!is_self(n, name) && !fc_cluster_peer_load(n->cl, name, &ld))) {
                snprintf(err, errlen,
                         "nodes: %.255s is not up and available (cluster protocol 4) in the "
                         "cluster",
                         name);
                return 400;
            }
            p[np] = (fe_participant_t){0};
            snprintf(p[np++].name, FE_NAME_CAP, "%s", name);
        }
    } else {
        p[np] = (fe_participant_t){0};
        snprintf(p[np++].name, FE_NAME_CAP, "%s", self_name(n));
        fc_peer_info_t info[FE_MAX_NODES];
        size_t k = fc_cluster_peers(n->cl, info, FE_MAX_NODES);
        for (size_t i = 0; i < k && i < FE_MAX_NODES && np < FE_MAX_NODES; i++) {
            fc_node_load_t ld;
            if (fc_cluster_peer_load(n->cl, info[i].name, &ld) && ld.available) {
                p[np] = (fe_participant_t){0};
                snprintf(p[np++].name, FE_NAME_CAP, "%s", info[i].name);
            }
        }
    }
    if (np < 2) {
        snprintf(err, errlen, "nothing to balance: fewer than 2 available nodes");
        return 409;
    }
    double sum = 0;
    for (size_t i = 0; i < np; i++) {
        if (!load_of(n, p[i].name, &p[i].conns, &p[i].sessions)) {
            snprintf(err, errlen, "nodes: %.255s reports no load yet", p[i].name);
            return 400;
        }
        sum += p[i].conns;
    }
    double avg = sum / (double)np;
    size_t donors = 0;
    for (size_t i = 0; i < np; i++)
        if ((p[i].donor = p[i].conns >= avg))
            donors++;
    memcpy(n->rc.p, p, np * sizeof p[0]);
    n->rc.n = np;
    averages(n, false, &n->rc.donor_conn_avg, &n->rc.recipient_conn_avg);
    averages(n, true, &n->rc.donor_sess_avg, &n->rc.recipient_sess_avg);
    if (donors == np || (within(n->rc.donor_conn_avg, n->rc.recipient_conn_avg,
                                o->abs_conn_threshold, o->rel_conn_threshold) &&
                         within(n->rc.donor_sess_avg, n->rc.recipient_sess_avg,
                                o->abs_sess_threshold, o->rel_sess_threshold))) {
        n->rc.n = 0;
        snprintf(err, errlen, "nothing to balance: the nodes are within the thresholds");
        return 409;
    }
    n->rc.o = *o;
    n->rc.started_wall_ms = fb_now_ms();
    n->rc.last_result[0] = 0;
    n->rc.until_ms = n->now_ms + o->wait_health_check_ms;
    n->rc.next_order_ms = 0;
    n->rc.seq++;
    rc_enter(n, RB_WAITING_HEALTH_CHECK);
    for (size_t i = 0; i < n->rc.n; i++)
        if (n->rc.p[i].donor)
            send_order(n, &n->rc.p[i], FC_REBAL_PREPARE, 0, 0, n->rc.seq);
    FB_WARN("rebalance started: %zu donors, %zu recipients (connections: donors %.0f, "
            "recipients %.0f on average)",
            donors, np - donors, n->rc.donor_conn_avg, n->rc.recipient_conn_avg);
    return 0;
}

int fe_rebal_stop(fe_node_t *n, char *err, size_t errlen)
{
    if (n->rc.state == RB_DISABLED) {
        snprintf(err, errlen, "not started");
        return 409;
    }
    rc_finish(n, "stopped");
    return 0;
}

/* The mean over every participant, rounded up: donors evict down to it.
 * Taken once per phase, from counts that are all settled, rather than each
 * round: a recipient's report lags the clients that just reconnected to it,
 * and a goal computed from it would evict them twice. */
static uint32_t mean_goal(const fe_node_t *n, bool sessions)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n->rc.n; i++)
        sum += sessions ? n->rc.p[i].sessions : n->rc.p[i].conns;
    return n->rc.n ? (uint32_t)((sum + n->rc.n - 1) / n->rc.n) : 0;
}

/* One order round: budgets for the donors above the goal. Returns the
 * connections (sessions) ordered. */
static uint32_t rc_orders(fe_node_t *n, bool sessions)
{
    uint32_t rate = sessions ? n->rc.o.sess_evict_rate : n->rc.o.conn_evict_rate;
    uint32_t goal = sessions ? n->rc.sess_goal : n->rc.conn_goal;
    uint32_t ordered = 0;
    for (size_t i = 0; i < n->rc.n; i++) {
        fe_participant_t *p = &n->rc.p[i];
        if (!p->donor)
            continue;
        uint32_t have = sessions ? p->sessions : p->conns;
        uint32_t budget = have > goal ? have - goal : 0;
        if (budget > rate)
            budget = rate;
        /* A new budget only once the last one is done and reported, so
         * stale counts are not evicted twice. */
        bool done = p->seq_sent == 0 || donor_seq_done(n, p->name) >= p->seq_sent;
        uint64_t seq = p->seq_sent;
        if (budget && done) {
            seq = ++n->rc.seq;
            p->seq_sent = seq;
            ordered += budget;
        } else if (budget) {
            ordered++; /* still working on the last one */
            budget = 0;
        }
        send_order(n, p, sessions ? FC_REBAL_SESSIONS : FC_REBAL_CONNS, sessions ? 0 : budget,
                   sessions ? budget : 0, seq);
    }
    n->rc.idle_rounds = ordered ? 0 : n->rc.idle_rounds + 1;
    return ordered;
}

/* Donors at their goal for a few rounds: the counts have settled, and
 * what the thresholds still see is rounding or clients that come and go. */
#define SETTLED_ROUNDS 3

void fe__rebal_tick(fe_node_t *n)
{
    if (n->rc.state == RB_DISABLED || n->now_ms < n->rc.next_order_ms)
        return;
    n->rc.next_order_ms = n->now_ms + ORDER_EVERY_MS;
    for (size_t i = 0; i < n->rc.n; i++) {
        fe_participant_t *p = &n->rc.p[i];
        if (!load_of(n, p->name, &p->conns, &p->sessions)) {
            char why[FE_NAME_CAP + 64];
            snprintf(why, sizeof why, "aborted: node %s left the cluster", p->name);
            rc_finish(n, why);
            return;
        }
    }
    averages(n, false, &n->rc.donor_conn_avg, &n->rc.recipient_conn_avg);
    averages(n, true, &n->rc.donor_sess_avg, &n->rc.recipient_sess_avg);
    const fe_rebal_opts_t *o = &n->rc.o;
    switch (n->rc.state) {
    case RB_WAITING_HEALTH_CHECK:
        if (n->now_ms < n->rc.until_ms) {
            for (size_t i = 0; i < n->rc.n; i++)
                if (n->rc.p[i].donor)
                    send_order(n, &n->rc.p[i], FC_REBAL_PREPARE, 0, 0, n->rc.p[i].seq_sent);
            return;
        }
        rc_enter(n, RB_EVICTING_CONNS);
        n->rc.conn_goal = mean_goal(n, false);
        n->rc.idle_rounds = 0;
        /* fall through */
    case RB_EVICTING_CONNS:
        if (!within(n->rc.donor_conn_avg, n->rc.recipient_conn_avg, o->abs_conn_threshold,
                    o->rel_conn_threshold)) {
            if (rc_orders(n, false) || n->rc.idle_rounds < SETTLED_ROUNDS)
                return;
        }
        rc_enter(n, RB_WAITING_TAKEOVER);
        n->rc.until_ms = n->now_ms + o->wait_takeover_ms;
        /* fall through */
    case RB_WAITING_TAKEOVER:
        if (n->now_ms < n->rc.until_ms) {
            for (size_t i = 0; i < n->rc.n; i++)
                if (n->rc.p[i].donor)
                    send_order(n, &n->rc.p[i], FC_REBAL_CONNS, 0, 0, n->rc.p[i].seq_sent);
            return;
        }
        rc_enter(n, RB_EVICTING_SESSIONS);
        n->rc.sess_goal = mean_goal(n, true);
        n->rc.idle_rounds = 0;
        /* fall through */
    case RB_EVICTING_SESSIONS:
        if (!within(n->rc.donor_sess_avg, n->rc.recipient_sess_avg, o->abs_sess_threshold,
                    o->rel_sess_threshold)) {
            if (rc_orders(n, true) || n->rc.idle_rounds < SETTLED_ROUNDS)
                return;
        }
        {
            char result[160];
            snprintf(result, sizeof result,
                     "balanced: donors %.0f, recipients %.0f connections on average",
                     n->rc.donor_conn_avg, n->rc.recipient_conn_avg);
            rc_finish(n, result);
        }
        return;
    default:
        return;
    }
}

/* ---- donor ---- */

static void dn_free_limiters(fe_node_t *n)
{
    if (n->dn.lims) {
        fe_limiter_free(&n->dn.conn_lim);
        fe_limiter_free(&n->dn.sess_lim);
        n->dn.lims = false;
    }
}

void fe__donor_clear(fe_node_t *n, const char *why)
{
    if (!n->dn.on)
        return;
    FB_WARN("rebalance: donor role from %s cleared: %s", n->dn.coordinator, why);
    n->dn.on = false;
    n->dn.state = RB_DISABLED;
    n->dn.conn_budget = n->dn.sess_budget = 0;
    dn_free_limiters(n);
    if (n->b->agent.kind == FB_AGENT_REBALANCE)
        fe__set_agent(n, FB_AGENT_NONE, false, NULL);
}

static uint64_t info_seq(fmq_bytes_t info, int *state)
{
    json_t *j = json_loadb((const char *)info.ptr, info.len, 0, NULL);
    json_t *seq = json_object_get(j, "seq");
    const char *st = json_string_value(json_object_get(j, "state"));
    for (int s = RB_WAITING_HEALTH_CHECK; st && s <= RB_EVICTING_SESSIONS; s++)
        if (strcmp(st, fe__rb_state_name(s)) == 0)
            *state = s;
    uint64_t v =
        json_is_integer(seq) && json_integer_value(seq) > 0 ? (uint64_t)json_integer_value(seq) : 0;
    json_decref(j);
    return v;
}

static int budget_limiter(fe_limiter_t *l, uint32_t budget, uint64_t now_us)
{
    fe_limiter_free(l);
    return fe_limiter_init(l, budget ? budget : 1, budget ? budget : 1, now_us);
}

void fe__on_order(void *ctx, const char *from, const fc_rebal_order_t *o)
{
    fe_node_t *n = ctx;
    if (n->ev.state != EV_DISABLED) {
        FB_INFO("rebalance: order from %s ignored: this node is being evacuated", from);
        return;
    }
    if (n->dn.on && strcmp(n->dn.coordinator, from) != 0) {
        FB_WARN("rebalance: order from %s ignored: %s coordinates this node", from,
                n->dn.coordinator);
        return;
    }
    if (o->op == FC_REBAL_STOP) {
        fe__donor_clear(n, "the rebalance is over");
        return;
    }
    if (!n->dn.on) {
        memset(&n->dn, 0, sizeof n->dn);
        n->dn.on = true;
        n->dn.started_wall_ms = fb_now_ms();
        snprintf(n->dn.coordinator, sizeof n->dn.coordinator, "%s", from);
        if (fe_limiter_init(&n->dn.conn_lim, 1, 1, n->now_ms * 1000u) != 0 ||
            fe_limiter_init(&n->dn.sess_lim, 1, 1, n->now_ms * 1000u) != 0) {
            fe_limiter_free(&n->dn.conn_lim);
            n->dn.on = false;
            return;
        }
        n->dn.lims = true;
        fe__forget_attempts(n, OWN_DONOR); /* an earlier rebalance's */
        FB_WARN("rebalance: this node is a donor for %s", from);
    }
    n->dn.lease_until_ms = n->now_ms + (o->lease_ms ? o->lease_ms : FE_LEASE_MS);
    int state = o->op == FC_REBAL_PREPARE ? RB_WAITING_HEALTH_CHECK
                : o->op == FC_REBAL_CONNS ? RB_EVICTING_CONNS
                                          : RB_EVICTING_SESSIONS;
    uint64_t seq = info_seq(o->info, &state);
    if (n->dn.state != state)
        n->load_dirty = true;
    n->dn.state = state;
    fe__set_agent(n, FB_AGENT_REBALANCE, o->op != FC_REBAL_PREPARE, NULL);
    if (seq <= n->dn.seq)
        return; /* a lease renewal */
    n->dn.seq = seq;
    uint64_t now_us = n->now_ms * 1000u;
    if (o->op == FC_REBAL_CONNS && o->conns) {
        n->dn.conn_budget = o->conns;
        if (budget_limiter(&n->dn.conn_lim, o->conns, now_us) != 0)
            n->dn.conn_budget = 0;
    } else if (o->op == FC_REBAL_SESSIONS && o->sessions) {
        n->dn.sess_budget = o->sessions;
        n->dn.targets.n = 0;
        for (uint16_t i = 0; i < o->n_recipients && i < FE_MAX_NODES; i++)
            if (o->recipients[i].len < FE_NAME_CAP)
                snprintf(n->dn.targets.name[n->dn.targets.n++], FE_NAME_CAP, "%.*s",
                         (int)o->recipients[i].len, (const char *)o->recipients[i].ptr);
        if (budget_limiter(&n->dn.sess_lim, o->sessions, now_us) != 0)
            n->dn.sess_budget = 0;
    }
    if (!n->dn.conn_budget && !n->dn.sess_budget) {
        n->dn.seq_done = seq;
        n->load_dirty = true;
    }
}

void fe__donor_tick(fe_node_t *n, uint64_t now_us)
{
    if (!n->dn.on)
        return;
    bool self_coord = is_self(n, n->dn.coordinator);
    if (n->now_ms > n->dn.lease_until_ms) {
        fe__donor_clear(n, "no order from the coordinator within the lease");
        return;
    }
    fc_peer_info_t coord;
    if (!self_coord && !fe__peer_info(n, n->dn.coordinator, &coord)) {
        fe__donor_clear(n, "the coordinator left the cluster");
        return;
    }
    bool was_busy = n->dn.conn_budget || n->dn.sess_budget;
    if (n->dn.conn_budget) {
        uint32_t want = n->dn.conn_budget < n->b->n_clients ? n->dn.conn_budget : n->b->n_clients;
        uint32_t k = want ? fe_limiter_take(&n->dn.conn_lim, now_us, want) : 0;
        uint32_t done = 0;
        while (done < k && fb_broker_evict_one(n->b))
            done++;
        n->dn.evicted += done;
        n->total_evicted[OWN_DONOR] += done;
        n->dn.conn_budget -= done;
        if (n->b->n_clients == 0)
            n->dn.conn_budget = 0;
    }
    if (n->dn.sess_budget) {
        uint32_t k = fe_limiter_take(&n->dn.sess_lim, now_us, n->dn.sess_budget);
        uint32_t started = fe__migrate_some(n, OWN_DONOR, &n->dn.targets, k);
        n->dn.sess_budget -= started < n->dn.sess_budget ? started : n->dn.sess_budget;
        if (started < k)
            n->dn.sess_budget = 0; /* nothing left to move (or nowhere to) */
    }
    if (was_busy && !n->dn.conn_budget && !n->dn.sess_budget) {
        n->dn.seq_done = n->dn.seq;
        n->load_dirty = true;
    }
}
