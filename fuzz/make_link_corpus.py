#!/usr/bin/python3
"""Writes the seed corpus fuzz/corpus/fuzz_link/ (seed-* files) for the
cluster frame handlers' target fuzz_link.

Frames and session records are built here by hand from the layouts in
src/cluster/frame.h and src/broker/session.c (fb_session_serialize), never
with our encoders. Each seed is a short conversation in fuzz_link.c's input
format: the node is up with its peer "n0" (the harness does the handshake),
then link bytes, frames built around the node's stamps, MQTT client actions
and clock ticks. Run it after changing it and check the files in;
`make_link_corpus.py --check` exits 1 when the checked-in seed-* files differ
from what it would write. Files without the seed- prefix (merged in by
fuzz/run.sh --merge, or crash-* reproducers) are left alone.

Input format (it must match fuzz_link.c's header):
  [set-up] then records [op] ...; kind = op & 15, arg = op >> 4:
  0 LINK [len16][cut] bytes, 1 TICK, 2 MQTT [len] bytes, 3 CLIENT [x],
  4 SESSION [x], 5 ACK [x], 6 CLAIM [x], 7 NET [x], 8 CLUSTER [x]
"""
import os
import sys

import seedfiles
from seedfiles import u8, u16, u32, u64

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus", "fuzz_link")

HELLO, AUTH, ERROR, PING, PONG, MEMBERS, ROUTE_ADD, ROUTE_DEL = range(1, 9)
SYNC_END, PUBLISH, CLAIM, RELEASE, SESSION, SESSION_ACK, DELIVER, LEAVE = range(9, 17)
STUB_END = 17  # version >= 3
NODE_LOAD, REBALANCE = 18, 19  # version >= 4
AGENT_NONE, AGENT_EVACUATION, AGENT_REBALANCE = 0, 1, 2
LOADF_AVAILABLE = 1
REBAL_PREPARE, REBAL_CONNS, REBAL_SESSIONS, REBAL_STOP = 1, 2, 3, 4
WANT, SYNC = 1, 2
S_DATA, S_NONE, S_SUPERSEDED = 0, 1, 2
MIGRATE = 1
QOS1, RETAIN, HAS_EXPIRY, DELIVER_F, STORE = 0x01, 0x04, 0x08, 0x10, 0x20
BIG = 1 << 62  # a stamp above any the node makes from the wall clock

# ---- wire primitives (big-endian) ----


def raw(x):
    return x.encode() if isinstance(x, str) else x


def str16(x):
    return u16(len(raw(x))) + raw(x)


def bytes32(x):
    return u32(len(raw(x))) + raw(x)


def list16(items):
    return u16(len(items)) + b"".join(str16(i) for i in items)


def frame(v, ftype, body):
    """8-byte header: 'F' 'C', version, type, u32 body length."""
    return b"FC" + u8(v) + u8(ftype) + u32(len(body)) + body


def msg(v, flags=QOS1 | DELIVER_F, topic="a/1", payload="hi", msg_id=77, expiry=0,
        created=1700000000000, props=b"", origin="p0"):
    out = u8(flags) + u32(expiry) + u64(created)
    if v >= 2:
        out += u64(msg_id)
    return out + str16(topic) + bytes32(props) + bytes32(payload) + str16(origin)


def publish(v, shared=(), **kw):
    return frame(v, PUBLISH, msg(v, **kw) + list16(list(shared)))


def claim(v, cid, stamp=BIG, flags=0):
    return frame(v, CLAIM, u8(flags) + u64(stamp) + str16(cid))


def release(v, cid, stamp=BIG):
    return frame(v, RELEASE, u64(stamp) + str16(cid))


def session(v, cid, blob=b"", status=S_DATA, flags=0, stamp=BIG):
    return frame(v, SESSION, u8(status) + u8(flags) + u64(stamp) + str16(cid) + bytes32(blob))


def node_load(v, conns=10, sessions=20, offline=5, pending=1, count=3, mean=4, top=9,
              agent=AGENT_NONE, flags=LOADF_AVAILABLE, status=""):
    return frame(v, NODE_LOAD, u32(conns) + u32(sessions) + u32(offline) + u32(pending)
                 + u32(count) + u32(mean) + u32(top) + u8(agent) + u8(flags) + bytes32(status))


