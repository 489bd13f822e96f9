/*
 * A log-linear histogram in the manner of HdrHistogram, fixed memory
 * (3,776 uint64 counters, about 30 KiB): values below 128 have their own
 * bucket; above, each power of two is split into 64 buckets, so a recorded
 * value is known within 1/64 (1.6 %) of itself, over the whole uint64 range.
 * Percentiles report a bucket's highest value (HdrHistogram's "highest
 * equivalent value"): never below the true value. Exact min, max and sum
 * are kept beside the buckets.
 *
 * Ownership: plain struct, no allocation; the caller owns it.
 */
#ifndef BN_HIST_H
#define BN_HIST_H

#include <stddef.h>
#include <stdint.h>

#define BN_HIST_BUCKETS (128 + 57 * 64)

typedef struct bn_hist {
    uint64_t count, sum, min, max;
    uint64_t counts[BN_HIST_BUCKETS];
} bn_hist_t;

void bn_hist_init(bn_hist_t *h);
void bn_hist_record(bn_hist_t *h, uint64_t v);
void bn_hist_merge(bn_hist_t *into, const bn_hist_t *from);
/* The value at percentile p (0..100]; 0 when empty. */
uint64_t bn_hist_percentile(const bn_hist_t *h, double p);
double bn_hist_mean(const bn_hist_t *h);
/* Bucket index of a value, and the highest value of a bucket. */
uint32_t bn_hist_index(uint64_t v);
uint64_t bn_hist_highest(uint32_t idx);

/* Text form used on the worker pipe: "count sum min max i:n i:n ..." with
 * only the non-empty buckets. bn_hist_format writes into buf (returns the
 * length, or the length needed when it does not fit); bn_hist_parse merges
 * a text form into h and returns 0, or -1 when malformed. */
size_t bn_hist_format(const bn_hist_t *h, char *buf, size_t cap);
int bn_hist_parse_merge(bn_hist_t *h, const char *text);
#endif
