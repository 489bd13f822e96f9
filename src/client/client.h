/*
 * libferryclient: an MQTT 3.1.1 / 5.0 client on libuv, built on
 * libferrymqtt. Thousands of clients share one loop; a client costs one
 * struct (about 700 bytes), its socket while connected, and buffers that
 * exist only while they hold something (see README.md for the figures).
 *
 * Ownership: the caller owns the uv_loop_t; fcl_client_new copies every
 * string and byte range of fcl_opts_t, so the caller's may go away after the
 * call. fcl_client_free may be called at any time, from any callback too:
 * the memory is released after the last handle's close callback (libuv's
 * rule), and no callback fires after fcl_client_free returns. Callbacks
 * receive borrowed data (topics, payloads, properties, codes), valid only
 * during the call. Single-threaded: one client belongs to one loop.
 */
#ifndef FCL_CLIENT_H
#define FCL_CLIENT_H

#include "mqtt/fmq.h"

#include <uv.h>

typedef struct fcl_client fcl_client_t;

typedef enum {
    FCL_RECONNECT_NONE,        /* a drop is final */
    FCL_RECONNECT_FIXED,       /* wait `delay_ms` each time */
    FCL_RECONNECT_EXPONENTIAL, /* delay_ms * 2^(n-1) for the n-th attempt, capped */
} fcl_reconnect_t;

typedef struct fcl_reconnect_policy {
    fcl_reconnect_t kind;
    uint32_t delay_ms;     /* first delay (default 100) */
    uint32_t max_delay_ms; /* cap (default 10000) */
    uint32_t jitter_pct;   /* +-% uniform spread of each delay (0 = none) */
    uint32_t max_attempts; /* consecutive failed attempts before giving up; 0 = unlimited */
    /* On DISCONNECT/CONNACK 0x9C (Use another server) or 0x9D (Server moved)
     * with a Server Reference "host[:port]" (the first of a space-separated
     * list), reconnect there from now on instead of the configured address.
     * Without a reference, or when false, the client reconnects to the
     * address it used (behind a load balancer: another node). */
    bool follow_server_reference;
    /* DISCONNECT 0x8E (Session taken over) means another connection uses our
     * client id; reconnecting would take it back and the two would evict
     * each other forever. So a takeover is final unless this is set. */
    bool reconnect_after_takeover;
} fcl_reconnect_policy_t;

/* Why a connection (or an attempt at one) ended, for on_disconnect. */
typedef struct fcl_disconnect_info {
    bool by_server;      /* DISCONNECT received (v5) or CONNACK refusal */
    bool was_connected;  /* a CONNACK 0 had been received on this socket */
    uint8_t reason;      /* reason code / 3.1.1 return code, 0 when the socket just closed */
    int sys_error;       /* libuv error (UV_EOF, UV_ECONNREFUSED, UV_ETIMEDOUT...), else 0 */
    bool will_reconnect; /* the policy schedules another attempt */
    uint32_t delay_ms;   /* ...after this many milliseconds */
    const char *server_reference; /* from the DISCONNECT/CONNACK, or NULL */
    /* This ended one of the two connections of a live takeover
     * (fcl_client_takeover). was_connected: the old connection, whose end
     * (normally the server's DISCONNECT 0x8E) is not final, the client goes
     * on over the new one (will_reconnect is true, delay 0). !was_connected:
     * the new connection failed before its CONNACK 0; the client goes on
     * over the old one when that is still up (state FCL_CONNECTED,
     * will_reconnect false), else by the policy, as after any failure. */
    bool takeover;
} fcl_disconnect_info_t;

typedef struct fcl_message {
    fmq_bytes_t topic, payload;
    uint8_t qos;
    bool retain, dup;
    const fmq_props_t *props; /* v5 properties (subscription ids, user props...) */
} fcl_message_t;

typedef struct fcl_callbacks {
    /* CONNACK received: reason 0 = accepted (else on_disconnect follows). */
    void (*on_connect)(fcl_client_t *c, uint8_t reason, bool session_present, void *ud);
    void (*on_message)(fcl_client_t *c, const fcl_message_t *m, void *ud);
    /* A QoS 1/2 publish was acknowledged (PUBACK / PUBCOMP, or a PUBREC
     * with an error) or a QoS 0 one queued for writing; `reason` from the
     * acknowledgement. */
    void (*on_published)(fcl_client_t *c, uint64_t token, uint8_t reason, void *ud);
    void (*on_subscribed)(fcl_client_t *c, uint16_t packet_id, const uint8_t *codes, size_t n,
                          void *ud);
    /* UNSUBACK: one reason code per filter in v5, none (n = 0) in 3.1.1. */
    void (*on_unsubscribed)(fcl_client_t *c, uint16_t packet_id, const uint8_t *codes, size_t n,
                            void *ud);
    void (*on_disconnect)(fcl_client_t *c, const fcl_disconnect_info_t *info, void *ud);
} fcl_callbacks_t;

typedef struct fcl_opts {
    const char *host; /* numeric IPv4/IPv6 address (default 127.0.0.1) */
    uint16_t port;
    const char *bind_addr; /* IPv4 source address (spread over 127.0.0.x), or NULL */
    uint8_t version;       /* FMQ_V311 or FMQ_V5 (default FMQ_V5) */
    /* "" or NULL lets the server assign one (v5); the assigned id is then
     * used for every reconnect, so a persistent session can resume. */
    const char *client_id;
    bool clean_start;         /* on every connect, reconnects included */
    uint16_t keep_alive;      /* seconds; 0 = off. PINGREQ when idle that long */
    uint32_t session_expiry;  /* v5 */
    uint16_t receive_maximum; /* v5: what we accept unacknowledged (0 = 65535) */
    uint16_t max_inflight;    /* outgoing QoS 1/2 window. v5: our cap below the
                                 server's Receive Maximum (0 = none). 3.1.1, which
                                 cannot say: 0 = 20, as paho and mosquitto */
    const char *username, *password;
    /* Will: topic NULL = none. */
    const char *will_topic;
    fmq_bytes_t will_payload;
    uint8_t will_qos;
    bool will_retain;
    uint32_t will_delay; /* v5 */
    fcl_reconnect_policy_t reconnect;
    uint32_t connect_timeout_ms; /* TCP connect + CONNACK (default 10000) */
    uint32_t max_queued;         /* QoS 1/2 publishes waiting for a slot (default 10000) */
    fcl_callbacks_t cb;
    void *ud;
} fcl_opts_t;

