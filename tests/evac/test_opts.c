/*
 * The evacuation and rebalance option parser and writer (src/evac/opts.h).
 * Every field is accepted at its boundaries and refused one past them, as
 * the wrong JSON type and as a lookalike, each refusal with the exact text
 * the admin API answers; then the body as a whole (empty, not an object,
 * trailing bytes, duplicate keys, bad UTF-8, over 64 KiB), the error buffer
 * (small, escaped, printable), and the JSON writer: hand-written golden
 * texts, then round trips of fixed and random structs.
 */
#include "check.h"
#include "evac/opts.h"

#include <math.h>

#define ERRLEN 256

/* ---- helpers ---- */

static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7E)
            return false;
    return true;
}

/* Prints a body that made a check fail, clipped and with bytes escaped. */
static void show_body(const char *body, size_t len)
{
    fprintf(stderr, "    body (%zu bytes): ", len);
    for (size_t i = 0; i < len && i < 200; i++) {
        unsigned char c = (unsigned char)body[i];
        if (c >= 0x20 && c <= 0x7E)
            fputc(c, stderr);
        else
            fprintf(stderr, "\\x%02X", c);
    }
    fprintf(stderr, "%s\n", len > 200 ? "..." : "");
}

/* The body in an exact-size heap copy, so ASan sees any read past len. */
static int evac_parse(const char *body, size_t len, fe_evac_opts_t *o, char *err, size_t errlen)
{
    char *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    memcpy(copy, body, len);
    int rc = fe_evac_opts_parse(copy, len, o, err, errlen);
    free(copy);
    return rc;
}

static int rebal_parse(const char *body, size_t len, fe_rebal_opts_t *o, char *err, size_t errlen)
{
    char *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    memcpy(copy, body, len);
    int rc = fe_rebal_opts_parse(copy, len, o, err, errlen);
    free(copy);
    return rc;
}

/* `want` ending in '*' is a prefix. */
static bool err_is(const char *err, const char *want)
{
    size_t n = strlen(want);
    if (n > 0 && want[n - 1] == '*')
        return strncmp(err, want, n - 1) == 0;
    return strcmp(err, want) == 0;
}

/* The body must be refused with `want`, and leave the output as it was. */
static void evac_bad_n(const char *body, size_t len, const char *want)
{
    fe_evac_opts_t o, before;
    char err[ERRLEN];
    memset(&o, 0x5A, sizeof o);
    memcpy(&before, &o, sizeof o);
    strcpy(err, "(not set)");
    int rc = evac_parse(body, len, &o, err, sizeof err);
    bool ok = CHECK_EQ_INT(rc, -1);
    if (!err_is(err, want))
        ok = CHECK_EQ_STR(err, want) && ok;
    ok = CHECK(printable(err)) && ok;
    ok = CHECK(memcmp(&o, &before, sizeof o) == 0) && ok;
    if (!ok)
        show_body(body, len);
}

static void rebal_bad_n(const char *body, size_t len, const char *want)
{
    fe_rebal_opts_t o, before;
    char err[ERRLEN];
    memset(&o, 0x5A, sizeof o);
    memcpy(&before, &o, sizeof o);
    strcpy(err, "(not set)");
    int rc = rebal_parse(body, len, &o, err, sizeof err);
    bool ok = CHECK_EQ_INT(rc, -1);
    if (!err_is(err, want))
        ok = CHECK_EQ_STR(err, want) && ok;
    ok = CHECK(printable(err)) && ok;
    ok = CHECK(memcmp(&o, &before, sizeof o) == 0) && ok;
    if (!ok)
        show_body(body, len);
}

static void evac_bad(const char *body, const char *want)
{
    evac_bad_n(body, strlen(body), want);
}

static void rebal_bad(const char *body, const char *want)
{
    rebal_bad_n(body, strlen(body), want);
}

/* The body must parse to exactly `want` (every byte, padding included:
 * the parser zeroes its struct before filling it). */
static void evac_ok_n(const char *body, size_t len, const fe_evac_opts_t *want)
{
    fe_evac_opts_t o;
    char err[ERRLEN] = "";
    memset(&o, 0x5A, sizeof o);
    int rc = evac_parse(body, len, &o, err, sizeof err);
    bool ok = CHECK_EQ_INT(rc, 0);
    if (rc != 0)
        fprintf(stderr, "    error: %s\n", err);
    else
        ok = CHECK_EQ_BYTES(&o, sizeof o, want, sizeof *want) && ok;
    if (!ok)
        show_body(body, len);
}

static void rebal_ok_n(const char *body, size_t len, const fe_rebal_opts_t *want)
{
    fe_rebal_opts_t o;
    char err[ERRLEN] = "";
    memset(&o, 0x5A, sizeof o);
    int rc = rebal_parse(body, len, &o, err, sizeof err);
    bool ok = CHECK_EQ_INT(rc, 0);
    if (rc != 0)
        fprintf(stderr, "    error: %s\n", err);
    else
        ok = CHECK_EQ_BYTES(&o, sizeof o, want, sizeof *want) && ok;
    if (!ok)
        show_body(body, len);
}

static void evac_ok(const char *body, const fe_evac_opts_t *want)
{
    evac_ok_n(body, strlen(body), want);
}

static void rebal_ok(const char *body, const fe_rebal_opts_t *want)
{
    rebal_ok_n(body, strlen(body), want);
}

static uint32_t *evac_u32(fe_evac_opts_t *o, const char *field)
{
    if (strcmp(field, "conn_evict_rate") == 0)
        return &o->conn_evict_rate;
    if (strcmp(field, "conn_evict_rate_max") == 0)
        return &o->conn_evict_rate_max;
    if (strcmp(field, "sess_evict_rate") == 0)
        return &o->sess_evict_rate;
    if (strcmp(field, "wait_takeover") == 0)
        return &o->wait_takeover_ms;
    if (strcmp(field, "wait_health_check") == 0)
        return &o->wait_health_check_ms;
    abort();
}

static uint32_t *rebal_u32(fe_rebal_opts_t *o, const char *field)
{
    if (strcmp(field, "conn_evict_rate") == 0)
        return &o->conn_evict_rate;
    if (strcmp(field, "sess_evict_rate") == 0)
        return &o->sess_evict_rate;
    if (strcmp(field, "wait_takeover") == 0)
        return &o->wait_takeover_ms;
    if (strcmp(field, "wait_health_check") == 0)
        return &o->wait_health_check_ms;
    if (strcmp(field, "abs_conn_threshold") == 0)
        return &o->abs_conn_threshold;
    if (strcmp(field, "abs_sess_threshold") == 0)
        return &o->abs_sess_threshold;
    abort();
}

#define BODY_MAX (FE_BODY_MAX + 64)

/* {"field":value} */
static const char *one(char *buf, size_t size, const char *field, const char *value)
{
    int n = snprintf(buf, size, "{\"%s\":%s}", field, value);
    if (n < 0 || (size_t)n >= size)
        abort();
    return buf;
}

/* ---- defaults and empty bodies ---- */

