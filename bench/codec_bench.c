/*
 * Codec micro-benchmark: decode and encode throughput of libferrymqtt for a
 * few representative packets, built here by hand from the spec's byte layout
 * (never by our encoder). Each case runs for about --seconds per round, for
 * --rounds rounds; the median round is reported as packets/s and MB/s
 * (10^6 bytes of wire data per second), then once more as a single
 * "codec_bench key=value ..." line for scripts.
 * Usage: codec_bench [--rounds N] [--seconds S]
 */
#include "mqtt/fmq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the packets ---- */

/* One field per line, as the spec lays the packets out. */
/* clang-format off */

/* PUBLISH, QoS 1, MQTT 3.1.1: topic "ferrymq/bench/topic", packet id 1, and a
 * 64-byte payload. Remaining Length 2+19 + 2 + 64 = 87. */
static const uint8_t publish_v311[] = {
    0x32, 87,                                   /* PUBLISH QoS 1, Remaining Length */
    0x00, 19, 'f', 'e', 'r', 'r', 'y', 'm', 'q', '/',
    'b', 'e', 'n', 'c', 'h', '/', 't', 'o', 'p', 'i', 'c', /* topic */
    0x00, 0x01,                                 /* packet id */
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
};

/* The same at MQTT 5.0 with an empty property block: Remaining Length 88. */
static const uint8_t publish_v5[] = {
    0x32, 88,
    0x00, 19, 'f', 'e', 'r', 'r', 'y', 'm', 'q', '/',
    'b', 'e', 'n', 'c', 'h', '/', 't', 'o', 'p', 'i', 'c',
    0x00, 0x01,
    0x00,                                       /* property length 0 */
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
};

/* CONNECT, MQTT 5.0, with properties, a Will with properties, user name and
 * password. Properties are in identifier order, as our encoder writes them,
 * so re-encoding gives these bytes back. Remaining Length:
 *   10 (name, level, flags, keep alive) + 48 (properties) + 14 (client id)
 *   + 26 (will properties) + 12 (will topic) + 9 (will payload)
 *   + 7 (user name) + 10 (password) = 136, a two-byte varint. */
static const uint8_t connect_v5[] = {
    0x10, 0x88, 0x01,                           /* CONNECT, Remaining Length 136 */
    0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05,       /* protocol name, level 5 */
    0xCE,                   /* user name, password, Will QoS 1, Will, Clean Start */
    0x00, 0x3C,                                 /* keep alive 60 s */
    47,                                         /* property length */
    0x11, 0x00, 0x00, 0x0E, 0x10,               /* Session Expiry Interval 3600 */
    0x21, 0x00, 0x20,                           /* Receive Maximum 32 */
    0x22, 0x00, 0x0A,                           /* Topic Alias Maximum 10 */
    0x26, 0x00, 0x03, 'a', 'p', 'p',
          0x00, 0x05, 'f', 'e', 'r', 'r', 'y',  /* User Property app=ferry */
    0x26, 0x00, 0x06, 'r', 'e', 'g', 'i', 'o', 'n',
          0x00, 0x07, 'e', 'u', '-', 'w', 'e', 's', 't', /* User Property region=eu-west */
    0x27, 0x00, 0x10, 0x00, 0x00,               /* Maximum Packet Size 1048576 */
    0x00, 0x0C, 'b', 'e', 'n', 'c', 'h', '-', 'c', 'l', 'i', 'e', 'n', 't', /* client id */
    25,                                         /* will property length */
    0x01, 0x01,                                 /* Payload Format Indicator 1 */
    0x02, 0x00, 0x00, 0x01, 0x2C,               /* Message Expiry Interval 300 */
    0x03, 0x00, 0x0A, 't', 'e', 'x', 't', '/', 'p', 'l', 'a', 'i', 'n', /* Content Type */
    0x18, 0x00, 0x00, 0x00, 0x1E,               /* Will Delay Interval 30 */
    0x00, 0x0A, 'w', 'i', 'l', 'l', '/', 'b', 'e', 'n', 'c', 'h', /* will topic */
    0x00, 0x07, 'o', 'f', 'f', 'l', 'i', 'n', 'e',                /* will payload */
    0x00, 0x05, 'a', 'l', 'i', 'c', 'e',                          /* user name */
    0x00, 0x08, 's', '3', 'c', 'r', '3', 't', '!', '!',           /* password */
};

/* clang-format on */

typedef struct {
    const char *name;
    const uint8_t *bytes;
    size_t len;
    uint8_t version;
} bench_case_t;

