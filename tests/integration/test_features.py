"""MQTT 5 features end to end: shared subscriptions, topic aliases, message
expiry, No Local, subscription identifiers, property pass-through, and the
'$' topic rule."""

import time

import fmqtest as ft

EXP = [(ft.P_SESSION_EXPIRY, 60)]


class Shared(ft.BrokerTest):
    def test_spread_over_members(self):
        members = [self.paho("m%d" % i) for i in range(3)]
        for m in members:
            self.assertEqual(m.subscribe("$share/g/sh/t", 1), [1])
        plain = self.paho("plain")
        plain.subscribe("sh/t", 1)
        other = self.paho("other-group")
        other.subscribe("$share/h/sh/+", 1)
        pub = self.paho("pub")
        for i in range(30):
            pub.publish("sh/t", b"%d" % i, 1)
        counts, payloads = [], []
        deadline = time.monotonic() + ft.WAIT
        got = [[] for _ in members]
        while sum(len(g) for g in got) < 30 and time.monotonic() < deadline:
            for i, m in enumerate(members):
                got[i] += m.drain(0.05)
        got = [g + m.drain(0.3) for g, m in zip(got, members)]  # nothing more comes
        counts = [len(g) for g in got]
        payloads = sorted(int(x.payload) for g in got for x in g)
        self.assertEqual(sum(counts), 30, counts)
        self.assertEqual(payloads, list(range(30)))  # each exactly once
        for c in counts:
            self.assertGreater(c, 0, counts)
        # Non-shared and other-group subscribers get every message.
        self.assertEqual(sorted(int(x.payload) for x in plain.get_n(30)), list(range(30)))
        self.assertEqual(sorted(int(x.payload) for x in other.get_n(30)), list(range(30)))

    def test_member_gone_others_take_over(self):
        a = self.raw_connected("a")
        a.subscribe([("$share/g/sg", 1)])
        b = self.raw_connected("b")
        b.subscribe([("$share/g/sg", 1)])
        a.send(ft.disconnect(0))
        a.wait_closed()
        pub = self.raw_connected("pub")
        for i in range(4):
            pub.publish("sg", b"%d" % i, 1, packet_id=i + 1)
        got = []
        for _ in range(4):
            p = b.next_publish()
            got.append(p.payload)
            b.ack_publish(p)
        self.assertEqual(got, [b"0", b"1", b"2", b"3"])

    def test_no_local_on_shared_is_protocol_error(self):
        c = self.raw_connected("nl")
        c.send(ft.subscribe(1, [("$share/g/x", ft.sub_options(1, no_local=True))]))
        pkts = c.wait_closed()
        self.assertEqual([(p.type, p.reason) for p in pkts], [(ft.PT_DISCONNECT, 0x82)])
        self.assert_serves()


