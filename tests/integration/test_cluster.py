"""The cluster as one broker for publishers and subscribers: cross-node
pub/sub at QoS 0/1/2 (raw, paho, mosquitto clients), wildcards, the '$'
rule, v5 PUBACK/PUBREC "No matching subscribers" decided cluster-wide,
shared subscriptions spread over nodes, retained messages replicated,
cleared, replaced and handed to a node that joins later.

Every test gets a fresh 3-node cluster (fmqtest.Cluster); cluster.sync(a, b)
is the barrier that makes a subscription made on node a known on node b
before b publishes (see fmqtest)."""

import time

import fmqtest as ft


def summary(pkts):
    return sorted((p.topic, p.payload, p.qos) for p in pkts)


class CrossNode(ft.ClusterTest):
    def test_qos_levels_across_nodes(self):
        s2 = self.raw_connected(2, "s2")
        self.assertEqual(s2.subscribe([("q/t", 2)]).codes, [2])
        s3 = self.raw_connected(3, "s3")
        self.assertEqual(s3.subscribe([("q/t", 1)]).codes, [1])
        self.sync(2, 1)
        self.sync(3, 1)
        p = self.raw_connected(1, "p")
        p.publish("q/t", b"zero", 0)
        self.assertEqual(p.publish("q/t", b"one", 1, packet_id=1).reason, 0)
        comp = p.publish("q/t", b"two", 2, packet_id=2)
        self.assertEqual((comp.type, comp.reason), (ft.PT_PUBCOMP, 0))
        # Delivered at min(publish QoS, granted QoS), each exactly once.
        got2 = s2.collect(3)
        got3 = s3.collect(3)
        self.assertEqual(summary(got2), [("q/t", b"one", 1), ("q/t", b"two", 2),
                                         ("q/t", b"zero", 0)])
        self.assertEqual(summary(got3), [("q/t", b"one", 1), ("q/t", b"two", 1),
                                         ("q/t", b"zero", 0)])
        self.assertEqual(s2.collect(None, ft.QUIET), [])
        self.assertEqual(s3.collect(None, 0.2), [])
        self.assertEqual([x.dup for x in got2 + got3], [False] * 6)

    def test_qos2_exactly_once_many(self):
        s2 = self.raw_connected(2, "s2")
        s2.subscribe([("x1/#", 2)])
        s3 = self.raw_connected(3, "s3")
        s3.subscribe([("x1/#", 2)])
        self.sync(2, 1)
        self.sync(3, 1)
        p = self.raw_connected(1, "p")
        for i in range(20):
            comp = p.publish("x1/%d" % i, b"m%d" % i, 2, packet_id=i + 1)
            self.assertEqual((comp.type, comp.reason), (ft.PT_PUBCOMP, 0))
        want = [("x1/%d" % i, b"m%d" % i, 2) for i in range(20)]
        for s in (s2, s3):
            got = s.collect(20)
            got += s.collect(None, ft.QUIET)
            self.assertEqual(summary(got), sorted(want))
            # One publisher, one topic tree, one QoS: in order.
            self.assertEqual([x.payload for x in got], [b"m%d" % i for i in range(20)])

    def test_publishers_on_every_node(self):
        # Each node publishes, each node subscribes: 3 x 3 deliveries.
        subs = {}
        for i in (1, 2, 3):
            subs[i] = self.raw_connected(i, "sub%d" % i)
            subs[i].subscribe([("all/#", 1)])
        self.cluster.sync_all()
        for i in (1, 2, 3):
            p = self.raw_connected(i, "pub%d" % i)
            self.assertEqual(p.publish("all/from%d" % i, b"hi from n%d" % i, 1).reason, 0)
        want = sorted(("all/from%d" % i, b"hi from n%d" % i, 1) for i in (1, 2, 3))
        for i in (1, 2, 3):
            got = subs[i].collect(3) + subs[i].collect(None, 0.5)
            self.assertEqual(summary(got), want, "subscriber on n%d" % i)

    def test_paho_and_mosquitto_across_nodes(self):
        ps = self.paho(2, "paho-sub")
        self.assertEqual(ps.subscribe("pm/#", 2), [2])
        ms = self.mosquitto_sub(3, "pm/#", qos=1)
        ms.wait_subscribed()
        self.sync(2, 1)
        self.sync(3, 1)
        rc, out = ft.mosquitto_pub(self.cluster.port(1), "pm/a", "by mosquitto", qos=2)
        self.assertEqual(rc, 0, out)
        pp = self.paho(1, "paho-pub", version=4)
        pp.publish("pm/b", b"by paho", 1)
        got = sorted((m.topic, m.payload, m.qos) for m in ps.get_n(2))
        self.assertEqual(got, [("pm/a", b"by mosquitto", 2), ("pm/b", b"by paho", 1)])
        got = sorted(ms.next_message() for _ in range(2))
        self.assertEqual(got, [("pm/a", 1, 0, "by mosquitto"), ("pm/b", 1, 0, "by paho")])
        ps.none(0.5)

    def test_properties_and_subscription_ids_across_nodes(self):
        s = self.raw_connected(2, "s")
        s.subscribe([("pr/#", 1)], properties=[(ft.P_SUBSCRIPTION_ID, 7)])
        s.subscribe([("pr/+", 1)], packet_id=2, properties=[(ft.P_SUBSCRIPTION_ID, 9)])
        self.sync(2, 1)
        p = self.raw_connected(1, "p")
        props = [(ft.P_USER_PROPERTY, ("k", "v")), (ft.P_USER_PROPERTY, ("k", "w")),
                 (ft.P_CONTENT_TYPE, "text/x"), (ft.P_RESPONSE_TOPIC, "re/ply"),
                 (ft.P_CORRELATION_DATA, b"\x00\x01"), (ft.P_PAYLOAD_FORMAT, 1),
                 (ft.P_MESSAGE_EXPIRY, 300)]
        self.assertEqual(p.publish("pr/x", b"with props", 1, properties=props).reason, 0)
        got = s.collect(1) + s.collect(None, 0.5)
        self.assertEqual(len(got), 1, got)  # two matching filters, one copy
        m = got[0]
        self.assertEqual(ft.prop_all(m.props, ft.P_USER_PROPERTY), [("k", "v"), ("k", "w")])
        self.assertEqual(ft.prop(m.props, ft.P_CONTENT_TYPE), "text/x")
        self.assertEqual(ft.prop(m.props, ft.P_RESPONSE_TOPIC), "re/ply")
        self.assertEqual(ft.prop(m.props, ft.P_CORRELATION_DATA), b"\x00\x01")
        self.assertEqual(ft.prop(m.props, ft.P_PAYLOAD_FORMAT), 1)
        self.assertTrue(ft.prop(m.props, ft.P_MESSAGE_EXPIRY, 0) > 0)  # its value: below
        self.assertEqual(sorted(ft.prop_all(m.props, ft.P_SUBSCRIPTION_ID)), [7, 9])

    def test_message_expiry_not_raised_across_nodes(self):
        # The Message Expiry Interval sent on is the published one minus
        # the time waited [MQTT-3.3.2-6]: never more than published.
        s = self.raw_connected(2, "s")
        s.subscribe([("me/#", 1)])
        self.sync(2, 1)
        p = self.raw_connected(1, "p")
        seen = []
        for i in range(10):
            s.ping()  # n2 has just read from a client ...
            time.sleep(0.05)  # ... and is idle when the message arrives
            p.publish("me/x", b"%d" % i, 1, packet_id=i + 1,
                      properties=[(ft.P_MESSAGE_EXPIRY, 300)])
            seen.append(ft.prop(s.collect(1)[0].props, ft.P_MESSAGE_EXPIRY))
        self.assertEqual([v for v in seen if not 0 < v <= 300], [], seen)

    def test_will_reaches_other_nodes(self):
        s = self.raw_connected(3, "s")
        s.subscribe([("will/#", 1)])
        self.sync(3, 1)
        c = self.raw(1)
        c.connect("dying", will={"topic": "will/dying", "payload": b"gone", "qos": 1})
        c.ping()
        c.abort()
        got = s.collect(1) + s.collect(None, 0.5)
        self.assertEqual([(m.topic, m.payload, m.qos) for m in got],
                         [("will/dying", b"gone", 1)])

    def test_wildcards_across_nodes(self):
        plus = self.raw_connected(2, "plus")
        plus.subscribe([("w/+/c", 1)])
        hash_ = self.raw_connected(3, "hash")
        hash_.subscribe([("w/#", 1)])
        both = self.raw_connected(3, "both")  # overlapping filters: one copy
        both.subscribe([("w/+/c", 1), ("w/a/#", 0)])
        self.sync(2, 1)
        self.sync(3, 1)
        p = self.raw_connected(1, "p")
        topics = ["w/a/c", "w/b/d", "w", "w/x/c/d", "x/a/c", "w/a"]
        for i, t in enumerate(topics):
            p.publish(t, t.encode(), 1, packet_id=i + 1)
        got = plus.collect(1) + plus.collect(None, ft.QUIET)
        self.assertEqual(summary(got), [("w/a/c", b"w/a/c", 1)])
        got = hash_.collect(5) + hash_.collect(None, 0.3)
        self.assertEqual(summary(got), sorted((t, t.encode(), 1) for t in
                                              ["w/a/c", "w/b/d", "w", "w/x/c/d", "w/a"]))
        got = both.collect(2) + both.collect(None, 0.3)
        self.assertEqual(summary(got), [("w/a", b"w/a", 0), ("w/a/c", b"w/a/c", 1)])

    def test_dollar_topics_not_matched_by_wildcards(self):
        everything = self.raw_connected(2, "everything")
        everything.subscribe([("#", 1), ("+/t", 1)])
        dollar = self.raw_connected(3, "dollar")
        dollar.subscribe([("$x/#", 1)])
        self.sync(2, 1)
        self.sync(3, 1)
        p = self.raw_connected(1, "p")
        # Only the '#'/'+' subscriber exists for $x/t besides "$x/#".
        p.publish("$x/t", b"hidden", 1, packet_id=1)
        p.publish("plain/t", b"visible", 1, packet_id=2)
        got = dollar.collect(1) + dollar.collect(None, 0.3)
        self.assertEqual(summary(got), [("$x/t", b"hidden", 1)])
        got = everything.collect(1) + everything.collect(None, ft.QUIET)
        self.assertEqual(summary(got), [("plain/t", b"visible", 1)])
        # With nobody on "$x/#" anywhere, a '$' topic has no match at all.
        dollar.send(ft.unsubscribe(2, ["$x/#"]))
        dollar.expect(ft.PT_UNSUBACK)
        self.assert_no_route(p, "$x/t")

    def assert_no_route(self, p, topic, packet_id=100):
        """PUBACK 0x10 for topic from publisher p, waiting (bounded) for a
        route deletion to spread."""
        deadline = time.monotonic() + ft.WAIT
        for _ in range(1000):
            r = p.publish(topic, b"probe", 1, packet_id=packet_id)
            if r.reason == 0x10 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(r.reason, 0x10, "a route to %s is left: %r" % (topic, r))

    def test_no_matching_subscribers_is_cluster_wide(self):
        p = self.raw_connected(1, "p")
        r = p.publish("nobody/x", b"a", 1, packet_id=1)
        self.assertEqual(r.reason, 0x10)  # nobody anywhere
        rec = self.publish_qos2_rec(p, "nobody/x", 2)
        self.assertEqual(rec.reason, 0x10)
        # A subscriber only on n3: n1 has a match (on another node).
        s3 = self.raw_connected(3, "s3")
        s3.subscribe([("nobody/#", 1)])
        self.sync(3, 1)
        r = p.publish("nobody/x", b"b", 1, packet_id=3)
        self.assertEqual(r.reason, 0x00)
        rec = self.publish_qos2_rec(p, "nobody/x", 4)
        self.assertEqual(rec.reason, 0x00)
        got = s3.collect(2) + s3.collect(None, 0.3)
        self.assertEqual(summary(got), [("nobody/x", b"b", 1), ("nobody/x", b"q2", 1)])
        # n2, which has no subscriber either, agrees.
        p2 = self.raw_connected(2, "p2")
        self.sync(3, 2)
        self.assertEqual(p2.publish("nobody/y", b"c", 1).reason, 0x00)
        self.assertEqual(p2.publish("other/y", b"c", 1, packet_id=2).reason, 0x10)
        # Unsubscribed on n3: no match anywhere again.
        s3.send(ft.unsubscribe(9, ["nobody/#"]))
        self.assertEqual(s3.expect(ft.PT_UNSUBACK, skip=(ft.PT_PUBLISH,)).codes, [0])
        self.assert_no_route(p, "nobody/x")

    def publish_qos2_rec(self, p, topic, packet_id):
        p.send(ft.publish(topic, b"q2", 2, packet_id))
        rec = p.expect(ft.PT_PUBREC)
        p.send(ft.ack(ft.PT_PUBREL, packet_id))
        self.assertEqual(p.expect(ft.PT_PUBCOMP).reason, 0)
        return rec


