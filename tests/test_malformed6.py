"""Crafted and malformed IPv6, ICMPv6 and neighbour discovery from Linux's side of the tap:
each kind is dropped and counted where ip3.md says (§2.6, §2.10, §4.4, §4.4.1, §4.8.2,
§4.14.2; RFC 4861 §6.1, §7.1), bad router advertisements teach devip nothing, fragments
follow 9front's reassembly rules, the daemon keeps going and ping6 still works after."""
import itertools
import random
import re

import pytest
from scapy.layers.inet6 import (ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS,
                                ICMPv6ND_RA, ICMPv6NDOptMTU, ICMPv6NDOptPrefixInfo,
                                ICMPv6NDOptSrcLLAddr, ICMPv6NDOptDstLLAddr, IPv6,
                                IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop,
                                IPv6ExtHdrRouting, UDP, in6_chksum)
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from conftest import Devip, LINUX_MAC, mac_colons, parse_stats, wait_for

ME, PEER = "2001:2:0:1::1", "2001:2:0:1::2"
ME_LL, PEER_LL = "fe80::1", "fe80::2"
SOLICITED_ME = "ff02::1:ff00:1"

CONF = """\
/net/ipifc/clone bind ether /net/ether0
/net/ipifc/0/ctl add 198.18.0.1 255.255.255.0
/net/ipifc/0/ctl add fe80::1 /64
/net/ipifc/0/ctl add 2001:2:0:1::1 /64
/net/ipifc/0/ctl ra6 recvra 1
/net/arp add 2001:2:0:1::2 %s
/net/arp add fe80::2 %s
""" % (LINUX_MAC.replace(":", ""), LINUX_MAC.replace(":", ""))

_ids = itertools.count(0x6100)


@pytest.fixture(scope="module")
def h6():
    d = Devip(config=CONF)  # Linux's side has IPv6 off: only our frames reach devip
    try:
        d.start()
    except BaseException:
        d.close()
        raise
    yield d
    try:
        d.stop()
    finally:
        d.close()


@pytest.fixture(scope="module")
def wire(h6):
    return h6.wire()


def mcast_mac(addr):
    import ipaddress
    b = ipaddress.IPv6Address(addr).packed
    return "33:33:%02x:%02x:%02x:%02x" % tuple(b[12:])


def eth(d, dst=ME):
    to = mcast_mac(dst) if dst.startswith("ff") else mac_colons(d.mac)
    return Ether(src=LINUX_MAC, dst=to)


def ip6(d, src=PEER, dst=ME, **kw):
    return eth(d, dst) / IPv6(src=src, dst=dst, **kw)


def echo(d, ident=None, payload=b"devip-echo6", **kw):
    ident = next(_ids) if ident is None else ident
    return ip6(d, **kw) / ICMPv6EchoRequest(id=ident, seq=1, data=payload)


def replies(frames, ident):
    out = []
    for f in frames:
        p = Ether(f)
        if ICMPv6EchoReply in p and p[ICMPv6EchoReply].id == ident:
            out.append(p)
    return out


def delta(d, wire, path, frames, keys):
    before = parse_stats(d.cat(path))
    got = wire.exchange([bytes(f) for f in frames])
    after = parse_stats(d.cat(path))
    return {k: after[k] - before[k] for k in keys}, got


def assert_echo6_works(d, wire):
    p = echo(d)
    wire.drain()
    wire.send([bytes(p)])
    got = wire.recv(until=lambda f: replies(f, p[ICMPv6EchoRequest].id), timeout=15)
    assert replies(got, p[ICMPv6EchoRequest].id), "devip stopped answering ICMPv6 echo"


def raw_ip6(d, hdr_and_payload):
    e = eth(d)
    e.type = 0x86DD
    return bytes(e) + bytes(hdr_and_payload)


# ---- IPv6 header and extension header errors: InHdrErrors ----------------------------------

