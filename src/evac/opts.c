/*
 * Evacuation and rebalance options (opts.h): defaults, the parser of the
 * admin API's request bodies and the writer of the same JSON. A body is
 * parsed into a local struct that starts as the defaults (zeroed first, so
 * padding and unused bytes are always 0) and is copied to the caller's only
 * when every field passed: on error the caller's struct is left untouched.
 * Error texts are printable ASCII that fit errlen; anything quoted from the
 * body (a field name, a node name, jansson's own message) is escaped and
 * clipped first, so a hostile body cannot put raw bytes into a log line or
 * an HTTP answer.
 */
#include "evac/opts.h"

#include <jansson.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* abs_*_threshold count connections or sessions, not a rate per second. */
#define ABS_THRESHOLD_MAX 100000000u
#define REL_THRESHOLD_MAX 100.0
#define DURATION_MAX_S (FE_DURATION_MAX_MS / 1000u)
#define DURATION_DIGITS_MAX 12 /* 10^12 h in ms still fits in 64 bits */

/* How much of a name from the body an error message quotes; jansson's
 * message is at most 160 bytes. ESC_SIZE holds either escaped (4 bytes per
 * input byte, "...", NUL). */
#define CLIP_NAME 40
#define CLIP_JANSSON 160
#define ESC_SIZE (CLIP_JANSSON * 4 + 4)

typedef struct perr {
    char *buf;
    size_t len;
} perr_t;

