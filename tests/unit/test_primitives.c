/* Data representations of MQTT 5.0 section 1.5 (same in 3.1.1 section 1.5):
 * variable byte integers and UTF-8 encoded strings, plus the fmq_bytes_t helpers. */
#include "fmq_test.h"

/* ---- variable byte integer (1.5.5): the spec's table of boundaries ---- */

typedef struct {
    uint32_t value;
    uint8_t bytes[4];
    int len;
} varint_row_t;

/* MQTT 5.0 Table 1-1 "Size of Variable Byte Integer": each digit carries 7
 * bits, least significant first; the high bit says "more follows". */
static const varint_row_t varint_table[] = {
    {0, {0x00}, 1},
    {127, {0x7F}, 1},
    {128, {0x80, 0x01}, 2},
    {16383, {0xFF, 0x7F}, 2},
    {16384, {0x80, 0x80, 0x01}, 3},
    {2097151, {0xFF, 0xFF, 0x7F}, 3},
    {2097152, {0x80, 0x80, 0x80, 0x01}, 4},
    {268435455, {0xFF, 0xFF, 0xFF, 0x7F}, 4},
    /* a few values in between, encoded by hand */
    {1, {0x01}, 1},
    {200, {0xC8, 0x01}, 2},               /* 200 = 72 + 1*128: 0x48|0x80, 0x01 */
    {321, {0xC1, 0x02}, 2},               /* 321 = 65 + 2*128 */
    {65535, {0xFF, 0xFF, 0x03}, 3},       /* 127 + 127*128 + 3*16384 */
    {1000000, {0xC0, 0x84, 0x3D}, 3},     /* 64 + 4*128 + 61*16384 */
    {100000000, {0x80, 0xC2, 0xD7, 0x2F}, 4}, /* 0 + 66*128 + 87*16384 + 47*2097152 */
};

#define N_VARINT (sizeof varint_table / sizeof varint_table[0])

static void varint_decode_table(void)
{
    for (size_t i = 0; i < N_VARINT; i++) {
        const varint_row_t *r = &varint_table[i];
        uint32_t v = 0xDEADBEEF;
        CHECK_EQ_INT(fmq_varint_decode(r->bytes, (size_t)r->len, &v), r->len);
        CHECK_EQ_INT(v, r->value);
    }
}

static void varint_decode_ignores_following_bytes(void)
{
    for (size_t i = 0; i < N_VARINT; i++) {
        const varint_row_t *r = &varint_table[i];
        uint8_t buf[8];
        memset(buf, 0xFF, sizeof buf); /* continuation bits set after the integer */
        memcpy(buf, r->bytes, (size_t)r->len);
        uint32_t v = 0;
        CHECK_EQ_INT(fmq_varint_decode(buf, sizeof buf, &v), r->len);
        CHECK_EQ_INT(v, r->value);
    }
}

static void varint_encode_table(void)
{
    for (size_t i = 0; i < N_VARINT; i++) {
        const varint_row_t *r = &varint_table[i];
        uint8_t out[8];
        memset(out, 0xA5, sizeof out);
        int n = fmq_varint_encode(r->value, out);
        CHECK_EQ_INT(n, r->len);
        CHECK_EQ_BYTES(out, n > 0 ? n : 0, r->bytes, r->len);
        for (int k = r->len; k < (int)sizeof out; k++)
            CHECK_EQ_HEX(out[k], 0xA5); /* nothing written past the integer */
        CHECK_EQ_INT(fmq_varint_size(r->value), r->len);
    }
}

static void varint_partial_is_need_more(void)
{
    for (size_t i = 0; i < N_VARINT; i++) {
        const varint_row_t *r = &varint_table[i];
        for (int k = 0; k < r->len; k++) {
            uint8_t *copy = malloc(k ? (size_t)k : 1); /* exact size: over-reads show */
            memcpy(copy, r->bytes, (size_t)k);
            uint32_t v = 0;
            CHECK_EQ_INT(fmq_varint_decode(copy, (size_t)k, &v), FMQ_NEED_MORE);
            free(copy);
        }
    }
}

