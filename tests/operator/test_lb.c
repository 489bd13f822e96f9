/*
 * Tests of the load balancers (src/operator/lb.h, netns.h) against the real
 * thing, over real sockets:
 *
 *   test_lb_haproxy  Debian's haproxy in front of three plain TCP "nodes"
 *                    (each greets with its index and echoes) with an HTTP
 *                    health responder each: round robin, drain, removal
 *                    while busy, a failing health check, adoption of the
 *                    running process, destroy.
 *   test_lb_kernel   (root) the nftables table in a throw-away namespace,
 *                    entered by a forked child: random spread, a switch to
 *                    one node with an earlier connection still carried by
 *                    conntrack, no node (refused, not hanging), destroy.
 *
 * Either returns 77 (CTest: skipped) when its tool or root is missing.
 * Every wait is bounded.
 */
#include "check.h"
#include "operator/lb.h"
#include "operator/netns.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define HAPROXY "/usr/sbin/haproxy"
#define FLEET_MAX 4
#define FLEET_CONNS 1024
#define IO_TIMEOUT_MS 3000
#define HEALTH_WAIT_MS 5000

static bool skipped_;
static char skip_why_[256];

static void skip(const char *why)
{
    skipped_ = true;
    snprintf(skip_why_, sizeof skip_why_, "%s", why);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- the nodes: listeners that greet with their index and echo, and an
 * HTTP health responder per node ---- */

typedef struct fleet {
    size_t n;
    int lfd[FLEET_MAX], hfd[FLEET_MAX]; /* hfd -1: no health responder */
    uint16_t port[FLEET_MAX], hport[FLEET_MAX];
    atomic_int accepted[FLEET_MAX];
    atomic_int health[FLEET_MAX]; /* the status the responder answers */
    atomic_int health_hits[FLEET_MAX];
    int wake[2];
    pthread_t thread;
    bool started;
} fleet_t;

static int listen_on(const char *host, uint16_t port, uint16_t *bound)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    socklen_t sl = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 256) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        fprintf(stderr, "    listen %s:%u: %s\n", host, port, strerror(errno));
        close(fd);
        return -1;
    }
    *bound = ntohs(sa.sin_port);
    return fd;
}

static uint16_t free_port(void)
{
    uint16_t port = 0;
    int fd = listen_on("127.0.0.1", 0, &port);
    if (fd >= 0)
        close(fd);
    return port;
}

typedef struct conn {
    int fd;
    bool health;
    int idx;
} conn_t;

static void *fleet_main(void *arg)
{
    fleet_t *f = arg;
    static conn_t conns[FLEET_CONNS]; /* one fleet runs at a time */
    size_t nconn = 0;
    struct pollfd pfd[1 + 2 * FLEET_MAX + FLEET_CONNS];
    for (;;) {
        size_t np = 0;
        pfd[np++] = (struct pollfd){f->wake[0], POLLIN, 0};
        for (size_t i = 0; i < f->n; i++) {
            pfd[np++] = (struct pollfd){f->lfd[i], POLLIN, 0};
            pfd[np++] = (struct pollfd){f->hfd[i], POLLIN, 0}; /* -1 is ignored by poll */
        }
        size_t base = np;
        for (size_t i = 0; i < nconn; i++)
            pfd[np++] = (struct pollfd){conns[i].fd, POLLIN, 0};
        if (poll(pfd, np, 1000) < 0 && errno != EINTR)
            break;
        if (pfd[0].revents)
            break;
        for (size_t i = 0; i < f->n; i++) {
            for (int h = 0; h < 2; h++) {
                if (!(pfd[1 + 2 * i + (size_t)h].revents & POLLIN))
                    continue;
                int c = accept4(h ? f->hfd[i] : f->lfd[i], NULL, NULL, SOCK_CLOEXEC);
                if (c < 0)
                    continue;
                if (nconn == FLEET_CONNS) {
                    close(c);
                    continue;
                }
                if (!h) {
                    atomic_fetch_add(&f->accepted[i], 1);
                    char g = (char)('0' + i);
                    if (write(c, &g, 1) != 1) {
                        close(c);
                        continue;
                    }
                }
                conns[nconn++] = (conn_t){c, h == 1, (int)i};
            }
        }
        /* Walk the polled connections backwards so removals keep indexes. */
        for (size_t k = np - base; k-- > 0;) {
            if (!pfd[base + k].revents)
                continue;
            conn_t *c = &conns[k];
            char buf[4096];
            ssize_t r = read(c->fd, buf, sizeof buf);
            bool done = r <= 0;
            if (!done && c->health) {
                int st = atomic_load(&f->health[c->idx]);
                atomic_fetch_add(&f->health_hits[c->idx], 1);
                char resp[160];
                int len =
                    snprintf(resp, sizeof resp,
                             "HTTP/1.0 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", st,
                             st == 200 ? "OK" : "Service Unavailable");
                ssize_t w = write(c->fd, resp, (size_t)len);
                (void)w;
                done = true;
            } else if (!done && write(c->fd, buf, (size_t)r) != r) {
                done = true;
            }
            if (done) {
                close(c->fd);
                conns[k] = conns[--nconn];
            }
        }
    }
    for (size_t i = 0; i < nconn; i++)
        close(conns[i].fd);
    return NULL;
}

