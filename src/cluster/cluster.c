/* Cluster links and membership: handshake, heartbeats, dialing, peers
 * coming and going, frame dispatch. Routes are in route.c, client id
 * ownership and session handoff in handoff.c. */
#include "cluster/cluster_int.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 5000
#define HANDSHAKE_TIMEOUT_MS 5000
#define MAC_LABEL "ferrymq-cluster-auth"

static char *dup_bytes(fmq_bytes_t b)
{
    char *s = malloc((size_t)b.len + 1);
    if (s) {
        if (b.len)
            memcpy(s, b.ptr, b.len);
        s[b.len] = 0;
    }
    return s;
}

static bool bytes_eq(fmq_bytes_t b, const char *s)
{
    return s && b.len == strlen(s) && memcmp(b.ptr, s, b.len) == 0;
}

/* Elapsed-time measurements (sync durations) need better than the tick. */
static uint64_t mono_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *link_label(const fc_link_t *l)
{
    return l->name ? l->name : l->dialed ? l->dialed : "an unnamed peer";
}

/* ---- sending ---- */

/* A send found the link broken: it closes now, but its peer goes down only
 * when the network layer reports the close (fc_link_closed). Sends happen
 * inside frame handlers and broker hooks (a route announced while a session
 * is installed, a delivery forwarded in the middle of routing), which must
 * not see routes, owners, stubs and waiting CONNECTs change under them. */
static void link_broken(fc_link_t *l, const char *why)
{
    if (l->state == L_UP) {
        FB_WARN("cluster: link to %s closed: %s", link_label(l), why);
    } else {
        FB_INFO("cluster: link to %s closed during the handshake: %s", link_label(l), why);
    }
    l->state = L_CLOSING;
    if (l->tctx)
        l->cl->ops->close(l->tctx);
}

int fc__send(fc_link_t *l, const fc_frame_t *f)
{
    fc_cluster_t *cl = l->cl;
    if (l->state == L_CLOSING || l->state == L_CONNECTING)
        return -1;
    uint8_t v = l->version ? l->version : 1;
    size_t n = fc_frame_encode(f, v, cl->scratch, cl->scratch_cap);
    if (n == 0) {
        FB_WARN("cluster: a %s frame for %s does not fit its fields: not sent",
                fc_type_name(f->type), link_label(l));
        return -1;
    }
    if (n > cl->scratch_cap) {
        size_t cap = cl->scratch_cap ? cl->scratch_cap : 65536;
        while (cap < n)
            cap *= 2;
        uint8_t *p = realloc(cl->scratch, cap);
        if (!p)
            return -1;
        cl->scratch = p;
        cl->scratch_cap = cap;
        fc_frame_encode(f, v, cl->scratch, cl->scratch_cap);
    }
    if (n - FC_HEADER_LEN > cl->cfg->cluster_max_frame) {
        FB_WARN("cluster: a %s frame of %zu bytes for %s is over cluster_max_frame: not sent",
                fc_type_name(f->type), n, link_label(l));
        return -1;
    }
    if (cl->ops->backlog(l->tctx) + n > cl->cfg->cluster_link_buffer_limit) {
        link_broken(l, "peer does not read fast enough (cluster_link_buffer_limit)");
        return -1;
    }
    cl->stats.frames_out++;
    cl->stats.bytes_out += n;
    if (cl->ops->send(l->tctx, cl->scratch, n) != 0) {
        link_broken(l, "write failed");
        return -1;
    }
    return 0;
}

void fc__broadcast(fc_cluster_t *cl, const fc_frame_t *f, fc_link_t *except)
{
    for (fc_link_t *l = cl->links, *next; l; l = next) {
        next = l->next;
        if (l->state == L_UP && l != except)
            fc__send(l, f);
    }
}

fc_link_t *fc__peer(const fc_cluster_t *cl, fmq_bytes_t name)
{
    return fb_map_get(cl->peers, name.ptr, name.len);
}

/* ---- targets (addresses to dial) ---- */

static fc_target_t *target_find(fc_cluster_t *cl, const char *addr, const char *name)
{
    for (size_t i = 0; i < cl->n_targets; i++) {
        fc_target_t *t = &cl->targets[i];
        if ((name && t->name && strcmp(t->name, name) == 0) || (addr && strcmp(t->addr, addr) == 0))
            return t;
    }
    return NULL;
}

