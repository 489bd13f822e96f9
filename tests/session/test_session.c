/*
 * Session state and its serialized form: the pair takeover and evacuation
 * stand on. Round trip of every field, byte-identical re-serialization, and
 * a record that is truncated or damaged anywhere is refused, never crashes.
 */
#include "broker/session.h"

#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fb_msg_t *msg(const char *topic, const char *payload, uint8_t qos)
{
    static const uint8_t props[] = {0x26, 0, 1, 'k', 0, 1, 'v'}; /* a User Property */
    return fb_msg_new(fmq_cstr(topic), (fmq_bytes_t){props, sizeof props}, fmq_cstr(payload),
                      fmq_cstr("publisher"), qos, false, true, 60, 1700000000000ull);
}

static fb_session_t *sample(void)
{
    fb_session_t *s = fb_session_new((const uint8_t *)"client-1", 8);
    s->expiry = 3600;
    s->offline_since_ms = 1700000001234ull;
    fb_sub_opts_t o1 = {1, true, false, 2, 7}, o2 = {2, false, true, 0, 0};
    CHECK_EQ(fb_session_sub_put(s, fmq_cstr("a/+/c"), &o1), 1);
    CHECK_EQ(fb_session_sub_put(s, fmq_cstr("$share/g/x/#"), &o2), 1);
    CHECK_EQ(fb_session_sub_put(s, fmq_cstr("a/+/c"), &o1), 0); /* replaced, not added */
    for (int i = 0; i < 3; i++) {
        uint32_t *ids = malloc(2 * sizeof *ids);
        ids[0] = 7;
        ids[1] = 9;
        fb_delivery_t d = {msg("a/b/c", "inflight", 2), fb_session_next_packet_id(s), 2,
                           (uint8_t)(FB_WAIT_PUBACK + i), i == 1, 2, ids};
        d.qos = d.state == FB_WAIT_PUBACK ? 1 : 2;
        CHECK_EQ(fb_session_inflight_add(s, &d), 0);
    }
    for (int i = 0; i < 5; i++) {
        fb_delivery_t d = {msg("x/y", "queued", 1), 0, 1, FB_QUEUED, false, 0, NULL};
        CHECK_EQ(fb_session_enqueue(s, &d, 100, true), 0);
    }
    CHECK_EQ(fb_session_qos2_add(s, 42), 0);
    CHECK_EQ(fb_session_qos2_add(s, 65535), 0);
    fb_session_set_will(s, msg("will/t", "gone", 1), 30);
    s->will_at_ms = 1700000009999ull;
    s->dropped = 3;
    return s;
}

static void test_round_trip(void)
{
    fb_session_t *s = sample();
    size_t len = 0;
    uint8_t *buf = fb_session_serialize(s, &len);
    CHECK(buf != NULL);
    const char *why = NULL;
    fb_session_t *t = fb_session_deserialize(buf, len, &why);
    CHECK(t != NULL);
    if (!t) {
        fprintf(stderr, "deserialize: %s\n", why);
        free(buf);
        fb_session_free(s);
        return;
    }
    CHECK(strcmp(t->client_id, "client-1") == 0);
    CHECK_EQ(t->expiry, 3600);
    CHECK_EQ(t->offline_since_ms, 1700000001234ull);
    CHECK_EQ(t->next_packet_id, s->next_packet_id);
    CHECK_EQ(t->dropped, 3);
    CHECK_EQ(t->n_subs, 2);
    CHECK(strcmp(t->subs[0].filter, "a/+/c") == 0);
    CHECK_EQ(t->subs[0].opts.qos, 1);
    CHECK_EQ(t->subs[0].opts.no_local, 1);
    CHECK_EQ(t->subs[0].opts.retain_handling, 2);
    CHECK_EQ(t->subs[0].opts.sub_id, 7);
    CHECK_EQ(t->subs[1].opts.retain_as_published, 1);
    CHECK_EQ(t->n_inflight, 3);
    for (uint32_t i = 0; i < 3 && i < t->n_inflight; i++) {
        CHECK_EQ(t->inflight[i].packet_id, s->inflight[i].packet_id);
        CHECK_EQ(t->inflight[i].state, s->inflight[i].state);
        CHECK_EQ(t->inflight[i].qos, s->inflight[i].qos);
        CHECK_EQ(t->inflight[i].retain, s->inflight[i].retain);
        CHECK_EQ(t->inflight[i].n_sub_ids, 2);
        CHECK_EQ(t->inflight[i].sub_ids[1], 9);
        CHECK(fmq_bytes_eq(t->inflight[i].msg->payload, fmq_cstr("inflight")));
        CHECK(fmq_bytes_eq(t->inflight[i].msg->props, s->inflight[i].msg->props));
        CHECK(fmq_bytes_eq(t->inflight[i].msg->origin, fmq_cstr("publisher")));
        CHECK_EQ(t->inflight[i].msg->expiry, 60);
        CHECK_EQ(t->inflight[i].msg->created_ms, 1700000000000ull);
    }
    CHECK_EQ(t->q_len, 5);
    CHECK(fmq_bytes_eq(fb_session_queue_peek(t)->msg->topic, fmq_cstr("x/y")));
    CHECK_EQ(t->n_qos2_in, 2);
    CHECK(fb_session_qos2_has(t, 42) && fb_session_qos2_has(t, 65535));
    CHECK(t->will != NULL && fmq_bytes_eq(t->will->topic, fmq_cstr("will/t")));
    CHECK_EQ(t->will_delay, 30);
    CHECK_EQ(t->will_at_ms, 1700000009999ull);
    CHECK(t->conn == NULL);

    /* Serializing the copy gives the same bytes: nothing was lost or added. */
    size_t len2 = 0;
    uint8_t *buf2 = fb_session_serialize(t, &len2);
    CHECK_EQ(len2, len);
    CHECK(buf2 && memcmp(buf, buf2, len) == 0);
    free(buf2);
    fb_session_free(t);
    free(buf);
    fb_session_free(s);
}

