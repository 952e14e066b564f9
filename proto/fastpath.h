// The worker's per-packet decisions for one Ethernet frame (STYLE 10.4): answer an ICMP echo
// to one of our unicast addresses in place, forward IPv4 and IPv6 (RFC 1812, RFC 8200), punt
// everything unusual to the control thread, drop what is not ours. Pure: no DPDK calls, so
// unit tests and the packet-input fuzzer drive exactly what the worker runs.
#pragma once
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>

#include "proto/fast.h"
#include "proto/fib.h"
#include "proto/ip6.h"
#include "proto/wire.h"

namespace devip::proto {

static_assert(std::endian::native == std::endian::little, "l2 words are stored little-endian");

enum class FastNext : uint8_t {
    Drop,  // counted, freed
    Punt,  // to the control thread
    Tx,    // rewritten in place: send (*newlen bytes on *outport)
    Fwd,   // an IPv4 forwarding candidate: look the route up, then fast_forward
    Fwd6,  // an IPv6 forwarding candidate: look the route up, then fast6_forward
};

inline bool fast_is_local(const PortRt& p, uint32_t dst_be) {
    for (unsigned i = 0; i < p.nlocal; i++)
        if (p.local[i] == dst_be) return true;
    return false;
}

// One of our unicast IPv6 addresses on the port (dst: 16 bytes of the header).
inline bool fast_is_local6(const PortRt& p, const uint8_t* dst) {
    for (unsigned i = 0; i < p.nlocal6; i++)
        if (std::memcmp(p.local6[i], dst, 16) == 0) return true;
    return false;
}

// ICMP echo request turned into the reply in place (§4.8.1: TTL 255, TOS 0, an ID from the
// stack's counter, DF clear); not to sources that are multicast or our broadcast addresses.
inline bool fast_echo(uint8_t* ip, size_t hlen, size_t tlen, const PortRt& p,
                      std::atomic<uint32_t>* ipid, FastStats& s) {
    if (ip[9] != kProtoIcmp || (get16(ip + 6) & 0x3fff) || hlen != size_t(kIp4Hdr)) return false;
    if ((ip[12] & 0xf0) == 0xe0 || !ipid) return false;
    uint32_t src;
    std::memcpy(&src, ip + 12, 4);
    for (unsigned i = 0; i < p.nbcast; i++)
        if (p.bcast[i] == src) return false;
    uint8_t* icmp = ip + hlen;
    size_t ilen = tlen - hlen;
    if (ilen < 8 || icmp[0] != 8 || icmp[1] != 0 || csum(icmp, ilen) != 0) return false;
    icmp[0] = 0;  // type 8 → 0 lowers the sum by 0x0800: the checksum rises by it
    uint32_t c = uint32_t(get16(icmp + 2)) + 0x0800;
    put16(icmp + 2, uint16_t(c + (c >> 16)));
    uint8_t tmp[4];
    std::memcpy(tmp, ip + 12, 4);
    std::memcpy(ip + 12, ip + 16, 4);
    std::memcpy(ip + 16, tmp, 4);
    ip[1] = 0;
    ip[8] = 255;
    put16(ip + 4, uint16_t(ipid->fetch_add(1, std::memory_order_relaxed)));
    put16(ip + 6, 0);
    put16(ip + 10, 0);
    put16(ip + 10, csum(ip, hlen));
    s.ip[InReceives]++;
    s.ip[InDelivers]++;
    s.ip[OutRequests]++;
    s.icmp_inmsgs++;
    s.icmp_in[8]++;
    s.icmp_out[0]++;
    return true;
}

// §4.4: a forwarded TCP SYN has its MSS option lowered to what fits the smaller of the two
// interfaces' IP MTUs (mtu) less 40 bytes of IPv4+TCP headers (60 for IPv6), with the TCP
// checksum updated incrementally (RFC 1624). tcp: the TCP header, avail bytes of it in the
// packet. Returns true when it changed the option. Cold: callers test tcp_is_syn first.
[[gnu::cold]] inline bool tcp_mss_clamp(uint8_t* tcp, size_t avail, size_t mtu, bool v6) {
    if (avail < 20) return false;
    size_t doff = size_t(tcp[12] >> 4) * 4;
    if (doff < 20 || doff > avail) return false;
    size_t hdrs = v6 ? 60 : 40;
    if (mtu <= hdrs) return false;
    uint16_t most = uint16_t(std::min<size_t>(mtu - hdrs, 65535));
    for (size_t i = 20; i < doff;) {
        uint8_t kind = tcp[i];
        if (kind == 0) break;  // end of options
        if (kind == 1) {       // no-op
            i++;
            continue;
        }
        if (i + 1 >= doff || tcp[i + 1] < 2 || i + tcp[i + 1] > doff) break;  // malformed
        if (kind == 2 && tcp[i + 1] == 4) {
            uint16_t mss = get16(tcp + i + 2);
            if (mss <= most) return false;
            // RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), over the 16-bit words of the header
            // that hold the two MSS bytes: one word, or two when a lone no-op put the
            // option at an odd offset
            uint32_t sum = uint16_t(~get16(tcp + 16));
            bool odd = (i + 2) & 1;
            auto word = [&](size_t at) { return uint16_t(tcp[at] << 8 | tcp[at + 1]); };
            size_t w0 = odd ? i + 1 : i + 2;  // the word(s) covering the two MSS bytes
            sum += uint16_t(~word(w0));
            if (odd) sum += uint16_t(~word(w0 + 2));
            put16(tcp + i + 2, most);
            sum += word(w0);
            if (odd) sum += word(w0 + 2);
            while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
            put16(tcp + 16, uint16_t(~sum));
            return true;
        }
        i += tcp[i + 1];
    }
    return false;
}

// A SYN (without RST) inside tcp's first 14 bytes, which are present (avail).
inline bool tcp_is_syn(const uint8_t* tcp, size_t avail) {
    return avail >= 14 && (tcp[13] & 0x06) == 0x02;
}

// The clamp for a forwarded IPv4 packet of tlen bytes with an hlen-byte header, and for an
// IPv6 packet whose fixed header says TCP; mtu: the smaller IP MTU of the two interfaces.
inline void ip4_mss_clamp(uint8_t* ip, size_t hlen, size_t tlen, size_t mtu) {
    if (ip[9] != kProtoTcp || (get16(ip + 6) & 0x1fff) || tlen <= hlen) return;
    if (tcp_is_syn(ip + hlen, tlen - hlen)) tcp_mss_clamp(ip + hlen, tlen - hlen, mtu, false);
}
inline void ip6_mss_clamp(uint8_t* ip, size_t tlen, size_t mtu) {
    if (ip[6] != kProtoTcp || tlen <= size_t(kIp6Hdr)) return;
    uint8_t* tcp = ip + kIp6Hdr;
    if (tcp_is_syn(tcp, tlen - kIp6Hdr)) tcp_mss_clamp(tcp, tlen - kIp6Hdr, mtu, true);
}

// A FIB that knows nothing: every forwarding decision goes to the control thread.
template <int N>
struct NoFibT {
    bool usable() const { return false; }
    uint32_t lookup(const uint8_t*) const { return 0; }
    const NhRt<N>* resolve(uint32_t, const uint8_t*) const { return nullptr; }
    uint64_t neigh(uint16_t, const uint8_t*) const { return 0; }
    static uint64_t gate_l2(const NhRt<N>& h) { return h.l2; }
};
using NoFib = NoFibT<4>;

// IPv6 packets a router may forward without looking further (RFC 8200 §4, RFC 4291 §2.5.6):
// not to or from link-local, multicast, unspecified or loopback addresses, no hop-by-hop
// options, no extension header the control thread's input would walk.
inline bool fast6_plain(const uint8_t* ip) {
    const uint8_t* src = ip + 8;
    const uint8_t* dst = ip + 24;
    auto special = [](const uint8_t* a) {
        if (a[0] - 1u < 0xfeu - 1u) return false;  // 01..fd: none of the below (the usual)
        if (a[0] == 0xff || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)) return true;
        if (a[0]) return false;
        uint64_t hi, lo;
        std::memcpy(&hi, a, 8);
        std::memcpy(&lo, a + 8, 8);
        return hi == 0 && (lo == 0 || lo == uint64_t(1) << 56);  // :: and ::1
    };
    uint8_t nxt = ip[6];
    // 0 hop-by-hop, 43 routing, 44 fragment, 60 destination options
    constexpr uint64_t kExt = 1ull << 0 | 1ull << 43 | 1ull << 44 | 1ull << 60;
    return !special(src) && !special(dst) && !(nxt < 64 && (kExt >> nxt & 1));
}

