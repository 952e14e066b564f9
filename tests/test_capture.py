"""Packet capture (issue 10 §1): `ipctl snoop` and the capture files /net/etherN/capture and
/net/ipifc/N/capture give pcapng that tshark reads, with the interface and the direction of
every packet; filters (libpcap syntax, run on the workers) keep only what matches; a bad
filter is refused and changes nothing; only the owner may capture; at most four captures;
a reader that falls behind loses packets from the capture, and the end says how many."""
import os
import re
import socket
import struct
import subprocess
import tempfile

import pytest

import ninep
from conftest import DEVIP_IP, LINUX_IP, LINUX_MAC, mac_colons, wait_for

IN, OUT = "0x00000001", "0x00000002"  # pcapng epb_flags direction, as tshark prints it
FIELDS = ["frame.interface_id", "frame.interface_name", "frame.packet_flags_direction",
          "frame.interface_queue", "frame.len", "frame.cap_len", "ip.src", "ip.dst", "ip.proto",
          "icmp.type", "udp.srcport", "udp.dstport", "udp.payload"]
SUMMARY = re.compile(r"^(\d+) packets captured, (\d+) dropped$", re.M)


def tshark(path):
    """Every packet of a pcapng file as a dict of FIELDS (tshark decodes it, not us)."""
    r = subprocess.run(["tshark", "-r", path, "-T", "fields", "-E", "occurrence=f"] +
                       sum((["-e", f] for f in FIELDS), []), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return [dict(zip(FIELDS, line.split("\t"))) for line in r.stdout.splitlines()]


def blocks(data):
    """(type, body) of each pcapng block (host byte order, as rte_pcapng writes)."""
    out, at = [], 0
    while at + 12 <= len(data):
        t, n = struct.unpack_from("<II", data, at)
        assert n >= 12 and n % 4 == 0 and at + n <= len(data), "bad block at %d" % at
        assert struct.unpack_from("<I", data, at + n - 4)[0] == n, "trailer at %d" % at
        out.append((t, data[at + 8:at + n - 4]))
        at += n
    assert at == len(data), "%d stray bytes at the end" % (len(data) - at)
    return out


def isb_counts(body):
    """(isb_ifrecv, isb_ifdrop) of an interface statistics block body."""
    opts, got, o = body[12:], {}, 0
    while o + 4 <= len(opts):
        code, n = struct.unpack_from("<HH", opts, o)
        if code == 0:
            break
        got[code] = opts[o + 4:o + 4 + n]
        o += 4 + (n + 3) // 4 * 4
    return struct.unpack("<Q", got[4])[0], struct.unpack("<Q", got[5])[0]


def capture_running(d, port=0):
    return re.search(r"^capture\d: running", d.cat("/net/ether%d/stats" % port), re.M)


def snoop(d, *args):
    """Starts `ipctl snoop -w FILE ARGS` and waits until its capture runs: (Popen, FILE)."""
    path = tempfile.mktemp(prefix="snoop-", suffix=".pcapng", dir=d.dir)
    p = d.ipctl_popen("snoop", "-w", path, *args)
    assert wait_for(lambda: p.poll() is not None or capture_running(d), 30), "no capture ran"
    assert p.poll() is None, p.stderr.read().decode()
    return p, path


def finish(p):
    """Waits for a snoop to end by itself (its -c count); returns its summary (n, dropped)."""
    _, err = p.communicate(timeout=60)
    err = err.decode()
    assert p.returncode == 0, err
    m = SUMMARY.search(err)
    assert m, err
    return int(m.group(1)), int(m.group(2))


def udp_to(d, dst, port, payload, n=1):
    """Linux sends n datagrams to dst:port."""
    s = d.ns_socket()
    try:
        for _ in range(n):
            s.sendto(payload, (dst, port))
    finally:
        s.close()


def stray_frame(d, dport=9999, size=16):
    """A UDP frame to devip's MAC for an address that is not devip's (198.18.0.77): devip
    drops it without a word (no forwarding), so it is noise on the port and nothing more."""
    from scapy.all import Ether, IP, UDP, Raw
    return bytes(Ether(dst=mac_colons(d.mac), src=LINUX_MAC) /
                 IP(src=LINUX_IP, dst="198.18.0.77") / UDP(sport=5, dport=dport) /
                 Raw(b"x" * size))


def noise(d, n=3):
    w = d.wire()
    assert w.send([stray_frame(d)] * n) == n


def test_capture_file_mode_and_place(mhost):
    """capture is 0400, owned as its directory's files are, after the 9front files."""
    ls = mhost.ipctl("ls", "-l", "/net/ether0").stdout.decode().splitlines()
    assert ls[-1].split() == ["--r--------", "network", "network", "0", "/net/ether0/capture"]
    names = [l.rsplit("/", 1)[1] for l in
             mhost.ipctl("ls", "/net/ipifc/0").stdout.decode().splitlines()]
    assert names[-2:] == ["snoop", "capture"]
    assert mhost.ipctl("ls", "-l", "/net/ipifc/0/capture").stdout.decode().startswith(
        "--r-------- ")


def test_ping_both_directions(mhost):
    """A ping from Linux: the requests come in, the replies (answered by the worker) go
    out; tshark sees the tap's interface and each packet's direction."""
    p, path = snoop(mhost, "-c", "4", "icmp")
    noise(mhost)
    mhost.ns_run("ping -c 2 -i 0.2 -W 2 %s" % DEVIP_IP)
    n, dropped = finish(p)
    assert (n, dropped) == (4, 0)
    pk = tshark(path)
    assert len(pk) == 4
    assert all(x["ip.proto"] == "1" for x in pk), pk  # only icmp
    assert all(x["frame.interface_id"] == "0" and x["frame.interface_name"] == "dtap0"
               for x in pk), pk
    assert [(x["icmp.type"], x["frame.packet_flags_direction"], x["ip.src"]) for x in pk] == \
        [("8", IN, LINUX_IP), ("0", OUT, DEVIP_IP)] * 2
    assert all(x["frame.interface_queue"] == "0" for x in pk), pk  # the one worker's queue


def test_udp_port_filter(mhost):
    """udp port 7: a datagram devip sends and the reply Linux's echo server sends back,
    nothing of the noise before them (other ports, icmp)."""
    srv = mhost.ns_socket()
    srv.bind((LINUX_IP, 7))
    srv.settimeout(10)
    try:
        p, path = snoop(mhost, "-c", "2", "udp", "port", "7")
        noise(mhost)
        udp_to(mhost, DEVIP_IP, 9, b"noise", 3)
        mhost.ns_run("ping -c 1 -W 2 %s" % DEVIP_IP)
        d = mhost.ipctl_popen("dial", "-w", "2", "udp!%s!7" % LINUX_IP)
        d.stdin.write(b"hello seven\n")
        d.stdin.close()
        data, peer = srv.recvfrom(2048)
        srv.sendto(b"echo " + data, peer)
        n, _ = finish(p)
        d.wait(30)
    finally:
        srv.close()
    assert n == 2
    pk = tshark(path)
    assert [(x["frame.packet_flags_direction"], x["ip.src"], x["udp.dstport"])
            for x in pk] == [(OUT, DEVIP_IP, "7"), (IN, LINUX_IP, pk[1]["udp.dstport"])]
    assert pk[1]["udp.srcport"] == "7"
    assert bytes.fromhex(pk[0]["udp.payload"]) == b"hello seven\n"


def test_ipifc_capture_and_snaplen(mhost):
    """/net/ipifc/0/capture is ether0's packets; -s keeps the first bytes, frame.len
    stays the packet's length."""
    p, path = snoop(mhost, "-i", "0", "-c", "2", "-s", "60", "icmp")
    mhost.ns_run("ping -c 1 -s 200 -W 2 %s" % DEVIP_IP)
    assert finish(p) == (2, 0)
    pk = tshark(path)
    assert [x["frame.packet_flags_direction"] for x in pk] == [IN, OUT]
    assert all(x["frame.interface_id"] == "0" for x in pk)
    assert all((x["frame.len"], x["frame.cap_len"]) == ("242", "60") for x in pk), pk


def test_snoop_to_stdout_pipes_into_tshark(mhost):
    """`ipctl snoop | tshark -r -`: the pcapng stream is whole on a pipe."""
    cmd = "%s | tshark -r - -T fields -e frame.packet_flags_direction -e icmp.type" % " ".join(
        mhost.ipctl_argv(["snoop", "-c", "2", "icmp"]))
    t = subprocess.Popen(["sh", "-c", cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: t.poll() is not None or capture_running(mhost), 30)
        mhost.ns_run("ping -c 1 -W 2 %s" % DEVIP_IP)
        out, err = t.communicate(timeout=60)
    finally:
        if t.poll() is None:
            t.kill()
            t.wait()
    assert out.decode().split("\n")[:2] == [IN + "\t8", OUT + "\t0"], err.decode()
    assert "2 packets captured, 0 dropped" in err.decode()


def test_bad_filter_is_refused_and_changes_nothing(mhost):
    r = mhost.ipctl("snoop", "-c", "1", "-w", os.devnull, "udp", "port", check=False)
    assert r.returncode == 1
    assert r.stderr.decode().startswith("ipctl: snoop: bad filter: "), r.stderr
    assert not capture_running(mhost)
    c = ninep.Client(mhost.sock, timeout=20).session()
    try:
        c.open_path(1, "/net/ether0/capture", ninep.ORDWR)
        c.write(1, "filter icmp")
        with pytest.raises(ninep.NinepError) as e:
            c.write(1, "filter icmp and (")
        assert str(e.value).startswith("bad filter: ")
        with pytest.raises(ninep.NinepError) as e:
            c.write(1, "snaplen lots")
        assert str(e.value) == "bad arg in system call"
        with pytest.raises(ninep.NinepError) as e:
            c.write(1, "promiscuous")
        assert str(e.value) == "unknown control request"
        data = c.read(1, 0, 65536)  # starts it: section and interface blocks
        assert [t for t, _ in blocks(data)] == [0x0A0D0D0A, 1]
        udp_to(mhost, DEVIP_IP, 9, b"noise", 2)
        mhost.ns_run("ping -c 1 -W 2 %s" % DEVIP_IP)
        assert wait_for(lambda: re.search(r"capture\d: running .* captured 4 ",
                                          mhost.cat("/net/ether0/stats")), 10)
        c.write(1, "stop")
        while True:
            b = c.read(1, len(data), 65536)
            if not b:
                break
            data += b
    finally:
        c.close()
    path = os.path.join(mhost.dir, "bad-filter.pcapng")
    with open(path, "wb") as f:
        f.write(data)
    pk = tshark(path)
    # the filter is still icmp: two port unreachables out, the echo request and its reply
    assert sorted(x["icmp.type"] for x in pk) == ["0", "3", "3", "8"], pk
    kinds = [t for t, _ in blocks(data)]
    assert kinds == [0x0A0D0D0A, 1, 6, 6, 6, 6, 5]
    assert isb_counts(blocks(data)[-1][1]) == (4, 0)


def test_nobody_cannot_capture(mhost):
    for path in ["/net/ether0/capture", "/net/ipifc/0/capture"]:
        r = mhost.ipctl("cat", path, user="nobody", check=False, timeout=20)
        assert r.returncode != 0 and "permission denied" in r.stderr.decode(), r
    r = mhost.ipctl("snoop", "-c", "1", "-w", "/dev/null", user="nobody", check=False,
                    timeout=20)
    assert r.returncode == 1 and "permission denied" in r.stderr.decode(), r


def test_at_most_four_captures(mhost):
    c = ninep.Client(mhost.sock, timeout=20).session()
    try:
        for fid in range(1, 5):
            c.open_path(fid, "/net/ether0/capture")
        c.walk(0, 5, "ether0", "capture")
        with pytest.raises(ninep.NinepError) as e:
            c.open(5, ninep.OREAD)
        assert str(e.value) == "no free devices"
        c.clunk(1)

        def reopened():  # the slot is free once the workers are past it (a grace period)
            try:
                c.open(5, ninep.OREAD)
                return True
            except ninep.NinepError as x:
                assert str(x) == "no free devices"
                return False
        assert wait_for(reopened, 10)
    finally:
        c.close()


def test_slow_reader_loses_packets_and_says_so(mhost):
    """A capture nobody reads holds 8 MB of pcapng; the rest of a flood is dropped from the
    capture (not from the stack), and the statistics block at the end counts both."""
    c = ninep.Client(mhost.sock, timeout=30).session()
    w = mhost.wire()
    try:
        c.open_path(1, "/net/ether0/capture", ninep.ORDWR)
        c.write(1, "filter udp dst port 9999")
        data = c.read(1, 0, 65536)
        frame = stray_frame(mhost, size=1400)
        n = 8000  # 11 MB of frames for an 8 MB buffer
        sent = w.send([frame] * n, pace=32)
        assert sent == n
        w.sync()
        assert wait_for(lambda: re.search(r"capture\d: running .* captured (\d+) dropped "
                                          r"[1-9]", mhost.cat("/net/ether0/stats")), 10)
        c.write(1, "stop")
        while True:
            b = c.read(1, len(data), 65536)
            if not b:
                break
            data += b
    finally:
        c.close()
    bl = blocks(data)
    epbs = sum(1 for t, _ in bl if t == 6)
    recv, drop = isb_counts(bl[-1][1])
    assert bl[-1][0] == 5
    assert drop > 0 and epbs > 0
    assert recv == epbs + drop == n
    assert mhost.ns_run("ping -c 1 -W 2 %s" % DEVIP_IP).returncode == 0  # the stack goes on


# hostA sends argv[1] datagrams of 1400 bytes to 198.18.2.2 port 9002, a millisecond's pause
# every 32; a full socket buffer (ENOBUFS) is waited out, so every one leaves
FLOOD = """
import errno, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[1])):
    while True:
        try:
            s.sendto(b"%08d" % i + bytes(1392), ("198.18.2.2", 9002))
            break
        except OSError as e:
            if e.errno != errno.ENOBUFS:
                raise
            time.sleep(0.001)
    if i % 32 == 31:
        time.sleep(0.001)
"""
# hostB counts the datagrams until none has come for 3 s
SINK = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 32 << 20)  # SO_RCVBUFFORCE
s.bind(("198.18.2.2", 9002))
print("ready", flush=True)
s.settimeout(3)
n = 0
try:
    while True:
        s.recv(2048)
        n += 1
except socket.timeout:
    pass
print(n, flush=True)
"""


def test_capture_under_forwarding_load_drops_from_the_capture_only():
    """devip forwards a flood from hostA to hostB while a capture of the way out nobody reads
    fills up: every datagram reaches hostB, the capture reports what it lost."""
    from test_forwarding import Router
    r = Router().start()
    try:
        r.warm()
        sink = r.popen("B", ["/usr/bin/python3", "-c", SINK], stdin=subprocess.DEVNULL)
        assert sink.stdout.readline() == b"ready\n", sink.stderr.read().decode()
        c = ninep.Client(r.d.sock, timeout=30).session()
        try:
            c.open_path(1, "/net/ether1/capture", ninep.ORDWR)
            c.write(1, "filter udp dst port 9002")
            data = c.read(1, 0, 65536)
            n = 10000  # 14 MB of frames for an 8 MB buffer
            flood = r.popen("A", ["/usr/bin/python3", "-c", FLOOD, str(n)])
            assert flood.wait(300) == 0, flood.stderr.read().decode()
            out, err = sink.communicate(timeout=120)
            assert int(out.split()[-1]) == n, err
            c.write(1, "stop")
            while True:
                b = c.read(1, len(data), 65536)
                if not b:
                    break
                data += b
        finally:
            c.close()
        bl = blocks(data)
        recv, drop = isb_counts(bl[-1][1])
        epbs = sum(1 for t, _ in bl if t == 6)
        assert drop > 0 and recv == epbs + drop == n
        assert " 0% packet loss" in r.run("A", "ping -c 3 -i 0.2 -W 2 198.18.2.2").stdout.decode()
    finally:
        r.close()
