/*
 * Topic names and filters (section 4.7) and shared subscriptions (4.8.2).
 * The input splits at its first NUL into a filter and a name (no NUL: both
 * are the whole input). Besides not crashing, the results must agree with
 * the spec's rules, restated here independently: a level-by-level reference
 * matcher, a table-driven UTF-8 validator (Unicode table 3-7), and what a
 * valid name or filter may contain.
 */
#include "fuzz_common.h"

#include <string.h>

/* ---- reference implementations, written from the spec ---- */

/* Well-formed UTF-8 per Unicode table 3-7, and no U+0000 [MQTT-1.5.4-2]. */
static bool ref_utf8(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        size_t n;
        uint8_t lo = 0x80, hi = 0xBF; /* range of the second byte */
        if (c == 0x00)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            if (c == 0xE0)
                lo = 0xA0;
            if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            if (c == 0xF0)
                lo = 0x90;
            if (c == 0xF4)
                hi = 0x8F;
        } else {
            return false;
        }
        if (len - i - 1 < n)
            return false;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= n; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return false;
        i += n + 1;
    }
    return true;
}

typedef struct {
    const uint8_t *p;
    size_t len, pos;
    bool done;
} levels_t;

/* The next '/'-separated level; "a/" has levels "a" and "". */
static bool next_level(levels_t *it, fmq_bytes_t *out)
{
    if (it->done)
        return false;
    const uint8_t *s = it->p + it->pos;
    size_t rest = it->len - it->pos;
    const uint8_t *slash = rest ? memchr(s, '/', rest) : NULL;
    size_t n = slash ? (size_t)(slash - s) : rest;
    *out = (fmq_bytes_t){s, (uint32_t)n};
    if (slash)
        it->pos += n + 1;
    else
        it->done = true;
    return true;
}

static bool is_level(fmq_bytes_t l, char c)
{
    return l.len == 1 && l.ptr[0] == (uint8_t)c;
}

/* Section 4.7.1: '#' matches its parent and any number of levels, '+'
 * exactly one level; [MQTT-4.7.2-1] keeps wildcards off '$' topics. */
static bool ref_match(fmq_bytes_t f, fmq_bytes_t t)
{
    if (t.len > 0 && t.ptr[0] == '$' && f.len > 0 && (f.ptr[0] == '+' || f.ptr[0] == '#'))
        return false;
    levels_t fi = {f.ptr, f.len, 0, false}, ti = {t.ptr, t.len, 0, false};
    for (;;) {
        fmq_bytes_t fl, tl;
        if (!next_level(&fi, &fl))
            return !next_level(&ti, &tl);
        if (is_level(fl, '#'))
            return true;
        if (!next_level(&ti, &tl))
            return false;
        if (is_level(fl, '+'))
            continue;
        if (!fmq_bytes_eq(fl, tl))
            return false;
    }
}

static uint32_t count_byte(fmq_bytes_t b, uint8_t c)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < b.len; i++)
        n += b.ptr[i] == c;
    return n;
}

/* '+' and '#' only as whole levels, '#' only last. */
static void check_wildcards_placed(fmq_bytes_t f)
{
    for (uint32_t i = 0; i < f.len; i++) {
        uint8_t c = f.ptr[i];
        if (c != '+' && c != '#')
            continue;
        FUZZ_CHECK(i == 0 || f.ptr[i - 1] == '/', "valid filter: '%c' at %u not after '/'", c, i);
        FUZZ_CHECK(i + 1 == f.len || f.ptr[i + 1] == '/', "valid filter: '%c' at %u not before '/'",
                   c, i);
        FUZZ_CHECK(c != '#' || i + 1 == f.len, "valid filter: '#' at %u of %u", i, f.len);
    }
}

/* ---- checks ---- */

static bool starts_with(fmq_bytes_t b, const char *prefix)
{
    size_t n = strlen(prefix);
    return b.len >= n && memcmp(b.ptr, prefix, n) == 0;
}

