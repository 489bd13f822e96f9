/*
 * String-keyed hash map (open addressing) from byte-string keys to opaque
 * values. Keys are copied; values are borrowed pointers the caller owns.
 */
#ifndef FB_MAP_H
#define FB_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fb_map fb_map_t;

fb_map_t *fb_map_new(void);
/* A map that stores the caller's key pointers instead of copies: each key
 * (non-NULL, even when empty) must stay valid and unchanged while its entry
 * exists. The broker's session table uses it with the session's own id. */
fb_map_t *fb_map_new_borrowing(void);
void fb_map_free(fb_map_t *m);
void *fb_map_get(const fb_map_t *m, const void *key, size_t klen);
/* Inserts or replaces; returns 0, or -1 when memory ran out. */
int fb_map_put(fb_map_t *m, const void *key, size_t klen, void *value);
/* Removes and returns the value, or NULL. */
void *fb_map_del(fb_map_t *m, const void *key, size_t klen);
size_t fb_map_count(const fb_map_t *m);
/* Iteration: *pos starts at 0; safe against fb_map_del of the current key. */
bool fb_map_next(const fb_map_t *m, size_t *pos, const void **key, size_t *klen, void **value);
#endif
