// UDP conversations (RFC 768), v4 and v6. Behaviour: ip3.md §3.5 (ctl), §4.7 (data modes, headers
// layout), §4.5 (demultiplexing), §2.10 (stats). Cold face and input both run on the control
// thread; the hot face (udp_shard.h) on the workers: datagrams, v4 and v6, for conversations'
// flows come up as completions, and connected conversations' datagrams go out from a worker.
#include "proto/udp.h"

#include "proto/dlog.h"

#include "proto/icmp.h"
#include "proto/icmp6.h"
#include "proto/ip6.h"
#include "proto/stack.h"
#include "proto/udp_shard.h"
#include "proto/wire.h"

namespace devip::proto {

namespace {

constexpr size_t kUdpQmax = 512 * 1024;
constexpr int kUdpHdr = 8;

uint16_t udp_csum(const Ipaddr& src, const Ipaddr& dst, const uint8_t* udp, size_t n) {
    if (!src.is_v4()) return ip6_csum(src, dst, kProtoUdp, udp, n);
    uint32_t s = csum_add(src.b.data() + 12, 4);
    s = csum_add(dst.b.data() + 12, 4, s);
    s += kProtoUdp + uint32_t(n);
    return csum(udp, n, s);
}

// iphtlook (§4.5): exact, then announced on (la, lp), any-address on lp, la with port *, any.
Conv* demux(Proto& p, const Ipaddr& ra, uint16_t rp, const Ipaddr& la, uint16_t lp) {
    Conv* best = nullptr;
    int rank = 6;
    for (auto& c : p.convs) {
        if (c->inuse == 0) continue;
        if (c->state != ConvState::Connected && c->state != ConvState::Announced) continue;
        int r = udp_rank(c->raddr, c->rport, c->laddr, c->lport, ra, rp, la, lp);
        if (r && r < rank) {
            rank = r;
            best = c.get();
        }
    }
    return best;
}

}  // namespace

Udp* udp_of(Stack& s) { return static_cast<Udp*>(s.proto("udp")); }

// The address on f closest to a, for replies to broadcasts and the headers' ifcaddr: v6 by
// source selection's per-interface rule (9front ipv6local), v4 by the longest common prefix.
Ipaddr Udp::ifc_addr(const Ipifc& f, const Ipaddr& a) const {
    Ipaddr me;
    if (a.is_v4()) return stack.ifc_addr_toward(f.x, a);
    return stack.ipv6local(f.x, me, 0, a) ? me : IPnoaddr;
}

std::unique_ptr<Conv> Udp::make_conv(int x) {
    return std::make_unique<Conv>(*this, x, kUdpQmax, true);
}

Err Udp::write_ctl(Conv& c, const CtlArgs& a) {
    Err e = Proto::write_ctl(c, a);
    sync_flow(c);
    return e;
}

void Udp::sync_flow(Conv& c) {
    bool on = c.inuse > 0 && (c.state == ConvState::Connected || c.state == ConvState::Announced);
    FlowMsg f{c.laddr, c.raddr, c.lport, c.rport, uint8_t(c.headers), c.ttl, c.tos, {}};
    flow_sync(c, on, f, !c.raddr.is_noaddr() && !c.headers);
}

Err Udp::ctl(Conv& c, const CtlArgs& a) {
    if (a.size() == 1 && a[0] == "headers") {
        c.headers = true;
        return ok;
    }
    if (a.size() == 1 && a[0] == "hangup") {
        c.rq.hangup();
        return ok;
    }
    return Eunknownctl;
}

void Udp::close(Conv& c) {
    sync_flow(c);  // the open count is 0: the flow goes
    c.rq.hangup();
    c.eq.hangup();
    c.headers = false;
    c.laddr = c.raddr = IPnoaddr;
    c.lport = c.rport = 0;
}

void Udp::state(const Conv& c, Text& t) const {
    t.put("%s qin %zu qout 0\n", c.inuse ? "Open" : "Closed", c.rq.bytes());
}

constexpr Stat<UdpStats> kUdpStats[] = {
    {"InDatagrams", &UdpStats::in_datagrams}, {"NoPorts", &UdpStats::no_ports},
    {"InErrors", &UdpStats::in_errors}, {"OutDatagrams", &UdpStats::out_datagrams},
};

void Udp::stats(Text& t) const {
    for (auto& k : kUdpStats) t.put("%s: %llu\n", k.name, (unsigned long long)(st.*k.field));
}

void Udp::counters(std::vector<Counter>& out) const {
    for (auto& k : kUdpStats) out.push_back({k.name, st.*k.field, {}});
}

// A connected conversation's datagram that fits one frame is built and sent by a worker
// from the conversation's flow (its route hint); true when it went so.
bool Udp::worker_send(Conv& c, std::span<const uint8_t> data) {
    if (c.headers) return false;
    bool v6 = c.ipversion == Version::V6;
    if (v6 ? c.raddr.is_v4() || c.laddr.is_v4() || c.laddr.is_noaddr()
           : !c.raddr.is_v4() || !c.laddr.is_v4() || c.laddr.is_v4_zero())
        return false;
    if (!flow_send(c, data, v6 ? kWorkerMax6 : kWorkerMax)) return false;
    st.out_datagrams++;
    return true;
}

// One write = one datagram. In headers mode the first 52 bytes say where it goes (§4.7.2).
Err Udp::write_data(Conv& c, std::span<const uint8_t> data) {
    if (worker_send(c, data)) {
        stack.log.print(Logudpmsg, "udp: %s!%d -> %s!%d len %zu\n", fmt_ip(c.laddr).c_str(),
                        c.lport, fmt_ip(c.raddr).c_str(), c.rport, data.size());
        return ok;
    }
    Ipaddr raddr = c.raddr, laddr = c.laddr;
    uint16_t rport = c.rport;
    if (c.headers) {
        if (data.size() < kUdphdrSize) return ok;  // too short: dropped
        raddr = Ipaddr::from_bytes(data.data());
        Ipaddr want = Ipaddr::from_bytes(data.data() + 16);
        Ipaddr ifcaddr = Ipaddr::from_bytes(data.data() + 32);
        rport = get16(data.data() + 48);
        uint16_t t = stack.ipforme(want);
        if ((t & Runi) && stack.self.find(want)) {
            laddr = want;
        } else if ((t & (Rbcast | Rmulti)) && stack.self.find(ifcaddr) &&
                   (stack.ipforme(ifcaddr) & Runi) && stack.rib.lookup(raddr, ifcaddr)) {
            laddr = ifcaddr;
        } else {
            laddr = stack.findlocalip(raddr);
        }
        data = data.subspan(kUdphdrSize);
    } else if (laddr.is_noaddr()) {
        laddr = stack.findlocalip(raddr);
    }
    // v4 when the source is v4 or unset (headers), or by the conversation's version
    bool v6 = c.headers ? !(laddr.is_v4() || laddr.is_noaddr()) : c.ipversion == Version::V6;
    if (v6 == raddr.is_v4()) return ok;  // mixed families: nowhere to send it
    if (laddr.is_noaddr()) laddr = stack.findlocalip(raddr);
    std::string u(kUdpHdr, '\0');
    u.append(data.begin(), data.end());
    if (u.size() > 65535 - size_t(v6 ? kIp6Hdr : kIp4Hdr)) return ok;  // IP output would drop it
    auto* b = reinterpret_cast<uint8_t*>(u.data());
    put16(b, c.lport);
    put16(b + 2, rport);
    put16(b + 4, uint16_t(u.size()));
    uint16_t ck = udp_csum(laddr, raddr, b, u.size());
    put16(b + 6, ck ? ck : 0xffff);
    st.out_datagrams++;
    stack.log.print(Logudpmsg, "udp: %s!%d -> %s!%d len %zu\n", fmt_ip(laddr).c_str(), c.lport,
                    fmt_ip(raddr).c_str(), rport, data.size());
    if (v6)
        stack.ip6_send(laddr, raddr, kProtoUdp, c.ttl, c.tos, {b, u.size()});
    else
        stack.ip4_send(laddr, raddr, kProtoUdp, c.ttl, c.tos, {b, u.size()});
    return ok;  // a datagram with no route is dropped; the write still succeeds
}

void Udp::input(Ipifc& f, std::span<const uint8_t> pkt, size_t hlen) {
    if (tun_natt_input(stack, f, pkt, hlen)) return;  // ESP in UDP of a tunnel (RFC 3948)
    st.in_datagrams++;
    if (pkt.size() < hlen + kUdpHdr) return;
    const uint8_t* u = pkt.data() + hlen;
    size_t ulen = get16(u + 4);
    if (ulen < size_t(kUdpHdr) || ulen > pkt.size() - hlen) return;  // shorter than its length
    bool v6 = (pkt[0] >> 4) == 6;
    Ipaddr src = v6 ? ip6_src(pkt.data()) : Ipaddr::v4(get32(pkt.data() + 12));
    Ipaddr dst = v6 ? ip6_dst(pkt.data()) : Ipaddr::v4(get32(pkt.data() + 16));
    if ((v6 || get16(u + 6) != 0) && udp_csum(src, dst, u, ulen) != 0) {  // v4 zero: unchecked
        st.in_errors++;
        stack.log.print(Logudp, "udp: checksum error from %s\n", fmt_ip(src).c_str());
        return;
    }
    DatagramMeta m{src, dst, get16(u), get16(u + 2)};
    std::span<const uint8_t> payload(u + kUdpHdr, ulen - kUdpHdr);
    Conv* c = demux(*this, src, m.sport, dst, m.dport);
    if (!c) {
        st.no_ports++;
        dlog::limited(stack.net.lim_noport, stack.net.now_ms, dlog::Level::Debug,
                      "stack %d: udp: %s!%u to %s!%u: no conversation", stack.n,
                      fmt_ip(src).c_str(), m.sport, fmt_ip(dst).c_str(), m.dport);
        stack.log.print(Logudp, "udp: no conv %s!%d -> %s!%d\n", fmt_ip(src).c_str(), m.sport,
                        fmt_ip(dst).c_str(), m.dport);
        if (v6)
            stack.icmp6_error(f.x, pkt, Icmp6Unreachable, kIcmp6PortUnreach);
        else
            stack.icmp_error(f.x, pkt, Unreachable, 3);
        return;
    }
    deliver(f, c, m, v6, payload);
}

// A worker checked the datagram and found c's flow; the conv may have gone meanwhile (its
// incarnation differs), and a listener's caller may have its conversation by now.
void Udp::completion(const MsgHdr& h, std::span<const uint8_t> data) {
    if (h.kind == MsgKind::TxSlow) {  // the worker's hint went stale on the way: IP output
        // here (the next write makes a fresh hint)
        stack.tx_slow(h.flags & kMsgV6, data);
        return;
    }
    if (data.size() < sizeof(DatagramMeta)) return;
    DatagramMeta m;
    std::memcpy(&m, data.data(), sizeof m);
    st.in_datagrams++;
    Conv* c = conv(int(h.conv));
    const Net::Owner& o = h.port < kMaxPorts ? stack.net.owner[h.port] : Net::Owner{};
    Ipifc* f = o.s == &stack ? stack.ipifc->ifc(o.ifc) : nullptr;
    if (!c || c->gen != h.gen || c->inuse == 0 || !f) return;
    if (h.kind == MsgKind::Call) c = demux(*this, m.src, m.sport, m.dst, m.dport);
    if (c) deliver(*f, c, m, !m.src.is_v4(), data.subspan(sizeof m));
}

void Udp::deliver(Ipifc& f, Conv* c, const DatagramMeta& m, bool v6,
                  std::span<const uint8_t> payload) {
    if (c->raddr.is_noaddr() && !c->headers) {  // a new caller on an announced conv
        if (c->incall.size() >= size_t(kMaxIncall)) return;
        auto n = clone(c->owner);
        if (!n) return;
        Conv* nc = *n;
        nc->state = ConvState::Connected;
        nc->raddr = m.src;
        nc->rport = m.sport;
        nc->lport = c->lport ? c->lport : m.dport;
        uint16_t t = stack.ipforme(m.dst);
        nc->laddr = (t & Runi) && stack.self.find(m.dst) ? m.dst : ifc_addr(f, m.src);
        nc->ipversion = v6 ? Version::V6 : Version::V4;
        c->incall.push_back(nc->x);
        c->rq.kick();  // a listen parked on the listener takes the call
        c = nc;
        sync_flow(*nc);
    }
    std::string b;
    if (c->headers) {
        b.resize(kUdphdrSize);
        auto* h = reinterpret_cast<uint8_t*>(b.data());
        std::memcpy(h, m.src.b.data(), 16);
        std::memcpy(h + 16, m.dst.b.data(), 16);
        Ipaddr ifcaddr = ifc_addr(f, m.src);
        if (ifcaddr.is_noaddr() && !f.lifc.empty()) ifcaddr = f.lifc.front().local;
        std::memcpy(h + 32, ifcaddr.b.data(), 16);
        put16(h + 48, m.sport);
        put16(h + 50, m.dport);
    }
    b.append(payload.begin(), payload.end());
    if (!c->rq.put(std::move(b))) c->qin_dropped++;
}

void Udp::advise(std::span<const uint8_t> emb, Err why) {
    if (emb.size() < size_t(kIp4Hdr) + 4) return;
    bool v6 = (emb[0] >> 4) == 6;
    size_t hl = v6 ? size_t(kIp6Hdr) : (emb[0] & 0xf) * 4u;
    if (emb.size() < hl + 4) return;
    Ipaddr src = v6 ? ip6_src(emb.data()) : Ipaddr::v4(get32(emb.data() + 12));
    Ipaddr dst = v6 ? ip6_dst(emb.data()) : Ipaddr::v4(get32(emb.data() + 16));
    uint16_t sport = get16(emb.data() + hl), dport = get16(emb.data() + hl + 2);
    for (auto& c : convs) {
        if (c->state != ConvState::Connected || c->ignoreadvice) continue;
        if (c->raddr == dst && c->rport == dport && c->lport == sport &&
            (c->laddr == src || c->laddr.is_noaddr())) {
            c->rq.hangup(why);
        }
    }
}

}  // namespace devip::proto
