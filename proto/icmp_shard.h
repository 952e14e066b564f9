// ICMP and ICMPv6 conversations on a worker (the hot face of icmp.cc and icmp6.cc): each
// worker keeps the flows of the stack's connected ICMP (and ICMPv6) conversations (FlowAdd
// requests) and hands the echo replies for them up as DataIn completions, the message in the
// conversation's format (ICMP: a 20-byte IPv4 header, then the message, ip3.md §4.8.1;
// ICMPv6: the IPv6 header, then the message, §4.8.2); it also sends a conversation's echo
// requests from its route hint. Other messages go up whole (advice, errors, ND). Pure.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

#include "proto/msg.h"
#include "proto/udp_shard.h"
#include "proto/wire.h"

namespace devip::proto {

inline constexpr uint8_t kIcmpIndex = 4;   // icmp's registration index (registry.cc)
inline constexpr uint8_t kIcmp6Index = 5;  // icmpv6's
inline constexpr uint8_t kIcmp6EchoReply = 129;

struct IcmpFlow {
    FlowMsg f;       // laddr, raddr; lport is the echo identifier
    uint32_t conv;   // conversation number
    uint32_t gen;    // its incarnation
};

class IcmpShard {
public:
    void add(const FlowMsg& f, uint32_t conv, uint32_t gen) {
        del(conv);
        flows_.push_back({f, conv, gen});
    }
    void del(uint32_t conv) {
        std::erase_if(flows_, [&](const IcmpFlow& x) { return x.conv == conv; });
    }
    const IcmpFlow* by_conv(uint32_t conv) const {
        for (const IcmpFlow& x : flows_)
            if (x.conv == conv) return &x;
        return nullptr;
    }
    // Every flow the message from src to dst with identifier id goes to (icmp.cc's rule:
    // the identifier, and our address or the peer's), into out; how many.
    template <size_t N>
    size_t match(uint16_t id, const Ipaddr& src, const Ipaddr& dst, const IcmpFlow* (&out)[N]) const {
        size_t n = 0;
        for (const IcmpFlow& x : flows_)
            if (x.f.lport == id && (x.f.laddr == dst || x.f.raddr == src) && n < N) out[n++] = &x;
        return n;
    }
    size_t size() const { return flows_.size(); }
private:
    std::vector<IcmpFlow> flows_;  // a handful: ping and traceroute
};

// The IPv4 header (ID id, checksum computed) in front of an ICMP message of len bytes
// already at ip + 20, from flow f; the packet's length.
inline size_t icmp_build4(uint8_t* ip, const FlowMsg& f, uint16_t id, size_t len) {
    size_t tlen = size_t(kIp4Hdr) + len;
    flow_ip4(ip, f, kProtoIcmp, id, tlen);
    return tlen;
}

// The IPv6 header in front of an ICMPv6 message of len bytes (its checksum already made for
// f's addresses) at ip + 40; the packet's length.
inline size_t icmp_build6(uint8_t* ip, const FlowMsg& f, size_t len) {
    flow_ip6(ip, f, kProtoIcmp6, len);
    return kIp6Hdr + len;
}

}  // namespace devip::proto
