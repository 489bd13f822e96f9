/*
 * One MQTT network connection: the read loop (frame, decode, validate,
 * apply), the packet handlers and the output buffer. It reaches the network
 * only through fb_transport_ops_t, so protocol code never sees libuv; a TCP
 * transport lives in server.c, a test or fuzz transport anywhere.
 *
 * Lifecycle: the transport creates a conn with fb_conn_new when it accepts,
 * feeds bytes with fb_conn_input, and calls fb_conn_closed once its socket is
 * closed; fb_conn_closed frees the conn. Protocol code asks for a close with
 * fb_conn_close, which detaches the session at once and asks the transport
 * to close after the pending output.
 */
#ifndef FB_CONN_H
#define FB_CONN_H

#include "broker/broker.h"

typedef struct fb_transport_ops {
    /* Queue bytes for sending; the transport copies what it cannot write now.
     * Returns 0, or -1 when the connection is broken. */
    int (*send)(void *tctx, const uint8_t *data, size_t len);
    /* Bytes queued in the transport and not yet on the wire. */
    size_t (*backlog)(void *tctx);
    /* Close after sending what is queued; later call fb_conn_closed. */
    void (*close)(void *tctx);
    /* The peer's address as text, for logs (written into buf). */
    void (*peer)(void *tctx, char *buf, size_t len);
} fb_transport_ops_t;

enum { FB_CONN_NEW, FB_CONN_ACTIVE, FB_CONN_CLOSING };

typedef struct fb_conn {
    fb_broker_t *b;
    const fb_transport_ops_t *ops;
    void *tctx;
    struct fb_conn *prev, *next;   /* b->conns */
    struct fb_conn *dirty_next;    /* b->dirty */
    bool dirty;
    uint8_t state;                 /* FB_CONN_* */
    uint8_t version;               /* protocol level from CONNECT */
    bool over_limit;               /* accepted beyond max_connections: refuse at CONNECT */
    bool graceful;                 /* DISCONNECT 0x00 received: no will */
    bool request_problem_info;
    bool out_idle : 1;             /* no packet since the last tick (then out is freed) */
    bool cluster_wait : 1;         /* CONNECT held until the cluster fetched the session */
    bool cluster_checked : 1;      /* the cluster has seen this CONNECT: do not ask again */
    bool connect_seen : 1;         /* connect_ms is set */
    uint64_t connect_ms;           /* monotonic: the CONNECT arrived (CONNACK latency) */
    fb_session_t *session;

    uint8_t *in;                   /* partial packet carried between reads */
    size_t in_len, in_cap;
    uint8_t *out;                  /* encoded packets not yet handed to the transport */
    size_t out_len, out_cap;
    uint64_t last_flush_round;     /* b->flush_round of its last flush */

    uint64_t opened_ms, last_rx_ms; /* monotonic clock (b->mono_ms) */
    uint16_t keep_alive;           /* seconds, as granted */
    uint16_t client_receive_max;   /* QoS 1/2 PUBLISHes we may have unacknowledged */
    uint32_t client_max_packet;    /* largest packet the client accepts, 0 = no limit */
    uint16_t topic_alias_max;      /* aliases we accept from the client */
    fmq_bytes_t *aliases;          /* [1..topic_alias_max], owned copies */
    uint32_t session_expiry_at_connect;
} fb_conn_t;

fb_conn_t *fb_conn_new(fb_broker_t *b, const fb_transport_ops_t *ops, void *tctx);
/* The peer's address for a log line: asked of the transport only when a line
 * is written, so connections do not carry it (FB_PEER(c) in a log call). */
const char *fb_conn_peer(const fb_conn_t *c, char *buf, size_t len);
#define FB_PEER(c) fb_conn_peer((c), (char[64]){0}, 64)
/* Bytes from the network. Borrowed: anything kept is copied. */
void fb_conn_input(fb_conn_t *c, const uint8_t *data, size_t len);
/* The transport's socket is closed: detach, will, free. */
void fb_conn_closed(fb_conn_t *c);
/* Protocol-side close. `reason` is a reason code for a v5 DISCONNECT (or
 * CONNACK when CONNECT was not yet accepted), 0 for a plain close. */
void fb_conn_close(fb_conn_t *c, uint8_t reason, const char *why);

/* The cluster fetched (or gave up fetching) the session a waiting CONNECT
 * asked for: run the CONNECT again, now against what this node holds, and
 * then any packets the client sent behind it. */
void fb_conn_connect_resume(fb_conn_t *c);
/* The waiting CONNECT is refused with reason (MQTT 5 CONNACK; 3.1.1 return
 * code 3 where it has one) and the connection closed; no session is made. */
void fb_conn_connect_refuse(fb_conn_t *c, uint8_t reason, const char *why);

/* Sends a delivery of the session attached to c (router, resume). Returns
 * false when it was not sent (closing, or over the client's Maximum Packet
 * Size). */
bool fb_conn_send_publish(fb_conn_t *c, fb_delivery_t *d, bool dup);
/* Moves queued deliveries into the inflight window while it has room. */
void fb_conn_pump(fb_conn_t *c);
/* Queues `len` encoded bytes for the transport. */
void fb_conn_write(fb_conn_t *c, const uint8_t *data, size_t len);
size_t fb_conn_backlog(const fb_conn_t *c);
#endif
