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
#include "proto/wire.h"

namespace devip::dp {

namespace {

using namespace devip::proto;

constexpr uint16_t kBurst = 32;
constexpr int kPrefetch = 3;

enum class Next : uint8_t { Drop, Punt, Tx };

bool is_local(const PortRt& p, uint32_t dst_be) {
    for (unsigned i = 0; i < p.nlocal; i++)
        if (p.local[i] == dst_be) return true;
    return false;
}

// ICMP echo request to one of our unicast addresses: turned into the reply in place.
bool echo_in_place(uint8_t* ip, size_t hlen, size_t tlen, FastStats& s) {
    if (ip[9] != kProtoIcmp || (get16(ip + 6) & 0x3fff) || hlen != kIp4Hdr) return false;
    uint8_t* icmp = ip + hlen;
    size_t ilen = tlen - hlen;
    if (ilen < 8 || icmp[0] != 8 || icmp[1] != 0 || csum(icmp, ilen) != 0) return false;
    icmp[0] = 0;  // echo reply: type 8 → 0 changes the checksum by 0x0800
    uint32_t c = uint32_t(get16(icmp + 2)) + 0x0800;
    put16(icmp + 2, uint16_t(c + (c >> 16)));
    uint8_t tmp[4];
    std::memcpy(tmp, ip + 12, 4);
    std::memcpy(ip + 12, ip + 16, 4);
    std::memcpy(ip + 16, tmp, 4);
    ip[1] = 0;    // TOS 0
    ip[8] = 255;  // TTL 255 (§4.8.1)
    put16(ip + 10, 0);
    put16(ip + 10, csum(ip, hlen));
    s.ip[InReceives]++;
    s.ip[InDelivers]++;
    s.ip[OutRequests]++;
    s.icmp_inmsgs++;
    s.icmp_in[8]++;
    s.icmp_out[0]++;
    return true;
}

// One packet's fate (STYLE 10.4: a separate inline decision function).
inline Next classify(rte_mbuf* m, const FastTable& t, WorkerStats& ws) {
    const PortRt& p = t.port[m->port];
    if (!p.bound) return Next::Drop;
    if (m->data_len <= kEthHdr || !rte_pktmbuf_is_contiguous(m)) return Next::Punt;
    uint8_t* eth = rte_pktmbuf_mtod(m, uint8_t*);
    uint16_t type = get16(eth + 12);
    if (type == kEthArp || type == kEthIp6) return Next::Punt;
    if (type != kEthIp4) return Next::Drop;
    uint8_t* ip = eth + kEthHdr;
    size_t len = m->data_len - kEthHdr;
    FastStats& s = ws.s[p.stack];
    Ip4Check ck = ip4_check(ip, len, true);
    if (!ck.ok) {
        s.ip[InReceives]++;
        s.ip[InHdrErrors]++;
        return Next::Drop;
    }
    uint32_t dst;
    std::memcpy(&dst, ip + 16, 4);
    if (!is_local(p, dst) || !echo_in_place(ip, ck.hlen, ck.tlen, s)) return Next::Punt;
    rte_pktmbuf_trim(m, uint16_t(len - ck.tlen));  // link padding off
    uint8_t tmp[6];
    std::memcpy(tmp, eth, 6);
    std::memcpy(eth, eth + 6, 6);
    std::memcpy(eth + 6, tmp, 6);
    return Next::Tx;
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
                case Next::Tx: tx[ntx++] = rx[i]; break;
                case Next::Punt: punt[npunt++] = rx[i]; break;
                case Next::Drop: drop[ndrop++] = rx[i]; break;
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
