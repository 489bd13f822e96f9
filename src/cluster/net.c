/* libuv glue for cluster links: listener, dialing, batched writes, timers,
 * DNS polling. Protocol decisions are cluster.c's. */
#include "cluster/net.h"
#include "broker/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TICK_MS 100
#define CLOSE_GRACE_MS 2000

typedef struct net_link net_link_t;

struct fc_net {
    uv_loop_t *loop;
    fc_cluster_t *cl;
    fb_broker_t *b;
    const fb_config_t *cfg;
    uv_tcp_t listener;
    bool listening;
    uv_timer_t tick;
    uv_timer_t dns_timer;
    uv_getaddrinfo_t dns_req;
    bool dns_busy, dns_on;
    bool stopped;
    net_link_t *links;
    net_link_t *dirty;
    int port;
    uint8_t rbuf[65536];
};

struct net_link {
    fc_net_t *n;
    fc_link_t *l;
    uv_tcp_t h;
    uv_connect_t creq;
    uv_getaddrinfo_t gai;
    uv_shutdown_t sreq;
    net_link_t *prev, *next;
    net_link_t *dirty_next;
    bool dirty, resolving, connecting, handle_open, closing, reported;
    uint64_t close_at;
    uint8_t *out;
    size_t out_len, out_cap;
    size_t queued; /* bytes in uv_write requests */
};

typedef struct {
    uv_write_t req;
    net_link_t *nl;
    size_t len;
    uint8_t data[];
} wreq_t;

static void unlink_nl(net_link_t *nl)
{
    fc_net_t *n = nl->n;
    if (nl->prev)
        nl->prev->next = nl->next;
    else
        n->links = nl->next;
    if (nl->next)
        nl->next->prev = nl->prev;
    if (nl->dirty)
        for (net_link_t **pp = &n->dirty; *pp; pp = &(*pp)->dirty_next)
            if (*pp == nl) {
                *pp = nl->dirty_next;
                break;
            }
}

/* The end of a link: the cluster hears of it once, the memory goes. */
static void finish(net_link_t *nl)
{
    if (!nl->reported && nl->l) {
        nl->reported = true;
        fc_link_closed(nl->l);
    }
    unlink_nl(nl);
    free(nl->out);
    free(nl);
}

static void on_closed(uv_handle_t *h)
{
    finish(h->data);
}

static void hard_close(net_link_t *nl)
{
    nl->closing = true;
    if (nl->resolving)
        return; /* on_resolved finishes it */
    if (nl->handle_open && !uv_is_closing((uv_handle_t *)&nl->h))
        uv_close((uv_handle_t *)&nl->h, on_closed);
    else if (!nl->handle_open)
        finish(nl);
}

static void on_write(uv_write_t *req, int status)
{
    wreq_t *w = (wreq_t *)req;
    w->nl->queued -= w->len;
    if (status < 0 && status != UV_ECANCELED)
        hard_close(w->nl);
    free(w);
}

static int write_now(net_link_t *nl, const uint8_t *data, size_t len)
{
    size_t done = 0;
    if (nl->queued == 0) {
        uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
        int r = uv_try_write((uv_stream_t *)&nl->h, &b, 1);
        if (r < 0 && r != UV_EAGAIN)
            return -1;
        done = r > 0 ? (size_t)r : 0;
    }
    if (done == len)
        return 0;
    size_t rest = len - done;
    wreq_t *w = malloc(sizeof *w + rest);
    if (!w)
        return -1;
    w->nl = nl;
    w->len = rest;
    memcpy(w->data, data + done, rest);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)rest);
    if (uv_write(&w->req, (uv_stream_t *)&nl->h, &b, 1, on_write) != 0) {
        free(w);
        return -1;
    }
    nl->queued += rest;
    return 0;
}

static void flush_one(net_link_t *nl)
{
    if (nl->out_len && nl->handle_open && !nl->connecting &&
        !uv_is_closing((uv_handle_t *)&nl->h)) {
        if (write_now(nl, nl->out, nl->out_len) != 0)
            hard_close(nl);
    }
    nl->out_len = 0;
    if (nl->out_cap > (1u << 20)) {
        free(nl->out);
        nl->out = NULL;
        nl->out_cap = 0;
    }
}

