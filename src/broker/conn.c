/* One MQTT connection: read loop, packet handlers, error mapping, output. */
#include "broker/conn.h"
#include "broker/deliver.h"
#include "broker/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void mark_dirty(fb_conn_t *c)
{
    if (!c->dirty) {
        c->dirty = true;
        c->dirty_next = c->b->dirty;
        c->b->dirty = c;
    }
}

static bool out_reserve(fb_conn_t *c, size_t more)
{
    if (c->out_len + more <= c->out_cap)
        return true;
    size_t ncap = c->out_cap ? c->out_cap : 1024;
    while (ncap < c->out_len + more)
        ncap *= 2;
    uint8_t *p = realloc(c->out, ncap);
    if (!p)
        return false;
    c->out = p;
    c->out_cap = ncap;
    return true;
}

void fb_conn_write(fb_conn_t *c, const uint8_t *data, size_t len)
{
    if (!out_reserve(c, len))
        return;
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    c->out_idle = false;
    c->b->stats.bytes_out += len;
    mark_dirty(c);
}

size_t fb_conn_backlog(const fb_conn_t *c)
{
    return c->out_len + c->ops->backlog(c->tctx);
}

/* Encodes p straight into the output buffer. A packet larger than the
 * client's Maximum Packet Size is not sent ([MQTT-3.1.2-24]); returns
 * whether it was queued. */
bool fb__conn_send(fb_conn_t *c, const fmq_packet_t *p)
{
    if (c->state == FB_CONN_CLOSING)
        return false;
    fmq_err_t err;
    if (!c->out && !out_reserve(c, 512)) /* flushed buffers are freed: most packets fit */
        return false;
    size_t space = c->out_cap - c->out_len;
    int n = fmq_encode(p, c->version, c->out ? c->out + c->out_len : NULL, space, &err);
    if (n > 0 && (size_t)n > space) {
        if (!out_reserve(c, (size_t)n))
            return false;
        n = fmq_encode(p, c->version, c->out + c->out_len, (size_t)n, &err);
    }
    if (n < 0) {
        FB_WARN("%s: cannot encode %s: %s", FB_PEER(c), fmq_type_name(p->type), err.what);
        return false;
    }
    if (c->client_max_packet && (uint32_t)n > c->client_max_packet)
        return false;
    c->out_len += (size_t)n;
    c->out_idle = false;
    c->b->stats.bytes_out += (size_t)n;
    mark_dirty(c);
    return true;
}

static void send_ack(fb_conn_t *c, fmq_type_t type, uint16_t id, uint8_t reason)
{
    fmq_packet_t p = {.type = type};
    p.ack.packet_id = id;
    p.ack.reason = reason;
    fb__conn_send(c, &p);
}

const char *fb_conn_peer(const fb_conn_t *c, char *buf, size_t len)
{
    snprintf(buf, len, "?");
    if (c->ops->peer)
        c->ops->peer(c->tctx, buf, len);
    return buf;
}

fb_conn_t *fb_conn_new(fb_broker_t *b, const fb_transport_ops_t *ops, void *tctx)
{
    fb_conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->b = b;
    c->ops = ops;
    c->tctx = tctx;
    c->opened_ms = c->last_rx_ms = b->mono_ms;
    c->client_receive_max = 65535;
    c->request_problem_info = true;
    c->next = b->conns;
    if (b->conns)
        b->conns->prev = c;
    b->conns = c;
    b->n_conns++;
    b->stats.conns_accepted++;
    c->over_limit = b->n_conns > b->max_connections;
    return c;
}

/* Session detach on close. A takeover keeps the session for its new
 * connection; otherwise an expiry of 0 ends the session here. */
static void detach(fb_conn_t *c, bool keep_session)
{
    fb_session_t *s = c->session;
    if (!s)
        return;
    fb_broker_t *b = c->b;
    c->session = NULL;
    s->conn = NULL;
    s->offline_since_ms = b->now_ms;
    if (c->graceful) {
        fb_session_set_will(s, NULL, 0); /* [MQTT-3.1.2-10] */
    } else if (s->will) {
        if (s->will_delay == 0 || (s->expiry == 0 && !keep_session))
            fb_broker_publish_will(b, s);
        else
            s->will_at_ms =
                b->now_ms +
                (uint64_t)(s->will_delay < s->expiry ? s->will_delay : s->expiry) * 1000u;
    }
    if (s->expiry == 0 && !keep_session)
        fb_broker_session_drop(b, s);
}

