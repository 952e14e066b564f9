"""Router advertisements, both ways (ip3.md §3.3 ra6, §4.8.2; RFC 4861 §6, RFC 4862):
devipd advertising to a Linux host that configures itself from them, devipd with recvra
learning from radvd, and tshark decoding what devipd sends."""
import ipaddress
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import linux_mac, mac_colons, parse_stats, wait_for
from test_tshark import Capture
from v6_util import DEVIP_LL_B, HOST_A, Router6, eui64, v6_addrs

# ---- devipd advertises, Linux listens --------------------------------------------------------


@pytest.fixture
def router():
    r = Router6(hosts={"A": HOST_A + "/64", "B": None}).start()
    # hostB is a plain host: it takes RAs and autoconfigures
    r.run("B", "sysctl -qw net.ipv6.conf.dtap1.forwarding=0 net.ipv6.conf.dtap1.accept_ra=1 "
               "net.ipv6.conf.dtap1.autoconf=1")
    yield r
    try:
        r.d.stop()
    finally:
        r.close()


def default_route(r, host):
    return r.run(host, "ip -6 route show default").stdout.decode()


def test_linux_host_configures_itself_from_devip(router):
    d = router.d
    d.ipctl("write", "/net/ipifc/1/ctl", "ra6 sendra 1 ttl 64 linkmtu 1400 reachtime 30000 "
            "rxmitra 1000 routerlt 1800 maxraint 10000 minraint 4000")
    slaac = eui64(linux_mac(1).replace(":", ""), "2001:2:0:2::")
    assert wait_for(lambda: any(a == slaac and "tentative" not in fl
                                for a, fl in v6_addrs(router, "B", "dtap1")), 20), \
        router.run("B", "ip -6 addr").stdout.decode()
    assert wait_for(lambda: "via %s dev dtap1 proto ra" % DEVIP_LL_B in default_route(router, "B"),
                    10), default_route(router, "B")
    conf = "/proc/sys/net/ipv6/conf/dtap1/"
    assert router.run("B", "cat %smtu" % conf).stdout.decode().strip() == "1400"
    assert router.run("B", "cat %shop_limit" % conf).stdout.decode().strip() == "64"
    # the new address works through devip's forwarding
    out = router.run("B", "ping -6 -c 3 -i 0.2 -W 2 -I %s %s" % (slaac, HOST_A)).stdout.decode()
    assert " 0% packet loss" in out, out
    st = parse_stats(d.cat("/net/icmpv6/stats"))
    assert st["RouterAdvert"][1] >= 1
    # ff02::2 joined on the advertising interface
    assert re.search(r"^ff02::2 .* 6m", d.cat("/net/ipselftab"), re.M), d.cat("/net/ipselftab")

    # a host that solicits is answered (Linux solicits when its link comes up)
    before = parse_stats(d.cat("/net/icmpv6/stats"))
    router.run("B", "ip link set dtap1 down; ip link set dtap1 up")
    assert wait_for(lambda: parse_stats(d.cat("/net/icmpv6/stats"))["RouterSolicit"][0] >
                    before["RouterSolicit"][0], 15)
    assert wait_for(lambda: parse_stats(d.cat("/net/icmpv6/stats"))["RouterAdvert"][1] >
                    before["RouterAdvert"][1], 10)
    assert wait_for(lambda: "proto ra" in default_route(router, "B"), 10)

    # sendra off: the final RA (router lifetime 0) takes the default route away
    d.ipctl("write", "/net/ipifc/1/ctl", "ra6 sendra 0")
    assert wait_for(lambda: "proto ra" not in default_route(router, "B"), 10), \
        default_route(router, "B")
    assert not re.search(r"^ff02::2 ", d.cat("/net/ipselftab"), re.M)


def test_no_advertisements_without_forwarding(router):
    d = router.d
    d.ipctl("write", "/net/ipifc/0/ctl", "iprouting 0")
    d.ipctl("write", "/net/ipifc/1/ctl", "ra6 sendra 1")
    time.sleep(3)
    assert parse_stats(d.cat("/net/icmpv6/stats"))["RouterAdvert"][1] == 0
    assert "proto ra" not in default_route(router, "B")
    # forwarding on: advertising starts at once
    d.ipctl("write", "/net/ipifc/0/ctl", "iprouting 1")
    assert wait_for(lambda: "proto ra" in default_route(router, "B"), 10)
    # and stops, with a final RA, when forwarding goes off
    d.ipctl("write", "/net/ipifc/0/ctl", "iprouting 0")
    assert wait_for(lambda: "proto ra" not in default_route(router, "B"), 10)


def test_unbind_sends_final_advertisement(router):
    d = router.d
    d.ipctl("write", "/net/ipifc/1/ctl", "ra6 sendra 1")
    assert wait_for(lambda: "proto ra" in default_route(router, "B"), 10)
    d.ipctl("write", "/net/ipifc/1/ctl", "unbind")
    assert wait_for(lambda: "proto ra" not in default_route(router, "B"), 10)