// The common IPv4 case in one go, for a port that forwards: a frame to our MAC, IPv4 without
// options, lengths and checksum right (RFC 1812 §5.2.2). mac48: the port's MAC as a
// little-endian word. True: *tlen bytes of IP that fast_ingress would call a forwarding
// candidate unless they are for us (the caller learns that from the route: our addresses have
// local routes, and then fast_ingress decides); false: fast_ingress decides.
// Its IP part: n bytes of frame after the Ethernet header (n >= 0).
[[gnu::always_inline]] inline bool fast4_ip(const uint8_t* ip, size_t n, uint16_t* tlen) {
    if (n < size_t(kIp4Hdr) || ip[0] != 0x45) return false;
    uint16_t t = get16(ip + 2);
    if (t < kIp4Hdr || t > n || !ip4_csum20_ok(ip)) return false;
    *tlen = t;
    return true;
}
// A unicast frame to mac48 (our MAC as a little-endian word); its type in network order.
[[gnu::always_inline]] inline bool fast_to_us(const uint8_t* frame, uint64_t mac48,
                                              uint16_t* type_be) {
    uint64_t d;
    std::memcpy(&d, frame, 8);
    std::memcpy(type_be, frame + 12, 2);
    return !((d ^ mac48) << 16);
}
[[gnu::always_inline]] inline bool fast4_plain(const uint8_t* frame, size_t len, uint64_t mac48,
                                               uint16_t* tlen) {
    uint16_t type;
    return len >= size_t(kEthHdr) && fast_to_us(frame, mac48, &type) && type == 0x0008 &&
           fast4_ip(frame + kEthHdr, len - kEthHdr, tlen);
}

