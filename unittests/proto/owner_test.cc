// proto/owner.h: one worker for both directions of a flow, and the NIC's own hash.
#include <gtest/gtest.h>

#include <set>

#include "proto/owner.h"

namespace devip::proto {
namespace {

TEST(Owner, SymmetricForBothDirections) {
    Ipaddr a = Ipaddr::v4(0xc6120102), b = Ipaddr::v4(0xc6120202);
    for (uint16_t p = 1000; p < 1200; p++) {
        EXPECT_EQ(flow_hash(a, b, p, 80), flow_hash(b, a, 80, p));
        EXPECT_EQ(owner_of(a, b, p, 80, 3, 128), owner_of(b, a, 80, p, 3, 128));
    }
    Ipaddr c, d;
    c.b = {0x20, 0x01, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2};
    d.b = {0x20, 0x01, 0, 2, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 9};
    EXPECT_EQ(flow_hash(c, d, 5000, 443), flow_hash(d, c, 443, 5000));
}

TEST(Owner, SpreadsOverWorkersAndOneWorkerOwnsAll) {
    Ipaddr a = Ipaddr::v4(0xc6120102), b = Ipaddr::v4(0xc6120202);
    std::set<int> seen;
    for (uint16_t p = 1000; p < 1400; p++) {
        int o = owner_of(a, b, p, 80, 4, 128);
        ASSERT_GE(o, 0);
        ASSERT_LT(o, 4);
        seen.insert(o);
        EXPECT_EQ(owner_of(a, b, p, 80, 1, 128), 0);
        EXPECT_EQ(owner_of(a, b, p, 80, 4, 0), 0);  // no RSS: queue 0
    }
    EXPECT_EQ(seen.size(), 4u);
}

TEST(Owner, SameKeyAsTheNicHashesWith) {
    // The 0x6d5a key's hash of a v4 4-tuple, computed independently bit by bit (the
    // Toeplitz definition: for every set bit of the input, XOR the 32 key bits starting there).
    Ipaddr a = Ipaddr::v4(0x0a000001), b = Ipaddr::v4(0x0a000002);
    uint8_t in[12] = {10, 0, 0, 1, 10, 0, 0, 2, 0x04, 0xd2, 0x00, 0x50};  // 1234 → 80
    uint32_t want = 0;
    for (int bit = 0; bit < 96; bit++) {
        if (!(in[bit / 8] >> (7 - bit % 8) & 1)) continue;
        uint32_t w = 0;
        for (int k = 0; k < 32; k++) {
            int kb = bit + k;
            w = w << 1 | (kRssKey[kb / 8] >> (7 - kb % 8) & 1);
        }
        want ^= w;
    }
    EXPECT_EQ(flow_hash(a, b, 1234, 80), want);
}

}  // namespace
}  // namespace devip::proto
