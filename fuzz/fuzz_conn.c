/*
 * The broker's read path with no sockets: a real fb_broker_t, up to four
 * connections on an in-memory transport, and the input split into chunks
 * that go to one connection each, with clock ticks between them. Any crash,
 * sanitizer report or leak (the broker is freed at the end) is a finding.
 *
 * Input: byte 0 picks protocol-independent knobs; then records of
 *   [conn index (low 2 bits) | tick flag (bit 2) | close flag (bit 3)]
 *   [length byte] [that many bytes].
 */
#include "broker/broker.h"
#include "broker/conn.h"
#include "broker/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NCONN 4

typedef struct {
    fb_conn_t *conn;
    bool close_requested;
    size_t sent;
} mem_transport_t;

static int mem_send(void *t, const uint8_t *d, size_t n)
{
    (void)d;
    ((mem_transport_t *)t)->sent += n;
    return 0;
}

static size_t mem_backlog(void *t)
{
    (void)t;
    return 0;
}

static void mem_close(void *t)
{
    ((mem_transport_t *)t)->close_requested = true;
}

static void mem_peer(void *t, char *buf, size_t len)
{
    (void)t;
    snprintf(buf, len, "fuzz");
}

static const fb_transport_ops_t mem_ops = {mem_send, mem_backlog, mem_close, mem_peer};

/* What a transport does after the loop iteration: flush, then report the
 * sockets that closed (never from inside fb_conn_input). */
static void settle(fb_broker_t *b, mem_transport_t *t)
{
    fb_broker_flush(b);
    for (int i = 0; i < NCONN; i++) {
        if (t[i].conn && t[i].close_requested) {
            fb_conn_closed(t[i].conn);
            t[i].conn = NULL;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fb_log_set_level(FB_LOG_ERROR);
    fb_config_t cfg;
    fb_config_defaults(&cfg);
    cfg.max_packet_size = 4096;
    cfg.max_queued = 8;
    cfg.max_inflight = 4;
    cfg.max_topic_alias = 4;
    cfg.max_connections = 3;
    cfg.v3_session_expiry = (data[0] & 1) ? 0 : 60;
    cfg.max_qos = data[0] >> 1 & 3;
    if (cfg.max_qos > 2)
        cfg.max_qos = 2;
    fb_broker_t *b = fb_broker_new(&cfg);
    if (!b) {
        fb_config_free(&cfg);
        return 0;
    }
    uint64_t now = 1700000000000ull;
    fb_broker_set_clock(b, now, 1000);
    mem_transport_t t[NCONN] = {0};
    size_t pos = 1;
    while (pos + 2 <= size) {
        uint8_t ctl = data[pos], len = data[pos + 1];
        pos += 2;
        if (len > size - pos)
            len = (uint8_t)(size - pos);
        int i = ctl & 3;
        if (!t[i].conn) {
            t[i].close_requested = false;
            t[i].conn = fb_conn_new(b, &mem_ops, &t[i]);
        }
        if (t[i].conn && len)
            fb_conn_input(t[i].conn, data + pos, len);
        pos += len;
        if (ctl & 4) {
            uint64_t step = 1000u * (1u + (ctl >> 4));
            now += step;
            fb_broker_tick(b, now, b->mono_ms + step);
        }
        if ((ctl & 8) && t[i].conn)
            t[i].close_requested = true; /* the peer went away */
        settle(b, t);
    }
    for (int i = 0; i < NCONN; i++)
        if (t[i].conn)
            t[i].close_requested = true;
    settle(b, t);
    fb_broker_tick(b, now + 86400000ull * 365, b->mono_ms + 86400000ull * 365); /* expire all */
    fb_broker_free(b);
    fb_config_free(&cfg);
    return 0;
}
