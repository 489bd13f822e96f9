/*
 * Subscription table: a trie with one node per topic-filter level.
 *
 * A node keeps its literal children in a fb_kids_t (kids.h): a dense array,
 * hashed once it is large, because most nodes have a handful of children
 * but a broker with 100k filters also has nodes with tens of thousands
 * ("devices/{id}/..."), where only hashing keeps matching O(levels).
 * Clients choose the levels, so the hash is SipHash keyed per table. The '+'
 * and '#' children have their own pointers: matching wants them at every
 * level.
 *
 * Subscribers of a filter (and members of a shared group) use the same
 * array-plus-index scheme (fb_ix_t) keyed by the subscriber pointer, so a
 * filter that 20k sessions subscribe to still adds and removes in O(1).
 *
 * A node stores its own level only; a node with plain subscribers also
 * keeps a copy of its filter string (as a shared group does of its
 * "$share/..." string) so that each_filter needs no buffer. Storing every
 * node's whole path would cost O(levels^2) bytes for one deep filter.
 * Nodes know their parent and their index in the parent's array, so every
 * walk (match, each_filter, free) is iterative: no recursion, however many
 * levels a filter has.
 *
 * Callbacks must not modify the table they are called from.
 */
#include "broker/subs.h"
#include "broker/hash.h"
#include "broker/kids.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FB_NONE UINT32_MAX
#define FB_SHARE_PREFIX_LEN 7u /* "$share/" */

typedef struct fb_sub {
    void *who;
    fb_sub_opts_t o;
} fb_sub_t;

/* Subscribers of one filter: dense array, plus an index once large. */
typedef struct fb_slist {
    fb_sub_t *v;
    fb_ix_t ix; /* no slots until the list is large */
    uint32_t n, cap;
} fb_slist_t;

typedef struct fb_group {
    fb_slist_t members;
    uint32_t cursor;   /* round-robin position in members */
    uint32_t name_len; /* the name is full[FB_SHARE_PREFIX_LEN ..] */
    uint32_t full_len;
    uint8_t full[];    /* the whole "$share/{group}/{filter}" */
} fb_group_t;

typedef struct fb_node fb_node_t;
struct fb_node {
    fb_kid_t k;              /* first, so that the parent's kids set can hold it */
    uint32_t filter_len;
    fb_node_t *parent;       /* NULL for the root */
    fb_node_t *plus, *hash;  /* the '+' and '#' children */
    fb_kids_t kids;          /* literal children */
    uint8_t *filter;         /* the plain filter string while subs.n > 0 */
    uint32_t ngroups, gcap;
    fb_group_t **groups;     /* shared groups on this filter, few: scanned */
    fb_slist_t subs;         /* plain subscribers */
    uint8_t level[];
};

struct fb_subtab {
    fb_node_t *root;
    uint64_t key[2]; /* SipHash key for levels, mixing key for pointers */
    size_t count;    /* (filter, subscriber) pairs */
    size_t nfilters; /* distinct filter strings */
};


/* Session addresses are not chosen by clients: a keyed mix is enough. */
static uint32_t fb_ptr_hash(const uint64_t key[2], const void *p)
{
    return (uint32_t)fb__hash_mix64((uint64_t)(uintptr_t)p ^ key[1]);
}

/* ---- subscriber lists ---- */

static uint32_t fb_slist_find(const fb_slist_t *l, const void *who, const uint64_t key[2])
{
    if (!l->ix.slot) {
        for (uint32_t i = 0; i < l->n; i++)
            if (l->v[i].who == who)
                return i;
        return FB_NONE;
    }
    uint32_t h = fb_ptr_hash(key, who);
    for (uint32_t c = h, pos; (pos = fb__ix_probe(&l->ix, h, &c)) != FB_IX_NONE;)
        if (l->v[pos].who == who)
            return pos;
    return FB_NONE;
}

/* Makes room for one more subscriber, so that fb_slist_push cannot fail.
 * Growing is invisible to readers, so a failure leaves the list as it was. */
