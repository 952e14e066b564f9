"""A seeded burst of malformed and odd frames from Linux's side, with the counts of each
kind so tests can check that the right counters moved."""
import itertools
import random
import socket
import struct
from collections import Counter

from conftest import DEVIP_IP, LINUX_IP, LINUX_MAC, mac_colons
from frames import ICMP, IP, UDP, Ether, IPOption, Raw, fragment

_frag_ids = itertools.count(0x9000)


def _hdr(e, **fields):
    p = Ether(bytes(e))
    for k, v in fields.items():
        setattr(p[IP], k, v)
    del p[IP].chksum
    return bytes(p)


def _flip(frame, off):
    b = bytearray(frame)
    b[off] ^= 0xA5
    return bytes(b)


def make_burst(mac, n, seed, incomplete_fragments=True):
    """Returns (frames, Counter of kinds). mac: devip's MAC, 12 hex digits."""
    rng = random.Random(seed)
    dmac = mac_colons(mac)

    def eth(dst=dmac, etype=0x800):
        return Ether(src=LINUX_MAC, dst=dst, type=etype)

    def ip(**kw):
        kw.setdefault("src", LINUX_IP)
        kw.setdefault("dst", DEVIP_IP)
        return IP(**kw)

    def echo(payload=b"burst"):
        return eth() / ip() / ICMP(type=8, id=rng.randrange(65536), seq=rng.randrange(65536)) / \
            Raw(payload)

    def udp(dport=None, payload=None, **kw):
        return eth() / ip(**kw) / UDP(sport=rng.randrange(1024, 65536),
                                      dport=dport or rng.randrange(20000, 30000)) / \
            Raw(payload if payload is not None else rng.randbytes(rng.randrange(0, 64)))

    def frags(kind):
        fsize = rng.choice([64, 256, 512, 1400])
        size = rng.randrange(200, 1200) if fsize == 64 else rng.randrange(600, 4000)
        pkt = ip(id=next(_frag_ids)) / (ICMP(type=8, id=rng.randrange(65536)) if rng.random() < .5
                                        else UDP(sport=1234, dport=rng.randrange(20000, 30000))) \
            / Raw(rng.randbytes(size))
        fs = [eth() / f for f in fragment(pkt, fragsize=fsize)]
        if kind == "frag_lone":
            return [bytes(fs[rng.randrange(len(fs))])]
        if kind == "frag_overlap":
            extra = [fs[rng.randrange(len(fs))] for _ in range(2)]
            fs = fs + extra
        out = [bytes(f) for f in fs]
        rng.shuffle(out)
        return out

    def frag_too_big():
        # last fragment ending beyond 65535: reassembly must fail, not overflow
        p = ip(id=next(_frag_ids), flags=0, frag=8180, proto=17) / Raw(rng.randbytes(200))
        return [bytes(eth() / p)]

    def arp_odd():
        # built by hand: the declared lengths and types need not match the body
        f = dict(hwtype=1, ptype=0x800, hwlen=6, plen=4, op=rng.choice([1, 1, 2, 3, 0, 9]))
        for k, vals in (("hwtype", [1, 6, 0, 0xffff]), ("ptype", [0x800, 0x86dd, 0]),
                        ("hwlen", [6, 0, 8, 255]), ("plen", [4, 0, 6, 16])):
            if rng.random() < .3:
                f[k] = rng.choice(vals)
        tpa = rng.choice([DEVIP_IP, "198.18.0.77", "0.0.0.0", "255.255.255.255"])
        body = struct.pack("!HHBBH", f["hwtype"], f["ptype"], f["hwlen"], f["plen"], f["op"]) + \
            bytes.fromhex(LINUX_MAC.replace(":", "")) + socket.inet_aton(LINUX_IP) + \
            bytes(6) + socket.inet_aton(tpa)
        b = bytes(Ether(src=LINUX_MAC, dst="ff:ff:ff:ff:ff:ff", type=0x806)) + body
        if rng.random() < .3:
            b = b[:rng.randrange(14, len(b))]
        return [b]

    def garbage():
        et = rng.choice([0x800, 0x806, 0x86dd, rng.randrange(65536)])
        dst = rng.choice([dmac, "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "33:33:00:00:00:01"])
        return [bytes(eth(dst, et)) + rng.randbytes(rng.randrange(0, 1500))]

    def ip_random():
        # a good header checksum over random fields and a random payload, for us
        p = ip(proto=rng.randrange(256), tos=rng.randrange(256), ttl=rng.randrange(256),
               flags=rng.randrange(8), frag=rng.choice([0, 0, 0, rng.randrange(8192)]),
               id=next(_frag_ids)) / Raw(rng.randbytes(rng.randrange(0, 200)))
        return [bytes(eth() / p)]

    def ipv6_garbage():
        return [bytes(eth(etype=0x86dd)) + bytes([0x60]) + rng.randbytes(rng.randrange(0, 120))]

    kinds = {
        # kind: (weight, builder)
        "ip_badsum": (8, lambda: [_flip(bytes(echo()), 14 + 10)]),
        "ip_badver": (4, lambda: [_hdr(echo(), version=rng.choice([0, 1, 5, 7, 15]))]),
        "ip_ihl_small": (4, lambda: [_hdr(echo(), ihl=rng.randrange(0, 5))]),
        "ip_ihl_big": (4, lambda: [_hdr(echo(b""), ihl=15)]),
        "ip_len_big": (4, lambda: [_hdr(echo(), len=rng.randrange(100, 65536))]),
        "ip_len_small": (4, lambda: [_hdr(echo(), len=rng.randrange(0, 20))]),
        "icmp_badsum": (6, lambda: [_flip(bytes(echo()), 14 + 20 + 2)]),
        "icmp_short": (3, lambda: [bytes(eth() / ip(proto=1) /
                                         Raw(rng.randbytes(rng.randrange(8))))]),
        "udp_badsum": (6, lambda: [_flip(bytes(udp(payload=b"bad-sum-%d" % rng.randrange(1000))),
                                         14 + 26)]),
        "udp_badlen": (3, lambda: [bytes(_setlen(udp(payload=b"xxxxxxxx"), rng))]),
        "udp_closed": (3, lambda: [bytes(udp())]),
        "ip_options": (3, lambda: [bytes(eth() / ip(options=[IPOption(b"\x01"), IPOption(
            b"\x07\x07\x04\x00\x00\x00\x00")]) / ICMP(type=8) / Raw(b"opts"))]),
        "frag_complete": (4, lambda: frags("frag_complete")),
        "frag_overlap": (2, lambda: frags("frag_overlap")),
        "frag_too_big": (1, frag_too_big),
        "arp_odd": (6, arp_odd),
        "short": (4, lambda: [bytes(echo())[:rng.randrange(14, 34)]]),
        "garbage": (10, garbage),
        "ip_random": (8, ip_random),
        "ipv6_garbage": (3, ipv6_garbage),
        "ip_not_for_us": (2, lambda: [bytes(eth() / ip(dst="198.18.0.%d" % rng.randrange(3, 250))
                                            / ICMP(type=8) / Raw(b"elsewhere"))]),
        "other_mac": (2, lambda: [bytes(Ether(src=LINUX_MAC, dst="02:18:00:00:00:99") / ip()
                                        / ICMP(type=8) / Raw(b"not-you"))]),
    }
    if incomplete_fragments:
        kinds["frag_lone"] = (2, lambda: frags("frag_lone"))
    names = sorted(kinds)
    weights = [kinds[k][0] for k in names]
    frames, counts = [], Counter()
    while len(frames) < n:
        k = rng.choices(names, weights)[0]
        fs = kinds[k][1]()
        frames += fs
        counts[k] += 1
        counts[k + "_frames"] += len(fs)
    return frames, counts


def _setlen(p, rng):
    """UDP length field larger than the payload that follows."""
    p[UDP].len = 8 + 8 + rng.randrange(1, 1000)
    del p[UDP].chksum
    return p
