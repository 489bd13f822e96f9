/* Tests of the retained store (src/broker/retain.c). */
#include "broker/retain.h"

#include "check.h"

#include <stdlib.h>
#include <time.h>

/* Messages are opaque to the store: fake, distinct addresses do. */
static void *M(size_t i)
{
    return (void *)(uintptr_t)(0x10000 + i * 16);
}

static size_t M_index(const void *p)
{
    return ((size_t)(uintptr_t)p - 0x10000) / 16;
}

static fmq_bytes_t B(const char *s)
{
    return fmq_cstr(s);
}

/* ---- collecting matches ---- */

typedef struct hit {
    char topic[64];
    void *msg;
} hit_t;

typedef struct hits {
    hit_t *v;
    size_t n;
    bool topic_ok; /* every reported topic was the message's own */
    const char *const *topics;
} hits_t;

static void collect(void *ctx, fmq_bytes_t topic, void *msg)
{
    hits_t *h = ctx;
    h->v = realloc(h->v, (h->n + 1) * sizeof *h->v);
    snprintf(h->v[h->n].topic, sizeof h->v[h->n].topic, "%.*s", (int)topic.len,
             (const char *)topic.ptr);
    h->v[h->n++].msg = msg;
}

static void count_cb(void *ctx, fmq_bytes_t topic, void *msg)
{
    (void)topic, (void)msg;
    ++*(size_t *)ctx;
}

static int cmp_hit(const void *a, const void *b)
{
    return strcmp(((const hit_t *)a)->topic, ((const hit_t *)b)->topic);
}

/* The topics matched by `filter`, sorted and joined with spaces. */
static char *match_str(const fb_retain_t *r, const char *filter)
{
    hits_t h = {0};
    fb_retain_match(r, B(filter), collect, &h);
    if (h.n)
        qsort(h.v, h.n, sizeof *h.v, cmp_hit);
    static char out[1024]; /* test-only scratch */
    out[0] = 0;
    for (size_t i = 0; i < h.n; i++) {
        if (i)
            strcat(out, " ");
        strcat(out, h.v[i].topic[0] ? h.v[i].topic : "(empty)");
    }
    free(h.v);
    return out;
}

#define CHECK_MATCH(r, filter, want) \
    do { \
        const char *got_ = match_str((r), (filter)); \
        CHECK_MEM(got_, strlen(got_), (want), strlen(want)); \
    } while (0)

