"""DNS discovery: nodes find each other through the A records of a name.

On Kubernetes the name is a headless Service and every pod has its own IP
with the same cluster port. Here: two nodes whose cluster ports are the
same port number on 127.0.0.1 and 127.0.0.2, both told
`--cluster-dns localhost:PORT`. "localhost" resolves to 127.0.0.1 only,
so node b (on 127.0.0.2) finds node a through DNS, and node a finds its own
address there (and must recognise it as itself, not as a peer).
"""

import socket
import time
import unittest

import fmqtest
from fmqtest import Broker, WAIT


def free_port_on_both():
    """A port free on 127.0.0.1 and 127.0.0.2 (bounded tries)."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            try:
                with socket.socket() as b:
                    b.bind(("127.0.0.2", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no port free on both loopback addresses")


def wait_line(broker, text, timeout=WAIT * 2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in broker.log():
            return
        time.sleep(0.05)
    raise AssertionError("no %r in the log of %s:\n%s" % (text, broker.args, broker.log()[-4000:]))


class DnsDiscovery(unittest.TestCase):
    def test_nodes_found_through_dns(self):
        fmqtest._current_test[0] = self.id()
        cport = free_port_on_both()
        common = ["--cluster-dns", "localhost:%d" % cport, "--cluster-dns-interval-ms", "200",
                  "--cluster-secret", "dns-secret"]
        a = Broker("--node-name", "a", "--cluster-listen", "127.0.0.1:%d" % cport, *common)
        b = Broker("--node-name", "b", "--cluster-listen", "127.0.0.2:%d" % cport, *common)
        self.brokers = [a, b]
        a.start()
        b.start()
        wait_line(a, "cluster: node b is up")
        wait_line(b, "cluster: node a is up")
        self.assertNotIn("node a is up", a.log())  # its own DNS answer is not a peer
        # The link works: a message published on b reaches a subscriber on a.
        wait_line(b, "synced with a")
        sub = fmqtest.MosquittoSub(a.port, "dns/#", qos=1)
        try:
            sub.wait_subscribed()
            # Bounded retries: the subscription's route reaches b shortly.
            for _ in range(20):
                fmqtest.mosquitto_pub(b.port, "dns/1", "via-dns", qos=1)
                try:
                    topic, qos, _, payload = sub.next_message(timeout=0.5)
                    break
                except AssertionError:
                    continue
            else:
                self.fail("nothing published on b reached a subscriber on a")
            self.assertEqual((topic, payload), ("dns/1", "via-dns"))
        finally:
            sub.kill()

    def tearDown(self):
        for br in getattr(self, "brokers", []):
            rc = br.stop()
            self.assertEqual(rc, 0, "ferrymq exited with %r" % rc)


if __name__ == "__main__":
    fmqtest.main()
