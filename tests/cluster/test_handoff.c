/*
 * The cluster's protocol state, in one process and without sockets: up to
 * four nodes (broker + cluster each) joined by in-memory links whose
 * delivery the test controls (hold a direction, cut a node off), and MQTT
 * clients on in-memory transports. This is where the orderings that real
 * sockets make rare are forced: racing claims, a message that reaches the
 * old node after the session left, a target that vanishes mid-migration.
 * It also tests fc_cluster_migrate (the transfer without a client) directly,
 * and protocol 4's load reports and rebalance orders (load.c), reading the
 * frames each node receives off the in-memory links.
 */
#include "broker/conn.h"
#include "broker/log.h"
#include "cluster/cluster.h"
#include "cluster/frame.h"

#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXN 4
#define MAXE 256

typedef struct node {
    fb_config_t cfg;
    fb_broker_t *b;
    fc_cluster_t *cl;
    bool dead; /* cut off: nothing in or out */
} node_t;

typedef struct end {
    int node;
    fc_link_t *l;
    struct end *peer;
    uint8_t *in; /* bytes on their way to this end */
    size_t in_len, in_cap;
    bool closed, reported, connect_pending, hold;
} end_t;

static node_t nodes[MAXN];
static int n_nodes;
static end_t *ends[MAXE];
static int n_ends;
static uint64_t mono = 100000;
/* Frames each node received, by type (counted as the links deliver them). */
static unsigned rx[MAXN][FC_T_MAX_ + 1];

static void count_frames(int node, const uint8_t *p, size_t n)
{
    size_t off = 0;
    while (off < n) {
        fc_frame_t f;
        const char *why = NULL;
        int64_t used = fc_frame_decode(p + off, n - off, UINT32_MAX, &f, &why);
        if (used <= 0)
            return; /* the node itself will say what is wrong */
        rx[node][f.type]++;
        off += (size_t)used;
    }
}

/* ---- links ---- */

static void append(end_t *e, const uint8_t *d, size_t n)
{
    if (e->in_len + n > e->in_cap) {
        e->in_cap = (e->in_len + n) * 2;
        e->in = realloc(e->in, e->in_cap);
    }
    memcpy(e->in + e->in_len, d, n);
    e->in_len += n;
}

static int net_send(void *t, const uint8_t *d, size_t n)
{
    end_t *e = t;
    if (e->closed)
        return -1;
    append(e->peer, d, n);
    return 0;
}

static size_t net_backlog(void *t)
{
    (void)t;
    return 0;
}

static void net_close(void *t)
{
    end_t *e = t;
    e->closed = true;
    e->peer->closed = true;
}

static end_t *end_new(int node)
{
    end_t *e = calloc(1, sizeof *e);
    e->node = node;
    ends[n_ends++] = e;
    return e;
}

static void *net_connect(void *nctx, const char *addr, fc_link_t *l)
{
    int from = (int)((node_t *)nctx - nodes);
    for (int j = 0; j < n_nodes; j++) {
        if (j == from || strcmp(nodes[j].cfg.cluster_listen, addr) != 0 || nodes[j].dead ||
            !nodes[j].cl || n_ends + 2 > MAXE)
            continue;
        end_t *a = end_new(from), *b = end_new(j);
        a->peer = b;
        b->peer = a;
        a->l = l;
        b->l = fc_link_accepted(nodes[j].cl, b);
        a->connect_pending = true;
        return a;
    }
    return NULL;
}

static const fc_net_ops_t net_ops = {net_send, net_backlog, net_close, net_connect};

/* ---- MQTT clients ---- */

typedef struct cli {
    int node;
    fb_conn_t *conn;
    uint8_t out[1 << 16];
    size_t len, pos;
    bool closed;
} cli_t;

static int cli_send(void *t, const uint8_t *d, size_t n)
{
    cli_t *c = t;
    if (c->len + n <= sizeof c->out) {
        memcpy(c->out + c->len, d, n);
        c->len += n;
    }
    return 0;
}

static size_t cli_backlog(void *t)
{
    (void)t;
    return 0;
}

static void cli_close(void *t)
{
    ((cli_t *)t)->closed = true;
}

static const fb_transport_ops_t cli_ops = {cli_send, cli_backlog, cli_close, NULL};

static cli_t *clients[64];
static int n_clients;

static cli_t *cli_new(int node)
{
    cli_t *c = calloc(1, sizeof *c);
    c->node = node;
    c->conn = fb_conn_new(nodes[node].b, &cli_ops, c);
    clients[n_clients++] = c;
    return c;
}

static void cli_packet(cli_t *c, const fmq_packet_t *p)
{
    uint8_t buf[4096];
    fmq_err_t err;
    int n = fmq_encode(p, FMQ_V5, buf, sizeof buf, &err);
    CHECK(n > 0 && (size_t)n <= sizeof buf);
    if (n > 0 && (size_t)n <= sizeof buf && c->conn)
        fb_conn_input(c->conn, buf, (size_t)n);
}

/* The next packet the client received, or false. */
static bool cli_next(cli_t *c, fmq_packet_t *p)
{
    fmq_decode_opts_t o = {FMQ_V5, 0};
    fmq_err_t err;
    int n = fmq_decode(c->out + c->pos, c->len - c->pos, &o, p, &err);
    if (n <= 0)
        return false;
    c->pos += (size_t)n;
    return true;
}

/* Skips to the next packet of a type; false when there is none. */
static bool cli_expect(cli_t *c, fmq_type_t type, fmq_packet_t *p)
{
    while (cli_next(c, p))
        if (p->type == type)
            return true;
    return false;
}

static void cli_connect(cli_t *c, const char *id, bool clean, uint32_t expiry)
{
    fmq_packet_t p = {.type = FMQ_CONNECT};
    p.connect.version = FMQ_V5;
    p.connect.clean_start = clean;
    p.connect.keep_alive = 0;
    p.connect.client_id = (fmq_bytes_t){(const uint8_t *)id, (uint32_t)strlen(id)};
    p.connect.props.present = FMQ_PROP_BIT(FMQ_PROP_SESSION_EXPIRY);
    p.connect.props.session_expiry = expiry;
    cli_packet(c, &p);
}

