// IPv6, ICMPv6 and neighbour discovery driven end to end through ctl verbs and frames with a
// fake Netio: ip3.md §2.8, §2.10, §3.3, §4.2.2, §4.3.4, §4.4, §4.8.2, §4.14.
#include <gtest/gtest.h>

#include <random>

#include "proto/icmp6.h"
#include "proto/ip6.h"
#include "proto/ipaux.h"
#include "proto/stack.h"
#include "proto/udp.h"
#include "unittests/fake_netio.h"

namespace devip::proto {
namespace {

using test::FakeNetio;

const Ether kPeerMac{{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}};
const Ether kOtherMac{{0x00, 0x66, 0x77, 0x88, 0x99, 0xaa}};

Ipaddr ip(const char* s) { return *parseip(s); }
const Ipaddr kMe = ip("2001:2:0:1::1");
const Ipaddr kPeer = ip("2001:2:0:1::2");
const Ipaddr kMeLL = ip("fe80::1");
const Ipaddr kPeerLL = ip("fe80::2");
const Ipaddr kMyEuiLL = ip("fe80::ff:fe00:10");  // ether0's MAC 02:00:00:00:00:10, EUI-64

// An IPv6 packet: fixed header, then payload.
std::vector<uint8_t> ip6(const Ipaddr& src, const Ipaddr& dst, uint8_t next,
                         const std::vector<uint8_t>& payload, uint8_t hop = 64) {
    std::vector<uint8_t> p(kIp6Hdr);
    p[0] = 0x60;
    put16(p.data() + kIp6Plen, uint16_t(payload.size()));
    p[kIp6Next] = next;
    p[kIp6Hop] = hop;
    std::copy(src.b.begin(), src.b.end(), p.begin() + kIp6Src);
    std::copy(dst.b.begin(), dst.b.end(), p.begin() + kIp6Dst);
    p.insert(p.end(), payload.begin(), payload.end());
    return p;
}

// An ICMPv6 message with its checksum, in an IPv6 packet.
std::vector<uint8_t> icmp6(const Ipaddr& src, const Ipaddr& dst, std::vector<uint8_t> m,
                           uint8_t hop = 255) {
    put16(m.data() + 2, 0);
    put16(m.data() + 2, ip6_csum(src, dst, kProtoIcmp6, m.data(), m.size()));
    return ip6(src, dst, kProtoIcmp6, m, hop);
}

// NS or NA body with an optional link-layer address option.
std::vector<uint8_t> nd(uint8_t type, uint8_t flags, const Ipaddr& target, uint8_t opt,
                        const Ether& mac) {
    std::vector<uint8_t> m(24);
    m[0] = type;
    m[4] = flags;
    std::copy(target.b.begin(), target.b.end(), m.begin() + 8);
    if (opt) {
        m.push_back(opt);
        m.push_back(1);
        m.insert(m.end(), mac.b.begin(), mac.b.end());
    }
    return m;
}

std::vector<uint8_t> echo(uint8_t type, uint16_t id, uint16_t seq) {
    std::vector<uint8_t> m(8 + 8);
    m[0] = type;
    put16(m.data() + 4, id);
    put16(m.data() + 6, seq);
    for (int i = 8; i < 16; i++) m[size_t(i)] = uint8_t(i);
    return m;
}

std::vector<uint8_t> udp6(const Ipaddr& src, const Ipaddr& dst, uint16_t sport,
                          uint16_t dport, const std::string& data) {
    std::vector<uint8_t> u(8);
    put16(u.data(), sport);
    put16(u.data() + 2, dport);
    put16(u.data() + 4, uint16_t(8 + data.size()));
    u.insert(u.end(), data.begin(), data.end());
    uint16_t c = ip6_csum(src, dst, kProtoUdp, u.data(), u.size());
    put16(u.data() + 6, c ? c : 0xffff);
    return ip6(src, dst, kProtoUdp, u);
}

bool same_mac(const Ether& e, const uint8_t* p) { return std::equal(e.b.begin(), e.b.end(), p); }

// A transmitted frame, decoded.
struct Sent {
    const std::vector<uint8_t>& f;
    Ether dst() const {
        Ether e;
        std::copy(f.begin(), f.begin() + 6, e.b.begin());
        return e;
    }
    uint16_t type() const { return get16(f.data() + 12); }
    const uint8_t* ip() const { return f.data() + 14; }
    size_t iplen() const { return kIp6Hdr + get16(ip() + kIp6Plen); }
    Ipaddr src() const { return ip6_src(ip()); }
    Ipaddr dstip() const { return ip6_dst(ip()); }
    const uint8_t* l4() const { return ip() + kIp6Hdr; }
    size_t l4len() const { return iplen() - kIp6Hdr; }
    bool csum_ok() const { return ip6_csum(src(), dstip(), ip()[kIp6Next], l4(), l4len()) == 0; }
    Ipaddr target() const { return Ipaddr::from_bytes(l4() + 8); }
};

struct Ip6Test : ::testing::Test {
    FakeNetio io{2};
    Net net{&io};
    Stack& s = net.stack(0);

