// Longest-prefix match tables, control side: adds, deletes, group life (see lpm.h).
#include "proto/lpm.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstring>

namespace devip::proto {

namespace {

constexpr int kLenShift = 23;
constexpr size_t kTbl24 = size_t(1) << 24;

uint32_t entry(uint32_t value, int len) { return uint32_t(len) << kLenShift | value; }
int entry_len(uint32_t e) { return int(e >> kLenShift) & 0xff; }
uint32_t ld(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
void st(uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

// Zero pages on demand; huge pages where the kernel has them to give.
void* map_zero(size_t bytes) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

template <int N>
std::array<uint8_t, N> masked(const std::array<uint8_t, N>& k, int len) {
    std::array<uint8_t, N> m{};
    int i = 0;
    for (; 8 * (i + 1) <= len; i++) m[size_t(i)] = k[size_t(i)];
    if (i < N && len % 8) m[size_t(i)] = uint8_t(k[size_t(i)] & (0xff00 >> (len % 8)));
    return m;
}

template <int N>
uint64_t hash(const std::array<uint8_t, N>& k, int len) {
    uint64_t a = 0, b = 0;
    std::memcpy(&a, k.data(), std::min(N, 8));
    if (N > 8) std::memcpy(&b, k.data() + 8, size_t(N > 8 ? N - 8 : 0));
    uint64_t h = (a ^ uint64_t(len) << 56) * 0x9e3779b97f4a7c15ull;
    h ^= b * 0xc2b2ae3d27d4eb4full;
    return h ^ (h >> 29);
}

}  // namespace

template <int N>
Lpm<N>::~Lpm() {
    if (tbl24_) munmap(tbl24_, kTbl24 * 4);
    if (groups_) munmap(groups_, size_t(ngroups_) * 256 * 4);
}

template <int N>
Err Lpm<N>::init(uint32_t groups, LpmGrace grace, uint32_t routes) {
    grace_ = std::move(grace);
    ngroups_ = std::max<uint32_t>(groups, 16);
    tbl24_ = static_cast<uint32_t*>(map_zero(kTbl24 * 4));
    groups_ = static_cast<uint32_t*>(map_zero(size_t(ngroups_) * 256 * 4));
    if (!tbl24_ || !groups_) return Err{"fib: cannot map the lookup table"};
    rt_.tbl24 = tbl24_;
    rt_.groups = groups_;
    slot_.assign(std::bit_ceil(std::max<size_t>(2 * size_t(routes), 1024)), Slot{});
    return ok;
}

// ---- the route hash ----------------------------------------------------------------------

template <int N>
size_t Lpm<N>::probe(const Key& key, int len) const {
    size_t mask = slot_.size() - 1;
    for (size_t i = hash<N>(key, len) & mask;; i = (i + 1) & mask) {
        const Slot& s = slot_[i];
        if (!s.used || (s.len == len && s.key == key)) return i;
    }
}

template <int N>
void Lpm<N>::grow() {
    std::vector<Slot> old(slot_.size() * 2, Slot{});
    old.swap(slot_);
    size_t mask = slot_.size() - 1;
    for (const Slot& s : old) {
        if (!s.used) continue;
        size_t i = hash<N>(s.key, s.len) & mask;
        while (slot_[i].used) i = (i + 1) & mask;
        slot_[i] = s;
    }
}

template <int N>
void Lpm<N>::insert(size_t i, const Key& key, int len, uint32_t value) {
    if (slot_[i].used) {
        slot_[i].value = value;
        return;
    }
    slot_[i] = Slot{key, uint8_t(len), 1, value};
    n_++;
    nlen_[size_t(len)]++;
    if (2 * n_ > slot_.size()) grow();
}

template <int N>
void Lpm<N>::erase(size_t i) {
    n_--;
    nlen_[slot_[i].len]--;
    size_t mask = slot_.size() - 1;
    for (size_t j = (i + 1) & mask; slot_[j].used; j = (j + 1) & mask) {
        size_t home = hash<N>(slot_[j].key, slot_[j].len) & mask;
        // slot j may move back to i if its home is not in (i, j] (cyclically)
        if (((j - home) & mask) >= ((j - i) & mask)) {
            slot_[i] = slot_[j];
            i = j;
        }
    }
    slot_[i] = Slot{};
}

template <int N>
std::optional<uint32_t> Lpm<N>::get(const Key& key, int len) const {
    if (len == 0) return rt_.def ? std::optional<uint32_t>(rt_.def) : std::nullopt;
    const Slot& s = slot_[probe(masked<N>(key, len), len)];
    if (!s.used) return std::nullopt;
    return s.value;
}

// ---- groups ------------------------------------------------------------------------------

template <int N>
void Lpm<N>::reclaim() {
    size_t k = 0;
    for (; k < retired_.size(); k++) {  // tokens grow: stop at the first period not over
        if (grace_.done && !grace_.done(retired_[k].token, false)) break;
        free_.push_back(retired_[k].g);
    }
    retired_.erase(retired_.begin(), retired_.begin() + long(k));
}

// Whether need more groups can be had, waiting for retired ones if it must.
template <int N>
bool Lpm<N>::make_room(int need) {
    auto have = [&] { return free_.size() + (ngroups_ - high_) >= size_t(need); };
    if (have()) return true;
    reclaim();
    while (!have() && !retired_.empty()) {
        if (grace_.done) grace_.done(retired_.front().token, true);
        free_.push_back(retired_.front().g);
        retired_.erase(retired_.begin());
    }
    return have();
}

// A group filled with the entry it replaces, then published in its parent.
template <int N>
uint32_t Lpm<N>::alloc_group(uint32_t fill, uint32_t* parent) {
    uint32_t g;
    if (!free_.empty()) {
        g = free_.back();
        free_.pop_back();
    } else {
        g = high_++;
        meta_.resize(high_);
    }
    uint32_t* e = group(g);
    for (int i = 0; i < 256; i++) e[i] = fill;  // no worker can see it yet
    meta_[g] = Group{parent, 0};
    used_++;
    st(parent, kLpmGroup | g);
    return g;
}

// A group none of whose routes is longer than its base: its entries are all equal, so the
// parent takes that entry back; the group is reused after a grace period.
template <int N>
void Lpm<N>::collapse(uint32_t g) {
    st(meta_[g].parent, ld(group(g)));
    used_--;
    retired_.push_back({g, grace_.start ? grace_.start() : 0});
}

template <int N>
int Lpm<N>::missing_groups(const Key& key, int len) {
    int lvl = len <= 24 ? 0 : (len - 24 + 7) / 8;
    const uint32_t* e = tbl24_ + (uint32_t(key[0]) << 16 | uint32_t(key[1]) << 8 | key[2]);
    for (int j = 1; j <= lvl; j++) {
        uint32_t x = ld(e);
        if (!(x & kLpmGroup)) return lvl - j + 1;
        e = group(x & ~kLpmGroup) + key[size_t(2 + j)];
    }
    return 0;
}

// The entries key/len covers at its own level: *n of them from the returned one. The groups
// on the way (made if make is set; they exist otherwise) go to path, *nlev of them.
template <int N>
uint32_t* Lpm<N>::range(const Key& key, int len, bool make, uint32_t* path, int* nlev,
                        size_t* n) {
    uint32_t* e = tbl24_ + (uint32_t(key[0]) << 16 | uint32_t(key[1]) << 8 | key[2]);
    *nlev = 0;
    if (len <= 24) {
        *n = size_t(1) << (24 - len);
        return e;
    }
    int lvl = (len - 24 + 7) / 8;
    for (int j = 1; j <= lvl; j++) {
        uint32_t x = ld(e);
        uint32_t g = (x & kLpmGroup) ? x & ~kLpmGroup : (make ? alloc_group(x, e) : UINT32_MAX);
        if (g == UINT32_MAX) return nullptr;  // cannot happen for a route in the table
        path[(*nlev)++] = g;
        e = group(g) + key[size_t(2 + j)];
    }
    *n = size_t(1) << (24 + 8 * lvl - len);
    return e;
}

// Sets the value entries among e[0..n) (and the groups they name) whose route length is at
// most len (an add), or exactly len (a delete), to `to`.
template <int N>
void Lpm<N>::fill(uint32_t* e, size_t n, uint32_t to, int len, bool exact) {
    for (size_t i = 0; i < n; i++) {
        uint32_t x = ld(e + i);
        if (x & kLpmGroup)
            fill(group(x & ~kLpmGroup), 256, to, len, exact);
        else if ((exact ? entry_len(x) == len : entry_len(x) <= len) && x != to)
            st(e + i, to);
    }
}

// ---- routes ------------------------------------------------------------------------------

template <int N>
bool Lpm<N>::add(const Key& key0, int len, uint32_t value) {
    if (len < 0 || len > kBits || value == 0 || value > kLpmValue) return false;
    if (len == 0) {
        if (!rt_.def) nlen_[0]++, n_++;
        __atomic_store_n(&rt_.def, value, __ATOMIC_RELEASE);
        return true;
    }
    Key key = masked<N>(key0, len);
    size_t slot = probe(key, len);
    bool fresh = !slot_[slot].used;
    if (fresh && len > 24 && !make_room(missing_groups(key, len))) return false;
    insert(slot, key, len, value);
    uint32_t path[16];
    int nlev;
    size_t n;
    uint32_t* e = range(key, len, true, path, &nlev, &n);
    if (fresh)
        for (int j = 0; j < nlev; j++) meta_[path[j]].deep++;
    fill(e, n, entry(value, len), len, false);
    return true;
}

template <int N>
bool Lpm<N>::del(const Key& key0, int len) {
    if (len < 0 || len > kBits) return false;
    if (len == 0) {
        if (!rt_.def) return false;
        nlen_[0]--, n_--;
        __atomic_store_n(&rt_.def, 0, __ATOMIC_RELEASE);
        return true;
    }
    Key key = masked<N>(key0, len);
    size_t i = probe(key, len);
    if (!slot_[i].used) return false;
    erase(i);
    uint32_t to = 0;  // the longest shorter prefix takes the addresses back (0: def)
    for (int l = len - 1; l > 0; l--) {
        if (!nlen_[size_t(l)]) continue;
        const Slot& s = slot_[probe(masked<N>(key, l), l)];
        if (s.used) {
            to = entry(s.value, l);
            break;
        }
    }
    uint32_t path[16];
    int nlev;
    size_t n;
    uint32_t* e = range(key, len, false, path, &nlev, &n);
    fill(e, n, to, len, true);
    for (int j = nlev - 1; j >= 0; j--)  // deepest first: a parent may empty in turn
        if (--meta_[path[j]].deep == 0) collapse(path[j]);
    return true;
}

template class Lpm<4>;
template class Lpm<16>;

}  // namespace devip::proto