static fc_target_t *target_add(fc_cluster_t *cl, const char *addr, const char *name,
                               uint8_t source)
{
    fc_target_t *t = target_find(cl, addr, name);
    if (t) {
        t->sources |= source;
        if (name && !t->name)
            t->name = strdup(name);
        if (addr && strcmp(t->addr, addr) != 0 && source == T_MEMBER) {
            char *a = strdup(addr); /* a member moved: dial where it says it is */
            if (a) {
                free(t->addr);
                t->addr = a;
            }
        }
        return t;
    }
    if (cl->n_targets == cl->cap_targets) {
        size_t cap = cl->cap_targets ? cl->cap_targets * 2 : 8;
        fc_target_t *nt = realloc(cl->targets, cap * sizeof *nt);
        if (!nt)
            return NULL;
        cl->targets = nt;
        cl->cap_targets = cap;
    }
    t = &cl->targets[cl->n_targets];
    memset(t, 0, sizeof *t);
    t->addr = strdup(addr);
    t->name = name ? strdup(name) : NULL;
    if (!t->addr) {
        free(t->name);
        return NULL;
    }
    t->sources = source;
    t->next_try_ms = cl->now_ms;
    t->backoff_ms = BACKOFF_MIN_MS;
    cl->n_targets++;
    return t;
}

static void target_remove(fc_cluster_t *cl, fc_target_t *t)
{
    free(t->addr); /* a dial in progress outlives it: its close finds no target */
    free(t->name);
    size_t i = (size_t)(t - cl->targets);
    memmove(t, t + 1, (cl->n_targets - i - 1) * sizeof *t);
    cl->n_targets--;
}

static fc_target_t *target_of_link(fc_cluster_t *cl, const fc_link_t *l)
{
    for (size_t i = 0; i < cl->n_targets; i++)
        if (cl->targets[i].link == l)
            return &cl->targets[i];
    return NULL;
}

/* ---- links ---- */

static fc_link_t *link_new(fc_cluster_t *cl, bool outgoing)
{
    fc_link_t *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->cl = cl;
    l->outgoing = outgoing;
    l->state = outgoing ? L_CONNECTING : L_HANDSHAKE;
    l->version = 1;
    l->opened_ms = l->last_rx_ms = cl->now_ms;
    if (RAND_bytes(l->nonce, sizeof l->nonce) != 1) {
        free(l);
        return NULL;
    }
    l->next = cl->links;
    if (cl->links)
        cl->links->prev = l;
    cl->links = l;
    return l;
}

static void send_hello(fc_link_t *l)
{
    fc_cluster_t *cl = l->cl;
    fc_frame_t f = {.type = FC_T_HELLO};
    f.hello.proto_min = FC_PROTO_MIN;
    f.hello.proto_max = cl->proto_max;
    f.hello.cluster = fmq_cstr(cl->cfg->cluster_name);
    f.hello.node = fmq_cstr(cl->name);
    f.hello.incarnation = cl->incarnation;
    f.hello.nonce = (fmq_bytes_t){l->nonce, FC_NONCE_LEN};
    f.hello.client_addr = fmq_cstr(cl->cfg->listen);
    f.hello.cluster_addr = fmq_cstr(cl->advertise);
    fc__send(l, &f);
}

/* HMAC-SHA256(secret, label | receiver's nonce | sender's nonce | cluster |
 * sender's name): proves the sender knows the secret, bound to this link. */
static void compute_mac(const fc_cluster_t *cl, const uint8_t *recv_nonce, size_t rn,
                        const uint8_t *send_nonce, size_t sn, const char *sender,
                        uint8_t out[FC_MAC_LEN])
{
    size_t cn = strlen(cl->cfg->cluster_name), nn = strlen(sender);
    size_t len = sizeof MAC_LABEL + rn + sn + cn + nn;
    uint8_t buf[sizeof MAC_LABEL + 2 * FC_NONCE_MAX + 2 * 256 + 8];
    if (len > sizeof buf) {
        memset(out, 0, FC_MAC_LEN);
        return;
    }
    uint8_t *p = buf;
    memcpy(p, MAC_LABEL, sizeof MAC_LABEL);
    p += sizeof MAC_LABEL;
    memcpy(p, recv_nonce, rn);
    p += rn;
    memcpy(p, send_nonce, sn);
    p += sn;
    memcpy(p, cl->cfg->cluster_name, cn);
    p += cn;
    memcpy(p, sender, nn);
    p += nn;
    unsigned int olen = FC_MAC_LEN;
    const char *key = cl->cfg->cluster_secret;
    if (!HMAC(EVP_sha256(), key, (int)strlen(key), buf, (size_t)(p - buf), out, &olen))
        memset(out, 0, FC_MAC_LEN);
}

