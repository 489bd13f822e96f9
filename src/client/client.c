/* MQTT client on libuv: connect, session, QoS 0/1/2 both ways, keep alive,
 * reconnect policy. */
#include "client/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One outgoing QoS 1/2 PUBLISH, kept encoded so that a resend only flips DUP
 * and a packet identifier is patched in when it leaves the queue. */
typedef struct out_msg {
    uint8_t *bytes;
    uint32_t len;
    uint32_t pid_off;  /* where the packet identifier sits in bytes */
    uint16_t packet_id;
    uint8_t qos;
    uint8_t state;     /* 0 queued, 1 awaiting PUBACK/PUBREC, 2 awaiting PUBCOMP */
    uint64_t token;
} out_msg_t;

typedef struct sock {
    uv_tcp_t tcp;
    uv_connect_t creq;
    fcl_client_t *c;   /* NULL once the client let go of it */
} sock_t;

typedef struct wreq {
    uv_write_t req;
    uint8_t data[];
} wreq_t;

struct fcl_client {
    uv_loop_t *loop;
    fcl_opts_t o;              /* strings below are our copies */
    char *host, *bind_addr, *client_id, *username, *password, *will_topic;
    uint8_t *will_payload;
    char target_host[64];
    uint16_t target_port;
    char assigned_id[256];
    char server_ref[256];

    fcl_state_t state;
    sock_t *sock;              /* live socket, or NULL */
    uv_timer_t timer;          /* connect timeout / keep alive / reconnect delay */
    uv_check_t flush;          /* flushes `out` once per loop iteration */
    bool flush_on;
    bool freed;                /* fcl_client_free called: release after closes */
    int handles_open;          /* timer + check + sockets not yet closed */

    uint8_t *in;
    size_t in_len, in_cap;
    uint8_t *out;
    size_t out_len, out_cap;

    out_msg_t *inflight;
    uint32_t n_inflight, cap_inflight;
    out_msg_t *queue;          /* ring */
    uint32_t q_head, q_len, q_cap;
    uint16_t *qos2_in;
    uint32_t n_qos2_in, cap_qos2_in;
    uint16_t next_pid;

    uint16_t server_receive_max;
    uint32_t server_max_packet;
    uint16_t keep_alive;       /* as granted */
    uint64_t last_tx_ms;
    bool ping_outstanding;
    uint32_t attempts;         /* reconnect attempts since the last CONNACK */
    uint64_t rng;
    bool final_drop;
    fcl_disconnect_info_t pending_info;
};

static void close_sock(fcl_client_t *c);
static void schedule_or_close(fcl_client_t *c);

static char *dup_str(const char *s)
{
    return s ? strdup(s) : NULL;
}

static uint32_t rnd(fcl_client_t *c)
{
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    return (uint32_t)(c->rng >> 11);
}

static void maybe_release(fcl_client_t *c)
{
    if (!c->freed || c->handles_open > 0)
        return;
    for (uint32_t i = 0; i < c->n_inflight; i++)
        free(c->inflight[i].bytes);
    for (uint32_t i = 0; i < c->q_len; i++)
        free(c->queue[(c->q_head + i) % c->q_cap].bytes);
    free(c->inflight);
    free(c->queue);
    free(c->qos2_in);
    free(c->in);
    free(c->out);
    free(c->host);
    free(c->bind_addr);
    free(c->client_id);
    free(c->username);
    free(c->password);
    free(c->will_topic);
    free(c->will_payload);
    free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    fcl_client_t *c = h->data;
    c->handles_open--;
    maybe_release(c);
}