/* [MQTT-1.5.5-1]: at most four bytes; a fifth byte is a Malformed Packet. */
static void varint_five_bytes_malformed(void)
{
    static const uint8_t five_max[] = {0xFF, 0xFF, 0xFF, 0xFF, 0x7F};
    static const uint8_t five_min[] = {0x80, 0x80, 0x80, 0x80, 0x01};
    uint32_t v;
    CHECK_EQ_INT(fmq_varint_decode(five_max, sizeof five_max, &v), -FMQ_RC_MALFORMED_PACKET);
    CHECK_EQ_INT(fmq_varint_decode(five_min, sizeof five_min, &v), -FMQ_RC_MALFORMED_PACKET);
    /* Four bytes all with the continuation bit cannot be completed validly:
     * malformed as soon as the fourth byte is seen, not NEED_MORE. */
    CHECK_EQ_INT(fmq_varint_decode(five_min, 4, &v), -FMQ_RC_MALFORMED_PACKET);
}

/* [MQTT-1.5.5-1] "The encoded value MUST use the minimum number of bytes
 * necessary"; fmq.h: a longer encoding is -FMQ_RC_MALFORMED_PACKET. */
static void varint_non_minimal_malformed_mqtt_1_5_5_1(void)
{
    static const uint8_t cases[][4] = {
        {0x80, 0x00},             /* 0 in 2 bytes */
        {0x81, 0x00},             /* 1 in 2 bytes */
        {0xFF, 0x80, 0x00},       /* 127 in 3 bytes */
        {0x80, 0x80, 0x00},       /* 0 in 3 bytes */
        {0xFF, 0xFF, 0x80, 0x00}, /* 16383 in 4 bytes */
        {0x80, 0x80, 0x80, 0x00}, /* 0 in 4 bytes */
    };
    static const int lens[] = {2, 2, 3, 3, 4, 4};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        uint32_t v;
        if (!CHECK_EQ_INT(fmq_varint_decode(cases[i], (size_t)lens[i], &v),
                          -FMQ_RC_MALFORMED_PACKET))
            fprintf(stderr, "    case %zu\n", i);
    }
    /* zero digits before a non-zero last digit are minimal */
    static const uint8_t ok[] = {0x80, 0x80, 0x80, 0x01}; /* 2097152 */
    uint32_t v = 0;
    CHECK_EQ_INT(fmq_varint_decode(ok, sizeof ok, &v), 4);
    CHECK_EQ_INT(v, 2097152);
}

static void varint_sizes(void)
{
    CHECK_EQ_INT(fmq_varint_size(0), 1);
    CHECK_EQ_INT(fmq_varint_size(127), 1);
    CHECK_EQ_INT(fmq_varint_size(128), 2);
    CHECK_EQ_INT(fmq_varint_size(16383), 2);
    CHECK_EQ_INT(fmq_varint_size(16384), 3);
    CHECK_EQ_INT(fmq_varint_size(2097151), 3);
    CHECK_EQ_INT(fmq_varint_size(2097152), 4);
    CHECK_EQ_INT(fmq_varint_size(FMQ_MAX_VARINT), 4);
    CHECK_EQ_INT(FMQ_MAX_VARINT, 268435455);
    CHECK_EQ_INT(FMQ_MAX_PACKET, 268435455u + 5u);
}

/* ---- UTF-8 encoded strings (1.5.4) ---- */

#define UTF8_OK(s) CHECK_EQ_INT(fmq_utf8_check((const uint8_t *)(s), sizeof(s) - 1), 0)
#define UTF8_BAD(s)                                                                            \
    CHECK_EQ_INT(fmq_utf8_check((const uint8_t *)(s), sizeof(s) - 1), -FMQ_RC_MALFORMED_PACKET)

