/* Keyed hashing for the broker's tables. Client ids and topic levels come
 * from clients, so every table hashes with SipHash-1-3 under its own random
 * key: nobody can precompute colliding keys to slow a table down. */
#include "broker/hash.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static inline uint64_t fb_rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static inline void fb_sip_round(uint64_t v[4])
{
    v[0] += v[1], v[1] = fb_rotl(v[1], 13), v[1] ^= v[0], v[0] = fb_rotl(v[0], 32);
    v[2] += v[3], v[3] = fb_rotl(v[3], 16), v[3] ^= v[2];
    v[0] += v[3], v[3] = fb_rotl(v[3], 21), v[3] ^= v[0];
    v[2] += v[1], v[1] = fb_rotl(v[1], 17), v[1] ^= v[2], v[2] = fb_rotl(v[2], 32);
}

/* SipHash-1-3. Blocks are read in host byte order: the value never leaves
 * the process, only its consistency matters. */
uint64_t fb__siphash(const uint64_t k[2], const uint8_t *p, size_t len)
{
    uint64_t v[4] = {k[0] ^ 0x736f6d6570736575ULL, k[1] ^ 0x646f72616e646f6dULL,
                     k[0] ^ 0x6c7967656e657261ULL, k[1] ^ 0x7465646279746573ULL};
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t m;
        memcpy(&m, p + i, 8);
        v[3] ^= m;
        fb_sip_round(v);
        v[0] ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t j = 0; i + j < len; j++)
        b |= (uint64_t)p[i + j] << (8 * j);
    v[3] ^= b;
    fb_sip_round(v);
    v[0] ^= b;
    v[2] ^= 0xff;
    fb_sip_round(v);
    fb_sip_round(v);
    fb_sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

uint64_t fb__hash_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* A fresh random key. GRND_NONBLOCK because a broker started early in boot
 * must not hang waiting for entropy; then the fallback still differs per
 * process (ASLR, time) and per map (its address). */
void fb__hash_seed(uint64_t k[2], const void *salt)
{
    uint8_t buf[16] = {0};
    size_t got = 0;
    while (got < sizeof buf) {
        ssize_t r = getrandom(buf + got, sizeof buf - got, GRND_NONBLOCK);
        if (r > 0)
            got += (size_t)r;
        else if (!(r < 0 && errno == EINTR))
            break;
    }
    memcpy(k, buf, sizeof buf);
    if (got < sizeof buf) {
        uint64_t x = (uint64_t)(uintptr_t)salt ^ (uint64_t)(uintptr_t)&buf ^
                     ((uint64_t)time(NULL) << 20) ^ (uint64_t)clock();
        k[0] ^= fb__hash_mix64(x);
        k[1] ^= fb__hash_mix64(x ^ 0x5bd1e9955bd1e995ULL);
    }
}
