/* Tests of the subscription table (src/broker/subs.c). */
#include "broker/map.h"
#include "broker/subs.h"

#include "check.h"

#include <stdlib.h>
#include <time.h>

/* Subscribers are opaque to the table: fake, distinct addresses do. */
static void *S(size_t i)
{
    return (void *)(uintptr_t)(0x10000 + i * 16);
}

static size_t S_index(const void *p)
{
    return ((size_t)(uintptr_t)p - 0x10000) / 16;
}

static fb_sub_opts_t opts(uint8_t qos)
{
    return (fb_sub_opts_t){.qos = qos};
}

static fmq_bytes_t B(const char *s)
{
    return fmq_cstr(s);
}

/* ---- collecting matches ---- */

typedef struct rec {
    void *who;
    fb_sub_opts_t o;
    bool shared;
} rec_t;

typedef struct coll {
    rec_t *v;
    size_t n, cap;
} coll_t;

static void collect(void *ctx, void *who, const fb_sub_opts_t *o, bool shared)
{
    coll_t *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->v = realloc(c->v, c->cap * sizeof *c->v);
    }
    c->v[c->n++] = (rec_t){who, *o, shared};
}

static void count_cb(void *ctx, void *who, const fb_sub_opts_t *o, bool shared)
{
    (void)who, (void)o, (void)shared;
    ++*(size_t *)ctx;
}

static coll_t match(fb_subtab_t *t, const char *topic)
{
    coll_t c = {0};
    fb_subtab_match(t, B(topic), NULL, collect, &c);
    return c;
}

/* How often `who` was reported. */
static size_t times(const coll_t *c, void *who)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        n += c->v[i].who == who;
    return n;
}

/* Whether a table holding only `filter` delivers `topic`; also checks that
 * the answer agrees with fmq_topic_match. */
static bool sub_matches(const char *filter, const char *topic)
{
    fb_subtab_t *t = fb_subtab_new();
    fb_sub_opts_t o = opts(1);
    fb_subtab_add(t, B(filter), S(1), &o);
    size_t n = 0;
    fb_subtab_match(t, B(topic), NULL, count_cb, &n);
    fb_subtab_free(t);
    fmq_bytes_t g, inner, f = B(filter);
    if (fmq_topic_share_split(f, &g, &inner))
        f = inner;
    if (!CHECK((n == 1) == fmq_topic_match(f, B(topic))))
        fprintf(stderr, "  disagrees with fmq_topic_match: %s vs %s\n", filter, topic);
    return n == 1;
}

