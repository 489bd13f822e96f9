"""Malformed and forbidden packets, sent as raw bytes built by hand, with
what the broker must do about each; after every case the broker must still
be alive and serve a new client.

Each row: (name, version of the CONNECT sent first or None, bytes, outcome).
Outcomes:
  CLOSE               closed, nothing sent
  BYTES(b)            exactly these bytes, then closed
  CONNACK(codes)      one v5 CONNACK with a reason in codes, then closed
  CONNACK_OR_CLOSE(c) like CONNACK, or closed with nothing sent
  DISC(codes)         one v5 DISCONNECT with a reason in codes, then closed
  DISC_OR_CLOSE(c)    like DISC, or closed with nothing sent
  SUBACK(codes)       a SUBACK with exactly these codes; the connection stays
"""

import time

import fmqtest as ft
from fmqtest import connect, packet, publish, s, subscribe, u16, varint

CLOSE = ("close",)


def BYTES(b):
    return ("bytes", b)


def CONNACK(*codes):
    return ("connack", codes, False)


def CONNACK_OR_CLOSE(*codes):
    return ("connack", codes, True)


def DISC(*codes):
    return ("disc", codes, False)


def DISC_OR_CLOSE(*codes):
    return ("disc", codes, True)


def SUBACK(*codes):
    return ("suback", list(codes))


def raw_connect(level, flags, client_id=b"c", name=b"MQTT", v5props=b"\x00", keepalive=60,
                tail=b""):
    """A CONNECT with every byte chosen by the caller (tail: what follows
    the client identifier)."""
    body = s(name) + bytes([level, flags]) + u16(keepalive)
    if level == 5:
        body += v5props
    return packet(0x10, body + s(client_id) + tail)


LONG_ID = "x" * 257  # over the default --max-client-id-len 256

BEFORE_CONNECT = [
    ("PUBLISH first", None, publish("a", b"x"), CLOSE),
    ("PINGREQ first", None, ft.PINGREQ, CLOSE),
    ("SUBSCRIBE first", None, subscribe(1, [("a", 0)], version=4), CLOSE),
    ("DISCONNECT first", None, b"\xe0\x00", CLOSE),
    ("packet type 0", None, b"\x00\x00", CLOSE),
    ("CONNECT flags nibble not 0", None, b"\x11" + connect(4, "c")[1:], CLOSE),
    ("v5 CONNECT reserved flag", None, connect(5, "c", flags_extra=0x01),
     CONNACK_OR_CLOSE(0x81)),
    ("3.1.1 CONNECT reserved flag", None, connect(4, "c", flags_extra=0x01), CLOSE),
    ("protocol level 6", None, raw_connect(6, 0x02), BYTES(b"\x20\x02\x00\x01")),
    ("protocol level 0", None, raw_connect(0, 0x02), BYTES(b"\x20\x02\x00\x01")),
    ("level 3 with name MQTT", None, raw_connect(3, 0x02), BYTES(b"\x20\x02\x00\x01")),
    ("3.1.1 bad protocol name", None, raw_connect(4, 0x02, name=b"MQTX"),
     ("bytes_or_close", b"\x20\x02\x00\x01")),
    ("v5 bad protocol name", None, raw_connect(5, 0x02, name=b"mqtt"),
     CONNACK_OR_CLOSE(0x84)),
    ("v5 will QoS 3", None, connect(5, "c", flags_extra=0x18 | 0x04), CONNACK_OR_CLOSE(0x81)),
    ("v5 will retain without will", None, connect(5, "c", flags_extra=0x20),
     CONNACK_OR_CLOSE(0x81)),
    ("3.1.1 password without user name", None, connect(4, "c", password="pw"), CLOSE),
    ("3.1.1 empty id, clean_session 0", None, connect(4, "", clean=False),
     BYTES(b"\x20\x02\x00\x02")),
    ("3.1.1 client id too long", None, connect(4, LONG_ID), BYTES(b"\x20\x02\x00\x02")),
    ("v5 client id too long", None, connect(5, LONG_ID), CONNACK(0x85)),
    ("v5 client id invalid UTF-8", None, raw_connect(5, 0x02, client_id=b"\xc3\x28"),
     CONNACK_OR_CLOSE(0x81)),
    ("v5 client id with U+0000", None, raw_connect(5, 0x02, client_id=b"a\x00b"),
     CONNACK_OR_CLOSE(0x81)),
    ("v5 user name invalid UTF-8", None, raw_connect(5, 0x82, tail=s(b"\xff\xfe")),
     CONNACK_OR_CLOSE(0x81)),
    ("v5 will topic with wildcard", None,
     connect(5, "c", will={"topic": "w/#", "payload": b"x"}), CONNACK_OR_CLOSE(0x90, 0x81)),
    ("3.1.1 will topic with wildcard", None,
     connect(4, "c", will={"topic": "w/+", "payload": b"x"}), CLOSE),
    ("v5 Receive Maximum 0", None, connect(5, "c", properties=[(ft.P_RECEIVE_MAXIMUM, 0)]),
     CONNACK_OR_CLOSE(0x82, 0x81)),
    ("v5 Session Expiry twice", None,
     connect(5, "c", properties=[(ft.P_SESSION_EXPIRY, 1), (ft.P_SESSION_EXPIRY, 2)]),
     CONNACK_OR_CLOSE(0x82, 0x81)),
    ("v5 property not allowed in CONNECT", None,
     connect(5, "c", properties=[(ft.P_TOPIC_ALIAS, 1)]), CONNACK_OR_CLOSE(0x81, 0x82)),
    ("v5 Authentication Method", None,
     connect(5, "c", properties=[(ft.P_AUTH_METHOD, "SCRAM-SHA-1")]), CONNACK(0x8C)),
    ("CONNECT with trailing bytes", None, packet(0x10, connect(4, "c")[2:] + b"\x00"), CLOSE),
    ("CONNECT remaining length 5 bytes", None, b"\x10\xff\xff\xff\xff\x01", CLOSE),
    ("CONNECT larger than max packet", None, b"\x10" + varint(50000), CLOSE),
]

