"""HAProxy in front of the cluster: Debian's haproxy (fmqtest.HAProxy, TCP
mode) before a 3-node cluster whose nodes have admin listeners, checking
each node over HTTP on its admin port. Clients through the proxy land on
every node (each node's GET /api/v1/node says how many); a killed or frozen
node fails its check, goes DOWN and new clients avoid it; servers are added,
drained, put back and deleted through the runtime API; and ferrybench
clients through the proxy with --admin reports every node's connections
(CSV, summary, admin=ok) and names every client in --clients-out.

Loopback only; every loop is bounded in count and time."""

import os
import signal
import subprocess
import tempfile
import time
import unittest

import fmqtest as ft

FERRYBENCH = os.environ.get("FMQ_IT_FERRYBENCH", "")
CHECK_WAIT = 10.0  # inter 500 ms, fall/rise 2: a state change takes ~1-1.5 s


class Proxy(ft.ClusterTest):
    admin_listen = True  # every node: --admin-listen on a free port

    def setUp(self):
        super().setUp()
        self._proxies = []

    def tearDown(self):
        for h in self._proxies:  # before the nodes: no client is left mid-way
            h.stop()
        super().tearDown()

    def haproxy(self, nodes=(1, 2, 3), **kw):
        # Checks GET /health/available on each node's admin port.
        h = ft.HAProxy.for_nodes([self.node(i) for i in nodes], **kw)
        self._proxies.append(h)
        h.start()
        self.assertEqual(h.config_warnings, [], "haproxy -c warned about our configuration")
        return h

    def via(self, h, client_id):
        """A raw client connected through the proxy (CONNACK 0 asserted)."""
        c = ft.Raw(h.port)
        self._cleanups_clients.append(c)
        a = c.connect(client_id)
        self.assertEqual(a.reason, 0, "CONNACK through haproxy: %r" % a)
        return c

    def conns(self, nodes=(1, 2, 3)):
        return {self.node(i).name: self.node(i).connections() for i in nodes}

    def wait_conns(self, pred, nodes=(1, 2, 3), timeout=ft.WAIT):
        """Waits (bounded) until pred({name: connections}) holds."""
        deadline = time.monotonic() + timeout
        seen = None
        for _ in range(10000):
            seen = self.conns(nodes)
            if pred(seen):
                return seen
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        raise AssertionError("node connections %r did not reach the expected state" % seen)


class Balancing(Proxy):
    def test_round_robin_spreads_clients_over_every_node(self):
        h = self.haproxy()
        self.assertEqual(h.server_states(), {"n1": "UP", "n2": "UP", "n3": "UP"})
        clients = [self.via(h, "rr-%02d" % i) for i in range(30)]
        seen = self.wait_conns(lambda c: sum(c.values()) == 30)
        # Round robin, one haproxy thread, equal weights: 10 each.
        self.assertEqual(seen, {"n1": 10, "n2": 10, "n3": 10})
        # haproxy's view agrees with the nodes'.
        self.assertEqual({n: h.server_sessions(n) for n in seen}, seen)
        for c in clients:
            c.ping()

    def test_leastconn_spreads_clients_too(self):
        h = self.haproxy(balance="leastconn")
        for i in range(9):
            self.via(h, "lc-%d" % i)
        self.assertEqual(self.wait_conns(lambda c: sum(c.values()) == 9),
                         {"n1": 3, "n2": 3, "n3": 3})


class Health(Proxy):
    def test_killed_node_goes_down_and_new_clients_avoid_it(self):
        h = self.haproxy()
        for i in range(9):
            self.via(h, "k-a%d" % i)
        self.wait_conns(lambda c: c == {"n1": 3, "n2": 3, "n3": 3})
        self.cluster.kill(2)
        h.wait_state("n2", "DOWN", CHECK_WAIT)
        self.assertEqual(h.server_states(), {"n1": "UP", "n2": "DOWN", "n3": "UP"})
        self.assertTrue(any("nodes/n2 is DOWN" in l for l in h.warnings()), h.log())
        later = [self.via(h, "k-b%d" % i) for i in range(12)]
        self.assertEqual(self.wait_conns(lambda c: sum(c.values()) == 18, nodes=(1, 3)),
                         {"n1": 9, "n3": 9})
        for c in later:
            c.ping()

    def test_frozen_node_fails_its_check_and_comes_back(self):
        h = self.haproxy()
        n3 = self.node(3)
        os.kill(n3.proc.pid, signal.SIGSTOP)  # connects still succeed; nothing answers
        try:
            h.wait_state("n3", "DOWN", CHECK_WAIT)
            for i in range(6):
                self.via(h, "f-a%d" % i)
            self.assertEqual(self.wait_conns(lambda c: sum(c.values()) == 6, nodes=(1, 2)),
                             {"n1": 3, "n2": 3})
        finally:
            os.kill(n3.proc.pid, signal.SIGCONT)
        h.wait_state("n3", "UP", CHECK_WAIT)
        for i in range(6):
            self.via(h, "f-b%d" % i)
        seen = self.wait_conns(lambda c: sum(c.values()) == 12)
        self.assertGreater(seen["n3"], 0, seen)


