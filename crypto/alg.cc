// The algorithm tables (alg.h). One row per name; aliases are the RFC spellings.
#include "crypto/alg.h"

namespace devip::crypto {

// name, alias, kind, key, salt, iv, block, icv, ipsec-mb mode, AEAD hash
const CipherAlg kCiphers[] = {
    {"null", "", Kind::null, 0, 0, 0, 1, 0, IMB_CIPHER_NULL, IMB_AUTH_NULL},
    {"des_56_cbc", "des-cbc", Kind::cbc, 8, 0, 8, 8, 0, IMB_CIPHER_DES, IMB_AUTH_NULL},
    {"des3_cbc", "3des-cbc", Kind::cbc, 24, 0, 8, 8, 0, IMB_CIPHER_DES3, IMB_AUTH_NULL},
    {"aes_128_cbc", "aes128-cbc", Kind::cbc, 16, 0, 16, 16, 0, IMB_CIPHER_CBC, IMB_AUTH_NULL},
    {"aes_256_cbc", "aes256-cbc", Kind::cbc, 32, 0, 16, 16, 0, IMB_CIPHER_CBC, IMB_AUTH_NULL},
    {"aes_ctr", "aes128-ctr", Kind::ctr, 16, 4, 8, 1, 0, IMB_CIPHER_CNTR, IMB_AUTH_NULL},
    {"aes_128_gcm", "aes128-gcm16", Kind::gcm, 16, 4, 8, 1, 16, IMB_CIPHER_GCM,
     IMB_AUTH_AES_GMAC},
    {"aes_256_gcm", "aes256-gcm16", Kind::gcm, 32, 4, 8, 1, 16, IMB_CIPHER_GCM,
     IMB_AUTH_AES_GMAC},
    {"chacha20_poly1305", "chacha20poly1305", Kind::chacha, 32, 4, 8, 1, 16,
     IMB_CIPHER_CHACHA20_POLY1305, IMB_AUTH_CHACHA20_POLY1305},
};
const size_t kNciphers = sizeof kCiphers / sizeof kCiphers[0];

// name, alias, key, alternative key, icv, HMAC block, ipad/opad state, ipsec-mb hash
const AuthAlg kAuths[] = {
    {"null", "", 0, 0, 0, 0, 0, IMB_AUTH_NULL},
    {"hmac_sha1_96", "hmac-sha1-96", 20, 16, 12, 64, 20, IMB_AUTH_HMAC_SHA_1},
    {"hmac_md5_96", "hmac-md5-96", 16, 0, 12, 64, 16, IMB_AUTH_MD5},
    {"hmac_sha2_256_128", "hmac-sha2-256-128", 32, 0, 16, 64, 32, IMB_AUTH_HMAC_SHA_256},
    {"hmac_sha2_384_192", "hmac-sha2-384-192", 48, 0, 24, 128, 64, IMB_AUTH_HMAC_SHA_384},
    {"hmac_sha2_512_256", "hmac-sha2-512-256", 64, 0, 32, 128, 64, IMB_AUTH_HMAC_SHA_512},
    {"aes_xcbc_mac_96", "aes-xcbc-mac-96", 16, 0, 12, 0, 0, IMB_AUTH_AES_XCBC},
};
const size_t kNauths = sizeof kAuths / sizeof kAuths[0];

const CipherAlg* find_cipher(std::string_view name) {
    for (const CipherAlg& c : std::span(kCiphers, kNciphers))
        if (name == c.name || (!c.alias.empty() && name == c.alias)) return &c;
    return nullptr;
}

const AuthAlg* find_auth(std::string_view name) {
    for (const AuthAlg& a : std::span(kAuths, kNauths))
        if (name == a.name || (!a.alias.empty() && name == a.alias)) return &a;
    return nullptr;
}

bool key_ok(const CipherAlg& c, size_t n) { return n == size_t(c.keylen) + c.saltlen; }

bool key_ok(const AuthAlg& a, size_t n) {
    return n == a.keylen || (a.altkeylen != 0 && n == a.altkeylen);
}

namespace {

int hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

// esp.c checks the length first, then the digits.
template <class Alg>
Err parse(const Alg& alg, std::string_view hex, std::vector<uint8_t>& key) {
    key.clear();
    if (hex.size() % 2 != 0 || !key_ok(alg, hex.size() / 2)) return Ekeylen;
    key.reserve(hex.size() / 2);
    for (size_t i = 0; i < hex.size(); i += 2) {
        int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);
        if (hi < 0 || lo < 0) {
            key.assign(key.size(), 0);
            key.clear();
            return Ekeyhex;
        }
        key.push_back(uint8_t(hi << 4 | lo));
    }
    return ok;
}

}  // namespace

Err parse_key(const CipherAlg& c, std::string_view hex, std::vector<uint8_t>& key) {
    return parse(c, hex, key);
}

Err parse_key(const AuthAlg& a, std::string_view hex, std::vector<uint8_t>& key) {
    return parse(a, hex, key);
}

}  // namespace devip::crypto
