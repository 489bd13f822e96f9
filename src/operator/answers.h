/*
 * answers.h: the two other things the controller reads that it did not
 * compute itself, as pure functions (text in, values out; no I/O):
 *   - a node's node.json (the local platform's record of a node it runs);
 *   - a node's admin API answers (GET /api/v1/node, /api/v1/evacuation,
 *     /api/v1/cluster), as probe.c fetches them.
 * Part of ferrystate, with state.json (state.h). Fuzzed by fuzz_node_rec and
 * fuzz_probe.
 *
 * Ownership: fo_node_rec_dump returns a malloc'd string the caller frees.
 */
#ifndef FO_ANSWERS_H
#define FO_ANSWERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "operator/engine.h"

#define FO_ANSWER_MAX_BYTES (1u << 20) /* an answer or node.json is at most this */

/* nodes/<name>/node.json. */
typedef struct fo_node_rec {
    char name[FO_NODE_NAME_MAX];
    char revision[FO_REV_BUF];
    uint32_t ordinal, slot, restarts;
    int32_t pid;
    bool ever_ready, terminating;
    int64_t term_since_ms;
    int64_t started_ms; /* the last (re)start */
} fo_node_rec_t;

/* Every field is required, with the type rec_dump writes: name and revision
 * non-empty strings that fit, ordinal below FO_REPLICAS_MAX, slot below
 * FO_MAX_NODES, restarts, pid and times not negative. On error *r is zeroed
 * and err says which field. */
int fo_node_rec_parse(const char *text, size_t len, fo_node_rec_t *r, char *err, size_t errlen);
/* The record as a JSON object; NULL when out of memory. */
char *fo_node_rec_dump(const fo_node_rec_t *r);

/* A member as one node's GET /api/v1/cluster lists it. */
typedef struct fo_member {
    char name[FO_NODE_NAME_MAX];
    bool up; /* its link to the asking node is up */
} fo_member_t;

typedef struct fo_node_view {
    int64_t conns, sessions; /* -1: no answer, or not an integer >= 0 */
    fo_evac_state_t evac;    /* FO_EVAC_NONE without an answer */
    int64_t evac_since_ms, evac_conns, evac_sessions; /* -1 unknown */
    uint32_t failed_sessions;
    bool cluster_answered; /* /api/v1/cluster answered with a "nodes" array */
    fo_member_t members[FO_MAX_NODES];
    size_t n_members; /* names that do not fit or repeat are left out */
} fo_node_view_t;

/* Reads the bodies of a node's 200 answers (NULL/0: none). Anything that is
 * not as the admin API writes it reads as unknown, never as a fact: a count
 * is -1, a state NONE, a member without a string name is left out. */
void fo_node_view_read(const char *node, size_t node_len, const char *evac, size_t evac_len,
                       const char *cluster, size_t cluster_len, fo_node_view_t *v);

/* Whether v lists name with its link up. */
bool fo_node_view_sees(const fo_node_view_t *v, const char *name);

#endif /* FO_ANSWERS_H */
