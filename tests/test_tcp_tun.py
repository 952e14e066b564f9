"""The TCP engine (proto/tcp*) against Linux TCP before it is in devipd: one shard runs on a
TUN device in a namespace (build/unittests/tcp_tun) and Linux socat, or a Linux socket,
exchanges a few MB with it; the bytes must arrive intact (sha256), both ways, with and
without loss (tcp_tun --loss drops packets in both directions: this kernel has no netem or
nftables).

Run as root:  DEVIP_BUILD=$PWD/build /usr/bin/python3 -m pytest tests/test_tcp_tun.py -q
"""
import hashlib
import os
import re
import socket
import subprocess
import tempfile
import threading

import pytest

from conftest import BUILD, in_netns, wait_for

TCP_TUN = os.path.join(BUILD, "unittests", "tcp_tun")
LINUX4, OURS4 = "198.18.5.1", "198.18.5.2"
LINUX6, OURS6 = "2001:2:0:5::1", "2001:2:0:5::2"
_seq = 0


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def stats_of(err_text):
    out = {}
    for m in re.finditer(r"^(\w+): (\d+)$", err_text, re.M):
        out[m.group(1)] = int(m.group(2))
    return out


class TunLab:
    """A namespace with tun0 (Linux side 198.18.5.1/24, 2001:2:0:5::1/64)."""

    def __init__(self):
        global _seq
        _seq += 1
        self.ns = "devtcp%d_%d" % (os.getpid(), _seq)
        self.dir = tempfile.mkdtemp(prefix="tcptun")
        self.procs = []
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        for cmd in (["ip", "link", "set", "lo", "up"],
                    ["ip", "tuntap", "add", "tun0", "mode", "tun"],
                    ["ip", "addr", "add", LINUX4 + "/24", "dev", "tun0"],
                    ["ip", "-6", "addr", "add", LINUX6 + "/64", "dev", "tun0", "nodad"],
                    ["ip", "link", "set", "tun0", "up"]):
            self.run(cmd)

    def run(self, cmd, **kw):
        return subprocess.run(["ip", "netns", "exec", self.ns] + cmd, check=True,
                              capture_output=True, text=True, **kw)

    def popen(self, cmd, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", self.ns] + cmd, **kw)
        self.procs.append(p)
        return p

    def path(self, name):
        return os.path.join(self.dir, name)

    def payload(self, name, n, seed):
        data = hashlib.sha256(bytes([seed])).digest() * (n // 32) + os.urandom(n % 32 + 1)
        with open(self.path(name), "wb") as f:
            f.write(data)
        return self.path(name)

    def engine(self, *args, timeout=60):
        """Starts tcp_tun; returns once it has attached to tun0 (carrier up)."""
        err = open(self.path("engine.err"), "w")
        p = self.popen([TCP_TUN, "--dev", "tun0", "--timeout", str(timeout)] + list(args),
                       stderr=err)
        up = wait_for(lambda: "NO-CARRIER" not in self.run(["ip", "link", "show", "tun0"]).stdout
                      or p.poll() is not None, timeout=10)
        # a fast transfer may already be over (exit 0) by the time we look
        assert up and p.poll() in (None, 0), "tcp_tun did not attach: " + self.engine_log()
        return p

    def engine_log(self):
        with open(self.path("engine.err")) as f:
            return f.read()

    def close(self):
        for p in self.procs:  # only what we started, by PID
            if p.poll() is None:
                p.kill()
            p.wait()
        subprocess.run(["ip", "netns", "del", self.ns], check=False)
        for n in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, n))
        os.rmdir(self.dir)


@pytest.fixture
def lab():
    if os.geteuid() != 0:
        pytest.fail("needs root (network namespaces and TUN)")
    assert os.path.exists(TCP_TUN), "build first: " + TCP_TUN
    t = TunLab()
    yield t
    t.close()


def finish(lab, engine, timeout=90):
    rc = engine.wait(timeout=timeout)
    log = lab.engine_log()
    assert rc == 0, log
    return stats_of(log)


@pytest.mark.parametrize("loss", [0, 2])
def test_linux_socat_sends_to_engine(lab, loss):
    src = lab.payload("in", 4 << 20, 1)
    eng = lab.engine("--addr", OURS4, "--peer", LINUX4, "--listen", "5555",
                     "--recv", lab.path("out"), "--loss", str(loss))
    lab.run(["timeout", "60", "socat", "-u", "OPEN:" + src, "TCP:%s:5555" % OURS4],
            timeout=90)
    st = finish(lab, eng)
    assert sha(lab.path("out")) == sha(src)
    assert st["PassiveOpens"] == 1 and st["InErrs"] == 0
    if loss:
        assert st["SackBlocksOut"] > 0          # we told Linux what arrived out of order
        assert st["Resequenced"] > 0


@pytest.mark.parametrize("loss,cc", [(0, "newreno"), (2, "newreno"), (2, "cubic")])
def test_engine_sends_to_linux_socat(lab, loss, cc):
    src = lab.payload("in", 4 << 20, 2)
    out = lab.path("out")
    sink = lab.popen(["timeout", "90", "socat", "-u", "TCP-LISTEN:6666,reuseaddr",
                      "CREATE:" + out])
    wait_for(lambda: ":6666" in lab.run(["ss", "-ltn"]).stdout, timeout=10)
    eng = lab.engine("--addr", OURS4, "--peer", LINUX4, "--connect", "6666",
                     "--send", src, "--loss", str(loss), "--cc", cc)
    st = finish(lab, eng)
    assert sink.wait(timeout=30) == 0
    assert sha(out) == sha(src)
    assert st["ActiveOpens"] == 1
    if loss:
        assert st["RetransSegsSent"] > 0
        assert st["SackBlocksIn"] > 0           # Linux's SACK blocks were used
        assert st["SackRexmits"] > 0


@pytest.mark.parametrize("family", ["v4", "v6"])
def test_both_ways_with_a_linux_socket(lab, family):
    """Linux connects, sends 3 MB and half-closes while the engine sends 3 MB back."""
    ours, linux = (OURS4, LINUX4) if family == "v4" else (OURS6, LINUX6)
    af = socket.AF_INET if family == "v4" else socket.AF_INET6
    up = lab.payload("up", 3 << 20, 3)
    down = lab.payload("down", 3 << 20, 4)
    eng = lab.engine("--addr", ours, "--peer", linux, "--listen", "7777",
                     "--send", down, "--recv", lab.path("got_up"), "--loss", "1")
    got = bytearray()

    def client():
        s = socket.socket(af, socket.SOCK_STREAM)
        s.settimeout(60)
        s.connect((ours, 7777))
        with open(up, "rb") as f:
            data = f.read()

        def reader():
            while True:
                b = s.recv(65536)
                if not b:
                    return
                got.extend(b)

        r = threading.Thread(target=reader)
        r.start()
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        r.join(60)
        s.close()

    in_netns(lab.ns, client)
    st = finish(lab, eng)
    assert hashlib.sha256(bytes(got)).hexdigest() == sha(down)
    assert sha(lab.path("got_up")) == sha(up)
    assert st["InErrs"] == 0
