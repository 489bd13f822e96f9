/*
 * lb_haproxy.c: the haproxy load balancer (lb.h). One haproxy process per
 * cluster, started detached with a configuration that has the frontend and
 * an empty backend, and from then on driven only through its runtime API
 * (the stats socket): servers are added, set ready/drain/maint and deleted
 * there, never by a reload.
 *
 * What haproxy 2.6 does that this file depends on (each seen on 2.6.12):
 * - `-D` (daemon) sends stderr to /dev/null and `-p` writes nothing without
 *   it, so we run `-db` (foreground) behind a double fork + setsid, with
 *   stderr on haproxy.log, and write haproxy.pid ourselves.
 * - A dynamic server (`add server`) inherits no default-server options, so
 *   every check option is on the command; it starts in forced maintenance
 *   (admin state 0x01) with its check disabled: `enable health` then
 *   `set server ... state ready|drain`. Its check uses the backend's
 *   `option httpchk` rules.
 * - A new server is UP (op state 2) before its first check ran (check
 *   result 0): "healthy" is therefore "last check passed", not "UP".
 * - `set server ... check-port` is refused while the check is disabled.
 * - `del server` is refused unless the server is in maintenance and has no
 *   connection ("Server still has connections attached to it").
 * - One command per connection: haproxy answers and closes. Success of
 *   set/enable commands is an empty answer; failures are a sentence.
 * - PID 1 here does not reap orphans: a stopped haproxy may stay a zombie,
 *   so liveness is read from /proc/<pid>/stat, not kill(pid, 0).
 */
#include "operator/lb_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define HX_MAXCONN_MAX 9900u
#define HX_FD_CEILING 19999u /* a process may hold 20,000 files here */
#define HX_FD_SPARE 60u      /* listeners, checks, the CLI, logs */
#define HX_CMD_TIMEOUT_MS 3000
#define HX_CHECK_TIMEOUT_MS 10000 /* haproxy -c */
#define HX_START_TIMEOUT_MS 5000
#define HX_ADOPT_TIMEOUT_MS 2000
#define HX_STOP_TIMEOUT_MS 5000
#define HX_ANSWER_MAX (8u << 20)
#define HX_HEALTH_URI "/health/available"

/* srv_admin_state bits (haproxy include/haproxy/server-t.h) */
#define HX_ADMF_FMAINT 0x01
#define HX_ADMF_MAINT 0x23 /* forced, inherited or resolution maintenance */
#define HX_ADMF_FDRAIN 0x08
/* srv_op_state */
#define HX_ST_STOPPED 0
/* srv_check_result */
#define HX_CHK_PASSED 3
#define HX_CHK_CONDPASS 4
/* srv_check_state bits */
#define HX_CHK_ST_ENABLED 0x04

/* A server as `show servers state` and `show stat` describe it. */
typedef struct hx_server {
    char name[FO_LB__NAME_MAX + 1];
    struct in_addr addr;
    unsigned port, check_port;
    int op_state, admin_state, check_result, check_state;
    int64_t scur;
} hx_server_t;

typedef struct hx_list {
    size_t n, cap;
    hx_server_t *s; /* owned */
} hx_list_t;

/* ---- the process ---- */

/* Whether pid is a live (not zombie) process running lb->haproxy: its comm
 * is the binary's file name, cut to 15 bytes as the kernel does. */
static bool pid_is_haproxy(const fo_lb_handle_t *lb, pid_t pid)
{
    if (pid <= 0)
        return false;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t r = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (r <= 0)
        return false;
    buf[r] = '\0';
    /* "pid (comm) S ..." where comm may itself hold parentheses */
    char *open_p = strchr(buf, '(');
    char *close_p = strrchr(buf, ')');
    if (open_p == NULL || close_p == NULL || close_p < open_p || close_p[1] != ' ')
        return false;
    char state = close_p[2];
    *close_p = '\0';
    const char *base = strrchr(lb->haproxy, '/');
    base = base ? base + 1 : lb->haproxy;
    char comm[16]; /* TASK_COMM_LEN */
    snprintf(comm, sizeof comm, "%s", base);
    return strcmp(open_p + 1, comm) == 0 && state != 'Z' && state != 'X' && state != 'x';
}

static pid_t read_pid_file(const char *path)
{
    char buf[32];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t r = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (r <= 0)
        return 0;
    buf[r] = '\0';
    char *end;
    long v = strtol(buf, &end, 10);
    return (v > 0 && v < (1L << 30) && (*end == '\n' || *end == '\0')) ? (pid_t)v : 0;
}