__attribute__((format(printf, 2, 3))) static int fail(perr_t *e, const char *fmt, ...)
{
    if (!e->buf || e->len == 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->buf, e->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        e->buf[0] = '\0';
    /* The arguments are escaped already; this keeps the promise whatever
     * a format or a future caller does. */
    for (char *p = e->buf; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7E)
            *p = '?';
    return -1;
}

/* `s` (n bytes) as printable ASCII, at most `clip` input bytes then "..."
 * when clipped: \xHH for anything outside 0x20..0x7E, and with `quoted`
 * (the text goes between double quotes) \" and \\ too. */
static const char *escape(const char *s, size_t n, size_t clip, bool quoted, char out[ESC_SIZE])
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    if (clip > CLIP_JANSSON)
        clip = CLIP_JANSSON;
    for (size_t i = 0; i < n && i < clip; i++) {
        unsigned char c = (unsigned char)s[i];
        if (quoted && (c == '"' || c == '\\')) {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c >= 0x20 && c <= 0x7E) {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (n > clip) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* ---- defaults ---- */

void fe_evac_opts_default(fe_evac_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->conn_evict_rate = FE_DEF_CONN_RATE;
    o->conn_auto = false;
    o->conn_evict_rate_max = FE_DEF_CONN_RATE_MAX;
    o->sess_evict_rate = FE_DEF_SESS_RATE;
    o->wait_takeover_ms = FE_DEF_WAIT_TAKEOVER_MS;
    o->wait_health_check_ms = FE_DEF_WAIT_HEALTH_MS;
}

void fe_rebal_opts_default(fe_rebal_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->conn_evict_rate = FE_DEF_CONN_RATE;
    o->sess_evict_rate = FE_DEF_SESS_RATE;
    o->wait_takeover_ms = FE_DEF_WAIT_TAKEOVER_MS;
    o->wait_health_check_ms = FE_DEF_WAIT_HEALTH_MS;
    o->abs_conn_threshold = FE_DEF_ABS_THRESHOLD;
    o->abs_sess_threshold = FE_DEF_ABS_THRESHOLD;
    o->rel_conn_threshold = FE_DEF_REL_THRESHOLD;
    o->rel_sess_threshold = FE_DEF_REL_THRESHOLD;
}

/* ---- one value each ---- */

static bool get_uint(const json_t *v, uint32_t min, uint32_t max, uint32_t *out)
{
    if (!json_is_integer(v))
        return false;
    json_int_t i = json_integer_value(v);
    if (i < (json_int_t)min || i > (json_int_t)max)
        return false;
    *out = (uint32_t)i;
    return true;
}

/* Integer seconds, or "<digits><unit>" with unit ms, s, m or h. */
static bool get_duration(const json_t *v, uint32_t *ms)
{
    if (json_is_integer(v)) {
        json_int_t s = json_integer_value(v);
        if (s < 0 || s > (json_int_t)DURATION_MAX_S)
            return false;
        *ms = (uint32_t)s * 1000u;
        return true;
    }
    if (!json_is_string(v))
        return false;
    const char *p = json_string_value(v);
    size_t n = json_string_length(v), d = 0;
    uint64_t num = 0;
    while (d < n && p[d] >= '0' && p[d] <= '9') {
        if (d == DURATION_DIGITS_MAX)
            return false;
        num = num * 10 + (uint64_t)(p[d] - '0');
        d++;
    }
    if (d == 0)
        return false;
    const char *unit = p + d;
    size_t ulen = n - d;
    uint64_t mult;
    if (ulen == 2 && unit[0] == 'm' && unit[1] == 's')
        mult = 1;
    else if (ulen == 1 && unit[0] == 's')
        mult = 1000;
    else if (ulen == 1 && unit[0] == 'm')
        mult = 60000;
    else if (ulen == 1 && unit[0] == 'h')
        mult = 3600000;
    else
        return false;
    if (num * mult > FE_DURATION_MAX_MS)
        return false;
    *ms = (uint32_t)(num * mult);
    return true;
}

static bool get_rel(const json_t *v, double *out)
{
    double d;
    if (json_is_integer(v))
        d = (double)json_integer_value(v);
    else if (json_is_real(v))
        d = json_real_value(v);
    else
        return false;
    if (!isfinite(d) || !(d > 1.0) || d > REL_THRESHOLD_MAX)
        return false;
    *out = d;
    return true;
}

/* Up to FE_REF_MAX bytes (jansson has checked the UTF-8), no C0 or C1
 * control character (U+0000..U+001F, U+007F..U+009F). */
static bool get_ref(const json_t *v, char out[FE_REF_MAX + 1])
{
    if (!json_is_string(v))
        return false;
    const unsigned char *p = (const unsigned char *)json_string_value(v);
    size_t n = json_string_length(v);
    if (n > FE_REF_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x20 || p[i] == 0x7F)
            return false;
        /* U+0080..U+009F are C2 80..C2 9F in UTF-8. */
        if (p[i] == 0xC2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9F)
            return false;
    }
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

static bool node_name_char(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           ch == '.' || ch == '_' || ch == '-' || ch == '@' || ch == ':';
}

/* The node_name setting's rule: 1..255 characters of A-Z a-z 0-9 . _ - @ : */
static bool is_node_name(const char *s, size_t n)
{
    if (n < 1 || n > FE_NODE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!node_name_char(s[i]))
            return false;
    return true;
}

static int get_nodes(const json_t *v, const char *field, char names[][FE_NODE_NAME_MAX + 1],
                     size_t *count, perr_t *e)
{
    size_t n = json_is_array(v) ? json_array_size(v) : 0;
    if (n == 0 || n > FE_MAX_NODES)
        return fail(e, "%s: expected a non-empty array of at most %u node names", field,
                    FE_MAX_NODES);
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_array_get(v, i);
        const char *name = json_is_string(s) ? json_string_value(s) : NULL;
        size_t len = name ? json_string_length(s) : 0;
        if (!name || !is_node_name(name, len))
            return fail(e,
                        "%s[%zu]: expected a node name: 1..%u characters of A-Z a-z 0-9 . _ - @ :",
                        field, i, FE_NODE_NAME_MAX);
        for (size_t k = 0; k < i; k++) {
            if (strcmp(names[k], name) == 0) {
                char esc[ESC_SIZE];
                return fail(e, "%s[%zu]: duplicate node \"%s\"", field, i,
                            escape(name, len, CLIP_NAME, true, esc));
            }
        }
        memcpy(names[i], name, len);
        names[i][len] = '\0';
    }
    *count = n;
    return 0;
}

/* ---- messages ---- */

#define RULE_RATE "expected an integer 1..1000000"
#define RULE_DURATION                                                                              \
    "expected seconds 0..86400 or a string like \"60s\", \"500ms\", \"2m\" (at most 24h)"

static int bad_rate(perr_t *e, const char *field)
{
    return fail(e, "%s: " RULE_RATE, field);
}

static int bad_duration(perr_t *e, const char *field)
{
    return fail(e, "%s: " RULE_DURATION, field);
}

static int unknown_field(perr_t *e, const char *key)
{
    char esc[ESC_SIZE];
    return fail(e, "unknown field \"%s\"", escape(key, strlen(key), CLIP_NAME, true, esc));
}

/* ---- the body ---- */

static bool only_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return false;
    return true;
}

/* *root = the body's object, or NULL for an empty body (the defaults). */
static int load(const char *body, size_t len, json_t **root, perr_t *e)
{
    *root = NULL;
    if (len > FE_BODY_MAX)
        return fail(e, "request body over %u bytes", FE_BODY_MAX);
    if (len == 0)
        return 0;
    if (!body)
        return fail(e, "request body missing");
    if (only_space(body, len))
        return 0;
    /* Without JSON_DISABLE_EOF_CHECK jansson refuses anything after the
     * value; without JSON_ALLOW_NUL it refuses "\u0000" in strings. */
    json_error_t je;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!j) {
        char esc[ESC_SIZE];
        je.text[sizeof je.text - 1] = '\0';
        return fail(e, "invalid JSON (line %d, column %d): %s", je.line, je.column,
                    escape(je.text, strlen(je.text), CLIP_JANSSON, false, esc));
    }
    if (!json_is_object(j)) {
        json_decref(j);
        return fail(e, "expected a JSON object");
    }
    *root = j;
    return 0;
}