typedef enum {
    FCL_IDLE,       /* not started */
    FCL_CONNECTING, /* TCP connect or waiting for CONNACK */
    FCL_CONNECTED,
    FCL_WAITING, /* reconnect timer running */
    FCL_CLOSED,  /* final: no more attempts (fcl_client_start starts over) */
} fcl_state_t;

/* NULL when out of memory. */
fcl_client_t *fcl_client_new(uv_loop_t *loop, const fcl_opts_t *o);
/* Connects (and keeps reconnecting as the policy says). 0 or a libuv error;
 * a failed first attempt is also reported through on_disconnect. */
int fcl_client_start(fcl_client_t *c);
/*
 * Live takeover: while connected, opens a second connection to host:port
 * (numeric) with the same client id, Clean Start 0 and the same Session
 * Expiry, as a client moving to another node of a cluster does. The server
 * hands the session over and ends the old connection with DISCONNECT 0x8E;
 * that end is reported (on_disconnect, `takeover` set) but is not final.
 * Until the new CONNACK the old connection still carries what the server
 * sends (messages, acknowledgements, answered on it); new QoS 1/2 publishes
 * wait in the queue (state FCL_CONNECTING; QoS 0 is refused). On CONNACK 0
 * on_connect reports Session Present; with it, every unacknowledged QoS 1/2
 * message is resent on the new connection with DUP and its packet id
 * (PUBREL for those past PUBREC), and the incoming QoS 2 ids awaiting PUBREL
 * are kept, so the server can recognise resends both ways. From then on the
 * old connection is only read for its DISCONNECT (closed after
 * FCL_TAKEOVER_GRACE_MS without one, reported with UV_ETIMEDOUT). host:port
 * becomes the client's address for later reconnects; when the new
 * connection fails before its CONNACK, the client stays on the old one (if
 * still up) and its address. Returns 0, UV_ENOTCONN when not connected,
 * UV_EALREADY during a takeover, UV_EINVAL for a non-numeric host, or the
 * libuv error of a failed start (then reported through on_disconnect too).
 */
#define FCL_TAKEOVER_GRACE_MS 3000
int fcl_client_takeover(fcl_client_t *c, const char *host, uint16_t port);
/* Sends DISCONNECT (reason, v5) when connected and closes; no reconnect. */
void fcl_client_stop(fcl_client_t *c, uint8_t reason);
/* Closes the socket without DISCONNECT, as a crash would (the policy still
 * applies unless `final`). */
void fcl_client_drop(fcl_client_t *c, bool final);
/* Stops and frees (after the handles' close callbacks). No callback fires
 * after it returns. */
void fcl_client_free(fcl_client_t *c);

/*
 * Publishes (QoS 0/1/2). Bytes are copied. QoS 0 needs a connection and is
 * written at the end of the loop iteration. QoS 1/2 wait in a queue for an
 * inflight slot and survive reconnects: resent with DUP when the session
 * was resumed, sent again as new messages when it was not. `token` comes
 * back in on_published. Returns 0, or -1 when not connected (QoS 0), the
 * queue is full, or the client is closed.
 */
int fcl_publish(fcl_client_t *c, fmq_bytes_t topic, fmq_bytes_t payload, uint8_t qos, bool retain,
                const fmq_props_t *props, uint64_t token);
/* Subscribes to n filters (v5 options in the entries; sub_id 0 = none).
 * Returns the packet id (matched by on_subscribed), or -1. Only while
 * connected; a session that was not resumed has lost its subscriptions, so
 * subscribe from on_connect when session_present is false. */
int fcl_subscribe(fcl_client_t *c, const fmq_sub_entry_t *entries, size_t n, uint32_t sub_id);
/* Unsubscribes from n filters. Returns the packet id (matched by
 * on_unsubscribed), or -1. Only while connected. */
int fcl_unsubscribe(fcl_client_t *c, const fmq_bytes_t *filters, size_t n);

fcl_state_t fcl_client_state(const fcl_client_t *c);
const char *fcl_client_id(const fcl_client_t *c); /* assigned or configured; borrowed */
uint32_t fcl_client_inflight(const fcl_client_t *c);
uint32_t fcl_client_queued(const fcl_client_t *c);
/* QoS 1/2 messages resent (PUBLISH with DUP, or PUBREL) on resumed
 * sessions, reconnects and takeovers alike, since fcl_client_new. */
uint32_t fcl_client_resent(const fcl_client_t *c);
/* Bytes accepted but not yet handed to the kernel. */
size_t fcl_client_pending_bytes(const fcl_client_t *c);
/* The same plus what waits in the kernel's send queue (SIOCOUTQ): the
 * back-pressure QoS 0 lacks, for pacing a publisher. One system call. */
size_t fcl_client_unsent_bytes(const fcl_client_t *c);
/* Writes "host:port" where the client connects now (after a followed
 * Server Reference, the new one) into buf; returns buf. */
char *fcl_client_target(const fcl_client_t *c, char *buf, size_t len);
#endif
