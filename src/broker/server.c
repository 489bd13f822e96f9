/* libuv glue: listener, TCP transport, timers, flush, signals. */
#include "broker/server.h"
#include "broker/broker.h"
#include "broker/conn.h"
#include "broker/log.h"
#include "admin/admin.h"
#include "evac/evac.h"
#include "cluster/net.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#define TICK_MS 250
#define CLOSE_GRACE_MS 5000 /* a closing socket whose peer does not read is cut */
#define FD_RESERVE 256

typedef struct tcp_conn tcp_conn_t;
typedef struct tcp_closing tcp_closing_t;

typedef struct fb_server {
    uv_loop_t loop;
    fb_broker_t *b;
    uv_tcp_t listener;
    uv_timer_t tick;
    uv_check_t flush;
    uv_signal_t sigterm, sigint;
    uv_timer_t stop_timer;
    uint64_t stop_started_ms;
    bool stopping;
    tcp_closing_t *closing; /* sockets waiting for their output to drain */
    fc_net_t *cluster;      /* NULL: a single node */
    fa_admin_t *admin;      /* NULL: admin_listen is empty */
    fe_node_t *evac;        /* evacuation, rebalance, load reports */
    uv_timer_t evac_timer;
    uint8_t rbuf[65536]; /* one read at a time on this loop: shared */
} fb_server_t;

/* What only a closing socket needs, allocated when it starts closing with
 * output still queued: idle connections (most of them) do not carry it. */
struct tcp_closing {
    uv_shutdown_t req;
    tcp_conn_t *tc;
    uint64_t close_at_ms;
    struct tcp_closing *next;
};

struct tcp_conn {
    uv_tcp_t h;
    fb_server_t *srv;
    fb_conn_t *conn;
    size_t queued;
    bool closing;
    tcp_closing_t *cl; /* while shutting down, else NULL */
};

typedef struct {
    uv_write_t req;
    tcp_conn_t *tc;
    size_t len;
    uint8_t data[];
} write_req_t;

static void on_handle_closed(uv_handle_t *h)
{
    tcp_conn_t *tc = h->data;
    fb_server_t *srv = tc->srv;
    if (tc->cl) {
        for (tcp_closing_t **pp = &srv->closing; *pp; pp = &(*pp)->next) {
            if (*pp == tc->cl) {
                *pp = tc->cl->next;
                break;
            }
        }
        free(tc->cl); /* its shutdown callback ran before this close callback */
    }
    if (tc->conn)
        fb_conn_closed(tc->conn);
    free(tc);
}

static void hard_close(tcp_conn_t *tc)
{
    if (!uv_is_closing((uv_handle_t *)&tc->h))
        uv_close((uv_handle_t *)&tc->h, on_handle_closed);
}

static void on_write(uv_write_t *req, int status)
{
    write_req_t *w = (write_req_t *)req;
    tcp_conn_t *tc = w->tc;
    tc->queued -= w->len;
    free(w);
    if (status < 0 && status != UV_ECANCELED)
        hard_close(tc);
}

static int tcp_send(void *tctx, const uint8_t *data, size_t len)
{
    tcp_conn_t *tc = tctx;
    if (uv_is_closing((uv_handle_t *)&tc->h))
        return -1;
    size_t done = 0;
    if (tc->queued == 0) {
        uv_buf_t buf = uv_buf_init((char *)data, (unsigned)len);
        int n = uv_try_write((uv_stream_t *)&tc->h, &buf, 1);
        if (n < 0 && n != UV_EAGAIN) {
            hard_close(tc);
            return -1;
        }
        done = n > 0 ? (size_t)n : 0;
    }
    if (done == len)
        return 0;
    size_t rest = len - done;
    write_req_t *w = malloc(sizeof *w + rest);
    if (!w) {
        hard_close(tc);
        return -1;
    }
    w->tc = tc;
    w->len = rest;
    memcpy(w->data, data + done, rest);
    uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)rest);
    if (uv_write(&w->req, (uv_stream_t *)&tc->h, &buf, 1, on_write) != 0) {
        free(w);
        hard_close(tc);
        return -1;
    }
    tc->queued += rest;
    return 0;
}

static size_t tcp_backlog(void *tctx)
{
    return ((tcp_conn_t *)tctx)->queued;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    hard_close(((tcp_closing_t *)req->data)->tc);
}

static void tcp_close(void *tctx)
{
    tcp_conn_t *tc = tctx;
    if (tc->closing)
        return;
    tc->closing = true;
    uv_read_stop((uv_stream_t *)&tc->h);
    if (tc->queued == 0) {
        hard_close(tc);
        return;
    }
    tcp_closing_t *cl = calloc(1, sizeof *cl);
    if (!cl) {
        hard_close(tc);
        return;
    }
    cl->tc = tc;
    cl->close_at_ms = uv_now(&tc->srv->loop) + CLOSE_GRACE_MS;
    cl->next = tc->srv->closing;
    cl->req.data = cl;
    if (uv_shutdown(&cl->req, (uv_stream_t *)&tc->h, on_shutdown) != 0) {
        free(cl);
        hard_close(tc);
        return;
    }
    tc->srv->closing = cl;
    tc->cl = cl;
}