def rebalance(v, op=REBAL_SESSIONS, lease=30000, conns=2, sessions=3, recipients=("n1", "z"),
              info='{"id":"r1"}'):
    return frame(v, REBALANCE, u8(op) + u32(lease) + u32(conns) + u32(sessions)
                 + list16(list(recipients)) + bytes32(info))


def deliver(v, cid, qos=1, retain=0, sub_ids=(), **kw):
    return frame(v, DELIVER, str16(cid) + u8(qos) + u8(retain) + u8(len(sub_ids))
                 + b"".join(u32(i) for i in sub_ids) + msg(v, **kw))


# ---- a session record (src/broker/session.c) ----


def s_msg(fv, topic, payload, qos=1, retain=0, msg_id=0x2000, origin="c9"):
    out = u8(qos) + u8(retain) + u8(0) + u32(0) + u64(1700000000000)
    if fv >= 2:
        out += u64(msg_id)
    return out + str16(topic) + str16(origin) + bytes32(b"") + bytes32(payload)


def s_delivery(fv, pid, qos, state, topic, payload, sub_ids=(), msg_id=0x2000):
    return (u16(pid) + u8(qos) + u8(state) + u8(0) + u8(len(sub_ids))
            + b"".join(u32(i) for i in sub_ids) + s_msg(fv, topic, payload, qos, msg_id=msg_id))


def session_blob(fv, cid, will=True):
    """Format version fv (1, 2; links of protocol 2 and up carry 2): two subscriptions, one inflight QoS 1 delivery, one
    queued, an incoming QoS 2 id, and a will."""
    out = b"FMQS" + u8(fv) + str16(cid) + u32(300) + u64(1700000000000) + u16(9) + u64(0)
    out += u32(2)
    out += str16("a/+") + u8(1) + u8(0) + u32(5)
    out += str16("$share/g/s/#") + u8(2) + u8(2) + u32(0)
    out += u32(1) + s_delivery(fv, 8, 1, 1, "a/2", "inflight", msg_id=0x2001)
    out += u32(1) + s_delivery(fv, 0, 1, 0, "a/3", "queued", sub_ids=(5,), msg_id=0x2002)
    out += u32(1) + u16(4)
    if will:
        out += u8(1) + u32(1) + u64(0) + s_msg(fv, "w/" + cid, "bye", 0)
    else:
        out += u8(0)
    return out


# ---- records (fuzz_link.c) ----


def setup(v=3, two=True, clients_first=True, c1_offline=False):
    """v: the main peer's proto_max (bit 0: 2, bit 4: 3)."""
    return u8((1 if v == 2 else 0) | (16 if v == 3 else 0) | (2 if two else 0)
              | (4 if clients_first else 0) | (8 if c1_offline else 0))


def link(data, end=0, cut=128):
    return u8(0 | end << 4) + u16(len(data)) + u8(cut) + data


TICK_STEPS = [1, 10, 50, 100, 250, 500, 1000, 1500, 2500, 4000, 5001, 10000, 30000, 120000,
              600000, 3600000]


def tick(ms):
    return u8(1 | TICK_STEPS.index(ms) << 4)


def mqtt(cli, data):
    return u8(2 | cli << 4) + u8(len(data)) + data


# client actions
CONNECT, CONNECT_CLEAN, DISCONNECT, DROP, PUB, ACK_ALL, SUB, UNSUB = range(8)


def client(action, cli, p=0):
    return u8(3 | action << 4) + u8(cli | p << 2)


def pub(cli, topic=0, qos=1, retain=0, empty=0):
    return client(PUB, cli, topic | qos << 2 | retain << 4 | empty << 5)


def s_session(x, end=0):
    """x: bits 0-1 id (c0 c1 x ""), bits 2-3 status (3: DATA), bit 4 MIGRATE,
    bits 5-6 blob (built, shipped back, cut, other id), bit 7 stamp + 1."""
    return u8(4 | end << 4) + u8(x)


def s_ack(x, end=0):
    """x: bits 0-1 id, bit 2 ok, bit 3 stamp + 1."""
    return u8(5 | end << 4) + u8(x)


