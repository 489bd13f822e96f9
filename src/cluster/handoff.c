/*
 * One owner per client id across the cluster, and sessions moving between
 * nodes.
 *
 * Every CONNECT claims its client id with a stamp (wall-clock microseconds,
 * strictly increasing per node) broadcast to every peer; every node keeps
 * the highest claim it has seen per id, ties broken by node name. The rule
 * for racing CONNECTs follows: the claim with the higher (stamp, node name)
 * wins everywhere, whatever order the links deliver in; the node holding the
 * session gives it to the winner, and a loser that already accepted its
 * client disconnects it with 0x8E (session taken over), as a single node
 * does for two connections with one id. docs/architecture.md has the whole
 * story.
 *
 * A session leaves its node as one SESSION frame (fb_session_serialize).
 * The old node keeps a stub (the session's subscriptions, no state) that
 * forwards whatever still reaches it (DELIVER frames) for
 * cluster_handoff_linger_ms; the new node drops what reaches the session
 * twice in that time by message id.
 */
#include "broker/deliver.h"
#include "broker/hash.h"
#include "cluster/cluster_int.h"

#include <stdlib.h>
#include <string.h>

#define DEDUP_MAX 65536 /* ids remembered per arriving session */

static uint64_t new_stamp(fc_cluster_t *cl, uint64_t above)
{
    uint64_t now = fb_now_ms() * 1000u;
    uint64_t s = now > cl->last_stamp ? now : cl->last_stamp + 1;
    if (s <= above)
        s = above + 1;
    cl->last_stamp = s;
    return s;
}

static const char *owner_name(const fc_cluster_t *cl, const fc_owner_t *o)
{
    return o->peer ? o->peer->name : cl->name;
}

/* >0 when claim a beats claim b. */
static int claim_cmp(uint64_t sa, const char *na, uint64_t sb, const char *nb)
{
    if (sa != sb)
        return sa > sb ? 1 : -1;
    return strcmp(na, nb);
}

static fc_owner_t *owner_get(const fc_cluster_t *cl, fmq_bytes_t id)
{
    return fb_map_get(cl->owners, id.ptr, id.len);
}

static void owner_set(fc_cluster_t *cl, fmq_bytes_t id, fc_link_t *peer, uint64_t stamp)
{
    fc_owner_t *o = owner_get(cl, id);
    if (!o) {
        o = malloc(sizeof *o + id.len + 1);
        if (!o)
            return;
        o->len = (uint16_t)id.len;
        memcpy(o->id, id.ptr, id.len);
        o->id[id.len] = 0;
        if (fb_map_put(cl->owners, o->id, o->len, o) != 0) {
            free(o);
            return;
        }
    }
    o->peer = peer;
    o->stamp = stamp;
}

static void owner_del(fc_cluster_t *cl, fc_owner_t *o)
{
    fb_map_del(cl->owners, o->id, o->len);
    free(o);
}

static fmq_bytes_t sid(const fb_session_t *s)
{
    return (fmq_bytes_t){(const uint8_t *)s->client_id, s->id_len};
}

static fb_session_t *held(const fc_cluster_t *cl, fmq_bytes_t id)
{
    fb_session_t *s = fb_map_get(cl->b->sessions, id.ptr, id.len);
    return s && !s->moved ? s : NULL;
}

static void send_session(fc_link_t *to, uint8_t status, uint8_t flags, uint64_t stamp,
                         fmq_bytes_t id, const uint8_t *blob, size_t len)
{
    fc_frame_t f = {.type = FC_T_SESSION};
    f.session.status = status;
    f.session.flags = flags;
    f.session.stamp = stamp;
    f.session.client_id = id;
    f.session.blob = (fmq_bytes_t){blob, (uint32_t)len};
    fc__send(to, &f);
}

static void send_ack(fc_link_t *to, bool ok, uint64_t stamp, fmq_bytes_t id)
{
    fc_frame_t f = {.type = FC_T_SESSION_ACK};
    f.session_ack.ok = ok;
    f.session_ack.stamp = stamp;
    f.session_ack.client_id = id;
    fc__send(to, &f);
}

static void broadcast_claim(fc_cluster_t *cl, fmq_bytes_t id, uint64_t stamp, uint8_t flags)
{
    fc_frame_t f = {.type = FC_T_CLAIM};
    f.claim.flags = flags;
    f.claim.stamp = stamp;
    f.claim.client_id = id;
    fc__broadcast(cl, &f, NULL);
}

/* ---- stubs and duplicate suppression ---- */

/* Stubs and arrived-session records are found by client id (an evacuation
 * has thousands at once; a delivery must not scan them) and kept in a
 * doubly linked list for the tick. A record exists only while its session
 * does, so the index borrows the session's own id as its key. */
static fc_stub_t *stub_of(const fc_cluster_t *cl, const fb_session_t *s)
{
    fc_stub_t *st = fb_map_get(cl->stub_index, s->client_id, s->id_len);
    return st && st->s == s ? st : NULL;
}

/* The stub stops forwarding: the new node may deliver what it held. */
static void send_stub_end(fc_stub_t *st)
{
    if (!st->to || st->to->state != L_UP || st->to->version < 3)
        return;
    fc_frame_t f = {.type = FC_T_STUB_END};
    f.claim.stamp = st->stamp;
    f.claim.client_id = (fmq_bytes_t){(const uint8_t *)st->s->client_id, st->s->id_len};
    fc__send(st->to, &f);
}

