/* PUBACK, PUBREC, PUBREL, PUBCOMP (MQTT 5.0 sections 3.4-3.7, MQTT 3.1.1
 * sections 3.4-3.7). Golden vectors written by hand from the spec. */
#include "fmq_test.h"

/* MQTT 3.1.1 (and the MQTT 5 short form: Reason Code 0, no properties,
 * Remaining Length 2, 3.4.2.1). */
static const uint8_t puback_v311[] = {0x40, 0x02, 0x00, 0x01};  /* PUBACK, RL 2, id 1 */
static const uint8_t pubrec_v311[] = {0x50, 0x02, 0x00, 0x02};  /* PUBREC, RL 2, id 2 */
static const uint8_t pubrel_v311[] = {0x62, 0x02, 0x00, 0x03};  /* PUBREL flags 0010, RL 2, id 3 */
static const uint8_t pubcomp_v311[] = {0x70, 0x02, 0x00, 0x04}; /* PUBCOMP, RL 2, id 4 */

/* MQTT 5: a Reason Code without properties (Property Length omitted when
 * the Remaining Length is 3, 3.4.2.2). */
static const uint8_t puback_v5_reason[] = {
    0x40, 0x03, /* PUBACK, RL 3 */
    0x00, 0x01, /* Packet Identifier 1 */
    0x10,       /* No matching subscribers */
};

/* MQTT 5: Reason Code and a Reason String. */
static const uint8_t pubrec_v5_props[] = {
    0x50, 0x09,                 /* PUBREC, RL 9 */
    0x00, 0x02,                 /* Packet Identifier 2 (2) */
    0x80,                       /* Unspecified error (1) */
    0x05,                       /* Property Length 5 (1) */
    0x1F, 0x00, 0x02, 'n', 'o', /*   Reason String "no" (5) */
};

static const uint8_t pubrel_v5_reason[] = {
    0x62, 0x03, /* PUBREL (flags 0010), RL 3 */
    0x00, 0x05, /* Packet Identifier 5 */
    0x92,       /* Packet Identifier not found */
};

/* MQTT 5: Success with a property, so the Reason Code is present. */
static const uint8_t pubcomp_v5_props[] = {
    0x70, 0x0B,                                  /* PUBCOMP, RL 11 */
    0x00, 0x04,                                  /* Packet Identifier 4 (2) */
    0x00,                                        /* Success (1) */
    0x07,                                        /* Property Length 7 (1) */
    0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'b',      /*   User Property a=b (7) */
};

/* Accepted on decode, not produced by the encoder: the 4-byte forms with an
 * explicit empty Property Length. */
static const uint8_t puback_v5_explicit_empty[] = {0x40, 0x04, 0x00, 0x01, 0x10, 0x00};
static const uint8_t puback_v5_success_explicit[] = {0x40, 0x04, 0x00, 0x01, 0x00, 0x00};
static const uint8_t puback_v5_success_reason_only[] = {0x40, 0x03, 0x00, 0x01, 0x00};

static fmq_packet_t ack(fmq_type_t t, uint16_t id, uint8_t reason)
{
    fmq_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = t;
    p.ack.packet_id = id;
    p.ack.reason = reason;
    return p;
}

static const fmq_user_prop_t user_ab[] = {{{(const uint8_t *)"a", 1}, {(const uint8_t *)"b", 1}}};

static fmq_packet_t pkt_pubrec_v5_props(void)
{
    fmq_packet_t p = ack(FMQ_PUBREC, 2, FMQ_RC_UNSPECIFIED);
    p.ack.props.present = FMQ_PROP_BIT(FMQ_PROP_REASON_STRING);
    p.ack.props.reason_string = FMQ_BYTES("no");
    return p;
}

static fmq_packet_t pkt_pubcomp_v5_props(void)
{
    fmq_packet_t p = ack(FMQ_PUBCOMP, 4, 0);
    p.ack.props.present = FMQ_PROP_BIT(FMQ_PROP_USER_PROPERTY);
    p.ack.props.user = user_ab;
    p.ack.props.n_user = 1;
    return p;
}

