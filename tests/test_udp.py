"""UDP between Linux and devip: ipctl dial and announce against Linux sockets and socat
(ip3.md §1.5, §2.3, §2.10, §3.2, §4.7)."""
import threading

from conftest import DEVIP_IP, LINUX_IP
from frames import IP, UDP, Raw, eth, fragment, ip4
from udp_util import Reader, start_announce, udp_recv, wait_udp_bound

ALL_BYTES = bytes(range(256)) + b"\n\r\x00tail"


def linux_udp(d, port=0):
    s = d.ns_socket()
    s.bind((LINUX_IP, port))
    return s


def test_dial_sends_exact_bytes_from_ephemeral_port(mhost):
    s = linux_udp(mhost, 7001)
    try:
        r = mhost.ipctl("dial", "-w", "0", "udp!%s!7001" % LINUX_IP, input=ALL_BYTES)
        assert r.returncode == 0
        data, (src, sport) = udp_recv(s)
    finally:
        s.close()
    assert data == ALL_BYTES
    assert src == DEVIP_IP
    assert 32768 <= sport <= 65535  # automatic ports are random in 32768-65535 (§3.2.1)


def test_dial_to_socat(mhost):
    p = mhost.ns_popen(["socat", "-u", "UDP4-RECV:7011,bind=%s" % LINUX_IP, "STDOUT"])
    assert wait_udp_bound(mhost, 7011)
    mhost.ipctl("dial", "-w", "0", "udp!%s!7011" % LINUX_IP, input=b"hello from devip\n")
    out = Reader(p.stdout).wait(lambda b: b.endswith(b"\n"))
    p.kill()
    assert out == b"hello from devip\n"


def test_dial_receives_reply_on_its_conversation(mhost):
    s = linux_udp(mhost, 7003)

    def echo():
        data, peer = udp_recv(s)
        s.sendto(b"reply:" + data[::-1], peer)

    t = threading.Thread(target=echo)
    t.start()
    try:
        r = mhost.ipctl("dial", "-w", "2", "udp!%s!7003" % LINUX_IP, input=b"abc\x00\xff")
    finally:
        t.join(6)
        s.close()
    assert r.stdout == b"reply:\xff\x00cba"


def test_dial_large_datagram_fragmented_on_output(mhost):
    s = linux_udp(mhost, 7005)
    payload = bytes((i * 7) & 0xFF for i in range(5000))
    try:
        mhost.ipctl("dial", "-w", "0", "udp!%s!7005" % LINUX_IP, input=payload)
        data, _ = udp_recv(s)
    finally:
        s.close()
    assert data == payload


def test_dial_to_closed_linux_port_reports_port_unreachable(mhost):
    # Linux answers with ICMP port unreachable; it hangs up the connected conversation
    # with the advice text (§4.7.1, §4.8.3).
    r = mhost.ipctl("dial", "-w", "2", "udp!%s!7999" % LINUX_IP, input=b"anyone?", check=False)
    assert r.returncode != 0
    assert "port unreachable" in r.stderr.decode()


def test_announce_prints_socat_datagram(mhost):
    p, n = start_announce(mhost, "udp!*!7002", "-n", "1")
    mhost.ns_run("socat -u - UDP4-SENDTO:%s:7002" % DEVIP_IP, input=ALL_BYTES)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert out == ALL_BYTES


def test_announce_local_and_remote_files(mhost):
    p, n = start_announce(mhost, "udp!*!7012")
    try:
        # A wildcard announce reads ::!port, even for IPv4 (§2.3, §7 fact 3).
        assert mhost.cat("/net/udp/%d/local" % n) == "::!7012\n"
        assert mhost.cat("/net/udp/%d/remote" % n) == "::!0\n"
        assert mhost.cat("/net/udp/%d/ctl" % n) == str(n)
        st = mhost.cat("/net/udp/%d/status" % n)
        assert st.startswith("Open qin ") and st.endswith("\n"), st
    finally:
        p.kill()
        p.wait()


def test_announce_spawns_one_conversation_per_remote(mhost):
    p, n = start_announce(mhost, "udp!*!7006")
    out = Reader(p.stdout)
    a, b = linux_udp(mhost), linux_udp(mhost)
    try:
        a.sendto(b"from-a\n", (DEVIP_IP, 7006))
        out.wait(lambda x: b"from-a\n" in x)
        b.sendto(b"from-b\n", (DEVIP_IP, 7006))
        out.wait(lambda x: b"from-b\n" in x)
        a.sendto(b"again-a\n", (DEVIP_IP, 7006))
        buf = out.wait(lambda x: b"again-a\n" in x)
        assert buf == b"from-a\nfrom-b\nagain-a\n"
        # each call is its own Connected conversation with the exact 4-tuple
        seen = set()
        for entry in mhost.ipctl("ls", "/net/udp").stdout.decode().split():
            name = entry.rsplit("/", 1)[1]
            if name.isdigit() and int(name) != n:
                r = mhost.ipctl("cat", "/net/udp/%s/local" % name, "/net/udp/%s/remote" % name,
                                check=False).stdout.decode()
                if r.startswith("%s!7006\n" % DEVIP_IP):
                    seen.add(r.split("\n")[1])
        assert seen == {"%s!%d" % (LINUX_IP, a.getsockname()[1]),
                        "%s!%d" % (LINUX_IP, b.getsockname()[1])}
    finally:
        a.close()
        b.close()
        p.kill()
        p.wait()


