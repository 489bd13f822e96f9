/* SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK (MQTT 5.0 sections 3.8-3.11,
 * MQTT 3.1.1 sections 3.8-3.11). Golden vectors written by hand from the spec. */
#include "fmq_test.h"

/* ---- golden vectors ---- */

static const uint8_t sub_v311[] = {
    0x82, 0x0E,                         /* SUBSCRIBE, flags 0010; RL 14 */
    0x00, 0x0A,                         /* Packet Identifier 10 (2) */
    0x00, 0x03, 'a', '/', 'b', 0x01,    /* "a/b", Requested QoS 1 (6) */
    0x00, 0x03, 'c', '/', '#', 0x02,    /* "c/#", Requested QoS 2 (6) */
};

static const uint8_t sub_v5[] = {
    0x82, 0x22,                         /* SUBSCRIBE; RL 34 */
    0x00, 0x01,                         /* Packet Identifier 1 (2) */
    0x0C,                               /* Property Length 12 (1) */
    0x0B, 0xFF, 0xFF, 0xFF, 0x7F,       /*   Subscription Identifier 268435455 (5) */
    0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', /* User Property k=v (7) */
    0x00, 0x03, 'a', '/', '+',          /* "a/+" (5) */
    0x2D,                               /*   options 00 10 1 1 01: Retain Handling 2,
                                             Retain As Published, No Local, QoS 1 (1) */
    0x00, 0x0A, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 'x', /* "$share/g/x" (12) */
    0x10,                               /*   options: Retain Handling 1, QoS 0 (1) */
};
/* 2 + 1 + 12 + 6 + 13 = 34 */

/* The MQTT 5 SUBSCRIBE above encoded for 3.1.1: no properties, options
 * reduced to the QoS (3.1.1 bits 2-7 are reserved). */
static const uint8_t sub_v311_from_v5[] = {
    0x82, 0x15,                         /* RL 21 */
    0x00, 0x01,                         /* (2) */
    0x00, 0x03, 'a', '/', '+', 0x01,    /* (6) */
    0x00, 0x0A, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 'x', 0x00, /* (13) */
};

static const uint8_t suback_v311[] = {
    0x90, 0x05,                         /* SUBACK; RL 5 */
    0x00, 0x0A,                         /* Packet Identifier 10 */
    0x01, 0x02, 0x80,                   /* QoS 1, QoS 2, Failure */
};

static const uint8_t suback_v5[] = {
    0x90, 0x0F,                         /* SUBACK; RL 15 */
    0x00, 0x01,                         /* Packet Identifier 1 (2) */
    0x00,                               /* Property Length 0 (1) */
    0x00, 0x01, 0x02, 0x80, 0x83, 0x87, /* every SUBACK reason code (12) */
    0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
};

static const uint8_t suback_v5_props[] = {
    0x90, 0x09,                         /* SUBACK; RL 9 */
    0x00, 0x02,                         /* Packet Identifier 2 (2) */
    0x05, 0x1F, 0x00, 0x02, 'o', 'k',   /* Property Length 5: Reason String "ok" (6) */
    0x00,                               /* Granted QoS 0 (1) */
};

static const uint8_t unsub_v311[] = {
    0xA2, 0x0A,                         /* UNSUBSCRIBE, flags 0010; RL 10 */
    0x00, 0x02,                         /* Packet Identifier 2 (2) */
    0x00, 0x03, 'a', '/', 'b',          /* "a/b" (5) */
    0x00, 0x01, 'c',                    /* "c" (3) */
};

static const uint8_t unsub_v5[] = {
    0xA2, 0x0F,                         /* UNSUBSCRIBE; RL 15 */
    0x00, 0x03,                         /* Packet Identifier 3 (2) */
    0x07,                               /* Property Length 7 (1) */
    0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', /* User Property (7) */
    0x00, 0x03, 'x', '/', '#',          /* "x/#" (5) */
};

static const uint8_t unsuback_v311[] = {
    0xB0, 0x02,                         /* UNSUBACK; RL 2 */
    0x00, 0x02,                         /* Packet Identifier 2: no payload in 3.1.1 */
};

