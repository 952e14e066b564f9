// Reassembly (§4.4.1) and fragmentation (§4.4 Output) of IPv4.
#include <gtest/gtest.h>

#include "proto/reass.h"
#include "proto/stack.h"
#include "proto/udp.h"
#include "unittests/fake_netio.h"

namespace devip::proto {
namespace {

// A fragment of a datagram (src, dst, id) carrying payload[off, off+len).
std::vector<uint8_t> frag(const std::string& payload, size_t off, size_t len, bool more,
                          uint16_t id = 77, uint8_t proto = 17) {
    std::vector<uint8_t> d(payload.begin() + long(off), payload.begin() + long(off + len));
    auto p = test::ip4(0xc6120002, 0xc6120001, proto, d);
    put16(p.data() + 4, id);
    put16(p.data() + 6, uint16_t(off / 8 | (more ? 0x2000 : 0)));
    put16(p.data() + 10, 0);
    put16(p.data() + 10, csum(p.data(), 20));
    return p;
}

std::string pattern(size_t n) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; i++) s[i] = char('a' + i % 26);
    return s;
}

TEST(Reass4, InOrderAndOutOfOrder_4_4_1) {
    Reass4 r;
    uint64_t st[kIpStats] = {};
    std::string pl = pattern(3000);
    EXPECT_FALSE(r.input(frag(pl, 1480, 1480, true), 0, st));
    EXPECT_FALSE(r.input(frag(pl, 2960, 40, false), 0, st));
    auto whole = r.input(frag(pl, 0, 1480, true), 0, st);
    ASSERT_TRUE(whole);
    EXPECT_EQ(whole->size(), 3020u);
    EXPECT_EQ(whole->substr(20), pl);
    EXPECT_EQ(get16(reinterpret_cast<const uint8_t*>(whole->data()) + 6), 0);
    EXPECT_EQ(csum(reinterpret_cast<const uint8_t*>(whole->data()), 20), 0);
    EXPECT_EQ(st[ReasmReqds], 1u);
    EXPECT_EQ(st[ReasmOKs], 1u);
    EXPECT_EQ(r.queues(), 0u);
}

TEST(Reass4, NewerDataWinsOnOverlap_4_4_1) {
    Reass4 r;
    uint64_t st[kIpStats] = {};
    std::string old = std::string(64, 'o'), neu = std::string(64, 'n');
    EXPECT_FALSE(r.input(frag(old, 0, 32, true), 0, st));
    EXPECT_FALSE(r.input(frag(neu, 16, 32, true), 0, st));  // overlaps the end of the first
    auto w = r.input(frag(old, 48, 16, false), 0, st);
    ASSERT_TRUE(w);
    EXPECT_EQ(w->substr(20), std::string(16, 'o') + std::string(32, 'n') + std::string(16, 'o'));
}

TEST(Reass4, ExpiresAfter30s_4_4_1) {
    Reass4 r;
    uint64_t st[kIpStats] = {};
    std::string pl = pattern(100);
    EXPECT_FALSE(r.input(frag(pl, 0, 64, true), 0, st));
    EXPECT_FALSE(r.input(frag(pl, 64, 36, false, 78), 31000, st));  // another datagram
    EXPECT_EQ(st[ReasmTimeout], 1u);
    EXPECT_FALSE(r.input(frag(pl, 64, 36, false), 31000, st));  // too late for the first
    EXPECT_EQ(r.queues(), 2u);
}

TEST(Reass4, UnfragmentedPacketCancelsQueue_4_4_1) {
    Reass4 r;
    uint64_t st[kIpStats] = {};
    std::string pl = pattern(100);
    EXPECT_FALSE(r.input(frag(pl, 0, 64, true), 0, st));
    auto p = test::ip4(0xc6120002, 0xc6120001, 17, std::vector<uint8_t>(8));
    put16(p.data() + 4, 77);
    put16(p.data() + 10, 0);
    put16(p.data() + 10, csum(p.data(), 20));
    EXPECT_TRUE(r.input(p, 0, st));
    EXPECT_EQ(r.queues(), 0u);
    EXPECT_EQ(st[ReasmFails], 1u);
}

TEST(Reass4, HundredQueuesOldestDropped_4_4_1) {
    Reass4 r;
    uint64_t st[kIpStats] = {};
    std::string pl = pattern(64);
    for (uint16_t id = 0; id < 101; id++) r.input(frag(pl, 0, 32, true, id), 0, st);
    EXPECT_EQ(r.queues(), 100u);
    EXPECT_EQ(st[ReasmFails], 1u);
}

