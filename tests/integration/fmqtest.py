"""Shared helpers of the ferrymq integration tests.

Everything here talks to a real ferrymq process over 127.0.0.1 only:

- Broker: starts ferrymq on a free loopback port, waits until the port
  accepts, stops it with SIGTERM and checks it exits 0.
- Raw: an MQTT client made of bytes built by hand in this file (never with
  the project's codec), for protocol details and malformed packets.
- Paho: Debian's python3-paho-mqtt 1.6 (these tests run under
  /usr/bin/python3, which has it).
- MosquittoSub / mosquitto_pub: Debian's mosquitto-clients.
- BrokerTest: a unittest.TestCase whose every test gets its own broker;
  main() runs a file's tests and prints the broker log of each failed test.
- ClusterNode, Cluster, ClusterTest: the same for several nodes acting as
  one broker (see "the cluster" below and README.md).
- admin_get: a request to a node's admin HTTP API (enable_admin gives nodes
  an admin listener).
- HAProxy: Debian's haproxy in TCP mode in front of nodes, with HTTP health
  checks on their admin ports and its runtime API.

Every wait is bounded by a deadline; nothing here asserts timings beyond
generous timeouts.
"""

import json
import os
import queue
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

HOST = "127.0.0.1"
FERRYMQ = os.environ.get("FMQ_IT_FERRYMQ", "")  # not FERRYMQ_*: those are settings
# Optional command the broker runs under, e.g.
# "valgrind -q --error-exitcode=99" (a non-zero exit fails the test).
WRAPPER = os.environ.get("FMQ_IT_WRAPPER", "").split()
MOSQUITTO_PUB = os.environ.get("MOSQUITTO_PUB", "mosquitto_pub")
MOSQUITTO_SUB = os.environ.get("MOSQUITTO_SUB", "mosquitto_sub")
WAIT = 5.0        # longest wait for something that should happen
QUIET = 1.0       # how long to watch for something that should not happen

# ---------------------------------------------------------------- the broker

_logs = {}  # test id -> list of broker log paths, for main()
_current_test = [None]


def free_port():
    """A loopback port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_accepts(port, timeout=0.2):
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


class Broker:
    """One ferrymq process on a free loopback port."""

    def __init__(self, *args, log_level="debug"):
        if not FERRYMQ or not os.access(FERRYMQ, os.X_OK):
            raise RuntimeError("FMQ_IT_FERRYMQ does not name the ferrymq binary: %r" % FERRYMQ)
        self.args = [str(a) for a in args]
        self.log_level = log_level
        self.proc = None
        self.port = None
        self.dir = tempfile.mkdtemp(prefix="fmq-it-")
        self.log_path = os.path.join(self.dir, "ferrymq.log")
        self.stopped_rc = None
        self.terminated = False  # SIGTERM sent (by the test or by stop)

    def start(self):
        last = ""
        for _attempt in range(3):  # the picked port may be taken meanwhile
            self.port = free_port()
            cmd = WRAPPER + [FERRYMQ, "--listen", "%s:%d" % (HOST, self.port),
                   "--log-level", self.log_level,
                   "--data-dir", os.path.join(self.dir, "data")] + self.args
            log = open(self.log_path, "ab")
            log.write(("$ %s\n" % " ".join(cmd)).encode())
            log.flush()
            # Only the flags configure it: no FERRYMQ_* setting from outside.
            env = {k: v for k, v in os.environ.items() if not k.startswith("FERRYMQ_")}
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=env)
            log.close()
            paths = _logs.setdefault(_current_test[0], [])
            if self.log_path not in paths:
                paths.append(self.log_path)
            # Ready when the port accepts and the log says it is ours (a
            # port picked this way may meanwhile go to someone else).
            mine = "listening on %s:%d " % (HOST, self.port)
            deadline = time.monotonic() + WAIT * 2
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if mine in self.log() and port_accepts(self.port):
                    return self
                time.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(WAIT)
            last = self.log()
        raise RuntimeError("ferrymq did not start listening:\n" + last)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def terminate(self):
        """Sends SIGTERM (once)."""
        self.terminated = True
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout=WAIT):
        """The exit status, or None when it is still running after timeout."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=WAIT):
        """SIGTERM, then the exit status; kills it (and returns None) when it
        does not exit within timeout."""
        if self.proc is None:
            return 0
        if self.stopped_rc is not None:
            return self.stopped_rc
        self.terminate()
        rc = self.wait_exit(timeout)
        if rc is None:
            self.proc.kill()
            self.proc.wait(WAIT)
        self.stopped_rc = rc
        return rc

# ------------------------------------------------------- bytes built by hand

PT_CONNECT, PT_CONNACK, PT_PUBLISH, PT_PUBACK, PT_PUBREC, PT_PUBREL, PT_PUBCOMP = range(1, 8)
PT_SUBSCRIBE, PT_SUBACK, PT_UNSUBSCRIBE, PT_UNSUBACK, PT_PINGREQ, PT_PINGRESP = range(8, 14)
PT_DISCONNECT, PT_AUTH = 14, 15

# MQTT 5 property identifiers (section 2.2.2.2) and their types.
P_PAYLOAD_FORMAT = 0x01
P_MESSAGE_EXPIRY = 0x02
P_CONTENT_TYPE = 0x03
P_RESPONSE_TOPIC = 0x08
P_CORRELATION_DATA = 0x09
P_SUBSCRIPTION_ID = 0x0B
P_SESSION_EXPIRY = 0x11
P_ASSIGNED_CLIENT_ID = 0x12
P_SERVER_KEEP_ALIVE = 0x13
P_AUTH_METHOD = 0x15
P_REQUEST_PROBLEM_INFO = 0x17
P_WILL_DELAY = 0x18
P_REASON_STRING = 0x1F
P_RECEIVE_MAXIMUM = 0x21
P_TOPIC_ALIAS_MAXIMUM = 0x22
P_TOPIC_ALIAS = 0x23
P_MAXIMUM_QOS = 0x24
P_RETAIN_AVAILABLE = 0x25
P_USER_PROPERTY = 0x26
P_MAXIMUM_PACKET_SIZE = 0x27

_PROP_TYPES = {
    0x01: "byte", 0x02: "u32", 0x03: "str", 0x08: "str", 0x09: "bin", 0x0B: "varint",
    0x11: "u32", 0x12: "str", 0x13: "u16", 0x15: "str", 0x16: "bin", 0x17: "byte",
    0x18: "u32", 0x19: "byte", 0x1A: "str", 0x1C: "str", 0x1F: "str", 0x21: "u16",
    0x22: "u16", 0x23: "u16", 0x24: "byte", 0x25: "byte", 0x26: "pair", 0x27: "u32",
    0x28: "byte", 0x29: "byte", 0x2A: "byte",
}


def varint(n):
    """Variable Byte Integer (section 1.5.5)."""
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def u16(n):
    return struct.pack(">H", n)


def u32(n):
    return struct.pack(">I", n)


def s(text):
    """UTF-8 string or binary data: two-byte length, then the bytes."""
    b = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    return u16(len(b)) + b


