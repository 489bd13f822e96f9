/* MQTT 5.0 properties (section 2.2.2): identifiers, data types, where each may
 * appear (Table 2-4 "Properties"), duplicates and the values the spec restricts.
 * Blocks here are written by hand; wrap() assembles minimal packets around
 * them byte by byte (never with the encoder). */
#include "fmq_test.h"

#define PUB FMQ_IN(FMQ_PUBLISH)
#define WIL FMQ_IN_WILL
#define CON FMQ_IN(FMQ_CONNECT)
#define CAK FMQ_IN(FMQ_CONNACK)
#define DIS FMQ_IN(FMQ_DISCONNECT)
#define AUT FMQ_IN(FMQ_AUTH)
#define SUB FMQ_IN(FMQ_SUBSCRIBE)
#define PACK FMQ_IN(FMQ_PUBACK)
#define PREC FMQ_IN(FMQ_PUBREC)
#define PREL FMQ_IN(FMQ_PUBREL)
#define PCOM FMQ_IN(FMQ_PUBCOMP)
#define SACK FMQ_IN(FMQ_SUBACK)
#define UNS FMQ_IN(FMQ_UNSUBSCRIBE)
#define UACK FMQ_IN(FMQ_UNSUBACK)

/* Table 2-4 of MQTT 5.0, copied from the spec (not from the codec). */
typedef struct {
    uint8_t id;
    fmq_prop_type_t type;
    uint32_t where;
    const char *name;
} spec_prop_t;

static const spec_prop_t spec_props[] = {
    {0x01, FMQ_PT_BYTE, PUB | WIL, "Payload Format Indicator"},
    {0x02, FMQ_PT_U32, PUB | WIL, "Message Expiry Interval"},
    {0x03, FMQ_PT_UTF8, PUB | WIL, "Content Type"},
    {0x08, FMQ_PT_UTF8, PUB | WIL, "Response Topic"},
    {0x09, FMQ_PT_BINARY, PUB | WIL, "Correlation Data"},
    {0x0B, FMQ_PT_VARINT, PUB | SUB, "Subscription Identifier"},
    {0x11, FMQ_PT_U32, CON | CAK | DIS, "Session Expiry Interval"},
    {0x12, FMQ_PT_UTF8, CAK, "Assigned Client Identifier"},
    {0x13, FMQ_PT_U16, CAK, "Server Keep Alive"},
    {0x15, FMQ_PT_UTF8, CON | CAK | AUT, "Authentication Method"},
    {0x16, FMQ_PT_BINARY, CON | CAK | AUT, "Authentication Data"},
    {0x17, FMQ_PT_BYTE, CON, "Request Problem Information"},
    {0x18, FMQ_PT_U32, WIL, "Will Delay Interval"},
    {0x19, FMQ_PT_BYTE, CON, "Request Response Information"},
    {0x1A, FMQ_PT_UTF8, CAK, "Response Information"},
    {0x1C, FMQ_PT_UTF8, CAK | DIS, "Server Reference"},
    {0x1F, FMQ_PT_UTF8, CAK | PACK | PREC | PREL | PCOM | SACK | UACK | DIS | AUT,
     "Reason String"},
    {0x21, FMQ_PT_U16, CON | CAK, "Receive Maximum"},
    {0x22, FMQ_PT_U16, CON | CAK, "Topic Alias Maximum"},
    {0x23, FMQ_PT_U16, PUB, "Topic Alias"},
    {0x24, FMQ_PT_BYTE, CAK, "Maximum QoS"},
    {0x25, FMQ_PT_BYTE, CAK, "Retain Available"},
    {0x26, FMQ_PT_UTF8_PAIR,
     CON | CAK | PUB | WIL | PACK | PREC | PREL | PCOM | SUB | SACK | UNS | UACK | DIS | AUT,
     "User Property"},
    {0x27, FMQ_PT_U32, CON | CAK, "Maximum Packet Size"},
    {0x28, FMQ_PT_BYTE, CAK, "Wildcard Subscription Available"},
    {0x29, FMQ_PT_BYTE, CAK, "Subscription Identifier Available"},
    {0x2A, FMQ_PT_BYTE, CAK, "Shared Subscription Available"},
};
#define N_SPEC (sizeof spec_props / sizeof spec_props[0])

/* Every place a property block can be: the packet types, and the Will. */
static const uint32_t places[] = {
    CON, WIL, CAK, PUB, PACK, PREC, PREL, PCOM, SUB, SACK, UNS, UACK,
    FMQ_IN(FMQ_PINGREQ), FMQ_IN(FMQ_PINGRESP), DIS, AUT,
};
#define N_PLACES (sizeof places / sizeof places[0])

static const char *place_name(uint32_t w)
{
    if (w == WIL)
        return "Will";
    for (unsigned t = 1; t < 16; t++)
        if (w == FMQ_IN(t))
            return fmq_type_name(t);
    return "?";
}

/* One property with a sample value of its type, written by hand:
 *  Byte 0x01; Two Byte 0x0102; Four Byte 0x01020304; Variable Byte 129
 *  (0x81 0x01); UTF-8 "a/b"; Binary 00 FF 7F; UTF-8 pair "k" = "v1". */
static size_t sample_prop(uint8_t id, fmq_prop_type_t type, uint8_t *out)
{
    static const uint8_t byte_[] = {0x01};
    static const uint8_t u16_[] = {0x01, 0x02};
    static const uint8_t u32_[] = {0x01, 0x02, 0x03, 0x04};
    static const uint8_t var_[] = {0x81, 0x01};
    static const uint8_t utf8_[] = {0x00, 0x03, 'a', '/', 'b'};
    static const uint8_t bin_[] = {0x00, 0x03, 0x00, 0xFF, 0x7F};
    static const uint8_t pair_[] = {0x00, 0x01, 'k', 0x00, 0x02, 'v', '1'};
    const uint8_t *v = NULL;
    size_t n = 0;
    switch (type) {
    case FMQ_PT_BYTE: v = byte_, n = sizeof byte_; break;
    case FMQ_PT_U16: v = u16_, n = sizeof u16_; break;
    case FMQ_PT_U32: v = u32_, n = sizeof u32_; break;
    case FMQ_PT_VARINT: v = var_, n = sizeof var_; break;
    case FMQ_PT_UTF8: v = utf8_, n = sizeof utf8_; break;
    case FMQ_PT_BINARY: v = bin_, n = sizeof bin_; break;
    case FMQ_PT_UTF8_PAIR: v = pair_, n = sizeof pair_; break;
    }
    out[0] = id;
    memcpy(out + 1, v, n);
    return n + 1;
}

