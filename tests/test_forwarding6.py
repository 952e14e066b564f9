"""IPv6 forwarding by the workers (issue: routing and forwarding): hostA (2001:2:0:1::/64) and
hostB (2001:2:0:2::/64) on two net_tap ports of devipd, as in v6_util. The fast path forwards
(the control thread sees only the first packets, while the neighbours resolve), TCP runs
across, and routes churn under load without a packet going where no route sent it.
"""
import json
import time


from conftest import wait_for
from hosts_util import churn_during_flow
from v6_util import HOST_B, router  # noqa: F401 (router is the fixture)


def stats_field(text, name):
    return int(text.split(name + ": ")[1].split()[0])


def test_workers_forward_ipv6(router):
    router.warm()
    before = stats_field(router.d.cat("/net/ether0/stats"), "punted")
    out = router.run("A", "ping -6 -c 200 -i 0.005 -W 2 %s" % HOST_B).stdout.decode()
    assert " 0% packet loss" in out, out
    assert "ttl=63" in out  # devip took one off the hop limit
    stats = router.d.cat("/net/ether0/stats")
    assert "fib6 on" in stats, stats
    assert stats_field(stats, "punted") - before < 20, stats  # 400 forwarded, few punted
    assert router.ipstats()["ForwDatagrams"] >= 400


def test_iperf3_tcp_over_ipv6(router):
    router.warm()
    router.run("B", "iperf3 -s -1 -D -B %s" % HOST_B)
    time.sleep(0.5)
    r = router.run("A", "iperf3 -6 -c %s -t 5 -J" % HOST_B, timeout=60)
    j = json.loads(r.stdout)
    assert "error" not in j, j.get("error")
    assert j["end"]["sum_received"]["bytes"] > 0
    assert router.d.alive()


def fib6_line(d):
    return [l for l in d.cat("/net/ether0/stats").splitlines() if l.startswith("fib6:")][0]


def test_route_churn_v6_under_load(router):
    """While hostA sends to 2001:2:0:3::7 (routed via hostB), 60k route changes land: the
    flow's /64 flips between present and absent, and routes back to hostA come and go for
    the flow's neighbours (/128s and /96s that do not hold ::7, deep in the FIB's groups) and
    for unrelated /64s. ether0 reflects, so a packet of the flow sent by any of them would
    reach hostA: none may. What reaches hostB is intact, the FIB gives its groups back, the
    mempool returns to idle."""
    d = router.d
    router.warm()
    router.run("B", "ip -6 addr add 2001:2:0:3::7/128 dev lo")
    d.ipctl("write", "/net/ipifc/0/ctl", "reflect 1")
    idle = d.mbufs_in_use()
    groups = fib6_line(d)
    d.ipctl("write", "/net/iproute", "add 2001:2:0:3:: /64 2001:2:0:2::2")
    sinkB = router.popen("B", ["tshark", "-i", "dtap1", "-l", "-T", "fields", "-e", "ipv6.dst",
                               "-e", "data.data", "-f", "udp port 9001"])
    sinkA = router.popen("A", ["tshark", "-i", "dtap0", "-l", "-T", "fields", "-e", "ipv6.dst",
                               "-f", "inbound and udp port 9001"])
    time.sleep(2)
    lines = []
    for i in range(10000):
        near = "2001:2:0:3::%x" % (8 + i % 4000)          # a /128 beside ::7
        wide = "2001:2:0:3:0:%x::" % (1 + i % 4000)        # a /96 of the /64 without ::7
        other = "2001:2:%x:%x::" % (1 + i // 4000, i % 4000)  # an unrelated /64
        lines += ["del 2001:2:0:3:: /64 2001:2:0:2::2",
                  "add %s /64 2001:2:0:1::2" % other,
                  "add 2001:2:0:3:: /64 2001:2:0:2::2",
                  "add %s /128 2001:2:0:1::2" % near,
                  "add %s /96 2001:2:0:1::2" % wide,
                  "del %s /128 2001:2:0:1::2" % near,
                  "del %s /96 2001:2:0:1::2" % wide,
                  "del %s /64 2001:2:0:1::2" % other]
    got_b, got_a = churn_during_flow(router, lines, "2001:2:0:3::7", 20000, sinkA, sinkB)
    assert got_a == [], "misrouted to hostA: %d packets" % len(got_a)
    assert got_b, "nothing reached hostB"
    assert all(l[0] == "2001:2:0:3::7" and l[1].startswith("736571") for l in got_b)
    assert d.alive()
    routes = d.cat("/net/iproute")
    assert "2001:2:0:3::    /64  2001:2:0:2::2" in routes, routes
    assert "2001:2:1:" not in routes
    d.ipctl("write", "/net/iproute", "del 2001:2:0:3:: /64 2001:2:0:2::2")
    assert wait_for(lambda: fib6_line(d) == groups, 10), (fib6_line(d), groups)
    assert wait_for(lambda: d.mbufs_in_use() == idle, 10), (d.mbufs_in_use(), idle)