    Err ctl(Conv& c, const std::string& msg) { return c.p->write_ctl(c, parsecmd(msg)); }
    Ipifc& ifc() { return static_cast<Ipifc&>(**s.ipifc->clone("eve")); }
    Ether mymac() const { return io.ports[0].mac; }
    // ipifc 0 on ether0 with 198.18.0.1/24, fe80::1/64 and 2001:2:0:1::1/64
    Ipifc& host() {
        Ipifc& f = ifc();
        EXPECT_FALSE(ctl(f, "bind ether /net/ether0"));
        EXPECT_FALSE(ctl(f, "add 198.18.0.1 255.255.255.0"));
        EXPECT_FALSE(ctl(f, "add fe80::1 /64"));
        EXPECT_FALSE(ctl(f, "add 2001:2:0:1::1 /64"));
        io.sent.clear();
        return f;
    }
    void rx(const std::vector<uint8_t>& pkt, const Ether& from = kPeerMac,
            const Ether* to = nullptr) {
        const uint8_t* d = pkt.data() + kIp6Dst;
        Ether dst = d[0] == 0xff ? v6_mcast_mac(Ipaddr::from_bytes(d)) : to ? *to : mymac();
        net.input(0, test::eth(dst, from, kEthIp6, pkt));
    }
    // the peer makes itself known: an NS for our address with its MAC
    void learn_peer() {
        rx(icmp6(kPeer, solicited_node_of(kMe),
                 nd(Icmp6NbrSolicit, 0, kMe, 1, kPeerMac)));
        io.sent.clear();
    }
    std::string arp() {
        std::string out;
        s.arp_text(out);
        return out;
    }
    std::string icmp6stats() {
        Text t;
        s.icmp6->stats(t);
        return t.str();
    }
    void at(uint64_t ms) {
        net.now_ms = ms;
        net.tick(ms);
    }
    std::string read(Conv& c) {
        std::string out;
        Err e;
        EXPECT_EQ(c.rq.read(65536, out, e), Queue::R::Data);
        return out;
    }
    Err write(Conv& c, const std::vector<uint8_t>& d) { return c.p->write_data(c, d); }
};

TEST_F(Ip6Test, IcmpV6DirectoryIsRegisteredAfterIcmp_1_1) {
    std::vector<std::string> names;
    for (auto& p : s.protos) names.push_back(p->info.name);
    EXPECT_EQ(names,
              (std::vector<std::string>{"tcp", "udp", "ipifc", "icmp", "icmpv6", "gre", "esp"}));
    EXPECT_EQ(s.icmp6->info.index, 5);
    EXPECT_EQ(s.icmp6->info.nconv, 16);
    EXPECT_EQ(s.icmp6->info.ipproto, 58);
}

TEST_F(Ip6Test, StatsFormat_2_10) {
    std::string t = icmp6stats();
    std::string head = "InMsgs: 0\nInErrors: 0\nOutMsgs: 0\nCsumErrs: 0\nLenErrs: 0\n"
                       "HlenErrs: 0\nHoplimErrs: 0\nIcmpCodeErrs: 0\n";
    EXPECT_EQ(t.substr(0, head.size()), head);
    EXPECT_NE(t.find("\nRouterAddrErrs: 0\nEchoReply: 0 0\nUnreachableV6: 0 0\n"
                     "PacketTooBigV6: 0 0\nTimeExceedV6: 0 0\nSrcQuench: 0 0\nRedirect: 0 0\n"
                     "EchoRequest: 0 0\nTimeExceed: 0 0\n"),
              std::string::npos)
        << t;
    EXPECT_NE(t.find("\nAddrMaskReply: 0 0\nEchoRequestV6: 0 0\nEchoReplyV6: 0 0\n"
                     "RouterSolicit: 0 0\nRouterAdvert: 0 0\nNbrSolicit: 0 0\nNbrAdvert: 0 0\n"
                     "RedirectV6: 0 0\n"),
              std::string::npos);
    EXPECT_EQ(t.size() - t.rfind("RedirectV6: 0 0\n"), 16u);  // the last line
    EXPECT_EQ(std::count(t.begin(), t.end(), '\n'), 12 + 22);
}

TEST_F(Ip6Test, AddInstallsGroupsRoutesAndAnnounces_4_2_2) {
    Ipifc& f = ifc();
    ASSERT_EQ(ctl(f, "bind ether /net/ether0"), ok);
    io.sent.clear();
    ASSERT_EQ(ctl(f, "add 2001:2:0:1::1 /64"), ok);
    std::string r, t;
    s.rib.text(r);
    s.self.text(t);
    for (const char* line : {
             "2001:2:0:1::    /64  2001:2:0:1::    6i   ifc    0 2001:2:0:1::1   /128\n",
             "2001:2:0:1::    /64  2001:2:0:1::    6i   ifc    0 ::              /0  \n",
             "2001:2:0:1::1   /128 2001:2:0:1::1   6u   ifc    0 ::              /0  \n",
             "ff02::          /16  ff02::1         6m   ifc    0 2001:2:0:1::1   /128\n",
             "ff02::1         /128 ff02::1         6m   ifc    0 2001:2:0:1::1   /128\n",
             "ff02::1:ff00:1  /128 ff02::1:ff00:1  6m   ifc    0 2001:2:0:1::1   /128\n"})
        EXPECT_NE(r.find(line), std::string::npos) << line << "in\n" << r;
    EXPECT_NE(t.find("ff02::1:ff00:1                               01   6m\n"), std::string::npos)
        << t;
    EXPECT_NE(t.find("2001:2:0:1::1                                01   6u\n"), std::string::npos);
    // the unsolicited advertisements (§4.14.2): to ff02::1, override flag, our MAC; first
    // for the EUI-64 link-local address the first v6 address brought, then for the address
    ASSERT_EQ(io.sent.size(), 2u);
    EXPECT_EQ(Sent{io.sent[0].bytes}.target(), kMyEuiLL);
    Sent na{io.sent[1].bytes};
    EXPECT_EQ(na.dst(), (Ether{{0x33, 0x33, 0, 0, 0, 1}}));
    EXPECT_EQ(na.type(), kEthIp6);
    EXPECT_EQ(na.ip()[kIp6Hop], 255);
    EXPECT_EQ(na.src(), kMe);
    EXPECT_EQ(na.dstip(), v6allnodesL);
    EXPECT_EQ(na.l4()[0], Icmp6NbrAdvert);
    EXPECT_EQ(na.l4()[4], kNaOverride);
    EXPECT_EQ(na.target(), kMe);
    EXPECT_EQ(na.l4()[24], 2);  // target link-layer address option
    EXPECT_EQ(na.l4()[25], 1);
    EXPECT_TRUE(same_mac(mymac(), na.l4() + 26));
    EXPECT_TRUE(na.csum_ok());
    // remove takes every route and group away again, the link-local's with it
    ASSERT_EQ(ctl(f, "remove 2001:2:0:1::1 /64"), ok);
    ASSERT_EQ(ctl(f, "remove fe80::ff:fe00:10 /64"), ok);
    r.clear();
    t.clear();
    s.rib.text(r);
    s.self.text(t);
    EXPECT_EQ(r, "");
    EXPECT_EQ(t, "");
}

TEST_F(Ip6Test, FirstV6AddressBringsEui64LinkLocal_4_2_2) {
    Ipifc& f = ifc();
    ASSERT_EQ(ctl(f, "bind ether /net/ether0"), ok);
    ASSERT_EQ(ctl(f, "add 198.18.0.1 255.255.255.0"), ok);
    EXPECT_EQ(f.lifc.size(), 1u);  // a v4 address brings none
    ASSERT_EQ(ctl(f, "add 2001:2:0:1::1 /64"), ok);
    ASSERT_EQ(f.lifc.size(), 3u);
    EXPECT_EQ(f.lifc[1].local, kMyEuiLL);  // before the address that brought it
    EXPECT_EQ(f.lifc[1].mask, prefix_mask(64));
    EXPECT_FALSE(f.lifc[1].tentative);
    EXPECT_EQ(f.lifc[2].local, kMe);
    std::string r;
    s.rib.text(r);
    EXPECT_NE(r.find("fe80::          /64  fe80::          6i   ifc    0 fe80::ff:fe00:10 /128"),
              std::string::npos)
        << r;
    // a second address, a `try`, or an add6 bring no other
    ASSERT_EQ(ctl(f, "add 2001:2:0:3::1 /64"), ok);
    ASSERT_EQ(ctl(f, "try 2001:2:0:4::1 /64"), ok);
    ASSERT_EQ(ctl(f, "add6 2001:2:0:5:: 64"), ok);
    int ll = 0;
    for (auto& l : f.lifc) ll += l.local.is_linklocal6();
    EXPECT_EQ(ll, 1);
    // nor when the interface has a link-local address of its own, nor under `try` (never
    // tentative), nor on a medium without a MAC
    Ipifc& g = ifc();
    ASSERT_EQ(ctl(g, "bind ether /net/ether1"), ok);
    ASSERT_EQ(ctl(g, "add fe80::1 /64"), ok);
    ASSERT_EQ(ctl(g, "add 2001:2:0:2::1 /64"), ok);
    EXPECT_EQ(g.lifc.size(), 2u);
    Ipifc& h = ifc();
    ASSERT_EQ(ctl(h, "bind loopback /dev/null"), ok);
    ASSERT_EQ(ctl(h, "add 2001:2:0:6::1 /64"), ok);
    EXPECT_EQ(h.lifc.size(), 1u);
}

// RFC 4861 §7.2.4: the advertisement goes back on the receiving link whatever the routes.
// With only a global address (its link-local removed) there is no route to fe80::/64, yet a
// solicitation from a link-local source is answered, and the solicitor is entered on the
// interface it spoke on.
TEST_F(Ip6Test, LinkLocalSolicitationAnsweredWithoutLinkLocalOfOurOwn_4_14_2) {
    Ipifc& f = ifc();
    ASSERT_EQ(ctl(f, "bind ether /net/ether0"), ok);
    ASSERT_EQ(ctl(f, "add 2001:2:0:1::1 /64"), ok);
    ASSERT_EQ(ctl(f, "remove fe80::ff:fe00:10 /64"), ok);
    io.sent.clear();
    rx(icmp6(kPeerLL, solicited_node_of(kMe), nd(Icmp6NbrSolicit, 0, kMe, 1, kPeerMac)));
    ASSERT_EQ(io.sent.size(), 1u);
    Sent na{io.sent[0].bytes};
    EXPECT_EQ(na.dst(), kPeerMac);
    EXPECT_EQ(na.src(), kMe);
    EXPECT_EQ(na.dstip(), kPeerLL);
    EXPECT_EQ(na.l4()[0], Icmp6NbrAdvert);
    EXPECT_EQ(na.l4()[4], kNaSolicited | kNaOverride);
    EXPECT_EQ(na.target(), kMe);
    EXPECT_TRUE(na.csum_ok());
    EXPECT_EQ(arp(), "ether  OK   fe80::2                                  001122334455     "
                     "2001:2:0:1::1\n");
    // without a source link-layer address the reply waits for our own solicitation
    io.sent.clear();
    ASSERT_EQ(s.arp_write("flush"), ok);
    rx(icmp6(kPeerLL, solicited_node_of(kMe), nd(Icmp6NbrSolicit, 0, kMe, 0, kPeerMac)),
       kPeerMac, nullptr);
    ASSERT_EQ(io.sent.size(), 1u);
    Sent ns{io.sent[0].bytes};
    EXPECT_EQ(ns.l4()[0], Icmp6NbrSolicit);
    EXPECT_EQ(ns.target(), kPeerLL);
}

// The interface given only a global address (it got its EUI-64 link-local with it).
TEST_F(Ip6Test, LinkLocalSolicitationToGlobalOnlyInterface_4_14_2) {
    Ipifc& f = ifc();
    ASSERT_EQ(ctl(f, "bind ether /net/ether0"), ok);
    ASSERT_EQ(ctl(f, "add 2001:2:0:9::1 /64"), ok);
    io.sent.clear();
    const Ipaddr me = ip("2001:2:0:9::1");
    rx(icmp6(kPeerLL, solicited_node_of(me), nd(Icmp6NbrSolicit, 0, me, 1, kPeerMac)));
    ASSERT_EQ(io.sent.size(), 1u);
    Sent na{io.sent[0].bytes};
    EXPECT_EQ(na.dst(), kPeerMac);
    EXPECT_EQ(na.src(), me);
    EXPECT_EQ(na.dstip(), kPeerLL);
    EXPECT_EQ(na.target(), me);
    EXPECT_EQ(na.l4()[4], kNaSolicited | kNaOverride);
    EXPECT_TRUE(na.csum_ok());
}

TEST_F(Ip6Test, NeighbourSolicitationAnswered_4_14_2) {
    host();
    rx(icmp6(kPeer, solicited_node_of(kMe), nd(Icmp6NbrSolicit, 0, kMe, 1, kPeerMac)));
    ASSERT_EQ(io.sent.size(), 1u);
    Sent na{io.sent[0].bytes};
    EXPECT_EQ(na.dst(), kPeerMac);
    EXPECT_EQ(na.src(), kMe);
    EXPECT_EQ(na.dstip(), kPeer);
    EXPECT_EQ(na.ip()[kIp6Hop], 255);
    ASSERT_EQ(na.l4len(), 32u);
    EXPECT_EQ(na.l4()[0], Icmp6NbrAdvert);
    EXPECT_EQ(na.l4()[4], kNaSolicited | kNaOverride);
    EXPECT_EQ(na.target(), kMe);
    EXPECT_TRUE(same_mac(mymac(), na.l4() + 26));
    EXPECT_TRUE(na.csum_ok());
    // the solicitor is entered (§2.8: v6 entries in /net/arp)
    EXPECT_EQ(arp(), "ether  OK   2001:2:0:1::2                            001122334455     "
                     "2001:2:0:1::1\n");
    EXPECT_EQ(s.icmp6->st.in[Icmp6NbrSolicit], 1u);
    EXPECT_EQ(s.icmp6->st.out[Icmp6NbrAdvert], 3u);  // two announcements from host(), one reply
}

// From the target itself (as Linux answers), not from the link-local address toward the
// solicitor: ndisc6 ignores an answer for a global target from a link-local address.
TEST_F(Ip6Test, LinkLocalSolicitationAnsweredFromTarget_4_14_2) {
    host();
    rx(icmp6(kPeerLL, solicited_node_of(kMe), nd(Icmp6NbrSolicit, 0, kMe, 1, kPeerMac)));
    ASSERT_EQ(io.sent.size(), 1u);
    Sent na{io.sent[0].bytes};
    EXPECT_EQ(na.src(), kMe);
    EXPECT_EQ(na.dstip(), kPeerLL);
    EXPECT_EQ(na.target(), kMe);
    EXPECT_NE(arp().find("fe80::2 "), std::string::npos);
    EXPECT_NE(arp().find(" fe80::1\n"), std::string::npos);
}

TEST_F(Ip6Test, RouterFlagFromSendra_4_14_2) {
    Ipifc& f = host();
    ASSERT_EQ(ctl(f, "ra6 sendra 1"), ok);
    rx(icmp6(kPeer, solicited_node_of(kMe), nd(Icmp6NbrSolicit, 0, kMe, 1, kPeerMac)));
    ASSERT_EQ(io.sent.size(), 1u);
    EXPECT_EQ(Sent{io.sent[0].bytes}.l4()[4], kNaRouter | kNaSolicited | kNaOverride);
}

TEST_F(Ip6Test, SolicitationForSomeoneElseIgnored_4_14_2) {
    host();
    rx(icmp6(kPeer, solicited_node_of(ip("2001:2:0:1::9")),
             nd(Icmp6NbrSolicit, 0, ip("2001:2:0:1::9"), 1, kPeerMac)));
    EXPECT_TRUE(io.sent.empty());
    EXPECT_EQ(arp(), "");
}

TEST_F(Ip6Test, DadSolicitationForOurAddressDefended) {
    host();
    rx(icmp6(IPnoaddr, solicited_node_of(kMe), nd(Icmp6NbrSolicit, 0, kMe, 0, kPeerMac)));
    ASSERT_EQ(io.sent.size(), 1u);
    Sent na{io.sent[0].bytes};
    EXPECT_EQ(na.dstip(), v6allnodesL);
    EXPECT_EQ(na.src(), kMe);
    EXPECT_EQ(na.l4()[4], kNaOverride);  // not solicited: the source was ::
    EXPECT_EQ(arp(), "");
}

TEST_F(Ip6Test, DadWithNonceDefended) {
    host();
    auto m = nd(Icmp6NbrSolicit, 0, kMe, 0, kPeerMac);
    m.insert(m.end(), {14, 1, 1, 2, 3, 4, 5, 6});  // Linux's nonce option (RFC 7527)
    rx(icmp6(IPnoaddr, solicited_node_of(kMe), m));
    ASSERT_EQ(io.sent.size(), 1u);
    EXPECT_EQ(Sent{io.sent[0].bytes}.dstip(), v6allnodesL);
    EXPECT_EQ(s.icmp6->st.n[AddrmxpErrs6], 0u);
}

TEST_F(Ip6Test, TryRunsDadAndAddAnnounces_3_3_4_14_2) {
    Ipifc& f = host();
    ASSERT_EQ(ctl(f, "try 2001:2:0:1::7 /64"), ok);
    ASSERT_EQ(io.sent.size(), 1u);
    Sent ns{io.sent[0].bytes};
    EXPECT_EQ(ns.dst(), (Ether{{0x33, 0x33, 0xff, 0, 0, 7}}));
    EXPECT_EQ(ns.src(), IPnoaddr);
    EXPECT_EQ(ns.dstip(), ip("ff02::1:ff00:7"));
    EXPECT_EQ(ns.l4()[0], Icmp6NbrSolicit);
    EXPECT_EQ(ns.l4len(), 24u);  // no source link-layer address from ::
    EXPECT_EQ(ns.target(), ip("2001:2:0:1::7"));
    EXPECT_TRUE(ns.csum_ok());
    ASSERT_TRUE(f.lifc.back().tentative);
    // tentative: not a source, not answered
    EXPECT_EQ(s.findlocalip(kPeer), kMe);
    io.sent.clear();
    rx(icmp6(kPeer, solicited_node_of(ip("2001:2:0:1::7")),
             nd(Icmp6NbrSolicit, 0, ip("2001:2:0:1::7"), 1, kPeerMac)));
    EXPECT_TRUE(io.sent.empty());
    // `add` again: no longer tentative, announced
    ASSERT_EQ(ctl(f, "add 2001:2:0:1::7 /64"), ok);
    EXPECT_FALSE(f.lifc.back().tentative);
    ASSERT_EQ(io.sent.size(), 1u);
    EXPECT_EQ(Sent{io.sent[0].bytes}.l4()[0], Icmp6NbrAdvert);
    EXPECT_EQ(Sent{io.sent[0].bytes}.target(), ip("2001:2:0:1::7"));
    io.sent.clear();
    ASSERT_EQ(ctl(f, "add 2001:2:0:1::7 /64"), ok);  // unchanged: nothing sent
    EXPECT_TRUE(io.sent.empty());
}

TEST_F(Ip6Test, DadConflictShowsInArp_4_14_2) {
    Ipifc& f = ifc();
    ASSERT_EQ(ctl(f, "bind ether /net/ether0"), ok);
    ASSERT_EQ(ctl(f, "try fe80::7 /64"), ok);
    rx(icmp6(ip("fe80::7"), v6allnodesL, nd(Icmp6NbrAdvert, kNaOverride, ip("fe80::7"), 2,
                                              kOtherMac)));
    EXPECT_EQ(arp(), "ether  OK   fe80::7                                  0066778899aa     "
                     "fe80::7\n");
}

TEST_F(Ip6Test, UnsolicitedAdvertisementOnlyRefreshes_4_14_2) {
    host();
    rx(icmp6(kPeer, v6allnodesL, nd(Icmp6NbrAdvert, kNaOverride, kPeer, 2, kPeerMac)));
    EXPECT_EQ(arp(), "");
    learn_peer();
    rx(icmp6(kPeer, v6allnodesL, nd(Icmp6NbrAdvert, kNaOverride, kPeer, 2, kOtherMac)));
    EXPECT_NE(arp().find(" 0066778899aa "), std::string::npos) << arp();
}

TEST_F(Ip6Test, EchoRequestAnswered_4_8_2) {
    host();
    learn_peer();
    rx(icmp6(kPeer, kMe, echo(Icmp6EchoRequest, 7, 1), 64));
    ASSERT_EQ(io.sent.size(), 1u);
    Sent r{io.sent[0].bytes};
    EXPECT_EQ(r.dst(), kPeerMac);
    EXPECT_EQ(r.src(), kMe);
    EXPECT_EQ(r.dstip(), kPeer);
    EXPECT_EQ(r.ip()[kIp6Hop], 255);
    EXPECT_EQ(r.l4()[0], Icmp6EchoReply);
    EXPECT_EQ(get16(r.l4() + 4), 7);
    EXPECT_EQ(get16(r.l4() + 6), 1);
    EXPECT_EQ(r.l4len(), 16u);
    EXPECT_TRUE(r.csum_ok());
    EXPECT_EQ(s.icmp6->st.in[Icmp6EchoRequest], 1u);
    EXPECT_EQ(s.icmp6->st.out[0], 1u);  // quirk 15
    EXPECT_EQ(s.icmp6->st.out[Icmp6EchoReply], 0u);
    EXPECT_NE(icmp6stats().find("\nEchoReply: 0 1\n"), std::string::npos);
    EXPECT_NE(icmp6stats().find("\nEchoRequestV6: 1 0\n"), std::string::npos);
}

TEST_F(Ip6Test, EchoToAllNodesAnsweredFromBestAddress_4_8_2) {
    host();
    rx(icmp6(kPeerLL, v6allnodesL, echo(Icmp6EchoRequest, 7, 1), 64));
    // the reply waits for the neighbour: a solicitation for fe80::2 from fe80::1
    ASSERT_EQ(io.sent.size(), 1u);
    Sent ns{io.sent[0].bytes};
    EXPECT_EQ(ns.l4()[0], Icmp6NbrSolicit);
    EXPECT_EQ(ns.src(), kMeLL);
    EXPECT_EQ(ns.target(), kPeerLL);
    rx(icmp6(kPeerLL, kMeLL, nd(Icmp6NbrAdvert, kNaSolicited, kPeerLL, 2, kPeerMac)));
    ASSERT_EQ(io.sent.size(), 2u);
    Sent r{io.sent[1].bytes};
    EXPECT_EQ(r.dst(), kPeerMac);
    EXPECT_EQ(r.src(), kMeLL);
    EXPECT_EQ(r.l4()[0], Icmp6EchoReply);
}

TEST_F(Ip6Test, PingConversationWritesAndReads_4_8_2) {
    host();
    learn_peer();
    Conv& c = **s.icmp6->clone("eve");
    ASSERT_EQ(ctl(c, "connect 2001:2:0:1::2!1"), ok);
    EXPECT_EQ(c.laddr, kMe);
    std::vector<uint8_t> w(40 + 16);
    w[40] = Icmp6EchoRequest;
    put16(w.data() + 46, 42);
    ASSERT_EQ(write(c, w), ok);
    ASSERT_EQ(io.sent.size(), 1u);
    Sent q{io.sent[0].bytes};
    EXPECT_EQ(q.src(), kMe);
    EXPECT_EQ(q.dstip(), kPeer);
    EXPECT_EQ(get16(q.l4() + 4), c.lport);  // identifier overwritten
    EXPECT_TRUE(q.csum_ok());
    EXPECT_EQ(s.icmp6->st.out[Icmp6EchoRequest], 1u);
    // the reply comes back with its IPv6 header
    rx(icmp6(kPeer, kMe, echo(Icmp6EchoReply, c.lport, 42), 63));
    std::string out = read(c);
    ASSERT_EQ(out.size(), 40u + 16);
    EXPECT_EQ(uint8_t(out[0]) >> 4, 6);
    EXPECT_EQ(uint8_t(out[7]), 63);  // hop limit, where ping reads it
    EXPECT_EQ(uint8_t(out[40]), Icmp6EchoReply);
    // short writes are dropped
    io.sent.clear();
    ASSERT_EQ(write(c, std::vector<uint8_t>(47)), ok);
    EXPECT_TRUE(io.sent.empty());
    Text t;
    s.icmp6->state(c, t);
    EXPECT_EQ(t.str(), "Datagram qin 0 qout 0\n");
}

TEST_F(Ip6Test, HeadersModeKeepsIdentifierAndAddresses_3_7_4_8_2) {
    host();
    learn_peer();
    Conv& c = **s.icmp6->clone("eve");
    ASSERT_EQ(ctl(c, "headers on"), Eunknownctl);
    ASSERT_EQ(ctl(c, "headers"), ok);
    ASSERT_EQ(ctl(c, "bogus"), Eunknownctl);
    std::vector<uint8_t> w(40 + 8);
    std::copy(kMe.b.begin(), kMe.b.end(), w.begin() + 8);
    std::copy(kPeer.b.begin(), kPeer.b.end(), w.begin() + 24);
    w[40] = Icmp6EchoRequest;
    put16(w.data() + 44, 0x1234);
    ASSERT_EQ(write(c, w), ok);
    ASSERT_EQ(io.sent.size(), 1u);
    Sent q{io.sent[0].bytes};
    EXPECT_EQ(q.src(), kMe);
    EXPECT_EQ(q.dstip(), kPeer);
    EXPECT_EQ(get16(q.l4() + 4), 0x1234);
    EXPECT_TRUE(q.csum_ok());
}

TEST_F(Ip6Test, RouterAdvertisementsDeliveredByType_4_8_2) {
    host();
    Conv& c = **s.icmp6->clone("eve");
    // ipconfig: icmpv6!ff02::1!134!r from fe80::…!134
    ASSERT_EQ(ctl(c, "connect ff02::1!134!r fe80::1!134"), ok);
    EXPECT_EQ(c.lport, 134);
    std::vector<uint8_t> ra(16);
    ra[0] = Icmp6RouterAdvert;
    ra[4] = 64;
    rx(icmp6(kPeerLL, v6allnodesL, ra));
    std::string out = read(c);
    ASSERT_EQ(out.size(), 56u);
    EXPECT_EQ(uint8_t(out[40]), Icmp6RouterAdvert);
    EXPECT_EQ(s.icmp6->st.in[Icmp6RouterAdvert], 1u);
    // an RA from a global address is refused
    rx(icmp6(kPeer, v6allnodesL, ra));
    EXPECT_EQ(s.icmp6->st.n[RouterAddrErrs6], 1u);
    EXPECT_EQ(c.rq.bytes(), 0u);
}

TEST_F(Ip6Test, UdpBothWays_4_7) {
    host();
    learn_peer();
    // the peer calls an announced conversation
    Conv& l = **udp_of(s)->clone("eve");
    ASSERT_EQ(ctl(l, "announce 7001"), ok);
    rx(udp6(kPeer, kMe, 4000, 7001, "hello"));
    ASSERT_EQ(l.incall.size(), 1u);
    Conv& n = *udp_of(s)->conv(l.incall.front());
    EXPECT_EQ(n.ipversion, Version::V6);
    Text rt, lt;
    udp_of(s)->remote(n, rt);
    udp_of(s)->local(n, lt);
    EXPECT_EQ(rt.str(), "2001:2:0:1::2!4000\n");
    EXPECT_EQ(lt.str(), "2001:2:0:1::1!7001\n");
    EXPECT_EQ(read(n), "hello");
    std::string reply = "world";
    ASSERT_EQ(n.p->write_data(n, {reinterpret_cast<const uint8_t*>(reply.data()), reply.size()}),
              ok);
    ASSERT_EQ(io.sent.size(), 1u);
    Sent u{io.sent[0].bytes};
    EXPECT_EQ(u.dst(), kPeerMac);
    EXPECT_EQ(u.ip()[kIp6Next], kProtoUdp);
    EXPECT_EQ(u.src(), kMe);
    EXPECT_EQ(u.dstip(), kPeer);
    EXPECT_EQ(get16(u.l4()), 7001);
    EXPECT_EQ(get16(u.l4() + 2), 4000);
    EXPECT_EQ(u.ip()[kIp6Hop], 255);
    EXPECT_TRUE(u.csum_ok());
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(u.l4() + 8), 5), "world");
    // we call the peer
    io.sent.clear();
    Conv& d = **udp_of(s)->clone("eve");
    ASSERT_EQ(ctl(d, "connect 2001:2:0:1::2!7002"), ok);
    EXPECT_EQ(d.ipversion, Version::V6);
    ASSERT_EQ(d.p->write_data(d, {reinterpret_cast<const uint8_t*>(reply.data()), 5}), ok);
    ASSERT_EQ(io.sent.size(), 1u);
    EXPECT_EQ(get16(Sent{io.sent[0].bytes}.l4() + 2), 7002);
    EXPECT_TRUE(Sent{io.sent[0].bytes}.csum_ok());
    rx(udp6(kPeer, kMe, 7002, d.lport, "back"));
    EXPECT_EQ(read(d), "back");
}