static void stub_unlink(fc_cluster_t *cl, fc_stub_t *st)
{
    if (st->prev)
        st->prev->next = st->next;
    else
        cl->stubs = st->next;
    if (st->next)
        st->next->prev = st->prev;
    if (fb_map_get(cl->stub_index, st->s->client_id, st->s->id_len) == st)
        fb_map_del(cl->stub_index, st->s->client_id, st->s->id_len);
    free(st->blob);
    free(st);
}

static void dedup_unlink(fc_cluster_t *cl, fc_dedup_t *d)
{
    if (d->prev)
        d->prev->next = d->next;
    else
        cl->dedups = d->next;
    if (d->next)
        d->next->prev = d->prev;
    if (fb_map_get(cl->dedup_index, d->s->client_id, d->s->id_len) == d)
        fb_map_del(cl->dedup_index, d->s->client_id, d->s->id_len);
    d->s->dedup = false;
    for (uint32_t i = 0; i < d->n_held; i++)
        fb_msg_unref(d->held[i].m);
    free(d->held);
    free(d->ids);
    free(d);
}

static fc_dedup_t *dedup_of(const fc_cluster_t *cl, const fb_session_t *s)
{
    fc_dedup_t *d = fb_map_get(cl->dedup_index, s->client_id, s->id_len);
    return d && d->s == s ? d : NULL;
}

/* The old node stopped forwarding (or will not say so): what was held
 * back goes to the session now, in the order it came, second copies
 * dropped. */
static void dedup_release(fc_cluster_t *cl, fc_dedup_t *d)
{
    if (!d->holding)
        return;
    d->holding = false;
    fc_held_t *held = d->held;
    uint32_t n = d->n_held;
    d->held = NULL;
    d->n_held = d->cap_held = 0;
    fb_session_t *s = d->s;
    for (uint32_t i = 0; i < n; i++) {
        if (fb_map_get(cl->b->sessions, s->client_id, s->id_len) == s && !s->moved)
            fb_deliver(cl->b, s, held[i].m, held[i].granted, held[i].retain, held[i].sub_ids,
                       held[i].n_sub_ids);
        fb_msg_unref(held[i].m);
    }
    free(held);
}

/* The broker is about to free s: no record may keep its pointer. */
static void forget(fc_cluster_t *cl, fb_session_t *s)
{
    fc_stub_t *st;
    while ((st = stub_of(cl, s)) != NULL) {
        if (st->done) /* a migration whose stub goes before the answer */
            st->done(st->done_ctx, sid(s), st->to ? st->to->name : "?", -1);
        send_stub_end(st);
        stub_unlink(cl, st);
    }
    for (fc_dedup_t *d = cl->dedups, *next; d; d = next) {
        next = d->next;
        if (d->s == s)
            dedup_unlink(cl, d);
    }
}

static bool dedup_insert(fc_dedup_t *d, uint64_t id)
{
    if (!id)
        return false;
    if ((d->n + 1) * 2 > d->cap) {
        if (d->cap >= DEDUP_MAX * 2) {
            if (!d->full_logged)
                FB_WARN("cluster: session %s: more than %u messages during its handoff; later "
                        "duplicates are not suppressed",
                        d->s->client_id, DEDUP_MAX);
            d->full_logged = true;
            return false;
        }
        uint32_t cap = d->cap ? d->cap * 2 : 256;
        uint64_t *ids = calloc(cap, sizeof *ids);
        if (!ids)
            return false;
        for (uint32_t i = 0; i < d->cap; i++) {
            if (!d->ids[i])
                continue;
            uint32_t j = (uint32_t)fb__hash_mix64(d->ids[i]) & (cap - 1);
            while (ids[j])
                j = (j + 1) & (cap - 1);
            ids[j] = d->ids[i];
        }
        free(d->ids);
        d->ids = ids;
        d->cap = cap;
    }
    uint32_t j = (uint32_t)fb__hash_mix64(id) & (d->cap - 1);
    while (d->ids[j]) {
        if (d->ids[j] == id)
            return true;
        j = (j + 1) & (d->cap - 1);
    }
    d->ids[j] = id;
    d->n++;
    return false;
}

static void dedup_start(fc_cluster_t *cl, fb_session_t *s, fc_link_t *from)
{
    fc_dedup_t *d = calloc(1, sizeof *d);
    if (!d)
        return;
    d->s = s;
    d->from = from;
    /* A protocol 3 peer says when its stub stops forwarding; until then
     * deliveries that come another way wait, so none overtakes one still
     * on its way through the old node. Bounded in time if the word never
     * comes. */
    d->holding = from && from->version >= 3;
    d->hold_until_ms =
        cl->now_ms + cl->cfg->cluster_handoff_linger_ms + cl->cfg->cluster_takeover_timeout_ms;
    /* The stub forwards for the linger time; links can be late. */
    d->until_ms = cl->now_ms + 2u * cl->cfg->cluster_handoff_linger_ms + 1000u;
    for (uint32_t i = 0; i < s->n_inflight; i++)
        dedup_insert(d, s->inflight[i].msg->id);
    for (uint32_t i = 0; i < s->q_len; i++)
        dedup_insert(d, s->queue[(s->q_head + i) % s->q_cap].msg->id);
    if (fb_map_put(cl->dedup_index, s->client_id, s->id_len, d) != 0) {
        free(d->ids);
        free(d);
        return; /* out of memory: no duplicate suppression for this one */
    }
    d->next = cl->dedups;
    if (d->next)
        d->next->prev = d;
    cl->dedups = d;
    s->dedup = true;
}