static const uint8_t unsuback_v5[] = {
    0xB0, 0x0A,                         /* UNSUBACK; RL 10 */
    0x00, 0x03,                         /* Packet Identifier 3 (2) */
    0x00,                               /* Property Length 0 (1) */
    0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91, /* every UNSUBACK reason code (7) */
};

/* ---- structs ---- */

static const fmq_user_prop_t user_kv[] = {{{(const uint8_t *)"k", 1}, {(const uint8_t *)"v", 1}}};

static const fmq_sub_entry_t entries_v311[] = {
    {{(const uint8_t *)"a/b", 3}, 1, false, false, 0},
    {{(const uint8_t *)"c/#", 3}, 2, false, false, 0},
};
static const fmq_sub_entry_t entries_v5[] = {
    {{(const uint8_t *)"a/+", 3}, 1, true, true, 2},
    {{(const uint8_t *)"$share/g/x", 10}, 0, false, false, 1},
};
static const uint32_t max_sub_id[] = {268435455};

static fmq_packet_t subscribe(uint16_t id, const fmq_sub_entry_t *e, uint32_t n)
{
    fmq_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = FMQ_SUBSCRIBE;
    p.subscribe.packet_id = id;
    p.subscribe.entries = e;
    p.subscribe.count = n;
    return p;
}

static fmq_packet_t pkt_sub_v5(void)
{
    fmq_packet_t p = subscribe(1, entries_v5, 2);
    p.subscribe.props.present =
        FMQ_PROP_BIT(FMQ_PROP_SUBSCRIPTION_ID) | FMQ_PROP_BIT(FMQ_PROP_USER_PROPERTY);
    p.subscribe.props.sub_ids = max_sub_id;
    p.subscribe.props.n_sub_ids = 1;
    p.subscribe.props.user = user_kv;
    p.subscribe.props.n_user = 1;
    return p;
}

static fmq_packet_t suback(fmq_type_t t, uint16_t id, fmq_bytes_t codes)
{
    fmq_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = t;
    p.suback.packet_id = id;
    p.suback.codes = codes;
    return p;
}

static const fmq_bytes_t filters_v311[] = {{(const uint8_t *)"a/b", 3}, {(const uint8_t *)"c", 1}};
static const fmq_bytes_t filters_v5[] = {{(const uint8_t *)"x/#", 3}};

static fmq_packet_t unsubscribe(uint16_t id, const fmq_bytes_t *f, uint32_t n)
{
    fmq_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = FMQ_UNSUBSCRIBE;
    p.unsubscribe.packet_id = id;
    p.unsubscribe.filters = f;
    p.unsubscribe.count = n;
    return p;
}

static fmq_packet_t pkt_unsub_v5(void)
{
    fmq_packet_t p = unsubscribe(3, filters_v5, 1);
    p.unsubscribe.props.present = FMQ_PROP_BIT(FMQ_PROP_USER_PROPERTY);
    p.unsubscribe.props.user = user_kv;
    p.unsubscribe.props.n_user = 1;
    return p;
}

/* ---- decode ---- */

static void decode_subscribe_v311(void)
{
    fmq_packet_t p;
    if (!DECODE_OK(sub_v311, FMQ_V311, &p))
        return;
    CHECK_EQ_INT(p.type, FMQ_SUBSCRIBE);
    CHECK_EQ_INT(p.subscribe.packet_id, 10);
    CHECK_EQ_INT(p.subscribe.count, 2);
    CHECK_EQ_HEX(p.subscribe.props.present, 0);
    uint32_t pos = 0;
    fmq_sub_entry_t e;
    REQUIRE(fmq_sub_iter(&p.subscribe, &pos, &e));
    CHECK_BSTR(e.filter, "a/b");
    CHECK(e.filter.ptr == sub_v311 + 6);
    CHECK_EQ_INT(e.qos, 1);
    CHECK_EQ_INT(e.no_local, false);
    CHECK_EQ_INT(e.retain_as_published, false);
    CHECK_EQ_INT(e.retain_handling, 0);
    REQUIRE(fmq_sub_iter(&p.subscribe, &pos, &e));
    CHECK_BSTR(e.filter, "c/#");
    CHECK_EQ_INT(e.qos, 2);
    CHECK(!fmq_sub_iter(&p.subscribe, &pos, &e));
    fmq_packet_t want = subscribe(10, entries_v311, 2);
    CHECK_PACKET_EQ(&want, &p, FMQ_V311);
}

