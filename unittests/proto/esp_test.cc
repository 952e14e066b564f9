// /net/esp conversations (proto/esp.h) driven through their ctl verbs, data writes and
// frames with a fake Netio. Error strings are ip3.md §3.10's and §4.9's; the wire vectors
// were computed with scapy 2.5's SecurityAssociation (RFC 4303 mode) and with Python's hmac
// (9front mode: reversed key bytes, next header 0), independently of crypto/.
#include <gtest/gtest.h>

#include "proto/esp.h"
#include "proto/stack.h"
#include "unittests/crypto/esp_ref.h"
#include "unittests/fake_netio.h"

namespace devip::proto {
namespace {

using test::FakeNetio;
using Bytes = std::vector<uint8_t>;

const Ether kPeerMac{{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}};
constexpr uint32_t kMe = 0xc0a8010a;    // 192.168.1.10
constexpr uint32_t kPeer = 0xc0a80101;  // 192.168.1.1

Bytes hex(std::string_view h) {
    Bytes b;
    for (size_t i = 0; i + 1 < h.size(); i += 2)
        b.push_back(uint8_t(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
    return b;
}

// IPv4/UDP 10.0.0.1:1000 -> 10.0.0.2:2000 "hello esp" (scapy, id 1, ttl 64)
const Bytes kInner = hex("4500002500010000401166c50a0000010a00000203e807d00011c6ab68656c6c6f"
                         "20657370");
// AES-128-GCM, key 000102..0f, salt a0a1a2a3, SPI 0x1000, seq 1, IV = seq (scapy)
const Bytes kGcm = hex("0000100000000001000000000000000103711cd76c857750c77d20d2d1049467"
                       "1bf21981951d87726de04dbb74c3337e84dbabd8553091d33e123a15b69f7227"
                       "a4112ab999bd0174");
// AES-CTR (RFC 3686) key 000102..0f nonce a0a1a2a3 + HMAC-SHA2-256-128 key 2021..3f,
// SPI 0x1001, seq 1 (scapy)
const Bytes kCtr = hex("00001001000000010000000000000001085f190cb98c3898662002e81b068605"
                       "4c711cf06f6c7080877d80bcb361f80a7ed27cf0e6f481a6bd2b42705e65e61c"
                       "b8833973956ce550");
// 9front: null + hmac_sha1_96 written as 000102..0f (so keyed 0f0e..00), next header 0,
// SPI 0x1002, seq 1 (Python hmac)
const Bytes kNine = hex("00001002000000014500002500010000401166c50a0000010a00000203e807d0"
                        "0011c6ab68656c6c6f206573700101000d2c2b347dfd18179f91216b");
// The same SA as 9front sends it: an unwritten pad byte (0xde), next header 0.
const Bytes kNineIn = hex("00001002000000014500002500010000401166c50a0000010a00000203e807"
                          "d00011c6ab68656c6c6f20657370de0100ff993b41a1770e793b3f987f");

constexpr const char* kGcmKey = "000102030405060708090a0b0c0d0e0fa0a1a2a3";
constexpr const char* kCtrKey = "000102030405060708090a0b0c0d0e0fa0a1a2a3";
constexpr const char* kShaKey = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f";

struct EspTest : ::testing::Test {
    FakeNetio io{1};
    Net net{&io};
    Stack& s = net.stack(0);
    Esp& esp = *esp_of(s);

    void SetUp() override {
        auto f = s.ipifc->clone("eve");
        Conv& c = **f;
        ASSERT_FALSE(ctl(c, "bind ether /net/ether0"));
        ASSERT_FALSE(ctl(c, "add 192.168.1.10 255.255.255.0"));
        net.input(0, test::eth(kEtherBcast, kPeerMac, 0x0806,
                               test::arp(1, kPeerMac, kPeer, Ether{}, kMe)));
        io.sent.clear();
    }
    Err ctl(Conv& c, const std::string& msg) { return c.p->write_ctl(c, parsecmd(msg)); }
    EspConv& conv() { return static_cast<EspConv&>(**esp.clone("eve")); }
    std::string text(void (Proto::*fn)(const Conv&, Text&) const, const Conv& c) {
        Text t;
        (esp.*fn)(c, t);
        return t.str();
    }
    std::string stats(const Conv& c) {
        Text t;
        esp.conv_stats(c, t);
        return t.str();
    }
    uint64_t stat(const Conv& c, const std::string& name) {
        std::string all = stats(c), key = "\n" + name + ": ";
        size_t at = ("\n" + all).find(key);
        if (at == std::string::npos) return ~0ull;
        return std::stoull(all.substr(at + key.size() - 1));
    }
    // the ESP bytes of the last frame sent (Ethernet, 20-byte IPv4 header)
    Bytes last_esp() {
        if (io.sent.empty()) return {};
        const Bytes& f = io.sent.back().bytes;
        EXPECT_EQ(f[14 + 9], 50);
        return Bytes(f.begin() + 34, f.end());
    }
    void rx_esp(const Bytes& e) {
        net.input(0, test::eth(io.ports[0].mac, kPeerMac, 0x0800, test::ip4(kPeer, kMe, 50, e)));
    }
    std::string read(Conv& c) {
        std::string out;
        Err e;
        c.rq.read(65536, out, e);
        return out;
    }
    static std::string str(const Bytes& b) { return std::string(b.begin(), b.end()); }
};

TEST_F(EspTest, ConnectErrors_4_9) {
    EspConv& c = conv();
    EXPECT_STREQ(ctl(c, "connect").text, "bad args to connect");
    EspConv& c2 = conv();
    EXPECT_STREQ(ctl(c2, "connect 192.168.1.1!5 x").text, "bad args to connect");
    EspConv& d = conv();
    EXPECT_STREQ(ctl(d, "connect 192.168.1.1").text, "malformed address");
    EspConv& e = conv();
    EXPECT_STREQ(ctl(e, "connect 192.168.1.1!x").text, "malformed address");
    EspConv& f = conv();
    EXPECT_STREQ(ctl(f, "connect 192.168.1.1.5!5").text, "bad ip address syntax");
    EspConv& g = conv();
    EXPECT_STREQ(ctl(g, "announce 192.168.1.1!5").text, "announce not supported");
}

TEST_F(EspTest, AlgorithmErrors_3_10) {
    EspConv& c = conv();
    ASSERT_FALSE(ctl(c, "connect 192.168.1.1!4096"));
    EXPECT_STREQ(ctl(c, "esp").text, "bad format");
    EXPECT_STREQ(ctl(c, "ah null 00 00").text, "bad format");
    EXPECT_STREQ(ctl(c, "esp rot13").text, "unknown algorithm");
    EXPECT_STREQ(ctl(c, "esp aes_128_cbc 0011").text, "key not required length");
    EXPECT_STREQ(ctl(c, "esp null 00").text, "key not required length");
    EXPECT_STREQ(ctl(c, "esp aes_128_cbc 000102030405060708090a0b0c0d0e0g").text,
                 "non-hex character in key");
    EXPECT_STREQ(ctl(c, "frob").text, "unknown control request");
    EXPECT_FALSE(ctl(c, "esp null"));
    EXPECT_FALSE(ctl(c, "header extra fields are ignored"));
    EXPECT_FALSE(ctl(c, "noheader"));
    // hmac_sha1_96 takes the RFC's 20 bytes and 9front's 16
    EXPECT_FALSE(ctl(c, "ah hmac_sha1_96 000102030405060708090a0b0c0d0e0f10111213"));
    EXPECT_FALSE(ctl(c, "ah hmac_sha1_96 000102030405060708090a0b0c0d0e0f"));
    EXPECT_STREQ(ctl(c, std::string("esp aes_128_gcm ") + kGcmKey).text,
                 "AEAD cipher takes ah null");
    EXPECT_FALSE(ctl(c, "ah null"));
    EXPECT_FALSE(ctl(c, std::string("esp aes_128_gcm ") + kGcmKey));
}

TEST_F(EspTest, LocalRemoteAndStatus_2_3) {
    EspConv& out = conv();
    ASSERT_FALSE(ctl(out, "connect 192.168.1.1!4096"));
    EXPECT_EQ(text(&Proto::local, out), "192.168.1.10\n");
    EXPECT_EQ(text(&Proto::remote, out), "192.168.1.1!4096\n");
    EXPECT_EQ(text(&Proto::state, out), "Open\n");
    EspConv& in = conv();
    ASSERT_FALSE(ctl(in, "connect 192.168.1.1!*"));
    std::string l = text(&Proto::local, in);
    ASSERT_EQ(l.substr(0, 13), "192.168.1.10!");
    unsigned long spi = std::stoul(l.substr(13));
    EXPECT_GE(spi, 256u);
    EXPECT_LE(spi, 65791u);
    EXPECT_EQ(l.back(), '\n');
    EXPECT_EQ(text(&Proto::remote, in), "192.168.1.1\n");
    Text t;
    esp.stats(t);
    EXPECT_EQ(t.str(), "0 0\n");
}

TEST_F(EspTest, OneDirectionPerConversation_4_9) {
    EspConv& out = conv();
    ASSERT_FALSE(ctl(out, "connect 192.168.1.1!4096"));
    EXPECT_TRUE(out.rq.closed());
    EspConv& in = conv();
    ASSERT_FALSE(ctl(in, "connect 192.168.1.1!*"));
    EXPECT_STREQ(esp.write_data(in, kInner).text, "i/o on hungup channel");
}

TEST_F(EspTest, SpiCtlOnInboundBeforeKeys) {
    EspConv& out = conv();
    ASSERT_FALSE(ctl(out, "connect 192.168.1.1!4096"));
    EXPECT_STREQ(ctl(out, "spi 5000").text, "not an incoming conversation");
    EspConv& in = conv();
    EXPECT_STREQ(ctl(in, "spi 5000").text, "not connected");
    ASSERT_FALSE(ctl(in, "connect 192.168.1.1!*"));
    EXPECT_STREQ(ctl(in, "spi 12").text, "bad spi");
    EXPECT_STREQ(ctl(in, "spi 5000 6000").text, "wrong #args in control message");
    ASSERT_FALSE(ctl(in, "spi 5000"));
    EXPECT_EQ(text(&Proto::local, in), "192.168.1.10!5000\n");
    EspConv& other = conv();
    ASSERT_FALSE(ctl(other, "connect 192.168.1.1!*"));
    EXPECT_STREQ(ctl(other, "spi 5000").text, "spi in use");
    ASSERT_FALSE(ctl(in, "esp null"));
    EXPECT_STREQ(ctl(in, "spi 5001").text, "keys already set");
    EXPECT_STREQ(ctl(in, "9front").text, "keys already set");
    EXPECT_STREQ(ctl(in, "esn").text, "keys already set");
}

TEST_F(EspTest, KeyTextWipedAfterParsing) {
    EspConv& c = conv();
    ASSERT_FALSE(ctl(c, "connect 192.168.1.1!4096"));
    CtlArgs a = parsecmd(std::string("esp aes_128_gcm ") + kGcmKey);
    ASSERT_FALSE(esp.write_ctl(c, a));
    EXPECT_EQ(a[2], std::string(a[2].size(), '\0'));
    CtlArgs bad = parsecmd("ah hmac_sha1_96 00112233");  // wiped on failure too
    EXPECT_TRUE(esp.write_ctl(c, bad));
    EXPECT_EQ(bad[2], std::string(8, '\0'));
}

TEST_F(EspTest, GcmOutputMatchesScapy) {
    EspConv& c = conv();
    ASSERT_FALSE(ctl(c, "connect 192.168.1.1!4096"));
    ASSERT_FALSE(ctl(c, std::string("esp aes_128_gcm ") + kGcmKey));
    ASSERT_FALSE(esp.write_data(c, kInner));
    EXPECT_EQ(last_esp(), kGcm);
    EXPECT_EQ(stat(c, "Packets"), 1u);
    EXPECT_EQ(stat(c, "Bytes"), kInner.size());
    EXPECT_EQ(stat(c, "Seq"), 1u);
}

TEST_F(EspTest, CtrSha256OutputMatchesScapy) {
    EspConv& c = conv();
    ASSERT_FALSE(ctl(c, "connect 192.168.1.1!4097"));
    ASSERT_FALSE(ctl(c, std::string("esp aes_ctr ") + kCtrKey));
    ASSERT_FALSE(ctl(c, std::string("ah hmac_sha2_256_128 ") + kShaKey));
    ASSERT_FALSE(esp.write_data(c, kInner));
    EXPECT_EQ(last_esp(), kCtr);
}

TEST_F(EspTest, CbcOutputOpensWithOpenSsl) {
    EspConv& c = conv();
    ASSERT_FALSE(ctl(c, "connect 192.168.1.1!4098"));
    ASSERT_FALSE(ctl(c, "esp aes_128_cbc 00112233445566778899aabbccddeeff"));
    ASSERT_FALSE(ctl(c, "ah hmac_sha1_96 000102030405060708090a0b0c0d0e0f10111213"));
    ASSERT_FALSE(esp.write_data(c, kInner));
    crypto::SaCfg ref;
    ref.spi = 4098;
    ASSERT_FALSE(ref.set_esp("aes_128_cbc", "00112233445566778899aabbccddeeff"));
    ASSERT_FALSE(ref.set_ah("hmac_sha1_96", "000102030405060708090a0b0c0d0e0f10111213"));
    Bytes payload;
    uint8_t next = 0;
    EXPECT_EQ(crypto::ref::open(ref, 1, last_esp(), payload, next), "");
    EXPECT_EQ(payload, kInner);
    EXPECT_EQ(next, 4);  // RFC 4303: the real next header
}

TEST_F(EspTest, GcmInputDeliveredThenReplayAndIcvCounted) {
    EspConv& c = conv();
    ASSERT_FALSE(ctl(c, "connect 192.168.1.1!*"));
    ASSERT_FALSE(ctl(c, "spi 4096"));
    ASSERT_FALSE(ctl(c, std::string("esp aes_128_gcm ") + kGcmKey));
    rx_esp(kGcm);
    EXPECT_EQ(read(c), str(kInner));
    rx_esp(kGcm);  // replayed
    EXPECT_EQ(stat(c, "ReplayDrops"), 1u);
    Bytes bad = kGcm;
    bad[6] = 0, bad[7] = 2;  // sequence 2: new to the window, but the ICV covers it
    rx_esp(bad);
    EXPECT_EQ(stat(c, "IcvFailures"), 1u);
    EXPECT_EQ(stat(c, "Packets"), 1u);
    EXPECT_EQ(stat(c, "Seq"), 1u);
    EXPECT_EQ(c.rq.bytes(), 0u);
    Text t;
    esp.stats(t);
    EXPECT_EQ(t.str(), "3 2\n");
}

TEST_F(EspTest, CtrInputDelivered) {
    EspConv& c = conv();
    ASSERT_FALSE(ctl(c, "connect 192.168.1.1!*"));
    ASSERT_FALSE(ctl(c, "spi 4097"));
    ASSERT_FALSE(ctl(c, std::string("esp aes_ctr ") + kCtrKey));
    ASSERT_FALSE(ctl(c, std::string("ah hmac_sha2_256_128 ") + kShaKey));
    rx_esp(kCtr);
    EXPECT_EQ(read(c), str(kInner));
}

TEST_F(EspTest, NextHeaderCheckedAndDummiesDropped_RFC4303_2_6) {
    EspConv& c = conv();
    ASSERT_FALSE(ctl(c, "connect 192.168.1.1!*"));
    ASSERT_FALSE(ctl(c, "spi 7000"));
    ASSERT_FALSE(ctl(c, "esp null"));
    ASSERT_FALSE(ctl(c, "ah hmac_sha1_96 000102030405060708090a0b0c0d0e0f10111213"));
    crypto::SaCfg ref;
    ref.spi = 7000;
    ASSERT_FALSE(ref.set_ah("hmac_sha1_96", "000102030405060708090a0b0c0d0e0f10111213"));
    rx_esp(crypto::ref::seal(ref, 1, kInner, 41));  // says IPv6, holds IPv4
    EXPECT_EQ(stat(c, "NextHdrErrors"), 1u);
    rx_esp(crypto::ref::seal(ref, 2, kInner, 59));  // a dummy
    EXPECT_EQ(stat(c, "Dummies"), 1u);
    EXPECT_EQ(c.rq.bytes(), 0u);
    rx_esp(crypto::ref::seal(ref, 3, kInner, 4));
    EXPECT_EQ(read(c), str(kInner));
    ASSERT_FALSE(ctl(c, "header"));  // header mode: the next header is the user's
    rx_esp(crypto::ref::seal(ref, 4, kInner, 17));
    EXPECT_EQ(read(c), std::string("\x11\0\0\0", 4) + str(kInner));
}

// The shortest null/null packets: SPI, sequence, padding, pad length, next header, no data
// (the fuzzer found the engine reading an IV such a packet does not have).
TEST_F(EspTest, ShortestNullPacket) {
    EspConv& c = conv();
    ASSERT_FALSE(ctl(c, "connect 192.168.1.1!*"));
    ASSERT_FALSE(ctl(c, "spi 7001"));
    ASSERT_FALSE(ctl(c, "header"));
    rx_esp(hex("00001b590000000100ff"));  // 2 bytes of text: not a multiple of 4
    EXPECT_EQ(stat(c, "LenErrors"), 1u);
    rx_esp(hex("00001b59000000020102" "02ff"));
    EXPECT_EQ(read(c), std::string("\xff\0\0\0", 4));
}

TEST_F(EspTest, HeaderModeWriteSetsNextHeader_4_9) {
    EspConv& c = conv();
    ASSERT_FALSE(ctl(c, "connect 192.168.1.1!4096"));
    ASSERT_FALSE(ctl(c, "header"));
    Bytes w = {17, 0, 0, 0};
    w.insert(w.end(), kInner.begin(), kInner.end());
    ASSERT_FALSE(esp.write_data(c, w));
    crypto::SaCfg ref;
    ref.spi = 4096;
    Bytes payload;
    uint8_t next = 0;
    EXPECT_EQ(crypto::ref::open(ref, 1, last_esp(), payload, next), "");
    EXPECT_EQ(next, 17);
    EXPECT_EQ(payload, kInner);
}

TEST_F(EspTest, NonIpPayloadNotSentInRfcMode) {
    EspConv& c = conv();
    ASSERT_FALSE(ctl(c, "connect 192.168.1.1!4096"));
    ASSERT_FALSE(esp.write_data(c, Bytes{0x12, 0x34}));
    EXPECT_TRUE(io.sent.empty());
    EXPECT_EQ(stat(c, "BadInner"), 1u);
}

TEST_F(EspTest, NonEsnSaStopsAtTwoToThe32_RFC4303_3_3_3) {
    EspConv& c = conv();
    ASSERT_FALSE(ctl(c, "connect 192.168.1.1!4096"));
    ASSERT_FALSE(ctl(c, "seq 4294967294"));
    ASSERT_FALSE(esp.write_data(c, kInner));  // number 2^32-1, the last
    ASSERT_EQ(io.sent.size(), 1u);
    Bytes e = last_esp();
    EXPECT_EQ(Bytes(e.begin() + 4, e.begin() + 8), hex("ffffffff"));
    ASSERT_FALSE(esp.write_data(c, kInner));
    EXPECT_EQ(io.sent.size(), 1u);
    EXPECT_EQ(stat(c, "SeqOverflows"), 1u);
    EXPECT_NE(stats(c).find("Error: sequence number overflow\n"), std::string::npos);
    EXPECT_EQ(stat(c, "Seq"), 4294967295u);
}

TEST_F(EspTest, NineFrontOutputMatchesPython) {
    EspConv& c = conv();
    ASSERT_FALSE(ctl(c, "connect 192.168.1.1!4098"));
    ASSERT_FALSE(ctl(c, "9front"));
    ASSERT_STREQ(ctl(c, "ah hmac_sha1_96 000102030405060708090a0b0c0d0e0f10111213").text,
                 "key not required length");  // esp.c: 128 bits only
    ASSERT_STREQ(ctl(c, std::string("esp aes_128_gcm ") + kGcmKey).text, "unknown algorithm");
    ASSERT_FALSE(ctl(c, "esp null"));
    ASSERT_FALSE(ctl(c, "ah hmac_sha1_96 000102030405060708090a0b0c0d0e0f"));
    ASSERT_FALSE(esp.write_data(c, kInner));
    EXPECT_EQ(last_esp(), kNine);
    EXPECT_NE(stats(c).find("Mode: 9front\n"), std::string::npos);
}

TEST_F(EspTest, NineFrontInputTakesUnwrittenPadAndNextHeaderZero) {
    EspConv& c = conv();
    ASSERT_FALSE(ctl(c, "connect 192.168.1.1!*"));
    ASSERT_FALSE(ctl(c, "spi 4098"));
    ASSERT_FALSE(ctl(c, "9front"));
    ASSERT_FALSE(ctl(c, "ah hmac_sha1_96 000102030405060708090a0b0c0d0e0f"));
    rx_esp(kNineIn);
    EXPECT_EQ(read(c), str(kInner));
}

TEST_F(EspTest, NineFrontAesCtrIsCbcWithReversedKey) {
    EspConv& c = conv();
    ASSERT_FALSE(ctl(c, "connect 192.168.1.1!4096"));
    ASSERT_FALSE(ctl(c, "9front"));
    ASSERT_FALSE(ctl(c, "esp aes_ctr 000102030405060708090a0b0c0d0e0f"));
    ASSERT_FALSE(esp.write_data(c, kInner));
    crypto::SaCfg ref;  // what a 9front peer computes: CBC, key bytes 0f 0e … 00
    ref.spi = 4096;
    ASSERT_FALSE(ref.set_esp("aes_128_cbc", "0f0e0d0c0b0a09080706050403020100"));
    Bytes payload;
    uint8_t next = 1;
    EXPECT_EQ(crypto::ref::open(ref, 1, last_esp(), payload, next), "");
    EXPECT_EQ(payload, kInner);
    EXPECT_EQ(next, 0);  // esp.c's next header without `header`
}

TEST_F(EspTest, UnknownSpiGetsPortUnreachable_4_4_2) {
    rx_esp(kGcm);
    ASSERT_EQ(io.sent.size(), 1u);
    const Bytes& f = io.sent[0].bytes;
    EXPECT_EQ(f[14 + 9], 1);    // ICMP
    EXPECT_EQ(f[34], 3);        // unreachable
    EXPECT_EQ(f[35], 3);        // port
    EXPECT_EQ(esp.nospi, 1u);
}

TEST_F(EspTest, UnknownSpiAnswersAreRateLimited) {
    for (int i = 0; i < 300; i++) rx_esp(kGcm);  // the clock stands still: no refill
    EXPECT_EQ(io.sent.size(), size_t(Stack::kIcmpBurst));
    EXPECT_EQ(esp.nospi, 300u);
    EXPECT_EQ(s.icmp_limited, 300u - uint64_t(Stack::kIcmpBurst));
}

TEST_F(EspTest, AdviceHangsUpTheOutboundSa_4_8_3) {
    EspConv& c = conv();
    ASSERT_FALSE(ctl(c, "connect 192.168.1.1!4096"));
    Bytes emb = test::ip4(kMe, kPeer, 50, hex("0000100000000001"));
    esp.advise(emb, Err{"port unreachable"});
    std::string out;
    Err e;
    EXPECT_EQ(c.rq.read(100, out, e), Queue::R::Error);
    EXPECT_STREQ(e.text, "port unreachable");
}

TEST_F(EspTest, CloseZeroesKeysAndReuseStartsNull) {
    EspConv& c = conv();
    ASSERT_FALSE(ctl(c, "connect 192.168.1.1!4096"));
    ASSERT_FALSE(ctl(c, std::string("esp aes_128_gcm ") + kGcmKey));
    ASSERT_FALSE(esp.write_data(c, kInner));
    ASSERT_TRUE(c.rt);
    int x = c.x;
    c.inuse = 0;
    esp.last_close(c);
    EXPECT_FALSE(c.rt);
    EXPECT_TRUE(c.cfg.ckey.empty());
    EspConv& d = conv();
    EXPECT_EQ(d.x, x);
    EXPECT_EQ(d.cfg.cipher->name, "null");
}

TEST_F(EspTest, StatsFileLayout) {
    EspConv& c = conv();
    ASSERT_FALSE(ctl(c, "connect 192.168.1.1!4096"));
    EXPECT_EQ(stats(c),
              "Dir: out\nSpi: 4096\nMode: rfc4303\nEsp: null\nAh: null\nPackets: 0\nBytes: 0\n"
              "ReplayDrops: 0\nIcvFailures: 0\nPadErrors: 0\nLenErrors: 0\nNextHdrErrors: 0\n"
              "Dummies: 0\nBadInner: 0\nSeqOverflows: 0\nSeq: 0\n");
}

// ---- hard lifetimes (RFC 4301 §4.4.2.1) --------------------------------------------------

TEST_F(EspTest, LifetimeInPacketsStopsTheSaUntilNewKeys) {
    EspConv& c = conv();
    ASSERT_FALSE(ctl(c, "connect 192.168.1.1!4096"));
    ASSERT_FALSE(ctl(c, std::string("esp aes_128_gcm ") + kGcmKey));
    ASSERT_FALSE(ctl(c, "lifetime packets 2"));
    for (int i = 0; i < 3; i++) ASSERT_FALSE(esp.write_data(c, kInner));
    EXPECT_EQ(io.sent.size(), 2u);
    EXPECT_EQ(stat(c, "Packets"), 2u);
    EXPECT_EQ(stat(c, "ExpiredDrops"), 1u);
    std::string st = stats(c);
    EXPECT_NE(st.find("Error: security association expired\n"), std::string::npos) << st;
    EXPECT_NE(st.find("Lifetime: packets 2 bytes 0 seconds 0\n"
                      "Used: packets 2 bytes 74 seconds 0\n"), std::string::npos) << st;
    // new keys: the SA's lifetime starts again; the sequence numbers go on
    ASSERT_FALSE(ctl(c, std::string("esp aes_128_gcm ") + kGcmKey));
    ASSERT_FALSE(esp.write_data(c, kInner));
    EXPECT_EQ(io.sent.size(), 3u);
    EXPECT_EQ(stat(c, "Seq"), 3u);
    EXPECT_EQ(stats(c).find("Error:"), std::string::npos);
}

TEST_F(EspTest, LifetimeInBytesAndSecondsOnInput) {
    EspConv& c = conv();
    ASSERT_FALSE(ctl(c, "connect 192.168.1.1!*"));
    ASSERT_FALSE(ctl(c, "spi 4096"));
    ASSERT_FALSE(ctl(c, std::string("esp aes_128_gcm ") + kGcmKey));
    ASSERT_FALSE(ctl(c, "lifetime bytes 37"));  // the inner packet's size: one packet
    rx_esp(kGcm);
    EXPECT_EQ(read(c), str(kInner));
    Bytes two = kGcm;
    two[7] = 2;  // any later packet is refused before its ICV is looked at
    rx_esp(two);
    EXPECT_EQ(stat(c, "ExpiredDrops"), 1u);
    EXPECT_EQ(stat(c, "IcvFailures"), 0u);
    // seconds, from the keys being set; the control thread's tick expires it
    EspConv& d = conv();
    ASSERT_FALSE(ctl(d, "connect 192.168.1.1!4097"));
    net.now_ms = 5000;
    ASSERT_FALSE(ctl(d, std::string("esp aes_128_gcm ") + kGcmKey));
    ASSERT_FALSE(ctl(d, "lifetime seconds 2 packets 1000"));
    esp.tick(6999);
    ASSERT_FALSE(esp.write_data(d, kInner));
    EXPECT_EQ(stat(d, "Packets"), 1u);
    net.now_ms = 7000;
    esp.tick(7000);
    ASSERT_FALSE(esp.write_data(d, kInner));
    EXPECT_EQ(stat(d, "Packets"), 1u);
    EXPECT_EQ(stat(d, "ExpiredDrops"), 1u);
    EXPECT_NE(stats(d).find("Lifetime: packets 1000 bytes 0 seconds 2\n"), std::string::npos);
}

TEST_F(EspTest, LifetimeCtlErrorsChangeNothing) {
    EspConv& c = conv();
    ASSERT_FALSE(ctl(c, "connect 192.168.1.1!4096"));
    for (const char* bad : {"lifetime", "lifetime packets", "lifetime packets x",
                            "lifetime weeks 2", "lifetime seconds 4294967296",
                            "lifetime packets 1 bytes"})
        EXPECT_STREQ(ctl(c, bad).text, Ebadarg.text) << bad;
    EXPECT_EQ(stats(c).find("Lifetime:"), std::string::npos);
    ASSERT_FALSE(ctl(c, "lifetime packets 0"));  // 0: none
    ASSERT_FALSE(esp.write_data(c, kInner));
    EXPECT_EQ(stat(c, "Packets"), 1u);
}

}  // namespace
}  // namespace devip::proto
