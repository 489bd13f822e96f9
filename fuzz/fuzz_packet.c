/*
 * Streaming decode of a byte stream, the way a broker or client reads a
 * socket: fmq_frame, then fmq_decode, packet after packet. Every packet that
 * decodes is walked (properties, SUBSCRIBE entries, UNSUBSCRIBE filters),
 * checked both directions, re-encoded at the same level and decoded again;
 * any difference is an encode/decode asymmetry and aborts. Prefixes of the
 * stream must say "need more" or fail the same way, never succeed otherwise.
 *
 * Input: byte 0 selects the session, the rest is the stream.
 *   bits 0-1  protocol level: 0 (before CONNECT), 3, 4, 5; after a CONNECT
 *             decodes at level 0 the stream continues at its level
 *   bits 2-4  max_packet, an index into max_packets[]
 *   bits 5-7  with the input's last byte, where to split the stream
 * fuzz/make_corpus.py writes seeds in this format.
 */
#include "fuzz_common.h"

#include <inttypes.h>
#include <string.h>

static const uint8_t versions[4] = {0, FMQ_V31, FMQ_V311, FMQ_V5};
static const uint32_t max_packets[8] = {0, 0, 0, 0, 3, 32, 128, 1024};

/* ---- comparing two decoded packets ---- */

static void check_packets_equal(const fmq_packet_t *a, const fmq_packet_t *b)
{
    const char *t = fmq_type_name(a->type);
    FUZZ_CHECK(a->type == b->type, "type %s vs %s", t, fmq_type_name(b->type));
#define SAME(f) FUZZ_CHECK(a->f == b->f, "%s: " #f " %u vs %u", t, (unsigned)a->f, (unsigned)b->f)
#define SAMEB(f) FUZZ_CHECK(fmq_bytes_eq(a->f, b->f), "%s: " #f " differs", t)
    switch (a->type) {
    case FMQ_CONNECT:
        SAME(connect.version);
        SAME(connect.clean_start);
        SAME(connect.keep_alive);
        SAMEB(connect.client_id);
        SAME(connect.will_flag);
        SAME(connect.will_qos);
        SAME(connect.will_retain);
        SAMEB(connect.will_topic);
        SAMEB(connect.will_payload);
        SAME(connect.has_username);
        SAME(connect.has_password);
        SAMEB(connect.username);
        SAMEB(connect.password);
        fuzz_check_props_equal(&a->connect.props, &b->connect.props, "CONNECT properties");
        fuzz_check_props_equal(&a->connect.will_props, &b->connect.will_props, "Will properties");
        break;
    case FMQ_CONNACK:
        SAME(connack.session_present);
        SAME(connack.reason);
        fuzz_check_props_equal(&a->connack.props, &b->connack.props, "CONNACK properties");
        break;
    case FMQ_PUBLISH:
        SAME(publish.qos);
        SAME(publish.dup);
        SAME(publish.retain);
        SAMEB(publish.topic);
        SAME(publish.packet_id);
        SAMEB(publish.payload);
        fuzz_check_props_equal(&a->publish.props, &b->publish.props, "PUBLISH properties");
        break;
    case FMQ_PUBACK:
    case FMQ_PUBREC:
    case FMQ_PUBREL:
    case FMQ_PUBCOMP:
        SAME(ack.packet_id);
        SAME(ack.reason);
        fuzz_check_props_equal(&a->ack.props, &b->ack.props, t);
        break;
    case FMQ_SUBSCRIBE: {
        SAME(subscribe.packet_id);
        SAME(subscribe.count);
        fuzz_check_props_equal(&a->subscribe.props, &b->subscribe.props, t);
        uint32_t pa = 0, pb = 0;
        fmq_sub_entry_t ea, eb;
        while (fmq_sub_iter(&a->subscribe, &pa, &ea)) {
            FUZZ_CHECK(fmq_sub_iter(&b->subscribe, &pb, &eb), "SUBSCRIBE: fewer entries");
            FUZZ_CHECK(fmq_bytes_eq(ea.filter, eb.filter) && ea.qos == eb.qos &&
                           ea.no_local == eb.no_local &&
                           ea.retain_as_published == eb.retain_as_published &&
                           ea.retain_handling == eb.retain_handling,
                       "SUBSCRIBE: entry differs");
        }
        FUZZ_CHECK(!fmq_sub_iter(&b->subscribe, &pb, &eb), "SUBSCRIBE: more entries");
        break;
    }
    case FMQ_SUBACK:
    case FMQ_UNSUBACK:
        SAME(suback.packet_id);
        SAMEB(suback.codes);
        fuzz_check_props_equal(&a->suback.props, &b->suback.props, t);
        break;
    case FMQ_UNSUBSCRIBE: {
        SAME(unsubscribe.packet_id);
        SAME(unsubscribe.count);
        fuzz_check_props_equal(&a->unsubscribe.props, &b->unsubscribe.props, t);
        uint32_t pa = 0, pb = 0;
        fmq_bytes_t fa, fb;
        while (fmq_unsub_iter(&a->unsubscribe, &pa, &fa)) {
            FUZZ_CHECK(fmq_unsub_iter(&b->unsubscribe, &pb, &fb), "UNSUBSCRIBE: fewer filters");
            FUZZ_CHECK(fmq_bytes_eq(fa, fb), "UNSUBSCRIBE: filter differs");
        }
        FUZZ_CHECK(!fmq_unsub_iter(&b->unsubscribe, &pb, &fb), "UNSUBSCRIBE: more filters");
        break;
    }
    case FMQ_DISCONNECT:
    case FMQ_AUTH:
        SAME(disconnect.reason);
        fuzz_check_props_equal(&a->disconnect.props, &b->disconnect.props, t);
        break;
    case FMQ_PINGREQ:
    case FMQ_PINGRESP:
        break;
    }
#undef SAME
#undef SAMEB
}

