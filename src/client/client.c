/* MQTT client on libuv: connect, session, QoS 0/1/2 both ways, keep alive,
 * reconnect policy, live takeover. One socket at a time per client, two
 * during a takeover (the old one still read until the server ends it).
 * Output is encoded into `out` and written once per loop iteration from a
 * uv_prepare handle, i.e. before the loop blocks, so what a timer callback
 * sends (a PINGREQ, a paced PUBLISH) leaves at once instead of waiting for
 * the next wake-up. Buffers are released whenever they are empty: an idle
 * client holds none. */
#include "client/client.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>

#define READ_CHUNK 16384 /* bytes asked of the kernel per read */
#define FLUSH_AT 65536   /* buffered output past this is written at once */
/* 3.1.1 has no Receive Maximum, yet servers limit unacknowledged QoS 2
 * messages all the same (ferrymq closes the connection past max_inflight,
 * 32 by default): paho's and mosquitto's window is 20, so is ours. */
#define V311_WINDOW 20

/* One outgoing QoS 1/2 PUBLISH, kept encoded so that a resend only flips DUP
 * and a packet identifier is patched in when it leaves the queue. */
typedef struct out_msg {
    uint8_t *bytes;
    uint32_t len;
    uint32_t pid_off; /* where the packet identifier sits in bytes */
    uint16_t packet_id;
    uint8_t qos;
    uint8_t state; /* 0 queued, 1 awaiting PUBACK/PUBREC, 2 awaiting PUBCOMP,
                      3 awaiting PUBCOMP to a resent PUBREL */
    uint64_t token;
} out_msg_t;

/* A socket outlives its client's interest in it (it closes asynchronously),
 * so it is a separate allocation that points back while it matters. */
typedef struct sock {
    uv_tcp_t tcp;
    uv_connect_t creq;
    fcl_client_t *c; /* NULL once the client let go of it */
    uint8_t *in;     /* input not yet decoded; exists only while it holds bytes */
    uint32_t in_len, in_cap;
    bool connected; /* a CONNACK 0 came on this socket */
    bool closing;   /* uv_close called: read nothing more */
} sock_t;

typedef struct wreq {
    uv_write_t req;
    uint8_t data[];
} wreq_t;

struct fcl_client {
    uv_loop_t *loop;
    fcl_opts_t o;   /* its strings and will payload are our copies */
    char *ref_host; /* host of a followed Server Reference, or NULL */
    uint16_t target_port;
    char *assigned_id; /* Assigned Client Identifier, or NULL */
    char *server_ref;  /* Server Reference of the last refusal, or NULL */

    fcl_state_t state;
    sock_t *sock;       /* live socket, or NULL; the new one during a takeover */
    sock_t *old;        /* takeover: the connection being taken over, or NULL */
    char *tk_prev_host; /* takeover until CONNACK: the address to go back to */
    uint16_t tk_prev_port;
    bool tk_active;           /* takeover started, no CONNACK 0 on the new socket yet */
    uint64_t old_deadline_ms; /* the old socket is closed then at the latest */
    uint64_t ka_due_ms;       /* when the armed keep-alive check is due */
    uv_timer_t timer;         /* connect timeout / keep alive / reconnect delay */
    uv_prepare_t flush;       /* writes `out` before the loop blocks */
    bool flush_on;
    bool freed; /* fcl_client_free called: release after closes */
    bool final_drop;
    bool ping_outstanding;
    int handles_open; /* timer + prepare + sockets not yet closed */

    uint8_t *out;
    size_t out_len, out_cap;

    out_msg_t *inflight;
    uint32_t n_inflight, cap_inflight;
    out_msg_t *queue; /* ring */
    uint32_t q_head, q_len, q_cap;
    uint16_t *qos2_in; /* incoming QoS 2 ids awaiting PUBREL */
    uint32_t n_qos2_in, cap_qos2_in;
    uint16_t next_pid;
    uint32_t resent; /* QoS 1/2 resends on resumed sessions */

    uint16_t server_receive_max;
    uint16_t keep_alive; /* as granted */
    uint64_t last_tx_ms;
    uint32_t attempts; /* reconnect attempts since the last CONNACK 0 */
    uint64_t rng;
    fcl_disconnect_info_t pending_info;
};

/* Callbacks never fire after fcl_client_free. */
#define CB(c, name, ...)                                                                           \
    do {                                                                                           \
        if (!(c)->freed && (c)->o.cb.name)                                                         \
            (c)->o.cb.name((c), __VA_ARGS__, (c)->o.ud);                                           \
    } while (0)

