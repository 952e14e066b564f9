// UDP on a worker (the hot face of udp.cc): each worker keeps the flows of the stack's UDP
// conversations, installed by FlowAdd requests, and decides for every datagram to one of
// our addresses which conversation takes it (ip3.md §4.5). The payload then goes to the
// control thread as a DataIn (or Call) completion, copied out of the receive mbuf; a
// datagram no flow takes goes up whole, and the control thread answers it as 9front does
// (port unreachable). Pure: no DPDK calls.
#pragma once
#include <cstdint>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "proto/ip6.h"
#include "proto/msg.h"
#include "proto/wire.h"

namespace devip::proto {

inline constexpr uint8_t kUdpIndex = 1;  // udp's registration index (registry.cc)

// iphtlook's ranking (§4.5) of a conversation (c*) for a datagram from ra!rp to la!lp: 1
// exact, 2 announced on la!lp, 3 announced on *!lp, 4 la with port *, 5 any; 0 no match.
inline int udp_rank(const Ipaddr& craddr, uint16_t crport, const Ipaddr& claddr,
                    uint16_t clport, const Ipaddr& ra, uint16_t rp, const Ipaddr& la,
                    uint16_t lp) {
    if (!craddr.is_noaddr()) {
        if (craddr != ra || crport != rp || clport != lp) return 0;
        return claddr.is_noaddr() || claddr == la ? 1 : 0;
    }
    if (clport == lp) return claddr == la ? 2 : claddr.is_noaddr() ? 3 : 0;
    if (clport == 0) return claddr == la ? 4 : claddr.is_noaddr() ? 5 : 0;
    return 0;
}

struct UdpFlow {
    FlowMsg f;       // its addresses
    uint32_t conv;   // conversation number
    uint32_t gen;    // its incarnation (MsgHdr::gen)
};

class UdpShard {
public:
    void add(const FlowMsg& f, uint32_t conv, uint32_t gen);  // replaces conv's flow
    void del(uint32_t conv);
    // The best flow for a datagram from ra!rp to la!lp, or null.
    const UdpFlow* lookup(const Ipaddr& ra, uint16_t rp, const Ipaddr& la, uint16_t lp) const;
    const UdpFlow* by_conv(uint32_t conv) const;  // conv's flow, or null
    size_t size() const { return lport_.size(); }
private:
    std::unordered_map<uint16_t, std::vector<UdpFlow>> byport_;  // by local port (0 = any)
    std::unordered_map<uint32_t, uint16_t> lport_;               // conv → its byport_ key
};

inline void UdpShard::add(const FlowMsg& f, uint32_t conv, uint32_t gen) {
    del(conv);
    byport_[f.lport].push_back({f, conv, gen});
    lport_[conv] = f.lport;
}

inline void UdpShard::del(uint32_t conv) {
    auto it = lport_.find(conv);
    if (it == lport_.end()) return;
    auto b = byport_.find(it->second);
    if (b != byport_.end()) {
        std::erase_if(b->second, [&](const UdpFlow& u) { return u.conv == conv; });
        if (b->second.empty()) byport_.erase(b);
    }
    lport_.erase(it);
}

inline const UdpFlow* UdpShard::lookup(const Ipaddr& ra, uint16_t rp, const Ipaddr& la,
                                       uint16_t lp) const {
    const UdpFlow* best = nullptr;
    int rank = 6;
    for (uint16_t key : {lp, uint16_t(0)}) {
        auto b = byport_.find(key);
        if (b == byport_.end()) continue;
        for (const UdpFlow& u : b->second) {
            int r = udp_rank(u.f.raddr, u.f.rport, u.f.laddr, u.f.lport, ra, rp, la, lp);
            if (r && r < rank) {
                rank = r;
                best = &u;
            }
        }
        if (lp == 0) break;
    }
    return best;
}

inline const UdpFlow* UdpShard::by_conv(uint32_t conv) const {
    auto it = lport_.find(conv);
    if (it == lport_.end()) return nullptr;
    auto b = byport_.find(it->second);
    if (b == byport_.end()) return nullptr;
    for (const UdpFlow& u : b->second)
        if (u.conv == conv) return &u;
    return nullptr;
}

// The 20-byte IPv4 header of a flow's packet of tlen bytes (protocol proto, ID id, checksum
// computed), for what the workers send on conversations' behalf.
inline void flow_ip4(uint8_t* ip, const FlowMsg& f, uint8_t proto, uint16_t id, size_t tlen) {
    ip[0] = 0x45;
    ip[1] = f.tos;
    put16(ip + 2, uint16_t(tlen));
    put16(ip + 4, id);
    put16(ip + 6, 0);  // §4.4: DF never on local packets
    ip[8] = f.ttl;
    ip[9] = proto;
    put16(ip + 10, 0);
    std::memcpy(ip + 12, f.laddr.b.data() + 12, 4);
    std::memcpy(ip + 16, f.raddr.b.data() + 12, 4);
    put16(ip + 10, csum(ip, kIp4Hdr));
}

// The 40-byte IPv6 header of a flow's packet with plen bytes after it (next header proto,
// traffic class the conversation's tos, hop limit its ttl, flow label 0).
inline void flow_ip6(uint8_t* ip, const FlowMsg& f, uint8_t proto, size_t plen) {
    ip[0] = uint8_t(0x60 | (f.tos >> 4));
    ip[1] = uint8_t(f.tos << 4);
    ip[2] = ip[3] = 0;
    put16(ip + kIp6Plen, uint16_t(plen));
    ip[kIp6Next] = proto;
    ip[kIp6Hop] = f.ttl;
    std::memcpy(ip + kIp6Src, f.laddr.b.data(), 16);
    std::memcpy(ip + kIp6Dst, f.raddr.b.data(), 16);
}

// A datagram of len payload bytes, already at ip + 28, from f's connected conversation:
// the IPv4 and UDP headers in front of it (ID id, checksums computed). Returns the packet's
// length.
inline size_t udp_build4(uint8_t* ip, const FlowMsg& f, uint16_t id, size_t len) {
    size_t tlen = size_t(kIp4Hdr) + 8 + len;
    flow_ip4(ip, f, kProtoUdp, id, tlen);
    uint8_t* u = ip + kIp4Hdr;
    put16(u, f.lport);
    put16(u + 2, f.rport);
    put16(u + 4, uint16_t(8 + len));
    put16(u + 6, 0);
    uint32_t sum = csum_add(ip + 12, 8) + kProtoUdp + uint32_t(8 + len);
    uint16_t c = csum(u, 8 + len, sum);
    put16(u + 6, c ? c : 0xffff);
    return tlen;
}

// The same for an IPv6 conversation: the payload at ip + 48, the IPv6 and UDP headers in
// front of it (the checksum is mandatory: RFC 8200 §8.1).
inline size_t udp_build6(uint8_t* ip, const FlowMsg& f, size_t len) {
    size_t ulen = 8 + len;
    flow_ip6(ip, f, kProtoUdp, ulen);
    uint8_t* u = ip + kIp6Hdr;
    put16(u, f.lport);
    put16(u + 2, f.rport);
    put16(u + 4, uint16_t(ulen));
    put16(u + 6, 0);
    uint16_t c = ip6_csum(f.laddr, f.raddr, kProtoUdp, u, ulen);
    put16(u + 6, c ? c : 0xffff);
    return kIp6Hdr + ulen;
}

// What a worker does with one datagram for one of our unicast addresses (ip: the packet;
// IPv4: hlen and tlen from its checked header, not a fragment).
struct UdpVerdict {
    const UdpFlow* flow = nullptr;  // the flow that takes it; null: up to the control thread
    bool call = false;              // a listener's new caller: a Call completion
    DatagramMeta meta;              // addresses and ports
    uint32_t off = 0, len = 0;      // the payload within ip
};

// The flow for a checked datagram (u: its UDP header, hlen bytes into the packet).
inline UdpVerdict udp_verdict(const UdpShard& s, UdpVerdict v, const uint8_t* u, size_t hlen,
                              size_t ulen) {
    v.meta.sport = get16(u);
    v.meta.dport = get16(u + 2);
    v.flow = s.lookup(v.meta.src, v.meta.sport, v.meta.dst, v.meta.dport);
    if (!v.flow) return v;
    v.call = v.flow->f.raddr.is_noaddr() && !v.flow->f.headers;
    v.off = uint32_t(hlen + 8);
    v.len = uint32_t(ulen - 8);
    return v;
}

inline UdpVerdict udp_classify4(const UdpShard& s, const uint8_t* ip, size_t hlen, size_t tlen) {
    UdpVerdict v;
    if (tlen < hlen + 8) return v;
    const uint8_t* u = ip + hlen;
    size_t ulen = get16(u + 4);
    if (ulen < 8 || ulen > tlen - hlen) return v;  // the control thread counts it
    v.meta.src = Ipaddr::v4(get32(ip + 12));
    v.meta.dst = Ipaddr::v4(get32(ip + 16));
    if (get16(u + 6) != 0) {  // v4 zero: unchecked
        uint32_t sum = csum_add(ip + 12, 8);
        sum += kProtoUdp + uint32_t(ulen);
        if (csum(u, ulen, sum) != 0) return v;  // InErrors: counted up there
    }
    return udp_verdict(s, v, u, hlen, ulen);
}

// The same for an IPv6 packet of tlen bytes whose fixed header says UDP (no extension
// headers). A zero checksum is not one (RFC 8200 §8.1): such a datagram, like one that fails
// its checksum, goes up and is counted there.
inline UdpVerdict udp_classify6(const UdpShard& s, const uint8_t* ip, size_t tlen) {
    UdpVerdict v;
    if (tlen < size_t(kIp6Hdr) + 8) return v;
    const uint8_t* u = ip + kIp6Hdr;
    size_t ulen = get16(u + 4);
    if (ulen < 8 || ulen > tlen - kIp6Hdr || get16(u + 6) == 0) return v;
    v.meta.src = Ipaddr::from_bytes(ip + kIp6Src);
    v.meta.dst = Ipaddr::from_bytes(ip + kIp6Dst);
    if (ip6_csum(v.meta.src, v.meta.dst, kProtoUdp, u, ulen) != 0) return v;
    return udp_verdict(s, v, u, kIp6Hdr, ulen);
}

}  // namespace devip::proto