static void cli_subscribe(cli_t *c, const char *filter, uint8_t qos)
{
    fmq_sub_entry_t e = {.filter = {(const uint8_t *)filter, (uint32_t)strlen(filter)},
                         .qos = qos};
    fmq_packet_t p = {.type = FMQ_SUBSCRIBE};
    p.subscribe.packet_id = 1;
    p.subscribe.count = 1;
    p.subscribe.entries = &e;
    cli_packet(c, &p);
}

static void cli_publish(cli_t *c, const char *topic, const char *payload, uint8_t qos,
                        uint16_t id, bool dup)
{
    fmq_packet_t p = {.type = FMQ_PUBLISH};
    p.publish.qos = qos;
    p.publish.dup = dup;
    p.publish.packet_id = id;
    p.publish.topic = (fmq_bytes_t){(const uint8_t *)topic, (uint32_t)strlen(topic)};
    p.publish.payload = (fmq_bytes_t){(const uint8_t *)payload, (uint32_t)strlen(payload)};
    cli_packet(c, &p);
}

static void cli_disconnect(cli_t *c)
{
    fmq_packet_t p = {.type = FMQ_DISCONNECT};
    cli_packet(c, &p);
}

/* ---- driving it ---- */

/* Delivers link bytes, connects and closes, and MQTT output, until quiet. */
static void pump(void)
{
    for (int round = 0; round < 10000; round++) {
        bool moved = false;
        for (int i = 0; i < n_ends; i++) {
            end_t *e = ends[i];
            if (e->reported || nodes[e->node].dead || nodes[e->peer->node].dead)
                continue;
            /* Like TCP: what was sent before a close arrives first. */
            if (e->in_len && !e->hold) {
                uint8_t *buf = e->in;
                size_t n = e->in_len;
                e->in = NULL;
                e->in_len = e->in_cap = 0;
                count_frames(e->node, buf, n);
                fc_link_input(e->l, buf, n);
                free(buf);
                moved = true;
                continue;
            }
            if (e->closed && !e->in_len) {
                e->reported = true;
                fc_link_closed(e->l);
                e->l = NULL;
                moved = true;
                continue;
            }
            if (e->connect_pending && !e->closed) {
                e->connect_pending = false;
                fc_link_connected(e->l);
                moved = true;
            }
        }
        for (int i = 0; i < n_nodes; i++)
            if (nodes[i].b && !nodes[i].dead)
                fb_broker_flush(nodes[i].b);
        for (int i = 0; i < n_clients; i++) {
            cli_t *c = clients[i];
            if (c->closed && c->conn) {
                fb_conn_closed(c->conn);
                c->conn = NULL;
                moved = true;
            }
        }
        if (!moved)
            return;
    }
    CHECK(!"pump did not settle");
}

static void tick(uint64_t ms)
{
    mono += ms;
    for (int i = 0; i < n_nodes; i++) {
        if (!nodes[i].b || nodes[i].dead)
            continue;
        fb_broker_tick(nodes[i].b, fb_now_ms(), mono);
        fc_cluster_tick(nodes[i].cl, mono);
    }
    pump();
}

static int node_add(const char *secret, unsigned proto_max)
{
    fb_log_set_level(getenv("FMQ_TEST_DEBUG") ? FB_LOG_DEBUG : FB_LOG_ERROR + 0);
    int i = n_nodes++;
    node_t *n = &nodes[i];
    fb_config_defaults(&n->cfg);
    char buf[64];
    free(n->cfg.node_name);
    snprintf(buf, sizeof buf, "n%d", i + 1);
    n->cfg.node_name = strdup(buf);
    free(n->cfg.cluster_listen);
    snprintf(buf, sizeof buf, "10.0.0.%d:7000", i + 1);
    n->cfg.cluster_listen = strdup(buf);
    free(n->cfg.cluster_secret);
    n->cfg.cluster_secret = strdup(secret);
    free(n->cfg.cluster_seeds);
    n->cfg.cluster_seeds = strdup("10.0.0.1:7000");
    n->cfg.cluster_protocol_max = proto_max;
    n->cfg.cluster_handoff_linger_ms = 2000;
    n->b = fb_broker_new(&n->cfg);
    fb_broker_set_clock(n->b, fb_now_ms(), mono);
    char err[256] = "";
    n->cl = fc_cluster_new(n->b, &n->cfg, &net_ops, n, err, sizeof err);
    CHECK(n->cl != NULL);
    if (!n->cl)
        fprintf(stderr, "%s\n", err);
    return i;
}

static size_t peers_up(int i)
{
    fc_peer_info_t info[8];
    size_t n = fc_cluster_peers(nodes[i].cl, info, 8);
    size_t up = 0;
    for (size_t k = 0; k < n && k < 8; k++)
        up += info[k].up;
    return up;
}

static void teardown(void)
{
    for (int i = 0; i < n_clients; i++) {
        if (clients[i]->conn)
            fb_conn_closed(clients[i]->conn);
        free(clients[i]);
    }
    n_clients = 0;
    for (int i = 0; i < n_nodes; i++) {
        fc_cluster_free(nodes[i].cl); /* reports its links closed itself */
        fb_broker_free(nodes[i].b);
        fb_config_free(&nodes[i].cfg);
        memset(&nodes[i], 0, sizeof nodes[i]);
    }
    n_nodes = 0;
    for (int i = 0; i < n_ends; i++) {
        free(ends[i]->in);
        free(ends[i]);
    }
    n_ends = 0;
    memset(rx, 0, sizeof rx);
}

static void mesh(int n)
{
    for (int i = 0; i < n; i++)
        node_add("secret", FC_PROTO_MAX);
    for (int r = 0; r < 20; r++)
        tick(300);
    for (int i = 0; i < n; i++)
        CHECK_EQ_INT((long long)peers_up(i), n - 1);
}

