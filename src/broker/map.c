/*
 * String-keyed hash map: open addressing with linear probing over slots that
 * cache the key's full 64-bit hash, so a probe compares bytes only when the
 * hashes agree.
 *
 * Keys are client identifiers and other strings that remote peers choose, so
 * the hash is SipHash-1-3 keyed per map from getrandom(): an attacker cannot
 * precompute a set of colliding ids that turns every lookup into a scan.
 *
 * Deletion leaves a tombstone (so probe chains stay intact and iteration
 * positions stay valid) unless the next slot is empty, in which case the slot
 * and the tombstones just before it become empty again. The table grows
 * (rehashing away tombstones) when live entries plus tombstones would pass
 * 70% of the slots; it never shrinks and never moves entries on deletion,
 * which is what makes fb_map_next safe against fb_map_del.
 */
#include "broker/map.h"
#include "broker/hash.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FB_MAP_MIN_CAP 8u
/* A slot with key == NULL is empty when klen == 0 and a tombstone when
 * klen == FB_TOMB (a live key always has an allocation, even when empty). */
#define FB_TOMB SIZE_MAX
#define FB_NOT_FOUND SIZE_MAX

typedef struct fb_slot {
    uint8_t *key;
    size_t klen;
    uint64_t hash;
    void *value;
} fb_slot_t;

struct fb_map {
    fb_slot_t *slots; /* NULL until the first put */
    size_t cap;       /* a power of two, or 0 */
    size_t count, tombs;
    uint64_t key[2];  /* SipHash key */
    bool borrow;      /* keys belong to the caller (fb_map_new_borrowing) */
};


/* ---- table ---- */

fb_map_t *fb_map_new(void)
{
    fb_map_t *m = calloc(1, sizeof *m);
    if (m)
        fb__hash_seed(m->key, m);
    return m;
}

fb_map_t *fb_map_new_borrowing(void)
{
    fb_map_t *m = fb_map_new();
    if (m)
        m->borrow = true;
    return m;
}

void fb_map_free(fb_map_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap && !m->borrow; i++)
        free(m->slots[i].key);
    free(m->slots);
    free(m);
}

static uint64_t fb_map_hash(const fb_map_t *m, const void *key, size_t klen)
{
    return fb__siphash(m->key, key, klen);
}

static size_t fb_map_find(const fb_map_t *m, const void *key, size_t klen, uint64_t h)
{
    if (m->cap == 0)
        return FB_NOT_FOUND;
    size_t mask = m->cap - 1;
    /* Terminates: the load limit keeps at least 30% of the slots empty. */
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        const fb_slot_t *s = &m->slots[i];
        if (!s->key) {
            if (s->klen != FB_TOMB)
                return FB_NOT_FOUND;
            continue;
        }
        if (s->hash == h && s->klen == klen && (klen == 0 || memcmp(s->key, key, klen) == 0))
            return i;
    }
}

void *fb_map_get(const fb_map_t *m, const void *key, size_t klen)
{
    size_t i = fb_map_find(m, key, klen, fb_map_hash(m, key, klen));
    return i == FB_NOT_FOUND ? NULL : m->slots[i].value;
}

/* Places an entry known to be absent; the table has a free slot. */
static void fb_map_place(fb_slot_t *slots, size_t cap, const fb_slot_t *e)
{
    size_t mask = cap - 1, i = (size_t)e->hash & mask;
    while (slots[i].key)
        i = (i + 1) & mask;
    slots[i] = *e;
}

/* Rehashes into a table where count + 1 entries sit at <= 50% load. Only
 * ever grows (or keeps the size to drop tombstones). */
static int fb_map_rehash(fb_map_t *m)
{
    size_t cap = m->cap ? m->cap : FB_MAP_MIN_CAP;
    while ((m->count + 1) * 2 > cap) {
        if (cap > SIZE_MAX / 2 / sizeof(fb_slot_t))
            return -1;
        cap *= 2;
    }
    fb_slot_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            fb_map_place(slots, cap, &m->slots[i]);
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    m->tombs = 0;
    return 0;
}

int fb_map_put(fb_map_t *m, const void *key, size_t klen, void *value)
{
    uint64_t h = fb_map_hash(m, key, klen);
    size_t i = fb_map_find(m, key, klen, h);
    if (i != FB_NOT_FOUND) {
        m->slots[i].value = value;
        if (m->borrow) /* the new owner's bytes: the old ones may go away */
            m->slots[i].key = (uint8_t *)key;
        return 0;
    }
    /* Copy the key first: if that fails nothing has moved. Always allocate
     * at least one byte so that a live slot never has key == NULL. */
    uint8_t *copy = m->borrow ? (uint8_t *)key : malloc(klen ? klen : 1);
    if (!copy)
        return -1;
    if (klen && !m->borrow)
        memcpy(copy, key, klen);
    if ((m->count + m->tombs + 1) * 10 > m->cap * 7 && fb_map_rehash(m) != 0) {
        if (!m->borrow)
            free(copy);
        return -1;
    }
    size_t mask = m->cap - 1;
    for (i = (size_t)h & mask; m->slots[i].key; i = (i + 1) & mask)
        ;
    if (m->slots[i].klen == FB_TOMB)
        m->tombs--;
    m->slots[i] = (fb_slot_t){copy, klen, h, value};
    m->count++;
    return 0;
}

void *fb_map_del(fb_map_t *m, const void *key, size_t klen)
{
    size_t i = fb_map_find(m, key, klen, fb_map_hash(m, key, klen));
    if (i == FB_NOT_FOUND)
        return NULL;
    size_t mask = m->cap - 1;
    void *value = m->slots[i].value;
    if (!m->borrow)
        free(m->slots[i].key);
    m->count--;
    const fb_slot_t *next = &m->slots[(i + 1) & mask];
    if (next->key || next->klen == FB_TOMB) {
        /* Something may probe past this slot: keep the chain unbroken. */
        m->slots[i] = (fb_slot_t){NULL, FB_TOMB, 0, NULL};
        m->tombs++;
        return value;
    }
    /* No chain continues past an empty slot, so this one and the
     * tombstones right before it are not needed by any probe. */
    m->slots[i] = (fb_slot_t){0};
    for (size_t j = (i - 1) & mask; !m->slots[j].key && m->slots[j].klen == FB_TOMB;
         j = (j - 1) & mask) {
        m->slots[j] = (fb_slot_t){0};
        m->tombs--;
    }
    return value;
}

size_t fb_map_count(const fb_map_t *m)
{
    return m->count;
}

bool fb_map_next(const fb_map_t *m, size_t *pos, const void **key, size_t *klen, void **value)
{
    for (size_t i = *pos; i < m->cap; i++) {
        const fb_slot_t *s = &m->slots[i];
        if (!s->key)
            continue;
        *key = s->key;
        *klen = s->klen;
        *value = s->value;
        *pos = i + 1;
        return true;
    }
    *pos = m->cap;
    return false;
}