class TopicAlias(ft.BrokerTest):
    def test_set_then_used(self):
        sub = self.raw_connected("sub")
        sub.subscribe([("ta/#", 1)])
        pub = self.raw(5)
        a = pub.connect("pub")
        self.assertEqual(ft.prop(a.props, ft.P_TOPIC_ALIAS_MAXIMUM), 64)
        pub.publish("ta/x", b"set", 1, packet_id=1, properties=[(ft.P_TOPIC_ALIAS, 1)])
        pub.publish("", b"used", 1, packet_id=2, properties=[(ft.P_TOPIC_ALIAS, 1)])
        pub.publish("ta/y", b"remapped", 1, packet_id=3, properties=[(ft.P_TOPIC_ALIAS, 1)])
        pub.publish("", b"used again", 1, packet_id=4, properties=[(ft.P_TOPIC_ALIAS, 1)])
        pub.publish("ta/z", b"other", 0, properties=[(ft.P_TOPIC_ALIAS, 64)])
        pub.publish("", b"other again", 0, properties=[(ft.P_TOPIC_ALIAS, 64)])
        got = []
        for _ in range(6):
            p = sub.next_publish()
            # the subscriber set no Topic Alias Maximum: no alias towards it
            self.assertIsNone(ft.prop(p.props, ft.P_TOPIC_ALIAS))
            got.append((p.topic, p.payload))
            sub.ack_publish(p)
        self.assertEqual(got, [("ta/x", b"set"), ("ta/x", b"used"), ("ta/y", b"remapped"),
                               ("ta/y", b"used again"), ("ta/z", b"other"),
                               ("ta/z", b"other again")])

    @ft.broker_args("--max-topic-alias", "4")
    def test_above_maximum(self):
        pub = self.raw(5)
        self.assertEqual(ft.prop(pub.connect("pub").props, ft.P_TOPIC_ALIAS_MAXIMUM), 4)
        pub.publish("ta/ok", b"", 0, properties=[(ft.P_TOPIC_ALIAS, 4)])
        pub.send(ft.publish("ta/x", b"", 0, properties=[(ft.P_TOPIC_ALIAS, 5)]))
        pkts = pub.wait_closed()
        self.assertEqual([(p.type, p.reason) for p in pkts], [(ft.PT_DISCONNECT, 0x94)])
        self.assert_serves()

    @ft.broker_args("--max-topic-alias", "0")
    def test_aliases_disabled(self):
        pub = self.raw(5)
        a = pub.connect("pub")
        self.assertIn(ft.prop(a.props, ft.P_TOPIC_ALIAS_MAXIMUM, 0), (0,))
        pub.send(ft.publish("ta/x", b"", 0, properties=[(ft.P_TOPIC_ALIAS, 1)]))
        pkts = pub.wait_closed()
        self.assertEqual([(p.type, p.reason) for p in pkts], [(ft.PT_DISCONNECT, 0x94)])

    def test_unknown_alias(self):
        pub = self.raw_connected("pub")
        pub.send(ft.publish("", b"x", 0, properties=[(ft.P_TOPIC_ALIAS, 3)]))
        pkts = pub.wait_closed()
        self.assertEqual([(p.type, p.reason) for p in pkts], [(ft.PT_DISCONNECT, 0x82)])
        self.assert_serves()

    def test_alias_zero(self):
        pub = self.raw_connected("pub")
        pub.send(ft.publish("ta/x", b"x", 0, properties=[(ft.P_TOPIC_ALIAS, 0)]))
        pkts = pub.wait_closed()
        self.assertEqual(len(pkts), 1, pkts)
        self.assertEqual(pkts[0].type, ft.PT_DISCONNECT)
        self.assertIn(pkts[0].reason, (0x82, 0x94))  # [MQTT-3.3.2-8]
        self.assert_serves()

    def test_aliases_are_per_connection(self):
        pub = self.raw_connected("pub", properties=EXP)
        pub.publish("ta/x", b"", 0, properties=[(ft.P_TOPIC_ALIAS, 1)])
        pub.send(ft.disconnect(0))
        pub.wait_closed()
        again = self.raw(5)
        self.assertTrue(again.connect("pub", clean=False, properties=EXP).session_present)
        again.send(ft.publish("", b"x", 0, properties=[(ft.P_TOPIC_ALIAS, 1)]))
        pkts = again.wait_closed()
        self.assertEqual([(p.type, p.reason) for p in pkts], [(ft.PT_DISCONNECT, 0x82)])