static void decode_short_forms(void)
{
    static const struct {
        const uint8_t *b;
        fmq_type_t t;
        uint16_t id;
    } cases[] = {
        {puback_v311, FMQ_PUBACK, 1},
        {pubrec_v311, FMQ_PUBREC, 2},
        {pubrel_v311, FMQ_PUBREL, 3},
        {pubcomp_v311, FMQ_PUBCOMP, 4},
    };
    static const uint8_t versions[] = {FMQ_V31, FMQ_V311, FMQ_V5};
    for (size_t i = 0; i < 4; i++)
        for (size_t v = 0; v < 3; v++) {
            fmq_packet_t p;
            memset(&p, 0x5A, sizeof p);
            fmq_err_t err;
            if (!CHECK_EQ_INT(dec(cases[i].b, 4, versions[v], &p, &err), 4))
                continue;
            CHECK_EQ_INT(p.type, cases[i].t);
            CHECK_EQ_INT(p.ack.packet_id, cases[i].id);
            CHECK_EQ_INT(p.ack.reason, 0); /* 3.4.2.1: absent means 0x00 Success */
            CHECK_EQ_HEX(p.ack.props.present, 0);
        }
}

static void decode_v5_forms(void)
{
    fmq_packet_t p;
    if (DECODE_OK(puback_v5_reason, FMQ_V5, &p)) {
        CHECK_EQ_INT(p.type, FMQ_PUBACK);
        CHECK_EQ_INT(p.ack.packet_id, 1);
        CHECK_EQ_HEX(p.ack.reason, FMQ_RC_NO_MATCHING_SUBSCRIBERS);
        CHECK_EQ_HEX(p.ack.props.present, 0);
    }
    if (DECODE_OK(pubrec_v5_props, FMQ_V5, &p)) {
        CHECK_EQ_INT(p.type, FMQ_PUBREC);
        CHECK_EQ_INT(p.ack.packet_id, 2);
        CHECK_EQ_HEX(p.ack.reason, FMQ_RC_UNSPECIFIED);
        CHECK_EQ_HEX(p.ack.props.present, FMQ_PROP_BIT(FMQ_PROP_REASON_STRING));
        CHECK_BSTR(p.ack.props.reason_string, "no");
    }
    if (DECODE_OK(pubrel_v5_reason, FMQ_V5, &p)) {
        CHECK_EQ_INT(p.type, FMQ_PUBREL);
        CHECK_EQ_INT(p.ack.packet_id, 5);
        CHECK_EQ_HEX(p.ack.reason, FMQ_RC_PACKET_ID_NOT_FOUND);
    }
    if (DECODE_OK(pubcomp_v5_props, FMQ_V5, &p)) {
        CHECK_EQ_INT(p.type, FMQ_PUBCOMP);
        CHECK_EQ_INT(p.ack.packet_id, 4);
        CHECK_EQ_INT(p.ack.reason, 0);
        CHECK_EQ_INT(p.ack.props.n_user, 1);
        fmq_packet_t want = pkt_pubcomp_v5_props();
        CHECK_PACKET_EQ(&want, &p, FMQ_V5);
    }
    if (DECODE_OK(puback_v5_explicit_empty, FMQ_V5, &p)) {
        CHECK_EQ_HEX(p.ack.reason, 0x10);
        CHECK_EQ_HEX(p.ack.props.present, 0);
    }
    if (DECODE_OK(puback_v5_success_explicit, FMQ_V5, &p))
        CHECK_EQ_HEX(p.ack.reason, 0);
    if (DECODE_OK(puback_v5_success_reason_only, FMQ_V5, &p))
        CHECK_EQ_HEX(p.ack.reason, 0);
}

/* 3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1: the reason codes of each packet; any
 * other byte is a Protocol Error. */
