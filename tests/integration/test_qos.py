"""QoS 0/1/2 flows in both directions: paho (3.1.1 and 5.0), mosquitto
clients, and a raw client that checks the exact acknowledgements; QoS 2
exactly-once with a resent PUBLISH."""

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

    def test_pubrel_unknown_id(self):
        pub = self.raw_connected("rel")
        pub.send(ft.ack(ft.PT_PUBREL, 99))
        c = pub.expect(ft.PT_PUBCOMP)
        self.assertEqual((c.packet_id, c.reason), (99, 0x92))  # Packet Identifier not found
        pub.ping()


if __name__ == "__main__":
    ft.main()
