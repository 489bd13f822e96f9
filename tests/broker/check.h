/*
 * Tiny test harness for tests/broker (one test program per data structure).
 *
 * CHECK* macros count passes and failures and print both values with
 * file:line on failure; fbt_summary() prints "N passed, N failed" and gives
 * the exit status. Each test program is linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc so that fbt_fail_at(k)
 * makes the k-th allocation from now return NULL: that is how the tests
 * check that every allocation failure leaves the structure unchanged.
 */
#ifndef FB_TEST_CHECK_H
#define FB_TEST_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Test-only state: counters and the allocation-failure countdown. */
static int fbt_passed, fbt_failed;
static long fbt_countdown; /* > 0: the countdown-th allocation fails */
static bool fbt_fired;     /* an injected failure happened */

static inline void fbt_result(bool ok)
{
    if (ok)
        fbt_passed++;
    else
        fbt_failed++;
}

static inline bool fbt_check(bool ok, const char *expr, const char *file, int line)
{
    fbt_result(ok);
    if (!ok)
        fprintf(stderr, "%s:%d: CHECK(%s) failed\n", file, line, expr);
    return ok;
}

static inline bool fbt_check_eq(long long a, long long b, const char *ea, const char *eb,
                                const char *file, int line)
{
    fbt_result(a == b);
    if (a != b)
        fprintf(stderr, "%s:%d: CHECK_EQ(%s, %s) failed: %lld != %lld\n", file, line, ea, eb, a,
                b);
    return a == b;
}

static inline bool fbt_check_ptr(const void *a, const void *b, const char *ea, const char *eb,
                                 const char *file, int line)
{
    fbt_result(a == b);
    if (a != b)
        fprintf(stderr, "%s:%d: CHECK_PTR(%s, %s) failed: %p != %p\n", file, line, ea, eb, a, b);
    return a == b;
}

static inline bool fbt_check_mem(const void *a, size_t alen, const void *b, size_t blen,
                                 const char *ea, const char *eb, const char *file, int line)
{
    bool ok = alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
    fbt_result(ok);
    if (!ok)
        fprintf(stderr, "%s:%d: CHECK_MEM(%s, %s) failed: \"%.*s\" != \"%.*s\"\n", file, line, ea,
                eb, (int)alen, (const char *)a, (int)blen, (const char *)b);
    return ok;
}

#define CHECK(c) fbt_check((c), #c, __FILE__, __LINE__)
#define CHECK_EQ(a, b) fbt_check_eq((long long)(a), (long long)(b), #a, #b, __FILE__, __LINE__)
#define CHECK_PTR(a, b) \
    fbt_check_ptr((const void *)(a), (const void *)(b), #a, #b, __FILE__, __LINE__)
#define CHECK_MEM(a, alen, b, blen) \
    fbt_check_mem((a), (alen), (b), (blen), #a, #b, __FILE__, __LINE__)

static inline int fbt_summary(void)
{
    printf("%d passed, %d failed\n", fbt_passed, fbt_failed);
    return fbt_failed ? 1 : 0;
}

/* ---- allocation failure injection ---- */

static inline void fbt_fail_at(long k)
{
    fbt_countdown = k;
    fbt_fired = false;
}

/* Disarms; returns whether an injected failure happened since fbt_fail_at. */
static inline bool fbt_fail_off(void)
{
    fbt_countdown = 0;
    return fbt_fired;
}

static inline bool fbt_should_fail(void)
{
    if (fbt_countdown > 0 && --fbt_countdown == 0) {
        fbt_fired = true;
        return true;
    }
    return false;
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

void *__wrap_malloc(size_t n)
{
    return fbt_should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return fbt_should_fail() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return fbt_should_fail() ? NULL : __real_realloc(p, n);
}

/* Deterministic PRNG (xorshift64*) so that failures reproduce. */
static inline uint64_t fbt_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

#endif
