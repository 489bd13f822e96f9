"""Will messages: published when the connection ends abnormally, suppressed
by a normal DISCONNECT, published on DISCONNECT 0x04, delayed by the Will
Delay Interval and cancelled when the client comes back in time."""

import time

import fmqtest as ft


def will(topic, payload=b"gone", qos=1, retain=False, delay=None, properties=()):
    props = list(properties)
    if delay is not None:
        props.append((ft.P_WILL_DELAY, delay))
    return {"topic": topic, "payload": payload, "qos": qos, "retain": retain,
            "properties": props}


class Will(ft.BrokerTest):
    def watcher(self, topic="will/#"):
        w = self.paho("watcher")
        w.subscribe(topic, 1)
        return w

    def test_abnormal_close_v5(self):
        w = self.watcher()
        c = self.raw_connected("dying", will=will(
            "will/v5", properties=[(ft.P_CONTENT_TYPE, "text/plain"),
                                   (ft.P_USER_PROPERTY, ("k", "v"))]))
        c.ping()
        c.abort()  # no DISCONNECT, TCP reset
        m = w.get()
        self.assertEqual((m.topic, m.payload, m.qos), ("will/v5", b"gone", 1))
        self.assertEqual(m.properties.ContentType, "text/plain")
        self.assertEqual(m.properties.UserProperty, [("k", "v")])
        w.none()

    def test_abnormal_close_v311(self):
        w = self.watcher()
        c = self.raw_connected("dying3", version=4, will=will("will/v3", b"bye3"))
        c.ping()
        c.close()  # FIN without DISCONNECT
        m = w.get()
        self.assertEqual((m.topic, m.payload), ("will/v3", b"bye3"))

    def test_paho_will_on_socket_kill(self):
        w = self.watcher()
        p = ft.Paho(self.port, "paho-dying", version=4,
                    will={"topic": "will/paho", "payload": b"p-gone", "qos": 1})
        p.stop()
        p.c.socket().close()  # the client's socket dies under it
        m = w.get()
        self.assertEqual(m.payload, b"p-gone")

    def test_suppressed_on_normal_disconnect(self):
        w = self.watcher()
        for version in (5, 4):
            c = self.raw_connected("polite%d" % version, version=version,
                                   will=will("will/polite"))
            c.send(ft.disconnect(0, version=version))
            c.wait_closed()
        p = ft.Paho(self.port, "paho-polite", version=5, will={"topic": "will/paho"})
        p.disconnect()
        w.none()

    def test_disconnect_with_will_message(self):
        w = self.watcher()
        c = self.raw_connected("asks", will=will("will/asked", b"as asked"))
        c.send(ft.disconnect(0x04))
        c.wait_closed()
        m = w.get()
        self.assertEqual((m.topic, m.payload), ("will/asked", b"as asked"))

    def test_published_on_protocol_error(self):
        w = self.watcher()
        c = self.raw_connected("broken", will=will("will/broken"))
        c.send(b"\x36\x05\x00\x01a\x00\x01")  # PUBLISH QoS 3
        pkts = c.wait_closed()
        self.assertEqual([(p.type, p.reason) for p in pkts], [(ft.PT_DISCONNECT, 0x81)])
        self.assertEqual(w.get().topic, "will/broken")

    def test_retained_will(self):
        c = self.raw_connected("ret", will=will("will/ret", b"last words", retain=True))
        c.abort()
        time.sleep(0.2)
        late = None
        for _ in range(25):  # the will is published once the broker sees the close
            late = self.raw_connected("late%d" % _)
            late.subscribe([("will/ret", 1)])
            p = late.recv_or_none(0.2)
            if p:
                self.assertEqual((p.payload, p.retain), (b"last words", True))
                break
            late.close()
        else:
            self.fail("retained will never stored")

    def test_delayed(self):
        w = self.watcher()
        c = self.raw_connected("slow", will=will("will/delayed", delay=3),
                               properties=[(ft.P_SESSION_EXPIRY, 60)])
        c.abort()
        w.none(1.0)  # Will Delay Interval 3 s: not yet
        m = w.get(ft.WAIT + 3)
        self.assertEqual(m.topic, "will/delayed")

    def test_delay_cut_short_by_session_expiry(self):
        w = self.watcher()
        c = self.raw_connected("short", will=will("will/short", delay=600),
                               properties=[(ft.P_SESSION_EXPIRY, 1)])
        c.abort()
        # The session ends after 1 s, and with it the wait for the will.
        m = w.get(ft.WAIT + 1)
        self.assertEqual(m.topic, "will/short")

    def test_delayed_cancelled_by_reconnect(self):
        w = self.watcher()
        c = self.raw_connected("back", will=will("will/cancel", delay=3),
                               properties=[(ft.P_SESSION_EXPIRY, 60)])
        c.abort()
        c2 = self.raw(5)
        a = c2.connect("back", clean=False, properties=[(ft.P_SESSION_EXPIRY, 60)])
        self.assertEqual((a.reason, a.session_present), (0, True))
        w.none(4.5)  # past the delay: the will is gone with the old connection
        c2.send(ft.disconnect(0))
        c2.wait_closed()
        w.none(0.5)

    def test_message_expiry_counts_from_publication(self):
        # The will's Message Expiry Interval is its lifetime once published,
        # not since the CONNECT that carried it.
        w = self.watcher()
        c = self.raw_connected("expiring", will=will(
            "will/exp", properties=[(ft.P_MESSAGE_EXPIRY, 2)]))
        for _ in range(6):  # 3 s connected: longer than the expiry
            time.sleep(0.5)
            c.ping()
        c.abort()
        m = w.get()
        self.assertEqual(m.topic, "will/exp")
        self.assertTrue(0 < m.properties.MessageExpiryInterval <= 2)

    def test_takeover_ends_connection_lifetime_session_with_will(self):
        # Session Expiry 0: the takeover ends the old session, so its will
        # is published even though its delay has not passed.
        w = self.watcher()
        self.raw_connected("short-lived", will=will("will/taken", delay=60))
        new = self.raw(5)
        a = new.connect("short-lived", clean=False)
        self.assertEqual((a.reason, a.session_present), (0, False))
        self.assertEqual(w.get().topic, "will/taken")

    def test_delayed_published_when_clean_start_ends_session(self):
        w = self.watcher()
        c = self.raw_connected("fresh", will=will("will/fresh", delay=300),
                               properties=[(ft.P_SESSION_EXPIRY, 60)])
        c.abort()
        time.sleep(0.3)
        # A Clean Start ends the old session: its pending will goes out.
        c2 = self.raw(5)
        a = c2.connect("fresh", clean=True)
        self.assertEqual((a.reason, a.session_present), (0, False))
        m = w.get()
        self.assertEqual(m.topic, "will/fresh")


if __name__ == "__main__":
    ft.main()
