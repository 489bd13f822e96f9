/* libferryclient's live takeover (fcl_client_takeover). First against a
 * scripted mini server in this file, whose bytes are written by hand from
 * the spec, so that the exact packets can be checked whatever the timing:
 * the second CONNECT has Clean Start 0 and the Session Expiry; while it waits
 * for its CONNACK the old connection still delivers and is answered on
 * itself; after CONNACK (Session Present) every unacknowledged PUBLISH is
 * resent on the new connection with DUP=1 and its packet id, PUBREL for
 * those past PUBREC; an incoming QoS 2 message resent on the new connection
 * is acknowledged, not delivered again; the old connection's 0x8E, before or
 * after the new CONNACK, is reported and not final, and without one it is
 * closed after FCL_TAKEOVER_GRACE_MS. Then against a real 2-node ferrymq
 * cluster: a client connected to n1 with a persistent session
 * opens a second connection to n2 while QoS 1 and QoS 2 messages are in
 * flight both ways; n1 ends the old connection with DISCONNECT 0x8E, which
 * is reported and is not final; the client goes on over n2 with its session
 * (Session Present 1), resending what was not acknowledged with the same
 * packet ids. Every message arrives, the QoS 2 ones exactly once. Also: a
 * takeover within one node, and one whose new connection fails (the client
 * stays on the old connection).
 * Usage: test_client_takeover PATH-TO-FERRYMQ */
#include "harness.h"

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_BEFORE 150 /* per QoS and direction, published before the takeover */
#define N_DURING 100 /* ... and while it runs */
#define N_MSGS (N_BEFORE + N_DURING)

/* A client whose arrivals are counted per message: payload "<qos>:<n>". */
typedef struct tk_probe {
    th_probe_t base; /* connects, disconnects, disc[] as the harness records them */
    int seen[3][N_MSGS];
    int unique[3], dups[3], foreign;
    bool sp[8];             /* Session Present of each on_connect */
    int disc_at_connect[8]; /* disconnects reported before each on_connect */
} tk_probe_t;

static void tk_connect(fcl_client_t *c, uint8_t reason, bool sp, void *ud)
{
    (void)c;
    tk_probe_t *p = ud;
    if (reason == 0) {
        if (p->base.connects < 8) {
            p->sp[p->base.connects] = sp;
            p->disc_at_connect[p->base.connects] = p->base.disconnects;
        }
        p->base.connects++;
        p->base.session_present = sp;
    } else {
        p->base.refusals++;
    }
}

static void tk_message(fcl_client_t *c, const fcl_message_t *m, void *ud)
{
    (void)c;
    tk_probe_t *p = ud;
    char buf[16];
    unsigned qos, n;
    snprintf(buf, sizeof buf, "%.*s", (int)m->payload.len, (const char *)m->payload.ptr);
    if (sscanf(buf, "%u:%u", &qos, &n) != 2 || qos > 2 || n >= N_MSGS) {
        p->foreign++;
        return;
    }
    if (p->seen[qos][n]++)
        p->dups[qos]++;
    else
        p->unique[qos]++;
    p->base.messages++;
}

static void tk_published(fcl_client_t *c, uint64_t token, uint8_t reason, void *ud)
{
    (void)c;
    (void)token;
    tk_probe_t *p = ud;
    p->base.published++;
    if (reason >= 0x80)
        p->base.pub_reason = reason;
}

static void tk_subscribed(fcl_client_t *c, uint16_t id, const uint8_t *codes, size_t n, void *ud)
{
    (void)c;
    (void)id;
    tk_probe_t *p = ud;
    if (n)
        p->base.sub_codes[0] = codes[0];
    p->base.subscribed++;
}

static void tk_disconnect(fcl_client_t *c, const fcl_disconnect_info_t *info, void *ud)
{
    (void)c;
    tk_probe_t *p = ud;
    if (p->base.disconnects < TH_MAX_EVENTS) {
        p->base.disc[p->base.disconnects] = *info;
        p->base.disc[p->base.disconnects].server_reference = NULL;
    }
    p->base.disconnects++;
}

