"""The admin HTTP server: health checks and Prometheus metrics.

A real ferrymq with --admin-listen on a free loopback port; requests with
Python's urllib; the metrics are read back after real MQTT traffic.
"""

import json
import os
import re
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


# ------------------------------------------------- docs/metrics.md

# The reference page, relative to this file (a scratch copy of the tree
# checks a scratch copy of the page).
METRICS_DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                           "metrics.md")
# Labels whose values depend on the cluster (node names, protocol versions):
# the page describes them instead of listing them.
FREE_LABELS = ("peer", "protocol")
ROW = re.compile(r"^\|\s*`(ferrymq_[a-z0-9_]+)`\s*\|([^|]*)\|([^|]*)\|")
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def exposition(text):
    """({family: type} from the # TYPE lines, {family: {label: {values}}}
    and the set of families with samples) of a Prometheus exposition."""
    types, labels, sampled = {}, {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) != 4 or parts[2] in types:
                raise AssertionError("bad or repeated TYPE line: %r" % line)
            types[parts[2]] = parts[3]
        elif line and not line.startswith("#"):
            m = SAMPLE.match(line)
            if not m:
                raise AssertionError("not a sample line: %r" % line)
            name = m.group(1)
            if name not in types:
                raise AssertionError("a sample before (or without) its TYPE line: %r" % line)
            sampled.add(name)
            fam = labels.setdefault(name, {})
            for k, v in LABEL.findall(m.group(2) or ""):
                fam.setdefault(k, set()).add(v)
    return types, labels, sampled


def documented_metrics(path=METRICS_DOC):
    """{name: (type, labels cell)} of every table row of docs/metrics.md
    whose first cell is a `ferrymq_...` name."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    rows = {}
    for line in text.splitlines():
        m = ROW.match(line)
        if not m:
            continue
        name = m.group(1)
        if name in rows:
            raise AssertionError("%s: %s has two rows" % (path, name))
        rows[name] = (m.group(2).strip(), m.group(3).strip())
    if not rows:
        raise AssertionError("%s: no metric table rows found" % path)
    return rows


class MetricsDocCheck:
    """Compares a node's GET /metrics with docs/metrics.md."""

    def check_against_doc(self, text, node="the node", exact=True):
        types, labels, sampled = exposition(text)
        doc = documented_metrics()
        missing = sorted(set(types) - set(doc))
        self.assertEqual(missing, [], "%s emits families docs/metrics.md does not list" % node)
        if exact:
            extra = sorted(set(doc) - set(types))
        else:  # a single node: everything but the cluster families
            extra = sorted(n for n in set(doc) - set(types)
                           if not n.startswith("ferrymq_cluster_"))
            self.assertEqual(sorted(n for n in types if n.startswith("ferrymq_cluster_")), [],
                             "a single node emits cluster families")
        self.assertEqual(extra, [], "docs/metrics.md lists families %s does not emit" % node)
        for name, typ in sorted(types.items()):
            self.assertEqual(doc[name][0], typ, "type of %s in docs/metrics.md" % name)
            if name not in sampled:
                continue  # no sample to compare the labels with (no peer yet)
            cell = doc[name][1]
            seen = labels.get(name, {})
            self.assertEqual(sorted(re.findall(r"`([a-z_]+)`:", cell)), sorted(seen),
                             "labels of %s in docs/metrics.md (%r)" % (name, cell))
            if not seen:
                self.assertEqual(cell, "none", "labels of %s in docs/metrics.md" % name)
            for label, values in seen.items():
                if label in FREE_LABELS:
                    continue
                for v in sorted(values):
                    self.assertIn("`%s`" % v, cell,
                                  "value %s=%r of %s not in docs/metrics.md" % (label, v, name))
        return types


class MetricsDoc(fmqtest.BrokerTest, MetricsDocCheck):
    admin_port = free_port()
    default_args = ("--admin-listen", "%s:%d" % (HOST, admin_port))

    def test_single_node_metrics_are_documented(self):
        self.raw_connected("doc-1").subscribe([("d/#", 1)])
        status, _, body = get("/metrics", port=self.admin_port)
        self.assertEqual(status, 200)
        types = self.check_against_doc(body, "a single node", exact=False)
        # The evacuation module always runs in ferrymq.
        self.assertIn("ferrymq_evacuation_state", types)
        self.assertIn("ferrymq_available", types)


class MetricsDocCluster(fmqtest.ClusterTest, MetricsDocCheck):
    admin_listen = True

    @fmqtest.cluster_setup(nodes=2)
    def test_cluster_node_metrics_are_documented(self):
        self.raw_connected(1, "doc-c1").subscribe([("d/#", 1)])
        self.raw_connected(2, "doc-c2")
        for i in (1, 2):
            node = self.node(i)
            # Wait (bounded) for the peer's first load report, so that every
            # family has samples to compare labels with.
            body = ""
            deadline = time.monotonic() + fmqtest.WAIT
            for _ in range(1000):
                status, body = node.admin("/metrics")
                self.assertEqual(status, 200)
                if "ferrymq_cluster_peer_connections{" in body or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            self.check_against_doc(body, node.name)
            self.assertIn("ferrymq_cluster_peer_connections{", body)
            self.assertEqual(exposition(body)[1]["ferrymq_cluster_peer_up"]["peer"],
                             {self.node(3 - i).name})


if __name__ == "__main__":
    fmqtest.main()
