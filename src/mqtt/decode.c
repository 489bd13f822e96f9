/* Streaming decoder: fixed header framing and one decoder per packet type.
 * Each decoder reads the body with a bounds-checked reader and checks what
 * the spec calls Malformed Packet or Protocol Error for that packet. */
#include "internal.h"

#define FAIL(rc, what) fmq__fail(err, (rc), (what))
#define TRY(expr)                                                                              \
    do {                                                                                       \
        int rc_ = (expr);                                                                      \
        if (rc_)                                                                               \
            return rc_;                                                                        \
    } while (0)

int fmq_frame(const uint8_t *buf, size_t len, uint32_t max_packet, fmq_fixed_header_t *fh,
              fmq_err_t *err)
{
    if (len < 1)
        return FMQ_NEED_MORE;
    uint8_t type = buf[0] >> 4;
    if (type == 0)
        return FAIL(FMQ_RC_MALFORMED_PACKET, "[MQTT-2.1.2] packet type 0 is reserved");
    if (len < 2)
        return FMQ_NEED_MORE;
    uint32_t remaining;
    int n = fmq_varint_decode(buf + 1, len - 1, &remaining);
    if (n == FMQ_NEED_MORE)
        return FMQ_NEED_MORE;
    if (n < 0)
        return FAIL(FMQ_RC_MALFORMED_PACKET,
                    "[MQTT-1.5.5-1] Remaining Length longer than 4 bytes or than it needs");
    uint32_t total = 1u + (uint32_t)n + remaining;
    uint32_t limit = max_packet ? max_packet : FMQ_MAX_PACKET;
    if (total > limit)
        return FAIL(FMQ_RC_PACKET_TOO_LARGE, "packet exceeds the Maximum Packet Size");
    fh->type = type;
    fh->flags = buf[0] & 0x0F;
    fh->header_len = (uint8_t)(1 + n);
    fh->remaining = remaining;
    return (int)total;
}

static bool is_v5(uint8_t version)
{
    return version == FMQ_V5;
}

static bool has_wildcard(fmq_bytes_t t)
{
    return memchr(t.ptr, '+', t.len) != NULL || memchr(t.ptr, '#', t.len) != NULL;
}

static int read_props(fmq_reader_t *r, uint32_t where, fmq_props_t *out, fmq_err_t *err)
{
    int n = fmq_props_decode(r->p + r->pos, fmq__left(r), where, out, err);
    if (n < 0)
        return n;
    r->pos += (size_t)n;
    return 0;
}

static int read_packet_id(fmq_reader_t *r, uint16_t *id, fmq_err_t *err)
{
    TRY(fmq__read_u16(r, id, err));
    if (*id == 0)
        return FAIL(FMQ_RC_PROTOCOL_ERROR, "[MQTT-2.2.1-3] Packet Identifier must be non-zero");
    return 0;
}