/* Writes `text` to path through a temporary file and a rename, so a reader
 * never sees half of it. */
static int write_file(const char *path, const char *text, char *err, size_t errlen)
{
    char tmp[PATH_MAX + 8];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return fo_lb__fail(err, errlen, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return fo_lb__fail(err, errlen, "%s: %s", tmp, strerror(errno));
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return fo_lb__fail(err, errlen, "%s: %s", tmp, strerror(e));
        }
        done += (size_t)w;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return fo_lb__fail(err, errlen, "%s: %s", path, strerror(e));
    }
    return 0;
}

static int mkdir_p(const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s", dir) >= sizeof path)
        return fo_lb__fail(err, errlen, "%s: path too long", dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return fo_lb__fail(err, errlen, "mkdir %s: %s", path, strerror(errno));
        *p = c;
        if (c == '\0')
            break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return fo_lb__fail(err, errlen, "%s: not a directory", dir);
    return 0;
}

/* The last bytes haproxy wrote to its log since offset `since`, one line. */
static void log_tail(const fo_lb_handle_t *lb, off_t since, char *dst, size_t dstlen)
{
    dst[0] = '\0';
    int fd = open(lb->log_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[2048];
    off_t end = lseek(fd, 0, SEEK_END);
    off_t from = end - (off_t)(sizeof buf - 1);
    if (from < since)
        from = since;
    if (from < 0)
        from = 0;
    ssize_t r = pread(fd, buf, sizeof buf - 1, from);
    close(fd);
    if (r <= 0)
        return;
    buf[r] = '\0';
    fo_lb__squash(dst, dstlen, buf, 400);
}

/* SIGTERM, up to HX_STOP_TIMEOUT_MS, then SIGKILL. 0 once it is gone. */
static int stop_pid(const fo_lb_handle_t *lb, pid_t pid)
{
    if (!pid_is_haproxy(lb, pid))
        return 0;
    kill(pid, SIGTERM);
    int64_t deadline = fo_lb__now_ms() + HX_STOP_TIMEOUT_MS;
    while (pid_is_haproxy(lb, pid) && fo_lb__now_ms() < deadline)
        fo_lb__sleep_ms(20);
    if (!pid_is_haproxy(lb, pid))
        return 0;
    kill(pid, SIGKILL);
    deadline = fo_lb__now_ms() + 1000;
    while (pid_is_haproxy(lb, pid) && fo_lb__now_ms() < deadline)
        fo_lb__sleep_ms(20);
    return pid_is_haproxy(lb, pid) ? -1 : 0;
}

/* ---- the runtime API ---- */

/* Sends one command and returns haproxy's whole answer (malloc'd; the
 * caller frees), or NULL with err. *down (if not NULL) tells a socket that
 * nobody answers (no process) from other failures. */
static char *hx_cmd(const fo_lb_handle_t *lb, const char *cmd, bool *down, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (down != NULL)
        *down = false;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        fo_lb__fail(err, errlen, "haproxy runtime API: socket: %s", strerror(errno));
        return NULL;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, lb->sock_path, sizeof sa.sun_path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
        if (down != NULL)
            *down = errno == ENOENT || errno == ECONNREFUSED;
        fo_lb__fail(err, errlen, "haproxy runtime API %s: %s", lb->sock_path, strerror(errno));
        goto fail;
    }
    size_t clen = strlen(cmd), sent = 0;
    int64_t deadline = fo_lb__now_ms() + HX_CMD_TIMEOUT_MS;
    while (sent <= clen) { /* the command, then its "\n" */
        struct pollfd pfd = {fd, POLLOUT, 0};
        int64_t left = deadline - fo_lb__now_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
            fo_lb__fail(err, errlen, "haproxy runtime API %s: \"%s\": not accepted in %d ms",
                        lb->sock_path, cmd, HX_CMD_TIMEOUT_MS);
            goto fail;
        }
        const char *p = sent < clen ? cmd + sent : "\n";
        size_t want = sent < clen ? clen - sent : 1;
        ssize_t w = send(fd, p, want, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (w <= 0) {
            fo_lb__fail(err, errlen, "haproxy runtime API %s: send: %s", lb->sock_path,
                        strerror(errno));
            goto fail;
        }
        sent += (size_t)w;
    }
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int64_t left = deadline - fo_lb__now_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
            fo_lb__fail(err, errlen, "haproxy runtime API %s: \"%s\": no answer in %d ms",
                        lb->sock_path, cmd, HX_CMD_TIMEOUT_MS);
            goto fail;
        }
        if (cap - len < 4097) {
            size_t ncap = cap ? cap * 2 : 8192;
            char *nb = ncap <= HX_ANSWER_MAX ? realloc(buf, ncap) : NULL;
            if (nb == NULL) {
                fo_lb__fail(err, errlen, "haproxy runtime API: \"%s\": answer too long", cmd);
                goto fail;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = recv(fd, buf + len, cap - len - 1, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r < 0) {
            fo_lb__fail(err, errlen, "haproxy runtime API %s: recv: %s", lb->sock_path,
                        strerror(errno));
            goto fail;
        }
        if (r == 0)
            break; /* haproxy closes after one answer */
        len += (size_t)r;
    }
    close(fd);
    if (buf == NULL)
        buf = malloc(1);
    if (buf == NULL)
        fo_lb__fail(err, errlen, "haproxy runtime API: out of memory");
    else
        buf[len] = '\0';
    return buf;
fail:
    close(fd);
    free(buf);
    return NULL;
}

/* Runs a command whose answer must be empty (ok == NULL) or start with ok. */
static int hx_expect(const fo_lb_handle_t *lb, const char *cmd, const char *ok, char *err,
                     size_t errlen)
{
    char *ans = hx_cmd(lb, cmd, NULL, err, errlen);
    if (ans == NULL)
        return -1;
    const char *a = ans;
    while (*a == '\n' || *a == ' ' || *a == '\r')
        a++;
    bool good = ok == NULL ? *a == '\0' : strncmp(a, ok, strlen(ok)) == 0;
    if (!good) {
        char shown[256];
        fo_lb__squash(shown, sizeof shown, a, 200);
        fo_lb__fail(err, errlen, "haproxy \"%s\" answered \"%s\"", cmd, shown);
    }
    free(ans);
    return good ? 0 : -1;
}

/* Whether the process answers on its socket as haproxy does. */
static bool hx_answers(const fo_lb_handle_t *lb)
{
    char e[64];
    char *ans = hx_cmd(lb, "show info", NULL, e, sizeof e);
    bool ok = ans != NULL && strstr(ans, "Name: HAProxy") != NULL;
    free(ans);
    return ok;
}

/* ---- reading the servers back ---- */

/* Splits line in place on `sep` into at most max fields; returns the count. */
static size_t split(char *line, char sep, char **f, size_t max)
{
    size_t n = 0;
    char *p = line;
    while (n < max) {
        f[n++] = p;
        char *s = strchr(p, sep);
        if (s == NULL)
            break;
        *s = '\0';
        p = s + 1;
        if (sep == ' ')
            while (*p == ' ')
                p++;
    }
    return n;
}

static int column(char **head, size_t nhead, const char *name)
{
    for (size_t i = 0; i < nhead; i++)
        if (strcmp(head[i], name) == 0)
            return (int)i;
    return -1;
}

static hx_server_t *list_find(hx_list_t *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->s[i].name, name) == 0)
            return &l->s[i];
    return NULL;
}

