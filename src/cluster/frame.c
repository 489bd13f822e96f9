/*
 * The cluster link codec: turns the frames of frame.h into bytes and back.
 * A peer is another broker of the same cluster, but it may run an older or
 * newer release, be misconfigured, or not be a broker at all, so the decoder
 * trusts nothing: every length is checked against the body before it is
 * used, and everything the layout does not allow is refused here, once, so
 * the cluster layer only meets well-formed frames. The encoder refuses what
 * the decoder would refuse, so a bug at the sender shows up at the sender.
 */
#include "cluster/frame.h"

#include <string.h>

/* ---- reading ---- */

/* A bounds-checked reader over one frame's body; a failed read stores the
 * reason in *why and every caller returns at once. */
typedef struct reader {
    const uint8_t *p;
    uint32_t len;
    uint32_t pos;
    const char **why;
} reader_t;

static const char past_end[] = "a field runs past the end of the frame body";

static bool refuse(reader_t *r, const char *why)
{
    *r->why = why;
    return false;
}

static bool take(reader_t *r, uint32_t n, const uint8_t **at)
{
    if (r->len - r->pos < n)
        return refuse(r, past_end);
    *at = r->p + r->pos;
    r->pos += n;
    return true;
}

static uint64_t be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static bool read_u8(reader_t *r, uint8_t *v)
{
    const uint8_t *at;
    if (!take(r, 1, &at))
        return false;
    *v = at[0];
    return true;
}

static bool read_u16(reader_t *r, uint16_t *v)
{
    const uint8_t *at;
    if (!take(r, 2, &at))
        return false;
    *v = (uint16_t)be(at, 2);
    return true;
}

static bool read_u32(reader_t *r, uint32_t *v)
{
    const uint8_t *at;
    if (!take(r, 4, &at))
        return false;
    *v = (uint32_t)be(at, 4);
    return true;
}

static bool read_u64(reader_t *r, uint64_t *v)
{
    const uint8_t *at;
    if (!take(r, 8, &at))
        return false;
    *v = be(at, 8);
    return true;
}

/* An empty slice keeps a non-NULL pointer into the body; callers compare by
 * length, never by pointer. */
static bool read_slice(reader_t *r, uint32_t n, fmq_bytes_t *v)
{
    const uint8_t *at;
    if (!take(r, n, &at))
        return false;
    v->ptr = at;
    v->len = n;
    return true;
}

static bool read_str16(reader_t *r, fmq_bytes_t *v)
{
    uint16_t n;
    return read_u16(r, &n) && read_slice(r, n, v);
}

static bool read_bytes32(reader_t *r, fmq_bytes_t *v)
{
    uint32_t n;
    return read_u32(r, &n) && read_slice(r, n, v);
}

/* A list16 has no byte length of its own: its extent is wherever `count`
 * items (times `per_item` str16s, 2 for MEMBERS pairs) end, so a count that
 * is too large runs past the body and one too small leaves trailing bytes. */
static bool read_list(reader_t *r, unsigned per_item, fc_list_t *l)
{
    if (!read_u16(r, &l->count))
        return false;
    uint32_t start = r->pos;
    uint32_t items = (uint32_t)l->count * per_item;
    for (uint32_t i = 0; i < items; i++) {
        fmq_bytes_t item;
        if (!read_str16(r, &item))
            return refuse(r, "list count says more items than the frame body holds");
    }
    l->raw.ptr = r->p + start;
    l->raw.len = r->pos - start;
    return true;
}

static bool msg_flags_ok(uint8_t flags, const char **why)
{
    if (flags & 0xC0) {
        *why = "message flag bits 6-7 must be zero";
        return false;
    }
    if ((flags & FC_MSG_QOS_MASK) > 2) {
        *why = "message QoS must be 0, 1 or 2";
        return false;
    }
    return true;
}

static bool read_msg(reader_t *r, uint8_t version, fc_msg_t *m)
{
    if (!read_u8(r, &m->flags))
        return false;
    if (!msg_flags_ok(m->flags, r->why))
        return false;
    if (!read_u32(r, &m->expiry) || !read_u64(r, &m->created_ms))
        return false;
    m->msg_id = 0;
    if (version >= 2 && !read_u64(r, &m->msg_id))
        return false;
    return read_str16(r, &m->topic) && read_bytes32(r, &m->props) && read_bytes32(r, &m->payload) &&
           read_str16(r, &m->origin);
}

