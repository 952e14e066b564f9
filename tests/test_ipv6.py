"""devip as an IPv6 router between two Linux hosts, and as an IPv6 host to them: ping6 both
ways, large datagrams fragmented by the sender and reassembled (by devip for itself, by the
receiver when forwarded, by devip on the way out with `reassemble`), and packet too big with
Linux's path MTU following it (ip3.md §3.3, §4.4, §4.4.1, §4.4.2)."""
import os
import re
from types import SimpleNamespace

import pytest
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment
from scapy.layers.l2 import Ether

from test_tshark import Capture

from udp_util import Reader, start_announce
from v6_util import DEVIP_A, DEVIP_B, DEVIP_LL_A, HOST_A, HOST_B, Router6, router  # noqa: F401


def test_ping6_across_both_ways(router):
    out = router.run("A", "ping -6 -c 50 -i 0.02 -W 2 %s" % HOST_B).stdout.decode()
    assert " 0% packet loss" in out, out
    assert "ttl=63" in out, out  # one hop: devip decremented the hop limit
    out = router.run("B", "ping -6 -c 50 -i 0.02 -W 2 %s" % HOST_A).stdout.decode()
    assert " 0% packet loss" in out, out
    st = router.ipstats()
    assert st["Forwarding"] == 1
    assert st["ForwDatagrams"] >= 200  # both directions, both ways


def test_ping6_devip_itself(router):
    for host, addr in [("A", DEVIP_A), ("B", DEVIP_B), ("A", DEVIP_LL_A + "%dtap0")]:
        out = router.run(host, "ping -6 -c 3 -i 0.2 -W 2 %s" % addr).stdout.decode()
        assert " 0% packet loss" in out, out
        assert "ttl=255" in out, out  # §4.4: our hop limit
    # and devip pings them
    for addr in [HOST_A, HOST_B]:
        r = router.d.ipctl("ping", "-c", "3", "-i", "0.2", addr)
        assert r.returncode == 0, r.stdout + r.stderr


SEND = """
    import socket, sys
    dst, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.sendto(bytes(i % 251 for i in range(n)), (dst, port))
"""

RECV = """
    import socket, sys
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind((sys.argv[1], 9000))
    s.settimeout(10)
    print("ready", flush=True)
    d, a = s.recvfrom(65536)
    print(len(d), d == bytes(i % 251 for i in range(len(d))), flush=True)
"""


def receive_on_b(router):
    import textwrap
    p = router.popen("B", ["/usr/bin/python3", "-c", textwrap.dedent(RECV), HOST_B])
    out = Reader(p.stdout)
    out.wait(lambda b: b.startswith(b"ready"), 10)
    return p, out


def test_large_datagram_reassembled_by_devip(router):
    """hostA fragments a 4000-byte datagram for devip (the link MTU is 1500): devip puts it
    back together and hands the whole datagram to the announced conversation."""
    p, n = start_announce(router.d, "udp!*!7010", "-n", "1")
    out = Reader(p.stdout)
    before = router.ipstats()
    router.python("A", SEND, DEVIP_A, 7010, 4000)
    buf = out.wait(lambda b: len(b) >= 4000, 10)
    p.wait(10)
    assert buf == bytes(i % 251 for i in range(4000))
    after = router.ipstats()
    assert after["ReasmReqds"] - before["ReasmReqds"] == 1
    assert after["ReasmOKs"] - before["ReasmOKs"] == 1
    assert after["ReasmFails"] == before["ReasmFails"]


def test_forwarded_fragments_reassembled_by_receiver(router):
    router.warm()
    p, out = receive_on_b(router)
    before = router.ipstats()
    router.python("A", SEND, HOST_B, 9000, 3000)
    p.wait(15)
    assert out.buf.split()[1:] == [b"3000", b"True"], out.buf
    after = router.ipstats()
    assert after["ForwDatagrams"] - before["ForwDatagrams"] >= 3  # every fragment
    assert after["ReasmReqds"] == before["ReasmReqds"]  # passed through untouched