static void v5_reason_code_tables(void)
{
    static const uint8_t pub[] = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
    static const uint8_t rel[] = {0x00, 0x92};
    static const struct {
        uint8_t first;
        const uint8_t *valid;
        size_t n;
    } types[] = {
        {0x40, pub, sizeof pub}, /* PUBACK */
        {0x50, pub, sizeof pub}, /* PUBREC */
        {0x62, rel, sizeof rel}, /* PUBREL */
        {0x70, rel, sizeof rel}, /* PUBCOMP */
    };
    for (size_t t = 0; t < 4; t++)
        for (unsigned rc = 0; rc < 256; rc++) {
            bool ok = memchr(types[t].valid, (int)rc, types[t].n) != NULL;
            uint8_t b[] = {types[t].first, 0x03, 0x00, 0x01, (uint8_t)rc};
            fmq_packet_t p;
            bool pass =
                ok ? DECODE_OK(b, FMQ_V5, &p) : DECODE_ERR(b, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
            if (!pass)
                fprintf(stderr, "    %s reason 0x%02X\n", fmq_type_name(types[t].first >> 4), rc);
            else if (ok)
                CHECK_EQ_HEX(p.ack.reason, rc);
        }
}

static void encode_matches_golden(void)
{
    fmq_packet_t p = ack(FMQ_PUBACK, 1, 0);
    CHECK_ENCODE(&p, FMQ_V311, puback_v311);
    CHECK_ENCODE(&p, FMQ_V5, puback_v311); /* short form */
    p = ack(FMQ_PUBREC, 2, 0);
    CHECK_ENCODE(&p, FMQ_V311, pubrec_v311);
    CHECK_ENCODE(&p, FMQ_V5, pubrec_v311);
    p = ack(FMQ_PUBREL, 3, 0);
    CHECK_ENCODE(&p, FMQ_V311, pubrel_v311);
    CHECK_ENCODE(&p, FMQ_V31, pubrel_v311);
    CHECK_ENCODE(&p, FMQ_V5, pubrel_v311);
    p = ack(FMQ_PUBCOMP, 4, 0);
    CHECK_ENCODE(&p, FMQ_V311, pubcomp_v311);
    CHECK_ENCODE(&p, FMQ_V5, pubcomp_v311);
    p = ack(FMQ_PUBACK, 1, FMQ_RC_NO_MATCHING_SUBSCRIBERS);
    CHECK_ENCODE(&p, FMQ_V5, puback_v5_reason);
    CHECK_ENCODE(&p, FMQ_V311, puback_v311); /* 3.1.1 has no reason code */
    p = pkt_pubrec_v5_props();
    CHECK_ENCODE(&p, FMQ_V5, pubrec_v5_props);
    CHECK_ENCODE(&p, FMQ_V311, pubrec_v311);
    p = ack(FMQ_PUBREL, 5, FMQ_RC_PACKET_ID_NOT_FOUND);
    CHECK_ENCODE(&p, FMQ_V5, pubrel_v5_reason);
    p = pkt_pubcomp_v5_props();
    CHECK_ENCODE(&p, FMQ_V5, pubcomp_v5_props);
}

static void reencode_decoded(void)
{
    fmq_packet_t p;
    if (DECODE_OK(pubrec_v5_props, FMQ_V5, &p))
        CHECK_ENCODE(&p, FMQ_V5, pubrec_v5_props);
    if (DECODE_OK(pubcomp_v5_props, FMQ_V5, &p))
        CHECK_ENCODE(&p, FMQ_V5, pubcomp_v5_props);
    /* the explicit-empty forms re-encode to the shortest form */
    if (DECODE_OK(puback_v5_explicit_empty, FMQ_V5, &p))
        CHECK_ENCODE(&p, FMQ_V5, puback_v5_reason);
    if (DECODE_OK(puback_v5_success_explicit, FMQ_V5, &p))
        CHECK_ENCODE(&p, FMQ_V5, puback_v311);
}

static void roundtrip(void)
{
    static const fmq_type_t types[] = {FMQ_PUBACK, FMQ_PUBREC, FMQ_PUBREL, FMQ_PUBCOMP};
    for (size_t i = 0; i < 4; i++) {
        fmq_packet_t p = ack(types[i], 0xFFFF, 0);
        CHECK_ROUNDTRIP(&p, FMQ_V311);
        CHECK_ROUNDTRIP(&p, FMQ_V5);
    }
    fmq_packet_t p = ack(FMQ_PUBACK, 9, FMQ_RC_QUOTA_EXCEEDED);
    CHECK_ROUNDTRIP(&p, FMQ_V5);
    p = pkt_pubrec_v5_props();
    CHECK_ROUNDTRIP(&p, FMQ_V5);
    p = pkt_pubcomp_v5_props();
    CHECK_ROUNDTRIP(&p, FMQ_V5);
}

static void truncated_and_back_to_back(void)
{
    CHECK_PREFIXES(puback_v311, FMQ_V311);
    CHECK_PREFIXES(pubrel_v311, FMQ_V5);
    CHECK_PREFIXES(puback_v5_reason, FMQ_V5);
    CHECK_PREFIXES(pubrec_v5_props, FMQ_V5);
    CHECK_PREFIXES(pubcomp_v5_props, FMQ_V5);
    CHECK_BACK_TO_BACK(puback_v311, pubrec_v311, FMQ_V311);
    CHECK_BACK_TO_BACK(pubrel_v311, pubcomp_v311, FMQ_V311);
    CHECK_BACK_TO_BACK(puback_v5_reason, pubrec_v5_props, FMQ_V5);
    CHECK_BACK_TO_BACK(pubrec_v5_props, pubrel_v5_reason, FMQ_V5);
    CHECK_BACK_TO_BACK(pubcomp_v5_props, puback_v311, FMQ_V5);
}

/* [MQTT-2.2.2-2], [MQTT-3.6.1-1]: PUBACK/PUBREC/PUBCOMP flags 0000, PUBREL
 * flags 0010; anything else is a Malformed Packet. */
static void fixed_header_flags(void)
{
    static const uint8_t types[] = {FMQ_PUBACK, FMQ_PUBREC, FMQ_PUBREL, FMQ_PUBCOMP};
    static const uint8_t versions[] = {FMQ_V311, FMQ_V5};
    for (size_t t = 0; t < 4; t++)
        for (uint8_t f = 0; f < 16; f++) {
            uint8_t want = types[t] == FMQ_PUBREL ? 0x2 : 0x0;
            if (f == want)
                continue;
            uint8_t b[] = {(uint8_t)(types[t] << 4 | f), 0x02, 0x00, 0x01};
            for (size_t v = 0; v < 2; v++)
                if (!DECODE_ERR(b, versions[v], FMQ_RC_MALFORMED_PACKET))
                    fprintf(stderr, "    %s flags 0x%X\n", fmq_type_name(types[t]), f);
        }
}

/* The identifier answers a PUBLISH that had a non-zero one ([MQTT-2.2.1-3]);
 * the codec rejects 0 as a Protocol Error. */
static void packet_id_zero(void)
{
    static const uint8_t b4[] = {0x40, 0x02, 0x00, 0x00};
    DECODE_ERR(b4, FMQ_V311, FMQ_RC_PROTOCOL_ERROR);
    static const uint8_t b5[] = {0x62, 0x03, 0x00, 0x00, 0x92};
    DECODE_ERR(b5, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
}

static void lengths_malformed(void)
{
    static const uint8_t empty[] = {0x40, 0x00};
    DECODE_ERR(empty, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    DECODE_ERR(empty, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t one[] = {0x50, 0x01, 0x00};
    DECODE_ERR(one, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    DECODE_ERR(one, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    /* 3.1.1: exactly 2 bytes; a third is garbage */
    DECODE_ERR(puback_v5_reason, FMQ_V311, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t v5_plen_past[] = {0x40, 0x05, 0x00, 0x01, 0x00, 0x04, 0x1F};
    DECODE_ERR(v5_plen_past, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t v5_trailing[] = {0x40, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00};
    DECODE_ERR(v5_trailing, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
}

static void property_errors(void)
{
    static const uint8_t alias[] = {
        0x40, 0x07, 0x00, 0x01, 0x00,
        0x03, 0x23, 0x00, 0x01, /* Topic Alias: not a PUBACK property */
    };
    DECODE_ERR(alias, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t two_reasons[] = {
        0x70, 0x0C, 0x00, 0x01, 0x92,
        0x08, 0x1F, 0x00, 0x01, 'a', 0x1F, 0x00, 0x01, 'b', /* Reason String twice */
    };
    /* 2 + 1 + 1 + 8 = 12 */
    DECODE_ERR(two_reasons, FMQ_V5, FMQ_RC_PROTOCOL_ERROR);
    static const uint8_t bad_utf8[] = {
        0x50, 0x08, 0x00, 0x01, 0x80,
        0x04, 0x1F, 0x00, 0x01, 0xFF, /* Reason String not UTF-8 */
    };
    DECODE_ERR(bad_utf8, FMQ_V5, FMQ_RC_MALFORMED_PACKET);
}

static void before_connect(void)
{
    DECODE_ERR(puback_v311, 0, FMQ_RC_PROTOCOL_ERROR);
    DECODE_ERR(pubrel_v311, 0, FMQ_RC_PROTOCOL_ERROR);
}

CHECK_MAIN(T(decode_short_forms), T(decode_v5_forms), T(v5_reason_code_tables),
           T(encode_matches_golden), T(reencode_decoded), T(roundtrip),
           T(truncated_and_back_to_back), T(fixed_header_flags), T(packet_id_zero),
           T(lengths_malformed), T(property_errors), T(before_connect))