static bool read_hello(reader_t *r, fc_frame_t *f)
{
    if (!read_u8(r, &f->hello.proto_min) || !read_u8(r, &f->hello.proto_max))
        return false;
    if (f->hello.proto_min < FC_PROTO_MIN || f->hello.proto_min > f->hello.proto_max)
        return refuse(r, "HELLO proto_min must be >= 1 and <= proto_max");
    if (!read_str16(r, &f->hello.cluster) || !read_str16(r, &f->hello.node) ||
        !read_u64(r, &f->hello.incarnation) || !read_str16(r, &f->hello.nonce))
        return false;
    if (f->hello.nonce.len < FC_NONCE_MIN || f->hello.nonce.len > FC_NONCE_MAX)
        return refuse(r, "HELLO nonce must be 16..64 bytes");
    return read_str16(r, &f->hello.client_addr) && read_str16(r, &f->hello.cluster_addr);
}

static bool read_session(reader_t *r, fc_frame_t *f)
{
    if (!read_u8(r, &f->session.status) || !read_u8(r, &f->session.flags))
        return false;
    if (f->session.status > FC_SESS_SUPERSEDED)
        return refuse(r, "SESSION status must be 0, 1 or 2");
    if (f->session.flags & ~FC_SESSF_MIGRATE)
        return refuse(r, "SESSION flags other than bit 0 must be zero");
    if (!read_u64(r, &f->session.stamp) || !read_str16(r, &f->session.client_id) ||
        !read_bytes32(r, &f->session.blob))
        return false;
    if (f->session.status != FC_SESS_DATA && f->session.blob.len != 0)
        return refuse(r, "SESSION blob must be empty unless status is DATA");
    return true;
}

static bool read_deliver(reader_t *r, uint8_t version, fc_frame_t *f)
{
    if (!read_str16(r, &f->deliver.client_id) || !read_u8(r, &f->deliver.qos) ||
        !read_u8(r, &f->deliver.retain))
        return false;
    if (f->deliver.qos > 2)
        return refuse(r, "DELIVER QoS must be 0, 1 or 2");
    if (f->deliver.retain > 1)
        return refuse(r, "DELIVER retain must be 0 or 1");
    if (!read_u8(r, &f->deliver.n_sub_ids))
        return false;
    const uint8_t *ids;
    if (!take(r, 4u * f->deliver.n_sub_ids, &ids))
        return false;
    f->deliver.sub_ids = f->deliver.n_sub_ids ? ids : NULL;
    f->deliver.sub_ids_host = NULL;
    return read_msg(r, version, &f->deliver.msg);
}