/* ---- walking a decoded packet ---- */

static void walk_props(const fmq_props_t *p, uint32_t where)
{
    uint32_t pos = 0, n_user = 0, n_sub = 0;
    uint64_t seen = 0;
    fmq_prop_t v;
    while (fmq_props_iter(p, &pos, &v)) {
        fmq_prop_type_t type;
        uint32_t allowed = 0;
        FUZZ_CHECK(fmq_prop_info(v.id, &type, &allowed), "iterated unknown property 0x%02x", v.id);
        FUZZ_CHECK(allowed & where, "property 0x%02x decoded where it is not allowed", v.id);
        FUZZ_CHECK(fmq_prop_name(v.id) != NULL, "property 0x%02x has no name", v.id);
        FUZZ_CHECK(fmq_props_has(p, (fmq_prop_id_t)v.id), "property 0x%02x not in present", v.id);
        seen |= FMQ_PROP_BIT(v.id);
        if (v.id == FMQ_PROP_USER_PROPERTY)
            n_user++;
        else if (v.id == FMQ_PROP_SUBSCRIPTION_ID)
            n_sub++;
    }
    FUZZ_CHECK(pos == p->raw.len, "fmq_props_iter stopped at %u of %u bytes", pos, p->raw.len);
    FUZZ_CHECK(p->passthrough.len == 0 && p->user == NULL && p->sub_ids == NULL,
               "a decoded set has passthrough bytes or list arrays");
    FUZZ_CHECK(seen == p->present, "iterated ids 0x%" PRIx64 " but present is 0x%" PRIx64, seen,
               p->present);
    FUZZ_CHECK(n_user == p->n_user, "%u User Properties iterated, n_user %u", n_user, p->n_user);
    FUZZ_CHECK(n_sub == p->n_sub_ids, "%u Subscription Identifiers iterated, n_sub_ids %u", n_sub,
               p->n_sub_ids);
}

static void walk_filter(fmq_bytes_t f)
{
    fmq_bytes_t group, inner;
    FUZZ_CHECK(fmq_utf8_check(f.ptr, f.len) == 0, "decoded topic filter is not UTF-8");
    (void)fmq_topic_filter_check(f);
    (void)fmq_topic_levels(f);
    (void)fmq_topic_share_split(f, &group, &inner);
}

