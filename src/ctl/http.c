/*
 * ferryctl's HTTP part (libcurl, one easy handle reused for every request
 * of a run, so a watch keeps its connection). Bounded: each request has
 * --timeout for connect and transfer together, an answer is read up to
 * CTL_BODY_CAP bytes and no further, redirects are not followed and only
 * http/https are spoken. Proxies from the environment are ignored: the
 * admin API is meant to be reached directly, and an http_proxy set for
 * other tools must not route a loopback admin call elsewhere.
 */
#include "ctl.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifndef FERRYCTL_VERSION
#define FERRYCTL_VERSION "unknown"
#endif

struct ctl_http {
    CURL *curl;
    char *base;
    char *auth; /* "Authorization: Bearer T", or NULL */
    unsigned timeout_s;
    const volatile sig_atomic_t *stop;
};

typedef struct sink {
    char *buf;
    size_t len, cap;
    bool over; /* the answer passed CTL_BODY_CAP */
} sink_t;

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
    sink_t *s = arg;
    size_t add = size * n;
    if (add > CTL_BODY_CAP - s->len) {
        s->over = true;
        return 0; /* aborts the transfer */
    }
    if (s->len + add + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + add + 1)
            cap *= 2;
        char *p = realloc(s->buf, cap);
        if (!p)
            return 0;
        s->buf = p;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, add);
    s->len += add;
    s->buf[s->len] = '\0';
    return add;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    const ctl_http_t *h = arg;
    return h->stop && *h->stop; /* non-zero aborts */
}

ctl_http_t *ctl_http_new(const char *base_url, const char *token, unsigned timeout_s,
                         const volatile sig_atomic_t *stop)
{
    ctl_http_t *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->timeout_s = timeout_s;
    h->stop = stop;
    h->curl = curl_easy_init();
    h->base = strdup(base_url);
    if (token) {
        size_t n = strlen(token) + sizeof "Authorization: Bearer ";
        h->auth = malloc(n);
        if (h->auth)
            snprintf(h->auth, n, "Authorization: Bearer %s", token);
    }
    if (!h->curl || !h->base || (token && !h->auth)) {
        ctl_http_free(h);
        return NULL;
    }
    return h;
}

void ctl_http_free(ctl_http_t *h)
{
    if (!h)
        return;
    if (h->curl)
        curl_easy_cleanup(h->curl);
    free(h->base);
    if (h->auth) { /* the token should not linger in freed memory */
        memset(h->auth, 0, strlen(h->auth));
        free(h->auth);
    }
    free(h);
}

void ctl_answer_free(ctl_answer_t *a)
{
    free(a->body);
    a->body = NULL;
    a->len = 0;
}

/* Why no answer came: an exit code and a reason for the message. */
static int transport_error(const ctl_http_t *h, CURLcode rc, const sink_t *s, long os_errno,
                           const char *detail, char *err, size_t errlen)
{
    switch (rc) {
    case CURLE_ABORTED_BY_CALLBACK:
        snprintf(err, errlen, "interrupted");
        return CTL_EXIT_INTERRUPTED;
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
        if (s->over || rc == CURLE_FILESIZE_EXCEEDED) {
            snprintf(err, errlen, "the answer is larger than %u MiB", CTL_BODY_CAP >> 20);
            return CTL_EXIT_UNEXPECTED;
        }
        snprintf(err, errlen, "out of memory reading the answer");
        return CTL_EXIT_UNEXPECTED;
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(err, errlen, "no answer within %u s (--timeout)", h->timeout_s);
        return CTL_EXIT_UNREACHABLE;
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(err, errlen, "cannot resolve the host name");
        return CTL_EXIT_UNREACHABLE;
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_SSL_CONNECT_ERROR:
        if (os_errno)
            snprintf(err, errlen, "%s", strerror((int)os_errno));
        else
            snprintf(err, errlen, "%s", *detail ? detail : curl_easy_strerror(rc));
        return CTL_EXIT_UNREACHABLE;
    default:
        snprintf(err, errlen, "%s", *detail ? detail : curl_easy_strerror(rc));
        return CTL_EXIT_UNEXPECTED;
    }
}

int ctl_http_do(ctl_http_t *h, const ctl_request_t *r, ctl_answer_t *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    size_t n = strlen(h->base) + strlen(r->path) + 1;
    char *url = malloc(n);
    struct curl_slist *hdr = NULL, *t;
    sink_t s = {0};
    char detail[CURL_ERROR_SIZE] = "";
    int rc = CTL_EXIT_UNEXPECTED;
    if (!url) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    snprintf(url, n, "%s%s", h->base, r->path);
    /* A POST without a body gets no Content-Type (curl would add a form's). */
    const char *ctype = r->body                          ? "Content-Type: application/json"
                        : strcmp(r->method, "POST") == 0 ? "Content-Type:"
                                                         : NULL;
    const char *lines[] = {"Accept: application/json", "Expect:", ctype, h->auth};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        if (!lines[i])
            continue;
        if (!(t = curl_slist_append(hdr, lines[i]))) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }
        hdr = t;
    }
    CURL *c = h->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)h->timeout_s);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)h->timeout_s);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CTL_BODY_CAP);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ferryctl/" FERRYCTL_VERSION);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, detail);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
    if (strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body ? r->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(r->body ? strlen(r->body) : 0));
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
    }
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        long os_errno = 0;
        curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
        rc = transport_error(h, cc, &s, os_errno, detail, err, errlen);
        goto done;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    a->body = s.buf;
    a->len = s.len;
    s.buf = NULL;
    rc = 0;
done:
    /* The handle outlives this call: no pointers into freed memory. */
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(hdr);
    free(s.buf);
    free(url);
    return rc;
}
