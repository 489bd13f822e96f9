/* Routing and delivery: from one incoming message to every session that
 * should get it, through inflight windows and queues. */
#include "broker/deliver.h"
#include "broker/log.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SUB_IDS 8 /* Subscription Identifiers carried per delivery */

bool fb_conn_send_publish(fb_conn_t *c, fb_delivery_t *d, bool dup)
{
    fb_msg_t *m = d->msg;
    fmq_packet_t p = {.type = FMQ_PUBLISH};
    p.publish.qos = d->qos;
    p.publish.dup = dup;
    p.publish.retain = d->retain;
    p.publish.topic = m->topic;
    p.publish.packet_id = d->packet_id;
    p.publish.payload = m->payload;
    uint32_t left = 0;
    if (c->version == FMQ_V5) {
        fmq_props_t *pp = &p.publish.props;
        pp->passthrough = m->props;
        if (m->has_expiry && !fb_msg_expired(m, c->b->now_ms, &left)) {
            pp->present |= FMQ_PROP_BIT(FMQ_PROP_MESSAGE_EXPIRY);
            pp->message_expiry = left;
        }
        pp->sub_ids = d->sub_ids;
        pp->n_sub_ids = d->n_sub_ids;
    }
    if (!fb__conn_send(c, &p))
        return false;
    c->b->stats.msgs_out[d->qos]++;
    return true;
}

/* Moves a delivery into the inflight window and sends it. Takes over d. */
static void send_inflight(fb_conn_t *c, fb_delivery_t *d)
{
    fb_session_t *s = c->session;
    d->packet_id = fb_session_next_packet_id(s);
    d->state = d->qos == 1 ? FB_WAIT_PUBACK : FB_WAIT_PUBREC;
    if (fb_session_inflight_add(s, d))
        return;
    fb_delivery_t *in = &s->inflight[s->n_inflight - 1];
    /* Too large for the client ([MQTT-3.1.2-25]): discarded as if delivered. */
    if (!fb_conn_send_publish(c, in, false)) {
        c->b->stats.msgs_dropped[in->qos]++;
        fb_session_inflight_remove(s, in);
    }
}

void fb_conn_pump(fb_conn_t *c)
{
    fb_session_t *s = c->session;
    if (!s || c->state != FB_CONN_ACTIVE)
        return;
    fb_delivery_t d;
    while (s->q_len && s->n_inflight < c->client_receive_max && fb_session_dequeue(s, &d)) {
        if (fb_msg_expired(d.msg, c->b->now_ms, NULL)) {
            c->b->stats.msgs_dropped[d.qos]++;
            fb_delivery_release(&d);
            continue;
        }
        send_inflight(c, &d);
    }
}

void fb_deliver(fb_broker_t *b, fb_session_t *s, fb_msg_t *m, uint8_t granted, bool retain,
                const uint32_t *sub_ids, uint8_t n_sub_ids)
{
    uint8_t qos = m->qos < granted ? m->qos : granted;
    fb_conn_t *c = s->conn && s->conn->state == FB_CONN_ACTIVE ? s->conn : NULL;
    if (fb_msg_expired(m, b->now_ms, NULL)) {
        b->stats.msgs_dropped[qos]++;
        return;
    }
    if (s->moved) { /* a handoff stub: the session lives on another node now */
        b->cluster->forward(b->cluster_ctx, s, m, qos, retain, sub_ids, n_sub_ids);
        return;
    }
    if (s->dedup &&
        b->cluster->handoff_filter(b->cluster_ctx, s, m, granted, retain, sub_ids, n_sub_ids))
        return; /* a duplicate, or held back to keep the order during a handoff */
    fb_delivery_t d = {.msg = m, .qos = qos, .retain = retain, .n_sub_ids = n_sub_ids};
    if (qos == 0) {
        /* QoS 0 is not queued for offline sessions, nor piled up behind a
         * client that does not read. */
        if (!c || fb_conn_backlog(c) > b->cfg->write_buffer_limit) {
            b->stats.msgs_dropped[0]++;
            return;
        }
        d.sub_ids = (uint32_t *)sub_ids;
        fb_conn_send_publish(c, &d, false);
        return;
    }
    fb_msg_ref(m);
    if (n_sub_ids) {
        d.sub_ids = malloc(n_sub_ids * sizeof *d.sub_ids);
        if (!d.sub_ids) {
            fb_msg_unref(m);
            b->stats.msgs_dropped[qos]++;
            return;
        }
        memcpy(d.sub_ids, sub_ids, n_sub_ids * sizeof *d.sub_ids);
    }
    if (c && s->q_len == 0 && s->n_inflight < c->client_receive_max) {
        send_inflight(c, &d);
        return;
    }
    int r = fb_session_enqueue(s, &d, b->cfg->max_queued, b->cfg->queue_drop == FB_DROP_OLDEST);
    if (r != 0)
        b->stats.msgs_dropped[qos]++;
}

