"""scripts/demo_report.py, the report of `make demo`'s upgrade runs, on
hand-made inputs: a Rolling run (3 node columns, one node at 0 and then
not answering in turn, clients with 2 and 3 disconnects, one client
without a report) and a BlueGreen run (6 node columns, the green ones
empty at first and the blue ones empty at the end, a last second in which
no node answered). Checks the exact figures of summary.csv and of the text
table on stdout, the charts (PNG signature, gnuplot's data file), index.html
(the charts referenced, text escaped), a missing run skipped, and malformed
inputs refused with exit 2 naming the file and line.

No broker: only /usr/bin/python3 and gnuplot (gnuplot-nox, `make deps`)."""

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "scripts", "demo_report.py")
PYTHON = "/usr/bin/python3"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HEAD = ("t_s,connected,disconnects,reconnects,msgs_out,msgs_in,acked,unacked,"
        "failed_attempts,latency_max_ms")

# (t_s, connected, disconnects, reconnects, conns_1.. ; None = empty cell)
ROLLING_ROWS = [
    (1, 4, 0, 0, 2, 1, 1),   # still connecting: before the window
    (2, 10, 0, 0, 4, 3, 3),
    (3, 10, 0, 0, 4, 3, 3),
    (4, 6, 4, 0, 0, 3, 3),   # node 1 at 0
    (5, 9, 0, 3, None, 5, 4),  # node 1 restarting: no answer; peak reconnects
    (6, 10, 0, 1, 0, 6, 4),
    (7, 7, 3, 2, 2, 0, 5),   # node 2's turn
    (8, 10, 0, 1, 4, None, 6),
    (9, 8, 2, 0, 5, 0, 3),
    (10, 10, 0, 2, 5, 3, 2),
    (11, 10, 0, 0, 5, 3, 2),
    (12, 10, 0, 0, 5, 3, 2),  # final: 5/3/2
]
# index: (disconnects, reconnects, lost, dups); None = no report
ROLLING_CLIENTS = [
    (0, 0, 0, 0), (1, 1, 0, 0), (1, 1, 0, 0), (2, 2, 2, 0), (3, 3, 0, 0),
    (1, 1, 0, 0), (2, 2, 0, 1), (0, 0, "-", 0), None, (1, 1, 0, 0),
]
BLUEGREEN_ROWS = [
    (1, 9, 0, 0, 3, 3, 3, None, None, None),  # before the window
    (2, 12, 0, 0, 4, 4, 4, None, None, None),
    (3, 12, 0, 0, 4, 4, 4, 0, None, 0),
    (4, 12, 0, 0, 4, 4, 4, 0, 0, 0),
    (5, 11, 1, 0, 3, 4, 4, 0, 0, 0),           # lowest within the window
    (6, 12, 2, 3, 2, 3, 4, 2, 1, 0),
    (7, 12, 3, 4, 1, 2, 2, 3, 2, 2),           # peak reconnects
    (8, 12, 3, 3, 0, 1, 1, 4, 3, 3),
    (9, 12, 2, 2, 0, 0, 0, 5, 4, 3),
    (10, 12, 0, 0, None, None, None, 5, 4, 3),  # blue gone; final 5/4/3
    (11, 12, 0, 0, None, None, None, None, None, None),  # no node answered
]
BLUEGREEN_CLIENTS = [(1, 1, 0, 0)] * 8 + [(0, 0, 0, 0)] * 4


def csv_text(rows, ncols):
    lines = [HEAD + "".join(",conns_%d" % i for i in range(1, ncols + 1))]
    for r in rows:
        t, conn, disc, rec = r[:4]
        fixed = [t, conn, disc, rec, 10 * t, 10 * t, 10 * t, 0, 0, "1.250"]
        cells = ["" if v is None else str(v) for v in r[4:]]
        lines.append(",".join(str(v) for v in fixed + cells))
    return "\n".join(lines) + "\n"


def clients_text(clients):
    out = []
    for i, c in enumerate(clients):
        cid = "fb1234-k%d" % i
        if c is None:
            out.append("%d %s - - - -" % (i, cid))
        else:
            out.append("%d %s %s %s %s %s" % ((i, cid) + tuple(c)))
    return "\n".join(out) + "\n"


def bench_out(n, disc_max, lost, admin_nodes, serving, balance):
    return ("ferrybench clients: %d clients, QoS 1 at 1 msgs/s each to a peer, 30 s\n"
            "  connected      %d of %d at the end\n"
            "ferrybench mode=clients n=%d workers=1 duration_s=30 rate=1 qos=1 connected=%d "
            "disconnects=0 disc_max=%d disc_mean=0.0000 clients_disconnected=0 "
            "reconnects=0 sent=300 acked=300 nacked=0 rx=300 lost=%d lost_publishers=0 "
            "dup=0 dup_clients=0 lost_q1=%d dup_q1=0 reorder=0 missing_reports=0 "
            "hosts=127.0.0.1 ports=1883 latency_p50_ms=1.000 admin=partial "
            "nodes_min_serving=%s conns_total_min=na balance_final=%s admin_polls=30 "
            "admin_polls_failed=3 admin_nodes=%s admin_conns_final=1,2,3 complete=1\n"
            % (n, n, n, n, n, disc_max, lost, lost, serving, balance, admin_nodes))


