// The storage behind Rib (proto/iproute.h): one RouteTable per address family, holding each
// route as a compact record (40 bytes for v4) in a slab, with one open-addressing hash per
// destination prefix length. Private to proto/iproute.cc and its tests.
//
// Why compact: a BGP-sized table is a million routes, and on the virtual machines devipd runs
// on every 4 KiB page first touched costs a trap to the hypervisor (16 µs measured, about as
// much as parsing and adding ten routes). So the records hold numbers, not 16-byte Ipaddrs; the
// slab grows with mremap (nothing copied, nothing touched twice); the hash slots are 8 bytes
// for v4; and big arrays ask for transparent huge pages.
#pragma once
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <vector>

#include "proto/iproute.h"

namespace devip::proto::rt {

__extension__ typedef unsigned __int128 U128;

// ---- memory ----------------------------------------------------------------------------

// Zeroed memory for the big arrays. Small ones come from calloc; from kBigBytes on they are
// mapped directly (freed at once to the system, grown in place by mremap) and, from 2 MiB on,
// marked for transparent huge pages.
inline constexpr size_t kBigBytes = 64 * 1024;
inline constexpr size_t kHugeBytes = 2 * 1024 * 1024;

inline void advise_huge(void* p, size_t bytes) {
#ifdef MADV_HUGEPAGE
    if (bytes >= kHugeBytes) madvise(p, bytes, MADV_HUGEPAGE);
#endif
}

// Maps the pages of [p, p + bytes) now, in one system call, instead of one trap per page at
// first touch: in a VM that trap is most of the cost of filling a big table (measured here:
// 12-16 us a 4 KiB page touched, 0.3 us populated, with huge pages). p is page-aligned.
// Best effort: kernels before 5.14 do not know it, and the pages then come at first touch.
inline void populate(void* p, size_t bytes) {
#ifdef MADV_POPULATE_WRITE
    if (bytes) madvise(p, bytes, MADV_POPULATE_WRITE);
#endif
}

// populate_now: the caller is about to touch all of it (a hash table being filled).
inline void* zalloc(size_t bytes, bool populate_now = false) {
    if (bytes < kBigBytes) {
        void* p = std::calloc(1, bytes);
        if (!p) throw std::bad_alloc();
        return p;
    }
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    advise_huge(p, bytes);
    if (populate_now) populate(p, bytes);
    return p;
}

inline void zfree(void* p, size_t bytes) {
    if (!p) return;
    if (bytes < kBigBytes) std::free(p);
    else munmap(p, bytes);
}

// Grows a zalloc block to `now` bytes (more than `old`), keeping its contents; the new part
// is zero. A mapped block moves without copying.
inline void* zgrow(void* p, size_t old, size_t now) {
    if (!p) return zalloc(now);
    if (old >= kBigBytes) {
        void* q = mremap(p, old, now, MREMAP_MAYMOVE);
        if (q == MAP_FAILED) throw std::bad_alloc();
        advise_huge(q, now);
        return q;
    }
    void* q = zalloc(now);
    std::memcpy(q, p, old);
    zfree(p, old);
    return q;
}

// ---- a family's numbers ----------------------------------------------------------------

template <class K>
struct Fam;
template <>
struct Fam<uint32_t> {  // v4: the low 32 bits of the v4-mapped address
    static constexpr int kWidth = 32;
    static uint32_t num(const Ipaddr& a) { return a.v4host(); }
    static Ipaddr addr(uint32_t x, bool is_mask) {  // a v4 mask has ones above (convroute)
        Ipaddr a = Ipaddr::v4(x);
        if (is_mask) std::fill(a.b.begin(), a.b.begin() + 12, 0xff);
        return a;
    }
    static uint64_t mix(uint32_t k) { return mix64(k); }
    static uint64_t mix64(uint64_t h) {  // MurmurHash3's finaliser
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53ull;
        return h ^ (h >> 33);
    }
};
template <>
struct Fam<U128> {  // v6: all 128 bits
    static constexpr int kWidth = 128;
    static U128 num(const Ipaddr& a) {
        U128 x = 0;
        for (uint8_t c : a.b) x = x << 8 | c;
        return x;
    }
    static Ipaddr addr(U128 x, bool) {
        Ipaddr a;
        for (int i = 15; i >= 0; i--, x >>= 8) a.b[size_t(i)] = uint8_t(x);
        return a;
    }
    static uint64_t mix(U128 k) {
        return Fam<uint32_t>::mix64(uint64_t(k) ^ Fam<uint32_t>::mix64(uint64_t(k >> 64)));
    }
};

template <class K>
constexpr K ones() {
    return K(~K(0));
}
// The mask of the first len bits.
template <class K>
constexpr K prefix(int len) {
    constexpr int w = Fam<K>::kWidth;
    return len == 0 ? K(0) : K(ones<K>() << (w - len));
}
// Prefix length of a mask, or -1 if its ones are not contiguous from the top.
template <class K>
int prefix_len(K m) {
    K inv = K(~m);
    if (inv & K(inv + 1)) return -1;
    int zeros = 0;
    if constexpr (sizeof(K) == 4) {
        zeros = std::popcount(inv);
    } else {
        zeros = std::popcount(uint64_t(inv)) + std::popcount(uint64_t(inv >> 64));
    }
    return Fam<K>::kWidth - zeros;
}
template <class K>
bool in_range(K x, K lo, K mask) {
    return x >= lo && x <= K(lo | K(~mask));
}

// ---- records ---------------------------------------------------------------------------

inline constexpr int16_t kOdd = -1;   // Rec::dlen of a non-contiguous destination mask
inline constexpr int16_t kFree = -2;  // Rec::dlen on the free list

// One route in its table's normal form (ip3.md §2.7): dst and src are masked.
template <class K>
struct Rec {
    K dst, mask;      // destination range: low end and mask
    K src, smask;     // source range; smask 0 = not source-specific
    K gate;           // next hop (network for i routes, the address itself for u/b/m)
    RouteTag tag;     // "ifc " or the writer's tag
    uint32_t ref;     // i routes: adds that installed it
    uint32_t next;    // next record with the same destination, or the free list; 0 ends
    int32_t ifc;      // ipifc conversation number
    uint16_t type;    // RouteType bits
    int16_t dlen;     // destination prefix length, kOdd or kFree
};
static_assert(sizeof(Rec<uint32_t>) == 40);

template <class K>
Rec<K> to_rec(const Route& r) {
    using F = Fam<K>;
    Rec<K> n{};
    n.mask = F::num(r.mask);
    n.smask = F::num(r.smask);
    n.dst = K(F::num(r.dst) & n.mask);
    n.src = K(F::num(r.src) & n.smask);
    n.gate = F::num(r.gate);
    n.tag = r.tag;
    n.ref = 1;
    n.ifc = r.ifc;
    n.type = r.type;
    n.dlen = int16_t(prefix_len(n.mask));
    return n;
}

template <class K>
Route to_route(const Rec<K>& n) {
    using F = Fam<K>;
    Route r;
    r.dst = F::addr(n.dst, false);
    r.mask = F::addr(n.mask, true);
    r.src = F::addr(n.src, false);
    r.smask = F::addr(n.smask, true);
    r.gate = F::addr(n.gate, false);
    r.type = n.type;
    r.ifc = n.ifc;
    r.tag = n.tag;
    r.ref = n.ref;
    return r;
}

// ---- one prefix length's destinations -------------------------------------------------

// An open-addressing hash (linear probing, backward-shift deletion, at most 3/4 full) from a
// destination's low end to the first record of its chain. Kept per length so that the few
// short lengths a lookup probes stay in cache while the big /24 table does not.
template <class K>
class Prefixes {
public:
    Prefixes() = default;
    Prefixes(const Prefixes&) = delete;
    Prefixes& operator=(const Prefixes&) = delete;
    ~Prefixes() { zfree(s_, cap_ * sizeof(Slot)); }

