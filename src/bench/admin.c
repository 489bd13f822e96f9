/* ferrybench --admin: the parent polls each node's `GET /api/v1/node` once a
 * second (docs/admin-api.md) and keeps, per node, its connections at the
 * start of the run, the least, the most and the last; over the seconds in
 * which every node answered, the lowest total and the fewest nodes with
 * connections > 0. libcurl's multi interface, driven by curl_multi_perform
 * from the parent's tick, so that a node that hangs (SIGSTOP) never holds
 * up the progress and the report; a node that does not answer within the
 * round is unknown for that second. */
#include "bench/admin.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX 65536          /* the node document is a few hundred bytes */
#define REQUEST_TIMEOUT_MS 2000 /* a safety net: a round closes after 500 ms */
#define NAME_MAX_LEN 64

typedef struct node {
    bn_admin_t *a;
    uint32_t index;
    char url[600];
    CURL *h;
    bool busy;  /* in the multi handle */
    bool asked; /* in the open round */
    char *body;
    size_t len;
    bool overflow;
    char name[NAME_MAX_LEN]; /* from the answers; "" until one came */
    int64_t now;             /* the last closed round, or BN_ADMIN_UNKNOWN */
    /* the open round */
    bool answered;
    int64_t got_conns, got_sessions;
    /* recorded rounds */
    uint64_t polls, ok, failed;
    int64_t start, min, max, end, end_sessions;
    double start_t, end_t;
    char last_error[160];
} node_t;

struct bn_admin {
    CURLM *m;
    struct curl_slist *headers;
    uint32_t n;
    node_t *nodes;
    bool open, record;
    double t;
    uint64_t rounds, complete;
    int64_t total_min;
    double total_min_t;
    int64_t serving_min;
    double serving_min_t, last_t;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    node_t *nd = ud;
    size_t n = size * nmemb;
    if (nd->len + n > BODY_MAX) {
        nd->overflow = true;
        return 0; /* aborts the transfer: not a node document */
    }
    memcpy(nd->body + nd->len, ptr, n);
    nd->len += n;
    return n;
}

static void set_error(node_t *nd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(node_t *nd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(nd->last_error, sizeof nd->last_error, fmt, ap);
    va_end(ap);
}

/* Keeps what a report can print unquoted: letters, digits, "_.:-". */
static void set_name(node_t *nd, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < sizeof nd->name; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == ':' || c == '-';
        nd->name[i] = ok ? c : '_';
    }
    nd->name[i] = 0;
}

/* A finished transfer: a figure, or the reason there is none. */
static void take_answer(node_t *nd, CURLcode rc)
{
    long status = 0;
    if (rc != CURLE_OK) {
        set_error(nd, "%s", nd->overflow ? "answer over 64 KiB" : curl_easy_strerror(rc));
        return;
    }
    curl_easy_getinfo(nd->h, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        set_error(nd, "%sHTTP %ld", status == 401 ? "wrong or missing --admin-token: " : "",
                  status);
        return;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(nd->body, nd->len, 0, &jerr);
    json_t *conns = doc ? json_object_get(doc, "connections") : NULL;
    json_t *sess = doc ? json_object_get(doc, "sessions") : NULL;
    json_t *name = doc ? json_object_get(doc, "node") : NULL;
    if (!json_is_integer(conns) || json_integer_value(conns) < 0) {
        set_error(nd, "%s", doc ? "no \"connections\" in the answer" : "answer is not JSON");
        json_decref(doc);
        return;
    }
    nd->answered = true;
    nd->got_conns = json_integer_value(conns);
    nd->got_sessions = json_is_integer(sess) ? json_integer_value(sess) : BN_ADMIN_UNKNOWN;
    if (json_is_string(name))
        set_name(nd, json_string_value(name));
    json_decref(doc);
}

void bn_admin_step(bn_admin_t *a)
{
    int running = 0, left = 0;
    curl_multi_perform(a->m, &running);
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(a->m, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        node_t *nd = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&nd);
        CURLcode rc = msg->data.result;
        curl_multi_remove_handle(a->m, msg->easy_handle); /* msg is gone after this */
        if (!nd)
            continue;
        nd->busy = false;
        take_answer(nd, rc);
    }
}

static void record(bn_admin_t *a)
{
    bool all = true;
    int64_t total = 0, serving = 0;
    a->rounds++;
    a->last_t = a->t;
    for (uint32_t i = 0; i < a->n; i++) {
        node_t *nd = &a->nodes[i];
        if (!nd->asked)
            continue;
        nd->polls++;
        if (!nd->answered) {
            nd->failed++;
            all = false;
            continue;
        }
        int64_t c = nd->got_conns;
        nd->ok++;
        if (nd->ok == 1) {
            nd->start = nd->min = nd->max = c;
            nd->start_t = a->t;
        }
        nd->min = c < nd->min ? c : nd->min;
        nd->max = c > nd->max ? c : nd->max;
        nd->end = c;
        nd->end_sessions = nd->got_sessions;
        nd->end_t = a->t;
        total += c;
        serving += c > 0;
    }
    /* Cluster-wide figures only from seconds in which every node answered:
     * a node that did not answer may or may not have been serving. */
    if (all) {
        a->complete++;
        if (a->serving_min < 0 || serving < a->serving_min) {
            a->serving_min = serving;
            a->serving_min_t = a->t;
        }
        if (a->total_min < 0 || total < a->total_min) {
            a->total_min = total;
            a->total_min_t = a->t;
        }
    }
}