static fb_session_t *session_at(int node, const char *id)
{
    fb_session_t *s = fb_map_get(nodes[node].b->sessions, id, strlen(id));
    return s && !s->moved ? s : NULL;
}

static int count_publishes(cli_t *c, const char *payload)
{
    fmq_packet_t p;
    int n = 0;
    while (cli_next(c, &p))
        if (p.type == FMQ_PUBLISH && (!payload || (p.publish.payload.len == strlen(payload) &&
                                                   memcmp(p.publish.payload.ptr, payload,
                                                          p.publish.payload.len) == 0)))
            n++;
    return n;
}

/* A persistent session left offline on `node`, subscribed to `filter`. */
static void offline_session(int node, const char *id, const char *filter)
{
    cli_t *c = cli_new(node);
    cli_connect(c, id, true, 600);
    cli_subscribe(c, filter, 1);
    pump();
    cli_disconnect(c);
    pump();
}

/* A connected client with a connection-lifetime session. */
static cli_t *client_on(int node, const char *id)
{
    cli_t *c = cli_new(node);
    cli_connect(c, id, true, 0);
    pump();
    return c;
}

/* ---- tests ---- */

static void test_mesh_and_routes(void)
{
    mesh(3);
    cli_t *sub = cli_new(1), *pub = cli_new(0);
    cli_connect(sub, "sub", true, 0);
    cli_subscribe(sub, "a/+", 1);
    cli_connect(pub, "pub", true, 0);
    pump();
    cli_publish(pub, "a/1", "hello", 1, 1, false);
    pump();
    fmq_packet_t p;
    CHECK(cli_expect(pub, FMQ_PUBACK, &p));
    CHECK_EQ_INT(p.ack.reason, 0); /* a remote subscriber counts */
    CHECK_EQ_INT(count_publishes(sub, "hello"), 1);
    cli_publish(pub, "b/1", "nobody", 1, 2, false);
    pump();
    CHECK(cli_expect(pub, FMQ_PUBACK, &p));
    CHECK_EQ_INT(p.ack.reason, FMQ_RC_NO_MATCHING_SUBSCRIBERS);
    /* The last local subscriber goes: the route goes everywhere. */
    cli_disconnect(sub);
    pump();
    cli_publish(pub, "a/1", "gone", 1, 3, false);
    pump();
    CHECK(cli_expect(pub, FMQ_PUBACK, &p));
    CHECK_EQ_INT(p.ack.reason, FMQ_RC_NO_MATCHING_SUBSCRIBERS);
    teardown();
}

static int done_status = 99;
static void on_done(void *ctx, fmq_bytes_t id, const char *node, int status)
{
    (void)ctx;
    (void)id;
    (void)node;
    done_status = status;
}

static void test_migrate_offline_session(void)
{
    mesh(3);
    offline_session(0, "x", "q/#");
    cli_t *pub = client_on(2, "pub");
    cli_publish(pub, "q/1", "m1", 1, 1, false);
    cli_publish(pub, "q/1", "m2", 1, 2, false);
    pump();
    CHECK(session_at(0, "x") != NULL);
    CHECK_EQ_INT(session_at(0, "x")->q_len, 2);

    /* Errors first: no such session, no such node, a connected session. */
    const char *why = NULL;
    fmq_bytes_t id = {(const uint8_t *)"x", 1};
    CHECK_EQ_INT(fc_cluster_migrate(nodes[0].cl, (fmq_bytes_t){(const uint8_t *)"nope", 4}, "n2",
                                    on_done, NULL, &why),
                 -1);
    CHECK(why && strstr(why, "no such session"));
    CHECK_EQ_INT(fc_cluster_migrate(nodes[0].cl, id, "n9", on_done, NULL, &why), -1);
    CHECK(why && strstr(why, "node"));

    /* Migrate to n2; before n3 hears of it, n3 publishes: the message goes
     * to n1 (the only route n3 knows), whose stub forwards it. */
    end_t *to_n3[MAXE];
    int held = 0;
    for (int i = 0; i < n_ends; i++)
        if (ends[i]->node == 2 && !ends[i]->reported) {
            ends[i]->hold = true;
            to_n3[held++] = ends[i];
        }
    done_status = 99;
    CHECK_EQ_INT(fc_cluster_migrate(nodes[0].cl, id, "n2", on_done, NULL, &why), 0);
    cli_publish(pub, "q/1", "m3", 1, 3, false);
    pump();
    for (int i = 0; i < held; i++)
        to_n3[i]->hold = false;
    pump();
    CHECK_EQ_INT(done_status, 0);
    CHECK(session_at(0, "x") == NULL); /* a stub at most */
    REQUIRE(session_at(1, "x") != NULL);
    CHECK_EQ_INT(session_at(1, "x")->q_len, 3);
    for (int i = 0; i < 3; i++) {
        const char *o = fc_cluster_owner(nodes[i].cl, id);
        CHECK(o && strcmp(o, "n2") == 0);
    }
    /* Now n3 routes to n1 (stub) and n2: one copy reaches the session. */
    cli_publish(pub, "q/1", "m4", 1, 4, false);
    pump();
    CHECK_EQ_INT(session_at(1, "x")->q_len, 4);

    /* The client comes back on n2: session present, four messages. */
    cli_t *x2 = cli_new(1);
    cli_connect(x2, "x", false, 600);
    pump();
    fmq_packet_t p;
    REQUIRE(cli_expect(x2, FMQ_CONNACK, &p));
    CHECK_EQ_INT(p.connack.session_present, 1);
    CHECK_EQ_INT(count_publishes(x2, NULL), 4);

    /* After the linger time the stub is gone and so is n1's route. */
    tick(2500);
    tick(100);
    CHECK(fb_map_get(nodes[0].b->sessions, "x", 1) == NULL);
    CHECK_EQ_INT(fb_subtab_count(nodes[0].b->subs), 0);
    teardown();
}

