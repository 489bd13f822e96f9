/*
 * The cluster link codec (src/cluster/frame.h). Golden vectors are written
 * by hand from the layout in frame.h, one comment per field with the body
 * length summed, never produced by our encoder; each is decoded field by
 * field, encoded from a hand-built fc_frame_t and compared byte for byte,
 * and decoded at every truncated prefix. Then: round trips of every type at
 * every version (NODE_LOAD and REBALANCE exist from version 4 on: below it
 * they do not encode and are refused in a header), streams, limits, and a
 * table of frames the decoder must refuse with the reason it must name.
 */
#include "check.h"
#include "cluster/frame.h"

/* ---- helpers ---- */

#define B(s) FMQ_BYTES(s)
#define Z8 0, 0, 0, 0, 0, 0, 0, 0

static bool same_bytes(fmq_bytes_t a, fmq_bytes_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static bool bytes_is(fmq_bytes_t a, const char *s)
{
    return same_bytes(a, fmq_cstr(s));
}

static const char *msg_diff(const fc_msg_t *a, const fc_msg_t *b)
{
    if (a->flags != b->flags)
        return "msg.flags";
    if (a->expiry != b->expiry)
        return "msg.expiry";
    if (a->created_ms != b->created_ms)
        return "msg.created_ms";
    if (a->msg_id != b->msg_id)
        return "msg.msg_id";
    if (!same_bytes(a->topic, b->topic))
        return "msg.topic";
    if (!same_bytes(a->props, b->props))
        return "msg.props";
    if (!same_bytes(a->payload, b->payload))
        return "msg.payload";
    if (!same_bytes(a->origin, b->origin))
        return "msg.origin";
    return NULL;
}

static const char *list_diff(const fc_list_t *a, const fc_list_t *b)
{
    if (a->count != b->count)
        return "list.count";
    if (!same_bytes(a->raw, b->raw))
        return "list.raw";
    return NULL;
}

/* The first field in which two frames of the same type differ (the type's
 * fields only; version is the header's business), or NULL. */
static const char *frame_diff(const fc_frame_t *a, const fc_frame_t *b)
{
    if (a->type != b->type)
        return "type";
    switch (a->type) {
    case FC_T_HELLO:
        if (a->hello.proto_min != b->hello.proto_min || a->hello.proto_max != b->hello.proto_max)
            return "hello.proto";
        if (!same_bytes(a->hello.cluster, b->hello.cluster) ||
            !same_bytes(a->hello.node, b->hello.node))
            return "hello.cluster/node";
        if (a->hello.incarnation != b->hello.incarnation)
            return "hello.incarnation";
        if (!same_bytes(a->hello.nonce, b->hello.nonce))
            return "hello.nonce";
        if (!same_bytes(a->hello.client_addr, b->hello.client_addr) ||
            !same_bytes(a->hello.cluster_addr, b->hello.cluster_addr))
            return "hello.addr";
        return NULL;
    case FC_T_AUTH:
        return same_bytes(a->auth.mac, b->auth.mac) ? NULL : "auth.mac";
    case FC_T_ERROR:
        if (a->error.code != b->error.code)
            return "error.code";
        return same_bytes(a->error.text, b->error.text) ? NULL : "error.text";
    case FC_T_PING:
    case FC_T_PONG:
        return a->ping.time == b->ping.time ? NULL : "ping.time";
    case FC_T_MEMBERS:
    case FC_T_ROUTE_ADD:
    case FC_T_ROUTE_DEL:
        return list_diff(&a->list, &b->list);
    case FC_T_SYNC_END:
        if (a->sync_end.routes != b->sync_end.routes || a->sync_end.claims != b->sync_end.claims ||
            a->sync_end.retained != b->sync_end.retained)
            return "sync_end";
        return NULL;
    case FC_T_PUBLISH: {
        const char *d = msg_diff(&a->publish.msg, &b->publish.msg);
        return d ? d : list_diff(&a->publish.shared, &b->publish.shared);
    }
    case FC_T_CLAIM:
    case FC_T_RELEASE:
    case FC_T_STUB_END:
        if (a->type == FC_T_CLAIM && a->claim.flags != b->claim.flags)
            return "claim.flags";
        if (a->claim.stamp != b->claim.stamp)
            return "claim.stamp";
        return same_bytes(a->claim.client_id, b->claim.client_id) ? NULL : "claim.client_id";
    case FC_T_SESSION:
        if (a->session.status != b->session.status || a->session.flags != b->session.flags)
            return "session.status/flags";
        if (a->session.stamp != b->session.stamp)
            return "session.stamp";
        if (!same_bytes(a->session.client_id, b->session.client_id))
            return "session.client_id";
        return same_bytes(a->session.blob, b->session.blob) ? NULL : "session.blob";
    case FC_T_SESSION_ACK:
        if (a->session_ack.ok != b->session_ack.ok || a->session_ack.stamp != b->session_ack.stamp)
            return "session_ack.ok/stamp";
        return same_bytes(a->session_ack.client_id, b->session_ack.client_id)
                   ? NULL
                   : "session_ack.client_id";
    case FC_T_DELIVER:
        if (!same_bytes(a->deliver.client_id, b->deliver.client_id))
            return "deliver.client_id";
        if (a->deliver.qos != b->deliver.qos || a->deliver.retain != b->deliver.retain)
            return "deliver.qos/retain";
        if (a->deliver.n_sub_ids != b->deliver.n_sub_ids)
            return "deliver.n_sub_ids";
        for (unsigned i = 0; i < a->deliver.n_sub_ids; i++)
            if (fc_deliver_sub_id(a, i) != fc_deliver_sub_id(b, i))
                return "deliver.sub_ids";
        return msg_diff(&a->deliver.msg, &b->deliver.msg);
    case FC_T_LEAVE:
        return same_bytes(a->leave.reason, b->leave.reason) ? NULL : "leave.reason";
    case FC_T_NODE_LOAD:
        if (a->load.connections != b->load.connections)
            return "load.connections";
        if (a->load.sessions != b->load.sessions)
            return "load.sessions";
        if (a->load.offline_sessions != b->load.offline_sessions)
            return "load.offline_sessions";
        if (a->load.pending_connects != b->load.pending_connects)
            return "load.pending_connects";
        if (a->load.connack_count != b->load.connack_count)
            return "load.connack_count";
        if (a->load.connack_mean_ms != b->load.connack_mean_ms)
            return "load.connack_mean_ms";
        if (a->load.connack_max_ms != b->load.connack_max_ms)
            return "load.connack_max_ms";
        if (a->load.agent != b->load.agent)
            return "load.agent";
        if (a->load.flags != b->load.flags)
            return "load.flags";
        return same_bytes(a->load.status, b->load.status) ? NULL : "load.status";
    case FC_T_REBALANCE: {
        if (a->rebal.op != b->rebal.op)
            return "rebal.op";
        if (a->rebal.lease_ms != b->rebal.lease_ms)
            return "rebal.lease_ms";
        if (a->rebal.conns != b->rebal.conns)
            return "rebal.conns";
        if (a->rebal.sessions != b->rebal.sessions)
            return "rebal.sessions";
        const char *d = list_diff(&a->rebal.recipients, &b->rebal.recipients);
        if (d)
            return d;
        return same_bytes(a->rebal.info, b->rebal.info) ? NULL : "rebal.info";
    }
    default:
        return "unknown type";
    }
}

/* Every proper prefix, each in a heap buffer of exactly its size (so ASan
 * sees any read past it), must be "need more". Returns the first prefix
 * length that was not, or -1. */
static long first_bad_prefix(const uint8_t *p, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        uint8_t *copy = malloc(k ? k : 1);
        if (!copy)
            abort();
        memcpy(copy, p, k);
        fc_frame_t f;
        const char *why = NULL;
        int64_t rc = fc_frame_decode(copy, k, UINT32_MAX, &f, &why);
        free(copy);
        if (rc != FC_NEED_MORE)
            return (long)k;
    }
    return -1;
}

/* Encodes f at `version`: the size, the bytes against `golden`, and that a
 * buffer one byte short reports the size without writing anything. */
static void check_encode(const fc_frame_t *f, uint8_t version, const uint8_t *golden, size_t n)
{
    CHECK_EQ_INT(fc_frame_encode(f, version, NULL, 0), n);
    uint8_t *buf = malloc(n + 1);
    if (!buf)
        abort();
    memset(buf, 0xEE, n + 1);
    CHECK_EQ_INT(fc_frame_encode(f, version, buf, n - 1), n);
    bool untouched = true;
    for (size_t i = 0; i < n + 1; i++)
        untouched = untouched && buf[i] == 0xEE;
    CHECK(untouched);
    size_t got = fc_frame_encode(f, version, buf, n + 1);
    CHECK_EQ_BYTES(buf, got, golden, n);
    free(buf);
}

/* Decodes a whole golden; every golden must also decode with max_body set
 * to exactly its body length and be refused one byte below that. */
static bool decode_golden(const uint8_t *p, size_t n, fc_frame_t *f)
{
    const char *why = NULL;
    int64_t rc = fc_frame_decode(p, n, UINT32_MAX, f, &why);
    if (!CHECK_EQ_INT(rc, n)) {
        CHECK_EQ_STR(why, "(no error)");
        return false;
    }
    uint32_t body = (uint32_t)(n - FC_HEADER_LEN);
    CHECK_EQ_INT(fc_frame_body_len(p), body);
    fc_frame_t g;
    CHECK_EQ_INT(fc_frame_decode(p, n, body, &g, &why), n);
    CHECK_EQ_INT(fc_frame_decode(p, n, body - 1, &g, &why), -1);
    CHECK_EQ_INT(first_bad_prefix(p, n), -1);
    CHECK_EQ_INT(f->version, p[2]);
    CHECK_EQ_INT(f->type, p[3]);
    return true;
}

/* ---- golden vectors ---- */

static const uint8_t hello_v2[] = {
    'F', 'C', 0x02, 0x01, 0x00, 0x00, 0x00, 0x2E, /* v2 HELLO, body 46 */
    0x01, 0x02,                                   /* proto_min 1, proto_max 2 (2) */
    0x00, 0x02, 'c', '1',                         /* cluster "c1" (4) */
    0x00, 0x02, 'n', '1',                         /* node "n1" (4) */
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* incarnation (8) */
    0x00, 0x10,                                   /* nonce: 16 bytes (18) */
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
    0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F,
    0x00, 0x03, 'h', ':', '1',                    /* client_addr "h:1" (5) */
    0x00, 0x03, 'h', ':', '2',                    /* cluster_addr "h:2" (5) */
};
/* 2 + 4 + 4 + 8 + 18 + 5 + 5 = 46 */

static const uint8_t auth_v1[] = {
    'F', 'C', 0x01, 0x02, 0x00, 0x00, 0x00, 0x22, /* v1 AUTH, body 34 */
    0x00, 0x20,                                   /* mac: 32 bytes (34) */
    0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7,
    0xA8, 0xA9, 0xAA, 0xAB, 0xAC, 0xAD, 0xAE, 0xAF,
    0xB0, 0xB1, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7,
    0xB8, 0xB9, 0xBA, 0xBB, 0xBC, 0xBD, 0xBE, 0xBF,
};

static const uint8_t error_v1[] = {
    'F', 'C', 0x01, 0x03, 0x00, 0x00, 0x00, 0x06, /* v1 ERROR, body 6 */
    0x03,                                         /* code FC_ERR_VERSION (1) */
    0x00, 0x03, 'v', 'e', 'r',                    /* text "ver" (5) */
};

static const uint8_t ping_v2[] = {
    'F', 'C', 0x02, 0x04, 0x00, 0x00, 0x00, 0x08, /* v2 PING, body 8 */
    0x00, 0x00, 0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x00, /* time 1700000000000 (8) */
};

static const uint8_t route_add_v2[] = {
    'F', 'C', 0x02, 0x07, 0x00, 0x00, 0x00, 0x0C, /* v2 ROUTE_ADD, body 12 */
    0x00, 0x02,                                   /* count 2 (2) */
    0x00, 0x03, 'a', '/', '+',                    /* "a/+" (5) */
    0x00, 0x03, 'b', '/', '#',                    /* "b/#" (5) */
};

static const uint8_t members_v1[] = {
    'F', 'C', 0x01, 0x06, 0x00, 0x00, 0x00, 0x14, /* v1 MEMBERS, body 20 */
    0x00, 0x02,                                   /* 2 pairs (2) */
    0x00, 0x02, 'n', '1',                         /* node "n1" (4) */
    0x00, 0x03, 'h', ':', '1',                    /* cluster_addr "h:1" (5) */
    0x00, 0x02, 'n', '2',                         /* node "n2" (4) */
    0x00, 0x03, 'h', ':', '2',                    /* cluster_addr "h:2" (5) */
};

