/* The client tests' harness: see harness.h. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

bool th_check(th_t *t, bool ok, const char *expr, const char *file, int line)
{
    if (ok) {
        t->passed++;
    } else {
        t->failed++;
        fprintf(stderr, "%s:%d: [%s] CHECK(%s) failed\n", file, line, t->current, expr);
    }
    return ok;
}

bool th_check_eq(th_t *t, long long a, long long b, const char *ea, const char *eb,
                 const char *file, int line)
{
    if (a == b) {
        t->passed++;
        return true;
    }
    t->failed++;
    fprintf(stderr, "%s:%d: [%s] CHECK_EQ(%s, %s) failed: %lld != %lld\n", file, line, t->current,
            ea, eb, a, b);
    return false;
}

bool th_check_str(th_t *t, const char *a, const char *b, const char *ea, const char *eb,
                  const char *file, int line)
{
    bool ok = a && b && strcmp(a, b) == 0;
    if (ok) {
        t->passed++;
        return true;
    }
    t->failed++;
    fprintf(stderr, "%s:%d: [%s] CHECK_STR(%s, %s) failed: \"%s\" != \"%s\"\n", file, line,
            t->current, ea, eb, a ? a : "(null)", b ? b : "(null)");
    return false;
}

uint64_t th_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int th_init(th_t *t, int argc, char **argv)
{
    memset(t, 0, sizeof *t);
    t->current = "init";
    if (argc < 2 || access(argv[1], X_OK) != 0) {
        fprintf(stderr, "usage: %s PATH-TO-FERRYMQ\n", argv[0]);
        return -1;
    }
    t->ferrymq = argv[1];
    snprintf(t->dir, sizeof t->dir, "/tmp/fcl-test-XXXXXX");
    if (!mkdtemp(t->dir)) {
        perror("mkdtemp");
        return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    int *n = arg;
    (*n)++;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void th_run(th_t *t, const char *name, void (*fn)(th_t *t, uv_loop_t *loop))
{
    uv_loop_t loop;
    t->current = name;
    int failed_before = t->failed;
    fprintf(stderr, "-- %s\n", name);
    uv_loop_init(&loop);
    fn(t, &loop);
    /* Everything the test made must close by itself within a second. */
    uint64_t deadline = th_now_ms() + 1000;
    while (uv_loop_alive(&loop) && th_now_ms() < deadline)
        uv_run(&loop, UV_RUN_NOWAIT);
    int leaked = 0;
    uv_walk(&loop, close_walk, &leaked);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ(t, leaked, 0);
    CHECK_EQ(t, uv_loop_close(&loop), 0);
    fprintf(stderr, "   %s: %s\n", name, t->failed == failed_before ? "ok" : "FAILED");
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

