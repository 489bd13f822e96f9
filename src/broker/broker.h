/*
 * The broker's protocol state: sessions, subscriptions, retained messages,
 * connections, counters. No libuv here: server.c owns the loop, sockets and
 * timers and calls in (fb_broker_tick, fb_broker_flush, the conn.h entry
 * points), so tests and fuzzers can drive a broker without any I/O.
 *
 * Ownership: fb_broker_new copies nothing from cfg it does not own: the
 * broker keeps a pointer to the caller's fb_config_t, which must outlive it.
 */
#ifndef FB_BROKER_H
#define FB_BROKER_H

#include "broker/config.h"
#include "broker/map.h"
#include "broker/retain.h"
#include "broker/session.h"
#include "broker/subs.h"

struct fb_conn;

typedef struct fb_stats {
    uint64_t conns_accepted, conns_refused, conns_closed;
    uint64_t msgs_in[3], msgs_out[3];       /* PUBLISH packets by QoS */
    uint64_t msgs_dropped[3];                /* by QoS: queue limit, expiry, write backlog */
    uint64_t bytes_in, bytes_out;
    uint64_t takeovers, sessions_expired, wills_published;
    uint64_t protocol_errors;
    uint64_t conns_redirected;               /* CONNECTs refused by the eviction agent */
    uint64_t conns_evicted;                  /* connections closed by an evacuation/rebalance */
} fb_stats_t;

/* Returns FMQ_RC_SUCCESS or a CONNACK reason (0x86, 0x87, ...). */
typedef uint8_t (*fb_auth_fn)(void *ctx, fmq_bytes_t client_id, const fmq_bytes_t *username,
                              const fmq_bytes_t *password);

/* Which local subscriptions a routed message goes to: a cluster node
 * delivers a peer's message to its plain subscribers only when the peer
 * says so, and serves only the shared groups the cluster picked it for. */
typedef struct fb_route_sel {
    bool skip_plain;
    bool (*group_ok)(void *ctx, fmq_bytes_t shared_filter); /* NULL: every group */
    void *ctx;
} fb_route_sel_t;

/*
 * What a cluster (src/cluster) plugs into a node. All optional as a set:
 * with no ops the broker is a single node. Called on the loop thread.
 */
typedef struct fb_cluster_ops {
    /* A filter got its first local subscriber / lost its last one. */
    void (*route_add)(void *ctx, fmq_bytes_t filter);
    void (*route_del)(void *ctx, fmq_bytes_t filter);
    /* A message published on this node (client PUBLISH or will), before
     * local delivery: forward it to the nodes that need it and fill *local
     * with the local part of the choice. Returns the nodes it went to. */
    uint32_t (*publish)(void *ctx, fb_msg_t *m, fb_route_sel_t *local);
    /* A CONNECT for `id`, accepted so far. `held` is the session this node
     * holds for it (NULL, or a moved stub). Returns true when the
     * connection must wait for fb_conn_connect_resume (the session is being
     * fetched from its owner). */
    bool (*connect)(void *ctx, struct fb_conn *c, fmq_bytes_t id, bool clean_start,
                    fb_session_t *held);
    /* A session leaves this node's table for good (expiry, clean start,
     * connection-lifetime session closed, a stub removed or replaced):
     * the cluster forgets its pointer, and releases the client id when
     * this node owned it. */
    void (*session_gone)(void *ctx, fb_session_t *s);
    /* A delivery for a moved stub: send it on to where the session went. */
    void (*forward)(void *ctx, fb_session_t *s, fb_msg_t *m, uint8_t qos, bool retain,
                    const uint32_t *sub_ids, uint8_t n_sub_ids);
    /* For a session with `dedup` set (it just arrived from another node):
     * true when the cluster takes the delivery, because m already reached
     * it (dropped) or because it must wait until the old node's forwarding
     * ends, to keep the order (the cluster delivers it later with
     * fb_deliver). */
    bool (*handoff_filter)(void *ctx, fb_session_t *s, fb_msg_t *m, uint8_t granted,
                           bool retain, const uint32_t *sub_ids, uint8_t n_sub_ids);
    /* A connection that was waiting (connect returned true) is gone. */
    void (*connect_cancel)(void *ctx, struct fb_conn *c);
} fb_cluster_ops_t;

/*
 * The eviction agent: a passive flag that evacuation and rebalance
 * (src/evac) set, and the broker only reads. `kind` says who owns it (they
 * exclude each other); while `block_connects` is set, every CONNECT is
 * refused before authentication with 0x9C "use another server" (v3.1.1:
 * return code 3), with `server_ref` as the MQTT 5 Server Reference when set.
 * While kind is not FB_AGENT_NONE the node also refuses sessions migrated to
 * it (it is being emptied).
 */
enum { FB_AGENT_NONE = 0, FB_AGENT_EVACUATION = 1, FB_AGENT_REBALANCE = 2 };
typedef struct fb_evict_agent {
    uint8_t kind;
    bool block_connects;
    char server_ref[1025];
} fb_evict_agent_t;