// The IPv6 counterpart, for a port that forwards: a frame to our MAC with a plain IPv6 packet
// (fast6_plain) of *tlen bytes that fits the frame, as fast_ingress would say.
[[gnu::always_inline]] inline bool fast6_ip(const uint8_t* ip, size_t n, uint16_t* tlen) {
    if (n < size_t(kIp6Hdr) || (ip[0] >> 4) != 6) return false;
    size_t t = kIp6Hdr + size_t(get16(ip + 4));
    if (t == size_t(kIp6Hdr) || t > n || !fast6_plain(ip)) return false;
    *tlen = uint16_t(t);
    return true;
}
[[gnu::always_inline]] inline bool fast6_frame(const uint8_t* frame, size_t len, uint64_t mac48,
                                               uint16_t* tlen) {
    uint16_t type;
    return len >= size_t(kEthHdr) && fast_to_us(frame, mac48, &type) && type == 0xdd86 &&
           fast6_ip(frame + kEthHdr, len - kEthHdr, tlen);
}

// Everything up to the route lookup, for one frame received on inport. Returns Drop, Punt, Tx
// (an echo answered in place: *newlen, *outport set), Fwd or Fwd6 ("wants forwarding": *ck
// holds the header facts and the caller looks the route up, in bulk, and finishes with
// fast_forward or fast6_forward). Counts what it consumes; punted packets are counted by the
// control thread.
inline FastNext fast_ingress(uint8_t* frame, size_t len, uint16_t inport, const FastTable& t,
                             FastStats& s, Ip4Check* ck, size_t* newlen, uint16_t* outport) {
    const PortRt& p = t.port[inport];
    if (!p.bound) return FastNext::Drop;
    if (len <= size_t(kEthHdr)) return FastNext::Drop;  // ethermedium drops these
    if (!(frame[0] & 1) && std::memcmp(frame, p.mac.b.data(), 6) != 0)
        return FastNext::Drop;  // unicast for another station (promiscuous port)
    uint16_t type = get16(frame + 12);
    uint8_t* ip = frame + kEthHdr;
    if (type == kEthIp6) {
        if (!p.forwarding || (frame[0] & 1) || len < size_t(kEthHdr + kIp6Hdr))
            return FastNext::Punt;
        size_t tlen = kIp6Hdr + size_t(get16(ip + 4));
        // a bad version or length, jumbograms and odd addresses: the control thread's input
        // counts them and does what 9front does
        if ((ip[0] >> 4) != 6 || tlen == size_t(kIp6Hdr) || tlen > len - kEthHdr ||
            !fast6_plain(ip))
            return FastNext::Punt;
        *ck = Ip4Check{true, uint16_t(kIp6Hdr), uint16_t(tlen)};
        return FastNext::Fwd6;
    }
    if (type == kEthArp) return FastNext::Punt;
    if (type != kEthIp4) return FastNext::Drop;
    *ck = ip4_check(ip, len - kEthHdr, true);
    if (!ck->ok) {
        s.ip[InReceives]++;
        s.ip[InHdrErrors]++;
        return FastNext::Drop;
    }
    uint32_t dst;
    std::memcpy(&dst, ip + 16, 4);
    if (fast_is_local(p, dst)) {
        if (!fast_echo(ip, ck->hlen, ck->tlen, p, t.ipid[p.stack], s)) return FastNext::Punt;
        uint8_t tmp[6];
        std::memcpy(tmp, frame, 6);
        std::memcpy(frame, frame + 6, 6);
        std::memcpy(frame + 6, tmp, 6);
        *newlen = kEthHdr + ck->tlen;
        *outport = inport;
        return FastNext::Tx;
    }
    if (!p.forwarding || (frame[0] & 1)) return FastNext::Punt;  // ours to deliver, or drop
    return FastNext::Fwd;
}