static const uint8_t sync_end_v1[] = {
    'F', 'C', 0x01, 0x09, 0x00, 0x00, 0x00, 0x0C, /* v1 SYNC_END, body 12 */
    0x00, 0x00, 0x00, 0x05,                       /* routes 5 (4) */
    0x00, 0x01, 0x00, 0x00,                       /* claims 65536 (4) */
    0xFF, 0xFF, 0xFF, 0xFF,                       /* retained 4294967295 (4) */
};

/* PUBLISH at version 1: no msg_id. */
static const uint8_t publish_v1[] = {
    'F', 'C', 0x01, 0x0A, 0x00, 0x00, 0x00, 0x30, /* v1 PUBLISH, body 48 */
    0x1D,                                         /* QoS 1, retain, has_expiry, deliver (1) */
    0x00, 0x00, 0x00, 0x3C,                       /* expiry 60 (4) */
    0x00, 0x00, 0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x00, /* created_ms (8) */
    0x00, 0x03, 't', '/', '1',                    /* topic "t/1" (5) */
    0x00, 0x00, 0x00, 0x02, 0x01, 0x01,           /* props: Payload Format 1 (6) */
    0x00, 0x00, 0x00, 0x02, 'h', 'i',             /* payload "hi" (6) */
    0x00, 0x02, 'n', '1',                         /* origin "n1" (4) */
    0x00, 0x01,                                   /* 1 shared filter (2) */
    0x00, 0x0A, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 't', /* (12) */
};
/* 1 + 4 + 8 + 5 + 6 + 6 + 4 + 2 + 12 = 48 */

/* The same message at version 2: msg_id after created_ms. */
static const uint8_t publish_v2[] = {
    'F', 'C', 0x02, 0x0A, 0x00, 0x00, 0x00, 0x38, /* v2 PUBLISH, body 56 */
    0x1D,                                         /* flags (1) */
    0x00, 0x00, 0x00, 0x3C,                       /* expiry 60 (4) */
    0x00, 0x00, 0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x00, /* created_ms (8) */
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, /* msg_id (8) */
    0x00, 0x03, 't', '/', '1',                    /* topic (5) */
    0x00, 0x00, 0x00, 0x02, 0x01, 0x01,           /* props (6) */
    0x00, 0x00, 0x00, 0x02, 'h', 'i',             /* payload (6) */
    0x00, 0x02, 'n', '1',                         /* origin (4) */
    0x00, 0x01,                                   /* 1 shared filter (2) */
    0x00, 0x0A, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 't', /* (12) */
};
/* 48 + 8 = 56 */

static const uint8_t claim_v2[] = {
    'F', 'C', 0x02, 0x0B, 0x00, 0x00, 0x00, 0x0E, /* v2 CLAIM, body 14 */
    0x03,                                         /* WANT_SESSION | SYNC (1) */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, /* stamp 258 (8) */
    0x00, 0x03, 'c', 'i', 'd',                    /* client_id "cid" (5) */
};

static const uint8_t release_v1[] = {
    'F', 'C', 0x01, 0x0C, 0x00, 0x00, 0x00, 0x0D, /* v1 RELEASE, body 13 */
    0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, /* stamp 2^63 + 1 (8) */
    0x00, 0x03, 'c', 'i', 'd',                    /* client_id (5) */
};

static const uint8_t session_v2[] = {
    'F', 'C', 0x02, 0x0D, 0x00, 0x00, 0x00, 0x17, /* v2 SESSION, body 23 */
    0x00,                                         /* status DATA (1) */
    0x01,                                         /* flags MIGRATE (1) */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, /* stamp 259 (8) */
    0x00, 0x03, 'c', 'i', 'd',                    /* client_id (5) */
    0x00, 0x00, 0x00, 0x04, 0xDE, 0xAD, 0xBE, 0xEF, /* blob (8) */
};
/* 1 + 1 + 8 + 5 + 8 = 23 */

static const uint8_t session_ack_v1[] = {
    'F', 'C', 0x01, 0x0E, 0x00, 0x00, 0x00, 0x0E, /* v1 SESSION_ACK, body 14 */
    0x01,                                         /* ok (1) */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, /* stamp 259 (8) */
    0x00, 0x03, 'c', 'i', 'd',                    /* client_id (5) */
};

static const uint8_t deliver_v2[] = {
    'F', 'C', 0x02, 0x0F, 0x00, 0x00, 0x00, 0x33, /* v2 DELIVER, body 51 */
    0x00, 0x03, 'c', 'i', 'd',                    /* client_id (5) */
    0x01,                                         /* qos 1 (1) */
    0x00,                                         /* retain 0 (1) */
    0x02,                                         /* 2 subscription ids (1) */
    0x00, 0x00, 0x00, 0x01,                       /* 1 (4) */
    0x00, 0x01, 0x02, 0x03,                       /* 66051 (4) */
    0x01,                                         /* message: QoS 1 (1) */
    0x00, 0x00, 0x00, 0x00,                       /* expiry 0 (4) */
    0x00, 0x00, 0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x00, /* created_ms (8) */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, /* msg_id 9 (8) */
    0x00, 0x01, 't',                              /* topic "t" (3) */
    0x00, 0x00, 0x00, 0x00,                       /* props: none (4) */
    0x00, 0x00, 0x00, 0x01, 'x',                  /* payload "x" (5) */
    0x00, 0x00,                                   /* origin "" (2) */
};
/* 5 + 1 + 1 + 1 + 8 = 16; message 1 + 4 + 8 + 8 + 3 + 4 + 5 + 2 = 35; 51 */

static const uint8_t leave_v1[] = {
    'F', 'C', 0x01, 0x10, 0x00, 0x00, 0x00, 0x06, /* v1 LEAVE, body 6 */
    0x00, 0x04, 'b', 'y', 'e', '!',               /* reason "bye!" (6) */
};

/* Version 4 only. */
static const uint8_t node_load_v4[] = {
    'F', 'C', 0x04, 0x12, 0x00, 0x00, 0x00, 0x29, /* v4 NODE_LOAD, body 41 */
    0x00, 0x00, 0x03, 0xE8,                       /* connections 1000 (4) */
    0x00, 0x01, 0x11, 0x70,                       /* sessions 70000 (4) */
    0x00, 0x00, 0x00, 0x05,                       /* offline_sessions 5 (4) */
    0x00, 0x00, 0x00, 0x03,                       /* pending_connects 3 (4) */
    0x00, 0x00, 0x01, 0x02,                       /* connack_count 258 (4) */
    0x00, 0x00, 0x00, 0x0C,                       /* connack_mean_ms 12 (4) */
    0xFF, 0xFF, 0xFF, 0xFF,                       /* connack_max_ms 4294967295 (4) */
    0x02,                                         /* agent REBALANCE (1) */
    0x01,                                         /* flags AVAILABLE (1) */
    0x00, 0x00, 0x00, 0x07, '{', '"', 's', '"', ':', '1', '}', /* status (11) */
};
/* 7 * 4 + 1 + 1 + 11 = 41; agent at offset 36, flags 37, status length 38..41 */

static const uint8_t rebalance_v4[] = {
    'F', 'C', 0x04, 0x13, 0x00, 0x00, 0x00, 0x23, /* v4 REBALANCE, body 35 */
    0x03,                                         /* op SESSIONS (1) */
    0x00, 0x00, 0x75, 0x30,                       /* lease_ms 30000 (4) */
    0x00, 0x00, 0x00, 0x10,                       /* conns 16 (4) */
    0x00, 0x00, 0x01, 0xF4,                       /* sessions 500 (4) */
    0x00, 0x02,                                   /* 2 recipients (2) */
    0x00, 0x02, 'n', '2',                         /* "n2" (4) */
    0x00, 0x02, 'n', '3',                         /* "n3" (4) */
    0x00, 0x00, 0x00, 0x08, '{', '"', 'i', 'd', '"', ':', '7', '}', /* info (12) */
};
/* 1 + 4 + 4 + 4 + 2 + 4 + 4 + 12 = 35; op at offset 8, count 21..22, the
 * first recipient's length 23..24, info length 31..34 */

static const uint8_t nonce16[16] = {0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
                                    0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F};
static const uint8_t mac32[32] = {
    0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xAB, 0xAC, 0xAD, 0xAE, 0xAF,
    0xB0, 0xB1, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xBB, 0xBC, 0xBD, 0xBE, 0xBF};

/* ---- decode and encode each golden ---- */

static void test_hello(void)
{
    fc_frame_t f;
    if (!decode_golden(hello_v2, sizeof hello_v2, &f))
        return;
    CHECK_EQ_INT(f.hello.proto_min, 1);
    CHECK_EQ_INT(f.hello.proto_max, 2);
    CHECK(bytes_is(f.hello.cluster, "c1"));
    CHECK(bytes_is(f.hello.node, "n1"));
    CHECK_EQ_HEX(f.hello.incarnation, 0x0102030405060708ull);
    CHECK_EQ_BYTES(f.hello.nonce.ptr, f.hello.nonce.len, nonce16, 16);
    CHECK(f.hello.nonce.ptr == hello_v2 + 28); /* borrowed, not copied */
    CHECK(bytes_is(f.hello.client_addr, "h:1"));
    CHECK(bytes_is(f.hello.cluster_addr, "h:2"));

    fc_frame_t e = {.type = FC_T_HELLO};
    e.hello.proto_min = 1;
    e.hello.proto_max = 2;
    e.hello.cluster = B("c1");
    e.hello.node = B("n1");
    e.hello.incarnation = 0x0102030405060708ull;
    e.hello.nonce = (fmq_bytes_t){nonce16, 16};
    e.hello.client_addr = B("h:1");
    e.hello.cluster_addr = B("h:2");
    check_encode(&e, 2, hello_v2, sizeof hello_v2);
}

static void test_auth(void)
{
    fc_frame_t f;
    if (!decode_golden(auth_v1, sizeof auth_v1, &f))
        return;
    CHECK_EQ_BYTES(f.auth.mac.ptr, f.auth.mac.len, mac32, 32);
    fc_frame_t e = {.type = FC_T_AUTH};
    e.auth.mac = (fmq_bytes_t){mac32, 32};
    check_encode(&e, 1, auth_v1, sizeof auth_v1);
}

static void test_error(void)
{
    fc_frame_t f;
    if (!decode_golden(error_v1, sizeof error_v1, &f))
        return;
    CHECK_EQ_INT(f.error.code, FC_ERR_VERSION);
    CHECK(bytes_is(f.error.text, "ver"));
    fc_frame_t e = {.type = FC_T_ERROR};
    e.error.code = FC_ERR_VERSION;
    e.error.text = B("ver");
    check_encode(&e, 1, error_v1, sizeof error_v1);
}

static void test_ping(void)
{
    fc_frame_t f;
    if (!decode_golden(ping_v2, sizeof ping_v2, &f))
        return;
    CHECK_EQ_INT(f.ping.time, 1700000000000ll);
    fc_frame_t e = {.type = FC_T_PING};
    e.ping.time = 1700000000000ull;
    check_encode(&e, 2, ping_v2, sizeof ping_v2);

    /* PONG is PING with type 5. */
    uint8_t pong[sizeof ping_v2];
    memcpy(pong, ping_v2, sizeof pong);
    pong[3] = FC_T_PONG;
    e.type = FC_T_PONG;
    check_encode(&e, 2, pong, sizeof pong);
}

static void test_route_add(void)
{
    fc_frame_t f;
    if (!decode_golden(route_add_v2, sizeof route_add_v2, &f))
        return;
    CHECK_EQ_INT(f.list.count, 2);
    CHECK_EQ_BYTES(f.list.raw.ptr, f.list.raw.len, route_add_v2 + 10, 10);
    uint32_t pos = 0;
    fmq_bytes_t item;
    REQUIRE(fc_list_next(&f.list, &pos, &item));
    CHECK(bytes_is(item, "a/+"));
    REQUIRE(fc_list_next(&f.list, &pos, &item));
    CHECK(bytes_is(item, "b/#"));
    CHECK(!fc_list_next(&f.list, &pos, &item));
    CHECK_EQ_INT(pos, 10);

    fc_frame_t e = {.type = FC_T_ROUTE_ADD};
    e.list.count = 2;
    e.list.raw = (fmq_bytes_t){(const uint8_t *)"\0\3a/+\0\3b/#", 10};
    check_encode(&e, 2, route_add_v2, sizeof route_add_v2);
    /* ROUTE_DEL has the same body. */
    uint8_t del[sizeof route_add_v2];
    memcpy(del, route_add_v2, sizeof del);
    del[3] = FC_T_ROUTE_DEL;
    e.type = FC_T_ROUTE_DEL;
    check_encode(&e, 2, del, sizeof del);
}

