/*
 * Retained store: a trie with one node per topic level, the message on the
 * node of its topic.
 *
 * A trie rather than a map of topics because a subscription's filter must
 * find its retained messages without looking at the others: a literal level
 * is one child lookup, '+' visits the children of one node, '#' one subtree.
 * Children are a fb_kids_t (kids.h): a dense array plus, once large, an
 * index keyed by a per-store SipHash of the level (publishers choose the
 * levels).
 * A node stores its own level; a node with a message also keeps a copy of
 * its topic for the callbacks (whole paths on every node would cost
 * O(levels^2) bytes for one deep topic). Nodes know their parent and their
 * position in the parent's array, so every walk is iterative whatever the
 * number of levels.
 *
 * Callbacks must not modify the store they are called from.
 */
#include "broker/retain.h"
#include "broker/hash.h"
#include "broker/kids.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct fb_rnode fb_rnode_t;
struct fb_rnode {
    fb_kid_t k;         /* first, so that the parent's kids set can hold it */
    uint32_t topic_len;
    fb_rnode_t *parent; /* NULL for the root */
    fb_kids_t kids;
    uint8_t *topic;     /* the topic, while msg is set */
    void *msg;
    uint8_t level[];
};

struct fb_retain {
    fb_rnode_t *root;
    uint64_t key[2];
    size_t count;
};

typedef void (*fb_retain_cb)(void *ctx, fmq_bytes_t topic, void *msg);


/* ---- nodes ---- */

/* The node whose first member k is (NULL stays NULL). */
static fb_rnode_t *fb_node_of(fb_kid_t *k)
{
    return (fb_rnode_t *)k;
}

static const uint8_t *fb_node_level(const fb_kid_t *k)
{
    return ((const fb_rnode_t *)k)->level;
}

/* [MQTT-4.7.2-1]: a wildcard in the first level skips topics starting with '$'. */
static bool fb_hidden(const fb_rnode_t *n)
{
    return n->parent && !n->parent->parent && n->k.level_len > 0 && n->level[0] == '$';
}

static fb_rnode_t *fb_node_new(fb_rnode_t *parent, const uint8_t *lv, uint32_t len,
                               uint32_t level_hash)
{
    fb_rnode_t *c = fb__kid_alloc(sizeof *c, offsetof(fb_rnode_t, level), lv, len, level_hash);
    if (c)
        c->parent = parent;
    return c;
}

static void fb_node_free(fb_rnode_t *n)
{
    free(n->topic);
    fb__kids_free(&n->kids);
    free(n);
}

static fb_rnode_t *fb_kid_find(const fb_rnode_t *n, const uint8_t *lv, uint32_t len,
                               const uint64_t key[2])
{
    return fb_node_of(fb__kids_find(&n->kids, key, lv, len, fb_node_level));
}

/* Removes n and its ancestors while they hold nothing (never the root). */
static void fb_prune(fb_retain_t *r, fb_rnode_t *n)
{
    while (n != r->root && !n->msg && n->kids.n == 0) {
        fb_rnode_t *p = n->parent;
        fb__kids_remove(&p->kids, &n->k);
        fb_node_free(n);
        n = p;
    }
}

static uint32_t fb_level_end(const uint8_t *s, uint32_t len, uint32_t start)
{
    const uint8_t *slash = start < len ? memchr(s + start, '/', len - start) : NULL;
    return slash ? (uint32_t)(slash - s) : len;
}

/* The node of `topic`, or NULL. */
static fb_rnode_t *fb_find(const fb_retain_t *r, fmq_bytes_t topic)
{
    const uint8_t *s = topic.ptr ? topic.ptr : (const uint8_t *)"";
    fb_rnode_t *n = r->root;
    for (uint32_t start = 0; n && start <= topic.len;) {
        uint32_t end = fb_level_end(s, topic.len, start);
        n = fb_kid_find(n, s + start, end - start, r->key);
        start = end + 1;
    }
    return n;
}

/* The node of `topic`, made when missing; NULL when memory ran out (the
 * store is then as it was). */
static fb_rnode_t *fb_make(fb_retain_t *r, fmq_bytes_t topic)
{
    const uint8_t *s = topic.ptr ? topic.ptr : (const uint8_t *)"";
    fb_rnode_t *n = r->root;
    for (uint32_t start = 0; start <= topic.len;) {
        uint32_t end = fb_level_end(s, topic.len, start), len = end - start;
        fb_rnode_t *c = fb_kid_find(n, s + start, len, r->key);
        if (!c) {
            if (fb__kids_reserve(&n->kids) != 0 ||
                !(c = fb_node_new(n, s + start, len, fb__kid_hash(r->key, s + start, len)))) {
                fb_prune(r, n); /* the nodes made so far are empty */
                return NULL;
            }
            fb__kids_push(&n->kids, &c->k);
        }
        n = c;
        start = end + 1;
    }
    return n;
}

/* Children of n in array order, skipping hidden ones where a wildcard
 * asked for them. */
static fb_rnode_t *fb_kid_from(const fb_rnode_t *n, uint32_t i, bool wildcard)
{
    for (; i < n->kids.n; i++)
        if (!wildcard || !fb_hidden(fb_node_of(n->kids.v[i])))
            return fb_node_of(n->kids.v[i]);
    return NULL;
}