static void decode_subscribe_v5(void)
{
    fmq_packet_t p;
    if (!DECODE_OK(sub_v5, FMQ_V5, &p))
        return;
    CHECK_EQ_INT(p.subscribe.packet_id, 1);
    CHECK_EQ_INT(p.subscribe.count, 2);
    const fmq_props_t *pp = &p.subscribe.props;
    CHECK_EQ_HEX(pp->present, FMQ_PROP_BIT(0x0B) | FMQ_PROP_BIT(0x26));
    CHECK_EQ_INT(pp->n_sub_ids, 1);
    uint32_t id = 0;
    CHECK(props_sub_id_at(pp, 0, &id));
    CHECK_EQ_INT(id, 268435455);
    CHECK_EQ_INT(pp->n_user, 1);
    uint32_t pos = 0;
    fmq_sub_entry_t e;
    REQUIRE(fmq_sub_iter(&p.subscribe, &pos, &e));
    CHECK_BSTR(e.filter, "a/+");
    CHECK_EQ_INT(e.qos, 1);
    CHECK_EQ_INT(e.no_local, true);
    CHECK_EQ_INT(e.retain_as_published, true);
    CHECK_EQ_INT(e.retain_handling, 2);
    REQUIRE(fmq_sub_iter(&p.subscribe, &pos, &e));
    CHECK_BSTR(e.filter, "$share/g/x");
    CHECK_EQ_INT(e.qos, 0);
    CHECK_EQ_INT(e.no_local, false);
    CHECK_EQ_INT(e.retain_as_published, false);
    CHECK_EQ_INT(e.retain_handling, 1);
    CHECK(!fmq_sub_iter(&p.subscribe, &pos, &e));
    fmq_packet_t want = pkt_sub_v5();
    CHECK_PACKET_EQ(&want, &p, FMQ_V5);
}

static void decode_suback(void)
{
    fmq_packet_t p;
    if (DECODE_OK(suback_v311, FMQ_V311, &p)) {
        CHECK_EQ_INT(p.type, FMQ_SUBACK);
        CHECK_EQ_INT(p.suback.packet_id, 10);
        CHECK_BSTR(p.suback.codes, "\x01\x02\x80");
        CHECK_EQ_HEX(p.suback.props.present, 0);
    }
    if (DECODE_OK(suback_v5, FMQ_V5, &p)) {
        CHECK_EQ_INT(p.suback.packet_id, 1);
        CHECK_EQ_INT(p.suback.codes.len, 12);
        CHECK_EQ_BYTES(p.suback.codes.ptr, p.suback.codes.len, suback_v5 + 5, 12);
    }
    if (DECODE_OK(suback_v5_props, FMQ_V5, &p)) {
        CHECK_EQ_INT(p.suback.packet_id, 2);
        CHECK_BSTR(p.suback.props.reason_string, "ok");
        CHECK_BSTR(p.suback.codes, "\x00");
    }
}

static void decode_unsubscribe(void)
{
    fmq_packet_t p;
    if (DECODE_OK(unsub_v311, FMQ_V311, &p)) {
        CHECK_EQ_INT(p.type, FMQ_UNSUBSCRIBE);
        CHECK_EQ_INT(p.unsubscribe.packet_id, 2);
        CHECK_EQ_INT(p.unsubscribe.count, 2);
        uint32_t pos = 0;
        fmq_bytes_t f;
        if (CHECK(fmq_unsub_iter(&p.unsubscribe, &pos, &f)))
            CHECK_BSTR(f, "a/b");
        if (CHECK(fmq_unsub_iter(&p.unsubscribe, &pos, &f)))
            CHECK_BSTR(f, "c");
        CHECK(!fmq_unsub_iter(&p.unsubscribe, &pos, &f));
    }
    if (DECODE_OK(unsub_v5, FMQ_V5, &p)) {
        CHECK_EQ_INT(p.unsubscribe.packet_id, 3);
        CHECK_EQ_INT(p.unsubscribe.count, 1);
        CHECK_EQ_INT(p.unsubscribe.props.n_user, 1);
        fmq_packet_t want = pkt_unsub_v5();
        CHECK_PACKET_EQ(&want, &p, FMQ_V5);
    }
}

