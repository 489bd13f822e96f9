/*
 * libferrymqtt: the MQTT 3.1 / 3.1.1 / 5.0 codec.
 *
 * Pure functions over byte buffers: no sockets, no libuv, no globals, no
 * allocation. Decoded packets BORROW slices of the caller's input buffer:
 * every fmq_bytes_t in a decoded packet points into `buf` and is valid only
 * while that buffer is. Encoders write into a buffer the caller owns.
 *
 * Errors are MQTT 5 reason codes (the code a server must send for them) with
 * a static description; see fmq_err_t. Functions that can fail return
 * -(reason code) on error, so a negative return is always -FMQ_RC_*.
 */
#ifndef FMQ_H
#define FMQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- protocol levels ---- */
enum {
    FMQ_V31 = 3,  /* MQTT 3.1, protocol name "MQIsdp" */
    FMQ_V311 = 4, /* MQTT 3.1.1, protocol name "MQTT" */
    FMQ_V5 = 5,   /* MQTT 5.0, protocol name "MQTT" */
};

/* ---- control packet types (fixed header, high nibble) ---- */
typedef enum {
    FMQ_CONNECT = 1,
    FMQ_CONNACK = 2,
    FMQ_PUBLISH = 3,
    FMQ_PUBACK = 4,
    FMQ_PUBREC = 5,
    FMQ_PUBREL = 6,
    FMQ_PUBCOMP = 7,
    FMQ_SUBSCRIBE = 8,
    FMQ_SUBACK = 9,
    FMQ_UNSUBSCRIBE = 10,
    FMQ_UNSUBACK = 11,
    FMQ_PINGREQ = 12,
    FMQ_PINGRESP = 13,
    FMQ_DISCONNECT = 14,
    FMQ_AUTH = 15,
} fmq_type_t;

/* Largest Remaining Length a 4-byte variable byte integer can carry. */
#define FMQ_MAX_REMAINING 268435455u
#define FMQ_MAX_VARINT FMQ_MAX_REMAINING
/* Largest whole packet: 1 type byte + 4 length bytes + payload. */
#define FMQ_MAX_PACKET (FMQ_MAX_REMAINING + 5u)

/* ---- MQTT 5 reason codes (section 2.4) ---- */
enum {
    FMQ_RC_SUCCESS = 0x00, /* also Normal disconnection, Granted QoS 0 */
    FMQ_RC_GRANTED_QOS1 = 0x01,
    FMQ_RC_GRANTED_QOS2 = 0x02,
    FMQ_RC_DISCONNECT_WITH_WILL = 0x04,
    FMQ_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
    FMQ_RC_NO_SUBSCRIPTION_EXISTED = 0x11,
    FMQ_RC_CONTINUE_AUTHENTICATION = 0x18,
    FMQ_RC_REAUTHENTICATE = 0x19,
    FMQ_RC_UNSPECIFIED = 0x80,
    FMQ_RC_MALFORMED_PACKET = 0x81,
    FMQ_RC_PROTOCOL_ERROR = 0x82,
    FMQ_RC_IMPLEMENTATION_SPECIFIC = 0x83,
    FMQ_RC_UNSUPPORTED_PROTOCOL_VERSION = 0x84,
    FMQ_RC_CLIENT_ID_NOT_VALID = 0x85,
    FMQ_RC_BAD_USERNAME_OR_PASSWORD = 0x86,
    FMQ_RC_NOT_AUTHORIZED = 0x87,
    FMQ_RC_SERVER_UNAVAILABLE = 0x88,
    FMQ_RC_SERVER_BUSY = 0x89,
    FMQ_RC_BANNED = 0x8A,
    FMQ_RC_SERVER_SHUTTING_DOWN = 0x8B,
    FMQ_RC_BAD_AUTH_METHOD = 0x8C,
    FMQ_RC_KEEP_ALIVE_TIMEOUT = 0x8D,
    FMQ_RC_SESSION_TAKEN_OVER = 0x8E,
    FMQ_RC_TOPIC_FILTER_INVALID = 0x8F,
    FMQ_RC_TOPIC_NAME_INVALID = 0x90,
    FMQ_RC_PACKET_ID_IN_USE = 0x91,
    FMQ_RC_PACKET_ID_NOT_FOUND = 0x92,
    FMQ_RC_RECEIVE_MAXIMUM_EXCEEDED = 0x93,
    FMQ_RC_TOPIC_ALIAS_INVALID = 0x94,
    FMQ_RC_PACKET_TOO_LARGE = 0x95,
    FMQ_RC_MESSAGE_RATE_TOO_HIGH = 0x96,
    FMQ_RC_QUOTA_EXCEEDED = 0x97,
    FMQ_RC_ADMINISTRATIVE_ACTION = 0x98,
    FMQ_RC_PAYLOAD_FORMAT_INVALID = 0x99,
    FMQ_RC_RETAIN_NOT_SUPPORTED = 0x9A,
    FMQ_RC_QOS_NOT_SUPPORTED = 0x9B,
    FMQ_RC_USE_ANOTHER_SERVER = 0x9C,
    FMQ_RC_SERVER_MOVED = 0x9D,
    FMQ_RC_SHARED_SUBS_NOT_SUPPORTED = 0x9E,
    FMQ_RC_CONNECTION_RATE_EXCEEDED = 0x9F,
    FMQ_RC_MAXIMUM_CONNECT_TIME = 0xA0,
    FMQ_RC_SUB_IDS_NOT_SUPPORTED = 0xA1,
    FMQ_RC_WILDCARD_SUBS_NOT_SUPPORTED = 0xA2,
};