static void walk_packet(const fmq_packet_t *p, uint8_t version)
{
    bool v5 = version == FMQ_V5;
    const char *t = fmq_type_name(p->type);
    FUZZ_CHECK(strcmp(t, "RESERVED") != 0, "decoded a packet of type %u", (unsigned)p->type);
    switch (p->type) {
    case FMQ_CONNECT: {
        const fmq_connect_t *c = &p->connect;
        walk_props(&c->props, FMQ_IN(FMQ_CONNECT));
        walk_props(&c->will_props, FMQ_IN_WILL);
        FUZZ_CHECK(c->will_qos <= 2, "Will QoS %u", c->will_qos);
        if (c->will_flag)
            FUZZ_CHECK(fmq_topic_name_check(c->will_topic) == 0, "Will Topic not a topic name");
        break;
    }
    case FMQ_CONNACK:
        walk_props(&p->connack.props, FMQ_IN(FMQ_CONNACK));
        if (v5)
            FUZZ_CHECK(fmq_reason_valid_for(FMQ_CONNACK, p->connack.reason),
                       "CONNACK reason 0x%02x", p->connack.reason);
        else
            FUZZ_CHECK(p->connack.reason <= FMQ_V3_REFUSED_NOT_AUTHORIZED, "CONNACK return code %u",
                       p->connack.reason);
        FUZZ_CHECK(fmq_connack_v3_code(p->connack.reason) <= FMQ_V3_REFUSED_NOT_AUTHORIZED,
                   "fmq_connack_v3_code(0x%02x) out of range", p->connack.reason);
        break;
    case FMQ_PUBLISH: {
        const fmq_publish_t *pub = &p->publish;
        walk_props(&pub->props, FMQ_IN(FMQ_PUBLISH));
        FUZZ_CHECK(pub->qos <= 2, "PUBLISH QoS %u", pub->qos);
        FUZZ_CHECK(pub->qos > 0 || pub->packet_id == 0, "QoS 0 PUBLISH with a packet id");
        FUZZ_CHECK(pub->qos == 0 || pub->packet_id != 0, "QoS>0 PUBLISH with packet id 0");
        if (pub->topic.len > 0)
            FUZZ_CHECK(fmq_topic_name_check(pub->topic) == 0, "PUBLISH topic not a topic name");
        else
            FUZZ_CHECK(fmq_props_has(&pub->props, FMQ_PROP_TOPIC_ALIAS),
                       "empty topic without a Topic Alias");
        break;
    }
    case FMQ_PUBACK:
    case FMQ_PUBREC:
    case FMQ_PUBREL:
    case FMQ_PUBCOMP:
        walk_props(&p->ack.props, FMQ_IN(p->type));
        FUZZ_CHECK(p->ack.packet_id != 0, "%s with packet id 0", t);
        FUZZ_CHECK(v5 ? fmq_reason_valid_for(p->type, p->ack.reason) : p->ack.reason == 0,
                   "%s reason 0x%02x", t, p->ack.reason);
        break;
    case FMQ_SUBSCRIBE: {
        const fmq_subscribe_t *s = &p->subscribe;
        walk_props(&s->props, FMQ_IN(FMQ_SUBSCRIBE));
        uint32_t pos = 0, n = 0;
        fmq_sub_entry_t e;
        while (fmq_sub_iter(s, &pos, &e)) {
            n++;
            walk_filter(e.filter);
            FUZZ_CHECK(e.qos <= 2 && e.retain_handling <= 2, "subscription options");
            if (!v5)
                FUZZ_CHECK(!e.no_local && !e.retain_as_published && e.retain_handling == 0,
                           "MQTT 5 subscription options below level 5");
            fmq_bytes_t group, inner;
            if (e.no_local)
                FUZZ_CHECK(!fmq_topic_share_split(e.filter, &group, &inner),
                           "No Local on a shared subscription decoded");
        }
        FUZZ_CHECK(n == s->count && n > 0, "fmq_sub_iter gave %u entries, count %u", n, s->count);
        FUZZ_CHECK(pos == s->raw.len, "fmq_sub_iter stopped at %u of %u", pos, s->raw.len);
        break;
    }
    case FMQ_UNSUBSCRIBE: {
        const fmq_unsubscribe_t *u = &p->unsubscribe;
        walk_props(&u->props, FMQ_IN(FMQ_UNSUBSCRIBE));
        uint32_t pos = 0, n = 0;
        fmq_bytes_t f;
        while (fmq_unsub_iter(u, &pos, &f)) {
            n++;
            walk_filter(f);
        }
        FUZZ_CHECK(n == u->count && n > 0, "fmq_unsub_iter gave %u filters, count %u", n, u->count);
        FUZZ_CHECK(pos == u->raw.len, "fmq_unsub_iter stopped at %u of %u", pos, u->raw.len);
        break;
    }
    case FMQ_SUBACK:
    case FMQ_UNSUBACK:
        walk_props(&p->suback.props, FMQ_IN(p->type));
        for (uint32_t i = 0; i < p->suback.codes.len; i++)
            FUZZ_CHECK(fmq_reason_name(p->suback.codes.ptr[i]) != NULL, "%s code 0x%02x", t,
                       p->suback.codes.ptr[i]);
        break;
    case FMQ_DISCONNECT:
    case FMQ_AUTH:
        walk_props(&p->disconnect.props, FMQ_IN(p->type));
        FUZZ_CHECK(v5 ? fmq_reason_valid_for(p->type, p->disconnect.reason)
                      : p->disconnect.reason == 0,
                   "%s reason 0x%02x", t, p->disconnect.reason);
        break;
    case FMQ_PINGREQ:
    case FMQ_PINGRESP:
        break;
    }

    /* Every decodable packet may travel at least one way. */
    fmq_err_t es = {0}, ec = {0};
    int to_server = fmq_check_direction(p, version, FMQ_TO_SERVER, &es);
    int to_client = fmq_check_direction(p, version, FMQ_TO_CLIENT, &ec);
    fuzz_check_rc(to_server, &es, "fmq_check_direction");
    fuzz_check_rc(to_client, &ec, "fmq_check_direction");
    FUZZ_CHECK(to_server == 0 || to_server == -FMQ_RC_PROTOCOL_ERROR, "to server: %d", to_server);
    FUZZ_CHECK(to_client == 0 || to_client == -FMQ_RC_PROTOCOL_ERROR, "to client: %d", to_client);
    FUZZ_CHECK(to_server == 0 || to_client == 0, "a decoded %s (level %u) may travel neither way",
               t, version);
}