static void test_defaults(void)
{
    fe_evac_opts_t e;
    memset(&e, 0x5A, sizeof e);
    fe_evac_opts_default(&e);
    CHECK_EQ_INT(e.conn_evict_rate, 500);
    CHECK(!e.conn_auto);
    CHECK_EQ_INT(e.conn_evict_rate_max, 1000);
    CHECK_EQ_INT(e.sess_evict_rate, 500);
    CHECK_EQ_INT(e.wait_takeover_ms, 60000);
    CHECK_EQ_INT(e.wait_health_check_ms, 60000);
    CHECK_EQ_STR(e.redirect_to, "");
    CHECK_EQ_INT(e.n_migrate_to, 0);
    CHECK_EQ_INT(e.migrate_to[0][0], 0);
    CHECK_EQ_INT(e.migrate_to[FE_MAX_NODES - 1][FE_NODE_NAME_MAX], 0);

    fe_rebal_opts_t r;
    memset(&r, 0x5A, sizeof r);
    fe_rebal_opts_default(&r);
    CHECK_EQ_INT(r.n_nodes, 0);
    CHECK_EQ_INT(r.nodes[0][0], 0);
    CHECK_EQ_INT(r.conn_evict_rate, 500);
    CHECK_EQ_INT(r.sess_evict_rate, 500);
    CHECK_EQ_INT(r.wait_takeover_ms, 60000);
    CHECK_EQ_INT(r.wait_health_check_ms, 60000);
    CHECK_EQ_INT(r.abs_conn_threshold, 1000);
    CHECK_EQ_INT(r.abs_sess_threshold, 1000);
    CHECK(r.rel_conn_threshold == 1.1);
    CHECK(r.rel_sess_threshold == 1.1);

    /* Defaults zero the whole struct first, so that two compare equal. */
    fe_evac_opts_t e2;
    memset(&e2, 0xA5, sizeof e2);
    fe_evac_opts_default(&e2);
    CHECK_EQ_BYTES(&e, sizeof e, &e2, sizeof e2);
    fe_rebal_opts_t r2;
    memset(&r2, 0xA5, sizeof r2);
    fe_rebal_opts_default(&r2);
    CHECK_EQ_BYTES(&r, sizeof r, &r2, sizeof r2);
}

static void test_empty_bodies(void)
{
    fe_evac_opts_t e;
    fe_evac_opts_default(&e);
    fe_rebal_opts_t r;
    fe_rebal_opts_default(&r);
    static const char *const bodies[] = {"", " ", "\n", "\r\n\t  ", "{}", " { } ", "\n{\n}\n"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        evac_ok(bodies[i], &e);
        rebal_ok(bodies[i], &r);
    }

    /* NULL with length 0 is an empty body. */
    fe_evac_opts_t o;
    char err[ERRLEN];
    memset(&o, 0x5A, sizeof o);
    CHECK_EQ_INT(fe_evac_opts_parse(NULL, 0, &o, err, sizeof err), 0);
    CHECK_EQ_BYTES(&o, sizeof o, &e, sizeof e);
    fe_rebal_opts_t q;
    memset(&q, 0x5A, sizeof q);
    CHECK_EQ_INT(fe_rebal_opts_parse(NULL, 0, &q, err, sizeof err), 0);
    CHECK_EQ_BYTES(&q, sizeof q, &r, sizeof r);
    /* NULL with a length is refused, not read. */
    CHECK_EQ_INT(fe_evac_opts_parse(NULL, 5, &o, err, sizeof err), -1);
    CHECK_EQ_STR(err, "request body missing");
    CHECK_EQ_INT(fe_rebal_opts_parse(NULL, 5, &q, err, sizeof err), -1);
    CHECK_EQ_STR(err, "request body missing");

    /* Other whitespace is not JSON whitespace. */
    evac_bad("\v", "invalid JSON*");
    evac_bad("\f{}", "invalid JSON*");
    rebal_bad("\xC2\xA0", "invalid JSON*");
    /* Only len bytes are read. */
    evac_ok_n("{} trailing", 2, &e);
    rebal_ok_n("   {\"nodes\":1}", 3, &r);
}

/* ---- evacuation fields ---- */

static void test_evac_rates(void)
{
    static const char *const fields[] = {"conn_evict_rate", "conn_evict_rate_max",
                                         "sess_evict_rate"};
    static const struct {
        const char *json;
        uint32_t value;
    } good[] = {{"1", 1},   {"2", 2}, {"500", 500}, {"999999", 999999}, {"1000000", 1000000},
                {"  7 ", 7}};
    static const char *const bad[] = {
        "0",
        "-1",
        "1000001",
        "-1000000",
        "4294967296",
        "4294967297",
        "9223372036854775807",
        "1.0",
        "1e3",
        "0.5",
        "-0",
        "true",
        "false",
        "null",
        "\"5\"",
        "\"\"",
        "[]",
        "[1]",
        "{}",
        "{\"a\":1}",
        "\"Auto\"",
        "\"auto \"",
        "\"AUTO\"",
        "\"au\"",
    };
    char body[256], want[256];
    for (size_t f = 0; f < 3; f++) {
        for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
            fe_evac_opts_t w;
            fe_evac_opts_default(&w);
            *evac_u32(&w, fields[f]) = good[i].value;
            evac_ok(one(body, sizeof body, fields[f], good[i].json), &w);
        }
        snprintf(want, sizeof want, "%s: expected an integer 1..1000000%s", fields[f],
                 f == 0 ? " or \"auto\"" : "");
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            evac_bad(one(body, sizeof body, fields[f], bad[i]), want);
        /* "auto" is conn_evict_rate's alone. */
        if (f > 0)
            evac_bad(one(body, sizeof body, fields[f], "\"auto\""), want);
    }
    /* Jansson refuses integers past 64 bits: the body is bad JSON. */
    evac_bad("{\"conn_evict_rate\":99999999999999999999}", "invalid JSON*");
    evac_bad("{\"sess_evict_rate\":1e400}", "invalid JSON*");
}

static void test_evac_auto(void)
{
    fe_evac_opts_t w;
    fe_evac_opts_default(&w);
    w.conn_auto = true;
    /* The rate keeps its default under "auto": one spelling per struct. */
    evac_ok("{\"conn_evict_rate\":\"auto\"}", &w);
    w.conn_evict_rate_max = 20000;
    evac_ok("{\"conn_evict_rate_max\":20000,\"conn_evict_rate\":\"auto\"}", &w);
    evac_ok("{\"conn_evict_rate\":\"\\u0061uto\",\"conn_evict_rate_max\":20000}", &w);

    fe_evac_opts_t o;
    fe_evac_opts_default(&o);
    o.conn_evict_rate = 42;
    evac_ok("{\"conn_evict_rate\":42}", &o);
    CHECK(!o.conn_auto);
}

