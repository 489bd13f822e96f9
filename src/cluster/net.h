/*
 * The cluster's network layer (libuv): the cluster listener, outgoing
 * links (name resolution, connect), batched writes, the cluster tick and DNS
 * polling. It runs on the broker's loop and drives cluster.c.
 *
 * Ownership: fc_net_start creates the cluster and every handle; fc_net_stop
 * closes the handles (the loop must then run until they are closed), and
 * fc_net_free frees what is left.
 */
#ifndef FC_NET_H
#define FC_NET_H

#include "cluster/cluster.h"

#include <uv.h>

typedef struct fc_net fc_net_t;

/* Returns 0, or -1 with a message in err. *out is set whenever the net
 * layer was created (also on some errors): stop and free it then. */
int fc_net_start(uv_loop_t *loop, fb_broker_t *b, const fb_config_t *cfg, fc_net_t **out,
                 char *err, size_t errlen);
/* Writes what is queued on every link (call once per loop iteration, after
 * the broker's flush). */
void fc_net_flush(fc_net_t *n);
/* Graceful leave: LEAVE to every peer, written out now. */
void fc_net_leave(fc_net_t *n);
void fc_net_stop(fc_net_t *n);
void fc_net_free(fc_net_t *n);
fc_cluster_t *fc_net_cluster(fc_net_t *n);
/* The port the cluster listener bound (cluster_listen with port 0). */
int fc_net_port(const fc_net_t *n);
#endif
