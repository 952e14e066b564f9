// ESP crypto on one core: devip's crypto::Engine against raw ipsec-mb on the same buffers,
// interleaved in one run. Raw = the same cipher and ICV over the same bytes in place
// through ipsec-mb alone (the direct GCM API; the job API for CBC+HMAC and ChaCha20-Poly1305),
// without ESP framing, sequence numbers, padding or anti-replay: the ceiling the engine
// is held against (issue 9 §5: ≥ 0.8×). Bursts of 64 packets; sizes are inner packet
// bytes; imix is 7:4:1 of 64, 576 and 1400. Gbit/s of plaintext.
// Usage: ipsec_bench [SECONDS_PER_CASE (default 0.5)] [REPS (default 3)]
// Prints one JSON object per line: {"alg","size","dir","who","gbps"} then a summary table.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <intel-ipsec-mb.h>

#include "crypto/engine.h"

namespace {

using namespace devip::crypto;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kPkts = Engine::kBurst;

struct Alg {
    const char* name;  // as printed
    const char* esp;   // devip's names
    const char* ah;
};
constexpr Alg kAlgs[] = {
    {"aes_128_gcm", "aes_128_gcm", "null"},
    {"aes_256_gcm", "aes_256_gcm", "null"},
    {"aes_128_cbc+hmac_sha1_96", "aes_128_cbc", "hmac_sha1_96"},
    {"chacha20_poly1305", "chacha20_poly1305", "null"},
};

std::vector<uint32_t> sizes_of(const std::string& s) {
    if (s != "imix") return std::vector<uint32_t>(kPkts, uint32_t(std::stoul(s)));
    std::vector<uint32_t> v;  // 7:4:1, spread over the burst
    for (uint32_t i = 0; v.size() < kPkts; i++) v.push_back(i % 12 < 7 ? 64 : i % 12 < 11 ? 576 : 1400);
    return v;
}

SaRt::Ptr make_sa(const Alg& a, Dir dir) {
    SaCfg c;
    const CipherAlg* ca = find_cipher(a.esp);
    const AuthAlg* aa = find_auth(a.ah);
    if (c.set_esp(a.esp, std::string(2 * (ca->keylen + ca->saltlen), '5')) ||
        c.set_ah(a.ah, std::string(2 * aa->keylen, 'a')))
        return nullptr;
    c.spi = 0x100;
    c.dir = dir;
    c.esn = true;  // long runs send more than 2^32 would allow
    return SaRt::make(c);
}

// Runs fn (one burst, returning plaintext bytes) for about secs; Gbit/s.
template <class F>
double rate(double secs, F&& fn) {
    uint64_t bytes = 0;
    auto t0 = Clock::now();
    auto end = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(secs));
    auto t = t0;
    do {
        for (int i = 0; i < 16; i++) bytes += fn();
        t = Clock::now();
    } while (t < end);
    return double(bytes) * 8 / 1e9 / std::chrono::duration<double>(t - t0).count();
}

// devip's engine: a burst encrypted (or decrypted) in place. Decrypt restores each
// packet's ciphertext and the window before each burst (decryption is in place); the raw
// side copies the same number of bytes, so both carry that cost.
struct EngineCase {
    Engine eng;
    SaRt::Ptr out, in;
    std::vector<uint32_t> sz;
    uint32_t stride;
    std::vector<uint8_t> mem, wire;
    std::vector<Pkt> pkts, sealed;

    EngineCase(const Alg& a, const std::vector<uint32_t>& s)
        : out(make_sa(a, Dir::out)), in(make_sa(a, Dir::in)), sz(s) {
        stride = out->hdrlen() + 1400 + 64 + 64;
        mem.assign(size_t(stride) * kPkts, 0x42);
        pkts.resize(kPkts);
        plain();
        eng.encrypt(*out, pkts);
        wire = mem;
        sealed = pkts;
    }
    void plain() {
        for (uint32_t i = 0; i < kPkts; i++)
            pkts[i] = Pkt{std::span(mem.data() + size_t(i) * stride, stride), sz[i], 4};
    }
    uint64_t payload() const {
        uint64_t n = 0;
        for (uint32_t v : sz) n += v;
        return n;
    }
    uint64_t enc() {
        plain();
        if (eng.encrypt(*out, pkts) != kPkts) std::abort();
        return payload();
    }
    uint64_t dec() {
        for (uint32_t i = 0; i < kPkts; i++) {
            size_t o = size_t(i) * stride;
            std::memcpy(mem.data() + o, wire.data() + o, sealed[i].len);
            pkts[i] = sealed[i];
            pkts[i].buf = std::span(mem.data() + size_t(i) * stride, sealed[i].len);
        }
        in->win.start(0);
        if (eng.decrypt(*in, pkts) != kPkts) std::abort();
        return payload();
    }
};