/* The decoded sample value is where it belongs in fmq_props_t. */
static void check_sample_value(const fmq_props_t *p, uint8_t id)
{
    static const uint8_t bin_[] = {0x00, 0xFF, 0x7F};
    CHECK(fmq_props_has(p, (fmq_prop_id_t)id));
    switch (id) {
    case 0x01: CHECK_EQ_INT(p->payload_format, 1); break;
    case 0x02: CHECK_EQ_HEX(p->message_expiry, 0x01020304); break;
    case 0x03: CHECK_BSTR(p->content_type, "a/b"); break;
    case 0x08: CHECK_BSTR(p->response_topic, "a/b"); break;
    case 0x09: CHECK_EQ_BYTES(p->correlation_data.ptr, p->correlation_data.len, bin_, 3); break;
    case 0x0B: {
        CHECK_EQ_INT(p->n_sub_ids, 1);
        uint32_t v = 0;
        CHECK(props_sub_id_at(p, 0, &v));
        CHECK_EQ_INT(v, 129);
        break;
    }
    case 0x11: CHECK_EQ_HEX(p->session_expiry, 0x01020304); break;
    case 0x12: CHECK_BSTR(p->assigned_client_id, "a/b"); break;
    case 0x13: CHECK_EQ_HEX(p->server_keep_alive, 0x0102); break;
    case 0x15: CHECK_BSTR(p->auth_method, "a/b"); break;
    case 0x16: CHECK_EQ_BYTES(p->auth_data.ptr, p->auth_data.len, bin_, 3); break;
    case 0x17: CHECK_EQ_INT(p->request_problem_info, 1); break;
    case 0x18: CHECK_EQ_HEX(p->will_delay, 0x01020304); break;
    case 0x19: CHECK_EQ_INT(p->request_response_info, 1); break;
    case 0x1A: CHECK_BSTR(p->response_info, "a/b"); break;
    case 0x1C: CHECK_BSTR(p->server_reference, "a/b"); break;
    case 0x1F: CHECK_BSTR(p->reason_string, "a/b"); break;
    case 0x21: CHECK_EQ_HEX(p->receive_maximum, 0x0102); break;
    case 0x22: CHECK_EQ_HEX(p->topic_alias_maximum, 0x0102); break;
    case 0x23: CHECK_EQ_HEX(p->topic_alias, 0x0102); break;
    case 0x24: CHECK_EQ_INT(p->maximum_qos, 1); break;
    case 0x25: CHECK_EQ_INT(p->retain_available, 1); break;
    case 0x26: {
        CHECK_EQ_INT(p->n_user, 1);
        fmq_user_prop_t kv;
        memset(&kv, 0, sizeof kv);
        CHECK(props_user_at(p, 0, &kv));
        CHECK_BSTR(kv.key, "k");
        CHECK_BSTR(kv.value, "v1");
        break;
    }
    case 0x27: CHECK_EQ_HEX(p->max_packet_size, 0x01020304); break;
    case 0x28: CHECK_EQ_INT(p->wildcard_sub_available, 1); break;
    case 0x29: CHECK_EQ_INT(p->sub_id_available, 1); break;
    case 0x2A: CHECK_EQ_INT(p->shared_sub_available, 1); break;
    default: CHECK(!"unexpected id"); break;
    }
}

/* Length prefix (hand-written variable byte integer) + body. */
static size_t put_vbi(uint32_t v, uint8_t *out)
{
    size_t n = 0;
    do {
        uint8_t d = (uint8_t)(v % 128);
        v /= 128;
        out[n++] = (uint8_t)(d | (v ? 0x80 : 0));
    } while (v);
    return n;
}

static size_t block(const uint8_t *body, size_t n, uint8_t *out)
{
    size_t k = put_vbi((uint32_t)n, out);
    memcpy(out + k, body, n);
    return k + n;
}

static int props_decode(const uint8_t *b, size_t n, uint32_t where, fmq_props_t *p,
                        fmq_err_t *err)
{
    err->reason = ERR_POISON;
    err->what = NULL;
    return fmq_props_decode(b, n, where, p, err);
}

#define PROPS_ERR(arr, where, rc)                                                              \
    do {                                                                                       \
        fmq_props_t p_;                                                                        \
        fmq_err_t e_;                                                                          \
        CHECK_EQ_INT(props_decode((arr), sizeof(arr), (where), &p_, &e_), -(rc));              \
        CHECK_EQ_HEX(e_.reason, (rc));                                                         \
    } while (0)

#define PROPS_OK(arr, where, p)                                                                \
    CHECK_EQ_INT(props_decode((arr), sizeof(arr), (where), (p), &err), (int)sizeof(arr))

/* ---- the table itself ---- */

static void prop_info_matches_spec_table(void)
{
    for (size_t i = 0; i < N_SPEC; i++) {
        const spec_prop_t *s = &spec_props[i];
        fmq_prop_type_t type = (fmq_prop_type_t)99;
        uint32_t where = 0xFFFFFFFF;
        if (!CHECK(fmq_prop_info(s->id, &type, &where))) {
            fprintf(stderr, "    property 0x%02X unknown to fmq_prop_info\n", s->id);
            continue;
        }
        if (!CHECK_EQ_INT(type, s->type) || !CHECK_EQ_HEX(where, s->where))
            fprintf(stderr, "    property 0x%02X (%s)\n", s->id, s->name);
        CHECK_EQ_STR(fmq_prop_name(s->id), s->name);
    }
}

static bool spec_known(unsigned id)
{
    for (size_t i = 0; i < N_SPEC; i++)
        if (spec_props[i].id == id)
            return true;
    return false;
}

static void prop_info_unknown_ids(void)
{
    for (unsigned id = 0; id < 256; id++) {
        if (spec_known(id))
            continue;
        fmq_prop_type_t type;
        uint32_t where;
        if (!CHECK(!fmq_prop_info((uint8_t)id, &type, &where)) ||
            !CHECK(fmq_prop_name((uint8_t)id) == NULL))
            fprintf(stderr, "    id 0x%02X is not a property\n", id);
    }
}

/* ---- every property in every place, with fmq_props_decode ---- */

/* Allowed where Table 2-4 says; anywhere else 0x81 Malformed Packet
 * ("It is a Malformed Packet to include a property not defined for the packet"). */
