// The stack driven end to end through its ctl verbs and frames, with a fake Netio.
// Expected texts are the reference's examples (ip3.md §2.5–§2.10), byte for byte.
#include <gtest/gtest.h>

#include <random>

#include "proto/fastpath.h"
#include "proto/fib_lookup.h"
#include "proto/text.h"
#include "proto/icmp.h"
#include "proto/stack.h"
#include "proto/udp.h"
#include "unittests/fake_netio.h"

namespace devip::proto {
namespace {

using test::FakeNetio;

const Ether kPeerMac{{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}};
constexpr uint32_t kMe = 0xc0a8010a;    // 192.168.1.10
constexpr uint32_t kPeer = 0xc0a80101;  // 192.168.1.1

struct StackTest : ::testing::Test {
    FakeNetio io{2};
    Net net{&io};
    Stack& s = net.stack(0);

    Err ctl(Conv& c, const std::string& msg) { return c.p->write_ctl(c, parsecmd(msg)); }
    Ipifc& ifc() {
        auto c = s.ipifc->clone("eve");
        return static_cast<Ipifc&>(**c);
    }
    // ipifc 0 on ether0 with 192.168.1.10/24, as ipconfig would leave it
    Ipifc& host() {
        Ipifc& f = ifc();
        EXPECT_FALSE(ctl(f, "bind ether /net/ether0"));
        EXPECT_FALSE(ctl(f, "add 192.168.1.10 255.255.255.0"));
        return f;
    }
    void rx(uint16_t port, const std::vector<uint8_t>& frame) { net.input(port, frame); }
    // teach the stack the peer's MAC with an ARP request for our address
    void learn_peer() {
        rx(0, test::eth(kEtherBcast, kPeerMac, 0x0806,
                        test::arp(1, kPeerMac, kPeer, Ether{}, kMe)));
    }
    std::string text(void (Stack::*fn)(std::string&) const) {
        std::string out;
        (s.*fn)(out);
        return out;
    }
};

TEST_F(StackTest, IpifcStatusMatchesExample_2_5) {
    Ipifc& f = host();
    io.pktin = 1043;
    io.pktout = 877;
    Text t;
    s.ipifc->state(f, t);
    EXPECT_EQ(t.str(),
              "device /net/ether0 maxtu 1514 sendra 0 recvra 0 mflag 0 oflag 0 maxraint 600000 "
              "minraint 200000 linkmtu 0 reachtime 0 rxmitra 0 ttl 255 routerlt 1800 pktin 1043 "
              "pktout 877 errin 0 errout 0 speed 0 delay 40\n"
              "\t192.168.1.10                             /120       192.168.1.0              "
              "                4294967295   4294967295  \n");
}

TEST_F(StackTest, UnboundStatusStartsWithTwoSpaces_2_5) {
    Ipifc& f = ifc();
    Text t;
    s.ipifc->state(f, t);
    EXPECT_EQ(t.str().substr(0, 14), "device  maxtu ");
    EXPECT_EQ(t.str().back(), '\n');
    EXPECT_EQ(t.str().substr(t.size() - 2), "\n\n");  // no addresses: a lone newline follows
}

TEST_F(StackTest, IprouteHasExampleLines_2_7) {
    host();
    RouteTag tag = kTagNone;
    ASSERT_FALSE(s.rib.write(parsecmd("add 0.0.0.0 /0 192.168.1.1"), tag, s));
    std::string r = text(&Stack::arp_text);
    r.clear();
    s.rib.text(r);
    for (const char* line : {
             "0.0.0.0         /96  192.168.1.1     4    none   0 0.0.0.0         /96 \n",
             "192.168.1.0     /120 192.168.1.0     4i   ifc    0 192.168.1.10    /128\n",
             "192.168.1.0     /120 192.168.1.0     4i   ifc    0 0.0.0.0         /96 \n",
             "192.168.1.10    /128 192.168.1.10    4u   ifc    0 0.0.0.0         /96 \n",
             "192.168.1.255   /128 192.168.1.255   4b   ifc    0 192.168.1.10    /128\n"})
        EXPECT_NE(r.find(line), std::string::npos) << line << "in\n" << r;
    EXPECT_EQ(r.find("0.0.0.0         /96  192.168.1.1"), 0u);  // default route first
}

TEST_F(StackTest, SelftabLineMatchesExample_2_9) {
    host();
    std::string t;
    s.self.text(t);
    EXPECT_NE(t.find("192.168.1.10                                 01   4u\n"), std::string::npos)
        << t;
    EXPECT_NE(t.find("255.255.255.255                              01   4b\n"), std::string::npos);
    EXPECT_NE(t.find("224.0.0.1                                    01   4m\n"), std::string::npos);
}

TEST_F(StackTest, RemoveLeavesNoRoutesOrSelfEntries_4_2_2) {
    Ipifc& f = host();
    ASSERT_FALSE(ctl(f, "remove 192.168.1.10 255.255.255.0"));
    std::string r, t;
    s.rib.text(r);
    s.self.text(t);
    EXPECT_EQ(r, "");
    EXPECT_EQ(t, "");
    EXPECT_TRUE(f.lifc.empty());
}

TEST_F(StackTest, ArpEntryFromRequestAndReplySent_2_8_4_14_2) {
    host();
    io.sent.clear();
    learn_peer();
    EXPECT_EQ(text(&Stack::arp_text),
              "ether  OK   192.168.1.1                              001122334455     "
              "192.168.1.10\n");
    ASSERT_EQ(io.sent.size(), 1u);
    const auto& f = io.sent[0].bytes;
    ASSERT_GE(f.size(), 42u);
    EXPECT_EQ(get16(f.data() + 12), 0x0806);
    EXPECT_EQ(get16(f.data() + 14 + 6), 2);                 // reply
    EXPECT_EQ(get32(f.data() + 14 + 14), kMe);              // sender: us
    EXPECT_TRUE(std::equal(kPeerMac.b.begin(), kPeerMac.b.end(), f.begin()));  // unicast
}

TEST_F(StackTest, UnsolicitedArpReplyCreatesNothing_4_14_2) {
    host();
    rx(0, test::eth(Ether{{0x02, 0, 0, 0, 0, 0x10}}, kPeerMac, 0x0806,
                    test::arp(2, kPeerMac, kPeer, Ether{}, kMe)));
    EXPECT_EQ(text(&Stack::arp_text), "");
}

TEST_F(StackTest, ArpWrites_3_13) {
    host();
    EXPECT_EQ(s.arp_write("add 192.168.1.7 0a:0b:0c:0d:0e:0f"), ok);
    EXPECT_NE(text(&Stack::arp_text).find("192.168.1.7 "), std::string::npos);
    EXPECT_EQ(s.arp_write("add 192.168.1.7"), Ebadarg);
    EXPECT_EQ(s.arp_write("add 192.168.1.x 0a0b0c0d0e0f"), Ebadip);
    EXPECT_EQ(s.arp_write("add 192.168.1.8 z"), Ebadarp);  // no MAC byte parsed
    EXPECT_EQ(s.arp_write("add 10.9.9.9 0a0b0c0d0e0f"), Eunreachable);  // no route there
    EXPECT_EQ(s.arp_write("add ether 192.168.1.9 0a0b0c0d0e0f 10.9.9.9"), Enointerface);
    EXPECT_EQ(s.arp_write("add ether 192.168.1.9 0a0b0c0d0e"), Ebadarp);  // 5 bytes
    EXPECT_EQ(s.arp_write("bogus"), Ebadarp);
    EXPECT_EQ(s.arp_write(""), Ebadarp);
    EXPECT_EQ(s.arp_write("del 192.168.1.7"), ok);
    EXPECT_EQ(text(&Stack::arp_text), "");
    EXPECT_EQ(s.arp_write("del"), Ebadarg);
}

TEST_F(StackTest, IpifcCtlErrors_3_3) {
    Ipifc& f = ifc();
    EXPECT_EQ(ctl(f, "bind"), Ebadarg);
    EXPECT_EQ(ctl(f, "bind token /net/ether0"), Eunknowntype);
    EXPECT_EQ(ctl(f, "bind null"), Enullbind);
    EXPECT_EQ(ctl(f, "add 192.168.1.10 255.255.255.0"), Eunbound);
    EXPECT_EQ(ctl(f, "mtu 1500"), Eunbound);
    EXPECT_EQ(ctl(f, "headersonly"), Eunbound);
    EXPECT_EQ(ctl(f, "unbind"), Eunbound);
    EXPECT_EQ(ctl(f, "announce 80"), Eannouncens);
    ASSERT_EQ(ctl(f, "bind ether /net/ether0"), ok);
    EXPECT_EQ(ctl(f, "bind ether /net/ether1"), Ealreadybound);
    EXPECT_EQ(ctl(f, "headersonly"), Eunsupported);
    EXPECT_EQ(ctl(f, "scanbs"), Eunsupported);
    EXPECT_EQ(ctl(f, "add"), Ebadarg);
    EXPECT_EQ(ctl(f, "add 1 2 3 4 5 6"), Ebadarg);
    EXPECT_EQ(ctl(f, "add 1.2.3.x"), Ebadip);
    EXPECT_EQ(ctl(f, "remove 192.168.1.10 255.255.255.0"), Enotonifc);
    EXPECT_EQ(ctl(f, "remove 192.168.1.10"), Ebadarg);
    EXPECT_EQ(ctl(f, "mtu 59"), Ebadarg);
    EXPECT_EQ(ctl(f, "mtu 1515"), Ebadarg);
    EXPECT_EQ(ctl(f, "mtu 1400"), ok);
    EXPECT_EQ(f.maxtu, 1400);
    EXPECT_EQ(ctl(f, "ra6 sendra"), Ebadarg);
    EXPECT_EQ(ctl(f, "ra6 bogus 1"), Ebadarg);
    EXPECT_EQ(ctl(f, "ra6 maxraint 1 minraint 2"), Ebadarg);
    EXPECT_EQ(ctl(f, "ra6 sendra 1 ttl 64"), ok);
    EXPECT_EQ(f.ra.sendra, 1);
    EXPECT_EQ(f.ra.ttl, 64);
    EXPECT_EQ(ctl(f, "iprouting 0"), ok);
    EXPECT_EQ(ctl(f, ""), Eshortctl);
}

TEST_F(StackTest, SecondEtherBindOfSamePortRefused) {
    host();
    Ipifc& g = ifc();
    EXPECT_EQ(ctl(g, "bind ether /net/ether0"), Edevinuse);
    EXPECT_EQ(ctl(g, "bind ether /net/ether9"), Enodevice);
}

TEST_F(StackTest, AddOutOfRangeMtuSilentlyIgnored_3_3) {
    Ipifc& f = ifc();
    ASSERT_EQ(ctl(f, "bind ether /net/ether0"), ok);
    EXPECT_EQ(ctl(f, "add 192.168.1.10 255.255.255.0 192.168.1.0 99999"), ok);
    EXPECT_EQ(f.maxtu, 1514);
    EXPECT_EQ(ctl(f, "add 192.168.1.11 255.255.255.0 192.168.1.0 1400"), ok);
    EXPECT_EQ(f.maxtu, 1400);
}

TEST_F(StackTest, UnbindRemovesRoutesAndAddresses_3_3) {
    Ipifc& f = host();
    RouteTag tag = kTagNone;
    ASSERT_FALSE(s.rib.write(parsecmd("add 10.0.0.0 /8 192.168.1.1"), tag, s));
    ASSERT_EQ(ctl(f, "unbind"), ok);
    std::string r;
    s.rib.text(r);
    EXPECT_EQ(r, "");
    EXPECT_FALSE(f.bound());
    EXPECT_FALSE(net.owner[0].s);
}

TEST_F(StackTest, PublishesLocalAddressesToWorkers) {
    host();
    const PortRt& p = io.table.port[0];
    EXPECT_EQ(p.bound, 1);
    ASSERT_EQ(p.nlocal, 1);
    uint8_t b[4];
    std::memcpy(b, &p.local[0], 4);
    EXPECT_EQ(get32(b), kMe);
}

TEST_F(StackTest, FastPathEchoReplyHasValidChecksums_4_8_1) {
    host();
    auto frame = test::eth(io.ports[0].mac, kPeerMac, 0x0800, test::icmp_echo(kPeer, kMe, 7, 1));
    frame.resize(frame.size() + 6);  // link padding
    FastStats st{};
    size_t n = 0;
    uint16_t op = 0;
    ASSERT_EQ(fast_classify(frame.data(), frame.size(), 0, io.table, st, NoFib{}, &n, &op), FastNext::Tx);
    const uint8_t* ip = frame.data() + 14;
    EXPECT_EQ(n, 14 + 36u);
    EXPECT_EQ(get32(ip + 12), kMe);
    EXPECT_EQ(get32(ip + 16), kPeer);
    EXPECT_EQ(ip[8], 255);
    EXPECT_EQ(csum(ip, 20), 0);
    EXPECT_EQ(ip[20], 0);
    EXPECT_EQ(csum(ip + 20, 16), 0);
    EXPECT_TRUE(std::equal(kPeerMac.b.begin(), kPeerMac.b.end(), frame.begin()));
    EXPECT_EQ(st.icmp_in[8], 1u);
    EXPECT_EQ(st.icmp_out[0], 1u);
}

TEST_F(StackTest, FastPathCountsBadHeadersAndPuntsTheRest) {
    host();
    FastStats st{};
    size_t n = 0;
    uint16_t op = 0;
    auto bad = test::eth(io.ports[0].mac, kPeerMac, 0x0800, test::icmp_echo(kPeer, kMe, 7, 1));
    bad[14 + 10] ^= 0xff;  // header checksum
    EXPECT_EQ(fast_classify(bad.data(), bad.size(), 0, io.table, st, NoFib{}, &n, &op), FastNext::Drop);
    EXPECT_EQ(st.ip[InHdrErrors], 1u);
    auto u = test::eth(io.ports[0].mac, kPeerMac, 0x0800, test::udp(kPeer, kMe, 1, 2, "x"));
    EXPECT_EQ(fast_classify(u.data(), u.size(), 0, io.table, st, NoFib{}, &n, &op), FastNext::Punt);
    auto a = test::eth(kEtherBcast, kPeerMac, 0x0806, test::arp(1, kPeerMac, kPeer, Ether{}, kMe));
    EXPECT_EQ(fast_classify(a.data(), a.size(), 0, io.table, st, NoFib{}, &n, &op), FastNext::Punt);
    EXPECT_EQ(fast_classify(a.data(), 14, 0, io.table, st, NoFib{}, &n, &op), FastNext::Drop);
    EXPECT_EQ(fast_classify(u.data(), u.size(), 1, io.table, st, NoFib{}, &n, &op), FastNext::Drop);
}

TEST_F(StackTest, UdpToClosedPortSendsPortUnreachable_4_4_2) {
    host();
    learn_peer();
    io.sent.clear();
    rx(0, test::eth(io.ports[0].mac, kPeerMac, 0x0800, test::udp(kPeer, kMe, 5555, 9, "hi")));
    EXPECT_EQ(udp_of(s)->st.no_ports, 1u);
    ASSERT_EQ(io.sent.size(), 1u);
    const uint8_t* ip = io.sent[0].bytes.data() + 14;
    EXPECT_EQ(ip[9], 1);
    EXPECT_EQ(get32(ip + 12), kMe);
    EXPECT_EQ(get32(ip + 16), kPeer);
    EXPECT_EQ(ip[20], 3);
    EXPECT_EQ(ip[21], 3);
    size_t ilen = get16(ip + 2) - 20u;
    EXPECT_EQ(csum(ip + 20, ilen), 0);
    EXPECT_EQ(get32(ip + 28 + 12), kPeer);  // the offending header follows
}

TEST_F(StackTest, UdpAnnounceSpawnsConversationPerCaller_4_7_1) {
    host();
    learn_peer();
    auto c = udp_of(s)->clone("eve");
    ASSERT_TRUE(c);
    Conv& l = **c;
    ASSERT_EQ(ctl(l, "announce 7"), ok);
    rx(0, test::eth(io.ports[0].mac, kPeerMac, 0x0800, test::udp(kPeer, kMe, 4000, 7, "one")));
    rx(0, test::eth(io.ports[0].mac, kPeerMac, 0x0800, test::udp(kPeer, kMe, 4000, 7, "two")));
    ASSERT_EQ(l.incall.size(), 1u);
    Conv& n = *udp_of(s)->conv(l.incall.front());
    EXPECT_EQ(n.state, ConvState::Connected);
    EXPECT_EQ(n.owner, "eve");
    Text t;
    udp_of(s)->remote(n, t);
    EXPECT_EQ(t.str(), "192.168.1.1!4000\n");
    std::string out;
    Err e;
    ASSERT_EQ(n.rq.read(100, out, e), Queue::R::Data);
    EXPECT_EQ(out, "one");
    ASSERT_EQ(n.rq.read(100, out, e), Queue::R::Data);
    EXPECT_EQ(out, "two");
}

TEST_F(StackTest, UdpHeadersModeLayout_4_7_2) {
    host();
    learn_peer();
    Conv& c = **udp_of(s)->clone("eve");
    ASSERT_EQ(ctl(c, "announce 53"), ok);
    ASSERT_EQ(ctl(c, "headers"), ok);
    rx(0, test::eth(io.ports[0].mac, kPeerMac, 0x0800, test::udp(kPeer, kMe, 999, 53, "q")));
    std::string out;
    Err e;
    ASSERT_EQ(c.rq.read(1000, out, e), Queue::R::Data);
    ASSERT_EQ(out.size(), 53u);
    auto* b = reinterpret_cast<const uint8_t*>(out.data());
    EXPECT_EQ(Ipaddr::from_bytes(b), Ipaddr::v4(kPeer));
    EXPECT_EQ(Ipaddr::from_bytes(b + 16), Ipaddr::v4(kMe));
    EXPECT_EQ(Ipaddr::from_bytes(b + 32), Ipaddr::v4(kMe));
    EXPECT_EQ(get16(b + 48), 999);
    EXPECT_EQ(get16(b + 50), 53);
    EXPECT_EQ(out[52], 'q');
    // a reply reusing the header goes back to the sender
    io.sent.clear();
    std::string reply = out.substr(0, 52) + "a";
    ASSERT_EQ(c.p->write_data(c, {reinterpret_cast<const uint8_t*>(reply.data()), reply.size()}),
              ok);
    ASSERT_EQ(io.sent.size(), 1u);
    const uint8_t* ip = io.sent[0].bytes.data() + 14;
    EXPECT_EQ(get32(ip + 16), kPeer);
    EXPECT_EQ(get16(ip + 22), 999);
}

TEST_F(StackTest, ConversationCtlErrors_3_2) {
    host();
    Conv& c = **udp_of(s)->clone("eve");
    EXPECT_EQ(ctl(c, "connect"), Ebadconnect);
    Conv& d = **udp_of(s)->clone("eve");
    EXPECT_EQ(ctl(d, "connect 192.168.1.1"), Emalformed);
    EXPECT_EQ(ctl(d, "connect 192.168.1.1!80"), Econinuse);  // the failure stuck (quirk 1)
    Conv& e = **udp_of(s)->clone("eve");
    EXPECT_EQ(ctl(e, "connect 192.168.1.1!8x"), Ebadport);
    Conv& g = **udp_of(s)->clone("eve");
    EXPECT_EQ(ctl(g, "connect 192.168.1.1!80 10.1.1.1!90"), Enotlocal);
    Conv& h = **udp_of(s)->clone("eve");
    EXPECT_EQ(ctl(h, "announce"), Ebadannounce);
    Conv& i = **udp_of(s)->clone("eve");
    EXPECT_EQ(ctl(i, "bind 1 2"), Ebadbind);
    EXPECT_EQ(ctl(i, "frobnicate"), Eunknownctl);
    EXPECT_EQ(ctl(i, "headers on"), Eunknownctl);  // single-field only (§3.5)
    EXPECT_EQ(ctl(i, ""), Eshortctl);
    Conv& j = **udp_of(s)->clone("eve");
    EXPECT_EQ(ctl(j, "announce *!*"), Eperm);  // "*" port is eve's (caller_eve false)
    Conv& k = **udp_of(s)->clone("eve");
    ASSERT_EQ(ctl(k, "announce 9000"), ok);
    Conv& m = **udp_of(s)->clone("eve");
    EXPECT_EQ(ctl(m, "announce 9000"), Eaddrinuse);
    Conv& n = **udp_of(s)->clone("eve");
    EXPECT_EQ(ctl(n, "announce 192.168.1.10!9000"), ok);  // a different local address
}

TEST_F(StackTest, AutomaticPortsAreHigh_3_2_1) {
    host();
    for (int i = 0; i < 50; i++) {
        Conv& c = **udp_of(s)->clone("eve");
        ASSERT_EQ(ctl(c, "connect 192.168.1.1!53"), ok);
        EXPECT_GE(c.lport, 32768);
        Text t;
        udp_of(s)->local(c, t);
        EXPECT_EQ(t.str().substr(0, 13), "192.168.1.10!");
    }
    Conv& r = **udp_of(s)->clone("eve");
    ASSERT_EQ(ctl(r, "connect 192.168.1.1!53!r"), ok);
    EXPECT_GE(r.lport, 600);
    EXPECT_LT(r.lport, 1024);
}

TEST_F(StackTest, CloneReusesLowestIdleConv_1_4) {
    Conv& a = **udp_of(s)->clone("eve");
    Conv& b = **udp_of(s)->clone("eve");
    EXPECT_EQ(a.x, 0);
    EXPECT_EQ(b.x, 1);
    a.inuse = 0;
    udp_of(s)->last_close(a);
    EXPECT_EQ(a.owner, "network");
    Conv& c = **udp_of(s)->clone("glenda");
    EXPECT_EQ(c.x, 0);
    EXPECT_EQ(c.owner, "glenda");
}

TEST_F(StackTest, IcmpEchoReplyDeliveredWithIpHeader_4_8_1) {
    host();
    learn_peer();
    Conv& c = **s.icmp->clone("eve");
    ASSERT_EQ(ctl(c, "connect 192.168.1.1!1"), ok);
    std::vector<uint8_t> w(20 + 16);
    w[20] = 8;
    put16(w.data() + 26, 42);
    io.sent.clear();
    ASSERT_EQ(c.p->write_data(c, w), ok);
    ASSERT_EQ(io.sent.size(), 1u);
    const uint8_t* ip = io.sent[0].bytes.data() + 14;
    EXPECT_EQ(get16(ip + 24), c.lport);  // identifier overwritten with the local port
    EXPECT_EQ(csum(ip + 20, 16), 0);
    EXPECT_EQ(ip[8], 255);
    // the reply comes back to the conversation, IPv4 header included
    auto reply = test::icmp_echo(kPeer, kMe, c.lport, 42, 0);
    rx(0, test::eth(io.ports[0].mac, kPeerMac, 0x0800, reply));
    std::string out;
    Err e;
    ASSERT_EQ(c.rq.read(1000, out, e), Queue::R::Data);
    ASSERT_EQ(out.size(), 36u);
    EXPECT_EQ(uint8_t(out[0]), 0x45);
    EXPECT_EQ(uint8_t(out[8]), 64);  // ping reads the TTL here
    EXPECT_EQ(uint8_t(out[20]), 0);
}

TEST_F(StackTest, PortUnreachableHangsUpConnectedUdp_4_8_3) {
    host();
    learn_peer();
    Conv& c = **udp_of(s)->clone("eve");
    ASSERT_EQ(ctl(c, "connect 192.168.1.1!7777"), ok);
    io.sent.clear();
    std::string d = "ping";
    ASSERT_EQ(c.p->write_data(c, {reinterpret_cast<const uint8_t*>(d.data()), d.size()}), ok);
    ASSERT_EQ(io.sent.size(), 1u);
    std::vector<uint8_t> sent(io.sent[0].bytes.begin() + 14, io.sent[0].bytes.end());
    std::vector<uint8_t> m(8);
    m[0] = 3;
    m[1] = 3;
    m.insert(m.end(), sent.begin(), sent.begin() + 28);
    put16(m.data() + 2, csum(m.data(), m.size()));
    rx(0, test::eth(io.ports[0].mac, kPeerMac, 0x0800, test::ip4(kPeer, kMe, 1, m)));
    std::string out;
    Err e;
    ASSERT_EQ(c.rq.read(100, out, e), Queue::R::Error);
    EXPECT_STREQ(e.text, "port unreachable");
}

TEST_F(StackTest, QueuePlainHangupGivesThreeEofsThenError_1_6) {
    Queue q(100, true);
    q.put("a");
    q.hangup();
    std::string out;
    Err e;
    EXPECT_EQ(q.read(10, out, e), Queue::R::Data);
    EXPECT_EQ(out, "a");
    for (int i = 0; i < 3; i++) {
        EXPECT_EQ(q.read(10, out, e), Queue::R::Data);
        EXPECT_EQ(out, "");
    }
    EXPECT_EQ(q.read(10, out, e), Queue::R::Error);
    EXPECT_EQ(e, Ehungup);
}

TEST_F(StackTest, MessageQueueDiscardsExcess_1_6) {
    Queue q(100, true), st(100, false);
    q.put("abcdef");
    st.put("abcdef");
    std::string out;
    Err e;
    q.read(4, out, e);
    EXPECT_EQ(out, "abcd");
    EXPECT_EQ(q.read(4, out, e), Queue::R::Wait);
    st.read(4, out, e);
    EXPECT_EQ(out, "abcd");
    st.read(4, out, e);
    EXPECT_EQ(out, "ef");
}

TEST_F(StackTest, StatsFormats_2_6_2_10) {
    Text t;
    s.ipstats_text(t);
    EXPECT_EQ(t.str().substr(0, 44), "Forwarding: 0\nDefaultTTL: 255\nInReceives: 0\n");
    EXPECT_EQ(std::count(t.str().begin(), t.str().end(), '\n'), 19);
    EXPECT_NE(t.str().find("\nFragCreates: 0\n"), std::string::npos);
    Text u;
    udp_of(s)->stats(u);
    EXPECT_EQ(u.str(), "InDatagrams: 0\nNoPorts: 0\nInErrors: 0\nOutDatagrams: 0\n");
    Text i;
    s.icmp->stats(i);
    EXPECT_EQ(std::count(i.str().begin(), i.str().end(), '\n'), 6 + 19);
    EXPECT_NE(i.str().find("\n1: 0 0\n2: 0 0\nUnreachable: 0 0\n"), std::string::npos);
    EXPECT_NE(i.str().find("\nAddrMaskReply  : 0 0\n"), std::string::npos);
    Ipifc& f = ifc();
    ASSERT_EQ(ctl(f, "iprouting 1"), ok);
    Text t2;
    s.ipstats_text(t2);
    EXPECT_EQ(t2.str().substr(0, 14), "Forwarding: 1\n");
}

TEST_F(StackTest, LogCtl_3_14) {
    EXPECT_EQ(s.log.ctl(parsecmd("set")), Elogfewargs);
    EXPECT_EQ(s.log.ctl(parsecmd("set ip udp nosuch")), ok);
    EXPECT_EQ(s.log.mask(), uint32_t(Logip | Logudp));
    EXPECT_EQ(s.log.ctl(parsecmd("clear ip")), ok);
    EXPECT_EQ(s.log.mask(), uint32_t(Logudp));
    EXPECT_EQ(s.log.ctl(parsecmd("set udpmsg")), ok);
    EXPECT_TRUE(s.log.mask() & Logudpmsg);
    Err e = s.log.ctl(parsecmd("frob a 'b c'"));
    EXPECT_STREQ(e.text, "unknown control message \"frob a 'b c'\"");
}

TEST_F(StackTest, LocalFileListsSelfEntries_2_3) {
    Ipifc& f = host();
    Text t;
    s.ipifc->local(f, t);
    std::string l = t.str();
    EXPECT_EQ(l.substr(0, 43), "192.168.1.10                             ->");
    EXPECT_NE(l.find(" 192.168.1.255 "), std::string::npos);
    EXPECT_EQ(l.back(), '\n');
}

}  // namespace
}  // namespace devip::proto