static void test_durations(void)
{
    static const struct {
        const char *json;
        int64_t ms; /* -1: refused */
    } cases[] = {
        {"0", 0},
        {"-0", 0},
        {"1", 1000},
        {"60", 60000},
        {"86400", 86400000},
        {"86401", -1},
        {"-1", -1},
        {"4294967", -1},
        {"4294968", -1},
        {"9223372036854775807", -1},
        {"-9223372036854775808", -1},
        {"1.0", -1},
        {"60.5", -1},
        {"1e2", -1},
        {"true", -1},
        {"false", -1},
        {"null", -1},
        {"[]", -1},
        {"[\"1s\"]", -1},
        {"{}", -1},
        {"\"0s\"", 0},
        {"\"1s\"", 1000},
        {"\"60s\"", 60000},
        {"\"86400s\"", 86400000},
        {"\"86401s\"", -1},
        {"\"0ms\"", 0},
        {"\"500ms\"", 500},
        {"\"86400000ms\"", 86400000},
        {"\"86400001ms\"", -1},
        {"\"0m\"", 0},
        {"\"2m\"", 120000},
        {"\"1440m\"", 86400000},
        {"\"1441m\"", -1},
        {"\"0h\"", 0},
        {"\"1h\"", 3600000},
        {"\"24h\"", 86400000},
        {"\"25h\"", -1},
        {"\"007s\"", 7000},
        {"\"000000000001s\"", 1000},        /* 12 digits */
        {"\"0000000000001s\"", -1},         /* 13 digits */
        {"\"999999999999h\"", -1},          /* 12 digits, far too long */
        {"\"18446744073709551617ms\"", -1}, /* 2^64 + 1: must not wrap to 1 */
        {"\"4294967297ms\"", -1},           /* 2^32 + 1 */
        {"\"99999999999999999999999999999999999999h\"", -1},
        {"\"5\"", -1},
        {"\"5x\"", -1},
        {"\"\"", -1},
        {"\"-1s\"", -1},
        {"\"+1s\"", -1},
        {"\" 1s\"", -1},
        {"\"1s \"", -1},
        {"\"1 s\"", -1},
        {"\"1.5s\"", -1},
        {"\"1e3ms\"", -1},
        {"\"s\"", -1},
        {"\"ms\"", -1},
        {"\"1S\"", -1},
        {"\"1MS\"", -1},
        {"\"1H\"", -1},
        {"\"1sec\"", -1},
        {"\"1mss\"", -1},
        {"\"1sm\"", -1},
        {"\"1hm\"", -1},
        {"\"1m1s\"", -1},
        {"\"1d\"", -1},
        {"\"1us\"", -1},
        {"\"0x10s\"", -1},
        {"\"\\uff11s\"", -1}, /* a fullwidth digit */
    };
    static const char *const fields[] = {"wait_takeover", "wait_health_check"};
    char body[256], want[256];
    for (size_t f = 0; f < 2; f++) {
        snprintf(want, sizeof want,
                 "%s: expected seconds 0..86400 or a string like \"60s\", \"500ms\", \"2m\" "
                 "(at most 24h)",
                 fields[f]);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            one(body, sizeof body, fields[f], cases[i].json);
            if (cases[i].ms < 0) {
                evac_bad(body, want);
                rebal_bad(body, want);
                continue;
            }
            fe_evac_opts_t e;
            fe_evac_opts_default(&e);
            *evac_u32(&e, fields[f]) = (uint32_t)cases[i].ms;
            evac_ok(body, &e);
            fe_rebal_opts_t r;
            fe_rebal_opts_default(&r);
            *rebal_u32(&r, fields[f]) = (uint32_t)cases[i].ms;
            rebal_ok(body, &r);
        }
    }
    /* Both at once, in either order. */
    fe_evac_opts_t e;
    fe_evac_opts_default(&e);
    e.wait_takeover_ms = 1500;
    e.wait_health_check_ms = 0;
    evac_ok("{\"wait_health_check\":0,\"wait_takeover\":\"1500ms\"}", &e);
    evac_ok("{\"wait_takeover\":\"1500ms\",\"wait_health_check\":\"0h\"}", &e);
}

static void test_redirect_to(void)
{
    const char *want = "redirect_to: expected a string of at most 1024 bytes of UTF-8 without "
                       "control characters";
    fe_evac_opts_t w;
    fe_evac_opts_default(&w);
    evac_ok("{\"redirect_to\":\"\"}", &w);
    strcpy(w.redirect_to, "mqtt://broker-2.example:1883");
    evac_ok("{\"redirect_to\":\"mqtt://broker-2.example:1883\"}", &w);
    strcpy(w.redirect_to, "b:1883 \"q\" \\ / \xC2\xA0\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80~");
    evac_ok("{\"redirect_to\":\"b:1883 \\\"q\\\" \\\\ \\/ \\u00a0\xC3\xA9\\u20AC\\ud83d\\ude00~\"}",
            &w);

    /* 1024 bytes, ASCII and two-byte characters; 1025 is one too many. */
    static char body[BODY_MAX];
    char val[FE_REF_MAX + 2];
    memset(val, 'r', FE_REF_MAX);
    val[FE_REF_MAX] = '\0';
    fe_evac_opts_default(&w);
    strcpy(w.redirect_to, val);
    snprintf(body, sizeof body, "{\"redirect_to\":\"%s\"}", val);
    evac_ok(body, &w);
    strcat(val, "r");
    snprintf(body, sizeof body, "{\"redirect_to\":\"%s\"}", val);
    evac_bad(body, want);
    for (size_t i = 0; i < FE_REF_MAX; i += 2)
        memcpy(val + i, "\xC3\xA9", 2);
    val[FE_REF_MAX] = '\0';
    strcpy(w.redirect_to, val);
    snprintf(body, sizeof body, "{\"redirect_to\":\"%s\"}", val);
    evac_ok(body, &w);
    /* One more two-byte character: 1026 bytes, though 513 characters. */
    snprintf(body, sizeof body, "{\"redirect_to\":\"%s\xC3\xA9\"}", val);
    evac_bad(body, want);
    /* An escape counts as what it decodes to: 1024 bytes from 6-byte escapes. */
    size_t o = (size_t)snprintf(body, sizeof body, "{\"redirect_to\":\"");
    for (size_t i = 0; i < FE_REF_MAX; i++)
        o += (size_t)snprintf(body + o, sizeof body - o, "\\u0041");
    snprintf(body + o, sizeof body - o, "\"}");
    memset(w.redirect_to, 'A', FE_REF_MAX);
    w.redirect_to[FE_REF_MAX] = '\0';
    evac_ok(body, &w);

    /* Control characters: C0 (escaped; raw ones are bad JSON), DEL, C1. */
    static const char *const controls[] = {
        "\\u0001", "\\u001f", "\\t",    "\\n",      "\\r",     "\\b",      "\\f",     "a\\u0007b",
        "\x7F",    "\\u007f", "x\x7Fy", "\xC2\x80", "\\u0080", "\xC2\x9F", "\\u009F", "abc\xC2\x85",
    };
    for (size_t i = 0; i < sizeof controls / sizeof controls[0]; i++) {
        snprintf(body, sizeof body, "{\"redirect_to\":\"%s\"}", controls[i]);
        evac_bad(body, want);
    }
    /* U+0000 jansson itself refuses; raw control bytes too. */
    evac_bad("{\"redirect_to\":\"a\\u0000\"}", "invalid JSON*");
    evac_bad_n("{\"redirect_to\":\"a\0\"}", 20, "invalid JSON*");
    evac_bad("{\"redirect_to\":\"a\x01\"}", "invalid JSON*");
    evac_bad("{\"redirect_to\":\"\t\"}", "invalid JSON*");
    /* Neighbours of the C1 range are fine. */
    fe_evac_opts_default(&w);
    strcpy(w.redirect_to, "\xC2\xA0\xC2\xBF\xC3\x80~");
    evac_ok("{\"redirect_to\":\"\xC2\xA0\xC2\xBF\xC3\x80~\"}", &w);

    /* Invalid UTF-8 never reaches the field: jansson refuses it. */
    static const char *const bad_utf8[] = {
        "\xFF",     "\xC3\x28", "\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80",
        "\xE2\x82", "\x80",     "\\ud800",  "\\udc00x",     "\\ud83dx",
    };
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
        snprintf(body, sizeof body, "{\"redirect_to\":\"%s\"}", bad_utf8[i]);
        evac_bad(body, "invalid JSON*");
    }

    static const char *const wrong_type[] = {"1", "null", "true", "[\"a\"]", "{}", "1.5"};
    for (size_t i = 0; i < sizeof wrong_type / sizeof wrong_type[0]; i++) {
        snprintf(body, sizeof body, "{\"redirect_to\":%s}", wrong_type[i]);
        evac_bad(body, want);
    }
}