ROLLING_META = {
    "strategy": "Rolling", "clients": 10, "replicas": 3,
    "nodes": [  # column 3 left out: named from bench.out's admin_nodes
        {"column": 1, "name": "demo-aaaa-0", "revision": "aaaa", "role": "blue"},
        {"column": 2, "name": "demo-a&b<1>", "revision": None, "role": "blue"},
    ],
    "upgrade_start_s": 3.5, "upgrade_end_s": 9.2,
}
BLUEGREEN_META = {
    "strategy": "BlueGreen", "clients": 12, "replicas": 3,
    "nodes": [{"column": c, "name": "demo-%s-%d" % (rev, (c - 1) % 3), "revision": rev,
               "role": role}
              for c, rev, role in ((1, "aaaa", "blue"), (2, "aaaa", "blue"),
                                   (3, "aaaa", "blue"), (4, "bbbb", "green"),
                                   (5, "bbbb", "green"), (6, "bbbb", "green"))],
    "upgrade_start_s": 2.0, "upgrade_end_s": None,  # end unknown
}


def write_run(base, key, rows, ncols, clients, meta, out):
    d = os.path.join(base, key)
    os.makedirs(d)
    files = {"bench.csv": csv_text(rows, ncols), "clients.txt": clients_text(clients),
             "meta.json": json.dumps(meta, indent=2), "bench.out": out}
    for name, text in files.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    return d


