/*
 * Cluster link frames: the pure codec (no sockets, no allocation, no
 * globals). Every frame is an 8-byte header and a body:
 *
 *   offset 0  'F' 'C'        magic
 *          2  u8  version    protocol version the body is written in
 *          3  u8  type       FC_T_*
 *          4  u32 length     body bytes after the header (big-endian)
 *
 * Integers are big-endian. In the bodies below, str16 is a u16 length and
 * that many bytes, bytes32 a u32 length and that many bytes, list16 a u16
 * count followed by that many str16 items.
 *
 *   HELLO       u8 proto_min, u8 proto_max, str16 cluster, str16 node,
 *               u64 incarnation, str16 nonce (16..64 bytes),
 *               str16 client_addr, str16 cluster_addr
 *   AUTH        str16 mac (exactly 32 bytes: HMAC-SHA256)
 *   ERROR       u8 code (FC_ERR_*), str16 text
 *   PING, PONG  u64 time
 *   MEMBERS     list16 of pairs: str16 node, str16 cluster_addr
 *               (the count is the number of pairs)
 *   ROUTE_ADD,
 *   ROUTE_DEL   list16 filters
 *   SYNC_END    u32 routes, u32 claims, u32 retained
 *   PUBLISH     message, u16 n then n str16 shared filters ("$share/g/f")
 *   CLAIM       u8 flags (FC_CLAIM_*), u64 stamp, str16 client_id
 *   RELEASE     u64 stamp, str16 client_id
 *   SESSION     u8 status (FC_SESS_*), u8 flags (FC_SESSF_*), u64 stamp,
 *               str16 client_id, bytes32 blob (fb_session_serialize)
 *   SESSION_ACK u8 ok (0/1), u64 stamp, str16 client_id
 *   DELIVER     str16 client_id, u8 qos, u8 retain (0/1), u8 n then n u32
 *               subscription ids, message
 *   LEAVE       str16 reason
 *   STUB_END    u64 stamp, str16 client_id (version >= 3)
 *   NODE_LOAD   u32 connections, u32 sessions, u32 offline_sessions,
 *               u32 pending_connects, u32 connack_count, u32 connack_mean_ms,
 *               u32 connack_max_ms, u8 agent (FC_AGENT_*), u8 flags
 *               (FC_LOADF_*), bytes32 status (JSON text, may be empty)
 *               (version >= 4)
 *   REBALANCE   u8 op (FC_REBAL_*), u32 lease_ms, u32 conns, u32 sessions,
 *               list16 recipients, bytes32 info (JSON text) (version >= 4)
 *
 * "message" is: u8 flags (bits 0-1 QoS 0..2, bit 2 retain, bit 3
 * has_expiry, bit 4 deliver, bit 5 store_retained; bits 6-7 zero),
 * u32 expiry, u64 created_ms, [u64 msg_id, version >= 2 only],
 * str16 topic, bytes32 props, bytes32 payload, str16 origin.
 *
 * Version 1 is the first release's protocol; version 2 adds msg_id (a
 * cluster-unique message id used to drop duplicates during a session
 * handoff); version 3 adds STUB_END (the old node of a handoff stops
 * forwarding: the new one may deliver what it held back, in order). A link speaks min(both maxima); the encoder writes what the
 * given version has, the decoder reads what the header's version has.
 *
 * Decoded frames borrow slices of the input buffer (fmq_bytes_t); lists are
 * walked with fc_list_next over their borrowed bytes.
 */
#ifndef FC_FRAME_H
#define FC_FRAME_H

#include "mqtt/fmq.h"

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#define FC_PROTO_MIN 1
#define FC_PROTO_MAX 4
#define FC_HEADER_LEN 8
#define FC_MAC_LEN 32
#define FC_NONCE_MIN 16
#define FC_NONCE_MAX 64

/* The header on the wire; the codec reads and writes bytes, this struct
 * only pins the layout. */
typedef struct fc_wire_header {
    uint8_t magic[2];
    uint8_t version;
    uint8_t type;
    uint8_t length[4];
} fc_wire_header_t;
static_assert(sizeof(fc_wire_header_t) == FC_HEADER_LEN, "cluster frame header is 8 bytes");

