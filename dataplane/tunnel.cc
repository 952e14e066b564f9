// Tunnel interfaces on the workers (issue 9 §4, DESIGN.md "Tunnels"), bursts of one tunnel
// slot at a time. Output: the forwarding stage found a route into a tunnel (TTL done) →
// ESP tunnel mode (RFC 4303; the worker's crypto::Engine encrypts the burst, sequence
// numbers reserved a burst at a time from the SA's atomic counter) or GRE (RFC 2784/2890) →
// the outer IPv4 header (tunnel.h: DSCP/ECN and DF copied) → the outer route → tx. Input:
// ESP of a bound SPI or GRE of a tunnel's endpoints → decrypt the burst (anti-replay, ICV)
// or decapsulate → RFC 6040 ECN → the inner packet as received on the tunnel: strict
// reverse-path check, then forwarded from here, or up to the control thread (TunIn) for
// local delivery and everything unusual. The SA's anti-replay window is lock-free
// (crypto/replay.h), so workers may share an inbound SA as they share an outbound one.
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "crypto/engine.h"
#include "dataplane/burst.h"
#include "dataplane/dataplane.h"
#include "proto/tunnel.h"

namespace devip::dp {

using namespace devip::proto;

namespace {

constexpr size_t kOuter = kEthHdr + kIp4Hdr;  // Ethernet and outer IPv4 header bytes

void tx_one(TxBuf* txb, rte_mbuf* m, uint16_t port, uint16_t q, WorkerStats& ws) {
    TxBuf& b = txb[port];
    b.m[b.n++] = m;
    if (b.n == kBurst) tx_flush(b, port, q, ws);
}

// Runs f(id, group, n) for each tunnel slot of ids[], its packets in arrival order.
template <class F>
void by_slot(rte_mbuf** m, const uint8_t* ids, uint16_t n, F&& f) {
    uint64_t done = 0;  // n <= 64
    for (uint16_t i = 0; i < n; i++) {
        if (done >> i & 1) continue;
        rte_mbuf* g[kBurst];
        uint16_t ng = 0;
        for (uint16_t k = i; k < n; k++)
            if (!(done >> k & 1) && ids[k] == ids[i]) {
                g[ng++] = m[k];
                done |= uint64_t(1) << k;
            }
        f(ids[i], g, ng);
    }
}

}  // namespace

void Dataplane::tun_up(unsigned w, MsgKind k, uint8_t stack, uint32_t ifc, const uint8_t* p,
                       size_t len, uint8_t flags) {
    WorkerStats& ws = wstats_[w];
    rte_mbuf* c = len <= UINT16_MAX ? rte_pktmbuf_alloc(msgs_) : nullptr;
    char* d = c ? rte_pktmbuf_append(c, uint16_t(len)) : nullptr;
    if (!d) {
        if (c) rte_pktmbuf_free(c);
        ws.cpl_drops++;
        return;
    }
    std::memcpy(d, p, len);
    auto& h = *static_cast<MsgHdr*>(rte_mbuf_to_priv(c));
    h = MsgHdr{};
    h.kind = k;
    h.stack = stack;
    h.conv = ifc;
    h.flags = flags;
    if (rte_ring_enqueue(cpl_[w], c) != 0) {
        ws.cpl_drops++;
        rte_pktmbuf_free(c);
        return;
    }
    wake_control();
}

void Dataplane::tun_output(unsigned w, const FastTable& t, rte_mbuf** m, const uint8_t* ids,
                           uint16_t n, TxBuf* txb) {
    by_slot(m, ids, n, [&](int id, rte_mbuf** g, uint16_t ng) {
        if (t.tun[size_t(id)].kind == uint8_t(TunKind::Esp))
            tun_esp_out(w, t, id, g, ng, txb);
        else
            tun_gre_out(w, t, id, g, ng, txb);
    });
}

void Dataplane::tun_input(unsigned w, const FastTable& t, rte_mbuf** m, const uint8_t* ids,
                          uint16_t n, TxBuf* txb, bool spread) {
    by_slot(m, ids, n, [&](int id, rte_mbuf** g, uint16_t ng) {
        const TunRt& r = t.tun[size_t(id)];
        if (r.kind != uint8_t(TunKind::Esp)) return tun_gre_in(w, t, id, g, ng, txb);
        uint16_t k = spread && nworkers_ > 1 ? tun_spread(w, r, id, g, ng) : 0;
        if (k < ng) tun_esp_in(w, t, id, g + k, uint16_t(ng - k), txb);
    });
}

// RSS hashes the outer addresses, so one tunnel's packets arrive on one queue. Its
// receiving worker keeps every nworkers-th burst and hands the others round-robin to the
// other workers' hand-off rings; they decrypt and forward them as their own (the SA's
// anti-replay window is lock-free, its engine per worker). Bursts decrypted on different
// workers may finish out of order: a packet is taken for too old when newer ones than it by
// a window's width were accepted first, so a burst goes to a worker only while that lag
// stays inside the window: at most window/2 - 2 bursts' packets waiting on its ring (none
// for the smallest windows; with replay off, no bound).
uint16_t Dataplane::tun_spread(unsigned w, const TunRt& r, int id, rte_mbuf** g, uint16_t n) {
    WorkerStats& ws = wstats_[w];
    unsigned turn = unsigned(ws.spread_turn++ % uint64_t(nworkers_));
    if (turn == 0) return 0;  // this worker's turn
    unsigned o = (w + turn) % unsigned(nworkers_);
    const crypto::SaRt& sa = *r.in;
    uint32_t half = sa.win.size() / 2, lag = 2 * kBurst;
    unsigned cap = !sa.replay ? kBurst * 8u : half > lag ? half - lag : 0;
    if (rte_ring_count(hand_[o]) > cap) return 0;
    for (uint16_t i = 0; i < n; i++) g[i]->packet_type = kTunHanded | uint32_t(id);
    unsigned k = rte_ring_enqueue_burst(hand_[o], reinterpret_cast<void**>(g), n, nullptr);
    for (uint16_t i = uint16_t(k); i < n; i++) g[i]->packet_type = 0;
    if (k) {
        ws.tun_handed += k;
        wake_worker(wake_[o]);  // a system call only while it sleeps
    }
    return uint16_t(k);
}

// The outer route toward r.dst: a gateway or an on-link host whose MAC is known, on a bound
// port, and the packet fits; else the control thread's IP output sends it (TunOut).
void Dataplane::tun_send(unsigned w, const FastTable& t, const TunRt& r, rte_mbuf* m,
                         TxBuf* txb) {
    uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
    size_t iplen = m->data_len - kEthHdr;
    const FibView4 fib{t.fib[r.stack]};
    const auto* dst = reinterpret_cast<const uint8_t*>(&r.dst);
    const NhRt<4>* h = fib.usable() ? fib.resolve(fib.lookup(dst), f + kEthHdr + 12) : nullptr;
    if (h && (h->kind == NhKind::Gate || h->kind == NhKind::OnLink)) {
        const PortRt& p = t.port[h->port];
        uint64_t l2 = h->kind == NhKind::Gate ? FibView4::gate_l2(*h) : fib.neigh(h->port, dst);
        if (p.bound && (l2 & kL2Ok) && iplen <= p.mtu) {
            fast_rewrite_l2(f, l2, p.mac);
            put16(f + 12, kEthIp4);
            wstats_[w].s[r.stack].ip[OutRequests]++;
            tx_one(txb, m, h->port, uint16_t(w), wstats_[w]);
            return;
        }
    }
    tun_up(w, MsgKind::TunOut, r.stack, r.ifc, f + kEthHdr, iplen);
    rte_pktmbuf_free(m);
}

void Dataplane::tun_esp_out(unsigned w, const FastTable& t, int id, rte_mbuf** m, uint16_t n,
                            TxBuf* txb) {
    const TunRt& r = t.tun[size_t(id)];
    crypto::SaRt& sa = *r.out;
    TunStats& ts = wstats_[w].tun[id];
    const uint32_t h = sa.hdrlen(), tail = sa.align - 1u + 2 + sa.icvlen;
    const size_t off = kOuter + (r.natt ? 8 : 0);  // NAT-T: a UDP header before the ESP
    crypto::Pkt pk[kBurst];
    rte_mbuf* mm[kBurst];
    uint8_t tos[kBurst];
    bool df[kBurst];
    uint16_t len[kBurst];
    uint16_t k = 0;
    for (uint16_t i = 0; i < n; i++) {
        uint8_t* ip = rte_pktmbuf_mtod(m[i], uint8_t*) + kEthHdr;
        uint16_t l = uint16_t(m[i]->data_len - kEthHdr);
        tos[k] = inner_tos(ip);
        df[k] = inner_df(ip);
        uint8_t next = (ip[0] >> 4) == 4 ? kNhIp4 : kNhIp6;
        // [Ethernet][outer IPv4][SPI, seq, IV][inner][pad, pad length, next header][ICV]
        if (!rte_pktmbuf_adj(m[i], uint16_t(kEthHdr)) ||
            !rte_pktmbuf_prepend(m[i], uint16_t(off + h)) ||
            !rte_pktmbuf_append(m[i], uint16_t(tail))) {
            ts.errors++;
            rte_pktmbuf_free(m[i]);
            continue;
        }
        uint8_t* f = rte_pktmbuf_mtod(m[i], uint8_t*);
        pk[k].buf = std::span<uint8_t>(f + off, h + l + tail);
        pk[k].len = l;
        pk[k].next = next;
        len[k] = l;
        mm[k++] = m[i];
    }
    ctx_[w]->engine->encrypt(sa, std::span(pk, k));
    std::atomic<uint32_t>* ipid = t.ipid[r.stack];
    for (uint16_t i = 0; i < k; i++) {
        if (pk[i].st != crypto::Status::ok) {  // sequence numbers exhausted, no room
            ts.errors++;
            rte_pktmbuf_free(mm[i]);
            continue;
        }
        rte_pktmbuf_trim(mm[i], uint16_t(mm[i]->data_len - off - pk[i].len));
        uint8_t* f = rte_pktmbuf_mtod(mm[i], uint8_t*);
        uint16_t ident = ipid ? uint16_t(ipid->fetch_add(1, std::memory_order_relaxed)) : 0;
        size_t plen = off - kOuter + pk[i].len;
        if (r.natt) {  // RFC 3948 §2.1: 4500 to 4500, checksum 0
            put16(f + kOuter, kNattPort);
            put16(f + kOuter + 2, kNattPort);
            put16(f + kOuter + 4, uint16_t(plen));
            put16(f + kOuter + 6, 0);
        }
        tun_ip4_hdr(f + kEthHdr, r.src, r.dst, r.natt ? kProtoUdp : kProtoEsp, r.ttl, tos[i],
                    df[i], ident, plen);
        ts.outpkts++;
        ts.fastout++;
        ts.outbytes += len[i];
        tun_send(w, t, r, mm[i], txb);
    }
}

void Dataplane::tun_gre_out(unsigned w, const FastTable& t, int id, rte_mbuf** m, uint16_t n,
                            TxBuf* txb) {
    const TunRt& r = t.tun[size_t(id)];
    TunStats& ts = wstats_[w].tun[id];
    const int gh = gre_hdrlen(r.greflags);
    uint32_t seq = (r.greflags & kGreS) && r.greseq
                       ? r.greseq->fetch_add(n, std::memory_order_relaxed) + 1
                       : 0;  // a burst's numbers at once
    std::atomic<uint32_t>* ipid = t.ipid[r.stack];
    for (uint16_t i = 0; i < n; i++) {
        uint8_t* ip = rte_pktmbuf_mtod(m[i], uint8_t*) + kEthHdr;
        uint16_t l = uint16_t(m[i]->data_len - kEthHdr);
        uint8_t tos = inner_tos(ip);
        bool df = inner_df(ip), v4 = (ip[0] >> 4) == 4;
        if (!rte_pktmbuf_adj(m[i], uint16_t(kEthHdr)) ||
            !rte_pktmbuf_prepend(m[i], uint16_t(kOuter + gh))) {
            ts.errors++;
            rte_pktmbuf_free(m[i]);
            continue;
        }
        uint8_t* f = rte_pktmbuf_mtod(m[i], uint8_t*);
        uint8_t* g = f + kOuter;
        gre_build(g, r.greflags, v4 ? kEtherIp4 : kEtherIp6, r.grekey, seq + i);
        if (r.greflags & kGreC) gre_csum(g, size_t(gh) + l);
        uint16_t ident = ipid ? uint16_t(ipid->fetch_add(1, std::memory_order_relaxed)) : 0;
        tun_ip4_hdr(f + kEthHdr, r.src, r.dst, kProtoGre, r.ttl, tos, df, ident,
                    size_t(gh) + l);
        ts.outpkts++;
        ts.fastout++;
        ts.outbytes += l;
        tun_send(w, t, r, m[i], txb);
    }
}

void Dataplane::tun_esp_in(unsigned w, const FastTable& t, int id, rte_mbuf** m, uint16_t n,
                           TxBuf* txb) {
    const TunRt& r = t.tun[size_t(id)];
    if (r.in2) {  // rekeying: each SA's packets as a burst of their own, in arrival order
        rte_mbuf* a[kBurst];
        rte_mbuf* b[kBurst];
        uint16_t na = 0, nb = 0;
        size_t off = kEthHdr + (r.natt ? 8 : 0);
        for (uint16_t i = 0; i < n; i++) {
            const uint8_t* ip = rte_pktmbuf_mtod(m[i], const uint8_t*) + kEthHdr;
            bool second = get32(ip - kEthHdr + off + (ip[0] & 0xf) * 4u) == r.spi2;
            (second ? b[nb++] : a[na++]) = m[i];
        }
        if (na) tun_esp_in_sa(w, t, id, *r.in, a, na, txb);
        if (nb) tun_esp_in_sa(w, t, id, *r.in2, b, nb, txb);
        return;
    }
    tun_esp_in_sa(w, t, id, *r.in, m, n, txb);
}

void Dataplane::tun_esp_in_sa(unsigned w, const FastTable& t, int id, crypto::SaRt& sa,
                              rte_mbuf** m, uint16_t n, TxBuf* txb) {
    const TunRt& r = t.tun[size_t(id)];
    TunStats& ts = wstats_[w].tun[id];
    crypto::Pkt pk[kBurst];
    uint8_t hl[kBurst], otos[kBurst];
    for (uint16_t i = 0; i < n; i++) {
        uint8_t* ip = rte_pktmbuf_mtod(m[i], uint8_t*) + kEthHdr;
        hl[i] = uint8_t((ip[0] & 0xf) * 4 + (r.natt ? 8 : 0));  // NAT-T: after the UDP header
        otos[i] = ip[1];
        uint32_t l = uint32_t(m[i]->data_len - kEthHdr - hl[i]);
        pk[i].buf = std::span<uint8_t>(ip + hl[i], l);
        pk[i].len = l;
    }
    ctx_[w]->engine->decrypt(sa, std::span(pk, n));
    const uint32_t h = sa.hdrlen();
    for (uint16_t i = 0; i < n; i++) {
        crypto::Pkt& p = pk[i];
        uint8_t* in = p.buf.data() + h;
        int v = p.st == crypto::Status::ok && p.len ? in[0] >> 4 : 0;
        bool good = (p.next == kNhIp4 && v == 4) || (p.next == kNhIp6 && v == 6);
        if (p.st != crypto::Status::ok || !good || !tun_ecn_decap(otos[i], in)) {
            if (p.st == crypto::Status::replay) ts.replay++;
            else if (p.st == crypto::Status::icv) ts.icv++;
            else if (!(p.st == crypto::Status::ok && p.next == kNhNone)) ts.errors++;
            rte_pktmbuf_free(m[i]);  // a dummy packet (next header 59) silently
            continue;
        }
        rte_pktmbuf_adj(m[i], uint16_t(hl[i] + h));  // 14 bytes before the inner packet
        rte_pktmbuf_trim(m[i], uint16_t(m[i]->data_len - kEthHdr - p.len));
        tun_inner(w, t, id, m[i], txb);
    }
}

void Dataplane::tun_gre_in(unsigned w, const FastTable& t, int id, rte_mbuf** m, uint16_t n,
                           TxBuf* txb) {
    TunStats& ts = wstats_[w].tun[id];
    for (uint16_t i = 0; i < n; i++) {
        uint8_t* ip = rte_pktmbuf_mtod(m[i], uint8_t*) + kEthHdr;
        size_t hl = (ip[0] & 0xf) * 4u, l = m[i]->data_len - kEthHdr - hl;
        GreHdr g = gre_parse(ip + hl, l);
        uint8_t* in = ip + hl + g.hlen;
        size_t il = l - size_t(g.hlen);
        int want = g.ptype == kEtherIp4 ? 4 : g.ptype == kEtherIp6 ? 6 : 0;
        if (!g.ok || !g.csum_ok || !want || il == 0 || (in[0] >> 4) != want ||
            !tun_ecn_decap(ip[1], in)) {
            (g.ok && !g.csum_ok ? ts.icv : ts.errors)++;
            rte_pktmbuf_free(m[i]);
            continue;
        }
        rte_pktmbuf_adj(m[i], uint16_t(hl + size_t(g.hlen)));
        tun_inner(w, t, id, m[i], txb);
    }
}

void Dataplane::tun_inner(unsigned w, const FastTable& t, int id, rte_mbuf* m, TxBuf* txb) {
    const TunRt& r = t.tun[size_t(id)];
    WorkerStats& ws = wstats_[w];
    TunStats& ts = ws.tun[id];
    FastStats& st = ws.s[r.stack];
    uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
    uint8_t* ip = f + kEthHdr;
    size_t len = m->data_len - kEthHdr;
    bool v4 = (ip[0] >> 4) == 4;
    uint16_t tl = 0;
    // the inner packet as the forwarding path wants it, else the control thread's input
    bool plain = v4 ? fast4_ip(ip, len, &tl) : fast6_ip(ip, len, &tl);
    if (v4 && !plain) {
        Ip4Check ck = ip4_check(ip, len, true);
        if (!ck.ok) {
            ts.errors++;
            rte_pktmbuf_free(m);
            return;
        }
        tl = ck.tlen;
    }
    if (tl && tl < len) rte_pktmbuf_trim(m, uint16_t(len - tl));
    const FibView4 fib{t.fib[r.stack]};
    const FibView6 fib6{t.fib6[r.stack]};
    const uint8_t* src = ip + (v4 ? 12 : 8);
    const uint8_t* dst = ip + (v4 ? 16 : 24);
    bool routed = v4 ? fib.usable() : fib6.usable();
    int why = 0;
    uint16_t out = 0;
    uint64_t l2 = 0;
    bool checked = false;  // the reverse path was checked here
    if (routed && tl) {
        // strict reverse path (RFC 3704 §2.2): the source's route leads back into this slot;
        // a route the workers cannot judge (Punt) is the control thread's to check
        uint32_t sv = v4 ? fib.lookup(src) : fib6.f->lpm->lookup(src);
        NhKind sk = NhKind::Punt;
        uint16_t sp = 0;
        if (v4) {
            if (const NhRt<4>* h = fib.resolve(sv, dst)) sk = h->kind, sp = h->port;
            else sk = NhKind::Local;  // no route back: fails below
        } else {
            if (const NhRt<16>* h = fib6.resolve(sv, dst)) sk = h->kind, sp = h->port;
            else sk = NhKind::Local;
        }
        if (sk != NhKind::Punt && !(sk == NhKind::Tunnel && sp == id)) {
            ts.rpf++;
            rte_pktmbuf_free(m);
            return;
        }
        if (sk == NhKind::Tunnel) {
            checked = true;
            uint32_t dv = v4 ? fib.lookup(dst) : fib6.f->lpm->lookup(dst);
            bool frag = v4 && (get16(ip + 6) & 0x3fff);
            l2 = v4 ? fast_next_hop<4>(src, dst, ip[8], tl, frag, 0xffff, t, fib, dv, &out, &why)
                    : fast_next_hop<16>(src, dst, ip[7], tl, false, 0xffff, t, fib6, dv, &out,
                                        &why);
        }
    }
    if (!l2) {  // ours, unresolved, TTL or MTU, or the reverse path not known here: up there
        if (checked) {
            ts.inpkts++;
            ts.inbytes += m->data_len - kEthHdr;
        }
        tun_up(w, MsgKind::TunIn, r.stack, r.ifc, ip, m->data_len - kEthHdr,
               checked ? kMsgChecked : 0);
        rte_pktmbuf_free(m);
        return;
    }
    ts.inpkts++;
    ts.inbytes += m->data_len - kEthHdr;
    ts.fastin++;
    if (v4) {
        ip[8]--;
        uint32_t c = uint32_t(get16(ip + 10)) + 0x0100;
        put16(ip + 10, uint16_t(c + (c >> 16)));
    } else {
        ip[7]--;
    }
    size_t mss_mtu = std::min<size_t>(r.mtu, v4 ? t.port[out].mtu : t.port[out].mtu6);
    if (v4) ip4_mss_clamp(ip, size_t(ip[0] & 0xf) * 4, tl, mss_mtu);  // §4.4, as forwarding
    else ip6_mss_clamp(ip, tl, mss_mtu);
    fast_rewrite_l2(f, l2, t.port[out].mac);
    put16(f + 12, v4 ? kEthIp4 : kEthIp6);
    st.ip[InReceives]++;
    st.ip[ForwDatagrams]++;
    st.ip[OutRequests]++;
    tx_one(txb, m, out, uint16_t(w), ws);
}

}  // namespace devip::dp
