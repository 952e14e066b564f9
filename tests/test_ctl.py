"""Control messages through the real daemon, and their effect on the wire: conversation ctl
(§3.2), ipifc ctl (§3.3), /net/iproute (§3.12) and /net/arp (§3.13)."""
import pytest

import ninep
from conftest import DEVIP_IP, LINUX_IP, LINUX_MAC, mac_colons, wait_for
from frames import ARP, IP, UDP, Ether, parse
from udp_util import start_announce


def err(r):
    assert r.returncode != 0, r
    return r.stderr.decode().strip().removeprefix("ipctl: ")


# --- §3.2 conversation ctl errors (each write goes to a fresh conversation from clone)

CONV_ERRORS = [
    ("udp", "connect 198.18.0.2", "malformed address"),
    ("udp", "connect 198.18.0.2!abc", "bad numeric port"),
    ("udp", "connect 198.18.0.2!7x", "bad numeric port"),
    ("udp", "connect 198.18.0.x!7", "bad ip address syntax"),
    ("udp", "connect 198.18.0.2!7 198.18.0.77!9", "not a local IP address"),
    ("udp", "connect", "bad args to connect"),
    ("udp", "connect a!1 b!2 c!3", "bad args to connect"),
    ("udp", "announce 198.18.0.77!7000", "not a local IP address"),
    ("udp", "announce 1 2", "bad args to announce"),
    ("udp", "bind", "bad args to bind"),
    ("udp", "frobnicate", "unknown control request"),
    ("udp", "", "short control request"),
    ("icmp", "frobnicate", "unknown control request"),
    ("icmp", "connect 198.18.0.2", "malformed address"),
    ("ipifc/0", "announce 7", "announce not supported"),
]


@pytest.mark.parametrize("proto,message,error", CONV_ERRORS)
def test_conversation_ctl_error(mhost, proto, message, error):
    path = "/net/%s/%s" % (proto, "ctl" if "/" in proto else "clone")
    assert err(mhost.ipctl("write", path, message, check=False)) == error


def test_announce_same_port_twice_is_address_in_use(mhost):
    p, n = start_announce(mhost, "udp!*!7600")
    try:
        r = mhost.ipctl("write", "/net/udp/clone", "announce 7600", check=False)
        assert err(r) == "address in use"
        # a different local address does not conflict (§3.2.1)
        mhost.ipctl("write", "/net/udp/clone", "announce %s!7600" % DEVIP_IP)
    finally:
        p.kill()
        p.wait()


def test_second_connect_on_a_conversation_is_connection_in_use(mhost):
    c = ninep.Client(mhost.sock).session()
    try:
        c.open_path(1, "/net/udp/clone", ninep.ORDWR)
        c.write(1, "connect %s!7601" % LINUX_IP)
        with pytest.raises(ninep.NinepError, match="connection in use"):
            c.write(1, "connect %s!7602" % LINUX_IP)
        n = int(c.read(1))
        assert c.cat("/net/udp/%d/remote" % n) == b"%s!7601\n" % LINUX_IP.encode()
        local = c.cat("/net/udp/%d/local" % n).decode()
        assert local.startswith(DEVIP_IP + "!") and 32768 <= int(local[:-1].split("!")[1]) <= 65535
    finally:
        c.close()


def test_ttl_and_tos_ctl_reach_the_wire(mhost):
    wire = mhost.wire()
    c = ninep.Client(mhost.sock).session()
    try:
        c.open_path(1, "/net/udp/clone", ninep.ORDWR)
        n = int(c.read(1))
        c.write(1, "connect %s!7603" % LINUX_IP)
        c.write(1, "ttl 7")
        c.write(1, "tos 40")
        c.walk(0, 2, "udp", str(n), "data")
        c.open(2, ninep.ORDWR)
        c.write(2, b"ttl and tos")
    finally:
        c.close()
    got = [p for p in parse(wire.recv(until=lambda f: any(b"ttl and tos" in x for x in f),
                                      timeout=15)) if UDP in p and p[UDP].dport == 7603]
    assert got and (got[0][IP].ttl, got[0][IP].tos) == (7, 40)


# --- §3.3 ipifc ctl

