"""Upgrades under load, end to end: scripts/demo.sh (the README's main job)
with 500 ferrybench clients (persistent sessions, QoS 1 both ways) on a
3-node cluster managed by ferry-operator.

- BlueGreen behind haproxy (leastconn): every client is disconnected exactly
  once (each was on a blue node), no QoS 1 message is lost, at least 3 nodes
  serve at every second, and the final balance is within 15%;
- Rolling, same harness: clients are disconnected more than once (the
  baseline the product exists to remove);
- the demo's report: summary.csv, index.html and the gnuplot charts;
- BlueGreen behind the kernel load balancer (nftables DNAT in a network
  namespace), when run as root.

Loopback (and a namespace of our own) only; every run is bounded."""

import csv
import os
import shutil
import subprocess
import tempfile
import unittest

import fmqtest as ft

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO = os.path.join(HERE, "..", "..", "scripts", "demo.sh")
OPERATOR = os.environ.get("FMQ_IT_FERRY_OPERATOR", "")


def kv_line(path):
    """The key=value summary, ferrybench's last stdout line."""
    last = [l for l in open(path) if "=" in l][-1]
    return dict(p.split("=", 1) for p in last.split() if "=" in p)


def clients(path):
    rows = []
    for line in open(path):
        f = line.split()
        if len(f) >= 6 and f[0].isdigit():
            rows.append((f[1], f[2], f[3], f[4]))
    return rows


class Upgrade(unittest.TestCase):
    def demo(self, strategies, lb="haproxy", n=500):
        if not os.access(OPERATOR, os.X_OK):
            self.skipTest("FMQ_IT_FERRY_OPERATOR not set")
        tmp = tempfile.mkdtemp(prefix="fmq-it-upgrade-")
        self.addCleanup(shutil.rmtree, tmp, True)
        env = dict(os.environ,
                   FERRYMQ=os.environ["FMQ_IT_FERRYMQ"],
                   FERRYBENCH=os.environ["FMQ_IT_FERRYBENCH"],
                   FERRY_OPERATOR=OPERATOR,
                   STRATEGIES=" ".join(strategies), LB=lb, CLIENTS=str(n),
                   INITIAL_DELAY="2", WAIT_TAKEOVER="2", CONN_RATE="200", SESS_RATE="200",
                   SETTLE="4", MSG_RATE="1", REPORT_DIR=os.path.join(tmp, "report"),
                   RUN_DIR=os.path.join(tmp, "run"),
                   PORT_BASE=str(10000 + (os.getpid() % 19) * 1000),
                   SERVICE_PORT=str(ft.free_port()))
        p = subprocess.run(["bash", DEMO], env=env, capture_output=True, text=True, timeout=400)
        self.assertEqual(p.returncode, 0, "demo.sh failed:\n%s\n%s" % (p.stdout, p.stderr[-5000:]))
        return os.path.join(tmp, "report"), p.stdout

    def summary(self, report):
        with open(os.path.join(report, "summary.csv")) as f:
            return {r["strategy"]: r for r in csv.DictReader(f)}

    def assert_blue_green(self, report, strategy_dir, balance_max):
        run = os.path.join(report, strategy_dir)
        kv = kv_line(os.path.join(run, "bench.out"))
        rows = clients(os.path.join(run, "clients.txt"))
        self.assertEqual(len(rows), 500)
        self.assertTrue(all(r[1] != "-" for r in rows), "a client sent no report")
        disc = [int(r[1]) for r in rows]
        # Every client sat on a blue node and was moved once, no more.
        self.assertEqual(max(disc), 1, "disconnects per client: %r" % sorted(set(disc)))
        self.assertEqual(min(disc), 1, "a client was never moved off blue")
        self.assertEqual(kv.get("lost"), "0", kv)
        self.assertEqual(sum(int(r[3]) for r in rows if r[3] != "-"), 0)
        s = self.summary(report)["BlueGreen"]
        self.assertGreaterEqual(int(s["nodes_serving_min"]), 3, s)
        self.assertLessEqual(float(s["final_balance_max_min"]), balance_max, s)
        self.assertEqual(len(s["final_conns"].split("/")), 3, s)

    def test_blue_green_then_rolling_behind_haproxy(self):
        report, out = self.demo(["BlueGreen", "Rolling"])
        self.assert_blue_green(report, "bluegreen", 1.15)
        # Rolling: the same clients are cut off again and again.
        rows = clients(os.path.join(report, "rolling", "clients.txt"))
        disc = [int(r[1]) for r in rows if r[1] != "-"]
        self.assertGreaterEqual(max(disc), 2, "Rolling disconnected no client twice")
        s = self.summary(report)
        self.assertGreaterEqual(int(s["Rolling"]["disconnects_max"]), 2)
        # The report: page, charts, and the table printed at the end.
        for f in ("index.html", "conns_bluegreen.png", "conns_rolling.png", "summary.csv"):
            self.assertTrue(os.path.getsize(os.path.join(report, f)) > 0, f)
        with open(os.path.join(report, "conns_bluegreen.png"), "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        self.assertIn("disconnects per client, max", out)

    def test_blue_green_behind_the_kernel_load_balancer(self):
        if os.geteuid() != 0:
            self.skipTest("the kernel load balancer needs root")
        if subprocess.run(["nft", "--version"], capture_output=True).returncode != 0:
            self.skipTest("nft not available")
        report, _ = self.demo(["BlueGreen"], lb="kernel")
        # Random selection (as kube-proxy): balance is statistical, not exact.
        self.assert_blue_green(report, "bluegreen", 1.5)


if __name__ == "__main__":
    ft.main()
