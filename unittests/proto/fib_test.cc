// The worker FIB against the control-side Rib it follows (§4.3.2): the same answers for
// random tables and lookups, through incremental adds and removes; the source-specific second
// stage; next hops and neighbours; a table that runs full and recovers.
#include <gtest/gtest.h>

#include <random>

#include "proto/fib_lookup.h"
#include "proto/iproute.h"
#include "proto/text.h"

namespace devip::proto {
namespace {

NhKind kind_of(const Route& r) {
    return (r.type & (Runi | Rbcast | Rmulti)) ? NhKind::Local
           : (r.type & Rifc)                   ? NhKind::OnLink
                                               : NhKind::Gate;
}

template <int N>
struct FibFixture : ::testing::Test {
    Fib<N> fib;
    Rib rib;
    uint32_t routes = 1 << 17;
    void SetUp() override { start(); }
    void start() {
        ASSERT_FALSE(fib.init(routes, LpmGrace{}, [](std::function<void()> f) { f(); }));
        rib.on_change = [this](const Route& r, bool present) {
            fib.route(r, present, kind_of(r), uint16_t(r.ifc));
        };
    }
    FibView<N> view() { return FibView<N>{fib.rt()}; }
    // The FIB's next hop for dst from src, or null.
    const NhRt<N>* fib_nh(const Ipaddr& dst, const Ipaddr& src) {
        auto d = fib_addr<N>(dst), s = fib_addr<N>(src);
        return view().resolve(view().lookup(d.data()), s.data());
    }
    void check(const Ipaddr& dst, const Ipaddr& src) {
        const Route* want = rib.lookup(dst, src);
        const NhRt<N>* got = fib_nh(dst, src);
        ASSERT_EQ(want != nullptr, got != nullptr)
            << fmt_ip(dst) << " from " << fmt_ip(src) << " rib "
            << (want ? fmt_ip(want->dst) + "/" + fmt_mask(want->mask) : std::string("none"))
            << " value " << view().lookup(fib_addr<N>(dst).data());
        if (!want) return;
        EXPECT_EQ(int(got->kind), int(kind_of(*want))) << fmt_ip(dst);
        if (kind_of(*want) == NhKind::Local) return;
        EXPECT_EQ(got->port, want->ifc) << fmt_ip(dst);
        if (kind_of(*want) == NhKind::Gate) EXPECT_EQ(got->gate, fib_addr<N>(want->gate));
    }
};
using FibTest = FibFixture<4>;
using Fib6Test = FibFixture<16>;

Route v4route(uint32_t dst, int len, uint32_t gate, int ifc, uint16_t type = Rv4) {
    Route r{};
    r.dst = Ipaddr::v4(dst);
    r.mask = prefix_mask(96 + len);
    r.gate = Ipaddr::v4(gate);
    r.type = type;
    r.ifc = ifc;
    r.tag = kTagNone;
    return r;
}

Ipaddr v4(uint32_t a) { return Ipaddr::v4(a); }

TEST_F(FibTest, LongestPrefixWins_4_3_2) {
    rib.add(v4route(0, 0, 0x0a000001, 0));
    rib.add(v4route(0xc6120000, 16, 0x0a000002, 1));
    rib.add(v4route(0xc6120100, 24, 0x0a000003, 2));
    check(v4(0xc6120105), v4(0));
    check(v4(0xc6120205), v4(0));
    check(v4(0x01020304), v4(0));
    const NhRt<4>* nh = fib_nh(v4(0xc6120105), v4(0));
    ASSERT_TRUE(nh);
    EXPECT_EQ(nh->port, 2);
}

TEST_F(FibTest, SourceSpecificSecondStage_4_3_2) {
    Route any = v4route(0, 0, 0x0a000001, 0);
    Route sp = v4route(0, 0, 0x0a000009, 3);
    sp.src = v4(0xc6120000);
    sp.smask = prefix_mask(96 + 16);
    rib.add(any);
    rib.add(sp);
    ASSERT_TRUE(fib_nh(v4(0x08080808), v4(0xc6120505)));
    EXPECT_EQ(fib_nh(v4(0x08080808), v4(0xc6120505))->port, 3);
    EXPECT_EQ(fib_nh(v4(0x08080808), v4(0xc6130505))->port, 0);
    rib.remove(sp);
    EXPECT_EQ(fib_nh(v4(0x08080808), v4(0xc6120505))->port, 0);
    rib.remove(any);
    EXPECT_FALSE(fib_nh(v4(0x08080808), v4(0xc6120505)));
}

TEST_F(FibTest, SourceOnlyPrefixPuntsWhenNoSourceMatches) {
    // 9front skips a non-matching source-specific route and falls back to a shorter prefix:
    // the fast path leaves that case to the control thread rather than guess.
    rib.add(v4route(0, 0, 0x0a000001, 0));
    Route sp = v4route(0xc6120000, 16, 0x0a000009, 3);
    sp.src = v4(0x01000000);
    sp.smask = prefix_mask(96 + 8);
    rib.add(sp);
    EXPECT_FALSE(fib_nh(v4(0xc6120101), v4(0x02020202)));
    ASSERT_TRUE(fib_nh(v4(0xc6120101), v4(0x01020202)));
    EXPECT_EQ(fib_nh(v4(0xc6120101), v4(0x01020202))->port, 3);
}

TEST_F(FibTest, InterfaceRoutesWithSourceVariant_4_2_2) {
    Route i1 = v4route(0xc6120200, 24, 0xc6120200, 1, Rv4 | Rifc);
    Route i2 = i1;
    i2.src = v4(0xc6120201);
    i2.smask = prefix_mask(128);
    rib.add(i2);
    rib.add(i1);
    const NhRt<4>* nh = fib_nh(v4(0xc6120202), v4(0xc6120102));
    ASSERT_TRUE(nh);
    EXPECT_EQ(int(nh->kind), int(NhKind::OnLink));
    EXPECT_EQ(nh->port, 1);
}

TEST_F(FibTest, NonContiguousMaskPuntsEverything_4_3_1) {
    rib.add(v4route(0, 0, 0x0a000001, 0));
    Route odd = v4route(0x0a000000, 8, 0x0a000002, 1);
    odd.mask = Ipaddr::ones();
    odd.mask.b[13] = 0;  // 255.0.255.255
    rib.add(odd);
    EXPECT_FALSE(view().usable());
    rib.remove(odd);
    EXPECT_TRUE(view().usable());
}

TEST_F(FibTest, OnLinkNeighboursPublishedAtCommit) {
    Ether m{{2, 0, 0, 0, 0, 9}};
    auto ip = fib_addr<4>(v4(0x01020304));
    EXPECT_EQ(view().neigh(1, ip.data()), 0u);
    fib.neigh_set(1, ip, m);
    EXPECT_EQ(view().neigh(1, ip.data()), 0u);  // not before the control loop publishes
    fib.commit();
    uint64_t l2 = view().neigh(1, ip.data());
    EXPECT_EQ(l2, l2_word(m));
    EXPECT_EQ(std::memcmp(&l2, m.b.data(), 6), 0);
    EXPECT_EQ(view().neigh(2, ip.data()), 0u);
    fib.neigh_del(1, ip);
    fib.commit();
    EXPECT_EQ(view().neigh(1, ip.data()), 0u);
}

TEST_F(FibTest, GatewayMacLivesInTheNextHop) {
    Ether m{{2, 0, 0, 0, 0, 7}};
    rib.add(v4route(0, 0, 0x0a000001, 1));
    const NhRt<4>* nh = fib_nh(v4(0x08080808), v4(0));
    ASSERT_TRUE(nh);
    EXPECT_EQ(FibView4::gate_l2(*nh), 0u);  // unresolved: the fast path punts
    fib.neigh_set(1, fib_addr<4>(v4(0x0a000001)), m);
    EXPECT_EQ(FibView4::gate_l2(*nh), l2_word(m));  // at once, no publish needed
    fib.neigh_del(1, fib_addr<4>(v4(0x0a000001)));
    EXPECT_EQ(FibView4::gate_l2(*nh), 0u);
    // a gateway learned before its first route
    fib.neigh_set(1, fib_addr<4>(v4(0x0a000002)), m);
    rib.add(v4route(0x0b000000, 8, 0x0a000002, 1));
    EXPECT_EQ(FibView4::gate_l2(*fib_nh(v4(0x0b000001), v4(0))), l2_word(m));
}

// Routes longer than /24 in more /24s than the table has groups for: the FIB says "bypassed"
// (the control thread routes, correctly) and comes back once deletes free groups; the same
// after a flush and a reload (the bug of the double-buffered rte_fib: it stayed bypassed).
TEST_F(FibTest, FullTableBypassesThenRecovers) {
    fib.~Fib<4>();
    new (&fib) Fib<4>();
    routes = 0;  // the smallest table: 4096 groups
    start();
    std::vector<Route> longs;
    for (uint32_t i = 0; i < 5000; i++) longs.push_back(v4route(0x0a000000 | i << 8 | 0x80, 25, 0x0b000001, 1));
    for (int round = 0; round < 2; round++) {
        for (auto& r : longs) rib.add(r);
        EXPECT_FALSE(view().usable()) << round;
        EXPECT_TRUE(fib.full());
        for (size_t i = 0; i < 1000; i++) rib.remove(longs[i]);
        fib.commit();
        EXPECT_TRUE(view().usable()) << round;
        for (size_t i = 1000; i < longs.size(); i += 97) check(longs[i].dst, v4(0));
        rib.flush(std::nullopt);
        fib.commit();
        EXPECT_TRUE(view().usable()) << round;
        EXPECT_EQ(fib.lpm().groups_used(), 0u);
        EXPECT_EQ(fib.prefixes(), 0u);
    }
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
                s.src = v4(rng());
                s.smask = prefix_mask(96 + 8 + int(rng() % 17));
                s.src = s.src & s.smask;
                s.gate = v4(0x0b000000 | (rng() & 0xff));
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
            check(v4(d), v4(rng()));
            if (HasFatalFailure()) return;
        }
    };
    add_some(20000);
    lookups(100000);
    for (size_t i = 0; i < added.size(); i += 2) {  // remove half the prefixes, whole
        Route gone = added[i];
        rib.remove(gone);
        for (auto& s : sources)
            if (s.dst == (gone.dst & gone.mask) && s.mask == gone.mask) rib.remove(s);
    }
    add_some(5000);
    lookups(100000);
}

