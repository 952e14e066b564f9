"""Ownership and permissions through the real socket: identity from SO_PEERCRED, root is the
host owner (ip3.md §1.1, §1.4, §3.2.1)."""
import pytest

from conftest import DEVIP_IP, LINUX_IP, wait_for
from udp_util import Reader, find_conv, start_announce, udp_recv


def denied(r):
    return r.returncode != 0 and "permission denied" in r.stderr.decode() and not r.stdout


def owner(d, path):
    """The owner column of `ipctl ls -l PATH` (a file)."""
    return d.ipctl("ls", "-l", path).stdout.decode().split()[1]


@pytest.fixture(scope="module")
def root_conv(mhost):
    """A udp conversation held open by root (an announce parked in listen)."""
    p, n = start_announce(mhost, "udp!*!7010")
    yield n
    p.kill()
    p.wait()


def test_nobody_cannot_add_route(mhost):
    before = mhost.cat("/net/iproute")
    r = mhost.ipctl("write", "/net/iproute", "add 198.18.5.0 /24 198.18.0.2", user="nobody",
                    check=False)
    assert denied(r), r
    assert mhost.cat("/net/iproute") == before


def test_nobody_cannot_write_arp(mhost):
    before = mhost.cat("/net/arp")
    r = mhost.ipctl("write", "/net/arp", "add 198.18.0.9 021800000009", user="nobody",
                    check=False)
    assert denied(r), r
    assert mhost.cat("/net/arp") == before


def test_nobody_cannot_configure_root_interface(mhost):
    before = mhost.cat("/net/ipifc/0/local")
    r = mhost.ipctl("write", "/net/ipifc/0/ctl", "add 198.18.0.50 255.255.255.0", user="nobody",
                    check=False)
    assert denied(r), r
    assert mhost.cat("/net/ipifc/0/local") == before


def test_nobody_cannot_write_ndb(mhost):
    r = mhost.ipctl("write", "/net/ndb", "sys=evil", user="nobody", check=False)
    assert denied(r), r


@pytest.mark.parametrize("path", ["/net/bootp", "/net/ipselftab", "/net/udp/stats"])
def test_read_only_files_refuse_writes_even_for_root(mhost, path):
    r = mhost.ipctl("write", path, "anything", check=False)
    assert denied(r), r


def test_anyone_may_write_log(mhost):
    mhost.ipctl("write", "/net/log", "set udp", user="nobody")
    mhost.ipctl("write", "/net/log", "clear udp", user="nobody")


@pytest.mark.parametrize("path", ["/net/iproute", "/net/arp", "/net/ipselftab", "/net/udp/stats",
                                  "/net/ipifc/0/status", "/net/ipifc/stats", "/net/icmp/stats"])
def test_nobody_can_read_tables(mhost, path):
    assert mhost.cat(path, user="nobody") == mhost.cat(path)


@pytest.mark.parametrize("file", ["ctl", "data", "err", "listen"])
def test_nobody_cannot_open_root_conversation(mhost, root_conv, file):
    r = mhost.ipctl("cat", "/net/udp/%d/%s" % (root_conv, file), user="nobody", check=False,
                    timeout=20)
    assert denied(r), r
    r = mhost.ipctl("write", "/net/udp/%d/%s" % (root_conv, file), "hangup", user="nobody",
                    check=False, timeout=20)
    assert denied(r), r


def test_root_conversation_still_announced_after_denials(mhost, root_conv):
    assert mhost.cat("/net/udp/%d/local" % root_conv) == "::!7010\n"
    assert owner(mhost, "/net/udp/%d/ctl" % root_conv) == "root"


@pytest.mark.parametrize("file", ["local", "remote", "status"])
def test_nobody_can_read_root_conversation_info(mhost, root_conv, file):
    # local, remote and status are 0444
    path = "/net/udp/%d/%s" % (root_conv, file)
    assert mhost.cat(path, user="nobody") == mhost.cat(path)


