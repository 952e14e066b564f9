// The worker loop (l3fwd's shape): for each port, one rx burst on this worker's queue →
// per-packet decision → answer ICMP echo in place, punt the rest of the local traffic to the
// control thread, drop what is not ours → one tx burst per port. Then frames the control
// thread asked us to send, then RCU quiescence. No locks, no allocation, no system calls.
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "dataplane/dataplane.h"
#include "proto/fastpath.h"
#include "proto/fib_lookup.h"

namespace devip::dp {

namespace {

using namespace devip::proto;

constexpr uint16_t kBurst = 32;
constexpr int kPrefetch = 3;

// Frames waiting for one port's tx queue; flushed when full and once per loop.
struct TxBuf {
    uint16_t n = 0;
    rte_mbuf* m[kBurst];
};

void flush(TxBuf& b, uint16_t port, uint16_t q, WorkerStats& ws) {
    if (!b.n) return;
    uint16_t sent = rte_eth_tx_burst(port, q, b.m, b.n);
    ws.tx += sent;
    if (sent < b.n) {
        ws.tx_drops += b.n - sent;
        rte_pktmbuf_free_bulk(b.m + sent, b.n - sent);
    }
    b.n = 0;
}

}  // namespace

int Dataplane::worker_main(unsigned w) {
    WorkerStats& ws = wstats_[w];
    rte_rcu_qsbr_thread_register(qsbr_, w);
    rte_rcu_qsbr_thread_online(qsbr_, w);
    rte_mbuf* rx[kBurst];
    rte_mbuf* drop[kBurst];
    rte_mbuf* punt[kBurst];
    TxBuf txb[kMaxPorts];
    const uint16_t q = uint16_t(w);
    while (running_.load(std::memory_order_relaxed)) {
        const FastTable& t = *table_.load(std::memory_order_acquire);
        for (const PortFacts& pf : ports_) {
            uint16_t n = rte_eth_rx_burst(pf.id, q, rx, kBurst);
            if (n == 0) continue;
            ws.rx += n;
            const PortRt& pr = t.port[pf.id];
            const FibView4 fib{t.fib[pr.stack]};
            const FibView6 fib6{t.fib6[pr.stack]};
            const bool routed = fib.usable(), routed6 = fib6.usable();
            FastStats& st = ws.s[pr.stack];
            uint16_t ndrop = 0, npunt = 0, nfwd = 0, nfwd6 = 0;
            uint16_t fwd[kBurst];       // IPv4 packets that want a route lookup
            uint32_t dst[kBurst];       // their destinations, host order
            uint32_t val[kBurst];       // the lookup results
            uint16_t fwd6[kBurst];      // IPv6 packets that want a route lookup
            Ip4Check ck[kBurst];
            auto to_tx = [&](rte_mbuf* m, size_t len, uint16_t out) {
                if (len < m->data_len) rte_pktmbuf_trim(m, uint16_t(m->data_len - len));
                TxBuf& b = txb[out];
                b.m[b.n++] = m;
                if (b.n == kBurst) flush(b, out, q, ws);
            };
            auto finish = [&](rte_mbuf* m, FastNext next, size_t len, uint16_t out) {
                switch (next) {
                case FastNext::Fwd:
                case FastNext::Fwd6:
                case FastNext::Tx: to_tx(m, len, out); break;
                case FastNext::Drop: drop[ndrop++] = m; break;
                case FastNext::Punt: punt[npunt++] = m; break;
                }
            };
            for (int i = 0; i < kPrefetch && i < n; i++)
                rte_prefetch0(rte_pktmbuf_mtod(rx[i], void*));
            // 1: everything up to the route lookup
            for (uint16_t i = 0; i < n; i++) {
                if (i + kPrefetch < n) rte_prefetch0(rte_pktmbuf_mtod(rx[i + kPrefetch], void*));
                rte_mbuf* m = rx[i];
                size_t len = 0;
                uint16_t out = pf.id;
                uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
                FastNext next = rte_pktmbuf_is_contiguous(m)
                                    ? fast_ingress(frame, m->data_len, pf.id, t, st, &ck[i],
                                                   &len, &out)
                                    : (pr.bound ? FastNext::Punt : FastNext::Drop);
                if (next == FastNext::Fwd && routed) {
                    fwd[nfwd] = i;
                    dst[nfwd++] = get32(frame + kEthHdr + 16);
                } else if (next == FastNext::Fwd6 && routed6) {
                    fwd6[nfwd6++] = i;
                    rte_prefetch0(fib6.f->lpm->tbl24 + (get32(frame + kEthHdr + 24) >> 8));
                } else {
                    finish(m, next == FastNext::Fwd || next == FastNext::Fwd6 ? FastNext::Punt
                                                                              : next,
                           len, out);
                }
            }
            // 2: one bulk lookup; 3: finish each forwarded packet
            if (nfwd) {
                fib.lookup4(dst, val, nfwd);
                for (uint16_t k = 0; k < nfwd; k++) {
                    rte_mbuf* m = rx[fwd[k]];
                    size_t len = 0;
                    uint16_t out = pf.id;
                    FastNext next = fast_forward(rte_pktmbuf_mtod(m, uint8_t*), ck[fwd[k]], pf.id,
                                                 t, st, fib, val[k], &len, &out);
                    finish(m, next, len, out);
                }
            }
            for (uint16_t k = 0; k < nfwd6; k++) {
                rte_mbuf* m = rx[fwd6[k]];
                uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
                size_t len = 0;
                uint16_t out = pf.id;
                FastNext next = fast6_forward(frame, ck[fwd6[k]], pf.id, t, st, fib6,
                                              fib6.lookup(frame + kEthHdr + 24), &len, &out);
                finish(m, next, len, out);
            }
            if (npunt) {
                unsigned done = rte_ring_enqueue_burst(punt_[w], reinterpret_cast<void**>(punt),
                                                       npunt, nullptr);
                ws.punted += done;
                ws.punt_drops += npunt - done;
                if (done < npunt) rte_pktmbuf_free_bulk(punt + done, npunt - done);
            }
            if (ndrop) rte_pktmbuf_free_bulk(drop, ndrop);
        }
        for (const PortFacts& pf : ports_) flush(txb[pf.id], pf.id, q, ws);
        // frames the control thread built (ARP, ICMP errors, conversation output, slow path)
        unsigned n = rte_ring_dequeue_burst(down_[w], reinterpret_cast<void**>(rx), kBurst, nullptr);
        for (unsigned i = 0; i < n; i++) {
            TxBuf& b = txb[rx[i]->port];
            b.m[b.n++] = rx[i];
            if (b.n == kBurst) flush(b, rx[i]->port, q, ws);
        }
        if (n)
            for (const PortFacts& pf : ports_) flush(txb[pf.id], pf.id, q, ws);
        ws.loops++;
        rte_rcu_qsbr_quiescent(qsbr_, w);
    }
    for (const PortFacts& pf : ports_) flush(txb[pf.id], pf.id, q, ws);
    rte_rcu_qsbr_thread_offline(qsbr_, w);
    rte_rcu_qsbr_thread_unregister(qsbr_, w);
    return 0;
}

}  // namespace devip::dp