def test_announce_replies_from_announced_address_and_port(mhost):
    p, n = start_announce(mhost, "udp!*!7007")
    out = Reader(p.stdout)
    s = linux_udp(mhost)
    try:
        s.sendto(b"question\n", (DEVIP_IP, 7007))
        out.wait(lambda x: x.endswith(b"question\n"))
        p.stdin.write(b"answer\n")
        p.stdin.flush()
        data, (src, sport) = udp_recv(s)
    finally:
        s.close()
        p.kill()
        p.wait()
    assert data == b"answer\n"
    assert (src, sport) == (DEVIP_IP, 7007)


def test_announce_receives_fragmented_datagram(mhost):
    p, n = start_announce(mhost, "udp!*!7008", "-n", "1")
    payload = bytes((i * 13 + 5) & 0xFF for i in range(4000))
    s = linux_udp(mhost)
    try:
        s.sendto(payload, (DEVIP_IP, 7008))
        out, err = p.communicate(timeout=30)
    finally:
        s.close()
    assert out == payload


def test_closed_port_answered_with_icmp_port_unreachable(mhost):
    before_u = mhost.stats("/net/udp/stats")
    before_i = mhost.stats("/net/icmp/stats")
    s = mhost.ns_socket()
    s.connect((DEVIP_IP, 7998))
    try:
        s.send(b"nobody home")
        s.settimeout(5)
        try:
            s.recv(100)
            refused = False
        except ConnectionRefusedError:
            refused = True
    finally:
        s.close()
    assert refused, "Linux saw no ICMP port unreachable"
    mhost.wire().sync()
    after_u = mhost.stats("/net/udp/stats")
    after_i = mhost.stats("/net/icmp/stats")
    assert after_u["NoPorts"] - before_u["NoPorts"] == 1
    assert after_u["InDatagrams"] - before_u["InDatagrams"] == 1
    assert after_i["Unreachable"][1] - before_i["Unreachable"][1] == 1


def test_udp_stats_count_datagrams_both_ways(mhost):
    before = mhost.stats("/net/udp/stats")
    s = linux_udp(mhost, 7009)
    try:
        for i in range(3):
            mhost.ipctl("dial", "-w", "0", "udp!%s!7009" % LINUX_IP, input=b"x%d" % i)
            udp_recv(s)
    finally:
        s.close()
    after = mhost.stats("/net/udp/stats")
    assert after["OutDatagrams"] - before["OutDatagrams"] == 3


def _announce_and_send(d, port, frames, payload_ok):
    """Announces PORT, sends crafted FRAMES then a good datagram; returns what the
    announcer printed and the udp stats before and after."""
    p, n = start_announce(d, "udp!*!%d" % port, "-n", "1")
    before = d.stats("/net/udp/stats")
    w = d.wire()
    w.send(frames)
    w.sync()  # devip has handled the bad ones before the good one is sent
    s = linux_udp(d)
    try:
        s.sendto(payload_ok, (DEVIP_IP, port))
        out, err = p.communicate(timeout=30)
    finally:
        s.close()
    w.sync()
    after = d.stats("/net/udp/stats")
    return out, before, after


def test_bad_udp_checksum_dropped_and_counted_in_InErrors(mhost):
    port = 7013
    frames = []
    for i in range(5):
        pkt = eth(mhost) / ip4() / UDP(sport=40000 + i, dport=port) / Raw(b"BAD%d" % i)
        b = bytearray(bytes(pkt))
        b[14 + 20 + 6] ^= 0x5A  # corrupt the UDP checksum
        frames.append(bytes(b))
    out, before, after = _announce_and_send(mhost, port, frames, b"GOOD")
    assert out == b"GOOD"
    assert after["InErrors"] - before["InErrors"] == 5
    assert after["InDatagrams"] - before["InDatagrams"] == 6  # bad ones included (§4.16)
    assert after["NoPorts"] == before["NoPorts"]


def test_zero_udp_checksum_accepted(mhost):
    # v4 UDP checksum 0 means "not computed" and must be accepted (§4.7.3).
    port = 7014
    pkt = eth(mhost) / ip4() / UDP(sport=40100, dport=port, chksum=0) / Raw(b"ZERO-CSUM")
    p, n = start_announce(mhost, "udp!*!%d" % port, "-n", "1")
    mhost.wire().send([bytes(pkt)])
    out, err = p.communicate(timeout=30)
    assert out == b"ZERO-CSUM"