static int decode_connect(fmq_reader_t *r, fmq_connect_t *c, fmq_err_t *err)
{
    fmq_bytes_t name;
    uint8_t level, flags;
    TRY(fmq__read_bin(r, &name, true, err));
    TRY(fmq__read_u8(r, &level, err));
    c->version = level;
    bool mqtt = fmq_bytes_eq(name, FMQ_BYTES("MQTT"));
    bool mqisdp = fmq_bytes_eq(name, FMQ_BYTES("MQIsdp"));
    if (!mqtt && !mqisdp)
        return FAIL(FMQ_RC_UNSUPPORTED_PROTOCOL_VERSION,
                    "[MQTT-3.1.2-1] protocol name is not \"MQTT\" (or \"MQIsdp\" for 3.1)");
    if (!((mqisdp && level == FMQ_V31) || (mqtt && (level == FMQ_V311 || level == FMQ_V5))))
        return FAIL(FMQ_RC_UNSUPPORTED_PROTOCOL_VERSION,
                    "[MQTT-3.1.2-2] unsupported protocol level");
    TRY(fmq__read_u8(r, &flags, err));
    if (flags & 0x01)
        return FAIL(FMQ_RC_MALFORMED_PACKET, "[MQTT-3.1.2-3] CONNECT reserved flag is not 0");
    c->clean_start = flags & 0x02;
    c->will_flag = flags & 0x04;
    c->will_qos = (flags >> 3) & 0x03;
    c->will_retain = flags & 0x20;
    c->has_password = flags & 0x40;
    c->has_username = flags & 0x80;
    if (c->will_qos == 3)
        return FAIL(FMQ_RC_MALFORMED_PACKET, "[MQTT-3.1.2-14] Will QoS must not be 3");
    if (!c->will_flag && (c->will_qos || c->will_retain))
        return FAIL(FMQ_RC_MALFORMED_PACKET,
                    "[MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15] Will QoS and Will Retain "
                    "must be 0 without a Will");
    if (!is_v5(level) && c->has_password && !c->has_username)
        return FAIL(FMQ_RC_MALFORMED_PACKET,
                    "[MQTT-3.1.2-22] Password flag set without User Name flag");
    TRY(fmq__read_u16(r, &c->keep_alive, err));
    if (is_v5(level))
        TRY(read_props(r, FMQ_IN(FMQ_CONNECT), &c->props, err));
    TRY(fmq__read_bin(r, &c->client_id, true, err));
    if (c->will_flag) {
        if (is_v5(level))
            TRY(read_props(r, FMQ_IN_WILL, &c->will_props, err));
        TRY(fmq__read_bin(r, &c->will_topic, true, err));
        if (fmq_topic_name_check(c->will_topic) != 0)
            return FAIL(FMQ_RC_TOPIC_NAME_INVALID,
                        "[MQTT-3.1.3-11] Will Topic is not a valid topic name");
        TRY(fmq__read_bin(r, &c->will_payload, false, err));
    }
    if (c->has_username)
        TRY(fmq__read_bin(r, &c->username, true, err));
    if (c->has_password)
        TRY(fmq__read_bin(r, &c->password, false, err));
    return 0;
}

static int decode_connack(fmq_reader_t *r, uint8_t version, fmq_connack_t *c, fmq_err_t *err)
{
    uint8_t flags;
    TRY(fmq__read_u8(r, &flags, err));
    TRY(fmq__read_u8(r, &c->reason, err));
    if (flags & 0xFE)
        return FAIL(FMQ_RC_MALFORMED_PACKET, "[MQTT-3.2.2-1] CONNACK reserved flags are not 0");
    c->session_present = flags & 0x01;
    if (is_v5(version)) {
        if (!fmq_reason_valid_for(FMQ_CONNACK, c->reason))
            return FAIL(FMQ_RC_PROTOCOL_ERROR, "invalid CONNACK reason code");
        TRY(read_props(r, FMQ_IN(FMQ_CONNACK), &c->props, err));
    } else if (c->reason > FMQ_V3_REFUSED_NOT_AUTHORIZED) {
        return FAIL(FMQ_RC_PROTOCOL_ERROR, "reserved CONNACK return code");
    }
    if (c->reason != 0 && c->session_present)
        return FAIL(FMQ_RC_PROTOCOL_ERROR,
                    "[MQTT-3.2.2-4] [MQTT-3.2.2-6] Session Present set on a refused connection");
    return 0;
}

static int decode_publish(fmq_reader_t *r, uint8_t flags, uint8_t version, fmq_publish_t *p,
                          fmq_err_t *err)
{
    p->retain = flags & 0x01;
    p->qos = (flags >> 1) & 0x03;
    p->dup = flags & 0x08;
    if (p->qos == 3)
        return FAIL(FMQ_RC_MALFORMED_PACKET, "[MQTT-3.3.1-4] PUBLISH QoS must not be 3");
    if (p->qos == 0 && p->dup)
        return FAIL(FMQ_RC_MALFORMED_PACKET, "[MQTT-3.3.1-2] DUP must be 0 for QoS 0");
    TRY(fmq__read_bin(r, &p->topic, true, err));
    if (p->qos > 0)
        TRY(read_packet_id(r, &p->packet_id, err));
    if (is_v5(version))
        TRY(read_props(r, FMQ_IN(FMQ_PUBLISH), &p->props, err));
    if (p->topic.len == 0 && !fmq_props_has(&p->props, FMQ_PROP_TOPIC_ALIAS))
        return FAIL(FMQ_RC_PROTOCOL_ERROR,
                    "[MQTT-4.7.3-1] empty Topic Name without a Topic Alias");
    if (has_wildcard(p->topic))
        return FAIL(FMQ_RC_TOPIC_NAME_INVALID,
                    "[MQTT-3.3.2-2] Topic Name must not contain wildcards");
    p->payload = (fmq_bytes_t){r->p + r->pos, (uint32_t)fmq__left(r)};
    r->pos = r->len;
    return 0;
}

