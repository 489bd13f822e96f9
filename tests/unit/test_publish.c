/* PUBLISH (MQTT 5.0 section 3.3, MQTT 3.1.1 section 3.3). Golden vectors by
 * hand from the spec; properties in ascending identifier order. */
#include "fmq_test.h"

/* MQTT 3.1.1, QoS 0, topic "a/b", payload "hello". */
static const uint8_t v311_qos0[] = {
    0x30, 0x0A,                     /* PUBLISH, DUP 0 QoS 0 RETAIN 0; Remaining Length 10 */
    0x00, 0x03, 'a', '/', 'b',      /* Topic Name "a/b" (5) */
    'h', 'e', 'l', 'l', 'o',        /* Payload (5) */
};

/* MQTT 3.1.1, DUP, QoS 1, RETAIN; packet id 0x1234; binary payload. */
static const uint8_t v311_qos1[] = {
    0x3B, 0x0A,                     /* PUBLISH 0011 1 01 1: DUP, QoS 1, RETAIN; RL 10 */
    0x00, 0x03, 't', '/', '1',      /* Topic Name "t/1" (5) */
    0x12, 0x34,                     /* Packet Identifier 0x1234 (2) */
    0x00, 0x01, 0x02,               /* Payload (3) */
};

/* MQTT 3.1.1, QoS 2, packet id 65535, empty payload. */
static const uint8_t v311_qos2[] = {
    0x34, 0x05,                     /* PUBLISH, QoS 2; RL 5 */
    0x00, 0x01, 'x',                /* Topic Name "x" (3) */
    0xFF, 0xFF,                     /* Packet Identifier 65535 (2) */
};

/* MQTT 5, QoS 0, no properties. */
static const uint8_t v5_qos0[] = {
    0x30, 0x08,                     /* PUBLISH, QoS 0; RL 8 */
    0x00, 0x03, 'a', '/', 'b',      /* Topic Name (5) */
    0x00,                           /* Property Length 0 (1) */
    'h', 'i',                       /* Payload (2) */
};

/* MQTT 5, QoS 1, every PUBLISH property; two Subscription Identifiers and two
 * User Properties with the same name (order kept). */
static const uint8_t v5_qos1_full[] = {
    0x32, 0x43,                     /* PUBLISH, QoS 1; RL 67 */
    0x00, 0x03, 's', '/', 't',      /* Topic Name "s/t" (5) */
    0x00, 0x07,                     /* Packet Identifier 7 (2) */
    0x39,                           /* Property Length 57 (1) */
    0x01, 0x01,                     /*   Payload Format Indicator 1 (2) */
    0x02, 0x00, 0x00, 0x0E, 0x10,   /*   Message Expiry Interval 3600 (5) */
    0x03, 0x00, 0x04, 'j', 's', 'o', 'n', /* Content Type "json" (7) */
    0x08, 0x00, 0x06, 'r', 'e', 's', 'p', '/', '1', /* Response Topic "resp/1" (9) */
    0x09, 0x00, 0x04, 0x01, 0x02, 0x03, 0x04, /* Correlation Data (7) */
    0x0B, 0x01,                     /*   Subscription Identifier 1 (2) */
    0x0B, 0x80, 0x80, 0x01,         /*   Subscription Identifier 16384 (4) */
    0x23, 0x00, 0x05,               /*   Topic Alias 5 (3) */
    0x26, 0x00, 0x02, 'k', '1', 0x00, 0x02, 'v', '1', /* User Property k1=v1 (9) */
    0x26, 0x00, 0x02, 'k', '1', 0x00, 0x02, 'v', '2', /* User Property k1=v2 (9) */
    '{', '}',                       /* Payload (2) */
};
/* 2+5+7+9+7+2+4+3+9+9 = 57; 5 + 2 + 1 + 57 + 2 = 67 */

