/* The worker runtime: one libuv loop, the command pipe from the parent
 * ("go", "stop", "finish"), a T line of counters every 250 ms, and the
 * helpers the modes share. A worker whose parent goes away (EOF on the
 * command pipe) closes its clients and exits: nothing outlives the run. */
#include "bench/bench.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATS_MS 250
#define EXIT_GRACE_MS 10000 /* longest wait for clients to close after finish */

void bn_out_flush(bn_out_t *out)
{
    size_t off = 0;
    while (off < out->len) {
        ssize_t n = write(out->fd, out->buf + off, out->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            _exit(3); /* the parent is gone: nobody to report to */
        off += (size_t)n;
    }
    out->len = 0;
}

void bn_out_printf(bn_out_t *out, const char *fmt, ...)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = sizeof out->buf - out->len;
        int n = vsnprintf(out->buf + out->len, room, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < room) {
            out->len += (size_t)n;
            return;
        }
        bn_out_flush(out); /* and try again with an empty buffer */
    }
}

void bn_out_hist(bn_out_t *out, const char *name, const bn_hist_t *h)
{
    size_t need = bn_hist_format(h, NULL, 0) + strlen(name) + 4;
    if (need > sizeof out->buf - out->len)
        bn_out_flush(out);
    if (need > sizeof out->buf)
        return; /* cannot happen: 3,776 buckets fit */
    out->len += (size_t)snprintf(out->buf + out->len, sizeof out->buf - out->len, "H %s ", name);
    out->len += bn_hist_format(h, out->buf + out->len, sizeof out->buf - out->len);
    out->buf[out->len++] = '\n';
}

void bn_worker_line(bn_worker_t *w, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    bn_out_printf(w->out, "%s\n", line);
    bn_out_flush(w->out);
}

void bn_worker_ready(bn_worker_t *w, const char *kv)
{
    if (w->ready)
        return;
    w->ready = true;
    bn_worker_line(w, "R%s", kv ? kv : "");
}

uint32_t bn_worker_share(const bn_worker_t *w, uint32_t n)
{
    return n > w->index ? (n - w->index + w->count - 1) / w->count : 0;
}

uint32_t bn_worker_global(const bn_worker_t *w, uint32_t local)
{
    return local * w->count + w->index;
}

uint64_t bn_worker_ms(const bn_worker_t *w)
{
    return w->go_ns ? (bn_now_ns() - w->go_ns) / 1000000 : 0;
}

void bn_addr(const bn_opts_t *o, bool sub, uint32_t i, const char **host, uint16_t *port)
{
    if (sub) {
        *host = o->sub_hosts[i % o->n_sub_hosts];
        *port = o->sub_ports[i % o->n_sub_ports];
    } else {
        *host = o->hosts[i % o->n_hosts];
        *port = o->ports[i % o->n_ports];
    }
}

fcl_opts_t bn_client_opts(const bn_worker_t *w, uint32_t global, char *src, size_t srclen, char *id,
                          size_t idlen, const char *kind)
{
    const bn_opts_t *o = w->o;
    const char *host;
    uint16_t port;
    bn_addr(o, o->mode == BN_PUBSUB && strcmp(kind, "s") == 0, global, &host, &port);
    fcl_opts_t co = {.host = host,
                     .port = port,
                     .version = o->version,
                     .keep_alive = o->keep_alive,
                     .connect_timeout_ms = 15000};
    if (o->spread_on) {
        /* Each source address has its own ~28k ephemeral ports. */
        snprintf(src, srclen, "127.0.0.%u", 2 + global % BN_SRC_ADDRS);
        co.bind_addr = src;
    }
    snprintf(id, idlen, "%s-%s%u", o->id_prefix, kind, global);
    co.client_id = id;
    return co;
}

void bn_clients_id(const bn_opts_t *o, uint32_t i, char *buf, size_t len)
{
    snprintf(buf, len, "%s-k%u", o->id_prefix, i); /* kind "k": clients.c start_one */
}

/* ---- commands ---- */

static void worker_close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void on_grace(uv_timer_t *t)
{
    /* Clients that did not close in time: close whatever is left. */
    uv_walk(t->loop, worker_close_walk, NULL);
}

