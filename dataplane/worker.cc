// The worker loop (l3fwd's shape): for each port, one rx burst on this worker's queue →
// per-packet decision → answer ICMP echo in place, punt the rest of the local traffic to the
// control thread, drop what is not ours → one tx burst per port. Then frames the control
// thread asked us to send, then RCU quiescence. No locks, no allocation, no system calls,
// with three exceptions: a punt while the control thread sleeps signals its eventfd (once per
// sleep, not per packet), a worker that has found nothing to do for a while sleeps (on rx
// interrupts and an eventfd of its own, or in naps: dataplane/idle.h), and a worker that
// shares a CPU with the control thread (two workers on a two-CPU machine) runs five nice
// levels below it, so that control work (a route load, the slow path) gets about three
// quarters of that CPU when it has any.
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <sched.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "dataplane/burst.h"
#include "dataplane/capture.h"
#include "dataplane/dataplane.h"

namespace devip::dp {

using namespace devip::proto;

void tx_flush(TxBuf& b, uint16_t port, uint16_t q, WorkerStats& ws) {
    if (!b.n) return;
    if (unlikely(capture_on())) capture_tx(port, q, b.m, b.n);
    uint16_t sent = rte_eth_tx_burst(port, q, b.m, b.n);
    ws.tx += sent;
    if (sent < b.n) {
        ws.tx_drops += b.n - sent;
        rte_pktmbuf_free_bulk(b.m + sent, b.n - sent);
    }
    b.n = 0;
}

namespace {

void flush(TxBuf& b, uint16_t port, uint16_t q, WorkerStats& ws) { tx_flush(b, port, q, ws); }

// Whether this lcore may run on a CPU the main lcore (the control thread) may run on.
bool shares_cpu_with_main() {
    rte_cpuset_t me = rte_lcore_cpuset(rte_lcore_id());
    rte_cpuset_t main = rte_lcore_cpuset(rte_get_main_lcore());
    rte_cpuset_t both;
    CPU_AND(&both, &me, &main);
    return CPU_COUNT(&both) > 0;
}

constexpr int kNiceBelowMain = 5;  // CFS weights 1024 : 335

void yield_to_main() {
    pid_t tid = gettid();
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, id_t(tid));
    if (errno == 0) setpriority(PRIO_PROCESS, id_t(tid), std::min(nice + kNiceBelowMain, 19));
}

}  // namespace

// A request about a conversation's flow (cold: once per connect, announce or close).
void Dataplane::flow_request(unsigned w, const MsgHdr& h, rte_mbuf* m) {
    if (h.stack >= kMaxStacks || m->pkt_len < sizeof(FlowMsg)) return;
    FlowMsg f;
    std::memcpy(&f, rte_pktmbuf_mtod(m, const void*), sizeof f);
    if (h.proto == kIcmpIndex || h.proto == kIcmp6Index) {
        IcmpShard& s = (h.proto == kIcmpIndex ? ctx_[w]->icmp : ctx_[w]->icmp6)[h.stack];
        if (h.kind == MsgKind::FlowAdd)
            s.add(f, h.conv, h.gen);
        else if (h.kind == MsgKind::FlowDel)
            s.del(h.conv);
        return;
    }
    UdpShard& s = ctx_[w]->udp[h.stack];
    if (h.kind == MsgKind::FlowAdd)
        s.add(f, h.conv, h.gen);
    else if (h.kind == MsgKind::FlowDel)
        s.del(h.conv);
}

// The IPv4 or IPv6 packet of len bytes at m's data, from a conversation's flow: framed from
// its route hint and ready for a tx buffer (true: m->port set) while the hint is current and
// the packet fits, else up to the control thread's IP output as TxSlow (false).
bool Dataplane::send_hinted(unsigned w, const FastTable& t, MsgHdr& h, rte_mbuf* m,
                            const OutHint& hint, size_t len) {
    std::atomic<uint32_t>* gen = t.rgen[h.stack];
    WorkerStats& ws = wstats_[w];
    bool v6 = (*rte_pktmbuf_mtod(m, const uint8_t*) >> 4) == 6;
    if (hint.ok && gen && hint.gen == gen->load(std::memory_order_acquire) && len <= hint.mtu &&
        t.port[hint.port].bound) {
        char* e = rte_pktmbuf_prepend(m, kEthHdr);
        if (e) {
            std::memcpy(e, hint.eth, 12);
            put16(reinterpret_cast<uint8_t*>(e) + 12, v6 ? kEthIp6 : kEthIp4);
            m->port = hint.port;
            ws.s[h.stack].ip[OutRequests]++;
            ws.sent++;
            return true;
        }
    }
    h.kind = MsgKind::TxSlow;
    h.flags = v6 ? kMsgV6 : 0;
    ws.sent_slow++;
    if (rte_ring_enqueue(cpl_[w], m) != 0) {
        ws.cpl_drops++;
        rte_pktmbuf_free(m);
        return false;
    }
    wake_control();
    return false;
}