static void peer_name(uv_tcp_t *h, char *out, size_t len);

static void tcp_peer(void *tctx, char *buf, size_t len)
{
    peer_name(&((tcp_conn_t *)tctx)->h, buf, len);
}

static const fb_transport_ops_t tcp_ops = {tcp_send, tcp_backlog, tcp_close, tcp_peer};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    tcp_conn_t *tc = h->data;
    *buf = uv_buf_init((char *)tc->srv->rbuf, sizeof tc->srv->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    tcp_conn_t *tc = s->data;
    if (nread > 0) {
        fb_broker_set_clock(tc->srv->b, fb_now_ms(), uv_now(&tc->srv->loop));
        fb_conn_input(tc->conn, (const uint8_t *)buf->base, (size_t)nread);
    } else if (nread < 0) {
        hard_close(tc);
    }
}

static void peer_name(uv_tcp_t *h, char *out, size_t len)
{
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    char ip[64] = "?";
    int port = 0;
    if (uv_tcp_getpeername(h, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        }
    }
    snprintf(out, len, "%s:%d", ip, port);
}

static void on_connection(uv_stream_t *server, int status)
{
    fb_server_t *srv = server->data;
    if (status < 0) {
        FB_WARN("accept: %s", uv_strerror(status));
        return;
    }
    tcp_conn_t *tc = calloc(1, sizeof *tc);
    if (!tc)
        return;
    tc->srv = srv;
    uv_tcp_init(&srv->loop, &tc->h);
    tc->h.data = tc;
    if (uv_accept(server, (uv_stream_t *)&tc->h) != 0) {
        hard_close(tc);
        return;
    }
    /* Far past the limit (a storm): close at once rather than hold sockets
     * to answer each CONNECT with "server busy". */
    if (srv->stopping || srv->b->n_conns >= srv->b->max_connections + 1024u) {
        srv->b->stats.conns_refused++;
        hard_close(tc);
        return;
    }
    if (srv->b->cfg->tcp_nodelay)
        uv_tcp_nodelay(&tc->h, 1);
    fb_broker_set_clock(srv->b, fb_now_ms(), uv_now(&srv->loop));
    tc->conn = fb_conn_new(srv->b, &tcp_ops, tc);
    if (!tc->conn) {
        hard_close(tc);
        return;
    }
    uv_read_start((uv_stream_t *)&tc->h, on_alloc, on_read);
}

static void on_tick(uv_timer_t *t)
{
    fb_server_t *srv = t->data;
    fb_broker_tick(srv->b, fb_now_ms(), uv_now(&srv->loop));
    uint64_t now = uv_now(&srv->loop);
    for (tcp_closing_t *cl = srv->closing; cl; cl = cl->next)
        if (now >= cl->close_at_ms)
            hard_close(cl->tc);
}

static void on_check(uv_check_t *h)
{
    fb_server_t *srv = h->data;
    fb_broker_flush(srv->b);
    if (srv->cluster)
        fc_net_flush(srv->cluster);
}

static void on_evac_timer(uv_timer_t *t)
{
    fb_server_t *srv = t->data;
    fb_broker_set_clock(srv->b, fb_now_ms(), uv_now(&srv->loop));
    uint32_t next = fe_node_tick(srv->evac, uv_now(&srv->loop));
    fb_broker_flush(srv->b);
    uv_timer_start(&srv->evac_timer, on_evac_timer, next, 0);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, h->type == UV_TCP && h->data && h->data != arg ? on_handle_closed : NULL);
}

static void on_stop_timer(uv_timer_t *t)
{
    fb_server_t *srv = t->data;
    fb_broker_flush(srv->b);
    if (srv->b->n_conns == 0 || uv_now(&srv->loop) - srv->stop_started_ms > 3000)
        uv_stop(&srv->loop);
}

static void on_signal(uv_signal_t *s, int signum)
{
    fb_server_t *srv = s->data;
    if (srv->stopping) {
        FB_WARN("second signal %d: stopping now", signum);
        uv_stop(&srv->loop);
        return;
    }
    FB_INFO("signal %d: shutting down", signum);
    srv->stopping = true;
    uv_close((uv_handle_t *)&srv->listener, NULL);
    if (srv->cluster)
        fc_net_leave(srv->cluster); /* peers forget this node rather than wait for it */
    fb_broker_shutdown(srv->b);
    fb_broker_flush(srv->b);
    srv->stop_started_ms = uv_now(&srv->loop);
    uv_timer_start(&srv->stop_timer, on_stop_timer, 20, 20);
}

uint32_t fb_server_fd_budget(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1000;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    rlim_t n = rl.rlim_cur == RLIM_INFINITY ? 1000000 : rl.rlim_cur;
    if (n > 4000000)
        n = 4000000;
    return n > 2 * FD_RESERVE ? (uint32_t)(n - FD_RESERVE) : (uint32_t)(n / 2);
}