def s_claim(x, end=0):
    """x: bits 0-1 id, bit 2 WANT, bit 3 SYNC, bits 4-5 stamp (node's +1, =, -1,
    1), bit 6 RELEASE of the last one."""
    return u8(6 | end << 4) + u8(x)


OPEN, CLOSE, BACKLOG, SEND_FAILS, CONNECTED, CONNECT_FAILS = range(6)
PEERS = {"n0": 0, "z": 1, "m": 2, "n1": 3}


def net(action, end, p=0):
    return u8(7 | action << 4) + u8(end | p << 2)


def open_link(end, peer, new_incarnation=0, raw_link=0, proto=0):
    """proto: the peer's proto_max, 0 the highest."""
    return net(OPEN, end, PEERS[peer] | new_incarnation << 2 | raw_link << 3 | proto << 4)


def cluster(x):
    return u8(8) + u8(x)


def migrate(cid_index, peer):
    return cluster(0 | cid_index << 2 | PEERS[peer] << 4)


# ---- the seeds ----


def stub_end(v, cid, stamp=BIG):
    return frame(v, STUB_END, u64(stamp) + str16(cid))


def every_frame(v):
    """Every handler once, as an up peer would send them."""
    return (stub_end(v, "x") if v >= 3 else b"") + b"".join([
        frame(v, MEMBERS, u16(1) + str16("m") + str16("10.0.0.4:7000")),
        frame(v, ROUTE_ADD, list16(["a/+", "b/#", "$share/g/s/#"])),
        frame(v, SYNC_END, u32(3) + u32(0) + u32(0)),
        publish(v, topic="a/1"),
        publish(v, shared=["$share/g/s/#"], flags=0x02, topic="s/x"),
        publish(v, flags=QOS1 | RETAIN | STORE, topic="r/1", payload="kept"),
        claim(v, "x", flags=0),
        release(v, "x"),
        session(v, "x", session_blob(min(v, 2), "x"), flags=MIGRATE, stamp=5),
        session(v, "c1", status=S_NONE, stamp=6),
        session(v, "c1", status=S_SUPERSEDED, stamp=7),
        frame(v, SESSION_ACK, u8(1) + u64(5) + str16("x")),
        deliver(v, "c0", sub_ids=(1,), topic="a/9"),
        frame(v, PING, u64(1)),
        frame(v, PONG, u64(1)),
        frame(v, ROUTE_DEL, list16(["b/#"])),
        frame(v, LEAVE, str16("bye")),
    ])


