/*
 * Subscription table: topic filters (with '+', '#' and "$share/{group}/")
 * mapped to subscribers. A subscriber is an opaque pointer the caller owns
 * (a session); the table never dereferences or frees it. Filters are copied.
 */
#ifndef FB_SUBS_H
#define FB_SUBS_H

#include "mqtt/fmq.h"

typedef struct fb_sub_opts {
    uint8_t qos;             /* granted maximum QoS */
    bool no_local;
    bool retain_as_published;
    uint8_t retain_handling;
    uint32_t sub_id;         /* 0 = none */
} fb_sub_opts_t;

typedef struct fb_subtab fb_subtab_t;

/* Results of fb_subtab_add / fb_subtab_remove (bit flags). */
enum {
    FB_SUB_ADDED = 1,         /* a new (filter, subscriber) pair; 0 = options replaced */
    FB_SUB_FILTER_FIRST = 2,  /* the filter had no subscriber before this add */
    FB_SUB_REMOVED = 4,       /* the pair existed and is gone */
    FB_SUB_FILTER_LAST = 8,   /* the filter has no subscriber after this remove */
};

fb_subtab_t *fb_subtab_new(void);
void fb_subtab_free(fb_subtab_t *t);

/* Adds or replaces the subscription of `subscriber` to `filter` (already
 * validated with fmq_topic_filter_check). Returns FB_SUB_* flags, or -1 when
 * memory ran out (the table is unchanged). For a shared filter
 * "$share/g/f" the FILTER_FIRST/LAST flags refer to the whole shared filter
 * string. */
int fb_subtab_add(fb_subtab_t *t, fmq_bytes_t filter, void *subscriber, const fb_sub_opts_t *o);
int fb_subtab_remove(fb_subtab_t *t, fmq_bytes_t filter, void *subscriber);

/* Calls cb once per matching (subscriber, subscription) for topic name
 * `topic`, honouring the '$' rule. A subscriber with several matching
 * filters is reported once per filter. For each shared group (group name +
 * filter) that matches, exactly ONE member is reported, chosen round-robin
 * among members for which eligible(ctx, subscriber) is true (all members when
 * eligible is NULL or none is eligible); `shared` is true for those calls. */
typedef void (*fb_match_cb)(void *ctx, void *subscriber, const fb_sub_opts_t *o, bool shared);
typedef bool (*fb_eligible_cb)(void *ctx, void *subscriber);
void fb_subtab_match(fb_subtab_t *t, fmq_bytes_t topic, fb_eligible_cb eligible,
                     fb_match_cb cb, void *ctx);

/* The general form: what fb_subtab_match does, plus the choices a cluster
 * node needs. skip_plain reports shared groups only; group_ok (when set) is
 * asked once per matching shared group, by its full "$share/g/f" filter,
 * before a member is picked, and false skips the group; shared_cb (when
 * set) is called instead of cb for the picked member, with that filter. */
typedef struct fb_match_sel {
    fb_eligible_cb eligible;
    bool skip_plain;
    bool (*group_ok)(void *ctx, fmq_bytes_t full);
    void (*shared_cb)(void *ctx, void *subscriber, const fb_sub_opts_t *o, fmq_bytes_t full);
} fb_match_sel_t;
void fb_subtab_match_sel(fb_subtab_t *t, fmq_bytes_t topic, const fb_match_sel_t *sel,
                         fb_match_cb cb, void *ctx);

size_t fb_subtab_count(const fb_subtab_t *t);         /* (filter, subscriber) pairs */
size_t fb_subtab_filter_count(const fb_subtab_t *t);  /* distinct filter strings */

/* Calls cb for every distinct filter string (for route announcements). */
void fb_subtab_each_filter(const fb_subtab_t *t, void (*cb)(void *ctx, fmq_bytes_t filter),
                           void *ctx);
#endif
