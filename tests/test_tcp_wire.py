"""TCP against crafted segments (scapy) and at scale: RFC 5961 challenge ACKs, malformed
segments, a SYN flood met with SYN cookies, 10 000 connections, a 100 MB HTTP download with
curl through `ipctl listen` (ip3.md §4.6; the departures in devip(4))."""
import hashlib
import random
import socket
import subprocess
import threading
import time

import pytest

from scapy.all import TCP  # noqa: E402

from conftest import DEVIP_IP, LINUX_IP, parse_stats, wait_for
from frames import IP, Raw, checksum, eth, ip4, parse
from udp_util import find_conv

NO_RST = b"""table inet norst {
    chain out { type filter hook output priority 0; tcp flags & rst != 0 drop; }
}"""


def tcp_of(frames, dport=None):
    return [p for p in parse(frames) if IP in p and TCP in p and p[IP].src == DEVIP_IP and
            (dport is None or p[TCP].dport == dport)]


def announce(d, port):
    c = __import__("ninep").Client(d.sock, timeout=30)
    c.session()
    c.open_path(1, "tcp/clone", 2)
    n = c.read(1).decode()
    c.write(1, b"announce %d" % port)
    return c, n


def handshake(d, w, port, sport, isn=1000):
    """A scapy client's three-way handshake with devip; returns devip's ISN + 1."""
    syn = eth(d) / ip4() / TCP(sport=sport, dport=port, flags="S", seq=isn, window=65535)
    got = tcp_of(w.exchange([bytes(syn)]), sport)
    sa = [p for p in got if p[TCP].flags & 0x12 == 0x12]
    assert sa, "no SYN-ACK: %r" % got
    rcv = sa[0][TCP].seq + 1
    ack = eth(d) / ip4() / TCP(sport=sport, dport=port, flags="A", seq=isn + 1, ack=rcv,
                               window=65535)
    w.exchange([bytes(ack)])
    return rcv


def test_challenge_ack_for_in_window_rst_and_syn(host):
    host.ns_run("nft -f -", input=NO_RST)  # Linux's kernel would reset devip's SYN-ACKs
    c, n = announce(host, 7700)
    w = host.wire()
    rcv = handshake(host, w, 7700, 40001)
    wait_for(lambda: "Established" in host.cat("/net/tcp/stats") or True, 1)
    before = parse_stats(host.cat("/net/tcp/stats"))
    # an RST that is in the window but not at rcv.nxt: a challenge ACK, the connection stays
    rst = eth(host) / ip4() / TCP(sport=40001, dport=7700, flags="R", seq=1001 + 500)
    got = tcp_of(w.exchange([bytes(rst)]), 40001)
    acks = [p for p in got if p[TCP].flags == 0x10]
    assert acks and acks[0][TCP].ack == 1001 and acks[0][TCP].seq == rcv
    # a SYN on the established connection: a challenge ACK too (RFC 5961 §4)
    syn = eth(host) / ip4() / TCP(sport=40001, dport=7700, flags="S", seq=5555)
    got = tcp_of(w.exchange([bytes(syn)]), 40001)
    assert [p for p in got if p[TCP].flags == 0x10]
    after = parse_stats(host.cat("/net/tcp/stats"))
    assert after["ChallengeAcks"] >= before["ChallengeAcks"] + 2
    # data still flows: the call is still there
    data = eth(host) / ip4() / TCP(sport=40001, dport=7700, flags="PA", seq=1001, ack=rcv) / \
        Raw(b"still up")
    got = tcp_of(w.exchange([bytes(data)]), 40001)
    assert any(p[TCP].ack == 1001 + 8 for p in got)
    # an exact RST ends it
    rst = eth(host) / ip4() / TCP(sport=40001, dport=7700, flags="R", seq=1009)
    w.exchange([bytes(rst)])
    w.close()
    c.close()


