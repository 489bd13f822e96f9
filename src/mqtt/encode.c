/* Encoder: every packet type for MQTT 3.1, 3.1.1 and 5.0. A body is written
 * twice through the same code: once to count its size (for the Remaining
 * Length in front of it), once into the caller's buffer. */
#include "internal.h"

#define FAIL(rc, what) fmq__fail(err, (rc), (what))

static const char *const too_long = "string or binary field longer than 65535 bytes";

static bool v5(uint8_t version)
{
    return version == FMQ_V5;
}

static bool props_empty(const fmq_props_t *p)
{
    return fmq__props_body_size(p) == 0;
}

static void put_connect(fmq_writer_t *w, const fmq_connect_t *c, uint8_t version)
{
    fmq__put_bin(w, version == FMQ_V31 ? FMQ_BYTES("MQIsdp") : FMQ_BYTES("MQTT"));
    fmq__put_u8(w, version);
    uint8_t flags = (uint8_t)((c->clean_start ? 0x02 : 0) | (c->has_password ? 0x40 : 0) |
                              (c->has_username ? 0x80 : 0));
    if (c->will_flag)
        flags |= (uint8_t)(0x04 | (c->will_qos << 3) | (c->will_retain ? 0x20 : 0));
    fmq__put_u8(w, flags);
    fmq__put_u16(w, c->keep_alive);
    if (v5(version))
        fmq__props_write(w, &c->props);
    fmq__put_bin(w, c->client_id);
    if (c->will_flag) {
        if (v5(version))
            fmq__props_write(w, &c->will_props);
        fmq__put_bin(w, c->will_topic);
        fmq__put_bin(w, c->will_payload);
    }
    if (c->has_username)
        fmq__put_bin(w, c->username);
    if (c->has_password)
        fmq__put_bin(w, c->password);
}

/* Reason code and properties that MQTT 5 lets a sender leave off the end when
 * they are 0x00 and empty (PUBACK family, DISCONNECT, AUTH). */
static void put_reason_tail(fmq_writer_t *w, uint8_t reason, const fmq_props_t *props)
{
    bool empty = props_empty(props);
    if (reason == 0 && empty)
        return;
    fmq__put_u8(w, reason);
    if (!empty)
        fmq__props_write(w, props);
}

static void put_body(fmq_writer_t *w, const fmq_packet_t *p, uint8_t version)
{
    uint32_t pos = 0;
    switch (p->type) {
    case FMQ_CONNECT:
        put_connect(w, &p->connect, version);
        break;
    case FMQ_CONNACK:
        fmq__put_u8(w, p->connack.session_present ? 1 : 0);
        fmq__put_u8(w, p->connack.reason);
        if (v5(version))
            fmq__props_write(w, &p->connack.props);
        break;
    case FMQ_PUBLISH:
        fmq__put_bin(w, p->publish.topic);
        if (p->publish.qos > 0)
            fmq__put_u16(w, p->publish.packet_id);
        if (v5(version))
            fmq__props_write(w, &p->publish.props);
        fmq__put_raw(w, p->publish.payload.ptr, p->publish.payload.len);
        break;
    case FMQ_PUBACK:
    case FMQ_PUBREC:
    case FMQ_PUBREL:
    case FMQ_PUBCOMP:
        fmq__put_u16(w, p->ack.packet_id);
        if (v5(version))
            put_reason_tail(w, p->ack.reason, &p->ack.props);
        break;
    case FMQ_SUBSCRIBE: {
        fmq__put_u16(w, p->subscribe.packet_id);
        if (v5(version))
            fmq__props_write(w, &p->subscribe.props);
        fmq_sub_entry_t e;
        while (fmq_sub_iter(&p->subscribe, &pos, &e)) {
            fmq__put_bin(w, e.filter);
            uint8_t opt = e.qos & 0x03;
            if (v5(version))
                opt |= (uint8_t)((e.no_local ? 0x04 : 0) | (e.retain_as_published ? 0x08 : 0) |
                                 ((e.retain_handling & 0x03) << 4));
            fmq__put_u8(w, opt);
        }
        break;
    }
    case FMQ_UNSUBSCRIBE: {
        fmq__put_u16(w, p->unsubscribe.packet_id);
        if (v5(version))
            fmq__props_write(w, &p->unsubscribe.props);
        fmq_bytes_t f;
        while (fmq_unsub_iter(&p->unsubscribe, &pos, &f))
            fmq__put_bin(w, f);
        break;
    }
    case FMQ_SUBACK:
    case FMQ_UNSUBACK:
        fmq__put_u16(w, p->suback.packet_id);
        if (p->type == FMQ_UNSUBACK && !v5(version))
            break;
        if (v5(version))
            fmq__props_write(w, &p->suback.props);
        fmq__put_raw(w, p->suback.codes.ptr, p->suback.codes.len);
        break;
    case FMQ_PINGREQ:
    case FMQ_PINGRESP:
        break;
    case FMQ_DISCONNECT:
    case FMQ_AUTH:
        if (v5(version))
            put_reason_tail(w, p->disconnect.reason, &p->disconnect.props);
        break;
    }
}

static uint8_t header_flags(const fmq_packet_t *p)
{
    switch (p->type) {
    case FMQ_PUBLISH:
        return (uint8_t)((p->publish.dup ? 0x08 : 0) | (p->publish.qos << 1) |
                         (p->publish.retain ? 0x01 : 0));
    case FMQ_PUBREL:
    case FMQ_SUBSCRIBE:
    case FMQ_UNSUBSCRIBE:
        return 0x02;
    default:
        return 0;
    }
}

static bool too_long_bytes(fmq_bytes_t b)
{
    return b.len > 0xFFFF;
}

