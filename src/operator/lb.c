/*
 * lb.c: the load balancers' common part (lb.h): the handle, argument checks,
 * dispatch on the kind, and the helpers both kinds share (lb_int.h): one-line
 * messages and running a child tool with a deadline.
 */
#include "operator/lb_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define DEFAULT_CHECK_MS 500u
#define CHECK_MS_MIN 50u
#define CHECK_MS_MAX 60000u
#define RUN_FALLBACK_PATH "/usr/sbin:/sbin:/usr/bin:/bin"

/* ---- messages ---- */

int fo_lb__fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    for (char *p = err; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    return -1;
}

void fo_lb__squash(char *dst, size_t dstlen, const char *src, size_t shown)
{
    if (dstlen == 0)
        return;
    size_t len = src ? strlen(src) : 0;
    while (len > 0 && (src[len - 1] == '\n' || src[len - 1] == '\r' || src[len - 1] == ' '))
        len--;
    size_t from = len > shown ? len - shown : 0;
    while (from < len && (src[from] == '\n' || src[from] == '\r' || src[from] == ' '))
        from++;
    size_t o = 0;
    if (from > 0 && dstlen > 4) {
        memcpy(dst, "...", 3);
        o = 3;
    }
    bool brk = false;
    for (size_t i = from; i < len && o + 1 < dstlen; i++) {
        unsigned char ch = (unsigned char)src[i];
        if (ch == '\n' || ch == '\r') {
            brk = true;
            continue;
        }
        if (brk) {
            for (const char *s = " | "; *s && o + 1 < dstlen; s++)
                dst[o++] = *s;
            brk = false;
        }
        if (o + 1 < dstlen)
            dst[o++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    dst[o] = '\0';
}

/* ---- small checks and clocks ---- */

bool fo_lb__valid_name(const char *s, size_t max)
{
    if (s == NULL || *s == '\0')
        return false;
    size_t n = 0;
    for (const char *p = s; *p; p++, n++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
        if (!ok || n >= max)
            return false;
    }
    return true;
}

bool fo_lb__valid_ipv4(const char *s)
{
    struct in_addr a;
    return s != NULL && inet_pton(AF_INET, s, &a) == 1;
}

int64_t fo_lb__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fo_lb__sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- running a tool ---- */

/* argv0 if it has a slash, else the first executable PATH entry (then the
 * sbin directories, which a non-login root shell may lack). */
static bool resolve(const char *argv0, char *out, size_t outlen)
{
    if (strchr(argv0, '/') != NULL) {
        snprintf(out, outlen, "%s", argv0);
        return access(out, X_OK) == 0;
    }
    const char *lists[2] = {getenv("PATH"), RUN_FALLBACK_PATH};
    for (int l = 0; l < 2; l++) {
        const char *p = lists[l];
        while (p != NULL && *p) {
            const char *colon = strchr(p, ':');
            size_t dlen = colon ? (size_t)(colon - p) : strlen(p);
            if (dlen > 0 &&
                (size_t)snprintf(out, outlen, "%.*s/%s", (int)dlen, p, argv0) < outlen &&
                access(out, X_OK) == 0)
                return true;
            p = colon ? colon + 1 : NULL;
        }
    }
    return false;
}

/* Kills and reaps a child that overran its deadline. */
static void kill_reap(pid_t pid)
{
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
}

int fo_lb__run(const char *const argv[], const char *input, int timeout_ms, char **out, char *err,
               size_t errlen)
{
    char path[PATH_MAX];
    int in_fd = -1, pipe_fd[2] = {-1, -1}, rc = -1;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    pid_t pid = -1;

    if (out != NULL)
        *out = NULL;
    if (!resolve(argv[0], path, sizeof path))
        return fo_lb__fail(err, errlen, "%s: not found or not executable", argv[0]);
    /* The input goes through a memfd, not a pipe: no SIGPIPE if the tool
     * exits early, no deadlock if it writes before reading, and `nft -f -`
     * can reopen it as /dev/stdin. */
    if (input != NULL) {
        in_fd = memfd_create("fo-lb-input", MFD_CLOEXEC);
        size_t ilen = strlen(input), done = 0;
        while (in_fd >= 0 && done < ilen) {
            ssize_t w = write(in_fd, input + done, ilen - done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                close(in_fd);
                in_fd = -1;
                break;
            }
            done += (size_t)w;
        }
        if (in_fd < 0 || lseek(in_fd, 0, SEEK_SET) != 0) {
            fo_lb__fail(err, errlen, "%s: input: %s", argv[0], strerror(errno));
            goto fail;
        }
    } else {
        in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (in_fd < 0) {
            fo_lb__fail(err, errlen, "/dev/null: %s", strerror(errno));
            goto fail;
        }
    }
    if (pipe2(pipe_fd, O_CLOEXEC) != 0) {
        fo_lb__fail(err, errlen, "%s: pipe: %s", argv[0], strerror(errno));
        goto fail;
    }
    pid = fork();
    if (pid < 0) {
        fo_lb__fail(err, errlen, "%s: fork: %s", argv[0], strerror(errno));
        goto fail;
    }
    if (pid == 0) { /* only async-signal-safe calls from here: the parent may have threads */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        if (dup2(in_fd, 0) < 0 || dup2(pipe_fd[1], 1) < 0 || dup2(pipe_fd[1], 2) < 0)
            _exit(126);
        execve(path, (char *const *)argv, environ);
        _exit(127);
    }
    close(pipe_fd[1]);
    pipe_fd[1] = -1;
    close(in_fd);
    in_fd = -1;

    int64_t deadline = fo_lb__now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - fo_lb__now_ms();
        if (left <= 0) {
            kill_reap(pid);
            pid = -1;
            fo_lb__fail(err, errlen, "%s: no answer after %d ms (killed)", argv[0], timeout_ms);
            goto fail;
        }
        struct pollfd pfd = {pipe_fd[0], POLLIN, 0};
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        if (cap - len < 4097) {
            size_t ncap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, ncap);
            if (nb == NULL) {
                kill_reap(pid);
                pid = -1;
                fo_lb__fail(err, errlen, "%s: out of memory", argv[0]);
                goto fail;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(pipe_fd[0], buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (len + (size_t)r <= FO_LB__RUN_OUT_MAX)
            len += (size_t)r; /* beyond the cap: drained and dropped */
    }
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            pid = -1;
            fo_lb__fail(err, errlen, "%s: waitpid: %s", argv[0], strerror(errno));
            goto fail;
        }
        if (fo_lb__now_ms() >= deadline) {
            kill_reap(pid);
            pid = -1;
            fo_lb__fail(err, errlen, "%s: did not exit after %d ms (killed)", argv[0], timeout_ms);
            goto fail;
        }
        fo_lb__sleep_ms(5);
    }
    pid = -1;
    if (!WIFEXITED(status)) {
        fo_lb__fail(err, errlen, "%s: killed by signal %d", argv[0],
                    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        goto fail;
    }
    if (WEXITSTATUS(status) == 127 && len == 0) {
        fo_lb__fail(err, errlen, "%s: could not be executed", path);
        goto fail;
    }
    rc = WEXITSTATUS(status);
    if (buf == NULL)
        buf = malloc(1);
    if (buf != NULL)
        buf[len] = '\0';
    if (out != NULL) {
        *out = buf;
        buf = NULL;
    }
fail:
    if (pid > 0)
        kill_reap(pid);
    if (pipe_fd[0] >= 0)
        close(pipe_fd[0]);
    if (pipe_fd[1] >= 0)
        close(pipe_fd[1]);
    if (in_fd >= 0)
        close(in_fd);
    free(buf);
    return rc;
}

/* ---- the handle ---- */

static void handle_free(fo_lb_handle_t *lb)
{
    if (lb == NULL)
        return;
    free(lb->dir);
    free(lb->name);
    free(lb->service_host);
    free(lb->haproxy);
    free(lb->netns);
    free(lb);
}

/* strdup that treats NULL as NULL and reports failure through *ok. */
static char *dup_opt(const char *s, bool *ok)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *ok = false;
    return d;
}

fo_lb_handle_t *fo_lb_open(const fo_lb_config_t *cfg, char *err, size_t errlen)
{
    if (cfg == NULL) {
        fo_lb__fail(err, errlen, "load balancer: no configuration");
        return NULL;
    }
    if (cfg->kind != FO_LB_HAPROXY && cfg->kind != FO_LB_KERNEL) {
        fo_lb__fail(err, errlen, "load balancer: unknown kind %d", (int)cfg->kind);
        return NULL;
    }
    if (!fo_lb__valid_name(cfg->name, FO_LB__NAME_MAX)) {
        fo_lb__fail(err, errlen, "load balancer: name %s%s%s: expected 1..%u of A-Z a-z 0-9 _ . -",
                    cfg->name ? "\"" : "", cfg->name ? cfg->name : "(none)", cfg->name ? "\"" : "",
                    FO_LB__NAME_MAX);
        return NULL;
    }
    if (!fo_lb__valid_ipv4(cfg->service_host)) {
        fo_lb__fail(err, errlen,
                    "load balancer %s: service host %s: expected a numeric IPv4 address", cfg->name,
                    cfg->service_host ? cfg->service_host : "(none)");
        return NULL;
    }
    if (cfg->service_port == 0) {
        fo_lb__fail(err, errlen, "load balancer %s: service port 0", cfg->name);
        return NULL;
    }
    if (cfg->kind == FO_LB_HAPROXY && (cfg->dir == NULL || cfg->dir[0] == '\0')) {
        fo_lb__fail(err, errlen, "load balancer %s: haproxy needs a run directory", cfg->name);
        return NULL;
    }
    uint32_t check_ms = cfg->check_ms ? cfg->check_ms : DEFAULT_CHECK_MS;
    if (check_ms < CHECK_MS_MIN || check_ms > CHECK_MS_MAX) {
        fo_lb__fail(err, errlen, "load balancer %s: check interval %u ms: expected %u..%u",
                    cfg->name, check_ms, CHECK_MS_MIN, CHECK_MS_MAX);
        return NULL;
    }

    fo_lb_handle_t *lb = calloc(1, sizeof *lb);
    if (lb == NULL) {
        fo_lb__fail(err, errlen, "load balancer %s: out of memory", cfg->name);
        return NULL;
    }
    bool ok = true;
    lb->kind = cfg->kind;
    lb->dir = dup_opt(cfg->dir, &ok);
    lb->name = dup_opt(cfg->name, &ok);
    lb->service_host = dup_opt(cfg->service_host, &ok);
    lb->service_port = cfg->service_port;
    lb->haproxy = dup_opt(cfg->haproxy ? cfg->haproxy : "/usr/sbin/haproxy", &ok);
    lb->maxconn = cfg->maxconn;
    lb->leastconn = cfg->leastconn;
    lb->check_ms = check_ms;
    lb->netns = dup_opt(cfg->netns, &ok);
    if (!ok) {
        fo_lb__fail(err, errlen, "load balancer %s: out of memory", cfg->name);
        goto fail;
    }
    int rc = lb->kind == FO_LB_HAPROXY ? fo_lb__haproxy_open(lb, err, errlen)
                                       : fo_lb__kernel_open(lb, err, errlen);
    if (rc != 0)
        goto fail;
    return lb;
fail:
    handle_free(lb);
    return NULL;
}

/* Checks the list once for both kinds: names unique and safe, addresses
 * numeric, ports set. */
static int check_backends(const fo_lb_handle_t *lb, const fo_lb_backend_t *b, size_t n, char *err,
                          size_t errlen)
{
    if (n > FO_LB_MAX_BACKENDS)
        return fo_lb__fail(err, errlen, "load balancer %s: %zu backends, at most %u", lb->name, n,
                           FO_LB_MAX_BACKENDS);
    if (n > 0 && b == NULL)
        return fo_lb__fail(err, errlen, "load balancer %s: no backend list", lb->name);
    for (size_t i = 0; i < n; i++) {
        if (!fo_lb__valid_name(b[i].name, FO_LB__NAME_MAX))
            return fo_lb__fail(err, errlen,
                               "load balancer %s: backend %zu: name %s: expected 1..%u of "
                               "A-Z a-z 0-9 _ . -",
                               lb->name, i, b[i].name ? b[i].name : "(none)", FO_LB__NAME_MAX);
        if (!fo_lb__valid_ipv4(b[i].host))
            return fo_lb__fail(err, errlen,
                               "load balancer %s: backend %s: host %s: expected a numeric IPv4 "
                               "address",
                               lb->name, b[i].name, b[i].host ? b[i].host : "(none)");
        if (b[i].port == 0 || (lb->kind == FO_LB_HAPROXY && b[i].admin_port == 0))
            return fo_lb__fail(err, errlen, "load balancer %s: backend %s: port %u, admin port %u",
                               lb->name, b[i].name, b[i].port, b[i].admin_port);
        for (size_t j = 0; j < i; j++)
            if (strcmp(b[i].name, b[j].name) == 0)
                return fo_lb__fail(err, errlen, "load balancer %s: backend %s listed twice",
                                   lb->name, b[i].name);
    }
    return 0;
}

int fo_lb_set(fo_lb_handle_t *lb, const fo_lb_backend_t *b, size_t n, char *err, size_t errlen)
{
    if (lb == NULL)
        return fo_lb__fail(err, errlen, "load balancer: no handle");
    if (check_backends(lb, b, n, err, errlen) != 0)
        return -1;
    return lb->kind == FO_LB_HAPROXY ? fo_lb__haproxy_set(lb, b, n, err, errlen)
                                     : fo_lb__kernel_set(lb, b, n, err, errlen);
}

int fo_lb_observe(fo_lb_handle_t *lb, fo_lb_observed_t *out, char *err, size_t errlen)
{
    if (lb == NULL || out == NULL)
        return fo_lb__fail(err, errlen, "load balancer: no handle or no output");
    memset(out, 0, sizeof *out);
    return lb->kind == FO_LB_HAPROXY ? fo_lb__haproxy_observe(lb, out, err, errlen)
                                     : fo_lb__kernel_observe(lb, out, err, errlen);
}

void fo_lb_close(fo_lb_handle_t *lb)
{
    handle_free(lb);
}

int fo_lb_destroy(fo_lb_handle_t *lb, char *err, size_t errlen)
{
    if (lb == NULL)
        return 0;
    int rc = lb->kind == FO_LB_HAPROXY ? fo_lb__haproxy_destroy(lb, err, errlen)
                                       : fo_lb__kernel_destroy(lb, err, errlen);
    handle_free(lb);
    return rc;
}