def test_malformed_segments_are_counted_and_dropped(host):
    c, n = announce(host, 7701)
    w = host.wire()
    before = parse_stats(host.cat("/net/tcp/stats"))
    good = eth(host) / ip4() / TCP(sport=40002, dport=7701, flags="S", seq=1)
    bad_csum = good.copy()
    bad_csum[TCP].chksum = 0x1234
    short_off = eth(host) / ip4(proto=6) / Raw(bytes(TCP(sport=40002, dport=7701, flags="S",
                                                  dataofs=3)))
    long_off = eth(host) / ip4(proto=6) / Raw(bytes(TCP(sport=40002, dport=7701, flags="S",
                                                 dataofs=15)))
    trunc = eth(host) / ip4(proto=6) / Raw(b"\x00" * 12)
    bad_opt = eth(host) / ip4() / TCP(sport=40002, dport=7701, flags="S",
                                      options=[(2, b"\x05")])  # MSS with length 3
    got = w.exchange([bytes(bad_csum), bytes(short_off), bytes(long_off), bytes(trunc),
                      bytes(bad_opt)])
    assert not [p for p in tcp_of(got) if p[TCP].flags & 0x02]  # no SYN-ACK to any of them
    after = parse_stats(host.cat("/net/tcp/stats"))
    assert after["CsumErrs"] >= before["CsumErrs"] + 1
    assert after["InErrs"] >= before["InErrs"] + 4
    assert host.alive()
    w.close()
    c.close()


def test_syn_flood_meets_syn_cookies(host):
    host.ns_run("nft -f -", input=NO_RST)
    c, n = announce(host, 7702)
    w = host.wire()
    rnd = random.Random(7)
    # one SYN built by scapy, then its port, sequence and checksum changed per copy (scapy
    # takes 10 ms a packet)
    tmpl = bytes(eth(host) / ip4() / TCP(sport=1024, dport=7702, flags="S", window=65535))
    flood = []
    for i in range(1500):
        f = bytearray(tmpl)
        f[34:36] = (1024 + i).to_bytes(2, "big")
        f[38:42] = rnd.randrange(1 << 32).to_bytes(4, "big")
        f[50:52] = b"\0\0"
        f[50:52] = checksum(f[26:34] + b"\0\x06" + len(f[34:]).to_bytes(2, "big") +
                            bytes(f[34:])).to_bytes(2, "big")
        flood.append(bytes(f))
    w.send(flood, pace=32)
    w.sync()
    stats = parse_stats(host.cat("/net/tcp/stats"))
    assert stats["CookiesSent"] > 0  # the limbo (1000 entries) filled: cookies for the rest
    # a real client still gets in, through the flood's limbo
    host.ns_run("nft delete table inet norst")
    s = host.ns_socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect((DEVIP_IP, 7702))
    s.close()
    w.close()
    c.close()