static int fb_slist_reserve(fb_slist_t *l, const uint64_t key[2])
{
    fb_sub_t *v = fb__grow(l->v, l->n, &l->cap, sizeof *v);
    if (!v)
        return -1;
    l->v = v;
    int r = fb__ix_reserve(&l->ix, l->n + 1);
    for (uint32_t i = 0; r > 0 && i < l->n; i++)
        fb__ix_put(&l->ix, fb_ptr_hash(key, v[i].who), i);
    return r < 0 ? -1 : 0;
}

static void fb_slist_push(fb_slist_t *l, void *who, const fb_sub_opts_t *o, const uint64_t key[2])
{
    uint32_t pos = l->n++;
    l->v[pos] = (fb_sub_t){who, *o};
    if (l->ix.slot)
        fb__ix_put(&l->ix, fb_ptr_hash(key, who), pos);
}

static void fb_slist_free(fb_slist_t *l)
{
    free(l->v);
    fb__ix_free(&l->ix);
    *l = (fb_slist_t){0};
}

static void fb_slist_remove_at(fb_slist_t *l, uint32_t pos, const uint64_t key[2])
{
    uint32_t last = l->n - 1;
    if (l->ix.slot) /* only then are the hashes needed */
        fb__ix_remove(&l->ix, pos, fb_ptr_hash(key, l->v[pos].who), last,
                     fb_ptr_hash(key, l->v[last].who));
    l->v[pos] = l->v[last];
    l->n = last;
    if (l->n == 0)
        fb_slist_free(l); /* a filter nobody uses should not keep its arrays */
}

/* ---- groups ---- */

static fb_group_t *fb_group_new(fmq_bytes_t full, uint32_t name_len)
{
    fb_group_t *g = calloc(1, sizeof *g + full.len);
    if (!g)
        return NULL;
    memcpy(g->full, full.ptr, full.len);
    g->full_len = full.len;
    g->name_len = name_len;
    return g;
}

static void fb_group_free(fb_group_t *g)
{
    fb_slist_free(&g->members);
    free(g);
}

static uint32_t fb_group_find(const fb_node_t *n, fmq_bytes_t name)
{
    for (uint32_t i = 0; i < n->ngroups; i++) {
        const fb_group_t *g = n->groups[i];
        if (g->name_len == name.len &&
            memcmp(g->full + FB_SHARE_PREFIX_LEN, name.ptr, name.len) == 0)
            return i;
    }
    return FB_NONE;
}

/* One member, round-robin: the cursor moves past whoever was chosen, so
 * consecutive messages spread evenly over the eligible members. */
static const fb_sub_t *fb_group_pick(fb_group_t *g, fb_eligible_cb eligible, void *ctx)
{
    const fb_slist_t *l = &g->members;
    uint32_t start = g->cursor % l->n;
    if (eligible) {
        for (uint32_t i = 0; i < l->n; i++) {
            uint32_t j = (start + i) % l->n;
            if (eligible(ctx, l->v[j].who)) {
                g->cursor = (j + 1) % l->n;
                return &l->v[j];
            }
        }
    }
    g->cursor = (start + 1) % l->n;
    return &l->v[start];
}

/* ---- nodes ---- */

/* The node whose first member k is (NULL stays NULL). */
static fb_node_t *fb_node_of(fb_kid_t *k)
{
    return (fb_node_t *)k;
}

static const uint8_t *fb_node_level(const fb_kid_t *k)
{
    return ((const fb_node_t *)k)->level;
}

/* A child node for level lv of `parent` (not linked in yet). */
static fb_node_t *fb_node_new(fb_node_t *parent, const uint8_t *lv, uint32_t len,
                              uint32_t level_hash)
{
    fb_node_t *c = fb__kid_alloc(sizeof *c, offsetof(fb_node_t, level), lv, len, level_hash);
    if (c)
        c->parent = parent;
    return c;
}

/* Frees one node and what it owns, not its children. */
static void fb_node_free(fb_node_t *n)
{
    fb_slist_free(&n->subs);
    free(n->filter);
    for (uint32_t i = 0; i < n->ngroups; i++)
        fb_group_free(n->groups[i]);
    free(n->groups);
    fb__kids_free(&n->kids);
    free(n);
}

static bool fb_node_empty(const fb_node_t *n)
{
    return !n->plus && !n->hash && n->kids.n == 0 && n->subs.n == 0 && n->ngroups == 0;
}

