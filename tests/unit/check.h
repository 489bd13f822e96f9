/*
 * check.h: a tiny unit-test harness (no external framework).
 *
 * Each test file is one executable:
 *
 *     #include "check.h"
 *     static void test_something(void) { CHECK_EQ_INT(1 + 1, 2); }
 *     CHECK_MAIN(T(test_something), T(test_other))
 *
 * Checks never abort a test; each failed check prints file:line, the running
 * test's name and BOTH values, and is counted. The REQUIRE_* forms also return
 * from the test function when they fail (use them when later checks would read
 * through a pointer the failed check was guarding).
 *
 * `./test_x name1 name2` runs only the named tests. The executable prints
 * "N passed, N failed" (tests, not checks) and exits nonzero on any failure.
 * A crash (SIGSEGV, SIGABRT, ...) prints the test it happened in.
 */
#ifndef FMQ_CHECK_H
#define FMQ_CHECK_H

#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct check_test {
    const char *name;
    void (*fn)(void);
} check_test_t;

/* One test executable is one translation unit, so the state lives here. */
static struct {
    unsigned failures; /* failed checks so far */
    unsigned checks;   /* checks evaluated so far */
    const char *test;  /* the running test */
} check_state_ __attribute__((unused));

static inline void check_fail_head_(const char *file, int line)
{
    check_state_.failures++;
    fprintf(stderr, "%s:%d: [%s] FAIL: ", file, line,
            check_state_.test ? check_state_.test : "?");
}

static inline bool check_true_(const char *file, int line, const char *expr, bool ok)
{
    check_state_.checks++;
    if (!ok) {
        check_fail_head_(file, line);
        fprintf(stderr, "CHECK(%s)\n", expr);
    }
    return ok;
}

static inline bool check_eq_int_(const char *file, int line, const char *ea, const char *eb,
                                 long long a, long long b)
{
    check_state_.checks++;
    if (a != b) {
        check_fail_head_(file, line);
        fprintf(stderr, "%s == %s: %lld != %lld\n", ea, eb, a, b);
    }
    return a == b;
}

static inline bool check_eq_hex_(const char *file, int line, const char *ea, const char *eb,
                                 unsigned long long a, unsigned long long b)
{
    check_state_.checks++;
    if (a != b) {
        check_fail_head_(file, line);
        fprintf(stderr, "%s == %s: 0x%llX != 0x%llX\n", ea, eb, a, b);
    }
    return a == b;
}

/* Prints up to 48 bytes of `p` around offset `at` as hex. */
static inline void check_dump_(const char *label, const uint8_t *p, size_t n, size_t at)
{
    size_t from = at > 16 ? at - 16 : 0;
    size_t to = from + 48 < n ? from + 48 : n;
    fprintf(stderr, "    %-9s (%zu bytes) %s", label, n, from ? "... " : "");
    for (size_t i = from; i < to; i++)
        fprintf(stderr, i == at ? "[%02X] " : "%02X ", p[i]);
    fprintf(stderr, "%s\n", to < n ? "..." : "");
}

static inline bool check_eq_bytes_(const char *file, int line, const char *ea, const char *eb,
                                   const void *pa, size_t na, const void *pb, size_t nb)
{
    const uint8_t *a = (const uint8_t *)pa, *b = (const uint8_t *)pb;
    check_state_.checks++;
    size_t n = na < nb ? na : nb, i = 0;
    if (n > 0 && (a == NULL || b == NULL)) {
        check_fail_head_(file, line);
        fprintf(stderr, "%s == %s: NULL pointer with length %zu/%zu\n", ea, eb, na, nb);
        return false;
    }
    while (i < n && a[i] == b[i])
        i++;
    if (i == n && na == nb)
        return true;
    check_fail_head_(file, line);
    fprintf(stderr, "%s == %s: lengths %zu and %zu, first difference at offset %zu\n", ea, eb, na,
            nb, i);
    check_dump_("left", a, na, i);
    check_dump_("right", b, nb, i);
    return false;
}

