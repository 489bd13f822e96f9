/*
 * libFuzzer target for ferry-operator's readers of haproxy 2.6 runtime API
 * answers (src/operator/lb_haproxy.c, library ferrylb):
 * fo_lb__hx_parse_servers_state (`show servers state demo`) and
 * fo_lb__hx_parse_stat (`show stat demo 4 -1`). Both are pure functions
 * declared in the library's internal header lb_int.h, which is why this
 * target includes it.
 *
 * Input: the answer to `show servers state demo`, a NUL byte, the answer to
 * `show stat demo 4 -1` (haproxy never sends a NUL). Without a NUL byte the
 * whole input is given to both. The stat answer is read against the servers
 * the first answer gave, or against n1, n2, n3 when it was refused.
 *
 * Beyond "does not crash" it checks the parsers' promises:
 *   - the result is 0 or -1; a refusal is one non-empty line of printable
 *     ASCII, leaves no server (state) or the list exactly as it was (stat);
 *   - accepted servers: at most the capacity given, names 1..127 of
 *     '!'..'~' and unique, ports <= 65535, states >= 0, scur 0; with one
 *     slot less the same answer is refused;
 *   - stat changes nothing but scur, and only to a value >= 0;
 *   - an answer ends with its empty line: every proper prefix of an
 *     accepted answer is refused (a cut answer is never taken for a whole
 *     one);
 *   - the same bytes parse to the same result.
 * Each run allocates its own lists and frees them.
 */
#include "fuzz_common.h"
#include "operator/lb_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKEND "demo"
/* Servers a list holds here. A row is at least 16 bytes ("a 0 0 0 0 0 0 0\n")
 * after a header of more than 100, so run.sh's 4096-byte inputs fit; bigger
 * replayed inputs may meet the capacity refusal, which is checked too. The
 * library's FO_LB__HX_SERVERS_MAX (1024) would make each run allocate
 * 480 KiB, which slows libFuzzer more than tenfold under ASan. */
#define CAP 256u

/* A broken promise is a finding: abort so that libFuzzer saves the input. */

static void check_message(const char *err)
{
    FUZZ_CHECK(err[0] != '\0', "empty error message");
    for (const char *p = err; *p; p++)
        FUZZ_CHECK(*p >= ' ' && *p <= '~', "error holds a byte outside printable ASCII: %s", err);
}

static bool same_server(const fo_lb__hx_server_t *a, const fo_lb__hx_server_t *b)
{
    return strcmp(a->name, b->name) == 0 && a->addr.s_addr == b->addr.s_addr &&
           a->port == b->port && a->check_port == b->check_port && a->op_state == b->op_state &&
           a->admin_state == b->admin_state && a->check_result == b->check_result &&
           a->check_state == b->check_state && a->scur == b->scur;
}

static void check_servers(const fo_lb__hx_server_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strnlen(s[i].name, sizeof s[i].name);
        FUZZ_CHECK(len >= 1 && len <= FO_LB__NAME_MAX, "server name length: %s", s[i].name);
        for (size_t k = 0; k < len; k++)
            FUZZ_CHECK(s[i].name[k] > ' ' && s[i].name[k] <= '~', "server name byte: %s",
                       s[i].name);
        FUZZ_CHECK(s[i].port <= 65535 && s[i].check_port <= 65535, "port: %s", s[i].name);
        FUZZ_CHECK(s[i].op_state >= 0 && s[i].admin_state >= 0 && s[i].check_result >= 0 &&
                       s[i].check_state >= 0,
                   "negative state: %s", s[i].name);
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(s[i].name, s[j].name) != 0, "server twice: %s", s[i].name);
    }
}

/* A few proper prefixes of an accepted answer: each must be refused. */
static void check_prefixes_state(const char *text, size_t len, fo_lb__hx_server_t *tmp)
{
    size_t cut[3] = {len - 1, len / 2, len > 2 ? len - 2 : 0};
    for (size_t c = 0; c < 3; c++) {
        char err[256] = "";
        size_t n = 7;
        int rc =
            fo_lb__hx_parse_servers_state(text, cut[c], BACKEND, tmp, CAP, &n, err, sizeof err);
        FUZZ_CHECK(rc == -1 && n == 0, "a cut servers state answer was accepted");
        check_message(err);
    }
}