// An ICMP (ICMPv6) conversation's message to send: the IPv4 (IPv6) header in the request
// mbuf's headroom, then as udp_send (from the hint, else up as TxSlow).
bool Dataplane::icmp_send(unsigned w, const FastTable& t, MsgHdr& h, rte_mbuf* m) {
    bool v6 = h.proto == kIcmp6Index;
    const IcmpFlow* u =
        h.stack < kMaxStacks ? (v6 ? ctx_[w]->icmp6 : ctx_[w]->icmp)[h.stack].by_conv(h.conv)
                             : nullptr;
    std::atomic<uint32_t>* id = u ? t.ipid[h.stack] : nullptr;
    size_t iph = v6 ? kIp6Hdr : kIp4Hdr;
    char* ip = id && u->gen == h.gen ? rte_pktmbuf_prepend(m, uint16_t(iph)) : nullptr;
    if (!ip) {
        rte_pktmbuf_free(m);
        return false;
    }
    auto* b = reinterpret_cast<uint8_t*>(ip);
    size_t len = v6 ? icmp_build6(b, u->f, m->data_len - iph)
                    : icmp_build4(b, u->f, uint16_t(id->fetch_add(1, std::memory_order_relaxed)),
                                  m->data_len - iph);
    return send_hinted(w, t, h, m, u->f.hint, len);
}

// An echo reply for our conversations: the message in their format (ICMP: the IPv4 header
// without options, then the message; ICMPv6: the IPv6 header, then the message; ip the
// fixed header, no extension headers) to each flow it matches. Anything else goes up whole.
bool Dataplane::icmp_deliver(unsigned w, const PortRt& p, const uint8_t* ip, size_t hlen,
                             size_t tlen, uint16_t port) {
    bool v6 = (ip[0] >> 4) == 6;
    const IcmpShard& sh = (v6 ? ctx_[w]->icmp6 : ctx_[w]->icmp)[p.stack];
    if (sh.size() == 0 || tlen < hlen + 8) return false;
    const uint8_t* msg = ip + hlen;
    size_t mlen = tlen - hlen;
    Ipaddr src = v6 ? Ipaddr::from_bytes(ip + kIp6Src) : Ipaddr::v4(get32(ip + 12));
    Ipaddr dst = v6 ? Ipaddr::from_bytes(ip + kIp6Dst) : Ipaddr::v4(get32(ip + 16));
    if (v6 ? msg[0] != kIcmp6EchoReply || ip6_csum(src, dst, kProtoIcmp6, msg, mlen) != 0
           : msg[0] != 0 || csum(msg, mlen) != 0)
        return false;  // echo replies only
    const IcmpFlow* to[8];
    size_t n = sh.match(get16(msg + 4), src, dst, to);
    if (n == 0) return false;
    WorkerStats& ws = wstats_[w];
    size_t iph = v6 ? kIp6Hdr : kIp4Hdr;
    for (size_t i = 0; i < n; i++) {
        rte_mbuf* c = rte_pktmbuf_alloc(msgs_);
        char* d = c ? rte_pktmbuf_append(c, uint16_t(iph + mlen)) : nullptr;
        if (!d) {
            if (c) rte_pktmbuf_free(c);
            ws.cpl_drops++;
            continue;
        }
        std::memcpy(d, ip, iph);
        if (!v6) {
            d[0] = 0x45;
            put16(reinterpret_cast<uint8_t*>(d) + 2, uint16_t(kIp4Hdr + mlen));
        }
        std::memcpy(d + iph, msg, mlen);
        auto& h = *static_cast<MsgHdr*>(rte_mbuf_to_priv(c));
        h = MsgHdr{};
        h.kind = MsgKind::DataIn;
        h.stack = p.stack;
        h.proto = v6 ? kIcmp6Index : kIcmpIndex;
        h.port = port;
        h.conv = to[i]->conv;
        h.gen = to[i]->gen;
        if (rte_ring_enqueue(cpl_[w], c) != 0) {
            ws.cpl_drops++;
            rte_pktmbuf_free(c);
            continue;
        }
        ws.delivered++;
    }
    FastStats& st = ws.s[p.stack];
    st.ip[InReceives]++;
    st.ip[InDelivers]++;
    wake_control();
    return true;
}

