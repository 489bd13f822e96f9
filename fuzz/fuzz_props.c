/*
 * fmq_props_decode on its own: a property block (length, then properties) for
 * one of the places properties appear. A block that decodes must iterate to
 * its end with every property allowed there, with counts and scalar fields
 * that agree with the iteration, every Variable Byte Integer minimal, and
 * fmq_props_size must give back the bytes consumed, both from the decoded set
 * and from a copy whose User Property and Subscription Identifier lists are
 * caller arrays, as an encoder gets them. fmq_props_encode of each, and of a
 * set carrying the block as pass-through bytes, must decode to the same set.
 *
 * Input: byte 0 picks the place (places[byte % 14]), the rest is the block.
 * fuzz/make_corpus.py writes seeds in this format and must keep this order.
 */
#include "fuzz_common.h"

#include <inttypes.h>
#include <string.h>

#define N_PLACES 14
static const uint32_t places[N_PLACES] = {
    FMQ_IN(FMQ_CONNECT),     FMQ_IN(FMQ_CONNACK),   FMQ_IN(FMQ_PUBLISH),
    FMQ_IN(FMQ_PUBACK),      FMQ_IN(FMQ_PUBREC),    FMQ_IN(FMQ_PUBREL),
    FMQ_IN(FMQ_PUBCOMP),     FMQ_IN(FMQ_SUBSCRIBE), FMQ_IN(FMQ_SUBACK),
    FMQ_IN(FMQ_UNSUBSCRIBE), FMQ_IN(FMQ_UNSUBACK),  FMQ_IN(FMQ_DISCONNECT),
    FMQ_IN(FMQ_AUTH),        FMQ_IN_WILL,
};

/* The struct field the decoder stored a scalar property in must be what the
 * iterator reads from the wire. */
static void check_field(const fmq_props_t *p, const fmq_prop_t *v)
{
    uint32_t num = 0;
    const fmq_bytes_t *str = NULL;
    switch ((fmq_prop_id_t)v->id) {
    case FMQ_PROP_PAYLOAD_FORMAT:
        num = p->payload_format;
        break;
    case FMQ_PROP_MESSAGE_EXPIRY:
        num = p->message_expiry;
        break;
    case FMQ_PROP_CONTENT_TYPE:
        str = &p->content_type;
        break;
    case FMQ_PROP_RESPONSE_TOPIC:
        str = &p->response_topic;
        break;
    case FMQ_PROP_CORRELATION_DATA:
        str = &p->correlation_data;
        break;
    case FMQ_PROP_SESSION_EXPIRY:
        num = p->session_expiry;
        break;
    case FMQ_PROP_ASSIGNED_CLIENT_ID:
        str = &p->assigned_client_id;
        break;
    case FMQ_PROP_SERVER_KEEP_ALIVE:
        num = p->server_keep_alive;
        break;
    case FMQ_PROP_AUTH_METHOD:
        str = &p->auth_method;
        break;
    case FMQ_PROP_AUTH_DATA:
        str = &p->auth_data;
        break;
    case FMQ_PROP_REQUEST_PROBLEM_INFO:
        num = p->request_problem_info;
        break;
    case FMQ_PROP_WILL_DELAY:
        num = p->will_delay;
        break;
    case FMQ_PROP_REQUEST_RESPONSE_INFO:
        num = p->request_response_info;
        break;
    case FMQ_PROP_RESPONSE_INFO:
        str = &p->response_info;
        break;
    case FMQ_PROP_SERVER_REFERENCE:
        str = &p->server_reference;
        break;
    case FMQ_PROP_REASON_STRING:
        str = &p->reason_string;
        break;
    case FMQ_PROP_RECEIVE_MAXIMUM:
        num = p->receive_maximum;
        break;
    case FMQ_PROP_TOPIC_ALIAS_MAXIMUM:
        num = p->topic_alias_maximum;
        break;
    case FMQ_PROP_TOPIC_ALIAS:
        num = p->topic_alias;
        break;
    case FMQ_PROP_MAXIMUM_QOS:
        num = p->maximum_qos;
        break;
    case FMQ_PROP_RETAIN_AVAILABLE:
        num = p->retain_available;
        break;
    case FMQ_PROP_MAXIMUM_PACKET_SIZE:
        num = p->max_packet_size;
        break;
    case FMQ_PROP_WILDCARD_SUB_AVAILABLE:
        num = p->wildcard_sub_available;
        break;
    case FMQ_PROP_SUB_ID_AVAILABLE:
        num = p->sub_id_available;
        break;
    case FMQ_PROP_SHARED_SUB_AVAILABLE:
        num = p->shared_sub_available;
        break;
    case FMQ_PROP_USER_PROPERTY:
    case FMQ_PROP_SUBSCRIPTION_ID:
    default:
        return;
    }
    if (str)
        FUZZ_CHECK(fmq_bytes_eq(*str, v->str), "property 0x%02x: field differs from the wire",
                   v->id);
    else
        FUZZ_CHECK(num == v->num, "property 0x%02x: field %u, wire %u", v->id, num, v->num);
}