Ipaddr v6(uint16_t a, uint16_t b, uint16_t c, uint16_t d, uint64_t low = 0) {
    Ipaddr r;
    uint16_t w[4] = {a, b, c, d};
    for (int i = 0; i < 4; i++) {
        r.b[size_t(2 * i)] = uint8_t(w[i] >> 8);
        r.b[size_t(2 * i + 1)] = uint8_t(w[i]);
    }
    for (int i = 0; i < 8; i++) r.b[size_t(8 + i)] = uint8_t(low >> (56 - 8 * i));
    return r;
}

Route v6route(const Ipaddr& dst, int len, const Ipaddr& gate, int ifc, uint16_t type = 0) {
    Route r{};
    r.mask = prefix_mask(len);
    r.dst = dst & r.mask;
    r.gate = gate;
    r.type = type;
    r.ifc = ifc;
    r.tag = kTagNone;
    return r;
}

TEST_F(Fib6Test, InterfaceAndGatewayRoutes) {
    Ipaddr gw = v6(0x2001, 2, 0, 1, 2);
    rib.add(v6route(v6(0x2001, 2, 0, 1), 64, v6(0x2001, 2, 0, 1), 0, Rifc));
    rib.add(v6route(v6(0x2001, 2, 0, 0x100), 56, gw, 0));
    rib.add(v6route(v6(0x2001, 2, 0, 1, 1), 128, v6(0x2001, 2, 0, 1, 1), 0, Runi));
    check(v6(0x2001, 2, 0, 1, 5), IPnoaddr);
    check(v6(0x2001, 2, 0, 0x1a0, 5), IPnoaddr);
    check(v6(0x2001, 2, 0, 1, 1), IPnoaddr);
    check(v6(0x2001, 3, 0, 1, 1), IPnoaddr);
    const NhRt<16>* nh = fib_nh(v6(0x2001, 2, 0, 0x1a0, 5), IPnoaddr);
    ASSERT_TRUE(nh);
    EXPECT_EQ(int(nh->kind), int(NhKind::Gate));
    EXPECT_EQ(nh->gate, fib_addr<16>(gw));
    EXPECT_EQ(int(fib_nh(v6(0x2001, 2, 0, 1, 1), IPnoaddr)->kind), int(NhKind::Local));
}

