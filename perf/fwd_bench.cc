// The worker's burst function (dataplane/burst.h) on synthetic mbufs, without any PMD: what
// forwarding one 64-byte frame costs devipd itself. Each iteration refills 32 mbufs from
// templates (as net_pcap's rx copies its frames) and runs one burst; BM_Refill measures the
// refill alone. Google Benchmark; `fwd_bench --benchmark_repetitions=5` for medians. On a
// shared machine, instruction counts are steadier than times:
//   valgrind --tool=callgrind fwd_bench --benchmark_filter=BM_Forward4 --benchmark_min_time=0.1
//   callgrind_annotate --inclusive=yes callgrind.out.* | grep one_burst   (Ir / calls / 32)
#include <benchmark/benchmark.h>
#include <rte_eal.h>
#include <rte_mbuf.h>

#include <cstdio>
#include <vector>

#include "dataplane/burst.h"

namespace {

using namespace devip;
using namespace devip::proto;

constexpr int kFrames = 1024;  // distinct frames, as perf/run.sh's pcaps

struct World {
    rte_mempool* pool = nullptr;
    FastTable t{};
    Fib4 fib4;
    Fib6 fib6;
    std::vector<std::vector<uint8_t>> f4, f6;  // frame templates

    World() {
        const char* argv[] = {"fwd_bench", "--no-huge", "--no-pci", "--no-shconf", "-m", "256",
                              "--no-telemetry", "--log-level=*:error", "-l", "0"};
        if (rte_eal_init(int(std::size(argv)), const_cast<char**>(argv)) < 0) {
            fprintf(stderr, "fwd_bench: EAL did not start\n");
            exit(1);
        }
        pool = rte_pktmbuf_pool_create("bench", 4096, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
        Retire now = [](std::function<void()> f) { f(); };
        fib4.init(65536, {}, now);
        fib6.init(16384, {}, now);
        Ether m0{{2, 0, 0, 0, 0, 0x10}}, m1{{2, 0, 0, 0, 0, 0x11}}, gw{{2, 0, 0, 0, 0, 2}};
        for (int p = 0; p < 2; p++) {
            PortRt& r = t.port[size_t(p)];
            r.bound = 1;
            r.forwarding = 1;
            r.mtu = r.mtu6 = 1500;
            r.mac = p ? m1 : m0;
        }
        t.port[0].nlocal = 1;
        t.port[0].local[0] = __builtin_bswap32(0xc6120001);  // 198.18.0.1
        t.fib[0] = fib4.rt();
        t.fib6[0] = fib6.rt();
        Route r{};
        r.dst = Ipaddr::v4(0);
        r.mask = prefix_mask(96);
        r.gate = Ipaddr::v4(0xc6130002);  // 198.19.0.2
        r.type = Rv4;
        fib4.route(r, true, NhKind::Gate, 1);
        fib4.neigh_set(1, fib_addr<4>(r.gate), gw);
        Route r6{};
        r6.mask = prefix_mask(56);
        r6.dst = v6(0x100, 0);
        r6.gate = v6(1, 2);
        fib6.route(r6, true, NhKind::Gate, 1);
        fib6.neigh_set(1, fib_addr<16>(r6.gate), gw);
        fib4.commit();
        fib6.commit();
        for (int i = 0; i < kFrames; i++) {
            f4.push_back(frame4(m0, 0xc612000a + uint32_t(i % 200), 0x0b000000 + uint32_t(i) * 4099));
            f6.push_back(frame6(m0, v6(1, 0x10 + uint64_t(i)), v6(0x100 + uint16_t(i % 256), uint64_t(i) * 77)));
        }
    }
    static Ipaddr v6(uint16_t net, uint64_t host) {  // 2001:2:0:NET::HOST
        Ipaddr a;
        a.b[0] = 0x20, a.b[1] = 0x01, a.b[3] = 0x02, a.b[6] = uint8_t(net >> 8), a.b[7] = uint8_t(net);
        for (int i = 0; i < 8; i++) a.b[size_t(8 + i)] = uint8_t(host >> (56 - 8 * i));
        return a;
    }
    static std::vector<uint8_t> eth(const Ether& dst, uint16_t type, size_t len) {
        std::vector<uint8_t> f(len, 0);
        std::memcpy(f.data(), dst.b.data(), 6);
        f[6] = 2, f[11] = 1;
        put16(f.data() + 12, type);
        return f;
    }
    static std::vector<uint8_t> frame4(const Ether& dst, uint32_t src, uint32_t to) {
        auto f = eth(dst, kEthIp4, 60);
        uint8_t* ip = f.data() + kEthHdr;
        ip[0] = 0x45, ip[8] = 64, ip[9] = kProtoUdp;
        put16(ip + 2, 46);
        put32(ip + 12, src);
        put32(ip + 16, to);
        put16(ip + 10, csum(ip, 20));
        put16(ip + 20, 1024), put16(ip + 22, 1025), put16(ip + 24, 26);
        return f;
    }
    static std::vector<uint8_t> frame6(const Ether& dst, const Ipaddr& src, const Ipaddr& to) {
        auto f = eth(dst, kEthIp6, 62);
        uint8_t* ip = f.data() + kEthHdr;
        ip[0] = 0x60, ip[6] = kProtoUdp, ip[7] = 64;
        put16(ip + 4, 8);
        std::memcpy(ip + 8, src.b.data(), 16);
        std::memcpy(ip + 24, to.b.data(), 16);
        return f;
    }
};

World& world() {
    static World w;
    return w;
}

void refill(World& w, rte_mbuf** m, const std::vector<std::vector<uint8_t>>& tmpl, int& next) {
    for (uint16_t i = 0; i < dp::kBurst; i++) {
        const auto& f = tmpl[size_t(next)];
        next = (next + 1) % kFrames;
        rte_pktmbuf_reset(m[i]);
        std::memcpy(rte_pktmbuf_mtod(m[i], void*), f.data(), f.size());
        m[i]->data_len = m[i]->pkt_len = uint16_t(f.size());
    }
}

// One burst, not inlined, so that `valgrind --tool=callgrind` counts its instructions apart.
template <class F>
__attribute__((noinline)) void one_burst(rte_mbuf** m, const FastTable& t, FastStats* stats,
                                         dp::TxBuf* txb, dp::BurstOut& o, F& flush) {
    dp::fast_burst(m, dp::kBurst, 0, t, stats, txb, o, flush);
}

void run(benchmark::State& state, bool v6, bool forward) {
    World& w = world();
    rte_mbuf* m[dp::kBurst];
    if (rte_pktmbuf_alloc_bulk(w.pool, m, dp::kBurst) != 0) state.SkipWithError("no mbufs");
    dp::TxBuf txb[kMaxPorts];
    FastStats stats[kMaxStacks] = {};
    int next = 0;
    uint64_t sent = 0;
    auto flush = [&](uint16_t port) {
        sent += txb[port].n;
        txb[port].n = 0;
    };
    for (auto _ : state) {
        refill(w, m, v6 ? w.f6 : w.f4, next);
        if (!forward) continue;
        dp::BurstOut o;
        one_burst(m, w.t, stats, txb, o, flush);
        sent += txb[1].n;
        txb[1].n = 0;
        benchmark::DoNotOptimize(o);
    }
    if (forward && sent != uint64_t(state.iterations()) * dp::kBurst)
        state.SkipWithError("not every frame was forwarded");
    state.SetItemsProcessed(int64_t(state.iterations()) * dp::kBurst);
    rte_pktmbuf_free_bulk(m, dp::kBurst);
}

void BM_Refill(benchmark::State& s) { run(s, false, false); }
void BM_Forward4(benchmark::State& s) { run(s, false, true); }
void BM_Forward6(benchmark::State& s) { run(s, true, true); }
BENCHMARK(BM_Refill);
BENCHMARK(BM_Forward4);
BENCHMARK(BM_Forward6);

}  // namespace


namespace {

// The route lookups alone: 32 destinations per call, from the frames' templates.
void BM_Lookup4(benchmark::State& state) {
    World& w = world();
    uint32_t dst[32], val[32];
    int next = 0;
    for (auto _ : state) {
        for (int i = 0; i < 32; i++, next = (next + 1) % kFrames)
            dst[i] = get32(w.f4[size_t(next)].data() + kEthHdr + 16);
        w.fib4.rt()->lpm->lookup4_bulk(dst, val, 32);
        benchmark::DoNotOptimize(val);
    }
    state.SetItemsProcessed(int64_t(state.iterations()) * 32);
}
void BM_Lookup6(benchmark::State& state) {
    World& w = world();
    uint32_t val[32];
    int next = 0;
    for (auto _ : state) {
        for (int i = 0; i < 32; i++, next = (next + 1) % kFrames)
            val[i] = w.fib6.rt()->lpm->lookup(w.f6[size_t(next)].data() + kEthHdr + 24);
        benchmark::DoNotOptimize(val);
    }
    state.SetItemsProcessed(int64_t(state.iterations()) * 32);
}
BENCHMARK(BM_Lookup4);
BENCHMARK(BM_Lookup6);

}  // namespace

BENCHMARK_MAIN();
