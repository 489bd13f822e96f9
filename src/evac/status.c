/* Evacuation and rebalance status as JSON (jansson): the admin API's
 * answers, and the status text each node sends its peers in NODE_LOAD. */
#include "evac/evac_int.h"

#include <stdlib.h>
#include <string.h>

#define FAILED_LISTED 100

static json_t *names(const char (*list)[FE_NAME_CAP], size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(list[i]));
    return a;
}

static const char *self_name(const fe_node_t *n)
{
    return n->cl ? fc_cluster_self(n->cl) : n->cfg->node_name;
}

json_t *fe_evac_status(const fe_node_t *n)
{
    if (n->ev.state == EV_DISABLED)
        return json_pack("{s:s}", "status", "disabled");
    const fe_evac_opts_t *o = &n->ev.o;
    uint32_t total, offline;
    fe__count_sessions(n->b, &total, &offline);
    json_t *failed = json_array();
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (json_array_size(failed) < FAILED_LISTED && fb_map_next(n->attempts, &pos, &k, &kl, &v)) {
        const fe_attempt_t *a = v;
        if (a->owner == OWN_EVAC && a->failed)
            json_array_append_new(failed, json_stringn((const char *)k, kl));
    }
    json_t *stats =
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "initial_connected",
                  (json_int_t)n->ev.initial_conns, "current_connected", (json_int_t)n->b->n_clients,
                  "initial_sessions", (json_int_t)n->ev.initial_sessions, "current_sessions",
                  (json_int_t)total, "offline_sessions", (json_int_t)offline, "conns_evicted",
                  (json_int_t)n->ev.evicted, "sessions_migrated", (json_int_t)n->ev.migrated,
                  "sessions_failed", (json_int_t)n->ev.failed, "max_evicted_in_1s",
                  (json_int_t)(n->ev.lims ? n->ev.conn_lim.max_in_window : 0));
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:s, s:o, s:o, s:I, s:I, s:b, s:b, "
        "s:o, s:o}",
        "status", "enabled", "process", "evacuation", "node", self_name(n), "state",
        fe__ev_state_name(n->ev.state), "conn_evict_rate",
        o->conn_auto ? json_string("auto") : json_integer(o->conn_evict_rate),
        "conn_evict_rate_now", (json_int_t)(n->ev.lims ? n->ev.conn_lim.rate : 0),
        "sess_evict_rate", (json_int_t)o->sess_evict_rate, "wait_takeover_s",
        (json_int_t)(o->wait_takeover_ms / 1000u), "wait_health_check_s",
        (json_int_t)(o->wait_health_check_ms / 1000u), "redirect_to", o->redirect_to, "migrate_to",
        names((const char(*)[FE_NAME_CAP])o->migrate_to, o->n_migrate_to), "session_recipients",
        names(n->ev.targets.name, n->ev.targets.n), "started_ms", (json_int_t)n->ev.started_wall_ms,
        "state_since_ms", (json_int_t)n->ev.since_wall_ms, "resumed", n->ev.resumed,
        "no_available_recipient", n->ev.no_target, "stats", stats, "failed_sessions", failed);
    if (j && o->conn_auto)
        json_object_set_new(j, "conn_evict_rate_max", json_integer(o->conn_evict_rate_max));
    return j;
}

json_t *fe__donor_status(const fe_node_t *n)
{
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "status", "enabled",
        "process", "rebalance", "role", "donor", "node", self_name(n), "coordinator",
        n->dn.coordinator, "state", fe__rb_state_name(n->dn.state), "lease_remaining_ms",
        (json_int_t)(n->dn.lease_until_ms > n->now_ms ? n->dn.lease_until_ms - n->now_ms : 0),
        "seq_done", (json_int_t)n->dn.seq_done, "conns_evicted", (json_int_t)n->dn.evicted,
        "sessions_migrated", (json_int_t)n->dn.migrated, "sessions_failed",
        (json_int_t)n->dn.failed, "started_ms", (json_int_t)n->dn.started_wall_ms);
}