/* MQTT 3.1/3.1.1 CONNACK return codes. */
enum {
    FMQ_V3_ACCEPTED = 0,
    FMQ_V3_REFUSED_PROTOCOL_VERSION = 1,
    FMQ_V3_REFUSED_IDENTIFIER = 2,
    FMQ_V3_REFUSED_SERVER_UNAVAILABLE = 3,
    FMQ_V3_REFUSED_BAD_USERNAME_PASSWORD = 4,
    FMQ_V3_REFUSED_NOT_AUTHORIZED = 5,
};

/* The reason code's name from the spec ("Malformed Packet"), or NULL when the
 * byte is not a reason code. */
const char *fmq_reason_name(uint8_t rc);
/* Whether `rc` may appear as the reason code of packet `type` in MQTT 5. */
bool fmq_reason_valid_for(fmq_type_t type, uint8_t rc);
/* Maps an MQTT 5 CONNACK reason code to the MQTT 3.1.1 return code that
 * carries the same meaning (section 3.2.2.3 of both specs). */
uint8_t fmq_connack_v3_code(uint8_t v5_reason);
/* The packet type's name ("PUBLISH"), or "RESERVED". */
const char *fmq_type_name(unsigned type);

/* ---- errors ---- */
typedef struct fmq_err {
    uint8_t reason;   /* FMQ_RC_*: what the server sends for this error */
    const char *what; /* static text; names the rule, e.g. "[MQTT-3.1.2-3] ..." */
} fmq_err_t;

/* Return value of the decoders when the buffer holds only part of a packet. */
#define FMQ_NEED_MORE 0

/* ---- borrowed byte ranges ---- */
typedef struct fmq_bytes {
    const uint8_t *ptr; /* borrowed; may be NULL when len == 0 */
    uint32_t len;
} fmq_bytes_t;

#define FMQ_BYTES(s) ((fmq_bytes_t){(const uint8_t *)(s), (uint32_t)(sizeof(s) - 1)})
fmq_bytes_t fmq_cstr(const char *s); /* borrows a NUL-terminated string */
bool fmq_bytes_eq(fmq_bytes_t a, fmq_bytes_t b);

