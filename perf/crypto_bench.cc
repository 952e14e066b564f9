// crypto/engine.h throughput: bursts of 64 packets of 1400 bytes, encrypted and decrypted
// in place, reported as Gbit/s of plaintext (counter `Gbit/s`).
// Build: found only with Google Benchmark; run build/perf/crypto_bench.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "crypto/engine.h"

namespace {

using namespace devip::crypto;

constexpr uint32_t kPkts = 64, kLen = 1400;

SaRt::Ptr make_sa(const char* esp, const char* ah, Dir dir) {
    SaCfg c;
    const CipherAlg* ca = find_cipher(esp);
    const AuthAlg* aa = find_auth(ah);
    if (c.set_esp(esp, std::string(2 * (ca->keylen + ca->saltlen), '5')) ||
        c.set_ah(ah, std::string(2 * aa->keylen, 'a')))
        return nullptr;
    c.spi = 0x100;
    c.dir = dir;
    c.esn = true;  // a benchmark sends far more than 2^32 would allow in a long run
    return SaRt::make(c);
}

struct Burst {
    std::vector<uint8_t> mem;
    std::vector<Pkt> pkts;
    uint32_t stride;
    explicit Burst(const SaRt& sa) : stride(sa.hdrlen() + kLen + 64) {
        mem.assign(size_t(stride) * kPkts, 0x42);
        pkts.resize(kPkts);
    }
    void plain() {
        for (uint32_t i = 0; i < kPkts; i++)
            pkts[i] = Pkt{std::span(mem.data() + size_t(i) * stride, stride), kLen, 4};
    }
};

void encrypt(benchmark::State& st, const char* esp, const char* ah) {
    Engine eng;
    SaRt::Ptr sa = make_sa(esp, ah, Dir::out);
    if (!sa) {
        st.SkipWithError("bad SA");
        return;
    }
    Burst b(*sa);
    for (auto _ : st) {
        b.plain();
        if (eng.encrypt(*sa, b.pkts) != kPkts) st.SkipWithError("encrypt failed");
    }
    st.SetBytesProcessed(int64_t(st.iterations()) * kPkts * kLen);
    st.counters["Gbit/s"] = benchmark::Counter(double(st.iterations()) * kPkts * kLen * 8 / 1e9,
                                               benchmark::Counter::kIsRate);
    st.SetLabel(eng.arch());
}

void decrypt(benchmark::State& st, const char* esp, const char* ah) {
    Engine eng;
    SaRt::Ptr out = make_sa(esp, ah, Dir::out), in = make_sa(esp, ah, Dir::in);
    Burst b(*out);
    b.plain();
    if (eng.encrypt(*out, b.pkts) != kPkts) {
        st.SkipWithError("encrypt failed");
        return;
    }
    std::vector<uint8_t> wire = b.mem;
    std::vector<Pkt> sealed = b.pkts;
    for (auto _ : st) {
        st.PauseTiming();  // fresh ciphertext and window each round: decrypt is in place
        b.mem = wire;
        for (uint32_t i = 0; i < kPkts; i++) {
            b.pkts[i] = sealed[i];
            b.pkts[i].buf = std::span(b.mem.data() + size_t(i) * b.stride, sealed[i].len);
        }
        in->win.start(0);
        st.ResumeTiming();
        if (eng.decrypt(*in, b.pkts) != kPkts) st.SkipWithError("decrypt failed");
    }
    st.SetBytesProcessed(int64_t(st.iterations()) * kPkts * kLen);
    st.counters["Gbit/s"] = benchmark::Counter(double(st.iterations()) * kPkts * kLen * 8 / 1e9,
                                               benchmark::Counter::kIsRate);
    st.SetLabel(eng.arch());
}

// The same bytes through ipsec-mb's direct GCM API, one call per packet and no ESP
// framing: what the job API costs against the alternative.
void gcm_direct(benchmark::State& st) {
    IMB_MGR* m = alloc_mb_mgr(0);
    init_mb_mgr_auto(m, nullptr);
    alignas(64) gcm_key_data key;
    gcm_context_data ctx;
    uint8_t k[16] = {5}, iv[12] = {1}, aad[8] = {2}, tag[16];
    IMB_AES128_GCM_PRE(m, k, &key);
    std::vector<uint8_t> mem(size_t(kPkts) * kLen, 0x42);
    for (auto _ : st) {
        for (uint32_t i = 0; i < kPkts; i++) {
            uint8_t* p = mem.data() + size_t(i) * kLen;
            iv[11] = uint8_t(i);
            IMB_AES128_GCM_ENC(m, &key, &ctx, p, p, kLen, iv, aad, 8, tag, 16);
        }
        benchmark::DoNotOptimize(tag);
    }
    st.SetBytesProcessed(int64_t(st.iterations()) * kPkts * kLen);
    st.counters["Gbit/s"] = benchmark::Counter(double(st.iterations()) * kPkts * kLen * 8 / 1e9,
                                               benchmark::Counter::kIsRate);
    free_mb_mgr(m);
}

BENCHMARK(gcm_direct);
BENCHMARK_CAPTURE(encrypt, aes_128_gcm, "aes_128_gcm", "null");
BENCHMARK_CAPTURE(encrypt, aes_256_gcm, "aes_256_gcm", "null");
BENCHMARK_CAPTURE(encrypt, aes_128_cbc_sha1, "aes_128_cbc", "hmac_sha1_96");
BENCHMARK_CAPTURE(encrypt, chacha20_poly1305, "chacha20_poly1305", "null");
BENCHMARK_CAPTURE(decrypt, aes_128_gcm, "aes_128_gcm", "null");
BENCHMARK_CAPTURE(decrypt, aes_256_gcm, "aes_256_gcm", "null");
BENCHMARK_CAPTURE(decrypt, aes_128_cbc_sha1, "aes_128_cbc", "hmac_sha1_96");
BENCHMARK_CAPTURE(decrypt, chacha20_poly1305, "chacha20_poly1305", "null");

}  // namespace

BENCHMARK_MAIN();
