#!/usr/bin/python3
"""Memory per idle established TCP connection in devipd (perf/tcp_idle.sh runs this): N
connections from Linux to a devip listener, all held open; devipd's resident memory before
and after, and Linux's slab growth for the same connections (its client sockets) beside it.
Usage (as root, from the repository): perf/tcp_idle.py [N]   (default 100000)
Environment: IDLE_OPTS (more devipd options), IDLE_TIMEOUT (seconds without a call before
giving up, default 120), IDLE_DEBUG (a shell command run in the namespace when stuck)."""
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
import select, socket, sys, time
n, src, dst = int(sys.argv[1]), sys.argv[2], sys.argv[3]
resets = 0
def dial():
    global resets
    while True:
        s = socket.socket()
        s.bind((src, 0))
        try:
            s.connect((dst, 7800))
            return s
        except (ConnectionResetError, ConnectionRefusedError):
            s.close()
            resets += 1
            time.sleep(0.01)
socks = [dial() for _ in range(n)]
# A call that found the listener's backlog full is reset after the handshake (9front's
# rule): those sockets see an error; dial them again until the driver says stop.
p = select.poll()
p.register(sys.stdin, select.POLLIN)
byfd = {}
for s in socks:
    byfd[s.fileno()] = s
    p.register(s, select.POLLERR | select.POLLHUP | select.POLLRDHUP)
while True:
    ev = p.poll(200)
    if any(fd == sys.stdin.fileno() for fd, _ in ev):
        break
    for fd, _ in ev:
        s = byfd.pop(fd)
        p.unregister(fd)
        s.close()
        resets += 1
        t = dial()
        byfd[t.fileno()] = t
        p.register(t, select.POLLERR | select.POLLHUP | select.POLLRDHUP)
print("up", resets, flush=True)
sys.stdin.read()
"""


def main():
    d = Devip(opts=["--workers", "1"] + os.environ.get("IDLE_OPTS", "").split())
    d.start()
    try:
        d.ns_run("ping -c 1 -W 2 %s" % DEVIP_IP, check=False)
        for a in SRCS:
            d.ns_run("ip addr add %s/24 dev dtap0" % a)
        c = ninep.Client(d.sock, timeout=float(os.environ.get("IDLE_TIMEOUT", "120")))
        c.session()
        c.open_path(1, "tcp/clone", ninep.ORDWR)
        lconv = c.read(1).decode()
        c.write(1, b"announce 7800")
        c.write(1, b"backlog 65535")
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
        try:
            while calls < N:  # take every call and keep its ctl open (the conversation stays)
                c.walk(0, fid, "tcp", lconv, "listen")
                c.open(fid, ninep.ORDWR)
                fid += 1
                calls += 1
        except Exception:
            if os.environ.get("IDLE_DEBUG"):
                subprocess.run(["ip", "netns", "exec", d.ns, "sh", "-c", os.environ["IDLE_DEBUG"]])
                print(d.cat("/net/ether0/stats"))
                print(d.log()[-3000:])
            c2 = ninep.Client(d.sock, timeout=10)
            c2.session()
            print("stuck after %d calls; tcp/stats:\n%s" % (calls, c2.cat("tcp/stats").decode()))
            raise
        resets = 0
        el = time.monotonic() - t0
        for p in procs:
            p.stdin.write(b"stop\n")
            p.stdin.flush()
        for p in procs:
            line = p.stdout.readline().split()
            assert line[0] == b"up", line
            resets += int(line[1])
        time.sleep(2)
        rss, slab1 = rss_kb(pid), slab_kb()
        st = dict(l.split(": ") for l in c.cat("tcp/stats").decode().splitlines())
        print("connections: %d established (CurrEstab %s), taken in %.1f s (%.0f/s); "
              "%d connects reset by a full backlog and retried" %
              (N, st["CurrEstab"], el, N / el, resets))
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
