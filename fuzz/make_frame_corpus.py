#!/usr/bin/python3
"""Writes the seed corpus fuzz/corpus/fuzz_frame/ (seed-* files) for the
cluster link codec's target fuzz_frame.

Every frame is built here by hand from the layout in src/cluster/frame.h,
never with ferryframe's encoder, so the seeds are an independent statement
of the wire format. Run it after changing it and check the files in;
`make_frame_corpus.py --check` exits 1 when the checked-in seed-* files
differ from what it would write. Files without the seed- prefix (merged in
by fuzz/run.sh --merge) are left alone.

Input format (it must match fuzz_frame.c's header):
  [selector] [byte stream]  selector bits 0-2 max_body index into
  (2^32-1, 2^32-1, 2^32-1, 2^32-1, 8, 32, 128, 1024), bits 3-7 split seed
"""
import os
import sys

import seedfiles
from seedfiles import u8, u16, u32, u64

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus", "fuzz_frame")

HELLO, AUTH, ERROR, PING, PONG, MEMBERS, ROUTE_ADD, ROUTE_DEL = range(1, 9)
SYNC_END, PUBLISH, CLAIM, RELEASE, SESSION, SESSION_ACK, DELIVER, LEAVE, STUB_END = range(9, 18)
NODE_LOAD, REBALANCE = 18, 19  # version >= 4
AGENT_NONE, AGENT_EVACUATION, AGENT_REBALANCE = 0, 1, 2
LOADF_AVAILABLE = 1
REBAL_PREPARE, REBAL_CONNS, REBAL_SESSIONS, REBAL_STOP = 1, 2, 3, 4

# ---- wire primitives (big-endian) ----


def str16(x):
    b = x.encode() if isinstance(x, str) else x
    return u16(len(b)) + b


def bytes32(x):
    b = x.encode() if isinstance(x, str) else x
    return u32(len(b)) + b


def list16(items):
    return u16(len(items)) + b"".join(str16(i) for i in items)


def frame(version, ftype, body):
    """8-byte header: 'F' 'C', version, type, u32 body length."""
    return b"FC" + u8(version) + u8(ftype) + u32(len(body)) + body


def sel(max_index=0, split=0):
    return u8(split << 3 | max_index)


# ---- bodies ----


def msg(version, flags=0x01, expiry=0, created=1700000000000, msg_id=7, topic="t/1",
        props=b"", payload="hi", origin="n1"):
    out = u8(flags) + u32(expiry) + u64(created)
    if version >= 2:
        out += u64(msg_id)
    return out + str16(topic) + bytes32(props) + bytes32(payload) + str16(origin)


def hello(pmin=1, pmax=2, nonce=bytes(range(16, 32))):
    return (u8(pmin) + u8(pmax) + str16("prod") + str16("node-a") + u64(0x0102030405060708)
            + str16(nonce) + str16("10.0.0.1:1883") + str16("10.0.0.1:7946"))


def node_load(conns=1000, sessions=70000, offline=69000, pending=3, count=258, mean=12,
              top=0xFFFFFFFF, agent=AGENT_EVACUATION, flags=0, status='{"evacuation":{}}'):
    return (u32(conns) + u32(sessions) + u32(offline) + u32(pending) + u32(count) + u32(mean)
            + u32(top) + u8(agent) + u8(flags) + bytes32(status))


def rebalance(op=REBAL_SESSIONS, lease=30000, conns=16, sessions=500, recipients=("n2", "n3"),
              info='{"id":7}'):
    return (u8(op) + u32(lease) + u32(conns) + u32(sessions) + list16(list(recipients))
            + bytes32(info))


def bodies(v):
    """One or more valid bodies per type at version v."""
    return common_bodies(v) + (bodies_v4() if v >= 4 else [])


def bodies_v4():
    """The types version 4 added: every agent, flag and op once."""
    return [
        (NODE_LOAD, node_load()),
        (NODE_LOAD, node_load(0, 0, 0, 0, 0, 0, 0, AGENT_NONE, LOADF_AVAILABLE, "")),
        (NODE_LOAD, node_load(agent=AGENT_REBALANCE, status=b"\x00" * 40)),
        (REBALANCE, rebalance()),
        (REBALANCE, rebalance(REBAL_PREPARE, 60000, 0, 0, (), "")),
        (REBALANCE, rebalance(REBAL_CONNS, 1000, 0xFFFFFFFF, 0, ("",), '{"c":1}')),
        (REBALANCE, rebalance(REBAL_STOP, 0, 0, 0, ["n%d" % i for i in range(12)], "{}")),
    ]