TEST_F(Ip6Test, UdpHeadersModeWithV6Addresses_4_7_2) {
    host();
    learn_peer();
    Conv& c = **udp_of(s)->clone("eve");
    ASSERT_EQ(ctl(c, "announce 53"), ok);
    ASSERT_EQ(ctl(c, "headers"), ok);
    rx(udp6(kPeer, kMe, 999, 53, "q"));
    std::string out = read(c);
    ASSERT_EQ(out.size(), 53u);
    auto* b = reinterpret_cast<const uint8_t*>(out.data());
    EXPECT_EQ(Ipaddr::from_bytes(b), kPeer);
    EXPECT_EQ(Ipaddr::from_bytes(b + 16), kMe);
    EXPECT_EQ(Ipaddr::from_bytes(b + 32), kMe);
    EXPECT_EQ(get16(b + 48), 999);
    EXPECT_EQ(get16(b + 50), 53);
    io.sent.clear();
    std::string reply = out.substr(0, 52) + "a";
    ASSERT_EQ(c.p->write_data(c, {reinterpret_cast<const uint8_t*>(reply.data()), reply.size()}),
              ok);
    ASSERT_EQ(io.sent.size(), 1u);
    Sent u{io.sent[0].bytes};
    EXPECT_EQ(u.type(), kEthIp6);
    EXPECT_EQ(u.src(), kMe);
    EXPECT_EQ(u.dstip(), kPeer);
    EXPECT_EQ(get16(u.l4() + 2), 999);
    EXPECT_TRUE(u.csum_ok());
}