    size_t size() const { return n_; }
    size_t bytes() const { return cap_ * sizeof(Slot); }

    // The chain head for key, or 0.
    uint32_t find(K key) const {
        if (!n_) return 0;
        return s_[probe(key)].head;
    }
    // Sets key's chain head (inserting the key when absent); head 0 erases it.
    void set(K key, uint32_t head) {
        if (!head) return erase(key);
        if (n_) {
            Slot& s = s_[probe(key)];
            if (s.head) {  // present: a new head for its chain
                s.head = head;
                return;
            }
        }
        if (4 * (n_ + 1) > 3 * cap_) rehash(std::max<size_t>(8, 2 * cap_));
        s_[probe(key)] = Slot{key, head};
        n_++;
    }
    void clear() {
        zfree(s_, cap_ * sizeof(Slot));
        s_ = nullptr;
        cap_ = n_ = 0;
    }
    // Calls f(key, head) for every key, in slot order.
    template <class F>
    void each(F f) const {
        for (size_t i = 0; i < cap_; i++)
            if (s_[i].head) f(s_[i].key, s_[i].head);
    }
    // Makes room for n keys at once (a rebuild knows how many are coming).
    void reserve(size_t n) {
        size_t cap = 8;
        while (4 * n > 3 * cap) cap *= 2;
        if (cap > cap_) rehash(cap);
    }

private:
    struct Slot {
        K key;          // a destination's low end
        uint32_t head;  // first record of its chain; 0 = empty slot
    };
    size_t home(K key) const { return size_t(Fam<K>::mix(key)) & (cap_ - 1); }
    // The key's slot, or the empty slot ending its run.
    size_t probe(K key) const {
        size_t i = home(key);
        while (s_[i].head && s_[i].key != key) i = (i + 1) & (cap_ - 1);
        return i;
    }
    void rehash(size_t cap) {
        Slot* old = s_;
        size_t oldcap = cap_;
        s_ = static_cast<Slot*>(zalloc(cap * sizeof(Slot), true));
        cap_ = cap;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].head) s_[probe(old[i].key)] = old[i];
        zfree(old, oldcap * sizeof(Slot));
    }
    // Backward-shift deletion: later slots of the run whose home is not between the hole and
    // them move back, so that lookups never need tombstones. A table emptied to an eighth
    // shrinks.
    void erase(K key) {
        if (!n_) return;
        const size_t mask = cap_ - 1;
        size_t i = probe(key);
        if (!s_[i].head) return;
        for (size_t j = (i + 1) & mask; s_[j].head; j = (j + 1) & mask) {
            size_t k = home(s_[j].key);
            if (((j - k) & mask) >= ((j - i) & mask)) {  // k is cyclically at or before i
                s_[i] = s_[j];
                i = j;
            }
        }
        s_[i] = Slot{};
        if (--n_ == 0) return clear();
        if (cap_ > 64 && 8 * n_ < cap_) rehash(cap_ / 4);
    }

    Slot* s_ = nullptr;  // cap_ slots, zalloc'd
    size_t cap_ = 0;     // a power of two, or 0
    size_t n_ = 0;       // keys present
};

