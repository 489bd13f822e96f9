/* The eviction rate limiter and the auto-rate controller (src/evac/limiter.h),
 * driven by a fake clock: even pacing, the one-second window promise under
 * a caller that is late, stalls or changes the rate, bounded catch-up, and
 * the controller's steps. Every window is counted here from the grant
 * times, independently of the limiter's own bookkeeping. */
#include "check.h"
#include "evac/limiter.h"

#define US 1000000ull

typedef struct {
    uint64_t *t;
    size_t n, cap;
} times_t;

static void record(times_t *ts, uint64_t now, uint32_t k)
{
    for (uint32_t i = 0; i < k; i++) {
        if (ts->n == ts->cap) {
            ts->cap = ts->cap ? ts->cap * 2 : 1024;
            ts->t = realloc(ts->t, ts->cap * sizeof *ts->t);
        }
        ts->t[ts->n++] = now;
    }
}

/* Most events in any window [t, t + 1 s). */
static size_t max_window(const times_t *ts)
{
    size_t best = 0, j = 0;
    for (size_t i = 0; i < ts->n; i++) {
        while (ts->t[i] - ts->t[j] >= US)
            j++;
        if (i - j + 1 > best)
            best = i - j + 1;
    }
    return best;
}

static void test_even_pacing(void)
{
    fe_limiter_t l;
    REQUIRE(fe_limiter_init(&l, 200, 200, 0) == 0);
    times_t ts = {0};
    for (uint64_t now = 0; now < 3 * US; now += 1000)
        record(&ts, now, fe_limiter_take(&l, now, 100000));
    CHECK(ts.n >= 599 && ts.n <= 601);
    CHECK_EQ_INT(max_window(&ts), 200);
    CHECK_EQ_INT(l.max_in_window, 200);
    /* Spread, not a burst: every 100 ms holds 19..21 of them. */
    for (uint64_t from = 0; from + 100000 <= 3 * US; from += 100000) {
        size_t c = 0;
        for (size_t i = 0; i < ts.n; i++)
            c += ts.t[i] >= from && ts.t[i] < from + 100000;
        if (!CHECK(c >= 19 && c <= 21))
            printf("    %zu events in [%llu ms, +100 ms)\n", c, (unsigned long long)(from / 1000));
    }
    free(ts.t);
    fe_limiter_free(&l);
}

/* A caller mostly 0..50 ms late; with `stalls`, sometimes 300 ms away. */
static void jittery(uint32_t rate, bool stalls, size_t min_percent)
{
    fe_limiter_t l;
    REQUIRE(fe_limiter_init(&l, rate, rate, 0) == 0);
    times_t ts = {0};
    uint64_t now = 0;
    while (now < 20 * US) {
        record(&ts, now, fe_limiter_take(&l, now, UINT32_MAX));
        now += (uint64_t)(rand() % 50000) + (stalls && rand() % 20 == 0 ? 300000 : 0);
    }
    if (!CHECK(max_window(&ts) <= rate))
        printf("    rate %u: %zu in one second\n", rate, max_window(&ts));
    CHECK(l.max_in_window <= rate);
    /* It keeps up, except for what a stall beyond the 100 ms catch-up costs. */
    if (!CHECK(ts.n * 100 >= (size_t)rate * 20 * min_percent))
        printf("    rate %u%s: only %zu in 20 s\n", rate, stalls ? " with stalls" : "", ts.n);
    free(ts.t);
    fe_limiter_free(&l);
}

static void test_window_holds_under_a_jittery_caller(void)
{
    uint32_t rates[] = {1, 7, 200, 1000};
    srand(42);
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        jittery(rates[r], false, 90);
        jittery(rates[r], true, 60);
    }
}

static void test_catch_up_is_bounded(void)
{
    fe_limiter_t l;
    REQUIRE(fe_limiter_init(&l, 200, 200, 0) == 0);
    CHECK_EQ_INT(fe_limiter_take(&l, 0, 1000), 1);
    /* away for 5 s: at most 100 ms worth comes at once */
    uint32_t k = fe_limiter_take(&l, 5 * US, 1000);
    CHECK(k >= 20 && k <= 21);
    fe_limiter_free(&l);
}