int th_summary(th_t *t)
{
    if (t->dir[0])
        nftw(t->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    printf("%d passed, %d failed\n", t->passed, t->failed);
    return t->failed ? 1 : 0;
}

uint16_t th_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    uint16_t port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static bool port_accepts(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

int th_broker_start(th_t *t, th_broker_t *b, uint16_t port, const char *const *extra)
{
    for (int attempt = 0; attempt < 3; attempt++) { /* a picked port may be taken meanwhile */
        b->port = port ? port : th_free_port();
        snprintf(b->log, sizeof b->log, "%s/ferrymq-%u.log", t->dir, b->port);
        char listen[32], data[96];
        snprintf(listen, sizeof listen, "127.0.0.1:%u", b->port);
        snprintf(data, sizeof data, "%s/data-%u", t->dir, b->port);
        const char *argv[32] = {t->ferrymq, "--listen",   listen, "--log-level",
                                "info",     "--data-dir", data};
        int n = 7;
        for (int i = 0; extra && extra[i] && n < 31; i++)
            argv[n++] = extra[i];
        argv[n] = NULL;
        pid_t pid = fork();
        if (pid < 0)
            return -1;
        if (pid == 0) {
            /* A test that crashes must not leave its broker behind. */
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            int fd = open(b->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
            }
            execv(t->ferrymq, (char *const *)argv);
            _exit(127);
        }
        b->pid = pid;
        uint64_t deadline = th_now_ms() + 5000;
        while (th_now_ms() < deadline) {
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid) {
                b->pid = 0;
                break;
            }
            if (port_accepts(b->port))
                return 0;
            usleep(20000);
        }
        if (b->pid)
            th_broker_stop(b, SIGKILL);
        if (port)
            break; /* a fixed port: no point trying another */
    }
    fprintf(stderr, "ferrymq did not start listening\n");
    th_broker_dump(b);
    return -1;
}

int th_broker_stop(th_broker_t *b, int sig)
{
    if (!b->pid)
        return -1;
    kill(b->pid, sig);
    int st = 0;
    uint64_t deadline = th_now_ms() + 5000;
    while (waitpid(b->pid, &st, WNOHANG) == 0) {
        if (th_now_ms() > deadline) {
            kill(b->pid, SIGKILL);
            waitpid(b->pid, &st, 0);
            break;
        }
        usleep(10000);
    }
    b->pid = 0;
    return st;
}

void th_broker_dump(const th_broker_t *b)
{
    FILE *f = fopen(b->log, "r");
    if (!f)
        return;
    char line[512];
    fprintf(stderr, "---- %s\n", b->log);
    while (fgets(line, sizeof line, f))
        fputs(line, stderr);
    fclose(f);
}

bool th_log_wait(const th_broker_t *b, const char *needle, int timeout_ms)
{
    uint64_t deadline = th_now_ms() + (uint64_t)timeout_ms;
    do {
        FILE *f = fopen(b->log, "r");
        char line[512];
        bool found = false;
        while (f && !found && fgets(line, sizeof line, f))
            found = strstr(line, needle) != NULL;
        if (f)
            fclose(f);
        if (found)
            return true;
        usleep(20000);
    } while (th_now_ms() < deadline);
    return false;
}

int th_cluster_start(th_t *t, size_t n_peers, const char *const *extra)
{
    if (n_peers > TH_MAX_PEERS)
        return -1;
    size_t n = 1 + n_peers;
    th_broker_t *nodes[1 + TH_MAX_PEERS] = {&t->broker, &t->peers[0], &t->peers[1]};
    char seed[32];
    snprintf(seed, sizeof seed, "127.0.0.1:%u", th_free_port());
    for (size_t i = 0; i < n; i++) {
        char name[8], listen[32];
        snprintf(name, sizeof name, "n%zu", i + 1);
        if (i == 0)
            snprintf(listen, sizeof listen, "%s", seed);
        else
            snprintf(listen, sizeof listen, "127.0.0.1:%u", th_free_port());
        const char *argv[32] = {"--node-name",     name, "--cluster-listen", listen,
                                "--cluster-seeds", seed, "--cluster-secret", "th-cluster-secret"};
        int k = 8;
        for (int j = 0; extra && extra[j] && k < 31; j++)
            argv[k++] = extra[j];
        argv[k] = NULL;
        if (th_broker_start(t, nodes[i], 0, argv) != 0)
            return -1;
    }
    t->n_peers = n_peers;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            char needle[32];
            snprintf(needle, sizeof needle, "synced with n%zu ", j + 1);
            if (i != j && !th_log_wait(nodes[i], needle, 10000)) {
                fprintf(stderr, "cluster: n%zu did not sync with n%zu\n", i + 1, j + 1);
                th_broker_dump(nodes[i]);
                return -1;
            }
        }
    }
    return 0;
}

void th_cluster_stop(th_t *t)
{
    th_broker_t *nodes[1 + TH_MAX_PEERS] = {&t->broker, &t->peers[0], &t->peers[1]};
    for (size_t i = 0; i < 1 + t->n_peers; i++) {
        if (!nodes[i]->pid)
            continue;
        int st = th_broker_stop(nodes[i], SIGTERM);
        CHECK(t, WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    if (t->failed)
        for (size_t i = 0; i < 1 + t->n_peers; i++)
            th_broker_dump(nodes[i]);
}

static void on_tick(uv_timer_t *h)
{
    (void)h; /* only wakes uv_run(UV_RUN_ONCE) up */
}

bool th_wait_int(uv_loop_t *loop, const int *v, int want, int timeout_ms)
{
    uv_timer_t tick;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, on_tick, 10, 10);
    uint64_t deadline = th_now_ms() + (uint64_t)timeout_ms;
    while ((v == NULL || *v < want) && th_now_ms() < deadline)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT); /* runs the close callback */
    return v != NULL && *v >= want;
}

void th_run_for(uv_loop_t *loop, int ms)
{
    th_wait_int(loop, NULL, 0, ms);
}

/* ---- probe ---- */

static void probe_connect(fcl_client_t *c, uint8_t reason, bool sp, void *ud)
{
    (void)c;
    th_probe_t *p = ud;
    if (reason == 0) {
        p->connects++;
        p->session_present = sp;
        p->connect_at_ms = th_now_ms();
    } else {
        p->refusals++;
        p->refusal = reason;
    }
}