#define HELD_MAX 100000 /* deliveries held per arriving session; past it, order gives way */

bool fc__handoff_filter(void *ctx, fb_session_t *s, fb_msg_t *m, uint8_t granted, bool retain,
                        const uint32_t *sub_ids, uint8_t n_sub_ids)
{
    fc_cluster_t *cl = ctx;
    fc_dedup_t *d = dedup_of(cl, s);
    if (!d)
        return false;
    /* Retained messages sent on a SUBSCRIBE here are not part of the flow
     * the old node forwards: they need not wait. */
    bool on_subscribe = retain && !cl->cur_from;
    if (d->holding && cl->cur_from != d->from && !on_subscribe) {
        if (d->n_held < HELD_MAX && d->n_held == d->cap_held) {
            uint32_t cap = d->cap_held ? d->cap_held * 2 : 16;
            fc_held_t *h = realloc(d->held, cap * sizeof *h);
            if (h) {
                d->held = h;
                d->cap_held = cap;
            }
        }
        if (d->n_held < d->cap_held) {
            fc_held_t *h = &d->held[d->n_held++];
            h->m = fb_msg_ref(m);
            h->granted = granted;
            h->retain = retain;
            h->n_sub_ids = n_sub_ids < 8 ? n_sub_ids : 8;
            memcpy(h->sub_ids, sub_ids, h->n_sub_ids * sizeof *sub_ids);
            cl->stats.deliveries_held++;
            return true;
        }
        FB_WARN("cluster: session %s: too much held back during its handoff; delivering now",
                s->client_id);
        dedup_release(cl, d);
    }
    if (dedup_insert(d, m->id)) {
        cl->stats.duplicates_dropped++;
        return true;
    }
    return false;
}

int fc__on_stub_end(fc_link_t *l, const fc_frame_t *f)
{
    fc_cluster_t *cl = l->cl;
    fmq_bytes_t id = f->claim.client_id;
    fb_session_t *s = fb_map_get(cl->b->sessions, id.ptr, id.len);
    fc_dedup_t *d = s ? dedup_of(cl, s) : NULL;
    if (d && d->from == l)
        dedup_release(cl, d);
    return 0;
}

/* Turns s into a stub forwarding to `to`: its messages travelled in the
 * SESSION frame, its subscriptions stay so the routes to this node keep
 * working until the new owner's routes have spread. */
static fc_stub_t *make_stub(fc_cluster_t *cl, fb_session_t *s, fc_link_t *to, uint64_t stamp)
{
    fc_stub_t *st = calloc(1, sizeof *st);
    if (!st || fb_map_put(cl->stub_index, s->client_id, s->id_len, st) != 0) {
        free(st);
        fb_broker_session_drop(cl->b, s);
        return NULL;
    }
    fb_session_clear_state(s);
    s->moved = true;
    st->s = s;
    st->to = to;
    st->stamp = stamp;
    st->until_ms = cl->now_ms + cl->cfg->cluster_handoff_linger_ms;
    st->next = cl->stubs;
    if (st->next)
        st->next->prev = st;
    cl->stubs = st;
    return st;
}

/* This node holds s and a claim of `to` beat ours: hand it over. */
static void give_away(fc_cluster_t *cl, fb_session_t *s, fc_link_t *to, uint64_t stamp,
                      bool want)
{
    fb_broker_t *b = cl->b;
    fmq_bytes_t id = sid(s);
    fc_dedup_t *d = dedup_of(cl, s);
    if (d) /* what it held back belongs to the session that leaves */
        dedup_release(cl, d);
    if (s->conn) {
        b->stats.takeovers++;
        FB_INFO("cluster: client %s connected on node %s: taking its session over from here",
                s->client_id, to->name);
        fb_conn_close(s->conn, FMQ_RC_SESSION_TAKEN_OVER, "session taken over");
    }
    if (!want || s->expiry == 0) {
        /* Clean start over there, or a session that lived only as long as
         * its connection: it ends here. */
        if (s->will && s->will_at_ms)
            fb_broker_publish_will(b, s);
        if (want)
            send_session(to, FC_SESS_NONE, 0, stamp, id, NULL, 0);
        fb_broker_session_drop(b, s);
        return;
    }
    size_t len = 0;
    uint8_t *blob = fb_session_serialize_v(s, to->version >= 2 ? 2 : 1, &len);
    if (!blob) {
        FB_WARN("cluster: out of memory serializing session %s for %s", s->client_id, to->name);
        send_session(to, FC_SESS_NONE, 0, stamp, id, NULL, 0);
        fb_broker_session_drop(b, s);
        return;
    }
    send_session(to, FC_SESS_DATA, 0, stamp, id, blob, len);
    free(blob);
    /* The send failed the link (its peer_down has run): nothing left, the
     * session stays here; a stub would point at a link about to be freed. */
    if (to->state != L_UP)
        return;
    cl->stats.sessions_shipped++;
    make_stub(cl, s, to, stamp);
}

/* After a session arrived or a CONNECT resumed: a later claim elsewhere
 * takes precedence. */