fcl_client_t *fcl_client_new(uv_loop_t *loop, const fcl_opts_t *o)
{
    fcl_client_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->loop = loop;
    c->o = *o;
    c->host = dup_str(o->host);
    c->bind_addr = dup_str(o->bind_addr);
    c->client_id = dup_str(o->client_id ? o->client_id : "");
    c->username = dup_str(o->username);
    c->password = dup_str(o->password);
    c->will_topic = dup_str(o->will_topic);
    if (o->will_payload.len) {
        c->will_payload = malloc(o->will_payload.len);
        if (c->will_payload)
            memcpy(c->will_payload, o->will_payload.ptr, o->will_payload.len);
    }
    if (!c->o.version)
        c->o.version = FMQ_V5;
    if (!c->o.connect_timeout_ms)
        c->o.connect_timeout_ms = 10000;
    if (!c->o.max_queued)
        c->o.max_queued = 10000;
    if (!c->o.reconnect.delay_ms)
        c->o.reconnect.delay_ms = 100;
    if (!c->o.reconnect.max_delay_ms)
        c->o.reconnect.max_delay_ms = 10000;
    snprintf(c->target_host, sizeof c->target_host, "%s", o->host ? o->host : "127.0.0.1");
    c->target_port = o->port;
    c->next_pid = 1;
    c->rng = (uv_hrtime() ^ (uint64_t)(uintptr_t)c) | 1;
    c->state = FCL_IDLE;
    uv_timer_init(loop, &c->timer);
    uv_check_init(loop, &c->flush);
    c->timer.data = c->flush.data = c;
    c->handles_open = 2;
    return c;
}

fcl_state_t fcl_client_state(const fcl_client_t *c)
{
    return c->state;
}

const char *fcl_client_id(const fcl_client_t *c)
{
    return c->assigned_id[0] ? c->assigned_id : c->client_id;
}

uint32_t fcl_client_inflight(const fcl_client_t *c)
{
    return c->n_inflight;
}

uint32_t fcl_client_queued(const fcl_client_t *c)
{
    return c->q_len;
}

const char *fcl_client_target(const fcl_client_t *c)
{
    static __thread char buf[96]; /* diagnostics only */
    snprintf(buf, sizeof buf, "%s:%u", c->target_host, c->target_port);
    return buf;
}

/* ---- output ---- */

static void on_write(uv_write_t *req, int status)
{
    (void)status; /* a failed write shows up as a read error and a close */
    free(req);
}

static void flush_now(fcl_client_t *c)
{
    if (!c->out_len || !c->sock) {
        c->out_len = 0;
        return;
    }
    uv_stream_t *s = (uv_stream_t *)&c->sock->tcp;
    uv_buf_t b = uv_buf_init((char *)c->out, (unsigned)c->out_len);
    int n = uv_stream_get_write_queue_size(s) ? UV_EAGAIN : uv_try_write(s, &b, 1);
    size_t done = n > 0 ? (size_t)n : 0;
    if (n < 0 && n != UV_EAGAIN) {
        c->out_len = 0;
        return; /* the read side sees the error */
    }
    if (done < c->out_len) {
        size_t rest = c->out_len - done;
        wreq_t *w = malloc(sizeof *w + rest);
        if (w) {
            memcpy(w->data, c->out + done, rest);
            uv_buf_t wb = uv_buf_init((char *)w->data, (unsigned)rest);
            if (uv_write(&w->req, s, &wb, 1, on_write) != 0)
                free(w);
        }
    }
    c->out_len = 0;
}

static void on_check(uv_check_t *h)
{
    fcl_client_t *c = h->data;
    flush_now(c);
    uv_check_stop(h);
    c->flush_on = false;
}

static void out_append(fcl_client_t *c, const uint8_t *d, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        size_t ncap = c->out_cap ? c->out_cap : 512;
        while (ncap < c->out_len + n)
            ncap *= 2;
        uint8_t *p = realloc(c->out, ncap);
        if (!p)
            return;
        c->out = p;
        c->out_cap = ncap;
    }
    memcpy(c->out + c->out_len, d, n);
    c->out_len += n;
    c->last_tx_ms = uv_now(c->loop);
    if (!c->flush_on) {
        c->flush_on = true;
        uv_check_start(&c->flush, on_check);
    }
}

static void send_packet(fcl_client_t *c, const fmq_packet_t *p)
{
    uint8_t small[256];
    fmq_err_t err;
    int n = fmq_encode(p, c->o.version, small, sizeof small, &err);
    if (n <= 0)
        return;
    if ((size_t)n <= sizeof small) {
        out_append(c, small, (size_t)n);
        return;
    }
    uint8_t *big = malloc((size_t)n);
    if (!big)
        return;
    fmq_encode(p, c->o.version, big, (size_t)n, &err);
    out_append(c, big, (size_t)n);
    free(big);
}

static void send_ack(fcl_client_t *c, fmq_type_t type, uint16_t id)
{
    fmq_packet_t p = {.type = type};
    p.ack.packet_id = id;
    send_packet(c, &p);
}

/* ---- outgoing QoS 1/2 ---- */

