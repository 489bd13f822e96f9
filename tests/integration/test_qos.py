"""QoS 0/1/2 flows in both directions: paho (3.1.1 and 5.0), mosquitto
clients, and a raw client that checks the exact acknowledgements; QoS 2
exactly-once with a resent PUBLISH."""

import time

import fmqtest as ft


class PahoQos(ft.BrokerTest):
    def flow(self, version):
        sub = self.paho("sub-v%d" % version, version=version)
        pub = self.paho("pub-v%d" % version, version=version)
        for q in (0, 1, 2):
            codes = sub.subscribe("q/%d/#" % q, q)
            self.assertEqual(codes, [q])
        for q in (0, 1, 2):
            for pq in (0, 1, 2):
                pub.publish("q/%d/from%d" % (q, pq), b"m-%d-%d" % (q, pq), pq)
        got = {}
        for m in sub.get_n(9):
            got[m.topic] = (m.payload, m.qos)
        for q in (0, 1, 2):
            for pq in (0, 1, 2):
                # delivered at min(published QoS, granted QoS)
                self.assertEqual(got["q/%d/from%d" % (q, pq)], (b"m-%d-%d" % (q, pq), min(q, pq)))
        sub.none()
        pub.disconnect()
        sub.disconnect()

    def test_paho_v311(self):
        self.flow(4)

    def test_paho_v5(self):
        self.flow(5)

    def test_paho_v311_to_v5_and_back(self):
        a = self.paho("a", version=4)
        b = self.paho("b", version=5)
        a.subscribe("x/a", 2)
        b.subscribe("x/b", 2)
        a.publish("x/b", b"to-b", 2)
        b.publish("x/a", b"to-a", 2)
        mb, ma = b.get(), a.get()
        self.assertEqual((mb.topic, mb.payload, mb.qos), ("x/b", b"to-b", 2))
        self.assertEqual((ma.topic, ma.payload, ma.qos), ("x/a", b"to-a", 2))


class MosquittoQos(ft.BrokerTest):
    def flow(self, version):
        for q in (0, 1, 2):
            sub = self.mosquitto_sub("mq/%d" % q, qos=q, version=version, count=1)
            sub.wait_subscribed()
            rc, out = ft.mosquitto_pub(self.port, "mq/%d" % q, "hello-%d" % q, qos=q,
                                       version=version)
            self.assertEqual(rc, 0, out)
            if q == 1:
                self.assertIn("received PUBACK", out)
            if q == 2:
                for step in ("received PUBREC", "sending PUBREL", "received PUBCOMP"):
                    self.assertIn(step, out)
            self.assertEqual(sub.next_message(), ("mq/%d" % q, q, 0, "hello-%d" % q))
            self.assertEqual(sub.finish(), 0, "\n".join(sub.output))
            if q == 2:
                text = "\n".join(sub.output)
                for step in ("sending PUBREC", "received PUBREL", "sending PUBCOMP"):
                    self.assertIn(step, text)

    def test_mosquitto_v311(self):
        self.flow("mqttv311")

    def test_mosquitto_v5(self):
        self.flow("mqttv5")

    def test_mosquitto_to_paho(self):
        p = self.paho("p", version=5)
        p.subscribe("mix/#", 2)
        rc, out = ft.mosquitto_pub(self.port, "mix/1", "from-mosquitto", qos=2)
        self.assertEqual(rc, 0, out)
        m = p.get()
        self.assertEqual((m.topic, m.payload, m.qos), ("mix/1", b"from-mosquitto", 2))
        sub = self.mosquitto_sub("mix2", qos=1, version="mqttv311", count=1)
        sub.wait_subscribed()
        p.publish("mix2", b"from-paho", 1)
        self.assertEqual(sub.next_message(), ("mix2", 1, 0, "from-paho"))