def truncated(d):
    # a payload length that the link's zero padding (to 60 bytes) cannot satisfy either
    return raw_ip6(d, bytes(IPv6(src=PEER, dst=ME, plen=0xffff))[:20])


def version4(d):
    b = bytearray(bytes(echo(d)))
    b[14] = (b[14] & 0x0F) | 0x40
    return bytes(b)


HEADER_ERRORS = {
    "truncated_header": truncated,
    "version_4_in_ipv6_ethertype": version4,
    "payload_length_beyond_frame": lambda d: echo(d, plen=1000),
    "hop_by_hop_past_end": lambda d: ip6(d, nh=0, plen=8) / Raw(b"\x3a\x05" + bytes(6)),
    "routing_header_past_end": lambda d: ip6(d, nh=43, plen=8) / Raw(b"\x3a\x09" + bytes(6)),
    "fragment_after_fragment": lambda d: ip6(d) / IPv6ExtHdrFragment(nh=44, id=1) /
    IPv6ExtHdrFragment(nh=58, id=1) / ICMPv6EchoRequest(),
    "fragment_header_cut_short": lambda d: ip6(d, nh=44, plen=4) / Raw(b"\x3a\x00\x00\x00"),
}


@pytest.mark.parametrize("kind", sorted(HEADER_ERRORS))
def test_bad_ipv6_header_counted_in_InHdrErrors(h6, wire, kind):
    frames = [HEADER_ERRORS[kind](h6) for _ in range(5)]
    dl, got = delta(h6, wire, "/net/ipifc/stats", frames, ["InHdrErrors", "InDelivers"])
    assert dl == {"InHdrErrors": 5, "InDelivers": 0}
    assert not [f for f in got if ICMPv6EchoReply in Ether(f)]
    assert_echo6_works(h6, wire)


