#!/usr/bin/python3
"""demo_report.py REPORT_DIR: the report of `make demo`'s upgrade runs.

`make demo` upgrades a 3-node FerryMQ cluster twice under load from
`ferrybench clients` -- a Rolling upgrade, then a BlueGreen one -- and keeps
each run's files in a directory of its own. This script reads them and
writes, in REPORT_DIR:

  conns_rolling.png, conns_bluegreen.png
      connections per node over time: one line per node column (labelled
      with the node's name; blue nodes in shades of blue, green nodes in
      shades of green, nodes without a role in other colours), the clients
      ferrybench had connected as a thick grey line, dashed vertical lines
      at the upgrade's start and end. Drawn by gnuplot (pngcairo, else png)
      from conns_<run>.csv with conns_<run>.gp, both kept next to the PNG.
  conns_rolling.csv, conns_bluegreen.csv
      the chart data: t_s,connected,<node 1>,...,<node N>; NaN where a node
      did not answer (gnuplot breaks the line there).
  summary.csv
      one row per run, columns (in this order):
        strategy, clients, disconnects_max, disconnects_mean,
        clients_disconnected_0, clients_disconnected_1,
        clients_disconnected_2, clients_disconnected_3plus,
        lowest_connected, peak_reconnect_rate_per_s, nodes_serving_min,
        final_balance_max_min, final_conns, qos1_lost, duration_s,
        clients_no_report
      (definitions below).
  index.html
      a self-contained page (inline style; only the PNGs next to it are
      referenced): one section per run with its chart, what the chart shows,
      its figures and its nodes, then the runs side by side and the
      definitions.

and prints the side-by-side table (one column per run) on stdout; notes go
to stderr.

Runs: REPORT_DIR/rolling/ and REPORT_DIR/bluegreen/. A run whose directory
does not exist is skipped with a note on stderr. Each run directory holds:

  bench.csv    ferrybench clients --csv: the header
                 t_s,connected,disconnects,reconnects,msgs_out,msgs_in,acked,
                 unacked,failed_attempts,latency_max_ms,conns_1,...,conns_N
               then one row a second while the clients run and drain. t_s is
               whole seconds since the clients started; connected and unacked
               are levels; disconnects, reconnects, msgs_out, msgs_in, acked
               and failed_attempts are the increase over that second (the
               D() macro of src/bench/parent.c: totals now minus a second
               ago), so they are rates per second, never cumulative;
               latency_max_ms has 3 decimals. conns_i is the connection count
               of node i (--admin URL order) in that second's poll, EMPTY when
               the node did not answer (not there yet, gone, or too slow).
  clients.txt  ferrybench --clients-out, one line per client in index order:
                 <index> <client id> <disconnects> <reconnects> <lost> <dups>
               "<index> <id> - - - -" when the client sent no final report;
               <lost> alone is "-" when its receiver (the next client) sent
               none.
  bench.out    ferrybench's stdout. Its last line is the summary,
                 ferrybench mode=clients n=... disc_max=... lost=...
                 lost_q1=... complete=...
               (with --admin also admin_nodes=<names> nodes_min_serving=...
               balance_final=...). Used: n, qos, lost_q<qos> (else lost),
               disc_max, complete, admin_nodes (fallback node names) and,
               for comparison only, nodes_min_serving.
  meta.json    written by the demo script:
                 {"strategy": "Rolling" | "BlueGreen",
                  "clients": 5000,            # integer >= 1: ferrybench -n
                  "replicas": 3,              # integer >= 1
                  "nodes": [                  # one entry per conns_i column
                    {"column": 1,             # i of conns_i, 1-based, unique
                     "name": "demo-3f2a1b0c9d-0",   # non-empty string
                     "revision": "3f2a1b0c9d",      # string or null
                     "role": "blue" | "green" | null},
                    ...],
                  "upgrade_start_s": 12.0,    # number or null (or absent)
                  "upgrade_end_s": 95.5,      # number or null (or absent)
                  "stopped_by_demo": true}    # optional: the run was ended by a
                                              # signal on purpose (no "cut short" note)
               The times are seconds on bench.csv's t_s axis. A column
               without an entry is named from bench.out's admin_nodes, else
               "node <i>". Other keys are ignored. clients must equal the
               number of lines of clients.txt.

Definitions (the "upgrade window" is the rows with
floor(upgrade_start_s) <= t_s <= ceil(upgrade_end_s); a missing bound is
the start or the end of the run; with neither, the whole run):

  disconnects_max / _mean     per client, from clients.txt (clients with a
                              report; the mean with 3 decimals)
  clients_disconnected_K      clients with exactly K disconnects (3plus: 3
                              or more), from clients.txt
  clients_no_report           clients.txt lines with "-" (not in the
                              histogram, nor in the max and mean)
  lowest_connected            min of bench.csv's `connected` over the
                              upgrade window
  peak_reconnect_rate_per_s   max of bench.csv's per-second `reconnects`
                              over the whole run
  nodes_serving_min           over the upgrade window, the fewest node
                              columns with conns > 0 in the same second; an
                              empty cell counts as not serving (the node is
                              not there or cannot answer its admin API);
                              seconds in which no node answered are left
                              out; "na" without node columns. This is not
                              ferrybench's nodes_min_serving, which covers
                              the whole run and only seconds in which every
                              --admin node answered (never, in a BlueGreen
                              run whose green nodes appear after its blue
                              ones are gone); that figure is shown next to
                              ours in index.html.
  final_conns                 the last bench.csv row in which some node
                              answered: the connections of the nodes that
                              answered there, in column order, "a/b/c"
  final_balance_max_min       max/min of final_conns, 2 decimals; "inf"
                              when the smallest is 0 and the largest is not,
                              "na" when all are 0 or there are none
  qos1_lost                   bench.out's lost_q1 (else lost): the messages
                              a client published that its receiver never got
  duration_s                  upgrade_end_s - upgrade_start_s when both are
                              known, else the run's length (the last t_s of
                              bench.csv), 1 decimal

Exit status: 0 done; 2 bad input (usage, a missing or malformed file in a
run directory -- the message names the file and line -- or no run
directory at all); 1 gnuplot failed or an output could not be written.
"""