static void check_prefixes_stat(const char *text, size_t len, fo_lb__hx_server_t *s, size_t n)
{
    size_t cut[3] = {len - 1, len / 2, len > 2 ? len - 2 : 0};
    for (size_t c = 0; c < 3; c++) {
        char err[256] = "";
        int rc = fo_lb__hx_parse_stat(text, cut[c], BACKEND, s, n, err, sizeof err);
        FUZZ_CHECK(rc == -1, "a cut stat answer was accepted");
        check_message(err);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nul = memchr(text, '\0', size);
    size_t state_len = nul ? (size_t)(nul - text) : size;
    const char *stat = nul ? nul + 1 : text;
    size_t stat_len = nul ? size - state_len - 1 : size;

    size_t cap = CAP;
    fo_lb__hx_server_t *s = malloc(cap * sizeof *s);
    fo_lb__hx_server_t *again = malloc(cap * sizeof *again);
    fo_lb__hx_server_t *before = malloc(cap * sizeof *before);
    FUZZ_CHECK(s && again && before, "out of memory");

    /* `show servers state demo` */
    char err[256] = "";
    size_t n = 99;
    int rc = fo_lb__hx_parse_servers_state(text, state_len, BACKEND, s, cap, &n, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -1, "servers state: unexpected return code");
    if (rc != 0) {
        FUZZ_CHECK(n == 0, "a refused servers state answer left servers: %s", err);
        check_message(err);
        /* the stat answer is still read, against servers of our own */
        n = 3;
        for (size_t i = 0; i < n; i++) {
            memset(&s[i], 0, sizeof s[i]);
            snprintf(s[i].name, sizeof s[i].name, "n%zu", i + 1);
            s[i].scur = (int64_t)i; /* kept unless a row says otherwise */
        }
    } else {
        FUZZ_CHECK(n <= cap, "more servers than the capacity");
        check_servers(s, n);
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(s[i].scur == 0, "scur not 0 after servers state: %s", s[i].name);
        char err2[256] = "";
        size_t n2 = 0;
        int rc2 = fo_lb__hx_parse_servers_state(text, state_len, BACKEND, again, cap, &n2, err2,
                                                sizeof err2);
        FUZZ_CHECK(rc2 == 0 && n2 == n, "the same answer parsed differently: %s", err2);
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(same_server(&s[i], &again[i]), "the same answer parsed differently: %s",
                       s[i].name);
        if (n > 0) {
            rc2 = fo_lb__hx_parse_servers_state(text, state_len, BACKEND, again, n - 1, &n2, err2,
                                                sizeof err2);
            FUZZ_CHECK(rc2 == -1 && n2 == 0, "more servers than the capacity accepted");
            check_message(err2);
        }
        check_prefixes_state(text, state_len, again);
    }

    /* `show stat demo 4 -1` against those servers */
    memcpy(before, s, n * sizeof *s);
    char serr[256] = "";
    rc = fo_lb__hx_parse_stat(stat, stat_len, BACKEND, s, n, serr, sizeof serr);
    FUZZ_CHECK(rc == 0 || rc == -1, "stat: unexpected return code");
    if (rc != 0) {
        check_message(serr);
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(same_server(&s[i], &before[i]), "a refused stat answer changed a server: %s",
                       s[i].name);
    } else {
        for (size_t i = 0; i < n; i++) {
            FUZZ_CHECK(s[i].scur >= 0, "negative scur: %s", s[i].name);
            fo_lb__hx_server_t t = s[i];
            t.scur = before[i].scur;
            FUZZ_CHECK(same_server(&t, &before[i]), "stat changed more than scur: %s", s[i].name);
        }
        memcpy(again, before, n * sizeof *s);
        int rc2 = fo_lb__hx_parse_stat(stat, stat_len, BACKEND, again, n, serr, sizeof serr);
        FUZZ_CHECK(rc2 == 0, "the same stat answer refused: %s", serr);
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(same_server(&s[i], &again[i]), "the same stat answer parsed differently: %s",
                       s[i].name);
        memcpy(again, before, n * sizeof *s);
        check_prefixes_stat(stat, stat_len, again, n);
    }

    free(before);
    free(again);
    free(s);
    return 0;
}