static bool read_body(reader_t *r, uint8_t version, fc_frame_t *f)
{
    switch (f->type) {
    case FC_T_HELLO:
        return read_hello(r, f);
    case FC_T_AUTH:
        if (!read_str16(r, &f->auth.mac))
            return false;
        if (f->auth.mac.len != FC_MAC_LEN)
            return refuse(r, "AUTH mac must be 32 bytes (HMAC-SHA256)");
        return true;
    case FC_T_ERROR:
        if (!read_u8(r, &f->error.code))
            return false;
        if (f->error.code < FC_ERR_AUTH || f->error.code > FC_ERR_PROTOCOL)
            return refuse(r, "ERROR code must be 1..5");
        return read_str16(r, &f->error.text);
    case FC_T_PING:
    case FC_T_PONG:
        return read_u64(r, &f->ping.time);
    case FC_T_MEMBERS:
        return read_list(r, 2, &f->list);
    case FC_T_ROUTE_ADD:
    case FC_T_ROUTE_DEL:
        return read_list(r, 1, &f->list);
    case FC_T_SYNC_END:
        return read_u32(r, &f->sync_end.routes) && read_u32(r, &f->sync_end.claims) &&
               read_u32(r, &f->sync_end.retained);
    case FC_T_PUBLISH:
        return read_msg(r, version, &f->publish.msg) && read_list(r, 1, &f->publish.shared);
    case FC_T_CLAIM:
        if (!read_u8(r, &f->claim.flags))
            return false;
        if (f->claim.flags & ~(FC_CLAIM_WANT_SESSION | FC_CLAIM_SYNC))
            return refuse(r, "CLAIM flags other than bits 0-1 must be zero");
        return read_u64(r, &f->claim.stamp) && read_str16(r, &f->claim.client_id);
    case FC_T_RELEASE:
    case FC_T_STUB_END:
        return read_u64(r, &f->claim.stamp) && read_str16(r, &f->claim.client_id);
    case FC_T_SESSION:
        return read_session(r, f);
    case FC_T_SESSION_ACK:
        if (!read_u8(r, &f->session_ack.ok))
            return false;
        if (f->session_ack.ok > 1)
            return refuse(r, "SESSION_ACK ok must be 0 or 1");
        return read_u64(r, &f->session_ack.stamp) && read_str16(r, &f->session_ack.client_id);
    case FC_T_DELIVER:
        return read_deliver(r, version, f);
    case FC_T_LEAVE:
        return read_str16(r, &f->leave.reason);
    case FC_T_NODE_LOAD:
        if (version < 4)
            return refuse(r, "NODE_LOAD needs protocol version 4");
        if (!(read_u32(r, &f->load.connections) && read_u32(r, &f->load.sessions) &&
              read_u32(r, &f->load.offline_sessions) && read_u32(r, &f->load.pending_connects) &&
              read_u32(r, &f->load.connack_count) && read_u32(r, &f->load.connack_mean_ms) &&
              read_u32(r, &f->load.connack_max_ms) && read_u8(r, &f->load.agent) &&
              read_u8(r, &f->load.flags)))
            return false;
        if (f->load.agent > FC_AGENT_REBALANCE)
            return refuse(r, "NODE_LOAD agent must be 0..2");
        if (f->load.flags & ~FC_LOADF_AVAILABLE)
            return refuse(r, "NODE_LOAD flags other than bit 0 must be zero");
        return read_bytes32(r, &f->load.status);
    case FC_T_REBALANCE:
        if (version < 4)
            return refuse(r, "REBALANCE needs protocol version 4");
        if (!read_u8(r, &f->rebal.op))
            return false;
        if (f->rebal.op < FC_REBAL_PREPARE || f->rebal.op > FC_REBAL_STOP)
            return refuse(r, "REBALANCE op must be 1..4");
        return read_u32(r, &f->rebal.lease_ms) && read_u32(r, &f->rebal.conns) &&
               read_u32(r, &f->rebal.sessions) && read_list(r, 1, &f->rebal.recipients) &&
               read_bytes32(r, &f->rebal.info);
    default:
        return refuse(r, "unknown frame type");
    }
}

uint32_t fc_frame_body_len(const uint8_t *header)
{
    return (uint32_t)be(header + 4, 4);
}

int64_t fc_frame_decode(const uint8_t *buf, size_t len, uint32_t max_body, fc_frame_t *out,
                        const char **why)
{
    const char *ignored;
    if (!why)
        why = &ignored;
    /* Each header byte is judged as soon as it arrives, so a peer speaking
     * something else entirely is dropped before we buffer anything. */
    if ((len >= 1 && buf[0] != 'F') || (len >= 2 && buf[1] != 'C')) {
        *why = "bad magic: a cluster frame starts with 'F' 'C'";
        return -1;
    }
    if (len >= 3 && buf[2] < FC_PROTO_MIN) {
        *why = "protocol version 0 does not exist";
        return -1;
    }
    if (len >= 4 && (buf[3] < FC_T_HELLO || buf[3] > FC_T_MAX_)) {
        *why = "unknown frame type";
        return -1;
    }
    if (len < FC_HEADER_LEN)
        return FC_NEED_MORE;
    uint32_t body = fc_frame_body_len(buf);
    if (body > max_body) {
        *why = "frame body longer than max_body";
        return -1;
    }
    if ((uint64_t)len - FC_HEADER_LEN < body)
        return FC_NEED_MORE;

    memset(out, 0, sizeof *out);
    out->version = buf[2];
    out->type = buf[3];
    reader_t r = {buf + FC_HEADER_LEN, body, 0, why};
    if (!read_body(&r, out->version, out))
        return -1;
    if (r.pos != r.len) {
        *why = "trailing bytes after the last field of the frame body";
        return -1;
    }
    return (int64_t)FC_HEADER_LEN + body;
}

/* ---- lists ---- */