/* The fields both bodies have (besides conn_evict_rate, which differs). */
static bool is_common(const char *k)
{
    return strcmp(k, "sess_evict_rate") == 0 || strcmp(k, "wait_takeover") == 0 ||
           strcmp(k, "wait_health_check") == 0;
}

static int common_field(const char *k, const json_t *v, uint32_t *sess_rate,
                        uint32_t *wait_takeover_ms, uint32_t *wait_health_ms, perr_t *e)
{
    if (strcmp(k, "sess_evict_rate") == 0)
        return get_uint(v, 1, FE_RATE_MAX, sess_rate) ? 0 : bad_rate(e, k);
    uint32_t *ms = strcmp(k, "wait_takeover") == 0 ? wait_takeover_ms : wait_health_ms;
    return get_duration(v, ms) ? 0 : bad_duration(e, k);
}

static int evac_field(fe_evac_opts_t *o, const char *k, const json_t *v, perr_t *e)
{
    if (strcmp(k, "conn_evict_rate") == 0) {
        /* "auto" leaves conn_evict_rate at its default, so that a parsed
         * struct has one spelling (the round trip compares bytes). */
        if (json_is_string(v) && json_string_length(v) == 4 &&
            memcmp(json_string_value(v), "auto", 4) == 0)
            o->conn_auto = true;
        else if (!get_uint(v, 1, FE_RATE_MAX, &o->conn_evict_rate))
            return fail(e, "%s: " RULE_RATE " or \"auto\"", k);
    } else if (strcmp(k, "conn_evict_rate_max") == 0) {
        if (!get_uint(v, 1, FE_RATE_MAX, &o->conn_evict_rate_max))
            return bad_rate(e, k);
    } else if (is_common(k)) {
        return common_field(k, v, &o->sess_evict_rate, &o->wait_takeover_ms,
                            &o->wait_health_check_ms, e);
    } else if (strcmp(k, "redirect_to") == 0) {
        if (!get_ref(v, o->redirect_to))
            return fail(e,
                        "%s: expected a string of at most %u bytes of UTF-8 without control "
                        "characters",
                        k, FE_REF_MAX);
    } else if (strcmp(k, "migrate_to") == 0) {
        return get_nodes(v, k, o->migrate_to, &o->n_migrate_to, e);
    } else {
        return unknown_field(e, k);
    }
    return 0;
}