static void test_migrate_target_vanishes(void)
{
    mesh(3);
    offline_session(0, "y", "q/#");
    fmq_bytes_t id = {(const uint8_t *)"y", 1};
    const char *why = NULL;
    /* n2 never answers: it is cut off at once. */
    nodes[1].dead = true;
    done_status = 99;
    CHECK_EQ_INT(fc_cluster_migrate(nodes[0].cl, id, "n2", on_done, NULL, &why), 0);
    pump();
    CHECK_EQ_INT(done_status, 99); /* no answer yet */
    for (int r = 0; r < 25; r++)
        tick(300); /* past the peer timeout */
    CHECK_EQ_INT(done_status, -1);
    fb_session_t *s = session_at(0, "y");
    REQUIRE(s != NULL);
    CHECK_EQ_INT(s->n_subs, 1);
    const char *o = fc_cluster_owner(nodes[0].cl, id);
    CHECK(o && strcmp(o, "n1") == 0);
    teardown();
}

static void test_takeover_keeps_qos2_state(void)
{
    mesh(3);
    cli_t *sub = cli_new(2);
    cli_connect(sub, "s", true, 0);
    cli_subscribe(sub, "t", 2);
    cli_t *x = cli_new(0);
    cli_connect(x, "x", true, 600);
    pump();
    cli_publish(x, "t", "once", 2, 7, false);
    pump();
    fmq_packet_t p;
    CHECK(cli_expect(x, FMQ_PUBREC, &p));
    /* The same client id on n2, while the n1 connection is still up. */
    cli_t *x2 = cli_new(1);
    cli_connect(x2, "x", false, 600);
    pump();
    CHECK(cli_expect(x, FMQ_DISCONNECT, &p));
    CHECK_EQ_INT(p.disconnect.reason, FMQ_RC_SESSION_TAKEN_OVER);
    CHECK(x->closed || x->conn == NULL);
    REQUIRE(cli_expect(x2, FMQ_CONNACK, &p));
    CHECK_EQ_INT(p.connack.session_present, 1);
    /* The resend is recognised: acknowledged, not routed again. */
    cli_publish(x2, "t", "once", 2, 7, true);
    pump();
    CHECK(cli_expect(x2, FMQ_PUBREC, &p));
    fmq_packet_t rel = {.type = FMQ_PUBREL};
    rel.ack.packet_id = 7;
    cli_packet(x2, &rel);
    pump();
    CHECK(cli_expect(x2, FMQ_PUBCOMP, &p));
    CHECK_EQ_INT(p.ack.reason, 0); /* the id was known: state moved */
    CHECK_EQ_INT(count_publishes(sub, "once"), 1);
    teardown();
}

static void test_racing_connects(void)
{
    mesh(3);
    for (int round = 0; round < 10; round++) {
        char id[16];
        snprintf(id, sizeof id, "race%d", round);
        cli_t *a = cli_new(0), *b = cli_new(1);
        /* Both CONNECTs are applied before either node hears the other. */
        cli_connect(a, id, false, 600);
        cli_connect(b, id, false, 600);
        pump();
        bool a_live = a->conn && a->conn->state == FB_CONN_ACTIVE && !a->closed;
        bool b_live = b->conn && b->conn->state == FB_CONN_ACTIVE && !b->closed;
        CHECK(a_live != b_live); /* exactly one winner */
        fmq_bytes_t bid = {(const uint8_t *)id, (uint32_t)strlen(id)};
        const char *o1 = fc_cluster_owner(nodes[0].cl, bid);
        const char *o2 = fc_cluster_owner(nodes[1].cl, bid);
        const char *o3 = fc_cluster_owner(nodes[2].cl, bid);
        REQUIRE(o1 && o2 && o3);
        CHECK(strcmp(o1, o2) == 0 && strcmp(o2, o3) == 0);
        CHECK(strcmp(o1, a_live ? "n1" : "n2") == 0);
        CHECK((session_at(0, id) != NULL) == a_live);
        CHECK((session_at(1, id) != NULL) == b_live);
        /* The loser was accepted, then taken over; its session went to the
         * winner, which therefore resumes one. */
        cli_t *win = a_live ? a : b, *lose = a_live ? b : a;
        fmq_packet_t p;
        CHECK(cli_expect(win, FMQ_CONNACK, &p) && p.connack.session_present == 1);
        CHECK(cli_expect(lose, FMQ_CONNACK, &p));
        CHECK(cli_expect(lose, FMQ_DISCONNECT, &p) &&
              p.disconnect.reason == FMQ_RC_SESSION_TAKEN_OVER);
        cli_disconnect(a_live ? a : b);
        pump();
    }
    teardown();
}

static void test_peer_death_drops_routes(void)
{
    mesh(3);
    cli_t *sub = cli_new(2), *pub = cli_new(0);
    cli_connect(sub, "s3", true, 0);
    cli_subscribe(sub, "d/#", 1);
    cli_connect(pub, "p1", true, 0);
    pump();
    nodes[2].dead = true;
    for (int r = 0; r < 25; r++)
        tick(300);
    CHECK_EQ_INT((long long)peers_up(0), 1);
    CHECK_EQ_INT((long long)peers_up(1), 1);
    cli_publish(pub, "d/1", "x", 1, 1, false);
    pump();
    fmq_packet_t p;
    CHECK(cli_expect(pub, FMQ_PUBACK, &p));
    CHECK_EQ_INT(p.ack.reason, FMQ_RC_NO_MATCHING_SUBSCRIBERS);
    fmq_bytes_t id = {(const uint8_t *)"s3", 2};
    CHECK(fc_cluster_owner(nodes[0].cl, id) == NULL);
    teardown();
}