TEST(Reass4, SixtyFourKilobytesFails_4_4_1) {
    Reass4 r;
    uint64_t st[kIpStats] = {};
    std::string pl = pattern(66000);
    EXPECT_FALSE(r.input(frag(pl, 65000, 1000, false), 0, st));
    EXPECT_EQ(st[ReasmFails], 1u);
}

// ---- IPv6 (§4.4.1 for v6: keyed by source, destination and the 32-bit id) --------------

const Ipaddr kSrc6 = [] {
    Ipaddr a;
    a.b = {0x20, 0x01, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2};
    return a;
}();
const Ipaddr kDst6 = [] {
    Ipaddr a = kSrc6;
    a.b[15] = 1;
    return a;
}();

// A v6 fragment of payload[off, off+len) with id, behind an optional hop-by-hop header.
struct Frag6 {
    std::vector<uint8_t> p;
    size_t uflen, prev_next;
};
Frag6 frag6(const std::string& payload, size_t off, size_t len, bool more, uint32_t id = 77,
            bool hbh = false) {
    std::vector<uint8_t> p(40);
    p[0] = 0x60;
    p[6] = hbh ? 0 : 44;
    p[7] = 64;
    std::copy(kSrc6.b.begin(), kSrc6.b.end(), p.begin() + 8);
    std::copy(kDst6.b.begin(), kDst6.b.end(), p.begin() + 24);
    size_t prev = 6;
    if (hbh) {
        p.insert(p.end(), {44, 0, 1, 4, 0, 0, 0, 0});  // PadN
        prev = 40;
    }
    size_t uflen = p.size();
    std::vector<uint8_t> fh = {17, 0, 0, 0, 0, 0, 0, 0};
    put16(fh.data() + 2, uint16_t(off | (more ? 1 : 0)));
    put32(fh.data() + 4, id);
    p.insert(p.end(), fh.begin(), fh.end());
    p.insert(p.end(), payload.begin() + long(off), payload.begin() + long(off + len));
    put16(p.data() + 4, uint16_t(p.size() - 40));
    return {p, uflen, prev};
}

std::optional<std::string> in6(Reass6& r, const Frag6& f, uint64_t now, uint64_t* st) {
    return r.input(f.p, f.uflen, f.prev_next, now, st);
}

TEST(Reass6, InOrderAndOutOfOrder_4_4_1) {
    Reass6 r;
    uint64_t st[kIpStats] = {};
    std::string pl = pattern(3000);
    EXPECT_FALSE(in6(r, frag6(pl, 1448, 1448, true), 0, st));
    EXPECT_FALSE(in6(r, frag6(pl, 2896, 104, false), 0, st));
    auto w = in6(r, frag6(pl, 0, 1448, true), 0, st);
    ASSERT_TRUE(w);
    ASSERT_EQ(w->size(), 40u + 3000);
    EXPECT_EQ(uint8_t((*w)[6]), 17);  // the fragment header is gone
    EXPECT_EQ(get16(reinterpret_cast<const uint8_t*>(w->data()) + 4), 3000);
    EXPECT_EQ(w->substr(40), pl);
    EXPECT_EQ(st[ReasmReqds], 1u);
    EXPECT_EQ(st[ReasmOKs], 1u);
    EXPECT_EQ(r.queues(), 0u);
}

TEST(Reass6, UnfragmentablePartKept_4_4_1) {
    Reass6 r;
    uint64_t st[kIpStats] = {};
    std::string pl = pattern(100);
    EXPECT_FALSE(in6(r, frag6(pl, 0, 64, true, 5, true), 0, st));
    auto w = in6(r, frag6(pl, 64, 36, false, 5, true), 0, st);
    ASSERT_TRUE(w);
    ASSERT_EQ(w->size(), 48u + 100);
    EXPECT_EQ(uint8_t((*w)[6]), 0);    // still hop-by-hop first
    EXPECT_EQ(uint8_t((*w)[40]), 17);  // which now names UDP
    EXPECT_EQ(w->substr(48), pl);
}

TEST(Reass6, NewerDataWinsOnOverlap_4_4_1) {
    Reass6 r;
    uint64_t st[kIpStats] = {};
    std::string old = std::string(72, 'o'), neu = std::string(72, 'n');
    EXPECT_FALSE(in6(r, frag6(old, 0, 32, true), 0, st));
    EXPECT_FALSE(in6(r, frag6(neu, 8, 8, true), 0, st));     // wholly inside: discarded
    EXPECT_FALSE(in6(r, frag6(old, 48, 24, false), 0, st));
    // over the end of the first and the front of the last: both trimmed, newer data wins
    auto w = in6(r, frag6(neu, 16, 40, true), 0, st);
    ASSERT_TRUE(w);
    EXPECT_EQ(w->substr(40), std::string(16, 'o') + std::string(40, 'n') + std::string(16, 'o'));
}