static int rebal_field(fe_rebal_opts_t *o, const char *k, const json_t *v, perr_t *e)
{
    if (strcmp(k, "nodes") == 0) {
        return get_nodes(v, k, o->nodes, &o->n_nodes, e);
    } else if (strcmp(k, "conn_evict_rate") == 0) {
        if (!get_uint(v, 1, FE_RATE_MAX, &o->conn_evict_rate))
            return bad_rate(e, k);
    } else if (is_common(k)) {
        return common_field(k, v, &o->sess_evict_rate, &o->wait_takeover_ms,
                            &o->wait_health_check_ms, e);
    } else if (strcmp(k, "abs_conn_threshold") == 0 || strcmp(k, "abs_sess_threshold") == 0) {
        bool conn = strcmp(k, "abs_conn_threshold") == 0;
        uint32_t *dst = conn ? &o->abs_conn_threshold : &o->abs_sess_threshold;
        if (!get_uint(v, 1, ABS_THRESHOLD_MAX, dst))
            return fail(e, "%s: expected an integer 1..%u", k, ABS_THRESHOLD_MAX);
    } else if (strcmp(k, "rel_conn_threshold") == 0 || strcmp(k, "rel_sess_threshold") == 0) {
        bool conn = strcmp(k, "rel_conn_threshold") == 0;
        double *dst = conn ? &o->rel_conn_threshold : &o->rel_sess_threshold;
        if (!get_rel(v, dst))
            return fail(e, "%s: expected a number greater than 1.0 and at most 100", k);
    } else {
        return unknown_field(e, k);
    }
    return 0;
}

/* Loads the body and hands every field of the object to field(). */
static int parse_fields(const char *body, size_t len, void *t,
                        int (*field)(void *t, const char *k, json_t *v, perr_t *e), perr_t *e)
{
    json_t *root;
    if (load(body, len, &root, e) != 0)
        return -1;
    int rc = 0;
    if (root) {
        const char *k;
        json_t *v;
        json_object_foreach(root, k, v)
        {
            if (field(t, k, v, e) != 0) {
                rc = -1;
                break;
            }
        }
        json_decref(root);
    }
    return rc;
}

static int evac_field_v(void *t, const char *k, json_t *v, perr_t *e)
{
    return evac_field(t, k, v, e);
}

static int rebal_field_v(void *t, const char *k, json_t *v, perr_t *e)
{
    return rebal_field(t, k, v, e);
}

/* The output is written only on success: a parse that fails leaves *o as
 * it was (callers must still not act on it: it is not what was asked). */
int fe_evac_opts_parse(const char *body, size_t len, fe_evac_opts_t *o, char *err, size_t errlen)
{
    perr_t e = {err, errlen};
    fe_evac_opts_t t;
    fe_evac_opts_default(&t);
    if (parse_fields(body, len, &t, evac_field_v, &e) != 0)
        return -1;
    memcpy(o, &t, sizeof t);
    return 0;
}

int fe_rebal_opts_parse(const char *body, size_t len, fe_rebal_opts_t *o, char *err, size_t errlen)
{
    perr_t e = {err, errlen};
    fe_rebal_opts_t t;
    fe_rebal_opts_default(&t);
    if (parse_fields(body, len, &t, rebal_field_v, &e) != 0)
        return -1;
    memcpy(o, &t, sizeof t);
    return 0;
}

