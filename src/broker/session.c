/* Sessions: subscription record, inflight window, offline queue, incoming
 * QoS 2 state, will; and their versioned byte-string form. */
#include "broker/session.h"

#include <stdlib.h>
#include <string.h>

fb_session_t *fb_session_new(const uint8_t *client_id, size_t len)
{
    fb_session_t *s = calloc(1, sizeof *s + len + 1);
    if (!s)
        return NULL;
    s->client_id = s->id_buf;
    memcpy(s->client_id, client_id, len);
    s->client_id[len] = 0;
    s->id_len = (uint16_t)len;
    s->next_packet_id = 1;
    return s;
}

void fb_delivery_release(fb_delivery_t *d)
{
    fb_msg_unref(d->msg);
    free(d->sub_ids);
    d->msg = NULL;
    d->sub_ids = NULL;
    d->n_sub_ids = 0;
}

void fb_session_free(fb_session_t *s)
{
    if (!s)
        return;
    for (uint32_t i = 0; i < s->n_subs; i++)
        free(s->subs[i].filter);
    free(s->subs);
    for (uint32_t i = 0; i < s->n_inflight; i++)
        fb_delivery_release(&s->inflight[i]);
    free(s->inflight);
    fb_delivery_t d;
    while (fb_session_dequeue(s, &d))
        fb_delivery_release(&d);
    free(s->queue);
    free(s->qos2_in);
    fb_msg_unref(s->will);
    free(s);
}

void fb_session_clear_state(fb_session_t *s)
{
    for (uint32_t i = 0; i < s->n_inflight; i++)
        fb_delivery_release(&s->inflight[i]);
    s->n_inflight = 0;
    fb_delivery_t d;
    while (fb_session_dequeue(s, &d))
        fb_delivery_release(&d);
    s->n_qos2_in = 0;
    fb_session_set_will(s, NULL, 0);
}

