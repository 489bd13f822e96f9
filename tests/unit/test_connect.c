/* CONNECT (MQTT 5.0 section 3.1, MQTT 3.1.1 section 3.1, MQTT 3.1 "MQIsdp").
 * Golden vectors are written by hand from the spec, never by the encoder.
 * Properties appear in ascending identifier order (the encoder's order; the
 * spec allows any order). */
#include "fmq_test.h"

/* ---- golden vectors ---- */

/* MQTT 3.1.1, client id "abc", Clean Session, Keep Alive 60. */
static const uint8_t v311_min[] = {
    0x10, 0x0F,                         /* CONNECT, flags 0; Remaining Length 15 */
    0x00, 0x04, 'M', 'Q', 'T', 'T',     /* Protocol Name "MQTT" (6) */
    0x04,                               /* Protocol Level 4 (1) */
    0x02,                               /* Connect Flags: Clean Session (1) */
    0x00, 0x3C,                         /* Keep Alive 60 (2) */
    0x00, 0x03, 'a', 'b', 'c',          /* Client Identifier "abc" (5) */
};

/* MQTT 3.1.1 with everything: Will QoS 1 retained, User Name, Password. */
static const uint8_t v311_full[] = {
    0x10, 0x23,                         /* CONNECT; Remaining Length 35 */
    0x00, 0x04, 'M', 'Q', 'T', 'T',     /* Protocol Name (6) */
    0x04,                               /* Protocol Level 4 (1) */
    0xEE,                               /* User Name 0x80 | Password 0x40 | Will Retain 0x20 |
                                           Will QoS 1 0x08 | Will Flag 0x04 | Clean 0x02 (1) */
    0x01, 0x2C,                         /* Keep Alive 300 (2) */
    0x00, 0x03, 'c', 'i', 'd',          /* Client Identifier "cid" (5) */
    0x00, 0x03, 'w', '/', 't',          /* Will Topic "w/t" (5) */
    0x00, 0x03, 'b', 'y', 'e',          /* Will Message "bye" (5) */
    0x00, 0x04, 'u', 's', 'e', 'r',     /* User Name "user" (6) */
    0x00, 0x02, 0x00, 0xFF,             /* Password: binary 00 FF (4) */
};
/* offsets into v311_full */
enum { V311F_FLAGS = 9, V311F_WILL_TOPIC = 19, V311F_USER = 29 };

/* MQTT 3.1: Protocol Name "MQIsdp", level 3. */
static const uint8_t v31_min[] = {
    0x10, 0x12,                                 /* CONNECT; Remaining Length 18 */
    0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p',   /* Protocol Name "MQIsdp" (8) */
    0x03,                                       /* Protocol Version 3 (1) */
    0x02,                                       /* Clean Session (1) */
    0x00, 0x0A,                                 /* Keep Alive 10 (2) */
    0x00, 0x04, 'c', 'l', 'i', '1',             /* Client Identifier "cli1" (6) */
};

static const uint8_t v31_full[] = {
    0x10, 0x1B,                                 /* CONNECT; Remaining Length 27 */
    0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p',   /* Protocol Name (8) */
    0x03,                                       /* Protocol Version 3 (1) */
    0xCE,                                       /* User | Password | Will QoS 1 | Will | Clean (1) */
    0x00, 0x3C,                                 /* Keep Alive 60 (2) */
    0x00, 0x01, 'c',                            /* Client Identifier "c" (3) */
    0x00, 0x01, 't',                            /* Will Topic "t" (3) */
    0x00, 0x01, 'm',                            /* Will Message "m" (3) */
    0x00, 0x01, 'u',                            /* User Name "u" (3) */
    0x00, 0x01, 'p',                            /* Password "p" (3) */
};

/* MQTT 5, client id "abc", Clean Start, Keep Alive 60, no properties. */
static const uint8_t v5_min[] = {
    0x10, 0x10,                         /* CONNECT; Remaining Length 16 */
    0x00, 0x04, 'M', 'Q', 'T', 'T',     /* Protocol Name (6) */
    0x05,                               /* Protocol Version 5 (1) */
    0x02,                               /* Clean Start (1) */
    0x00, 0x3C,                         /* Keep Alive 60 (2) */
    0x00,                               /* Property Length 0 (1) */
    0x00, 0x03, 'a', 'b', 'c',          /* Client Identifier "abc" (5) */
};
enum { V5M_PROPS = 12 };

