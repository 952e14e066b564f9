"""devip as a router between two Linux hosts (issue: routing and forwarding).

hostA (198.18.1.2/24) -- dtap0 -- devip ether0 198.18.1.1 | ether1 198.18.2.1 -- dtap1 --
hostB (198.18.2.2/24). Each tap's Linux side is moved into its own namespace so Linux
cannot route between them itself.
"""
import os
import subprocess
import textwrap
import time

import pytest

from conftest import Devip, linux_mac, parse_stats, wait_for
from hosts_util import Hosts, churn_during_flow

ROUTER_CONF = """\
/net/ipifc/clone bind ether /net/ether0
/net/ipifc/0/ctl add 198.18.1.1 255.255.255.0
/net/ipifc/clone bind ether /net/ether1
/net/ipifc/1/ctl add 198.18.2.1 255.255.255.0
/net/ipifc/0/ctl iprouting 1
"""


class Router(Hosts):
    def __init__(self, workers=1):
        opts = ["--workers", str(workers)] if workers > 1 else []
        self.d = Devip(ports=2, config=ROUTER_CONF, linux_addrs={}, opts=opts)
        self.names = []

    def start(self):
        self.d.start()
        for i, (name, addr, gw) in enumerate([("A", "198.18.1.2/24", "198.18.1.1"),
                                              ("B", "198.18.2.2/24", "198.18.2.1")]):
            ns = self.d.ns + name
            subprocess.run(["ip", "netns", "add", ns], check=True)
            self.names.append(ns)
            self.d.ns_run("ip link set dtap%d netns %s" % (i, ns))
            self.run(name, "ip link set lo up; ip link set dtap%d address %s; "
                           "ip addr add %s dev dtap%d; ip link set dtap%d up; "
                           "ip route add default via %s" % (i, linux_mac(i), addr, i, i, gw))
        return self

    def warm(self):
        """Resolves both neighbours: 9front holds only the latest packet per unresolved
        neighbour, so the first burst toward a new host loses all but one packet."""
        self.run("A", "ping -c 2 -i 0.2 -W 2 198.18.2.2")


@pytest.fixture
def router():
    r = Router().start()
    yield r
    r.close()


def ipstats(r):
    return parse_stats(r.d.cat("/net/ipifc/stats"))


def test_ping_across_loses_nothing(router):
    out = router.run("A", "ping -c 200 -i 0.01 -W 2 198.18.2.2").stdout.decode()
    assert " 0% packet loss" in out, out
    assert "ttl=63" in out  # one hop: devip decremented the TTL
    st = ipstats(router)
    assert st["Forwarding"] == 1
    assert st["ForwDatagrams"] >= 400  # both directions


def test_fast_path_forwards(router):
    router.run("A", "ping -c 50 -i 0.01 198.18.2.2")
    stats = router.d.cat("/net/ether0/stats")
    w = [l for l in stats.splitlines() if l.startswith("worker0:")][0]
    assert int(w.split(" tx ")[1].split()[0]) >= 50, w  # the requests went out by the worker
    # after the first packets resolve the neighbours, the worker forwards without punting:
    punted = int(stats.split("punted: ")[1].split()[0])
    assert punted < 50, stats


def test_traceroute_shows_devip_hop(router):
    router.warm()
    out = router.run("A", "traceroute -n -q 1 -w 2 198.18.2.2", timeout=90).stdout.decode()
    hops = [l.split() for l in out.splitlines()[1:]]
    assert hops[0][1] == "198.18.1.1", out  # time exceeded from devip's address toward A
    assert hops[1][1] == "198.18.2.2", out


def test_iperf3_tcp_across(router):
    router.run("B", "iperf3 -s -1 -D -B 198.18.2.2")
    time.sleep(0.5)
    r = router.run("A", "iperf3 -c 198.18.2.2 -t 10 -J", timeout=60)
    import json
    j = json.loads(r.stdout)
    assert "error" not in j, j.get("error")
    assert j["end"]["sum_received"]["bytes"] > 0
    assert router.d.alive()


