"""Limits the broker enforces or announces: connection limit, Receive
Maximum towards the broker, Maximum QoS, Retain Available, anonymous
access, topic levels, keep-alive and session-expiry caps, and the client's
Maximum Packet Size."""

import time

import fmqtest as ft


class ConnectionLimit(ft.BrokerTest):
    @ft.broker_args("--max-connections", "5")
    def test_sixth_client_refused(self):
        five = [self.raw_connected("c%d" % i, version=5 if i % 2 else 4) for i in range(5)]
        sixth = self.raw(5)
        a = sixth.connect("c5")
        self.assertEqual(a.reason, 0x89)  # Server busy
        self.assertEqual(sixth.wait_closed(), [])
        sixth3 = self.raw(4)
        sixth3.send(ft.connect(4, "c6"))
        got = b""
        for _ in range(100):
            try:
                if not sixth3._fill(time.monotonic() + ft.WAIT):
                    break
            except TimeoutError:
                self.fail("3.1.1 client over the limit not closed")
        got = sixth3.buf
        self.assertEqual(got, b"\x20\x02\x00\x03")  # Server unavailable
        paho_sixth = ft.Paho(self.port, "paho6", version=5, connect=False)
        paho_sixth.c.connect(ft.HOST, self.port, 60)
        paho_sixth.c.loop_start()
        try:
            self.assertEqual(paho_sixth.connacks.get(timeout=ft.WAIT)["rc"], 0x89)
        finally:
            paho_sixth.stop()
        # The first five keep working.
        five[0].subscribe([("lim/#", 1)])
        for i, c in enumerate(five):
            c.ping()
            c.publish("lim/%d" % i, b"%d" % i, 1, packet_id=i + 1)
        got = []
        for _ in range(5):
            p = five[0].next_publish()
            got.append(p.payload)
            five[0].ack_publish(p)
        self.assertEqual(sorted(got), [b"0", b"1", b"2", b"3", b"4"])
        # A freed place can be taken again.
        five[4].send(ft.disconnect(0))
        five[4].wait_closed()
        for attempt in range(50):
            c = self.raw(5)
            a = c.connect("again")
            if a.reason == 0:
                c.ping()
                break
            self.assertEqual(a.reason, 0x89)
            c.wait_closed()
            time.sleep(0.1)
        else:
            self.fail("the freed connection place was never given back")