# ---- radvd advertises, devipd listens -------------------------------------------------------

RADVD_CONF = """\
interface dtap0 {
    AdvSendAdvert on;
    MinRtrAdvInterval 3;
    MaxRtrAdvInterval 10;
    AdvDefaultLifetime 600;
    AdvLinkMTU 1400;
    AdvCurHopLimit 64;
    AdvReachableTime 20000;
    AdvRetransTimer 500;
    AdvOtherConfigFlag on;
    prefix 2001:2:0:1::/64 {
        AdvOnLink on;
        AdvAutonomous on;
        AdvValidLifetime 86400;
        AdvPreferredLifetime 14400;
    };
};
"""

HOST6_CONF = """\
/net/ipifc/clone bind ether /net/ether0
/net/ipifc/0/ctl add 198.18.0.1 255.255.255.0
/net/ipifc/0/ctl add fe80::1 /64
/net/ipifc/0/ctl ra6 recvra 1
"""


def linux_ll(d, dev="dtap0"):
    out = d.ns_run("ip -6 -o addr show dev %s scope link" % dev).stdout.decode()
    m = re.search(r"inet6 (fe80::[0-9a-f:]+)/64", out)
    return m and m.group(1)


def test_recvra_learns_route_and_address_from_radvd(devip_factory):
    d = devip_factory(config=HOST6_CONF, linux_ipv6=True)
    d.ns_run("sysctl -qw net.ipv6.conf.all.forwarding=1")  # radvd wants a router under it
    d.ns_run("ip addr add 2001:2:0:1::2/64 dev dtap0 nodad; ip addr add 2001:2:0:9::1/128 dev lo")
    assert wait_for(lambda: linux_ll(d), 10)
    ll = linux_ll(d)
    conf = os.path.join(d.dir, "radvd.conf")
    with open(conf, "w") as f:
        f.write(RADVD_CONF)
    radvd = d.ns_popen(["radvd", "-n", "-C", conf, "-p", os.path.join(d.dir, "radvd.pid"),
                        "-m", "stderr"])
    slaac = eui64(d.mac, "2001:2:0:1::")

    def lifc(status):  # the status line of the autoconfigured address, split
        for l in status.splitlines()[1:]:
            f = l.split()
            if f and ipaddress.ip_address(f[0]) == ipaddress.ip_address(slaac):
                return f
        return None

    def learned():
        return lifc(d.cat("/net/ipifc/0/status")) and \
            re.search(r"^::\s+/0\s+%s\s+6\s+ra6\s+0 " % re.escape(ll), d.cat("/net/iproute"), re.M)
    assert wait_for(learned, 30), "%s\n%s\nlinux %s\nradvd %s" % (
        d.cat("/net/ipifc/0/status"), d.cat("/net/iproute"), ll, radvd.poll())
    status = d.cat("/net/ipifc/0/status")
    line = lifc(status)
    assert line[1] == "/64" and line[3] == "86400" and line[4] == "14400", line
    # the parameters are the router's now, as ipconfig would have written them
    assert "recvra 1 mflag 0 oflag 1 " in status, status
    assert "linkmtu 1400 reachtime 20000 rxmitra 500 ttl 64 routerlt 600 " in status, status
    # devip reaches the net from the new address, and beyond it through the learned route
    for dst in ["2001:2:0:1::2", "2001:2:0:9::1"]:
        r = d.ipctl("ping", "-c", "2", "-i", "0.2", dst, check=False)
        assert r.returncode == 0, (dst, r.stdout, r.stderr, d.cat("/net/iproute"))
    out = d.ns_run("ping -6 -c 2 -i 0.2 -W 2 %s" % slaac).stdout.decode()
    assert " 0% packet loss" in out, out
    # radvd going away says router lifetime 0: the default route goes
    radvd.send_signal(signal.SIGTERM)
    radvd.wait(10)
    assert wait_for(lambda: " ra6 " not in d.cat("/net/iproute"), 10), d.cat("/net/iproute")
    assert lifc(d.cat("/net/ipifc/0/status"))  # the address keeps its lifetimes


# ---- tshark reads what devipd advertises ------------------------------------------------------

RA_FIELDS = ["eth.src", "eth.dst", "ipv6.src", "ipv6.dst", "ipv6.hlim", "icmpv6.type",
             "icmpv6.code", "icmpv6.checksum.status", "icmpv6.nd.ra.cur_hop_limit",
             "icmpv6.nd.ra.flag.m", "icmpv6.nd.ra.flag.o", "icmpv6.nd.ra.router_lifetime",
             "icmpv6.nd.ra.reachable_time", "icmpv6.nd.ra.retrans_timer", "icmpv6.opt.type",
             "icmpv6.opt.linkaddr", "icmpv6.opt.mtu", "icmpv6.opt.prefix",
             "icmpv6.opt.prefix.length", "icmpv6.opt.prefix.flag.l",
             "icmpv6.opt.prefix.flag.a", "icmpv6.opt.prefix.valid_lifetime",
             "icmpv6.opt.prefix.preferred_lifetime", "_ws.malformed", "_ws.expert.severity"]