// Random v6 tables (/32 to /128, mostly /48 and /64) with source-specific routes beside
// any-source ones, against the Rib; then churn.
TEST_F(Fib6Test, RandomTablesAgreeWithRib) {
    std::mt19937 rng(9);
    auto rlen = [&] {
        int x = int(rng() % 100);
        return x < 40 ? 48 : x < 70 ? 64 : x < 80 ? 32 : x < 90 ? 128 : 20 + int(rng() % 100);
    };
    auto raddr = [&] {
        return v6(0x2001, uint16_t(rng() % 4), uint16_t(rng() % 8), uint16_t(rng()),
                  (uint64_t(rng()) << 32) | rng());
    };
    std::vector<Route> added, sources;
    auto add_some = [&](int n) {
        for (int i = 0; i < n; i++) {
            Route r = v6route(raddr(), rlen(), raddr(), int(rng() % 4),
                              uint16_t(rng() % 10 == 0 ? Rifc : 0));
            rib.add(r);
            added.push_back(r);
            if (rng() % 20 == 0) {
                Route s = r;
                s.smask = prefix_mask(16 + int(rng() % 100));
                s.src = raddr() & s.smask;
                s.gate = raddr();
                rib.add(s);
                sources.push_back(s);
            }
        }
    };
    auto lookups = [&](int n) {
        for (int i = 0; i < n; i++) {
            Ipaddr d = raddr();
            if (i % 2 && !added.empty()) {
                const Route& r = added[rng() % added.size()];
                d = r.dst | (d & ~r.mask);
            }
            check(d, raddr());
            if (HasFatalFailure()) return;
        }
    };
    add_some(5000);
    lookups(50000);
    for (size_t i = 0; i < added.size(); i += 2) {
        Route gone = added[i];
        rib.remove(gone);
        for (auto& s : sources)
            if (s.dst == gone.dst && s.mask == gone.mask) rib.remove(s);
    }
    add_some(2000);
    lookups(50000);
}

}  // namespace
}  // namespace devip::proto
