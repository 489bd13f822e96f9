/* Internal to src/admin: shared by admin.c (server, auth, health, metrics)
 * and api.c (the JSON API). */
#ifndef FA_ADMIN_INT_H
#define FA_ADMIN_INT_H

#include "admin/admin.h"

#include <microhttpd.h>

struct fa_admin {
    uv_loop_t *loop;
    fb_broker_t *b;
    fc_cluster_t *cl;
    fe_node_t *evac;
    const fb_config_t *cfg;
    struct MHD_Daemon *d;
    uv_poll_t poll;
    uv_timer_t timer;
    bool poll_on, timer_on;
    int port;
    uint64_t started_ms;
};

/* Queues a response; `owned` bodies are freed by MHD. */
enum MHD_Result fa__respond(struct MHD_Connection *c, unsigned code, const char *type, char *body,
                            size_t len, bool owned);
/* {"error": message} with the status code. */
enum MHD_Result fa__error(struct MHD_Connection *c, unsigned code, const char *message);
/* /api/v1/...: the caller has authenticated the request and read its body
 * (at most FE_BODY_MAX bytes; body is NUL-terminated). */
enum MHD_Result fa__api(fa_admin_t *a, struct MHD_Connection *c, const char *method,
                        const char *url, const char *body, size_t body_len);
#endif
