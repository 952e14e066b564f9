"""System-test harness: devipd on net_tap ports inside a network namespace, with Linux
on the kernel side of each tap as the peer.

Run as root with Debian's interpreter:  /usr/bin/python3 -m pytest tests -q
The build directory comes from $DEVIP_BUILD (default <repo>/build).
"""
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import warnings

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("DEVIP_BUILD", os.path.join(REPO, "build"))
DEVIPD = os.path.join(BUILD, "control", "devipd")
IPCTL = os.path.join(BUILD, "control", "ipctl")
HOST_CONF = os.path.join(REPO, "configs", "host.conf")

# Addresses (198.18.0.0/15 only). Port i is 198.18.i.1 on devip, 198.18.i.2 on Linux.
DEVIP_IP = "198.18.0.1"
LINUX_IP = "198.18.0.2"
LINUX_MAC = "02:18:00:00:00:02"

# What a sanitizer build (meson -Dsanitize=true, build-asan/) prints when it finds something;
# its programs then abort (control/sanitize.cc: halt_on_error, abort_on_error).
SANITIZER_RE = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|LeakSanitizer|"
                          r"runtime error:|SUMMARY: UndefinedBehaviorSanitizer")


def sanitizer_report(text):
    """The sanitizer report in a program's output (from a few lines before the first match),
    or None."""
    m = SANITIZER_RE.search(text or "")
    if not m:
        return None
    start = text.rfind("\n", 0, max(0, text.rfind("\n", 0, m.start()))) + 1
    return text[start:start + 20000]


class SanitizerReport(AssertionError):
    """A sanitizer report (or an abort) in devipd or ipctl: the test that ran it fails."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI (the environment variable CI set) a skipped test fails: a broken environment
    must not pass as green."""
    outcome = yield
    rep = outcome.get_result()
    if os.environ.get("CI") and rep.skipped and not hasattr(rep, "wasxfail"):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = "skipped with CI set (a skip fails under CI): %s" % reason


CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_seq = 0


def linux_mac(port):
    return "02:18:00:00:00:%02x" % (2 + port)


def mac_colons(hex12):
    return ":".join(hex12[i:i + 2] for i in range(0, 12, 2))


def parse_stats(text):
    """'Name: v' or 'Name: in out' lines -> {name: int or (int, int)}."""
    out = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        vals = [int(v) for v in rest.split()]
        out[name.strip()] = vals[0] if len(vals) == 1 else tuple(vals)
    return out


