#!/usr/bin/python3
"""Seeds for the broker's fuzz targets, built by hand (not with our codec).

corpus/fuzz_conn:    records [ctl][len][bytes] as fuzz_conn.c reads them
corpus/fuzz_session: session records in the format of src/broker/session.c

Run with /usr/bin/python3; --check exits 1 if the checked-in seeds differ.
"""
import os
import struct
import sys

import seedfiles

HERE = os.path.dirname(os.path.abspath(__file__))


def s16(b):
    return struct.pack(">H", len(b)) + b


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def pkt(first, body):
    return bytes([first]) + varint(len(body)) + body


def connect(cid, level=5, flags=0x02, props=b"", will=b""):
    name = b"MQIsdp" if level == 3 else b"MQTT"
    body = s16(name) + bytes([level, flags]) + struct.pack(">H", 30)
    if level == 5:
        body += varint(len(props)) + props
    return pkt(0x10, body + s16(cid) + will)


def publish(topic, payload, qos=0, pid=1, props=b"", v5=True, retain=False):
    body = s16(topic) + (struct.pack(">H", pid) if qos else b"")
    if v5:
        body += varint(len(props)) + props
    return pkt(0x30 | (qos << 1) | int(retain), body + payload)


def subscribe(filters, pid=1, v5=True):
    body = struct.pack(">H", pid) + (b"\x00" if v5 else b"")
    for f, o in filters:
        body += s16(f) + bytes([o])
    return pkt(0x82, body)


def rec(conn, data, tick=False, close=False):
    ctl = conn | (4 if tick else 0) | (8 if close else 0)
    out = b""
    while True:  # records carry at most 255 bytes
        chunk, data = data[:255], data[255:]
        out += bytes([ctl, len(chunk)]) + chunk
        if not data:
            return out


def conn_seeds():
    v5_sub = connect(b"sub", flags=0x00, props=b"\x11\x00\x00\x00\x3c")  # expiry 60
    v5_pub = connect(b"pub")
    v3 = connect(b"v3", level=4, flags=0x00)
    will = s16(b"will/t") + s16(b"bye")
    v5_will = connect(b"w", flags=0x06 | 0x08, props=b"",
                      will=b"\x05\x18\x00\x00\x00\x02" + will)  # will delay 2
    seeds = {
        "pubsub_qos012": rec(0, v5_sub + subscribe([(b"a/+", 2), (b"#", 1)]))
        + rec(1, v5_pub + publish(b"a/b", b"q0") + publish(b"a/b", b"q1", 1, 7)
              + publish(b"a/b", b"q2", 2, 8) + pkt(0x62, b"\x00\x08"))
        + rec(0, pkt(0x40, b"\x00\x01") + pkt(0x50, b"\x00\x02") + pkt(0x70, b"\x00\x02")),
        "offline_queue_resume": rec(0, v5_sub + subscribe([(b"q/#", 1)]), close=True)
        + rec(1, v5_pub + publish(b"q/1", b"x", 1, 1) + publish(b"q/2", b"y", 1, 2))
        + rec(2, v5_sub) + rec(2, pkt(0x40, b"\x00\x01"), tick=True),
        "takeover": rec(0, v5_sub) + rec(1, v5_sub) + rec(1, pkt(0xC0, b"")),
        "will_delay": rec(0, v5_will, close=True) + rec(1, v5_sub + subscribe([(b"will/#", 0)]))
        + rec(1, b"", tick=True) + rec(1, b"", tick=True),
        "v3_retained": rec(0, v3 + publish(b"r/1", b"kept", 1, 3, v5=False, retain=True))
        + rec(1, v3 + subscribe([(b"r/#", 1)], v5=False)),
        "alias_and_shared": rec(0, v5_pub + publish(b"t/x", b"1", props=b"\x23\x00\x01")
                                + publish(b"", b"2", props=b"\x23\x00\x01"))
        + rec(1, v5_sub + subscribe([(b"$share/g/t/#", 1)])),
        "malformed_first": rec(0, b"\x30\x03\x00\x01a") + rec(1, b"\x10\xff\xff\xff\xff\x7f"),
        "keepalive_timeout": rec(0, v5_pub, tick=True) + rec(0, b"", tick=True)
        + rec(1, b"", tick=True),
        "disconnect_expiry": rec(0, v5_sub + pkt(0xE0, b"\x00\x05\x11\x00\x00\x00\x05")),
    }
    return {k: bytes([0x00]) + v for k, v in seeds.items()}