static void peer_down(fc_link_t *l, const char *why);

void fc__link_fail(fc_link_t *l, uint8_t code, const char *why)
{
    fc_cluster_t *cl = l->cl;
    if (l->state == L_CLOSING)
        return;
    if (l->state == L_UP)
        peer_down(l, why);
    if (code) {
        fc_frame_t f = {.type = FC_T_ERROR};
        f.error.code = code;
        f.error.text = fmq_cstr(why);
        fc__send(l, &f);
    }
    if (l->state == L_UP) {
        FB_WARN("cluster: link to %s closed: %s", link_label(l), why);
    } else {
        FB_INFO("cluster: link to %s closed during the handshake: %s", link_label(l), why);
    }
    l->state = L_CLOSING;
    if (l->tctx)
        cl->ops->close(l->tctx);
}

/* A peer is gone (link lost, heartbeat timeout, LEAVE): everything it
 * announced is dropped, so no route or session points at a ghost. */
static void peer_down(fc_link_t *l, const char *why)
{
    fc_cluster_t *cl = l->cl;
    if (!l->name || fb_map_get(cl->peers, l->name, strlen(l->name)) != l)
        return;
    fb_map_del(cl->peers, l->name, strlen(l->name));
    cl->stats.peers_down++;
    size_t routes = l->routes ? fb_map_count(l->routes) : 0;
    fc__routes_drop(l);
    fc__handoff_peer_down(l);
    bool expected = strcmp(why, "left") == 0 || cl->leaving; /* not a warning */
    FB_LOG_AT(expected ? FB_LOG_INFO : FB_LOG_WARN,
              "cluster: node %s is down (%s): dropped its %zu routes and its sessions", l->name,
              why, routes);
    fc_target_t *t = target_find(cl, NULL, l->name);
    if (t && !t->failing_since_ms)
        t->failing_since_ms = cl->now_ms;
}

static void send_members(fc_link_t *to)
{
    fc_cluster_t *cl = to->cl;
    uint8_t buf[65536];
    size_t used = 0;
    uint16_t count = 0;
    for (fc_link_t *l = cl->links; l; l = l->next) {
        if (l->state != L_UP || l == to || !l->cluster_addr)
            continue;
        size_t before = used;
        if (!fc_list_put(buf, sizeof buf, &used, fmq_cstr(l->name)) ||
            !fc_list_put(buf, sizeof buf, &used, fmq_cstr(l->cluster_addr))) {
            used = before;
            break;
        }
        count++;
    }
    fc_frame_t f = {.type = FC_T_MEMBERS};
    f.list.count = count;
    f.list.raw = (fmq_bytes_t){buf, (uint32_t)used};
    fc__send(to, &f);
}

