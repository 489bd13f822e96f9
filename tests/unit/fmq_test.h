/*
 * fmq_test.h: checks shared by the libferrymqtt unit tests, built on check.h
 * and the PUBLIC API (mqtt/fmq.h) only.
 *
 *   DECODE_OK(golden, version, &pkt)     whole buffer decodes, returns its size
 *   DECODE_ERR(bytes, version, rc)       returns -rc and err.reason == rc
 *   DECODE_ERR_P(bytes, version, rc, &p) same, keeps the packet for inspection
 *   CHECK_PREFIXES(golden, version)      every proper prefix gives FMQ_NEED_MORE
 *   CHECK_ENCODE(&pkt, version, golden)  encoder output == golden, sizing works
 *   CHECK_ROUNDTRIP(&pkt, version)       decode(encode(pkt)) == pkt
 *   CHECK_BACK_TO_BACK(a, b, version)    a then b in one buffer decode one by one
 *   CHECK_PACKET_EQ(&exp, &got, version) field by field
 *
 * `bytes` arguments are arrays (their size is taken with sizeof). `version`
 * is the negotiated level passed in fmq_decode_opts_t (0 for a CONNECT).
 */
#ifndef FMQ_TEST_H
#define FMQ_TEST_H

#include "check.h"
#include "mqtt/fmq.h"

/* Poison for err before a call, to see that the codec set it. */
#define ERR_POISON 0xEE

/* fmq_decode with opts {version, max_packet}. */
static inline int dec_opts(const uint8_t *b, size_t n, uint8_t version, uint32_t max_packet,
                           fmq_packet_t *out, fmq_err_t *err)
{
    fmq_decode_opts_t o = {.version = version, .max_packet = max_packet};
    err->reason = ERR_POISON;
    err->what = NULL;
    return fmq_decode(b, n, &o, out, err);
}

static inline int dec(const uint8_t *b, size_t n, uint8_t version, fmq_packet_t *out,
                      fmq_err_t *err)
{
    return dec_opts(b, n, version, 0, out, err);
}

static inline bool check_decode_ok_(const char *file, int line, const uint8_t *b, size_t n,
                                    uint8_t version, fmq_packet_t *out)
{
    fmq_err_t err;
    memset(out, 0x5A, sizeof *out); /* the decoder must set every field it reports */
    int rc = dec(b, n, version, out, &err);
    if (!check_eq_int_(file, line, "fmq_decode()", "golden size", rc, (long long)n)) {
        if (rc < 0)
            fprintf(stderr, "    err.reason 0x%02X: %s\n", err.reason,
                    err.what ? err.what : "(null)");
        return false;
    }
    return true;
}

static inline bool check_decode_err_(const char *file, int line, const uint8_t *b, size_t n,
                                     uint8_t version, uint8_t rc_expected, fmq_packet_t *keep)
{
    fmq_packet_t tmp;
    fmq_packet_t *out = keep ? keep : &tmp;
    fmq_err_t err;
    int rc = dec(b, n, version, out, &err);
    bool ok = check_eq_int_(file, line, "fmq_decode()", "-expected reason", rc,
                            -(long long)rc_expected);
    if (rc < 0) {
        ok &= check_eq_hex_(file, line, "err.reason", "expected reason", err.reason,
                            rc_expected);
        ok &= check_true_(file, line, "err.what != NULL", err.what != NULL);
    }
    if (!ok)
        fprintf(stderr, "    err.reason 0x%02X what: %s\n", err.reason,
                err.what ? err.what : "(null)");
    return ok;
}

/* Every proper prefix (0..n-1 bytes, copied into a buffer of exactly that
 * size so that a sanitizer sees any over-read) decodes to FMQ_NEED_MORE, and
 * fmq_frame says NEED_MORE until the fixed header is complete, then n. */
