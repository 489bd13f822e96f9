/*
 * Harness of the client tests: checks that print both values, a real ferrymq
 * child process on a free 127.0.0.1 port, and loop helpers whose every wait
 * is bounded.
 *
 * Ownership: th_t and th_broker_t live in the test's main(); th_broker_*
 * owns the child process it starts (th_broker_stop reaps it). Nothing here
 * is global: state travels in th_t.
 */
#ifndef FCL_TEST_HARNESS_H
#define FCL_TEST_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

typedef struct th_broker {
    pid_t pid; /* 0 when not running */
    uint16_t port;
    char log[128];
} th_broker_t;

#define TH_MAX_PEERS 2

typedef struct th {
    int passed, failed;
    th_broker_t broker; /* the test program's broker, when it uses one (node n1 of a cluster) */
    th_broker_t peers[TH_MAX_PEERS]; /* the other nodes of a cluster: n2, n3 */
    size_t n_peers;
    const char *ferrymq; /* the broker binary (argv[1]) */
    char dir[64];        /* scratch directory: broker logs and data */
    const char *current; /* name of the running test, for failure messages */
} th_t;

bool th_check(th_t *t, bool ok, const char *expr, const char *file, int line);
bool th_check_eq(th_t *t, long long a, long long b, const char *ea, const char *eb,
                 const char *file, int line);
bool th_check_str(th_t *t, const char *a, const char *b, const char *ea, const char *eb,
                  const char *file, int line);
#define CHECK(t, e) th_check((t), (e), #e, __FILE__, __LINE__)
#define CHECK_EQ(t, a, b)                                                                          \
    th_check_eq((t), (long long)(a), (long long)(b), #a, #b, __FILE__, __LINE__)
#define CHECK_STR(t, a, b) th_check_str((t), (a), (b), #a, #b, __FILE__, __LINE__)

/* Reads argv[1] (the ferrymq path) and makes the scratch directory. */
int th_init(th_t *t, int argc, char **argv);
/* Runs one test function with a fresh loop, then checks the loop closes
 * with no handle left open (every client freed, every socket closed). */
void th_run(th_t *t, const char *name, void (*fn)(th_t *t, uv_loop_t *loop));
/* Prints "N passed, N failed", removes the scratch directory; exit status. */
int th_summary(th_t *t);

typedef struct th_case {
    const char *name;
    void (*fn)(th_t *t, uv_loop_t *loop);
} th_case_t;

/* A test executable's whole main(): starts one ferrymq (with `extra` flags,
 * NULL-terminated, or NULL), runs the cases, stops it with SIGTERM and checks
 * it exits 0, prints the broker log when anything failed; exit status. */
int th_main(int argc, char **argv, const char *const *extra, const th_case_t *cases, size_t n);

/* A loopback port nothing listens on right now. */
uint16_t th_free_port(void);
/* Starts ferrymq on `port` (0: a free one) with `extra` flags (NULL-ended,
 * may be NULL) and waits until it accepts. 0, or -1 with a message. */
int th_broker_start(th_t *t, th_broker_t *b, uint16_t port, const char *const *extra);
/* Sends `sig` and reaps the child (SIGKILL after 5 s). Returns its wait status. */
int th_broker_stop(th_broker_t *b, int sig);
/* Prints the broker log to stderr (after a failure). */
void th_broker_dump(const th_broker_t *b);
/* Waits until the broker's log contains `needle`; true when it did. */
bool th_log_wait(const th_broker_t *b, const char *needle, int timeout_ms);
/* Starts a cluster of 1 + n_peers nodes (n1 in t->broker, the others in
 * t->peers), each with `extra` flags, on free ports, seeded by n1, and waits
 * until every node has synced with every other. 0, or -1 with a message. */
int th_cluster_start(th_t *t, size_t n_peers, const char *const *extra);
/* Stops every node with SIGTERM and checks each exits 0; dumps the logs
 * when anything failed. */
void th_cluster_stop(th_t *t);

/* Runs the loop until *v >= want or timeout_ms; true when reached. */
bool th_wait_int(uv_loop_t *loop, const int *v, int want, int timeout_ms);
/* Runs the loop for ms milliseconds. */
void th_run_for(uv_loop_t *loop, int ms);
/* Closes a handle the caller owns (on its stack, say) and runs the loop
 * until its close callback ran, so the memory may go away. */
void th_close(uv_loop_t *loop, uv_handle_t *h);
/* Monotonic milliseconds. */
uint64_t th_now_ms(void);
#endif

/* ---- a client whose callbacks record what happened ---- */
#include "client/client.h"

#define TH_MAX_EVENTS 64

typedef struct th_probe {
    int connects, refusals, disconnects, messages, published, subscribed, unsubscribed;
    bool session_present;
    uint8_t refusal;
    /* every on_disconnect, in order */
    fcl_disconnect_info_t disc[TH_MAX_EVENTS];
    uint64_t disc_at_ms[TH_MAX_EVENTS];
    uint64_t connect_at_ms;
    /* messages: payloads "<n>" are checked to arrive as 0, 1, 2... */
    int in_order;
    uint8_t last_qos;
    bool last_dup;
    char last_topic[128];
    size_t last_len;
    uint8_t last_payload[256];
    uint32_t payload_sum; /* byte sum of every payload, for big ones */
    uint8_t sub_codes[8], unsub_codes[8];
    size_t n_unsub_codes;
    uint8_t pub_reason;
    char server_ref[128]; /* Server Reference of the last on_disconnect that had one */
} th_probe_t;

/* Options with the probe's callbacks, v5, no reconnect. */
fcl_opts_t th_opts(th_probe_t *p, uint16_t port, const char *client_id);
/* Subscribes to one filter and waits for the SUBACK; true when granted. */
bool th_subscribe(uv_loop_t *loop, fcl_client_t *c, th_probe_t *p, const char *filter, uint8_t qos);
