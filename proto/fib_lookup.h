// The worker's view of a FibRt, for proto/fastpath.h: bulk route lookups, the
// source-specific second stage, neighbour lookups. Separate from fib.h because it includes
// DPDK's lookup headers.
#pragma once
#include <rte_fib.h>
#include <rte_hash.h>

#include "proto/fib.h"

namespace devip::proto {

struct FibLookup {
    const FibRt* f;  // the stack's FIB; null: everything goes to the slow path

    bool usable() const { return f && !f->odd.load(std::memory_order_relaxed); }
    // dst host order, n at most 64.
    void lookup(uint32_t* dst, uint64_t* val, unsigned n) const {
        rte_fib_lookup_bulk(f->fib.load(std::memory_order_acquire), dst, val, int(n));
    }
    uint64_t lookup1(uint32_t dst) const {
        uint64_t v = kFibMiss;
        if (usable()) lookup(&dst, &v, 1);
        return v;
    }
    // A looked-up value to a next hop. False: the control thread decides (no route, a
    // source-specific prefix whose sources do not match and that has no any-source route).
    bool resolve(uint64_t value, uint32_t src, NhRt& out) const {
        uint32_t v = uint32_t(value);
        if (v == kFibMiss || v == kFibPunt) return false;
        if (v & kFibSrcFlag) {
            const SrcTab* t = f->srctab.load(std::memory_order_acquire);
            uint32_t i = v & ~kFibSrcFlag;
            if (i >= t->dest.size()) return false;
            const DestRt& d = t->dest[i];
            v = d.any;
            for (uint32_t k = d.first; k < d.first + d.count; k++)
                if ((src & t->src[k].mask) == t->src[k].src) {
                    v = t->src[k].nh;
                    break;
                }
        }
        if (v >= kMaxNh) return false;
        out = f->nh[v];
        return true;
    }
    bool route(uint32_t dst, uint32_t src, NhRt& out) const {
        return usable() && resolve(lookup1(dst), src, out);
    }
    bool neigh(uint16_t port, uint32_t ip_be, Ether& mac) const {
        NeighKey k{ip_be, port, 0};
        void* d;
        if (rte_hash_lookup_data(f->neigh, &k, &d) < 0) return false;
        uint64_t v = uint64_t(uintptr_t(d));
        for (int i = 0; i < 6; i++) mac.b[size_t(i)] = uint8_t(v >> (8 * i));
        return true;
    }
};

}  // namespace devip::proto