static fcl_opts_t tk_opts(tk_probe_t *p, uint16_t port, const char *id, bool persistent)
{
    fcl_opts_t o = th_opts(&p->base, port, id);
    o.cb = (fcl_callbacks_t){.on_connect = tk_connect,
                             .on_message = tk_message,
                             .on_published = tk_published,
                             .on_subscribed = tk_subscribed,
                             .on_disconnect = tk_disconnect};
    o.ud = p;
    if (persistent) {
        o.clean_start = false;
        o.session_expiry = 60;
    }
    return o;
}

static bool tk_subscribe(uv_loop_t *loop, fcl_client_t *c, tk_probe_t *p, const char *filter,
                         uint8_t qos)
{
    fmq_sub_entry_t e = {.filter = fmq_cstr(filter), .qos = qos};
    int want = p->base.subscribed + 1;
    if (fcl_subscribe(c, &e, 1, 0) < 0)
        return false;
    return th_wait_int(loop, &p->base.subscribed, want, 3000) && p->base.sub_codes[0] == qos;
}

static void publish_range(fcl_client_t *c, const char *prefix, int from, int to)
{
    for (int i = from; i < to; i++) {
        for (uint8_t qos = 1; qos <= 2; qos++) {
            char topic[64], pl[16];
            snprintf(topic, sizeof topic, "%s/%u", prefix, qos);
            int n = snprintf(pl, sizeof pl, "%u:%d", qos, i);
            fcl_publish(c, fmq_cstr(topic), (fmq_bytes_t){(const uint8_t *)pl, (uint32_t)n}, qos,
                        false, NULL, 0);
        }
    }
}

/* Every message of QoS 1 and 2 arrived, the QoS 2 ones once. */
static void check_all_arrived(th_t *t, uv_loop_t *loop, tk_probe_t *p, const char *who)
{
    int want = 2 * N_MSGS;
    th_wait_int(loop, &p->base.messages, want, 10000);
    th_run_for(loop, 300); /* late duplicates would show now */
    if (!CHECK_EQ(t, p->unique[1], N_MSGS) || !CHECK_EQ(t, p->unique[2], N_MSGS))
        fprintf(stderr, "   %s: missing messages\n", who);
    if (!CHECK_EQ(t, p->dups[2], 0))
        fprintf(stderr, "   %s: QoS 2 delivered twice\n", who);
    CHECK_EQ(t, p->foreign, 0);
    if (p->dups[1])
        fprintf(stderr, "   %s: %d QoS 1 duplicates (allowed)\n", who, p->dups[1]);
}

/* The client `mover` (persistent session on `from`) publishes to `out/<qos>`
 * (subscriber `sink` on `to`) and receives `in/<qos>` (from `source` on
 * `from`), and moves to `to` with messages in flight both ways. */
