/*
 * json_in.h: internal to ferrystate (state.c, answers.c). The one way a
 * file of ours is loaded: a size bound, duplicate keys refused, and the
 * error as one printable line.
 */
#ifndef FO_JSON_IN_H
#define FO_JSON_IN_H

#include <jansson.h>
#include <stdio.h>

/* The JSON value of text[0..len), or NULL with err set. */
static inline json_t *fo__json_in(const char *text, size_t len, size_t max, char *err,
                                  size_t errlen)
{
    if (len > max) {
        snprintf(err, errlen, "more than %zu bytes", max);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        /* jansson quotes the input near the error, control bytes and all:
         * printable ASCII only, so the message stays one line (found by
         * fuzz_node_rec). */
        for (char *p = je.text; *p; p++)
            if (*p < ' ' || *p > '~')
                *p = '?';
        snprintf(err, errlen, "line %d: %s", je.line, je.text);
    }
    return j;
}

#endif /* FO_JSON_IN_H */