static inline bool check_prefixes_(const char *file, int line, const uint8_t *b, size_t n,
                                   uint8_t version)
{
    bool ok = true;
    size_t hdr = 2;
    while (hdr < n && hdr <= 5 && (b[hdr - 1] & 0x80))
        hdr++;
    for (size_t i = 0; i < n && ok; i++) {
        uint8_t *copy = (uint8_t *)malloc(i ? i : 1);
        if (!copy)
            abort();
        memcpy(copy, b, i);
        fmq_packet_t p;
        fmq_err_t err;
        int rc = dec(copy, i, version, &p, &err);
        if (!check_eq_int_(file, line, "fmq_decode(prefix)", "FMQ_NEED_MORE", rc, 0)) {
            fprintf(stderr, "    prefix of %zu of %zu bytes; err 0x%02X %s\n", i, n, err.reason,
                    err.what ? err.what : "(null)");
            ok = false;
        }
        fmq_fixed_header_t fh;
        err.reason = ERR_POISON;
        rc = fmq_frame(copy, i, 0, &fh, &err);
        long long want = i < hdr ? 0 : (long long)n;
        if (!check_eq_int_(file, line, "fmq_frame(prefix)", i < hdr ? "FMQ_NEED_MORE" : "size",
                           rc, want)) {
            fprintf(stderr, "    prefix of %zu of %zu bytes\n", i, n);
            ok = false;
        }
        free(copy);
    }
    return ok;
}

/* fmq_encode(p) sizes with (NULL, 0), writes exactly `golden` into a buffer of
 * that size without touching bytes past it, and reports the size without
 * writing past `cap` when the buffer is one byte short. */
static inline bool check_encode_(const char *file, int line, const fmq_packet_t *p,
                                 uint8_t version, const uint8_t *golden, size_t n)
{
    enum { GUARD = 16 };
    fmq_err_t err = {ERR_POISON, NULL};
    bool ok = true;
    int size = fmq_encode(p, version, NULL, 0, &err);
    ok &= check_eq_int_(file, line, "fmq_encode(NULL, 0)", "golden size", size, (long long)n);
    if (size < 0)
        fprintf(stderr, "    err.reason 0x%02X: %s\n", err.reason, err.what ? err.what : "");
    uint8_t *buf = (uint8_t *)malloc(n + GUARD);
    if (!buf)
        abort();
    memset(buf, 0xA5, n + GUARD);
    int rc = fmq_encode(p, version, buf, n, &err);
    ok &= check_eq_int_(file, line, "fmq_encode()", "golden size", rc, (long long)n);
    ok &= check_eq_bytes_(file, line, "encoded", "golden", buf, rc > 0 ? (size_t)rc : 0, golden,
                          n);
    for (size_t i = n; i < n + GUARD; i++)
        if (buf[i] != 0xA5) {
            ok &= check_true_(file, line, "encoder wrote past the size it returned", false);
            break;
        }
    if (n > 0) {
        memset(buf, 0xA5, n + GUARD);
        rc = fmq_encode(p, version, buf, n - 1, &err);
        ok &= check_eq_int_(file, line, "fmq_encode(cap = size - 1)", "golden size", rc,
                            (long long)n);
        for (size_t i = n - 1; i < n + GUARD; i++)
            if (buf[i] != 0xA5) {
                ok &= check_true_(file, line, "encoder wrote past cap", false);
                break;
            }
    }
    free(buf);
    return ok;
}

/* ---- field-by-field comparison ---- */

/* i-th User Property of a set: from the caller's list or, when decoded, raw. */
static inline bool props_user_at(const fmq_props_t *p, uint32_t i, fmq_user_prop_t *kv)
{
    if (p->user) {
        if (i >= p->n_user)
            return false;
        *kv = p->user[i];
        return true;
    }
    uint32_t pos = 0, k = 0;
    fmq_prop_t pr;
    while (fmq_props_iter(p, &pos, &pr))
        if (pr.id == FMQ_PROP_USER_PROPERTY && k++ == i) {
            kv->key = pr.str;
            kv->value = pr.value;
            return true;
        }
    return false;
}

static inline bool props_sub_id_at(const fmq_props_t *p, uint32_t i, uint32_t *id)
{
    if (p->sub_ids) {
        if (i >= p->n_sub_ids)
            return false;
        *id = p->sub_ids[i];
        return true;
    }
    uint32_t pos = 0, k = 0;
    fmq_prop_t pr;
    while (fmq_props_iter(p, &pos, &pr))
        if (pr.id == FMQ_PROP_SUBSCRIPTION_ID && k++ == i) {
            *id = pr.num;
            return true;
        }
    return false;
}

