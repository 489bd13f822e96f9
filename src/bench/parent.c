/* ferrybench's parent process: forks the workers, drives the phases
 * (setup -> run -> hold or drain -> finish) with commands on their pipes,
 * aggregates their lines, prints progress once a second on stderr, and
 * ends with a human summary and one key=value line on stdout. Every phase
 * has a deadline and the whole run a hard cap (--max-time), past which the
 * workers are killed and what arrived is reported as cut short. */
#include "bench/admin.h"
#include "bench/bench.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TICK_MS 100
#define TICKS_PER_S (1000 / TICK_MS)
#define FINISH_TIMEOUT_MS 30000
#define MAX_KV 64

/* ---- key=value sets ---- */

typedef struct kv {
    char key[32];
    char str[32]; /* the value as written (for names such as first_error) */
    double v;
} kv_t;

typedef struct kvset {
    int n;
    kv_t kv[MAX_KV];
} kvset_t;

static kv_t *kv_find(kvset_t *s, const char *key, bool add)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->kv[i].key, key) == 0)
            return &s->kv[i];
    if (!add || s->n == MAX_KV)
        return NULL;
    kv_t *k = &s->kv[s->n++];
    memset(k, 0, sizeof *k);
    snprintf(k->key, sizeof k->key, "%s", key);
    return k;
}

static double kv_get(const kvset_t *s, const char *key)
{
    kv_t *k = kv_find((kvset_t *)s, key, false);
    return k ? k->v : 0;
}

static const char *kv_str(const kvset_t *s, const char *key)
{
    kv_t *k = kv_find((kvset_t *)s, key, false);
    return k ? k->str : NULL;
}

/* Reads " k=v k=v ..." into s (replacing values). */
static void kv_parse(kvset_t *s, const char *p)
{
    while (*p) {
        while (*p == ' ')
            p++;
        const char *eq = strchr(p, '=');
        if (!eq)
            return;
        const char *end = strchr(eq, ' ');
        if (!end)
            end = eq + strlen(eq);
        char key[32];
        snprintf(key, sizeof key, "%.*s", (int)(eq - p), p);
        kv_t *k = kv_find(s, key, true);
        if (k) {
            snprintf(k->str, sizeof k->str, "%.*s", (int)(end - eq - 1), eq + 1);
            k->v = strtod(k->str, NULL);
        }
        p = end;
    }
}

/* Sums `from` into `into`; keys "ms" and "*_max" take the maximum, and
 * strings keep the first one seen. */
static void kv_merge(kvset_t *into, const kvset_t *from)
{
    for (int i = 0; i < from->n; i++) {
        const kv_t *f = &from->kv[i];
        kv_t *k = kv_find(into, f->key, false);
        if (!k) {
            k = kv_find(into, f->key, true);
            if (k)
                *k = *f;
            continue;
        }
        size_t kl = strlen(k->key);
        if (strcmp(k->key, "ms") == 0 || (kl > 4 && strcmp(k->key + kl - 4, "_max") == 0))
            k->v = f->v > k->v ? f->v : k->v;
        else
            k->v += f->v;
    }
}

/* ---- state ---- */

typedef enum { PH_SETUP, PH_RUN, PH_HOLD, PH_DRAIN, PH_FINISH, PH_DONE } phase_t;
static const char *const phase_name[] = {"setup", "run", "hold", "drain", "finish", "done"};

typedef struct parent parent_t;

typedef struct child {
    parent_t *p;
    uint32_t index;
    pid_t pid;
    int cmd_fd; /* our write end of its command pipe */
    int out_fd; /* our read end of its report pipe, until the loop takes it */
    uv_pipe_t pipe;
    char *buf;
    size_t len, cap;
    bool ready, settled, pub_done, ended, eof, pipe_open;
    double settled_ms;
    double sec_lat_max_us; /* largest lat_max_us of the T lines this second */
    kvset_t last, fin;
} child_t;

typedef struct cl_rec { /* clients mode, per client */
    uint32_t sent, acked, unique, dup, reorder, disconnects, reconnects, tk;
    bool seen;
} cl_rec_t;

/* cl_rec_t.tk, as clients.c numbers a client's takeover. */
enum { TK_NONE, TK_PLANNED, TK_RUNNING, TK_DONE, TK_NO_SESSION, TK_FAILED };

struct parent {
    uv_loop_t loop;
    bn_opts_t *o;
    child_t *ch;
    uint32_t W;
    uv_timer_t tick;
    uv_signal_t sig_int, sig_term;
    phase_t phase;
    uint64_t t0, t_phase, t_go, t_stop;
    uint32_t ticks;
    bn_hist_t *lat;     /* connect latency (conn) or end to end (pubsub, clients) */
    uint32_t *pub_sent; /* pubsub: per publisher */
    uint64_t *sub_unique, *sub_dup, *sub_reorder; /* pubsub: per subscriber */
    cl_rec_t *cl;                                 /* clients */
    FILE *csv, *events, *clients_out;
    bn_admin_t *admin; /* --admin poller; NULL without --admin or when set-up failed */
    kvset_t prev;      /* totals a second ago: progress rates, CSV deltas */
    double last_rx;
    uint64_t last_rx_change;
    long rss_before, rss_after;
    bool cut_short;
    char why_short[160];
    int interrupts;
};

static uint64_t now_ms(void)
{
    return bn_now_ns() / 1000000;
}

static uint64_t elapsed(const parent_t *p)
{
    return now_ms() - p->t0;
}

