#!/usr/bin/env python3
"""Forwarding rate of a running DPDK process, read from its telemetry socket.

  rate.py PREFIX --pid PID [--in 0] [--out 1] [--warmup S] [--duration S] [--timeout S]

Connects to /var/run/dpdk/PREFIX/dpdk_telemetry.v2 (any DPDK >= 20.05 process has
it: l3fwd and devipd alike), waits until the input port receives, waits WARMUP
seconds, then reads /ethdev/stats of both ports once a second for DURATION seconds.
Prints one JSON object on stdout:
  out_pps      packets/s sent on the output port over the window (the forwarding rate)
  in_pps       packets/s received on the input port
  out_pps_1s   the 1-second rates
  cpu          per-CPU busy % over the window (from /proc/stat)
  other_cpu    CPU seconds per second used meanwhile by processes other than PID and
               this sampler, and the top ones: load that was not the benchmark
Exit status 1 if the process died or never received.
"""
import argparse
import json
import os
import socket
import sys
import time


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def fail(msg):
    print(json.dumps({"error": msg}))
    sys.exit(1)


class Telemetry:
    def __init__(self, path, pid, timeout):
        end = time.monotonic() + timeout
        while True:
            if not alive(pid):
                fail("process %d exited before its telemetry socket appeared" % pid)
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                self.s.connect(path)
                json.loads(self.s.recv(16384))
                return
            except OSError:
                self.s.close()
                if time.monotonic() > end:
                    fail("no telemetry socket at %s" % path)
                time.sleep(0.2)

    def get(self, cmd):
        self.s.send(cmd.encode())
        reply = json.loads(self.s.recv(1 << 20))
        return reply[cmd.split(",")[0]]

    def ports(self, ports):
        return time.monotonic(), {p: self.get("/ethdev/stats,%d" % p) for p in ports}


def cpu_jiffies():
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            w = line.split()
            if w[0].startswith("cpu") and w[0] != "cpu":
                v = [int(x) for x in w[1:9]]
                out[w[0]] = (sum(v), v[3] + v[4])  # total, idle + iowait
    return out


def proc_cpu():
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        w = st[st.rindex(")") + 2:].split()
        out[int(d)] = (comm, int(w[11]) + int(w[12]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("prefix")
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--in", dest="inp", type=int, default=0)
    ap.add_argument("--out", type=int, default=1)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()
    t = Telemetry("/var/run/dpdk/%s/dpdk_telemetry.v2" % a.prefix, a.pid, a.timeout)
    ports = [a.inp, a.out]
    end = time.monotonic() + a.timeout
    _, first = t.ports(ports)
    while True:
        time.sleep(0.2)
        if not alive(a.pid):
            fail("process exited")
        _, now = t.ports(ports)
        if now[a.inp]["ipackets"] != first[a.inp]["ipackets"]:
            break
        if time.monotonic() > end:
            fail("input port never received")
    time.sleep(a.warmup)
    c0, p0 = cpu_jiffies(), proc_cpu()
    samples = [t.ports(ports)]
    n = max(1, round(a.duration))
    for _ in range(n):
        time.sleep(a.duration / n)
        samples.append(t.ports(ports))
    c1, p1 = cpu_jiffies(), proc_cpu()
    if not alive(a.pid):
        fail("process exited during the measurement")
    (ta, sa), (tb, sb) = samples[0], samples[-1]
    dt = tb - ta
    hz = os.sysconf("SC_CLK_TCK")
    others = []
    for pid, (comm, v) in p1.items():
        if pid in (a.pid, os.getpid()):
            continue
        d = v - p0.get(pid, (comm, 0))[1]
        if d > 0:
            others.append((d / hz, "%s[%d]" % (comm, pid)))
    others.sort(reverse=True)
    res = {
        "duration_s": round(dt, 3),
        "out_pps": (sb[a.out]["opackets"] - sa[a.out]["opackets"]) / dt,
        "in_pps": (sb[a.inp]["ipackets"] - sa[a.inp]["ipackets"]) / dt,
        "out_pps_1s": [round((y[1][a.out]["opackets"] - x[1][a.out]["opackets"]) / (y[0] - x[0]))
                       for x, y in zip(samples, samples[1:])],
        "in_nombuf": sb[a.inp].get("rx_nombuf"),
        "out_errors": sb[a.out].get("oerrors"),
        "cpu": {c: round(100.0 * (1 - (c1[c][1] - c0[c][1]) / max(1, c1[c][0] - c0[c][0])), 1)
                for c in c1},
        "other_cpu": round(sum(s for s, _ in others) / dt, 3),
        "other_top": ["%s %.2fs" % (n_, s) for s, n_ in others[:4]],
    }
    print(json.dumps(res))


if __name__ == "__main__":
    try:
        main()
    except (KeyboardInterrupt, BrokenPipeError):
        sys.exit(1)
