"""ferry-operator on the local platform, behind Debian's haproxy: real node
processes, the real load balancer, the real admin APIs. No load here (see
test_upgrade.py for upgrades under load): the controller's behaviour.

- the first apply creates 3 nodes and routes haproxy to them; a BlueGreen
  upgrade creates green, switches, drains blue and deletes it, and the cluster
  forgets the blue nodes;
- green never ready (a config ferrymq refuses) -> held after
  phaseTimeoutSeconds, blue keeps serving, status says GreenNotReady; a new
  spec releases the hold;
- abort during initialDelaySeconds, and a spec revert: back to blue;
- a node killed with SIGKILL is restarted; the controller killed mid-upgrade
  is restarted by `apply` and finishes the upgrade;
- CLI refusals: an invalid spec names the field; the balancer cannot change.

Loopback only; every wait is bounded."""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

import fmqtest as ft

OPERATOR = os.environ.get("FMQ_IT_FERRY_OPERATOR", "")
FERRYMQ = os.environ.get("FMQ_IT_FERRYMQ", "")


def spec_text(name, image, strategy="BlueGreen", replicas=3, config=None, initial_delay=1,
              wait_takeover=1, rate=200, phase_timeout=120, lb="haproxy"):
    cfg = dict(config or {})
    cfg.setdefault("log_level", "info")
    cfg_text = "{" + ", ".join("%s: %s" % (k, v) for k, v in cfg.items()) + "}"
    return ("apiVersion: ferrymq.io/v1alpha1\nkind: FerryCluster\nmetadata: {name: %s}\n"
            "spec:\n  replicas: %d\n  image: %s\n  binary: %s\n  config: %s\n"
            "  updateStrategy: %s\n  loadBalancer: %s\n  phaseTimeoutSeconds: %d\n"
            "  blueGreenUpdate:\n    initialDelaySeconds: %d\n"
            "    evacuationStrategy: {waitTakeover: %d, connEvictRate: %d, sessEvictRate: %d}\n"
            % (name, replicas, image, FERRYMQ, cfg_text, strategy, lb, phase_timeout,
               initial_delay, wait_takeover, rate, rate))


def admin(url, path):
    """GET url+path from a node's admin API (no proxy), parsed JSON."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url + path, timeout=ft.WAIT) as r:
        return json.loads(r.read().decode())


def haproxy_runtime(sock_path, cmd):
    """One command to haproxy's runtime API socket; its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(ft.WAIT)
        s.connect(sock_path)
        s.sendall(cmd.encode() + b"\n")
        out = b""
        for _ in range(10000):
            data = s.recv(65536)
            if not data:
                break
            out += data
    return out.decode()