/* The same packet encoded for MQTT 3.1.1: properties dropped. */
static const uint8_t v311_from_v5[] = {
    0x32, 0x09,                     /* PUBLISH, QoS 1; RL 9 */
    0x00, 0x03, 's', '/', 't',      /* (5) */
    0x00, 0x07,                     /* (2) */
    '{', '}',                       /* (2) */
};

/* MQTT 5, QoS 2, empty Topic Name with a Topic Alias (3.3.2.3.4). */
static const uint8_t v5_alias_only[] = {
    0x34, 0x09,                     /* PUBLISH, QoS 2; RL 9 */
    0x00, 0x00,                     /* Topic Name "" (2) */
    0x00, 0x01,                     /* Packet Identifier 1 (2) */
    0x03, 0x23, 0x00, 0x01,         /* Property Length 3: Topic Alias 1 (4) */
    'x',                            /* Payload (1) */
};

static fmq_packet_t publish(uint8_t qos, bool dup, bool retain, const char *topic, uint16_t id)
{
    fmq_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = FMQ_PUBLISH;
    p.publish.qos = qos;
    p.publish.dup = dup;
    p.publish.retain = retain;
    p.publish.topic = fmq_cstr(topic);
    p.publish.packet_id = id;
    return p;
}

static const fmq_user_prop_t users[] = {
    {{(const uint8_t *)"k1", 2}, {(const uint8_t *)"v1", 2}},
    {{(const uint8_t *)"k1", 2}, {(const uint8_t *)"v2", 2}},
};
static const uint32_t sub_ids[] = {1, 16384};

static fmq_packet_t pkt_v5_qos1_full(void)
{
    fmq_packet_t p = publish(1, false, false, "s/t", 7);
    fmq_props_t *pp = &p.publish.props;
    pp->present = FMQ_PROP_BIT(0x01) | FMQ_PROP_BIT(0x02) | FMQ_PROP_BIT(0x03) |
                  FMQ_PROP_BIT(0x08) | FMQ_PROP_BIT(0x09) | FMQ_PROP_BIT(0x0B) |
                  FMQ_PROP_BIT(0x23) | FMQ_PROP_BIT(0x26);
    pp->payload_format = 1;
    pp->message_expiry = 3600;
    pp->content_type = FMQ_BYTES("json");
    pp->response_topic = FMQ_BYTES("resp/1");
    pp->correlation_data = FMQ_BYTES("\x01\x02\x03\x04");
    pp->sub_ids = sub_ids;
    pp->n_sub_ids = 2;
    pp->topic_alias = 5;
    pp->user = users;
    pp->n_user = 2;
    p.publish.payload = FMQ_BYTES("{}");
    return p;
}

static fmq_packet_t pkt_v5_alias_only(void)
{
    fmq_packet_t p = publish(2, false, false, "", 1);
    p.publish.props.present = FMQ_PROP_BIT(FMQ_PROP_TOPIC_ALIAS);
    p.publish.props.topic_alias = 1;
    p.publish.payload = FMQ_BYTES("x");
    return p;
}

/* ---- decode ---- */

