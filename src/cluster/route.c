/* Routes across the cluster: announcing local filters, the table of what
 * every peer announced, forwarding a publish once to each node that needs
 * it, cluster-wide shared groups and retained messages. */
#include "cluster/cluster_int.h"

#include <stdlib.h>
#include <string.h>

#define ROUTE_BATCH 60000 /* bytes of filters per ROUTE_ADD frame during a sync */

static bool is_shared(fmq_bytes_t filter)
{
    fmq_bytes_t g, f;
    return fmq_topic_share_split(filter, &g, &f);
}

static void announce(fc_cluster_t *cl, uint8_t type, fmq_bytes_t filter)
{
    uint8_t buf[65536 + 2];
    size_t used = 0;
    if (!fc_list_put(buf, sizeof buf, &used, filter))
        return;
    fc_frame_t f = {.type = type};
    f.list.count = 1;
    f.list.raw = (fmq_bytes_t){buf, (uint32_t)used};
    fc__broadcast(cl, &f, NULL);
}

void fc__route_add(void *ctx, fmq_bytes_t filter)
{
    fc_cluster_t *cl = ctx;
    static const fb_sub_opts_t none;
    /* This node takes part in picking a member of a shared group. */
    if (is_shared(filter) && fb_subtab_add(cl->routes, filter, FC_SELF(cl), &none) < 0)
        FB_WARN("cluster: out of memory adding shared group %.*s", (int)filter.len,
                (const char *)filter.ptr);
    announce(cl, FC_T_ROUTE_ADD, filter);
}

void fc__route_del(void *ctx, fmq_bytes_t filter)
{
    fc_cluster_t *cl = ctx;
    if (is_shared(filter))
        fb_subtab_remove(cl->routes, filter, FC_SELF(cl));
    announce(cl, FC_T_ROUTE_DEL, filter);
}

int fc__on_route(fc_link_t *l, const fc_frame_t *f)
{
    fc_cluster_t *cl = l->cl;
    static const fb_sub_opts_t none;
    if (!l->routes && !(l->routes = fb_map_new()))
        return -1;
    uint32_t pos = 0;
    fmq_bytes_t filter;
    while (fc_list_next(&f->list, &pos, &filter)) {
        if (fmq_topic_filter_check(filter) != 0) {
            FB_WARN("cluster: %s announced an invalid filter: ignored", l->name);
            continue;
        }
        if (f->type == FC_T_ROUTE_ADD) {
            if (fb_map_get(l->routes, filter.ptr, filter.len))
                continue;
            if (fb_subtab_add(cl->routes, filter, l, &none) < 0 ||
                fb_map_put(l->routes, filter.ptr, filter.len, (void *)1) != 0) {
                fb_subtab_remove(cl->routes, filter, l);
                FB_WARN("cluster: out of memory storing a route of %s", l->name);
                continue;
            }
            if (!l->synced)
                l->sync_routes++;
        } else if (fb_map_del(l->routes, filter.ptr, filter.len)) {
            fb_subtab_remove(cl->routes, filter, l);
        }
    }
    return 0;
}

void fc__routes_drop(fc_link_t *l)
{
    if (!l->routes)
        return;
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (fb_map_next(l->routes, &pos, &k, &kl, &v))
        fb_subtab_remove(l->cl->routes, (fmq_bytes_t){k, (uint32_t)kl}, l);
    fb_map_free(l->routes);
    l->routes = NULL;
}

/* ---- messages on the wire ---- */

void fc__msg_to_frame(const fb_msg_t *m, fc_msg_t *fm)
{
    fm->flags = (uint8_t)(m->qos | (m->retain ? FC_MSG_RETAIN : 0) |
                          (m->has_expiry ? FC_MSG_HAS_EXPIRY : 0));
    fm->expiry = m->expiry;
    fm->created_ms = m->created_ms;
    fm->msg_id = m->id;
    fm->topic = m->topic;
    fm->props = m->props;
    fm->payload = m->payload;
    fm->origin = m->origin;
}

fb_msg_t *fc__msg_from_frame(const fc_msg_t *fm, uint8_t qos, bool retain)
{
    if (fm->topic.len == 0 || fmq_topic_name_check(fm->topic) != 0)
        return NULL;
    fb_msg_t *m = fb_msg_new(fm->topic, fm->props, fm->payload, fm->origin, qos, retain,
                             (fm->flags & FC_MSG_HAS_EXPIRY) != 0, fm->expiry, fm->created_ms);
    if (m)
        m->id = fm->msg_id;
    return m;
}

