/* Load reports and rebalance orders between nodes (protocol 4): the
 * cluster carries them; src/evac decides what they mean. */
#include "cluster/cluster_int.h"

#include <stdlib.h>
#include <string.h>

#define STATUS_MAX (64u * 1024u) /* a node's status text, bytes */

static void load_to_frame(const fc_node_load_t *ld, fc_frame_t *f)
{
    *f = (fc_frame_t){.type = FC_T_NODE_LOAD};
    f->load.connections = ld->connections;
    f->load.sessions = ld->sessions;
    f->load.offline_sessions = ld->offline_sessions;
    f->load.pending_connects = ld->pending_connects;
    f->load.connack_count = ld->connack_count;
    f->load.connack_mean_ms = ld->connack_mean_ms;
    f->load.connack_max_ms = ld->connack_max_ms;
    f->load.agent = ld->agent <= FC_AGENT_REBALANCE ? ld->agent : FC_AGENT_NONE;
    f->load.flags = ld->available ? FC_LOADF_AVAILABLE : 0;
}

static void frame_to_load(const fc_frame_t *f, const char *status, fc_node_load_t *ld)
{
    ld->connections = f->load.connections;
    ld->sessions = f->load.sessions;
    ld->offline_sessions = f->load.offline_sessions;
    ld->pending_connects = f->load.pending_connects;
    ld->connack_count = f->load.connack_count;
    ld->connack_mean_ms = f->load.connack_mean_ms;
    ld->connack_max_ms = f->load.connack_max_ms;
    ld->agent = f->load.agent;
    ld->available = (f->load.flags & FC_LOADF_AVAILABLE) != 0;
    ld->status = status ? status : "";
}

/* A NUL-terminated copy of a status text, clipped to STATUS_MAX. */
static char *copy_status(const uint8_t *p, size_t n)
{
    if (n > STATUS_MAX)
        n = 0; /* a status that large is not one we wrote: drop it */
    char *s = malloc(n + 1);
    if (!s)
        return NULL;
    if (n)
        memcpy(s, p, n);
    s[n] = 0;
    return s;
}

void fc_cluster_publish_load(fc_cluster_t *cl, const fc_node_load_t *ld)
{
    const char *status = ld->status ? ld->status : "";
    char *copy = copy_status((const uint8_t *)status, strlen(status));
    if (!copy)
        return; /* out of memory: peers keep the last report */
    free(cl->self_status);
    cl->self_status = copy;
    load_to_frame(ld, &cl->self_load);
    cl->self_load.load.status = fmq_cstr(copy);
    cl->has_self_load = true;
    for (fc_link_t *l = cl->links, *next; l; l = next) {
        next = l->next;
        if (l->state == L_UP && l->version >= 4)
            fc__send(l, &cl->self_load);
    }
}

void fc__load_link_up(fc_link_t *l)
{
    fc_cluster_t *cl = l->cl;
    if (cl->has_self_load && l->version >= 4)
        fc__send(l, &cl->self_load);
}

int fc__on_node_load(fc_link_t *l, const fc_frame_t *f)
{
    if (l->version < 4)
        return -1;
    char *copy = copy_status(f->load.status.ptr, f->load.status.len);
    if (!copy)
        return 0; /* keep the last report */
    free(l->load_status);
    l->load_status = copy;
    l->load = *f;
    l->load.load.status = fmq_cstr(copy);
    l->has_load = true;
    return 0;
}

bool fc_cluster_peer_load(const fc_cluster_t *cl, const char *node, fc_node_load_t *out)
{
    fc_link_t *l = fc__peer(cl, fmq_cstr(node));
    if (!l || l->state != L_UP || !l->has_load)
        return false;
    frame_to_load(&l->load, l->load_status, out);
    return true;
}

int fc_cluster_send_rebalance(fc_cluster_t *cl, const char *node, const fc_rebal_order_t *o,
                              const char **why)
{
    fc_link_t *l = fc__peer(cl, fmq_cstr(node));
    if (!l || l->state != L_UP) {
        *why = "no such node up in the cluster";
        return -1;
    }
    if (l->version < 4) {
        *why = "the node speaks a cluster protocol older than 4 (no rebalance)";
        return -1;
    }
    if (o->op < FC_REBAL_PREPARE || o->op > FC_REBAL_STOP) {
        *why = "invalid order (op)";
        return -1;
    }
    uint8_t list[64 * (2 + 255)];
    size_t used = 0;
    uint16_t n = 0;
    for (uint16_t i = 0; i < o->n_recipients && i < 64; i++)
        if (fc_list_put(list, sizeof list, &used, o->recipients[i]))
            n++;
    fc_frame_t f = {.type = FC_T_REBALANCE};
    f.rebal.op = o->op;
    f.rebal.lease_ms = o->lease_ms;
    f.rebal.conns = o->conns;
    f.rebal.sessions = o->sessions;
    f.rebal.recipients = (fc_list_t){n, {list, (uint32_t)used}};
    f.rebal.info = o->info;
    if (fc__send(l, &f) != 0) {
        *why = "the link to that node failed";
        return -1;
    }
    return 0;
}

int fc__on_rebalance(fc_link_t *l, const fc_frame_t *f)
{
    fc_cluster_t *cl = l->cl;
    if (l->version < 4)
        return -1;
    if (!cl->on_rebal)
        return 0; /* no evacuation module (tests): nothing to do */
    fc_rebal_order_t o = {0};
    o.op = f->rebal.op;
    o.lease_ms = f->rebal.lease_ms;
    o.conns = f->rebal.conns;
    o.sessions = f->rebal.sessions;
    o.info = f->rebal.info;
    uint32_t pos = 0;
    fmq_bytes_t item;
    while (o.n_recipients < 64 && fc_list_next(&f->rebal.recipients, &pos, &item))
        o.recipients[o.n_recipients++] = item;
    cl->on_rebal(cl->on_rebal_ctx, l->name, &o);
    return 0;
}

void fc_cluster_on_rebalance(fc_cluster_t *cl, fc_rebal_fn fn, void *ctx)
{
    cl->on_rebal = fn;
    cl->on_rebal_ctx = ctx;
}

const char *fc_cluster_self(const fc_cluster_t *cl)
{
    return cl->name;
}

void fc__load_link_free(fc_link_t *l)
{
    free(l->load_status);
    l->load_status = NULL;
    l->has_load = false;
}

void fc__load_free(fc_cluster_t *cl)
{
    free(cl->self_status);
    cl->self_status = NULL;
}
