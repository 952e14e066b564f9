// The workers' forwarding tables, control side: routes into the LPM and the source table,
// next hops, neighbours. Workers read FibRt (fib_lookup.h).
#include "proto/fib.h"

#include "proto/dlog.h"

#include <algorithm>
#include <cstdio>

namespace devip::proto {

namespace {

template <int N>
int family_len(const Route& r) {  // the destination prefix length in the family, -1 if odd
    int len = mask_len(r.mask);
    if (len < 0) return -1;
    return N == 4 ? (len < 96 ? -1 : len - 96) : len;
}

}  // namespace

template <int N>
Fib<N>::~Fib() {
    delete rt_.srctab.load();
    delete rt_.neigh.load();
}

template <int N>
Err Fib<N>::init(uint32_t routes, LpmGrace grace, Retire retire) {
    retire_ = std::move(retire);
    // groups: v4 needs one per /24 holding longer routes (a few per thousand routes in
    // real tables); v6 routes are mostly longer than /24 and need several each
    uint32_t groups = N == 4 ? std::max<uint32_t>(routes / 16, 4096)
                             : std::max<uint32_t>(routes * 4, 16384);
    if (Err e = lpm_.init(groups, std::move(grace), routes)) return e;
    nh_.reset(new NhRt<N>[kMaxNh]());
    nh_[kNhPunt].kind = NhKind::Punt;
    rt_.lpm = lpm_.rt();
    rt_.groups_max = lpm_.groups_max();
    rt_.nh = nh_.get();
    rt_.srctab.store(new SrcTab<N>{}, std::memory_order_release);
    rt_.neigh.store(new NeighRt<N>{}, std::memory_order_release);
    return ok;
}

template <int N>
uint32_t Fib<N>::nh_index(const NhKey& k) {
    auto it = nhidx_.find(k);
    if (it != nhidx_.end()) return it->second;
    if (nnh_ >= kMaxNh) return kNhPunt;  // table full: such routes are punted
    uint32_t i = nnh_++;
    NhRt<N>& h = nh_[i];
    h.kind = k.kind;
    h.port = k.port;
    h.gate = k.gate;
    auto n = neigh_.find({k.port, k.gate});
    h.l2 = k.kind == NhKind::Gate && n != neigh_.end() ? n->second : 0;
    std::atomic_thread_fence(std::memory_order_release);  // written before any entry names it
    nhidx_.emplace(k, i);
    return i;
}

template <int N>
void Fib<N>::set_odd() {
    rt_.odd.store(odd_ + (unfit_.empty() ? 0 : 1), std::memory_order_release);
}

template <int N>
void Fib<N>::install(const Addr& dst, int len, uint32_t value) {
    if (lpm_.add(dst, len, value)) {
        if (unfit_.erase({dst, len})) set_odd();
        return;
    }
    // no group left: until it fits, the control thread routes everything (correct, slow)
    if (unfit_.empty())
        dlog::msg(dlog::Level::Warn, "fib: table full; forwarding on the slow path");
    unfit_[{dst, len}] = value;
    set_odd();
}

template <int N>
void Fib<N>::uninstall(const Addr& dst, int len) {
    lpm_.del(dst, len);
    if (unfit_.erase({dst, len})) set_odd();
}

template <int N>
void Fib<N>::route(const Route& r, bool present, NhKind kind, uint16_t port) {
    if (r.v4() != (N == 4)) return;
    int len = family_len<N>(r);
    if (len < 0) {  // a non-contiguous mask cannot live in an LPM: punt all forwarding
        odd_ += present ? 1 : uint32_t(-1);
        set_odd();
        return;
    }
    Addr dst = fib_addr<N>(r.dst);
    uint32_t nh = 0;
    if (present) {
        bool out = kind == NhKind::Gate || kind == NhKind::OnLink || kind == NhKind::Tunnel;
        Addr gate = kind == NhKind::Gate ? fib_addr<N>(r.gate) : Addr{};
        nh = nh_index(NhKey{kind, out ? port : uint16_t(0), gate});
    }
    auto it = srcpfx_.find({dst, len});
    if (!r.source_specific()) {
        if (it == srcpfx_.end()) {
            if (present)
                install(dst, len, nh);
            else
                uninstall(dst, len);
            return;
        }
        it->second.any = nh;
    } else {
        if (it == srcpfx_.end()) {
            if (!present) return;
            uint32_t idx;
            if (!free_dest_.empty()) {
                idx = free_dest_.back();
                free_dest_.pop_back();
            } else if (ndest_ < kMaxDest) {
                idx = ndest_++;
            } else {  // out of source entries: let the control thread route this prefix
                install(dst, len, kNhPunt);
                return;
            }
            SrcPrefix p;
            auto u = unfit_.find({dst, len});
            p.any = u != unfit_.end() ? u->second : lpm_.get(dst, len).value_or(0);
            p.dest = idx;
            it = srcpfx_.emplace(PKey{dst, len}, std::move(p)).first;
        }
        Addr src = fib_addr<N>(r.src), mask = fib_addr<N>(r.smask);
        auto& v = it->second.src;
        std::erase_if(v, [&](const Src& s) { return s.src == src && s.mask == mask; });
        if (present) v.push_back({src, mask, nh});
        std::stable_sort(v.begin(), v.end(), [](const Src& a, const Src& b) {
            return a.mask > b.mask;  // byte-wise: a longer prefix mask compares greater
        });
    }
    SrcPrefix& p = it->second;
    if (!p.src.empty()) {
        publish_srctab();  // the table first, then the entry that points into it
        install(dst, len, kFibSrc | p.dest);
        return;
    }
    // no source routes left: back to a plain entry, then the index is freed after a grace
    uint32_t any = p.any, idx = p.dest;
    srcpfx_.erase(it);
    if (any)
        install(dst, len, any);
    else
        uninstall(dst, len);
    publish_srctab();
    retire_([this, idx] { free_dest_.push_back(idx); });
}

template <int N>
void Fib<N>::publish_srctab() {
    auto* t = new SrcTab<N>;
    t->dest.assign(ndest_, DestRt{0, 0, 0});
    for (auto& [key, p] : srcpfx_) {
        DestRt& d = t->dest[p.dest];
        d.any = p.any;
        d.first = uint32_t(t->src.size());
        d.count = uint32_t(p.src.size());
        for (auto& s : p.src) t->src.push_back({s.src, s.mask, s.nh});
    }
    const SrcTab<N>* old = rt_.srctab.exchange(t, std::memory_order_acq_rel);
    retire_([old] { delete old; });
}

template <int N>
void Fib<N>::neigh_set(uint16_t port, const Addr& ip, const Ether& mac) {
    uint64_t l2 = l2_word(mac);
    auto [it, fresh] = neigh_.try_emplace({port, ip}, l2);
    if (!fresh && it->second == l2) return;
    it->second = l2;
    neigh_dirty_ = true;
    for (uint32_t i = 2; i < nnh_; i++)  // gateways at this address learn their MAC now
        if (nh_[i].kind == NhKind::Gate && nh_[i].port == port && nh_[i].gate == ip)
            __atomic_store_n(&nh_[i].l2, l2, __ATOMIC_RELEASE);
}

template <int N>
void Fib<N>::neigh_del(uint16_t port, const Addr& ip) {
    if (!neigh_.erase({port, ip})) return;
    neigh_dirty_ = true;
    for (uint32_t i = 2; i < nnh_; i++)
        if (nh_[i].kind == NhKind::Gate && nh_[i].port == port && nh_[i].gate == ip)
            __atomic_store_n(&nh_[i].l2, 0, __ATOMIC_RELEASE);
}

template <int N>
void Fib<N>::publish_neigh() {
    auto* t = new NeighRt<N>{};
    uint32_t n = 0;
    for (auto& [key, l2] : neigh_) {
        if (++n == NeighRt<N>::kSlots) break;  // one slot stays empty (cannot happen: 256)
        uint32_t i = NeighRt<N>::home(key.first, key.second.data());
        while (t->slot[i].used) i = (i + 1) & (NeighRt<N>::kSlots - 1);
        t->slot[i] = {key.second, key.first, 1, l2};
    }
    const NeighRt<N>* old = rt_.neigh.exchange(t, std::memory_order_acq_rel);
    retire_([old] { delete old; });
    neigh_dirty_ = false;
}

template <int N>
void Fib<N>::commit() {
    if (neigh_dirty_) publish_neigh();
    lpm_.reclaim();
    rt_.prefixes.store(uint32_t(lpm_.size()), std::memory_order_relaxed);
    rt_.groups.store(lpm_.groups_used(), std::memory_order_relaxed);
    if (unfit_.empty()) return;
    auto pending = unfit_;  // retry what did not fit
    for (auto& [key, value] : pending) install(key.first, key.second, value);
}

template class Fib<4>;
template class Fib<16>;

}  // namespace devip::proto
