/* CONNACK (MQTT 5.0 section 3.2, MQTT 3.1.1 section 3.2). Golden vectors by
 * hand from the spec; properties in ascending identifier order. */
#include "fmq_test.h"

/* MQTT 3.1.1: Session Present, Connection Accepted. */
static const uint8_t v311_accepted[] = {
    0x20, 0x02, /* CONNACK; Remaining Length 2 */
    0x01,       /* Connect Acknowledge Flags: Session Present */
    0x00,       /* Connect Return code 0: accepted */
};

/* MQTT 3.1.1: refused, not authorized (5). */
static const uint8_t v311_refused[] = {
    0x20, 0x02, /* CONNACK; Remaining Length 2 */
    0x00,       /* no session */
    0x05,       /* Connection Refused, not authorized */
};

/* MQTT 5: Success, no properties. */
static const uint8_t v5_success[] = {
    0x20, 0x03, /* CONNACK; Remaining Length 3 */
    0x00,       /* no session */
    0x00,       /* Reason Code Success */
    0x00,       /* Property Length 0 */
};

/* MQTT 5: every CONNACK property. */
static const uint8_t v5_full[] = {
    0x20, 0x51,                         /* CONNACK; Remaining Length 81 */
    0x01,                               /* Session Present (1) */
    0x00,                               /* Success (1) */
    0x4E,                               /* Property Length 78 (1) */
    0x11, 0xFF, 0xFF, 0xFF, 0xFF,       /*   Session Expiry Interval 0xFFFFFFFF (5) */
    0x12, 0x00, 0x06, 'a', 'u', 't', 'o', '-', '1', /* Assigned Client Identifier (9) */
    0x13, 0x00, 0x78,                   /*   Server Keep Alive 120 (3) */
    0x15, 0x00, 0x01, 'm',              /*   Authentication Method "m" (4) */
    0x16, 0x00, 0x01, 0xAA,             /*   Authentication Data AA (4) */
    0x1A, 0x00, 0x04, 'r', 'e', 's', 'p', /* Response Information "resp" (7) */
    0x1C, 0x00, 0x0A, 'o', 't', 'h', 'e', 'r', ':', '1', '8', '8', '3', /* Server Reference (13) */
    0x1F, 0x00, 0x02, 'o', 'k',         /*   Reason String "ok" (5) */
    0x21, 0x00, 0x64,                   /*   Receive Maximum 100 (3) */
    0x22, 0x00, 0x10,                   /*   Topic Alias Maximum 16 (3) */
    0x24, 0x01,                         /*   Maximum QoS 1 (2) */
    0x25, 0x00,                         /*   Retain Available 0 (2) */
    0x26, 0x00, 0x01, 'x', 0x00, 0x01, 'y', /* User Property x=y (7) */
    0x27, 0x00, 0x01, 0x00, 0x00,       /*   Maximum Packet Size 65536 (5) */
    0x28, 0x01,                         /*   Wildcard Subscription Available 1 (2) */
    0x29, 0x00,                         /*   Subscription Identifier Available 0 (2) */
    0x2A, 0x01,                         /*   Shared Subscription Available 1 (2) */
};
/* properties: 5+9+3+4+4+7+13+5+3+3+2+2+7+5+2+2+2 = 78 */

/* MQTT 5: refused 0x87 Not authorized, with a Reason String. */
static const uint8_t v5_refused[] = {
    0x20, 0x08,                   /* CONNACK; Remaining Length 8 */
    0x00,                         /* no session (1) */
    0x87,                         /* Not authorized (1) */
    0x05,                         /* Property Length 5 (1) */
    0x1F, 0x00, 0x02, 'n', 'o',   /*   Reason String "no" (5) */
};

static fmq_packet_t connack(bool sp, uint8_t reason)
{
    fmq_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = FMQ_CONNACK;
    p.connack.session_present = sp;
    p.connack.reason = reason;
    return p;
}

static const fmq_user_prop_t user_xy[] = {{{(const uint8_t *)"x", 1}, {(const uint8_t *)"y", 1}}};

