"""Node evacuation on a real 3-node cluster (no load balancer here: see
test_evacuation_haproxy.py for the load-balanced runs and the rebalance).

Real ferrymq processes with admin listeners, raw MQTT clients built by hand
(fmqtest.Raw), the admin API over HTTP (urllib), ferrybench for an MQTT 5
load that follows Server References.
"""

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import unittest

import fmqtest
from fmqtest import HOST, WAIT, PT_DISCONNECT, prop

SESSION_EXPIRY = 0x11
SERVER_REFERENCE = 0x1C
USE_ANOTHER_SERVER = 0x9C

FERRYBENCH = os.environ.get("FMQ_IT_FERRYBENCH") or os.path.join(
    os.path.dirname(os.environ.get("FMQ_IT_FERRYMQ", "")), "..", "bench", "ferrybench")


def api(node, path, method="GET", body=None, token=None, raw_body=None):
    """(status, parsed JSON) of an admin API request."""
    data = raw_body if raw_body is not None else (
        json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request("http://%s:%d%s" % (HOST, node.admin_port, path),
                                 method=method, data=data)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=WAIT) as r:
            return r.status, json.loads(r.read().decode() or "null")
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, text


def wait_for(fn, what, timeout=WAIT * 4, every=0.1):
    """Polls fn() until it returns a true value; returns it."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(every)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


class Evacuation(fmqtest.ClusterTest):
    admin_listen = True

    def status(self, i):
        code, doc = api(self.node(i), "/api/v1/evacuation")
        self.assertEqual(code, 200, doc)
        return doc

    def start_evac(self, i, **body):
        code, doc = api(self.node(i), "/api/v1/evacuation/start", "POST", body)
        self.assertEqual(code, 200, doc)
        return doc

    def wait_state(self, i, state, timeout=WAIT * 4):
        return wait_for(lambda: (lambda s: s if s.get("state") == state else None)(self.status(i)),
                        "%s reaching %s" % (self.node(i).name, state), timeout)

    def available(self, i):
        code, _ = api(self.node(i), "/health/available")
        return code

    def persistent(self, i, cid, version=5):
        """A connected client with a persistent session (600 s)."""
        if version == 5:
            return self.raw_connected(i, cid, version=5, clean=False,
                                      properties=[(SESSION_EXPIRY, 600)])
        return self.raw_connected(i, cid, version=4, clean=False)

    def test_phases_refusals_and_stop(self):
        n1 = self.node(1)
        state_file = os.path.join(n1.dir, "data", "evacuation.json")
        self.assertEqual(self.available(1), 200)
        doc = self.start_evac(1, wait_health_check="2s", wait_takeover=0, conn_evict_rate=50,
                              redirect_to="%s:%d" % (HOST, self.cluster.port(2)))
        self.assertEqual(doc["state"], "waiting_health_check")
        self.assertTrue(os.path.exists(state_file), "the intent is kept in the data dir")
        with open(state_file) as f:
            kept = json.load(f)
        self.assertEqual(kept["redirect_to"], "%s:%d" % (HOST, self.cluster.port(2)))
        # Health-check wait: unavailable for load balancers, CONNECT still accepted.
        self.assertEqual(self.available(1), 503)
        code, body = api(n1, "/health/available")
        self.assertEqual(body["code"], "NODE_EVACUATING")
        c = self.raw(1)
        self.assertEqual(c.connect("early").reason, 0)
        c.close()
        # Then refused before authentication: v5 0x9C + Server Reference, v3.1.1 code 3.
        self.wait_state(1, "prohibiting")
        v5 = self.raw(1)
        ack = v5.connect("late5")
        self.assertEqual(ack.reason, USE_ANOTHER_SERVER)
        self.assertEqual(prop(ack.props, SERVER_REFERENCE), "%s:%d" % (HOST, self.cluster.port(2)))
        v5.wait_closed()
        v3 = self.raw(1, version=4)
        self.assertEqual(v3.connect("late3").reason, 3)
        v3.wait_closed()
        st = self.status(1)
        self.assertEqual((st["stats"]["current_connected"], st["stats"]["current_sessions"]), (0, 0))
        # Another start is a conflict; stop brings the node back.
        code, doc = api(n1, "/api/v1/evacuation/start", "POST", {})
        self.assertEqual((code, doc["error"]), (409, "already started"))
        code, doc = api(n1, "/api/v1/evacuation/stop", "POST")
        self.assertEqual((code, doc["status"]), (200, "disabled"))
        self.assertFalse(os.path.exists(state_file), "stop clears the intent")
        self.assertEqual(self.available(1), 200)
        self.raw_connected(1, "after")
        code, doc = api(n1, "/api/v1/evacuation/stop", "POST")
        self.assertEqual((code, doc["error"]), (409, "not started"))

    def test_evicts_v5_with_reference_and_v3_with_close(self):
        ref = "%s:%d" % (HOST, self.cluster.port(3))
        v5 = self.persistent(1, "e5")
        v3 = self.persistent(1, "e3", version=4)
        # a v3 will: a server-side close publishes it, as the spec says
        v3w = self.raw(1, version=4)
        self.assertEqual(v3w.connect("e3w", will=dict(topic="will/e3w", payload=b"gone")).reason, 0)
        watcher = self.raw_connected(2, "watcher")
        watcher.subscribe("will/#")
        self.cluster.sync(2, 1)
        self.start_evac(1, wait_health_check=0, wait_takeover=0, conn_evict_rate=100,
                        redirect_to=ref)
        pkts = v5.wait_closed(WAIT * 2)
        disc = [p for p in pkts if p.type == PT_DISCONNECT]
        self.assertEqual(len(disc), 1, pkts)
        self.assertEqual(disc[0].reason, USE_ANOTHER_SERVER)
        self.assertEqual(prop(disc[0].props, SERVER_REFERENCE), ref)
        self.assertEqual([p for p in v3.wait_closed(WAIT * 2) if p.type == PT_DISCONNECT], [])
        will = watcher.next_publish(WAIT * 2)
        self.assertEqual((will.topic, will.payload), ("will/e3w", b"gone"))
        st = self.wait_state(1, "prohibiting")
        self.assertEqual(st["stats"]["conns_evicted"], 3)
        # the two persistent sessions moved (e3w's ended with its connection)
        self.assertEqual(st["stats"]["sessions_migrated"], 2)
        # each resumes where it went: session present
        for cid, version in (("e5", 5), ("e3", 4)):
            c = self.raw(2, version=version)
            props = [(SESSION_EXPIRY, 600)] if version == 5 else ()
            ack = c.connect(cid, clean=False, properties=props)
            self.assertEqual((ack.reason, ack.session_present), (0, True), cid)

    def test_offline_sessions_move_spread_evenly_and_resume_with_their_queue(self):
        n = 12
        for i in range(n):
            c = self.persistent(1, "off%d" % i)
            c.subscribe([("q/off%d" % i, 1)])
            c.close()
        pub = self.raw_connected(3, "pub")
        self.cluster.sync(1, 3)
        for i in range(n):
            for k in range(3):
                pub.publish("q/off%d" % i, b"m%d" % k, qos=1, packet_id=1 + (i * 3 + k) % 60000)
        st = self.start_evac(1, wait_health_check=0, wait_takeover=0, sess_evict_rate=5)
        self.assertEqual(st["stats"]["initial_sessions"], n + 0)
        st = self.wait_state(1, "prohibiting", timeout=WAIT * 6)
        self.assertEqual((st["stats"]["sessions_migrated"], st["stats"]["sessions_failed"]), (n, 0))
        self.assertEqual(st["stats"]["current_sessions"], 0)
        self.assertLessEqual(st["stats"]["max_evicted_in_1s"], 100)
        held = {}
        for i in (2, 3):
            code, doc = api(self.node(i), "/api/v1/clients?limit=1000")
            held[i] = {c["client_id"] for c in doc["data"] if c["client_id"].startswith("off")}
        self.assertEqual(held[2] | held[3], {"off%d" % i for i in range(n)})
        self.assertEqual(len(held[2]), n // 2, "spread evenly: %r" % held)
        code, doc = api(self.node(1), "/api/v1/node")
        self.assertEqual((doc["connections"], doc["sessions"]), (0, 0))
        # A client comes back through any node and gets its queue, in order.
        for i in range(n):
            c = self.raw(2 if i % 2 else 3)
            ack = c.connect("off%d" % i, clean=False, properties=[(SESSION_EXPIRY, 600)])
            self.assertEqual((ack.reason, ack.session_present), (0, True), i)
            got = [p.payload for p in c.collect(3)]
            self.assertEqual(got, [b"m0", b"m1", b"m2"], i)
            c.close()

    @fmqtest.cluster_setup(args=("--cluster-peer-timeout-ms", "30000"))
    def test_client_reconnecting_during_migration_keeps_its_session(self):
        # The race seen at 100,000 clients: an evicted client reconnects to
        # n3 while n1 migrates its offline session to n2. n2 is frozen so
        # the migration stays unacknowledged while n3 asks; n1 must not
        # answer "none" yet, and when n2 thaws the client (a live CONNECT)
        # beats the migration, whichever of n3's claim and n1's session n2
        # reads first. Before the fix it got Session Present 0 or a 0x8E.
        c = self.persistent(1, "mig")
        c.subscribe([("q/mig", 1)])
        c.close()
        pub = self.raw_connected(3, "pub")
        self.cluster.sync(1, 3)
        for k in range(3):
            self.assertEqual(pub.publish("q/mig", b"m%d" % k, qos=1, packet_id=1 + k).reason, 0)
        n2 = self.node(2)
        n2.proc.send_signal(signal.SIGSTOP)
        try:
            self.start_evac(1, wait_health_check=0, wait_takeover=0, migrate_to=["n2"])
            # The record is on its way to n2 (sent, not acknowledged).
            wait_for(lambda: self.status(1)["stats"]["current_sessions"] == 0 or None,
                     "n1 sending the session")
            x = self.raw(3)
            x.send(fmqtest.connect(5, "mig", False, properties=[(SESSION_EXPIRY, 600)]))
            time.sleep(0.3)  # n3's claims are out; its CONNECT waits (5 s)
        finally:
            n2.proc.send_signal(signal.SIGCONT)
        ack = x.expect(fmqtest.PT_CONNACK)
        self.assertEqual((ack.reason, ack.session_present), (0, True), ack)
        got = x.collect(3) + x.collect(None, fmqtest.QUIET)
        self.assertEqual([p.payload for p in got], [b"m0", b"m1", b"m2"])
        x.ping()  # still connected: no takeover by the migration
        st = self.wait_state(1, "prohibiting")
        self.assertEqual(st["stats"]["sessions_failed"], 0)

    def test_migrate_to_and_bad_targets(self):
        for i in range(4):
            self.persistent(1, "mt%d" % i).close()
        n1 = self.node(1)
        code, doc = api(n1, "/api/v1/evacuation/start", "POST", {"migrate_to": ["n9"]})
        self.assertEqual(code, 400)
        self.assertIn("n9", doc["error"])
        code, doc = api(n1, "/api/v1/evacuation/start", "POST", {"migrate_to": ["n1"]})
        self.assertEqual(code, 400)
        self.assertIn("this node", doc["error"])
        self.assertEqual(self.status(1), {"status": "disabled"}, "a refused start changes nothing")
        self.start_evac(1, wait_health_check=0, wait_takeover=0, migrate_to=["n3"])
        st = self.wait_state(1, "prohibiting")
        self.assertEqual(st["session_recipients"], ["n3"])
        code, doc = api(self.node(3), "/api/v1/clients?limit=1000")
        self.assertEqual({c["client_id"] for c in doc["data"]}, {"mt%d" % i for i in range(4)})
        # n2 may not be a target of an evacuation elsewhere while it evacuates itself
        self.start_evac(2, wait_health_check=0, wait_takeover=0)
        wait_for(lambda: api(self.node(3), "/api/v1/cluster")[1]["nodes"][1:] and all(
            not p.get("available", True) for p in api(self.node(3), "/api/v1/cluster")[1]["nodes"]
            if p["node"] in ("n1", "n2")), "n3 seeing n1 and n2 unavailable")
        code, doc = api(self.node(3), "/api/v1/evacuation/start", "POST", {"migrate_to": ["n2"]})
        self.assertEqual(code, 400, doc)

    def test_failed_transfers_are_retried_then_reported(self):
        """A protocol-3 node sends no load reports, so it looks available;
        while it evacuates itself it refuses every session sent to it. Each
        transfer is tried 3 times, then reported; the evacuation ends."""
        admin_port = fmqtest.free_port()
        n4 = self.cluster.start_extra("n4", "--admin-listen", "%s:%d" % (HOST, admin_port),
                                      protocol_max=3)
        n4.admin_port = admin_port
        code, doc = api(n4, "/api/v1/evacuation/start", "POST", {"wait_health_check": 120})
        self.assertEqual(code, 200, doc)
        ids = ["f%d" % i for i in range(3)]
        for cid in ids:
            self.persistent(1, cid).close()
        t0 = time.monotonic()
        self.start_evac(1, wait_health_check=0, wait_takeover=0, migrate_to=["n4"])
        st = self.wait_state(1, "prohibiting", timeout=WAIT * 4)
        took = time.monotonic() - t0
        self.assertEqual((st["stats"]["sessions_failed"], st["stats"]["sessions_migrated"]), (3, 0))
        self.assertEqual(sorted(st["failed_sessions"]), ids)
        self.assertEqual(st["stats"]["current_sessions"], 3, "they stay here")
        self.assertGreaterEqual(took, 2.0, "3 attempts, 1 s apart")
        self.assertEqual(len(self.node(1).logged("transfers failed")), 3)
        self.assertEqual(len(n4.logged("refused: this node is being evacuated")), 9)
        # Once n4 takes sessions again, a new evacuation moves them.
        self.assertEqual(api(n4, "/api/v1/evacuation/stop", "POST")[0], 200)
        self.assertEqual(api(self.node(1), "/api/v1/evacuation/stop", "POST")[0], 200)
        self.start_evac(1, wait_health_check=0, wait_takeover=0, migrate_to=["n4"])
        st = self.wait_state(1, "prohibiting")
        self.assertEqual((st["stats"]["sessions_migrated"], st["stats"]["sessions_failed"]), (3, 0))
        code, doc = api(n4, "/api/v1/clients?limit=100")
        self.assertEqual(sorted(c["client_id"] for c in doc["data"]), ids)

    def test_stop_mid_evacuation(self):
        clients = [self.persistent(1, "s%d" % i) for i in range(40)]
        self.start_evac(1, wait_health_check=0, wait_takeover=60, conn_evict_rate=10)
        time.sleep(1.5)
        code, doc = api(self.node(1), "/api/v1/evacuation/stop", "POST")
        self.assertEqual(code, 200, doc)
        evicted = 0
        for c in clients:
            try:
                c.ping()
            except (fmqtest.Closed, AssertionError, OSError, TimeoutError):
                evicted += 1
        self.assertGreater(evicted, 5)
        self.assertLess(evicted, 40, "stop ended the evictions")
        time.sleep(fmqtest.QUIET)
        still = sum(1 for c in clients if self._alive(c))
        self.assertEqual(still, 40 - evicted, "no eviction after stop")
        self.assertEqual(self.available(1), 200)
        self.raw_connected(1, "new-after-stop")

    def _alive(self, c):
        try:
            c.ping()
            return True
        except (fmqtest.Closed, AssertionError, OSError, TimeoutError):
            return False

    def test_restart_mid_evacuation_resumes_it(self):
        for i in range(5):
            self.persistent(1, "r%d" % i)
        self.start_evac(1, wait_health_check=60, conn_evict_rate=5,
                        redirect_to="%s:%d" % (HOST, self.cluster.port(2)))
        self.cluster.kill(1)
        self.cluster.restart(1)
        # From its first CONNECT the node refuses, with the kept reference.
        c = self.raw(1)
        ack = c.connect("after-restart")
        self.assertEqual(ack.reason, USE_ANOTHER_SERVER)
        self.assertEqual(prop(ack.props, SERVER_REFERENCE), "%s:%d" % (HOST, self.cluster.port(2)))
        self.assertEqual(self.available(1), 503)
        st = self.status(1)
        self.assertTrue(st["resumed"])
        self.assertIn(st["state"], ("evicting_conns", "waiting_takeover", "prohibiting"))
        self.assertTrue(self.node(1).logged("Node evacuation is enabled"))
        code, _ = api(self.node(1), "/api/v1/evacuation/stop", "POST")
        self.assertEqual(code, 200)
        self.raw_connected(1, "after-stop")

    def test_global_status_from_any_node(self):
        self.start_evac(1, wait_health_check=30)
        doc = wait_for(lambda: (lambda d: d if d["evacuations"] else None)(
            api(self.node(3), "/api/v1/global_status")[1]), "n3 seeing n1's evacuation")
        self.assertEqual([(e["node"], e["state"]) for e in doc["evacuations"]],
                         [("n1", "waiting_health_check")])
        self.assertEqual(doc["rebalances"], [])
        code, cl = api(self.node(2), "/api/v1/cluster")
        peer = [p for p in cl["nodes"] if p["node"] == "n1"][0]
        self.assertEqual((peer["available"], peer["agent"]), (False, "evacuation"))

    def test_auto_rate_stays_under_its_ceiling(self):
        clients = [self.persistent(1, "a%d" % i) for i in range(60)]
        self.start_evac(1, wait_health_check=0, wait_takeover=0, conn_evict_rate="auto",
                        conn_evict_rate_max=30)
        st = self.wait_state(1, "prohibiting", timeout=WAIT * 6)
        self.assertEqual(st["conn_evict_rate"], "auto")
        self.assertEqual(st["conn_evict_rate_max"], 30)
        self.assertEqual(st["stats"]["conns_evicted"], 60)
        self.assertLessEqual(st["stats"]["max_evicted_in_1s"], 30)
        del clients

    def test_bad_requests(self):
        n1 = self.node(1)
        cases = [
            (b"{", "JSON"),
            (b'{"conn_evict_rate": 0}', "conn_evict_rate"),
            (b'{"conn_evict_rate": "fast"}', "conn_evict_rate"),
            (b'{"wait_takeover": "1y"}', "wait_takeover"),
            (b'{"redirect_to": 5}', "redirect_to"),
            (b'{"migrate_to": []}', "migrate_to"),
            (b'{"nope": 1}', "nope"),
            (b'[1]', "object"),
        ]
        for body, word in cases:
            code, doc = api(n1, "/api/v1/evacuation/start", "POST", raw_body=body)
            self.assertEqual(code, 400, body)
            self.assertIn(word, doc["error"], body)
        code, doc = api(n1, "/api/v1/evacuation/start", "POST",
                        raw_body=b'{"redirect_to":"' + b"x" * 70000 + b'"}')
        self.assertEqual(code, 413, doc)
        self.assertEqual(api(n1, "/api/v1/evacuation/start")[0], 405)
        self.assertEqual(api(n1, "/api/v1/evacuation", "POST", {})[0], 405)
        self.assertEqual(api(n1, "/api/v1/evacuation/pause", "POST")[0], 404)
        self.assertEqual(api(n1, "/api/v1/rebalance/stop", "POST")[0], 409)
        code, doc = api(n1, "/api/v1/rebalance/start", "POST", {"rel_conn_threshold": 1.0})
        self.assertEqual(code, 400)
        self.assertIn("rel_conn_threshold", doc["error"])
        code, doc = api(n1, "/api/v1/rebalance/start", "POST", {"nodes": ["n1", "zz"]})
        self.assertEqual(code, 400)
        code, doc = api(n1, "/api/v1/rebalance/start", "POST", {})
        self.assertEqual((code, doc["error"][:18]), (409, "nothing to balance"))
        self.assertEqual(self.status(1), {"status": "disabled"})
        self.assertEqual(self.available(1), 200)

    def test_mqtt5_clients_follow_server_reference(self):
        """ferrybench's MQTT 5 clients, each on a fixed node, follow the
        Server Reference of the 0x9C DISCONNECT and of the CONNACKs after."""
        if not os.path.exists(FERRYBENCH):
            self.fail("ferrybench not found at %s" % FERRYBENCH)
        ports = ",".join(str(self.cluster.port(i)) for i in (1, 2, 3))
        events = os.path.join(self.node(1).dir, "events.txt")
        bench = subprocess.Popen(
            [FERRYBENCH, "clients", "-n", "150", "--port", ports, "--qos", "1", "--rate", "2",
             "--duration", "12", "--follow-ref", "--events", events, "--quiet",
             "--max-time", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: api(self.node(1), "/api/v1/node")[1]["connections"] == 50,
                     "50 clients on n1", timeout=20)
            self.start_evac(1, wait_health_check=0, wait_takeover=1, conn_evict_rate=25,
                            redirect_to="%s:%d" % (HOST, self.cluster.port(2)))
            out, err = bench.communicate(timeout=90)
        finally:
            if bench.poll() is None:
                bench.kill()
                bench.communicate()
        line = [l for l in out.splitlines() if l.startswith("ferrybench mode=clients")]
        self.assertTrue(line, out + err)
        kv = dict(f.split("=", 1) for f in line[0].split()[1:] if "=" in f)
        self.assertEqual(kv["complete"], "1", out)
        self.assertEqual((kv["lost"], kv["disc_max"], kv["disconnects"]), ("0", "1", "50"), out)
        self.assertEqual(kv["disc_0x9c"], "50", out)
        st = self.wait_state(1, "prohibiting")
        self.assertEqual(st["stats"]["conns_evicted"], 50)
        self.assertLessEqual(st["stats"]["max_evicted_in_1s"], 25)
        code, doc = api(self.node(2), "/api/v1/node")
        self.assertEqual(doc["connections"], 0, "ferrybench ended")


class EvacuationAuth(fmqtest.ClusterTest):
    admin_listen = True
    default_args = ("--admin-token", "t0ken")

    def test_api_needs_the_token_but_availability_does_not(self):
        n1 = self.node(1)
        self.assertEqual(api(n1, "/api/v1/evacuation/start", "POST", {})[0], 401)
        self.assertEqual(api(n1, "/api/v1/evacuation/start", "POST", {}, token="wrong")[0], 401)
        self.assertEqual(api(n1, "/api/v1/global_status")[0], 401)
        self.assertEqual(api(n1, "/api/v1/rebalance/start", "POST", {})[0], 401)
        self.assertEqual(api(n1, "/api/v1/evacuation", token="t0ken")[1], {"status": "disabled"})
        self.assertEqual(api(n1, "/health/available")[0], 200)
        code, doc = api(n1, "/api/v1/evacuation/start", "POST", {"wait_health_check": 60},
                        token="t0ken")
        self.assertEqual(code, 200, doc)
        self.assertEqual(api(n1, "/health/available")[0], 503)


if __name__ == "__main__":
    fmqtest.main()
