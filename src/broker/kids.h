/*
 * Children of a trie node, shared by the subscription table (subs.c) and
 * the retained store (retain.c), and the pieces they are built from.
 *
 * fb_kids_t is a node's set of literal children: a dense array (cheap
 * iteration, O(1) removal by moving the last child into the hole) and, once
 * there are more than FB_SMALL (8) children, an open-addressing index over it
 * keyed by the level's hash. Most nodes have a handful of children and a
 * linear scan wins there; some have tens of thousands ("devices/{id}/..."),
 * where only hashing keeps a lookup O(1). Clients choose the levels, so the
 * hash is SipHash under the table's key (fb__kid_hash).
 *
 * A node takes part by embedding fb_kid_t as its FIRST member: the set holds
 * pointers to that member, and the node type converts one back to the node
 * (a pointer to a struct and to its first member are interchangeable). The
 * level bytes stay in the node, after its own fields; the set reads them
 * through the accessor given to fb__kids_find.
 *
 * Ownership: a fb_kids_t owns its two arrays (fb__kids_free, or the removal
 * of the last child, frees them), never the children: nodes belong to their
 * trie, which frees them (fb__kid_alloc only allocates one for it). A fb_ix_t
 * owns its slot array; fb__grow's array is the caller's.
 *
 * fb_ix_t, the position index, and fb__grow are exported because subs.c's
 * subscriber lists use the same scheme over an array of values.
 */
#ifndef FB_KIDS_H
#define FB_KIDS_H

#include <stddef.h>
#include <stdint.h>

#define FB_IX_NONE UINT32_MAX /* "no position" */

/* ---- position index over a dense array (load <= 50%) ---- */

/* Index slot: which array position holds an entry with this hash. */
typedef struct fb_ix_slot {
    uint32_t hash;
    uint32_t pos1; /* position + 1; 0 = free slot */
} fb_ix_slot_t;

typedef struct fb_ix {
    fb_ix_slot_t *slot; /* NULL while the array has at most FB_SMALL entries */
    uint32_t cap;       /* slots, a power of two */
} fb_ix_t;

/* Makes x fit an array about to hold `want` entries. 0: x is fine as it is;
 * 1: x was replaced by an empty, larger index, which the caller refills
 * with fb__ix_put for every entry of the array (that cannot fail); -1: memory
 * ran out and x is as it was. */
int fb__ix_reserve(fb_ix_t *x, uint32_t want);
/* Records that array position pos holds an entry with hash h (x must have
 * a free slot: fb__ix_reserve made sure of that). */
void fb__ix_put(fb_ix_t *x, uint32_t h, uint32_t pos);
/* The next array position, in probe order, whose entry has hash h, or
 * FB_IX_NONE: the caller compares the entries themselves. *cursor starts as
 * h. */
uint32_t fb__ix_probe(const fb_ix_t *x, uint32_t h, uint32_t *cursor);
/* Follows an array removal that moved the last entry (position last, hash
 * last_h) into the hole at pos (hash h). Never allocates; nothing to do
 * without an index. */
void fb__ix_remove(fb_ix_t *x, uint32_t pos, uint32_t h, uint32_t last, uint32_t last_h);
void fb__ix_free(fb_ix_t *x);

/* Makes room for one more entry in array v (n entries of `size` bytes, room
 * for *cap), doubling from 2. Returns the array to use (v itself when it had
 * room), or NULL when memory ran out or n is too large for the index
 * arithmetic: then v and *cap are as they were. */
void *fb__grow(void *v, uint32_t n, uint32_t *cap, size_t size);

/* ---- children of a trie node ---- */

/* What a node is as its parent's child. The '+' and '#' children of a
 * subscription node carry one too (fb__kid_alloc fills it in) but sit in no
 * set: their parent points at them directly. */
typedef struct fb_kid {
    uint32_t pos;        /* position in the parent's fb_kids_t */
    uint32_t level_hash; /* fb__kid_hash of the level */
    uint32_t level_len;
} fb_kid_t;

typedef struct fb_kids {
    fb_kid_t **v; /* dense: v[k->pos] == k */
    fb_ix_t ix;   /* over v, once it has more than FB_SMALL children */
    uint32_t n, cap;
} fb_kids_t;

/* The bytes of k's level (k->level_len of them), owned by its node. */
typedef const uint8_t *fb_kid_level_fn(const fb_kid_t *k);

/* The hash of level lv[0..len) under a table's key. */
uint32_t fb__kid_hash(const uint64_t key[2], const uint8_t *lv, uint32_t len);
/* A zeroed node for level lv[0..len), or NULL: `size` bytes of its struct,
 * which starts with a fb_kid_t (filled in here) and ends with the level
 * bytes at `level_off` (copied here), plus len. The caller owns it (free). */
void *fb__kid_alloc(size_t size, size_t level_off, const uint8_t *lv, uint32_t len,
                   uint32_t level_hash);

/* The child for level lv[0..len), or NULL; key is the one the children's
 * level_hash was computed with. */
fb_kid_t *fb__kids_find(const fb_kids_t *s, const uint64_t key[2], const uint8_t *lv, uint32_t len,
                       fb_kid_level_fn *level);
/* Room for one more child, so that fb__kids_push cannot fail. Growing is
 * invisible to readers, so a failure (-1) leaves the set as it was. */
int fb__kids_reserve(fb_kids_t *s);
/* Appends k (level_hash set, not in the set yet) and sets k->pos. */
void fb__kids_push(fb_kids_t *s, fb_kid_t *k);
/* Takes k out: the last child moves into its place (its pos changes). The
 * arrays go with the last child, so a leaf holds nothing. Never allocates. */
void fb__kids_remove(fb_kids_t *s, fb_kid_t *k);
/* Frees the arrays, not the children. */
void fb__kids_free(fb_kids_t *s);
#endif