class RawQos(ft.BrokerTest):
    def test_acks_v5_and_v311(self):
        for version in (5, 4):
            sub = self.raw_connected("rs%d" % version, version=version)
            sa = sub.subscribe([("r/#", 2)])
            self.assertEqual(sa.codes, [2])
            pub = self.raw_connected("rp%d" % version, version=version)
            self.assertIsNone(pub.publish("r/0", b"zero", 0))
            a1 = pub.publish("r/1", b"one", 1, packet_id=10)
            self.assertEqual((a1.type, a1.packet_id, a1.reason), (ft.PT_PUBACK, 10, 0))
            c2 = pub.publish("r/2", b"two", 2, packet_id=11)
            self.assertEqual((c2.type, c2.packet_id, c2.reason), (ft.PT_PUBCOMP, 11, 0))
            got = []
            for _ in range(3):
                p = sub.next_publish()
                got.append((p.topic, p.payload, p.qos, p.dup))
                if p.qos:
                    self.assertNotEqual(p.packet_id, 0)
                sub.ack_publish(p)
            self.assertEqual(got, [("r/0", b"zero", 0, False), ("r/1", b"one", 1, False),
                                   ("r/2", b"two", 2, False)])
            sub.ping()
            sub.send(ft.disconnect(0, version=version))
            pub.send(ft.disconnect(0, version=version))

    def test_no_matching_subscribers_v5(self):
        pub = self.raw_connected("lonely")
        a = pub.publish("nobody/here", b"x", 1, packet_id=3)
        self.assertEqual(a.reason, 0x10)  # No matching subscribers
        r = pub.send(ft.publish("nobody/here", b"x", 2, 4))
        rec = pub.expect(ft.PT_PUBREC)
        self.assertEqual((rec.packet_id, rec.reason), (4, 0x10))
        pub.send(ft.ack(ft.PT_PUBREL, 4))
        self.assertEqual(pub.expect(ft.PT_PUBCOMP).packet_id, 4)
        self.assertIsNone(r)

    def test_qos2_duplicate_publish_delivered_once(self):
        for version in (5, 4):
            sub = self.paho("dup-sub%d" % version, version=5)
            sub.subscribe("eo/%d" % version, 2)
            pub = self.raw_connected("dup-pub%d" % version, version=version)
            topic = "eo/%d" % version
            pub.send(ft.publish(topic, b"once", 2, 7, version=version))
            rec = pub.expect(ft.PT_PUBREC)
            self.assertEqual(rec.packet_id, 7)
            # The PUBREC "got lost": the client resends with DUP set.
            pub.send(ft.publish(topic, b"once", 2, 7, dup=True, version=version))
            rec = pub.expect(ft.PT_PUBREC)
            self.assertEqual(rec.packet_id, 7)
            pub.send(ft.ack(ft.PT_PUBREL, 7, version=version))
            self.assertEqual(pub.expect(ft.PT_PUBCOMP).packet_id, 7)
            m = sub.get()
            self.assertEqual((m.payload, m.qos), (b"once", 2))
            sub.none()
            # After PUBCOMP the id is free: the same id is a new message.
            c = pub.publish(topic, b"again", 2, packet_id=7)
            self.assertEqual(c.type, ft.PT_PUBCOMP)
            self.assertEqual(sub.get().payload, b"again")
            sub.none(0.5)

    def test_qos2_exactly_once_across_reconnect(self):
        sub = self.paho("eo-sub")
        sub.subscribe("eo/rc", 2)
        exp = [(ft.P_SESSION_EXPIRY, 60)]
        pub = self.raw_connected("eo-pub", properties=exp)
        pub.send(ft.publish("eo/rc", b"just once", 2, 9))
        self.assertEqual(pub.expect(ft.PT_PUBREC).packet_id, 9)
        pub.abort()  # PUBREC "lost" with the connection
        again = self.raw(5)
        self.assertTrue(again.connect("eo-pub", clean=False, properties=exp).session_present)
        again.send(ft.publish("eo/rc", b"just once", 2, 9, dup=True))
        self.assertEqual(again.expect(ft.PT_PUBREC).packet_id, 9)
        again.send(ft.ack(ft.PT_PUBREL, 9))
        c = again.expect(ft.PT_PUBCOMP)
        self.assertEqual((c.packet_id, c.reason), (9, 0))
        self.assertEqual(sub.get().payload, b"just once")
        sub.none()

    def test_overlapping_subscriptions_one_copy_at_max_qos(self):
        c = self.raw_connected("overlap")
        c.subscribe([("ov/#", 0), ("ov/+", 2), ("ov/x", 1)])
        pub = self.raw_connected("pub")
        pub.publish("ov/x", b"x", 2, packet_id=1)
        p = c.next_publish()
        self.assertEqual((p.payload, p.qos), (b"x", 2))
        c.ack_publish(p)
        self.assertIsNone(c.recv_or_none(ft.QUIET))

    def test_wildcard_matching(self):
        filters = ["sport/tennis/+", "sport/#", "+/+", "/+", "+", "#", "sport/+/player1"]
        subs = {}
        for i, f in enumerate(filters):
            c = self.raw_connected("w%d" % i)
            c.subscribe([(f, 0)])
            subs[f] = c
        pub = self.raw_connected("pub")
        topics = ["sport", "sport/tennis/player1", "/finance", "sport/", "a/b"]
        for tp in topics:
            pub.publish(tp, tp.encode(), 1)
        want = {
            "sport/tennis/+": ["sport/tennis/player1"],
            "sport/#": ["sport", "sport/tennis/player1", "sport/"],
            "+/+": ["/finance", "sport/", "a/b"],
            "/+": ["/finance"],
            "+": ["sport"],
            "#": topics,
            "sport/+/player1": ["sport/tennis/player1"],
        }
        for f, c in subs.items():
            got = [p.topic for p in c.drain(0.5)]
            self.assertEqual(got, want[f], f)

    def test_pubrel_unknown_id(self):
        pub = self.raw_connected("rel")
        pub.send(ft.ack(ft.PT_PUBREL, 99))
        c = pub.expect(ft.PT_PUBCOMP)
        self.assertEqual((c.packet_id, c.reason), (99, 0x92))  # Packet Identifier not found
        pub.ping()