static void resolve(fc_cluster_t *cl, fmq_bytes_t id)
{
    fc_owner_t *o = owner_get(cl, id);
    if (!o || !o->peer || o->peer->state != L_UP)
        return;
    fb_session_t *s = held(cl, id);
    if (s)
        give_away(cl, s, o->peer, o->stamp, true);
    else /* the answer it may still wait for: nothing here */
        send_session(o->peer, FC_SESS_NONE, 0, o->stamp, id, NULL, 0);
}

/* ---- CONNECT ---- */

static fc_pending_t *pending_find(fc_cluster_t *cl, fmq_bytes_t id)
{
    for (fc_pending_t *p = cl->pending; p; p = p->next)
        if (p->len == id.len && memcmp(p->id, id.ptr, id.len) == 0)
            return p;
    return NULL;
}

static void pending_unlink(fc_cluster_t *cl, fc_pending_t *p)
{
    for (fc_pending_t **pp = &cl->pending; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            return;
        }
}

static void pending_free(fc_pending_t *p)
{
    free(p->await);
    free(p);
}

/* The waiting CONNECT runs again, against whatever this node now holds. */
static void pending_resume(fc_cluster_t *cl, fc_pending_t *p)
{
    pending_unlink(cl, p);
    if (p->conn)
        fb_conn_connect_resume(p->conn);
    resolve(cl, (fmq_bytes_t){(const uint8_t *)p->id, p->len});
    pending_free(p);
}

/* Node l answered (or can no longer answer) p; true when every answer is
 * in. */
static bool pending_answered(fc_pending_t *p, const fc_link_t *l)
{
    for (uint32_t i = 0; i < p->n_await; i++)
        if (p->await[i] == l) {
            p->await[i] = p->await[--p->n_await];
            break;
        }
    return p->n_await == 0;
}

/* The CONNECT waiting for (id, stamp), looked up again after a send: a
 * send can fail the link, and its peer_down resumes what waited on it. */
static void pending_resume_stamp(fc_cluster_t *cl, fmq_bytes_t id, uint64_t stamp)
{
    fc_pending_t *p = pending_find(cl, id);
    if (p && p->stamp == stamp)
        pending_resume(cl, p);
}

/*
 * A CONNECT that wants to resume a session (Clean Start 0) asks every node:
 * the claim goes out with the want flag and the CONNECT waits until the
 * session arrives or every node asked has answered that it has none. Asking
 * all of them, not just the owner this node knows of, closes the window in
 * which a claim made elsewhere a moment ago has not arrived yet (the client
 * connected there, then here). Nodes below protocol 3 answer only when they
 * hold the session, so they are awaited only when known to hold it.
 */
bool fc__connect(void *ctx, fb_conn_t *c, fmq_bytes_t id, bool clean_start, fb_session_t *have)
{
    fc_cluster_t *cl = ctx;
    fc_owner_t *o = owner_get(cl, id);
    fc_link_t *holder = NULL;
    if (have && have->moved) {
        fc_stub_t *st = stub_of(cl, have);
        holder = st ? st->to : NULL;
    }
    if (!have && o && o->peer)
        holder = o->peer;
    uint64_t stamp = new_stamp(cl, o ? o->stamp : 0);
    owner_set(cl, id, NULL, stamp);
    /* An ask left by an earlier CONNECT of this client is replaced by this
     * one: a session on its way for it is installed when it comes (nobody
     * holds the id here) and this CONNECT finds it. */
    for (fc_pending_t *g; (g = pending_find(cl, id)) && !g->conn;) {
        pending_unlink(cl, g);
        pending_free(g);
    }
    fc_pending_t *p = NULL;
    bool want = !clean_start && !(have && !have->moved);
    if (want) {
        p = calloc(1, sizeof *p + id.len);
        size_t n = 0;
        for (fc_link_t *l = cl->links; l; l = l->next)
            n += l->state == L_UP;
        if (p && n && !(p->await = calloc(n, sizeof *p->await))) {
            free(p);
            p = NULL;
        }
        for (fc_link_t *l = cl->links; p && l; l = l->next)
            if (l->state == L_UP && (l->version >= 3 || l == holder))
                p->await[p->n_await++] = l;
        if (p && !p->n_await) {
            pending_free(p);
            p = NULL;
        }
    }
    broadcast_claim(cl, id, stamp, p ? FC_CLAIM_WANT_SESSION : 0);
    if (!p)
        return false;
    /* The broadcast can fail links: those answer nothing. */
    for (uint32_t i = 0; i < p->n_await;)
        if (p->await[i]->state != L_UP)
            p->await[i] = p->await[--p->n_await];
        else
            i++;
    if (!p->n_await) {
        pending_free(p);
        return false;
    }
    p->conn = c;
    p->stamp = stamp;
    p->deadline_ms = cl->now_ms + cl->cfg->cluster_takeover_timeout_ms;
    p->len = (uint16_t)id.len;
    memcpy(p->id, id.ptr, id.len);
    p->next = cl->pending;
    cl->pending = p;
    FB_DEBUG("cluster: client %.*s: asking %u nodes for its session", (int)id.len,
             (const char *)id.ptr, p->n_await);
    return true;
}

void fc__connect_cancel(void *ctx, fb_conn_t *c)
{
    fc_cluster_t *cl = ctx;
    for (fc_pending_t *p = cl->pending; p; p = p->next)
        if (p->conn == c) {
            p->conn = NULL; /* the ask stays: see fc_pending_t */
            return;
        }
}