def all_seeds():
    seeds = {}
    for v in (1, 2, 3):
        up = setup(v)
        seeds[f"route-add-del-v{v}"] = up + b"".join([
            link(frame(v, ROUTE_ADD, list16(["a/+", "b/#", "$share/g/s/#", "bad/#/x"]))),
            pub(0, topic=0, qos=1), pub(1, topic=1, qos=2), pub(0, topic=2, qos=0, retain=1),
            link(frame(v, ROUTE_DEL, list16(["a/+", "never/added"]))),
            pub(0, topic=0, qos=1), client(ACK_ALL, 1),
            link(frame(v, SYNC_END, u32(4) + u32(0) + u32(0)))])
        seeds[f"publish-v{v}"] = up + b"".join([
            link(publish(v, topic="a/1") + publish(v, shared=["$share/g/s/#"], flags=0x02,
                                                       topic="s/x")),
            link(publish(v, flags=QOS1 | RETAIN | STORE, topic="r/1", payload="kept",
                         created=1700000000500)
                 + publish(v, flags=RETAIN | STORE, topic="r/1", payload="",
                           created=1700000000000)
                 + publish(v, flags=HAS_EXPIRY | DELIVER_F, expiry=1, topic="a/2")
                 + publish(v, topic="a/+")),
            client(ACK_ALL, 0), client(ACK_ALL, 1), tick(4000), client(ACK_ALL, 1)])
        seeds[f"claim-want-v{v}"] = up + b"".join([
            link(claim(v, "c0", flags=WANT)),
            client(CONNECT, 0),      # back: the node fetches c0 from n0
            s_session(0x0C),         # DATA for c0 at the node's stamp
            client(ACK_ALL, 0), tick(1000), tick(5001)])
        seeds[f"claim-offline-v{v}"] = setup(v, c1_offline=True) + b"".join([
            link(claim(v, "c1", flags=WANT)),
            s_session(0x2D),         # c1's record shipped straight back
            s_claim(0x05),           # a claim above the node's, wanting c1 again
            tick(2500), tick(2500)])
        seeds[f"release-v{v}"] = up + b"".join([
            link(claim(v, "c1", stamp=BIG) + release(v, "c1", stamp=BIG)),
            s_claim(0x00), s_claim(0x40), s_claim(0x21), s_claim(0x31),
            client(CONNECT, 1)])
        seeds[f"session-raw-v{v}"] = up + link(b"".join([
            session(v, "x", session_blob(min(v, 2), "x"), flags=MIGRATE, stamp=5),
            session(v, "c0", session_blob(min(v, 2), "c0", will=False), stamp=6),
            session(v, "c1", status=S_NONE, stamp=7),
            session(v, "c1", status=S_SUPERSEDED, stamp=8),
            session(v, "x", session_blob(min(v, 2), "c1"), flags=MIGRATE, stamp=9),
            session(v, "x", b"FMQS\x09", stamp=10)]))
        seeds[f"session-ack-v{v}"] = setup(v, c1_offline=True) + b"".join([
            migrate(1, "n0"), s_ack(0x05), tick(2500),
            client(CONNECT, 1), s_session(0x0D)])
        seeds[f"session-nack-v{v}"] = setup(v, c1_offline=True) + b"".join([
            migrate(1, "n0"), s_ack(0x01), tick(500)])
        seeds[f"deliver-v{v}"] = up + link(b"".join([
            deliver(v, "c0", sub_ids=(1, 2), topic="a/1"),
            deliver(v, "c1", qos=2, retain=1, topic="a/b/c"),
            deliver(v, "nobody", qos=0)])) + client(ACK_ALL, 0)
        seeds[f"stream-v{v}"] = up + link(every_frame(v), cut=77)
    nv = 3
    up = setup()
    # Protocol 3: a session from the peer holds back other deliveries until
    # its STUB_END (or a timeout); STUB_END for ids it did not send is a no-op.
    seeds["stub-end-hold"] = up + b"".join([
        link(claim(nv, "c0", flags=WANT)), client(CONNECT, 0), s_session(0x0C),
        pub(1, topic=0, qos=1), pub(1, topic=0, qos=2), client(ACK_ALL, 1),
        link(stub_end(nv, "c0") + stub_end(nv, "c1") + stub_end(nv, "")),
        client(ACK_ALL, 0), client(ACK_ALL, 0)])
    seeds["stub-end-timeout"] = up + b"".join([
        link(claim(nv, "c0", flags=WANT)), client(CONNECT, 0), s_session(0x0C),
        pub(1, topic=0, qos=1), tick(2500), tick(2500), client(ACK_ALL, 0)])
    seeds["stub-end-peer-down"] = up + b"".join([
        link(session(nv, "x", session_blob(2, "x"), flags=MIGRATE, stamp=5)),
        link(deliver(nv, "x", topic="a/1")), net(CLOSE, 0), tick(100)])
    seeds["stub-end-node-sends"] = up + b"".join([
        link(claim(nv, "c0", flags=WANT)), pub(1, topic=0, qos=1), tick(2500)])
    seeds["members-dial"] = up + b"".join([
        link(frame(nv, MEMBERS, u16(3) + str16("m") + str16("10.0.0.4:7000")
                   + str16("z") + str16("10.0.0.3:7000") + str16("n1") + str16("10.0.0.1:7000"))),
        tick(250), net(CONNECTED, 1), net(CONNECTED, 2), tick(250), net(CONNECT_FAILS, 3),
        tick(1000), s_claim(0x04, end=1), tick(5001)])
    seeds["ping-timeout"] = up + link(frame(nv, PING, u64(42)) + frame(nv, PONG, u64(1))) \
        + tick(1000) * 6 + tick(10000) + tick(1000)
    seeds["leave"] = up + link(frame(nv, LEAVE, str16("shutting down"))) + tick(5001)
    seeds["sync"] = up + link(b"".join([
        frame(nv, ROUTE_ADD, list16(["x/#"])),
        claim(nv, "x", stamp=3, flags=SYNC),
        publish(nv, flags=RETAIN | STORE, topic="r/2"),
        frame(nv, SYNC_END, u32(1) + u32(1) + u32(1))]))
    seeds["second-peer"] = up + b"".join([
        open_link(1, "m"), s_claim(0x04, end=0), s_claim(0x05, end=1),
        s_session(0x0C, end=1), link(frame(nv, ROUTE_ADD, list16(["a/#"])), end=1),
        pub(0), net(CLOSE, 1), tick(2500)])
    seeds["restart"] = up + link(frame(nv, ROUTE_ADD, list16(["a/#"]))) \
        + open_link(1, "n0", new_incarnation=1) + open_link(2, "n0") + pub(0)
    seeds["smaller-name-dials"] = up + open_link(1, "z") + tick(250) + net(CONNECTED, 1) \
        + tick(100)
    seeds["self-name"] = up + open_link(1, "n1") + tick(100)
    seeds["raw-link"] = up + open_link(1, "m", raw_link=1) + link(
        frame(1, HELLO, u8(1) + u8(2) + str16("other") + str16("q") + u64(1) + str16(bytes(16))
              + str16("h:1") + str16("h:2")), end=1) \
        + open_link(2, "m", raw_link=1) + link(frame(1, AUTH, str16(bytes(32))), end=2) \
        + open_link(3, "m", raw_link=1) + open_link(0, "m", proto=1) + tick(5001) + tick(100)
    seeds["backlog"] = up + link(frame(nv, ROUTE_ADD, list16(["a/#"]))) + net(BACKLOG, 0) \
        + pub(0) + net(BACKLOG, 0, 1)
    seeds["send-fails"] = up + net(SEND_FAILS, 0, 1) + link(claim(nv, "c0", flags=WANT))
    seeds["handoff-backlog"] = up + link(claim(nv, "c0", flags=WANT)) + client(CONNECT, 0) \
        + net(BACKLOG, 0) + s_session(0x0C) + tick(5001)
    seeds["dns-leave"] = up + cluster(2 | 4 | 8 | 16) + tick(250) + net(CONNECTED, 1) \
        + cluster(2 | 4) + cluster(3) + cluster(1) + tick(1000)
    seeds["takeover-timeout"] = up + link(claim(nv, "c0", flags=WANT)) + client(CONNECT, 0) \
        + tick(2500) + tick(2500) + client(ACK_ALL, 0)
    seeds["twin"] = up + client(CONNECT, 2) + pub(2) + client(DISCONNECT, 2, 1) \
        + client(DROP, 0) + tick(2500)
    seeds["mqtt"] = up + mqtt(0, b"\xc0\x00") + mqtt(1, b"\x30\x06\x00\x03a/1\x00") \
        + client(UNSUB, 0) + client(SUB, 1, 3 | 1 << 2) + client(CONNECT_CLEAN, 1)
    seeds["clients-after-link"] = setup(2, clients_first=False) + link(claim(nv, "c0")) + pub(0)
    seeds["one-client-v1"] = setup(1, two=False) + link(
        claim(1, "c1", flags=WANT) + session(1, "c1", session_blob(1, "c1"), stamp=BIG)) \
        + migrate(1, "n0") + s_ack(0x05)
    # Protocol 4 (NODE_LOAD, REBALANCE): the set-up's main link speaks at
    # most 3, so a peer dials in on end 1 at the highest version ("m", or
    # "n0" again as a restarted node).
    v4 = 4
    m4 = open_link(1, "m")
    seeds["node-load-v4"] = up + m4 + b"".join([
        link(node_load(v4, status='{"evacuation":{"state":"running"}}', agent=AGENT_EVACUATION,
                       flags=0), end=1),
        link(node_load(v4, 0xFFFFFFFF, 0xFFFFFFFF, 0, 0, 0, 0, 0xFFFFFFFF, AGENT_REBALANCE,
                       LOADF_AVAILABLE, "x" * 300)
             + node_load(v4, status=""), end=1, cut=40),
        cluster(3), pub(0), tick(1000), net(CLOSE, 1), tick(100), cluster(3)])
    # A coordinator reports its load before it gives orders (without one the
    # donor takes it for gone: rebalance-v4-no-load).
    seeds["rebalance-v4"] = up + m4 + b"".join([
        link(node_load(v4, agent=AGENT_REBALANCE, flags=0, status='{"rebalance":{}}'), end=1),
        link(rebalance(v4, REBAL_PREPARE, recipients=(), info=""), end=1),
        link(rebalance(v4, REBAL_CONNS, conns=1) + rebalance(v4), end=1, cut=200),
        tick(1000),
        link(rebalance(v4, REBAL_SESSIONS, sessions=2, recipients=["m", "z", "", "n1"]), end=1),
        tick(1000), link(rebalance(v4, REBAL_STOP, 0, 0, 0, (), "{}"), end=1), tick(1000)])
    seeds["rebalance-v4-no-load"] = up + m4 + b"".join([
        link(rebalance(v4, REBAL_PREPARE, recipients=(), info=""), end=1), tick(1000),
        link(rebalance(v4, REBAL_CONNS, conns=1), end=1), tick(1000)])
    seeds["stream-v4"] = up + m4 + link(every_frame(v4) + node_load(v4) + rebalance(v4), end=1,
                                        cut=90)
    seeds["restart-v4"] = setup(c1_offline=True) + b"".join([
        link(frame(nv, ROUTE_ADD, list16(["a/#"]))), open_link(1, "n0", new_incarnation=1),
        link(node_load(v4, agent=AGENT_REBALANCE, flags=0) + rebalance(v4, REBAL_PREPARE), end=1),
        migrate(1, "n0"), s_ack(0x01, end=1), tick(500), migrate(1, "n0"), s_ack(0x05, end=1),
        tick(2500)])
    seeds["migrate-v4-refused"] = setup(c1_offline=True) + m4 + b"".join([
        migrate(1, "m"), s_ack(0x01, end=1), tick(500), client(CONNECT, 1), tick(100)])
    # A node being evacuated refuses a migrated session (SESSION_ACK ok 0),
    # and takes it once the evacuation stops. CLUSTER 3 | 1 << 2 starts an
    # evacuation in fuzz_link.c (bit 5: no health-check wait, sessions to
    # n0), 3 | 2 << 2 stops it.
    seeds["migrated-to-evacuating-node"] = up + b"".join([
        cluster(3 | 1 << 2 | 32),
        link(session(nv, "x", session_blob(2, "x"), flags=MIGRATE, stamp=5)), tick(100),
        cluster(3 | 2 << 2),
        link(session(nv, "x", session_blob(2, "x"), flags=MIGRATE, stamp=6)), tick(100)])
    # Near misses: the frames in a protocol 3 link (refused by the codec, or
    # a version other than the link's), fields out of range.
    seeds["node-load-v3-link"] = up + link(node_load(3)) + pub(0) + tick(5001)
    seeds["node-load-v4-on-v3-link"] = up + link(node_load(v4)) + tick(100)
    seeds["rebalance-v3-link"] = up + link(rebalance(3)) + tick(100)
    seeds["rebalance-v4-on-v2-link"] = setup(2) + link(rebalance(v4, REBAL_STOP)) + tick(100)
    seeds["node-load-bad-agent"] = up + m4 + link(node_load(v4, agent=3), end=1) + tick(100)
    seeds["node-load-bad-flags"] = up + m4 + link(node_load(v4, flags=2), end=1) + tick(100)
    seeds["rebalance-bad-op"] = up + m4 + link(rebalance(v4, op=5) + rebalance(v4, op=0), end=1)
    seeds["rebalance-bad-count"] = up + m4 + link(
        frame(v4, REBALANCE, u8(REBAL_SESSIONS) + u32(1) + u32(1) + u32(1) + u16(3) + str16("n1")
              + str16("z") + bytes32("")), end=1)
    # Refused from the header alone (over cluster_max_frame): the rest never comes.
    seeds["node-load-over-max-frame"] = up + m4 + link(node_load(v4, status="s" * 65600)[:64],
                                                       end=1)
    return {"seed-" + k: v for k, v in seeds.items()}


def main():
    return seedfiles.main("make_link_corpus.py", {"fuzz_link": all_seeds()})


if __name__ == "__main__":
    sys.exit(main())