static json_t *coordinator_status(const fe_node_t *n)
{
    const fe_rebal_opts_t *o = &n->rc.o;
    json_t *donors = json_array(), *recipients = json_array(), *nodes = json_array();
    for (size_t i = 0; i < n->rc.n; i++) {
        const fe_participant_t *p = &n->rc.p[i];
        json_array_append_new(p->donor ? donors : recipients, json_string(p->name));
        json_array_append_new(nodes, json_pack("{s:s, s:b, s:I, s:I}", "node", p->name, "donor",
                                               p->donor, "connections", (json_int_t)p->conns,
                                               "offline_sessions", (json_int_t)p->sessions));
    }
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:f, "
        "s:f, s:f, s:f, s:f, s:I, s:I, s:I, s:I}",
        "status", "enabled", "process", "rebalance", "role", "coordinator", "node", self_name(n),
        "state", fe__rb_state_name(n->rc.state), "donors", donors, "recipients", recipients,
        "nodes", nodes, "conn_evict_rate", (json_int_t)o->conn_evict_rate, "sess_evict_rate",
        (json_int_t)o->sess_evict_rate, "wait_takeover_s", (json_int_t)(o->wait_takeover_ms / 1000),
        "wait_health_check_s", (json_int_t)(o->wait_health_check_ms / 1000), "abs_conn_threshold",
        (json_int_t)o->abs_conn_threshold, "rel_conn_threshold", o->rel_conn_threshold,
        "abs_sess_threshold", (json_int_t)o->abs_sess_threshold, "rel_sess_threshold",
        o->rel_sess_threshold, "donor_conn_avg", n->rc.donor_conn_avg, "recipient_conn_avg",
        n->rc.recipient_conn_avg, "donor_sess_avg", n->rc.donor_sess_avg, "recipient_sess_avg",
        n->rc.recipient_sess_avg, "connection_goal", (json_int_t)n->rc.conn_goal, "session_goal",
        (json_int_t)n->rc.sess_goal, "started_ms", (json_int_t)n->rc.started_wall_ms,
        "state_since_ms", (json_int_t)n->rc.since_wall_ms);
}

json_t *fe_rebal_status(const fe_node_t *n)
{
    json_t *j;
    if (n->rc.state != RB_DISABLED) {
        j = coordinator_status(n);
        if (j && n->dn.on)
            json_object_set_new(j, "donor", fe__donor_status(n));
        return j;
    }
    if (n->dn.on)
        return fe__donor_status(n);
    j = json_pack("{s:s}", "status", "disabled");
    if (j && n->rc.last_result[0])
        json_object_set_new(j, "last_result", json_string(n->rc.last_result));
    return j;
}

#ifndef FMQ_VERSION
#define FMQ_VERSION "unknown"
#endif

char *fe__load_status_text(const fe_node_t *n)
{
    json_t *j = json_pack("{s:s, s:I}", "version", FMQ_VERSION, "subscriptions",
                          (json_int_t)fb_subtab_count(n->b->subs));
    if (j && n->ev.state != EV_DISABLED)
        json_object_set_new(j, "evacuation", fe_evac_status(n));
    if (j && (n->rc.state != RB_DISABLED || n->dn.on))
        json_object_set_new(j, "rebalance", fe_rebal_status(n));
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return text;
}

/* Adds one node's evacuation and coordinator status to the lists. */
static void gather(json_t *status, json_t *evacs, json_t *rebals)
{
    json_t *e = json_object_get(status, "evacuation");
    if (json_is_object(e))
        json_array_append(evacs, e);
    json_t *r = json_object_get(status, "rebalance");
    const char *role = json_string_value(json_object_get(r, "role"));
    if (json_is_object(r) && role && strcmp(role, "coordinator") == 0)
        json_array_append(rebals, r);
}

json_t *fe_global_status(const fe_node_t *n)
{
    json_t *evacs = json_array(), *rebals = json_array();
    char *mine = fe__load_status_text(n);
    if (mine && *mine) {
        json_t *j = json_loads(mine, 0, NULL);
        gather(j, evacs, rebals);
        json_decref(j);
    }
    free(mine);
    if (n->cl) {
        fc_peer_info_t info[FE_MAX_NODES];
        size_t np = fc_cluster_peers(n->cl, info, FE_MAX_NODES);
        for (size_t i = 0; i < np && i < FE_MAX_NODES; i++) {
            fc_node_load_t ld;
            if (!fc_cluster_peer_load(n->cl, info[i].name, &ld) || !*ld.status)
                continue;
            json_t *j = json_loads(ld.status, 0, NULL);
            gather(j, evacs, rebals);
            json_decref(j);
        }
    }
    return json_pack("{s:o, s:o}", "evacuations", evacs, "rebalances", rebals);
}