bool fc_list_next(const fc_list_t *l, uint32_t *pos, fmq_bytes_t *item)
{
    /* Checked again although the decoder did: a hand-built list may be
     * wrong, and walking off its end must not be the way we find out. */
    if (*pos > l->raw.len || l->raw.len - *pos < 2)
        return false;
    const uint8_t *at = l->raw.ptr + *pos;
    uint32_t n = (uint32_t)be(at, 2);
    if (l->raw.len - *pos - 2 < n)
        return false;
    item->ptr = at + 2;
    item->len = n;
    *pos += 2 + n;
    return true;
}

bool fc_list_put(uint8_t *buf, size_t cap, size_t *used, fmq_bytes_t item)
{
    if (item.len > 0xFFFF || *used > cap || cap - *used < 2 + (size_t)item.len)
        return false;
    uint8_t *at = buf + *used;
    at[0] = (uint8_t)(item.len >> 8);
    at[1] = (uint8_t)item.len;
    if (item.len)
        memcpy(at + 2, item.ptr, item.len);
    *used += 2 + (size_t)item.len;
    return true;
}

/* ---- writing ---- */

/* Counts every byte; stores one only while it fits, so a NULL/0 writer
 * measures. 64-bit so that summing u32 lengths cannot wrap on any host. */
typedef struct writer {
    uint8_t *p;
    size_t cap;
    uint64_t len;
} writer_t;

static void put_u8(writer_t *w, uint8_t v)
{
    if (w->len < w->cap)
        w->p[w->len] = v;
    w->len++;
}

static void put_be(writer_t *w, uint64_t v, unsigned n)
{
    while (n--)
        put_u8(w, (uint8_t)(v >> (8 * n)));
}