def test_10000_concurrent_connections_then_nothing_leaks(host):
    """10 000 connections from Linux open at once on a devip listener (a 9P acceptor, not a
    process per call), each exchanging data; Linux closes first, then the acceptor; after
    that every conversation is Closed and the mbufs in use are back where they were. The
    connector may run thousands of calls ahead of the acceptor: the backlog holds them all
    (beyond it a completing ACK gets an RST, counted in BacklogDrops)."""
    import resource
    import ninep
    from conftest import in_netns
    n_conn = 10000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert hard >= n_conn + 1000, "RLIMIT_NOFILE hard limit %d: too low for the test" % hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    def eth_stats():
        return dict(l.split(": ", 1) for l in host.cat("/net/ether0/stats").splitlines()
                    if ": " in l)
    idle = eth_stats()
    c = ninep.Client(host.sock, timeout=60)
    c.session()
    c.open_path(1, "tcp/clone", ninep.ORDWR)
    lconv = c.read(1).decode()
    c.write(1, b"announce 7703")
    c.write(1, b"backlog %d" % n_conn)
    socks = in_netns(host.ns, lambda: [socket.socket() for _ in range(n_conn)])
    errors = []
    calls = []
    connected = [0]

    def connect_all():
        try:
            for i, s in enumerate(socks):
                s.settimeout(60)
                s.connect((DEVIP_IP, 7703))
                s.sendall(b"hi %05d" % i)
                connected[0] += 1
        except OSError as e:
            errors.append("connect %d: %s" % (connected[0], e))

    t = threading.Thread(target=connect_all)
    t.start()
    fid = 10
    for k in range(n_conn):  # listen: each open returns the next call's ctl
        if errors and k >= connected[0]:
            break  # the connector gave up: no call is coming
        c.walk(0, fid, "tcp", lconv, "listen")
        try:
            c.open(fid, ninep.ORDWR)
        except TimeoutError:
            raise AssertionError("no call %d in 60 s (connected %d, errors %s): %s\n%s" % (
                k, connected[0], errors,
                {k_: v for k_, v in parse_stats(host.cat("/net/tcp/stats")).items() if v},
                host.cat("/net/ether0/stats")))
        n = c.read(fid).decode()
        c.walk(0, fid + 1, "tcp", n, "data")
        c.open(fid + 1, ninep.ORDWR)
        got = c.read(fid + 1)
        c.write(fid + 1, b"ok " + got[3:])
        calls.append((fid, fid + 1, n))
        fid += 2
    t.join(120)
    assert not errors, (errors[:3], len(calls),
                        {k: v for k, v in parse_stats(host.cat("/net/tcp/stats")).items() if v})
    stats = parse_stats(host.cat("/net/tcp/stats"))
    for k in ("BacklogDrops", "CallsRefused", "CookiesBad", "OutRsts"):
        assert stats[k] == 0, (k, stats)
    for i, s in enumerate(socks):
        assert s.recv(20) == b"ok %05d" % i
    for s in socks:  # Linux closes first
        s.close()
    for f, d, n in calls:
        c.clunk(d)
        c.clunk(f)
    c.clunk(1)

    def all_closed():
        for f, d, n in calls[::97]:
            if not c.cat("tcp/%s/status" % n).startswith(b"Closed "):
                return False
        return True
    assert wait_for(all_closed, 60)
    assert all(c.cat("tcp/%s/status" % n).startswith(b"Closed ") for _, _, n in calls)
    stats = parse_stats(host.cat("/net/tcp/stats"))
    assert stats["CurrEstab"] == 0
    after = eth_stats()
    assert int(after["message mbufs in use"]) <= int(idle["message mbufs in use"]) + 4
    assert int(after["mbufs in use"]) <= int(idle["mbufs in use"]) + 16
    c.close()


def test_backlog_counts_calls_until_a_listen_open_takes_them(host):
    """backlog 2: two calls wait (their conversations exist), the completing ACKs of the next
    two get the worker's RST (BacklogDrops), not a reset after the handshake from the control
    thread; a listen open that takes a call makes room for exactly one more (issue 8)."""
    c, n = announce(host, 7706)
    c.write(1, b"backlog 2")
    before = parse_stats(host.cat("/net/tcp/stats"))

    def dial():
        s = host.ns_socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(10)
        try:
            s.connect((DEVIP_IP, 7706))  # Established once the SYN-ACK is in, unless the
        except ConnectionResetError:     # RST to its ACK came first
            pass
        return s

    def settled(k):  # every one of k calls either established or refused
        st = parse_stats(host.cat("/net/tcp/stats"))
        return (st["CurrEstab"] - before["CurrEstab"] +
                st["BacklogDrops"] - before["BacklogDrops"]) == k

    socks = [dial() for _ in range(4)]
    assert wait_for(lambda: settled(4), 10)
    assert parse_stats(host.cat("/net/tcp/stats"))["BacklogDrops"] - before["BacklogDrops"] == 2
    c.walk(0, 5, "tcp", n, "listen")
    c.open(5, 2)  # takes the oldest call: room for one
    socks += [dial(), dial()]
    assert wait_for(lambda: settled(6), 10)
    after = parse_stats(host.cat("/net/tcp/stats"))
    assert after["BacklogDrops"] - before["BacklogDrops"] == 3
    assert after["CallsRefused"] == before["CallsRefused"]
    assert after["CookiesBad"] == before["CookiesBad"]
    assert after["CurrEstab"] - before["CurrEstab"] == 3
    for s in socks:
        s.close()
    c.close()


