// An independent ESP (RFC 4303) built on OpenSSL EVP, HMAC and AES-ECB, for the
// known-answer tests of crypto/engine.h: seal() makes a packet devip must open, open()
// checks a packet devip made. AES-XCBC-MAC-96 (RFC 3566) is built from AES-ECB here and
// checked against the RFC's own test vectors.
#pragma once
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "crypto/sa.h"

namespace devip::crypto::ref {

using Bytes = std::vector<uint8_t>;

inline void put32(uint8_t* p, uint32_t v) {
    p[0] = uint8_t(v >> 24), p[1] = uint8_t(v >> 16), p[2] = uint8_t(v >> 8), p[3] = uint8_t(v);
}

// OpenSSL 3 keeps single DES in the legacy provider; both are unloaded at exit (the leak
// checker sees them otherwise).
inline bool load_providers() {
    struct Loaded {
        OSSL_PROVIDER* legacy = OSSL_PROVIDER_load(nullptr, "legacy");
        OSSL_PROVIDER* dflt = OSSL_PROVIDER_load(nullptr, "default");
        ~Loaded() {
            if (dflt) OSSL_PROVIDER_unload(dflt);
            if (legacy) OSSL_PROVIDER_unload(legacy);
        }
    };
    static Loaded p;
    return p.legacy && p.dflt;
}

inline Bytes aes_ecb(const Bytes& key, const uint8_t* in) {
    Bytes out(16 + 16);
    EVP_CIPHER_CTX* x = EVP_CIPHER_CTX_new();
    int n = 0;
    EVP_EncryptInit_ex(x, key.size() == 16 ? EVP_aes_128_ecb() : EVP_aes_256_ecb(), nullptr,
                       key.data(), nullptr);
    EVP_CIPHER_CTX_set_padding(x, 0);
    EVP_EncryptUpdate(x, out.data(), &n, in, 16);
    EVP_CIPHER_CTX_free(x);
    out.resize(16);
    return out;
}

// RFC 3566 §4: K1, K2, K3 from K; CBC-MAC with K1; the last block XORed with K2 if full,
// else padded with 0x80 00… and XORed with K3.
inline Bytes xcbc_mac(const Bytes& k, const uint8_t* m, size_t n) {
    uint8_t c1[16], c2[16], c3[16];
    std::memset(c1, 1, 16), std::memset(c2, 2, 16), std::memset(c3, 3, 16);
    Bytes k1 = aes_ecb(k, c1), k2 = aes_ecb(k, c2), k3 = aes_ecb(k, c3);
    uint8_t e[16] = {};
    size_t blocks = n == 0 ? 1 : (n + 15) / 16;
    for (size_t b = 0; b < blocks; b++) {
        uint8_t blk[16] = {};
        size_t len = b + 1 < blocks ? 16 : n - b * 16;
        std::memcpy(blk, m + b * 16, len);
        if (b + 1 == blocks) {
            if (len == 16) {
                for (int i = 0; i < 16; i++) blk[i] ^= k2[i];
            } else {
                blk[len] = 0x80;
                for (int i = 0; i < 16; i++) blk[i] ^= k3[i];
            }
        }
        for (int i = 0; i < 16; i++) blk[i] ^= e[i];
        Bytes o = aes_ecb(k1, blk);
        std::memcpy(e, o.data(), 16);
    }
    return Bytes(e, e + 16);
}

inline const EVP_MD* md(const AuthAlg& a) {
    switch (a.hash) {
    case IMB_AUTH_HMAC_SHA_1: return EVP_sha1();
    case IMB_AUTH_MD5: return EVP_md5();
    case IMB_AUTH_HMAC_SHA_256: return EVP_sha256();
    case IMB_AUTH_HMAC_SHA_384: return EVP_sha384();
    case IMB_AUTH_HMAC_SHA_512: return EVP_sha512();
    default: return nullptr;
    }
}

// The ICV of a non-AEAD SA: over header..trailer, then seq hi under ESN.
inline Bytes icv(const SaCfg& c, const Bytes& pkt, size_t textend, uint64_t seq) {
    Bytes m(pkt.begin(), pkt.begin() + long(textend));
    if (c.esn) {
        m.resize(m.size() + 4);
        put32(m.data() + textend, uint32_t(seq >> 32));
    }
    Bytes t;
    if (c.auth->hash == IMB_AUTH_AES_XCBC) {
        t = xcbc_mac(c.akey, m.data(), m.size());
    } else {
        unsigned n = 0;
        t.resize(EVP_MAX_MD_SIZE);
        HMAC(md(*c.auth), c.akey.data(), int(c.akey.size()), m.data(), m.size(), t.data(), &n);
        t.resize(n);
    }
    t.resize(c.auth->icvlen);
    return t;
}

inline const EVP_CIPHER* evp(const CipherAlg& c) {
    std::string_view n = c.name;
    if (n == "des_56_cbc") return EVP_des_cbc();
    if (n == "des3_cbc") return EVP_des_ede3_cbc();
    if (n == "aes_128_cbc") return EVP_aes_128_cbc();
    if (n == "aes_256_cbc") return EVP_aes_256_cbc();
    if (n == "aes_ctr") return EVP_aes_128_ctr();
    if (n == "aes_128_gcm") return EVP_aes_128_gcm();
    if (n == "aes_256_gcm") return EVP_aes_256_gcm();
    if (n == "chacha20_poly1305") return EVP_chacha20_poly1305();
    return nullptr;
}

// Run the cipher over text in place; AEAD: tag out (enc) or checked (dec).
inline bool run(const SaCfg& c, bool enc, const uint8_t* iv8, const uint8_t* aad, int aadlen,
                uint8_t* text, int n, uint8_t* tag) {
    const CipherAlg& a = *c.cipher;
    if (a.kind == Kind::null) return true;
    uint8_t iv[16] = {};
    int ivlen = a.ivlen;
    if (a.kind == Kind::cbc) {
        std::memcpy(iv, iv8, a.ivlen);
    } else {  // salt/nonce then the 8 wire bytes; CTR adds the block counter 1 (RFC 3686)
        std::memcpy(iv, c.ckey.data() + a.keylen, 4);
        std::memcpy(iv + 4, iv8, 8);
        ivlen = 12;
        if (a.kind == Kind::ctr) iv[15] = 1, ivlen = 16;
    }
    EVP_CIPHER_CTX* x = EVP_CIPHER_CTX_new();
    bool okk = EVP_CipherInit_ex(x, evp(a), nullptr, nullptr, nullptr, enc) == 1;
    if (a.aead()) EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_IVLEN, ivlen, nullptr);
    okk = okk && EVP_CipherInit_ex(x, nullptr, nullptr, c.ckey.data(), iv, enc) == 1;
    EVP_CIPHER_CTX_set_padding(x, 0);
    int outl = 0;
    if (a.aead()) okk = okk && EVP_CipherUpdate(x, nullptr, &outl, aad, aadlen) == 1;
    okk = okk && EVP_CipherUpdate(x, text, &outl, text, n) == 1;
    if (a.aead() && !enc) EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, 16, tag);
    uint8_t fin[32];
    okk = okk && EVP_CipherFinal_ex(x, fin, &outl) == 1;
    if (a.aead() && enc) EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, 16, tag);
    EVP_CIPHER_CTX_free(x);
    return okk;
}