static void every_property_in_every_place(void)
{
    for (size_t i = 0; i < N_SPEC; i++) {
        const spec_prop_t *s = &spec_props[i];
        uint8_t body[32], buf[40];
        size_t n = block(body, sample_prop(s->id, s->type, body), buf);
        for (size_t k = 0; k < N_PLACES; k++) {
            fmq_props_t p;
            fmq_err_t err;
            int rc = props_decode(buf, n, places[k], &p, &err);
            bool ok;
            if ((s->where & places[k]) && s->id == FMQ_PROP_AUTH_DATA) {
                /* 3.1.2.11.10, 3.2.2.3.18, 3.15.2.2.3: Authentication Data
                 * alone, without an Authentication Method, is a Protocol Error */
                ok = CHECK_EQ_INT(rc, -FMQ_RC_PROTOCOL_ERROR);
            } else if (s->where & places[k]) {
                ok = CHECK_EQ_INT(rc, (int)n);
                if (rc == (int)n) {
                    check_sample_value(&p, s->id);
                    CHECK(p.raw.ptr == buf + 1);
                    CHECK_EQ_INT(p.raw.len, n - 1);
                }
            } else {
                ok = CHECK_EQ_INT(rc, -FMQ_RC_MALFORMED_PACKET) &&
                     CHECK_EQ_HEX(err.reason, FMQ_RC_MALFORMED_PACKET);
            }
            if (!ok)
                fprintf(stderr, "    property 0x%02X (%s) in %s\n", s->id, s->name,
                        place_name(places[k]));
        }
    }
}

/* An identifier the spec does not define: Malformed Packet, wherever. */
static void unknown_property_ids_malformed(void)
{
    for (unsigned id = 0; id < 128; id++) {
        if (spec_known(id))
            continue;
        /* id then one plausible byte of value */
        uint8_t buf[] = {0x02, (uint8_t)id, 0x01};
        for (size_t k = 0; k < N_PLACES; k++) {
            fmq_props_t p;
            fmq_err_t err;
            if (!CHECK_EQ_INT(props_decode(buf, sizeof buf, places[k], &p, &err),
                              -FMQ_RC_MALFORMED_PACKET) ||
                !CHECK_EQ_HEX(err.reason, FMQ_RC_MALFORMED_PACKET))
                fprintf(stderr, "    id 0x%02X in %s\n", id, place_name(places[k]));
        }
    }
    /* The identifier is a Variable Byte Integer: 0x80 0x01 is id 128, unknown. */
    static const uint8_t id128[] = {0x03, 0x80, 0x01, 0x01};
    PROPS_ERR(id128, PUB, FMQ_RC_MALFORMED_PACKET);
}

/* ---- duplicates ---- */

/* "It is a Protocol Error to include <property> more than once": every
 * single-valued property twice, in a place it is allowed, is 0x82. */
static void duplicates_protocol_error(void)
{
    for (size_t i = 0; i < N_SPEC; i++) {
        const spec_prop_t *s = &spec_props[i];
        if (s->id == FMQ_PROP_USER_PROPERTY)
            continue;
        uint8_t body[64], buf[72];
        size_t n1 = sample_prop(s->id, s->type, body);
        size_t n2 = sample_prop(s->id, s->type, body + n1);
        size_t n = block(body, n1 + n2, buf);
        for (size_t k = 0; k < N_PLACES; k++) {
            if (!(s->where & places[k]))
                continue;
            if (s->id == FMQ_PROP_SUBSCRIPTION_ID && places[k] == PUB)
                continue; /* several allowed there: see below */
            fmq_props_t p;
            fmq_err_t err;
            if (!CHECK_EQ_INT(props_decode(buf, n, places[k], &p, &err),
                              -FMQ_RC_PROTOCOL_ERROR) ||
                !CHECK_EQ_HEX(err.reason, FMQ_RC_PROTOCOL_ERROR))
                fprintf(stderr, "    property 0x%02X (%s) twice in %s\n", s->id, s->name,
                        place_name(places[k]));
        }
    }
}

/* 2.2.2.2: "The User Property is allowed to appear multiple times ... the
 * same name is allowed to appear more than once"; the order is kept. */
static void user_property_repeats_in_order(void)
{
    static const uint8_t buf[] = {
        0x1F,                                  /* property length 31 */
        0x26, 0x00, 0x01, 'a', 0x00, 0x01, '1', /* User Property a=1 (7) */
        0x26, 0x00, 0x01, 'b', 0x00, 0x01, '2', /* User Property b=2 (7) */
        0x1F, 0x00, 0x02, 'r', 's',             /* Reason String "rs" (5) */
        0x26, 0x00, 0x01, 'a', 0x00, 0x01, '3', /* User Property a=3, same name again (7) */
        0x26, 0x00, 0x00, 0x00, 0x00,           /* User Property ""="" (5) */
    };
    fmq_props_t p;
    fmq_err_t err;
    PROPS_OK(buf, DIS, &p);
    CHECK_EQ_INT(p.n_user, 4);
    CHECK(p.user == NULL); /* decoded lists are read through fmq_props_iter */
    CHECK(fmq_props_has(&p, FMQ_PROP_USER_PROPERTY));
    CHECK_BSTR(p.reason_string, "rs");
    static const char *const keys[] = {"a", "b", "a", ""};
    static const char *const vals[] = {"1", "2", "3", ""};
    uint32_t pos = 0, k = 0;
    fmq_prop_t pr;
    while (fmq_props_iter(&p, &pos, &pr)) {
        if (pr.id != FMQ_PROP_USER_PROPERTY) {
            CHECK_EQ_HEX(pr.id, FMQ_PROP_REASON_STRING);
            CHECK_EQ_INT(k, 2);
            continue;
        }
        if (!CHECK(k < 4))
            break;
        CHECK_EQ_BYTES(pr.str.ptr, pr.str.len, keys[k], strlen(keys[k]));
        CHECK_EQ_BYTES(pr.value.ptr, pr.value.len, vals[k], strlen(vals[k]));
        k++;
    }
    CHECK_EQ_INT(k, 4);
}

/* 3.3.2.3.8: a PUBLISH to a client may carry several Subscription Identifiers. */
static void subscription_id_repeats_in_publish(void)
{
    static const uint8_t buf[] = {
        0x09,                         /* property length 9 = 2 + 5 + 2 */
        0x0B, 0x01,                   /* Subscription Identifier 1 */
        0x0B, 0xFF, 0xFF, 0xFF, 0x7F, /* Subscription Identifier 268435455 */
        0x0B, 0x07,                   /* Subscription Identifier 7 */
    };
    fmq_props_t p;
    fmq_err_t err;
    CHECK_EQ_INT(props_decode(buf, sizeof buf, PUB, &p, &err), (int)sizeof buf);
    CHECK_EQ_INT(p.n_sub_ids, 3);
    CHECK(fmq_props_has(&p, FMQ_PROP_SUBSCRIPTION_ID));
    static const uint32_t want[] = {1, 268435455, 7};
    for (uint32_t i = 0; i < 3; i++) {
        uint32_t v = 0;
        CHECK(props_sub_id_at(&p, i, &v));
        CHECK_EQ_INT(v, want[i]);
    }
}

