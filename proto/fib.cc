// The IPv4 FIB: double-buffered rte_fib updates, next hops, the source-specific second
// stage and the neighbour hash. Control thread only; workers read FibRt (fib_lookup.h).
#include "proto/fib.h"

#include <rte_errno.h>
#include <rte_fib.h>
#include <rte_hash.h>
#include <rte_jhash.h>
#include <rte_malloc.h>

#include <algorithm>
#include <cstdio>

namespace devip::proto {

namespace {

uint64_t pkey(uint32_t dst, int len) { return uint64_t(dst) << 8 | uint64_t(len); }

uint64_t pack_mac(const Ether& m) {
    uint64_t v = 1ull << 48;
    for (int i = 0; i < 6; i++) v |= uint64_t(m.b[size_t(i)]) << (8 * i);
    return v;
}

}  // namespace

Fib4::~Fib4() {
    for (auto* f : copy_)
        if (f) rte_fib_free(f);
    if (rt_.neigh) rte_hash_free(rt_.neigh);
    rte_free(rt_.nh);
    delete rt_.srctab.load();
}

Err Fib4::init(int stack, uint32_t routes, rte_rcu_qsbr* qsbr, Retire retire) {
    retire_ = std::move(retire);
    char name[64];
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof name, "devip_fib4_%d_%d", stack, i);
        rte_fib_conf cfg{};
        cfg.type = RTE_FIB_DIR24_8;
        cfg.default_nh = kFibMiss;
        cfg.max_routes = int(std::max<uint32_t>(routes, 1024));
        cfg.dir24_8.nh_sz = RTE_FIB_DIR24_8_2B;
        cfg.dir24_8.num_tbl8 = 32767;  // the most 2-byte next hops allow
        copy_[i] = rte_fib_create(name, SOCKET_ID_ANY, &cfg);
        if (!copy_[i]) return err_text("fib: rte_fib_create: %s", rte_strerror(rte_errno));
    }
    rt_.fib.store(copy_[active_], std::memory_order_release);
    rt_.nh = static_cast<NhRt*>(rte_zmalloc("devip_nh", sizeof(NhRt) * kMaxNh, 64));
    if (!rt_.nh) return Err{"fib: no memory for next hops"};
    snprintf(name, sizeof name, "devip_neigh_%d", stack);
    rte_hash_parameters hp{};
    hp.name = name;
    hp.entries = 65536;
    hp.key_len = sizeof(NeighKey);
    hp.hash_func = rte_jhash;
    hp.socket_id = SOCKET_ID_ANY;
    hp.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF;
    rt_.neigh = rte_hash_create(&hp);
    if (!rt_.neigh) return err_text("fib: rte_hash_create: %s", rte_strerror(rte_errno));
    if (qsbr) {
        rte_hash_rcu_config rc{};
        rc.v = qsbr;
        rc.mode = RTE_HASH_QSBR_MODE_DQ;
        if (rte_hash_rcu_qsbr_add(rt_.neigh, &rc) != 0) return Err{"fib: hash rcu"};
    }
    rt_.srctab.store(new SrcTab{}, std::memory_order_release);
    prefix_.reserve(routes);
    return ok;
}

uint32_t Fib4::nh_index(const NhKey& k) {
    auto it = nhidx_.find(k);
    if (it != nhidx_.end()) return it->second;
    if (nnh_ >= kMaxNh) return kNoNh;  // table full: such routes are punted
    uint32_t i = nnh_++;
    rt_.nh[i] = NhRt{k.kind, 0, k.port, k.gate};
    std::atomic_thread_fence(std::memory_order_release);  // written before any entry names it
    nhidx_.emplace(k, i);
    return i;
}

void Fib4::route(const Route& r, bool present, NhKind kind, uint16_t port) {
    if (!r.v4()) return;
    int len = mask_len(r.mask);
    if (len < 96) {  // a non-contiguous mask cannot live in a FIB: punt all forwarding
        odd_ += present ? 1 : uint32_t(-1);
        rt_.odd.store(odd_ + (full_ ? 1 : 0), std::memory_order_release);
        return;
    }
    len -= 96;
    uint32_t dst = r.dst.v4host();
    uint64_t key = pkey(dst, len);
    Prefix& p = prefix_[key];
    uint32_t nh = kNoNh;
    if (present) {
        uint32_t gate = 0;
        if (kind == NhKind::Gate) std::memcpy(&gate, r.gate.b.data() + 12, 4);
        bool out = kind == NhKind::Gate || kind == NhKind::OnLink;
        nh = nh_index(NhKey{kind, out ? port : uint16_t(0), gate});
        if (nh == kNoNh) nh = kFibPunt;  // next hops full: present, but the control's job
    }
    if (!r.source_specific()) {
        p.any = present ? nh : kNoNh;
    } else {
        uint32_t src = r.src.v4host(), mask = r.smask.v4host();
        std::erase_if(p.src, [&](const Src& s) { return s.src == src && s.mask == mask; });
        if (present) p.src.push_back({src, mask, nh});
        std::sort(p.src.begin(), p.src.end(),
                  [](const Src& a, const Src& b) { return a.mask > b.mask; });
    }
    install(dst, len, p);
    if (p.any == kNoNh && p.src.empty()) prefix_.erase(key);
}

