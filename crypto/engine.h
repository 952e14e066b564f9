// Per-worker ESP engine (RFC 4303 §2, §3.3, §3.4) on one ipsec-mb manager. A burst of
// packets of one SA goes through ipsec-mb's job API in one pass (AES-GCM through its direct
// API, which measures faster: perf/crypto_bench); each packet gets a status.
// Encrypt: the caller puts the payload at buf[sa.hdrlen()] and leaves room for the trailer
// and ICV; the engine writes SPI, sequence number, IV, padding 1,2,3…, pad length, next
// header and ICV. Decrypt: the anti-replay check, the ICV check, decryption, the padding
// check, then the window update, in that order; the payload is left in place.
#pragma once
#include <cstdint>
#include <span>

#include <intel-ipsec-mb.h>

#include "crypto/sa.h"

namespace devip::crypto {

enum class Status : uint8_t {
    ok,                                        // done
    len,                                       // too short, misaligned, or no room
    spi,                                       // SPI is not the SA's
    replay,                                    // seen already or left of the window
    icv,                                       // ICV mismatch (integrity failure)
    pad,                                       // padding not 1,2,3… or longer than the text
    seqover,                                   // non-ESN SA reached 2^32-1 (RFC 4303 §3.3.3)
    fail,                                      // ipsec-mb rejected the job
    expired,                                   // a hard lifetime of the SA ran out
};

struct Pkt {
    std::span<uint8_t> buf;                    // from the SPI on; capacity for encrypt
    uint32_t len = 0;                          // enc: payload in, ESP out; dec: ESP in, payload out
    uint8_t next = 0;                          // next header: enc in, dec out
    Status st = Status::ok;                    // out
    uint64_t seq = 0;                          // out: the 64-bit sequence number
};

class Engine {
public:
    static constexpr uint32_t kBurst = 64;     // packets per ipsec-mb pass

    Engine();
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Both return the number of packets with Status::ok.
    uint32_t encrypt(SaRt& sa, std::span<Pkt> pkts);
    uint32_t decrypt(SaRt& sa, std::span<Pkt> pkts);

    const char* arch() const;                  // ipsec-mb code path in use

private:
    struct Slot {                              // per packet in flight
        alignas(16) uint8_t tag[32];           // computed ICV
        alignas(16) uint8_t rx[32];            // received ICV (ESN moves it out of the way)
        alignas(16) uint8_t iv[16];            // counter block / nonce
        uint8_t aad[12];                       // SPI, [seq hi], seq lo
        uint32_t textend;                      // end of the trailer in buf
    };

    bool refused(SaRt& sa, std::span<Pkt> pkts);  // expired: every packet refused
    void used(SaRt& sa, std::span<const Pkt> pkts, const uint32_t* len);  // lifetime usage
    uint32_t enc_burst(SaRt& sa, std::span<Pkt> pkts);
    uint32_t dec_burst(SaRt& sa, std::span<Pkt> pkts);
    void setup(SaRt& sa, IMB_JOB* j, Pkt& p, Slot& s, bool enc);
    void gcm(SaRt& sa, uint8_t* text, uint32_t len, Slot& s, uint8_t* tag, bool enc);

    IMB_MGR* mgr_;                             // owned
    IMB_ARCH arch_;                            // chosen by init_mb_mgr_auto
    Slot slot_[kBurst];                        // scratch for one pass
    gcm_context_data gctx_;                    // direct GCM API state, one packet at a time
    uint8_t rand_[kBurst * 16];                // CBC IVs, refilled per pass
};

}  // namespace devip::crypto
