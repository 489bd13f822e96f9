/*
 * Internals shared by the codec's files: a bounds-checked reader over a
 * borrowed buffer and a writer that counts what it would write. Not part of
 * the public API; only the codec sources in src/mqtt include it.
 */
#ifndef FMQ_INTERNAL_H
#define FMQ_INTERNAL_H

#include "mqtt/fmq.h"

#include <string.h>

/* Sets *err and evaluates to -rc: `return fail(err, FMQ_RC_X, "why");` */
static inline int fmq__fail(fmq_err_t *err, uint8_t rc, const char *what)
{
    if (err) {
        err->reason = rc;
        err->what = what;
    }
    return -(int)rc;
}

/* Reader: every read checks bounds; running past the end is Malformed. */
typedef struct fmq_reader {
    const uint8_t *p;
    size_t len;
    size_t pos;
} fmq_reader_t;

static inline size_t fmq__left(const fmq_reader_t *r)
{
    return r->len - r->pos;
}

int fmq__read_u8(fmq_reader_t *r, uint8_t *v, fmq_err_t *err);
int fmq__read_u16(fmq_reader_t *r, uint16_t *v, fmq_err_t *err);
int fmq__read_u32(fmq_reader_t *r, uint32_t *v, fmq_err_t *err);
int fmq__read_varint(fmq_reader_t *r, uint32_t *v, fmq_err_t *err);
/* Two-byte length prefixed data; UTF-8 checked when `utf8`. */
int fmq__read_bin(fmq_reader_t *r, fmq_bytes_t *v, bool utf8, fmq_err_t *err);

/* Writer: `len` counts every byte written; bytes land in `p` only while they
 * fit in `cap`, so a NULL/0 writer sizes a packet. */
typedef struct fmq_writer {
    uint8_t *p;
    size_t cap;
    size_t len;
} fmq_writer_t;

static inline void fmq__put_u8(fmq_writer_t *w, uint8_t v)
{
    if (w->len < w->cap)
        w->p[w->len] = v;
    w->len++;
}

static inline void fmq__put_u16(fmq_writer_t *w, uint16_t v)
{
    fmq__put_u8(w, (uint8_t)(v >> 8));
    fmq__put_u8(w, (uint8_t)v);
}

static inline void fmq__put_u32(fmq_writer_t *w, uint32_t v)
{
    fmq__put_u16(w, (uint16_t)(v >> 16));
    fmq__put_u16(w, (uint16_t)v);
}

void fmq__put_raw(fmq_writer_t *w, const void *src, size_t n);
void fmq__put_varint(fmq_writer_t *w, uint32_t v);
/* Two-byte length then the bytes; the caller has checked len <= 65535. */
void fmq__put_bin(fmq_writer_t *w, fmq_bytes_t b);

/* Property block (length prefix + properties) from `p`. */
void fmq__props_write(fmq_writer_t *w, const fmq_props_t *p);
/* Body size of the property block (without its length prefix). */
size_t fmq__props_body_size(const fmq_props_t *p);
/* -FMQ_RC_* when a string in `p` is too long to encode; else 0. */
int fmq__props_encodable(const fmq_props_t *p, fmq_err_t *err);

#endif