/* MQTT 5 with every CONNECT and Will property class, User Name, Password. */
static const uint8_t v5_full[] = {
    0x10, 0x87, 0x01,                   /* CONNECT; Remaining Length 135 = 0x07 + 1*128 */
    0x00, 0x04, 'M', 'Q', 'T', 'T',     /* Protocol Name (6) */
    0x05,                               /* Protocol Version 5 (1) */
    0xD6,                               /* User 0x80 | Password 0x40 | Will QoS 2 0x10 |
                                           Will Flag 0x04 | Clean Start 0x02 (1) */
    0x00, 0x1E,                         /* Keep Alive 30 (2) */
    0x28,                               /* Property Length 40 (1) */
    0x11, 0x00, 0x00, 0x0E, 0x10,       /*   Session Expiry Interval 3600 (5) */
    0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M', /* Authentication Method "SCRAM" (8) */
    0x16, 0x00, 0x02, 0x01, 0x02,       /*   Authentication Data 01 02 (5) */
    0x17, 0x00,                         /*   Request Problem Information 0 (2) */
    0x19, 0x01,                         /*   Request Response Information 1 (2) */
    0x21, 0x00, 0x14,                   /*   Receive Maximum 20 (3) */
    0x22, 0x00, 0x0A,                   /*   Topic Alias Maximum 10 (3) */
    0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', /* User Property k=v (7) */
    0x27, 0x00, 0x10, 0x00, 0x00,       /*   Maximum Packet Size 1048576 (5) */
    0x00, 0x08, 'c', 'l', 'i', 'e', 'n', 't', '-', '1', /* Client Identifier (10) */
    0x2B,                               /* Will Property Length 43 (1) */
    0x01, 0x01,                         /*   Payload Format Indicator 1 (2) */
    0x02, 0x00, 0x00, 0x00, 0x78,       /*   Message Expiry Interval 120 (5) */
    0x03, 0x00, 0x0A, 't', 'e', 'x', 't', '/', 'p', 'l', 'a', 'i', 'n', /* Content Type (13) */
    0x08, 0x00, 0x03, 'r', '/', 't',    /*   Response Topic "r/t" (6) */
    0x09, 0x00, 0x02, 0xC0, 0xDE,       /*   Correlation Data C0 DE (5) */
    0x18, 0x00, 0x00, 0x00, 0x05,       /*   Will Delay Interval 5 (5) */
    0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'b', /* User Property a=b (7) */
    0x00, 0x0A, 'w', 'i', 'l', 'l', '/', 't', 'o', 'p', 'i', 'c', /* Will Topic (12) */
    0x00, 0x04, 'g', 'o', 'n', 'e',     /* Will Payload "gone" (6) */
    0x00, 0x04, 'u', 's', 'e', 'r',     /* User Name (6) */
    0x00, 0x04, 'p', 'a', 's', 's',     /* Password (6) */
};
/* 10 + 41 + 10 + 44 + 12 + 6 + 6 + 6 = 135 */
/* offsets into v5_full: flags, Property Length, Will Property Length, Will Topic length field */
enum { V5F_FLAGS = 10, V5F_PROPS = 13, V5F_WILL_PROPS = 64, V5F_WILL_TOPIC = 108 };

/* MQTT 5 allows a Password without a User Name (3.1.2.9); empty client id. */
static const uint8_t v5_password_only[] = {
    0x10, 0x11,                         /* CONNECT; Remaining Length 17 */
    0x00, 0x04, 'M', 'Q', 'T', 'T',     /* (6) */
    0x05,                               /* (1) */
    0x40,                               /* Password flag only; Clean Start 0 (1) */
    0x00, 0x00,                         /* Keep Alive 0 (2) */
    0x00,                               /* Property Length 0 (1) */
    0x00, 0x00,                         /* Client Identifier "" (2) */
    0x00, 0x02, 'p', 'w',               /* Password "pw" (4) */
};

/* ---- the same packets as structs ---- */

static fmq_packet_t connect_pkt(uint8_t version)
{
    fmq_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = FMQ_CONNECT;
    p.connect.version = version;
    return p;
}

static fmq_packet_t pkt_v311_min(void)
{
    fmq_packet_t p = connect_pkt(FMQ_V311);
    p.connect.clean_start = true;
    p.connect.keep_alive = 60;
    p.connect.client_id = FMQ_BYTES("abc");
    return p;
}

static fmq_packet_t pkt_v311_full(void)
{
    fmq_packet_t p = connect_pkt(FMQ_V311);
    fmq_connect_t *c = &p.connect;
    c->clean_start = true;
    c->keep_alive = 300;
    c->client_id = FMQ_BYTES("cid");
    c->will_flag = true;
    c->will_qos = 1;
    c->will_retain = true;
    c->will_topic = FMQ_BYTES("w/t");
    c->will_payload = FMQ_BYTES("bye");
    c->has_username = true;
    c->username = FMQ_BYTES("user");
    c->has_password = true;
    c->password = FMQ_BYTES("\x00\xFF");
    return p;
}

static fmq_packet_t pkt_v31_min(void)
{
    fmq_packet_t p = connect_pkt(FMQ_V31);
    p.connect.clean_start = true;
    p.connect.keep_alive = 10;
    p.connect.client_id = FMQ_BYTES("cli1");
    return p;
}

static fmq_packet_t pkt_v31_full(void)
{
    fmq_packet_t p = connect_pkt(FMQ_V31);
    fmq_connect_t *c = &p.connect;
    c->clean_start = true;
    c->keep_alive = 60;
    c->client_id = FMQ_BYTES("c");
    c->will_flag = true;
    c->will_qos = 1;
    c->will_topic = FMQ_BYTES("t");
    c->will_payload = FMQ_BYTES("m");
    c->has_username = true;
    c->username = FMQ_BYTES("u");
    c->has_password = true;
    c->password = FMQ_BYTES("p");
    return p;
}

static fmq_packet_t pkt_v5_min(void)
{
    fmq_packet_t p = connect_pkt(FMQ_V5);
    p.connect.clean_start = true;
    p.connect.keep_alive = 60;
    p.connect.client_id = FMQ_BYTES("abc");
    return p;
}

static const fmq_user_prop_t user_kv[] = {{{(const uint8_t *)"k", 1}, {(const uint8_t *)"v", 1}}};
static const fmq_user_prop_t user_ab[] = {{{(const uint8_t *)"a", 1}, {(const uint8_t *)"b", 1}}};