RECV = textwrap.dedent("""
    import socket, sys
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.18.2.2", 9000))
    s.settimeout(5)
    d, a = s.recvfrom(65536)
    print(len(d), d == bytes(i % 251 for i in range(len(d))))
""")

SEND = textwrap.dedent("""
    import socket, sys
    df = sys.argv[1] == "df"
    n = int(sys.argv[2])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    IP_MTU_DISCOVER, IP_PMTUDISC_DONT, IP_PMTUDISC_DO, IP_MTU = 10, 0, 2, 14
    s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO if df else IP_PMTUDISC_DONT)
    s.connect(("198.18.2.2", 9000))
    try:
        s.send(bytes(i % 251 for i in range(n)))
    except OSError as e:
        print("send", e.errno)
    import time; time.sleep(1)
    try:
        s.send(bytes(n))
    except OSError as e:
        print("send", e.errno)
    print("mtu", s.getsockopt(socket.IPPROTO_IP, IP_MTU))
""")


def send_3000_through(router, fields):
    """hostA sends one 3000-byte UDP datagram without DF to hostB, which must receive it
    whole; returns the tshark fields of what crossed dtap1 toward hostB, per frame."""
    cap = router.popen("B", ["tshark", "-i", "dtap1", "-l", "-T", "fields"] +
                       [a for f in fields for a in ("-e", f)] +
                       ["-f", "udp or ip[6:2] & 0x1fff != 0"])
    time.sleep(2)
    rx = router.popen("B", ["/usr/bin/python3", "-c", RECV])
    time.sleep(0.5)
    router.run("A", "/usr/bin/python3 -c '%s' nodf 3000" % SEND.replace("'", "'\"'\"'"))
    out, err = rx.communicate(timeout=10)
    assert out.decode().split() == ["3000", "True"], (out, err)
    time.sleep(1)
    cap.terminate()
    return [l.split("\t") for l in cap.communicate(timeout=10)[0].decode().splitlines() if l]


def test_large_datagram_fragmented_and_reassembled(router):
    router.warm()
    router.d.ipctl("write", "/net/ipifc/1/ctl", "mtu 1014")  # 1000-byte packets toward B
    lines = send_3000_through(router, ["ip.len", "ip.flags.mf", "ip.frag_offset"])
    assert lines, "tshark saw nothing"
    assert all(int(l[0]) <= 1000 for l in lines), lines  # devip cut them to the egress MTU
    assert len(lines) >= 4
    assert ipstats(router)["FragCreates"] >= 4


def test_reassemble_on_the_way_out(router):
    """`reassemble` on ether1 (§3.3): hostA's three fragments of a 3000-byte datagram are
    put together by devip and cut again for ether1's 1000 bytes: four even pieces (976 bytes
    of data each but the last), not the five that cutting each fragment would make."""
    router.warm()
    router.d.ipctl("write", "/net/ipifc/1/ctl", "mtu 1014")
    router.d.ipctl("write", "/net/ipifc/1/ctl", "reassemble")
    before = ipstats(router)["ReasmOKs"]
    lines = send_3000_through(router, ["ip.len", "ip.frag_offset"])
    first = [l for l in lines][:4]
    assert [int(l[1]) for l in first] == [0, 122, 244, 366], lines  # in 8-byte units
    assert [int(l[0]) for l in first] == [996, 996, 996, 100], lines
    assert ipstats(router)["ReasmOKs"] >= before + 1


def test_dont_fragment_gets_frag_needed_and_pmtu_adapts(router):
    router.warm()
    router.d.ipctl("write", "/net/ipifc/1/ctl", "mtu 1014")
    r = router.run("A", "/usr/bin/python3 -c '%s' df 1400" % SEND.replace("'", "'\"'\"'"))
    out = r.stdout.decode()
    assert "mtu 1000" in out, out  # Linux learned the next-hop MTU from devip's ICMP
    icmp = parse_stats(router.d.cat("/net/icmp/stats"))
    assert icmp["Unreachable"][1] >= 1
    assert ipstats(router)["FragFails"] >= 1


