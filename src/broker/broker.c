/* The broker's protocol state and its periodic work. */
#include "broker/broker.h"
#include "broker/conn.h"
#include "broker/deliver.h"
#include "broker/hash.h"
#include "broker/log.h"

#include <stdlib.h>
#include <time.h>

uint64_t fb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

fb_broker_t *fb_broker_new(const fb_config_t *cfg)
{
    fb_broker_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->cfg = cfg;
    b->now_ms = fb_now_ms();
    b->max_connections = cfg->max_connections ? cfg->max_connections : UINT32_MAX;
    b->sessions = fb_map_new_borrowing(); /* keys are the sessions' own ids */
    b->subs = fb_subtab_new();
    b->retained = fb_retain_new();
    uint64_t k[2];
    fb__hash_seed(k, b);
    b->next_msg_id = k[0] | 1; /* ids from two nodes collide only by chance */
    b->id_base = k[1];
    if (!b->sessions || !b->subs || !b->retained) {
        fb_broker_free(b);
        return NULL;
    }
    return b;
}

static void release_msg(void *m)
{
    fb_msg_unref(m);
}

void fb_broker_free(fb_broker_t *b)
{
    if (!b)
        return;
    if (b->sessions) {
        size_t pos = 0;
        const void *k;
        size_t kl;
        void *v;
        while (fb_map_next(b->sessions, &pos, &k, &kl, &v))
            fb_session_free(v);
        fb_map_free(b->sessions);
    }
    fb_subtab_free(b->subs);
    if (b->retained)
        fb_retain_free(b->retained, release_msg);
    free(b->route_scratch);
    free(b);
}

int fb_broker_sub_add(fb_broker_t *b, fb_session_t *s, fmq_bytes_t filter, const fb_sub_opts_t *o)
{
    int r = fb_subtab_add(b->subs, filter, s, o);
    if (r > 0 && (r & FB_SUB_FILTER_FIRST) && b->cluster)
        b->cluster->route_add(b->cluster_ctx, filter);
    return r;
}

int fb_broker_sub_remove(fb_broker_t *b, fb_session_t *s, fmq_bytes_t filter)
{
    int r = fb_subtab_remove(b->subs, filter, s);
    if (r > 0 && (r & FB_SUB_FILTER_LAST) && b->cluster)
        b->cluster->route_del(b->cluster_ctx, filter);
    return r;
}

static fmq_bytes_t sub_filter(const fb_session_t *s, uint32_t i)
{
    return (fmq_bytes_t){(const uint8_t *)s->subs[i].filter, s->subs[i].len};
}

void fb_broker_session_detach(fb_broker_t *b, fb_session_t *s)
{
    for (uint32_t i = 0; i < s->n_subs; i++)
        fb_broker_sub_remove(b, s, sub_filter(s, i));
    if (fb_map_get(b->sessions, s->client_id, s->id_len) == s)
        fb_map_del(b->sessions, s->client_id, s->id_len);
}

void fb_broker_session_drop(fb_broker_t *b, fb_session_t *s)
{
    if (b->cluster)
        b->cluster->session_gone(b->cluster_ctx, s);
    fb_broker_session_detach(b, s);
    fb_session_free(s);
}

int fb_broker_session_install(fb_broker_t *b, fb_session_t *s)
{
    fb_session_t *old = fb_map_get(b->sessions, s->client_id, s->id_len);
    s->conn = NULL;
    for (uint32_t i = 0; i < s->n_subs; i++)
        if (fb_broker_sub_add(b, s, sub_filter(s, i), &s->subs[i].opts) < 0)
            goto fail;
    if (old) {
        /* Subscribed first, so the filters these two share never look
         * unused to the cluster. */
        if (b->cluster)
            b->cluster->session_gone(b->cluster_ctx, old);
        fb_broker_session_detach(b, old);
        fb_session_free(old);
    }
    if (fb_map_put(b->sessions, s->client_id, s->id_len, s) != 0)
        goto fail;
    return 0;
fail:
    for (uint32_t i = 0; i < s->n_subs; i++)
        fb_broker_sub_remove(b, s, sub_filter(s, i));
    fb_session_free(s);
    return -1;
}

void fb_broker_retain(fb_broker_t *b, fb_msg_t *m)
{
    void *old = NULL;
    bool clear = m->payload.len == 0; /* [MQTT-3.3.1-6] */
    if (fb_retain_set(b->retained, m->topic, clear ? NULL : m, &old) != 0) {
        FB_WARN("out of memory storing a retained message on %.*s", (int)m->topic.len,
                (const char *)m->topic.ptr);
        return;
    }
    if (!clear)
        fb_msg_ref(m);
    fb_msg_unref(old);
}

