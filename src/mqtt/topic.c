/* Topic names and filters (section 4.7): validation, levels, matching and
 * shared-subscription syntax (section 4.8.2). */
#include "internal.h"

static const fmq_bytes_t share_prefix = {(const uint8_t *)"$share/", 7};

bool fmq_topic_share_split(fmq_bytes_t f, fmq_bytes_t *group, fmq_bytes_t *filter)
{
    if (f.len < share_prefix.len || memcmp(f.ptr, share_prefix.ptr, share_prefix.len) != 0)
        return false;
    const uint8_t *g = f.ptr + share_prefix.len;
    uint32_t rest = f.len - share_prefix.len;
    const uint8_t *slash = memchr(g, '/', rest);
    uint32_t glen = slash ? (uint32_t)(slash - g) : rest;
    *group = (fmq_bytes_t){g, glen};
    *filter = slash ? (fmq_bytes_t){slash + 1, rest - glen - 1} : (fmq_bytes_t){NULL, 0};
    return true;
}

int fmq_topic_name_check(fmq_bytes_t t)
{
    if (t.len == 0 || t.len > 0xFFFF || fmq_utf8_check(t.ptr, t.len) != 0)
        return -FMQ_RC_TOPIC_NAME_INVALID;
    if (memchr(t.ptr, '+', t.len) || memchr(t.ptr, '#', t.len))
        return -FMQ_RC_TOPIC_NAME_INVALID;
    return 0;
}

/* '#' only as the whole last level, '+' only as a whole level. */
static bool plain_filter_ok(fmq_bytes_t f)
{
    if (f.len == 0)
        return false;
    for (uint32_t i = 0; i < f.len; i++) {
        uint8_t c = f.ptr[i];
        if (c != '+' && c != '#')
            continue;
        bool starts_level = i == 0 || f.ptr[i - 1] == '/';
        bool ends_level = i + 1 == f.len || f.ptr[i + 1] == '/';
        if (!starts_level || !ends_level)
            return false;
        if (c == '#' && i + 1 != f.len)
            return false;
    }
    return true;
}

int fmq_topic_filter_check(fmq_bytes_t f)
{
    if (f.len == 0 || f.len > 0xFFFF || fmq_utf8_check(f.ptr, f.len) != 0)
        return -FMQ_RC_TOPIC_FILTER_INVALID;
    fmq_bytes_t group, inner;
    if (fmq_topic_share_split(f, &group, &inner)) {
        /* [MQTT-4.8.2-1] [MQTT-4.8.2-2]: a non-empty group without '/', '+'
         * or '#', then '/', then a valid filter. */
        if (group.len == 0 || memchr(group.ptr, '+', group.len) ||
            memchr(group.ptr, '#', group.len) || inner.ptr == NULL)
            return -FMQ_RC_TOPIC_FILTER_INVALID;
        f = inner;
    }
    return plain_filter_ok(f) ? 0 : -FMQ_RC_TOPIC_FILTER_INVALID;
}

uint32_t fmq_topic_levels(fmq_bytes_t t)
{
    uint32_t n = 1;
    for (uint32_t i = 0; i < t.len; i++)
        n += t.ptr[i] == '/';
    return n;
}

bool fmq_topic_match(fmq_bytes_t f, fmq_bytes_t t)
{
    const uint8_t *fp = f.ptr, *tp = t.ptr;
    size_t fi = 0, ti = 0, fl = f.len, tl = t.len;
    /* [MQTT-4.7.2-1]: wildcards at the start do not match '$' topics. */
    if (tl > 0 && tp[0] == '$' && fl > 0 && (fp[0] == '+' || fp[0] == '#'))
        return false;
    for (;;) {
        /* At the start of a level in both. */
        if (fi < fl && fp[fi] == '#')
            return true;
        if (fi < fl && fp[fi] == '+') {
            fi++;
            while (ti < tl && tp[ti] != '/')
                ti++;
        } else {
            while (fi < fl && fp[fi] != '/') {
                if (ti >= tl || tp[ti] != fp[fi])
                    return false;
                fi++, ti++;
            }
        }
        /* At the end of a level in the filter; the topic must be too. */
        if (ti < tl && tp[ti] != '/')
            return false;
        if (fi == fl)
            return ti == tl;
        if (ti == tl) /* "sport/#" matches "sport" [MQTT-4.7.1-2] */
            return fl - fi == 2 && fp[fi + 1] == '#';
        fi++, ti++;
    }
}