/* ---- sync: what a peer that just came up needs ---- */

typedef struct {
    fc_link_t *l;
    uint8_t buf[ROUTE_BATCH + 65536 + 2];
    size_t used;
    uint16_t count;
    uint32_t total;
} batch_t;

static void batch_flush(batch_t *bt)
{
    if (!bt->count)
        return;
    fc_frame_t f = {.type = FC_T_ROUTE_ADD};
    f.list.count = bt->count;
    f.list.raw = (fmq_bytes_t){bt->buf, (uint32_t)bt->used};
    fc__send(bt->l, &f);
    bt->used = 0;
    bt->count = 0;
}

static void batch_one(void *ctx, fmq_bytes_t filter)
{
    batch_t *bt = ctx;
    if (bt->used > ROUTE_BATCH || bt->count == UINT16_MAX)
        batch_flush(bt);
    if (fc_list_put(bt->buf, sizeof bt->buf, &bt->used, filter)) {
        bt->count++;
        bt->total++;
    }
}

typedef struct {
    fc_link_t *l;
    uint32_t n;
} retained_sync_t;

static void retained_one(void *ctx, fmq_bytes_t topic, void *msg)
{
    (void)topic;
    retained_sync_t *rs = ctx;
    const fb_msg_t *m = msg;
    fc_frame_t f = {.type = FC_T_PUBLISH};
    fc__msg_to_frame(m, &f.publish.msg);
    f.publish.msg.flags |= FC_MSG_STORE_RETAINED;
    if (fc__send(rs->l, &f) == 0)
        rs->n++;
}

void fc__sync_routes(fc_link_t *l, uint32_t *n_routes, uint32_t *n_retained)
{
    fc_cluster_t *cl = l->cl;
    batch_t *bt = malloc(sizeof *bt);
    if (bt) {
        bt->l = l;
        bt->used = 0;
        bt->count = 0;
        bt->total = 0;
        fb_subtab_each_filter(cl->b->subs, batch_one, bt);
        batch_flush(bt);
        *n_routes = bt->total;
        free(bt);
    }
    retained_sync_t rs = {l, 0};
    fb_retain_each(cl->b->retained, retained_one, &rs);
    *n_retained = rs.n;
}

/* ---- forwarding a local publish ---- */

static bool peer_eligible(void *ctx, void *subscriber)
{
    fc_cluster_t *cl = ctx;
    return subscriber == FC_SELF(cl) || ((fc_link_t *)subscriber)->state == L_UP;
}

static fc_link_t *fwd_mark(fc_cluster_t *cl, fc_link_t *l)
{
    if (l->mark == cl->fwd_seq)
        return l;
    if (cl->n_fwd == cl->cap_fwd) {
        size_t cap = cl->cap_fwd ? cl->cap_fwd * 2 : 16;
        fc_link_t **p = realloc(cl->fwd, cap * sizeof *p);
        if (!p)
            return NULL;
        cl->fwd = p;
        cl->cap_fwd = cap;
    }
    l->mark = cl->fwd_seq;
    l->plain = false;
    l->n_shared = 0;
    cl->fwd[cl->n_fwd++] = l;
    return l;
}

static void on_plain(void *ctx, void *subscriber, const fb_sub_opts_t *o, bool shared)
{
    (void)o;
    (void)shared;
    fc_cluster_t *cl = ctx;
    if (subscriber == FC_SELF(cl))
        return;
    fc_link_t *l = fwd_mark(cl, subscriber);
    if (l)
        l->plain = true;
}

static void on_shared(void *ctx, void *subscriber, const fb_sub_opts_t *o, fmq_bytes_t full)
{
    (void)o;
    fc_cluster_t *cl = ctx;
    if (subscriber == FC_SELF(cl)) {
        if (cl->n_local_shared < 8)
            cl->local_shared[cl->n_local_shared++] = full;
        return;
    }
    fc_link_t *l = fwd_mark(cl, subscriber);
    if (l && l->n_shared < 8)
        l->shared[l->n_shared++] = full;
}