/* ---- re-encoding ---- */

static void check_roundtrip(const fmq_packet_t *p, uint8_t opts_version, uint8_t version)
{
    const char *t = fmq_type_name(p->type);
    fmq_err_t err = {0};
    int need = fmq_encode(p, version, NULL, 0, &err);
    fuzz_check_rc(need, &err, "fmq_encode");
    FUZZ_CHECK(need >= 2, "a decoded %s cannot be re-encoded at level %u: %d (%s)", t, version,
               need, need < 0 ? err.what : "too short");

    /* One byte too small: reports the size and writes nothing past cap. */
    uint8_t *small = malloc((size_t)need - 1);
    FUZZ_CHECK(small != NULL, "malloc");
    int again = fmq_encode(p, version, small, (size_t)need - 1, &err);
    free(small);
    FUZZ_CHECK(again == need, "%s: sizing says %d, short buffer says %d", t, need, again);

    uint8_t *buf = malloc((size_t)need);
    FUZZ_CHECK(buf != NULL, "malloc");
    int wrote = fmq_encode(p, version, buf, (size_t)need, &err);
    FUZZ_CHECK(wrote == need, "%s: sizing says %d, encoding wrote %d", t, need, wrote);

    /* The Maximum Packet Size is the reader's policy, not the encoder's. */
    fmq_decode_opts_t opts = {opts_version, 0};
    fmq_packet_t q;
    fmq_err_t qerr = {0};
    int used = fmq_decode(buf, (size_t)need, &opts, &q, &qerr);
    fuzz_check_rc(used, &qerr, "fmq_decode");
    FUZZ_CHECK(used == need, "re-encoded %s (level %u, %d bytes) decodes to %d: %s", t, version,
               need, used, used < 0 ? qerr.what : "length differs");
    FUZZ_CHECK(q.type == p->type, "re-encoded %s decodes as %s", t, fmq_type_name(q.type));
    check_packets_equal(p, &q);

    /* Encoding what the encoding decodes to gives the same bytes. */
    uint8_t *buf2 = malloc((size_t)need);
    FUZZ_CHECK(buf2 != NULL, "malloc");
    int wrote2 = fmq_encode(&q, version, buf2, (size_t)need, &err);
    FUZZ_CHECK(wrote2 == need && memcmp(buf, buf2, (size_t)need) == 0,
               "%s: encode(decode(encode(x))) differs from encode(x)", t);
    free(buf2);
    free(buf);
}

