/* ferrybench conn, worker side: opens this worker's share of N connections
 * at its share of the target rate (or as fast as `concurrency` outstanding
 * attempts allow), times each from the start of the TCP connect to CONNACK,
 * reports "A" when every one has connected or failed, then holds them (keep
 * alive running) until the parent says finish. No reconnects: a failed or
 * refused attempt is counted, not retried, so the figures describe the
 * broker. */
#include "bench/bench.h"

#include <stdlib.h>
#include <string.h>

#define TICK_MS 5

typedef struct conn_state conn_state_t;

typedef struct conn_one {
    fcl_client_t *c;
    conn_state_t *s;
    uint64_t started_ns;
    uint8_t state; /* 0 not started, 1 connecting, 2 connected, 3 failed or dropped */
} conn_one_t;

struct conn_state {
    bn_worker_t *w;
    conn_one_t *one;
    uint32_t n, started, connecting, connected, failed, refused, dropped;
    bool all_sent;
    bool closing; /* finish: callbacks of our own stops are not events */
    uv_timer_t tick;
    bn_hist_t lat;         /* ns, TCP connect start to CONNACK */
    int first_error;       /* libuv error of the first failed attempt */
    uint8_t first_refusal; /* CONNACK code of the first refusal */
};

static void start_some(conn_state_t *s, uint32_t k);

static void settle(conn_state_t *s)
{
    if (s->all_sent || s->connected + s->failed + s->dropped < s->n || !s->w->going)
        return;
    s->all_sent = true;
    uv_timer_stop(&s->tick);
    bn_worker_line(s->w, "A ms=%llu", (unsigned long long)bn_worker_ms(s->w));
}

static void on_connect(fcl_client_t *c, uint8_t reason, bool sp, void *ud)
{
    (void)c;
    (void)sp;
    conn_one_t *one = ud;
    conn_state_t *s = one->s;
    if (one->state != 1 || s->closing)
        return;
    if (reason != 0) { /* refused: on_disconnect follows and counts it */
        s->refused++;
        if (!s->first_refusal)
            s->first_refusal = reason;
        return;
    }
    one->state = 2;
    bn_hist_record(&s->lat, bn_now_ns() - one->started_ns);
    s->connecting--;
    s->connected++;
    if (s->w->o->rate <= 0)
        start_some(s, 1); /* keep `concurrency` attempts outstanding */
    settle(s);
}

static void on_disconnect(fcl_client_t *c, const fcl_disconnect_info_t *info, void *ud)
{
    (void)c;
    conn_one_t *one = ud;
    conn_state_t *s = one->s;
    if (s->closing)
        return;
    if (one->state == 2) { /* lost while held */
        one->state = 3;
        s->connected--;
        s->dropped++;
        return;
    }
    if (one->state != 1)
        return;
    one->state = 3;
    s->connecting--;
    s->failed++;
    if (!s->first_error && info->sys_error)
        s->first_error = info->sys_error;
    if (s->w->o->rate <= 0)
        start_some(s, 1);
    settle(s);
}

static void start_one(conn_state_t *s)
{
    uint32_t i = s->started++;
    conn_one_t *one = &s->one[i];
    char src[32], id[96];
    uint32_t global = bn_worker_global(s->w, i);
    fcl_opts_t o = bn_client_opts(s->w, global, src, sizeof src, id, sizeof id, "c");
    o.clean_start = true;
    o.cb.on_connect = on_connect;
    o.cb.on_disconnect = on_disconnect;
    o.ud = one;
    one->s = s;
    one->state = 1;
    s->connecting++;
    one->started_ns = bn_now_ns();
    one->c = fcl_client_new(&s->w->loop, &o);
    if (!one->c) {
        one->state = 3;
        s->connecting--;
        s->failed++;
        return;
    }
    fcl_client_start(one->c); /* a synchronous failure comes back via on_disconnect */
}

static void start_some(conn_state_t *s, uint32_t k)
{
    uint32_t cap = s->w->o->concurrency;
    while (k-- && s->started < s->n && s->connecting < cap)
        start_one(s);
    settle(s);
}

static void on_tick(uv_timer_t *t)
{
    conn_state_t *s = t->data;
    const bn_opts_t *o = s->w->o;
    uint32_t due;
    if (o->rate > 0) {
        double per_worker = o->rate / s->w->count;
        double want = per_worker * (double)(bn_now_ns() - s->w->go_ns) / 1e9;
        due = want > s->started ? (uint32_t)(want - s->started) : 0;
    } else {
        due = o->concurrency;
    }
    start_some(s, due);
}

static int conn_setup(bn_worker_t *w)
{
    conn_state_t *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    w->mode = s;
    s->w = w;
    uv_timer_init(&w->loop, &s->tick);
    s->tick.data = s;
    bn_hist_init(&s->lat);
    s->n = bn_worker_share(w, w->o->n);
    s->one = calloc(s->n ? s->n : 1, sizeof *s->one);
    if (!s->one)
        return -1;
    bn_worker_ready(w, NULL); /* connecting is what we measure: after "go" */
    return 0;
}

static void conn_go(bn_worker_t *w)
{
    conn_state_t *s = w->mode;
    uv_timer_start(&s->tick, on_tick, 0, TICK_MS);
    settle(s); /* a worker with no share is done at once */
}

static void conn_stop(bn_worker_t *w)
{
    conn_state_t *s = w->mode;
    uv_timer_stop(&s->tick);
}

static void conn_stats(bn_worker_t *w, bn_out_t *out)
{
    conn_state_t *s = w->mode;
    bn_out_printf(out, " connected=%u connecting=%u failed=%u refused=%u dropped=%u started=%u",
                  s->connected, s->connecting, s->failed, s->refused, s->dropped, s->started);
}

static void free_state(uv_handle_t *h)
{
    free(h->data);
}

static void conn_finish(bn_worker_t *w, bn_out_t *out)
{
    conn_state_t *s = w->mode;
    if (!s)
        return;
    s->closing = true;
    if (s->one) {
        bn_out_printf(out, "F connected=%u failed=%u refused=%u dropped=%u not_started=%u",
                      s->connected, s->failed, s->refused, s->dropped, s->n - s->started);
        if (s->first_error)
            bn_out_printf(out, " first_error=%s", uv_err_name(s->first_error));
        if (s->first_refusal)
            bn_out_printf(out, " first_refusal=0x%02x", s->first_refusal);
        bn_out_printf(out, "\n");
        bn_out_hist(out, "connect", &s->lat);
        for (uint32_t i = 0; i < s->started; i++) {
            if (s->one[i].c) {
                fcl_client_stop(s->one[i].c, 0);
                fcl_client_free(s->one[i].c);
            }
        }
        free(s->one);
        s->one = NULL;
    }
    w->mode = NULL;
    uv_close((uv_handle_t *)&s->tick, free_state); /* `s` goes with its timer */
}

const bn_mode_ops_t bn_conn_ops = {conn_setup, conn_go, conn_stop, conn_stats, conn_finish};