static void check_one(fmq_bytes_t s)
{
    int utf8 = fmq_utf8_check(s.ptr, s.len);
    FUZZ_CHECK(utf8 == 0 || utf8 == -FMQ_RC_MALFORMED_PACKET, "fmq_utf8_check: %d", utf8);
    FUZZ_CHECK((utf8 == 0) == ref_utf8(s.ptr, s.len), "fmq_utf8_check says %d, Unicode %s", utf8,
               ref_utf8(s.ptr, s.len) ? "well-formed" : "ill-formed");
    bool has_wild = count_byte(s, '+') || count_byte(s, '#');

    int name = fmq_topic_name_check(s);
    FUZZ_CHECK(name == 0 || name == -FMQ_RC_TOPIC_NAME_INVALID, "fmq_topic_name_check: %d", name);
    FUZZ_CHECK((name == 0) == (s.len > 0 && s.len <= 0xFFFF && utf8 == 0 && !has_wild),
               "fmq_topic_name_check says %d for a %u-byte string", name, s.len);

    int filter = fmq_topic_filter_check(s);
    FUZZ_CHECK(filter == 0 || filter == -FMQ_RC_TOPIC_FILTER_INVALID, "fmq_topic_filter_check: %d",
               filter);

    if (s.len > 0)
        FUZZ_CHECK(fmq_topic_levels(s) == 1 + count_byte(s, '/'), "fmq_topic_levels %u",
                   fmq_topic_levels(s));

    fmq_bytes_t group = {NULL, 0}, inner = {NULL, 0};
    bool shared = fmq_topic_share_split(s, &group, &inner);
    FUZZ_CHECK(shared == starts_with(s, "$share/"), "fmq_topic_share_split says %d", shared);
    if (shared) {
        FUZZ_CHECK(group.ptr == s.ptr + 7 && group.len <= s.len - 7, "share group slice");
        FUZZ_CHECK(!group.len || !memchr(group.ptr, '/', group.len), "share group has '/'");
        if (inner.ptr) {
            FUZZ_CHECK(inner.ptr == group.ptr + group.len + 1 && group.ptr[group.len] == '/' &&
                           7 + group.len + 1 + inner.len == s.len,
                       "share filter slice");
        } else {
            FUZZ_CHECK(inner.len == 0 && 7 + group.len == s.len, "share without filter");
        }
    }

    if (filter == 0) {
        FUZZ_CHECK(s.len > 0 && utf8 == 0, "valid filter that is empty or not UTF-8");
        if (shared) {
            /* [MQTT-4.8.2-1] [MQTT-4.8.2-2] */
            FUZZ_CHECK(group.len > 0 && !count_byte(group, '+') && !count_byte(group, '#') &&
                           inner.ptr != NULL,
                       "valid shared filter with a bad group");
            check_wildcards_placed(inner);
            fmq_bytes_t g2, i2;
            if (!fmq_topic_share_split(inner, &g2, &i2))
                FUZZ_CHECK(fmq_topic_filter_check(inner) == 0, "shared filter's filter invalid");
        } else {
            check_wildcards_placed(s);
        }
    }

    if (name == 0) {
        /* A valid name matches itself, and is a filter matching only itself. */
        if (!shared) {
            FUZZ_CHECK(filter == 0, "valid name that is not a valid filter");
            FUZZ_CHECK(fmq_topic_match(s, s), "valid name does not match itself");
        }
        bool dollar = s.ptr[0] == '$';
        FUZZ_CHECK(fmq_topic_match(FMQ_BYTES("#"), s) == !dollar, "'#' vs a name (dollar %d)",
                   dollar);
        FUZZ_CHECK(fmq_topic_match(FMQ_BYTES("+/#"), s) == !dollar, "'+/#' vs a name");
        FUZZ_CHECK(fmq_topic_match(FMQ_BYTES("+"), s) == (!dollar && !count_byte(s, '/')),
                   "'+' vs a name");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t empty[1] = {0};
    if (size == 0)
        data = empty;
    const uint8_t *nul = memchr(data, 0, size);
    fmq_bytes_t f, t;
    if (nul) {
        f = (fmq_bytes_t){data, (uint32_t)(nul - data)};
        t = (fmq_bytes_t){nul + 1, (uint32_t)(size - f.len - 1)};
    } else {
        f = t = (fmq_bytes_t){data, (uint32_t)size};
    }
    check_one(f);
    check_one(t);

    int fv = fmq_topic_filter_check(f), tv = fmq_topic_name_check(t);
    bool got = fmq_topic_match(f, t);
    (void)fmq_topic_match(t, f);
    fmq_bytes_t group, inner;
    if (fv == 0 && tv == 0 && !fmq_topic_share_split(f, &group, &inner)) {
        FUZZ_CHECK(got == ref_match(f, t), "fmq_topic_match says %d, section 4.7 says %d", got,
                   ref_match(f, t));
        if (got && !count_byte(f, '#'))
            FUZZ_CHECK(fmq_topic_levels(f) == fmq_topic_levels(t), "match across levels");
        if (!count_byte(f, '+') && !count_byte(f, '#'))
            FUZZ_CHECK(got == fmq_bytes_eq(f, t), "wildcard-free filter must match literally");
    }
    return 0;
}