static void probe_message(fcl_client_t *c, const fcl_message_t *m, void *ud)
{
    (void)c;
    th_probe_t *p = ud;
    char num[16];
    size_t n = m->payload.len < sizeof num - 1 ? m->payload.len : sizeof num - 1;
    memcpy(num, m->payload.ptr, n);
    num[n] = 0;
    if (m->payload.len < sizeof num && atoi(num) == p->messages)
        p->in_order++;
    p->messages++;
    p->last_qos = m->qos;
    p->last_dup = m->dup;
    snprintf(p->last_topic, sizeof p->last_topic, "%.*s", (int)m->topic.len,
             (const char *)m->topic.ptr);
    p->last_len = m->payload.len;
    memcpy(p->last_payload, m->payload.ptr,
           m->payload.len < sizeof p->last_payload ? m->payload.len : sizeof p->last_payload);
    for (uint32_t i = 0; i < m->payload.len; i++)
        p->payload_sum += m->payload.ptr[i];
}

static void probe_published(fcl_client_t *c, uint64_t token, uint8_t reason, void *ud)
{
    (void)c;
    (void)token;
    th_probe_t *p = ud;
    p->published++;
    p->pub_reason = reason;
}

static void probe_subscribed(fcl_client_t *c, uint16_t id, const uint8_t *codes, size_t n, void *ud)
{
    (void)c;
    (void)id;
    th_probe_t *p = ud;
    if (n) /* codes may be NULL when there are none */
        memcpy(p->sub_codes, codes, n < sizeof p->sub_codes ? n : sizeof p->sub_codes);
    p->subscribed++;
}

static void probe_unsubscribed(fcl_client_t *c, uint16_t id, const uint8_t *codes, size_t n,
                               void *ud)
{
    (void)c;
    (void)id;
    th_probe_t *p = ud;
    p->n_unsub_codes = n;
    if (n) /* a 3.1.1 UNSUBACK has none: codes is NULL */
        memcpy(p->unsub_codes, codes, n < sizeof p->unsub_codes ? n : sizeof p->unsub_codes);
    p->unsubscribed++;
}

static void probe_disconnect(fcl_client_t *c, const fcl_disconnect_info_t *info, void *ud)
{
    (void)c;
    th_probe_t *p = ud;
    if (p->disconnects < TH_MAX_EVENTS) {
        p->disc[p->disconnects] = *info;
        p->disc[p->disconnects].server_reference = NULL; /* borrowed: gone after the call */
        p->disc_at_ms[p->disconnects] = th_now_ms();
    }
    if (info->server_reference)
        snprintf(p->server_ref, sizeof p->server_ref, "%s", info->server_reference);
    p->disconnects++;
}

fcl_opts_t th_opts(th_probe_t *p, uint16_t port, const char *client_id)
{
    fcl_opts_t o = {.host = "127.0.0.1",
                    .port = port,
                    .version = FMQ_V5,
                    .client_id = client_id,
                    .clean_start = true,
                    .connect_timeout_ms = 3000};
    o.cb = (fcl_callbacks_t){probe_connect,    probe_message,      probe_published,
                             probe_subscribed, probe_unsubscribed, probe_disconnect};
    o.ud = p;
    return o;
}

bool th_subscribe(uv_loop_t *loop, fcl_client_t *c, th_probe_t *p, const char *filter, uint8_t qos)
{
    fmq_sub_entry_t e = {.filter = fmq_cstr(filter), .qos = qos};
    int want = p->subscribed + 1;
    if (fcl_subscribe(c, &e, 1, 0) < 0)
        return false;
    return th_wait_int(loop, &p->subscribed, want, 3000) && p->sub_codes[0] == qos;
}

static void on_closed_flag(uv_handle_t *h)
{
    *(int *)h->data = 1;
}

void th_close(uv_loop_t *loop, uv_handle_t *h)
{
    int closed = 0;
    h->data = &closed;
    uv_close(h, on_closed_flag);
    while (!closed)
        uv_run(loop, UV_RUN_ONCE);
}

int th_main(int argc, char **argv, const char *const *extra, const th_case_t *cases, size_t n)
{
    th_t t;
    if (th_init(&t, argc, argv) != 0)
        return 2;
    if (th_broker_start(&t, &t.broker, 0, extra) != 0) {
        t.failed++;
        return th_summary(&t);
    }
    for (size_t i = 0; i < n; i++)
        th_run(&t, cases[i].name, cases[i].fn);
    int st = th_broker_stop(&t.broker, SIGTERM);
    CHECK(&t, WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (t.failed)
        th_broker_dump(&t.broker);
    return th_summary(&t);
}