static void test_old_protocol_and_wrong_secret(void)
{
    node_add("secret", 2);
    node_add("secret", 1); /* the previous release */
    node_add("wrong", 2);
    for (int r = 0; r < 20; r++)
        tick(300);
    CHECK_EQ_INT((long long)peers_up(0), 1);
    CHECK_EQ_INT((long long)peers_up(1), 1);
    CHECK_EQ_INT((long long)peers_up(2), 0);
    CHECK(fc_cluster_stats(nodes[0].cl)->links_refused > 0);
    fc_peer_info_t info[4];
    CHECK_EQ_INT((long long)fc_cluster_peers(nodes[0].cl, info, 4), 1);
    CHECK_EQ_INT(info[0].version, 1);
    /* A session moves to the old node and back (session format 1). */
    offline_session(0, "x", "v/1");
    cli_t *pub = client_on(0, "p");
    cli_publish(pub, "v/1", "old", 1, 1, false);
    pump();
    cli_t *x2 = cli_new(1);
    cli_connect(x2, "x", false, 600);
    pump();
    fmq_packet_t p;
    REQUIRE(cli_expect(x2, FMQ_CONNACK, &p));
    CHECK_EQ_INT(p.connack.session_present, 1);
    CHECK_EQ_INT(count_publishes(x2, "old"), 1);
    cli_publish(pub, "v/1", "again", 1, 2, false);
    pump();
    CHECK_EQ_INT(count_publishes(x2, "again"), 1);
    teardown();
}

static void test_retained_everywhere(void)
{
    mesh(3);
    cli_t *pub = cli_new(2);
    cli_connect(pub, "p", true, 0);
    pump();
    fmq_packet_t p = {.type = FMQ_PUBLISH};
    p.publish.retain = true;
    p.publish.topic = (fmq_bytes_t){(const uint8_t *)"r/1", 3};
    p.publish.payload = (fmq_bytes_t){(const uint8_t *)"kept", 4};
    cli_packet(pub, &p);
    pump();
    cli_t *sub = cli_new(1);
    cli_connect(sub, "s", true, 0);
    cli_subscribe(sub, "r/#", 0);
    pump();
    CHECK_EQ_INT(count_publishes(sub, "kept"), 1);
    /* A node that joins later gets it at sync. */
    int late = node_add("secret", FC_PROTO_MAX);
    for (int r = 0; r < 20; r++)
        tick(300);
    CHECK_EQ_INT((long long)peers_up(late), 3);
    CHECK_EQ_INT((long long)fb_retain_count(nodes[late].b->retained), 1);
    teardown();
}

/* Holds (or releases) what `to` receives from `from` (node indexes). */
static void hold_dir(int from, int to, bool hold)
{
    for (int i = 0; i < n_ends; i++)
        if (ends[i]->node == to && ends[i]->peer->node == from && !ends[i]->reported)
            ends[i]->hold = hold;
}

/* The next PUBLISH payloads a client got, in order, as one string. */
static void payloads(cli_t *c, char *out, size_t cap)
{
    fmq_packet_t p;
    size_t n = 0;
    out[0] = 0;
    while (cli_next(c, &p))
        if (p.type == FMQ_PUBLISH && n + p.publish.payload.len + 2 < cap) {
            memcpy(out + n, p.publish.payload.ptr, p.publish.payload.len);
            n += p.publish.payload.len;
            out[n++] = ' ';
            out[n] = 0;
        }
}

/* A message still on its way through the old node must not be overtaken
 * by a later one that the publisher's node sent straight to the new one. */
static void test_order_kept_across_takeover(void)
{
    mesh(3);
    cli_t *x = cli_new(0), *pub = cli_new(2);
    cli_connect(x, "x", true, 600);
    cli_subscribe(x, "o/#", 1);
    cli_connect(pub, "p", true, 0);
    pump();
    hold_dir(1, 2, true); /* n3 does not hear of n2's new routes yet */
    cli_t *x2 = cli_new(1);
    cli_connect(x2, "x", false, 600);
    pump();
    fmq_packet_t p;
    REQUIRE(cli_expect(x2, FMQ_CONNACK, &p));
    CHECK_EQ_INT(p.connack.session_present, 1);
    hold_dir(0, 1, true); /* what n1 forwards to n2 is slow */
    cli_publish(pub, "o/1", "m1", 1, 1, false); /* to n1 only */
    pump();
    hold_dir(1, 2, false); /* n3 learns the route to n2 */
    pump();
    cli_publish(pub, "o/1", "m2", 1, 2, false); /* to n1 (stub) and n2 */
    pump();
    hold_dir(0, 1, false);
    pump();
    /* m2 also came through n1, after m1; its direct copy was held back. */
    char got[256];
    payloads(x2, got, sizeof got);
    CHECK_EQ_STR(got, "m1 m2 ");
    /* A new subscription on n2: its messages come only directly, and wait
     * for the stub's end like every direct delivery. */
    cli_subscribe(x2, "n/#", 1);
    pump();
    cli_publish(pub, "n/1", "new", 1, 4, false);
    pump();
    payloads(x2, got, sizeof got);
    CHECK_EQ_STR(got, "");
    tick(2500); /* the stub ends: the held copy of m2 is a duplicate now */
    tick(100);
    payloads(x2, got, sizeof got);
    CHECK_EQ_STR(got, "new ");
    CHECK(fc_cluster_stats(nodes[1].cl)->deliveries_held >= 1);
    CHECK(fc_cluster_stats(nodes[1].cl)->duplicates_dropped >= 1);
    cli_publish(pub, "o/1", "m3", 1, 3, false); /* the direct path alone now */
    pump();
    payloads(x2, got, sizeof got);
    CHECK_EQ_STR(got, "m3 ");
    teardown();
}

/* The same client id on n1 and, a moment later, on n2, before n1's claim
 * has travelled: n2 asks every node, n1 answers with the session. */