static fmq_packet_t pkt_v5_full(void)
{
    fmq_packet_t p = connect_pkt(FMQ_V5);
    fmq_connect_t *c = &p.connect;
    c->clean_start = true;
    c->keep_alive = 30;
    c->client_id = FMQ_BYTES("client-1");
    fmq_props_t *cp = &c->props;
    cp->present = FMQ_PROP_BIT(FMQ_PROP_SESSION_EXPIRY) | FMQ_PROP_BIT(FMQ_PROP_AUTH_METHOD) |
                  FMQ_PROP_BIT(FMQ_PROP_AUTH_DATA) | FMQ_PROP_BIT(FMQ_PROP_REQUEST_PROBLEM_INFO) |
                  FMQ_PROP_BIT(FMQ_PROP_REQUEST_RESPONSE_INFO) |
                  FMQ_PROP_BIT(FMQ_PROP_RECEIVE_MAXIMUM) |
                  FMQ_PROP_BIT(FMQ_PROP_TOPIC_ALIAS_MAXIMUM) |
                  FMQ_PROP_BIT(FMQ_PROP_USER_PROPERTY) | FMQ_PROP_BIT(FMQ_PROP_MAXIMUM_PACKET_SIZE);
    cp->session_expiry = 3600;
    cp->auth_method = FMQ_BYTES("SCRAM");
    cp->auth_data = FMQ_BYTES("\x01\x02");
    cp->request_problem_info = 0;
    cp->request_response_info = 1;
    cp->receive_maximum = 20;
    cp->topic_alias_maximum = 10;
    cp->user = user_kv;
    cp->n_user = 1;
    cp->max_packet_size = 1048576;
    c->will_flag = true;
    c->will_qos = 2;
    fmq_props_t *wp = &c->will_props;
    wp->present = FMQ_PROP_BIT(FMQ_PROP_PAYLOAD_FORMAT) | FMQ_PROP_BIT(FMQ_PROP_MESSAGE_EXPIRY) |
                  FMQ_PROP_BIT(FMQ_PROP_CONTENT_TYPE) | FMQ_PROP_BIT(FMQ_PROP_RESPONSE_TOPIC) |
                  FMQ_PROP_BIT(FMQ_PROP_CORRELATION_DATA) | FMQ_PROP_BIT(FMQ_PROP_WILL_DELAY) |
                  FMQ_PROP_BIT(FMQ_PROP_USER_PROPERTY);
    wp->payload_format = 1;
    wp->message_expiry = 120;
    wp->content_type = FMQ_BYTES("text/plain");
    wp->response_topic = FMQ_BYTES("r/t");
    wp->correlation_data = FMQ_BYTES("\xC0\xDE");
    wp->will_delay = 5;
    wp->user = user_ab;
    wp->n_user = 1;
    c->will_topic = FMQ_BYTES("will/topic");
    c->will_payload = FMQ_BYTES("gone");
    c->has_username = true;
    c->username = FMQ_BYTES("user");
    c->has_password = true;
    c->password = FMQ_BYTES("pass");
    return p;
}

static fmq_packet_t pkt_v5_password_only(void)
{
    fmq_packet_t p = connect_pkt(FMQ_V5);
    p.connect.client_id = FMQ_BYTES("");
    p.connect.has_password = true;
    p.connect.password = FMQ_BYTES("pw");
    return p;
}

/* ---- decode every field ---- */

static void decode_v311_min(void)
{
    fmq_packet_t p;
    if (!DECODE_OK(v311_min, 0, &p))
        return;
    CHECK_EQ_INT(p.type, FMQ_CONNECT);
    const fmq_connect_t *c = &p.connect;
    CHECK_EQ_INT(c->version, 4);
    CHECK_EQ_INT(c->clean_start, true);
    CHECK_EQ_INT(c->keep_alive, 60);
    CHECK_BSTR(c->client_id, "abc");
    CHECK(c->client_id.ptr == v311_min + 14); /* borrowed from the input */
    CHECK_EQ_INT(c->will_flag, false);
    CHECK_EQ_INT(c->will_qos, 0);
    CHECK_EQ_INT(c->will_retain, false);
    CHECK_EQ_INT(c->has_username, false);
    CHECK_EQ_INT(c->has_password, false);
    CHECK_EQ_HEX(c->props.present, 0);
    CHECK_EQ_HEX(c->will_props.present, 0);
}

static void decode_v311_full(void)
{
    fmq_packet_t p;
    if (!DECODE_OK(v311_full, 0, &p))
        return;
    const fmq_connect_t *c = &p.connect;
    CHECK_EQ_INT(c->version, 4);
    CHECK_EQ_INT(c->clean_start, true);
    CHECK_EQ_INT(c->keep_alive, 300);
    CHECK_BSTR(c->client_id, "cid");
    CHECK_EQ_INT(c->will_flag, true);
    CHECK_EQ_INT(c->will_qos, 1);
    CHECK_EQ_INT(c->will_retain, true);
    CHECK_BSTR(c->will_topic, "w/t");
    CHECK_BSTR(c->will_payload, "bye");
    CHECK_EQ_INT(c->has_username, true);
    CHECK_BSTR(c->username, "user");
    CHECK_EQ_INT(c->has_password, true);
    CHECK_BSTR(c->password, "\x00\xFF");
    CHECK_EQ_HEX(c->props.present, 0);
}