def common_bodies(v):
    """One or more valid bodies per type that every version has."""
    return [
        (HELLO, hello()),
        (HELLO, hello(2, 255, bytes(64))),
        (AUTH, str16(bytes(range(0xA0, 0xC0)))),
        (ERROR, u8(3) + str16("no common version")),
        (ERROR, u8(5) + str16("")),
        (PING, u64(1700000000000)),
        (PONG, u64(0xFFFFFFFFFFFFFFFF)),
        # MEMBERS counts pairs, not str16 items.
        (MEMBERS, u16(2) + str16("n1") + str16("h:1") + str16("n2") + str16("h:2")),
        (MEMBERS, u16(0)),
        (ROUTE_ADD, list16(["a/+", "b/#"])),
        (ROUTE_DEL, list16(["", "$share/g/x"])),
        (SYNC_END, u32(5) + u32(65536) + u32(0xFFFFFFFF)),
        (PUBLISH, msg(v, flags=0x1D, expiry=60, props=b"\x01\x01") + list16(["$share/g/t"])),
        (PUBLISH, msg(v, flags=0x3E, topic="", payload=b"\x00" * 40, origin="") + list16([])),
        (CLAIM, u8(3) + u64(258) + str16("cid")),
        (CLAIM, u8(0) + u64(0) + str16("")),
        (RELEASE, u64(0x8000000000000001) + str16("cid")),
        (SESSION, u8(0) + u8(1) + u64(259) + str16("cid") + bytes32(b"\xde\xad\xbe\xef")),
        (SESSION, u8(1) + u8(0) + u64(260) + str16("cid") + bytes32(b"")),
        (SESSION, u8(2) + u8(1) + u64(261) + str16("cid") + bytes32(b"")),
        (SESSION_ACK, u8(1) + u64(259) + str16("cid")),
        (SESSION_ACK, u8(0) + u64(1) + str16("c")),
        (DELIVER, str16("cid") + u8(1) + u8(0) + u8(2) + u32(1) + u32(0x00010203)
         + msg(v, msg_id=9, topic="t", payload="x", origin="")),
        (DELIVER, str16("c2") + u8(2) + u8(1) + u8(0) + msg(v, flags=0x02)),
        (LEAVE, str16("bye!")),
        (LEAVE, str16("")),
        (STUB_END, u64(262) + str16("cid")),
    ]


NAMES = {HELLO: "hello", AUTH: "auth", ERROR: "error", PING: "ping", PONG: "pong",
         MEMBERS: "members", ROUTE_ADD: "route-add", ROUTE_DEL: "route-del",
         SYNC_END: "sync-end", PUBLISH: "publish", CLAIM: "claim", RELEASE: "release",
         SESSION: "session", SESSION_ACK: "session-ack", DELIVER: "deliver", LEAVE: "leave",
         STUB_END: "stub-end", NODE_LOAD: "node-load", REBALANCE: "rebalance"}


