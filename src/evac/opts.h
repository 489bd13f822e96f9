/*
 * Evacuation and rebalance options: defaults, and the pure parser of the
 * admin API's request bodies (JSON, jansson). The evacuation state file in
 * the data directory is written in the same format (fe_evac_opts_json) and
 * read back with the same parser.
 *
 * No broker, no cluster, no I/O: the fuzz target fuzz_evac_opts and the
 * unit test tests/evac/test_opts drive these functions directly. Whether a
 * node named in migrate_to / nodes exists and is available is checked by
 * the caller (evac.c, rebalance.c), not here.
 *
 * Ownership: the structs are plain values (fixed arrays, no pointers); the
 * caller owns them. fe_*_opts_json returns a malloc'd string the caller
 * frees.
 */
#ifndef FE_OPTS_H
#define FE_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FE_BODY_MAX 65536u           /* longest request body accepted, bytes */
#define FE_MAX_NODES 64u             /* entries in migrate_to / nodes */
#define FE_NODE_NAME_MAX 255u        /* as the node_name setting */
#define FE_REF_MAX 1024u             /* redirect_to, bytes */
#define FE_RATE_MAX 1000000u         /* per second */
#define FE_DURATION_MAX_MS 86400000u /* 24 h */

/* Defaults (EMQX's, so that people who know it know ours). */
#define FE_DEF_CONN_RATE 500u
#define FE_DEF_CONN_RATE_MAX 1000u /* ceiling of "auto" */
#define FE_DEF_SESS_RATE 500u
#define FE_DEF_WAIT_TAKEOVER_MS 60000u
#define FE_DEF_WAIT_HEALTH_MS 60000u
#define FE_DEF_ABS_THRESHOLD 1000u
#define FE_DEF_REL_THRESHOLD 1.1

typedef struct fe_evac_opts {
    uint32_t conn_evict_rate;     /* connections/s; with conn_auto: unused */
    bool conn_auto;               /* "auto": adapt the rate, at most conn_evict_rate_max */
    uint32_t conn_evict_rate_max; /* ceiling of the auto mode */
    uint32_t sess_evict_rate;     /* sessions/s */
    uint32_t wait_takeover_ms;
    uint32_t wait_health_check_ms;
    char redirect_to[FE_REF_MAX + 1]; /* "" = no Server Reference */
    size_t n_migrate_to;              /* 0 = every other available node */
    char migrate_to[FE_MAX_NODES][FE_NODE_NAME_MAX + 1];
} fe_evac_opts_t;

typedef struct fe_rebal_opts {
    size_t n_nodes; /* 0 = every available node */
    char nodes[FE_MAX_NODES][FE_NODE_NAME_MAX + 1];
    uint32_t conn_evict_rate;
    uint32_t sess_evict_rate;
    uint32_t wait_takeover_ms;
    uint32_t wait_health_check_ms;
    uint32_t abs_conn_threshold;
    uint32_t abs_sess_threshold;
    double rel_conn_threshold; /* > 1.0 */
    double rel_sess_threshold;
} fe_rebal_opts_t;

void fe_evac_opts_default(fe_evac_opts_t *o);
void fe_rebal_opts_default(fe_rebal_opts_t *o);

/* Parse a request body (an empty body, or only whitespace, means all
 * defaults). Fields left out keep their defaults. Returns 0, or -1 with a
 * message in err that names the field and the rule, for example
 * "conn_evict_rate: expected an integer 1..1000000 or \"auto\"" or
 * "unknown field \"foo\"". On an error *o is left as it was. */
int fe_evac_opts_parse(const char *body, size_t len, fe_evac_opts_t *o, char *err, size_t errlen);
int fe_rebal_opts_parse(const char *body, size_t len, fe_rebal_opts_t *o, char *err, size_t errlen);

/* The options as a JSON object text that fe_*_opts_parse reads back to the
 * same struct (durations in ms as "<n>ms"). malloc'd, NULL on ENOMEM. */
char *fe_evac_opts_json(const fe_evac_opts_t *o);
char *fe_rebal_opts_json(const fe_rebal_opts_t *o);
#endif
