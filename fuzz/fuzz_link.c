/*
 * The cluster's frame handlers, beyond the codec: one real node (broker and
 * cluster, node "n1" of cluster "ferrymq", secret "s") with MQTT clients on
 * an in-memory transport and up to four cluster links on in-memory ends. The
 * harness plays the peers: it completes the handshake correctly (HELLO, then
 * AUTH with the HMAC the node expects), answers PINGs, reads every frame the
 * node sends (each must decode: a node never writes a frame the codec
 * refuses) and remembers the stamps of its CLAIM and SESSION frames, so that
 * the input can answer them. Then the input drives everything: raw frame
 * bytes on a link, frames built around the node's stamps, MQTT traffic,
 * clock ticks, links opening and dying. Any crash, sanitizer report or leak
 * (everything is freed at the end) is a finding. Logging runs at debug level
 * into /dev/null, so every log line's arguments are formatted too; with
 * FMQ_FUZZ_DEBUG set it goes to stderr, with the cluster's counters at the end.
 *
 * Input: byte 0 is the set-up, then records until the input ends.
 *   byte 0  bit 0  the main peer's proto_max (the link speaks it): 1, or 2 when set
 *           bit 1  a second client c1 besides c0
 *           bit 2  the clients connect before the main link is up (its sync
 *                  carries their claims and routes), else after
 *           bit 3  c1 disconnects after subscribing (an offline session)
 *           bit 4  proto_max 3 (STUB_END), whatever bit 0 says
 *   record  [op] and by op & 15, with arg = op >> 4:
 *     0 LINK     [len hi][len lo][cut] len bytes to link end arg & 3, in two
 *                fc_link_input calls cut at cut * len / 256
 *     1 TICK     both clocks advance tick_steps[arg] ms; broker and cluster tick
 *     2 MQTT     [len] len bytes to client arg % 3
 *     3 CLIENT   [x] client (x & 3) % 3 does action arg (see client_action)
 *     4 SESSION  [x] a SESSION frame on end arg & 3 about the node's claim (see send_session)
 *     5 ACK      [x] a SESSION_ACK on end arg & 3 for the node's SESSION
 *     6 CLAIM    [x] a CLAIM or RELEASE on end arg & 3 next to the node's stamp
 *     7 NET      [x] link event arg on end x & 3 (see net_action)
 *     8 CLUSTER  [x] migrate, leave, DNS answers, queries (see cluster_action)
 *     9-15       nothing
 * Client ids: c0 (clients 0 and 2: two connections for one id), c1 (client
 * 1), and "x" and "" for frames only. fuzz/make_link_corpus.py writes seeds.
 */
#include "fuzz_common.h"

#include "broker/conn.h"
#include "broker/log.h"
#include "cluster/cluster.h"
#include "cluster/frame.h"
#include "evac/evac.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <unistd.h>

#define NEND 4
#define NCLI 3
#define NID 4
#define NPEER 4
#define CLI_OUT_MAX 65536
#define SECRET "s"
#define MAC_LABEL "ferrymq-cluster-auth"

static const char *const ids[NID] = {"c0", "c1", "x", ""};
/* The peers the harness plays; "n1" is the node's own name. An accepted
 * link stays only from a peer whose name sorts below "n1". */
static const char *const peer_names[NPEER] = {"n0", "z", "m", "n1"};
static const char *const peer_addrs[NPEER] = {"10.0.0.2:7000", "10.0.0.3:7000", "10.0.0.4:7000",
                                              "10.0.0.5:7000"};
static const uint32_t tick_steps[16] = {1,    10,   50,   100,   250,   500,    1000,   1500,
                                        2500, 4000, 5001, 10000, 30000, 120000, 600000, 3600000};

typedef struct harness harness_t;

/* One end of a cluster link: the peer's side. */
typedef struct end {
    harness_t *h;
    fc_link_t *l;         /* NULL: free, or reported closed */
    bool close_requested; /* the node asked to close: report it */
    bool accepted;        /* the peer dialed (else the node did) */
    bool connect_pending; /* dialed by the node, not connected yet */
    bool raw;             /* no automatic handshake: the input speaks */
    bool send_fails;
    size_t backlog;
    int peer; /* index into peer_names */
    uint8_t proto_max;
    uint8_t version; /* what the link speaks once up */
    uint64_t incarnation;
    uint8_t nonce[32];
    uint8_t node_nonce[FC_NONCE_MAX];
    size_t node_nonce_len;
    bool got_hello, hello_sent, auth_sent;
    uint8_t *out; /* what the node sent, not parsed yet */
    size_t out_len, out_cap;
} end_t;

typedef struct cli {
    harness_t *h;
    fb_conn_t *conn;
    bool close_requested;
    uint8_t *out; /* what the broker sent, not parsed yet */
    size_t out_len;
    uint16_t next_pid;
} cli_t;