/* 3.8.2.1.2: "It is a Protocol Error to include the Subscription Identifier more than once" in SUBSCRIBE. */
static void subscription_id_twice_in_subscribe(void)
{
    static const uint8_t buf[] = {0x04, 0x0B, 0x01, 0x0B, 0x02};
    PROPS_ERR(buf, SUB, FMQ_RC_PROTOCOL_ERROR);
}

/* ---- values the spec restricts ---- */

static void value_rules(void)
{
    /* 3.1.2.11.3 / 3.2.2.3.3: Receive Maximum 0 is a Protocol Error */
    static const uint8_t recv_max0[] = {0x03, 0x21, 0x00, 0x00};
    PROPS_ERR(recv_max0, CON, FMQ_RC_PROTOCOL_ERROR);
    PROPS_ERR(recv_max0, CAK, FMQ_RC_PROTOCOL_ERROR);
    /* 3.1.2.11.4 / 3.2.2.3.6: Maximum Packet Size 0 is a Protocol Error */
    static const uint8_t max_pkt0[] = {0x05, 0x27, 0x00, 0x00, 0x00, 0x00};
    PROPS_ERR(max_pkt0, CON, FMQ_RC_PROTOCOL_ERROR);
    PROPS_ERR(max_pkt0, CAK, FMQ_RC_PROTOCOL_ERROR);
    /* 3.3.2.3.4: Topic Alias 0 is a Protocol Error, reported with 0x94 Topic
     * Alias invalid [MQTT-3.3.2-8] */
    static const uint8_t alias0[] = {0x03, 0x23, 0x00, 0x00};
    PROPS_ERR(alias0, PUB, FMQ_RC_TOPIC_ALIAS_INVALID);
    /* 3.3.2.3.8 / 3.8.2.1.2: Subscription Identifier 0 is a Protocol Error */
    static const uint8_t subid0[] = {0x02, 0x0B, 0x00};
    PROPS_ERR(subid0, PUB, FMQ_RC_PROTOCOL_ERROR);
    PROPS_ERR(subid0, SUB, FMQ_RC_PROTOCOL_ERROR);
    /* Payload Format Indicator: 0 or 1 */
    static const uint8_t pfi2[] = {0x02, 0x01, 0x02};
    PROPS_ERR(pfi2, PUB, FMQ_RC_PROTOCOL_ERROR);
    PROPS_ERR(pfi2, WIL, FMQ_RC_PROTOCOL_ERROR);
    static const uint8_t pfiff[] = {0x02, 0x01, 0xFF};
    PROPS_ERR(pfiff, PUB, FMQ_RC_PROTOCOL_ERROR);
    /* 3.1.2.11.7 / 3.1.2.11.6: Request Problem/Response Information 0 or 1 */
    static const uint8_t rpi2[] = {0x02, 0x17, 0x02};
    PROPS_ERR(rpi2, CON, FMQ_RC_PROTOCOL_ERROR);
    static const uint8_t rri2[] = {0x02, 0x19, 0x02};
    PROPS_ERR(rri2, CON, FMQ_RC_PROTOCOL_ERROR);
    /* 3.2.2.3.4: Maximum QoS other than 0 or 1 */
    static const uint8_t maxqos2[] = {0x02, 0x24, 0x02};
    PROPS_ERR(maxqos2, CAK, FMQ_RC_PROTOCOL_ERROR);
    /* 3.2.2.3.5, 3.2.2.3.11, 3.2.2.3.12, 3.2.2.3.13: availability flags 0 or 1 */
    static const uint8_t retain2[] = {0x02, 0x25, 0x02};
    PROPS_ERR(retain2, CAK, FMQ_RC_PROTOCOL_ERROR);
    static const uint8_t wild2[] = {0x02, 0x28, 0x02};
    PROPS_ERR(wild2, CAK, FMQ_RC_PROTOCOL_ERROR);
    static const uint8_t subidav2[] = {0x02, 0x29, 0x02};
    PROPS_ERR(subidav2, CAK, FMQ_RC_PROTOCOL_ERROR);
    static const uint8_t shared2[] = {0x02, 0x2A, 0x02};
    PROPS_ERR(shared2, CAK, FMQ_RC_PROTOCOL_ERROR);
}

static void value_boundaries_accepted(void)
{
    fmq_props_t p;
    fmq_err_t err;
    static const uint8_t con[] = {
        0x0F,                         /* property length 15 */
        0x21, 0x00, 0x01,             /* Receive Maximum 1 */
        0x27, 0x00, 0x00, 0x00, 0x01, /* Maximum Packet Size 1 */
        0x17, 0x00,                   /* Request Problem Information 0 */
        0x19, 0x01,                   /* Request Response Information 1 */
        0x22, 0x00, 0x00,             /* Topic Alias Maximum 0 (allowed: no aliases) */
    };
    /* 3+5+2+2+3 = 15 */
    PROPS_OK(con, CON, &p);
    CHECK_EQ_INT(p.receive_maximum, 1);
    CHECK_EQ_INT(p.max_packet_size, 1);
    CHECK_EQ_INT(p.request_problem_info, 0);
    CHECK(fmq_props_has(&p, FMQ_PROP_REQUEST_PROBLEM_INFO)); /* present even when 0 */
    CHECK_EQ_INT(p.request_response_info, 1);
    CHECK_EQ_INT(p.topic_alias_maximum, 0);
    CHECK(fmq_props_has(&p, FMQ_PROP_TOPIC_ALIAS_MAXIMUM));
    CHECK(!fmq_props_has(&p, FMQ_PROP_SESSION_EXPIRY));

    static const uint8_t cak[] = {
        0x13,                         /* property length 19 */
        0x24, 0x00,                   /* Maximum QoS 0 */
        0x25, 0x00,                   /* Retain Available 0 */
        0x21, 0xFF, 0xFF,             /* Receive Maximum 65535 */
        0x11, 0xFF, 0xFF, 0xFF, 0xFF, /* Session Expiry Interval 0xFFFFFFFF (never) */
        0x27, 0xFF, 0xFF, 0xFF, 0xFF, /* Maximum Packet Size 4294967295 */
        0x28, 0x01,                   /* Wildcard Subscription Available 1 */
    };
    /* 2+2+3+5+5+2 = 19 */
    PROPS_OK(cak, CAK, &p);
    CHECK_EQ_INT(p.maximum_qos, 0);
    CHECK_EQ_INT(p.retain_available, 0);
    CHECK_EQ_INT(p.receive_maximum, 65535);
    CHECK_EQ_HEX(p.session_expiry, 0xFFFFFFFFu);
    CHECK_EQ_HEX(p.max_packet_size, 0xFFFFFFFFu);
    CHECK_EQ_INT(p.wildcard_sub_available, 1);

    static const uint8_t pub[] = {
        0x0A,                         /* property length 10 */
        0x01, 0x00,                   /* Payload Format Indicator 0 */
        0x23, 0xFF, 0xFF,             /* Topic Alias 65535 */
        0x0B, 0xFF, 0xFF, 0xFF, 0x7F, /* Subscription Identifier 268435455 */
    };
    PROPS_OK(pub, PUB, &p);
    CHECK_EQ_INT(p.payload_format, 0);
    CHECK(fmq_props_has(&p, FMQ_PROP_PAYLOAD_FORMAT));
    CHECK_EQ_INT(p.topic_alias, 65535);
    uint32_t v = 0;
    CHECK(props_sub_id_at(&p, 0, &v));
    CHECK_EQ_INT(v, 268435455);
}