static void finish(bn_worker_t *w)
{
    if (w->finished)
        return;
    w->finished = true;
    w->ops->finish(w, w->out);
    bn_out_printf(w->out, "E\n");
    bn_out_flush(w->out);
    uv_timer_stop(&w->stats_timer);
    uv_close((uv_handle_t *)&w->stats_timer, NULL);
    uv_close((uv_handle_t *)&w->cmd, NULL);
    /* Unreferenced: it fires only if the clients keep the loop alive. */
    uv_timer_init(&w->loop, &w->grace);
    uv_timer_start(&w->grace, on_grace, EXIT_GRACE_MS, 0);
    uv_unref((uv_handle_t *)&w->grace);
}

static void command(bn_worker_t *w, const char *line)
{
    if (strcmp(line, "go") == 0 && !w->going) {
        w->going = true;
        w->go_ns = bn_now_ns();
        w->ops->go(w);
    } else if (strcmp(line, "stop") == 0 && w->going && !w->stopped) {
        w->stopped = true;
        w->ops->stop(w);
    } else if (strcmp(line, "finish") == 0) {
        if (w->going && !w->stopped) {
            w->stopped = true;
            w->ops->stop(w);
        }
        finish(w);
    }
}

static void cmd_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf)
{
    (void)sz;
    bn_worker_t *w = h->data;
    *buf = uv_buf_init(w->cmd_buf + w->cmd_len, (unsigned)(sizeof w->cmd_buf - w->cmd_len - 1));
}

static void cmd_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    bn_worker_t *w = s->data;
    if (n < 0)
        _exit(3); /* the parent is gone: the kernel closes our sockets */
    w->cmd_len += (size_t)n;
    w->cmd_buf[w->cmd_len] = 0;
    char *nl;
    while (!w->finished && (nl = strchr(w->cmd_buf, '\n'))) {
        *nl = 0;
        command(w, w->cmd_buf);
        size_t used = (size_t)(nl + 1 - w->cmd_buf);
        memmove(w->cmd_buf, nl + 1, w->cmd_len - used + 1);
        w->cmd_len -= used;
    }
    if (w->cmd_len >= sizeof w->cmd_buf - 1)
        w->cmd_len = 0; /* garbage: no command is that long */
}

static void on_stats(uv_timer_t *t)
{
    bn_worker_t *w = t->data;
    bn_out_printf(w->out, "T ms=%llu", (unsigned long long)bn_worker_ms(w));
    w->ops->stats(w, w->out);
    bn_out_printf(w->out, "\n");
    bn_out_flush(w->out);
}

int bn_worker_main(const bn_opts_t *o, uint32_t index, uint32_t count, int cmd_fd, int out_fd)
{
    /* Ctrl-C reaches the whole process group: the parent decides. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    bn_worker_t *w = calloc(1, sizeof *w);
    bn_out_t *out = malloc(sizeof *out);
    if (!w || !out)
        return 1;
    out->fd = out_fd;
    out->len = 0;
    w->o = o;
    w->index = index;
    w->count = count;
    w->out = out;
    w->ops = o->mode == BN_CONN     ? &bn_conn_ops
             : o->mode == BN_PUBSUB ? &bn_pubsub_ops
                                    : &bn_clients_ops;
    uv_loop_init(&w->loop);
    uv_pipe_init(&w->loop, &w->cmd, 0);
    w->cmd.data = w;
    uv_pipe_open(&w->cmd, cmd_fd);
    uv_read_start((uv_stream_t *)&w->cmd, cmd_alloc, cmd_read);
    uv_timer_init(&w->loop, &w->stats_timer);
    w->stats_timer.data = w;
    uv_timer_start(&w->stats_timer, on_stats, STATS_MS, STATS_MS);
    int rc = 0;
    if (w->ops->setup(w) != 0) {
        bn_worker_line(w, "W worker %u: setup failed (out of memory?)", index);
        rc = 1;
        finish(w);
    }
    uv_run(&w->loop, UV_RUN_DEFAULT);
    /* The grace timer, when it never fired, is the only handle left. */
    uv_walk(&w->loop, worker_close_walk, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_loop_close(&w->loop);
    bn_out_flush(out);
    free(out);
    free(w);
    return rc;
}