// ---- the slab ---------------------------------------------------------------------------

// Records by id. Id 0 is never used, so that 0 can end chains and mark empty hash slots.
// Grows by doubling with zgrow: a mapped slab moves without copying.
template <class T>
class Slab {
    static_assert(std::is_trivially_copyable_v<T>);
public:
    Slab() = default;
    Slab(const Slab&) = delete;
    Slab& operator=(const Slab&) = delete;
    ~Slab() { zfree(p_, cap_ * sizeof(T)); }

    T& operator[](uint32_t id) { return p_[id]; }
    const T& operator[](uint32_t id) const { return p_[id]; }
    uint32_t end() const { return n_; }  // one past the last id ever handed out
    size_t bytes() const { return cap_ * sizeof(T); }

    // A fresh id at the end.
    uint32_t push() {
        if (n_ == 0) n_ = 1;  // id 0 stays unused
        if (n_ >= cap_) {
            size_t cap = cap_ ? 2 * cap_ : 64;
            bool moved = cap_ * sizeof(T) < kBigBytes;  // calloc'd until now: copied
            p_ = static_cast<T*>(zgrow(p_, cap_ * sizeof(T), cap * sizeof(T)));
            cap_ = cap;
            if (moved) ready_ = 0;
        }
        if (size_t(n_ + 1) * sizeof(T) > ready_) prepare();
        return n_++;
    }
    // Forgets ids from n on; their memory stays for the next pushes.
    void truncate(uint32_t n) { n_ = n <= 1 ? 0 : n; }

private:
    static constexpr size_t kAhead = 2 * 1024 * 1024;  // populated ahead of the last id

    // Maps the next kAhead bytes of a mapped slab in one go: the slab fills front to back,
    // so pages are populated a chunk at a time rather than trapped on one by one, and at
    // most a chunk more than what is used is resident.
    void prepare() {
        size_t bytes = cap_ * sizeof(T);
        if (bytes < kBigBytes) {
            ready_ = bytes;
            return;
        }
        size_t to = std::min(bytes, (size_t(n_ + 1) * sizeof(T) + kAhead) & ~(kAhead - 1));
        size_t from = ready_ & ~size_t(4095);
        populate(reinterpret_cast<char*>(p_) + from, to - from);
        ready_ = to;
    }