static void link_up(fc_link_t *l)
{
    fc_cluster_t *cl = l->cl;
    fc_target_t *t = target_of_link(cl, l);
    /* The same name with another incarnation: the node restarted, and its
     * old link (perhaps to a frozen process) is stale now, not later. */
    fc_link_t *old = fc__peer(cl, fmq_cstr(l->name));
    if (old && old->incarnation != l->incarnation) {
        fc_target_t *ot = target_of_link(cl, old);
        if (ot)
            ot->link = NULL;
        peer_down(old, "restarted");
        fc__link_fail(old, 0, "the node restarted");
        old = NULL;
    }
    /* Only the node with the smaller name dials a link that stays: both
     * ends apply the same rule, so two nodes never keep two links. */
    int order = strcmp(cl->name, l->name);
    if ((l->outgoing && order > 0) || (!l->outgoing && order < 0)) {
        if (!l->outgoing) {
            fc_target_t *mt = target_add(cl, l->cluster_addr, l->name, T_MEMBER);
            if (mt && !mt->link)
                mt->next_try_ms = cl->now_ms;
        } else if (t) {
            t->next_try_ms = cl->now_ms + BACKOFF_MAX_MS;
            t->link = NULL;
        }
        FB_DEBUG("cluster: %s and %s: the smaller name dials, closing this link", cl->name,
                 l->name);
        l->state = L_CLOSING;
        cl->ops->close(l->tctx);
        return;
    }
    if (fc__peer(cl, fmq_cstr(l->name))) {
        fc__link_fail(l, FC_ERR_DUPLICATE, "a link to this node is up already");
        return;
    }
    if (fb_map_put(cl->peers, l->name, strlen(l->name), l) != 0) {
        fc__link_fail(l, 0, "out of memory");
        return;
    }
    l->state = L_UP;
    l->last_ping_ms = cl->now_ms;
    l->up_ms = mono_now_ms();
    if (t) {
        t->failing_since_ms = 0;
        t->backoff_ms = BACKOFF_MIN_MS;
    }
    FB_INFO("cluster: node %s is up (%s, protocol %u, %s)", l->name, l->cluster_addr, l->version,
            l->outgoing ? "dialed" : "accepted");
    send_members(l);
    uint32_t routes = 0, claims = 0, retained = 0;
    fc__sync_routes(l, &routes, &retained);
    fc__sync_claims(l, &claims);
    fc_frame_t f = {.type = FC_T_SYNC_END};
    f.sync_end.routes = routes;
    f.sync_end.claims = claims;
    f.sync_end.retained = retained;
    fc__send(l, &f);
    if (l->state == L_UP)
        fc__load_link_up(l);
}

static int on_hello(fc_link_t *l, const fc_frame_t *f)
{
    fc_cluster_t *cl = l->cl;
    if (l->hello_got)
        return -1;
    l->hello_got = true;
    l->name = dup_bytes(f->hello.node);
    l->cluster_addr = dup_bytes(f->hello.cluster_addr);
    l->client_addr = dup_bytes(f->hello.client_addr);
    if (!l->name || !l->cluster_addr || !l->client_addr)
        return -1;
    l->incarnation = f->hello.incarnation;
    memcpy(l->peer_nonce, f->hello.nonce.ptr, f->hello.nonce.len);
    l->peer_nonce_len = f->hello.nonce.len;
    if (!l->outgoing)
        send_hello(l);
    fc_target_t *t = target_of_link(cl, l);
    if (strcmp(l->name, cl->name) == 0) {
        if (l->incarnation == cl->incarnation) {
            if (t) {
                t->self = true; /* our own address: never dialed again */
                t->link = NULL;
            }
            l->state = L_CLOSING;
            cl->ops->close(l->tctx);
            return 0;
        }
        cl->stats.links_refused++;
        FB_ERROR("cluster: refused a node at %s: it uses this node's name %s", l->cluster_addr,
                 cl->name);
        fc__link_fail(l, FC_ERR_DUPLICATE, "node name already in use by the node you dialed");
        return 0;
    }
    if (t && !t->name)
        t->name = strdup(l->name);
    if (!bytes_eq(f->hello.cluster, cl->cfg->cluster_name)) {
        cl->stats.links_refused++;
        FB_ERROR("cluster: refused node %s: it belongs to cluster \"%.*s\", not \"%s\"", l->name,
                 (int)f->hello.cluster.len, (const char *)f->hello.cluster.ptr,
                 cl->cfg->cluster_name);
        fc__link_fail(l, FC_ERR_CLUSTER, "different cluster name");
        return 0;
    }
    uint8_t v = f->hello.proto_max < cl->proto_max ? f->hello.proto_max : cl->proto_max;
    uint8_t need = f->hello.proto_min > FC_PROTO_MIN ? f->hello.proto_min : FC_PROTO_MIN;
    if (v < need) {
        cl->stats.links_refused++;
        FB_ERROR("cluster: refused node %s: it speaks protocol %u..%u, this node %u..%u",
                 l->name, f->hello.proto_min, f->hello.proto_max, FC_PROTO_MIN, cl->proto_max);
        fc__link_fail(l, FC_ERR_VERSION, "no protocol version in common");
        return 0;
    }
    l->version = v;
    fc_frame_t a = {.type = FC_T_AUTH};
    uint8_t mac[FC_MAC_LEN];
    compute_mac(cl, l->peer_nonce, l->peer_nonce_len, l->nonce, FC_NONCE_LEN, cl->name, mac);
    a.auth.mac = (fmq_bytes_t){mac, FC_MAC_LEN};
    l->auth_sent = fc__send(l, &a) == 0;
    return 0;
}