struct harness {
    fb_config_t cfg;
    fb_broker_t *b;
    fc_cluster_t *cl;
    fe_node_t *evac;
    uint64_t wall, mono;
    end_t ends[NEND];
    cli_t clis[NCLI];
    uint64_t node_claim[NID];   /* stamps of the node's last CLAIM per id */
    uint64_t node_session[NID]; /* and of its last SESSION */
    uint64_t my_claim[NID];     /* the harness's last structured CLAIM */
    uint8_t *shipped;           /* the last session blob the node shipped */
    size_t shipped_len;
    uint64_t next_incarnation;
    unsigned migrations_done;
};

/* ---- small helpers ---- */

static fmq_bytes_t str_bytes(const char *s)
{
    return (fmq_bytes_t){(const uint8_t *)s, (uint32_t)strlen(s)};
}

static int id_index(fmq_bytes_t id)
{
    for (int i = 0; i < NID; i++)
        if (id.len == strlen(ids[i]) && (id.len == 0 || memcmp(id.ptr, ids[i], id.len) == 0))
            return i;
    return -1;
}

static void grow_append(uint8_t **buf, size_t *len, size_t *cap, const uint8_t *d, size_t n)
{
    if (*len + n > *cap) {
        size_t c = *cap ? *cap : 1024;
        while (c < *len + n)
            c *= 2;
        uint8_t *p = realloc(*buf, c);
        FUZZ_CHECK(p != NULL, "out of memory");
        *buf = p;
        *cap = c;
    }
    memcpy(*buf + *len, d, n);
    *len += n;
}

/* ---- cluster link ends ---- */

static int net_send(void *t, const uint8_t *d, size_t n)
{
    end_t *e = t;
    if (e->send_fails)
        return -1;
    grow_append(&e->out, &e->out_len, &e->out_cap, d, n);
    return 0;
}

static size_t net_backlog(void *t)
{
    return ((end_t *)t)->backlog;
}

static void net_close(void *t)
{
    ((end_t *)t)->close_requested = true;
}

static void end_reset(end_t *e)
{
    uint8_t *out = e->out;
    size_t cap = e->out_cap;
    harness_t *h = e->h;
    memset(e, 0, sizeof *e);
    e->h = h;
    e->out = out;
    e->out_cap = cap;
}

static int peer_of_addr(const char *addr)
{
    for (int i = 0; i < NPEER; i++)
        if (strcmp(addr, peer_addrs[i]) == 0)
            return i;
    return 1; /* "z": an address nobody announced answers as a node above n1 */
}

static void *net_connect(void *nctx, const char *addr, fc_link_t *l)
{
    harness_t *h = nctx;
    for (int i = 1; i < NEND; i++) {
        end_t *e = &h->ends[i];
        if (e->l)
            continue;
        end_reset(e);
        e->l = l;
        e->connect_pending = true;
        e->peer = peer_of_addr(addr);
        e->proto_max = FC_PROTO_MAX;
        e->incarnation = 100 + (uint64_t)e->peer;
        for (size_t k = 0; k < sizeof e->nonce; k++)
            e->nonce[k] = (uint8_t)(0x40 + i * 8 + k);
        return e;
    }
    return NULL;
}

static const fc_net_ops_t net_ops = {net_send, net_backlog, net_close, net_connect};

static void link_feed(end_t *e, const uint8_t *d, size_t n)
{
    if (e->l && !e->connect_pending && n)
        fc_link_input(e->l, d, n);
}

static void send_frame(end_t *e, const fc_frame_t *f)
{
    uint8_t v = e->version ? e->version : 1;
    size_t n = fc_frame_encode(f, v, NULL, 0);
    FUZZ_CHECK(n > 0, "harness frame of type %u does not encode", f->type);
    uint8_t *buf = malloc(n);
    FUZZ_CHECK(buf != NULL, "out of memory");
    FUZZ_CHECK(fc_frame_encode(f, v, buf, n) == n, "harness frame of type %u", f->type);
    link_feed(e, buf, n);
    free(buf);
}

/* compute_mac in src/cluster/cluster.c, from the sender's side. */
static void peer_mac(const harness_t *h, const end_t *e, uint8_t out[FC_MAC_LEN])
{
    uint8_t buf[sizeof MAC_LABEL + 2 * FC_NONCE_MAX + 256];
    const char *cluster = h->cfg.cluster_name, *name = peer_names[e->peer];
    size_t n = 0;
    memcpy(buf, MAC_LABEL, sizeof MAC_LABEL); /* with its NUL */
    n += sizeof MAC_LABEL;
    memcpy(buf + n, e->node_nonce, e->node_nonce_len);
    n += e->node_nonce_len;
    memcpy(buf + n, e->nonce, sizeof e->nonce);
    n += sizeof e->nonce;
    memcpy(buf + n, cluster, strlen(cluster));
    n += strlen(cluster);
    memcpy(buf + n, name, strlen(name));
    n += strlen(name);
    unsigned int olen = FC_MAC_LEN;
    FUZZ_CHECK(HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), buf, n, out, &olen) != NULL,
               "HMAC failed");
}