static uint16_t next_pid(fcl_client_t *c)
{
    for (;;) {
        uint16_t id = c->next_pid++;
        if (!c->next_pid)
            c->next_pid = 1;
        bool used = false;
        for (uint32_t i = 0; i < c->n_inflight && !used; i++)
            used = c->inflight[i].packet_id == id;
        if (id && !used)
            return id;
    }
}

static void pump(fcl_client_t *c)
{
    if (c->state != FCL_CONNECTED)
        return;
    uint32_t window = c->server_receive_max ? c->server_receive_max : 65535;
    while (c->q_len && c->n_inflight < window) {
        if (c->n_inflight == c->cap_inflight) {
            uint32_t ncap = c->cap_inflight ? c->cap_inflight * 2 : 8;
            out_msg_t *p = realloc(c->inflight, ncap * sizeof *p);
            if (!p)
                return;
            c->inflight = p;
            c->cap_inflight = ncap;
        }
        out_msg_t m = c->queue[c->q_head];
        c->q_head = (c->q_head + 1) % c->q_cap;
        c->q_len--;
        m.packet_id = next_pid(c);
        m.bytes[m.pid_off] = (uint8_t)(m.packet_id >> 8);
        m.bytes[m.pid_off + 1] = (uint8_t)m.packet_id;
        m.state = 1;
        c->inflight[c->n_inflight++] = m;
        out_append(c, m.bytes, m.len);
    }
}

static int enqueue(fcl_client_t *c, out_msg_t *m, bool front)
{
    if (c->q_len == c->q_cap) {
        uint32_t ncap = c->q_cap ? c->q_cap * 2 : 16;
        out_msg_t *q = malloc(ncap * sizeof *q);
        if (!q)
            return -1;
        for (uint32_t i = 0; i < c->q_len; i++)
            q[i] = c->queue[(c->q_head + i) % c->q_cap];
        free(c->queue);
        c->queue = q;
        c->q_cap = ncap;
        c->q_head = 0;
    }
    if (front) {
        c->q_head = (c->q_head + c->q_cap - 1) % c->q_cap;
        c->queue[c->q_head] = *m;
    } else {
        c->queue[(c->q_head + c->q_len) % c->q_cap] = *m;
    }
    c->q_len++;
    return 0;
}

int fcl_publish(fcl_client_t *c, fmq_bytes_t topic, fmq_bytes_t payload, uint8_t qos, bool retain,
                const fmq_props_t *props, uint64_t token)
{
    if (c->state == FCL_CLOSED || c->freed || qos > 2)
        return -1;
    fmq_packet_t p = {.type = FMQ_PUBLISH};
    p.publish.qos = qos;
    p.publish.retain = retain;
    p.publish.topic = topic;
    p.publish.payload = payload;
    p.publish.packet_id = qos ? 1 : 0; /* placeholder, patched when sent */
    if (props)
        p.publish.props = *props;
    fmq_err_t err;
    int n = fmq_encode(&p, c->o.version, NULL, 0, &err);
    if (n <= 0)
        return -1;
    if (qos == 0) {
        if (c->state != FCL_CONNECTED)
            return -1;
        uint8_t *tmp = malloc((size_t)n);
        if (!tmp)
            return -1;
        fmq_encode(&p, c->o.version, tmp, (size_t)n, &err);
        out_append(c, tmp, (size_t)n);
        free(tmp);
        if (c->o.cb.on_published)
            c->o.cb.on_published(c, token, 0, c->o.ud);
        return 0;
    }
    if (c->q_len >= c->o.max_queued)
        return -1;
    out_msg_t m = {.qos = qos, .token = token, .len = (uint32_t)n};
    m.bytes = malloc((size_t)n);
    if (!m.bytes)
        return -1;
    fmq_encode(&p, c->o.version, m.bytes, (size_t)n, &err);
    uint32_t hdr = 1;
    while (m.bytes[hdr] & 0x80)
        hdr++;
    m.pid_off = hdr + 1 + 2 + topic.len;
    if (enqueue(c, &m, false) != 0) {
        free(m.bytes);
        return -1;
    }
    pump(c);
    return 0;
}

