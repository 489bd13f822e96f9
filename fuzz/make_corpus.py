#!/usr/bin/python3
"""Writes the seed corpora under fuzz/corpus/fuzz_<target>/ (seed-* files)
for the codec's targets fuzz_packet, fuzz_props and fuzz_topic.

Every packet is built here by hand from the MQTT 3.1, 3.1.1 and 5.0 specs'
byte layouts, never with libferrymqtt's encoder, so the seeds are an
independent statement of the wire format. Run it after changing it and check
the files in; `make_corpus.py --check` (a CTest test) fails when the checked-in
seed-* files differ from what it would write. Files without the seed- prefix
(merged in by fuzz/run.sh --merge) are left alone.

Input formats (they must match the targets' headers):
  packet: [selector] [byte stream]  selector bits 0-1 level index into
          (0, 3, 4, 5), bits 2-4 max_packet index into
          (0, 0, 0, 0, 3, 32, 128, 1024), bits 5-7 split seed
  props:  [place] [property block]  place % 14 indexes PLACES below
  topic:  filter NUL name
"""
import os
import sys

import seedfiles
from seedfiles import u8, u16, u32

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

# ---- wire primitives (MQTT 5.0 section 1.5) ----


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def s(x):
    """Two-byte length prefixed UTF-8 string or binary data."""
    b = x.encode() if isinstance(x, str) else x
    return u16(len(b)) + b


def pkt(ptype, flags, body):
    return u8(ptype << 4 | flags) + varint(len(body)) + body


# ---- properties (section 2.2.2); ids below 128 are one varint byte ----


def p_byte(pid, v):
    return u8(pid) + u8(v)


def p_u16(pid, v):
    return u8(pid) + u16(v)


def p_u32(pid, v):
    return u8(pid) + u32(v)


def p_var(pid, v):
    return u8(pid) + varint(v)


def p_str(pid, v):
    return u8(pid) + s(v)


def p_pair(k, v):
    return u8(0x26) + s(k) + s(v)


def props(*items):
    body = b"".join(items)
    return varint(len(body)) + body


NO_PROPS = props()

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP = 8, 9, 10, 11, 12, 13
DISCONNECT, AUTH = 14, 15
WILL = 16  # pseudo place for the Will Properties
PLACES = [CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE,
          SUBACK, UNSUBSCRIBE, UNSUBACK, DISCONNECT, AUTH, WILL]

LEVEL_INDEX = {0: 0, 3: 1, 4: 2, 5: 3}


def sel(level, max_index=0, split=0):
    return u8(LEVEL_INDEX[level] | max_index << 2 | split << 5)


# ---- packets for one protocol level ----


def connect(level, flags, keep_alive=60, cprops=NO_PROPS, client_id="c1",
            wprops=NO_PROPS, will=None, user=None, password=None):
    name = "MQIsdp" if level == 3 else "MQTT"
    body = s(name) + u8(level) + u8(flags) + u16(keep_alive)
    if level == 5:
        body += cprops
    body += s(client_id)
    if will is not None:
        if level == 5:
            body += wprops
        body += s(will[0]) + s(will[1])
    if user is not None:
        body += s(user)
    if password is not None:
        body += s(password)
    return pkt(CONNECT, 0, body)


def v5(level, tail):
    """The MQTT 5 property block when the level has one."""
    return tail if level == 5 else b""


def connect_props():
    return props(p_u32(0x11, 3600), p_u16(0x21, 32), p_u32(0x27, 1 << 20),
                 p_u16(0x22, 10), p_byte(0x17, 1), p_byte(0x19, 1),
                 p_pair("app", "ferry"), p_str(0x15, "SCRAM-SHA-256"),
                 p_str(0x16, b"\x01\x02\x03"))


def will_props():
    return props(p_u32(0x18, 30), p_byte(0x01, 1), p_u32(0x02, 300),
                 p_str(0x03, "text/plain"), p_str(0x08, "reply/here"),
                 p_str(0x09, b"\xde\xad\xbe\xef"), p_pair("k", "v"))


