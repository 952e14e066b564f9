// IPv6 vocabulary (RFC 8200, RFC 4291, RFC 4861): the fixed header, extension header
// numbers, address scopes as 9front ranks them (ipifc.c v6addrtype), the well-known groups,
// the multicast MAC mapping and the upper-layer pseudo-header sum. Pure: no stack state.
#pragma once
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>

#include "proto/ip.h"
#include "proto/wire.h"

namespace devip::proto {

// Fixed header (RFC 8200 §3): vcf[4] (version, traffic class, flow label), payload length
// at 4, next header at 6, hop limit at 7, source at 8, destination at 24.
inline constexpr int kIp6Hdr = 40;
inline constexpr int kIp6Plen = 4, kIp6Next = 6, kIp6Hop = 7, kIp6Src = 8, kIp6Dst = 24;
inline constexpr int kIp6FragHdr = 8;         // fragment header: next, res, offset|M, id[4]
inline constexpr size_t kIp6MinMtu = 1280;    // v6MINTU: ICMPv6 errors fit in it
inline constexpr uint8_t kHopByHop = 0, kRouting = 43, kFragment = 44, kDestOpts = 60;
inline constexpr uint8_t kProtoIcmp6 = 58;

inline Ipaddr ip6_src(const uint8_t* h) { return Ipaddr::from_bytes(h + kIp6Src); }
inline Ipaddr ip6_dst(const uint8_t* h) { return Ipaddr::from_bytes(h + kIp6Dst); }

// 9front's scope ranks (v6addrtype): source selection prefers the rank closest to the
// destination's without going below it.
enum V6Scope : int { ScopeUnknown = 0, ScopeUnspecified = 1, ScopeLink = 2, ScopeUla = 3,
                     ScopeGlobal = 4 };

inline constexpr Ipaddr v6addr(std::initializer_list<uint8_t> head, uint8_t last) {
    Ipaddr a;
    size_t i = 0;
    for (uint8_t x : head) a.b[i++] = x;
    a.b[15] = last;
    return a;
}
inline constexpr Ipaddr v6loopback = v6addr({}, 1);                  // ::1
inline constexpr Ipaddr v6allnodesN = v6addr({0xff, 0x01}, 1);       // ff01::1
inline constexpr Ipaddr v6allnodesL = v6addr({0xff, 0x02}, 1);       // ff02::1
inline constexpr Ipaddr v6allroutersL = v6addr({0xff, 0x02}, 2);     // ff02::2

constexpr bool is_v6_mcast(const Ipaddr& a) { return a.b[0] == 0xff; }
constexpr int v6_mcast_scope(const Ipaddr& a) { return a.b[1] & 0xf; }
// ff02::1:ffXX:XXXX (issmcast compares the first 13 bytes).
constexpr bool is_solicited_node(const Ipaddr& a) {
    constexpr uint8_t p[13] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff};
    for (int i = 0; i < 13; i++)
        if (a.b[i] != p[i]) return false;
    return true;
}
constexpr Ipaddr solicited_node_of(const Ipaddr& a) {
    Ipaddr m = v6addr({0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff}, a.b[15]);
    m.b[13] = a.b[13];
    m.b[14] = a.b[14];
    return m;
}

constexpr int v6_scope(const Ipaddr& a) {
    if (a.is_v4() || a.is_noaddr()) return ScopeUnknown;
    if (a.is_linklocal6() || a == v6loopback || (is_v6_mcast(a) && v6_mcast_scope(a) <= 2))
        return ScopeLink;
    if ((a.b[0] & 0xfe) == 0xfc) return ScopeUla;
    return ScopeGlobal;
}

// 33:33 and the low 32 bits (RFC 2464 §7).
constexpr Ether v6_mcast_mac(const Ipaddr& a) {
    return Ether{{0x33, 0x33, a.b[12], a.b[13], a.b[14], a.b[15]}};
}

// The unfolded sum of the RFC 8200 §8.1 pseudo-header: source, destination, upper-layer
// length, next header.
inline uint32_t ip6_pseudo_sum(const Ipaddr& src, const Ipaddr& dst, uint8_t proto,
                               uint32_t len) {
    uint32_t s = csum_add(src.b.data(), 16);
    s = csum_add(dst.b.data(), 16, s);
    return s + (len >> 16) + (len & 0xffff) + proto;
}

// The upper-layer checksum of n bytes at p (checksum field included) carried between src
// and dst: 0 when a received message is intact.
inline uint16_t ip6_csum(const Ipaddr& src, const Ipaddr& dst, uint8_t proto,
                         const uint8_t* p, size_t n) {
    return csum(p, n, ip6_pseudo_sum(src, dst, proto, uint32_t(n)));
}

// A whole IPv6 packet: the fixed header (version 6, payload length, next header, hop limit,
// addresses) in front of payload. For packets that skip ip6_output (ND, looped-back errors).
inline std::string ip6_packet(const Ipaddr& src, const Ipaddr& dst, uint8_t next, uint8_t hop,
                              std::string_view payload) {
    std::string p(kIp6Hdr, '\0');
    auto* h = reinterpret_cast<uint8_t*>(p.data());
    h[0] = 0x60;
    put16(h + kIp6Plen, uint16_t(payload.size()));
    h[kIp6Next] = next;
    h[kIp6Hop] = hop;
    std::memcpy(h + kIp6Src, src.b.data(), 16);
    std::memcpy(h + kIp6Dst, dst.b.data(), 16);
    p += payload;
    return p;
}

// 9front's unfraglen (ipv6.c): the length of the unfragmentable part (fixed header plus
// hop-by-hop and routing headers) and the next header after it; -1 when the headers run
// past the packet or a fragment header is followed by another.
struct Unfrag {
    int len;        // offset of the header after the unfragmentable part, or -1
    uint8_t next;   // its type (kFragment when the packet is a fragment)
    int prev_next;  // offset of the next-header byte that names it
};
inline Unfrag ip6_unfraglen(const uint8_t* p, size_t n) {
    Unfrag u{kIp6Hdr, p[kIp6Next], kIp6Next};
    size_t off = kIp6Hdr;
    while (u.next == kHopByHop || u.next == kRouting) {
        if (off + 2 > n) return {-1, u.next, u.prev_next};
        u.prev_next = int(off);
        u.next = p[off];
        off += (size_t(p[off + 1]) + 1) * 8;
    }
    if (off > n) return {-1, u.next, u.prev_next};
    if (u.next == kFragment && (off + kIp6FragHdr > n || p[off] == kFragment))
        return {-1, u.next, u.prev_next};
    u.len = int(off);
    return u;
}

}  // namespace devip::proto