static void decode_v311(void)
{
    fmq_packet_t p;
    if (DECODE_OK(v311_qos0, FMQ_V311, &p)) {
        CHECK_EQ_INT(p.type, FMQ_PUBLISH);
        CHECK_EQ_INT(p.publish.qos, 0);
        CHECK_EQ_INT(p.publish.dup, false);
        CHECK_EQ_INT(p.publish.retain, false);
        CHECK_BSTR(p.publish.topic, "a/b");
        CHECK_EQ_INT(p.publish.packet_id, 0);
        CHECK_BSTR(p.publish.payload, "hello");
        CHECK(p.publish.payload.ptr == v311_qos0 + 7);
        CHECK_EQ_HEX(p.publish.props.present, 0);
    }
    if (DECODE_OK(v311_qos1, FMQ_V311, &p)) {
        CHECK_EQ_INT(p.publish.qos, 1);
        CHECK_EQ_INT(p.publish.dup, true);
        CHECK_EQ_INT(p.publish.retain, true);
        CHECK_BSTR(p.publish.topic, "t/1");
        CHECK_EQ_HEX(p.publish.packet_id, 0x1234);
        CHECK_BSTR(p.publish.payload, "\x00\x01\x02");
    }
    if (DECODE_OK(v311_qos2, FMQ_V311, &p)) {
        CHECK_EQ_INT(p.publish.qos, 2);
        CHECK_EQ_INT(p.publish.dup, false);
        CHECK_EQ_INT(p.publish.retain, false);
        CHECK_BSTR(p.publish.topic, "x");
        CHECK_EQ_INT(p.publish.packet_id, 65535);
        CHECK_EQ_INT(p.publish.payload.len, 0);
    }
    /* MQTT 3.1 PUBLISH is the same */
    if (DECODE_OK(v311_qos1, FMQ_V31, &p))
        CHECK_EQ_HEX(p.publish.packet_id, 0x1234);
}

static void decode_v5(void)
{
    fmq_packet_t p;
    if (DECODE_OK(v5_qos0, FMQ_V5, &p)) {
        CHECK_EQ_INT(p.publish.qos, 0);
        CHECK_BSTR(p.publish.topic, "a/b");
        CHECK_EQ_HEX(p.publish.props.present, 0);
        CHECK_BSTR(p.publish.payload, "hi");
    }
    if (DECODE_OK(v5_qos1_full, FMQ_V5, &p)) {
        const fmq_publish_t *pb = &p.publish;
        CHECK_EQ_INT(pb->qos, 1);
        CHECK_EQ_INT(pb->dup, false);
        CHECK_EQ_INT(pb->retain, false);
        CHECK_BSTR(pb->topic, "s/t");
        CHECK_EQ_INT(pb->packet_id, 7);
        CHECK_BSTR(pb->payload, "{}");
        const fmq_props_t *pp = &pb->props;
        CHECK_EQ_HEX(pp->present, FMQ_PROP_BIT(0x01) | FMQ_PROP_BIT(0x02) | FMQ_PROP_BIT(0x03) |
                                      FMQ_PROP_BIT(0x08) | FMQ_PROP_BIT(0x09) |
                                      FMQ_PROP_BIT(0x0B) | FMQ_PROP_BIT(0x23) |
                                      FMQ_PROP_BIT(0x26));
        CHECK_EQ_INT(pp->payload_format, 1);
        CHECK_EQ_INT(pp->message_expiry, 3600);
        CHECK_BSTR(pp->content_type, "json");
        CHECK_BSTR(pp->response_topic, "resp/1");
        CHECK_BSTR(pp->correlation_data, "\x01\x02\x03\x04");
        CHECK_EQ_INT(pp->topic_alias, 5);
        CHECK_EQ_INT(pp->n_sub_ids, 2);
        uint32_t id = 0;
        CHECK(props_sub_id_at(pp, 0, &id) && id == 1);
        CHECK(props_sub_id_at(pp, 1, &id) && id == 16384);
        CHECK_EQ_INT(pp->n_user, 2);
        fmq_user_prop_t kv;
        if (CHECK(props_user_at(pp, 0, &kv))) {
            CHECK_BSTR(kv.key, "k1");
            CHECK_BSTR(kv.value, "v1");
        }
        if (CHECK(props_user_at(pp, 1, &kv))) {
            CHECK_BSTR(kv.key, "k1");
            CHECK_BSTR(kv.value, "v2");
        }
        fmq_packet_t want = pkt_v5_qos1_full();
        CHECK_PACKET_EQ(&want, &p, FMQ_V5);
    }
    if (DECODE_OK(v5_alias_only, FMQ_V5, &p)) {
        CHECK_EQ_INT(p.publish.qos, 2);
        CHECK_EQ_INT(p.publish.topic.len, 0);
        CHECK_EQ_INT(p.publish.packet_id, 1);
        CHECK(fmq_props_has(&p.publish.props, FMQ_PROP_TOPIC_ALIAS));
        CHECK_EQ_INT(p.publish.props.topic_alias, 1);
        CHECK_BSTR(p.publish.payload, "x");
    }
}