static void fb_report(const fb_rnode_t *n, fb_retain_cb cb, void *ctx)
{
    if (n->msg)
        cb(ctx, (fmq_bytes_t){n->topic, n->topic_len}, n->msg);
}

/* Reports top and everything under it, pre-order. `wildcard`: the walk is
 * for '#', so hidden ('$') first-level topics are skipped. */
static void fb_report_tree(const fb_rnode_t *top, bool wildcard, fb_retain_cb cb, void *ctx)
{
    const fb_rnode_t *n = top;
    for (;;) {
        fb_report(n, cb, ctx);
        const fb_rnode_t *next = fb_kid_from(n, 0, wildcard);
        while (!next) {
            if (n == top)
                return;
            next = fb_kid_from(n->parent, n->k.pos + 1, wildcard);
            n = n->parent;
        }
        n = next;
    }
}

/* ---- public API ---- */

fb_retain_t *fb_retain_new(void)
{
    fb_retain_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    if (!(r->root = calloc(1, sizeof *r->root))) {
        free(r);
        return NULL;
    }
    fb__hash_seed(r->key, r);
    return r;
}

static fb_rnode_t *fb_leftmost_leaf(fb_rnode_t *n)
{
    while (n->kids.n)
        n = fb_node_of(n->kids.v[0]);
    return n;
}

void fb_retain_free(fb_retain_t *r, void (*release)(void *msg))
{
    if (!r)
        return;
    /* Post-order, reading the next sibling before freeing a node. */
    fb_rnode_t *n = fb_leftmost_leaf(r->root);
    for (;;) {
        if (n->msg && release)
            release(n->msg);
        if (n == r->root)
            break;
        fb_rnode_t *p = n->parent;
        fb_rnode_t *s = n->k.pos + 1 < p->kids.n ? fb_node_of(p->kids.v[n->k.pos + 1]) : NULL;
        fb_node_free(n);
        n = s ? fb_leftmost_leaf(s) : p;
    }
    fb_node_free(r->root);
    free(r);
}

int fb_retain_set(fb_retain_t *r, fmq_bytes_t topic, void *msg, void **old)
{
    void *scratch;
    if (!old)
        old = &scratch;
    *old = NULL;
    fb_rnode_t *n = msg ? fb_make(r, topic) : fb_find(r, topic);
    if (!msg) {
        if (!n || !n->msg)
            return 0;
        *old = n->msg;
        n->msg = NULL;
        free(n->topic);
        n->topic = NULL;
        n->topic_len = 0;
        r->count--;
        fb_prune(r, n);
        return 0;
    }
    if (!n)
        return -1;
    if (!n->msg) {
        uint8_t *copy = malloc(topic.len ? topic.len : 1);
        if (!copy) {
            fb_prune(r, n);
            return -1;
        }
        if (topic.len)
            memcpy(copy, topic.ptr, topic.len);
        n->topic = copy;
        n->topic_len = topic.len;
        r->count++;
    }
    *old = n->msg;
    n->msg = msg;
    return 0;
}

void *fb_retain_get(const fb_retain_t *r, fmq_bytes_t topic)
{
    const fb_rnode_t *n = fb_find(r, topic);
    return n ? n->msg : NULL;
}

/*
 * Depth-first over the nodes that match a prefix of the filter. At a node
 * that has consumed the filter levels before `start`: no level left - the
 * node matches; '#' - the node and its subtree match ("a/#" matches "a");
 * '+' - go to the first child; a literal - go to that child. Going back up,
 * a node reached through '+' passes on to its next sibling.
 */
void fb_retain_match(const fb_retain_t *r, fmq_bytes_t filter, fb_retain_cb cb, void *ctx)
{
    const uint8_t *f = filter.ptr ? filter.ptr : (const uint8_t *)"";
    uint32_t flen = filter.len;
    const fb_rnode_t *n = r->root;
    uint32_t start = 0; /* start of the next filter level; flen + 1 when none is left */
    for (;;) {
        const fb_rnode_t *next = NULL;
        if (start > flen) {
            fb_report(n, cb, ctx);
        } else {
            uint32_t end = fb_level_end(f, flen, start);
            bool one = end - start == 1;
            if (one && f[start] == '#')
                fb_report_tree(n, true, cb, ctx);
            else if (one && f[start] == '+')
                next = fb_kid_from(n, 0, true);
            else
                next = fb_kid_find(n, f + start, end - start, r->key);
            if (next) {
                n = next;
                start = end + 1;
                continue;
            }
        }
        /* Back up until a '+' level has another child to try. */
        for (;;) {
            if (n == r->root)
                return;
            uint32_t i = start - 1; /* the parent's level ends here */
            while (i > 0 && f[i - 1] != '/')
                i--;
            if (start - 1 - i == 1 && f[i] == '+' &&
                (next = fb_kid_from(n->parent, n->k.pos + 1, true)))
                break;
            n = n->parent;
            start = i;
        }
        n = next; /* a sibling: same depth, same `start` */
    }
}

void fb_retain_each(const fb_retain_t *r, fb_retain_cb cb, void *ctx)
{
    fb_report_tree(r->root, false, cb, ctx);
}

size_t fb_retain_count(const fb_retain_t *r)
{
    return r->count;
}
