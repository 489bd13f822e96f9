/* MQTT 5 properties (section 2.2.2): the table of identifiers, and a
 * table-driven decoder, iterator and encoder for property blocks. */
#include "internal.h"

#include <stddef.h>

enum { CHK_NONE, CHK_BOOL, CHK_NONZERO };

typedef struct {
    uint8_t type;    /* fmq_prop_type_t */
    uint8_t check;   /* CHK_*: the values the spec restricts */
    uint16_t off;    /* where a scalar lives in fmq_props_t; lists have none */
    uint32_t where;  /* FMQ_IN() bits and FMQ_IN_WILL */
    const char *name;
} prop_row_t;

#define PUB FMQ_IN(FMQ_PUBLISH)
#define WIL FMQ_IN_WILL
#define CON FMQ_IN(FMQ_CONNECT)
#define CAK FMQ_IN(FMQ_CONNACK)
#define DIS FMQ_IN(FMQ_DISCONNECT)
#define AUT FMQ_IN(FMQ_AUTH)
#define SUB FMQ_IN(FMQ_SUBSCRIBE)
#define ACKS (FMQ_IN(FMQ_PUBACK) | FMQ_IN(FMQ_PUBREC) | FMQ_IN(FMQ_PUBREL) | FMQ_IN(FMQ_PUBCOMP))
#define ALL (CON | CAK | PUB | WIL | ACKS | SUB | FMQ_IN(FMQ_SUBACK) | \
             FMQ_IN(FMQ_UNSUBSCRIBE) | FMQ_IN(FMQ_UNSUBACK) | DIS | AUT)
#define F(field) ((uint16_t)offsetof(fmq_props_t, field))
#define NOFIELD 0xFFFF

/* Indexed by identifier; rows with a NULL name are not properties. */
static const prop_row_t props[FMQ_PROP_SHARED_SUB_AVAILABLE + 1] = {
    [0x01] = {FMQ_PT_BYTE, CHK_BOOL, F(payload_format), PUB | WIL, "Payload Format Indicator"},
    [0x02] = {FMQ_PT_U32, CHK_NONE, F(message_expiry), PUB | WIL, "Message Expiry Interval"},
    [0x03] = {FMQ_PT_UTF8, CHK_NONE, F(content_type), PUB | WIL, "Content Type"},
    [0x08] = {FMQ_PT_UTF8, CHK_NONE, F(response_topic), PUB | WIL, "Response Topic"},
    [0x09] = {FMQ_PT_BINARY, CHK_NONE, F(correlation_data), PUB | WIL, "Correlation Data"},
    [0x0B] = {FMQ_PT_VARINT, CHK_NONZERO, NOFIELD, PUB | SUB, "Subscription Identifier"},
    [0x11] = {FMQ_PT_U32, CHK_NONE, F(session_expiry), CON | CAK | DIS, "Session Expiry Interval"},
    [0x12] = {FMQ_PT_UTF8, CHK_NONE, F(assigned_client_id), CAK, "Assigned Client Identifier"},
    [0x13] = {FMQ_PT_U16, CHK_NONE, F(server_keep_alive), CAK, "Server Keep Alive"},
    [0x15] = {FMQ_PT_UTF8, CHK_NONE, F(auth_method), CON | CAK | AUT, "Authentication Method"},
    [0x16] = {FMQ_PT_BINARY, CHK_NONE, F(auth_data), CON | CAK | AUT, "Authentication Data"},
    [0x17] = {FMQ_PT_BYTE, CHK_BOOL, F(request_problem_info), CON, "Request Problem Information"},
    [0x18] = {FMQ_PT_U32, CHK_NONE, F(will_delay), WIL, "Will Delay Interval"},
    [0x19] = {FMQ_PT_BYTE, CHK_BOOL, F(request_response_info), CON, "Request Response Information"},
    [0x1A] = {FMQ_PT_UTF8, CHK_NONE, F(response_info), CAK, "Response Information"},
    [0x1C] = {FMQ_PT_UTF8, CHK_NONE, F(server_reference), CAK | DIS, "Server Reference"},
    [0x1F] = {FMQ_PT_UTF8, CHK_NONE, F(reason_string),
              CAK | ACKS | FMQ_IN(FMQ_SUBACK) | FMQ_IN(FMQ_UNSUBACK) | DIS | AUT, "Reason String"},
    [0x21] = {FMQ_PT_U16, CHK_NONZERO, F(receive_maximum), CON | CAK, "Receive Maximum"},
    [0x22] = {FMQ_PT_U16, CHK_NONE, F(topic_alias_maximum), CON | CAK, "Topic Alias Maximum"},
    [0x23] = {FMQ_PT_U16, CHK_NONZERO, F(topic_alias), PUB, "Topic Alias"},
    [0x24] = {FMQ_PT_BYTE, CHK_BOOL, F(maximum_qos), CAK, "Maximum QoS"},
    [0x25] = {FMQ_PT_BYTE, CHK_BOOL, F(retain_available), CAK, "Retain Available"},
    [0x26] = {FMQ_PT_UTF8_PAIR, CHK_NONE, NOFIELD, ALL, "User Property"},
    [0x27] = {FMQ_PT_U32, CHK_NONZERO, F(max_packet_size), CON | CAK, "Maximum Packet Size"},
    [0x28] = {FMQ_PT_BYTE, CHK_BOOL, F(wildcard_sub_available), CAK,
              "Wildcard Subscription Available"},
    [0x29] = {FMQ_PT_BYTE, CHK_BOOL, F(sub_id_available), CAK,
              "Subscription Identifier Available"},
    [0x2A] = {FMQ_PT_BYTE, CHK_BOOL, F(shared_sub_available), CAK,
              "Shared Subscription Available"},
};

