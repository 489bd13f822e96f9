/*
 * Internal to src/cluster: the state shared by cluster.c (links,
 * membership, handshake, tick), route.c (routes, forwarding, retained) and
 * handoff.c (client id ownership, session transfer, forwarding stubs).
 */
#ifndef FC_CLUSTER_INT_H
#define FC_CLUSTER_INT_H

#include "broker/conn.h"
#include "broker/log.h"
#include "broker/map.h"
#include "cluster/cluster.h"
#include "cluster/frame.h"

#define FC_NONCE_LEN 32
#define FC_PRE_AUTH_MAX_FRAME 65536 /* before a peer proved the secret */

enum { L_CONNECTING, L_HANDSHAKE, L_UP, L_CLOSING };

struct fc_link {
    fc_cluster_t *cl;
    void *tctx;
    fc_link_t *prev, *next;      /* cl->links */
    uint8_t state;
    bool outgoing;
    bool hello_got, auth_sent;
    uint8_t version;             /* negotiated; 1 until then */
    uint8_t nonce[FC_NONCE_LEN]; /* ours, for this link */
    uint8_t peer_nonce[FC_NONCE_MAX];
    size_t peer_nonce_len;
    char *dialed;                /* outgoing: the address dialed */
    char *name, *cluster_addr, *client_addr; /* from the peer's HELLO */
    uint64_t incarnation;
    uint64_t opened_ms, last_rx_ms, last_ping_ms, up_ms;
    uint8_t *in;
    size_t in_len, in_cap;
    fb_map_t *routes;            /* filters the peer announced (value unused) */
    uint32_t sync_routes, sync_claims, sync_retained; /* received during its sync */
    bool synced;
    /* load.c: what the peer last reported (protocol >= 4) */
    bool has_load;
    fc_frame_t load;             /* .load, with status pointing into load_status */
    char *load_status;
    /* publish forwarding scratch (route.c) */
    uint64_t mark;
    bool plain;
    uint16_t n_shared;
    fmq_bytes_t shared[8];
};

/* An address worth dialing: a seed, a DNS answer or a member a peer told
 * us about. */
enum { T_SEED = 1, T_DNS = 2, T_MEMBER = 4 };
typedef struct fc_target {
    char *addr;
    char *name;          /* once known */
    uint8_t sources;     /* T_* */
    bool self;           /* this node's own address */
    fc_link_t *link;     /* dial in progress or up */
    uint64_t next_try_ms;
    uint64_t failing_since_ms; /* 0 while it works */
    uint32_t backoff_ms;
} fc_target_t;

/* Client id ownership: one entry per client id the cluster knows. */
typedef struct fc_owner {
    fc_link_t *peer;     /* NULL: this node */
    uint64_t stamp;
    uint16_t len;
    char id[];
} fc_owner_t;

/* A CONNECT waiting for its session from another node. */
/* A CONNECT waiting for its session from the other nodes. With conn NULL it
 * is the ask of a CONNECT that went away (refused after
 * cluster_takeover_timeout_ms, or closed by its client): the session may
 * still be on its way here, so the ask stays until it comes, every node has
 * answered, or cluster_peer_timeout_ms more has passed; meanwhile a later
 * claim from another node is answered with the session once it is here,
 * not with "none". */
typedef struct fc_pending {
    fb_conn_t *conn;
    fc_link_t **await;   /* nodes whose answer is still due (owned array) */
    uint32_t n_await;
    uint64_t stamp;
    uint64_t deadline_ms;
    struct fc_pending *next;
    uint16_t len;
    char id[];
} fc_pending_t;

/* A session handed to another node: the stub forwards until `until_ms`. A
 * migration also keeps the record until the target acknowledges. */
typedef struct fc_stub {
    fb_session_t *s;     /* the stub session (moved) in the broker's table */
    fc_link_t *to;
    uint64_t until_ms;
    uint64_t stamp;
    uint8_t *blob;       /* migration: the shipped record until acknowledged */
    size_t blob_len;
    /* A node whose CONNECT asked for the session while the migration was
     * unacknowledged: it gets the session if the migration fails. */
    fc_link_t *owed_to;
    uint64_t owed_stamp;
    fc_migrate_done_fn done;
    void *done_ctx;
    struct fc_stub *prev, *next; /* cl->stubs */
} fc_stub_t;

/* A delivery held back during a handoff (see handoff.c). */
typedef struct fc_held {
    fb_msg_t *m;         /* one reference */
    uint8_t granted;
    bool retain;
    uint8_t n_sub_ids;
    uint32_t sub_ids[8];
} fc_held_t;

/* A session that just arrived: the ids of messages delivered to it (to
 * drop second copies) and, while the old node still forwards, deliveries
 * that came another way, held back so that they cannot overtake it. */
typedef struct fc_dedup {
    fb_session_t *s;
    fc_link_t *from;     /* the node it came from, whose stub forwards */
    uint64_t until_ms;
    uint64_t *ids;       /* open addressing, 0 = empty */
    uint32_t cap, n;
    bool full_logged;
    bool holding;        /* until STUB_END from `from` (protocol >= 3) */
    uint64_t hold_until_ms;
    fc_held_t *held;
    uint32_t n_held, cap_held;
    struct fc_dedup *prev, *next; /* cl->dedups */
} fc_dedup_t;