static int decode_ack(fmq_reader_t *r, fmq_type_t type, uint8_t version, fmq_ack_t *a,
                      fmq_err_t *err)
{
    TRY(read_packet_id(r, &a->packet_id, err));
    if (!is_v5(version) || fmq__left(r) == 0)
        return 0; /* MQTT 5: no reason code means 0x00 Success [3.4.2.1] */
    TRY(fmq__read_u8(r, &a->reason, err));
    if (!fmq_reason_valid_for(type, a->reason))
        return FAIL(FMQ_RC_PROTOCOL_ERROR, "invalid reason code for this acknowledgement");
    if (fmq__left(r) > 0)
        TRY(read_props(r, FMQ_IN(type), &a->props, err));
    return 0;
}

static int decode_subscribe(fmq_reader_t *r, uint8_t version, fmq_subscribe_t *s, fmq_err_t *err)
{
    TRY(read_packet_id(r, &s->packet_id, err));
    if (is_v5(version))
        TRY(read_props(r, FMQ_IN(FMQ_SUBSCRIBE), &s->props, err));
    s->raw = (fmq_bytes_t){r->p + r->pos, (uint32_t)fmq__left(r)};
    while (fmq__left(r) > 0) {
        fmq_bytes_t filter;
        uint8_t opt;
        TRY(fmq__read_bin(r, &filter, true, err));
        TRY(fmq__read_u8(r, &opt, err));
        if ((opt & 0x03) == 3)
            return is_v5(version)
                       ? FAIL(FMQ_RC_PROTOCOL_ERROR, "subscription Maximum QoS must not be 3")
                       : FAIL(FMQ_RC_MALFORMED_PACKET,
                              "[MQTT-3-8.3-4] subscription QoS must not be 3");
        if (!is_v5(version) && (opt & 0xFC))
            return FAIL(FMQ_RC_MALFORMED_PACKET,
                        "[MQTT-3-8.3-4] reserved subscription option bits are not 0");
        if (is_v5(version)) {
            if (opt & 0xC0)
                return FAIL(FMQ_RC_MALFORMED_PACKET,
                            "[MQTT-3.8.3-5] reserved subscription option bits are not 0");
            if (((opt >> 4) & 0x03) == 3)
                return FAIL(FMQ_RC_PROTOCOL_ERROR, "Retain Handling must not be 3");
            fmq_bytes_t group, real;
            if ((opt & 0x04) && fmq_topic_share_split(filter, &group, &real))
                return FAIL(FMQ_RC_PROTOCOL_ERROR,
                            "[MQTT-3.8.3-4] No Local on a shared subscription");
        }
        s->count++;
    }
    if (s->count == 0)
        return FAIL(FMQ_RC_PROTOCOL_ERROR, "[MQTT-3.8.3-3] SUBSCRIBE without topic filters");
    return 0;
}

static int decode_unsubscribe(fmq_reader_t *r, uint8_t version, fmq_unsubscribe_t *u,
                              fmq_err_t *err)
{
    TRY(read_packet_id(r, &u->packet_id, err));
    if (is_v5(version))
        TRY(read_props(r, FMQ_IN(FMQ_UNSUBSCRIBE), &u->props, err));
    u->raw = (fmq_bytes_t){r->p + r->pos, (uint32_t)fmq__left(r)};
    while (fmq__left(r) > 0) {
        fmq_bytes_t filter;
        TRY(fmq__read_bin(r, &filter, true, err));
        u->count++;
    }
    if (u->count == 0)
        return FAIL(FMQ_RC_PROTOCOL_ERROR, "[MQTT-3.10.3-2] UNSUBSCRIBE without topic filters");
    return 0;
}

static bool v3_suback_code(uint8_t c)
{
    return c <= 2 || c == 0x80;
}

