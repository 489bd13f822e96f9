/*
 * engine.h: the reconcile engine of ferry-operator. Pure: one call takes the
 * spec, what the controller remembers and what it observes now, and returns
 * the actions to take next plus what to remember and show. No I/O, no clock
 * (now_ms is an input), no allocation: the same inputs give the same plan,
 * which is what the table tests in tests/operator/test_engine.c check.
 *
 * Idempotence is the contract with the platform: every action names a final
 * state ("node demo-<rev>-2 exists and runs", "the balancer routes exactly
 * these nodes", "node X evacuates to these nodes"), never a step ("add one"),
 * so doing an action twice, or crashing between two actions and planning
 * again, is harmless. Counts come from the spec (replicas), never from
 * observed counts, and ordinals are bounded by FO_REPLICAS_MAX, so nothing
 * can go negative or grow (the EMQX operator's #1105 and #1050).
 *
 * The model. A node is named <cluster>-<revision>-<ordinal>. The target
 * revision T is the spec's, unless that revision is held (it timed out, or
 * was aborted): then T is the current one and blue keeps serving. The target
 * nodes are T's ordinals 0..replicas-1; every other node is old.
 *
 *   BlueGreen (and every change that is not Rolling's, including scale down
 *   and a revert): create the target nodes; wait until each is ready (joined
 *   the cluster); for a new revision wait initialDelaySeconds; route the
 *   balancer to exactly the target nodes and check that it did; evacuate the
 *   old nodes `concurrency` at a time (highest ordinal first) with
 *   migrate_to = the target nodes; delete a node once it is prohibiting with
 *   0 connections and 0 sessions (or was empty and unrouted already); wait
 *   until no running node lists it; then T becomes current.
 *   Rolling: for ordinals replicas-1 down to 0, one at a time: stop the old
 *   node of that ordinal (its clients are cut off), create the new one, wait
 *   until it is ready; the balancer routes every ready node. No evacuation:
 *   the baseline.
 *
 * Failure handling: a phase that exceeds spec.phaseTimeoutSeconds while the
 * new nodes are not ready or the balancer did not take the route holds the
 * revision: traffic stays on (or returns to) the current nodes and the new
 * ones are evacuated and deleted; a condition says why. An evacuation that
 * exceeds it is only reported (EvacuationStalled): clients are on the new
 * nodes already, sending them back would disconnect them again. An abort
 * (command) holds the update revision the same way; a spec whose revision
 * equals the current one is a revert and is handled as a new target. A
 * held revision is released by any other spec revision.
 */
#ifndef FO_ENGINE_H
#define FO_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "operator/spec.h"

#define FO_MAX_NODES 256u    /* nodes of all revisions at once */
#define FO_NODE_NAME_MAX 96u /* <cluster 63>-<revision 10>-<ordinal 2> + NUL */
#define FO_MAX_ACTIONS 256u
#define FO_MAX_EVENTS 64u
#define FO_TEXT_MAX 256u
#define FO_REV_BUF (FO_REVISION_LEN + 1)

/* A node's evacuation as its admin API reports it (GET /api/v1/evacuation). */
typedef enum {
    FO_EVAC_NONE, /* disabled, or the node does not answer */
    FO_EVAC_WAITING_HEALTH_CHECK,
    FO_EVAC_EVICTING_CONNS,
    FO_EVAC_WAITING_TAKEOVER,
    FO_EVAC_EVICTING_SESSIONS,
    FO_EVAC_PROHIBITING,
} fo_evac_state_t;

typedef struct fo_obs_node {
    char name[FO_NODE_NAME_MAX];
    char revision[FO_REV_BUF];
    uint32_t ordinal;
    bool running;     /* the process is up (its pid lives) */
    bool ready;       /* /health/ready 200 and it sees every other running node */
    bool ever_ready;  /* it was ready once (so it may have served clients) */
    bool terminating; /* the platform is stopping it (a DELETE was done) */
    int64_t conns;    /* GET /api/v1/node connections; -1 unknown */
    int64_t sessions; /* sessions held; -1 unknown */
    fo_evac_state_t evac;
    int64_t evac_since_ms; /* when evac entered its state (node clock) */
    int64_t evac_conns;    /* stats.current_connected */
    int64_t evac_sessions; /* stats.current_sessions */
    uint32_t failed_sessions;
    uint32_t restarts; /* how often the platform restarted it */
} fo_obs_node_t;

typedef struct fo_observed {
    int64_t now_ms;
    const fo_obs_node_t *nodes; /* every node the platform has, any revision */
    size_t n_nodes;
    /* The balancer, read back from it: the nodes new connections go to. */
    bool lb_running;
    const char *const *lb_active;
    size_t n_lb_active;
    /* Names that some running node still lists as a cluster member. */
    const char *const *members;
    size_t n_members;
    bool abort_requested; /* `ferry-operator abort` since the last plan */
} fo_observed_t;