static void close_sock(fcl_client_t *c);
static void schedule_or_close(fcl_client_t *c);
static void on_timer(uv_timer_t *t);

static char *dup_str(const char *s)
{
    return s ? strdup(s) : NULL;
}

static char *dup_bytes(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = 0;
    }
    return s;
}

static uint32_t rnd(fcl_client_t *c)
{
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    return (uint32_t)(c->rng >> 11);
}

static void set_info(fcl_client_t *c, bool by_server, uint8_t reason, int sys_error)
{
    c->pending_info =
        (fcl_disconnect_info_t){.by_server = by_server, .reason = reason, .sys_error = sys_error};
}

static void free_strings(fcl_client_t *c)
{
    free((char *)c->o.host);
    free((char *)c->o.bind_addr);
    free((char *)c->o.client_id);
    free((char *)c->o.username);
    free((char *)c->o.password);
    free((char *)c->o.will_topic);
    free((void *)c->o.will_payload.ptr);
    free(c->ref_host);
    free(c->tk_prev_host);
    free(c->assigned_id);
    free(c->server_ref);
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
    free(c->out);
    free_strings(c);
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
    /* Our copies replace the caller's pointers, so `o` never dangles. */
    c->o.host = dup_str(o->host ? o->host : "127.0.0.1");
    c->o.bind_addr = dup_str(o->bind_addr);
    c->o.client_id = dup_str(o->client_id ? o->client_id : "");
    c->o.username = dup_str(o->username);
    c->o.password = dup_str(o->password);
    c->o.will_topic = dup_str(o->will_topic);
    c->o.will_payload.ptr = NULL;
    if (o->will_payload.len)
        c->o.will_payload.ptr =
            (const uint8_t *)dup_bytes(o->will_payload.ptr, o->will_payload.len);
    if (!c->o.host || !c->o.client_id || (o->bind_addr && !c->o.bind_addr) ||
        (o->username && !c->o.username) || (o->password && !c->o.password) ||
        (o->will_topic && !c->o.will_topic) || (o->will_payload.len && !c->o.will_payload.ptr))
        goto fail;
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
    c->target_port = o->port;
    c->next_pid = 1;
    c->rng = (uv_hrtime() ^ (uint64_t)(uintptr_t)c) | 1;
    c->state = FCL_IDLE;
    uv_timer_init(loop, &c->timer);
    uv_prepare_init(loop, &c->flush);
    c->timer.data = c->flush.data = c;
    c->handles_open = 2;
    return c;
fail:
    free_strings(c);
    free(c);
    return NULL;
}

fcl_state_t fcl_client_state(const fcl_client_t *c)
{
    return c->state;
}

const char *fcl_client_id(const fcl_client_t *c)
{
    return c->assigned_id ? c->assigned_id : c->o.client_id;
}

uint32_t fcl_client_inflight(const fcl_client_t *c)
{
    return c->n_inflight;
}

uint32_t fcl_client_queued(const fcl_client_t *c)
{
    return c->q_len;
}

uint32_t fcl_client_resent(const fcl_client_t *c)
{
    return c->resent;
}

size_t fcl_client_pending_bytes(const fcl_client_t *c)
{
    size_t n = c->out_len;
    if (c->sock)
        n += uv_stream_get_write_queue_size((const uv_stream_t *)&c->sock->tcp);
    return n;
}

size_t fcl_client_unsent_bytes(const fcl_client_t *c)
{
    size_t n = fcl_client_pending_bytes(c);
    uv_os_fd_t fd;
    int queued = 0;
    if (c->sock && uv_fileno((const uv_handle_t *)&c->sock->tcp, &fd) == 0 &&
        ioctl(fd, SIOCOUTQ, &queued) == 0 && queued > 0)
        n += (size_t)queued;
    return n;
}

char *fcl_client_target(const fcl_client_t *c, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%u", c->ref_host ? c->ref_host : c->o.host, c->target_port);
    return buf;
}

/* ---- output ---- */

static void on_write(uv_write_t *req, int status)
{
    (void)status; /* a failed write shows up as a read error and a close */
    free(req);
}