def test_nobody_clones_and_uses_own_udp_conversation(mhost):
    s = mhost.ns_socket()
    s.bind((LINUX_IP, 7020))
    p = mhost.ipctl_popen("dial", "-v", "-w", "30", "udp!%s!7020" % LINUX_IP, user="nobody")
    err = Reader(p.stderr)
    out = Reader(p.stdout)
    try:
        p.stdin.write(b"from nobody")
        p.stdin.flush()
        data, peer = udp_recv(s, 30)
        assert data == b"from nobody"
        # while the dial runs, its conversation belongs to nobody
        n = int(err.wait(lambda b: b"/net/udp/" in b).decode().split("/net/udp/")[1].split()[0])
        assert owner(mhost, "/net/udp/%d/ctl" % n) == "nobody"
        assert owner(mhost, "/net/udp/%d/data" % n) == "nobody"
        # root (the host owner) may open anyone's conversation
        assert mhost.cat("/net/udp/%d/ctl" % n) == str(n)
        s.sendto(b"to nobody", peer)
        assert out.wait(lambda b: b == b"to nobody", 30) == b"to nobody"
    finally:
        p.stdin.close()
        p.kill()
        p.wait()
        s.close()
    # last close: the conversation goes back to network (§1.4)
    assert wait_for(lambda: owner(mhost, "/net/udp/%d/ctl" % n) == "network", 10)


def test_other_user_cannot_open_nobodys_conversation(mhost):
    # owner bits for the owner, other bits for everyone else; never group bits (§1.4)
    p, n = start_announce(mhost, "udp!*!7022", user="nobody")
    try:
        assert owner(mhost, "/net/udp/%d/ctl" % n) == "nobody"
        r = mhost.ipctl("cat", "/net/udp/%d/ctl" % n, user="daemon", check=False)
        assert denied(r), r
        assert mhost.ipctl("cat", "/net/udp/%d/ctl" % n, user="nobody").stdout == b"%d" % n
    finally:
        p.kill()
        p.wait()


def test_nobody_cannot_announce_every_port(mhost):
    r = mhost.ipctl("announce", "udp!*!*", user="nobody", check=False, timeout=20)
    assert r.returncode != 0 and "permission denied" in r.stderr.decode(), r


def test_accepted_call_belongs_to_listener_owner(mhost):
    p, n = start_announce(mhost, "udp!*!7021", user="nobody")
    out = Reader(p.stdout)
    c = mhost.ns_socket()
    try:
        c.sendto(b"call me\n", (DEVIP_IP, 7021))
        assert out.wait(lambda b: b == b"call me\n", 30) == b"call me\n"
        call = find_conv(mhost, "udp", "%s!7021" % DEVIP_IP)
        assert call is not None and call != n
        assert owner(mhost, "/net/udp/%d/ctl" % call) == "nobody"
    finally:
        c.close()
        p.kill()
        p.wait()


# ---- the same rules on tcp conversations (§1.4) --------------------------------------------

@pytest.fixture(scope="module")
def root_tcp(mhost):
    """A tcp conversation announced by root (ipctl announce parked in listen)."""
    p = mhost.ipctl_popen("announce", "tcp!*!7030")
    assert wait_for(lambda: find_conv(mhost, "tcp", "::!7030", "Listen") is not None, 30)
    yield find_conv(mhost, "tcp", "::!7030", "Listen")
    p.kill()
    p.wait()


@pytest.mark.parametrize("file", ["ctl", "data", "err", "listen"])
def test_nobody_cannot_open_root_tcp_conversation(mhost, root_tcp, file):
    r = mhost.ipctl("cat", "/net/tcp/%d/%s" % (root_tcp, file), user="nobody", check=False,
                    timeout=20)
    assert denied(r), r
    r = mhost.ipctl("write", "/net/tcp/%d/%s" % (root_tcp, file), "hangup", user="nobody",
                    check=False, timeout=20)
    assert denied(r), r
    assert owner(mhost, "/net/tcp/%d/ctl" % root_tcp) == "root"
    assert mhost.cat("/net/tcp/%d/status" % root_tcp, user="nobody").startswith("Listen ")


def test_nobody_dials_tcp_with_own_conversation(mhost):
    s = mhost.ns_socket(__import__("socket").AF_INET, __import__("socket").SOCK_STREAM)
    s.setsockopt(1, 2, 1)  # SO_REUSEADDR
    s.bind((LINUX_IP, 7031))
    s.listen(1)
    s.settimeout(20)
    p = mhost.ipctl_popen("dial", "-v", "tcp!%s!7031" % LINUX_IP, user="nobody")
    try:
        c, _ = s.accept()
        err = Reader(p.stderr)
        n = int(err.wait(lambda b: b"/net/tcp/" in b).decode().split("/net/tcp/")[1].split()[0])
        assert owner(mhost, "/net/tcp/%d/ctl" % n) == "nobody"
        assert owner(mhost, "/net/tcp/%d/data" % n) == "nobody"
        c.close()
    finally:
        p.kill()
        p.wait()
        s.close()