void fc__session_gone(void *ctx, fb_session_t *s)
{
    fc_cluster_t *cl = ctx;
    forget(cl, s);
    if (s->moved)
        return;
    fc_owner_t *o = owner_get(cl, sid(s));
    if (o && !o->peer) {
        fc_frame_t f = {.type = FC_T_RELEASE};
        f.claim.stamp = o->stamp;
        f.claim.client_id = sid(s);
        fc__broadcast(cl, &f, NULL);
        owner_del(cl, o);
    }
}

/* ---- frames ---- */

/* The session for id is being migrated from here, not yet acknowledged:
 * an answer to a CONNECT's claim now ("none", "superseded") could make it
 * start empty while the session lands on the target. No answer is given:
 * if the migration fails the restored session goes to the claimant
 * (restore); if it succeeds the target hands it on (fc__on_session_ack). */
static bool owe_if_migrating(fc_cluster_t *cl, fmq_bytes_t id, fc_link_t *l, uint64_t stamp)
{
    fc_stub_t *st = fb_map_get(cl->stub_index, id.ptr, id.len);
    if (!st || !st->blob)
        return false;
    st->owed_to = l;
    st->owed_stamp = stamp;
    return true;
}

int fc__on_claim(fc_link_t *l, const fc_frame_t *f)
{
    fc_cluster_t *cl = l->cl;
    fmq_bytes_t id = f->claim.client_id;
    bool want = f->claim.flags & FC_CLAIM_WANT_SESSION;
    if (id.len == 0)
        return -1;
    if ((f->claim.flags & FC_CLAIM_SYNC) && !l->synced)
        l->sync_claims++;
    fc_owner_t *o = owner_get(cl, id);
    fb_session_t *s = held(cl, id);
    if (o && claim_cmp(f->claim.stamp, l->name, o->stamp, owner_name(cl, o)) <= 0) {
        if (want && s && !s->conn && !pending_find(cl, id)) {
            /* Older, but a client waits for this session over there and
             * nobody uses it here: typically it was migrated here (an
             * evacuation) while the client was reconnecting. A live
             * client beats a migration; the receiver claims it anew
             * (fc__on_session). */
            give_away(cl, s, l, f->claim.stamp, true);
            return 0;
        }
        if (want && owe_if_migrating(cl, id, l, f->claim.stamp))
            return 0;
        /* An older claim lost already: say so, so that its CONNECT does
         * not wait for nothing. */
        if (want)
            send_session(l, FC_SESS_SUPERSEDED, 0, f->claim.stamp, id, NULL, 0);
        return 0;
    }
    owner_set(cl, id, l, f->claim.stamp);
    if (s)
        give_away(cl, s, l, f->claim.stamp, want);
    else if (want && !owe_if_migrating(cl, id, l, f->claim.stamp) && !pending_find(cl, id))
        send_session(l, FC_SESS_NONE, 0, f->claim.stamp, id, NULL, 0); /* nothing here */
    /* A CONNECT here still waiting for the session answers once it has
     * it (resolve, after it resumes): the session, or that there is none. */
    return 0;
}

int fc__on_release(fc_link_t *l, const fc_frame_t *f)
{
    fc_cluster_t *cl = l->cl;
    fmq_bytes_t id = f->claim.client_id;
    fc_owner_t *o = owner_get(cl, id);
    if (o && o->peer == l && o->stamp == f->claim.stamp)
        owner_del(cl, o);
    return 0;
}

/* A session that arrived: installed offline, duplicates suppressed. */
static bool install(fc_cluster_t *cl, fb_session_t *s, fc_link_t *from)
{
    fb_session_t *old = fb_map_get(cl->b->sessions, s->client_id, s->id_len);
    if (old && !old->moved) {
        fb_session_free(s);
        return false;
    }
    if (fb_broker_session_install(cl->b, s) != 0)
        return false;
    dedup_start(cl, s, from);
    cl->stats.sessions_received++;
    return true;
}