static void note(const parent_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const parent_t *p, const char *fmt, ...)
{
    (void)p;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ferrybench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static long read_rss_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static void send_all(parent_t *p, const char *cmd)
{
    for (uint32_t i = 0; i < p->W; i++) {
        child_t *c = &p->ch[i];
        if (c->cmd_fd < 0)
            continue;
        size_t len = strlen(cmd);
        ssize_t n;
        do
            n = write(c->cmd_fd, cmd, len);
        while (n < 0 && errno == EINTR);
    }
}

static void totals(const parent_t *p, kvset_t *t)
{
    t->n = 0;
    for (uint32_t i = 0; i < p->W; i++)
        kv_merge(t, &p->ch[i].last);
}

/* The final counters; a worker cut off before its F line counts with its
 * last T line (the same keys, a little older). */
static void finals(const parent_t *p, kvset_t *t)
{
    t->n = 0;
    for (uint32_t i = 0; i < p->W; i++)
        kv_merge(t, p->ch[i].fin.n ? &p->ch[i].fin : &p->ch[i].last);
}

/* ---- lines from workers ---- */

static void line_clients(parent_t *p, const char *l)
{
    unsigned idx, v[8];
    /* The reason codes that follow are for people reading the pipe; the
     * totals per reason come in the F line. */
    if (sscanf(l, "K %u %u %u %u %u %u %u %u %u", &idx, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
               &v[6], &v[7]) != 9 ||
        idx >= p->o->n)
        return;
    p->cl[idx] = (cl_rec_t){v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], true};
}

static void handle_line(child_t *c, char *l)
{
    parent_t *p = c->p;
    switch (l[0]) {
    case 'R':
        c->ready = true;
        break;
    case 'T': {
        c->last.n = 0;
        kv_parse(&c->last, l + 1);
        double m = kv_get(&c->last, "lat_max_us");
        if (m > c->sec_lat_max_us)
            c->sec_lat_max_us = m;
        break;
    }
    case 'A':
        c->settled = true;
        c->settled_ms = strtod(l + 5, NULL); /* "A ms=N" */
        break;
    case 'X':
        c->pub_done = true;
        break;
    case 'F':
        kv_parse(&c->fin, l + 1);
        break;
    case 'H': {
        const char *sp = strchr(l + 2, ' ');
        if (sp && bn_hist_parse_merge(p->lat, sp + 1) != 0)
            note(p, "worker %u: malformed histogram line", c->index);
        break;
    }
    case 'P': {
        unsigned idx, sent;
        if (sscanf(l, "P %u %u", &idx, &sent) == 2 && p->pub_sent && idx < p->o->pubs)
            p->pub_sent[idx] = sent;
        break;
    }
    case 'S': {
        unsigned sub, pub, uniq, dup, reo;
        if (sscanf(l, "S %u %u %u %u %u", &sub, &pub, &uniq, &dup, &reo) == 5 && p->sub_unique &&
            sub < p->o->subs) {
            p->sub_unique[sub] += uniq;
            p->sub_dup[sub] += dup;
            p->sub_reorder[sub] += reo;
        }
        break;
    }
    case 'K':
        if (p->cl)
            line_clients(p, l);
        break;
    case 'V':
        if (p->events) {
            /* "V <ms> <client> ...": the client id goes at the end, so that
             * the fields before keep their places. */
            unsigned long long ms;
            unsigned idx;
            char id[64] = "";
            if (p->o->mode == BN_CLIENTS && sscanf(l, "V %llu %u", &ms, &idx) == 2)
                bn_clients_id(p->o, idx, id, sizeof id);
            fprintf(p->events, "w%u %s%s%s\n", c->index, l + 2, id[0] ? " id=" : "", id);
        }
        break;
    case 'W':
        note(p, "%s", l + 2);
        break;
    case 'E':
        c->ended = true;
        break;
    default:
        break;
    }
}

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf)
{
    (void)sz;
    child_t *c = h->data;
    if (c->cap - c->len < 65536) {
        size_t ncap = c->cap ? c->cap * 2 : 131072;
        char *nb = realloc(c->buf, ncap);
        if (!nb) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        c->buf = nb;
        c->cap = ncap;
    }
    *buf = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len - 1));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    child_t *c = s->data;
    if (n < 0) {
        c->eof = true;
        c->pipe_open = false;
        uv_close((uv_handle_t *)s, NULL);
        return;
    }
    c->len += (size_t)n;
    c->buf[c->len] = 0;
    char *start = c->buf, *nl;
    while ((nl = strchr(start, '\n'))) {
        *nl = 0;
        handle_line(c, start);
        start = nl + 1;
    }
    c->len -= (size_t)(start - c->buf);
    memmove(c->buf, start, c->len);
    /* Shrink after the big final reports. */
    if (c->len == 0 && c->cap > 262144) {
        free(c->buf);
        c->buf = NULL;
        c->cap = 0;
    }
}

/* ---- phases ---- */

static void go(parent_t *p)
{
    if (p->o->watch_pid)
        p->rss_before = read_rss_kb(p->o->watch_pid);
    send_all(p, "go\n");
    p->t_go = p->t_phase = elapsed(p);
    p->phase = PH_RUN;
}

/* The run (and what the nodes' figures mean) ends: the open poll round is
 * closed with what has answered. */
static void admin_cut(parent_t *p)
{
    if (p->admin)
        bn_admin_round_end(p->admin, true);
}

static void finish(parent_t *p)
{
    admin_cut(p);
    send_all(p, "finish\n");
    p->phase = PH_FINISH;
    p->t_phase = elapsed(p);
}

static void stop(parent_t *p)
{
    if (p->o->mode == BN_CONN) {
        p->phase = PH_HOLD;
    } else {
        send_all(p, "stop\n");
        p->phase = PH_DRAIN;
        p->last_rx_change = elapsed(p);
    }
    p->t_stop = p->t_phase = elapsed(p);
}

static void cut_short(parent_t *p, const char *why)
{
    if (!p->cut_short) {
        p->cut_short = true;
        snprintf(p->why_short, sizeof p->why_short, "%s", why);
        note(p, "%s: stopping the workers", why);
    }
    if (p->phase <= PH_RUN) { /* the measured phase ends here */
        p->t_stop = p->t_phase = elapsed(p);
        if (p->phase == PH_SETUP)
            p->t_go = p->t_stop;
    }
    admin_cut(p);
    for (uint32_t i = 0; i < p->W; i++)
        if (p->ch[i].pid > 0 && !p->ch[i].ended)
            kill(p->ch[i].pid, SIGKILL);
    p->phase = PH_DONE;
}