class Inbound(ft.BrokerTest):
    @ft.broker_args("--max-inflight", "2")
    def test_receive_maximum_exceeded_by_client(self):
        c = self.raw(5)
        a = c.connect("eager")
        self.assertEqual(ft.prop(a.props, ft.P_RECEIVE_MAXIMUM), 2)
        for pid in (1, 2):
            c.send(ft.publish("rx", b"x", 2, pid))
            self.assertEqual(c.expect(ft.PT_PUBREC).packet_id, pid)
        c.send(ft.publish("rx", b"x", 2, 3))  # a third without PUBREL
        pkts = c.wait_closed()
        self.assertEqual([(p.type, p.reason) for p in pkts], [(ft.PT_DISCONNECT, 0x93)])
        self.assert_serves()

    @ft.broker_args("--max-inflight", "2")
    def test_receive_maximum_respected_is_fine(self):
        c = self.raw_connected("polite")
        for pid in range(1, 8):
            self.assertEqual(c.publish("rx", b"x", 2, packet_id=pid).type, ft.PT_PUBCOMP)

    @ft.broker_args("--max-qos", "1")
    def test_maximum_qos(self):
        c = self.raw(5)
        a = c.connect("q")
        self.assertEqual(ft.prop(a.props, ft.P_MAXIMUM_QOS), 1)
        self.assertEqual(c.subscribe([("mq", 2)]).codes, [1])
        p = self.paho("p", version=4)
        self.assertEqual(p.subscribe("mq3", 2), [1])
        c.send(ft.publish("mq", b"x", 2, 1))
        pkts = c.wait_closed()
        self.assertEqual([(x.type, x.reason) for x in pkts], [(ft.PT_DISCONNECT, 0x9B)])
        w = self.raw(5)
        a = w.connect("w", will={"topic": "w", "payload": b"", "qos": 2})
        self.assertEqual(a.reason, 0x9B)
        self.assert_serves()

    @ft.broker_args("--retain-available", "false")
    def test_retain_not_available(self):
        c = self.raw(5)
        a = c.connect("r")
        self.assertEqual(ft.prop(a.props, ft.P_RETAIN_AVAILABLE), 0)
        c.send(ft.publish("r", b"x", 0, retain=True))
        pkts = c.wait_closed()
        self.assertEqual([(x.type, x.reason) for x in pkts], [(ft.PT_DISCONNECT, 0x9A)])
        a = self.raw(5).connect("w", will={"topic": "w", "payload": b"", "retain": True})
        self.assertEqual(a.reason, 0x9A)

    @ft.broker_args("--allow-anonymous", "false")
    def test_anonymous_refused(self):
        self.assertEqual(self.raw(5).connect("anon").reason, 0x87)
        self.assertEqual(self.raw(4).connect("anon3").body, b"\x00\x05")
        self.assertEqual(self.raw(5).connect("named", username="u").reason, 0)
        self.assertEqual(self.raw(4).connect("named3", username="u", password="p").reason, 0)
        rc, out = ft.mosquitto_pub(self.port, "t", "x", extra=["-u", "someone"])
        self.assertEqual(rc, 0, out)
        rc, out = ft.mosquitto_pub(self.port, "t", "x")
        self.assertNotEqual(rc, 0, out)

    @ft.broker_args("--max-topic-levels", "3")
    def test_topic_levels(self):
        c = self.raw_connected("lv")
        a = c.subscribe([("a/b/c", 0), ("a/b/c/d", 0), ("a/+/#", 0)])
        self.assertEqual(a.codes, [0, 0x8F, 0])
        c.publish("a/b/c", b"ok", 1)
        self.assertEqual(c.next_publish().payload, b"ok")
        c.send(ft.publish("a/b/c/d", b"deep", 0))
        pkts = c.wait_closed()
        self.assertEqual([(x.type, x.reason) for x in pkts], [(ft.PT_DISCONNECT, 0x90)])

    @ft.broker_args("--max-keep-alive", "10")
    def test_keep_alive_capped(self):
        a = self.raw(5).connect("ka", keepalive=600)
        self.assertEqual(ft.prop(a.props, ft.P_SERVER_KEEP_ALIVE), 10)
        a = self.raw(5).connect("ka0", keepalive=0)
        self.assertEqual(ft.prop(a.props, ft.P_SERVER_KEEP_ALIVE), 10)
        a = self.raw(5).connect("ka5", keepalive=5)
        self.assertIsNone(ft.prop(a.props, ft.P_SERVER_KEEP_ALIVE))

    @ft.broker_args("--max-session-expiry", "1")
    def test_session_expiry_capped(self):
        c = self.raw(5)
        a = c.connect("se", properties=[(ft.P_SESSION_EXPIRY, 3600)])
        self.assertEqual(ft.prop(a.props, ft.P_SESSION_EXPIRY), 1)
        c.subscribe([("se", 1)])
        c.send(ft.disconnect(0))
        c.wait_closed()
        time.sleep(3)
        a = self.raw(5).connect("se", clean=False, properties=[(ft.P_SESSION_EXPIRY, 3600)])
        self.assertFalse(a.session_present)

    def test_client_maximum_packet_size(self):
        small = self.raw_connected("small", properties=[(ft.P_MAXIMUM_PACKET_SIZE, 64)])
        small.subscribe([("mps", 1)])
        pub = self.raw_connected("pub")
        pub.publish("mps", b"b" * 200, 1, packet_id=1)  # too big for it: not sent
        pub.publish("mps", b"s" * 10, 1, packet_id=2)
        p = small.next_publish()
        self.assertEqual(p.payload, b"s" * 10)
        small.ack_publish(p)
        self.assertIsNone(small.recv_or_none(ft.QUIET))

    def test_resume_with_smaller_maximum_packet_size(self):
        # An unacknowledged message that no longer fits the new connection's
        # Maximum Packet Size is discarded as if delivered ([MQTT-3.1.2-25]),
        # not kept in the inflight window where it would block others.
        exp = (ft.P_SESSION_EXPIRY, 60)
        c = self.raw_connected("shrinks", properties=[exp])
        c.subscribe([("shr", 1)])
        pub = self.raw_connected("pub")
        pub.publish("shr", b"b" * 200, 1, packet_id=1)
        self.assertEqual(len(c.next_publish().payload), 200)  # never acknowledged
        c.abort()
        c2 = self.raw(5)
        a = c2.connect("shrinks", clean=False,
                       properties=[exp, (ft.P_MAXIMUM_PACKET_SIZE, 64),
                                   (ft.P_RECEIVE_MAXIMUM, 1)])
        self.assertTrue(a.session_present)
        pub.publish("shr", b"small", 1, packet_id=2)
        p = c2.next_publish()
        self.assertEqual((p.payload, p.dup), (b"small", False))
        c2.ack_publish(p)
        self.assertIsNone(c2.recv_or_none(ft.QUIET))


if __name__ == "__main__":
    ft.main()
