/* Internal to src/evac: the node context shared by evac.c (evacuation,
 * session moves, load reports), rebalance.c (coordinator and donor) and
 * status.c (JSON). */
#ifndef FE_EVAC_INT_H
#define FE_EVAC_INT_H

#include "broker/log.h"
#include "broker/map.h"
#include "evac/evac.h"
#include "evac/limiter.h"

#define FE_NAME_CAP (FE_NODE_NAME_MAX + 1)
#define FE_MIGRATE_TRIES 3    /* attempts per session, then it is reported as failed */
#define FE_RETRY_MS 1000      /* between attempts */
#define FE_LOAD_EVERY_MS 1000 /* load reports to peers */
#define FE_FAST_TICK_MS 5     /* while evicting: events spread evenly over the second */
#define FE_SLOW_TICK_MS 100
#define FE_LEASE_MS 5000      /* a donor clears itself after this without an order */
#define FE_AUTO_TARGET_MS 100 /* auto rate: CONNACK time the receivers should stay under */
#define FE_NO_TARGET_LOG_MS 30000

enum {
    EV_DISABLED,
    EV_WAITING_HEALTH_CHECK,
    EV_EVICTING_CONNS,
    EV_WAITING_TAKEOVER,
    EV_EVICTING_SESSIONS,
    EV_PROHIBITING,
};

enum {
    RB_DISABLED,
    RB_WAITING_HEALTH_CHECK,
    RB_EVICTING_CONNS,
    RB_WAITING_TAKEOVER,
    RB_EVICTING_SESSIONS
};

enum { OWN_EVAC = 1, OWN_DONOR = 2 };

/* One session being moved (or that failed to move), by client id. */
typedef struct fe_attempt {
    uint8_t owner; /* OWN_* */
    bool in_flight, failed;
    uint32_t tries;
    uint64_t retry_ms; /* monotonic */
} fe_attempt_t;

typedef struct fe_targets {
    size_t n, rr;
    char name[FE_MAX_NODES][FE_NAME_CAP];
} fe_targets_t;

typedef struct fe_participant {
    char name[FE_NAME_CAP];
    bool donor;
    uint32_t conns, sessions; /* last seen (connections, offline sessions) */
    uint64_t seq_sent;        /* last order with an eviction budget */
} fe_participant_t;

struct fe_node {
    fb_broker_t *b;
    fc_cluster_t *cl;
    const fb_config_t *cfg;
    uint64_t now_ms; /* monotonic, from the last tick */
    uint64_t next_load_ms;
    bool load_dirty;
    fb_map_t *attempts;    /* client id -> fe_attempt_t (shared by both owners) */
    uint32_t in_flight[3]; /* by owner */
    /* For /metrics: never reset while the process runs (by owner). */
    uint64_t total_evicted[3], total_migrated[3], total_failed[3];

    struct {
        int state;
        fe_evac_opts_t o;
        bool resumed; /* from the state file at start */
        uint64_t started_wall_ms, since_wall_ms;
        uint64_t until_ms;
        uint32_t initial_conns, initial_sessions;
        uint64_t evicted, migrated, failed;
        fe_limiter_t conn_lim, sess_lim;
        bool lims;
        fe_auto_t autoc;
        uint64_t next_auto_ms;
        fe_targets_t targets;
        bool no_target;
        uint64_t no_target_log_ms;
        uint32_t left; /* movable sessions, recounted every FE_SLOW_TICK_MS */
        uint64_t next_count_ms;
    } ev;

    struct { /* coordinator */
        int state;
        fe_rebal_opts_t o;
        uint64_t started_wall_ms, since_wall_ms;
        uint64_t until_ms, next_order_ms;
        size_t n;
        fe_participant_t p[FE_MAX_NODES];
        double donor_conn_avg, recipient_conn_avg, donor_sess_avg, recipient_sess_avg;
        uint32_t conn_goal, sess_goal; /* what donors evict down to: the mean at the start */
        uint32_t idle_rounds;          /* rounds in a row with nothing to order */
        uint64_t seq;
        char last_result[256];
    } rc;

    struct { /* donor */
        bool on;
        int state; /* RB_* as ordered */
        char coordinator[FE_NAME_CAP];
        uint64_t lease_until_ms;
        uint64_t seq, seq_done;
        uint32_t conn_budget, sess_budget;
        fe_limiter_t conn_lim, sess_lim;
        bool lims;
        fe_targets_t targets;
        uint64_t evicted, migrated, failed;
        uint64_t started_wall_ms;
    } dn;
};

/* evac.c */
void fe__set_agent(fe_node_t *n, uint8_t kind, bool block, const char *ref);
void fe__count_sessions(const fb_broker_t *b, uint32_t *total, uint32_t *offline);
/* The link to peer `name` is up (its info in *out). */
bool fe__peer_info(const fe_node_t *n, const char *name, fc_peer_info_t *out);
bool fe__peer_available(const fe_node_t *n, const char *name);
/* Starts up to `k` session moves to targets (round-robin); returns how many. */
uint32_t fe__migrate_some(fe_node_t *n, uint8_t owner, fe_targets_t *t, uint32_t k);
/* Drops the records of moves that are over (of `owner`, 0: all): their
 * sessions are movable again. */
void fe__forget_attempts(fe_node_t *n, uint8_t owner);
/* Offline sessions not moved yet and not given up on. */
uint32_t fe__movable_sessions(const fe_node_t *n);
const char *fe__ev_state_name(int state);
const char *fe__rb_state_name(int state);

/* rebalance.c */
void fe__rebal_tick(fe_node_t *n);
void fe__donor_tick(fe_node_t *n, uint64_t now_us);
void fe__on_order(void *ctx, const char *from, const fc_rebal_order_t *o);
void fe__donor_clear(fe_node_t *n, const char *why);

/* status.c */
json_t *fe__donor_status(const fe_node_t *n);
char *fe__load_status_text(const fe_node_t *n);
#endif