/* Listeners on hosts[i]:port (port 0: each its own ephemeral port; else the
 * same port on every host), health responders when `health`. */
static bool fleet_start(fleet_t *f, size_t n, const char *const hosts[], uint16_t port, bool health)
{
    memset(f, 0, sizeof *f);
    f->n = n;
    for (size_t i = 0; i < FLEET_MAX; i++) {
        f->lfd[i] = f->hfd[i] = -1;
        atomic_init(&f->accepted[i], 0);
        atomic_init(&f->health[i], 200);
        atomic_init(&f->health_hits[i], 0);
    }
    for (size_t i = 0; i < n; i++) {
        f->lfd[i] = listen_on(hosts[i], port, &f->port[i]);
        if (f->lfd[i] < 0)
            return false;
        if (health && (f->hfd[i] = listen_on(hosts[i], 0, &f->hport[i])) < 0)
            return false;
    }
    if (pipe2(f->wake, O_CLOEXEC) != 0)
        return false;
    if (pthread_create(&f->thread, NULL, fleet_main, f) != 0)
        return false;
    f->started = true;
    return true;
}

static void fleet_stop(fleet_t *f)
{
    if (f->started) {
        ssize_t w = write(f->wake[1], "x", 1);
        (void)w;
        pthread_join(f->thread, NULL);
        close(f->wake[0]);
        close(f->wake[1]);
    }
    for (size_t i = 0; i < FLEET_MAX; i++) {
        if (f->lfd[i] >= 0)
            close(f->lfd[i]);
        if (f->hfd[i] >= 0)
            close(f->hfd[i]);
    }
    f->started = false;
}

/* ---- clients ---- */

/* Connects with a deadline; returns the socket, or -1 with errno
 * (ECONNREFUSED, ECONNRESET, ETIMEDOUT...). */
static int dial(const char *host, uint16_t port, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    struct pollfd p = {fd, POLLOUT, 0};
    int e = 0;
    socklen_t el = sizeof e;
    if (poll(&p, 1, timeout_ms) != 1) {
        close(fd);
        errno = ETIMEDOUT;
        return -1;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0 || e != 0) {
        close(fd);
        errno = e ? e : EIO;
        return -1;
    }
    return fd;
}

/* Reads one byte within timeout_ms; -1 on EOF, error or timeout. */
static int read_byte(int fd, int timeout_ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    unsigned char c;
    if (poll(&p, 1, timeout_ms) != 1 || read(fd, &c, 1) != 1)
        return -1;
    return c;
}

/* Connects through the balancer and returns the node index the node greeted
 * with (-1: no connection or no greeting); *fd_out keeps the connection. */
static int connect_node(const char *host, uint16_t port, int *fd_out)
{
    *fd_out = dial(host, port, IO_TIMEOUT_MS);
    if (*fd_out < 0)
        return -1;
    int g = read_byte(*fd_out, IO_TIMEOUT_MS);
    return g < '0' || g >= '0' + FLEET_MAX ? -1 : g - '0';
}

