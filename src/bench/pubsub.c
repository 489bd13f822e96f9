/* ferrybench pubsub, worker side: this worker's share of P publishers and S
 * subscribers. Topics: with the "pairs" pattern publisher i publishes to
 * <prefix>/p/<i> and subscriber i subscribes to it (1:1); with "all" every
 * publisher publishes to <prefix>/all, which every subscriber subscribes to
 * (fan-in with S = 1, fan-out with P = 1). Publishers send at a fixed rate,
 * or as fast as flow control allows (window_full). Subscribers check every
 * payload (seq.h) and time it end to end. */
#include "bench/bench.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TICK_MS 1
#define MAX_PER_TICK 1000 /* per publisher: bounds one tick's work */
#define SETUP_TICK_MS 10

typedef struct ps_state ps_state_t;

typedef struct ps_pub {
    fcl_client_t *c;
    ps_state_t *s;
    uint32_t idx; /* global */
    uint32_t seq; /* messages published = next sequence number */
    bool connected, done;
} ps_pub_t;

typedef struct ps_sub {
    fcl_client_t *c;
    ps_state_t *s;
    uint32_t idx;
    bn_seq_t *seq; /* one per publisher it hears: 1 (pairs) or P (all) */
    bool subscribed, counted;
} ps_sub_t;

struct ps_state {
    bn_worker_t *w;
    ps_pub_t *pub;
    ps_sub_t *sub;
    uint32_t n_pub, n_sub, started, n_ready, pubs_done;
    uv_timer_t tick;
    bn_hist_t lat; /* ns, publish call to delivery */
    uint8_t *payload;
    uint32_t *floor; /* "all": per local publisher, the fewest messages any of our
                        subscribers has received from it (recomputed by the tick) */
    uint32_t ticks;
    uint64_t sent, acked, nacked, refused;
    uint64_t rx, rx_dup, rx_reorder, rx_gap, rx_window, rx_foreign;
    uint32_t disconnects;
    uint64_t lat_max_ns; /* largest end-to-end latency since the last T line */
    bool closing, setup_done;
};

static void topic_of(const ps_state_t *s, uint32_t pub, char *buf, size_t len)
{
    if (s->w->o->pattern == BN_PAIRS)
        snprintf(buf, len, "fb/%s/p/%u", s->w->o->id_prefix, pub);
    else
        snprintf(buf, len, "fb/%s/all", s->w->o->id_prefix);
}

static void check_ready(ps_state_t *s)
{
    if (s->n_ready == s->n_pub + s->n_sub)
        bn_worker_ready(s->w, NULL);
}

/* ---- publishers ---- */

static bool publish_one(ps_pub_t *p)
{
    ps_state_t *s = p->s;
    const bn_opts_t *o = s->w->o;
    if (o->count && p->seq >= o->count) {
        if (!p->done) {
            p->done = true;
            if (++s->pubs_done == s->n_pub)
                bn_worker_line(s->w, "X");
        }
        return false;
    }
    bn_payload_t h = {o->run_id, p->idx, p->seq, bn_now_ns()};
    bn_payload_write(s->payload, o->payload, &h);
    char topic[96];
    topic_of(s, p->idx, topic, sizeof topic);
    if (fcl_publish(p->c, fmq_cstr(topic), (fmq_bytes_t){s->payload, o->payload}, o->qos, false,
                    NULL, 0) != 0) {
        s->refused++;
        return false;
    }
    p->seq++;
    s->sent++;
    return true;
}

/* Full speed stops at the first window that is full: QoS 1/2 the broker's
 * Receive Maximum, QoS 0 the unsent bytes (asked of the kernel once per
 * top-up, then counted down: a system call per message would make
 * ferrybench the bottleneck), and for every QoS the messages not yet
 * received end to end (by our subscriber in "pairs", by the slowest of this
 * worker's subscribers in "all"), so that no broker is fed faster than it
 * delivers, no subscriber falls far enough behind to hit a queue limit, and
 * a backlog never passes for loss. */
static bool e2e_full(const ps_pub_t *p)
{
    const ps_state_t *s = p->s;
    const bn_opts_t *o = s->w->o;
    if (!o->window_msgs || !s->n_sub)
        return false;
    uint64_t got = o->pattern == BN_PAIRS ? s->sub[p - s->pub].seq[0].unique : s->floor[p - s->pub];
    return p->seq >= got + o->window_msgs;
}

