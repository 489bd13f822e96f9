/*
 * Node evacuation and cluster rebalance (the semantics of EMQX's node
 * rebalance; see docs/architecture.md and docs/admin-api.md).
 *
 * One fe_node_t per ferrymq process owns the node's side of both:
 *   - the evacuation state machine: waiting_health_check -> evicting_conns
 *     -> waiting_takeover -> evicting_sessions -> prohibiting, stop from any
 *     phase, its intent kept in <data_dir>/evacuation.json across restarts;
 *   - a rebalance coordinator (on the node where one was started) and the
 *     donor role (on nodes a coordinator gives orders to, under a lease);
 *   - the load report every node sends its peers each second.
 * It drives the broker's passive eviction agent (broker.h, fb_evict_agent_t)
 * and the cluster's session transfer (fc_cluster_migrate).
 *
 * No libuv: the server calls fe_node_tick from a timer, at the delay the
 * previous call returned. The admin API calls the rest; everything runs on
 * the loop thread.
 *
 * Ownership: fe_node_new borrows the broker, the cluster (NULL on a single
 * node) and the config. Free the cluster first (closing its links reports
 * the moves still under way to the node), then the node, then the broker. JSON values returned are
 * new references the caller releases (json_decref).
 */
#ifndef FE_EVAC_H
#define FE_EVAC_H

#include "broker/broker.h"
#include "cluster/cluster.h"
#include "evac/opts.h"

#include <jansson.h>

typedef struct fe_node fe_node_t;

/* Resumes an evacuation recorded in the data directory (CONNECTs are
 * refused from the first one). NULL on ENOMEM. */
fe_node_t *fe_node_new(fb_broker_t *b, fc_cluster_t *cl, const fb_config_t *cfg, uint64_t mono_ms);
void fe_node_free(fe_node_t *n);
/* Work due now; returns the milliseconds until the next call. */
uint32_t fe_node_tick(fe_node_t *n, uint64_t mono_ms);

/* The availability check: false while evacuating, donating or shutting down. */
bool fe_node_available(const fe_node_t *n);

/* Results of the calls below: 0, or an HTTP status (400, 409, 500) with a
 * message in err. */
int fe_evac_start(fe_node_t *n, const fe_evac_opts_t *o, char *err, size_t errlen);
int fe_evac_stop(fe_node_t *n, char *err, size_t errlen);
json_t *fe_evac_status(const fe_node_t *n);

int fe_rebal_start(fe_node_t *n, const fe_rebal_opts_t *o, char *err, size_t errlen);
int fe_rebal_stop(fe_node_t *n, char *err, size_t errlen);
json_t *fe_rebal_status(const fe_node_t *n);

/* Every evacuation and rebalance in the cluster, as the nodes last
 * reported them (this node's own: now). */
json_t *fe_global_status(const fe_node_t *n);

/* The node's load now (what it reports to peers), for the admin API. */
typedef struct fe_load {
    uint32_t connections, sessions, offline_sessions;
} fe_load_t;
void fe_node_load(const fe_node_t *n, fe_load_t *out);
/* Counters for /metrics. */
typedef struct fe_metrics {
    int evac_state;         /* 0 disabled .. 5 prohibiting, as fe_evac_state_names */
    uint32_t evac_rate_now; /* connections/s applied now */
    uint64_t evac_conns_evicted, evac_sessions_migrated, evac_sessions_failed;
    bool coordinator, donor;
    uint64_t donor_conns_evicted, donor_sessions_migrated;
} fe_metrics_t;
void fe_node_metrics(const fe_node_t *n, fe_metrics_t *out);
/* The evacuation state names, indexed by fe_metrics_t.evac_state. */
extern const char *const fe_evac_state_names[6];

/* "none", "evacuation" or "rebalance" */
const char *fe_node_agent(const fe_node_t *n);
/* The state name of what owns the agent ("disabled" when nothing). */
const char *fe_node_state(const fe_node_t *n);
#endif