def props(items=()):
    """Property list from (id, value) pairs; ids may repeat."""
    body = bytearray()
    for pid, val in items:
        body += varint(pid)
        t = _PROP_TYPES[pid]
        if t == "byte":
            body.append(val)
        elif t == "u16":
            body += u16(val)
        elif t == "u32":
            body += u32(val)
        elif t == "varint":
            body += varint(val)
        elif t in ("str", "bin"):
            body += s(val)
        else:
            body += s(val[0]) + s(val[1])
    return varint(len(body)) + bytes(body)


def packet(first_byte, body):
    return bytes([first_byte]) + varint(len(body)) + bytes(body)


def connect(version=5, client_id="", clean=True, keepalive=60, properties=(), will=None,
            username=None, password=None, proto_name="MQTT", flags_extra=0):
    """CONNECT. will: dict(topic, payload, qos=0, retain=False, properties=())."""
    flags = (0x02 if clean else 0) | flags_extra
    payload = s(client_id)
    if will is not None:
        flags |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
        if version == 5:
            payload += props(will.get("properties", ()))
        payload += s(will["topic"]) + s(will.get("payload", b""))
    if username is not None:
        flags |= 0x80
        payload += s(username)
    if password is not None:
        flags |= 0x40
        payload += s(password)
    body = s(proto_name) + bytes([version, flags]) + u16(keepalive)
    if version == 5:
        body += props(properties)
    return packet(0x10, body + payload)