static void top_up(ps_pub_t *p)
{
    const bn_opts_t *o = p->s->w->o;
    size_t budget = SIZE_MAX, cost = o->payload + 64; /* payload, topic, header */
    if (o->qos == 0) {
        size_t unsent = fcl_client_unsent_bytes(p->c);
        if (unsent >= o->window_bytes)
            return;
        budget = o->window_bytes - unsent;
    }
    for (int k = 0; k < MAX_PER_TICK && budget >= cost && !e2e_full(p); k++) {
        if (o->qos > 0 && fcl_client_queued(p->c) > 0)
            return;
        if (!publish_one(p))
            return;
        if (o->qos == 0)
            budget -= cost;
    }
}

/* The slowest local subscriber per local publisher, at most ~20k steps a
 * tick (a large all-to-all recomputes less often). */
static void update_floors(ps_state_t *s)
{
    uint32_t every = 1 + s->n_pub * s->n_sub / 20000;
    if (s->ticks++ % every)
        return;
    for (uint32_t i = 0; i < s->n_pub; i++) {
        uint32_t j = s->pub[i].idx, low = UINT32_MAX;
        for (uint32_t k = 0; k < s->n_sub; k++)
            if (s->sub[k].seq[j].unique < low)
                low = s->sub[k].seq[j].unique;
        s->floor[i] = low;
    }
}

static void on_tick(uv_timer_t *t)
{
    ps_state_t *s = t->data;
    const bn_opts_t *o = s->w->o;
    double elapsed = (double)(bn_now_ns() - s->w->go_ns) / 1e9;
    if (s->floor && o->window_msgs && s->n_sub)
        update_floors(s);
    for (uint32_t i = 0; i < s->n_pub; i++) {
        ps_pub_t *p = &s->pub[i];
        if (!p->connected || p->done)
            continue;
        if (o->rate > 0) {
            /* Message m is due at (m + 1 - i/P) / rate: publisher i is offset
             * by i/P of an interval, so they do not fire in lockstep. */
            double want = o->rate * elapsed + (double)p->idx / o->pubs;
            for (int k = 0; k < MAX_PER_TICK && p->seq + 1 <= want; k++)
                if (!publish_one(p))
                    break;
        } else {
            top_up(p);
        }
    }
}

static void pub_connect(fcl_client_t *c, uint8_t reason, bool sp, void *ud)
{
    (void)c;
    (void)sp;
    ps_pub_t *p = ud;
    if (reason != 0 || p->s->closing)
        return;
    if (!p->connected) {
        p->connected = true;
        p->s->n_ready++;
        check_ready(p->s);
    }
}

static void pub_published(fcl_client_t *c, uint64_t token, uint8_t reason, void *ud)
{
    (void)c;
    (void)token;
    ps_pub_t *p = ud;
    ps_state_t *s = p->s;
    if (reason >= 0x80)
        s->nacked++;
    else
        s->acked++;
    if (s->w->o->qos > 0 && s->w->o->rate <= 0 && s->w->going && !s->w->stopped && !s->closing)
        top_up(p); /* refill the window at once rather than at the next tick */
}

/* ---- subscribers ---- */

static void sub_subscribe(ps_sub_t *b)
{
    char topic[96];
    topic_of(b->s, b->idx, topic, sizeof topic);
    fmq_sub_entry_t e = {.filter = fmq_cstr(topic), .qos = b->s->w->o->qos};
    fcl_subscribe(b->c, &e, 1, 0);
}

static void sub_connect(fcl_client_t *c, uint8_t reason, bool sp, void *ud)
{
    (void)c;
    ps_sub_t *b = ud;
    if (reason != 0 || b->s->closing)
        return;
    if (!sp)
        sub_subscribe(b); /* again after a reconnect: a clean session has none */
}

static void sub_subscribed(fcl_client_t *c, uint16_t id, const uint8_t *codes, size_t n, void *ud)
{
    (void)c;
    (void)id;
    ps_sub_t *b = ud;
    if (n < 1 || codes[0] >= 0x80 || b->counted)
        return;
    b->subscribed = b->counted = true;
    b->s->n_ready++;
    check_ready(b->s);
}

