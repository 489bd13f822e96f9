/* Tests of the string-keyed hash map (src/broker/map.c). */
#include "broker/map.h"

#include "check.h"

#include <stdlib.h>

#define NKEYS 100000

static void *V(size_t i)
{
    return (void *)(uintptr_t)(0x1000 + i * 16);
}

static size_t key_of(char *buf, size_t i)
{
    return (size_t)snprintf(buf, 32, "client-%zu", i);
}

static size_t index_of(const void *key, size_t klen)
{
    char buf[32];
    CHECK(klen > 7 && klen < sizeof buf);
    memcpy(buf, key, klen);
    buf[klen] = 0;
    return (size_t)strtoul(buf + 7, NULL, 10);
}

static void test_basic(void)
{
    fb_map_t *m = fb_map_new();
    CHECK(m != NULL);
    CHECK_EQ(fb_map_count(m), 0);
    CHECK_PTR(fb_map_get(m, "a", 1), NULL);
    CHECK_PTR(fb_map_del(m, "a", 1), NULL);
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    CHECK(!fb_map_next(m, &pos, &k, &kl, &v));

    CHECK_EQ(fb_map_put(m, "a", 1, V(1)), 0);
    CHECK_EQ(fb_map_put(m, "ab", 2, V(2)), 0);
    CHECK_EQ(fb_map_put(m, "", 0, V(3)), 0);           /* the empty key is a key */
    CHECK_EQ(fb_map_put(m, "a\0b", 3, V(4)), 0);       /* bytes, not C strings */
    CHECK_EQ(fb_map_put(m, "a\0c", 3, V(5)), 0);
    CHECK_EQ(fb_map_count(m), 5);
    CHECK_PTR(fb_map_get(m, "a", 1), V(1));
    CHECK_PTR(fb_map_get(m, "ab", 2), V(2));
    CHECK_PTR(fb_map_get(m, "", 0), V(3));
    CHECK_PTR(fb_map_get(m, NULL, 0), V(3));
    CHECK_PTR(fb_map_get(m, "a\0b", 3), V(4));
    CHECK_PTR(fb_map_get(m, "a\0c", 3), V(5));
    CHECK_PTR(fb_map_get(m, "b", 1), NULL);
    CHECK_PTR(fb_map_get(m, "abc", 3), NULL);

    /* Replace keeps the count. */
    CHECK_EQ(fb_map_put(m, "a", 1, V(9)), 0);
    CHECK_EQ(fb_map_count(m), 5);
    CHECK_PTR(fb_map_get(m, "a", 1), V(9));

    /* The key is copied. */
    char buf[4] = "xyz";
    CHECK_EQ(fb_map_put(m, buf, 3, V(7)), 0);
    memcpy(buf, "qqq", 3);
    CHECK_PTR(fb_map_get(m, "xyz", 3), V(7));
    CHECK_PTR(fb_map_get(m, "qqq", 3), NULL);

    CHECK_PTR(fb_map_del(m, "a", 1), V(9));
    CHECK_PTR(fb_map_del(m, "a", 1), NULL);
    CHECK_PTR(fb_map_get(m, "a", 1), NULL);
    CHECK_PTR(fb_map_del(m, "", 0), V(3));
    CHECK_EQ(fb_map_count(m), 4);

    int seen = 0;
    for (pos = 0; fb_map_next(m, &pos, &k, &kl, &v);) {
        CHECK_PTR(fb_map_get(m, k, kl), v);
        seen++;
    }
    CHECK_EQ(seen, 4);
    fb_map_free(m);
    fb_map_free(NULL);
}