/* ---- node lists: migrate_to and nodes ---- */

/* A node name of `len` characters made from `seed`, from the whole set. */
static void make_name(char *out, size_t len, unsigned seed)
{
    static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-@:";
    for (size_t i = 0; i < len; i++)
        out[i] = set[(seed * 7 + i * 13) % (sizeof set - 1)];
    out[len] = '\0';
}

/* {"field":[names...]} */
static void nodes_body(char *body, size_t size, const char *field,
                       const char names[][FE_NODE_NAME_MAX + 1], size_t n)
{
    size_t o = (size_t)snprintf(body, size, "{\"%s\":[", field);
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(body + o, size - o, "%s\"%s\"", i ? "," : "", names[i]);
    snprintf(body + o, size - o, "]}");
}

static void nodes_ok(bool evac, const char names[][FE_NODE_NAME_MAX + 1], size_t n)
{
    static char body[BODY_MAX];
    if (evac) {
        static fe_evac_opts_t w;
        fe_evac_opts_default(&w);
        w.n_migrate_to = n;
        memcpy(w.migrate_to, names, n * sizeof names[0]);
        nodes_body(body, sizeof body, "migrate_to", names, n);
        evac_ok(body, &w);
    } else {
        static fe_rebal_opts_t w;
        fe_rebal_opts_default(&w);
        w.n_nodes = n;
        memcpy(w.nodes, names, n * sizeof names[0]);
        nodes_body(body, sizeof body, "nodes", names, n);
        rebal_ok(body, &w);
    }
}

static void nodes_bad(bool evac, const char *value, const char *want_rest)
{
    const char *field = evac ? "migrate_to" : "nodes";
    static char body[BODY_MAX];
    char want[512];
    snprintf(body, sizeof body, "{\"%s\":%s}", field, value);
    snprintf(want, sizeof want, "%s%s", field, want_rest);
    if (evac)
        evac_bad(body, want);
    else
        rebal_bad(body, want);
}

static void test_node_lists(void)
{
    static char names[FE_MAX_NODES + 1][FE_NODE_NAME_MAX + 1];
    static char body[BODY_MAX];
    const char *not_array = ": expected a non-empty array of at most 64 node names";
    const char *entry = ": expected a node name: 1..255 characters of A-Z a-z 0-9 . _ - @ :";
    char want[512];
    for (int evac = 1; evac >= 0; evac--) {
        /* Rows are zeroed before each use: the parser's struct is. */
        memset(names, 0, sizeof names);
        strcpy(names[0], "n1");
        nodes_ok(evac, names, 1);
        strcpy(names[0], "ferrymq@node-1.example:7946");
        strcpy(names[1], "A_Z.a-z@0:9");
        nodes_ok(evac, names, 2);
        /* Case matters: these are two nodes. */
        memset(names, 0, sizeof names);
        strcpy(names[0], "node");
        strcpy(names[1], "NODE");
        nodes_ok(evac, names, 2);
        /* 64 names of 255 characters (16 KiB); then 65. */
        for (unsigned i = 0; i <= FE_MAX_NODES; i++)
            make_name(names[i], FE_NODE_NAME_MAX, i);
        nodes_ok(evac, names, FE_MAX_NODES);
        nodes_body(body, sizeof body, evac ? "migrate_to" : "nodes", names, FE_MAX_NODES + 1);
        snprintf(want, sizeof want, "%s%s", evac ? "migrate_to" : "nodes", not_array);
        if (evac)
            evac_bad(body, want);
        else
            rebal_bad(body, want);
        memset(names[0], 0, sizeof names[0]);
        make_name(names[0], 1, 3);
        nodes_ok(evac, names, 1);

        static const char *const not_arrays[] = {"[]", "\"n1\"",     "null", "1",
                                                 "{}", "{\"n1\":1}", "true"};
        for (size_t i = 0; i < sizeof not_arrays / sizeof not_arrays[0]; i++)
            nodes_bad(evac, not_arrays[i], not_array);

        /* Entries: each bad one named by its index. */
        static const struct {
            const char *list;
            int index;
        } bad_entries[] = {
            {"[\"\"]", 0},
            {"[1]", 0},
            {"[null]", 0},
            {"[[\"a\"]]", 0},
            {"[\"a\",\"b c\"]", 1},
            {"[\"a/b\"]", 0},
            {"[\"a\",\"b\",\"c#\"]", 2},
            {"[\"\xC3\xA9t\xC3\xA9\"]", 0},
            {"[\"a\\u007f\"]", 0},
            {"[\"a\\tb\"]", 0},
            {"[\"a\\\"\"]", 0},
            {"[\"+\"]", 0},
            {"[\"a,b\"]", 0},
            {"[\"ok\",true]", 1},
        };
        for (size_t i = 0; i < sizeof bad_entries / sizeof bad_entries[0]; i++) {
            char rest[512];
            snprintf(rest, sizeof rest, "[%d]%s", bad_entries[i].index, entry);
            nodes_bad(evac, bad_entries[i].list, rest);
        }
        /* 256 characters. */
        char longname[FE_NODE_NAME_MAX + 2];
        memset(longname, 'x', FE_NODE_NAME_MAX + 1);
        longname[FE_NODE_NAME_MAX + 1] = '\0';
        snprintf(body, sizeof body, "[\"ok\",\"%s\"]", longname);
        char rest[512];
        snprintf(rest, sizeof rest, "[1]%s", entry);
        nodes_bad(evac, body, rest);

        /* Duplicates: the later one is named, quoted and clipped. */
        nodes_bad(evac, "[\"a\",\"b\",\"a\"]", "[2]: duplicate node \"a\"");
        nodes_bad(evac, "[\"n1\",\"n1\"]", "[1]: duplicate node \"n1\"");
        nodes_bad(evac, "[\"n1\",\"\\u006e1\"]", "[1]: duplicate node \"n1\"");
        longname[FE_NODE_NAME_MAX] = '\0';
        snprintf(body, sizeof body, "[\"%s\",\"%s\"]", longname, longname);
        nodes_bad(evac, body,
                  "[1]: duplicate node \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\"");
    }
}

/* ---- rebalance fields ---- */

static void test_rebal_rates(void)
{
    static const char *const fields[] = {"conn_evict_rate", "sess_evict_rate", "abs_conn_threshold",
                                         "abs_sess_threshold"};
    static const uint32_t max[] = {1000000, 1000000, 100000000, 100000000};
    static const char *const bad[] = {"0",    "-1",    "1.0",      "1e3", "true", "false",
                                      "null", "\"5\"", "\"auto\"", "[]",  "{}",   "4294967297"};
    char body[256], want[256], num[32];
    for (size_t f = 0; f < 4; f++) {
        const uint32_t good[] = {1, 2, 1000, max[f] - 1, max[f]};
        for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
            fe_rebal_opts_t w;
            fe_rebal_opts_default(&w);
            *rebal_u32(&w, fields[f]) = good[i];
            snprintf(num, sizeof num, "%u", good[i]);
            rebal_ok(one(body, sizeof body, fields[f], num), &w);
        }
        snprintf(want, sizeof want, "%s: expected an integer 1..%u", fields[f], max[f]);
        snprintf(num, sizeof num, "%u", max[f] + 1);
        rebal_bad(one(body, sizeof body, fields[f], num), want);
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            rebal_bad(one(body, sizeof body, fields[f], bad[i]), want);
    }
}