def thread_nices(pid):
    """{thread name: nice} of a process (the first thread of each name)."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
            st = f.read()
        name = st[st.index("(") + 1:st.rindex(")")]
        out.setdefault(name, int(st[st.rindex(")") + 2:].split()[16]))
    return out


def test_two_workers_forward(tmp_path):
    r = Router(workers=2).start()
    try:
        r.warm()
        out = r.run("A", "ping -c 100 -i 0.01 198.18.2.2").stdout.decode()
        assert " 0% packet loss" in out, out
        r.run("B", "iperf3 -s -1 -D -B 198.18.2.2")
        time.sleep(0.5)
        r.run("A", "iperf3 -c 198.18.2.2 -t 3 -P 4", timeout=60)
        stats = r.d.cat("/net/ether0/stats")
        assert "workers: 2" in stats
        assert "worker1:" in stats
        # lcore l runs on CPU l mod ncpu: on two CPUs the second worker (lcore 2) shares
        # CPU 0 with the control thread, and so runs five nice levels below it; the first
        # (lcore 1, CPU 1) does not. Idle, both sleep (dataplane/idle.h)
        shared = 2 % os.sysconf("SC_NPROCESSORS_ONLN") == 0
        nice = thread_nices(r.d.proc.pid)
        assert nice["rte-worker-1"] == nice["devipd"], nice
        assert nice["rte-worker-2"] == nice["devipd"] + (5 if shared else 0), nice

        def naps(w):
            line = [l for l in r.d.cat("/net/ether0/stats").splitlines()
                    if l.startswith("worker%d:" % w)][0]
            return int(line.split(" naps ")[1])
        assert wait_for(lambda: naps(0) > 0 and naps(1) > 0, 5)
        r.d.stop()
    finally:
        r.close()


def test_route_churn_under_load(router):
    """While hostA sends to 198.18.3.7 (routed via hostB), 60k route changes land: the
    flow's route flips between present and absent, while routes back to hostA come and go
    for its neighbours in the same /24 (/32s and /28s that do not hold .7, which live in the
    FIB's second level and make it take and free groups) and for unrelated /24s. ether0
    reflects, so a packet of the flow sent by any of those routes would reach hostA: nothing
    may. What reaches hostB must be intact, devipd stays up, the FIB gives back its groups
    and the mempool returns to idle."""
    d = router.d
    router.warm()
    router.run("B", "ip addr add 198.18.3.7/32 dev lo")
    d.ipctl("write", "/net/ipifc/0/ctl", "reflect 1")
    idle = d.mbufs_in_use()
    groups = fib_line(d, "fib")
    d.ipctl("write", "/net/iproute", "add 198.18.3.0 /24 198.18.2.2")
    sinkB = router.popen("B", ["tshark", "-i", "dtap1", "-l", "-T", "fields", "-e", "ip.dst",
                               "-e", "data.data", "-f", "udp port 9001"])
    sinkA = router.popen("A", ["tshark", "-i", "dtap0", "-l", "-T", "fields", "-e", "ip.dst",
                               "-f", "inbound and udp port 9001"])
    time.sleep(2)
    lines = []
    for i in range(10000):
        near = 8 + i % 240                    # a neighbour of .7 in its /24
        block = 16 * (1 + i % 15)             # a /28 of that /24 without .7
        lines.append("del 198.18.3.0 /24 198.18.2.2")
        lines.append("add 10.%d.%d.0 /24 198.18.1.2" % (i // 250, i % 250))
        lines.append("add 198.18.3.0 /24 198.18.2.2")
        lines.append("add 198.18.3.%d /32 198.18.1.2" % near)
        lines.append("add 198.18.3.%d /28 198.18.1.2" % block)
        lines.append("del 198.18.3.%d /32 198.18.1.2" % near)
        lines.append("del 198.18.3.%d /28 198.18.1.2" % block)
        lines.append("del 10.%d.%d.0 /24 198.18.1.2" % (i // 250, i % 250))
    got_b, got_a = churn_during_flow(router, lines, "198.18.3.7", 20000, sinkA, sinkB)
    assert got_a == [], "misrouted to hostA: %d packets" % len(got_a)
    assert got_b, "nothing reached hostB"
    assert all(l[0] == "198.18.3.7" and l[1].startswith("736571") for l in got_b)
    assert d.alive()
    routes = d.cat("/net/iproute")
    assert "198.18.3.0      /120 198.18.2.2" in routes
    assert "10.0.0.0 " not in routes
    assert "198.18.3.16 " not in routes
    d.ipctl("write", "/net/iproute", "del 198.18.3.0 /24 198.18.2.2")
    assert wait_for(lambda: fib_line(d, "fib") == groups, 10), (fib_line(d, "fib"), groups)
    assert wait_for(lambda: d.mbufs_in_use() == idle, 10), (d.mbufs_in_use(), idle)
    d.stop()


def fib_line(d, name):
    """The "fib: N prefixes, groups G/M" line of /net/ether0/stats."""
    return [l for l in d.cat("/net/ether0/stats").splitlines() if l.startswith(name + ":")][0]


def test_proxy_arp_route(router):
    """A route with the y flag makes devip answer ARP on other interfaces for its target
    (§4.2.3): hostA, which takes 198.18.1.200 for a neighbour on its own network, reaches it
    on hostB through devip; without the flag nobody answers."""
    router.warm()
    router.run("B", "ip addr add 198.18.1.200/32 dev lo")
    out = router.run("A", "ping -c 2 -i 0.2 -W 1 198.18.1.200", check=False).stdout.decode()
    assert " 100% packet loss" in out, out
    router.run("A", "ip neigh flush dev dtap0")
    router.d.ipctl("write", "/net/iproute", "add 198.18.1.200 /32 198.18.2.2 4y 1 0.0.0.0 /0")
    assert " 4y " in router.d.cat("/net/iproute")
    out = router.run("A", "ping -c 3 -i 0.2 -W 2 198.18.1.200").stdout.decode()
    assert " 0% packet loss" in out, out
    mac = router.d.mac.strip()
    neigh = router.run("A", "ip neigh show 198.18.1.200").stdout.decode().replace(":", "")
    assert mac in neigh, (mac, neigh)


# On hostB: prints "ready" once its packet socket is bound, then the MSS option of the first
# TCP SYN to port 9 that arrives on dtap1.
SYN_MSS = textwrap.dedent("""
    import socket, struct, sys
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    s.bind(("dtap1", 0))
    s.settimeout(20)
    print("ready", flush=True)
    while True:
        f = s.recv(2048)
        ip = f[14:]
        hl = (ip[0] & 15) * 4
        tcp = ip[hl:]
        if ip[9] != 6 or struct.unpack("!H", tcp[2:4])[0] != 9 or not tcp[13] & 2:
            continue
        doff, i = (tcp[12] >> 4) * 4, 20
        while i < doff and tcp[i] != 0:
            if tcp[i] == 1:
                i += 1
                continue
            if tcp[i] == 2:
                print("mss", struct.unpack("!H", tcp[i + 2:i + 4])[0], flush=True)
                sys.exit(0)
            i += tcp[i + 1]
        print("no mss", flush=True)
        sys.exit(0)
""")


def test_forwarded_syn_mss_clamped_4_4(router):
    """§4.4: a forwarded SYN's MSS option is lowered to the smaller interface MTU less 40:
    ether1's IP MTU of 1400 turns hostA's 1460 into 1360 (the TCP checksum stays valid, or
    hostB would not answer it with a reset)."""
    router.warm()
    router.d.ipctl("write", "/net/ipifc/1/ctl", "mtu 1414")
    cap = router.popen("B", ["/usr/bin/python3", "-c", SYN_MSS], text=True)
    assert cap.stdout.readline().strip() == "ready"
    r = router.run("A", "/usr/bin/python3 -c 'import socket\n"
                        "try: socket.create_connection((\"198.18.2.2\", 9), 5)\n"
                        "except ConnectionRefusedError: print(\"refused\")'")
    assert cap.wait(20) == 0
    assert cap.stdout.readline().strip() == "mss 1360"
    assert "refused" in r.stdout.decode()  # hostB took the clamped SYN: its checksum is right