def wait_for(pred, timeout=5.0, interval=0.05):
    """Polls pred() until it is true; returns its last value."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(interval)


def in_netns(ns, fn):
    """Runs fn() on a thread that has entered netns ns; sockets made there stay in ns."""
    box = {}

    def run():
        fd = os.open("/var/run/netns/" + ns, os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                e = ctypes.get_errno()
                raise OSError(e, os.strerror(e))
        finally:
            os.close(fd)
        box["v"] = fn()

    def guarded():
        try:
            run()
        except BaseException as e:  # re-raised in the caller
            box["e"] = e

    t = threading.Thread(target=guarded)
    t.start()
    t.join()
    if "e" in box:
        raise box["e"]
    return box["v"]


_sync_seq = 0


class Wire:
    """A raw AF_PACKET socket on a tap's Linux side: frames we send go to devip,
    frames devip sends are what recv() returns."""

    PACKET_OUTGOING = 4

    def __init__(self, ns, ifname):
        def mk():
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
            s.bind((ifname, 0))
            return s
        self.sock = in_netns(ns, mk)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)

    def close(self):
        self.sock.close()

    def drain(self):
        self.sock.setblocking(False)
        try:
            while True:
                self.sock.recvfrom(65536)
        except BlockingIOError:
            pass
        finally:
            self.sock.setblocking(True)

    def send(self, frames, pace=64):
        """Sends raw frames (bytes); sleeps briefly every `pace` frames so the tap's queue
        never overflows. Returns how many the kernel accepted (frames shorter than an
        Ethernet header cannot be sent through AF_PACKET)."""
        sent = 0
        for i, f in enumerate(frames):
            for _ in range(50):
                try:
                    self.sock.send(bytes(f))
                    sent += 1
                    break
                except OSError as e:
                    if e.errno == 105:  # ENOBUFS: the tap queue is full, wait
                        time.sleep(0.002)
                        continue
                    if e.errno == 22:  # EINVAL: too short for AF_PACKET
                        break
                    raise
            if pace and i % pace == pace - 1:
                time.sleep(0.001)
        return sent

    def recv(self, until=None, timeout=2.0):
        """Frames received from devip until until(frames) is true or timeout."""
        got = []
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0 or (until is not None and until(got)):
                return got
            self.sock.settimeout(left)
            try:
                data, addr = self.sock.recvfrom(65536)
            except socket.timeout:
                return got
            if addr[2] != self.PACKET_OUTGOING:
                got.append(data)

    def sync(self, timeout=30):
        """Sends an ARP request for devip's address from a sender address of its own and waits
        for the reply. ARP goes up to the control thread on the same path as every other packet
        the worker does not finish itself, so when the reply is back, devip has handled (and
        counted) every frame sent before. Returns the other frames received meanwhile."""
        global _sync_seq
        _sync_seq += 1
        spa = socket.inet_aton("198.18.0.%d" % (150 + _sync_seq % 100))
        mac = bytes.fromhex(LINUX_MAC.replace(":", ""))
        req = b"\xff" * 6 + mac + b"\x08\x06" + bytes.fromhex("0001080006040001") + mac + spa + \
            bytes(6) + socket.inet_aton(DEVIP_IP)

        def is_marker(f):
            return len(f) >= 42 and f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x02" and \
                f[38:42] == spa
        got = []
        end = time.monotonic() + timeout
        while time.monotonic() < end:  # resent each second: a loaded devip may drop one
            self.send([req])
            got += self.recv(until=lambda g: any(is_marker(f) for f in g), timeout=1.0)
            if any(is_marker(f) for f in got):
                return [f for f in got if not is_marker(f)]
        raise AssertionError("devip did not answer the ARP marker in %d s" % timeout)

    def exchange(self, frames, linger=0.2, pace=64):
        """Sends frames, syncs, and returns every frame devip sent back (waiting `linger`
        seconds more for stragglers)."""
        self.drain()
        self.send(frames, pace=pace)
        got = self.sync()
        return got + self.recv(timeout=linger)


class Devip:
    """One devipd in its own network namespace, with Linux peers on the taps."""

    def __init__(self, ports=1, config=None, linux_addrs=None, eal=(), opts=(), linux_ipv6=False):
        global _seq
        _seq += 1
        self.ns = "devipt%d_%d" % (os.getpid(), _seq)
        self.nports = ports
        self.dir = tempfile.mkdtemp(prefix="devipt-")
        os.chmod(self.dir, 0o755)  # nobody must reach the socket
        self.sock = os.path.join(self.dir, "net.sock")
        self.logpath = os.path.join(self.dir, "devipd.log")
        self.conf = os.path.join(self.dir, "devip.conf")
        if config is None:
            config = open(HOST_CONF).read()
        with open(self.conf, "w") as f:
            f.write(config)
        self.linux_addrs = linux_addrs if linux_addrs is not None else {0: LINUX_IP + "/24"}
        self.linux_ipv6 = linux_ipv6  # off: no router solicitations or MLD moving counters
        self.eal = list(eal)
        self.opts = list(opts)
        self.proc = None
        self.children = []
        self.wires = []
        self.stopped = False
        self.reported = False  # a sanitizer report was raised already
        self._log = None

    # --- life cycle

    def argv(self):
        a = [DEVIPD, "--no-pci"]
        for i in range(self.nports):
            a.append("--vdev=net_tap%d,iface=dtap%d,mac=fixed" % (i, i))
        a += self.eal
        a += ["--", "--socket", self.sock, "--config", self.conf] + self.opts
        return ["ip", "netns", "exec", self.ns] + a

    def start(self):
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        self.ns_run("ip link set lo up")
        self._log = open(self.logpath, "wb")
        self.proc = subprocess.Popen(self.argv(), stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(self.sock) or self.proc.poll() is not None, 30)
        if not os.path.exists(self.sock):
            raise RuntimeError("devipd did not start (rc %s):\n%s" % (self.proc.poll(), self.log()))
        wait_for(lambda: b"serving /net" in open(self.logpath, "rb").read(), 5)
        for i in range(self.nports):
            # The tap PMD brought the link up with devip's MAC: Linux's own is set while the
            # link is down, so that the link-local address Linux derives is from it.
            self.ns_run("ip link set dtap%d down && ip link set dtap%d address %s"
                        % (i, i, linux_mac(i)))
            # No qdisc and a long tap ring: when devip falls behind (a loaded machine), a frame
            # the tap cannot take fails the sender with ENOBUFS (Wire.send waits and retries)
            # instead of vanishing silently in a queue discipline.
            self.ns_run("tc qdisc replace dev dtap%d root noqueue && "
                        "ip link set dtap%d txqueuelen 10000" % (i, i))
            if not self.linux_ipv6:
                self.ns_run("sysctl -qw net.ipv6.conf.dtap%d.disable_ipv6=1" % i)
            if i in self.linux_addrs:
                self.ns_run("ip addr add %s dev dtap%d" % (self.linux_addrs[i], i))
            self.ns_run("ip link set dtap%d up" % i)
        return self

    def run_to_exit(self, argv=None, timeout=60):
        """Runs devipd in the namespace expecting it to exit by itself (a failed start);
        returns the CompletedProcess (stdout and stderr as text)."""
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        r = subprocess.run(argv or self.argv(), capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        rep = sanitizer_report(r.stdout + r.stderr)
        if rep or r.returncode == -signal.SIGABRT:
            raise SanitizerReport("devipd (exit %d): sanitizer report or abort:\n%s" % (
                r.returncode, rep or r.stdout + r.stderr))
        return r

    def log(self):
        try:
            return open(self.logpath, errors="replace").read()
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM):
        """Stops devipd and asserts a clean exit: status 0 and the socket removed."""
        assert self.alive(), "devipd died (rc %s):\n%s" % (self.proc.poll(), self.log())
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("devipd did not exit within 15 s of %s:\n%s" % (sig, self.log()))
        finally:
            self.stopped = True
        self.check_sanitizers()
        assert rc == 0, "devipd exited %d after %s:\n%s" % (rc, sig, self.log())
        assert not os.path.exists(self.sock), "devipd left its socket behind"
        if not any(a.startswith("--file-prefix") for a in self.eal):  # ip netns exec execs
            assert not os.path.exists(self.rundir()), "devipd left %s behind" % self.rundir()

    def rundir(self):
        """EAL's runtime directory of devipd's own file prefix."""
        return "/var/run/dpdk/devip%d" % self.proc.pid

    def close(self):
        """Releases everything by PID, whatever state the test left it in."""
        child_reports = []
        for p in self.children:
            ended = p.poll() is not None  # by itself: its sanitizer ran at exit
            if not ended:
                p.kill()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
            if ended and isinstance(p.args, list) and IPCTL in p.args:
                child_reports.append(self._child_report(p))
        for w in self.wires:
            w.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log:
            self._log.close()
        if self.proc is not None:  # a devipd killed outright cannot remove it itself
            shutil.rmtree(self.rundir(), ignore_errors=True)
        log = self.log()  # read before the directory goes: a sanitizer report fails the test
        subprocess.run(["ip", "netns", "del", self.ns], stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.check_sanitizers(log)
        child_reports = [r for r in child_reports if r]
        if child_reports:
            raise SanitizerReport("\n".join(child_reports))

    @staticmethod
    def _child_report(p):
        """The sanitizer report (or abort) of an ipctl started by ipctl_popen that ended by
        itself, from what is left of its stderr when the test did not read it all."""
        err = ""
        if p.stderr is not None and not p.stderr.closed:
            try:
                err = p.stderr.read().decode(errors="replace")
            except (OSError, ValueError):
                pass
        rep = sanitizer_report(err)
        if rep or p.returncode == -signal.SIGABRT:
            return "%s (exit %d): sanitizer report or abort:\n%s" % (
                " ".join(p.args), p.returncode, rep or err)
        return None

    def check_sanitizers(self, log=None):
        """Raises SanitizerReport, once, when devipd's log holds a sanitizer report or devipd
        died of SIGABRT (halt_on_error with abort_on_error)."""
        if self.reported or self.proc is None:
            return
        log = self.log() if log is None else log
        rep = sanitizer_report(log)
        rc = self.proc.returncode
        if rep or rc == -signal.SIGABRT:
            self.reported = True
            raise SanitizerReport("devipd %s (exit %s): sanitizer report or abort:\n%s" % (
                self.ns, rc, rep or log[-20000:]))

    # --- running things

    def ipctl_argv(self, args, user=None):
        a = [IPCTL, "-s", self.sock] + list(args)
        if user:
            group = "nogroup" if user == "nobody" else user
            a = ["setpriv", "--reuid=" + user, "--regid=" + group, "--clear-groups"] + a
        return a

    def ipctl(self, *args, input=None, check=True, user=None, timeout=60):
        if isinstance(input, str):
            input = input.encode()
        r = subprocess.run(self.ipctl_argv(args, user), input=input, capture_output=True,
                           timeout=timeout)
        rep = sanitizer_report(r.stderr.decode(errors="replace"))
        if rep or r.returncode == -signal.SIGABRT:
            raise SanitizerReport("ipctl %s (exit %d): sanitizer report or abort:\n%s" % (
                " ".join(args), r.returncode, rep or r.stderr.decode(errors="replace")))
        if check and r.returncode != 0:
            raise AssertionError("ipctl %s failed (%d): %s" % (" ".join(args), r.returncode,
                                                               r.stderr.decode(errors="replace")))
        return r

    def ipctl_popen(self, *args, user=None, **kw):
        kw.setdefault("stdin", subprocess.PIPE)
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        p = subprocess.Popen(self.ipctl_argv(args, user), **kw)
        self.children.append(p)
        return p

    def cat(self, path, user=None):
        return self.ipctl("cat", path, user=user).stdout.decode()

    def stats(self, path):
        return parse_stats(self.cat(path))

    def mbufs_in_use(self, port=0):
        m = re.search(r"^mbufs in use: (\d+)$", self.cat("/net/ether%d/stats" % port), re.M)
        assert m, "no 'mbufs in use' line in /net/ether%d/stats" % port
        return int(m.group(1))

    @property
    def mac(self):
        return self.cat("/net/ether0/addr")

    def ns_run(self, cmd, check=True, timeout=60, input=None):
        r = subprocess.run(["ip", "netns", "exec", self.ns, "sh", "-c", cmd], capture_output=True,
                           timeout=timeout, input=input)
        if check and r.returncode != 0:
            raise AssertionError("in netns: %s: exit %d\n%s%s" % (
                cmd, r.returncode, r.stdout.decode(errors="replace"),
                r.stderr.decode(errors="replace")))
        return r

    def ns_popen(self, argv, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        p = subprocess.Popen(["ip", "netns", "exec", self.ns] + list(argv), **kw)
        self.children.append(p)
        return p

    def ns_socket(self, family=socket.AF_INET, type=socket.SOCK_DGRAM, proto=0):
        """A socket in the namespace (Linux's side of the link)."""
        return in_netns(self.ns, lambda: socket.socket(family, type, proto))

    def wire(self, port=0):
        w = Wire(self.ns, "dtap%d" % port)
        self.wires.append(w)
        return w

    def assert_serving(self):
        assert self.alive(), "devipd died (rc %s):\n%s" % (self.proc.poll(), self.log())
        st = self.cat("/net/ipifc/0/status")
        assert st.startswith("device /net/ether0 "), st


@pytest.fixture
def devip_factory():
    """Starts devipds on demand; each is stopped (asserting a clean exit) and removed."""
    made = []

    def make(**kw):
        d = Devip(**kw)
        made.append(d)
        return d.start()

    yield make
    errors = []
    for d in made:
        try:
            if not d.stopped and d.proc is not None:
                d.stop()
        except AssertionError as e:
            errors.append(str(e))
        finally:
            try:
                d.close()
            except SanitizerReport as e:  # the others are still closed
                errors.append(str(e))
    assert not errors, "\n".join(errors)


def _host():
    d = Devip()
    try:
        d.start()
        # Linux learns devip's MAC and devip learns Linux's before tests look at tables.
        # Retried: once in a while on this shared machine the first ping right after start
        # goes unanswered (not reproduced in isolation); a warning keeps it visible.
        for attempt in range(3):
            if d.ns_run("ping -c 1 -W 2 %s" % DEVIP_IP, check=False).returncode == 0:
                break
            warnings.warn("devipd did not answer Linux's first ping after start (try %d)"
                          % (attempt + 1))
        else:
            raise AssertionError("devipd never answered Linux's ping:\n" + d.log())
    except BaseException:
        d.close()
        raise
    return d


def _finish(d):
    try:
        if not d.stopped:
            d.stop()
    finally:
        d.close()


@pytest.fixture
def host():
    """A fresh devipd: one tap port, configs/host.conf, Linux at 198.18.0.2/24."""
    d = _host()
    yield d
    _finish(d)


@pytest.fixture(scope="module")
def mhost():
    """Like host, but shared by a module's tests (for tests that leave no state behind)."""
    d = _host()
    yield d
    _finish(d)