static void decode_v31(void)
{
    fmq_packet_t p;
    if (DECODE_OK(v31_min, 0, &p)) {
        CHECK_EQ_INT(p.connect.version, 3);
        CHECK_EQ_INT(p.connect.clean_start, true);
        CHECK_EQ_INT(p.connect.keep_alive, 10);
        CHECK_BSTR(p.connect.client_id, "cli1");
        CHECK_EQ_INT(p.connect.will_flag, false);
        CHECK_EQ_INT(p.connect.has_username, false);
        CHECK_EQ_INT(p.connect.has_password, false);
    }
    if (DECODE_OK(v31_full, 0, &p)) {
        const fmq_connect_t *c = &p.connect;
        CHECK_EQ_INT(c->version, 3);
        CHECK_EQ_INT(c->clean_start, true);
        CHECK_EQ_INT(c->keep_alive, 60);
        CHECK_BSTR(c->client_id, "c");
        CHECK_EQ_INT(c->will_flag, true);
        CHECK_EQ_INT(c->will_qos, 1);
        CHECK_EQ_INT(c->will_retain, false);
        CHECK_BSTR(c->will_topic, "t");
        CHECK_BSTR(c->will_payload, "m");
        CHECK_EQ_INT(c->has_username, true);
        CHECK_BSTR(c->username, "u");
        CHECK_EQ_INT(c->has_password, true);
        CHECK_BSTR(c->password, "p");
    }
}

static void decode_v5_min(void)
{
    fmq_packet_t p;
    if (!DECODE_OK(v5_min, 0, &p))
        return;
    const fmq_connect_t *c = &p.connect;
    CHECK_EQ_INT(c->version, 5);
    CHECK_EQ_INT(c->clean_start, true);
    CHECK_EQ_INT(c->keep_alive, 60);
    CHECK_BSTR(c->client_id, "abc");
    CHECK_EQ_INT(c->will_flag, false);
    CHECK_EQ_INT(c->has_username, false);
    CHECK_EQ_INT(c->has_password, false);
    CHECK_EQ_HEX(c->props.present, 0);
    CHECK_EQ_INT(c->props.raw.len, 0);
    CHECK_EQ_INT(c->props.n_user, 0);
}

static void decode_v5_full(void)
{
    fmq_packet_t p;
    if (!DECODE_OK(v5_full, 0, &p))
        return;
    const fmq_connect_t *c = &p.connect;
    CHECK_EQ_INT(c->version, 5);
    CHECK_EQ_INT(c->clean_start, true);
    CHECK_EQ_INT(c->keep_alive, 30);
    CHECK_BSTR(c->client_id, "client-1");
    const fmq_props_t *cp = &c->props;
    CHECK_EQ_HEX(cp->present,
                 FMQ_PROP_BIT(0x11) | FMQ_PROP_BIT(0x15) | FMQ_PROP_BIT(0x16) |
                     FMQ_PROP_BIT(0x17) | FMQ_PROP_BIT(0x19) | FMQ_PROP_BIT(0x21) |
                     FMQ_PROP_BIT(0x22) | FMQ_PROP_BIT(0x26) | FMQ_PROP_BIT(0x27));
    CHECK_EQ_INT(cp->session_expiry, 3600);
    CHECK_BSTR(cp->auth_method, "SCRAM");
    CHECK_BSTR(cp->auth_data, "\x01\x02");
    CHECK_EQ_INT(cp->request_problem_info, 0);
    CHECK_EQ_INT(cp->request_response_info, 1);
    CHECK_EQ_INT(cp->receive_maximum, 20);
    CHECK_EQ_INT(cp->topic_alias_maximum, 10);
    CHECK_EQ_INT(cp->max_packet_size, 1048576);
    CHECK_EQ_INT(cp->n_user, 1);
    fmq_user_prop_t kv;
    if (CHECK(props_user_at(cp, 0, &kv))) {
        CHECK_BSTR(kv.key, "k");
        CHECK_BSTR(kv.value, "v");
    }
    CHECK(cp->raw.ptr == v5_full + V5F_PROPS + 1);
    CHECK_EQ_INT(cp->raw.len, 40);

    CHECK_EQ_INT(c->will_flag, true);
    CHECK_EQ_INT(c->will_qos, 2);
    CHECK_EQ_INT(c->will_retain, false);
    const fmq_props_t *wp = &c->will_props;
    CHECK_EQ_HEX(wp->present, FMQ_PROP_BIT(0x01) | FMQ_PROP_BIT(0x02) | FMQ_PROP_BIT(0x03) |
                                  FMQ_PROP_BIT(0x08) | FMQ_PROP_BIT(0x09) | FMQ_PROP_BIT(0x18) |
                                  FMQ_PROP_BIT(0x26));
    CHECK_EQ_INT(wp->payload_format, 1);
    CHECK_EQ_INT(wp->message_expiry, 120);
    CHECK_BSTR(wp->content_type, "text/plain");
    CHECK_BSTR(wp->response_topic, "r/t");
    CHECK_BSTR(wp->correlation_data, "\xC0\xDE");
    CHECK_EQ_INT(wp->will_delay, 5);
    CHECK_EQ_INT(wp->n_user, 1);
    if (CHECK(props_user_at(wp, 0, &kv))) {
        CHECK_BSTR(kv.key, "a");
        CHECK_BSTR(kv.value, "b");
    }
    CHECK_BSTR(c->will_topic, "will/topic");
    CHECK_BSTR(c->will_payload, "gone");
    CHECK_EQ_INT(c->has_username, true);
    CHECK_BSTR(c->username, "user");
    CHECK_EQ_INT(c->has_password, true);
    CHECK_BSTR(c->password, "pass");
}

