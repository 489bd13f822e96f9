/* PINGREQ, PINGRESP, DISCONNECT, AUTH (MQTT 5.0 sections 3.12-3.15, 3.1.1
 * sections 3.12-3.14), fixed-header framing and streaming (2.1, 1.5.5),
 * fmq_check_direction, and the reason code / type name helpers (2.4). */
#include "fmq_test.h"

/* ---- golden vectors ---- */

static const uint8_t pingreq[] = {0xC0, 0x00};  /* PINGREQ, RL 0 */
static const uint8_t pingresp[] = {0xD0, 0x00}; /* PINGRESP, RL 0 */
static const uint8_t disconnect0[] = {0xE0, 0x00}; /* 3.1.1 DISCONNECT; 5.0: Normal disconnection */

static const uint8_t disconnect_v5_will[] = {
    0xE0, 0x01, /* DISCONNECT, RL 1: Property Length omitted (3.14.2.2) */
    0x04,       /* Disconnect with Will Message */
};

static const uint8_t disconnect_v5_props[] = {
    0xE0, 0x14,                         /* DISCONNECT, RL 20 */
    0x9C,                               /* Use another server (1) */
    0x12,                               /* Property Length 18 (1) */
    0x11, 0x00, 0x00, 0x00, 0x00,       /*   Session Expiry Interval 0 (5) */
    0x1C, 0x00, 0x04, 's', 'r', 'v', '2', /* Server Reference "srv2" (7) */
    0x1F, 0x00, 0x03, 'b', 'y', 'e',    /*   Reason String "bye" (6) */
};

static const uint8_t auth_short[] = {0xF0, 0x00}; /* AUTH, RL 0: Success (3.15.2.1) */

static const uint8_t auth_continue[] = {
    0xF0, 0x10,                         /* AUTH, RL 16 */
    0x18,                               /* Continue authentication (1) */
    0x0E,                               /* Property Length 14 (1) */
    0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M', /* Authentication Method (8) */
    0x16, 0x00, 0x03, 0x01, 0x02, 0x03, /*   Authentication Data (6) */
};

static const uint8_t auth_reauth[] = {
    0xF0, 0x0A,                         /* AUTH, RL 10 */
    0x19,                               /* Re-authenticate (1) */
    0x08,                               /* Property Length 8 (1) */
    0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M', /* (8) */
};

static fmq_packet_t bare(fmq_type_t t)
{
    fmq_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = t;
    return p;
}

static fmq_packet_t pkt_disconnect_v5_props(void)
{
    fmq_packet_t p = bare(FMQ_DISCONNECT);
    p.disconnect.reason = FMQ_RC_USE_ANOTHER_SERVER;
    fmq_props_t *pp = &p.disconnect.props;
    pp->present = FMQ_PROP_BIT(FMQ_PROP_SESSION_EXPIRY) | FMQ_PROP_BIT(FMQ_PROP_SERVER_REFERENCE) |
                  FMQ_PROP_BIT(FMQ_PROP_REASON_STRING);
    pp->session_expiry = 0;
    pp->server_reference = FMQ_BYTES("srv2");
    pp->reason_string = FMQ_BYTES("bye");
    return p;
}

static fmq_packet_t pkt_auth(uint8_t reason, bool data)
{
    fmq_packet_t p = bare(FMQ_AUTH);
    p.disconnect.reason = reason;
    p.disconnect.props.present = FMQ_PROP_BIT(FMQ_PROP_AUTH_METHOD);
    p.disconnect.props.auth_method = FMQ_BYTES("SCRAM");
    if (data) {
        p.disconnect.props.present |= FMQ_PROP_BIT(FMQ_PROP_AUTH_DATA);
        p.disconnect.props.auth_data = FMQ_BYTES("\x01\x02\x03");
    }
    return p;
}

/* ---- PINGREQ / PINGRESP ---- */

static void ping(void)
{
    static const uint8_t versions[] = {FMQ_V31, FMQ_V311, FMQ_V5};
    for (size_t v = 0; v < 3; v++) {
        fmq_packet_t p;
        fmq_err_t err;
        CHECK_EQ_INT(dec(pingreq, 2, versions[v], &p, &err), 2);
        CHECK_EQ_INT(p.type, FMQ_PINGREQ);
        CHECK_EQ_INT(dec(pingresp, 2, versions[v], &p, &err), 2);
        CHECK_EQ_INT(p.type, FMQ_PINGRESP);
        fmq_packet_t q = bare(FMQ_PINGREQ);
        check_encode_(__FILE__, __LINE__, &q, versions[v], pingreq, 2);
        CHECK_ROUNDTRIP(&q, versions[v]);
        q = bare(FMQ_PINGRESP);
        check_encode_(__FILE__, __LINE__, &q, versions[v], pingresp, 2);
        CHECK_ROUNDTRIP(&q, versions[v]);
    }
    CHECK_PREFIXES(pingreq, FMQ_V311);
    CHECK_PREFIXES(pingresp, FMQ_V5);
    CHECK_BACK_TO_BACK(pingreq, pingresp, FMQ_V311);
    CHECK_BACK_TO_BACK(pingreq, pingreq, FMQ_V5);
}