/* Bytes a property takes when every Variable Byte Integer is minimal. */
static size_t canonical_size(const fmq_prop_t *v, fmq_prop_type_t type)
{
    size_t id = (size_t)fmq_varint_size(v->id);
    switch (type) {
    case FMQ_PT_BYTE:
        return id + 1;
    case FMQ_PT_U16:
        return id + 2;
    case FMQ_PT_U32:
        return id + 4;
    case FMQ_PT_VARINT:
        return id + (size_t)fmq_varint_size(v->num);
    case FMQ_PT_UTF8:
    case FMQ_PT_BINARY:
        return id + 2 + v->str.len;
    case FMQ_PT_UTF8_PAIR:
        return id + 4 + v->str.len + v->value.len;
    }
    return 0;
}

/* fmq_props_encode of `set` must size itself as `want`, stay inside a short
 * buffer, and write a block that decodes (at `where`) to what `orig` holds.
 * Returns the encoded block (malloc'd, `want` bytes). */
static uint8_t *check_encode(const fmq_props_t *set, uint32_t where, const fmq_props_t *orig,
                             size_t want, const char *what)
{
    size_t need = fmq_props_encode(set, NULL, 0);
    FUZZ_CHECK(need == want, "%s: fmq_props_encode sizes %zu, want %zu", what, need, want);
    if (need > 1) {
        uint8_t *small = malloc(need - 1);
        FUZZ_CHECK(small != NULL, "malloc");
        size_t got = fmq_props_encode(set, small, need - 1);
        free(small);
        FUZZ_CHECK(got == need, "%s: short buffer says %zu, want %zu", what, got, need);
    }
    uint8_t *buf = malloc(need);
    FUZZ_CHECK(buf != NULL, "malloc");
    size_t wrote = fmq_props_encode(set, buf, need);
    FUZZ_CHECK(wrote == need, "%s: wrote %zu of %zu", what, wrote, need);
    fmq_props_t q;
    fmq_err_t err = {0};
    int rc = fmq_props_decode(buf, need, where, &q, &err);
    FUZZ_CHECK(rc == (int)need, "%s: encoded block decodes to %d: %s", what, rc,
               rc < 0 ? err.what : "length differs");
    fuzz_check_props_equal(orig, &q, what);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint32_t where = places[data[0] % N_PLACES];
    const uint8_t *block = data + 1;
    size_t len = size - 1;

    fmq_props_t p;
    fmq_err_t err = {0};
    int rc = fmq_props_decode(block, len, where, &p, &err);
    fuzz_check_rc(rc, &err, "fmq_props_decode");
    FUZZ_CHECK(rc != FMQ_NEED_MORE, "fmq_props_decode returned FMQ_NEED_MORE");
    if (rc < 0)
        return 0;
    FUZZ_CHECK((size_t)rc <= len, "consumed %d of %zu bytes", rc, len);
    FUZZ_CHECK(p.raw.ptr + p.raw.len == block + rc, "raw does not end where the block does");
    FUZZ_CHECK(p.user == NULL && p.sub_ids == NULL, "decoded set has list pointers");

    /* Walk once to count and check, then again to fill the caller arrays. */
    FUZZ_CHECK(p.raw.ptr - block == fmq_varint_size(p.raw.len),
               "[MQTT-1.5.5-1] property length %u decoded from %d bytes", p.raw.len,
               (int)(p.raw.ptr - block));
    uint32_t pos = 0, prev = 0, n_user = 0, n_sub = 0;
    uint64_t seen = 0;
    fmq_prop_t v;
    while (fmq_props_iter(&p, &pos, &v)) {
        uint32_t allowed = 0;
        fmq_prop_type_t type;
        FUZZ_CHECK(fmq_prop_info(v.id, &type, &allowed), "unknown property 0x%02x", v.id);
        FUZZ_CHECK(pos - prev == canonical_size(&v, type),
                   "[MQTT-1.5.5-1] property 0x%02x decoded from %u bytes, needs %zu", v.id,
                   pos - prev, canonical_size(&v, type));
        prev = pos;
        FUZZ_CHECK(allowed & where, "property 0x%02x not allowed in 0x%x", v.id, where);
        FUZZ_CHECK(fmq_prop_name(v.id) != NULL, "property 0x%02x has no name", v.id);
        FUZZ_CHECK(fmq_props_has(&p, (fmq_prop_id_t)v.id), "0x%02x not in present", v.id);
        if (type == FMQ_PT_UTF8 || type == FMQ_PT_UTF8_PAIR)
            FUZZ_CHECK(fmq_utf8_check(v.str.ptr, v.str.len) == 0, "0x%02x: bad UTF-8", v.id);
        if (type == FMQ_PT_UTF8_PAIR)
            FUZZ_CHECK(fmq_utf8_check(v.value.ptr, v.value.len) == 0, "0x%02x: bad UTF-8", v.id);
        seen |= FMQ_PROP_BIT(v.id);
        if (v.id == FMQ_PROP_USER_PROPERTY) {
            n_user++;
        } else if (v.id == FMQ_PROP_SUBSCRIPTION_ID) {
            n_sub++;
            FUZZ_CHECK(v.num >= 1 && v.num <= FMQ_MAX_VARINT, "Subscription Identifier %u", v.num);
        } else {
            check_field(&p, &v);
        }
    }
    FUZZ_CHECK(pos == p.raw.len, "fmq_props_iter stopped at %u of %u", pos, p.raw.len);
    FUZZ_CHECK(seen == p.present, "iterated 0x%" PRIx64 ", present 0x%" PRIx64, seen, p.present);
    FUZZ_CHECK(n_user == p.n_user, "%u User Properties iterated, n_user %u", n_user, p.n_user);
    FUZZ_CHECK(n_sub == p.n_sub_ids, "%u Subscription Identifiers iterated, n_sub_ids %u", n_sub,
               p.n_sub_ids);
    if (where != FMQ_IN(FMQ_PUBLISH))
        FUZZ_CHECK(n_sub <= 1, "%u Subscription Identifiers outside PUBLISH", n_sub);

    /* The decoded set re-encodes from `raw`. */
    size_t from_raw = fmq_props_size(&p);
    FUZZ_CHECK(from_raw == (size_t)rc, "fmq_props_size of the decoded set is %zu, consumed %d",
               from_raw, rc);
    free(check_encode(&p, where, &p, (size_t)rc, "decoded set"));

    /* As an encoder gets it: lists in caller arrays, no `raw`. */
    fmq_user_prop_t *users = malloc(sizeof *users * (n_user ? n_user : 1));
    uint32_t *sub_ids = malloc(sizeof *sub_ids * (n_sub ? n_sub : 1));
    FUZZ_CHECK(users != NULL && sub_ids != NULL, "malloc");
    uint32_t iu = 0, is = 0;
    pos = 0;
    while (fmq_props_iter(&p, &pos, &v)) {
        if (v.id == FMQ_PROP_USER_PROPERTY)
            users[iu++] = (fmq_user_prop_t){v.str, v.value};
        else if (v.id == FMQ_PROP_SUBSCRIPTION_ID)
            sub_ids[is++] = v.num;
    }
    fmq_props_t copy = p;
    copy.raw = (fmq_bytes_t){NULL, 0};
    copy.user = n_user ? users : NULL;
    copy.sub_ids = n_sub ? sub_ids : NULL;
    size_t from_lists = fmq_props_size(&copy);
    FUZZ_CHECK(from_lists == (size_t)rc, "fmq_props_size with caller lists is %zu, consumed %d",
               from_lists, rc);
    free(check_encode(&copy, where, &p, (size_t)rc, "set with caller lists"));
    free(users);
    free(sub_ids);

    /* Pass-through only: the block goes out exactly as it came in. */
    fmq_props_t pass = {0};
    pass.passthrough = p.raw;
    uint8_t *out = check_encode(&pass, where, &p, (size_t)rc, "pass-through set");
    FUZZ_CHECK(memcmp(out, block, (size_t)rc) == 0, "pass-through block differs from the input");
    free(out);
    return 0;
}