/* ---- properties (MQTT 5, section 2.2.2) ---- */
typedef enum {
    FMQ_PROP_PAYLOAD_FORMAT = 0x01,
    FMQ_PROP_MESSAGE_EXPIRY = 0x02,
    FMQ_PROP_CONTENT_TYPE = 0x03,
    FMQ_PROP_RESPONSE_TOPIC = 0x08,
    FMQ_PROP_CORRELATION_DATA = 0x09,
    FMQ_PROP_SUBSCRIPTION_ID = 0x0B,
    FMQ_PROP_SESSION_EXPIRY = 0x11,
    FMQ_PROP_ASSIGNED_CLIENT_ID = 0x12,
    FMQ_PROP_SERVER_KEEP_ALIVE = 0x13,
    FMQ_PROP_AUTH_METHOD = 0x15,
    FMQ_PROP_AUTH_DATA = 0x16,
    FMQ_PROP_REQUEST_PROBLEM_INFO = 0x17,
    FMQ_PROP_WILL_DELAY = 0x18,
    FMQ_PROP_REQUEST_RESPONSE_INFO = 0x19,
    FMQ_PROP_RESPONSE_INFO = 0x1A,
    FMQ_PROP_SERVER_REFERENCE = 0x1C,
    FMQ_PROP_REASON_STRING = 0x1F,
    FMQ_PROP_RECEIVE_MAXIMUM = 0x21,
    FMQ_PROP_TOPIC_ALIAS_MAXIMUM = 0x22,
    FMQ_PROP_TOPIC_ALIAS = 0x23,
    FMQ_PROP_MAXIMUM_QOS = 0x24,
    FMQ_PROP_RETAIN_AVAILABLE = 0x25,
    FMQ_PROP_USER_PROPERTY = 0x26,
    FMQ_PROP_MAXIMUM_PACKET_SIZE = 0x27,
    FMQ_PROP_WILDCARD_SUB_AVAILABLE = 0x28,
    FMQ_PROP_SUB_ID_AVAILABLE = 0x29,
    FMQ_PROP_SHARED_SUB_AVAILABLE = 0x2A,
} fmq_prop_id_t;

typedef enum {
    FMQ_PT_BYTE,
    FMQ_PT_U16,
    FMQ_PT_U32,
    FMQ_PT_VARINT,
    FMQ_PT_UTF8,
    FMQ_PT_BINARY,
    FMQ_PT_UTF8_PAIR,
} fmq_prop_type_t;

/* Where a property may appear: one bit per packet type (1 << FMQ_CONNECT ...),
 * plus FMQ_IN_WILL for the Will Properties of a CONNECT. */
#define FMQ_IN(type) (1u << (type))
#define FMQ_IN_WILL (1u << 16)

/* The property's data type and the places it may appear; false for an
 * identifier the spec does not define. */
bool fmq_prop_info(uint8_t id, fmq_prop_type_t *type, uint32_t *allowed_in);
const char *fmq_prop_name(uint8_t id); /* "Receive Maximum", or NULL */

#define FMQ_PROP_BIT(id) (UINT64_C(1) << (id))

typedef struct fmq_user_prop {
    fmq_bytes_t key, value;
} fmq_user_prop_t;

/*
 * A property set. `present` has FMQ_PROP_BIT(id) set for each property that is
 * there; the scalar fields below mean something only when their bit is set.
 *
 * User Properties and Subscription Identifiers may repeat, so they are lists:
 *  - after decoding, `user`/`sub_ids` are NULL and `n_user`/`n_sub_ids` count
 *    them; read them (in order) with fmq_props_iter over `raw`;
 *  - for encoding, point `user`/`sub_ids` at caller-owned arrays (their
 *    `present` bit is then not needed).
 * `raw` is the encoded property bytes (after the length) of a decoded set. A
 * decoded set re-encodes as it is: lists whose array is NULL are copied from
 * `raw` while their `present` bit is set, so clearing bits in `present`
 * drops properties (scalar or list) from the encoding.
 */
