"""Retained messages: stored, replaced, cleared by an empty payload,
delivered on subscribe; Retain Handling 0/1/2 and Retain As Published."""

import fmqtest as ft


class Retained(ft.BrokerTest):
    def test_stored_and_delivered_on_subscribe(self):
        rc, out = ft.mosquitto_pub(self.port, "ret/a", "kept", qos=1, retain=True,
                                   version="mqttv311")
        self.assertEqual(rc, 0, out)
        sub = self.paho("late", version=4)
        sub.subscribe("ret/#", 1)
        m = sub.get()
        self.assertEqual((m.topic, m.payload, m.qos, m.retain), ("ret/a", b"kept", 1, 1))
        sub.none()
        # mosquitto_sub sees it too, with the retain flag.
        ms = self.mosquitto_sub("ret/a", qos=1, count=1)
        self.assertEqual(ms.next_message(), ("ret/a", 1, 1, "kept"))

    def test_replaced(self):
        pub = self.paho("p")
        pub.publish("ret/r", b"first", 1, retain=True)
        pub.publish("ret/r", b"second", 1, retain=True)
        sub = self.paho("s")
        sub.subscribe("ret/r", 1)
        m = sub.get()
        self.assertEqual((m.payload, m.retain), (b"second", 1))
        sub.none()

    def test_cleared_by_empty_payload(self):
        pub = self.paho("p", version=4)
        pub.publish("ret/c", b"soon gone", 1, retain=True)
        live = self.paho("live", version=4)
        live.subscribe("ret/c", 1)
        self.assertEqual(live.get().payload, b"soon gone")
        pub.publish("ret/c", b"", 1, retain=True)
        m = live.get()  # the clearing message itself goes to live subscribers
        self.assertEqual((m.payload, m.retain), (b"", 0))
        sub = self.paho("s", version=4)
        sub.subscribe("ret/#", 1)
        sub.none()
        sub2 = self.mosquitto_sub("ret/c", qos=1)
        sub2.wait_subscribed()
        pub.publish("ret/c", b"fresh", 0)  # not retained: nothing stored
        self.assertEqual(sub2.next_message(), ("ret/c", 0, 0, "fresh"))
        sub3 = self.paho("s3", version=5)
        sub3.subscribe("ret/c", 1)
        sub3.none()

    def test_qos_is_min_of_stored_and_granted(self):
        pub = self.raw_connected("p")
        pub.publish("ret/q", b"two", 2, packet_id=1, retain=True)
        sub = self.raw_connected("s")
        self.assertEqual(sub.subscribe([("ret/q", 0)]).codes, [0])
        p = sub.next_publish()
        self.assertEqual((p.topic, p.qos, p.retain, p.payload), ("ret/q", 0, True, b"two"))
        sub2 = self.raw_connected("s2")
        sub2.subscribe([("ret/+", 2)])
        p = sub2.next_publish()
        self.assertEqual((p.qos, p.retain), (2, True))
        sub2.ack_publish(p)

    def test_retain_handling(self):
        pub = self.raw_connected("p")
        pub.publish("rh/t", b"r", 1, packet_id=1, retain=True)
        sub = self.raw_connected("s")
        # 0: send retained messages at every subscribe
        sub.subscribe([("rh/t", ft.sub_options(1, rh=0))], packet_id=1)
        p = sub.next_publish()
        self.assertTrue(p.retain)
        sub.ack_publish(p)
        sub.subscribe([("rh/t", ft.sub_options(1, rh=0))], packet_id=2)
        p = sub.next_publish()
        self.assertEqual((p.payload, p.retain), (b"r", True))
        sub.ack_publish(p)
        # 1: only if the subscription did not exist
        sub.subscribe([("rh/t", ft.sub_options(1, rh=1))], packet_id=3)
        self.assertIsNone(sub.recv_or_none(ft.QUIET))
        sub.subscribe([("rh/+", ft.sub_options(1, rh=1))], packet_id=4)
        p = sub.next_publish()
        self.assertEqual((p.topic, p.retain), ("rh/t", True))
        sub.ack_publish(p)
        # 2: never at subscribe time
        sub2 = self.raw_connected("s2")
        sub2.subscribe([("rh/#", ft.sub_options(1, rh=2))])
        self.assertIsNone(sub2.recv_or_none(ft.QUIET))
        # ... but live messages still flow
        pub.publish("rh/t", b"live", 1, packet_id=2)
        p = sub2.next_publish()
        self.assertEqual((p.payload, p.retain), (b"live", False))
        sub2.ack_publish(p)

    def test_retain_as_published(self):
        keep = self.raw_connected("keep")
        keep.subscribe([("rap/#", ft.sub_options(1, rap=True))])
        clear = self.raw_connected("clear")
        clear.subscribe([("rap/#", ft.sub_options(1, rap=False))])
        v3 = self.raw_connected("v3", version=4)
        v3.subscribe([("rap/#", 1)])
        pub = self.raw_connected("pub")
        pub.publish("rap/x", b"r1", 1, packet_id=1, retain=True)
        pub.publish("rap/y", b"n1", 1, packet_id=2, retain=False)
        for client, want in ((keep, [True, False]), (clear, [False, False]),
                             (v3, [False, False])):
            got = []
            for _ in range(2):
                p = client.next_publish()
                got.append(p.retain)
                client.ack_publish(p)
            self.assertEqual(got, want, client)
        # On subscribe, a retained message always carries RETAIN=1.
        late = self.raw_connected("late")
        late.subscribe([("rap/x", ft.sub_options(1, rap=False))])
        p = late.next_publish()
        self.assertEqual((p.payload, p.retain), (b"r1", True))

    def test_not_for_shared_subscriptions(self):
        pub = self.paho("p")
        pub.publish("sh/r", b"kept", 1, retain=True)
        sub = self.paho("s")
        self.assertEqual(sub.subscribe("$share/g/sh/r", 1), [1])
        sub.none()

    def test_wildcard_subscribe_skips_dollar_topics(self):
        pub = self.raw_connected("p")
        pub.publish("$sys/x", b"hidden", 1, packet_id=1, retain=True)
        pub.publish("vis/x", b"seen", 1, packet_id=2, retain=True)
        sub = self.raw_connected("s")
        sub.subscribe([("#", 1)])
        p = sub.next_publish()
        self.assertEqual((p.topic, p.payload), ("vis/x", b"seen"))
        sub.ack_publish(p)
        self.assertIsNone(sub.recv_or_none(ft.QUIET))
        sub.subscribe([("$sys/#", 1)], packet_id=2)
        p = sub.next_publish()
        self.assertEqual((p.topic, p.payload), ("$sys/x", b"hidden"))


if __name__ == "__main__":
    ft.main()