void bn_admin_round_end(bn_admin_t *a, bool cut)
{
    if (!a || !a->open)
        return;
    bn_admin_step(a);
    a->open = false;
    bool dropped = false;
    for (uint32_t i = 0; i < a->n; i++) {
        node_t *nd = &a->nodes[i];
        if (nd->busy) { /* no answer in time: drop the request */
            curl_multi_remove_handle(a->m, nd->h);
            nd->busy = false;
            if (cut) {
                nd->asked = false; /* the run ended, not the node */
                dropped = true;
            } else {
                set_error(nd, "no answer within the round (500 ms)");
            }
        }
        nd->now = nd->asked && nd->answered ? nd->got_conns : BN_ADMIN_UNKNOWN;
    }
    bool any = false;
    for (uint32_t i = 0; i < a->n; i++)
        any |= a->nodes[i].asked;
    /* A round the end of the run cut in half says nothing about a second. */
    if (a->record && any && !dropped)
        record(a);
}

void bn_admin_round_start(bn_admin_t *a, bool rec, double t_s)
{
    if (!a)
        return;
    bn_admin_round_end(a, false);
    a->open = true;
    a->record = rec;
    a->t = t_s;
    for (uint32_t i = 0; i < a->n; i++) {
        node_t *nd = &a->nodes[i];
        nd->asked = nd->answered = false;
        nd->len = 0;
        nd->overflow = false;
        if (curl_multi_add_handle(a->m, nd->h) != CURLM_OK) {
            set_error(nd, "curl_multi_add_handle failed");
            nd->asked = true; /* counts as a failed poll */
            continue;
        }
        nd->busy = nd->asked = true;
    }
    bn_admin_step(a); /* the connects start now, not at the next tick */
}

uint32_t bn_admin_count(const bn_admin_t *a)
{
    return a ? a->n : 0;
}

int64_t bn_admin_conns(const bn_admin_t *a, uint32_t i)
{
    return a && i < a->n ? a->nodes[i].now : BN_ADMIN_UNKNOWN;
}

void bn_admin_free(bn_admin_t *a)
{
    if (!a)
        return;
    for (uint32_t i = 0; a->nodes && i < a->n; i++) {
        node_t *nd = &a->nodes[i];
        if (nd->h) {
            if (nd->busy)
                curl_multi_remove_handle(a->m, nd->h);
            curl_easy_cleanup(nd->h);
        }
        free(nd->body);
    }
    if (a->m)
        curl_multi_cleanup(a->m);
    curl_slist_free_all(a->headers);
    free(a->nodes);
    free(a);
    curl_global_cleanup();
}

bn_admin_t *bn_admin_new(const char *const *urls, uint32_t n, const char *token, char *err,
                         size_t errlen)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "curl_global_init failed");
        return NULL;
    }
    bn_admin_t *a = calloc(1, sizeof *a);
    if (!a) {
        curl_global_cleanup();
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->n = n;
    a->total_min = a->serving_min = -1;
    a->nodes = calloc(n, sizeof *a->nodes);
    a->m = curl_multi_init();
    if (!a->nodes || !a->m)
        goto fail;
    if (token && *token) {
        char hdr[1100];
        snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", token);
        if (!(a->headers = curl_slist_append(NULL, hdr)))
            goto fail;
    }
    for (uint32_t i = 0; i < n; i++) {
        node_t *nd = &a->nodes[i];
        *nd = (node_t){.a = a, .index = i, .now = BN_ADMIN_UNKNOWN};
        size_t l = strlen(urls[i]);
        while (l && urls[i][l - 1] == '/')
            l--;
        static const char path[] = "/api/v1/node";
        /* The full endpoint may be given as well. */
        if (l >= sizeof path - 1 &&
            strncmp(urls[i] + l - (sizeof path - 1), path, sizeof path - 1) == 0)
            l -= sizeof path - 1;
        snprintf(nd->url, sizeof nd->url, "%.*s%s", (int)l, urls[i], path);
        nd->body = malloc(BODY_MAX);
        nd->h = curl_easy_init();
        if (!nd->body || !nd->h)
            goto fail;
        CURL *h = nd->h;
        curl_easy_setopt(h, CURLOPT_URL, nd->url);
        curl_easy_setopt(h, CURLOPT_PRIVATE, (char *)nd);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, nd);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        /* Only the address given: no proxy from the environment, no
         * redirect, no other scheme. */
        curl_easy_setopt(h, CURLOPT_PROXY, "");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)REQUEST_TIMEOUT_MS);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)REQUEST_TIMEOUT_MS);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "ferrybench");
        if (a->headers)
            curl_easy_setopt(h, CURLOPT_HTTPHEADER, a->headers);
    }
    return a;
fail:
    snprintf(err, errlen, "out of memory or curl set-up failed");
    bn_admin_free(a);
    return NULL;
}