void fb_deliver_resume(fb_conn_t *c)
{
    fb_session_t *s = c->session;
    for (uint32_t i = 0; i < s->n_inflight;) {
        fb_delivery_t *d = &s->inflight[i];
        if (d->state == FB_WAIT_PUBCOMP) {
            fmq_packet_t p = {.type = FMQ_PUBREL};
            p.ack.packet_id = d->packet_id;
            fb__conn_send(c, &p);
        } else if (!fb_conn_send_publish(c, d, true)) {
            /* Too large for this connection's Maximum Packet Size: discarded
             * as if delivered ([MQTT-3.1.2-25]), or it would hold its place
             * in the inflight window for ever. */
            c->b->stats.msgs_dropped[d->qos]++;
            fb_session_inflight_remove(s, d);
            continue;
        }
        i++;
    }
    fb_conn_pump(c);
}

typedef struct {
    fb_conn_t *c;
    uint8_t granted;
    uint32_t sub_id;
} retained_ctx_t;

static void retained_one(void *ctx, fmq_bytes_t topic, void *msg)
{
    (void)topic;
    retained_ctx_t *r = ctx;
    fb_session_t *s = r->c->session;
    if (s)
        fb_deliver(r->c->b, s, msg, r->granted, true, &r->sub_id, r->sub_id ? 1 : 0);
}

void fb_deliver_retained(fb_conn_t *c, fmq_bytes_t filter, uint8_t granted, uint32_t sub_id)
{
    retained_ctx_t r = {c, granted, sub_id};
    fb_retain_match(c->b->retained, filter, retained_one, &r);
}

/* ---- routing ---- */

typedef struct {
    fb_session_t *s;
    uint8_t qos;
    bool retain;
    uint8_t n_sub_ids;
    uint32_t sub_ids[MAX_SUB_IDS];
} target_t;

typedef struct {
    fb_broker_t *b;
    fb_msg_t *m;
    const fb_route_sel_t *sel;
    uint64_t seq;
    target_t *t;
    uint32_t n, cap;
    bool oom;
} route_ctx_t;

static bool eligible(void *ctx, void *subscriber)
{
    (void)ctx;
    const fb_session_t *s = subscriber;
    return s->conn && s->conn->state == FB_CONN_ACTIVE;
}

static bool group_ok(void *ctx, fmq_bytes_t full)
{
    const fb_route_sel_t *sel = ((route_ctx_t *)ctx)->sel;
    return sel->group_ok(sel->ctx, full);
}

/* One call per matching subscription; a session matched by several of its
 * subscriptions gets one delivery at the highest QoS with every
 * Subscription Identifier ([MQTT-3.3.4-3] [MQTT-3.3.4-4]). */
static void collect(void *ctx, void *subscriber, const fb_sub_opts_t *o, bool shared)
{
    route_ctx_t *r = ctx;
    fb_session_t *s = subscriber;
    fb_msg_t *m = r->m;
    if (o->no_local && !shared && m->origin.len == s->id_len &&
        memcmp(m->origin.ptr, s->client_id, s->id_len) == 0)
        return; /* [MQTT-3.8.3-3] */
    bool retain = o->retain_as_published && m->retain;
    target_t *t;
    if (s->deliver_mark == r->seq) {
        t = &r->t[s->deliver_slot];
        if (o->qos > t->qos)
            t->qos = o->qos;
        t->retain = t->retain || retain;
    } else {
        if (r->n == r->cap) {
            uint32_t ncap = r->cap ? r->cap * 2 : 64;
            target_t *nt = realloc(r->t, ncap * sizeof *nt);
            if (!nt) {
                r->oom = true;
                return;
            }
            r->t = nt;
            r->cap = ncap;
        }
        s->deliver_mark = r->seq;
        s->deliver_slot = r->n;
        t = &r->t[r->n++];
        t->s = s;
        t->qos = o->qos;
        t->retain = retain;
        t->n_sub_ids = 0;
    }
    if (o->sub_id && t->n_sub_ids < MAX_SUB_IDS)
        t->sub_ids[t->n_sub_ids++] = o->sub_id;
}

uint32_t fb_broker_route_local(fb_broker_t *b, fb_msg_t *m, const fb_route_sel_t *sel)
{
    route_ctx_t r = {b, m, sel, ++b->fanout_seq, b->route_scratch, 0, b->route_cap, false};
    fb_match_sel_t ms = {.eligible = eligible};
    if (sel) {
        ms.skip_plain = sel->skip_plain;
        ms.group_ok = sel->group_ok ? group_ok : NULL;
    }
    fb_subtab_match_sel(b->subs, m->topic, &ms, collect, &r);
    if (r.oom)
        FB_WARN("out of memory routing a message to %s: some subscribers missed it",
                "its subscribers");
    for (uint32_t i = 0; i < r.n; i++) {
        target_t *t = &r.t[i];
        fb_deliver(b, t->s, m, t->qos, t->retain, t->sub_ids, t->n_sub_ids);
    }
    b->route_scratch = r.t; /* kept for the next message */
    b->route_cap = r.cap;
    return r.n;
}

uint32_t fb_broker_route(fb_broker_t *b, fb_msg_t *m)
{
    if (!m->id)
        m->id = b->next_msg_id++;
    if (!b->cluster)
        return fb_broker_route_local(b, m, NULL);
    fb_route_sel_t sel = {0};
    uint32_t nodes = b->cluster->publish(b->cluster_ctx, m, &sel);
    return nodes + fb_broker_route_local(b, m, &sel);
}