import csv
import html
import io
import json
import math
import os
import shutil
import subprocess
import sys

RUNS = (("rolling", "Rolling"), ("bluegreen", "BlueGreen"))
STRATEGIES = ("Rolling", "BlueGreen")
ROLES = ("blue", "green", None)
FIXED = ["t_s", "connected", "disconnects", "reconnects", "msgs_out", "msgs_in", "acked",
         "unacked", "failed_attempts", "latency_max_ms"]
SUMMARY_COLUMNS = [
    "strategy", "clients", "disconnects_max", "disconnects_mean",
    "clients_disconnected_0", "clients_disconnected_1", "clients_disconnected_2",
    "clients_disconnected_3plus", "lowest_connected", "peak_reconnect_rate_per_s",
    "nodes_serving_min", "final_balance_max_min", "final_conns", "qos1_lost", "duration_s",
    "clients_no_report",
]
# The rows of the text and HTML tables: (summary column, label).
LABELS = [
    ("clients", "clients"),
    ("disconnects_max", "disconnects per client, max"),
    ("disconnects_mean", "disconnects per client, mean"),
    ("clients_disconnected_0", "clients disconnected 0 times"),
    ("clients_disconnected_1", "clients disconnected 1 time"),
    ("clients_disconnected_2", "clients disconnected 2 times"),
    ("clients_disconnected_3plus", "clients disconnected 3+ times"),
    ("lowest_connected", "lowest connected"),
    ("peak_reconnect_rate_per_s", "peak reconnect rate (/s)"),
    ("nodes_serving_min", "nodes serving (minimum)"),
    ("final_balance_max_min", "final balance (max/min)"),
    ("final_conns", "final connections per node"),
    ("qos1_lost", "QoS 1 messages lost"),
    ("duration_s", "duration (s)"),
    ("clients_no_report", "clients without a report"),
]
BLUES = ["#08519c", "#3182bd", "#6baed6", "#08306b", "#4292c6", "#9ecae1"]
GREENS = ["#006d2c", "#31a354", "#74c476", "#00441b", "#41ab5d", "#a1d99b"]
OTHERS = ["#d95f02", "#7570b3", "#e7298a", "#a6761d", "#e6ab02", "#666600"]


class InputError(Exception):
    """Bad input: exit 2 with the message (which names the file)."""


class OutputError(Exception):
    """gnuplot failed or a file could not be written: exit 1."""


def note(msg):
    print("demo_report: note: " + msg, file=sys.stderr)


def bad(path, line, msg):
    where = path if line is None else "%s:%d" % (path, line)
    return InputError("%s: %s" % (where, msg))