static void decode_unsuback(void)
{
    fmq_packet_t p;
    if (DECODE_OK(unsuback_v311, FMQ_V311, &p)) {
        CHECK_EQ_INT(p.type, FMQ_UNSUBACK);
        CHECK_EQ_INT(p.suback.packet_id, 2);
        CHECK_EQ_INT(p.suback.codes.len, 0);
    }
    if (DECODE_OK(unsuback_v5, FMQ_V5, &p)) {
        CHECK_EQ_INT(p.suback.packet_id, 3);
        CHECK_EQ_BYTES(p.suback.codes.ptr, p.suback.codes.len, unsuback_v5 + 5, 7);
    }
}

/* 3.9.3 / 3.11.3 (5.0) and 3.9.3 (3.1.1): the codes each acknowledgement may carry. */
static void reason_code_tables(void)
{
    static const uint8_t suback5[] = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87,
                                      0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
    static const uint8_t unsuback5[] = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
    static const uint8_t suback311[] = {0x00, 0x01, 0x02, 0x80};
    for (unsigned rc = 0; rc < 256; rc++) {
        fmq_packet_t p;
        bool ok = memchr(suback5, (int)rc, sizeof suback5) != NULL;
        uint8_t s5[] = {0x90, 0x04, 0x00, 0x01, 0x00, (uint8_t)rc};
        if (!(ok ? DECODE_OK(s5, FMQ_V5, &p) : DECODE_ERR(s5, FMQ_V5, FMQ_RC_PROTOCOL_ERROR)))
            fprintf(stderr, "    MQTT 5 SUBACK code 0x%02X\n", rc);
        ok = memchr(unsuback5, (int)rc, sizeof unsuback5) != NULL;
        uint8_t u5[] = {0xB0, 0x04, 0x00, 0x01, 0x00, (uint8_t)rc};
        if (!(ok ? DECODE_OK(u5, FMQ_V5, &p) : DECODE_ERR(u5, FMQ_V5, FMQ_RC_PROTOCOL_ERROR)))
            fprintf(stderr, "    MQTT 5 UNSUBACK code 0x%02X\n", rc);
        ok = memchr(suback311, (int)rc, sizeof suback311) != NULL;
        uint8_t s4[] = {0x90, 0x03, 0x00, 0x01, (uint8_t)rc};
        if (!(ok ? DECODE_OK(s4, FMQ_V311, &p) : DECODE_ERR(s4, FMQ_V311, FMQ_RC_PROTOCOL_ERROR)))
            fprintf(stderr, "    MQTT 3.1.1 SUBACK code 0x%02X\n", rc);
    }
}

/* fmq.h: fmq_decode does not check topic filter syntax (that is answered per
 * entry in the SUBACK with 0x8F); the caller uses fmq_topic_filter_check. */
static void filter_syntax_left_to_caller(void)
{
    static const uint8_t b[] = {
        0x82, 0x0A, 0x00, 0x01,
        0x00, 0x05, 's', 'p', 'o', 'r', '+', 0x00, /* "spor+" */
    };
    fmq_packet_t p;
    if (!DECODE_OK(b, FMQ_V311, &p))
        return;
    fmq_sub_entry_t e;
    uint32_t pos = 0;
    REQUIRE(fmq_sub_iter(&p.subscribe, &pos, &e));
    CHECK_EQ_INT(fmq_topic_filter_check(e.filter), -FMQ_RC_TOPIC_FILTER_INVALID);
}

/* ---- encode / round trip / framing ---- */

