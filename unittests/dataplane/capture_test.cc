// Capture (dataplane/capture.h) on real mbufs: tcpdump filters through libpcap and rte_bpf
// (the JIT and the interpreter agree), and a capture end to end on a worker's burst: the
// pcapng it reads back (section, interface, packet and statistics blocks; direction, queue,
// lengths), drops counted when the ring is full, stale copies of a closed capture ignored.
#include <gtest/gtest.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "dataplane/capture.h"
#include "unittests/eal.h"

namespace devip::dp {
namespace {

using Err = proto::Err;

constexpr uint32_t kShb = 0x0A0D0D0A, kIdb = 1, kIsb = 5, kEpb = 6;

// An Ethernet + IPv4 frame: proto 1 (ICMP echo request) or 17 (UDP sport → dport).
std::vector<uint8_t> frame(uint8_t proto, uint16_t sport = 0, uint16_t dport = 0,
                           size_t payload = 32) {
    std::vector<uint8_t> f(14 + 20 + 8 + payload, 0);
    f[12] = 0x08;
    uint8_t* ip = f.data() + 14;
    ip[0] = 0x45;
    uint16_t tl = uint16_t(20 + 8 + payload);
    ip[2] = uint8_t(tl >> 8), ip[3] = uint8_t(tl);
    ip[8] = 64, ip[9] = proto;
    ip[12] = 198, ip[13] = 18, ip[15] = 2;
    ip[16] = 198, ip[17] = 18, ip[19] = 1;
    uint8_t* l4 = ip + 20;
    if (proto == 1) l4[0] = 8;  // echo request
    if (proto == 17) {
        l4[0] = uint8_t(sport >> 8), l4[1] = uint8_t(sport);
        l4[2] = uint8_t(dport >> 8), l4[3] = uint8_t(dport);
        l4[5] = uint8_t(8 + payload);
    }
    return f;
}

struct Block {
    uint32_t type;
    std::string body;  // between the length and the trailing length
};

std::vector<Block> blocks(const std::string& s) {
    std::vector<Block> v;
    size_t at = 0;
    while (at + 12 <= s.size()) {
        uint32_t t, n, n2;
        std::memcpy(&t, s.data() + at, 4);
        std::memcpy(&n, s.data() + at + 4, 4);
        if (n < 12 || at + n > s.size()) break;
        std::memcpy(&n2, s.data() + at + n - 4, 4);
        EXPECT_EQ(n, n2);
        v.push_back({t, s.substr(at + 8, n - 12)});
        at += n;
    }
    EXPECT_EQ(at, s.size());
    return v;
}

uint32_t u32(const std::string& b, size_t at) {
    uint32_t v;
    std::memcpy(&v, b.data() + at, 4);
    return v;
}

// The value of option code in an options area, or "".
std::string option(const std::string& opts, uint16_t code) {
    for (size_t o = 0; o + 4 <= opts.size();) {
        uint16_t c, n;
        std::memcpy(&c, opts.data() + o, 2);
        std::memcpy(&n, opts.data() + o + 2, 2);
        if (c == 0) break;
        if (c == code) return opts.substr(o + 4, n);
        o += 4 + ((n + 3u) & ~3u);
    }
    return {};
}

struct CaptureTest : ::testing::Test {
    rte_mempool* pool = nullptr;
    std::vector<rte_mbuf*> held;