/* CONNECT-to-CONNACK times of accepted CONNECTs since the last reset (the
 * evacuation's auto rate reads what a node absorbs from it). */
typedef struct fb_connack_window {
    uint32_t count;
    uint64_t sum_ms;
    uint32_t max_ms;
} fb_connack_window_t;

typedef struct fb_conn_list {
    struct fb_conn *head;
} fb_conn_list_t;

typedef struct fb_broker {
    const fb_config_t *cfg;
    uint64_t now_ms;               /* wall clock: message/session expiry, wills */
    uint64_t mono_ms;              /* monotonic clock: keep alive, connect timeout */
    fb_map_t *sessions;            /* client id -> fb_session_t */
    fb_subtab_t *subs;
    fb_retain_t *retained;
    struct fb_conn *conns;         /* every live connection (doubly linked) */
    struct fb_conn *dirty;         /* connections with unflushed output (singly linked) */
    uint32_t n_conns;
    uint32_t n_clients;            /* connections that completed CONNECT (FB_CONN_ACTIVE) */
    uint32_t max_connections;
    uint64_t fanout_seq;           /* router: one number per routed message */
    uint64_t flush_round;          /* fb_broker_flush calls (loop iterations) */
    void *route_scratch;           /* router: reused target array (deliver.c) */
    uint32_t route_cap;
    uint64_t next_client_seq;      /* assigned client identifiers */
    uint64_t id_base;              /* random per process: assigned ids never collide */
    fb_auth_fn auth;
    void *auth_ctx;
    bool shutting_down;
    const fb_cluster_ops_t *cluster;  /* NULL: a single node */
    void *cluster_ctx;
    uint64_t next_msg_id;          /* message ids: random start, +1 per routed message */
    fb_evict_agent_t agent;
    fb_connack_window_t connack;
    fb_stats_t stats;
} fb_broker_t;

fb_broker_t *fb_broker_new(const fb_config_t *cfg);
/* Frees every session, message and table. Connections must be gone. */
void fb_broker_free(fb_broker_t *b);

/* The clocks: wall time (ms since the epoch) for what travels between nodes
 * (message expiry, session expiry, will times), a monotonic clock for
 * connection timers, so that a step of the wall clock never drops clients. */
void fb_broker_set_clock(fb_broker_t *b, uint64_t wall_ms, uint64_t mono_ms);

/* Once a second (or more): keep alive, connect timeouts, delayed wills,
 * session expiry. Sets the clocks first. */
void fb_broker_tick(fb_broker_t *b, uint64_t wall_ms, uint64_t mono_ms);
/* Hands every connection's pending output to its transport. */
void fb_broker_flush(fb_broker_t *b);

/* Routes a message to every matching subscription (and stores it when
 * retained). Takes no reference from the caller. Returns the number of
 * sessions it reached. */
uint32_t fb_broker_route(fb_broker_t *b, fb_msg_t *m);
/* Local delivery only, restricted by sel (NULL: everything): for messages
 * that arrive from another node. */
uint32_t fb_broker_route_local(fb_broker_t *b, fb_msg_t *m, const fb_route_sel_t *sel);
/* Retained store update for a RETAIN publish: empty payload clears. */
void fb_broker_retain(fb_broker_t *b, fb_msg_t *m);

/* Removes a session from the table and the router and frees it. */
void fb_broker_session_drop(fb_broker_t *b, fb_session_t *s);
/* Subscription changes that keep the router and the cluster's route
 * announcements in step. Return the fb_subtab_* flags (-1: ENOMEM). */
int fb_broker_sub_add(fb_broker_t *b, fb_session_t *s, fmq_bytes_t filter, const fb_sub_opts_t *o);
int fb_broker_sub_remove(fb_broker_t *b, fb_session_t *s, fmq_bytes_t filter);

/* Adds a session that arrived from another node (offline, not attached),
 * with its subscriptions. A session of the same id held here (a moved
 * stub, an offline one) is replaced after the new one is subscribed, so
 * the node's routes do not flap. Returns 0, or -1 (ENOMEM: s is freed). */
int fb_broker_session_install(fb_broker_t *b, fb_session_t *s);
/* Takes a session out of the node: removes it from the table and router
 * without freeing it (the caller owns it). */
void fb_broker_session_detach(fb_broker_t *b, fb_session_t *s);

/* Publishes a session's will now (and clears it). */
void fb_broker_publish_will(fb_broker_t *b, fb_session_t *s);

/* Evicts one client connection (oldest-first is not promised): MQTT 5
 * gets DISCONNECT 0x9C with the agent's Server Reference, 3.1.1 a close.
 * The session stays (or ends) as the spec says for a server-side close, and
 * the will is published. Returns false when no connection is left. */
bool fb_broker_evict_one(fb_broker_t *b);

/* Starts SIGTERM handling: v5 clients get DISCONNECT 0x8B, all close. */
void fb_broker_shutdown(fb_broker_t *b);

/* Wall clock in ms (CLOCK_REALTIME). */
uint64_t fb_now_ms(void);
#endif
