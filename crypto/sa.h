// Security associations (RFC 4301 §4.4.2): SaCfg is the control thread's configuration
// (names, keys as written, SPI, ESN, window); SaRt is what a worker reads per packet
// (cache-aligned, keys expanded once, outbound sequence number on its own cache line,
// inbound anti-replay window). SaRt lives in its own mapping, kept out of core dumps,
// and is zeroed before it is unmapped.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include <intel-ipsec-mb.h>

#include "crypto/alg.h"
#include "crypto/replay.h"

namespace devip::crypto {

enum class Dir : uint8_t { out, in };

inline constexpr Err Ewindow{"replay window not in 64..4096"};
inline constexpr Err Eaeadah{"AEAD cipher takes ah null"};
inline constexpr Err Ereplayesn{"extended sequence numbers need the replay window"};

struct SaCfg {
    const CipherAlg* cipher = &kCiphers[0];    // `esp` algorithm, null at first
    const AuthAlg* auth = &kAuths[0];          // `ah` algorithm, null at first
    std::vector<uint8_t> ckey;                 // cipher key then salt/nonce, as written
    std::vector<uint8_t> akey;                 // authentication key
    uint32_t spi = 0;                          // SPI, host order
    Dir dir = Dir::out;                        // one direction per SA
    bool esn = false;                          // 64-bit sequence numbers
    uint32_t window = ReplayWindow::kMin;      // inbound anti-replay window
    uint64_t seq = 0;                          // last number sent (out) or seen (in); tests
    bool padcheck = true;                      // input: pad bytes must be 1,2,3… (9front's
                                               // are never written, so its peers skip this)
    bool replay = true;                        // input: anti-replay on (RFC 4303 §3.4.3 lets
                                               // a receiver turn it off; not with ESN)
    // hard lifetimes (RFC 4301 §4.4.2.1; 0: none): once reached the SA refuses every packet
    uint64_t life_pkts = 0;                    // packets
    uint64_t life_bytes = 0;                   // inner (payload) bytes
    uint64_t used_pkts = 0, used_bytes = 0;    // carried over when the runtime is rebuilt
    bool expired = false;                      // a lifetime ran out (seconds: the control side)
    // usage up to limits (0: none) reached
    static bool spent(uint64_t lp, uint64_t lb, uint64_t up, uint64_t ub) {
        return (lp && up >= lp) || (lb && ub >= lb);
    }

    SaCfg() = default;
    SaCfg(const SaCfg&) = default;
    SaCfg& operator=(const SaCfg&) = default;
    ~SaCfg() { wipe(); }

    // `esp alg [hexkey]` and `ah alg [hexkey]`, with esp.c's errors.
    Err set_esp(std::string_view alg, std::string_view hex);
    Err set_ah(std::string_view alg, std::string_view hex);
    Err set_window(uint32_t w);
    Err check() const;                         // the pair is usable
    void wipe();                               // zero the keys
};

// Worker-side runtime. Made only by make(); the pointer frees it.
struct alignas(64) SaRt {
    struct Free { void operator()(SaRt* s) const; };
    using Ptr = std::unique_ptr<SaRt, Free>;
    static Ptr make(const SaCfg& c, Err* err = nullptr);

    // read-only after make()
    const CipherAlg* cipher;                   // `esp` row
    const AuthAlg* auth;                       // `ah` row
    uint32_t spi;                              // SPI, host order
    Dir dir;                                   // direction
    bool esn;                                  // 64-bit sequence numbers
    bool padcheck;                             // input: check the pad bytes' values
    bool replay;                               // input: anti-replay window checked
    uint8_t ivlen;                             // IV bytes on the wire
    uint8_t align;                             // ciphertext alignment: max(4, block)
    uint8_t icvlen;                            // ICV bytes (AEAD tag or truncated MAC)
    uint8_t salt[4];                           // CTR nonce / GCM and ChaCha20 salt
    alignas(16) uint8_t enc_keys[16 * 15];     // AES encryption schedule / ChaCha20 key
    alignas(16) uint8_t dec_keys[16 * 15];     // AES decryption schedule
    alignas(16) uint64_t des_ks[3][16];        // DES key schedules (one, or three for 3DES)
    const void* des3_ks[3];                    // 3DES: ipsec-mb wants an array of pointers
    alignas(64) gcm_key_data gcm;              // AES-GCM expanded key and hash subkeys
    alignas(16) uint8_t ipad[64];              // HMAC: hash state after key ^ ipad
    alignas(16) uint8_t opad[64];              // HMAC: hash state after key ^ opad
    alignas(16) uint32_t xcbc_k1[4 * 11];      // AES-XCBC: K1 schedule
    alignas(16) uint8_t xcbc_k2[16];           // AES-XCBC: K2
    alignas(16) uint8_t xcbc_k3[16];           // AES-XCBC: K3

    // outbound, written by every worker sending on the SA
    alignas(64) std::atomic<uint64_t> seq;     // last sequence number handed out

    // lifetimes: read-only limits, then usage written by every worker using the SA after
    // each pass (only when it has a limit), so a worker may overshoot by one pass
    uint64_t life_pkts, life_bytes;            // 0: none
    alignas(64) std::atomic<uint64_t> used_pkts, used_bytes;
    std::atomic<uint64_t> expired_drops;       // packets refused once expired
    std::atomic<bool> expired;                 // set by a worker or the control thread

    // inbound, written by every worker decrypting on the SA (lock-free)
    alignas(64) ReplayWindow win;              // anti-replay window

    // Reserve n consecutive outbound numbers; returns the first.
    uint64_t reserve(uint32_t n) { return seq.fetch_add(n, std::memory_order_relaxed) + 1; }
    uint32_t hdrlen() const { return 8 + ivlen; }        // SPI, sequence, IV
    // ESP bytes (header to ICV) for a payload of n bytes.
    uint32_t esp_len(uint32_t n) const {
        return hdrlen() + (n + 2 + align - 1) / align * align + icvlen;
    }
    uint32_t overhead_max() const { return hdrlen() + align - 1 + 2 + icvlen; }

private:
    SaRt(const SaCfg& c);
    ~SaRt() = default;
};

}  // namespace devip::crypto
