/* libferryclient against the real ferrymq: connecting at 3.1.1 and 5.0 with
 * every CONNECT option, a server-assigned client id, keep alive, the
 * server's Receive Maximum as our inflight window, UNSUBSCRIBE, and a clean
 * stop. Usage: test_client_connect PATH-TO-FERRYMQ */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

static void connect_v311(th_t *t, uv_loop_t *loop)
{
    th_probe_t p = {0};
    fcl_opts_t o = th_opts(&p, t->broker.port, "c-v311");
    o.version = FMQ_V311;
    o.keep_alive = 30;
    fcl_client_t *c = fcl_client_new(loop, &o);
    CHECK_EQ(t, fcl_client_start(c), 0);
    CHECK(t, th_wait_int(loop, &p.connects, 1, 3000));
    CHECK_EQ(t, fcl_client_state(c), FCL_CONNECTED);
    CHECK(t, !p.session_present);
    CHECK_STR(t, fcl_client_id(c), "c-v311");
    fcl_client_stop(c, 0);
    CHECK_EQ(t, p.disconnects, 1);
    CHECK(t, !p.disc[0].will_reconnect);
    CHECK(t, p.disc[0].was_connected);
    CHECK_EQ(t, fcl_client_state(c), FCL_CLOSED);
    fcl_client_free(c);
}

/* Every CONNECT field at once: user name, password, a v5 will with a delay,
 * session expiry, receive maximum, keep alive. The broker must accept it. */
static void connect_v5_all_options(th_t *t, uv_loop_t *loop)
{
    th_probe_t p = {0}, w = {0};
    fcl_opts_t wo = th_opts(&w, t->broker.port, "c-will-watcher");
    fcl_client_t *watcher = fcl_client_new(loop, &wo);
    fcl_client_start(watcher);
    CHECK(t, th_wait_int(loop, &w.connects, 1, 3000));
    CHECK(t, th_subscribe(loop, watcher, &w, "will/c-v5", 1));

    fcl_opts_t o = th_opts(&p, t->broker.port, "c-v5");
    o.keep_alive = 20;
    o.session_expiry = 30;
    o.receive_maximum = 10;
    o.username = "alice";
    o.password = "secret";
    o.will_topic = "will/c-v5";
    o.will_payload = FMQ_BYTES("gone");
    o.will_qos = 1;
    o.will_delay = 0;
    fcl_client_t *c = fcl_client_new(loop, &o);
    fcl_client_start(c);
    CHECK(t, th_wait_int(loop, &p.connects, 1, 3000));
    CHECK_STR(t, fcl_client_id(c), "c-v5");
    /* A crash (no DISCONNECT) makes the broker publish the will. */
    fcl_client_drop(c, true);
    CHECK(t, th_wait_int(loop, &w.messages, 1, 3000));
    CHECK_STR(t, w.last_topic, "will/c-v5");
    CHECK_EQ(t, w.last_len, 4);
    CHECK(t, memcmp(w.last_payload, "gone", 4) == 0);
    fcl_client_free(c);
    fcl_client_stop(watcher, 0);
    fcl_client_free(watcher);
}

static void assigned_client_id(th_t *t, uv_loop_t *loop)
{
    th_probe_t p = {0};
    fcl_opts_t o = th_opts(&p, t->broker.port, "");
    fcl_client_t *c = fcl_client_new(loop, &o);
    fcl_client_start(c);
    CHECK(t, th_wait_int(loop, &p.connects, 1, 3000));
    const char *id = fcl_client_id(c);
    CHECK(t, id && strlen(id) > 0);
    fprintf(stderr, "   assigned id: %s\n", id ? id : "(null)");
    /* The id works as a topic owner: a round trip through it. */
    char topic[300];
    snprintf(topic, sizeof topic, "id/%s", id);
    CHECK(t, th_subscribe(loop, c, &p, topic, 0));
    fcl_publish(c, fmq_cstr(topic), FMQ_BYTES("0"), 0, false, NULL, 0);
    CHECK(t, th_wait_int(loop, &p.messages, 1, 3000));
    fcl_client_stop(c, 0);
    fcl_client_free(c);
}

/* Keep alive 1 s and nothing to send for 3.5 s: only our PINGREQs keep the
 * broker (which closes after 1.5 keep alives) from dropping us. */
static void keep_alive_pings(th_t *t, uv_loop_t *loop)
{
    th_probe_t p = {0};
    fcl_opts_t o = th_opts(&p, t->broker.port, "c-ka");
    o.keep_alive = 1;
    fcl_client_t *c = fcl_client_new(loop, &o);
    fcl_client_start(c);
    CHECK(t, th_wait_int(loop, &p.connects, 1, 3000));
    th_run_for(loop, 3500);
    CHECK_EQ(t, p.disconnects, 0);
    CHECK_EQ(t, fcl_client_state(c), FCL_CONNECTED);
    fcl_client_stop(c, 0);
    fcl_client_free(c);
}

/* ferrymq grants Receive Maximum = --max-inflight (8 here): 50 QoS 1
 * publishes leave 8 in flight and 42 queued, then all are acknowledged. */