static int on_auth(fc_link_t *l, const fc_frame_t *f)
{
    fc_cluster_t *cl = l->cl;
    if (!l->hello_got || !l->auth_sent)
        return -1;
    uint8_t want[FC_MAC_LEN];
    compute_mac(cl, l->nonce, FC_NONCE_LEN, l->peer_nonce, l->peer_nonce_len, l->name, want);
    if (CRYPTO_memcmp(want, f->auth.mac.ptr, FC_MAC_LEN) != 0) {
        cl->stats.links_refused++;
        FB_ERROR("cluster: refused node %s (%s): wrong cluster secret (its proof does not "
                 "match this node's secret)",
                 l->name, l->cluster_addr);
        fc__link_fail(l, FC_ERR_AUTH, "wrong cluster secret");
        return 0;
    }
    link_up(l);
    return 0;
}

static int on_members(fc_link_t *l, const fc_frame_t *f)
{
    fc_cluster_t *cl = l->cl;
    uint32_t pos = 0;
    fmq_bytes_t name, addr;
    while (fc_list_next(&f->list, &pos, &name) && fc_list_next(&f->list, &pos, &addr)) {
        if (bytes_eq(name, cl->name) || fc__peer(cl, name) || name.len > 255 || addr.len > 300)
            continue;
        char *n = dup_bytes(name), *a = dup_bytes(addr);
        if (n && a)
            target_add(cl, a, n, T_MEMBER);
        free(n);
        free(a);
    }
    return 0;
}

static int on_leave(fc_link_t *l, const fc_frame_t *f)
{
    fc_cluster_t *cl = l->cl;
    FB_INFO("cluster: node %s leaves the cluster (%.*s)", l->name, (int)f->leave.reason.len,
            (const char *)f->leave.reason.ptr);
    char *name = strdup(l->name);
    peer_down(l, "left");
    /* Forgotten: a member it was; a seed or DNS address stays an address. */
    fc_target_t *t = name ? target_find(cl, NULL, name) : NULL;
    if (t) {
        t->sources &= (uint8_t)~T_MEMBER;
        if (!t->sources)
            target_remove(cl, t);
        else {
            free(t->name);
            t->name = NULL;
            t->next_try_ms = cl->now_ms + BACKOFF_MAX_MS;
        }
    }
    free(name);
    l->state = L_CLOSING;
    cl->ops->close(l->tctx);
    return 0;
}

static int dispatch(fc_link_t *l, const fc_frame_t *f)
{
    fc_cluster_t *cl = l->cl;
    if (f->type == FC_T_ERROR) {
        FB_ERROR("cluster: node %s refused this node: %.*s", link_label(l),
                 (int)f->error.text.len, (const char *)f->error.text.ptr);
        l->state = L_CLOSING;
        cl->ops->close(l->tctx);
        return 0;
    }
    if (l->state != L_UP) {
        switch (f->type) {
        case FC_T_HELLO:
            return on_hello(l, f);
        case FC_T_AUTH:
            return on_auth(l, f);
        default:
            return -1;
        }
    }
    if (f->version != l->version)
        return -1;
    switch (f->type) {
    case FC_T_PING: {
        fc_frame_t p = {.type = FC_T_PONG};
        p.ping.time = f->ping.time;
        fc__send(l, &p);
        return 0;
    }
    case FC_T_PONG:
        return 0;
    case FC_T_MEMBERS:
        return on_members(l, f);
    case FC_T_ROUTE_ADD:
    case FC_T_ROUTE_DEL:
        return fc__on_route(l, f);
    case FC_T_SYNC_END:
        l->synced = true;
        FB_INFO("cluster: synced with %s in %llu ms: %u routes, %u claims, %u retained "
                "(announced %u, %u, %u)",
                l->name, (unsigned long long)(mono_now_ms() - l->up_ms), l->sync_routes,
                l->sync_claims, l->sync_retained, f->sync_end.routes, f->sync_end.claims,
                f->sync_end.retained);
        return 0;
    case FC_T_PUBLISH:
        return fc__on_publish(l, f);
    case FC_T_CLAIM:
        return fc__on_claim(l, f);
    case FC_T_RELEASE:
        return fc__on_release(l, f);
    case FC_T_SESSION:
        return fc__on_session(l, f);
    case FC_T_SESSION_ACK:
        return fc__on_session_ack(l, f);
    case FC_T_DELIVER:
        return fc__on_deliver(l, f);
    case FC_T_LEAVE:
        return on_leave(l, f);
    case FC_T_STUB_END:
        return l->version >= 3 ? fc__on_stub_end(l, f) : -1;
    case FC_T_NODE_LOAD:
        return fc__on_node_load(l, f);
    case FC_T_REBALANCE:
        return fc__on_rebalance(l, f);
    default:
        return -1;
    }
}