TEST_F(Ip6Test, UdpChecksumAlwaysVerified_4_7_3) {
    host();
    auto p = udp6(kPeer, kMe, 1, 2, "x");
    put16(p.data() + kIp6Hdr + 6, 0);  // zero means "unchecked" only for v4
    Conv& l = **udp_of(s)->clone("eve");
    ASSERT_EQ(ctl(l, "announce 2"), ok);
    rx(p);
    EXPECT_EQ(udp_of(s)->st.in_errors, 1u);
    EXPECT_TRUE(l.incall.empty());
}

TEST_F(Ip6Test, UdpToClosedPortGetsPortUnreachable_4_4_2) {
    host();
    learn_peer();
    auto p = udp6(kPeer, kMe, 5555, 9, "hi");
    rx(p);
    EXPECT_EQ(udp_of(s)->st.no_ports, 1u);
    ASSERT_EQ(io.sent.size(), 1u);
    Sent e{io.sent[0].bytes};
    EXPECT_EQ(e.src(), kMe);
    EXPECT_EQ(e.dstip(), kPeer);
    EXPECT_EQ(e.l4()[0], Icmp6Unreachable);
    EXPECT_EQ(e.l4()[1], 4);
    EXPECT_EQ(e.l4len(), 8 + p.size());
    EXPECT_TRUE(std::equal(p.begin(), p.end(), e.l4() + 8));
    EXPECT_TRUE(e.csum_ok());
    EXPECT_EQ(s.icmp6->st.out[Icmp6Unreachable], 1u);
    // never about multicast
    io.sent.clear();
    rx(udp6(kPeer, v6allnodesL, 5555, 9, "hi"));
    EXPECT_TRUE(io.sent.empty());
}