static void utf8_valid(void)
{
    CHECK_EQ_INT(fmq_utf8_check((const uint8_t *)"", 0), 0);
    UTF8_OK("abc");
    UTF8_OK("sport/tennis/player1");
    UTF8_OK("\x01\x1F\x7F");          /* controls other than U+0000 are well-formed */
    UTF8_OK("\xC2\x80");              /* U+0080, smallest 2-byte */
    UTF8_OK("\xC3\xA9");              /* U+00E9 e acute */
    UTF8_OK("\xDF\xBF");              /* U+07FF, largest 2-byte */
    UTF8_OK("\xE0\xA0\x80");          /* U+0800, smallest 3-byte */
    UTF8_OK("\xE2\x82\xAC");          /* U+20AC euro sign */
    UTF8_OK("\xED\x9F\xBF");          /* U+D7FF, just below the surrogates */
    UTF8_OK("\xEE\x80\x80");          /* U+E000, just above the surrogates */
    UTF8_OK("\xEF\xBF\xBF");          /* U+FFFF (a non-character: allowed, SHOULD NOT) */
    UTF8_OK("\xF0\x90\x80\x80");      /* U+10000, smallest 4-byte */
    UTF8_OK("\xF0\x9D\x84\x9E");      /* U+1D11E musical G clef */
    UTF8_OK("\xF4\x8F\xBF\xBF");      /* U+10FFFF, the last code point */
    UTF8_OK("A\xF0\xAA\x9B\x94");     /* the spec's 1.5.4.1 example: A + U+2A6D4 */
    UTF8_OK("a\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E/z"); /* mixed */
}

/* [MQTT-1.5.4-3]: U+FEFF (zero width no-break space) MUST NOT be skipped or stripped. */
static void utf8_bom_allowed_mqtt_1_5_4_3(void)
{
    UTF8_OK("\xEF\xBB\xBF");
    UTF8_OK("\xEF\xBB\xBF" "a/b");
    UTF8_OK("a\xEF\xBB\xBF" "b");
}

/* [MQTT-1.5.4-2]: a UTF-8 string MUST NOT include U+0000. */
static void utf8_nul_rejected_mqtt_1_5_4_2(void)
{
    UTF8_BAD("\x00");
    UTF8_BAD("a\x00");
    UTF8_BAD("a\x00z");
    UTF8_BAD("\xC0\x80"); /* "modified UTF-8" NUL: overlong, also rejected */
}

/* [MQTT-1.5.4-1]: U+D800..U+DFFF (surrogates) are ill-formed. */
static void utf8_surrogates_rejected_mqtt_1_5_4_1(void)
{
    UTF8_BAD("\xED\xA0\x80"); /* U+D800 */
    UTF8_BAD("\xED\xAD\xBF"); /* U+DB7F */
    UTF8_BAD("\xED\xB0\x80"); /* U+DC00 */
    UTF8_BAD("\xED\xBF\xBF"); /* U+DFFF */
    UTF8_BAD("\xED\xA0\xBD\xED\xB8\x80"); /* CESU-8 pair for U+1F600 */
    UTF8_BAD("ok\xED\xA0\x80");
}

/* [MQTT-1.5.4-1]: overlong forms are not well-formed UTF-8 (RFC 3629). */
static void utf8_overlong_rejected(void)
{
    UTF8_BAD("\xC0\xAF");         /* '/' in 2 bytes */
    UTF8_BAD("\xC1\xBF");         /* U+007F in 2 bytes */
    UTF8_BAD("\xE0\x80\xAF");     /* '/' in 3 bytes */
    UTF8_BAD("\xE0\x9F\xBF");     /* U+07FF in 3 bytes */
    UTF8_BAD("\xF0\x80\x80\xAF"); /* '/' in 4 bytes */
    UTF8_BAD("\xF0\x8F\xBF\xBF"); /* U+FFFF in 4 bytes */
}