def test_curl_100mb_from_ipctl_listen(host, tmp_path):
    """A 100 MB HTTP download: curl in Linux, a shell serving a file behind `ipctl listen`."""
    body = 100 << 20
    src = tmp_path / "body"
    with open(src, "wb") as f:
        f.write(random.randbytes(body))
    want = hashlib.sha256(src.read_bytes()).hexdigest()
    out = tmp_path / "got"
    p = host.ipctl_popen(
        "listen", "-1", "tcp!*!7704", "sh", "-c",
        "read line; printf 'HTTP/1.0 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n'; "
        "cat %s" % (body, src))
    time.sleep(0.5)
    r = None
    for attempt in range(20):
        r = host.ns_run("curl -s -S -o %s -w '%%{http_code} %%{size_download}' "
                        "--max-time 300 http://%s:7704/" % (out, DEVIP_IP), check=False,
                        timeout=330)
        if r.returncode != 7:  # 7: could not connect (listen not announced yet)
            break
        time.sleep(0.2)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split() == ["200", str(body)]
    assert hashlib.sha256(out.read_bytes()).hexdigest() == want
    assert p.wait(30) == 0


def write_pcap(path, frames):
    import struct
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", i // 1000000, i % 1000000, len(fr), len(fr)))
            f.write(fr)


def test_tcpreplay_syn_flood_from_a_routed_16(host, tmp_path):
    """20 000 SYNs from spoofed sources all over 198.19.0.0/16 (routed through Linux, which
    drops devip's answers), replayed with tcpreplay --topspeed; devipd stays up, counts them,
    and a real connection made during the replay completes and carries data."""
    host.ipctl("write", "/net/iproute", "add 198.19.0.0 255.255.0.0 %s" % LINUX_IP)
    c, n = announce(host, 7705)
    c.write(1, b"backlog 64")
    rnd = random.Random(11)
    tmpl = bytes(eth(host) / IP(src="198.19.0.1", dst=DEVIP_IP) /
                 TCP(sport=1024, dport=7705, flags="S", window=65535))
    frames = []
    for i in range(20000):
        f = bytearray(tmpl)
        f[28:30] = bytes([rnd.randrange(256), rnd.randrange(1, 255)])  # 198.19.x.y
        f[24:26] = b"\0\0"
        f[24:26] = checksum(bytes(f[14:34])).to_bytes(2, "big")
        f[34:36] = rnd.randrange(1024, 65536).to_bytes(2, "big")
        f[38:42] = rnd.randrange(1 << 32).to_bytes(4, "big")
        f[50:52] = b"\0\0"
        f[50:52] = checksum(f[26:34] + b"\0\x06" + len(f[34:]).to_bytes(2, "big") +
                            bytes(f[34:])).to_bytes(2, "big")
        frames.append(bytes(f))
    pcap = str(tmp_path / "flood.pcap")
    write_pcap(pcap, frames)
    before = parse_stats(host.cat("/net/tcp/stats"))
    rp = host.ns_popen(["tcpreplay", "--topspeed", "--loop", "3", "-i", "dtap0", pcap])
    time.sleep(0.2)
    s = host.ns_socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect((DEVIP_IP, 7705))  # during the replay
    mid = parse_stats(host.cat("/net/tcp/stats"))
    out, err = rp.communicate(timeout=120)
    assert rp.returncode == 0, err
    # the call is taken and carries data both ways
    c.walk(0, 5, "tcp", n, "listen")
    c.open(5, 2)
    call = c.read(5).decode()
    c.walk(0, 6, "tcp", call, "data")
    c.open(6, 2)
    s.sendall(b"through the flood")
    assert c.read(6) == b"through the flood"
    c.write(6, b"ok")
    assert s.recv(10) == b"ok"
    s.close()
    after = parse_stats(host.cat("/net/tcp/stats"))
    assert mid["InSegs"] > before["InSegs"]  # the connection was made while SYNs came in
    assert after["InSegs"] - before["InSegs"] >= 20000
    assert after["CookiesSent"] > before["CookiesSent"]
    assert host.alive()
    c.close()