#define CMP_INT_(label, a, b) (ok &= check_eq_int_(file, line, label, "(decoded)", (a), (b)))
#define CMP_BYTES_(label, a, b)                                                                \
    (ok &= check_eq_bytes_(file, line, label, "(decoded)", (a).ptr, (a).len, (b).ptr, (b).len))

static inline bool check_props_eq_(const char *file, int line, const fmq_props_t *e,
                                   const fmq_props_t *g)
{
    bool ok = true;
    const uint64_t lists =
        FMQ_PROP_BIT(FMQ_PROP_USER_PROPERTY) | FMQ_PROP_BIT(FMQ_PROP_SUBSCRIPTION_ID);
    ok &= check_eq_hex_(file, line, "props.present (lists masked)", "(decoded)",
                        e->present & ~lists, g->present & ~lists);
#define PNUM_(id, f)                                                                           \
    if (fmq_props_has(e, id))                                                                  \
    CMP_INT_("props." #f, e->f, g->f)
#define PSTR_(id, f)                                                                           \
    if (fmq_props_has(e, id))                                                                  \
    CMP_BYTES_("props." #f, e->f, g->f)
    PNUM_(FMQ_PROP_PAYLOAD_FORMAT, payload_format);
    PNUM_(FMQ_PROP_MESSAGE_EXPIRY, message_expiry);
    PSTR_(FMQ_PROP_CONTENT_TYPE, content_type);
    PSTR_(FMQ_PROP_RESPONSE_TOPIC, response_topic);
    PSTR_(FMQ_PROP_CORRELATION_DATA, correlation_data);
    PNUM_(FMQ_PROP_SESSION_EXPIRY, session_expiry);
    PSTR_(FMQ_PROP_ASSIGNED_CLIENT_ID, assigned_client_id);
    PNUM_(FMQ_PROP_SERVER_KEEP_ALIVE, server_keep_alive);
    PSTR_(FMQ_PROP_AUTH_METHOD, auth_method);
    PSTR_(FMQ_PROP_AUTH_DATA, auth_data);
    PNUM_(FMQ_PROP_REQUEST_PROBLEM_INFO, request_problem_info);
    PNUM_(FMQ_PROP_WILL_DELAY, will_delay);
    PNUM_(FMQ_PROP_REQUEST_RESPONSE_INFO, request_response_info);
    PSTR_(FMQ_PROP_RESPONSE_INFO, response_info);
    PSTR_(FMQ_PROP_SERVER_REFERENCE, server_reference);
    PSTR_(FMQ_PROP_REASON_STRING, reason_string);
    PNUM_(FMQ_PROP_RECEIVE_MAXIMUM, receive_maximum);
    PNUM_(FMQ_PROP_TOPIC_ALIAS_MAXIMUM, topic_alias_maximum);
    PNUM_(FMQ_PROP_TOPIC_ALIAS, topic_alias);
    PNUM_(FMQ_PROP_MAXIMUM_QOS, maximum_qos);
    PNUM_(FMQ_PROP_RETAIN_AVAILABLE, retain_available);
    PNUM_(FMQ_PROP_MAXIMUM_PACKET_SIZE, max_packet_size);
    PNUM_(FMQ_PROP_WILDCARD_SUB_AVAILABLE, wildcard_sub_available);
    PNUM_(FMQ_PROP_SUB_ID_AVAILABLE, sub_id_available);
    PNUM_(FMQ_PROP_SHARED_SUB_AVAILABLE, shared_sub_available);
#undef PNUM_
#undef PSTR_
    CMP_INT_("props.n_user", e->n_user, g->n_user);
    for (uint32_t i = 0; i < e->n_user && i < g->n_user; i++) {
        fmq_user_prop_t a = {{0}}, b = {{0}};
        ok &= check_true_(file, line, "props_user_at(expected)", props_user_at(e, i, &a));
        ok &= check_true_(file, line, "props_user_at(decoded)", props_user_at(g, i, &b));
        CMP_BYTES_("props.user[i].key", a.key, b.key);
        CMP_BYTES_("props.user[i].value", a.value, b.value);
    }
    CMP_INT_("props.n_sub_ids", e->n_sub_ids, g->n_sub_ids);
    for (uint32_t i = 0; i < e->n_sub_ids && i < g->n_sub_ids; i++) {
        uint32_t a = 0, b = 0;
        ok &= check_true_(file, line, "props_sub_id_at(expected)", props_sub_id_at(e, i, &a));
        ok &= check_true_(file, line, "props_sub_id_at(decoded)", props_sub_id_at(g, i, &b));
        CMP_INT_("props.sub_ids[i]", a, b);
    }
    return ok;
}

/* Props of a packet at `version`: compared when MQTT 5, else must be empty. */
static inline bool check_props_v_(const char *file, int line, uint8_t version,
                                  const fmq_props_t *e, const fmq_props_t *g)
{
    if (version == FMQ_V5)
        return check_props_eq_(file, line, e, g);
    bool ok = true;
    ok &= check_eq_hex_(file, line, "props.present (before MQTT 5)", "0", g->present, 0);
    CMP_INT_("props.n_user (before MQTT 5)", g->n_user, 0);
    return ok;
}

static inline bool check_packet_eq_(const char *file, int line, const fmq_packet_t *e,
                                    const fmq_packet_t *g, uint8_t version)
{
    bool ok = true;
    if (!CMP_INT_("type", e->type, g->type))
        return false;
    bool v5 = version == FMQ_V5;
    switch (e->type) {
    case FMQ_CONNECT: {
        const fmq_connect_t *a = &e->connect, *b = &g->connect;
        v5 = a->version == FMQ_V5;
        CMP_INT_("connect.version", a->version, b->version);
        CMP_INT_("connect.clean_start", a->clean_start, b->clean_start);
        CMP_INT_("connect.keep_alive", a->keep_alive, b->keep_alive);
        CMP_BYTES_("connect.client_id", a->client_id, b->client_id);
        CMP_INT_("connect.will_flag", a->will_flag, b->will_flag);
        CMP_INT_("connect.will_qos", a->will_qos, b->will_qos);
        CMP_INT_("connect.will_retain", a->will_retain, b->will_retain);
        if (a->will_flag) {
            CMP_BYTES_("connect.will_topic", a->will_topic, b->will_topic);
            CMP_BYTES_("connect.will_payload", a->will_payload, b->will_payload);
            ok &= check_props_v_(file, line, a->version, &a->will_props, &b->will_props);
        }
        CMP_INT_("connect.has_username", a->has_username, b->has_username);
        if (a->has_username)
            CMP_BYTES_("connect.username", a->username, b->username);
        CMP_INT_("connect.has_password", a->has_password, b->has_password);
        if (a->has_password)
            CMP_BYTES_("connect.password", a->password, b->password);
        ok &= check_props_v_(file, line, a->version, &a->props, &b->props);
        break;
    }
    case FMQ_CONNACK:
        CMP_INT_("connack.session_present", e->connack.session_present,
                 g->connack.session_present);
        CMP_INT_("connack.reason", e->connack.reason, g->connack.reason);
        ok &= check_props_v_(file, line, version, &e->connack.props, &g->connack.props);
        break;
    case FMQ_PUBLISH: {
        const fmq_publish_t *a = &e->publish, *b = &g->publish;
        CMP_INT_("publish.qos", a->qos, b->qos);
        CMP_INT_("publish.dup", a->dup, b->dup);
        CMP_INT_("publish.retain", a->retain, b->retain);
        CMP_BYTES_("publish.topic", a->topic, b->topic);
        if (a->qos > 0)
            CMP_INT_("publish.packet_id", a->packet_id, b->packet_id);
        ok &= check_props_v_(file, line, version, &a->props, &b->props);
        CMP_BYTES_("publish.payload", a->payload, b->payload);
        break;
    }
    case FMQ_PUBACK:
    case FMQ_PUBREC:
    case FMQ_PUBREL:
    case FMQ_PUBCOMP:
        CMP_INT_("ack.packet_id", e->ack.packet_id, g->ack.packet_id);
        CMP_INT_("ack.reason", v5 ? e->ack.reason : 0, g->ack.reason);
        ok &= check_props_v_(file, line, version, &e->ack.props, &g->ack.props);
        break;
    case FMQ_SUBSCRIBE: {
        const fmq_subscribe_t *a = &e->subscribe, *b = &g->subscribe;
        CMP_INT_("subscribe.packet_id", a->packet_id, b->packet_id);
        ok &= check_props_v_(file, line, version, &a->props, &b->props);
        CMP_INT_("subscribe.count", a->count, b->count);
        uint32_t pa = 0, pb = 0, i = 0;
        fmq_sub_entry_t x, y;
        while (fmq_sub_iter(a, &pa, &x)) {
            if (!check_true_(file, line, "fmq_sub_iter(decoded) has entry i", fmq_sub_iter(b, &pb, &y))) {
                ok = false;
                break;
            }
            CMP_BYTES_("subscribe entry filter", x.filter, y.filter);
            CMP_INT_("subscribe entry qos", x.qos, y.qos);
            CMP_INT_("subscribe entry no_local", v5 ? x.no_local : 0, y.no_local);
            CMP_INT_("subscribe entry retain_as_published", v5 ? x.retain_as_published : 0,
                     y.retain_as_published);
            CMP_INT_("subscribe entry retain_handling", v5 ? x.retain_handling : 0,
                     y.retain_handling);
            i++;
        }
        ok &= check_true_(file, line, "no extra decoded entry", !fmq_sub_iter(b, &pb, &y));
        CMP_INT_("subscribe entries iterated", i, a->count);
        break;
    }
    case FMQ_UNSUBSCRIBE: {
        const fmq_unsubscribe_t *a = &e->unsubscribe, *b = &g->unsubscribe;
        CMP_INT_("unsubscribe.packet_id", a->packet_id, b->packet_id);
        ok &= check_props_v_(file, line, version, &a->props, &b->props);
        CMP_INT_("unsubscribe.count", a->count, b->count);
        uint32_t pa = 0, pb = 0, i = 0;
        fmq_bytes_t x, y;
        while (fmq_unsub_iter(a, &pa, &x)) {
            if (!check_true_(file, line, "fmq_unsub_iter(decoded) has filter i", fmq_unsub_iter(b, &pb, &y))) {
                ok = false;
                break;
            }
            CMP_BYTES_("unsubscribe filter", x, y);
            i++;
        }
        ok &= check_true_(file, line, "no extra decoded filter", !fmq_unsub_iter(b, &pb, &y));
        CMP_INT_("unsubscribe filters iterated", i, a->count);
        break;
    }
    case FMQ_SUBACK:
    case FMQ_UNSUBACK:
        CMP_INT_("suback.packet_id", e->suback.packet_id, g->suback.packet_id);
        ok &= check_props_v_(file, line, version, &e->suback.props, &g->suback.props);
        if (e->type == FMQ_SUBACK || v5)
            CMP_BYTES_("suback.codes", e->suback.codes, g->suback.codes);
        else
            CMP_INT_("unsuback.codes.len (MQTT 3.1.1)", 0, g->suback.codes.len);
        break;
    case FMQ_DISCONNECT:
    case FMQ_AUTH:
        CMP_INT_("disconnect.reason", v5 ? e->disconnect.reason : 0, g->disconnect.reason);
        ok &= check_props_v_(file, line, version, &e->disconnect.props, &g->disconnect.props);
        break;
    case FMQ_PINGREQ:
    case FMQ_PINGRESP:
        break;
    }
    return ok;
}

#undef CMP_INT_
#undef CMP_BYTES_

/* Encodes p at `version`, decodes the result, compares with p. */
static inline bool check_roundtrip_(const char *file, int line, const fmq_packet_t *p,
                                    uint8_t version)
{
    fmq_err_t err = {ERR_POISON, NULL};
    int size = fmq_encode(p, version, NULL, 0, &err);
    if (!check_true_(file, line, "fmq_encode(NULL, 0) > 0", size > 0)) {
        fprintf(stderr, "    returned %d, err 0x%02X %s\n", size, err.reason,
                err.what ? err.what : "");
        return false;
    }
    uint8_t *buf = (uint8_t *)malloc((size_t)size);
    if (!buf)
        abort();
    bool ok = check_eq_int_(file, line, "fmq_encode()", "sized", fmq_encode(p, version, buf,
                            (size_t)size, &err), size);
    fmq_packet_t got;
    memset(&got, 0x5A, sizeof got);
    uint8_t dv = p->type == FMQ_CONNECT ? 0 : version;
    int rc = dec(buf, (size_t)size, dv, &got, &err);
    ok &= check_eq_int_(file, line, "fmq_decode(encoded)", "size", rc, size);
    if (rc == size)
        ok &= check_packet_eq_(file, line, p, &got, version);
    else if (rc < 0)
        fprintf(stderr, "    err 0x%02X %s\n", err.reason, err.what ? err.what : "");
    free(buf);
    return ok;
}

/* a and b back to back: the first decode uses exactly a, the second exactly b. */
static inline bool check_back_to_back_(const char *file, int line, const uint8_t *a, size_t na,
                                       const uint8_t *b, size_t nb, uint8_t version)
{
    uint8_t *buf = (uint8_t *)malloc(na + nb);
    if (!buf)
        abort();
    memcpy(buf, a, na);
    memcpy(buf + na, b, nb);
    fmq_packet_t p;
    fmq_err_t err;
    bool ok = check_eq_int_(file, line, "fmq_decode(first of two)", "size of first",
                            dec(buf, na + nb, version, &p, &err), (long long)na);
    ok &= check_eq_int_(file, line, "fmq_decode(second of two)", "size of second",
                        dec(buf + na, nb, version, &p, &err), (long long)nb);
    /* The first packet followed by a partial second still decodes the first. */
    ok &= check_eq_int_(file, line, "fmq_decode(first + 1 byte of second)", "size of first",
                        dec(buf, na + 1, version, &p, &err), (long long)na);
    free(buf);
    return ok;
}

#define DECODE_OK(arr, version, out)                                                           \
    check_decode_ok_(__FILE__, __LINE__, (arr), sizeof(arr), (version), (out))
#define DECODE_ERR(arr, version, rc)                                                           \
    check_decode_err_(__FILE__, __LINE__, (arr), sizeof(arr), (version), (rc), NULL)
#define DECODE_ERR_P(arr, version, rc, out)                                                    \
    check_decode_err_(__FILE__, __LINE__, (arr), sizeof(arr), (version), (rc), (out))
#define CHECK_PREFIXES(arr, version)                                                           \
    check_prefixes_(__FILE__, __LINE__, (arr), sizeof(arr), (version))
#define CHECK_ENCODE(pkt, version, arr)                                                        \
    check_encode_(__FILE__, __LINE__, (pkt), (version), (arr), sizeof(arr))
#define CHECK_ROUNDTRIP(pkt, version) check_roundtrip_(__FILE__, __LINE__, (pkt), (version))
#define CHECK_BACK_TO_BACK(a, b, version)                                                      \
    check_back_to_back_(__FILE__, __LINE__, (a), sizeof(a), (b), sizeof(b), (version))
#define CHECK_PACKET_EQ(exp, got, version)                                                     \
    check_packet_eq_(__FILE__, __LINE__, (exp), (got), (version))

/* fmq_bytes_t against a C string literal. */
#define CHECK_BSTR(b, s) CHECK_EQ_BYTES((b).ptr, (b).len, (const uint8_t *)(s), sizeof(s) - 1)

/* A copy of a golden vector to damage: MUTABLE_COPY(bad, golden); bad[9] = 3; */
#define MUTABLE_COPY(name, golden)                                                             \
    uint8_t name[sizeof(golden)];                                                              \
    memcpy(name, golden, sizeof(golden))

#endif /* FMQ_TEST_H */