static void test_members(void)
{
    fc_frame_t f;
    if (!decode_golden(members_v1, sizeof members_v1, &f))
        return;
    CHECK_EQ_INT(f.list.count, 2); /* pairs, not str16 items */
    static const char *const want[4] = {"n1", "h:1", "n2", "h:2"};
    uint32_t pos = 0;
    fmq_bytes_t item;
    for (int i = 0; i < 4; i++) {
        REQUIRE(fc_list_next(&f.list, &pos, &item));
        CHECK(bytes_is(item, want[i]));
    }
    CHECK(!fc_list_next(&f.list, &pos, &item));

    uint8_t raw[32];
    size_t used = 0;
    for (int i = 0; i < 4; i++)
        REQUIRE(fc_list_put(raw, sizeof raw, &used, fmq_cstr(want[i])));
    fc_frame_t e = {.type = FC_T_MEMBERS};
    e.list.count = 2;
    e.list.raw = (fmq_bytes_t){raw, (uint32_t)used};
    check_encode(&e, 1, members_v1, sizeof members_v1);
}

static void test_sync_end(void)
{
    fc_frame_t f;
    if (!decode_golden(sync_end_v1, sizeof sync_end_v1, &f))
        return;
    CHECK_EQ_INT(f.sync_end.routes, 5);
    CHECK_EQ_INT(f.sync_end.claims, 65536);
    CHECK_EQ_HEX(f.sync_end.retained, 0xFFFFFFFFu);
    fc_frame_t e = {.type = FC_T_SYNC_END};
    e.sync_end.routes = 5;
    e.sync_end.claims = 65536;
    e.sync_end.retained = UINT32_MAX;
    check_encode(&e, 1, sync_end_v1, sizeof sync_end_v1);
}

static fc_frame_t publish_frame(void)
{
    fc_frame_t e = {.type = FC_T_PUBLISH};
    e.publish.msg.flags = 1 | FC_MSG_RETAIN | FC_MSG_HAS_EXPIRY | FC_MSG_DELIVER;
    e.publish.msg.expiry = 60;
    e.publish.msg.created_ms = 1700000000000ull;
    e.publish.msg.msg_id = 0x1122334455667788ull;
    e.publish.msg.topic = B("t/1");
    e.publish.msg.props = B("\x01\x01");
    e.publish.msg.payload = B("hi");
    e.publish.msg.origin = B("n1");
    e.publish.shared.count = 1;
    e.publish.shared.raw = B("\0\x0a$share/g/t");
    return e;
}

static void check_publish_fields(const fc_frame_t *f)
{
    CHECK_EQ_HEX(f->publish.msg.flags, 0x1D);
    CHECK_EQ_INT(f->publish.msg.flags & FC_MSG_QOS_MASK, 1);
    CHECK_EQ_INT(f->publish.msg.expiry, 60);
    CHECK_EQ_INT(f->publish.msg.created_ms, 1700000000000ll);
    CHECK(bytes_is(f->publish.msg.topic, "t/1"));
    CHECK_EQ_BYTES(f->publish.msg.props.ptr, f->publish.msg.props.len, "\x01\x01", 2);
    CHECK(bytes_is(f->publish.msg.payload, "hi"));
    CHECK(bytes_is(f->publish.msg.origin, "n1"));
    CHECK_EQ_INT(f->publish.shared.count, 1);
    uint32_t pos = 0;
    fmq_bytes_t item;
    CHECK(fc_list_next(&f->publish.shared, &pos, &item) && bytes_is(item, "$share/g/t"));
    CHECK(!fc_list_next(&f->publish.shared, &pos, &item));
}

static void test_publish_v1(void)
{
    fc_frame_t f;
    if (!decode_golden(publish_v1, sizeof publish_v1, &f))
        return;
    check_publish_fields(&f);
    CHECK_EQ_INT(f.publish.msg.msg_id, 0);
    /* Version 1 has no msg_id: the encoder leaves it out. */
    fc_frame_t e = publish_frame();
    check_encode(&e, 1, publish_v1, sizeof publish_v1);
}

static void test_publish_v2(void)
{
    fc_frame_t f;
    if (!decode_golden(publish_v2, sizeof publish_v2, &f))
        return;
    check_publish_fields(&f);
    CHECK_EQ_HEX(f.publish.msg.msg_id, 0x1122334455667788ull);
    fc_frame_t e = publish_frame();
    check_encode(&e, 2, publish_v2, sizeof publish_v2);

    /* A later version reads its body as version 2 does. */
    uint8_t v3[sizeof publish_v2];
    memcpy(v3, publish_v2, sizeof v3);
    v3[2] = 3;
    const char *why = NULL;
    CHECK_EQ_INT(fc_frame_decode(v3, sizeof v3, UINT32_MAX, &f, &why), sizeof v3);
    CHECK_EQ_INT(f.version, 3);
    CHECK_EQ_HEX(f.publish.msg.msg_id, 0x1122334455667788ull);
    check_encode(&e, 3, v3, sizeof v3);
}

static void test_claim_release(void)
{
    fc_frame_t f;
    if (decode_golden(claim_v2, sizeof claim_v2, &f)) {
        CHECK_EQ_INT(f.claim.flags, FC_CLAIM_WANT_SESSION | FC_CLAIM_SYNC);
        CHECK_EQ_INT(f.claim.stamp, 258);
        CHECK(bytes_is(f.claim.client_id, "cid"));
    }
    fc_frame_t e = {.type = FC_T_CLAIM};
    e.claim.flags = FC_CLAIM_WANT_SESSION | FC_CLAIM_SYNC;
    e.claim.stamp = 258;
    e.claim.client_id = B("cid");
    check_encode(&e, 2, claim_v2, sizeof claim_v2);

    if (decode_golden(release_v1, sizeof release_v1, &f)) {
        CHECK_EQ_HEX(f.claim.stamp, 0x8000000000000001ull);
        CHECK(bytes_is(f.claim.client_id, "cid"));
        CHECK_EQ_INT(f.claim.flags, 0);
    }
    fc_frame_t r = {.type = FC_T_RELEASE};
    r.claim.flags = 3; /* not on the wire for RELEASE */
    r.claim.stamp = 0x8000000000000001ull;
    r.claim.client_id = B("cid");
    check_encode(&r, 1, release_v1, sizeof release_v1);
}

static void test_session(void)
{
    fc_frame_t f;
    if (decode_golden(session_v2, sizeof session_v2, &f)) {
        CHECK_EQ_INT(f.session.status, FC_SESS_DATA);
        CHECK_EQ_INT(f.session.flags, FC_SESSF_MIGRATE);
        CHECK_EQ_INT(f.session.stamp, 259);
        CHECK(bytes_is(f.session.client_id, "cid"));
        CHECK_EQ_BYTES(f.session.blob.ptr, f.session.blob.len, "\xDE\xAD\xBE\xEF", 4);
    }
    fc_frame_t e = {.type = FC_T_SESSION};
    e.session.status = FC_SESS_DATA;
    e.session.flags = FC_SESSF_MIGRATE;
    e.session.stamp = 259;
    e.session.client_id = B("cid");
    e.session.blob = B("\xDE\xAD\xBE\xEF");
    check_encode(&e, 2, session_v2, sizeof session_v2);

    if (decode_golden(session_ack_v1, sizeof session_ack_v1, &f)) {
        CHECK_EQ_INT(f.session_ack.ok, 1);
        CHECK_EQ_INT(f.session_ack.stamp, 259);
        CHECK(bytes_is(f.session_ack.client_id, "cid"));
    }
    fc_frame_t a = {.type = FC_T_SESSION_ACK};
    a.session_ack.ok = 1;
    a.session_ack.stamp = 259;
    a.session_ack.client_id = B("cid");
    check_encode(&a, 1, session_ack_v1, sizeof session_ack_v1);
}

static void test_deliver(void)
{
    fc_frame_t f;
    if (!decode_golden(deliver_v2, sizeof deliver_v2, &f))
        return;
    CHECK(bytes_is(f.deliver.client_id, "cid"));
    CHECK_EQ_INT(f.deliver.qos, 1);
    CHECK_EQ_INT(f.deliver.retain, 0);
    REQUIRE_EQ_INT(f.deliver.n_sub_ids, 2);
    CHECK(f.deliver.sub_ids == deliver_v2 + 16);
    CHECK(f.deliver.sub_ids_host == NULL);
    CHECK_EQ_INT(fc_deliver_sub_id(&f, 0), 1);
    CHECK_EQ_INT(fc_deliver_sub_id(&f, 1), 0x00010203);
    CHECK_EQ_INT(f.deliver.msg.flags, 1);
    CHECK_EQ_INT(f.deliver.msg.expiry, 0);
    CHECK_EQ_INT(f.deliver.msg.created_ms, 1700000000000ll);
    CHECK_EQ_INT(f.deliver.msg.msg_id, 9);
    CHECK(bytes_is(f.deliver.msg.topic, "t"));
    CHECK_EQ_INT(f.deliver.msg.props.len, 0);
    CHECK(bytes_is(f.deliver.msg.payload, "x"));
    CHECK_EQ_INT(f.deliver.msg.origin.len, 0);

    static const uint32_t ids[2] = {1, 0x00010203};
    fc_frame_t e = {.type = FC_T_DELIVER};
    e.deliver.client_id = B("cid");
    e.deliver.qos = 1;
    e.deliver.n_sub_ids = 2;
    e.deliver.sub_ids_host = ids;
    e.deliver.msg.flags = 1;
    e.deliver.msg.created_ms = 1700000000000ull;
    e.deliver.msg.msg_id = 9;
    e.deliver.msg.topic = B("t");
    e.deliver.msg.payload = B("x");
    check_encode(&e, 2, deliver_v2, sizeof deliver_v2);
    CHECK_EQ_INT(fc_deliver_sub_id(&e, 1), 0x00010203);
    /* A decoded DELIVER (wire-order ids only) forwards unchanged. */
    check_encode(&f, 2, deliver_v2, sizeof deliver_v2);
}

static void test_leave(void)
{
    fc_frame_t f;
    if (!decode_golden(leave_v1, sizeof leave_v1, &f))
        return;
    CHECK(bytes_is(f.leave.reason, "bye!"));
    fc_frame_t e = {.type = FC_T_LEAVE};
    e.leave.reason = B("bye!");
    check_encode(&e, 1, leave_v1, sizeof leave_v1);
}

/* The golden with its header's version byte replaced, decoded: the body
 * reads the same at every version from 4 on. */
static bool decode_as(const uint8_t *golden, size_t n, uint8_t version, uint8_t *copy,
                      fc_frame_t *f)
{
    memcpy(copy, golden, n);
    copy[2] = version;
    const char *why = NULL;
    int64_t rc = fc_frame_decode(copy, n, UINT32_MAX, f, &why);
    if (!CHECK_EQ_INT(rc, n)) {
        printf("    %s at version %u: %s\n", fc_type_name(golden[3]), version, why ? why : "");
        return false;
    }
    return CHECK_EQ_INT(f->version, version);
}

static void check_node_load_fields(const fc_frame_t *f)
{
    CHECK_EQ_INT(f->load.connections, 1000);
    CHECK_EQ_INT(f->load.sessions, 70000);
    CHECK_EQ_INT(f->load.offline_sessions, 5);
    CHECK_EQ_INT(f->load.pending_connects, 3);
    CHECK_EQ_INT(f->load.connack_count, 258);
    CHECK_EQ_INT(f->load.connack_mean_ms, 12);
    CHECK_EQ_HEX(f->load.connack_max_ms, 0xFFFFFFFFu);
    CHECK_EQ_INT(f->load.agent, FC_AGENT_REBALANCE);
    CHECK_EQ_INT(f->load.flags, FC_LOADF_AVAILABLE);
    CHECK(bytes_is(f->load.status, "{\"s\":1}"));
}

static void test_node_load(void)
{
    fc_frame_t f;
    if (!decode_golden(node_load_v4, sizeof node_load_v4, &f))
        return;
    check_node_load_fields(&f);
    CHECK(f.load.status.ptr == node_load_v4 + 42); /* borrowed, not copied */

    fc_frame_t e = {.type = FC_T_NODE_LOAD};
    e.load.connections = 1000;
    e.load.sessions = 70000;
    e.load.offline_sessions = 5;
    e.load.pending_connects = 3;
    e.load.connack_count = 258;
    e.load.connack_mean_ms = 12;
    e.load.connack_max_ms = UINT32_MAX;
    e.load.agent = FC_AGENT_REBALANCE;
    e.load.flags = FC_LOADF_AVAILABLE;
    e.load.status = B("{\"s\":1}");
    check_encode(&e, 4, node_load_v4, sizeof node_load_v4);
    /* A decoded frame encodes back to the golden. */
    check_encode(&f, 4, node_load_v4, sizeof node_load_v4);

    /* Version 255 has the same body; versions 1..3 have no NODE_LOAD. */
    uint8_t v255[sizeof node_load_v4];
    if (decode_as(node_load_v4, sizeof node_load_v4, 255, v255, &f))
        check_node_load_fields(&f);
    check_encode(&e, 255, v255, sizeof v255);
    for (uint8_t v = 0; v < 4; v++)
        CHECK_EQ_INT(fc_frame_encode(&e, v, v255, sizeof v255), 0);
}