#define N_PROPS (sizeof props / sizeof props[0])

static const prop_row_t *row(uint32_t id)
{
    return id < N_PROPS && props[id].name ? &props[id] : NULL;
}

bool fmq_prop_info(uint8_t id, fmq_prop_type_t *type, uint32_t *allowed_in)
{
    const prop_row_t *r = row(id);
    if (!r)
        return false;
    if (type)
        *type = (fmq_prop_type_t)r->type;
    if (allowed_in)
        *allowed_in = r->where;
    return true;
}

const char *fmq_prop_name(uint8_t id)
{
    const prop_row_t *r = row(id);
    return r ? r->name : NULL;
}

/* Reads one property's value (identifier already read) into `out`. */
static int read_value(fmq_reader_t *r, const prop_row_t *pr, fmq_prop_t *out, fmq_err_t *err)
{
    int rc = 0;
    uint8_t b;
    uint16_t s;
    switch ((fmq_prop_type_t)pr->type) {
    case FMQ_PT_BYTE:
        rc = fmq__read_u8(r, &b, err);
        out->num = b;
        break;
    case FMQ_PT_U16:
        rc = fmq__read_u16(r, &s, err);
        out->num = s;
        break;
    case FMQ_PT_U32:
        rc = fmq__read_u32(r, &out->num, err);
        break;
    case FMQ_PT_VARINT:
        rc = fmq__read_varint(r, &out->num, err);
        break;
    case FMQ_PT_UTF8:
        rc = fmq__read_bin(r, &out->str, true, err);
        break;
    case FMQ_PT_BINARY:
        rc = fmq__read_bin(r, &out->str, false, err);
        break;
    case FMQ_PT_UTF8_PAIR:
        rc = fmq__read_bin(r, &out->str, true, err);
        if (rc == 0)
            rc = fmq__read_bin(r, &out->value, true, err);
        break;
    }
    return rc;
}

static void store(fmq_props_t *p, const prop_row_t *pr, const fmq_prop_t *v)
{
    if (pr->off == NOFIELD)
        return;
    char *at = (char *)p + pr->off;
    switch ((fmq_prop_type_t)pr->type) {
    case FMQ_PT_BYTE:
        *(uint8_t *)at = (uint8_t)v->num;
        break;
    case FMQ_PT_U16:
        *(uint16_t *)at = (uint16_t)v->num;
        break;
    case FMQ_PT_U32:
        *(uint32_t *)at = v->num;
        break;
    case FMQ_PT_UTF8:
    case FMQ_PT_BINARY:
        *(fmq_bytes_t *)at = v->str;
        break;
    default:
        break;
    }
}