static bool local_group_ok(void *ctx, fmq_bytes_t full)
{
    fc_cluster_t *cl = ctx;
    for (uint16_t i = 0; i < cl->n_local_shared; i++)
        if (cl->local_shared[i].len == full.len &&
            memcmp(cl->local_shared[i].ptr, full.ptr, full.len) == 0)
            return true;
    return false;
}

uint32_t fc__publish(void *ctx, fb_msg_t *m, fb_route_sel_t *local)
{
    fc_cluster_t *cl = ctx;
    cl->fwd_seq++;
    cl->fwd_id = m->id;
    cl->n_fwd = 0;
    cl->n_local_shared = 0;
    fb_match_sel_t sel = {.eligible = peer_eligible, .shared_cb = on_shared};
    fb_subtab_match_sel(cl->routes, m->topic, &sel, on_plain, cl);
    if (m->retain) /* every node keeps the retained store */
        for (fc_link_t *l = cl->links; l; l = l->next)
            if (l->state == L_UP)
                fwd_mark(cl, l);
    uint32_t reached = 0;
    for (size_t i = 0; i < cl->n_fwd; i++) {
        fc_link_t *l = cl->fwd[i];
        if (l->state != L_UP)
            continue;
        uint8_t small[1024], *list = small;
        size_t need = 0, used = 0;
        uint16_t n = 0;
        for (uint16_t j = 0; j < l->n_shared; j++)
            need += l->shared[j].len + 2u;
        if (need > sizeof small && !(list = malloc(need)))
            continue;
        for (uint16_t j = 0; j < l->n_shared; j++)
            if (fc_list_put(list, need > sizeof small ? need : sizeof small, &used,
                            l->shared[j]))
                n++;
        fc_frame_t f = {.type = FC_T_PUBLISH};
        fc__msg_to_frame(m, &f.publish.msg);
        if (l->plain)
            f.publish.msg.flags |= FC_MSG_DELIVER;
        if (m->retain)
            f.publish.msg.flags |= FC_MSG_STORE_RETAINED;
        f.publish.shared.count = n;
        f.publish.shared.raw = (fmq_bytes_t){list, (uint32_t)used};
        if (fc__send(l, &f) == 0 && (l->plain || n)) {
            reached++;
            cl->stats.publishes_forwarded++;
        }
        if (list != small)
            free(list);
    }
    local->skip_plain = false;
    local->group_ok = local_group_ok;
    local->ctx = cl;
    return reached;
}

/* ---- a publish from a peer ---- */

static bool frame_group_ok(void *ctx, fmq_bytes_t full)
{
    const fc_list_t *list = ctx;
    uint32_t pos = 0;
    fmq_bytes_t g;
    while (fc_list_next(list, &pos, &g))
        if (g.len == full.len && memcmp(g.ptr, full.ptr, full.len) == 0)
            return true;
    return false;
}

/* Retained messages from peers: the newer one (by creation time) wins, so
 * every node ends with the same message whatever order links deliver. */
static void store_retained(fc_cluster_t *cl, fb_msg_t *m)
{
    const fb_msg_t *cur = fb_retain_get(cl->b->retained, m->topic);
    if (cur && cur->created_ms > m->created_ms)
        return;
    fb_broker_retain(cl->b, m);
}

int fc__on_publish(fc_link_t *l, const fc_frame_t *f)
{
    fc_cluster_t *cl = l->cl;
    const fc_msg_t *fm = &f->publish.msg;
    fb_msg_t *m = fc__msg_from_frame(fm, fm->flags & FC_MSG_QOS_MASK,
                                     (fm->flags & FC_MSG_RETAIN) != 0);
    if (!m) {
        FB_WARN("cluster: dropped a message from %s: invalid topic or out of memory", l->name);
        return 0;
    }
    cl->stats.publishes_received++;
    if (fm->flags & FC_MSG_STORE_RETAINED) {
        store_retained(cl, m);
        if (!l->synced)
            l->sync_retained++;
    }
    if ((fm->flags & FC_MSG_DELIVER) || f->publish.shared.count) {
        fb_route_sel_t sel = {.skip_plain = !(fm->flags & FC_MSG_DELIVER),
                              .group_ok = frame_group_ok,
                              .ctx = (void *)&f->publish.shared};
        fb_broker_route_local(cl->b, m, &sel);
    }
    fb_msg_unref(m);
    return 0;
}