static void check_rebalance_fields(const fc_frame_t *f)
{
    CHECK_EQ_INT(f->rebal.op, FC_REBAL_SESSIONS);
    CHECK_EQ_INT(f->rebal.lease_ms, 30000);
    CHECK_EQ_INT(f->rebal.conns, 16);
    CHECK_EQ_INT(f->rebal.sessions, 500);
    CHECK_EQ_INT(f->rebal.recipients.count, 2);
    uint32_t pos = 0;
    fmq_bytes_t item;
    REQUIRE(fc_list_next(&f->rebal.recipients, &pos, &item));
    CHECK(bytes_is(item, "n2"));
    REQUIRE(fc_list_next(&f->rebal.recipients, &pos, &item));
    CHECK(bytes_is(item, "n3"));
    CHECK(!fc_list_next(&f->rebal.recipients, &pos, &item));
    CHECK_EQ_INT(pos, 8);
    CHECK(bytes_is(f->rebal.info, "{\"id\":7}"));
}

static void test_rebalance(void)
{
    fc_frame_t f;
    if (!decode_golden(rebalance_v4, sizeof rebalance_v4, &f))
        return;
    check_rebalance_fields(&f);
    CHECK_EQ_BYTES(f.rebal.recipients.raw.ptr, f.rebal.recipients.raw.len, rebalance_v4 + 23, 8);
    CHECK(f.rebal.info.ptr == rebalance_v4 + 35);

    uint8_t raw[16];
    size_t used = 0;
    REQUIRE(fc_list_put(raw, sizeof raw, &used, B("n2")));
    REQUIRE(fc_list_put(raw, sizeof raw, &used, B("n3")));
    fc_frame_t e = {.type = FC_T_REBALANCE};
    e.rebal.op = FC_REBAL_SESSIONS;
    e.rebal.lease_ms = 30000;
    e.rebal.conns = 16;
    e.rebal.sessions = 500;
    e.rebal.recipients = (fc_list_t){2, {raw, (uint32_t)used}};
    e.rebal.info = B("{\"id\":7}");
    check_encode(&e, 4, rebalance_v4, sizeof rebalance_v4);
    check_encode(&f, 4, rebalance_v4, sizeof rebalance_v4);

    uint8_t v255[sizeof rebalance_v4];
    if (decode_as(rebalance_v4, sizeof rebalance_v4, 255, v255, &f))
        check_rebalance_fields(&f);
    check_encode(&e, 255, v255, sizeof v255);
    for (uint8_t v = 0; v < 4; v++)
        CHECK_EQ_INT(fc_frame_encode(&e, v, v255, sizeof v255), 0);
}

/* ---- round trips ---- */

/* One frame of each type with every field set to something non-zero. */
static fc_frame_t sample(uint8_t type)
{
    static const uint32_t ids[3] = {7, 0x10000, UINT32_MAX};
    fc_frame_t f = {.type = type};
    fc_msg_t *m = type == FC_T_PUBLISH ? &f.publish.msg : &f.deliver.msg;
    switch (type) {
    case FC_T_HELLO:
        f.hello.proto_min = 1;
        f.hello.proto_max = 7;
        f.hello.cluster = B("prod");
        f.hello.node = B("node-a");
        f.hello.incarnation = 0xFEDCBA9876543210ull;
        f.hello.nonce = B("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        f.hello.client_addr = B("10.0.0.1:1883");
        f.hello.cluster_addr = B("10.0.0.1:7946");
        break;
    case FC_T_AUTH:
        f.auth.mac = (fmq_bytes_t){mac32, 32};
        break;
    case FC_T_ERROR:
        f.error.code = FC_ERR_PROTOCOL;
        f.error.text = B("unexpected frame");
        break;
    case FC_T_PING:
    case FC_T_PONG:
        f.ping.time = 0x0102030405060708ull;
        break;
    case FC_T_MEMBERS:
        f.list.count = 1;
        f.list.raw = B("\0\2n2\0\x0d" "10.0.0.2:7946");
        break;
    case FC_T_ROUTE_ADD:
    case FC_T_ROUTE_DEL:
        f.list.count = 3;
        f.list.raw = B("\0\3a/b\0\0\0\1#");
        break;
    case FC_T_SYNC_END:
        f.sync_end.routes = 1;
        f.sync_end.claims = 2;
        f.sync_end.retained = 3;
        break;
    case FC_T_PUBLISH:
    case FC_T_DELIVER:
        m->flags = 2 | FC_MSG_STORE_RETAINED | FC_MSG_DELIVER;
        m->expiry = 3600;
        m->created_ms = 1;
        m->msg_id = 0xABCDEF;
        m->topic = B("a/b/c");
        m->props = B("\x03\x00\x04json");
        m->payload = B("payload\0with\0nuls");
        m->origin = B("node-a");
        if (type == FC_T_PUBLISH) {
            f.publish.shared.count = 2;
            f.publish.shared.raw = B("\0\x0c$share/g/a/b\0\x0a$share/h/#");
        } else {
            f.deliver.client_id = B("client-1");
            f.deliver.qos = 2;
            f.deliver.retain = 1;
            f.deliver.n_sub_ids = 3;
            f.deliver.sub_ids_host = ids;
        }
        break;
    case FC_T_CLAIM:
        f.claim.flags = FC_CLAIM_SYNC;
        /* fall through */
    case FC_T_RELEASE:
    case FC_T_STUB_END:
        f.claim.stamp = 42;
        f.claim.client_id = B("client-1");
        break;
    case FC_T_SESSION:
        f.session.status = FC_SESS_DATA;
        f.session.flags = 0;
        f.session.stamp = 43;
        f.session.client_id = B("client-1");
        f.session.blob = B("serialized session");
        break;
    case FC_T_SESSION_ACK:
        f.session_ack.ok = 0;
        f.session_ack.stamp = 44;
        f.session_ack.client_id = B("client-1");
        break;
    case FC_T_LEAVE:
        f.leave.reason = B("shutdown");
        break;
    case FC_T_NODE_LOAD:
        f.load.connections = 1;
        f.load.sessions = 2;
        f.load.offline_sessions = 3;
        f.load.pending_connects = 4;
        f.load.connack_count = 5;
        f.load.connack_mean_ms = 6;
        f.load.connack_max_ms = 7;
        f.load.agent = FC_AGENT_EVACUATION;
        f.load.flags = FC_LOADF_AVAILABLE;
        f.load.status = B("{\"evacuation\":\"running\"}");
        break;
    case FC_T_REBALANCE:
        f.rebal.op = FC_REBAL_SESSIONS;
        f.rebal.lease_ms = 30000;
        f.rebal.conns = 100;
        f.rebal.sessions = 200;
        f.rebal.recipients.count = 2;
        f.rebal.recipients.raw = B("\0\2n2\0\x0anode-three");
        f.rebal.info = B("{\"id\":\"r1\"}");
        break;
    }
    return f;
}

/* Types that exist from protocol 4 on only. */
static bool since_v4(uint8_t type)
{
    return type == FC_T_NODE_LOAD || type == FC_T_REBALANCE;
}

static void test_roundtrip_every_type(void)
{
    static const uint8_t versions[] = {1, 2, 3, 4, 255};
    for (uint8_t type = 1; type <= FC_T_MAX_; type++) {
        fc_frame_t in = sample(type);
        size_t sizes[sizeof versions] = {0};
        for (size_t vi = 0; vi < sizeof versions; vi++) {
            uint8_t v = versions[vi];
            uint8_t buf[512];
            memset(buf, 0xEE, sizeof buf);
            size_t n = fc_frame_encode(&in, v, buf, sizeof buf);
            sizes[vi] = n;
            if (since_v4(type) && v < 4) {
                /* Neither measured nor written. */
                if (!CHECK_EQ_INT(n, 0) || !CHECK_EQ_INT(fc_frame_encode(&in, v, NULL, 0), 0))
                    printf("    %s at version %u encodes\n", fc_type_name(type), v);
                CHECK_EQ_HEX(buf[0], 0xEE);
                continue;
            }
            if (!CHECK(n > FC_HEADER_LEN && n <= sizeof buf)) {
                printf("    %s at version %u encodes to %zu\n", fc_type_name(type), v, n);
                continue;
            }
            CHECK_EQ_INT(fc_frame_encode(&in, v, NULL, 0), n);
            fc_frame_t out;
            const char *why = NULL;
            int64_t rc = fc_frame_decode(buf, n, UINT32_MAX, &out, &why);
            if (!CHECK_EQ_INT(rc, n)) {
                printf("    %s at version %u: %s\n", fc_type_name(type), v, why);
                continue;
            }
            CHECK_EQ_INT(out.version, v);
            fc_frame_t want = in;
            /* The union: only a message has a msg_id to lose. */
            if (v < 2 && type == FC_T_PUBLISH)
                want.publish.msg.msg_id = 0;
            if (v < 2 && type == FC_T_DELIVER)
                want.deliver.msg.msg_id = 0;
            const char *d = frame_diff(&want, &out);
            if (d)
                printf("    %s at version %u differs\n", fc_type_name(type), v);
            CHECK_EQ_STR(d, NULL);
            CHECK_EQ_INT(first_bad_prefix(buf, n), -1);

            /* Re-encoding the decoded frame gives the same bytes. */
            uint8_t again[512];
            size_t m = fc_frame_encode(&out, v, again, sizeof again);
            CHECK_EQ_BYTES(again, m, buf, n);
        }
        if (since_v4(type)) {
            CHECK_EQ_INT(sizes[4], sizes[3]);
            continue;
        }
        /* Only the message carries a version-dependent field. */
        bool has_msg = type == FC_T_PUBLISH || type == FC_T_DELIVER;
        CHECK_EQ_INT(sizes[1] - sizes[0], has_msg ? 8 : 0);
        CHECK_EQ_INT(sizes[2], sizes[1]);
        CHECK_EQ_INT(sizes[3], sizes[1]);
        CHECK_EQ_INT(sizes[4], sizes[1]);
    }
}

/* frame_diff must see a change in every field of the new frames, or the
 * round trip above could not fail for them. */
static void test_frame_diff_new_types(void)
{
    fc_frame_t a = sample(FC_T_NODE_LOAD), b;
    CHECK_EQ_STR(frame_diff(&a, &a), NULL);
    static const char *const load_fields[] = {
        "load.connections",      "load.sessions",      "load.offline_sessions",
        "load.pending_connects", "load.connack_count", "load.connack_mean_ms",
        "load.connack_max_ms",   "load.agent",         "load.flags",
        "load.status",
    };
    for (int i = 0; i < 10; i++) {
        b = a;
        switch (i) {
        case 0: b.load.connections++; break;
        case 1: b.load.sessions++; break;
        case 2: b.load.offline_sessions++; break;
        case 3: b.load.pending_connects++; break;
        case 4: b.load.connack_count++; break;
        case 5: b.load.connack_mean_ms++; break;
        case 6: b.load.connack_max_ms++; break;
        case 7: b.load.agent++; break;
        case 8: b.load.flags = 0; break;
        case 9: b.load.status.len--; break;
        }
        CHECK_EQ_STR(frame_diff(&a, &b), load_fields[i]);
    }
    /* Same length, other bytes. */
    b = a;
    b.load.status = B("{\"evacuation\":\"stopped\"}");
    CHECK_EQ_STR(frame_diff(&a, &b), "load.status");

    a = sample(FC_T_REBALANCE);
    CHECK_EQ_STR(frame_diff(&a, &a), NULL);
    static const char *const rebal_fields[] = {
        "rebal.op",       "rebal.lease_ms", "rebal.conns", "rebal.sessions",
        "list.count",     "list.raw",       "rebal.info",
    };
    for (int i = 0; i < 7; i++) {
        b = a;
        switch (i) {
        case 0: b.rebal.op = FC_REBAL_STOP; break;
        case 1: b.rebal.lease_ms++; break;
        case 2: b.rebal.conns++; break;
        case 3: b.rebal.sessions++; break;
        case 4: b.rebal.recipients.count = 1; break;
        case 5: b.rebal.recipients.raw = B("\0\2n2\0\x0anode-thref"); break;
        case 6: b.rebal.info = B("{\"id\":\"r2\"}"); break;
        }
        CHECK_EQ_STR(frame_diff(&a, &b), rebal_fields[i]);
    }
    b = sample(FC_T_NODE_LOAD);
    CHECK_EQ_STR(frame_diff(&a, &b), "type");
}

static void test_msg_id_dropped_at_v1(void)
{
    fc_frame_t in = publish_frame();
    uint8_t buf[128];
    size_t n = fc_frame_encode(&in, 1, buf, sizeof buf);
    CHECK_EQ_BYTES(buf, n, publish_v1, sizeof publish_v1);
    fc_frame_t out;
    const char *why = NULL;
    REQUIRE_EQ_INT(fc_frame_decode(buf, n, UINT32_MAX, &out, &why), n);
    CHECK_EQ_INT(out.publish.msg.msg_id, 0);
}

/* ---- streams and limits ---- */

static void test_back_to_back(void)
{
    static const struct {
        const uint8_t *p;
        size_t n;
    } parts[] = {
        {ping_v2, sizeof ping_v2},       {publish_v1, sizeof publish_v1},
        {members_v1, sizeof members_v1}, {deliver_v2, sizeof deliver_v2},
        {publish_v2, sizeof publish_v2}, {hello_v2, sizeof hello_v2},
        {node_load_v4, sizeof node_load_v4}, {rebalance_v4, sizeof rebalance_v4},
    };
    uint8_t stream[512];
    size_t total = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        memcpy(stream + total, parts[i].p, parts[i].n);
        total += parts[i].n;
    }
    size_t off = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        fc_frame_t f;
        const char *why = NULL;
        int64_t rc = fc_frame_decode(stream + off, total - off, 4096, &f, &why);
        REQUIRE_EQ_INT(rc, parts[i].n);
        CHECK_EQ_INT(f.type, parts[i].p[3]);
        CHECK_EQ_INT(f.version, parts[i].p[2]);
        if (f.type == FC_T_DELIVER)
            CHECK_EQ_INT(fc_deliver_sub_id(&f, 1), 0x00010203);
        if (f.type == FC_T_NODE_LOAD)
            check_node_load_fields(&f);
        if (f.type == FC_T_REBALANCE)
            check_rebalance_fields(&f);
        /* With the next frame cut anywhere, this one still decodes alone. */
        if (total - off > parts[i].n + 1) {
            CHECK_EQ_INT(fc_frame_decode(stream + off, parts[i].n + 1, 4096, &f, &why), rc);
        }
        off += (size_t)rc;
    }
    CHECK_EQ_INT(off, total);
    fc_frame_t f;
    const char *why = NULL;
    CHECK_EQ_INT(fc_frame_decode(stream + off, 0, 4096, &f, &why), FC_NEED_MORE);
}

