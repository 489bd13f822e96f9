/* ferrybench clients, worker side: long-lived clients with persistent
 * sessions (Clean Start 0, a Session Expiry) that reconnect by the policy
 * when dropped. Client i subscribes (--qos, 1 or 2) to fb/<prefix>/c/<i> and
 * publishes at that QoS at --rate to its peer's topic, fb/<prefix>/c/<(i+1) % N>:
 * every message crosses the broker (or the cluster) to another client, and
 * when either end is away the message waits in a session queue (the
 * receiver's on the broker, the publisher's in the client), so a lost
 * session shows up as lost messages. The receiver checks the sequence of
 * its one publisher. Every disconnect (with its reason code) and reconnect
 * is sent to the parent as an event and counted per client. With --takeover-at, the
 * chosen clients move live to the next node (fcl_client_takeover) at that
 * time; the old connection's end (0x8E) is a disconnect like any other, the
 * new CONNACK's Session Present is checked. */
#include "bench/bench.h"

#include <stdlib.h>
#include <string.h>

#define PUB_TICK_MS 20
#define SETUP_TICK_MS 10
#define MAX_PER_TICK 100
#define N_REASONS 4
#define REASON_NET 0x100 /* closed without a reason code (socket error, EOF) */
#define REASON_NONE 0xFFFF

typedef struct cl_state cl_state_t;

/* A client's takeover (K lines carry the number). */
enum { TK_NONE, TK_PLANNED, TK_RUNNING, TK_DONE, TK_NO_SESSION, TK_FAILED };

/* Per client: about 80 bytes beside the fcl_client_t. */
typedef struct cl {
    fcl_client_t *c;
    cl_state_t *s;
    uint32_t idx;
    uint32_t sent, acked, refused;
    bn_seq_t rx; /* from client (idx - 1) mod N */
    uint16_t disconnects, reconnects;
    uint16_t reasons[N_REASONS]; /* of the first disconnects */
    uint8_t tk;                  /* TK_* */
    bool connected, ever, counted;
} cl_t;

struct cl_state {
    bn_worker_t *w;
    cl_t *cl;
    uint32_t n, started, n_ready, connected;
    uv_timer_t tick;
    bn_hist_t lat;
    uint8_t *payload;
    uint64_t sent, acked, nacked, refused, rx, rx_dup, rx_reorder, rx_foreign;
    uint64_t rx_dup_flag; /* deliveries with DUP set: the broker resent them */
    uint64_t disconnects, reconnects, failed_attempts, gave_up;
    uint64_t lat_max_ns;             /* largest end-to-end latency since the last T line */
    uint64_t by_reason[257];         /* [REASON_NET] = 256 */
    uint32_t tk_planned, tk_waiting; /* takeovers this worker does / has not started yet */
    uint64_t tk_started, tk_done, tk_no_session, tk_failed;
    bool closing;
};

static uint32_t peer_of(const cl_state_t *s, uint32_t idx)
{
    return (idx + 1) % s->w->o->n;
}

static void topic_of(const cl_state_t *s, uint32_t idx, char *buf, size_t len)
{
    snprintf(buf, len, "fb/%s/c/%u", s->w->o->id_prefix, idx);
}

static void on_connect(fcl_client_t *c, uint8_t reason, bool sp, void *ud)
{
    cl_t *k = ud;
    cl_state_t *s = k->s;
    if (reason != 0 || s->closing)
        return;
    if (k->tk == TK_RUNNING) { /* the new connection of a takeover */
        k->tk = sp ? TK_DONE : TK_NO_SESSION;
        s->tk_done++;
        s->tk_no_session += !sp;
        bn_worker_line(s->w, "V %llu %u takeover_done sp=%d",
                       (unsigned long long)bn_worker_ms(s->w), k->idx, sp);
    } else if (k->ever) {
        k->reconnects++;
        s->reconnects++;
        bn_worker_line(s->w, "V %llu %u reconnect sp=%d", (unsigned long long)bn_worker_ms(s->w),
                       k->idx, sp);
    }
    k->ever = true;
    if (!k->connected) { /* after a takeover's 0x8E it may still be */
        k->connected = true;
        s->connected++;
    }
    if (!sp) { /* a new session (or a lost one) has no subscription */
        char topic[96];
        topic_of(s, k->idx, topic, sizeof topic);
        fmq_sub_entry_t e = {.filter = fmq_cstr(topic), .qos = s->w->o->qos};
        fcl_subscribe(c, &e, 1, 0);
    }
}

