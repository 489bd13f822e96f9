/*
 * The evacuation and rebalance option parsers (src/evac/opts.h) on any
 * request body, and their writers on whatever the parsers accept.
 *
 * A refusal must return -1 with a NUL-terminated, non-empty message of
 * printable ASCII inside errlen (an exact-size heap buffer, so ASan sees a
 * byte past it), a prefix of the message a roomy buffer gets, and must leave
 * the output struct untouched. An accepted body must give a struct within
 * every rule (checked here, independently of opts.c: ranges, node names,
 * duplicates, control characters, zeroed unused bytes), and its JSON (at
 * most FE_BODY_MAX bytes) must parse back to the same bytes and write the
 * same text again; any difference is a parser/writer asymmetry and aborts.
 * Every parse runs twice and must give the same answer.
 *
 * Input: byte 0 selects, the rest is the body.
 *   bits 0-1  0 the evacuation parser, 1 the rebalance one, 2 and 3 both
 *   bits 2-4  errlen, an index into errlens[]
 * fuzz/make_evac_corpus.py writes seeds in this format.
 */
#include "fuzz_common.h"

#include "evac/opts.h"

#include <math.h>
#include <string.h>

#define ERR_ROOM 512

static const size_t errlens[8] = {ERR_ROOM, ERR_ROOM, ERR_ROOM, 0, 1, 7, 32, 100};

#define ABS_THRESHOLD_MAX 100000000u

/* ---- the rules, written again ---- */

static bool all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

static bool node_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           strchr("._-@:", c) != NULL;
}

static void check_nodes(const char names[][FE_NODE_NAME_MAX + 1], size_t n, const char *what)
{
    FUZZ_CHECK(n <= FE_MAX_NODES, "%s: %zu nodes", what, n);
    for (size_t i = 0; i < FE_MAX_NODES; i++) {
        size_t len = strnlen(names[i], FE_NODE_NAME_MAX + 1);
        if (i >= n) {
            FUZZ_CHECK(all_zero(names[i], FE_NODE_NAME_MAX + 1), "%s[%zu]: unused row not zero",
                       what, i);
            continue;
        }
        FUZZ_CHECK(len >= 1 && len <= FE_NODE_NAME_MAX, "%s[%zu]: length %zu", what, i, len);
        for (size_t k = 0; k < len; k++)
            FUZZ_CHECK(node_char(names[i][k]), "%s[%zu]: byte 0x%02x", what, i,
                       (unsigned char)names[i][k]);
        FUZZ_CHECK(all_zero(names[i] + len, FE_NODE_NAME_MAX + 1 - len),
                   "%s[%zu]: bytes after the name", what, i);
        for (size_t k = 0; k < i; k++)
            FUZZ_CHECK(strcmp(names[k], names[i]) != 0, "%s[%zu]: duplicate of [%zu]", what, i, k);
    }
}

static void check_rate(uint32_t v, uint32_t max, const char *what)
{
    FUZZ_CHECK(v >= 1 && v <= max, "%s %u out of 1..%u", what, v, max);
}

static void check_evac(const fe_evac_opts_t *o)
{
    if (o->conn_auto)
        FUZZ_CHECK(o->conn_evict_rate == FE_DEF_CONN_RATE, "auto with conn_evict_rate %u",
                   o->conn_evict_rate);
    else
        check_rate(o->conn_evict_rate, FE_RATE_MAX, "conn_evict_rate");
    check_rate(o->conn_evict_rate_max, FE_RATE_MAX, "conn_evict_rate_max");
    check_rate(o->sess_evict_rate, FE_RATE_MAX, "sess_evict_rate");
    FUZZ_CHECK(o->wait_takeover_ms <= FE_DURATION_MAX_MS, "wait_takeover %u ms",
               o->wait_takeover_ms);
    FUZZ_CHECK(o->wait_health_check_ms <= FE_DURATION_MAX_MS, "wait_health_check %u ms",
               o->wait_health_check_ms);
    const unsigned char *r = (const unsigned char *)o->redirect_to;
    size_t n = strnlen(o->redirect_to, FE_REF_MAX + 1);
    FUZZ_CHECK(n <= FE_REF_MAX, "redirect_to unterminated");
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(r[i] >= 0x20 && r[i] != 0x7F, "redirect_to: byte 0x%02x at %zu", r[i], i);
        FUZZ_CHECK(!(r[i] == 0xC2 && i + 1 < n && r[i + 1] >= 0x80 && r[i + 1] <= 0x9F),
                   "redirect_to: a C1 control at %zu", i);
    }
    FUZZ_CHECK(all_zero(r + n, FE_REF_MAX + 1 - n), "redirect_to: bytes after the string");
    check_nodes(o->migrate_to, o->n_migrate_to, "migrate_to");
}