static void test_spec_examples(void)
{
    /* MQTT 5.0 section 4.7.1.2 */
    CHECK(sub_matches("sport/tennis/player1/#", "sport/tennis/player1"));
    CHECK(sub_matches("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
    CHECK(sub_matches("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"));
    CHECK(!sub_matches("sport/tennis/player1/#", "sport/tennis/player2"));
    CHECK(!sub_matches("sport/tennis/player1/#", "sport/tennis"));
    CHECK(sub_matches("sport/#", "sport"));
    CHECK(sub_matches("#", "sport"));
    CHECK(sub_matches("#", "/"));
    /* 4.7.1.3 */
    CHECK(sub_matches("sport/tennis/+", "sport/tennis/player1"));
    CHECK(sub_matches("sport/tennis/+", "sport/tennis/player2"));
    CHECK(!sub_matches("sport/tennis/+", "sport/tennis/player1/ranking"));
    CHECK(!sub_matches("sport/+", "sport"));
    CHECK(sub_matches("sport/+", "sport/"));
    CHECK(sub_matches("+/+", "/finance"));
    CHECK(sub_matches("/+", "/finance"));
    CHECK(!sub_matches("+", "/finance"));
    CHECK(sub_matches("+/tennis/#", "sport/tennis"));
    CHECK(sub_matches("+/tennis/#", "sport/tennis/x/y"));
    CHECK(!sub_matches("+/tennis/#", "sport/tenni"));
    /* 4.7.2: topics beginning with '$' */
    CHECK(!sub_matches("#", "$SYS/broker/clients"));
    CHECK(!sub_matches("#", "$SYS"));
    CHECK(!sub_matches("+/monitor/Clients", "$SYS/monitor/Clients"));
    CHECK(!sub_matches("+", "$SYS"));
    CHECK(!sub_matches("+/#", "$SYS/x"));
    CHECK(sub_matches("$SYS/#", "$SYS/broker/clients"));
    CHECK(sub_matches("$SYS/#", "$SYS"));
    CHECK(sub_matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
    CHECK(sub_matches("$SYS/+/Clients", "$SYS/monitor/Clients"));
    /* '$' is special only at the start of the topic. */
    CHECK(sub_matches("a/+", "a/$b"));
    CHECK(sub_matches("a/#", "a/$b/c"));
    /* Empty levels are levels. */
    CHECK(sub_matches("/", "/"));
    CHECK(sub_matches("+/+", "/"));
    CHECK(!sub_matches("+", "/"));
    CHECK(sub_matches("a//b", "a//b"));
    CHECK(sub_matches("a/+/b", "a//b"));
    CHECK(!sub_matches("a/b", "a//b"));
    CHECK(!sub_matches("a", "a/"));
    CHECK(sub_matches("a/#", "a/"));
    CHECK(!sub_matches("a/b", "a"));
    CHECK(!sub_matches("a", "a/b"));
    CHECK(!sub_matches("a/b", "ab"));
    CHECK(!sub_matches("ab", "a/b"));
    /* Shared subscriptions match their inner filter, with the same '$' rule. */
    CHECK(sub_matches("$share/g/sport/#", "sport"));
    CHECK(sub_matches("$share/g/+/+", "/finance"));
    CHECK(!sub_matches("$share/g/#", "$SYS/x"));
    CHECK(sub_matches("$share/g/$SYS/#", "$SYS/x"));
    /* "$share" without a group part is an ordinary level. */
    CHECK(sub_matches("$share", "$share"));
}

/* Several filters in one table: the exact set is reported. */
static void test_one_table(void)
{
    static const char *const filters[] = {
        "sport/tennis/player1/#", "sport/#", "sport/+", "+/+", "/+", "+", "#",
        "+/monitor/Clients", "$SYS/#", "sport", "sport/tennis/+", "$share/g/sport/+",
    };
    enum { NF = sizeof filters / sizeof filters[0] };
    fb_subtab_t *t = fb_subtab_new();
    for (size_t i = 0; i < NF; i++) {
        fb_sub_opts_t o = opts((uint8_t)(i % 3));
        CHECK_EQ(fb_subtab_add(t, B(filters[i]), S(i), &o), FB_SUB_ADDED | FB_SUB_FILTER_FIRST);
    }
    CHECK_EQ(fb_subtab_count(t), NF);
    CHECK_EQ(fb_subtab_filter_count(t), NF);
    static const char *const topics[] = {
        "sport", "sport/", "sport/tennis", "sport/tennis/player1", "/finance", "finance",
        "$SYS/monitor/Clients", "a/monitor/Clients", "$SYS", "sport/tennis/player1/x/y", "/",
    };
    for (size_t k = 0; k < sizeof topics / sizeof topics[0]; k++) {
        coll_t c = match(t, topics[k]);
        for (size_t i = 0; i < NF; i++) {
            fmq_bytes_t g, f = B(filters[i]);
            fmq_topic_share_split(f, &g, &f);
            size_t want = fmq_topic_match(f, B(topics[k]));
            if (!CHECK_EQ(times(&c, S(i)), want))
                fprintf(stderr, "  filter %s topic %s\n", filters[i], topics[k]);
        }
        for (size_t i = 0; i < c.n; i++) {
            CHECK_EQ(c.v[i].o.qos, S_index(c.v[i].who) % 3);
            CHECK_EQ(c.v[i].shared, S_index(c.v[i].who) == NF - 1);
        }
        free(c.v);
    }
    fb_subtab_free(t);
}

static void test_add_replace_flags(void)
{
    fb_subtab_t *t = fb_subtab_new();
    fb_sub_opts_t o1 = {.qos = 1, .sub_id = 7}, o2 = {.qos = 2, .no_local = true,
                                                      .retain_as_published = true,
                                                      .retain_handling = 2, .sub_id = 9};
    CHECK_EQ(fb_subtab_add(t, B("a/b"), S(1), &o1), FB_SUB_ADDED | FB_SUB_FILTER_FIRST);
    /* Same pair again: options replaced, nothing added. */
    CHECK_EQ(fb_subtab_add(t, B("a/b"), S(1), &o2), 0);
    CHECK_EQ(fb_subtab_count(t), 1);
    coll_t c = match(t, "a/b");
    CHECK_EQ(c.n, 1);
    CHECK_EQ(c.v[0].o.qos, 2);
    CHECK(c.v[0].o.no_local);
    CHECK(c.v[0].o.retain_as_published);
    CHECK_EQ(c.v[0].o.retain_handling, 2);
    CHECK_EQ(c.v[0].o.sub_id, 9);
    CHECK(!c.v[0].shared);
    free(c.v);
    /* Another subscriber on the same filter: added, not first. */
    CHECK_EQ(fb_subtab_add(t, B("a/b"), S(2), &o1), FB_SUB_ADDED);
    /* The same subscriber on other filters: each its own pair. */
    CHECK_EQ(fb_subtab_add(t, B("a/+"), S(1), &o1), FB_SUB_ADDED | FB_SUB_FILTER_FIRST);
    CHECK_EQ(fb_subtab_add(t, B("a/#"), S(1), &o1), FB_SUB_ADDED | FB_SUB_FILTER_FIRST);
    /* A prefix of an existing filter is a new filter. */
    CHECK_EQ(fb_subtab_add(t, B("a"), S(3), &o1), FB_SUB_ADDED | FB_SUB_FILTER_FIRST);
    /* Shared filters are distinct from the plain one and from each other. */
    CHECK_EQ(fb_subtab_add(t, B("$share/g/a/b"), S(1), &o1), FB_SUB_ADDED | FB_SUB_FILTER_FIRST);
    CHECK_EQ(fb_subtab_add(t, B("$share/g/a/b"), S(2), &o1), FB_SUB_ADDED);
    CHECK_EQ(fb_subtab_add(t, B("$share/g/a/b"), S(2), &o2), 0);
    CHECK_EQ(fb_subtab_add(t, B("$share/h/a/b"), S(2), &o1), FB_SUB_ADDED | FB_SUB_FILTER_FIRST);
    CHECK_EQ(fb_subtab_add(t, B("$share/g/a/+"), S(2), &o1), FB_SUB_ADDED | FB_SUB_FILTER_FIRST);
    CHECK_EQ(fb_subtab_count(t), 9);
    CHECK_EQ(fb_subtab_filter_count(t), 7);

    /* S(1) three times (a/b, a/+, a/#), S(2) once plain; one member of each
     * of the three groups. */
    c = match(t, "a/b");
    CHECK_EQ(c.n, 7);
    size_t shared = 0;
    for (size_t i = 0; i < c.n; i++)
        shared += c.v[i].shared;
    CHECK_EQ(shared, 3);
    free(c.v);
    c = match(t, "a");
    CHECK_EQ(c.n, 2); /* "a" and "a/#" */
    CHECK_EQ(times(&c, S(3)), 1);
    CHECK_EQ(times(&c, S(1)), 1);
    free(c.v);

    /* Removal flags. */
    CHECK_EQ(fb_subtab_remove(t, B("a/b"), S(3)), 0);      /* never subscribed */
    CHECK_EQ(fb_subtab_remove(t, B("x/y"), S(1)), 0);      /* no such filter */
    CHECK_EQ(fb_subtab_remove(t, B("a/b/c"), S(1)), 0);    /* deeper than any */
    CHECK_EQ(fb_subtab_remove(t, B("$share/z/a/b"), S(1)), 0); /* no such group */
    CHECK_EQ(fb_subtab_remove(t, B("$share/g/a/b"), S(3)), 0); /* not a member */
    CHECK_EQ(fb_subtab_remove(t, B("a/b"), S(1)), FB_SUB_REMOVED);
    CHECK_EQ(fb_subtab_remove(t, B("a/b"), S(1)), 0);
    CHECK_EQ(fb_subtab_remove(t, B("a/b"), S(2)), FB_SUB_REMOVED | FB_SUB_FILTER_LAST);
    CHECK_EQ(fb_subtab_remove(t, B("a/b"), S(2)), 0);
    CHECK_EQ(fb_subtab_remove(t, B("$share/g/a/b"), S(1)), FB_SUB_REMOVED);
    CHECK_EQ(fb_subtab_remove(t, B("$share/g/a/b"), S(2)),
             FB_SUB_REMOVED | FB_SUB_FILTER_LAST);
    CHECK_EQ(fb_subtab_count(t), 5);
    CHECK_EQ(fb_subtab_filter_count(t), 5);
    /* "a/b" has no plain subscriber, but its node holds group h. */
    c = match(t, "a/b");
    CHECK_EQ(c.n, 4); /* a/+, a/#, $share/h/a/b, $share/g/a/+ */
    free(c.v);
    /* Re-adding after the last removal is "first" again. */
    CHECK_EQ(fb_subtab_add(t, B("a/b"), S(5), &o1), FB_SUB_ADDED | FB_SUB_FILTER_FIRST);
    CHECK_EQ(fb_subtab_remove(t, B("a/b"), S(5)), FB_SUB_REMOVED | FB_SUB_FILTER_LAST);

    CHECK_EQ(fb_subtab_remove(t, B("$share/h/a/b"), S(2)),
             FB_SUB_REMOVED | FB_SUB_FILTER_LAST);
    CHECK_EQ(fb_subtab_remove(t, B("$share/g/a/+"), S(2)),
             FB_SUB_REMOVED | FB_SUB_FILTER_LAST);
    CHECK_EQ(fb_subtab_remove(t, B("a/+"), S(1)), FB_SUB_REMOVED | FB_SUB_FILTER_LAST);
    CHECK_EQ(fb_subtab_remove(t, B("a/#"), S(1)), FB_SUB_REMOVED | FB_SUB_FILTER_LAST);
    CHECK_EQ(fb_subtab_remove(t, B("a"), S(3)), FB_SUB_REMOVED | FB_SUB_FILTER_LAST);
    CHECK_EQ(fb_subtab_count(t), 0);
    CHECK_EQ(fb_subtab_filter_count(t), 0);
    c = match(t, "a/b");
    CHECK_EQ(c.n, 0);
    free(c.v);
    fb_subtab_free(t);
}

/* ---- each_filter ---- */

typedef struct strs {
    char **v;
    size_t n;
} strs_t;

static void collect_filter(void *ctx, fmq_bytes_t f)
{
    strs_t *s = ctx;
    s->v = realloc(s->v, (s->n + 1) * sizeof *s->v);
    char *copy = malloc(f.len + 1);
    memcpy(copy, f.ptr, f.len);
    copy[f.len] = 0;
    s->v[s->n++] = copy;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void strs_free(strs_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    *s = (strs_t){0};
}

static strs_t filters_of(const fb_subtab_t *t)
{
    strs_t s = {0};
    fb_subtab_each_filter(t, collect_filter, &s);
    if (s.n)
        qsort(s.v, s.n, sizeof *s.v, cmp_str);
    return s;
}

static void test_each_filter(void)
{
    fb_subtab_t *t = fb_subtab_new();
    strs_t s = filters_of(t);
    CHECK_EQ(s.n, 0);
    strs_free(&s);
    static const char *const fs[] = {
        "$SYS/#", "$share/g/a/#", "$share/h/a/#", "+", "+/+/c", "/", "/+", "//", "a", "a/#",
        "a/+/c", "a/b", "a/b/c", "b/#", /* in strcmp order */
    };
    enum { N = sizeof fs / sizeof fs[0] };
    fb_sub_opts_t o = opts(0);
    for (size_t i = 0; i < N; i++) {
        fb_subtab_add(t, B(fs[i]), S(i), &o);
        fb_subtab_add(t, B(fs[i]), S(i + 100), &o); /* still one filter */
    }
    /* A node on a path but without subscribers ("a/+") is not a filter. */
    s = filters_of(t);
    CHECK_EQ(s.n, N);
    CHECK_EQ(fb_subtab_filter_count(t), N);
    for (size_t i = 0; i < s.n && i < N; i++)
        CHECK_MEM(s.v[i], strlen(s.v[i]), fs[i], strlen(fs[i]));
    strs_free(&s);
    for (size_t i = 0; i < N; i += 2) {
        fb_subtab_remove(t, B(fs[i]), S(i));
        fb_subtab_remove(t, B(fs[i]), S(i + 100));
    }
    s = filters_of(t);
    CHECK_EQ(s.n, N / 2);
    for (size_t i = 0; i < s.n; i++)
        CHECK_MEM(s.v[i], strlen(s.v[i]), fs[2 * i + 1], strlen(fs[2 * i + 1]));
    strs_free(&s);
    fb_subtab_free(t);
}

/* ---- many subscribers on one filter ---- */

typedef struct shared_seen {
    unsigned char *seen;
    size_t n, bad;
} shared_seen_t;

/* Counts shared deliveries per subscriber; odd subscribers only. */
static void shared_seen(void *ctx, void *who, const fb_sub_opts_t *o, bool shared)
{
    shared_seen_t *ss = ctx;
    size_t k = S_index(who);
    (void)o;
    if (shared)
        ss->bad += k >= ss->n || k % 2 == 0 || ss->seen[k]++;
}

static void test_many_subscribers(void)
{
    enum { N = 20000 };
    fb_subtab_t *t = fb_subtab_new();
    int bad = 0;
    for (size_t i = 0; i < N; i++) {
        fb_sub_opts_t o = opts((uint8_t)(i % 3));
        bad += fb_subtab_add(t, B("news/#"), S(i), &o) != (i ? FB_SUB_ADDED
                                                            : FB_SUB_ADDED | FB_SUB_FILTER_FIRST);
        bad += fb_subtab_add(t, B("$share/w/news/+"), S(i), &o) !=
               (i ? FB_SUB_ADDED : FB_SUB_ADDED | FB_SUB_FILTER_FIRST);
    }
    CHECK_EQ(bad, 0);
    /* Replacing options in a large list finds the existing entry. */
    for (size_t i = 0; i < N; i += 7) {
        fb_sub_opts_t o = opts(2);
        bad += fb_subtab_add(t, B("news/#"), S(i), &o) != 0;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(fb_subtab_count(t), 2 * N);
    CHECK_EQ(fb_subtab_filter_count(t), 2);
    coll_t c = match(t, "news/today");
    CHECK_EQ(c.n, N + 1);
    unsigned char *seen = calloc(N, 1);
    size_t nshared = 0;
    for (size_t i = 0; i < c.n; i++) {
        size_t k = S_index(c.v[i].who);
        if (c.v[i].shared) {
            nshared++;
            continue;
        }
        bad += k >= N || seen[k]++ || c.v[i].o.qos != (k % 7 == 0 ? 2 : k % 3);
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(nshared, 1);
    free(c.v);

    /* Remove the even ones (moves entries around inside the list). */
    for (size_t i = 0; i < N; i += 2) {
        bad += fb_subtab_remove(t, B("news/#"), S(i)) != FB_SUB_REMOVED;
        bad += fb_subtab_remove(t, B("$share/w/news/+"), S(i)) != FB_SUB_REMOVED;
    }
    CHECK_EQ(bad, 0);
    c = match(t, "news");
    CHECK_EQ(c.n, N / 2);
    memset(seen, 0, N);
    for (size_t i = 0; i < c.n; i++) {
        size_t k = S_index(c.v[i].who);
        bad += k >= N || k % 2 == 0 || seen[k]++;
    }
    CHECK_EQ(bad, 0);
    free(c.v);
    /* The shared group spreads over the remaining (odd) members only. */
    memset(seen, 0, N);
    for (size_t r = 0; r < N / 2; r++) {
        shared_seen_t ss = {seen, N, 0};
        fb_subtab_match(t, B("news/x"), NULL, shared_seen, &ss);
        bad += ss.bad;
    }
    CHECK_EQ(bad, 0);
    for (size_t i = 1; i < N; i += 2)
        bad += seen[i] != 1;
    CHECK_EQ(bad, 0);
    for (size_t i = 1; i < N; i += 2) {
        int last = i == N - 1 ? FB_SUB_FILTER_LAST : 0;
        bad += fb_subtab_remove(t, B("news/#"), S(i)) != (FB_SUB_REMOVED | last);
        bad += fb_subtab_remove(t, B("$share/w/news/+"), S(i)) != (FB_SUB_REMOVED | last);
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(fb_subtab_count(t), 0);
    CHECK_EQ(fb_subtab_filter_count(t), 0);
    free(seen);
    fb_subtab_free(t);
}

/* ---- shared round-robin ---- */

typedef struct rr {
    size_t got[3];
    size_t calls;
    void *ineligible; /* NULL: everyone eligible */
    bool nobody;      /* nobody eligible */
} rr_t;

static bool rr_eligible(void *ctx, void *who)
{
    rr_t *r = ctx;
    return !r->nobody && who != r->ineligible;
}

static void rr_cb(void *ctx, void *who, const fb_sub_opts_t *o, bool shared)
{
    rr_t *r = ctx;
    (void)o;
    r->calls++;
    if (shared && S_index(who) < 3)
        r->got[S_index(who)]++;
}

static void test_round_robin(void)
{
    fb_subtab_t *t = fb_subtab_new();
    fb_sub_opts_t o = opts(1);
    for (size_t i = 0; i < 3; i++)
        fb_subtab_add(t, B("$share/workers/jobs/+"), S(i), &o);

    rr_t r = {0};
    for (int k = 0; k < 300; k++)
        fb_subtab_match(t, B("jobs/1"), NULL, rr_cb, &r);
    CHECK_EQ(r.calls, 300);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(r.got[i], 100);

    /* Each consecutive publish goes to the next member. */
    r = (rr_t){0};
    for (int k = 0; k < 3; k++)
        fb_subtab_match(t, B("jobs/2"), rr_eligible, rr_cb, &r);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(r.got[i], 1);

    r = (rr_t){.ineligible = S(1)};
    for (int k = 0; k < 300; k++)
        fb_subtab_match(t, B("jobs/1"), rr_eligible, rr_cb, &r);
    CHECK_EQ(r.calls, 300);
    CHECK_EQ(r.got[0], 150);
    CHECK_EQ(r.got[1], 0);
    CHECK_EQ(r.got[2], 150);

    /* Nobody eligible: still exactly one member per publish. */
    r = (rr_t){.nobody = true};
    for (int k = 0; k < 300; k++)
        fb_subtab_match(t, B("jobs/1"), rr_eligible, rr_cb, &r);
    CHECK_EQ(r.calls, 300);
    CHECK_EQ(r.got[0] + r.got[1] + r.got[2], 300);
    CHECK_EQ(r.got[0], 100);

    /* Removing a member mid-rotation keeps spreading over the rest. */
    fb_subtab_remove(t, B("$share/workers/jobs/+"), S(0));
    r = (rr_t){0};
    for (int k = 0; k < 300; k++)
        fb_subtab_match(t, B("jobs/1"), NULL, rr_cb, &r);
    CHECK_EQ(r.got[0], 0);
    CHECK_EQ(r.got[1], 150);
    CHECK_EQ(r.got[2], 150);

    /* Two groups on one filter and one on another: one member from each. */
    fb_subtab_add(t, B("$share/other/jobs/+"), S(0), &o);
    fb_subtab_add(t, B("$share/other/jobs/#"), S(0), &o);
    r = (rr_t){0};
    fb_subtab_match(t, B("jobs/1"), NULL, rr_cb, &r);
    CHECK_EQ(r.calls, 3);
    CHECK_EQ(r.got[0], 2);
    fb_subtab_free(t);
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

typedef struct live {
    char f[64];
    bool on;
} live_t;

static void check_against_reference(fb_subtab_t *t, const live_t *fs, size_t nf,
                                    char (*topics)[64], size_t nt, size_t *mismatches)
{
    unsigned *hits = calloc(nf, sizeof *hits);
    for (size_t k = 0; k < nt; k++) {
        coll_t c = match(t, topics[k]);
        memset(hits, 0, nf * sizeof *hits);
        for (size_t i = 0; i < c.n; i++) {
            size_t j = S_index(c.v[i].who);
            if (j < nf)
                hits[j]++;
            else
                ++*mismatches;
        }
        for (size_t j = 0; j < nf; j++) {
            fmq_bytes_t g, f = B(fs[j].f);
            bool shared = fmq_topic_share_split(f, &g, &f);
            unsigned want = fs[j].on && fmq_topic_match(f, B(topics[k]));
            if (hits[j] != want) {
                if (++*mismatches <= 5)
                    fprintf(stderr, "mismatch: filter %s%s topic %s: got %u want %u\n", fs[j].f,
                            shared ? " (shared)" : "", topics[k], hits[j], want);
            }
        }
        free(c.v);
    }
    free(hits);
}

static void test_random(void)
{
    static const char *const falpha[] = {"a", "b", "+", "#", "$x", ""};
    static const char *const talpha[] = {"a", "b", "$x", "", "c"};
    enum { NF = 3000, NT = 600 };
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    live_t *fs = calloc(NF, sizeof *fs);
    char(*topics)[64] = calloc(NT, 64);
    fb_subtab_t *t = fb_subtab_new();
    fb_map_t *refcount = fb_map_new(); /* filter string -> subscribers + 1 */
    size_t bad = 0;

    for (size_t i = 0; i < NF; i++) {
        /* Every fifth filter shared, in a few groups so that some groups get
         * several members (which the FIRST flag must account for). */
        do {
            char inner[48];
            random_levels(&rng, inner, falpha, 6, true);
            if (i % 5 == 0)
                snprintf(fs[i].f, sizeof fs[i].f, "$share/g%zu/%s", i % 50, inner);
            else
                snprintf(fs[i].f, sizeof fs[i].f, "%s", inner);
        } while (fmq_topic_filter_check(B(fs[i].f)) != 0); /* "" is no filter */
        fs[i].on = true;
        size_t len = strlen(fs[i].f);
        uintptr_t n = (uintptr_t)fb_map_get(refcount, fs[i].f, len);
        int want = FB_SUB_ADDED | (n == 0 ? FB_SUB_FILTER_FIRST : 0);
        fb_sub_opts_t o = opts(1);
        bad += fb_subtab_add(t, B(fs[i].f), S(i), &o) != want;
        fb_map_put(refcount, fs[i].f, len, (void *)(n ? n + 1 : 2));
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(fb_subtab_count(t), NF);
    CHECK_EQ(fb_subtab_filter_count(t), fb_map_count(refcount));
    for (size_t k = 0; k < NT;) {
        random_levels(&rng, topics[k], talpha, 5, false);
        if (fmq_topic_name_check(B(topics[k])) == 0)
            k++;
    }
    /* A shared group holding several of the filters would report just one
     * of them: give every shared entry its own group for the comparison. */
    for (size_t i = 0; i < NF; i += 5) {
        fb_subtab_remove(t, B(fs[i].f), S(i));
        char inner[48];
        fmq_bytes_t g, f = B(fs[i].f);
        fmq_topic_share_split(f, &g, &f);
        snprintf(inner, sizeof inner, "%.*s", (int)f.len, (const char *)f.ptr);
        snprintf(fs[i].f, sizeof fs[i].f, "$share/u%zu/%s", i, inner);
        fb_sub_opts_t o = opts(1);
        bad += fb_subtab_add(t, B(fs[i].f), S(i), &o) != (FB_SUB_ADDED | FB_SUB_FILTER_FIRST);
    }
    CHECK_EQ(bad, 0);
    check_against_reference(t, fs, NF, topics, NT, &bad);
    CHECK_EQ(bad, 0);

    /* Remove a random half, recheck, then the rest. */
    for (size_t i = 0; i < NF; i++) {
        if (fbt_rand(&rng) % 2)
            continue;
        fs[i].on = false;
        int r = fb_subtab_remove(t, B(fs[i].f), S(i));
        bad += !(r & FB_SUB_REMOVED);
    }
    CHECK_EQ(bad, 0);
    check_against_reference(t, fs, NF, topics, NT, &bad);
    CHECK_EQ(bad, 0);
    for (size_t i = 0; i < NF; i++)
        if (fs[i].on)
            bad += !(fb_subtab_remove(t, B(fs[i].f), S(i)) & FB_SUB_REMOVED);
    CHECK_EQ(bad, 0);
    CHECK_EQ(fb_subtab_count(t), 0);
    CHECK_EQ(fb_subtab_filter_count(t), 0);
    strs_t s = filters_of(t);
    CHECK_EQ(s.n, 0);
    strs_free(&s);

    fb_map_free(refcount);
    fb_subtab_free(t);
    free(topics);
    free(fs);
}

/* FIRST/LAST flags with random add/remove interleavings against a count. */
static void test_random_flags(void)
{
    static const char *const fs[] = {"a", "a/b", "a/+", "#", "$share/g/a", "$share/h/a",
                                     "$share/g/a/b", "+/#"};
    enum { NFS = sizeof fs / sizeof fs[0], NS = 20 };
    bool on[NFS][NS] = {{0}};
    size_t cnt[NFS] = {0}, pairs = 0, filters = 0;
    uint64_t rng = 7;
    fb_subtab_t *t = fb_subtab_new();
    size_t bad = 0;
    for (int round = 0; round < 20000; round++) {
        size_t f = (size_t)(fbt_rand(&rng) % NFS), s = (size_t)(fbt_rand(&rng) % NS);
        fb_sub_opts_t o = opts((uint8_t)(round % 3));
        if (fbt_rand(&rng) % 2) {
            int want = on[f][s] ? 0 : FB_SUB_ADDED | (cnt[f] == 0 ? FB_SUB_FILTER_FIRST : 0);
            bad += fb_subtab_add(t, B(fs[f]), S(s), &o) != want;
            if (!on[f][s]) {
                filters += cnt[f]++ == 0;
                pairs++;
            }
            on[f][s] = true;
        } else {
            int want = !on[f][s] ? 0 : FB_SUB_REMOVED | (cnt[f] == 1 ? FB_SUB_FILTER_LAST : 0);
            bad += fb_subtab_remove(t, B(fs[f]), S(s)) != want;
            if (on[f][s]) {
                filters -= --cnt[f] == 0;
                pairs--;
            }
            on[f][s] = false;
        }
        bad += fb_subtab_count(t) != pairs;
        bad += fb_subtab_filter_count(t) != filters;
    }
    CHECK_EQ(bad, 0);
    fb_subtab_free(t);
}

/* ---- scale sanity: 100k filters, 100k matches ---- */

static void test_scale(void)
{
    enum { N = 100000 };
    clock_t t0 = clock();
    fb_subtab_t *t = fb_subtab_new();
    char buf[64];
    size_t bad = 0;
    fb_sub_opts_t o = opts(0);
    /* Wide fan-out (1000 devices under one node, 100 per device) plus some
     * wildcard filters on the same paths. */
    for (size_t i = 0; i < N; i++) {
        snprintf(buf, sizeof buf, "dev/%zu/sensor/%zu", i % 1000, i / 1000);
        bad += fb_subtab_add(t, B(buf), S(i % 20000), &o) != (FB_SUB_ADDED | FB_SUB_FILTER_FIRST);
    }
    for (size_t i = 0; i < 1000; i++) {
        snprintf(buf, sizeof buf, "dev/%zu/#", i);
        bad += fb_subtab_add(t, B(buf), S(i), &o) != (FB_SUB_ADDED | FB_SUB_FILTER_FIRST);
    }
    fb_subtab_add(t, B("dev/+/sensor/+"), S(1), &o);
    fb_subtab_add(t, B("$share/all/dev/#"), S(2), &o);
    CHECK_EQ(bad, 0);
    CHECK_EQ(fb_subtab_filter_count(t), N + 1002);
    clock_t t1 = clock();
    size_t hits = 0;
    for (size_t i = 0; i < N; i++) {
        /* Every other topic exists exactly; the rest miss at the last level. */
        snprintf(buf, sizeof buf, "dev/%zu/sensor/%zu", i % 1000, i % 2 ? i / 1000 : 100 + i);
        fb_subtab_match(t, B(buf), NULL, count_cb, &hits);
    }
    /* exact (half) + dev/x/# + dev/+/sensor/+ + the shared group */
    CHECK_EQ(hits, N / 2 + 3 * N);
    clock_t t2 = clock();
    for (size_t i = 0; i < N; i++) {
        snprintf(buf, sizeof buf, "dev/%zu/sensor/%zu", i % 1000, i / 1000);
        bad += fb_subtab_remove(t, B(buf), S(i % 20000)) != (FB_SUB_REMOVED | FB_SUB_FILTER_LAST);
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(fb_subtab_filter_count(t), 1002);
    clock_t t3 = clock();
    printf("scale: add %.0f ms, match %.0f ms, remove %.0f ms (100k each)\n",
           (double)(t1 - t0) * 1000 / CLOCKS_PER_SEC, (double)(t2 - t1) * 1000 / CLOCKS_PER_SEC,
           (double)(t3 - t2) * 1000 / CLOCKS_PER_SEC);
    fb_subtab_free(t);
}

/* Deep filters: nothing recurses per level. */
static void test_deep(void)
{
    enum { LEVELS = 30000 };
    char *f = malloc(2 * LEVELS + 1);
    for (size_t i = 0; i < LEVELS; i++) {
        f[2 * i] = 'x';
        f[2 * i + 1] = '/';
    }
    f[2 * LEVELS - 1] = 0; /* "x/x/.../x" */
    fb_subtab_t *t = fb_subtab_new();
    fb_sub_opts_t o = opts(0);
    CHECK_EQ(fb_subtab_add(t, B(f), S(1), &o), FB_SUB_ADDED | FB_SUB_FILTER_FIRST);
    f[2 * LEVELS - 2] = '+';
    CHECK_EQ(fb_subtab_add(t, B(f), S(2), &o), FB_SUB_ADDED | FB_SUB_FILTER_FIRST);
    f[2 * LEVELS - 2] = 'x';
    size_t n = 0;
    fb_subtab_match(t, B(f), NULL, count_cb, &n);
    CHECK_EQ(n, 2);
    strs_t s = filters_of(t);
    CHECK_EQ(s.n, 2);
    strs_free(&s);
    fb_subtab_free(t); /* freed with one subscriber still in */
    free(f);
}

/* ---- allocation failures ---- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

static int cmp_rec(const void *a, const void *b)
{
    const rec_t *x = a, *y = b;
    if (x->shared != y->shared)
        return x->shared < y->shared ? -1 : 1;
    uintptr_t p = x->shared ? 0 : (uintptr_t)x->who, q = y->shared ? 0 : (uintptr_t)y->who;
    return p < q ? -1 : p > q;
}

/* Everything observable, except which shared member is next. */
static uint64_t digest(fb_subtab_t *t)
{
    static const char *const topics[] = {"a", "a/b", "a/b/c", "k/1", "k/9", "m/x/y", "$SYS/x"};
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t n[2] = {fb_subtab_count(t), fb_subtab_filter_count(t)};
    h = fnv(h, n, sizeof n);
    strs_t s = filters_of(t);
    for (size_t i = 0; i < s.n; i++)
        h = fnv(h, s.v[i], strlen(s.v[i]) + 1);
    strs_free(&s);
    for (size_t k = 0; k < sizeof topics / sizeof topics[0]; k++) {
        coll_t c = match(t, topics[k]);
        if (c.n)
            qsort(c.v, c.n, sizeof *c.v, cmp_rec);
        for (size_t i = 0; i < c.n; i++) {
            uintptr_t w = c.v[i].shared ? 0 : (uintptr_t)c.v[i].who;
            h = fnv(h, &w, sizeof w);
            h = fnv(h, &c.v[i].o.qos, 1);
            h = fnv(h, &c.v[i].shared, 1);
        }
        h = fnv(h, &c.n, sizeof c.n);
        free(c.v);
    }
    return h;
}

/* Runs add(filter, who) failing the 1st, 2nd, ... allocation until it
 * succeeds; every failure must return -1 and change nothing. */
static void add_under_oom(fb_subtab_t *t, const char *filter, void *who, int want)
{
    uint64_t before = digest(t);
    fb_sub_opts_t o = opts(2);
    for (long k = 1;; k++) {
        fbt_fail_at(k);
        int rc = fb_subtab_add(t, B(filter), who, &o);
        bool fired = fbt_fail_off();
        if (rc != -1) {
            CHECK(!fired);
            if (!CHECK_EQ(rc, want))
                fprintf(stderr, "  adding %s\n", filter);
            return;
        }
        CHECK(fired);
        if (!CHECK(digest(t) == before))
            fprintf(stderr, "  adding %s, allocation %ld failed\n", filter, k);
    }
}

static void test_oom(void)
{
    fbt_fail_at(1);
    CHECK_PTR(fb_subtab_new(), NULL);
    fbt_fail_at(2);
    CHECK_PTR(fb_subtab_new(), NULL);
    fbt_fail_off();

    fb_subtab_t *t = fb_subtab_new();
    char buf[64];
    add_under_oom(t, "a/b/c", S(1), FB_SUB_ADDED | FB_SUB_FILTER_FIRST);
    add_under_oom(t, "a/b/c", S(2), FB_SUB_ADDED);
    add_under_oom(t, "m/x/y/z", S(1), FB_SUB_ADDED | FB_SUB_FILTER_FIRST);
    add_under_oom(t, "m/+/#", S(1), FB_SUB_ADDED | FB_SUB_FILTER_FIRST);
    add_under_oom(t, "$share/g/a/b", S(3), FB_SUB_ADDED | FB_SUB_FILTER_FIRST); /* new group, existing node */
    add_under_oom(t, "$share/g/a/b", S(4), FB_SUB_ADDED);
    add_under_oom(t, "$share/h/a/b", S(4), FB_SUB_ADDED | FB_SUB_FILTER_FIRST);
    add_under_oom(t, "$share/g/n/o/p", S(4), FB_SUB_ADDED | FB_SUB_FILTER_FIRST); /* new nodes */
    /* Growing children past the linear-scan size builds the index. */
    for (size_t i = 0; i < 40; i++) {
        snprintf(buf, sizeof buf, "k/%zu", i);
        add_under_oom(t, buf, S(i), FB_SUB_ADDED | FB_SUB_FILTER_FIRST);
    }
    /* Growing a subscriber list and a group past it too. */
    for (size_t i = 0; i < 40; i++) {
        add_under_oom(t, "k/1", S(1000 + i), FB_SUB_ADDED);
        add_under_oom(t, "$share/g/k/1", S(1000 + i), i ? FB_SUB_ADDED
                                                         : FB_SUB_ADDED | FB_SUB_FILTER_FIRST);
    }
    /* Replacing, removing and matching never allocate. */
    uint64_t before = digest(t);
    fbt_fail_at(1);
    fb_sub_opts_t o = opts(2);
    CHECK_EQ(fb_subtab_add(t, B("k/1"), S(1000), &o), 0);
    CHECK_EQ(fb_subtab_add(t, B("$share/g/k/1"), S(1000), &o), 0);
    size_t n = 0;
    fb_subtab_match(t, B("k/1"), NULL, count_cb, &n);
    CHECK_EQ(fb_subtab_remove(t, B("k/1"), S(1039)), FB_SUB_REMOVED);
    CHECK_EQ(fb_subtab_remove(t, B("m/x/y/z"), S(1)), FB_SUB_REMOVED | FB_SUB_FILTER_LAST);
    CHECK_EQ(fb_subtab_remove(t, B("$share/h/a/b"), S(4)), FB_SUB_REMOVED | FB_SUB_FILTER_LAST);
    CHECK(!fbt_fail_off());
    CHECK(digest(t) != before);
    CHECK_EQ(n, 1 + 40 + 1);
    fb_subtab_free(t);
}

int main(void)
{
    test_spec_examples();
    test_one_table();
    test_add_replace_flags();
    test_each_filter();
    test_many_subscribers();
    test_round_robin();
    test_random();
    test_random_flags();
    test_scale();
    test_deep();
    test_oom();
    return fbt_summary();
}
