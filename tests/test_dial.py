"""The dial library (docs/dial.3) and the ipctl commands built on it: ipctl dial to a Linux
socat and back, ipctl listen running a command per call (listen1: net= and remote= in its
environment, calls served concurrently, -1), and a C program built against an installed
libdevip with pkg-config (ip3.md §1.5, §4.7)."""
import glob
import os
import shutil
import socket
import subprocess
import tempfile

from conftest import BUILD, DEVIP_IP, LINUX_IP, wait_for
from udp_util import Reader, find_conv, udp_recv, wait_udp_bound

# A call's command: its environment as one datagram, then one datagram echoed.
ENV_ECHO = ["/bin/sh", "-c", 'echo "net=$net remote=$remote"; exec dd bs=65536 count=1 status=none']


def linux_udp(d, port=0):
    s = d.ns_socket()
    s.bind((LINUX_IP, port))
    return s


def start_listen(d, port, flags=(), cmd=()):
    """Starts `ipctl listen FLAGS udp!*!PORT CMD` and waits until the port is announced.
    Returns the Popen."""
    p = d.ipctl_popen("listen", *flags, "udp!*!%d" % port, *cmd)
    assert wait_for(lambda: p.poll() is not None or
                    find_conv(d, "udp", "::!%d" % port) is not None, 30)
    assert p.poll() is None, "listen exited: %s" % p.stderr.read().decode()
    return p


def test_dial_udp_to_socat_and_back(mhost):
    # socat echoes every datagram back to where it came from
    s = mhost.ns_popen(["socat", "UDP4-LISTEN:7201,bind=%s" % LINUX_IP, "PIPE"])
    assert wait_udp_bound(mhost, 7201)
    p = mhost.ipctl_popen("dial", "-w", "0", "udp!%s!7201" % LINUX_IP)
    out = Reader(p.stdout)
    p.stdin.write(b"ping through devip\n")
    p.stdin.flush()
    got = out.wait(lambda b: b.endswith(b"\n"), timeout=20)
    p.stdin.close()  # end of input: dial exits (-w 0), cleanly
    rc = p.wait(20)
    s.kill()
    assert got == b"ping through devip\n"
    assert rc == 0, p.stderr.read().decode()


def test_dial_tcp_both_pumps_half_close_and_errors(mhost):
    # devipd splicing the data (the default) and the library's threads (DEVIP_SPLICE=0)
    # behave alike: a tcp echo through socat, the half close at end of stdin, the peer's
    # close ends dial with 0; a refused connection exits 1 with devipd's text
    for n, splice in enumerate(("1", "0")):
        env = dict(os.environ, DEVIP_SPLICE=splice)
        port = 7230 + n
        s = mhost.ns_popen(["socat", "TCP4-LISTEN:%d,bind=%s" % (port, LINUX_IP), "EXEC:cat"])
        assert wait_for(lambda: b":%d " % port in mhost.ns_run("ss -ltnH").stdout, 10)
        data = os.urandom(300000)
        p = subprocess.run(mhost.ipctl_argv(("dial", "tcp!%s!%d" % (LINUX_IP, port)), None),
                           input=data, capture_output=True, timeout=60, env=env)
        s.wait(10)
        assert (p.returncode, p.stderr) == (0, b""), splice
        assert p.stdout == data, splice
        r = subprocess.run(mhost.ipctl_argv(("dial", "tcp!%s!%d" % (LINUX_IP, port)), None),
                           input=b"x", capture_output=True, timeout=60, env=env)
        assert (r.returncode, r.stderr) == (1, b"ipctl: connection refused\n"), splice