static void check_rel(double v, const char *what)
{
    FUZZ_CHECK(isfinite(v) && v > 1.0 && v <= 100.0, "%s %.17g", what, v);
}

static void check_rebal(const fe_rebal_opts_t *o)
{
    check_nodes(o->nodes, o->n_nodes, "nodes");
    check_rate(o->conn_evict_rate, FE_RATE_MAX, "conn_evict_rate");
    check_rate(o->sess_evict_rate, FE_RATE_MAX, "sess_evict_rate");
    FUZZ_CHECK(o->wait_takeover_ms <= FE_DURATION_MAX_MS, "wait_takeover %u ms",
               o->wait_takeover_ms);
    FUZZ_CHECK(o->wait_health_check_ms <= FE_DURATION_MAX_MS, "wait_health_check %u ms",
               o->wait_health_check_ms);
    check_rate(o->abs_conn_threshold, ABS_THRESHOLD_MAX, "abs_conn_threshold");
    check_rate(o->abs_sess_threshold, ABS_THRESHOLD_MAX, "abs_sess_threshold");
    check_rel(o->rel_conn_threshold, "rel_conn_threshold");
    check_rel(o->rel_sess_threshold, "rel_sess_threshold");
}

/* ---- refusals ---- */

static void check_message(const char *err, size_t errlen, const char *full)
{
    size_t n = strnlen(err, errlen);
    FUZZ_CHECK(n < errlen, "error message not terminated within %zu bytes", errlen);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK((unsigned char)err[i] >= 0x20 && (unsigned char)err[i] <= 0x7E,
                   "error message byte 0x%02x at %zu", (unsigned char)err[i], i);
    if (full == NULL) {
        FUZZ_CHECK(n > 0, "refused without a message");
        return;
    }
    size_t fn = strlen(full);
    FUZZ_CHECK(n == (fn < errlen - 1 ? fn : errlen - 1) && memcmp(err, full, n) == 0,
               "a %zu-byte buffer got \"%s\", a roomy one \"%s\"", errlen, err, full);
}

/* ---- one parser ---- */

typedef int (*parse_fn)(const char *, size_t, void *, char *, size_t);

static int parse_evac(const char *b, size_t n, void *o, char *err, size_t errlen)
{
    return fe_evac_opts_parse(b, n, o, err, errlen);
}

static int parse_rebal(const char *b, size_t n, void *o, char *err, size_t errlen)
{
    return fe_rebal_opts_parse(b, n, o, err, errlen);
}

static char *json_evac(const void *o)
{
    return fe_evac_opts_json(o);
}

static char *json_rebal(const void *o)
{
    return fe_rebal_opts_json(o);
}

typedef struct kind {
    const char *name;
    size_t size;
    parse_fn parse;
    char *(*json)(const void *);
    void (*check)(const void *);
    void (*defaults)(void *);
} kind_t;

static void check_evac_v(const void *o)
{
    check_evac(o);
}

static void check_rebal_v(const void *o)
{
    check_rebal(o);
}

static void default_evac_v(void *o)
{
    fe_evac_opts_default(o);
}