def test_udp_length_beyond_payload_dropped(mhost):
    # A payload shorter than the UDP length field is dropped (§4.7.3).
    port = 7015
    pkt = eth(mhost) / ip4() / UDP(sport=40200, dport=port, len=8 + 100) / Raw(b"SHORT")
    out, before, after = _announce_and_send(mhost, port, [bytes(pkt)], b"GOOD")
    assert out == b"GOOD"


def test_announced_datagram_out_of_order_fragments_reassembled(mhost):
    port = 7016
    payload = bytes((i * 31) & 0xFF for i in range(3000))
    pkt = ip4(id=0x4242) / UDP(sport=40300, dport=port) / Raw(payload)
    frags = [bytes(eth(mhost) / f) for f in fragment(pkt, fragsize=1000)]
    assert len(frags) == 4
    before = mhost.stats("/net/ipifc/stats")
    p, n = start_announce(mhost, "udp!*!%d" % port, "-n", "1")
    mhost.wire().send(list(reversed(frags)))
    out, err = p.communicate(timeout=30)
    assert out == payload
    after = mhost.stats("/net/ipifc/stats")
    assert after["ReasmOKs"] - before["ReasmOKs"] == 1


def test_udp_from_devip_has_valid_checksum(mhost):
    # Checked independently by scapy: recompute the UDP checksum of what devip sent.
    w = mhost.wire()
    s = linux_udp(mhost, 7017)
    try:
        mhost.ipctl("dial", "-w", "0", "udp!%s!7017" % LINUX_IP, input=b"checksum me")
        udp_recv(s)
    finally:
        s.close()
    frames = w.recv(until=lambda got: any(b"checksum me" in f for f in got), timeout=3)
    pkts = [IP(f[14:]) for f in frames if b"checksum me" in f]
    assert pkts
    pkt = pkts[0]
    assert pkt[UDP].chksum != 0
    fresh = IP(bytes(pkt))
    orig_ip, orig_udp = fresh[IP].chksum, fresh[UDP].chksum
    del fresh[IP].chksum
    del fresh[UDP].chksum
    fresh = IP(bytes(fresh))
    assert (fresh[IP].chksum, fresh[UDP].chksum) == (orig_ip, orig_udp)
    assert pkt[IP].ttl == 255 and pkt[IP].flags == 0 and pkt[IP].ihl == 5


def ether_counts(d):
    """The `name: number` lines of /net/ether0/stats."""
    out = {}
    for line in d.cat("/net/ether0/stats").splitlines():
        k, _, v = line.partition(": ")
        if v.isdigit():
            out[k] = int(v)
    return out


def test_worker_delivers_datagrams_to_conversations(mhost):
    """DESIGN "Conversations on workers": a datagram for a conversation's flow is taken by
    the worker and reaches the conversation as a completion (the receive mbuf freed at
    once), not punted whole to the control thread: /net/ether0/stats counts it as
    delivered. The caller's first datagram (a Call) makes its conversation, whose own flow
    then takes the rest."""
    p, n = start_announce(mhost, "udp!*!7010")
    out = Reader(p.stdout)
    a = linux_udp(mhost)
    try:
        before = ether_counts(mhost)
        a.sendto(b"first\n", (DEVIP_IP, 7010))
        out.wait(lambda x: b"first\n" in x)
        for i in range(10):
            a.sendto(b"n%d\n" % i, (DEVIP_IP, 7010))
        buf = out.wait(lambda x: b"n9\n" in x)
        assert buf == b"first\n" + b"".join(b"n%d\n" % i for i in range(10))
        after = ether_counts(mhost)
        assert after["delivered"] - before["delivered"] == 11
        assert after["completion drops"] == 0
        assert after["message mbufs in use"] == 0  # every completion given back
    finally:
        a.close()
        p.kill()
        p.wait()


def test_worker_sends_for_connected_conversations(mhost):
    """A connected conversation's datagrams are built and sent by a worker from the flow's
    route hint (conversation tx); while the neighbour is unresolved they go through IP
    output on the control thread (which resolves it), and so does one whose hint went stale
    on its way to the worker (conversation tx slow)."""
    s = linux_udp(mhost, 7011)
    p = mhost.ipctl_popen("dial", "udp!%s!7011" % LINUX_IP)
    try:
        before = ether_counts(mhost)
        for i in range(10):
            p.stdin.write(b"d%d\n" % i)
            p.stdin.flush()
            assert udp_recv(s)[0] == b"d%d\n" % i
        after = ether_counts(mhost)
        fast = after["conversation tx"] - before["conversation tx"]
        slow = after["conversation tx slow"] - before["conversation tx slow"]
        assert fast + slow <= 10
        assert fast >= 8  # at most the first ones wait for ARP up there
        assert after["message mbufs in use"] == 0
    finally:
        s.close()
        p.kill()
        p.wait()