static void utf8_truncated_rejected(void)
{
    UTF8_BAD("\xC3");             /* 2-byte lead alone */
    UTF8_BAD("\xE2\x82");         /* 3-byte sequence missing its last byte */
    UTF8_BAD("\xF0\x9D\x84");     /* 4-byte sequence missing its last byte */
    UTF8_BAD("\xF0");
    UTF8_BAD("abc\xE2");
    /* The length bounds the check, not the bytes after it: the euro sign
     * cut after 2 of its 3 bytes is truncated. */
    static const uint8_t euro[] = {0xE2, 0x82, 0xAC};
    CHECK_EQ_INT(fmq_utf8_check(euro, 2), -FMQ_RC_MALFORMED_PACKET);
    CHECK_EQ_INT(fmq_utf8_check(euro, 3), 0);
}

static void utf8_bad_sequences_rejected(void)
{
    UTF8_BAD("\x80");             /* lone continuation byte */
    UTF8_BAD("\xBF");
    UTF8_BAD("a\x80z");
    UTF8_BAD("\xC3\x28");         /* second byte not a continuation */
    UTF8_BAD("\xE2\x28\xA1");
    UTF8_BAD("\xE2\x82\x28");
    UTF8_BAD("\xF0\x28\x8C\xBC");
    UTF8_BAD("\xC3\xA9\xA9");     /* one continuation too many */
    UTF8_BAD("\xFE");
    UTF8_BAD("\xFF");
    UTF8_BAD("\xFF\xFE");
}

static void utf8_above_10ffff_rejected(void)
{
    UTF8_BAD("\xF4\x90\x80\x80");         /* U+110000 */
    UTF8_BAD("\xF5\x80\x80\x80");         /* lead 0xF5: above U+13FFFF */
    UTF8_BAD("\xF7\xBF\xBF\xBF");         /* U+1FFFFF */
    UTF8_BAD("\xF8\x88\x80\x80\x80");     /* old 5-byte form */
    UTF8_BAD("\xFC\x84\x80\x80\x80\x80"); /* old 6-byte form */
}

/* ---- borrowed bytes ---- */

static void bytes_helpers(void)
{
    fmq_bytes_t a = fmq_cstr("abc");
    CHECK_EQ_INT(a.len, 3);
    CHECK(a.ptr != NULL && memcmp(a.ptr, "abc", 3) == 0);
    fmq_bytes_t b = FMQ_BYTES("abc");
    CHECK_EQ_INT(b.len, 3);
    CHECK(fmq_bytes_eq(a, b));
    CHECK(!fmq_bytes_eq(a, FMQ_BYTES("abd")));
    CHECK(!fmq_bytes_eq(a, FMQ_BYTES("ab")));
    CHECK(!fmq_bytes_eq(a, FMQ_BYTES("abcd")));
    fmq_bytes_t e1 = {NULL, 0}, e2 = FMQ_BYTES("");
    CHECK(fmq_bytes_eq(e1, e2)); /* NULL with length 0 is the empty range */
    CHECK(fmq_bytes_eq(e1, fmq_cstr("")));
    CHECK_EQ_INT(fmq_cstr("").len, 0);
    /* FMQ_BYTES keeps embedded NULs: binary data */
    fmq_bytes_t bin = FMQ_BYTES("\x00\x01");
    CHECK_EQ_INT(bin.len, 2);
}

CHECK_MAIN(T(varint_decode_table), T(varint_decode_ignores_following_bytes),
           T(varint_encode_table), T(varint_partial_is_need_more),
           T(varint_five_bytes_malformed), T(varint_non_minimal_malformed_mqtt_1_5_5_1),
           T(varint_sizes), T(utf8_valid),
           T(utf8_bom_allowed_mqtt_1_5_4_3), T(utf8_nul_rejected_mqtt_1_5_4_2),
           T(utf8_surrogates_rejected_mqtt_1_5_4_1), T(utf8_overlong_rejected),
           T(utf8_truncated_rejected), T(utf8_bad_sequences_rejected),
           T(utf8_above_10ffff_rejected), T(bytes_helpers))
