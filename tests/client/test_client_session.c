/* libferryclient against the real ferrymq: persistent sessions resumed with
 * the messages queued while the client was away (3.1.1 and 5.0, QoS 1 and
 * 2), a session that is not resumed (subscriptions gone), our own inflight
 * messages surviving a drop, and takeover: a second client with the same id
 * makes the broker send the first DISCONNECT 0x8E, which its on_disconnect
 * reports (and, by default, does not answer by reconnecting).
 * Usage: test_client_session PATH-TO-FERRYMQ */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

static void resume_with_queue(th_t *t, uv_loop_t *loop, uint8_t version, uint8_t qos)
{
    th_probe_t sp = {0}, pp = {0};
    char sid[32], topic[32];
    snprintf(sid, sizeof sid, "s-persist-%u-%u", version, qos);
    snprintf(topic, sizeof topic, "sess/%u/%u", version, qos);
    fcl_opts_t so = th_opts(&sp, t->broker.port, sid);
    so.version = version;
    /* Start from nothing and resume later. In 3.1.1 Clean Session = 1 also
     * ends the session with the connection, so it is 0 from the start. */
    so.clean_start = version == FMQ_V5;
    so.session_expiry = 60;
    fcl_client_t *s = fcl_client_new(loop, &so);
    fcl_client_start(s);
    CHECK(t, th_wait_int(loop, &sp.connects, 1, 3000));
    CHECK(t, th_subscribe(loop, s, &sp, topic, qos));
    fcl_client_drop(s, true); /* a crash: the session stays */
    fcl_client_free(s);

    fcl_opts_t po = th_opts(&pp, t->broker.port, "s-publisher");
    fcl_client_t *p = fcl_client_new(loop, &po);
    fcl_client_start(p);
    CHECK(t, th_wait_int(loop, &pp.connects, 1, 3000));
    for (int i = 0; i < 20; i++) {
        char num[8];
        int n = snprintf(num, sizeof num, "%d", i);
        fcl_publish(p, fmq_cstr(topic), (fmq_bytes_t){(const uint8_t *)num, (uint32_t)n}, qos,
                    false, NULL, 0);
    }
    CHECK(t, th_wait_int(loop, &pp.published, 20, 3000));

    memset(&sp, 0, sizeof sp);
    so.clean_start = false;
    s = fcl_client_new(loop, &so);
    fcl_client_start(s);
    CHECK(t, th_wait_int(loop, &sp.connects, 1, 3000));
    CHECK(t, sp.session_present);
    CHECK(t, th_wait_int(loop, &sp.messages, 20, 3000));
    th_run_for(loop, 100);
    CHECK_EQ(t, sp.messages, 20);
    CHECK_EQ(t, sp.in_order, 20);
    CHECK_EQ(t, sp.last_qos, qos);
    fcl_client_stop(s, 0);
    fcl_client_stop(p, 0);
    fcl_client_free(s);
    fcl_client_free(p);
}

static void resume_v311(th_t *t, uv_loop_t *loop)
{
    resume_with_queue(t, loop, FMQ_V311, 1);
    resume_with_queue(t, loop, FMQ_V311, 2);
}

static void resume_v5(th_t *t, uv_loop_t *loop)
{
    resume_with_queue(t, loop, FMQ_V5, 1);
    resume_with_queue(t, loop, FMQ_V5, 2);
}

/* The same client object reconnects by its policy after a drop and finds
 * its session; with clean start it would not. */
static void reconnect_resumes(th_t *t, uv_loop_t *loop)
{
    th_probe_t sp = {0}, pp = {0};
    fcl_opts_t so = th_opts(&sp, t->broker.port, "s-reconn");
    so.clean_start = false;
    so.session_expiry = 60;
    so.reconnect.kind = FCL_RECONNECT_FIXED;
    so.reconnect.delay_ms = 300;
    fcl_client_t *s = fcl_client_new(loop, &so);
    fcl_client_start(s);
    CHECK(t, th_wait_int(loop, &sp.connects, 1, 3000));
    CHECK(t, th_subscribe(loop, s, &sp, "rr", 1));
    fcl_opts_t po = th_opts(&pp, t->broker.port, "s-reconn-pub");
    fcl_client_t *p = fcl_client_new(loop, &po);
    fcl_client_start(p);
    CHECK(t, th_wait_int(loop, &pp.connects, 1, 3000));

    fcl_client_drop(s, false); /* reconnects in 300 ms */
    CHECK_EQ(t, sp.disconnects, 1);
    CHECK(t, sp.disc[0].will_reconnect);
    CHECK_EQ(t, sp.disc[0].delay_ms, 300);
    CHECK_EQ(t, fcl_client_state(s), FCL_WAITING);
    for (int i = 0; i < 5; i++)
        fcl_publish(p, FMQ_BYTES("rr"), FMQ_BYTES("x"), 1, false, NULL, 0);
    CHECK(t, th_wait_int(loop, &sp.connects, 2, 3000));
    CHECK(t, sp.session_present);
    CHECK(t, th_wait_int(loop, &sp.messages, 5, 3000));
    fcl_client_stop(s, 0);
    fcl_client_stop(p, 0);
    fcl_client_free(s);
    fcl_client_free(p);
}

