// The worker's burst function (dataplane/burst.h) on real mbufs: every outcome of the short
// road and of the general path, alone and mixed in one burst, with the frames that leave.
#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include <vector>

#include "dataplane/burst.h"
#include "proto/ip6.h"
#include "unittests/eal.h"

namespace devip::dp {
namespace {

using namespace devip::proto;

const Ether kMac0{{2, 0, 0, 0, 0, 0x10}}, kMac1{{2, 0, 0, 0, 0, 0x11}};
const Ether kGw{{2, 0, 0, 0, 0, 0x20}}, kHostB{{2, 0, 0, 0, 0, 0x30}}, kPeer{{2, 0, 0, 0, 0, 0x40}};
constexpr uint32_t kMe0 = 0xc6120101;   // 198.18.1.1 on port 0
constexpr uint32_t kGw4 = 0xc6130002;   // 198.19.0.2, gateway on port 1
constexpr uint32_t kB4 = 0xc6120202;    // 198.18.2.2, on-link on port 1

Ipaddr v6(uint16_t net, uint64_t host) {  // 2001:2:0:NET::HOST
    Ipaddr a;
    a.b[0] = 0x20, a.b[1] = 0x01, a.b[3] = 0x02, a.b[6] = uint8_t(net >> 8), a.b[7] = uint8_t(net);
    for (int i = 0; i < 8; i++) a.b[size_t(8 + i)] = uint8_t(host >> (56 - 8 * i));
    return a;
}

Route route(const Ipaddr& dst, int len, const Ipaddr& gate, uint16_t type) {
    Route r{};
    r.mask = prefix_mask(len);
    r.dst = dst & r.mask;
    r.gate = gate;
    r.type = type;
    return r;
}

struct BurstTest : ::testing::Test {
    rte_mempool* pool = nullptr;
    FastTable t{};
    Fib4 fib4;
    Fib6 fib6;
    std::atomic<uint32_t> ipid{0};
    TxBuf txb[kMaxPorts];
    FastStats stats[kMaxStacks] = {};
    std::vector<std::pair<uint16_t, rte_mbuf*>> sent;  // what flushes took, with the port

    void SetUp() override {
        DEVIP_REQUIRE_EAL();
        static rte_mempool* p = rte_pktmbuf_pool_create("burst_test", 512, 0, 0,
                                                        RTE_MBUF_DEFAULT_BUF_SIZE, 0);
        pool = p;
        ASSERT_TRUE(pool);
        Retire now = [](std::function<void()> f) { f(); };
        ASSERT_FALSE(fib4.init(1024, {}, now));
        ASSERT_FALSE(fib6.init(1024, {}, now));
        for (int i = 0; i < 2; i++) {
            PortRt& r = t.port[size_t(i)];
            r.bound = r.forwarding = 1;
            r.mtu = r.mtu6 = 1500;
            r.mac = i ? kMac1 : kMac0;
        }
        t.port[1].mtu = 576;
        t.port[0].nlocal = 1;
        t.port[0].local[0] = __builtin_bswap32(kMe0);
        t.fib[0] = fib4.rt();
        t.fib6[0] = fib6.rt();
        t.ipid[0] = &ipid;
        fib4.route(route(Ipaddr::v4(0), 96, Ipaddr::v4(kGw4), Rv4), true, NhKind::Gate, 1);
        fib4.route(route(Ipaddr::v4(kB4), 120, Ipaddr::v4(kB4 & ~0xffu), Rv4 | Rifc), true,
                   NhKind::OnLink, 1);
        fib4.route(route(Ipaddr::v4(kMe0), 128, Ipaddr::v4(kMe0), Rv4 | Runi), true,
                   NhKind::Local, 0);
        fib4.neigh_set(1, fib_addr<4>(Ipaddr::v4(kGw4)), kGw);
        fib4.neigh_set(1, fib_addr<4>(Ipaddr::v4(kB4)), kHostB);
        fib6.route(route(v6(0x100, 0), 56, v6(1, 2), 0), true, NhKind::Gate, 1);
        fib6.route(route(v6(2, 0), 64, v6(2, 0), Rifc), true, NhKind::OnLink, 1);
        fib6.neigh_set(1, fib_addr<16>(v6(1, 2)), kGw);
        fib6.neigh_set(1, fib_addr<16>(v6(2, 2)), kHostB);
        fib4.commit();
        fib6.commit();
    }