/* ---- lengths ---- */

static void length_errors_malformed(void)
{
    /* property length 5, only 2 bytes follow */
    static const uint8_t past_end[] = {0x05, 0x01, 0x01};
    PROPS_ERR(past_end, PUB, FMQ_RC_MALFORMED_PACKET);
    /* property length that is itself cut short */
    static const uint8_t len_cut[] = {0x80};
    PROPS_ERR(len_cut, PUB, FMQ_RC_MALFORMED_PACKET);
    /* property length of 5 bytes */
    static const uint8_t len5[] = {0x80, 0x80, 0x80, 0x80, 0x00};
    PROPS_ERR(len5, PUB, FMQ_RC_MALFORMED_PACKET);
    /* no block at all: "a short buffer is malformed, not need more" */
    fmq_props_t p;
    fmq_err_t err;
    static const uint8_t one[] = {0x00};
    CHECK_EQ_INT(props_decode(one, 0, PUB, &p, &err), -FMQ_RC_MALFORMED_PACKET);
    /* Message Expiry needs 4 bytes; the block holds 3 of them although the
     * buffer has more: a value must not run past its block */
    static const uint8_t value_cut[] = {0x04, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00};
    PROPS_ERR(value_cut, PUB, FMQ_RC_MALFORMED_PACKET);
    /* string length 5, 1 byte in the block */
    static const uint8_t str_cut[] = {0x04, 0x03, 0x00, 0x05, 'a', 'b', 'c', 'd', 'e'};
    PROPS_ERR(str_cut, PUB, FMQ_RC_MALFORMED_PACKET);
    /* user property with its value missing */
    static const uint8_t pair_cut[] = {0x04, 0x26, 0x00, 0x01, 'k'};
    PROPS_ERR(pair_cut, PUB, FMQ_RC_MALFORMED_PACKET);
    /* Subscription Identifier with a 5-byte variable byte integer */
    static const uint8_t subid5[] = {0x06, 0x0B, 0x80, 0x80, 0x80, 0x80, 0x01};
    PROPS_ERR(subid5, PUB, FMQ_RC_MALFORMED_PACKET);
    /* identifier alone at the end of the block */
    static const uint8_t id_only[] = {0x01, 0x23};
    PROPS_ERR(id_only, PUB, FMQ_RC_MALFORMED_PACKET);
}

static void empty_and_trailing(void)
{
    fmq_props_t p;
    fmq_err_t err;
    static const uint8_t empty[] = {0x00};
    PROPS_OK(empty, CON, &p);
    CHECK_EQ_HEX(p.present, 0);
    CHECK_EQ_INT(p.n_user, 0);
    CHECK_EQ_INT(p.n_sub_ids, 0);
    CHECK_EQ_INT(p.raw.len, 0);
    /* bytes after the block are the caller's: not consumed */
    static const uint8_t then_more[] = {0x02, 0x24, 0x01, 0x00, 0x03, 'a', 'b', 'c'};
    CHECK_EQ_INT(props_decode(then_more, sizeof then_more, CAK, &p, &err), 3);
    CHECK_EQ_INT(p.maximum_qos, 1);
}

/* A block over 127 bytes has a 2-byte length. */
static void long_block_two_byte_length(void)
{
    uint8_t buf[2 + 1 + 2 + 1 + 2 + 200];
    size_t n = 0;
    buf[n++] = 0xCE; /* property length 206 = 78 + 1*128: 0x4E|0x80, 0x01 */
    buf[n++] = 0x01;
    buf[n++] = 0x26; /* User Property (1) */
    buf[n++] = 0x00; /* key "k" (3) */
    buf[n++] = 0x01;
    buf[n++] = 'k';
    buf[n++] = 0x00; /* value: 200 bytes of 'x' (202) */
    buf[n++] = 0xC8;
    memset(buf + n, 'x', 200);
    n += 200;
    fmq_props_t p;
    fmq_err_t err;
    CHECK_EQ_INT(props_decode(buf, n, CON, &p, &err), (int)n);
    CHECK_EQ_INT(p.raw.len, 206);
    CHECK_EQ_INT(p.n_user, 1);
    fmq_user_prop_t kv = {0};
    CHECK(props_user_at(&p, 0, &kv));
    CHECK_EQ_INT(kv.value.len, 200);
    CHECK_EQ_INT(fmq_props_size(&p), n);
}

/* ---- UTF-8 in string properties [MQTT-1.5.4-1] [MQTT-1.5.4-2] ---- */