static void test_max_body(void)
{
    fc_frame_t f;
    const char *why = NULL;
    /* 64 KiB announced, 64 KiB - 1 allowed: refused from the 8 header bytes. */
    static const uint8_t big[] = {'F', 'C', 1, FC_T_PUBLISH, 0x00, 0x01, 0x00, 0x00};
    CHECK_EQ_INT(fc_frame_decode(big, sizeof big, 0xFFFF, &f, &why), -1);
    CHECK(why && strstr(why, "max_body"));
    /* At the limit it is just incomplete. */
    CHECK_EQ_INT(fc_frame_decode(big, sizeof big, 0x10000, &f, &why), FC_NEED_MORE);
    /* Seven header bytes cannot say anything about the length yet. */
    CHECK_EQ_INT(fc_frame_decode(big, 7, 0xFFFF, &f, &why), FC_NEED_MORE);
    /* The largest length does not overflow anything. */
    static const uint8_t huge[] = {'F', 'C', 1, FC_T_LEAVE, 0xFF, 0xFF, 0xFF, 0xFF};
    CHECK_EQ_INT(fc_frame_decode(huge, sizeof huge, UINT32_MAX, &f, &why), FC_NEED_MORE);
    CHECK_EQ_INT(fc_frame_decode(huge, sizeof huge, UINT32_MAX - 1, &f, &why), -1);
    CHECK_EQ_HEX(fc_frame_body_len(huge), 0xFFFFFFFFu);
    /* A whole frame over the limit is refused too, not decoded. */
    CHECK_EQ_INT(fc_frame_decode(ping_v2, sizeof ping_v2, 7, &f, &why), -1);
    CHECK_EQ_INT(fc_frame_decode(ping_v2, sizeof ping_v2, 8, &f, &why), sizeof ping_v2);
}

static void test_header_refused_early(void)
{
    fc_frame_t f;
    const char *why = NULL;
    CHECK_EQ_INT(fc_frame_decode((const uint8_t *)"G", 1, 100, &f, &why), -1);
    CHECK(why && strstr(why, "magic"));
    CHECK_EQ_INT(fc_frame_decode((const uint8_t *)"FX", 2, 100, &f, &why), -1);
    CHECK_EQ_INT(fc_frame_decode((const uint8_t *)"FC\0", 3, 100, &f, &why), -1);
    CHECK(why && strstr(why, "version"));
    CHECK_EQ_INT(fc_frame_decode((const uint8_t *)"FC\1\x14", 4, 100, &f, &why), -1);
    CHECK(why && strstr(why, "type"));
    /* NODE_LOAD and REBALANCE are known types: a version below 4 is the
     * body's business, judged once the body is there. */
    CHECK_EQ_INT(fc_frame_decode((const uint8_t *)"FC\3\x12", 4, 100, &f, &why), FC_NEED_MORE);
    CHECK_EQ_INT(fc_frame_decode((const uint8_t *)"FC\1\x13", 4, 100, &f, &why), FC_NEED_MORE);
    CHECK_EQ_INT(fc_frame_decode((const uint8_t *)"FC\xff\x10", 4, 100, &f, &why), FC_NEED_MORE);
    /* A NULL why is allowed. */
    CHECK_EQ_INT(fc_frame_decode((const uint8_t *)"G", 1, 100, &f, NULL), -1);
}

/* ---- frames that must decode: the edges of every range ---- */

typedef struct vec {
    const char *name;
    const char *why; /* a word the refusal must contain; NULL: any reason */
    const uint8_t *p;
    size_t n;
} vec_t;

/* A version 1 message with empty fields (25 bytes): flags (1), expiry (4),
 * created_ms (8), topic (2), props (4), payload (4), origin (2). */
#define MSG_V1_EMPTY(flags) flags, 0, 0, 0, 0, Z8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0

/* A NODE_LOAD body with zero counters (34 bytes): seven u32 (28), agent (1),
 * flags (1), an empty status (4). */
#define LOAD_BODY(agent, flags) Z8, Z8, Z8, 0, 0, 0, 0, agent, flags, 0, 0, 0, 0

/* The start of a REBALANCE body (13 bytes): op (1), lease_ms, conns and
 * sessions (12); the recipients and info follow. */
#define REBAL_HEAD(op) op, Z8, 0, 0, 0, 0

#define VEC(name, why, ...)                                                                    \
    {name, why, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})}

static const vec_t good[] = {
    VEC("PING at version 255", NULL, 'F', 'C', 255, 4, 0, 0, 0, 8, Z8),
    VEC("nonce 16 bytes", NULL, 'F', 'C', 1, 1, 0, 0, 0, 36, 1, 1, 0, 0, 0, 0, Z8, 0, 16, Z8, Z8,
        0, 0, 0, 0),
    VEC("nonce 64 bytes", NULL, 'F', 'C', 1, 1, 0, 0, 0, 84, 1, 1, 0, 0, 0, 0, Z8, 0, 64, Z8, Z8,
        Z8, Z8, Z8, Z8, Z8, Z8, 0, 0, 0, 0),
    VEC("HELLO proto 255..255", NULL, 'F', 'C', 1, 1, 0, 0, 0, 36, 255, 255, 0, 0, 0, 0, Z8, 0,
        16, Z8, Z8, 0, 0, 0, 0),
    VEC("ERROR code 1", NULL, 'F', 'C', 1, 3, 0, 0, 0, 3, 1, 0, 0),
    VEC("ERROR code 5", NULL, 'F', 'C', 1, 3, 0, 0, 0, 3, 5, 0, 0),
    VEC("ROUTE_ADD empty", NULL, 'F', 'C', 1, 7, 0, 0, 0, 2, 0, 0),
    VEC("ROUTE_DEL one empty filter", NULL, 'F', 'C', 1, 8, 0, 0, 0, 4, 0, 1, 0, 0),
    VEC("MEMBERS empty", NULL, 'F', 'C', 2, 6, 0, 0, 0, 2, 0, 0),
    VEC("SESSION NONE, empty blob", NULL, 'F', 'C', 1, 13, 0, 0, 0, 16, 1, 0, Z8, 0, 0, 0, 0, 0,
        0),
    VEC("SESSION SUPERSEDED, MIGRATE", NULL, 'F', 'C', 1, 13, 0, 0, 0, 16, 2, 1, Z8, 0, 0, 0, 0,
        0, 0),
    VEC("SESSION DATA, empty blob", NULL, 'F', 'C', 1, 13, 0, 0, 0, 16, 0, 0, Z8, 0, 0, 0, 0, 0,
        0),
    VEC("SESSION_ACK ok 0", NULL, 'F', 'C', 1, 14, 0, 0, 0, 11, 0, Z8, 0, 0),
    VEC("CLAIM flags 0", NULL, 'F', 'C', 1, 11, 0, 0, 0, 11, 0, Z8, 0, 0),
    VEC("DELIVER no ids, QoS 2, retain", NULL, 'F', 'C', 1, 15, 0, 0, 0, 30, 0, 0, 2, 1, 0,
        MSG_V1_EMPTY(0x26)),
    VEC("PUBLISH all flags bits 0-5", NULL, 'F', 'C', 1, 10, 0, 0, 0, 27, 0x3E, 0, 0, 0, 0, Z8,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    VEC("LEAVE empty reason", NULL, 'F', 'C', 1, 16, 0, 0, 0, 2, 0, 0),
    VEC("NODE_LOAD all zero", NULL, 'F', 'C', 4, 18, 0, 0, 0, 34, LOAD_BODY(0, 0)),
    VEC("NODE_LOAD agent EVACUATION", NULL, 'F', 'C', 4, 18, 0, 0, 0, 34, LOAD_BODY(1, 0)),
    VEC("NODE_LOAD agent 2, AVAILABLE, version 255", NULL, 'F', 'C', 255, 18, 0, 0, 0, 34,
        LOAD_BODY(2, 1)),
    VEC("NODE_LOAD counters at their maximum", NULL, 'F', 'C', 4, 18, 0, 0, 0, 35, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 1, '{'),
    VEC("REBALANCE PREPARE, nothing else", NULL, 'F', 'C', 4, 19, 0, 0, 0, 19, REBAL_HEAD(1), 0,
        0, 0, 0, 0, 0),
    VEC("REBALANCE CONNS", NULL, 'F', 'C', 4, 19, 0, 0, 0, 19, REBAL_HEAD(2), 0, 0, 0, 0, 0, 0),
    VEC("REBALANCE STOP at version 255", NULL, 'F', 'C', 255, 19, 0, 0, 0, 19, REBAL_HEAD(4), 0,
        0, 0, 0, 0, 0),
    VEC("REBALANCE one empty recipient", NULL, 'F', 'C', 4, 19, 0, 0, 0, 21, REBAL_HEAD(3), 0, 1,
        0, 0, 0, 0, 0, 0),
};

static void test_good_edges(void)
{
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        fc_frame_t f;
        const char *why = NULL;
        int64_t rc = fc_frame_decode(good[i].p, good[i].n, UINT32_MAX, &f, &why);
        if (!CHECK_EQ_INT(rc, good[i].n))
            printf("    %s: %s\n", good[i].name, why ? why : "");
        else if (!CHECK_EQ_INT(first_bad_prefix(good[i].p, good[i].n), -1))
            printf("    %s\n", good[i].name);
        if (rc <= 0)
            continue;
        /* And the encoder writes the same bytes back. */
        uint8_t buf[128];
        size_t n = fc_frame_encode(&f, f.version, buf, sizeof buf);
        if (!CHECK_EQ_BYTES(buf, n, good[i].p, good[i].n))
            printf("    %s\n", good[i].name);
    }
}

/* ---- frames that must be refused ---- */