/* ---- writing ---- */

/* json_object_set_new takes v (NULL included) and fails on NULL. */
static int put(json_t *obj, const char *k, json_t *v)
{
    return json_object_set_new(obj, k, v) == 0 ? 0 : -1;
}

static json_t *duration_json(uint32_t ms)
{
    char b[24];
    snprintf(b, sizeof b, "%" PRIu32 "ms", ms);
    return json_string(b);
}

/* Bounded reads: a struct that was not filled by the parser may lack NULs. */
static json_t *name_json(const char *s, size_t max)
{
    return json_stringn(s, strnlen(s, max));
}

static json_t *nodes_json(const char names[][FE_NODE_NAME_MAX + 1], size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        if (json_array_append_new(a, name_json(names[i], FE_NODE_NAME_MAX)) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    return a;
}

/* The fewest significant digits (at least 3: no exponent for 1..100) that
 * read back as exactly v. */
static int real_digits(double v)
{
    for (int p = 3; p < 17; p++) {
        char b[40];
        snprintf(b, sizeof b, "%.*g", p, v);
        if (strtod(b, NULL) == v)
            return p;
    }
    return 17;
}

static char *dump(json_t *obj, int bad, size_t flags)
{
    char *text = obj && !bad ? json_dumps(obj, JSON_COMPACT | flags) : NULL;
    json_decref(obj);
    return text;
}

/* An empty migrate_to / nodes is left out: absent means "every node", and
 * the parser refuses an empty array. NULL also for a struct jansson cannot
 * write (a string that is not UTF-8, a NaN). */
char *fe_evac_opts_json(const fe_evac_opts_t *o)
{
    if (o->n_migrate_to > FE_MAX_NODES)
        return NULL;
    json_t *j = json_object();
    if (!j)
        return NULL;
    int bad = 0;
    bad |= put(j, "conn_evict_rate",
               o->conn_auto ? json_string("auto") : json_integer(o->conn_evict_rate));
    bad |= put(j, "conn_evict_rate_max", json_integer(o->conn_evict_rate_max));
    bad |= put(j, "sess_evict_rate", json_integer(o->sess_evict_rate));
    bad |= put(j, "wait_takeover", duration_json(o->wait_takeover_ms));
    bad |= put(j, "wait_health_check", duration_json(o->wait_health_check_ms));
    bad |= put(j, "redirect_to", name_json(o->redirect_to, FE_REF_MAX));
    if (o->n_migrate_to > 0)
        bad |= put(j, "migrate_to", nodes_json(o->migrate_to, o->n_migrate_to));
    return dump(j, bad, 0);
}

char *fe_rebal_opts_json(const fe_rebal_opts_t *o)
{
    if (o->n_nodes > FE_MAX_NODES)
        return NULL;
    json_t *j = json_object();
    if (!j)
        return NULL;
    int bad = 0;
    if (o->n_nodes > 0)
        bad |= put(j, "nodes", nodes_json(o->nodes, o->n_nodes));
    bad |= put(j, "conn_evict_rate", json_integer(o->conn_evict_rate));
    bad |= put(j, "sess_evict_rate", json_integer(o->sess_evict_rate));
    bad |= put(j, "wait_takeover", duration_json(o->wait_takeover_ms));
    bad |= put(j, "wait_health_check", duration_json(o->wait_health_check_ms));
    bad |= put(j, "abs_conn_threshold", json_integer(o->abs_conn_threshold));
    bad |= put(j, "rel_conn_threshold", json_real(o->rel_conn_threshold));
    bad |= put(j, "abs_sess_threshold", json_integer(o->abs_sess_threshold));
    bad |= put(j, "rel_sess_threshold", json_real(o->rel_sess_threshold));
    int pc = real_digits(o->rel_conn_threshold), ps = real_digits(o->rel_sess_threshold);
    return dump(j, bad, JSON_REAL_PRECISION(pc > ps ? pc : ps));
}
