/*
 * lb_int.h: internals of the load balancers (lb.h), shared by lb.c,
 * lb_haproxy.c, lb_kernel.c and netns.c. Not an interface: nothing outside
 * the ferrylb library includes it.
 *
 * Ownership: a handle owns copies of every string of its fo_lb_config_t
 * (malloc'd by fo_lb_open, freed by fo_lb__free). fo_lb__run returns its
 * output in a buffer the caller frees. The parsers of the tools' answers
 * (fo_lb__hx_parse_*, fo_lb__nft_parse_dnat) are pure: they read the bytes
 * they are given (not NUL-terminated) and write only into the caller's
 * structures; nothing they return borrows from the input.
 */
#ifndef FO_LB_INT_H
#define FO_LB_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/types.h>

#include "operator/lb.h"

#define FO_LB__NAME_MAX 127u          /* node and cluster names, bytes (observed name[128]) */
#define FO_LB__TABLE_MAX 96u          /* "ferry_" and the sanitised cluster name */
#define FO_LB__RUN_OUT_MAX (4u << 20) /* output kept from a child (nft -j, haproxy -c) */

struct fo_lb {
    fo_lb_t kind;
    char *dir; /* haproxy: required; kernel: unused (may be NULL) */
    char *name;
    char *service_host;
    uint16_t service_port;
    char *haproxy;
    uint32_t maxconn;
    bool leastconn;
    uint32_t check_ms;
    char *netns; /* NULL when not given: messages say "this namespace" */

    /* haproxy: derived from dir */
    char cfg_path[PATH_MAX];
    char pid_path[PATH_MAX];
    char log_path[PATH_MAX];
    char sock_path[108]; /* sizeof sockaddr_un.sun_path */
    pid_t pid;           /* the process we started or adopted; 0: unknown */

    /* kernel */
    char table[FO_LB__TABLE_MAX + 1]; /* "ferry_<name>", [a-z0-9_] */
};

/* Formats a one-line message into err (newlines become spaces) and returns
 * -1, so that `return fo_lb__fail(...)` reads naturally. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int fo_lb__fail(char *err, size_t errlen, const char *fmt, ...);

/* Copies at most `shown` bytes of the tail of src into dst as one line:
 * runs of line breaks become " | ", other control bytes '?', surrounding
 * blanks trimmed. For quoting a tool's multi-line output in a message. */
void fo_lb__squash(char *dst, size_t dstlen, const char *src, size_t shown);

/* Runs argv (argv[0] absolute, or a name looked up in PATH, then /usr/sbin
 * and /sbin) with `input` on stdin (NULL: /dev/null) and its stdout and
 * stderr collected into *out (malloc'd, NUL-terminated, the caller frees;
 * may be NULL). Kills it after timeout_ms. Returns its exit status 0..255,
 * or -1 with err when it could not be run, died of a signal or timed out. */
int fo_lb__run(const char *const argv[], const char *input, int timeout_ms, char **out, char *err,
               size_t errlen);

/* [A-Za-z0-9_.-], 1..max bytes: safe inside haproxy commands, nft quoted
 * strings and file names. */
bool fo_lb__valid_name(const char *s, size_t max);

/* A numeric dotted-quad IPv4 address. */
bool fo_lb__valid_ipv4(const char *s);

int64_t fo_lb__now_ms(void);
void fo_lb__sleep_ms(int ms);

/* The two kinds. open fills the kind's own fields of an allocated handle;
 * destroy does not free it (fo_lb_destroy does). */
int fo_lb__haproxy_open(fo_lb_handle_t *lb, char *err, size_t errlen);
int fo_lb__haproxy_set(fo_lb_handle_t *lb, const fo_lb_backend_t *b, size_t n, char *err,
                       size_t errlen);
int fo_lb__haproxy_observe(fo_lb_handle_t *lb, fo_lb_observed_t *out, char *err, size_t errlen);
int fo_lb__haproxy_destroy(fo_lb_handle_t *lb, char *err, size_t errlen);

int fo_lb__kernel_open(fo_lb_handle_t *lb, char *err, size_t errlen);
int fo_lb__kernel_set(fo_lb_handle_t *lb, const fo_lb_backend_t *b, size_t n, char *err,
                      size_t errlen);