void fb_broker_publish_will(fb_broker_t *b, fb_session_t *s)
{
    fb_msg_t *will = s->will;
    if (!will)
        return;
    s->will = NULL;
    s->will_at_ms = 0;
    b->stats.wills_published++;
    /* A will's Message Expiry Interval is its lifetime from publication
     * (3.1.3.2.4), not from the CONNECT that carried it. The session held
     * the only reference, so the message is not shared yet. */
    will->created_ms = b->now_ms;
    if (will->retain)
        fb_broker_retain(b, will);
    fb_broker_route(b, will);
    fb_msg_unref(will);
}

void fb_broker_set_clock(fb_broker_t *b, uint64_t wall_ms, uint64_t mono_ms)
{
    b->now_ms = wall_ms;
    b->mono_ms = mono_ms;
}

void fb_broker_tick(fb_broker_t *b, uint64_t wall_ms, uint64_t mono_ms)
{
    fb_broker_set_clock(b, wall_ms, mono_ms);
    uint64_t now_ms = wall_ms;
    for (fb_conn_t *c = b->conns; c; c = c->next) {
        /* An output buffer unused for a whole tick goes back to the allocator:
         * idle connections (most of them) hold none, busy ones keep theirs. */
        if (c->out && c->out_len == 0 && !c->dirty) {
            if (c->out_idle) {
                free(c->out);
                c->out = NULL;
                c->out_cap = 0;
            }
            c->out_idle = true;
        }
        if (c->state == FB_CONN_NEW && !c->cluster_wait &&
            mono_ms - c->opened_ms > b->cfg->connect_timeout_ms) {
            FB_INFO("%s: no CONNECT within %u ms", FB_PEER(c), b->cfg->connect_timeout_ms);
            fb_conn_close(c, 0, NULL);
        } else if (c->state == FB_CONN_ACTIVE && c->keep_alive &&
                   mono_ms - c->last_rx_ms > (uint64_t)c->keep_alive * 1500u) {
            /* [MQTT-3.1.2-22] (5.0: -24): one and a half times Keep Alive */
            FB_INFO("%s: keep alive expired", FB_PEER(c));
            fb_conn_close(c, FMQ_RC_KEEP_ALIVE_TIMEOUT, "keep alive timeout");
        }
    }
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (fb_map_next(b->sessions, &pos, &k, &kl, &v)) {
        fb_session_t *s = v;
        if (s->conn || s->moved) /* a moved stub is the cluster's to remove */
            continue;
        if (s->will_at_ms && now_ms >= s->will_at_ms)
            fb_broker_publish_will(b, s);
        /* A wall clock stepped back (now < offline_since) expires nothing. */
        if (s->expiry != FB_EXPIRY_NEVER && now_ms >= s->offline_since_ms &&
            now_ms - s->offline_since_ms >= (uint64_t)s->expiry * 1000u) {
            fb_broker_publish_will(b, s);
            b->stats.sessions_expired++;
            fb_broker_session_drop(b, s);
        }
    }
}

void fb_broker_flush(fb_broker_t *b)
{
    uint64_t round = ++b->flush_round;
    while (b->dirty) {
        fb_conn_t *c = b->dirty;
        b->dirty = c->dirty_next;
        c->dirty = false;
        if (c->out_len) {
            if (c->ops->send(c->tctx, c->out, c->out_len) != 0 && c->state != FB_CONN_CLOSING)
                fb_conn_close(c, 0, NULL);
            c->out_len = 0;
        }
        /* A connection that had nothing to send in the previous round is
         * not streaming: give its buffer back now, so that a storm of
         * CONNACKs leaves no 1 KiB per idle connection behind. One that is
         * streaming keeps it (the tick frees it once it goes quiet). */
        if (c->last_flush_round + 1 != round) {
            free(c->out);
            c->out = NULL;
            c->out_cap = 0;
        }
        c->last_flush_round = round;

        if (c->state == FB_CONN_CLOSING)
            c->ops->close(c->tctx);
    }
}

void fb_broker_shutdown(fb_broker_t *b)
{
    b->shutting_down = true;
    for (fb_conn_t *c = b->conns; c; c = c->next)
        fb_conn_close(c, FMQ_RC_SERVER_SHUTTING_DOWN, "server shutting down");
}
