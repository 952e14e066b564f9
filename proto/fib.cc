// The IPv4 FIB: incremental rte_lpm updates under RCU, next hops, the source-specific second
// stage and the neighbour hash. Control thread only; workers read FibRt (proto/fastpath.h).
#include "proto/fib.h"

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_jhash.h>
#include <rte_lpm.h>
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
    if (rt_.lpm) rte_lpm_free(rt_.lpm);
    if (rt_.neigh) rte_hash_free(rt_.neigh);
    rte_free(rt_.nh);
    delete rt_.srctab.load();
}

Err Fib4::init(int stack, uint32_t routes, rte_rcu_qsbr* qsbr, Retire retire) {
    retire_ = std::move(retire);
    char name[RTE_LPM_NAMESIZE];
    snprintf(name, sizeof name, "devip_fib4_%d", stack);
    rte_lpm_config cfg{};
    cfg.max_rules = std::max<uint32_t>(routes, 1024);
    cfg.number_tbl8s = std::max<uint32_t>(routes / 16, 256);
    rt_.lpm = rte_lpm_create(name, SOCKET_ID_ANY, &cfg);
    if (!rt_.lpm) return err_text("fib: rte_lpm_create: %s", rte_strerror(rte_errno));
    if (qsbr) {
        rte_lpm_rcu_config rc{};
        rc.v = qsbr;
        rc.mode = RTE_LPM_QSBR_MODE_DQ;
        if (rte_lpm_rcu_qsbr_add(rt_.lpm, &rc) != 0) return Err{"fib: lpm rcu"};
    }
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
    return ok;
}

uint32_t Fib4::nh_index(const NhKey& k) {
    auto it = nhidx_.find(k);
    if (it != nhidx_.end()) return it->second;
    if (nnh_ >= kMaxNh) return kNoNh;  // table full: such routes are punted
    uint32_t i = nnh_++;
    rt_.nh[i] = NhRt{k.kind, 0, k.port, k.gate};
    std::atomic_thread_fence(std::memory_order_release);  // written before any LPM entry names it
    nhidx_.emplace(k, i);
    return i;
}

void Fib4::route(const Route& r, bool present, NhKind kind, uint16_t port) {
    if (!r.v4()) return;
    int len = mask_len(r.mask);
    if (len < 96) {  // a non-contiguous mask cannot live in an LPM: punt all forwarding
        odd_ += present ? 1 : uint32_t(-1);
        rt_.odd.store(odd_, std::memory_order_release);
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
        nh = nh_index(NhKey{kind, kind == NhKind::Gate || kind == NhKind::OnLink ? port
                                                                                   : uint16_t(0),
                            gate});
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
    bool had_src = srcdest_.count(key);
    if (p.src.empty()) {
        if (had_src) {
            uint32_t idx = srcdest_[key];
            srcdest_.erase(key);
            publish_srctab();
            retire_([this, idx] { free_dest_.push_back(idx); });
        }
        set(dst, len, p.any == kNoNh ? kNoDefault : p.any);
        return;
    }
    if (!had_src) {
        uint32_t idx;
        if (!free_dest_.empty()) {
            idx = free_dest_.back();
            free_dest_.pop_back();
        } else {
            idx = ndest_++;
        }
        srcdest_[key] = idx;
    }
    publish_srctab();  // the table first, then the LPM entry that points into it
    set(dst, len, kFibSrcFlag | srcdest_[key]);
}

// One LPM entry (value kNoDefault: none). The /0 entry lives beside the LPM.
void Fib4::set(uint32_t dst, int len, uint32_t value) {
    if (len == 0) {
        rt_.dflt.store(value, std::memory_order_release);
    } else if (value == kNoDefault) {
        rte_lpm_delete(rt_.lpm, dst, uint8_t(len));
    } else {
        rte_lpm_add(rt_.lpm, dst, uint8_t(len), value);
    }
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

void Fib4::neigh_set(uint16_t port, uint32_t ip_be, const Ether& mac) {
    NeighKey k{ip_be, port, 0};
    rte_hash_add_key_data(rt_.neigh, &k, reinterpret_cast<void*>(uintptr_t(pack_mac(mac))));
}

void Fib4::neigh_del(uint16_t port, uint32_t ip_be) {
    NeighKey k{ip_be, port, 0};
    rte_hash_del_key(rt_.neigh, &k);
}

}  // namespace devip::proto
