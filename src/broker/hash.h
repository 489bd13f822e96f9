/* Keyed hashing shared by the broker's tables (map, subscription and
 * retained tries). */
#ifndef FB_HASH_H
#define FB_HASH_H

#include <stddef.h>
#include <stdint.h>

/* SipHash-1-3 of p[0..len) under key k. */
uint64_t fb__siphash(const uint64_t k[2], const uint8_t *p, size_t len);
/* A fresh random key (getrandom, never blocking; a per-process, per-salt
 * fallback when no entropy is available yet). */
void fb__hash_seed(uint64_t k[2], const void *salt);
/* A 64-bit finaliser (splitmix64): spreads the bits of x, e.g. a pointer. */
uint64_t fb__hash_mix64(uint64_t x);
#endif