def packets(level):
    """name -> packet bytes, all valid at `level`."""
    out = {}
    out["connect-min"] = connect(level, 0x02)
    out["connect-full"] = connect(
        level, 0xEE, cprops=connect_props(), client_id="ferry-client-1",
        wprops=will_props(), will=("status/ferry-client-1", b"offline"),
        user="alice", password=b"s3cr3t")
    out["connect-will-qos2"] = connect(level, 0x14, keep_alive=0,
                                       will=("w/t", b""), client_id="c2")
    if level != 3:
        out["connect-empty-id"] = connect(level, 0x02, client_id="")
    if level == 5:
        out["connect-password-only"] = connect(level, 0x42, password=b"pw")

    out["connack-accepted"] = pkt(CONNACK, 0, b"\x01\x00" + v5(level, NO_PROPS))
    out["connack-refused"] = pkt(
        CONNACK, 0, b"\x00" + (b"\x87" + props(p_str(0x1F, "not authorized"))
                               if level == 5 else b"\x05"))
    if level == 5:
        out["connack-props"] = pkt(CONNACK, 0, b"\x00\x00" + props(
            p_u32(0x11, 0),
            p_str(0x12, "auto-1234"), p_u16(0x13, 30), p_str(0x15, "PLAIN"),
            p_str(0x16, b"\x00"), p_str(0x1A, "resp/"), p_str(0x1C, "other:1883"),
            p_str(0x1F, "welcome"), p_u16(0x21, 100), p_u16(0x22, 16),
            p_byte(0x24, 1), p_byte(0x25, 0), p_pair("region", "eu"),
            p_u32(0x27, 65536), p_byte(0x28, 1), p_byte(0x29, 0), p_byte(0x2A, 1)))

    out["publish-qos0"] = pkt(PUBLISH, 0, s("a/b") + v5(level, NO_PROPS) + b"hello")
    out["publish-qos1"] = pkt(PUBLISH, 2, s("sensors/1/temp") + u16(1) +
                              v5(level, NO_PROPS) + b"21.5")
    out["publish-qos2-dup-retain"] = pkt(PUBLISH, 0x0D, s("x") + u16(0xFFFF) +
                                         v5(level, NO_PROPS) + bytes(range(32)))
    out["publish-empty-payload"] = pkt(PUBLISH, 1, s("retained/clear") + v5(level, NO_PROPS))
    out["publish-utf8"] = pkt(PUBLISH, 0, s("caf\u00e9/\u00fc/\U0001F600") +
                              v5(level, NO_PROPS) + b"\xff\x00")
    if level == 5:
        out["publish-props"] = pkt(PUBLISH, 2, s("req/1") + u16(7) + props(
            p_byte(0x01, 1), p_u32(0x02, 60), p_str(0x03, "application/json"),
            p_str(0x08, "resp/1"), p_str(0x09, b"\x00\x01"), p_pair("a", "1"),
            p_pair("a", "2"), p_u16(0x23, 3)) + b'{"v":1}')
        out["publish-alias-only"] = pkt(PUBLISH, 0, s("") + props(p_u16(0x23, 3)) + b"p")
        out["publish-sub-ids"] = pkt(PUBLISH, 0, s("t") + props(
            p_var(0x0B, 1), p_var(0x0B, 268435455)) + b"")

    for name, ptype, flags, code in (("puback", PUBACK, 0, 0x10), ("pubrec", PUBREC, 0, 0x80),
                                     ("pubrel", PUBREL, 2, 0x92), ("pubcomp", PUBCOMP, 0, 0x92)):
        out[name] = pkt(ptype, flags, u16(1))
        if level == 5:
            out[name + "-reason"] = pkt(ptype, flags, u16(0x1234) + u8(code))
            out[name + "-props"] = pkt(ptype, flags, u16(2) + u8(0) + props(
                p_str(0x1F, "ok"), p_pair("k", "v")))

    opts = 0x2D if level == 5 else 0x01
    out["subscribe"] = pkt(SUBSCRIBE, 2, u16(10) + v5(level, NO_PROPS) +
                           s("a/+") + u8(1) + s("b/#") + u8(2))
    out["subscribe-options"] = pkt(SUBSCRIBE, 2, u16(11) + v5(level, props(
        p_var(0x0B, 5), p_pair("k", "v"))) + s("sport/tennis/+") + u8(opts) +
        s("$share/g/x/#") + u8(0) + s("#") + u8(0))
    out["suback"] = pkt(SUBACK, 0, u16(10) + v5(level, NO_PROPS) + b"\x00\x01\x02\x80")
    if level == 5:
        out["suback-props"] = pkt(SUBACK, 0, u16(11) + props(p_str(0x1F, "partial")) +
                                  b"\x00\x87\x8f\xa1\x9e\xa2")
    out["unsubscribe"] = pkt(UNSUBSCRIBE, 2, u16(12) + v5(level, props(p_pair("k", "v"))) +
                             s("a/+") + s("b/#"))
    out["unsuback"] = pkt(UNSUBACK, 0, u16(12) + v5(level, props(p_str(0x1F, "done")) +
                                                    b"\x00\x11"))
    out["pingreq"] = pkt(PINGREQ, 0, b"")
    out["pingresp"] = pkt(PINGRESP, 0, b"")
    out["disconnect"] = pkt(DISCONNECT, 0, b"")
    if level == 5:
        out["disconnect-will"] = pkt(DISCONNECT, 0, b"\x04")
        out["disconnect-props"] = pkt(DISCONNECT, 0, b"\x9c" + props(
            p_u32(0x11, 0), p_str(0x1F, "moving"), p_str(0x1C, "b2:1883"), p_pair("k", "v")))
        out["auth"] = pkt(AUTH, 0, b"")
        out["auth-continue"] = pkt(AUTH, 0, b"\x18" + props(
            p_str(0x15, "SCRAM-SHA-1"), p_str(0x16, b"n,,n=user,r=abc"), p_str(0x1F, "more")))
    return out


