// crypto/alg.h and SaCfg: names, sizes and esp.c's error strings (ip3.md §3.10, §4.9).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "crypto/sa.h"

namespace devip::crypto {
namespace {

std::string hex(size_t bytes) { return std::string(2 * bytes, 'a'); }

TEST(CryptoAlg, EspNamesOfTheIssue) {
    for (const char* n : {"null", "des_56_cbc", "des3_cbc", "aes_128_cbc", "aes_256_cbc",
                          "aes_ctr", "aes_128_gcm", "aes_256_gcm", "chacha20_poly1305"})
        EXPECT_NE(find_cipher(n), nullptr) << n;
    EXPECT_EQ(kNciphers, 9u);
    EXPECT_EQ(find_cipher("aes128-gcm16"), find_cipher("aes_128_gcm"));
    EXPECT_EQ(find_cipher("aes_192_cbc"), nullptr);
}

TEST(CryptoAlg, AhNamesOfTheIssue) {
    for (const char* n : {"null", "hmac_sha1_96", "hmac_md5_96", "hmac_sha2_256_128",
                          "hmac_sha2_384_192", "hmac_sha2_512_256", "aes_xcbc_mac_96"})
        EXPECT_NE(find_auth(n), nullptr) << n;
    EXPECT_EQ(kNauths, 7u);
    EXPECT_EQ(find_auth("hmac-sha2-256-128"), find_auth("hmac_sha2_256_128"));
    EXPECT_EQ(find_auth("hmac_sha1"), nullptr);
}

TEST(CryptoAlg, Sizes) {
    const CipherAlg* g = find_cipher("aes_128_gcm");
    EXPECT_EQ(g->keylen, 16);
    EXPECT_EQ(g->saltlen, 4);
    EXPECT_EQ(g->ivlen, 8);
    EXPECT_EQ(g->icvlen, 16);
    EXPECT_TRUE(g->aead());
    const CipherAlg* ctr = find_cipher("aes_ctr");  // RFC 3686: key + 4-byte nonce
    EXPECT_EQ(ctr->keylen + ctr->saltlen, 20);
    EXPECT_EQ(ctr->align(), 4u);
    const CipherAlg* cc = find_cipher("chacha20_poly1305");
    EXPECT_EQ(cc->keylen + cc->saltlen, 36);
    EXPECT_EQ(find_cipher("des3_cbc")->keylen, 24);
    EXPECT_EQ(find_cipher("aes_256_cbc")->align(), 16u);
    EXPECT_EQ(find_auth("hmac_sha2_384_192")->icvlen, 24);
    EXPECT_EQ(find_auth("hmac_sha2_512_256")->icvlen, 32);
    EXPECT_EQ(find_auth("aes_xcbc_mac_96")->icvlen, 12);
}

TEST(CryptoAlg, ErrorStrings) {
    SaCfg c;
    EXPECT_STREQ(c.set_esp("rot13", "").text, "unknown algorithm");
    EXPECT_STREQ(c.set_ah("sha1", "").text, "unknown algorithm");
    EXPECT_STREQ(c.set_esp("aes_128_cbc", hex(15)).text, "key not required length");
    EXPECT_STREQ(c.set_esp("aes_128_cbc", "").text, "key not required length");
    EXPECT_STREQ(c.set_esp("aes_128_cbc", hex(16) + "a").text, "key not required length");
    EXPECT_STREQ(c.set_esp("null", "00").text, "key not required length");
    EXPECT_STREQ(c.set_esp("aes_128_gcm", hex(16)).text, "key not required length");
    std::string bad = hex(16);
    bad[5] = 'g';
    EXPECT_STREQ(c.set_esp("aes_128_cbc", bad).text, "non-hex character in key");
    EXPECT_EQ(c.cipher->name, "null");  // a failed set changes nothing
    EXPECT_FALSE(c.set_esp("aes_128_gcm", hex(20)));
    EXPECT_FALSE(c.set_esp("null", ""));
}

TEST(CryptoAlg, Sha1TakesTwentyOrSixteenByteKeys) {
    SaCfg c;
    EXPECT_FALSE(c.set_ah("hmac_sha1_96", hex(20)));
    EXPECT_EQ(c.akey.size(), 20u);
    EXPECT_FALSE(c.set_ah("hmac_sha1_96", hex(16)));
    EXPECT_EQ(c.akey.size(), 16u);
    EXPECT_STREQ(c.set_ah("hmac_sha1_96", hex(18)).text, "key not required length");
    EXPECT_STREQ(c.set_ah("hmac_md5_96", hex(20)).text, "key not required length");
}

TEST(CryptoAlg, KeyBytesInTheOrderWritten) {
    SaCfg c;
    ASSERT_FALSE(c.set_ah("hmac_md5_96", "00112233445566778899aAbBcCdDeEfF"));
    EXPECT_EQ(c.akey.front(), 0x00);
    EXPECT_EQ(c.akey[1], 0x11);
    EXPECT_EQ(c.akey.back(), 0xff);
}

TEST(CryptoAlg, AeadNeedsAhNull) {
    SaCfg c;
    ASSERT_FALSE(c.set_esp("aes_128_gcm", hex(20)));
    ASSERT_FALSE(c.set_ah("hmac_sha1_96", hex(20)));
    EXPECT_STREQ(c.check().text, "AEAD cipher takes ah null");
    Err e;
    EXPECT_EQ(SaRt::make(c, &e), nullptr);
    EXPECT_STREQ(e.text, "AEAD cipher takes ah null");
    ASSERT_FALSE(c.set_ah("null", ""));
    EXPECT_FALSE(c.check());
    EXPECT_STREQ(c.set_window(32).text, "replay window not in 64..4096");
    EXPECT_STREQ(c.set_window(4097).text, "replay window not in 64..4096");
    EXPECT_FALSE(c.set_window(4096));
}

TEST(CryptoSa, RuntimeIsCacheAlignedAndSequenceOnItsOwnLine) {
    SaCfg c;
    c.seq = 41;
    SaRt::Ptr sa = SaRt::make(c);
    ASSERT_NE(sa, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(sa.get()) % 64, 0u);
    EXPECT_EQ(offsetof(SaRt, seq) % 64, 0u);
    EXPECT_GE(offsetof(SaRt, win) - offsetof(SaRt, seq), 64u);
    EXPECT_EQ(sa->reserve(8), 42u);
    EXPECT_EQ(sa->reserve(1), 50u);
}

}  // namespace
}  // namespace devip::crypto

namespace devip::crypto {
namespace {

// The SA's own mapping carries VM_DONTDUMP ("dd" in smaps' VmFlags).
TEST(CryptoSa, KeysStayOutOfCoreDumps) {
    SaCfg c;
    ASSERT_FALSE(c.set_esp("aes_128_gcm", std::string(40, '7')));
    SaRt::Ptr sa = SaRt::make(c);
    ASSERT_NE(sa, nullptr);
    uintptr_t at = reinterpret_cast<uintptr_t>(sa.get());
    FILE* f = fopen("/proc/self/smaps", "r");
    ASSERT_NE(f, nullptr);
    char line[512];
    bool inside = false, found = false, dd = false;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, ' ') - line < 40 &&
            line[strlen(line) - 1] == '\n' && strchr(line, '-') < strchr(line, ' ')) {
            inside = at >= lo && at < hi;
            found = found || inside;
        } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            dd = strstr(line, " dd") != nullptr;
            inside = false;
        }
    }
    fclose(f);
    EXPECT_TRUE(found);
    EXPECT_TRUE(dd);
}

}  // namespace
}  // namespace devip::crypto
