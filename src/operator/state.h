/*
 * state.h: the engine's memory (fo_memory_t) as the JSON of state.json.
 * Pure: text in, text out; the controller does the file I/O.
 *
 * Ownership: fo_memory_dump returns a malloc'd string the caller frees.
 */
#ifndef FO_STATE_H
#define FO_STATE_H

#include <stddef.h>

#include "operator/engine.h"

#define FO_STATE_MAX_BYTES (4u * 1024u * 1024u)

/* Parses len bytes (need not be NUL-terminated). Every field is optional;
 * strings longer than their field are refused, an unknown phase is an error.
 * On error *m is zeroed (a new memory: step -1) and err says why. */
int fo_memory_parse(const char *text, size_t len, fo_memory_t *m, char *err, size_t errlen);

/* The memory as a JSON object (sorted keys); NULL when out of memory. */
char *fo_memory_dump(const fo_memory_t *m);

#endif /* FO_STATE_H */
