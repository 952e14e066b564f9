// Tunnel interfaces (proto/tunnel.h, issue 9 §4): the outer header (RFC 4301 §8.1 DF,
// RFC 6040 ECN), GRE headers (RFC 2784/2890), the tunnel MTU, the status pairs, the workers'
// slot match, and bind esp / bind gre with the control thread's output and input.
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "crypto/engine.h"
#include "proto/esp.h"
#include "proto/stack.h"
#include "unittests/fake_netio.h"

namespace devip::proto {
namespace {

using test::FakeNetio;
using Bytes = std::vector<uint8_t>;

TEST(TunWire, EspMaxtuLeavesRoomForTheWorstCase) {
    // AES-GCM: 8-byte IV, 4-byte alignment, 16-byte ICV
    EXPECT_EQ(tun_esp_maxtu(1500, false, 8, 4, 16), 1500 - 20 - 37);
    // AES-CBC + HMAC-SHA1-96: 16-byte IV and blocks, 12-byte ICV; IPv6 outer
    EXPECT_EQ(tun_esp_maxtu(1500, true, 16, 16, 12), 1500 - 40 - 53);
    // the largest inner packet still fits: ESP bytes of maxtu, plus the outer header
    int m = tun_esp_maxtu(1500, false, 16, 16, 12);
    int esp = 8 + 16 + (m + 2 + 15) / 16 * 16 + 12;
    EXPECT_LE(20 + esp, 1500);
    EXPECT_GT(20 + 8 + 16 + (m + 1 + 2 + 15) / 16 * 16 + 12, 1500 - 16);
}

TEST(TunWire, GreMaxtuCountsItsOptions) {
    EXPECT_EQ(tun_gre_maxtu(1500, false, 0), 1476);
    EXPECT_EQ(tun_gre_maxtu(1500, false, kGreK), 1472);
    EXPECT_EQ(tun_gre_maxtu(1500, true, kGreK | kGreC | kGreS), 1500 - 40 - 16);
}

TEST(TunWire, OuterHeaderCopiesTosAndDf_RFC4301_8_1) {
    Bytes in = test::ip4(0x0a000001, 0x0a000002, 17, Bytes(10));
    in[1] = 0xb9;                // DSCP 46, ECT(1)
    put16(in.data() + 6, 0x4000);  // DF
    uint8_t h[20];
    uint32_t s = __builtin_bswap32(0xc6120201), d = __builtin_bswap32(0xc6120202);
    tun_ip4_hdr(h, s, d, kProtoEsp, 64, inner_tos(in.data()), inner_df(in.data()), 7, 100);
    EXPECT_EQ(h[0], 0x45);
    EXPECT_EQ(h[1], 0xb9);
    EXPECT_EQ(get16(h + 2), 120);
    EXPECT_EQ(get16(h + 6), 0x4000);
    EXPECT_EQ(h[9], kProtoEsp);
    EXPECT_EQ(get32(h + 12), 0xc6120201u);
    EXPECT_EQ(csum(h, 20), 0);
    // IPv6 inner: its traffic class, never DF
    uint8_t v6[40] = {0x6b, 0x90};
    EXPECT_EQ(inner_tos(v6), 0xb9);
    EXPECT_FALSE(inner_df(v6));
}

TEST(TunWire, EcnDecap_RFC6040_4_2) {
    Bytes in = test::ip4(0x0a000001, 0x0a000002, 17, Bytes(4));
    in[1] = 0x02;  // ECT(0)
    put16(in.data() + 10, 0);
    put16(in.data() + 10, csum(in.data(), 20));
    EXPECT_TRUE(tun_ecn_decap(0x02, in.data()));  // outer not CE: unchanged
    EXPECT_EQ(in[1], 0x02);
    EXPECT_TRUE(tun_ecn_decap(0x03, in.data()));  // outer CE: inner CE
    EXPECT_EQ(in[1], 0x03);
    EXPECT_EQ(csum(in.data(), 20), 0);
    in[1] = 0x00;  // Not-ECT under CE: drop
    EXPECT_FALSE(tun_ecn_decap(0x03, in.data()));
}

TEST(TunWire, GreBuildParseRoundTrip_RFC2890) {
    uint8_t g[64] = {};
    int n = gre_build(g, kGreC | kGreK | kGreS, kEtherIp4, 0x01020304, 9);
    ASSERT_EQ(n, 16);
    for (int i = 0; i < 8; i++) g[n + i] = uint8_t(i * 7);
    gre_csum(g, size_t(n) + 8);
    GreHdr h = gre_parse(g, size_t(n) + 8);
    ASSERT_TRUE(h.ok);
    EXPECT_EQ(h.hlen, 16);
    EXPECT_EQ(h.ptype, kEtherIp4);
    EXPECT_EQ(h.key, 0x01020304u);
    EXPECT_EQ(h.seq, 9u);
    EXPECT_TRUE(h.csum_ok);
    g[n + 3] ^= 1;
    EXPECT_FALSE(gre_parse(g, size_t(n) + 8).csum_ok);
    EXPECT_FALSE(gre_parse(g, 10).ok);          // shorter than its options
    put16(g, 0x0001);                           // version 1 (PPTP)
    EXPECT_FALSE(gre_parse(g, 24).ok);
    put16(g, 0x4000);                           // routing present
    EXPECT_FALSE(gre_parse(g, 24).ok);
}

TEST(TunWire, StatusPairsFollowTheTable) {
    TunStats s;
    s.inpkts = 3;
    s.rpf = 1;
    s.fastout = 2;
    Text t;
    tun_status(t, s, 42);
    EXPECT_EQ(t.str(), " inpkts 3 inbytes 0 outpkts 0 outbytes 0 replay 0 icv 0 rpf 1 errors 0"
                       " fastin 0 fastout 2 seq 42");
}

TEST(TunWire, SlotMatchBySpiOrEndpointsAndKey) {
    FastTable t{};
    t.ntun = 3;
    auto be = [](uint32_t a) { return __builtin_bswap32(a); };
    t.tun[0] = TunRt{};
    t.tun[0].kind = uint8_t(TunKind::Esp);
    t.tun[0].dst = be(0xc6120202);
    t.tun[0].spi = 0x2001;
    t.tun[2].kind = uint8_t(TunKind::Gre);
    t.tun[2].src = be(0xc6120201);
    t.tun[2].dst = be(0xc6120202);
    t.tun[2].greflags = kGreK;
    t.tun[2].grekey = 7;
    Bytes esp(16);
    put32(esp.data(), 0x2001);
    Bytes p = test::ip4(0xc6120202, 0xc6120201, kProtoEsp, esp);
    EXPECT_EQ(tun_match(t, 0, p.data(), 20, p.size()), 0);
    EXPECT_EQ(tun_match(t, 1, p.data(), 20, p.size()), -1);  // another stack
    put32(p.data() + 20, 0x2002);
    EXPECT_EQ(tun_match(t, 0, p.data(), 20, p.size()), -1);  // another SPI
    // NAT-T (RFC 3948): only a natt tunnel takes ESP in UDP 4500, and only ESP in UDP
    t.tun[0].natt = 1;
    put32(p.data() + 20, 0x2001);
    EXPECT_EQ(tun_match(t, 0, p.data(), 20, p.size()), -1);
    Bytes u(24);
    put16(u.data(), 4500);
    put16(u.data() + 2, 4500);
    put32(u.data() + 8, 0x2001);
    Bytes nu = test::ip4(0xc6120202, 0xc6120201, 17, u);
    EXPECT_EQ(tun_match(t, 0, nu.data(), 20, nu.size()), 0);
    put32(nu.data() + 28, 0);  // the non-ESP marker: IKE, not ours
    EXPECT_EQ(tun_match(t, 0, nu.data(), 20, nu.size()), -1);
    put32(nu.data() + 28, 0x2001);
    put16(nu.data() + 22, 4501);
    EXPECT_EQ(tun_match(t, 0, nu.data(), 20, nu.size()), -1);
    Bytes g(12);
    gre_build(g.data(), kGreK, kEtherIp4, 7, 0);
    Bytes q = test::ip4(0xc6120202, 0xc6120201, kProtoGre, g);
    EXPECT_EQ(tun_match(t, 0, q.data(), 20, q.size()), 2);
    put32(q.data() + 24, 8);
    EXPECT_EQ(tun_match(t, 0, q.data(), 20, q.size()), -1);  // another key
    gre_build(q.data() + 20, 0, kEtherIp4, 0, 0);
    EXPECT_EQ(tun_match(t, 0, q.data(), 20, q.size()), -1);  // no key: not the keyed tunnel
}

// ---- bind esp on the control thread ---------------------------------------------------

const Ether kPeerMac{{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}};
constexpr uint32_t kMe = 0xc0a8010a;    // 192.168.1.10
constexpr uint32_t kPeer = 0xc0a80101;  // 192.168.1.1
const char* kKey = "000102030405060708090a0b0c0d0e0fa0a1a2a3";

struct TunTest : ::testing::Test {
    FakeNetio io{1};
    Net net{&io};
    Stack& s = net.stack(0);
    Esp& esp = *esp_of(s);
    Conv* out = nullptr;
    Conv* in = nullptr;
    Ipifc* tun = nullptr;