#define HX_MAX_FIELDS 256

/* Parses `show servers state <be>` (format 1: a version line, a "# " header
 * naming the columns, a row per server). */
static int parse_servers_state(const fo_lb_handle_t *lb, char *text, hx_list_t *l, char *err,
                               size_t errlen)
{
    char *save = NULL, *line;
    char *head[HX_MAX_FIELDS], *f[HX_MAX_FIELDS];
    size_t nhead = 0;
    int c_name = -1, c_addr = -1, c_op = -1, c_admin = -1, c_res = -1, c_cst = -1, c_port = -1,
        c_cport = -1;
    bool version = false;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!version) {
            if (strcmp(line, "1") != 0) {
                char shown[200];
                fo_lb__squash(shown, sizeof shown, line, 150);
                return fo_lb__fail(err, errlen, "haproxy \"show servers state %s\" answered \"%s\"",
                                   lb->name, shown);
            }
            version = true;
            continue;
        }
        if (line[0] == '#') {
            nhead = split(line + 2, ' ', head, HX_MAX_FIELDS);
            c_name = column(head, nhead, "srv_name");
            c_addr = column(head, nhead, "srv_addr");
            c_op = column(head, nhead, "srv_op_state");
            c_admin = column(head, nhead, "srv_admin_state");
            c_res = column(head, nhead, "srv_check_result");
            c_cst = column(head, nhead, "srv_check_state");
            c_port = column(head, nhead, "srv_port");
            c_cport = column(head, nhead, "srv_check_port");
            continue;
        }
        if (c_name < 0 || c_addr < 0 || c_op < 0 || c_admin < 0 || c_res < 0 || c_cst < 0 ||
            c_port < 0 || c_cport < 0)
            return fo_lb__fail(err, errlen,
                               "haproxy \"show servers state\": header without the expected "
                               "columns");
        size_t nf = split(line, ' ', f, HX_MAX_FIELDS);
        if (nf < nhead)
            return fo_lb__fail(err, errlen,
                               "haproxy \"show servers state\": a row with %zu of %zu columns", nf,
                               nhead);
        if (l->n == l->cap) {
            size_t ncap = l->cap ? l->cap * 2 : 16;
            hx_server_t *ns = realloc(l->s, ncap * sizeof *ns);
            if (ns == NULL)
                return fo_lb__fail(err, errlen, "haproxy: out of memory");
            l->s = ns;
            l->cap = ncap;
        }
        hx_server_t *s = &l->s[l->n];
        memset(s, 0, sizeof *s);
        snprintf(s->name, sizeof s->name, "%s", f[c_name]);
        if (inet_pton(AF_INET, f[c_addr], &s->addr) != 1)
            s->addr.s_addr = 0;
        s->op_state = atoi(f[c_op]);
        s->admin_state = atoi(f[c_admin]);
        s->check_result = atoi(f[c_res]);
        s->check_state = atoi(f[c_cst]);
        s->port = (unsigned)strtoul(f[c_port], NULL, 10);
        s->check_port = (unsigned)strtoul(f[c_cport], NULL, 10);
        s->scur = 0;
        l->n++;
    }
    if (!version)
        return fo_lb__fail(err, errlen, "haproxy \"show servers state %s\": empty answer",
                           lb->name);
    return 0;
}

