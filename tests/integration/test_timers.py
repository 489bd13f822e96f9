"""Time-driven behaviour: keep alive, connect timeout, Server Keep Alive, and
SIGTERM (v5 clients get DISCONNECT 0x8B, the process exits 0)."""

import time

import fmqtest as ft


class KeepAlive(ft.BrokerTest):
    def test_v5_silent_client_gets_0x8d(self):
        w = self.paho("watcher")
        w.subscribe("ka/will", 1)
        c = self.raw_connected("quiet", keepalive=1,
                               will={"topic": "ka/will", "payload": b"timed out"})
        # It stops sending: closed after about 1.5 x 1 s.
        pkts = c.wait_closed(ft.WAIT)
        self.assertEqual([(p.type, p.reason) for p in pkts], [(ft.PT_DISCONNECT, 0x8D)])
        self.assertEqual(w.get().payload, b"timed out")  # a keep-alive death fires the will

    def test_v311_silent_client_closed(self):
        c = self.raw_connected("quiet3", version=4, keepalive=1)
        self.assertEqual(c.wait_closed(ft.WAIT), [])

    def test_pinging_client_stays(self):
        c = self.raw_connected("chatty", keepalive=1)
        for _ in range(8):  # 8 x 0.4 s: more than twice the 1.5 s limit
            time.sleep(0.4)
            c.ping()
        c.send(ft.disconnect(0))
        self.assertEqual(c.wait_closed(), [])

    def test_keepalive_zero_never_times_out(self):
        c = self.raw_connected("forever", keepalive=0)
        self.assertIsNone(c.recv_or_none(2.5))
        c.ping()

    def test_paho_keeps_itself_alive(self):
        p = self.paho("paho-ka", keepalive=1)
        p.subscribe("pk", 1)
        time.sleep(3)
        self.assertTrue(p.disconnects.empty())
        pub = self.paho("pub")
        pub.publish("pk", b"still here", 1)
        self.assertEqual(p.get().payload, b"still here")

    @ft.broker_args("--server-keep-alive", "1")
    def test_server_keep_alive_imposed(self):
        c = self.raw(5)
        a = c.connect("imposed", keepalive=600)
        self.assertEqual(ft.prop(a.props, ft.P_SERVER_KEEP_ALIVE), 1)
        pkts = c.wait_closed(ft.WAIT)
        self.assertEqual([(p.type, p.reason) for p in pkts], [(ft.PT_DISCONNECT, 0x8D)])


class ConnectTimeout(ft.BrokerTest):
    @ft.broker_args("--connect-timeout-ms", "500")
    def test_silent_socket_closed(self):
        c = self.raw(5)
        self.assertEqual(c.wait_closed(ft.WAIT), [])
        self.assert_serves()

    @ft.broker_args("--connect-timeout-ms", "500")
    def test_partial_connect_closed(self):
        c = self.raw(5)
        c.send(ft.connect(5, "half")[:5])  # never finishes its CONNECT
        self.assertEqual(c.wait_closed(ft.WAIT), [])

    @ft.broker_args("--connect-timeout-ms", "500")
    def test_connected_client_not_affected(self):
        c = self.raw_connected("ok", keepalive=0)
        self.assertIsNone(c.recv_or_none(1.5))
        c.ping()


class Shutdown(ft.BrokerTest):
    def test_sigterm_sends_0x8b(self):
        v5 = self.raw_connected("five")
        v3 = self.raw_connected("three", version=4)
        p = self.paho("paho")
        fresh = self.raw(5)  # no CONNECT yet
        self.broker.terminate()
        pkts = v5.wait_closed()
        self.assertEqual([(x.type, x.reason) for x in pkts], [(ft.PT_DISCONNECT, 0x8B)])
        self.assertEqual(v3.wait_closed(), [])
        self.assertEqual(fresh.wait_closed(), [])
        rc = self.broker.wait_exit(ft.WAIT)
        self.assertEqual(rc, 0, self.broker.log())
        self.assertFalse(ft.port_accepts(self.port))
        p.stop()

    def test_sigterm_with_pending_output(self):
        # A subscriber that does not read while a backlog builds up must not
        # hold the shutdown beyond its grace period.
        slow = self.raw_connected("slow")
        slow.subscribe([("big", 0)])
        pub = self.raw_connected("pub")
        blob = b"x" * 60000
        for _ in range(40):
            pub.publish("big", blob, 0)
        pub.ping()
        self.broker.terminate()
        rc = self.broker.wait_exit(ft.WAIT + 5)
        self.assertEqual(rc, 0, self.broker.log())

    def test_sigterm_idle(self):
        self.broker.terminate()
        self.assertEqual(self.broker.wait_exit(ft.WAIT), 0)


if __name__ == "__main__":
    ft.main()