void Fib4::install(uint32_t dst, int len, const Prefix& p) {
    uint64_t key = pkey(dst, len);
    auto sd = srcdest_.find(key);
    if (p.src.empty()) {
        if (sd != srcdest_.end()) {  // freed once no copy refers to it (commit)
            dest_unref_.push_back(sd->second);
            srcdest_.erase(sd);
            publish_srctab();
        }
        queue(dst, len, p.any == kNoNh ? kFibMiss : p.any);
        return;
    }
    if (sd == srcdest_.end()) {
        uint32_t idx;
        if (!free_dest_.empty()) {
            idx = free_dest_.back();
            free_dest_.pop_back();
        } else if (ndest_ < kMaxDest) {
            idx = ndest_++;
        } else {  // out of source entries: let the control thread route this prefix
            queue(dst, len, kFibPunt);
            return;
        }
        sd = srcdest_.emplace(key, idx).first;
    }
    publish_srctab();  // the table first, then the FIB entry that points into it
    queue(dst, len, kFibSrcFlag | sd->second);
}

void Fib4::publish_srctab() {
    auto* t = new SrcTab;
    t->dest.assign(ndest_, DestRt{kNoNh, 0, 0});
    for (auto& [key, idx] : srcdest_) {
        const Prefix& p = prefix_[key];
        DestRt& d = t->dest[idx];
        d.any = p.any;
        d.first = uint32_t(t->src.size());
        d.count = uint32_t(p.src.size());
        for (auto& s : p.src) t->src.push_back({s.src, s.mask, s.nh});
    }
    const SrcTab* old = rt_.srctab.exchange(t, std::memory_order_acq_rel);
    retire_([old] { delete old; });
}

// Applies ops to one copy. A failed add (out of tbl8 groups) would let packets fall to a
// shorter prefix, so it marks the FIB unusable: everything then takes the slow path, which
// routes correctly.
void Fib4::apply(rte_fib* f, const std::vector<Op>& ops) {
    for (const Op& o : ops) {
        if (o.value == kFibMiss)
            rte_fib_delete(f, o.dst, o.len);
        else if (rte_fib_add(f, o.dst, o.len, o.value) != 0 && !full_)
            full_ = true;
    }
    if (full_) rt_.odd.store(odd_ + 1, std::memory_order_release);
}

void Fib4::commit() {
    if (waiting_ || pending_.empty()) return;
    // the batch in (length, address) order: shorter prefixes first, so a route's
    // more-specifics usually come after it and DIR24_8 need not walk them
    std::vector<Op> batch;
    batch.reserve(pending_.size());
    for (auto& [k, v] : pending_) batch.push_back({uint32_t(k), uint8_t(k >> 32), v});
    pending_.clear();
    int next = 1 - active_;
    apply(copy_[next], batch);
    rt_.fib.store(copy_[next], std::memory_order_release);
    active_ = next;
    lagging_ = std::move(batch);
    waiting_ = true;
    std::vector<uint32_t> unref = std::move(dest_unref_);
    dest_unref_.clear();
    retire_([this, unref = std::move(unref)] {  // no worker reads the old copy any more
        apply(copy_[1 - active_], lagging_);
        lagging_.clear();
        waiting_ = false;
        free_dest_.insert(free_dest_.end(), unref.begin(), unref.end());
    });
}

void Fib4::neigh_set(uint16_t port, uint32_t ip_be, const Ether& mac) {
    NeighKey k{ip_be, port, 0};
    rte_hash_add_key_data(rt_.neigh, &k, reinterpret_cast<void*>(uintptr_t(pack_mac(mac))));
}

void Fib4::neigh_del(uint16_t port, uint32_t ip_be) {
    NeighKey k{ip_be, port, 0};
    rte_hash_del_key(rt_.neigh, &k);
}

}  // namespace devip::proto
