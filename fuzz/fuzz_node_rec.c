/*
 * libFuzzer target for ferry-operator's node.json reader, fo_node_rec_parse
 * (src/operator/answers.c): arbitrary bytes give either a record or one
 * error line, never a crash, leak or hang.
 *
 * Input: the file's bytes, whole. Promises checked:
 *   - a refused file leaves a zeroed record;
 *   - an accepted record is within its bounds (non-empty name and revision,
 *     ordinal below FO_REPLICAS_MAX, slot below FO_MAX_NODES, pid and times
 *     not negative);
 *   - fo_node_rec_dump writes JSON that reads back to an identical record.
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
    fo_node_rec_t r, again, zero;
    memset(&zero, 0, sizeof zero);
    char err[256];
    if (fo_node_rec_parse((const char *)data, size, &r, err, sizeof err) != 0) {
        FUZZ_CHECK(memcmp(&r, &zero, sizeof r) == 0, "a refused file left a record");
        FUZZ_CHECK(err[0] != '\0' && strchr(err, '\n') == NULL, "error is not one line");
        return 0;
    }
    FUZZ_CHECK(r.name[0] && r.revision[0], "empty name or revision accepted");
    FUZZ_CHECK(r.ordinal < FO_REPLICAS_MAX && r.slot < FO_MAX_NODES,
               "ordinal or slot out of range");
    FUZZ_CHECK(r.pid >= 0 && r.term_since_ms >= 0 && r.started_ms >= 0, "negative value accepted");
    char *text = fo_node_rec_dump(&r);
    FUZZ_CHECK(text != NULL, "dump failed");
    FUZZ_CHECK(fo_node_rec_parse(text, strlen(text), &again, err, sizeof err) == 0,
               "dump does not read back");
    FUZZ_CHECK(memcmp(&r, &again, sizeof r) == 0, "dump reads back different");
    free(text);
    return 0;
}