def packet_seeds():
    seeds = {}
    for level in (3, 4, 5):
        ps = packets(level)
        for name, data in ps.items():
            lv = 0 if name.startswith("connect") else level
            seeds[f"v{level}-{name}"] = sel(lv) + data
        # A session: CONNECT at level 0, then the stream at the CONNECT's level.
        session = (ps["connect-full"] + ps["subscribe"] + ps["publish-qos1"] + ps["puback"] +
                   ps["publish-qos2-dup-retain"] + ps["pubrel"] + ps["pingreq"] +
                   ps["unsubscribe"] + ps["disconnect"])
        seeds[f"v{level}-session"] = sel(0, split=3) + session
        # The same stream cut inside its last packet, and a split seed that
        # lands inside the first one.
        seeds[f"v{level}-session-truncated"] = sel(0, split=1) + session[:-1]
        client = ps["connack-accepted"] + ps["suback"] + ps["publish-qos0"] + ps["pingresp"]
        seeds[f"v{level}-client-stream"] = sel(level, split=5) + client + b"\x07"
        # Maximum Packet Size: fits in 128, not in 32.
        seeds[f"v{level}-max-packet-ok"] = sel(level, 6) + ps["publish-qos1"]
        seeds[f"v{level}-max-packet-over"] = sel(level, 5) + ps["subscribe-options"]

    bad = {
        "type0": sel(4) + b"\x00\x00",
        "length-5-bytes": sel(4) + b"\x30\xff\xff\xff\xff\x7f",
        # Variable Byte Integers in more bytes than needed [MQTT-1.5.5-1].
        "length-overlong": sel(4) + b"\xc0\x80\x00",
        "length-overlong-4": sel(4) + b"\xe0\x80\x80\x80\x00",
        "props-length-overlong": sel(5) + pkt(PUBLISH, 0, s("a") + b"\x80\x00"),
        "need-more-header": sel(4) + b"\x30\xff\xff",
        "connect-bad-name": sel(0) + pkt(CONNECT, 0, s("MQTX") + b"\x04\x02\x00\x3c" + s("c")),
        "connect-level6": sel(0) + pkt(CONNECT, 0, s("MQTT") + b"\x06\x02\x00\x3c" + s("c")),
        "connect-level3-mqtt": sel(0) + pkt(CONNECT, 0, s("MQTT") + b"\x03\x02\x00\x3c" + s("c")),
        "connect-reserved-flag": sel(0) + pkt(CONNECT, 0, s("MQTT") + b"\x04\x03\x00\x3c" + s("c")),
        "connect-password-only-v4": sel(0) + pkt(CONNECT, 0, s("MQTT") + b"\x04\x42\x00\x3c" +
                                                 s("c") + s("pw")),
        "connect-will-qos3": sel(0) + pkt(CONNECT, 0, s("MQTT") + b"\x04\x1e\x00\x3c" + s("c") +
                                          s("w") + s("")),
        "connect-will-wildcard": sel(0) + pkt(CONNECT, 0, s("MQTT") + b"\x04\x06\x00\x3c" +
                                              s("c") + s("w/#") + s("")),
        "publish-before-connect": sel(0) + pkt(PUBLISH, 0, s("a") + b"x"),
        "publish-qos3": sel(4) + pkt(PUBLISH, 6, s("a") + u16(1)),
        "publish-qos0-dup": sel(4) + pkt(PUBLISH, 8, s("a")),
        "publish-wildcard": sel(4) + pkt(PUBLISH, 0, s("a/#")),
        "publish-bad-utf8": sel(4) + pkt(PUBLISH, 0, s(b"a\xc0\x80")),
        "publish-empty-topic-v4": sel(4) + pkt(PUBLISH, 0, s("")),
        "publish-id0": sel(4) + pkt(PUBLISH, 2, s("a") + u16(0)),
        "publish-v5-wrong-prop": sel(5) + pkt(PUBLISH, 0, s("a") + props(p_u32(0x11, 1))),
        "publish-v5-dup-prop": sel(5) + pkt(PUBLISH, 0, s("a") + props(p_u16(0x23, 1),
                                                                      p_u16(0x23, 2))),
        "publish-v5-props-past-end": sel(5) + pkt(PUBLISH, 0, s("a") + b"\x05\x01\x01"),
        "puback-id0": sel(4) + pkt(PUBACK, 0, u16(0)),
        "puback-v5-bad-reason": sel(5) + pkt(PUBACK, 0, u16(1) + b"\x92"),
        "pubrel-flags0": sel(4) + pkt(PUBREL, 0, u16(1)),
        "subscribe-flags0": sel(4) + pkt(SUBSCRIBE, 0, u16(1) + s("a") + u8(0)),
        "subscribe-empty": sel(4) + pkt(SUBSCRIBE, 2, u16(1)),
        "subscribe-qos3": sel(4) + pkt(SUBSCRIBE, 2, u16(1) + s("a") + u8(3)),
        "subscribe-v4-v5-options": sel(4) + pkt(SUBSCRIBE, 2, u16(1) + s("a") + u8(0x04)),
        "subscribe-v5-rh3": sel(5) + pkt(SUBSCRIBE, 2, u16(1) + NO_PROPS + s("a") + u8(0x30)),
        "subscribe-v5-nolocal-shared": sel(5) + pkt(SUBSCRIBE, 2, u16(1) + NO_PROPS +
                                                    s("$share/g/a") + u8(0x04)),
        "suback-v4-bad-code": sel(4) + pkt(SUBACK, 0, u16(1) + b"\x03"),
        "unsuback-v4-trailing": sel(4) + pkt(UNSUBACK, 0, u16(1) + b"\x00"),
        "pingreq-trailing": sel(4) + pkt(PINGREQ, 0, b"\x00"),
        "auth-v4": sel(4) + pkt(AUTH, 0, b""),
        "disconnect-v5-bad-reason": sel(5) + pkt(DISCONNECT, 0, b"\x01"),
        "too-large": sel(4, 4) + pkt(PUBLISH, 0, s("a/b") + b"x"),
        "connack-v4-present-refused": sel(4) + pkt(CONNACK, 0, b"\x01\x05"),
    }
    for name, data in bad.items():
        seeds["bad-" + name] = data
    return seeds


