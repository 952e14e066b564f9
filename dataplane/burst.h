// One rx burst of one port through the fast path (the worker's inner loop, apart so that
// perf/fwd_bench.cc measures exactly it): per-frame checks, one bulk IPv4 route lookup,
// forwarding into per-port tx buffers; what the workers do not finish goes to the punt list
// (control thread) or the drop list. No locks, no allocation, no system calls.
//
// The common case (a plain IPv4 or IPv6 packet to a gateway whose MAC is known) takes a
// short road: fast4_plain/fast6_frame check the frame in one go, and a next hop's facts (out
// port, MTU, the 12 bytes of new Ethernet addresses) are worked out once per burst and kept
// in a 4-entry memo. Everything else, packets for our own addresses among them (their routes
// are local), goes through fast_ingress/fast_forward, which decide exactly as the short road
// would, and more.
#pragma once
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "proto/fastpath.h"
#include "proto/fib_lookup.h"

namespace devip::dp {

inline constexpr uint16_t kBurst = 32;
// A hand-off ring's mbuf that is an ESP packet of tunnel slot (low bits), not a TCP segment:
// packet_type bit 31, which no PMD sets (DPDK's packet types end at bit 27).
inline constexpr uint32_t kTunHanded = 0x80000000u;
inline constexpr int kPrefetch = 3;

// Frames waiting for one port's tx queue; flushed when full and once per loop.
struct TxBuf {
    uint16_t n = 0;
    rte_mbuf* m[kBurst];
};

// Where a burst's frames end up besides the tx buffers.
struct BurstOut {
    uint16_t npunt = 0, ndrop = 0, ntun = 0;
    rte_mbuf* punt[kBurst];  // to the control thread
    rte_mbuf* drop[kBurst];  // to free
    rte_mbuf* tun[kBurst];   // forwarded into a tunnel (TTL done): encapsulate (tunnel.cc)
    uint8_t tunid[kBurst];   // their tunnel slots
};

// A forwarding candidate whose route value v leads into a tunnel slot that runs on the
// workers, with TTL left and a size that fits the tunnel: its slot, else -1 (then the
// ordinary path punts it and the control thread answers, frag-needed included).
template <int N, class Fib>
[[gnu::always_inline]] inline int tun_slot(const Fib& fib, uint32_t v, const uint8_t* src,
                                           uint8_t ttl, size_t tlen,
                                           const proto::FastTable& t) {
    using namespace devip::proto;
    if (!t.ntun) return -1;
    const NhRt<N>* h = fib.resolve(v, src);
    if (!h || h->kind != NhKind::Tunnel || h->port >= t.ntun) return -1;
    const TunRt& r = t.tun[h->port];
    if (!r.kind || ttl <= 1 || tlen > r.mtu) return -1;
    return h->port;
}

// A next hop as the short road uses it, valid for one burst.
struct NhMemo {
    uint32_t v = UINT32_MAX;  // the LPM value it is for
    uint8_t ok = 0;           // a gateway with a known MAC on a usable port
    uint16_t port;            // output port
    uint16_t mtu;             // its IP MTU
    uint8_t hdr[12];          // destination and source MAC
};

// Fills m for value v of family N: the short road only for a plain next hop (not
// source-specific) to a resolved gateway that may be used from inport.
template <int N, class Fib>
inline void nh_memo(NhMemo& m, uint32_t v, const Fib& fib, uint16_t inport,
                    const proto::FastTable& t) {
    using namespace devip::proto;
    m.v = v;
    m.ok = 0;
    if (v < 2 || v >= kMaxNh || (v & kFibSrc)) return;
    const NhRt<N>& h = fib.f->nh[v];
    if (h.kind != NhKind::Gate) return;
    uint64_t l2 = Fib::gate_l2(h);
    const PortRt& o = t.port[h.port];
    if (!(l2 & kL2Ok) || !o.bound || (h.port == inport && !t.port[inport].reflect)) return;
    if (o.reassemble) return;  // fragments leaving by it go to the control thread (§3.3)
    m.port = h.port;
    m.mtu = N == 4 ? o.mtu : o.mtu6;
    std::memcpy(m.hdr, &l2, 6);
    std::memcpy(m.hdr + 6, o.mac.b.data(), 6);
    m.ok = 1;
}

// flush(port): the tx buffer of port is full; send it.
template <class Flush>
inline void fast_burst(rte_mbuf** rx, uint16_t n, uint16_t inport, const proto::FastTable& t,
                       proto::FastStats* stats, TxBuf* txb, BurstOut& o, Flush&& flush) {
    using namespace devip::proto;
    const PortRt& pr = t.port[inport];
    const FibView4 fib{t.fib[pr.stack]};
    const FibView6 fib6{t.fib6[pr.stack]};
    const bool routed = fib.usable(), routed6 = fib6.usable();
    FastStats& st = stats[pr.stack];
    uint16_t nfwd = 0, nfwd6 = 0;
    uint16_t fwd[kBurst];    // IPv4 packets that want a route lookup
    uint8_t* fr[kBurst];     // their frames
    uint16_t tlen[kBurst];   // their IP lengths
    uint32_t dst[kBurst];    // their destinations, host order
    uint32_t val[kBurst];    // the lookup results
    uint16_t fwd6[kBurst];   // IPv6 packets that want a route lookup
    uint16_t tlen6[kBurst];  // their IP lengths
    uint8_t* fr6[kBurst];    // their frames
    auto to_tx = [&](rte_mbuf* m, size_t len, uint16_t out) {
        if (len < m->data_len) rte_pktmbuf_trim(m, uint16_t(m->data_len - len));
        TxBuf& b = txb[out];
        b.m[b.n++] = m;
        if (b.n == kBurst) flush(out);
    };
    // a forwarded packet of len frame bytes into tunnel slot id (the tunnel stage sends it)
    auto to_tun = [&](rte_mbuf* m, size_t len, int id) {
        if (len < m->data_len) rte_pktmbuf_trim(m, uint16_t(m->data_len - len));
        st.ip[InReceives]++;
        st.ip[ForwDatagrams]++;
        st.ip[OutRequests]++;
        o.tun[o.ntun] = m;
        o.tunid[o.ntun++] = uint8_t(id);
    };
    auto finish = [&](rte_mbuf* m, FastNext next, size_t len, uint16_t out) {
        switch (next) {
        case FastNext::Fwd:
        case FastNext::Fwd6:
        case FastNext::Tx: to_tx(m, len, out); break;
        case FastNext::Drop: o.drop[o.ndrop++] = m; break;
        case FastNext::Punt: o.punt[o.npunt++] = m; break;
        }
    };
    uint64_t mac48 = 0;
    std::memcpy(&mac48, pr.mac.b.data(), 6);
    const bool plain4 = routed && pr.forwarding && pr.bound;  // the short road may decide
    const bool plain6 = routed6 && pr.forwarding && pr.bound;
    for (int i = 0; i < kPrefetch && i < n; i++) rte_prefetch0(rte_pktmbuf_mtod(rx[i], void*));

    // 1: everything up to the route lookup
    for (uint16_t i = 0; i < n; i++) {
        if (i + kPrefetch < n) rte_prefetch0(rte_pktmbuf_mtod(rx[i + kPrefetch], void*));
        rte_mbuf* m = rx[i];
        uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
        uint16_t tl, type;
        size_t iplen = size_t(m->data_len) - kEthHdr;  // huge when the frame is short: checked
        if (m->nb_segs == 1 && m->data_len > kEthHdr && fast_to_us(frame, mac48, &type)) {
            if (type == 0x0008 && plain4 && fast4_ip(frame + kEthHdr, iplen, &tl)) {
                fwd[nfwd] = i;
                fr[nfwd] = frame;
                tlen[nfwd] = tl;
                dst[nfwd++] = get32(frame + kEthHdr + 16);
                continue;
            }
            if (type == 0xdd86 && plain6 && fast6_ip(frame + kEthHdr, iplen, &tl)) {
                fwd6[nfwd6] = i;
                fr6[nfwd6] = frame;
                tlen6[nfwd6++] = tl;
                rte_prefetch0(fib6.f->lpm->tbl24 + (get32(frame + kEthHdr + 24) >> 8));
                continue;
            }
        }
        size_t len = 0;
        uint16_t out = inport;
        Ip4Check ck{};
        FastNext next = rte_pktmbuf_is_contiguous(m)
                            ? fast_ingress(frame, m->data_len, inport, t, st, &ck, &len, &out)
                            : (pr.bound ? FastNext::Punt : FastNext::Drop);
        if (next == FastNext::Fwd && routed) {
            fwd[nfwd] = i;
            fr[nfwd] = frame;
            tlen[nfwd] = ck.tlen;
            dst[nfwd++] = get32(frame + kEthHdr + 16);
        } else if (next == FastNext::Fwd6 && routed6) {
            fwd6[nfwd6] = i;
            fr6[nfwd6] = frame;
            tlen6[nfwd6++] = ck.tlen;
        } else {
            finish(m, next == FastNext::Fwd || next == FastNext::Fwd6 ? FastNext::Punt : next,
                   len, out);
        }
    }

    // 2: IPv4: one bulk lookup, then each packet by the memo or by fast_forward
    NhMemo memo[4];
    uint64_t nok = 0;  // forwarded by the short road
    if (nfwd) fib.lookup4(dst, val, nfwd);
    for (uint16_t k = 0; k < nfwd; k++) {
        rte_mbuf* m = rx[fwd[k]];
        uint8_t* frame = fr[k];
        uint8_t* ip = frame + kEthHdr;
        uint32_t v = val[k];
        NhMemo& e = memo[v & 3];
        if (e.v != v) nh_memo<4>(e, v, fib, inport, t);
        if (e.ok && ip[8] > 1 && tlen[k] <= e.mtu) {
            ip[8]--;  // RFC 1624: the TTL byte fell by one, the checksum rises by 0x0100
            uint32_t c = uint32_t(get16(ip + 10)) + 0x0100;
            put16(ip + 10, uint16_t(c + (c >> 16)));
            if (unlikely(ip[9] == kProtoTcp && (ip[kIp4Hdr + 13] & 0x06) == 0x02))
                ip4_mss_clamp(ip, kIp4Hdr, tlen[k], std::min(e.mtu, pr.mtu));
            std::memcpy(frame, e.hdr, 12);
            nok++;
            to_tx(m, kEthHdr + tlen[k], e.port);
            continue;
        }
        if (int id = tun_slot<4>(fib, v, ip + 12, ip[8], tlen[k], t); unlikely(id >= 0)) {
            ip[8]--;
            uint32_t c = uint32_t(get16(ip + 10)) + 0x0100;
            put16(ip + 10, uint16_t(c + (c >> 16)));
            ip4_mss_clamp(ip, size_t(ip[0] & 0xf) * 4, tlen[k],
                          std::min<size_t>(t.tun[size_t(id)].mtu, pr.mtu));
            to_tun(m, kEthHdr + tlen[k], id);
            continue;
        }
        // everything else, our own addresses included, as fast_ingress and fast_forward say
        size_t len = 0;
        uint16_t out = inport;
        Ip4Check ck{};
        FastNext next = fast_ingress(frame, m->data_len, inport, t, st, &ck, &len, &out);
        if (next == FastNext::Fwd) next = fast_forward(frame, ck, inport, t, st, fib, v, &len, &out);
        finish(m, next, len, out);
    }

    // 3: IPv6, the same (the tbl24 lines were prefetched in 1)
    for (auto& e : memo) e.v = UINT32_MAX;
    uint32_t val6[kBurst];  // the walks first, apart: no packet's walk waits for another's
    for (uint16_t k = 0; k < nfwd6; k++) val6[k] = fib6.f->lpm->lookup(fr6[k] + kEthHdr + 24);
    for (uint16_t k = 0; k < nfwd6; k++) {
        rte_mbuf* m = rx[fwd6[k]];
        uint8_t* frame = fr6[k];
        uint8_t* ip = frame + kEthHdr;
        uint32_t v = val6[k];
        NhMemo& e = memo[v & 3];
        if (e.v != v) nh_memo<16>(e, v, fib6, inport, t);
        if (e.ok && ip[7] > 1 && tlen6[k] <= e.mtu) {
            ip[7]--;
            if (unlikely(ip[6] == kProtoTcp)) ip6_mss_clamp(ip, tlen6[k], std::min(e.mtu, pr.mtu6));
            std::memcpy(frame, e.hdr, 12);
            nok++;
            to_tx(m, kEthHdr + tlen6[k], e.port);
            continue;
        }
        if (int id = tun_slot<16>(fib6, v, ip + 8, ip[7], tlen6[k], t); unlikely(id >= 0)) {
            ip[7]--;
            ip6_mss_clamp(ip, tlen6[k], std::min<size_t>(t.tun[size_t(id)].mtu, pr.mtu6));
            to_tun(m, kEthHdr + tlen6[k], id);
            continue;
        }
        size_t len = 0;
        uint16_t out = inport;
        Ip4Check ck{true, uint16_t(kIp6Hdr), tlen6[k]};
        FastNext next = fast6_forward(frame, ck, inport, t, st, fib6, v, &len, &out);
        finish(m, next, len, out);  // after the call: it sets len and out
    }
    st.ip[InReceives] += nok;
    st.ip[ForwDatagrams] += nok;
    st.ip[OutRequests] += nok;
}

}  // namespace devip::dp