class Runtime(Proxy):
    def test_add_drain_ready_and_delete_a_server(self):
        h = self.haproxy(nodes=(1, 2))
        n3 = self.node(3)
        h.add_server("n3", ft.HOST, n3.port, n3.admin_port)
        h.wait_state("n3", "UP", CHECK_WAIT)
        first = [self.via(h, "rt-a%d" % i) for i in range(6)]
        seen = self.wait_conns(lambda c: sum(c.values()) == 6)
        self.assertEqual(seen, {"n1": 2, "n2": 2, "n3": 2})
        # Drain: no new clients for n3, its own stay.
        h.set_server_state("n3", "drain")
        h.wait_state("n3", "DRAIN", ft.WAIT)
        second = [self.via(h, "rt-b%d" % i) for i in range(6)]
        seen = self.wait_conns(lambda c: sum(c.values()) == 12)
        self.assertEqual(seen, {"n1": 5, "n2": 5, "n3": 2})
        for c in first + second:
            c.ping()
        # Ready again: n3 takes its turn.
        h.set_server_state("n3", "ready")
        h.wait_state("n3", "UP", ft.WAIT)
        for i in range(3):
            self.via(h, "rt-c%d" % i)
        seen = self.wait_conns(lambda c: sum(c.values()) == 15)
        self.assertEqual(seen["n3"], 3, seen)
        # Delete: its connections are shut down, the rest go on.
        h.del_server("n3")
        self.assertEqual(sorted(h.server_states()), ["n1", "n2"])
        self.wait_conns(lambda c: c == {"n3": 0}, nodes=(3,))
        closed = 0
        for c in first + second:
            try:
                c.ping()
            except (ft.Closed, OSError):
                closed += 1
        self.assertEqual(closed, 2)
        # The maintenance state of a configured server.
        before = self.conns(nodes=(1, 2))
        h.set_server_state("n2", "maint")
        h.wait_state("n2", "MAINT", ft.WAIT)
        for i in range(2):
            self.via(h, "rt-d%d" % i)
        self.assertEqual(self.wait_conns(lambda c: sum(c.values()) == sum(before.values()) + 2,
                                         nodes=(1, 2)),
                         {"n1": before["n1"] + 2, "n2": before["n2"]})
        h.set_server_state("n2", "ready")
        h.wait_state("n2", "UP", CHECK_WAIT)


def kv_line(stdout):
    """The key=value pairs of ferrybench's last line."""
    lines = [l for l in stdout.splitlines() if l.startswith("ferrybench mode=")]
    if not lines:
        raise AssertionError("no key=value line in:\n" + stdout)
    return dict(p.split("=", 1) for p in lines[-1].split()[1:] if "=" in p)


@unittest.skipUnless(FERRYBENCH and os.access(FERRYBENCH, os.X_OK),
                     "FMQ_IT_FERRYBENCH does not name the ferrybench binary")
