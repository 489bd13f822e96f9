"""Persistent sessions: resume with messages queued while offline (3.1.1
clean_session=0, 5.0 Session Expiry), Session Present, expiry, Clean Start,
takeover, redelivery with DUP, Receive Maximum."""

import time

import fmqtest as ft

EXP = [(ft.P_SESSION_EXPIRY, 60)]


class Session(ft.BrokerTest):
    def test_v311_resume_with_queued_messages(self):
        c = self.paho("p3", version=4, clean=False)
        self.assertFalse(c.connack["session_present"])
        c.subscribe("sess/#", 1)
        c.disconnect()
        pub = self.paho("pub3", version=4)
        for i in range(3):
            pub.publish("sess/%d" % i, b"queued-%d" % i, 1)
        pub.publish("sess/two", b"queued-q2", 2)
        c2 = self.paho("p3", version=4, clean=False)
        self.assertTrue(c2.connack["session_present"])
        got = [(m.topic, m.payload, m.qos) for m in c2.get_n(4)]
        self.assertEqual(got, [("sess/0", b"queued-0", 1), ("sess/1", b"queued-1", 1),
                               ("sess/2", b"queued-2", 1), ("sess/two", b"queued-q2", 1)])
        c2.none()
        # The subscription lives on in the resumed session.
        pub.publish("sess/live", b"live", 1)
        self.assertEqual(c2.get().payload, b"live")

    def test_v5_resume_with_queued_messages(self):
        c = self.paho("p5", session_expiry=60)
        self.assertFalse(c.connack["session_present"])
        c.subscribe("s5/#", 2)
        c.disconnect()
        pub = self.paho("pub5")
        pub.publish("s5/a", b"one", 1)
        pub.publish("s5/b", b"two", 2)
        c2 = self.paho("p5", clean=False, session_expiry=60)
        self.assertTrue(c2.connack["session_present"])
        got = [(m.topic, m.payload, m.qos) for m in c2.get_n(2)]
        self.assertEqual(got, [("s5/a", b"one", 1), ("s5/b", b"two", 2)])
        c2.none()

    def test_mosquitto_clients_resume(self):
        for version in ("mqttv311", "mqttv5"):
            cid = "mosq-" + version
            first = self.mosquitto_sub("ms/" + version, qos=1, version=version,
                                       extra=["-c", "-i", cid, "-E"])
            self.assertEqual(first.finish(), 0, "\n".join(first.output))  # subscribed, gone
            for i in range(3):
                rc, out = ft.mosquitto_pub(self.port, "ms/" + version, "offline-%d" % i,
                                           qos=1, version=version)
                self.assertEqual(rc, 0, out)
            back = self.mosquitto_sub("ms/" + version, qos=1, version=version, count=3,
                                      extra=["-c", "-i", cid])
            got = [back.next_message() for _ in range(3)]
            self.assertEqual(got, [("ms/" + version, 1, 0, "offline-%d" % i) for i in range(3)])
            self.assertEqual(back.finish(), 0)
            self.assertIn("CONNACK (0)", "\n".join(back.output))

    def test_session_present_flag(self):
        a = self.raw(5).connect("sp", clean=False, properties=EXP)
        self.assertEqual((a.reason, a.session_present), (0, False))  # nothing to resume
        b = self.raw(4).connect("sp3", clean=True)
        self.assertEqual((b.reason, b.session_present), (0, False))
        c = self.raw(4).connect("sp3b", clean=False)
        self.assertEqual((c.reason, c.session_present), (0, False))

    def test_v5_session_expiry(self):
        c = self.raw_connected("brief", properties=[(ft.P_SESSION_EXPIRY, 1)])
        c.subscribe([("exp/#", 1)])
        c.send(ft.disconnect(0))
        c.wait_closed()
        pub = self.raw_connected("pub")
        pub.publish("exp/x", b"for nobody", 1)
        time.sleep(3)  # Session Expiry Interval 1 s has passed
        c2 = self.raw(5)
        a = c2.connect("brief", clean=False, properties=[(ft.P_SESSION_EXPIRY, 1)])
        self.assertEqual((a.reason, a.session_present), (0, False))
        self.assertIsNone(c2.recv_or_none(ft.QUIET))
        # The subscription went with the session.
        a = pub.publish("exp/x", b"again", 1, packet_id=2)
        self.assertEqual(a.reason, 0x10)

    @ft.broker_args("--v3-session-expiry", "1")
    def test_v311_session_expiry(self):
        c = self.raw_connected("brief3", version=4, clean=False)
        c.subscribe([("exp3/#", 1)])
        c.send(ft.disconnect(version=4))
        c.wait_closed()
        time.sleep(3)
        a = self.raw(4).connect("brief3", clean=False)
        self.assertEqual((a.reason, a.session_present), (0, False))

    def test_session_expiry_zero_set_on_disconnect(self):
        c = self.raw_connected("changes", properties=EXP)
        c.subscribe([("chg/#", 1)])
        c.send(ft.disconnect(0, [(ft.P_SESSION_EXPIRY, 0)]))
        c.wait_closed()
        a = self.raw(5).connect("changes", clean=False, properties=EXP)
        self.assertEqual((a.reason, a.session_present), (0, False))

    def test_clean_start_discards_old_session(self):
        for version in (5, 4):
            cid = "cs%d" % version
            kw = {"properties": EXP} if version == 5 else {}
            c = self.raw_connected(cid, version=version, clean=False, **kw)
            c.subscribe([("cs/%d" % version, 1)])
            c.send(ft.disconnect(version=version))
            c.wait_closed()
            pub = self.raw_connected("pub%d" % version)
            pub.publish("cs/%d" % version, b"queued", 1)
            c2 = self.raw(version)
            a = c2.connect(cid, clean=True)
            self.assertEqual((a.reason, a.session_present), (0, False))
            self.assertIsNone(c2.recv_or_none(ft.QUIET))  # the queue went with it
            a = pub.publish("cs/%d" % version, b"live", 1, packet_id=2)
            self.assertEqual(a.reason, 0x10)  # and so did the subscription
            self.assertIsNone(c2.recv_or_none(0.3))

    def test_takeover_v5(self):
        old = self.raw_connected("twin", properties=EXP)
        old.subscribe([("tw/#", 1)])
        new = self.raw(5)
        a = new.connect("twin", clean=False, properties=EXP)
        self.assertEqual((a.reason, a.session_present), (0, True))
        pkts = old.wait_closed()
        self.assertEqual([(p.type, p.reason) for p in pkts], [(ft.PT_DISCONNECT, 0x8E)])
        pub = self.raw_connected("pub")
        pub.publish("tw/x", b"to the new one", 1)
        p = new.next_publish()
        self.assertEqual(p.payload, b"to the new one")
        new.ack_publish(p)
        new.ping()

    def test_takeover_v311(self):
        old = self.raw_connected("twin3", version=4, clean=False)
        old.subscribe([("tw3/#", 1)])
        new = self.raw(4)
        a = new.connect("twin3", clean=False)
        self.assertEqual((a.reason, a.session_present), (0, True))
        self.assertEqual(old.wait_closed(), [])  # 3.1.1: closed without a packet
        pub = self.paho("pub")
        pub.publish("tw3/x", b"hi", 1)
        self.assertEqual(new.next_publish().payload, b"hi")

    def test_takeover_of_connection_lifetime_session(self):
        # A session with expiry 0 (5.0) or clean_session=1 (3.1.1) lasts as
        # long as its network connection: the takeover closes that
        # connection, so nothing of it may be resumed.
        for version in (5, 4):
            cid = "once%d" % version
            old = self.raw_connected(cid, version=version, clean=True)
            old.subscribe([("once/%d" % version, 1)])
            new = self.raw(version)
            kw = {"properties": EXP} if version == 5 else {}
            a = new.connect(cid, clean=False, **kw)
            self.assertEqual((a.reason, a.session_present), (0, False))
            old.wait_closed()
            pub = self.raw_connected("pub%d" % version)
            a = pub.publish("once/%d" % version, b"x", 1)
            self.assertEqual(a.reason, 0x10)  # the subscription ended with it
            self.assertIsNone(new.recv_or_none(0.5))

    def test_takeover_with_paho(self):
        a = self.paho("same", session_expiry=60)
        a.subscribe("pt/#", 1)
        b = self.paho("same", clean=False, session_expiry=60)
        self.assertTrue(b.connack["session_present"])
        a.stop()  # paho would reconnect and take it back
        pub = self.paho("pub")
        pub.publish("pt/1", b"x", 1)
        self.assertEqual(b.get().payload, b"x")

    def redelivery(self, version):
        cid = "redo%d" % version
        kw = {"properties": EXP} if version == 5 else {}
        c = self.raw_connected(cid, version=version, clean=False, **kw)
        c.subscribe([("rd/#", 1)])
        pub = self.raw_connected("pub%d" % version)
        for i in range(3):
            pub.publish("rd/%d" % i, b"m%d" % i, 1, packet_id=i + 1)
        first = [c.next_publish() for _ in range(3)]
        self.assertEqual([p.dup for p in first], [False] * 3)
        c.ack_publish(first[0])  # only the first is acknowledged
        c.ping()
        c.abort()
        c2 = self.raw(version)
        a = c2.connect(cid, clean=False, **kw)
        self.assertEqual((a.reason, a.session_present), (0, True))
        again = [c2.next_publish() for _ in range(2)]
        self.assertEqual([(p.payload, p.dup, p.qos, p.packet_id) for p in again],
                         [(q.payload, True, 1, q.packet_id) for q in first[1:]])
        for p in again:
            c2.ack_publish(p)
        self.assertIsNone(c2.recv_or_none(ft.QUIET))
        # A third session start finds nothing left to redeliver.
        c2.abort()
        c3 = self.raw(version)
        a = c3.connect(cid, clean=False, **kw)
        self.assertTrue(a.session_present)
        self.assertIsNone(c3.recv_or_none(ft.QUIET))

    def test_redelivery_dup_v5(self):
        self.redelivery(5)

    def test_redelivery_dup_v311(self):
        self.redelivery(4)

    def test_qos2_pubrel_resent_on_resume(self):
        c = self.raw_connected("q2r", properties=EXP)
        c.subscribe([("q2r", 2)])
        pub = self.raw_connected("pub")
        pub.publish("q2r", b"x", 2, packet_id=1)
        p = c.next_publish()
        c.send(ft.ack(ft.PT_PUBREC, p.packet_id))
        self.assertEqual(c.expect(ft.PT_PUBREL).packet_id, p.packet_id)
        c.abort()  # PUBCOMP never sent
        c2 = self.raw(5)
        self.assertTrue(c2.connect("q2r", clean=False, properties=EXP).session_present)
        rel = c2.expect(ft.PT_PUBREL)
        self.assertEqual(rel.packet_id, p.packet_id)
        c2.send(ft.ack(ft.PT_PUBCOMP, p.packet_id))
        self.assertIsNone(c2.recv_or_none(ft.QUIET))

    def test_receive_maximum(self):
        c = self.raw_connected("slow", properties=[(ft.P_RECEIVE_MAXIMUM, 2)])
        c.subscribe([("rm/#", 2)])
        pub = self.raw_connected("pub")
        for i in range(10):
            pub.publish("rm/%d" % i, b"%d" % i, 1 if i % 2 else 2, packet_id=i + 1)
        # A client that does not acknowledge gets exactly 2 PUBLISHes.
        got = c.drain(1.5)
        self.assertEqual([p.type for p in got], [ft.PT_PUBLISH] * 2, got)
        unacked = list(got)
        seen = [p.payload for p in got]
        for _ in range(40):
            if len(seen) == 10 and not unacked:
                break
            if not unacked:  # the window is open: the next one must come
                q = c.expect(ft.PT_PUBLISH)
                unacked.append(q)
                seen.append(q.payload)
            p = unacked.pop(0)
            if p.qos == 1:
                c.send(ft.ack(ft.PT_PUBACK, p.packet_id))
            else:
                # QoS 2 counts against Receive Maximum until PUBCOMP.
                c.send(ft.ack(ft.PT_PUBREC, p.packet_id))
                rel = c.expect(ft.PT_PUBREL)
                self.assertEqual(rel.packet_id, p.packet_id)
                extra = c.recv_or_none(0.3)
                self.assertIsNone(extra, "a PUBLISH beyond Receive Maximum before PUBCOMP")
                c.send(ft.ack(ft.PT_PUBCOMP, p.packet_id))
            for q in c.drain(0.4):
                self.assertEqual(q.type, ft.PT_PUBLISH)
                unacked.append(q)
                seen.append(q.payload)
            self.assertLessEqual(len(unacked), 2)
        self.assertEqual(seen, [b"%d" % i for i in range(10)])

    @ft.broker_args("--max-queued", "3", "--queue-drop", "drop_oldest")
    def test_queue_limit_drops_oldest(self):
        c = self.raw_connected("q", properties=EXP)
        c.subscribe([("ql", 1)])
        c.send(ft.disconnect(0))
        c.wait_closed()
        pub = self.raw_connected("pub")
        for i in range(6):
            pub.publish("ql", b"%d" % i, 1, packet_id=i + 1)
        c2 = self.raw(5)
        self.assertTrue(c2.connect("q", clean=False, properties=EXP).session_present)
        got = []
        for p in c2.drain(ft.QUIET):
            got.append(p.payload)
            c2.ack_publish(p)
        self.assertEqual(got, [b"3", b"4", b"5"])


if __name__ == "__main__":
    ft.main()