static void on_subscribed(fcl_client_t *c, uint16_t id, const uint8_t *codes, size_t n, void *ud)
{
    (void)c;
    (void)id;
    cl_t *k = ud;
    if (n < 1 || codes[0] >= 0x80 || k->counted)
        return;
    k->counted = true;
    if (++k->s->n_ready == k->s->n)
        bn_worker_ready(k->s->w, NULL);
}

static void takeover_failed(cl_state_t *s, cl_t *k, const char *why)
{
    k->tk = TK_FAILED;
    s->tk_failed++;
    bn_worker_line(s->w, "V %llu %u takeover_failed %s", (unsigned long long)bn_worker_ms(s->w),
                   k->idx, why);
}

static void on_disconnect(fcl_client_t *c, const fcl_disconnect_info_t *info, void *ud)
{
    cl_t *k = ud;
    cl_state_t *s = k->s;
    if (s->closing)
        return;
    if (info->takeover && !info->was_connected) { /* the new connection failed */
        if (k->tk == TK_RUNNING) {
            char why[64];
            snprintf(why, sizeof why, "reason=0x%02x sys=%s", info->reason,
                     info->sys_error ? uv_err_name(info->sys_error) : "-");
            takeover_failed(s, k, why);
        }
        if (fcl_client_state(c) == FCL_CONNECTED)
            return; /* still on the old connection: nothing ended */
    }
    if (!info->will_reconnect)
        s->gave_up++;
    if (!info->was_connected) {
        s->failed_attempts++;
        return;
    }
    uint16_t r = info->by_server ? info->reason : REASON_NET;
    if (k->disconnects < N_REASONS)
        k->reasons[k->disconnects] = r;
    k->disconnects++;
    /* The old connection of a takeover may end after the new one is up. */
    if (k->connected && fcl_client_state(c) != FCL_CONNECTED) {
        k->connected = false;
        s->connected--;
    }
    s->disconnects++;
    s->by_reason[r]++;
    char rs[8];
    if (r == REASON_NET)
        snprintf(rs, sizeof rs, "net");
    else
        snprintf(rs, sizeof rs, "0x%02x", r);
    bn_worker_line(s->w, "V %llu %u disconnect reason=%s sys=%s reconnect=%d",
                   (unsigned long long)bn_worker_ms(s->w), k->idx, rs,
                   info->sys_error ? uv_err_name(info->sys_error) : "-", info->will_reconnect);
}

static void on_published(fcl_client_t *c, uint64_t token, uint8_t reason, void *ud)
{
    (void)c;
    (void)token;
    cl_t *k = ud;
    if (reason >= 0x80) {
        k->s->nacked++;
    } else {
        k->acked++;
        k->s->acked++;
    }
}

static void on_message(fcl_client_t *c, const fcl_message_t *m, void *ud)
{
    (void)c;
    cl_t *k = ud;
    cl_state_t *s = k->s;
    const bn_opts_t *o = s->w->o;
    bn_payload_t h;
    if (s->closing)
        return;
    s->rx_dup_flag += m->dup;
    if (!bn_payload_read(m->payload.ptr, m->payload.len, &h) || h.run != o->run_id ||
        peer_of(s, h.pub) != k->idx) {
        s->rx_foreign++;
        return;
    }
    bn_seq_kind_t kind = bn_seq_see(&k->rx, h.seq);
    if (kind == BN_SEQ_DUP) {
        s->rx_dup++;
        return;
    }
    s->rx++;
    s->rx_reorder += kind == BN_SEQ_LATE;
    uint64_t now = bn_now_ns(), lat = now > h.sent_ns ? now - h.sent_ns : 0;
    bn_hist_record(&s->lat, lat);
    if (lat > s->lat_max_ns)
        s->lat_max_ns = lat;
}

static void publish_due(cl_state_t *s, cl_t *k, double elapsed)
{
    const bn_opts_t *o = s->w->o;
    /* Message m is due at (m + 1 - idx/N) / rate: client i is offset by
     * i/N of an interval, so the clients do not fire in lockstep. */
    double want = o->rate * elapsed + (double)k->idx / o->n;
    if (k->sent + k->refused + 1 > want)
        return; /* the common case: nothing due on this tick */
    char topic[96];
    topic_of(s, peer_of(s, k->idx), topic, sizeof topic);
    for (int j = 0; j < MAX_PER_TICK && k->sent + k->refused + 1 <= want; j++) {
        bn_payload_t h = {o->run_id, k->idx, k->sent, bn_now_ns()};
        bn_payload_write(s->payload, o->payload, &h);
        /* QoS 1/2 is queued while disconnected: the application goes on. */
        if (fcl_publish(k->c, fmq_cstr(topic), (fmq_bytes_t){s->payload, o->payload}, o->qos, false,
                        NULL, 0) == 0) {
            k->sent++;
            s->sent++;
        } else {
            k->refused++;
            s->refused++;
        }
    }
}

