/* The admin JSON API (jansson): node and cluster status, clients. Bearer
 * token checked in admin.c before anything here runs. */
#include "admin/admin_int.h"
#include "broker/conn.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#ifndef FMQ_VERSION
#define FMQ_VERSION "unknown"
#endif

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned code, json_t *j)
{
    if (!j)
        return fa__error(c, 500, "out of memory");
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!text)
        return fa__error(c, 500, "out of memory");
    return fa__respond(c, code, "application/json", text, strlen(text), true);
}

static json_t *node_json(const fa_admin_t *a)
{
    const fb_broker_t *b = a->b;
    fe_load_t ld = {b->n_clients, (uint32_t)fb_map_count(b->sessions), 0};
    if (a->evac)
        fe_node_load(a->evac, &ld);
    return json_pack(
        "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:b, s:s, s:s}", "node",
        b->cfg->node_name, "version", FMQ_VERSION, "connections", (json_int_t)ld.connections,
        "network_connections", (json_int_t)b->n_conns, "sessions", (json_int_t)ld.sessions,
        "offline_sessions", (json_int_t)ld.offline_sessions, "subscriptions",
        (json_int_t)fb_subtab_count(b->subs), "retained", (json_int_t)fb_retain_count(b->retained),
        "uptime_s", (json_int_t)((fb_now_ms() - a->started_ms) / 1000u), "shutting_down",
        b->shutting_down, "available", a->evac ? fe_node_available(a->evac) : !b->shutting_down,
        "agent", a->evac ? fe_node_agent(a->evac) : "none", "state",
        a->evac ? fe_node_state(a->evac) : "disabled");
}

static enum MHD_Result get_cluster(fa_admin_t *a, struct MHD_Connection *c)
{
    json_t *nodes = json_array();
    json_t *me = node_json(a);
    if (me)
        json_object_set_new(me, "self", json_true());
    json_array_append_new(nodes, me);
    if (a->cl) {
        fc_peer_info_t info[256];
        size_t n = fc_cluster_peers(a->cl, info, 256);
        for (size_t i = 0; i < n && i < 256; i++) {
            json_t *p = json_pack("{s:s, s:s, s:s, s:i, s:b, s:I}", "node", info[i].name,
                                  "cluster_addr", info[i].cluster_addr, "client_addr",
                                  info[i].client_addr, "protocol", (int)info[i].version, "up",
                                  info[i].up, "routes", (json_int_t)info[i].routes);
            fc_node_load_t ld;
            if (p && fc_cluster_peer_load(a->cl, info[i].name, &ld)) {
                static const char *const agents[] = {"none", "evacuation", "rebalance"};
                json_object_set_new(p, "connections", json_integer(ld.connections));
                json_object_set_new(p, "sessions", json_integer(ld.sessions));
                json_object_set_new(p, "offline_sessions", json_integer(ld.offline_sessions));
                json_object_set_new(p, "available", json_boolean(ld.available));
                json_object_set_new(p, "agent", json_string(agents[ld.agent <= 2 ? ld.agent : 0]));
                /* what only the status text carries */
                json_t *st = *ld.status ? json_loads(ld.status, 0, NULL) : NULL;
                json_t *v = json_object_get(st, "version"),
                       *subs = json_object_get(st, "subscriptions");
                if (json_is_string(v))
                    json_object_set(p, "version", v);
                if (json_is_integer(subs))
                    json_object_set(p, "subscriptions", subs);
                json_decref(st);
            }
            json_array_append_new(nodes, p);
        }
    }
    return send_json(
        c, 200,
        json_pack("{s:s, s:o}", "cluster", a->cl ? a->b->cfg->cluster_name : "", "nodes", nodes));
}

static json_t *client_json(const fb_session_t *s)
{
    const fb_conn_t *c = s->conn;
    return json_pack("{s:s, s:b, s:i, s:I, s:I, s:I, s:I, s:I}", "client_id", s->client_id,
                     "connected", c != NULL && c->state == FB_CONN_ACTIVE, "protocol",
                     c ? (int)c->version : 0, "session_expiry_s", (json_int_t)s->expiry,
                     "subscriptions", (json_int_t)s->n_subs, "inflight", (json_int_t)s->n_inflight,
                     "queued", (json_int_t)s->q_len, "dropped", (json_int_t)s->dropped);
}

/* Reads an unsigned query argument; false (with a message) when malformed. */
static bool query_uint(struct MHD_Connection *c, const char *name, unsigned long def,
                       unsigned long max, unsigned long *out, const char **why)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    *out = def;
    if (!v)
        return true;
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (!*v || *end || v[0] == '-' || n > max) {
        *why = name;
        return false;
    }
    *out = n;
    return true;
}

/* Sessions in table order; `page` is 1-based. */
static enum MHD_Result list_clients(fa_admin_t *a, struct MHD_Connection *c)
{
    unsigned long page, limit;
    const char *bad = NULL;
    if (!query_uint(c, "page", 1, 1000000000ul, &page, &bad) ||
        !query_uint(c, "limit", 100, 10000, &limit, &bad) || page == 0 || limit == 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s must be a whole number (page >= 1, 1 <= limit <= 10000)",
                 bad ? bad : "page and limit");
        return fa__error(c, 400, msg);
    }
    json_t *items = json_array();
    size_t pos = 0, index = 0, skip = (page - 1) * limit;
    const void *k;
    size_t kl;
    void *v;
    while (fb_map_next(a->b->sessions, &pos, &k, &kl, &v)) {
        const fb_session_t *s = v;
        if (s->moved)
            continue;
        if (index++ < skip || json_array_size(items) >= limit)
            continue;
        json_array_append_new(items, client_json(s));
    }
    return send_json(c, 200,
                     json_pack("{s:o, s:I, s:I, s:I}", "data", items, "page", (json_int_t)page,
                               "limit", (json_int_t)limit, "total", (json_int_t)index));
}