/* ---- reports ---- */

static const char *status_word(const bn_admin_t *a)
{
    uint64_t ok = 0, failed = 0;
    for (uint32_t i = 0; a && i < a->n; i++) {
        ok += a->nodes[i].ok;
        failed += a->nodes[i].failed;
    }
    if (!ok)
        return "failed";
    return failed ? "partial" : "ok";
}

static void num_or_na(char *buf, size_t len, int64_t v)
{
    if (v < 0)
        snprintf(buf, len, "na");
    else
        snprintf(buf, len, "%lld", (long long)v);
}

/* max/min of the nodes' last answers; "na" when a node never answered,
 * "inf" when one ended with none and another with some. */
static void balance(const bn_admin_t *a, char *buf, size_t len)
{
    int64_t mn = -1, mx = -1;
    for (uint32_t i = 0; i < a->n; i++) {
        const node_t *nd = &a->nodes[i];
        if (!nd->ok) {
            snprintf(buf, len, "na");
            return;
        }
        mn = mn < 0 || nd->end < mn ? nd->end : mn;
        mx = nd->end > mx ? nd->end : mx;
    }
    if (mx <= 0)
        snprintf(buf, len, "na"); /* no connections anywhere: no ratio */
    else if (mn == 0)
        snprintf(buf, len, "inf");
    else
        snprintf(buf, len, "%.3f", (double)mx / (double)mn);
}

void bn_admin_summary(const bn_admin_t *a, const char *const *urls, uint32_t n)
{
    if (!a) {
        printf("  %-14s not collected: the poller could not be set up\n", "admin");
        return;
    }
    uint64_t polls = 0, ok = 0;
    for (uint32_t i = 0; i < a->n; i++) {
        polls += a->nodes[i].polls;
        ok += a->nodes[i].ok;
    }
    printf("  %-14s %u node%s polled once a second: %llu of %llu answers in %llu seconds of the "
           "run (%s); the CSV's conns_1.. columns in this order\n",
           "admin", a->n, a->n == 1 ? "" : "s", (unsigned long long)ok, (unsigned long long)polls,
           (unsigned long long)a->rounds, status_word(a));
    for (uint32_t i = 0; i < a->n && i < n; i++) {
        const node_t *nd = &a->nodes[i];
        char label[32];
        snprintf(label, sizeof label, "node %u", i + 1);
        printf("  %-14s %s (%s): ", label, nd->name[0] ? nd->name : "?", urls[i]);
        if (!nd->ok) {
            printf("no answer%s%s\n", nd->last_error[0] ? ", last error: " : "", nd->last_error);
            continue;
        }
        printf("connections start %lld (%.1f s), min %lld, max %lld, end %lld (%.1f s), sessions "
               "at the end %lld",
               (long long)nd->start, nd->start_t, (long long)nd->min, (long long)nd->max,
               (long long)nd->end, nd->end_t, (long long)nd->end_sessions);
        if (nd->failed)
            printf("; %llu of %llu polls unanswered, last error: %s",
                   (unsigned long long)nd->failed, (unsigned long long)nd->polls, nd->last_error);
        printf("\n");
    }
    char total[32], bal[32];
    num_or_na(total, sizeof total, a->total_min);
    balance(a, bal, sizeof bal);
    printf("  %-14s lowest total %s", "cluster", total);
    if (a->total_min >= 0)
        printf(" (at %.1f s; over the %llu seconds every node answered)", a->total_min_t,
               (unsigned long long)a->complete);
    else
        printf(" (no second in which every node answered)");
    if (a->serving_min >= 0)
        printf(", nodes serving (connections > 0) at least %lld (at %.1f s)",
               (long long)a->serving_min, a->serving_min_t);
    printf(", final balance %s (max/min of the nodes' last answers)\n", bal);
}

void bn_admin_kv(const bn_admin_t *a)
{
    if (!a) {
        printf(" admin=failed nodes_min_serving=na conns_total_min=na balance_final=na");
        return;
    }
    char total[32], serving[32], bal[32];
    num_or_na(total, sizeof total, a->total_min);
    num_or_na(serving, sizeof serving, a->serving_min);
    balance(a, bal, sizeof bal);
    uint64_t polls = 0, failed = 0;
    for (uint32_t i = 0; i < a->n; i++) {
        polls += a->nodes[i].polls;
        failed += a->nodes[i].failed;
    }
    printf(" admin=%s nodes_min_serving=%s conns_total_min=%s balance_final=%s admin_polls=%llu "
           "admin_polls_failed=%llu admin_nodes=",
           status_word(a), serving, total, bal, (unsigned long long)polls,
           (unsigned long long)failed);
    for (uint32_t i = 0; i < a->n; i++)
        printf("%s%s", i ? "," : "", a->nodes[i].name[0] ? a->nodes[i].name : "na");
    printf(" admin_conns_final=");
    for (uint32_t i = 0; i < a->n; i++) {
        char v[32];
        num_or_na(v, sizeof v, a->nodes[i].ok ? a->nodes[i].end : -1);
        printf("%s%s", i ? "," : "", v);
    }
}