static bool all(const parent_t *p, size_t offset)
{
    for (uint32_t i = 0; i < p->W; i++)
        if (!*(const bool *)((const char *)&p->ch[i] + offset))
            return false;
    return true;
}

/* How many deliveries the messages sent so far should make. */
static double expected_rx(const parent_t *p, const kvset_t *t)
{
    double sent = kv_get(t, "sent");
    if (p->o->mode == BN_PUBSUB && p->o->pattern == BN_ALL)
        return sent * p->o->subs;
    return sent;
}

static void drain_step(parent_t *p, uint64_t now)
{
    kvset_t t;
    totals(p, &t);
    double rx = kv_get(&t, "rx"), unacked = kv_get(&t, "unacked");
    if (rx != p->last_rx) {
        p->last_rx = rx;
        p->last_rx_change = now;
    }
    bool complete = rx >= expected_rx(p, &t) && unacked == 0;
    /* Nothing in flight, every client connected, nothing arriving for a
     * while: what has not arrived is lost (QoS 0, or a session a broker
     * dropped), and waiting longer would not change the figures. */
    bool settled = unacked == 0 && (p->o->mode != BN_CLIENTS || kv_get(&t, "connected") >= p->o->n);
    uint64_t quiet_ms = p->o->mode == BN_CLIENTS ? 2000 : 1000;
    bool quiet = settled && now - p->last_rx_change >= quiet_ms;
    if (complete || quiet || now - p->t_stop >= (uint64_t)(p->o->drain_s * 1000))
        finish(p);
}

/* ---- progress and CSV, once a second ---- */

static void progress(parent_t *p, uint64_t now)
{
    kvset_t t;
    totals(p, &t);
    const bn_opts_t *o = p->o;
    char line[384];
    double lat_max_ms = 0; /* the slowest delivery of this second */
    for (uint32_t i = 0; i < p->W; i++) {
        if (p->ch[i].sec_lat_max_us / 1000 > lat_max_ms)
            lat_max_ms = p->ch[i].sec_lat_max_us / 1000;
        p->ch[i].sec_lat_max_us = 0;
    }
#define D(key) (kv_get(&t, key) - kv_get(&p->prev, key))
    switch (o->mode) {
    case BN_CONN:
        snprintf(line, sizeof line, "connected %.0f/%u (+%.0f/s) connecting %.0f failed %.0f",
                 kv_get(&t, "connected"), o->n, D("connected"), kv_get(&t, "connecting"),
                 kv_get(&t, "failed"));
        break;
    case BN_PUBSUB:
        snprintf(line, sizeof line,
                 "ready %.0f/%u sent %.0f (+%.0f/s) delivered %.0f (+%.0f/s) unacked %.0f "
                 "latency max %.1f ms",
                 kv_get(&t, "ready"), o->pubs + o->subs, kv_get(&t, "sent"), D("sent"),
                 kv_get(&t, "rx"), D("rx"), kv_get(&t, "unacked"), lat_max_ms);
        break;
    case BN_CLIENTS:
        snprintf(line, sizeof line,
                 "connected %.0f/%u disconnects %.0f reconnects %.0f sent %.0f (+%.0f/s) rx %.0f "
                 "unacked %.0f",
                 kv_get(&t, "connected"), o->n, kv_get(&t, "disconnects"), kv_get(&t, "reconnects"),
                 kv_get(&t, "sent"), D("sent"), kv_get(&t, "rx"), kv_get(&t, "unacked"));
        if (o->takeover_at_s >= 0) {
            size_t l = strlen(line);
            snprintf(line + l, sizeof line - l, " takeovers %.0f/%.0f", kv_get(&t, "takeovers"),
                     kv_get(&t, "takeover_planned"));
        }
        break;
    }
    if (p->admin) { /* " nodes 100/?/98": the last poll round, ? = no answer */
        size_t l = strlen(line);
        for (uint32_t i = 0; i < bn_admin_count(p->admin) && l < sizeof line; i++) {
            int64_t v = bn_admin_conns(p->admin, i);
            int w = v < 0 ? snprintf(line + l, sizeof line - l, "%s?", i ? "/" : " nodes ")
                          : snprintf(line + l, sizeof line - l, "%s%lld", i ? "/" : " nodes ",
                                     (long long)v);
            l += w > 0 ? (size_t)w : 0;
        }
    }
    if (!o->quiet)
        fprintf(stderr, "[%5.1f s] %-6s %s\n", (double)now / 1000, phase_name[p->phase], line);
    if (p->csv && p->phase >= PH_RUN && p->phase <= PH_DRAIN) {
        fprintf(p->csv, "%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.3f",
                (double)(now - p->t_go) / 1000, kv_get(&t, "connected"), D("disconnects"),
                D("reconnects"), D("sent"), D("rx"), D("acked"), kv_get(&t, "unacked"),
                D("failed_attempts"), lat_max_ms);
        /* conns_1..conns_N: empty when that node did not answer. */
        for (uint32_t i = 0; i < o->n_admin; i++) {
            int64_t v = bn_admin_conns(p->admin, i);
            if (v < 0)
                fputs(",", p->csv);
            else
                fprintf(p->csv, ",%lld", (long long)v);
        }
        fputc('\n', p->csv);
        fflush(p->csv); /* a live file: readers follow it while the run goes on */
    }
#undef D
    p->prev = t;
}