int fcl_subscribe(fcl_client_t *c, const fmq_sub_entry_t *entries, size_t n, uint32_t sub_id)
{
    if (c->state != FCL_CONNECTED || n == 0)
        return -1;
    fmq_packet_t p = {.type = FMQ_SUBSCRIBE};
    p.subscribe.packet_id = next_pid(c);
    p.subscribe.entries = entries;
    p.subscribe.count = (uint32_t)n;
    if (sub_id) {
        p.subscribe.props.sub_ids = &sub_id;
        p.subscribe.props.n_sub_ids = 1;
    }
    send_packet(c, &p);
    return p.subscribe.packet_id;
}

/* ---- incoming ---- */

static void finish_inflight(fcl_client_t *c, uint32_t i, uint8_t reason)
{
    out_msg_t m = c->inflight[i];
    memmove(&c->inflight[i], &c->inflight[i + 1], (c->n_inflight - i - 1) * sizeof m);
    c->n_inflight--;
    free(m.bytes);
    if (c->o.cb.on_published)
        c->o.cb.on_published(c, m.token, reason, c->o.ud);
}

static int find_inflight(fcl_client_t *c, uint16_t id)
{
    for (uint32_t i = 0; i < c->n_inflight; i++)
        if (c->inflight[i].packet_id == id)
            return (int)i;
    return -1;
}

static bool qos2_seen(fcl_client_t *c, uint16_t id, bool add)
{
    for (uint32_t i = 0; i < c->n_qos2_in; i++)
        if (c->qos2_in[i] == id)
            return true;
    if (add) {
        if (c->n_qos2_in == c->cap_qos2_in) {
            uint32_t ncap = c->cap_qos2_in ? c->cap_qos2_in * 2 : 8;
            uint16_t *p = realloc(c->qos2_in, ncap * sizeof *p);
            if (!p)
                return false;
            c->qos2_in = p;
            c->cap_qos2_in = ncap;
        }
        c->qos2_in[c->n_qos2_in++] = id;
    }
    return false;
}

static void qos2_release(fcl_client_t *c, uint16_t id)
{
    for (uint32_t i = 0; i < c->n_qos2_in; i++) {
        if (c->qos2_in[i] == id) {
            c->qos2_in[i] = c->qos2_in[--c->n_qos2_in];
            return;
        }
    }
}

static void copy_ref(fcl_client_t *c, const fmq_props_t *p)
{
    c->server_ref[0] = 0;
    if (fmq_props_has(p, FMQ_PROP_SERVER_REFERENCE))
        snprintf(c->server_ref, sizeof c->server_ref, "%.*s", (int)p->server_reference.len,
                 (const char *)p->server_reference.ptr);
}

static void on_connack(fcl_client_t *c, const fmq_connack_t *a)
{
    if (a->reason != 0) {
        copy_ref(c, &a->props);
        c->pending_info = (fcl_disconnect_info_t){true, a->reason, 0, false, NULL};
        if (c->o.cb.on_connect)
            c->o.cb.on_connect(c, a->reason, false, c->o.ud);
        close_sock(c);
        return;
    }
    c->state = FCL_CONNECTED;
    c->attempts = 0;
    const fmq_props_t *p = &a->props;
    c->server_receive_max = fmq_props_has(p, FMQ_PROP_RECEIVE_MAXIMUM) ? p->receive_maximum : 0;
    c->server_max_packet = fmq_props_has(p, FMQ_PROP_MAXIMUM_PACKET_SIZE) ? p->max_packet_size : 0;
    if (fmq_props_has(p, FMQ_PROP_ASSIGNED_CLIENT_ID))
        snprintf(c->assigned_id, sizeof c->assigned_id, "%.*s",
                 (int)p->assigned_client_id.len, (const char *)p->assigned_client_id.ptr);
    c->keep_alive = fmq_props_has(p, FMQ_PROP_SERVER_KEEP_ALIVE) ? p->server_keep_alive
                                                                  : c->o.keep_alive;
    if (a->session_present) {
        /* Resend the window as it was ([MQTT-4.4.0-1]), DUP set. */
        for (uint32_t i = 0; i < c->n_inflight; i++) {
            out_msg_t *m = &c->inflight[i];
            if (m->state == 2) {
                send_ack(c, FMQ_PUBREL, m->packet_id);
            } else {
                m->bytes[0] |= 0x08;
                out_append(c, m->bytes, m->len);
            }
        }
    } else {
        /* The server has no session: what was in flight goes out again as
         * new messages, ahead of the queue; incoming QoS 2 state is void. */
        while (c->n_inflight) {
            out_msg_t m = c->inflight[--c->n_inflight];
            m.bytes[0] &= (uint8_t)~0x08;
            m.state = 0;
            enqueue(c, &m, true);
        }
        c->n_qos2_in = 0;
    }
    uv_timer_stop(&c->timer);
    if (c->keep_alive)
        uv_timer_start(&c->timer, NULL, 0, 0); /* replaced below */
    if (c->o.cb.on_connect)
        c->o.cb.on_connect(c, 0, a->session_present, c->o.ud);
    pump(c);
}