static void takeover_between(th_t *t, uv_loop_t *loop, uint16_t from, uint16_t to, const char *tag)
{
    tk_probe_t *mp = calloc(1, sizeof *mp), *sp = calloc(1, sizeof *sp),
               *qp = calloc(1, sizeof *qp);
    char mid[32], in[32], out[32], filt[40];
    snprintf(mid, sizeof mid, "tk-mover-%s", tag);
    snprintf(in, sizeof in, "tk/%s/in", tag);
    snprintf(out, sizeof out, "tk/%s/out", tag);

    fcl_opts_t so = tk_opts(sp, to, "tk-sink", false);
    fcl_client_t *sink = fcl_client_new(loop, &so);
    fcl_client_start(sink);
    CHECK(t, th_wait_int(loop, &sp->base.connects, 1, 3000));
    snprintf(filt, sizeof filt, "%s/1", out);
    CHECK(t, tk_subscribe(loop, sink, sp, filt, 1));
    snprintf(filt, sizeof filt, "%s/2", out);
    CHECK(t, tk_subscribe(loop, sink, sp, filt, 2));

    fcl_opts_t mo = tk_opts(mp, from, mid, true);
    mo.clean_start = true; /* a fresh session, kept: Session Expiry 60 */
    fcl_client_t *mover = fcl_client_new(loop, &mo);
    fcl_client_start(mover);
    CHECK(t, th_wait_int(loop, &mp->base.connects, 1, 3000));
    snprintf(filt, sizeof filt, "%s/1", in);
    CHECK(t, tk_subscribe(loop, mover, mp, filt, 1));
    snprintf(filt, sizeof filt, "%s/2", in);
    CHECK(t, tk_subscribe(loop, mover, mp, filt, 2));

    fcl_opts_t qo = tk_opts(qp, from, "tk-source", false);
    fcl_client_t *source = fcl_client_new(loop, &qo);
    fcl_client_start(source);
    CHECK(t, th_wait_int(loop, &qp->base.connects, 1, 3000));
    th_run_for(loop, 200); /* the subscriptions reach the other node */

    /* Both directions start; a few acknowledgements come back, the rest
     * is in flight (and queued) when the takeover starts. */
    publish_range(mover, out, 0, N_BEFORE);
    publish_range(source, in, 0, N_BEFORE);
    CHECK(t, th_wait_int(loop, &mp->base.published, 10, 3000));
    uint32_t inflight = fcl_client_inflight(mover), queued = fcl_client_queued(mover);
    CHECK(t, inflight > 0);
    CHECK_EQ(t, fcl_client_takeover(mover, "127.0.0.1", to), 0);
    CHECK_EQ(t, fcl_client_state(mover), FCL_CONNECTING);
    CHECK_EQ(t, fcl_client_takeover(mover, "127.0.0.1", to), UV_EALREADY);
    /* During the takeover: ours wait in the queue, QoS 0 is refused. */
    publish_range(mover, out, N_BEFORE, N_MSGS);
    CHECK(t, fcl_publish(mover, fmq_cstr(out), FMQ_BYTES("q0"), 0, false, NULL, 0) < 0);
    publish_range(source, in, N_BEFORE, N_MSGS);

    CHECK(t, th_wait_int(loop, &mp->base.connects, 2, 5000));
    CHECK(t, mp->sp[1]); /* the session came along */
    /* Acknowledgements go on arriving on the old connection until its 0x8E;
     * what was still unacknowledged at the new CONNACK went out again. */
    uint32_t resent = fcl_client_resent(mover);
    CHECK(t, resent <= inflight);
    CHECK_EQ(t, fcl_client_state(mover), FCL_CONNECTED);
    char target[64];
    char want[32];
    snprintf(want, sizeof want, "127.0.0.1:%u", to);
    CHECK_STR(t, fcl_client_target(mover, target, sizeof target), want);
    /* The old connection ends with the server's 0x8E, not final. */
    CHECK(t, th_wait_int(loop, &mp->base.disconnects, 1, FCL_TAKEOVER_GRACE_MS + 2000));
    const fcl_disconnect_info_t *d = &mp->base.disc[0];
    CHECK(t, d->takeover);
    CHECK(t, d->was_connected);
    CHECK(t, d->by_server);
    CHECK_EQ(t, d->reason, FMQ_RC_SESSION_TAKEN_OVER);
    CHECK(t, d->will_reconnect);
    fprintf(stderr,
            "   at the takeover: %u of ours in flight, %u queued; %u resent after the new "
            "CONNACK; 0x8E %s it\n",
            inflight, queued, resent, mp->disc_at_connect[1] ? "before" : "after");

    check_all_arrived(t, loop, sp, "sink (the mover's publishes)");
    check_all_arrived(t, loop, mp, "mover (received)");
    CHECK(t, th_wait_int(loop, &mp->base.published, 2 * N_MSGS, 5000));
    CHECK_EQ(t, mp->base.published, 2 * N_MSGS);
    CHECK_EQ(t, mp->base.pub_reason, 0);
    CHECK_EQ(t, fcl_client_inflight(mover), 0);
    CHECK_EQ(t, fcl_client_queued(mover), 0);
    /* Nothing else happened to the mover: one connection end, two connects. */
    th_run_for(loop, 300);
    CHECK_EQ(t, mp->base.disconnects, 1);
    CHECK_EQ(t, mp->base.connects, 2);
    CHECK_EQ(t, fcl_client_state(mover), FCL_CONNECTED);
    /* And it goes on over the new connection: a round trip. */
    int before = sp->base.messages;
    char topic[40];
    snprintf(topic, sizeof topic, "%s/1", out);
    fcl_publish(mover, fmq_cstr(topic), FMQ_BYTES("1:0"), 1, false, NULL, 0);
    CHECK(t, th_wait_int(loop, &sp->base.messages, before + 1, 3000));

    fcl_client_stop(mover, 0);
    fcl_client_stop(sink, 0);
    fcl_client_stop(source, 0);
    fcl_client_free(mover);
    fcl_client_free(sink);
    fcl_client_free(source);
    free(mp);
    free(sp);
    free(qp);
}