static void test_connect_elsewhere_before_claim_arrives(void)
{
    mesh(3);
    cli_t *old = cli_new(0);
    cli_connect(old, "w", false, 600);
    cli_subscribe(old, "w/#", 1); /* applied on n1 at once */
    cli_t *x2 = cli_new(1);
    cli_connect(x2, "w", false, 600); /* n2 has not heard of n1's claim */
    pump();
    fmq_packet_t p;
    REQUIRE(cli_expect(x2, FMQ_CONNACK, &p));
    CHECK_EQ_INT(p.connack.session_present, 1);
    CHECK(cli_expect(old, FMQ_DISCONNECT, &p) &&
          p.disconnect.reason == FMQ_RC_SESSION_TAKEN_OVER);
    fb_session_t *s = session_at(1, "w");
    REQUIRE(s != NULL);
    CHECK_EQ_INT(s->n_subs, 1);
    teardown();
}

/* ---- protocol 4: load reports, rebalance orders, refused migrations ---- */

static bool peer_is(int i, const char *peer, unsigned version)
{
    fc_peer_info_t info[8];
    size_t n = fc_cluster_peers(nodes[i].cl, info, 8);
    for (size_t k = 0; k < n && k < 8; k++)
        if (strcmp(info[k].name, peer) == 0)
            return info[k].up && info[k].version == version;
    return false;
}

static void check_load_is(int node, const char *peer, const fc_node_load_t *want)
{
    fc_node_load_t got;
    memset(&got, 0xA5, sizeof got);
    if (!CHECK(fc_cluster_peer_load(nodes[node].cl, peer, &got))) {
        printf("    no load from %s at n%d\n", peer, node + 1);
        return;
    }
    CHECK_EQ_INT(got.connections, want->connections);
    CHECK_EQ_INT(got.sessions, want->sessions);
    CHECK_EQ_INT(got.offline_sessions, want->offline_sessions);
    CHECK_EQ_INT(got.pending_connects, want->pending_connects);
    CHECK_EQ_INT(got.connack_count, want->connack_count);
    CHECK_EQ_INT(got.connack_mean_ms, want->connack_mean_ms);
    CHECK_EQ_INT(got.connack_max_ms, want->connack_max_ms);
    CHECK_EQ_INT(got.agent, want->agent);
    CHECK_EQ_INT(got.available, want->available);
    REQUIRE(got.status != NULL);
    CHECK_EQ_STR(got.status, want->status ? want->status : "");
}

/* A REQUIRE that failed in an earlier test skipped its teardown. */
static void clean_slate(void)
{
    if (n_nodes || n_ends || n_clients)
        teardown();
}

static void test_node_load(void)
{
    clean_slate();
    int a = node_add("secret", 4), b = node_add("secret", 4), old = node_add("secret", 3);
    for (int r = 0; r < 20; r++)
        tick(300);
    REQUIRE(peer_is(a, "n2", 4) && peer_is(b, "n1", 4));
    REQUIRE(peer_is(a, "n3", 3) && peer_is(old, "n1", 3) && peer_is(old, "n2", 3));
    CHECK_EQ_STR(fc_cluster_self(nodes[a].cl), "n1");
    CHECK_EQ_STR(fc_cluster_self(nodes[old].cl), "n3");
    fc_node_load_t got;
    /* Nothing published yet; unknown names. */
    CHECK(!fc_cluster_peer_load(nodes[b].cl, "n1", &got));
    CHECK(!fc_cluster_peer_load(nodes[b].cl, "n9", &got));
    CHECK(!fc_cluster_peer_load(nodes[b].cl, "n2", &got)); /* itself: not a peer */

    /* The status is copied: the caller's buffer may change at once. */
    char status[64];
    snprintf(status, sizeof status, "{\"evacuation\":{\"state\":\"running\"}}");
    fc_node_load_t ld = {.connections = 1000,
                         .sessions = 70000,
                         .offline_sessions = 69000,
                         .pending_connects = 3,
                         .connack_count = 258,
                         .connack_mean_ms = 12,
                         .connack_max_ms = UINT32_MAX,
                         .agent = FC_AGENT_EVACUATION,
                         .available = false,
                         .status = status};
    fc_cluster_publish_load(nodes[a].cl, &ld);
    fc_node_load_t want = ld;
    want.status = "{\"evacuation\":{\"state\":\"running\"}}";
    memset(status, 'x', sizeof status - 1);
    pump();
    CHECK_EQ_INT(rx[b][FC_T_NODE_LOAD], 1);
    check_load_is(b, "n1", &want);
    /* The protocol 3 node gets no NODE_LOAD (its link would fail) and so
     * knows no load; nor does anyone know one of it. */
    CHECK_EQ_INT(rx[old][FC_T_NODE_LOAD], 0);
    CHECK(!fc_cluster_peer_load(nodes[old].cl, "n1", &got));
    fc_node_load_t mine = {.connections = 1, .available = true, .status = "{}"};
    fc_cluster_publish_load(nodes[old].cl, &mine);
    pump();
    CHECK_EQ_INT(rx[a][FC_T_NODE_LOAD] + rx[b][FC_T_NODE_LOAD], 1);
    CHECK(!fc_cluster_peer_load(nodes[a].cl, "n3", &got));
    CHECK(!fc_cluster_peer_load(nodes[b].cl, "n3", &got));
    CHECK(peer_is(a, "n3", 3) && peer_is(b, "n3", 3)); /* every link still up */

    /* B reports too; a newer report replaces the older one, a NULL status
     * is "". */
    fc_node_load_t lb = {.connections = 7, .sessions = 8, .offline_sessions = 1,
                         .pending_connects = 0, .connack_count = 5, .connack_mean_ms = 2,
                         .connack_max_ms = 9, .agent = FC_AGENT_NONE, .available = true,
                         .status = NULL};
    fc_cluster_publish_load(nodes[b].cl, &lb);
    pump();
    check_load_is(a, "n2", &lb);
    fc_node_load_t ld2 = {.connections = 999, .sessions = 69999, .offline_sessions = 68999,
                          .pending_connects = 1, .connack_count = 1, .connack_mean_ms = 40,
                          .connack_max_ms = 41, .agent = FC_AGENT_REBALANCE, .available = false,
                          .status = "{\"rebalance\":{\"state\":\"draining\"}}"};
    fc_cluster_publish_load(nodes[a].cl, &ld2);
    pump();
    CHECK_EQ_INT(rx[b][FC_T_NODE_LOAD], 2);
    check_load_is(b, "n1", &ld2);

    /* A node that comes up later gets the last report of each, at once. */
    int late = node_add("secret", 4);
    for (int r = 0; r < 20; r++)
        tick(300);
    REQUIRE(peer_is(late, "n1", 4) && peer_is(late, "n2", 4) && peer_is(late, "n3", 3));
    CHECK_EQ_INT(rx[late][FC_T_NODE_LOAD], 2);
    check_load_is(late, "n1", &ld2);
    check_load_is(late, "n2", &lb);
    CHECK(!fc_cluster_peer_load(nodes[late].cl, "n3", &got));
    CHECK(!fc_cluster_peer_load(nodes[a].cl, "n4", &got)); /* n4 has not reported */

    /* A peer that goes down: its report goes with it. */
    nodes[b].dead = true;
    for (int r = 0; r < 25; r++)
        tick(300);
    CHECK(!peer_is(a, "n2", 4));
    CHECK(!fc_cluster_peer_load(nodes[a].cl, "n2", &got));
    check_load_is(late, "n1", &ld2);
    teardown();
}

