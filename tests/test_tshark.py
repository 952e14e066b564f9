"""tshark, an independent decoder, reads what devip puts on the wire: checksums good, headers
as ip3.md says (§4.4 output, §4.4.2 ICMP errors, §4.8.1 echo, §4.7.3 UDP, §4.14 ARP)."""
import os
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import DEVIP_IP, LINUX_IP, LINUX_MAC, _finish, _host, in_netns, mac_colons
from udp_util import udp_recv

GOOD = "1"  # wireshark checksum status: 0 bad, 1 good, 2 unverified
UDP_PAYLOAD = b"decode me, tshark \x00\x01\xfe\xff"
FIELDS = ["frame.number", "frame.len", "eth.src", "eth.dst", "frame.protocols", "ip.src",
          "ip.dst", "ip.version", "ip.hdr_len", "ip.len", "ip.id", "ip.flags.df", "ip.flags.mf",
          "ip.frag_offset", "ip.ttl", "ip.proto", "ip.checksum.status", "icmp.type",
          "icmp.code", "icmp.checksum.status", "icmp.ident", "icmp.seq", "udp.srcport",
          "udp.dstport", "udp.length", "udp.checksum.status", "data.data", "arp.opcode",
          "arp.src.hw_mac", "arp.src.proto_ipv4", "arp.dst.hw_mac", "arp.dst.proto_ipv4",
          "arp.hw.type", "arp.proto.type", "arp.hw.size", "arp.proto.size", "_ws.malformed",
          "_ws.expert.severity"]


class Capture:
    """Every frame on a tap, both directions, from an AF_PACKET socket opened before the
    traffic starts (a live tshark reports "Capturing" before it really is), written as a pcap
    file for tshark to decode."""

    def __init__(self, d, ifname="dtap0"):
        def mk():
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
            s.bind((ifname, 0))
            return s
        self.sock = in_netns(d.ns, mk)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.settimeout(0.1)
        self.frames = []
        self.running = True
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while self.running:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            self.frames.append((time.time(), data))

    def stop(self, path):
        time.sleep(0.3)
        self.running = False
        self.t.join(5)
        self.sock.close()
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # Ethernet
            for ts, data in self.frames:
                f.write(struct.pack("<IIII", int(ts), int(ts % 1 * 1e6), len(data), len(data)))
                f.write(data)


def decode(path):
    args = ["tshark", "-r", path, "-o", "ip.check_checksum:TRUE",
            "-o", "udp.check_checksum:TRUE", "-T", "fields", "-E", "separator=|"]
    for f in FIELDS:
        args += ["-e", f]
    r = subprocess.run(args, capture_output=True, check=True)
    pkts = []
    for line in r.stdout.decode().splitlines():
        vals = line.split("|")
        pkts.append({k: v.split(",") if "," in v else v for k, v in zip(FIELDS, vals)})
    return pkts


@pytest.fixture(scope="module")
def capture():
    """One devipd and one capture of a scripted exchange; tests read the decoded packets."""
    d = _host()
    try:
        cap = os.path.join(d.dir, "cap.pcap")
        t = Capture(d)
        d.ns_run("ping -c 2 -i 0.2 -p 5a -s 100 %s" % DEVIP_IP)           # echo replies
        d.ipctl("ping", "-c", "3", "-i", "0.2", "-s", "64", LINUX_IP)        # echo requests
        d.ipctl("ping", "-c", "1", "-s", "3000", LINUX_IP)                   # fragmented
        s = d.ns_socket()
        s.bind((LINUX_IP, 7401))
        d.ipctl("dial", "-w", "0", "udp!%s!7401" % LINUX_IP, input=UDP_PAYLOAD)
        udp_recv(s)
        s.close()
        c = d.ns_socket()
        c.sendto(b"s" * 20, (DEVIP_IP, 7999))                                 # port unreachable
        c.sendto(b"L" * 200, (DEVIP_IP, 7999))
        c.close()
        d.ns_run("ip neigh flush dev dtap0")                                 # Linux must ARP
        d.ns_run("ping -c 1 %s" % DEVIP_IP)
        d.ipctl("write", "/net/arp", "flush")                                # devip must ARP
        d.ipctl("ping", "-c", "1", LINUX_IP)
        t.stop(cap)
        pkts = decode(cap)
        pkts_mac = d.mac
    except BaseException:
        _finish(d)
        raise
    yield {"pkts": pkts, "mac": mac_colons(pkts_mac)}
    _finish(d)


