// ESP algorithm table: ciphers (`esp`) and authenticators (`ah`) by name, with the sizes
// and ipsec-mb modes the SA and the engine need. RFC 4303 (ESP), RFC 2405 (DES), RFC 2451
// (3DES), RFC 3602 (AES-CBC), RFC 3686 (AES-CTR), RFC 4106 (AES-GCM), RFC 7634 (ChaCha20-
// Poly1305), RFC 2403/2404 (HMAC-MD5/SHA1-96), RFC 4868 (HMAC-SHA2), RFC 3566 (AES-XCBC).
// Names are 9front's (ip3.md §4.9) plus the issue's; error strings are esp.c's (§3.10).
#pragma once
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include <intel-ipsec-mb.h>

namespace devip::crypto {

// An error is a value whose text is exactly what the user reads; nullptr is success.
// (proto::Err has the same shape; crypto/ is a leaf and cannot include proto/.)
struct Err {
    const char* text = nullptr;  // nullptr means success
    constexpr explicit operator bool() const { return text != nullptr; }
};
inline constexpr Err ok{};
inline constexpr Err Ebadformat{"bad format"};                  // esp.c: field count
inline constexpr Err Eunknownalg{"unknown algorithm"};          // esp.c setalg
inline constexpr Err Ekeylen{"key not required length"};        // esp.c setalg
inline constexpr Err Ekeyhex{"non-hex character in key"};       // esp.c setalg
inline constexpr Err Enomem{"kernel allocate failed"};          // port/error.h Enomem

enum class Kind : uint8_t { null, cbc, ctr, gcm, chacha };    // how the engine drives it

struct CipherAlg {
    std::string_view name;          // as written after `esp`
    std::string_view alias;         // RFC spelling, "" if none
    Kind kind;                      // engine path
    uint8_t keylen;                 // cipher key bytes (without salt)
    uint8_t saltlen;                // nonce/salt bytes after the key (CTR, GCM, ChaCha20)
    uint8_t ivlen;                  // IV bytes on the wire
    uint8_t block;                  // padding alignment (payload+2 multiple of max(4, block))
    uint8_t icvlen;                 // AEAD tag bytes; 0 for non-AEAD
    IMB_CIPHER_MODE mode;           // ipsec-mb cipher mode
    IMB_HASH_ALG aead_hash;         // ipsec-mb hash for AEAD, IMB_AUTH_NULL otherwise
    bool aead() const { return icvlen != 0; }
    uint32_t align() const { return block < 4 ? 4 : block; }
};

struct AuthAlg {
    std::string_view name;          // as written after `ah`
    std::string_view alias;         // RFC spelling, "" if none
    uint8_t keylen;                 // key bytes (RFC length)
    uint8_t altkeylen;              // another accepted key length, 0 if none (9front SHA1)
    uint8_t icvlen;                 // truncated ICV bytes on the wire
    uint8_t blocklen;               // hash block bytes (HMAC pad length), 0 for non-HMAC
    uint8_t statelen;               // ipsec-mb ipad/opad digest bytes
    IMB_HASH_ALG hash;              // ipsec-mb hash id
};

extern const CipherAlg kCiphers[];
extern const size_t kNciphers;
extern const AuthAlg kAuths[];
extern const size_t kNauths;

const CipherAlg* find_cipher(std::string_view name);
const AuthAlg* find_auth(std::string_view name);

// Parse `hex` as the key (and salt) of `c`: the hex string must be exactly twice the key
// length, bytes in the order written (RFC 4303; 9front reverses them, we do not).
Err parse_key(const CipherAlg& c, std::string_view hex, std::vector<uint8_t>& key);
Err parse_key(const AuthAlg& a, std::string_view hex, std::vector<uint8_t>& key);

// Exact key length test: the null algorithms take no key.
bool key_ok(const CipherAlg& c, size_t n);
bool key_ok(const AuthAlg& a, size_t n);

}  // namespace devip::crypto