    static std::vector<uint8_t> frame4(uint32_t src, uint32_t dst, uint8_t ttl, size_t pad = 0,
                                       uint8_t proto = kProtoUdp) {
        std::vector<uint8_t> f(14 + 28 + pad, 0);
        std::memcpy(f.data(), kMac0.b.data(), 6);
        std::memcpy(f.data() + 6, kPeer.b.data(), 6);
        put16(f.data() + 12, kEthIp4);
        uint8_t* ip = f.data() + 14;
        ip[0] = 0x45, ip[8] = ttl, ip[9] = proto;
        put16(ip + 2, 28);
        put32(ip + 12, src);
        put32(ip + 16, dst);
        put16(ip + 10, csum(ip, 20));
        if (proto == kProtoIcmp) {  // an echo request
            ip[20] = 8;
            put16(ip + 22, csum(ip + 20, 8));
        }
        return f;
    }
    static std::vector<uint8_t> frame6(const Ipaddr& src, const Ipaddr& dst, uint8_t hop) {
        std::vector<uint8_t> f(14 + 48, 0);
        std::memcpy(f.data(), kMac0.b.data(), 6);
        std::memcpy(f.data() + 6, kPeer.b.data(), 6);
        put16(f.data() + 12, kEthIp6);
        uint8_t* ip = f.data() + 14;
        ip[0] = 0x60, ip[6] = kProtoUdp, ip[7] = hop;
        put16(ip + 4, 8);
        std::memcpy(ip + 8, src.b.data(), 16);
        std::memcpy(ip + 24, dst.b.data(), 16);
        return f;
    }
    rte_mbuf* mbuf(const std::vector<uint8_t>& f) {
        rte_mbuf* m = rte_pktmbuf_alloc(pool);
        std::memcpy(rte_pktmbuf_append(m, uint16_t(f.size())), f.data(), f.size());
        return m;
    }
    // Runs one burst; returns the outcome of each frame in order: 'T' sent (port in *out),
    // 'P' punted, 'D' dropped.
    std::string run(std::vector<rte_mbuf*> in, std::vector<uint16_t>* ports = nullptr) {
        BurstOut o;
        sent.clear();
        auto flush = [&](uint16_t port) {
            for (int i = 0; i < txb[port].n; i++) sent.push_back({port, txb[port].m[i]});
            txb[port].n = 0;
        };
        fast_burst(in.data(), uint16_t(in.size()), 0, t, stats, txb, o, flush);
        for (uint16_t p = 0; p < 2; p++) flush(p);
        std::string r;
        for (rte_mbuf* m : in) {
            char c = '?';
            for (auto& [p, s] : sent)
                if (s == m) {
                    c = 'T';
                    if (ports) ports->push_back(p);
                }
            for (int i = 0; i < o.npunt; i++) c = o.punt[i] == m ? 'P' : c;
            for (int i = 0; i < o.ndrop; i++) c = o.drop[i] == m ? 'D' : c;
            r += c;
        }
        return r;
    }
    void TearDown() override {}
    static const uint8_t* data(rte_mbuf* m) { return rte_pktmbuf_mtod(m, const uint8_t*); }
};

TEST_F(BurstTest, PlainIPv4ToGatewayLeavesRewritten) {
    rte_mbuf* m = mbuf(frame4(0xc6120105, 0x08080808, 64));
    std::vector<uint16_t> ports;
    EXPECT_EQ(run({m}, &ports), "T");
    EXPECT_EQ(ports, std::vector<uint16_t>{1});
    EXPECT_EQ(m->data_len, 42);
    EXPECT_EQ(m->pkt_len, 42u);
    const uint8_t* f = data(m);
    EXPECT_EQ(std::memcmp(f, kGw.b.data(), 6), 0);
    EXPECT_EQ(std::memcmp(f + 6, kMac1.b.data(), 6), 0);
    EXPECT_EQ(f[14 + 8], 63);
    EXPECT_EQ(csum(f + 14, 20), 0);
    EXPECT_EQ(stats[0].ip[ForwDatagrams], 1u);
    rte_pktmbuf_free(m);
}

TEST_F(BurstTest, OnLinkNeighboursAndPaddingAreTrimmed) {
    rte_mbuf* a = mbuf(frame4(0xc6120105, kB4, 64, 18));  // Ethernet padding after the IP packet
    rte_mbuf* b = mbuf(frame6(v6(1, 5), v6(2, 2), 64));
    EXPECT_EQ(run({a, b}), "TT");
    EXPECT_EQ(a->data_len, 42);  // 14 + 28, the pad cut off
    EXPECT_EQ(b->data_len, 62);
    EXPECT_EQ(std::memcmp(data(a), kHostB.b.data(), 6), 0);
    EXPECT_EQ(std::memcmp(data(b), kHostB.b.data(), 6), 0);
    EXPECT_EQ(data(b)[14 + 7], 63);
    rte_pktmbuf_free(a);
    rte_pktmbuf_free(b);
}

TEST_F(BurstTest, PlainIPv6ToGateway) {
    rte_mbuf* m = mbuf(frame6(v6(1, 5), v6(0x1a0, 9), 2));
    EXPECT_EQ(run({m}), "T");
    EXPECT_EQ(m->data_len, 62);
    EXPECT_EQ(std::memcmp(data(m), kGw.b.data(), 6), 0);
    EXPECT_EQ(data(m)[14 + 7], 1);
    rte_pktmbuf_free(m);
}

TEST_F(BurstTest, EchoToUsAnsweredInPlace) {
    rte_mbuf* m = mbuf(frame4(0xc6120105, kMe0, 64, 0, kProtoIcmp));
    std::vector<uint16_t> ports;
    EXPECT_EQ(run({m}, &ports), "T");
    EXPECT_EQ(ports, std::vector<uint16_t>{0});
    EXPECT_EQ(m->data_len, 42);
    EXPECT_EQ(get32(data(m) + 14 + 16), 0xc6120105u);
    EXPECT_EQ(data(m)[14 + 20], 0);  // echo reply
    rte_pktmbuf_free(m);
}

TEST_F(BurstTest, TheUnusualGoesToTheControlThread) {
    auto bad = frame4(0xc6120105, 0x08080808, 64);
    bad[14 + 10] ^= 1;  // header checksum
    auto ll = frame6(v6(1, 5), v6(1, 5), 64);
    ll[14 + 24] = 0xfe, ll[14 + 25] = 0x80;  // link-local destination
    auto big = frame4(0xc6120105, 0x08080808, 64, 600);
    put16(big.data() + 14 + 2, 628);  // more than port 1's MTU of 576
    put16(big.data() + 14 + 10, 0);
    put16(big.data() + 14 + 10, csum(big.data() + 14, 20));
    std::vector<rte_mbuf*> in = {
        mbuf(frame4(0xc6120105, 0x08080808, 1)),           // TTL expires: time exceeded
        mbuf(bad),                                         // dropped, InHdrErrors
        mbuf(ll),                                          // link-local: not forwarded here
        mbuf(frame6(v6(1, 5), v6(0x1a0, 9), 1)),           // hop limit expires
        mbuf(big),                                         // fragmentation needed
        mbuf(frame4(0xc6120105, 0x08080808, 64)),          // and one that goes
        mbuf(frame4(0xc6120105, kMe0, 64)),                // UDP to us
    };
    EXPECT_EQ(run(in), "PDPPPTP");
    EXPECT_EQ(stats[0].ip[InHdrErrors], 1u);
    EXPECT_EQ(stats[0].punt[PuntTtl], 2u);
    EXPECT_EQ(stats[0].punt[PuntMtu], 1u);
    for (auto* m : in) rte_pktmbuf_free(m);
}

TEST_F(BurstTest, UnresolvedGatewayPuntsUntilArpLearnsIt) {
    fib4.neigh_del(1, fib_addr<4>(Ipaddr::v4(kGw4)));
    rte_mbuf* m = mbuf(frame4(0xc6120105, 0x08080808, 64));
    EXPECT_EQ(run({m}), "P");
    EXPECT_EQ(stats[0].punt[PuntNeigh], 1u);
    fib4.neigh_set(1, fib_addr<4>(Ipaddr::v4(kGw4)), kGw);
    EXPECT_EQ(run({m}), "T");
    rte_pktmbuf_free(m);
}

// 64 frames of every kind: each comes out where it should, whatever its neighbours.
TEST_F(BurstTest, MixedBurstsKeepEachFramesFate) {
    std::vector<std::vector<uint8_t>> kinds = {
        frame4(0xc6120105, 0x08080808, 64), frame4(0xc6120105, kB4, 64),
        frame6(v6(1, 5), v6(0x1a0, 9), 64), frame6(v6(1, 5), v6(2, 2), 64),
        frame4(0xc6120105, 0x08080808, 1),  frame4(0xc6120105, kMe0, 64, 0, kProtoIcmp),
    };
    const char* fate = "TTTTPT";
    for (int round = 0; round < 4; round++) {
        std::vector<rte_mbuf*> in;
        std::string want;
        for (int i = 0; i < int(kBurst); i++) {
            int k = (i * 7 + round * 3) % int(kinds.size());
            in.push_back(mbuf(kinds[size_t(k)]));
            want += fate[k];
        }
        EXPECT_EQ(run(in), want) << round;
        for (auto* m : in) {
            if (get16(data(m) + 12) == kEthIp4) {
                EXPECT_EQ(csum(data(m) + 14, 20), 0);
            }
            rte_pktmbuf_free(m);
        }
    }
}

}  // namespace
}  // namespace devip::dp
