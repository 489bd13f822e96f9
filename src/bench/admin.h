/*
 * The parent's poller of the nodes' admin API (--admin): in rounds, one
 * `GET <url>/api/v1/node` per node over libcurl's multi interface, driven
 * from the parent's 100 ms tick without ever waiting (curl_multi_perform
 * only). A round opens half a second before a progress tick and closes at
 * it: a node that has not answered by then is unknown for that second
 * (its request is dropped), never given a figure. Only the rounds opened
 * while the clients run ("recorded") count in the summary.
 *
 * Parent process only, created after the workers are forked (no curl
 * state crosses a fork). Ownership: the URL and token strings are borrowed
 * (they live as long as the options); bn_admin_free frees the rest.
 */
#ifndef BN_ADMIN_H
#define BN_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BN_ADMIN_UNKNOWN (-1)

typedef struct bn_admin bn_admin_t;

/* NULL with a message in err when curl cannot be set up. */
bn_admin_t *bn_admin_new(const char *const *urls, uint32_t n, const char *token, char *err,
                         size_t errlen);
void bn_admin_free(bn_admin_t *a);

/* Moves the transfers on and takes in the answers; never waits. */
void bn_admin_step(bn_admin_t *a);
/* Opens a round (t_s: seconds since go, for the report); a round still
 * open is closed first. */
void bn_admin_round_start(bn_admin_t *a, bool record, double t_s);
/* Closes the open round (if any): the answers are taken in, the rest is
 * unknown. With `cut` (the run ends) the unanswered requests are dropped
 * without counting as failures. */
void bn_admin_round_end(bn_admin_t *a, bool cut);

uint32_t bn_admin_count(const bn_admin_t *a);
/* Node i's connections in the last closed round, or BN_ADMIN_UNKNOWN. */
int64_t bn_admin_conns(const bn_admin_t *a, uint32_t i);

/* Summary lines (two-space indent, as the reports) and the " k=v" pairs of
 * the key=value line, on stdout. `a` may be NULL (set-up failed). */
void bn_admin_summary(const bn_admin_t *a, const char *const *urls, uint32_t n);
void bn_admin_kv(const bn_admin_t *a);
#endif