static void test_rebal_rel(void)
{
    static const struct {
        const char *json;
        double value; /* 0: refused */
    } cases[] = {
        {"1.1", 1.1},
        {"2", 2.0},
        {"2.0", 2.0},
        {"1.0000000000000002", 1.0000000000000002},
        {"1.5e1", 15.0},
        {"100", 100.0},
        {"100.0", 100.0},
        {"1e2", 100.0},
        {"1", 0},
        {"1.0", 0},
        {"0.5", 0},
        {"0", 0},
        {"-2", 0},
        {"-1.5", 0},
        {"100.00000000000001", 0},
        {"101", 0},
        {"1e308", 0},
        {"9223372036854775807", 0},
        {"\"1.5\"", 0},
        {"true", 0},
        {"null", 0},
        {"[1.5]", 0},
        {"{}", 0},
    };
    static const char *const fields[] = {"rel_conn_threshold", "rel_sess_threshold"};
    char body[256], want[256];
    for (size_t f = 0; f < 2; f++) {
        snprintf(want, sizeof want, "%s: expected a number greater than 1.0 and at most 100",
                 fields[f]);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            one(body, sizeof body, fields[f], cases[i].json);
            if (cases[i].value == 0) {
                rebal_bad(body, want);
                continue;
            }
            fe_rebal_opts_t w;
            fe_rebal_opts_default(&w);
            if (f == 0)
                w.rel_conn_threshold = cases[i].value;
            else
                w.rel_sess_threshold = cases[i].value;
            rebal_ok(body, &w);
        }
    }
    rebal_bad("{\"rel_conn_threshold\":1e400}", "invalid JSON*");
    rebal_bad("{\"rel_conn_threshold\":NaN}", "invalid JSON*");
    rebal_bad("{\"rel_conn_threshold\":Infinity}", "invalid JSON*");
}

static void test_rebal_all_fields(void)
{
    fe_rebal_opts_t w;
    fe_rebal_opts_default(&w);
    w.n_nodes = 2;
    strcpy(w.nodes[0], "n1");
    strcpy(w.nodes[1], "n2");
    w.conn_evict_rate = 10;
    w.sess_evict_rate = 20;
    w.wait_takeover_ms = 5000;
    w.wait_health_check_ms = 3000;
    w.abs_conn_threshold = 30;
    w.abs_sess_threshold = 40;
    w.rel_conn_threshold = 1.5;
    w.rel_sess_threshold = 2.25;
    rebal_ok("{\"nodes\":[\"n1\",\"n2\"],\"conn_evict_rate\":10,\"sess_evict_rate\":20,"
             "\"wait_takeover\":5,\"wait_health_check\":\"3s\",\"abs_conn_threshold\":30,"
             "\"abs_sess_threshold\":40,\"rel_conn_threshold\":1.5,\"rel_sess_threshold\":2.25}",
             &w);

    fe_evac_opts_t e;
    fe_evac_opts_default(&e);
    e.conn_evict_rate = 200;
    e.conn_evict_rate_max = 300;
    e.sess_evict_rate = 100;
    e.wait_takeover_ms = 5000;
    e.wait_health_check_ms = 180000;
    strcpy(e.redirect_to, "other:1883");
    e.n_migrate_to = 1;
    strcpy(e.migrate_to[0], "n3");
    evac_ok(" {\n  \"conn_evict_rate\": 200, \"conn_evict_rate_max\": 300,\n"
            "  \"sess_evict_rate\": 100, \"wait_takeover\": \"5s\",\n"
            "  \"wait_health_check\": \"3m\", \"redirect_to\": \"other:1883\",\n"
            "  \"migrate_to\": [ \"n3\" ]\n}\n",
            &e);
}

/* ---- the body as a whole ---- */

static void test_unknown_fields(void)
{
    /* Each parser knows its own fields only, spelt exactly. */
    evac_bad("{\"nodes\":[\"n1\"]}", "unknown field \"nodes\"");
    evac_bad("{\"abs_conn_threshold\":5}", "unknown field \"abs_conn_threshold\"");
    evac_bad("{\"rel_sess_threshold\":5}", "unknown field \"rel_sess_threshold\"");
    evac_bad("{\"Conn_evict_rate\":5}", "unknown field \"Conn_evict_rate\"");
    evac_bad("{\"conn_evict_rate \":5}", "unknown field \"conn_evict_rate \"");
    evac_bad("{\"wait_takeover_ms\":5}", "unknown field \"wait_takeover_ms\"");
    evac_bad("{\"\":5}", "unknown field \"\"");
    evac_bad("{\"foo\":null}", "unknown field \"foo\"");
    rebal_bad("{\"migrate_to\":[\"n1\"]}", "unknown field \"migrate_to\"");
    rebal_bad("{\"redirect_to\":\"\"}", "unknown field \"redirect_to\"");
    rebal_bad("{\"conn_evict_rate_max\":5}", "unknown field \"conn_evict_rate_max\"");
    rebal_bad("{\"node\":[\"n1\"]}", "unknown field \"node\"");
    /* After good fields, the unknown one is still refused. */
    evac_bad("{\"conn_evict_rate\":5,\"sess_evict_rate\":5,\"x\":1}", "unknown field \"x\"");
    /* The first bad field in the body is the one named. */
    evac_bad("{\"x\":1,\"conn_evict_rate\":0}", "unknown field \"x\"");
    evac_bad("{\"conn_evict_rate\":0,\"x\":1}",
             "conn_evict_rate: expected an integer 1..1000000 or \"auto\"");

    /* Hostile names: escaped, clipped to 40 bytes, printable. */
    evac_bad("{\"a\\\"b\\\\c\":1}", "unknown field \"a\\\"b\\\\c\"");
    evac_bad("{\"\\u0001\\u001b[31m\\u007f\xC3\xA9\":1}",
             "unknown field \"\\x01\\x1B[31m\\x7F\\xC3\\xA9\"");
    static char body[BODY_MAX];
    char key[2048];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    snprintf(body, sizeof body, "{\"%s\":1}", key);
    evac_bad(body, "unknown field \"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...\"");
    /* 40 two-byte characters: cut at 40 bytes, in the middle of none here. */
    size_t o = 0;
    for (int i = 0; i < 50; i++)
        o += (size_t)snprintf(key + o, sizeof key - o, "\xC3\xA9");
    snprintf(body, sizeof body, "{\"%s\":1}", key);
    char want[512] = "unknown field \"";
    for (int i = 0; i < 20; i++)
        strcat(want, "\\xC3\\xA9");
    strcat(want, "...\"");
    rebal_bad(body, want);
    /* 40 bytes exactly: no "...". */
    snprintf(body, sizeof body, "{\"%.40s\":1}", "0123456789012345678901234567890123456789xyz");
    rebal_bad(body, "unknown field \"0123456789012345678901234567890123456789\"");
    snprintf(body, sizeof body, "{\"%.41s\":1}", "0123456789012345678901234567890123456789xyz");
    rebal_bad(body, "unknown field \"0123456789012345678901234567890123456789...\"");
}