static void test_basic(void)
{
    fb_retain_t *r = fb_retain_new();
    void *old = M(99);
    CHECK_EQ(fb_retain_count(r), 0);
    CHECK_PTR(fb_retain_get(r, B("a")), NULL);
    /* Clearing what is not there. */
    CHECK_EQ(fb_retain_set(r, B("a/b"), NULL, &old), 0);
    CHECK_PTR(old, NULL);
    CHECK_EQ(fb_retain_count(r), 0);

    CHECK_EQ(fb_retain_set(r, B("a/b"), M(1), &old), 0);
    CHECK_PTR(old, NULL);
    CHECK_EQ(fb_retain_count(r), 1);
    CHECK_PTR(fb_retain_get(r, B("a/b")), M(1));
    CHECK_PTR(fb_retain_get(r, B("a")), NULL); /* a path node, not a topic */
    CHECK_PTR(fb_retain_get(r, B("a/b/c")), NULL);
    CHECK_PTR(fb_retain_get(r, B("a/")), NULL);

    /* Replace hands the old message back. */
    CHECK_EQ(fb_retain_set(r, B("a/b"), M(2), &old), 0);
    CHECK_PTR(old, M(1));
    CHECK_EQ(fb_retain_count(r), 1);
    CHECK_PTR(fb_retain_get(r, B("a/b")), M(2));

    /* A prefix topic and a longer one are separate. */
    CHECK_EQ(fb_retain_set(r, B("a"), M(3), &old), 0);
    CHECK_EQ(fb_retain_set(r, B("a/b/c"), M(4), &old), 0);
    CHECK_EQ(fb_retain_set(r, B("a/"), M(5), &old), 0);
    CHECK_EQ(fb_retain_set(r, B("/"), M(6), &old), 0);
    CHECK_EQ(fb_retain_count(r), 5);
    CHECK_PTR(fb_retain_get(r, B("a")), M(3));
    CHECK_PTR(fb_retain_get(r, B("a/")), M(5));
    CHECK_PTR(fb_retain_get(r, B("/")), M(6));
    CHECK_PTR(fb_retain_get(r, B("")), NULL);

    /* Clearing the middle one keeps the path to the deeper one. */
    CHECK_EQ(fb_retain_set(r, B("a/b"), NULL, &old), 0);
    CHECK_PTR(old, M(2));
    CHECK_EQ(fb_retain_count(r), 4);
    CHECK_PTR(fb_retain_get(r, B("a/b")), NULL);
    CHECK_PTR(fb_retain_get(r, B("a/b/c")), M(4));
    CHECK_EQ(fb_retain_set(r, B("a/b"), NULL, &old), 0);
    CHECK_PTR(old, NULL);

    /* The topic is copied. */
    char buf[8] = "x/y";
    CHECK_EQ(fb_retain_set(r, B(buf), M(7), &old), 0);
    memcpy(buf, "q/q", 3);
    CHECK_PTR(fb_retain_get(r, B("x/y")), M(7));
    CHECK_MATCH(r, "x/y", "x/y");

    /* `old` may be omitted. */
    CHECK_EQ(fb_retain_set(r, B("x/y"), M(8), NULL), 0);
    CHECK_PTR(fb_retain_get(r, B("x/y")), M(8));

    const char *const all[] = {"a", "a/b/c", "a/", "/", "x/y"};
    for (size_t i = 0; i < 5; i++)
        CHECK_EQ(fb_retain_set(r, B(all[i]), NULL, &old), 0);
    CHECK_EQ(fb_retain_count(r), 0);
    size_t n = 0;
    fb_retain_each(r, count_cb, &n);
    CHECK_EQ(n, 0);
    fb_retain_free(r, NULL);
    fb_retain_free(NULL, NULL);
}

static void test_match(void)
{
    static const char *const topics[] = {
        "sport",
        "sport/",
        "sport/tennis",
        "sport/tennis/player1",
        "sport/tennis/player1/ranking",
        "sport/tennis/player1/score/wimbledon",
        "sport/tennis/player2",
        "/finance",
        "finance",
        "$SYS",
        "$SYS/broker/load",
        "$SYS/monitor/Clients",
        "a/monitor/Clients",
        "/",
    };
    fb_retain_t *r = fb_retain_new();
    void *old;
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++)
        fb_retain_set(r, B(topics[i]), M(i), &old);

    CHECK_MATCH(r, "sport/tennis/player1/#",
                "sport/tennis/player1 sport/tennis/player1/ranking "
                "sport/tennis/player1/score/wimbledon");
    CHECK_MATCH(r, "sport/#",
                "sport sport/ sport/tennis sport/tennis/player1 sport/tennis/player1/ranking "
                "sport/tennis/player1/score/wimbledon sport/tennis/player2");
    CHECK_MATCH(r, "sport/tennis/+", "sport/tennis/player1 sport/tennis/player2");
    CHECK_MATCH(r, "sport/+", "sport/ sport/tennis");
    CHECK_MATCH(r, "+/+", "/ /finance sport/ sport/tennis");
    CHECK_MATCH(r, "/+", "/ /finance");
    CHECK_MATCH(r, "+", "finance sport");
    CHECK_MATCH(r, "+/monitor/Clients", "a/monitor/Clients");
    CHECK_MATCH(r, "#",
                "/ /finance a/monitor/Clients finance sport sport/ sport/tennis "
                "sport/tennis/player1 sport/tennis/player1/ranking "
                "sport/tennis/player1/score/wimbledon sport/tennis/player2");
    CHECK_MATCH(r, "$SYS/#", "$SYS $SYS/broker/load $SYS/monitor/Clients");
    CHECK_MATCH(r, "$SYS/+", "");
    CHECK_MATCH(r, "$SYS/+/+", "$SYS/broker/load $SYS/monitor/Clients");
    CHECK_MATCH(r, "$SYS", "$SYS");
    CHECK_MATCH(r, "+/+/+", "a/monitor/Clients sport/tennis/player1 sport/tennis/player2");
    CHECK_MATCH(r, "+/tennis/#",
                "sport/tennis sport/tennis/player1 sport/tennis/player1/ranking "
                "sport/tennis/player1/score/wimbledon sport/tennis/player2");
    CHECK_MATCH(r, "+/+/+/+", "sport/tennis/player1/ranking");
    CHECK_MATCH(r, "sport/tennis/player1", "sport/tennis/player1");
    CHECK_MATCH(r, "sport/tennis/player3", "");
    CHECK_MATCH(r, "sport/tennis/player1/score", "");
    CHECK_MATCH(r, "nothing/#", "");
    CHECK_MATCH(r, "sport/tennis/player1/ranking/#", "sport/tennis/player1/ranking");

    /* The callback gets the stored message with its own topic. */
    hits_t h = {0};
    fb_retain_match(r, B("#"), collect, &h);
    for (size_t i = 0; i < h.n; i++)
        CHECK_MEM(h.v[i].topic, strlen(h.v[i].topic), topics[M_index(h.v[i].msg)],
                  strlen(topics[M_index(h.v[i].msg)]));
    free(h.v);
    fb_retain_free(r, NULL);
}

