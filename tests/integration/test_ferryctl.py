"""ferryctl, the admin command line, against a real ferrymq and a stub.

ferryctl (FMQ_IT_FERRYCTL) runs as a subprocess. Against a real node with
--admin-listen: status, cluster, clients, client, kick (the kicked Raw client
sees DISCONNECT 0x98), --output json equal to what the API answers, the bearer
token (exit 4), exit 1 for an unknown client, and the evacuation / rebalance /
global status commands. Against a scripted HTTP server on a loopback port
(Stub): the exact request bodies, errors the real node cannot be made to give
(5xx, not JSON, an answer over the 16 MiB cap, no answer), the watch loop
(lines, JSON lines, a terminal, a node that goes away, SIGINT).
Invalid parameters are checked against a bare listening socket: exit 2 and not
even a TCP connection reached it. upgrade-status (no HTTP) reads fixture
status.json files, as ferry-operator writes them, from a temporary run
directory.
"""

import http.server
import json
import os
import pty
import select
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

import fmqtest
from fmqtest import HOST, free_port

CTL = os.environ.get("FMQ_IT_FERRYCTL", "")
REFUSED_MSG = "(is the node running with admin_listen set?)"
AUTH_MSG = ("ferryctl: authentication failed: missing or wrong bearer token "
            "(use --token or FERRYMQ_ADMIN_TOKEN)\n")


def ctl_env():
    """The environment ferryctl runs in here: neither FERRYCTL_URL,
    FERRYMQ_ADMIN_TOKEN nor FERRY_RUN_DIR is inherited."""
    return {k: v for k, v in os.environ.items()
            if k not in ("FERRYCTL_URL", "FERRYMQ_ADMIN_TOKEN", "FERRY_RUN_DIR")}


def reap(p):
    """Ends a ferryctl started with piped stdout and stderr (killed if it
    still runs); returns its stderr."""
    if p.poll() is None:
        p.kill()
        p.wait()
    p.stdout.close()
    err = p.stderr.read().decode()
    p.stderr.close()
    return err


def ctl(*args, env=None, timeout=30, cwd=None):
    """Runs ferryctl (ctl_env, plus env): (exit status, stdout, stderr)."""
    if not CTL or not os.access(CTL, os.X_OK):
        raise RuntimeError("FMQ_IT_FERRYCTL does not name the ferryctl binary: %r" % CTL)
    e = ctl_env()
    e.update(env or {})
    r = subprocess.run([os.path.abspath(CTL)] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, timeout=timeout,
                       cwd=cwd)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def api(port, path, method="GET", token=None, body=None):
    """(status, parsed JSON body) straight from the admin API."""
    req = urllib.request.Request("http://%s:%d%s" % (HOST, port, path), method=method,
                                 data=body)
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=fmqtest.WAIT) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "null")