static void decode_v5_password_without_username(void)
{
    fmq_packet_t p;
    if (!DECODE_OK(v5_password_only, 0, &p))
        return;
    CHECK_EQ_INT(p.connect.version, 5);
    CHECK_EQ_INT(p.connect.clean_start, false);
    CHECK_EQ_INT(p.connect.keep_alive, 0);
    CHECK_EQ_INT(p.connect.client_id.len, 0); /* empty client id: a codec matter, fine */
    CHECK_EQ_INT(p.connect.has_username, false);
    CHECK_EQ_INT(p.connect.has_password, true);
    CHECK_BSTR(p.connect.password, "pw");
}

/* The level comes from the packet, not from opts (a second CONNECT is a
 * session matter, not the codec's). */
static void decode_ignores_opts_version(void)
{
    fmq_packet_t p;
    fmq_err_t err;
    CHECK_EQ_INT(dec(v311_min, sizeof v311_min, FMQ_V5, &p, &err), (int)sizeof v311_min);
    CHECK_EQ_INT(p.connect.version, 4);
    CHECK_EQ_INT(dec(v5_min, sizeof v5_min, FMQ_V311, &p, &err), (int)sizeof v5_min);
    CHECK_EQ_INT(p.connect.version, 5);
}

/* ---- encode == golden, decode == struct, round trip ---- */

static void encode_matches_golden(void)
{
    fmq_packet_t p = pkt_v311_min();
    CHECK_ENCODE(&p, FMQ_V311, v311_min);
    p = pkt_v311_full();
    CHECK_ENCODE(&p, FMQ_V311, v311_full);
    p = pkt_v31_min();
    CHECK_ENCODE(&p, FMQ_V31, v31_min);
    p = pkt_v31_full();
    CHECK_ENCODE(&p, FMQ_V31, v31_full);
    p = pkt_v5_min();
    CHECK_ENCODE(&p, FMQ_V5, v5_min);
    p = pkt_v5_full();
    CHECK_ENCODE(&p, FMQ_V5, v5_full);
    p = pkt_v5_password_only();
    CHECK_ENCODE(&p, FMQ_V5, v5_password_only);
}

/* A decoded packet (lists read from `raw`) re-encodes to the same bytes. */
static void reencode_decoded(void)
{
    static const struct {
        const uint8_t *b;
        size_t n;
    } goldens[] = {
        {v311_min, sizeof v311_min}, {v311_full, sizeof v311_full}, {v31_min, sizeof v31_min},
        {v31_full, sizeof v31_full}, {v5_min, sizeof v5_min},       {v5_full, sizeof v5_full},
        {v5_password_only, sizeof v5_password_only},
    };
    for (size_t i = 0; i < sizeof goldens / sizeof goldens[0]; i++) {
        fmq_packet_t p;
        fmq_err_t err;
        if (!CHECK_EQ_INT(dec(goldens[i].b, goldens[i].n, 0, &p, &err), (int)goldens[i].n))
            continue;
        check_encode_(__FILE__, __LINE__, &p, p.connect.version, goldens[i].b, goldens[i].n);
    }
}

static void decoded_equals_struct(void)
{
    fmq_packet_t got, want;
    if (DECODE_OK(v311_min, 0, &got)) {
        want = pkt_v311_min();
        CHECK_PACKET_EQ(&want, &got, FMQ_V311);
    }
    if (DECODE_OK(v311_full, 0, &got)) {
        want = pkt_v311_full();
        CHECK_PACKET_EQ(&want, &got, FMQ_V311);
    }
    if (DECODE_OK(v31_full, 0, &got)) {
        want = pkt_v31_full();
        CHECK_PACKET_EQ(&want, &got, FMQ_V31);
    }
    if (DECODE_OK(v5_full, 0, &got)) {
        want = pkt_v5_full();
        CHECK_PACKET_EQ(&want, &got, FMQ_V5);
    }
}

static void roundtrip(void)
{
    fmq_packet_t p = pkt_v311_min();
    CHECK_ROUNDTRIP(&p, FMQ_V311);
    p = pkt_v311_full();
    CHECK_ROUNDTRIP(&p, FMQ_V311);
    p = pkt_v31_min();
    CHECK_ROUNDTRIP(&p, FMQ_V31);
    p = pkt_v31_full();
    CHECK_ROUNDTRIP(&p, FMQ_V31);
    p = pkt_v5_min();
    CHECK_ROUNDTRIP(&p, FMQ_V5);
    p = pkt_v5_full();
    CHECK_ROUNDTRIP(&p, FMQ_V5);
    p = pkt_v5_password_only();
    CHECK_ROUNDTRIP(&p, FMQ_V5);
    /* Will QoS 0 not retained, username without password */
    p = pkt_v5_min();
    p.connect.will_flag = true;
    p.connect.will_topic = FMQ_BYTES("a/b");
    p.connect.will_payload = FMQ_BYTES("");
    p.connect.has_username = true;
    p.connect.username = FMQ_BYTES("u");
    CHECK_ROUNDTRIP(&p, FMQ_V5);
    p.connect.version = FMQ_V311;
    CHECK_ROUNDTRIP(&p, FMQ_V311);
}

/* "MQTT 3.1.1 encodings drop properties": the same struct with MQTT 5
 * properties encodes at level 4 exactly like the 3.1.1 golden. */
static void v311_encoding_drops_properties(void)
{
    fmq_packet_t p = pkt_v311_full();
    p.connect.props.present = FMQ_PROP_BIT(FMQ_PROP_SESSION_EXPIRY);
    p.connect.props.session_expiry = 99;
    p.connect.props.user = user_kv;
    p.connect.props.n_user = 1;
    p.connect.will_props.present = FMQ_PROP_BIT(FMQ_PROP_WILL_DELAY);
    p.connect.will_props.will_delay = 7;
    CHECK_ENCODE(&p, FMQ_V311, v311_full);
}