static int decode_suback(fmq_reader_t *r, fmq_type_t type, uint8_t version, fmq_suback_t *s,
                         fmq_err_t *err)
{
    TRY(read_packet_id(r, &s->packet_id, err));
    if (type == FMQ_UNSUBACK && !is_v5(version))
        return 0; /* MQTT 3.1.1 UNSUBACK carries only the Packet Identifier */
    if (is_v5(version))
        TRY(read_props(r, FMQ_IN(type), &s->props, err));
    s->codes = (fmq_bytes_t){r->p + r->pos, (uint32_t)fmq__left(r)};
    r->pos = r->len;
    if (s->codes.len == 0)
        return FAIL(FMQ_RC_PROTOCOL_ERROR, "acknowledgement without reason codes");
    for (uint32_t i = 0; i < s->codes.len; i++) {
        uint8_t c = s->codes.ptr[i];
        if (is_v5(version) ? !fmq_reason_valid_for(type, c) : !v3_suback_code(c))
            return FAIL(FMQ_RC_PROTOCOL_ERROR, "invalid SUBACK/UNSUBACK reason code");
    }
    return 0;
}

/* DISCONNECT and AUTH: reason and properties may be omitted from the end. */
static int decode_disconnect(fmq_reader_t *r, fmq_type_t type, uint8_t version,
                             fmq_disconnect_t *d, fmq_err_t *err)
{
    if (!is_v5(version) || fmq__left(r) == 0)
        return 0;
    TRY(fmq__read_u8(r, &d->reason, err));
    if (!fmq_reason_valid_for(type, d->reason))
        return FAIL(FMQ_RC_PROTOCOL_ERROR, "invalid DISCONNECT/AUTH reason code");
    if (fmq__left(r) > 0)
        TRY(read_props(r, FMQ_IN(type), &d->props, err));
    if (type == FMQ_AUTH && !fmq_props_has(&d->props, FMQ_PROP_AUTH_METHOD))
        return FAIL(FMQ_RC_PROTOCOL_ERROR, "AUTH without an Authentication Method");
    return 0;
}

/* The fixed header flags every type but PUBLISH must carry [MQTT-2.2.2-1]. */
static uint8_t required_flags(uint8_t type)
{
    return (type == FMQ_PUBREL || type == FMQ_SUBSCRIBE || type == FMQ_UNSUBSCRIBE) ? 0x2 : 0x0;
}

int fmq_decode(const uint8_t *buf, size_t len, const fmq_decode_opts_t *opts, fmq_packet_t *out,
               fmq_err_t *err)
{
    fmq_fixed_header_t fh;
    int total = fmq_frame(buf, len, opts->max_packet, &fh, err);
    if (total <= 0)
        return total;
    if ((size_t)total > len)
        return FMQ_NEED_MORE;
    memset(out, 0, sizeof *out);
    out->type = (fmq_type_t)fh.type;
    uint8_t version = opts->version;
    if (fh.type != FMQ_CONNECT && (version < FMQ_V31 || version > FMQ_V5))
        return FAIL(FMQ_RC_PROTOCOL_ERROR, "[MQTT-3.1.0-1] the first packet must be CONNECT");
    if (fh.type == FMQ_AUTH && !is_v5(version))
        return FAIL(FMQ_RC_MALFORMED_PACKET, "packet type 15 is reserved before MQTT 5");
    if (fh.type != FMQ_PUBLISH && fh.flags != required_flags(fh.type))
        return FAIL(FMQ_RC_MALFORMED_PACKET, "[MQTT-2.2.2-2] invalid fixed header flags");

    fmq_reader_t r = {buf + fh.header_len, fh.remaining, 0};
    int rc = 0;
    switch ((fmq_type_t)fh.type) {
    case FMQ_CONNECT:
        rc = decode_connect(&r, &out->connect, err);
        break;
    case FMQ_CONNACK:
        rc = decode_connack(&r, version, &out->connack, err);
        break;
    case FMQ_PUBLISH:
        rc = decode_publish(&r, fh.flags, version, &out->publish, err);
        break;
    case FMQ_PUBACK:
    case FMQ_PUBREC:
    case FMQ_PUBREL:
    case FMQ_PUBCOMP:
        rc = decode_ack(&r, (fmq_type_t)fh.type, version, &out->ack, err);
        break;
    case FMQ_SUBSCRIBE:
        rc = decode_subscribe(&r, version, &out->subscribe, err);
        break;
    case FMQ_SUBACK:
    case FMQ_UNSUBACK:
        rc = decode_suback(&r, (fmq_type_t)fh.type, version, &out->suback, err);
        break;
    case FMQ_UNSUBSCRIBE:
        rc = decode_unsubscribe(&r, version, &out->unsubscribe, err);
        break;
    case FMQ_PINGREQ:
    case FMQ_PINGRESP:
        break;
    case FMQ_DISCONNECT:
    case FMQ_AUTH:
        rc = decode_disconnect(&r, (fmq_type_t)fh.type, version, &out->disconnect, err);
        break;
    }
    if (rc)
        return rc;
    if (fmq__left(&r) != 0)
        return FAIL(FMQ_RC_MALFORMED_PACKET, "bytes left over after the packet's fields");
    return total;
}

