// /net/gre conversations (proto/gre.h): ctl errors of ip3.md §3.9, the status line of §2.4,
// the data format and delivery rules of §4.10.1, retunnelling of §4.10.2, stats of §2.10.
#include <gtest/gtest.h>

#include "proto/gre.h"
#include "proto/stack.h"
#include "unittests/fake_netio.h"

namespace devip::proto {
namespace {

using test::FakeNetio;
using Bytes = std::vector<uint8_t>;

const Ether kPeerMac{{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}};
constexpr uint32_t kMe = 0xc0a8010a;     // 192.168.1.10
constexpr uint32_t kPeer = 0xc0a80101;   // 192.168.1.1
constexpr uint32_t kOther = 0xc0a80102;  // 192.168.1.2
constexpr uint32_t kHoa = 0x0a000005;    // 10.0.0.5, the mobile's home address

struct GreTest : ::testing::Test {
    FakeNetio io{1};
    Net net{&io};
    Stack& s = net.stack(0);
    Gre& gre = *static_cast<Gre*>(s.proto("gre"));

    void SetUp() override {
        gre_counters = {};
        Conv& c = **s.ipifc->clone("eve");
        ASSERT_FALSE(ctl(c, "bind ether /net/ether0"));
        ASSERT_FALSE(ctl(c, "add 192.168.1.10 255.255.255.0"));
        for (uint32_t a : {kPeer, kOther})
            net.input(0, test::eth(kEtherBcast, kPeerMac, 0x0806,
                                   test::arp(1, kPeerMac, a, Ether{}, kMe)));
        io.sent.clear();
    }
    Err ctl(Conv& c, const std::string& msg) { return c.p->write_ctl(c, parsecmd(msg)); }
    GreConv& conv() { return static_cast<GreConv&>(**gre.clone("eve")); }
    std::string status(const Conv& c) {
        Text t;
        gre.state(c, t);
        return t.str();
    }
    // A GRE packet from src: flags, protocol type, options, payload
    static Bytes grepkt(uint16_t flags, uint16_t proto, const Bytes& opts, const Bytes& body) {
        Bytes g(4);
        put16(g.data(), flags);
        put16(g.data() + 2, proto);
        g.insert(g.end(), opts.begin(), opts.end());
        g.insert(g.end(), body.begin(), body.end());
        return g;
    }
    void rx(uint32_t src, const Bytes& g, uint8_t ttl = 64) {
        net.input(0, test::eth(io.ports[0].mac, kPeerMac, 0x0800,
                               test::ip4(src, kMe, 47, g, ttl)));
    }
    std::string read(Conv& c) {
        std::string out;
        Err e;
        c.rq.read(65536, out, e);
        return out;
    }
    // where the IPv4 packet in frame f ends (short frames are padded to 60 bytes)
    static long ipend(const Bytes& f) { return 14 + long(get16(f.data() + 16)); }
    static Bytes inner(uint32_t src, uint32_t dst) {
        return test::udp(src, dst, 1000, 2000, "mobile");
    }
};

TEST_F(GreTest, CtlErrors_3_9) {
    GreConv& c = conv();
    EXPECT_STREQ(ctl(c, "frob").text, "no such command");
    EXPECT_STREQ(ctl(c, "raw 1").text, "incorrect number of arguments");
    EXPECT_STREQ(ctl(c, "retunnel 1.2.3.4").text, "incorrect number of arguments");
    EXPECT_STREQ(ctl(c, "announce 192.168.1.1!2048").text, "gre does not support announce");
    EXPECT_STREQ(ctl(c, "retunnel 0.0.0.0 1.1.1.1 2.2.2.2 3.3.3.3").text, "bad hoa");
    EXPECT_FALSE(ctl(c, "retunnel 10.0.0.5 1.1.1.1 2.2.2.2 3.3.3.3"));
    EXPECT_STREQ(ctl(c, "retunnel 10.0.0.6 1.1.1.1 2.2.2.2 3.3.3.3").text,
                 "tunnel already set up");
    EXPECT_STREQ(ctl(c, "ulsuspend").text, "already suspended");  // retunnel suspends uplink
    EXPECT_FALSE(ctl(c, "dlsuspend"));
    EXPECT_STREQ(ctl(c, "dlsuspend").text, "already suspended");
    EXPECT_FALSE(ctl(c, "dlresume"));
    EXPECT_STREQ(ctl(c, "dlresume").text, "not suspended");
    EXPECT_STREQ(ctl(c, "forward 4.4.4.4").text, "not suspended");
}

TEST_F(GreTest, OneConversationPerAddrAndProto_4_10_1) {
    GreConv& a = conv();
    ASSERT_FALSE(ctl(a, "connect 192.168.1.1!34827"));
    GreConv& b = conv();
    EXPECT_STREQ(ctl(b, "connect 192.168.1.1!34827").text,
                 "already connected to that addr/proto");
    GreConv& c = conv();
    EXPECT_FALSE(ctl(c, "connect 192.168.1.1!2048"));
}

TEST_F(GreTest, StatusLine_2_4) {
    GreConv& c = conv();
    EXPECT_EQ(status(c), "Open hoa 0.0.0.0 north 0.0.0.0 south 0.0.0.0 seq 0 pending 0  0 "
                         "buffered dl 0 0 ul 0 0 ulkey 00000000\n");
    ASSERT_FALSE(ctl(c, "raw"));
    ASSERT_FALSE(ctl(c, "retunnel 10.0.0.5 192.168.1.1 192.168.1.2 192.168.1.10"));
    ASSERT_FALSE(ctl(c, "ulkey 0x1234abcd"));
    EXPECT_EQ(status(c), "Open raw UL suspended hoa 10.0.0.5 north 192.168.1.1 south "
                         "192.168.1.2 seq 0 pending 0  0 buffered dl 0 0 ul 0 0 ulkey 1234abcd\n");
}

TEST_F(GreTest, ReusedConversationShowsBothSuspended_2_4) {
    GreConv& c = conv();
    ASSERT_FALSE(ctl(c, "ulkey 7"));
    int x = c.x;
    c.inuse = 0;
    gre.last_close(c);
    std::string out;
    Err e;
    EXPECT_EQ(c.rq.read(10, out, e), Queue::R::Error);
    EXPECT_STREQ(e.text, "session end");
    GreConv& d = conv();
    ASSERT_EQ(d.x, x);
    EXPECT_EQ(status(d), "Open DL suspended UL suspended hoa 0.0.0.0 north 0.0.0.0 south "
                         "0.0.0.0 seq 0 pending 0  0 buffered dl 0 0 ul 0 0 ulkey 00000007\n");
}

TEST_F(GreTest, CookedWriteFillsAddressesAndProtocol_4_10_1) {
    GreConv& c = conv();
    ASSERT_FALSE(ctl(c, "connect 192.168.1.1!34827"));
    Bytes w(12, 0);  // zero addresses, flags 0, protocol type 0 (overwritten)
    w.insert(w.end(), {'p', 'p', 'p'});
    ASSERT_FALSE(gre.write_data(c, w));
    ASSERT_EQ(io.sent.size(), 1u);
    const Bytes& f = io.sent[0].bytes;
    EXPECT_EQ(f[14 + 9], 47);
    EXPECT_EQ(get32(f.data() + 14 + 12), kMe);
    EXPECT_EQ(get32(f.data() + 14 + 16), kPeer);
    EXPECT_EQ(get16(f.data() + 34), 0);
    EXPECT_EQ(get16(f.data() + 36), 0x880b);
    EXPECT_EQ(Bytes(f.begin() + 38, f.begin() + ipend(f)), (Bytes{'p', 'p', 'p'}));
    ASSERT_FALSE(gre.write_data(c, Bytes(11, 0)));  // shorter than 12: dropped
    EXPECT_EQ(io.sent.size(), 1u);
}

TEST_F(GreTest, RawWriteSendsAsGiven_4_10_1) {
    GreConv& c = conv();
    ASSERT_FALSE(ctl(c, "connect 192.168.1.1!34827"));
    ASSERT_FALSE(ctl(c, "raw"));
    Bytes w(8);
    put32(w.data(), kMe);
    put32(w.data() + 4, kOther);
    Bytes g = grepkt(kGreKey, 0x6558, {0, 0, 0, 9}, {1, 2});
    w.insert(w.end(), g.begin(), g.end());
    ASSERT_FALSE(gre.write_data(c, w));
    ASSERT_EQ(io.sent.size(), 1u);
    const Bytes& f = io.sent[0].bytes;
    EXPECT_EQ(get32(f.data() + 14 + 16), kOther);
    EXPECT_EQ(Bytes(f.begin() + 34, f.begin() + ipend(f)), g);
}

TEST_F(GreTest, DeliveryByProtocolAndSource_4_10_1) {
    GreConv& c = conv();
    ASSERT_FALSE(ctl(c, "connect 192.168.1.1!34827"));
    Bytes body(24, 0x5a);
    Bytes g = grepkt(kGreKey | kGreSeq, 0x880b, {0, 0, 0, 1, 0, 0, 0, 2}, body);
    rx(kPeer, g);
    Bytes want(8);
    put32(want.data(), kPeer);
    put32(want.data() + 4, kMe);
    want.insert(want.end(), g.begin(), g.end());
    EXPECT_EQ(read(c), std::string(want.begin(), want.end()));
    rx(kOther, g);  // another source: not this conversation's
    EXPECT_EQ(c.rq.bytes(), 0u);
    rx(kPeer, grepkt(0, 0x0800, {}, body));  // another protocol type
    EXPECT_EQ(c.rq.bytes(), 0u);
    rx(kPeer, grepkt(kGreRouting, 0x880b, {0, 0, 0, 0}, body));  // routing: dropped
    EXPECT_EQ(c.rq.bytes(), 0u);
    ASSERT_FALSE(ctl(c, "raw"));  // raw: any source
    rx(kOther, g);
    EXPECT_GT(c.rq.bytes(), 0u);
}

TEST_F(GreTest, DownlinkRetunnelsWithSequenceAndPends_4_10_2) {
    GreConv& c = conv();
    ASSERT_FALSE(ctl(c, "retunnel 10.0.0.5 192.168.1.1 192.168.1.2 192.168.1.10"));
    Bytes in = inner(0x0a000063, kHoa);
    rx(kPeer, grepkt(kGreKey, 0x0800, {0, 0, 0, 7}, in), 30);
    ASSERT_EQ(io.sent.size(), 1u);
    const Bytes& f = io.sent[0].bytes;
    EXPECT_EQ(f[14 + 8], 29);                     // TTL decremented
    EXPECT_EQ(get32(f.data() + 14 + 12), kMe);    // coa
    EXPECT_EQ(get32(f.data() + 14 + 16), kOther); // south
    EXPECT_EQ(get16(f.data() + 34), kGreSeq);     // the options are one sequence number
    EXPECT_EQ(get16(f.data() + 36), 0x0800);
    EXPECT_EQ(get32(f.data() + 38), 0u);
    EXPECT_EQ(Bytes(f.begin() + 42, f.begin() + ipend(f)), in);
    EXPECT_NE(status(c).find("seq 1 pending 0  1 "), std::string::npos);
    ASSERT_FALSE(ctl(c, "report 1"));
    EXPECT_NE(status(c).find("pending 1  1 "), std::string::npos);
    rx(kPeer, grepkt(0, 0x0800, {}, in), 1);  // TTL 1: dropped
    EXPECT_EQ(io.sent.size(), 1u);
    Text t;
    gre.stats(t);
    EXPECT_EQ(t.str(), "gre: 2 1 0 0 " + std::to_string(2 * 20 + 8 + in.size() + 4 + in.size()) +
                           " " + std::to_string(20 + 8 + in.size()) + " 0 0, lenerrs 0\n");
}

TEST_F(GreTest, UplinkBufferedUntilResumedAndKeyed_4_10_2) {
    GreConv& c = conv();
    ASSERT_FALSE(ctl(c, "retunnel 10.0.0.5 192.168.1.1 192.168.1.2 192.168.1.10"));
    ASSERT_FALSE(ctl(c, "ulkey 0x99"));
    Bytes in = inner(kHoa, 0x0a000063);
    rx(kOther, grepkt(0, 0x0800, {}, in));
    EXPECT_TRUE(io.sent.empty());  // the uplink starts suspended
    EXPECT_NE(status(c).find("ul 0 1 "), std::string::npos);
    ASSERT_FALSE(ctl(c, "ulresume"));
    ASSERT_EQ(io.sent.size(), 1u);
    const Bytes& f = io.sent[0].bytes;
    EXPECT_EQ(get32(f.data() + 14 + 16), kPeer);  // north
    EXPECT_EQ(get16(f.data() + 34), kGreKey);
    EXPECT_EQ(get32(f.data() + 38), 0x99u);
    EXPECT_EQ(Bytes(f.begin() + 42, f.begin() + ipend(f)), in);
}

TEST_F(GreTest, ForwardResendsToNewSouth_4_10_2) {
    GreConv& c = conv();
    ASSERT_FALSE(ctl(c, "retunnel 10.0.0.5 192.168.1.1 192.168.1.2 192.168.1.10"));
    ASSERT_FALSE(ctl(c, "dlsuspend"));
    rx(kPeer, grepkt(0, 0x0800, {}, inner(0x0a000063, kHoa)));
    EXPECT_TRUE(io.sent.empty());
    EXPECT_NE(status(c).find("buffered dl 0 1 "), std::string::npos);
    ASSERT_FALSE(ctl(c, "forward 192.168.1.1"));
    ASSERT_EQ(io.sent.size(), 1u);
    EXPECT_EQ(get32(io.sent[0].bytes.data() + 14 + 16), kPeer);
    EXPECT_NE(status(c).find("north 192.168.1.1 south 192.168.1.1 "), std::string::npos);
}

}  // namespace
}  // namespace devip::proto