// The part of forwarding both families share once the route value is known: next hop, output
// port, MTU, reflect, the neighbour's MAC. Returns the next hop's l2 word, or 0 with *why set
// (a punt reason, or kPuntWhy for "drop: would leave by its arrival port").
template <int N, class Fib>
[[gnu::always_inline]] inline uint64_t fast_next_hop(const uint8_t* src, const uint8_t* dst,
                                                     uint8_t ttl, size_t tlen, bool frag,
                                                     uint16_t inport, const FastTable& t,
                                                     const Fib& fib, uint32_t value,
                                                     uint16_t* outport, int* why) {
    const NhRt<N>* nh = fib.resolve(value, src);
    if (!nh) return *why = PuntNoRoute, 0;
    if (nh->kind == NhKind::Local) return *why = PuntLocal, 0;
    if (nh->kind != NhKind::Gate && nh->kind != NhKind::OnLink) return *why = PuntOther, 0;
    if (ttl <= 1) return *why = PuntTtl, 0;  // time exceeded comes from the control thread
    const PortRt& o = t.port[nh->port];
    if (!o.bound) return *why = PuntOther, 0;
    if (tlen > (N == 4 ? o.mtu : o.mtu6)) return *why = PuntMtu, 0;
    if (frag && o.reassemble) return *why = PuntOther, 0;  // §3.3: reassembled on the way out
    if (nh->port == inport && !t.port[inport].reflect) return *why = kPuntWhy, 0;
    uint64_t l2 = nh->kind == NhKind::Gate ? Fib::gate_l2(*nh) : fib.neigh(nh->port, dst);
    if (!(l2 & kL2Ok)) return *why = PuntNeigh, 0;
    *outport = nh->port;
    return l2;
}

[[gnu::always_inline]] inline void fast_rewrite_l2(uint8_t* frame, uint64_t l2, const Ether& src) {
    std::memcpy(frame, &l2, 6);  // bytes 0..5 of the little-endian word are the MAC
    std::memcpy(frame + 6, src.b.data(), 6);
}

// What a packet fast_next_hop turned down becomes: dropped when it would leave by its
// arrival port, else punted for reason why.
[[gnu::always_inline]] inline FastNext fast_not_forwarded(FastStats& s, int why) {
    if (why == kPuntWhy) {
        s.ip[InReceives]++;
        s.ip[OutDiscards]++;
        return FastNext::Drop;
    }
    s.punt[why]++;
    return FastNext::Punt;
}

