"""/net/gre against scapy and tshark: the 8-byte address prefix on data, cooked and raw
writes, delivery by protocol type and source, 9front's retunnelling on the wire
(ip3.md §3.9, §4.10, §2.4, §2.10)."""
import socket
import subprocess

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import GRE, Ether
from scapy.packet import Raw
from scapy.utils import wrpcap

import ninep
from conftest import DEVIP_IP, LINUX_IP, LINUX_MAC
from test_esp import Conv

INNER = IP(src="10.8.0.1", dst="10.8.0.2", ttl=50) / UDP(sport=7, dport=9) / Raw(b"in gre" * 4)
A_DEVIP, A_LINUX = socket.inet_aton(DEVIP_IP), socket.inet_aton(LINUX_IP)


@pytest.fixture
def gre_host(host):
    # Linux has no GRE: a raw socket for protocol 47 keeps its kernel from answering
    # devip's packets with protocol unreachable
    host.quiet = host.ns_socket(socket.AF_INET, socket.SOCK_RAW, 47)
    yield host
    host.quiet.close()


def gre_frames(frames):
    return [e for e in (Ether(f) for f in frames) if IP in e and e[IP].proto == 47]


def to_devip(d, pkt, src=LINUX_IP):
    return bytes(Ether(dst=bytes.fromhex(d.mac), src=LINUX_MAC) / IP(src=src, dst=DEVIP_IP) / pkt)


def test_cooked_write_decoded_by_scapy_and_tshark(gre_host, tmp_path):
    d = gre_host
    w = d.wire()
    c = Conv(d, "gre")
    c.ctl("connect %s!2048" % LINUX_IP)
    w.drain()
    c.write(bytes(8) + b"\x00\x00\x00\x00" + bytes(INNER))  # addresses and type filled in
    c.write(bytes(8) + bytes(GRE(key_present=1, key=7, proto=0)) + bytes(INNER))
    got = gre_frames(w.recv(until=lambda g: len(gre_frames(g)) >= 2, timeout=5))
    assert len(got) == 2
    for e in got:
        assert e[IP].src == DEVIP_IP and e[IP].dst == LINUX_IP
        assert e[GRE].proto == 0x0800
        assert bytes(e[GRE].payload) == bytes(INNER)
    assert got[1][GRE].key_present == 1 and got[1][GRE].key == 7
    pcap = tmp_path / "gre.pcap"
    wrpcap(str(pcap), got)
    r = subprocess.run(["tshark", "-r", str(pcap), "-T", "fields", "-e", "gre.proto",
                        "-e", "gre.key", "-e", "ip.dst", "-e", "udp.dstport"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = [l.split("\t") for l in r.stdout.splitlines()]
    assert lines[0] == ["0x0800", "", "%s,10.8.0.2" % LINUX_IP, "9"], lines
    assert lines[1] == ["0x0800", "0x00000007", "%s,10.8.0.2" % LINUX_IP, "9"], lines
    st = d.cat("/net/gre/stats")
    assert st.startswith("gre: 0 2 0 0 0 ") and st.endswith(", lenerrs 0\n"), st
    c.close()


def test_read_has_address_prefix_and_gre_header(gre_host):
    d = gre_host
    w = d.wire()
    c = Conv(d, "gre")
    c.ctl("connect %s!34827" % LINUX_IP)  # PPP, as pptp dials it
    g = GRE(key_present=1, seqnum_present=1, key=0x1234, sequence_number=5, proto=0x880B)
    w.send([to_devip(d, g / bytes(INNER))])
    b = c.read()
    assert b[:8] == A_LINUX + A_DEVIP
    assert b[8:] == bytes(g / bytes(INNER))
    c.close()


def test_delivery_needs_source_unless_raw(gre_host):
    d = gre_host
    w = d.wire()
    c = Conv(d, "gre")
    c.ctl("connect %s!2048" % LINUX_IP)
    other = "198.18.0.77"
    w.send([to_devip(d, GRE(proto=0x0800) / INNER, src=other)])
    w.sync()
    c.ctl("raw")
    w.send([to_devip(d, GRE(proto=0x0800) / INNER, src=other)])
    b = c.read()  # only the second: the first was not this conversation's
    assert b[:4] == socket.inet_aton(other)
    assert c.cat("status").startswith("Open raw hoa 0.0.0.0 ")
    with pytest.raises(ninep.NinepError, match="^no such command$"):
        c.ctl("frob")
    with pytest.raises(ninep.NinepError, match="^incorrect number of arguments$"):
        c.ctl("cooked now")
    c.close()


def test_retunnel_downlink_on_the_wire(gre_host):
    d = gre_host
    w = d.wire()
    c = Conv(d, "gre")
    c.ctl("retunnel 10.0.0.5 %s %s %s" % (LINUX_IP, LINUX_IP, DEVIP_IP))
    inner = IP(src="10.8.0.9", dst="10.0.0.5") / UDP(sport=1, dport=2) / Raw(b"to the mobile")
    w.drain()
    w.send([to_devip(d, GRE(key_present=1, key=3, proto=0x0800) / inner)])
    got = gre_frames(w.recv(until=lambda g: len(gre_frames(g)) >= 1, timeout=5))
    assert len(got) == 1
    e = got[0]
    assert e[IP].src == DEVIP_IP and e[IP].dst == LINUX_IP and e[IP].ttl == 63
    assert e[GRE].seqnum_present == 1 and e[GRE].key_present == 0
    assert e[GRE].sequence_number == 0
    assert bytes(e[GRE].payload) == bytes(inner)
    # retunnel starts with the uplink suspended (§3.9)
    assert c.cat("status") == ("Open UL suspended hoa 10.0.0.5 north %s south %s seq 1 "
                               "pending 0  1 buffered dl 0 0 ul 0 0 ulkey 00000000\n"
                               % (LINUX_IP, LINUX_IP))
    c.ctl("report 1")
    assert " pending 1  1 " in c.cat("status")
    c.close()