/* ---- prefixes ---- */

/* Decodes the first k bytes of p from a buffer of exactly k bytes, so reading
 * past them is caught by ASan, and compares with the whole stream's result. */
static void check_prefix(const uint8_t *p, size_t k, const fmq_decode_opts_t *opts, int full,
                         const fmq_packet_t *whole)
{
    uint8_t *copy = calloc(1, k ? k : 1);
    FUZZ_CHECK(copy != NULL, "malloc");
    if (k)
        memcpy(copy, p, k);
    fmq_packet_t q;
    fmq_err_t err = {0};
    int rc = fmq_decode(copy, k, opts, &q, &err);
    fuzz_check_rc(rc, &err, "fmq_decode");
    if (full > 0 && k >= (size_t)full) {
        FUZZ_CHECK(rc == full, "%zu bytes holding a whole %d-byte packet decode to %d", k, full,
                   rc);
        check_packets_equal(whole, &q);
    } else if (full >= 0) {
        FUZZ_CHECK(rc == FMQ_NEED_MORE, "a %zu-byte prefix of a %d-byte packet decodes to %d", k,
                   full, rc);
    } else {
        FUZZ_CHECK(rc == FMQ_NEED_MORE || rc == full,
                   "a %zu-byte prefix decodes to %d but the whole to %d", k, rc, full);
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    fmq_decode_opts_t opts = {versions[sel & 3], max_packets[(sel >> 2) & 7]};
    size_t split_seed = (size_t)(sel >> 5) << 8 | data[size - 1];
    const uint8_t *stream = data + 1;
    size_t len = size - 1, off = 0;

    while (off < len) {
        const uint8_t *p = stream + off;
        size_t n = len - off;

        fmq_fixed_header_t fh;
        fmq_err_t ferr = {0};
        int framed = fmq_frame(p, n, opts.max_packet, &fh, &ferr);
        fuzz_check_rc(framed, &ferr, "fmq_frame");
        if (framed > 0) {
            FUZZ_CHECK(fh.header_len >= 2 && fh.header_len <= 5, "header_len %u", fh.header_len);
            FUZZ_CHECK((uint32_t)framed == fh.header_len + fh.remaining, "frame %d vs %u+%u",
                       framed, fh.header_len, fh.remaining);
            FUZZ_CHECK(fh.type == p[0] >> 4 && fh.flags == (p[0] & 0x0F), "fixed header byte");
            FUZZ_CHECK(opts.max_packet == 0 || (uint32_t)framed <= opts.max_packet,
                       "frame %d over max_packet %u", framed, opts.max_packet);
            FUZZ_CHECK(fh.header_len == 1 + fmq_varint_size(fh.remaining),
                       "[MQTT-1.5.5-1] Remaining Length %u framed in %u bytes, not %d",
                       fh.remaining, fh.header_len - 1, fmq_varint_size(fh.remaining));
        }

        fmq_packet_t pkt;
        fmq_err_t err = {0};
        int rc = fmq_decode(p, n, &opts, &pkt, &err);
        fuzz_check_rc(rc, &err, "fmq_decode");
        if (framed <= 0)
            FUZZ_CHECK(rc == framed, "fmq_frame says %d, fmq_decode %d", framed, rc);
        else if ((size_t)framed > n)
            FUZZ_CHECK(rc == FMQ_NEED_MORE, "packet of %d bytes in %zu decodes to %d", framed, n,
                       rc);
        else
            FUZZ_CHECK(rc < 0 || rc == framed, "fmq_frame says %d, fmq_decode %d", framed, rc);

        /* The same bytes arriving in pieces. */
        check_prefix(p, split_seed % (n + 1), &opts, rc, &pkt);
        if (rc > 0) {
            check_prefix(p, (size_t)rc - 1, &opts, rc, &pkt);
            check_prefix(p, (size_t)rc, &opts, rc, &pkt);
        }
        if (rc <= 0)
            break;

        uint8_t version = pkt.type == FMQ_CONNECT ? pkt.connect.version : opts.version;
        walk_packet(&pkt, version);
        check_roundtrip(&pkt, opts.version, version);
        if (pkt.type == FMQ_CONNECT && opts.version == 0)
            opts.version = pkt.connect.version;
        off += (size_t)rc;
        split_seed = split_seed * 31 + 7;
    }
    return 0;
}