static void on_tick(uv_timer_t *h)
{
    parent_t *p = h->data;
    const bn_opts_t *o = p->o;
    uint64_t now = elapsed(p);
    uint32_t tick = ++p->ticks % TICKS_PER_S;
    if (p->admin && p->phase < PH_FINISH) {
        /* A round opens half a second before a progress tick and closes at
         * it; only rounds opened while the clients run are recorded. */
        bn_admin_step(p->admin);
        if (tick == 0)
            bn_admin_round_end(p->admin, false);
        else if (tick == TICKS_PER_S / 2)
            bn_admin_round_start(p->admin, p->phase >= PH_RUN && p->phase <= PH_DRAIN,
                                 p->phase >= PH_RUN ? (double)(now - p->t_go) / 1000 : 0);
    }
    if (tick == 0 && p->phase < PH_FINISH)
        progress(p, now);
    if (now >= (uint64_t)(o->max_time_s * 1000) && p->phase < PH_DONE) {
        cut_short(p, "hard time cap (--max-time) reached");
    }
    switch (p->phase) {
    case PH_SETUP:
        if (all(p, offsetof(child_t, ready))) {
            go(p);
        } else if (now - p->t_phase >= (uint64_t)(o->setup_s * 1000)) {
            kvset_t t;
            totals(p, &t);
            note(p, "setup timed out (%.0f of %u clients ready): going on with them",
                 kv_get(&t, "ready"), bn_total_clients(o));
            go(p);
        }
        break;
    case PH_RUN: {
        uint64_t ran = now - p->t_go;
        bool over = ran >= (uint64_t)(o->duration_s * 1000);
        if (o->mode == BN_CONN && (all(p, offsetof(child_t, settled)) || over)) {
            if (!all(p, offsetof(child_t, settled)))
                note(p, "not every connection settled within --duration");
            stop(p);
        } else if (o->mode != BN_CONN && (over || all(p, offsetof(child_t, pub_done)))) {
            stop(p);
        }
        break;
    }
    case PH_HOLD: {
        uint64_t held = now - p->t_stop;
        uint64_t sample_at =
            (uint64_t)(o->hold_s * 500) < 1000 ? (uint64_t)(o->hold_s * 500) : 1000;
        if (o->watch_pid && !p->rss_after && held >= sample_at)
            p->rss_after = read_rss_kb(o->watch_pid);
        if (held >= (uint64_t)(o->hold_s * 1000)) {
            if (o->watch_pid && !p->rss_after)
                p->rss_after = read_rss_kb(o->watch_pid);
            finish(p);
        }
        break;
    }
    case PH_DRAIN:
        drain_step(p, now);
        break;
    case PH_FINISH:
        if (all(p, offsetof(child_t, ended)) && all(p, offsetof(child_t, eof)))
            p->phase = PH_DONE;
        else if (now - p->t_phase >= FINISH_TIMEOUT_MS)
            cut_short(p, "workers did not report within 30 s of finish");
        break;
    case PH_DONE:
        break;
    }
    if (p->phase == PH_DONE) {
        uv_timer_stop(&p->tick);
        uv_close((uv_handle_t *)&p->tick, NULL);
        uv_close((uv_handle_t *)&p->sig_int, NULL);
        uv_close((uv_handle_t *)&p->sig_term, NULL);
        for (uint32_t i = 0; i < p->W; i++)
            if (p->ch[i].pipe_open) {
                p->ch[i].pipe_open = false;
                uv_close((uv_handle_t *)&p->ch[i].pipe, NULL);
            }
    }
}

static void on_signal(uv_signal_t *s, int signum)
{
    parent_t *p = s->data;
    (void)signum;
    if (++p->interrupts > 1 || p->phase >= PH_FINISH) {
        cut_short(p, "interrupted twice");
        return;
    }
    note(p, "interrupted: ending the run early (again to abort)");
    if (p->phase == PH_SETUP || p->phase == PH_HOLD || p->phase == PH_DRAIN)
        finish(p);
    else if (p->phase == PH_RUN)
        stop(p);
    p->cut_short = true;
    snprintf(p->why_short, sizeof p->why_short, "interrupted");
}

/* ---- reports ---- */

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static void lat_summary(const parent_t *p, const char *what)
{
    const bn_hist_t *h = p->lat;
    if (!h->count) {
        printf("  %-14s none recorded\n", what);
        return;
    }
    printf("  %-14s p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms  (%llu samples)\n", what,
           ms(bn_hist_percentile(h, 50)), ms(bn_hist_percentile(h, 99)),
           ms(bn_hist_percentile(h, 99.9)), ms(h->max), (unsigned long long)h->count);
}

static void lat_kv(const parent_t *p, const char *prefix)
{
    const bn_hist_t *h = p->lat;
    printf(" %s_p50_ms=%.3f %s_p99_ms=%.3f %s_p999_ms=%.3f %s_max_ms=%.3f", prefix,
           ms(bn_hist_percentile(h, 50)), prefix, ms(bn_hist_percentile(h, 99)), prefix,
           ms(bn_hist_percentile(h, 99.9)), prefix, ms(h->count ? h->max : 0));
}

/* The nodes' figures (--admin), before the key=value line. */
static void admin_summary(const parent_t *p)
{
    if (p->o->admin)
        bn_admin_summary(p->admin, p->o->admin_urls, p->o->n_admin);
}

static const char *version_name(uint8_t v)
{
    return v == FMQ_V5 ? "5.0" : "3.1.1";
}