def ours(cap):
    return [p for p in cap["pkts"] if p["eth.src"] == cap["mac"]]


def ip_from_us(cap, proto):
    return [p for p in ours(cap) if "ip" in p["frame.protocols"].split(":")
            and (p["ip.proto"][0] if isinstance(p["ip.proto"], list) else p["ip.proto"]) == proto]


def first(v):
    return v[0] if isinstance(v, list) else v


def test_capture_holds_our_frames(capture):
    assert len(ours(capture)) >= 10


def test_no_malformed_frames_from_devip(capture):
    bad = [p for p in ours(capture) if p["_ws.malformed"] or
           "0" in (p["ip.checksum.status"] if isinstance(p["ip.checksum.status"], list)
                   else [p["ip.checksum.status"]])]
    assert not bad, bad


def test_echo_requests_from_ipctl_ping(capture):
    reqs = [p for p in ip_from_us(capture, "1") if first(p["icmp.type"]) == "8"
            and p["ip.len"] == "92"]
    assert len(reqs) == 3
    for p in reqs:
        assert (p["ip.version"], p["ip.hdr_len"], p["ip.ttl"], p["ip.flags.df"]) == \
            ("4", "20", "255", "0"), p
        assert (p["ip.src"], p["ip.dst"]) == (DEVIP_IP, LINUX_IP)
        assert p["ip.checksum.status"] == GOOD and p["icmp.checksum.status"] == GOOD, p
        assert p["eth.dst"] == LINUX_MAC
    idents = {p["icmp.ident"] for p in reqs}
    assert len(idents) == 1 and 32768 <= int(idents.pop()) <= 65535  # the conv's local port
    seqs = [int(p["icmp.seq"]) for p in reqs]
    assert seqs == [seqs[0], seqs[0] + 1, seqs[0] + 2]
    ids = [int(p["ip.id"], 16) for p in reqs]
    assert len(set(ids)) == 3  # a per-stack counter, one per packet


def test_echo_replies_to_linux_ping(capture):
    reps = [p for p in ip_from_us(capture, "1") if first(p["icmp.type"]) == "0"
            and p["ip.len"] == "128"]
    assert len(reps) == 2
    reqs = {(p["icmp.ident"], p["icmp.seq"]): p for p in capture["pkts"]
            if p["eth.src"] == LINUX_MAC and p["icmp.type"] == "8" and p["ip.len"] == "128"}
    for p in reps:
        assert p["ip.ttl"] == "255" and p["ip.hdr_len"] == "20"
        assert p["ip.checksum.status"] == GOOD and p["icmp.checksum.status"] == GOOD, p
        q = reqs[(p["icmp.ident"], p["icmp.seq"])]
        assert p["data.data"] == q["data.data"]  # payload echoed byte for byte
        assert (p["ip.src"], p["ip.dst"]) == (DEVIP_IP, LINUX_IP)


def test_echo_replies_never_set_df(capture):
    reps = [p for p in ip_from_us(capture, "1") if first(p["icmp.type"]) == "0"]
    assert reps and all(p["ip.flags.df"] == "0" for p in reps), \
        [(p["ip.id"], p["ip.flags.df"]) for p in reps]


def test_echo_replies_take_ip_id_from_stack_counter(capture):
    req_ids = {p["ip.id"] for p in capture["pkts"]
               if p["eth.src"] == LINUX_MAC and p["icmp.type"] == "8"}
    reps = [p for p in ip_from_us(capture, "1") if first(p["icmp.type"]) == "0"]
    assert reps and not [p for p in reps if p["ip.id"] in req_ids]