bool fmq_sub_iter(const fmq_subscribe_t *s, uint32_t *pos, fmq_sub_entry_t *out)
{
    if (s->entries) {
        if (*pos >= s->count)
            return false;
        *out = s->entries[(*pos)++];
        return true;
    }
    fmq_reader_t r = {s->raw.ptr, s->raw.len, *pos};
    uint8_t opt;
    if (fmq__left(&r) == 0 || fmq__read_bin(&r, &out->filter, false, NULL) != 0 ||
        fmq__read_u8(&r, &opt, NULL) != 0)
        return false;
    out->qos = opt & 0x03;
    out->no_local = (opt >> 2) & 1;
    out->retain_as_published = (opt >> 3) & 1;
    out->retain_handling = (opt >> 4) & 0x03;
    *pos = (uint32_t)r.pos;
    return true;
}

bool fmq_unsub_iter(const fmq_unsubscribe_t *u, uint32_t *pos, fmq_bytes_t *out)
{
    if (u->filters) {
        if (*pos >= u->count)
            return false;
        *out = u->filters[(*pos)++];
        return true;
    }
    fmq_reader_t r = {u->raw.ptr, u->raw.len, *pos};
    if (fmq__left(&r) == 0 || fmq__read_bin(&r, out, false, NULL) != 0)
        return false;
    *pos = (uint32_t)r.pos;
    return true;
}

int fmq_check_direction(const fmq_packet_t *p, uint8_t version, fmq_dir_t dir, fmq_err_t *err)
{
    /* FMQ_IN() bits of what each side may receive. */
    const uint32_t common = FMQ_IN(FMQ_PUBLISH) | FMQ_IN(FMQ_PUBACK) | FMQ_IN(FMQ_PUBREC) |
                            FMQ_IN(FMQ_PUBREL) | FMQ_IN(FMQ_PUBCOMP);
    uint32_t to_server = common | FMQ_IN(FMQ_CONNECT) | FMQ_IN(FMQ_SUBSCRIBE) |
                         FMQ_IN(FMQ_UNSUBSCRIBE) | FMQ_IN(FMQ_PINGREQ) | FMQ_IN(FMQ_DISCONNECT);
    uint32_t to_client = common | FMQ_IN(FMQ_CONNACK) | FMQ_IN(FMQ_SUBACK) |
                         FMQ_IN(FMQ_UNSUBACK) | FMQ_IN(FMQ_PINGRESP);
    if (is_v5(version)) {
        to_server |= FMQ_IN(FMQ_AUTH);
        to_client |= FMQ_IN(FMQ_AUTH) | FMQ_IN(FMQ_DISCONNECT);
    }
    uint32_t allowed = dir == FMQ_TO_SERVER ? to_server : to_client;
    if ((unsigned)p->type >= 16 || !(allowed & FMQ_IN(p->type)))
        return FAIL(FMQ_RC_PROTOCOL_ERROR, dir == FMQ_TO_SERVER
                                               ? "a client may not send this packet type"
                                               : "a server may not send this packet type");
    if (dir == FMQ_TO_SERVER && p->type == FMQ_PUBLISH &&
        fmq_props_has(&p->publish.props, FMQ_PROP_SUBSCRIPTION_ID))
        return FAIL(FMQ_RC_PROTOCOL_ERROR,
                    "[MQTT-3.3.4-6] a client's PUBLISH must not carry a Subscription Identifier");
    return 0;
}