typedef enum {
    FO_PHASE_PENDING,  /* nothing yet */
    FO_PHASE_CREATING, /* first nodes of a new cluster */
    FO_PHASE_RUNNING,  /* target nodes serve, nothing old left */
    FO_PHASE_CREATING_GREEN,
    FO_PHASE_DELAYING,  /* initialDelaySeconds after green is ready */
    FO_PHASE_SWITCHING, /* balancer routed to the target, not yet confirmed */
    FO_PHASE_EVACUATING,
    FO_PHASE_FORGETTING, /* deleted nodes still listed by the cluster */
    FO_PHASE_ROLLING,
    FO_PHASE_ROLLING_BACK, /* a held revision's nodes being removed */
} fo_phase_t;

typedef struct fo_forget {
    char name[FO_NODE_NAME_MAX];
    int64_t since_ms;
} fo_forget_t;

/* What the controller keeps between plans (state.json). Zeroed = new. */
typedef struct fo_memory {
    char current[FO_REV_BUF]; /* revision that serves when nothing changes */
    char target[FO_REV_BUF];  /* revision of the change in progress, or "" */
    char held[FO_REV_BUF];    /* spec revision refused until the spec changes */
    char held_reason[24];     /* condition reason: GreenNotReady, ... */
    char held_message[FO_TEXT_MAX];
    fo_phase_t phase;
    int64_t phase_since_ms;
    int64_t change_since_ms; /* the change to `target` began */
    int64_t ready_since_ms;  /* every target node ready since; 0: not yet */
    int32_t step;            /* Rolling: the ordinal being replaced, -1: none */
    fo_forget_t forgetting[FO_MAX_NODES];
    size_t n_forgetting;
} fo_memory_t;

typedef enum {
    FO_ACT_ENSURE_NODE, /* node (revision, ordinal) exists and runs */
    FO_ACT_DELETE_NODE, /* stop it (graceful: it leaves the cluster), remove it */
    FO_ACT_ROUTE,       /* balancer: new connections go to exactly `names` */
    FO_ACT_EVACUATE,    /* start (409 "already" is success) an evacuation */
    FO_ACT_STOP_EVACUATION,
} fo_action_kind_t;

typedef struct fo_action {
    fo_action_kind_t kind;
    char node[FO_NODE_NAME_MAX]; /* ENSURE, DELETE, EVACUATE, STOP */
    char revision[FO_REV_BUF];   /* ENSURE */
    uint32_t ordinal;            /* ENSURE */
    /* ROUTE: the nodes (indexes into observed nodes); EVACUATE: migrate_to. */
    uint16_t names[FO_MAX_NODES];
    size_t n_names;
} fo_action_t;

typedef enum { FO_COND_FALSE, FO_COND_TRUE } fo_cond_status_t;

typedef struct fo_condition {
    const char *type; /* Available, Progressing, Ready */
    fo_cond_status_t status;
    char reason[32];
    char message[FO_TEXT_MAX];
} fo_condition_t;

#define FO_N_CONDITIONS 3

typedef struct fo_plan {
    fo_memory_t memory; /* what to remember after these actions */
    fo_action_t actions[FO_MAX_ACTIONS];
    size_t n_actions;
    char events[FO_MAX_EVENTS][FO_TEXT_MAX]; /* to log, with a timestamp */
    size_t n_events;
    fo_condition_t conditions[FO_N_CONDITIONS];
    int64_t requeue_ms; /* plan again after this at the latest */
} fo_plan_t;

/* Plans the next step. spec may be NULL (nothing applied: plan nothing).
 * cluster is spec->name, used to build node names. */
void fo_engine_plan(const fo_spec_t *spec, const fo_memory_t *mem, const fo_observed_t *obs,
                    fo_plan_t *out);

/* "<cluster>-<revision>-<ordinal>" into buf (FO_NODE_NAME_MAX). */
void fo_node_name(char *buf, const char *cluster, const char *revision, uint32_t ordinal);

/* Reads back what fo_node_name wrote; false when `name` is not one of ours. */
bool fo_node_name_parse(const char *name, const char *cluster, char revision[FO_REV_BUF],
                        uint32_t *ordinal);

const char *fo_phase_name(fo_phase_t p);
bool fo_phase_parse(const char *s, fo_phase_t *out);
const char *fo_evac_state_name(fo_evac_state_t s);
bool fo_evac_state_parse(const char *s, fo_evac_state_t *out);

#endif /* FO_ENGINE_H */