def test_announce_calls_one_after_another_reuse_conversations(mhost):
    # each call of `ipctl announce` ends when Linux closes; its conversation is reused by
    # the next ones (a conversation whose last fid went before the worker reported the
    # connection closed used to stay busy for good)
    p = mhost.ipctl_popen("announce", "tcp!*!7240")
    assert wait_for(lambda: find_conv(mhost, "tcp", "::!7240", "Listen") is not None, 30)
    before = len(mhost.ipctl("ls", "/net/tcp").stdout.split())
    for i in range(60):
        s = mhost.ns_socket(type=socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect((DEVIP_IP, 7240))
        s.sendall(b"%d\n" % i)
        s.shutdown(socket.SHUT_WR)
        assert s.recv(10) == b""  # devip closes after our end of file
        s.close()
    got = Reader(p.stdout).wait(lambda b: b.endswith(b"59\n"), timeout=20)
    assert got == b"".join(b"%d\n" % i for i in range(60))
    after = len(mhost.ipctl("ls", "/net/tcp").stdout.split())
    assert after - before < 10, (before, after)
    p.terminate()
    p.wait(20)


def test_dial_fails_with_the_servers_text(mhost):
    # ctl errors come back from the library with the exact ip(3) text, exit status 1
    for addr, text in (("udp!198.18.0.2!notaport", "bad numeric port"),
                       ("udp!1.2.3.4.5!7", "bad ip address syntax"),
                       ("udp!198.18.0.2", "malformed address"),
                       ("nope!198.18.0.2!7", "file does not exist")):
        r = mhost.ipctl("dial", "-w", "0", addr, check=False, input=b"x")
        assert (r.returncode, r.stderr.decode()) == (1, "ipctl: %s\n" % text), addr


def test_listen_runs_command_per_call_concurrently(mhost):
    # dd count=2: each call's command waits for a second datagram, so both run at once
    cmd = ["/bin/sh", "-c", 'echo "net=$net remote=$remote"; exec dd bs=65536 count=2 status=none']
    p = start_listen(mhost, 7202, cmd=cmd)
    a, b = linux_udp(mhost), linux_udp(mhost)
    ports = {a: a.getsockname()[1], b: b.getsockname()[1]}
    try:
        a.sendto(b"a1", (DEVIP_IP, 7202))
        ea, _ = udp_recv(a, 20)
        b.sendto(b"b1", (DEVIP_IP, 7202))
        eb, _ = udp_recv(b, 20)
        # both commands are running now; each gets its own second datagram
        a.sendto(b"a2", (DEVIP_IP, 7202))
        b.sendto(b"b2", (DEVIP_IP, 7202))
        ra = [udp_recv(a, 20)[0], udp_recv(a, 20)[0]]
        rb = [udp_recv(b, 20)[0], udp_recv(b, 20)[0]]
    finally:
        a.close()
        b.close()
        p.kill()
        p.wait()
    for env, s in ((ea, a), (eb, b)):
        text = env.decode()
        assert text.endswith("\n"), text
        net, remote = text.split()
        assert net.startswith("net=/net/udp/") and net[13:].isdigit(), text
        assert remote == "remote=%s!%d" % (LINUX_IP, ports[s])
    assert ea.split()[0] != eb.split()[0]  # two calls, two conversations
    assert ra == [b"a1", b"a2"]
    assert rb == [b"b1", b"b2"]


def test_listen_1_exits_after_one_call_with_its_status(mhost):
    p = start_listen(mhost, 7203, ["-1"], ENV_ECHO)
    s = linux_udp(mhost)
    port = s.getsockname()[1]
    try:
        s.sendto(b"only call", (DEVIP_IP, 7203))
        env, _ = udp_recv(s, 20)
        echo, _ = udp_recv(s, 20)
        rc = p.wait(30)
    finally:
        s.close()
    net, remote = env.decode().split()
    assert net.startswith("net=/net/udp/") and net[13:].isdigit(), env
    assert remote == "remote=%s!%d" % (LINUX_IP, port)
    assert echo == b"only call"
    assert rc == 0, p.stderr.read().decode()
    # the announcement went with it
    assert find_conv(mhost, "udp", "::!7203") is None
    # and the command's exit status is listen -1's
    q = start_listen(mhost, 7204, ["-1"], ["/bin/sh", "-c", "exit 3"])
    s = linux_udp(mhost)
    try:
        s.sendto(b"x", (DEVIP_IP, 7204))
        assert q.wait(30) == 3
    finally:
        s.close()


def test_listen_without_command_is_announce(mhost):
    p = start_listen(mhost, 7205, ["-n", "1"])
    mhost.ns_run("socat -u - UDP4-SENDTO:%s:7205" % DEVIP_IP, input=b"to announce\n")
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert out == b"to announce\n"


C_PROGRAM = r"""
#include <devip/dial.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
    char buf[512], dir[DEVIP_DIRLEN];
    DevipConnInfo ci;
    int fd, n;

    if (devip_connect(argv[1], -1) < 0) {
        fprintf(stderr, "connect: %s\n", devip_errstr());
        return 1;
    }
    if (devip_dial("nonsense", NULL, NULL, NULL) >= 0)
        return 1;
    printf("error: %s\n", devip_errstr());
    fd = devip_dial(devip_netmkaddr(argv[2], "udp", argv[3]), NULL, dir, NULL);
    if (fd < 0) {
        fprintf(stderr, "dial: %s\n", devip_errstr());
        return 1;
    }
    if (devip_conninfo(dir, &ci) < 0) {
        fprintf(stderr, "conninfo: %s\n", devip_errstr());
        return 1;
    }
    printf("dir %s remote %s\n", dir, ci.remote);
    fflush(stdout);
    if (write(fd, "hello from C", 12) != 12)
        return 1;
    n = read(fd, buf, sizeof buf - 1);
    if (n <= 0)
        return 1;
    buf[n] = 0;
    printf("reply %s\n", buf);
    return devip_close(fd) < 0;
}
"""


def test_c_program_against_installed_library(mhost):
    dest = tempfile.mkdtemp(prefix="devip-install-")
    try:
        subprocess.run(["meson", "install", "-C", BUILD, "--destdir", dest, "--no-rebuild",
                        "--quiet"], check=True, capture_output=True, timeout=120)
        pcs = glob.glob(os.path.join(dest, "**", "devip.pc"), recursive=True)
        assert len(pcs) == 1, pcs
        assert glob.glob(os.path.join(dest, "**", "include", "devip", "dial.h"), recursive=True)
        assert glob.glob(os.path.join(dest, "**", "man3", "dial.3"), recursive=True)
        env = dict(os.environ, PKG_CONFIG_LIBDIR=os.path.dirname(pcs[0]),
                   PKG_CONFIG_SYSROOT_DIR=dest)
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "devip"], env=env,
                               check=True, capture_output=True, text=True).stdout.split()
        assert any(f.startswith("-I" + dest) for f in flags), flags
        src, prog = os.path.join(dest, "d.c"), os.path.join(dest, "d")
        with open(src, "w") as f:
            f.write(C_PROGRAM)
        libdir = [f[2:] for f in flags if f.startswith("-L")][0]
        assert os.path.exists(os.path.join(libdir, "libdevip.so.0"))
        # a library built with the sanitizers (build-asan) wants its runtime loaded first:
        # the program is built with them too, as any program linking it would be
        ldd = subprocess.run(["ldd", os.path.join(libdir, "libdevip.so.0")],
                             capture_output=True, text=True).stdout
        san = ["-fsanitize=address,undefined"] if "libasan" in ldd else []
        subprocess.run(["cc", "-Wall", "-Werror", src, "-o", prog] + san + flags, check=True,
                       capture_output=True)

        s = linux_udp(mhost, 7206)
        try:
            p = subprocess.Popen([prog, mhost.sock, LINUX_IP, "7206"],
                                 env=dict(os.environ, LD_LIBRARY_PATH=libdir),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            mhost.children.append(p)
            data, peer = udp_recv(s, 20)
            s.sendto(b"hello from Linux", peer)
            out, err = p.communicate(timeout=30)
        finally:
            s.close()
        assert p.returncode == 0, err.decode()
        assert data == b"hello from C"
        lines = out.decode().splitlines()
        assert lines[0] == "error: bad dial string"
        dirw, d, remw, rem = lines[1].split()
        assert d.startswith("/net/udp/") and rem == "%s!7206" % LINUX_IP, lines
        assert lines[2] == "reply hello from Linux"
        assert peer[0] == DEVIP_IP
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def test_listen_command_that_cannot_run(mhost):
    p = start_listen(mhost, 7207, ["-1"], ["/nonexistent/cmd"])
    s = linux_udp(mhost)
    try:
        s.sendto(b"x", (DEVIP_IP, 7207))
        assert p.wait(30) == 127
    finally:
        s.close()
    assert "ipctl: listen: cannot run /nonexistent/cmd\n" in p.stderr.read().decode()