def msg(topic, payload, qos=1, origin=b"pub", props=b"", version=1, msg_id=0):
    # Session record version 2 adds the message id after created_ms.
    ident = struct.pack(">Q", msg_id) if version >= 2 else b""
    return (bytes([qos, 0, 1]) + struct.pack(">IQ", 60, 1700000000000) + ident + s16(topic)
            + s16(origin) + struct.pack(">I", len(props)) + props
            + struct.pack(">I", len(payload)) + payload)


def delivery(pid, qos, state, topic, payload, sub_ids=(), version=1, msg_id=0):
    out = struct.pack(">HBBBB", pid, qos, state, 0, len(sub_ids))
    for s in sub_ids:
        out += struct.pack(">I", s)
    return out + msg(topic, payload, qos, version=version, msg_id=msg_id)


def session(cid, subs=(), inflight=(), queue=(), qos2=(), will=None, version=1):
    out = (b"FMQS" + bytes([version]) + s16(cid)
           + struct.pack(">IQHQ", 3600, 1700000001000, 5, 0))
    out += struct.pack(">I", len(subs))
    for f, qos, flags, sid in subs:
        out += s16(f) + bytes([qos, flags]) + struct.pack(">I", sid)
    out += struct.pack(">I", len(inflight)) + b"".join(inflight)
    out += struct.pack(">I", len(queue)) + b"".join(queue)
    out += struct.pack(">I", len(qos2)) + b"".join(struct.pack(">H", i) for i in qos2)
    if will is None:
        out += b"\x00"
    else:
        out += b"\x01" + struct.pack(">IQ", 30, 0) + will
    return out


def session_seeds():
    return {
        "empty": session(b"c"),
        "full": session(b"client-1",
                        subs=[(b"a/+/c", 1, 0x09, 7), (b"$share/g/x/#", 2, 0x02, 0)],
                        inflight=[delivery(1, 1, 1, b"a/b/c", b"x", (7,)),
                                  delivery(2, 2, 2, b"a/b/c", b"y"),
                                  delivery(3, 2, 3, b"a/b/c", b"z", (7, 9))],
                        queue=[delivery(0, 1, 0, b"x/y", b"q%d" % i) for i in range(3)],
                        qos2=[42, 65535], will=msg(b"will/t", b"gone")),
        "v2_ids": session(b"client-2", subs=[(b"q/#", 1, 0, 0)],
                          inflight=[delivery(1, 1, 1, b"q/1", b"a", version=2, msg_id=0x11)],
                          queue=[delivery(0, 1, 0, b"q/2", b"b%d" % i, version=2,
                                          msg_id=0x1234567890 + i) for i in range(2)],
                          will=msg(b"will/t", b"gone", version=2, msg_id=7), version=2),
        "props_passthrough": session(b"p", queue=[
            struct.pack(">HBBBB", 0, 1, 0, 1, 0)
            + msg(b"t", b"v", props=b"\x26\x00\x01k\x00\x01v\x03\x00\x04text")]),
    }


def main():
    return seedfiles.main("make_broker_corpus.py", {
        "fuzz_conn": {"seed-" + k: v for k, v in conn_seeds().items()},
        "fuzz_session": {"seed-" + k: v for k, v in session_seeds().items()},
    })


if __name__ == "__main__":
    sys.exit(main())