def publish(topic, payload=b"", qos=0, packet_id=None, retain=False, dup=False, version=5,
            properties=()):
    if isinstance(payload, str):
        payload = payload.encode()
    first = 0x30 | (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    body = s(topic)
    if qos:
        body += u16(packet_id)
    if version == 5:
        body += props(properties)
    return packet(first, body + payload)


def ack(ptype, packet_id, reason=None, version=5):
    """PUBACK / PUBREC / PUBREL / PUBCOMP."""
    first = (ptype << 4) | (0x02 if ptype == PT_PUBREL else 0)
    body = u16(packet_id)
    if version == 5 and reason is not None:
        body += bytes([reason])
    return packet(first, body)


def sub_options(qos=0, no_local=False, rap=False, rh=0):
    return qos | (0x04 if no_local else 0) | (0x08 if rap else 0) | (rh << 4)


def subscribe(packet_id, filters, version=5, properties=()):
    """filters: [(filter, options byte)] (options from sub_options)."""
    body = u16(packet_id)
    if version == 5:
        body += props(properties)
    for f, opt in filters:
        body += s(f) + bytes([opt])
    return packet(0x82, body)


def unsubscribe(packet_id, filters, version=5):
    body = u16(packet_id) + (props() if version == 5 else b"")
    for f in filters:
        body += s(f)
    return packet(0xA2, body)


def disconnect(reason=None, properties=(), version=5):
    if version != 5 or reason is None:
        return b"\xe0\x00"
    return packet(0xE0, bytes([reason]) + props(properties))


PINGREQ = b"\xc0\x00"
ack_packet = ack  # Raw has methods named ack_*

# -------------------------------------------------------- decoding replies


class Reader:
    def __init__(self, data):
        self.d = bytes(data)
        self.i = 0

    def left(self):
        return len(self.d) - self.i

    def take(self, n):
        if self.left() < n:
            raise ValueError("packet truncated")
        b = self.d[self.i:self.i + n]
        self.i += n
        return b

    def byte(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def varint(self):
        n, mult = 0, 1
        for _ in range(4):
            b = self.byte()
            n += (b & 0x7F) * mult
            if not b & 0x80:
                return n
            mult *= 128
        raise ValueError("varint longer than 4 bytes")

    def bin(self):
        return self.take(self.u16())

    def str(self):
        return self.bin().decode("utf-8")

    def props(self):
        """[(id, value)] in wire order."""
        end = self.varint()
        end += self.i
        out = []
        while self.i < end:
            pid = self.varint()
            t = _PROP_TYPES.get(pid)
            if t == "byte":
                v = self.byte()
            elif t == "u16":
                v = self.u16()
            elif t == "u32":
                v = self.u32()
            elif t == "varint":
                v = self.varint()
            elif t == "str":
                v = self.str()
            elif t == "bin":
                v = self.bin()
            elif t == "pair":
                v = (self.str(), self.str())
            else:
                raise ValueError("unknown property 0x%02x" % pid)
            out.append((pid, v))
        if self.i != end:
            raise ValueError("property length mismatch")
        return out


def prop(plist, pid, default=None):
    for k, v in plist:
        if k == pid:
            return v
    return default


def prop_all(plist, pid):
    return [v for k, v in plist if k == pid]


class Packet:
    """One packet from the broker, decoded for the types a server sends."""

    def __init__(self, first, body, version):
        self.type = first >> 4
        self.flags = first & 0x0F
        self.body = body
        self.props = []
        self.reason = None
        r = Reader(body)
        t = self.type
        if t == PT_CONNACK:
            self.session_present = bool(r.byte() & 1)
            self.reason = r.byte()
            if version == 5 and r.left():
                self.props = r.props()
        elif t == PT_PUBLISH:
            self.dup = bool(self.flags & 0x08)
            self.qos = (self.flags >> 1) & 3
            self.retain = bool(self.flags & 1)
            self.topic = r.str()
            self.packet_id = r.u16() if self.qos else None
            if version == 5:
                self.props = r.props()
            self.payload = r.take(r.left())
        elif t in (PT_PUBACK, PT_PUBREC, PT_PUBREL, PT_PUBCOMP):
            self.packet_id = r.u16()
            self.reason = 0
            if version == 5 and r.left():
                self.reason = r.byte()
                if r.left():
                    self.props = r.props()
        elif t in (PT_SUBACK, PT_UNSUBACK):
            self.packet_id = r.u16()
            if version == 5:
                self.props = r.props()
            self.codes = list(r.take(r.left()))
        elif t == PT_DISCONNECT:
            self.reason = 0
            if r.left():
                self.reason = r.byte()
                if r.left():
                    self.props = r.props()

    def __repr__(self):
        names = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC",
                 6: "PUBREL", 7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE",
                 11: "UNSUBACK", 12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH"}
        extra = ""
        if self.type == PT_PUBLISH:
            extra = " %r q%d dup=%d r=%d id=%s %r" % (self.topic, self.qos, self.dup,
                                                     self.retain, self.packet_id, self.payload)
        elif self.reason is not None:
            extra = " reason=0x%02x" % self.reason
        return "<%s%s>" % (names.get(self.type, "?"), extra)


class Closed(Exception):
    """The broker closed the connection."""


class Raw:
    """An MQTT client built from hand-made bytes over one TCP socket."""

    def __init__(self, port, version=5):
        self.version = version
        self.sock = socket.create_connection((HOST, port), timeout=WAIT)
        self.buf = b""
        self.eof = False

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        """Reads more bytes; False at end of stream."""
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("nothing from the broker in time")
        r, _, _ = select.select([self.sock], [], [], left)
        if not r:
            raise TimeoutError("nothing from the broker in time")
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ConnectionAbortedError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _frame(self):
        """(first byte, body, consumed) of one whole packet in buf, or None."""
        if len(self.buf) < 2:
            return None
        n, mult, i = 0, 1, 1
        while True:
            if i >= len(self.buf):
                return None
            b = self.buf[i]
            n += (b & 0x7F) * mult
            mult *= 128
            i += 1
            if not b & 0x80:
                break
            if i > 4:
                raise ValueError("bad remaining length from the broker")
        if len(self.buf) < i + n:
            return None
        return self.buf[0], self.buf[i:i + n], i + n

    def recv(self, timeout=WAIT):
        """The next packet; raises Closed at end of stream, TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            f = self._frame()
            if f:
                self.buf = self.buf[f[2]:]
                return Packet(f[0], f[1], self.version)
            if not self._fill(deadline):
                if self.buf:
                    raise Closed("closed with a partial packet: %r" % self.buf)
                raise Closed("closed by the broker")

    def expect(self, ptype, timeout=WAIT, skip=()):
        """The next packet, which must be of ptype (packets of types in
        skip are passed over)."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.recv(max(0.01, deadline - time.monotonic()))
            if p.type in skip:
                continue
            if p.type != ptype:
                raise AssertionError("expected packet type %d, got %r" % (ptype, p))
            return p

    def recv_or_none(self, timeout):
        """The next packet, or None if none comes within timeout."""
        try:
            return self.recv(timeout)
        except TimeoutError:
            return None

    def drain(self, timeout=QUIET):
        """Every packet that comes within timeout (stops at close)."""
        out = []
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                out.append(self.recv(left))
            except (TimeoutError, Closed):
                break
        return out

    def wait_closed(self, timeout=WAIT):
        """Packets received until the broker closes; TimeoutError if it does
        not close within timeout."""
        out = []
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            try:
                out.append(self.recv(max(0.01, deadline - time.monotonic())))
            except Closed:
                return out
        raise AssertionError("too many packets")

    def connect(self, client_id="", clean=True, keepalive=60, properties=(), will=None,
                **kw):
        """Sends CONNECT and returns the CONNACK."""
        self.send(connect(self.version, client_id, clean, keepalive, properties, will, **kw))
        return self.expect(PT_CONNACK)

    def subscribe(self, filters, packet_id=1, properties=()):
        """filters: [(filter, options)] or one filter string (QoS 0 or an int
        QoS via a tuple). Returns the SUBACK."""
        if isinstance(filters, str):
            filters = [(filters, 0)]
        self.send(subscribe(packet_id, filters, self.version, properties))
        return self.expect(PT_SUBACK)

    def publish(self, topic, payload=b"", qos=0, packet_id=1, retain=False, properties=(),
                dup=False):
        """Sends PUBLISH and completes its QoS flow; returns the PUBACK /
        PUBCOMP (None for QoS 0). PUBLISHes that arrive meanwhile are kept
        in self.pending."""
        self.send(publish(topic, payload, qos, packet_id, retain, dup, self.version,
                          properties))
        if qos == 0:
            return None
        if qos == 1:
            return self._expect_keep(PT_PUBACK)
        rec = self._expect_keep(PT_PUBREC)
        if rec.reason is not None and rec.reason >= 0x80:
            return rec
        self.send(ack(PT_PUBREL, packet_id, version=self.version))
        return self._expect_keep(PT_PUBCOMP)

    pending = None

    def _expect_keep(self, ptype):
        deadline = time.monotonic() + WAIT
        while True:
            p = self.recv(max(0.01, deadline - time.monotonic()))
            if p.type == ptype:
                return p
            if p.type == PT_PUBLISH:
                if self.pending is None:
                    self.pending = []
                self.pending.append(p)
                continue
            raise AssertionError("expected packet type %d, got %r" % (ptype, p))

    def next_publish(self, timeout=WAIT):
        """The next PUBLISH (from pending first)."""
        if self.pending:
            return self.pending.pop(0)
        return self.expect(PT_PUBLISH, timeout)

    def ack_publish(self, p):
        """Sends the acknowledgement a received PUBLISH needs (QoS 2: PUBREC,
        then PUBREL is awaited and PUBCOMP sent)."""
        if p.qos == 1:
            self.send(ack(PT_PUBACK, p.packet_id, version=self.version))
        elif p.qos == 2:
            self.send(ack(PT_PUBREC, p.packet_id, version=self.version))
            rel = self.expect(PT_PUBREL)
            assert rel.packet_id == p.packet_id, rel
            self.send(ack(PT_PUBCOMP, p.packet_id, version=self.version))

    def collect(self, n=None, timeout=WAIT, ack=True):
        """PUBLISHes received (pending first) until n of them (None: until
        timeout or close), acknowledging each as it comes when ack is set
        (QoS 2 flows may interleave: PUBREC at once, PUBCOMP on PUBREL).
        Fewer than n when the time runs out or the connection closes."""
        out = []
        while self.pending and (n is None or len(out) < n):
            p = self.pending.pop(0)
            out.append(p)
            if ack:
                self._ack_first(p)
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            if n is not None and len(out) >= n:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                p = self.recv(left)
            except (TimeoutError, Closed):
                break
            if p.type == PT_PUBLISH:
                out.append(p)
                if ack:
                    self._ack_first(p)
            elif p.type == PT_PUBREL and ack:
                self.send(ack_packet(PT_PUBCOMP, p.packet_id, version=self.version))
            elif p.type not in (PT_PINGRESP, PT_PUBREL):
                raise AssertionError("expected PUBLISH, got %r" % p)
        return out

    def _ack_first(self, p):
        if p.qos == 1:
            self.send(ack_packet(PT_PUBACK, p.packet_id, version=self.version))
        elif p.qos == 2:
            self.send(ack_packet(PT_PUBREC, p.packet_id, version=self.version))

    def ping(self):
        """PINGREQ -> PINGRESP: proves the connection is served."""
        self.send(PINGREQ)
        return self.expect(PT_PINGRESP, skip=(PT_PUBLISH,))

    def close(self):
        """Drops the socket without DISCONNECT."""
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Closes with a TCP reset: an abnormal end of the connection."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()

# ---------------------------------------------------------------- paho


def paho():
    import paho.mqtt.client as mqtt  # Debian's python3-paho-mqtt
    return mqtt


class Paho:
    """A paho-mqtt client on its own network thread, with the messages it
    receives in a queue."""

    def __init__(self, port, client_id="", version=5, clean=True, session_expiry=None,
                 keepalive=60, will=None, connect=True):
        mqtt = paho()
        self.mqtt = mqtt
        self.version = version
        self.messages = queue.Queue()
        self.connacks = queue.Queue()
        self.subacks = {}
        self.disconnects = queue.Queue()
        self.lock = threading.Lock()
        proto = mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311
        if version == 5:
            self.c = mqtt.Client(client_id=client_id, protocol=proto)
        else:
            self.c = mqtt.Client(client_id=client_id, clean_session=clean, protocol=proto)
        self.c.on_message = self._on_message
        self.c.on_connect = self._on_connect
        self.c.on_subscribe = self._on_subscribe
        self.c.on_disconnect = self._on_disconnect
        if will:
            wp = None
            if version == 5 and will.get("delay") is not None:
                wp = self.properties("WILL")
                wp.WillDelayInterval = will["delay"]
            self.c.will_set(will["topic"], will.get("payload", ""), will.get("qos", 0),
                            will.get("retain", False), wp)
        self.port = port
        self.connack = None
        if connect:
            self.connect(clean, session_expiry, keepalive)

    def properties(self, kind):
        from paho.mqtt.properties import Properties
        from paho.mqtt.packettypes import PacketTypes
        return Properties(getattr(PacketTypes, kind))

    def connect(self, clean=True, session_expiry=None, keepalive=60):
        if self.version == 5:
            p = None
            if session_expiry is not None:
                p = self.properties("CONNECT")
                p.SessionExpiryInterval = session_expiry
            self.c.connect(HOST, self.port, keepalive, clean_start=clean, properties=p)
        else:
            self.c.connect(HOST, self.port, keepalive)
        self.c.loop_start()
        try:
            self.connack = self.connacks.get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError("paho client got no CONNACK")
        return self.connack

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        self.connacks.put({"session_present": bool(flags.get("session present")),
                           "rc": rc if isinstance(rc, int) else rc.value,
                           "properties": properties})

    def _on_message(self, client, userdata, msg):
        self.messages.put(msg)

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        codes = [g if isinstance(g, int) else g.value for g in granted]
        with self.lock:
            self.subacks[mid] = codes

    def _on_disconnect(self, client, userdata, rc, properties=None):
        self.disconnects.put(rc)

    def subscribe(self, topic, qos=0, options=None, sub_id=None):
        """Subscribes and waits for the SUBACK; returns its codes."""
        p = None
        if sub_id is not None:
            p = self.properties("SUBSCRIBE")
            p.SubscriptionIdentifier = sub_id
        if self.version == 5:
            opts = options or self.mqtt.SubscribeOptions(qos=qos)
            rc, mid = self.c.subscribe(topic, options=opts, properties=p)
        else:
            rc, mid = self.c.subscribe(topic, qos)
        if rc != 0:
            raise AssertionError("paho subscribe failed: %d" % rc)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            with self.lock:
                if mid in self.subacks:
                    return self.subacks.pop(mid)
            time.sleep(0.01)
        raise AssertionError("no SUBACK for %s" % topic)

    def publish(self, topic, payload=b"", qos=0, retain=False, properties=None):
        """Publishes and waits until its QoS flow is complete."""
        info = self.c.publish(topic, payload, qos, retain, properties)
        info.wait_for_publish(WAIT)
        if not info.is_published():
            raise AssertionError("paho publish to %s not completed" % topic)
        return info

    def get(self, timeout=WAIT):
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("paho client received no message within %.1f s" % timeout)

    def get_n(self, n, timeout=WAIT):
        deadline = time.monotonic() + timeout
        return [self.get(max(0.01, deadline - time.monotonic())) for _ in range(n)]

    def none(self, timeout=QUIET):
        """Asserts that no message arrives within timeout."""
        try:
            m = self.messages.get(timeout=timeout)
        except queue.Empty:
            return
        raise AssertionError("unexpected message on %s: %r" % (m.topic, m.payload))

    def drain(self, timeout=QUIET):
        out = []
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                out.append(self.messages.get(timeout=left))
            except queue.Empty:
                break
        return out

    def disconnect(self):
        try:
            self.c.disconnect()
        finally:
            self.c.loop_stop()

    def stop(self):
        """Stops the network thread (no DISCONNECT if already gone)."""
        self.c.loop_stop()

# ------------------------------------------------------------- mosquitto


def mosquitto_pub(port, topic, message, qos=0, version="mqttv5", retain=False,
                  client_id=None, extra=()):
    """Runs mosquitto_pub with -d; returns (exit status, its output)."""
    cmd = [MOSQUITTO_PUB, "-h", HOST, "-p", str(port), "-t", topic, "-m", message,
           "-q", str(qos), "-V", version, "-d"]
    if retain:
        cmd.append("-r")
    if client_id:
        cmd += ["-i", client_id]
    cmd += list(extra)
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=WAIT * 2)
    return r.returncode, r.stdout.decode("utf-8", "replace")


class MosquittoSub:
    """mosquitto_sub in the background; lines "MSG|topic|qos|retain|payload"
    are the messages, the rest is its -d debug output."""

    def __init__(self, port, topic, qos=0, version="mqttv5", count=None, extra=()):
        cmd = [MOSQUITTO_SUB, "-h", HOST, "-p", str(port), "-t", topic, "-q", str(qos),
               "-V", version, "-d", "-F", "MSG|%t|%q|%r|%p", "-W", "20"]
        if count:
            cmd += ["-C", str(count)]
        cmd += list(extra)
        # Line-buffered stdout, or its -d lines sit in a pipe buffer.
        if shutil.which("stdbuf"):
            cmd = ["stdbuf", "-oL"] + cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.lines = queue.Queue()
        self.output = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.output.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_line(self, pred, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("mosquitto_sub: nothing expected within %.1f s:\n%s"
                                     % (timeout, "\n".join(self.output)))
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError("mosquitto_sub ended:\n" + "\n".join(self.output))
            if pred(line):
                return line

    def wait_subscribed(self):
        self.wait_line(lambda l: "received SUBACK" in l)

    def next_message(self, timeout=WAIT):
        """(topic, qos, retain, payload) of the next message."""
        line = self.wait_line(lambda l: l.startswith("MSG|"), timeout)
        _, topic, qos, retain, payload = line.split("|", 4)
        return topic, int(qos), int(retain), payload

    def finish(self, timeout=WAIT):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(WAIT)
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.finish()

# ------------------------------------------------------------- test base


def close_clients(clients):
    """Closes a test's clients, newest first; a failure to close is not the
    test's failure (the broker checks that follow matter more)."""
    for c in reversed(clients):
        try:
            if isinstance(c, Paho):
                c.stop()
            elif isinstance(c, MosquittoSub):
                c.kill()
            else:
                c.close()
        except Exception:
            pass


def broker_args(*args):
    """Decorator: extra ferrymq flags for one test."""
    def wrap(fn):
        fn.broker_args = args
        return fn
    return wrap


class BrokerTest(unittest.TestCase):
    """Each test gets its own broker (self.broker, self.port); tearDown
    closes the test's clients and checks that SIGTERM ends the broker with
    status 0 within a few seconds."""

    default_args = ()

    def setUp(self):
        _current_test[0] = self.id()
        extra = getattr(getattr(self, self._testMethodName), "broker_args", ())
        self.broker = Broker(*(tuple(self.default_args) + tuple(extra)))
        self.broker.start()
        self.port = self.broker.port
        self._cleanups_clients = []

    def tearDown(self):
        close_clients(self._cleanups_clients)
        died = not self.broker.alive() and not self.broker.terminated
        rc = self.broker.stop()
        if died:
            self.fail("ferrymq died during the test (status %s):\n%s"
                      % (self.broker.proc.returncode, self.broker.log()[-20000:]))
        if rc != 0:
            self.fail("ferrymq did not exit with status 0 within %.0f s of SIGTERM "
                      "(status %s):\n%s" % (WAIT, rc, self.broker.log()[-20000:]))

    # client factories that tearDown cleans up
    def raw(self, version=5):
        c = Raw(self.port, version)
        self._cleanups_clients.append(c)
        return c

    def raw_connected(self, client_id="", version=5, **kw):
        c = self.raw(version)
        ack_ = c.connect(client_id, **kw)
        self.assertEqual(ack_.reason, 0, "CONNACK refused: %r" % ack_)
        return c

    def paho(self, client_id="", version=5, **kw):
        c = Paho(self.port, client_id, version, **kw)
        self._cleanups_clients.append(c)
        return c

    def mosquitto_sub(self, topic, **kw):
        c = MosquittoSub(self.port, topic, **kw)
        self._cleanups_clients.append(c)
        return c

    def assert_serves(self):
        """The broker is alive and a new client can connect and ping."""
        self.assertTrue(self.broker.alive(), "ferrymq died:\n" + self.broker.log()[-20000:])
        c = Raw(self.port, 5)
        try:
            a = c.connect("probe-%d" % time.monotonic_ns())
            self.assertEqual(a.reason, 0)
            c.ping()
            c.send(disconnect(0))
        finally:
            c.close()


def main():
    """Runs the calling file's tests; prints the broker log of every test
    that failed; exits 0 only when all passed."""
    loader = unittest.TestLoader()
    suite = loader.loadTestsFromModule(sys.modules["__main__"])
    if len(sys.argv) > 1:
        suite = unittest.TestSuite(
            t for t in _flatten(suite) if any(a in t.id() for a in sys.argv[1:]))
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    bad = sorted(set(t.id() for t, _ in result.failures + result.errors))
    for tid in bad:
        for path in _logs.get(tid, []):
            try:
                with open(path, "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            print("\n==== ferrymq log of %s (%s) ====" % (tid, path))
            print(text[-30000:])
    for paths in _logs.values():  # keep nothing behind but what was printed
        for path in paths:
            shutil.rmtree(os.path.dirname(path), ignore_errors=True)
    sys.exit(0 if result.wasSuccessful() else 1)


def _flatten(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from _flatten(t)
        else:
            yield t

# ------------------------------------------------------------- the cluster
#
# Several ferrymq processes acting as one broker. Each ClusterNode has a
# client port and a cluster port (both free loopback ports, kept across a
# restart) and a node name; Cluster starts n1..nN seeded with n1's cluster
# address and waits for the full mesh; ClusterTest is the base class of the
# test_cluster*.py files (one cluster per test).

CLUSTER_SECRET = "fmq-it-secret"


class ClusterNode(Broker):
    """One ferrymq process in a cluster. args are extra flags; the cluster
    flags come from the keywords (None: the broker's default)."""

    def __init__(self, name, *args, secret=CLUSTER_SECRET, seeds=(), cluster_name=None,
                 protocol_max=None, log_level="debug"):
        super().__init__(*args, log_level=log_level)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = tempfile.mkdtemp(prefix="fmq-it-%s-" % name)
        self.log_path = os.path.join(self.dir, "ferrymq.log")
        self.name = name
        self.secret = secret
        self.seeds = list(seeds)
        self.cluster_name = cluster_name
        self.protocol_max = protocol_max
        self.cluster_port = None
        self.killed = False  # SIGKILL sent by the test
        self.self_seed = False  # also seeded with its own cluster address

    @property
    def cluster_addr(self):
        return "%s:%d" % (HOST, self.cluster_port)

    def reserve_ports(self):
        """Picks the ports now (e.g. to seed other nodes with this one's
        cluster address before it starts)."""
        if self.port is None:
            self.port = free_port()
        if self.cluster_port is None:
            self.cluster_port = free_port()
        return self

    def _command(self):
        cmd = WRAPPER + [FERRYMQ, "--node-name", self.name,
                         "--listen", "%s:%d" % (HOST, self.port),
                         "--cluster-listen", self.cluster_addr,
                         "--log-level", self.log_level,
                         "--data-dir", os.path.join(self.dir, "data")]
        if self.secret is not None:
            cmd += ["--cluster-secret", self.secret]
        seeds = ([self.cluster_addr] if self.self_seed else []) + list(self.seeds)
        if seeds:
            cmd += ["--cluster-seeds", ",".join(seeds)]
        if self.cluster_name is not None:
            cmd += ["--cluster-name", self.cluster_name]
        if self.protocol_max is not None:
            cmd += ["--cluster-protocol-max", str(self.protocol_max)]
        return cmd + self.args

    def start(self, fixed_ports=False):
        """Starts the process; waits until both ports are its own. Ports
        picked before (reserve_ports, an earlier start) are kept; without
        fixed_ports a failed start picks new ones and tries again."""
        last = ""
        for _attempt in range(3):
            self.reserve_ports()
            cmd = self._command()
            log = open(self.log_path, "ab")
            log.write(("$ %s\n" % " ".join(cmd)).encode())
            log.flush()
            since = log.tell()
            env = {k: v for k, v in os.environ.items() if not k.startswith("FERRYMQ_")}
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=env)
            log.close()
            self.stopped_rc = None
            self.terminated = False
            self.killed = False
            paths = _logs.setdefault(_current_test[0], [])
            if self.log_path not in paths:
                paths.append(self.log_path)
            mine = "listening on %s:%d " % (HOST, self.port)
            deadline = time.monotonic() + WAIT * 2
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if mine in self.log_since(since) and port_accepts(self.port):
                    return self
                time.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(WAIT)
            last = self.log_since(since)
            if fixed_ports:
                break
            self.port = self.cluster_port = None
        raise RuntimeError("ferrymq %s did not start listening:\n%s" % (self.name, last))

    def kill(self):
        """SIGKILL, and waits for the process to end."""
        self.killed = True
        if self.alive():
            self.proc.kill()
        self.proc.wait(WAIT)

    admin_port = None  # set by enable_admin

    def enable_admin(self):
        """Gives the node an admin HTTP listener on a free loopback port
        (kept across restarts); call before start. Returns the port."""
        if self.admin_port is None:
            self.admin_port = free_port()
            self.args = list(self.args) + ["--admin-listen", "%s:%d" % (HOST, self.admin_port)]
        return self.admin_port

    @property
    def admin_url(self):
        return "http://%s:%d" % (HOST, self.admin_port)

    def admin(self, path, method="GET", token=None):
        """(status, parsed JSON or text) of a request to this node's admin API."""
        return admin_get(self.admin_port, path, method, token)

    def connections(self):
        """Its `connections` (GET /api/v1/node)."""
        status, doc = self.admin("/api/v1/node")
        if status != 200:
            raise AssertionError("%s: GET /api/v1/node answered %s: %r" % (self.name, status, doc))
        return doc["connections"]

    def mark(self):
        """The log's current length: a starting point for wait_log."""
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_since(self, since=0):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_log(self, *texts, since=0, timeout=WAIT):
        """Waits until one log line (written after `since`) contains every
        one of texts; returns that line."""
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            for line in self.log_since(since).splitlines():
                if all(t in line for t in texts):
                    return line
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        raise AssertionError("%s logged no line with %r within %.1f s; its log since then:\n%s"
                             % (self.name, texts, timeout, self.log_since(since)[-6000:]))

    def logged(self, *texts, since=0):
        """The log lines (after `since`) that contain every one of texts."""
        return [line for line in self.log_since(since).splitlines()
                if all(t in line for t in texts)]


class Cluster:
    """n ClusterNodes n1..nN sharing a secret, all seeded with n1's cluster
    address. args: extra flags for every node. Index nodes from 1
    (cluster.node(1), or cluster[1])."""

    def __init__(self, n=3, *args, secret=CLUSTER_SECRET):
        self.args = tuple(args)
        self.secret = secret
        self.nodes = []
        first = ClusterNode("n1", *self.args, secret=secret).reserve_ports()
        first.self_seed = True
        self.nodes.append(first)
        for i in range(2, n + 1):
            self.nodes.append(ClusterNode("n%d" % i, *self.args, secret=secret,
                                          seeds=[first.cluster_addr]))
        self._sync_seq = 0

    def enable_admin(self):
        """An admin listener on every node (before start); see
        ClusterNode.enable_admin."""
        for n in self.nodes:
            n.enable_admin()
        return self

    def node(self, i):
        """Node i (1-based), or i itself when it is a node already."""
        if isinstance(i, ClusterNode):
            return i
        return self.nodes[i - 1]

    __getitem__ = node

    def port(self, i):
        return self.node(i).port

    def marks(self):
        return {n.name: n.mark() for n in self.nodes}

    def start(self, wait=True):
        """Starts every node (n1 first), then waits for the mesh."""
        marks = self.marks()
        first = self.nodes[0]
        if not first.alive():
            first.start()
        for n in self.nodes[1:]:
            n.seeds = [first.cluster_addr]
            n.start()
        if wait:
            self.wait_mesh(self.nodes, marks)
        return self

    def wait_mesh(self, nodes=None, marks=None, timeout=WAIT * 2):
        """Waits until each of nodes logged "synced with" every other one
        (after marks: {name: log offset})."""
        nodes = [self.node(n) for n in (nodes or self.nodes)]
        marks = marks or {}
        deadline = time.monotonic() + timeout
        for a in nodes:
            for b in nodes:
                if a is not b:
                    a.wait_log("cluster: synced with %s in " % b.name,
                               since=marks.get(a.name, 0),
                               timeout=max(0.1, deadline - time.monotonic()))

    def wait_joined(self, node, marks=None, timeout=WAIT * 2):
        """Waits until node and every other running node logged "synced
        with" each other (after marks: {name: log offset})."""
        node = self.node(node)
        marks = marks or {}
        deadline = time.monotonic() + timeout
        for other in self.nodes:
            if other is node or not other.alive():
                continue
            for a, b in ((node, other), (other, node)):
                a.wait_log("cluster: synced with %s in " % b.name, since=marks.get(a.name, 0),
                           timeout=max(0.1, deadline - time.monotonic()))

    def start_extra(self, name, *args, secret=None, cluster_name=None, protocol_max=None,
                    seeds=None, wait=True, common_args=True):
        """Starts one more node (flags of its own: args and the keywords;
        secret None: the cluster's). With wait, returns once it and every
        running node are synced with each other."""
        seeds = seeds if seeds is not None else [self.nodes[0].cluster_addr]
        node = ClusterNode(name, *((self.args if common_args else ()) + tuple(args)),
                           secret=self.secret if secret is None else secret, seeds=seeds,
                           cluster_name=cluster_name, protocol_max=protocol_max)
        marks = self.marks()
        self.nodes.append(node)
        node.start()
        if wait:
            self.wait_joined(node, marks)
        return node

    def kill(self, i):
        """SIGKILL."""
        self.node(i).kill()

    def stop(self, i, timeout=WAIT):
        """SIGTERM; the exit status (None when it did not exit in time)."""
        return self.node(i).stop(timeout)

    def restart(self, i, wait=True):
        """Starts a killed or stopped node again on the same ports; with
        wait, returns once it and every running node are synced again."""
        node = self.node(i)
        marks = self.marks()
        node.start(fixed_ports=True)
        if wait:
            self.wait_joined(node, marks)
        return node

    def sync(self, sub, pub, timeout=WAIT * 2):
        """A barrier between two nodes: a client on node sub subscribes to
        a fresh "$sync/..." topic (QoS 1) and a client on node pub publishes
        to it until it gets PUBACK 0x00 (a route) and the message reaches
        the subscriber. After it, pub has applied every route sub announced
        before, and sub everything pub sent it before (retained messages,
        routes), links being ordered. '$' topics: no '#' or '+' filter of a
        test sees the markers."""
        a, b = self.node(sub), self.node(pub)
        if a is b:
            return
        self._sync_seq += 1
        topic = "$sync/%s-%s/%d" % (a.name, b.name, self._sync_seq)
        s = Raw(a.port)
        p = Raw(b.port)
        try:
            assert s.connect("sync-s-%d" % self._sync_seq).reason == 0
            assert s.subscribe([(topic, 1)]).codes == [1]
            assert p.connect("sync-p-%d" % self._sync_seq).reason == 0
            deadline = time.monotonic() + timeout
            pid = 0
            for _ in range(100000):
                pid = pid % 65535 + 1
                r = p.publish(topic, b"sync", 1, packet_id=pid)
                if r.reason == 0:
                    break
                if r.reason != 0x10 or time.monotonic() > deadline:
                    raise AssertionError("sync %s -> %s: PUBACK %r" % (b.name, a.name, r))
                time.sleep(0.05)
            m = s.expect(PT_PUBLISH, max(0.1, deadline - time.monotonic()))
            assert m.topic == topic, m
            s.ack_publish(m)
            s.send(disconnect(0))
            p.send(disconnect(0))
        finally:
            s.close()
            p.close()

    def sync_all(self, nodes=None):
        """sync() between every ordered pair of (running) nodes."""
        nodes = [self.node(n) for n in (nodes or [n for n in self.nodes if n.alive()])]
        for a in nodes:
            for b in nodes:
                if a is not b:
                    self.sync(a, b)

    def stop_all(self):
        """SIGTERM to every running node (at once), then their statuses:
        [(node, status or None)] for the nodes the test did not kill."""
        for n in self.nodes:
            if n.proc is not None and not n.killed:
                n.terminate()
        out = []
        for n in self.nodes:
            if n.proc is None or n.killed:
                continue
            if n.stopped_rc is None:  # not stop(): one SIGTERM only
                rc = n.wait_exit(WAIT)
                if rc is None:
                    n.proc.kill()
                    n.proc.wait(WAIT)
                n.stopped_rc = rc
            out.append((n, n.stopped_rc))
        return out


def cluster_setup(nodes=3, args=(), start=True):
    """Decorator: a test's cluster (node count, extra flags for every node,
    whether setUp starts it)."""
    def wrap(fn):
        fn.cluster_setup = dict(nodes=nodes, args=tuple(args), start=start)
        return fn
    return wrap


class ClusterTest(unittest.TestCase):
    """Each test gets its own cluster (self.cluster, 3 nodes unless
    @cluster_setup says otherwise); tearDown closes the test's clients and
    checks that every node the test did not kill or stop itself is still
    running and exits 0 on SIGTERM."""

    default_args = ()
    admin_listen = False  # True: every node gets an admin listener (enable_admin)

    def setUp(self):
        _current_test[0] = self.id()
        cfg = getattr(getattr(self, self._testMethodName), "cluster_setup", {})
        self.cluster = Cluster(cfg.get("nodes", 3),
                               *(tuple(self.default_args) + cfg.get("args", ())))
        if self.admin_listen:
            self.cluster.enable_admin()
        self._cleanups_clients = []
        if cfg.get("start", True):
            try:
                self.cluster.start()
            except BaseException:
                self.cluster.stop_all()
                raise

    def tearDown(self):
        close_clients(self._cleanups_clients)
        died = [n for n in self.cluster.nodes
                if n.proc is not None and not n.alive() and not n.terminated and not n.killed]
        results = self.cluster.stop_all()
        if died:
            self.fail("ferrymq %s died during the test (status %s):\n%s"
                      % (died[0].name, died[0].proc.returncode, died[0].log()[-20000:]))
        for n, rc in results:
            if rc != 0:
                self.fail("ferrymq %s did not exit with status 0 within %.0f s of SIGTERM "
                          "(status %s):\n%s" % (n.name, WAIT, rc, n.log()[-20000:]))

    def node(self, i):
        return self.cluster.node(i)

    # client factories that tearDown cleans up; i: node index (1-based)
    def raw(self, i, version=5):
        c = Raw(self.cluster.port(i), version)
        self._cleanups_clients.append(c)
        return c

    def raw_connected(self, i, client_id="", version=5, **kw):
        c = self.raw(i, version)
        a = c.connect(client_id, **kw)
        self.assertEqual(a.reason, 0, "CONNACK refused on %s: %r" % (self.node(i).name, a))
        return c

    def paho(self, i, client_id="", version=5, **kw):
        c = Paho(self.cluster.port(i), client_id, version, **kw)
        self._cleanups_clients.append(c)
        return c

    def mosquitto_sub(self, i, topic, **kw):
        c = MosquittoSub(self.cluster.port(i), topic, **kw)
        self._cleanups_clients.append(c)
        return c

    def sync(self, sub, pub):
        self.cluster.sync(sub, pub)

    def assert_serves(self, i):
        """Node i is alive and a new client can connect and ping."""
        n = self.node(i)
        self.assertTrue(n.alive(), "ferrymq %s died:\n%s" % (n.name, n.log()[-20000:]))
        c = Raw(n.port, 5)
        try:
            a = c.connect("probe-%d" % time.monotonic_ns())
            self.assertEqual(a.reason, 0)
            c.ping()
            c.send(disconnect(0))
        finally:
            c.close()

# ------------------------------------------------------------- admin API


def admin_get(port, path, method="GET", token=None, timeout=WAIT):
    """(status, body) of a request to the admin HTTP API on a loopback
    port; the body parsed as JSON when it is JSON, else the text."""
    req = urllib.request.Request("http://%s:%d%s" % (HOST, port, path), method=method)
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    # No proxy from the environment: loopback only.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=timeout) as r:
            status, text = r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode("utf-8", "replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text

# ------------------------------------------------------------- HAProxy
#
# Debian's haproxy (scripts/deps.sh installs it; 2.6 on Debian 12) in the
# foreground (-db) in TCP mode in front of ferrymq nodes: one frontend on a
# free loopback port, one backend with a server per node, checked over HTTP
# on the node's admin port (GET /health/available must answer 200), and the
# runtime API on a unix socket in a temporary directory. Its output (its
# own warnings and alerts, and the log lines) goes to a file that main()
# prints when a test fails.

HAPROXY = os.environ.get("FMQ_IT_HAPROXY", "/usr/sbin/haproxy")


class HAProxy:
    """haproxy in front of nodes. backends: [(name, host, mqtt_port,
    admin_port)] (admin_port None: no health check); balance "roundrobin"
    or "leastconn". Check every inter_ms, DOWN after `fall` failures, UP
    after `rise` successes. maxconn: client connections (each costs haproxy
    two descriptors; a process here may hold 20,000 files, so at most 9,000
    and ulimit-n 19,999). tcplog: a log line per connection as well.
    Its stderr (warnings such as "Server nodes/n2 is DOWN", alerts) goes to
    log_path; warnings() lists them, config_warnings what `haproxy -c` said
    about the configuration (start() runs it first and fails on errors)."""

    def __init__(self, backends=(), balance="roundrobin", check_uri="/health/available",
                 inter_ms=500, fall=2, rise=2, maxconn=9000, timeout_client_s=600,
                 timeout_server_s=600, timeout_connect_s=2, backend="nodes", tcplog=False):
        if balance not in ("roundrobin", "leastconn"):
            raise ValueError("balance: roundrobin or leastconn, not %r" % balance)
        if not os.access(HAPROXY, os.X_OK):
            raise RuntimeError("%s not found: run `make deps` (scripts/deps.sh)" % HAPROXY)
        self.backends = [tuple(b) for b in backends]
        self.balance = balance
        self.check_uri = check_uri
        self.inter_ms, self.fall, self.rise = inter_ms, fall, rise
        self.maxconn = min(int(maxconn), 9000)
        self.timeouts = (timeout_client_s, timeout_server_s, timeout_connect_s)
        self.backend = backend
        self.tcplog = tcplog
        self.dir = tempfile.mkdtemp(prefix="fmq-it-haproxy-")
        self.cfg_path = os.path.join(self.dir, "haproxy.cfg")
        self.log_path = os.path.join(self.dir, "haproxy.log")
        self.sock_path = os.path.join(self.dir, "haproxy.sock")
        self.port = None
        self.proc = None
        self.config_warnings = []  # what `haproxy -c` said beyond "valid"
        self.stopped_rc = None

    @classmethod
    def for_nodes(cls, nodes, **kw):
        """In front of ClusterNodes with admin listeners (enable_admin)."""
        return cls([(n.name, HOST, n.reserve_ports().port, n.admin_port) for n in nodes], **kw)

    def _server_opts(self, admin_port):
        if admin_port is None:
            return ""
        return " check port %d inter %d fall %d rise %d" % (admin_port, self.inter_ms, self.fall,
                                                           self.rise)

    def config(self):
        tc, ts, tcon = self.timeouts
        lines = [
            "global",
            "    maxconn %d" % self.maxconn,
            # Two descriptors per connection and some spare, under the
            # 20,000 a process may hold here.
            "    ulimit-n %d" % min(19999, 2 * self.maxconn + 1000),
            "    nbthread 1",
            "    stats socket %s mode 600 level admin" % self.sock_path,
            "    stats timeout 1m",
        ]
        if self.tcplog:  # a line per connection; without it only haproxy's own messages
            lines.append("    log stdout format raw local0 info")
        lines += [
            "",
            "defaults",
            "    mode tcp",
        ]
        if self.tcplog:
            lines.append("    log global")
        lines += [
            "    timeout connect %ds" % tcon,
            "    timeout client %ds" % tc,
            "    timeout server %ds" % ts,
            # A hung node (SIGSTOP) fails its check after one interval.
            "    timeout check %dms" % max(100, self.inter_ms),
            "",
            "frontend mqtt",
            "    bind %s:%d" % (HOST, self.port),
            "    maxconn %d" % self.maxconn,
            "    default_backend %s" % self.backend,
        ]
        if self.tcplog:
            lines.append("    option tcplog")
        lines += [
            "",
            "backend %s" % self.backend,
            "    balance %s" % self.balance,
            "    option httpchk",
            "    http-check send meth GET uri %s" % self.check_uri,
            "    http-check expect status 200",
        ]
        for name, host, port, admin_port in self.backends:
            lines.append("    server %s %s:%d%s" % (name, host, port, self._server_opts(admin_port)))
        return "\n".join(lines) + "\n"

    def _write_config(self):
        with open(self.cfg_path, "w") as f:
            f.write(self.config())
        r = subprocess.run([HAPROXY, "-c", "-f", self.cfg_path], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=WAIT * 2)
        out = r.stdout.decode("utf-8", "replace")
        if r.returncode != 0:
            raise RuntimeError("haproxy -c rejected the configuration:\n%s\n%s"
                               % (out, self.config()))
        self.config_warnings = [l for l in out.splitlines()
                                if "[WARNING]" in l or "[ALERT]" in l]

    def start(self, wait_up=True, timeout=WAIT * 2):
        """Starts haproxy; returns once the runtime API answers and the
        frontend is open (its port accepts), and with wait_up once every
        checked server is UP."""
        paths = _logs.setdefault(_current_test[0], [])
        if self.log_path not in paths:
            paths.append(self.log_path)
        last = ""
        for _attempt in range(3):  # the picked port may be taken meanwhile
            self.port = free_port()
            self._write_config()
            log = open(self.log_path, "ab")
            log.write(("$ %s -db -f %s\n" % (HAPROXY, self.cfg_path)).encode())
            log.flush()
            since = log.tell()
            self.proc = subprocess.Popen([HAPROXY, "-db", "-f", self.cfg_path],
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
            log.close()
            self.stopped_rc = None
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if self._frontend_status() == "OPEN":
                        break
                except OSError:
                    pass
                time.sleep(0.05)
            if self.proc.poll() is None and port_listening(self.port):
                break
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(WAIT)
            last = self.log_since(since)
        else:
            raise RuntimeError("haproxy did not start:\n%s\n%s" % (last, self.config()))
        if wait_up:
            deadline = time.monotonic() + timeout
            for name, _h, _p, admin_port in self.backends:
                if admin_port is not None:
                    self.wait_state(name, "UP", max(0.1, deadline - time.monotonic()))
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=WAIT):
        """SIGTERM (haproxy's hard stop: every connection is closed), then
        its exit status as Popen gives it (-15: SIGTERM ended it); killed
        (None) when it does not exit in time."""
        if self.proc is None:
            return 0
        if self.stopped_rc is not None:
            return self.stopped_rc
        if self.alive():
            self.proc.terminate()
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(WAIT)
            rc = None
        self.stopped_rc = rc
        return rc

    def log(self):
        return self.log_since(0)

    def log_since(self, since=0):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def warnings(self):
        """haproxy's own [WARNING] and [ALERT] lines so far (server state
        changes are among them)."""
        return [l for l in self.log().splitlines() if "[WARNING]" in l or "[ALERT]" in l]

    # ---- the runtime API

    def runtime(self, cmd, timeout=WAIT):
        """Sends one command to the runtime API; returns its answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.sock_path)
            s.sendall(cmd.encode() + b"\n")
            out = b""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                data = s.recv(65536)
                if not data:  # one command per connection: it closes after the answer
                    break
                out += data
        return out.decode("utf-8", "replace")

    def stats(self):
        """`show stat` as a list of dicts (pxname, svname, status, scur, ...)."""
        text = self.runtime("show stat")
        lines = [l for l in text.splitlines() if l.strip()]
        if not lines or not lines[0].startswith("# "):
            raise AssertionError("haproxy show stat: %r" % text[:500])
        head = lines[0][2:].split(",")
        return [dict(zip(head, l.split(","))) for l in lines[1:]]

    def _frontend_status(self):
        for row in self.stats():
            if row.get("pxname") == "mqtt" and row.get("svname") == "FRONTEND":
                return row.get("status")
        return None

    def server_stats(self):
        """{server name: its `show stat` row} of the backend."""
        return {r["svname"]: r for r in self.stats()
                if r.get("pxname") == self.backend and r.get("svname") not in ("BACKEND",)}

    def server_states(self):
        """{server name: status}: "UP", "DOWN", "MAINT", "DRAIN", "NOLB",
        "no check", or a transition such as "UP 1/2" (failing, not yet
        DOWN) and "DOWN 1/2" (recovering)."""
        return {name: r.get("status", "") for name, r in self.server_stats().items()}

    def server_sessions(self, name):
        """Connections haproxy has open to that server now."""
        return int(self.server_stats()[name].get("scur") or 0)

    def wait_state(self, name, state, timeout=WAIT):
        """Waits until server `name` has status `state` exactly."""
        deadline = time.monotonic() + timeout
        seen = None
        for _ in range(100000):
            seen = self.server_states().get(name)
            if seen == state:
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        raise AssertionError("haproxy: server %s is %r, not %r, after %.1f s; its log:\n%s"
                             % (name, seen, state, timeout, self.log()[-6000:]))

    def _expect(self, cmd, ok=("",)):
        """Runs a command whose answer must start with one of `ok`."""
        out = self.runtime(cmd)
        if not any(out.strip().startswith(o) for o in ok):
            raise AssertionError("haproxy %r answered %r" % (cmd, out))
        return out

    def add_server(self, name, host, port, admin_port=None, enable=True):
        """A dynamic server (HAProxy >= 2.4; checks >= 2.5): `add server`
        with the same check options as the configured ones (dynamic servers
        inherit no defaults), then, with enable, out of maintenance (where
        dynamic servers start) and its health check on."""
        self._expect("add server %s/%s %s:%d%s" % (self.backend, name, host, port,
                                                   self._server_opts(admin_port)),
                     ok=("New server registered",))
        self.backends.append((name, host, port, admin_port))
        if enable:
            if admin_port is not None:
                self._expect("enable health %s/%s" % (self.backend, name))
            self._expect("enable server %s/%s" % (self.backend, name))

    def del_server(self, name, timeout=WAIT):
        """Removes a server: maintenance, its connections shut down (the
        clients see the socket close), health check off, then `del server`
        (refused while it has connections; retried until the deadline)."""
        be = "%s/%s" % (self.backend, name)
        self.set_server_state(name, "maint")
        self.runtime("shutdown sessions server %s" % be)
        self.runtime("disable health %s" % be)
        deadline = time.monotonic() + timeout
        out = ""
        for _ in range(100000):
            out = self.runtime("del server %s" % be)
            if out.strip().startswith("Server deleted"):
                self.backends = [b for b in self.backends if b[0] != name]
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        raise AssertionError("haproxy del server %s: %r" % (be, out))

    def set_server_state(self, name, state):
        """"ready", "drain" (no new connections, the open ones stay) or
        "maint" (no new connections; open ones stay unless shut down)."""
        if state not in ("ready", "drain", "maint"):
            raise ValueError("state: ready, drain or maint, not %r" % state)
        self._expect("set server %s/%s state %s" % (self.backend, name, state))


def port_listening(port, timeout=0.2):
    """Whether something listens on a loopback port, without opening a
    connection through it (haproxy would pass one on to a node): a bind to
    the port fails while a listener holds it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return True
        return False