// A datagram to send on a connected UDP conversation's flow: the headers go into the
// request mbuf's headroom; with a current route hint it is sent from here (true: m->port set,
// ready for its tx buffer), else it goes up to the control thread's IP output as TxSlow.
bool Dataplane::udp_send(unsigned w, const FastTable& t, MsgHdr& h, rte_mbuf* m) {
    const UdpFlow* u = h.stack < kMaxStacks ? ctx_[w]->udp[h.stack].by_conv(h.conv) : nullptr;
    std::atomic<uint32_t>* id = u ? t.ipid[h.stack] : nullptr;
    bool v6 = u && !u->f.raddr.is_v4();
    size_t hdrs = (v6 ? kIp6Hdr : kIp4Hdr) + 8;
    char* ip = id && u->gen == h.gen ? rte_pktmbuf_prepend(m, uint16_t(hdrs)) : nullptr;
    if (!ip) {  // a stale request (the conv closed meanwhile), or no room
        rte_pktmbuf_free(m);
        return false;
    }
    auto* b = reinterpret_cast<uint8_t*>(ip);
    size_t len = v6 ? udp_build6(b, u->f, m->data_len - hdrs)
                    : udp_build4(b, u->f, uint16_t(id->fetch_add(1, std::memory_order_relaxed)),
                                 m->data_len - hdrs);
    return send_hinted(w, t, h, m, u->f.hint, len);
}