    void SetUp() override {
        Conv& c = **s.ipifc->clone("eve");
        ASSERT_FALSE(ctl(c, "bind ether /net/ether0"));
        ASSERT_FALSE(ctl(c, "add 192.168.1.10 255.255.255.0"));
        net.input(0, test::eth(kEtherBcast, kPeerMac, 0x0806,
                               test::arp(1, kPeerMac, kPeer, Ether{}, kMe)));
        out = *esp.clone("eve");
        in = *esp.clone("eve");
        ASSERT_FALSE(ctl(*out, "connect 192.168.1.1!4097"));
        ASSERT_FALSE(ctl(*out, std::string("esp aes_128_gcm ") + kKey));
        ASSERT_FALSE(ctl(*in, "connect 192.168.1.1!*"));
        ASSERT_FALSE(ctl(*in, "spi 8193"));
        ASSERT_FALSE(ctl(*in, std::string("esp aes_128_gcm ") + kKey));
        io.sent.clear();
    }
    Err ctl(Conv& c, const std::string& msg) { return c.p->write_ctl(c, parsecmd(msg)); }
    Err bind() {
        Conv& t = **s.ipifc->clone("eve");
        tun = static_cast<Ipifc*>(&t);
        return ctl(t, "bind esp /net/esp/" + std::to_string(out->x) + " /net/esp/" +
                          std::to_string(in->x));
    }
    std::map<std::string, std::string> status() {
        Text t;
        s.ipifc->state(*tun, t);
        std::istringstream ss(t.str().substr(0, t.str().find('\n')));
        std::map<std::string, std::string> m;
        std::string k, v;
        while (ss >> k >> v) m[k] = v;
        return m;
    }
    // An ESP packet from the peer: inner sealed with the peer's outbound SA (our SPI 8193).
    Bytes seal(const Bytes& inner, uint64_t seq0) {
        crypto::SaCfg c;
        EXPECT_FALSE(c.set_esp("aes_128_gcm", kKey));
        c.spi = 8193;
        c.seq = seq0;
        auto sa = crypto::SaRt::make(c);
        Bytes buf(sa->hdrlen() + inner.size() + sa->overhead_max());
        std::copy(inner.begin(), inner.end(), buf.begin() + sa->hdrlen());
        crypto::Pkt p;
        p.buf = buf;
        p.len = uint32_t(inner.size());
        p.next = kNhIp4;
        crypto::Engine e;
        e.encrypt(*sa, std::span(&p, 1));
        buf.resize(p.len);
        return test::eth(io.ports[0].mac, kPeerMac, 0x0800, test::ip4(kPeer, kMe, kProtoEsp, buf));
    }
};

TEST_F(TunTest, BindErrorsChangeNothing) {
    Conv& t = **s.ipifc->clone("eve");
    std::string o = "/net/esp/" + std::to_string(out->x), i = "/net/esp/" + std::to_string(in->x);
    EXPECT_STREQ(ctl(t, "bind esp " + o + " " + o).text, "not an incoming conversation");
    EXPECT_STREQ(ctl(t, "bind esp " + i + " " + i).text, "not an outgoing conversation");
    EXPECT_STREQ(ctl(t, "bind esp /net/esp/77 " + i).text, "file does not exist");
    EXPECT_STREQ(ctl(t, "bind esp /net/udp/0 " + i).text, "file does not exist");
    EXPECT_STREQ(ctl(t, "bind esp " + o).text, "bad arg in system call");
    EXPECT_STREQ(ctl(t, "bind gre 192.168.1.10 192.168.1.1 key x").text,
                 "bad arg in system call");
    EXPECT_STREQ(ctl(t, "bind gre 192.168.1.10 192.168.1.1 bogus").text,
                 "bad arg in system call");
    EXPECT_FALSE(static_cast<Ipifc&>(t).bound());
    EXPECT_EQ(static_cast<EspConv*>(out)->tunnel, -1);
}

TEST_F(TunTest, BoundHoldsTheConversationsAndUnbindReleases) {
    ASSERT_FALSE(bind());
    auto m = status();
    EXPECT_EQ(m["maxtu"], std::to_string(1500 - 20 - 37));
    EXPECT_EQ(m["device"], "/net/esp/" + std::to_string(out->x));
    EXPECT_EQ(m["inpkts"], "0");
    EXPECT_STREQ(ctl(*out, std::string("esp aes_128_gcm ") + kKey).text,
                 "conversation bound to an interface");
    if (--out->inuse == 0) esp.last_close(*out);  // its fd goes, as tree.cc does
    EXPECT_EQ(out->inuse, 1);  // held: nothing freed
    EXPECT_TRUE(static_cast<EspConv*>(out)->rt);
    ASSERT_FALSE(ctl(*tun, "unbind"));
    EXPECT_EQ(static_cast<EspConv*>(in)->tunnel, -1);
    EXPECT_EQ(out->inuse, 0);  // released: closed now
    EXPECT_FALSE(ctl(*in, std::string("esp aes_128_gcm ") + kKey));
}

TEST_F(TunTest, RekeyVerbsAndTheirErrors) {
    ASSERT_FALSE(bind());
    Conv& eth = *s.ipifc->ifc(0);
    EXPECT_STREQ(ctl(eth, "addsa /net/esp/0").text, "unsupported ctl");
    EXPECT_STREQ(ctl(*tun, "delsa /net/esp/" + std::to_string(in->x)).text, "last inbound sa");
    EXPECT_STREQ(ctl(*tun, "delsa /net/esp/" + std::to_string(out->x)).text,
                 "address not on this interface");
    EXPECT_STREQ(ctl(*tun, "addsa /net/esp/" + std::to_string(in->x)).text, "device in use");
    Conv* in2 = *esp.clone("eve");
    ASSERT_FALSE(ctl(*in2, "connect 192.168.1.1!*"));
    ASSERT_FALSE(ctl(*in2, "spi 8194"));
    ASSERT_FALSE(ctl(*in2, std::string("esp aes_128_gcm ") + kKey));
    ASSERT_FALSE(ctl(*tun, "addsa /net/esp/" + std::to_string(in2->x)));
    EXPECT_EQ(io.table.tun[size_t(tun->tun.id)].spi2, 8194u);
    Conv* in3 = *esp.clone("eve");
    ASSERT_FALSE(ctl(*in3, "connect 192.168.1.1!*"));
    EXPECT_STREQ(ctl(*tun, "addsa /net/esp/" + std::to_string(in3->x)).text,
                 "two inbound sas already");
    ASSERT_FALSE(ctl(*tun, "delsa /net/esp/" + std::to_string(in->x)));
    EXPECT_EQ(io.table.tun[size_t(tun->tun.id)].spi, 8194u);
    EXPECT_EQ(io.table.tun[size_t(tun->tun.id)].in2, nullptr);
    EXPECT_EQ(static_cast<EspConv*>(in)->tunnel, -1);
}

TEST_F(TunTest, OutputIsTunnelModeEspWithDfCopied) {
    ASSERT_FALSE(bind());
    ASSERT_FALSE(ctl(*tun, "add 10.9.0.1 255.255.255.0"));
    io.sent.clear();
    Bytes inner = test::ip4(0x0a090001, 0x0a090005, 17, Bytes(30, 0xab));
    put16(inner.data() + 6, 0x4000);
    inner[1] = 0x28;
    ASSERT_TRUE(s.ip4_output(std::string(inner.begin(), inner.end()), -1, true));
    ASSERT_EQ(io.sent.size(), 1u);
    const Bytes& f = io.sent[0].bytes;
    const uint8_t* ip = f.data() + 14;
    EXPECT_EQ(ip[9], kProtoEsp);
    EXPECT_EQ(get32(ip + 12), kMe);
    EXPECT_EQ(get32(ip + 16), kPeer);
    EXPECT_EQ(get16(ip + 6) & 0x4000, 0x4000);
    EXPECT_EQ(ip[1], 0x28);
    EXPECT_EQ(get32(ip + 20), 4097u);
    EXPECT_EQ(get32(ip + 24), 1u);
    EXPECT_EQ(status()["outpkts"], "1");
    EXPECT_EQ(status()["seq"], "1");
}

TEST_F(TunTest, InputEntersIpInputOnTheTunnelAfterTheReversePathCheck) {
    ASSERT_FALSE(bind());
    ASSERT_FALSE(ctl(*tun, "add 10.9.0.1 255.255.255.0"));
    io.sent.clear();
    // an echo request from 10.9.0.5 (routes back through the tunnel) to our 10.9.0.1
    Bytes echo = {8, 0, 0, 0, 0x12, 0x34, 0, 1, 'h', 'i'};
    put16(echo.data() + 2, csum(echo.data(), echo.size()));
    net.input(0, seal(test::ip4(0x0a090005, 0x0a090001, 1, echo), 0));
    auto m = status();
    EXPECT_EQ(m["inpkts"], "1");
    EXPECT_EQ(m["rpf"], "0");
    ASSERT_EQ(io.sent.size(), 1u);  // the reply, back through the tunnel
    EXPECT_EQ(io.sent[0].bytes[14 + 9], kProtoEsp);
    // from 10.77.0.1: no route back through the tunnel
    net.input(0, seal(test::ip4(0x0a4d0001, 0x0a090001, 17, Bytes(12)), 1));
    EXPECT_EQ(status()["rpf"], "1");
    EXPECT_EQ(status()["inpkts"], "1");
    // the first again: a replay
    net.input(0, seal(test::ip4(0x0a090005, 0x0a090001, 17, Bytes(12)), 0));
    EXPECT_EQ(status()["replay"], "1");
    std::string got;
    Err e;
    static_cast<EspConv*>(in)->rq.read(65536, got, e);
    EXPECT_TRUE(got.empty());  // nothing for the data file
}

TEST_F(TunTest, RoutesThroughTheTunnelReachTheWorkersTable) {
    s.fib_enable();
    ASSERT_FALSE(bind());
    ASSERT_GE(tun->tun.id, 0);
    const TunRt& r = io.table.tun[size_t(tun->tun.id)];
    EXPECT_EQ(r.kind, uint8_t(TunKind::Esp));
    EXPECT_EQ(r.spi, 8193u);
    EXPECT_EQ(r.mtu, 1500 - 20 - 37);
    EXPECT_EQ(r.out, static_cast<EspConv*>(out)->rt.get());
    ASSERT_FALSE(ctl(*tun, "unbind"));
    EXPECT_EQ(io.table.tun[0].kind, 0);
    EXPECT_EQ(io.table.ntun, 0);
}

}  // namespace
}  // namespace devip::proto