static void encode_matches_golden(void)
{
    fmq_packet_t p = subscribe(10, entries_v311, 2);
    CHECK_ENCODE(&p, FMQ_V311, sub_v311);
    CHECK_ENCODE(&p, FMQ_V31, sub_v311);
    p = pkt_sub_v5();
    CHECK_ENCODE(&p, FMQ_V5, sub_v5);
    CHECK_ENCODE(&p, FMQ_V311, sub_v311_from_v5);
    p = suback(FMQ_SUBACK, 10, FMQ_BYTES("\x01\x02\x80"));
    CHECK_ENCODE(&p, FMQ_V311, suback_v311);
    p = suback(FMQ_SUBACK, 1, (fmq_bytes_t){suback_v5 + 5, 12});
    CHECK_ENCODE(&p, FMQ_V5, suback_v5);
    p = suback(FMQ_SUBACK, 2, FMQ_BYTES("\x00"));
    p.suback.props.present = FMQ_PROP_BIT(FMQ_PROP_REASON_STRING);
    p.suback.props.reason_string = FMQ_BYTES("ok");
    CHECK_ENCODE(&p, FMQ_V5, suback_v5_props);
    p = unsubscribe(2, filters_v311, 2);
    CHECK_ENCODE(&p, FMQ_V311, unsub_v311);
    p = pkt_unsub_v5();
    CHECK_ENCODE(&p, FMQ_V5, unsub_v5);
    p = suback(FMQ_UNSUBACK, 2, FMQ_BYTES(""));
    CHECK_ENCODE(&p, FMQ_V311, unsuback_v311);
    p = suback(FMQ_UNSUBACK, 3, (fmq_bytes_t){unsuback_v5 + 5, 7});
    CHECK_ENCODE(&p, FMQ_V5, unsuback_v5);
    p.suback.packet_id = 2; /* 3.1.1 UNSUBACK drops codes and properties */
    CHECK_ENCODE(&p, FMQ_V311, unsuback_v311);
}

static void reencode_decoded(void)
{
    fmq_packet_t p;
    if (DECODE_OK(sub_v5, FMQ_V5, &p)) {
        CHECK_ENCODE(&p, FMQ_V5, sub_v5);
        CHECK_ENCODE(&p, FMQ_V311, sub_v311_from_v5);
    }
    if (DECODE_OK(sub_v311, FMQ_V311, &p))
        CHECK_ENCODE(&p, FMQ_V311, sub_v311);
    if (DECODE_OK(unsub_v5, FMQ_V5, &p))
        CHECK_ENCODE(&p, FMQ_V5, unsub_v5);
    if (DECODE_OK(suback_v5_props, FMQ_V5, &p))
        CHECK_ENCODE(&p, FMQ_V5, suback_v5_props);
    if (DECODE_OK(unsuback_v5, FMQ_V5, &p))
        CHECK_ENCODE(&p, FMQ_V5, unsuback_v5);
}

static void roundtrip(void)
{
    fmq_packet_t p = subscribe(10, entries_v311, 2);
    CHECK_ROUNDTRIP(&p, FMQ_V311);
    CHECK_ROUNDTRIP(&p, FMQ_V5);
    p = pkt_sub_v5();
    CHECK_ROUNDTRIP(&p, FMQ_V5);
    CHECK_ROUNDTRIP(&p, FMQ_V311); /* v5-only options compared as 0 */
    p = suback(FMQ_SUBACK, 7, FMQ_BYTES("\x00\x01\x02\x80"));
    CHECK_ROUNDTRIP(&p, FMQ_V311);
    CHECK_ROUNDTRIP(&p, FMQ_V5);
    p = unsubscribe(2, filters_v311, 2);
    CHECK_ROUNDTRIP(&p, FMQ_V311);
    CHECK_ROUNDTRIP(&p, FMQ_V5);
    p = pkt_unsub_v5();
    CHECK_ROUNDTRIP(&p, FMQ_V5);
    p = suback(FMQ_UNSUBACK, 3, FMQ_BYTES("\x00\x11"));
    CHECK_ROUNDTRIP(&p, FMQ_V5);
    CHECK_ROUNDTRIP(&p, FMQ_V311);
}

