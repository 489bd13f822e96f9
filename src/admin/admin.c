/* The admin HTTP server on the broker's loop: /health/live, /health/ready,
 * /health/available, /metrics, and the request plumbing of /api/. */
#include "admin/admin_int.h"
#include "broker/log.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- metrics ---- */

typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf_t;

static void put(sbuf_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(sbuf_t *s, const char *fmt, ...)
{
    if (s->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(s->p ? s->p + s->len : NULL, s->p ? s->cap - s->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            s->oom = true;
            return;
        }
        if (s->p && s->len + (size_t)n < s->cap) {
            s->len += (size_t)n;
            return;
        }
        size_t cap = s->cap ? s->cap * 2 : 4096;
        while (cap < s->len + (size_t)n + 1)
            cap *= 2;
        char *q = realloc(s->p, cap);
        if (!q) {
            s->oom = true;
            return;
        }
        s->p = q;
        s->cap = cap;
    }
}

static void metric(sbuf_t *s, const char *name, const char *type, const char *help,
                   unsigned long long v)
{
    put(s, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name, v);
}

/* A counter family with one series per QoS. */
static void per_qos(sbuf_t *s, const char *name, const char *help, const uint64_t v[3])
{
    put(s, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (int q = 0; q < 3; q++)
        put(s, "%s{qos=\"%d\"} %llu\n", name, q, (unsigned long long)v[q]);
}

char *fa_metrics_text(const fb_broker_t *b, const fc_cluster_t *cl, const fe_node_t *evac,
                      size_t *len)
{
    sbuf_t s = {0};
    const fb_stats_t *st = &b->stats;
    metric(&s, "ferrymq_connections", "gauge",
           "Client network connections open now (with those still before CONNECT).", b->n_conns);
    metric(&s, "ferrymq_clients_connected", "gauge",
           "Client connections that completed CONNECT, open now.", b->n_clients);
    metric(&s, "ferrymq_sessions", "gauge", "Sessions held by this node (online and offline).",
           fb_map_count(b->sessions));
    metric(&s, "ferrymq_subscriptions", "gauge", "Subscriptions: (filter, session) pairs.",
           fb_subtab_count(b->subs));
    metric(&s, "ferrymq_retained_messages", "gauge", "Retained messages stored.",
           fb_retain_count(b->retained));
    metric(&s, "ferrymq_connections_accepted_total", "counter", "Connections accepted.",
           st->conns_accepted);
    metric(&s, "ferrymq_connections_closed_total", "counter", "Connections closed.",
           st->conns_closed);
    metric(&s, "ferrymq_connections_refused_total", "counter",
           "Connections closed on accept, far past max_connections.", st->conns_refused);
    per_qos(&s, "ferrymq_messages_received_total", "PUBLISH packets received from clients, by QoS.",
            st->msgs_in);
    per_qos(&s, "ferrymq_messages_sent_total", "PUBLISH packets sent to clients, by QoS.",
            st->msgs_out);
    per_qos(&s, "ferrymq_messages_dropped_total",
            "Deliveries dropped, by the QoS they had: queue limit, expiry, a client that does "
            "not read, a packet over its maximum.",
            st->msgs_dropped);
    metric(&s, "ferrymq_bytes_received_total", "counter", "Bytes read from clients.", st->bytes_in);
    metric(&s, "ferrymq_bytes_sent_total", "counter", "Bytes queued to clients.", st->bytes_out);
    metric(&s, "ferrymq_takeovers_total", "counter",
           "Sessions taken over by a new connection (same node or another).", st->takeovers);
    metric(&s, "ferrymq_sessions_expired_total", "counter", "Sessions expired.",
           st->sessions_expired);
    metric(&s, "ferrymq_wills_published_total", "counter", "Will messages published.",
           st->wills_published);
    metric(&s, "ferrymq_protocol_errors_total", "counter",
           "Connections closed for a protocol error.", st->protocol_errors);
    metric(&s, "ferrymq_connections_redirected_total", "counter",
           "CONNECTs refused with 0x9C (use another server) during an evacuation or rebalance.",
           st->conns_redirected);
    metric(&s, "ferrymq_connections_evicted_total", "counter",
           "Connections closed by an evacuation or rebalance.", st->conns_evicted);
    if (evac) {
        fe_metrics_t em;
        fe_node_metrics(evac, &em);
        fe_load_t ld;
        fe_node_load(evac, &ld);
        metric(&s, "ferrymq_sessions_offline", "gauge", "Sessions held here without a connection.",
               ld.offline_sessions);
        metric(&s, "ferrymq_available", "gauge",
               "1 when the node takes new clients (GET /health/available answers 200), else 0.",
               fe_node_available(evac));
        put(&s, "# HELP ferrymq_evacuation_state The evacuation phase: 1 for the current one.\n"
                "# TYPE ferrymq_evacuation_state gauge\n");
        for (int i = 0; i < 6; i++)
            put(&s, "ferrymq_evacuation_state{state=\"%s\"} %d\n", fe_evac_state_names[i],
                em.evac_state == i);
        metric(&s, "ferrymq_evacuation_conn_evict_rate", "gauge",
               "Connections per second the evacuation evicts now (0 outside evicting_conns).",
               em.evac_rate_now);
        metric(&s, "ferrymq_evacuation_connections_evicted_total", "counter",
               "Connections evicted by evacuations since the process started.",
               em.evac_conns_evicted);
        metric(&s, "ferrymq_evacuation_sessions_migrated_total", "counter",
               "Offline sessions evacuations moved to other nodes since the process started.",
               em.evac_sessions_migrated);
        metric(
            &s, "ferrymq_evacuation_sessions_failed_total", "counter",
            "Sessions an evacuation gave up moving after every attempt failed (they stayed here).",
            em.evac_sessions_failed);
        put(&s,
            "# HELP ferrymq_rebalance_role 1 when this node has the role in a running "
            "rebalance.\n# TYPE ferrymq_rebalance_role gauge\n"
            "ferrymq_rebalance_role{role=\"coordinator\"} %d\n"
            "ferrymq_rebalance_role{role=\"donor\"} %d\n",
            em.coordinator, em.donor);
        metric(&s, "ferrymq_rebalance_connections_evicted_total", "counter",
               "Connections evicted here as a rebalance donor.", em.donor_conns_evicted);
        metric(&s, "ferrymq_rebalance_sessions_migrated_total", "counter",
               "Offline sessions moved from here as a rebalance donor.",
               em.donor_sessions_migrated);
    }
    if (cl) {
        fc_peer_info_t info[64];
        size_t n = fc_cluster_peers(cl, info, 64);
        metric(&s, "ferrymq_cluster_peers_up", "gauge", "Cluster peers with a link up.", n);
        put(&s, "# HELP ferrymq_cluster_peer_routes Filters a peer announced.\n"
                "# TYPE ferrymq_cluster_peer_routes gauge\n");
        for (size_t i = 0; i < n && i < 64; i++)
            put(&s, "ferrymq_cluster_peer_routes{peer=\"%s\",protocol=\"%u\"} %u\n", info[i].name,
                info[i].version, info[i].routes);
        put(&s, "# HELP ferrymq_cluster_peer_up 1 for each peer whose link is up.\n"
                "# TYPE ferrymq_cluster_peer_up gauge\n");
        for (size_t i = 0; i < n && i < 64; i++)
            put(&s, "ferrymq_cluster_peer_up{peer=\"%s\"} 1\n", info[i].name);
        put(&s, "# HELP ferrymq_cluster_peer_connections Client connections a peer last "
                "reported (protocol 4).\n# TYPE ferrymq_cluster_peer_connections gauge\n");
        for (size_t i = 0; i < n && i < 64; i++) {
            fc_node_load_t ld;
            if (fc_cluster_peer_load(cl, info[i].name, &ld))
                put(&s, "ferrymq_cluster_peer_connections{peer=\"%s\"} %u\n", info[i].name,
                    ld.connections);
        }
        const fc_stats_t *cs = fc_cluster_stats(cl);
        metric(&s, "ferrymq_cluster_frames_received_total", "counter", "Cluster frames read.",
               cs->frames_in);
        metric(&s, "ferrymq_cluster_frames_sent_total", "counter", "Cluster frames written.",
               cs->frames_out);
        metric(&s, "ferrymq_cluster_bytes_received_total", "counter", "Cluster bytes read.",
               cs->bytes_in);
        metric(&s, "ferrymq_cluster_bytes_sent_total", "counter", "Cluster bytes written.",
               cs->bytes_out);
        metric(&s, "ferrymq_cluster_publishes_forwarded_total", "counter",
               "Messages forwarded to peers for delivery.", cs->publishes_forwarded);
        metric(&s, "ferrymq_cluster_publishes_received_total", "counter",
               "Messages received from peers.", cs->publishes_received);
        metric(&s, "ferrymq_cluster_sessions_shipped_total", "counter",
               "Sessions sent to another node (takeover or migration).", cs->sessions_shipped);
        metric(&s, "ferrymq_cluster_sessions_received_total", "counter",
               "Sessions received from another node.", cs->sessions_received);
        metric(&s, "ferrymq_cluster_sessions_discarded_total", "counter",
               "Sessions received that a newer one here made obsolete.", cs->sessions_discarded);
        metric(&s, "ferrymq_cluster_takeovers_timed_out_total", "counter",
               "CONNECTs refused because their session did not arrive in time.",
               cs->takeovers_timed_out);
        metric(&s, "ferrymq_cluster_deliveries_forwarded_total", "counter",
               "Messages a handoff stub forwarded to a session's new node.",
               cs->deliveries_forwarded);
        metric(&s, "ferrymq_cluster_duplicates_dropped_total", "counter",
               "Second copies dropped during handoffs.", cs->duplicates_dropped);
        metric(&s, "ferrymq_cluster_deliveries_held_total", "counter",
               "Deliveries held back during handoffs to keep their order.", cs->deliveries_held);
        metric(&s, "ferrymq_cluster_links_refused_total", "counter",
               "Links refused: wrong secret, cluster name or protocol version.", cs->links_refused);
        metric(&s, "ferrymq_cluster_peers_down_total", "counter", "Peers lost.", cs->peers_down);
    }
    if (s.oom) {
        free(s.p);
        return NULL;
    }
    *len = s.len;
    return s.p;
}

/* ---- HTTP ---- */

enum MHD_Result fa__respond(struct MHD_Connection *c, unsigned code, const char *type, char *body,
                            size_t len, bool owned)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
    if (!r) {
        if (owned)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (code == 401)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"ferrymq\"");
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result json(struct MHD_Connection *c, unsigned code, const char *text)
{
    return fa__respond(c, code, "application/json", (char *)text, strlen(text), false);
}

enum MHD_Result fa__error(struct MHD_Connection *c, unsigned code, const char *message)
{
    /* jansson escapes the message (it may quote a field name or a value). */
    json_t *j = json_pack("{s:s}", "error", message);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text)
        return json(c, code, "{\"error\":\"(message not printable)\"}");
    return fa__respond(c, code, "application/json", text, strlen(text), true);
}

/* "Authorization: Bearer <admin_token>", compared in constant time. */
static bool authorized(const fa_admin_t *a, struct MHD_Connection *c)
{
    const char *token = a->cfg->admin_token;
    if (!*token)
        return true; /* loopback only, see fa_admin_start */
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    size_t n = strlen(token);
    return strlen(h) == n && CRYPTO_memcmp(h, token, n) == 0;
}

/* A request's body, gathered across MHD's calls (capped at FE_BODY_MAX). */
typedef struct req {
    char *body;
    size_t len;
    bool too_big;
} req_t;

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    req_t *r = *con_cls;
    if (r) {
        free(r->body);
        free(r);
        *con_cls = NULL;
    }
}