TEST_F(Ip6Test, PortUnreachableHangsUpConnectedUdp_4_8_3) {
    host();
    learn_peer();
    Conv& c = **udp_of(s)->clone("eve");
    ASSERT_EQ(ctl(c, "connect 2001:2:0:1::2!7777"), ok);
    std::string d = "ping";
    ASSERT_EQ(c.p->write_data(c, {reinterpret_cast<const uint8_t*>(d.data()), d.size()}), ok);
    ASSERT_EQ(io.sent.size(), 1u);
    std::vector<uint8_t> sent(io.sent[0].bytes.begin() + 14, io.sent[0].bytes.end());
    std::vector<uint8_t> m(8);
    m[0] = Icmp6Unreachable;
    m[1] = 4;
    m.insert(m.end(), sent.begin(), sent.end());
    rx(icmp6(kPeer, kMe, m, 64));
    std::string out;
    Err e;
    ASSERT_EQ(c.rq.read(100, out, e), Queue::R::Error);
    EXPECT_STREQ(e.text, "port unreachable");
}

TEST_F(Ip6Test, ResolutionRetransmitsThenAddressUnreachable_4_14_1) {
    host();
    Conv& c = **udp_of(s)->clone("eve");
    ASSERT_EQ(ctl(c, "connect 2001:2:0:1::2!7777"), ok);
    std::string d = "one";
    ASSERT_EQ(c.p->write_data(c, {reinterpret_cast<const uint8_t*>(d.data()), d.size()}), ok);
    ASSERT_EQ(io.sent.size(), 1u);
    Sent ns{io.sent[0].bytes};
    EXPECT_EQ(ns.dst(), (Ether{{0x33, 0x33, 0xff, 0, 0, 2}}));
    EXPECT_EQ(ns.dstip(), ip("ff02::1:ff00:2"));
    EXPECT_EQ(ns.src(), kMe);  // the waiting packet's source
    EXPECT_EQ(ns.target(), kPeer);
    ASSERT_EQ(ns.l4len(), 32u);
    EXPECT_EQ(ns.l4()[24], 1);  // source link-layer address
    EXPECT_TRUE(same_mac(mymac(), ns.l4() + 26));
    EXPECT_TRUE(ns.csum_ok());
    EXPECT_NE(arp().find("ether  WAIT 2001:2:0:1::2 "), std::string::npos) << arp();
    // a second packet replaces the first and does not solicit again
    d = "two";
    ASSERT_EQ(c.p->write_data(c, {reinterpret_cast<const uint8_t*>(d.data()), d.size()}), ok);
    EXPECT_EQ(io.sent.size(), 1u);
    at(700);
    EXPECT_EQ(io.sent.size(), 1u);
    at(751);
    at(1502);
    at(2253);
    EXPECT_EQ(io.sent.size(), 4u);  // three more, 750 ms apart
    at(2900);
    EXPECT_EQ(io.sent.size(), 4u);
    at(3004);
    EXPECT_EQ(arp(), "");
    std::string out;
    Err e;
    ASSERT_EQ(c.rq.read(100, out, e), Queue::R::Error);
    EXPECT_STREQ(e.text, "address unreachable");
    EXPECT_EQ(s.icmp6->st.out[Icmp6Unreachable], 1u);
    EXPECT_EQ(s.icmp6->st.in[Icmp6Unreachable], 1u);
}

TEST_F(Ip6Test, AdvertisementReleasesTheWaitingPacket_4_14_1) {
    host();
    Conv& c = **udp_of(s)->clone("eve");
    ASSERT_EQ(ctl(c, "connect 2001:2:0:1::2!7777"), ok);
    std::string d = "one";
    ASSERT_EQ(c.p->write_data(c, {reinterpret_cast<const uint8_t*>(d.data()), d.size()}), ok);
    rx(icmp6(kPeer, kMe, nd(Icmp6NbrAdvert, kNaSolicited | kNaOverride, kPeer, 2, kPeerMac)));
    ASSERT_EQ(io.sent.size(), 2u);
    Sent u{io.sent[1].bytes};
    EXPECT_EQ(u.dst(), kPeerMac);
    EXPECT_EQ(u.type(), kEthIp6);
    EXPECT_EQ(u.ip()[kIp6Next], kProtoUdp);
    EXPECT_EQ(arp(), "ether  OK   2001:2:0:1::2                            001122334455     "
                     "2001:2:0:1::1\n");
    at(5000);  // resolved: no more solicitations, no error
    EXPECT_EQ(io.sent.size(), 2u);
}

