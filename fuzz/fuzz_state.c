/*
 * libFuzzer target for ferry-operator's state.json reader, fo_memory_parse
 * (src/operator/state.c): arbitrary bytes give either a memory or one error
 * line, never a crash, leak or hang.
 *
 * Input: the file's bytes, whole. Promises checked:
 *   - a refused file leaves a new memory (zeroed, step -1);
 *   - an accepted memory is within the engine's bounds;
 *   - fo_memory_dump writes JSON that reads back to an identical memory.
 * Links ferrystate.
 */
#include "fuzz_common.h"
#include "operator/state.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fo_memory_t m, again, fresh; /* large: not on the stack; reset by the parser */
    char err[256];
    if (fo_memory_parse((const char *)data, size, &m, err, sizeof err) != 0) {
        memset(&fresh, 0, sizeof fresh);
        fresh.step = -1;
        FUZZ_CHECK(memcmp(&m, &fresh, sizeof m) == 0, "a refused file left a non-empty memory");
        FUZZ_CHECK(err[0] != '\0' && strchr(err, '\n') == NULL, "error is not one line");
        return 0;
    }
    FUZZ_CHECK(m.n_forgetting <= FO_MAX_NODES, "forgetting over its bound");
    FUZZ_CHECK(m.step >= -1 && m.step < (int32_t)FO_REPLICAS_MAX, "step out of range");
    char *text = fo_memory_dump(&m);
    FUZZ_CHECK(text != NULL, "dump failed");
    FUZZ_CHECK(fo_memory_parse(text, strlen(text), &again, err, sizeof err) == 0,
               "dump does not read back");
    FUZZ_CHECK(memcmp(&m, &again, sizeof m) == 0, "dump reads back different");
    free(text);
    return 0;
}
