"""Hostile clients against a running resp server (realclients.sh runs it).

    python3 hostile_clients.py PORT PID

Each check prints what it measured and exits non-zero on failure:
  - 5 GETs of a value of 8 MiB - 2 bytes, pipelined in one write: all five
    replies arrive (their sum is over the chat's 32 MiB OutLimit);
  - 20 connections each send a DEL of 1,048,575 empty keys and stay
    connected: each keeps little (CLIENT LIST tot-mem), and the process's
    RSS a few seconds after is at most 64 MiB above what it was before;
  - an MGET naming the 8 MiB value 1000 times (8 GB of reply) closes that
    connection at the output limit without the server's RSS growing past
    a bound, and the server still answers PING.
"""

import socket
import sys
import time

PORT, PID = int(sys.argv[1]), int(sys.argv[2])
BIG = 8 * 1024 * 1024 - 2


def fail(msg):
    print("hostile_clients.py: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def rss_kib():
    with open("/proc/%d/status" % PID) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    fail("no VmRSS for pid %d" % PID)


def enc(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def connect():
    s = socket.create_connection(("127.0.0.1", PORT))
    s.settimeout(60)
    return s


def read_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        b = s.recv(min(n - len(buf), 1 << 20))
        if not b:
            break
        buf += b
    return bytes(buf)


def read_line(s):
    buf = bytearray()
    while not buf.endswith(b"\r\n"):
        b = s.recv(1)
        if not b:
            break
        buf += b
    return bytes(buf)


def pipelined_gets():
    s = connect()
    s.sendall(enc("SET", "big", b"v" * BIG))
    if read_line(s) != b"+OK\r\n":
        fail("SET big")
    s.sendall(enc("GET", "big") * 5)
    want = b"$%d\r\n" % BIG + b"v" * BIG + b"\r\n"
    got = read_exact(s, 5 * len(want))
    if got != want * 5:
        fail("5 pipelined GETs of %d bytes: received %d of %d bytes" % (BIG, len(got), 5 * len(want)))
    print("    5 pipelined GETs of 8 MiB: all %d bytes delivered" % len(got))
    s.close()


def million_args():
    req = b"*1048576\r\n$3\r\nDEL\r\n" + b"$0\r\n\r\n" * 1048575
    before = rss_kib()
    conns = [connect() for _ in range(20)]
    for s in conns:
        s.sendall(req)
    for s in conns:
        if read_line(s) != b":0\r\n":
            fail("DEL of a million keys")
    peak = rss_kib()
    ctl = connect()
    ctl.sendall(b"CLIENT LIST\r\n")
    n = int(read_line(ctl)[1:-2])
    listing = read_exact(ctl, n + 2).decode()
    worst = max(int(f.split("=")[1]) for line in listing.splitlines() for f in line.split() if f.startswith("tot-mem="))
    time.sleep(3)  # the server gives memory back one second after the burst
    after = rss_kib()
    print("    20 x 1,048,576 arguments: RSS %d MiB before, %d MiB when answered, %d MiB 3 s later; tot-mem at most %d bytes"
          % (before >> 10, peak >> 10, after >> 10, worst))
    if worst > 512 * 1024:
        fail("a connection keeps %d bytes after a million arguments" % worst)
    if after - before > 64 * 1024:
        fail("20 connections cost %d MiB after the request" % ((after - before) >> 10))
    for s in conns + [ctl]:
        s.close()


def huge_mget():
    before = rss_kib()
    s = connect()
    s.sendall(enc("MGET", *["big"] * 1000))
    got = 0
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        got += len(b)
    after = rss_kib()
    print("    MGET of 8 GB: closed after %d MiB, RSS %d -> %d MiB" % (got >> 20, before >> 10, after >> 10))
    if after - before > 128 * 1024:
        fail("an 8 GB MGET grew RSS by %d MiB" % ((after - before) >> 10))
    p = connect()
    p.sendall(b"PING\r\n")
    if read_line(p) != b"+PONG\r\n":
        fail("no PONG after the MGET")


pipelined_gets()
million_args()
huge_mget()