TEST_F(Ip6Test, ArpWritesTakeV6_3_13) {
    host();
    EXPECT_EQ(s.arp_write("add 2001:2:0:1::9 0a0b0c0d0e0f"), ok);
    EXPECT_EQ(arp(), "ether  OK   2001:2:0:1::9                            0a0b0c0d0e0f     "
                     "2001:2:0:1::1\n");
    EXPECT_EQ(s.arp_write("add 2001:2:0:9::9 0a0b0c0d0e0f"), Eunreachable);
    EXPECT_EQ(s.arp_write("del 2001:2:0:1::9"), ok);
    EXPECT_EQ(arp(), "");
    io.sent.clear();
    EXPECT_EQ(s.arp_write("garp 2001:2:0:1::1"), ok);
    ASSERT_EQ(io.sent.size(), 1u);
    EXPECT_EQ(Sent{io.sent[0].bytes}.l4()[0], Icmp6NbrAdvert);
}

// ---- malformed input ----------------------------------------------------------------------

TEST_F(Ip6Test, BadHeadersCounted_4_4) {
    host();
    uint64_t hdr0 = s.ipstat[InHdrErrors];
    net.input(0, test::eth(mymac(), kPeerMac, kEthIp6, std::vector<uint8_t>(20, 0x60)));
    auto p = udp6(kPeer, kMe, 1, 2, "x");
    p[0] = 0x45;  // not version 6
    rx(p);
    p = udp6(kPeer, kMe, 1, 2, "x");
    put16(p.data() + kIp6Plen, 500);  // longer than what came
    rx(p);
    EXPECT_EQ(s.ipstat[InHdrErrors], hdr0 + 3);
    // trailing link padding is trimmed, not an error
    Conv& l = **udp_of(s)->clone("eve");
    ASSERT_EQ(ctl(l, "announce 2"), ok);
    p = udp6(kPeer, kMe, 1, 2, "x");
    p.resize(p.size() + 10);
    rx(p);
    EXPECT_EQ(l.incall.size(), 1u);
    EXPECT_EQ(s.ipstat[InHdrErrors], hdr0 + 3);
}

TEST_F(Ip6Test, UnknownProtocolAndExtensionHeaders_4_4) {
    host();
    rx(ip6(kPeer, kMe, 40, std::vector<uint8_t>(20)));  // IL: no handler (and no IL over v6)
    EXPECT_EQ(s.ipstat[InUnknownProtos], 1u);
    // hop-by-hop running past the end
    std::vector<uint8_t> hbh = {17, 5, 0, 0, 0, 0, 0, 0};
    rx(ip6(kPeer, kMe, kHopByHop, hbh));
    EXPECT_EQ(s.ipstat[InDiscards], 2u);
    EXPECT_EQ(s.ipstat[InHdrErrors], 1u);
    // a fine hop-by-hop header in front of UDP: dispatched on the fixed header (quirk 9)
    hbh[1] = 0;
    auto u = udp6(kPeer, kMe, 1, 2, "x");
    hbh.insert(hbh.end(), u.begin() + kIp6Hdr, u.end());
    rx(ip6(kPeer, kMe, kHopByHop, hbh));
    EXPECT_EQ(s.ipstat[InUnknownProtos], 2u);
    EXPECT_EQ(udp_of(s)->st.in_datagrams, 0u);
}

// A fragment of the upper-layer bytes ul (from offset off, n bytes) in an IPv6 packet.
std::vector<uint8_t> frag6(const Ipaddr& src, const Ipaddr& dst, const std::vector<uint8_t>& ul,
                           size_t off, size_t n, bool more, uint32_t id, uint8_t next = kProtoUdp) {
    std::vector<uint8_t> fh = {next, 0, 0, 0, 0, 0, 0, 0};
    put16(fh.data() + 2, uint16_t(off | (more ? 1 : 0)));
    put32(fh.data() + 4, id);
    fh.insert(fh.end(), ul.begin() + long(off), ul.begin() + long(off + n));
    return ip6(src, dst, kFragment, fh);
}

// The UDP header and data of a udp6 packet.
std::vector<uint8_t> udp_part(const std::vector<uint8_t>& p) {
    return {p.begin() + kIp6Hdr, p.end()};
}

TEST_F(Ip6Test, FragmentsReassembledForLocalDelivery_4_4_1) {
    host();
    Conv& l = **udp_of(s)->clone("eve");
    ASSERT_EQ(ctl(l, "announce 2"), ok);
    std::string data(3000, '\0');
    for (size_t i = 0; i < data.size(); i++) data[i] = char('a' + i % 26);
    auto ul = udp_part(udp6(kPeer, kMe, 1, 2, data));
    rx(frag6(kPeer, kMe, ul, 1448, 1448, true, 9));
    rx(frag6(kPeer, kMe, ul, 2896, ul.size() - 2896, false, 9));
    EXPECT_EQ(s.ipstat[ReasmReqds], 1u);
    EXPECT_TRUE(l.incall.empty());
    rx(frag6(kPeer, kMe, ul, 0, 1448, true, 9));
    EXPECT_EQ(s.ipstat[ReasmOKs], 1u);
    EXPECT_EQ(s.ipstat[ReasmFails], 0u);
    ASSERT_EQ(l.incall.size(), 1u);
    EXPECT_EQ(read(*udp_of(s)->conv(l.incall.front())), data);
    EXPECT_EQ(udp_of(s)->st.in_datagrams, 1u);
}

TEST_F(Ip6Test, AtomicFragmentDeliveredAndCancelsQueue_4_4_1) {
    host();
    Conv& l = **udp_of(s)->clone("eve");
    ASSERT_EQ(ctl(l, "announce 2"), ok);
    auto ul = udp_part(udp6(kPeer, kMe, 1, 2, "xyz"));
    rx(frag6(kPeer, kMe, ul, 0, 8, true, 9));  // a first piece: a queue for id 9
    EXPECT_EQ(s.ipstat[ReasmReqds], 1u);
    rx(frag6(kPeer, kMe, ul, 0, ul.size(), false, 9));  // offset 0, no M: atomic
    EXPECT_EQ(s.ipstat[ReasmFails], 1u);  // it cancelled the queue with its key
    ASSERT_EQ(l.incall.size(), 1u);
    EXPECT_EQ(read(*udp_of(s)->conv(l.incall.front())), "xyz");
    EXPECT_EQ(s.reass6.queues(), 0u);
}

TEST_F(Ip6Test, FragmentChainErrorsCounted_4_4) {
    host();
    auto ul = udp_part(udp6(kPeer, kMe, 1, 2, "xyz"));
    auto p = frag6(kPeer, kMe, ul, 0, ul.size(), false, 9, kFragment);  // fragment after fragment
    rx(p);
    auto q = ip6(kPeer, kMe, kFragment, {kProtoUdp, 0, 0});  // a fragment header cut short
    rx(q);
    EXPECT_EQ(s.ipstat[InHdrErrors], 2u);
    EXPECT_EQ(s.ipstat[InDiscards], 2u);
    EXPECT_EQ(s.ipstat[ReasmReqds], 0u);
}

TEST_F(Ip6Test, ForwardedFragmentsPassUntouchedWithoutReassemble_3_3) {
    Ipifc& f = host();
    Ipifc& g = ifc();
    ASSERT_EQ(ctl(g, "bind ether /net/ether1"), ok);
    ASSERT_EQ(ctl(g, "add 2001:2:0:2::1 /64"), ok);
    ASSERT_EQ(ctl(f, "iprouting 1"), ok);
    ASSERT_EQ(s.arp_write("add 2001:2:0:2::5 0a0b0c0d0e0f"), ok);
    io.sent.clear();
    Ipaddr b = ip("2001:2:0:2::5");
    auto ul = udp_part(udp6(kPeer, b, 1, 2, std::string(1200, 'q')));
    rx(frag6(kPeer, b, ul, 0, 600, true, 5));
    rx(frag6(kPeer, b, ul, 600, ul.size() - 600, false, 5));
    ASSERT_EQ(io.sent.size(), 2u);
    for (auto& fr : io.sent) {
        EXPECT_EQ(fr.port, 1);
        EXPECT_EQ(Sent{fr.bytes}.ip()[kIp6Next], kFragment);
        EXPECT_EQ(get32(Sent{fr.bytes}.l4() + 4), 5u);  // the sender's id
    }
    EXPECT_EQ(s.ipstat[ForwDatagrams], 2u);
    EXPECT_EQ(s.ipstat[ReasmReqds], 0u);
}

