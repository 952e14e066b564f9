"""The 9P server under abuse: garbage, truncation, disconnects with requests parked, clients
that do not read, many clients; after each, devipd still serves everyone else."""
import os
import random
import signal
import socket
import struct
import threading
import time

import pytest

import ninep
from conftest import DEVIP_IP, wait_for
from ninep import Client, NinepError, msg
from udp_util import find_conv, start_announce


@pytest.fixture
def d(mhost):
    yield mhost
    mhost.assert_serving()


def connect(d):
    return Client(d.sock)


def dropped_or_error(c):
    """After a bad message: the server either answers Rerror or closes the connection."""
    try:
        r = c.recv_msg()
    except (ConnectionResetError, socket.timeout):
        return "closed"
    if r is None:
        return "closed"
    return "error" if r[0] == ninep.Rerror else "reply %d" % r[0]


BAD_FRAMES = {
    "size_below_header": struct.pack("<I", 3) + b"\x00" * 16,
    "size_zero": b"\x00\x00\x00\x00" + b"\x64" * 16,
    "size_huge": struct.pack("<I", 0xFFFFFFF0) + b"\x64\x00\x00" + b"A" * 64,
    "size_beyond_msize": struct.pack("<I", 10 << 20) + b"\x64\x00\x00" + b"A" * 64,
    "unknown_type": msg(200, 1, b"\x00" * 8),
    "rmessage_sent_to_server": msg(ninep.Rversion, ninep.NOTAG, struct.pack("<I", 8192) +
                                   ninep.s("9P2000")),
    "version_string_overruns": msg(ninep.Tversion, ninep.NOTAG,
                                   struct.pack("<IH", 8192, 500) + b"9P2000"),
    "version_trailing_bytes": msg(ninep.Tversion, ninep.NOTAG,
                                  struct.pack("<I", 8192) + ninep.s("9P2000") + b"junk"),
    "walk_too_many_names": msg(ninep.Twalk, 1, struct.pack("<IIH", 0, 1, 17) +
                               b"".join(ninep.s("x") for _ in range(17))),
}


@pytest.mark.parametrize("kind", sorted(BAD_FRAMES))
def test_malformed_message_refused_and_server_keeps_serving(d, kind):
    c = connect(d)
    try:
        if kind not in ("rmessage_sent_to_server", "version_string_overruns",
                        "version_trailing_bytes"):
            c.session()
        c.send_raw(BAD_FRAMES[kind])
        assert dropped_or_error(c) in ("closed", "error")
    finally:
        c.close()
    other = connect(d).session()
    assert other.cat("/net/ipifc/0/ctl") == b"0"
    other.close()


def test_random_garbage_does_not_hurt_server(d):
    rng = random.Random(9)
    for i in range(20):
        c = connect(d)
        try:
            if i % 2:
                c.session()
            c.send_raw(rng.randbytes(rng.randrange(1, 8192)))
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            c.close()
    d.assert_serving()


def test_truncated_message_then_disconnect(d):
    c = connect(d).session()
    full = msg(ninep.Twalk, 5, struct.pack("<IIH", 0, 1, 1) + ninep.s("iproute"))
    c.send_raw(full[:9])
    c.close()
    d.assert_serving()


def test_half_sent_message_does_not_block_other_clients(d):
    c = connect(d).session()
    c.send_raw(struct.pack("<I", 4000) + b"\x76\x01\x00" + b"\x00" * 100)  # 3900 bytes owed
    try:
        for _ in range(3):
            d.assert_serving()
    finally:
        c.close()


def test_msize_below_minimum_refused(d):
    c = connect(d)
    try:
        with pytest.raises(NinepError, match="msize"):
            c.version(msize=64)
    finally:
        c.close()


def test_msize_negotiated_down(d):
    c = connect(d)
    try:
        msize, v = c.version(msize=1 << 30)
        assert v == "9P2000" and 256 <= msize < (1 << 30)
    finally:
        c.close()


def test_unknown_protocol_version_answered_unknown(d):
    c = connect(d)
    try:
        assert c.version(version="9P1999")[1] == "unknown"
    finally:
        c.close()


def test_attach_before_version_refused(d):
    c = connect(d)
    try:
        c.send_raw(msg(ninep.Tattach, 1, struct.pack("<II", 0, ninep.NOFID) + ninep.s("root") +
                       ninep.s("")))
        assert dropped_or_error(c) in ("closed", "error")
    finally:
        c.close()


def test_bad_fids_are_errors_not_crashes(d):
    c = connect(d).session()
    try:
        with pytest.raises(NinepError):
            c.read(77)
        with pytest.raises(NinepError):
            c.clunk(77)
        with pytest.raises(NinepError):
            c.attach(0)  # fid in use
        with pytest.raises(NinepError, match="does not exist"):
            c.walk(0, 5, "nosuchfile")
        c.walk(0, 6, "iproute")
        with pytest.raises(NinepError):
            c.walk(0, 6, "arp")  # newfid in use
        with pytest.raises(NinepError):
            c.read(6)  # not open
        assert c.cat("/net/ipifc/0/ctl") == b"0"
    finally:
        c.close()


def test_new_version_ends_the_session(d):
    c = connect(d).session()
    try:
        c.version()
        with pytest.raises(NinepError):
            c.walk(0, 1, "iproute")
        c.attach(0)
        assert c.cat("/net/ipifc/0/ctl") == b"0"
    finally:
        c.close()