typedef struct fmq_props {
    uint64_t present;
    fmq_bytes_t raw;
    uint32_t message_expiry, session_expiry, will_delay, max_packet_size;
    uint16_t server_keep_alive, receive_maximum, topic_alias_maximum, topic_alias;
    uint8_t payload_format, request_problem_info, request_response_info;
    uint8_t maximum_qos, retain_available, wildcard_sub_available;
    uint8_t sub_id_available, shared_sub_available;
    fmq_bytes_t content_type, response_topic, correlation_data;
    fmq_bytes_t assigned_client_id, auth_method, auth_data;
    fmq_bytes_t response_info, server_reference, reason_string;
    const fmq_user_prop_t *user;
    uint32_t n_user;
    const uint32_t *sub_ids;
    uint32_t n_sub_ids;
    /* Encoders append these already-encoded properties (no length prefix)
     * after the others: how a broker forwards a message's pass-through
     * properties without decoding them again. Decoders leave it empty. */
    fmq_bytes_t passthrough;
} fmq_props_t;

static inline bool fmq_props_has(const fmq_props_t *p, fmq_prop_id_t id)
{
    return (p->present & FMQ_PROP_BIT(id)) != 0;
}

/* One property as read from the wire. */
typedef struct fmq_prop {
    uint8_t id;
    uint32_t num;                  /* BYTE, U16, U32, VARINT */
    fmq_bytes_t str;               /* UTF8, BINARY; key of a UTF8_PAIR */
    fmq_bytes_t value;             /* value of a UTF8_PAIR */
} fmq_prop_t;

/* Walks the properties of a DECODED (hence already validated) set in wire
 * order: `*pos` starts at 0; returns true and fills `out` while there is one. */
bool fmq_props_iter(const fmq_props_t *p, uint32_t *pos, fmq_prop_t *out);

/*
 * Decodes a property block (its variable byte integer length, then the
 * properties) that appears in `where` (FMQ_IN(type) or FMQ_IN_WILL).
 * Validates identifiers for the place, data types, UTF-8, duplicates and the
 * values the spec restricts. Returns bytes consumed or -FMQ_RC_*.
 * Needs the whole block: a short buffer is malformed, not "need more".
 */
int fmq_props_decode(const uint8_t *buf, size_t len, uint32_t where, fmq_props_t *out,
                     fmq_err_t *err);
/* Encoded size of the block, length prefix included. */
size_t fmq_props_size(const fmq_props_t *p);
/* Writes the block (length prefix included) into out[0..cap) when it fits;
 * returns its size either way. Strings must be <= 65535 bytes. */
size_t fmq_props_encode(const fmq_props_t *p, uint8_t *out, size_t cap);

/* ---- packets ---- */
typedef struct fmq_connect {
    uint8_t version;      /* 3, 4 or 5; set as soon as it is read, even on error */
    bool clean_start;     /* Clean Session in 3.1.1 */
    uint16_t keep_alive;  /* seconds */
    fmq_bytes_t client_id;
    bool will_flag;
    uint8_t will_qos;
    bool will_retain;
    fmq_props_t will_props; /* MQTT 5 only */
    fmq_bytes_t will_topic, will_payload;
    bool has_username, has_password;
    fmq_bytes_t username, password;
    fmq_props_t props; /* MQTT 5 only */
} fmq_connect_t;

typedef struct fmq_connack {
    bool session_present;
    uint8_t reason; /* MQTT 5 reason code, or the 3.1.1 return code (0..5) */
    fmq_props_t props;
} fmq_connack_t;

typedef struct fmq_publish {
    uint8_t qos;
    bool dup, retain;
    fmq_bytes_t topic; /* may be empty in MQTT 5 when a Topic Alias is set */
    uint16_t packet_id; /* only when qos > 0 */
    fmq_props_t props;
    fmq_bytes_t payload;
} fmq_publish_t;

/* PUBACK, PUBREC, PUBREL, PUBCOMP. */
typedef struct fmq_ack {
    uint16_t packet_id;
    uint8_t reason; /* 0 in MQTT 3.1.1 */
    fmq_props_t props;
} fmq_ack_t;