void fc_net_flush(fc_net_t *n)
{
    while (n->dirty) {
        net_link_t *nl = n->dirty;
        n->dirty = nl->dirty_next;
        nl->dirty = false;
        flush_one(nl);
    }
}

/* ---- the ops cluster.c calls ---- */

static int op_send(void *tctx, const uint8_t *data, size_t len)
{
    net_link_t *nl = tctx;
    if (nl->closing)
        return -1;
    if (nl->out_len + len > nl->out_cap) {
        size_t cap = nl->out_cap ? nl->out_cap : 16384;
        while (cap < nl->out_len + len)
            cap *= 2;
        uint8_t *p = realloc(nl->out, cap);
        if (!p)
            return -1;
        nl->out = p;
        nl->out_cap = cap;
    }
    memcpy(nl->out + nl->out_len, data, len);
    nl->out_len += len;
    if (!nl->dirty) {
        nl->dirty = true;
        nl->dirty_next = nl->n->dirty;
        nl->n->dirty = nl;
    }
    return 0;
}

static size_t op_backlog(void *tctx)
{
    net_link_t *nl = tctx;
    return nl->out_len + nl->queued;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    hard_close(req->data);
}

static void op_close(void *tctx)
{
    net_link_t *nl = tctx;
    if (nl->closing)
        return;
    nl->closing = true;
    if (nl->resolving)
        return;
    if (!nl->handle_open || nl->connecting) {
        hard_close(nl);
        return;
    }
    uv_read_stop((uv_stream_t *)&nl->h);
    flush_one(nl); /* the last frames (ERROR, LEAVE) go out first */
    nl->close_at = uv_now(nl->n->loop) + CLOSE_GRACE_MS;
    nl->sreq.data = nl;
    if (uv_shutdown(&nl->sreq, (uv_stream_t *)&nl->h, on_shutdown) != 0)
        hard_close(nl);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    net_link_t *nl = h->data;
    *buf = uv_buf_init((char *)nl->n->rbuf, sizeof nl->n->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    net_link_t *nl = s->data;
    if (nread > 0) {
        /* Deliveries and expiry checks of forwarded messages use the
         * broker's clocks: current ones, as for a client's read. */
        fb_broker_set_clock(nl->n->b, fb_now_ms(), uv_now(nl->n->loop));
        fc_link_input(nl->l, (const uint8_t *)buf->base, (size_t)nread);
    } else if (nread < 0) {
        hard_close(nl);
    }
}

static net_link_t *nl_new(fc_net_t *n)
{
    net_link_t *nl = calloc(1, sizeof *nl);
    if (!nl)
        return NULL;
    nl->n = n;
    nl->next = n->links;
    if (n->links)
        n->links->prev = nl;
    n->links = nl;
    return nl;
}

static void on_connect(uv_connect_t *req, int status)
{
    net_link_t *nl = req->data;
    nl->connecting = false;
    if (status < 0 || nl->closing) {
        if (status < 0)
            FB_DEBUG("cluster: connect: %s", uv_strerror(status));
        hard_close(nl);
        return;
    }
    uv_tcp_nodelay(&nl->h, 1);
    uv_read_start((uv_stream_t *)&nl->h, on_alloc, on_read);
    fc_link_connected(nl->l);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    net_link_t *nl = req->data;
    nl->resolving = false;
    if (status < 0 || nl->closing || !res) {
        if (status < 0)
            FB_DEBUG("cluster: resolve: %s", uv_strerror(status));
        uv_freeaddrinfo(res);
        hard_close(nl);
        return;
    }
    uv_tcp_init(nl->n->loop, &nl->h);
    nl->h.data = nl;
    nl->handle_open = true;
    nl->connecting = true;
    nl->creq.data = nl;
    int r = uv_tcp_connect(&nl->creq, &nl->h, res->ai_addr, on_connect);
    uv_freeaddrinfo(res);
    if (r != 0) {
        nl->connecting = false;
        hard_close(nl);
    }
}

/* "host:port" or "[v6]:port" into its parts. */
static bool split_addr(const char *addr, char *host, size_t hl, char *port, size_t pl)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || strlen(colon + 1) >= pl)
        return false;
    const char *h = addr;
    size_t len = (size_t)(colon - addr);
    if (h[0] == '[' && len >= 2 && h[len - 1] == ']') {
        h++;
        len -= 2;
    }
    if (len >= hl)
        return false;
    memcpy(host, h, len);
    host[len] = 0;
    strcpy(port, colon + 1);
    return true;
}