static void invalid_utf8_malformed(void)
{
    static const uint8_t content_type[] = {0x05, 0x03, 0x00, 0x02, 'a', 0xFF};
    PROPS_ERR(content_type, PUB, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t response_topic_surrogate[] = {0x06, 0x08, 0x00, 0x03, 0xED, 0xA0, 0x80};
    PROPS_ERR(response_topic_surrogate, PUB, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t reason_nul[] = {0x05, 0x1F, 0x00, 0x02, 'a', 0x00};
    PROPS_ERR(reason_nul, DIS, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t auth_overlong[] = {0x05, 0x15, 0x00, 0x02, 0xC0, 0xAF};
    PROPS_ERR(auth_overlong, CON, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t assigned_trunc[] = {0x04, 0x12, 0x00, 0x01, 0xE2};
    PROPS_ERR(assigned_trunc, CAK, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t user_key[] = {0x07, 0x26, 0x00, 0x01, 0x80, 0x00, 0x01, 'v'};
    PROPS_ERR(user_key, CON, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t user_value[] = {0x07, 0x26, 0x00, 0x01, 'k', 0x00, 0x01, 0xC3};
    PROPS_ERR(user_value, CON, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t server_ref[] = {0x05, 0x1C, 0x00, 0x02, 0xF4, 0x90};
    PROPS_ERR(server_ref, DIS, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t response_info[] = {0x04, 0x1A, 0x00, 0x01, 0x00};
    PROPS_ERR(response_info, CAK, FMQ_RC_MALFORMED_PACKET);
    /* Binary Data is not UTF-8: anything goes */
    fmq_props_t p;
    fmq_err_t err;
    static const uint8_t corr[] = {0x06, 0x09, 0x00, 0x03, 0x00, 0xFF, 0xC0};
    PROPS_OK(corr, PUB, &p);
    /* (with the Authentication Method it needs: 0x15 "m") */
    static const uint8_t auth_data[] = {0x0A, 0x15, 0x00, 0x01, 'm',
                                        0x16, 0x00, 0x03, 0xED, 0xA0, 0x80};
    PROPS_OK(auth_data, AUT, &p);
}

/* ---- iteration ---- */

static void iter_in_wire_order(void)
{
    static const uint8_t buf[] = {
        0x19,                               /* property length 25 */
        0x23, 0x00, 0x0A,                   /* Topic Alias 10 (3) */
        0x02, 0x00, 0x00, 0x00, 0x3C,       /* Message Expiry Interval 60 (5) */
        0x0B, 0x80, 0x01,                   /* Subscription Identifier 128 (3) */
        0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', /* User Property k=v (7) */
        0x09, 0x00, 0x02, 0x01, 0x02,       /* Correlation Data 01 02 (5) */
        0x01, 0x01,                         /* Payload Format Indicator 1 (2) */
    };
    fmq_props_t p;
    fmq_err_t err;
    PROPS_OK(buf, PUB, &p);
    static const uint8_t ids[] = {0x23, 0x02, 0x0B, 0x26, 0x09, 0x01};
    static const uint32_t nums[] = {10, 60, 128, 0, 0, 1};
    uint32_t pos = 0;
    fmq_prop_t pr;
    for (size_t i = 0; i < sizeof ids; i++) {
        if (!CHECK(fmq_props_iter(&p, &pos, &pr)))
            return;
        CHECK_EQ_HEX(pr.id, ids[i]);
        if (ids[i] != 0x26 && ids[i] != 0x09)
            CHECK_EQ_INT(pr.num, nums[i]);
    }
    CHECK(!fmq_props_iter(&p, &pos, &pr));
    CHECK(!fmq_props_iter(&p, &pos, &pr)); /* stays at the end */
    /* Spot-check the string forms once more through a fresh walk. */
    pos = 0;
    while (fmq_props_iter(&p, &pos, &pr)) {
        if (pr.id == 0x26) {
            CHECK_BSTR(pr.str, "k");
            CHECK_BSTR(pr.value, "v");
        } else if (pr.id == 0x09) {
            static const uint8_t cd[] = {0x01, 0x02};
            CHECK_EQ_BYTES(pr.str.ptr, pr.str.len, cd, 2);
        }
    }
    /* An empty set iterates nothing. */
    fmq_props_t none;
    memset(&none, 0, sizeof none);
    pos = 0;
    CHECK(!fmq_props_iter(&none, &pos, &pr));
}

/* ---- sizes for encoding ---- */

static void props_size(void)
{
    fmq_props_t p;
    memset(&p, 0, sizeof p);
    CHECK_EQ_INT(fmq_props_size(&p), 1); /* just the length byte 0 */

    static const fmq_user_prop_t users[] = {{{(const uint8_t *)"k", 1}, {(const uint8_t *)"v", 1}},
                                            {{(const uint8_t *)"key", 3}, {NULL, 0}}};
    p.present = FMQ_PROP_BIT(FMQ_PROP_SESSION_EXPIRY) | FMQ_PROP_BIT(FMQ_PROP_RECEIVE_MAXIMUM) |
                FMQ_PROP_BIT(FMQ_PROP_AUTH_METHOD) | FMQ_PROP_BIT(FMQ_PROP_USER_PROPERTY);
    p.session_expiry = 10;
    p.receive_maximum = 5;
    p.auth_method = FMQ_BYTES("SCRAM");
    p.user = users;
    p.n_user = 2;
    /* 0x11 u32 (5) + 0x15 "SCRAM" (1+2+5) + 0x21 u16 (3) + k=v (7) + key="" (1+5+2) = 31 */
    CHECK_EQ_INT(fmq_props_size(&p), 1 + 31);

    static const uint32_t ids[] = {1, 128, 268435455};
    memset(&p, 0, sizeof p);
    p.present = FMQ_PROP_BIT(FMQ_PROP_SUBSCRIPTION_ID);
    p.sub_ids = ids;
    p.n_sub_ids = 3;
    /* (1+1) + (1+2) + (1+4) = 10 */
    CHECK_EQ_INT(fmq_props_size(&p), 1 + 10);

    /* A body of 128 bytes needs a 2-byte length. */
    static uint8_t big[125];
    memset(big, 'y', sizeof big);
    memset(&p, 0, sizeof p);
    p.present = FMQ_PROP_BIT(FMQ_PROP_REASON_STRING);
    p.reason_string = (fmq_bytes_t){big, sizeof big}; /* 1 + 2 + 125 = 128 */
    CHECK_EQ_INT(fmq_props_size(&p), 2 + 128);
}

/* ---- fmq_props_encode, re-encoding decoded sets, passthrough ---- */

/* Checks fmq_props_encode(p) against a hand-written block: sizing with
 * (NULL, 0), the bytes, nothing written past the block or past `cap`. */
static void check_props_encode(const fmq_props_t *p, const uint8_t *golden, size_t n)
{
    CHECK_EQ_INT(fmq_props_encode(p, NULL, 0), n);
    CHECK_EQ_INT(fmq_props_size(p), n);
    uint8_t buf[300];
    if (!CHECK(n + 8 <= sizeof buf))
        return;
    memset(buf, 0xA5, sizeof buf);
    size_t got = fmq_props_encode(p, buf, n);
    CHECK_EQ_INT(got, n);
    CHECK_EQ_BYTES(buf, got <= n ? got : n, golden, n);
    CHECK_EQ_HEX(buf[n], 0xA5);
    memset(buf, 0xA5, sizeof buf);
    CHECK_EQ_INT(fmq_props_encode(p, buf, n - 1), n);
    for (size_t i = n - 1; i < n + 8; i++)
        if (!CHECK_EQ_HEX(buf[i], 0xA5))
            break;
}

static void props_encode_golden(void)
{
    static const uint8_t empty[] = {0x00};
    fmq_props_t p;
    memset(&p, 0, sizeof p);
    check_props_encode(&p, empty, sizeof empty);

    /* ascending identifiers, lists at their identifier's place */
    static const uint8_t want[] = {
        0x19,                               /* Property Length 25 */
        0x01, 0x01,                         /* Payload Format Indicator 1 (2) */
        0x0B, 0x02,                         /* Subscription Identifier 2 (2) */
        0x0B, 0x80, 0x01,                   /* Subscription Identifier 128 (3) */
        0x23, 0x00, 0x09,                   /* Topic Alias 9 (3) */
        0x26, 0x00, 0x01, 'a', 0x00, 0x01, '1', /* User Property a=1 (7) */
        0x26, 0x00, 0x01, 'a', 0x00, 0x02, '2', '2', /* User Property a=22 (8) */
    };
    /* 2 + 2 + 3 + 3 + 7 + 8 = 25 */
    static const uint32_t ids[] = {2, 128};
    static const fmq_user_prop_t users[] = {
        {{(const uint8_t *)"a", 1}, {(const uint8_t *)"1", 1}},
        {{(const uint8_t *)"a", 1}, {(const uint8_t *)"22", 2}},
    };
    memset(&p, 0, sizeof p);
    /* fmq.h: with the arrays set, the lists' present bits are not needed */
    p.present = FMQ_PROP_BIT(FMQ_PROP_TOPIC_ALIAS) | FMQ_PROP_BIT(FMQ_PROP_PAYLOAD_FORMAT);
    p.topic_alias = 9;
    p.payload_format = 1;
    p.sub_ids = ids;
    p.n_sub_ids = 2;
    p.user = users;
    p.n_user = 2;
    check_props_encode(&p, want, sizeof want);
    /* and it decodes back */
    fmq_props_t d;
    fmq_err_t err;
    PROPS_OK(want, PUB, &d);
    CHECK_EQ_INT(d.n_sub_ids, 2);
    CHECK_EQ_INT(d.n_user, 2);
    CHECK_EQ_INT(d.passthrough.len, 0); /* decoders leave it empty */
}

/* fmq.h: a decoded set re-encodes as it is; clearing a bit in `present`
 * drops that property, scalar or list. */
static void decoded_set_reencodes(void)
{
    static const uint8_t block[] = {
        0x15,                               /* Property Length 21 */
        0x03, 0x00, 0x01, 'j',              /* Content Type "j" (4) */
        0x0B, 0x05,                         /* Subscription Identifier 5 (2) */
        0x0B, 0x06,                         /* Subscription Identifier 6 (2) */
        0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', /* User Property k=v (7) */
        0x26, 0x00, 0x01, 'x', 0x00, 0x00,  /* User Property x="" (6) */
    };
    /* 4 + 2 + 2 + 7 + 6 = 21 */
    static const uint8_t no_users[] = {0x08, 0x03, 0x00, 0x01, 'j', 0x0B, 0x05, 0x0B, 0x06};
    static const uint8_t no_sub_ids[] = {
        0x11, 0x03, 0x00, 0x01, 'j',
        0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', 0x26, 0x00, 0x01, 'x', 0x00, 0x00,
    };
    static const uint8_t only_sub_ids[] = {0x04, 0x0B, 0x05, 0x0B, 0x06};
    fmq_props_t p;
    fmq_err_t err;
    PROPS_OK(block, PUB, &p);
    check_props_encode(&p, block, sizeof block);
    fmq_props_t q = p;
    q.present &= ~FMQ_PROP_BIT(FMQ_PROP_USER_PROPERTY);
    check_props_encode(&q, no_users, sizeof no_users);
    q = p;
    q.present &= ~FMQ_PROP_BIT(FMQ_PROP_SUBSCRIPTION_ID);
    check_props_encode(&q, no_sub_ids, sizeof no_sub_ids);
    q = p;
    q.present = FMQ_PROP_BIT(FMQ_PROP_SUBSCRIPTION_ID);
    check_props_encode(&q, only_sub_ids, sizeof only_sub_ids);
}

/* fmq.h: encoders append `passthrough` (already-encoded properties) after
 * the others. */
static void passthrough_appended(void)
{
    static const uint8_t user_kv[] = {0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v'};
    static const uint8_t want[] = {
        0x0C,                               /* Property Length 12 */
        0x02, 0x00, 0x00, 0x00, 0x3C,       /* Message Expiry Interval 60 (5) */
        0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', /* passthrough bytes, as given (7) */
    };
    fmq_props_t p;
    memset(&p, 0, sizeof p);
    p.present = FMQ_PROP_BIT(FMQ_PROP_MESSAGE_EXPIRY);
    p.message_expiry = 60;
    p.passthrough = (fmq_bytes_t){user_kv, sizeof user_kv};
    check_props_encode(&p, want, sizeof want);

    /* inside a PUBLISH */
    static const uint8_t pub[] = {
        0x30, 0x12,                         /* PUBLISH QoS 0; RL 18 */
        0x00, 0x01, 't',                    /* Topic Name "t" (3) */
        0x0C,                               /* Property Length 12 (1) */
        0x02, 0x00, 0x00, 0x00, 0x3C,       /*   Message Expiry Interval 60 (5) */
        0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v', /* passthrough (7) */
        'x', 'y',                           /* Payload (2) */
    };
    /* 3 + 1 + 12 + 2 = 18 */
    fmq_packet_t pk;
    memset(&pk, 0, sizeof pk);
    pk.type = FMQ_PUBLISH;
    pk.publish.topic = FMQ_BYTES("t");
    pk.publish.props = p;
    pk.publish.payload = FMQ_BYTES("xy");
    CHECK_ENCODE(&pk, FMQ_V5, pub);
    fmq_packet_t d;
    if (DECODE_OK(pub, FMQ_V5, &d)) {
        CHECK_EQ_INT(d.publish.props.n_user, 1);
        CHECK_EQ_INT(d.publish.props.message_expiry, 60);
        CHECK_EQ_INT(d.publish.props.passthrough.len, 0);
    }
    /* MQTT 3.1.1 has no properties: passthrough is dropped too */
    static const uint8_t pub311[] = {0x30, 0x05, 0x00, 0x01, 't', 'x', 'y'};
    CHECK_ENCODE(&pk, FMQ_V311, pub311);
}

/* [MQTT-1.5.5-1] inside a property block: a non-minimal Property Length or
 * Subscription Identifier is malformed. */
static void non_minimal_varints_malformed(void)
{
    static const uint8_t plen[] = {0x80, 0x00};
    PROPS_ERR(plen, PUB, FMQ_RC_MALFORMED_PACKET);
    static const uint8_t subid[] = {0x03, 0x0B, 0x81, 0x00};
    PROPS_ERR(subid, PUB, FMQ_RC_MALFORMED_PACKET);
}

/* ---- every property inside a whole MQTT 5 packet ---- */

/* Assembles, byte by byte, the smallest MQTT 5 packet that carries property
 * body `pb` in the property block of `place`. Returns its size. */
static size_t wrap(uint32_t place, const uint8_t *pb, size_t pn, uint8_t *out)
{
    uint8_t body[256];
    size_t n = 0;
    uint8_t first = 0;
#define PUT(...)                                                                               \
    do {                                                                                       \
        const uint8_t b_[] = {__VA_ARGS__};                                                    \
        memcpy(body + n, b_, sizeof b_);                                                       \
        n += sizeof b_;                                                                        \
    } while (0)
#define PROPS() (n += block(pb, pn, body + n))
    if (place == CON) {
        first = 0x10;
        PUT(0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3C); /* name, level 5, clean, keep alive 60 */
        PROPS();
        PUT(0x00, 0x01, 'c'); /* client id "c" */
    } else if (place == WIL) {
        first = 0x10;
        PUT(0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x06, 0x00, 0x3C); /* flags: will + clean */
        PUT(0x00);            /* CONNECT properties: none */
        PUT(0x00, 0x01, 'c'); /* client id */
        PROPS();              /* Will Properties */
        PUT(0x00, 0x01, 't'); /* will topic "t" */
        PUT(0x00, 0x00);      /* will payload: empty */
    } else if (place == CAK) {
        first = 0x20;
        PUT(0x00, 0x00); /* no session, Success */
        PROPS();
    } else if (place == PUB) {
        first = 0x32;                     /* QoS 1 */
        PUT(0x00, 0x01, 't', 0x00, 0x01); /* topic "t", packet id 1 */
        PROPS();
    } else if (place == PACK || place == PREC || place == PREL || place == PCOM) {
        first = place == PACK ? 0x40 : place == PREC ? 0x50 : place == PREL ? 0x62 : 0x70;
        PUT(0x00, 0x01, 0x00); /* packet id 1, Success */
        PROPS();
    } else if (place == SUB) {
        first = 0x82;
        PUT(0x00, 0x01);
        PROPS();
        PUT(0x00, 0x01, 't', 0x00); /* filter "t", QoS 0 */
    } else if (place == SACK || place == UACK) {
        first = place == SACK ? 0x90 : 0xB0;
        PUT(0x00, 0x01);
        PROPS();
        PUT(0x00); /* one reason code: Success / Granted QoS 0 */
    } else if (place == UNS) {
        first = 0xA2;
        PUT(0x00, 0x01);
        PROPS();
        PUT(0x00, 0x01, 't');
    } else if (place == DIS) {
        first = 0xE0;
        PUT(0x00); /* Normal disconnection */
        PROPS();
    } else if (place == AUT) {
        first = 0xF0;
        PUT(0x18); /* Continue authentication */
        PROPS();
    }
#undef PUT
#undef PROPS
    out[0] = first;
    size_t h = 1 + put_vbi((uint32_t)n, out + 1);
    memcpy(out + h, body, n);
    return h + n;
}

static const fmq_props_t *props_of(const fmq_packet_t *p, uint32_t place)
{
    if (place == WIL)
        return &p->connect.will_props;
    switch (p->type) {
    case FMQ_CONNECT: return &p->connect.props;
    case FMQ_CONNACK: return &p->connack.props;
    case FMQ_PUBLISH: return &p->publish.props;
    case FMQ_PUBACK: case FMQ_PUBREC: case FMQ_PUBREL: case FMQ_PUBCOMP: return &p->ack.props;
    case FMQ_SUBSCRIBE: return &p->subscribe.props;
    case FMQ_SUBACK: case FMQ_UNSUBACK: return &p->suback.props;
    case FMQ_UNSUBSCRIBE: return &p->unsubscribe.props;
    case FMQ_DISCONNECT: case FMQ_AUTH: return &p->disconnect.props;
    default: return NULL;
    }
}

/* The same matrix through fmq_decode: each property alone in a real packet.
 * An AUTH always carries an Authentication Method (3.15.2.2.2: "It is a
 * Protocol Error to omit the Authentication Method"), and Authentication
 * Data comes with one (3.1.2.11.10 / 3.2.2.3.18), so those are added. */
static void every_property_in_every_packet(void)
{
    static const uint8_t method[] = {0x15, 0x00, 0x01, 'm'}; /* Authentication Method "m" */
    for (size_t i = 0; i < N_SPEC; i++) {
        const spec_prop_t *s = &spec_props[i];
        for (size_t k = 0; k < N_PLACES; k++) {
            uint32_t place = places[k];
            if (place == FMQ_IN(FMQ_PINGREQ) || place == FMQ_IN(FMQ_PINGRESP))
                continue; /* no property block */
            uint8_t pb[48], pkt[128];
            size_t pn = 0;
            bool with_method = (place == AUT && s->id != 0x15) ||
                               ((place == CON || place == CAK) && s->id == 0x16);
            if (with_method) {
                memcpy(pb, method, sizeof method);
                pn = sizeof method;
            }
            pn += sample_prop(s->id, s->type, pb + pn);
            size_t n = wrap(place, pb, pn, pkt);
            fmq_packet_t p;
            fmq_err_t err;
            int rc = dec(pkt, n, place == CON || place == WIL ? 0 : FMQ_V5, &p, &err);
            bool ok;
            if (s->where & place) {
                ok = CHECK_EQ_INT(rc, (int)n);
                if (rc == (int)n)
                    check_sample_value(props_of(&p, place), s->id);
                else if (rc < 0)
                    fprintf(stderr, "    err 0x%02X %s\n", err.reason, err.what ? err.what : "");
            } else {
                ok = CHECK_EQ_INT(rc, -FMQ_RC_MALFORMED_PACKET) &&
                     CHECK_EQ_HEX(err.reason, FMQ_RC_MALFORMED_PACKET);
            }
            if (!ok)
                fprintf(stderr, "    property 0x%02X (%s) in a %s packet\n", s->id, s->name,
                        place_name(place));
        }
    }
}

CHECK_MAIN(T(prop_info_matches_spec_table), T(prop_info_unknown_ids),
           T(every_property_in_every_place), T(unknown_property_ids_malformed),
           T(duplicates_protocol_error), T(user_property_repeats_in_order),
           T(subscription_id_repeats_in_publish), T(subscription_id_twice_in_subscribe),
           T(value_rules), T(value_boundaries_accepted), T(length_errors_malformed),
           T(empty_and_trailing), T(long_block_two_byte_length), T(invalid_utf8_malformed),
           T(iter_in_wire_order), T(props_size), T(props_encode_golden),
           T(decoded_set_reencodes), T(passthrough_appended), T(non_minimal_varints_malformed),
           T(every_property_in_every_packet))
