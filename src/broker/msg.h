/*
 * Messages: immutable and reference-counted, one allocation holding topic,
 * pass-through properties, payload and the publisher's client id. A fan-out
 * shares one message among all its deliveries.
 *
 * Ownership: fb_msg_new returns a message with one reference owned by the
 * caller; every holder that keeps it takes fb_msg_ref and gives it back with
 * fb_msg_unref, which frees it at zero.
 */
#ifndef FB_MSG_H
#define FB_MSG_H

#include "mqtt/fmq.h"

typedef struct fb_msg {
    uint32_t refs;
    uint8_t qos;             /* QoS it was published with */
    bool retain;             /* RETAIN flag it was published with */
    bool has_expiry;         /* Message Expiry Interval present */
    uint32_t expiry;         /* seconds, from created_ms */
    uint64_t created_ms;     /* wall clock (ms since the epoch) when received */
    uint64_t id;             /* cluster-unique id (0 = none), set when first routed */
    fmq_bytes_t topic;
    fmq_bytes_t props;       /* encoded pass-through properties, no length prefix */
    fmq_bytes_t payload;
    fmq_bytes_t origin;      /* publisher's client id (No Local) */
    uint8_t data[];          /* the bytes the slices above point into */
} fb_msg_t;

/* Copies every slice. Returns NULL when memory runs out. */
fb_msg_t *fb_msg_new(fmq_bytes_t topic, fmq_bytes_t props, fmq_bytes_t payload,
                     fmq_bytes_t origin, uint8_t qos, bool retain, bool has_expiry,
                     uint32_t expiry, uint64_t created_ms);

static inline fb_msg_t *fb_msg_ref(fb_msg_t *m)
{
    m->refs++;
    return m;
}

void fb_msg_unref(fb_msg_t *m);

/* Whether the message has expired at now_ms; when not, *left gets the
 * remaining Message Expiry Interval in seconds (rounded up). */
bool fb_msg_expired(const fb_msg_t *m, uint64_t now_ms, uint32_t *left);

/* The properties a broker passes from PUBLISH to subscribers unchanged
 * ([MQTT-3.3.2-4] and friends): Payload Format Indicator, Content Type,
 * Response Topic, Correlation Data, User Properties. */
#define FB_PASSTHROUGH_PROPS                                                                       \
    (FMQ_PROP_BIT(FMQ_PROP_PAYLOAD_FORMAT) | FMQ_PROP_BIT(FMQ_PROP_CONTENT_TYPE) |                 \
     FMQ_PROP_BIT(FMQ_PROP_RESPONSE_TOPIC) | FMQ_PROP_BIT(FMQ_PROP_CORRELATION_DATA) |             \
     FMQ_PROP_BIT(FMQ_PROP_USER_PROPERTY))

/* Builds a message from decoded PUBLISH (or Will) fields: keeps only the
 * pass-through properties of `props`. */
fb_msg_t *fb_msg_from_publish(fmq_bytes_t topic, const fmq_props_t *props, fmq_bytes_t payload,
                              fmq_bytes_t origin, uint8_t qos, bool retain, uint64_t now_ms);
#endif