    T* p_ = nullptr;    // cap_ records
    size_t cap_ = 0;    // records allocated
    uint32_t n_ = 0;    // records handed out, id 0 included
    size_t ready_ = 0;  // bytes from the start known to be mapped
};

// ---- one family's table -----------------------------------------------------------------

// The routes of one address family. Ids stay put until the record is erased, except across
// a compact() (bulk erases), which renumbers them.
template <class K>
class RouteTable {
public:
    using R = Rec<K>;
    static constexpr int kWidth = Fam<K>::kWidth;

    size_t size() const { return n_; }
    const R& at(uint32_t id) const { return slab_[id]; }
    R& at(uint32_t id) { return slab_[id]; }
    uint32_t end() const { return slab_.end(); }
    bool live(uint32_t id) const { return slab_[id].dlen != kFree; }
    const std::vector<uint32_t>& odd() const { return odd_; }  // non-contiguous masks
    size_t bytes() const {
        size_t b = slab_.bytes() + odd_.capacity() * sizeof(uint32_t);
        for (const auto& p : by_len_) b += p.bytes();
        return b;
    }

    // The live record with n's destination and source ranges, or 0.
    uint32_t find(const R& n) const {
        if (n.dlen < 0) {
            for (uint32_t id : odd_) {
                const R& o = slab_[id];
                if (o.dst == n.dst && o.mask == n.mask && same_source(o, n)) return id;
            }
            return 0;
        }
        for (uint32_t id = by_len_[size_t(n.dlen)].find(n.dst); id; id = slab_[id].next)
            if (same_source(slab_[id], n)) return id;
        return 0;
    }

    // Adds n (no record with its ranges may exist); returns its id.
    uint32_t insert(const R& n) {
        uint32_t id = free_;
        if (id) free_ = slab_[id].next;
        else id = slab_.push();
        R& e = slab_[id];
        e = n;
        e.next = 0;
        if (n.dlen < 0) {
            odd_.push_back(id);
        } else {
            Prefixes<K>& p = by_len_[size_t(n.dlen)];
            e.next = p.find(n.dst);  // a new chain member goes first
            p.set(n.dst, id);
            lens_[size_t(n.dlen) / 64] |= uint64_t(1) << (n.dlen % 64);
        }
        n_++;
        return id;
    }

    void erase(uint32_t id) {
        R& e = slab_[id];
        if (e.dlen < 0) {
            odd_.erase(std::find(odd_.begin(), odd_.end(), id));
        } else {
            Prefixes<K>& p = by_len_[size_t(e.dlen)];
            uint32_t head = p.find(e.dst);
            if (head == id) {
                p.set(e.dst, e.next);
                if (!p.size()) lens_[size_t(e.dlen) / 64] &= ~(uint64_t(1) << (e.dlen % 64));
            } else {
                uint32_t* link = &slab_[head].next;
                while (*link != id) link = &slab_[*link].next;
                *link = e.next;
            }
        }
        e.dlen = kFree;
        e.next = free_;
        free_ = id;
        n_--;
    }

    // Erases every record for which pred(record) holds, calling gone(record) before each.
    // Returns how many. Many at once (a flush) are erased by rebuilding the hashes from
    // what stays, packed at the front of the slab: cheaper than unlinking each, and it
    // leaves no holes for the text order and iteration to skip.
    template <class Pred, class Gone>
    size_t erase_if(Pred pred, Gone gone) {
        std::vector<uint32_t> doomed;
        for (uint32_t id = 1; id < slab_.end(); id++)
            if (live(id) && pred(slab_[id])) doomed.push_back(id);
        if (doomed.size() < 64 || doomed.size() < n_ / 4) {
            for (uint32_t id : doomed) {
                gone(slab_[id]);
                erase(id);
            }
            return doomed.size();
        }
        for (uint32_t id : doomed) {
            gone(slab_[id]);
            slab_[id].dlen = kFree;
        }
        compact();
        return doomed.size();
    }