// The end of forwarding a packet of tlen bytes of IP whose TTL or hop limit is done: the new
// Ethernet addresses, the length, the counters.
[[gnu::always_inline]] inline void fast_forwarded(uint8_t* frame, uint64_t l2, size_t tlen,
                                                  const FastTable& t, FastStats& s,
                                                  uint16_t outport, size_t* newlen) {
    fast_rewrite_l2(frame, l2, t.port[outport].mac);
    *newlen = kEthHdr + tlen;
    s.ip[InReceives]++;
    s.ip[ForwDatagrams]++;
    s.ip[OutRequests]++;
}

// IPv4 forwarding (RFC 1812 §5.2.4–§5.3.1) once the route value is known. Anything unusual
// (no route, local routes, TTL expiry, too big, unresolved neighbour) is punted untouched:
// the control thread then does exactly what 9front does, ICMP errors included.
template <class Fib>
[[gnu::always_inline]] inline FastNext fast_forward(uint8_t* frame, const Ip4Check& ck, uint16_t inport,
                             const FastTable& t, FastStats& s, const Fib& fib, uint32_t value,
                             size_t* newlen, uint16_t* outport) {
    uint8_t* ip = frame + kEthHdr;
    int why = 0;
    bool frag = (get16(ip + 6) & 0x3fff) != 0;
    uint64_t l2 = fast_next_hop<4>(ip + 12, ip + 16, ip[8], ck.tlen, frag, inport, t, fib,
                                   value, outport, &why);
    if (!l2) return fast_not_forwarded(s, why);
    ip[8]--;  // RFC 1624: the TTL byte fell by one, the checksum rises by 0x0100
    uint32_t c = uint32_t(get16(ip + 10)) + 0x0100;
    put16(ip + 10, uint16_t(c + (c >> 16)));
    ip4_mss_clamp(ip, ck.hlen, ck.tlen, std::min(t.port[inport].mtu, t.port[*outport].mtu));
    fast_forwarded(frame, l2, ck.tlen, t, s, *outport, newlen);
    return FastNext::Fwd;
}

// IPv6 forwarding (RFC 8200 §3: the hop limit falls by one; no header checksum).
template <class Fib>
[[gnu::always_inline]] inline FastNext fast6_forward(uint8_t* frame, const Ip4Check& ck, uint16_t inport,
                              const FastTable& t, FastStats& s, const Fib& fib, uint32_t value,
                              size_t* newlen, uint16_t* outport) {
    uint8_t* ip = frame + kEthHdr;
    int why = 0;
    uint64_t l2 = fast_next_hop<16>(ip + 8, ip + 24, ip[7], ck.tlen, false, inport, t, fib,
                                    value, outport, &why);  // fragments never come here
    if (!l2) return fast_not_forwarded(s, why);
    ip[7]--;
    ip6_mss_clamp(ip, ck.tlen, std::min(t.port[inport].mtu6, t.port[*outport].mtu6));
    fast_forwarded(frame, l2, ck.tlen, t, s, *outport, newlen);
    return FastNext::Fwd6;
}

// One frame, start to end (tests, the fuzzer): ingress, a single lookup, forward. Returns
// Fwd or Fwd6 for a forwarded frame.
template <class Fib4, class Fib6 = NoFibT<16>>
inline FastNext fast_classify(uint8_t* frame, size_t len, uint16_t inport, const FastTable& t,
                              FastStats& s, const Fib4& fib, size_t* newlen, uint16_t* outport,
                              const Fib6& fib6 = Fib6{}) {
    Ip4Check ck{};
    FastNext n = fast_ingress(frame, len, inport, t, s, &ck, newlen, outport);
    uint8_t* ip = frame + kEthHdr;
    if (n == FastNext::Fwd) {
        if (!fib.usable()) return FastNext::Punt;
        return fast_forward(frame, ck, inport, t, s, fib, fib.lookup(ip + 16), newlen, outport);
    }
    if (n == FastNext::Fwd6) {
        if (!fib6.usable()) return FastNext::Punt;
        return fast6_forward(frame, ck, inport, t, s, fib6, fib6.lookup(ip + 24), newlen,
                             outport);
    }
    return n;
}

}  // namespace devip::proto