// Raw ipsec-mb on the same layout: text at hdr (8 + IV) in each stride, in place.
struct RawCase {
    IMB_MGR* m;
    const Alg& a;
    std::vector<uint32_t> sz;
    uint32_t stride = 8 + 16 + 1400 + 128;
    std::vector<uint8_t> mem, copy;
    alignas(64) gcm_key_data gkey;
    gcm_context_data gctx;
    alignas(16) uint32_t enc_keys[60], dec_keys[60];
    alignas(16) uint8_t ipad[64], opad[64];
    alignas(16) uint8_t chkey[32];
    alignas(16) uint8_t tags[kPkts][32];
    alignas(16) uint8_t ivs[kPkts][16];

    RawCase(const Alg& al, const std::vector<uint32_t>& s) : a(al), sz(s) {
        m = alloc_mb_mgr(0);
        init_mb_mgr_auto(m, nullptr);
        mem.assign(size_t(stride) * kPkts, 0x42);
        copy = mem;
        uint8_t k[32];
        std::memset(k, 0x55, sizeof k);
        IMB_AES128_GCM_PRE(m, k, &gkey);
        if (!std::strcmp(a.esp, "aes_256_gcm")) IMB_AES256_GCM_PRE(m, k, &gkey);
        IMB_AES_KEYEXP_128(m, k, enc_keys, dec_keys);
        uint8_t hk[20];
        std::memset(hk, 0xaa, sizeof hk);
        for (int pass = 0; pass < 2; pass++) {  // HMAC's inner and outer states
            alignas(16) uint8_t blk[64];
            std::memset(blk, pass ? 0x5c : 0x36, sizeof blk);
            for (size_t i = 0; i < sizeof hk; i++) blk[i] ^= hk[i];
            IMB_SHA1_ONE_BLOCK(m, blk, pass ? opad : ipad);
        }
        std::memcpy(chkey, k, 32);
        for (uint32_t i = 0; i < kPkts; i++) std::memset(ivs[i], int(i), 16);
    }
    ~RawCase() { free_mb_mgr(m); }
    uint32_t textlen(uint32_t i) const {  // what the engine encrypts: payload + pad + 2
        bool cbc = !std::strcmp(a.esp, "aes_128_cbc");
        uint32_t al = cbc ? 16 : 4;
        return (sz[i] + 2 + al - 1) / al * al;
    }
    uint8_t* pkt(uint32_t i) { return mem.data() + size_t(i) * stride; }