typedef struct fmq_sub_entry {
    fmq_bytes_t filter;
    uint8_t qos;            /* maximum QoS */
    bool no_local;          /* MQTT 5 */
    bool retain_as_published;
    uint8_t retain_handling; /* 0, 1 or 2 */
} fmq_sub_entry_t;

/* SUBSCRIBE: decoded entries are read with fmq_sub_iter over `raw`; to
 * encode, point `entries` at `count` caller-owned entries. */
typedef struct fmq_subscribe {
    uint16_t packet_id;
    fmq_props_t props;
    uint32_t count;
    fmq_bytes_t raw;
    const fmq_sub_entry_t *entries;
} fmq_subscribe_t;

/* UNSUBSCRIBE: decoded filters are read with fmq_unsub_iter over `raw`; to
 * encode, point `filters` at `count` caller-owned filters. */
typedef struct fmq_unsubscribe {
    uint16_t packet_id;
    fmq_props_t props;
    uint32_t count;
    fmq_bytes_t raw;
    const fmq_bytes_t *filters;
} fmq_unsubscribe_t;

/* SUBACK and UNSUBACK: one reason code byte per filter (an MQTT 3.1.1
 * UNSUBACK has none). */
typedef struct fmq_suback {
    uint16_t packet_id;
    fmq_props_t props;
    fmq_bytes_t codes;
} fmq_suback_t;

/* DISCONNECT and AUTH. */
typedef struct fmq_disconnect {
    uint8_t reason;
    fmq_props_t props;
} fmq_disconnect_t;

typedef struct fmq_packet {
    fmq_type_t type;
    union {
        fmq_connect_t connect;
        fmq_connack_t connack;
        fmq_publish_t publish;
        fmq_ack_t ack;                 /* PUBACK, PUBREC, PUBREL, PUBCOMP */
        fmq_subscribe_t subscribe;
        fmq_suback_t suback;           /* SUBACK, UNSUBACK */
        fmq_unsubscribe_t unsubscribe;
        fmq_disconnect_t disconnect;   /* DISCONNECT, AUTH */
    };
} fmq_packet_t;

bool fmq_sub_iter(const fmq_subscribe_t *s, uint32_t *pos, fmq_sub_entry_t *out);
bool fmq_unsub_iter(const fmq_unsubscribe_t *u, uint32_t *pos, fmq_bytes_t *out);

/* ---- streaming decode ---- */
typedef struct fmq_fixed_header {
    uint8_t type;        /* high nibble */
    uint8_t flags;       /* low nibble */
    uint8_t header_len;  /* 2..5 bytes */
    uint32_t remaining;  /* Remaining Length */
} fmq_fixed_header_t;

/*
 * Reads the fixed header at the start of `buf`. Returns the whole packet's
 * length (header + Remaining Length) as soon as the header is complete, even
 * when the rest has not arrived; FMQ_NEED_MORE when the header itself is
 * incomplete; -FMQ_RC_MALFORMED_PACKET for a length longer than 4 bytes or a
 * reserved type; -FMQ_RC_PACKET_TOO_LARGE when the packet would exceed
 * `max_packet` (0 means the protocol's maximum). This is how a reader learns
 * how much to buffer and refuses an oversized packet before buffering it.
 */
int fmq_frame(const uint8_t *buf, size_t len, uint32_t max_packet, fmq_fixed_header_t *fh,
              fmq_err_t *err);

typedef struct fmq_decode_opts {
    uint8_t version;      /* negotiated level; 0 before CONNECT (then only CONNECT decodes) */
    uint32_t max_packet;  /* largest accepted packet in bytes, 0 = protocol maximum */
} fmq_decode_opts_t;

