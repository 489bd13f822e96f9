"""The admin HTTP server: health checks and Prometheus metrics.

A real ferrymq with --admin-listen on a free loopback port; requests with
Python's urllib; the metrics are read back after real MQTT traffic.
"""

import time
import urllib.error
import urllib.request

import fmqtest
from fmqtest import HOST, broker_args, free_port

ADMIN_PORT = free_port()


def get(path, method="GET", port=None):
    """(status, content type, body text)."""
    req = urllib.request.Request("http://%s:%d%s" % (HOST, port or ADMIN_PORT, path),
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=fmqtest.WAIT) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def metrics(text):
    """{name or name{labels}: value} of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


class Admin(fmqtest.BrokerTest):
    default_args = ("--admin-listen", "%s:%d" % (HOST, ADMIN_PORT))

    def test_health(self):
        self.assertEqual(get("/health/live")[0], 200)
        status, ctype, body = get("/health/ready")
        self.assertEqual((status, ctype), (200, "application/json"))
        self.assertIn('"ready"', body)

    def test_metrics_follow_traffic(self):
        # The start-up probe's connection goes away (bounded wait).
        for _ in range(100):
            before = metrics(get("/metrics")[2])
            if before["ferrymq_connections"] == 0:
                break
            time.sleep(0.05)
        self.assertEqual(before["ferrymq_connections"], 0)
        self.assertNotIn("ferrymq_cluster_peers_up", before)  # a single node
        sub = self.raw_connected("m-sub")
        sub.subscribe([("m/#", 1)])
        pub = self.raw_connected("m-pub")
        for i in range(3):
            self.assertEqual(pub.publish("m/%d" % i, b"x", 1).reason, 0)
        sub.collect(3)
        status, ctype, body = get("/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("text/plain"), ctype)
        m = metrics(body)
        self.assertEqual(m["ferrymq_connections"], 2)
        self.assertEqual(m["ferrymq_sessions"], 2)
        self.assertEqual(m["ferrymq_subscriptions"], 1)
        self.assertEqual(m['ferrymq_messages_received_total{qos="1"}'], 3)
        self.assertEqual(m['ferrymq_messages_sent_total{qos="1"}'], 3)
        # Every metric has its HELP and TYPE lines.
        names = {k.split("{")[0] for k in m}
        for n in names:
            self.assertIn("# HELP %s " % n, body)
            self.assertIn("# TYPE %s " % n, body)

    def test_bad_requests(self):
        status, ctype, body = get("/nope")
        self.assertEqual((status, ctype), (404, "application/json"))
        self.assertIn('"error"', body)
        status, _, body = get("/metrics", method="POST")
        self.assertEqual(status, 405)
        self.assertIn("GET", body)
        self.assert_serves()

    @broker_args("--cluster-listen", "%s:0" % HOST, "--cluster-secret", "s")
    def test_cluster_metrics(self):
        m = metrics(get("/metrics")[2])
        self.assertEqual(m["ferrymq_cluster_peers_up"], 0)
        self.assertIn("ferrymq_cluster_links_refused_total", m)


if __name__ == "__main__":
    fmqtest.main()