static enum MHD_Result health(fa_admin_t *a, struct MHD_Connection *c, const char *url)
{
    if (strcmp(url, "/health/live") == 0)
        return json(c, 200, "{\"status\":\"live\"}");
    if (strcmp(url, "/health/ready") == 0)
        return a->b->shutting_down ? json(c, 503, "{\"status\":\"shutting down\"}")
                                   : json(c, 200, "{\"status\":\"ready\"}");
    /* /health/available: what load balancers route by. */
    if (a->b->shutting_down)
        return json(c, 503, "{\"code\":\"NODE_SHUTTING_DOWN\",\"message\":\"Node shutting down\"}");
    if (a->evac && !fe_node_available(a->evac))
        return json(c, 503,
                    "{\"code\":\"NODE_EVACUATING\",\"message\":\"Node evacuating or "
                    "donating in a rebalance\"}");
    return json(c, 200, "{\"status\":\"available\"}");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_len, void **con_cls)
{
    (void)version;
    fa_admin_t *a = cls;
    req_t *r = *con_cls;
    if (!r) { /* first call: headers only */
        if (!(r = calloc(1, sizeof *r)))
            return MHD_NO;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_len) { /* more of the body */
        if (!r->too_big && r->len + *upload_len <= FE_BODY_MAX) {
            char *p = realloc(r->body, r->len + *upload_len + 1);
            if (!p)
                return MHD_NO;
            memcpy(p + r->len, upload, *upload_len);
            r->body = p;
            r->len += *upload_len;
            r->body[r->len] = 0;
        } else {
            r->too_big = true; /* read and dropped: the answer is 413 */
        }
        *upload_len = 0;
        return MHD_YES;
    }
    if (r->too_big)
        return fa__error(c, 413, "request body over 65536 bytes");
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (strncmp(url, "/api/", 5) == 0) {
        if (!authorized(a, c))
            return fa__error(c, 401, "missing or wrong bearer token");
        fb_broker_set_clock(a->b, fb_now_ms(), uv_now(a->loop));
        return fa__api(a, c, method, url, r->body ? r->body : "", r->len);
    }
    /* Health and metrics need no token: load balancers, probes and
     * Prometheus call them. */
    if (strcmp(url, "/health/live") == 0 || strcmp(url, "/health/ready") == 0 ||
        strcmp(url, "/health/available") == 0 || strcmp(url, "/metrics") == 0) {
        if (!get)
            return fa__error(c, 405, "method not allowed: use GET");
    } else {
        return fa__error(c, 404, "no such endpoint");
    }
    if (strncmp(url, "/health/", 8) == 0)
        return health(a, c, url);
    size_t len = 0;
    char *text = fa_metrics_text(a->b, a->cl, a->evac, &len);
    if (!text)
        return json(c, 500, "{\"error\":\"out of memory\"}");
    return fa__respond(c, 200, "text/plain; version=0.0.4", text, len, true);
}