static int parse_listen(const char *spec, struct sockaddr_storage *ss)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof host)
        return -1;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return -1;
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = 0;
    if (host[0] == '[') {
        size_t hl = strlen(host);
        if (hl < 2 || host[hl - 1] != ']')
            return -1;
        host[hl - 1] = 0;
        return uv_ip6_addr(host + 1, (int)port, (struct sockaddr_in6 *)ss);
    }
    return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss);
}

int fb_server_run(fb_config_t *cfg)
{
    fb_server_t *srv = calloc(1, sizeof *srv);
    if (!srv)
        return 1;
    int status = 1;
    signal(SIGPIPE, SIG_IGN);
    uint32_t budget = fb_server_fd_budget();
    if (cfg->max_connections == 0 || cfg->max_connections > budget) {
        if (cfg->max_connections > budget)
            FB_WARN("max_connections %u exceeds the open-file budget: using %u",
                    cfg->max_connections, budget);
        cfg->max_connections = budget;
    }
    uv_loop_init(&srv->loop);
    srv->b = fb_broker_new(cfg);
    if (!srv->b)
        goto fail;
    fb_broker_set_clock(srv->b, fb_now_ms(), uv_now(&srv->loop));

    struct sockaddr_storage addr;
    if (parse_listen(cfg->listen, &addr) != 0) {
        FB_ERROR("listen: cannot parse \"%s\" (want host:port or [v6]:port)", cfg->listen);
        goto fail;
    }
    uv_tcp_init(&srv->loop, &srv->listener);
    srv->listener.data = srv;
    int rc = uv_tcp_bind(&srv->listener, (struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&srv->listener, (int)cfg->listen_backlog, on_connection);
    if (rc != 0) {
        FB_ERROR("listen on %s: %s", cfg->listen, uv_strerror(rc));
        goto fail;
    }
    if (*cfg->cluster_listen) {
        char err[512];
        if (fc_net_start(&srv->loop, srv->b, cfg, &srv->cluster, err, sizeof err) != 0) {
            FB_ERROR("%s", err);
            goto fail;
        }
        FB_INFO("cluster %s: node %s on %s (port %d)", cfg->cluster_name, cfg->node_name,
                cfg->cluster_listen, fc_net_port(srv->cluster));
    }
    /* Before the first accept: a node restarted mid-evacuation refuses
     * clients from the start. */
    srv->evac = fe_node_new(srv->b, srv->cluster ? fc_net_cluster(srv->cluster) : NULL, cfg,
                            uv_now(&srv->loop));
    if (!srv->evac) {
        FB_ERROR("out of memory");
        goto fail;
    }
    uv_timer_init(&srv->loop, &srv->evac_timer);
    srv->evac_timer.data = srv;
    uv_timer_start(&srv->evac_timer, on_evac_timer, 0, 0);
    if (*cfg->admin_listen) {
        char err[512];
        if (fa_admin_start(&srv->loop, srv->b, srv->cluster ? fc_net_cluster(srv->cluster) : NULL,
                           srv->evac, cfg, &srv->admin, err, sizeof err) != 0) {
            FB_ERROR("%s", err);
            goto fail;
        }
        FB_INFO("admin HTTP server on %s (port %d)", cfg->admin_listen, fa_admin_port(srv->admin));
    }
    uv_timer_init(&srv->loop, &srv->tick);
    srv->tick.data = srv;
    uv_timer_start(&srv->tick, on_tick, TICK_MS, TICK_MS);
    uv_check_init(&srv->loop, &srv->flush);
    srv->flush.data = srv;
    uv_check_start(&srv->flush, on_check);
    uv_timer_init(&srv->loop, &srv->stop_timer);
    srv->stop_timer.data = srv;
    uv_signal_init(&srv->loop, &srv->sigterm);
    uv_signal_init(&srv->loop, &srv->sigint);
    srv->sigterm.data = srv->sigint.data = srv;
    uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
    uv_signal_start(&srv->sigint, on_signal, SIGINT);

    FB_INFO("ferrymq %s listening on %s (max_connections %u)", cfg->node_name, cfg->listen,
            cfg->max_connections);
    uv_run(&srv->loop, UV_RUN_DEFAULT);
    status = 0;
fail:
    /* Close whatever is left; client sockets go through on_handle_closed so
     * their connections are released before the broker. The cluster closes
     * its own handles first (close_walk would not know them). */
    if (srv->cluster)
        fc_net_stop(srv->cluster);
    fa_admin_stop(srv->admin);
    uv_walk(&srv->loop, close_walk, srv);
    uv_run(&srv->loop, UV_RUN_DEFAULT);
    fa_admin_free(srv->admin);
    fc_net_free(srv->cluster);
    fe_node_free(srv->evac);
    fb_broker_free(srv->b);
    uv_loop_close(&srv->loop);
    free(srv);
    return status;
}