static void test_not_an_object(void)
{
    static const char *const bodies[] = {"[]",   "[1]",  "[{}]",  "5",      "-1",      "1.5",
                                         "null", "true", "false", "\"{}\"", " [ ] \n", "\"\""};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        evac_bad(bodies[i], "expected a JSON object");
        rebal_bad(bodies[i], "expected a JSON object");
    }
}

static void test_bad_json(void)
{
    static const char *const bodies[] = {
        "{",
        "}",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{,}",
        "{'a':1}",
        "{a:1}",
        "{} x",
        "{}{}",
        "{},",
        "{} {",
        "{}\x01",
        "{}/*c*/",
        "{\"a\":1",
        "{\"wait_takeover\":tru}",
        "\xEF\xBB\xBF{}",
        "{\"a\":01}",
        "{\"a\":+1}",
        "{\"a\":.5}",
        "{\"a\":0x10}",
        "{\"a\":\"\\x41\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"unterminated}",
        "{\"a\":[1,2}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        evac_bad(bodies[i], "invalid JSON*");
        rebal_bad(bodies[i], "invalid JSON*");
    }
    /* A NUL byte inside the length. */
    evac_bad_n("{}\0", 3, "invalid JSON*");
    rebal_bad_n("{\0}", 3, "invalid JSON*");

    /* Duplicate keys, known and unknown, are refused (not "last one wins"). */
    evac_bad("{\"conn_evict_rate\":1,\"conn_evict_rate\":2}", "invalid JSON*");
    rebal_bad("{\"nodes\":[\"a\"],\"nodes\":[\"b\"]}", "invalid JSON*");
    evac_bad("{\"x\":1,\"x\":1}", "invalid JSON*");
    /* Spelt differently, the same key. */
    rebal_bad("{\"conn_evict_rate\":1,\"conn_evict_r\\u0061te\":1}", "invalid JSON*");

    fe_evac_opts_t o;
    char err[ERRLEN];
    const char *dup = "{\"conn_evict_rate\":1,\"conn_evict_rate\":2}";
    CHECK_EQ_INT(fe_evac_opts_parse(dup, strlen(dup), &o, err, sizeof err), -1);
    CHECK(strstr(err, "duplicate") != NULL);
    /* Where jansson stopped is in the message. */
    const char *trail = "{}\n  x";
    CHECK_EQ_INT(fe_evac_opts_parse(trail, strlen(trail), &o, err, sizeof err), -1);
    CHECK(strstr(err, "line 2") != NULL);

    /* Jansson's message quotes the body: bytes come out escaped. */
    const char *hostile = "{\"a\x7F\xC3\xA9\x1B[2J";
    CHECK_EQ_INT(fe_evac_opts_parse(hostile, strlen(hostile), &o, err, sizeof err), -1);
    CHECK(printable(err));
    CHECK(strstr(err, "'\"a\\x7F\\xC3\\xA9'") != NULL);
    CHECK(strchr(err, 0x7F) == NULL);
    const char *hostile3 = "{}\x1B[2J";
    CHECK_EQ_INT(fe_evac_opts_parse(hostile3, strlen(hostile3), &o, err, sizeof err), -1);
    CHECK(printable(err));
    CHECK(strstr(err, "'\\x1B'") != NULL);
    const char *hostile2 = "{\"a\":tru\x01\x02\xFF}";
    fe_rebal_opts_t r;
    CHECK_EQ_INT(fe_rebal_opts_parse(hostile2, strlen(hostile2), &r, err, sizeof err), -1);
    CHECK(printable(err));
    CHECK(err_is(err, "invalid JSON*"));
}

static void test_body_limit(void)
{
    static char body[BODY_MAX];
    fe_evac_opts_t e;
    fe_evac_opts_default(&e);
    e.sess_evict_rate = 9;
    fe_rebal_opts_t r;
    fe_rebal_opts_default(&r);
    r.sess_evict_rate = 9;

    /* Exactly 65536 bytes: read. */
    memset(body, ' ', FE_BODY_MAX + 1);
    memcpy(body, "{\"sess_evict_rate\":9}", 21);
    evac_ok_n(body, FE_BODY_MAX, &e);
    rebal_ok_n(body, FE_BODY_MAX, &r);
    memcpy(body + FE_BODY_MAX - 1, "}", 1);
    evac_bad_n(body, FE_BODY_MAX, "invalid JSON*");
    /* One more: refused before parsing, whatever it holds. */
    memset(body, ' ', FE_BODY_MAX + 1);
    memcpy(body, "{\"sess_evict_rate\":9}", 21);
    evac_bad_n(body, FE_BODY_MAX + 1, "request body over 65536 bytes");
    rebal_bad_n(body, FE_BODY_MAX + 1, "request body over 65536 bytes");
    memset(body, ' ', FE_BODY_MAX + 1);
    evac_bad_n(body, FE_BODY_MAX + 1, "request body over 65536 bytes");
    /* Not even read: a huge length with a small buffer is refused at once. */
    fe_evac_opts_t o;
    char err[ERRLEN];
    CHECK_EQ_INT(fe_evac_opts_parse("{}", SIZE_MAX, &o, err, sizeof err), -1);
    CHECK_EQ_STR(err, "request body over 65536 bytes");
}

static void test_error_buffer(void)
{
    const char *body = "{\"conn_evict_rate\":0}";
    const char *full = "conn_evict_rate: expected an integer 1..1000000 or \"auto\"";
    fe_evac_opts_t o;
    char err[ERRLEN];

    /* Shorter buffers get a NUL-terminated prefix and nothing past errlen. */
    static const size_t lens[] = {1, 2, 8, 16, 57, 58, 59, 60};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        size_t n = lens[i];
        memset(err, '#', sizeof err);
        CHECK_EQ_INT(fe_evac_opts_parse(body, strlen(body), &o, err, n), -1);
        size_t want = strlen(full) < n - 1 ? strlen(full) : n - 1;
        CHECK_EQ_INT(strnlen(err, sizeof err), want);
        CHECK_EQ_BYTES(err, want, full, want);
        CHECK_EQ_INT(err[n], '#');
    }
    /* errlen 0 writes nothing; a NULL err is allowed. */
    memset(err, '#', sizeof err);
    CHECK_EQ_INT(fe_evac_opts_parse(body, strlen(body), &o, err, 0), -1);
    CHECK_EQ_INT(err[0], '#');
    CHECK_EQ_INT(fe_evac_opts_parse(body, strlen(body), &o, NULL, 0), -1);
    fe_rebal_opts_t r;
    CHECK_EQ_INT(fe_rebal_opts_parse("[]", 2, &r, NULL, 0), -1);
    /* An escaped name that would overflow is cut, still printable. */
    char small[24];
    const char *hostile = "{\"\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\":1}";
    CHECK_EQ_INT(fe_evac_opts_parse(hostile, strlen(hostile), &o, small, sizeof small), -1);
    CHECK_EQ_STR(small, "unknown field \"\\x01\\x02");
    CHECK(printable(small));
}