/* Bytes both ways through an established connection: the node echoes. */
static bool echo_ok(int fd)
{
    if (write(fd, "z", 1) != 1)
        return false;
    return read_byte(fd, IO_TIMEOUT_MS) == 'z';
}

typedef struct clients {
    size_t n;
    int fd[256];
    int node[256];
} clients_t;

/* Opens k connections, counting per node into count[] (count[FLEET_MAX]:
 * failures). */
static void open_clients(clients_t *cl, const char *host, uint16_t port, size_t k, int *count)
{
    for (size_t i = 0; i < k && cl->n < 256; i++) {
        int fd = -1;
        int node = connect_node(host, port, &fd);
        count[node < 0 ? FLEET_MAX : node]++;
        if (fd < 0)
            continue;
        cl->fd[cl->n] = fd;
        cl->node[cl->n++] = node;
    }
}

static void close_clients(clients_t *cl, int node /* -1: all */)
{
    size_t o = 0;
    for (size_t i = 0; i < cl->n; i++) {
        if (node < 0 || cl->node[i] == node) {
            close(cl->fd[i]);
        } else {
            cl->fd[o] = cl->fd[i];
            cl->node[o++] = cl->node[i];
        }
    }
    cl->n = o;
}

static int first_on(const clients_t *cl, int node)
{
    for (size_t i = 0; i < cl->n; i++)
        if (cl->node[i] == node)
            return cl->fd[i];
    return -1;
}

static const fo_lb_observed_server_t *find(const fo_lb_observed_t *o, const char *name)
{
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->servers[i].name, name) == 0)
            return &o->servers[i];
    return NULL;
}

static void print_observed(const fo_lb_observed_t *o)
{
    fprintf(stderr, "    observed: running %d, %zu servers:", o->running, o->n);
    for (size_t i = 0; i < o->n; i++)
        fprintf(stderr, " %s(active %d healthy %d current %lld)", o->servers[i].name,
                o->servers[i].active, o->servers[i].healthy, (long long)o->servers[i].current);
    fprintf(stderr, "\n");
}

/* ---- haproxy ---- */

static const char *const NODE_NAMES[] = {"n0", "n1", "n2", "n3"};

typedef struct hx_ctx {
    char dir[64];
    fleet_t fleet;
    clients_t cl;
    fo_lb_backend_t b[3];
    fo_lb_config_t cfg;
} hx_ctx_t;