def read_text(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise InputError("%s: missing" % path)
    except OSError as e:
        raise InputError("%s: cannot read: %s" % (path, e.strerror))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise bad(path, line, "not UTF-8 text")


def parse_int(s, path, line, what, allow_negative=False):
    t = s.strip()
    body = t[1:] if t.startswith("-") and allow_negative else t
    if not body.isdigit() or not body.isascii():
        raise bad(path, line, "%s: %r is not %s integer"
                  % (what, s, "an" if allow_negative else "a non-negative"))
    return int(t)


# ---------------------------------------------------------------- inputs

def read_bench_csv(path):
    """-> (number of node columns, rows); a row is a dict with the FIXED
    keys (ints; latency_max_ms a float) and "conns": [int or None] * N."""
    text = read_text(path)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise bad(path, 1, "empty file (no header)")
    head = lines[0].rstrip("\r").split(",")
    if head[:len(FIXED)] != FIXED:
        raise bad(path, 1, "header must start with %s" % ",".join(FIXED))
    ncols = len(head) - len(FIXED)
    for i, name in enumerate(head[len(FIXED):], 1):
        if name != "conns_%d" % i:
            raise bad(path, 1, "header column %d is %r, expected conns_%d"
                      % (len(FIXED) + i, name, i))
    rows = []
    for ln, raw in enumerate(lines[1:], 2):
        f = raw.rstrip("\r").split(",")
        if len(f) != len(head):
            raise bad(path, ln, "%d fields, the header has %d" % (len(f), len(head)))
        row = {}
        for k, v in zip(FIXED, f):
            if k == "latency_max_ms":
                try:
                    x = float(v)
                except ValueError:
                    x = float("nan")
                if not math.isfinite(x) or x < 0:
                    raise bad(path, ln, "latency_max_ms: %r is not a number" % v)
                row[k] = x
            else:
                # connected and unacked are levels; the rest are per-second
                # deltas, which the code would let go below 0 only if a
                # worker's totals fell: accepted, not clamped.
                row[k] = parse_int(v, path, ln, k, allow_negative=k not in
                                   ("t_s", "connected", "unacked"))
        row["conns"] = [None if v == "" else parse_int(v, path, ln, "conns_%d" % i)
                        for i, v in enumerate(f[len(FIXED):], 1)]
        if rows and row["t_s"] < rows[-1]["t_s"]:
            raise bad(path, ln, "t_s %d goes back (previous row: %d)"
                      % (row["t_s"], rows[-1]["t_s"]))
        rows.append(row)
    if not rows:
        raise bad(path, 2, "no data rows after the header")
    return ncols, rows


def read_clients(path):
    """-> list of (index, id, disconnects, reconnects, lost, dups); None for '-'."""
    text = read_text(path)
    out = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for ln, raw in enumerate(lines, 1):
        f = raw.rstrip("\r").split(" ")
        if len(f) != 6:
            raise bad(path, ln, "%d fields, expected 6: index id disconnects reconnects "
                      "lost dups" % len(f))
        idx = parse_int(f[0], path, ln, "index")
        if idx != len(out):
            raise bad(path, ln, "index %d, expected %d (one line per client, in order)"
                      % (idx, len(out)))
        if not f[1]:
            raise bad(path, ln, "empty client id")
        vals = [None if v == "-" else parse_int(v, path, ln, what)
                for v, what in zip(f[2:], ("disconnects", "reconnects", "lost", "dups"))]
        no_report = vals[0] is None
        if any((v is None) != no_report for v in (vals[1], vals[3])):
            raise bad(path, ln, "either every count or none may be '-' (lost alone may be)")
        if no_report and vals[2] is not None:
            raise bad(path, ln, "lost given for a client without a report")
        out.append((idx, f[1], *vals))
    if not out:
        raise bad(path, None, "no clients")
    return out


def read_summary(path):
    """The key=value pairs of bench.out's last non-empty line."""
    text = read_text(path)
    lines = text.split("\n")
    ln = len(lines)
    while ln > 0 and not lines[ln - 1].strip():
        ln -= 1
    if ln == 0:
        raise bad(path, None, "empty: no key=value summary line")
    toks = lines[ln - 1].strip().split()
    if toks[0] != "ferrybench":
        raise bad(path, ln, "the last line is not ferrybench's key=value summary "
                  "(it starts with %r)" % toks[0][:40])
    kv = {}
    for t in toks[1:]:
        k, eq, v = t.partition("=")
        if not eq or not k:
            raise bad(path, ln, "%r is not key=value" % t[:60])
        kv[k] = v
    if kv.get("mode") != "clients":
        raise bad(path, ln, "mode=%s, expected mode=clients" % kv.get("mode", "(none)"))
    return ln, kv


def read_meta(path, ncols):
    text = read_text(path)
    try:
        m = json.loads(text)
    except json.JSONDecodeError as e:
        raise bad(path, e.lineno, "not JSON: %s" % e.msg)

    def fail(msg):
        return bad(path, None, msg)

    if not isinstance(m, dict):
        raise fail("not a JSON object")
    if m.get("strategy") not in STRATEGIES:
        raise fail("strategy: %r, expected one of %s" % (m.get("strategy"), ", ".join(STRATEGIES)))
    for k in ("clients", "replicas"):
        v = m.get(k)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise fail("%s: %r, expected an integer >= 1" % (k, v))
    times = {}
    for k in ("upgrade_start_s", "upgrade_end_s"):
        v = m.get(k)
        if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool)
                              or not math.isfinite(v)):
            raise fail("%s: %r, expected a number or null" % (k, v))
        times[k] = None if v is None else float(v)
    if (times["upgrade_start_s"] is not None and times["upgrade_end_s"] is not None
            and times["upgrade_end_s"] < times["upgrade_start_s"]):
        raise fail("upgrade_end_s %g is before upgrade_start_s %g"
                   % (times["upgrade_end_s"], times["upgrade_start_s"]))
    nodes = m.get("nodes")
    if not isinstance(nodes, list):
        raise fail("nodes: expected a list")
    by_col = {}
    for i, n in enumerate(nodes):
        what = "nodes[%d]" % i
        if not isinstance(n, dict):
            raise fail("%s: expected an object" % what)
        c = n.get("column")
        if not isinstance(c, int) or isinstance(c, bool) or not 1 <= c <= ncols:
            raise fail("%s.column: %r, expected 1..%d (bench.csv has %d conns_ columns)"
                       % (what, c, ncols, ncols))
        if c in by_col:
            raise fail("%s.column: %d given twice" % (what, c))
        name = n.get("name")
        if not isinstance(name, str) or not name.strip():
            raise fail("%s.name: expected a non-empty string" % what)
        rev = n.get("revision")
        if rev is not None and not isinstance(rev, str):
            raise fail("%s.revision: expected a string or null" % what)
        role = n.get("role")
        if role not in ROLES:
            raise fail("%s.role: %r, expected \"blue\", \"green\" or null" % (what, role))
        by_col[c] = {"name": name, "revision": rev, "role": role}
    return {"strategy": m["strategy"], "clients": m["clients"], "replicas": m["replicas"],
            "nodes": by_col, "stopped_by_demo": m.get("stopped_by_demo") is True, **times}