    void SetUp() override {
        DEVIP_REQUIRE_EAL();
        pool = rte_pktmbuf_pool_create("cap_test", 512, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                       int(rte_socket_id()));
        if (!pool) pool = rte_mempool_lookup("cap_test");
        ASSERT_NE(pool, nullptr);
    }
    void TearDown() override {
        for (auto* m : held) rte_pktmbuf_free(m);
    }
    rte_mbuf* mbuf(const std::vector<uint8_t>& f) {
        rte_mbuf* m = rte_pktmbuf_alloc(pool);
        EXPECT_NE(m, nullptr);
        char* p = rte_pktmbuf_append(m, uint16_t(f.size()));
        std::memcpy(p, f.data(), f.size());
        held.push_back(m);
        return m;
    }
    std::vector<uint8_t> matches(const char* expr, const std::vector<rte_mbuf*>& ms, bool jit) {
        CapFilter f;
        Err e = capture_compile(expr, kCaptureSnapMax, f);
        EXPECT_FALSE(e) << e.text;
        std::vector<uint8_t> out(ms.size());
        capture_match(f.bpf, jit ? f.jit : nullptr, ms.data(), uint16_t(ms.size()), out.data());
        capture_free(f);
        return out;
    }
    // A port for the interface blocks: a null vdev, made once.
    static uint16_t port() {
        static int id = -1;
        if (id < 0 && rte_eal_hotplug_add("vdev", "net_null_cap", "") == 0) {
            uint16_t p;
            if (rte_eth_dev_get_port_by_name("net_null_cap", &p) == 0) id = p;
        }
        return id < 0 ? 0 : uint16_t(id);
    }
};

TEST_F(CaptureTest, FilterSyntaxErrorIsReportedAndLeavesTheOldFilter) {
    CapFilter f;
    ASSERT_FALSE(capture_compile("icmp", kCaptureSnapMax, f));
    rte_bpf* before = f.bpf;
    Err e = capture_compile("udp port", kCaptureSnapMax, f);
    ASSERT_TRUE(e);
    EXPECT_EQ(std::string(e.text).rfind("bad filter: ", 0), 0u) << e.text;
    EXPECT_NE(std::string(e.text).find("syntax error"), std::string::npos) << e.text;
    EXPECT_EQ(f.bpf, before);
    EXPECT_EQ(f.text, "icmp");
    capture_free(f);
}

TEST_F(CaptureTest, EmptyFilterMatchesEverything) {
    CapFilter f;
    ASSERT_FALSE(capture_compile("  ", kCaptureSnapMax, f));
    EXPECT_EQ(f.bpf, nullptr);
    std::vector<rte_mbuf*> ms{mbuf(frame(1)), mbuf(frame(17, 5, 7))};
    uint8_t m[2] = {0, 0};
    capture_match(f.bpf, f.jit, ms.data(), 2, m);
    EXPECT_EQ(m[0] + m[1], 2);
}

TEST_F(CaptureTest, IcmpAndUdpPortFiltersThroughJitAndInterpreter) {
    std::vector<rte_mbuf*> ms{mbuf(frame(1)), mbuf(frame(17, 5, 7)), mbuf(frame(17, 7, 9)),
                              mbuf(frame(17, 5, 9)), mbuf(frame(6))};
    for (bool jit : {true, false}) {
        EXPECT_EQ(matches("icmp", ms, jit), (std::vector<uint8_t>{1, 0, 0, 0, 0})) << jit;
        EXPECT_EQ(matches("udp port 7", ms, jit), (std::vector<uint8_t>{0, 1, 1, 0, 0})) << jit;
        EXPECT_EQ(matches("udp dst port 9 and not src port 7", ms, jit),
                  (std::vector<uint8_t>{0, 0, 0, 1, 0}))
            << jit;
    }
}

struct CaptureRun : CaptureTest {
    Capture cap;
    std::vector<std::function<void()>> later;  // what waits for a grace period
    void SetUp() override {
        CaptureTest::SetUp();
        if (HasFatalFailure() || IsSkipped()) return;
        ASSERT_FALSE(cap.init(1, [this](std::function<void()> fn) { later.push_back(fn); }));
    }
    void grace() {  // the workers are past: run what was retired
        auto due = std::move(later);
        later.clear();
        for (auto& fn : due) fn();
    }
    std::string read_all(int id) {
        std::string all, out;
        cap.drain([](const void*) {});
        while (cap.read(id, 65536, out) == Capture::R::Data) all += out;
        return all;
    }
};

TEST_F(CaptureRun, PcapngBlocksDirectionQueueAndLengths) {
    uint16_t p = port();
    auto r = cap.open(p);
    ASSERT_TRUE(r);
    int id = *r;
    ASSERT_FALSE(cap.filter(id, "udp port 7"));
    ASSERT_FALSE(cap.snaplen(id, 50));
    ASSERT_FALSE(cap.start(id, "unit test"));
    EXPECT_TRUE(capture_on());
    std::vector<rte_mbuf*> in{mbuf(frame(17, 5, 7, 100)), mbuf(frame(1))};
    std::vector<rte_mbuf*> out{mbuf(frame(17, 7, 5, 10))};
    cap.burst(0, p, in.data(), 2, CapDir::In);
    cap.burst(0, p, out.data(), 1, CapDir::Out);
    cap.burst(0, uint16_t(p + 1), in.data(), 1, CapDir::In);  // another port: not this one's
    std::string png = read_all(id);
    auto b = blocks(png);
    ASSERT_GE(b.size(), 4u);
    EXPECT_EQ(b[0].type, kShb);
    EXPECT_EQ(b[1].type, kIdb);
    ASSERT_EQ(b[2].type, kEpb);
    ASSERT_EQ(b[3].type, kEpb);
    EXPECT_EQ(b.size(), 4u);
    // EPB body: interface, timestamp (2), captured length, original length, data, options
    EXPECT_EQ(u32(b[2].body, 0), 0u);  // the only port's interface block
    EXPECT_EQ(u32(b[2].body, 12), 50u);
    EXPECT_EQ(u32(b[2].body, 16), 14u + 20 + 8 + 100);
    EXPECT_EQ(u32(b[3].body, 12), 50u);
    EXPECT_EQ(u32(b[3].body, 16), 14u + 20 + 8 + 10);
    auto flags = [](const Block& x) {
        std::string o = option(x.body.substr(20 + ((u32(x.body, 12) + 3) & ~3u)), 2);
        return o.size() == 4 ? u32(o, 0) : ~0u;
    };
    EXPECT_EQ(flags(b[2]), 1u);  // inbound
    EXPECT_EQ(flags(b[3]), 2u);  // outbound
    EXPECT_EQ(cap.read(id, 65536, png), Capture::R::Wait);

    cap.stop(id);
    EXPECT_FALSE(capture_on());
    grace();
    png = read_all(id);
    b = blocks(png);
    ASSERT_EQ(b.size(), 1u);
    ASSERT_EQ(b[0].type, kIsb);
    std::string opts = b[0].body.substr(12);
    std::string recv = option(opts, 4), drop = option(opts, 5);
    ASSERT_EQ(recv.size(), 8u);
    ASSERT_EQ(drop.size(), 8u);
    EXPECT_EQ(u32(recv, 0), 2u);
    EXPECT_EQ(u32(drop, 0), 0u);
    EXPECT_NE(option(opts, 1).find("2 packets captured, 0 dropped (worker0 0)"),
              std::string::npos);
    EXPECT_EQ(cap.read(id, 65536, png), Capture::R::End);
    cap.close(id);
    grace();
}

TEST_F(CaptureRun, FullRingDropsCopiesNotPackets) {
    uint16_t p = port();
    int id = *cap.open(p);
    ASSERT_FALSE(cap.start(id, ""));
    rte_mbuf* m = mbuf(frame(1));
    std::vector<rte_mbuf*> burst(32, m);
    for (unsigned i = 0; i < kCaptureRing / 32 + 2; i++)
        cap.burst(0, p, burst.data(), 32, CapDir::In);  // nobody drains meanwhile
    EXPECT_EQ(rte_mbuf_refcnt_read(m), 1);  // the packet is the worker's still
    uint64_t captured, dropped;
    std::string per;
    cap.drain([](const void*) {});
    cap.totals(id, captured, dropped, per);
    EXPECT_EQ(captured + dropped, uint64_t(kCaptureRing / 32 + 2) * 32);
    EXPECT_GE(dropped, 64u);
    EXPECT_EQ(per, "worker0 " + std::to_string(dropped));
    cap.close(id);
    grace();
}

TEST_F(CaptureRun, AtMostFourAndStaleCopiesAreIgnored) {
    uint16_t p = port();
    int ids[kMaxCaptures];
    for (int& i : ids) {
        auto r = cap.open(p);
        ASSERT_TRUE(r);
        i = *r;
    }
    EXPECT_EQ(cap.open(p).err(), proto::Enodev);
    ASSERT_FALSE(cap.start(ids[0], ""));
    rte_mbuf* m = mbuf(frame(1));
    cap.burst(0, p, &m, 1, CapDir::In);  // a copy on the ring for ids[0]
    cap.close(ids[0]);
    EXPECT_EQ(cap.open(p).err(), proto::Enodev);  // not before the grace period
    grace();
    auto r = cap.open(p);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, ids[0]);
    ASSERT_FALSE(cap.start(*r, ""));
    std::string png = read_all(*r);  // the old copy is dropped, not written here
    auto b = blocks(png);
    for (auto& x : b) EXPECT_NE(x.type, kEpb);
    for (int i : ids) cap.close(i);
    grace();
}

}  // namespace
}  // namespace devip::dp