static fmq_packet_t pkt_v5_full(void)
{
    fmq_packet_t p = connack(true, 0);
    fmq_props_t *pp = &p.connack.props;
    pp->present = FMQ_PROP_BIT(0x11) | FMQ_PROP_BIT(0x12) | FMQ_PROP_BIT(0x13) |
                  FMQ_PROP_BIT(0x15) | FMQ_PROP_BIT(0x16) | FMQ_PROP_BIT(0x1A) |
                  FMQ_PROP_BIT(0x1C) | FMQ_PROP_BIT(0x1F) | FMQ_PROP_BIT(0x21) |
                  FMQ_PROP_BIT(0x22) | FMQ_PROP_BIT(0x24) | FMQ_PROP_BIT(0x25) |
                  FMQ_PROP_BIT(0x26) | FMQ_PROP_BIT(0x27) | FMQ_PROP_BIT(0x28) |
                  FMQ_PROP_BIT(0x29) | FMQ_PROP_BIT(0x2A);
    pp->session_expiry = 0xFFFFFFFFu;
    pp->assigned_client_id = FMQ_BYTES("auto-1");
    pp->server_keep_alive = 120;
    pp->auth_method = FMQ_BYTES("m");
    pp->auth_data = FMQ_BYTES("\xAA");
    pp->response_info = FMQ_BYTES("resp");
    pp->server_reference = FMQ_BYTES("other:1883");
    pp->reason_string = FMQ_BYTES("ok");
    pp->receive_maximum = 100;
    pp->topic_alias_maximum = 16;
    pp->maximum_qos = 1;
    pp->retain_available = 0;
    pp->user = user_xy;
    pp->n_user = 1;
    pp->max_packet_size = 65536;
    pp->wildcard_sub_available = 1;
    pp->sub_id_available = 0;
    pp->shared_sub_available = 1;
    return p;
}

static fmq_packet_t pkt_v5_refused(void)
{
    fmq_packet_t p = connack(false, FMQ_RC_NOT_AUTHORIZED);
    p.connack.props.present = FMQ_PROP_BIT(FMQ_PROP_REASON_STRING);
    p.connack.props.reason_string = FMQ_BYTES("no");
    return p;
}

static void decode_v311(void)
{
    fmq_packet_t p;
    if (DECODE_OK(v311_accepted, FMQ_V311, &p)) {
        CHECK_EQ_INT(p.type, FMQ_CONNACK);
        CHECK_EQ_INT(p.connack.session_present, true);
        CHECK_EQ_INT(p.connack.reason, FMQ_V3_ACCEPTED);
        CHECK_EQ_HEX(p.connack.props.present, 0);
    }
    if (DECODE_OK(v311_refused, FMQ_V311, &p)) {
        CHECK_EQ_INT(p.connack.session_present, false);
        CHECK_EQ_INT(p.connack.reason, FMQ_V3_REFUSED_NOT_AUTHORIZED);
    }
    /* MQTT 3.1 has the same CONNACK */
    if (DECODE_OK(v311_refused, FMQ_V31, &p))
        CHECK_EQ_INT(p.connack.reason, 5);
}

/* 3.1.1 Table 3.1: return codes 0..5 */
static void v311_all_return_codes(void)
{
    for (uint8_t rc = 0; rc <= 5; rc++) {
        uint8_t b[] = {0x20, 0x02, 0x00, rc};
        fmq_packet_t p;
        if (DECODE_OK(b, FMQ_V311, &p))
            CHECK_EQ_INT(p.connack.reason, rc);
    }
}

static void decode_v5(void)
{
    fmq_packet_t p;
    if (DECODE_OK(v5_success, FMQ_V5, &p)) {
        CHECK_EQ_INT(p.connack.session_present, false);
        CHECK_EQ_INT(p.connack.reason, 0);
        CHECK_EQ_HEX(p.connack.props.present, 0);
    }
    if (DECODE_OK(v5_full, FMQ_V5, &p)) {
        const fmq_props_t *pp = &p.connack.props;
        CHECK_EQ_INT(p.connack.session_present, true);
        CHECK_EQ_INT(p.connack.reason, 0);
        CHECK_EQ_HEX(pp->present, FMQ_PROP_BIT(0x11) | FMQ_PROP_BIT(0x12) | FMQ_PROP_BIT(0x13) |
                                      FMQ_PROP_BIT(0x15) | FMQ_PROP_BIT(0x16) |
                                      FMQ_PROP_BIT(0x1A) | FMQ_PROP_BIT(0x1C) |
                                      FMQ_PROP_BIT(0x1F) | FMQ_PROP_BIT(0x21) |
                                      FMQ_PROP_BIT(0x22) | FMQ_PROP_BIT(0x24) |
                                      FMQ_PROP_BIT(0x25) | FMQ_PROP_BIT(0x26) |
                                      FMQ_PROP_BIT(0x27) | FMQ_PROP_BIT(0x28) |
                                      FMQ_PROP_BIT(0x29) | FMQ_PROP_BIT(0x2A));
        CHECK_EQ_HEX(pp->session_expiry, 0xFFFFFFFFu);
        CHECK_BSTR(pp->assigned_client_id, "auto-1");
        CHECK_EQ_INT(pp->server_keep_alive, 120);
        CHECK_BSTR(pp->auth_method, "m");
        CHECK_BSTR(pp->auth_data, "\xAA");
        CHECK_BSTR(pp->response_info, "resp");
        CHECK_BSTR(pp->server_reference, "other:1883");
        CHECK_BSTR(pp->reason_string, "ok");
        CHECK_EQ_INT(pp->receive_maximum, 100);
        CHECK_EQ_INT(pp->topic_alias_maximum, 16);
        CHECK_EQ_INT(pp->maximum_qos, 1);
        CHECK_EQ_INT(pp->retain_available, 0);
        CHECK_EQ_INT(pp->max_packet_size, 65536);
        CHECK_EQ_INT(pp->wildcard_sub_available, 1);
        CHECK_EQ_INT(pp->sub_id_available, 0);
        CHECK_EQ_INT(pp->shared_sub_available, 1);
        CHECK_EQ_INT(pp->n_user, 1);
        fmq_user_prop_t kv;
        if (CHECK(props_user_at(pp, 0, &kv))) {
            CHECK_BSTR(kv.key, "x");
            CHECK_BSTR(kv.value, "y");
        }
        fmq_packet_t want = pkt_v5_full();
        CHECK_PACKET_EQ(&want, &p, FMQ_V5);
    }
    if (DECODE_OK(v5_refused, FMQ_V5, &p)) {
        CHECK_EQ_INT(p.connack.session_present, false);
        CHECK_EQ_HEX(p.connack.reason, 0x87);
        CHECK_BSTR(p.connack.props.reason_string, "no");
    }
}