/* Grows *arr (of `size`-byte items) so that it holds at least n + 1. */
static int grow(void **arr, uint32_t *cap, uint32_t n, size_t size)
{
    if (n < *cap)
        return 0;
    uint32_t ncap = *cap ? *cap * 2 : 4;
    void *p = realloc(*arr, (size_t)ncap * size);
    if (!p)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

static int find_sub(const fb_session_t *s, fmq_bytes_t filter)
{
    for (uint32_t i = 0; i < s->n_subs; i++)
        if (s->subs[i].len == filter.len && memcmp(s->subs[i].filter, filter.ptr, filter.len) == 0)
            return (int)i;
    return -1;
}

int fb_session_sub_put(fb_session_t *s, fmq_bytes_t filter, const fb_sub_opts_t *o)
{
    int i = find_sub(s, filter);
    if (i >= 0) {
        s->subs[i].opts = *o;
        return 0;
    }
    if (grow((void **)&s->subs, &s->cap_subs, s->n_subs, sizeof *s->subs))
        return -1;
    char *copy = malloc(filter.len + 1u);
    if (!copy)
        return -1;
    memcpy(copy, filter.ptr, filter.len);
    copy[filter.len] = 0;
    s->subs[s->n_subs++] = (fb_session_sub_t){copy, (uint16_t)filter.len, *o};
    return 1;
}

int fb_session_sub_del(fb_session_t *s, fmq_bytes_t filter)
{
    int i = find_sub(s, filter);
    if (i < 0)
        return 0;
    free(s->subs[i].filter);
    s->subs[i] = s->subs[--s->n_subs];
    return 1;
}

fb_delivery_t *fb_session_queue_peek(fb_session_t *s)
{
    return s->q_len ? &s->queue[s->q_head] : NULL;
}

bool fb_session_dequeue(fb_session_t *s, fb_delivery_t *out)
{
    if (!s->q_len)
        return false;
    *out = s->queue[s->q_head];
    s->q_head = (s->q_head + 1) % s->q_cap;
    s->q_len--;
    return true;
}

static int queue_grow(fb_session_t *s)
{
    uint32_t ncap = s->q_cap ? s->q_cap * 2 : 8;
    fb_delivery_t *q = malloc((size_t)ncap * sizeof *q);
    if (!q)
        return -1;
    for (uint32_t i = 0; i < s->q_len; i++)
        q[i] = s->queue[(s->q_head + i) % s->q_cap];
    free(s->queue);
    s->queue = q;
    s->q_cap = ncap;
    s->q_head = 0;
    return 0;
}

int fb_session_enqueue(fb_session_t *s, fb_delivery_t *d, uint32_t limit, bool drop_oldest)
{
    int rc = 0;
    if (s->q_len >= limit) {
        s->dropped++;
        if (!drop_oldest || limit == 0) {
            fb_delivery_release(d);
            return 2;
        }
        fb_delivery_t old = {0};
        fb_session_dequeue(s, &old);
        fb_delivery_release(&old);
        rc = 1;
    }
    if (s->q_len == s->q_cap && queue_grow(s)) {
        fb_delivery_release(d);
        return -1;
    }
    d->state = FB_QUEUED;
    d->packet_id = 0;
    s->queue[(s->q_head + s->q_len) % s->q_cap] = *d;
    s->q_len++;
    return rc;
}

int fb_session_inflight_add(fb_session_t *s, fb_delivery_t *d)
{
    if (grow((void **)&s->inflight, &s->cap_inflight, s->n_inflight, sizeof *s->inflight)) {
        fb_delivery_release(d);
        return -1;
    }
    s->inflight[s->n_inflight++] = *d;
    return 0;
}

fb_delivery_t *fb_session_inflight_find(fb_session_t *s, uint16_t packet_id)
{
    for (uint32_t i = 0; i < s->n_inflight; i++)
        if (s->inflight[i].packet_id == packet_id)
            return &s->inflight[i];
    return NULL;
}

void fb_session_inflight_remove(fb_session_t *s, fb_delivery_t *d)
{
    size_t i = (size_t)(d - s->inflight);
    fb_delivery_release(d);
    memmove(&s->inflight[i], &s->inflight[i + 1], (s->n_inflight - i - 1) * sizeof *d);
    s->n_inflight--;
}

uint16_t fb_session_next_packet_id(fb_session_t *s)
{
    for (;;) {
        uint16_t id = s->next_packet_id++;
        if (s->next_packet_id == 0)
            s->next_packet_id = 1;
        if (id != 0 && !fb_session_inflight_find(s, id))
            return id;
    }
}

bool fb_session_qos2_has(const fb_session_t *s, uint16_t id)
{
    for (uint32_t i = 0; i < s->n_qos2_in; i++)
        if (s->qos2_in[i] == id)
            return true;
    return false;
}

int fb_session_qos2_add(fb_session_t *s, uint16_t id)
{
    if (grow((void **)&s->qos2_in, &s->cap_qos2_in, s->n_qos2_in, sizeof *s->qos2_in))
        return -1;
    s->qos2_in[s->n_qos2_in++] = id;
    return 0;
}

bool fb_session_qos2_del(fb_session_t *s, uint16_t id)
{
    for (uint32_t i = 0; i < s->n_qos2_in; i++) {
        if (s->qos2_in[i] == id) {
            s->qos2_in[i] = s->qos2_in[--s->n_qos2_in];
            return true;
        }
    }
    return false;
}

void fb_session_set_will(fb_session_t *s, fb_msg_t *will, uint32_t delay)
{
    fb_msg_unref(s->will);
    s->will = will;
    s->will_delay = delay;
    s->will_at_ms = 0;
}

/* ---- serialization ----
 * Layout, all integers big-endian:
 *   "FMQS" u8 version
 *   str client_id; u32 expiry; u64 offline_since_ms; u16 next_packet_id; u64 dropped
 *   u32 n_subs   { str filter; u8 qos; u8 flags(nl|rap<<1|rh<<2); u32 sub_id }
 *   u32 n_inflight { delivery }      u32 n_queue { delivery }
 *   u32 n_qos2   { u16 id }
 *   u8 has_will  [ u32 will_delay; u64 will_at_ms; msg ]
 * delivery: u16 packet_id; u8 qos; u8 state; u8 retain; u8 n_sub_ids { u32 }; msg
 * msg: u8 qos; u8 retain; u8 has_expiry; u32 expiry; u64 created_ms;
 *      [u64 id: version 2 only] str topic; str origin; bin32 props; bin32 payload
 * Version 2 added the message id (cluster handoff drops duplicates by it);
 * version 1 records are still read (id 0), and written for a peer that
 * speaks only version 1.
 * str is u16 length + bytes, bin32 is u32 length + bytes.
 */

typedef struct {
    uint8_t *p;
    size_t len, cap;
    bool oom;
    uint8_t version;
} wbuf_t;

static void w_raw(wbuf_t *w, const void *src, size_t n)
{
    if (w->oom)
        return;
    if (w->len + n > w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 256;
        while (ncap < w->len + n)
            ncap *= 2;
        uint8_t *np = realloc(w->p, ncap);
        if (!np) {
            w->oom = true;
            return;
        }
        w->p = np;
        w->cap = ncap;
    }
    if (n)
        memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void w_u8(wbuf_t *w, uint8_t v)
{
    w_raw(w, &v, 1);
}

static void w_u16(wbuf_t *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    w_raw(w, b, 2);
}

static void w_u32(wbuf_t *w, uint32_t v)
{
    w_u16(w, (uint16_t)(v >> 16));
    w_u16(w, (uint16_t)v);
}

static void w_u64(wbuf_t *w, uint64_t v)
{
    w_u32(w, (uint32_t)(v >> 32));
    w_u32(w, (uint32_t)v);
}

static void w_str(wbuf_t *w, const void *s, uint16_t n)
{
    w_u16(w, n);
    w_raw(w, s, n);
}

static void w_bin32(wbuf_t *w, fmq_bytes_t b)
{
    w_u32(w, b.len);
    w_raw(w, b.ptr, b.len);
}

static void w_msg(wbuf_t *w, const fb_msg_t *m)
{
    w_u8(w, m->qos);
    w_u8(w, m->retain);
    w_u8(w, m->has_expiry);
    w_u32(w, m->expiry);
    w_u64(w, m->created_ms);
    if (w->version >= 2)
        w_u64(w, m->id);
    w_str(w, m->topic.ptr, (uint16_t)m->topic.len);
    w_str(w, m->origin.ptr, (uint16_t)m->origin.len);
    w_bin32(w, m->props);
    w_bin32(w, m->payload);
}

static void w_delivery(wbuf_t *w, const fb_delivery_t *d)
{
    w_u16(w, d->packet_id);
    w_u8(w, d->qos);
    w_u8(w, d->state);
    w_u8(w, d->retain);
    w_u8(w, d->n_sub_ids);
    for (uint8_t i = 0; i < d->n_sub_ids; i++)
        w_u32(w, d->sub_ids[i]);
    w_msg(w, d->msg);
}

uint8_t *fb_session_serialize(const fb_session_t *s, size_t *len)
{
    return fb_session_serialize_v(s, FB_SESSION_FORMAT_VERSION, len);
}

uint8_t *fb_session_serialize_v(const fb_session_t *s, uint8_t version, size_t *len)
{
    wbuf_t w = {.version = version};
    w_raw(&w, "FMQS", 4);
    w_u8(&w, version);
    w_str(&w, s->client_id, s->id_len);
    w_u32(&w, s->expiry);
    w_u64(&w, s->offline_since_ms);
    w_u16(&w, s->next_packet_id);
    w_u64(&w, s->dropped);
    w_u32(&w, s->n_subs);
    for (uint32_t i = 0; i < s->n_subs; i++) {
        const fb_session_sub_t *sub = &s->subs[i];
        w_str(&w, sub->filter, sub->len);
        w_u8(&w, sub->opts.qos);
        w_u8(&w, (uint8_t)(sub->opts.no_local | sub->opts.retain_as_published << 1 |
                           sub->opts.retain_handling << 2));
        w_u32(&w, sub->opts.sub_id);
    }
    w_u32(&w, s->n_inflight);
    for (uint32_t i = 0; i < s->n_inflight; i++)
        w_delivery(&w, &s->inflight[i]);
    w_u32(&w, s->q_len);
    for (uint32_t i = 0; i < s->q_len; i++)
        w_delivery(&w, &s->queue[(s->q_head + i) % s->q_cap]);
    w_u32(&w, s->n_qos2_in);
    for (uint32_t i = 0; i < s->n_qos2_in; i++)
        w_u16(&w, s->qos2_in[i]);
    w_u8(&w, s->will != NULL);
    if (s->will) {
        w_u32(&w, s->will_delay);
        w_u64(&w, s->will_at_ms);
        w_msg(&w, s->will);
    }
    if (w.oom) {
        free(w.p);
        return NULL;
    }
    *len = w.len;
    return w.p;
}

typedef struct {
    const uint8_t *p;
    size_t len, pos;
    const char *why; /* first failure */
    uint8_t version;
} rbuf_t;

static bool r_need(rbuf_t *r, size_t n)
{
    if (r->why)
        return false;
    if (r->len - r->pos < n) {
        r->why = "session record truncated";
        return false;
    }
    return true;
}

static uint64_t r_uint(rbuf_t *r, int bytes)
{
    if (!r_need(r, (size_t)bytes))
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | r->p[r->pos++];
    return v;
}

static fmq_bytes_t r_bytes(rbuf_t *r, int len_bytes)
{
    uint32_t n = (uint32_t)r_uint(r, len_bytes);
    if (!r_need(r, n))
        return (fmq_bytes_t){NULL, 0};
    fmq_bytes_t b = {r->p + r->pos, n};
    r->pos += n;
    return b;
}

static fb_msg_t *r_msg(rbuf_t *r)
{
    uint8_t qos = (uint8_t)r_uint(r, 1);
    uint8_t retain = (uint8_t)r_uint(r, 1);
    uint8_t has_expiry = (uint8_t)r_uint(r, 1);
    uint32_t expiry = (uint32_t)r_uint(r, 4);
    uint64_t created = r_uint(r, 8);
    uint64_t id = r->version >= 2 ? r_uint(r, 8) : 0;
    fmq_bytes_t topic = r_bytes(r, 2);
    fmq_bytes_t origin = r_bytes(r, 2);
    fmq_bytes_t props = r_bytes(r, 4);
    fmq_bytes_t payload = r_bytes(r, 4);
    if (r->why)
        return NULL;
    if (qos > 2 || retain > 1 || has_expiry > 1 || fmq_topic_name_check(topic) != 0) {
        r->why = "session record holds an invalid message";
        return NULL;
    }
    fb_msg_t *m = fb_msg_new(topic, props, payload, origin, qos, retain, has_expiry, expiry,
                             created);
    if (!m)
        r->why = "out of memory";
    else
        m->id = id;
    return m;
}

static bool r_delivery(rbuf_t *r, fb_delivery_t *d)
{
    memset(d, 0, sizeof *d);
    d->packet_id = (uint16_t)r_uint(r, 2);
    d->qos = (uint8_t)r_uint(r, 1);
    d->state = (uint8_t)r_uint(r, 1);
    d->retain = r_uint(r, 1) != 0;
    d->n_sub_ids = (uint8_t)r_uint(r, 1);
    if (r->why)
        return false;
    if (d->qos > 2 || d->state > FB_WAIT_PUBCOMP) {
        r->why = "session record holds an invalid delivery";
        return false;
    }
    if (d->n_sub_ids) {
        d->sub_ids = malloc(d->n_sub_ids * sizeof *d->sub_ids);
        if (!d->sub_ids) {
            r->why = "out of memory";
            return false;
        }
        for (uint8_t i = 0; i < d->n_sub_ids; i++)
            d->sub_ids[i] = (uint32_t)r_uint(r, 4);
    }
    d->msg = r_msg(r);
    if (!d->msg) {
        fb_delivery_release(d);
        return false;
    }
    return true;
}

fb_session_t *fb_session_deserialize(const uint8_t *buf, size_t len, const char **why)
{
    rbuf_t r = {buf, len, 0, NULL, 0};
    fb_session_t *s = NULL;
    if (len < 5 || memcmp(buf, "FMQS", 4) != 0) {
        *why = "not a session record";
        return NULL;
    }
    r.pos = 4;
    r.version = (uint8_t)r_uint(&r, 1);
    if (r.version < 1 || r.version > FB_SESSION_FORMAT_VERSION) {
        *why = "unknown session record version";
        return NULL;
    }
    fmq_bytes_t id = r_bytes(&r, 2);
    if (r.why)
        goto fail;
    s = fb_session_new(id.ptr, id.len);
    if (!s) {
        r.why = "out of memory";
        goto fail;
    }
    s->expiry = (uint32_t)r_uint(&r, 4);
    s->offline_since_ms = r_uint(&r, 8);
    s->next_packet_id = (uint16_t)r_uint(&r, 2);
    if (s->next_packet_id == 0)
        s->next_packet_id = 1;
    s->dropped = r_uint(&r, 8);
    uint32_t n = (uint32_t)r_uint(&r, 4);
    for (uint32_t i = 0; i < n && !r.why; i++) {
        fmq_bytes_t f = r_bytes(&r, 2);
        fb_sub_opts_t o = {0};
        o.qos = (uint8_t)r_uint(&r, 1);
        uint8_t flags = (uint8_t)r_uint(&r, 1);
        o.sub_id = (uint32_t)r_uint(&r, 4);
        o.no_local = flags & 1;
        o.retain_as_published = (flags >> 1) & 1;
        o.retain_handling = (flags >> 2) & 3;
        if (r.why)
            break;
        if (o.qos > 2 || o.retain_handling > 2 || fmq_topic_filter_check(f) != 0)
            r.why = "session record holds an invalid subscription";
        else if (fb_session_sub_put(s, f, &o) < 0)
            r.why = "out of memory";
    }
    n = (uint32_t)r_uint(&r, 4);
    for (uint32_t i = 0; i < n && !r.why; i++) {
        fb_delivery_t d;
        if (!r_delivery(&r, &d))
            break;
        if (d.state == FB_QUEUED || d.packet_id == 0 ||
            fb_session_inflight_find(s, d.packet_id)) {
            fb_delivery_release(&d);
            r.why = "session record holds an invalid inflight entry";
        } else if (fb_session_inflight_add(s, &d)) {
            r.why = "out of memory";
        }
    }
    n = (uint32_t)r_uint(&r, 4);
    for (uint32_t i = 0; i < n && !r.why; i++) {
        fb_delivery_t d;
        if (!r_delivery(&r, &d))
            break;
        if (fb_session_enqueue(s, &d, UINT32_MAX, false) < 0)
            r.why = "out of memory";
    }
    n = (uint32_t)r_uint(&r, 4);
    for (uint32_t i = 0; i < n && !r.why; i++) {
        uint16_t qid = (uint16_t)r_uint(&r, 2);
        if (!r.why && fb_session_qos2_add(s, qid))
            r.why = "out of memory";
    }
    if (r_uint(&r, 1) && !r.why) {
        uint32_t delay = (uint32_t)r_uint(&r, 4);
        uint64_t at = r_uint(&r, 8);
        fb_msg_t *m = r_msg(&r);
        if (m) {
            fb_session_set_will(s, m, delay);
            s->will_at_ms = at;
        }
    }
    if (!r.why && r.pos != r.len)
        r.why = "trailing bytes after the session record";
    if (r.why)
        goto fail;
    return s;
fail:
    *why = r.why;
    fb_session_free(s);
    return NULL;
}