static void handshake_step(harness_t *h, end_t *e)
{
    if (e->raw || !e->l || e->connect_pending || e->close_requested)
        return;
    if (!e->hello_sent && (e->accepted || e->got_hello)) {
        e->hello_sent = true;
        fc_frame_t f = {.type = FC_T_HELLO};
        f.hello.proto_min = 1;
        f.hello.proto_max = e->proto_max;
        f.hello.cluster = str_bytes(h->cfg.cluster_name);
        f.hello.node = str_bytes(peer_names[e->peer]);
        f.hello.incarnation = e->incarnation;
        f.hello.nonce = (fmq_bytes_t){e->nonce, sizeof e->nonce};
        f.hello.client_addr = str_bytes("10.0.0.9:1883");
        f.hello.cluster_addr = str_bytes(peer_addrs[e->peer]);
        send_frame(e, &f);
    }
    if (e->l && e->hello_sent && e->got_hello && !e->auth_sent) {
        e->auth_sent = true;
        uint8_t mac[FC_MAC_LEN];
        peer_mac(h, e, mac);
        fc_frame_t f = {.type = FC_T_AUTH};
        f.auth.mac = (fmq_bytes_t){mac, FC_MAC_LEN};
        send_frame(e, &f);
    }
}

/* Reads what the node sent on e; returns true when it answered something. */
static bool end_parse(harness_t *h, end_t *e)
{
    size_t off = 0;
    uint64_t pongs[4];
    int n_pongs = 0;
    while (off < e->out_len) {
        fc_frame_t f;
        const char *why = NULL;
        int64_t n = fc_frame_decode(e->out + off, e->out_len - off, UINT32_MAX, &f, &why);
        FUZZ_CHECK(n >= 0, "the node sent a frame its own decoder refuses: %s", why);
        if (n == FC_NEED_MORE)
            break;
        FUZZ_CHECK(e->raw || !e->got_hello || f.type == FC_T_HELLO || f.type == FC_T_ERROR ||
                       f.version == e->version,
                   "the node sent %s in version %u on a link speaking %u", fc_type_name(f.type),
                   f.version, e->version);
        int idx;
        switch (f.type) {
        case FC_T_HELLO:
            if (!e->got_hello) {
                e->got_hello = true;
                e->node_nonce_len = f.hello.nonce.len;
                memcpy(e->node_nonce, f.hello.nonce.ptr, f.hello.nonce.len);
                e->version = f.hello.proto_max < e->proto_max ? f.hello.proto_max : e->proto_max;
            }
            break;
        case FC_T_PING:
            if (!e->raw && n_pongs < 4)
                pongs[n_pongs++] = f.ping.time;
            break;
        case FC_T_CLAIM:
            if ((idx = id_index(f.claim.client_id)) >= 0)
                h->node_claim[idx] = f.claim.stamp;
            break;
        case FC_T_SESSION:
            if ((idx = id_index(f.session.client_id)) >= 0)
                h->node_session[idx] = f.session.stamp;
            if (f.session.status == FC_SESS_DATA) {
                free(h->shipped);
                h->shipped = malloc(f.session.blob.len ? f.session.blob.len : 1);
                FUZZ_CHECK(h->shipped != NULL, "out of memory");
                memcpy(h->shipped, f.session.blob.ptr, f.session.blob.len);
                h->shipped_len = f.session.blob.len;
            }
            break;
        default:
            break;
        }
        off += (size_t)n;
    }
    if (off) {
        memmove(e->out, e->out + off, e->out_len - off);
        e->out_len -= off;
    }
    bool moved = n_pongs > 0;
    for (int i = 0; i < n_pongs; i++) {
        fc_frame_t f = {.type = FC_T_PONG};
        f.ping.time = pongs[i];
        send_frame(e, &f);
    }
    bool before = e->hello_sent && e->auth_sent;
    handshake_step(h, e);
    return moved || (e->hello_sent && e->auth_sent) != before;
}

/* ---- MQTT clients ---- */

