/* Data representations of section 1.5: integers, variable byte integers,
 * UTF-8 strings, binary data. */
#include "internal.h"

int fmq_varint_decode(const uint8_t *buf, size_t len, uint32_t *value)
{
    uint32_t v = 0;
    for (size_t i = 0; i < 4; i++) {
        if (i >= len)
            return FMQ_NEED_MORE;
        v |= (uint32_t)(buf[i] & 0x7F) << (7 * i);
        if ((buf[i] & 0x80) == 0) {
            /* A zero last byte after a continuation means more bytes than
             * the value needs [MQTT-1.5.5-1]. */
            if (i > 0 && buf[i] == 0)
                return -FMQ_RC_MALFORMED_PACKET;
            *value = v;
            return (int)i + 1;
        }
    }
    return -FMQ_RC_MALFORMED_PACKET;
}

int fmq_varint_size(uint32_t v)
{
    return v < 128u ? 1 : v < 16384u ? 2 : v < 2097152u ? 3 : 4;
}

int fmq_varint_encode(uint32_t v, uint8_t *out)
{
    int n = 0;
    do {
        uint8_t b = v & 0x7F;
        v >>= 7;
        out[n++] = b | (v ? 0x80 : 0);
    } while (v && n < 4);
    return n;
}

/*
 * Well-formed UTF-8 per RFC 3629 (no overlong forms, no surrogates, nothing
 * above U+10FFFF), and no U+0000 [MQTT-1.5.4-2]. The other control
 * characters and non-characters are allowed ([MQTT-1.5.4-3]: U+FEFF stays).
 */
int fmq_utf8_check(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            if (c == 0)
                return -FMQ_RC_MALFORMED_PACKET;
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            n = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return -FMQ_RC_MALFORMED_PACKET;
        }
        if (len - i - 1 < n)
            return -FMQ_RC_MALFORMED_PACKET;
        for (size_t k = 1; k <= n; k++) {
            uint8_t cc = s[i + k];
            if ((cc & 0xC0) != 0x80)
                return -FMQ_RC_MALFORMED_PACKET;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return -FMQ_RC_MALFORMED_PACKET;
        i += n + 1;
    }
    return 0;
}

fmq_bytes_t fmq_cstr(const char *s)
{
    return (fmq_bytes_t){(const uint8_t *)s, s ? (uint32_t)strlen(s) : 0};
}

bool fmq_bytes_eq(fmq_bytes_t a, fmq_bytes_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static const char *const short_msg = "packet ends inside a field";

int fmq__read_u8(fmq_reader_t *r, uint8_t *v, fmq_err_t *err)
{
    if (fmq__left(r) < 1)
        return fmq__fail(err, FMQ_RC_MALFORMED_PACKET, short_msg);
    *v = r->p[r->pos++];
    return 0;
}

int fmq__read_u16(fmq_reader_t *r, uint16_t *v, fmq_err_t *err)
{
    if (fmq__left(r) < 2)
        return fmq__fail(err, FMQ_RC_MALFORMED_PACKET, short_msg);
    *v = (uint16_t)(r->p[r->pos] << 8 | r->p[r->pos + 1]);
    r->pos += 2;
    return 0;
}

int fmq__read_u32(fmq_reader_t *r, uint32_t *v, fmq_err_t *err)
{
    if (fmq__left(r) < 4)
        return fmq__fail(err, FMQ_RC_MALFORMED_PACKET, short_msg);
    const uint8_t *b = r->p + r->pos;
    *v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    r->pos += 4;
    return 0;
}

int fmq__read_varint(fmq_reader_t *r, uint32_t *v, fmq_err_t *err)
{
    int n = fmq_varint_decode(r->p + r->pos, fmq__left(r), v);
    if (n == FMQ_NEED_MORE)
        return fmq__fail(err, FMQ_RC_MALFORMED_PACKET, short_msg);
    if (n < 0)
        return fmq__fail(err, FMQ_RC_MALFORMED_PACKET,
                         "[MQTT-1.5.5-1] variable byte integer longer than 4 bytes or "
                         "longer than its value needs");
    r->pos += (size_t)n;
    return 0;
}

int fmq__read_bin(fmq_reader_t *r, fmq_bytes_t *v, bool utf8, fmq_err_t *err)
{
    uint16_t n;
    int rc = fmq__read_u16(r, &n, err);
    if (rc)
        return rc;
    if (fmq__left(r) < n)
        return fmq__fail(err, FMQ_RC_MALFORMED_PACKET, "string or binary runs past the packet");
    v->ptr = r->p + r->pos;
    v->len = n;
    if (utf8 && fmq_utf8_check(v->ptr, n) != 0)
        return fmq__fail(err, FMQ_RC_MALFORMED_PACKET,
                         "[MQTT-1.5.4-1] [MQTT-1.5.4-2] string is not well-formed UTF-8 or "
                         "contains U+0000");
    r->pos += n;
    return 0;
}

void fmq__put_raw(fmq_writer_t *w, const void *src, size_t n)
{
    if (n && w->len + n <= w->cap)
        memcpy(w->p + w->len, src, n);
    w->len += n;
}

void fmq__put_varint(fmq_writer_t *w, uint32_t v)
{
    uint8_t tmp[4];
    int n = fmq_varint_encode(v, tmp);
    fmq__put_raw(w, tmp, (size_t)n);
}

void fmq__put_bin(fmq_writer_t *w, fmq_bytes_t b)
{
    fmq__put_u16(w, (uint16_t)b.len);
    fmq__put_raw(w, b.ptr, b.len);
}
