// The workers' UDP flows (proto/udp_shard.h): iphtlook's ranking (ip3.md §4.5) and the
// per-datagram decision, on synthetic packets.
#include <gtest/gtest.h>

#include <vector>

#include "proto/icmp_shard.h"
#include "proto/udp_shard.h"

namespace devip::proto {
namespace {

const Ipaddr kMe = Ipaddr::v4(0xc6120001), kOther = Ipaddr::v4(0xc6120009);
const Ipaddr kPeer = Ipaddr::v4(0xc6120002);

FlowMsg flow(Ipaddr la, uint16_t lp, Ipaddr ra = IPnoaddr, uint16_t rp = 0, bool hdrs = false) {
    return FlowMsg{la, ra, lp, rp, uint8_t(hdrs)};
}

TEST(UdpShard, RankingAsIphtlook_4_5) {
    UdpShard s;
    s.add(flow(IPnoaddr, 0), 5, 1);       // any address, any port
    s.add(flow(kMe, 0), 4, 1);            // our address, any port
    s.add(flow(IPnoaddr, 7), 3, 1);       // any address, port 7
    s.add(flow(kMe, 7), 2, 1);            // announced on kMe!7
    s.add(flow(kMe, 7, kPeer, 1000), 1, 1);  // connected
    EXPECT_EQ(s.lookup(kPeer, 1000, kMe, 7)->conv, 1u);
    EXPECT_EQ(s.lookup(kPeer, 1001, kMe, 7)->conv, 2u);
    EXPECT_EQ(s.lookup(kPeer, 1000, kOther, 7)->conv, 3u);
    EXPECT_EQ(s.lookup(kPeer, 1000, kMe, 8)->conv, 4u);
    EXPECT_EQ(s.lookup(kPeer, 1000, kOther, 8)->conv, 5u);
    s.del(5);
    EXPECT_EQ(s.lookup(kPeer, 1000, kOther, 8), nullptr);
    s.del(1);
    EXPECT_EQ(s.lookup(kPeer, 1000, kMe, 7)->conv, 2u);
    EXPECT_EQ(s.size(), 3u);
}

TEST(UdpShard, AddReplacesTheConversationsFlow) {
    UdpShard s;
    s.add(flow(kMe, 7), 1, 1);
    s.add(flow(kMe, 9), 1, 2);  // the conv was closed and used again
    EXPECT_EQ(s.lookup(kPeer, 1, kMe, 7), nullptr);
    EXPECT_EQ(s.lookup(kPeer, 1, kMe, 9)->gen, 2u);
    EXPECT_EQ(s.size(), 1u);
}

std::vector<uint8_t> datagram(uint16_t dport, std::vector<uint8_t> payload, bool sum = true) {
    std::vector<uint8_t> p(28 + payload.size());
    uint8_t* ip = p.data();
    ip[0] = 0x45;
    put16(ip + 2, uint16_t(p.size()));
    ip[9] = kProtoUdp;
    put32(ip + 12, 0xc6120002);
    put32(ip + 16, 0xc6120001);
    uint8_t* u = ip + 20;
    put16(u, 1000);
    put16(u + 2, dport);
    put16(u + 4, uint16_t(8 + payload.size()));
    std::copy(payload.begin(), payload.end(), u + 8);
    if (sum) {
        uint32_t s = csum_add(ip + 12, 8) + kProtoUdp + uint32_t(8 + payload.size());
        uint16_t c = csum(u, 8 + payload.size(), s);
        put16(u + 6, c ? c : 0xffff);
    }
    return p;
}

TEST(UdpShard, ClassifyDeliversToTheFlow) {
    UdpShard s;
    s.add(flow(IPnoaddr, 7), 3, 9);
    auto p = datagram(7, {'h', 'i'});
    UdpVerdict v = udp_classify4(s, p.data(), 20, p.size());
    ASSERT_TRUE(v.flow);
    EXPECT_EQ(v.flow->conv, 3u);
    EXPECT_TRUE(v.call);  // announced, not in headers mode: a new caller
    EXPECT_EQ(v.len, 2u);
    EXPECT_EQ(p[v.off], 'h');
    EXPECT_EQ(v.meta.src, kPeer);
    EXPECT_EQ(v.meta.sport, 1000);
    s.add(flow(IPnoaddr, 7, IPnoaddr, 0, true), 3, 9);  // headers: the conv takes them all
    EXPECT_FALSE(udp_classify4(s, p.data(), 20, p.size()).call);
}

TEST(UdpShard, WhatTheControlThreadMustSeeStaysPunted) {
    UdpShard s;
    s.add(flow(IPnoaddr, 7), 3, 9);
    auto bad = datagram(7, {'x'});
    bad[27] ^= 1;  // checksum error: counted by the control thread
    EXPECT_FALSE(udp_classify4(s, bad.data(), 20, bad.size()).flow);
    auto none = datagram(8, {'x'});  // no conversation: port unreachable up there
    EXPECT_FALSE(udp_classify4(s, none.data(), 20, none.size()).flow);
    auto zero = datagram(7, {'x'}, false);  // a zero checksum is not checked (v4)
    EXPECT_TRUE(udp_classify4(s, zero.data(), 20, zero.size()).flow);
    auto longer = datagram(7, {'x'});
    put16(longer.data() + 24, 100);  // UDP length beyond the packet
    EXPECT_FALSE(udp_classify4(s, longer.data(), 20, longer.size()).flow);
    EXPECT_FALSE(udp_classify4(s, longer.data(), 20, 25).flow);  // shorter than a header
}

// IPv6 (RFC 8200 §8.1): the checksum over the pseudo-header is mandatory.
Ipaddr v6(uint8_t last) {
    Ipaddr a{};
    a.b = {0x20, 0x01, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, last};
    return a;
}

TEST(UdpShard, Ipv6BuildThenClassifyRoundTrip) {
    // what a worker builds for a connected conversation (me!4000 → peer!53) is what the
    // peer's shard, with the mirror flow, takes: addresses, ports, payload, checksum
    FlowMsg out{v6(1), v6(2), 4000, 53, 0, 64, 0x28, {}};
    std::vector<uint8_t> p(kIp6Hdr + 8 + 3);
    std::memcpy(p.data() + kIp6Hdr + 8, "abc", 3);
    ASSERT_EQ(udp_build6(p.data(), out, 3), p.size());
    EXPECT_EQ(p[0], 0x62);  // version 6, traffic class 0x28
    EXPECT_EQ(p[1], 0x80);
    EXPECT_EQ(get16(p.data() + kIp6Plen), 11);
    EXPECT_EQ(p[kIp6Next], kProtoUdp);
    EXPECT_EQ(p[kIp6Hop], 64);
    EXPECT_NE(get16(p.data() + kIp6Hdr + 6), 0);
    UdpShard s;
    s.add(flow(v6(2), 53, v6(1), 4000), 5, 1);
    UdpVerdict v = udp_classify6(s, p.data(), p.size());
    ASSERT_TRUE(v.flow);
    EXPECT_EQ(v.flow->conv, 5u);
    EXPECT_FALSE(v.call);
    EXPECT_EQ(v.meta.src, v6(1));
    EXPECT_EQ(v.meta.dst, v6(2));
    EXPECT_EQ(v.meta.sport, 4000);
    EXPECT_EQ(v.meta.dport, 53);
    ASSERT_EQ(v.len, 3u);
    EXPECT_EQ(std::memcmp(p.data() + v.off, "abc", 3), 0);
}

TEST(UdpShard, Ipv6WhatTheControlThreadMustSeeStaysPunted) {
    FlowMsg out{v6(1), v6(2), 4000, 53, 0, 64, 0, {}};
    std::vector<uint8_t> p(kIp6Hdr + 8 + 1, 'x');
    udp_build6(p.data(), out, 1);
    UdpShard s;
    s.add(flow(IPnoaddr, 53), 1, 1);  // announced on *!53: a call
    EXPECT_TRUE(udp_classify6(s, p.data(), p.size()).call);
    auto bad = p;
    bad.back() ^= 1;  // checksum error: counted up there
    EXPECT_FALSE(udp_classify6(s, bad.data(), bad.size()).flow);
    auto zero = p;
    put16(zero.data() + kIp6Hdr + 6, 0);  // no checksum: invalid over IPv6
    EXPECT_FALSE(udp_classify6(s, zero.data(), zero.size()).flow);
    auto longer = p;
    put16(longer.data() + kIp6Hdr + 4, 100);  // UDP length beyond the packet
    EXPECT_FALSE(udp_classify6(s, longer.data(), longer.size()).flow);
    EXPECT_FALSE(udp_classify6(s, p.data(), kIp6Hdr + 7).flow);  // shorter than a header
    UdpShard none;
    none.add(flow(IPnoaddr, 54), 1, 1);  // no conversation: port unreachable up there
    EXPECT_FALSE(udp_classify6(none, p.data(), p.size()).flow);
}

TEST(IcmpShard, Ipv6HeaderInFrontOfTheMessage) {
    FlowMsg f{v6(1), v6(2), 77, 0, 0, 255, 0, {}};
    std::vector<uint8_t> p(kIp6Hdr + 8);
    ASSERT_EQ(icmp_build6(p.data(), f, 8), p.size());
    EXPECT_EQ(p[0] >> 4, 6);
    EXPECT_EQ(get16(p.data() + kIp6Plen), 8);
    EXPECT_EQ(p[kIp6Next], kProtoIcmp6);
    EXPECT_EQ(p[kIp6Hop], 255);
    EXPECT_EQ(Ipaddr::from_bytes(p.data() + kIp6Src), v6(1));
    EXPECT_EQ(Ipaddr::from_bytes(p.data() + kIp6Dst), v6(2));
    IcmpShard s;
    s.add(f, 3, 4);
    const IcmpFlow* to[8];
    EXPECT_EQ(s.match(77, v6(2), v6(1), to), 1u);  // the reply: from the peer to us
    EXPECT_EQ(s.match(78, v6(2), v6(1), to), 0u);
}

}  // namespace
}  // namespace devip::proto