static void default_rebal_v(void *o)
{
    fe_rebal_opts_default(o);
}

static const kind_t kinds[2] = {
    {"evac", sizeof(fe_evac_opts_t), parse_evac, json_evac, check_evac_v, default_evac_v},
    {"rebal", sizeof(fe_rebal_opts_t), parse_rebal, json_rebal, check_rebal_v, default_rebal_v},
};

static bool only_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

static void run(const kind_t *k, const char *body, size_t len, size_t errlen)
{
    unsigned char *o = malloc(k->size), *before = malloc(k->size), *again = malloc(k->size);
    char full[ERR_ROOM], full2[ERR_ROOM];
    /* errlen 0 still gets a real byte to watch. */
    char *err = malloc(errlen ? errlen : 1);
    FUZZ_CHECK(o && before && again && err, "out of memory");
    memset(o, 0xA5, k->size);
    memcpy(before, o, k->size);
    memset(err, '#', errlen ? errlen : 1);

    int rc = k->parse(body, len, o, full, sizeof full);
    FUZZ_CHECK(rc == 0 || rc == -1, "%s: returned %d", k->name, rc);
    if (only_space(body, len)) {
        FUZZ_CHECK(rc == 0, "%s: an empty body refused: %s", k->name, full);
        k->defaults(again);
        FUZZ_CHECK(memcmp(o, again, k->size) == 0, "%s: an empty body is not the defaults",
                   k->name);
    }
    /* The same again, into another struct and a buffer of errlen. */
    memset(again, 0xA5, k->size);
    int rc2 = k->parse(body, len, again, err, errlen);
    FUZZ_CHECK(rc2 == rc, "%s: %d then %d", k->name, rc, rc2);

    if (rc != 0) {
        check_message(full, sizeof full, NULL);
        if (errlen)
            check_message(err, errlen, full);
        else
            FUZZ_CHECK(err[0] == '#', "%s: wrote into a 0-byte buffer", k->name);
        FUZZ_CHECK(memcmp(o, before, k->size) == 0, "%s: a refusal changed the output", k->name);
        FUZZ_CHECK(memcmp(again, before, k->size) == 0, "%s: a refusal changed the output",
                   k->name);
        goto done;
    }
    FUZZ_CHECK(memcmp(o, again, k->size) == 0, "%s: two parses differ", k->name);
    /* Only an object (or nothing) is accepted. */
    size_t first = 0;
    while (first < len && only_space(body + first, 1))
        first++;
    FUZZ_CHECK(first == len || body[first] == '{', "%s: accepted a body starting 0x%02x", k->name,
               (unsigned char)body[first]);
    k->check(o);

    /* The writer: back to the same bytes, and the same text again. */
    char *j = k->json(o);
    FUZZ_CHECK(j != NULL, "%s: no JSON for a parsed struct", k->name);
    size_t jlen = strlen(j);
    FUZZ_CHECK(jlen <= FE_BODY_MAX, "%s: JSON of %zu bytes", k->name, jlen);
    memset(again, 0x5A, k->size);
    rc = k->parse(j, jlen, again, full2, sizeof full2);
    FUZZ_CHECK(rc == 0, "%s: own JSON refused: %s\n  json: %.2000s", k->name, full2, j);
    FUZZ_CHECK(memcmp(o, again, k->size) == 0, "%s: round trip differs\n  json: %.2000s", k->name,
               j);
    char *j2 = k->json(again);
    FUZZ_CHECK(j2 != NULL && strcmp(j, j2) == 0, "%s: JSON not a fixpoint:\n  %.2000s\n  %.2000s",
               k->name, j, j2 ? j2 : "(null)");
    free(j);
    free(j2);
done:
    free(o);
    free(before);
    free(again);
    free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    size_t errlen = errlens[(sel >> 2) & 7];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    if ((sel & 3) != 1)
        run(&kinds[0], body, len, errlen);
    if ((sel & 3) != 0)
        run(&kinds[1], body, len, errlen);
    return 0;
}