ROUTER1_CONF = """\
/net/ipifc/clone bind ether /net/ether0
/net/ipifc/0/ctl add 198.18.0.1 255.255.255.0
/net/ipifc/0/ctl add fe80::1 /64
/net/ipifc/0/ctl add 2001:2:0:1::1 /64
/net/ipifc/0/ctl add6 2001:2:0:7:: 64 0 1 86400 3600
/net/ipifc/0/ctl iprouting 1
/net/ipifc/0/ctl ra6 mflag 1 ttl 64 routerlt 1800 reachtime 30000 rxmitra 1000 linkmtu 1400
/net/ipifc/0/ctl ra6 maxraint 4000 minraint 3000 sendra 1
"""


def tshark_fields(path, fields, filt):
    args = ["tshark", "-r", path, "-Y", filt, "-T", "fields", "-E", "separator=\t",
            "-E", "aggregator=;"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, check=True).stdout.decode()
    return [dict(zip(fields, l.split("\t"))) for l in out.splitlines()]


def test_tshark_decodes_router_advertisements(devip_factory):
    d = devip_factory(config=ROUTER1_CONF)  # Linux's side has IPv6 off: it only listens
    cap = Capture(d, "dtap0")
    sent = lambda: parse_stats(d.cat("/net/icmpv6/stats"))["RouterAdvert"][1]  # noqa: E731
    n0 = sent()
    assert wait_for(lambda: sent() >= n0 + 2, 60)  # 3-4 s apart (maxraint 4000)
    d.ipctl("write", "/net/ipifc/0/ctl", "ra6 sendra 0")
    time.sleep(0.5)
    path = os.path.join(d.dir, "ra.pcap")
    cap.stop(path)
    ras = tshark_fields(path, RA_FIELDS, "icmpv6.type == 134")
    assert len(ras) >= 3, ras  # two or more periodic ones and the final one
    mac = mac_colons(d.mac)
    for ra in ras:
        assert ra["eth.src"] == mac and ra["eth.dst"] == "33:33:00:00:00:01", ra
        assert (ra["ipv6.src"], ra["ipv6.dst"], ra["ipv6.hlim"]) == ("fe80::1", "ff02::1", "255")
        assert (ra["icmpv6.code"], ra["icmpv6.checksum.status"]) == ("0", "1"), ra
        assert ra["_ws.malformed"] == "", ra
        assert all(int(x, 0) < 0x600000 for x in ra["_ws.expert.severity"].split(";") if x), ra
        assert ra["icmpv6.nd.ra.cur_hop_limit"] == "64"
        assert (ra["icmpv6.nd.ra.flag.m"], ra["icmpv6.nd.ra.flag.o"]) in (("1", "0"),
                                                                          ("True", "False"))
        assert ra["icmpv6.nd.ra.reachable_time"] == "30000"
        assert ra["icmpv6.nd.ra.retrans_timer"] == "1000"
        assert ra["icmpv6.opt.linkaddr"] == mac
        assert ra["icmpv6.opt.mtu"] == "1400"
    periodic, final = ras[:-1], ras[-1]
    for ra in periodic:
        assert ra["icmpv6.nd.ra.router_lifetime"] == "1800"
        assert ra["icmpv6.opt.type"].split(";") == ["1", "5", "3", "3"], ra
        assert ra["icmpv6.opt.prefix"].split(";") == ["2001:2:0:1::", "2001:2:0:7::"], ra
        assert ra["icmpv6.opt.prefix.length"].split(";") == ["64", "64"]
        l_flags = [x in ("1", "True") for x in ra["icmpv6.opt.prefix.flag.l"].split(";")]
        a_flags = [x in ("1", "True") for x in ra["icmpv6.opt.prefix.flag.a"].split(";")]
        assert l_flags == [True, False] and a_flags == [True, True], ra  # add6 … 0 1 …
        valid = ra["icmpv6.opt.prefix.valid_lifetime"].split(";")
        pref = ra["icmpv6.opt.prefix.preferred_lifetime"].split(";")
        assert valid[0] == pref[0] == str(0xffffffff)  # add: infinite
        assert 86000 < int(valid[1]) <= 86400 and 3200 < int(pref[1]) <= 3600  # counting down
    assert final["icmpv6.nd.ra.router_lifetime"] == "0"
    assert final["icmpv6.opt.prefix"] == ""
