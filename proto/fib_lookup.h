// The worker's view of a stack's FIB (proto/fib.h) for proto/fastpath.h: route lookups, the
// source-specific second stage, next hops and on-link neighbours. Loads only.
#pragma once
#include <cstring>

#include "proto/fib.h"

namespace devip::proto {

template <int N>
struct FibView {
    const FibRt<N>* f;  // the stack's FIB of this family; null: everything goes to the slow path

    bool usable() const { return f && !f->odd.load(std::memory_order_relaxed); }
    // IPv4 only: n destinations in host order (n at most 64).
    void lookup4(const uint32_t* dst, uint32_t* val, unsigned n) const {
        f->lpm->lookup4_bulk(dst, val, n);
    }
    // dst: the packet's destination bytes (network order).
    uint32_t lookup(const uint8_t* dst) const {
        if (!usable()) return 0;
        if constexpr (N == 4) {
            uint32_t d;
            std::memcpy(&d, dst, 4);
            return f->lpm->lookup4(__builtin_bswap32(d));
        } else {
            return f->lpm->lookup(dst);
        }
    }
    // A looked-up value to its next hop; null: the control thread decides (no route, a
    // source-specific prefix whose sources do not match and that has no any-source route).
    // src: the packet's source bytes.
    const NhRt<N>* resolve(uint32_t v, const uint8_t* src) const {
        if (__builtin_expect(v & kFibSrc, 0)) {
            const SrcTab<N>* t = f->srctab.load(std::memory_order_acquire);
            uint32_t i = v & ~kFibSrc;
            if (i >= t->dest.size()) return nullptr;
            const DestRt& d = t->dest[i];
            v = d.any;
            for (uint32_t k = d.first; k < d.first + d.count; k++)
                if (src_match(t->src[k], src)) {
                    v = t->src[k].nh;
                    break;
                }
        }
        if (v < 2 || v >= kMaxNh) return nullptr;  // no route, or "punt"
        return &f->nh[v];
    }
    // The on-link neighbour's l2 word (kL2Ok | MAC), or 0.
    uint64_t neigh(uint16_t port, const uint8_t* ip) const {
        return f->neigh.load(std::memory_order_acquire)->find(port, ip);
    }
    // A next hop's gateway l2 word, or 0 while unresolved.
    static uint64_t gate_l2(const NhRt<N>& h) { return __atomic_load_n(&h.l2, __ATOMIC_ACQUIRE); }

private:
    static bool src_match(const SrcRt<N>& r, const uint8_t* src) {
        for (int i = 0; i < N; i++)
            if ((src[i] & r.mask[size_t(i)]) != r.src[size_t(i)]) return false;
        return true;
    }
};

using FibView4 = FibView<4>;
using FibView6 = FibView<16>;

}  // namespace devip::proto