TEST(Reass6, KeyIsSourceDestinationAndId_4_4_1) {
    Reass6 r;
    uint64_t st[kIpStats] = {};
    std::string pl = pattern(64);
    EXPECT_FALSE(in6(r, frag6(pl, 0, 32, true, 1), 0, st));
    EXPECT_FALSE(in6(r, frag6(pl, 32, 32, false, 2), 0, st));  // another datagram
    EXPECT_EQ(r.queues(), 2u);
    EXPECT_TRUE(in6(r, frag6(pl, 32, 32, false, 1), 0, st));
}

TEST(Reass6, ExpiresAfter30s_4_4_1) {
    Reass6 r;
    uint64_t st[kIpStats] = {};
    std::string pl = pattern(100);
    EXPECT_FALSE(in6(r, frag6(pl, 0, 64, true), 0, st));
    EXPECT_FALSE(in6(r, frag6(pl, 64, 36, false, 78), 29999, st));
    EXPECT_EQ(st[ReasmTimeout], 0u);
    EXPECT_FALSE(in6(r, frag6(pl, 64, 36, false, 79), 30000, st));
    EXPECT_EQ(st[ReasmTimeout], 1u);
    EXPECT_FALSE(in6(r, frag6(pl, 64, 36, false), 30000, st));  // too late for the first
}

TEST(Reass6, AtomicFragmentCancelsQueue_4_4_1) {
    Reass6 r;
    uint64_t st[kIpStats] = {};
    std::string pl = pattern(100);
    EXPECT_FALSE(in6(r, frag6(pl, 0, 64, true), 0, st));
    auto w = in6(r, frag6(pl, 0, 100, false), 0, st);
    ASSERT_TRUE(w);
    EXPECT_EQ(w->size(), 140u);
    EXPECT_EQ(r.queues(), 0u);
    EXPECT_EQ(st[ReasmFails], 1u);
    EXPECT_EQ(st[ReasmOKs], 0u);
}

TEST(Reass6, HundredQueuesOldestDropped_4_4_1) {
    Reass6 r;
    uint64_t st[kIpStats] = {};
    std::string pl = pattern(64);
    for (uint32_t id = 0; id < 101; id++) in6(r, frag6(pl, 0, 32, true, id), 0, st);
    EXPECT_EQ(r.queues(), 100u);
    EXPECT_EQ(st[ReasmFails], 1u);
    EXPECT_TRUE(in6(r, frag6(pl, 32, 32, false, 1), 0, st));
    EXPECT_FALSE(in6(r, frag6(pl, 32, 32, false, 0), 0, st));  // the oldest went
}

TEST(Reass6, SixtyFourKilobytesFails_4_4_1) {
    Reass6 r;
    uint64_t st[kIpStats] = {};
    std::string pl = pattern(66000);
    EXPECT_FALSE(in6(r, frag6(pl, 0, 1000, true), 0, st));
    EXPECT_FALSE(in6(r, frag6(pl, 65000, 1000, false), 0, st));
    EXPECT_EQ(st[ReasmFails], 1u);
    EXPECT_EQ(r.queues(), 0u);  // the queue with its key went too
}

struct FragTest : ::testing::Test {
    test::FakeNetio io{2};
    Net net{&io};
    Stack& s = net.stack(0);
    const Ether peer{{0, 0x11, 0x22, 0x33, 0x44, 0x55}};
    Ipifc& up(const char* dev, const char* addr) {
        auto& f = static_cast<Ipifc&>(**s.ipifc->clone("eve"));
        EXPECT_FALSE(f.p->write_ctl(f, parsecmd(std::string("bind ether ") + dev)));
        EXPECT_FALSE(f.p->write_ctl(f, parsecmd(std::string("add ") + addr + " 255.255.255.0")));
        return f;
    }
};