int fc__on_session(fc_link_t *l, const fc_frame_t *f)
{
    fc_cluster_t *cl = l->cl;
    fmq_bytes_t id = f->session.client_id;
    uint64_t stamp = f->session.stamp;
    fc_pending_t *p = pending_find(cl, id);
    if (p && p->stamp != stamp)
        p = NULL;
    if (f->session.status != FC_SESS_DATA) {
        if (p && pending_answered(p, l)) /* nobody has it: a new session */
            pending_resume(cl, p);
        return 0;
    }
    const char *why = NULL;
    fb_session_t *s = fb_session_deserialize(f->session.blob.ptr, f->session.blob.len, &why);
    if (!s || s->id_len != id.len || memcmp(s->client_id, id.ptr, id.len) != 0) {
        FB_WARN("cluster: session %.*s from %s refused: %s", (int)id.len, (const char *)id.ptr,
                l->name, why ? why : "client id mismatch");
        fb_session_free(s);
        send_ack(l, false, stamp, id);
        if (p)
            pending_resume_stamp(cl, id, stamp);
        return 0;
    }
    if ((f->session.flags & FC_SESSF_MIGRATE) && cl->b->agent.kind != FB_AGENT_NONE) {
        /* Being emptied itself: the sender restores it and tries elsewhere. */
        FB_INFO("cluster: session %.*s migrated from %s refused: this node is being evacuated",
                (int)id.len, (const char *)id.ptr, l->name);
        fb_session_free(s);
        send_ack(l, false, stamp, id);
        return 0;
    }
    if (f->session.flags & FC_SESSF_MIGRATE) {
        bool ok = install(cl, s, l);
        if (!ok) {
            cl->stats.sessions_discarded++;
            FB_WARN("cluster: session %.*s migrated from %s: a newer one is here; discarded",
                    (int)id.len, (const char *)id.ptr, l->name);
        }
        send_ack(l, true, stamp, id);
        fc_owner_t *o = owner_get(cl, id);
        /* A claim by a node other than the sender came after the client
         * left the sender: a CONNECT elsewhere, which beats a migration
         * whatever the stamps say. resolve() hands the session on. */
        if (ok && !(o && o->peer && o->peer != l)) {
            uint64_t have = o ? o->stamp : 0; /* stamp 0 with no owner: no o to read */
            uint64_t mine = new_stamp(cl, stamp > have ? stamp : have);
            owner_set(cl, id, NULL, mine);
            broadcast_claim(cl, id, mine, 0);
        }
        resolve(cl, id);
        return 0;
    }
    if (p) {
        bool ok = install(cl, s, l);
        send_ack(l, ok, stamp, id);
        fc_owner_t *o = owner_get(cl, id);
        if (ok && o && o->peer == l && o->stamp > stamp) {
            /* The sender's own claim (a migration to it) is newer than
             * ours, yet it handed the session to our waiting CONNECT: a
             * live client beats a migration. Claim it anew, so that every
             * node agrees, before the CONNECT resumes (and resolves). */
            uint64_t mine = new_stamp(cl, o->stamp);
            owner_set(cl, id, NULL, mine);
            broadcast_claim(cl, id, mine, 0);
            fc_pending_t *q = pending_find(cl, id);
            if (q && q->stamp == stamp)
                q->stamp = mine;
            stamp = mine;
        }
        pending_resume_stamp(cl, id, stamp);
        return 0;
    }
    /* Nobody waits for it here: the CONNECT went away, or lost a race. */
    fc_owner_t *o = owner_get(cl, id);
    if (held(cl, id) || !o) {
        cl->stats.sessions_discarded++;
        FB_INFO("cluster: session %.*s from %s: not wanted here any more; discarded", (int)id.len,
                (const char *)id.ptr, l->name);
        fb_session_free(s);
        send_ack(l, true, stamp, id);
        return 0;
    }
    bool ok = install(cl, s, l);
    send_ack(l, ok, stamp, id);
    resolve(cl, id); /* on to the claim that beat ours, if any */
    return 0;
}

static fc_stub_t *migration_of(fc_cluster_t *cl, fc_link_t *l, fmq_bytes_t id, uint64_t stamp)
{
    fc_stub_t *st = fb_map_get(cl->stub_index, id.ptr, id.len);
    return st && st->blob && st->to == l && st->stamp == stamp ? st : NULL;
}

/* A migration that failed: the record comes back to life here. */
static void restore(fc_cluster_t *cl, fc_stub_t *st)
{
    const char *why = NULL;
    fb_session_t *s = fb_session_deserialize(st->blob, st->blob_len, &why);
    fc_migrate_done_fn done = st->done;
    void *dctx = st->done_ctx;
    const char *to = st->to ? st->to->name : "?";
    const fc_link_t *st_to_link = st->to;
    fc_link_t *owed = st->owed_to;
    uint64_t owed_stamp = st->owed_stamp;
    uint16_t idlen = st->s->id_len;
    char *idbuf = malloc((size_t)idlen + 1);
    if (!idbuf) {
        fb_session_free(s);
        return;
    }
    memcpy(idbuf, st->s->client_id, idlen);
    idbuf[idlen] = 0;
    fmq_bytes_t id = {(const uint8_t *)idbuf, idlen};
    /* Forgotten first (this record with the rest): the install below frees
     * the stub session, and only while the cluster is plugged in (not in
     * fc_cluster_free) does that come back through forget(). */
    fb_session_t *stub = st->s;
    st->done = NULL;
    forget(cl, stub);
    if (s && fb_broker_session_install(cl->b, s) == 0) { /* replaces the stub */
        fc_owner_t *o = owner_get(cl, id);
        if (o && o->peer && o->peer->state == L_UP && o->peer != st_to_link) {
            /* A CONNECT elsewhere asked for it meanwhile: it goes there. */
            resolve(cl, id);
        } else if (owed && owed->state == L_UP) {
            /* One asked with an older claim than the migration's: the same. */
            owner_set(cl, id, owed, owed_stamp);
            give_away(cl, s, owed, owed_stamp, true);
        } else {
            uint64_t stamp = new_stamp(cl, 0);
            owner_set(cl, id, NULL, stamp);
            broadcast_claim(cl, id, stamp, 0);
        }
    } else {
        FB_ERROR("cluster: session %s could not be restored after a failed migration: %s",
                 idbuf, why ? why : "out of memory");
        fb_broker_session_drop(cl->b, stub); /* nothing forwards for it any more */
    }
    if (done)
        done(dctx, id, to, -1);
    free(idbuf);
}

