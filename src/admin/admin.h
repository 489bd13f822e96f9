/*
 * The node's admin HTTP server (libmicrohttpd on the broker's libuv loop):
 * health checks, Prometheus metrics and the JSON admin API
 * (docs/admin-api.md).
 *
 * MHD runs in its epoll mode: one file descriptor, watched by a uv_poll
 * handle, plus a timer for MHD's own timeouts. Handlers therefore run on the
 * loop thread and read broker state without locks, and never block.
 *
 * Ownership: fa_admin_start borrows the broker, the cluster (NULL on a
 * single node) and the config; fa_admin_stop closes the handles (the loop
 * must run until they are closed) and fa_admin_free releases the rest.
 */
#ifndef FA_ADMIN_H
#define FA_ADMIN_H

#include "broker/broker.h"
#include "cluster/cluster.h"
#include "evac/evac.h"

#include <uv.h>

typedef struct fa_admin fa_admin_t;

/* Returns 0, or -1 with a message in err. *out is set whenever handles
 * were created (stop and free it then). */
int fa_admin_start(uv_loop_t *loop, fb_broker_t *b, fc_cluster_t *cl, fe_node_t *evac,
                   const fb_config_t *cfg, fa_admin_t **out, char *err, size_t errlen);
/* The port it bound (admin_listen with port 0 picks one). */
int fa_admin_port(const fa_admin_t *a);
void fa_admin_stop(fa_admin_t *a);
void fa_admin_free(fa_admin_t *a);

/* The Prometheus text exposition of the node's metrics into a malloc'd
 * string (caller frees), NULL on ENOMEM. Pure: tests call it directly.
 * evac may be NULL (no evacuation metrics then). */
char *fa_metrics_text(const fb_broker_t *b, const fc_cluster_t *cl, const fe_node_t *evac,
                      size_t *len);
#endif