static void test_many(void)
{
    fb_map_t *m = fb_map_new();
    char buf[32];
    int bad = 0;
    for (size_t i = 0; i < NKEYS; i++)
        bad += fb_map_put(m, buf, key_of(buf, i), V(i)) != 0;
    CHECK_EQ(bad, 0);
    CHECK_EQ(fb_map_count(m), NKEYS);
    for (size_t i = 0; i < NKEYS; i++)
        bad += fb_map_get(m, buf, key_of(buf, i)) != V(i);
    CHECK_EQ(bad, 0);
    CHECK_PTR(fb_map_get(m, "client-100000", 13), NULL);

    /* Iteration sees every key once, with its value. */
    unsigned char *seen = calloc(NKEYS, 1);
    size_t pos = 0, n = 0, klen;
    const void *key;
    void *val;
    while (fb_map_next(m, &pos, &key, &klen, &val)) {
        size_t i = index_of(key, klen);
        bad += i >= NKEYS || seen[i]++ || val != V(i);
        n++;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(n, NKEYS);

    /* Deleting the current key during iteration: still every key once. */
    memset(seen, 0, NKEYS);
    pos = 0, n = 0;
    while (fb_map_next(m, &pos, &key, &klen, &val)) {
        size_t i = index_of(key, klen);
        bad += i >= NKEYS || seen[i]++;
        n++;
        if (i % 2 && fb_map_del(m, key, klen) != V(i))
            bad++;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(n, NKEYS);
    CHECK_EQ(fb_map_count(m), NKEYS / 2);
    for (size_t i = 0; i < NKEYS; i++)
        bad += fb_map_get(m, buf, key_of(buf, i)) != (i % 2 ? NULL : V(i));
    CHECK_EQ(bad, 0);

    /* Deleting other keys during iteration is fine too: each key is still
     * seen at most once, and every key that stays is seen. */
    memset(seen, 0, NKEYS);
    pos = 0;
    while (fb_map_next(m, &pos, &key, &klen, &val)) {
        size_t i = index_of(key, klen);
        bad += i >= NKEYS || seen[i]++;
        if (i % 4 == 0 && fb_map_del(m, buf, key_of(buf, i + 2)) != V(i + 2))
            bad++;
    }
    for (size_t i = 0; i < NKEYS; i += 4)
        bad += seen[i] != 1;
    CHECK_EQ(bad, 0);
    CHECK_EQ(fb_map_count(m), NKEYS / 4);

    /* Empty it, then refill over the tombstones. */
    for (size_t i = 0; i < NKEYS; i += 4)
        bad += fb_map_del(m, buf, key_of(buf, i)) != V(i);
    CHECK_EQ(bad, 0);
    CHECK_EQ(fb_map_count(m), 0);
    pos = 0;
    CHECK(!fb_map_next(m, &pos, &key, &klen, &val));
    for (size_t i = 0; i < NKEYS; i++)
        bad += fb_map_put(m, buf, key_of(buf, i), V(i + 1)) != 0;
    for (size_t i = 0; i < NKEYS; i++)
        bad += fb_map_get(m, buf, key_of(buf, i)) != V(i + 1);
    CHECK_EQ(bad, 0);
    CHECK_EQ(fb_map_count(m), NKEYS);
    free(seen);
    fb_map_free(m);
}

/* Insert/delete churn with a small live set over ever new keys: the
 * tombstones must be reclaimed, or absent-key lookups would never end. */
static void test_churn(void)
{
    fb_map_t *m = fb_map_new();
    char buf[32];
    int bad = 0;
    for (size_t i = 0; i < 300000; i++) {
        bad += fb_map_put(m, buf, key_of(buf, i), V(i)) != 0;
        if (i >= 64)
            bad += fb_map_del(m, buf, key_of(buf, i - 64)) != V(i - 64);
        bad += fb_map_get(m, "absent", 6) != NULL;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(fb_map_count(m), 64);
    for (size_t i = 300000 - 64; i < 300000; i++)
        bad += fb_map_get(m, buf, key_of(buf, i)) != V(i);
    CHECK_EQ(bad, 0);
    fb_map_free(m);
}

/* Every allocation failure returns -1 and leaves the map as it was. */
static void test_oom(void)
{
    fb_map_t *m = fb_map_new();
    char buf[32];
    int failures = 0;
    for (size_t i = 0; i < 200; i++) {
        size_t klen = key_of(buf, i);
        for (long k = 1;; k++) {
            fbt_fail_at(k);
            int rc = fb_map_put(m, buf, klen, V(i));
            bool fired = fbt_fail_off();
            if (rc == 0) {
                CHECK(!fired);
                break;
            }
            failures++;
            CHECK_EQ(rc, -1);
            CHECK(fired);
            CHECK_EQ(fb_map_count(m), i);
            CHECK_PTR(fb_map_get(m, buf, klen), NULL);
        }
    }
    CHECK(failures >= 200); /* every new key allocates */
    int bad = 0;
    for (size_t i = 0; i < 200; i++)
        bad += fb_map_get(m, buf, key_of(buf, i)) != V(i);
    CHECK_EQ(bad, 0);
    /* Replacing, getting, deleting and iterating never allocate. */
    fbt_fail_at(1);
    CHECK_EQ(fb_map_put(m, "client-7", 8, V(70)), 0);
    CHECK_PTR(fb_map_get(m, "client-7", 8), V(70));
    CHECK_PTR(fb_map_del(m, "client-8", 8), V(8));
    size_t pos = 0, klen, n = 0;
    const void *key;
    void *val;
    while (fb_map_next(m, &pos, &key, &klen, &val))
        n++;
    CHECK(!fbt_fail_off());
    CHECK_EQ(n, 199);
    fbt_fail_at(1);
    CHECK_PTR(fb_map_new(), NULL);
    fbt_fail_off();
    fb_map_free(m);
}

/* Two maps hash the same key differently (per-map seed), yet both work. */
static void test_seed(void)
{
    fb_map_t *a = fb_map_new(), *b = fb_map_new();
    char buf[32];
    for (size_t i = 0; i < 1000; i++) {
        size_t klen = key_of(buf, i);
        fb_map_put(a, buf, klen, V(i));
        fb_map_put(b, buf, klen, V(i));
    }
    /* Iteration orders differ unless the seeds collide (2^-128). */
    size_t pa = 0, pb = 0, la, lb, same = 0;
    const void *ka, *kb;
    void *va, *vb;
    while (fb_map_next(a, &pa, &ka, &la, &va) && fb_map_next(b, &pb, &kb, &lb, &vb))
        same += va == vb;
    CHECK(same < 1000);
    fb_map_free(a);
    fb_map_free(b);
}

/* A borrowing map stores the caller's key pointers: no copies, nothing freed
 * (ASan would report a free of these stack and static buffers), and a
 * replace takes the new owner's pointer. */
static void test_borrowing(void)
{
    fb_map_t *m = fb_map_new_borrowing();
    char a[] = "client-a", b[] = "client-a";
    int va = 1, vb = 2;
    CHECK_EQ(fb_map_put(m, a, 8, &va), 0);
    CHECK_PTR(fb_map_get(m, "client-a", 8), &va); /* found by content */
    CHECK_EQ(fb_map_put(m, b, 8, &vb), 0);         /* same key: replaced */
    CHECK_EQ(fb_map_count(m), 1);
    memset(a, 'x', sizeof a - 1); /* the old owner's bytes change... */
    CHECK_PTR(fb_map_get(m, "client-a", 8), &vb); /* ...the entry uses b's */
    size_t pos = 0, kl = 0;
    const void *k = NULL;
    void *v = NULL;
    CHECK(fb_map_next(m, &pos, &k, &kl, &v));
    CHECK_PTR(k, b);
    CHECK_PTR(fb_map_del(m, "client-a", 8), &vb);
    CHECK_EQ(fb_map_count(m), 0);
    static const char empty[1] = "";
    CHECK_EQ(fb_map_put(m, empty, 0, &va), 0); /* an empty key is a live key */
    CHECK_PTR(fb_map_get(m, "", 0), &va);
    fb_map_free(m);
}

int main(void)
{
    test_borrowing();
    test_basic();
    test_many();
    test_churn();
    test_oom();
    test_seed();
    return fbt_summary();
}