# ---- property blocks ----


def props_seeds():
    seeds = {}
    for i, place in enumerate(PLACES):
        seeds[f"empty-{i:02d}"] = u8(i) + NO_PROPS
        seeds[f"user-{i:02d}"] = u8(i) + props(p_pair("k", "v"), p_pair("k", "v2"))
    full = {
        CONNECT: connect_props(),
        WILL: will_props(),
        CONNACK: props(p_u32(0x11, 10), p_str(0x12, "id"), p_u16(0x13, 5), p_u16(0x21, 1),
                       p_u16(0x22, 0), p_byte(0x24, 0), p_byte(0x25, 1), p_u32(0x27, 100),
                       p_byte(0x28, 0), p_byte(0x29, 1), p_byte(0x2A, 0), p_str(0x1A, "r"),
                       p_str(0x1C, "s"), p_str(0x1F, "why"), p_str(0x15, "m"), p_str(0x16, b"d")),
        PUBLISH: props(p_byte(0x01, 0), p_u32(0x02, 1), p_str(0x03, "ct"), p_str(0x08, "rt"),
                       p_str(0x09, b"\x00"), p_var(0x0B, 1), p_var(0x0B, 16384),
                       p_var(0x0B, 2097152), p_u16(0x23, 65535)),
        SUBSCRIBE: props(p_var(0x0B, 127), p_pair("", "")),
        DISCONNECT: props(p_u32(0x11, 0xFFFFFFFF), p_str(0x1C, "x"), p_str(0x1F, "bye")),
        AUTH: props(p_str(0x15, "m"), p_str(0x16, b""), p_str(0x1F, "r")),
        PUBACK: props(p_str(0x1F, "r")),
    }
    for place, block in full.items():
        seeds[f"full-{PLACES.index(place):02d}"] = u8(PLACES.index(place)) + block
    pub = PLACES.index(PUBLISH)
    con = PLACES.index(CONNECT)
    sub = PLACES.index(SUBSCRIBE)
    bad = {
        "unknown-id": u8(pub) + props(b"\x04\x00"),
        "wrong-place": u8(pub) + props(p_u32(0x11, 1)),
        "will-only-in-connect": u8(con) + props(p_u32(0x18, 1)),
        "duplicate": u8(con) + props(p_u16(0x21, 1), p_u16(0x21, 2)),
        "sub-id-twice-in-subscribe": u8(sub) + props(p_var(0x0B, 1), p_var(0x0B, 2)),
        "sub-id-zero": u8(pub) + props(p_var(0x0B, 0)),
        "receive-max-zero": u8(con) + props(p_u16(0x21, 0)),
        "max-packet-zero": u8(con) + props(p_u32(0x27, 0)),
        "topic-alias-zero": u8(pub) + props(p_u16(0x23, 0)),
        "bool-2": u8(con) + props(p_byte(0x17, 2)),
        "truncated-string": u8(pub) + b"\x04\x03\x00\x05a",
        "length-past-end": u8(pub) + b"\x10\x01\x01",
        "bad-utf8-key": u8(pub) + props(u8(0x26) + s(b"\xed\xa0\x80") + s("v")),
        "nul-in-value": u8(pub) + props(u8(0x26) + s("k") + s(b"a\x00")),
        "empty-input": u8(pub),
        "length-5-bytes": u8(pub) + b"\xff\xff\xff\xff\x7f",
        # Variable Byte Integers in more bytes than needed [MQTT-1.5.5-1].
        "length-overlong": u8(pub) + b"\x80\x00",
        "id-overlong": u8(pub) + props(b"\x81\x00\x01"),
        "sub-id-overlong": u8(sub) + props(b"\x0b\xff\x80\x00"),
    }
    for name, data in bad.items():
        seeds["bad-" + name] = data
    return {"seed-" + k: v for k, v in seeds.items()}


