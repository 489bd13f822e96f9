/* The eviction rate limiter and the auto-rate controller (limiter.h). */
#include "evac/limiter.h"

#include <stdlib.h>

#define US_PER_S 1000000u
#define CATCH_UP_US 100000u /* a late caller catches up by at most this much */

int fe_limiter_init(fe_limiter_t *l, uint32_t rate, uint32_t max_rate, uint64_t now_us)
{
    *l = (fe_limiter_t){0};
    l->max_rate = max_rate ? max_rate : 1;
    if (rate > l->max_rate)
        l->max_rate = rate;
    l->ring = calloc(l->max_rate, sizeof *l->ring);
    if (!l->ring)
        return -1;
    fe_limiter_set_rate(l, rate, now_us);
    return 0;
}

void fe_limiter_free(fe_limiter_t *l)
{
    free(l->ring);
    l->ring = NULL;
}

void fe_limiter_set_rate(fe_limiter_t *l, uint32_t rate, uint64_t now_us)
{
    l->rate = rate < 1 ? 1 : rate > l->max_rate ? l->max_rate : rate;
    l->start_us = now_us;
    l->k = 0;
}

/* The time of the i-th most recent event (i = 0: the last). */
static uint64_t recent(const fe_limiter_t *l, uint32_t i)
{
    uint32_t idx = (l->head + l->max_rate - 1 - i) % l->max_rate;
    return l->ring[idx];
}

uint32_t fe_limiter_in_window(const fe_limiter_t *l, uint64_t now_us)
{
    uint32_t c = 0;
    while (c < l->n && recent(l, c) + US_PER_S > now_us)
        c++;
    return c;
}

uint32_t fe_limiter_take(fe_limiter_t *l, uint64_t now_us, uint32_t want)
{
    uint32_t got = 0;
    /* Do not bank more than CATCH_UP_US worth of missed slots. */
    uint64_t floor_us = now_us > CATCH_UP_US ? now_us - CATCH_UP_US : 0;
    uint64_t due = l->start_us + l->k * US_PER_S / l->rate;
    if (due < floor_us) {
        l->start_us = floor_us;
        l->k = 0;
    }
    while (got < want) {
        due = l->start_us + l->k * US_PER_S / l->rate;
        if (due > now_us)
            break;
        /* The rate-th most recent event must have left the window. */
        if (l->n >= l->rate && recent(l, l->rate - 1) + US_PER_S > now_us)
            break;
        l->ring[l->head] = now_us;
        l->head = (l->head + 1) % l->max_rate;
        if (l->n < l->max_rate)
            l->n++;
        l->k++;
        l->granted++;
        got++;
    }
    if (got) {
        uint32_t w = fe_limiter_in_window(l, now_us);
        if (w > l->max_in_window)
            l->max_in_window = w;
    }
    return got;
}

void fe_auto_init(fe_auto_t *a, uint32_t ceiling, uint32_t target_ms)
{
    *a = (fe_auto_t){0};
    a->ceiling = ceiling ? ceiling : 1;
    a->floor = a->ceiling < 10 ? a->ceiling : 10;
    a->target_ms = target_ms ? target_ms : 1;
    a->rate = a->ceiling / 10 > a->floor ? a->ceiling / 10 : a->floor;
}

uint32_t fe_auto_step(fe_auto_t *a, const fe_auto_sample_t *s, size_t n)
{
    uint32_t worst_ms = 0, backlog = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i].connack_count && s[i].connack_mean_ms > worst_ms)
            worst_ms = s[i].connack_mean_ms;
        if (s[i].pending_connects > backlog)
            backlog = s[i].pending_connects;
    }
    /* A receiver is struggling when its CONNACKs come late, or when more
     * connections wait for one than a second of evictions sends it. */
    uint32_t per_receiver = n ? a->rate / (uint32_t)n : a->rate;
    bool struggling = worst_ms > a->target_ms || backlog > (per_receiver > 50 ? per_receiver : 50);
    if (struggling) {
        a->rate = a->rate / 2 > a->floor ? a->rate / 2 : a->floor;
        a->decreases++;
    } else if (n && worst_ms * 2 <= a->target_ms) {
        uint32_t step = a->ceiling / 10 ? a->ceiling / 10 : 1;
        a->rate = a->ceiling - a->rate > step ? a->rate + step : a->ceiling;
        a->increases++;
    }
    return a->rate;
}
