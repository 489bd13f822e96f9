"""Open-file limit: ferrymq derives max_connections from RLIMIT_NOFILE, and a
flood past its descriptors neither crashes it nor spins its loop (libuv's
reserve-descriptor accept path closes what it cannot hold); when the flood
goes away it serves clients again.

The broker runs with a hard limit lowered to 128 (lowering needs no
privilege), so the test holds only a few hundred sockets. The "no spin" check
compares the broker's CPU time over a quiet 2 s window with a bound of half a
core: a spinning accept loop burns the whole core.
"""

import os
import resource
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import fmqtest
from fmqtest import HOST, WAIT

LIMIT = 128


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class FdLimitTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="fmq-fd-")
        self.log_path = os.path.join(self.dir, "ferrymq.log")
        self.port = fmqtest.free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("FERRYMQ_")}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [fmqtest.FERRYMQ, "--listen", "%s:%d" % (HOST, self.port),
                 "--log-level", "info", "--connect-timeout-ms", "60000",
                 "--data-dir", os.path.join(self.dir, "data")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT)))
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and not fmqtest.port_accepts(self.port):
            self.assertIsNone(self.proc.poll(), self.log())
            time.sleep(0.05)
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = None
            self.assertEqual(rc, 0, self.log())

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def test_budget_flood_and_recovery(self):
        # The budget: a hard limit of 128 leaves 64 client connections.
        self.assertIn("max_connections 64", self.log())

        # Flood: three times the descriptors the broker has, none sending.
        for _ in range(3 * LIMIT):
            s = socket.socket()
            s.settimeout(2)
            try:
                s.connect((HOST, self.port))
            except OSError:
                s.close()
                continue
            self.socks.append(s)
        time.sleep(0.5)
        self.assertIsNone(self.proc.poll(), "ferrymq died under the flood:\n" + self.log())
        self.assertLessEqual(open_fds(self.proc.pid), LIMIT)

        # Quiet window with the flood still connected: the loop must idle.
        before = cpu_seconds(self.proc.pid)
        time.sleep(2.0)
        used = cpu_seconds(self.proc.pid) - before
        self.assertLess(used, 1.0, "ferrymq used %.2f s of CPU in 2 s: spinning?" % used)

        # The flood goes away; a real client gets served again.
        for s in self.socks:
            s.close()
        self.socks = []
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and open_fds(self.proc.pid) > 16:
            time.sleep(0.1)
        sub = fmqtest.Raw(self.port)
        sub.connect(client_id="after-flood")
        sub.subscribe([("fd/t", 1)])
        pub = fmqtest.Raw(self.port)
        pub.connect(client_id="pub-after-flood")
        pub.publish("fd/t", b"still here", qos=1)
        p = sub.next_publish()
        self.assertEqual(p.payload, b"still here")
        sub.close()
        pub.close()


if __name__ == "__main__":
    unittest.main()