class DemoReport(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fmq-demo-report-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        write_run(self.dir, "rolling", ROLLING_ROWS, 3, ROLLING_CLIENTS, ROLLING_META,
                  bench_out(10, 3, 2, "n1,n2,fallback-n3", "2", "2.500"))
        write_run(self.dir, "bluegreen", BLUEGREEN_ROWS, 6, BLUEGREEN_CLIENTS, BLUEGREEN_META,
                  bench_out(12, 1, 0, "b0,b1,b2,g0,g1,g2", "na", "inf"))

    def run_report(self):
        return subprocess.run([PYTHON, "-B", SCRIPT, self.dir], capture_output=True,
                              text=True, timeout=120)

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def summary(self):
        with open(self.path("summary.csv"), newline="") as f:
            return list(csv.DictReader(f))

    def table(self, stdout):
        """{label: [value per run]} from the aligned text table."""
        lines = stdout.rstrip("\n").split("\n")
        head = lines[0].split()
        out = {"": head}
        for line in lines[1:]:
            cells = line.split()
            out[" ".join(cells[:-len(head)])] = cells[-len(head):]
        return out

    def test_figures_charts_and_page(self):
        r = self.run_report()
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = self.summary()
        self.assertEqual([row["strategy"] for row in rows], ["Rolling", "BlueGreen"])
        rolling, bluegreen = rows
        self.assertEqual(rolling, {
            "strategy": "Rolling", "clients": "10",
            "disconnects_max": "3", "disconnects_mean": "1.222",  # 11 / 9 reported
            "clients_disconnected_0": "2", "clients_disconnected_1": "4",
            "clients_disconnected_2": "2", "clients_disconnected_3plus": "1",
            "lowest_connected": "6",  # t 4; t 1's 4 is before the window (3..10)
            "peak_reconnect_rate_per_s": "3",
            "nodes_serving_min": "2",  # an empty cell counts as not serving
            "final_balance_max_min": "2.50", "final_conns": "5/3/2",
            "qos1_lost": "2", "duration_s": "5.7", "clients_no_report": "1",
        })
        self.assertEqual(bluegreen, {
            "strategy": "BlueGreen", "clients": "12",
            "disconnects_max": "1", "disconnects_mean": "0.667",
            "clients_disconnected_0": "4", "clients_disconnected_1": "8",
            "clients_disconnected_2": "0", "clients_disconnected_3plus": "0",
            "lowest_connected": "11",  # window from t 2: t 1's 9 is not in it
            "peak_reconnect_rate_per_s": "4",
            "nodes_serving_min": "3",
            # the last row (no node answered) is skipped: t 10's green nodes
            "final_balance_max_min": "1.67", "final_conns": "5/4/3",
            "qos1_lost": "0",
            "duration_s": "11.0",  # end unknown: the run's length
            "clients_no_report": "0",
        })

        t = self.table(r.stdout)
        self.assertEqual(t[""], ["Rolling", "BlueGreen"])
        self.assertEqual(t["disconnects per client, max"], ["3", "1"])
        self.assertEqual(t["clients disconnected 0 times"], ["2", "4"])
        self.assertEqual(t["clients disconnected 1 time"], ["4", "8"])
        self.assertEqual(t["clients disconnected 2 times"], ["2", "0"])
        self.assertEqual(t["clients disconnected 3+ times"], ["1", "0"])
        self.assertEqual(t["lowest connected"], ["6", "11"])
        self.assertEqual(t["peak reconnect rate (/s)"], ["3", "4"])
        self.assertEqual(t["nodes serving (minimum)"], ["2", "3"])
        self.assertEqual(t["final balance (max/min)"], ["2.50", "1.67"])
        self.assertEqual(t["final connections per node"], ["5/3/2", "5/4/3"])
        self.assertEqual(t["QoS 1 messages lost"], ["2", "0"])
        self.assertEqual(t["duration (s)"], ["5.7", "11.0"])
        # Aligned: every value column ends at the same place on every line.
        lines = r.stdout.rstrip("\n").split("\n")
        self.assertEqual(len({len(line) for line in lines}), 1, r.stdout)

        for key in ("rolling", "bluegreen"):
            with open(self.path("conns_%s.png" % key), "rb") as f:
                png = f.read()
            self.assertEqual(png[:8], PNG_SIGNATURE, key)
            self.assertGreater(len(png), 5000, key)
        # The chart data: NaN for an empty cell (a gap in the line).
        with open(self.path("conns_bluegreen.csv"), newline="") as f:
            data = list(csv.reader(f))
        self.assertEqual(data[0], ["t_s", "connected", "demo-aaaa-0", "demo-aaaa-1",
                                   "demo-aaaa-2", "demo-bbbb-0", "demo-bbbb-1", "demo-bbbb-2"])
        self.assertEqual(data[1], ["1", "9", "3", "3", "3", "NaN", "NaN", "NaN"])
        self.assertEqual(len(data), 1 + len(BLUEGREEN_ROWS))

        with open(self.path("index.html"), encoding="utf-8") as f:
            page = f.read()
        self.assertIn('<img src="conns_rolling.png"', page)
        self.assertIn('<img src="conns_bluegreen.png"', page)
        self.assertIn("demo-a&amp;b&lt;1&gt;", page)  # escaped
        self.assertNotIn("demo-a&b<1>", page)
        self.assertIn("fallback-n3", page)  # column 3's name from bench.out
        self.assertIn("Side by side", page)
        self.assertNotIn("http://", page)  # self-contained
        self.assertNotIn("https://", page)

    def test_missing_run_is_skipped(self):
        shutil.rmtree(self.path("bluegreen"))
        r = self.run_report()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("bluegreen", r.stderr)
        self.assertEqual([row["strategy"] for row in self.summary()], ["Rolling"])
        self.assertEqual(self.table(r.stdout)[""], ["Rolling"])
        with open(self.path("index.html"), encoding="utf-8") as f:
            page = f.read()
        self.assertIn("conns_rolling.png", page)
        self.assertNotIn("conns_bluegreen.png", page)

    def test_no_run_at_all(self):
        shutil.rmtree(self.path("rolling"))
        shutil.rmtree(self.path("bluegreen"))
        r = self.run_report()
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("nothing to report", r.stderr)

    def corrupt(self, key, name, line, text):
        p = self.path(key, name)
        with open(p) as f:
            lines = f.read().split("\n")
        lines[line - 1] = text
        with open(p, "w") as f:
            f.write("\n".join(lines))
        return p

    def assert_refused(self, p, line, what):
        r = self.run_report()
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        where = p if line is None else "%s:%d" % (p, line)
        self.assertIn(where, r.stderr)
        self.assertIn(what, r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertFalse(os.path.exists(self.path("summary.csv")))

    def test_malformed_csv(self):
        p = self.corrupt("bluegreen", "bench.csv", 5, "4,12,x,0,40,40,40,0,0,1.250,4,4,4,0,0,0")
        self.assert_refused(p, 5, "disconnects")

    def test_csv_row_with_missing_field(self):
        p = self.corrupt("rolling", "bench.csv", 3, "2,10,0,0,20,20,20,0,0,1.250,4,3")
        self.assert_refused(p, 3, "12 fields, the header has 13")

    def test_csv_bad_header(self):
        p = self.corrupt("rolling", "bench.csv", 1, HEAD + ",conns_1,conns_3,conns_2")
        self.assert_refused(p, 1, "conns_2")

    def test_malformed_clients(self):
        p = self.corrupt("rolling", "clients.txt", 4, "3 fb1234-k3 2 two 0 0")
        self.assert_refused(p, 4, "reconnects")

    def test_malformed_meta(self):
        p = self.path("rolling", "meta.json")
        with open(p, "w") as f:
            f.write('{"strategy": "Rolling",\n "clients": 10,\n}\n')
        self.assert_refused(p, 3, "not JSON")
        meta = dict(BLUEGREEN_META, nodes=BLUEGREEN_META["nodes"] + [
            {"column": 7, "name": "x", "revision": None, "role": "green"}])
        p = self.path("bluegreen", "meta.json")
        with open(self.path("rolling", "meta.json"), "w") as f:
            json.dump(ROLLING_META, f)
        with open(p, "w") as f:
            json.dump(meta, f)
        self.assert_refused(p, None, "column")

    def test_bench_out_without_summary(self):
        p = self.path("rolling", "bench.out")
        with open(p, "w") as f:
            f.write("ferrybench clients: 10 clients\n  connected 10 of 10\n")
        self.assert_refused(p, 2, "key=value")


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