/* Starts the takeovers that are due, at most this worker's share of
 * --connect-rate; a client that is not connected waits for a later tick. */
static void takeovers_due(cl_state_t *s)
{
    const bn_opts_t *o = s->w->o;
    uint32_t budget = (uint32_t)(o->connect_rate / s->w->count * PUB_TICK_MS / 1000.0) + 1;
    for (uint32_t i = 0; i < s->n && budget && s->tk_waiting; i++) {
        cl_t *k = &s->cl[i];
        if (k->tk != TK_PLANNED || !k->c || fcl_client_state(k->c) != FCL_CONNECTED)
            continue;
        const char *host;
        uint16_t port;
        bn_addr(o, false, k->idx + 1, &host, &port); /* the next node */
        budget--;
        s->tk_waiting--;
        s->tk_started++;
        k->tk = TK_RUNNING;
        bn_worker_line(s->w, "V %llu %u takeover to=%s:%u", (unsigned long long)bn_worker_ms(s->w),
                       k->idx, host, port);
        int rc = fcl_client_takeover(k->c, host, port);
        if (rc != 0 && k->tk == TK_RUNNING) { /* else on_disconnect has told */
            char why[64];
            snprintf(why, sizeof why, "start=%s", uv_err_name(rc));
            takeover_failed(s, k, why);
        }
    }
}

static void on_pub_tick(uv_timer_t *t)
{
    cl_state_t *s = t->data;
    double elapsed = (double)(bn_now_ns() - s->w->go_ns) / 1e9;
    for (uint32_t i = 0; i < s->n; i++)
        if (s->cl[i].c)
            publish_due(s, &s->cl[i], elapsed);
    if (s->tk_waiting && elapsed >= s->w->o->takeover_at_s)
        takeovers_due(s);
}

static void start_one(cl_state_t *s)
{
    cl_t *k = &s->cl[s->started++];
    const bn_opts_t *o = s->w->o;
    char src[32], id[96];
    fcl_opts_t co = bn_client_opts(s->w, k->idx, src, sizeof src, id, sizeof id, "k");
    co.clean_start = false; /* ids are new each run (the prefix has the run id) */
    co.session_expiry = o->session_expiry;
    co.reconnect = o->reconnect;
    co.max_queued = 100000;
    co.cb = (fcl_callbacks_t){.on_connect = on_connect,
                              .on_message = on_message,
                              .on_published = on_published,
                              .on_subscribed = on_subscribed,
                              .on_disconnect = on_disconnect};
    co.ud = k;
    k->c = fcl_client_new(&s->w->loop, &co);
    if (k->c)
        fcl_client_start(k->c);
}

static void on_setup_tick(uv_timer_t *t)
{
    cl_state_t *s = t->data;
    double per_worker = s->w->o->connect_rate / s->w->count;
    uint32_t due = (uint32_t)(per_worker * SETUP_TICK_MS / 1000.0) + 1;
    while (due-- && s->started < s->n)
        start_one(s);
    if (s->started == s->n)
        uv_timer_stop(t);
}

static int cl_setup(bn_worker_t *w)
{
    cl_state_t *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    w->mode = s;
    s->w = w;
    uv_timer_init(&w->loop, &s->tick);
    s->tick.data = s;
    bn_hist_init(&s->lat);
    s->n = bn_worker_share(w, w->o->n);
    s->cl = calloc(s->n + 1, sizeof *s->cl);
    s->payload = malloc(w->o->payload);
    if (!s->cl || !s->payload)
        return -1;
    const bn_opts_t *o = w->o;
    for (uint32_t i = 0; i < s->n; i++) {
        uint32_t g = bn_worker_global(w, i);
        s->cl[i] = (cl_t){.s = s, .idx = g};
        for (int r = 0; r < N_REASONS; r++)
            s->cl[i].reasons[r] = REASON_NONE;
        /* A fraction F of the clients, spread evenly: i takes over when
         * floor((i + 1) F) > floor(i F). */
        if (o->takeover_at_s >= 0 &&
            (uint64_t)((g + 1) * o->takeover_frac) > (uint64_t)(g * o->takeover_frac)) {
            s->cl[i].tk = TK_PLANNED;
            s->tk_planned++;
        }
    }
    s->tk_waiting = s->tk_planned;
    if (s->n == 0)
        bn_worker_ready(w, NULL);
    uv_timer_start(&s->tick, on_setup_tick, 0, SETUP_TICK_MS);
    return 0;
}