def test_extension_headers_in_front_are_not_skipped(h6, wire):
    # quirk 9: a chain of destination options is walked only for a fragment header; the
    # packet goes to the protocol of the fixed header (60), which has no handler.
    chain = ip6(h6)
    for _ in range(10):
        chain = chain / IPv6ExtHdrDestOpt()
    frames = [chain / UDP(sport=1, dport=2) / Raw(b"x")] * 3
    frames.append(ip6(h6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting() / UDP() / Raw(b"y"))
    dl, _ = delta(h6, wire, "/net/ipifc/stats", frames, ["InUnknownProtos", "InHdrErrors"])
    assert dl == {"InUnknownProtos": 4, "InHdrErrors": 0}


def test_payload_length_shorter_than_frame_trims(h6, wire):
    # the bytes past the payload length are link padding: trimmed, then the echo is whole
    p = echo(h6, payload=b"trim-me")
    b = bytes(p) + b"\xee" * 40
    wire.drain()
    wire.send([b])
    got = replies(wire.recv(until=lambda f: replies(f, p[ICMPv6EchoRequest].id), timeout=15),
                  p[ICMPv6EchoRequest].id)
    assert got and got[0][ICMPv6EchoReply].data == b"trim-me"


# ---- ICMPv6 and ND validity (§4.8.2; RFC 4861 §6.1.1, §6.1.2, §7.1.1, §7.1.2) ----------------

def ns(d, target=ME, hop=255, src=PEER, dst=SOLICITED_ME, opt=True, optlen=1):
    p = ip6(d, src=src, dst=dst, hlim=hop) / ICMPv6ND_NS(tgt=target)
    if opt:
        p = p / ICMPv6NDOptSrcLLAddr(lladdr=LINUX_MAC, len=optlen)
    return p


def na(d, hop=255, dst=ME, solicited=1):
    return ip6(d, dst=dst, hlim=hop) / ICMPv6ND_NA(tgt=PEER, R=0, S=solicited, O=1) / \
        ICMPv6NDOptDstLLAddr(lladdr=LINUX_MAC)


def ra(d, hop=255, src=PEER_LL, code=0, routerlife=1800, opts=None):
    p = ip6(d, src=src, dst="ff02::1", hlim=hop) / ICMPv6ND_RA(code=code, routerlifetime=routerlife)
    for o in opts if opts is not None else [ICMPv6NDOptSrcLLAddr(lladdr=LINUX_MAC),
                                            ICMPv6NDOptMTU(mtu=1400),
                                            ICMPv6NDOptPrefixInfo(prefix="2001:2:0:5::",
                                                                  prefixlen=64)]:
        p = p / o
    return p


def icmp6_raw(d, msg, src=PEER, dst=ME, hop=255):
    """An ICMPv6 message given as bytes (cut short, say), with a right checksum."""
    m = bytearray(msg)
    m[2:4] = b"\0\0"
    hdr = IPv6(src=src, dst=dst, hlim=hop, nh=58)
    m[2:4] = in6_chksum(58, hdr, bytes(m)).to_bytes(2, "big")
    return eth(d, dst) / hdr / Raw(bytes(m))


def bad_checksum(d):
    b = bytearray(bytes(echo(d)))
    b[14 + 40 + 2] ^= 0x5A
    return bytes(b)


ICMP6_ERRORS = {
    "echo_bad_checksum": ("CsumErrs", bad_checksum),
    "icmp_shorter_than_header": ("HlenErrs", lambda d: ip6(d, nh=58) / Raw(b"\x80\x00\x00\x00")),
    "ns_hop_limit_64": ("HoplimErrs", lambda d: ns(d, hop=64)),
    "na_hop_limit_1": ("HoplimErrs", lambda d: na(d, hop=1)),
    "ra_hop_limit_254": ("HoplimErrs", lambda d: ra(d, hop=254)),
    "ra_from_global_source": ("RouterAddrErrs", lambda d: ra(d, src=PEER)),
    "ra_code_1": ("IcmpCodeErrs", lambda d: ra(d, code=1)),
    "ra_option_length_0": ("OptlenErrs",
                           lambda d: ra(d, opts=[ICMPv6NDOptSrcLLAddr(lladdr=LINUX_MAC, len=0)])),
    "ra_truncated": ("HlenErrs", lambda d: icmp6_raw(d, bytes(ICMPv6ND_RA())[:12],
                                                     src=PEER_LL, dst="ff02::1")),
    "ns_option_length_0": ("OptlenErrs", lambda d: ns(d, optlen=0)),
    "ns_option_past_end": ("OptlenErrs", lambda d: ns(d, optlen=3)),
    "ns_multicast_target": ("TargetErrs", lambda d: ns(d, target="ff02::1")),
    "ns_without_target": ("HlenErrs", lambda d: icmp6_raw(d, bytes(ICMPv6ND_NS())[:8],
                                                          dst=SOLICITED_ME)),
    "dad_with_source_lla": ("AddrmxpErrs", lambda d: ns(d, src="::")),
    "solicited_na_to_multicast": ("AddrmxpErrs", lambda d: na(d, dst="ff02::1")),
}


@pytest.mark.parametrize("kind", sorted(ICMP6_ERRORS))
def test_bad_icmpv6_counted(h6, wire, kind):
    key, build = ICMP6_ERRORS[kind]
    frames = [build(h6) for _ in range(4)]
    dl, got = delta(h6, wire, "/net/icmpv6/stats", frames, [key, "InErrors"])
    assert dl == {key: 4, "InErrors": 4}, kind
    assert not [f for f in got if ICMPv6ND_NA in Ether(f) or ICMPv6EchoReply in Ether(f)]
    assert_echo6_works(h6, wire)


def test_bad_router_advertisements_teach_nothing(h6, wire):
    bad = [ra(h6, hop=64), ra(h6, src=PEER), ra(h6, code=3),
           ra(h6, opts=[ICMPv6NDOptMTU(mtu=1400), ICMPv6NDOptSrcLLAddr(len=0)])]
    wire.exchange([bytes(f) for f in bad])
    assert " ra6 " not in h6.cat("/net/iproute")
    assert "2001:2:0:5:" not in h6.cat("/net/ipifc/0/status")
    assert " linkmtu 0 " in h6.cat("/net/ipifc/0/status")
    # the same RA well formed is learned, and its router lifetime 0 unlearns the route
    wire.exchange([bytes(ra(h6))])
    assert wait_for(lambda: " ra6 " in h6.cat("/net/iproute"), 5), h6.cat("/net/iproute")
    status = h6.cat("/net/ipifc/0/status")
    assert re.search(r"\t2001:2:0:5:\S+ +/64 ", status) or \
        re.search(r"\t2001:2::5:\S+ +/64 ", status), status
    assert " linkmtu 1400 " in status
    wire.exchange([bytes(ra(h6, routerlife=0))])
    assert wait_for(lambda: " ra6 " not in h6.cat("/net/iproute"), 5), h6.cat("/net/iproute")


# ---- fragments (§4.4.1) -----------------------------------------------------------------------

def echo_frags(d, payload, pieces, ident=None, fid=None):
    """An echo request cut at byte offsets pieces [(off, end), ...] of its ICMPv6 message,
    each sent as one fragment carrying exactly those bytes (overlaps allowed)."""
    ident = next(_ids) if ident is None else ident
    fid = ident if fid is None else fid
    m = bytes(IPv6(src=PEER, dst=ME) / ICMPv6EchoRequest(id=ident, seq=1, data=payload))[40:]
    frames = []
    for off, end in pieces:
        more = end < len(m)
        frames.append(ip6(d) / IPv6ExtHdrFragment(nh=58, offset=off // 8, m=int(more), id=fid) /
                      Raw(m[off:end]))
    return ident, m, frames


def test_fragmented_echo_reassembled_and_answered(h6, wire):
    payload = bytes(i % 256 for i in range(3000))
    ident, m, frames = echo_frags(h6, payload, [(1448, 2896), (2896, 3008), (0, 1448)])
    dl, got = delta(h6, wire, "/net/ipifc/stats", frames, ["ReasmReqds", "ReasmOKs"])
    assert dl == {"ReasmReqds": 1, "ReasmOKs": 1}
    r = replies(got, ident)
    assert r, "the reassembled echo was not answered"


def test_tiny_fragments_reassembled(h6, wire):
    payload = bytes(range(200))
    m_len = 8 + len(payload)
    pieces = [(o, min(o + 8, m_len)) for o in range(0, m_len, 8)]
    random.Random(6).shuffle(pieces)
    ident, _, frames = echo_frags(h6, payload, pieces)
    dl, got = delta(h6, wire, "/net/ipifc/stats", frames, ["ReasmOKs"])
    assert dl == {"ReasmOKs": 1}
    assert replies(got, ident)


def test_overlapping_fragments_with_the_same_bytes_answered(h6, wire):
    # 9front semantics: overlaps are resolved (newer data wins), not refused as RFC 5722 says
    ident, _, frames = echo_frags(h6, bytes(1500), [(0, 800), (8, 16), (400, 1200),
                                                    (1096, 1508)])
    dl, got = delta(h6, wire, "/net/ipifc/stats", frames, ["ReasmOKs"])
    assert dl == {"ReasmOKs": 1}
    assert replies(got, ident)


def test_overlapping_fragments_newer_data_wins(h6, wire):
    ident, m, frames = echo_frags(h6, bytes(1500), [(0, 800), (1096, 1508)])
    forged = ip6(h6) / IPv6ExtHdrFragment(nh=58, offset=400 // 8, m=1, id=ident) / \
        Raw(b"\xab" * 800)
    frames.insert(1, forged)  # newer than the first, older than the last: its middle stays
    before = parse_stats(h6.cat("/net/icmpv6/stats"))["CsumErrs"]
    dl, got = delta(h6, wire, "/net/ipifc/stats", frames, ["ReasmOKs"])
    assert dl == {"ReasmOKs": 1}
    assert not replies(got, ident)  # the forged bytes broke the checksum
    assert parse_stats(h6.cat("/net/icmpv6/stats"))["CsumErrs"] == before + 1


def test_atomic_fragment_answered(h6, wire):
    ident, m, _ = echo_frags(h6, b"atomic", [])
    frame = ip6(h6) / IPv6ExtHdrFragment(nh=58, offset=0, m=0, id=77) / Raw(m)
    dl, got = delta(h6, wire, "/net/ipifc/stats", [frame], ["ReasmReqds", "ReasmOKs"])
    assert dl == {"ReasmReqds": 0, "ReasmOKs": 0}
    assert replies(got, ident)


def test_oversized_fragment_fails(h6, wire):
    frames = [ip6(h6) / IPv6ExtHdrFragment(nh=58, offset=65000 // 8, m=0, id=0x7777) /
              Raw(bytes(1000))]
    dl, _ = delta(h6, wire, "/net/ipifc/stats", frames, ["ReasmFails", "ReasmOKs"])
    assert dl == {"ReasmFails": 1, "ReasmOKs": 0}


def test_odd_and_empty_fragments_do_not_hurt(h6, wire):
    frames = [ip6(h6) / IPv6ExtHdrFragment(nh=58, offset=0, m=1, id=0x8001) / Raw(bytes(13)),
              ip6(h6) / IPv6ExtHdrFragment(nh=58, offset=1, m=1, id=0x8001) / Raw(bytes(3)),
              ip6(h6) / IPv6ExtHdrFragment(nh=58, offset=8, m=1, id=0x8002),
              ip6(h6) / IPv6ExtHdrFragment(nh=17, offset=8190, m=1, id=0x8003) / Raw(bytes(8))]
    wire.exchange([bytes(f) for f in frames])
    assert_echo6_works(h6, wire)


def test_fragment_queue_flood_keeps_100(h6, wire):
    frames = [ip6(h6) / IPv6ExtHdrFragment(nh=58, offset=0, m=1, id=0x10000 + i) /
              Raw(bytes(16)) for i in range(250)]
    dl, _ = delta(h6, wire, "/net/ipifc/stats", frames, ["ReasmReqds", "ReasmFails"])
    assert dl["ReasmReqds"] == 250
    assert dl["ReasmFails"] >= 150  # the oldest queue goes when all 100 are in use
    assert_echo6_works(h6, wire)


# ---- mutation and the end ----------------------------------------------------------------------

def test_mutated_ipv6_frames_do_not_hurt(h6, wire):
    rng = random.Random(0x6d)
    seeds = [bytes(echo(h6)), bytes(ns(h6)), bytes(na(h6)), bytes(ra(h6, routerlife=0)),
             bytes(ip6(h6) / UDP(sport=5, dport=7) / Raw(b"u" * 30)),
             bytes(echo_frags(h6, bytes(100), [(0, 64)])[2][0])]
    frames = []
    for i in range(3000):
        b = bytearray(seeds[i % len(seeds)])
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(14, len(b))] ^= rng.randint(1, 255)
        if rng.random() < 0.25:
            b = b[:rng.randint(15, len(b))]
        frames.append(bytes(b))
    wire.exchange(frames)
    assert h6.alive()
    # mutated advertisements may have taught devip a wrong MAC for the peer: put it back
    h6.ipctl("write", "/net/arp", "add %s %s" % (PEER, LINUX_MAC.replace(":", "")))
    assert_echo6_works(h6, wire)


def test_linux_ping6_works_after_all_that(h6):
    h6.ns_run("sysctl -qw net.ipv6.conf.dtap0.disable_ipv6=0")
    h6.ns_run("ip addr add %s/64 dev dtap0 nodad" % PEER)
    out = h6.ns_run("ping -6 -c 3 -i 0.2 -W 2 %s" % ME).stdout.decode()
    assert " 0% packet loss" in out, out
    h6.assert_serving()
