"""devip as an IPv6 router between two Linux hosts, shared by the IPv6 system tests.

hostA (2001:2:0:1::2/64) -- dtap0 -- devip ether0 fe80::1:1, 2001:2:0:1::1 |
ether1 fe80::2:1, 2001:2:0:2::1 -- dtap1 -- hostB (2001:2:0:2::2/64). Each tap's Linux side
is moved into its own namespace so Linux cannot route between them itself.
"""
import re
import subprocess
import textwrap

import pytest

from conftest import Devip, linux_mac, parse_stats, wait_for
from hosts_util import Hosts

A_NET, B_NET = "2001:2:0:1::", "2001:2:0:2::"
DEVIP_A, DEVIP_B = "2001:2:0:1::1", "2001:2:0:2::1"
DEVIP_LL_A, DEVIP_LL_B = "fe80::1:1", "fe80::2:1"
HOST_A, HOST_B = "2001:2:0:1::2", "2001:2:0:2::2"

ROUTER6_CONF = """\
/net/ipifc/clone bind ether /net/ether0
/net/ipifc/0/ctl add fe80::1:1 /64
/net/ipifc/0/ctl add 2001:2:0:1::1 /64
/net/ipifc/clone bind ether /net/ether1
/net/ipifc/1/ctl add fe80::2:1 /64
/net/ipifc/1/ctl add 2001:2:0:2::1 /64
/net/ipifc/0/ctl iprouting 1
"""


def eui64(mac_hex12, prefix):
    """prefix (ending in ::) with the modified EUI-64 of a MAC given as 12 hex digits."""
    b = bytearray.fromhex(mac_hex12)
    b[0] ^= 2
    iid = bytes(b[:3]) + b"\xff\xfe" + bytes(b[3:])
    groups = ["%x" % (iid[i] << 8 | iid[i + 1]) for i in range(0, 8, 2)]
    return prefix.rstrip(":") + ":" + ":".join(groups)


class Router6(Hosts):
    """devipd with two ports and a Linux host in a namespace of its own on each.
    hosts: {"A": address or None, "B": ...}; a host without an address gets only its
    link-local one (for autoconfiguration tests)."""

    def __init__(self, config=ROUTER6_CONF, hosts=None, gateways=True, opts=()):
        self.d = Devip(ports=2, config=config, linux_addrs={}, linux_ipv6=True, opts=opts)
        self.addrs = hosts if hosts is not None else {"A": HOST_A + "/64", "B": HOST_B + "/64"}
        self.gateways = gateways
        self.names = []

    def start(self):
        self.d.start()
        for i, name in enumerate(["A", "B"]):
            ns = self.ns(name)
            subprocess.run(["ip", "netns", "add", ns], check=True)
            self.names.append(ns)
            self.d.ns_run("ip link set dtap%d netns %s" % (i, ns))
            cmd = ["ip link set lo up", "ip link set dtap%d address %s" % (i, linux_mac(i)),
                   "sysctl -qw net.ipv6.conf.dtap%d.disable_ipv6=0" % i]
            addr = self.addrs.get(name)
            if addr:
                cmd.append("ip addr add %s dev dtap%d nodad" % (addr, i))
            cmd.append("ip link set dtap%d up" % i)
            if addr and self.gateways:
                cmd.append("ip -6 route add default via %s dev dtap%d" % (
                    DEVIP_LL_A if name == "A" else DEVIP_LL_B, i))
            self.run(name, "; ".join(cmd))
        for name in ["A", "B"]:  # Linux's link-local address is tentative for a moment
            wait_for(lambda: "tentative" not in self.run(name, "ip -6 addr show").stdout.decode(),
                     10)
        return self

    def python(self, host, script, *args, timeout=60):
        """Runs a Python script (Debian's interpreter) in a host's namespace; returns stdout."""
        r = subprocess.run(["ip", "netns", "exec", self.ns(host), "/usr/bin/python3", "-c",
                            textwrap.dedent(script)] + [str(a) for a in args],
                           capture_output=True, timeout=timeout)
        if r.returncode != 0:
            raise AssertionError("host%s python: exit %d\n%s%s" % (
                host, r.returncode, r.stdout.decode(errors="replace"),
                r.stderr.decode(errors="replace")))
        return r.stdout.decode()

    def warm(self):
        """Resolves both neighbours (devip holds one packet per unresolved neighbour)."""
        self.run("A", "ping -6 -c 2 -i 0.2 -W 2 %s" % HOST_B)

    def ipstats(self):
        return parse_stats(self.d.cat("/net/ipifc/stats"))

    def icmp6stats(self):
        return parse_stats(self.d.cat("/net/icmpv6/stats"))


@pytest.fixture
def router():
    """A started Router6 with both hosts addressed; devipd is stopped (its exit checked by
    Devip) before the namespaces go."""
    r = Router6().start()
    yield r
    try:
        r.d.stop()
    finally:
        r.close()


def v6_addrs(router, host, dev):
    """Global addresses on a host's interface: [(address, flags text)]."""
    out = router.run(host, "ip -6 -o addr show dev %s scope global" % dev).stdout.decode()
    return [(m.group(1), m.group(0)) for m in re.finditer(r"inet6 ([0-9a-f:]+)/\d+[^\n]*", out)]