static void test_error_keeps_output(void)
{
    /* A good field before a bad one changes nothing in the output. */
    fe_evac_opts_t e, before;
    fe_evac_opts_default(&e);
    e.conn_evict_rate = 77;
    memcpy(&before, &e, sizeof e);
    char err[ERRLEN];
    const char *body = "{\"sess_evict_rate\":5,\"migrate_to\":[\"a\"],\"redirect_to\":\"x\","
                       "\"wait_takeover\":\"1d\"}";
    CHECK_EQ_INT(fe_evac_opts_parse(body, strlen(body), &e, err, sizeof err), -1);
    CHECK_EQ_BYTES(&e, sizeof e, &before, sizeof before);

    fe_rebal_opts_t r, rbefore;
    memset(&r, 0x33, sizeof r);
    memcpy(&rbefore, &r, sizeof r);
    body = "{\"nodes\":[\"a\",\"b\"],\"rel_conn_threshold\":3,\"nodes2\":1}";
    CHECK_EQ_INT(fe_rebal_opts_parse(body, strlen(body), &r, err, sizeof err), -1);
    CHECK_EQ_BYTES(&r, sizeof r, &rbefore, sizeof rbefore);
    CHECK_EQ_STR(err, "unknown field \"nodes2\"");

    /* A success replaces the whole struct: fields left out get defaults,
     * not what the struct held. */
    fe_evac_opts_t d;
    fe_evac_opts_default(&d);
    d.sess_evict_rate = 5;
    CHECK_EQ_INT(fe_evac_opts_parse("{\"sess_evict_rate\":5}", 21, &e, err, sizeof err), 0);
    CHECK_EQ_BYTES(&e, sizeof e, &d, sizeof d);
}

/* ---- the writer ---- */

static void test_json_golden(void)
{
    fe_evac_opts_t e;
    fe_evac_opts_default(&e);
    char *j = fe_evac_opts_json(&e);
    CHECK_EQ_STR(j, "{\"conn_evict_rate\":500,\"conn_evict_rate_max\":1000,"
                    "\"sess_evict_rate\":500,\"wait_takeover\":\"60000ms\","
                    "\"wait_health_check\":\"60000ms\",\"redirect_to\":\"\"}");
    free(j);

    e.conn_auto = true;
    e.conn_evict_rate_max = 2000;
    e.sess_evict_rate = 7;
    e.wait_takeover_ms = 1500;
    e.wait_health_check_ms = 0;
    strcpy(e.redirect_to, "mqtt://b:1883/\"x\"\\\xC3\xA9");
    e.n_migrate_to = 2;
    strcpy(e.migrate_to[0], "n2");
    strcpy(e.migrate_to[1], "n3@h:1");
    j = fe_evac_opts_json(&e);
    CHECK_EQ_STR(j, "{\"conn_evict_rate\":\"auto\",\"conn_evict_rate_max\":2000,"
                    "\"sess_evict_rate\":7,\"wait_takeover\":\"1500ms\","
                    "\"wait_health_check\":\"0ms\",\"redirect_to\":\"mqtt://b:1883/\\\"x\\\"\\\\"
                    "\xC3\xA9\",\"migrate_to\":[\"n2\",\"n3@h:1\"]}");
    free(j);

    fe_rebal_opts_t r;
    fe_rebal_opts_default(&r);
    j = fe_rebal_opts_json(&r);
    CHECK_EQ_STR(j, "{\"conn_evict_rate\":500,\"sess_evict_rate\":500,"
                    "\"wait_takeover\":\"60000ms\",\"wait_health_check\":\"60000ms\","
                    "\"abs_conn_threshold\":1000,\"rel_conn_threshold\":1.1,"
                    "\"abs_sess_threshold\":1000,\"rel_sess_threshold\":1.1}");
    free(j);

    r.n_nodes = 1;
    strcpy(r.nodes[0], "n1");
    r.conn_evict_rate = 1;
    r.sess_evict_rate = 1000000;
    r.wait_takeover_ms = 86400000;
    r.wait_health_check_ms = 1;
    r.abs_conn_threshold = 100000000;
    r.abs_sess_threshold = 1;
    r.rel_conn_threshold = 100.0;
    r.rel_sess_threshold = 1.0000000000000002;
    j = fe_rebal_opts_json(&r);
    CHECK_EQ_STR(j, "{\"nodes\":[\"n1\"],\"conn_evict_rate\":1,\"sess_evict_rate\":1000000,"
                    "\"wait_takeover\":\"86400000ms\",\"wait_health_check\":\"1ms\","
                    "\"abs_conn_threshold\":100000000,\"rel_conn_threshold\":100.0,"
                    "\"abs_sess_threshold\":1,\"rel_sess_threshold\":1.0000000000000002}");
    free(j);
}

static void test_json_refuses(void)
{
    /* Structs the writer cannot write as JSON the parser would take. */
    fe_evac_opts_t e;
    fe_evac_opts_default(&e);
    e.n_migrate_to = FE_MAX_NODES + 1;
    CHECK(fe_evac_opts_json(&e) == NULL);
    fe_evac_opts_default(&e);
    strcpy(e.redirect_to, "\xFF");
    CHECK(fe_evac_opts_json(&e) == NULL);
    fe_rebal_opts_t r;
    fe_rebal_opts_default(&r);
    r.n_nodes = FE_MAX_NODES + 1;
    /* Row 64 would be the bytes after the array: make them a valid name
     * ("aa"), so that only the count can refuse it. */
    r.conn_evict_rate = 0x6161;
    CHECK(fe_rebal_opts_json(&r) == NULL);
    fe_rebal_opts_default(&r);
    r.rel_sess_threshold = NAN;
    CHECK(fe_rebal_opts_json(&r) == NULL);
    /* Unterminated strings are read within their arrays only. */
    fe_evac_opts_default(&e);
    memset(e.redirect_to, 'r', sizeof e.redirect_to);
    e.n_migrate_to = 1;
    memset(e.migrate_to[0], 'm', sizeof e.migrate_to[0]);
    char *j = fe_evac_opts_json(&e);
    if (!CHECK(j != NULL))
        return;
    fe_evac_opts_t back;
    char err[ERRLEN] = "";
    CHECK_EQ_INT(fe_evac_opts_parse(j, strlen(j), &back, err, sizeof err), 0);
    CHECK_EQ_STR(err, "");
    CHECK_EQ_INT(strlen(back.redirect_to), FE_REF_MAX);
    CHECK_EQ_INT(back.n_migrate_to, 1);
    CHECK_EQ_INT(strlen(back.migrate_to[0]), FE_NODE_NAME_MAX);
    free(j);
}

/* ---- round trips ---- */

static void evac_roundtrip(const fe_evac_opts_t *in)
{
    char *j = fe_evac_opts_json(in);
    if (!CHECK(j != NULL))
        return;
    CHECK(strlen(j) <= FE_BODY_MAX);
    fe_evac_opts_t out;
    char err[ERRLEN] = "";
    memset(&out, 0x5A, sizeof out);
    int rc = fe_evac_opts_parse(j, strlen(j), &out, err, sizeof err);
    bool ok = CHECK_EQ_INT(rc, 0);
    if (rc == 0)
        ok = CHECK_EQ_BYTES(&out, sizeof out, in, sizeof *in) && ok;
    char *j2 = rc == 0 ? fe_evac_opts_json(&out) : NULL;
    ok = CHECK_EQ_STR(j2, j) && ok;
    if (!ok)
        fprintf(stderr, "    json: %.300s\n    error: %s\n", j, err);
    free(j);
    free(j2);
}