int fc__on_session_ack(fc_link_t *l, const fc_frame_t *f)
{
    fc_cluster_t *cl = l->cl;
    fc_stub_t *st = migration_of(cl, l, f->session_ack.client_id, f->session_ack.stamp);
    if (!st)
        return 0;
    if (!f->session_ack.ok) {
        FB_WARN("cluster: node %s refused migrated session %s", l->name, st->s->client_id);
        restore(cl, st);
        return 0;
    }
    free(st->blob);
    st->blob = NULL;
    st->blob_len = 0;
    /* An owed answer is not sent: the target has the session now and
     * hands it to the claimant, whichever of its claim and the session it
     * saw first (fc__on_claim, fc__on_session). "None" from here could
     * overtake that hand-over on a busier link and make the CONNECT start
     * empty (3 clients in 100,000 did). */
    st->owed_to = NULL;
    fc_migrate_done_fn done = st->done;
    st->done = NULL;
    if (done)
        done(st->done_ctx, sid(st->s), l->name, 0);
    return 0;
}

void fc__forward(void *ctx, fb_session_t *s, fb_msg_t *m, uint8_t qos, bool retain,
                 const uint32_t *sub_ids, uint8_t n_sub_ids)
{
    fc_cluster_t *cl = ctx;
    fc_stub_t *st = stub_of(cl, s);
    if (!st || !st->to || st->to->state != L_UP) {
        cl->b->stats.msgs_dropped[qos]++;
        return;
    }
    /* Published here and already on its way to that node as a PUBLISH it
     * delivers to its subscribers: a second copy would be a duplicate
     * (which a protocol 1 peer could not recognise by id). */
    if (m->id && m->id == cl->fwd_id && st->to->mark == cl->fwd_seq && st->to->plain)
        return;
    fc_frame_t f = {.type = FC_T_DELIVER};
    f.deliver.client_id = sid(s);
    f.deliver.qos = qos;
    f.deliver.retain = retain;
    f.deliver.n_sub_ids = n_sub_ids;
    f.deliver.sub_ids_host = sub_ids;
    fc__msg_to_frame(m, &f.deliver.msg);
    if (fc__send(st->to, &f) == 0)
        cl->stats.deliveries_forwarded++;
}

int fc__on_deliver(fc_link_t *l, const fc_frame_t *f)
{
    fc_cluster_t *cl = l->cl;
    fmq_bytes_t id = f->deliver.client_id;
    fb_session_t *s = fb_map_get(cl->b->sessions, id.ptr, id.len);
    if (!s) {
        cl->b->stats.msgs_dropped[f->deliver.qos]++;
        FB_DEBUG("cluster: a message forwarded by %s for session %.*s, which is not here",
                 l->name, (int)id.len, (const char *)id.ptr);
        return 0;
    }
    const fc_msg_t *fm = &f->deliver.msg;
    fb_msg_t *m = fc__msg_from_frame(fm, fm->flags & FC_MSG_QOS_MASK,
                                     (fm->flags & FC_MSG_RETAIN) != 0);
    if (!m)
        return 0;
    uint32_t ids[255];
    for (uint8_t i = 0; i < f->deliver.n_sub_ids; i++)
        ids[i] = fc_deliver_sub_id(f, i);
    fb_deliver(cl->b, s, m, f->deliver.qos, f->deliver.retain, ids, f->deliver.n_sub_ids);
    fb_msg_unref(m);
    return 0;
}

/* ---- sync, peers going away, time ---- */

void fc__sync_claims(fc_link_t *l, uint32_t *n)
{
    fc_cluster_t *cl = l->cl;
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    *n = 0;
    while (fb_map_next(cl->b->sessions, &pos, &k, &kl, &v)) {
        fb_session_t *s = v;
        if (s->moved)
            continue;
        fc_owner_t *o = owner_get(cl, sid(s));
        if (!o) {
            owner_set(cl, sid(s), NULL, new_stamp(cl, 0));
            o = owner_get(cl, sid(s));
        }
        if (!o || o->peer)
            continue;
        fc_frame_t f = {.type = FC_T_CLAIM};
        f.claim.flags = FC_CLAIM_SYNC;
        f.claim.stamp = o->stamp;
        f.claim.client_id = sid(s);
        if (fc__send(l, &f) == 0)
            (*n)++;
    }
}

void fc__handoff_peer_down(fc_link_t *l)
{
    fc_cluster_t *cl = l->cl;
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (fb_map_next(cl->owners, &pos, &k, &kl, &v)) {
        fc_owner_t *o = v;
        if (o->peer == l)
            owner_del(cl, o);
    }
    /* Sessions that came from it wait for nothing more. */
    for (fc_dedup_t *d = cl->dedups; d;) {
        if (d->from == l) {
            d->from = NULL;
            if (d->holding) {
                dedup_release(cl, d);
                d = cl->dedups;
                continue;
            }
        }
        d = d->next;
    }
    /* Migrations to it come back; forwarding stubs to it go. */
    for (fc_stub_t *st = cl->stubs, *next; st; st = next) {
        next = st->next;
        if (st->owed_to == l)
            st->owed_to = NULL;
        if (st->to != l)
            continue;
        if (st->blob) {
            restore(cl, st); /* frees st */
            next = cl->stubs;
        } else {
            st->to = NULL; /* the tick removes it */
            st->until_ms = 0;
        }
    }
    /* CONNECTs waiting for its answer wait for it no more. The loop
     * restarts because resuming can change the list. */
    for (fc_pending_t *p = cl->pending; p;) {
        uint32_t before = p->n_await;
        if (pending_answered(p, l) && before) {
            FB_INFO("cluster: client %.*s: node %s went down before answering; going on "
                    "without it",
                    (int)p->len, p->id, l->name);
            pending_resume(cl, p);
            p = cl->pending;
            continue;
        }
        p = p->next;
    }
}

