"""ipctl save: the running configuration as a devipd --config file. Replayed into a fresh
devipd it gives the same /net files (counters masked); derived state (interface and self
routes, neighbours learned from the wire) stays out; -k is the host owner's."""
import ipaddress
import os
import re

from conftest import DEVIP_IP, linux_mac, wait_for
from test_ra import HOST6_CONF, RADVD_CONF, linux_ll
from v6_util import eui64

CONFIG = """\
/net/ipifc/clone bind ether /net/ether0
/net/ipifc/0/ctl add 198.18.0.1 255.255.255.0
/net/ipifc/0/ctl add 2001:2:0:1::1 /64
/net/ipifc/0/ctl mtu 1400
/net/ipifc/clone bind ether /net/ether1
/net/ipifc/1/ctl add 198.18.1.1 /24
/net/ipifc/1/ctl add6 2001:2:0:2:: 64 1 0
/net/ipifc/1/ctl reflect 1
/net/ipifc/1/ctl reassemble 1
/net/ipifc/1/ctl ra6 mflag 1 routerlt 900
/net/ipifc/1/ctl speed 100000000
/net/ipifc/0/ctl iprouting 1
/net/iproute add 0.0.0.0 /0 198.18.0.2
/net/iproute add 198.18.9.0 /24 198.18.1.2 4 ospf 1 0.0.0.0 /0
/net/iproute add 198.18.10.0 /24 198.18.1.2 198.18.0.0 /24
/net/iproute add 2001:2:0:99:: /64 2001:2:0:1::2
/net/arp add ether 198.18.0.9 021800000009
/net/arp add ether 198.18.1.9 02180000010a 198.18.1.1
/net/ndb ip=198.18.0.1 sys=devip
/net/ndb \tdom=devip.test
"""
USER_ARP = ("198.18.0.9", "198.18.1.9")
LINUX = {0: "198.18.0.2/24", 1: "198.18.1.2/24"}

# The files compared after a replay, with what is masked in each.
COMPARED = ["/net/ipifc/0/status", "/net/ipifc/1/status", "/net/ipifc/0/local",
            "/net/ipifc/1/local", "/net/iproute", "/net/ipselftab", "/net/ndb", "/net/config"]


def masked(path, text):
    if path.endswith("/status"):  # medium counters (ip3.md §2.5): traffic, not configuration
        text = re.sub(r" (pktin|pktout|errin|errout) \d+", r" \1 N", text)
    return text


def user_arp(d):
    return [l for l in d.cat("/net/arp").splitlines() if l.split()[2] in USER_ARP]


def start(factory, config):
    return factory(ports=2, config=config, linux_addrs=LINUX)


def test_replay_gives_the_same_files(devip_factory):
    a = start(devip_factory, CONFIG)
    # traffic: Linux's neighbour entry is learned, counters move; neither is configuration
    assert a.ns_run("ping -c 2 -i 0.2 -W 2 %s" % DEVIP_IP, check=False).returncode == 0
    a.ipctl("write", "/net/iproute", "add", "198.18.11.0", "/24", "198.18.0.2")
    saved = a.ipctl("save").stdout.decode()
    assert "198.18.0.2 " not in "".join(l for l in saved.splitlines(True)
                                          if l.startswith("/net/arp"))
    b = start(devip_factory, saved)
    for path in COMPARED:
        assert masked(path, b.cat(path)) == masked(path, a.cat(path)), path
    assert user_arp(b) == user_arp(a) and len(user_arp(a)) == 2
    assert b.stats("/net/ipifc/stats")["Forwarding"] == 1
    assert b.ipctl("save").stdout.decode() == saved


def test_derived_routes_and_learned_neighbours_stay_out(devip_factory):
    a = start(devip_factory, CONFIG)
    assert a.ns_run("ping -c 1 -W 2 %s" % DEVIP_IP, check=False).returncode == 0
    assert "198.18.0.2" in a.cat("/net/arp")  # learned from the ping
    saved = a.ipctl("save").stdout.decode()
    routes = [l for l in saved.splitlines() if l.startswith("/net/iproute")]
    assert len(routes) == 4 and not any(" ifc " in l for l in routes), routes
    assert [l for l in saved.splitlines() if l.startswith("/net/arp")] == [
        "/net/arp add ether 198.18.0.9 021800000009 198.18.0.1",
        "/net/arp add ether 198.18.1.9 02180000010a 198.18.1.1"]
    assert "/net/ipifc/1/ctl reflect 1" in saved.splitlines()
    assert "/net/ipifc/1/ctl add6 2001:2:0:2:: 64 1 0 4294967295 4294967295" in saved.splitlines()
    assert "/net/ndb \tdom=devip.test" in saved.splitlines()


def test_learned_entry_rewritten_by_a_user_is_saved(devip_factory):
    a = start(devip_factory, CONFIG)
    assert a.ns_run("ping -c 1 -W 2 %s" % DEVIP_IP, check=False).returncode == 0
    mac = linux_mac(0).replace(":", "")
    a.ipctl("write", "/net/arp", "add", "ether", "198.18.0.2", mac)
    saved = a.ipctl("save").stdout.decode()
    assert "/net/arp add ether 198.18.0.2 %s 198.18.0.1" % mac in saved.splitlines()