static void report_conn(parent_t *p, const kvset_t *f)
{
    const bn_opts_t *o = p->o;
    double settled = 0;
    bool all_settled = true;
    for (uint32_t i = 0; i < p->W; i++) {
        all_settled &= p->ch[i].settled;
        if (p->ch[i].settled_ms > settled)
            settled = p->ch[i].settled_ms;
    }
    double connected = kv_get(f, "connected") + kv_get(f, "dropped");
    double span_s = all_settled ? settled / 1000 : (double)(p->t_stop - p->t_go) / 1000;
    double rate = span_s > 0 ? connected / span_s : 0;
    printf("ferrybench conn: %u connections to %s port %s (MQTT %s, %u worker%s%s)\n", o->n,
           o->host_arg, o->port_arg, version_name(o->version), p->W, p->W == 1 ? "" : "s",
           o->spread_on ? ", sources 127.0.0.2-201" : "");
    printf("  %-14s %.0f (failed %.0f, refused %.0f, dropped while held %.0f)\n", "connected",
           connected, kv_get(f, "failed"), kv_get(f, "refused"), kv_get(f, "dropped"));
    if (kv_str(f, "first_error"))
        printf("  %-14s %s\n", "first error", kv_str(f, "first_error"));
    if (kv_str(f, "first_refusal"))
        printf("  %-14s CONNACK %s\n", "first refusal", kv_str(f, "first_refusal"));
    printf("  %-14s %.3f s%s\n", "time to all", span_s,
           all_settled ? "" : " (not all settled: time until the phase ended)");
    printf("  %-14s %.0f connections/s%s\n", "connect rate", rate,
           o->rate > 0 ? " (paced by --rate)" : "");
    lat_summary(p, "latency");
    double per = -1;
    if (o->watch_pid) {
        per = p->rss_before > 0 && p->rss_after > 0 && connected > 0
                  ? (double)(p->rss_after - p->rss_before) * 1024 / connected
                  : -1;
        printf("  %-14s pid %d VmRSS %ld kB before, %ld kB with the connections: %.0f B per "
               "connection\n",
               "memory", o->watch_pid, p->rss_before, p->rss_after, per);
    }
    admin_summary(p);
    printf("ferrybench mode=conn n=%u workers=%u connected=%.0f failed=%.0f refused=%.0f "
           "dropped=%.0f time_to_all_s=%.3f all_settled=%d connect_rate=%.1f",
           o->n, p->W, connected, kv_get(f, "failed"), kv_get(f, "refused"), kv_get(f, "dropped"),
           span_s, all_settled, rate);
    lat_kv(p, "connect");
    if (o->watch_pid)
        printf(" rss_before_kb=%ld rss_after_kb=%ld rss_per_conn_b=%.0f", p->rss_before,
               p->rss_after, per);
}

static void report_pubsub(parent_t *p, const kvset_t *f)
{
    const bn_opts_t *o = p->o;
    double window_s = (double)(p->t_stop - p->t_go) / 1000;
    double sent = 0;
    for (uint32_t i = 0; i < o->pubs; i++)
        sent += p->pub_sent[i];
    /* Per-pair figures need every worker's final report. */
    bool pairs_known = all(p, offsetof(child_t, ended));
    if (!pairs_known)
        sent = kv_get(f, "sent");
    double lost = 0, dup = 0, reorder = 0, worst = 0;
    uint32_t lost_subs = 0, dup_subs = 0, worst_sub = 0;
    for (uint32_t s = 0; s < o->subs; s++) {
        double expect = o->pattern == BN_PAIRS ? p->pub_sent[s] : sent;
        double l = expect - (double)p->sub_unique[s];
        if (l > 0) {
            lost += l;
            lost_subs++;
            if (l > worst) {
                worst = l;
                worst_sub = s;
            }
        }
        dup += (double)p->sub_dup[s];
        reorder += (double)p->sub_reorder[s];
        dup_subs += p->sub_dup[s] > 0;
    }
    double win_rx = kv_get(f, "window_rx"), rx = kv_get(f, "rx");
    char lost_s[32] = "na";
    if (pairs_known)
        snprintf(lost_s, sizeof lost_s, "%.0f", lost);
    printf("ferrybench pubsub: %u publisher%s -> %u subscriber%s (%s), QoS %u, %u-byte payload, "
           "MQTT %s, %u worker%s\n",
           o->pubs, o->pubs == 1 ? "" : "s", o->subs, o->subs == 1 ? "" : "s",
           o->pattern == BN_PAIRS ? "pairs" : "all to all", o->qos, o->payload,
           version_name(o->version), p->W, p->W == 1 ? "" : "s");
    printf("  %-14s publishers %s port %s, subscribers %s port %s (round-robin)\n", "brokers",
           o->host_arg, o->port_arg, o->sub_host_arg, o->sub_port_arg);
    if (o->rate > 0)
        printf("  %-14s %.0f msgs/s per publisher, %.0f msgs/s in total\n", "rate", o->rate,
               o->rate * o->pubs);
    printf("  %-14s %.0f in %.2f s: %.0f msgs/s (acknowledged %.0f, refused %.0f)\n", "published",
           sent, window_s, window_s > 0 ? sent / window_s : 0, kv_get(f, "acked"),
           kv_get(f, "refused"));
    printf("  %-14s %.0f within the window: %.0f msgs/s; %.0f in all after %.2f s of drain\n",
           "delivered", win_rx, window_s > 0 ? win_rx / window_s : 0, rx,
           (double)(p->t_phase - p->t_stop) / 1000);
    lat_summary(p, "latency");
    if (pairs_known) {
        printf("  %-14s %.0f lost (%u of %u subscribers lost some", "loss", lost, lost_subs,
               o->subs);
        if (lost_subs)
            printf("; worst: subscriber %u, %.0f", worst_sub, worst);
        printf("), %.0f duplicates (%u subscribers), %.0f reordered", dup, dup_subs, reorder);
    } else {
        printf("  %-14s unknown: not every worker sent its final report", "loss");
    }
    if (kv_get(f, "foreign"))
        printf(", %.0f foreign", kv_get(f, "foreign"));
    printf("\n");
    if (kv_get(f, "disconnects"))
        printf("  %-14s %.0f unexpected disconnects\n", "warning", kv_get(f, "disconnects"));
    admin_summary(p);
    printf("ferrybench mode=pubsub pubs=%u subs=%u pattern=%s qos=%u payload=%u mqtt=%s "
           "workers=%u rate=%g window_s=%.3f sent=%.0f sent_per_s=%.1f delivered=%.0f "
           "delivered_per_s=%.1f delivered_total=%.0f lost=%s lost_subs=%u dup=%.0f "
           "reorder=%.0f unacked_end=%.0f disconnects=%.0f",
           o->pubs, o->subs, o->pattern == BN_PAIRS ? "pairs" : "all", o->qos, o->payload,
           version_name(o->version), p->W, o->rate, window_s, sent,
           window_s > 0 ? sent / window_s : 0, win_rx, window_s > 0 ? win_rx / window_s : 0, rx,
           lost_s, lost_subs, dup, reorder, kv_get(f, "unacked"), kv_get(f, "disconnects"));
    printf(" hosts=%s ports=%s sub_hosts=%s sub_ports=%s", o->host_arg, o->port_arg,
           o->sub_host_arg, o->sub_port_arg);
    lat_kv(p, "latency");
}

