/*
 * Sessions (MQTT 5.0 section 4.1): the state that outlives a network
 * connection. A session is NOT a connection: a connection attaches to a
 * session and detaches from it; takeover and evacuation move sessions
 * between connections and nodes through fb_session_serialize/_deserialize.
 *
 * Ownership: the broker's session table owns sessions (fb_session_free).
 * A session owns its strings, its subscription list, and one reference to
 * every message in its inflight window, queue and will.
 */
#ifndef FB_SESSION_H
#define FB_SESSION_H

#include "broker/msg.h"
#include "broker/subs.h"

struct fb_conn;

#define FB_EXPIRY_NEVER UINT32_MAX

/* Where an outgoing QoS 1/2 delivery stands. */
enum {
    FB_QUEUED = 0,       /* not sent yet */
    FB_WAIT_PUBACK = 1,  /* QoS 1 PUBLISH sent */
    FB_WAIT_PUBREC = 2,  /* QoS 2 PUBLISH sent */
    FB_WAIT_PUBCOMP = 3, /* QoS 2 PUBREL sent */
};

/* One message on its way to this session's client. */
typedef struct fb_delivery {
    fb_msg_t *msg;       /* one reference held */
    uint16_t packet_id;  /* 0 while queued */
    uint8_t qos;         /* min(published QoS, granted QoS) */
    uint8_t state;       /* FB_QUEUED / FB_WAIT_* */
    bool retain;         /* RETAIN flag to send */
    uint8_t n_sub_ids;
    uint32_t *sub_ids;   /* owned; NULL when n_sub_ids == 0 */
} fb_delivery_t;

typedef struct fb_session_sub {
    char *filter;        /* owned, NUL-terminated */
    uint16_t len;
    fb_sub_opts_t opts;
} fb_session_sub_t;

typedef struct fb_session {
    char *client_id;             /* NUL-terminated; points at id_buf (same allocation) */
    uint16_t id_len;
    bool moved;                  /* handed to another node: a forwarding stub (cluster) */
    bool dedup;                  /* just arrived from another node: drop duplicates */
    struct fb_conn *conn;        /* attached connection, or NULL when offline */
    uint32_t expiry;             /* Session Expiry Interval, seconds */
    uint64_t offline_since_ms;   /* wall clock; meaningful while conn == NULL */

    fb_session_sub_t *subs;
    uint32_t n_subs, cap_subs;

    fb_delivery_t *inflight;     /* sent, awaiting acknowledgement, in send order */
    uint32_t n_inflight, cap_inflight;

    fb_delivery_t *queue;        /* ring buffer of FB_QUEUED deliveries */
    uint32_t q_head, q_len, q_cap;

    uint16_t *qos2_in;           /* incoming QoS 2 ids awaiting PUBREL */
    uint32_t n_qos2_in, cap_qos2_in;

    uint16_t next_packet_id;

    fb_msg_t *will;              /* one reference, or NULL */
    uint32_t will_delay;         /* seconds */
    uint64_t will_at_ms;         /* when a delayed will is due, 0 = not scheduled */

    uint64_t dropped;            /* deliveries dropped by the queue limit */
    uint64_t deliver_mark;       /* router scratch: last fan-out that reached it */
    uint32_t deliver_slot;       /* router scratch: index in that fan-out */
    char id_buf[];               /* the client id: no second allocation per session */
} fb_session_t;

fb_session_t *fb_session_new(const uint8_t *client_id, size_t len);
/* Releases every message reference and the memory; does not touch the
 * subscription table or a connection (the broker detaches those first). */
void fb_session_free(fb_session_t *s);

/* Subscription list (the table in subs.h is the index; this is the record
 * that serializes with the session). Returns 1 added, 0 replaced, -1 ENOMEM. */
int fb_session_sub_put(fb_session_t *s, fmq_bytes_t filter, const fb_sub_opts_t *o);
/* 1 removed, 0 not found. */
int fb_session_sub_del(fb_session_t *s, fmq_bytes_t filter);

/* Queue (ring buffer) with a limit and a drop policy. Takes over `d`.
 * Returns 0 queued, 1 queued after dropping the oldest, 2 dropped `d`
 * (newest), -1 ENOMEM (d released). */
int fb_session_enqueue(fb_session_t *s, fb_delivery_t *d, uint32_t limit, bool drop_oldest);
bool fb_session_dequeue(fb_session_t *s, fb_delivery_t *out);
fb_delivery_t *fb_session_queue_peek(fb_session_t *s);

/* Inflight window: append a sent delivery (takes it over), find by packet
 * id and state mask, remove (releases it). */
int fb_session_inflight_add(fb_session_t *s, fb_delivery_t *d);
fb_delivery_t *fb_session_inflight_find(fb_session_t *s, uint16_t packet_id);
void fb_session_inflight_remove(fb_session_t *s, fb_delivery_t *d);

/* A packet identifier not used by the inflight window ([MQTT-2.2.1-3]). */
uint16_t fb_session_next_packet_id(fb_session_t *s);

/* Incoming QoS 2 packet ids awaiting PUBREL (exactly-once, method B:
 * deliver on PUBLISH, remember the id until PUBREL). */
bool fb_session_qos2_has(const fb_session_t *s, uint16_t id);
int fb_session_qos2_add(fb_session_t *s, uint16_t id);
bool fb_session_qos2_del(fb_session_t *s, uint16_t id);

/* Releases the inflight window, the queue, the incoming QoS 2 ids and the
 * will; keeps the id and subscriptions (what a handoff stub needs). */
void fb_session_clear_state(fb_session_t *s);

void fb_session_set_will(fb_session_t *s, fb_msg_t *will, uint32_t delay);
void fb_delivery_release(fb_delivery_t *d);

/*
 * Versioned serialization of everything above except `conn` and the router
 * scratch: the one function pair takeover and evacuation stand on.
 * serialize returns a malloc'd buffer (caller frees) and its length, NULL on
 * ENOMEM. deserialize builds a new session (caller owns) or returns NULL with
 * a static reason in *why: it checks every length, so bytes from a peer
 * cannot crash it.
 */
uint8_t *fb_session_serialize(const fb_session_t *s, size_t *len);
/* The same in an older format version (1..FB_SESSION_FORMAT_VERSION), for a
 * peer that reads only that one. */
uint8_t *fb_session_serialize_v(const fb_session_t *s, uint8_t version, size_t *len);
fb_session_t *fb_session_deserialize(const uint8_t *buf, size_t len, const char **why);

#define FB_SESSION_FORMAT_VERSION 2
#endif