static fb_node_t *fb_kid_find(const fb_node_t *n, const uint8_t *lv, uint32_t len,
                              const uint64_t key[2])
{
    return fb_node_of(fb__kids_find(&n->kids, key, lv, len, fb_node_level));
}

/* Removes n and its ancestors while they hold nothing (never the root). */
static void fb_prune(fb_subtab_t *t, fb_node_t *n)
{
    while (n != t->root && fb_node_empty(n)) {
        fb_node_t *p = n->parent;
        if (p->plus == n)
            p->plus = NULL;
        else if (p->hash == n)
            p->hash = NULL;
        else
            fb__kids_remove(&p->kids, &n->k);
        fb_node_free(n);
        n = p;
    }
}

/* Children in a fixed order: literal ones, then '+', then '#'. */
static fb_node_t *fb_first_child(const fb_node_t *n)
{
    return n->kids.n ? fb_node_of(n->kids.v[0]) : n->plus ? n->plus : n->hash;
}

static fb_node_t *fb_next_sibling(const fb_node_t *c)
{
    const fb_node_t *p = c->parent;
    if (c == p->hash)
        return NULL;
    if (c == p->plus)
        return p->hash;
    if (c->k.pos + 1 < p->kids.n)
        return fb_node_of(p->kids.v[c->k.pos + 1]);
    return p->plus ? p->plus : p->hash;
}

/* The end of the level of s[0..len) that begins at `start`. */
static uint32_t fb_level_end(const uint8_t *s, uint32_t len, uint32_t start)
{
    const uint8_t *slash = start < len ? memchr(s + start, '/', len - start) : NULL;
    return slash ? (uint32_t)(slash - s) : len;
}

/* The node for filter f (without "$share/g/"). With `create`, missing nodes
 * are made and NULL means memory ran out (the table is left as it was);
 * without, NULL means there is no such node. */
static fb_node_t *fb_walk(fb_subtab_t *t, fmq_bytes_t f, bool create)
{
    const uint8_t *s = f.ptr ? f.ptr : (const uint8_t *)"";
    fb_node_t *n = t->root;
    for (uint32_t start = 0; start <= f.len;) {
        uint32_t end = fb_level_end(s, f.len, start), len = end - start;
        const uint8_t *lv = s + start;
        fb_node_t **slot = NULL, *c;
        if (len == 1 && lv[0] == '+')
            slot = &n->plus;
        else if (len == 1 && lv[0] == '#')
            slot = &n->hash;
        if (slot) {
            c = *slot;
            if (!c && create) {
                if (!(c = fb_node_new(n, lv, len, 0)))
                    goto fail;
                *slot = c;
            }
        } else {
            c = fb_kid_find(n, lv, len, t->key);
            if (!c && create) {
                if (fb__kids_reserve(&n->kids) != 0 ||
                    !(c = fb_node_new(n, lv, len, fb__kid_hash(t->key, lv, len))))
                    goto fail;
                fb__kids_push(&n->kids, &c->k);
            }
        }
        if (!c)
            return NULL;
        n = c;
        start = end + 1;
    }
    return n;
fail:
    fb_prune(t, n); /* the nodes made so far are empty */
    return NULL;
}

/* ---- public API ---- */

fb_subtab_t *fb_subtab_new(void)
{
    fb_subtab_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (!(t->root = calloc(1, sizeof *t->root))) {
        free(t);
        return NULL;
    }
    fb__hash_seed(t->key, t);
    return t;
}

static fb_node_t *fb_leftmost_leaf(fb_node_t *n)
{
    for (fb_node_t *c; (c = fb_first_child(n));)
        n = c;
    return n;
}

void fb_subtab_free(fb_subtab_t *t)
{
    if (!t)
        return;
    /* Post-order: a node goes once all its children have; the next sibling
     * is read before freeing, while the parent's arrays are intact. */
    fb_node_t *n = fb_leftmost_leaf(t->root);
    while (n != t->root) {
        fb_node_t *p = n->parent, *s = fb_next_sibling(n);
        fb_node_free(n);
        n = s ? fb_leftmost_leaf(s) : p;
    }
    fb_node_free(t->root);
    free(t);
}