/* Up to 10 client numbers with a property, for the summary: " 12 (3), 57 (1) ...". */
typedef struct idlist {
    char buf[160];
    size_t len;
    uint32_t n;
} idlist_t;

static void idlist_add(idlist_t *l, uint32_t idx, double count)
{
    if (l->n++ >= 10) {
        if (l->n == 11 && l->len + 5 < sizeof l->buf)
            l->len += (size_t)snprintf(l->buf + l->len, sizeof l->buf - l->len, " ...");
        return;
    }
    if (l->len < sizeof l->buf) {
        int n = count >= 0
                    ? snprintf(l->buf + l->len, sizeof l->buf - l->len, " %u (%.0f)", idx, count)
                    : snprintf(l->buf + l->len, sizeof l->buf - l->len, " %u", idx);
        l->len += n > 0 ? (size_t)n : 0;
        if (l->len > sizeof l->buf)
            l->len = sizeof l->buf;
    }
}

static void report_clients(parent_t *p, const kvset_t *f)
{
    const bn_opts_t *o = p->o;
    uint32_t hist[6] = {0}, max_disc = 0, lost_clients = 0, missing = 0, dup_clients = 0;
    double disc_sum = 0, lost = 0, sent = 0, acked = 0, dup = 0;
    idlist_t lost_ids = {0}, dup_ids = {0}, nosess_ids = {0}, failed_ids = {0}, multi_ids = {0};
    for (uint32_t i = 0; i < o->n; i++) {
        const cl_rec_t *k = &p->cl[i];
        if (!k->seen) {
            missing++;
            continue;
        }
        hist[k->disconnects < 5 ? k->disconnects : 5]++;
        if (k->disconnects > max_disc)
            max_disc = k->disconnects;
        if (k->disconnects > 1)
            idlist_add(&multi_ids, i, k->disconnects);
        disc_sum += k->disconnects;
        sent += k->sent;
        acked += k->acked;
        const cl_rec_t *r = &p->cl[(i + 1) % o->n];
        if (r->seen && k->sent > r->unique) {
            lost += k->sent - r->unique;
            lost_clients++;
            idlist_add(&lost_ids, i, k->sent - r->unique);
        }
        dup += k->dup;
        if (k->dup) {
            dup_clients++;
            idlist_add(&dup_ids, i, k->dup);
        }
        if (k->tk == TK_NO_SESSION)
            idlist_add(&nosess_ids, i, -1);
        if (k->tk == TK_FAILED || k->tk == TK_RUNNING)
            idlist_add(&failed_ids, i, -1);
    }
    double reported = o->n - missing;
    printf("ferrybench clients: %u clients, QoS %u at %g msgs/s each to a peer, %.0f s, MQTT %s, "
           "%u worker%s\n",
           o->n, o->qos, o->rate, o->duration_s, version_name(o->version), p->W,
           p->W == 1 ? "" : "s");
    printf("  %-14s %s port %s (client i: entry i mod n)\n", "brokers", o->host_arg, o->port_arg);
    static const char *const kinds[] = {"none", "fixed", "exponential"};
    printf("  %-14s %s %u..%u ms, jitter %u%%%s; session expiry %u s\n", "reconnect",
           kinds[o->reconnect.kind], o->reconnect.delay_ms, o->reconnect.max_delay_ms,
           o->reconnect.jitter_pct,
           o->reconnect.follow_server_reference ? ", follows references" : "", o->session_expiry);
    printf("  %-14s %.0f of %u at the end\n", "connected", kv_get(f, "connected"), o->n);
    printf("  %-14s %.0f in all; per client max %u, mean %.3f\n", "disconnects",
           kv_get(f, "disconnects"), max_disc, reported > 0 ? disc_sum / reported : 0);
    printf("  %-14s", "per client");
    for (int d = 0; d < 6; d++)
        if (hist[d])
            printf(" %s%d: %u |", d == 5 ? ">=" : "", d, hist[d]);
    printf("\n");
    if (multi_ids.n)
        printf("  %-14s%s\n", "more than 1", multi_ids.buf);
    printf("  %-14s", "reasons");
    bool any = false;
    for (int i = 0; i < f->n; i++) {
        if (strncmp(f->kv[i].key, "disc_", 5) == 0) {
            printf(" %s: %.0f", f->kv[i].key + 5, f->kv[i].v);
            any = true;
        }
    }
    printf("%s\n", any ? "" : " none");
    printf("  %-14s %.0f (failed attempts %.0f, gave up %.0f)\n", "reconnects",
           kv_get(f, "reconnects"), kv_get(f, "failed_attempts"), kv_get(f, "gave_up"));
    double tk_planned = kv_get(f, "takeover_planned"), tk_done = kv_get(f, "takeovers"),
           tk_nosess = kv_get(f, "takeover_no_session"), tk_failed = kv_get(f, "takeover_failed"),
           tk_started = kv_get(f, "takeover_started");
    if (o->takeover_at_s >= 0) {
        printf("  %-14s live, at %g s, to the next node, %.0f planned (fraction %g): started %.0f, "
               "completed %.0f (session present %.0f, not present %.0f), failed %.0f\n",
               "takeover", o->takeover_at_s, tk_planned, o->takeover_frac, tk_started, tk_done,
               tk_done - tk_nosess, tk_nosess, tk_failed);
        if (nosess_ids.n)
            printf("  %-14s%s\n", "no session", nosess_ids.buf);
        if (failed_ids.n)
            printf("  %-14s%s\n", "failed", failed_ids.buf);
    }
    printf("  %-14s sent %.0f, acknowledged %.0f (refused by the broker %.0f), received %.0f, "
           "lost %.0f (%u publishers), duplicates %.0f (%u clients)%s, reordered %.0f, "
           "not queued %.0f\n",
           o->qos == 2 ? "QoS 2 check" : "QoS 1 check", sent, acked, kv_get(f, "nacked"),
           kv_get(f, "rx"), lost, lost_clients, dup, dup_clients,
           o->qos == 2 && dup > 0 ? " -- a QoS 2 duplicate is a broker failure" : "",
           kv_get(f, "reorder"), kv_get(f, "refused"));
    printf("  %-14s %.0f by the clients (DUP, same packet id, after a resumed session), %.0f "
           "deliveries with DUP by the broker\n",
           "resent", kv_get(f, "resent"), kv_get(f, "rx_dup_flag"));
    if (lost_ids.n)
        printf("  %-14s%s (publisher (count); its receiver is the next client)\n", "lost by",
               lost_ids.buf);
    if (dup_ids.n)
        printf("  %-14s%s (receiver (count))\n", "duplicates at", dup_ids.buf);
    if (missing)
        printf("  %-14s %u clients sent no final report\n", "warning", missing);
    lat_summary(p, "latency");
    admin_summary(p);
    printf("ferrybench mode=clients n=%u workers=%u duration_s=%g rate=%g qos=%u connected=%.0f "
           "disconnects=%.0f disc_max=%u disc_mean=%.4f clients_disconnected=%u "
           "reconnects=%.0f sent=%.0f acked=%.0f nacked=%.0f rx=%.0f lost=%.0f "
           "lost_publishers=%u dup=%.0f dup_clients=%u lost_q%u=%.0f dup_q%u=%.0f reorder=%.0f "
           "missing_reports=%u",
           o->n, p->W, o->duration_s, o->rate, o->qos, kv_get(f, "connected"),
           kv_get(f, "disconnects"), max_disc, reported > 0 ? disc_sum / reported : 0,
           (uint32_t)(reported - hist[0]), kv_get(f, "reconnects"), sent, acked,
           kv_get(f, "nacked"), kv_get(f, "rx"), lost, lost_clients, dup, dup_clients, o->qos, lost,
           o->qos, dup, kv_get(f, "reorder"), missing);
    printf(" takeover_at_s=%g takeover_planned=%.0f takeovers=%.0f takeover_no_session=%.0f "
           "takeover_failed=%.0f resent=%.0f rx_dup_flag=%.0f",
           o->takeover_at_s, tk_planned, tk_done, tk_nosess, tk_failed, kv_get(f, "resent"),
           kv_get(f, "rx_dup_flag"));
    for (int i = 0; i < f->n; i++)
        if (strncmp(f->kv[i].key, "disc_", 5) == 0)
            printf(" %s=%.0f", f->kv[i].key, f->kv[i].v);
    printf(" hosts=%s ports=%s", o->host_arg, o->port_arg);
    lat_kv(p, "latency");
    if (!o->admin)
        printf(" admin=none"); /* else report() adds the admin pairs */
}

