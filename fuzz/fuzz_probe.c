/*
 * libFuzzer target for ferry-operator's reader of a node's admin API
 * answers, fo_node_view_read (src/operator/answers.c), which turns the
 * bodies of GET /api/v1/node, /api/v1/evacuation and /api/v1/cluster into
 * what the engine observes: never a crash, leak or hang.
 *
 * Input: the three bodies separated by NUL bytes (node \0 evacuation \0
 * cluster); a missing part is no answer. Promises checked:
 *   - counts are -1 (unknown) or not negative; the evacuation's counts are
 *     unknown unless it has a state;
 *   - members: at most FO_MAX_NODES, none only when the cluster answer has
 *     no "nodes" array, each a non-empty name that fits, none twice;
 *   - fo_node_view_sees agrees with the members;
 *   - reading the same input again gives the same view.
 * Links ferrystate.
 */
#include "fuzz_common.h"
#include "operator/answers.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *part[3] = {NULL, NULL, NULL};
    size_t len[3] = {0, 0, 0};
    const char *p = (const char *)data, *end = p + size;
    for (int i = 0; i < 3 && p <= end && size; i++) {
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        part[i] = p;
        len[i] = (size_t)((nul ? nul : end) - p);
        if (!nul)
            break;
        p = nul + 1;
    }
    fo_node_view_t *v = malloc(sizeof *v), *again = malloc(sizeof *again);
    FUZZ_CHECK(v && again, "out of memory");
    fo_node_view_read(part[0], len[0], part[1], len[1], part[2], len[2], v);
    FUZZ_CHECK(v->conns >= -1 && v->sessions >= -1, "negative count");
    FUZZ_CHECK(v->evac_conns >= -1 && v->evac_sessions >= -1 && v->evac_since_ms >= -1,
               "negative evacuation count");
    if (v->evac == FO_EVAC_NONE)
        FUZZ_CHECK(v->evac_conns == -1 && v->evac_sessions == -1 && v->evac_since_ms == -1 &&
                       v->failed_sessions == 0,
                   "evacuation counts without a state");
    FUZZ_CHECK(v->n_members <= FO_MAX_NODES, "too many members");
    FUZZ_CHECK(v->cluster_answered || v->n_members == 0, "members without a cluster answer");
    for (size_t i = 0; i < v->n_members; i++) {
        size_t l = strnlen(v->members[i].name, FO_NODE_NAME_MAX);
        FUZZ_CHECK(l > 0 && l < FO_NODE_NAME_MAX, "member name empty or unterminated");
        for (size_t k = 0; k < i; k++)
            FUZZ_CHECK(strcmp(v->members[i].name, v->members[k].name) != 0, "member twice");
        FUZZ_CHECK(fo_node_view_sees(v, v->members[i].name) == v->members[i].up,
                   "sees() disagrees with the members");
    }
    fo_node_view_read(part[0], len[0], part[1], len[1], part[2], len[2], again);
    FUZZ_CHECK(memcmp(v, again, sizeof *v) == 0, "the same answers read differently");
    free(v);
    free(again);
    return 0;
}