namespace devip::proto {
namespace {

// The forwarding benchmark's IPv6 set-up (perf/run.sh) through the stack: every destination
// the Rib routes by the /56 gets the same next hop from the workers' FIB.
TEST_F(StackTest, WorkersFibFollowsTheRibV6) {
    auto w = [&](const char* path, const char* msg) {
        Ipifc* f = nullptr;
        if (std::string(path) == "clone") {
            f = &ifc();
            return ctl(*f, msg);
        }
        return ctl(*s.ipifc->ifc(path[0] - '0'), msg);
    };
    ASSERT_FALSE(w("clone", "bind ether /net/ether1"));
    ASSERT_FALSE(w("0", "add 198.19.0.1 255.255.255.0"));
    ASSERT_FALSE(w("0", "iprouting 1"));
    ASSERT_FALSE(s.arp_write("add ether 198.19.0.2 02:00:00:00:00:02 198.19.0.1"));
    RouteTag tag = kTagNone;
    ASSERT_FALSE(s.rib.write(parsecmd("add 0.0.0.0 /0 198.19.0.2"), tag, s));
    ASSERT_FALSE(w("clone", "bind ether /net/ether0"));
    ASSERT_FALSE(w("1", "add 198.18.0.1 255.255.255.0"));
    ASSERT_FALSE(w("0", "add 2001:2:0:1::1 /64"));
    ASSERT_FALSE(s.arp_write("add ether 2001:2:0:1::2 02:00:00:00:00:02 2001:2:0:1::1"));
    ASSERT_FALSE(s.rib.write(parsecmd("add 2001:2:0:100:: /56 2001:2:0:1::2"), tag, s));
    ASSERT_FALSE(w("1", "add 2001:2::1 /64"));
    ASSERT_TRUE(s.fib6);
    s.fib6->commit();
    FibView6 v{s.fib6->rt()};
    ASSERT_TRUE(v.usable());
    std::mt19937 rng(3);
    for (int i = 0; i < 2000; i++) {
        Ipaddr d, src;
        d.b = {0x20, 0x01, 0, 2, 0, 0, 1, uint8_t(rng())};
        src.b = {0x20, 0x01, 0, 2, 0, 0, 0, 0};
        for (int k = 8; k < 16; k++) d.b[size_t(k)] = uint8_t(rng());
        src.b[15] = uint8_t(0x10 + i % 200);
        const Route* r = s.rib.lookup(d, src);
        ASSERT_TRUE(r);
        const NhRt<16>* nh = v.resolve(v.lookup(d.b.data()), src.b.data());
        ASSERT_TRUE(nh) << fmt_ip(d) << " value " << v.lookup(d.b.data());
        EXPECT_EQ(int(nh->kind), int(NhKind::Gate));
        EXPECT_EQ(nh->gate, fib_addr<16>(r->gate));
    }
}

}  // namespace
}  // namespace devip::proto