IPIFC_ERRORS = [
    ("mtu 59", "bad arg in system call"),
    ("mtu 1515", "bad arg in system call"),
    ("add", "bad arg in system call"),
    ("add 198.18.0.x 255.255.255.0", "bad ip address syntax"),
    ("del 198.18.0.50 255.255.255.0", "address not on this interface"),
    ("bind ether /net/ether0", "interface already bound"),
    ("frobnicate", "unsupported ctl"),
    ("promiscuous", "unsupported ctl"),
]


@pytest.mark.parametrize("message,error", IPIFC_ERRORS)
def test_ipifc_ctl_error(mhost, message, error):
    assert err(mhost.ipctl("write", "/net/ipifc/0/ctl", message, check=False)) == error


def test_unbind_of_unbound_interface(mhost):
    assert err(mhost.ipctl("write", "/net/ipifc/clone", "unbind", check=False)) == \
        "interface not bound"


def test_unknown_medium(mhost):
    assert err(mhost.ipctl("write", "/net/ipifc/clone", "bind frob", check=False)) == \
        "unknown interface type"


def test_add_address_announces_and_answers_then_del_removes(host):
    wire = host.wire()
    host.ipctl("write", "/net/ipifc/0/ctl", "add 198.18.0.11 255.255.255.0")
    # gratuitous ARP request: sender = target = the new address (§4.2.2)
    garp = [p for p in parse(wire.recv(until=lambda f: any(
        ARP in p and p[ARP].psrc == "198.18.0.11" for p in parse(f)), timeout=15))
        if ARP in p and p[ARP].psrc == "198.18.0.11"]
    assert garp and garp[0][ARP].op == 1 and garp[0][ARP].pdst == "198.18.0.11"
    assert garp[0][ARP].hwsrc == mac_colons(host.mac)
    st = host.cat("/net/ipifc/0/status").split("\n")
    assert st[1].startswith("\t198.18.0.1 ") and st[2].startswith("\t198.18.0.11 ")
    assert "198.18.0.11" in host.cat("/net/ipselftab")
    r = host.ns_run("ping -c 2 -i 0.2 -W 2 198.18.0.11", check=False)
    assert "2 received" in r.stdout.decode(), r.stdout.decode()

    host.ipctl("write", "/net/ipifc/0/ctl", "del 198.18.0.11 255.255.255.0")
    assert "198.18.0.11" not in host.cat("/net/ipifc/0/status")
    assert "198.18.0.11" not in host.cat("/net/ipselftab")
    assert "198.18.0.11 " not in host.cat("/net/iproute")
    r = host.ns_run("ping -c 2 -i 0.2 -W 1 198.18.0.11", check=False)
    assert " 0 received" in r.stdout.decode(), r.stdout.decode()


def test_mtu_limits_what_goes_out(host):
    wire = host.wire()
    host.ipctl("write", "/net/ipifc/0/ctl", "mtu 1000")
    assert " maxtu 1000 " in host.cat("/net/ipifc/0/status")
    host.ipctl("ping", "-c", "1", "-s", "1400", LINUX_IP)
    frames = wire.recv(until=lambda f: sum(1 for p in parse(f) if IP in p
                                           and p[IP].src == DEVIP_IP) >= 2, timeout=15)
    ours = [p for p in parse(frames) if IP in p and p[IP].src == DEVIP_IP]
    assert len(ours) >= 2
    # the MTU includes the 14-byte Ethernet header (§3.3, §7 fact 8)
    assert all(len(bytes(p)) <= 1000 for p in ours), [len(bytes(p)) for p in ours]


def test_unbind_stops_the_interface(host):
    host.ipctl("write", "/net/ipifc/0/ctl", "unbind")
    assert host.cat("/net/ipifc/0/status").startswith("device  maxtu ")
    assert "198.18.0.1 " not in host.cat("/net/iproute")
    r = host.ns_run("ping -c 2 -i 0.2 -W 1 %s" % DEVIP_IP, check=False)
    assert " 0 received" in r.stdout.decode()
    # and the conversation is free for a new bind
    host.ipctl("write", "/net/ipifc/0/ctl", "bind ether /net/ether0")
    host.ipctl("write", "/net/ipifc/0/ctl", "add 198.18.0.1 255.255.255.0")
    r = host.ns_run("ping -c 2 -i 0.2 -W 2 %s" % DEVIP_IP, check=False)
    assert "2 received" in r.stdout.decode()