static void inflight_window(th_t *t, uv_loop_t *loop)
{
    th_probe_t p = {0};
    fcl_opts_t o = th_opts(&p, t->broker.port, "c-window");
    fcl_client_t *c = fcl_client_new(loop, &o);
    fcl_client_start(c);
    CHECK(t, th_wait_int(loop, &p.connects, 1, 3000));
    for (int i = 0; i < 50; i++)
        CHECK_EQ(t, fcl_publish(c, FMQ_BYTES("w/x"), FMQ_BYTES("x"), 1, false, NULL, (uint64_t)i),
                 0);
    CHECK_EQ(t, fcl_client_inflight(c), 8);
    CHECK_EQ(t, fcl_client_queued(c), 42);
    CHECK(t, th_wait_int(loop, &p.published, 50, 5000));
    CHECK_EQ(t, fcl_client_inflight(c), 0);
    CHECK_EQ(t, fcl_client_queued(c), 0);
    /* Our own cap, below the server's. */
    fcl_client_stop(c, 0);
    fcl_client_free(c);

    th_probe_t q = {0};
    o = th_opts(&q, t->broker.port, "c-window2");
    o.max_inflight = 3;
    c = fcl_client_new(loop, &o);
    fcl_client_start(c);
    CHECK(t, th_wait_int(loop, &q.connects, 1, 3000));
    for (int i = 0; i < 10; i++)
        fcl_publish(c, FMQ_BYTES("w/x"), FMQ_BYTES("x"), 2, false, NULL, (uint64_t)i);
    CHECK_EQ(t, fcl_client_inflight(c), 3);
    CHECK(t, th_wait_int(loop, &q.published, 10, 5000));
    fcl_client_stop(c, 0);
    fcl_client_free(c);
}

static void unsubscribe(th_t *t, uv_loop_t *loop)
{
    for (uint8_t version = FMQ_V311; version <= FMQ_V5; version++) {
        th_probe_t p = {0};
        fcl_opts_t o = th_opts(&p, t->broker.port, "c-unsub");
        o.version = version;
        fcl_client_t *c = fcl_client_new(loop, &o);
        fcl_client_start(c);
        CHECK(t, th_wait_int(loop, &p.connects, 1, 3000));
        CHECK(t, th_subscribe(loop, c, &p, "u/+", 1));
        fcl_publish(c, FMQ_BYTES("u/1"), FMQ_BYTES("0"), 1, false, NULL, 0);
        CHECK(t, th_wait_int(loop, &p.messages, 1, 3000));
        fmq_bytes_t f = FMQ_BYTES("u/+");
        CHECK(t, fcl_unsubscribe(c, &f, 1) > 0);
        CHECK(t, th_wait_int(loop, &p.unsubscribed, 1, 3000));
        CHECK_EQ(t, p.n_unsub_codes, version == FMQ_V5 ? 1 : 0);
        if (version == FMQ_V5)
            CHECK_EQ(t, p.unsub_codes[0], 0);
        fcl_publish(c, FMQ_BYTES("u/1"), FMQ_BYTES("1"), 1, false, NULL, 0);
        CHECK(t, th_wait_int(loop, &p.published, 2, 3000));
        th_run_for(loop, 300);
        CHECK_EQ(t, p.messages, 1);
        fcl_client_stop(c, 0);
        fcl_client_free(c);
    }
}

/* Free from inside a callback, and free while a connect is in progress. */
static void free_anytime(th_t *t, uv_loop_t *loop)
{
    th_probe_t p = {0};
    fcl_opts_t o = th_opts(&p, t->broker.port, "c-free");
    fcl_client_t *c = fcl_client_new(loop, &o);
    fcl_client_start(c);
    fcl_client_free(c); /* the TCP connect is still pending */
    th_run_for(loop, 100);
    CHECK_EQ(t, p.connects, 0);
    CHECK_EQ(t, p.disconnects, 0);

    /* A client that is refused because the address is unusable is final. */
    th_probe_t q = {0};
    o = th_opts(&q, t->broker.port, "c-bad");
    o.host = "not-an-address";
    o.reconnect.kind = FCL_RECONNECT_FIXED;
    c = fcl_client_new(loop, &o);
    CHECK(t, fcl_client_start(c) != 0);
    CHECK_EQ(t, q.disconnects, 1);
    CHECK(t, !q.disc[0].will_reconnect);
    CHECK_EQ(t, fcl_client_state(c), FCL_CLOSED);
    fcl_client_free(c);
}

/* A client bound to another loopback source address (how ferrybench spreads
 * connections over 127.0.0.x). */
static void source_address(th_t *t, uv_loop_t *loop)
{
    th_probe_t p = {0};
    fcl_opts_t o = th_opts(&p, t->broker.port, "c-src");
    o.bind_addr = "127.0.0.42";
    fcl_client_t *c = fcl_client_new(loop, &o);
    fcl_client_start(c);
    CHECK(t, th_wait_int(loop, &p.connects, 1, 3000));
    char buf[64];
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%u", t->broker.port);
    CHECK_STR(t, fcl_client_target(c, buf, sizeof buf), want);
    fcl_client_stop(c, 0);
    fcl_client_free(c);
}

int main(int argc, char **argv)
{
    static const char *const extra[] = {"--max-inflight", "8", NULL};
    static const th_case_t cases[] = {
        {"connect_v311", connect_v311},
        {"connect_v5_all_options", connect_v5_all_options},
        {"assigned_client_id", assigned_client_id},
        {"keep_alive_pings", keep_alive_pings},
        {"inflight_window", inflight_window},
        {"unsubscribe", unsubscribe},
        {"free_anytime", free_anytime},
        {"source_address", source_address},
    };
    return th_main(argc, argv, extra, cases, sizeof cases / sizeof cases[0]);
}