inline int aad_of(const SaCfg& c, uint64_t seq, uint8_t* aad) {
    put32(aad, c.spi);
    if (!c.esn) {
        put32(aad + 4, uint32_t(seq));
        return 8;
    }
    put32(aad + 4, uint32_t(seq >> 32));
    put32(aad + 8, uint32_t(seq));
    return 12;
}

enum class Bad { none, padbyte, padlen };

// An ESP packet of `payload` with sequence number seq.
inline Bytes seal(const SaCfg& c, uint64_t seq, const Bytes& payload, uint8_t next,
                  Bad bad = Bad::none) {
    const CipherAlg& a = *c.cipher;
    size_t h = 8 + a.ivlen, al = a.align();
    size_t text = (payload.size() + 2 + al - 1) / al * al, pad = text - payload.size() - 2;
    size_t icvlen = a.aead() ? a.icvlen : c.auth->icvlen;
    Bytes p(h + text + icvlen);
    put32(p.data(), c.spi);
    put32(p.data() + 4, uint32_t(seq));
    if (a.kind == Kind::cbc) {
        RAND_bytes(p.data() + 8, a.ivlen);
    } else if (a.ivlen == 8) {
        put32(p.data() + 8, uint32_t(seq >> 32));
        put32(p.data() + 12, uint32_t(seq));
    }
    if (!payload.empty()) std::memcpy(p.data() + h, payload.data(), payload.size());
    uint8_t* t = p.data() + h + payload.size();
    for (size_t i = 0; i < pad; i++) t[i] = uint8_t(i + 1);
    t[pad] = uint8_t(pad);
    t[pad + 1] = next;
    if (bad == Bad::padbyte) t[0] ^= 0x40;
    if (bad == Bad::padlen) t[pad] = uint8_t(text - 1);
    uint8_t aad[12];
    int aadlen = aad_of(c, seq, aad);
    if (!run(c, true, p.data() + 8, aad, aadlen, p.data() + h, int(text), p.data() + h + text))
        return {};
    if (!a.aead() && icvlen) {
        Bytes t2 = icv(c, p, h + text, seq);
        std::memcpy(p.data() + h + text, t2.data(), icvlen);
    }
    return p;
}

// Opens a packet made by devip: "" and the payload, or what is wrong.
inline std::string open(const SaCfg& c, uint64_t seq, Bytes p, Bytes& payload, uint8_t& next) {
    const CipherAlg& a = *c.cipher;
    size_t h = 8 + a.ivlen, icvlen = a.aead() ? a.icvlen : c.auth->icvlen;
    if (p.size() < h + icvlen + 2) return "short";
    size_t textend = p.size() - icvlen, text = textend - h;
    if (text % a.align() != 0) return "misaligned";
    uint32_t spi = uint32_t(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3];
    uint32_t lo = uint32_t(p[4]) << 24 | p[5] << 16 | p[6] << 8 | p[7];
    if (spi != c.spi) return "spi";
    if (lo != uint32_t(seq)) return "seq";
    if (!a.aead() && icvlen && icv(c, p, textend, seq) != Bytes(p.begin() + long(textend), p.end()))
        return "icv";
    uint8_t aad[12];
    int aadlen = aad_of(c, seq, aad);
    if (!run(c, false, p.data() + 8, aad, aadlen, p.data() + h, int(text), p.data() + textend))
        return "decrypt";
    size_t pad = p[textend - 2];
    if (pad + 2 > text) return "padlen";
    for (size_t i = 0; i < pad; i++)
        if (p[textend - 2 - pad + i] != i + 1) return "padbyte";
    next = p[textend - 1];
    payload.assign(p.begin() + long(h), p.begin() + long(textend - 2 - pad));
    return "";
}

}  // namespace devip::crypto::ref