/* ---- randomized cross-check against fmq_topic_match ---- */

static void random_levels(uint64_t *rng, char *out, const char *const *alpha, size_t nalpha,
                          bool stop_at_hash)
{
    size_t nlev = 1 + (size_t)(fbt_rand(rng) % 4);
    out[0] = 0;
    for (size_t l = 0; l < nlev; l++) {
        const char *lv = alpha[fbt_rand(rng) % nalpha];
        if (l)
            strcat(out, "/");
        strcat(out, lv);
        if (stop_at_hash && strcmp(lv, "#") == 0)
            break;
    }
}

static void test_random(void)
{
    static const char *const falpha[] = {"a", "b", "+", "#", "$x", ""};
    static const char *const talpha[] = {"a", "b", "$x", "", "c"};
    enum { NT = 800, NF = 3000 };
    uint64_t rng = 12345;
    char(*topics)[64] = calloc(NT, 64);
    unsigned *seen = calloc(NT, sizeof *seen);
    fb_retain_t *r = fb_retain_new();
    size_t bad = 0, stored = 0;
    /* Distinct valid topics; the index is the message. */
    for (size_t i = 0; i < NT; i++) {
        random_levels(&rng, topics[i], talpha, 5, false);
        void *old;
        if (fmq_topic_name_check(B(topics[i])) != 0 || fb_retain_get(r, B(topics[i]))) {
            topics[i][0] = 0;
            continue;
        }
        bad += fb_retain_set(r, B(topics[i]), M(i), &old) != 0 || old != NULL;
        stored++;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(fb_retain_count(r), stored);
    CHECK(stored > 200);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < NF; k++) {
            char f[64];
            random_levels(&rng, f, falpha, 6, true);
            hits_t h = {0};
            fb_retain_match(r, B(f), collect, &h);
            memset(seen, 0, NT * sizeof *seen);
            for (size_t i = 0; i < h.n; i++) {
                size_t j = M_index(h.v[i].msg);
                if (j >= NT || strcmp(h.v[i].topic, topics[j]) != 0)
                    bad++;
                else
                    seen[j]++;
            }
            for (size_t j = 0; j < NT; j++) {
                unsigned want = topics[j][0] && fmq_topic_match(B(f), B(topics[j]));
                if (seen[j] != want && ++bad <= 5)
                    fprintf(stderr, "mismatch: filter %s topic %s: got %u want %u\n", f,
                            topics[j], seen[j], want);
            }
            free(h.v);
        }
        CHECK_EQ(bad, 0);
        /* Second pass: with a random half cleared. */
        for (size_t j = 0; j < NT; j++) {
            if (!topics[j][0] || fbt_rand(&rng) % 2)
                continue;
            void *old;
            bad += fb_retain_set(r, B(topics[j]), NULL, &old) != 0 || old != M(j);
            topics[j][0] = 0;
            stored--;
        }
        CHECK_EQ(bad, 0);
        CHECK_EQ(fb_retain_count(r), stored);
    }
    /* each reports exactly what is left. */
    hits_t h = {0};
    fb_retain_each(r, collect, &h);
    CHECK_EQ(h.n, stored);
    for (size_t i = 0; i < h.n; i++) {
        size_t j = M_index(h.v[i].msg);
        bad += j >= NT || strcmp(h.v[i].topic, topics[j]) != 0;
    }
    CHECK_EQ(bad, 0);
    free(h.v);
    fb_retain_free(r, NULL);
    free(seen);
    free(topics);
}