/* Frames in buf; returns bytes used, or -1 after failing the link. */
static int64_t process(fc_link_t *l, const uint8_t *buf, size_t len)
{
    fc_cluster_t *cl = l->cl;
    size_t off = 0;
    while (off < len && l->state != L_CLOSING) {
        fc_frame_t f;
        const char *why = NULL;
        uint32_t max = l->state == L_UP ? cl->cfg->cluster_max_frame : FC_PRE_AUTH_MAX_FRAME;
        int64_t n = fc_frame_decode(buf + off, len - off, max, &f, &why);
        if (n == FC_NEED_MORE)
            break;
        if (n < 0) {
            FB_WARN("cluster: bad frame from %s: %s", link_label(l), why);
            fc__link_fail(l, FC_ERR_PROTOCOL, why);
            return -1;
        }
        cl->stats.frames_in++;
        cl->stats.bytes_in += (uint64_t)n;
        cl->cur_from = l;
        int r = dispatch(l, &f);
        cl->cur_from = NULL;
        if (r != 0) {
            FB_WARN("cluster: unexpected %s frame from %s", fc_type_name(f.type), link_label(l));
            fc__link_fail(l, FC_ERR_PROTOCOL, "unexpected frame");
            return -1;
        }
        off += (size_t)n;
    }
    return (int64_t)off;
}

void fc_link_input(fc_link_t *l, const uint8_t *data, size_t len)
{
    if (l->state == L_CLOSING)
        return;
    l->last_rx_ms = l->cl->now_ms;
    if (l->in_len == 0) {
        int64_t used = process(l, data, len);
        if (used < 0 || l->state == L_CLOSING)
            return;
        data += used;
        len -= (size_t)used;
        if (len == 0)
            return;
    }
    if (l->in_len + len > l->in_cap) {
        size_t cap = l->in_cap ? l->in_cap : 65536;
        while (cap < l->in_len + len)
            cap *= 2;
        uint8_t *p = realloc(l->in, cap);
        if (!p) {
            fc__link_fail(l, 0, "out of memory");
            return;
        }
        l->in = p;
        l->in_cap = cap;
    }
    memcpy(l->in + l->in_len, data, len);
    l->in_len += len;
    int64_t used = process(l, l->in, l->in_len);
    if (used < 0 || l->state == L_CLOSING)
        return;
    memmove(l->in, l->in + used, l->in_len - (size_t)used);
    l->in_len -= (size_t)used;
    if (l->in_len == 0 && l->in_cap > (1u << 20)) {
        free(l->in);
        l->in = NULL;
        l->in_cap = 0;
    }
}

fc_link_t *fc_link_accepted(fc_cluster_t *cl, void *tctx)
{
    fc_link_t *l = link_new(cl, false);
    if (l)
        l->tctx = tctx;
    return l;
}

void fc_link_connected(fc_link_t *l)
{
    if (l->state != L_CONNECTING)
        return;
    l->state = L_HANDSHAKE;
    l->last_rx_ms = l->cl->now_ms;
    send_hello(l);
}