int fo_lb__kernel_observe(fo_lb_handle_t *lb, fo_lb_observed_t *out, char *err, size_t errlen);
int fo_lb__kernel_destroy(fo_lb_handle_t *lb, char *err, size_t errlen);

/* ---- parsing the tools' answers (pure: no I/O, no allocation) ---- */

#define FO_LB__HX_ANSWER_MAX (8u << 20) /* bytes of one runtime API answer */
#define FO_LB__HX_SERVERS_MAX 1024u     /* servers in one backend's answer */

/* A server as haproxy 2.6's `show servers state <be>` (and, for scur,
 * `show stat <be> 4 -1`) describes it. */
typedef struct fo_lb__hx_server {
    char name[FO_LB__NAME_MAX + 1]; /* 1..FO_LB__NAME_MAX of '!'..'~' */
    struct in_addr addr;            /* srv_addr; 0.0.0.0 when not an IPv4 address */
    unsigned port, check_port;      /* 0..65535 */
    int op_state, admin_state, check_result, check_state; /* 0..INT_MAX */
    int64_t scur; /* current sessions: 0 until fo_lb__hx_parse_stat sets it */
} fo_lb__hx_server_t;

/* Parses the answer to `show servers state <backend>`: the line "1", a
 * "# " header naming the columns (single spaces), one row per server with
 * exactly as many fields, and the empty line that ends every answer;
 * nothing after it. Fills out[0..*n) (cap entries at most), scur 0.
 * Refused (-1, one line in err, *n 0): anything else, including a truncated
 * answer, a row that is not all numbers where numbers go, a name longer than
 * FO_LB__NAME_MAX or with a blank or control byte, a name twice, more than
 * cap servers, len > FO_LB__HX_ANSWER_MAX. `backend` only names the command
 * in messages. */
int fo_lb__hx_parse_servers_state(const char *text, size_t len, const char *backend,
                                  fo_lb__hx_server_t *out, size_t cap, size_t *n, char *err,
                                  size_t errlen);

/* Parses the answer to `show stat <backend> 4 -1` (CSV: a "# " header, rows,
 * the empty line) and sets scur of the servers in s[0..n) that it lists for
 * proxy `backend`. Rows of other proxies and of servers not in s (added
 * since) are skipped; a server without a row keeps its scur. Refused (-1,
 * err, s unchanged): no header or no pxname/svname/scur column, a row of
 * `backend` with another field count than the header or a scur that is not
 * a decimal number, a server listed twice, a truncated answer, len >
 * FO_LB__HX_ANSWER_MAX, n > FO_LB__HX_SERVERS_MAX. */
int fo_lb__hx_parse_stat(const char *text, size_t len, const char *backend, fo_lb__hx_server_t *s,
                         size_t n, char *err, size_t errlen);

/* One element of the kernel balancer's dnat map, as `nft -j list table ip
 * <table>` shows it: [{"elem": {"val": key, "comment": name}}, {"concat":
 * [addr, port]}] (or a bare key without the comment). */
typedef struct fo_lb__nft_target {
    char name[FO_LB__NAME_MAX + 1]; /* the comment; "addr:port" when there is none */
    char addr[INET_ADDRSTRLEN];     /* a dotted quad */
    uint16_t port;                  /* 1..65535 */
    uint32_t key;                   /* the numgen value mapped to it */
} fo_lb__nft_target_t;

typedef struct fo_lb__nft_dnat {
    size_t n;
    fo_lb__nft_target_t t[FO_LB_MAX_BACKENDS];
} fo_lb__nft_dnat_t;

/* Parses nft's JSON listing of one table (at most FO_LB__RUN_OUT_MAX bytes,
 * jansson, duplicate keys refused) and collects, in order, the elements of
 * every dnat map in the rules of chain "svc"; other rules, and dnat without
 * a map, are skipped. Refused (-1, err, out->n 0): not {"nftables": [...]},
 * an element that is not [key, {"concat": [IPv4, 1..65535]}], a comment that
 * is not 1..FO_LB__NAME_MAX of '!'..'~', more than FO_LB_MAX_BACKENDS. */
int fo_lb__nft_parse_dnat(const char *text, size_t len, fo_lb__nft_dnat_t *out, char *err,
                          size_t errlen);

/* The message every root-only failure of the kernel balancer starts with. */
#define FO_LB__NEED_ROOT "the kernel load balancer needs root (network namespaces and nftables)"

#endif /* FO_LB_INT_H */
