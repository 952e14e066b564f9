// Longest-prefix match for the workers' forwarding tables (DIR-24-8, Gupta, Lin and McKeown,
// INFOCOM 1998, continued in 8-bit levels to 128-bit keys), changed in place by the control
// thread while workers read it.
//
// Why not rte_fib/rte_fib6: in DPDK 22.11 their updates zero a tbl8 group and hand it out
// again at once while a worker may still be reading it, so a correct user needs two copies
// and applies every change twice through rte_rib's tree walks (half the load time of a
// million routes, and twice the memory). Here a group that falls out of use is retired and
// reused only after every worker has passed a quiescent state (QSBR), so one copy suffices.
//
// Layout. tbl24 has 2^24 entries indexed by the key's first three bytes. An entry holds a
// value, or names a group of 256 entries indexed by the next key byte; groups nest up to the
// key's last byte. Every value entry also records the prefix length of the route that wrote
// it: an add overwrites only entries of shorter routes, a delete only its own, so neither
// needs a tree walk. Workers mask the length off. The /0 route is kept apart (def), so a
// default route costs no sweep of tbl24 and no memory.
//
//   entry = 1:group | 8:length | 23:value     value 0 = no route longer than /0: use def
//   group entry: bit 31 set, bits 30..0 = group index
//
// Memory comes from anonymous mappings: untouched parts cost nothing (a small table stays
// small), and transparent huge pages back tbl24 where the kernel offers them.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "proto/err.h"

namespace devip::proto {

inline constexpr uint32_t kLpmGroup = 1u << 31;
inline constexpr uint32_t kLpmValue = (1u << 23) - 1;  // the value bits; kLpmValue is the largest

// What workers read: two stable pointers. The control thread fills a group before it
// publishes the entry naming it (a release store); a worker's load of the group's entries
// depends on the index it read, which on the CPUs DPDK supports orders the two loads (the
// "consume" ordering Linux's rcu_dereference relies on; C++ compilers turn consume into
// acquire, which would stop them keeping the table pointers in registers across the walk).
// The loads are relaxed atomics: single untorn words, never cached across calls.
struct LpmRt {
    const uint32_t* tbl24 = nullptr;   // 2^24 entries
    const uint32_t* groups = nullptr;  // 256 entries per group
    uint32_t def = 0;                  // the /0 route's value, 0 if none

    static uint32_t load(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
    uint32_t value(uint32_t e) const {
        uint32_t v = e & kLpmValue;
        return v ? v : __atomic_load_n(&def, __ATOMIC_RELAXED);
    }
    // IPv4: dst in host order.
    uint32_t lookup4(uint32_t dst) const {
        uint32_t e = load(tbl24 + (dst >> 8));
        if (__builtin_expect(e & kLpmGroup, 0))
            e = load(groups + ((size_t(e & ~kLpmGroup) << 8) | (dst & 0xff)));
        return value(e);
    }
    // n IPv4 lookups; the tbl24 lines are prefetched first.
    void lookup4_bulk(const uint32_t* dst, uint32_t* val, unsigned n) const {
        for (unsigned i = 0; i < n; i++) __builtin_prefetch(tbl24 + (dst[i] >> 8));
        for (unsigned i = 0; i < n; i++) val[i] = lookup4(dst[i]);
    }
    // IPv6 (or any key of 3 bytes or more): key in network order.
    uint32_t lookup(const uint8_t* key) const {
        const uint32_t* g = groups;
        uint32_t e = load(tbl24 + (uint32_t(key[0]) << 16 | uint32_t(key[1]) << 8 | key[2]));
        for (const uint8_t* k = key + 3; e & kLpmGroup; k++)
            e = load(g + ((size_t(e & ~kLpmGroup) << 8) | *k));
        return value(e);
    }
};

// Grace periods for retired groups (the dataplane's QSBR variable). The defaults mean
// "no readers": every grace period is already over.
struct LpmGrace {
    std::function<uint64_t()> start;                  // begin one; returns its token
    std::function<bool(uint64_t token, bool wait)> done;  // over? (wait: block until it is)
};

// The table of one address family. N: key bytes, 4 (IPv4) or 16 (IPv6). Control thread only,
// apart from rt().
template <int N>
class Lpm {
public:
    static_assert(N >= 4 && N <= 16);
    using Key = std::array<uint8_t, N>;  // network order
    static constexpr int kBits = 8 * N;

    Lpm() = default;
    ~Lpm();
    Lpm(const Lpm&) = delete;
    Lpm& operator=(const Lpm&) = delete;

    // groups: how many 256-entry groups may exist at once (routes longer than /24 need them);
    // routes: how many routes to make room for at once (more may come).
    Err init(uint32_t groups, LpmGrace grace = {}, uint32_t routes = 0);
    // Adds or replaces key/len → value (1..kLpmValue). False when it needs a group and none
    // is free even after waiting for retired ones: then nothing changed.
    bool add(const Key& key, int len, uint32_t value);
    // Removes key/len; its addresses fall back to the longest shorter prefix. False when
    // key/len is not in the table.
    bool del(const Key& key, int len);
    std::optional<uint32_t> get(const Key& key, int len) const;
    // The value a worker would find for key (a test and slow-path aid).
    uint32_t find(const Key& key) const { return rt_.lookup(key.data()); }
    // Returns retired groups whose grace period is over to the free list.
    void reclaim();

    const LpmRt* rt() const { return &rt_; }
    size_t size() const { return n_; }
    uint32_t groups_used() const { return used_; }
    uint32_t groups_max() const { return ngroups_; }

private:
    struct Group {                 // control-side facts of a group in use
        uint32_t* parent;          // the entry that names it
        uint32_t deep;             // routes inside it longer than its base length
    };
    struct Retired {
        uint32_t g;                // group index
        uint64_t token;            // grace period it waits for
    };
    // The routes themselves, for deletes (the longest shorter prefix) and get(): an
    // open-addressing hash (linear probing, backward-shift deletion) on key and length.
    struct Slot {
        Key key;
        uint8_t len;
        uint8_t used;
        uint32_t value;
    };

    uint32_t* group(uint32_t g) { return groups_ + (size_t(g) << 8); }
    uint32_t alloc_group(uint32_t fill, uint32_t* parent);
    bool make_room(int need);
    void collapse(uint32_t g);
    void fill(uint32_t* e, size_t n, uint32_t to, int len, bool exact);
    uint32_t* range(const Key& key, int len, bool make, uint32_t* path, int* nlev, size_t* n);
    int missing_groups(const Key& key, int len);
    size_t probe(const Key& key, int len) const;
    void insert(size_t slot, const Key& key, int len, uint32_t value);
    void erase(size_t slot);
    void grow();

    LpmRt rt_;
    LpmGrace grace_;
    uint32_t* tbl24_ = nullptr;            // the mapping workers read through rt_
    uint32_t* groups_ = nullptr;
    uint32_t ngroups_ = 0;                 // groups the mapping holds
    uint32_t used_ = 0;                    // groups in use (named by an entry)
    uint32_t high_ = 0;                    // groups ever handed out: [high_, ngroups_) untouched
    std::vector<Group> meta_;              // per group index below high_
    std::vector<uint32_t> free_;           // groups ready for reuse
    std::vector<Retired> retired_;         // groups waiting for a grace period
    std::vector<Slot> slot_;               // the route hash; size a power of two
    size_t n_ = 0;                         // routes
    std::array<uint32_t, 129> nlen_{};     // routes per prefix length
};

extern template class Lpm<4>;
extern template class Lpm<16>;

}  // namespace devip::proto
