/*
 * The eviction rate limiter and the "auto" rate controller. Pure: the
 * caller passes the clock (microseconds, monotonic), so tests drive them
 * with any clock they like.
 *
 * The limiter paces events evenly (event k is due at start + k/rate, never
 * a burst at the top of a second) and, whatever the caller's timer does,
 * never lets more than `rate` events into any one-second window: it keeps
 * the times of the last events and refuses one that would make a window
 * hold rate + 1. A caller that falls behind catches up by at most 100 ms
 * of events.
 *
 * Ownership: fe_limiter_init allocates the window ring (for rates up to
 * `max_rate`); fe_limiter_free releases it.
 */
#ifndef FE_LIMITER_H
#define FE_LIMITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fe_limiter {
    uint32_t rate; /* events per second now, 1..max_rate */
    uint32_t max_rate;
    uint64_t start_us;      /* pacing origin for the current rate */
    uint64_t k;             /* events granted since start_us */
    uint64_t *ring;         /* times of the last max_rate events */
    uint32_t head, n;       /* ring: next slot, entries held */
    uint32_t max_in_window; /* most events seen in any one-second window */
    uint64_t granted;       /* events granted in all */
} fe_limiter_t;

/* Returns 0, or -1 on ENOMEM. rate and max_rate are clamped to >= 1. */
int fe_limiter_init(fe_limiter_t *l, uint32_t rate, uint32_t max_rate, uint64_t now_us);
void fe_limiter_free(fe_limiter_t *l);
/* A new rate (clamped to 1..max_rate); pacing restarts from now. */
void fe_limiter_set_rate(fe_limiter_t *l, uint32_t rate, uint64_t now_us);
/* Grants up to `want` events now and records them. */
uint32_t fe_limiter_take(fe_limiter_t *l, uint64_t now_us, uint32_t want);
/* Events recorded in the window (now - 1 s, now]. */
uint32_t fe_limiter_in_window(const fe_limiter_t *l, uint64_t now_us);

/*
 * "auto": additive increase, multiplicative decrease on what the receiving
 * nodes report each second (their CONNECT-to-CONNACK time and the
 * connections still waiting for a CONNACK). See docs/architecture.md.
 */
typedef struct fe_auto_sample {
    uint32_t connack_count, connack_mean_ms, connack_max_ms, pending_connects;
} fe_auto_sample_t;

typedef struct fe_auto {
    uint32_t rate, floor, ceiling;
    uint32_t target_ms; /* CONNACK time the receivers should stay under */
    uint32_t decreases, increases;
} fe_auto_t;

void fe_auto_init(fe_auto_t *a, uint32_t ceiling, uint32_t target_ms);
/* One step, once a second, on the receivers' reports of the last second.
 * Returns the new rate. */
uint32_t fe_auto_step(fe_auto_t *a, const fe_auto_sample_t *s, size_t n);
#endif