# --- §3.12 /net/iproute

ROUTE_ERRORS = [
    ("add 198.19.0.0 /16", "bad process or channel control request"),
    ("add 198.19.0.0 /16 198.19.5.5", "interface not found"),
    ("add 198.19.0.0 /16 198.18.0.3 -", "interface not found"),
    ("add 198.19.0.0 /16 198.18.0.3 7", "interface not found"),
    ("add 198.19.0.x /16 198.18.0.3", "bad ip address syntax"),
    ("delete 198.19.0.0", "bad process or channel control request"),
    ("tag", "bad arg in system call"),
    ("add 198.19.0.0 /16 198.18.0.2 4 none 0 extra 0.0.0.0 /96",
     "bad process or channel control request"),
]


@pytest.mark.parametrize("message,error", ROUTE_ERRORS)
def test_iproute_error(mhost, message, error):
    before = mhost.cat("/net/iproute")
    assert err(mhost.ipctl("write", "/net/iproute", message, check=False)) == error
    assert mhost.cat("/net/iproute") == before


def route_line(target, mask, gate, flags, tag, ifc, src="0.0.0.0", smask="/96"):
    return "%-15s %-4s %-15s %-4s %4.4s %3s %-15s %-4s\n" % (target, mask, gate, flags, tag, ifc,
                                                             src, smask)


def gateway_mac_for(d, wire, dport):
    """Dials 198.19.1.1 and returns (eth dst of the datagram or None, ARP targets asked)."""
    wire.drain()
    d.ipctl("dial", "-w", "0", "udp!198.19.1.1!%d" % dport, input=b"where to?")
    frames = wire.recv(until=lambda f: any(UDP in p and p[UDP].dport == dport for p in parse(f))
                       or any(ARP in p and p[ARP].pdst == "198.18.0.3" for p in parse(f)),
                       timeout=15)
    pk = parse(frames)
    udp = [p for p in pk if UDP in p and p[UDP].dport == dport]
    return (udp[0][Ether].dst if udp else None), [p[ARP].pdst for p in pk if ARP in p
                                                   and p[ARP].op == 1]


def test_route_add_is_used_and_del_removes_it(host):
    wire = host.wire()
    host.ipctl("write", "/net/iproute", "add 198.19.0.0 /16 198.18.0.3")
    assert route_line("198.19.0.0", "/112", "198.18.0.3", "4", "none", "0") in \
        host.cat("/net/iproute")
    mac, asked = gateway_mac_for(host, wire, 7700)
    assert mac is None and "198.18.0.3" in asked  # resolving the route's gateway
    host.ipctl("write", "/net/iproute", "del 198.19.0.0 /16 198.18.0.3")
    assert "198.19.0.0" not in host.cat("/net/iproute")
    mac, asked = gateway_mac_for(host, wire, 7701)
    assert mac == LINUX_MAC  # back on the default route


def test_route_tags_per_fd_and_delete_needs_matching_tag(host):
    host.ipctl("write", "/net/iproute", input="tag test\nadd 198.19.0.0 /16 198.18.0.2\n")
    line = route_line("198.19.0.0", "/112", "198.18.0.2", "4", "test", "0")
    assert line in host.cat("/net/iproute")
    # a delete from an fd tagged "none" is silently ignored (§3.12)
    host.ipctl("write", "/net/iproute", "del 198.19.0.0 /16 198.18.0.2")
    assert line in host.cat("/net/iproute")
    host.ipctl("write", "/net/iproute", input="tag test\ndel 198.19.0.0 /16 198.18.0.2\n")
    assert line not in host.cat("/net/iproute")


def test_route_flush_tag_and_flush(host):
    host.ipctl("write", "/net/iproute", input="tag aaaa\nadd 198.19.0.0 /16 198.18.0.2\n"
               "tag bbbb\nadd 198.19.7.0 /24 198.18.0.2\n")
    host.ipctl("write", "/net/iproute", "flush aaaa")
    text = host.cat("/net/iproute")
    assert "198.19.0.0 " not in text and "198.19.7.0 " in text
    host.ipctl("write", "/net/iproute", "flush")
    # only interface routes (flag i) survive a plain flush, self routes go too (§6 quirk 4)
    lines = host.cat("/net/iproute").splitlines()
    assert lines and all(l.split()[3].startswith("4i") for l in lines), lines