struct fc_cluster {
    fb_broker_t *b;
    const fb_config_t *cfg;
    const fc_net_ops_t *ops;
    void *nctx;
    fb_cluster_ops_t hooks;
    char *name;                  /* this node's */
    char *advertise;             /* our cluster address as peers dial it */
    uint64_t incarnation;
    uint64_t now_ms;             /* monotonic, from the tick */
    uint64_t last_stamp;
    uint8_t proto_max;

    fc_link_t *links;
    fb_map_t *peers;             /* name -> UP link */
    fc_target_t *targets;
    size_t n_targets, cap_targets;

    fb_subtab_t *routes;         /* filter -> peer links (and self for shared groups) */
    fb_map_t *owners;            /* client id -> fc_owner_t (borrowing: key in the entry) */
    fc_pending_t *pending;
    fc_stub_t *stubs;            /* every stub (for the tick), and by client id: */
    fb_map_t *stub_index;        /* borrowing: key = the stub session's own id */
    fc_dedup_t *dedups;          /* likewise, for arrived sessions */
    fb_map_t *dedup_index;

    uint8_t *scratch;            /* frame encoding */
    size_t scratch_cap;
    uint64_t fwd_seq;            /* route.c: one per forwarded message */
    uint64_t fwd_id;             /* route.c: id of the message fwd_seq stands for */
    fc_link_t **fwd;             /* route.c: peers reached by this message */
    size_t n_fwd, cap_fwd;
    fmq_bytes_t local_shared[8]; /* route.c: shared groups this node serves for it */
    uint16_t n_local_shared;
    bool leaving;
    fc_link_t *cur_from;         /* the link whose frame is being handled, NULL otherwise */
    fc_frame_t self_load;        /* load.c: this node's last NODE_LOAD (status in self_status) */
    char *self_status;
    bool has_self_load;
    fc_rebal_fn on_rebal;        /* load.c: REBALANCE orders go here */
    void *on_rebal_ctx;
    fc_stats_t stats;
};

/* The subscriber that stands for this node in cl->routes (shared groups). */
#define FC_SELF(cl) ((void *)(cl))

/* cluster.c */
int fc__send(fc_link_t *l, const fc_frame_t *f);
void fc__broadcast(fc_cluster_t *cl, const fc_frame_t *f, fc_link_t *except);
fc_link_t *fc__peer(const fc_cluster_t *cl, fmq_bytes_t name);
void fc__link_fail(fc_link_t *l, uint8_t code, const char *why);

/* route.c */
void fc__route_add(void *ctx, fmq_bytes_t filter);
void fc__route_del(void *ctx, fmq_bytes_t filter);
uint32_t fc__publish(void *ctx, fb_msg_t *m, fb_route_sel_t *local);
void fc__sync_routes(fc_link_t *l, uint32_t *n_routes, uint32_t *n_retained);
int fc__on_route(fc_link_t *l, const fc_frame_t *f);
int fc__on_publish(fc_link_t *l, const fc_frame_t *f);
void fc__routes_drop(fc_link_t *l);
fb_msg_t *fc__msg_from_frame(const fc_msg_t *fm, uint8_t qos, bool retain);
void fc__msg_to_frame(const fb_msg_t *m, fc_msg_t *fm);

/* load.c */
int fc__on_node_load(fc_link_t *l, const fc_frame_t *f);
int fc__on_rebalance(fc_link_t *l, const fc_frame_t *f);
void fc__load_link_up(fc_link_t *l);
void fc__load_link_free(fc_link_t *l);
void fc__load_free(fc_cluster_t *cl);

/* handoff.c */
bool fc__connect(void *ctx, fb_conn_t *c, fmq_bytes_t id, bool clean_start, fb_session_t *held);
void fc__connect_cancel(void *ctx, fb_conn_t *c);
void fc__session_gone(void *ctx, fb_session_t *s);
void fc__forward(void *ctx, fb_session_t *s, fb_msg_t *m, uint8_t qos, bool retain,
                 const uint32_t *sub_ids, uint8_t n_sub_ids);
bool fc__handoff_filter(void *ctx, fb_session_t *s, fb_msg_t *m, uint8_t granted, bool retain,
                        const uint32_t *sub_ids, uint8_t n_sub_ids);
int fc__on_stub_end(fc_link_t *l, const fc_frame_t *f);
void fc__sync_claims(fc_link_t *l, uint32_t *n);
int fc__on_claim(fc_link_t *l, const fc_frame_t *f);
int fc__on_release(fc_link_t *l, const fc_frame_t *f);
int fc__on_session(fc_link_t *l, const fc_frame_t *f);
int fc__on_session_ack(fc_link_t *l, const fc_frame_t *f);
int fc__on_deliver(fc_link_t *l, const fc_frame_t *f);
void fc__handoff_peer_down(fc_link_t *l);
void fc__handoff_tick(fc_cluster_t *cl);
void fc__handoff_free(fc_cluster_t *cl);
#endif