static void sub_message(fcl_client_t *c, const fcl_message_t *m, void *ud)
{
    (void)c;
    ps_sub_t *b = ud;
    ps_state_t *s = b->s;
    const bn_opts_t *o = s->w->o;
    bn_payload_t h;
    if (s->closing)
        return;
    if (!bn_payload_read(m->payload.ptr, m->payload.len, &h) || h.run != o->run_id ||
        h.pub >= o->pubs || (o->pattern == BN_PAIRS && h.pub != b->idx)) {
        s->rx_foreign++;
        return;
    }
    bn_seq_t *st = o->pattern == BN_PAIRS ? &b->seq[0] : &b->seq[h.pub];
    bn_seq_kind_t kind = bn_seq_see(st, h.seq);
    if (kind == BN_SEQ_DUP) {
        s->rx_dup++;
        return;
    }
    s->rx++;
    s->rx_reorder += kind == BN_SEQ_LATE;
    s->rx_gap += kind == BN_SEQ_GAP;
    if (!s->w->stopped)
        s->rx_window++;
    uint64_t now = bn_now_ns(), lat = now > h.sent_ns ? now - h.sent_ns : 0;
    bn_hist_record(&s->lat, lat);
    if (lat > s->lat_max_ns)
        s->lat_max_ns = lat;
}

static void pub_disconnect(fcl_client_t *c, const fcl_disconnect_info_t *info, void *ud)
{
    (void)c;
    ps_pub_t *p = ud;
    if (info->was_connected && !p->s->closing)
        p->s->disconnects++;
}

static void sub_disconnect(fcl_client_t *c, const fcl_disconnect_info_t *info, void *ud)
{
    (void)c;
    ps_sub_t *b = ud;
    if (info->was_connected && !b->s->closing)
        b->s->disconnects++;
}

/* ---- lifecycle ---- */

static void start_next(ps_state_t *s)
{
    uint32_t i = s->started++;
    char src[32], id[96];
    fcl_opts_t o;
    fcl_client_t **slot;
    if (i < s->n_sub) {
        ps_sub_t *b = &s->sub[i];
        o = bn_client_opts(s->w, b->idx, src, sizeof src, id, sizeof id, "s");
        o.cb.on_connect = sub_connect;
        o.cb.on_subscribed = sub_subscribed;
        o.cb.on_message = sub_message;
        o.cb.on_disconnect = sub_disconnect;
        o.ud = b;
        slot = &b->c;
    } else {
        ps_pub_t *p = &s->pub[i - s->n_sub];
        o = bn_client_opts(s->w, p->idx, src, sizeof src, id, sizeof id, "p");
        o.cb.on_connect = pub_connect;
        o.cb.on_published = pub_published;
        o.cb.on_disconnect = pub_disconnect;
        o.ud = p;
        slot = &p->c;
    }
    o.clean_start = true;
    o.reconnect =
        (fcl_reconnect_policy_t){.kind = FCL_RECONNECT_FIXED, .delay_ms = 500, .jitter_pct = 20};
    o.max_queued = 100000;
    *slot = fcl_client_new(&s->w->loop, &o);
    if (*slot)
        fcl_client_start(*slot);
}

/* Connects the clients at their share of --connect-rate: subscribers first. */
static void on_setup_tick(uv_timer_t *t)
{
    ps_state_t *s = t->data;
    uint32_t total = s->n_sub + s->n_pub;
    double per_worker = s->w->o->connect_rate / s->w->count;
    uint32_t due = (uint32_t)(per_worker * SETUP_TICK_MS / 1000.0) + 1;
    while (due-- && s->started < total)
        start_next(s);
    if (s->started == total) {
        uv_timer_stop(t);
        s->setup_done = true;
    }
}

static int ps_setup(bn_worker_t *w)
{
    ps_state_t *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    const bn_opts_t *o = w->o;
    w->mode = s;
    s->w = w;
    uv_timer_init(&w->loop, &s->tick);
    s->tick.data = s;
    bn_hist_init(&s->lat);
    s->n_pub = bn_worker_share(w, o->pubs);
    s->n_sub = bn_worker_share(w, o->subs);
    s->pub = calloc(s->n_pub + 1, sizeof *s->pub);
    s->sub = calloc(s->n_sub + 1, sizeof *s->sub);
    s->payload = malloc(o->payload);
    if (!s->pub || !s->sub || !s->payload)
        return -1;
    uint32_t per_sub = o->pattern == BN_PAIRS ? 1 : o->pubs;
    if (o->pattern == BN_ALL && !(s->floor = calloc(s->n_pub + 1, sizeof *s->floor)))
        return -1;
    for (uint32_t i = 0; i < s->n_sub; i++) {
        s->sub[i] = (ps_sub_t){.s = s, .idx = bn_worker_global(w, i)};
        s->sub[i].seq = calloc(per_sub, sizeof(bn_seq_t));
        if (!s->sub[i].seq)
            return -1;
    }
    for (uint32_t i = 0; i < s->n_pub; i++)
        s->pub[i] = (ps_pub_t){.s = s, .idx = bn_worker_global(w, i)};
    check_ready(s); /* a worker with no share */
    uv_timer_start(&s->tick, on_setup_tick, 0, SETUP_TICK_MS);
    return 0;
}