void fc__handoff_tick(fc_cluster_t *cl)
{
    for (fc_pending_t *p = cl->pending; p;) {
        if (cl->now_ms < p->deadline_ms) {
            p = p->next;
        } else if (p->conn) {
            /* A node that holds the session may still send it: a new
             * session here would drop what it queued, acknowledged
             * messages among them. The client is refused and retries;
             * the ask stays (fc_pending_t) and the session, when it
             * comes, waits here for the client. */
            FB_WARN("cluster: client %.*s: its session did not arrive within %u ms; refusing "
                    "the CONNECT (server busy) so that the client retries",
                    (int)p->len, p->id, cl->cfg->cluster_takeover_timeout_ms);
            cl->stats.takeovers_timed_out++;
            fb_conn_t *c = p->conn;
            p->conn = NULL;
            p->deadline_ms = cl->now_ms + cl->cfg->cluster_peer_timeout_ms;
            fb_conn_connect_refuse(c, FMQ_RC_SERVER_BUSY,
                                   "session still on its way from another node; retry");
            p = cl->pending; /* closing can change the list */
        } else {
            FB_WARN("cluster: client %.*s: no answer about its session from %u nodes; "
                    "waiting no more",
                    (int)p->len, p->id, p->n_await);
            pending_unlink(cl, p);
            resolve(cl, (fmq_bytes_t){(const uint8_t *)p->id, p->len});
            pending_free(p);
            p = cl->pending;
        }
    }
    for (fc_stub_t *st = cl->stubs, *next; st; st = next) {
        next = st->next;
        if (cl->now_ms >= st->until_ms && !st->blob) {
            fb_broker_session_drop(cl->b, st->s); /* frees st through forget() */
            next = cl->stubs;
        } else if (st->blob &&
                   cl->now_ms >= st->until_ms + cl->cfg->cluster_takeover_timeout_ms) {
            FB_WARN("cluster: migration of session %s to %s was not acknowledged", st->s->client_id,
                    st->to ? st->to->name : "?");
            restore(cl, st);
            next = cl->stubs;
        }
    }
    for (fc_dedup_t *d = cl->dedups, *next; d; d = next) {
        next = d->next;
        if (d->holding && cl->now_ms >= d->hold_until_ms) {
            FB_WARN("cluster: session %s: no word that its old node stopped forwarding; "
                    "delivering what was held",
                    d->s->client_id);
            dedup_release(cl, d);
            next = cl->dedups; /* delivering can change the list */
            continue;
        }
        if (cl->now_ms >= d->until_ms) {
            dedup_release(cl, d);
            dedup_unlink(cl, d);
            next = cl->dedups;
        }
    }
}

void fc__handoff_free(fc_cluster_t *cl)
{
    while (cl->pending) {
        fc_pending_t *p = cl->pending;
        cl->pending = p->next;
        if (p->conn)
            p->conn->cluster_wait = false;
        pending_free(p);
    }
    while (cl->stubs)
        stub_unlink(cl, cl->stubs);
    while (cl->dedups)
        dedup_unlink(cl, cl->dedups);
    if (cl->stub_index)
        fb_map_free(cl->stub_index);
    if (cl->dedup_index)
        fb_map_free(cl->dedup_index);
    if (cl->owners) {
        size_t pos = 0;
        const void *k;
        size_t kl;
        void *v;
        while (fb_map_next(cl->owners, &pos, &k, &kl, &v))
            free(v);
        fb_map_free(cl->owners);
    }
}

/* ---- migration without a client ---- */

int fc_cluster_migrate(fc_cluster_t *cl, fmq_bytes_t client_id, const char *node,
                       fc_migrate_done_fn done, void *ctx, const char **why)
{
    fb_session_t *s = fb_map_get(cl->b->sessions, client_id.ptr, client_id.len);
    if (!s || s->moved) {
        *why = "no such session on this node";
        return -1;
    }
    if (s->conn) {
        *why = "the session is connected: evict its connection first";
        return -1;
    }
    fc_dedup_t *d = dedup_of(cl, s);
    if (d)
        dedup_release(cl, d);
    fc_link_t *to = fc__peer(cl, fmq_cstr(node));
    if (!to || to->state != L_UP) {
        *why = "no such node up in the cluster";
        return -1;
    }
    fc_owner_t *o = owner_get(cl, client_id);
    uint64_t stamp = new_stamp(cl, o ? o->stamp : 0);
    size_t len = 0;
    uint8_t *blob = fb_session_serialize_v(s, to->version >= 2 ? 2 : 1, &len);
    if (!blob) {
        *why = "out of memory";
        return -1;
    }
    send_session(to, FC_SESS_DATA, FC_SESSF_MIGRATE, stamp, client_id, blob, len);
    if (to->state != L_UP) { /* the send failed the link: nothing moved */
        free(blob);
        *why = "the link to that node failed";
        return -1;
    }
    cl->stats.sessions_shipped++;
    owner_set(cl, client_id, to, stamp);
    fc_stub_t *st = make_stub(cl, s, to, stamp);
    if (!st) {
        free(blob);
        *why = "out of memory";
        return -1;
    }
    st->blob = blob;
    st->blob_len = len;
    st->done = done;
    st->done_ctx = ctx;
    return 0;
}

const char *fc_cluster_owner(const fc_cluster_t *cl, fmq_bytes_t client_id)
{
    fc_owner_t *o = owner_get(cl, client_id);
    return o ? owner_name(cl, o) : NULL;
}