static void test_rate_change(void)
{
    fe_limiter_t l;
    REQUIRE(fe_limiter_init(&l, 100, 400, 0) == 0);
    times_t ts = {0};
    uint64_t now = 0;
    for (; now < 2 * US; now += 1000)
        record(&ts, now, fe_limiter_take(&l, now, 100000));
    /* down to 10/s: nothing until the last second holds fewer than 10 */
    fe_limiter_set_rate(&l, 10, now);
    size_t before = ts.n;
    for (; now < 6 * US; now += 1000) {
        uint32_t in = fe_limiter_in_window(&l, now);
        uint32_t k = fe_limiter_take(&l, now, 100000);
        if (k && !CHECK(in < 10))
            printf("    granted with %u in the window at %llu ms\n", in,
                   (unsigned long long)(now / 1000));
        record(&ts, now, k);
    }
    /* The old second holds 100 until about 0.9 s after the change; then
     * 10/s (plus the 100 ms of catch-up the pacing allows at the start). */
    if (!CHECK(ts.n - before >= 30 && ts.n - before <= 33))
        printf("    %zu granted in the 4 s after the change\n", ts.n - before);
    /* up to 400/s (the ceiling): more cannot be asked */
    fe_limiter_set_rate(&l, 5000, now);
    CHECK_EQ_INT(l.rate, 400);
    before = ts.n;
    for (uint64_t end = now + US; now < end; now += 1000)
        record(&ts, now, fe_limiter_take(&l, now, 100000));
    CHECK(ts.n - before >= 390 && ts.n - before <= 400);
    CHECK(max_window(&ts) <= 400);
    free(ts.t);
    fe_limiter_free(&l);
}

static void test_want_is_respected(void)
{
    fe_limiter_t l;
    REQUIRE(fe_limiter_init(&l, 1000, 1000, 0) == 0);
    CHECK_EQ_INT(fe_limiter_take(&l, 50000, 3), 3);
    CHECK_EQ_INT(fe_limiter_take(&l, 50000, 0), 0);
    CHECK_EQ_INT(l.granted, 3);
    fe_limiter_free(&l);
}

static void test_auto_steps(void)
{
    fe_auto_t a;
    fe_auto_init(&a, 1000, 100);
    CHECK_EQ_INT(a.rate, 100); /* a tenth of the ceiling */
    CHECK_EQ_INT(a.floor, 10);
    /* receivers answer fast: +100 per second up to the ceiling */
    fe_auto_sample_t fast[2] = {{50, 5, 20, 0}, {60, 8, 30, 1}};
    CHECK_EQ_INT(fe_auto_step(&a, fast, 2), 200);
    for (int i = 0; i < 20; i++)
        fe_auto_step(&a, fast, 2);
    CHECK_EQ_INT(a.rate, 1000);
    /* one receiver's CONNACKs come late: halve */
    fe_auto_sample_t slow[2] = {{50, 5, 20, 0}, {60, 250, 900, 3}};
    CHECK_EQ_INT(fe_auto_step(&a, slow, 2), 500);
    CHECK_EQ_INT(fe_auto_step(&a, slow, 2), 250);
    for (int i = 0; i < 20; i++)
        fe_auto_step(&a, slow, 2);
    CHECK_EQ_INT(a.rate, 10); /* never below the floor */
    /* a backlog of CONNECTs waiting is struggling too, however fast the rest */
    fe_auto_init(&a, 1000, 100);
    fe_auto_sample_t backlog[1] = {{10, 1, 2, 400}};
    CHECK_EQ_INT(fe_auto_step(&a, backlog, 1), 50);
    /* between target/2 and target: hold */
    fe_auto_sample_t middling[1] = {{10, 70, 90, 0}};
    CHECK_EQ_INT(fe_auto_step(&a, middling, 1), 50);
    /* nobody reports: hold */
    CHECK_EQ_INT(fe_auto_step(&a, NULL, 0), 50);
    /* a small ceiling */
    fe_auto_init(&a, 5, 100);
    CHECK_EQ_INT(a.rate, 5);
    CHECK_EQ_INT(a.floor, 5);
}

CHECK_MAIN(T(test_even_pacing), T(test_window_holds_under_a_jittery_caller),
           T(test_catch_up_is_bounded), T(test_rate_change), T(test_want_is_respected),
           T(test_auto_steps))