/* 3.2.2.2 (5.0): the CONNACK reason codes; any other byte is a Protocol Error. */
static void v5_reason_codes(void)
{
    static const uint8_t valid[] = {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86,
                                    0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
                                    0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F};
    for (unsigned rc = 0; rc < 256; rc++) {
        bool ok = memchr(valid, (int)rc, sizeof valid) != NULL;
        uint8_t b[] = {0x20, 0x03, 0x00, (uint8_t)rc, 0x00};
        fmq_packet_t p;
        bool pass = ok ? DECODE_OK(b, FMQ_V5, &p) : DECODE_ERR(b, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
        if (!pass)
            fprintf(stderr, "    CONNACK reason 0x%02X\n", rc);
        else if (ok)
            CHECK_EQ_HEX(p.connack.reason, rc);
    }
}

static void encode_matches_golden(void)
{
    fmq_packet_t p = connack(true, 0);
    CHECK_ENCODE(&p, FMQ_V311, v311_accepted);
    CHECK_ENCODE(&p, FMQ_V31, v311_accepted);
    p = connack(false, 5);
    CHECK_ENCODE(&p, FMQ_V311, v311_refused);
    p = connack(false, 0);
    CHECK_ENCODE(&p, FMQ_V5, v5_success);
    p = pkt_v5_full();
    CHECK_ENCODE(&p, FMQ_V5, v5_full);
    p = pkt_v5_refused();
    CHECK_ENCODE(&p, FMQ_V5, v5_refused);
    /* MQTT 3.1.1 drops the properties */
    p = pkt_v5_full();
    CHECK_ENCODE(&p, FMQ_V311, v311_accepted);
}

static void reencode_decoded(void)
{
    fmq_packet_t p;
    if (DECODE_OK(v5_full, FMQ_V5, &p))
        CHECK_ENCODE(&p, FMQ_V5, v5_full);
    if (DECODE_OK(v5_refused, FMQ_V5, &p))
        CHECK_ENCODE(&p, FMQ_V5, v5_refused);
    if (DECODE_OK(v311_accepted, FMQ_V311, &p))
        CHECK_ENCODE(&p, FMQ_V311, v311_accepted);
}

static void roundtrip(void)
{
    fmq_packet_t p = connack(true, 0);
    CHECK_ROUNDTRIP(&p, FMQ_V311);
    CHECK_ROUNDTRIP(&p, FMQ_V5);
    p = connack(false, 2);
    CHECK_ROUNDTRIP(&p, FMQ_V311);
    p = pkt_v5_full();
    CHECK_ROUNDTRIP(&p, FMQ_V5);
    p = pkt_v5_refused();
    CHECK_ROUNDTRIP(&p, FMQ_V5);
}

static void truncated_and_back_to_back(void)
{
    CHECK_PREFIXES(v311_accepted, FMQ_V311);
    CHECK_PREFIXES(v5_success, FMQ_V5);
    CHECK_PREFIXES(v5_full, FMQ_V5);
    CHECK_PREFIXES(v5_refused, FMQ_V5);
    CHECK_BACK_TO_BACK(v311_accepted, v311_refused, FMQ_V311);
    CHECK_BACK_TO_BACK(v5_full, v5_refused, FMQ_V5);
    CHECK_BACK_TO_BACK(v5_refused, v5_success, FMQ_V5);
}

/* 3.1.1 [MQTT-3.2.2-1] / 5.0 3.2.2.1: bits 7-1 of the Acknowledge Flags are
 * reserved and set to 0: Malformed Packet. */
static void reserved_ack_flags(void)
{
    static const uint8_t flags[] = {0x02, 0x80, 0xFE, 0x03};
    for (size_t i = 0; i < sizeof flags; i++) {
        uint8_t b4[] = {0x20, 0x02, flags[i], 0x00};
        DECODE_ERR(b4, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
        uint8_t b5[] = {0x20, 0x03, flags[i], 0x00, 0x00};
        DECODE_ERR(b5, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    }
}

/* 3.1.1 3.2.2.3: return codes 6-255 are reserved. */
static void v311_reserved_return_codes(void)
{
    static const uint8_t codes[] = {6, 0x80, 0x87, 0xFF};
    for (size_t i = 0; i < sizeof codes; i++) {
        uint8_t b[] = {0x20, 0x02, 0x00, codes[i]};
        DECODE_ERR(b, FMQ_V311, FMQ_RC_PROTOCOL_ERROR);
    }
}

/* 3.1.1 [MQTT-3.2.2-4] / 5.0 [MQTT-3.2.2-6]: a non-zero code needs Session Present 0. */
static void session_present_with_refusal(void)
{
    static const uint8_t b4[] = {0x20, 0x02, 0x01, 0x05};
    DECODE_ERR(b4, FMQ_V311, FMQ_RC_PROTOCOL_ERROR);
    static const uint8_t b5[] = {0x20, 0x03, 0x01, 0x87, 0x00};
    DECODE_ERR(b5, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
}

static void lengths_malformed(void)
{
    static const uint8_t v5_no_props[] = {0x20, 0x02, 0x00, 0x00}; /* Property Length missing */
    DECODE_ERR(v5_no_props, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t v311_trailing[] = {0x20, 0x03, 0x00, 0x00, 0x00};
    DECODE_ERR(v311_trailing, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t v311_short[] = {0x20, 0x01, 0x00};
    DECODE_ERR(v311_short, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t empty[] = {0x20, 0x00};
    DECODE_ERR(empty, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    DECODE_ERR(empty, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t v5_trailing[] = {0x20, 0x04, 0x00, 0x00, 0x00, 0x00};
    DECODE_ERR(v5_trailing, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t v5_plen_past[] = {0x20, 0x04, 0x00, 0x00, 0x05, 0x24};
    DECODE_ERR(v5_plen_past, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
}

static void wrong_properties(void)
{
    static const uint8_t rpi[] = {
        0x20, 0x05, 0x00, 0x00,
        0x02, 0x17, 0x01, /* Request Problem Information: a CONNECT property */
    };
    DECODE_ERR(rpi, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t maxqos2[] = {0x20, 0x05, 0x00, 0x00, 0x02, 0x24, 0x02};
    DECODE_ERR(maxqos2, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
    static const uint8_t dup_reason[] = {
        0x20, 0x0D, 0x00, 0x00, 0x0A,
        0x1F, 0x00, 0x01, 'a', /* Reason String */
        0x1F, 0x00, 0x01, 'b', /* Reason String again */
        0x24, 0x01,
    };
    /* 2 + 1 + 4 + 4 + 2 = 13; properties 4 + 4 + 2 = 10 */
    DECODE_ERR(dup_reason, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
}

/* [MQTT-2.2.2-2]: CONNACK fixed header flags are reserved 0000. */
static void fixed_header_flags(void)
{
    for (uint8_t f = 1; f < 16; f++) {
        uint8_t b[] = {(uint8_t)(0x20 | f), 0x02, 0x00, 0x00};
        DECODE_ERR(b, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    }
}

/* fmq.h: before CONNECT (opts.version 0) only CONNECT decodes: Protocol Error. */
static void before_connect(void)
{
    DECODE_ERR(v311_accepted, 0, FMQ_RC_PROTOCOL_ERROR);
    fmq_packet_t p;
    DECODE_ERR_P(v5_success, 0, FMQ_RC_PROTOCOL_ERROR, &p);
    CHECK_EQ_INT(p.type, FMQ_CONNACK);
}

CHECK_MAIN(T(decode_v311), T(v311_all_return_codes), T(decode_v5), T(v5_reason_codes),
           T(encode_matches_golden), T(reencode_decoded), T(roundtrip),
           T(truncated_and_back_to_back), T(reserved_ack_flags), T(v311_reserved_return_codes),
           T(session_present_with_refusal), T(lengths_malformed), T(wrong_properties),
           T(fixed_header_flags), T(before_connect))