// The l4 stage (STYLE.md §3.6) for what the fast path punted: an unfragmented UDP datagram
// (IPv6: UDP right after the fixed header) to one of our unicast addresses that a
// conversation's flow takes, or an echo reply for an ICMP or ICMPv6 conversation, is copied
// into a completion (the receive mbuf is freed at once); ESP, GRE and NAT-T packets of a
// tunnel the workers run are set aside for the tunnel stage (tin); TCP goes to its shard;
// everything else stays punted.
void Dataplane::l4_stage(unsigned w, const FastTable& t, rte_mbuf** punt, uint16_t& npunt,
                         rte_mbuf** tin, uint8_t* tinid, uint16_t& ntin) {
    Ctx& x = *ctx_[w];
    WorkerStats& ws = wstats_[w];
    uint16_t keep = 0;
    rte_mbuf* done[kBurst];
    uint16_t ndone = 0;
    for (uint16_t i = 0; i < npunt; i++) {
        rte_mbuf* m = punt[i];
        punt[keep++] = m;  // kept unless taken below
        if (m->nb_segs != 1 || m->port >= kMaxPorts || m->data_len <= kEthHdr) continue;
        const PortRt& p = t.port[m->port];
        const uint8_t* frame = rte_pktmbuf_mtod(m, const uint8_t*);
        if (!p.bound || (frame[0] & 1)) continue;
        const uint8_t* ip = frame + kEthHdr;
        UdpVerdict v;
        if (get16(frame + 12) == kEthIp6) {  // TCP, UDP, ICMPv6 right after the fixed header
            if (m->data_len < kEthHdr + kIp6Hdr + 8 || (ip[0] >> 4) != 6 ||
                !fast_is_local6(p, ip + kIp6Dst))
                continue;
            if (ip[kIp6Next] == kProtoTcp) {
                if (m->data_len >= kEthHdr + kIp6Hdr + 20 && tcp_segment(w, t, m, false)) keep--;
                continue;
            }
            size_t tlen = kIp6Hdr + size_t(get16(ip + kIp6Plen));
            if (tlen > size_t(m->data_len - kEthHdr)) continue;
            if (ip[kIp6Next] == kProtoIcmp6) {
                if (icmp_deliver(w, p, ip, kIp6Hdr, tlen, m->port)) {
                    rte_pktmbuf_free(m);
                    keep--;
                }
                continue;
            }
            if (ip[kIp6Next] != kProtoUdp || x.udp[p.stack].size() == 0) continue;
            v = udp_classify6(x.udp[p.stack], ip, tlen);
        } else {
            if (get16(frame + 12) != kEthIp4) continue;
            Ip4Check ck = ip4_check(ip, m->data_len - kEthHdr, true);
            if (!ck.ok || (get16(ip + 6) & 0x3fff)) continue;
            uint32_t dst;
            std::memcpy(&dst, ip + 16, 4);
            if (t.ntun && (ip[9] == kProtoEsp || ip[9] == kProtoGre || ip[9] == kProtoUdp) &&
                fast_is_local(p, dst)) {
                int id = tun_match(t, p.stack, ip, ck.hlen, ck.tlen);
                if (id >= 0) {  // one of the workers' tunnels: decrypt or decapsulate here
                    if (size_t(kEthHdr) + ck.tlen < m->data_len)
                        rte_pktmbuf_trim(m, uint16_t(m->data_len - kEthHdr - ck.tlen));
                    tin[ntin] = m;
                    tinid[ntin++] = uint8_t(id);
                    keep--;
                    continue;
                }
            }
            if (ip[9] == kProtoTcp) {
                if (fast_is_local(p, dst) && tcp_segment(w, t, m, false)) keep--;
                continue;
            }
            if (ip[9] == kProtoIcmp) {
                if (fast_is_local(p, dst) && icmp_deliver(w, p, ip, ck.hlen, ck.tlen, m->port)) {
                    rte_pktmbuf_free(m);
                    keep--;
                }
                continue;
            }
            if (ip[9] != kProtoUdp) continue;
            if (!fast_is_local(p, dst) || x.udp[p.stack].size() == 0) continue;
            v = udp_classify4(x.udp[p.stack], ip, ck.hlen, ck.tlen);
        }
        if (!v.flow) continue;
        rte_mbuf* c = rte_pktmbuf_alloc(msgs_);
        char* d = c ? rte_pktmbuf_append(c, uint16_t(sizeof v.meta + v.len)) : nullptr;
        if (!d) {  // no message mbuf, or a jumbo datagram: the control thread takes it
            if (c) rte_pktmbuf_free(c);
            continue;
        }
        std::memcpy(d, &v.meta, sizeof v.meta);
        std::memcpy(d + sizeof v.meta, ip + v.off, v.len);
        auto& h = *static_cast<MsgHdr*>(rte_mbuf_to_priv(c));
        h = MsgHdr{};
        h.kind = v.call ? MsgKind::Call : MsgKind::DataIn;
        h.stack = p.stack;
        h.proto = kUdpIndex;
        h.port = m->port;
        h.conv = v.flow->conv;
        h.gen = v.flow->gen;
        FastStats& st = ws.s[p.stack];
        st.ip[InReceives]++;
        st.ip[InDelivers]++;
        done[ndone++] = c;
        rte_pktmbuf_free(m);
        keep--;
    }
    npunt = keep;
    if (!ndone) return;
    unsigned sent = rte_ring_enqueue_burst(cpl_[w], reinterpret_cast<void**>(done), ndone, nullptr);
    ws.delivered += sent;
    if (sent < ndone) {
        ws.cpl_drops += ndone - sent;
        rte_pktmbuf_free_bulk(done + sent, ndone - sent);
    }
    if (sent) wake_control();
}