static void rebal_roundtrip(const fe_rebal_opts_t *in)
{
    char *j = fe_rebal_opts_json(in);
    if (!CHECK(j != NULL))
        return;
    CHECK(strlen(j) <= FE_BODY_MAX);
    fe_rebal_opts_t out;
    char err[ERRLEN] = "";
    memset(&out, 0x5A, sizeof out);
    int rc = fe_rebal_opts_parse(j, strlen(j), &out, err, sizeof err);
    bool ok = CHECK_EQ_INT(rc, 0);
    if (rc == 0)
        ok = CHECK_EQ_BYTES(&out, sizeof out, in, sizeof *in) && ok;
    char *j2 = rc == 0 ? fe_rebal_opts_json(&out) : NULL;
    ok = CHECK_EQ_STR(j2, j) && ok;
    if (!ok)
        fprintf(stderr, "    json: %.300s\n    error: %s\n", j, err);
    free(j);
    free(j2);
}

static void test_roundtrip_fixed(void)
{
    static fe_evac_opts_t e;
    fe_evac_opts_default(&e);
    evac_roundtrip(&e);
    e.conn_auto = true;
    evac_roundtrip(&e);
    e.conn_auto = false;
    e.conn_evict_rate = 1;
    e.conn_evict_rate_max = FE_RATE_MAX;
    e.sess_evict_rate = FE_RATE_MAX;
    e.wait_takeover_ms = FE_DURATION_MAX_MS;
    e.wait_health_check_ms = 0;
    memset(e.redirect_to, '~', FE_REF_MAX);
    e.n_migrate_to = FE_MAX_NODES;
    for (unsigned i = 0; i < FE_MAX_NODES; i++)
        make_name(e.migrate_to[i], FE_NODE_NAME_MAX, i);
    evac_roundtrip(&e);

    static fe_rebal_opts_t r;
    fe_rebal_opts_default(&r);
    rebal_roundtrip(&r);
    r.n_nodes = FE_MAX_NODES;
    for (unsigned i = 0; i < FE_MAX_NODES; i++)
        make_name(r.nodes[i], FE_NODE_NAME_MAX, i + 100);
    r.rel_conn_threshold = nextafter(1.0, 2.0);
    r.rel_sess_threshold = 100.0;
    r.abs_conn_threshold = 100000000;
    rebal_roundtrip(&r);
    r.rel_conn_threshold = 1.0 / 3.0 + 1.0;
    r.rel_sess_threshold = nextafter(100.0, 0.0);
    rebal_roundtrip(&r);
}

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static uint32_t pick(uint64_t *s, uint32_t lo, uint32_t hi)
{
    /* Ends more often than the middle. */
    switch (next(s) % 8) {
    case 0:
        return lo;
    case 1:
        return hi;
    default:
        return lo + (uint32_t)(next(s) % ((uint64_t)hi - lo + 1));
    }
}

static void random_nodes(uint64_t *s, char names[][FE_NODE_NAME_MAX + 1], size_t *n)
{
    static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-@:";
    *n = next(s) % 3 == 0 ? 0 : pick(s, 1, FE_MAX_NODES);
    for (size_t i = 0; i < *n; i++) {
        for (;;) {
            size_t len = pick(s, 1, next(s) % 4 ? 12 : FE_NODE_NAME_MAX);
            for (size_t k = 0; k < len; k++)
                names[i][k] = set[next(s) % (sizeof set - 1)];
            names[i][len] = '\0';
            bool dup = false;
            for (size_t k = 0; k < i; k++)
                dup = dup || strcmp(names[k], names[i]) == 0;
            if (!dup)
                break;
            memset(names[i], 0, FE_NODE_NAME_MAX + 1);
        }
    }
}

static void random_ref(uint64_t *s, char *out)
{
    /* Pieces that JSON must escape or that are multi-byte UTF-8. */
    static const char *const pieces[] = {"a",
                                         "Z",
                                         "9",
                                         " ",
                                         "\"",
                                         "\\",
                                         "/",
                                         ":",
                                         "\xC2\xA0",
                                         "\xC3\xA9",
                                         "\xE2\x82\xAC",
                                         "\xF0\x9F\x98\x80",
                                         "\xEF\xBF\xBF",
                                         "\xC2\xBF",
                                         "~"};
    size_t len = 0, want = next(s) % 4 == 0 ? FE_REF_MAX : next(s) % 64;
    while (len < want) {
        const char *p = pieces[next(s) % (sizeof pieces / sizeof pieces[0])];
        size_t n = strlen(p);
        if (len + n > want)
            break;
        memcpy(out + len, p, n);
        len += n;
    }
    out[len] = '\0';
}

static double random_rel(uint64_t *s)
{
    switch (next(s) % 6) {
    case 0:
        return nextafter(1.0, 2.0);
    case 1:
        return 100.0;
    case 2:
        return 1.0 + (double)pick(s, 1, 990) / 10.0;
    default: {
        double d = 1.0 + (double)(next(s) >> 11) / 9007199254740992.0 * 99.0;
        return d > 1.0 ? d : 1.5;
    }
    }
}

static uint32_t random_ms(uint64_t *s)
{
    switch (next(s) % 3) {
    case 0:
        return pick(s, 0, 86400) * 1000u;
    default:
        return pick(s, 0, FE_DURATION_MAX_MS);
    }
}

static void test_roundtrip_random(void)
{
    uint64_t s = 0x9E3779B97F4A7C15u;
    static fe_evac_opts_t e;
    static fe_rebal_opts_t r;
    for (int i = 0; i < 1500; i++) {
        fe_evac_opts_default(&e);
        e.conn_auto = next(&s) % 3 == 0;
        if (!e.conn_auto)
            e.conn_evict_rate = pick(&s, 1, FE_RATE_MAX);
        e.conn_evict_rate_max = pick(&s, 1, FE_RATE_MAX);
        e.sess_evict_rate = pick(&s, 1, FE_RATE_MAX);
        e.wait_takeover_ms = random_ms(&s);
        e.wait_health_check_ms = random_ms(&s);
        random_ref(&s, e.redirect_to);
        random_nodes(&s, e.migrate_to, &e.n_migrate_to);
        evac_roundtrip(&e);

        fe_rebal_opts_default(&r);
        random_nodes(&s, r.nodes, &r.n_nodes);
        r.conn_evict_rate = pick(&s, 1, FE_RATE_MAX);
        r.sess_evict_rate = pick(&s, 1, FE_RATE_MAX);
        r.wait_takeover_ms = random_ms(&s);
        r.wait_health_check_ms = random_ms(&s);
        r.abs_conn_threshold = pick(&s, 1, 100000000);
        r.abs_sess_threshold = pick(&s, 1, 100000000);
        r.rel_conn_threshold = random_rel(&s);
        r.rel_sess_threshold = random_rel(&s);
        rebal_roundtrip(&r);
    }
}

CHECK_MAIN(T(test_defaults), T(test_empty_bodies), T(test_evac_rates), T(test_evac_auto),
           T(test_durations), T(test_redirect_to), T(test_node_lists), T(test_rebal_rates),
           T(test_rebal_rel), T(test_rebal_all_fields), T(test_unknown_fields),
           T(test_not_an_object), T(test_bad_json), T(test_body_limit), T(test_error_buffer),
           T(test_error_keeps_output), T(test_json_golden), T(test_json_refuses),
           T(test_roundtrip_fixed), T(test_roundtrip_random))