/* MQTT 3.1.1 has CONNACK return codes only for these refusals; anything else
 * closes the connection without one ([MQTT-3.2.2-5] lists them). */
static bool v3_has_code(uint8_t reason)
{
    switch (reason) {
    case FMQ_RC_UNSUPPORTED_PROTOCOL_VERSION:
    case FMQ_RC_CLIENT_ID_NOT_VALID:
    case FMQ_RC_BAD_USERNAME_OR_PASSWORD:
    case FMQ_RC_NOT_AUTHORIZED:
    case FMQ_RC_BANNED:
    case FMQ_RC_BAD_AUTH_METHOD:
    case FMQ_RC_SERVER_UNAVAILABLE:
    case FMQ_RC_SERVER_BUSY:
    case FMQ_RC_USE_ANOTHER_SERVER:
    case FMQ_RC_SERVER_MOVED:
    case FMQ_RC_CONNECTION_RATE_EXCEEDED:
    case FMQ_RC_QUOTA_EXCEEDED:
        return true;
    default:
        return false;
    }
}

/* The one place where an error becomes bytes on the wire: a CONNACK before
 * the connection is accepted, a DISCONNECT (MQTT 5) after; MQTT 3.1.1 has no
 * server DISCONNECT, so it just closes. */
static void send_refusal(fb_conn_t *c, uint8_t reason, const char *why)
{
    fmq_packet_t p = {0};
    const char *ref = c->b->agent.server_ref;
    bool with_ref = *ref && (reason == FMQ_RC_USE_ANOTHER_SERVER || reason == FMQ_RC_SERVER_MOVED);
    if (c->state == FB_CONN_NEW) {
        p.type = FMQ_CONNACK;
        if (c->version == FMQ_V5) {
            p.connack.reason = reason;
            if (why && c->request_problem_info) {
                p.connack.props.present |= FMQ_PROP_BIT(FMQ_PROP_REASON_STRING);
                p.connack.props.reason_string = fmq_cstr(why);
            }
            if (with_ref) {
                p.connack.props.present |= FMQ_PROP_BIT(FMQ_PROP_SERVER_REFERENCE);
                p.connack.props.server_reference = fmq_cstr(ref);
            }
        } else if (v3_has_code(reason)) {
            if (c->version == 0)
                c->version = FMQ_V311; /* unknown level: answer in 3.1.1 form */
            p.connack.reason = fmq_connack_v3_code(reason);
        } else {
            return;
        }
    } else if (c->version == FMQ_V5) {
        p.type = FMQ_DISCONNECT;
        p.disconnect.reason = reason;
        if (why && c->request_problem_info) {
            p.disconnect.props.present |= FMQ_PROP_BIT(FMQ_PROP_REASON_STRING);
            p.disconnect.props.reason_string = fmq_cstr(why);
        }
        if (with_ref) {
            p.disconnect.props.present |= FMQ_PROP_BIT(FMQ_PROP_SERVER_REFERENCE);
            p.disconnect.props.server_reference = fmq_cstr(ref);
        }
    } else {
        return;
    }
    fb__conn_send(c, &p);
}

void fb_conn_close(fb_conn_t *c, uint8_t reason, const char *why)
{
    if (c->state == FB_CONN_CLOSING)
        return;
    if (reason)
        send_refusal(c, reason, why);
    if (c->state == FB_CONN_ACTIVE)
        c->b->n_clients--;
    c->state = FB_CONN_CLOSING;
    detach(c, reason == FMQ_RC_SESSION_TAKEN_OVER);
    mark_dirty(c); /* the flush hands the output over, then closes */
}

static void fail(fb_conn_t *c, uint8_t reason, const char *why)
{
    c->b->stats.protocol_errors++;
    FB_INFO("%s: closing: %s (0x%02x %s)", FB_PEER(c), why ? why : "", reason,
            fmq_reason_name(reason) ? fmq_reason_name(reason) : "");
    fb_conn_close(c, reason, why);
}

