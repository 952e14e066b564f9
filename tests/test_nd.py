"""Neighbour discovery as a new user meets it (issue 10 §7): an interface given only a global
IPv6 address gets its EUI-64 link-local address, answers Linux's `ndisc6` and a neighbour
solicitation from a link-local source with a scapy frame, also with no route to fe80::/64 at
all (RFC 4861 §7.2.4: answered on the receiving link), and Linux's own link-local address on
the tap comes from Linux's MAC, not devip's (the harness sets it while the link is down)."""
import re

import pytest
from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr, IPv6
from scapy.layers.l2 import Ether

from conftest import LINUX_MAC, mac_colons, wait_for

ME = "2001:2:0:9::1"
SOLICITED_ME = "ff02::1:ff00:1"
LINUX_LL = "fe80::18:ff:fe00:2"  # EUI-64 of LINUX_MAC 02:18:00:00:00:02

CONF = """\
/net/ipifc/clone bind ether /net/ether0
/net/ipifc/0/ctl add 198.18.0.1 255.255.255.0
/net/ipifc/0/ctl add %s /64
""" % ME


def eui64_ll(mac12):
    """fe80:: with the modified EUI-64 of a MAC given as 12 hex digits."""
    b = bytes.fromhex(mac12)
    x = bytes([b[0] ^ 2]) + b[1:3] + b"\xff\xfe" + b[3:6]
    groups = [x[i] << 8 | x[i + 1] for i in range(0, 8, 2)]
    return "fe80::" + ":".join("%x" % g for g in groups)


@pytest.fixture
def v6host(devip_factory):
    d = devip_factory(config=CONF, linux_ipv6=True)
    # Linux's link-local address must have finished DAD before ndisc6 can use it
    assert wait_for(lambda: LINUX_LL in linux_ll(d) and "tentative" not in linux_ll(d), 10), \
        linux_ll(d)
    return d


def linux_ll(d):
    return d.ns_run("ip -6 addr show dev dtap0 scope link").stdout.decode()


def test_linux_link_local_from_its_own_mac(v6host):
    out = linux_ll(v6host)
    assert "inet6 %s/64" % LINUX_LL in out, out
    assert eui64_ll(v6host.mac) not in out, out  # not devip's MAC's


def test_first_v6_address_brings_eui64_link_local(v6host):
    ll = eui64_ll(v6host.mac)
    local = v6host.cat("/net/ipifc/0/local")
    assert re.search(r"^%s\s" % re.escape(ll), local, re.M), local
    st = v6host.cat("/net/ipifc/0/status")
    for a in (ll, ME):
        assert re.search(r"^\t%s\s+/64\s" % re.escape(a), st, re.M), st
    assert st.index(ll) < st.index(ME), st  # brought in before the address
    # Linux reaches devip by the link-local address
    out = v6host.ns_run("ping -6 -c 2 -i 0.2 -W 2 %s%%dtap0" % ll).stdout.decode()
    assert " 0% packet loss" in out, out


def test_ndisc6_resolves_global_address(v6host):
    r = v6host.ns_run("ndisc6 -1 -r 3 -w 1000 %s dtap0" % ME, check=False)
    out = r.stdout.decode() + r.stderr.decode()
    assert r.returncode == 0, out
    assert re.search(r"Target link-layer address: %s" % mac_colons(v6host.mac).upper(), out,
                     re.I), out
    # ndisc6 solicits from Linux's link-local address: devip entered it
    arp = v6host.cat("/net/arp")
    assert re.search(r"^ether\s+OK\s+%s\s+%s\s" % (LINUX_LL, LINUX_MAC.replace(":", "")),
                     arp, re.M), arp


def solicit(d, target, src=LINUX_LL):
    w = d.wire()
    ns = (Ether(src=LINUX_MAC, dst="33:33:ff:00:00:01") /
          IPv6(src=src, dst=SOLICITED_ME, hlim=255) / ICMPv6ND_NS(tgt=target) /
          ICMPv6NDOptSrcLLAddr(lladdr=LINUX_MAC))
    got = [Ether(f) for f in w.exchange([bytes(ns)])]
    return [p for p in got if ICMPv6ND_NA in p and p[ICMPv6ND_NA].tgt == target and
            p[IPv6].dst == src]


@pytest.mark.parametrize("own_ll", [True, False], ids=["with-link-local", "global-only"])
def test_scapy_ns_from_link_local_answered(v6host, own_ll):
    ll = eui64_ll(v6host.mac)
    if not own_ll:  # no link-local address left: no route to fe80::/64 at all
        v6host.ipctl("write", "/net/ipifc/0/ctl", "remove %s /64" % ll)
        assert "fe80::" not in v6host.cat("/net/iproute"), v6host.cat("/net/iproute")
    v6host.ipctl("write", "/net/arp", "flush")
    nas = solicit(v6host, ME)
    assert len(nas) == 1, [p.summary() for p in nas]
    na = nas[0]
    assert na[Ether].dst == LINUX_MAC
    assert na[Ether].src == mac_colons(v6host.mac)
    assert na[IPv6].hlim == 255
    assert na[IPv6].src == ME  # from the target, as Linux answers (ndisc6 wants that)
    assert (na[ICMPv6ND_NA].S, na[ICMPv6ND_NA].O, na[ICMPv6ND_NA].R) == (1, 1, 0)
    arp = v6host.cat("/net/arp")
    assert re.search(r"^ether\s+OK\s+%s\s+%s\s" % (LINUX_LL, LINUX_MAC.replace(":", "")),
                     arp, re.M), arp
