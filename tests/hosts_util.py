"""What the router tests share: Linux hosts in namespaces of their own beside a Devip, and
the route churn run while a flow crosses devip (test_forwarding.py, test_forwarding6.py)."""
import subprocess
import textwrap
import time


class Hosts:
    """Runs commands in host namespaces named after the Devip's (self.d.ns + "A", ...);
    close() stops the Devip and removes the namespaces in self.names."""

    def ns(self, host):
        return self.d.ns + host

    def run(self, host, cmd, check=True, timeout=60):
        r = subprocess.run(["ip", "netns", "exec", self.ns(host), "sh", "-c", cmd],
                           capture_output=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("host%s: %s: exit %d\n%s%s" % (
                host, cmd, r.returncode, r.stdout.decode(errors="replace"),
                r.stderr.decode(errors="replace")))
        return r

    def popen(self, host, argv, **kw):
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(host)] + argv, **kw)
        self.d.children.append(p)
        return p

    def close(self):
        self.d.close()
        for ns in self.names:
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


# hostA's flow: argv[1] datagrams of "seq NNNNNNNN" and 50 zero bytes to argv[2] port 9001,
# a millisecond's pause every 20
FLOW = textwrap.dedent("""
    import socket, sys, time
    dst = sys.argv[2]
    s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(int(sys.argv[1])):
        s.sendto(b"seq %08d" % i + bytes(50), (dst, 9001))
        if i % 20 == 19: time.sleep(0.001)
""")


def churn_during_flow(router, lines, dst, count, sinkA, sinkB):
    """Writes lines to /net/iproute (pipelined, again and again, at least twice) for as long
    as hostA's flow of count datagrams to dst (FLOW) lasts; then stops the tshark sinks.
    Returns (fields of what hostB saw, per packet; what hostA saw)."""
    p = router.popen("A", ["/usr/bin/python3", "-c", FLOW, str(count), dst])
    t0 = time.monotonic()
    passes = 0
    while passes < 2 or p.poll() is None:
        router.d.ipctl("write", "-p", "/net/iproute", input="\n".join(lines) + "\n",
                       timeout=300)
        passes += 1
    dt = time.monotonic() - t0
    p.wait(120)
    print("route changes: %d in %.2f s (%.0f/s)" % (passes * len(lines), dt,
                                                    passes * len(lines) / dt))
    time.sleep(2)
    sinkB.terminate()
    sinkA.terminate()
    got_b = [l.split("\t") for l in sinkB.communicate(timeout=10)[0].decode().splitlines() if l]
    got_a = sinkA.communicate(timeout=10)[0].decode().split()
    return got_b, got_a
