// crypto/engine.h against an independent ESP on OpenSSL (esp_ref.h), for every pair both
// implement: devip seals and OpenSSL opens, OpenSSL seals and devip opens; tampering,
// padding, replay and ESN across 2^32.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "crypto/engine.h"
#include "unittests/crypto/esp_ref.h"

namespace devip::crypto {
namespace {

using ref::Bytes;

struct Pair {
    const char* esp;
    const char* ah;
    size_t akeylen;  // 0: the algorithm's own length
};

std::string hexkey(size_t n) {
    Bytes b(n);
    RAND_bytes(b.data(), int(n));
    static const char d[] = "0123456789abcdef";
    std::string s;
    for (uint8_t x : b) s += d[x >> 4], s += d[x & 15];
    return s;
}

SaCfg cfg(const Pair& p, Dir dir, bool esn = false, uint64_t seq = 0) {
    SaCfg c;
    const CipherAlg* ca = find_cipher(p.esp);
    const AuthAlg* aa = find_auth(p.ah);
    EXPECT_FALSE(c.set_esp(p.esp, hexkey(ca->keylen + ca->saltlen)));
    EXPECT_FALSE(c.set_ah(p.ah, hexkey(p.akeylen ? p.akeylen : aa->keylen)));
    c.spi = 0x1001;
    c.dir = dir;
    c.esn = esn;
    c.seq = seq;
    return c;
}

Bytes payload(size_t n, uint8_t seed) {
    Bytes b(n);
    for (size_t i = 0; i < n; i++) b[i] = uint8_t(seed + i * 7);
    return b;
}

// A packet buffer: payload at the header's end, room for the worst trailer.
struct Buf {
    Bytes mem;
    Pkt pkt;
    Buf(const SaRt& sa, const Bytes& pl, uint8_t next) : mem(sa.hdrlen() + pl.size() + 64) {
        std::copy(pl.begin(), pl.end(), mem.begin() + sa.hdrlen());
        pkt.buf = mem;
        pkt.len = uint32_t(pl.size());
        pkt.next = next;
    }
    explicit Buf(const Bytes& wire) : mem(wire) {
        pkt.buf = mem;
        pkt.len = uint32_t(wire.size());
    }
    Bytes wire() const { return Bytes(mem.begin(), mem.begin() + pkt.len); }
    Bytes inner(const SaRt& sa) const {
        return Bytes(mem.begin() + sa.hdrlen(), mem.begin() + sa.hdrlen() + pkt.len);
    }
};

class CryptoEngine : public ::testing::TestWithParam<Pair> {
protected:
    static void SetUpTestSuite() { ASSERT_TRUE(ref::load_providers()); }
    Engine eng;
};

const size_t kSizes[] = {0, 1, 13, 14, 15, 16, 63, 64, 100, 1400, 1401};

TEST_P(CryptoEngine, DevipSealsOpensslOpens) {
    SaCfg c = cfg(GetParam(), Dir::out);
    SaRt::Ptr sa = SaRt::make(c);
    ASSERT_NE(sa, nullptr);
    std::vector<Buf> bufs;
    for (size_t i = 0; i < std::size(kSizes); i++)
        bufs.emplace_back(*sa, payload(kSizes[i], uint8_t(i)), i % 2 ? 41 : 4);
    std::vector<Pkt> pk;
    for (Buf& b : bufs) pk.push_back(b.pkt);
    EXPECT_EQ(eng.encrypt(*sa, pk), pk.size());
    Bytes lastiv;
    for (size_t i = 0; i < pk.size(); i++) {
        bufs[i].pkt = pk[i];
        ASSERT_EQ(pk[i].st, Status::ok);
        EXPECT_EQ(pk[i].seq, i + 1);
        EXPECT_EQ(pk[i].len, sa->esp_len(uint32_t(kSizes[i])));
        Bytes w = bufs[i].wire(), got;
        uint8_t next = 0;
        EXPECT_EQ(ref::open(c, i + 1, w, got, next), "") << kSizes[i];
        EXPECT_EQ(got, payload(kSizes[i], uint8_t(i)));
        EXPECT_EQ(next, i % 2 ? 41 : 4);
        Bytes iv(w.begin() + 8, w.begin() + 8 + c.cipher->ivlen);
        if (c.cipher->kind == Kind::cbc) {
            EXPECT_NE(iv, lastiv);  // random
        } else if (c.cipher->ivlen == 8) {
            Bytes want(8);
            ref::put32(want.data() + 4, uint32_t(i + 1));
            EXPECT_EQ(iv, want);    // the sequence number
        }
        lastiv = iv;
    }
}

TEST_P(CryptoEngine, OpensslSealsDevipOpens) {
    SaCfg c = cfg(GetParam(), Dir::in);
    SaRt::Ptr sa = SaRt::make(c);
    ASSERT_NE(sa, nullptr);
    std::vector<Buf> bufs;
    for (size_t i = 0; i < std::size(kSizes); i++) {
        Bytes w = ref::seal(c, i + 1, payload(kSizes[i], uint8_t(i)), 41);
        ASSERT_FALSE(w.empty());
        bufs.emplace_back(w);
    }
    std::vector<Pkt> pk;
    for (Buf& b : bufs) pk.push_back(b.pkt);
    EXPECT_EQ(eng.decrypt(*sa, pk), pk.size());
    for (size_t i = 0; i < pk.size(); i++) {
        bufs[i].pkt = pk[i];
        ASSERT_EQ(pk[i].st, Status::ok) << kSizes[i];
        EXPECT_EQ(pk[i].next, 41);
        EXPECT_EQ(pk[i].seq, i + 1);
        EXPECT_EQ(bufs[i].inner(*sa), payload(kSizes[i], uint8_t(i)));
    }
    EXPECT_EQ(sa->win.top(), std::size(kSizes));
}

TEST_P(CryptoEngine, RoundTripOfALargeBurst) {
    Pair p = GetParam();
    SaCfg co = cfg(p, Dir::out), ci = co;
    ci.dir = Dir::in;
    SaRt::Ptr out = SaRt::make(co), in = SaRt::make(ci);
    std::vector<Buf> bufs;
    for (size_t i = 0; i < 150; i++) bufs.emplace_back(*out, payload(40 + i, uint8_t(i)), 4);
    std::vector<Pkt> pk;
    for (Buf& b : bufs) pk.push_back(b.pkt);
    EXPECT_EQ(eng.encrypt(*out, pk), 150u);
    for (Pkt& x : pk) x.buf = x.buf.first(x.len);
    EXPECT_EQ(eng.decrypt(*in, pk), 150u);
    for (size_t i = 0; i < 150; i++) {
        EXPECT_EQ(pk[i].len, 40 + i);
        EXPECT_EQ(Bytes(pk[i].buf.begin() + in->hdrlen(), pk[i].buf.begin() + in->hdrlen() +
                                                              pk[i].len),
                  payload(40 + i, uint8_t(i)));
    }
}

TEST_P(CryptoEngine, TamperedPacketsRejected) {
    SaCfg c = cfg(GetParam(), Dir::in);
    SaRt::Ptr sa = SaRt::make(c);
    ASSERT_GT(sa->icvlen, 0);  // every pair listed has integrity
    Bytes w = ref::seal(c, 1, payload(100, 1), 4);
    std::vector<Buf> bufs;
    Bytes icvflip = w, textflip = w, hdrflip = w;
    icvflip.back() ^= 1;
    textflip[sa->hdrlen() + 3] ^= 0x80;
    hdrflip[7] ^= 2;  // sequence number 1 → 3
    for (const Bytes& x : {icvflip, textflip, hdrflip}) bufs.emplace_back(x);
    std::vector<Pkt> pk;
    for (Buf& b : bufs) pk.push_back(b.pkt);
    EXPECT_EQ(eng.decrypt(*sa, pk), 0u);
    for (Pkt& x : pk) EXPECT_EQ(x.st, Status::icv);
    EXPECT_EQ(sa->win.top(), 0u);  // failures leave the window alone
    Buf fine(w);
    EXPECT_EQ(eng.decrypt(*sa, std::span(&fine.pkt, 1)), 1u);
}

TEST_P(CryptoEngine, BadPaddingRejected) {
    SaCfg c = cfg(GetParam(), Dir::in);
    SaRt::Ptr sa = SaRt::make(c);
    size_t n = 4 * c.cipher->align() + 1;  // leaves align-3 >= 1 pad bytes
    Buf b1(ref::seal(c, 1, payload(n, 3), 4, ref::Bad::padbyte));
    Buf b2(ref::seal(c, 2, payload(n, 3), 4, ref::Bad::padlen));
    Pkt pk[2] = {b1.pkt, b2.pkt};
    EXPECT_EQ(eng.decrypt(*sa, pk), 0u);
    EXPECT_EQ(pk[0].st, Status::pad);
    EXPECT_EQ(pk[1].st, Status::pad);
}

TEST_P(CryptoEngine, ReplayedPacketsRejected) {
    SaCfg c = cfg(GetParam(), Dir::in);
    SaRt::Ptr sa = SaRt::make(c);
    Bytes w5 = ref::seal(c, 5, payload(30, 5), 4), w3 = ref::seal(c, 3, payload(30, 3), 4);
    Buf a(w5), b(w5), d(w3);
    Pkt pk[3] = {a.pkt, b.pkt, d.pkt};
    EXPECT_EQ(eng.decrypt(*sa, pk), 2u);
    EXPECT_EQ(pk[0].st, Status::ok);
    EXPECT_EQ(pk[1].st, Status::replay);  // the same packet twice in one burst
    EXPECT_EQ(pk[2].st, Status::ok);      // older but inside the window
    Buf e(w3);
    EXPECT_EQ(eng.decrypt(*sa, std::span(&e.pkt, 1)), 0u);
    EXPECT_EQ(e.pkt.st, Status::replay);
    Bytes w70 = ref::seal(c, 70, payload(30, 7), 4), w6 = ref::seal(c, 6, payload(30, 6), 4);
    Buf f(w70), g(w6);
    Pkt pk2[2] = {f.pkt, g.pkt};
    EXPECT_EQ(eng.decrypt(*sa, pk2), 1u);
    EXPECT_EQ(pk2[1].st, Status::replay);  // 70 - 6 = 64: left of a 64-packet window
}

TEST_P(CryptoEngine, EsnAcrossTwoToThe32) {
    const uint64_t base = (uint64_t(1) << 32) - 3;
    SaCfg co = cfg(GetParam(), Dir::out, true, base);
    SaRt::Ptr out = SaRt::make(co);
    std::vector<Buf> bufs;
    for (int i = 0; i < 6; i++) bufs.emplace_back(*out, payload(50, uint8_t(i)), 41);
    std::vector<Pkt> pk;
    for (Buf& b : bufs) pk.push_back(b.pkt);
    EXPECT_EQ(eng.encrypt(*out, pk), 6u);
    for (int i = 0; i < 6; i++) {
        ASSERT_EQ(pk[i].st, Status::ok);
        EXPECT_EQ(pk[i].seq, base + 1 + i);
        bufs[i].pkt = pk[i];
        Bytes got;
        uint8_t next;
        EXPECT_EQ(ref::open(co, base + 1 + i, bufs[i].wire(), got, next), "") << i;
        EXPECT_EQ(got, payload(50, uint8_t(i)));
    }
    // the receiver infers the high bits; sealed by OpenSSL, out of order across the wrap
    SaCfg ci = co;
    ci.dir = Dir::in;
    ci.seq = base;
    SaRt::Ptr in = SaRt::make(ci);
    const uint64_t order[] = {base + 1, base + 4, base + 2, base + 6, base + 3, base + 5};
    std::vector<Buf> rx;
    for (uint64_t s : order) rx.emplace_back(ref::seal(ci, s, payload(20, uint8_t(s)), 4));
    std::vector<Pkt> pr;
    for (Buf& b : rx) pr.push_back(b.pkt);
    EXPECT_EQ(eng.decrypt(*in, pr), 6u);
    for (size_t i = 0; i < 6; i++) {
        EXPECT_EQ(pr[i].st, Status::ok) << i;
        EXPECT_EQ(pr[i].seq, order[i]);
    }
    EXPECT_EQ(in->win.top(), base + 6);
    // the same low bits with the wrong high bits fail the ICV (AEAD: the AAD; else the hash)
    Buf old(ref::seal(ci, base + 7 - (uint64_t(1) << 32), payload(20, 1), 4));
    EXPECT_EQ(eng.decrypt(*in, std::span(&old.pkt, 1)), 0u);
    if (in->icvlen) {
        EXPECT_EQ(old.pkt.st, Status::icv);
    }
}

TEST_P(CryptoEngine, NonEsnStopsAtTwoToThe32) {
    SaCfg c = cfg(GetParam(), Dir::out, false, (uint64_t(1) << 32) - 2);
    SaRt::Ptr sa = SaRt::make(c);
    std::vector<Buf> bufs;
    for (int i = 0; i < 3; i++) bufs.emplace_back(*sa, payload(10, 1), 4);
    Pkt pk[3] = {bufs[0].pkt, bufs[1].pkt, bufs[2].pkt};
    EXPECT_EQ(eng.encrypt(*sa, pk), 1u);
    EXPECT_EQ(pk[0].st, Status::ok);
    EXPECT_EQ(pk[0].seq, 0xffffffffu);
    EXPECT_EQ(pk[1].st, Status::seqover);
    EXPECT_EQ(pk[2].st, Status::seqover);
}

INSTANTIATE_TEST_SUITE_P(
    Pairs, CryptoEngine,
    ::testing::Values(Pair{"aes_128_gcm", "null", 0}, Pair{"aes_256_gcm", "null", 0},
                      Pair{"chacha20_poly1305", "null", 0},
                      Pair{"aes_128_cbc", "hmac_sha1_96", 0},
                      Pair{"aes_128_cbc", "hmac_sha1_96", 16},
                      Pair{"aes_256_cbc", "hmac_sha1_96", 0},
                      Pair{"aes_128_cbc", "hmac_sha2_256_128", 0},
                      Pair{"aes_256_cbc", "hmac_sha2_256_128", 0},
                      Pair{"aes_128_cbc", "hmac_sha2_384_192", 0},
                      Pair{"aes_256_cbc", "hmac_sha2_512_256", 0},
                      Pair{"aes_ctr", "hmac_sha2_256_128", 0},
                      Pair{"aes_ctr", "hmac_sha1_96", 0},
                      Pair{"des3_cbc", "hmac_sha1_96", 0},
                      Pair{"des_56_cbc", "hmac_md5_96", 0},
                      Pair{"aes_128_cbc", "hmac_md5_96", 0},
                      Pair{"aes_128_cbc", "aes_xcbc_mac_96", 0},
                      Pair{"aes_ctr", "aes_xcbc_mac_96", 0},
                      Pair{"null", "hmac_sha2_256_128", 0}),
    [](const ::testing::TestParamInfo<Pair>& i) {
        std::string n = std::string(i.param.esp) + "__" + i.param.ah;
        if (i.param.akeylen) n += "_key" + std::to_string(i.param.akeylen);
        return n;
    });

TEST(CryptoEngineStatus, ShortMisalignedWrongSpiAndNoRoom) {
    Engine eng;
    SaCfg c = cfg(Pair{"aes_128_cbc", "hmac_sha2_256_128", 0}, Dir::in);
    SaRt::Ptr sa = SaRt::make(c);
    Bytes w = ref::seal(c, 1, payload(20, 1), 4);
    Bytes shortp(w.begin(), w.begin() + 8 + 16 + 16), odd = w, spi = w;
    odd.resize(w.size() - 1);
    spi[3] ^= 1;
    Buf a(shortp), b(odd), d(spi), e(w);
    e.pkt.len = uint32_t(w.size() + 1);  // longer than the buffer
    Pkt pk[4] = {a.pkt, b.pkt, d.pkt, e.pkt};
    EXPECT_EQ(eng.decrypt(*sa, pk), 0u);
    EXPECT_EQ(pk[0].st, Status::len);
    EXPECT_EQ(pk[1].st, Status::len);
    EXPECT_EQ(pk[2].st, Status::spi);
    EXPECT_EQ(pk[3].st, Status::len);
    EXPECT_EQ(sa->win.top(), 0u);
    SaCfg co = c;
    co.dir = Dir::out;
    SaRt::Ptr out = SaRt::make(co);
    Bytes mem(out->hdrlen() + 100);
    Pkt tight{std::span(mem), 100 - 1, 4};  // the trailer and ICV do not fit
    EXPECT_EQ(eng.encrypt(*out, std::span(&tight, 1)), 0u);
    EXPECT_EQ(tight.st, Status::len);
}

TEST(CryptoEngineStatus, NullNullCarriesThePayloadInClear) {
    Engine eng;
    SaCfg c;
    c.spi = 7;
    SaRt::Ptr out = SaRt::make(c);
    ASSERT_NE(out, nullptr);
    Buf b(*out, payload(10, 9), 41);
    ASSERT_EQ(eng.encrypt(*out, std::span(&b.pkt, 1)), 1u);
    EXPECT_EQ(b.pkt.len, 8 + 12u);  // 10 + 2 is already a multiple of 4
    Bytes got;
    uint8_t next = 0;
    EXPECT_EQ(ref::open(c, 1, b.wire(), got, next), "");
    EXPECT_EQ(got, payload(10, 9));
    c.dir = Dir::in;
    SaRt::Ptr in = SaRt::make(c);
    Buf r(b.wire());
    ASSERT_EQ(eng.decrypt(*in, std::span(&r.pkt, 1)), 1u);
    EXPECT_EQ(r.pkt.len, 10u);
    EXPECT_EQ(r.pkt.next, 41);
}

// The reference XCBC against RFC 3566 §4.6's test vectors, so the engine's XCBC is
// compared with something known good.
Bytes unhex(const char* s) {
    Bytes b;
    for (; s[0] && s[1]; s += 2) b.push_back(uint8_t(std::stoi(std::string(s, 2), nullptr, 16)));
    return b;
}

TEST(CryptoXcbc, ReferenceMatchesRfc3566) {
    Bytes k = unhex("000102030405060708090a0b0c0d0e0f");
    Bytes m(1000);
    for (size_t i = 0; i < 34; i++) m[i] = uint8_t(i);
    EXPECT_EQ(ref::xcbc_mac(k, m.data(), 0), unhex("75f0251d528ac01c4573dfd584d79f29"));
    EXPECT_EQ(ref::xcbc_mac(k, m.data(), 3), unhex("5b376580ae2f19afe7219ceef172756f"));
    EXPECT_EQ(ref::xcbc_mac(k, m.data(), 16), unhex("d2a246fa349b68a79998a4394ff7a263"));
    EXPECT_EQ(ref::xcbc_mac(k, m.data(), 20), unhex("47f51b4564966215b8985c63055ed308"));
    EXPECT_EQ(ref::xcbc_mac(k, m.data(), 32), unhex("f54f0ec8d2b9f3d36807734bd5283fd4"));
    EXPECT_EQ(ref::xcbc_mac(k, m.data(), 34), unhex("becbb3bccdb518a30677d5481fb6b4d8"));
    Bytes z(1000, 0);
    EXPECT_EQ(ref::xcbc_mac(k, z.data(), 1000), unhex("f0dafee895db30253761103b5d84528f"));
}

}  // namespace
}  // namespace devip::crypto