int fb_subtab_add(fb_subtab_t *t, fmq_bytes_t filter, void *subscriber, const fb_sub_opts_t *o)
{
    fmq_bytes_t group, inner;
    bool shared = fmq_topic_share_split(filter, &group, &inner);
    fb_node_t *n = fb_walk(t, shared ? inner : filter, true);
    if (!n)
        return -1;
    if (!shared) {
        fb_slist_t *l = &n->subs;
        uint32_t i = fb_slist_find(l, subscriber, t->key);
        if (i != FB_NONE) {
            l->v[i].o = *o;
            return 0;
        }
        bool first = l->n == 0;
        uint8_t *copy = NULL;
        if (first && !(copy = malloc(filter.len ? filter.len : 1))) {
            fb_prune(t, n);
            return -1;
        }
        if (fb_slist_reserve(l, t->key) != 0) {
            free(copy);
            fb_prune(t, n);
            return -1;
        }
        if (first) {
            if (filter.len)
                memcpy(copy, filter.ptr, filter.len);
            n->filter = copy;
            n->filter_len = filter.len;
        }
        fb_slist_push(l, subscriber, o, t->key);
        t->count++;
        t->nfilters += first;
        return FB_SUB_ADDED | (first ? FB_SUB_FILTER_FIRST : 0);
    }
    uint32_t gi = fb_group_find(n, group);
    if (gi != FB_NONE) {
        fb_slist_t *l = &n->groups[gi]->members;
        uint32_t i = fb_slist_find(l, subscriber, t->key);
        if (i != FB_NONE) {
            l->v[i].o = *o;
            return 0;
        }
        if (fb_slist_reserve(l, t->key) != 0)
            return -1; /* the group keeps n alive: nothing to prune */
        fb_slist_push(l, subscriber, o, t->key);
        t->count++;
        return FB_SUB_ADDED;
    }
    /* A new group: everything that can fail happens before it is linked. */
    if (n->ngroups == n->gcap) {
        uint32_t cap = n->gcap ? n->gcap * 2 : 1;
        fb_group_t **groups = realloc(n->groups, (size_t)cap * sizeof *groups);
        if (!groups) {
            fb_prune(t, n);
            return -1;
        }
        n->groups = groups;
        n->gcap = cap;
    }
    fb_group_t *g = fb_group_new(filter, group.len);
    if (!g || fb_slist_reserve(&g->members, t->key) != 0) {
        if (g)
            fb_group_free(g);
        fb_prune(t, n);
        return -1;
    }
    fb_slist_push(&g->members, subscriber, o, t->key);
    n->groups[n->ngroups++] = g;
    t->count++;
    t->nfilters++;
    return FB_SUB_ADDED | FB_SUB_FILTER_FIRST;
}

int fb_subtab_remove(fb_subtab_t *t, fmq_bytes_t filter, void *subscriber)
{
    fmq_bytes_t group, inner;
    bool shared = fmq_topic_share_split(filter, &group, &inner);
    fb_node_t *n = fb_walk(t, shared ? inner : filter, false);
    if (!n)
        return 0;
    if (!shared) {
        uint32_t i = fb_slist_find(&n->subs, subscriber, t->key);
        if (i == FB_NONE)
            return 0;
        fb_slist_remove_at(&n->subs, i, t->key);
        t->count--;
        if (n->subs.n > 0)
            return FB_SUB_REMOVED;
        free(n->filter);
        n->filter = NULL;
        n->filter_len = 0;
        t->nfilters--;
        fb_prune(t, n);
        return FB_SUB_REMOVED | FB_SUB_FILTER_LAST;
    }
    uint32_t gi = fb_group_find(n, group);
    if (gi == FB_NONE)
        return 0;
    fb_group_t *g = n->groups[gi];
    uint32_t i = fb_slist_find(&g->members, subscriber, t->key);
    if (i == FB_NONE)
        return 0;
    fb_slist_remove_at(&g->members, i, t->key);
    t->count--;
    if (g->members.n > 0)
        return FB_SUB_REMOVED;
    fb_group_free(g);
    n->groups[gi] = n->groups[--n->ngroups];
    if (n->ngroups == 0) {
        free(n->groups);
        n->groups = NULL;
        n->gcap = 0;
    }
    t->nfilters--;
    fb_prune(t, n);
    return FB_SUB_REMOVED | FB_SUB_FILTER_LAST;
}

