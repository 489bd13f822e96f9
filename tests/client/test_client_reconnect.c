/* libferryclient's reconnect policy: exponential backoff while the real
 * ferrymq is killed (SIGKILL) and restarted on the same port, jitter and the
 * attempt limit against a closed port, and the Server Reference of a v5
 * CONNACK or DISCONNECT 0x9C, served by a mini MQTT server in this file whose
 * packets are built by hand from the spec (not by our codec).
 * Usage: test_client_reconnect PATH-TO-FERRYMQ */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* ---- mini server: answers the first CONNECT of each connection with
 * canned bytes, then closes. ---- */

typedef struct mini_conn {
    uv_tcp_t tcp;
    struct mini *srv;
    uint8_t in[512];
    size_t in_len;
    bool answered;
    uv_write_t wr;
} mini_conn_t;

typedef struct mini {
    uv_tcp_t listener;
    uint16_t port;
    uint8_t reply[256];
    size_t reply_len;
    int accepted, connects_seen;
    uint8_t last_level; /* protocol level byte of the last CONNECT */
} mini_t;

static void mini_conn_closed(uv_handle_t *h)
{
    free(h->data);
}

static void mini_written(uv_write_t *w, int status)
{
    (void)status;
    mini_conn_t *mc = w->data;
    uv_close((uv_handle_t *)&mc->tcp, mini_conn_closed);
}

static void mini_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf)
{
    (void)sz;
    mini_conn_t *mc = h->data;
    *buf = uv_buf_init((char *)mc->in + mc->in_len, (unsigned)(sizeof mc->in - mc->in_len));
}

static void mini_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    mini_conn_t *mc = st->data;
    if (n < 0 || mc->in_len + (size_t)n >= sizeof mc->in) {
        if (!uv_is_closing((uv_handle_t *)st))
            uv_close((uv_handle_t *)st, mini_conn_closed);
        return;
    }
    mc->in_len += (size_t)n;
    /* CONNECT = 0x10, a 1-byte Remaining Length (ours are short), then
     * "\0\4MQTT" and the level. */
    if (mc->answered || mc->in_len < 2 || mc->in_len < 2u + mc->in[1])
        return;
    mc->answered = true;
    mc->srv->connects_seen += mc->in[0] == 0x10;
    mc->srv->last_level = mc->in_len > 8 ? mc->in[8] : 0;
    uv_read_stop(st);
    uv_buf_t b = uv_buf_init((char *)mc->srv->reply, (unsigned)mc->srv->reply_len);
    mc->wr.data = mc;
    uv_write(&mc->wr, st, &b, 1, mini_written);
}

static void mini_accept(uv_stream_t *l, int status)
{
    mini_t *m = l->data;
    if (status < 0)
        return;
    mini_conn_t *mc = calloc(1, sizeof *mc);
    mc->srv = m;
    uv_tcp_init(l->loop, &mc->tcp);
    mc->tcp.data = mc;
    if (uv_accept(l, (uv_stream_t *)&mc->tcp) != 0) {
        uv_close((uv_handle_t *)&mc->tcp, mini_conn_closed);
        return;
    }
    m->accepted++;
    uv_read_start((uv_stream_t *)&mc->tcp, mini_alloc, mini_read);
}

static int mini_start(uv_loop_t *loop, mini_t *m)
{
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(loop, &m->listener);
    m->listener.data = m;
    if (uv_tcp_bind(&m->listener, (struct sockaddr *)&a, 0) != 0 ||
        uv_listen((uv_stream_t *)&m->listener, 16, mini_accept) != 0)
        return -1;
    int len = sizeof a;
    uv_tcp_getsockname(&m->listener, (struct sockaddr *)&a, &len);
    m->port = ntohs(a.sin_port);
    return 0;
}

static void mini_stop(uv_loop_t *loop, mini_t *m)
{
    th_close(loop, (uv_handle_t *)&m->listener);
}

/* Appends a Server Reference property block: length, 0x1C, UTF-8 string. */
static size_t put_ref_props(uint8_t *p, const char *ref)
{
    size_t n = strlen(ref);
    p[0] = (uint8_t)(3 + n); /* property length (< 128) */
    p[1] = 0x1C;             /* Server Reference */
    p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
    memcpy(p + 4, ref, n);
    return 4 + n;
}

/* CONNACK: session present 0, reason 0x9C, Server Reference. */
static void reply_connack_ref(mini_t *m, const char *ref)
{
    uint8_t *p = m->reply;
    p[0] = 0x20;
    p[2] = 0x00;
    p[3] = 0x9C;
    size_t props = put_ref_props(p + 4, ref);
    p[1] = (uint8_t)(2 + props);
    m->reply_len = 4 + props;
}

/* CONNACK 0 without properties, then DISCONNECT 0x9C with a Server Reference. */
static void reply_disconnect_ref(mini_t *m, const char *ref)
{
    static const uint8_t connack_ok[] = {0x20, 0x03, 0x00, 0x00, 0x00};
    uint8_t *p = m->reply;
    memcpy(p, connack_ok, sizeof connack_ok);
    p += sizeof connack_ok;
    p[0] = 0xE0;
    p[2] = 0x9C;
    size_t props = put_ref_props(p + 3, ref);
    p[1] = (uint8_t)(1 + props);
    m->reply_len = sizeof connack_ok + 3 + props;
}