static pid_t pid_in(const char *dir)
{
    char path[128], buf[32] = "";
    snprintf(path, sizeof path, "%s/haproxy.pid", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    if (fgets(buf, sizeof buf, f) == NULL)
        buf[0] = '\0';
    fclose(f);
    return (pid_t)atol(buf);
}

/* Alive and not a zombie (PID 1 here does not reap orphans). */
static bool pid_alive(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = pid > 0 ? fopen(path, "r") : NULL;
    if (f == NULL)
        return false;
    size_t r = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[r] = '\0';
    char *p = strrchr(buf, ')');
    return p != NULL && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* Observes until pred holds or HEALTH_WAIT_MS passed. */
static bool observe_until(fo_lb_handle_t *lb, fo_lb_observed_t *o,
                          bool (*pred)(const fo_lb_observed_t *))
{
    char err[512];
    int64_t deadline = now_ms() + HEALTH_WAIT_MS;
    for (;;) {
        if (fo_lb_observe(lb, o, err, sizeof err) != 0)
            fprintf(stderr, "    observe: %s\n", err);
        else if (pred(o))
            return true;
        if (now_ms() >= deadline)
            return false;
        sleep_ms(50);
    }
}

static bool all3_healthy(const fo_lb_observed_t *o)
{
    size_t ok = 0;
    for (size_t i = 0; i < o->n; i++)
        ok += o->servers[i].active && o->servers[i].healthy;
    return o->running && o->n == 3 && ok == 3;
}

static bool n2_idle(const fo_lb_observed_t *o)
{
    const fo_lb_observed_server_t *s = find(o, "n2");
    return s != NULL && s->current == 0;
}

static bool n1_unhealthy(const fo_lb_observed_t *o)
{
    const fo_lb_observed_server_t *s = find(o, "n1");
    return s != NULL && !s->healthy;
}

static bool n1_healthy(const fo_lb_observed_t *o)
{
    const fo_lb_observed_server_t *s = find(o, "n1");
    return s != NULL && s->healthy && s->active;
}

static void haproxy_flow(hx_ctx_t *c)
{
    char err[512] = "";
    fo_lb_observed_t o;
    int count[FLEET_MAX + 1];

    fo_lb_handle_t *lb = fo_lb_open(&c->cfg, err, sizeof err);
    if (!CHECK(lb != NULL)) {
        fprintf(stderr, "    open: %s\n", err);
        return;
    }
    pid_t pid = pid_in(c->dir);
    CHECK(pid_alive(pid));

    /* Refusals: a name that would split a runtime API command. */
    fo_lb_backend_t bad = {"n0;shutdown", "127.0.0.1", 1, 2, true};
    CHECK_EQ_INT(fo_lb_set(lb, &bad, 1, err, sizeof err), -1);
    CHECK(strstr(err, "name") != NULL);

    /* Three ready nodes, round robin once their checks passed. */
    if (!CHECK_EQ_INT(fo_lb_set(lb, c->b, 3, err, sizeof err), 0))
        fprintf(stderr, "    set: %s\n", err);
    if (!CHECK(observe_until(lb, &o, all3_healthy)))
        print_observed(&o);
    memset(count, 0, sizeof count);
    open_clients(&c->cl, "127.0.0.1", c->cfg.service_port, 30, count);
    fprintf(stderr, "    30 clients: %d %d %d (failed %d)\n", count[0], count[1], count[2],
            count[FLEET_MAX]);
    CHECK_EQ_INT(count[FLEET_MAX], 0);
    for (int i = 0; i < 3; i++)
        CHECK(count[i] >= 5);
    CHECK_EQ_INT(atomic_load(&c->fleet.accepted[0]) + atomic_load(&c->fleet.accepted[1]) +
                     atomic_load(&c->fleet.accepted[2]),
                 30);
    REQUIRE_EQ_INT(fo_lb_observe(lb, &o, err, sizeof err), 0);
    CHECK(o.running);
    CHECK_EQ_INT(o.n, 3);
    for (int i = 0; i < 3; i++) {
        const fo_lb_observed_server_t *s = find(&o, NODE_NAMES[i]);
        REQUIRE(s != NULL);
        CHECK(s->active && s->healthy);
        CHECK_EQ_INT(s->current, count[i]);
    }
    /* Idempotent: the same list again changes nothing. */
    CHECK_EQ_INT(fo_lb_set(lb, c->b, 3, err, sizeof err), 0);

    /* Drain n0: no new connection reaches it, its open ones still work. */
    c->b[0].active = false;
    if (!CHECK_EQ_INT(fo_lb_set(lb, c->b, 3, err, sizeof err), 0))
        fprintf(stderr, "    set: %s\n", err);
    int before0 = atomic_load(&c->fleet.accepted[0]);
    memset(count, 0, sizeof count);
    open_clients(&c->cl, "127.0.0.1", c->cfg.service_port, 30, count);
    fprintf(stderr, "    30 more with n0 draining: %d %d %d (failed %d)\n", count[0], count[1],
            count[2], count[FLEET_MAX]);
    CHECK_EQ_INT(count[0], 0);
    CHECK_EQ_INT(atomic_load(&c->fleet.accepted[0]), before0);
    CHECK_EQ_INT(count[1] + count[2], 30);
    int fd0 = first_on(&c->cl, 0);
    CHECK(fd0 >= 0 && echo_ok(fd0));
    REQUIRE_EQ_INT(fo_lb_observe(lb, &o, err, sizeof err), 0);
    const fo_lb_observed_server_t *s0 = find(&o, "n0");
    REQUIRE(s0 != NULL);
    CHECK(!s0->active);
    CHECK(s0->current > 0);

    /* Remove n2 while it carries connections: it stays, out of rotation. */
    if (!CHECK_EQ_INT(fo_lb_set(lb, c->b, 2, err, sizeof err), 0))
        fprintf(stderr, "    set: %s\n", err);
    REQUIRE_EQ_INT(fo_lb_observe(lb, &o, err, sizeof err), 0);
    const fo_lb_observed_server_t *s2 = find(&o, "n2");
    if (!CHECK(s2 != NULL && !s2->active && s2->current > 0))
        print_observed(&o);
    int before2 = atomic_load(&c->fleet.accepted[2]);
    memset(count, 0, sizeof count);
    open_clients(&c->cl, "127.0.0.1", c->cfg.service_port, 6, count);
    CHECK_EQ_INT(count[1], 6);
    CHECK_EQ_INT(atomic_load(&c->fleet.accepted[2]), before2);
    /* Its connections end; the next call deletes it. */
    close_clients(&c->cl, 2);
    if (!CHECK(observe_until(lb, &o, n2_idle)))
        print_observed(&o);
    CHECK_EQ_INT(fo_lb_set(lb, c->b, 2, err, sizeof err), 0);
    REQUIRE_EQ_INT(fo_lb_observe(lb, &o, err, sizeof err), 0);
    CHECK_EQ_INT(o.n, 2);
    CHECK(find(&o, "n2") == NULL);

    /* A node answering 503 (evacuating) is unhealthy within the wait. */
    atomic_store(&c->fleet.health[1], 503);
    if (!CHECK(observe_until(lb, &o, n1_unhealthy)))
        print_observed(&o);
    CHECK(atomic_load(&c->fleet.health_hits[1]) > 0);

    /* Moved node: n1's check goes to n2's (healthy) responder and its
     * traffic to n2's listener; set converges both in place. */
    c->b[1].admin_port = c->fleet.hport[2];
    c->b[1].port = c->fleet.port[2];
    if (!CHECK_EQ_INT(fo_lb_set(lb, c->b, 2, err, sizeof err), 0))
        fprintf(stderr, "    set: %s\n", err);
    if (!CHECK(observe_until(lb, &o, n1_healthy)))
        print_observed(&o);
    memset(count, 0, sizeof count);
    open_clients(&c->cl, "127.0.0.1", c->cfg.service_port, 3, count);
    CHECK_EQ_INT(count[2], 3);

    /* A second open adopts the running process and keeps its servers. */
    fo_lb_handle_t *again = fo_lb_open(&c->cfg, err, sizeof err);
    if (!CHECK(again != NULL)) {
        fprintf(stderr, "    open again: %s\n", err);
        fo_lb_close(lb);
        return;
    }
    CHECK_EQ_INT(pid_in(c->dir), pid);
    CHECK(pid_alive(pid));
    CHECK_EQ_INT(fo_lb_observe(again, &o, err, sizeof err), 0);
    CHECK_EQ_INT(o.n, 2);
    CHECK(find(&o, "n0") != NULL && find(&o, "n1") != NULL);
    fo_lb_close(lb);

    /* Destroy: the process is gone, the service port closed. */
    if (!CHECK_EQ_INT(fo_lb_destroy(again, err, sizeof err), 0))
        fprintf(stderr, "    destroy: %s\n", err);
    CHECK(!pid_alive(pid));
    int fd = dial("127.0.0.1", c->cfg.service_port, IO_TIMEOUT_MS);
    CHECK(fd < 0 && errno == ECONNREFUSED);
    if (fd >= 0)
        close(fd);
    char sock[128];
    snprintf(sock, sizeof sock, "%s/haproxy.sock", c->dir);
    CHECK(access(sock, F_OK) != 0);
}

/* A second balancer whose service port is taken: haproxy exits at start
 * and the message says why. */
static void haproxy_bind_failure(hx_ctx_t *c)
{
    char dir[96], err[512] = "";
    snprintf(dir, sizeof dir, "%s/busy", c->dir);
    fo_lb_config_t cfg = c->cfg;
    cfg.dir = dir;
    cfg.service_port = c->fleet.port[0]; /* a node listens there */
    fo_lb_handle_t *lb = fo_lb_open(&cfg, err, sizeof err);
    CHECK(lb == NULL);
    if (!CHECK(strstr(err, "bind") != NULL))
        fprintf(stderr, "    error was: %s\n", err);
    CHECK(strchr(err, '\n') == NULL);
    if (lb != NULL)
        fo_lb_destroy(lb, err, sizeof err);
}

static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            rm_tree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void test_lb_haproxy(void)
{
    if (access(HAPROXY, X_OK) != 0) {
        skip(HAPROXY " not installed");
        return;
    }
    static hx_ctx_t c; /* large (client tables): not on the stack */
    memset(&c, 0, sizeof c);
    snprintf(c.dir, sizeof c.dir, "/tmp/fo-lb-test-XXXXXX");
    REQUIRE(mkdtemp(c.dir) != NULL);
    const char *hosts[] = {"127.0.0.1", "127.0.0.1", "127.0.0.1"};
    if (!CHECK(fleet_start(&c.fleet, 3, hosts, 0, true))) {
        fleet_stop(&c.fleet);
        rm_tree(c.dir);
        return;
    }
    for (int i = 0; i < 3; i++)
        c.b[i] =
            (fo_lb_backend_t){NODE_NAMES[i], "127.0.0.1", c.fleet.port[i], c.fleet.hport[i], true};
    c.cfg = (fo_lb_config_t){.kind = FO_LB_HAPROXY,
                             .dir = c.dir,
                             .name = "demo",
                             .service_host = "127.0.0.1",
                             .service_port = free_port(),
                             .maxconn = 0,
                             .leastconn = false,
                             .check_ms = 200};

    haproxy_flow(&c);
    haproxy_bind_failure(&c);

    /* Whatever failed above, no haproxy survives the test. */
    pid_t pid = pid_in(c.dir);
    if (pid_alive(pid)) {
        fprintf(stderr, "    killing leftover haproxy %ld\n", (long)pid);
        kill(pid, SIGKILL);
    }
    char log[128], cmd[200];
    snprintf(log, sizeof log, "%s/haproxy.log", c.dir);
    if (check_state_.failures > 0 && access(log, R_OK) == 0) {
        snprintf(cmd, sizeof cmd, "tail -n 30 %s >&2", log);
        fprintf(stderr, "    haproxy.log:\n");
        int r = system(cmd);
        (void)r;
    }
    close_clients(&c.cl, -1);
    fleet_stop(&c.fleet);
    rm_tree(c.dir);
}

/* ---- kernel (nftables in a namespace) ---- */

#define SVC_HOST "127.10.0.1"

static bool kernel_refused(uint16_t port)
{
    int fd = dial(SVC_HOST, port, 2000);
    int e = errno;
    if (fd >= 0) {
        close(fd);
        fprintf(stderr, "    the service accepted a connection\n");
        return false;
    }
    if (e != ECONNREFUSED && e != ECONNRESET)
        fprintf(stderr, "    connect: %s (wanted refused or reset)\n", strerror(e));
    return e == ECONNREFUSED || e == ECONNRESET;
}

/* Runs in the child, inside the namespace. Returns false to report a skip. */
static bool kernel_flow(const char *ns)
{
    static clients_t cl;
    static fleet_t fleet;
    char err[512] = "";
    fo_lb_observed_t o;
    int count[FLEET_MAX + 1];
    bool ran = true;

    /* Three nodes on one port, and a decoy on the service address itself:
     * it must never get a connection (DNAT or reject, never fall through). */
    uint16_t port = 0;
    int probe = listen_on("127.0.1.1", 0, &port);
    if (!CHECK(probe >= 0))
        return true;
    close(probe);
    const char *hosts[] = {"127.0.1.1", "127.0.1.2", "127.0.1.3", SVC_HOST};
    if (!CHECK(fleet_start(&fleet, 4, hosts, port, false))) {
        fleet_stop(&fleet);
        return true;
    }
    fo_lb_backend_t b[3];
    for (int i = 0; i < 3; i++)
        b[i] = (fo_lb_backend_t){NODE_NAMES[i], hosts[i], port, 0, true};
    fo_lb_config_t cfg = {.kind = FO_LB_KERNEL,
                          .name = "FerryTest-1",
                          .service_host = SVC_HOST,
                          .service_port = port,
                          .netns = ns};
    fo_lb_handle_t *lb = fo_lb_open(&cfg, err, sizeof err), *again = NULL;
    if (lb == NULL) {
        fprintf(stderr, "    open: %s\n", err);
        ran = strstr(err, "needs root") == NULL;
        CHECK(!ran || lb != NULL);
        goto out;
    }
    /* A new table: running, nothing behind it, connections refused. */
    CHECK_EQ_INT(fo_lb_observe(lb, &o, err, sizeof err), 0);
    CHECK(o.running);
    CHECK_EQ_INT(o.n, 0);
    CHECK(kernel_refused(port));

    /* Three active: random spread. */
    if (!CHECK_EQ_INT(fo_lb_set(lb, b, 3, err, sizeof err), 0))
        fprintf(stderr, "    set: %s\n", err);
    memset(count, 0, sizeof count);
    open_clients(&cl, SVC_HOST, port, 60, count);
    fprintf(stderr, "    60 clients: %d %d %d (decoy %d, failed %d)\n", count[0], count[1],
            count[2], count[3], count[FLEET_MAX]);
    for (int i = 0; i < 3; i++)
        CHECK(count[i] >= 5);
    CHECK_EQ_INT(count[0] + count[1] + count[2], 60);
    CHECK_EQ_INT(fo_lb_observe(lb, &o, err, sizeof err), 0);
    CHECK_EQ_INT(o.n, 3);

    /* A second open adopts the table and keeps the rule. */
    again = fo_lb_open(&cfg, err, sizeof err);
    if (!CHECK(again != NULL))
        fprintf(stderr, "    open again: %s\n", err);
    CHECK_EQ_INT(again ? fo_lb_observe(again, &o, err, sizeof err) : -1, 0);
    CHECK_EQ_INT(o.n, 3);
    for (int i = 0; i < 3; i++)
        CHECK(find(&o, NODE_NAMES[i]) != NULL);

    /* Only n2: new connections all go there; n0's earlier one still works. */
    b[0].active = b[1].active = false;
    if (!CHECK_EQ_INT(fo_lb_set(lb, b, 3, err, sizeof err), 0))
        fprintf(stderr, "    set: %s\n", err);
    memset(count, 0, sizeof count);
    open_clients(&cl, SVC_HOST, port, 30, count);
    fprintf(stderr, "    30 clients with only n2: %d %d %d (decoy %d, failed %d)\n", count[0],
            count[1], count[2], count[3], count[FLEET_MAX]);
    CHECK_EQ_INT(count[2], 30);
    int fd0 = first_on(&cl, 0);
    CHECK(fd0 >= 0 && echo_ok(fd0));
    CHECK_EQ_INT(fo_lb_observe(lb, &o, err, sizeof err), 0);
    CHECK(o.running);
    if (!CHECK_EQ_INT(o.n, 1))
        print_observed(&o);
    CHECK(o.n == 1 && strcmp(o.servers[0].name, "n2") == 0 && o.servers[0].active &&
          o.servers[0].healthy && o.servers[0].current == -1);

    /* None active: refused at once, yet established connections live on. */
    b[2].active = false;
    if (!CHECK_EQ_INT(fo_lb_set(lb, b, 3, err, sizeof err), 0))
        fprintf(stderr, "    set: %s\n", err);
    int64_t t0 = now_ms();
    CHECK(kernel_refused(port));
    CHECK(now_ms() - t0 < 1500);
    CHECK(fd0 >= 0 && echo_ok(fd0));
    int fd2 = first_on(&cl, 2);
    CHECK(fd2 >= 0 && echo_ok(fd2));
    CHECK_EQ_INT(fo_lb_observe(lb, &o, err, sizeof err), 0);
    CHECK(o.running);
    CHECK_EQ_INT(o.n, 0);
    CHECK_EQ_INT(atomic_load(&fleet.accepted[3]), 0); /* the decoy */

    /* Destroy removes the table: the other handle sees it gone. */
    if (!CHECK_EQ_INT(fo_lb_destroy(lb, err, sizeof err), 0))
        fprintf(stderr, "    destroy: %s\n", err);
    lb = NULL;
    if (again != NULL) {
        CHECK_EQ_INT(fo_lb_observe(again, &o, err, sizeof err), 0);
        CHECK(!o.running);
        CHECK_EQ_INT(fo_lb_destroy(again, err, sizeof err), 0); /* absent: fine */
        again = NULL;
    }
out:
    if (lb != NULL)
        fo_lb_destroy(lb, err, sizeof err);
    fo_lb_close(again);
    close_clients(&cl, -1);
    fleet_stop(&fleet);
    return ran;
}

static bool tool_works(const char *cmd)
{
    char line[256];
    snprintf(line, sizeof line, "%s >/dev/null 2>&1", cmd);
    int rc = system(line);
    return rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

/* Waits for a child at most timeout_ms (then kills it); its exit status,
 * or -1. */
static int wait_child(pid_t pid, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    int st = 0;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (w < 0 && errno != EINTR)
            return -1;
        if (now_ms() >= deadline) {
            fprintf(stderr, "    child %ld overran %d ms: killed\n", (long)pid, timeout_ms);
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        sleep_ms(20);
    }
}

static void test_lb_kernel(void)
{
    if (geteuid() != 0) {
        skip("not root");
        return;
    }
    if (!tool_works("nft --version") || !tool_works("ip netns list")) {
        skip("nft or ip netns unusable");
        return;
    }

    /* Without root the message says so. */
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        char err[512] = "";
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(3);
        int rc = fo_netns_enter("ferrytest-nobody", err, sizeof err);
        bool ok = rc == -1 && strstr(err, "needs root") != NULL;
        if (!ok)
            fprintf(stderr, "    as nobody: rc %d, %s\n", rc, err);
        _exit(ok ? 0 : 1);
    }
    CHECK_EQ_INT(wait_child(pid, 10000), 0);

    char ns[64], err[512] = "";
    snprintf(ns, sizeof ns, "ferrytest-%ld", (long)getpid());
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        alarm(100); /* belt and braces: the parent kills at 90 s */
        if (fo_netns_enter(ns, err, sizeof err) != 0) {
            fprintf(stderr, "    enter %s: %s\n", ns, err);
            exit(strstr(err, "needs root") ? 77 : 1);
        }
        unsigned before = check_state_.failures, checks = check_state_.checks;
        bool ran = kernel_flow(ns);
        fprintf(stderr, "    in namespace %s: %u checks, %u failed\n", ns,
                check_state_.checks - checks, check_state_.failures - before);
        exit(!ran ? 77 : check_state_.failures > before ? 1 : 0);
    }
    int rc = wait_child(pid, 90000);
    if (rc == 77) {
        skip("the namespace or nftables refused (not really root?)");
    } else {
        CHECK_EQ_INT(rc, 0);
    }
    if (!CHECK_EQ_INT(fo_netns_delete(ns, err, sizeof err), 0))
        fprintf(stderr, "    delete %s: %s\n", ns, err);
    char path[96];
    snprintf(path, sizeof path, "/run/netns/%s", ns);
    CHECK(access(path, F_OK) != 0);
    CHECK_EQ_INT(fo_netns_delete(ns, err, sizeof err), 0); /* absent: fine */
}

int main(int argc, char **argv)
{
    static const check_test_t tests[] = {T(test_lb_haproxy), T(test_lb_kernel)};
    int rc = check_run_(tests, sizeof tests / sizeof tests[0], argc, argv);
    if (rc == 0 && skipped_) {
        printf("SKIPPED: %s\n", skip_why_);
        return 77;
    }
    return rc;
}