int Dataplane::worker_main(unsigned w) {
    WorkerStats& ws = wstats_[w];
    rte_rcu_qsbr_thread_register(qsbr_, w);
    rte_rcu_qsbr_thread_online(qsbr_, w);
    rte_mbuf* rx[kBurst];
    TxBuf txb[kMaxPorts];
    const uint16_t q = uint16_t(w);
    auto full = [&](uint16_t port) { flush(txb[port], port, q, ws); };
    const bool nap = shares_cpu_with_main();
    if (nap) yield_to_main();
    tcpctx_[w] = {this, w, nullptr, txb};
    std::vector<uint16_t> pids;
    for (const PortFacts& pf : ports_) pids.push_back(pf.id);
    Idler idler(sleep_ ? IdleMode::Sleep : nap ? IdleMode::Nap : IdleMode::Poll, wake_[w],
                req_[w], pids, q, qsbr_, w);
    idler.watch_hand(hand_[w]);
    while (running_.load(std::memory_order_relaxed)) {
        const FastTable& t = *table_.load(std::memory_order_acquire);
        tcpctx_[w].t = &t;
        bool busy = false;
        for (const PortFacts& pf : ports_) {
            uint16_t n = rte_eth_rx_burst(pf.id, q, rx, kBurst);
            if (n == 0) continue;
            if (unlikely(capture_on())) capture_rx(pf.id, q, rx, n);
            busy = true;
            ws.rx += n;
            BurstOut o;
            fast_burst(rx, n, pf.id, t, ws.s, txb, o, full);
            if (o.ntun) tun_output(w, t, o.tun, o.tunid, o.ntun, txb);
            if (o.npunt) {
                uint16_t ntin = 0;
                l4_stage(w, t, o.punt, o.npunt, o.tun, o.tunid, ntin);
                if (ntin) tun_input(w, t, o.tun, o.tunid, ntin, txb, true);
                tcp_drain_all(w);
            }
            if (o.npunt) {
                unsigned done = rte_ring_enqueue_burst(punt_[w], reinterpret_cast<void**>(o.punt),
                                                       o.npunt, nullptr);
                ws.punted += done;
                ws.punt_drops += o.npunt - done;
                if (done < o.npunt) rte_pktmbuf_free_bulk(o.punt + done, o.npunt - done);
                if (done) wake_control();
            }
            if (o.ndrop) rte_pktmbuf_free_bulk(o.drop, o.ndrop);
        }
        // TCP: segments other workers handed over, timers, output that waited for ring room
        // and ESP bursts of a tunnel another worker receives (tun_spread)
        unsigned nh = rte_ring_dequeue_burst(hand_[w], reinterpret_cast<void**>(rx), kBurst,
                                             nullptr);
        rte_mbuf* esp[kBurst];
        uint8_t espid[kBurst];
        uint16_t nesp = 0;
        for (unsigned i = 0; i < nh; i++) {
            if (rx[i]->packet_type & kTunHanded) {
                uint32_t id = rx[i]->packet_type & 0xff;
                rx[i]->packet_type = 0;
                if (id < t.ntun && t.tun[id].kind == uint8_t(TunKind::Esp)) {
                    esp[nesp] = rx[i];
                    espid[nesp++] = uint8_t(id);
                } else {
                    rte_pktmbuf_free(rx[i]);  // the tunnel went meanwhile
                }
                continue;
            }
            if (!tcp_segment(w, t, rx[i], true)) rte_pktmbuf_free(rx[i]);
        }
        if (nesp) {
            ws.tun_taken += nesp;
            tun_input(w, t, esp, espid, nesp, txb, false);
        }
        if (nh) busy = true;
        uint64_t now = 0;
        for (auto& k : ctx_[w]->tcp) {
            if (!k) continue;
            if (!now) now = now_us();
            k->timers(now);
        }
        tcp_drain_all(w);
        for (auto& k : ctx_[w]->tcp)
            if (k && k->pending()) busy = true;  // completions waiting for ring room: no sleep
        for (const PortFacts& pf : ports_) flush(txb[pf.id], pf.id, q, ws);
        // requests: frames the control thread built (ARP, ICMP errors, conversation output,
        // slow path), conversation flows
        unsigned n = rte_ring_dequeue_burst(req_[w], reinterpret_cast<void**>(rx), kBurst, nullptr);
        for (unsigned i = 0; i < n; i++) {
            auto& h = *static_cast<MsgHdr*>(rte_mbuf_to_priv(rx[i]));
            if (h.proto == kTcpIndex && h.kind != MsgKind::Tx) {
                tcp_request(w, h, rx[i]);
                continue;
            }
            if (h.kind == MsgKind::Send && (h.proto == kIcmpIndex || h.proto == kIcmp6Index)) {
                if (!icmp_send(w, t, h, rx[i])) continue;
            } else if (h.kind == MsgKind::Send) {
                if (!udp_send(w, t, h, rx[i])) continue;  // up as TxSlow, or dropped
            } else if (h.kind != MsgKind::Tx || rx[i]->port >= kMaxPorts) {
                flow_request(w, h, rx[i]);
                rte_pktmbuf_free(rx[i]);
                continue;
            }
            TxBuf& b = txb[rx[i]->port];
            b.m[b.n++] = rx[i];
            if (b.n == kBurst) flush(b, rx[i]->port, q, ws);
        }
        if (n) tcp_drain_all(w);
        for (const PortFacts& pf : ports_) flush(txb[pf.id], pf.id, q, ws);
        ws.loops++;
        rte_rcu_qsbr_quiescent(qsbr_, w);
        if (idler.after(busy || n)) ws.naps++;  // idle: sleep (dataplane/idle.h)
    }
    for (const PortFacts& pf : ports_) flush(txb[pf.id], pf.id, q, ws);
    rte_rcu_qsbr_thread_offline(qsbr_, w);
    rte_rcu_qsbr_thread_unregister(qsbr_, w);
    return 0;
}

}  // namespace devip::dp
