/*
 * platform_local.h: the local platform (see platform_local.c's header for
 * the run directory and the addresses). Ownership: fo_local_open copies the
 * config struct; the strings it points to (dir, secret, default_binary) and
 * the loop must outlive the platform. ops->free frees it; nodes and the
 * balancer keep running (ops->destroy stops them).
 */
#ifndef FO_PLATFORM_LOCAL_H
#define FO_PLATFORM_LOCAL_H

#include <uv.h>

#include "operator/lb.h"
#include "operator/platform.h"

typedef struct fo_local_config {
    const char *dir;            /* the cluster's run directory */
    fo_lb_t lb;                 /* which balancer (fixed for the cluster's life) */
    uint16_t port_base;         /* haproxy: first node port (see the addresses) */
    const char *default_binary; /* ferrymq when the spec names none */
    const char *secret;         /* cluster_secret every node gets */
    fo_lb_config_t lbcfg;
    uv_loop_t *loop;            /* child processes are spawned on it */
    void (*on_exit)(void *ctx); /* a node process exited */
    void *ctx;
} fo_local_config_t;

fo_platform_t *fo_local_open(const fo_local_config_t *cfg, char *err, size_t errlen);

#endif /* FO_PLATFORM_LOCAL_H */