static void put_raw(writer_t *w, const uint8_t *src, uint32_t n)
{
    if (n && w->len + n <= w->cap)
        memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void put_str16(writer_t *w, fmq_bytes_t b)
{
    put_be(w, b.len, 2);
    put_raw(w, b.ptr, b.len);
}

static void put_bytes32(writer_t *w, fmq_bytes_t b)
{
    put_be(w, b.len, 4);
    put_raw(w, b.ptr, b.len);
}

static void put_list(writer_t *w, const fc_list_t *l)
{
    put_be(w, l->count, 2);
    put_raw(w, l->raw.ptr, l->raw.len);
}

static void put_msg(writer_t *w, uint8_t version, const fc_msg_t *m)
{
    put_u8(w, m->flags);
    put_be(w, m->expiry, 4);
    put_be(w, m->created_ms, 8);
    if (version >= 2)
        put_be(w, m->msg_id, 8);
    put_str16(w, m->topic);
    put_bytes32(w, m->props);
    put_bytes32(w, m->payload);
    put_str16(w, m->origin);
}

static void put_body(writer_t *w, const fc_frame_t *f, uint8_t version)
{
    switch (f->type) {
    case FC_T_HELLO:
        put_u8(w, f->hello.proto_min);
        put_u8(w, f->hello.proto_max);
        put_str16(w, f->hello.cluster);
        put_str16(w, f->hello.node);
        put_be(w, f->hello.incarnation, 8);
        put_str16(w, f->hello.nonce);
        put_str16(w, f->hello.client_addr);
        put_str16(w, f->hello.cluster_addr);
        break;
    case FC_T_AUTH:
        put_str16(w, f->auth.mac);
        break;
    case FC_T_ERROR:
        put_u8(w, f->error.code);
        put_str16(w, f->error.text);
        break;
    case FC_T_PING:
    case FC_T_PONG:
        put_be(w, f->ping.time, 8);
        break;
    case FC_T_MEMBERS:
    case FC_T_ROUTE_ADD:
    case FC_T_ROUTE_DEL:
        put_list(w, &f->list);
        break;
    case FC_T_SYNC_END:
        put_be(w, f->sync_end.routes, 4);
        put_be(w, f->sync_end.claims, 4);
        put_be(w, f->sync_end.retained, 4);
        break;
    case FC_T_PUBLISH:
        put_msg(w, version, &f->publish.msg);
        put_list(w, &f->publish.shared);
        break;
    case FC_T_CLAIM:
        put_u8(w, f->claim.flags);
        put_be(w, f->claim.stamp, 8);
        put_str16(w, f->claim.client_id);
        break;
    case FC_T_RELEASE:
    case FC_T_STUB_END:
        put_be(w, f->claim.stamp, 8);
        put_str16(w, f->claim.client_id);
        break;
    case FC_T_SESSION:
        put_u8(w, f->session.status);
        put_u8(w, f->session.flags);
        put_be(w, f->session.stamp, 8);
        put_str16(w, f->session.client_id);
        put_bytes32(w, f->session.blob);
        break;
    case FC_T_SESSION_ACK:
        put_u8(w, f->session_ack.ok);
        put_be(w, f->session_ack.stamp, 8);
        put_str16(w, f->session_ack.client_id);
        break;
    case FC_T_DELIVER:
        put_str16(w, f->deliver.client_id);
        put_u8(w, f->deliver.qos);
        put_u8(w, f->deliver.retain);
        put_u8(w, f->deliver.n_sub_ids);
        /* A decoded DELIVER being forwarded has only the wire bytes. */
        if (f->deliver.sub_ids_host) {
            for (unsigned i = 0; i < f->deliver.n_sub_ids; i++)
                put_be(w, f->deliver.sub_ids_host[i], 4);
        } else {
            put_raw(w, f->deliver.sub_ids, 4u * f->deliver.n_sub_ids);
        }
        put_msg(w, version, &f->deliver.msg);
        break;
    case FC_T_LEAVE:
        put_str16(w, f->leave.reason);
        break;
    case FC_T_NODE_LOAD:
        put_be(w, f->load.connections, 4);
        put_be(w, f->load.sessions, 4);
        put_be(w, f->load.offline_sessions, 4);
        put_be(w, f->load.pending_connects, 4);
        put_be(w, f->load.connack_count, 4);
        put_be(w, f->load.connack_mean_ms, 4);
        put_be(w, f->load.connack_max_ms, 4);
        put_u8(w, f->load.agent);
        put_u8(w, f->load.flags);
        put_bytes32(w, f->load.status);
        break;
    case FC_T_REBALANCE:
        put_u8(w, f->rebal.op);
        put_be(w, f->rebal.lease_ms, 4);
        put_be(w, f->rebal.conns, 4);
        put_be(w, f->rebal.sessions, 4);
        put_list(w, &f->rebal.recipients);
        put_bytes32(w, f->rebal.info);
        break;
    default:
        break;
    }
}

static bool str16_ok(fmq_bytes_t b)
{
    return b.len <= 0xFFFF && (b.len == 0 || b.ptr != NULL);
}

static bool bytes32_ok(fmq_bytes_t b)
{
    return b.len == 0 || b.ptr != NULL;
}

/* The items of a list must be exactly `count` (times per_item) str16s, or the
 * receiver would refuse the frame. */
static bool list_ok(const fc_list_t *l, unsigned per_item)
{
    uint32_t pos = 0, items = (uint32_t)l->count * per_item;
    fmq_bytes_t item;
    if (l->raw.len && !l->raw.ptr)
        return false;
    for (uint32_t i = 0; i < items; i++)
        if (!fc_list_next(l, &pos, &item))
            return false;
    return pos == l->raw.len;
}

static bool msg_ok(const fc_msg_t *m)
{
    const char *why;
    return msg_flags_ok(m->flags, &why) && str16_ok(m->topic) && bytes32_ok(m->props) &&
           bytes32_ok(m->payload) && str16_ok(m->origin);
}

/* Everything fc_frame_decode would refuse in the body, checked before a
 * byte is written. */
static bool encodable(const fc_frame_t *f, uint8_t version)
{
    switch (f->type) {
    case FC_T_HELLO:
        return f->hello.proto_min >= FC_PROTO_MIN && f->hello.proto_min <= f->hello.proto_max &&
               f->hello.nonce.len >= FC_NONCE_MIN && f->hello.nonce.len <= FC_NONCE_MAX &&
               str16_ok(f->hello.cluster) && str16_ok(f->hello.node) && str16_ok(f->hello.nonce) &&
               str16_ok(f->hello.client_addr) && str16_ok(f->hello.cluster_addr);
    case FC_T_AUTH:
        return f->auth.mac.len == FC_MAC_LEN && str16_ok(f->auth.mac);
    case FC_T_ERROR:
        return f->error.code >= FC_ERR_AUTH && f->error.code <= FC_ERR_PROTOCOL &&
               str16_ok(f->error.text);
    case FC_T_PING:
    case FC_T_PONG:
    case FC_T_SYNC_END:
        return true;
    case FC_T_MEMBERS:
        return list_ok(&f->list, 2);
    case FC_T_ROUTE_ADD:
    case FC_T_ROUTE_DEL:
        return list_ok(&f->list, 1);
    case FC_T_PUBLISH:
        return msg_ok(&f->publish.msg) && list_ok(&f->publish.shared, 1);
    case FC_T_CLAIM:
        return (f->claim.flags & ~(FC_CLAIM_WANT_SESSION | FC_CLAIM_SYNC)) == 0 &&
               str16_ok(f->claim.client_id);
    case FC_T_RELEASE:
    case FC_T_STUB_END:
        return str16_ok(f->claim.client_id);
    case FC_T_SESSION:
        return f->session.status <= FC_SESS_SUPERSEDED &&
               (f->session.flags & ~FC_SESSF_MIGRATE) == 0 &&
               (f->session.status == FC_SESS_DATA || f->session.blob.len == 0) &&
               str16_ok(f->session.client_id) && bytes32_ok(f->session.blob);
    case FC_T_SESSION_ACK:
        return f->session_ack.ok <= 1 && str16_ok(f->session_ack.client_id);
    case FC_T_DELIVER:
        return f->deliver.qos <= 2 && f->deliver.retain <= 1 &&
               (f->deliver.n_sub_ids == 0 || f->deliver.sub_ids_host || f->deliver.sub_ids) &&
               str16_ok(f->deliver.client_id) && msg_ok(&f->deliver.msg);
    case FC_T_LEAVE:
        return str16_ok(f->leave.reason);
    case FC_T_NODE_LOAD:
        return version >= 4 && f->load.agent <= FC_AGENT_REBALANCE &&
               (f->load.flags & ~FC_LOADF_AVAILABLE) == 0 && bytes32_ok(f->load.status);
    case FC_T_REBALANCE:
        return version >= 4 && f->rebal.op >= FC_REBAL_PREPARE && f->rebal.op <= FC_REBAL_STOP &&
               list_ok(&f->rebal.recipients, 1) && bytes32_ok(f->rebal.info);
    default:
        return false;
    }
}

size_t fc_frame_encode(const fc_frame_t *f, uint8_t version, uint8_t *out, size_t cap)
{
    if (version < FC_PROTO_MIN || !encodable(f, version))
        return 0;
    writer_t sizer = {NULL, 0, 0};
    put_body(&sizer, f, version);
    if (sizer.len > UINT32_MAX)
        return 0;
    uint64_t total = FC_HEADER_LEN + sizer.len;
#if SIZE_MAX < UINT64_MAX
    if (total > SIZE_MAX)
        return 0;
#endif
    if (total > cap)
        return (size_t)total;
    writer_t w = {out, cap, 0};
    put_u8(&w, 'F');
    put_u8(&w, 'C');
    put_u8(&w, version);
    put_u8(&w, f->type);
    put_be(&w, sizer.len, 4);
    put_body(&w, f, version);
    return (size_t)w.len;
}

const char *fc_type_name(uint8_t type)
{
    static const char *const names[FC_T_MAX_ + 1] = {
        [FC_T_HELLO] = "HELLO",         [FC_T_AUTH] = "AUTH",
        [FC_T_ERROR] = "ERROR",         [FC_T_PING] = "PING",
        [FC_T_PONG] = "PONG",           [FC_T_MEMBERS] = "MEMBERS",
        [FC_T_ROUTE_ADD] = "ROUTE_ADD", [FC_T_ROUTE_DEL] = "ROUTE_DEL",
        [FC_T_SYNC_END] = "SYNC_END",   [FC_T_PUBLISH] = "PUBLISH",
        [FC_T_CLAIM] = "CLAIM",         [FC_T_RELEASE] = "RELEASE",
        [FC_T_SESSION] = "SESSION",     [FC_T_SESSION_ACK] = "SESSION_ACK",
        [FC_T_DELIVER] = "DELIVER",     [FC_T_LEAVE] = "LEAVE",
        [FC_T_STUB_END] = "STUB_END",   [FC_T_NODE_LOAD] = "NODE_LOAD",
        [FC_T_REBALANCE] = "REBALANCE",
    };
    return type <= FC_T_MAX_ && names[type] ? names[type] : "?";
}