class Shared(ft.ClusterTest):
    def test_shared_group_spread_over_nodes(self):
        members = {}
        for i in (1, 2, 3):
            members[i] = self.raw_connected(i, "m%d" % i)
            self.assertEqual(members[i].subscribe([("$share/g1/sh/t", 1)]).codes, [1])
        other = self.raw_connected(2, "g2")
        self.assertEqual(other.subscribe([("$share/g2/sh/+", 1)]).codes, [1])
        self.sync(2, 1)
        self.sync(3, 1)
        p = self.raw_connected(1, "p")
        for i in range(30):
            self.assertEqual(p.publish("sh/t", b"%d" % i, 1, packet_id=i + 1).reason, 0)
        got = {i: [] for i in (1, 2, 3)}
        deadline = time.monotonic() + ft.WAIT
        for _ in range(1000):
            if sum(len(v) for v in got.values()) >= 30 or time.monotonic() > deadline:
                break
            for i in (1, 2, 3):
                got[i] += members[i].collect(None, 0.1)
        for i in (1, 2, 3):  # late duplicates
            got[i] += members[i].collect(None, ft.QUIET / 3)
        payloads = sorted(int(x.payload) for v in got.values() for x in v)
        self.assertEqual(payloads, list(range(30)),
                         "each message to exactly one member of g1: %r"
                         % {i: [x.payload for x in v] for i, v in got.items()})
        for i in (1, 2, 3):
            self.assertTrue(got[i], "member on n%d got nothing: %r"
                            % (i, {k: len(v) for k, v in got.items()}))
            self.assertEqual({x.topic for x in got[i]}, {"sh/t"})
        # The second group has its own copy of every message.
        g2 = other.collect(30) + other.collect(None, 0.3)
        self.assertEqual(sorted(int(x.payload) for x in g2), list(range(30)))

    def test_shared_member_leaving(self):
        members = {}
        for i in (1, 2, 3):
            members[i] = self.raw_connected(i, "m%d" % i)
            members[i].subscribe([("$share/g/lm", 1)])
        self.sync(2, 1)
        self.sync(3, 1)
        members[2].send(ft.disconnect(0))  # its subscription ends with it
        members[2].wait_closed()
        self.sync(2, 1)
        p = self.raw_connected(1, "p")
        for i in range(12):
            self.assertEqual(p.publish("lm", b"%d" % i, 1, packet_id=i + 1).reason, 0)
        got = []
        deadline = time.monotonic() + ft.WAIT
        for _ in range(1000):
            if len(got) >= 12 or time.monotonic() > deadline:
                break
            for i in (1, 3):
                got += members[i].collect(None, 0.1)
        for i in (1, 3):
            got += members[i].collect(None, 0.5)
        self.assertEqual(sorted(int(x.payload) for x in got), list(range(12)))

    def test_shared_group_with_all_members_remote(self):
        # Publisher's node has no member: all go to n2/n3, none is lost.
        members = {}
        for i in (2, 3):
            members[i] = self.raw_connected(i, "r%d" % i)
            members[i].subscribe([("$share/rg/rs/#", 2)])
        self.sync(2, 1)
        self.sync(3, 1)
        p = self.raw_connected(1, "p")
        for i in range(10):
            comp = p.publish("rs/%d" % i, b"%d" % i, 2, packet_id=i + 1)
            self.assertEqual((comp.type, comp.reason), (ft.PT_PUBCOMP, 0))
        got = []
        deadline = time.monotonic() + ft.WAIT
        for _ in range(1000):
            if len(got) >= 10 or time.monotonic() > deadline:
                break
            for i in (2, 3):
                got += members[i].collect(None, 0.1)
        for i in (2, 3):
            got += members[i].collect(None, 0.5)
        self.assertEqual(sorted(int(x.payload) for x in got), list(range(10)))


