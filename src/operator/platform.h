/*
 * platform.h: what the controller needs from where the nodes run. The
 * engine decides, the controller observes and acts, a platform only runs
 * nodes and routes the service address:
 *
 *   observe       every node it has (revision, ordinal, process up, being
 *                 stopped, restarts), each node's addresses, and what the
 *                 load balancer routes now (read back from it);
 *   ensure_node   node (revision, ordinal) exists and runs (idempotent:
 *                 creates it, restarts it, or does nothing; a node that keeps
 *                 exiting is restarted with a growing back-off, and a restart
 *                 leaves a note in err (why it had exited) with success);
 *   delete_node   stops it (SIGTERM: a graceful leave) and removes it once it
 *                 has exited (idempotent);
 *   route         the balancer sends new connections to exactly these nodes,
 *                 established ones stay where they are;
 *   destroy       every node and the balancer gone.
 *
 * `local` (platform_local.c) runs nodes as child processes under a run
 * directory; `kubernetes` (later) maps the same calls to a StatefulSet per
 * revision and a Service whose selector names the active nodes.
 * Health, load and evacuation are read from each node's admin API by the
 * controller (probe.c), the same on every platform.
 */
#ifndef FO_PLATFORM_H
#define FO_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "operator/engine.h"
#include "operator/spec.h"

typedef struct fo_pnode {
    char name[FO_NODE_NAME_MAX];
    char revision[FO_REV_BUF];
    uint32_t ordinal;
    bool running;
    bool terminating;
    bool ever_ready;
    uint32_t restarts;
    int pid;
    char mqtt_addr[64]; /* HOST:PORT clients reach it on, behind the service */
    char admin_url[80]; /* http://HOST:PORT */
    char cluster_addr[64];
} fo_pnode_t;

typedef struct fo_pworld {
    fo_pnode_t nodes[FO_MAX_NODES];
    size_t n_nodes;
    bool lb_running;
    char lb_active[FO_MAX_NODES][FO_NODE_NAME_MAX]; /* routed and healthy */
    size_t n_lb_active;
    char lb_error[256];
} fo_pworld_t;

typedef struct fo_platform fo_platform_t;

typedef struct fo_platform_ops {
    int (*observe)(fo_platform_t *p, fo_pworld_t *w);
    int (*ensure_node)(fo_platform_t *p, const fo_spec_t *spec, const char *revision,
                       uint32_t ordinal, char *err, size_t errlen);
    int (*delete_node)(fo_platform_t *p, const char *name, char *err, size_t errlen);
    int (*route)(fo_platform_t *p, const char *const *names, size_t n, char *err, size_t errlen);
    /* The node was seen ready (remembered across controller restarts). */
    void (*mark_ready)(fo_platform_t *p, const char *name);
    int (*destroy)(fo_platform_t *p, char *err, size_t errlen);
    void (*free)(fo_platform_t *p);
} fo_platform_ops_t;

struct fo_platform {
    const fo_platform_ops_t *ops;
};

#endif /* FO_PLATFORM_H */