static void report(parent_t *p)
{
    kvset_t f;
    finals(p, &f);
    if (p->cut_short)
        printf("ferrybench: run cut short: %s (figures below cover what was reported)\n",
               p->why_short);
    switch (p->o->mode) {
    case BN_CONN:
        report_conn(p, &f);
        break;
    case BN_PUBSUB:
        report_pubsub(p, &f);
        break;
    case BN_CLIENTS:
        report_clients(p, &f);
        break;
    }
    if (p->o->admin)
        bn_admin_kv(p->admin);
    printf(" complete=%d\n", !p->cut_short);
    fflush(stdout);
}

/* --clients-out: "<index> <client id> <disconnects> <reconnects> <lost>
 * <dups>" per client; lost as in the summary (what it published that its
 * receiver, the next client, never got), dups what it received twice; "-"
 * where a final report is missing. */
static void write_clients_out(parent_t *p)
{
    const bn_opts_t *o = p->o;
    for (uint32_t i = 0; p->cl && i < o->n; i++) {
        const cl_rec_t *k = &p->cl[i], *r = &p->cl[(i + 1) % o->n];
        char id[64];
        bn_clients_id(o, i, id, sizeof id);
        if (!k->seen) {
            fprintf(p->clients_out, "%u %s - - - -\n", i, id);
            continue;
        }
        fprintf(p->clients_out, "%u %s %u %u ", i, id, k->disconnects, k->reconnects);
        if (r->seen)
            fprintf(p->clients_out, "%u", k->sent > r->unique ? k->sent - r->unique : 0);
        else
            fputs("-", p->clients_out);
        fprintf(p->clients_out, " %u\n", k->dup);
    }
}

/* ---- processes ---- */