def test_reassemble_interface_refragments_to_its_mtu(router):
    """§3.3 reassemble: devip reassembles what goes out of ipifc 1 and may fragment it again
    to fit (1280 there), which routers otherwise never do for IPv6."""
    router.warm()
    router.d.ipctl("write", "/net/ipifc/1/ctl", "reassemble")
    router.d.ipctl("write", "/net/ipifc/1/ctl", "mtu 1294")
    cap = Capture(SimpleNamespace(ns=router.ns("B")), "dtap1")
    p, out = receive_on_b(router)
    before = router.ipstats()
    router.python("A", SEND, HOST_B, 9000, 3000)
    p.wait(15)
    assert out.buf.split()[1:] == [b"3000", b"True"], out.buf
    cap.stop(os.path.join(router.d.dir, "b.pcap"))
    frags = [Ether(f) for _, f in cap.frames]
    frags = [f for f in frags if IPv6 in f and IPv6ExtHdrFragment in f and f[IPv6].dst == HOST_B]
    assert len(frags) >= 3, frags
    assert all(len(f[IPv6]) <= 1280 for f in frags), [len(f[IPv6]) for f in frags]
    assert len({f[IPv6ExtHdrFragment].id for f in frags}) == 1  # one datagram, our id
    after = router.ipstats()
    assert after["ReasmOKs"] - before["ReasmOKs"] == 1
    assert after["FragOKs"] - before["FragOKs"] == 1
    assert after["FragCreates"] - before["FragCreates"] >= 3


PMTU = """
    import socket, sys, time
    IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO, IPV6_MTU, IPV6_DONTFRAG = 23, 2, 24, 62
    dst = sys.argv[1]
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO)
    s.connect((dst, 9000))
    print("mtu-before", s.getsockopt(socket.IPPROTO_IPV6, IPV6_MTU))
    s.send(bytes(1400))
    for _ in range(50):
        time.sleep(0.1)
        mtu = s.getsockopt(socket.IPPROTO_IPV6, IPV6_MTU)
        if mtu != 1500:
            break
    print("mtu-after", mtu)
    try:
        s.send(bytes(1400))
        print("send ok")
    except OSError as e:
        print("send errno", e.errno)
"""


def test_packet_too_big_and_path_mtu_adapts(router):
    router.warm()
    router.d.ipctl("write", "/net/ipifc/1/ctl", "mtu 1294")  # 1280 toward hostB
    before = router.icmp6stats()
    out = router.python("A", PMTU, HOST_B)
    assert "mtu-before 1500" in out, out
    assert "mtu-after 1280" in out, out  # learned from devip's packet too big
    assert "send errno 90" in out, out  # EMSGSIZE: Linux will not send 1448 bytes any more
    route = router.run("A", "ip -6 route get %s" % HOST_B).stdout.decode()
    assert re.search(r"\bmtu 1280\b", route), route
    after = router.icmp6stats()
    assert after["PacketTooBigV6"][1] > before["PacketTooBigV6"][1]
    # without DONTFRAG-style discovery Linux fragments to 1280 and the datagram gets through
    p, rx = receive_on_b(router)
    router.python("A", SEND, HOST_B, 9000, 1400)
    p.wait(15)
    assert rx.buf.split()[1:] == [b"1400", b"True"], rx.buf


@pytest.fixture(params=[1, 2], ids=["1worker", "2workers"])
def router_w(request):
    """A started Router6 on one or two workers (flows on every worker, a conversation's
    sends on one)."""
    r = Router6(opts=["--workers", str(request.param)]).start()
    assert "workers: %d\n" % request.param in r.d.cat("/net/ether0/stats")
    yield r
    try:
        r.d.stop()
    finally:
        r.close()


def ether_counts(d):
    """The `name: number` lines of /net/ether0/stats (workers' counters, summed)."""
    out = {}
    for line in d.cat("/net/ether0/stats").splitlines():
        k, _, v = line.partition(": ")
        if v.isdigit():
            out[k] = int(v)
    return out