# ---------------------------------------------------------------- figures

def fmt_t(x):
    return "%g" % x


def analyse(key, d):
    """Reads one run directory -> a dict with everything the outputs need."""
    p = {n: os.path.join(d, n) for n in ("bench.csv", "clients.txt", "bench.out", "meta.json")}
    ncols, rows = read_bench_csv(p["bench.csv"])
    meta = read_meta(p["meta.json"], ncols)
    clients = read_clients(p["clients.txt"])
    kv_line, kv = read_summary(p["bench.out"])
    if len(clients) != meta["clients"]:
        raise bad(p["clients.txt"], None, "%d clients, but %s says clients=%d"
                  % (len(clients), p["meta.json"], meta["clients"]))
    if kv.get("n") not in (None, str(meta["clients"])):
        note("%s: n=%s but meta.json says clients=%d" % (p["bench.out"], kv["n"], meta["clients"]))
    if meta["strategy"] != dict(RUNS)[key]:
        note("%s: strategy %s in the %s/ directory" % (p["meta.json"], meta["strategy"], key))

    # Clients.
    hist = [0, 0, 0, 0]
    reported = [c for c in clients if c[2] is not None]
    for c in reported:
        hist[min(c[2], 3)] += 1
    disc_max = max((c[2] for c in reported), default=0)
    disc_mean = sum(c[2] for c in reported) / len(reported) if reported else 0.0
    lost_sum = sum(c[4] for c in clients if c[4] is not None)
    if "disc_max" in kv and kv["disc_max"] != str(disc_max):
        note("%s: disc_max=%s but clients.txt gives %d" % (p["bench.out"], kv["disc_max"], disc_max))
    qos = kv.get("qos", "1")
    lost = kv.get("lost_q1", kv.get("lost"))
    if lost is None:
        lost = str(lost_sum)
        note("%s: no lost= in the summary: qos1_lost from clients.txt" % p["bench.out"])
    elif lost.isdigit() and int(lost) != lost_sum:
        note("%s: lost=%s but clients.txt's lost column sums to %d" % (p["bench.out"], lost, lost_sum))
    if qos != "1":
        note("%s: the run used QoS %s; qos1_lost holds its lost count" % (p["bench.out"], qos))
    if kv.get("complete") == "0" and not meta["stopped_by_demo"]:
        note("%s: ferrybench's run was cut short (complete=0)" % p["bench.out"])

    # Nodes: names, roles, colours.
    admin_names = kv.get("admin_nodes", "").split(",") if kv.get("admin_nodes") else []
    nodes = []
    counters = {"blue": 0, "green": 0, None: 0}
    for c in range(1, ncols + 1):
        m = meta["nodes"].get(c)
        if m:
            name, rev, role = m["name"], m["revision"], m["role"]
        else:
            nm = admin_names[c - 1] if c - 1 < len(admin_names) else "na"
            name, rev, role = (nm if nm != "na" else "node %d" % c), None, None
        pal = {"blue": BLUES, "green": GREENS, None: OTHERS}[role]
        colour = pal[counters[role] % len(pal)]
        counters[role] += 1
        seen = [(r["t_s"], r["conns"][c - 1]) for r in rows if r["conns"][c - 1] is not None]
        nodes.append({
            "column": c, "name": name, "revision": rev, "role": role, "colour": colour,
            "answered": len(seen),
            "first": seen[0] if seen else None, "last": seen[-1] if seen else None,
            "min": min(v for _, v in seen) if seen else None,
            "max": max(v for _, v in seen) if seen else None,
        })

    # The upgrade window.
    start, end = meta["upgrade_start_s"], meta["upgrade_end_s"]
    lo = math.floor(start) if start is not None else None
    hi = math.ceil(end) if end is not None else None
    win = [r for r in rows if (lo is None or r["t_s"] >= lo) and (hi is None or r["t_s"] <= hi)]
    if start is None and end is None:
        window = "the whole run (upgrade start and end unknown)"
    else:
        window = "the upgrade window, t_s %s..%s" % (
            lo if lo is not None else "start", hi if hi is not None else "end")
    if not win:
        note("%s: no bench.csv row within t_s %s..%s: figures over the whole run"
             % (d, lo, hi))
        win = rows
        window = "the whole run (no bench.csv row within the upgrade window)"

    low = min(win, key=lambda r: r["connected"])
    peak = max(rows, key=lambda r: r["reconnects"])
    serving = None
    if ncols:
        counted = [(sum(1 for v in r["conns"] if v is not None and v > 0), r["t_s"])
                   for r in win if any(v is not None for v in r["conns"])]
        if counted:
            serving = min(counted, key=lambda x: x[0])
        else:
            note("%s: no node answered within the window: nodes_serving_min na" % d)
    final = None
    for r in reversed(rows):
        vals = [v for v in r["conns"] if v is not None]
        if vals:
            final = (r["t_s"], vals)
            break
    if final is None:
        balance, final_conns = "na", "na"
    else:
        mx, mn = max(final[1]), min(final[1])
        balance = "na" if mx == 0 else "inf" if mn == 0 else "%.2f" % (mx / mn)
        final_conns = "/".join(str(v) for v in final[1])
    if start is not None and end is not None:
        duration, duration_how = end - start, "upgrade_end_s - upgrade_start_s"
    else:
        duration, duration_how = float(rows[-1]["t_s"]), "the run's length (last t_s)"

    s = {
        "strategy": meta["strategy"], "clients": meta["clients"],
        "disconnects_max": disc_max, "disconnects_mean": "%.3f" % disc_mean,
        "clients_disconnected_0": hist[0], "clients_disconnected_1": hist[1],
        "clients_disconnected_2": hist[2], "clients_disconnected_3plus": hist[3],
        "lowest_connected": low["connected"],
        "peak_reconnect_rate_per_s": peak["reconnects"],
        "nodes_serving_min": "na" if serving is None else serving[0],
        "final_balance_max_min": balance, "final_conns": final_conns,
        "qos1_lost": lost, "duration_s": "%.1f" % duration,
        "clients_no_report": len(clients) - len(reported),
    }
    return {
        "key": key, "dir": d, "meta": meta, "rows": rows, "ncols": ncols, "nodes": nodes,
        "kv": kv, "summary": {k: str(v) for k, v in s.items()},
        "detail": {
            "window": window, "lowest_t": low["t_s"], "peak_t": peak["t_s"],
            "serving_t": None if serving is None else serving[1],
            "final_t": None if final is None else final[0],
            "duration_how": duration_how, "qos": qos,
            "fb_serving": kv.get("nodes_min_serving"), "fb_balance": kv.get("balance_final"),
            "complete": kv.get("complete"),
        },
    }