typedef enum {
    FC_T_HELLO = 1,
    FC_T_AUTH = 2,
    FC_T_ERROR = 3,
    FC_T_PING = 4,
    FC_T_PONG = 5,
    FC_T_MEMBERS = 6,
    FC_T_ROUTE_ADD = 7,
    FC_T_ROUTE_DEL = 8,
    FC_T_SYNC_END = 9,
    FC_T_PUBLISH = 10,
    FC_T_CLAIM = 11,
    FC_T_RELEASE = 12,
    FC_T_SESSION = 13,
    FC_T_SESSION_ACK = 14,
    FC_T_DELIVER = 15,
    FC_T_LEAVE = 16,
    FC_T_STUB_END = 17,
    FC_T_NODE_LOAD = 18,
    FC_T_REBALANCE = 19,
    FC_T_MAX_ = 19
} fc_type_t;

enum { /* ERROR codes */
    FC_ERR_AUTH = 1,        /* wrong shared secret */
    FC_ERR_CLUSTER = 2,     /* different cluster name */
    FC_ERR_VERSION = 3,     /* no protocol version in common */
    FC_ERR_DUPLICATE = 4,   /* a link to this node exists / same node name */
    FC_ERR_PROTOCOL = 5,    /* a frame that makes no sense here */
};

enum { /* CLAIM flags */
    FC_CLAIM_WANT_SESSION = 1, /* the claimant waits for the session to be shipped */
    FC_CLAIM_SYNC = 2,         /* announced during a link sync, not a new CONNECT */
};

enum { /* SESSION status */
    FC_SESS_DATA = 0,       /* blob holds the session */
    FC_SESS_NONE = 1,       /* there is no session to ship (blob empty) */
    FC_SESS_SUPERSEDED = 2, /* a later claim won; blob empty */
};

enum { /* SESSION flags */
    FC_SESSF_MIGRATE = 1, /* moved without a client (evacuation), not a takeover */
};

enum { /* NODE_LOAD agent: who owns the node's eviction agent */
    FC_AGENT_NONE = 0,
    FC_AGENT_EVACUATION = 1,
    FC_AGENT_REBALANCE = 2,
};

enum { /* NODE_LOAD flags */
    FC_LOADF_AVAILABLE = 1, /* takes new clients and migrated sessions */
};

enum { /* REBALANCE op */
    FC_REBAL_PREPARE = 1,  /* become a donor: unavailable, still accepting CONNECTs */
    FC_REBAL_CONNS = 2,    /* refuse CONNECTs; evict `conns` connections this second */
    FC_REBAL_SESSIONS = 3, /* migrate `sessions` offline sessions to `recipients` */
    FC_REBAL_STOP = 4,     /* the rebalance is over: available again */
};

enum { /* message flags */
    FC_MSG_QOS_MASK = 0x03,
    FC_MSG_RETAIN = 0x04,
    FC_MSG_HAS_EXPIRY = 0x08,
    FC_MSG_DELIVER = 0x10,       /* route to the receiver's non-shared subscribers */
    FC_MSG_STORE_RETAINED = 0x20 /* store in the receiver's retained table */
};

/* A counted list of str16 items (or of str16 pairs for MEMBERS), borrowed:
 * `raw` is the encoded items without the count. */
typedef struct fc_list {
    uint16_t count;
    fmq_bytes_t raw;
} fc_list_t;

typedef struct fc_msg {
    uint8_t flags;
    uint32_t expiry;
    uint64_t created_ms;
    uint64_t msg_id; /* 0 on a version 1 link */
    fmq_bytes_t topic, props, payload, origin;
} fc_msg_t;