static void sock_write(sock_t *sk, const uint8_t *d, size_t len)
{
    uv_stream_t *s = (uv_stream_t *)&sk->tcp;
    uv_buf_t b = uv_buf_init((char *)d, (unsigned)len);
    /* Bytes already queued in libuv must go first: no try_write then. */
    int n = uv_stream_get_write_queue_size(s) ? UV_EAGAIN : uv_try_write(s, &b, 1);
    size_t done = n > 0 ? (size_t)n : 0;
    if (n >= 0 || n == UV_EAGAIN) {
        if (done < len) {
            size_t rest = len - done;
            wreq_t *w = malloc(sizeof *w + rest);
            if (w) {
                memcpy(w->data, d + done, rest);
                uv_buf_t wb = uv_buf_init((char *)w->data, (unsigned)rest);
                if (uv_write(&w->req, s, &wb, 1, on_write) != 0)
                    free(w);
            }
        }
    } /* else: the read side sees the error and closes */
}

static void flush_now(fcl_client_t *c)
{
    if (c->out_len && c->sock)
        sock_write(c->sock, c->out, c->out_len);
    c->out_len = 0;
    free(c->out); /* an idle client keeps no buffer */
    c->out = NULL;
    c->out_cap = 0;
}

static void on_prepare(uv_prepare_t *h)
{
    fcl_client_t *c = h->data;
    flush_now(c);
    uv_prepare_stop(h);
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
            return; /* dropped: a QoS 1/2 message is resent after a reconnect */
        c->out = p;
        c->out_cap = ncap;
    }
    memcpy(c->out + c->out_len, d, n);
    c->out_len += n;
    c->last_tx_ms = uv_now(c->loop);
    if (c->out_len >= FLUSH_AT) {
        flush_now(c);
    } else if (!c->flush_on) {
        c->flush_on = true;
        uv_prepare_start(&c->flush, on_prepare);
    }
}

/* Encodes p for socket s: the client's output buffer when s is the live
 * socket, else (the old socket of a takeover, which answers only what
 * arrives on it) written at once. */
static void send_packet_on(fcl_client_t *c, sock_t *s, const fmq_packet_t *p)
{
    uint8_t small[256];
    fmq_err_t err;
    int n = fmq_encode(p, c->o.version, small, sizeof small, &err);
    if (n <= 0)
        return;
    uint8_t *big = NULL;
    if ((size_t)n > sizeof small) {
        big = malloc((size_t)n);
        if (!big)
            return;
        fmq_encode(p, c->o.version, big, (size_t)n, &err);
    }
    const uint8_t *bytes = big ? big : small;
    if (s == c->sock)
        out_append(c, bytes, (size_t)n);
    else if (s && !s->closing)
        sock_write(s, bytes, (size_t)n);
    free(big);
}

static void send_packet(fcl_client_t *c, const fmq_packet_t *p)
{
    send_packet_on(c, c->sock, p);
}