/* ---- encode / round trip / framing ---- */

static void encode_matches_golden(void)
{
    fmq_packet_t p = publish(0, false, false, "a/b", 0);
    p.publish.payload = FMQ_BYTES("hello");
    CHECK_ENCODE(&p, FMQ_V311, v311_qos0);
    p = publish(1, true, true, "t/1", 0x1234);
    p.publish.payload = FMQ_BYTES("\x00\x01\x02");
    CHECK_ENCODE(&p, FMQ_V311, v311_qos1);
    CHECK_ENCODE(&p, FMQ_V31, v311_qos1);
    p = publish(2, false, false, "x", 65535);
    CHECK_ENCODE(&p, FMQ_V311, v311_qos2);
    p = publish(0, false, false, "a/b", 0);
    p.publish.payload = FMQ_BYTES("hi");
    CHECK_ENCODE(&p, FMQ_V5, v5_qos0);
    p = pkt_v5_qos1_full();
    CHECK_ENCODE(&p, FMQ_V5, v5_qos1_full);
    CHECK_ENCODE(&p, FMQ_V311, v311_from_v5);
    p = pkt_v5_alias_only();
    CHECK_ENCODE(&p, FMQ_V5, v5_alias_only);
}

static void reencode_decoded(void)
{
    fmq_packet_t p;
    if (DECODE_OK(v5_qos1_full, FMQ_V5, &p)) {
        CHECK_ENCODE(&p, FMQ_V5, v5_qos1_full);
        CHECK_ENCODE(&p, FMQ_V311, v311_from_v5);
    }
    if (DECODE_OK(v311_qos1, FMQ_V311, &p))
        CHECK_ENCODE(&p, FMQ_V311, v311_qos1);
    if (DECODE_OK(v5_alias_only, FMQ_V5, &p))
        CHECK_ENCODE(&p, FMQ_V5, v5_alias_only);
}

static void roundtrip(void)
{
    fmq_packet_t p = publish(0, false, true, "a/b", 0);
    p.publish.payload = FMQ_BYTES("payload");
    CHECK_ROUNDTRIP(&p, FMQ_V311);
    CHECK_ROUNDTRIP(&p, FMQ_V5);
    p = publish(2, true, false, "$SYS/x", 1);
    CHECK_ROUNDTRIP(&p, FMQ_V311);
    CHECK_ROUNDTRIP(&p, FMQ_V5);
    p = pkt_v5_qos1_full();
    CHECK_ROUNDTRIP(&p, FMQ_V5);
    p = pkt_v5_alias_only();
    CHECK_ROUNDTRIP(&p, FMQ_V5);
}

static void truncated_and_back_to_back(void)
{
    CHECK_PREFIXES(v311_qos0, FMQ_V311);
    CHECK_PREFIXES(v311_qos1, FMQ_V311);
    CHECK_PREFIXES(v311_qos2, FMQ_V311);
    CHECK_PREFIXES(v5_qos0, FMQ_V5);
    CHECK_PREFIXES(v5_qos1_full, FMQ_V5);
    CHECK_PREFIXES(v5_alias_only, FMQ_V5);
    CHECK_BACK_TO_BACK(v311_qos0, v311_qos1, FMQ_V311);
    CHECK_BACK_TO_BACK(v311_qos2, v311_qos0, FMQ_V311);
    CHECK_BACK_TO_BACK(v5_qos1_full, v5_qos0, FMQ_V5);
    CHECK_BACK_TO_BACK(v5_alias_only, v5_qos1_full, FMQ_V5);
}

