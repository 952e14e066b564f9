"""ipctl mount: devipd's /net through FUSE, used with plain Linux tools as Plan 9's idioms
use /net (ip3.md §1.5, §2.7, §3.12): cat, ls, the shell's clone/connect/data dance, a bad
route written with `>` failing with the Plan 9 text, a FUSE interrupt becoming a Tflush,
and a clean unmount."""
import os
import signal
import subprocess
import tempfile

import pytest

from conftest import DEVIP_IP, IPCTL, LINUX_IP, wait_for
from udp_util import Reader, udp_recv


class Mounted:
    """`ipctl mount` of a devipd on a fresh directory; its stderr is collected."""

    def __init__(self, d):
        self.d = d
        self.dir = tempfile.mkdtemp(prefix="devip-mnt-")
        self.proc = subprocess.Popen([IPCTL, "-s", d.sock, "mount", self.dir],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.err = Reader(self.proc.stderr)
        ok = wait_for(lambda: os.path.ismount(self.dir) or self.proc.poll() is not None, 20)
        assert ok and os.path.ismount(self.dir), "mount failed: %s" % self.err.buf.decode()

    def path(self, p):
        return os.path.join(self.dir, p)

    def sh(self, script, timeout=30):
        return subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                              timeout=timeout, env=dict(os.environ, M=self.dir))

    def unmount(self):
        """Unmounts with fusermount3 -u; ipctl mount must then exit 0."""
        r = subprocess.run(["fusermount3", "-u", self.dir], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert self.proc.wait(20) == 0, self.err.buf.decode()
        assert not os.path.ismount(self.dir)
        os.rmdir(self.dir)

    def close(self):
        if os.path.ismount(self.dir):
            subprocess.run(["fusermount3", "-u", "-z", self.dir], capture_output=True)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if os.path.isdir(self.dir):
            os.rmdir(self.dir)


@pytest.fixture
def mnt(mhost):
    m = Mounted(mhost)
    try:
        yield m
    finally:
        m.close()


def test_cat_iproute_and_ls_udp(mhost, mnt):
    r = mnt.sh("cat $M/iproute")
    assert r.returncode == 0, r.stderr
    assert r.stdout == mhost.cat("/net/iproute")
    assert "198.18.0.0      /120 198.18.0.0      4i   ifc" in r.stdout
    r = mnt.sh("ls $M/udp")
    assert r.returncode == 0, r.stderr
    names = r.stdout.split()
    assert "clone" in names and "stats" in names
    assert sorted(os.listdir(mnt.path(""))) == sorted(
        e.rsplit("/", 1)[1] for e in mhost.ipctl("ls", "/net").stdout.decode().split())
    # lengths are 0 and nothing is cached: a second read sees the stack as it is now
    assert os.stat(mnt.path("iproute")).st_size == 0
    mhost.ipctl("write", "/net/iproute", "add 198.18.77.0 /24 198.18.0.2")
    try:
        assert "198.18.77.0" in open(mnt.path("iproute")).read()
    finally:
        mhost.ipctl("write", "/net/iproute", "del 198.18.77.0 /24 198.18.0.2")


def test_echo_route_with_shell_redirect(mhost, mnt):
    # `>` opens with O_TRUNC: on a ctl-like file that succeeds, as rc's `>` on Plan 9
    r = mnt.sh("echo 'add 198.18.78.0 /24 198.18.0.2' > $M/iproute")
    assert r.returncode == 0, r.stderr
    try:
        assert "198.18.78.0     /120 198.18.0.2" in mhost.cat("/net/iproute")
    finally:
        mhost.ipctl("write", "/net/iproute", "del 198.18.78.0 /24 198.18.0.2")


def test_bad_route_write_fails_with_plan9_text(mhost, mnt):
    r = mnt.sh("echo 'add 198.18.79.0 /24 bogus' > $M/iproute")
    assert r.returncode != 0
    # the writer sees the errno (EINVAL), the mount's stderr names the process and the text
    assert "Invalid argument" in r.stderr, r.stderr
    text = mnt.err.wait(lambda b: b"bad ip address syntax" in b).decode()
    assert ": write /iproute: bad ip address syntax\n" in text, text
    # and it stays readable as the file's user.errstr attribute (getfattr -n user.errstr)
    assert os.getxattr(mnt.path("iproute"), "user.errstr") == b"bad ip address syntax"
    assert "user.errstr" in os.listxattr(mnt.path("iproute"))
    with pytest.raises(OSError):
        os.getxattr(mnt.path("arp"), "user.errstr")  # nothing failed there
    assert "198.18.79.0" not in mhost.cat("/net/iproute")


def test_shell_clone_dial_delivers_datagram(mhost, mnt):
    s = mhost.ns_socket()
    s.bind((LINUX_IP, 7301))
    try:
        r = mnt.sh("exec 3<>$M/udp/clone; read n <&3; "
                   "echo connect %s!7301 >&3; echo hi from the shell > $M/udp/$n/data; "
                   "cat $M/udp/$n/local $M/udp/$n/remote" % LINUX_IP)
        assert r.returncode == 0, r.stderr
        data, (src, sport) = udp_recv(s, 20)
    finally:
        s.close()
    assert data == b"hi from the shell\n"
    assert src == DEVIP_IP
    local, remote = r.stdout.splitlines()
    assert local == "%s!%d" % (DEVIP_IP, sport)
    assert remote == "%s!7301" % LINUX_IP


def test_interrupted_log_read_is_flushed(mhost, mnt):
    # nothing is logged (no categories set): the read of log parks in devipd until flushed
    cat = subprocess.Popen(["cat", mnt.path("log")], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    try:
        # blocked in read(2) of the log file (syscall 0 on fd 3)
        assert wait_for(lambda: open("/proc/%d/syscall" % cat.pid).read().startswith("0 0x3 "),
                        20), open("/proc/%d/syscall" % cat.pid).read()
        # another process is not held up by it
        assert mnt.sh("cat $M/ipselftab").returncode == 0
        cat.send_signal(signal.SIGKILL)
        # the kernel waits for our answer to its read; it comes only through the Tflush
        try:
            rc = cat.wait(20)
        except subprocess.TimeoutExpired:
            rc = None
        assert rc == -signal.SIGKILL, "the killed cat is still waiting for its read"
    finally:
        if cat.poll() is None:  # unanswered: only ending the FUSE connection frees it
            mnt.close()
            cat.kill()
            cat.wait()
    assert mnt.err.wait(lambda b: b"read /log: interrupted\n" in b), mnt.err.buf
    # the server is free of it: a fresh read of log parks and is flushed the same way
    assert mnt.sh("timeout -s INT 1 cat $M/log; echo $?").stdout == "124\n"


def test_unmount_is_clean(mhost):
    m = Mounted(mhost)
    try:
        assert os.listdir(m.path("udp"))
        m.unmount()
    finally:
        m.close()
    mhost.assert_serving()
