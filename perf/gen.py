#!/usr/bin/env python3
"""Inputs of the forwarding benchmark (perf/run.sh), all deterministic.

  gen.py routes OUT N [--seed S]     N IPv4 routes shaped like a BGP table, one
                                     "add PREFIX /LEN GATEWAY" line each (a write to
                                     /net/iproute)
  gen.py pcap OUT {4|6} [--routes FILE] [--count N] [--seed S]
                                     64-byte UDP frames (60 B captured + FCS) for the
                                     pcap port; IPv4 destinations are hosts inside
                                     prefixes drawn from FILE (else from a fresh table)

Addressing (benchmarking ranges for everything that is ours):
  ether0 (input)   198.18.0.1/24, 2001:2::1/64; sources 198.18.0.10+, 2001:2::10+
  ether1 (output)  198.19.0.1/24, 2001:2:0:1::1/64; gateways 198.19.0.2-5,
                   2001:2:0:1::2 (static ARP entries: ports are drop sinks)
  IPv4 destinations are hosts in the synthetic table, which spans the unicast space
  minus private, reserved and benchmarking blocks; the frames never leave the process
  (net_pcap in, net_null out). IPv6 destinations are 2001:2:0:100::/56 hosts.
Frames are addressed to net_pcap0's MAC, 02:70:63:61:70:00.
No dependencies; checksums computed here.
"""
import argparse
import ipaddress
import random
import struct
import sys

PORT0_MAC = bytes.fromhex("027063617000")   # net_pcap's MAC for the first pcap vdev
PEER_MAC = bytes.fromhex("02000000aa01")    # the imaginary sender on ether0
GATEWAYS = ["198.19.0.2", "198.19.0.3", "198.19.0.4", "198.19.0.5"]

# Prefix-length mix of an IPv4 default-free zone table (rounded shares of a ~1 M
# table as published by routing-table reports in the mid 2020s): /24 ~60 %, /22 and
# /23 ~22 %, /16-/21 ~16 %, shorter ~0.5 %; plus a few longer prefixes (/25-/32) that
# real tables filter but internal ones carry, so that some lookups use DIR24_8's tbl8.
SHARE = {
    8: 0.000016, 9: 0.000013, 10: 0.00004, 11: 0.0001, 12: 0.0003, 13: 0.0006,
    14: 0.0012, 15: 0.0022, 16: 0.0135, 17: 0.0085, 18: 0.0145, 19: 0.027,
    20: 0.045, 21: 0.055, 22: 0.125, 23: 0.100,
    25: 0.0008, 26: 0.0006, 27: 0.0004, 28: 0.0003, 29: 0.0003, 30: 0.0003,
    31: 0.0001, 32: 0.0003,
}  # /24 takes the rest

# Never in the table: this-network, private, CGN, loopback, link-local, IETF,
# documentation, benchmarking (our own interfaces), multicast and reserved.
EXCLUDED = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/3")]
EXCL = [(int(n.network_address), n.prefixlen) for n in EXCLUDED]