static void truncated_and_back_to_back(void)
{
    CHECK_PREFIXES(sub_v311, FMQ_V311);
    CHECK_PREFIXES(sub_v5, FMQ_V5);
    CHECK_PREFIXES(suback_v311, FMQ_V311);
    CHECK_PREFIXES(suback_v5, FMQ_V5);
    CHECK_PREFIXES(suback_v5_props, FMQ_V5);
    CHECK_PREFIXES(unsub_v311, FMQ_V311);
    CHECK_PREFIXES(unsub_v5, FMQ_V5);
    CHECK_PREFIXES(unsuback_v311, FMQ_V311);
    CHECK_PREFIXES(unsuback_v5, FMQ_V5);
    CHECK_BACK_TO_BACK(sub_v311, unsub_v311, FMQ_V311);
    CHECK_BACK_TO_BACK(suback_v311, unsuback_v311, FMQ_V311);
    CHECK_BACK_TO_BACK(sub_v5, sub_v5, FMQ_V5);
    CHECK_BACK_TO_BACK(unsuback_v5, suback_v5_props, FMQ_V5);
    CHECK_BACK_TO_BACK(unsub_v5, suback_v5, FMQ_V5);
}

/* ---- invalid ---- */

/* [MQTT-3.8.1-1], [MQTT-3.10.1-1]: SUBSCRIBE and UNSUBSCRIBE flags 0010;
 * [MQTT-2.2.2-2]: SUBACK and UNSUBACK 0000. */
