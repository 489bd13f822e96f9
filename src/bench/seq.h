/*
 * What ferrybench puts in a payload, and how a receiver classifies what it
 * gets from one publisher.
 *
 * Payload (little-endian, BN_PAYLOAD_MIN bytes, then filler up to the
 * configured size):
 *   u32 run id      random per run: messages of an earlier run are ignored
 *   u32 publisher   global publisher (or client) index
 *   u32 sequence    0, 1, 2 ... per publisher
 *   u32 reserved    0
 *   u64 sent_ns     CLOCK_MONOTONIC at fcl_publish: one clock for every
 *                   process on the machine, so end-to-end latency is
 *                   receive time minus this
 *
 * Sequence tracking per (publisher, receiver) pair in 24 bytes: `next` is one
 * past the highest sequence seen and bit k of `window` says whether sequence
 * next-1-k arrived. A sequence at or past `next` is new (a jump leaves a
 * gap); one below it is a duplicate when its bit is set, else a late
 * (reordered) first arrival. Anything more than 64 behind the newest cannot
 * be told apart and counts as a duplicate. Loss is sent minus unique, once
 * publishing has stopped and the pipes have drained.
 */
#ifndef BN_SEQ_H
#define BN_SEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BN_PAYLOAD_MIN 24

typedef struct bn_payload {
    uint32_t run, pub, seq;
    uint64_t sent_ns;
} bn_payload_t;

/* Writes the header into buf (len >= BN_PAYLOAD_MIN) and fills the rest. */
void bn_payload_write(uint8_t *buf, size_t len, const bn_payload_t *p);
/* false when too short. */
bool bn_payload_read(const uint8_t *buf, size_t len, bn_payload_t *p);

typedef struct bn_seq {
    uint32_t next;
    uint32_t unique, dup, reorder;
    uint64_t window;
} bn_seq_t;

typedef enum { BN_SEQ_NEW, BN_SEQ_GAP, BN_SEQ_LATE, BN_SEQ_DUP } bn_seq_kind_t;

bn_seq_kind_t bn_seq_see(bn_seq_t *s, uint32_t seq);

uint64_t bn_now_ns(void); /* CLOCK_MONOTONIC */
#endif
