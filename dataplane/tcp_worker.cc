// TCP in the worker loop: local IPv4 segments from the l4 stage (or handed over by the worker
// that received them) go to the owning worker's shard (proto/tcp_work.h); what the shard
// sends is framed here from the connection's route hint (or goes up as TxSlow); its
// completions and the bytes its connections received go up on the completion ring. No locks,
// no system calls; allocation only when a stack's shard is made (the first TCP request or
// segment) and when a shard grows its tables.
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstring>

#include "dataplane/burst.h"
#include "dataplane/capture.h"
#include "dataplane/dataplane.h"
#include "dataplane/idle.h"
#include "proto/fastpath.h"
#include "proto/wire.h"

namespace devip::dp {

using namespace devip::proto;

namespace {
constexpr uint32_t kTcpUpMax = 60 * 1024;  // received bytes per DataIn completion
}  // namespace

uint64_t Dataplane::now_us() const { return uint64_t(double(rte_get_tsc_cycles()) / tsc_per_us_); }

TcpWork& Dataplane::tcp_work(unsigned w, uint8_t stack) {
    auto& k = ctx_[w]->tcp[stack];
    if (!k) {
        TcpParams prm;
        prm.scale(tcp_scale_);
        k = std::make_unique<TcpWork>(prm, tcp_key_, stack, now_us(), tcp_emit, &tcpctx_[w]);
    }
    return *k;
}

void Dataplane::tcp_emit(void* ctx, const TcpWork& k, std::span<const TcpTx> tx) {
    auto& c = *static_cast<TcpCtx*>(ctx);
    c.d->tcp_out(c.w, k, tx);
}

// The shard's segments: framed from the route hint when it is current and the packet fits,
// else the IP packet goes up for IP output (ARP, routing, ICMP) as TxSlow.
void Dataplane::tcp_out(unsigned w, const TcpWork& k, std::span<const TcpTx> tx) {
    const TcpCtx& c = tcpctx_[w];
    const FastTable& t = *c.t;
    auto* txb = static_cast<TxBuf*>(c.txb);
    WorkerStats& ws = wstats_[w];
    std::atomic<uint32_t>* gen = t.rgen[k.stack];
    std::atomic<uint32_t>* ipid = t.ipid[k.stack];
    for (const TcpTx& s : tx) {
        bool v4 = s.t.v4();
        size_t iph = v4 ? kIp4Hdr : kIp6Hdr;
        size_t len = iph + s.hlen + s.n1 + s.n2;
        const TcpGlue* g = s.conn != kTcpNoConn ? k.glue_of(s.conn) : nullptr;
        const OutHint* h = g && g->conv != kNoConv ? &g->hint : nullptr;
        bool fast = h && h->ok && gen && ipid &&
                    h->gen == gen->load(std::memory_order_acquire) && len <= h->mtu &&
                    t.port[h->port].bound;
        rte_mbuf* m = rte_pktmbuf_alloc(fast ? pool_ : msgs_);
        char* p = m ? rte_pktmbuf_append(m, uint16_t(len + (fast ? kEthHdr : 0))) : nullptr;
        if (!p) {
            if (m) rte_pktmbuf_free(m);
            ws.tx_drops++;  // TCP retransmits it
            continue;
        }
        auto* ip = reinterpret_cast<uint8_t*>(p + (fast ? kEthHdr : 0));
        if (v4) {
            ip[0] = 0x45;
            ip[1] = s.tos;
            put16(ip + 2, uint16_t(len));
            put16(ip + 4, ipid ? uint16_t(ipid->fetch_add(1, std::memory_order_relaxed)) : 0);
            put16(ip + 6, s.df ? 0x4000 : 0);
            ip[8] = s.ttl;
            ip[9] = kProtoTcp;
            put16(ip + 10, 0);
            std::memcpy(ip + 12, s.t.laddr.b.data() + 12, 4);
            std::memcpy(ip + 16, s.t.raddr.b.data() + 12, 4);
            put16(ip + 10, csum(ip, kIp4Hdr));
        } else {
            ip[0] = uint8_t(0x60 | (s.tos >> 4));
            ip[1] = uint8_t(s.tos << 4);
            ip[2] = ip[3] = 0;
            put16(ip + 4, uint16_t(len - kIp6Hdr));
            ip[6] = kProtoTcp;
            ip[7] = s.ttl;
            std::memcpy(ip + 8, s.t.laddr.b.data(), 16);
            std::memcpy(ip + 24, s.t.raddr.b.data(), 16);
        }
        uint8_t* q = ip + iph;
        std::memcpy(q, s.hdr, s.hlen);
        if (s.n1) std::memcpy(q + s.hlen, s.p1, s.n1);
        if (s.n2) std::memcpy(q + s.hlen + s.n1, s.p2, s.n2);
        ws.s[k.stack].ip[OutRequests]++;
        if (fast) {
            std::memcpy(p, h->eth, 12);
            put16(reinterpret_cast<uint8_t*>(p) + 12, v4 ? kEthIp4 : kEthIp6);
            m->port = h->port;
            TxBuf& b = txb[h->port];
            b.m[b.n++] = m;
            if (b.n == kBurst) {
                if (unlikely(capture_on())) capture_tx(h->port, uint16_t(w), b.m, b.n);
                uint16_t sent = rte_eth_tx_burst(h->port, uint16_t(w), b.m, b.n);
                ws.tx += sent;
                if (sent < b.n) {
                    ws.tx_drops += b.n - sent;
                    rte_pktmbuf_free_bulk(b.m + sent, b.n - sent);
                }
                b.n = 0;
            }
            ws.sent++;
            continue;
        }
        auto& mh = *static_cast<MsgHdr*>(rte_mbuf_to_priv(m));
        mh = MsgHdr{};
        mh.kind = MsgKind::TxSlow;
        mh.stack = k.stack;
        mh.proto = kTcpIndex;
        mh.flags = v4 ? 0 : kMsgV6;
        mh.conv = g ? g->conv : kNoConv;
        mh.gen = g ? g->gen : 0;
        ws.sent_slow++;
        if (rte_ring_enqueue(cpl_[w], m) != 0) {
            ws.cpl_drops++;
            rte_pktmbuf_free(m);
            continue;
        }
        wake_control();
    }
}

// A local, unfragmented IPv4 TCP segment (m: the whole frame): to the shard of the worker
// that owns its connection. Returns false when m is not one (it stays punted).
bool Dataplane::tcp_segment(unsigned w, const FastTable& t, rte_mbuf* m, bool handed) {
    const PortRt& p = t.port[m->port];
    const uint8_t* ip = rte_pktmbuf_mtod(m, const uint8_t*) + kEthHdr;
    size_t room = m->data_len - kEthHdr;
    Ipaddr src, dst;
    size_t hlen, tlen;
    uint16_t mtu;
    if ((ip[0] >> 4) == 6) {  // the l4 stage checked the version, the length of the header
        hlen = kIp6Hdr;       // and that TCP follows it
        tlen = kIp6Hdr + size_t(get16(ip + 4));
        if (tlen > room || tlen == kIp6Hdr) return false;
        src = Ipaddr::from_bytes(ip + 8);
        dst = Ipaddr::from_bytes(ip + 24);
        mtu = p.mtu6 > 60 ? uint16_t(p.mtu6 - 60) : 1220;
    } else {
        Ip4Check ck = ip4_check(ip, room, true);
        if (!ck.ok) return false;
        hlen = ck.hlen;
        tlen = ck.tlen;
        src = Ipaddr::v4(get32(ip + 12));
        dst = Ipaddr::v4(get32(ip + 16));
        mtu = p.mtu > 40 ? uint16_t(p.mtu - 40) : 536;
    }
    WorkerStats& ws = wstats_[w];
    if (!handed && tlen >= hlen + 4) {  // shorter: tcp_parse counts it here
        uint16_t sport = get16(ip + hlen), dport = get16(ip + hlen + 2);
        int o = flow_owner(dst, src, dport, sport);
        if (o != int(w)) {
            if (rte_ring_enqueue(hand_[size_t(o)], m) != 0) {
                ws.hand_drops++;
                rte_pktmbuf_free(m);
            } else {
                ws.handed++;
                wake_worker(wake_[size_t(o)]);  // a system call only while it sleeps
            }
            return true;
        }
    }
    TcpWork& k = tcp_work(w, p.stack);
    TcpSegIn s;
    FastStats& st = ws.s[p.stack];
    st.ip[InReceives]++;
    if (tcp_parse(k.shard.st, src, dst, ip + hlen, uint32_t(tlen - hlen), s)) {
        st.ip[InDelivers]++;
        s.route_mss = mtu;
        tcpctx_[w].t = &t;
        k.input(s, now_us());
        ws.tcp_in++;
    }
    rte_pktmbuf_free(m);  // drained once per burst (tcp_drain_all): a completion then holds
    return true;          // what the burst brought, not one segment each
}

void Dataplane::tcp_drain_all(unsigned w) {
    for (auto& k : ctx_[w]->tcp)
        if (k && k->pending()) tcp_drain(w, *k);
}

// A request for TCP (kinds Open … Query): m is freed here unless a Send piece waits in it.
void Dataplane::tcp_request(unsigned w, MsgHdr& h, rte_mbuf* m) {
    if (h.stack >= kMaxStacks) {
        rte_pktmbuf_free(m);
        return;
    }
    TcpWork& k = tcp_work(w, h.stack);
    std::span<const uint8_t> d(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len);
    if (h.kind == MsgKind::Ctl && h.conv == kNoConv) {  // tcpporthogdefense: the whole shard
        std::string_view text(reinterpret_cast<const char*>(d.data()), d.size());
        k.shard.porthog = text.ends_with("on");
        rte_pktmbuf_free(m);
        return;
    }
    if (!k.request(h, d, m, now_us())) rte_pktmbuf_free(m);
}

// Up: first the bytes connections received (DataIn, as many as the ring takes), then the
// completions in order (the rest wait for the next round), then the Send messages done with.
void Dataplane::tcp_drain(unsigned w, TcpWork& k) {
    WorkerStats& ws = wstats_[w];
    rte_ring* r = cpl_[w];
    bool woke = false;
    if (!k.readable.empty()) {
        size_t keep = 0;
        uint64_t now = now_us();
        for (size_t i = 0; i < k.readable.size(); i++) {
            uint32_t id = k.readable[i];
            bool left = false;
            // up to 64 KB per completion, in a chain of message mbufs: one queue put and one
            // 9P read for what would be thirty-odd
            while (k.readable_bytes(id) > 0) {
                if (rte_ring_free_count(r) == 0) {
                    left = true;
                    break;
                }
                rte_mbuf *head = nullptr, *tail = nullptr;
                uint32_t total = 0;
                while (total < kTcpUpMax && k.readable_bytes(id) > 0) {
                    rte_mbuf* m = rte_pktmbuf_alloc(msgs_);
                    uint16_t room = m ? rte_pktmbuf_tailroom(m) : 0;
                    char* p = m ? rte_pktmbuf_append(m, room) : nullptr;
                    if (!p) {
                        if (m) rte_pktmbuf_free(m);
                        break;
                    }
                    uint32_t n = k.read(id, {reinterpret_cast<uint8_t*>(p), room}, now);
                    rte_pktmbuf_trim(m, uint16_t(room - n));
                    if (!head) {
                        head = tail = m;
                    } else {
                        tail->next = m;
                        tail = m;
                        head->nb_segs++;
                        head->pkt_len += m->data_len;
                    }
                    total += n;
                }
                if (!head) {  // no message mbuf: later
                    left = true;
                    break;
                }
                *static_cast<MsgHdr*>(rte_mbuf_to_priv(head)) = k.hdr(MsgKind::DataIn, id);
                rte_ring_enqueue(r, head);  // the only producer: the free count holds
                ws.delivered++;
                woke = true;
            }
            if (left)
                k.readable[keep++] = id;
            else
                k.readable_done(id);
        }
        k.readable.resize(keep);
    }
    size_t sent = 0;
    for (; sent < k.cpl.size(); sent++) {
        TcpCpl& c = k.cpl[sent];
        rte_mbuf* m = rte_ring_free_count(r) > 0 ? rte_pktmbuf_alloc(msgs_) : nullptr;
        char* p = m ? rte_pktmbuf_append(m, c.n) : nullptr;
        if (!p) {
            if (m) rte_pktmbuf_free(m);
            break;
        }
        if (c.n) std::memcpy(p, c.b, c.n);
        c.h.port = uint16_t(w);  // Call: the worker that has the connection
        *static_cast<MsgHdr*>(rte_mbuf_to_priv(m)) = c.h;
        rte_ring_enqueue(r, m);
        woke = true;
    }
    if (sent) k.cpl.erase(k.cpl.begin(), k.cpl.begin() + long(sent));
    for (void* m : k.freed) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    k.freed.clear();
    if (woke) wake_control();
}

}  // namespace devip::dp