static void truncated_prefixes_need_more(void)
{
    CHECK_PREFIXES(v311_min, 0);
    CHECK_PREFIXES(v311_full, 0);
    CHECK_PREFIXES(v31_min, 0);
    CHECK_PREFIXES(v31_full, 0);
    CHECK_PREFIXES(v5_min, 0);
    CHECK_PREFIXES(v5_full, 0);
    CHECK_PREFIXES(v5_password_only, 0);
}

static void back_to_back(void)
{
    CHECK_BACK_TO_BACK(v311_min, v311_full, 0);
    CHECK_BACK_TO_BACK(v5_full, v5_min, 0);
    CHECK_BACK_TO_BACK(v31_full, v5_password_only, 0);
}

/* ---- invalid CONNECTs ---- */

/* [MQTT-3.1.2-3] The Server MUST validate that the reserved flag in the
 * CONNECT packet is set to 0: Malformed Packet. */
static void reserved_flag_mqtt_3_1_2_3(void)
{
    MUTABLE_COPY(b4, v311_min);
    b4[9] = 0x03; /* Clean Session | reserved */
    fmq_packet_t p;
    DECODE_ERR_P(b4, 0, FMQ_RC_MALFORMED_PACKET, &p);
    CHECK_EQ_INT(p.type, FMQ_CONNECT);
    fmq_err_t err;
    dec(b4, sizeof b4, 0, &p, &err);
    CHECK(err.what && strstr(err.what, "MQTT-3.1.2-3") != NULL); /* fmq.h: `what` names the rule */
    MUTABLE_COPY(b5, v5_min);
    b5[9] = 0x03;
    DECODE_ERR(b5, 0, FMQ_RC_MALFORMED_PACKET);
}

/* [MQTT-3.1.2-14] (3.1.1) / 3.1.2.6 (5.0): Will QoS MUST NOT be 3. */
static void will_qos_3_mqtt_3_1_2_14(void)
{
    MUTABLE_COPY(b4, v311_full);
    b4[V311F_FLAGS] = 0xFE; /* 0xEE with both Will QoS bits */
    DECODE_ERR(b4, 0, FMQ_RC_MALFORMED_PACKET);
    MUTABLE_COPY(b5, v5_full);
    b5[V5F_FLAGS] = 0xDE; /* 0xD6 with both Will QoS bits */
    DECODE_ERR(b5, 0, FMQ_RC_MALFORMED_PACKET);
}

/* 3.1.1 [MQTT-3.1.2-11]/[MQTT-3.1.2-13]/[MQTT-3.1.2-15], 5.0 [MQTT-3.1.2-11]/
 * [MQTT-3.1.2-13]: with Will Flag 0, Will QoS and Will Retain MUST be 0. */
static void will_flags_without_will_mqtt_3_1_2_11_13_15(void)
{
    static const uint8_t bad_flags[] = {
        0x0A, /* Clean | Will QoS 1 */
        0x12, /* Clean | Will QoS 2 */
        0x22, /* Clean | Will Retain */
        0x3A, /* Clean | Will Retain | Will QoS 3 */
    };
    for (size_t i = 0; i < sizeof bad_flags; i++) {
        MUTABLE_COPY(b4, v311_min);
        b4[9] = bad_flags[i];
        if (!DECODE_ERR(b4, 0, FMQ_RC_MALFORMED_PACKET))
            fprintf(stderr, "    3.1.1 flags 0x%02X\n", bad_flags[i]);
        MUTABLE_COPY(b5, v5_min);
        b5[9] = bad_flags[i];
        if (!DECODE_ERR(b5, 0, FMQ_RC_MALFORMED_PACKET))
            fprintf(stderr, "    5.0 flags 0x%02X\n", bad_flags[i]);
    }
}

/* [MQTT-3.1.2-22] (3.1.1): If the User Name Flag is 0, the Password Flag MUST
 * be 0. MQTT 5 dropped the rule (decode_v5_password_without_username). */
static void v311_password_without_username_mqtt_3_1_2_22(void)
{
    static const uint8_t b[] = {
        0x10, 0x10,                     /* CONNECT; Remaining Length 16 */
        0x00, 0x04, 'M', 'Q', 'T', 'T', /* (6) */
        0x04,                           /* (1) */
        0x40,                           /* Password flag without User Name flag (1) */
        0x00, 0x00,                     /* (2) */
        0x00, 0x00,                     /* Client Identifier "" (2) */
        0x00, 0x02, 'p', 'w',           /* Password (4) */
    };
    DECODE_ERR(b, 0, FMQ_RC_MALFORMED_PACKET);
}

/* 3.1.2.2: an unsupported Protocol Version: CONNACK 0x84 Unsupported
 * Protocol Version ([MQTT-3.1.2-2]); the level is readable for the reply. */