# ---------------------------------------------------------------- outputs

def gp_str(s):
    """A gnuplot single-quoted string ('' is its only escape); control
    characters become '?'."""
    s = "".join(ch if ch.isprintable() else "?" for ch in s)
    return "'" + s.replace("'", "''") + "'"


def png_terminal():
    try:
        r = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True,
                           timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise OutputError("gnuplot: cannot run it (%s): install gnuplot-nox" % e)
    listing = r.stdout + r.stderr
    if any(line.split()[:1] == ["pngcairo"] for line in listing.splitlines()):
        return "pngcairo"
    if any(line.split()[:1] == ["png"] for line in listing.splitlines()):
        return "png"
    raise OutputError("gnuplot offers neither the pngcairo nor the png terminal")


def write_file(path, text):
    try:
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    except OSError as e:
        raise OutputError("%s: cannot write: %s" % (path, e.strerror))


def chart(run, out_dir, terminal):
    key = run["key"]
    data, script, png = ("conns_%s.%s" % (key, x) for x in ("csv", "gp", "png"))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["t_s", "connected"] + [n["name"] for n in run["nodes"]])
    for r in run["rows"]:
        w.writerow([r["t_s"], r["connected"]] + ["NaN" if v is None else v for v in r["conns"]])
    write_file(os.path.join(out_dir, data), buf.getvalue())

    meta = run["meta"]
    font = "font 'sans,10'" if terminal == "pngcairo" else ""
    g = [
        "# conns_%s.png from %s (demo_report.py); run: gnuplot %s" % (key, data, script),
        "set terminal %s size 1100,520 %s" % (terminal, font),
        "set output %s" % gp_str(png),
        "set termoption noenhanced",
        "set datafile separator ','",
        "set title %s" % gp_str("%s upgrade: connections per node (%d clients)"
                                % (meta["strategy"], meta["clients"])),
        "set xlabel 'seconds since the clients started (ferrybench t_s)'",
        "set ylabel 'connections'",
        "set yrange [0:*]",
        "set autoscale xfix",
        "set grid ytics lc rgb '#dddddd'",
        "set key outside right top vertical",
        "set border 3",
        "set xtics nomirror",
        "set ytics nomirror",
    ]
    for t, what in ((meta["upgrade_start_s"], "upgrade start"),
                    (meta["upgrade_end_s"], "upgrade end")):
        if t is not None:
            g.append("set arrow from %r, graph 0 to %r, graph 1 nohead dt 2 lw 1.5 "
                     "lc rgb '#555555'" % (t, t))
            g.append("set label %s at %r, graph 0.97 left offset character 0.5, 0 "
                     "textcolor rgb '#555555'" % (gp_str(what), t))
    plots = ["%s skip 1 using 1:2 with lines lw 5 lc rgb '#9a9a9a' title 'connected (all clients)'"
             % gp_str(data)]
    for n in run["nodes"]:
        title = n["name"] + (" (%s)" % n["role"] if n["role"] else "")
        plots.append("'' skip 1 using 1:%d with lines lw 2 lc rgb '%s' title %s"
                     % (n["column"] + 2, n["colour"], gp_str(title)))
    g.append("plot " + ", \\\n     ".join(plots))
    write_file(os.path.join(out_dir, script), "\n".join(g) + "\n")
    try:
        r = subprocess.run(["gnuplot", script], cwd=out_dir, capture_output=True, text=True,
                           timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise OutputError("gnuplot %s: %s" % (script, e))
    if r.returncode != 0:
        raise OutputError("gnuplot %s failed (exit %d):\n%s" % (script, r.returncode,
                                                                r.stderr.strip()))
    if r.stderr.strip():
        note("gnuplot %s: %s" % (script, r.stderr.strip()))
    try:
        with open(os.path.join(out_dir, png), "rb") as f:
            ok = f.read(8) == b"\x89PNG\r\n\x1a\n"
    except OSError:
        ok = False
    if not ok:
        raise OutputError("gnuplot %s wrote no PNG to %s" % (script, png))
    return png


def summary_csv(runs):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SUMMARY_COLUMNS)
    for r in runs:
        w.writerow([r["summary"][c] for c in SUMMARY_COLUMNS])
    return buf.getvalue()