class Retained(ft.ClusterTest):
    def retained_on(self, i, cid, filt="ret/#", quiet=ft.QUIET):
        """What a new subscriber on node i gets on subscribe."""
        c = self.raw_connected(i, cid)
        c.subscribe([(filt, 1)])
        got = c.collect(None, quiet)
        c.send(ft.disconnect(0))
        c.close()
        return [(x.topic, x.payload, x.retain) for x in got]

    def test_retained_replicated_and_cleared(self):
        p3 = self.raw_connected(3, "p3")
        self.assertIn(p3.publish("ret/a", b"kept", 1, retain=True).reason, (0, 0x10))
        self.sync(2, 3)
        self.assertEqual(self.retained_on(2, "r2"), [("ret/a", b"kept", True)])
        self.sync(1, 3)
        self.assertEqual(self.retained_on(1, "r1"), [("ret/a", b"kept", True)])
        # Cleared on n1 (empty retained payload): gone everywhere.
        p1 = self.raw_connected(1, "p1")
        p1.publish("ret/a", b"", 1, retain=True)
        self.sync(2, 1)
        self.sync(3, 1)
        for i in (1, 2, 3):
            self.assertEqual(self.retained_on(i, "c%d" % i), [], "on n%d" % i)

    def test_retained_replaced_from_another_node(self):
        p1 = self.raw_connected(1, "p1")
        p1.publish("ret/r", b"first", 1, retain=True)
        self.sync(2, 1)
        p2 = self.raw_connected(2, "p2")
        p2.publish("ret/r", b"second", 1, retain=True)
        self.sync(1, 2)
        self.sync(3, 2)
        for i in (1, 2, 3):
            self.assertEqual(self.retained_on(i, "c%d" % i, quiet=0.5),
                             [("ret/r", b"second", True)], "on n%d" % i)

    def test_retained_at_subscribe_min_qos_and_wildcards(self):
        p = self.raw_connected(2, "p")
        p.publish("ret/q/two", b"q2", 2, retain=True)
        p.publish("ret/q/one", b"q1", 1, retain=True)
        p.publish("$ret/q", b"hidden", 1, retain=True)
        self.sync(3, 2)
        c = self.raw_connected(3, "c")
        c.subscribe([("ret/#", 1)])
        got = c.collect(2) + c.collect(None, 0.5)
        self.assertEqual(sorted((x.topic, x.payload, x.qos, x.retain) for x in got),
                         [("ret/q/one", b"q1", 1, True), ("ret/q/two", b"q2", 1, True)])
        c = self.raw_connected(1, "c1")
        self.sync(1, 2)
        c.subscribe([("#", 0)])
        got = c.collect(2) + c.collect(None, 0.5)
        self.assertEqual(sorted((x.topic, x.payload, x.qos, x.retain) for x in got),
                         [("ret/q/one", b"q1", 0, True), ("ret/q/two", b"q2", 0, True)])

    def test_node_joining_later_gets_retained(self):
        p2 = self.raw_connected(2, "p2")
        p2.publish("ret/late", b"for n4", 1, retain=True)
        self.sync(1, 2)
        self.sync(3, 2)
        n4 = self.cluster.start_extra("n4")
        counts = [int(line.split(" retained")[0].rsplit(" ", 1)[1])
                  for line in n4.logged("cluster: synced with ")]
        self.assertTrue(counts and max(counts) >= 1,
                        "n4 synced no retained message:\n%s" % "\n".join(
                            n4.logged("cluster: synced with ")))
        # At once after the sync, without any barrier.
        self.assertEqual(self.retained_on(4, "r4"), [("ret/late", b"for n4", True)])


if __name__ == "__main__":
    ft.main()