def test_parked_log_read_then_disconnect(d):
    c = connect(d).session()
    c.open_path(1, "/net/log")
    c.send_raw(msg(ninep.Tread, 7, struct.pack("<IQI", 1, 0, 1024)))  # parks: nothing logged
    time.sleep(0.2)
    c.close()
    d.assert_serving()


def test_flush_answers_parked_read(d):
    c = connect(d).session()
    try:
        c.open_path(1, "/net/log")
        c.send_raw(msg(ninep.Tread, 7, struct.pack("<IQI", 1, 0, 1024)))
        c.send_raw(msg(ninep.Tflush, 8, struct.pack("<H", 7)))
        r = c.recv_msg()
        if r[1] == 7:  # the read may be answered before the flush (flush(5))
            r = c.recv_msg()
        assert (r[0], r[1]) == (ninep.Rflush, 8)
        assert c.cat("/net/ipifc/0/ctl") == b"0"
    finally:
        c.close()


def raw_announce(c, port):
    """Clones a udp conversation and announces *!port over raw 9P; returns (ctl fid, n)."""
    c.open_path(1, "/net/udp/clone", ninep.ORDWR)
    n = int(c.read(1))
    c.write(1, "announce %d" % port)
    return 1, n


def assert_port_announceable(d, port):
    """A fresh ipctl announce of the port works and receives a datagram from Linux."""
    p, n = start_announce(d, "udp!*!%d" % port, "-n", "1")
    s = d.ns_socket()
    s.sendto(b"still works", (DEVIP_IP, port))
    s.close()
    out, err = p.communicate(timeout=10)
    assert out == b"still works", err


def test_disconnect_mid_listen_releases_announcement(d):
    c = connect(d).session()
    fid, n = raw_announce(c, 7110)
    c.walk(0, 2, "udp", str(n), "listen")
    c.send_raw(msg(ninep.Topen, 9, struct.pack("<IB", 2, ninep.ORDWR)))  # parks
    time.sleep(0.2)
    assert find_conv(d, "udp", "::!7110") == n
    c.close()
    assert wait_for(lambda: find_conv(d, "udp", "::!7110") is None, 5)
    assert_port_announceable(d, 7110)


def test_flush_parked_listen(d):
    c = connect(d).session()
    try:
        fid, n = raw_announce(c, 7111)
        c.walk(0, 2, "udp", str(n), "listen")
        c.send_raw(msg(ninep.Topen, 9, struct.pack("<IB", 2, ninep.ORDWR)))
        time.sleep(0.1)
        c.send_raw(msg(ninep.Tflush, 10, struct.pack("<H", 9)))
        r = c.recv_msg()
        assert (r[0], r[1]) == (ninep.Rflush, 10), r
        # the announcement is still there and usable by a new listen
        assert find_conv(d, "udp", "::!7111") == n
        c.walk(0, 3, "udp", str(n), "listen")
        c.send_raw(msg(ninep.Topen, 11, struct.pack("<IB", 3, ninep.ORDWR)))
        s = d.ns_socket()
        s.sendto(b"call", (DEVIP_IP, 7111))
        s.close()
        r = c.recv_msg()
        assert (r[0], r[1]) == (ninep.Ropen, 11), r
    finally:
        c.close()
    assert wait_for(lambda: find_conv(d, "udp", "::!7111") is None, 5)


def test_ipctl_announce_killed_mid_listen(d):
    p, n = start_announce(d, "udp!*!7112")
    time.sleep(0.2)
    p.send_signal(signal.SIGKILL)
    p.wait()
    d.assert_serving()
    assert wait_for(lambda: find_conv(d, "udp", "::!7112") is None, 5)
    assert_port_announceable(d, 7112)


def test_many_connections_leave_no_descriptors_behind(d):
    def nfds():
        return len(os.listdir("/proc/%d/fd" % d.proc.pid))
    def settled():
        # the count once the server has caught up with earlier clients going away
        last = nfds()
        for _ in range(50):
            time.sleep(0.1)
            n = nfds()
            if n == last:
                return n
            last = n
        return last
    base = settled()
    conns = []
    for i in range(300):
        c = connect(d)
        if i % 3 == 0:
            c.session()
            c.open_path(1, "/net/iproute")
        if i % 3 == 1:
            c.send_raw(b"\x05\x00")  # half a size field
        conns.append(c)
    assert wait_for(lambda: nfds() >= base + 300, 15), "fds: %d at start, %d with 300 clients" % (
        base, nfds())
    for c in conns:
        c.close()
    assert wait_for(lambda: nfds() <= base, 15), "fds: %d before, %d after" % (base, nfds())


def test_client_not_reading_replies_does_not_stall_others(d):
    c = connect(d).session()
    c.open_path(1, "/net/iproute")
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    req = msg(ninep.Tread, 1, struct.pack("<IQI", 1, 0, 8192))
    c.sock.settimeout(0.5)
    sent = 0
    try:
        for _ in range(20000):  # ~13 MB of replies nobody reads
            c.sock.sendall(req)
            sent += 1
    except (socket.timeout, BrokenPipeError, ConnectionResetError):
        pass  # the server stopped reading from us, or dropped us: both fine
    try:
        for _ in range(3):
            d.assert_serving()
    finally:
        c.close()
    assert sent > 0


def test_parallel_clients_see_consistent_tables(d):
    want = d.cat("/net/iproute").encode()
    errors = []

    def worker():
        try:
            c = connect(d).session()
            for i in range(20):
                got = c.cat("/net/iproute", fid=10 + i)
                if got != want:
                    errors.append(got)
            c.close()
        except Exception as e:  # reported below
            errors.append(repr(e))

    ts = [threading.Thread(target=worker) for _ in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors, errors[:3]
