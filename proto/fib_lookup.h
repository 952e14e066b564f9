// The worker's view of a FibRt: route and neighbour lookups for proto/fastpath.h. Separate
// from fib.h because it includes DPDK's inline lookup functions.
#pragma once
#include <rte_hash.h>
#include <rte_lpm.h>

#include "proto/fib.h"

namespace devip::proto {

struct FibLookup {
    const FibRt* f;  // the stack's FIB; null: everything goes to the slow path

    // dst/src host order. False: the control thread decides (no route, odd masks, a
    // source-specific prefix whose sources do not match and that has no any-source route).
    bool route(uint32_t dst, uint32_t src, NhRt& out) const {
        if (!f || f->odd.load(std::memory_order_relaxed)) return false;
        uint32_t v;
        if (rte_lpm_lookup(f->lpm, dst, &v) != 0) {
            v = f->dflt.load(std::memory_order_acquire);
            if (v == kNoDefault) return false;
        }
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