class Framing(ft.BrokerTest):
    def test_byte_by_byte(self):
        sub = self.raw(5)
        sub.sock.setsockopt(ft.socket.IPPROTO_TCP, ft.socket.TCP_NODELAY, 1)
        data = (ft.connect(5, "slowpoke") + ft.subscribe(1, [("bb", 1)]) +
                ft.publish("bb", b"one byte at a time", 1, 2) + ft.PINGREQ)
        for i in range(len(data)):
            sub.send(data[i:i + 1])
            if i % 8 == 0:
                time.sleep(0.002)
        types = []
        for _ in range(5):
            p = sub.recv()
            types.append(p.type)
            if p.type == ft.PT_PUBLISH:
                self.assertEqual(p.payload, b"one byte at a time")
                sub.ack_publish(p)
        self.assertEqual(sorted(types), sorted([ft.PT_CONNACK, ft.PT_SUBACK, ft.PT_PUBACK,
                                                ft.PT_PUBLISH, ft.PT_PINGRESP]))
        self.assertEqual(types[:2], [ft.PT_CONNACK, ft.PT_SUBACK])

    def test_many_packets_in_one_write(self):
        c = self.raw(4)
        burst = ft.connect(4, "burst") + ft.subscribe(1, [("b/#", 2)], version=4)
        for i in range(50):
            burst += ft.publish("b/%d" % i, b"%d" % i, 1, i + 1, version=4)
        burst += ft.PINGREQ
        c.send(burst)
        self.assertEqual(c.expect(ft.PT_CONNACK).reason, 0)
        self.assertEqual(c.expect(ft.PT_SUBACK).codes, [2])
        pubacks, publishes = 0, []
        for _ in range(200):
            p = c.recv()
            if p.type == ft.PT_PUBACK:
                pubacks += 1
            elif p.type == ft.PT_PUBLISH:
                publishes.append(int(p.payload))
                c.ack_publish(p)
            elif p.type == ft.PT_PINGRESP:
                break
        for p in c.drain(0.5):
            if p.type == ft.PT_PUBLISH:
                publishes.append(int(p.payload))
                c.ack_publish(p)
        self.assertEqual(pubacks, 50)
        self.assertEqual(publishes, list(range(50)))

    def test_large_payloads(self):
        sub = self.paho("big-sub")
        sub.subscribe("big/#", 1)
        pub = self.paho("big-pub", version=4)
        sizes = (0, 1, 127, 128, 16383, 16384, 70000, 500000)
        for n in sizes:
            pub.publish("big/%d" % n, bytes([n % 251]) * n, 1)
        for n, m in zip(sizes, sub.get_n(len(sizes), ft.WAIT * 2)):
            self.assertEqual((m.topic, len(m.payload), m.payload[:1]),
                             ("big/%d" % n, n, bytes([n % 251])[:n]))

    def test_unsubscribe(self):
        c = self.raw_connected("un")
        c.subscribe([("u/a", 1), ("u/b", 1)])
        c.send(ft.unsubscribe(2, ["u/a", "u/none"]))
        a = c.expect(ft.PT_UNSUBACK)
        self.assertEqual((a.packet_id, a.codes), (2, [0x00, 0x11]))
        pub = self.paho("pub")
        pub.publish("u/a", b"gone", 1)
        pub.publish("u/b", b"kept", 1)
        self.assertEqual(c.next_publish().payload, b"kept")
        c3 = self.raw_connected("un3", version=4)
        c3.subscribe([("u/c", 1)])
        c3.send(ft.unsubscribe(7, ["u/c"], version=4))
        self.assertEqual(c3.expect(ft.PT_UNSUBACK).body, b"\x00\x07")


if __name__ == "__main__":
    ft.main()
