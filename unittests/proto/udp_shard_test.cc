// The workers' UDP flows (proto/udp_shard.h): iphtlook's ranking (ip3.md §4.5) and the
// per-datagram decision, on synthetic packets.
#include <gtest/gtest.h>

#include <vector>

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

}  // namespace
}  // namespace devip::proto
