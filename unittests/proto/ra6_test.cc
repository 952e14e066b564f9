// Router advertisements: the messages, the RFC 4861 timing, an advertising interface and a
// host learning from RAs, driven through ctl verbs and frames with a fake Netio.
// ip3.md §3.3 (ra6), §4.8.2, §4.14.2; RFC 4861 §4.1, §4.2, §6.2, §6.3; RFC 4862 §5.5.3.
#include <gtest/gtest.h>

#include "proto/icmp6.h"
#include "proto/ip6.h"
#include "proto/ipaux.h"
#include "proto/ra6.h"
#include "proto/stack.h"
#include "unittests/fake_netio.h"

namespace devip::proto {
namespace {

Ipaddr ip(const char* s) { return *parseip(s); }
const Ether kRouterMac{{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}};
const Ipaddr kRouterLL = ip("fe80::2");
const Ipaddr kMeLL = ip("fe80::1");

std::span<const uint8_t> bytes(const std::string& s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// ---- messages ----------------------------------------------------------------------------

RaMsg sample() {
    RaMsg m;
    m.curhop = 64;
    m.managed = true;
    m.routerlt = 1800;
    m.reachable = 30000;
    m.retrans = 1000;
    m.mtu = 1400;
    m.has_lla = true;
    m.lla = kRouterMac;
    m.prefixes.push_back({ip("2001:2:0:1::"), 64, true, true, 86400, 14400});
    m.prefixes.push_back({ip("fd00:1::"), 48, false, true, ~0u, ~0u});
    return m;
}

TEST(RaMsg, BuildLayout_RFC4861_4_2) {
    std::string s = ra_build(sample());
    auto* b = reinterpret_cast<const uint8_t*>(s.data());
    ASSERT_EQ(s.size(), 16u + 8 + 8 + 32 * 2);
    EXPECT_EQ(b[0], 134);
    EXPECT_EQ(b[1], 0);
    EXPECT_EQ(b[4], 64);
    EXPECT_EQ(b[5], 0x80);  // M
    EXPECT_EQ(get16(b + 6), 1800);
    EXPECT_EQ(get32(b + 8), 30000u);
    EXPECT_EQ(get32(b + 12), 1000u);
    EXPECT_EQ(b[16], 1);  // source link-layer address
    EXPECT_EQ(b[17], 1);
    EXPECT_TRUE(std::equal(kRouterMac.b.begin(), kRouterMac.b.end(), b + 18));
    EXPECT_EQ(b[24], 5);  // MTU
    EXPECT_EQ(b[25], 1);
    EXPECT_EQ(get32(b + 28), 1400u);
    const uint8_t* p = b + 32;  // prefix information
    EXPECT_EQ(p[0], 3);
    EXPECT_EQ(p[1], 4);
    EXPECT_EQ(p[2], 64);
    EXPECT_EQ(p[3], 0xc0);  // L and A
    EXPECT_EQ(get32(p + 4), 86400u);
    EXPECT_EQ(get32(p + 8), 14400u);
    EXPECT_EQ(get32(p + 12), 0u);
    EXPECT_EQ(Ipaddr::from_bytes(p + 16), ip("2001:2:0:1::"));
    EXPECT_EQ(p[32 + 3], 0x40);  // A only
    EXPECT_EQ(get32(p + 32 + 4), ~0u);
}

TEST(RaMsg, ParseRoundTrip_RFC4861_4_2) {
    RaMsg m;
    ASSERT_TRUE(ra_parse(bytes(ra_build(sample())), m));
    RaMsg w = sample();
    EXPECT_EQ(m.curhop, w.curhop);
    EXPECT_EQ(m.managed, true);
    EXPECT_EQ(m.other, false);
    EXPECT_EQ(m.routerlt, w.routerlt);
    EXPECT_EQ(m.reachable, w.reachable);
    EXPECT_EQ(m.retrans, w.retrans);
    EXPECT_EQ(m.mtu, 1400u);
    EXPECT_TRUE(m.has_lla);
    EXPECT_EQ(m.lla, kRouterMac);
    ASSERT_EQ(m.prefixes.size(), 2u);
    EXPECT_EQ(m.prefixes[0].prefix, ip("2001:2:0:1::"));
    EXPECT_EQ(m.prefixes[1].plen, 48);
    EXPECT_FALSE(m.prefixes[1].onlink);
    EXPECT_TRUE(m.prefixes[1].autonomous);
    EXPECT_EQ(m.prefixes[1].valid, ~0u);
}

TEST(RaMsg, BuildLeavesOutPrefixesThatDoNotFit) {
    RaMsg m = sample();
    for (int i = 0; i < 60; i++) m.prefixes.push_back(m.prefixes[0]);
    std::string s = ra_build(m, 1240);
    EXPECT_LE(s.size(), 1240u);
    EXPECT_EQ((s.size() - 32) % 32, 0u);
}

TEST(RaMsg, ParseRejectsBadOptions_RFC4861_6_1_2) {
    std::string s = ra_build(sample());
    RaMsg m;
    std::string z = s;
    z[17] = 0;  // an option of length 0
    EXPECT_FALSE(ra_parse(bytes(z), m));
    z = s;
    z[25] = 10;  // running past the end
    EXPECT_FALSE(ra_parse(bytes(z), m));
    z = s + std::string(1, '\x01');  // a byte of an option that cannot be there
    EXPECT_FALSE(ra_parse(bytes(z), m));
    EXPECT_FALSE(ra_parse(bytes(s.substr(0, 15)), m));  // shorter than the fixed part
}

TEST(RaMsg, ParseSkipsUnknownAndMisshapenOptions_RFC4861_4_6) {
    RaMsg base;
    std::string s = ra_build(base);
    s += std::string("\x19\x03", 2) + std::string(22, '\0');  // RDNSS: not ours to read
    s += std::string("\x05\x02", 2) + std::string(14, '\0');  // an MTU option of 16 bytes
    s += std::string("\x03\x01", 2) + std::string(6, '\0');   // a prefix option of 8 bytes
    RaMsg m;
    ASSERT_TRUE(ra_parse(bytes(s), m));
    EXPECT_EQ(m.mtu, 0u);
    EXPECT_TRUE(m.prefixes.empty());
}

TEST(RaMsg, SolicitationAndItsLinkLayerAddress_RFC4861_4_1) {
    std::string rs = rs_build(&kRouterMac);
    ASSERT_EQ(rs.size(), 16u);
    EXPECT_EQ(uint8_t(rs[0]), 133);
    Ether mac;
    ASSERT_TRUE(rs_lla(bytes(rs), mac));
    EXPECT_EQ(mac, kRouterMac);
    EXPECT_FALSE(rs_lla(bytes(rs_build(nullptr)), mac));
    std::string bad = rs;
    bad[9] = 0;
    EXPECT_FALSE(rs_lla(bytes(bad), mac));
}

// ---- values and timing -------------------------------------------------------------------

TEST(RaValues, IntervalDefaultsAndRanges_RFC4861_6_2_1) {
    RaIntervals iv = ra_intervals(0, 0);
    EXPECT_EQ(iv.max, 600000u);
    EXPECT_EQ(iv.min, 200000u);
    iv = ra_intervals(600000, 200000);  // the stack's defaults
    EXPECT_EQ(iv.max, 600000u);
    EXPECT_EQ(iv.min, 200000u);
    iv = ra_intervals(100, 50);  // below the RFC's floors
    EXPECT_EQ(iv.max, 4000u);
    EXPECT_EQ(iv.min, 3000u);
    iv = ra_intervals(8000, 0);  // max under 9 s: min defaults to max, capped at 3/4 of it
    EXPECT_EQ(iv.min, 6000u);
    iv = ra_intervals(5000000, 5000000);
    EXPECT_EQ(iv.max, 1800000u);
    EXPECT_EQ(iv.min, 1350000u);
}

TEST(RaValues, RouterLifetime_RFC4861_6_2_1) {
    RaIntervals iv = ra_intervals(600000, 200000);
    EXPECT_EQ(ra_router_lifetime(0, iv), 0);  // not a default router
    EXPECT_EQ(ra_router_lifetime(1800, iv), 1800);
    EXPECT_EQ(ra_router_lifetime(10, iv), 600);   // at least the maximum interval
    EXPECT_EQ(ra_router_lifetime(65535, iv), 9000);
}

TEST(RaValues, TwoHourRule_RFC4862_5_5_3) {
    EXPECT_EQ(slaac_valid_lifetime(100, 86400), 86400u);      // more than two hours
    EXPECT_EQ(slaac_valid_lifetime(100, 3600), 3600u);        // more than what is left
    EXPECT_EQ(slaac_valid_lifetime(5000, 60), 5000u);         // two hours or less left: kept
    EXPECT_EQ(slaac_valid_lifetime(86400, 60), 7200u);        // cut to two hours at most
    EXPECT_EQ(slaac_valid_lifetime(~0u, 0), 7200u);
    EXPECT_EQ(slaac_valid_lifetime(~0u, ~0u), ~0u);
}

TEST(RaSched, FirstAtOnceThenInitialIntervalsThenRandom_RFC4861_6_2_4) {
    RaSched s;
    RaIntervals iv = ra_intervals(600000, 200000);
    EXPECT_FALSE(s.due(0));
    s.start(1000);
    EXPECT_TRUE(s.due(1000));
    uint64_t t = 1000;
    for (int i = 0; i < kMaxInitialRtrAdvertisements - 1; i++) {  // initial ones: ≤ 16 s
        s.sent(t, iv, 12345u + uint32_t(i));
        EXPECT_GE(s.next() - t, kMinDelayBetweenRas);
        EXPECT_LE(s.next() - t, kMaxInitialRtrAdvertInterval);
        t = s.next();
    }
    for (uint32_t r : {0u, 7u, 400000u, 0xffffffffu}) {  // then within [min, max]
        s.sent(t, iv, r);
        EXPECT_GE(s.next() - t, iv.min);
        EXPECT_LE(s.next() - t, iv.max);
        t = s.next();
    }
    s.stop();
    EXPECT_FALSE(s.due(t + iv.max));
}

TEST(RaSched, SolicitedWithinHalfASecondButThreeSecondsApart_RFC4861_6_2_6) {
    RaSched s;
    RaIntervals iv = ra_intervals(600000, 200000);
    s.start(0);
    s.sent(0, iv, 0);
    for (int i = 0; i < kMaxInitialRtrAdvertisements; i++) s.sent(0, iv, 0);  // settle
    s.solicited(1000, 499);
    EXPECT_EQ(s.next(), 3000u);  // not before 3 s after the last multicast RA
    s.sent(3000, iv, 0);
    s.solicited(10000, 123);
    EXPECT_EQ(s.next(), 10123u);
    s.solicited(10050, 0);  // an earlier answer is never pushed back
    EXPECT_EQ(s.next(), 10050u);
    s.solicited(10060, 400);
    EXPECT_EQ(s.next(), 10050u);
}

TEST(RaSched, ChangedContentsResendSoon_RFC4861_6_2_4) {
    RaSched s;
    RaIntervals iv = ra_intervals(600000, 200000);
    s.start(0);
    for (int i = 0; i < 4; i++) s.sent(uint64_t(i) * 16000, iv, 0);
    EXPECT_GE(s.next(), 48000u + iv.min);
    s.restart_initial(50000);
    EXPECT_EQ(s.next(), 51000u);  // 3 s after the last one
}

TEST(RsSched, ThreeSolicitationsFourSecondsApart_RFC4861_6_3_7) {
    RsSched s;
    s.start(0, 999);
    EXPECT_FALSE(s.due(998));
    EXPECT_TRUE(s.due(999));
    s.sent(999);
    EXPECT_TRUE(s.due(4999));
    s.sent(4999);
    s.sent(8999);
    EXPECT_FALSE(s.on());
    EXPECT_FALSE(s.due(100000));
}

// ---- the stack -----------------------------------------------------------------------------

struct Ra6Test : ::testing::Test {
    test::FakeNetio io{2};
    Net net{&io};
    Stack& s = net.stack(0);

    Err ctl(Conv& c, const std::string& msg) { return c.p->write_ctl(c, parsecmd(msg)); }
    Ipifc& ifc() { return static_cast<Ipifc&>(**s.ipifc->clone("eve")); }
    Ether mymac(int port = 0) const { return io.ports[size_t(port)].mac; }
    void at(uint64_t ms) {
        net.now_ms = ms;
        net.tick(ms);
    }
    // Frames sent so far that are ICMPv6 of this type, then forgotten.
    std::vector<std::vector<uint8_t>> take(uint8_t type) {
        std::vector<std::vector<uint8_t>> out;
        for (auto& f : io.sent) {
            const uint8_t* p = f.bytes.data() + 14;
            if (get16(f.bytes.data() + 12) == kEthIp6 && p[kIp6Next] == kProtoIcmp6 &&
                p[kIp6Hdr] == type)
                out.push_back(f.bytes);
        }
        io.sent.clear();
        return out;
    }
    RaMsg decode(const std::vector<uint8_t>& f) {
        RaMsg m;
        const uint8_t* p = f.data() + 14;
        size_t n = kIp6Hdr + get16(p + kIp6Plen);
        EXPECT_EQ(ip6_csum(ip6_src(p), ip6_dst(p), kProtoIcmp6, p + kIp6Hdr, n - kIp6Hdr), 0);
        EXPECT_TRUE(ra_parse({p + kIp6Hdr, n - kIp6Hdr}, m));
        return m;
    }
    // A router: ether0 with fe80::1 and 2001:2:0:1::1/64, sendra on; forwarding as asked.
    Ipifc& router(bool forwarding) {
        Ipifc& f = ifc();
        EXPECT_EQ(ctl(f, "bind ether /net/ether0"), ok);
        EXPECT_EQ(ctl(f, "add fe80::1 /64"), ok);
        EXPECT_EQ(ctl(f, "add 2001:2:0:1::1 /64"), ok);
        EXPECT_EQ(ctl(f, "ra6 sendra 1"), ok);
        if (forwarding) EXPECT_EQ(ctl(f, "iprouting 1"), ok);
        return f;
    }
    // A host: ether0 with fe80::1, recvra on.
    Ipifc& host() {
        Ipifc& f = ifc();
        EXPECT_EQ(ctl(f, "bind ether /net/ether0"), ok);
        EXPECT_EQ(ctl(f, "add fe80::1 /64"), ok);
        EXPECT_EQ(ctl(f, "ra6 recvra 1"), ok);
        io.sent.clear();
        return f;
    }
    void rx(const Ipaddr& src, const Ipaddr& dst, std::string m, uint8_t hop = 255) {
        auto* b = reinterpret_cast<uint8_t*>(m.data());
        put16(b + 2, 0);
        put16(b + 2, ip6_csum(src, dst, kProtoIcmp6, b, m.size()));
        std::string p = ip6_packet(src, dst, kProtoIcmp6, hop, m);
        std::vector<uint8_t> v(p.begin(), p.end());
        Ether to = is_v6_mcast(dst) ? v6_mcast_mac(dst) : mymac();
        net.input(0, test::eth(to, kRouterMac, kEthIp6, v));
    }
    void ra_in(const RaMsg& m, uint8_t hop = 255, const Ipaddr& src = kRouterLL) {
        rx(src, v6allnodesL, ra_build(m), hop);
    }
    std::string routes() {
        std::string r;
        s.rib.text(r);
        return r;
    }
    const Iplifc* addr(const Ipifc& f, const char* a) {
        for (auto& l : f.lifc)
            if (l.local == ip(a)) return &l;
        return nullptr;
    }
};

TEST_F(Ra6Test, NoAdvertisementsWithoutForwarding_3_3) {
    router(false);
    at(1000);
    at(700000);
    EXPECT_TRUE(take(Icmp6RouterAdvert).empty());
    EXPECT_FALSE(s.self.find(v6allroutersL));
}

TEST_F(Ra6Test, AdvertisingInterfaceSendsAtOnce_RFC4861_6_2_3) {
    Ipifc& f = router(true);
    f.ra.mflag = 0;
    io.sent.clear();
    at(10);
    auto ras = take(Icmp6RouterAdvert);
    ASSERT_EQ(ras.size(), 1u);
    const auto& fr = ras[0];
    EXPECT_TRUE(std::equal(fr.begin(), fr.begin() + 6, v6_mcast_mac(v6allnodesL).b.begin()));
    EXPECT_TRUE(std::equal(fr.begin() + 6, fr.begin() + 12, mymac().b.begin()));
    const uint8_t* p = fr.data() + 14;
    EXPECT_EQ(ip6_src(p), kMeLL);  // from the link-local address
    EXPECT_EQ(ip6_dst(p), v6allnodesL);
    EXPECT_EQ(p[kIp6Hop], 255);
    RaMsg m = decode(fr);
    EXPECT_EQ(m.curhop, 255);  // ttl
    EXPECT_FALSE(m.managed);
    EXPECT_EQ(m.routerlt, 1800);
    EXPECT_EQ(m.reachable, 0u);
    EXPECT_EQ(m.retrans, 0u);
    EXPECT_EQ(m.mtu, 0u);  // linkmtu 0: no MTU option
    ASSERT_TRUE(m.has_lla);
    EXPECT_EQ(m.lla, mymac());
    ASSERT_EQ(m.prefixes.size(), 1u);  // the link-local prefix is not advertised
    EXPECT_EQ(m.prefixes[0].prefix, ip("2001:2:0:1::"));
    EXPECT_EQ(m.prefixes[0].plen, 64);
    EXPECT_TRUE(m.prefixes[0].onlink);
    EXPECT_TRUE(m.prefixes[0].autonomous);
    EXPECT_EQ(m.prefixes[0].valid, ~0u);
    EXPECT_EQ(s.icmp6->st.out[Icmp6RouterAdvert], 1u);
    // the all-routers group is joined, so that solicitations reach us
    const SelfEntry* g = s.self.find(v6allroutersL);
    ASSERT_TRUE(g);
    EXPECT_TRUE(g->type & Rmulti);
}

TEST_F(Ra6Test, Ra6ValuesAdvertised_3_3_RFC4861_6_2_1) {
    Ipifc& f = router(true);
    ASSERT_EQ(ctl(f, "ra6 mflag 1 oflag 1 ttl 64 routerlt 0 reachtime 30000 rxmitra 1000 "
                     "linkmtu 1400"),
              ok);
    ASSERT_EQ(ctl(f, "add6 2001:2:0:7:: 64 0 1 86400 3600"), ok);
    ASSERT_EQ(ctl(f, "add fd00:5::1 /48"), ok);
    io.sent.clear();
    at(5000);
    auto ras = take(Icmp6RouterAdvert);
    ASSERT_EQ(ras.size(), 1u);
    RaMsg m = decode(ras[0]);
    EXPECT_EQ(m.curhop, 64);
    EXPECT_TRUE(m.managed);
    EXPECT_TRUE(m.other);
    EXPECT_EQ(m.routerlt, 0);  // routerlt 0: not a default router
    EXPECT_EQ(m.reachable, 30000u);
    EXPECT_EQ(m.retrans, 1000u);
    EXPECT_EQ(m.mtu, 1400u);
    ASSERT_EQ(m.prefixes.size(), 3u);
    EXPECT_EQ(m.prefixes[1].prefix, ip("2001:2:0:7::"));
    EXPECT_FALSE(m.prefixes[1].onlink);  // add6's onlink 0
    EXPECT_TRUE(m.prefixes[1].autonomous);
    EXPECT_EQ(m.prefixes[1].valid, 86400u - 5);  // lifetimes count down from the add6
    EXPECT_EQ(m.prefixes[1].preferred, 3600u - 5);
    EXPECT_EQ(m.prefixes[2].prefix, ip("fd00:5::"));
    EXPECT_EQ(m.prefixes[2].plen, 48);
    // the link MTU is ours too
    EXPECT_EQ(s.ip6_mtu(f), 1400u);
}

TEST_F(Ra6Test, UnsolicitedAdvertisementsAtRandomIntervals_RFC4861_6_2_4) {
    Ipifc& f = router(true);
    ASSERT_EQ(ctl(f, "ra6 maxraint 10000 minraint 5000"), ok);
    io.sent.clear();
    std::vector<uint64_t> when;
    for (uint64_t t = 0; t <= 120000; t += 10) {
        at(t);
        if (!take(Icmp6RouterAdvert).empty()) when.push_back(t);
    }
    ASSERT_GE(when.size(), 12u);
    for (size_t i = 1; i < when.size(); i++) {
        EXPECT_GE(when[i] - when[i - 1], 5000u);
        EXPECT_LE(when[i] - when[i - 1], 10010u);
    }
}

TEST_F(Ra6Test, SolicitationsAnsweredAndRateLimited_RFC4861_6_2_6) {
    router(true);
    at(0);
    take(Icmp6RouterAdvert);
    at(100000);  // past the initial ones
    at(200000);
    take(Icmp6RouterAdvert);
    at(300000);
    take(Icmp6RouterAdvert);
    uint64_t t = 303500;  // more than 3 s after the last multicast RA
    at(t);
    ASSERT_TRUE(take(Icmp6RouterAdvert).empty());
    rx(kRouterLL, v6allroutersL, rs_build(&kRouterMac));
    // the solicitor's link-layer address is entered
    std::string a;
    s.arp_text(a);
    EXPECT_NE(a.find("fe80::2 "), std::string::npos) << a;
    EXPECT_EQ(s.icmp6->st.in[Icmp6RouterSolicit], 1u);
    int answered = 0;
    for (uint64_t dt = 0; dt <= 600; dt += 10) {
        at(t + dt);
        answered += int(take(Icmp6RouterAdvert).size());
    }
    EXPECT_EQ(answered, 1);
    // a flood of solicitations: one multicast RA every 3 s at most
    t += 1000;
    int sent = 0;
    for (uint64_t dt = 0; dt < 9000; dt += 10) {
        rx(kRouterLL, v6allroutersL, rs_build(&kRouterMac));
        at(t + dt);
        sent += int(take(Icmp6RouterAdvert).size());
    }
    EXPECT_GE(sent, 2);
    EXPECT_LE(sent, 3);
}

TEST_F(Ra6Test, FinalAdvertisementWhenSendraOff_RFC4861_6_2_5) {
    Ipifc& f = router(true);
    at(0);
    take(Icmp6RouterAdvert);
    ASSERT_EQ(ctl(f, "ra6 sendra 0"), ok);
    auto ras = take(Icmp6RouterAdvert);
    ASSERT_EQ(ras.size(), 1u);
    RaMsg m = decode(ras[0]);
    EXPECT_EQ(m.routerlt, 0);
    EXPECT_TRUE(m.prefixes.empty());
    EXPECT_FALSE(s.self.find(v6allroutersL));
    at(1000000);
    EXPECT_TRUE(take(Icmp6RouterAdvert).empty());
    // and back on
    ASSERT_EQ(ctl(f, "ra6 sendra 1"), ok);
    at(1003000);
    EXPECT_EQ(take(Icmp6RouterAdvert).size(), 1u);
}

TEST_F(Ra6Test, FinalAdvertisementWhenForwardingStops_RFC4861_6_2_5) {
    Ipifc& f = router(true);
    at(0);
    take(Icmp6RouterAdvert);
    ASSERT_EQ(ctl(f, "iprouting 0"), ok);
    auto ras = take(Icmp6RouterAdvert);
    ASSERT_EQ(ras.size(), 1u);
    EXPECT_EQ(decode(ras[0]).routerlt, 0);
}

TEST_F(Ra6Test, FinalAdvertisementWhenUnbound_RFC4861_6_2_5) {
    Ipifc& f = router(true);
    at(0);
    take(Icmp6RouterAdvert);
    ASSERT_EQ(ctl(f, "unbind"), ok);
    auto ras = take(Icmp6RouterAdvert);
    ASSERT_EQ(ras.size(), 1u);
    EXPECT_EQ(decode(ras[0]).routerlt, 0);
    EXPECT_EQ(ip6_src(ras[0].data() + 14), kMeLL);
    EXPECT_FALSE(s.self.find(v6allroutersL));
    at(1000000);
    EXPECT_TRUE(take(Icmp6RouterAdvert).empty());
    // bound again: a fresh start
    ASSERT_EQ(ctl(f, "bind ether /net/ether0"), ok);
    ASSERT_EQ(ctl(f, "add fe80::1 /64"), ok);
    ASSERT_EQ(ctl(f, "ra6 sendra 1"), ok);
    at(1000010);
    EXPECT_EQ(take(Icmp6RouterAdvert).size(), 1u);
}

TEST_F(Ra6Test, FinalAdvertisementWhenLinkLocalRemoved_RFC4861_6_2_5) {
    Ipifc& f = router(true);
    at(0);
    take(Icmp6RouterAdvert);
    ASSERT_EQ(ctl(f, "remove fe80::1 /64"), ok);
    auto ras = take(Icmp6RouterAdvert);
    ASSERT_EQ(ras.size(), 1u);
    EXPECT_EQ(decode(ras[0]).routerlt, 0);
    EXPECT_FALSE(s.self.find(v6allroutersL));
    std::string t;
    s.self.text(t);
    EXPECT_EQ(t.find("ff02::2 "), std::string::npos) << t;
}

TEST_F(Ra6Test, NewPrefixAdvertisedSoon_RFC4861_6_2_4) {
    Ipifc& f = router(true);
    for (uint64_t t = 0; t <= 200000; t += 100) at(t);
    take(Icmp6RouterAdvert);
    ASSERT_EQ(ctl(f, "add 2001:2:0:9::1 /64"), ok);
    int n = 0;
    for (uint64_t t = 200000; t <= 204000; t += 100) {
        at(t);
        for (auto& fr : take(Icmp6RouterAdvert)) {
            n++;
            EXPECT_EQ(decode(fr).prefixes.size(), 2u);
        }
    }
    EXPECT_EQ(n, 1);
}

TEST_F(Ra6Test, RouterFlagStillFollowsSendra_4_14_2) {
    Ipifc& f = router(false);
    (void)f;
    io.sent.clear();
    std::string ns(24, '\0');
    ns[0] = char(Icmp6NbrSolicit);
    Ipaddr me = ip("2001:2:0:1::1");
    std::memcpy(ns.data() + 8, me.b.data(), 16);
    ns += std::string("\x01\x01", 2) + std::string(reinterpret_cast<const char*>(kRouterMac.b.data()), 6);
    rx(ip("2001:2:0:1::2"), solicited_node_of(me), ns);
    auto nas = take(Icmp6NbrAdvert);
    ASSERT_EQ(nas.size(), 1u);
    EXPECT_EQ(nas[0][14 + kIp6Hdr + 4] & kNaRouter, kNaRouter);
}

// ---- host side -----------------------------------------------------------------------------

RaMsg offer(uint16_t routerlt = 1800) {
    RaMsg m;
    m.curhop = 64;
    m.other = true;
    m.routerlt = routerlt;
    m.reachable = 20000;
    m.retrans = 500;
    m.mtu = 1400;
    m.has_lla = true;
    m.lla = kRouterMac;
    m.prefixes.push_back({ip("2001:2:0:1::"), 64, true, true, 86400, 14400});
    return m;
}

TEST_F(Ra6Test, HostSolicitsUntilAnAdvertisement_RFC4861_6_3_7) {
    Ipifc& f = ifc();
    ASSERT_EQ(ctl(f, "bind ether /net/ether0"), ok);
    ASSERT_EQ(ctl(f, "ra6 recvra 1"), ok);
    at(2000);
    EXPECT_TRUE(take(Icmp6RouterSolicit).empty());  // no link-local address yet
    ASSERT_EQ(ctl(f, "add fe80::1 /64"), ok);
    at(2000);
    at(3010);  // within a second
    auto rs = take(Icmp6RouterSolicit);
    ASSERT_EQ(rs.size(), 1u);
    const uint8_t* p = rs[0].data() + 14;
    EXPECT_EQ(ip6_src(p), kMeLL);
    EXPECT_EQ(ip6_dst(p), v6allroutersL);
    EXPECT_EQ(p[kIp6Hop], 255);
    Ether mac;
    ASSERT_TRUE(rs_lla({p + kIp6Hdr, get16(p + kIp6Plen)}, mac));
    EXPECT_EQ(mac, mymac());
    EXPECT_EQ(ip6_csum(ip6_src(p), ip6_dst(p), kProtoIcmp6, p + kIp6Hdr, 16), 0);
    at(7020);
    EXPECT_EQ(take(Icmp6RouterSolicit).size(), 1u);
    ra_in(offer());
    at(20000);
    EXPECT_TRUE(take(Icmp6RouterSolicit).empty());
}

TEST_F(Ra6Test, HostGivesUpAfterThreeSolicitations_RFC4861_6_3_7) {
    host();
    int n = 0;
    for (uint64_t t = 0; t < 60000; t += 100) {
        at(t);
        n += int(take(Icmp6RouterSolicit).size());
    }
    EXPECT_EQ(n, 3);
}

TEST_F(Ra6Test, HostLearnsRouteAddressAndParameters_3_3_RFC4861_6_3_4) {
    Ipifc& f = host();
    at(1000);
    ra_in(offer());
    // the default route, tagged ra6 as ipconfig tags it, via the router's link-local address
    EXPECT_NE(routes().find("::              /0   fe80::2         6     ra6   0 ::              /0"),
              std::string::npos)
        << "[" << routes() << "]";
    // an address from the prefix and our EUI-64, with the prefix's lifetimes, as add6 makes it
    const Iplifc* l = addr(f, "2001:2:0:1:0:ff:fe00:10");
    ASSERT_TRUE(l);
    EXPECT_EQ(l->mask, prefix_mask(64));
    EXPECT_EQ(l->validlt, 86400u);
    EXPECT_EQ(l->preflt, 14400u);
    EXPECT_TRUE(l->onlink);
    EXPECT_FALSE(l->tentative);
    EXPECT_NE(routes().find("2001:2:0:1::    /64  2001:2:0:1::    6i"), std::string::npos);
    // the router's MAC is known
    std::string a;
    s.arp_text(a);
    EXPECT_NE(a.find("fe80::2                                  001122334455"), std::string::npos)
        << a;
    // the parameters show in the status, as ipconfig writes them with ra6
    Text t;
    s.ipifc->state(f, t);
    EXPECT_NE(t.str().find("sendra 0 recvra 1 mflag 0 oflag 1 maxraint 600000 minraint 200000 "
                           "linkmtu 1400 reachtime 20000 rxmitra 500 ttl 64 routerlt 1800 "),
              std::string::npos)
        << t.str();
    EXPECT_EQ(s.ip6_mtu(f), 1400u);
    // and the source of our packets to the world is the new address
    EXPECT_EQ(s.findlocalip(ip("2001:2:0:9::1")), ip("2001:2:0:1:0:ff:fe00:10"));
    const Route* r = s.rib.lookup(ip("2001:2:0:9::1"), ip("2001:2:0:1:0:ff:fe00:10"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->gate, kRouterLL);
}

TEST_F(Ra6Test, RouterLifetimeZeroRemovesTheRoute_RFC4861_6_3_4) {
    host();
    ra_in(offer());
    ASSERT_NE(routes().find("ra6"), std::string::npos);
    ra_in(offer(0));
    EXPECT_EQ(routes().find("ra6"), std::string::npos) << routes();
    EXPECT_TRUE(s.routers6.empty());
}

TEST_F(Ra6Test, RouteExpiresWithTheRouterLifetime_RFC4861_6_3_4) {
    host();
    at(1000);
    ra_in(offer(600));
    at(600000);
    EXPECT_NE(routes().find("ra6"), std::string::npos);
    ra_in(offer(600));  // refreshed
    at(1100000);
    EXPECT_NE(routes().find("ra6"), std::string::npos);
    at(1200000);
    EXPECT_EQ(routes().find("ra6"), std::string::npos) << routes();
}

TEST_F(Ra6Test, SecondRouterTakesOverWhenTheFirstGoes_RFC4861_6_3_6) {
    host();
    ra_in(offer(1800));
    RaMsg other = offer(1800);
    other.lla = {{0, 1, 2, 3, 4, 5}};
    ra_in(other, 255, ip("fe80::3"));
    EXPECT_NE(routes().find("/0   fe80::2 "), std::string::npos);
    ra_in(offer(0));
    EXPECT_NE(routes().find("/0   fe80::3 "), std::string::npos) << routes();
}

TEST_F(Ra6Test, AutoconfiguredAddressLifetimes_RFC4862_5_5_3) {
    Ipifc& f = host();
    at(1000);
    RaMsg m = offer();
    m.prefixes[0].valid = 3000;
    m.prefixes[0].preferred = 1000;
    ra_in(m);
    ASSERT_TRUE(addr(f, "2001:2:0:1:0:ff:fe00:10"));
    // two hours or less left: a shorter lifetime is ignored
    at(2000);
    m.prefixes[0].valid = 60;
    m.prefixes[0].preferred = 30;
    ra_in(m);
    EXPECT_EQ(addr(f, "2001:2:0:1:0:ff:fe00:10")->validlt, 2999u);
    // the preferred lifetime runs out first: the address is deprecated, still there
    at(1500000);
    EXPECT_TRUE(addr(f, "2001:2:0:1:0:ff:fe00:10"));
    // then the valid lifetime: the address goes, with its routes
    at(3100000);
    EXPECT_FALSE(addr(f, "2001:2:0:1:0:ff:fe00:10"));
    EXPECT_EQ(routes().find("2001:2:0:1::"), std::string::npos) << routes();
}

TEST_F(Ra6Test, PrefixesThatCannotGiveAnAddressIgnored_RFC4862_5_5_3) {
    Ipifc& f = host();
    RaMsg m = offer();
    m.prefixes.clear();
    m.prefixes.push_back({ip("2001:2:0:2::"), 64, true, false, 86400, 14400});  // no A flag
    m.prefixes.push_back({ip("2001:2:0:3::"), 48, true, true, 86400, 14400});   // not /64
    m.prefixes.push_back({ip("fe80::"), 64, true, true, 86400, 14400});         // link-local
    m.prefixes.push_back({ip("2001:2:0:4::"), 64, true, true, 100, 200});       // pref > valid
    m.prefixes.push_back({ip("2001:2:0:5::"), 64, true, true, 0, 0});           // valid 0
    ra_in(m);
    EXPECT_EQ(f.lifc.size(), 1u);
}

TEST_F(Ra6Test, FloodOfRoutersAndPrefixesBounded) {
    Ipifc& f = host();
    for (int i = 0; i < 100; i++) {
        RaMsg m = offer();
        Ipaddr pre = ip("2001:2:0:100::");
        pre.b[6] = uint8_t(i);
        m.prefixes[0].prefix = pre;
        Ipaddr src = kRouterLL;
        src.b[15] = uint8_t(10 + i);
        ra_in(m, 255, src);
    }
    EXPECT_EQ(s.routers6.size(), kMaxDefRouters);
    size_t n = 0;
    for (auto& l : f.lifc) n += l.fromra;
    EXPECT_EQ(n, kMaxAutoconf);
    EXPECT_EQ(f.lifc.size(), kMaxAutoconf + 1);
}

TEST_F(Ra6Test, InvalidAdvertisementsCountedAndIgnored_RFC4861_6_1_2) {
    Ipifc& f = host();
    ra_in(offer(), 64);  // hop limit below 255
    ra_in(offer(), 255, ip("2001:2:0:1::9"));  // not from a link-local address
    std::string z = ra_build(offer());
    z[1] = 1;  // code 1
    rx(kRouterLL, v6allnodesL, z);
    z = ra_build(offer());
    z[17] = 0;  // an option of length 0
    rx(kRouterLL, v6allnodesL, z);
    rx(kRouterLL, v6allnodesL, ra_build(offer()).substr(0, 12));  // short
    EXPECT_EQ(s.icmp6->st.n[HoplimErrs6], 1u);
    EXPECT_EQ(s.icmp6->st.n[RouterAddrErrs6], 1u);
    EXPECT_EQ(s.icmp6->st.n[IcmpCodeErrs6], 1u);
    EXPECT_EQ(s.icmp6->st.n[OptlenErrs6], 1u);
    EXPECT_EQ(s.icmp6->st.n[HlenErrs6], 1u);
    EXPECT_EQ(s.icmp6->st.n[InErrors6], 5u);
    EXPECT_EQ(s.icmp6->st.in[Icmp6RouterAdvert], 0u);
    EXPECT_EQ(f.lifc.size(), 1u);
    EXPECT_EQ(routes().find("ra6"), std::string::npos);
}

TEST_F(Ra6Test, OnlyRecvraHostsLearn_3_3) {
    Ipifc& f = host();
    ASSERT_EQ(ctl(f, "ra6 recvra 0"), ok);
    ra_in(offer());
    EXPECT_EQ(f.lifc.size(), 1u);
    ASSERT_EQ(ctl(f, "ra6 recvra 1 sendra 1"), ok);  // a router does not learn (ipconfig)
    ra_in(offer());
    EXPECT_EQ(f.lifc.size(), 1u);
    EXPECT_EQ(s.icmp6->st.in[Icmp6RouterAdvert], 2u);
}

TEST_F(Ra6Test, AdvertisementsStillDeliveredToConversations_4_8_2) {
    host();
    Conv& c = **s.icmp6->clone("eve");
    ASSERT_EQ(ctl(c, "connect ff02::1!134!r fe80::1!134"), ok);
    ra_in(offer());
    EXPECT_GT(c.rq.bytes(), 0u);
    EXPECT_NE(routes().find("ra6"), std::string::npos);
}

TEST_F(Ra6Test, UnbindForgetsRoutersLearnedThere_3_3) {
    Ipifc& f = host();
    ra_in(offer());
    ASSERT_FALSE(s.routers6.empty());
    ASSERT_EQ(ctl(f, "unbind"), ok);
    EXPECT_TRUE(s.routers6.empty());
    EXPECT_EQ(routes(), "");
}

TEST_F(Ra6Test, StoppingDevipdSendsFinalAdvertisements_RFC4861_6_2_5) {
    router(true);
    at(0);
    take(Icmp6RouterAdvert);
    net.stop_advertising();
    auto ras = take(Icmp6RouterAdvert);
    ASSERT_EQ(ras.size(), 1u);
    EXPECT_EQ(decode(ras[0]).routerlt, 0);
}

}  // namespace
}  // namespace devip::proto
