// §4.4: the MSS option of forwarded SYNs, clamped with an incremental checksum update.
#include <gtest/gtest.h>

#include <vector>

#include "proto/fastpath.h"
#include "proto/wire.h"

namespace devip::proto {
namespace {

// An IPv4 TCP segment 198.18.1.2:40000 → 198.18.2.2:9 with the given flags and options
// (padded to a multiple of 4) and a correct checksum.
std::vector<uint8_t> segment(uint8_t flags, std::vector<uint8_t> opts) {
    while (opts.size() % 4) opts.push_back(0);
    std::vector<uint8_t> p(20 + 20 + opts.size());
    uint8_t* ip = p.data();
    ip[0] = 0x45;
    put16(ip + 2, uint16_t(p.size()));
    ip[8] = 64;
    ip[9] = kProtoTcp;
    put32(ip + 12, 0xc6120102);
    put32(ip + 16, 0xc6120202);
    uint8_t* t = ip + 20;
    put16(t, 40000);
    put16(t + 2, 9);
    put32(t + 4, 0x01020304);
    t[12] = uint8_t((20 + opts.size()) / 4 << 4);
    t[13] = flags;
    put16(t + 14, 64240);
    std::copy(opts.begin(), opts.end(), t + 20);
    return p;
}

uint16_t tcp_sum(const std::vector<uint8_t>& p) {  // 0 when the checksum is right
    uint32_t s = csum_add(p.data() + 12, 8);
    s += kProtoTcp + uint32_t(p.size() - 20);
    return csum(p.data() + 20, p.size() - 20, s);
}

void fix_sum(std::vector<uint8_t>& p) {
    put16(p.data() + 36, 0);
    uint32_t s = csum_add(p.data() + 12, 8);
    s += kProtoTcp + uint32_t(p.size() - 20);
    put16(p.data() + 36, csum(p.data() + 20, p.size() - 20, s));
}

uint16_t mss_at(const std::vector<uint8_t>& p, size_t opt) { return get16(p.data() + 40 + opt + 2); }

TEST(MssClamp, SynLoweredToMtuLess40_4_4) {
    auto p = segment(0x02, {2, 4, 0x05, 0xb4, 4, 2, 1, 1});  // MSS 1460, SACK-permitted
    fix_sum(p);
    ip4_mss_clamp(p.data(), 20, p.size(), 1400);
    EXPECT_EQ(mss_at(p, 0), 1360);
    EXPECT_EQ(tcp_sum(p), 0);
}

TEST(MssClamp, OddOffsetAfterANoOp) {
    auto p = segment(0x12, {1, 2, 4, 0x23, 0x28, 1, 1, 1});  // SYN-ACK, MSS 9000 at offset 1
    fix_sum(p);
    ip4_mss_clamp(p.data(), 20, p.size(), 1500);
    EXPECT_EQ(mss_at(p, 1), 1460);
    EXPECT_EQ(tcp_sum(p), 0);
}

TEST(MssClamp, SmallerMssAndOtherSegmentsUntouched) {
    auto small = segment(0x02, {2, 4, 0x02, 0x18});  // 536
    fix_sum(small);
    auto before = small;
    ip4_mss_clamp(small.data(), 20, small.size(), 1500);
    EXPECT_EQ(small, before);
    auto ack = segment(0x10, {2, 4, 0x05, 0xb4});  // not a SYN (an MSS there is ignored)
    fix_sum(ack);
    before = ack;
    ip4_mss_clamp(ack.data(), 20, ack.size(), 576);
    EXPECT_EQ(ack, before);
    auto rst = segment(0x06, {2, 4, 0x05, 0xb4});  // SYN+RST: not a SYN to clamp
    fix_sum(rst);
    before = rst;
    ip4_mss_clamp(rst.data(), 20, rst.size(), 576);
    EXPECT_EQ(rst, before);
}

TEST(MssClamp, MalformedOptionsLeftAlone) {
    for (auto opts : std::vector<std::vector<uint8_t>>{{2, 0, 0x05, 0xb4}, {2, 9, 0x05, 0xb4},
                                                       {8, 1, 2, 4}, {2}}) {
        auto p = segment(0x02, opts);
        fix_sum(p);
        auto before = p;
        ip4_mss_clamp(p.data(), 20, p.size(), 1000);
        EXPECT_EQ(p, before);
    }
    auto p = segment(0x02, {2, 4, 0x05, 0xb4});
    p[32] = 0xf0;  // data offset 60, beyond the segment
    auto before = p;
    ip4_mss_clamp(p.data(), 20, p.size(), 1000);
    EXPECT_EQ(p, before);
}

TEST(MssClamp, Ipv6LessSixty) {
    std::vector<uint8_t> p(40 + 24);
    p[0] = 0x60;
    put16(p.data() + 4, 24);
    p[6] = kProtoTcp;
    uint8_t* t = p.data() + 40;
    t[12] = 6 << 4;
    t[13] = 0x02;
    t[20] = 2;
    t[21] = 4;
    put16(t + 22, 1440);
    put16(t + 16, 0x1234);  // whatever it was, it moves by exactly the MSS change
    ip6_mss_clamp(p.data(), p.size(), 1280);
    EXPECT_EQ(get16(t + 22), 1220);
    uint32_t s = uint32_t(0x1234) + 1440 - 1220;  // one's complement: HC' = HC + m - m'
    EXPECT_EQ(get16(t + 16), uint16_t(s + (s >> 16)));
}

}  // namespace
}  // namespace devip::proto