static const bench_case_t cases[] = {
    {"publish_qos1_v311", publish_v311, sizeof publish_v311, FMQ_V311},
    {"publish_qos1_v5", publish_v5, sizeof publish_v5, FMQ_V5},
    {"connect_v5_props", connect_v5, sizeof connect_v5, FMQ_V5},
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* ---- timing ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Tells the compiler that `p` is read and memory may have changed, so the
 * work producing or consuming it can be neither dropped nor hoisted. */
static inline void escape(const void *p)
{
    __asm__ __volatile__("" : : "r"(p) : "memory");
}

typedef enum { OP_DECODE, OP_ENCODE } op_t;

/* Runs `iters` decodes or encodes; returns a value depending on every result. */
static uint64_t run(const bench_case_t *c, op_t op, const fmq_packet_t *decoded, uint64_t iters)
{
    fmq_decode_opts_t opts = {c->version, 0};
    uint8_t out[512];
    uint64_t acc = 0;
    for (uint64_t i = 0; i < iters; i++) {
        fmq_err_t err;
        int rc;
        if (op == OP_DECODE) {
            fmq_packet_t p;
            escape(c->bytes);
            rc = fmq_decode(c->bytes, c->len, &opts, &p, &err);
            escape(&p);
            acc += (uint64_t)rc + p.type;
        } else {
            escape(decoded);
            rc = fmq_encode(decoded, c->version, out, sizeof out, &err);
            escape(out);
            acc += (uint64_t)rc + out[rc - 1];
        }
    }
    return acc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median packets/s over `rounds` rounds of about `seconds` each. */
static double measure(const bench_case_t *c, op_t op, const fmq_packet_t *decoded, int rounds,
                      double seconds, volatile uint64_t *sink)
{
    /* Calibrate: double the count until a run takes 50 ms, then scale. */
    uint64_t iters = 1024;
    double t;
    for (;;) {
        double t0 = now_s();
        *sink += run(c, op, decoded, iters);
        t = now_s() - t0;
        if (t >= 0.05 || iters >= (UINT64_C(1) << 40))
            break;
        iters *= 2;
    }
    uint64_t per_round = (uint64_t)((double)iters * seconds / (t > 0 ? t : 1e-9));
    if (per_round < 1)
        per_round = 1;

    double *pps = malloc(sizeof *pps * (size_t)rounds);
    if (!pps) {
        fprintf(stderr, "codec_bench: out of memory\n");
        exit(1);
    }
    for (int r = 0; r < rounds; r++) {
        double t0 = now_s();
        *sink += run(c, op, decoded, per_round);
        pps[r] = (double)per_round / (now_s() - t0);
    }
    qsort(pps, (size_t)rounds, sizeof *pps, cmp_double);
    double median = rounds % 2 ? pps[rounds / 2] : (pps[rounds / 2 - 1] + pps[rounds / 2]) / 2;
    free(pps);
    return median;
}

/* The bytes must decode as written, and re-encode to the same bytes. */
static void check_case(const bench_case_t *c, fmq_packet_t *decoded)
{
    fmq_decode_opts_t opts = {c->version, 0};
    fmq_err_t err = {0};
    int rc = fmq_decode(c->bytes, c->len, &opts, decoded, &err);
    if (rc != (int)c->len) {
        fprintf(stderr, "codec_bench: %s: decode returned %d of %zu bytes: %s\n", c->name, rc,
                c->len, rc < 0 ? err.what : "length mismatch");
        exit(1);
    }
    uint8_t out[512];
    rc = fmq_encode(decoded, c->version, out, sizeof out, &err);
    if (rc != (int)c->len || memcmp(out, c->bytes, c->len) != 0)
        fprintf(stderr, "codec_bench: warning: %s re-encodes to %d bytes that differ\n", c->name,
                rc);
}

int main(int argc, char **argv)
{
    int rounds = 5;
    double seconds = 1.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
            rounds = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--rounds N] [--seconds S]\n", argv[0]);
            return 2;
        }
    }
    if (rounds < 1 || !(seconds > 0)) {
        fprintf(stderr, "codec_bench: --rounds must be >= 1 and --seconds > 0\n");
        return 2;
    }
#if !defined(__OPTIMIZE__)
    fprintf(stderr, "codec_bench: warning: built without optimisation; use the release preset\n");
#endif
#if defined(__SANITIZE_ADDRESS__)
    fprintf(stderr, "codec_bench: warning: built with AddressSanitizer; figures are not "
                    "representative\n");
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    fprintf(stderr, "codec_bench: warning: built with AddressSanitizer; figures are not "
                    "representative\n");
#endif
#endif

    fmq_packet_t decoded[N_CASES];
    for (size_t i = 0; i < N_CASES; i++)
        check_case(&cases[i], &decoded[i]);

    volatile uint64_t sink = 0;
    double pps[N_CASES][2];
    printf("codec_bench: median of %d rounds of ~%.2f s each\n", rounds, seconds);
    printf("%-20s %-6s %6s %14s %10s\n", "case", "op", "bytes", "packets/s", "MB/s");
    for (size_t i = 0; i < N_CASES; i++) {
        for (int op = OP_DECODE; op <= OP_ENCODE; op++) {
            pps[i][op] = measure(&cases[i], (op_t)op, &decoded[i], rounds, seconds, &sink);
            printf("%-20s %-6s %6zu %14.0f %10.1f\n", cases[i].name,
                   op == OP_DECODE ? "decode" : "encode", cases[i].len, pps[i][op],
                   pps[i][op] * (double)cases[i].len / 1e6);
            fflush(stdout);
        }
    }
    printf("codec_bench rounds=%d seconds=%.2f", rounds, seconds);
    for (size_t i = 0; i < N_CASES; i++)
        for (int op = OP_DECODE; op <= OP_ENCODE; op++)
            printf(" %s_%s_pps=%.0f %s_%s_mbps=%.1f", cases[i].name,
                   op == OP_DECODE ? "decode" : "encode", pps[i][op], cases[i].name,
                   op == OP_DECODE ? "decode" : "encode", pps[i][op] * (double)cases[i].len / 1e6);
    printf("\n");
    return 0;
}
