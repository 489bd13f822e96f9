/*
 * lb_int.h: internals of the load balancers (lb.h), shared by lb.c,
 * lb_haproxy.c, lb_kernel.c and netns.c. Not an interface: nothing outside
 * the ferrylb library includes it.
 *
 * Ownership: a handle owns copies of every string of its fo_lb_config_t
 * (malloc'd by fo_lb_open, freed by fo_lb__free). fo_lb__run returns its
 * output in a buffer the caller frees.
 */
#ifndef FO_LB_INT_H
#define FO_LB_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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

/* The message every root-only failure of the kernel balancer starts with. */
#define FO_LB__NEED_ROOT "the kernel load balancer needs root (network namespaces and nftables)"

#endif /* FO_LB_INT_H */