/* Our own QoS 1 messages published while disconnected wait in the client's
 * queue and go out after the reconnect. */
static void queued_while_away(th_t *t, uv_loop_t *loop)
{
    th_probe_t sp = {0}, pp = {0};
    fcl_opts_t so = th_opts(&sp, t->broker.port, "s-away-sub");
    fcl_client_t *s = fcl_client_new(loop, &so);
    fcl_client_start(s);
    CHECK(t, th_wait_int(loop, &sp.connects, 1, 3000));
    CHECK(t, th_subscribe(loop, s, &sp, "away", 1));
    fcl_opts_t po = th_opts(&pp, t->broker.port, "s-away-pub");
    po.clean_start = false;
    po.session_expiry = 60;
    po.reconnect.kind = FCL_RECONNECT_FIXED;
    po.reconnect.delay_ms = 200;
    fcl_client_t *p = fcl_client_new(loop, &po);
    fcl_client_start(p);
    CHECK(t, th_wait_int(loop, &pp.connects, 1, 3000));
    fcl_client_drop(p, false);
    for (int i = 0; i < 10; i++) {
        char num[8];
        int n = snprintf(num, sizeof num, "%d", i);
        CHECK_EQ(t,
                 fcl_publish(p, FMQ_BYTES("away"), (fmq_bytes_t){(const uint8_t *)num, (uint32_t)n},
                             1, false, NULL, 0),
                 0);
    }
    CHECK_EQ(t, fcl_client_queued(p), 10);
    CHECK(t, fcl_publish(p, FMQ_BYTES("away"), FMQ_BYTES("q0"), 0, false, NULL, 0) < 0);
    CHECK(t, th_wait_int(loop, &sp.messages, 10, 3000));
    CHECK_EQ(t, sp.in_order, 10);
    CHECK(t, th_wait_int(loop, &pp.published, 10, 3000));
    fcl_client_stop(s, 0);
    fcl_client_stop(p, 0);
    fcl_client_free(s);
    fcl_client_free(p);
}

static void takeover(th_t *t, uv_loop_t *loop)
{
    th_probe_t a = {0}, b = {0};
    fcl_opts_t ao = th_opts(&a, t->broker.port, "s-same-id");
    ao.reconnect.kind = FCL_RECONNECT_EXPONENTIAL; /* a takeover is final all the same */
    fcl_client_t *c1 = fcl_client_new(loop, &ao);
    fcl_client_start(c1);
    CHECK(t, th_wait_int(loop, &a.connects, 1, 3000));
    fcl_opts_t bo = th_opts(&b, t->broker.port, "s-same-id");
    fcl_client_t *c2 = fcl_client_new(loop, &bo);
    fcl_client_start(c2);
    CHECK(t, th_wait_int(loop, &b.connects, 1, 3000));
    CHECK(t, th_wait_int(loop, &a.disconnects, 1, 3000));
    CHECK(t, a.disc[0].by_server);
    CHECK(t, a.disc[0].was_connected);
    CHECK_EQ(t, a.disc[0].reason, FMQ_RC_SESSION_TAKEN_OVER);
    CHECK(t, !a.disc[0].will_reconnect);
    CHECK_EQ(t, fcl_client_state(c1), FCL_CLOSED);
    th_run_for(loop, 300);
    CHECK_EQ(t, b.disconnects, 0);
    CHECK_EQ(t, fcl_client_state(c2), FCL_CONNECTED);
    fcl_client_stop(c2, 0);
    fcl_client_free(c1);
    fcl_client_free(c2);

    /* With reconnect_after_takeover the first client comes back (and
     * evicts the second in turn). */
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    ao = th_opts(&a, t->broker.port, "s-same-id2");
    ao.reconnect.kind = FCL_RECONNECT_FIXED;
    ao.reconnect.delay_ms = 100;
    ao.reconnect.reconnect_after_takeover = true;
    c1 = fcl_client_new(loop, &ao);
    fcl_client_start(c1);
    CHECK(t, th_wait_int(loop, &a.connects, 1, 3000));
    bo = th_opts(&b, t->broker.port, "s-same-id2");
    c2 = fcl_client_new(loop, &bo);
    fcl_client_start(c2);
    CHECK(t, th_wait_int(loop, &a.connects, 2, 3000));
    CHECK_EQ(t, a.disc[0].reason, FMQ_RC_SESSION_TAKEN_OVER);
    CHECK(t, a.disc[0].will_reconnect);
    CHECK(t, th_wait_int(loop, &b.disconnects, 1, 3000));
    CHECK_EQ(t, b.disc[0].reason, FMQ_RC_SESSION_TAKEN_OVER);
    fcl_client_stop(c1, 0);
    fcl_client_free(c1);
    fcl_client_free(c2);
}

int main(int argc, char **argv)
{
    static const th_case_t cases[] = {
        {"resume_v311", resume_v311},
        {"resume_v5", resume_v5},
        {"reconnect_resumes", reconnect_resumes},
        {"queued_while_away", queued_while_away},
        {"takeover", takeover},
    };
    return th_main(argc, argv, NULL, cases, sizeof cases / sizeof cases[0]);
}