/* What the rebalance callback got, copied out of the borrowed frame. */
typedef struct rebal_seen {
    int calls;
    char from[32];
    fc_rebal_order_t o;
    char names[64][32];
    char info[256];
} rebal_seen_t;

static void on_rebal(void *ctx, const char *from, const fc_rebal_order_t *o)
{
    rebal_seen_t *seen = ctx;
    seen->calls++;
    snprintf(seen->from, sizeof seen->from, "%s", from);
    seen->o = *o;
    for (uint16_t i = 0; i < o->n_recipients && i < 64; i++) {
        snprintf(seen->names[i], sizeof seen->names[i], "%.*s", (int)o->recipients[i].len,
                 (const char *)o->recipients[i].ptr);
        seen->o.recipients[i] = fmq_cstr(seen->names[i]);
    }
    snprintf(seen->info, sizeof seen->info, "%.*s", (int)o->info.len, (const char *)o->info.ptr);
    seen->o.info = fmq_cstr(seen->info);
}

static void test_rebalance_order(void)
{
    clean_slate();
    int a = node_add("secret", 4), b = node_add("secret", 4), old = node_add("secret", 3);
    int c = node_add("secret", 4);
    for (int r = 0; r < 20; r++)
        tick(300);
    REQUIRE(peer_is(a, "n2", 4) && peer_is(a, "n3", 3) && peer_is(a, "n4", 4));
    rebal_seen_t seen_b = {0}, seen_old = {0}, seen_a = {0};
    fc_cluster_on_rebalance(nodes[b].cl, on_rebal, &seen_b);
    fc_cluster_on_rebalance(nodes[old].cl, on_rebal, &seen_old);
    fc_cluster_on_rebalance(nodes[a].cl, on_rebal, &seen_a);

    fc_rebal_order_t o = {.op = FC_REBAL_SESSIONS, .lease_ms = 30000, .conns = 17,
                          .sessions = 500, .n_recipients = 3};
    o.recipients[0] = fmq_cstr("n4");
    o.recipients[1] = fmq_cstr("n1");
    o.recipients[2] = fmq_cstr("");
    o.info = fmq_cstr("{\"id\":\"rb-1\",\"step\":3}");
    const char *why = NULL;
    CHECK_EQ_INT(fc_cluster_send_rebalance(nodes[a].cl, "n2", &o, &why), 0);
    pump();
    CHECK_EQ_INT(rx[b][FC_T_REBALANCE], 1);
    REQUIRE_EQ_INT(seen_b.calls, 1);
    CHECK_EQ_STR(seen_b.from, "n1");
    CHECK_EQ_INT(seen_b.o.op, FC_REBAL_SESSIONS);
    CHECK_EQ_INT(seen_b.o.lease_ms, 30000);
    CHECK_EQ_INT(seen_b.o.conns, 17);
    CHECK_EQ_INT(seen_b.o.sessions, 500);
    REQUIRE_EQ_INT(seen_b.o.n_recipients, 3);
    CHECK_EQ_STR(seen_b.names[0], "n4");
    CHECK_EQ_STR(seen_b.names[1], "n1");
    CHECK_EQ_STR(seen_b.names[2], "");
    CHECK_EQ_STR(seen_b.info, "{\"id\":\"rb-1\",\"step\":3}");
    CHECK_EQ_INT(seen_a.calls + seen_old.calls, 0); /* to n2 only */

    /* Every op, no recipients, no info; from another node. */
    static const uint8_t ops[] = {FC_REBAL_PREPARE, FC_REBAL_CONNS, FC_REBAL_STOP};
    for (size_t i = 0; i < sizeof ops; i++) {
        fc_rebal_order_t p = {.op = ops[i], .lease_ms = 1000 * (uint32_t)(i + 1),
                              .conns = (uint32_t)i};
        CHECK_EQ_INT(fc_cluster_send_rebalance(nodes[c].cl, "n2", &p, &why), 0);
        pump();
        REQUIRE_EQ_INT(seen_b.calls, 2 + (int)i);
        CHECK_EQ_STR(seen_b.from, "n4");
        CHECK_EQ_INT(seen_b.o.op, ops[i]);
        CHECK_EQ_INT(seen_b.o.lease_ms, 1000 * (i + 1));
        CHECK_EQ_INT(seen_b.o.conns, i);
        CHECK_EQ_INT(seen_b.o.sessions, 0);
        CHECK_EQ_INT(seen_b.o.n_recipients, 0);
        CHECK_EQ_STR(seen_b.info, "");
    }

    /* A protocol 3 node cannot take one: refused at the sender, with why. */
    why = NULL;
    CHECK_EQ_INT(fc_cluster_send_rebalance(nodes[a].cl, "n3", &o, &why), -1);
    CHECK(why && strstr(why, "protocol"));
    pump();
    CHECK_EQ_INT(rx[old][FC_T_REBALANCE], 0);
    CHECK_EQ_INT(seen_old.calls, 0);
    CHECK(peer_is(a, "n3", 3)); /* the link stays up */
    /* Nor an unknown node, or itself. */
    why = NULL;
    CHECK_EQ_INT(fc_cluster_send_rebalance(nodes[a].cl, "n9", &o, &why), -1);
    CHECK(why && strstr(why, "no such node"));
    why = NULL;
    CHECK_EQ_INT(fc_cluster_send_rebalance(nodes[a].cl, "n1", &o, &why), -1);
    CHECK(why != NULL);
    CHECK_EQ_INT(seen_a.calls, 0);

    /* An order the codec would refuse is not sent (nothing reaches n2). */
    for (int bad = 0; bad < 2; bad++) {
        fc_rebal_order_t q = o;
        q.op = bad ? FC_REBAL_STOP + 1 : 0;
        why = NULL;
        CHECK_EQ_INT(fc_cluster_send_rebalance(nodes[a].cl, "n2", &q, &why), -1);
        CHECK(why != NULL);
        pump();
        CHECK_EQ_INT(rx[b][FC_T_REBALANCE], 4);
        CHECK(peer_is(a, "n2", 4));
    }

    /* A node without a callback takes the order and ignores it. */
    CHECK_EQ_INT(fc_cluster_send_rebalance(nodes[b].cl, "n4", &o, &why), 0);
    pump();
    CHECK_EQ_INT(rx[c][FC_T_REBALANCE], 1);
    CHECK(peer_is(c, "n2", 4));

    /* A node that went down: refused once the cluster knows. */
    nodes[b].dead = true;
    for (int r = 0; r < 25; r++)
        tick(300);
    why = NULL;
    CHECK_EQ_INT(fc_cluster_send_rebalance(nodes[a].cl, "n2", &o, &why), -1);
    CHECK(why && strstr(why, "no such node"));
    teardown();
}