static const vec_t bad[] = {
    VEC("bad magic 'FX'", "magic", 'F', 'X', 1, 4, 0, 0, 0, 8, Z8),
    VEC("bad magic 'CF'", "magic", 'C', 'F', 1, 4, 0, 0, 0, 8, Z8),
    VEC("version 0", "version", 'F', 'C', 0, 4, 0, 0, 0, 8, Z8),
    VEC("type 0", "type", 'F', 'C', 1, 0, 0, 0, 0, 8, Z8),
    VEC("type 20", "type", 'F', 'C', 4, 20, 0, 0, 0, 8, Z8),
    VEC("type 255", "type", 'F', 'C', 2, 255, 0, 0, 0, 8, Z8),
    VEC("PING body empty", "past the end", 'F', 'C', 1, 4, 0, 0, 0, 0),
    VEC("PING body 7 bytes", "past the end", 'F', 'C', 1, 4, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0),
    VEC("PING trailing byte", "trailing", 'F', 'C', 1, 4, 0, 0, 0, 9, Z8, 0),
    VEC("RELEASE trailing byte", "trailing", 'F', 'C', 1, 12, 0, 0, 0, 11, Z8, 0, 0, 0xAA),
    VEC("SYNC_END 11 bytes", "past the end", 'F', 'C', 1, 9, 0, 0, 0, 11, Z8, 0, 0, 0),
    VEC("LEAVE str16 past body", "past the end", 'F', 'C', 1, 16, 0, 0, 0, 4, 0, 5, 'a', 'b'),
    VEC("ROUTE_ADD count 3, 2 items", "list count", 'F', 'C', 2, 7, 0, 0, 0, 12, 0, 3, 0, 3, 'a',
        '/', '+', 0, 3, 'b', '/', '#'),
    VEC("ROUTE_DEL count 1, 2 items", "trailing", 'F', 'C', 2, 8, 0, 0, 0, 12, 0, 1, 0, 3, 'a',
        '/', '+', 0, 3, 'b', '/', '#'),
    VEC("ROUTE_ADD count 0, 1 item", "trailing", 'F', 'C', 1, 7, 0, 0, 0, 5, 0, 0, 0, 1, 'a'),
    VEC("ROUTE_ADD item past body", "list count", 'F', 'C', 1, 7, 0, 0, 0, 5, 0, 1, 0, 2, 'a'),
    VEC("MEMBERS count 2, 3 items", "list count", 'F', 'C', 1, 6, 0, 0, 0, 15, 0, 2, 0, 2, 'n',
        '1', 0, 3, 'h', ':', '1', 0, 2, 'n', '2'),
    VEC("MEMBERS count 1, 2 pairs", "trailing", 'F', 'C', 1, 6, 0, 0, 0, 20, 0, 1, 0, 2, 'n', '1',
        0, 3, 'h', ':', '1', 0, 2, 'n', '2', 0, 3, 'h', ':', '2'),
    VEC("MEMBERS count 4 (items, not pairs)", "list count", 'F', 'C', 1, 6, 0, 0, 0, 20, 0, 4, 0,
        2, 'n', '1', 0, 3, 'h', ':', '1', 0, 2, 'n', '2', 0, 3, 'h', ':', '2'),
    VEC("AUTH mac 31 bytes", "mac", 'F', 'C', 1, 2, 0, 0, 0, 33, 0, 31, Z8, Z8, Z8, 0, 0, 0, 0, 0,
        0, 0),
    VEC("AUTH mac 33 bytes", "mac", 'F', 'C', 1, 2, 0, 0, 0, 35, 0, 33, Z8, Z8, Z8, Z8, 0),
    VEC("AUTH mac empty", "mac", 'F', 'C', 1, 2, 0, 0, 0, 2, 0, 0),
    VEC("HELLO nonce 15 bytes", "nonce", 'F', 'C', 1, 1, 0, 0, 0, 35, 1, 1, 0, 0, 0, 0, Z8, 0, 15,
        Z8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    VEC("HELLO nonce 65 bytes", "nonce", 'F', 'C', 1, 1, 0, 0, 0, 85, 1, 1, 0, 0, 0, 0, Z8, 0, 65,
        Z8, Z8, Z8, Z8, Z8, Z8, Z8, Z8, 0, 0, 0, 0, 0),
    VEC("HELLO proto_min > proto_max", "proto_min", 'F', 'C', 1, 1, 0, 0, 0, 36, 3, 2, 0, 0, 0, 0,
        Z8, 0, 16, Z8, Z8, 0, 0, 0, 0),
    VEC("HELLO proto_min 0", "proto_min", 'F', 'C', 1, 1, 0, 0, 0, 36, 0, 2, 0, 0, 0, 0, Z8, 0,
        16, Z8, Z8, 0, 0, 0, 0),
    VEC("ERROR code 0", "code", 'F', 'C', 1, 3, 0, 0, 0, 3, 0, 0, 0),
    VEC("ERROR code 6", "code", 'F', 'C', 1, 3, 0, 0, 0, 3, 6, 0, 0),
    VEC("SESSION status 3", "status", 'F', 'C', 1, 13, 0, 0, 0, 16, 3, 0, Z8, 0, 0, 0, 0, 0, 0),
    VEC("SESSION flags bit 1", "SESSION flags", 'F', 'C', 1, 13, 0, 0, 0, 16, 0, 2, Z8, 0, 0, 0,
        0, 0, 0),
    VEC("SESSION flags bit 7", "SESSION flags", 'F', 'C', 1, 13, 0, 0, 0, 16, 0, 0x81, Z8, 0, 0,
        0, 0, 0, 0),
    VEC("SESSION NONE with a blob", "blob", 'F', 'C', 1, 13, 0, 0, 0, 17, 1, 0, Z8, 0, 0, 0, 0, 0,
        1, 0x55),
    VEC("SESSION SUPERSEDED with a blob", "blob", 'F', 'C', 1, 13, 0, 0, 0, 17, 2, 0, Z8, 0, 0, 0,
        0, 0, 1, 0x55),
    VEC("SESSION blob length 2^32-1", "past the end", 'F', 'C', 1, 13, 0, 0, 0, 16, 0, 0, Z8, 0, 0,
        0xFF, 0xFF, 0xFF, 0xFF),
    VEC("SESSION_ACK ok 2", "ok", 'F', 'C', 1, 14, 0, 0, 0, 11, 2, Z8, 0, 0),
    VEC("CLAIM flags bit 2", "CLAIM flags", 'F', 'C', 1, 11, 0, 0, 0, 11, 4, Z8, 0, 0),
    VEC("CLAIM flags 0x83", "CLAIM flags", 'F', 'C', 1, 11, 0, 0, 0, 11, 0x83, Z8, 0, 0),
    VEC("DELIVER QoS 3", "QoS", 'F', 'C', 1, 15, 0, 0, 0, 30, 0, 0, 3, 0, 0, MSG_V1_EMPTY(0)),
    VEC("DELIVER retain 2", "retain", 'F', 'C', 1, 15, 0, 0, 0, 30, 0, 0, 0, 2, 0,
        MSG_V1_EMPTY(0)),
    VEC("DELIVER 1 id but none there", "past the end", 'F', 'C', 1, 15, 0, 0, 0, 5, 0, 0, 0, 0,
        1),
    VEC("DELIVER message QoS 3", "QoS", 'F', 'C', 1, 15, 0, 0, 0, 30, 0, 0, 0, 0, 0,
        MSG_V1_EMPTY(3)),
    VEC("PUBLISH QoS 3", "QoS", 'F', 'C', 1, 10, 0, 0, 0, 27, 0x03, 0, 0, 0, 0, Z8, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0),
    VEC("PUBLISH flag bit 6", "bits 6-7", 'F', 'C', 1, 10, 0, 0, 0, 27, 0x40, 0, 0, 0, 0, Z8, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    VEC("PUBLISH flag bit 7", "bits 6-7", 'F', 'C', 2, 10, 0, 0, 0, 35, 0x80, 0, 0, 0, 0, Z8, Z8,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    VEC("PUBLISH v2 without msg_id", "past the end", 'F', 'C', 2, 10, 0, 0, 0, 27, 0x00, 0, 0, 0,
        0, Z8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    VEC("PUBLISH v1 with msg_id", "trailing", 'F', 'C', 1, 10, 0, 0, 0, 35, 0x00, 0, 0, 0, 0, Z8,
        Z8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    VEC("PUBLISH shared count 1, none", "list count", 'F', 'C', 1, 10, 0, 0, 0, 27, 0x00, 0, 0, 0,
        0, Z8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
    VEC("PUBLISH payload past body", "past the end", 'F', 'C', 1, 10, 0, 0, 0, 27, 0x00, 0, 0, 0,
        0, Z8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0),
    /* NODE_LOAD and REBALANCE: only in a version 4 (or later) header. */
    VEC("NODE_LOAD at version 1", "NODE_LOAD needs protocol version 4", 'F', 'C', 1, 18, 0, 0, 0,
        34, LOAD_BODY(0, 0)),
    VEC("NODE_LOAD at version 3", "NODE_LOAD needs protocol version 4", 'F', 'C', 3, 18, 0, 0, 0,
        34, LOAD_BODY(0, 1)),
    VEC("NODE_LOAD at version 3, empty body", "NODE_LOAD needs protocol version 4", 'F', 'C', 3,
        18, 0, 0, 0, 0),
    VEC("REBALANCE at version 2", "REBALANCE needs protocol version 4", 'F', 'C', 2, 19, 0, 0, 0,
        19, REBAL_HEAD(1), 0, 0, 0, 0, 0, 0),
    VEC("REBALANCE at version 3", "REBALANCE needs protocol version 4", 'F', 'C', 3, 19, 0, 0, 0,
        19, REBAL_HEAD(4), 0, 0, 0, 0, 0, 0),
    VEC("NODE_LOAD agent 3", "NODE_LOAD agent", 'F', 'C', 4, 18, 0, 0, 0, 34, LOAD_BODY(3, 0)),
    VEC("NODE_LOAD agent 255", "NODE_LOAD agent", 'F', 'C', 4, 18, 0, 0, 0, 34,
        LOAD_BODY(255, 1)),
    VEC("NODE_LOAD flags bit 1", "NODE_LOAD flags", 'F', 'C', 4, 18, 0, 0, 0, 34, LOAD_BODY(0, 2)),
    VEC("NODE_LOAD flags bits 0 and 7", "NODE_LOAD flags", 'F', 'C', 4, 18, 0, 0, 0, 34,
        LOAD_BODY(1, 0x81)),
    /* The field checks come before the status is read. */
    VEC("NODE_LOAD agent 3, no status", "NODE_LOAD agent", 'F', 'C', 4, 18, 0, 0, 0, 30, Z8, Z8,
        Z8, 0, 0, 0, 0, 3, 0),
    VEC("REBALANCE op 0", "REBALANCE op", 'F', 'C', 4, 19, 0, 0, 0, 19, REBAL_HEAD(0), 0, 0, 0, 0,
        0, 0),
    VEC("REBALANCE op 5", "REBALANCE op", 'F', 'C', 4, 19, 0, 0, 0, 19, REBAL_HEAD(5), 0, 0, 0, 0,
        0, 0),
    VEC("REBALANCE op 255", "REBALANCE op", 'F', 'C', 255, 19, 0, 0, 0, 19, REBAL_HEAD(255), 0, 0,
        0, 0, 0, 0),
    VEC("REBALANCE op 0, body empty but op", "REBALANCE op", 'F', 'C', 4, 19, 0, 0, 0, 1, 0),
    /* Truncated fields. */
    VEC("NODE_LOAD body empty", "past the end", 'F', 'C', 4, 18, 0, 0, 0, 0),
    VEC("NODE_LOAD cut in sessions", "past the end", 'F', 'C', 4, 18, 0, 0, 0, 6, 0, 0, 0, 1, 0,
        0),
    VEC("NODE_LOAD without flags", "past the end", 'F', 'C', 4, 18, 0, 0, 0, 29, Z8, Z8, Z8, 0, 0,
        0, 0, 1),
    VEC("NODE_LOAD without status", "past the end", 'F', 'C', 4, 18, 0, 0, 0, 30, Z8, Z8, Z8, 0, 0,
        0, 0, 1, 1),
    VEC("NODE_LOAD status length cut", "past the end", 'F', 'C', 4, 18, 0, 0, 0, 32, Z8, Z8, Z8, 0,
        0, 0, 0, 1, 1, 0, 0),
    VEC("NODE_LOAD status 2 bytes, 1 there", "past the end", 'F', 'C', 4, 18, 0, 0, 0, 35, Z8, Z8,
        Z8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, '{'),
    VEC("NODE_LOAD status length 2^32-1", "past the end", 'F', 'C', 4, 18, 0, 0, 0, 34, Z8, Z8, Z8,
        0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF),
    VEC("REBALANCE body empty", "past the end", 'F', 'C', 4, 19, 0, 0, 0, 0),
    VEC("REBALANCE cut in lease_ms", "past the end", 'F', 'C', 4, 19, 0, 0, 0, 3, 1, 0, 0),
    VEC("REBALANCE without recipients", "past the end", 'F', 'C', 4, 19, 0, 0, 0, 13,
        REBAL_HEAD(1)),
    VEC("REBALANCE without info", "past the end", 'F', 'C', 4, 19, 0, 0, 0, 15, REBAL_HEAD(1), 0,
        0),
    VEC("REBALANCE info 2 bytes, 1 there", "past the end", 'F', 'C', 4, 19, 0, 0, 0, 20,
        REBAL_HEAD(2), 0, 0, 0, 0, 0, 2, '{'),
    /* Recipient counts that do not match the items. */
    VEC("REBALANCE count 2, 1 item, no info", "list count", 'F', 'C', 4, 19, 0, 0, 0, 19,
        REBAL_HEAD(3), 0, 2, 0, 2, 'n', '2'),
    VEC("REBALANCE count 1, no item", "list count", 'F', 'C', 4, 19, 0, 0, 0, 15, REBAL_HEAD(3), 0,
        1),
    VEC("REBALANCE count 1, item past body", "list count", 'F', 'C', 4, 19, 0, 0, 0, 18,
        REBAL_HEAD(3), 0, 1, 0, 3, 'n'),
    /* Too small a count leaves an item where info is read: its length
     * prefix and text make a bytes32 length that runs past the body... */
    VEC("REBALANCE count 1, 2 items", "past the end", 'F', 'C', 4, 19, 0, 0, 0, 27,
        REBAL_HEAD(3), 0, 1, 0, 2, 'n', '2', 0, 2, 'n', '3', 0, 0, 0, 0),
    /* ...or, for an empty item, an empty info and trailing bytes. */
    VEC("REBALANCE count 0, 1 empty item", "trailing", 'F', 'C', 4, 19, 0, 0, 0, 21,
        REBAL_HEAD(3), 0, 0, 0, 0, 0, 0, 0, 0),
    /* Trailing bytes. */
    VEC("NODE_LOAD trailing byte", "trailing", 'F', 'C', 4, 18, 0, 0, 0, 35, LOAD_BODY(0, 0), 0),
    VEC("NODE_LOAD status 1 byte, 2 there", "trailing", 'F', 'C', 4, 18, 0, 0, 0, 36, Z8, Z8, Z8,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 1, '{', '}'),
    VEC("REBALANCE trailing byte", "trailing", 'F', 'C', 4, 19, 0, 0, 0, 20, REBAL_HEAD(4), 0, 0,
        0, 0, 0, 0, 0),
};

/* Golden frames with one byte changed. */
typedef struct patch {
    const char *name;
    const char *why;
    const uint8_t *base;
    size_t n;
    size_t at;
    uint8_t value;
} patch_t;

#define PATCH(name, why, base, at, value) {name, why, base, sizeof base, at, value}

static const patch_t patches[] = {
    PATCH("PUBLISH v1 QoS 3", "QoS", publish_v1, 8, 0x1F),
    PATCH("PUBLISH v1 flag bit 6", "bits 6-7", publish_v1, 8, 0x5D),
    PATCH("PUBLISH v1 flag bit 7", "bits 6-7", publish_v1, 8, 0x9D),
    PATCH("PUBLISH v1 body as v2", "past the end", publish_v1, 2, 2),
    PATCH("PUBLISH v2 body as v1", "past the end", publish_v2, 2, 1),
    PATCH("PUBLISH shared count 2 for 1", "list count", publish_v1, 43, 2),
    PATCH("PUBLISH shared count 0 for 1", "trailing", publish_v1, 43, 0),
    PATCH("PUBLISH length one short", "list count", publish_v1, 7, 0x2F),
    PATCH("DELIVER QoS 3", "QoS", deliver_v2, 13, 3),
    PATCH("DELIVER retain 2", "retain", deliver_v2, 14, 2),
    PATCH("DELIVER 3 ids for 2", NULL, deliver_v2, 15, 3),
    PATCH("DELIVER 1 id for 2", NULL, deliver_v2, 15, 1),
    PATCH("DELIVER message flag bit 6", "bits 6-7", deliver_v2, 24, 0x41),
    PATCH("DELIVER origin past body", "past the end", deliver_v2, 58, 1),
    PATCH("SESSION status 3", "status", session_v2, 8, 3),
    PATCH("SESSION NONE with blob", "blob", session_v2, 8, FC_SESS_NONE),
    PATCH("SESSION flags 2", "SESSION flags", session_v2, 9, 2),
    PATCH("SESSION blob one too long", "past the end", session_v2, 26, 5),
    PATCH("SESSION_ACK ok 2", "ok", session_ack_v1, 8, 2),
    PATCH("CLAIM flags 4", "CLAIM flags", claim_v2, 8, 4),
    PATCH("HELLO proto_min 3 > proto_max 2", "proto_min", hello_v2, 8, 3),
    PATCH("HELLO proto_min 0", "proto_min", hello_v2, 8, 0),
    PATCH("HELLO proto_max 0", "proto_min", hello_v2, 9, 0),
    PATCH("HELLO nonce 15", "nonce", hello_v2, 27, 15),
    PATCH("AUTH mac length 31", "mac", auth_v1, 9, 31),
    PATCH("MEMBERS count 3 for 2", "list count", members_v1, 9, 3),
    PATCH("ROUTE_ADD count 1 for 2", "trailing", route_add_v2, 9, 1),
    PATCH("ERROR code 0", "code", error_v1, 8, 0),
    PATCH("ERROR code 6", "code", error_v1, 8, 6),
    PATCH("LEAVE reason one too long", "past the end", leave_v1, 9, 5),
    PATCH("magic", "magic", leave_v1, 0, 'f'),
    PATCH("version 0", "version", leave_v1, 2, 0),
    PATCH("type 0", "type", leave_v1, 3, 0),
    PATCH("type 20", "type", leave_v1, 3, 20),
    PATCH("LEAVE as NODE_LOAD at version 1", "NODE_LOAD needs", leave_v1, 3, FC_T_NODE_LOAD),
    PATCH("NODE_LOAD at version 3", "NODE_LOAD needs", node_load_v4, 2, 3),
    PATCH("NODE_LOAD at version 1", "NODE_LOAD needs", node_load_v4, 2, 1),
    PATCH("NODE_LOAD at version 0", "version", node_load_v4, 2, 0),
    PATCH("NODE_LOAD agent 3", "NODE_LOAD agent", node_load_v4, 36, 3),
    PATCH("NODE_LOAD agent 0x80", "NODE_LOAD agent", node_load_v4, 36, 0x80),
    PATCH("NODE_LOAD flags 2", "NODE_LOAD flags", node_load_v4, 37, 2),
    PATCH("NODE_LOAD flags 3", "NODE_LOAD flags", node_load_v4, 37, 3),
    PATCH("NODE_LOAD flags 0x80", "NODE_LOAD flags", node_load_v4, 37, 0x80),
    PATCH("NODE_LOAD status one too long", "past the end", node_load_v4, 41, 8),
    PATCH("NODE_LOAD status one too short", "trailing", node_load_v4, 41, 6),
    PATCH("NODE_LOAD status length 2^24 + 7", "past the end", node_load_v4, 38, 1),
    PATCH("NODE_LOAD body one short", "past the end", node_load_v4, 7, 0x28),
    PATCH("NODE_LOAD as REBALANCE", "REBALANCE op", node_load_v4, 3, FC_T_REBALANCE),
    PATCH("REBALANCE at version 3", "REBALANCE needs", rebalance_v4, 2, 3),
    PATCH("REBALANCE at version 2", "REBALANCE needs", rebalance_v4, 2, 2),
    PATCH("REBALANCE op 0", "REBALANCE op", rebalance_v4, 8, 0),
    PATCH("REBALANCE op 5", "REBALANCE op", rebalance_v4, 8, 5),
    PATCH("REBALANCE op 0x83", "REBALANCE op", rebalance_v4, 8, 0x83),
    /* A count one too many reads info's 0x0000 as an empty recipient, then
     * 0x0008 '{' '"' as info's length; one too few reads the last
     * recipient as info's length. */
    PATCH("REBALANCE count 3 for 2", "past the end", rebalance_v4, 22, 3),
    PATCH("REBALANCE count 1 for 2", "past the end", rebalance_v4, 22, 1),
    PATCH("REBALANCE count 0 for 2", "past the end", rebalance_v4, 22, 0),
    PATCH("REBALANCE count 258 for 2", "list count", rebalance_v4, 21, 1),
    PATCH("REBALANCE recipient one too long", "list count", rebalance_v4, 24, 3),
    PATCH("REBALANCE info one too long", "past the end", rebalance_v4, 34, 9),
    PATCH("REBALANCE info one too short", "trailing", rebalance_v4, 34, 7),
    PATCH("REBALANCE body one short", "past the end", rebalance_v4, 7, 0x22),
    /* Read as NODE_LOAD, the agent byte is info's '"'. */
    PATCH("REBALANCE as NODE_LOAD", "NODE_LOAD agent", rebalance_v4, 3, FC_T_NODE_LOAD),
};

/* Refused, naming the reason; and no prefix is anything but need-more or
 * the same refusal. */
static void check_refused(const char *name, const char *want, const uint8_t *p, size_t n)
{
    fc_frame_t f;
    const char *why = NULL;
    int64_t rc = fc_frame_decode(p, n, UINT32_MAX, &f, &why);
    bool ok = CHECK_EQ_INT(rc, -1) && CHECK(why != NULL);
    if (ok && want && !strstr(why, want)) {
        CHECK_EQ_STR(why, want);
        ok = false;
    }
    for (size_t k = 0; k < n && ok; k++) {
        uint8_t *copy = malloc(k ? k : 1);
        if (!copy)
            abort();
        memcpy(copy, p, k);
        const char *pwhy = NULL;
        int64_t prc = fc_frame_decode(copy, k, UINT32_MAX, &f, &pwhy);
        free(copy);
        ok = CHECK(prc == FC_NEED_MORE || (prc == -1 && pwhy == why));
    }
    if (!ok)
        printf("    in: %s\n", name);
}

static void test_refused_table(void)
{
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        check_refused(bad[i].name, bad[i].why, bad[i].p, bad[i].n);
}

static void test_refused_patches(void)
{
    for (size_t i = 0; i < sizeof patches / sizeof patches[0]; i++) {
        const patch_t *t = &patches[i];
        uint8_t buf[128];
        REQUIRE(t->n <= sizeof buf && t->at < t->n);
        memcpy(buf, t->base, t->n);
        /* A patch must change something, or it tests the golden. */
        if (!CHECK(buf[t->at] != t->value))
            printf("    in: %s\n", t->name);
        buf[t->at] = t->value;
        check_refused(t->name, t->why, buf, t->n);
    }
}

/* ---- the encoder's refusals ---- */

static void test_encode_refuses(void)
{
    static uint8_t big[70000];
    fc_frame_t f = {.type = FC_T_LEAVE};
    f.leave.reason = (fmq_bytes_t){big, 70000};
    CHECK_EQ_INT(fc_frame_encode(&f, 1, NULL, 0), 0);
    f.leave.reason.len = 65536;
    CHECK_EQ_INT(fc_frame_encode(&f, 1, NULL, 0), 0);
    /* 65535 is the largest str16 and round-trips. */
    f.leave.reason.len = 65535;
    memset(big, 'r', sizeof big);
    size_t n = fc_frame_encode(&f, 1, NULL, 0);
    CHECK_EQ_INT(n, 8 + 2 + 65535);
    uint8_t *buf = malloc(n);
    REQUIRE(buf != NULL);
    CHECK_EQ_INT(fc_frame_encode(&f, 1, buf, n), n);
    fc_frame_t out;
    const char *why = NULL;
    CHECK_EQ_INT(fc_frame_decode(buf, n, 65537, &out, &why), n);
    CHECK_EQ_INT(out.leave.reason.len, 65535);
    CHECK_EQ_INT(fc_frame_decode(buf, n, 65536, &out, &why), -1);
    free(buf);

    /* A str16 in a HELLO and a shared filter too. */
    fc_frame_t h = sample(FC_T_HELLO);
    h.hello.cluster = (fmq_bytes_t){big, 70000};
    CHECK_EQ_INT(fc_frame_encode(&h, 2, NULL, 0), 0);

    /* The body may be up to 2^32 - 1 bytes; measuring reads no payload. */
    fc_frame_t s = sample(FC_T_SESSION);
    s.session.client_id = B("");
    s.session.blob = (fmq_bytes_t){big, UINT32_MAX - 16}; /* body 16 + blob */
    CHECK_EQ_INT(fc_frame_encode(&s, 2, NULL, 0), (uint64_t)FC_HEADER_LEN + UINT32_MAX);
    CHECK_EQ_INT(fc_frame_encode(&s, 2, big, sizeof big), (uint64_t)FC_HEADER_LEN + UINT32_MAX);
    s.session.blob.len = UINT32_MAX - 15;
    CHECK_EQ_INT(fc_frame_encode(&s, 2, NULL, 0), 0);
    s.session.blob.len = UINT32_MAX;
    CHECK_EQ_INT(fc_frame_encode(&s, 2, NULL, 0), 0);
    fc_frame_t p = sample(FC_T_PUBLISH);
    p.publish.msg.payload = (fmq_bytes_t){big, UINT32_MAX - 100};
    p.publish.msg.props = (fmq_bytes_t){big, 200};
    CHECK_EQ_INT(fc_frame_encode(&p, 1, NULL, 0), 0);
}

static void test_encode_refuses_what_decode_refuses(void)
{
    uint8_t buf[256];
    fc_frame_t f = sample(FC_T_PING);
    CHECK(fc_frame_encode(&f, 1, buf, sizeof buf) > 0);
    CHECK_EQ_INT(fc_frame_encode(&f, 0, buf, sizeof buf), 0); /* version 0 */
    f.type = 0;
    CHECK_EQ_INT(fc_frame_encode(&f, 1, buf, sizeof buf), 0);
    f.type = FC_T_MAX_ + 1;
    CHECK_EQ_INT(fc_frame_encode(&f, 1, buf, sizeof buf), 0);

    static const struct {
        uint8_t type;
        const char *name;
    } cases[] = {
        {FC_T_HELLO, "nonce 15"},      {FC_T_HELLO, "nonce 65"},
        {FC_T_HELLO, "proto_min 0"},   {FC_T_HELLO, "proto_min > max"},
        {FC_T_AUTH, "mac 31"},         {FC_T_ERROR, "code 0"},
        {FC_T_ERROR, "code 6"},        {FC_T_ROUTE_ADD, "count 4 for 3"},
        {FC_T_ROUTE_DEL, "count 2 for 3"}, {FC_T_MEMBERS, "count 2 for 1"},
        {FC_T_MEMBERS, "odd items"},   {FC_T_PUBLISH, "QoS 3"},
        {FC_T_PUBLISH, "flag bit 6"},  {FC_T_PUBLISH, "shared count 3"},
        {FC_T_CLAIM, "flags 4"},       {FC_T_SESSION, "status 3"},
        {FC_T_SESSION, "flags 2"},     {FC_T_SESSION, "NONE with blob"},
        {FC_T_SESSION_ACK, "ok 2"},    {FC_T_DELIVER, "qos 3"},
        {FC_T_DELIVER, "retain 2"},    {FC_T_DELIVER, "ids missing"},
        {FC_T_DELIVER, "flag bit 7"},  {FC_T_LEAVE, "NULL with length"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        f = sample(cases[i].type);
        REQUIRE(fc_frame_encode(&f, 2, buf, sizeof buf) > 0);
        switch (i) {
        case 0: f.hello.nonce.len = 15; break;
        case 1: f.hello.nonce = B("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdefX"); break;
        case 2: f.hello.proto_min = 0; break;
        case 3: f.hello.proto_min = 8; break;
        case 4: f.auth.mac.len = 31; break;
        case 5: f.error.code = 0; break;
        case 6: f.error.code = 6; break;
        case 7: f.list.count = 4; break;
        case 8: f.list.count = 2; break;
        case 9: f.list.count = 2; break;
        case 10: f.list.raw = B("\0\2n2"); f.list.count = 1; break;
        case 11: f.publish.msg.flags |= 3; break;
        case 12: f.publish.msg.flags |= 0x40; break;
        case 13: f.publish.shared.count = 3; break;
        case 14: f.claim.flags = 4; break;
        case 15: f.session.status = 3; break;
        case 16: f.session.flags = 2; break;
        case 17: f.session.status = FC_SESS_NONE; break;
        case 18: f.session_ack.ok = 2; break;
        case 19: f.deliver.qos = 3; break;
        case 20: f.deliver.retain = 2; break;
        case 21: f.deliver.sub_ids_host = NULL; break;
        case 22: f.deliver.msg.flags |= 0x80; break;
        case 23: f.leave.reason = (fmq_bytes_t){NULL, 3}; break;
        }
        size_t n = fc_frame_encode(&f, 2, buf, sizeof buf);
        if (!CHECK_EQ_INT(n, 0))
            printf("    %s %s\n", fc_type_name(cases[i].type), cases[i].name);
    }

    /* The version 4 frames: valid ones only from version 4 on. */
    for (uint8_t type = FC_T_NODE_LOAD; type <= FC_T_REBALANCE; type++) {
        f = sample(type);
        REQUIRE(fc_frame_encode(&f, 4, buf, sizeof buf) > 0);
        for (uint8_t v = 0; v < 4; v++)
            if (!CHECK_EQ_INT(fc_frame_encode(&f, v, buf, sizeof buf), 0))
                printf("    %s at version %u\n", fc_type_name(type), v);
    }
    static const struct {
        uint8_t type;
        const char *name;
    } v4[] = {
        {FC_T_NODE_LOAD, "agent 3"},         {FC_T_NODE_LOAD, "agent 255"},
        {FC_T_NODE_LOAD, "flags 2"},         {FC_T_NODE_LOAD, "flags 0x81"},
        {FC_T_NODE_LOAD, "status NULL with length"},
        {FC_T_REBALANCE, "op 0"},            {FC_T_REBALANCE, "op 5"},
        {FC_T_REBALANCE, "count 3 for 2"},   {FC_T_REBALANCE, "count 1 for 2"},
        {FC_T_REBALANCE, "count 0 for 2"},   {FC_T_REBALANCE, "recipient past the list"},
        {FC_T_REBALANCE, "recipients NULL with length"},
        {FC_T_REBALANCE, "info NULL with length"},
    };
    for (size_t i = 0; i < sizeof v4 / sizeof v4[0]; i++) {
        f = sample(v4[i].type);
        REQUIRE(fc_frame_encode(&f, 4, buf, sizeof buf) > 0);
        switch (i) {
        case 0: f.load.agent = 3; break;
        case 1: f.load.agent = 255; break;
        case 2: f.load.flags = 2; break;
        case 3: f.load.flags = 0x81; break;
        case 4: f.load.status = (fmq_bytes_t){NULL, 3}; break;
        case 5: f.rebal.op = 0; break;
        case 6: f.rebal.op = 5; break;
        case 7: f.rebal.recipients.count = 3; break;
        case 8: f.rebal.recipients.count = 1; break;
        case 9: f.rebal.recipients.count = 0; break;
        case 10: f.rebal.recipients.raw = B("\0\2n2\0\x0bnode-three"); break;
        case 11: f.rebal.recipients.raw = (fmq_bytes_t){NULL, 4}; break;
        case 12: f.rebal.info = (fmq_bytes_t){NULL, 2}; break;
        }
        size_t n4 = fc_frame_encode(&f, 4, buf, sizeof buf);
        size_t n255 = fc_frame_encode(&f, 255, NULL, 0);
        if (!CHECK_EQ_INT(n4, 0) || !CHECK_EQ_INT(n255, 0))
            printf("    %s %s\n", fc_type_name(v4[i].type), v4[i].name);
    }
    /* The edges that are allowed. */
    f = sample(FC_T_NODE_LOAD);
    f.load.agent = FC_AGENT_REBALANCE;
    f.load.flags = 0;
    f.load.status = (fmq_bytes_t){NULL, 0};
    CHECK(fc_frame_encode(&f, 4, buf, sizeof buf) > 0);
    f = sample(FC_T_REBALANCE);
    f.rebal.op = FC_REBAL_STOP;
    f.rebal.recipients = (fc_list_t){0, {NULL, 0}};
    f.rebal.info = (fmq_bytes_t){NULL, 0};
    CHECK_EQ_INT(fc_frame_encode(&f, 4, buf, sizeof buf), 8 + 13 + 2 + 4);
    f.rebal.op = FC_REBAL_PREPARE;
    CHECK_EQ_INT(fc_frame_encode(&f, 4, buf, sizeof buf), 8 + 13 + 2 + 4);
}

/* ---- lists, names, header ---- */

static void test_list_put_next(void)
{
    uint8_t buf[12];
    memset(buf, 0xEE, sizeof buf);
    size_t used = 0;
    CHECK(fc_list_put(buf, sizeof buf, &used, B("a")));
    CHECK(fc_list_put(buf, sizeof buf, &used, B("")));
    CHECK(fc_list_put(buf, sizeof buf, &used, B("bcd")));
    CHECK_EQ_INT(used, 10);
    CHECK_EQ_BYTES(buf, used, "\0\1a\0\0\0\3bcd", 10);
    /* Three bytes do not fit in the last two: nothing changes. */
    CHECK(!fc_list_put(buf, sizeof buf, &used, B("x")));
    CHECK_EQ_INT(used, 10);
    CHECK_EQ_HEX(buf[10], 0xEE);
    CHECK(fc_list_put(buf, sizeof buf, &used, B("")));
    CHECK_EQ_INT(used, 12);
    static uint8_t big[70000];
    size_t big_used = 0;
    CHECK(!fc_list_put(big, sizeof big, &big_used, (fmq_bytes_t){big, 65536}));
    CHECK_EQ_INT(big_used, 0);
    CHECK(fc_list_put(big, sizeof big, &big_used, (fmq_bytes_t){big + 2, 65535}));
    CHECK_EQ_INT(big_used, 65537);

    fc_list_t l = {4, {buf, (uint32_t)used}};
    static const char *const want[4] = {"a", "", "bcd", ""};
    uint32_t pos = 0;
    fmq_bytes_t item;
    for (int i = 0; i < 4; i++) {
        REQUIRE(fc_list_next(&l, &pos, &item));
        CHECK(bytes_is(item, want[i]));
    }
    CHECK(!fc_list_next(&l, &pos, &item));
    CHECK_EQ_INT(pos, 12);

    /* Through a frame and back. */
    fc_frame_t f = {.type = FC_T_ROUTE_DEL, .list = l};
    uint8_t wire[64];
    size_t n = fc_frame_encode(&f, 1, wire, sizeof wire);
    CHECK_EQ_INT(n, 8 + 2 + 12);
    fc_frame_t g;
    const char *why = NULL;
    REQUIRE_EQ_INT(fc_frame_decode(wire, n, 64, &g, &why), n);
    CHECK_EQ_INT(g.list.count, 4);
    CHECK_EQ_BYTES(g.list.raw.ptr, g.list.raw.len, buf, 12);

    /* A hand-built list that lies is walked without leaving it. */
    fc_list_t lie = {2, B("\0\5ab")};
    pos = 0;
    CHECK(!fc_list_next(&lie, &pos, &item));
    CHECK_EQ_INT(pos, 0);
    fc_list_t one = {1, B("\0")};
    CHECK(!fc_list_next(&one, &pos, &item));
}

static void test_type_names(void)
{
    static const char *const names[] = {"?",         "HELLO",     "AUTH",     "ERROR",
                                        "PING",      "PONG",      "MEMBERS",  "ROUTE_ADD",
                                        "ROUTE_DEL", "SYNC_END",  "PUBLISH",  "CLAIM",
                                        "RELEASE",   "SESSION",   "SESSION_ACK", "DELIVER",
                                        "LEAVE",     "STUB_END",  "NODE_LOAD",
                                        "REBALANCE", "?"};
    for (unsigned t = 0; t < sizeof names / sizeof names[0]; t++)
        CHECK_EQ_STR(fc_type_name((uint8_t)t), names[t]);
    CHECK_EQ_STR(fc_type_name(255), "?");
}

static void test_body_len(void)
{
    static const uint8_t h[] = {'F', 'C', 1, 4, 0x12, 0x34, 0x56, 0x78};
    CHECK_EQ_HEX(fc_frame_body_len(h), 0x12345678u);
    CHECK_EQ_INT(fc_frame_body_len(publish_v2), 56);
}

CHECK_MAIN(T(test_hello), T(test_auth), T(test_error), T(test_ping), T(test_route_add),
           T(test_members), T(test_sync_end), T(test_publish_v1), T(test_publish_v2),
           T(test_claim_release), T(test_session), T(test_deliver), T(test_leave),
           T(test_node_load), T(test_rebalance), T(test_roundtrip_every_type),
           T(test_frame_diff_new_types), T(test_msg_id_dropped_at_v1), T(test_back_to_back),
           T(test_max_body), T(test_header_refused_early), T(test_good_edges),
           T(test_refused_table), T(test_refused_patches), T(test_encode_refuses),
           T(test_encode_refuses_what_decode_refuses), T(test_list_put_next), T(test_type_names),
           T(test_body_len))