/* What the body writer cannot express: caught before anything is written. */
static int check_encodable(const fmq_packet_t *p, uint8_t version, fmq_err_t *err)
{
    if (version < FMQ_V31 || version > FMQ_V5)
        return FAIL(FMQ_RC_UNSUPPORTED_PROTOCOL_VERSION, "protocol level must be 3, 4 or 5");
    if (p->type < FMQ_CONNECT || p->type > FMQ_AUTH)
        return FAIL(FMQ_RC_MALFORMED_PACKET, "no such packet type");
    if (p->type == FMQ_AUTH && !v5(version))
        return FAIL(FMQ_RC_PROTOCOL_ERROR, "AUTH exists only in MQTT 5");
    const fmq_props_t *props[2] = {NULL, NULL};
    switch (p->type) {
    case FMQ_CONNECT: {
        const fmq_connect_t *c = &p->connect;
        if (too_long_bytes(c->client_id) || too_long_bytes(c->will_topic) ||
            too_long_bytes(c->will_payload) || too_long_bytes(c->username) ||
            too_long_bytes(c->password))
            return FAIL(FMQ_RC_IMPLEMENTATION_SPECIFIC, too_long);
        if (c->will_qos > 2)
            return FAIL(FMQ_RC_MALFORMED_PACKET, "Will QoS must be 0, 1 or 2");
        if (!v5(version) && c->has_password && !c->has_username)
            return FAIL(FMQ_RC_MALFORMED_PACKET,
                        "[MQTT-3.1.2-22] MQTT 3.1.1 needs a User Name with a Password");
        props[0] = &c->props;
        props[1] = c->will_flag ? &c->will_props : NULL;
        break;
    }
    case FMQ_PUBLISH:
        if (too_long_bytes(p->publish.topic))
            return FAIL(FMQ_RC_IMPLEMENTATION_SPECIFIC, too_long);
        if (p->publish.qos > 2)
            return FAIL(FMQ_RC_MALFORMED_PACKET, "QoS must be 0, 1 or 2");
        if (p->publish.qos == 0 && p->publish.dup)
            return FAIL(FMQ_RC_MALFORMED_PACKET, "[MQTT-3.3.1-2] DUP must be 0 for QoS 0");
        props[0] = &p->publish.props;
        break;
    case FMQ_SUBSCRIBE: {
        fmq_sub_entry_t e;
        uint32_t pos = 0;
        while (fmq_sub_iter(&p->subscribe, &pos, &e))
            if (too_long_bytes(e.filter))
                return FAIL(FMQ_RC_IMPLEMENTATION_SPECIFIC, too_long);
        if (pos == 0)
            return FAIL(FMQ_RC_PROTOCOL_ERROR, "[MQTT-3.8.3-3] SUBSCRIBE needs a topic filter");
        props[0] = &p->subscribe.props;
        break;
    }
    case FMQ_UNSUBSCRIBE: {
        fmq_bytes_t f;
        uint32_t pos = 0;
        while (fmq_unsub_iter(&p->unsubscribe, &pos, &f))
            if (too_long_bytes(f))
                return FAIL(FMQ_RC_IMPLEMENTATION_SPECIFIC, too_long);
        if (pos == 0)
            return FAIL(FMQ_RC_PROTOCOL_ERROR,
                        "[MQTT-3.10.3-2] UNSUBSCRIBE needs a topic filter");
        props[0] = &p->unsubscribe.props;
        break;
    }
    case FMQ_CONNACK:
        if (!v5(version) && p->connack.reason > FMQ_V3_REFUSED_NOT_AUTHORIZED)
            return FAIL(FMQ_RC_PROTOCOL_ERROR,
                        "MQTT 3.1.1 CONNACK needs a return code 0..5 (fmq_connack_v3_code)");
        props[0] = &p->connack.props;
        break;
    case FMQ_PUBACK:
    case FMQ_PUBREC:
    case FMQ_PUBREL:
    case FMQ_PUBCOMP:
        props[0] = &p->ack.props;
        break;
    case FMQ_SUBACK:
    case FMQ_UNSUBACK:
        for (uint32_t i = 0; !v5(version) && p->type == FMQ_SUBACK && i < p->suback.codes.len; i++) {
            uint8_t c = p->suback.codes.ptr[i];
            if (c > 2 && c != 0x80)
                return FAIL(FMQ_RC_PROTOCOL_ERROR, "MQTT 3.1.1 SUBACK codes are 0, 1, 2 or 0x80");
        }
        props[0] = &p->suback.props;
        break;
    case FMQ_DISCONNECT:
    case FMQ_AUTH:
        props[0] = &p->disconnect.props;
        break;
    default:
        break;
    }
    if (v5(version)) {
        for (int i = 0; i < 2; i++) {
            int rc = props[i] ? fmq__props_encodable(props[i], err) : 0;
            if (rc)
                return rc;
        }
    }
    return 0;
}

int fmq_encode(const fmq_packet_t *p, uint8_t version, uint8_t *out, size_t cap, fmq_err_t *err)
{
    int rc = check_encodable(p, version, err);
    if (rc)
        return rc;
    fmq_writer_t sizer = {NULL, 0, 0};
    put_body(&sizer, p, version);
    if (sizer.len > FMQ_MAX_REMAINING)
        return FAIL(FMQ_RC_PACKET_TOO_LARGE, "packet body exceeds 268435455 bytes");
    uint32_t body = (uint32_t)sizer.len;
    size_t total = 1 + (size_t)fmq_varint_size(body) + body;
    if (total > cap)
        return (int)total;
    fmq_writer_t w = {out, cap, 0};
    fmq__put_u8(&w, (uint8_t)(p->type << 4 | header_flags(p)));
    fmq__put_varint(&w, body);
    put_body(&w, p, version);
    return (int)w.len;
}