TEST_F(Ip6Test, ReassembleOnTheWayOutThenFragmentToFit_3_3) {
    Ipifc& f = host();
    Ipifc& g = ifc();
    ASSERT_EQ(ctl(g, "bind ether /net/ether1"), ok);
    ASSERT_EQ(ctl(g, "add 2001:2:0:2::1 /64"), ok);
    ASSERT_EQ(ctl(g, "reassemble"), ok);
    ASSERT_EQ(ctl(f, "iprouting 1"), ok);
    ASSERT_EQ(s.arp_write("add 2001:2:0:2::5 0a0b0c0d0e0f"), ok);
    io.sent.clear();
    Ipaddr b = ip("2001:2:0:2::5");
    // fits the way out once whole: one packet without a fragment header
    auto ul = udp_part(udp6(kPeer, b, 1, 2, std::string(1200, 'q')));
    rx(frag6(kPeer, b, ul, 600, ul.size() - 600, false, 5));
    EXPECT_TRUE(io.sent.empty());
    rx(frag6(kPeer, b, ul, 0, 600, true, 5));
    ASSERT_EQ(io.sent.size(), 1u);
    Sent w{io.sent[0].bytes};
    EXPECT_EQ(w.ip()[kIp6Next], kProtoUdp);
    EXPECT_EQ(w.ip()[kIp6Hop], 63);
    EXPECT_EQ(w.l4len(), ul.size());
    EXPECT_TRUE(w.csum_ok());
    EXPECT_EQ(s.ipstat[ReasmOKs], 1u);
    EXPECT_EQ(s.ipstat[ForwDatagrams], 1u);
    // too big for the way out once whole: fragmented again by us (reassemble allows it)
    ASSERT_EQ(ctl(g, "mtu 1294"), ok);
    io.sent.clear();
    ul = udp_part(udp6(kPeer, b, 1, 2, std::string(2000, 'r')));
    rx(frag6(kPeer, b, ul, 0, 1400, true, 6));
    rx(frag6(kPeer, b, ul, 1400, ul.size() - 1400, false, 6));
    ASSERT_EQ(io.sent.size(), 2u);
    size_t total = 0;
    for (auto& fr : io.sent) {
        Sent x{fr.bytes};
        EXPECT_LE(x.iplen(), 1280u);
        EXPECT_EQ(x.ip()[kIp6Next], kFragment);
        EXPECT_NE(get32(x.l4() + 4), 6u);  // our own id
        total += x.l4len() - kIp6FragHdr;
    }
    EXPECT_EQ(total, ul.size());
    EXPECT_EQ(s.ipstat[FragOKs], 1u);
    EXPECT_EQ(s.ipstat[FragCreates], 2u);
    EXPECT_EQ(s.icmp6->st.out[Icmp6TooBig], 0u);
}

TEST_F(Ip6Test, TooBigForwardedGetsPacketTooBig_4_4_2) {
    Ipifc& f = host();
    Ipifc& g = ifc();
    ASSERT_EQ(ctl(g, "bind ether /net/ether1"), ok);
    ASSERT_EQ(ctl(g, "add 2001:2:0:2::1 /64"), ok);
    ASSERT_EQ(ctl(g, "mtu 1294"), ok);
    ASSERT_EQ(ctl(f, "iprouting 1"), ok);
    learn_peer();
    auto p = udp6(kPeer, ip("2001:2:0:2::5"), 1, 2, std::string(1400, 'x'));
    rx(p);
    ASSERT_EQ(io.sent.size(), 1u);
    Sent e{io.sent[0].bytes};
    EXPECT_EQ(io.sent[0].port, 0);
    EXPECT_EQ(e.dstip(), kPeer);
    EXPECT_EQ(e.l4()[0], Icmp6TooBig);
    EXPECT_EQ(get32(e.l4() + 4), 1280u);
    EXPECT_LE(e.iplen(), 1280u);
    EXPECT_TRUE(e.csum_ok());
    EXPECT_EQ(s.ipstat[OutDiscards], 1u);
}

TEST_F(Ip6Test, BadIcmpv6Counted_4_8_2) {
    host();
    auto p = icmp6(kPeer, kMe, echo(Icmp6EchoRequest, 1, 1));
    p[kIp6Hdr + 9] ^= 1;
    rx(p);
    EXPECT_EQ(s.icmp6->st.n[CsumErrs6], 1u);
    rx(ip6(kPeer, kMe, kProtoIcmp6, {128, 0, 0}));  // shorter than the header
    EXPECT_EQ(s.icmp6->st.n[HlenErrs6], 1u);
    auto ns = [&](std::vector<uint8_t> m, uint8_t hop = 255, const Ipaddr& src = kPeer,
                  const Ipaddr& dst = solicited_node_of(kMe)) { rx(icmp6(src, dst, m, hop)); };
    ns(nd(Icmp6NbrSolicit, 0, kMe, 1, kPeerMac), 64);
    EXPECT_EQ(s.icmp6->st.n[HoplimErrs6], 1u);
    auto m = nd(Icmp6NbrSolicit, 0, kMe, 1, kPeerMac);
    m[1] = 1;
    ns(m);
    EXPECT_EQ(s.icmp6->st.n[IcmpCodeErrs6], 1u);
    ns(nd(Icmp6NbrSolicit, 0, v6allnodesL, 1, kPeerMac));
    EXPECT_EQ(s.icmp6->st.n[TargetErrs6], 1u);
    m = nd(Icmp6NbrSolicit, 0, kMe, 1, kPeerMac);
    m[25] = 0;  // option of length 0
    ns(m);
    m = nd(Icmp6NbrSolicit, 0, kMe, 1, kPeerMac);
    m[25] = 2;  // option running past the end
    ns(m);
    EXPECT_EQ(s.icmp6->st.n[OptlenErrs6], 2u);
    ns(nd(Icmp6NbrSolicit, 0, kMe, 1, kPeerMac), 255, IPnoaddr);  // DAD with a source MAC
    ns(nd(Icmp6NbrSolicit, 0, kMe, 0, kPeerMac), 255, IPnoaddr, kMe);  // DAD not to the group
    rx(icmp6(kPeer, v6allnodesL, nd(Icmp6NbrAdvert, kNaSolicited, kPeer, 2, kPeerMac)));
    EXPECT_EQ(s.icmp6->st.n[AddrmxpErrs6], 3u);
    ns(std::vector<uint8_t>{Icmp6NbrSolicit, 0, 0, 0, 0, 0, 0, 0});  // no target
    EXPECT_EQ(s.icmp6->st.n[HlenErrs6], 2u);
    EXPECT_EQ(s.icmp6->st.n[InErrors6], 11u);
    EXPECT_TRUE(io.sent.empty());
    EXPECT_EQ(arp(), "");
    Text t;
    s.icmp6->stats(t);
    EXPECT_EQ(t.str().substr(0, 23), "InMsgs: 0\nInErrors: 11\n");
}

TEST_F(Ip6Test, RandomInputDoesNotCrash) {
    host();
    learn_peer();
    std::mt19937 rng(6);
    std::vector<std::vector<uint8_t>> seeds = {
        udp6(kPeer, kMe, 1, 2, "abc"),
        icmp6(kPeer, kMe, echo(Icmp6EchoRequest, 1, 1)),
        icmp6(kPeer, solicited_node_of(kMe), nd(Icmp6NbrSolicit, 0, kMe, 1, kPeerMac)),
        icmp6(kPeer, kMe, nd(Icmp6NbrAdvert, kNaSolicited, kPeer, 2, kPeerMac)),
    };
    for (int i = 0; i < 20000; i++) {
        auto p = seeds[size_t(i) % seeds.size()];
        int flips = 1 + int(rng() % 4);
        for (int k = 0; k < flips; k++) p[rng() % p.size()] ^= uint8_t(1 + rng() % 255);
        if (rng() % 4 == 0) p.resize(rng() % (p.size() + 1));
        net.input(0, test::eth(mymac(), kPeerMac, kEthIp6, p));
        if (i % 1000 == 0) at(uint64_t(i));
    }
    SUCCEED();
}

// ---- source selection (§4.3.4) ------------------------------------------------------------

