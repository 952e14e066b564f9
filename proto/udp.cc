// UDP conversations (RFC 768), v4 and v6. Behaviour: ip3.md §3.5 (ctl), §4.7 (data modes, headers
// layout), §4.5 (demultiplexing), §2.10 (stats). Cold face and input both run on the control
// thread in this edition: every datagram for a conversation ends in a 9P read there anyway.
#include "proto/udp.h"

#include "proto/dlog.h"

#include "proto/icmp.h"
#include "proto/icmp6.h"
#include "proto/ip6.h"
#include "proto/stack.h"
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
        int r;
        if (!c->raddr.is_noaddr()) {
            if (c->raddr != ra || c->rport != rp || c->lport != lp) continue;
            if (!c->laddr.is_noaddr() && c->laddr != la) continue;
            r = 1;
        } else if (c->lport == lp && c->laddr == la) {
            r = 2;
        } else if (c->lport == lp && c->laddr.is_noaddr()) {
            r = 3;
        } else if (c->lport == 0 && c->laddr == la) {
            r = 4;
        } else if (c->lport == 0 && c->laddr.is_noaddr()) {
            r = 5;
        } else {
            continue;
        }
        if (r < rank) {
            rank = r;
            best = c.get();
        }
    }
    return best;
}

}  // namespace

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

// One write = one datagram. In headers mode the first 52 bytes say where it goes (§4.7.2).
Err Udp::write_data(Conv& c, std::span<const uint8_t> data) {
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
    uint16_t sport = get16(u), dport = get16(u + 2);
    std::span<const uint8_t> payload(u + kUdpHdr, ulen - kUdpHdr);
    Conv* c = demux(*this, src, sport, dst, dport);
    if (!c) {
        st.no_ports++;
        dlog::limited(stack.net.lim_noport, stack.net.now_ms, dlog::Level::Debug,
                      "stack %d: udp: %s!%u to %s!%u: no conversation", stack.n,
                      fmt_ip(src).c_str(), sport, fmt_ip(dst).c_str(), dport);
        stack.log.print(Logudp, "udp: no conv %s!%d -> %s!%d\n", fmt_ip(src).c_str(), sport,
                        fmt_ip(dst).c_str(), dport);
        if (v6)
            stack.icmp6_error(f.x, pkt, Icmp6Unreachable, kIcmp6PortUnreach);
        else
            stack.icmp_error(f.x, pkt, Unreachable, 3);
        return;
    }
    if (c->raddr.is_noaddr() && !c->headers) {  // a new caller on an announced conv
        if (c->incall.size() >= size_t(kMaxIncall)) return;
        auto n = clone(c->owner);
        if (!n) return;
        Conv* nc = *n;
        nc->state = ConvState::Connected;
        nc->raddr = src;
        nc->rport = sport;
        nc->lport = c->lport ? c->lport : dport;
        uint16_t t = stack.ipforme(dst);
        nc->laddr = (t & Runi) && stack.self.find(dst) ? dst : ifc_addr(f, src);
        nc->ipversion = v6 ? Version::V6 : Version::V4;
        c->incall.push_back(nc->x);
        c = nc;
    }
    std::string b;
    if (c->headers) {
        b.resize(kUdphdrSize);
        auto* h = reinterpret_cast<uint8_t*>(b.data());
        std::memcpy(h, src.b.data(), 16);
        std::memcpy(h + 16, dst.b.data(), 16);
        Ipaddr ifcaddr = ifc_addr(f, src);
        if (ifcaddr.is_noaddr() && !f.lifc.empty()) ifcaddr = f.lifc.front().local;
        std::memcpy(h + 32, ifcaddr.b.data(), 16);
        put16(h + 48, sport);
        put16(h + 50, dport);
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
