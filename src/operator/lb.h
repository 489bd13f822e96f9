/*
 * lb.h: the local platform's load balancers (../../docs/architecture.md,
 * "The upgrade controller"). One service address for the clients; behind it
 * the nodes. Two kinds, chosen by spec.loadBalancer:
 *
 *   haproxy  Debian's haproxy, one process started detached (it outlives a
 *            controller restart), configured once with an empty backend and
 *            then driven only through its runtime API socket: servers are
 *            added, set to "ready" (new connections) or "drain" (no new
 *            connections, established ones stay) and removed, never reloaded.
 *            Each server is health-checked on its node's /health/available.
 *   kernel   (root) an nftables table in the cluster's network namespace: the
 *            service address is a DNAT rule with random selection across the
 *            active nodes (numgen random mod N), as kube-proxy implements a
 *            Service; conntrack keeps established connections on their node
 *            when the rule changes. Replaced atomically (one nft transaction).
 *
 * Everything here is synchronous and short (a local socket, a child nft):
 * the controller calls it from its reconcile step. Every call is idempotent,
 * so a restarted controller simply calls fo_lb_set again.
 *
 * Ownership: fo_lb_open copies what it needs from cfg; fo_lb_close frees the
 * handle but leaves the balancer running (fo_lb_destroy tears it down).
 * Errors: -1 and one line in err.
 */
#ifndef FO_LB_H
#define FO_LB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "operator/spec.h"

#define FO_LB_MAX_BACKENDS 128u

typedef struct fo_lb fo_lb_handle_t;

typedef struct fo_lb_config {
    fo_lb_t kind;
    const char *dir;          /* run directory of the balancer (created if missing) */
    const char *name;         /* cluster name: haproxy backend, nft table suffix */
    const char *service_host; /* where clients connect, e.g. "127.0.0.1" */
    uint16_t service_port;
    const char *haproxy; /* haproxy binary (NULL: "/usr/sbin/haproxy") */
    uint32_t maxconn;    /* haproxy: client connections (<= 9900 here) */
    bool leastconn;      /* haproxy: balance leastconn (else roundrobin) */
    uint32_t check_ms;   /* haproxy: health check interval (default 500) */
    const char *netns;   /* kernel: namespace the rule lives in (we are in it) */
} fo_lb_config_t;

typedef struct fo_lb_backend {
    const char *name; /* node name: haproxy server name, unique */
    const char *host; /* numeric IPv4 */
    uint16_t port;    /* MQTT */
    uint16_t admin_port;
    bool active; /* receives new connections; false: existing ones stay (drain) */
} fo_lb_backend_t;

/* What the balancer really does now, read back from it (not remembered). */
typedef struct fo_lb_observed_server {
    char name[128];
    bool active;     /* new connections may go here (haproxy: admin state ready) */
    bool healthy;    /* haproxy: last health check passed; kernel: always true */
    int64_t current; /* haproxy: current connections through it; kernel: -1 */
} fo_lb_observed_server_t;

typedef struct fo_lb_observed {
    bool running;
    size_t n;
    fo_lb_observed_server_t servers[FO_LB_MAX_BACKENDS];
} fo_lb_observed_t;

/* Starts the balancer if it is not running (haproxy: process and socket;
 * kernel: the table and an empty rule); adopts a running one. */
fo_lb_handle_t *fo_lb_open(const fo_lb_config_t *cfg, char *err, size_t errlen);

/* Makes the balancer's server list exactly `b`: adds the missing ones (with
 * their health check), sets each to active or draining, removes servers not
 * in `b` (haproxy: drained, then deleted once no connection goes through it;
 * a server still carrying connections stays draining and the call succeeds:
 * call again later). */
int fo_lb_set(fo_lb_handle_t *lb, const fo_lb_backend_t *b, size_t n, char *err, size_t errlen);

/* Reads back what the balancer does now. */
int fo_lb_observe(fo_lb_handle_t *lb, fo_lb_observed_t *out, char *err, size_t errlen);

/* Frees the handle; the balancer keeps running. NULL is fine. */
void fo_lb_close(fo_lb_handle_t *lb);

/* Stops the balancer (haproxy: the process; kernel: the table) and frees
 * the handle. */
int fo_lb_destroy(fo_lb_handle_t *lb, char *err, size_t errlen);

#endif /* FO_LB_H */