static void fb_report(fb_node_t *n, const fb_match_sel_t *sel, fb_match_cb cb, void *ctx)
{
    if (!sel->skip_plain)
        for (uint32_t i = 0; i < n->subs.n; i++)
            cb(ctx, n->subs.v[i].who, &n->subs.v[i].o, false);
    for (uint32_t i = 0; i < n->ngroups; i++) {
        fb_group_t *g = n->groups[i];
        fmq_bytes_t full = {g->full, g->full_len};
        if (sel->group_ok && !sel->group_ok(ctx, full))
            continue;
        const fb_sub_t *s = fb_group_pick(g, sel->eligible, ctx);
        if (sel->shared_cb)
            sel->shared_cb(ctx, s->who, &s->o, full);
        else
            cb(ctx, s->who, &s->o, true);
    }
}

/*
 * Depth-first over the nodes that match a prefix of the topic. At a node
 * that has consumed the levels before `start`: its '#' child matches (also
 * when no level is left: "a/#" matches "a"); when no level is left the node
 * itself matches; otherwise go to the literal child, then to the '+' child.
 * Coming back up tells which one was just done: from the literal child go
 * on to '+', from '+' go up. For topics starting with '$' the root's
 * wildcard children are skipped ([MQTT-4.7.2-1]).
 */
void fb_subtab_match(fb_subtab_t *t, fmq_bytes_t topic, fb_eligible_cb eligible,
                     fb_match_cb cb, void *ctx)
{
    fb_match_sel_t sel = {.eligible = eligible};
    fb_subtab_match_sel(t, topic, &sel, cb, ctx);
}

void fb_subtab_match_sel(fb_subtab_t *t, fmq_bytes_t topic, const fb_match_sel_t *sel,
                         fb_match_cb cb, void *ctx)
{
    const uint8_t *s = topic.ptr ? topic.ptr : (const uint8_t *)"";
    uint32_t len = topic.len;
    bool dollar = len > 0 && s[0] == '$';
    fb_node_t *n = t->root, *from = NULL;
    uint32_t start = 0; /* start of the next level; len + 1 when none is left */
    for (;;) {
        bool wild = !(dollar && n == t->root);
        uint32_t end = start <= len ? fb_level_end(s, len, start) : start;
        fb_node_t *next = NULL;
        if (!from) {
            if (wild && n->hash)
                fb_report(n->hash, sel, cb, ctx);
            if (start > len)
                fb_report(n, sel, cb, ctx);
            else if (!(next = fb_kid_find(n, s + start, end - start, t->key)) && wild)
                next = n->plus;
        } else if (from != n->plus && wild) {
            next = n->plus;
        }
        if (next) {
            n = next;
            from = NULL;
            start = end + 1;
            continue;
        }
        if (n == t->root)
            return;
        /* Up one level: the parent's level ends just before `start`. */
        uint32_t i = start - 1;
        while (i > 0 && s[i - 1] != '/')
            i--;
        start = i;
        from = n;
        n = n->parent;
    }
}

size_t fb_subtab_count(const fb_subtab_t *t)
{
    return t->count;
}

size_t fb_subtab_filter_count(const fb_subtab_t *t)
{
    return t->nfilters;
}

void fb_subtab_each_filter(const fb_subtab_t *t, void (*cb)(void *ctx, fmq_bytes_t filter),
                           void *ctx)
{
    const fb_node_t *n = t->root;
    for (;;) {
        if (n->subs.n)
            cb(ctx, (fmq_bytes_t){n->filter, n->filter_len});
        for (uint32_t i = 0; i < n->ngroups; i++)
            cb(ctx, (fmq_bytes_t){n->groups[i]->full, n->groups[i]->full_len});
        const fb_node_t *next = fb_first_child(n);
        while (!next) {
            if (n == t->root)
                return;
            next = fb_next_sibling(n);
            n = n->parent;
        }
        n = next;
    }
}