static void arm_timer(fa_admin_t *a);

static void run(fa_admin_t *a)
{
    fb_broker_set_clock(a->b, fb_now_ms(), uv_now(a->loop));
    MHD_run(a->d);
    arm_timer(a);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    run(h->data);
}

static void on_timer(uv_timer_t *t)
{
    run(t->data);
}

static void arm_timer(fa_admin_t *a)
{
    MHD_UNSIGNED_LONG_LONG ms = 0;
    if (MHD_get_timeout(a->d, &ms) == MHD_YES)
        uv_timer_start(&a->timer, on_timer, ms, 0);
    else
        uv_timer_stop(&a->timer);
}

static bool parse_addr(const char *spec, struct sockaddr_storage *ss)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof host)
        return false;
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = 0;
    int port = atoi(colon + 1);
    if (host[0] == '[') {
        size_t hl = strlen(host);
        host[hl - 1] = 0;
        return uv_ip6_addr(host + 1, port, (struct sockaddr_in6 *)ss) == 0;
    }
    return uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0;
}

int fa_admin_start(uv_loop_t *loop, fb_broker_t *b, fc_cluster_t *cl, fe_node_t *evac,
                   const fb_config_t *cfg, fa_admin_t **out, char *err, size_t errlen)
{
    *out = NULL;
    struct sockaddr_storage ss = {0};
    if (!parse_addr(cfg->admin_listen, &ss)) {
        snprintf(err, errlen, "admin_listen: cannot parse \"%s\"", cfg->admin_listen);
        return -1;
    }
    bool loopback = (ss.ss_family == AF_INET &&
                     (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127) ||
                    (ss.ss_family == AF_INET6 &&
                     IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr));
    if (!loopback && !*cfg->admin_token) {
        snprintf(err, errlen,
                 "admin_listen %s is not a loopback address: set admin_token (or "
                 "FERRYMQ_ADMIN_TOKEN) first, the API can disconnect clients",
                 cfg->admin_listen);
        return -1;
    }
    fa_admin_t *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "admin: out of memory");
        return -1;
    }
    a->loop = loop;
    a->b = b;
    a->cl = cl;
    a->evac = evac;
    a->cfg = cfg;
    a->started_ms = fb_now_ms();
    unsigned flags = MHD_USE_EPOLL | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    a->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, a, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, 256u,
                            MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                            (size_t)65536, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                            MHD_OPTION_END);
    if (!a->d) {
        snprintf(err, errlen, "admin_listen %s: cannot start the HTTP server (address in use?)",
                 cfg->admin_listen);
        free(a);
        return -1;
    }
    const union MHD_DaemonInfo *fdi = MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *pi = MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_BIND_PORT);
    a->port = pi ? pi->port : 0;
    *out = a;
    uv_timer_init(loop, &a->timer);
    a->timer.data = a;
    a->timer_on = true;
    if (!fdi || uv_poll_init(loop, &a->poll, fdi->epoll_fd) != 0) {
        snprintf(err, errlen, "admin: cannot watch the HTTP server's epoll descriptor");
        return -1;
    }
    a->poll.data = a;
    a->poll_on = true;
    uv_poll_start(&a->poll, UV_READABLE, on_poll);
    arm_timer(a);
    return 0;
}

int fa_admin_port(const fa_admin_t *a)
{
    return a->port;
}

void fa_admin_stop(fa_admin_t *a)
{
    if (!a)
        return;
    if (a->poll_on && !uv_is_closing((uv_handle_t *)&a->poll))
        uv_close((uv_handle_t *)&a->poll, NULL);
    if (a->timer_on && !uv_is_closing((uv_handle_t *)&a->timer))
        uv_close((uv_handle_t *)&a->timer, NULL);
}

void fa_admin_free(fa_admin_t *a)
{
    if (!a)
        return;
    if (a->d)
        MHD_stop_daemon(a->d);
    free(a);
}