/* ---- a scripted mini server: records what the client sends per
 * connection; the test says what to send back ---- */

#define MS_RECS 32

typedef struct ms_rec { /* one packet from the client */
    fmq_type_t type;
    uint8_t qos, reason;
    bool dup, clean_start, has_expiry;
    uint16_t packet_id;
    uint32_t expiry;
    char client_id[32];
} ms_rec_t;

typedef struct ms_conn {
    uv_tcp_t tcp;
    uint8_t in[4096];
    size_t in_len;
    uint8_t version; /* 0 until CONNECT */
    ms_rec_t rec[MS_RECS];
    int n; /* packets recorded */
    bool closed;
} ms_conn_t;

typedef struct ms {
    uv_tcp_t listener;
    uint16_t port;
    ms_conn_t *conn[4];
    int accepted;
} ms_t;

static void ms_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf)
{
    (void)sz;
    ms_conn_t *mc = h->data;
    *buf = uv_buf_init((char *)mc->in + mc->in_len, (unsigned)(sizeof mc->in - mc->in_len));
}

static void ms_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    ms_conn_t *mc = st->data;
    if (n < 0) {
        mc->closed = true;
        uv_read_stop(st);
        return;
    }
    mc->in_len += (size_t)n;
    size_t off = 0;
    for (;;) {
        fmq_packet_t p;
        fmq_err_t err;
        fmq_decode_opts_t o = {mc->version, 0};
        int used = fmq_decode(mc->in + off, mc->in_len - off, &o, &p, &err);
        if (used <= 0)
            break;
        off += (size_t)used;
        if (mc->n == MS_RECS)
            continue;
        ms_rec_t *r = &mc->rec[mc->n++];
        *r = (ms_rec_t){.type = p.type};
        if (p.type == FMQ_CONNECT) {
            mc->version = p.connect.version;
            r->clean_start = p.connect.clean_start;
            r->has_expiry = fmq_props_has(&p.connect.props, FMQ_PROP_SESSION_EXPIRY);
            r->expiry = p.connect.props.session_expiry;
            snprintf(r->client_id, sizeof r->client_id, "%.*s", (int)p.connect.client_id.len,
                     (const char *)p.connect.client_id.ptr);
        } else if (p.type == FMQ_PUBLISH) {
            r->qos = p.publish.qos;
            r->dup = p.publish.dup;
            r->packet_id = p.publish.packet_id;
        } else if (p.type >= FMQ_PUBACK && p.type <= FMQ_PUBCOMP) {
            r->packet_id = p.ack.packet_id;
            r->reason = p.ack.reason;
        }
    }
    memmove(mc->in, mc->in + off, mc->in_len - off);
    mc->in_len -= off;
}

static void ms_accept(uv_stream_t *l, int status)
{
    ms_t *m = l->data;
    if (status < 0 || m->accepted == 4)
        return;
    ms_conn_t *mc = calloc(1, sizeof *mc);
    uv_tcp_init(l->loop, &mc->tcp);
    mc->tcp.data = mc;
    uv_accept(l, (uv_stream_t *)&mc->tcp);
    m->conn[m->accepted++] = mc;
    uv_read_start((uv_stream_t *)&mc->tcp, ms_alloc, ms_read);
}

