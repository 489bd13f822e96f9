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
 * - Every answer ends with an empty line ("...\n\n"), so the readers of
 *   `show servers state` and `show stat` (pure: fo_lb__hx_parse_*, lb_int.h)
 *   tell a cut answer from a whole one and refuse it.
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

typedef fo_lb__hx_server_t hx_server_t;

typedef struct hx_list {
    size_t n;
    hx_server_t *s; /* owned: FO_LB__HX_SERVERS_MAX entries */
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

/* Sends one command and returns haproxy's whole answer (malloc'd,
 * NUL-terminated; the caller frees) and its length in *lenp (if not NULL),
 * or NULL with err. *down (if not NULL) tells a socket that nobody answers
 * (no process) from other failures. */
static char *hx_cmd(const fo_lb_handle_t *lb, const char *cmd, bool *down, size_t *lenp, char *err,
                    size_t errlen)
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
            char *nb = ncap <= FO_LB__HX_ANSWER_MAX ? realloc(buf, ncap) : NULL;
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
    if (lenp != NULL)
        *lenp = len;
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
    char *ans = hx_cmd(lb, cmd, NULL, NULL, err, errlen);
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
    char *ans = hx_cmd(lb, "show info", NULL, NULL, e, sizeof e);
    bool ok = ans != NULL && strstr(ans, "Name: HAProxy") != NULL;
    free(ans);
    return ok;
}

/* ---- reading the servers back ---- */

static hx_server_t *list_find(hx_list_t *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->s[i].name, name) == 0)
            return &l->s[i];
    return NULL;
}

/* Bytes [p, p + len) of an answer; never NUL-terminated. */
typedef struct span {
    const char *p;
    size_t len;
} span_t;

static bool span_is(span_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.p, lit, n) == 0;
}

/* A span for a message: at most dstlen - 1 bytes, anything but printable
 * ASCII as '?'. */
