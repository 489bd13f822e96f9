/*
 * The cluster: several ferrymq nodes acting as one broker. Membership
 * (static seeds, DNS), a full mesh of authenticated links, route
 * replication and publish forwarding, cluster-wide shared subscriptions and
 * retained messages, one owner per client id, session handoff between nodes.
 *
 * No libuv here, as in src/broker: a network layer (net.c, libuv) owns the
 * sockets and timers and calls in; the cluster reaches the network only
 * through fc_net_ops_t. The cluster plugs into the broker through
 * fb_cluster_ops_t (broker.h).
 *
 * Ownership: fc_cluster_new borrows the broker and the config (both outlive
 * it). Links are created by the cluster (fc_link_accepted, or its own
 * connect requests) and freed by fc_link_closed, which the network layer
 * calls once a link's socket is closed.
 */
#ifndef FC_CLUSTER_H
#define FC_CLUSTER_H

#include "broker/broker.h"
#include "cluster/frame.h"

typedef struct fc_cluster fc_cluster_t;
typedef struct fc_link fc_link_t;

typedef struct fc_net_ops {
    /* Queue bytes on a link (the network layer batches and copies).
     * Returns 0, or -1 when the link is broken. */
    int (*send)(void *tctx, const uint8_t *data, size_t len);
    /* Bytes queued and not yet written. */
    size_t (*backlog)(void *tctx);
    /* Close after what is queued; fc_link_closed follows. */
    void (*close)(void *tctx);
    /* Start an outgoing TCP connection to "host:port" for link l. Returns
     * the transport context (fc_link_connected or fc_link_closed follow),
     * or NULL when it could not even start. */
    void *(*connect)(void *nctx, const char *addr, fc_link_t *l);
} fc_net_ops_t;

/* Validates the cluster settings (cfg->cluster_listen must be set) and
 * plugs the cluster into the broker. NULL with a message in err. */
fc_cluster_t *fc_cluster_new(fb_broker_t *b, const fb_config_t *cfg, const fc_net_ops_t *ops,
                             void *nctx, char *err, size_t errlen);
/* Unplugs from the broker and frees every link record (the network layer
 * has closed their sockets first) and table. */
void fc_cluster_free(fc_cluster_t *cl);

/* The network layer's calls. */
fc_link_t *fc_link_accepted(fc_cluster_t *cl, void *tctx);
void fc_link_connected(fc_link_t *l);
void fc_link_input(fc_link_t *l, const uint8_t *data, size_t len);
void fc_link_closed(fc_link_t *l);
/* Heartbeats, dead peers, reconnects, handoff timers. Every 100 ms or so. */
void fc_cluster_tick(fc_cluster_t *cl, uint64_t mono_ms);
/* The addresses ("ip:port") a DNS poll returned (replacing the last set). */
void fc_cluster_dns_result(fc_cluster_t *cl, char *const *addrs, size_t n);
/* Graceful leave: tells every peer, which forget this node at once. */
void fc_cluster_leave(fc_cluster_t *cl);

/*
 * The session transfer primitive without a client (evacuation): moves the
 * offline session `client_id` held here to node `node`. The session is
 * shipped, this node forwards what still reaches it for a while, and done()
 * reports the outcome: 0 when the target installed it, -1 when the target
 * refused it or vanished (the session is then restored here). Returns 0 when
 * the transfer started, -1 with a reason in *why (no such offline session,
 * unknown or unreachable node, a transfer already running).
 */
typedef void (*fc_migrate_done_fn)(void *ctx, fmq_bytes_t client_id, const char *node, int status);
int fc_cluster_migrate(fc_cluster_t *cl, fmq_bytes_t client_id, const char *node,
                       fc_migrate_done_fn done, void *ctx, const char **why);

/*
 * Load and evacuation state between nodes (protocol 4). Every node
 * publishes its load about once a second (src/evac does); the cluster sends
 * it to every peer that speaks protocol 4, and to a peer that comes up, and
 * keeps what each peer last reported.
 */
typedef struct fc_node_load {
    uint32_t connections;        /* clients that completed CONNECT */
    uint32_t sessions;           /* held here, online and offline (no stubs) */
    uint32_t offline_sessions;
    uint32_t pending_connects;   /* connections that have not completed CONNECT */
    uint32_t connack_count;      /* CONNACKs in the last window, their mean and */
    uint32_t connack_mean_ms;    /* largest CONNECT-to-CONNACK time */
    uint32_t connack_max_ms;
    uint8_t agent;               /* FC_AGENT_* */
    bool available;              /* takes new clients and migrated sessions */
    const char *status;          /* JSON text of the evacuation/rebalance ("" none); borrowed */
} fc_node_load_t;
/* Copies ld and sends it to the peers. */
void fc_cluster_publish_load(fc_cluster_t *cl, const fc_node_load_t *ld);
/* What peer `node` last reported: false when it is not up, speaks a
 * protocol below 4 or has not reported yet. out->status is borrowed until
 * the next call into the cluster. */
bool fc_cluster_peer_load(const fc_cluster_t *cl, const char *node, fc_node_load_t *out);

/* A rebalance coordinator's order to a donor (see frame.h, REBALANCE). */
typedef struct fc_rebal_order {
    uint8_t op;                  /* FC_REBAL_* */
    uint32_t lease_ms;           /* the donor clears itself after this without an order */
    uint32_t conns, sessions;    /* to evict / migrate within the next second */
    uint16_t n_recipients;
    fmq_bytes_t recipients[64];  /* borrowed */
    fmq_bytes_t info;            /* JSON text for the donor's status; borrowed */
} fc_rebal_order_t;
/* Returns 0, or -1 with a reason (unknown node, link down, protocol < 4). */
int fc_cluster_send_rebalance(fc_cluster_t *cl, const char *node, const fc_rebal_order_t *o,
                              const char **why);
typedef void (*fc_rebal_fn)(void *ctx, const char *from, const fc_rebal_order_t *o);
void fc_cluster_on_rebalance(fc_cluster_t *cl, fc_rebal_fn fn, void *ctx);
/* This node's name in the cluster. */
const char *fc_cluster_self(const fc_cluster_t *cl);

/* What the cluster knows, for logs, tests and the admin API. */
typedef struct fc_peer_info {
    const char *name;
    const char *cluster_addr;
    const char *client_addr;
    uint8_t version;           /* protocol version the link speaks */
    bool up;
    uint32_t routes;           /* filters the peer announced */
} fc_peer_info_t;
size_t fc_cluster_peers(const fc_cluster_t *cl, fc_peer_info_t *out, size_t cap);
/* Owner of a client id: NULL when unknown, this node's name, or a peer's. */
const char *fc_cluster_owner(const fc_cluster_t *cl, fmq_bytes_t client_id);

typedef struct fc_stats {
    uint64_t frames_in, frames_out, bytes_in, bytes_out;
    uint64_t publishes_forwarded, publishes_received;
    uint64_t sessions_shipped, sessions_received, sessions_discarded, takeovers_timed_out;
    uint64_t deliveries_forwarded, duplicates_dropped, deliveries_held;
    uint64_t links_refused, peers_down;
} fc_stats_t;
const fc_stats_t *fc_cluster_stats(const fc_cluster_t *cl);
#endif