    uint64_t run(bool enc) {
        if (!enc)  // as the engine side: the ESP bytes of each packet
            for (uint32_t i = 0; i < kPkts; i++) {
                size_t o = size_t(i) * stride;
                std::memcpy(mem.data() + o, copy.data() + o, 8 + 16 + textlen(i) + 16);
            }
        uint64_t n = 0;
        bool gcm = !std::strncmp(a.esp, "aes_", 4) && std::strstr(a.esp, "gcm");
        if (gcm) {
            bool k256 = !std::strcmp(a.esp, "aes_256_gcm");
            for (uint32_t i = 0; i < kPkts; i++) {
                uint8_t* p = pkt(i);
                uint8_t* text = p + 16;
                uint32_t len = textlen(i);
                uint8_t iv[12];
                std::memcpy(iv, ivs[i], 12);
                if (enc && !k256) IMB_AES128_GCM_ENC(m, &gkey, &gctx, text, text, len, iv, p, 8, tags[i], 16);
                else if (enc) IMB_AES256_GCM_ENC(m, &gkey, &gctx, text, text, len, iv, p, 8, tags[i], 16);
                else if (!k256) IMB_AES128_GCM_DEC(m, &gkey, &gctx, text, text, len, iv, p, 8, tags[i], 16);
                else IMB_AES256_GCM_DEC(m, &gkey, &gctx, text, text, len, iv, p, 8, tags[i], 16);
                n += sz[i];
            }
            return n;
        }
        bool cbc = !std::strcmp(a.esp, "aes_128_cbc");
        auto done = [&](IMB_JOB* j) {
            if (j->status != IMB_STATUS_COMPLETED) std::abort();
        };
        for (uint32_t i = 0; i < kPkts; i++) {
            IMB_JOB* j = IMB_GET_NEXT_JOB(m);
            uint8_t* p = pkt(i);
            uint32_t ivlen = cbc ? 16 : 8;
            uint8_t* text = p + 8 + ivlen;
            uint32_t len = textlen(i);
            j->cipher_direction = enc ? IMB_DIR_ENCRYPT : IMB_DIR_DECRYPT;
            j->chain_order = enc ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
            j->src = p;
            j->dst = text;
            j->cipher_start_src_offset_in_bytes = 8 + ivlen;
            j->msg_len_to_cipher_in_bytes = len;
            j->iv = ivs[i];
            j->auth_tag_output = tags[i];
            j->user_data = nullptr;
            if (cbc) {
                j->cipher_mode = IMB_CIPHER_CBC;
                j->enc_keys = enc_keys;
                j->dec_keys = dec_keys;
                j->key_len_in_bytes = 16;
                j->iv_len_in_bytes = 16;
                j->hash_alg = IMB_AUTH_HMAC_SHA_1;
                j->u.HMAC._hashed_auth_key_xor_ipad = ipad;
                j->u.HMAC._hashed_auth_key_xor_opad = opad;
                j->hash_start_src_offset_in_bytes = 0;
                j->msg_len_to_hash_in_bytes = 8 + ivlen + len;
                j->auth_tag_output_len_in_bytes = 12;
            } else {
                j->cipher_mode = IMB_CIPHER_CHACHA20_POLY1305;
                j->hash_alg = IMB_AUTH_CHACHA20_POLY1305;
                j->enc_keys = chkey;
                j->dec_keys = chkey;
                j->key_len_in_bytes = 32;
                j->iv_len_in_bytes = 12;
                j->u.CHACHA20_POLY1305.aad = p;
                j->u.CHACHA20_POLY1305.aad_len_in_bytes = 8;
                j->hash_start_src_offset_in_bytes = 8 + ivlen;
                j->msg_len_to_hash_in_bytes = len;
                j->auth_tag_output_len_in_bytes = 16;
            }
            for (j = IMB_SUBMIT_JOB(m); j; j = IMB_GET_COMPLETED_JOB(m)) done(j);
            n += sz[i];
        }
        while (IMB_JOB* j = IMB_FLUSH_JOB(m)) done(j);
        return n;
    }
};

}  // namespace

int main(int argc, char** argv) {
    double secs = argc > 1 ? std::atof(argv[1]) : 0.5;
    int reps = argc > 2 ? std::atoi(argv[2]) : 3;
    const char* sizes[] = {"64", "512", "1400", "imix"};
    std::map<std::string, std::vector<double>> res;  // alg/size/dir/who -> runs
    for (int r = 0; r < reps; r++)
        for (const Alg& a : kAlgs)
            for (const char* s : sizes) {
                auto sz = sizes_of(s);
                EngineCase e(a, sz);
                RawCase raw(a, sz);
                for (bool enc : {true, false}) {
                    const char* dir = enc ? "encrypt" : "decrypt";
                    double ge = rate(secs, [&] { return enc ? e.enc() : e.dec(); });
                    double gr = rate(secs, [&] { return raw.run(enc); });
                    std::string k = std::string(a.name) + "/" + s + "/" + dir;
                    res[k + "/engine"].push_back(ge);
                    res[k + "/raw"].push_back(gr);
                    std::printf("{\"alg\":\"%s\",\"size\":\"%s\",\"dir\":\"%s\",\"engine\":%.3f,"
                                "\"raw\":%.3f,\"arch\":\"%s\"}\n",
                                a.name, s, dir, ge, gr, e.eng.arch());
                    std::fflush(stdout);
                }
            }
    auto med = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    std::printf("\n%-26s %-5s %-8s %10s %10s %7s\n", "algorithm", "size", "dir", "engine",
                "raw", "ratio");
    for (const Alg& a : kAlgs)
        for (const char* s : sizes)
            for (const char* dir : {"encrypt", "decrypt"}) {
                std::string k = std::string(a.name) + "/" + s + "/" + dir;
                double ge = med(res[k + "/engine"]), gr = med(res[k + "/raw"]);
                std::printf("%-26s %-5s %-8s %10.2f %10.2f %7.2f\n", a.name, s, dir, ge, gr,
                            ge / gr);
            }
    return 0;
}