/* A node whose broker is being emptied (its eviction agent is set) takes
 * no migrated session: the source gets it back, whole and offline. */
static void test_migrate_to_evacuating_node(void)
{
    static const uint8_t kinds[] = {FB_AGENT_EVACUATION, FB_AGENT_REBALANCE};
    for (size_t k = 0; k < sizeof kinds; k++) {
        clean_slate();
        mesh(3);
        offline_session(0, "e", "e/#");
        cli_t *pub = client_on(2, "pub");
        cli_publish(pub, "e/1", "m1", 1, 1, false);
        pump();
        REQUIRE(session_at(0, "e") != NULL);
        CHECK_EQ_INT(session_at(0, "e")->q_len, 1);
        fmq_bytes_t id = {(const uint8_t *)"e", 1};
        const char *why = NULL;

        nodes[1].b->agent.kind = kinds[k];
        done_status = 99;
        CHECK_EQ_INT(fc_cluster_migrate(nodes[0].cl, id, "n2", on_done, NULL, &why), 0);
        pump();
        CHECK_EQ_INT(rx[1][FC_T_SESSION], 1);
        CHECK_EQ_INT(rx[0][FC_T_SESSION_ACK], 1);
        CHECK_EQ_INT(done_status, -1);
        fb_session_t *s = session_at(0, "e");
        REQUIRE(s != NULL);
        CHECK(s->conn == NULL); /* offline */
        REQUIRE_EQ_INT(s->n_subs, 1);
        CHECK_EQ_INT(s->q_len, 1);
        CHECK(fb_map_get(nodes[1].b->sessions, "e", 1) == NULL);
        CHECK_EQ_INT(fc_cluster_stats(nodes[1].cl)->sessions_received, 0);
        for (int i = 0; i < 3; i++) {
            const char *o = fc_cluster_owner(nodes[i].cl, id);
            if (!CHECK(o && strcmp(o, "n1") == 0))
                printf("    owner at n%d: %s\n", i + 1, o ? o : "(none)");
        }
        /* Still subscribed: a message published elsewhere reaches it. */
        cli_publish(pub, "e/2", "m2", 1, 2, false);
        pump();
        CHECK_EQ_INT(session_at(0, "e")->q_len, 2);

        /* The agent cleared: the same migration goes through. */
        nodes[1].b->agent.kind = FB_AGENT_NONE;
        done_status = 99;
        CHECK_EQ_INT(fc_cluster_migrate(nodes[0].cl, id, "n2", on_done, NULL, &why), 0);
        pump();
        CHECK_EQ_INT(done_status, 0);
        CHECK(session_at(0, "e") == NULL); /* a stub at most */
        s = session_at(1, "e");
        REQUIRE(s != NULL);
        CHECK(s->conn == NULL);
        CHECK_EQ_INT(s->n_subs, 1);
        CHECK_EQ_INT(s->q_len, 2);
        for (int i = 0; i < 3; i++) {
            const char *o = fc_cluster_owner(nodes[i].cl, id);
            CHECK(o && strcmp(o, "n2") == 0);
        }
        /* The client comes back on n2 and gets both messages. */
        cli_t *e2 = cli_new(1);
        cli_connect(e2, "e", false, 600);
        pump();
        fmq_packet_t p;
        REQUIRE(cli_expect(e2, FMQ_CONNACK, &p));
        CHECK_EQ_INT(p.connack.session_present, 1);
        char got[64];
        payloads(e2, got, sizeof got);
        CHECK_EQ_STR(got, "m1 m2 ");
        teardown();
    }
}

CHECK_MAIN(T(test_mesh_and_routes), T(test_migrate_offline_session),
           T(test_migrate_target_vanishes), T(test_takeover_keeps_qos2_state),
           T(test_racing_connects), T(test_peer_death_drops_routes),
           T(test_old_protocol_and_wrong_secret), T(test_retained_everywhere),
           T(test_order_kept_across_takeover), T(test_connect_elsewhere_before_claim_arrives),
           T(test_node_load), T(test_rebalance_order), T(test_migrate_to_evacuating_node))