def text_table(runs):
    head = [""] + [r["summary"]["strategy"] for r in runs]
    body = [[label] + [r["summary"][k] for r in runs] for k, label in LABELS]
    widths = [max(len(row[i]) for row in [head] + body) for i in range(len(head))]
    out = []
    for row in [head] + body:
        cells = [row[0].ljust(widths[0])] + [c.rjust(widths[i]) for i, c in enumerate(row) if i]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out) + "\n"


EXPLAIN = {
    "Rolling": (
        "The nodes are replaced in place, one after another. Look for each node's line "
        "dropping to 0 (or leaving a gap: it did not answer its admin API while it "
        "restarted) in turn, while its clients reconnect to the nodes still up, which "
        "pile up above their share; a client can be moved several times, once for every "
        "node it lands on before that node's turn. The grey line dips each time."),
    "BlueGreen": (
        "A second set of nodes (green, the new revision) starts next to the old ones "
        "(blue). Look for the green lines appearing (their columns are empty, so no line, "
        "until those nodes exist), then the blue nodes draining to the green ones until "
        "they are at 0 and go; the grey total should stay flat throughout, and each "
        "client should move once."),
}


def esc(x):
    return html.escape(str(x), quote=True)


def html_table(head, rows, cls=""):
    out = ["<table%s>" % (' class="%s"' % cls if cls else ""), "<thead><tr>"]
    out += ["<th>%s</th>" % esc(h) for h in head]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(
            "<%s>%s</%s>" % ("th" if i == 0 else "td", esc(c), "th" if i == 0 else "td")
            for i, c in enumerate(row)) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def index_html(runs, skipped):
    css = """
body { font-family: sans-serif; max-width: 1200px; margin: 1em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
td { text-align: right; font-variant-numeric: tabular-nums; }
thead th { background: #f0f0f0; }
tbody th { text-align: left; font-weight: normal; }
img { max-width: 100%; border: 1px solid #ddd; }
.note { color: #555; font-size: 0.9em; }
dt { font-weight: bold; margin-top: 0.4em; }
"""
    p = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
         "<title>FerryMQ upgrade demo: Rolling vs BlueGreen</title>",
         "<style>%s</style>" % css, "</head>", "<body>",
         "<h1>FerryMQ upgrade demo: Rolling vs BlueGreen</h1>",
         "<p>A 3-node cluster upgraded under load from <code>ferrybench clients</code>, "
         "once per strategy. Figures from each run's bench.csv, clients.txt, bench.out "
         "and meta.json.</p>"]
    for key in skipped:
        p.append('<p class="note">No %s run: %s/ was not found.</p>' % (esc(dict(RUNS)[key]),
                                                                       esc(key)))
    for r in runs:
        m, d, s = r["meta"], r["detail"], r["summary"]
        p.append('<h2 id="%s">%s upgrade</h2>' % (esc(r["key"]), esc(m["strategy"])))
        if d["complete"] == "0" and not m["stopped_by_demo"]:
            p.append('<p class="note">ferrybench\'s run was cut short (complete=0): the '
                     "figures cover what it reported.</p>")
        p.append('<p><img src="%s" alt="%s"></p>' % (
            esc(r["png"]), esc("%s: connections per node over time" % m["strategy"])))
        p.append("<p>Connections per node, once a second, as each node's admin API "
                 "answered ferrybench (a gap: no answer that second); the thick grey line "
                 "is the clients ferrybench had connected; the dashed lines mark the "
                 "upgrade's start and end. %s</p>" % esc(EXPLAIN.get(m["strategy"], "")))
        rows = [[label, s[k]] for k, label in LABELS]
        p.append(html_table(["figure", m["strategy"]], rows))
        extra = [
            "Window: %s." % d["window"],
            "Lowest connected at t_s %s; peak reconnect rate at t_s %s." % (d["lowest_t"],
                                                                           d["peak_t"]),
        ]
        if d["serving_t"] is not None:
            extra.append("Fewest nodes serving at t_s %s." % d["serving_t"])
        if d["final_t"] is not None:
            extra.append("Final connections: the nodes that answered at t_s %s." % d["final_t"])
        extra.append("Duration: %s." % d["duration_how"])
        extra.append("ferrybench's own figures (whole run, only seconds in which every node "
                     "answered): nodes_min_serving=%s, balance_final=%s."
                     % (d["fb_serving"] or "absent", d["fb_balance"] or "absent"))
        if d["qos"] != "1":
            extra.append("This run used QoS %s." % d["qos"])
        p.append('<p class="note">%s</p>' % esc(" ".join(extra)))
        nrows = []
        for n in r["nodes"]:
            def at(x):
                return "-" if x is None else "%d (t %d)" % (x[1], x[0])
            nrows.append([n["column"], n["name"], n["revision"] or "-", n["role"] or "-",
                          n["answered"], at(n["first"]),
                          "-" if n["min"] is None else n["min"],
                          "-" if n["max"] is None else n["max"], at(n["last"])])
        p.append(html_table(["column", "node", "revision", "role", "seconds answered",
                             "first", "min", "max", "last"], nrows, "nodes"))
    if runs:
        p.append('<h2 id="comparison">Side by side</h2>')
        p.append(html_table(["figure"] + [r["summary"]["strategy"] for r in runs],
                            [[label] + [r["summary"][k] for r in runs] for k, label in LABELS]))
        p.append('<p class="note">The same figures are in summary.csv.</p>')
    p.append("<h2>Definitions</h2><dl>")
    defs = [
        ("disconnects per client", "from clients.txt, over the clients that sent a final "
         "report; the histogram counts clients with 0, 1, 2 and 3 or more disconnects."),
        ("lowest connected", "the smallest `connected` of bench.csv within the upgrade "
         "window (the rows with floor(start) <= t_s <= ceil(end)), or the whole run when "
         "neither time is known."),
        ("peak reconnect rate", "the largest per-second `reconnects` of bench.csv (a "
         "per-second increase, not a running total) over the whole run."),
        ("nodes serving (minimum)", "within the upgrade window, the fewest nodes with "
         "connections > 0 in the same second; a node that did not answer counts as not "
         "serving, and a second in which no node answered is left out. ferrybench's "
         "nodes_min_serving differs: it covers the whole run and only seconds in which "
         "every node answered."),
        ("final balance", "max/min of the connections of the nodes that answered in the "
         "last second any node answered (inf: one of them had none)."),
        ("QoS 1 messages lost", "ferrybench's lost count: messages a client published that "
         "its receiver never got."),
        ("duration", "upgrade end - upgrade start when both are known, else the run's "
         "length."),
    ]
    for t, dd in defs:
        p.append("<dt>%s</dt><dd>%s</dd>" % (esc(t), esc(dd)))
    p += ["</dl>", "</body>", "</html>"]
    return "\n".join(p) + "\n"