typedef struct fc_frame {
    uint8_t version;
    uint8_t type; /* fc_type_t */
    union {
        struct {
            uint8_t proto_min, proto_max;
            fmq_bytes_t cluster, node;
            uint64_t incarnation;
            fmq_bytes_t nonce, client_addr, cluster_addr;
        } hello;
        struct {
            fmq_bytes_t mac;
        } auth;
        struct {
            uint8_t code;
            fmq_bytes_t text;
        } error;
        struct {
            uint64_t time;
        } ping; /* PING and PONG */
        fc_list_t list; /* MEMBERS, ROUTE_ADD, ROUTE_DEL */
        struct {
            uint32_t routes, claims, retained;
        } sync_end;
        struct {
            fc_msg_t msg;
            fc_list_t shared;
        } publish;
        struct {
            uint8_t flags;
            uint64_t stamp;
            fmq_bytes_t client_id;
        } claim; /* CLAIM; RELEASE and STUB_END use stamp and client_id */
        struct {
            uint8_t status, flags;
            uint64_t stamp;
            fmq_bytes_t client_id, blob;
        } session;
        struct {
            uint8_t ok;
            uint64_t stamp;
            fmq_bytes_t client_id;
        } session_ack;
        struct {
            fmq_bytes_t client_id;
            uint8_t qos;
            uint8_t retain;
            uint8_t n_sub_ids;
            const uint8_t *sub_ids; /* decode: n_sub_ids big-endian u32 (borrowed) */
            const uint32_t *sub_ids_host; /* encode: n_sub_ids host-order values */
            fc_msg_t msg;
        } deliver;
        struct {
            fmq_bytes_t reason;
        } leave;
        struct {
            uint32_t connections, sessions, offline_sessions, pending_connects;
            uint32_t connack_count, connack_mean_ms, connack_max_ms;
            uint8_t agent, flags;
            fmq_bytes_t status;
        } load;
        struct {
            uint8_t op;
            uint32_t lease_ms, conns, sessions;
            fc_list_t recipients;
            fmq_bytes_t info;
        } rebal;
    };
} fc_frame_t;

/* The i-th (i < n_sub_ids) subscription id of a DELIVER: from sub_ids_host
 * when set (a frame being built), else from the decoded big-endian bytes. */
static inline uint32_t fc_deliver_sub_id(const fc_frame_t *f, unsigned i)
{
    if (f->deliver.sub_ids_host)
        return f->deliver.sub_ids_host[i];
    const uint8_t *p = f->deliver.sub_ids + 4 * (size_t)i;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Decodes one frame from buf. Returns the bytes it used (header + body),
 * 0 when buf holds less than a whole frame (FC_NEED_MORE), or -1 with a
 * static description in *why. A header announcing a body above max_body is
 * an error as soon as the header is complete, before the body is buffered.
 * Checks: magic, version in [FC_PROTO_MIN, 255], known type, every length
 * inside the body, list counts matching their bytes exactly, no trailing
 * bytes, flag bits and enum values in range, fixed sizes (AUTH mac 32, nonce
 * 16..64). It does not check text (UTF-8, topic syntax): the cluster layer
 * validates what it uses.
 */
#define FC_NEED_MORE 0
int64_t fc_frame_decode(const uint8_t *buf, size_t len, uint32_t max_body, fc_frame_t *out,
                        const char **why);

/* The body length announced by a complete header (len >= FC_HEADER_LEN),
 * so a reader can size its buffer. */
uint32_t fc_frame_body_len(const uint8_t *header);

/*
 * Encodes f in protocol `version` (f->version is ignored) into out[0..cap).
 * Returns the frame's full size whether or not it fit: a result above cap
 * means nothing usable was written, call again with a larger buffer
 * (fc_frame_encode(f, v, NULL, 0) just measures). Fields that do not fit
 * their length prefix (a str16 over 65535 bytes, a list over 65535 items)
 * make it return 0.
 */
size_t fc_frame_encode(const fc_frame_t *f, uint8_t version, uint8_t *out, size_t cap);

/* Walks a list: *pos starts at 0; returns false at the end. For MEMBERS,
 * call it twice per pair. The list was checked by the decoder (or built
 * with fc_list_put), so items are always inside raw. */
bool fc_list_next(const fc_list_t *l, uint32_t *pos, fmq_bytes_t *item);

/* Appends one str16 item to a list being built in buf[0..cap) at *used;
 * returns false (and changes nothing) when it does not fit or is over
 * 65535 bytes. The caller counts items. */
bool fc_list_put(uint8_t *buf, size_t cap, size_t *used, fmq_bytes_t item);

const char *fc_type_name(uint8_t type);
#endif
