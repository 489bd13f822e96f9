/*
 * ferrybench internals: options, the worker runtime that each mode plugs
 * into, and the line protocol between workers and the parent (README.md
 * has the protocol table).
 *
 * Process model: the parent parses options, forks W workers, and only then
 * creates its own loop; each worker runs one libuv loop with its share of
 * the clients (global index i belongs to worker i % W). Ownership: the
 * parent owns bn_opts_t; a worker owns its bn_worker_t, its mode state and
 * every client in it, and frees them before it exits.
 */
#ifndef BN_BENCH_H
#define BN_BENCH_H

#include "bench/hist.h"
#include "bench/seq.h"
#include "client/client.h"

#include <stdio.h>

typedef enum { BN_CONN, BN_PUBSUB, BN_CLIENTS } bn_mode_t;
typedef enum { BN_PAIRS, BN_ALL } bn_pattern_t;
typedef enum { BN_SPREAD_AUTO, BN_SPREAD_ON, BN_SPREAD_OFF } bn_spread_t;

#define BN_MAX_WORKERS 64
#define BN_SOCKETS_PER_WORKER 9000 /* well under the 20,000 open files a process may hold */
#define BN_SRC_ADDRS 200           /* 127.0.0.2 ... 127.0.0.201 */
#define BN_MAX_ADDRS 16            /* entries of --host, --port, --sub-host, --sub-port */

typedef struct bn_opts {
    bn_mode_t mode;
    /* Broker addresses, used round-robin: client (or publisher) i connects to
     * hosts[i % n_hosts]:ports[i % n_ports], pubsub subscriber i to the
     * sub_ lists (by default the same). The strings live as long as the
     * process. */
    const char *hosts[BN_MAX_ADDRS], *sub_hosts[BN_MAX_ADDRS];
    uint16_t ports[BN_MAX_ADDRS], sub_ports[BN_MAX_ADDRS];
    uint32_t n_hosts, n_ports, n_sub_hosts, n_sub_ports;
    const char *host_arg, *port_arg, *sub_host_arg, *sub_port_arg; /* as given, for reports */
    char *host_copies[2]; /* what hosts[] and sub_hosts[] point into (main frees them) */
    uint8_t version;
    uint32_t workers;  /* 0 = derived from the socket count */
    double duration_s; /* connect / publish phase */
    double setup_s;    /* longest wait for the clients to be ready */
    double max_time_s; /* hard wall-clock cap of the whole run (0 = derived) */
    bn_spread_t spread;
    bool spread_on; /* resolved */
    uint16_t keep_alive;
    char id_prefix[40];
    bool quiet;
    uint32_t run_id;
    /* conn */
    uint32_t n;
    double rate;          /* conn: connects/s in total; pubsub, clients: msgs/s per publisher */
    uint32_t concurrency; /* conn: outstanding connects per worker */
    double hold_s;
    int watch_pid;
    /* pubsub */
    uint32_t pubs, subs;
    bn_pattern_t pattern;
    uint8_t qos;
    uint32_t payload;
    uint64_t count; /* per publisher; 0 = until the duration ends */
    double drain_s;
    uint32_t window_bytes; /* QoS 0 at full speed: unsent bytes per publisher */
    uint32_t window_msgs;  /* full speed: messages not yet received end to end */
    /* clients */
    double connect_rate; /* clients: connects/s in total during setup */
    uint32_t session_expiry;
    fcl_reconnect_policy_t reconnect;
    double takeover_at_s; /* clients: live takeover this far into the run; < 0 = none */
    double takeover_frac; /* ... by this fraction of the clients (spread evenly) */
    const char *csv, *events, *admin;
    /* --admin (admin: the list as given): node admin endpoints (http:// or
     * https:// base URLs), polled by the parent (admin.c); pointers into
     * admin_copy (main frees it). */
    const char *admin_urls[BN_MAX_ADDRS];
    uint32_t n_admin;
    char *admin_copy;
    const char *admin_token; /* --admin-token, else FERRYMQ_ADMIN_TOKEN, else NULL */
    const char *clients_out; /* clients: one line per client at the end */
} bn_opts_t;

/* main.c */
int bn_opts_parse(bn_opts_t *o, int argc, char **argv);
uint32_t bn_total_clients(const bn_opts_t *o);

/* ---- worker -> parent lines (buffered, blocking writes) ---- */
typedef struct bn_out {
    int fd;
    size_t len;
    char buf[1 << 16];
} bn_out_t;

void bn_out_printf(bn_out_t *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bn_out_hist(bn_out_t *out, const char *name, const bn_hist_t *h);
void bn_out_flush(bn_out_t *out);

/* ---- the worker runtime ---- */
typedef struct bn_worker bn_worker_t;

/* What a mode does in a worker. Every callback runs on the worker's loop. */
typedef struct bn_mode_ops {
    /* Creates the mode's state and clients; calls bn_worker_ready once all
     * are ready (at once, or later from a callback). 0 or -1. */
    int (*setup)(bn_worker_t *w);
    void (*go)(bn_worker_t *w);   /* the measured phase starts */
    void (*stop)(bn_worker_t *w); /* publishing ends (pubsub, clients) */
    /* Appends " key=value" pairs of cumulative counters to a T line. */
    void (*stats)(bn_worker_t *w, bn_out_t *out);
    /* Writes the final lines, then stops and frees every client. */
    void (*finish)(bn_worker_t *w, bn_out_t *out);
} bn_mode_ops_t;

extern const bn_mode_ops_t bn_conn_ops, bn_pubsub_ops, bn_clients_ops;

struct bn_worker {
    uv_loop_t loop;
    const bn_opts_t *o;
    uint32_t index, count; /* this worker, of how many */
    bn_out_t *out;
    uv_pipe_t cmd;
    char cmd_buf[256];
    size_t cmd_len;
    uv_timer_t stats_timer;
    uv_timer_t grace; /* bounds the wait for clients to close */
    const bn_mode_ops_t *ops;
    void *mode; /* the mode's state */
    bool ready, going, stopped, finished;
    uint64_t go_ns;
};

int bn_worker_main(const bn_opts_t *o, uint32_t index, uint32_t count, int cmd_fd, int out_fd);
/* Sends "R" with optional " k=v" pairs. Once. */
void bn_worker_ready(bn_worker_t *w, const char *kv);
/* Sends a line now (and flushes). */
void bn_worker_line(bn_worker_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* How many of the global indices 0..n-1 belong to this worker, and the
 * global index of its local one. */
uint32_t bn_worker_share(const bn_worker_t *w, uint32_t n);
uint32_t bn_worker_global(const bn_worker_t *w, uint32_t local);
/* Client options common to every mode: address, version, keep alive, source
 * address (written into src, which must outlive fcl_client_new), id. */
fcl_opts_t bn_client_opts(const bn_worker_t *w, uint32_t global, char *src, size_t srclen, char *id,
                          size_t idlen, const char *kind);
/* The broker address of client (or publisher) i, or of subscriber i when
 * `sub` (pubsub), round-robin over the lists. */
void bn_addr(const bn_opts_t *o, bool sub, uint32_t i, const char **host, uint16_t *port);
/* Milliseconds since "go" (0 before). */
uint64_t bn_worker_ms(const bn_worker_t *w);

/* The client id of global client i in clients mode ("<prefix>-k<i>"), as
 * the broker sees it in CONNECT. */
void bn_clients_id(const bn_opts_t *o, uint32_t i, char *buf, size_t len);

/* parent.c */
int bn_parent_main(bn_opts_t *o);
#endif