void fc_link_closed(fc_link_t *l)
{
    fc_cluster_t *cl = l->cl;
    peer_down(l, "link closed");
    fc_target_t *t = target_of_link(cl, l);
    if (t) {
        t->link = NULL;
        if (!t->failing_since_ms)
            t->failing_since_ms = cl->now_ms;
        if (t->next_try_ms < cl->now_ms + t->backoff_ms)
            t->next_try_ms = cl->now_ms + t->backoff_ms;
        t->backoff_ms = t->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : t->backoff_ms * 2;
    }
    if (l->prev)
        l->prev->next = l->next;
    else
        cl->links = l->next;
    if (l->next)
        l->next->prev = l->prev;
    if (l->routes)
        fb_map_free(l->routes);
    fc__load_link_free(l);
    free(l->dialed);
    free(l->name);
    free(l->cluster_addr);
    free(l->client_addr);
    free(l->in);
    free(l);
}

/* ---- tick ---- */

static void dial(fc_cluster_t *cl, fc_target_t *t)
{
    FB_DEBUG("cluster: dialing %s (%s)", t->addr, t->name ? t->name : "name unknown");
    fc_link_t *l = link_new(cl, true);
    if (!l)
        return;
    l->dialed = strdup(t->addr);
    t->link = l;
    t->next_try_ms = cl->now_ms + t->backoff_ms;
    l->tctx = cl->ops->connect(cl->nctx, t->addr, l);
    if (!l->tctx) {
        t->link = NULL;
        l->state = L_CLOSING;
        fc_link_closed(l);
    }
}

void fc_cluster_tick(fc_cluster_t *cl, uint64_t mono_ms)
{
    cl->now_ms = mono_ms;
    for (fc_link_t *l = cl->links, *next; l; l = next) {
        next = l->next;
        if (l->state == L_CLOSING)
            continue;
        if (l->state != L_UP) {
            if (mono_ms - l->opened_ms > HANDSHAKE_TIMEOUT_MS)
                fc__link_fail(l, 0, "handshake timed out");
            continue;
        }
        if (mono_ms - l->last_rx_ms > cl->cfg->cluster_peer_timeout_ms) {
            peer_down(l, "heartbeat timeout");
            fc__link_fail(l, 0, "heartbeat timeout");
            continue;
        }
        if (mono_ms - l->last_ping_ms >= cl->cfg->cluster_heartbeat_ms) {
            l->last_ping_ms = mono_ms;
            fc_frame_t f = {.type = FC_T_PING};
            f.ping.time = mono_ms;
            fc__send(l, &f);
        }
    }
    if (!cl->leaving) {
        for (size_t i = 0; i < cl->n_targets; i++) {
            fc_target_t *t = &cl->targets[i];
            if (t->self || t->link)
                continue;
            if (t->name && fc__peer(cl, fmq_cstr(t->name))) {
                t->failing_since_ms = 0;
                continue;
            }
            /* A member nobody has reached for a while is forgotten. */
            if (t->sources == T_MEMBER && t->failing_since_ms && cl->cfg->cluster_forget_after_ms &&
                mono_ms - t->failing_since_ms > cl->cfg->cluster_forget_after_ms) {
                FB_INFO("cluster: forgetting node %s (%s): unreachable for %u ms",
                        t->name ? t->name : "?", t->addr, cl->cfg->cluster_forget_after_ms);
                target_remove(cl, t);
                i--;
                continue;
            }
            if (mono_ms >= t->next_try_ms)
                dial(cl, t);
        }
    }
    fc__handoff_tick(cl);
}

void fc_cluster_dns_result(fc_cluster_t *cl, char *const *addrs, size_t n)
{
    for (size_t i = 0; i < cl->n_targets; i++) {
        fc_target_t *t = &cl->targets[i];
        if (!(t->sources & T_DNS))
            continue;
        bool still = false;
        for (size_t j = 0; j < n && !still; j++)
            still = strcmp(addrs[j], t->addr) == 0;
        if (still)
            continue;
        t->sources &= (uint8_t)~T_DNS;
        if (!t->sources) {
            target_remove(cl, t);
            i--;
        }
    }
    for (size_t j = 0; j < n; j++)
        target_add(cl, addrs[j], NULL, T_DNS);
}

void fc_cluster_leave(fc_cluster_t *cl)
{
    cl->leaving = true;
    fc_frame_t f = {.type = FC_T_LEAVE};
    f.leave.reason = fmq_cstr("shutting down");
    fc__broadcast(cl, &f, NULL);
}

/* ---- setup ---- */