class Expiry(ft.BrokerTest):
    def test_expired_while_offline_not_delivered(self):
        c = self.raw_connected("away", properties=EXP)
        c.subscribe([("me/#", 1)])
        c.send(ft.disconnect(0))
        c.wait_closed()
        pub = self.raw_connected("pub")
        pub.publish("me/short", b"short", 1, packet_id=1,
                    properties=[(ft.P_MESSAGE_EXPIRY, 1)])
        pub.publish("me/long", b"long", 1, packet_id=2,
                    properties=[(ft.P_MESSAGE_EXPIRY, 60)])
        pub.publish("me/never", b"never", 1, packet_id=3)
        time.sleep(2.2)
        c2 = self.raw(5)
        self.assertTrue(c2.connect("away", clean=False, properties=EXP).session_present)
        got = []
        for p in c2.drain(ft.QUIET):
            got.append(p)
            c2.ack_publish(p)
        self.assertEqual([p.payload for p in got], [b"long", b"never"])
        left = ft.prop(got[0].props, ft.P_MESSAGE_EXPIRY)
        # 2.2 s or more went by: what is left is decremented, still positive
        self.assertIsNotNone(left)
        self.assertTrue(0 < left <= 58, left)
        self.assertIsNone(ft.prop(got[1].props, ft.P_MESSAGE_EXPIRY))

    def test_live_delivery_carries_expiry(self):
        sub = self.paho("sub")
        sub.subscribe("me/live", 1)
        pub = self.paho("pub")
        p = pub.properties("PUBLISH")
        p.MessageExpiryInterval = 30
        pub.publish("me/live", b"x", 1, properties=p)
        m = sub.get()
        self.assertTrue(0 < m.properties.MessageExpiryInterval <= 30)

    def test_expired_retained_not_delivered(self):
        pub = self.raw_connected("pub")
        pub.publish("me/ret", b"old", 1, packet_id=1, retain=True,
                    properties=[(ft.P_MESSAGE_EXPIRY, 1)])
        time.sleep(2.2)
        sub = self.raw_connected("sub")
        sub.subscribe([("me/ret", 1)])
        self.assertIsNone(sub.recv_or_none(ft.QUIET))


class NoLocal(ft.BrokerTest):
    def test_no_local(self):
        me = self.raw_connected("me")
        me.subscribe([("nl/t", ft.sub_options(1, no_local=True))])
        other = self.raw_connected("other")
        other.subscribe([("nl/t", ft.sub_options(1))])
        me.publish("nl/t", b"mine", 1, packet_id=1)
        p = other.next_publish()
        self.assertEqual(p.payload, b"mine")
        other.ack_publish(p)
        self.assertIsNone(me.recv_or_none(ft.QUIET))
        other.publish("nl/t", b"theirs", 1, packet_id=1)
        p = me.next_publish()
        self.assertEqual(p.payload, b"theirs")

    def test_v311_gets_own_messages(self):
        me = self.raw_connected("me3", version=4)
        me.subscribe([("nl3", 1)])
        me.publish("nl3", b"echo", 1, packet_id=1)
        self.assertEqual(me.next_publish().payload, b"echo")


class SubscriptionIds(ft.BrokerTest):
    def test_ids_in_publish(self):
        c = self.raw_connected("ids")
        c.subscribe([("si/a/#", 1)], packet_id=1, properties=[(ft.P_SUBSCRIPTION_ID, 7)])
        c.subscribe([("si/+/x", 1)], packet_id=2, properties=[(ft.P_SUBSCRIPTION_ID, 300)])
        c.subscribe([("si/plain", 1)], packet_id=3)
        pub = self.raw_connected("pub")
        pub.publish("si/a/x", b"both", 1, packet_id=1)
        pub.publish("si/a/y", b"one", 1, packet_id=2)
        pub.publish("si/plain", b"none", 1, packet_id=3)
        got = []
        for _ in range(3):
            p = c.next_publish()
            got.append((p.payload, sorted(ft.prop_all(p.props, ft.P_SUBSCRIPTION_ID))))
            c.ack_publish(p)
        # several matching subscriptions: one delivery carrying every id
        self.assertEqual(got, [(b"both", [7, 300]), (b"one", [7]), (b"none", [])])
        self.assertIsNone(c.recv_or_none(0.5))

    def test_paho_and_retained(self):
        pub = self.paho("pub")
        pub.publish("sid/r", b"kept", 1, retain=True)
        sub = self.paho("sub")
        sub.subscribe("sid/#", 1, sub_id=42)
        m = sub.get()
        self.assertEqual((m.payload, m.properties.SubscriptionIdentifier), (b"kept", [42]))
        pub.publish("sid/live", b"live", 1)
        m = sub.get()
        self.assertEqual((m.payload, m.properties.SubscriptionIdentifier), (b"live", [42]))

    def test_resubscribe_replaces_id(self):
        c = self.raw_connected("re")
        c.subscribe([("sr", 1)], packet_id=1, properties=[(ft.P_SUBSCRIPTION_ID, 5)])
        c.subscribe([("sr", 1)], packet_id=2, properties=[(ft.P_SUBSCRIPTION_ID, 6)])
        pub = self.raw_connected("pub")
        pub.publish("sr", b"x", 1)
        p = c.next_publish()
        self.assertEqual(ft.prop_all(p.props, ft.P_SUBSCRIPTION_ID), [6])


