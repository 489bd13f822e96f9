/* Payload layout and per-pair sequence tracking: see seq.h. */
#include "bench/seq.h"

#include <string.h>
#include <time.h>

uint64_t bn_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void bn_payload_write(uint8_t *buf, size_t len, const bn_payload_t *p)
{
    put32(buf, p->run);
    put32(buf + 4, p->pub);
    put32(buf + 8, p->seq);
    put32(buf + 12, 0);
    put32(buf + 16, (uint32_t)p->sent_ns);
    put32(buf + 20, (uint32_t)(p->sent_ns >> 32));
    if (len > BN_PAYLOAD_MIN)
        memset(buf + BN_PAYLOAD_MIN, 'x', len - BN_PAYLOAD_MIN);
}

bool bn_payload_read(const uint8_t *buf, size_t len, bn_payload_t *p)
{
    if (len < BN_PAYLOAD_MIN)
        return false;
    p->run = get32(buf);
    p->pub = get32(buf + 4);
    p->seq = get32(buf + 8);
    p->sent_ns = (uint64_t)get32(buf + 16) | (uint64_t)get32(buf + 20) << 32;
    return true;
}

bn_seq_kind_t bn_seq_see(bn_seq_t *s, uint32_t seq)
{
    if (seq >= s->next) {
        uint32_t shift = seq - s->next + 1;
        bn_seq_kind_t kind = seq == s->next ? BN_SEQ_NEW : BN_SEQ_GAP;
        s->window = shift >= 64 ? 0 : s->window << shift;
        s->window |= 1;
        s->next = seq + 1;
        s->unique++;
        return kind;
    }
    uint32_t k = s->next - 1 - seq;
    if (k >= 64 || (s->window >> k) & 1) {
        s->dup++;
        return BN_SEQ_DUP;
    }
    s->window |= UINT64_C(1) << k;
    s->unique++;
    s->reorder++;
    return BN_SEQ_LATE;
}