/* [MQTT-2.2.2-2] flags 0000; a PINGREQ/PINGRESP has no variable header. */
static void ping_invalid(void)
{
    for (uint8_t f = 1; f < 16; f++) {
        uint8_t a[] = {(uint8_t)(0xC0 | f), 0x00};
        DECODE_ERR(a, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
        uint8_t b[] = {(uint8_t)(0xD0 | f), 0x00};
        DECODE_ERR(b, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    }
    static const uint8_t extra[] = {0xC0, 0x01, 0x00}; /* a byte inside the Remaining Length */
    DECODE_ERR(extra, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    DECODE_ERR(extra, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t extra2[] = {0xD0, 0x02, 0x00, 0x00};
    DECODE_ERR(extra2, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
}

/* ---- DISCONNECT ---- */

static void disconnect(void)
{
    fmq_packet_t p;
    if (DECODE_OK(disconnect0, FMQ_V311, &p)) {
        CHECK_EQ_INT(p.type, FMQ_DISCONNECT);
        CHECK_EQ_INT(p.disconnect.reason, 0);
    }
    if (DECODE_OK(disconnect0, FMQ_V5, &p)) {
        CHECK_EQ_INT(p.disconnect.reason, 0); /* 3.14.2.1: absent = Normal disconnection */
        CHECK_EQ_HEX(p.disconnect.props.present, 0);
    }
    if (DECODE_OK(disconnect_v5_will, FMQ_V5, &p))
        CHECK_EQ_HEX(p.disconnect.reason, FMQ_RC_DISCONNECT_WITH_WILL);
    if (DECODE_OK(disconnect_v5_props, FMQ_V5, &p)) {
        CHECK_EQ_HEX(p.disconnect.reason, 0x9C);
        const fmq_props_t *pp = &p.disconnect.props;
        CHECK_EQ_HEX(pp->present, FMQ_PROP_BIT(0x11) | FMQ_PROP_BIT(0x1C) | FMQ_PROP_BIT(0x1F));
        CHECK_EQ_INT(pp->session_expiry, 0);
        CHECK_BSTR(pp->server_reference, "srv2");
        CHECK_BSTR(pp->reason_string, "bye");
        fmq_packet_t want = pkt_disconnect_v5_props();
        CHECK_PACKET_EQ(&want, &p, FMQ_V5);
        CHECK_ENCODE(&p, FMQ_V5, disconnect_v5_props);
    }
    static const uint8_t explicit_empty[] = {0xE0, 0x02, 0x8E, 0x00}; /* reason + empty props */
    if (DECODE_OK(explicit_empty, FMQ_V5, &p))
        CHECK_EQ_HEX(p.disconnect.reason, FMQ_RC_SESSION_TAKEN_OVER);

    fmq_packet_t q = bare(FMQ_DISCONNECT);
    CHECK_ENCODE(&q, FMQ_V311, disconnect0);
    CHECK_ENCODE(&q, FMQ_V5, disconnect0);
    q.disconnect.reason = FMQ_RC_DISCONNECT_WITH_WILL;
    CHECK_ENCODE(&q, FMQ_V5, disconnect_v5_will);
    CHECK_ENCODE(&q, FMQ_V311, disconnect0); /* 3.1.1 carries no reason code */
    CHECK_ROUNDTRIP(&q, FMQ_V5);
    q = pkt_disconnect_v5_props();
    CHECK_ENCODE(&q, FMQ_V5, disconnect_v5_props);
    CHECK_ENCODE(&q, FMQ_V311, disconnect0);
    CHECK_ROUNDTRIP(&q, FMQ_V5);
    CHECK_ROUNDTRIP(&q, FMQ_V311);

    CHECK_PREFIXES(disconnect0, FMQ_V311);
    CHECK_PREFIXES(disconnect_v5_will, FMQ_V5);
    CHECK_PREFIXES(disconnect_v5_props, FMQ_V5);
    CHECK_BACK_TO_BACK(disconnect_v5_props, disconnect_v5_will, FMQ_V5);
    CHECK_BACK_TO_BACK(disconnect_v5_will, disconnect0, FMQ_V5);
}

/* 3.14.2.1 (5.0): the DISCONNECT reason codes; others are a Protocol Error. */
static void disconnect_reason_codes(void)
{
    static const uint8_t valid[] = {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8C,
                                    0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98,
                                    0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
    for (unsigned rc = 0; rc < 256; rc++) {
        bool ok = memchr(valid, (int)rc, sizeof valid) != NULL;
        uint8_t b[] = {0xE0, 0x01, (uint8_t)rc};
        fmq_packet_t p;
        if (!(ok ? DECODE_OK(b, FMQ_V5, &p) : DECODE_ERR(b, FMQ_V5, FMQ_RC_PROTOCOL_ERROR)))
            fprintf(stderr, "    DISCONNECT reason 0x%02X\n", rc);
    }
}

static void disconnect_invalid(void)
{
    for (uint8_t f = 1; f < 16; f++) {
        uint8_t b[] = {(uint8_t)(0xE0 | f), 0x00};
        DECODE_ERR(b, FMQ_V311, FMQ_RC_MALFORMED_PACKET); /* [MQTT-3.14.1-1] */
        DECODE_ERR(b, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    }
    /* 3.1.1: no variable header */
    DECODE_ERR(disconnect_v5_will, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t alias[] = {0xE0, 0x05, 0x00, 0x03, 0x23, 0x00, 0x01};
    DECODE_ERR(alias, FMQ_V5, FMQ_RC_MALFORMED_PACKET); /* Topic Alias: not a DISCONNECT property */
    static const uint8_t will_delay[] = {0xE0, 0x07, 0x00, 0x05, 0x18, 0x00, 0x00, 0x00, 0x01};
    DECODE_ERR(will_delay, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t plen_past[] = {0xE0, 0x03, 0x00, 0x09, 0x11};
    DECODE_ERR(plen_past, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t trailing[] = {0xE0, 0x03, 0x00, 0x00, 0x00};
    DECODE_ERR(trailing, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t two_refs[] = {
        0xE0, 0x0C, 0x9D, 0x0A,
        0x1C, 0x00, 0x02, 'a', 'b', 0x1C, 0x00, 0x02, 'c', 'd', /* Server Reference twice */
    };
    DECODE_ERR(two_refs, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
}

/* ---- AUTH ---- */

static void auth(void)
{
    fmq_packet_t p;
    if (DECODE_OK(auth_short, FMQ_V5, &p)) {
        CHECK_EQ_INT(p.type, FMQ_AUTH);
        CHECK_EQ_INT(p.disconnect.reason, 0);
    }
    if (DECODE_OK(auth_continue, FMQ_V5, &p)) {
        CHECK_EQ_HEX(p.disconnect.reason, FMQ_RC_CONTINUE_AUTHENTICATION);
        CHECK_BSTR(p.disconnect.props.auth_method, "SCRAM");
        CHECK_BSTR(p.disconnect.props.auth_data, "\x01\x02\x03");
        fmq_packet_t want = pkt_auth(0x18, true);
        CHECK_PACKET_EQ(&want, &p, FMQ_V5);
        CHECK_ENCODE(&p, FMQ_V5, auth_continue);
    }
    if (DECODE_OK(auth_reauth, FMQ_V5, &p))
        CHECK_EQ_HEX(p.disconnect.reason, FMQ_RC_REAUTHENTICATE);
    fmq_packet_t q = bare(FMQ_AUTH);
    CHECK_ENCODE(&q, FMQ_V5, auth_short);
    q = pkt_auth(0x18, true);
    CHECK_ENCODE(&q, FMQ_V5, auth_continue);
    CHECK_ROUNDTRIP(&q, FMQ_V5);
    q = pkt_auth(0x19, false);
    CHECK_ENCODE(&q, FMQ_V5, auth_reauth);
    CHECK_ROUNDTRIP(&q, FMQ_V5);
    CHECK_PREFIXES(auth_continue, FMQ_V5);
    CHECK_PREFIXES(auth_reauth, FMQ_V5);
    CHECK_BACK_TO_BACK(auth_continue, auth_reauth, FMQ_V5);
    CHECK_BACK_TO_BACK(auth_short, disconnect_v5_props, FMQ_V5);
}

/* 3.15.2.1: AUTH reason codes 0x00, 0x18, 0x19 only. */
static void auth_reason_codes(void)
{
    for (unsigned rc = 0; rc < 256; rc++) {
        bool ok = rc == 0x00 || rc == 0x18 || rc == 0x19;
        uint8_t b[] = {0xF0, 0x06, (uint8_t)rc, 0x04, 0x15, 0x00, 0x01, 'm'};
        fmq_packet_t p;
        if (!(ok ? DECODE_OK(b, FMQ_V5, &p) : DECODE_ERR(b, FMQ_V5, FMQ_RC_PROTOCOL_ERROR)))
            fprintf(stderr, "    AUTH reason 0x%02X\n", rc);
    }
}

/* AUTH does not exist before MQTT 5: type 15 is reserved in 3.1.1 (2.2.1):
 * Malformed Packet. Its flags are 0000 [MQTT-3.15.1-1]. */
static void auth_invalid(void)
{
    DECODE_ERR(auth_short, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    DECODE_ERR(auth_continue, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    DECODE_ERR(auth_short, FMQ_V31, FMQ_RC_MALFORMED_PACKET);
    for (uint8_t f = 1; f < 16; f++) {
        uint8_t b[] = {(uint8_t)(0xF0 | f), 0x00};
        DECODE_ERR(b, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    }
    static const uint8_t session_expiry[] = {
        0xF0, 0x0B, 0x18, 0x09,
        0x15, 0x00, 0x01, 'm',
        0x11, 0x00, 0x00, 0x00, 0x01, /* Session Expiry: not an AUTH property */
    };
    DECODE_ERR(session_expiry, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    /* fmq_encode cannot express AUTH at 3.1.1 */
    fmq_packet_t q = pkt_auth(0x18, true);
    fmq_err_t err = {ERR_POISON, NULL};
    uint8_t buf[64];
    CHECK_EQ_INT(fmq_encode(&q, FMQ_V311, buf, sizeof buf, &err), -FMQ_RC_PROTOCOL_ERROR);
    CHECK_EQ_HEX(err.reason, FMQ_RC_PROTOCOL_ERROR);
}

/* 3.15.2.2.2 (5.0): "It is a Protocol Error to omit the Authentication
 * Method" from an AUTH that has properties or a non-zero reason. */
static void auth_without_method_protocol_error(void)
{
    static const uint8_t reason_only[] = {0xF0, 0x01, 0x18};
    DECODE_ERR(reason_only, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
    static const uint8_t data_only[] = {0xF0, 0x07, 0x18, 0x05, 0x16, 0x00, 0x02, 0x01, 0x02};
    DECODE_ERR(data_only, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
}

/* ---- framing ---- */

/* 2.1.2: type 0 is reserved (both versions): Malformed Packet. */
static void reserved_type_0(void)
{
    static const uint8_t b[] = {0x00, 0x00};
    fmq_fixed_header_t fh;
    fmq_err_t err = {ERR_POISON, NULL};
    CHECK_EQ_INT(fmq_frame(b, 2, 0, &fh, &err), -FMQ_RC_MALFORMED_PACKET);
    CHECK_EQ_HEX(err.reason, FMQ_RC_MALFORMED_PACKET);
    CHECK_EQ_INT(fmq_frame(b, 1, 0, &fh, &err), -FMQ_RC_MALFORMED_PACKET); /* known from byte 1 */
    DECODE_ERR(b, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    DECODE_ERR(b, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    DECODE_ERR(b, 0, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t f[] = {0x0F, 0x00};
    DECODE_ERR(f, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
}

/* [MQTT-1.5.5-1] / 2.1.4: the Remaining Length is at most 4 bytes. */
static void remaining_length_five_bytes(void)
{
    static const uint8_t a[] = {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F};
    static const uint8_t b[] = {0xC0, 0x80, 0x80, 0x80, 0x80, 0x00};
    fmq_fixed_header_t fh;
    fmq_err_t err = {ERR_POISON, NULL};
    CHECK_EQ_INT(fmq_frame(a, sizeof a, 0, &fh, &err), -FMQ_RC_MALFORMED_PACKET);
    CHECK_EQ_HEX(err.reason, FMQ_RC_MALFORMED_PACKET);
    CHECK_EQ_INT(fmq_frame(b, sizeof b, 0, &fh, &err), -FMQ_RC_MALFORMED_PACKET);
    DECODE_ERR(a, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    DECODE_ERR(b, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    DECODE_ERR(b, 0, FMQ_RC_MALFORMED_PACKET);
}

/* [MQTT-1.5.5-1]: a Remaining Length longer than it needs to be (fmq.h:
 * fmq_varint_decode rejects it, and so does the framing). */
static void remaining_length_non_minimal(void)
{
    static const uint8_t ping[] = {0xC0, 0x80, 0x00};        /* RL 0 in 2 bytes */
    static const uint8_t pub[] = {0x30, 0x83, 0x00, 0x00, 0x01, 't'}; /* RL 3 in 2 bytes */
    fmq_fixed_header_t fh;
    fmq_err_t err = {ERR_POISON, NULL};
    CHECK_EQ_INT(fmq_frame(ping, sizeof ping, 0, &fh, &err), -FMQ_RC_MALFORMED_PACKET);
    CHECK_EQ_HEX(err.reason, FMQ_RC_MALFORMED_PACKET);
    DECODE_ERR(ping, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    DECODE_ERR(pub, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
}

static void frame_header_fields(void)
{
    fmq_fixed_header_t fh;
    fmq_err_t err;
    static const uint8_t none[1] = {0};
    CHECK_EQ_INT(fmq_frame(none, 0, 0, &fh, &err), FMQ_NEED_MORE);
    static const uint8_t one[] = {0x30};
    CHECK_EQ_INT(fmq_frame(one, 1, 0, &fh, &err), FMQ_NEED_MORE);
    static const uint8_t partial[] = {0x30, 0x80, 0x80, 0x80};
    for (size_t n = 2; n <= 4; n++)
        CHECK_EQ_INT(fmq_frame(partial, n, 0, &fh, &err), FMQ_NEED_MORE);
    /* the largest packet: RL 268435455 in 4 bytes */
    static const uint8_t max[] = {0x3D, 0xFF, 0xFF, 0xFF, 0x7F};
    memset(&fh, 0, sizeof fh);
    CHECK_EQ_INT(fmq_frame(max, sizeof max, 0, &fh, &err), (int)FMQ_MAX_PACKET);
    CHECK_EQ_INT(fh.type, FMQ_PUBLISH);
    CHECK_EQ_HEX(fh.flags, 0xD);
    CHECK_EQ_INT(fh.header_len, 5);
    CHECK_EQ_INT(fh.remaining, 268435455);
    /* the full packet's size comes with the header, before the body */
    static const uint8_t pub_hdr[] = {0x32, 0x80, 0x01}; /* RL 128 */
    CHECK_EQ_INT(fmq_frame(pub_hdr, sizeof pub_hdr, 0, &fh, &err), 131);
    CHECK_EQ_INT(fh.header_len, 3);
    CHECK_EQ_INT(fh.remaining, 128);
    fmq_packet_t p;
    CHECK_EQ_INT(dec(pub_hdr, sizeof pub_hdr, FMQ_V311, &p, &err), FMQ_NEED_MORE);
    /* fmq_frame checks the length and type only; flags are fmq_decode's */
    static const uint8_t bad_flags[] = {0x4F, 0x02, 0x00, 0x01};
    CHECK_EQ_INT(fmq_frame(bad_flags, sizeof bad_flags, 0, &fh, &err), 4);
    CHECK_EQ_HEX(fh.flags, 0xF);
    DECODE_ERR(bad_flags, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    /* type 15 frames whatever the version (fmq_frame does not know it) */
    CHECK_EQ_INT(fmq_frame(auth_short, 2, 0, &fh, &err), 2);
    CHECK_EQ_INT(fh.type, FMQ_AUTH);
}

/* opts.max_packet / fmq_frame max_packet: refused with 0x95 as soon as the
 * fixed header shows the size, before the body is there. */
static void packet_too_large_0x95(void)
{
    static const uint8_t hdr[] = {0x30, 0x80, 0x01}; /* PUBLISH, RL 128: 131 bytes */
    fmq_fixed_header_t fh;
    fmq_err_t err = {ERR_POISON, NULL};
    CHECK_EQ_INT(fmq_frame(hdr, sizeof hdr, 100, &fh, &err), -FMQ_RC_PACKET_TOO_LARGE);
    CHECK_EQ_HEX(err.reason, FMQ_RC_PACKET_TOO_LARGE);
    CHECK_EQ_INT(fmq_frame(hdr, sizeof hdr, 130, &fh, &err), -FMQ_RC_PACKET_TOO_LARGE);
    CHECK_EQ_INT(fmq_frame(hdr, sizeof hdr, 131, &fh, &err), 131); /* exactly the limit */
    fmq_packet_t p;
    CHECK_EQ_INT(dec_opts(hdr, sizeof hdr, FMQ_V5, 100, &p, &err), -FMQ_RC_PACKET_TOO_LARGE);
    CHECK_EQ_HEX(err.reason, FMQ_RC_PACKET_TOO_LARGE);
    CHECK_EQ_INT(dec_opts(hdr, sizeof hdr, FMQ_V311, 130, &p, &err), -FMQ_RC_PACKET_TOO_LARGE);
    CHECK_EQ_INT(dec_opts(hdr, sizeof hdr, FMQ_V311, 131, &p, &err), FMQ_NEED_MORE);
    /* the limit counts the whole packet, header included */
    CHECK_EQ_INT(dec_opts(pingreq, 2, FMQ_V311, 2, &p, &err), 2);
    CHECK_EQ_INT(dec_opts(pingreq, 2, FMQ_V311, 1, &p, &err), -FMQ_RC_PACKET_TOO_LARGE);
    /* a CONNECT too, before any version is known */
    static const uint8_t connect_hdr[] = {0x10, 0x0F};
    CHECK_EQ_INT(dec_opts(connect_hdr, 2, 0, 10, &p, &err), -FMQ_RC_PACKET_TOO_LARGE);
    CHECK_EQ_HEX(err.reason, FMQ_RC_PACKET_TOO_LARGE);
    /* and the largest Remaining Length with the default limit is fine */
    static const uint8_t max[] = {0x30, 0xFF, 0xFF, 0xFF, 0x7F};
    CHECK_EQ_INT(fmq_frame(max, sizeof max, 0, &fh, &err), (int)FMQ_MAX_PACKET);
    CHECK_EQ_INT(dec_opts(max, sizeof max, FMQ_V5, 0, &p, &err), FMQ_NEED_MORE);
    CHECK_EQ_INT(dec_opts(max, sizeof max, FMQ_V5, 1000, &p, &err), -FMQ_RC_PACKET_TOO_LARGE);
}

/* A byte stream fed one byte at a time: fmq_frame says how much to buffer,
 * fmq_decode takes each packet exactly once. */
static void streaming_byte_by_byte(void)
{
    static const uint8_t stream[] = {
        0xC0, 0x00,                                     /* PINGREQ */
        0x32, 0x0A, 0x00, 0x03, 't', '/', '1', 0x12, 0x34, 0x00, 0x01, 0x02, /* PUBLISH QoS 1 */
        0x62, 0x02, 0x00, 0x07,                         /* PUBREL 7 */
        0xE0, 0x00,                                     /* DISCONNECT */
    };
    static const fmq_type_t want[] = {FMQ_PINGREQ, FMQ_PUBLISH, FMQ_PUBREL, FMQ_DISCONNECT};
    static const int sizes[] = {2, 12, 4, 2};
    uint8_t buf[sizeof stream];
    size_t have = 0, start = 0, got = 0;
    for (size_t i = 0; i < sizeof stream; i++) {
        buf[have++] = stream[i];
        for (;;) {
            fmq_fixed_header_t fh;
            fmq_err_t err;
            int need = fmq_frame(buf + start, have - start, 0, &fh, &err);
            if (!CHECK(need >= 0))
                return;
            if (need == 0 || (size_t)need > have - start)
                break;
            fmq_packet_t p;
            int rc = dec(buf + start, have - start, FMQ_V311, &p, &err);
            REQUIRE_EQ_INT(rc, need);
            REQUIRE(got < 4);
            CHECK_EQ_INT(p.type, want[got]);
            CHECK_EQ_INT(rc, sizes[got]);
            if (p.type == FMQ_PUBLISH)
                CHECK_EQ_HEX(p.publish.packet_id, 0x1234);
            if (p.type == FMQ_PUBREL)
                CHECK_EQ_INT(p.ack.packet_id, 7);
            start += (size_t)rc;
            got++;
        }
    }
    CHECK_EQ_INT(got, 4);
    CHECK_EQ_INT(start, sizeof stream);
}

/* fmq.h: with opts.version 0 only CONNECT decodes; the rest is a Protocol
 * Error ([MQTT-3.1.0-1]: the first packet is CONNECT). */
static void only_connect_before_version(void)
{
    static const uint8_t connack[] = {0x20, 0x02, 0x00, 0x00};
    static const uint8_t publish[] = {0x30, 0x04, 0x00, 0x01, 't', 'x'};
    static const uint8_t puback[] = {0x40, 0x02, 0x00, 0x01};
    static const uint8_t subscribe[] = {0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 't', 0x00};
    static const uint8_t unsubscribe[] = {0xA2, 0x05, 0x00, 0x01, 0x00, 0x01, 't'};
    fmq_packet_t p;
    DECODE_ERR_P(connack, 0, FMQ_RC_PROTOCOL_ERROR, &p);
    CHECK_EQ_INT(p.type, FMQ_CONNACK);
    DECODE_ERR_P(publish, 0, FMQ_RC_PROTOCOL_ERROR, &p);
    CHECK_EQ_INT(p.type, FMQ_PUBLISH);
    DECODE_ERR(puback, 0, FMQ_RC_PROTOCOL_ERROR);
    DECODE_ERR(subscribe, 0, FMQ_RC_PROTOCOL_ERROR);
    DECODE_ERR(unsubscribe, 0, FMQ_RC_PROTOCOL_ERROR);
    DECODE_ERR(pingreq, 0, FMQ_RC_PROTOCOL_ERROR);
    DECODE_ERR(pingresp, 0, FMQ_RC_PROTOCOL_ERROR);
    DECODE_ERR(disconnect0, 0, FMQ_RC_PROTOCOL_ERROR);
    DECODE_ERR(auth_short, 0, FMQ_RC_PROTOCOL_ERROR);
}

/* ---- direction (who may send what: the "Direction of flow" column of 2.1.2) ---- */

static void check_direction(void)
{
    /* bit set: may be received by the server / by the client */
    const uint32_t to_server5 = FMQ_IN(1) | FMQ_IN(3) | FMQ_IN(4) | FMQ_IN(5) | FMQ_IN(6) |
                                FMQ_IN(7) | FMQ_IN(8) | FMQ_IN(10) | FMQ_IN(12) | FMQ_IN(14) |
                                FMQ_IN(15);
    const uint32_t to_client5 = FMQ_IN(2) | FMQ_IN(3) | FMQ_IN(4) | FMQ_IN(5) | FMQ_IN(6) |
                                FMQ_IN(7) | FMQ_IN(9) | FMQ_IN(11) | FMQ_IN(13) | FMQ_IN(14) |
                                FMQ_IN(15);
    const uint32_t to_server4 = to_server5 & ~FMQ_IN(15);
    const uint32_t to_client4 = to_client5 & ~(FMQ_IN(14) | FMQ_IN(15)); /* 3.1.1: DISCONNECT is client to server only */
    static const uint8_t versions[] = {FMQ_V311, FMQ_V5};
    for (size_t v = 0; v < 2; v++)
        for (unsigned t = 1; t < 16; t++) {
            fmq_packet_t p = bare((fmq_type_t)t);
            for (int d = 0; d < 2; d++) {
                uint32_t allowed = versions[v] == FMQ_V5 ? (d == 0 ? to_server5 : to_client5)
                                                         : (d == 0 ? to_server4 : to_client4);
                bool ok = (allowed & FMQ_IN(t)) != 0;
                fmq_err_t err = {ERR_POISON, NULL};
                int rc = fmq_check_direction(&p, versions[v], d == 0 ? FMQ_TO_SERVER : FMQ_TO_CLIENT,
                                             &err);
                bool pass = ok ? CHECK_EQ_INT(rc, 0)
                               : CHECK_EQ_INT(rc, -FMQ_RC_PROTOCOL_ERROR) &&
                                     CHECK_EQ_HEX(err.reason, FMQ_RC_PROTOCOL_ERROR);
                if (!pass)
                    fprintf(stderr, "    %s %s at level %u\n", fmq_type_name(t),
                            d == 0 ? "to server" : "to client", versions[v]);
            }
        }
}

/* ---- reason codes and names (2.4, Table 2-6) ---- */

#define CA FMQ_IN(FMQ_CONNACK)
#define PA FMQ_IN(FMQ_PUBACK)
#define PR FMQ_IN(FMQ_PUBREC)
#define PL FMQ_IN(FMQ_PUBREL)
#define PC FMQ_IN(FMQ_PUBCOMP)
#define SA FMQ_IN(FMQ_SUBACK)
#define UA FMQ_IN(FMQ_UNSUBACK)
#define DI FMQ_IN(FMQ_DISCONNECT)
#define AU FMQ_IN(FMQ_AUTH)

static const struct {
    uint8_t code;
    const char *name;
    uint32_t packets;
} spec_reasons[] = {
    {0x00, "Success", CA | PA | PR | PL | PC | SA | UA | DI | AU},
    {0x01, "Granted QoS 1", SA},
    {0x02, "Granted QoS 2", SA},
    {0x04, "Disconnect with Will Message", DI},
    {0x10, "No matching subscribers", PA | PR},
    {0x11, "No subscription existed", UA},
    {0x18, "Continue authentication", AU},
    {0x19, "Re-authenticate", AU},
    {0x80, "Unspecified error", CA | PA | PR | SA | UA | DI},
    {0x81, "Malformed Packet", CA | DI},
    {0x82, "Protocol Error", CA | DI},
    {0x83, "Implementation specific error", CA | PA | PR | SA | UA | DI},
    {0x84, "Unsupported Protocol Version", CA},
    {0x85, "Client Identifier not valid", CA},
    {0x86, "Bad User Name or Password", CA},
    {0x87, "Not authorized", CA | PA | PR | SA | UA | DI},
    {0x88, "Server unavailable", CA},
    {0x89, "Server busy", CA | DI},
    {0x8A, "Banned", CA},
    {0x8B, "Server shutting down", DI},
    {0x8C, "Bad authentication method", CA | DI},
    {0x8D, "Keep Alive timeout", DI},
    {0x8E, "Session taken over", DI},
    {0x8F, "Topic Filter invalid", SA | UA | DI},
    {0x90, "Topic Name invalid", CA | PA | PR | DI},
    {0x91, "Packet Identifier in use", PA | PR | SA | UA},
    {0x92, "Packet Identifier not found", PL | PC},
    {0x93, "Receive Maximum exceeded", DI},
    {0x94, "Topic Alias invalid", DI},
    {0x95, "Packet too large", CA | DI},
    {0x96, "Message rate too high", DI},
    {0x97, "Quota exceeded", CA | PA | PR | SA | DI},
    {0x98, "Administrative action", DI},
    {0x99, "Payload format invalid", CA | PA | PR | DI},
    {0x9A, "Retain not supported", CA | DI},
    {0x9B, "QoS not supported", CA | DI},
    {0x9C, "Use another server", CA | DI},
    {0x9D, "Server moved", CA | DI},
    {0x9E, "Shared Subscriptions not supported", SA | DI},
    {0x9F, "Connection rate exceeded", CA | DI},
    {0xA0, "Maximum connect time", DI},
    {0xA1, "Subscription Identifiers not supported", SA | DI},
    {0xA2, "Wildcard Subscriptions not supported", SA | DI},
};
#define N_REASONS (sizeof spec_reasons / sizeof spec_reasons[0])

static int spec_row(unsigned rc)
{
    for (size_t i = 0; i < N_REASONS; i++)
        if (spec_reasons[i].code == rc)
            return (int)i;
    return -1;
}

static void reason_names(void)
{
    for (unsigned rc = 0; rc < 256; rc++) {
        int i = spec_row(rc);
        if (!CHECK_EQ_STR(fmq_reason_name((uint8_t)rc), i >= 0 ? spec_reasons[i].name : NULL))
            fprintf(stderr, "    reason 0x%02X\n", rc);
    }
}

static void reason_valid_for(void)
{
    for (unsigned t = 0; t < 16; t++)
        for (unsigned rc = 0; rc < 256; rc++) {
            int i = spec_row(rc);
            bool want = i >= 0 && (spec_reasons[i].packets & FMQ_IN(t)) != 0;
            if (!CHECK_EQ_INT(fmq_reason_valid_for((fmq_type_t)t, (uint8_t)rc), want))
                fprintf(stderr, "    reason 0x%02X in %s\n", rc, fmq_type_name(t));
        }
}

/* 3.2.2.3: MQTT 5 CONNACK codes onto the 3.1.1 return codes 0..5. */
static void connack_v3_codes(void)
{
    CHECK_EQ_INT(fmq_connack_v3_code(0x00), FMQ_V3_ACCEPTED);
    CHECK_EQ_INT(fmq_connack_v3_code(0x84), FMQ_V3_REFUSED_PROTOCOL_VERSION);
    CHECK_EQ_INT(fmq_connack_v3_code(0x85), FMQ_V3_REFUSED_IDENTIFIER);
    CHECK_EQ_INT(fmq_connack_v3_code(0x88), FMQ_V3_REFUSED_SERVER_UNAVAILABLE);
    CHECK_EQ_INT(fmq_connack_v3_code(0x89), FMQ_V3_REFUSED_SERVER_UNAVAILABLE);
    CHECK_EQ_INT(fmq_connack_v3_code(0x86), FMQ_V3_REFUSED_BAD_USERNAME_PASSWORD);
    CHECK_EQ_INT(fmq_connack_v3_code(0x87), FMQ_V3_REFUSED_NOT_AUTHORIZED);
    /* a refusal stays a refusal: every non-zero CONNACK code maps to 1..5 */
    for (unsigned rc = 1; rc < 256; rc++) {
        if (!fmq_reason_valid_for(FMQ_CONNACK, (uint8_t)rc))
            continue;
        uint8_t v3 = fmq_connack_v3_code((uint8_t)rc);
        if (!CHECK(v3 >= 1 && v3 <= 5))
            fprintf(stderr, "    0x%02X -> %u\n", rc, v3);
    }
}

static void type_names(void)
{
    static const char *const names[16] = {
        "RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
        "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT",
        "AUTH",
    };
    for (unsigned t = 0; t < 16; t++)
        CHECK_EQ_STR(fmq_type_name(t), names[t]);
    CHECK_EQ_STR(fmq_type_name(16), "RESERVED");
    CHECK_EQ_STR(fmq_type_name(255), "RESERVED");
    CHECK_EQ_STR(fmq_type_name(0xFFFFFFFFu), "RESERVED");
}

/* ---- encoder argument errors ---- */

static void encode_rejects(void)
{
    fmq_err_t err = {ERR_POISON, NULL};
    fmq_packet_t p = bare(FMQ_PINGREQ);
    uint8_t buf[8];
    int rc = fmq_encode(&p, 6, buf, sizeof buf, &err); /* no such protocol level */
    CHECK(rc < 0);
    if (rc < 0)
        CHECK_EQ_HEX(err.reason, (unsigned)-rc);
    p = bare((fmq_type_t)0);
    rc = fmq_encode(&p, FMQ_V5, buf, sizeof buf, &err); /* reserved type */
    CHECK(rc < 0);
    /* a string that cannot fit a two-byte length */
    static uint8_t big[70000];
    p = bare(FMQ_PUBLISH);
    p.publish.topic = (fmq_bytes_t){big, sizeof big};
    memset(big, 'a', sizeof big);
    rc = fmq_encode(&p, FMQ_V311, NULL, 0, &err);
    CHECK(rc < 0);
    if (rc < 0)
        CHECK_EQ_HEX(err.reason, (unsigned)-rc);
}

/* The encoder refuses what its own decoder would reject, so a caller's
 * mistake is an error here rather than a protocol error at the peer. */
static void encode_rejects_what_decode_rejects(void)
{
    fmq_err_t err;
    fmq_packet_t p = bare(FMQ_PUBLISH);
    p.publish.topic = fmq_cstr("t");
    p.publish.dup = true; /* QoS 0 with DUP [MQTT-3.3.1-2] */
    CHECK_EQ_INT(fmq_encode(&p, FMQ_V5, NULL, 0, &err), -FMQ_RC_MALFORMED_PACKET);
    p = bare(FMQ_SUBSCRIBE); /* no filters [MQTT-3.8.3-3] */
    p.subscribe.packet_id = 1;
    CHECK_EQ_INT(fmq_encode(&p, FMQ_V311, NULL, 0, &err), -FMQ_RC_PROTOCOL_ERROR);
    p = bare(FMQ_UNSUBSCRIBE); /* no filters [MQTT-3.10.3-2] */
    p.unsubscribe.packet_id = 1;
    CHECK_EQ_INT(fmq_encode(&p, FMQ_V5, NULL, 0, &err), -FMQ_RC_PROTOCOL_ERROR);
    p = bare(FMQ_CONNACK); /* an MQTT 5 reason in a 3.1.1 CONNACK */
    p.connack.reason = FMQ_RC_NOT_AUTHORIZED;
    CHECK_EQ_INT(fmq_encode(&p, FMQ_V311, NULL, 0, &err), -FMQ_RC_PROTOCOL_ERROR);
    p.connack.reason = fmq_connack_v3_code(FMQ_RC_NOT_AUTHORIZED);
    CHECK_EQ_INT(fmq_encode(&p, FMQ_V311, NULL, 0, &err), 4);
    static const uint8_t v5codes[] = {0x00, 0x8F};
    p = bare(FMQ_SUBACK); /* 0x8F exists only in MQTT 5 */
    p.suback.packet_id = 1;
    p.suback.codes = (fmq_bytes_t){v5codes, 2};
    CHECK_EQ_INT(fmq_encode(&p, FMQ_V311, NULL, 0, &err), -FMQ_RC_PROTOCOL_ERROR);
    CHECK_EQ_INT(fmq_encode(&p, FMQ_V5, NULL, 0, &err), 7);
}

CHECK_MAIN(T(encode_rejects_what_decode_rejects), T(ping), T(ping_invalid), T(disconnect), T(disconnect_reason_codes),
           T(disconnect_invalid), T(auth), T(auth_reason_codes), T(auth_invalid),
           T(auth_without_method_protocol_error), T(reserved_type_0),
           T(remaining_length_five_bytes), T(remaining_length_non_minimal),
           T(frame_header_fields), T(packet_too_large_0x95),
           T(streaming_byte_by_byte), T(only_connect_before_version), T(check_direction),
           T(reason_names), T(reason_valid_for), T(connack_v3_codes), T(type_names),
           T(encode_rejects))