AFTER_V5_CONNECT = [
    ("second CONNECT", 5, connect(5, "again"), DISC(0x82)),
    ("PUBLISH wildcard +", 5, publish("a/+", b"x"), DISC(0x90)),
    ("PUBLISH wildcard #", 5, publish("a/#", b"x", 1, 1), DISC(0x90)),
    ("PUBLISH QoS 3", 5, b"\x36" + publish("a", b"x", 1, 1)[1:], DISC(0x81)),
    ("PUBLISH QoS 0 with DUP", 5, b"\x38" + publish("a", b"x")[1:], DISC(0x81)),
    ("PUBLISH topic invalid UTF-8", 5, packet(0x30, s(b"a\xff") + b"\x00"), DISC(0x81)),
    ("PUBLISH topic with U+0000", 5, packet(0x30, s(b"a\x00b") + b"\x00"), DISC(0x81)),
    ("PUBLISH topic with surrogate", 5, packet(0x30, s(b"a\xed\xa0\x80") + b"\x00"),
     DISC(0x81)),
    ("PUBLISH topic overlong NUL", 5, packet(0x30, s(b"a\xc0\x80") + b"\x00"), DISC(0x81)),
    ("PUBLISH packet id 0", 5, publish("a", b"x", 1, 0), DISC(0x82, 0x81)),
    ("PUBLISH empty topic, no alias", 5, publish("", b"x"), DISC(0x82)),
    ("PUBLISH with Subscription Identifier", 5,
     publish("a", b"x", properties=[(ft.P_SUBSCRIPTION_ID, 1)]), DISC(0x82)),
    ("PUBLISH with Session Expiry property", 5,
     publish("a", b"x", properties=[(ft.P_SESSION_EXPIRY, 1)]), DISC(0x81, 0x82)),
    ("PUBLISH properties longer than packet", 5, packet(0x30, s("a") + b"\x05\x01\x01"),
     DISC(0x81)),
    ("SUBSCRIBE flags 0", 5, b"\x80" + subscribe(1, [("a", 0)])[1:], DISC(0x81)),
    ("SUBSCRIBE flags 3", 5, b"\x83" + subscribe(1, [("a", 0)])[1:], DISC(0x81)),
    ("SUBSCRIBE without filters", 5, packet(0x82, u16(1) + b"\x00"), DISC(0x82)),
    ("SUBSCRIBE QoS 3", 5, subscribe(1, [("a", 3)]), DISC(0x82)),  # 5.0: 3.8.3.1
    ("SUBSCRIBE reserved option bits", 5, subscribe(1, [("a", 0xC0)]), DISC(0x81)),
    ("SUBSCRIBE Retain Handling 3", 5, subscribe(1, [("a", 0x30)]), DISC(0x82)),
    ("SUBSCRIBE packet id 0", 5, subscribe(0, [("a", 0)]), DISC(0x82, 0x81)),
    ("SUBSCRIBE Subscription Identifier 0", 5,
     subscribe(1, [("a", 0)], properties=[(ft.P_SUBSCRIPTION_ID, 0)]), DISC(0x82, 0x81)),
    ("SUBSCRIBE filter invalid UTF-8", 5, packet(0x82, u16(1) + b"\x00" + s(b"a\xff") + b"\x00"),
     DISC(0x81)),
    ("UNSUBSCRIBE filter with U+0000", 5, packet(0xA2, u16(1) + b"\x00" + s(b"a\x00")),
     DISC(0x81)),
    ("SUBSCRIBE filter truncated", 5, packet(0x82, u16(1) + b"\x00" + b"\x00\x05ab"),
     DISC(0x81)),
    ("UNSUBSCRIBE flags 0", 5, b"\xa0" + ft.unsubscribe(1, ["a"])[1:], DISC(0x81)),
    ("UNSUBSCRIBE without filters", 5, packet(0xA2, u16(1) + b"\x00"), DISC(0x82)),
    ("PUBREL flags 0", 5, b"\x60\x02\x00\x01", DISC(0x81)),
    ("PUBACK flags 2", 5, b"\x42\x02\x00\x01", DISC(0x81)),
    ("PINGREQ with a body", 5, b"\xc0\x01\x00", DISC(0x81)),
    ("CONNACK from a client", 5, b"\x20\x03\x00\x00\x00", DISC(0x82, 0x81)),
    ("SUBACK from a client", 5, b"\x90\x04\x00\x01\x00\x00", DISC(0x82, 0x81)),
    ("PINGRESP from a client", 5, b"\xd0\x00", DISC(0x82, 0x81)),
    ("packet type 0", 5, b"\x00\x00", DISC(0x81)),
    ("AUTH packet", 5, packet(0xF0, b"\x18\x00"), DISC(0x82)),
    ("DISCONNECT reserved reason", 5, packet(0xE0, b"\x03\x00"), DISC(0x82, 0x81)),
    ("DISCONNECT sets Session Expiry after 0", 5,
     ft.disconnect(0, [(ft.P_SESSION_EXPIRY, 30)]), DISC(0x82)),
    ("remaining length with 5 bytes", 5, b"\x30\xff\xff\xff\xff\x01", DISC_OR_CLOSE(0x81)),
]