static void send_ack(fcl_client_t *c, sock_t *s, fmq_type_t type, uint16_t id)
{
    fmq_packet_t p = {.type = type};
    p.ack.packet_id = id;
    send_packet_on(c, s, &p);
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

static uint32_t window(const fcl_client_t *c)
{
    if (c->o.version != FMQ_V5)
        return c->o.max_inflight ? c->o.max_inflight : V311_WINDOW;
    /* [MQTT-3.2.2.3.3]: no Receive Maximum in the CONNACK means 65535. */
    uint32_t w = c->server_receive_max ? c->server_receive_max : 65535;
    if (c->o.max_inflight && c->o.max_inflight < w)
        w = c->o.max_inflight;
    return w;
}

static void pump(fcl_client_t *c)
{
    if (c->state != FCL_CONNECTED)
        return;
    uint32_t w = window(c);
    while (c->q_len && c->n_inflight < w) {
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
    if (c->q_len == 0 && c->queue) { /* nothing waits: an idle client keeps no ring */
        free(c->queue);
        c->queue = NULL;
        c->q_cap = c->q_head = 0;
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
    if (qos == 0 && c->state != FCL_CONNECTED)
        return -1;
    if (qos > 0 && c->q_len >= c->o.max_queued)
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
    uint8_t *bytes = malloc((size_t)n);
    if (!bytes)
        return -1;
    fmq_encode(&p, c->o.version, bytes, (size_t)n, &err);
    if (qos == 0) {
        out_append(c, bytes, (size_t)n);
        free(bytes);
        CB(c, on_published, token, 0);
        return 0;
    }
    out_msg_t m = {.bytes = bytes, .qos = qos, .token = token, .len = (uint32_t)n};
    uint32_t hdr = 1; /* the Remaining Length's last byte */
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

int fcl_unsubscribe(fcl_client_t *c, const fmq_bytes_t *filters, size_t n)
{
    if (c->state != FCL_CONNECTED || n == 0)
        return -1;
    fmq_packet_t p = {.type = FMQ_UNSUBSCRIBE};
    p.unsubscribe.packet_id = next_pid(c);
    p.unsubscribe.filters = filters;
    p.unsubscribe.count = (uint32_t)n;
    send_packet(c, &p);
    return p.unsubscribe.packet_id;
}

/* ---- incoming ---- */

static void finish_inflight(fcl_client_t *c, uint32_t i, uint8_t reason)
{
    out_msg_t m = c->inflight[i];
    memmove(&c->inflight[i], &c->inflight[i + 1], (c->n_inflight - i - 1) * sizeof m);
    c->n_inflight--;
    free(m.bytes);
    if (c->n_inflight == 0) {
        free(c->inflight);
        c->inflight = NULL;
        c->cap_inflight = 0;
    }
    CB(c, on_published, m.token, reason);
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
    free(c->server_ref);
    c->server_ref = NULL;
    if (fmq_props_has(p, FMQ_PROP_SERVER_REFERENCE))
        c->server_ref = dup_bytes(p->server_reference.ptr, p->server_reference.len);
}

/* Arms the timer for the next keep-alive check (when `keep_alive` seconds
 * will have passed since we last sent anything) or, after a takeover, the
 * end of the old socket's grace, whichever comes first. */
static void arm_keepalive(fcl_client_t *c)
{
    uint64_t now = uv_now(c->loop), due = UINT64_MAX;
    c->ka_due_ms = UINT64_MAX;
    if (c->keep_alive)
        due = c->ka_due_ms = c->last_tx_ms + (uint64_t)c->keep_alive * 1000;
    if (c->old && c->old_deadline_ms < due)
        due = c->old_deadline_ms;
    if (due == UINT64_MAX)
        return;
    uv_timer_start(&c->timer, on_timer, due > now ? due - now : 0, 0);
}

static void sock_close(fcl_client_t *c, sock_t *s);

/* The old connection of a takeover ended (the server's DISCONNECT 0x8E, as
 * a rule): reported, never final, the client goes on. */
static void close_old(fcl_client_t *c, bool by_server, uint8_t reason, int sys_error)
{
    sock_t *s = c->old;
    if (!s)
        return;
    c->old = NULL;
    sock_close(c, s);
    fcl_disconnect_info_t info = {.by_server = by_server,
                                  .was_connected = true,
                                  .reason = reason,
                                  .sys_error = sys_error,
                                  .takeover = true,
                                  .will_reconnect = c->state != FCL_CLOSED && !c->final_drop};
    CB(c, on_disconnect, &info);
}

static void on_connack(fcl_client_t *c, const fmq_connack_t *a)
{
    if (c->state != FCL_CONNECTING)
        return; /* a second CONNACK: ignore */
    if (a->reason != 0) {
        copy_ref(c, &a->props);
        set_info(c, true, a->reason, 0);
        CB(c, on_connect, a->reason, false);
        close_sock(c);
        return;
    }
    c->state = FCL_CONNECTED;
    c->sock->connected = true;
    c->attempts = 0;
    if (c->tk_active) { /* the takeover is through: its address is ours now */
        c->tk_active = false;
        free(c->tk_prev_host);
        c->tk_prev_host = NULL;
        /* The session lives here now; the old socket gets a little while
         * for the server's DISCONNECT, so that its reason is what we report. */
        c->old_deadline_ms = uv_now(c->loop) + FCL_TAKEOVER_GRACE_MS;
    }
    free(c->server_ref);
    c->server_ref = NULL;
    const fmq_props_t *p = &a->props;
    c->server_receive_max = fmq_props_has(p, FMQ_PROP_RECEIVE_MAXIMUM) ? p->receive_maximum : 0;
    if (fmq_props_has(p, FMQ_PROP_ASSIGNED_CLIENT_ID)) {
        free(c->assigned_id);
        c->assigned_id = dup_bytes(p->assigned_client_id.ptr, p->assigned_client_id.len);
    }
    c->keep_alive =
        fmq_props_has(p, FMQ_PROP_SERVER_KEEP_ALIVE) ? p->server_keep_alive : c->o.keep_alive;
    if (a->session_present) {
        /* Resend the window as it was ([MQTT-4.4.0-1]), DUP set. */
        c->resent += c->n_inflight;
        for (uint32_t i = 0; i < c->n_inflight; i++) {
            out_msg_t *m = &c->inflight[i];
            if (m->state >= 2) {
                m->state = 3;
                send_ack(c, c->sock, FMQ_PUBREL, m->packet_id);
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
    uv_timer_stop(&c->timer); /* the connect timeout */
    arm_keepalive(c);
    CB(c, on_connect, 0, a->session_present);
    pump(c);
}

static void on_publish(fcl_client_t *c, sock_t *s, const fmq_publish_t *p)
{
    bool deliver = true;
    if (p->qos == 2)
        deliver = !qos2_seen(c, p->packet_id, true); /* method B: once per id */
    if (deliver) {
        fcl_message_t m = {p->topic, p->payload, p->qos, p->retain, p->dup, &p->props};
        CB(c, on_message, &m);
    }
    if (p->qos == 1)
        send_ack(c, s, FMQ_PUBACK, p->packet_id);
    else if (p->qos == 2)
        send_ack(c, s, FMQ_PUBREC, p->packet_id);
}

/* One packet from socket s: the live one, or the old one of a takeover,
 * whose answers go back on it. */
static void handle(fcl_client_t *c, sock_t *s, const fmq_packet_t *p)
{
    int i;
    if (s == c->old) {
        if (p->type == FMQ_DISCONNECT) {
            close_old(c, true, p->disconnect.reason, 0);
            return;
        }
        /* Once the new connection has its CONNACK the session lives there
         * and the server resends from it what matters; a CONNACK here would
         * be a second one. */
        if (c->state == FCL_CONNECTED || p->type == FMQ_CONNACK)
            return;
    } else if (p->type != FMQ_CONNACK && !s->connected) {
        /* Anything before CONNACK is a protocol error ([MQTT-3.2.0-1]). */
        set_info(c, false, FMQ_RC_PROTOCOL_ERROR, 0);
        close_sock(c);
        return;
    }
    switch (p->type) {
    case FMQ_CONNACK:
        on_connack(c, &p->connack);
        break;
    case FMQ_PUBLISH:
        on_publish(c, s, &p->publish);
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
                if (c->inflight[i].state < 2)
                    c->inflight[i].state = 2;
                send_ack(c, s, FMQ_PUBREL, p->ack.packet_id);
            }
        } else {
            send_ack(c, s, FMQ_PUBREL, p->ack.packet_id);
        }
        pump(c);
        break;
    case FMQ_PUBCOMP:
        if ((i = find_inflight(c, p->ack.packet_id)) >= 0 && c->inflight[i].state >= 2) {
            /* 0x92 to a resent PUBREL: the first one, on the connection
             * that ended, had completed the flow; the PUBREC accepted the
             * message, so the application hears success. */
            bool done_before =
                c->inflight[i].state == 3 && p->ack.reason == FMQ_RC_PACKET_ID_NOT_FOUND;
            finish_inflight(c, (uint32_t)i, done_before ? 0 : p->ack.reason);
        }
        pump(c);
        break;
    case FMQ_PUBREL:
        qos2_release(c, p->ack.packet_id);
        send_ack(c, s, FMQ_PUBCOMP, p->ack.packet_id);
        break;
    case FMQ_SUBACK:
        CB(c, on_subscribed, p->suback.packet_id, p->suback.codes.ptr, p->suback.codes.len);
        break;
    case FMQ_UNSUBACK:
        CB(c, on_unsubscribed, p->suback.packet_id, p->suback.codes.ptr, p->suback.codes.len);
        break;
    case FMQ_PINGRESP:
        c->ping_outstanding = false;
        break;
    case FMQ_DISCONNECT:
        copy_ref(c, &p->disconnect.props);
        set_info(c, true, p->disconnect.reason, 0);
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
    if (s->c && !s->closing && s->in_cap - s->in_len < READ_CHUNK) {
        size_t ncap = s->in_cap ? s->in_cap : READ_CHUNK;
        while (ncap - s->in_len < READ_CHUNK)
            ncap *= 2;
        uint8_t *p = ncap <= UINT32_MAX ? realloc(s->in, ncap) : NULL;
        if (p) {
            s->in = p;
            s->in_cap = (uint32_t)ncap;
        }
    }
    if (!s->c || s->closing || s->in_cap == s->in_len) {
        *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS: we close */
        return;
    }
    *buf = uv_buf_init((char *)s->in + s->in_len, s->in_cap - s->in_len);
}

static void release_input(sock_t *s)
{
    free(s->in);
    s->in = NULL;
    s->in_len = s->in_cap = 0;
}

/* Socket s failed or sent what we cannot decode: end it. */
static void sock_failed(fcl_client_t *c, sock_t *s, uint8_t reason, int sys_error)
{
    if (s == c->old) {
        close_old(c, false, reason, sys_error);
    } else {
        set_info(c, false, reason, sys_error);
        close_sock(c);
    }
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    sock_t *s = st->data;
    fcl_client_t *c = s->c;
    if (!c || s->closing)
        return;
    if (nread < 0) {
        sock_failed(c, s, 0, (int)nread);
        return;
    }
    s->in_len += (uint32_t)nread;
    size_t off = 0;
    while (!s->closing && off < s->in_len) {
        fmq_packet_t p;
        fmq_err_t err;
        fmq_decode_opts_t o = {c->o.version, 0};
        int n = fmq_decode(s->in + off, s->in_len - off, &o, &p, &err);
        if (n == FMQ_NEED_MORE)
            break;
        if (n < 0) {
            if (s->connected && c->o.version == FMQ_V5) {
                fmq_packet_t d = {.type = FMQ_DISCONNECT};
                d.disconnect.reason = err.reason;
                send_packet_on(c, s, &d);
            }
            sock_failed(c, s, err.reason, 0);
            return;
        }
        handle(c, s, &p); /* may close the socket or free the client */
        off += (size_t)n;
    }
    if (s->closing)
        return; /* closing released the input */
    memmove(s->in, s->in + off, s->in_len - off);
    s->in_len -= (uint32_t)off;
    if (s->in_len == 0)
        release_input(s); /* an idle client keeps no buffer */
}

/* ---- connection lifecycle ---- */

static void on_sock_closed(uv_handle_t *h)
{
    sock_t *s = h->data;
    fcl_client_t *c = s->c;
    free(s->in);
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
        uint64_t span = d * (r->jitter_pct > 100 ? 100 : r->jitter_pct) / 100;
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
        set_info(c, false, 0, UV_ETIMEDOUT);
        close_sock(c);
        break;
    case FCL_CONNECTED: {
        uint64_t now = uv_now(c->loop);
        if (c->old && now >= c->old_deadline_ms) {
            /* The server never ended the connection it handed over. */
            close_old(c, false, 0, UV_ETIMEDOUT);
            if (c->state != FCL_CONNECTED)
                return; /* the callback stopped or freed us */
        }
        if (now >= c->ka_due_ms) {
            if (c->ping_outstanding) { /* no PINGRESP within a keep alive */
                set_info(c, false, FMQ_RC_KEEP_ALIVE_TIMEOUT, UV_ETIMEDOUT);
                close_sock(c);
                return;
            }
            if (now >= c->last_tx_ms + (uint64_t)c->keep_alive * 1000) {
                fmq_packet_t p = {.type = FMQ_PINGREQ};
                send_packet(c, &p);
                c->ping_outstanding = true;
            }
        }
        arm_keepalive(c);
        break;
    }
    default:
        break;
    }
}

/* Parses "host[:port]" (the first of a space-separated list; "[v6]:port"
 * too) into the target the next attempts use. */
static void follow_reference(fcl_client_t *c, const char *ref)
{
    size_t n = strcspn(ref, " ");
    const char *host = ref, *port = NULL;
    size_t hlen = n;
    if (ref[0] == '[') {
        const char *close = memchr(ref, ']', n);
        if (!close)
            return;
        host = ref + 1;
        hlen = (size_t)(close - host);
        if ((size_t)(close + 1 - ref) < n && close[1] == ':')
            port = close + 2;
    } else {
        const char *colon = memchr(ref, ':', n);
        if (colon && !memchr(colon + 1, ':', n - (size_t)(colon + 1 - ref))) {
            hlen = (size_t)(colon - ref);
            port = colon + 1;
        }
    }
    if (hlen == 0)
        return;
    char *h = dup_bytes((const uint8_t *)host, hlen);
    if (!h)
        return;
    free(c->ref_host);
    c->ref_host = h;
    if (port) {
        long v = strtol(port, NULL, 10);
        if (v > 0 && v < 65536)
            c->target_port = (uint16_t)v;
    }
}

/* The new connection of a takeover failed before its CONNACK while the old
 * one is still up: the client stays where it was. */
static void revert_takeover(fcl_client_t *c, fcl_disconnect_info_t info)
{
    c->sock = c->old;
    c->old = NULL;
    free(c->ref_host);
    c->ref_host = c->tk_prev_host;
    c->tk_prev_host = NULL;
    c->target_port = c->tk_prev_port;
    c->tk_active = false;
    c->state = FCL_CONNECTED;
    c->ping_outstanding = false;
    uv_timer_stop(&c->timer);
    arm_keepalive(c);
    info.takeover = true;
    info.will_reconnect = false;
    info.server_reference = c->server_ref;
    CB(c, on_disconnect, &info);
    free(c->server_ref);
    c->server_ref = NULL;
    pump(c);
}

/* The socket is gone (or never was): tell the user, then reconnect or stop. */
static void schedule_or_close(fcl_client_t *c)
{
    fcl_disconnect_info_t info = c->pending_info;
    c->pending_info = (fcl_disconnect_info_t){0};
    if (c->tk_active) {
        if (c->old && !c->final_drop && !c->freed && c->state != FCL_CLOSED) {
            revert_takeover(c, info);
            return;
        }
        /* The old connection is gone too: the new address stays, the
         * policy decides. */
        info.takeover = true;
        c->tk_active = false;
        free(c->tk_prev_host);
        c->tk_prev_host = NULL;
    }
    if (c->old) /* the live connection failed within the old one's grace */
        close_old(c, false, 0, 0);
    const fcl_reconnect_policy_t *r = &c->o.reconnect;
    bool takeover = info.by_server && info.reason == FMQ_RC_SESSION_TAKEN_OVER;
    bool moved = info.by_server &&
                 (info.reason == FMQ_RC_USE_ANOTHER_SERVER || info.reason == FMQ_RC_SERVER_MOVED);
    bool again = !c->final_drop && !c->freed && r->kind != FCL_RECONNECT_NONE &&
                 c->state != FCL_CLOSED && (!takeover || r->reconnect_after_takeover) &&
                 (!r->max_attempts || c->attempts < r->max_attempts);
    if (again && moved && r->follow_server_reference && c->server_ref)
        follow_reference(c, c->server_ref);
    info.will_reconnect = again;
    info.server_reference = c->server_ref;
    c->state = again ? FCL_WAITING : FCL_CLOSED;
    c->ping_outstanding = false;
    uv_timer_stop(&c->timer);
    if (again) {
        c->attempts++;
        info.delay_ms = backoff(c);
        uv_timer_start(&c->timer, on_timer, info.delay_ms, 0);
    }
    CB(c, on_disconnect, &info);
    free(c->server_ref);
    c->server_ref = NULL;
}

/* Lets go of a socket: nothing is read from it any more; the memory goes
 * in its close callback. */
static void sock_close(fcl_client_t *c, sock_t *s)
{
    (void)c;
    s->closing = true;
    release_input(s);
    uv_close((uv_handle_t *)&s->tcp, on_sock_closed);
}

static void close_sock(fcl_client_t *c)
{
    sock_t *s = c->sock;
    if (!s)
        return;
    flush_now(c); /* a DISCONNECT we just encoded still goes out */
    c->pending_info.was_connected = s->connected;
    c->sock = NULL;
    sock_close(c, s);
    schedule_or_close(c);
}

static void on_connected(uv_connect_t *req, int status)
{
    sock_t *s = req->data;
    fcl_client_t *c = s->c;
    if (!c || c->sock != s)
        return;
    if (status < 0) {
        set_info(c, false, 0, status);
        close_sock(c);
        return;
    }
    uv_tcp_nodelay(&s->tcp, 1);
    fmq_packet_t p = {.type = FMQ_CONNECT};
    fmq_connect_t *k = &p.connect;
    k->clean_start = c->o.clean_start && !c->tk_active; /* a takeover wants the session */
    k->keep_alive = c->o.keep_alive;
    k->client_id = fmq_cstr(fcl_client_id(c));
    if (c->o.username) {
        k->has_username = true;
        k->username = fmq_cstr(c->o.username);
    }
    if (c->o.password) {
        k->has_password = true;
        k->password = fmq_cstr(c->o.password);
    }
    if (c->o.will_topic) {
        k->will_flag = true;
        k->will_topic = fmq_cstr(c->o.will_topic);
        k->will_payload = c->o.will_payload;
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
    int rc = uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
    if (rc != 0) {
        set_info(c, false, 0, rc);
        close_sock(c);
    }
}

/* An attempt that failed before it had a socket. */
static void fail_attempt(fcl_client_t *c, int rc, bool final)
{
    set_info(c, false, 0, rc);
    if (final)
        c->final_drop = true;
    schedule_or_close(c);
}

static int connect_now(fcl_client_t *c)
{
    struct sockaddr_storage addr;
    const char *host = c->ref_host ? c->ref_host : c->o.host;
    int rc = strchr(host, ':') ? uv_ip6_addr(host, c->target_port, (struct sockaddr_in6 *)&addr)
                               : uv_ip4_addr(host, c->target_port, (struct sockaddr_in *)&addr);
    if (rc != 0) {
        fail_attempt(c, rc, true); /* retrying cannot fix an address */
        return rc;
    }
    sock_t *s = calloc(1, sizeof *s);
    if (!s) {
        fail_attempt(c, UV_ENOMEM, false);
        return UV_ENOMEM;
    }
    /* With a source address the socket must exist before bind; it is
     * created here, so running out of descriptors shows up here too. */
    rc = uv_tcp_init_ex(c->loop, &s->tcp, c->o.bind_addr ? AF_INET : AF_UNSPEC);
    if (rc != 0) {
        free(s);
        fail_attempt(c, rc, false);
        return rc;
    }
    s->c = c;
    s->tcp.data = s;
    s->creq.data = s;
    c->handles_open++;
    c->sock = s;
    c->state = FCL_CONNECTING;
    if (c->o.bind_addr) {
        struct sockaddr_in src;
        rc = uv_ip4_addr(c->o.bind_addr, 0, &src);
        if (rc == 0) {
            /* Let connect() pick the port per 4-tuple rather than bind()
             * reserving one per source address: the range then serves every
             * destination, and TIME_WAIT ports are reused on loopback. */
            uv_os_fd_t fd;
            int one = 1;
            if (uv_fileno((uv_handle_t *)&s->tcp, &fd) == 0)
                (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
            rc = uv_tcp_bind(&s->tcp, (struct sockaddr *)&src, 0);
        }
    }
    if (rc == 0)
        rc = uv_tcp_connect(&s->creq, &s->tcp, (struct sockaddr *)&addr, on_connected);
    if (rc != 0) {
        set_info(c, false, 0, rc);
        close_sock(c);
        return rc;
    }
    uv_timer_start(&c->timer, on_timer, c->o.connect_timeout_ms, 0);
    return 0;
}

int fcl_client_takeover(fcl_client_t *c, const char *host, uint16_t port)
{
    if (c->freed || c->state != FCL_CONNECTED || !c->sock)
        return c->tk_active ? UV_EALREADY : UV_ENOTCONN;
    if (c->old)
        return UV_EALREADY; /* the last one's old socket is still in its grace */
    struct sockaddr_storage addr;
    int rc = host && strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr)
             : host                    ? uv_ip4_addr(host, port, (struct sockaddr_in *)&addr)
                                       : UV_EINVAL;
    char *h = rc == 0 ? dup_str(host) : NULL;
    if (rc != 0 || !h)
        return rc != 0 ? UV_EINVAL : UV_ENOMEM;
    flush_now(c); /* what is encoded belongs to the old connection */
    c->old = c->sock;
    c->sock = NULL;
    c->tk_active = true;
    c->tk_prev_host = c->ref_host;
    c->tk_prev_port = c->target_port;
    c->ref_host = h;
    c->target_port = port;
    c->ping_outstanding = false;
    uv_timer_stop(&c->timer);
    /* Failures come back through schedule_or_close, which reverts. */
    return connect_now(c);
}

int fcl_client_start(fcl_client_t *c)
{
    if (c->freed || (c->state != FCL_IDLE && c->state != FCL_CLOSED))
        return 0;
    c->final_drop = false;
    c->attempts = 0;
    return connect_now(c);
}

void fcl_client_stop(fcl_client_t *c, uint8_t reason)
{
    c->final_drop = true;
    if (c->old) {
        if (c->tk_active) { /* still the live connection */
            fmq_packet_t p = {.type = FMQ_DISCONNECT};
            p.disconnect.reason = reason;
            send_packet_on(c, c->old, &p);
        }
        close_old(c, false, 0, 0);
    }
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
    if (c->old) {   /* a crash ends both connections: no going back to the old one */
        c->tk_active = false;
        free(c->tk_prev_host);
        c->tk_prev_host = NULL;
        close_old(c, false, 0, 0);
    }
    if (c->sock) {
        close_sock(c);
    } else if (final) {
        c->state = FCL_CLOSED;
        uv_timer_stop(&c->timer);
    }
}

void fcl_client_free(fcl_client_t *c)
{
    if (!c || c->freed)
        return;
    c->freed = true;
    c->state = FCL_CLOSED;
    sock_t *socks[2] = {c->sock, c->old};
    for (int i = 0; i < 2; i++) {
        if (!socks[i])
            continue;
        socks[i]->c = NULL; /* its close callback must not touch us */
        sock_close(c, socks[i]);
        c->handles_open--;
    }
    c->sock = c->old = NULL;
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->flush, on_handle_closed);
}
