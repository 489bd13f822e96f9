/*
 * Outgoing messages: routing a message to the sessions whose subscriptions
 * match, the per-session inflight window and queue, resume after reconnect
 * and retained delivery on subscribe.
 */
#ifndef FB_DELIVER_H
#define FB_DELIVER_H

#include "broker/conn.h"

/* Delivers m to session s at QoS min(m->qos, granted): sent now when the
 * session's connection has room, else queued (QoS 1/2) or dropped (QoS 0
 * offline or over the write backlog limit). */
void fb_deliver(fb_broker_t *b, fb_session_t *s, fb_msg_t *m, uint8_t granted, bool retain,
                const uint32_t *sub_ids, uint8_t n_sub_ids);
/* After a CONNECT resumed a session: resend the inflight window with DUP (or
 * PUBREL), then pump the queue ([MQTT-4.4.0-1]). */
void fb_deliver_resume(fb_conn_t *c);
/* Retained messages matching filter, to c's session, RETAIN flag set. */
void fb_deliver_retained(fb_conn_t *c, fmq_bytes_t filter, uint8_t granted, uint32_t sub_id);

/* Internal to conn.c / deliver.c: encode into the output buffer. */
bool fb__conn_send(fb_conn_t *c, const fmq_packet_t *p);
#endif