/* ---- free releases every message ---- */

typedef struct rel {
    size_t n;
    unsigned char seen[1000];
} rel_t;

/* fb_retain_free's release has no context: test-only global to count. */
static rel_t released;

static void release(void *msg)
{
    size_t i = M_index(msg);
    if (i < 1000)
        released.seen[i]++;
    released.n++;
}

static void test_free_release(void)
{
    fb_retain_t *r = fb_retain_new();
    char buf[64];
    void *old;
    for (size_t i = 0; i < 1000; i++) {
        snprintf(buf, sizeof buf, "t/%zu/%zu", i % 7, i);
        fb_retain_set(r, B(buf), M(i), &old);
    }
    fb_retain_set(r, B("t/3/3"), NULL, &old); /* released by the caller, not by free */
    CHECK_PTR(old, M(3));
    released = (rel_t){0};
    fb_retain_free(r, release);
    CHECK_EQ(released.n, 999);
    size_t bad = 0;
    for (size_t i = 0; i < 1000; i++)
        bad += released.seen[i] != (i != 3);
    CHECK_EQ(bad, 0);
}

/* ---- scale sanity ---- */

static void test_scale(void)
{
    enum { N = 100000 };
    clock_t t0 = clock();
    fb_retain_t *r = fb_retain_new();
    char buf[64];
    size_t bad = 0;
    void *old;
    for (size_t i = 0; i < N; i++) {
        snprintf(buf, sizeof buf, "dev/%zu/sensor/%zu", i % 1000, i / 1000);
        bad += fb_retain_set(r, B(buf), M(i), &old) != 0;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(fb_retain_count(r), N);
    clock_t t1 = clock();
    size_t n = 0;
    /* Literal filters: one child lookup per level. */
    for (size_t i = 0; i < N; i++) {
        snprintf(buf, sizeof buf, "dev/%zu/sensor/%zu", i % 1000, i % 2 ? i / 1000 : 100 + i);
        fb_retain_match(r, B(buf), count_cb, &n);
    }
    CHECK_EQ(n, N / 2);
    n = 0;
    for (size_t i = 0; i < 1000; i++) {
        snprintf(buf, sizeof buf, "dev/%zu/+/7", i);
        fb_retain_match(r, B(buf), count_cb, &n);
    }
    CHECK_EQ(n, 1000);
    n = 0;
    fb_retain_match(r, B("dev/+/sensor/#"), count_cb, &n);
    CHECK_EQ(n, N);
    clock_t t2 = clock();
    for (size_t i = 0; i < N; i++) {
        snprintf(buf, sizeof buf, "dev/%zu/sensor/%zu", i % 1000, i / 1000);
        bad += fb_retain_set(r, B(buf), NULL, &old) != 0 || old != M(i);
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(fb_retain_count(r), 0);
    clock_t t3 = clock();
    printf("scale: set %.0f ms, match %.0f ms, clear %.0f ms (100k each)\n",
           (double)(t1 - t0) * 1000 / CLOCKS_PER_SEC, (double)(t2 - t1) * 1000 / CLOCKS_PER_SEC,
           (double)(t3 - t2) * 1000 / CLOCKS_PER_SEC);
    fb_retain_free(r, NULL);
}

/* Deep topics: nothing recurses per level. */
static void test_deep(void)
{
    enum { LEVELS = 30000 };
    char *t = malloc(2 * LEVELS + 1);
    for (size_t i = 0; i < LEVELS; i++) {
        t[2 * i] = 'x';
        t[2 * i + 1] = '/';
    }
    t[2 * LEVELS - 1] = 0;
    fb_retain_t *r = fb_retain_new();
    void *old;
    CHECK_EQ(fb_retain_set(r, B(t), M(1), &old), 0);
    size_t n = 0;
    fb_retain_match(r, B(t), count_cb, &n);
    fb_retain_match(r, B("#"), count_cb, &n);
    fb_retain_match(r, B("x/#"), count_cb, &n);
    t[2 * LEVELS - 2] = '+';
    fb_retain_match(r, B(t), count_cb, &n);
    t[2] = '#';
    t[3] = 0;
    fb_retain_match(r, B(t), count_cb, &n); /* "x/#" */
    CHECK_EQ(n, 5);
    fb_retain_free(r, NULL);
    free(t);
}

/* ---- allocation failures ---- */

static size_t snapshot(const fb_retain_t *r, char *out, size_t cap)
{
    hits_t h = {0};
    fb_retain_each(r, collect, &h);
    if (h.n)
        qsort(h.v, h.n, sizeof *h.v, cmp_hit);
    size_t len = (size_t)snprintf(out, cap, "%zu:", fb_retain_count(r));
    for (size_t i = 0; i < h.n && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s=%zu ", h.v[i].topic,
                                M_index(h.v[i].msg));
    free(h.v);
    return len;
}

static void set_under_oom(fb_retain_t *r, const char *topic, void *msg, void *want_old)
{
    char before[4096], after[4096];
    size_t blen = snapshot(r, before, sizeof before);
    for (long k = 1;; k++) {
        void *old = M(999);
        fbt_fail_at(k);
        int rc = fb_retain_set(r, B(topic), msg, &old);
        bool fired = fbt_fail_off();
        if (rc == 0) {
            CHECK(!fired);
            CHECK_PTR(old, want_old);
            CHECK_PTR(fb_retain_get(r, B(topic)), msg);
            return;
        }
        CHECK_EQ(rc, -1);
        CHECK(fired);
        CHECK_PTR(old, NULL);
        size_t alen = snapshot(r, after, sizeof after);
        if (!CHECK_MEM(after, alen, before, blen))
            fprintf(stderr, "  setting %s, allocation %ld failed\n", topic, k);
    }
}

static void test_oom(void)
{
    fbt_fail_at(1);
    CHECK_PTR(fb_retain_new(), NULL);
    fbt_fail_at(2);
    CHECK_PTR(fb_retain_new(), NULL);
    fbt_fail_off();

    fb_retain_t *r = fb_retain_new();
    char buf[64];
    set_under_oom(r, "a/b/c/d", M(1), NULL);
    set_under_oom(r, "a/b/x/y", M(2), NULL);
    set_under_oom(r, "a/b", M(3), NULL); /* existing path node: no allocation */
    set_under_oom(r, "a/b", M(4), M(3));
    for (size_t i = 0; i < 40; i++) { /* past the linear-scan size: the index */
        snprintf(buf, sizeof buf, "k/%zu/z", i);
        set_under_oom(r, buf, M(100 + i), NULL);
    }
    fbt_fail_at(1);
    void *old;
    CHECK_EQ(fb_retain_set(r, B("a/b/c/d"), NULL, &old), 0);
    CHECK_PTR(old, M(1));
    CHECK_EQ(fb_retain_set(r, B("k/7/z"), M(5), &old), 0);
    CHECK_PTR(old, M(107));
    size_t n = 0;
    fb_retain_match(r, B("k/+/z"), count_cb, &n);
    fb_retain_match(r, B("#"), count_cb, &n);
    CHECK(!fbt_fail_off());
    CHECK_EQ(n, 40 + 42);
    fb_retain_free(r, NULL);
}

int main(void)
{
    test_basic();
    test_match();
    test_random();
    test_free_release();
    test_scale();
    test_deep();
    test_oom();
    return fbt_summary();
}