TEST_F(FragTest, UdpFragmentsReassembledForLocalDelivery) {
    up("/net/ether0", "198.18.0.1");
    Conv& c = **udp_of(s)->clone("eve");
    ASSERT_FALSE(c.p->write_ctl(c, parsecmd("announce 9")));
    ASSERT_FALSE(c.p->write_ctl(c, parsecmd("headers")));
    std::string data = pattern(2000);
    auto whole = test::udp(0xc6120002, 0xc6120001, 1234, 9, data);
    std::string payload(whole.begin() + 20, whole.end());
    for (size_t off = 0; off < payload.size(); off += 1000) {
        size_t n = std::min<size_t>(1000, payload.size() - off);
        net.input(0, test::eth(io.ports[0].mac, peer, 0x0800,
                               frag(payload, off, n, off + n < payload.size(), 9)));
    }
    std::string out;
    Err e;
    ASSERT_EQ(c.rq.read(65536, out, e), Queue::R::Data);
    EXPECT_EQ(out.substr(52), data);
}

TEST_F(FragTest, ForwardedPacketFragmentedToEgressMtu_4_4) {
    Ipifc& a = up("/net/ether0", "198.18.1.1");
    Ipifc& b = up("/net/ether1", "198.18.2.1");
    ASSERT_FALSE(b.p->write_ctl(b, parsecmd("mtu 1014")));  // 1000-byte IP packets
    ASSERT_FALSE(a.p->write_ctl(a, parsecmd("iprouting 1")));
    ASSERT_EQ(s.arp_write("add 198.18.2.2 020000000202"), ok);
    io.sent.clear();
    auto p = test::udp(0xc6120102, 0xc6120202, 1, 2, pattern(2500));
    net.input(0, test::eth(io.ports[0].mac, peer, 0x0800, p));
    ASSERT_EQ(io.sent.size(), 3u);
    size_t total = 0;
    for (size_t i = 0; i < 3; i++) {
        const uint8_t* ip = io.sent[i].bytes.data() + 14;
        EXPECT_EQ(io.sent[i].port, 1);
        EXPECT_LE(get16(ip + 2), 1000);
        EXPECT_EQ(csum(ip, 20), 0);
        EXPECT_EQ(get16(ip + 4), 0x1234);  // the ID is kept
        EXPECT_EQ(ip[8], 63);
        EXPECT_EQ(bool(get16(ip + 6) & 0x2000), i < 2);
        total += get16(ip + 2) - 20u;
    }
    EXPECT_EQ(total, p.size() - 20);
    EXPECT_EQ(s.ipstat[FragOKs], 1u);
    EXPECT_EQ(s.ipstat[FragCreates], 3u);
}

TEST_F(FragTest, DontFragmentGetsFragmentationNeeded_4_4_2) {
    Ipifc& a = up("/net/ether0", "198.18.1.1");
    Ipifc& b = up("/net/ether1", "198.18.2.1");
    ASSERT_FALSE(b.p->write_ctl(b, parsecmd("mtu 1014")));
    ASSERT_FALSE(a.p->write_ctl(a, parsecmd("iprouting 1")));
    ASSERT_EQ(s.arp_write("add 198.18.1.2 020000000102"), ok);
    io.sent.clear();
    auto p = test::udp(0xc6120102, 0xc6120202, 1, 2, pattern(1400));
    put16(p.data() + 6, 0x4000);
    put16(p.data() + 10, 0);
    put16(p.data() + 10, csum(p.data(), 20));
    net.input(0, test::eth(io.ports[0].mac, peer, 0x0800, p));
    ASSERT_EQ(io.sent.size(), 1u);
    const uint8_t* ip = io.sent[0].bytes.data() + 14;
    EXPECT_EQ(io.sent[0].port, 0);
    EXPECT_EQ(ip[20], 3);
    EXPECT_EQ(ip[21], 4);
    EXPECT_EQ(get16(ip + 26), 1000);  // next-hop MTU
    EXPECT_EQ(get32(ip + 16), 0xc6120102u);
}

TEST_F(FragTest, TtlExpiryGetsTimeExceeded_4_4_2) {
    Ipifc& a = up("/net/ether0", "198.18.1.1");
    up("/net/ether1", "198.18.2.1");
    ASSERT_FALSE(a.p->write_ctl(a, parsecmd("iprouting 1")));
    ASSERT_EQ(s.arp_write("add 198.18.1.2 020000000102"), ok);
    io.sent.clear();
    net.input(0, test::eth(io.ports[0].mac, peer, 0x0800,
                           test::ip4(0xc6120102, 0xc6120202, 17, std::vector<uint8_t>(8), 1)));
    ASSERT_EQ(io.sent.size(), 1u);
    const uint8_t* ip = io.sent[0].bytes.data() + 14;
    EXPECT_EQ(ip[20], 11);
    EXPECT_EQ(get32(ip + 12), 0xc6120101u);  // from our address on the arrival interface
}

}  // namespace
}  // namespace devip::proto