/* Adds scur (current sessions) from `show stat <be> 4 -1` (CSV, "# " header). */
static int parse_stat(const fo_lb_handle_t *lb, char *text, hx_list_t *l, char *err, size_t errlen)
{
    char *save = NULL, *line;
    char *head[HX_MAX_FIELDS], *f[HX_MAX_FIELDS];
    size_t nhead = 0;
    int c_px = -1, c_sv = -1, c_scur = -1;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') {
            nhead = split(line + 2, ',', head, HX_MAX_FIELDS);
            c_px = column(head, nhead, "pxname");
            c_sv = column(head, nhead, "svname");
            c_scur = column(head, nhead, "scur");
            continue;
        }
        if (c_px < 0 || c_sv < 0 || c_scur < 0) {
            char shown[200];
            fo_lb__squash(shown, sizeof shown, line, 150);
            return fo_lb__fail(err, errlen, "haproxy \"show stat\" answered \"%s\"", shown);
        }
        size_t nf = split(line, ',', f, HX_MAX_FIELDS);
        if (nf <= (size_t)c_scur || strcmp(f[c_px], lb->name) != 0)
            continue;
        hx_server_t *s = list_find(l, f[c_sv]);
        if (s != NULL)
            s->scur = strtoll(f[c_scur], NULL, 10);
    }
    return 0;
}

/* Reads the backend's servers. *down: the socket does not answer. */
static int hx_read(const fo_lb_handle_t *lb, hx_list_t *l, bool *down, char *err, size_t errlen)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "show servers state %s", lb->name);
    char *ans = hx_cmd(lb, cmd, down, err, errlen);
    if (ans == NULL)
        return -1;
    int rc = parse_servers_state(lb, ans, l, err, errlen);
    free(ans);
    if (rc != 0)
        return -1;
    snprintf(cmd, sizeof cmd, "show stat %s 4 -1", lb->name);
    ans = hx_cmd(lb, cmd, NULL, err, errlen);
    if (ans == NULL)
        return -1;
    rc = parse_stat(lb, ans, l, err, errlen);
    free(ans);
    return rc;
}

/* ---- start or adopt ---- */