static int ms_start(uv_loop_t *loop, ms_t *m)
{
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(loop, &m->listener);
    m->listener.data = m;
    if (uv_tcp_bind(&m->listener, (struct sockaddr *)&a, 0) != 0 ||
        uv_listen((uv_stream_t *)&m->listener, 16, ms_accept) != 0)
        return -1;
    int len = sizeof a;
    uv_tcp_getsockname(&m->listener, (struct sockaddr *)&a, &len);
    m->port = ntohs(a.sin_port);
    return 0;
}

static void ms_stop(uv_loop_t *loop, ms_t *m)
{
    for (int i = 0; i < m->accepted; i++) {
        th_close(loop, (uv_handle_t *)&m->conn[i]->tcp);
        free(m->conn[i]);
    }
    th_close(loop, (uv_handle_t *)&m->listener);
}

static void ms_written(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

static void ms_send(ms_conn_t *mc, const uint8_t *bytes, size_t len)
{
    uv_write_t *w = malloc(sizeof *w + len);
    memcpy(w + 1, bytes, len);
    uv_buf_t b = uv_buf_init((char *)(w + 1), (unsigned)len);
    uv_write(w, (uv_stream_t *)&mc->tcp, &b, 1, ms_written);
}
#define MS_SEND(mc, ...)                                                                           \
    do {                                                                                           \
        static const uint8_t bytes_[] = {__VA_ARGS__};                                             \
        ms_send((mc), bytes_, sizeof bytes_);                                                      \
    } while (0)

/* Waits for connection i to exist and to have sent n packets. */
static bool ms_wait(uv_loop_t *loop, ms_t *m, int i, int n)
{
    if (!th_wait_int(loop, &m->accepted, i + 1, 3000))
        return false;
    return th_wait_int(loop, &m->conn[i]->n, n, 3000);
}

static bool rec_is(const ms_rec_t *r, fmq_type_t type, uint16_t id, uint8_t qos, bool dup)
{
    bool ok = r->type == type && r->packet_id == id && r->qos == qos && r->dup == dup;
    if (!ok)
        fprintf(stderr, "   got type %d id %u qos %u dup %d; want type %d id %u qos %u dup %d\n",
                r->type, r->packet_id, r->qos, r->dup, type, id, qos, dup);
    return ok;
}

typedef enum { OLD_ENDS_AFTER, OLD_ENDS_BEFORE, OLD_NEVER_ENDS } old_end_t;

static void mini_takeover(th_t *t, uv_loop_t *loop, old_end_t how)
{
    ms_t m = {0};
    if (!CHECK_EQ(t, ms_start(loop, &m), 0))
        return;
    th_probe_t p = {0};
    fcl_opts_t o = th_opts(&p, m.port, "mini-tk");
    o.session_expiry = 120; /* and Clean Start 1 at first: the takeover must send 0 */
    fcl_client_t *c = fcl_client_new(loop, &o);
    fcl_client_start(c);
    CHECK(t, ms_wait(loop, &m, 0, 1));
    ms_conn_t *old = m.conn[0];
    CHECK(t, old->rec[0].type == FMQ_CONNECT && old->rec[0].clean_start);
    MS_SEND(old, 0x20, 0x03, 0x00, 0x00, 0x00); /* CONNACK, no session */
    CHECK(t, th_wait_int(loop, &p.connects, 1, 3000));

    /* Ours: QoS 1 (id 1), QoS 2 (id 2), QoS 2 (id 3, which gets its PUBREC). */
    fcl_publish(c, FMQ_BYTES("out"), FMQ_BYTES("a"), 1, false, NULL, 0);
    fcl_publish(c, FMQ_BYTES("out"), FMQ_BYTES("b"), 2, false, NULL, 0);
    fcl_publish(c, FMQ_BYTES("out"), FMQ_BYTES("c"), 2, false, NULL, 0);
    CHECK(t, ms_wait(loop, &m, 0, 4));
    CHECK(t, rec_is(&old->rec[1], FMQ_PUBLISH, 1, 1, false));
    CHECK(t, rec_is(&old->rec[2], FMQ_PUBLISH, 2, 2, false));
    CHECK(t, rec_is(&old->rec[3], FMQ_PUBLISH, 3, 2, false));
    MS_SEND(old, 0x50, 0x02, 0x00, 0x03); /* PUBREC 3 */
    CHECK(t, ms_wait(loop, &m, 0, 5));
    CHECK(t, rec_is(&old->rec[4], FMQ_PUBREL, 3, 0, false));
    /* Theirs: QoS 2 id 7 "m7", delivered and PUBREC'd, no PUBREL yet. */
    MS_SEND(old, 0x34, 0x09, 0x00, 0x02, 'i', 'n', 0x00, 0x07, 0x00, 'm', '7');
    CHECK(t, ms_wait(loop, &m, 0, 6));
    CHECK(t, rec_is(&old->rec[5], FMQ_PUBREC, 7, 0, false));
    CHECK_EQ(t, p.messages, 1);

    CHECK_EQ(t, fcl_client_takeover(c, "127.0.0.1", m.port), 0);
    CHECK(t, ms_wait(loop, &m, 1, 1));
    ms_conn_t *neu = m.conn[1];
    const ms_rec_t *k = &neu->rec[0];
    CHECK_EQ(t, k->type, FMQ_CONNECT);
    CHECK(t, !k->clean_start);
    CHECK(t, k->has_expiry);
    CHECK_EQ(t, k->expiry, 120);
    CHECK_STR(t, k->client_id, "mini-tk");
    /* Until the new CONNACK the old connection carries on: a QoS 1 message
     * arrives there and is acknowledged there. */
    MS_SEND(old, 0x32, 0x09, 0x00, 0x02, 'i', 'n', 0x00, 0x08, 0x00, 'm', '8');
    CHECK(t, ms_wait(loop, &m, 0, 7));
    CHECK(t, rec_is(&old->rec[6], FMQ_PUBACK, 8, 0, false));
    CHECK_EQ(t, p.messages, 2);
    CHECK_EQ(t, fcl_client_state(c), FCL_CONNECTING);
    if (how == OLD_ENDS_BEFORE) {
        MS_SEND(old, 0xE0, 0x01, 0x8E); /* DISCONNECT 0x8E */
        CHECK(t, th_wait_int(loop, &p.disconnects, 1, 3000));
        CHECK_EQ(t, fcl_client_state(c), FCL_CONNECTING); /* not final */
    }
    CHECK_EQ(t, fcl_client_inflight(c), 3);
    MS_SEND(neu, 0x20, 0x03, 0x01, 0x00, 0x00); /* CONNACK, session present */
    CHECK(t, th_wait_int(loop, &p.connects, 2, 3000));
    CHECK(t, p.session_present);
    CHECK_EQ(t, fcl_client_state(c), FCL_CONNECTED);
    /* The window again, in order, with the same ids: DUP PUBLISH 1 and 2,
     * PUBREL 3. */
    CHECK(t, ms_wait(loop, &m, 1, 4));
    CHECK(t, rec_is(&neu->rec[1], FMQ_PUBLISH, 1, 1, true));
    CHECK(t, rec_is(&neu->rec[2], FMQ_PUBLISH, 2, 2, true));
    CHECK(t, rec_is(&neu->rec[3], FMQ_PUBREL, 3, 0, false));
    CHECK_EQ(t, fcl_client_resent(c), 3);
    /* Their QoS 2 id 7 again (DUP): acknowledged, not delivered twice. */
    MS_SEND(neu, 0x3C, 0x09, 0x00, 0x02, 'i', 'n', 0x00, 0x07, 0x00, 'm', '7');
    CHECK(t, ms_wait(loop, &m, 1, 5));
    CHECK(t, rec_is(&neu->rec[4], FMQ_PUBREC, 7, 0, false));
    MS_SEND(neu, 0x62, 0x02, 0x00, 0x07); /* PUBREL 7 */
    CHECK(t, ms_wait(loop, &m, 1, 6));
    CHECK(t, rec_is(&neu->rec[5], FMQ_PUBCOMP, 7, 0, false));
    CHECK_EQ(t, p.messages, 2);
    if (how == OLD_ENDS_AFTER) {
        /* The old connection is read for its DISCONNECT only now. */
        MS_SEND(old, 0x32, 0x09, 0x00, 0x02, 'i', 'n', 0x00, 0x09, 0x00, 'm', '9');
        MS_SEND(old, 0xE0, 0x01, 0x8E);
        CHECK(t, th_wait_int(loop, &p.disconnects, 1, 3000));
        CHECK_EQ(t, p.messages, 2);
    } else if (how == OLD_NEVER_ENDS) {
        uint64_t t0 = th_now_ms();
        CHECK(t, th_wait_int(loop, &p.disconnects, 1, FCL_TAKEOVER_GRACE_MS + 1000));
        CHECK(t, th_now_ms() - t0 + 100 >= FCL_TAKEOVER_GRACE_MS);
    }
    const fcl_disconnect_info_t *d = &p.disc[0];
    CHECK(t, d->takeover);
    CHECK(t, d->was_connected);
    CHECK(t, d->will_reconnect);
    CHECK_EQ(t, d->by_server, how != OLD_NEVER_ENDS);
    CHECK_EQ(t, d->reason, how != OLD_NEVER_ENDS ? FMQ_RC_SESSION_TAKEN_OVER : 0);
    CHECK_EQ(t, d->sys_error, how != OLD_NEVER_ENDS ? 0 : UV_ETIMEDOUT);
    th_run_for(loop, 50);
    CHECK(t, old->closed);  /* we closed the old socket */
    CHECK_EQ(t, old->n, 7); /* nothing answered there after the new CONNACK (PUBLISH 9) */
    CHECK_EQ(t, fcl_client_state(c), FCL_CONNECTED);

    /* The flows finish on the new connection. PUBCOMP 3 says 0x92 (the
     * first PUBREL had completed it): still a success for the application. */
    MS_SEND(neu, 0x40, 0x02, 0x00, 0x01);       /* PUBACK 1 */
    MS_SEND(neu, 0x50, 0x02, 0x00, 0x02);       /* PUBREC 2 */
    MS_SEND(neu, 0x70, 0x03, 0x00, 0x03, 0x92); /* PUBCOMP 3, Packet Identifier not found */
    CHECK(t, ms_wait(loop, &m, 1, 7));
    CHECK(t, rec_is(&neu->rec[6], FMQ_PUBREL, 2, 0, false));
    MS_SEND(neu, 0x70, 0x02, 0x00, 0x02); /* PUBCOMP 2 */
    CHECK(t, th_wait_int(loop, &p.published, 3, 3000));
    CHECK_EQ(t, p.pub_reason, 0);
    CHECK_EQ(t, fcl_client_inflight(c), 0);
    th_run_for(loop, 50);
    CHECK_EQ(t, p.disconnects, 1);
    CHECK_EQ(t, p.connects, 2);
    fcl_client_stop(c, 0);
    fcl_client_free(c);
    ms_stop(loop, &m);
}

static void mini_old_ends_after(th_t *t, uv_loop_t *loop)
{
    mini_takeover(t, loop, OLD_ENDS_AFTER);
}

static void mini_old_ends_before(th_t *t, uv_loop_t *loop)
{
    mini_takeover(t, loop, OLD_ENDS_BEFORE);
}

static void mini_old_never_ends(th_t *t, uv_loop_t *loop)
{
    mini_takeover(t, loop, OLD_NEVER_ENDS);
}

/* ---- against a real cluster ---- */

static void takeover_cross_node(th_t *t, uv_loop_t *loop)
{
    takeover_between(t, loop, t->broker.port, t->peers[0].port, "x");
}

/* The same within one node (n2 to n2): the single-node takeover path. */
static void takeover_same_node(th_t *t, uv_loop_t *loop)
{
    takeover_between(t, loop, t->peers[0].port, t->peers[0].port, "s");
}

/* A new connection that fails (nothing listens) leaves the client on the old
 * one, at its old address. */
static void takeover_fails(th_t *t, uv_loop_t *loop)
{
    tk_probe_t *p = calloc(1, sizeof *p);
    fcl_opts_t o = tk_opts(p, t->broker.port, "tk-fails", true);
    fcl_client_t *c = fcl_client_new(loop, &o);
    CHECK_EQ(t, fcl_client_takeover(c, "127.0.0.1", t->peers[0].port), UV_ENOTCONN);
    fcl_client_start(c);
    CHECK(t, th_wait_int(loop, &p->base.connects, 1, 3000));
    CHECK(t, tk_subscribe(loop, c, p, "tk/f/1", 1));
    CHECK_EQ(t, fcl_client_takeover(c, "not-an-address", 1), UV_EINVAL);
    CHECK_EQ(t, fcl_client_state(c), FCL_CONNECTED);
    uint16_t closed = th_free_port();
    publish_range(c, "tk/f", 0, 5); /* QoS 1 to ourselves, QoS 2 to nobody */
    CHECK_EQ(t, fcl_client_takeover(c, "127.0.0.1", closed), 0);
    CHECK(t, th_wait_int(loop, &p->base.disconnects, 1, 3000));
    const fcl_disconnect_info_t *d = &p->base.disc[0];
    CHECK(t, d->takeover);
    CHECK(t, !d->was_connected);
    CHECK(t, !d->will_reconnect);
    CHECK_EQ(t, d->sys_error, UV_ECONNREFUSED);
    CHECK_EQ(t, fcl_client_state(c), FCL_CONNECTED);
    char target[64], want[32];
    snprintf(want, sizeof want, "127.0.0.1:%u", t->broker.port);
    CHECK_STR(t, fcl_client_target(c, target, sizeof target), want);
    /* Everything goes on over the old connection. */
    publish_range(c, "tk/f", 5, 10);
    CHECK(t, th_wait_int(loop, &p->base.published, 20, 3000));
    CHECK(t, th_wait_int(loop, &p->unique[1], 10, 3000));
    th_run_for(loop, 200);
    CHECK_EQ(t, p->base.disconnects, 1);
    CHECK_EQ(t, p->base.connects, 1);
    fcl_client_stop(c, 0);
    fcl_client_free(c);
    free(p);
}

/* Freeing a client in the middle of a takeover releases both sockets. */
static void free_during_takeover(th_t *t, uv_loop_t *loop)
{
    tk_probe_t *p = calloc(1, sizeof *p);
    fcl_opts_t o = tk_opts(p, t->broker.port, "tk-free", true);
    fcl_client_t *c = fcl_client_new(loop, &o);
    fcl_client_start(c);
    CHECK(t, th_wait_int(loop, &p->base.connects, 1, 3000));
    publish_range(c, "tk/free", 0, 5);
    CHECK_EQ(t, fcl_client_takeover(c, "127.0.0.1", t->peers[0].port), 0);
    fcl_client_free(c); /* th_run checks that every handle closes */
    th_run_for(loop, 100);
    CHECK_EQ(t, p->base.disconnects, 0); /* no callback after free */
    free(p);
}

int main(int argc, char **argv)
{
    th_t t;
    if (th_init(&t, argc, argv) != 0)
        return 2;
    if (th_cluster_start(&t, 1, NULL) != 0) {
        t.failed++;
        th_cluster_stop(&t);
        return th_summary(&t);
    }
    th_run(&t, "mini_old_ends_after", mini_old_ends_after);
    th_run(&t, "mini_old_ends_before", mini_old_ends_before);
    th_run(&t, "mini_old_never_ends", mini_old_never_ends);
    th_run(&t, "takeover_cross_node", takeover_cross_node);
    th_run(&t, "takeover_same_node", takeover_same_node);
    th_run(&t, "takeover_fails", takeover_fails);
    th_run(&t, "free_during_takeover", free_during_takeover);
    th_cluster_stop(&t);
    return th_summary(&t);
}