static void accept_nothing(uv_stream_t *l, int status)
{
    (void)l; /* libuv holds the accepted socket: TCP completes, nobody answers */
    (void)status;
}

/* ---- tests ---- */

static void backoff_broker_restart(th_t *t, uv_loop_t *loop)
{
    th_broker_t b = {0};
    if (!CHECK_EQ(t, th_broker_start(t, &b, 0, NULL), 0))
        return;
    th_probe_t p = {0};
    fcl_opts_t o = th_opts(&p, b.port, "r-backoff");
    o.reconnect = (fcl_reconnect_policy_t){
        .kind = FCL_RECONNECT_EXPONENTIAL, .delay_ms = 100, .max_delay_ms = 800, .jitter_pct = 0};
    fcl_client_t *c = fcl_client_new(loop, &o);
    fcl_client_start(c);
    CHECK(t, th_wait_int(loop, &p.connects, 1, 3000));
    th_broker_stop(&b, SIGKILL);
    /* The drop, then failed attempts after 100, 200, 400, 800, 800 ms. */
    CHECK(t, th_wait_int(loop, &p.disconnects, 6, 5000));
    static const uint32_t want[] = {100, 200, 400, 800, 800, 800};
    for (int i = 0; i < 6; i++) {
        CHECK_EQ(t, p.disc[i].delay_ms, want[i]);
        CHECK(t, p.disc[i].will_reconnect);
        CHECK_EQ(t, p.disc[i].was_connected, i == 0);
        if (i > 0) {
            CHECK_EQ(t, p.disc[i].sys_error, UV_ECONNREFUSED);
            uint64_t gap = p.disc_at_ms[i] - p.disc_at_ms[i - 1];
            /* libuv's timer starts from the loop's cached time (a few ms
             * behind the clock); the upper bound leaves room for a busy CI. */
            if (!CHECK(t, gap + 20 >= want[i - 1] && gap < want[i - 1] + 1000))
                fprintf(stderr, "   attempt %d came %llu ms after the previous one\n", i,
                        (unsigned long long)gap);
        }
    }
    CHECK_EQ(t, th_broker_start(t, &b, b.port, NULL), 0);
    CHECK(t, th_wait_int(loop, &p.connects, 2, 3000));
    CHECK(t, !p.session_present); /* a killed broker forgets its sessions */
    /* A successful CONNACK resets the backoff. */
    int n = p.disconnects;
    fcl_client_drop(c, false);
    CHECK_EQ(t, p.disc[n].delay_ms, 100);
    CHECK(t, th_wait_int(loop, &p.connects, 3, 3000));
    fcl_client_stop(c, 0);
    fcl_client_free(c);
    th_broker_stop(&b, SIGTERM);
}

static void jitter_and_limit(th_t *t, uv_loop_t *loop)
{
    th_probe_t p = {0};
    fcl_opts_t o = th_opts(&p, th_free_port(), "r-jitter");
    o.reconnect = (fcl_reconnect_policy_t){
        .kind = FCL_RECONNECT_FIXED, .delay_ms = 100, .jitter_pct = 50, .max_attempts = 4};
    fcl_client_t *c = fcl_client_new(loop, &o);
    fcl_client_start(c);
    CHECK(t, th_wait_int(loop, &p.disconnects, 5, 3000));
    th_run_for(loop, 300);
    CHECK_EQ(t, p.disconnects, 5);
    for (int i = 0; i < 4; i++) {
        CHECK(t, p.disc[i].will_reconnect);
        CHECK(t, p.disc[i].delay_ms >= 50 && p.disc[i].delay_ms <= 150);
        CHECK_EQ(t, p.disc[i].sys_error, UV_ECONNREFUSED);
    }
    CHECK(t, !p.disc[4].will_reconnect);
    CHECK_EQ(t, fcl_client_state(c), FCL_CLOSED);
    fcl_client_free(c);

    /* Exponential with jitter stays within +-pct of 100 * 2^n, capped. */
    memset(&p, 0, sizeof p);
    o.reconnect = (fcl_reconnect_policy_t){.kind = FCL_RECONNECT_EXPONENTIAL,
                                           .delay_ms = 20,
                                           .max_delay_ms = 80,
                                           .jitter_pct = 25,
                                           .max_attempts = 5};
    c = fcl_client_new(loop, &o);
    fcl_client_start(c);
    CHECK(t, th_wait_int(loop, &p.disconnects, 6, 3000));
    static const uint32_t base[] = {20, 40, 80, 80, 80};
    for (int i = 0; i < 5; i++)
        CHECK(t, p.disc[i].delay_ms >= base[i] * 3 / 4 && p.disc[i].delay_ms <= base[i] * 5 / 4);
    fcl_client_free(c);
}

