"""Helpers shared by the UDP and permission tests."""
import threading
import time

from conftest import wait_for


def find_conv(d, proto, local, status_prefix="Open"):
    """The number of the conversation of /net/PROTO whose local file reads LOCAL."""
    for entry in d.ipctl("ls", "/net/" + proto).stdout.decode().split():
        name = entry.rsplit("/", 1)[1]
        if not name.isdigit():
            continue
        r = d.ipctl("cat", "/net/%s/%s/local" % (proto, name), "/net/%s/%s/status" % (proto, name),
                    check=False)
        if r.returncode == 0:
            loc, _, st = r.stdout.decode().partition("\n")
            if loc == local and st.startswith(status_prefix):
                return int(name)
    return None


def start_announce(d, addr, *flags, user=None):
    """Starts `ipctl announce FLAGS ADDR` and waits until the conversation is announced.
    Returns (Popen, conv number)."""
    port = addr.rsplit("!", 1)[1]
    p = d.ipctl_popen("announce", *flags, addr, user=user)
    box = {}

    def ready():
        box["n"] = find_conv(d, "udp", "::!%s" % port)
        return p.poll() is not None or box["n"] is not None

    wait_for(ready, 30)
    assert p.poll() is None, "announce exited: %s" % p.stderr.read().decode()
    assert box["n"] is not None, "announce %s never appeared in /net/udp" % addr
    return p, box["n"]


class Reader:
    """Collects a pipe's bytes on a thread so tests can wait for output without blocking."""

    def __init__(self, f):
        self.buf = b""
        self.f = f
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while True:
            b = self.f.read1(65536) if hasattr(self.f, "read1") else self.f.read(65536)
            if not b:
                return
            self.buf += b

    def wait(self, pred, timeout=5):
        wait_for(lambda: pred(self.buf), timeout)
        return self.buf


def udp_recv(sock, timeout=5):
    sock.settimeout(timeout)
    return sock.recvfrom(65536)


def wait_udp_bound(d, port, timeout=5):
    return wait_for(lambda: (":%d " % port) in d.ns_run("ss -Hlun").stdout.decode(), timeout)


def settle(d, path, keys, timeout=3):
    """Waits until the counters named keys in PATH stop changing; returns the stats."""
    last = d.stats(path)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        time.sleep(0.15)
        cur = d.stats(path)
        if all(cur[k] == last[k] for k in keys):
            return cur
        last = cur
    return last