int fmq_props_decode(const uint8_t *buf, size_t len, uint32_t where, fmq_props_t *out,
                     fmq_err_t *err)
{
    memset(out, 0, sizeof *out);
    fmq_reader_t r = {buf, len, 0};
    uint32_t plen;
    int rc = fmq__read_varint(&r, &plen, err);
    if (rc)
        return rc;
    if (plen > fmq__left(&r))
        return fmq__fail(err, FMQ_RC_MALFORMED_PACKET, "property length runs past the packet");
    out->raw = (fmq_bytes_t){buf + r.pos, plen};
    fmq_reader_t pr = {buf + r.pos, plen, 0};
    while (fmq__left(&pr) > 0) {
        uint32_t id;
        if ((rc = fmq__read_varint(&pr, &id, err)) != 0)
            return rc;
        const prop_row_t *info = row(id);
        if (!info)
            return fmq__fail(err, FMQ_RC_MALFORMED_PACKET, "unknown property identifier");
        if ((info->where & where) == 0)
            return fmq__fail(err, FMQ_RC_MALFORMED_PACKET,
                             "property not allowed in this packet");
        fmq_prop_t v = {.id = (uint8_t)id};
        if ((rc = read_value(&pr, info, &v, err)) != 0)
            return rc;
        bool repeats = id == FMQ_PROP_USER_PROPERTY ||
                       (id == FMQ_PROP_SUBSCRIPTION_ID && where == FMQ_IN(FMQ_PUBLISH));
        if (!repeats && (out->present & FMQ_PROP_BIT(id)))
            return fmq__fail(err, FMQ_RC_PROTOCOL_ERROR, "property included more than once");
        if (info->check == CHK_BOOL && v.num > 1)
            return fmq__fail(err, FMQ_RC_PROTOCOL_ERROR, "property value must be 0 or 1");
        if (info->check == CHK_NONZERO && v.num == 0)
            return id == FMQ_PROP_TOPIC_ALIAS
                       ? fmq__fail(err, FMQ_RC_TOPIC_ALIAS_INVALID,
                                   "[MQTT-3.3.2-8] Topic Alias must not be 0")
                       : fmq__fail(err, FMQ_RC_PROTOCOL_ERROR, "property value must not be 0");
        out->present |= FMQ_PROP_BIT(id);
        if (id == FMQ_PROP_USER_PROPERTY)
            out->n_user++;
        else if (id == FMQ_PROP_SUBSCRIPTION_ID)
            out->n_sub_ids++;
        else
            store(out, info, &v);
    }
    if ((out->present & FMQ_PROP_BIT(FMQ_PROP_AUTH_DATA)) &&
        !(out->present & FMQ_PROP_BIT(FMQ_PROP_AUTH_METHOD)))
        return fmq__fail(err, FMQ_RC_PROTOCOL_ERROR,
                         "Authentication Data without an Authentication Method");
    return (int)(r.pos + plen);
}

bool fmq_props_iter(const fmq_props_t *p, uint32_t *pos, fmq_prop_t *out)
{
    fmq_reader_t r = {p->raw.ptr, p->raw.len, *pos};
    uint32_t id;
    if (fmq__left(&r) == 0 || fmq__read_varint(&r, &id, NULL) != 0)
        return false;
    const prop_row_t *info = row(id);
    memset(out, 0, sizeof *out);
    out->id = (uint8_t)id;
    if (!info || read_value(&r, info, out, NULL) != 0)
        return false;
    *pos = (uint32_t)r.pos;
    return true;
}

/* ---- encoding ---- */

static uint32_t scalar_num(const fmq_props_t *p, const prop_row_t *pr)
{
    const char *at = (const char *)p + pr->off;
    switch ((fmq_prop_type_t)pr->type) {
    case FMQ_PT_BYTE:
        return *(const uint8_t *)at;
    case FMQ_PT_U16:
        return *(const uint16_t *)at;
    case FMQ_PT_U32:
        return *(const uint32_t *)at;
    default:
        return 0;
    }
}

/* Emits the repeated properties (User Property or Subscription Identifier)
 * in order: from the caller's list, or from `raw` for a decoded set. */
static void put_repeated(fmq_writer_t *w, const fmq_props_t *p, uint8_t id)
{
    if (id == FMQ_PROP_USER_PROPERTY && p->user) {
        for (uint32_t i = 0; i < p->n_user; i++) {
            fmq__put_u8(w, id);
            fmq__put_bin(w, p->user[i].key);
            fmq__put_bin(w, p->user[i].value);
        }
        return;
    }
    if (id == FMQ_PROP_SUBSCRIPTION_ID && p->sub_ids) {
        for (uint32_t i = 0; i < p->n_sub_ids; i++) {
            fmq__put_u8(w, id);
            fmq__put_varint(w, p->sub_ids[i]);
        }
        return;
    }
    /* A decoded set: its list lives in `raw`; clearing the bit drops it. */
    if (!(p->present & FMQ_PROP_BIT(id)))
        return;
    uint32_t pos = 0;
    fmq_prop_t v;
    while (fmq_props_iter(p, &pos, &v)) {
        if (v.id != id)
            continue;
        fmq__put_u8(w, id);
        if (id == FMQ_PROP_USER_PROPERTY) {
            fmq__put_bin(w, v.str);
            fmq__put_bin(w, v.value);
        } else {
            fmq__put_varint(w, v.num);
        }
    }
}