static int write_config(const fo_lb_handle_t *lb, char *err, size_t errlen)
{
    uint32_t maxconn =
        lb->maxconn == 0 || lb->maxconn > HX_MAXCONN_MAX ? HX_MAXCONN_MAX : lb->maxconn;
    uint32_t fds = 2 * maxconn + HX_FD_SPARE;
    if (fds > HX_FD_CEILING)
        fds = HX_FD_CEILING;
    char text[8192];
    int len = snprintf(
        text, sizeof text,
        "# Written by ferry-operator (src/operator/lb_haproxy.c). Servers are added\n"
        "# through the runtime API (%s), never here.\n"
        "global\n"
        "    maxconn %u\n"
        "    # two descriptors per client connection, under the 20,000 a process may hold\n"
        "    ulimit-n %u\n"
        "    nbthread 1\n"
        "    stats socket %s mode 600 level admin expose-fd listeners\n"
        "    stats timeout 10s\n"
        "\n"
        "defaults\n"
        "    mode tcp\n"
        "    timeout connect 2s\n"
        "    timeout client 600s\n"
        "    timeout server 600s\n"
        "    # a node that closed (evicted, deleted) does not keep a half-closed\n"
        "    # client, and so its server, for the whole client timeout\n"
        "    timeout client-fin 5s\n"
        "    timeout server-fin 5s\n"
        "    timeout check %ums\n"
        "\n"
        "frontend fe_%s\n"
        "    bind %s:%u\n"
        "    maxconn %u\n"
        "    default_backend %s\n"
        "\n"
        "backend %s\n"
        "    balance %s\n"
        "    option httpchk\n"
        "    http-check send meth GET uri " HX_HEALTH_URI "\n"
        "    http-check expect status 200\n",
        lb->sock_path, maxconn, fds, lb->sock_path, lb->check_ms < 100 ? 100 : lb->check_ms,
        lb->name, lb->service_host, lb->service_port, maxconn, lb->name, lb->name,
        lb->leastconn ? "leastconn" : "roundrobin");
    if (len < 0 || (size_t)len >= sizeof text)
        return fo_lb__fail(err, errlen, "haproxy %s: configuration too long", lb->name);
    if (write_file(lb->cfg_path, text, err, errlen) != 0)
        return -1;

    const char *argv[] = {lb->haproxy, "-c", "-f", lb->cfg_path, NULL};
    char *out = NULL;
    int rc = fo_lb__run(argv, NULL, HX_CHECK_TIMEOUT_MS, &out, err, errlen);
    if (rc > 0) {
        char shown[600];
        fo_lb__squash(shown, sizeof shown, out, 500);
        fo_lb__fail(err, errlen, "haproxy -c rejected %s (exit status %d): %s", lb->cfg_path, rc,
                    shown[0] ? shown : "(no output)");
    }
    free(out);
    return rc == 0 ? 0 : -1;
}

/* A message from the starter children to the controller. */
typedef struct spawn_msg {
    char tag; /* 'P': haproxy's pid in val; 'F': fork failed; 'E': exec failed (errno) */
    int val;
} spawn_msg_t;

/* Starts haproxy -db detached (double fork, setsid, stdio on the log, no
 * other descriptor inherited) and returns its pid. */