static void *op_connect(void *nctx, const char *addr, fc_link_t *l)
{
    fc_net_t *n = nctx;
    char host[256], port[8];
    if (n->stopped || !split_addr(addr, host, sizeof host, port, sizeof port))
        return NULL;
    net_link_t *nl = nl_new(n);
    if (!nl)
        return NULL;
    nl->l = l;
    nl->gai.data = nl;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    if (uv_getaddrinfo(n->loop, &nl->gai, on_resolved, host, port, &hints) != 0) {
        nl->reported = true; /* the caller sees NULL and cleans up itself */
        unlink_nl(nl);
        free(nl);
        return NULL;
    }
    nl->resolving = true;
    return nl;
}

static const fc_net_ops_t net_ops = {op_send, op_backlog, op_close, op_connect};

/* ---- listener, timers, DNS ---- */

static void on_accept(uv_stream_t *server, int status)
{
    fc_net_t *n = server->data;
    if (status < 0)
        return;
    net_link_t *nl = nl_new(n);
    if (!nl)
        return;
    uv_tcp_init(n->loop, &nl->h);
    nl->h.data = nl;
    nl->handle_open = true;
    if (uv_accept(server, (uv_stream_t *)&nl->h) != 0 || n->stopped) {
        hard_close(nl);
        return;
    }
    nl->l = fc_link_accepted(n->cl, nl);
    if (!nl->l) {
        nl->reported = true;
        hard_close(nl);
        return;
    }
    uv_tcp_nodelay(&nl->h, 1);
    uv_read_start((uv_stream_t *)&nl->h, on_alloc, on_read);
}

static void on_tick(uv_timer_t *t)
{
    fc_net_t *n = t->data;
    uint64_t now = uv_now(n->loop);
    fb_broker_set_clock(n->b, fb_now_ms(), now);
    fc_cluster_tick(n->cl, now);
    for (net_link_t *nl = n->links, *next; nl; nl = next) {
        next = nl->next;
        if (nl->close_at && now >= nl->close_at && nl->handle_open &&
            !uv_is_closing((uv_handle_t *)&nl->h))
            hard_close(nl);
    }
    fc_net_flush(n);
}

static void on_dns(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    fc_net_t *n = req->data;
    n->dns_busy = false;
    if (n->stopped) {
        uv_freeaddrinfo(res);
        return;
    }
    if (status < 0) {
        FB_WARN("cluster: DNS lookup of %s: %s", n->cfg->cluster_dns, uv_strerror(status));
        uv_freeaddrinfo(res);
        return;
    }
    const char *colon = strrchr(n->cfg->cluster_dns, ':');
    char *addrs[256];
    size_t k = 0;
    for (struct addrinfo *a = res; a && k < 256; a = a->ai_next) {
        char ip[64];
        if (a->ai_family == AF_INET)
            uv_ip4_name((struct sockaddr_in *)a->ai_addr, ip, sizeof ip);
        else
            continue;
        char buf[80];
        snprintf(buf, sizeof buf, "%s:%s", ip, colon + 1);
        bool dup = false;
        for (size_t i = 0; i < k && !dup; i++)
            dup = strcmp(addrs[i], buf) == 0;
        if (!dup && (addrs[k] = strdup(buf)) != NULL)
            k++;
    }
    uv_freeaddrinfo(res);
    fc_cluster_dns_result(n->cl, addrs, k);
    for (size_t i = 0; i < k; i++)
        free(addrs[i]);
}

