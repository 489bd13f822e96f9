#!/usr/bin/python3
"""Subscribes N distinct topic filters on one broker and keeps the sessions.

Used by bench/cluster.sh to give a node N routes. MQTT 3.1.1 packets built
by hand (no client library): C connections, each subscribing N/C filters
"bench/routes/<conn>/<i>/+" in SUBSCRIBE packets of B filters, waiting for
every SUBACK. Prints "subscribed N filters in S s" and then, with --hold,
keeps the connections open until stdin closes or SIGTERM. Bounded: every
wait has a deadline.

usage: subscribe_many.py PORT N [--conns C] [--batch B] [--hold]
"""

import socket
import struct
import sys
import time


def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def s16(b):
    return struct.pack(">H", len(b)) + b


class Conn:
    def __init__(self, port, cid):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        body = s16(b"MQTT") + bytes([4, 0x00]) + struct.pack(">H", 0) + s16(cid.encode())
        self.s.sendall(packet(0x10, body))
        t, _ = self.read(time.monotonic() + 10)
        if t != 0x20:
            raise RuntimeError("no CONNACK")

    def read(self, deadline):
        while True:
            if len(self.buf) >= 2:
                n, mul, i = 0, 1, 1
                while i < len(self.buf):
                    b = self.buf[i]
                    n += (b & 127) * mul
                    mul *= 128
                    i += 1
                    if not b & 128:
                        break
                else:
                    i = None
                if i is not None and len(self.buf) >= i + n:
                    first, body = self.buf[0], self.buf[i:i + n]
                    self.buf = self.buf[i + n:]
                    return first & 0xF0, body
            if time.monotonic() > deadline:
                raise RuntimeError("timeout waiting for the broker")
            self.s.settimeout(max(0.1, deadline - time.monotonic()))
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise RuntimeError("connection closed by the broker")
            self.buf += chunk


def main():
    args = sys.argv[1:]
    port, n = int(args[0]), int(args[1])
    conns = int(args[args.index("--conns") + 1]) if "--conns" in args else 10
    batch = int(args[args.index("--batch") + 1]) if "--batch" in args else 1000
    t0 = time.monotonic()
    cs = [Conn(port, "routes-%d" % c) for c in range(conns)]
    pid = 1
    per = (n + conns - 1) // conns
    outstanding = 0
    done = 0
    for c, conn in enumerate(cs):
        i = 0
        while i < per and c * per + i < n:
            body = struct.pack(">H", pid)
            k = 0
            while k < batch and i < per and c * per + i < n:
                body += s16(("bench/routes/%d/%d/+" % (c, i)).encode()) + b"\x00"
                i += 1
                k += 1
            conn.s.sendall(packet(0x82, body))
            pid = pid % 65535 + 1
            outstanding += 1
        deadline = time.monotonic() + 120
        while outstanding:
            t, _ = conn.read(deadline)
            if t == 0x90:
                outstanding -= 1
        done = min(n, (c + 1) * per)
    print("subscribed %d filters in %.2f s" % (done, time.monotonic() - t0), flush=True)
    if "--hold" in args:
        try:
            sys.stdin.read()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
