/* Log-linear histogram: see hist.h for the layout and its precision. */
#include "bench/hist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bn_hist_init(bn_hist_t *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

uint32_t bn_hist_index(uint64_t v)
{
    if (v < 128)
        return (uint32_t)v;
    unsigned k = 63u - (unsigned)__builtin_clzll(v); /* 7..63 */
    unsigned shift = k - 6;                          /* v >> shift is in [64, 128) */
    return 128u + (k - 7) * 64u + (uint32_t)((v >> shift) - 64);
}

uint64_t bn_hist_highest(uint32_t idx)
{
    if (idx < 128)
        return idx;
    uint32_t b = (idx - 128) / 64, sub = (idx - 128) % 64 + 64;
    unsigned shift = b + 1; /* k - 6 with k = b + 7 */
    uint64_t hi = ((uint64_t)(sub + 1) << shift) - 1;
    return hi < ((uint64_t)sub << shift) ? UINT64_MAX : hi; /* the last bucket */
}

void bn_hist_record(bn_hist_t *h, uint64_t v)
{
    h->counts[bn_hist_index(v)]++;
    h->count++;
    h->sum += v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void bn_hist_merge(bn_hist_t *into, const bn_hist_t *from)
{
    for (uint32_t i = 0; i < BN_HIST_BUCKETS; i++)
        into->counts[i] += from->counts[i];
    into->count += from->count;
    into->sum += from->sum;
    if (from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
}

uint64_t bn_hist_percentile(const bn_hist_t *h, double p)
{
    if (!h->count)
        return 0;
    uint64_t want = (uint64_t)(p / 100.0 * (double)h->count + 0.999999);
    if (want < 1)
        want = 1;
    if (want > h->count)
        want = h->count;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < BN_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= want) {
            uint64_t v = bn_hist_highest(i);
            return v > h->max ? h->max : v; /* never past the largest recorded */
        }
    }
    return h->max;
}

double bn_hist_mean(const bn_hist_t *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}

size_t bn_hist_format(const bn_hist_t *h, char *buf, size_t cap)
{
    size_t n = 0;
    int w = snprintf(buf, cap, "%llu %llu %llu %llu", (unsigned long long)h->count,
                     (unsigned long long)h->sum, (unsigned long long)(h->count ? h->min : 0),
                     (unsigned long long)h->max);
    n += (size_t)w;
    for (uint32_t i = 0; i < BN_HIST_BUCKETS; i++) {
        if (!h->counts[i])
            continue;
        w = snprintf(n < cap ? buf + n : NULL, n < cap ? cap - n : 0, " %u:%llu", i,
                     (unsigned long long)h->counts[i]);
        n += (size_t)w;
    }
    return n;
}

int bn_hist_parse_merge(bn_hist_t *h, const char *text)
{
    bn_hist_t tmp;
    bn_hist_init(&tmp);
    char *end;
    unsigned long long head[4];
    const char *p = text;
    for (int i = 0; i < 4; i++) {
        head[i] = strtoull(p, &end, 10);
        if (end == p)
            return -1;
        p = end;
    }
    tmp.count = head[0];
    tmp.sum = head[1];
    tmp.min = head[0] ? head[2] : UINT64_MAX;
    tmp.max = head[3];
    uint64_t total = 0;
    while (*p == ' ') {
        unsigned long idx = strtoul(p + 1, &end, 10);
        if (end == p + 1 || *end != ':' || idx >= BN_HIST_BUCKETS)
            return -1;
        p = end + 1;
        tmp.counts[idx] += strtoull(p, &end, 10);
        total += tmp.counts[idx];
        if (end == p)
            return -1;
        p = end;
    }
    if (total != tmp.count)
        return -1;
    bn_hist_merge(h, &tmp);
    return 0;
}