class OperatorTest(unittest.TestCase):
    def setUp(self):
        if not os.access(OPERATOR, os.X_OK):
            self.skipTest("FMQ_IT_FERRY_OPERATOR not set")
        self.tmp = tempfile.mkdtemp(prefix="fmq-it-operator-")
        self.run_dir = os.path.join(self.tmp, "run")
        # Node ports: port_base + 0..899; below the ephemeral range, one block
        # per test process so parallel test files do not meet.
        self.port_base = 10000 + (os.getpid() % 19) * 1000
        self.service_port = ft.free_port()
        self.clusters = set()

    def tearDown(self):
        for name in self.clusters:
            self.op("delete", "--wait", "--name", name, check=False)
        for name in self.clusters:  # a controller that would not stop
            pid = self.controller_pid(name)
            if pid:
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def op(self, *args, check=True, timeout=180):
        p = subprocess.run([OPERATOR] + list(args) + ["--run-dir", self.run_dir],
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("ferry-operator %s: exit %d\nstdout:\n%s\nstderr:\n%s" %
                                 (" ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def apply(self, name, image, wait=True, timeout=120, check=True, **kw):
        path = os.path.join(self.tmp, "%s-%s.yaml" % (name, image.replace(":", "_")))
        with open(path, "w") as f:
            f.write(spec_text(name, image, **kw))
        self.clusters.add(name)
        args = ["apply", "-f", path, "--service-port", str(self.service_port),
                "--port-base", str(self.port_base)]
        if wait:
            args += ["--wait", "--timeout", str(timeout)]
        return self.op(*args, check=check, timeout=timeout + 30)

    def status(self, name):
        return json.loads(self.op("status", "-o", "json", "--name", name).stdout)

    def events(self, name):
        return self.op("events", "--name", name).stdout

    def controller_pid(self, name):
        try:
            return json.loads(self.op("status", "-o", "json", "--name", name,
                                      check=False).stdout).get("controller_pid", 0)
        except ValueError:
            return 0

    def wait_status(self, name, pred, what, timeout=60):
        deadline = time.monotonic() + timeout
        st = None
        for _ in range(100000):
            try:
                st = self.status(name)
                if pred(st):
                    return st
            except (AssertionError, ValueError):
                pass
            if time.monotonic() > deadline:
                break
            time.sleep(0.3)
        raise AssertionError("%s: not reached in %ds; last status:\n%s\nevents:\n%s" %
                             (what, timeout, json.dumps(st, indent=1), self.events(name)))

    def haproxy_servers(self, name):
        """haproxy's own view: {server: (admin state, op state, current sessions)}."""
        sock = os.path.join(self.run_dir, name, "lb", "haproxy.sock")
        out = haproxy_runtime(sock, "show servers state %s" % name)
        servers = {}
        for line in out.splitlines()[2:]:
            f = line.split()
            if len(f) > 6:
                servers[f[3]] = (int(f[6]), int(f[5]))
        return servers

    def pub_sub_through_service(self, topic):
        """A message through the service address reaches a subscriber."""
        sub = ft.Paho(self.service_port, client_id="probe-sub-%d" % time.time_ns())
        sub.connect()
        sub.subscribe(topic, qos=1)
        ft.mosquitto_pub(self.service_port, topic, "hello", qos=1)
        msg = sub.get()
        sub.disconnect()
        sub.stop()
        return msg.payload


class Lifecycle(OperatorTest):
    def test_create_then_blue_green_upgrade_replaces_every_node(self):
        p = self.apply("lc", "ferrymq:1.0")
        self.assertIn("revision", p.stdout)
        st = self.status("lc")
        self.assertEqual(st["phase"], "Running")
        rev1 = st["current_revision"]
        self.assertEqual(len(rev1), 10)
        nodes = st["nodes"]
        self.assertEqual(sorted(n["name"] for n in nodes),
                         ["lc-%s-%d" % (rev1, i) for i in range(3)])
        self.assertTrue(all(n["running"] and n["ready"] and n["routed"] for n in nodes), nodes)
        cond = {c["type"]: c for c in st["conditions"]}
        self.assertEqual((cond["Ready"]["status"], cond["Available"]["status"]), ("True", "True"))
        # haproxy itself: three servers, all ready (admin state 0) and UP (2).
        servers = self.haproxy_servers("lc")
        self.assertEqual(sorted(servers), sorted(n["name"] for n in nodes))
        self.assertTrue(all(s == (0, 2) for s in servers.values()), servers)
        self.assertEqual(self.pub_sub_through_service("lc/t"), b"hello")
        blue_pids = [n["pid"] for n in nodes]
        # Persistent sessions on every blue node: each has something to evacuate.
        clients = []
        for i in range(9):
            c = ft.Paho(self.service_port, client_id="lc-%d" % i, clean=False, session_expiry=600)
            c.connect(clean=False, session_expiry=600)
            clients.append(c)
        self.wait_status("lc", lambda s: sum(n["connections"] for n in s["nodes"]) == 9 and
                         all(n["connections"] > 0 for n in s["nodes"]),
                         "clients on every node", timeout=20)

        self.apply("lc", "ferrymq:1.1")
        st = self.status("lc")
        rev2 = st["current_revision"]
        self.assertNotEqual(rev2, rev1)
        self.assertEqual(sorted(n["name"] for n in st["nodes"]),
                         ["lc-%s-%d" % (rev2, i) for i in range(3)])
        for pid in blue_pids:  # the blue processes are gone
            self.assertFalse(os.path.exists("/proc/%d/cmdline" % pid) and
                             b"lc-" + rev1.encode() in open("/proc/%d/cmdline" % pid, "rb").read())
        # No green node lists a blue one any more (the cluster forgot them).
        for n in st["nodes"]:
            listed = [x["node"] for x in admin(n["admin"], "/api/v1/cluster")["nodes"]]
            self.assertEqual(sorted(listed), sorted(x["name"] for x in st["nodes"]))
        # haproxy drops a deleted node's server once its last connection ended
        # (the next round after the node is gone).
        want = sorted(n["name"] for n in st["nodes"])
        for _ in range(100):
            if sorted(self.haproxy_servers("lc")) == want:
                break
            time.sleep(0.1)
        sock = os.path.join(self.run_dir, "lc", "lb", "haproxy.sock")
        self.assertEqual(sorted(self.haproxy_servers("lc")), want,
                         haproxy_runtime(sock, "show stat") + "\n" +
                         open(os.path.join(self.run_dir, "lc", "lb", "haproxy.log")).read()[-3000:])
        ev = self.events("lc")
        for i in range(3):  # each blue node evacuated, highest ordinal first
            self.assertIn("evacuate node lc-%s-%d" % (rev1, i), ev)
        order = [ev.index("evacuate node lc-%s-%d" % (rev1, i)) for i in (2, 1, 0)]
        self.assertEqual(order, sorted(order), ev)
        self.assertIn("route the load balancer to: lc-%s-0 lc-%s-1 lc-%s-2" % ((rev2,) * 3), ev)
        self.assertEqual(self.pub_sub_through_service("lc/t2"), b"hello")
        # The 9 sessions live on green now.
        st = self.wait_status("lc", lambda s: sum(n["sessions"] for n in s["nodes"]) >= 9,
                              "sessions on green", timeout=20)
        self.assertEqual(sum(n["sessions"] for n in st["nodes"]), 9)
        for c in clients:
            c.stop()

    def test_killed_node_is_restarted(self):
        self.apply("kn", "ferrymq:1.0")
        st = self.status("kn")
        victim = st["nodes"][1]
        os.kill(victim["pid"], signal.SIGKILL)
        st = self.wait_status("kn", lambda s: any(
            n["name"] == victim["name"] and n["restarts"] == 1 and n["ready"] and
            n["pid"] != victim["pid"] for n in s["nodes"]), "node restarted", timeout=30)
        self.assertIn("node %s is down: start it again" % victim["name"], self.events("kn"))


class Failures(OperatorTest):
    def test_green_never_ready_is_held_and_blue_keeps_serving(self):
        self.apply("gn", "ferrymq:1.0")
        rev1 = self.status("gn")["current_revision"]
        # ferrymq refuses max_inflight 0 at start: green never becomes ready.
        p = self.apply("gn", "ferrymq:1.1", config={"max_inflight": 0}, phase_timeout=5,
                       timeout=90, check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("held", p.stderr)
        st = self.wait_status("gn", lambda s: s["phase"] == "Running" and
                              len(s["nodes"]) == 3, "green removed", timeout=60)
        self.assertEqual(st["current_revision"], rev1)
        self.assertEqual(st["held"]["reason"], "GreenNotReady")
        self.assertIn("not ready after 5 s", st["held"]["message"])
        cond = {c["type"]: c for c in st["conditions"]}
        self.assertEqual((cond["Progressing"]["status"], cond["Progressing"]["reason"]),
                         ("False", "GreenNotReady"))
        self.assertEqual((cond["Ready"]["status"], cond["Ready"]["reason"]), ("False", "Held"))
        self.assertEqual(cond["Available"]["status"], "True")
        self.assertTrue(all(n["revision"] == rev1 and n["routed"] for n in st["nodes"]))
        self.assertEqual(self.pub_sub_through_service("gn/t"), b"hello")
        # A corrected spec (another revision) releases the hold and upgrades.
        self.apply("gn", "ferrymq:1.2")
        st = self.status("gn")
        self.assertNotIn("held", st)
        self.assertNotEqual(st["current_revision"], rev1)

    def test_abort_during_initial_delay_routes_back_to_blue(self):
        self.apply("ab", "ferrymq:1.0")
        rev1 = self.status("ab")["current_revision"]
        self.apply("ab", "ferrymq:1.1", initial_delay=60, wait=False)
        self.wait_status("ab", lambda s: s["phase"] == "Delaying", "green ready", timeout=60)
        self.op("abort", "--name", "ab")
        st = self.wait_status("ab", lambda s: s["phase"] == "Running" and len(s["nodes"]) == 3,
                              "aborted", timeout=60)
        self.assertEqual(st["current_revision"], rev1)
        self.assertEqual(st["held"]["reason"], "Aborted")
        self.assertTrue(all(n["revision"] == rev1 and n["routed"] for n in st["nodes"]))

    def test_revert_to_current_revision_mid_upgrade(self):
        self.apply("rv", "ferrymq:1.0")
        rev1 = self.status("rv")["current_revision"]
        self.apply("rv", "ferrymq:1.1", initial_delay=60, wait=False)
        self.wait_status("rv", lambda s: s["phase"] == "Delaying", "green ready", timeout=60)
        self.apply("rv", "ferrymq:1.0")  # the old spec again: a revert
        st = self.status("rv")
        self.assertEqual(st["current_revision"], rev1)
        self.assertNotIn("held", st)
        self.assertEqual(len(st["nodes"]), 3)
        cond = {c["type"]: c for c in st["conditions"]}
        self.assertEqual(cond["Ready"]["status"], "True")

    def test_controller_killed_mid_upgrade_carries_on(self):
        self.apply("ck", "ferrymq:1.0")
        clients = []
        for i in range(30):  # persistent sessions: something to evacuate
            c = ft.Paho(self.service_port, client_id="ck-%02d" % i, clean=False,
                        session_expiry=600)
            c.connect(clean=False, session_expiry=600)
            clients.append(c)
        self.apply("ck", "ferrymq:1.1", wait_takeover=3, rate=5, wait=False)
        self.wait_status("ck", lambda s: s["phase"] == "Evacuating", "evacuating", timeout=60)
        pid = self.controller_pid("ck")
        self.assertGreater(pid, 0)
        os.kill(pid, signal.SIGKILL)
        time.sleep(1.5)
        self.assertEqual(self.controller_pid("ck"), 0)
        # `apply` of the same spec starts a controller, which carries on.
        p = self.apply("ck", "ferrymq:1.1", wait_takeover=3, rate=5, timeout=120)
        self.assertIn("controller started", p.stdout)
        st = self.status("ck")
        self.assertTrue(all(n["revision"] == st["current_revision"] for n in st["nodes"]))
        self.assertEqual(sum(n["sessions"] for n in st["nodes"]), 30)
        for c in clients:
            c.stop()


class Cli(OperatorTest):
    def test_invalid_spec_names_the_field(self):
        path = os.path.join(self.tmp, "bad.yaml")
        with open(path, "w") as f:
            f.write(spec_text("bad", "ferrymq:1.0").replace("replicas: 3", "replicas: 0"))
        p = self.op("apply", "-f", path, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("spec.replicas", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.run_dir, "bad")))

    def test_load_balancer_cannot_change(self):
        self.apply("lbc", "ferrymq:1.0")
        p = self.apply("lbc", "ferrymq:1.0", lb="kernel", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("cannot change", p.stderr)

    def test_status_without_cluster(self):
        p = self.op("status", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("no cluster", p.stderr)


if __name__ == "__main__":
    ft.main()