static void unsupported_level_0x84(void)
{
    static const uint8_t levels[] = {0, 1, 2, 6, 7, 0xFF};
    for (size_t i = 0; i < sizeof levels; i++) {
        MUTABLE_COPY(b, v311_min);
        b[8] = levels[i];
        fmq_packet_t p;
        memset(&p, 0, sizeof p);
        if (!DECODE_ERR_P(b, 0, FMQ_RC_UNSUPPORTED_PROTOCOL_VERSION, &p))
            fprintf(stderr, "    level %u\n", levels[i]);
        CHECK_EQ_INT(p.type, FMQ_CONNECT);
        CHECK_EQ_INT(p.connect.version, levels[i]);
    }
    /* the name and the level must agree: "MQTT" is 4 or 5, "MQIsdp" is 3 */
    MUTABLE_COPY(mqtt3, v311_min);
    mqtt3[8] = 3;
    DECODE_ERR(mqtt3, 0, FMQ_RC_UNSUPPORTED_PROTOCOL_VERSION);
    MUTABLE_COPY(mqisdp4, v31_min);
    mqisdp4[10] = 4;
    fmq_packet_t p;
    DECODE_ERR_P(mqisdp4, 0, FMQ_RC_UNSUPPORTED_PROTOCOL_VERSION, &p);
    CHECK_EQ_INT(p.connect.version, 4);
    MUTABLE_COPY(mqisdp5, v31_min);
    mqisdp5[10] = 5;
    DECODE_ERR(mqisdp5, 0, FMQ_RC_UNSUPPORTED_PROTOCOL_VERSION);
}

/* [MQTT-3.1.2-1] 5.0: a Protocol Name that is not "MQTT": the Server MAY
 * send CONNACK 0x84 Unsupported Protocol Version (the codec's choice). */
static void wrong_protocol_name_0x84(void)
{
    MUTABLE_COPY(b, v311_min);
    b[7] = 'X'; /* "MQTX" */
    fmq_packet_t p;
    DECODE_ERR_P(b, 0, FMQ_RC_UNSUPPORTED_PROTOCOL_VERSION, &p);
    CHECK_EQ_INT(p.connect.version, 4);
    MUTABLE_COPY(lower, v5_min);
    lower[4] = 'm'; /* "mQTT": names are case sensitive */
    DECODE_ERR(lower, 0, FMQ_RC_UNSUPPORTED_PROTOCOL_VERSION);
    static const uint8_t empty_name[] = {
        0x10, 0x0B,                /* Remaining Length 11 */
        0x00, 0x00,                /* Protocol Name "" (2) */
        0x04, 0x02, 0x00, 0x3C,    /* level, flags, keep alive (4) */
        0x00, 0x03, 'a', 'b', 'c', /* (5) */
    };
    DECODE_ERR(empty_name, 0, FMQ_RC_UNSUPPORTED_PROTOCOL_VERSION);
}

/* [MQTT-2.2.2-2]: CONNECT fixed header flags are reserved 0000. */
static void fixed_header_flags_mqtt_2_2_2_2(void)
{
    for (uint8_t f = 1; f < 16; f++) {
        MUTABLE_COPY(b, v311_min);
        b[0] = (uint8_t)(0x10 | f);
        if (!DECODE_ERR(b, 0, FMQ_RC_MALFORMED_PACKET))
            fprintf(stderr, "    flags 0x%X\n", f);
    }
}

/* [MQTT-1.5.4-1]/[MQTT-1.5.4-2]: malformed UTF-8 in the Client Identifier
 * ([MQTT-3.1.3-4]), the Will Topic, the User Name ([MQTT-3.1.3-11] 3.1.1). */
static void invalid_utf8_strings(void)
{
    static const uint8_t bad_ids[][3] = {
        {'a', 0xC0, 0x80}, /* overlong NUL */
        {'a', 0x00, 'c'},  /* U+0000 */
        {0xED, 0xA0, 0x80}, /* U+D800 */
        {'a', 'b', 0xE2},  /* truncated */
    };
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        MUTABLE_COPY(b4, v311_min);
        memcpy(b4 + 14, bad_ids[i], 3);
        if (!DECODE_ERR(b4, 0, FMQ_RC_MALFORMED_PACKET))
            fprintf(stderr, "    client id case %zu\n", i);
        MUTABLE_COPY(b5, v5_min);
        memcpy(b5 + 15, bad_ids[i], 3);
        DECODE_ERR(b5, 0, FMQ_RC_MALFORMED_PACKET);
    }
    MUTABLE_COPY(user, v311_full);
    user[V311F_USER] = 0xFF;
    DECODE_ERR(user, 0, FMQ_RC_MALFORMED_PACKET);
    MUTABLE_COPY(wt, v311_full);
    wt[V311F_WILL_TOPIC] = 0xFE;
    DECODE_ERR(wt, 0, FMQ_RC_MALFORMED_PACKET);
    MUTABLE_COPY(wt5, v5_full);
    wt5[V5F_WILL_TOPIC + 2] = 0x80; /* first byte of "will/topic" */
    DECODE_ERR(wt5, 0, FMQ_RC_MALFORMED_PACKET);
    /* Binary fields are not UTF-8: the Password and Will Payload may hold anything. */
    MUTABLE_COPY(pw, v311_full);
    pw[sizeof pw - 2] = 0xC0;
    fmq_packet_t p;
    DECODE_OK(pw, 0, &p);
}

/* The Will Topic is a Topic Name: no wildcards (4.7.1). The codec reports
 * 0x90 Topic Name invalid, a valid CONNACK code. */
static void will_topic_with_wildcard_0x90(void)
{
    MUTABLE_COPY(b, v311_full);
    b[V311F_WILL_TOPIC + 1] = '#'; /* "w#t" */
    DECODE_ERR(b, 0, FMQ_RC_TOPIC_NAME_INVALID);
    MUTABLE_COPY(b5, v5_full);
    b5[V5F_WILL_TOPIC + 2 + 4] = '+'; /* "will+topic" */
    DECODE_ERR(b5, 0, FMQ_RC_TOPIC_NAME_INVALID);
}