# ---- topic pairs ----


def topic_seeds():
    pairs = [
        ("#", "a/b"), ("+", "a"), ("+", "/finance"), ("+/+", "/finance"), ("/+", "/finance"),
        ("a/+/c", "a/b/c"), ("a/+/c", "a/b/d"), ("a/#", "a"), ("a/b/#", "a/b/c/d"),
        ("+/#", "a/b/c"), ("sport/tennis/+", "sport/tennis/player1"),
        ("sport/tennis/+", "sport/tennis/player1/ranking"), ("sport/+", "sport"),
        ("sport/+", "sport/"), ("#", "$SYS/broker/load"), ("$SYS/#", "$SYS/broker/load"),
        ("+/monitor/Clients", "$SYS/monitor/Clients"), ("$SYS/monitor/+", "$SYS/monitor/Clients"),
        ("$share/g/a/+", "a/b"), ("$share/g", "x"), ("$share//a", "a"), ("$share/g+/a", "a"),
        ("$share/g/#", "x"), ("$share/g/$share/h", "x"), ("a#", "a"), ("a/+b", "a/b"),
        ("#/a", "a"), ("a/b", "a/b"), ("a//b", "a//b"), ("/", "/"), ("", ""), ("a", ""),
        ("caf\u00e9/+", "caf\u00e9/\U0001F600"), ("+", "\ufeff"),
    ]
    raw = [
        (b"\xc0\x80", b"\xed\xa0\x80"), (b"\xf4\x90\x80\x80", b"\xe0\x9f\xbf"),
        (b"a/\xff", b"a/\xfe"), (b"a", b"a\x00b"), (b"\xf0\x9f\x98", b"\xe2\x82"),
    ]
    seeds = {}
    for i, (f, t) in enumerate(pairs):
        seeds[f"pair-{i:02d}"] = f.encode() + b"\x00" + t.encode()
    for i, (f, t) in enumerate(raw):
        seeds[f"bytes-{i:02d}"] = f + b"\x00" + t
    seeds["no-nul"] = b"a/b/c"
    seeds["no-nul-wild"] = b"a/+/#"
    return {"seed-" + k: v for k, v in seeds.items()}


def all_seeds():
    return {
        "fuzz_packet": {"seed-" + k: v for k, v in packet_seeds().items()},
        "fuzz_props": props_seeds(),
        "fuzz_topic": topic_seeds(),
    }


def main():
    return seedfiles.main("make_corpus.py", all_seeds())


if __name__ == "__main__":
    sys.exit(main())