static inline bool check_eq_str_(const char *file, int line, const char *ea, const char *eb,
                                 const char *a, const char *b)
{
    check_state_.checks++;
    bool ok = (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
    if (!ok) {
        check_fail_head_(file, line);
        fprintf(stderr, "%s == %s: \"%s\" != \"%s\"\n", ea, eb, a ? a : "(null)",
                b ? b : "(null)");
    }
    return ok;
}

/* All of these evaluate to true when the check passed. */
#define CHECK(cond) check_true_(__FILE__, __LINE__, #cond, (cond) ? true : false)
#define CHECK_EQ_INT(a, b)                                                                     \
    check_eq_int_(__FILE__, __LINE__, #a, #b, (long long)(a), (long long)(b))
#define CHECK_EQ_HEX(a, b)                                                                     \
    check_eq_hex_(__FILE__, __LINE__, #a, #b, (unsigned long long)(a), (unsigned long long)(b))
#define CHECK_EQ_BYTES(pa, na, pb, nb)                                                         \
    check_eq_bytes_(__FILE__, __LINE__, #pa, #pb, (pa), (size_t)(na), (pb), (size_t)(nb))
/* Two NUL-terminated strings (NULL allowed). */
#define CHECK_EQ_STR(a, b) check_eq_str_(__FILE__, __LINE__, #a, #b, (a), (b))

#define REQUIRE(cond)                                                                          \
    do {                                                                                       \
        if (!CHECK(cond))                                                                      \
            return;                                                                            \
    } while (0)
#define REQUIRE_EQ_INT(a, b)                                                                   \
    do {                                                                                       \
        if (!CHECK_EQ_INT(a, b))                                                               \
            return;                                                                            \
    } while (0)

/* ---- runner ---- */

static void check_on_signal_(int sig)
{
    static const char msg[] = "\n*** crashed (signal) in test: ";
    const char *t = check_state_.test ? check_state_.test : "?";
    ssize_t w = write(2, msg, sizeof msg - 1);
    w = write(2, t, strlen(t));
    w = write(2, "\n", 1);
    (void)w;
    signal(sig, SIG_DFL);
    raise(sig);
}

static inline bool check_selected_(const char *name, int argc, char **argv)
{
    if (argc <= 1)
        return true;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return true;
    return false;
}

static inline int check_run_(const check_test_t *tests, size_t n, int argc, char **argv)
{
    signal(SIGSEGV, check_on_signal_);
    signal(SIGBUS, check_on_signal_);
    signal(SIGFPE, check_on_signal_);
    signal(SIGILL, check_on_signal_);
    signal(SIGABRT, check_on_signal_);
    /* stderr is unbuffered; keep stdout in order with it. */
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *prog = argc > 0 ? strrchr(argv[0], '/') : NULL;
    prog = prog ? prog + 1 : (argc > 0 ? argv[0] : "test");
    unsigned passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (!check_selected_(tests[i].name, argc, argv))
            continue;
        check_state_.test = tests[i].name;
        unsigned before = check_state_.failures;
        tests[i].fn();
        if (check_state_.failures == before) {
            passed++;
        } else {
            failed++;
            printf("FAILED: %s (%u failed checks)\n", tests[i].name,
                   check_state_.failures - before);
        }
    }
    check_state_.test = NULL;
    printf("%s: %u passed, %u failed (%u checks, %u failed)\n", prog, passed, failed,
           check_state_.checks, check_state_.failures);
    if (passed + failed == 0 && argc > 1) {
        printf("%s: no test matched the names given\n", prog);
        return 2;
    }
    return failed ? 1 : 0;
}

#define T(fn) {#fn, fn}
#define CHECK_MAIN(...)                                                                        \
    int main(int argc, char **argv)                                                            \
    {                                                                                          \
        static const check_test_t tests_[] = {__VA_ARGS__};                                    \
        return check_run_(tests_, sizeof tests_ / sizeof tests_[0], argc, argv);               \
    }

#endif /* FMQ_CHECK_H */