static void fixed_header_flags(void)
{
    for (uint8_t f = 0; f < 16; f++) {
        if (f != 0x2) {
            MUTABLE_COPY(s, sub_v311);
            s[0] = (uint8_t)(0x80 | f);
            if (!DECODE_ERR(s, FMQ_V311, FMQ_RC_MALFORMED_PACKET))
                fprintf(stderr, "    SUBSCRIBE flags 0x%X\n", f);
            MUTABLE_COPY(u, unsub_v5);
            u[0] = (uint8_t)(0xA0 | f);
            if (!DECODE_ERR(u, FMQ_V5, FMQ_RC_MALFORMED_PACKET))
                fprintf(stderr, "    UNSUBSCRIBE flags 0x%X\n", f);
        }
        if (f != 0) {
            MUTABLE_COPY(sa, suback_v5);
            sa[0] = (uint8_t)(0x90 | f);
            DECODE_ERR(sa, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
            MUTABLE_COPY(ua, unsuback_v311);
            ua[0] = (uint8_t)(0xB0 | f);
            DECODE_ERR(ua, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
        }
    }
}

/* 3.1.1 [MQTT-3.8.3-3] / 5.0 [MQTT-3.8.3-2]: at least one filter; "A
 * SUBSCRIBE packet with no Payload is a Protocol Error". */
static void subscribe_without_filters_mqtt_3_8_3_3(void)
{
    static const uint8_t v311[] = {0x82, 0x02, 0x00, 0x01};
    DECODE_ERR(v311, FMQ_V311, FMQ_RC_PROTOCOL_ERROR);
    static const uint8_t v5[] = {0x82, 0x03, 0x00, 0x01, 0x00};
    DECODE_ERR(v5, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
}

/* 3.1.1 [MQTT-3.10.3-2] / 5.0 3.10.3: "An UNSUBSCRIBE packet with no Payload
 * is a Protocol Error". */
static void unsubscribe_without_filters_mqtt_3_10_3_2(void)
{
    static const uint8_t v311[] = {0xA2, 0x02, 0x00, 0x01};
    DECODE_ERR(v311, FMQ_V311, FMQ_RC_PROTOCOL_ERROR);
    static const uint8_t v5[] = {0xA2, 0x03, 0x00, 0x01, 0x00};
    DECODE_ERR(v5, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
}

/* 5.0 [MQTT-3.8.3-5]: bits 6-7 of the Subscription Options are reserved;
 * the Server MUST treat a non-zero one as malformed. */
static void v5_reserved_option_bits_mqtt_3_8_3_5(void)
{
    static const uint8_t opts[] = {0x40, 0x80, 0xC0, 0x41};
    for (size_t i = 0; i < sizeof opts; i++) {
        MUTABLE_COPY(b, sub_v5);
        b[sizeof b - 1] = opts[i]; /* options of the last entry */
        if (!DECODE_ERR(b, FMQ_V5, FMQ_RC_MALFORMED_PACKET))
            fprintf(stderr, "    options 0x%02X\n", opts[i]);
    }
}

/* 3.1.1 [MQTT-3-8.3-4]: bits 2-7 of the Requested QoS byte are reserved:
 * malformed. (The No Local/RAP/Retain Handling bits do not exist in 3.1.1.) */
static void v311_reserved_option_bits_mqtt_3_8_3_4(void)
{
    static const uint8_t opts[] = {0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x2D};
    for (size_t i = 0; i < sizeof opts; i++) {
        MUTABLE_COPY(b, sub_v311);
        b[sizeof b - 1] = opts[i];
        if (!DECODE_ERR(b, FMQ_V311, FMQ_RC_MALFORMED_PACKET))
            fprintf(stderr, "    options 0x%02X\n", opts[i]);
    }
}

/* Requested QoS 3: 3.1.1 [MQTT-3-8.3-4] malformed; 5.0 3.8.3.1 "It is a
 * Protocol Error if the Maximum QoS field has the value 3". */
static void subscription_qos_3(void)
{
    MUTABLE_COPY(b4, sub_v311);
    b4[sizeof b4 - 1] = 0x03;
    DECODE_ERR(b4, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    MUTABLE_COPY(b5, sub_v5);
    b5[sizeof b5 - 1] = 0x03;
    DECODE_ERR(b5, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
}

/* 5.0 3.8.3.1: "It is a Protocol Error to send a Retain Handling value of 3." */
static void retain_handling_3(void)
{
    MUTABLE_COPY(b, sub_v5);
    b[sizeof b - 1] = 0x30;
    DECODE_ERR(b, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
}

/* 5.0 [MQTT-3.8.3-4]: "It is a Protocol Error to set the No Local bit to 1
 * on a Shared Subscription." */
static void no_local_on_shared_mqtt_3_8_3_4(void)
{
    MUTABLE_COPY(b, sub_v5);
    b[sizeof b - 1] = 0x14; /* "$share/g/x" with No Local */
    DECODE_ERR(b, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
}

/* [MQTT-2.2.1-3]: SUBSCRIBE and UNSUBSCRIBE carry a non-zero Packet Identifier. */
static void packet_id_zero_mqtt_2_2_1_3(void)
{
    MUTABLE_COPY(s, sub_v311);
    s[2] = s[3] = 0;
    DECODE_ERR(s, FMQ_V311, FMQ_RC_PROTOCOL_ERROR);
    MUTABLE_COPY(u, unsub_v5);
    u[2] = u[3] = 0;
    DECODE_ERR(u, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
}

/* [MQTT-1.5.4-1]: filters are UTF-8 strings. */
static void filter_invalid_utf8(void)
{
    MUTABLE_COPY(s, sub_v311);
    s[7] = 0xC0; /* "a\xC0b" */
    DECODE_ERR(s, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    MUTABLE_COPY(s0, sub_v5);
    s0[19] = 0x00; /* "a\0+" */
    DECODE_ERR(s0, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    MUTABLE_COPY(u, unsub_v311);
    u[sizeof u - 1] = 0xFF; /* filter "\xFF" */
    DECODE_ERR(u, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
}

static void lengths_malformed(void)
{
    static const uint8_t no_options[] = {0x82, 0x07, 0x00, 0x01, 0x00, 0x03, 'a', '/', 'b'};
    DECODE_ERR(no_options, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t filter_past[] = {0x82, 0x06, 0x00, 0x01, 0x00, 0x09, 'a', 0x00};
    DECODE_ERR(filter_past, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t unsub_half[] = {0xA2, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'};
    static const uint8_t unsub_cut[] = {0xA2, 0x04, 0x00, 0x01, 0x00, 0x02};
    fmq_packet_t p;
    DECODE_OK(unsub_half, FMQ_V311, &p); /* sanity: "a" */
    DECODE_ERR(unsub_cut, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t sub_short[] = {0x82, 0x01, 0x00};
    DECODE_ERR(sub_short, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t v5_plen_past[] = {0x82, 0x04, 0x00, 0x01, 0x07, 0x26};
    DECODE_ERR(v5_plen_past, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    /* MQTT 3.1.1 UNSUBACK is exactly the Packet Identifier */
    static const uint8_t unsuback_extra[] = {0xB0, 0x03, 0x00, 0x02, 0x00};
    DECODE_ERR(unsuback_extra, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t suback_short[] = {0x90, 0x01, 0x00};
    DECODE_ERR(suback_short, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
}

/* A SUBACK has one code per filter, so at least one; a 5.0 UNSUBACK too. */
static void acks_without_codes(void)
{
    static const uint8_t suback4[] = {0x90, 0x02, 0x00, 0x01};
    DECODE_ERR(suback4, FMQ_V311, FMQ_RC_PROTOCOL_ERROR);
    static const uint8_t suback5[] = {0x90, 0x03, 0x00, 0x01, 0x00};
    DECODE_ERR(suback5, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
    static const uint8_t unsuback5[] = {0xB0, 0x03, 0x00, 0x01, 0x00};
    DECODE_ERR(unsuback5, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
}

static void property_errors(void)
{
    static const uint8_t two_sub_ids[] = {
        0x82, 0x0B, 0x00, 0x01,
        0x04, 0x0B, 0x01, 0x0B, 0x02, /* Subscription Identifier twice (3.8.2.1.2) */
        0x00, 0x01, 't', 0x00,
    };
    /* 2 + 5 + 4 = 11 */
    DECODE_ERR(two_sub_ids, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
    static const uint8_t sub_id0[] = {0x82, 0x09, 0x00, 0x01, 0x02, 0x0B, 0x00, 0x00, 0x01, 't', 0x00};
    DECODE_ERR(sub_id0, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
    static const uint8_t reason_in_sub[] = {
        0x82, 0x0C, 0x00, 0x01,
        0x05, 0x1F, 0x00, 0x02, 'n', 'o', /* Reason String: not a SUBSCRIBE property */
        0x00, 0x01, 't', 0x00,
    };
    /* 2 + 6 + 4 = 12 */
    DECODE_ERR(reason_in_sub, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t sub_id_in_unsub[] = {
        0xA2, 0x08, 0x00, 0x01,
        0x02, 0x0B, 0x01,                 /* Subscription Identifier: not an UNSUBSCRIBE property */
        0x00, 0x01, 't',
    };
    DECODE_ERR(sub_id_in_unsub, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t alias_in_suback[] = {
        0x90, 0x07, 0x00, 0x01, 0x03, 0x23, 0x00, 0x01, 0x00,
    };
    DECODE_ERR(alias_in_suback, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
}

static void before_connect(void)
{
    DECODE_ERR(sub_v311, 0, FMQ_RC_PROTOCOL_ERROR);
    DECODE_ERR(unsub_v311, 0, FMQ_RC_PROTOCOL_ERROR);
    DECODE_ERR(suback_v311, 0, FMQ_RC_PROTOCOL_ERROR);
}

CHECK_MAIN(T(decode_subscribe_v311), T(decode_subscribe_v5), T(decode_suback),
           T(decode_unsubscribe), T(decode_unsuback), T(reason_code_tables),
           T(filter_syntax_left_to_caller), T(encode_matches_golden), T(reencode_decoded),
           T(roundtrip), T(truncated_and_back_to_back), T(fixed_header_flags),
           T(subscribe_without_filters_mqtt_3_8_3_3),
           T(unsubscribe_without_filters_mqtt_3_10_3_2), T(v5_reserved_option_bits_mqtt_3_8_3_5),
           T(v311_reserved_option_bits_mqtt_3_8_3_4), T(subscription_qos_3),
           T(retain_handling_3), T(no_local_on_shared_mqtt_3_8_3_4),
           T(packet_id_zero_mqtt_2_2_1_3), T(filter_invalid_utf8), T(lengths_malformed),
           T(acks_without_codes), T(property_errors), T(before_connect))