TEST_F(Ip6Test, SourceSelectionByScope_4_3_4) {
    Ipifc& f = host();
    EXPECT_EQ(s.findlocalip(kPeer), kMe);
    EXPECT_EQ(s.findlocalip(kPeerLL), kMeLL);
    // the group's routes are per address, from either (which is the routing table's order)
    Ipaddr g = s.findlocalip(v6allnodesL);
    EXPECT_TRUE(g == kMe || g == kMeLL) << fmt_ip(g);
    // no route to a global destination: the best current address anywhere
    EXPECT_EQ(s.findlocalip(ip("2001:2:0:9::1")), kMe);
    // a ULA destination prefers a ULA source over a global one
    ASSERT_EQ(ctl(f, "add fd00::1 /64"), ok);
    RouteTag tag = kTagNone;
    ASSERT_FALSE(s.rib.write(parsecmd("add fd00:1:: /48 fd00::9"), tag, s));
    EXPECT_EQ(s.findlocalip(ip("fd00:1::5")), ip("fd00::1"));
    // a global destination through a gateway on the ULA net still gets a global source
    ASSERT_FALSE(s.rib.write(parsecmd("add 2001:2:0:5:: /64 fd00::9"), tag, s));
    EXPECT_EQ(s.findlocalip(ip("2001:2:0:5::1")), kMe);
    // the v4 part is unchanged
    EXPECT_EQ(s.findlocalip(Ipaddr::v4(198, 18, 0, 5)), Ipaddr::v4(198, 18, 0, 1));
}

TEST_F(Ip6Test, SourceSelectionSkipsTentativeAndDeprecated_4_3_4) {
    Ipifc& f = ifc();
    ASSERT_EQ(ctl(f, "bind ether /net/ether0"), ok);
    ASSERT_EQ(ctl(f, "add fe80::1 /64"), ok);
    ASSERT_EQ(ctl(f, "try 2001:2:0:1::1 /64"), ok);
    // no route yields a global address: the fallback takes the best current one
    EXPECT_EQ(s.findlocalip(kPeer), kMeLL);
    Ipaddr out;
    EXPECT_FALSE(s.ipv6local(f.x, out, 0, kPeer));  // link-local is below the peer's scope
    ASSERT_EQ(ctl(f, "add 2001:2:0:1::1 /64"), ok);
    EXPECT_EQ(s.findlocalip(kPeer), kMe);
    // two addresses on the net: the deprecated one loses, then the longer prefix decides
    ASSERT_EQ(ctl(f, "add6 2001:2:0:1:: 64 1 1 100 10"), ok);  // EUI-64 address, preflt 10 s
    Ipaddr eui = ip("2001:2:0:1:0:ff:fe00:10");
    ASSERT_EQ(f.lifc.back().local, eui);
    // the interface rule: same scope, then not deprecated, then the longest prefix
    ASSERT_TRUE(s.ipv6local(f.x, out, 0, ip("2001:2:0:1:0:ff:fe00:11")));
    EXPECT_EQ(out, eui);
    ASSERT_TRUE(s.ipv6local(f.x, out, 0, kPeerLL));
    EXPECT_EQ(out, kMeLL);
    at(20000);
    ASSERT_TRUE(s.ipv6local(f.x, out, 0, ip("2001:2:0:1:0:ff:fe00:11")));
    EXPECT_EQ(out, kMe);  // eui is deprecated now
    out = kMe;  // a source-specific route's prefix restricts the choice
    ASSERT_TRUE(s.ipv6local(f.x, out, 128, ip("2001:2:0:1:0:ff:fe00:11")));
    EXPECT_EQ(out, kMe);
    // remove6 drops what has expired
    at(200000);
    ASSERT_EQ(ctl(f, "remove6"), ok);
    EXPECT_EQ(f.lifc.back().local, kMe);
    EXPECT_EQ(ctl(f, "remove6 x"), Ebadarg);
}

TEST_F(Ip6Test, NoV6AddressGivesUnspecified_4_3_4) {
    Ipifc& f = ifc();
    ASSERT_EQ(ctl(f, "bind ether /net/ether0"), ok);
    ASSERT_EQ(ctl(f, "add 198.18.0.1 255.255.255.0"), ok);
    EXPECT_EQ(s.findlocalip(kPeer), IPnoaddr);
}

TEST_F(Ip6Test, Add6OffLinkInstallsNoInterfaceRoutes_3_3) {
    Ipifc& f = ifc();
    ASSERT_EQ(ctl(f, "bind ether /net/ether0"), ok);
    ASSERT_EQ(ctl(f, "add6 2001:2:0:1:: 64 0 1"), ok);
    std::string r;
    s.rib.text(r);
    EXPECT_EQ(r.find("2001:2:0:1::    /64"), std::string::npos) << r;
    ASSERT_EQ(ctl(f, "remove fe80::ff:fe00:10 /64"), ok);  // the link-local it brought
    r.clear();
    s.rib.text(r);
    EXPECT_EQ(r.find("6i"), std::string::npos) << r;
    ASSERT_EQ(ctl(f, "add6 2001:2:0:1:: 64 1 1"), ok);  // on-link now: the routes come
    r.clear();
    s.rib.text(r);
    EXPECT_NE(r.find("2001:2:0:1::    /64  2001:2:0:1::    6i"), std::string::npos) << r;
    ASSERT_EQ(ctl(f, "remove 2001:2:0:1:0:ff:fe00:10 /64"), ok);
    r.clear();
    s.rib.text(r);
    EXPECT_EQ(r, "");
    EXPECT_EQ(ctl(f, "add6 fe80:: 64"), Ebadarg);
    EXPECT_EQ(ctl(f, "add6 198.18.0.0 64"), Ebadarg);
    EXPECT_EQ(ctl(f, "add6 2001:2:: 65"), Ebadarg);
}

TEST_F(Ip6Test, ForwardingHonoursHopLimitAndScope_4_4) {
    Ipifc& f = host();
    Ipifc& g = ifc();
    ASSERT_EQ(ctl(g, "bind ether /net/ether1"), ok);
    ASSERT_EQ(ctl(g, "add 2001:2:0:2::1 /64"), ok);
    ASSERT_EQ(ctl(f, "iprouting 1"), ok);
    learn_peer();
    io.sent.clear();
    // hop limit 1: time exceeded back to the sender
    rx(udp6(kPeer, ip("2001:2:0:2::5"), 1, 2, "x"));
    auto p = udp6(kPeer, ip("2001:2:0:2::5"), 1, 2, "x");
    p[kIp6Hop] = 1;
    rx(p);
    ASSERT_EQ(io.sent.size(), 2u);
    EXPECT_EQ(io.sent[0].port, 1);  // the first went on to be resolved on ether1
    EXPECT_EQ(Sent{io.sent[0].bytes}.l4()[0], Icmp6NbrSolicit);
    Sent te{io.sent[1].bytes};
    EXPECT_EQ(io.sent[1].port, 0);
    EXPECT_EQ(te.l4()[0], Icmp6TimeExceed);
    EXPECT_EQ(te.dstip(), kPeer);
    EXPECT_EQ(s.ipstat[ForwDatagrams], 1u);
    // link-local destinations are never forwarded
    rx(udp6(kPeer, ip("fe80::99"), 1, 2, "x"));
    EXPECT_EQ(s.ipstat[ForwDatagrams], 1u);
}

TEST_F(Ip6Test, LargeDatagramFragmentedOnOutput_4_4) {
    host();
    learn_peer();
    Conv& c = **udp_of(s)->clone("eve");
    ASSERT_EQ(ctl(c, "connect 2001:2:0:1::2!7777"), ok);
    std::string d(3000, 'z');
    ASSERT_EQ(c.p->write_data(c, {reinterpret_cast<const uint8_t*>(d.data()), d.size()}), ok);
    ASSERT_EQ(io.sent.size(), 3u);
    size_t total = 0;
    for (auto& fr : io.sent) {
        Sent x{fr.bytes};
        EXPECT_LE(x.iplen(), 1500u);
        EXPECT_EQ(x.ip()[kIp6Next], kFragment);
        EXPECT_EQ(x.l4()[0], kProtoUdp);
        total += x.l4len() - 8;
    }
    EXPECT_EQ(total, 3008u);
    EXPECT_EQ(get16(Sent{io.sent[2].bytes}.l4() + 2) & 1, 0);  // the last has no M flag
    EXPECT_EQ(s.ipstat[FragOKs], 1u);
    EXPECT_EQ(s.ipstat[FragCreates], 3u);
}

}  // namespace
}  // namespace devip::proto