static void cl_go(bn_worker_t *w)
{
    cl_state_t *s = w->mode;
    /* Clients not started yet (setup ran out of time) start now, all of them. */
    while (s->started < s->n)
        start_one(s);
    uv_timer_stop(&s->tick);
    uv_timer_start(&s->tick, on_pub_tick, PUB_TICK_MS, PUB_TICK_MS);
}

static void cl_stop(bn_worker_t *w)
{
    cl_state_t *s = w->mode;
    uv_timer_stop(&s->tick);
}

static void cl_stats(bn_worker_t *w, bn_out_t *out)
{
    cl_state_t *s = w->mode;
    uint64_t unacked = 0, resent = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        if (s->cl[i].c) {
            unacked += fcl_client_inflight(s->cl[i].c) + fcl_client_queued(s->cl[i].c);
            resent += fcl_client_resent(s->cl[i].c);
        }
    }
    bn_out_printf(out,
                  " connected=%u disconnects=%llu reconnects=%llu failed_attempts=%llu"
                  " gave_up=%llu sent=%llu acked=%llu nacked=%llu refused=%llu rx=%llu dup=%llu"
                  " reorder=%llu foreign=%llu unacked=%llu ready=%u",
                  s->connected, (unsigned long long)s->disconnects,
                  (unsigned long long)s->reconnects, (unsigned long long)s->failed_attempts,
                  (unsigned long long)s->gave_up, (unsigned long long)s->sent,
                  (unsigned long long)s->acked, (unsigned long long)s->nacked,
                  (unsigned long long)s->refused, (unsigned long long)s->rx,
                  (unsigned long long)s->rx_dup, (unsigned long long)s->rx_reorder,
                  (unsigned long long)s->rx_foreign, (unsigned long long)unacked, s->n_ready);
    bn_out_printf(out,
                  " takeover_planned=%u takeover_started=%llu takeovers=%llu"
                  " takeover_no_session=%llu takeover_failed=%llu resent=%llu rx_dup_flag=%llu",
                  s->tk_planned, (unsigned long long)s->tk_started, (unsigned long long)s->tk_done,
                  (unsigned long long)s->tk_no_session, (unsigned long long)s->tk_failed,
                  (unsigned long long)resent, (unsigned long long)s->rx_dup_flag);
    bn_out_printf(out, " lat_max_us=%llu", (unsigned long long)(s->lat_max_ns / 1000));
    s->lat_max_ns = 0;
}

static void free_state(uv_handle_t *h)
{
    cl_state_t *s = h->data;
    free(s->cl);
    free(s->payload);
    free(s);
}

static void put_reason(bn_out_t *out, uint16_t r)
{
    if (r == REASON_NONE)
        bn_out_printf(out, " -");
    else if (r == REASON_NET)
        bn_out_printf(out, " net");
    else
        bn_out_printf(out, " %02x", r);
}

static void cl_finish(bn_worker_t *w, bn_out_t *out)
{
    cl_state_t *s = w->mode;
    if (!s)
        return;
    if (s->cl && s->payload) {
        bn_out_printf(out, "F");
        cl_stats(w, out);
        for (int r = 0; r < 257; r++) {
            if (!s->by_reason[r])
                continue;
            if (r == REASON_NET)
                bn_out_printf(out, " disc_net=%llu", (unsigned long long)s->by_reason[r]);
            else
                bn_out_printf(out, " disc_0x%02x=%llu", r, (unsigned long long)s->by_reason[r]);
        }
        bn_out_printf(out, "\n");
        bn_out_hist(out, "latency", &s->lat);
        for (uint32_t i = 0; i < s->n; i++) {
            const cl_t *k = &s->cl[i];
            bn_out_printf(out, "K %u %u %u %u %u %u %u %u %u", k->idx, k->sent, k->acked,
                          k->rx.unique, k->rx.dup, k->rx.reorder, k->disconnects, k->reconnects,
                          k->tk);
            for (int r = 0; r < N_REASONS; r++)
                put_reason(out, k->reasons[r]);
            bn_out_printf(out, "\n");
        }
    }
    s->closing = true;
    for (uint32_t i = 0; s->cl && i < s->n; i++) {
        if (s->cl[i].c) {
            fcl_client_stop(s->cl[i].c, 0);
            fcl_client_free(s->cl[i].c);
        }
    }
    w->mode = NULL;
    uv_close((uv_handle_t *)&s->tick, free_state); /* `s` goes with its timer */
}

const bn_mode_ops_t bn_clients_ops = {cl_setup, cl_go, cl_stop, cl_stats, cl_finish};
