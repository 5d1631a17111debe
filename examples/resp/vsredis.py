#!/usr/bin/env python3
"""vsredis.py: the resp example against redis-server under redis-benchmark.

Each server is started once, pinned to CPU 1 (taskset -c 1), on a free
loopback port; redis-server with --save '' --appendonly no. For every
repetition, pipeline depth and test, redis-benchmark (pinned to CPU 0) runs

    redis-benchmark -c 50 -n N -r 100000 -t TEST -P P -q

against each server in turn, the order reversed on odd repetitions, so the
servers share whatever else the machine is doing. It prints each run — the
rate redis-benchmark reports, and the server's CPU time per request read
from /proc — then, per cell, the median rate, the median CPU time, and the
median ratio of each server's rate to the last server's in the same
repetition, with the smallest and largest ratio.

    python3 examples/resp/vsredis.py                       # this tree's resp
    python3 examples/resp/vsredis.py -reps 5 -tests set,get -pipelines 16 \\
        -server before=/tmp/resp-old                       # A/B with redis

Each -server NAME=BINARY adds a build of the example, run with -addr; the
example built from this tree is "resp"; redis-server always comes last.
Needs go, taskset, redis-server and redis-benchmark (apt-get install
redis-server redis-tools).
"""
import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

RATE = re.compile(r"([A-Z_]+)(?: \([^)]*\))?: ([0-9.]+) requests per second")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"vsredis.py: nothing listens on port {port}")


def bench(port, test, n, pipeline):
    out = subprocess.run(
        ["taskset", "-c", "0", "redis-benchmark", "-p", str(port), "-c", "50",
         "-n", str(n), "-r", "100000", "-t", test, "-P", str(pipeline), "-q"],
        capture_output=True, text=True, timeout=600).stdout
    rate = 0.0
    for line in re.split(r"[\r\n]", out):
        if "error" in line.lower():
            sys.exit(f"vsredis.py: redis-benchmark: {line.strip()}")
        m = RATE.search(line.strip())
        if m and m.group(1) == test.upper():
            rate = float(m.group(2))
    if rate <= 0:
        sys.exit(f"vsredis.py: redis-benchmark printed no rate: {out[-300:]}")
    return rate


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-reps", type=int, default=3)
    ap.add_argument("-tests", default="set,get,mset")
    ap.add_argument("-pipelines", default="1,16")
    ap.add_argument("-n", type=int, default=300000, help="redis-benchmark -n")
    ap.add_argument("-server", action="append", default=[], metavar="NAME=BINARY")
    args = ap.parse_args()

    here = os.path.dirname(os.path.abspath(__file__))
    work = tempfile.mkdtemp()
    binary = os.path.join(work, "resp")
    subprocess.run(["go", "build", "-o", binary, "."], cwd=here, check=True)
    specs = [s.split("=", 1) for s in args.server] + [["resp", binary]]
    hz = os.sysconf("SC_CLK_TCK")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    servers = []
    try:
        for name, path in specs:
            port = free_port()
            argv = [path, "-addr", f"127.0.0.1:{port}"]
            servers.append((name, port, subprocess.Popen(["taskset", "-c", "1"] + argv)))
        port = free_port()
        servers.append(("redis", port, subprocess.Popen(
            ["taskset", "-c", "1", "redis-server", "--port", str(port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)))
        for _, port, _ in servers:
            wait_listening(port)

        runs = {}
        for rep in range(args.reps):
            for p in map(int, args.pipelines.split(",")):
                for test in args.tests.split(","):
                    order = servers if rep % 2 == 0 else servers[::-1]
                    for name, port, proc in order:
                        c0 = cpu_ticks(proc.pid)
                        rate = bench(port, test, args.n, p)
                        us = (cpu_ticks(proc.pid) - c0) * 1e6 / hz / args.n
                        runs.setdefault((test, p), {}).setdefault(name, []).append((rate, us))
                        print(f"rep {rep + 1} {test.upper():4} -P {p:<2} {name:8} "
                              f"{rate:10.0f} req/s {us:6.2f} CPU µs/req", flush=True)
    finally:
        for _, _, proc in servers:
            proc.terminate()
            proc.wait()

    print("\nmedian req/s, median server CPU µs/req, ×redis: median [min–max] of the per-repetition ratios")
    for (test, p), by in runs.items():
        ref = by["redis"]
        cells = []
        for name, rs in by.items():
            ratios = [a[0] / b[0] for a, b in zip(rs, ref)]
            cells.append(f"{name} {statistics.median(r for r, _ in rs):.0f} "
                         f"{statistics.median(u for _, u in rs):.2f}µs "
                         f"×{statistics.median(ratios):.3f} [{min(ratios):.3f}–{max(ratios):.3f}]")
        print(f"{test.upper():4} -P {p:<2} | " + " | ".join(cells))


if __name__ == "__main__":
    main()
