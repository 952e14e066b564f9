// The worker FIB against the control-side Rib it follows (§4.3.2): the same answers for
// random tables and lookups, through incremental adds and removes.
#include <gtest/gtest.h>

#include <random>

#include "proto/fib_lookup.h"
#include "proto/iproute.h"
#include "unittests/eal.h"
#include "proto/text.h"

namespace devip::proto {
namespace {

struct FibTest : ::testing::Test {
    Fib4 fib;
    Rib rib;
    void SetUp() override {
        if (!test::eal()) GTEST_SKIP() << "EAL unavailable";
        static int n = 0;
        ASSERT_FALSE(fib.init(100 + n++, 1 << 17, nullptr, [](std::function<void()> f) { f(); }));
        rib.on_change = [this](const Route& r, bool present) {
            NhKind k = (r.type & (Runi | Rbcast | Rmulti)) ? NhKind::Local
                       : (r.type & Rifc)                   ? NhKind::OnLink
                                                           : NhKind::Gate;
            fib.route(r, present, k, uint16_t(r.ifc));
        };
    }
    static Route v4route(uint32_t dst, int len, uint32_t gate, int ifc, uint16_t type = Rv4) {
        Route r{};
        r.dst = Ipaddr::v4(dst);
        r.mask = prefix_mask(96 + len);
        r.gate = Ipaddr::v4(gate);
        r.type = type;
        r.ifc = ifc;
        r.tag = kTagNone;
        return r;
    }
    // The Rib's answer in FIB terms.
    static bool expect(const Route* r, NhRt& out) {
        if (!r) return false;
        out.kind = (r->type & (Runi | Rbcast | Rmulti)) ? NhKind::Local
                   : (r->type & Rifc)                   ? NhKind::OnLink
                                                        : NhKind::Gate;
        out.port = uint16_t(r->ifc);
        std::memcpy(&out.gate, r->gate.b.data() + 12, 4);
        return true;
    }
    void check(uint32_t dst, uint32_t src) {
        NhRt want{}, got{};
        bool w = expect(rib.lookup(Ipaddr::v4(dst), Ipaddr::v4(src)), want);
        fib.commit();
        bool g = FibLookup{fib.rt()}.route(dst, src, got);
        ASSERT_EQ(w, g) << std::hex << dst << " from " << src << " odd " << fib.rt()->odd.load()
                        << " value " << FibLookup{fib.rt()}.lookup1(dst) << " rib "
                        << (w ? fmt_ip(rib.lookup(Ipaddr::v4(dst), Ipaddr::v4(src))->dst) : "")
                        << "/" << (w ? fmt_mask(rib.lookup(Ipaddr::v4(dst), Ipaddr::v4(src))->mask) : "");
        if (!w) return;
        EXPECT_EQ(int(got.kind), int(want.kind));
        EXPECT_EQ(got.port, want.port);
        if (want.kind == NhKind::Gate) EXPECT_EQ(got.gate, want.gate);
    }
};

TEST_F(FibTest, LongestPrefixWins_4_3_2) {
    rib.add(v4route(0, 0, 0x0a000001, 0));
    rib.add(v4route(0xc6120000, 16, 0x0a000002, 1));
    rib.add(v4route(0xc6120100, 24, 0x0a000003, 2));
    check(0xc6120105, 0);
    check(0xc6120205, 0);
    check(0x01020304, 0);
    NhRt nh{};
    ASSERT_TRUE((fib.commit(), FibLookup{fib.rt()}).route(0xc6120105, 0, nh));
    EXPECT_EQ(nh.port, 2);
}

TEST_F(FibTest, SourceSpecificSecondStage_4_3_2) {
    Route any = v4route(0, 0, 0x0a000001, 0);
    Route sp = v4route(0, 0, 0x0a000009, 3);
    sp.src = Ipaddr::v4(0xc6120000);
    sp.smask = prefix_mask(96 + 16);
    rib.add(any);
    rib.add(sp);
    NhRt nh{};
    ASSERT_TRUE((fib.commit(), FibLookup{fib.rt()}).route(0x08080808, 0xc6120505, nh));
    EXPECT_EQ(nh.port, 3);
    ASSERT_TRUE((fib.commit(), FibLookup{fib.rt()}).route(0x08080808, 0xc6130505, nh));
    EXPECT_EQ(nh.port, 0);
    rib.remove(sp);
    ASSERT_TRUE((fib.commit(), FibLookup{fib.rt()}).route(0x08080808, 0xc6120505, nh));
    EXPECT_EQ(nh.port, 0);
}

TEST_F(FibTest, SourceOnlyPrefixPuntsWhenNoSourceMatches) {
    // 9front skips a non-matching source-specific route and falls back to a shorter prefix:
    // the fast path leaves that case to the control thread rather than guess.
    rib.add(v4route(0, 0, 0x0a000001, 0));
    Route sp = v4route(0xc6120000, 16, 0x0a000009, 3);
    sp.src = Ipaddr::v4(0x01000000);
    sp.smask = prefix_mask(96 + 8);
    rib.add(sp);
    NhRt nh{};
    EXPECT_FALSE((fib.commit(), FibLookup{fib.rt()}).route(0xc6120101, 0x02020202, nh));
    ASSERT_TRUE((fib.commit(), FibLookup{fib.rt()}).route(0xc6120101, 0x01020202, nh));
    EXPECT_EQ(nh.port, 3);
}

TEST_F(FibTest, NonContiguousMaskPuntsEverything_4_3_1) {
    rib.add(v4route(0, 0, 0x0a000001, 0));
    Route odd = v4route(0x0a000000, 8, 0x0a000002, 1);
    odd.mask = Ipaddr::ones();
    odd.mask.b[13] = 0;  // 255.0.255.255
    rib.add(odd);
    NhRt nh{};
    EXPECT_FALSE((fib.commit(), FibLookup{fib.rt()}).route(0x08080808, 0, nh));
    rib.remove(odd);
    EXPECT_TRUE((fib.commit(), FibLookup{fib.rt()}).route(0x08080808, 0, nh));
}

TEST_F(FibTest, NeighbourHash) {
    Ether m{{2, 0, 0, 0, 0, 9}};
    uint32_t ip = 0x01020304;
    Ether got;
    EXPECT_FALSE(FibLookup{fib.rt()}.neigh(1, ip, got));
    fib.neigh_set(1, ip, m);
    ASSERT_TRUE(FibLookup{fib.rt()}.neigh(1, ip, got));
    EXPECT_EQ(got, m);
    EXPECT_FALSE(FibLookup{fib.rt()}.neigh(2, ip, got));
    fib.neigh_del(1, ip);
    EXPECT_FALSE(FibLookup{fib.rt()}.neigh(1, ip, got));
}

// 20k random routes with a BGP-like length mix, source-specific ones always beside an
// any-source route of the same prefix; 200k lookups; then churn (remove half, add more).
TEST_F(FibTest, RandomTablesAgreeWithRib) {
    std::mt19937 rng(7);
    auto rlen = [&] {
        int x = int(rng() % 100);
        return x < 55 ? 24 : x < 80 ? 16 + int(rng() % 8) : x < 90 ? 8 + int(rng() % 8)
                                                                  : 25 + int(rng() % 8);
    };
    std::vector<Route> added;
    std::vector<Route> sources;  // source-specific routes, each beside added[k]
    auto add_some = [&](int n) {
        for (int i = 0; i < n; i++) {
            int len = rlen();
            uint32_t dst = rng() & (len ? ~0u << (32 - len) : 0);
            Route r = v4route(dst, len, 0x0a000000 | (rng() & 0xff), int(rng() % 4),
                              uint16_t(Rv4 | (rng() % 10 == 0 ? Rifc : 0)));
            rib.add(r);
            added.push_back(r);
            if (rng() % 20 == 0) {
                Route s = r;
                s.src = Ipaddr::v4(rng());
                s.smask = prefix_mask(96 + 8 + int(rng() % 17));
                s.src = s.src & s.smask;
                s.gate = Ipaddr::v4(0x0b000000 | (rng() & 0xff));
                s.ifc = int(rng() % 4);
                rib.add(s);
                sources.push_back(s);
            }
        }
    };
    auto lookups = [&](int n) {
        for (int i = 0; i < n; i++) {
            uint32_t d = i % 2 && !added.empty() ? added[rng() % added.size()].dst.v4host() |
                                                       (rng() & 0xff)
                                                 : rng();
            check(d, rng());
            if (HasFatalFailure()) return;
        }
    };
    add_some(20000);
    lookups(100000);
    // remove half the prefixes, whole (a prefix left with only source-specific routes is
    // the punted case tested above)
    for (size_t i = 0; i < added.size(); i += 2) {
        Route gone = added[i];
        rib.remove(gone);
        for (auto& s : sources)
            if (s.dst == (gone.dst & gone.mask) && s.mask == gone.mask) rib.remove(s);
    }
    add_some(5000);
    lookups(100000);
}

}  // namespace
}  // namespace devip::proto
namespace devip::proto {
namespace {
TEST_F(FibTest, InterfaceRoutesWithSourceVariant_4_2_2) {
    Route i1 = v4route(0xc6120200, 24, 0xc6120200, 1, Rv4 | Rifc);
    Route i2 = i1;
    i2.src = Ipaddr::v4(0xc6120201);
    i2.smask = prefix_mask(128);
    rib.add(i2);
    rib.add(i1);
    NhRt nh{};
    fib.commit();
    uint64_t v = FibLookup{fib.rt()}.lookup1(0xc6120202);
    ASSERT_TRUE(FibLookup{fib.rt()}.resolve(v, 0xc6120102, nh)) << std::hex << v;
    EXPECT_EQ(int(nh.kind), int(NhKind::OnLink));
    EXPECT_EQ(nh.port, 1);
}
}  // namespace
}  // namespace devip::proto
