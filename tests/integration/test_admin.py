"""The admin HTTP server: health checks and Prometheus metrics.

A real ferrymq with --admin-listen on a free loopback port; requests with
Python's urllib; the metrics are read back after real MQTT traffic.
"""

import json
import subprocess
import time
import urllib.error
import urllib.request

import unittest

import fmqtest
from fmqtest import HOST, broker_args, free_port

ADMIN_PORT = free_port()


def get(path, method="GET", port=None, token=None):
    """(status, content type, body text)."""
    req = urllib.request.Request("http://%s:%d%s" % (HOST, port or ADMIN_PORT, path),
                                 method=method)
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
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


    def test_node_and_cluster_status(self):
        self.raw_connected("st-1")
        status, _, body = get("/api/v1/node")
        self.assertEqual(status, 200)
        node = json.loads(body)
        self.assertEqual(node["connections"], 1)
        self.assertEqual(node["sessions"], 1)
        self.assertFalse(node["shutting_down"])
        status, _, body = get("/api/v1/cluster")
        nodes = json.loads(body)["nodes"]
        self.assertEqual(len(nodes), 1)
        self.assertTrue(nodes[0]["self"])

    def test_clients_paging_kick_and_discard(self):
        conns = [self.raw_connected("pg-%02d" % i, clean=False,
                                    properties=[(fmqtest.P_SESSION_EXPIRY, 300)])
                 for i in range(5)]
        seen = []
        for page in (1, 2, 3):
            status, _, body = get("/api/v1/clients?limit=2&page=%d" % page)
            self.assertEqual(status, 200)
            doc = json.loads(body)
            self.assertEqual(doc["total"], 5)
            seen += [c["client_id"] for c in doc["data"]]
        self.assertEqual(sorted(seen), ["pg-%02d" % i for i in range(5)])
        status, _, body = get("/api/v1/clients/pg-03")
        self.assertEqual((status, json.loads(body)["connected"]), (200, True))
        # Kick: DISCONNECT 0x98 to the client, the session stays offline.
        status, _, body = get("/api/v1/clients/pg-03", method="DELETE")
        self.assertEqual(status, 200)
        self.assertTrue(json.loads(body)["disconnected"])
        pkts = conns[3].wait_closed()
        self.assertEqual([(p.type, p.reason) for p in pkts], [(fmqtest.PT_DISCONNECT, 0x98)])
        status, _, body = get("/api/v1/clients/pg-03")
        self.assertEqual((status, json.loads(body)["connected"]), (200, False))
        # Kick with discard: the session goes too.
        self.assertEqual(get("/api/v1/clients/pg-04?discard=true", method="DELETE")[0], 200)
        self.assertEqual(get("/api/v1/clients/pg-04")[0], 404)
        self.assertEqual(json.loads(get("/api/v1/node")[2])["sessions"], 4)

    def test_api_bad_input(self):
        for path, code in (("/api/v1/clients?limit=0", 400), ("/api/v1/clients?page=x", 400),
                           ("/api/v1/clients?limit=99999", 400), ("/api/v1/nope", 404),
                           ("/api/v1/clients/nobody", 404),
                           ("/api/v1/clients/x?discard=maybe", 404)):
            status, ctype, body = get(path)
            self.assertEqual((status, ctype), (code, "application/json"), path)
            self.assertIn("error", json.loads(body), path)
        self.assertEqual(get("/api/v1/node", method="POST")[0], 405)
        self.assert_serves()


class AdminToken(fmqtest.BrokerTest):
    default_args = ("--admin-listen", "%s:%d" % (HOST, ADMIN_PORT), "--admin-token", "t0ken")

    def test_bearer_token(self):
        self.assertEqual(get("/api/v1/node")[0], 401)
        self.assertEqual(get("/api/v1/node", token="wrong")[0], 401)
        self.assertEqual(get("/api/v1/node", token="t0ke")[0], 401)
        self.assertEqual(get("/api/v1/node", token="t0ken")[0], 200)
        # Health and metrics stay open for probes and Prometheus.
        self.assertEqual(get("/health/ready")[0], 200)
        self.assertEqual(get("/metrics")[0], 200)


class AdminRefused(unittest.TestCase):
    def test_off_loopback_needs_a_token(self):
        r = subprocess.run([fmqtest.FERRYMQ, "--listen", "%s:0" % HOST,
                            "--admin-listen", "0.0.0.0:0", "--data-dir", "/tmp/fmq-admin-x"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=fmqtest.WAIT * 2)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"admin_token", r.stdout)


if __name__ == "__main__":
    fmqtest.main()