SEND_FROM = """
    import socket, sys
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind((sys.argv[1], int(sys.argv[2])))
    for m in sys.argv[5:]:
        s.sendto(m.encode() + b"\\n", (sys.argv[3], int(sys.argv[4])))
"""


def test_worker_delivers_udp6_datagrams_to_conversations(router_w):
    """As test_udp's IPv4 case: an IPv6 datagram for a conversation's flow is taken by the
    worker and comes up as a completion (delivered), the caller's first one as a Call that
    makes its conversation, whose own flow takes the rest."""
    p, n = start_announce(router_w.d, "udp!*!7020")
    out = Reader(p.stdout)
    try:
        before = ether_counts(router_w.d)
        router_w.python("A", SEND_FROM, HOST_A, 7021, DEVIP_A, 7020, "first")
        out.wait(lambda x: b"first\n" in x)
        router_w.python("A", SEND_FROM, HOST_A, 7021, DEVIP_A, 7020,
                      *["n%d" % i for i in range(10)])
        buf = out.wait(lambda x: b"n9\n" in x)
        assert buf == b"first\n" + b"".join(b"n%d\n" % i for i in range(10))
        after = ether_counts(router_w.d)
        assert after["delivered"] - before["delivered"] == 11
        assert after["completion drops"] == 0
        assert after["message mbufs in use"] == 0
    finally:
        p.kill()
        p.wait()


RECV_N = """
    import socket, sys
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind((sys.argv[1], int(sys.argv[2])))
    s.settimeout(10)
    print("ready", flush=True)
    for i in range(int(sys.argv[3])):
        d, a = s.recvfrom(2000)
        print(d.decode().strip(), a[0], a[1], flush=True)
"""


def test_worker_sends_for_connected_udp6_conversations(router_w):
    """A connected IPv6 conversation's datagrams are built (UDP checksum over the IPv6
    pseudo-header: Linux drops a bad one) and sent by a worker from the flow's route hint
    (conversation tx); while the neighbour is unresolved they go through IP output."""
    import textwrap
    r = router_w.popen("A", ["/usr/bin/python3", "-c", textwrap.dedent(RECV_N), HOST_A, "7022",
                           "10"])
    got = Reader(r.stdout)
    got.wait(lambda b: b.startswith(b"ready"), 10)
    p = router_w.d.ipctl_popen("dial", "udp!%s!7022" % HOST_A)
    try:
        before = ether_counts(router_w.d)
        for i in range(10):
            p.stdin.write(b"d%d\n" % i)
            p.stdin.flush()
            got.wait(lambda b: b"d%d %s " % (i, DEVIP_A.encode()) in b, 10)
        after = ether_counts(router_w.d)
        fast = after["conversation tx"] - before["conversation tx"]
        slow = after["conversation tx slow"] - before["conversation tx slow"]
        assert fast + slow <= 10
        assert fast >= 8  # at most the first ones wait for neighbour discovery up there
        assert after["message mbufs in use"] == 0
        assert r.wait(10) == 0
    finally:
        p.kill()
        p.wait()


def test_worker_carries_icmp6_echo_conversations(router_w):
    """ipctl ping of an IPv6 address: the icmpv6 conversation's flow is on the workers, which
    send the echo requests from its route hint and hand the replies up."""
    router_w.warm()
    e0 = ether_counts(router_w.d)
    s0 = router_w.icmp6stats()
    r = router_w.d.ipctl("ping", "-c", "3", "-i", "0.2", HOST_A)
    out = r.stdout.decode()
    assert r.returncode == 0, out + r.stderr.decode()
    assert "0 out of 3 messages lost" in out, out
    e1 = ether_counts(router_w.d)
    s1 = router_w.icmp6stats()
    assert e1["delivered"] - e0["delivered"] >= 3
    assert e1["conversation tx"] - e0["conversation tx"] >= 2
    assert e1["message mbufs in use"] == 0
    assert s1["EchoReplyV6"][0] - s0["EchoReplyV6"][0] == 3  # counted when they came up
    assert s1["EchoRequestV6"][1] - s0["EchoRequestV6"][1] == 3