static void quote(char *dst, size_t dstlen, span_t s)
{
    size_t o = 0;
    for (size_t i = 0; i < s.len && o + 1 < dstlen; i++) {
        unsigned char ch = (unsigned char)s.p[i];
        dst[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    dst[o] = '\0';
}

/* The next line of `body` from *pos, without its '\n' (every line of a body
 * has one); false at the end. */
static bool next_line(span_t body, size_t *pos, span_t *line)
{
    if (*pos >= body.len)
        return false;
    const char *nl = memchr(body.p + *pos, '\n', body.len - *pos);
    size_t end = nl ? (size_t)(nl - body.p) : body.len;
    *line = (span_t){body.p + *pos, end - *pos};
    *pos = end + 1;
    return true;
}

/* The next field of `line` from *pos up to `sep` (fields may be empty; a
 * line of k separators has k + 1 fields); false once the line is used up. */
static bool next_field(span_t line, char sep, size_t *pos, span_t *f)
{
    if (*pos > line.len)
        return false;
    const char *s = memchr(line.p + *pos, sep, line.len - *pos);
    size_t end = s ? (size_t)(s - line.p) : line.len;
    *f = (span_t){line.p + *pos, end - *pos};
    *pos = end + 1;
    return true;
}

/* Every runtime API answer is lines ending in '\n', then one empty line;
 * anything else (cut short, text after the end) is refused. *body: the
 * lines before the empty one, each with its '\n'. Returns NULL or why not. */
static const char *answer_body(const char *text, size_t len, span_t *body)
{
    if (len == 0)
        return "empty answer";
    if (len > FO_LB__HX_ANSWER_MAX)
        return "answer too long";
    size_t end = 0; /* offset of the empty line */
    if (text[0] != '\n') {
        const char *dbl = memmem(text, len, "\n\n", 2);
        if (dbl == NULL)
            return "answer cut short (no empty line at its end)";
        end = (size_t)(dbl - text) + 1;
    }
    if (end + 1 != len)
        return "text after the answer's end";
    *body = (span_t){text, end};
    return NULL;
}

/* A decimal number 0..max, digits only. */
static bool parse_uint(span_t f, uint64_t max, uint64_t *v)
{
    if (f.len == 0)
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < f.len; i++) {
        unsigned d = (unsigned)((unsigned char)f.p[i] - '0');
        if (d > 9 || x > (max - d) / 10)
            return false;
        x = x * 10 + d;
    }
    *v = x;
    return true;
}

/* 1..FO_LB__NAME_MAX bytes, each '!'..'~' (no blank, comma or control). */
static bool copy_name(char *dst, span_t f)
{
    if (f.len == 0 || f.len > FO_LB__NAME_MAX)
        return false;
    for (size_t i = 0; i < f.len; i++)
        if (f.p[i] <= ' ' || f.p[i] > '~')
            return false;
    memcpy(dst, f.p, f.len);
    dst[f.len] = '\0';
    return true;
}

/* The columns of `show servers state` that we read, in this order. */
static const char *const STATE_COLS[] = {"srv_name",        "srv_addr",         "srv_op_state",
                                         "srv_admin_state", "srv_check_result", "srv_check_state",
                                         "srv_port",        "srv_check_port"};
enum { SC_NAME, SC_ADDR, SC_OP, SC_ADMIN, SC_RES, SC_CST, SC_PORT, SC_CPORT, SC_N };

/* Finds `names` in the header fields (separated by sep; the first
 * occurrence counts). *nhead: the header's field count. False when one is
 * missing. */
static bool header_columns(span_t head, char sep, const char *const *names, size_t nnames,
                           size_t *idx, size_t *nhead)
{
    for (size_t c = 0; c < nnames; c++)
        idx[c] = SIZE_MAX;
    size_t pos = 0, i = 0;
    span_t f;
    for (; next_field(head, sep, &pos, &f); i++)
        for (size_t c = 0; c < nnames; c++)
            if (idx[c] == SIZE_MAX && span_is(f, names[c]))
                idx[c] = i;
    *nhead = i;
    for (size_t c = 0; c < nnames; c++)
        if (idx[c] == SIZE_MAX)
            return false;
    return true;
}

/* The fields of `row` at idx[0..ncols) into got; returns the field count. */
static size_t row_fields(span_t row, char sep, const size_t *idx, size_t ncols, span_t *got)
{
    size_t pos = 0, i = 0;
    span_t f;
    for (size_t c = 0; c < ncols; c++)
        got[c] = (span_t){row.p, 0};
    for (; next_field(row, sep, &pos, &f); i++)
        for (size_t c = 0; c < ncols; c++)
            if (idx[c] == i)
                got[c] = f;
    return i;
}

static int state_row(span_t line, const size_t *idx, size_t nhead, fo_lb__hx_server_t *s,
                     const char *backend, char *err, size_t errlen)
{
    span_t f[SC_N];
    size_t nf = row_fields(line, ' ', idx, SC_N, f);
    char shown[160];
    quote(shown, sizeof shown, line);
    if (nf != nhead)
        return fo_lb__fail(err, errlen,
                           "haproxy \"show servers state %s\": a row with %zu of %zu columns: "
                           "\"%s\"",
                           backend, nf, nhead, shown);
    memset(s, 0, sizeof *s);
    if (!copy_name(s->name, f[SC_NAME]))
        return fo_lb__fail(err, errlen,
                           "haproxy \"show servers state %s\": a server name that is not "
                           "1..%u of '!'..'~': \"%s\"",
                           backend, FO_LB__NAME_MAX, shown);
    char addr[INET_ADDRSTRLEN];
    span_t a = f[SC_ADDR];
    if (a.len < sizeof addr) {
        memcpy(addr, a.p, a.len);
        addr[a.len] = '\0';
        if (memchr(a.p, '\0', a.len) != NULL || inet_pton(AF_INET, addr, &s->addr) != 1)
            s->addr.s_addr = 0;
    }
    uint64_t v[SC_N] = {0};
    for (int c = SC_OP; c < SC_N; c++)
        if (!parse_uint(f[c], c >= SC_PORT ? 65535u : (uint64_t)INT_MAX, &v[c]))
            return fo_lb__fail(err, errlen,
                               "haproxy \"show servers state %s\": server %s: %s is not a "
                               "number 0..%s: \"%s\"",
                               backend, s->name, STATE_COLS[c], c >= SC_PORT ? "65535" : "INT_MAX",
                               shown);
    s->op_state = (int)v[SC_OP];
    s->admin_state = (int)v[SC_ADMIN];
    s->check_result = (int)v[SC_RES];
    s->check_state = (int)v[SC_CST];
    s->port = (unsigned)v[SC_PORT];
    s->check_port = (unsigned)v[SC_CPORT];
    s->scur = 0;
    return 0;
}

int fo_lb__hx_parse_servers_state(const char *text, size_t len, const char *backend,
                                  fo_lb__hx_server_t *out, size_t cap, size_t *n, char *err,
                                  size_t errlen)
{
    *n = 0;
    span_t all = {text, len}, body, line;
    size_t pos = 0;
    char shown[160];
    if (len > 0 && len <= FO_LB__HX_ANSWER_MAX && next_line(all, &pos, &line) &&
        !span_is(line, "1")) {
        quote(shown, sizeof shown, line);
        return fo_lb__fail(err, errlen, "haproxy \"show servers state %s\" answered \"%s\"",
                           backend, shown);
    }
    const char *why = answer_body(text, len, &body);
    if (why != NULL)
        return fo_lb__fail(err, errlen, "haproxy \"show servers state %s\": %s", backend, why);
    pos = 0;
    if (!next_line(body, &pos, &line)) /* "1" was checked above */
        return fo_lb__fail(err, errlen, "haproxy \"show servers state %s\": empty answer", backend);
    size_t idx[SC_N], nhead = 0;
    if (!next_line(body, &pos, &line) || line.len < 2 || memcmp(line.p, "# ", 2) != 0 ||
        !header_columns((span_t){line.p + 2, line.len - 2}, ' ', STATE_COLS, SC_N, idx, &nhead))
        return fo_lb__fail(err, errlen,
                           "haproxy \"show servers state %s\": no header with the expected "
                           "columns after the version line",
                           backend);
    size_t got = 0;
    while (next_line(body, &pos, &line)) {
        if (got == cap)
            return fo_lb__fail(err, errlen,
                               "haproxy \"show servers state %s\": more than %zu servers", backend,
                               cap);
        if (state_row(line, idx, nhead, &out[got], backend, err, errlen) != 0)
            return -1;
        for (size_t i = 0; i < got; i++)
            if (strcmp(out[i].name, out[got].name) == 0)
                return fo_lb__fail(err, errlen,
                                   "haproxy \"show servers state %s\": server %s listed twice",
                                   backend, out[got].name);
        got++;
    }
    *n = got;
    return 0;
}

/* The columns of `show stat` that we read. */
static const char *const STAT_COLS[] = {"pxname", "svname", "scur"};
enum { ST_PX, ST_SV, ST_SCUR, ST_N };

int fo_lb__hx_parse_stat(const char *text, size_t len, const char *backend, fo_lb__hx_server_t *s,
                         size_t n, char *err, size_t errlen)
{
    int64_t scur[FO_LB__HX_SERVERS_MAX];
    bool seen[FO_LB__HX_SERVERS_MAX];
    if (n > FO_LB__HX_SERVERS_MAX)
        return fo_lb__fail(err, errlen, "haproxy \"show stat %s 4 -1\": %zu servers, more than %u",
                           backend, n, FO_LB__HX_SERVERS_MAX);
    span_t body, line = {text, 0};
    const char *why = answer_body(text, len, &body);
    if (why != NULL)
        return fo_lb__fail(err, errlen, "haproxy \"show stat %s 4 -1\": %s", backend, why);
    size_t pos = 0, idx[ST_N], nhead = 0;
    if (!next_line(body, &pos, &line) || line.len < 2 || memcmp(line.p, "# ", 2) != 0 ||
        !header_columns((span_t){line.p + 2, line.len - 2}, ',', STAT_COLS, ST_N, idx, &nhead)) {
        char shown[160];
        quote(shown, sizeof shown, line);
        return fo_lb__fail(err, errlen,
                           "haproxy \"show stat %s 4 -1\" answered \"%s\" (not a header naming "
                           "pxname, svname and scur)",
                           backend, shown);
    }
    memset(seen, 0, n * sizeof seen[0]);
    size_t rows = 0;
    while (next_line(body, &pos, &line)) {
        span_t f[ST_N];
        size_t nf = row_fields(line, ',', idx, ST_N, f);
        if (!span_is(f[ST_PX], backend))
            continue; /* another proxy (or too short to name one) */
        char shown[160];
        quote(shown, sizeof shown, line);
        if (++rows > FO_LB__HX_SERVERS_MAX)
            return fo_lb__fail(err, errlen, "haproxy \"show stat %s 4 -1\": more than %u rows",
                               backend, FO_LB__HX_SERVERS_MAX);
        if (nf != nhead)
            return fo_lb__fail(
                err, errlen, "haproxy \"show stat %s 4 -1\": a row with %zu of %zu columns: \"%s\"",
                backend, nf, nhead, shown);
        size_t i = 0;
        while (i < n && !span_is(f[ST_SV], s[i].name))
            i++;
        if (i == n)
            continue; /* added since `show servers state` */
        uint64_t v;
        if (!parse_uint(f[ST_SCUR], INT64_MAX, &v))
            return fo_lb__fail(err, errlen,
                               "haproxy \"show stat %s 4 -1\": server %s: scur is not a number: "
                               "\"%s\"",
                               backend, s[i].name, shown);
        if (seen[i])
            return fo_lb__fail(err, errlen, "haproxy \"show stat %s 4 -1\": server %s listed twice",
                               backend, s[i].name);
        seen[i] = true;
        scur[i] = (int64_t)v;
    }
    for (size_t i = 0; i < n; i++)
        if (seen[i])
            s[i].scur = scur[i];
    return 0;
}

/* Reads the backend's servers into l->s (malloc'd here, the caller frees
 * it even on failure). *down: the socket does not answer. */
static int hx_read(const fo_lb_handle_t *lb, hx_list_t *l, bool *down, char *err, size_t errlen)
{
    char cmd[256];
    size_t len = 0;
    if (down != NULL)
        *down = false;
    l->n = 0;
    l->s = malloc(FO_LB__HX_SERVERS_MAX * sizeof *l->s);
    if (l->s == NULL)
        return fo_lb__fail(err, errlen, "haproxy: out of memory");
    snprintf(cmd, sizeof cmd, "show servers state %s", lb->name);
    char *ans = hx_cmd(lb, cmd, down, &len, err, errlen);
    if (ans == NULL)
        return -1;
    int rc = fo_lb__hx_parse_servers_state(ans, len, lb->name, l->s, FO_LB__HX_SERVERS_MAX, &l->n,
                                           err, errlen);
    free(ans);
    if (rc != 0)
        return -1;
    snprintf(cmd, sizeof cmd, "show stat %s 4 -1", lb->name);
    ans = hx_cmd(lb, cmd, NULL, &len, err, errlen);
    if (ans == NULL)
        return -1;
    rc = fo_lb__hx_parse_stat(ans, len, lb->name, l->s, l->n, err, errlen);
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
        char *ans = hx_cmd(lb, cmd, NULL, NULL, err, errlen);
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
    char *ans = hx_cmd(lb, cmd, NULL, NULL, err, errlen);
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
