/*
 * Streaming decode of a cluster link, the way a node reads a peer's socket:
 * fc_frame_decode frame after frame. Every frame that decodes is checked
 * against the header it came from, its lists are walked to the end (and
 * rebuilt with fc_list_put), and it is re-encoded at its own version (the
 * bytes must be exactly the input: the wire format has one spelling per
 * frame) and at the other version, and decoded again; any difference is an
 * encode/decode asymmetry and aborts. Every proper prefix of a decoded frame
 * must say "need more"; prefixes of a refused one must say "need more" or
 * give the same refusal.
 *
 * Input: byte 0 selects the reader, the rest is the stream.
 *   bits 0-2  max_body, an index into max_bodies[]
 *   bits 3-7  with the input's last byte, where to split the stream
 * fuzz/make_frame_corpus.py writes seeds in this format.
 */
#include "fuzz_common.h"

#include "cluster/frame.h"

#include <string.h>

static const uint32_t max_bodies[8] = {UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX,
                                       8,          32,         128,        1024};

static bool same_bytes(fmq_bytes_t a, fmq_bytes_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static bool has_msg(uint8_t type)
{
    return type == FC_T_PUBLISH || type == FC_T_DELIVER;
}

/* ---- comparing two decoded frames ---- */

/* `same_id`: false when one side went through version 1, which has no
 * msg_id; then that side's msg_id must be 0. */
static void check_msgs_equal(const fc_msg_t *a, const fc_msg_t *b, bool same_id)
{
#define SAME(f)                                                                                    \
    FUZZ_CHECK(a->f == b->f, "msg." #f " %llu vs %llu", (unsigned long long)a->f,                  \
               (unsigned long long)b->f)
#define SAME_BYTES(f) FUZZ_CHECK(same_bytes(a->f, b->f), "msg." #f " differs")
    SAME(flags);
    SAME(expiry);
    SAME(created_ms);
    if (same_id)
        SAME(msg_id);
    else
        FUZZ_CHECK(b->msg_id == 0, "msg_id %llu through version 1", (unsigned long long)b->msg_id);
    SAME_BYTES(topic);
    SAME_BYTES(props);
    SAME_BYTES(payload);
    SAME_BYTES(origin);
#undef SAME
#undef SAME_BYTES
}

static void check_lists_equal(const fc_list_t *a, const fc_list_t *b)
{
    FUZZ_CHECK(a->count == b->count, "list count %u vs %u", a->count, b->count);
    FUZZ_CHECK(same_bytes(a->raw, b->raw), "list bytes differ");
}

static void check_frames_equal(const fc_frame_t *a, const fc_frame_t *b, bool same_id)
{
    const char *t = fc_type_name(a->type);
    FUZZ_CHECK(a->type == b->type, "type %s vs %s", t, fc_type_name(b->type));
#define SAME(f)                                                                                    \
    FUZZ_CHECK(a->f == b->f, "%s: " #f " %llu vs %llu", t, (unsigned long long)a->f,               \
               (unsigned long long)b->f)
#define SAME_BYTES(f) FUZZ_CHECK(same_bytes(a->f, b->f), "%s: " #f " differs", t)
    switch (a->type) {
    case FC_T_HELLO:
        SAME(hello.proto_min);
        SAME(hello.proto_max);
        SAME_BYTES(hello.cluster);
        SAME_BYTES(hello.node);
        SAME(hello.incarnation);
        SAME_BYTES(hello.nonce);
        SAME_BYTES(hello.client_addr);
        SAME_BYTES(hello.cluster_addr);
        break;
    case FC_T_AUTH:
        SAME_BYTES(auth.mac);
        break;
    case FC_T_ERROR:
        SAME(error.code);
        SAME_BYTES(error.text);
        break;
    case FC_T_PING:
    case FC_T_PONG:
        SAME(ping.time);
        break;
    case FC_T_MEMBERS:
    case FC_T_ROUTE_ADD:
    case FC_T_ROUTE_DEL:
        check_lists_equal(&a->list, &b->list);
        break;
    case FC_T_SYNC_END:
        SAME(sync_end.routes);
        SAME(sync_end.claims);
        SAME(sync_end.retained);
        break;
    case FC_T_PUBLISH:
        check_msgs_equal(&a->publish.msg, &b->publish.msg, same_id);
        check_lists_equal(&a->publish.shared, &b->publish.shared);
        break;
    case FC_T_CLAIM:
    case FC_T_RELEASE:
    case FC_T_STUB_END:
        SAME(claim.flags);
        SAME(claim.stamp);
        SAME_BYTES(claim.client_id);
        break;
    case FC_T_SESSION:
        SAME(session.status);
        SAME(session.flags);
        SAME(session.stamp);
        SAME_BYTES(session.client_id);
        SAME_BYTES(session.blob);
        break;
    case FC_T_SESSION_ACK:
        SAME(session_ack.ok);
        SAME(session_ack.stamp);
        SAME_BYTES(session_ack.client_id);
        break;
    case FC_T_DELIVER:
        SAME_BYTES(deliver.client_id);
        SAME(deliver.qos);
        SAME(deliver.retain);
        SAME(deliver.n_sub_ids);
        for (unsigned i = 0; i < a->deliver.n_sub_ids; i++)
            FUZZ_CHECK(fc_deliver_sub_id(a, i) == fc_deliver_sub_id(b, i), "sub id %u differs", i);
        check_msgs_equal(&a->deliver.msg, &b->deliver.msg, same_id);
        break;
    case FC_T_LEAVE:
        SAME_BYTES(leave.reason);
        break;
    case FC_T_NODE_LOAD:
        SAME(load.connections);
        SAME(load.sessions);
        SAME(load.offline_sessions);
        SAME(load.pending_connects);
        SAME(load.connack_count);
        SAME(load.connack_mean_ms);
        SAME(load.connack_max_ms);
        SAME(load.agent);
        SAME(load.flags);
        SAME_BYTES(load.status);
        break;
    case FC_T_REBALANCE:
        SAME(rebal.op);
        SAME(rebal.lease_ms);
        SAME(rebal.conns);
        SAME(rebal.sessions);
        check_lists_equal(&a->rebal.recipients, &b->rebal.recipients);
        SAME_BYTES(rebal.info);
        break;
    default:
        FUZZ_CHECK(false, "decoded type %u", a->type);
    }
#undef SAME
#undef SAME_BYTES
}

/* ---- what a decoded frame must look like ---- */

/* A borrowed slice lies inside the frame's body. */
static void check_inside(fmq_bytes_t b, const uint8_t *body, uint32_t body_len, const char *what)
{
    if (b.len == 0)
        return;
    FUZZ_CHECK(b.ptr >= body && b.len <= body_len && b.ptr - body <= (ptrdiff_t)(body_len - b.len),
               "%s is not inside the body", what);
}

/* Walks the list to its end, rebuilds it with fc_list_put and checks that
 * it is exactly count (times per_item) items. */
static void walk_list(const fc_list_t *l, unsigned per_item, const uint8_t *body, uint32_t len)
{
    check_inside(l->raw, body, len, "list");
    uint8_t *copy = malloc(l->raw.len ? l->raw.len : 1);
    FUZZ_CHECK(copy != NULL, "malloc");
    uint32_t pos = 0, n = 0;
    size_t used = 0;
    fmq_bytes_t item;
    while (fc_list_next(l, &pos, &item)) {
        n++;
        check_inside(item, l->raw.ptr, l->raw.len, "list item");
        FUZZ_CHECK(fc_list_put(copy, l->raw.len, &used, item), "fc_list_put refused item %u", n);
    }
    FUZZ_CHECK(n == (uint32_t)l->count * per_item, "list of %u walks %u items", l->count, n);
    FUZZ_CHECK(pos == l->raw.len, "walk stopped at %u of %u", pos, l->raw.len);
    FUZZ_CHECK(used == l->raw.len && (used == 0 || memcmp(copy, l->raw.ptr, used) == 0),
               "fc_list_put rebuilt a different list");
    FUZZ_CHECK(!fc_list_put(copy, l->raw.len, &used, (fmq_bytes_t){NULL, 0}),
               "fc_list_put wrote past its buffer");
    free(copy);
}

static void check_msg(const fc_msg_t *m, uint8_t version, const uint8_t *body, uint32_t len)
{
    FUZZ_CHECK((m->flags & 0xC0) == 0 && (m->flags & FC_MSG_QOS_MASK) <= 2, "msg flags 0x%02x",
               m->flags);
    FUZZ_CHECK(version >= 2 || m->msg_id == 0, "msg_id at version %u", version);
    check_inside(m->topic, body, len, "topic");
    check_inside(m->props, body, len, "props");
    check_inside(m->payload, body, len, "payload");
    check_inside(m->origin, body, len, "origin");
    FUZZ_CHECK(m->topic.len <= 0xFFFF && m->origin.len <= 0xFFFF, "str16 over 65535");
}

static void walk_frame(const fc_frame_t *f, const uint8_t *frame, size_t size)
{
    const uint8_t *body = frame + FC_HEADER_LEN;
    uint32_t len = (uint32_t)(size - FC_HEADER_LEN);
    FUZZ_CHECK(f->version == frame[2] && f->type == frame[3], "version/type from the header");
    FUZZ_CHECK(f->version >= FC_PROTO_MIN, "version %u", f->version);
    FUZZ_CHECK(strcmp(fc_type_name(f->type), "?") != 0, "type %u has no name", f->type);
    switch (f->type) {
    case FC_T_HELLO:
        FUZZ_CHECK(f->hello.proto_min >= 1 && f->hello.proto_min <= f->hello.proto_max,
                   "proto %u..%u", f->hello.proto_min, f->hello.proto_max);
        FUZZ_CHECK(f->hello.nonce.len >= FC_NONCE_MIN && f->hello.nonce.len <= FC_NONCE_MAX,
                   "nonce of %u bytes", f->hello.nonce.len);
        check_inside(f->hello.cluster, body, len, "cluster");
        check_inside(f->hello.node, body, len, "node");
        check_inside(f->hello.nonce, body, len, "nonce");
        check_inside(f->hello.client_addr, body, len, "client_addr");
        check_inside(f->hello.cluster_addr, body, len, "cluster_addr");
        break;
    case FC_T_AUTH:
        FUZZ_CHECK(f->auth.mac.len == FC_MAC_LEN, "mac of %u bytes", f->auth.mac.len);
        check_inside(f->auth.mac, body, len, "mac");
        break;
    case FC_T_ERROR:
        FUZZ_CHECK(f->error.code >= FC_ERR_AUTH && f->error.code <= FC_ERR_PROTOCOL, "code %u",
                   f->error.code);
        check_inside(f->error.text, body, len, "text");
        break;
    case FC_T_MEMBERS:
        walk_list(&f->list, 2, body, len);
        break;
    case FC_T_ROUTE_ADD:
    case FC_T_ROUTE_DEL:
        walk_list(&f->list, 1, body, len);
        break;
    case FC_T_PUBLISH:
        check_msg(&f->publish.msg, f->version, body, len);
        walk_list(&f->publish.shared, 1, body, len);
        break;
    case FC_T_CLAIM:
    case FC_T_RELEASE:
    case FC_T_STUB_END:
        FUZZ_CHECK((f->claim.flags & ~3u) == 0, "claim flags 0x%02x", f->claim.flags);
        FUZZ_CHECK(f->type == FC_T_CLAIM || f->claim.flags == 0, "RELEASE with flags");
        check_inside(f->claim.client_id, body, len, "client_id");
        break;
    case FC_T_SESSION:
        FUZZ_CHECK(f->session.status <= 2 && (f->session.flags & ~1u) == 0, "status/flags");
        FUZZ_CHECK(f->session.status == FC_SESS_DATA || f->session.blob.len == 0,
                   "blob with status %u", f->session.status);
        check_inside(f->session.client_id, body, len, "client_id");
        check_inside(f->session.blob, body, len, "blob");
        break;
    case FC_T_SESSION_ACK:
        FUZZ_CHECK(f->session_ack.ok <= 1, "ok %u", f->session_ack.ok);
        check_inside(f->session_ack.client_id, body, len, "client_id");
        break;
    case FC_T_DELIVER:
        FUZZ_CHECK(f->deliver.qos <= 2 && f->deliver.retain <= 1, "qos/retain");
        FUZZ_CHECK(f->deliver.sub_ids_host == NULL, "decoded sub_ids_host");
        if (f->deliver.n_sub_ids)
            check_inside((fmq_bytes_t){f->deliver.sub_ids, 4u * f->deliver.n_sub_ids}, body, len,
                         "sub_ids");
        check_inside(f->deliver.client_id, body, len, "client_id");
        check_msg(&f->deliver.msg, f->version, body, len);
        break;
    case FC_T_LEAVE:
        check_inside(f->leave.reason, body, len, "reason");
        break;
    case FC_T_NODE_LOAD:
        FUZZ_CHECK(f->version >= 4, "NODE_LOAD at version %u", f->version);
        FUZZ_CHECK(f->load.agent <= FC_AGENT_REBALANCE && (f->load.flags & ~1u) == 0,
                   "agent/flags");
        check_inside(f->load.status, body, len, "status");
        break;
    case FC_T_REBALANCE:
        FUZZ_CHECK(f->version >= 4, "REBALANCE at version %u", f->version);
        FUZZ_CHECK(f->rebal.op >= FC_REBAL_PREPARE && f->rebal.op <= FC_REBAL_STOP, "op %u",
                   f->rebal.op);
        walk_list(&f->rebal.recipients, 1, body, len);
        check_inside(f->rebal.info, body, len, "info");
        break;
    default:
        break;
    }
}

/* ---- re-encoding ---- */

static uint8_t *encode_alloc(const fc_frame_t *f, uint8_t version, size_t *size)
{
    const char *t = fc_type_name(f->type);
    size_t need = fc_frame_encode(f, version, NULL, 0);
    FUZZ_CHECK(need > FC_HEADER_LEN, "a decoded %s cannot be encoded at version %u", t, version);

    /* One byte short: reports the size and writes nothing. */
    uint8_t *small = malloc(need - 1);
    FUZZ_CHECK(small != NULL, "malloc");
    memset(small, 0xA5, need - 1);
    FUZZ_CHECK(fc_frame_encode(f, version, small, need - 1) == need, "%s: short buffer size", t);
    for (size_t i = 0; i < need - 1; i++)
        FUZZ_CHECK(small[i] == 0xA5, "%s: short buffer written at %zu", t, i);
    free(small);

    uint8_t *buf = malloc(need);
    FUZZ_CHECK(buf != NULL, "malloc");
    FUZZ_CHECK(fc_frame_encode(f, version, buf, need) == need, "%s: sizing and writing differ", t);
    *size = need;
    return buf;
}

static void check_roundtrip(const fc_frame_t *f, const uint8_t *frame, size_t size)
{
    const char *t = fc_type_name(f->type);
    const char *why = NULL;
    fc_frame_t q;

    /* At its own version: the very same bytes. */
    size_t n;
    uint8_t *buf = encode_alloc(f, f->version, &n);
    FUZZ_CHECK(n == size && memcmp(buf, frame, size) == 0,
               "%s (version %u, %zu bytes) re-encodes differently (%zu bytes)", t, f->version, size,
               n);
    int64_t rc = fc_frame_decode(buf, n, UINT32_MAX, &q, &why);
    FUZZ_CHECK(rc == (int64_t)n, "re-encoded %s decodes to %lld: %s", t, (long long)rc,
               rc < 0 ? why : "length differs");
    check_frames_equal(f, &q, true);
    free(buf);

    /* A DELIVER built with host-order ids encodes the same. */
    if (f->type == FC_T_DELIVER && f->deliver.n_sub_ids) {
        uint32_t ids[255];
        for (unsigned i = 0; i < f->deliver.n_sub_ids; i++)
            ids[i] = fc_deliver_sub_id(f, i);
        fc_frame_t h = *f;
        h.deliver.sub_ids = NULL;
        h.deliver.sub_ids_host = ids;
        buf = encode_alloc(&h, f->version, &n);
        FUZZ_CHECK(n == size && memcmp(buf, frame, size) == 0,
                   "DELIVER: host ids encode differently");
        free(buf);
    }

    /* At the other version: msg_id comes and goes, nothing else changes.
     * The protocol 4 frames exist from version 4 on: below, no encoding. */
    if (f->type == FC_T_NODE_LOAD || f->type == FC_T_REBALANCE) {
        FUZZ_CHECK(fc_frame_encode(f, 3, NULL, 0) == 0, "%s encodes at version 3", t);
        return;
    }
    uint8_t other = f->version >= 2 ? 1 : 2;
    buf = encode_alloc(f, other, &n);
    size_t want = has_msg(f->type) ? (other == 1 ? size - 8 : size + 8) : size;
    FUZZ_CHECK(n == want, "%s at version %u: %zu bytes, expected %zu", t, other, n, want);
    rc = fc_frame_decode(buf, n, UINT32_MAX, &q, &why);
    FUZZ_CHECK(rc == (int64_t)n, "%s at version %u decodes to %lld: %s", t, other, (long long)rc,
               rc < 0 ? why : "length differs");
    FUZZ_CHECK(q.version == other, "version %u", q.version);
    check_frames_equal(f, &q, !has_msg(f->type) || f->version < 2);
    free(buf);
}

/* ---- prefixes ---- */

/* The first k bytes in a buffer of exactly k bytes (ASan sees any read past
 * them) give the whole stream's answer once they hold the frame, need-more
 * before; a refusal may come early but must be the same one. */
static void check_prefix(const uint8_t *p, size_t k, uint32_t max_body, int64_t full,
                         const char *full_why, const fc_frame_t *whole)
{
    uint8_t *copy = malloc(k ? k : 1);
    FUZZ_CHECK(copy != NULL, "malloc");
    if (k)
        memcpy(copy, p, k);
    fc_frame_t f;
    const char *why = NULL;
    int64_t rc = fc_frame_decode(copy, k, max_body, &f, &why);
    if (full > 0 && k >= (size_t)full) {
        FUZZ_CHECK(rc == full, "%zu bytes holding a %lld-byte frame decode to %lld", k,
                   (long long)full, (long long)rc);
        check_frames_equal(whole, &f, true);
    } else if (full >= 0) {
        FUZZ_CHECK(rc == FC_NEED_MORE, "a %zu-byte prefix of a %lld-byte frame decodes to %lld", k,
                   (long long)full, (long long)rc);
    } else {
        FUZZ_CHECK(rc == FC_NEED_MORE || (rc == -1 && why == full_why),
                   "a %zu-byte prefix decodes to %lld (%s), the whole to -1 (%s)", k, (long long)rc,
                   rc < 0 && why ? why : "", full_why);
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    uint32_t max_body = max_bodies[sel & 7];
    size_t split_seed = (size_t)(sel >> 3) << 8 | data[size - 1];
    const uint8_t *stream = data + 1;
    size_t len = size - 1, off = 0;

    while (off < len) {
        const uint8_t *p = stream + off;
        size_t n = len - off;
        fc_frame_t f;
        const char *why = NULL;
        int64_t rc = fc_frame_decode(p, n, max_body, &f, &why);
        FUZZ_CHECK(rc >= -1, "fc_frame_decode returned %lld", (long long)rc);
        FUZZ_CHECK(rc != -1 || why != NULL, "refused without a reason");
        if (rc == FC_NEED_MORE)
            FUZZ_CHECK(n < FC_HEADER_LEN || n - FC_HEADER_LEN < fc_frame_body_len(p),
                       "need more with a whole frame of %u body bytes in %zu", fc_frame_body_len(p),
                       n);

        check_prefix(p, split_seed % (n + 1), max_body, rc, why, &f);
        if (rc <= 0)
            break;

        FUZZ_CHECK((uint64_t)rc == FC_HEADER_LEN + (uint64_t)fc_frame_body_len(p),
                   "used %lld of a frame of %u body bytes", (long long)rc, fc_frame_body_len(p));
        FUZZ_CHECK(fc_frame_body_len(p) <= max_body, "body over max_body %u", max_body);
        /* Need-more is decided from the header, so every prefix is cheap. */
        for (size_t k = 0; k < (size_t)rc; k++) {
            fc_frame_t g;
            FUZZ_CHECK(fc_frame_decode(p, k, max_body, &g, &why) == FC_NEED_MORE,
                       "a %zu-byte prefix of a %lld-byte frame is not need-more", k, (long long)rc);
        }
        check_prefix(p, (size_t)rc - 1, max_body, rc, NULL, &f);
        check_prefix(p, (size_t)rc, max_body, rc, NULL, &f);

        walk_frame(&f, p, (size_t)rc);
        check_roundtrip(&f, p, (size_t)rc);
        off += (size_t)rc;
        split_seed = split_seed * 31 + 7;
    }
    return 0;
}
