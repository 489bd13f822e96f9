/*
 * The broker's two clocks, driven by hand through an in-memory transport (no
 * sockets): connection timers follow the monotonic clock, so a wall clock
 * stepped backwards or forwards neither drops a live client nor expires an
 * offline session early; the monotonic clock still enforces keep alive.
 */
#include "broker/broker.h"
#include "broker/conn.h"
#include "broker/log.h"

#include "check.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    fb_conn_t *conn;
    bool closed;
    uint8_t last[64];
    size_t last_len;
} mem_t;

static int mem_send(void *t, const uint8_t *d, size_t n)
{
    mem_t *m = t;
    m->last_len = n < sizeof m->last ? n : sizeof m->last;
    memcpy(m->last, d, m->last_len);
    return 0;
}

static size_t mem_backlog(void *t)
{
    (void)t;
    return 0;
}

static void mem_close(void *t)
{
    ((mem_t *)t)->closed = true;
}

static const fb_transport_ops_t ops = {mem_send, mem_backlog, mem_close, NULL};

/* MQTT 5 CONNECT, client id "k", keep alive 10 s, Session Expiry 60 s. */
static const uint8_t connect_v5[] = {0x10, 0x13, 0x00, 0x04, 'M',  'Q',  'T',  'T',
                                     0x05, 0x00, 0x00, 0x0A, 0x05, 0x11, 0x00, 0x00,
                                     0x00, 0x3C, 0x00, 0x01, 'k'};

static void settle(fb_broker_t *b, mem_t *m)
{
    fb_broker_flush(b);
    if (m->conn && m->closed) {
        fb_conn_closed(m->conn);
        m->conn = NULL;
    }
}

int main(void)
{
    fb_log_set_level(FB_LOG_ERROR);
    fb_config_t cfg;
    fb_config_defaults(&cfg);
    fb_broker_t *b = fb_broker_new(&cfg);
    uint64_t wall = 1700000000000ull, mono = 5000;
    fb_broker_set_clock(b, wall, mono);
    mem_t m = {0};
    m.conn = fb_conn_new(b, &ops, &m);
    fb_conn_input(m.conn, connect_v5, sizeof connect_v5);
    settle(b, &m);
    CHECK(m.last_len >= 4 && m.last[0] == 0x20 && m.last[3] == 0x00); /* CONNACK success */
    fb_session_t *s = fb_map_get(b->sessions, "k", 1);
    CHECK(s != NULL && s->conn == m.conn);

    /* The wall clock steps back an hour, then forward a day: the client
     * stays (monotonic time moved 1 s). */
    fb_broker_tick(b, wall - 3600000ull, mono + 1000);
    settle(b, &m);
    CHECK(m.conn && !m.closed);
    fb_broker_tick(b, wall + 86400000ull, mono + 2000);
    settle(b, &m);
    CHECK(m.conn && !m.closed);

    /* 15 s of monotonic silence > 1.5 x 10 s keep alive: closed, v5
     * DISCONNECT 0x8D first. */
    fb_broker_tick(b, wall, mono + 16000);
    settle(b, &m);
    CHECK(m.last_len >= 3 && m.last[0] == 0xE0 && m.last[2] == 0x8D);
    CHECK(m.conn == NULL);
    s = fb_map_get(b->sessions, "k", 1);
    CHECK(s != NULL && s->conn == NULL); /* offline, expiry 60 s */

    /* Wall clock steps back before the session went offline: not expired. */
    fb_broker_tick(b, wall - 7200000ull, mono + 17000);
    CHECK(fb_map_get(b->sessions, "k", 1) != NULL);
    /* 59 s after going offline: still there; 61 s: gone. */
    fb_broker_tick(b, s->offline_since_ms + 59000, mono + 18000);
    CHECK(fb_map_get(b->sessions, "k", 1) != NULL);
    fb_broker_tick(b, s->offline_since_ms + 61000, mono + 19000);
    CHECK(fb_map_get(b->sessions, "k", 1) == NULL);

    fb_broker_free(b);
    fb_config_free(&cfg);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
