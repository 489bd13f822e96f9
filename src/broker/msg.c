/* Reference-counted immutable messages. */
#include "broker/msg.h"

#include <stdlib.h>
#include <string.h>

static fmq_bytes_t place(uint8_t **at, fmq_bytes_t src)
{
    fmq_bytes_t out = {*at, src.len};
    if (src.len)
        memcpy(*at, src.ptr, src.len);
    *at += src.len;
    return out;
}

fb_msg_t *fb_msg_new(fmq_bytes_t topic, fmq_bytes_t props, fmq_bytes_t payload,
                     fmq_bytes_t origin, uint8_t qos, bool retain, bool has_expiry,
                     uint32_t expiry, uint64_t created_ms)
{
    size_t n = (size_t)topic.len + props.len + payload.len + origin.len;
    fb_msg_t *m = malloc(sizeof *m + n);
    if (!m)
        return NULL;
    m->refs = 1;
    m->qos = qos;
    m->retain = retain;
    m->has_expiry = has_expiry;
    m->expiry = expiry;
    m->created_ms = created_ms;
    m->id = 0;
    uint8_t *at = m->data;
    m->topic = place(&at, topic);
    m->props = place(&at, props);
    m->payload = place(&at, payload);
    m->origin = place(&at, origin);
    return m;
}

void fb_msg_unref(fb_msg_t *m)
{
    if (m && --m->refs == 0)
        free(m);
}

bool fb_msg_expired(const fb_msg_t *m, uint64_t now_ms, uint32_t *left)
{
    if (!m->has_expiry)
        return false;
    uint64_t end = m->created_ms + (uint64_t)m->expiry * 1000u;
    if (now_ms >= end)
        return true;
    if (left)
        *left = (uint32_t)((end - now_ms + 999u) / 1000u);
    return false;
}

fb_msg_t *fb_msg_from_publish(fmq_bytes_t topic, const fmq_props_t *props, fmq_bytes_t payload,
                              fmq_bytes_t origin, uint8_t qos, bool retain, uint64_t now_ms)
{
    uint8_t stack[512];
    fmq_bytes_t pass = {NULL, 0};
    uint8_t *heap = NULL;
    fmq_props_t keep = *props;
    keep.present &= FB_PASSTHROUGH_PROPS;
    if (keep.present) {
        size_t need = fmq_props_size(&keep);
        uint8_t *buf = need <= sizeof stack ? stack : (heap = malloc(need));
        if (!buf)
            return NULL;
        fmq_props_encode(&keep, buf, need);
        uint32_t body;
        int n = fmq_varint_decode(buf, need, &body);
        pass = (fmq_bytes_t){buf + n, body};
    }
    bool has_expiry = fmq_props_has(props, FMQ_PROP_MESSAGE_EXPIRY);
    fb_msg_t *m = fb_msg_new(topic, pass, payload, origin, qos, retain, has_expiry,
                             props->message_expiry, now_ms);
    free(heap);
    return m;
}