/* Fields that run past the Remaining Length, or bytes left after the last
 * field: Malformed Packet. */
static void lengths_malformed(void)
{
    static const uint8_t trailing[] = {
        0x10, 0x10,                         /* Remaining Length 16: one byte too many */
        0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C,
        0x00, 0x03, 'a', 'b', 'c',
        0x00,                               /* trailing garbage inside the packet */
    };
    DECODE_ERR(trailing, 0, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t short_id[] = {
        0x10, 0x0E,                         /* Remaining Length 14: client id cut */
        0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C,
        0x00, 0x03, 'a', 'b',
    };
    DECODE_ERR(short_id, 0, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t no_keepalive[] = {
        0x10, 0x08, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, /* ends after the flags */
    };
    DECODE_ERR(no_keepalive, 0, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t no_client_id[] = {
        0x10, 0x0A, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C,
    };
    DECODE_ERR(no_client_id, 0, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t empty[] = {0x10, 0x00};
    DECODE_ERR(empty, 0, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t will_missing[] = {
        0x10, 0x0F, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
        0x06,                               /* Will Flag, but no Will Topic follows */
        0x00, 0x3C, 0x00, 0x03, 'a', 'b', 'c',
    };
    DECODE_ERR(will_missing, 0, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t user_missing[] = {
        0x10, 0x0F, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,
        0x82,                               /* User Name flag, but no User Name */
        0x00, 0x3C, 0x00, 0x03, 'a', 'b', 'c',
    };
    DECODE_ERR(user_missing, 0, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t v5_no_props[] = {
        0x10, 0x0F, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3C,
        /* Property Length missing: 00 03 is read as length 0, then "03 'a'..." */
        0x00, 0x03, 'a', 'b', 'c',
    };
    DECODE_ERR(v5_no_props, 0, FMQ_RC_MALFORMED_PACKET);
    MUTABLE_COPY(plen, v5_min);
    plen[V5M_PROPS] = 0x10; /* Property Length past the end of the packet */
    DECODE_ERR(plen, 0, FMQ_RC_MALFORMED_PACKET);
}

/* Properties that are not CONNECT (or Will) properties: Malformed Packet. */
static void wrong_properties(void)
{
    static const uint8_t topic_alias[] = {
        0x10, 0x13, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3C,
        0x03, 0x23, 0x00, 0x01,             /* Topic Alias: a PUBLISH property */
        0x00, 0x03, 'a', 'b', 'c',
    };
    DECODE_ERR(topic_alias, 0, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t will_delay_in_connect[] = {
        0x10, 0x15, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3C,
        0x05, 0x18, 0x00, 0x00, 0x00, 0x01, /* Will Delay Interval: only in Will Properties */
        0x00, 0x03, 'a', 'b', 'c',
    };
    DECODE_ERR(will_delay_in_connect, 0, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t session_expiry_in_will[] = {
        0x10, 0x1B,                         /* Remaining Length 27 */
        0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, /* (7) */
        0x06,                               /* Will Flag | Clean Start (1) */
        0x00, 0x3C,                         /* (2) */
        0x00,                               /* CONNECT properties: none (1) */
        0x00, 0x03, 'a', 'b', 'c',          /* (5) */
        0x05, 0x11, 0x00, 0x00, 0x00, 0x01, /* Will Properties: Session Expiry, not a Will property (6) */
        0x00, 0x01, 't', 0x00, 0x00,        /* Will Topic "t", empty payload (5) */
    };
    DECODE_ERR(session_expiry_in_will, 0, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t recv_max_0[] = {
        0x10, 0x13, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3C,
        0x03, 0x21, 0x00, 0x00,             /* Receive Maximum 0: Protocol Error (3.1.2.11.3) */
        0x00, 0x03, 'a', 'b', 'c',
    };
    DECODE_ERR(recv_max_0, 0, FMQ_RC_PROTOCOL_ERROR);
}

/* 3.1.2.11.10 (5.0): "It is a Protocol Error to include Authentication Data
 * if there is no Authentication Method." */
static void auth_data_without_method_protocol_error(void)
{
    static const uint8_t b[] = {
        0x10, 0x14, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3C, /* (10) */
        0x04, 0x16, 0x00, 0x01, 0xAA,       /* Authentication Data alone (5) */
        0x00, 0x03, 'a', 'b', 'c',          /* (5) */
    };
    DECODE_ERR(b, 0, FMQ_RC_PROTOCOL_ERROR);
}

CHECK_MAIN(T(decode_v311_min), T(decode_v311_full), T(decode_v31), T(decode_v5_min),
           T(decode_v5_full), T(decode_v5_password_without_username),
           T(decode_ignores_opts_version), T(encode_matches_golden), T(reencode_decoded),
           T(decoded_equals_struct), T(roundtrip), T(v311_encoding_drops_properties),
           T(truncated_prefixes_need_more), T(back_to_back), T(reserved_flag_mqtt_3_1_2_3),
           T(will_qos_3_mqtt_3_1_2_14), T(will_flags_without_will_mqtt_3_1_2_11_13_15),
           T(v311_password_without_username_mqtt_3_1_2_22), T(unsupported_level_0x84),
           T(wrong_protocol_name_0x84), T(fixed_header_flags_mqtt_2_2_2_2),
           T(invalid_utf8_strings), T(will_topic_with_wildcard_0x90), T(lengths_malformed),
           T(wrong_properties), T(auth_data_without_method_protocol_error))