fc_cluster_t *fc_cluster_new(fb_broker_t *b, const fb_config_t *cfg, const fc_net_ops_t *ops,
                             void *nctx, char *err, size_t errlen)
{
    if (!cfg->cluster_listen || !*cfg->cluster_listen) {
        snprintf(err, errlen, "cluster: cluster_listen is not set");
        return NULL;
    }
    if (!*cfg->cluster_secret) {
        snprintf(err, errlen,
                 "cluster: cluster_secret is required with cluster_listen (any node that knows "
                 "the cluster name could join otherwise); set it in the config file or "
                 "FERRYMQ_CLUSTER_SECRET");
        return NULL;
    }
    fc_cluster_t *cl = calloc(1, sizeof *cl);
    if (!cl) {
        snprintf(err, errlen, "cluster: out of memory");
        return NULL;
    }
    cl->b = b;
    cl->cfg = cfg;
    cl->ops = ops;
    cl->nctx = nctx;
    cl->name = strdup(cfg->node_name);
    cl->advertise = strdup(*cfg->cluster_advertise ? cfg->cluster_advertise : cfg->cluster_listen);
    cl->proto_max = (uint8_t)(cfg->cluster_protocol_max > FC_PROTO_MAX ? FC_PROTO_MAX
                                                                       : cfg->cluster_protocol_max);
    cl->peers = fb_map_new();
    cl->owners = fb_map_new_borrowing();
    cl->stub_index = fb_map_new_borrowing();
    cl->dedup_index = fb_map_new_borrowing();
    cl->routes = fb_subtab_new();
    if (!cl->name || !cl->advertise || !cl->peers || !cl->owners || !cl->routes ||
        !cl->stub_index || !cl->dedup_index ||
        RAND_bytes((uint8_t *)&cl->incarnation, sizeof cl->incarnation) != 1) {
        snprintf(err, errlen, "cluster: out of memory");
        fc_cluster_free(cl);
        return NULL;
    }
    /* Seeds: "host:port,host:port" (validated by the config loader). */
    const char *p = cfg->cluster_seeds;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char addr[300];
        if (n < sizeof addr) {
            memcpy(addr, p, n);
            addr[n] = 0;
            if (strcmp(addr, cl->advertise) != 0)
                target_add(cl, addr, NULL, T_SEED);
        }
        p += n + (comma ? 1 : 0);
    }
    cl->hooks = (fb_cluster_ops_t){
        .route_add = fc__route_add,
        .route_del = fc__route_del,
        .publish = fc__publish,
        .connect = fc__connect,
        .session_gone = fc__session_gone,
        .forward = fc__forward,
        .handoff_filter = fc__handoff_filter,
        .connect_cancel = fc__connect_cancel,
    };
    b->cluster = &cl->hooks;
    b->cluster_ctx = cl;
    return cl;
}

void fc_cluster_free(fc_cluster_t *cl)
{
    if (!cl)
        return;
    /* Links go while the cluster is still plugged in: a peer going down
     * restores migrated sessions and delivers what was held back, and the
     * broker must reach the cluster for that (handoff_filter, forward,
     * session_gone). */
    while (cl->links)
        fc_link_closed(cl->links);
    if (cl->b && cl->b->cluster == &cl->hooks) {
        cl->b->cluster = NULL;
        cl->b->cluster_ctx = NULL;
    }
    fc__handoff_free(cl);
    fc__load_free(cl);
    for (size_t i = 0; i < cl->n_targets; i++) {
        free(cl->targets[i].addr);
        free(cl->targets[i].name);
    }
    free(cl->targets);
    if (cl->peers)
        fb_map_free(cl->peers);
    if (cl->routes)
        fb_subtab_free(cl->routes);
    free(cl->scratch);
    free(cl->fwd);
    free(cl->name);
    free(cl->advertise);
    free(cl);
}

size_t fc_cluster_peers(const fc_cluster_t *cl, fc_peer_info_t *out, size_t cap)
{
    size_t n = 0;
    for (const fc_link_t *l = cl->links; l; l = l->next) {
        if (l->state != L_UP)
            continue;
        if (n < cap)
            out[n] = (fc_peer_info_t){l->name, l->cluster_addr, l->client_addr, l->version, true,
                                      l->routes ? (uint32_t)fb_map_count(l->routes) : 0};
        n++;
    }
    return n;
}

const fc_stats_t *fc_cluster_stats(const fc_cluster_t *cl)
{
    return &cl->stats;
}
