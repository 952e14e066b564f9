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

namespace devip::dp {

namespace {

using namespace devip::proto;

constexpr uint16_t kBurst = 32;
constexpr int kPrefetch = 3;

// One packet's fate; the decision itself is proto's fast_classify.
inline FastNext classify(rte_mbuf* m, const FastTable& t, WorkerStats& ws) {
    const PortRt& p = t.port[m->port];
    if (!rte_pktmbuf_is_contiguous(m)) return p.bound ? FastNext::Punt : FastNext::Drop;
    size_t newlen = 0;
    FastNext n = fast_classify(rte_pktmbuf_mtod(m, uint8_t*), m->data_len, p, ws.s[p.stack],
                               &newlen);
    if (n == FastNext::Tx && newlen < m->data_len)
        rte_pktmbuf_trim(m, uint16_t(m->data_len - newlen));  // link padding off
    return n;
}

}  // namespace

int Dataplane::worker_main(unsigned w) {
    WorkerStats& ws = wstats_[w];
    rte_rcu_qsbr_thread_register(qsbr_, w);
    rte_rcu_qsbr_thread_online(qsbr_, w);
    rte_mbuf* rx[kBurst];
    rte_mbuf* tx[kBurst];
    rte_mbuf* drop[kBurst];
    rte_mbuf* punt[kBurst];
    const uint16_t q = uint16_t(w);
    while (running_.load(std::memory_order_relaxed)) {
        const FastTable& t = *table_.load(std::memory_order_acquire);
        for (const PortFacts& pf : ports_) {
            uint16_t n = rte_eth_rx_burst(pf.id, q, rx, kBurst);
            if (n == 0) continue;
            ws.rx += n;
            uint16_t ntx = 0, ndrop = 0, npunt = 0;
            for (int i = 0; i < kPrefetch && i < n; i++) rte_prefetch0(rte_pktmbuf_mtod(rx[i], void*));
            for (uint16_t i = 0; i < n; i++) {
                if (i + kPrefetch < n) rte_prefetch0(rte_pktmbuf_mtod(rx[i + kPrefetch], void*));
                switch (classify(rx[i], t, ws)) {
                case FastNext::Tx: tx[ntx++] = rx[i]; break;
                case FastNext::Punt: punt[npunt++] = rx[i]; break;
                case FastNext::Drop: drop[ndrop++] = rx[i]; break;
                }
            }
            if (ntx) {
                uint16_t sent = rte_eth_tx_burst(pf.id, q, tx, ntx);
                ws.tx += sent;
                for (uint16_t i = sent; i < ntx; i++) drop[ndrop++] = tx[i];
                ws.tx_drops += ntx - sent;
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
        // frames the control thread built (ARP, ICMP errors, conversation output)
        unsigned n = rte_ring_dequeue_burst(down_[w], reinterpret_cast<void**>(rx), kBurst, nullptr);
        for (unsigned i = 0; i < n; i++) {
            uint16_t sent = rte_eth_tx_burst(rx[i]->port, q, &rx[i], 1);
            ws.tx += sent;
            if (!sent) {
                ws.tx_drops++;
                rte_pktmbuf_free(rx[i]);
            }
        }
        ws.loops++;
        rte_rcu_qsbr_quiescent(qsbr_, w);
    }
    rte_rcu_qsbr_thread_offline(qsbr_, w);
    rte_rcu_qsbr_thread_unregister(qsbr_, w);
    return 0;
}

}  // namespace devip::dp