/* Remaining Length across the variable byte integer boundaries: 127 (1 byte),
 * 128 (2 bytes), 16383 (2 bytes), 16384 (3 bytes). The header bytes are
 * written by hand; the payload is filler. */
static void remaining_length_boundaries(void)
{
    static const struct {
        uint32_t rl;
        uint8_t hdr[4];
        uint8_t hlen;
    } cases[] = {
        {127, {0x30, 0x7F}, 2},
        {128, {0x30, 0x80, 0x01}, 3},
        {203, {0x30, 0xCB, 0x01}, 3},
        {16383, {0x30, 0xFF, 0x7F}, 3},
        {16384, {0x30, 0x80, 0x80, 0x01}, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = cases[i].hlen + cases[i].rl;
        uint8_t *b = malloc(n);
        memcpy(b, cases[i].hdr, cases[i].hlen);
        b[cases[i].hlen] = 0x00; /* Topic Name "t" */
        b[cases[i].hlen + 1] = 0x01;
        b[cases[i].hlen + 2] = 't';
        size_t plen = cases[i].rl - 3;
        for (size_t k = 0; k < plen; k++)
            b[cases[i].hlen + 3 + k] = (uint8_t)k;
        fmq_packet_t p;
        fmq_err_t err;
        if (CHECK_EQ_INT(dec(b, n, FMQ_V311, &p, &err), (int)n)) {
            CHECK_BSTR(p.publish.topic, "t");
            CHECK_EQ_INT(p.publish.payload.len, plen);
            CHECK(p.publish.payload.ptr == b + cases[i].hlen + 3);
            check_encode_(__FILE__, __LINE__, &p, FMQ_V311, b, n);
        }
        fmq_fixed_header_t fh;
        CHECK_EQ_INT(fmq_frame(b, cases[i].hlen, 0, &fh, &err), (int)n);
        CHECK_EQ_INT(fh.header_len, cases[i].hlen);
        CHECK_EQ_INT(fh.remaining, cases[i].rl);
        CHECK_EQ_INT(fh.type, FMQ_PUBLISH);
        CHECK_EQ_INT(fh.flags, 0);
        CHECK_EQ_INT(dec(b, n - 1, FMQ_V311, &p, &err), FMQ_NEED_MORE);
        CHECK_EQ_INT(dec(b, cases[i].hlen, FMQ_V311, &p, &err), FMQ_NEED_MORE);
        free(b);
    }
}

/* ---- invalid PUBLISH ---- */

/* [MQTT-3.3.1-4]: a PUBLISH MUST NOT have both QoS bits set: Malformed Packet. */
static void qos3_mqtt_3_3_1_4(void)
{
    MUTABLE_COPY(b4, v311_qos1);
    b4[0] = 0x36; /* QoS bits 11 */
    DECODE_ERR(b4, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    MUTABLE_COPY(b5, v5_qos1_full);
    b5[0] = 0x3F; /* DUP | QoS 3 | RETAIN */
    DECODE_ERR(b5, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
}

/* [MQTT-3.3.1-2]: "The DUP flag MUST be set to 0 for all QoS 0 messages".
 * The codec treats a violation as Malformed Packet. */
static void dup_on_qos0_mqtt_3_3_1_2(void)
{
    MUTABLE_COPY(b, v311_qos0);
    b[0] = 0x38;
    DECODE_ERR(b, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    MUTABLE_COPY(b5, v5_qos0);
    b5[0] = 0x39;
    DECODE_ERR(b5, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
}

/* [MQTT-2.2.1-3]: a PUBLISH with QoS > 0 carries a non-zero Packet Identifier. */
static void packet_id_zero_mqtt_2_2_1_3(void)
{
    MUTABLE_COPY(b4, v311_qos1);
    b4[7] = 0x00;
    b4[8] = 0x00;
    DECODE_ERR(b4, FMQ_V311, FMQ_RC_PROTOCOL_ERROR);
    MUTABLE_COPY(b5, v5_alias_only);
    b5[4] = 0x00;
    b5[5] = 0x00;
    DECODE_ERR(b5, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
}

/* [MQTT-3.3.2-2]: the Topic Name MUST NOT contain wildcards: 0x90. */
static void topic_wildcards_mqtt_3_3_2_2(void)
{
    static const char *const bad[] = {"a/+", "#/b", "+/+"};
    for (size_t i = 0; i < 3; i++) {
        MUTABLE_COPY(b4, v311_qos0);
        memcpy(b4 + 4, bad[i], 3);
        if (!DECODE_ERR(b4, FMQ_V311, FMQ_RC_TOPIC_NAME_INVALID))
            fprintf(stderr, "    topic \"%s\"\n", bad[i]);
        MUTABLE_COPY(b5, v5_qos0);
        memcpy(b5 + 4, bad[i], 3);
        DECODE_ERR(b5, FMQ_V5, FMQ_RC_TOPIC_NAME_INVALID);
    }
    static const uint8_t hash_only[] = {0x30, 0x04, 0x00, 0x01, '#', 0x00};
    DECODE_ERR(hash_only, FMQ_V5, FMQ_RC_TOPIC_NAME_INVALID);
}

/* 3.3.2.1 (5.0): "It is a Protocol Error if the Topic Name is zero length and
 * there is no Topic Alias." In 3.1.1 a zero-length name is invalid too
 * ([MQTT-4.7.3-1]); the codec reports 0x82 for both. */
static void empty_topic_without_alias(void)
{
    static const uint8_t v5[] = {
        0x30, 0x04,                 /* PUBLISH QoS 0; RL 4 */
        0x00, 0x00,                 /* Topic Name "" */
        0x00,                       /* no properties */
        'x',
    };
    DECODE_ERR(v5, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
    static const uint8_t v5_other_prop[] = {
        0x30, 0x06, 0x00, 0x00,
        0x02, 0x01, 0x00,           /* Payload Format Indicator only */
        'x',
    };
    DECODE_ERR(v5_other_prop, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
    static const uint8_t v311[] = {0x30, 0x03, 0x00, 0x00, 'x'};
    DECODE_ERR(v311, FMQ_V311, FMQ_RC_PROTOCOL_ERROR);
}

/* [MQTT-1.5.4-1]/[MQTT-1.5.4-2]: the Topic Name is a UTF-8 string. */
static void topic_invalid_utf8(void)
{
    static const uint8_t bad[][3] = {
        {'a', 0x00, 'b'},   /* U+0000 */
        {0xED, 0xBF, 0xBF}, /* U+DFFF */
        {0xC1, 0x81, 'b'},  /* overlong 'A' */
        {'a', '/', 0xF8},   /* invalid lead byte */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        MUTABLE_COPY(b4, v311_qos0);
        memcpy(b4 + 4, bad[i], 3);
        if (!DECODE_ERR(b4, FMQ_V311, FMQ_RC_MALFORMED_PACKET))
            fprintf(stderr, "    case %zu\n", i);
        MUTABLE_COPY(b5, v5_qos1_full);
        memcpy(b5 + 4, bad[i], 3);
        DECODE_ERR(b5, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    }
}

static void property_errors(void)
{
    /* 3.3.2.3.4: a Topic Alias of 0 is a Protocol Error, and the receiver
     * disconnects with 0x94 Topic Alias invalid [MQTT-3.3.2-8] */
    MUTABLE_COPY(alias0, v5_alias_only);
    alias0[9] = 0x00;
    DECODE_ERR(alias0, FMQ_V5, FMQ_RC_TOPIC_ALIAS_INVALID);
    static const uint8_t session_expiry[] = {
        0x30, 0x0A, 0x00, 0x01, 't',    /* RL 10 = 3 + 6 + 1 */
        0x05, 0x11, 0x00, 0x00, 0x00, 0x01, /* Session Expiry: not a PUBLISH property */
        'x',
    };
    DECODE_ERR(session_expiry, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t will_delay[] = {
        0x30, 0x0A, 0x00, 0x01, 't',    /* RL 10 = 3 + 6 + 1 */
        0x05, 0x18, 0x00, 0x00, 0x00, 0x01, /* Will Delay: a Will property only */
        'x',
    };
    DECODE_ERR(will_delay, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t pfi2[] = {0x30, 0x07, 0x00, 0x01, 't', 0x02, 0x01, 0x02, 'x'};
    DECODE_ERR(pfi2, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
    static const uint8_t two_aliases[] = {
        0x30, 0x0B, 0x00, 0x01, 't',    /* RL 11 = 3 + 7 + 1 */
        0x06, 0x23, 0x00, 0x01, 0x23, 0x00, 0x02, /* Topic Alias twice */
        'x',
    };
    DECODE_ERR(two_aliases, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
    static const uint8_t subid0[] = {0x30, 0x07, 0x00, 0x01, 't', 0x02, 0x0B, 0x00, 'x'};
    DECODE_ERR(subid0, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
}

static void lengths_malformed(void)
{
    static const uint8_t empty[] = {0x30, 0x00};
    DECODE_ERR(empty, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    DECODE_ERR(empty, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t one[] = {0x30, 0x01, 0x00};
    DECODE_ERR(one, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t topic_past[] = {0x30, 0x04, 0x00, 0x05, 'a', 'b'}; /* length 5, 2 bytes */
    DECODE_ERR(topic_past, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t no_packet_id[] = {0x32, 0x03, 0x00, 0x01, 't'}; /* QoS 1, id missing */
    DECODE_ERR(no_packet_id, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t half_packet_id[] = {0x32, 0x04, 0x00, 0x01, 't', 0x01};
    DECODE_ERR(half_packet_id, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t v5_no_props[] = {0x30, 0x03, 0x00, 0x01, 't'}; /* Property Length missing */
    DECODE_ERR(v5_no_props, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t v5_plen_past[] = {0x30, 0x05, 0x00, 0x01, 't', 0x09, 0x01};
    DECODE_ERR(v5_plen_past, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
}

/* [MQTT-3.3.4-6]: a PUBLISH from a Client MUST NOT contain a Subscription
 * Identifier; server to client it may. */
static void subscription_id_direction_mqtt_3_3_4_6(void)
{
    fmq_packet_t p;
    if (!DECODE_OK(v5_qos1_full, FMQ_V5, &p))
        return;
    fmq_err_t err = {ERR_POISON, NULL};
    CHECK_EQ_INT(fmq_check_direction(&p, FMQ_V5, FMQ_TO_SERVER, &err), -FMQ_RC_PROTOCOL_ERROR);
    CHECK_EQ_HEX(err.reason, FMQ_RC_PROTOCOL_ERROR);
    CHECK_EQ_INT(fmq_check_direction(&p, FMQ_V5, FMQ_TO_CLIENT, &err), 0);
    if (DECODE_OK(v5_qos0, FMQ_V5, &p))
        CHECK_EQ_INT(fmq_check_direction(&p, FMQ_V5, FMQ_TO_SERVER, &err), 0);
}

CHECK_MAIN(T(decode_v311), T(decode_v5), T(encode_matches_golden), T(reencode_decoded),
           T(roundtrip), T(truncated_and_back_to_back), T(remaining_length_boundaries),
           T(qos3_mqtt_3_3_1_4), T(dup_on_qos0_mqtt_3_3_1_2), T(packet_id_zero_mqtt_2_2_1_3),
           T(topic_wildcards_mqtt_3_3_2_2), T(empty_topic_without_alias),
           T(topic_invalid_utf8), T(property_errors), T(lengths_malformed),
           T(subscription_id_direction_mqtt_3_3_4_6))