def test_keys_are_for_the_host_owner(devip_factory):
    a = start(devip_factory, CONFIG)
    assert a.ipctl("save", "-k").stdout == a.ipctl("save").stdout  # no secrets exist yet
    r = a.ipctl("save", "-k", user="nobody", check=False)
    assert r.returncode == 1
    assert r.stderr.decode() == \
        "ipctl: save -k: permission denied (secrets are for the host owner)\n"
    assert a.ipctl("save", user="nobody").stdout == a.ipctl("save").stdout


def test_save_of_another_stack(devip_factory):
    a = start(devip_factory, CONFIG)
    out = a.ipctl("save", "-n", "3").stdout.decode()
    assert out == "# devip stack 3: the running configuration (ipctl save)\n"
    assert a.ipctl("-n", "3", "save").stdout.decode() == out


def test_what_router_advertisements_made_stays_out(devip_factory):
    """recvra with radvd on the link: the SLAAC address, the ra6 default route and the
    parameters the RAs set are the router's, not configuration."""
    d = devip_factory(config=HOST6_CONF, linux_ipv6=True)
    d.ns_run("sysctl -qw net.ipv6.conf.all.forwarding=1")
    d.ns_run("ip addr add 2001:2:0:1::2/64 dev dtap0 nodad")
    assert wait_for(lambda: linux_ll(d), 10)
    conf = os.path.join(d.dir, "radvd.conf")
    with open(conf, "w") as f:
        f.write(RADVD_CONF)
    d.ns_popen(["radvd", "-n", "-C", conf, "-p", os.path.join(d.dir, "radvd.pid"),
                "-m", "stderr"])
    slaac = eui64(d.mac, "2001:2:0:1::")
    assert wait_for(lambda: " ra6 " in d.cat("/net/iproute") and
                    "linkmtu 1400" in d.cat("/net/ipifc/0/status"), 30), d.cat("/net/iproute")
    def has_slaac():
        return any(ipaddress.ip_address(l.split()[0]) == ipaddress.ip_address(slaac)
                   for l in d.cat("/net/ipifc/0/status").splitlines()[1:] if l.strip())
    assert wait_for(has_slaac, 30), d.cat("/net/ipifc/0/status")
    saved = d.ipctl("save").stdout.decode()
    assert saved == ("# devip stack 0: the running configuration (ipctl save)\n"
                     "/net/ipifc/clone bind ether /net/ether0\n"
                     "/net/ipifc/0/ctl ra6 recvra 1\n"
                     "/net/ipifc/0/ctl add 198.18.0.1 /24\n"
                     "/net/ipifc/0/ctl add fe80::1 /64\n"), saved


def test_gre_tunnels_replay_and_esp_tunnels_stay_out(devip_factory):
    gre = CONFIG + """\
/net/ipifc/clone bind gre 198.18.1.1 198.18.1.2 key 77 csum seq
/net/ipifc/2/ctl add 198.19.200.1 255.255.255.252
/net/iproute add 198.18.20.0 /24 198.19.200.2
/net/ipifc/clone bind gre 198.18.0.1 198.18.0.2
"""
    esp = """\
/net/esp/clone connect 198.18.1.2!4096
/net/esp/0/ctl esp aes_128_gcm 000102030405060708090a0b0c0d0e0fa0a1a2a3
/net/esp/0/ctl ah null
/net/esp/clone connect 198.18.1.2!*
/net/esp/1/ctl spi 4097
/net/esp/1/ctl esp aes_128_gcm 101112131415161718191a1b1c1d1e1fb0b1b2b3
/net/esp/1/ctl ah null
/net/ipifc/clone bind esp /net/esp/0 /net/esp/1
"""
    a = start(devip_factory, gre + esp)
    assert "esp" in a.cat("/net/ipifc/4/status")
    saved = a.ipctl("save", "-k").stdout.decode()
    assert "/net/ipifc/clone bind gre 198.18.1.1 198.18.1.2 key 77 csum seq\n" in saved
    assert "/net/ipifc/clone bind gre 198.18.0.1 198.18.0.2\n" in saved
    assert "# ipifc 4 (esp /net/esp/0) not saved" in saved and "a0a1a2a3" not in saved
    assert not [l for l in saved.splitlines() if l.startswith("/net/esp")], saved
    b = start(devip_factory, saved)
    counters = ["pktin", "pktout", "errin", "errout", "inpkts", "inbytes", "outpkts",
                "outbytes", "replay", "icv", "rpf", "errors", "fastin", "fastout", "seq"]
    unmask = lambda t: re.sub(r" (%s) \d+" % "|".join(counters), r" \1 N", t)
    for path in ["/net/ipifc/2/status", "/net/ipifc/3/status", "/net/ipifc/2/local",
                 "/net/ipifc/3/local"]:
        assert unmask(b.cat(path)) == unmask(a.cat(path)), path
    # the routes are a's but for the ESP tunnel's own (it was not saved)
    ra, rb = a.cat("/net/iproute").splitlines(), b.cat("/net/iproute").splitlines()
    assert set(rb) <= set(ra) and any(l.startswith("198.18.20.0 ") for l in rb), (ra, rb)
    esp_line = [l for l in saved.splitlines(True) if l.startswith("# ipifc 4")][0]
    assert b.ipctl("save", "-k").stdout.decode() == saved.replace(esp_line, "")
