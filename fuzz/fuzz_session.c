/*
 * Session records as a peer node would send them (takeover, evacuation):
 * fb_session_deserialize on arbitrary bytes must refuse or accept without a
 * crash or leak, and an accepted record must serialize back to the same
 * bytes (nothing it accepts is lost or invented).
 */
#include "broker/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *why = NULL;
    fb_session_t *s = fb_session_deserialize(data, size, &why);
    if (!s) {
        if (!why)
            abort(); /* a refusal always says why */
        return 0;
    }
    size_t len = 0;
    uint8_t *again = fb_session_serialize(s, &len);
    /* Records differ only where the reader normalises (a next packet id of
     * 0 becomes 1): compare the re-read of the re-serialized record. */
    if (again) {
        fb_session_t *t = fb_session_deserialize(again, len, &why);
        if (!t)
            abort();
        size_t len2 = 0;
        uint8_t *third = fb_session_serialize(t, &len2);
        if (third && (len2 != len || memcmp(third, again, len) != 0))
            abort();
        free(third);
        fb_session_free(t);
    }
    free(again);
    fb_session_free(s);
    return 0;
}
