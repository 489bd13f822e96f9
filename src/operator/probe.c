/*
 * probe.c: what the controller reads from each running node's admin API,
 * all nodes in parallel (libcurl multi), bounded by one timeout:
 *   GET /health/ready      200: the node serves;
 *   GET /api/v1/node       connections, sessions;
 *   GET /api/v1/evacuation state, current_connected/sessions, failed;
 *   GET /api/v1/cluster    the members it knows and whether their links are
 *                          up: a node is ready for the first time only when
 *                          it sees every other running node that was ready
 *                          once (it joined); a deleted node is forgotten
 *                          when no node lists it.
 * And the two evacuation calls (POST start/stop), one at a time.
 */
#include "operator/probe.h"

#include "operator/answers.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_CAP (1u << 20)

enum { Q_READY, Q_NODE, Q_EVAC, Q_CLUSTER, Q_N };
static const char *const paths[Q_N] = {"/health/ready", "/api/v1/node", "/api/v1/evacuation",
                                       "/api/v1/cluster"};

typedef struct req {
    CURL *h;
    char *body;
    size_t len;
    long status;
} req_t;

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
    req_t *r = arg;
    size_t add = size * n;
    if (r->len + add > BODY_CAP)
        return 0;
    char *p = realloc(r->body, r->len + add + 1);
    if (!p)
        return 0;
    memcpy(p + r->len, data, add);
    r->body = p;
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

static CURL *easy(const char *url, long timeout_ms)
{
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROXY, ""); /* loopback admin: never through a proxy */
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
    return h;
}

void fo_probe_nodes(const fo_pworld_t *w, fo_obs_node_t *out, fo_probe_members_t *members,
                    long timeout_ms)
{
    size_t n = w->n_nodes;
    req_t *reqs = calloc(n * Q_N, sizeof *reqs);
    CURLM *m = curl_multi_init();
    members->n = 0;
    for (size_t i = 0; i < n; i++) {
        const fo_pnode_t *p = &w->nodes[i];
        fo_obs_node_t *o = &out[i];
        memset(o, 0, sizeof *o);
        snprintf(o->name, sizeof o->name, "%s", p->name);
        snprintf(o->revision, sizeof o->revision, "%s", p->revision);
        o->ordinal = p->ordinal;
        o->running = p->running;
        o->terminating = p->terminating;
        o->ever_ready = p->ever_ready;
        o->restarts = p->restarts;
        o->conns = o->sessions = o->evac_conns = o->evac_sessions = -1;
        if (!p->running || !reqs || !m)
            continue;
        for (int q = 0; q < Q_N; q++) {
            char url[256];
            snprintf(url, sizeof url, "%s%s", p->admin_url, paths[q]);
            req_t *r = &reqs[i * Q_N + (size_t)q];
            if (!(r->h = easy(url, timeout_ms)))
                continue;
            curl_easy_setopt(r->h, CURLOPT_WRITEFUNCTION, on_data);
            curl_easy_setopt(r->h, CURLOPT_WRITEDATA, r);
            curl_multi_add_handle(m, r->h);
        }
    }
    int running = 1;
    while (m && running) {
        if (curl_multi_perform(m, &running) != CURLM_OK)
            break;
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    for (size_t i = 0; reqs && i < n * Q_N; i++)
        if (reqs[i].h)
            curl_easy_getinfo(reqs[i].h, CURLINFO_RESPONSE_CODE, &reqs[i].status);

    fo_node_view_t *v = malloc(sizeof *v);
    for (size_t i = 0; reqs && v && i < n; i++) {
        fo_obs_node_t *o = &out[i];
        req_t *r = &reqs[i * Q_N];
        if (!w->nodes[i].running)
            continue;
        const req_t *rn = &r[Q_NODE], *re = &r[Q_EVAC], *rc = &r[Q_CLUSTER];
        fo_node_view_read(rn->status == 200 ? rn->body : NULL, rn->len,
                          re->status == 200 ? re->body : NULL, re->len,
                          rc->status == 200 ? rc->body : NULL, rc->len, v);
        o->conns = v->conns;
        o->sessions = v->sessions;
        o->evac = v->evac;
        o->evac_conns = v->evac_conns;
        o->evac_sessions = v->evac_sessions;
        o->evac_since_ms = v->evac_since_ms;
        o->failed_sessions = v->failed_sessions;
        /* Joined: every other running node is listed with its link up. Asked
         * of a node only before it first serves: afterwards a link that
         * flaps under load must not take a serving node out of the balancer
         * (seen at 100,000 clients: the storm then fell on fewer nodes). */
        bool joined = v->cluster_answered || w->nodes[i].ever_ready;
        for (size_t j = 0; joined && !w->nodes[i].ever_ready && j < n; j++) {
            /* Only nodes that were ready once: two new nodes must not wait
             * for each other, and a node being replaced does not count. */
            if (j == i || !w->nodes[j].running || w->nodes[j].terminating ||
                !w->nodes[j].ever_ready)
                continue;
            joined = fo_node_view_sees(v, w->nodes[j].name);
        }
        for (size_t k = 0; k < v->n_members; k++) {
            bool dup = false;
            for (size_t x = 0; x < members->n && !dup; x++)
                dup = strcmp(members->names[x], v->members[k].name) == 0;
            if (!dup && members->n < FO_MAX_NODES)
                snprintf(members->names[members->n++], FO_NODE_NAME_MAX, "%s",
                         v->members[k].name);
        }
        o->ready = r[Q_READY].status == 200 && joined && !w->nodes[i].terminating;
    }
    free(v);
    for (size_t i = 0; reqs && i < n * Q_N; i++) {
        if (reqs[i].h) {
            curl_multi_remove_handle(m, reqs[i].h);
            curl_easy_cleanup(reqs[i].h);
        }
        free(reqs[i].body);
    }
    free(reqs);
    if (m)
        curl_multi_cleanup(m);
}

int fo_probe_post(const char *admin_url, const char *path, const char *body, long timeout_ms,
                  long *status, char *answer, size_t answer_len)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", admin_url, path);
    CURL *h = easy(url, timeout_ms);
    if (!h)
        return -1;
    req_t r = {.h = h};
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
    CURLcode c = curl_easy_perform(h);
    *status = 0;
    if (c == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    snprintf(answer, answer_len, "%s",
             c != CURLE_OK ? curl_easy_strerror(c)
             : r.body      ? r.body
                           : "");
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    free(r.body);
    return c == CURLE_OK ? 0 : -1;
}