static void ps_go(bn_worker_t *w)
{
    ps_state_t *s = w->mode;
    uv_timer_stop(&s->tick);
    uv_timer_start(&s->tick, on_tick, 0, TICK_MS);
}

static void ps_stop(bn_worker_t *w)
{
    ps_state_t *s = w->mode;
    uv_timer_stop(&s->tick);
}

static uint64_t unacked(const ps_state_t *s)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < s->n_pub; i++)
        if (s->pub[i].c)
            n += fcl_client_inflight(s->pub[i].c) + fcl_client_queued(s->pub[i].c);
    return n;
}

static void ps_stats(bn_worker_t *w, bn_out_t *out)
{
    ps_state_t *s = w->mode;
    bn_out_printf(out,
                  " sent=%llu acked=%llu nacked=%llu refused=%llu rx=%llu dup=%llu reorder=%llu"
                  " window_rx=%llu foreign=%llu unacked=%llu disconnects=%u ready=%u",
                  (unsigned long long)s->sent, (unsigned long long)s->acked,
                  (unsigned long long)s->nacked, (unsigned long long)s->refused,
                  (unsigned long long)s->rx, (unsigned long long)s->rx_dup,
                  (unsigned long long)s->rx_reorder, (unsigned long long)s->rx_window,
                  (unsigned long long)s->rx_foreign, (unsigned long long)unacked(s), s->disconnects,
                  s->n_ready);
    bn_out_printf(out, " lat_max_us=%llu", (unsigned long long)(s->lat_max_ns / 1000));
    s->lat_max_ns = 0;
}

static void free_state(uv_handle_t *h)
{
    ps_state_t *s = h->data;
    for (uint32_t i = 0; s->sub && i < s->n_sub; i++)
        free(s->sub[i].seq);
    free(s->sub);
    free(s->pub);
    free(s->payload);
    free(s->floor);
    free(s);
}

static void ps_finish(bn_worker_t *w, bn_out_t *out)
{
    ps_state_t *s = w->mode;
    if (!s)
        return;
    const bn_opts_t *o = w->o;
    if (s->pub && s->sub && s->payload) {
        bn_out_printf(out, "F");
        ps_stats(w, out); /* the final values of the T counters */
        bn_out_printf(out, "\n");
        bn_out_hist(out, "latency", &s->lat);
        for (uint32_t i = 0; i < s->n_pub; i++)
            bn_out_printf(out, "P %u %u\n", s->pub[i].idx, s->pub[i].seq);
        for (uint32_t i = 0; i < s->n_sub; i++) {
            const ps_sub_t *b = &s->sub[i];
            uint32_t n = o->pattern == BN_PAIRS ? 1 : o->pubs;
            for (uint32_t j = 0; b->seq && j < n; j++) {
                const bn_seq_t *q = &b->seq[j];
                if (q->unique || q->dup)
                    bn_out_printf(out, "S %u %u %u %u %u\n", b->idx,
                                  o->pattern == BN_PAIRS ? b->idx : j, q->unique, q->dup,
                                  q->reorder);
            }
        }
    }
    s->closing = true; /* what our own stops trigger is not an event */
    for (uint32_t i = 0; s->sub && i < s->n_sub; i++) {
        if (s->sub[i].c) {
            fcl_client_stop(s->sub[i].c, 0);
            fcl_client_free(s->sub[i].c);
        }
    }
    for (uint32_t i = 0; s->pub && i < s->n_pub; i++) {
        if (s->pub[i].c) {
            fcl_client_stop(s->pub[i].c, 0);
            fcl_client_free(s->pub[i].c);
        }
    }
    w->mode = NULL;
    uv_close((uv_handle_t *)&s->tick, free_state); /* `s` goes with its timer */
}

const bn_mode_ops_t bn_pubsub_ops = {ps_setup, ps_go, ps_stop, ps_stats, ps_finish};