static void put_body(fmq_writer_t *w, const fmq_props_t *p)
{
    /* Visit only the identifiers that are there, in ascending order. */
    uint64_t todo = p->present;
    if (p->user && p->n_user)
        todo |= FMQ_PROP_BIT(FMQ_PROP_USER_PROPERTY);
    if (p->sub_ids && p->n_sub_ids)
        todo |= FMQ_PROP_BIT(FMQ_PROP_SUBSCRIPTION_ID);
    while (todo) {
        uint32_t id = (uint32_t)__builtin_ctzll(todo);
        todo &= todo - 1;
        const prop_row_t *pr = row(id);
        if (!pr)
            continue;
        if (pr->off == NOFIELD) {
            put_repeated(w, p, (uint8_t)id);
            continue;
        }
        fmq__put_u8(w, (uint8_t)id);
        switch ((fmq_prop_type_t)pr->type) {
        case FMQ_PT_BYTE:
            fmq__put_u8(w, (uint8_t)scalar_num(p, pr));
            break;
        case FMQ_PT_U16:
            fmq__put_u16(w, (uint16_t)scalar_num(p, pr));
            break;
        case FMQ_PT_U32:
            fmq__put_u32(w, scalar_num(p, pr));
            break;
        default:
            fmq__put_bin(w, *(const fmq_bytes_t *)((const char *)p + pr->off));
            break;
        }
    }
    fmq__put_raw(w, p->passthrough.ptr, p->passthrough.len);
}

size_t fmq__props_body_size(const fmq_props_t *p)
{
    fmq_writer_t w = {NULL, 0, 0};
    put_body(&w, p);
    return w.len;
}

size_t fmq_props_size(const fmq_props_t *p)
{
    size_t body = fmq__props_body_size(p);
    return body + (size_t)fmq_varint_size((uint32_t)body);
}

void fmq__props_write(fmq_writer_t *w, const fmq_props_t *p)
{
    size_t body = fmq__props_body_size(p);
    fmq__put_varint(w, (uint32_t)body);
    put_body(w, p);
}

size_t fmq_props_encode(const fmq_props_t *p, uint8_t *out, size_t cap)
{
    fmq_writer_t w = {out, cap, 0};
    fmq__props_write(&w, p);
    return w.len;
}

int fmq__props_encodable(const fmq_props_t *p, fmq_err_t *err)
{
    static const char *const too_long = "property string longer than 65535 bytes";
    for (uint64_t todo = p->present; todo; todo &= todo - 1) {
        uint32_t id = (uint32_t)__builtin_ctzll(todo);
        const prop_row_t *pr = row(id);
        if (!pr || pr->off == NOFIELD)
            continue;
        if (pr->type == FMQ_PT_UTF8 || pr->type == FMQ_PT_BINARY) {
            const fmq_bytes_t *b = (const fmq_bytes_t *)((const char *)p + pr->off);
            if (b->len > 0xFFFF)
                return fmq__fail(err, FMQ_RC_IMPLEMENTATION_SPECIFIC, too_long);
        }
    }
    for (uint32_t i = 0; p->user && i < p->n_user; i++)
        if (p->user[i].key.len > 0xFFFF || p->user[i].value.len > 0xFFFF)
            return fmq__fail(err, FMQ_RC_IMPLEMENTATION_SPECIFIC, too_long);
    for (uint32_t i = 0; p->sub_ids && i < p->n_sub_ids; i++)
        if (p->sub_ids[i] == 0 || p->sub_ids[i] > FMQ_MAX_VARINT)
            return fmq__fail(err, FMQ_RC_PROTOCOL_ERROR,
                             "Subscription Identifier must be 1..268435455");
    if (fmq__props_body_size(p) > FMQ_MAX_VARINT)
        return fmq__fail(err, FMQ_RC_PACKET_TOO_LARGE, "properties too large");
    return 0;
}