/*
 * Decodes the first packet in `buf`. Returns the bytes it used (> 0),
 * FMQ_NEED_MORE, or -FMQ_RC_* with `err` saying why. On error `out->type` is
 * set when the type was read, and a CONNECT's `version` when it was reached.
 * Checks everything the spec calls Malformed Packet or Protocol Error that the
 * packet alone shows: fixed header flags, lengths, UTF-8, properties, QoS,
 * packet identifiers, reserved bits. It does not check policy (which packets a
 * side may send, topic filter syntax per SUBACK entry, limits): see
 * fmq_check_direction and fmq_topic_*.
 */
int fmq_decode(const uint8_t *buf, size_t len, const fmq_decode_opts_t *opts, fmq_packet_t *out,
               fmq_err_t *err);

/* Who receives a packet. */
typedef enum { FMQ_TO_SERVER, FMQ_TO_CLIENT } fmq_dir_t;
/* 0 when a packet of this type (and content: a Subscription Identifier in a
 * client's PUBLISH) may travel in direction `dir` at `version`; else
 * -FMQ_RC_PROTOCOL_ERROR with `err` set. */
int fmq_check_direction(const fmq_packet_t *p, uint8_t version, fmq_dir_t dir, fmq_err_t *err);

/* ---- encode ---- */
/*
 * Encodes `p` for protocol `version` into out[0..cap). Returns the packet's
 * full size; when that exceeds `cap` nothing useful was written and the caller
 * retries with a larger buffer (fmq_encode(p, v, NULL, 0, err) sizes it).
 * Returns -FMQ_RC_* when the packet cannot be expressed (a string over 65535
 * bytes, a body over the Remaining Length limit, a property MQTT 3.1.1 lacks
 * is ignored, not an error). MQTT 3.1.1 encodings drop properties and reason
 * codes the version does not carry.
 */
int fmq_encode(const fmq_packet_t *p, uint8_t version, uint8_t *out, size_t cap, fmq_err_t *err);

/* ---- primitives (section 1.5) ---- */
/* Variable byte integer: returns bytes used (1..4), FMQ_NEED_MORE, or
 * -FMQ_RC_MALFORMED_PACKET for a fifth byte or an encoding longer than the
 * value needs ([MQTT-1.5.5-1]). */
int fmq_varint_decode(const uint8_t *buf, size_t len, uint32_t *value);
/* Writes v (<= FMQ_MAX_VARINT) into out (4 bytes room); returns bytes used. */
int fmq_varint_encode(uint32_t v, uint8_t *out);
int fmq_varint_size(uint32_t v);

/* 0 when s[0..len) is well-formed UTF-8 without U+0000, surrogates or
 * overlong forms ([MQTT-1.5.4-1], [MQTT-1.5.4-2]); else -FMQ_RC_MALFORMED_PACKET. */
int fmq_utf8_check(const uint8_t *s, size_t len);

/* ---- topics (section 4.7) ---- */
/* 0 when `t` is a valid Topic Name: non-empty, valid UTF-8, no '+' or '#';
 * else -FMQ_RC_TOPIC_NAME_INVALID. */
int fmq_topic_name_check(fmq_bytes_t t);
/* 0 when `f` is a valid Topic Filter ('#' alone and last, '+' a whole level,
 * shared subscriptions well formed); else -FMQ_RC_TOPIC_FILTER_INVALID. */
int fmq_topic_filter_check(fmq_bytes_t f);
/* Number of levels ("a/b" has 2, "/" has 2). */
uint32_t fmq_topic_levels(fmq_bytes_t t);
/* Whether topic name `t` matches filter `f` (neither shared). A filter that
 * starts with a wildcard does not match a name that starts with '$'
 * ([MQTT-4.7.2-1]). */
bool fmq_topic_match(fmq_bytes_t f, fmq_bytes_t t);

/* "$share/{group}/{filter}": when `f` is a shared subscription returns true and
 * sets *group and *filter (borrowed from f). Validity is fmq_topic_filter_check's. */
bool fmq_topic_share_split(fmq_bytes_t f, fmq_bytes_t *group, fmq_bytes_t *filter);

#ifdef __cplusplus
}
#endif
#endif /* FMQ_H */
