/*
 * libFuzzer target for ferry-operator's reader of the kernel load
 * balancer's table (src/operator/lb_kernel.c, library ferrylb):
 * fo_lb__nft_parse_dnat, a pure function over the JSON that
 * `nft -j list table ip ferry_<name>` prints (jansson). It is declared in
 * the library's internal header lb_int.h, which is why this target
 * includes it.
 *
 * Input: nft's JSON output, whole (no header byte).
 *
 * Beyond "does not crash" it checks the parser's promises:
 *   - the result is 0 or -1; a refusal is one non-empty line of printable
 *     ASCII and leaves no element;
 *   - accepted elements: at most FO_LB_MAX_BACKENDS, names 1..127 of
 *     '!'..'~', addresses dotted quads, ports 1..65535;
 *   - the same bytes parse to the same result.
 * Each run starts from a fresh output and frees everything (jansson's
 * allocations count as leaks).
 */
#include "fuzz_common.h"
#include "operator/lb_int.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A broken promise is a finding: abort so that libFuzzer saves the input. */

static void check_message(const char *err)
{
    FUZZ_CHECK(err[0] != '\0', "empty error message");
    for (const char *p = err; *p; p++)
        FUZZ_CHECK(*p >= ' ' && *p <= '~', "error holds a byte outside printable ASCII: %s", err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fo_lb__nft_dnat_t *out = malloc(sizeof *out);
    fo_lb__nft_dnat_t *again = malloc(sizeof *again);
    FUZZ_CHECK(out && again, "out of memory");
    out->n = 77;
    char err[256] = "";
    int rc = fo_lb__nft_parse_dnat((const char *)data, size, out, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -1, "unexpected return code");
    if (rc != 0) {
        check_message(err);
        FUZZ_CHECK(out->n == 0, "a refusal left elements: %s", err);
    } else {
        FUZZ_CHECK(out->n <= FO_LB_MAX_BACKENDS, "too many elements");
        for (size_t i = 0; i < out->n; i++) {
            const fo_lb__nft_target_t *t = &out->t[i];
            size_t len = strnlen(t->name, sizeof t->name);
            FUZZ_CHECK(len >= 1 && len <= FO_LB__NAME_MAX, "name length: %s", t->name);
            for (size_t k = 0; k < len; k++)
                FUZZ_CHECK(t->name[k] > ' ' && t->name[k] <= '~', "name byte: %s", t->name);
            struct in_addr a;
            FUZZ_CHECK(strnlen(t->addr, sizeof t->addr) < sizeof t->addr &&
                           inet_pton(AF_INET, t->addr, &a) == 1,
                       "address: %s", t->name);
            FUZZ_CHECK(t->port >= 1, "port 0: %s", t->name);
        }
        char err2[256] = "";
        int rc2 = fo_lb__nft_parse_dnat((const char *)data, size, again, err2, sizeof err2);
        FUZZ_CHECK(rc2 == 0 && again->n == out->n, "the same JSON parsed differently: %s", err2);
        for (size_t i = 0; i < out->n; i++)
            FUZZ_CHECK(strcmp(out->t[i].name, again->t[i].name) == 0 &&
                           strcmp(out->t[i].addr, again->t[i].addr) == 0 &&
                           out->t[i].port == again->t[i].port && out->t[i].key == again->t[i].key,
                       "the same JSON parsed differently: %s", out->t[i].name);
    }
    free(again);
    free(out);
    return 0;
}