static void on_dns_timer(uv_timer_t *t)
{
    fc_net_t *n = t->data;
    if (n->dns_busy || n->stopped)
        return;
    char host[256], port[8];
    if (!split_addr(n->cfg->cluster_dns, host, sizeof host, port, sizeof port))
        return;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    n->dns_req.data = n;
    if (uv_getaddrinfo(n->loop, &n->dns_req, on_dns, host, port, &hints) == 0)
        n->dns_busy = true;
}

int fc_net_start(uv_loop_t *loop, fb_broker_t *b, const fb_config_t *cfg, fc_net_t **out,
                 char *err, size_t errlen)
{
    fc_net_t *n = calloc(1, sizeof *n);
    *out = NULL;
    if (!n) {
        snprintf(err, errlen, "cluster: out of memory");
        return -1;
    }
    n->loop = loop;
    n->cfg = cfg;
    n->b = b;
    char host[256], port[8];
    struct sockaddr_storage ss;
    if (!split_addr(cfg->cluster_listen, host, sizeof host, port, sizeof port) ||
        (uv_ip4_addr(host, atoi(port), (struct sockaddr_in *)&ss) != 0 &&
         uv_ip6_addr(host, atoi(port), (struct sockaddr_in6 *)&ss) != 0)) {
        snprintf(err, errlen, "cluster_listen: \"%s\" is not IP:PORT", cfg->cluster_listen);
        free(n);
        return -1;
    }
    n->cl = fc_cluster_new(b, cfg, &net_ops, n, err, errlen);
    if (!n->cl) {
        free(n);
        return -1;
    }
    *out = n;
    uv_tcp_init(loop, &n->listener);
    n->listener.data = n;
    n->listening = true;
    int r = uv_tcp_bind(&n->listener, (struct sockaddr *)&ss, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&n->listener, 128, on_accept);
    if (r != 0) {
        snprintf(err, errlen, "cluster_listen %s: %s", cfg->cluster_listen, uv_strerror(r));
        return -1; /* *out is set: the caller stops and frees it (the handle is open) */
    }
    struct sockaddr_storage bound;
    int bl = sizeof bound;
    if (uv_tcp_getsockname(&n->listener, (struct sockaddr *)&bound, &bl) == 0)
        n->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    uv_timer_init(loop, &n->tick);
    n->tick.data = n;
    uv_timer_start(&n->tick, on_tick, TICK_MS, TICK_MS);
    if (*cfg->cluster_dns) {
        uv_timer_init(loop, &n->dns_timer);
        n->dns_timer.data = n;
        n->dns_on = true;
        uv_timer_start(&n->dns_timer, on_dns_timer, 0, cfg->cluster_dns_interval_ms);
    }
    fc_cluster_tick(n->cl, uv_now(loop));
    return 0;
}

int fc_net_port(const fc_net_t *n)
{
    return n->port;
}

fc_cluster_t *fc_net_cluster(fc_net_t *n)
{
    return n->cl;
}

void fc_net_leave(fc_net_t *n)
{
    fc_cluster_leave(n->cl);
    fc_net_flush(n);
}

void fc_net_stop(fc_net_t *n)
{
    if (n->stopped)
        return;
    n->stopped = true;
    fc_net_flush(n);
    if (n->listening)
        uv_close((uv_handle_t *)&n->listener, NULL);
    if (n->tick.loop)
        uv_close((uv_handle_t *)&n->tick, NULL);
    if (n->dns_on)
        uv_close((uv_handle_t *)&n->dns_timer, NULL);
    if (n->dns_busy)
        uv_cancel((uv_req_t *)&n->dns_req);
    for (net_link_t *nl = n->links, *next; nl; nl = next) {
        next = nl->next;
        if (nl->resolving) {
            nl->closing = true;
            uv_cancel((uv_req_t *)&nl->gai);
        } else {
            hard_close(nl);
        }
    }
}

void fc_net_free(fc_net_t *n)
{
    if (!n)
        return;
    fc_cluster_free(n->cl); /* links left (none after the loop ran) are released */
    free(n);
}