def main(argv):
    if len(argv) != 2 or argv[1].startswith("-"):
        print("usage: demo_report.py REPORT_DIR", file=sys.stderr)
        return 2
    out_dir = argv[1]
    if not os.path.isdir(out_dir):
        print("demo_report: %s: not a directory" % out_dir, file=sys.stderr)
        return 2
    runs, skipped = [], []
    try:
        for key, _name in RUNS:
            d = os.path.join(out_dir, key)
            if not os.path.isdir(d):
                note("%s: no such directory: the %s run is skipped" % (d, dict(RUNS)[key]))
                skipped.append(key)
                continue
            runs.append(analyse(key, d))
        if not runs:
            raise InputError("%s: neither rolling/ nor bluegreen/ is there: nothing to report"
                             % out_dir)
    except InputError as e:
        print("demo_report: %s" % e, file=sys.stderr)
        return 2
    try:
        if not shutil.which("gnuplot"):
            raise OutputError("gnuplot is not on PATH: install gnuplot-nox (make deps)")
        terminal = png_terminal()
        for r in runs:
            r["png"] = chart(r, out_dir, terminal)
        write_file(os.path.join(out_dir, "summary.csv"), summary_csv(runs))
        write_file(os.path.join(out_dir, "index.html"), index_html(runs, skipped))
    except OutputError as e:
        print("demo_report: %s" % e, file=sys.stderr)
        return 1
    sys.stdout.write(text_table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