class Bench(Proxy):
    def ferrybench(self, h, n, duration, extra=()):
        """Runs ferrybench clients through the proxy with --admin for every
        node (also the dead ones); returns (kv, stdout, files)."""
        d = tempfile.mkdtemp(prefix="fmq-it-fb-", dir=self.node(1).dir)
        files = {k: os.path.join(d, k) for k in ("csv", "clients", "events")}
        urls = ",".join(n_.admin_url for n_ in self.cluster.nodes)
        cmd = [FERRYBENCH, "clients", "-n", str(n), "--port", str(h.port), "--admin", urls,
               "--csv", files["csv"], "--clients-out", files["clients"], "--events",
               files["events"], "--duration", str(duration), "--rate", "2", "--drain", "10",
               "--setup-timeout", "30", "--max-time", "90"] + list(extra)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FERRYMQ_")}
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env, timeout=150)
        out = r.stdout.decode("utf-8", "replace")
        err = r.stderr.decode("utf-8", "replace")
        self.assertEqual(r.returncode, 0, "ferrybench failed:\n%s\n%s" % (out, err))
        return kv_line(out), out + "\n" + err, files

    def read_csv(self, path):
        with open(path) as f:
            rows = [l.rstrip("\n").split(",") for l in f if l.strip()]
        return rows[0], rows[1:]

    def read_clients(self, path):
        with open(path) as f:
            return [l.split() for l in f if l.strip()]

    def test_ferrybench_admin_and_clients_out_through_haproxy(self):
        h = self.haproxy()
        kv, text, files = self.ferrybench(h, 300, 4)
        self.assertEqual(kv["complete"], "1", text)
        self.assertEqual((kv["connected"], kv["lost"], kv["dup"], kv["disc_max"]),
                         ("300", "0", "0", "0"), text)
        self.assertEqual(kv["admin"], "ok", text)
        self.assertEqual(kv["admin_nodes"], "n1,n2,n3", text)
        self.assertEqual(kv["nodes_min_serving"], "3", text)
        self.assertEqual(kv["conns_total_min"], "300", text)
        self.assertLessEqual(float(kv["balance_final"]), 1.1, text)
        self.assertEqual(sum(int(v) for v in kv["admin_conns_final"].split(",")), 300, text)
        self.assertIn("node 1         n1 (%s)" % self.node(1).admin_url, text)
        # The CSV: one column per --admin URL, in that order; every second of
        # the run has every node's count.
        head, rows = self.read_csv(files["csv"])
        self.assertEqual(head[-3:], ["conns_1", "conns_2", "conns_3"])
        self.assertGreaterEqual(len(rows), 3, rows)
        for row in rows:
            per_node = [int(v) for v in row[-3:]]
            self.assertEqual(sum(per_node), 300, row)
            self.assertTrue(all(v > 0 for v in per_node), row)
        # --clients-out: every client once, with the id the broker saw.
        lines = self.read_clients(files["clients"])
        self.assertEqual([int(l[0]) for l in lines], list(range(300)))
        ids = [l[1] for l in lines]
        self.assertEqual(len(set(ids)), 300)
        prefix = ids[0][:-len("-k0")]
        for l in lines:
            self.assertEqual(l[1], "%s-k%s" % (prefix, l[0]), l)
            self.assertEqual(l[2:], ["0", "0", "0", "0"], l)  # disconnects reconnects lost dups
        for i in (0, 1, 2, 150, 299):  # the node that holds its session knows the id
            found = [n.name for n in self.cluster.nodes
                     if n.admin("/api/v1/clients/" + ids[i])[0] == 200]
            self.assertTrue(found, "no node knows client %s" % ids[i])

    def test_ferrybench_reports_a_dead_node_as_unknown(self):
        h = self.haproxy()
        marks = self.cluster.marks()
        self.cluster.kill(2)
        h.wait_state("n2", "DOWN", CHECK_WAIT)
        # ferrybench's clients resume sessions (Clean Start 0), which asks
        # every node: start once the others have given n2 up.
        for i in (1, 3):
            self.node(i).wait_log("cluster: node n2 is down", since=marks["n%d" % i],
                                  timeout=15)
        kv, text, files = self.ferrybench(h, 60, 3)
        self.assertEqual((kv["complete"], kv["connected"], kv["lost"]), ("1", "60", "0"), text)
        # n2 never answered: partial, never a figure for it.
        self.assertEqual(kv["admin"], "partial", text)
        self.assertEqual(kv["admin_nodes"], "n1,na,n3", text)
        final = kv["admin_conns_final"].split(",")
        self.assertEqual(final[1], "na", text)
        self.assertEqual(int(final[0]) + int(final[2]), 60, text)
        self.assertEqual((kv["conns_total_min"], kv["balance_final"]), ("na", "na"), text)
        self.assertIn("no answer", text)
        _head, rows = self.read_csv(files["csv"])
        self.assertTrue(rows)
        for row in rows:
            self.assertEqual(row[-2], "", row)  # conns_2: unknown, left empty
            self.assertEqual(int(row[-3]) + int(row[-1]), 60, row)


if __name__ == "__main__":
    ft.main()
