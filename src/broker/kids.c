/*
 * Children of a trie node: dense array plus, past FB_SMALL, an
 * open-addressing index of array positions (see kids.h).
 */
#include "broker/kids.h"
#include "broker/hash.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define FB_SMALL 8u /* up to this many entries a linear scan beats hashing */

/* ---- position index ---- */

int fb__ix_reserve(fb_ix_t *x, uint32_t want)
{
    if (!(x->slot || want > FB_SMALL) || 2 * want <= x->cap)
        return 0;
    uint32_t cap = 16;
    while (cap < 2 * want)
        cap *= 2;
    fb_ix_slot_t *slot = calloc(cap, sizeof *slot);
    if (!slot)
        return -1;
    free(x->slot);
    *x = (fb_ix_t){slot, cap};
    return 1;
}

void fb__ix_put(fb_ix_t *x, uint32_t h, uint32_t pos)
{
    uint32_t mask = x->cap - 1, s = h & mask;
    while (x->slot[s].pos1)
        s = (s + 1) & mask;
    x->slot[s] = (fb_ix_slot_t){h, pos + 1};
}

uint32_t fb__ix_probe(const fb_ix_t *x, uint32_t h, uint32_t *cursor)
{
    uint32_t mask = x->cap - 1;
    /* At most half the slots are used, so the run ends at a free one. */
    for (uint32_t s = *cursor & mask; x->slot[s].pos1; s = (s + 1) & mask) {
        if (x->slot[s].hash == h) {
            *cursor = s + 1;
            return x->slot[s].pos1 - 1;
        }
    }
    return FB_IX_NONE;
}

/* The slot that points at array position `pos` (it must be there). */
static uint32_t fb_ix_slot_of(const fb_ix_t *x, uint32_t h, uint32_t pos)
{
    uint32_t mask = x->cap - 1, s = h & mask;
    while (x->slot[s].pos1 != pos + 1)
        s = (s + 1) & mask;
    return s;
}

/* Backward-shift deletion: later entries of the probe run move up, so the
 * index never needs tombstones. */
static void fb_ix_del(fb_ix_t *x, uint32_t s)
{
    fb_ix_slot_t *ix = x->slot;
    uint32_t mask = x->cap - 1, hole = s;
    for (uint32_t j = (s + 1) & mask; ix[j].pos1; j = (j + 1) & mask) {
        uint32_t home = ix[j].hash & mask;
        /* The entry may fill the hole unless its home lies after the hole
         * (cyclically), i.e. between the hole and itself. */
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            ix[hole] = ix[j];
            hole = j;
        }
    }
    ix[hole].pos1 = 0;
}

void fb__ix_remove(fb_ix_t *x, uint32_t pos, uint32_t h, uint32_t last, uint32_t last_h)
{
    if (!x->slot)
        return;
    fb_ix_del(x, fb_ix_slot_of(x, h, pos));
    if (pos != last)
        x->slot[fb_ix_slot_of(x, last_h, last)].pos1 = pos + 1;
}

void fb__ix_free(fb_ix_t *x)
{
    free(x->slot);
    *x = (fb_ix_t){0};
}

void *fb__grow(void *v, uint32_t n, uint32_t *cap, size_t size)
{
    /* The index needs 2 * (n + 1) slots to fit in 32 bits. */
    if (n >= UINT32_MAX / 4)
        return NULL;
    if (n < *cap)
        return v;
    uint32_t c = *cap ? *cap * 2 : 2;
    void *grown = realloc(v, (size_t)c * size);
    if (grown)
        *cap = c;
    return grown;
}

/* ---- children ---- */

uint32_t fb__kid_hash(const uint64_t key[2], const uint8_t *lv, uint32_t len)
{
    return (uint32_t)fb__siphash(key, lv, len);
}

void *fb__kid_alloc(size_t size, size_t level_off, const uint8_t *lv, uint32_t len,
                   uint32_t level_hash)
{
    void *node = calloc(1, size + len);
    if (!node)
        return NULL;
    if (len)
        memcpy((unsigned char *)node + level_off, lv, len);
    fb_kid_t *k = node; /* the node's first member */
    k->level_len = len;
    k->level_hash = level_hash;
    return node;
}

static bool fb_kid_is(const fb_kid_t *k, const uint8_t *lv, uint32_t len, fb_kid_level_fn *level)
{
    return k->level_len == len && (len == 0 || memcmp(level(k), lv, len) == 0);
}

fb_kid_t *fb__kids_find(const fb_kids_t *s, const uint64_t key[2], const uint8_t *lv, uint32_t len,
                       fb_kid_level_fn *level)
{
    if (!s->ix.slot) {
        for (uint32_t i = 0; i < s->n; i++)
            if (fb_kid_is(s->v[i], lv, len, level))
                return s->v[i];
        return NULL;
    }
    uint32_t h = fb__kid_hash(key, lv, len);
    for (uint32_t c = h, pos; (pos = fb__ix_probe(&s->ix, h, &c)) != FB_IX_NONE;)
        if (fb_kid_is(s->v[pos], lv, len, level))
            return s->v[pos];
    return NULL;
}

int fb__kids_reserve(fb_kids_t *s)
{
    fb_kid_t **v = fb__grow(s->v, s->n, &s->cap, sizeof *v);
    if (!v)
        return -1;
    s->v = v;
    int r = fb__ix_reserve(&s->ix, s->n + 1);
    for (uint32_t i = 0; r > 0 && i < s->n; i++)
        fb__ix_put(&s->ix, v[i]->level_hash, i);
    return r < 0 ? -1 : 0;
}

void fb__kids_push(fb_kids_t *s, fb_kid_t *k)
{
    k->pos = s->n++;
    s->v[k->pos] = k;
    if (s->ix.slot)
        fb__ix_put(&s->ix, k->level_hash, k->pos);
}

void fb__kids_remove(fb_kids_t *s, fb_kid_t *k)
{
    uint32_t pos = k->pos, last = s->n - 1;
    fb_kid_t *moved = s->v[last];
    fb__ix_remove(&s->ix, pos, k->level_hash, last, moved->level_hash);
    s->v[pos] = moved;
    moved->pos = pos;
    s->n = last;
    if (last == 0)
        fb__kids_free(s);
}

void fb__kids_free(fb_kids_t *s)
{
    free(s->v);
    fb__ix_free(&s->ix);
    *s = (fb_kids_t){0};
}