static void server_reference(th_t *t, uv_loop_t *loop, bool via_disconnect, bool follow)
{
    mini_t m = {0};
    if (!CHECK_EQ(t, mini_start(loop, &m), 0))
        return;
    char ref[64];
    snprintf(ref, sizeof ref, "127.0.0.1:%u", t->broker.port);
    if (via_disconnect)
        reply_disconnect_ref(&m, ref);
    else
        reply_connack_ref(&m, ref);
    th_probe_t p = {0};
    fcl_opts_t o = th_opts(&p, m.port, "r-moved");
    o.reconnect = (fcl_reconnect_policy_t){
        .kind = FCL_RECONNECT_FIXED, .delay_ms = 50, .follow_server_reference = follow};
    fcl_client_t *c = fcl_client_new(loop, &o);
    fcl_client_start(c);
    CHECK(t, th_wait_int(loop, &p.disconnects, 1, 3000));
    CHECK(t, p.disc[0].by_server);
    CHECK_EQ(t, p.disc[0].reason, FMQ_RC_USE_ANOTHER_SERVER);
    CHECK_EQ(t, p.disc[0].was_connected, via_disconnect);
    CHECK(t, p.disc[0].will_reconnect);
    CHECK_STR(t, p.server_ref, ref);
    CHECK_EQ(t, m.connects_seen, 1);
    CHECK_EQ(t, m.last_level, 5);
    char buf[64], mini_addr[64];
    snprintf(mini_addr, sizeof mini_addr, "127.0.0.1:%u", m.port);
    if (follow) {
        CHECK_STR(t, fcl_client_target(c, buf, sizeof buf), ref);
        /* The next attempt goes to ferrymq and sticks. */
        CHECK(t, th_wait_int(loop, &p.connects, via_disconnect ? 2 : 1, 3000));
        th_run_for(loop, 200);
        CHECK_EQ(t, fcl_client_state(c), FCL_CONNECTED);
        CHECK_EQ(t, m.accepted, 1);
        CHECK_EQ(t, p.disconnects, 1);
        /* Proof that it is ferrymq: a round trip. */
        CHECK(t, th_subscribe(loop, c, &p, "moved", 1));
        int before = p.messages;
        fcl_publish(c, FMQ_BYTES("moved"), FMQ_BYTES("hi"), 1, false, NULL, 0);
        CHECK(t, th_wait_int(loop, &p.messages, before + 1, 3000));
    } else {
        /* Without following, the client keeps coming back to the same server. */
        CHECK(t, th_wait_int(loop, &m.accepted, 3, 3000));
        CHECK_STR(t, fcl_client_target(c, buf, sizeof buf), mini_addr);
    }
    fcl_client_stop(c, 0);
    fcl_client_free(c);
    mini_stop(loop, &m);
}

static void connack_reference(th_t *t, uv_loop_t *loop)
{
    server_reference(t, loop, false, true);
}

static void disconnect_reference(th_t *t, uv_loop_t *loop)
{
    server_reference(t, loop, true, true);
}

static void reference_not_followed(th_t *t, uv_loop_t *loop)
{
    server_reference(t, loop, false, false);
}

/* A server that accepts TCP but never answers CONNECT: the attempt ends at
 * the connect timeout, and the policy retries (once here). */
static void connect_timeout(th_t *t, uv_loop_t *loop)
{
    uv_tcp_t silent;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(loop, &silent);
    uv_tcp_bind(&silent, (struct sockaddr *)&a, 0);
    uv_listen((uv_stream_t *)&silent, 4, accept_nothing);
    int len = sizeof a;
    uv_tcp_getsockname(&silent, (struct sockaddr *)&a, &len);
    th_probe_t p = {0};
    fcl_opts_t o = th_opts(&p, ntohs(a.sin_port), "r-timeout");
    o.connect_timeout_ms = 200;
    o.reconnect =
        (fcl_reconnect_policy_t){.kind = FCL_RECONNECT_FIXED, .delay_ms = 50, .max_attempts = 1};
    fcl_client_t *c = fcl_client_new(loop, &o);
    uint64_t t0 = th_now_ms();
    fcl_client_start(c);
    CHECK(t, th_wait_int(loop, &p.disconnects, 2, 3000));
    CHECK_EQ(t, p.disc[0].sys_error, UV_ETIMEDOUT);
    CHECK(t, p.disc_at_ms[0] - t0 >= 190);
    CHECK(t, !p.disc[1].will_reconnect);
    fcl_client_free(c);
    th_close(loop, (uv_handle_t *)&silent);
}

int main(int argc, char **argv)
{
    static const th_case_t cases[] = {
        {"backoff_broker_restart", backoff_broker_restart},
        {"jitter_and_limit", jitter_and_limit},
        {"connack_reference", connack_reference},
        {"disconnect_reference", disconnect_reference},
        {"reference_not_followed", reference_not_followed},
        {"connect_timeout", connect_timeout},
    };
    return th_main(argc, argv, NULL, cases, sizeof cases / sizeof cases[0]);
}