class PassThrough(ft.BrokerTest):
    def check(self, m):
        self.assertEqual(m.payload, b'{"a": 1}')
        self.assertEqual(m.properties.UserProperty, [("a", "1"), ("b", "2"), ("a", "3")])
        self.assertEqual(m.properties.ContentType, "application/json")
        self.assertEqual(m.properties.ResponseTopic, "reply/here")
        self.assertEqual(m.properties.CorrelationData, b"\x00\x01corr")
        self.assertEqual(m.properties.PayloadFormatIndicator, 1)

    def props(self, client):
        p = client.properties("PUBLISH")
        p.UserProperty = [("a", "1"), ("b", "2"), ("a", "3")]
        p.ContentType = "application/json"
        p.ResponseTopic = "reply/here"
        p.CorrelationData = b"\x00\x01corr"
        p.PayloadFormatIndicator = 1
        return p

    def test_live_queued_and_retained(self):
        live = self.paho("live")
        live.subscribe("pt/#", 2)
        off = self.paho("off", session_expiry=60)
        off.subscribe("pt/#", 1)
        off.disconnect()
        v3 = self.paho("v3", version=4)
        v3.subscribe("pt/#", 1)
        pub = self.paho("pub")
        pub.publish("pt/x", b'{"a": 1}', 2, retain=True, properties=self.props(pub))
        self.check(live.get())
        self.assertEqual(v3.get().payload, b'{"a": 1}')  # 3.1.1: payload only
        back = self.paho("off", clean=False, session_expiry=60)
        self.check(back.get())
        late = self.paho("late")
        late.subscribe("pt/x", 1)
        self.check(late.get())

    def test_raw_order_kept(self):
        sub = self.raw_connected("sub")
        sub.subscribe([("ro", 1)])
        pub = self.raw_connected("pub")
        props = [(ft.P_USER_PROPERTY, ("z", "1")), (ft.P_CONTENT_TYPE, "t"),
                 (ft.P_USER_PROPERTY, ("y", "2")), (ft.P_USER_PROPERTY, ("z", "3"))]
        pub.publish("ro", b"x", 1, properties=props)
        p = sub.next_publish()
        self.assertEqual(ft.prop_all(p.props, ft.P_USER_PROPERTY),
                         [("z", "1"), ("y", "2"), ("z", "3")])
        self.assertEqual(ft.prop(p.props, ft.P_CONTENT_TYPE), "t")


class DollarTopics(ft.BrokerTest):
    def test_wildcards_do_not_match_dollar_topics(self):
        hash_ = self.raw_connected("hash")
        hash_.subscribe([("#", 1)])
        plus = self.raw_connected("plus")
        plus.subscribe([("+/y", 1)])
        dollar = self.raw_connected("dollar")
        dollar.subscribe([("$x/#", 1)])
        pub = self.raw_connected("pub")
        pub.publish("$x/y", b"hidden", 1, packet_id=1)
        p = dollar.next_publish()
        self.assertEqual((p.topic, p.payload), ("$x/y", b"hidden"))
        self.assertIsNone(hash_.recv_or_none(ft.QUIET))
        self.assertIsNone(plus.recv_or_none(0.2))
        pub.publish("x/y", b"seen", 1, packet_id=2)
        self.assertEqual(hash_.next_publish().topic, "x/y")
        self.assertEqual(plus.next_publish().topic, "x/y")
        ms = self.mosquitto_sub("#", qos=1)
        ms.wait_subscribed()
        rc, out = ft.mosquitto_pub(self.port, "$x/z", "hidden", qos=1)
        self.assertEqual(rc, 0, out)
        rc, out = ft.mosquitto_pub(self.port, "after", "seen", qos=1)
        self.assertEqual(rc, 0, out)
        self.assertEqual(ms.next_message(), ("after", 1, 0, "seen"))
        ms.kill()
        self.assertNotIn("$x/z", "\n".join(ms.output))


if __name__ == "__main__":
    ft.main()
