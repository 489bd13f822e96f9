/* libferryclient against the real ferrymq: QoS 0/1/2 round trips at MQTT
 * 3.1.1 and 5.0 (a publisher and a subscriber client, ordered payloads),
 * every combination of publish and subscription QoS (the delivered QoS is
 * the lower one), and a 200 KB payload that spans many reads.
 * Usage: test_client_qos PATH-TO-FERRYMQ */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define N_MSGS 200

static void round_trip(th_t *t, uv_loop_t *loop, uint8_t version, uint8_t pub_qos, uint8_t sub_qos)
{
    th_probe_t sp = {0}, pp = {0};
    char sid[32], pid[32], topic[32];
    snprintf(sid, sizeof sid, "q-sub-%u%u%u", version, pub_qos, sub_qos);
    snprintf(pid, sizeof pid, "q-pub-%u%u%u", version, pub_qos, sub_qos);
    snprintf(topic, sizeof topic, "qos/%u/%u/%u", version, pub_qos, sub_qos);
    fcl_opts_t so = th_opts(&sp, t->broker.port, sid);
    fcl_opts_t po = th_opts(&pp, t->broker.port, pid);
    so.version = po.version = version;
    fcl_client_t *s = fcl_client_new(loop, &so), *p = fcl_client_new(loop, &po);
    fcl_client_start(s);
    fcl_client_start(p);
    CHECK(t, th_wait_int(loop, &sp.connects, 1, 3000));
    CHECK(t, th_wait_int(loop, &pp.connects, 1, 3000));
    CHECK(t, th_subscribe(loop, s, &sp, topic, sub_qos));
    for (int i = 0; i < N_MSGS; i++) {
        char num[16];
        int n = snprintf(num, sizeof num, "%d", i);
        CHECK_EQ(t,
                 fcl_publish(p, fmq_cstr(topic), (fmq_bytes_t){(const uint8_t *)num, (uint32_t)n},
                             pub_qos, false, NULL, (uint64_t)i),
                 0);
    }
    CHECK(t, th_wait_int(loop, &sp.messages, N_MSGS, 5000));
    CHECK(t, th_wait_int(loop, &pp.published, N_MSGS, 5000));
    th_run_for(loop, 100); /* nothing more may come */
    CHECK_EQ(t, sp.messages, N_MSGS);
    CHECK_EQ(t, sp.in_order, N_MSGS);
    CHECK_EQ(t, sp.last_qos, pub_qos < sub_qos ? pub_qos : sub_qos);
    CHECK_STR(t, sp.last_topic, topic);
    CHECK_EQ(t, pp.pub_reason, 0);
    CHECK_EQ(t, fcl_client_inflight(p), 0);
    fcl_client_stop(s, 0);
    fcl_client_stop(p, 0);
    fcl_client_free(s);
    fcl_client_free(p);
}

static void qos_v311(th_t *t, uv_loop_t *loop)
{
    for (uint8_t q = 0; q <= 2; q++)
        round_trip(t, loop, FMQ_V311, q, q);
}

static void qos_v5(th_t *t, uv_loop_t *loop)
{
    for (uint8_t q = 0; q <= 2; q++)
        round_trip(t, loop, FMQ_V5, q, q);
}

static void qos_downgrade(th_t *t, uv_loop_t *loop)
{
    for (uint8_t pq = 0; pq <= 2; pq++)
        for (uint8_t sq = 0; sq <= 2; sq++)
            if (pq != sq)
                round_trip(t, loop, FMQ_V5, pq, sq);
}

/* A client that publishes to itself with a 200 KB payload at each QoS. */
static void big_payload(th_t *t, uv_loop_t *loop)
{
    enum { BIG = 200 * 1024 };
    uint8_t *buf = malloc(BIG);
    uint32_t sum = 0;
    for (int i = 0; i < BIG; i++) {
        buf[i] = (uint8_t)(i * 7 + 3);
        sum += buf[i];
    }
    th_probe_t p = {0};
    fcl_opts_t o = th_opts(&p, t->broker.port, "q-big");
    fcl_client_t *c = fcl_client_new(loop, &o);
    fcl_client_start(c);
    CHECK(t, th_wait_int(loop, &p.connects, 1, 3000));
    CHECK(t, th_subscribe(loop, c, &p, "big", 2));
    for (uint8_t q = 0; q <= 2; q++)
        fcl_publish(c, FMQ_BYTES("big"), (fmq_bytes_t){buf, BIG}, q, false, NULL, q);
    CHECK(t, th_wait_int(loop, &p.messages, 3, 5000));
    CHECK_EQ(t, p.last_len, BIG);
    CHECK_EQ(t, p.payload_sum, sum * 3);
    th_run_for(loop, 50); /* the last acknowledgements leave before the loop blocks */
    CHECK_EQ(t, fcl_client_pending_bytes(c), 0);
    fcl_client_stop(c, 0);
    fcl_client_free(c);
    free(buf);
}

int main(int argc, char **argv)
{
    static const th_case_t cases[] = {
        {"qos_v311", qos_v311},
        {"qos_v5", qos_v5},
        {"qos_downgrade", qos_downgrade},
        {"big_payload", big_payload},
    };
    return th_main(argc, argv, NULL, cases, sizeof cases / sizeof cases[0]);
}