static int spawn(parent_t *p)
{
    for (uint32_t i = 0; i < p->W; i++) {
        int down[2], up[2];
        if (pipe(down) != 0 || pipe(up) != 0) {
            note(p, "pipe: %s", strerror(errno));
            return -1;
        }
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
            note(p, "fork: %s", strerror(errno));
            return -1;
        }
        if (pid == 0) {
            /* Keep only our own two ends. */
            for (uint32_t j = 0; j < i; j++) {
                close(p->ch[j].cmd_fd);
                close(p->ch[j].out_fd);
            }
            if (p->csv)
                fclose(p->csv); /* flushed before the fork: nothing written twice */
            if (p->events)
                fclose(p->events);
            if (p->clients_out)
                fclose(p->clients_out);
            close(down[1]);
            close(up[0]);
            _exit(bn_worker_main(p->o, i, p->W, down[0], up[1]));
        }
        close(down[0]);
        close(up[1]);
        child_t *c = &p->ch[i];
        /* The read end goes on the loop after the last fork: a child must
         * not inherit any libuv state. */
        *c = (child_t){.p = p, .index = i, .pid = pid, .cmd_fd = down[1], .out_fd = up[0]};
    }
    return 0;
}

static void reap(parent_t *p)
{
    uint64_t deadline = now_ms() + 5000;
    for (uint32_t i = 0; i < p->W; i++) {
        child_t *c = &p->ch[i];
        if (c->cmd_fd >= 0)
            close(c->cmd_fd);
        c->cmd_fd = -1;
        if (c->pid <= 0)
            continue;
        int st;
        while (waitpid(c->pid, &st, WNOHANG) == 0) {
            if (now_ms() > deadline) {
                kill(c->pid, SIGKILL);
                waitpid(c->pid, &st, 0);
                break;
            }
            usleep(10000);
        }
        c->pid = 0;
    }
}

int bn_parent_main(bn_opts_t *o)
{
    parent_t *p = calloc(1, sizeof *p);
    if (!p)
        return 2;
    p->o = o;
    p->W = o->workers;
    p->ch = calloc(p->W, sizeof *p->ch);
    p->lat = malloc(sizeof *p->lat);
    if (!p->ch || !p->lat)
        return 2;
    bn_hist_init(p->lat);
    if (o->mode == BN_PUBSUB) {
        p->pub_sent = calloc(o->pubs, sizeof *p->pub_sent);
        p->sub_unique = calloc(o->subs, sizeof *p->sub_unique);
        p->sub_dup = calloc(o->subs, sizeof *p->sub_dup);
        p->sub_reorder = calloc(o->subs, sizeof *p->sub_reorder);
        if (!p->pub_sent || !p->sub_unique || !p->sub_dup || !p->sub_reorder)
            return 2;
    } else if (o->mode == BN_CLIENTS) {
        p->cl = calloc(o->n, sizeof *p->cl);
        if (!p->cl)
            return 2;
    }
    if (o->csv && !(p->csv = fopen(o->csv, "w"))) {
        note(p, "cannot write %s: %s", o->csv, strerror(errno));
        return 2;
    }
    if (p->csv) {
        fprintf(p->csv, "t_s,connected,disconnects,reconnects,msgs_out,msgs_in,acked,unacked,"
                        "failed_attempts,latency_max_ms");
        for (uint32_t i = 0; i < o->n_admin; i++)
            fprintf(p->csv, ",conns_%u", i + 1); /* --admin URL order; the summary names them */
        fputc('\n', p->csv);
    }
    if (o->events && !(p->events = fopen(o->events, "w"))) {
        note(p, "cannot write %s: %s", o->events, strerror(errno));
        return 2;
    }
    if (o->clients_out && !(p->clients_out = fopen(o->clients_out, "w"))) {
        note(p, "cannot write %s: %s", o->clients_out, strerror(errno));
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    p->t0 = now_ms();
    if (spawn(p) != 0) {
        cut_short(p, "could not start the workers");
        reap(p);
        return 2;
    }
    if (o->admin) { /* after the fork: no curl state in the workers */
        char err[128];
        if (!(p->admin = bn_admin_new(o->admin_urls, o->n_admin, o->admin_token, err, sizeof err)))
            note(p, "--admin: %s; node figures will not be collected", err);
    }
    uv_loop_init(&p->loop);
    for (uint32_t i = 0; i < p->W; i++) {
        child_t *c = &p->ch[i];
        uv_pipe_init(&p->loop, &c->pipe, 0);
        c->pipe.data = c;
        uv_pipe_open(&c->pipe, c->out_fd);
        c->pipe_open = true;
        uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
    }
    uv_timer_init(&p->loop, &p->tick);
    p->tick.data = p;
    uv_timer_start(&p->tick, on_tick, TICK_MS, TICK_MS);
    uv_signal_init(&p->loop, &p->sig_int);
    uv_signal_init(&p->loop, &p->sig_term);
    p->sig_int.data = p->sig_term.data = p;
    uv_signal_start(&p->sig_int, on_signal, SIGINT);
    uv_signal_start(&p->sig_term, on_signal, SIGTERM);
    if (!o->quiet)
        note(p, "%s: %u clients, %u worker%s, run id %08x%s",
             o->mode == BN_CONN     ? "conn"
             : o->mode == BN_PUBSUB ? "pubsub"
                                    : "clients",
             bn_total_clients(o), p->W, p->W == 1 ? "" : "s", o->run_id,
             o->spread_on ? ", source addresses 127.0.0.2-201" : "");
    uv_run(&p->loop, UV_RUN_DEFAULT);
    uv_loop_close(&p->loop);
    reap(p);
    report(p);
    if (p->clients_out) {
        write_clients_out(p);
        if (fclose(p->clients_out) != 0)
            note(p, "writing %s: %s", o->clients_out, strerror(errno));
    }
    bn_admin_free(p->admin);
    if (p->csv)
        fclose(p->csv);
    if (p->events)
        fclose(p->events);
    int rc = p->cut_short ? 1 : 0;
    for (uint32_t i = 0; i < p->W; i++)
        free(p->ch[i].buf);
    free(p->ch);
    free(p->lat);
    free(p->pub_sent);
    free(p->sub_unique);
    free(p->sub_dup);
    free(p->sub_reorder);
    free(p->cl);
    free(p);
    return rc;
}