def all_seeds():
    seeds = {}
    for v in (1, 2, 3, 4):
        count = {}
        # At version 4 the older types are in its stream only.
        for ftype, body in bodies(v) if v < 4 else bodies_v4():
            count[ftype] = count.get(ftype, 0) + 1
            name = f"{NAMES[ftype]}-v{v}-{count[ftype]}"
            seeds[name] = sel(0, (len(seeds) * 7) % 32) + frame(v, ftype, body)
        # The whole conversation of a link, back to back, cut at the end.
        stream = b"".join(frame(v, t, b) for t, b in bodies(v))
        seeds[f"stream-v{v}"] = sel(0, 3) + stream
        seeds[f"stream-v{v}-cut"] = sel(1, 9) + stream[:-5]
    # Later versions read bodies as version 2 does.
    seeds["publish-v3"] = sel() + frame(3, PUBLISH, msg(3) + list16([]))
    seeds["ping-v255"] = sel() + frame(255, PING, u64(1))
    # Limits: a PING fits max_body 8, a PUBLISH does not.
    seeds["max-body-8"] = sel(4) + frame(1, PING, u64(2)) + frame(1, PUBLISH, msg(1) + u16(0))
    seeds["max-body-32"] = sel(5) + frame(2, CLAIM, u8(1) + u64(3) + str16("x" * 20))
    seeds["max-body-1024"] = sel(7) + frame(2, LEAVE, str16("y" * 1100))
    # Refusals.
    seeds["bad-magic"] = sel() + b"GET / HTTP/1.1\r\n\r\n"
    seeds["bad-version-0"] = sel() + frame(0, PING, u64(1))
    seeds["bad-type-0"] = sel() + frame(1, 0, u64(1))
    seeds["bad-type-17"] = sel() + frame(1, 17, u64(1))
    seeds["bad-trailing"] = sel() + frame(1, PING, u64(1) + b"\x00")
    seeds["bad-list-count"] = sel() + frame(2, ROUTE_ADD, u16(3) + str16("a") + str16("b"))
    seeds["bad-members-odd"] = sel() + frame(1, MEMBERS, u16(2) + str16("n1") + str16("h")
                                             + str16("n2"))
    seeds["bad-qos3"] = sel() + frame(2, PUBLISH, msg(2, flags=0x03) + u16(0))
    seeds["bad-flag-bit6"] = sel() + frame(1, PUBLISH, msg(1, flags=0x41) + u16(0))
    seeds["bad-session-none-blob"] = sel() + frame(1, SESSION, u8(1) + u8(0) + u64(1)
                                                   + str16("c") + bytes32(b"x"))
    seeds["bad-auth-31"] = sel() + frame(1, AUTH, str16(bytes(31)))
    seeds["bad-nonce-15"] = sel() + frame(1, HELLO, hello(nonce=bytes(15)))
    seeds["bad-proto-min-max"] = sel() + frame(1, HELLO, hello(2, 1))
    seeds["bad-error-code-6"] = sel() + frame(1, ERROR, u8(6) + str16(""))
    seeds["bad-deliver-retain-2"] = sel() + frame(2, DELIVER, str16("c") + u8(0) + u8(2)
                                                  + u8(0) + msg(2))
    seeds["bad-v1-body-as-v2"] = sel() + frame(2, PUBLISH, msg(1) + u16(0))
    # Version 4's frames: valid at 255 too, refused in older headers and at
    # the edges of their fields.
    seeds["node-load-v255"] = sel() + frame(255, NODE_LOAD, node_load(flags=LOADF_AVAILABLE))
    seeds["rebalance-v255"] = sel(0, 5) + frame(255, REBALANCE, rebalance())
    # 34 body bytes: over max_body 32, refused from its header.
    seeds["max-body-32-node-load"] = sel(5) + frame(4, NODE_LOAD, node_load(status=""))
    seeds["bad-type-20"] = sel() + frame(4, 20, u64(1))
    seeds["bad-node-load-v3"] = sel() + frame(3, NODE_LOAD, node_load())
    seeds["bad-node-load-v1"] = sel() + frame(1, NODE_LOAD, node_load())
    seeds["bad-rebalance-v3"] = sel() + frame(3, REBALANCE, rebalance())
    seeds["bad-rebalance-v2"] = sel() + frame(2, REBALANCE, rebalance(REBAL_STOP, 0, 0, 0, (), ""))
    seeds["bad-node-load-agent-3"] = sel() + frame(4, NODE_LOAD, node_load(agent=3))
    seeds["bad-node-load-flags-2"] = sel() + frame(4, NODE_LOAD, node_load(flags=2))
    seeds["bad-node-load-flags-81"] = sel() + frame(4, NODE_LOAD, node_load(flags=0x81))
    seeds["bad-node-load-cut"] = sel() + frame(4, NODE_LOAD, node_load()[:29])
    seeds["bad-node-load-status-long"] = sel() + frame(4, NODE_LOAD, node_load(status="")[:-4]
                                                       + u32(5) + b"{}")
    seeds["bad-node-load-trailing"] = sel() + frame(4, NODE_LOAD, node_load() + b"\x00")
    seeds["bad-rebalance-op-0"] = sel() + frame(4, REBALANCE, rebalance(op=0))
    seeds["bad-rebalance-op-5"] = sel() + frame(4, REBALANCE, rebalance(op=5))
    seeds["bad-rebalance-count-3-for-2"] = sel() + frame(
        4, REBALANCE, rebalance(recipients=())[:13] + u16(3) + str16("n2") + str16("n3")
        + bytes32("{}"))
    seeds["bad-rebalance-count-1-for-2"] = sel() + frame(
        4, REBALANCE, rebalance(recipients=())[:13] + u16(1) + str16("n2") + str16("n3")
        + bytes32(""))
    seeds["bad-rebalance-no-info"] = sel() + frame(4, REBALANCE, rebalance(info="")[:-4])
    seeds["bad-rebalance-trailing"] = sel() + frame(4, REBALANCE, rebalance() + b"\x01")
    return {"seed-" + k: v for k, v in seeds.items()}


def main():
    return seedfiles.main("make_frame_corpus.py", {"fuzz_frame": all_seeds()})


if __name__ == "__main__":
    sys.exit(main())