static void on_publish(fcl_client_t *c, const fmq_publish_t *p)
{
    bool deliver = true;
    if (p->qos == 2)
        deliver = !qos2_seen(c, p->packet_id, true); /* method B: once per id */
    if (deliver && c->o.cb.on_message) {
        fcl_message_t m = {p->topic, p->payload, p->qos, p->retain, p->dup, &p->props};
        c->o.cb.on_message(c, &m, c->o.ud);
    }
    if (p->qos == 1)
        send_ack(c, FMQ_PUBACK, p->packet_id);
    else if (p->qos == 2)
        send_ack(c, FMQ_PUBREC, p->packet_id);
}

static void handle(fcl_client_t *c, const fmq_packet_t *p)
{
    int i;
    switch (p->type) {
    case FMQ_CONNACK:
        on_connack(c, &p->connack);
        break;
    case FMQ_PUBLISH:
        on_publish(c, &p->publish);
        break;
    case FMQ_PUBACK:
        if ((i = find_inflight(c, p->ack.packet_id)) >= 0 && c->inflight[i].qos == 1)
            finish_inflight(c, (uint32_t)i, p->ack.reason);
        pump(c);
        break;
    case FMQ_PUBREC:
        if ((i = find_inflight(c, p->ack.packet_id)) >= 0 && c->inflight[i].qos == 2) {
            if (p->ack.reason >= 0x80) {
                finish_inflight(c, (uint32_t)i, p->ack.reason);
            } else {
                c->inflight[i].state = 2;
                send_ack(c, FMQ_PUBREL, p->ack.packet_id);
            }
        } else {
            send_ack(c, FMQ_PUBREL, p->ack.packet_id);
        }
        pump(c);
        break;
    case FMQ_PUBCOMP:
        if ((i = find_inflight(c, p->ack.packet_id)) >= 0 && c->inflight[i].state == 2)
            finish_inflight(c, (uint32_t)i, p->ack.reason);
        pump(c);
        break;
    case FMQ_PUBREL:
        qos2_release(c, p->ack.packet_id);
        send_ack(c, FMQ_PUBCOMP, p->ack.packet_id);
        break;
    case FMQ_SUBACK:
        if (c->o.cb.on_subscribed)
            c->o.cb.on_subscribed(c, p->suback.packet_id, p->suback.codes.ptr,
                                  p->suback.codes.len, c->o.ud);
        break;
    case FMQ_PINGRESP:
        c->ping_outstanding = false;
        break;
    case FMQ_DISCONNECT:
        copy_ref(c, &p->disconnect.props);
        c->pending_info = (fcl_disconnect_info_t){true, p->disconnect.reason, 0, false, NULL};
        close_sock(c);
        break;
    default:
        break;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    sock_t *s = h->data;
    fcl_client_t *c = s->c;
    size_t want = 4096;
    if (c && c->in_cap - c->in_len < want) {
        size_t ncap = c->in_cap ? c->in_cap : 4096;
        while (ncap - c->in_len < want)
            ncap *= 2;
        uint8_t *p = realloc(c->in, ncap);
        if (p) {
            c->in = p;
            c->in_cap = ncap;
        }
    }
    if (!c || c->in_cap - c->in_len == 0) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    *buf = uv_buf_init((char *)c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    sock_t *s = st->data;
    fcl_client_t *c = s->c;
    if (!c)
        return;
    if (nread < 0) {
        c->pending_info.sys_error = (int)nread;
        close_sock(c);
        return;
    }
    c->in_len += (size_t)nread;
    size_t off = 0;
    while (c->sock == s && off < c->in_len) {
        fmq_packet_t p;
        fmq_err_t err;
        fmq_decode_opts_t o = {c->o.version, 0};
        int n = fmq_decode(c->in + off, c->in_len - off, &o, &p, &err);
        if (n == FMQ_NEED_MORE)
            break;
        if (n < 0) {
            c->pending_info = (fcl_disconnect_info_t){false, err.reason, 0, false, NULL};
            close_sock(c);
            return;
        }
        handle(c, &p);
        off += (size_t)n;
    }
    if (c->sock != s)
        return;
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
}

/* ---- connection lifecycle ---- */

static void on_sock_closed(uv_handle_t *h)
{
    sock_t *s = h->data;
    fcl_client_t *c = s->c;
    free(s);
    if (c) {
        c->handles_open--;
        maybe_release(c);
    }
}

static uint32_t backoff(fcl_client_t *c)
{
    const fcl_reconnect_policy_t *r = &c->o.reconnect;
    uint64_t d = r->delay_ms;
    if (r->kind == FCL_RECONNECT_EXPONENTIAL)
        for (uint32_t i = 1; i < c->attempts && d < r->max_delay_ms; i++)
            d *= 2;
    if (d > r->max_delay_ms)
        d = r->max_delay_ms;
    if (r->jitter_pct && d) {
        uint64_t span = d * r->jitter_pct / 100;
        if (span)
            d = d - span + rnd(c) % (2 * span + 1);
    }
    return (uint32_t)d;
}

static int connect_now(fcl_client_t *c);

static void on_timer(uv_timer_t *t)
{
    fcl_client_t *c = t->data;
    switch (c->state) {
    case FCL_WAITING:
        connect_now(c);
        break;
    case FCL_CONNECTING:
        c->pending_info = (fcl_disconnect_info_t){false, 0, UV_ETIMEDOUT, false, NULL};
        close_sock(c);
        break;
    case FCL_CONNECTED:
        if (c->ping_outstanding) { /* no PINGRESP within a keep alive */
            c->pending_info = (fcl_disconnect_info_t){false, 0, UV_ETIMEDOUT, false, NULL};
            close_sock(c);
            return;
        }
        {
            fmq_packet_t p = {.type = FMQ_PINGREQ};
            send_packet(c, &p);
            c->ping_outstanding = true;
        }
        break;
    default:
        break;
    }
}

/* The socket is gone (or never was): tell the user, then reconnect or stop. */
static void schedule_or_close(fcl_client_t *c)
{
    fcl_disconnect_info_t info = c->pending_info;
    c->pending_info = (fcl_disconnect_info_t){0};
    const fcl_reconnect_policy_t *r = &c->o.reconnect;
    bool again = !c->final_drop && !c->freed && r->kind != FCL_RECONNECT_NONE &&
                 c->state != FCL_CLOSED && (!r->max_attempts || c->attempts < r->max_attempts);
    if (again && r->follow_server_reference && c->server_ref[0] &&
        (info.reason == FMQ_RC_USE_ANOTHER_SERVER || info.reason == FMQ_RC_SERVER_MOVED)) {
        const char *colon = strrchr(c->server_ref, ':');
        if (colon) {
            snprintf(c->target_host, sizeof c->target_host, "%.*s",
                     (int)(colon - c->server_ref), c->server_ref);
            c->target_port = (uint16_t)atoi(colon + 1);
        }
    }
    info.will_reconnect = again;
    info.server_reference = c->server_ref[0] ? c->server_ref : NULL;
    c->state = again ? FCL_WAITING : FCL_CLOSED;
    c->ping_outstanding = false;
    uv_timer_stop(&c->timer);
    if (again) {
        c->attempts++;
        uv_timer_start(&c->timer, on_timer, backoff(c), 0);
    }
    if (c->o.cb.on_disconnect && !c->freed)
        c->o.cb.on_disconnect(c, &info, c->o.ud);
}

static void close_sock(fcl_client_t *c)
{
    sock_t *s = c->sock;
    if (!s)
        return;
    flush_now(c);
    c->sock = NULL;
    c->in_len = 0;
    c->out_len = 0;
    uv_close((uv_handle_t *)&s->tcp, on_sock_closed);
    schedule_or_close(c);
}

static void on_connected(uv_connect_t *req, int status)
{
    sock_t *s = req->data;
    fcl_client_t *c = s->c;
    if (!c || c->sock != s)
        return;
    if (status < 0) {
        c->pending_info = (fcl_disconnect_info_t){false, 0, status, false, NULL};
        close_sock(c);
        return;
    }
    uv_tcp_nodelay(&s->tcp, 1);
    fmq_packet_t p = {.type = FMQ_CONNECT};
    fmq_connect_t *k = &p.connect;
    k->clean_start = c->o.clean_start;
    k->keep_alive = c->o.keep_alive;
    k->client_id = fmq_cstr(c->client_id);
    if (c->username) {
        k->has_username = true;
        k->username = fmq_cstr(c->username);
    }
    if (c->password) {
        k->has_password = true;
        k->password = fmq_cstr(c->password);
    }
    if (c->will_topic) {
        k->will_flag = true;
        k->will_topic = fmq_cstr(c->will_topic);
        k->will_payload = (fmq_bytes_t){c->will_payload, c->o.will_payload.len};
        k->will_qos = c->o.will_qos;
        k->will_retain = c->o.will_retain;
        if (c->o.will_delay) {
            k->will_props.present |= FMQ_PROP_BIT(FMQ_PROP_WILL_DELAY);
            k->will_props.will_delay = c->o.will_delay;
        }
    }
    if (c->o.session_expiry) {
        k->props.present |= FMQ_PROP_BIT(FMQ_PROP_SESSION_EXPIRY);
        k->props.session_expiry = c->o.session_expiry;
    }
    if (c->o.receive_maximum) {
        k->props.present |= FMQ_PROP_BIT(FMQ_PROP_RECEIVE_MAXIMUM);
        k->props.receive_maximum = c->o.receive_maximum;
    }
    send_packet(c, &p);
    uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
}

static int connect_now(fcl_client_t *c)
{
    struct sockaddr_storage addr;
    int rc = strchr(c->target_host, ':')
                 ? uv_ip6_addr(c->target_host, c->target_port, (struct sockaddr_in6 *)&addr)
                 : uv_ip4_addr(c->target_host, c->target_port, (struct sockaddr_in *)&addr);
    if (rc != 0) {
        c->pending_info = (fcl_disconnect_info_t){false, 0, rc, false, NULL};
        c->final_drop = true;
        schedule_or_close(c);
        return rc;
    }
    sock_t *s = calloc(1, sizeof *s);
    if (!s)
        return UV_ENOMEM;
    s->c = c;
    uv_tcp_init(c->loop, &s->tcp);
    s->tcp.data = s;
    s->creq.data = s;
    c->handles_open++;
    c->sock = s;
    c->state = FCL_CONNECTING;
    if (c->bind_addr) {
        struct sockaddr_in src;
        if (uv_ip4_addr(c->bind_addr, 0, &src) == 0)
            uv_tcp_bind(&s->tcp, (struct sockaddr *)&src, 0);
    }
    rc = uv_tcp_connect(&s->creq, &s->tcp, (struct sockaddr *)&addr, on_connected);
    if (rc != 0) {
        c->pending_info = (fcl_disconnect_info_t){false, 0, rc, false, NULL};
        close_sock(c);
        return rc;
    }
    uv_timer_start(&c->timer, on_timer, c->o.connect_timeout_ms, 0);
    return 0;
}

int fcl_client_start(fcl_client_t *c)
{
    if (c->state != FCL_IDLE && c->state != FCL_CLOSED)
        return 0;
    c->final_drop = false;
    c->attempts = 0;
    return connect_now(c);
}

void fcl_client_stop(fcl_client_t *c, uint8_t reason)
{
    if (c->state == FCL_CONNECTED) {
        fmq_packet_t p = {.type = FMQ_DISCONNECT};
        p.disconnect.reason = reason;
        send_packet(c, &p);
    }
    c->final_drop = true;
    if (c->sock)
        close_sock(c);
    c->state = FCL_CLOSED;
    uv_timer_stop(&c->timer);
}

void fcl_client_drop(fcl_client_t *c, bool final)
{
    c->final_drop = final;
    c->out_len = 0; /* a crash sends nothing more */
    if (c->sock)
        close_sock(c);
}

void fcl_client_free(fcl_client_t *c)
{
    if (!c || c->freed)
        return;
    c->freed = true;
    if (c->sock) {
        c->sock->c = NULL; /* its close callback must not touch us */
        uv_close((uv_handle_t *)&c->sock->tcp, on_sock_closed);
        c->sock = NULL;
        c->handles_open--;
    }
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->flush, on_handle_closed);
}