static enum MHD_Result one_client(fa_admin_t *a, struct MHD_Connection *c, const char *method,
                                  const char *id)
{
    fb_session_t *s = fb_map_get(a->b->sessions, id, strlen(id));
    if (!s || s->moved)
        return fa__error(c, 404, "no such client on this node");
    if (strcmp(method, "GET") == 0)
        return send_json(c, 200, client_json(s));
    /* DELETE: kick. The connection ends with 0x98 (Administrative
     * action); the session stays, as for any disconnect, unless
     * ?discard=true asks for it to go too. */
    const char *discard = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "discard");
    bool drop = discard && strcmp(discard, "true") == 0;
    if (discard && !drop && strcmp(discard, "false") != 0)
        return fa__error(c, 400, "discard must be true or false");
    bool was_connected = s->conn != NULL;
    if (s->conn)
        fb_conn_close(s->conn, FMQ_RC_ADMINISTRATIVE_ACTION, "kicked by the admin API");
    s = fb_map_get(a->b->sessions, id, strlen(id)); /* a lifetime-0 session ended */
    if (drop && s && !s->moved && !s->conn)
        fb_broker_session_drop(a->b, s);
    fb_broker_flush(a->b);
    return send_json(c, 200,
                     json_pack("{s:s, s:b, s:b}", "client_id", id, "disconnected", was_connected,
                               "session_discarded", drop));
}

/* An operation with a status, a start that takes a body and a stop:
 * evacuation and rebalance answer the same way. */
typedef struct operation {
    json_t *(*status)(const fe_node_t *n);
    int (*start)(fe_node_t *n, const char *body, size_t len, char *err, size_t errlen);
    int (*stop)(fe_node_t *n, char *err, size_t errlen);
} operation_t;

static int evac_start(fe_node_t *n, const char *body, size_t len, char *err, size_t errlen)
{
    fe_evac_opts_t o;
    if (fe_evac_opts_parse(body, len, &o, err, errlen) != 0)
        return 400;
    return fe_evac_start(n, &o, err, errlen);
}

static int rebal_start(fe_node_t *n, const char *body, size_t len, char *err, size_t errlen)
{
    fe_rebal_opts_t o;
    if (fe_rebal_opts_parse(body, len, &o, err, errlen) != 0)
        return 400;
    return fe_rebal_start(n, &o, err, errlen);
}

static const operation_t evacuation_op = {fe_evac_status, evac_start, fe_evac_stop};
static const operation_t rebalance_op = {fe_rebal_status, rebal_start, fe_rebal_stop};

/* GET <base>, POST <base>/start, POST <base>/stop: `what` is the rest of
 * the path after <base>. */
static enum MHD_Result operation(fa_admin_t *a, struct MHD_Connection *c, const operation_t *op,
                                 const char *method, const char *what, const char *body, size_t len)
{
    char err[512];
    if (!*what)
        return strcmp(method, "GET") == 0 ? send_json(c, 200, op->status(a->evac))
                                          : fa__error(c, 405, "use GET");
    bool start = strcmp(what, "/start") == 0;
    if (!start && strcmp(what, "/stop") != 0)
        return fa__error(c, 404, "no such endpoint");
    if (strcmp(method, "POST") != 0)
        return fa__error(c, 405, "use POST");
    int code =
        start ? op->start(a->evac, body, len, err, sizeof err) : op->stop(a->evac, err, sizeof err);
    if (code)
        return fa__error(c, (unsigned)code, err);
    return send_json(c, 200, op->status(a->evac));
}

enum MHD_Result fa__api(fa_admin_t *a, struct MHD_Connection *c, const char *method,
                        const char *url, const char *body, size_t body_len)
{
    bool get = strcmp(method, "GET") == 0;
    if (strcmp(url, "/api/v1/node") == 0)
        return get ? send_json(c, 200, node_json(a)) : fa__error(c, 405, "use GET");
    if (strcmp(url, "/api/v1/cluster") == 0)
        return get ? get_cluster(a, c) : fa__error(c, 405, "use GET");
    if (strcmp(url, "/api/v1/clients") == 0)
        return get ? list_clients(a, c) : fa__error(c, 405, "use GET");
    static const char prefix[] = "/api/v1/clients/";
    if (strncmp(url, prefix, sizeof prefix - 1) == 0 && url[sizeof prefix - 1]) {
        if (!get && strcmp(method, "DELETE") != 0)
            return fa__error(c, 405, "use GET or DELETE");
        return one_client(a, c, method, url + sizeof prefix - 1);
    }
    static const char evac[] = "/api/v1/evacuation", rebal[] = "/api/v1/rebalance";
    bool is_evac = strncmp(url, evac, sizeof evac - 1) == 0;
    bool is_rebal = strncmp(url, rebal, sizeof rebal - 1) == 0;
    bool is_global = strcmp(url, "/api/v1/global_status") == 0;
    if ((is_evac || is_rebal || is_global) && !a->evac)
        return fa__error(c, 503, "evacuation and rebalance are not running in this process");
    if (is_evac)
        return operation(a, c, &evacuation_op, method, url + sizeof evac - 1, body, body_len);
    if (is_rebal)
        return operation(a, c, &rebalance_op, method, url + sizeof rebal - 1, body, body_len);
    if (is_global)
        return get ? send_json(c, 200, fe_global_status(a->evac)) : fa__error(c, 405, "use GET");
    return fa__error(c, 404, "no such endpoint");
}