void fb_conn_closed(fb_conn_t *c)
{
    fb_broker_t *b = c->b;
    if (c->cluster_wait) {
        c->cluster_wait = false;
        b->cluster->connect_cancel(b->cluster_ctx, c);
    }
    if (c->state != FB_CONN_CLOSING) {
        if (c->state == FB_CONN_ACTIVE)
            b->n_clients--;
        c->state = FB_CONN_CLOSING;
        detach(c, false);
    }
    if (c->dirty) {
        for (fb_conn_t **pp = &b->dirty; *pp; pp = &(*pp)->dirty_next) {
            if (*pp == c) {
                *pp = c->dirty_next;
                break;
            }
        }
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        b->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    b->n_conns--;
    b->stats.conns_closed++;
    for (uint32_t i = 0; c->aliases && i <= c->topic_alias_max; i++)
        free((void *)c->aliases[i].ptr);
    free(c->aliases);
    free(c->in);
    free(c->out);
    free(c);
}

bool fb_broker_evict_one(fb_broker_t *b)
{
    for (fb_conn_t *c = b->conns; c; c = c->next) {
        if (c->state != FB_CONN_ACTIVE)
            continue;
        b->stats.conns_evicted++;
        FB_DEBUG("%s: client %s evicted", FB_PEER(c), c->session ? c->session->client_id : "?");
        fb_conn_close(c, FMQ_RC_USE_ANOTHER_SERVER, "this node is being evacuated");
        return true;
    }
    return false;
}

/* ---- CONNECT ---- */

static uint8_t check_auth(fb_conn_t *c, const fmq_connect_t *k)
{
    fb_broker_t *b = c->b;
    if (fmq_props_has(&k->props, FMQ_PROP_AUTH_METHOD))
        return FMQ_RC_BAD_AUTH_METHOD; /* no enhanced authentication yet */
    if (b->auth)
        return b->auth(b->auth_ctx, k->client_id, k->has_username ? &k->username : NULL,
                       k->has_password ? &k->password : NULL);
    if (!b->cfg->allow_anonymous && !k->has_username)
        return FMQ_RC_NOT_AUTHORIZED;
    return FMQ_RC_SUCCESS;
}

static fb_msg_t *make_will(fb_conn_t *c, const fmq_connect_t *k, fmq_bytes_t id, uint8_t *why)
{
    const fb_config_t *cfg = c->b->cfg;
    if (k->will_qos > cfg->max_qos) {
        *why = FMQ_RC_QOS_NOT_SUPPORTED;
        return NULL;
    }
    if (k->will_retain && !cfg->retain_available) {
        *why = FMQ_RC_RETAIN_NOT_SUPPORTED;
        return NULL;
    }
    if (fmq_topic_levels(k->will_topic) > cfg->max_topic_levels) {
        *why = FMQ_RC_TOPIC_NAME_INVALID;
        return NULL;
    }
    fb_msg_t *m = fb_msg_from_publish(k->will_topic, &k->will_props, k->will_payload, id,
                                      k->will_qos, k->will_retain, c->b->now_ms);
    if (!m)
        *why = FMQ_RC_SERVER_BUSY;
    return m;
}

static void handle_connect(fb_conn_t *c, const fmq_connect_t *k)
{
    fb_broker_t *b = c->b;
    const fb_config_t *cfg = b->cfg;
    if (c->state != FB_CONN_NEW)
        return fail(c, FMQ_RC_PROTOCOL_ERROR, "[MQTT-3.1.0-2] second CONNECT");
    c->version = k->version;
    bool v5 = k->version == FMQ_V5;
    const fmq_props_t *kp = &k->props;
    if (fmq_props_has(kp, FMQ_PROP_REQUEST_PROBLEM_INFO))
        c->request_problem_info = kp->request_problem_info;
    if (fmq_props_has(kp, FMQ_PROP_RECEIVE_MAXIMUM))
        c->client_receive_max = kp->receive_maximum;
    if (fmq_props_has(kp, FMQ_PROP_MAXIMUM_PACKET_SIZE))
        c->client_max_packet = kp->max_packet_size;

    if (c->over_limit || b->shutting_down)
        return fail(c, b->shutting_down ? FMQ_RC_SERVER_UNAVAILABLE : FMQ_RC_SERVER_BUSY,
                    "the server is at its connection limit");
    /* An evacuating node (or a rebalance donor) refuses before
     * authentication: the client should go elsewhere, not retry here. */
    if (b->agent.block_connects) {
        b->stats.conns_redirected++;
        FB_DEBUG("%s: CONNECT refused: this node is being evacuated", FB_PEER(c));
        return fb_conn_close(c, FMQ_RC_USE_ANOTHER_SERVER, "this node is being evacuated");
    }
    if (!c->connect_seen) {
        c->connect_seen = true;
        c->connect_ms = b->mono_ms;
    }

    /* Client identifier: assign one when empty where the version allows. */
    char assigned[48];
    fmq_bytes_t id = k->client_id;
    bool was_assigned = false;
    if (id.len == 0) {
        if (!(v5 || (k->version == FMQ_V311 && k->clean_start)))
            return fail(c, FMQ_RC_CLIENT_ID_NOT_VALID,
                        "[MQTT-3.1.3-8] empty client identifier needs a clean session");
        /* Unique across the cluster too: the broker's random id base
         * differs per node and per start. */
        int n = snprintf(assigned, sizeof assigned, "auto-%016llx-%llx",
                         (unsigned long long)b->id_base, (unsigned long long)++b->next_client_seq);
        id = (fmq_bytes_t){(const uint8_t *)assigned, (uint32_t)n};
        was_assigned = true;
    }
    /* The limit is on what clients send; an identifier we assigned is ours. */
    if (!was_assigned && id.len > cfg->max_client_id_len)
        return fail(c, FMQ_RC_CLIENT_ID_NOT_VALID, "client identifier too long");

    uint8_t rc = check_auth(c, k);
    if (rc != FMQ_RC_SUCCESS)
        return fail(c, rc, "authentication failed");

    fb_msg_t *will = NULL;
    if (k->will_flag && !(will = make_will(c, k, id, &rc)))
        return fail(c, rc, "Will not accepted");

    /* Keep alive: the server may impose its own (MQTT 5 Server Keep Alive). */
    bool send_keep_alive = false;
    c->keep_alive = k->keep_alive;
    if (v5 && cfg->server_keep_alive) {
        c->keep_alive = (uint16_t)cfg->server_keep_alive;
        send_keep_alive = true;
    } else if (v5 && (k->keep_alive > cfg->max_keep_alive ||
                      (k->keep_alive == 0 && cfg->max_keep_alive < 65535))) {
        c->keep_alive = (uint16_t)cfg->max_keep_alive;
        send_keep_alive = true;
    }

    uint32_t expiry;
    if (v5)
        expiry = fmq_props_has(kp, FMQ_PROP_SESSION_EXPIRY) ? kp->session_expiry : 0;
    else
        expiry = k->clean_start ? 0 : cfg->v3_session_expiry;
    bool expiry_capped = expiry > cfg->max_session_expiry;
    if (expiry_capped)
        expiry = cfg->max_session_expiry;
    c->session_expiry_at_connect = expiry;

    fb_session_t *s = fb_map_get(b->sessions, id.ptr, id.len);
    bool present = false;
    if (s && s->moved) {
        /* A handoff stub: the session lives on another node. Fetching it
         * failed if this is the resumed CONNECT; the stub goes. */
        if (!b->cluster || c->cluster_checked) {
            fb_broker_session_drop(b, s);
            s = NULL;
        }
    } else if (s) {
        bool ended = false;
        if (s->conn) {
            b->stats.takeovers++;
            FB_INFO("%s: client %s takes over its session from %s", FB_PEER(c), s->client_id,
                    FB_PEER(s->conn));
            /* A session with expiry 0 lasts as long as its network connection
             * (3.1.1: its state MUST NOT be reused): closing that ends it. */
            ended = s->expiry == 0;
            fb_conn_close(s->conn, FMQ_RC_SESSION_TAKEN_OVER, "session taken over");
        }
        if (k->clean_start || ended) {
            if (s->will && s->will_at_ms)
                fb_broker_publish_will(b, s); /* the old session ends: its will goes out */
            fb_broker_session_drop(b, s);
            s = NULL;
        } else {
            present = true;
        }
    }
    /* In a cluster the client id has one owner: claim it, and wait when
     * another node holds the session this CONNECT wants to resume. */
    if (b->cluster && !c->cluster_checked) {
        c->cluster_checked = true;
        if (b->cluster->connect(b->cluster_ctx, c, id, k->clean_start || was_assigned, s)) {
            c->cluster_wait = true;
            fb_msg_unref(will); /* built again when the CONNECT runs again */
            return;
        }
        if (s && s->moved) {
            fb_broker_session_drop(b, s);
            s = NULL;
        }
    }
    if (!s) {
        s = fb_session_new(id.ptr, id.len);
        if (!s || fb_map_put(b->sessions, s->client_id, s->id_len, s) != 0) {
            fb_session_free(s);
            fb_msg_unref(will);
            return fail(c, FMQ_RC_SERVER_BUSY, "out of memory");
        }
    }
    s->expiry = expiry;
    s->conn = c;
    c->session = s;
    fb_session_set_will(s, will, v5 ? k->will_props.will_delay : 0);
    c->state = FB_CONN_ACTIVE;
    b->n_clients++;
    uint64_t took = b->mono_ms >= c->connect_ms ? b->mono_ms - c->connect_ms : 0;
    b->connack.count++;
    b->connack.sum_ms += took;
    if (took > b->connack.max_ms)
        b->connack.max_ms = took > UINT32_MAX ? UINT32_MAX : (uint32_t)took;
    if (v5)
        c->topic_alias_max = (uint16_t)cfg->max_topic_alias;

    fmq_packet_t ack = {.type = FMQ_CONNACK};
    ack.connack.session_present = present;
    if (v5) {
        fmq_props_t *ap = &ack.connack.props;
        ap->present |= FMQ_PROP_BIT(FMQ_PROP_RECEIVE_MAXIMUM) |
                       FMQ_PROP_BIT(FMQ_PROP_MAXIMUM_PACKET_SIZE) |
                       FMQ_PROP_BIT(FMQ_PROP_TOPIC_ALIAS_MAXIMUM);
        ap->receive_maximum = (uint16_t)cfg->max_inflight;
        ap->max_packet_size = cfg->max_packet_size;
        ap->topic_alias_maximum = c->topic_alias_max;
        if (!cfg->retain_available) {
            ap->present |= FMQ_PROP_BIT(FMQ_PROP_RETAIN_AVAILABLE);
            ap->retain_available = 0;
        }
        if (cfg->max_qos < 2) {
            ap->present |= FMQ_PROP_BIT(FMQ_PROP_MAXIMUM_QOS);
            ap->maximum_qos = (uint8_t)cfg->max_qos;
        }
        if (was_assigned) {
            ap->present |= FMQ_PROP_BIT(FMQ_PROP_ASSIGNED_CLIENT_ID);
            ap->assigned_client_id = id;
        }
        if (send_keep_alive) {
            ap->present |= FMQ_PROP_BIT(FMQ_PROP_SERVER_KEEP_ALIVE);
            ap->server_keep_alive = c->keep_alive;
        }
        if (expiry_capped) {
            ap->present |= FMQ_PROP_BIT(FMQ_PROP_SESSION_EXPIRY);
            ap->session_expiry = expiry;
        }
    }
    fb__conn_send(c, &ack);
    FB_DEBUG("%s: client %s connected (v%u, session present %d)", FB_PEER(c), s->client_id,
             c->version, present);
    if (present)
        fb_deliver_resume(c);
}

/* ---- PUBLISH and acknowledgements ---- */

static bool resolve_alias(fb_conn_t *c, fmq_publish_t *p)
{
    if (!fmq_props_has(&p->props, FMQ_PROP_TOPIC_ALIAS))
        return true;
    uint16_t a = p->props.topic_alias;
    if (a > c->topic_alias_max) {
        fail(c, FMQ_RC_TOPIC_ALIAS_INVALID, "Topic Alias above the maximum");
        return false;
    }
    if (!c->aliases) {
        c->aliases = calloc((size_t)c->topic_alias_max + 1, sizeof *c->aliases);
        if (!c->aliases) {
            fail(c, FMQ_RC_SERVER_BUSY, "out of memory");
            return false;
        }
    }
    fmq_bytes_t *slot = &c->aliases[a];
    if (p->topic.len) {
        uint8_t *copy = malloc(p->topic.len);
        if (!copy) {
            fail(c, FMQ_RC_SERVER_BUSY, "out of memory");
            return false;
        }
        memcpy(copy, p->topic.ptr, p->topic.len);
        free((void *)slot->ptr);
        *slot = (fmq_bytes_t){copy, p->topic.len};
    } else if (!slot->len) {
        fail(c, FMQ_RC_PROTOCOL_ERROR, "Topic Alias not set on this connection");
        return false;
    } else {
        p->topic = *slot;
    }
    return true;
}

static void handle_publish(fb_conn_t *c, fmq_publish_t *p)
{
    fb_broker_t *b = c->b;
    const fb_config_t *cfg = b->cfg;
    fb_session_t *s = c->session;
    if (!resolve_alias(c, p))
        return;
    if (p->qos > cfg->max_qos)
        return fail(c, FMQ_RC_QOS_NOT_SUPPORTED, "[MQTT-3.2.2-11] QoS above Maximum QoS");
    if (p->retain && !cfg->retain_available)
        return fail(c, FMQ_RC_RETAIN_NOT_SUPPORTED, "retained messages are not available");
    if (fmq_topic_levels(p->topic) > cfg->max_topic_levels)
        return fail(c, FMQ_RC_TOPIC_NAME_INVALID, "too many topic levels");
    if (p->qos == 2 && fb_session_qos2_has(s, p->packet_id)) {
        send_ack(c, FMQ_PUBREC, p->packet_id, 0); /* a resend: already delivered */
        return;
    }
    if (p->qos == 2 && s->n_qos2_in >= cfg->max_inflight)
        return fail(c, FMQ_RC_RECEIVE_MAXIMUM_EXCEEDED, "more QoS 2 messages than Receive Maximum");
    b->stats.msgs_in[p->qos]++;
    fb_msg_t *m = fb_msg_from_publish(p->topic, &p->props, p->payload,
                                      (fmq_bytes_t){(const uint8_t *)s->client_id, s->id_len},
                                      p->qos, p->retain, b->now_ms);
    if (!m)
        return fail(c, FMQ_RC_SERVER_BUSY, "out of memory");
    if (p->retain)
        fb_broker_retain(b, m);
    uint32_t reached = fb_broker_route(b, m);
    fb_msg_unref(m);
    uint8_t reason = reached ? FMQ_RC_SUCCESS : FMQ_RC_NO_MATCHING_SUBSCRIBERS;
    if (p->qos == 1) {
        send_ack(c, FMQ_PUBACK, p->packet_id, reason);
    } else if (p->qos == 2) {
        if (fb_session_qos2_add(s, p->packet_id))
            return fail(c, FMQ_RC_SERVER_BUSY, "out of memory");
        send_ack(c, FMQ_PUBREC, p->packet_id, reason);
    }
}

static void handle_ack(fb_conn_t *c, fmq_type_t type, const fmq_ack_t *a)
{
    fb_session_t *s = c->session;
    if (type == FMQ_PUBREL) {
        bool had = fb_session_qos2_del(s, a->packet_id);
        send_ack(c, FMQ_PUBCOMP, a->packet_id, had ? 0 : FMQ_RC_PACKET_ID_NOT_FOUND);
        return;
    }
    fb_delivery_t *d = fb_session_inflight_find(s, a->packet_id);
    uint8_t want = type == FMQ_PUBACK   ? FB_WAIT_PUBACK
                   : type == FMQ_PUBREC ? FB_WAIT_PUBREC
                                        : FB_WAIT_PUBCOMP;
    if (!d || d->state != want) {
        if (type == FMQ_PUBREC)
            send_ack(c, FMQ_PUBREL, a->packet_id, FMQ_RC_PACKET_ID_NOT_FOUND);
        return; /* a stale acknowledgement: nothing to do */
    }
    if (type == FMQ_PUBREC && a->reason < 0x80) {
        d->state = FB_WAIT_PUBCOMP;
        send_ack(c, FMQ_PUBREL, a->packet_id, 0);
        return;
    }
    fb_session_inflight_remove(s, d);
    fb_conn_pump(c);
}

/* ---- SUBSCRIBE / UNSUBSCRIBE ---- */

static uint8_t granted_code(fb_conn_t *c, const fmq_sub_entry_t *e)
{
    if (fmq_topic_filter_check(e->filter) != 0)
        return FMQ_RC_TOPIC_FILTER_INVALID;
    if (fmq_topic_levels(e->filter) > c->b->cfg->max_topic_levels)
        return FMQ_RC_TOPIC_FILTER_INVALID;
    uint8_t q = e->qos < c->b->cfg->max_qos ? e->qos : (uint8_t)c->b->cfg->max_qos;
    return q;
}

static void handle_subscribe(fb_conn_t *c, const fmq_subscribe_t *sub)
{
    fb_broker_t *b = c->b;
    fb_session_t *s = c->session;
    uint8_t codes_small[64];
    uint8_t *codes = sub->count <= sizeof codes_small ? codes_small : malloc(sub->count);
    bool *is_new = calloc(sub->count ? sub->count : 1, sizeof *is_new);
    if (!codes || !is_new) {
        if (codes != codes_small)
            free(codes);
        free(is_new);
        return fail(c, FMQ_RC_SERVER_BUSY, "out of memory");
    }
    uint32_t sub_id = 0;
    if (sub->props.n_sub_ids) {
        fmq_prop_t pr;
        uint32_t pos = 0;
        while (fmq_props_iter(&sub->props, &pos, &pr))
            if (pr.id == FMQ_PROP_SUBSCRIPTION_ID)
                sub_id = pr.num;
    }
    fmq_sub_entry_t e;
    uint32_t pos = 0, i = 0;
    while (fmq_sub_iter(sub, &pos, &e)) {
        uint8_t code = granted_code(c, &e);
        if (code < 0x80) {
            fb_sub_opts_t o = {code, e.no_local, e.retain_as_published, e.retain_handling, sub_id};
            int r1 = fb_broker_sub_add(b, s, e.filter, &o);
            int r2 = r1 < 0 ? -1 : fb_session_sub_put(s, e.filter, &o);
            if (r1 < 0 || r2 < 0) {
                if (r1 >= 0)
                    fb_broker_sub_remove(b, s, e.filter);
                code = FMQ_RC_UNSPECIFIED;
            } else {
                is_new[i] = (r1 & FB_SUB_ADDED) != 0;
            }
        }
        if (c->version != FMQ_V5 && code >= 0x80)
            code = FMQ_RC_UNSPECIFIED; /* 3.1.1 knows only 0x80 for failure */
        codes[i++] = code;
    }
    fmq_packet_t ack = {.type = FMQ_SUBACK};
    ack.suback.packet_id = sub->packet_id;
    ack.suback.codes = (fmq_bytes_t){codes, i};
    fb__conn_send(c, &ack);

    /* Retained messages after the SUBACK, as Retain Handling says. */
    pos = 0;
    i = 0;
    while (fmq_sub_iter(sub, &pos, &e)) {
        uint8_t code = codes[i];
        bool new_sub = is_new[i++];
        fmq_bytes_t group, inner;
        if (code >= 0x80 || fmq_topic_share_split(e.filter, &group, &inner))
            continue; /* no retained messages for shared subscriptions */
        if (e.retain_handling == 2 || (e.retain_handling == 1 && !new_sub))
            continue;
        fb_deliver_retained(c, e.filter, code, sub_id);
    }
    if (codes != codes_small)
        free(codes);
    free(is_new);
}

static void handle_unsubscribe(fb_conn_t *c, const fmq_unsubscribe_t *u)
{
    fb_broker_t *b = c->b;
    fb_session_t *s = c->session;
    uint8_t codes_small[64];
    uint8_t *codes = u->count <= sizeof codes_small ? codes_small : malloc(u->count);
    if (!codes)
        return fail(c, FMQ_RC_SERVER_BUSY, "out of memory");
    fmq_bytes_t f;
    uint32_t pos = 0, i = 0;
    while (fmq_unsub_iter(u, &pos, &f)) {
        int r = fb_broker_sub_remove(b, s, f);
        fb_session_sub_del(s, f);
        codes[i++] = (r & FB_SUB_REMOVED) ? FMQ_RC_SUCCESS : FMQ_RC_NO_SUBSCRIPTION_EXISTED;
    }
    fmq_packet_t ack = {.type = FMQ_UNSUBACK};
    ack.suback.packet_id = u->packet_id;
    ack.suback.codes = (fmq_bytes_t){codes, i};
    fb__conn_send(c, &ack);
    if (codes != codes_small)
        free(codes);
}

static void handle_disconnect(fb_conn_t *c, const fmq_disconnect_t *d)
{
    fb_session_t *s = c->session;
    if (fmq_props_has(&d->props, FMQ_PROP_SESSION_EXPIRY)) {
        if (c->session_expiry_at_connect == 0 && d->props.session_expiry != 0)
            return fail(c, FMQ_RC_PROTOCOL_ERROR,
                        "[MQTT-3.14.2-2] Session Expiry set on DISCONNECT after 0 on CONNECT");
        uint32_t e = d->props.session_expiry;
        s->expiry = e > c->b->cfg->max_session_expiry ? c->b->cfg->max_session_expiry : e;
    }
    c->graceful = d->reason != FMQ_RC_DISCONNECT_WITH_WILL;
    fb_conn_close(c, 0, NULL);
}

static void handle(fb_conn_t *c, fmq_packet_t *p)
{
    fmq_err_t err;
    if (p->type != FMQ_CONNECT && c->state != FB_CONN_ACTIVE)
        return fail(c, FMQ_RC_PROTOCOL_ERROR, "[MQTT-3.1.0-1] the first packet must be CONNECT");
    if (fmq_check_direction(p, c->version ? c->version : p->connect.version, FMQ_TO_SERVER, &err) !=
        0)
        return fail(c, err.reason, err.what);
    switch (p->type) {
    case FMQ_CONNECT:
        return handle_connect(c, &p->connect);
    case FMQ_PUBLISH:
        return handle_publish(c, &p->publish);
    case FMQ_PUBACK:
    case FMQ_PUBREC:
    case FMQ_PUBREL:
    case FMQ_PUBCOMP:
        return handle_ack(c, p->type, &p->ack);
    case FMQ_SUBSCRIBE:
        return handle_subscribe(c, &p->subscribe);
    case FMQ_UNSUBSCRIBE:
        return handle_unsubscribe(c, &p->unsubscribe);
    case FMQ_PINGREQ: {
        fmq_packet_t r = {.type = FMQ_PINGRESP};
        fb__conn_send(c, &r);
        return;
    }
    case FMQ_DISCONNECT:
        return handle_disconnect(c, &p->disconnect);
    case FMQ_AUTH:
        return fail(c, FMQ_RC_PROTOCOL_ERROR, "AUTH without an authentication method");
    default:
        return fail(c, FMQ_RC_PROTOCOL_ERROR, "unexpected packet");
    }
}

/* Decodes and applies every whole packet in buf; returns the bytes used. */
static size_t process(fb_conn_t *c, const uint8_t *buf, size_t len)
{
    size_t off = 0;
    while (off < len && c->state != FB_CONN_CLOSING && !c->cluster_wait) {
        fmq_packet_t p;
        p.type = 0; /* fmq_decode leaves p untouched when framing fails */
        fmq_err_t err = {0};
        fmq_decode_opts_t o = {c->state == FB_CONN_NEW ? 0 : c->version,
                               c->b->cfg->max_packet_size};
        int n = fmq_decode(buf + off, len - off, &o, &p, &err);
        if (n == FMQ_NEED_MORE)
            break;
        if (n < 0) {
            if (c->state == FB_CONN_NEW && p.type == FMQ_CONNECT && p.connect.version >= FMQ_V31 &&
                p.connect.version <= FMQ_V5)
                c->version = p.connect.version;
            fail(c, err.reason, err.what);
            break;
        }
        handle(c, &p);
        if (c->cluster_wait)
            break; /* the CONNECT stays in the buffer: it runs again on resume */
        off += (size_t)n;
    }
    return off;
}

/* Runs the packets kept in c->in and keeps what is left. */
static void process_kept(fb_conn_t *c)
{
    size_t used = process(c, c->in, c->in_len);
    if (c->state == FB_CONN_CLOSING)
        return;
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    if (c->in_len == 0 && c->in_cap > 65536) {
        free(c->in); /* a large packet passed: give its buffer back */
        c->in = NULL;
        c->in_cap = 0;
    }
}

void fb_conn_input(fb_conn_t *c, const uint8_t *data, size_t len)
{
    if (c->state == FB_CONN_CLOSING)
        return;
    c->last_rx_ms = c->b->mono_ms;
    c->b->stats.bytes_in += len;
    if (c->in_len == 0 && !c->cluster_wait) {
        size_t used = process(c, data, len);
        data += used;
        len -= used;
        if (len == 0 || c->state == FB_CONN_CLOSING)
            return;
    }
    /* Keep the partial packet; fmq_decode refuses one over max_packet_size
     * as soon as its header is here, so this stays bounded. While the
     * CONNECT waits for the cluster, whole packets pile up behind it:
     * bounded too. */
    size_t bound = (size_t)c->b->cfg->max_packet_size + 65536;
    if (c->cluster_wait && c->in_len + len > bound)
        return fail(c, FMQ_RC_SERVER_BUSY, "too much data before CONNACK");
    if (c->in_len + len > c->in_cap) {
        size_t ncap = c->in_cap ? c->in_cap : 256;
        while (ncap < c->in_len + len)
            ncap *= 2;
        uint8_t *p = realloc(c->in, ncap);
        if (!p)
            return fail(c, FMQ_RC_SERVER_BUSY, "out of memory");
        c->in = p;
        c->in_cap = ncap;
    }
    memcpy(c->in + c->in_len, data, len);
    c->in_len += len;
    if (!c->cluster_wait)
        process_kept(c);
}

void fb_conn_connect_refuse(fb_conn_t *c, uint8_t reason, const char *why)
{
    if (!c->cluster_wait)
        return;
    c->cluster_wait = false;
    FB_INFO("%s: CONNECT refused: %s (0x%02x %s)", FB_PEER(c), why, reason,
            fmq_reason_name(reason) ? fmq_reason_name(reason) : "");
    fb_conn_close(c, reason, why);
}

void fb_conn_connect_resume(fb_conn_t *c)
{
    if (!c->cluster_wait)
        return;
    c->cluster_wait = false;
    if (c->state != FB_CONN_CLOSING)
        process_kept(c);
}
