/* Shared by the fuzz targets: the libFuzzer entry point's prototype, a check
 * that aborts (libFuzzer and the replay runner both report an abort as a
 * crash), and the error-return contract every codec function keeps. */
#ifndef FMQ_FUZZ_COMMON_H
#define FMQ_FUZZ_COMMON_H

#include "mqtt/fmq.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A negative return is -(reason code) and `err` says the same, with text. */
static inline void fuzz_check_rc(int rc, const fmq_err_t *err, const char *fn)
{
    if (rc >= 0)
        return;
    FUZZ_CHECK(rc >= -0xFF, "%s returned %d", fn, rc);
    FUZZ_CHECK(err->reason == (uint8_t)-rc, "%s returned %d but err.reason is 0x%02x", fn, rc,
               err->reason);
    FUZZ_CHECK(err->what != NULL, "%s returned %d without err.what", fn, rc);
    FUZZ_CHECK(fmq_reason_name((uint8_t)-rc) != NULL, "%s returned %d: not a reason code", fn, rc);
}

/* ---- comparing decoded property sets ---- */

static inline bool fuzz_next_prop_with_id(const fmq_props_t *p, uint32_t *pos, uint8_t id,
                                          fmq_prop_t *out)
{
    while (fmq_props_iter(p, pos, out))
        if (out->id == id)
            return true;
    return false;
}

/* The repeatable properties must come back in the same order ([MQTT-3.3.2-17]). */
static inline void fuzz_check_list_equal(const fmq_props_t *a, const fmq_props_t *b, uint8_t id)
{
    uint32_t pa = 0, pb = 0;
    fmq_prop_t va, vb;
    for (unsigned i = 0;; i++) {
        bool ha = fuzz_next_prop_with_id(a, &pa, id, &va);
        bool hb = fuzz_next_prop_with_id(b, &pb, id, &vb);
        FUZZ_CHECK(ha == hb, "property 0x%02x: list lengths differ at entry %u", id, i);
        if (!ha)
            return;
        FUZZ_CHECK(va.num == vb.num && fmq_bytes_eq(va.str, vb.str) &&
                       fmq_bytes_eq(va.value, vb.value),
                   "property 0x%02x: entry %u differs", id, i);
    }
}

/* Two DECODED sets hold the same properties (wire order may differ). */
static inline void fuzz_check_props_equal(const fmq_props_t *a, const fmq_props_t *b,
                                          const char *what)
{
    FUZZ_CHECK(a->present == b->present, "%s: present 0x%llx vs 0x%llx", what,
               (unsigned long long)a->present, (unsigned long long)b->present);
#define FUZZ_SAME_NUM(f)                                                                           \
    FUZZ_CHECK(a->f == b->f, "%s: " #f " %u vs %u", what, (unsigned)a->f, (unsigned)b->f)
#define FUZZ_SAME_BYTES(f) FUZZ_CHECK(fmq_bytes_eq(a->f, b->f), "%s: " #f " differs", what)
    FUZZ_SAME_NUM(message_expiry);
    FUZZ_SAME_NUM(session_expiry);
    FUZZ_SAME_NUM(will_delay);
    FUZZ_SAME_NUM(max_packet_size);
    FUZZ_SAME_NUM(server_keep_alive);
    FUZZ_SAME_NUM(receive_maximum);
    FUZZ_SAME_NUM(topic_alias_maximum);
    FUZZ_SAME_NUM(topic_alias);
    FUZZ_SAME_NUM(payload_format);
    FUZZ_SAME_NUM(request_problem_info);
    FUZZ_SAME_NUM(request_response_info);
    FUZZ_SAME_NUM(maximum_qos);
    FUZZ_SAME_NUM(retain_available);
    FUZZ_SAME_NUM(wildcard_sub_available);
    FUZZ_SAME_NUM(sub_id_available);
    FUZZ_SAME_NUM(shared_sub_available);
    FUZZ_SAME_NUM(n_user);
    FUZZ_SAME_NUM(n_sub_ids);
    FUZZ_SAME_BYTES(content_type);
    FUZZ_SAME_BYTES(response_topic);
    FUZZ_SAME_BYTES(correlation_data);
    FUZZ_SAME_BYTES(assigned_client_id);
    FUZZ_SAME_BYTES(auth_method);
    FUZZ_SAME_BYTES(auth_data);
    FUZZ_SAME_BYTES(response_info);
    FUZZ_SAME_BYTES(server_reference);
    FUZZ_SAME_BYTES(reason_string);
#undef FUZZ_SAME_NUM
#undef FUZZ_SAME_BYTES
    fuzz_check_list_equal(a, b, FMQ_PROP_USER_PROPERTY);
    fuzz_check_list_equal(a, b, FMQ_PROP_SUBSCRIPTION_ID);
}

#endif
