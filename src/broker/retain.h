/*
 * Retained message store: one opaque message pointer per topic name. The
 * store holds the pointer it is given and hands the old one back on replace
 * or clear; reference counting is the caller's (see release in
 * fb_retain_free). Topic names are copied.
 */
#ifndef FB_RETAIN_H
#define FB_RETAIN_H

#include "mqtt/fmq.h"

typedef struct fb_retain fb_retain_t;

fb_retain_t *fb_retain_new(void);
/* Frees the store, calling release(msg) for every message still in it. */
void fb_retain_free(fb_retain_t *r, void (*release)(void *msg));

/* Stores msg under topic (msg == NULL clears it). *old receives the message
 * that was there (or NULL) for the caller to release. Returns 0, or -1 when
 * memory ran out (the store is unchanged and *old is NULL). */
int fb_retain_set(fb_retain_t *r, fmq_bytes_t topic, void *msg, void **old);
void *fb_retain_get(const fb_retain_t *r, fmq_bytes_t topic);

/* Calls cb for every stored message whose topic matches `filter` (not
 * shared; '$' rule honoured: "#" does not return "$SYS/x"). */
void fb_retain_match(const fb_retain_t *r, fmq_bytes_t filter,
                     void (*cb)(void *ctx, fmq_bytes_t topic, void *msg), void *ctx);
/* Calls cb for every stored message (for replication to a joining node). */
void fb_retain_each(const fb_retain_t *r, void (*cb)(void *ctx, fmq_bytes_t topic, void *msg),
                    void *ctx);
size_t fb_retain_count(const fb_retain_t *r);
#endif