static void test_damaged_records(void)
{
    fb_session_t *s = sample();
    size_t len = 0;
    uint8_t *buf = fb_session_serialize(s, &len);
    int refused = 0;
    for (size_t cut = 0; cut < len; cut++) {
        const char *why = NULL;
        fb_session_t *t = fb_session_deserialize(buf, cut, &why);
        if (!t && why)
            refused++;
        fb_session_free(t);
    }
    CHECK_EQ(refused, (long long)len); /* every strict prefix is refused, with a reason */

    uint8_t *copy = malloc(len + 1);
    memcpy(copy, buf, len);
    copy[len] = 0;
    const char *why = NULL;
    fb_session_t *t = fb_session_deserialize(copy, len + 1, &why);
    CHECK(t == NULL && why && strstr(why, "trailing"));

    /* Flip every byte in turn: refused or accepted, never a crash or leak. */
    for (size_t i = 0; i < len; i++) {
        memcpy(copy, buf, len);
        copy[i] ^= 0xA5;
        t = fb_session_deserialize(copy, len, &why);
        fb_session_free(t);
    }
    memcpy(copy, buf, len);
    copy[4] = FB_SESSION_FORMAT_VERSION + 1;
    t = fb_session_deserialize(copy, len, &why);
    CHECK(t == NULL && strstr(why, "version"));
    free(copy);
    free(buf);
    fb_session_free(s);
}

static void test_queue_limits(void)
{
    fb_session_t *s = fb_session_new((const uint8_t *)"q", 1);
    for (int i = 0; i < 10; i++) {
        char p[8];
        snprintf(p, sizeof p, "%d", i);
        fb_delivery_t d = {msg("t", p, 1), 0, 1, FB_QUEUED, false, 0, NULL};
        int r = fb_session_enqueue(s, &d, 4, true);
        CHECK_EQ(r, i < 4 ? 0 : 1);
    }
    CHECK_EQ(s->q_len, 4);
    CHECK_EQ(s->dropped, 6);
    CHECK(fmq_bytes_eq(fb_session_queue_peek(s)->msg->payload, fmq_cstr("6"))); /* oldest kept */
    fb_delivery_t d = {msg("t", "new", 1), 0, 1, FB_QUEUED, false, 0, NULL};
    CHECK_EQ(fb_session_enqueue(s, &d, 4, false), 2); /* drop_newest refuses it */
    CHECK_EQ(s->q_len, 4);
    fb_session_free(s);
}

static void test_packet_ids(void)
{
    fb_session_t *s = fb_session_new((const uint8_t *)"p", 1);
    s->next_packet_id = 65535;
    uint16_t a = fb_session_next_packet_id(s);
    uint16_t b = fb_session_next_packet_id(s);
    CHECK_EQ(a, 65535);
    CHECK_EQ(b, 1); /* wraps past 0 [MQTT-2.2.1-3] */
    fb_delivery_t d = {msg("t", "x", 1), 2, 1, FB_WAIT_PUBACK, false, 0, NULL};
    fb_session_inflight_add(s, &d);
    CHECK_EQ(fb_session_next_packet_id(s), 3); /* 2 is in use */
    fb_session_inflight_remove(s, fb_session_inflight_find(s, 2));
    CHECK_EQ(s->n_inflight, 0);
    fb_session_free(s);
}

/* Record format 2 carries message ids; format 1 (an older node's) is still
 * read, and written for a peer that reads only it. */
static void test_format_versions(void)
{
    fb_session_t *s = sample();
    s->queue[s->q_head].msg->id = 0xABCDEF0123ull;
    size_t l2 = 0, l1 = 0;
    uint8_t *v2 = fb_session_serialize(s, &l2);
    uint8_t *v1 = fb_session_serialize_v(s, 1, &l1);
    CHECK(v2 && v1);
    if (!v2 || !v1)
        return;
    CHECK_EQ(v2[4], 2);
    CHECK_EQ(v1[4], 1);
    /* Eight bytes of id per message: inflight, queued, the will. */
    CHECK_EQ(l2 - l1, (s->n_inflight + s->q_len + 1) * 8);
    const char *why = NULL;
    fb_session_t *t2 = fb_session_deserialize(v2, l2, &why);
    fb_session_t *t1 = fb_session_deserialize(v1, l1, &why);
    CHECK(t2 && t1);
    if (t2 && t1) {
        CHECK_EQ(t2->queue[t2->q_head].msg->id, 0xABCDEF0123ull);
        CHECK_EQ(t1->queue[t1->q_head].msg->id, 0);
        CHECK_EQ(t1->q_len, s->q_len);
        size_t again = 0;
        uint8_t *v1b = fb_session_serialize_v(t1, 1, &again);
        CHECK(v1b && again == l1 && memcmp(v1b, v1, l1) == 0);
        free(v1b);
    }
    fb_session_free(t1);
    fb_session_free(t2);
    free(v1);
    free(v2);
    fb_session_free(s);
}

int main(void)
{
    test_round_trip();
    test_format_versions();
    test_damaged_records();
    test_queue_limits();
    test_packet_ids();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