static int cli_send(void *t, const uint8_t *d, size_t n)
{
    cli_t *c = t;
    if (c->out_len + n > CLI_OUT_MAX)
        c->out_len = 0; /* lost track; later acks find nothing */
    else {
        memcpy(c->out + c->out_len, d, n);
        c->out_len += n;
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
    ((cli_t *)t)->close_requested = true;
}

static void cli_peer(void *t, char *buf, size_t len)
{
    snprintf(buf, len, "fuzz-client-%d", (int)(((cli_t *)t) - ((cli_t *)t)->h->clis));
}

static const fb_transport_ops_t cli_ops = {cli_send, cli_backlog, cli_close, cli_peer};

static void cli_packet(cli_t *c, const fmq_packet_t *p)
{
    uint8_t buf[1024];
    fmq_err_t err;
    int n = fmq_encode(p, FMQ_V5, buf, sizeof buf, &err);
    FUZZ_CHECK(n > 0 && (size_t)n <= sizeof buf, "harness packet does not encode");
    if (c->conn)
        fb_conn_input(c->conn, buf, (size_t)n);
}

static const char *cli_id(const cli_t *c)
{
    return c == &c->h->clis[1] ? "c1" : "c0";
}

static uint16_t cli_pid(cli_t *c)
{
    if (++c->next_pid == 0)
        c->next_pid = 1;
    return c->next_pid;
}

static void cli_subscribe(cli_t *c, const char *filter, uint8_t qos)
{
    fmq_sub_entry_t e = {.filter = str_bytes(filter), .qos = qos};
    fmq_packet_t p = {.type = FMQ_SUBSCRIBE};
    p.subscribe.packet_id = cli_pid(c);
    p.subscribe.count = 1;
    p.subscribe.entries = &e;
    cli_packet(c, &p);
}

/* A new connection for the client (the old one's socket goes first). */
static void cli_connect(cli_t *c, bool clean, uint32_t expiry, bool subscribe)
{
    harness_t *h = c->h;
    if (c->conn)
        fb_conn_closed(c->conn);
    c->close_requested = false;
    c->out_len = 0;
    c->conn = fb_conn_new(h->b, &cli_ops, c);
    if (!c->conn)
        return;
    bool c1 = c == &h->clis[1];
    fmq_packet_t p = {.type = FMQ_CONNECT};
    p.connect.version = FMQ_V5;
    p.connect.clean_start = clean;
    p.connect.client_id = str_bytes(cli_id(c));
    p.connect.props.present = FMQ_PROP_BIT(FMQ_PROP_SESSION_EXPIRY);
    p.connect.props.session_expiry = expiry;
    if (c1) { /* a delayed will: it travels with the session */
        p.connect.will_flag = true;
        p.connect.will_qos = 1;
        p.connect.will_topic = str_bytes("w/c1");
        p.connect.will_payload = str_bytes("gone");
        p.connect.will_props.present = FMQ_PROP_BIT(FMQ_PROP_WILL_DELAY);
        p.connect.will_props.will_delay = 2;
    }
    cli_packet(c, &p);
    if (!subscribe)
        return;
    if (c1) {
        cli_subscribe(c, "a/#", 2);
        cli_subscribe(c, "$share/g/s/#", 0);
        cli_subscribe(c, "r/#", 1);
    } else {
        cli_subscribe(c, "a/+", 1);
        cli_subscribe(c, "$share/g/s/#", 1);
    }
}

static void cli_simple(cli_t *c, fmq_type_t type, uint8_t reason)
{
    fmq_packet_t p = {.type = type};
    p.disconnect.reason = reason;
    cli_packet(c, &p);
}

/* Acknowledges every delivery the client received so far. */
static void cli_ack_all(cli_t *c)
{
    fmq_packet_t acks[32];
    int n_acks = 0;
    size_t off = 0;
    fmq_decode_opts_t o = {FMQ_V5, 0};
    while (off < c->out_len && n_acks < 32) {
        fmq_packet_t p;
        fmq_err_t err;
        int n = fmq_decode(c->out + off, c->out_len - off, &o, &p, &err);
        if (n <= 0)
            break;
        off += (size_t)n;
        fmq_packet_t a = {0};
        if (p.type == FMQ_PUBLISH && p.publish.qos == 1)
            a.type = FMQ_PUBACK;
        else if (p.type == FMQ_PUBLISH && p.publish.qos == 2)
            a.type = FMQ_PUBREC;
        else if (p.type == FMQ_PUBREL)
            a.type = FMQ_PUBCOMP;
        else
            continue;
        a.ack.packet_id = p.type == FMQ_PUBLISH ? p.publish.packet_id : p.ack.packet_id;
        acks[n_acks++] = a;
    }
    if (off) {
        memmove(c->out, c->out + off, c->out_len - off);
        c->out_len -= off;
    }
    for (int i = 0; i < n_acks && c->conn; i++)
        cli_packet(c, &acks[i]);
}

/* ---- settling: what a network loop does between reads ---- */

static void settle(harness_t *h)
{
    for (int round = 0; round < 64; round++) {
        bool moved = false;
        fb_broker_flush(h->b);
        for (int i = 0; i < NCLI; i++) {
            cli_t *c = &h->clis[i];
            if (c->conn && c->close_requested) {
                fb_conn_closed(c->conn);
                c->conn = NULL;
                moved = true;
            }
        }
        for (int i = 0; i < NEND; i++) {
            end_t *e = &h->ends[i];
            if (!e->l)
                continue;
            if (end_parse(h, e))
                moved = true;
            if (e->l && e->close_requested) {
                fc_link_closed(e->l);
                e->l = NULL;
                e->out_len = 0;
                moved = true;
            }
        }
        if (!moved)
            return;
    }
}

static void tick(harness_t *h, uint32_t step)
{
    h->wall += step;
    h->mono += step;
    fb_broker_tick(h->b, h->wall, h->mono);
    fc_cluster_tick(h->cl, h->mono);
    fe_node_tick(h->evac, h->mono);
}

/* ---- actions ---- */

static void open_link(harness_t *h, int i, int peer, bool new_incarnation, bool raw,
                      uint8_t proto_max)
{
    end_t *e = &h->ends[i];
    if (e->l)
        return;
    end_reset(e);
    e->accepted = true;
    e->raw = raw;
    e->peer = peer;
    e->proto_max = proto_max;
    e->incarnation = new_incarnation ? h->next_incarnation++ : 100 + (uint64_t)peer;
    for (size_t k = 0; k < sizeof e->nonce; k++)
        e->nonce[k] = (uint8_t)(0x80 + i * 8 + k);
    e->l = fc_link_accepted(h->cl, e);
    handshake_step(h, e);
}

/* A session record as a peer would ship it: subscriptions, an inflight
 * delivery, queued ones, an incoming QoS 2 id and a will. */
static uint8_t *build_session(const char *id, uint8_t version, size_t *len)
{
    fb_session_t *s = fb_session_new((const uint8_t *)id, strlen(id));
    FUZZ_CHECK(s != NULL, "out of memory");
    s->expiry = 300;
    s->offline_since_ms = 1700000000000ull;
    fb_sub_opts_t o = {.qos = 1, .sub_id = 4};
    fb_session_sub_put(s, str_bytes("a/+"), &o);
    o.qos = 2;
    o.sub_id = 0;
    fb_session_sub_put(s, str_bytes("$share/g/s/#"), &o);
    for (int k = 0; k < 3; k++) {
        fb_msg_t *m = fb_msg_new(str_bytes("a/1"), (fmq_bytes_t){NULL, 0}, str_bytes("queued"),
                                 str_bytes("c9"), 1, false, k == 2, 60, 1700000000000ull);
        FUZZ_CHECK(m != NULL, "out of memory");
        m->id = 0x1000 + (uint64_t)k;
        fb_delivery_t d = {.msg = m, .qos = 1};
        if (k == 0) {
            d.packet_id = 7;
            d.state = FB_WAIT_PUBACK;
            fb_session_inflight_add(s, &d);
        } else {
            fb_session_enqueue(s, &d, 100, false);
        }
    }
    fb_session_qos2_add(s, 3);
    fb_msg_t *w = fb_msg_new(str_bytes("w/x"), (fmq_bytes_t){NULL, 0}, str_bytes("will"),
                             str_bytes(id), 0, false, false, 0, 1700000000000ull);
    FUZZ_CHECK(w != NULL, "out of memory");
    fb_session_set_will(s, w, 1);
    uint8_t *blob = fb_session_serialize_v(s, version, len);
    FUZZ_CHECK(blob != NULL, "out of memory");
    fb_session_free(s);
    return blob;
}

static end_t *frame_end(harness_t *h, int i)
{
    end_t *e = &h->ends[i & (NEND - 1)];
    return e->l && !e->connect_pending ? e : NULL;
}

/* x: bits 0-1 id, bits 2-3 status (3: DATA), bit 4 MIGRATE, bits 5-6 the
 * blob (built here, the last one the node shipped, built and cut short,
 * built for another id), bit 7 a stamp one above the node's claim. */
static void send_session(harness_t *h, end_t *e, uint8_t x)
{
    int idx = x & 3;
    uint8_t status = (x >> 2 & 3) == 3 ? FC_SESS_DATA : (x >> 2 & 3);
    uint8_t *blob = NULL;
    size_t len = 0;
    const uint8_t *ptr = NULL;
    if (status == FC_SESS_DATA) {
        switch (x >> 5 & 3) {
        case 1:
            ptr = h->shipped;
            len = h->shipped_len;
            break;
        case 3:
            blob = build_session(ids[(idx + 1) % NID], e->version >= 2 ? 2 : 1, &len);
            break;
        default:
            blob = build_session(ids[idx], e->version >= 2 ? 2 : 1, &len);
            if ((x >> 5 & 3) == 2)
                len--;
        }
        if (blob)
            ptr = blob;
    }
    fc_frame_t f = {.type = FC_T_SESSION};
    f.session.status = status;
    f.session.flags = x & 0x10 ? FC_SESSF_MIGRATE : 0;
    f.session.stamp = h->node_claim[idx] + (x >> 7);
    f.session.client_id = str_bytes(ids[idx]);
    f.session.blob = (fmq_bytes_t){ptr, (uint32_t)len};
    send_frame(e, &f);
    free(blob);
}

/* x: bits 0-1 id, bit 2 ok, bit 3 a stamp one off. */
static void send_ack(harness_t *h, end_t *e, uint8_t x)
{
    int idx = x & 3;
    fc_frame_t f = {.type = FC_T_SESSION_ACK};
    f.session_ack.ok = x >> 2 & 1;
    f.session_ack.stamp = h->node_session[idx] + (x >> 3 & 1);
    f.session_ack.client_id = str_bytes(ids[idx]);
    send_frame(e, &f);
}

/* x: bits 0-1 id, bit 2 WANT_SESSION, bit 3 SYNC, bits 4-5 the stamp (the
 * node's + 1, the node's: a tie the names break, the node's - 1, 1), bit 6
 * a RELEASE of the harness's last claim instead. */
static void send_claim(harness_t *h, end_t *e, uint8_t x)
{
    int idx = x & 3;
    if (x & 0x40) {
        fc_frame_t f = {.type = FC_T_RELEASE};
        f.claim.stamp = h->my_claim[idx];
        f.claim.client_id = str_bytes(ids[idx]);
        send_frame(e, &f);
        return;
    }
    static const int64_t delta[4] = {1, 0, -1, 0};
    uint64_t stamp = (x >> 4 & 3) == 3 ? 1 : h->node_claim[idx] + (uint64_t)delta[x >> 4 & 3];
    fc_frame_t f = {.type = FC_T_CLAIM};
    f.claim.flags = (uint8_t)((x & 4 ? FC_CLAIM_WANT_SESSION : 0) | (x & 8 ? FC_CLAIM_SYNC : 0));
    f.claim.stamp = stamp;
    f.claim.client_id = str_bytes(ids[idx]);
    h->my_claim[idx] = stamp;
    send_frame(e, &f);
}

static const char *const pub_topics[4] = {"a/1", "s/x", "r/1", "w/c1"};
static const char *const extra_filters[4] = {"b/+", "a/1", "$share/h/a/#", "#"};

/* x: bits 0-1 the client (mod 3), the rest per action. */
static void client_action(harness_t *h, unsigned action, uint8_t x)
{
    cli_t *c = &h->clis[(x & 3) % NCLI];
    unsigned p = x >> 2;
    if (action == 0) {
        cli_connect(c, false, 300, true);
        return;
    }
    if (action == 1) {
        cli_connect(c, true, p & 1 ? 0 : 300, p & 2);
        return;
    }
    if (!c->conn)
        return;
    switch (action) {
    case 2: /* DISCONNECT; 0x04 publishes the will */
        cli_simple(c, FMQ_DISCONNECT, p & 1 ? 0x04 : 0);
        break;
    case 3: /* the socket goes */
        c->close_requested = true;
        break;
    case 4: {
        fmq_packet_t pk = {.type = FMQ_PUBLISH};
        pk.publish.qos = (uint8_t)((p >> 2) % 3);
        pk.publish.retain = p >> 4 & 1;
        pk.publish.topic = str_bytes(pub_topics[p & 3]);
        pk.publish.payload = str_bytes(p >> 5 & 1 ? "" : "hello");
        if (pk.publish.qos)
            pk.publish.packet_id = cli_pid(c);
        cli_packet(c, &pk);
        break;
    }
    case 5:
        cli_ack_all(c);
        break;
    case 6:
        cli_subscribe(c, extra_filters[p & 3], (uint8_t)((p >> 2) % 3));
        break;
    case 7: {
        fmq_bytes_t f = str_bytes(extra_filters[p & 3]);
        if (p & 4)
            f = str_bytes("a/+");
        fmq_packet_t pk = {.type = FMQ_UNSUBSCRIBE};
        pk.unsubscribe.packet_id = cli_pid(c);
        pk.unsubscribe.count = 1;
        pk.unsubscribe.filters = &f;
        cli_packet(c, &pk);
        break;
    }
    default:
        break;
    }
}

/* A peer's proto_max from two bits: 0 the highest there is, else 1..3. */
static uint8_t proto_of(unsigned bits)
{
    bits &= 3;
    return bits ? (uint8_t)bits : FC_PROTO_MAX;
}

/* action on end x & 3; the rest of x per action. */
static void net_action(harness_t *h, unsigned action, uint8_t x)
{
    int i = x & 3;
    end_t *e = &h->ends[i];
    unsigned p = x >> 2;
    switch (action) {
    case 0: /* a peer dials in: bits 2-3 who, bit 4 a new incarnation, bit 5 raw, bits 6-7
             * its proto_max (0: the highest) */
        open_link(h, i, p & 3, p >> 2 & 1, p >> 3 & 1, proto_of(p >> 4));
        break;
    case 1: /* the socket dies */
        if (e->l) {
            fc_link_closed(e->l);
            e->l = NULL;
            e->out_len = 0;
        }
        break;
    case 2: /* the peer stops reading: the next frame overflows the buffer limit */
        e->backlog = p & 1 ? 0 : (size_t)h->cfg.cluster_link_buffer_limit;
        break;
    case 3: /* writes fail */
        e->send_fails = p & 1;
        break;
    case 4: /* a dial the node started connects */
        if (e->l && e->connect_pending) {
            e->connect_pending = false;
            e->proto_max = proto_of(p); /* bits 2-3 */
            fc_link_connected(e->l);
        }
        break;
    case 5: /* or fails */
        if (e->l && e->connect_pending) {
            fc_link_closed(e->l);
            e->l = NULL;
            e->out_len = 0;
        }
        break;
    default:
        break;
    }
}

static void migrate_done(void *ctx, fmq_bytes_t client_id, const char *node, int status)
{
    harness_t *h = ctx;
    FUZZ_CHECK(node != NULL && (status == 0 || status == -1), "migration done(%d)", status);
    FUZZ_CHECK(client_id.len <= 65535, "migration of a bad id");
    h->migrations_done++;
}

static void cluster_action(harness_t *h, uint8_t x)
{
    switch (x & 3) {
    case 0: { /* migrate an offline session: bits 2-3 the id, bits 4-5 the node */
        const char *why = NULL;
        fc_cluster_migrate(h->cl, str_bytes(ids[x >> 2 & 3]), peer_names[x >> 4 & 3], migrate_done,
                           h, &why);
        break;
    }
    case 1:
        fc_cluster_leave(h->cl);
        break;
    case 2: { /* a DNS answer: bits 2-6 pick addresses, our own among them */
        char *addrs[5];
        size_t n = 0;
        char self[] = "10.0.0.1:7000";
        if (x & 4)
            addrs[n++] = self;
        for (int k = 0; k < NPEER; k++)
            if (x >> (3 + k) & 1)
                addrs[n++] = (char *)peer_addrs[k];
        fc_cluster_dns_result(h->cl, addrs, n);
        break;
    }
    default: /* bits 2-4: the evacuation module's calls, else what the admin side reads */
        switch (x >> 2 & 7) {
        case 1: {
            fe_evac_opts_t o;
            fe_evac_opts_default(&o);
            o.wait_health_check_ms = x & 32 ? 0 : 500;
            o.wait_takeover_ms = x & 64 ? 0 : 1000;
            o.conn_auto = x & 128;
            o.sess_evict_rate = 1 + (x >> 5);
            if (x & 32) {
                o.n_migrate_to = 1;
                snprintf(o.migrate_to[0], sizeof o.migrate_to[0], "%s", peer_names[x >> 6 & 3]);
            }
            char err[256];
            fe_evac_start(h->evac, &o, err, sizeof err);
            return;
        }
        case 2: {
            char err[64];
            fe_evac_stop(h->evac, err, sizeof err);
            return;
        }
        case 3: {
            fe_rebal_opts_t o;
            fe_rebal_opts_default(&o);
            o.abs_conn_threshold = o.abs_sess_threshold = 1;
            o.wait_health_check_ms = x & 32 ? 0 : 1500;
            o.wait_takeover_ms = x & 64 ? 0 : 1000;
            char err[256];
            fe_rebal_start(h->evac, &o, err, sizeof err);
            return;
        }
        case 4: {
            char err[64];
            fe_rebal_stop(h->evac, err, sizeof err);
            return;
        }
        case 5: {
            json_decref(fe_evac_status(h->evac));
            json_decref(fe_rebal_status(h->evac));
            json_decref(fe_global_status(h->evac));
            fe_load_t ld;
            fe_node_load(h->evac, &ld);
            FUZZ_CHECK(ld.connections == h->b->n_clients, "load");
            return;
        }
        default:
            break;
        }
        {
            fc_peer_info_t info[NEND];
            size_t n = fc_cluster_peers(h->cl, info, NEND);
            for (size_t k = 0; k < n && k < NEND; k++)
                FUZZ_CHECK(info[k].name && info[k].up && info[k].version >= 1 &&
                               info[k].version <= FC_PROTO_MAX,
                           "peer info");
            for (int k = 0; k < NID; k++)
                fc_cluster_owner(h->cl, str_bytes(ids[k]));
            (void)fc_cluster_stats(h->cl);
            break;
        }
    }
}

/* ---- set-up and teardown ---- */

static void set_str(char **field, const char *v)
{
    free(*field);
    *field = strdup(v);
    FUZZ_CHECK(*field != NULL, "out of memory");
}

static harness_t *harness_new(uint8_t knobs)
{
    harness_t *h = calloc(1, sizeof *h);
    FUZZ_CHECK(h != NULL, "out of memory");
    for (int i = 0; i < NEND; i++)
        h->ends[i].h = h;
    for (int i = 0; i < NCLI; i++) {
        h->clis[i].h = h;
        h->clis[i].out = malloc(CLI_OUT_MAX);
        FUZZ_CHECK(h->clis[i].out != NULL, "out of memory");
    }
    fb_config_defaults(&h->cfg);
    h->cfg.max_packet_size = 4096;
    h->cfg.max_queued = 8;
    h->cfg.max_inflight = 4;
    set_str(&h->cfg.node_name, "n1");
    set_str(&h->cfg.cluster_listen, "10.0.0.1:7000");
    set_str(&h->cfg.cluster_secret, SECRET);
    set_str(&h->cfg.cluster_seeds, "");
    char dir[64]; /* an evacuation writes its state file here */
    snprintf(dir, sizeof dir, "/tmp/ferrymq-fuzz-link-%ld", (long)getpid());
    set_str(&h->cfg.data_dir, dir);
    h->cfg.cluster_max_frame = 65536;
    h->cfg.cluster_handoff_linger_ms = 2000;
    h->cfg.cluster_takeover_timeout_ms = 3000;
    h->wall = 1700000000000ull;
    h->mono = 1000000;
    h->next_incarnation = 1000;
    h->b = fb_broker_new(&h->cfg);
    FUZZ_CHECK(h->b != NULL, "fb_broker_new failed");
    fb_broker_set_clock(h->b, h->wall, h->mono);
    char err[256] = "";
    h->cl = fc_cluster_new(h->b, &h->cfg, &net_ops, h, err, sizeof err);
    FUZZ_CHECK(h->cl != NULL, "fc_cluster_new: %s", err);
    fc_cluster_tick(h->cl, h->mono);
    h->evac = fe_node_new(h->b, h->cl, &h->cfg, h->mono);
    FUZZ_CHECK(h->evac != NULL, "fe_node_new failed");

    bool two = knobs & 2, clients_first = knobs & 4;
    for (int pass = 0; pass < 2; pass++) {
        if ((pass == 0) == clients_first) {
            cli_connect(&h->clis[0], false, 300, true);
            if (two) {
                cli_connect(&h->clis[1], false, 300, true);
                if (knobs & 8)
                    cli_simple(&h->clis[1], FMQ_DISCONNECT, 0);
            }
        } else {
            open_link(h, 0, 0, false, false, knobs & 16 ? 3 : knobs & 1 ? 2 : 1);
        }
        settle(h);
    }
    return h;
}

static void harness_free(harness_t *h)
{
    for (int i = 0; i < NCLI; i++)
        if (h->clis[i].conn) {
            fb_conn_closed(h->clis[i].conn);
            h->clis[i].conn = NULL;
        }
    fc_cluster_free(h->cl); /* reports its links closed itself */
    fe_node_free(h->evac);
    fb_broker_free(h->b);
    char state[300];
    snprintf(state, sizeof state, "%s/evacuation.json", h->cfg.data_dir);
    unlink(state); /* an evacuation started by this input ends with it */
    rmdir(h->cfg.data_dir);
    fb_config_free(&h->cfg);
    for (int i = 0; i < NEND; i++)
        free(h->ends[i].out);
    for (int i = 0; i < NCLI; i++)
        free(h->clis[i].out);
    free(h->shipped);
    free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* Every log line is formatted (debug) and thrown away, unless
     * FMQ_FUZZ_DEBUG is set (to read what an input does). */
    bool show = getenv("FMQ_FUZZ_DEBUG") != NULL;
    FILE *devnull = show ? NULL : fopen("/dev/null", "w");
    fb_log_set_sink(devnull);
    fb_log_set_level(devnull || show ? FB_LOG_DEBUG : FB_LOG_ERROR);

    harness_t *h = harness_new(data[0]);
    size_t pos = 1;
    while (pos < size) {
        uint8_t op = data[pos++];
        unsigned kind = op & 15, arg = op >> 4;
        if (kind == 0) { /* LINK */
            if (size - pos < 3)
                break;
            size_t len = (size_t)data[pos] << 8 | data[pos + 1];
            uint8_t cut = data[pos + 2];
            pos += 3;
            if (len > size - pos)
                len = size - pos;
            size_t first = len * cut / 256;
            end_t *e = &h->ends[arg & (NEND - 1)];
            link_feed(e, data + pos, first);
            settle(h);
            link_feed(e, data + pos + first, len - first);
            pos += len;
        } else if (kind == 1) {
            tick(h, tick_steps[arg]);
        } else if (kind == 2) { /* MQTT */
            if (pos >= size)
                break;
            size_t len = data[pos++];
            if (len > size - pos)
                len = size - pos;
            cli_t *c = &h->clis[arg % NCLI];
            if (c->conn && len)
                fb_conn_input(c->conn, data + pos, len);
            pos += len;
        } else if (kind <= 8) {
            if (pos >= size)
                break;
            uint8_t x = data[pos++];
            end_t *e = frame_end(h, (int)arg);
            switch (kind) {
            case 3:
                client_action(h, arg, x);
                break;
            case 4:
                if (e)
                    send_session(h, e, x);
                break;
            case 5:
                if (e)
                    send_ack(h, e, x);
                break;
            case 6:
                if (e)
                    send_claim(h, e, x);
                break;
            case 7:
                net_action(h, arg, x);
                break;
            default:
                cluster_action(h, x);
                break;
            }
        }
        settle(h);
    }
    if (show) {
        const fc_stats_t *st = fc_cluster_stats(h->cl);
        fprintf(
            stderr,
            "fuzz_link: frames in %llu out %llu, publishes in %llu out %llu, sessions "
            "shipped %llu received %llu discarded %llu, deliveries forwarded %llu, "
            "held %llu, duplicates %llu, refused %llu, peers down %llu, migrations done %u\n",
            (unsigned long long)st->frames_in, (unsigned long long)st->frames_out,
            (unsigned long long)st->publishes_received, (unsigned long long)st->publishes_forwarded,
            (unsigned long long)st->sessions_shipped, (unsigned long long)st->sessions_received,
            (unsigned long long)st->sessions_discarded,
            (unsigned long long)st->deliveries_forwarded, (unsigned long long)st->deliveries_held,
            (unsigned long long)st->duplicates_dropped, (unsigned long long)st->links_refused,
            (unsigned long long)st->peers_down, h->migrations_done);
    }
    harness_free(h);
    fb_log_set_sink(NULL);
    fb_log_set_level(FB_LOG_ERROR);
    if (devnull)
        fclose(devnull);
    return 0;
}
