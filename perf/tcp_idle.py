#!/usr/bin/python3
"""Memory per idle established TCP connection in devipd (perf/tcp_idle.sh runs this): N
connections from Linux to a devip listener, all held open; devipd's resident memory before
and after, and Linux's slab growth for the same connections (its client sockets) beside it.
Usage (as root, from the repository): perf/tcp_idle.py [N]   (default 100000)"""
import os
import resource
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
os.environ.setdefault("DEVIP_BUILD", os.path.join(os.path.dirname(__file__), "..", "build"))
import ninep  # noqa: E402
from conftest import DEVIP_IP, Devip, in_netns  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
PER_PROC = 15000           # sockets per client process (RLIMIT_NOFILE)
SRCS = ["198.18.0.%d" % (10 + i) for i in range(8)]  # 28 000 ephemeral ports each


def rss_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def slab_kb():
    for line in open("/proc/meminfo"):
        if line.startswith("Slab:"):
            return int(line.split()[1])
    return 0


CLIENT = r"""
import socket, sys, time
n, src = int(sys.argv[1]), sys.argv[2]
socks = []
for i in range(n):
    s = socket.socket()
    s.bind((src, 0))
    s.connect((sys.argv[3], 7800))
    socks.append(s)
print("up", flush=True)
sys.stdin.read()
"""


def main():
    d = Devip(opts=["--workers", "1"])
    d.start()
    try:
        d.ns_run("ping -c 1 -W 2 %s" % DEVIP_IP, check=False)
        for a in SRCS:
            d.ns_run("ip addr add %s/24 dev dtap0" % a)
        c = ninep.Client(d.sock, timeout=120)
        c.session()
        c.open_path(1, "tcp/clone", ninep.ORDWR)
        lconv = c.read(1).decode()
        c.write(1, b"announce 7800")
        c.write(1, b"backlog 4000")
        time.sleep(0.5)
        pid = d.proc.pid
        # devipd runs under `ip netns exec`: the daemon is its child after exec (same pid)
        base, slab0 = rss_kb(pid), slab_kb()
        procs = []
        left, k = N, 0
        while left > 0:
            n = min(PER_PROC, left)
            p = subprocess.Popen(["ip", "netns", "exec", d.ns, "/usr/bin/python3", "-c", CLIENT,
                                  str(n), SRCS[k % len(SRCS)], DEVIP_IP],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            procs.append(p)
            left -= n
            k += 1
        fid, calls, t0 = 10, 0, time.monotonic()
        fid = 1000
        while calls < N:  # take every call and keep its ctl open (the conversation stays)
            c.walk(0, fid, "tcp", lconv, "listen")
            c.open(fid, ninep.ORDWR)
            fid += 1
            calls += 1
        for p in procs:
            assert p.stdout.readline() == b"up\n"
        el = time.monotonic() - t0
        time.sleep(2)
        rss, slab1 = rss_kb(pid), slab_kb()
        st = dict(l.split(": ") for l in c.cat("tcp/stats").decode().splitlines())
        print("connections: %d established (CurrEstab %s), taken in %.1f s (%.0f/s)" %
              (N, st["CurrEstab"], el, N / el))
        print("devipd RSS: %d KB before, %d KB after: %.0f bytes per connection" %
              (base, rss, (rss - base) * 1024 / N))
        print("Linux slab (its %d client sockets): +%d KB: %.0f bytes per connection" %
              (N, slab1 - slab0, (slab1 - slab0) * 1024 / N))
        for p in procs:
            p.stdin.close()
            p.wait(60)
        c.close()
    finally:
        d.stop()
        d.close()


if __name__ == "__main__":
    main()