    // §4.3.2: among routes whose destination range holds d and whose source range holds s
    // (routes that are not source-specific have smask 0, which holds every s), the one with
    // the largest (destination mask, source mask). 0 if none.
    uint32_t lookup(K d, K s) const {
        uint32_t best = 0;
        K best_dm = 0, best_sm = 0;
        for (int len = last_len(kWidth); len >= 0 && !best; len = last_len(len - 1)) {
            K dm = prefix<K>(len);
            for (uint32_t id = by_len_[size_t(len)].find(K(d & dm)); id; id = slab_[id].next) {
                const R& e = slab_[id];
                if (!in_range(s, e.src, e.smask)) continue;
                if (!best || e.smask > best_sm) best = id, best_dm = dm, best_sm = e.smask;
            }
        }
        for (uint32_t id : odd_) {  // non-contiguous destination masks: the slow path
            const R& e = slab_[id];
            if (!in_range(d, e.dst, e.mask) || !in_range(s, e.src, e.smask)) continue;
            if (!best || e.mask > best_dm || (e.mask == best_dm && e.smask > best_sm))
                best = id, best_dm = e.mask, best_sm = e.smask;
        }
        return best;
    }

    // The ids of the routes whose destination range holds d, shortest prefix first, each
    // chain in its order; then those with non-contiguous masks.
    void matches(K d, std::vector<uint32_t>& out) const {
        for (int len = 0; len <= kWidth; len++) {
            if (!has_len(len)) continue;
            for (uint32_t id = by_len_[size_t(len)].find(K(d & prefix<K>(len))); id;
                 id = slab_[id].next)
                out.push_back(id);
        }
        for (uint32_t id : odd_)
            if (in_range(d, slab_[id].dst, slab_[id].mask)) out.push_back(id);
    }

private:
    static bool same_source(const R& a, const R& b) {
        return a.src == b.src && a.smask == b.smask;
    }
    bool has_len(int len) const { return lens_[size_t(len) / 64] >> (len % 64) & 1; }
    // The longest prefix length at most len that has destinations, or -1.
    int last_len(int len) const {
        for (; len >= 0; len = (len & ~63) - 1) {
            uint64_t w = lens_[size_t(len) / 64] & (~uint64_t(0) >> (63 - len % 64));
            if (w) return (len & ~63) + 63 - std::countl_zero(w);
        }
        return -1;
    }
    // Packs the live records to the front of the slab, keeping their order, and rebuilds
    // the hashes: each chain keeps its live members in their order.
    void compact() {
        std::vector<uint32_t> nid(slab_.end(), 0);  // old id -> new id
        uint32_t to = 1;
        for (uint32_t id = 1; id < slab_.end(); id++)
            if (live(id)) nid[id] = to++;
        std::vector<std::pair<K, uint32_t>> heads;
        for (int len = 0; len <= kWidth; len++) {
            if (!has_len(len)) continue;
            Prefixes<K>& p = by_len_[size_t(len)];
            heads.clear();
            p.each([&](K key, uint32_t head) {
                uint32_t first = 0, prev = 0;
                for (uint32_t id = head, nx; id; id = nx) {
                    nx = slab_[id].next;
                    if (!live(id)) continue;
                    (prev ? slab_[prev].next : first) = nid[id];
                    prev = id;
                }
                if (prev) slab_[prev].next = 0;
                if (first) heads.emplace_back(key, first);
            });
            p.clear();
            p.reserve(heads.size());
            for (auto [key, head] : heads) p.set(key, head);
            if (heads.empty()) lens_[size_t(len) / 64] &= ~(uint64_t(1) << (len % 64));
        }
        std::erase_if(odd_, [&](uint32_t id) { return !live(id); });
        for (uint32_t& id : odd_) id = nid[id];
        for (uint32_t id = 1; id < slab_.end(); id++)
            if (nid[id]) slab_[nid[id]] = slab_[id];
        slab_.truncate(to);
        free_ = 0;
        n_ = to - 1;
    }

    Slab<R> slab_;                                 // records by id
    uint32_t free_ = 0;                            // first free record; 0 = none
    size_t n_ = 0;                                 // live records
    std::array<Prefixes<K>, kWidth + 1> by_len_;   // contiguous destinations by length
    std::array<uint64_t, kWidth / 64 + 1> lens_{}; // bit len set: by_len_[len] is not empty
    std::vector<uint32_t> odd_;                    // records with a non-contiguous mask
};

}  // namespace devip::proto::rt