def kv(text):
    """{key: value} of ferryctl's "key: value" lines (top level only)."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith(" ") and ":" in line:
            k, v = line.split(":", 1)
            out[k] = v.strip()
    return out


def without(doc, *keys):
    """doc without the keys that change between two reads (uptime)."""
    if isinstance(doc, dict):
        return {k: without(v, *keys) for k, v in doc.items() if k not in keys}
    if isinstance(doc, list):
        return [without(v, *keys) for v in doc]
    return doc


class NodeTest(fmqtest.BrokerTest):
    """A real node named n1 with the admin API on its own free port."""

    token = None

    def setUp(self):
        self.admin_port = free_port()
        self.default_args = ("--node-name", "n1", "--admin-listen",
                             "%s:%d" % (HOST, self.admin_port))
        if self.token:
            self.default_args += ("--admin-token", self.token)
        super().setUp()
        self.url = "http://%s:%d" % (HOST, self.admin_port)

    def run_ctl(self, *args, **kw):
        """ferryctl against this node (with the token, if any)."""
        extra = ["--url", self.url] + (["--token", self.token] if self.token else [])
        return ctl(*(extra + list(args)), **kw)

    def api(self, path, method="GET"):
        return api(self.admin_port, path, method, token=self.token)


class Basics(NodeTest):
    def test_status(self):
        self.raw_connected("st-1")
        rc, out, err = self.run_ctl("status")
        self.assertEqual((rc, err), (0, ""))
        fields = kv(out)
        self.assertEqual(fields["node"], "n1")
        self.assertEqual(fields["connections"], "1")
        self.assertEqual(fields["sessions"], "1")
        self.assertEqual(fields["shutting_down"], "no")
        rc, out, err = self.run_ctl("--output", "json", "status")
        self.assertEqual((rc, err), (0, ""))
        mine = json.loads(out)  # all of stdout is one JSON document
        status, theirs = self.api("/api/v1/node")
        self.assertEqual(status, 200)
        self.assertEqual(without(mine, "uptime_s"), without(theirs, "uptime_s"))
        self.assertLessEqual(abs(mine["uptime_s"] - theirs["uptime_s"]), 2)

    def test_url_from_the_environment(self):
        rc, out, err = ctl("status", env={"FERRYCTL_URL": self.url})
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(kv(out)["node"], "n1")
        # --url wins over the environment.
        rc, out, _ = ctl("--url", self.url, "status",
                         env={"FERRYCTL_URL": "http://%s:%d" % (HOST, free_port())})
        self.assertEqual(rc, 0)

    def test_cluster(self):
        rc, out, err = self.run_ctl("cluster")
        self.assertEqual((rc, err), (0, ""))
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("cluster: "), out)
        self.assertIn("(1 node)", lines[0])
        self.assertEqual(lines[1].split()[:3], ["NODE", "LINK", "CONNECTIONS"])
        self.assertEqual(lines[2].split()[:2], ["n1", "self"])
        self.assertEqual(len(lines), 3, out)
        rc, out, err = self.run_ctl("cluster", "--output", "json")
        self.assertEqual((rc, err), (0, ""))
        status, theirs = self.api("/api/v1/cluster")
        self.assertEqual(status, 200)
        self.assertEqual(without(json.loads(out), "uptime_s"), without(theirs, "uptime_s"))

    def test_clients_and_client(self):
        odd = "dev/\u00fc #1?x=%41&y+z"  # must be URL-encoded in the path
        ids = ["cl-a", "cl-b", odd]
        for i in ids:
            self.raw_connected(i, clean=False, properties=[(fmqtest.P_SESSION_EXPIRY, 300)])
        rc, out, err = self.run_ctl("clients")
        self.assertEqual((rc, err), (0, ""))
        lines = out.splitlines()
        self.assertEqual(lines[0].split()[:3], ["CLIENT", "ID", "CONNECTED"])
        rows = {l.split("  ")[0]: l.split() for l in lines[1:-1]}
        self.assertEqual(sorted(rows), sorted(ids))
        self.assertEqual(rows["cl-a"][-7:], ["yes", "5", "300", "0", "0", "0", "0"])
        self.assertEqual(lines[-1], "page 1, 3 shown, 3 in all")
        # Paging goes to the node as is; JSON equals the API's answer.
        rc, out, err = self.run_ctl("clients", "--page", "2", "--limit", "2", "--output", "json")
        self.assertEqual((rc, err), (0, ""))
        status, theirs = self.api("/api/v1/clients?page=2&limit=2")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(out), theirs)
        self.assertEqual(len(theirs["data"]), 1)
        rc, out, err = self.run_ctl("client", odd, "--output", "json")
        self.assertEqual((rc, err), (0, ""))
        doc = json.loads(out)
        self.assertEqual((doc["client_id"], doc["connected"]), (odd, True))
        rc, out, err = self.run_ctl("client", "cl-b")
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(kv(out)["client_id"], "cl-b")
        self.assertEqual(kv(out)["session_expiry_s"], "300")

    def test_kick_and_discard(self):
        c = self.raw_connected("k-1", clean=False, properties=[(fmqtest.P_SESSION_EXPIRY, 300)])
        other = self.raw_connected("k-2")
        rc, out, err = self.run_ctl("kick", "k-1")
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(kv(out)["disconnected"], "yes")
        # The real client got DISCONNECT 0x98 (Administrative action) and the close.
        pkts = c.wait_closed()
        self.assertEqual([(p.type, p.reason) for p in pkts], [(fmqtest.PT_DISCONNECT, 0x98)])
        other.ping()  # the other client is untouched
        status, doc = self.api("/api/v1/clients/k-1")
        self.assertEqual((status, doc["connected"]), (200, False))  # the session stays
        rc, out, err = self.run_ctl("kick", "k-1", "--discard", "--output", "json")
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(json.loads(out)["session_discarded"], True)
        self.assertEqual(self.api("/api/v1/clients/k-1")[0], 404)
        # Kicking it again: the node has no such client.
        rc, out, err = self.run_ctl("kick", "k-1")
        self.assertEqual((rc, out), (1, ""))
        self.assertTrue(err.startswith("ferryctl: kick: "), err)
        self.assertIn("no such client", err)

    def test_unknown_client(self):
        rc, out, err = self.run_ctl("client", "nobody")
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("ferryctl: client: no such client", err)
        # With --output json the node's error body also goes to stdout.
        rc, out, err = self.run_ctl("client", "nobody", "--output", "json")
        self.assertEqual(rc, 1)
        self.assertEqual(json.loads(out), self.api("/api/v1/clients/nobody")[1])
        self.assertIn("error", json.loads(out))
        self.assertIn("no such client", err)

    def test_a_client_id_after_double_dash(self):
        self.raw_connected("--dashed")
        rc, out, err = self.run_ctl("client", "--", "--dashed")
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(kv(out)["client_id"], "--dashed")


class Token(NodeTest):
    token = "s3cret-t0ken"

    def test_bearer_token(self):
        for args, env in (((), {}), (("--token", "wrong"), {}),
                          ((), {"FERRYMQ_ADMIN_TOKEN": "s3cret-t0ke"})):
            rc, out, err = ctl("--url", self.url, *(args + ("status",)), env=env)
            self.assertEqual((rc, out, err), (4, "", AUTH_MSG), (args, env))
        # The environment, and the flag over a wrong environment.
        rc, out, err = ctl("--url", self.url, "status", env={"FERRYMQ_ADMIN_TOKEN": self.token})
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(kv(out)["node"], "n1")
        rc, out, err = ctl("--url", self.url, "--token", self.token, "status",
                           env={"FERRYMQ_ADMIN_TOKEN": "wrong"})
        self.assertEqual((rc, err), (0, ""))
        # --output json: the 401 body on stdout as well.
        rc, out, err = ctl("--url", self.url, "--output", "json", "clients")
        self.assertEqual((rc, err), (4, AUTH_MSG))
        self.assertEqual(json.loads(out), {"error": "missing or wrong bearer token"})


class Unreachable(unittest.TestCase):
    def test_connection_refused(self):
        port = free_port()  # nothing listens there
        url = "http://%s:%d" % (HOST, port)
        rc, out, err = ctl("--url", url, "status")
        self.assertEqual((rc, out), (3, ""))
        self.assertEqual(err, "ferryctl: cannot reach %s: Connection refused %s\n"
                         % (url, REFUSED_MSG))
        rc, _, err = ctl("cluster", env={"FERRYCTL_URL": url + "/"})
        self.assertEqual(rc, 3)
        self.assertIn("cannot reach %s: " % url, err)

    def test_default_url(self):
        rc, _, err = ctl("status")
        if rc == 3:  # the usual case: nothing on the default port
            self.assertIn("cannot reach http://127.0.0.1:18083: ", err)
        else:  # something answers there; whatever it is, ferryctl asked it
            self.assertNotIn("cannot reach", err)

    def test_no_answer_within_the_timeout(self):
        with socket.socket() as s:  # accepts (backlog) but never answers
            s.bind((HOST, 0))
            s.listen(8)
            url = "http://%s:%d" % (HOST, s.getsockname()[1])
            t0 = time.monotonic()
            rc, out, err = ctl("--url", url, "--timeout", "1", "status")
            took = time.monotonic() - t0
        self.assertEqual((rc, out), (3, ""))
        self.assertIn("cannot reach %s: no answer within 1 s" % url, err)
        self.assertLess(took, 5)


class InvalidParameters(unittest.TestCase):
    """Exit 2 with a message naming the option, before any request: the
    listening socket never sees a connection."""

    EV = ("evacuate", "start")
    RB = ("rebalance", "start")
    CASES = [  # (arguments, text stderr must contain)
        (EV + ("--conn-evict-rate", "0"),
         "--conn-evict-rate: expected an integer 1..1000000 or \"auto\", got \"0\""),
        (EV + ("--conn-evict-rate", "1000001"), "--conn-evict-rate: "),
        (EV + ("--conn-evict-rate", "-5"), "--conn-evict-rate: "),
        (EV + ("--conn-evict-rate", "12x"), "--conn-evict-rate: "),
        (EV + ("--conn-evict-rate-max", "auto"),
         "--conn-evict-rate-max: expected an integer 1..1000000"),
        (EV + ("--sess-evict-rate", "0"), "--sess-evict-rate: expected an integer 1..1000000"),
        (EV + ("--wait-takeover", "25h"), "--wait-takeover: expected a duration 0..24h"),
        (EV + ("--wait-takeover", "86401"), "--wait-takeover: "),
        (EV + ("--wait-health-check", "5d"), "--wait-health-check: expected a duration"),
        (EV + ("--wait-health-check", "-1s"), "--wait-health-check: "),
        (EV + ("--wait-health-check", "s"), "--wait-health-check: "),
        (EV + ("--migrate-to", ""), "--migrate-to: expected a comma-separated list"),
        (EV + ("--migrate-to", "n2,,n3"), "--migrate-to: "),
        (EV + ("--migrate-to", "n2,n2"), "--migrate-to: "),
        (EV + ("--migrate-to", "n 2"), "--migrate-to: "),
        (EV + ("--migrate-to", ",".join("n%d" % i for i in range(65))), "--migrate-to: "),
        (EV + ("--redirect-to", "a\x01b"), "--redirect-to: expected 1 to 1024 bytes"),
        (EV + ("--redirect-to", "x" * 1025), "--redirect-to: "),
        (EV + ("--nodes", "n2"), "--nodes is not an option of ferryctl evacuate start"),
        (RB + ("--conn-evict-rate", "auto"),
         "--conn-evict-rate: expected an integer 1..1000000, got"),
        (RB + ("--rel-conn-threshold", "1.0"),
         "--rel-conn-threshold: expected a number above 1.0"),
        (RB + ("--rel-sess-threshold", "nan"), "--rel-sess-threshold: "),
        (RB + ("--rel-sess-threshold", "1e3"), "--rel-sess-threshold: "),
        (RB + ("--abs-conn-threshold", "-1"), "--abs-conn-threshold: expected an integer"),
        (RB + ("--abs-conn-threshold", "0"), "--abs-conn-threshold: expected an integer 1.."),
        (RB + ("--rel-conn-threshold", "100.5"), "--rel-conn-threshold: "),
        (RB + ("--nodes", "a,"), "--nodes: expected a comma-separated list"),
        (RB + ("--migrate-to", "a"),
         "--migrate-to is not an option of ferryctl rebalance start"),
        (("clients", "--limit", "0"), "--limit: expected an integer 1..10000"),
        (("clients", "--limit", "10001"), "--limit: "),
        (("clients", "--page", "0"), "--page: expected an integer"),
        (("clients", "--discard"), "--discard is not an option of ferryctl clients"),
        (("kick",), "kick: expected a client ID"),
        (("client", "a", "b"), "client: unexpected argument \"b\""),
        (("client", ""), "client: the client ID must be"),
        (("status", "--timeout", "0"), "--timeout: expected whole seconds 1..3600"),
        (("status", "--output", "yaml"), "--output: expected text or json"),
        (("status", "--bogus"), "unknown option \"--bogus\""),
        (("status", "--token", "a b"), "--token: expected 1 to 4096 printable characters"),
        (("evacuate", "pause"), "evacuate: expected start, stop or status, got \"pause\""),
        (("frobnicate",), "unknown command \"frobnicate\""),
        (("--page", "2"), "--page is an option of a command"),
        (("evacuate", "status", "--watch=yes"), "--watch takes no value"),
        (("clients", "--limit"), "--limit needs a value"),
    ]

    def test_rejected_locally(self):
        with socket.socket() as s:
            s.bind((HOST, 0))
            s.listen(8)
            url = "http://%s:%d" % (HOST, s.getsockname()[1])
            for args, msg in self.CASES:
                rc, out, err = ctl("--url", url, *args)
                self.assertEqual((rc, out), (2, ""), args)
                self.assertTrue(err.startswith("ferryctl: "), (args, err))
                self.assertIn(msg, err, args)
            # Not one connection reached the socket.
            s.setblocking(False)
            with self.assertRaises(BlockingIOError):
                s.accept()[0].close()
            # The same socket does see a valid command's connection.
            rc, _, _ = ctl("--url", url, "--timeout", "1", "status")
            self.assertEqual(rc, 3)
            conn, _ = s.accept()
            conn.close()

    def test_bad_url_and_environment(self):
        for url in ("ftp://127.0.0.1:1", "127.0.0.1:18083", "http://", "http://a b",
                    "http://h/?q=1"):
            rc, out, err = ctl("--url", url, "status")
            self.assertEqual((rc, out), (2, ""), url)
            self.assertIn("--url: expected http://HOST[:PORT]", err)
        rc, _, err = ctl("status", env={"FERRYCTL_URL": "nope"})
        self.assertEqual(rc, 2)
        self.assertIn("FERRYCTL_URL: ", err)

    def test_help(self):
        rc, out, err = ctl("--help")
        self.assertEqual((rc, err), (0, ""))
        self.assertTrue(out.startswith("Usage: ferryctl [--url URL]"), out)
        for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "5 "):
            self.assertIn("\n  %s   " % code, out)
        for cmd in ("status", "cluster", "clients", "client ID", "kick ID", "evacuate start",
                    "evacuate stop", "evacuate status", "rebalance start", "rebalance stop",
                    "rebalance status", "global-status"):
            self.assertIn("\n  " + cmd, out)
        self.assertEqual(ctl("help"), (0, out, ""))
        rc, out, err = ctl("evacuate", "start", "--help")
        self.assertEqual((rc, err), (0, ""))
        self.assertTrue(out.startswith("Usage: ferryctl evacuate start [OPTIONS]"), out)
        for opt in ("--conn-evict-rate N|auto", "--conn-evict-rate-max", "--sess-evict-rate",
                    "--wait-takeover", "--wait-health-check", "--redirect-to", "--migrate-to",
                    "--wait"):
            self.assertIn(opt, out)
        self.assertEqual(ctl("help", "evacuate", "start")[1], out)
        rc, out, _ = ctl("kick", "-h")
        self.assertEqual(rc, 0)
        self.assertIn("--discard", out)
        rc, out, err = ctl()  # no command: usage on stderr, exit 2
        self.assertEqual((rc, out), (2, ""))
        self.assertIn("Usage: ferryctl", err)

# ---------------------------------------------------------------- the stub


class Stub:
    """A scripted HTTP server on a free loopback port that stands in for a
    node. routes: {(method, path): [reply, ...]}, replies used in order and
    the last one repeated; a reply is (status, JSON-able or bytes), "hang"
    (never answers) or ("stream", n) (200, no length, n bytes of "x").
    requests: (method, path, {header: value}, body) in arrival order."""

    def __init__(self, routes=None):
        self.routes = dict(routes or {})
        self.requests = []
        self.release = threading.Event()
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                stub.requests.append((self.command, self.path,
                                      {k.lower(): v for k, v in self.headers.items()}, body))
                replies = stub.routes.get((self.command, self.path),
                                          [(404, {"error": "no such endpoint"})])
                reply = replies.pop(0) if len(replies) > 1 else replies[0]
                if reply == "hang":
                    stub.release.wait(30)
                    self.close_connection = True
                    return
                if reply[0] == "stream":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    chunk = b"x" * 65536
                    try:
                        for _ in range(reply[1] // len(chunk)):
                            self.wfile.write(chunk)
                    except OSError:
                        pass
                    self.close_connection = True
                    return
                status, doc = reply
                data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:
                    pass

            do_GET = do_POST = do_DELETE = handle_any

        self.server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://%s:%d" % (HOST, self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(fmqtest.WAIT)


def evac(state, cur=412, init=667, sess=667, evicted=255, rate=200):
    return (200, {"status": "enabled", "process": "evacuation", "node": "n1", "state": state,
                  "conn_evict_rate": rate, "conn_evict_rate_now": rate, "sess_evict_rate": 200,
                  "wait_takeover_s": 5, "wait_health_check_s": 3, "redirect_to": "",
                  "migrate_to": [], "session_recipients": ["n2", "n3"],
                  "started_ms": 1764000000000, "state_since_ms": 1764000003000,
                  "stats": {"initial_connected": init, "current_connected": cur,
                            "initial_sessions": sess, "current_sessions": sess,
                            "conns_evicted": evicted, "sessions_migrated": 0,
                            "sessions_failed": 0, "max_evicted_in_1s": rate},
                  "failed_sessions": []})


DISABLED = (200, {"status": "disabled"})
STATUS = ("GET", "/api/v1/evacuation")


class StubTest(unittest.TestCase):
    def stub(self, routes):
        s = Stub(routes)
        self.addCleanup(s.close)
        return s

    def test_start_bodies_carry_only_the_given_fields(self):
        s = self.stub({("POST", "/api/v1/evacuation/start"): [evac("waiting_health_check")],
                       ("POST", "/api/v1/rebalance/start"): [(200, {"status": "enabled"})],
                       ("POST", "/api/v1/evacuation/stop"): [DISABLED]})
        rc, _, err = ctl("--url", s.url, "evacuate", "start")
        self.assertEqual((rc, err), (0, ""))
        rc, _, err = ctl("--url", s.url, "--token", "tk", "evacuate", "start",
                         "--conn-evict-rate", "auto", "--conn-evict-rate-max", "800",
                         "--sess-evict-rate", "300", "--wait-takeover", "90",
                         "--wait-health-check=1500ms", "--redirect-to", "mqtt://b.example:1883",
                         "--migrate-to", "n2,n3@host")
        self.assertEqual((rc, err), (0, ""))
        rc, _, err = ctl("--url", s.url, "evacuate", "start", "--conn-evict-rate", "1000000",
                         "--wait-takeover", "0", "--wait-health-check", "24h")
        self.assertEqual((rc, err), (0, ""))
        rc, _, err = ctl("--url", s.url, "rebalance", "start", "--nodes", "n1,n2",
                         "--conn-evict-rate", "10", "--sess-evict-rate", "20",
                         "--wait-takeover", "2m", "--wait-health-check", "3s",
                         "--abs-conn-threshold", "1", "--rel-conn-threshold", "1.25",
                         "--abs-sess-threshold", "50", "--rel-sess-threshold", "2")
        self.assertEqual((rc, err), (0, ""))
        rc, _, err = ctl("--url", s.url, "evacuate", "stop")
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual([(m, p) for m, p, _, _ in s.requests],
                         [("POST", "/api/v1/evacuation/start")] * 3
                         + [("POST", "/api/v1/rebalance/start"),
                            ("POST", "/api/v1/evacuation/stop")])
        bodies = [json.loads(b) if b else None for _, _, _, b in s.requests]
        self.assertEqual(bodies[0], {})
        self.assertEqual(bodies[1], {"conn_evict_rate": "auto", "conn_evict_rate_max": 800,
                                     "sess_evict_rate": 300, "wait_takeover": 90,
                                     "wait_health_check": "1500ms",
                                     "redirect_to": "mqtt://b.example:1883",
                                     "migrate_to": ["n2", "n3@host"]})
        self.assertEqual(bodies[2], {"conn_evict_rate": 1000000, "wait_takeover": 0,
                                     "wait_health_check": "24h"})
        self.assertEqual(bodies[3], {"nodes": ["n1", "n2"], "conn_evict_rate": 10,
                                     "sess_evict_rate": 20, "wait_takeover": "2m",
                                     "wait_health_check": "3s", "abs_conn_threshold": 1,
                                     "rel_conn_threshold": 1.25, "abs_sess_threshold": 50,
                                     "rel_sess_threshold": 2.0})
        self.assertIsNone(bodies[4])  # stop: no body
        hdrs = [h for _, _, h, _ in s.requests]
        self.assertEqual(hdrs[0]["content-type"], "application/json")
        self.assertNotIn("authorization", hdrs[0])
        self.assertEqual(hdrs[1]["authorization"], "Bearer tk")
        self.assertEqual(hdrs[4].get("content-length"), "0")
        self.assertNotIn("content-type", hdrs[4])

    def test_paths_and_methods(self):
        s = self.stub({})
        for args in (("status",), ("cluster",), ("clients",), ("clients", "--page", "3"),
                     ("client", "a/b c"), ("kick", "a/b c"), ("kick", "\u00e9", "--discard"),
                     ("evacuate", "status"), ("rebalance", "status"), ("rebalance", "stop"),
                     ("global-status",)):
            ctl("--url", s.url + "/", *args)
        self.assertEqual([(m, p) for m, p, _, _ in s.requests], [
            ("GET", "/api/v1/node"), ("GET", "/api/v1/cluster"), ("GET", "/api/v1/clients"),
            ("GET", "/api/v1/clients?page=3&limit=100"), ("GET", "/api/v1/clients/a%2Fb%20c"),
            ("DELETE", "/api/v1/clients/a%2Fb%20c"),
            ("DELETE", "/api/v1/clients/%C3%A9?discard=true"),
            ("GET", "/api/v1/evacuation"), ("GET", "/api/v1/rebalance"),
            ("POST", "/api/v1/rebalance/stop"), ("GET", "/api/v1/global_status")])

    def test_error_answers(self):
        s = self.stub({
            ("GET", "/api/v1/node"): [(500, {"error": "out of memory"}), (200, b"<html>hi"),
                                      (200, b"[1,2]"), (503, b""), (302, b"")],
            ("POST", "/api/v1/evacuation/start"): [
                (400, {"error": "migrate_to: unknown node \"n9\""}),
                (409, {"error": "already started"}), (413, {"error": "request body too large"})],
            ("POST", "/api/v1/evacuation/stop"): [(409, {"error": "not started"})],
            ("POST", "/api/v1/rebalance/start"): [(409, {"error": "nothing to balance"})],
        })
        rc, out, err = ctl("--url", s.url, "status")
        self.assertEqual((rc, out), (5, ""))
        self.assertIn("HTTP 500: out of memory", err)
        rc, out, err = ctl("--url", s.url, "status")
        self.assertEqual((rc, out), (5, ""))
        self.assertIn("is not a JSON object: <html>hi", err)
        rc, out, err = ctl("--url", s.url, "status", "--output", "json")
        self.assertEqual((rc, out), (5, ""))  # an array is not an answer of ours
        rc, out, err = ctl("--url", s.url, "status")
        self.assertEqual((rc, out), (5, ""))
        self.assertIn("HTTP 503", err)
        rc, out, err = ctl("--url", s.url, "status")
        self.assertEqual((rc, out), (5, ""))
        self.assertIn("HTTP 302", err)
        rc, out, err = ctl("--url", s.url, "evacuate", "start", "--output", "json")
        self.assertEqual(rc, 2)
        self.assertEqual(json.loads(out), {"error": "migrate_to: unknown node \"n9\""})
        self.assertEqual(err, "ferryctl: evacuate start: the node rejected the request: "
                              "migrate_to: unknown node \"n9\" (HTTP 400)\n")
        rc, out, err = ctl("--url", s.url, "evacuate", "start")
        self.assertEqual((rc, out, err), (1, "", "ferryctl: evacuate start: already started "
                                                 "(HTTP 409)\n"))
        rc, out, err = ctl("--url", s.url, "evacuate", "start")
        self.assertEqual((rc, out), (2, ""))
        rc, out, err = ctl("--url", s.url, "evacuate", "stop")
        self.assertEqual((rc, err), (1, "ferryctl: evacuate stop: not started (HTTP 409)\n"))
        rc, out, err = ctl("--url", s.url, "rebalance", "start")
        self.assertEqual(rc, 1)
        self.assertIn("nothing to balance", err)
        # An endpoint the node does not have: unexpected, not "refused".
        rc, out, err = ctl("--url", s.url, "global-status")
        self.assertEqual((rc, out), (5, ""))
        self.assertIn("does not serve GET /api/v1/global_status", err)

    def test_answer_size_cap(self):
        big = b'{"a":"' + b"x" * (17 << 20) + b'"}'
        s = self.stub({("GET", "/api/v1/node"): [(200, big)],
                       ("GET", "/api/v1/cluster"): [("stream", 64 << 20)]})
        for cmd in ("status", "cluster"):  # with a Content-Length, and without one
            rc, out, err = ctl("--url", s.url, cmd)
            self.assertEqual((rc, out), (5, ""), cmd)
            self.assertIn("larger than 16 MiB", err)
        # Just under the cap is read whole.
        ok = b'{"a":"' + b"x" * ((16 << 20) - 100) + b'"}'
        s.routes[("GET", "/api/v1/node")] = [(200, ok)]
        rc, out, err = ctl("--url", s.url, "status", "--output", "json")
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(len(json.loads(out)["a"]), (16 << 20) - 100)

    def test_texts(self):
        s = self.stub({
            ("GET", "/api/v1/cluster"): [(200, {"cluster": "prod", "nodes": [
                {"node": "n1", "self": True, "connections": 10, "sessions": 12,
                 "offline_sessions": 2, "agent": "none", "available": True},
                {"node": "n2", "state": "up", "connections": 7, "sessions": 7,
                 "offline_sessions": 0, "agent": "evacuation", "available": False,
                 "client_addr": "127.0.0.1:1884"},
                {"node": "n3", "up": False}]})],
            ("GET", "/api/v1/global_status"): [(200, {
                "evacuations": [{"status": "enabled", "node": "n2", "state": "prohibiting"}],
                "rebalances": []})],
            ("GET", "/api/v1/clients/x"): [(200, {"client_id": "evil\x1b[2Jid",
                                                   "connected": False})],
        })
        rc, out, err = ctl("--url", s.url, "cluster")
        self.assertEqual((rc, err), (0, ""))
        rows = [l.split() for l in out.splitlines()]
        self.assertEqual(out.splitlines()[0], "cluster: prod (3 nodes)")
        self.assertEqual(rows[2], ["n1", "self", "10", "12", "2", "none", "yes", "-"])
        self.assertEqual(rows[3], ["n2", "up", "7", "7", "0", "evacuation", "no",
                                   "127.0.0.1:1884"])
        self.assertEqual(rows[4], ["n3", "down", "-", "-", "-", "-", "-", "-"])
        rc, out, err = ctl("--url", s.url, "global-status")
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(out, "evacuations:\n  - status: enabled\n    node:   n2\n"
                              "    state:  prohibiting\nrebalances: -\n")
        rc, out, err = ctl("--url", s.url, "client", "x")
        self.assertEqual(rc, 0)
        self.assertNotIn("\x1b", out)  # no terminal escapes from the node's strings
        self.assertIn("client_id: evil?[2Jid", out)

    def test_watch_lines(self):
        s = self.stub({STATUS: [evac("waiting_health_check", cur=667, evicted=0),
                                evac("evicting_conns"), evac("prohibiting", cur=0, sess=0,
                                                            evicted=667)]})
        t0 = time.monotonic()
        rc, out, err = ctl("--url", s.url, "evacuate", "status", "--watch")
        self.assertEqual((rc, err), (0, ""))
        lines = out.splitlines()
        self.assertEqual(len(lines), 3, out)
        self.assertRegex(lines[0], r"^t=0s status=enabled state=waiting_health_check "
                                   r"conns=667/667 ")
        self.assertEqual(lines[1].split(" ", 1)[1],
                         "status=enabled state=evicting_conns conns=412/667 sessions=667/667 "
                         "evicted=255 migrated=0 failed=0 rate=200/s")
        self.assertIn("state=prohibiting conns=0/667", lines[2])
        self.assertGreaterEqual(time.monotonic() - t0, 1.8)  # once a second
        # JSON lines: every line one status document, as the node sent it.
        s.routes[STATUS] = [evac("evicting_sessions"), evac("prohibiting")]
        rc, out, err = ctl("--url", s.url, "--output", "json", "evacuate", "status", "--watch")
        self.assertEqual((rc, err), (0, ""))
        docs = [json.loads(l) for l in out.splitlines()]
        self.assertEqual([d["state"] for d in docs], ["evicting_sessions", "prohibiting"])
        self.assertEqual(docs[1], evac("prohibiting")[1])
        # Disabled ends a watch at once.
        s.routes[STATUS] = [DISABLED]
        rc, out, err = ctl("--url", s.url, "evacuate", "status", "--watch")
        self.assertEqual((rc, out, err), (0, "t=0s status=disabled\n", ""))

    def test_start_wait(self):
        s = self.stub({("POST", "/api/v1/evacuation/start"): [evac("waiting_health_check")],
                       STATUS: [evac("evicting_conns"), evac("prohibiting")]})
        rc, out, err = ctl("--url", s.url, "evacuate", "start", "--wait-takeover", "0", "--wait")
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(kv(out)["state"], "waiting_health_check")  # the start answer first
        self.assertIn("state=prohibiting", out.splitlines()[-1])
        # Stopped (by someone else) before it got there: exit 1.
        s.routes[STATUS] = [evac("evicting_conns"), DISABLED]
        rc, out, err = ctl("--url", s.url, "evacuate", "start", "--wait")
        self.assertEqual(rc, 1)
        self.assertIn("stopped before it reached prohibiting", err)
        # A refused start does not wait.
        s.routes[("POST", "/api/v1/evacuation/start")] = [(409, {"error": "already started"})]
        n = len(s.requests)
        rc, _, _ = ctl("--url", s.url, "evacuate", "start", "--wait")
        self.assertEqual(rc, 1)
        self.assertEqual(len(s.requests), n + 1)

    def test_watch_node_goes_away(self):
        s = self.stub({STATUS: [evac("evicting_conns"), "hang"]})
        t0 = time.monotonic()
        rc, out, err = ctl("--url", s.url, "--timeout", "2", "evacuate", "status", "--watch")
        took = time.monotonic() - t0
        self.assertEqual(rc, 3)
        self.assertEqual(len(out.splitlines()), 1)
        self.assertIn("cannot reach %s: no answer for 2 s" % s.url, err)
        self.assertLess(took, 12)

    def test_watch_interrupted(self):
        s = self.stub({STATUS: [evac("evicting_conns")]})
        e = ctl_env()
        p = subprocess.Popen([CTL, "--url", s.url, "evacuate", "status", "--watch"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=e)
        try:
            r, _, _ = select.select([p.stdout], [], [], fmqtest.WAIT)
            self.assertTrue(r, "no first line")
            self.assertIn(b"state=evicting_conns", p.stdout.readline())
            p.send_signal(signal.SIGINT)
            rc = p.wait(fmqtest.WAIT)
        finally:
            err = reap(p)
        self.assertEqual(rc, 130)
        self.assertIn("ferryctl: interrupted", err)

    def test_watch_on_a_terminal_redraws(self):
        s = self.stub({STATUS: [evac("evicting_conns", cur=500), evac("evicting_conns", cur=100),
                                evac("prohibiting", cur=0, sess=0)]})
        master, slave = pty.openpty()
        e = ctl_env()
        e["TERM"] = "xterm"
        p = subprocess.Popen([CTL, "--url", s.url, "evacuate", "status", "--watch"],
                             stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE,
                             env=e)
        os.close(slave)
        data = b""
        deadline = time.monotonic() + 15
        try:
            while time.monotonic() < deadline:
                r, _, _ = select.select([master], [], [], 0.5)
                if r:
                    try:
                        chunk = os.read(master, 65536)
                    except OSError:  # EIO: the other side closed
                        break
                    if not chunk:
                        break
                    data += chunk
                elif p.poll() is not None:
                    break
            rc = p.wait(fmqtest.WAIT)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            os.close(master)
            p.stderr.close()
        text = data.decode("utf-8", "replace")
        self.assertEqual(rc, 0)
        self.assertEqual(text.count("evacuation of n1: "), 3, text)
        self.assertEqual(text.count("\x1b[5A\x1b[J"), 2, text)  # two redraws
        self.assertRegex(text, r"connections +100 / 667 +\[#{20}\.{4}\]  85%")
        self.assertRegex(text, r"connections +0 / 667 +\[#{24}\] 100%")
        self.assertIn("rate now 200/s (given: 200)", text)

# ------------------------------------------------- evacuation on a real node


class Evacuation(NodeTest):
    def test_start_wait_stop(self):
        rc, out, err = self.run_ctl("evacuate", "status")
        self.assertEqual((rc, out, err), (0, "status: disabled\n", ""))
        # A bad rate never reaches the node: still disabled after it.
        rc, out, err = self.run_ctl("evacuate", "start", "--conn-evict-rate", "0")
        self.assertEqual((rc, out), (2, ""))
        self.assertIn("--conn-evict-rate: expected an integer 1..1000000 or \"auto\"", err)
        self.assertEqual(self.api("/api/v1/evacuation"), (200, {"status": "disabled"}))
        # A node that is not in the cluster: HTTP 400 from the node, exit 2.
        rc, out, err = self.run_ctl("evacuate", "start", "--migrate-to", "n9")
        self.assertEqual((rc, out), (2, ""))
        self.assertIn("ferryctl: evacuate start: the node rejected the request: ", err)
        self.assertIn("(HTTP 400)", err)
        self.assertEqual(self.api("/api/v1/evacuation"), (200, {"status": "disabled"}))
        # Start and follow it to prohibiting (no clients: quick).
        rc, out, err = self.run_ctl("evacuate", "start", "--wait-health-check", "0",
                                    "--wait-takeover", "0", "--wait", timeout=60)
        self.assertEqual((rc, err), (0, ""))
        self.assertIn("state=prohibiting", out.splitlines()[-1])
        status, doc = self.api("/api/v1/evacuation")
        self.assertEqual((status, doc["status"], doc["state"]), (200, "enabled", "prohibiting"))
        self.assertEqual((doc["wait_takeover_s"], doc["wait_health_check_s"]), (0, 0))
        rc, out, err = self.run_ctl("evacuate", "status", "--output", "json")
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(json.loads(out), self.api("/api/v1/evacuation")[1])
        rc, out, err = self.run_ctl("evacuate", "status", "--watch")
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(len(out.splitlines()), 1, out)
        self.assertIn("status=enabled state=prohibiting conns=0/0 sessions=0/0", out)
        self.assertEqual(health_available(self.admin_port), 503)
        # A second start: 409 -> exit 1.
        rc, out, err = self.run_ctl("evacuate", "start", "--wait-health-check", "0")
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("ferryctl: evacuate start: ", err)
        self.assertIn("(HTTP 409)", err)
        # Stop, then a second stop: 409 -> exit 1.
        rc, out, err = self.run_ctl("evacuate", "stop")
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(kv(out)["status"], "disabled")
        self.assertEqual(self.api("/api/v1/evacuation"), (200, {"status": "disabled"}))
        self.assertEqual(health_available(self.admin_port), 200)
        rc, out, err = self.run_ctl("evacuate", "stop")
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("ferryctl: evacuate stop: ", err)
        self.assertIn("(HTTP 409)", err)
        self.assert_serves()

    def test_global_status_shows_the_evacuation(self):
        rc, out, err = self.run_ctl("global-status", "--output", "json")
        self.assertEqual((rc, err), (0, ""))
        doc = json.loads(out)
        self.assertEqual((doc["evacuations"], doc["rebalances"]), ([], []))
        rc, _, err = self.run_ctl("evacuate", "start", "--wait-health-check", "0",
                                  "--wait-takeover", "0")
        self.assertEqual((rc, err), (0, ""))
        nodes = []
        for _ in range(50):  # each node reports on its own schedule: bounded wait
            rc, out, err = self.run_ctl("global-status", "--output", "json")
            self.assertEqual((rc, err), (0, ""))
            nodes = [e.get("node") for e in json.loads(out)["evacuations"]]
            if nodes:
                break
            time.sleep(0.1)
        self.assertEqual(nodes, ["n1"])
        rc, out, err = self.run_ctl("global-status")
        self.assertEqual((rc, err), (0, ""))
        self.assertIn("evacuations:\n  - ", out)
        self.assertIn("node:", out)
        self.assertEqual(self.run_ctl("evacuate", "stop")[0], 0)


class Rebalance(NodeTest):
    def test_single_node(self):
        rc, out, err = self.run_ctl("rebalance", "status")
        self.assertEqual((rc, out, err), (0, "status: disabled\n", ""))
        rc, out, err = self.run_ctl("rebalance", "status", "--output", "json")
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(json.loads(out), {"status": "disabled"})
        # One node, no clients: nothing to balance (409) -> exit 1.
        rc, out, err = self.run_ctl("rebalance", "start", "--wait-health-check", "0")
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("ferryctl: rebalance start: ", err)
        self.assertIn("(HTTP 409)", err)
        rc, out, err = self.run_ctl("rebalance", "stop")
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("(HTTP 409)", err)
        # Invalid locally: exit 2, and the node is still idle.
        rc, out, err = self.run_ctl("rebalance", "start", "--rel-conn-threshold", "0.5")
        self.assertEqual((rc, out), (2, ""))
        self.assertEqual(self.api("/api/v1/rebalance"), (200, {"status": "disabled"}))
        self.assert_serves()

# ---------------------------------------------------------- upgrade-status

STALE_RE = (r"ferryctl: status is (\d+) s old: is the controller running\? "
            r"\(ferry-operator apply resumes it\)\n")


def now_ms():
    return int(time.time() * 1000)


def upgrade_status(name="demo", updated_ago_s=1):
    """A status.json as ferry-operator's write_status makes it: a blue-green
    upgrade from 5f1c2a to 9b7e10 in phase Evacuating (for 42 s), the blue
    node evacuating, the green one routed; 77aa00 held by an earlier abort."""
    now = now_ms()
    return {
        "name": name, "phase": "Evacuating", "phase_since_ms": now - 42000,
        "spec_revision": "9b7e10", "current_revision": "5f1c2a", "target_revision": "9b7e10",
        "strategy": "BlueGreen", "replicas": 2, "image": "ferrymq:1.4",
        "conditions": [
            {"type": "Progressing", "status": "True", "reason": "Evacuating",
             "message": "to revision 9b7e10", "last_transition_ms": now - 42000},
            {"type": "Ready", "status": "False", "reason": "Updating",
             "message": "current revision 5f1c2a, spec revision 9b7e10",
             "last_transition_ms": now - 185000},
        ],
        "nodes": [
            {"name": name + "-5f1c2a-0", "revision": "5f1c2a", "ordinal": 0, "role": "blue",
             "pid": 4101, "running": True, "ready": True, "routed": False, "connections": 412,
             "sessions": 667, "restarts": 0, "mqtt": "127.0.0.1:21000",
             "admin": "http://127.0.0.1:21001",
             "evacuation": {"state": "evicting_conns", "connections": 412, "sessions": 667,
                            "failed_sessions": 3}},
            {"name": name + "-9b7e10-0", "revision": "9b7e10", "ordinal": 0, "role": "green",
             "pid": 4102, "running": True, "ready": True, "routed": True, "connections": 255,
             "sessions": 0, "restarts": 1, "mqtt": "127.0.0.1:21010",
             "admin": "http://127.0.0.1:21011"},
            {"name": name + "-9b7e10-1", "revision": "9b7e10", "ordinal": 1, "role": "green",
             "pid": 0, "running": False, "ready": False, "routed": False, "connections": -1,
             "sessions": -1, "restarts": 2, "mqtt": "127.0.0.1:21020",
             "admin": "http://127.0.0.1:21021"},
        ],
        "load_balancer": {"kind": "haproxy", "service": "127.0.0.1:1883", "running": True},
        "updated_ms": now - updated_ago_s * 1000,
        "held": {"revision": "77aa00", "reason": "Aborted",
                 "message": "abort requested by \x1b[2Jan operator"},
    }


class UpgradeStatus(unittest.TestCase):
    """upgrade-status reads <run-dir>/<name>/status.json: no HTTP at all
    (the URL given points at nothing)."""

    def setUp(self):
        self.run_dir = tempfile.mkdtemp(prefix="fmq-it-ctl-run-")
        self.addCleanup(shutil.rmtree, self.run_dir, ignore_errors=True)

    def cluster(self, name, status=None, raw=None):
        """A cluster directory (platform.json) with status.json from status
        (JSON, keys sorted and indented as the controller writes it) or raw
        bytes; neither: no status.json."""
        d = os.path.join(self.run_dir, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "platform.json"), "w") as f:
            json.dump({"load_balancer": "haproxy", "service_host": "127.0.0.1"}, f)
        path = os.path.join(d, "status.json")
        if status is not None:
            with open(path, "w") as f:
                json.dump(status, f, indent=2, sort_keys=True)
        elif raw is not None:
            with open(path, "wb") as f:
                f.write(raw)
        return path

    def run_ctl(self, *args, **kw):
        return ctl("--url", "http://%s:%d" % (HOST, free_port()), "upgrade-status",
                   "--run-dir", self.run_dir, *args, **kw)

    def test_mid_upgrade_text(self):
        self.cluster("demo", upgrade_status())
        rc, out, err = self.run_ctl()
        self.assertEqual((rc, err), (0, ""))
        self.assertNotIn("\x1b", out)  # the held message's escape is filtered
        f = kv(out)
        self.assertEqual(f["cluster"], "demo (BlueGreen, 2 replicas, image ferrymq:1.4)")
        self.assertRegex(f["phase"], r"^Evacuating for 4[2-9]s$")
        self.assertEqual(f["revisions"], "current 5f1c2a, target 9b7e10, spec 9b7e10")
        self.assertEqual(f["held"], "77aa00 (Aborted): abort requested by ?[2Jan operator")
        self.assertEqual(f["service"], "127.0.0.1:1883 via haproxy (running)")
        self.assertRegex(f["updated"], r"^[1-9]s ago$")
        self.assertEqual(f["nodes"], "3")
        lines = out.splitlines()
        i = lines.index("conditions:")
        self.assertEqual(lines[i + 1].split(), ["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"])
        self.assertEqual(lines[i + 2].split()[:3], ["Progressing", "True", "Evacuating"])
        self.assertTrue(lines[i + 2].endswith("  to revision 9b7e10"), lines[i + 2])
        ready = lines[i + 3].split()
        self.assertEqual(ready[:3], ["Ready", "False", "Updating"])
        self.assertRegex(ready[3], r"^3m0[5-9]s$")
        self.assertTrue(lines[i + 3].endswith("current revision 5f1c2a, spec revision 9b7e10"))
        i = lines.index("nodes:      3")
        self.assertEqual(lines[i + 1].split(),
                         ["NODE", "ROLE", "STATE", "ROUTED", "CONNECTIONS", "SESSIONS",
                          "RESTARTS", "EVACUATION"])
        rows = {l.split()[0]: l.split(None, 7) for l in lines[i + 2:]}
        self.assertEqual(len(rows), 3, out)
        self.assertEqual(rows["demo-5f1c2a-0"],
                         ["demo-5f1c2a-0", "blue", "ready", "no", "412", "667", "0",
                          "evicting_conns: 412 conns, 667 sessions left, 3 failed"])
        self.assertEqual(rows["demo-9b7e10-0"],
                         ["demo-9b7e10-0", "green", "ready", "yes", "255", "0", "1", "-"])
        self.assertEqual(rows["demo-9b7e10-1"],  # down, counts unknown (-1)
                         ["demo-9b7e10-1", "green", "down", "no", "-", "-", "2", "-"])

    def test_without_held_and_balancer_down(self):
        st = upgrade_status()
        del st["held"]
        st["load_balancer"]["running"] = False
        st.update(phase="Running", current_revision="", target_revision="",
                  conditions=[], nodes=[])
        self.cluster("demo", st)
        rc, out, err = self.run_ctl()
        self.assertEqual((rc, err), (0, ""))
        f = kv(out)
        self.assertNotIn("held", f)
        self.assertEqual(f["revisions"], "current -, target -, spec 9b7e10")
        self.assertEqual(f["service"], "127.0.0.1:1883 via haproxy (NOT RUNNING)")
        self.assertEqual((f["conditions"], f["nodes"]), ("-", "none"))

    def test_json_round_trips(self):
        st = upgrade_status()
        self.cluster("demo", st)
        rc, out, err = self.run_ctl("--output", "json")
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(json.loads(out), st)  # all of stdout is the file's document
        # The global option may come first, and the environment gives the run dir.
        rc, out2, err = ctl("--output", "json", "upgrade-status",
                            env={"FERRY_RUN_DIR": self.run_dir})
        self.assertEqual((rc, out2, err), (0, out, ""))

    def test_stale_warning(self):
        self.cluster("old", upgrade_status("old", updated_ago_s=95))
        rc, out, err = self.run_ctl()
        self.assertEqual(rc, 0)
        self.assertEqual(kv(out)["phase"][:10], "Evacuating")  # the view is still printed
        m = re.fullmatch(STALE_RE, err)
        self.assertTrue(m, err)
        self.assertTrue(95 <= int(m.group(1)) <= 100, err)
        # With --output json: stdout is still only the document.
        rc, out, err = self.run_ctl("--output", "json")
        self.assertEqual(rc, 0)
        self.assertEqual(json.loads(out)["name"], "old")
        self.assertRegex(err, "^" + STALE_RE + "$")
        # 20 s is not stale.
        self.cluster("old", upgrade_status("old", updated_ago_s=20))
        self.assertEqual(self.run_ctl()[::2], (0, ""))

    def test_two_clusters(self):
        self.cluster("beta", upgrade_status("beta"))
        self.cluster("alpha", upgrade_status("alpha"))
        os.makedirs(os.path.join(self.run_dir, "not-a-cluster"))  # no platform.json
        rc, out, err = self.run_ctl()
        self.assertEqual((rc, out), (2, ""))
        self.assertEqual(err, "ferryctl: upgrade-status: 2 clusters in %s: alpha, beta; name one "
                              "with --name\n" % self.run_dir)
        rc, out, err = self.run_ctl("--name", "beta")
        self.assertEqual((rc, err), (0, ""))
        self.assertTrue(out.startswith("cluster:    beta (BlueGreen"), out)
        rc, out, err = self.run_ctl("--name", "alpha", "--output", "json")
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(json.loads(out)["name"], "alpha")

    def test_error_exit_codes(self):
        # No cluster at all: a run directory that points nowhere (2).
        missing = os.path.join(self.run_dir, "nope")
        rc, out, err = ctl("upgrade-status", "--run-dir", missing)
        self.assertEqual((rc, out), (2, ""))
        self.assertIn("ferryctl: upgrade-status: no cluster in %s" % missing, err)
        rc, out, err = self.run_ctl()  # exists, but empty
        self.assertEqual((rc, out), (2, ""))
        self.assertIn("no cluster in %s (no subdirectory with platform.json" % self.run_dir, err)
        # The default run directory is ./ferry-run.
        rc, out, err = ctl("upgrade-status", cwd=self.run_dir)
        self.assertEqual((rc, out), (2, ""))
        self.assertIn("no cluster in ferry-run", err)
        # A cluster that is not there (2), a name that cannot be one (2, locally).
        self.cluster("demo")
        rc, out, err = self.run_ctl("--name", "other")
        self.assertEqual((rc, out), (2, ""))
        self.assertIn("no cluster named other in %s" % self.run_dir, err)
        for bad in ("", "Demo", "-demo", "a/b", "..", "x" * 64):
            rc, out, err = self.run_ctl("--name", bad)
            self.assertEqual((rc, out), (2, ""), bad)
            self.assertIn("--name: expected a cluster name", err)
        rc, out, err = self.run_ctl("--run-dir", "")
        self.assertEqual((rc, out), (2, ""))
        self.assertIn("--run-dir: expected a directory", err)
        rc, out, err = self.run_ctl("--page", "2")
        self.assertEqual((rc, out), (2, ""))
        self.assertIn("--page is not an option of ferryctl upgrade-status", err)
        # The cluster exists, its controller has not written a status yet (3).
        rc, out, err = self.run_ctl()
        self.assertEqual((rc, out), (3, ""))
        self.assertIn("cannot read %s/demo/status.json: No such file or directory (no status "
                      "yet: is the controller running? ferry-operator apply starts it)"
                      % self.run_dir, err)
        self.assertEqual(self.run_ctl("--output", "json")[:2], (3, ""))
        # A file that is not a JSON object (5).
        for raw in (b"{\"phase\": ", b"[1, 2]", b"{\"a\": 1, \"a\": 2}", b""):
            self.cluster("demo", raw=raw)
            rc, out, err = self.run_ctl()
            self.assertEqual((rc, out), (5, ""), raw)
            self.assertIn("/demo/status.json is not a JSON object", err)
        # No URL or token is needed or checked.
        self.cluster("demo", upgrade_status())
        rc, _, err = ctl("upgrade-status", "--run-dir", self.run_dir,
                         env={"FERRYCTL_URL": "nope", "FERRYMQ_ADMIN_TOKEN": "a b"})
        self.assertEqual((rc, err), (0, ""))

    def test_watch(self):
        path = self.cluster("demo", upgrade_status())
        e = ctl_env()
        p = subprocess.Popen([os.path.abspath(CTL), "upgrade-status", "--run-dir", self.run_dir,
                              "--watch"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=e)
        try:
            r, _, _ = select.select([p.stdout], [], [], fmqtest.WAIT)
            self.assertTrue(r, "no first line")
            first = p.stdout.readline().decode()
            self.assertRegex(first, r"^t=0s phase=Evacuating for=4\ds current=5f1c2a "
                                    r"target=9b7e10 spec=9b7e10 held=77aa00 ")
            self.assertIn(" demo-5f1c2a-0=blue,ready,unrouted,conns=412,sessions=667,"
                          "evacuation=evicting_conns ", first)
            self.assertTrue(first.endswith(" demo-9b7e10-1=green,down,unrouted,conns=-,"
                                           "sessions=-\n"), first)
            # The controller moves on: the next reads show it.
            st = upgrade_status()
            st.update(phase="Forgetting", current_revision="9b7e10")
            del st["held"]
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(st, f)
            os.rename(tmp, path)  # as the controller does
            line = ""
            deadline = time.monotonic() + fmqtest.WAIT
            while "phase=Forgetting" not in line and time.monotonic() < deadline:
                r, _, _ = select.select([p.stdout], [], [], fmqtest.WAIT)
                self.assertTrue(r, "no further line")
                line = p.stdout.readline().decode()
            self.assertIn("phase=Forgetting for=4", line)
            self.assertIn(" current=9b7e10 target=9b7e10 spec=9b7e10 demo-", line)
            p.send_signal(signal.SIGINT)
            rc = p.wait(fmqtest.WAIT)
        finally:
            err = reap(p)
        self.assertEqual(rc, 130)
        self.assertEqual(err, "ferryctl: interrupted\n")

    def test_watch_json_stale_and_file_gone(self):
        path = self.cluster("demo", upgrade_status(updated_ago_s=60))
        e = ctl_env()
        p = subprocess.Popen([os.path.abspath(CTL), "--output", "json", "--timeout", "2",
                              "upgrade-status", "--run-dir", self.run_dir, "--watch"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=e)
        try:
            docs = []
            for _ in range(2):
                r, _, _ = select.select([p.stdout], [], [], fmqtest.WAIT)
                self.assertTrue(r, "no line")
                docs.append(json.loads(p.stdout.readline()))
            self.assertEqual(docs[0], docs[1])
            self.assertEqual(docs[0]["phase"], "Evacuating")
            os.unlink(path)  # the cluster is deleted: exit 3 after --timeout s
            t0 = time.monotonic()
            rc = p.wait(fmqtest.WAIT + 10)
            took = time.monotonic() - t0
            rest = p.stdout.read().decode()
        finally:
            err = reap(p)
        self.assertEqual(rc, 3)
        self.assertLess(took, 5)
        self.assertTrue(all(json.loads(l)["name"] == "demo" for l in rest.splitlines()), rest)
        errs = err.splitlines()
        self.assertRegex(errs[0] + "\n", "^" + STALE_RE + "$")  # once, not at every read
        self.assertEqual(len(errs), 2, err)
        self.assertIn("status.json: No such file or directory (no status yet", errs[1])

    def test_help(self):
        rc, out, err = ctl("--help")
        self.assertEqual((rc, err), (0, ""))
        self.assertIn("\n  upgrade-status [--name NAME]", out)
        rc, out, err = ctl("upgrade-status", "--help")
        self.assertEqual((rc, err), (0, ""))
        self.assertTrue(out.startswith(
            "Usage: ferryctl upgrade-status [--run-dir DIR] [--name NAME] [--watch]\n"), out)
        for opt in ("--run-dir DIR", "--name NAME", "--watch", "$FERRY_RUN_DIR"):
            self.assertIn(opt, out)
        self.assertEqual(ctl("help", "upgrade-status")[1], out)


def health_available(port):
    """The status of GET /health/available (no token needed)."""
    req = urllib.request.Request("http://%s:%d/health/available" % (HOST, port))
    try:
        with urllib.request.urlopen(req, timeout=fmqtest.WAIT) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


if __name__ == "__main__":
    fmqtest.main()