AFTER_V311_CONNECT = [
    ("second CONNECT", 4, connect(4, "again"), CLOSE),
    ("PUBLISH wildcard", 4, publish("a/#", b"x", version=4), CLOSE),
    ("PUBLISH QoS 3", 4, b"\x36" + publish("a", b"x", 1, 1, version=4)[1:], CLOSE),
    ("PUBLISH topic with U+0000", 4, packet(0x30, s(b"a\x00")), CLOSE),
    ("SUBSCRIBE flags 0", 4, b"\x80" + subscribe(1, [("a", 0)], version=4)[1:], CLOSE),
    ("SUBSCRIBE without filters", 4, packet(0x82, u16(1)), CLOSE),
    ("SUBSCRIBE option bits above QoS", 4, subscribe(1, [("a", 0x04)], version=4), CLOSE),
    ("AUTH packet", 4, b"\xf0\x00", CLOSE),
    ("remaining length with 5 bytes", 4, b"\x30\xff\xff\xff\xff\x01", CLOSE),
]


class Malformed(ft.BrokerTest):
    default_args = ("--max-packet-size", "4096")

    def run_case(self, name, version, data, outcome):
        c = self.raw(version or 5)
        if version:
            a = c.connect("victim")
            self.assertEqual(a.reason, 0)
        c.send(data)
        kind = outcome[0]
        if kind in ("bytes", "bytes_or_close"):
            got = self.read_until_closed(c)
            allowed = [outcome[1]] + ([b""] if kind == "bytes_or_close" else [])
            self.assertIn(got, allowed, "%s: got %r" % (name, got))
        elif kind == "close":
            pkts = c.wait_closed()
            self.assertEqual(pkts, [], name)
        elif kind in ("connack", "disc"):
            ptype = ft.PT_CONNACK if kind == "connack" else ft.PT_DISCONNECT
            pkts = c.wait_closed()
            if not pkts and outcome[2]:
                return
            self.assertEqual(len(pkts), 1, "%s: %r" % (name, pkts))
            self.assertEqual(pkts[0].type, ptype, "%s: %r" % (name, pkts))
            self.assertIn(pkts[0].reason, outcome[1], "%s: %r" % (name, pkts))
        elif kind == "suback":
            a = c.expect(ft.PT_SUBACK)
            self.assertEqual(a.codes, outcome[1], name)
            c.ping()
        else:
            raise AssertionError(kind)

    def read_until_closed(self, c):
        data = b""
        for _ in range(1000):
            try:
                c._fill(time.monotonic() + ft.WAIT)
            except TimeoutError:
                raise AssertionError("not closed")
            if c.eof:
                data = c.buf
                break
        return data

    def table(self, rows):
        for name, version, data, outcome in rows:
            with self.subTest(case=name):
                self.run_case(name, version, data, outcome)
                self.assert_serves()

    def test_before_connect(self):
        self.table(BEFORE_CONNECT)

    def test_after_v5_connect(self):
        self.table(AFTER_V5_CONNECT)

    def test_after_v311_connect(self):
        self.table(AFTER_V311_CONNECT)

    def test_invalid_filter_among_valid_ones(self):
        for version, bad in ((5, 0x8F), (4, 0x80)):
            c = self.raw_connected("f%d" % version, version=version)
            c.send(subscribe(1, [("a/#/b", 1), ("ok/+", 1), ("a+", 0), ("#/x", 2), ("ok/#", 2),
                                 ("$share/g", 1), ("$share//x", 1), ("$share/a+b/x", 1)],
                             version=version))
            a = c.expect(ft.PT_SUBACK)
            self.assertEqual((a.packet_id, a.codes), (1, [bad, 1, bad, bad, 2, bad, bad, bad]))
            c.ping()
            pub = self.raw_connected("pub%d" % version)
            pub.publish("ok/1", b"granted", 1)
            self.assertEqual(c.next_publish().payload, b"granted")

    def test_oversized_packet_refused_from_header(self):
        c = self.raw(5)
        a = c.connect("big")
        self.assertEqual(ft.prop(a.props, ft.P_MAXIMUM_PACKET_SIZE), 4096)
        # Only the fixed header, claiming ~1 MB: refused before any body.
        c.send(b"\x30" + varint(1000000))
        pkts = c.wait_closed()
        self.assertEqual([(p.type, p.reason) for p in pkts], [(ft.PT_DISCONNECT, 0x95)])
        self.assert_serves()
        # The largest accepted size still goes through.
        sub = self.raw_connected("sub")
        sub.subscribe([("fits", 0)])
        p = self.raw_connected("pub")
        head = s("fits") + b"\x00"
        body_len = 4096 - 1 - len(varint(4096)) - len(head)
        pkt = packet(0x30, head + b"y" * body_len)
        self.assertEqual(len(pkt), 4096)
        p.send(pkt)
        self.assertEqual(len(sub.next_publish().payload), body_len)
        p.send(packet(0x30, head + b"y" * (body_len + 1)))
        self.assertEqual([(x.type, x.reason) for x in p.wait_closed()],
                         [(ft.PT_DISCONNECT, 0x95)])
        # 3.1.1 has no DISCONNECT from the server: just closed.
        c3 = self.raw_connected("big3", version=4)
        c3.send(b"\x30" + varint(1000000))
        self.assertEqual(c3.wait_closed(), [])
        self.assert_serves()

    def test_oversized_packet_in_pieces(self):
        c = self.raw_connected("pieces")
        c.send(b"\x30")
        self.assertIsNone(c.recv_or_none(0.2))
        c.send(b"\x80\x80")
        self.assertIsNone(c.recv_or_none(0.2))
        c.send(b"\x01")  # Remaining Length 2^21: too large
        pkts = c.wait_closed()
        self.assertEqual([(p.type, p.reason) for p in pkts], [(ft.PT_DISCONNECT, 0x95)])

    def test_empty_client_id(self):
        c = self.raw(5)
        a = c.connect("")
        self.assertEqual(a.reason, 0)
        cid = ft.prop(a.props, ft.P_ASSIGNED_CLIENT_ID)
        self.assertTrue(cid, a.props)
        c.ping()
        c2 = self.raw(5)
        a2 = c2.connect("")
        self.assertNotEqual(ft.prop(a2.props, ft.P_ASSIGNED_CLIENT_ID), cid)
        # 3.1.1 with a clean session: accepted, nothing assigned on the wire
        c3 = self.raw(4)
        a3 = c3.connect("", clean=True)
        self.assertEqual((a3.reason, a3.body), (0, b"\x00\x00"))
        c3.ping()

    @ft.broker_args("--max-client-id-len", "8")
    def test_max_client_id_len(self):
        a = self.raw(5).connect("x" * 9)
        self.assertEqual(a.reason, 0x85)
        self.assertEqual(self.raw(4).connect("x" * 9).body, b"\x00\x02")
        self.assertEqual(self.raw(5).connect("y" * 8).reason, 0)
        self.assertEqual(self.raw(4).connect("z" * 8).reason, 0)
        # The limit is on client-chosen identifiers, not on assigned ones.
        c = self.raw(5)
        a = c.connect("")
        self.assertEqual(a.reason, 0)
        self.assertTrue(ft.prop(a.props, ft.P_ASSIGNED_CLIENT_ID))
        c.ping()
        self.assertEqual(self.raw(4).connect("", clean=True).reason, 0)

    def test_session_expiry_on_disconnect_after_zero(self):
        w = self.paho("w")
        w.subscribe("mw", 1)
        c = self.raw_connected("zero", will={"topic": "mw", "payload": b"w"})
        c.send(ft.disconnect(0, [(ft.P_SESSION_EXPIRY, 30)]))
        pkts = c.wait_closed()
        self.assertEqual([(p.type, p.reason) for p in pkts], [(ft.PT_DISCONNECT, 0x82)])
        self.assertEqual(w.get().payload, b"w")  # a protocol error, not a normal end
        # Allowed when CONNECT had a non-zero expiry.
        c2 = self.raw_connected("nonzero", properties=[(ft.P_SESSION_EXPIRY, 5)])
        c2.send(ft.disconnect(0, [(ft.P_SESSION_EXPIRY, 30)]))
        self.assertEqual(c2.wait_closed(), [])
        c3 = self.raw(5)
        self.assertTrue(c3.connect("nonzero", clean=False).session_present)

    def test_reason_string_only_when_asked(self):
        # 5.0 lets a server send a Reason String on DISCONNECT either way;
        # ferrymq honours Request Problem Information 0 there too.
        c = self.raw_connected("quiet", properties=[(ft.P_REQUEST_PROBLEM_INFO, 0)])
        c.send(publish("a/+", b"x"))
        pkts = c.wait_closed()
        self.assertEqual([(p.type, p.reason) for p in pkts], [(ft.PT_DISCONNECT, 0x90)])
        self.assertIsNone(ft.prop(pkts[0].props, ft.P_REASON_STRING))
        c = self.raw_connected("talk")
        c.send(publish("a/+", b"x"))
        pkts = c.wait_closed()
        self.assertTrue(ft.prop(pkts[0].props, ft.P_REASON_STRING))

    @ft.broker_args("--connect-timeout-ms", "1000")
    def test_garbage_stream(self):
        # Bytes that are no MQTT at all, in several sizes.
        for data in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", bytes(range(256)), b"\xff" * 64):
            c = self.raw(5)
            c.send(data)
            c.wait_closed()
            self.assert_serves()


if __name__ == "__main__":
    ft.main()