static pid_t spawn(const fo_lb_handle_t *lb, char *err, size_t errlen)
{
    int log_fd = -1, null_fd = -1, p[2] = {-1, -1};
    pid_t pid = -1, child = -1;
    const char *argv[] = {lb->haproxy, "-db", "-f", lb->cfg_path, NULL};

    log_fd = open(lb->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (log_fd < 0 || null_fd < 0) {
        fo_lb__fail(err, errlen, "%s: %s", log_fd < 0 ? lb->log_path : "/dev/null",
                    strerror(errno));
        goto fail;
    }
    if (access(lb->haproxy, X_OK) != 0) {
        fo_lb__fail(err, errlen, "%s: %s", lb->haproxy, strerror(errno));
        goto fail;
    }
    dprintf(log_fd, "--- ferry-operator: %s -db -f %s\n", lb->haproxy, lb->cfg_path);
    if (pipe2(p, O_CLOEXEC) != 0) {
        fo_lb__fail(err, errlen, "haproxy: pipe: %s", strerror(errno));
        goto fail;
    }
    child = fork();
    if (child < 0) {
        fo_lb__fail(err, errlen, "haproxy: fork: %s", strerror(errno));
        goto fail;
    }
    if (child == 0) { /* async-signal-safe calls only: the controller may have threads */
        setsid();
        pid_t gc = fork();
        spawn_msg_t m = {gc < 0 ? 'F' : 'P', gc < 0 ? errno : (int)gc};
        if (gc != 0) {
            ssize_t w = write(p[1], &m, sizeof m);
            (void)w;
            _exit(gc < 0 ? 1 : 0);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        if (dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
            _exit(126);
        /* Nothing of the controller's (listeners, sockets) may stay open
         * in a process that outlives it; only the CLOEXEC report pipe. */
        if (p[1] > 3)
            close_range(3, (unsigned)p[1] - 1, 0);
        close_range((unsigned)p[1] + 1, ~0u, 0);
        execv(argv[0], (char *const *)argv);
        m.tag = 'E';
        m.val = errno;
        ssize_t w = write(p[1], &m, sizeof m);
        (void)w;
        _exit(127);
    }
    close(p[1]);
    p[1] = -1;
    while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {
    }
    /* EOF once the middle child exited and haproxy exec'd (CLOEXEC). */
    int64_t deadline = fo_lb__now_ms() + HX_START_TIMEOUT_MS;
    for (;;) {
        struct pollfd pfd = {p[0], POLLIN, 0};
        int64_t left = deadline - fo_lb__now_ms();
        if (left <= 0) {
            fo_lb__fail(err, errlen, "haproxy: no report from the starter in %d ms",
                        HX_START_TIMEOUT_MS);
            goto fail;
        }
        if (poll(&pfd, 1, (int)left) <= 0)
            continue;
        spawn_msg_t m;
        ssize_t r = read(p[0], &m, sizeof m);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            break;
        if (r != (ssize_t)sizeof m) {
            fo_lb__fail(err, errlen, "haproxy: short report from the starter");
            goto fail;
        }
        if (m.tag == 'P') {
            pid = (pid_t)m.val;
        } else {
            fo_lb__fail(err, errlen, "haproxy: %s: %s", m.tag == 'F' ? "fork" : lb->haproxy,
                        strerror(m.val));
            goto fail;
        }
    }
    if (pid <= 0)
        fo_lb__fail(err, errlen, "haproxy: the starter died without a report");
fail:
    if (log_fd >= 0)
        close(log_fd);
    if (null_fd >= 0)
        close(null_fd);
    if (p[0] >= 0)
        close(p[0]);
    if (p[1] >= 0)
        close(p[1]);
    return pid;
}

static int start(fo_lb_handle_t *lb, char *err, size_t errlen)
{
    if (write_config(lb, err, errlen) != 0)
        return -1;
    unlink(lb->sock_path);
    struct stat st;
    off_t since = stat(lb->log_path, &st) == 0 ? st.st_size : 0;
    pid_t pid = spawn(lb, err, errlen);
    if (pid <= 0)
        return -1;
    char text[32];
    snprintf(text, sizeof text, "%ld\n", (long)pid);
    if (write_file(lb->pid_path, text, err, errlen) != 0) {
        stop_pid(lb, pid);
        return -1;
    }
    /* The CLI answers once the configuration is loaded and the frontend
     * bound; a failure to bind makes haproxy exit instead. */
    int64_t deadline = fo_lb__now_ms() + HX_START_TIMEOUT_MS;
    for (;;) {
        if (!pid_is_haproxy(lb, pid)) {
            char tail[600];
            fo_lb__sleep_ms(20); /* let the last words reach the log */
            log_tail(lb, since, tail, sizeof tail);
            unlink(lb->pid_path);
            return fo_lb__fail(err, errlen, "haproxy %s exited at start (log %s): %s", lb->name,
                               lb->log_path, tail[0] ? tail : "(nothing logged)");
        }
        if (hx_answers(lb))
            break;
        if (fo_lb__now_ms() >= deadline) {
            char tail[600];
            log_tail(lb, since, tail, sizeof tail);
            stop_pid(lb, pid);
            unlink(lb->pid_path);
            return fo_lb__fail(err, errlen, "haproxy %s: runtime API %s silent after %d ms: %s",
                               lb->name, lb->sock_path, HX_START_TIMEOUT_MS,
                               tail[0] ? tail : "(nothing logged)");
        }
        fo_lb__sleep_ms(20);
    }
    lb->pid = pid;
    return 0;
}

int fo_lb__haproxy_open(fo_lb_handle_t *lb, char *err, size_t errlen)
{
    /* The path lands in haproxy's configuration unquoted. */
    if (strpbrk(lb->dir, " \t\n\r\"'#\\$") != NULL)
        return fo_lb__fail(err, errlen,
                           "haproxy %s: run directory \"%s\": blanks, quotes, #, $ "
                           "and backslashes are not supported",
                           lb->name, lb->dir);
    if ((size_t)snprintf(lb->sock_path, sizeof lb->sock_path, "%s/haproxy.sock", lb->dir) >=
        sizeof lb->sock_path)
        return fo_lb__fail(err, errlen, "haproxy %s: run directory %s: too long for a unix socket",
                           lb->name, lb->dir);
    if ((size_t)snprintf(lb->cfg_path, sizeof lb->cfg_path, "%s/haproxy.cfg", lb->dir) >=
            sizeof lb->cfg_path ||
        (size_t)snprintf(lb->pid_path, sizeof lb->pid_path, "%s/haproxy.pid", lb->dir) >=
            sizeof lb->pid_path ||
        (size_t)snprintf(lb->log_path, sizeof lb->log_path, "%s/haproxy.log", lb->dir) >=
            sizeof lb->log_path)
        return fo_lb__fail(err, errlen, "haproxy %s: run directory too long", lb->name);
    if (mkdir_p(lb->dir, err, errlen) != 0)
        return -1;

    pid_t pid = read_pid_file(lb->pid_path);
    if (pid_is_haproxy(lb, pid)) {
        int64_t deadline = fo_lb__now_ms() + HX_ADOPT_TIMEOUT_MS;
        while (!hx_answers(lb) && fo_lb__now_ms() < deadline && pid_is_haproxy(lb, pid))
            fo_lb__sleep_ms(50);
        if (hx_answers(lb)) {
            hx_list_t l = {0};
            char why[256];
            int rc = hx_read(lb, &l, NULL, why, sizeof why);
            free(l.s);
            if (rc != 0)
                return fo_lb__fail(err, errlen,
                                   "haproxy pid %ld in %s answers but not for backend %s "
                                   "(started for another cluster?): %s",
                                   (long)pid, lb->dir, lb->name, why);
            lb->pid = pid;
            return 0;
        }
        /* Alive but mute: it holds the service port, so it has to go. */
        if (stop_pid(lb, pid) != 0)
            return fo_lb__fail(err, errlen, "haproxy %s: pid %ld does not answer nor stop",
                               lb->name, (long)pid);
    }
    return start(lb, err, errlen);
}

/* ---- set, observe, destroy ---- */

/* Brings an existing server to its address, check port and state. */
static int converge(const fo_lb_handle_t *lb, const hx_server_t *s, const fo_lb_backend_t *b,
                    char *err, size_t errlen)
{
    char cmd[512];
    struct in_addr want;
    inet_pton(AF_INET, b->host, &want);
    if (s->addr.s_addr != want.s_addr || s->port != b->port) {
        snprintf(cmd, sizeof cmd, "set server %s/%s addr %s port %u", lb->name, b->name, b->host,
                 b->port);
        char *ans = hx_cmd(lb, cmd, NULL, err, errlen);
        if (ans == NULL)
            return -1;
        bool ok = strstr(ans, "changed") != NULL || strstr(ans, "no need to change") != NULL;
        if (!ok) {
            char shown[256];
            fo_lb__squash(shown, sizeof shown, ans, 200);
            fo_lb__fail(err, errlen, "haproxy \"%s\" answered \"%s\"", cmd, shown);
        }
        free(ans);
        if (!ok)
            return -1;
    }
    /* Health first: haproxy refuses a check port change while disabled. */
    if ((s->check_state & HX_CHK_ST_ENABLED) == 0 && (s->admin_state & HX_ADMF_MAINT) == 0) {
        snprintf(cmd, sizeof cmd, "enable health %s/%s", lb->name, b->name);
        if (hx_expect(lb, cmd, NULL, err, errlen) != 0)
            return -1;
    }
    if (s->check_port != b->admin_port) {
        if ((s->admin_state & HX_ADMF_MAINT) != 0) {
            /* leaving maintenance below re-enables the check; do it first */
            snprintf(cmd, sizeof cmd, "set server %s/%s state drain", lb->name, b->name);
            if (hx_expect(lb, cmd, NULL, err, errlen) != 0)
                return -1;
            snprintf(cmd, sizeof cmd, "enable health %s/%s", lb->name, b->name);
            if (hx_expect(lb, cmd, NULL, err, errlen) != 0)
                return -1;
        }
        snprintf(cmd, sizeof cmd, "set server %s/%s check-port %u", lb->name, b->name,
                 b->admin_port);
        if (hx_expect(lb, cmd, NULL, err, errlen) != 0)
            return -1;
    }
    bool is_ready = s->admin_state == 0;
    bool is_drain = (s->admin_state & HX_ADMF_FDRAIN) && !(s->admin_state & HX_ADMF_MAINT);
    if (b->active ? !is_ready : !is_drain) {
        snprintf(cmd, sizeof cmd, "set server %s/%s state %s", lb->name, b->name,
                 b->active ? "ready" : "drain");
        if (hx_expect(lb, cmd, NULL, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int add(const fo_lb_handle_t *lb, const fo_lb_backend_t *b, char *err, size_t errlen)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "add server %s/%s %s:%u check port %u inter %u fall 2 rise 2",
             lb->name, b->name, b->host, b->port, b->admin_port, lb->check_ms);
    if (hx_expect(lb, cmd, "New server registered", err, errlen) != 0)
        return -1;
    snprintf(cmd, sizeof cmd, "enable health %s/%s", lb->name, b->name);
    if (hx_expect(lb, cmd, NULL, err, errlen) != 0)
        return -1;
    snprintf(cmd, sizeof cmd, "set server %s/%s state %s", lb->name, b->name,
             b->active ? "ready" : "drain");
    return hx_expect(lb, cmd, NULL, err, errlen);
}

/* A server no longer listed: maintenance (no new connection; the open ones
 * stay), then deleted once nothing goes through it. */
static int retire(const fo_lb_handle_t *lb, const hx_server_t *s, char *err, size_t errlen)
{
    char cmd[512];
    if ((s->admin_state & HX_ADMF_FMAINT) == 0) {
        snprintf(cmd, sizeof cmd, "set server %s/%s state maint", lb->name, s->name);
        if (hx_expect(lb, cmd, NULL, err, errlen) != 0)
            return -1;
    }
    if (s->scur > 0)
        return 0; /* still carrying connections: the next call retries */
    snprintf(cmd, sizeof cmd, "del server %s/%s", lb->name, s->name);
    char *ans = hx_cmd(lb, cmd, NULL, err, errlen);
    if (ans == NULL)
        return -1;
    int rc = 0;
    if (strncmp(ans, "Server deleted", 14) != 0 && strstr(ans, "still has connections") == NULL) {
        char shown[256];
        fo_lb__squash(shown, sizeof shown, ans, 200);
        rc = fo_lb__fail(err, errlen, "haproxy \"%s\" answered \"%s\"", cmd, shown);
    }
    free(ans);
    return rc;
}

int fo_lb__haproxy_set(fo_lb_handle_t *lb, const fo_lb_backend_t *b, size_t n, char *err,
                       size_t errlen)
{
    hx_list_t cur = {0};
    int rc = -1;
    if (hx_read(lb, &cur, NULL, err, errlen) != 0)
        goto fail;
    /* Ready ones first, then drains, then removals: the backend never goes
     * through a moment with fewer ready servers than either list has. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            if (b[i].active != (pass == 0))
                continue;
            const hx_server_t *s = list_find(&cur, b[i].name);
            if ((s == NULL ? add(lb, &b[i], err, errlen) : converge(lb, s, &b[i], err, errlen)) !=
                0)
                goto fail;
        }
    }
    for (size_t i = 0; i < cur.n; i++) {
        bool listed = false;
        for (size_t j = 0; j < n && !listed; j++)
            listed = strcmp(cur.s[i].name, b[j].name) == 0;
        if (!listed && retire(lb, &cur.s[i], err, errlen) != 0)
            goto fail;
    }
    rc = 0;
fail:
    free(cur.s);
    return rc;
}

int fo_lb__haproxy_observe(fo_lb_handle_t *lb, fo_lb_observed_t *out, char *err, size_t errlen)
{
    hx_list_t cur = {0};
    bool down = false;
    int rc = -1;
    if (hx_read(lb, &cur, &down, err, errlen) != 0) {
        if (down) { /* nobody answers: not running, which is an observation */
            out->running = false;
            rc = 0;
        }
        goto fail;
    }
    out->running = true;
    if (cur.n > FO_LB_MAX_BACKENDS) {
        fo_lb__fail(err, errlen, "haproxy %s: %zu servers, more than %u", lb->name, cur.n,
                    FO_LB_MAX_BACKENDS);
        goto fail;
    }
    for (size_t i = 0; i < cur.n; i++) {
        const hx_server_t *s = &cur.s[i];
        fo_lb_observed_server_t *o = &out->servers[out->n++];
        snprintf(o->name, sizeof o->name, "%s", s->name);
        o->active = s->admin_state == 0;
        o->healthy = s->op_state != HX_ST_STOPPED &&
                     (s->check_result == HX_CHK_PASSED || s->check_result == HX_CHK_CONDPASS);
        o->current = s->scur;
    }
    rc = 0;
fail:
    free(cur.s);
    return rc;
}

int fo_lb__haproxy_destroy(fo_lb_handle_t *lb, char *err, size_t errlen)
{
    pid_t pid = read_pid_file(lb->pid_path);
    if (pid <= 0)
        pid = lb->pid;
    if (stop_pid(lb, pid) != 0)
        return fo_lb__fail(err, errlen, "haproxy %s: pid %ld survived SIGKILL", lb->name,
                           (long)pid);
    if (lb->pid > 0 && lb->pid != pid && stop_pid(lb, lb->pid) != 0)
        return fo_lb__fail(err, errlen, "haproxy %s: pid %ld survived SIGKILL", lb->name,
                           (long)lb->pid);
    unlink(lb->sock_path);
    unlink(lb->pid_path);
    return 0;
}