def test_fragmented_echo_request_decodes(capture):
    frags = [p for p in ip_from_us(capture, "1") if first(p["ip.flags.mf"]) == "1"
             or first(p["ip.frag_offset"]) != "0"]
    # 3008 bytes of ICMP in 1480-byte pieces: offsets 0, 1480, 2960 (tshark shows 8-byte units)
    assert sorted(int(p["ip.frag_offset"]) * 8 for p in frags) == [0, 1480, 2960]
    assert [p["ip.flags.mf"] for p in sorted(frags, key=lambda p: int(p["ip.frag_offset"]))] == \
        ["1", "1", "0"]
    assert [p["ip.len"] for p in sorted(frags, key=lambda p: int(p["ip.frag_offset"]))] == \
        ["1500", "1500", "68"]
    assert len({p["ip.id"] for p in frags}) == 1
    assert all(p["ip.checksum.status"] == GOOD for p in frags)
    last = [p for p in frags if p["ip.flags.mf"] == "0"][0]
    assert first(last["icmp.type"]) == "8" and last["icmp.checksum.status"] == GOOD, last


def test_udp_datagram_decodes(capture):
    udps = [p for p in ip_from_us(capture, "17") if p["udp.dstport"] == "7401"]
    assert len(udps) == 1
    p = udps[0]
    assert p["udp.checksum.status"] == GOOD and p["ip.checksum.status"] == GOOD, p
    assert int(p["udp.length"]) == 8 + len(UDP_PAYLOAD)
    assert bytes.fromhex(p["data.data"]) == UDP_PAYLOAD
    assert (p["ip.ttl"], p["ip.flags.df"], p["ip.hdr_len"]) == ("255", "0", "20")
    assert 32768 <= int(p["udp.srcport"]) <= 65535


def test_port_unreachable_decodes(capture):
    errs = [p for p in ip_from_us(capture, "1") if first(p["icmp.type"]) == "3"]
    assert len(errs) == 2
    for p in errs:
        assert first(p["icmp.code"]) == "3"
        assert p["icmp.checksum.status"] == GOOD and first(p["ip.checksum.status"]) == GOOD, p
        # outer header, then the offending datagram's own header
        assert p["ip.src"] == [DEVIP_IP, LINUX_IP] and p["ip.dst"] == [LINUX_IP, DEVIP_IP]
        assert p["ip.ttl"][0] == "255"
        assert p["udp.dstport"] == "7999"
        # 28 bytes of IP and ICMP header plus the first 40 bytes of the offender (§4.4.2)
        assert p["ip.len"][0] == "68", p["ip.len"]


def test_arp_reply_decodes(capture):
    reps = [p for p in ours(capture) if p["arp.opcode"] == "2"]
    assert reps
    for p in reps:
        assert (p["arp.src.hw_mac"], p["arp.src.proto_ipv4"]) == (capture["mac"], DEVIP_IP)
        assert (p["arp.dst.hw_mac"], p["arp.dst.proto_ipv4"]) == (LINUX_MAC, LINUX_IP)
        assert (p["arp.hw.type"], p["arp.proto.type"], p["arp.hw.size"], p["arp.proto.size"]) \
            == ("1", "0x0800", "6", "4")
        assert p["eth.dst"] == LINUX_MAC  # unicast to the requester


def test_arp_request_decodes(capture):
    reqs = [p for p in ours(capture) if p["arp.opcode"] == "1"]
    assert reqs
    p = reqs[-1]
    assert p["eth.dst"] == "ff:ff:ff:ff:ff:ff"
    assert (p["arp.src.hw_mac"], p["arp.src.proto_ipv4"]) == (capture["mac"], DEVIP_IP)
    assert p["arp.dst.proto_ipv4"] == LINUX_IP


def test_ethernet_output_padded_to_60_bytes(capture):
    # ether medium output is padded to the 60-byte minimum (§4.2.1)
    short = [p for p in ours(capture) if int(p["frame.len"]) < 60]
    assert not short, short