def test_source_specific_route(host):
    host.ipctl("write", "/net/iproute", "add 198.19.0.0 /16 198.18.0.3 198.18.0.1 /32")
    assert route_line("198.19.0.0", "/112", "198.18.0.3", "4", "none", "0", "198.18.0.1",
                      "/128") in host.cat("/net/iproute")


# --- §3.13 /net/arp

ARP_ERRORS = [
    ("", "bad arp"),
    ("frobnicate", "bad arp"),
    ("add 198.18.0.9 z", "bad arp"),
    ("add ether 198.18.0.9 0218", "bad arp"),
    ("add 198.18.0.x 021800000009", "bad ip address syntax"),
    ("add 198.18.0.9", "bad arg in system call"),
    ("add 1 2 3 4 5", "bad arp"),  # only 5 fields are taken: a 4-field add, medium "1"
    ("del", "bad arg in system call"),
    ("del 198.18.0.x", "bad ip address syntax"),
    ("garp 198.18.0.50", "no interface"),
]


@pytest.mark.parametrize("message,error", ARP_ERRORS)
def test_arp_error(mhost, message, error):
    assert err(mhost.ipctl("write", "/net/arp", message, check=False)) == error


def arp_line(ip, mac, ifc=DEVIP_IP, state="OK"):
    return "ether  %-4s %-40s %-16s %s\n" % (state, ip, mac, ifc)


def test_arp_add_is_used_and_del_removes(host):
    wire = host.wire()
    host.ipctl("write", "/net/arp", "add 198.18.0.9 02:18:00:00:00:09")
    assert arp_line("198.18.0.9", "021800000009") in host.cat("/net/arp")
    wire.drain()
    host.ipctl("dial", "-w", "0", "udp!198.18.0.9!7800", input=b"static")
    frames = wire.recv(until=lambda f: any(UDP in p and p[UDP].dport == 7800
                                           for p in parse(f)), timeout=15)
    udp = [p for p in parse(frames) if UDP in p and p[UDP].dport == 7800]
    assert udp and udp[0][Ether].dst == "02:18:00:00:00:09"
    assert not [p for p in parse(frames) if ARP in p and p[ARP].pdst == "198.18.0.9"]
    host.ipctl("write", "/net/arp", "del 198.18.0.9")
    assert "198.18.0.9 " not in host.cat("/net/arp")


def test_arp_add_with_medium_form(host):
    host.ipctl("write", "/net/arp", "add ether 198.18.0.10 021800000010 198.18.0.1")
    assert arp_line("198.18.0.10", "021800000010") in host.cat("/net/arp")


def test_arp_flush_empties_cache(host):
    host.ipctl("ping", "-c", "1", LINUX_IP)
    assert LINUX_IP in host.cat("/net/arp")
    host.ipctl("write", "/net/arp", "flush")
    assert host.cat("/net/arp") == ""
    host.ipctl("ping", "-c", "1", LINUX_IP)  # and it is learned again
    assert arp_line(LINUX_IP, LINUX_MAC.replace(":", "")) in host.cat("/net/arp")


def test_garp_sends_gratuitous_request(mhost):
    wire = mhost.wire()
    wire.drain()
    mhost.ipctl("write", "/net/arp", "garp %s" % DEVIP_IP)
    got = [p for p in parse(wire.recv(until=lambda f: any(ARP in p for p in parse(f)),
                                      timeout=15)) if ARP in p]
    assert got
    p = got[0]
    assert (p[Ether].dst, p[ARP].op, p[ARP].psrc, p[ARP].pdst, p[ARP].hwsrc) == \
        ("ff:ff:ff:ff:ff:ff", 1, DEVIP_IP, DEVIP_IP, mac_colons(mhost.mac))


def test_unresolved_neighbour_shows_wait(host):
    # a datagram to a silent neighbour: the entry is WAIT while ARP tries (§2.8, §4.14.1)
    host.ipctl("dial", "-w", "0", "udp!198.18.0.99!7801", input=b"anyone?")
    text = host.cat("/net/arp")
    assert "ether  WAIT 198.18.0.99 " in text, text
    assert wait_for(lambda: "198.18.0.99" not in host.cat("/net/arp"), 15)