def mask(length):
    return (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF if length else 0


def overlaps_excluded(net, length):
    for enet, elen in EXCL:
        m = mask(min(length, elen))
        if (net & m) == (enet & m):
            return True
    return False


def counts(n):
    c = {l: int(round(s * n)) for l, s in SHARE.items()}
    c = {l: v for l, v in c.items() if v > 0 or n >= 1000}
    c[24] = n - sum(c.values())
    return dict(sorted(c.items()))


def routes(n, seed):
    """[(net, len, gateway)] in a deterministic shuffled order, unique prefixes."""
    rng = random.Random(seed)
    out = []
    for length, k in counts(n).items():
        seen = set()
        while len(seen) < k:
            net = rng.getrandbits(32) & mask(length)
            if net in seen or overlaps_excluded(net, length):
                continue
            seen.add(net)
        out.extend((net, length) for net in sorted(seen))
    rng.shuffle(out)  # a BGP feed is not sorted by length
    return [(net, length, GATEWAYS[rng.randrange(len(GATEWAYS))]) for net, length in out]


def ntoa(a):
    return "%d.%d.%d.%d" % (a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255)


def cmd_routes(a):
    rs = routes(a.n, a.seed)
    with open(a.out, "w") as f:
        for net, length, gw in rs:
            f.write("add %s /%d %s\n" % (ntoa(net), length, gw))
    hist = counts(a.n)
    print("%s: %d routes; lengths %s" % (a.out, len(rs), " ".join(
        "/%d:%d" % (l, c) for l, c in hist.items() if c)), file=sys.stderr)


def read_routes(path):
    out = []
    with open(path) as f:
        for line in f:
            w = line.split()
            if len(w) >= 3 and w[0] == "add":
                out.append((int(ipaddress.IPv4Address(w[1])), int(w[2].lstrip("/"))))
    return out


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp(src, dst, sport, dport, payload, pseudo_tail):
    ln = 8 + len(payload)
    pseudo = src + dst + pseudo_tail(ln)
    c = csum(pseudo + struct.pack("!HHHH", sport, dport, ln, 0) + payload) or 0xFFFF
    return struct.pack("!HHHH", sport, dport, ln, c) + payload


def frame4(src, dst, ident, size=60):
    plen = size - 14 - 20 - 8
    payload = bytes((ident + i) & 255 for i in range(plen))
    u = udp(src, dst, 1024 + ident % 60000, 9, payload,
            lambda ln: struct.pack("!BBH", 0, 17, ln))
    h = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(u), ident & 0xFFFF, 0,
                              64, 17, 0, src, dst))
    h[10:12] = struct.pack("!H", csum(bytes(h)))
    return PORT0_MAC + PEER_MAC + b"\x08\x00" + bytes(h) + u


def frame6(src, dst, ident, size=64):
    plen = size - 14 - 40 - 8
    payload = bytes((ident + i) & 255 for i in range(plen))
    u = udp(src, dst, 1024 + ident % 60000, 9, payload,
            lambda ln: struct.pack("!I3xB", ln, 17))
    h = struct.pack("!IHBB16s16s", 6 << 28, len(u), 17, 64, src, dst)
    return PORT0_MAC + PEER_MAC + b"\x86\xdd" + h + u


def cmd_pcap(a):
    rng = random.Random(a.seed + 1)
    frames = []
    if a.family == "4":
        table = read_routes(a.routes) if a.routes else [(n, l) for n, l, _ in routes(
            1000000, a.seed)]
        picks = rng.sample(range(len(table)), a.count)
        for i, k in enumerate(picks):
            net, length = table[k]
            host = net | (rng.getrandbits(32 - length) if length < 32 else 0)
            if length < 31:  # not the network or broadcast address of the prefix
                host = net | max(1, min(host & ~mask(length) & 0xFFFFFFFF,
                                        (1 << (32 - length)) - 2))
            src = struct.pack("!I", int(ipaddress.IPv4Address("198.18.0.10")) + i % 200)
            frames.append(frame4(src, struct.pack("!I", host), i))
    else:
        base = int(ipaddress.IPv6Address("2001:2:0:100::"))
        for i in range(a.count):
            src = ipaddress.IPv6Address("2001:2::%x" % (0x10 + i % 200)).packed
            dst = (base | (rng.randrange(256) << 64) | rng.getrandbits(64) | 1).to_bytes(
                16, "big")
            frames.append(frame6(src, dst, i))
    with open(a.out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 0, i, len(fr), len(fr)) + fr)
    print("%s: %d IPv%s frames of %d bytes" % (a.out, len(frames), a.family, len(frames[0])),
          file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("routes")
    r.add_argument("out")
    r.add_argument("n", type=int)
    r.add_argument("--seed", type=int, default=9)
    p = sub.add_parser("pcap")
    p.add_argument("out")
    p.add_argument("family", choices=["4", "6"])
    p.add_argument("--routes")
    p.add_argument("--count", type=int, default=1024)
    p.add_argument("--seed", type=int, default=9)
    a = ap.parse_args()
    {"routes": cmd_routes, "pcap": cmd_pcap}[a.cmd](a)


if __name__ == "__main__":
    main()
