// The stack: self table, neighbour cache, IPv4 input and output on the control thread, ICMP
// errors, counters; Net: stacks, ports and what workers see. Behaviour: ip3.md §2.6, §2.8,
// §2.9, §3.13, §4.2–§4.4, §4.14.
#include "proto/stack.h"

#include <rte_rcu_qsbr.h>

#include <sys/random.h>
#include <time.h>

#include <algorithm>
#include <cstdio>

#include "proto/dlog.h"
#include "proto/icmp.h"
#include "proto/icmp6.h"
#include "proto/ipaux.h"
#include "proto/fastpath.h"
#include "proto/registry.h"
#include "proto/wire.h"

namespace devip::proto {

uint16_t ip_csum(const void* p, size_t n, uint32_t sum) {
    return csum(static_cast<const uint8_t*>(p), n, sum);
}

// ---- Selftab ----------------------------------------------------------------------------

bool Selftab::add(const Ipaddr& a, uint16_t type, int ifc, const Ipaddr& local) {
    auto& b = bucket_[hash(a)];
    auto it = std::find_if(b.begin(), b.end(), [&](auto& e) { return e.a == a; });
    if (it == b.end()) {
        b.push_front(SelfEntry{a, type, {}});
        it = b.begin();
    }
    for (auto& k : it->link)
        if (k.ifc == ifc && k.local == local) {
            k.ref++;
            return false;
        }
    it->link.insert(it->link.begin(), SelfLink{ifc, local, 1});
    return true;
}

bool Selftab::remove(const Ipaddr& a, int ifc, const Ipaddr& local) {
    auto& b = bucket_[hash(a)];
    auto it = std::find_if(b.begin(), b.end(), [&](auto& e) { return e.a == a; });
    if (it == b.end()) return false;
    auto k = std::find_if(it->link.begin(), it->link.end(),
                          [&](auto& l) { return l.ifc == ifc && l.local == local; });
    if (k == it->link.end() || --k->ref > 0) return false;
    it->link.erase(k);
    if (it->link.empty()) b.erase(it);
    return true;
}

const SelfEntry* Selftab::find(const Ipaddr& a) const {
    for (auto& e : bucket_[hash(a)])
        if (e.a == a) return &e;
    return nullptr;
}

void Selftab::text(std::string& out) const {
    Text t;
    for (auto& b : bucket_)
        for (auto& e : b) {
            t.pad(fmt_ip(e.a), 44, true, 44);
            t.put(" %2.2d ", int(e.link.size()));
            char ty[8];
            route_type_text(e.type, ty);
            t.pad(ty, 4, false, 4);
            t.put("\n");
        }
    out += t.str();
}

// ---- Stack ------------------------------------------------------------------------------

Stack::Stack(Net& n_, int n) : net(n_), n(n) {
    log.attach(&net.ready);
    // listing order = 9front's registration order, hidden and unbuilt protocols skipped
    for (const ProtoRow& row : proto_table()) {
        if (!row.make || row.hidden) continue;
        protos.push_back(row.make(*this, row));
        Proto* p = protos.back().get();
        if (row.ipproto >= 0) byproto[size_t(row.ipproto)] = p;
    }
    ipifc = static_cast<Ipifcproto*>(proto("ipifc"));
    icmp = static_cast<Icmp*>(proto("icmp"));
    icmp6 = static_cast<Icmp6*>(proto("icmpv6"));
    rib.on_change = [this](const Route& r, bool present) {
        route_changed();
        fib_route(r, present);
    };
}

// The workers' FIB, made when forwarding is first turned on (it costs tens of megabytes) and
// filled from the routing table and the neighbour cache as they are.
void Stack::fib_enable() {
    if (fib4 || !net.io) return;
    Netio* io = net.io;
    LpmGrace grace;  // without a QSBR variable there are no workers: no grace to wait for
    if (rte_rcu_qsbr* q = io->qsbr()) {
        grace.start = [q] { return rte_rcu_qsbr_start(q); };
        grace.done = [q](uint64_t token, bool wait) {
            return rte_rcu_qsbr_check(q, token, wait) == 1;
        };
    }
    Retire retire = [io](std::function<void()> fn) { io->retire(std::move(fn)); };
    auto f4 = std::make_unique<Fib4>();
    auto f6 = std::make_unique<Fib6>();
    Err e = f4->init(net.fib_routes, grace, retire);
    if (!e) e = f6->init(net.fib6_routes, grace, retire);
    if (e) {
        log.print(Logip, "%s\n", e.text);
        dlog::msg(dlog::Level::Warn, "stack %d: %s; forwarding stays on the control thread", n,
                  e.text);
        return;
    }
    fib4 = std::move(f4);
    fib6 = std::move(f6);
    rib.for_each([this](const Route& r) { fib_route(r, true); });
    for (auto& a : arp)
        if (a.state == ArpEnt::Ok) neigh_fast(a, true);
    fib4->commit();
    fib6->commit();
}

// What a route tells the workers: local delivery, forwarding out of an Ethernet port, or
// "ask the control thread" for everything the fast path does not do (pkt/loopback media, NAT).
void Stack::fib_route(const Route& r, bool present) {
    if (!fib4) return;
    NhKind kind = NhKind::Punt;
    uint16_t port = 0;
    if (r.type & (Runi | Rbcast | Rmulti)) {
        kind = NhKind::Local;
    } else if (!(r.type & Rtrans)) {
        Ipifc* f = ipifc->ifc(r.ifc);
        if (f && f->port >= 0 && (f->medium == Medium::Ether || f->medium == Medium::Gbe)) {
            kind = (r.type & Rifc) ? NhKind::OnLink : NhKind::Gate;
            port = uint16_t(f->port);
        } else if (f && f->tunnel() && f->tun.id >= 0) {
            kind = NhKind::Tunnel;  // the workers encapsulate (dataplane/tunnel.cc)
            port = uint16_t(f->tun.id);
        }
    }
    if (r.v4())
        fib4->route(r, present, kind, port);
    else
        fib6->route(r, present, kind, port);
}

Stack::~Stack() = default;

Proto* Stack::proto(std::string_view name) const {
    for (auto& p : protos)
        if (name == p->info.name) return p.get();
    return nullptr;
}

bool Stack::deliver(uint8_t proto, bool v6, Ipifc& f, std::span<const uint8_t> pkt,
                    size_t hlen) {
    Proto* p = byproto[proto];
    if (!p) return false;
    ProtoInput in = v6 ? proto_row(size_t(p->info.index))->input6
                       : proto_row(size_t(p->info.index))->input4;
    if (!in) return false;
    ipstat[InDelivers]++;
    in(*p, f, pkt, hlen);
    return true;
}

bool Stack::advise(uint8_t proto, std::span<const uint8_t> emb, Err why) {
    Proto* p = byproto[proto];
    if (!p || emb.empty()) return false;
    const ProtoRow& row = *proto_row(size_t(p->info.index));
    bool v6 = (emb[0] >> 4) == 6;
    ProtoAdvise a = (v6 ? row.input6 : row.input4) ? row.advise : nullptr;  // its family only
    if (!a) return false;
    a(*p, emb, why);
    return true;
}

bool Stack::ifc_bound(int x) const {
    Ipifc* f = ipifc->ifc(x);
    return f && f->bound();
}

int Stack::ifc_of_local(const Ipaddr& a) const {
    for (auto& c : ipifc->convs) {
        auto& f = static_cast<Ipifc&>(*c);
        for (auto& l : f.lifc)
            if (l.local == a) return f.x;
    }
    return -1;
}

// §4.3.5: the logical address whose network holds gate, longest common prefix with it.
int Stack::find_ifc(const Ipaddr& gate, const Ipaddr& src) const {
    int best = -1, bestspec = 0, bestsrc = -1;
    for (auto& c : ipifc->convs) {
        auto& f = static_cast<Ipifc&>(*c);
        for (auto& l : f.lifc) {
            if ((gate & l.mask) != l.net) continue;
            int spec = common_prefix(gate, l.local);
            int sspec = common_prefix(src, l.local);
            if (spec > bestspec || (spec == bestspec && best >= 0 && sspec > bestsrc)) {
                best = f.x;
                bestspec = spec;
                bestsrc = sspec;
            }
        }
    }
    return best;
}

uint16_t Stack::ipforme(const Ipaddr& a) const {
    if (const SelfEntry* e = self.find(a)) return e->type & (Runi | Rbcast | Rmulti);
    return has_null_addr() ? Runi : 0;
}

bool Stack::has_null_addr() const {
    return self.find(v4prefix) != nullptr || self.find(IPnoaddr) != nullptr;
}

Ipaddr Stack::ifc_addr_toward(int x, const Ipaddr& a) const {
    Ipifc* f = ipifc->ifc(x);
    if (!f) return IPnoaddr;
    const Iplifc* best = nullptr;
    int bestlen = -1;
    for (auto& l : f->lifc) {
        if (l.local.is_v4() != a.is_v4() || l.local.is_unspecified() || l.tentative) continue;
        int n = common_prefix(l.local, a);
        if (n > bestlen) {
            bestlen = n;
            best = &l;
        }
    }
    return best ? best->local : IPnoaddr;
}

// §4.3.4, v4 part; v6 in ip6.cc.
Ipaddr Stack::findlocalip(const Ipaddr& dst) const {
    if (!dst.is_v4()) return findlocalip6(dst);
    std::vector<const Route*> rs;
    rib.matches(dst, rs);
    Ipaddr best = IPnoaddr;
    for (const Route* r : rs) {  // least to most specific: the last that yields wins
        if (r->type & Runi) return dst;
        Ipifc* f = ipifc->ifc(r->ifc);
        if (!f) continue;
        const Ipaddr& nh = (r->type & (Rifc | Rbcast | Rmulti)) ? dst : r->gate;
        int bestlen = -1;
        Ipaddr pick = IPnoaddr;
        for (auto& l : f->lifc) {
            if (l.local.is_v4() != dst.is_v4() || l.local.is_unspecified() || l.tentative)
                continue;
            if (!r->smask.is_noaddr() && (l.local & r->smask) != r->src) continue;
            int n = common_prefix(l.local, nh);
            if (n > bestlen) {
                bestlen = n;
                pick = l.local;
            }
        }
        if (bestlen >= 0) best = pick;
    }
    if (!best.is_noaddr()) return best;
    for (auto& c : ipifc->convs)  // first v4 address of the lowest-numbered interface
        for (auto& l : static_cast<Ipifc&>(*c).lifc)
            if (l.local.is_v4() == dst.is_v4() && !l.local.is_unspecified()) return l.local;
    return IPnoaddr;
}

// ---- input ------------------------------------------------------------------------------

void Stack::ether_input(Ipifc& f, std::span<const uint8_t> frame) {
    if (frame.size() <= size_t(kEthHdr)) return;
    if (!(frame[0] & 1) && !std::equal(f.mac.b.begin(), f.mac.b.end(), frame.begin()))
        return;  // unicast for another station: never ours to deliver or forward
    uint16_t type = get16(frame.data() + 12);
    if (type == kEthArp) {
        arp_input(f, frame);
    } else if (type == kEthIp4) {
        if (f.lifc.empty()) return;  // no addresses: dropped
        ip_input(f, frame.subspan(kEthHdr));
    } else if (type == kEthIp6) {
        if (f.lifc.empty()) return;
        ip6_input(f, frame.subspan(kEthHdr));
    }
    // other types are not ours
}

void Stack::ip_input(Ipifc& f, std::span<const uint8_t> pkt) {
    if (!pkt.empty() && (pkt[0] >> 4) == 6) return ip6_input(f, pkt);
    ipstat[InReceives]++;
    if (pkt.empty() || (pkt[0] >> 4) != 4) {
        ipstat[InHdrErrors]++;
        return;
    }
    Ip4Check ck = ip4_check(pkt.data(), pkt.size(), true);
    if (!ck.ok) {
        ipstat[InHdrErrors]++;
        dlog::limited(net.lim_hdr, net.now_ms, dlog::Level::Debug,
                      "stack %d: ifc %d: IPv4 header error from %s", n, f.x,
                      pkt.size() >= 16 ? fmt_ip(Ipaddr::v4(get32(pkt.data() + 12))).c_str() : "?");
        return;
    }
    pkt = pkt.first(ck.tlen);
    Ipaddr dst = Ipaddr::v4(get32(pkt.data() + 16));
    uint16_t me = ipforme(dst);
    if (!me) {
        if (!ipifc->iprouting) return;
        // slow-path forwarding (the fast path in workers comes with the routing work)
        if (pkt[8] <= 1) {
            icmp_error(f.x, pkt, TimeExceed, 0);
            ipstat[InHdrErrors]++;
            return;
        }
        Ipaddr src = Ipaddr::v4(get32(pkt.data() + 12));
        const Route* r = rib.lookup(dst, src);
        if (!r || (r->ifc == f.x && !f.reflect)) {
            ipstat[OutDiscards]++;
            return;
        }
        Ipifc* out = ipifc->ifc(r->ifc);
        if (!out || !out->bound()) return;
        std::string p;
        if (out->reassemble && (get16(pkt.data() + 6) & 0x3fff)) {
            // §3.3 reassemble: fragments leave by out as the whole datagram (fragmented
            // again below if it does not fit)
            auto whole = reass4.input(pkt, net.now_ms, ipstat);
            if (!whole) return;
            p = std::move(*whole);
        } else {
            p.assign(pkt.begin(), pkt.end());
        }
        auto* b = reinterpret_cast<uint8_t*>(p.data());
        b[8]--;
        put16(b + 10, 0);
        put16(b + 10, csum(b, size_t(b[0] & 0xf) * 4));
        ip4_mss_clamp(b, size_t(b[0] & 0xf) * 4, p.size(),
                      size_t(std::min(f.maxtu - medium_info(f.medium)->hsize,
                                      out->maxtu - medium_info(out->medium)->hsize)));
        ipstat[ForwDatagrams]++;
        ipstat[OutRequests]++;
        Ipaddr nh = (r->type & (Rifc | Runi | Rbcast | Rmulti)) ? dst : r->gate;
        if (p.size() + size_t(medium_info(out->medium)->hsize) > size_t(out->maxtu)) {
            if (get16(b + 6) & 0x4000) {  // DF: fragmentation needed, with the next-hop MTU
                icmp_error(f.x, pkt, Unreachable, 4,
                           uint16_t(out->maxtu - medium_info(out->medium)->hsize));
                ipstat[FragFails]++;
                return;
            }
            ip4_fragment(*out, nh, p);
            return;
        }
        medium_output(*out, nh, std::move(p));
        return;
    }
    std::string whole;
    if ((get16(pkt.data() + 6) & 0x3fff) || reass4.queues()) {  // fragments, or a packet that
        // may cancel a queue with its key (§4.4.1)
        auto r = reass4.input(pkt, net.now_ms, ipstat);
        if (!r) return;
        whole = std::move(*r);
        pkt = {reinterpret_cast<const uint8_t*>(whole.data()), whole.size()};
    }
    uint8_t proto = pkt[9];
    if (deliver(proto, false, f, pkt, ck.hlen)) return;
    ipstat[InUnknownProtos]++;
    ipstat[InDiscards]++;
    log.print(Logip, "ip: no protocol %d from %s\n", proto,
              fmt_ip(Ipaddr::v4(get32(pkt.data() + 12))).c_str());
}

// ---- output -----------------------------------------------------------------------------

bool Stack::ip4_send(const Ipaddr& src, const Ipaddr& dst, uint8_t proto, uint8_t ttl,
                     uint8_t tos, std::span<const uint8_t> payload, bool df) {
    std::string p(kIp4Hdr, '\0');
    p.append(payload.begin(), payload.end());
    auto* b = reinterpret_cast<uint8_t*>(p.data());
    b[0] = 0x45;
    b[1] = tos;
    b[8] = ttl;
    b[9] = proto;
    std::memcpy(b + 12, src.b.data() + 12, 4);
    std::memcpy(b + 16, dst.b.data() + 12, 4);
    return ip4_output(std::move(p), -1, df);
}

void Stack::tx_slow(bool v6, std::span<const uint8_t> pkt) {
    if (pkt.size() < size_t(v6 ? kIp6Hdr : kIp4Hdr)) return;
    std::string p(pkt.begin(), pkt.end());
    if (v6)
        ip6_output(std::move(p), pkt[kIp6Hop], uint8_t(get16(pkt.data()) >> 4));
    else
        ip4_output(std::move(p));
}

bool Stack::ip4_output(std::string p, int from_ifc, bool df) {
    ipstat[OutRequests]++;
    if (p.size() >= 65536 || p.size() < size_t(kIp4Hdr)) {
        ipstat[OutDiscards]++;
        return false;
    }
    auto* b = reinterpret_cast<uint8_t*>(p.data());
    Ipaddr src = Ipaddr::v4(get32(b + 12)), dst = Ipaddr::v4(get32(b + 16));
    const Route* r = rib.lookup(dst, src);
    if (!r) {
        ipstat[OutNoRoutes]++;
        log.print(Logip, "ip: no route to %s\n", fmt_ip(dst).c_str());
        return false;
    }
    Ipifc* f = ipifc->ifc(r->ifc);
    if (!f || !f->bound()) {
        ipstat[OutDiscards]++;
        return false;
    }
    b[0] = 0x45;
    put16(b + 2, uint16_t(p.size()));
    put16(b + 4, uint16_t(ipid.fetch_add(1, std::memory_order_relaxed)));
    put16(b + 6, df ? 0x4000 : 0);  // DF only on tunnel packets that copy it
    put16(b + 10, 0);
    put16(b + 10, csum(b, kIp4Hdr));
    Ipaddr nh = (r->type & (Rifc | Runi | Rbcast | Rmulti)) ? dst : r->gate;
    (void)from_ifc;
    size_t room = size_t(f->maxtu - medium_info(f->medium)->hsize);
    if (p.size() <= room) {
        medium_output(*f, nh, std::move(p));
        return true;
    }
    return ip4_fragment(*f, nh, p);
}

// RFC 791 fragmentation (§4.4 Output): 8-byte aligned pieces sized to the interface, same ID;
// a packet that is already a fragment keeps its offset and MF on the last piece.
bool Stack::ip4_fragment(Ipifc& f, const Ipaddr& nh, const std::string& p) {
    const auto* b = reinterpret_cast<const uint8_t*>(p.data());
    size_t hlen = (b[0] & 0xf) * 4u;
    size_t room = size_t(f.maxtu - medium_info(f.medium)->hsize);
    size_t chunk = room > hlen ? (room - hlen) & ~size_t(7) : 0;
    if (chunk == 0 || hlen >= p.size()) {
        ipstat[FragFails]++;
        return false;
    }
    uint16_t frag = get16(b + 6);
    uint16_t off0 = frag & 0x1fff;
    bool mf0 = frag & 0x2000;
    for (size_t off = hlen; off < p.size(); off += chunk) {
        size_t n = std::min(chunk, p.size() - off);
        std::string fr(p, 0, hlen);
        fr.append(p, off, n);
        auto* h = reinterpret_cast<uint8_t*>(fr.data());
        bool more = off + n < p.size() || mf0;
        put16(h + 2, uint16_t(fr.size()));
        put16(h + 6, uint16_t((off0 + (off - hlen) / 8) | (more ? 0x2000 : 0)));
        put16(h + 10, 0);
        put16(h + 10, csum(h, hlen));
        ipstat[FragCreates]++;
        medium_output(f, nh, std::move(fr));
    }
    ipstat[FragOKs]++;
    return true;
}

void Stack::medium_output(Ipifc& f, const Ipaddr& nh, std::string pkt) {
    switch (f.medium) {
    case Medium::Pkt:
        f.pktout++;
        if (f.snoopers) f.snoopq.put(pkt);
        if (!f.rq.put(std::move(pkt))) f.errout++;
        return;
    case Medium::Loopback:
        f.pktout++;
        f.pktin++;
        ip_input(f, {reinterpret_cast<const uint8_t*>(pkt.data()), pkt.size()});
        return;
    case Medium::Ether:
    case Medium::Gbe: {
        if (!pkt.empty() && (pkt[0] >> 4) == 6) return nd_output(f, nh, std::move(pkt));
        uint16_t t = ipforme(nh);
        if (t & Runi && self.find(nh)) {  // to ourselves: loop back without the wire
            ip_input(f, {reinterpret_cast<const uint8_t*>(pkt.data()), pkt.size()});
            return;
        }
        if ((t & Rbcast) || nh == v4bcast) {
            ether_tx(f, kEtherBcast, kEthIp4, pkt);
            return;
        }
        if (nh.is_multicast()) {
            Ether m{{0x01, 0x00, 0x5e, uint8_t(nh.b[13] & 0x7f), nh.b[14], nh.b[15]}};
            ether_tx(f, m, kEthIp4, pkt);
            return;
        }
        arp_resolve_tx(f, nh, std::move(pkt));
        return;
    }
    case Medium::Esp:
    case Medium::Gre:
        tun_output(*this, f, std::move(pkt));
        return;
    case Medium::None:
        return;
    }
}

void Stack::ether_tx(Ipifc& f, const Ether& dst, uint16_t type, std::string_view payload) {
    if (f.port < 0 || !net.io) return;
    uint8_t frame[16384];
    size_t n = kEthHdr + payload.size();
    if (n > sizeof frame) return;
    std::memcpy(frame, dst.b.data(), 6);
    std::memcpy(frame + 6, f.mac.b.data(), 6);
    put16(frame + 12, type);
    std::memcpy(frame + kEthHdr, payload.data(), payload.size());
    if (n < 60) {  // pad to the Ethernet minimum
        std::memset(frame + n, 0, 60 - n);
        n = 60;
    }
    f.pktout++;
    net.io->tx(uint16_t(f.port), {frame, n});
}

// ---- ICMP errors (§4.4.2) ---------------------------------------------------------------

// Rate limit (a token bucket: kIcmpRate a second, bursts of kIcmpBurst).
bool Stack::icmp_allow() {
    uint64_t now = net.now_ms;
    icmp_tokens = std::min<double>(kIcmpBurst, icmp_tokens + double(now - icmp_last) *
                                                               kIcmpRate / 1000.0);
    icmp_last = now;
    if (icmp_tokens < 1) {
        icmp_limited++;
        dlog::limited(net.lim_icmp, now, dlog::Level::Info,
                      "stack %d: ICMP errors over %g a second: not sent", n, kIcmpRate);
        return false;
    }
    icmp_tokens -= 1;
    return true;
}

void Stack::icmp_error(int x, std::span<const uint8_t> pkt, uint8_t type, uint8_t code,
                       uint16_t mtu) {
    if (pkt.size() < size_t(kIp4Hdr)) return;
    if (!icmp_allow()) return;
    Ipaddr src = Ipaddr::v4(get32(pkt.data() + 12)), dst = Ipaddr::v4(get32(pkt.data() + 16));
    if (src.is_multicast() || dst.is_multicast()) return;
    if (ipforme(src) & (Rbcast | Rmulti)) return;
    if (ipforme(dst) & (Rbcast | Rmulti)) return;
    if (src.is_v4_zero()) return;
    Ipaddr me = ifc_addr_toward(x, src);
    if (!me.is_v4() || me.is_unspecified()) return;
    size_t keep = std::min<size_t>(pkt.size(), 40);
    std::string m(8, '\0');
    m.append(reinterpret_cast<const char*>(pkt.data()), keep);
    auto* b = reinterpret_cast<uint8_t*>(m.data());
    b[0] = type;
    b[1] = code;
    if (type == Unreachable && code == 4) put16(b + 6, mtu);
    put16(b + 2, csum(b, m.size()));
    if (type < 19) icmpstat.out[type]++;
    ip4_send(me, src, kProtoIcmp, 255, 0, {b, m.size()});
}

// ---- counters ---------------------------------------------------------------------------

namespace {
constexpr const char* kIpStatNames[kIpStats] = {
    "Forwarding", "DefaultTTL", "InReceives", "InHdrErrors", "InAddrErrors", "ForwDatagrams",
    "InUnknownProtos", "InDiscards", "InDelivers", "OutRequests", "OutDiscards", "OutNoRoutes",
    "ReasmTimeout", "ReasmReqds", "ReasmOKs", "ReasmFails", "FragOKs", "FragFails",
    "FragCreates",
};
}  // namespace

void Stack::ipstats(uint64_t (&v)[kIpStats]) const {
    FastStats fs{};
    if (net.io) net.io->fast_stats(n, fs);
    for (int i = 0; i < kIpStats; i++) v[i] = ipstat[i] + fs.ip[i];
    v[Forwarding] = ipifc->iprouting_set ? (ipifc->iprouting ? 1 : 2) : 0;
    v[DefaultTTL] = 255;
}

void Stack::ipstats_text(Text& t) const {
    uint64_t v[kIpStats];
    ipstats(v);
    for (int i = 0; i < kIpStats; i++)
        t.put("%s: %llu\n", kIpStatNames[i], (unsigned long long)v[i]);
}

const char* ipstat_name(int i) { return i >= 0 && i < kIpStats ? kIpStatNames[i] : nullptr; }

void Stack::tick(uint64_t now) {
    ra6_tick(now);
    for (auto& p : protos) p->tick(now);
    for (auto& e : arp) {
        if (e.state == ArpEnt::Ok && e.fast && now - e.ctime >= kArpAgeMs) {
            neigh_fast(e, false);  // aged (§4.14.1): the next packet comes to us, re-resolves
            route_changed();
        }
        if (e.state != ArpEnt::Empty && !e.ip.is_v4()) {  // neighbour discovery's own timers
            nd_tick(e, now);
            continue;
        }
        if (e.state != ArpEnt::Wait || now - e.rtime < kArpWaitMs) continue;
        // resolution failed: host unreachable for the packet that waited
        std::string held = std::move(e.hold);
        int x = e.ifc;
        arp_drop(e);
        if (!held.empty())
            icmp_error(x, {reinterpret_cast<const uint8_t*>(held.data()), held.size()},
                       Unreachable, 1);
    }
}

void Stack::ifc_changed() {
    route_changed();
    net.publish();
}

OutHint Stack::out_hint(const Ipaddr& src, const Ipaddr& dst) {
    OutHint h{};
    h.gen = rgen.load(std::memory_order_acquire);
    if (dst.is_multicast() || dst == v4bcast || (!dst.is_v4() && dst.is_unspecified())) return h;
    const Route* r = rib.lookup(dst, src);
    if (!r || (r->type & (Runi | Rbcast | Rmulti | Rtrans))) return h;
    Ipifc* f = ipifc->ifc(r->ifc);
    if (!f || f->port < 0 || (f->medium != Medium::Ether && f->medium != Medium::Gbe)) return h;
    const Ipaddr& nh = (r->type & Rifc) ? dst : r->gate;
    if (ipforme(nh) & (Rbcast | Rmulti)) return h;
    ArpEnt* e = arp_find(nh, f->x);
    if (!e || e->state != ArpEnt::Ok || net.now_ms - e->ctime >= kArpAgeMs) return h;
    h.ok = 1;
    h.port = uint16_t(f->port);
    h.mtu = uint16_t(dst.is_v4() ? f->maxtu - medium_info(f->medium)->hsize : ip6_mtu(*f));
    std::memcpy(h.eth, e->mac.b.data(), 6);
    std::memcpy(h.eth + 6, f->mac.b.data(), 6);
    return h;
}

// ---- Net --------------------------------------------------------------------------------

Net::Net(Netio* io) : io(io) {
    if (getrandom(tcp_key.data(), tcp_key.size(), 0) != ssize_t(tcp_key.size()))
        for (auto& b : tcp_key) b = uint8_t(random());
}

Net::~Net() = default;

uint64_t Net::now_us() const {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000 + uint64_t(ts.tv_nsec) / 1000;
}

Stack& Net::stack(int n) {
    if (!stacks_[n]) stacks_[n] = std::make_unique<Stack>(*this, n);
    return *stacks_[n];
}

uint32_t Net::random() {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return uint32_t(rng >> 11);
}

int Net::port_by_dev(std::string_view dev) const {
    if (!io) return -1;
    auto slash = dev.rfind('/');
    std::string_view name = slash == std::string_view::npos ? dev : dev.substr(slash + 1);
    for (int i = 0; i < io->nports(); i++)
        if (io->port(i).name == name) return i;
    return -1;
}

void Net::input(uint16_t port, std::span<const uint8_t> frame) {
    if (port >= kMaxPorts || !owner[port].s) {
        dlog::limited(lim_unbound, now_ms, dlog::Level::Debug,
                      "port %u: frame with no interface bound: dropped", port);
        return;
    }
    Stack& s = *owner[port].s;
    Ipifc* f = s.ipifc->ifc(owner[port].ifc);
    if (!f || !f->bound()) return;
    s.ether_input(*f, frame);
}

void Net::completion(const MsgHdr& h, std::span<const uint8_t> data) {
    Stack* s = find_stack(h.stack);
    if (h.kind == MsgKind::TunIn) {  // an inner packet a worker did not forward itself
        Ipifc* f = s ? s->ipifc->ifc(int(h.conv)) : nullptr;
        if (!f || !f->tunnel()) return;
        if (h.flags & kMsgChecked) s->ip_input(*f, data);
        else tun_inner_input(*s, *f, data, f->tun.slow);  // the reverse path, from the Rib
        return;
    }
    if (h.kind == MsgKind::TunOut) {  // encapsulated, but the outer next hop is not resolved
        if (s && data.size() >= size_t(kIp4Hdr))
            s->ip4_output(std::string(data.begin(), data.end()), -1, data[6] & 0x40);
        return;
    }
    const ProtoRow* row = proto_row(h.proto);
    if (!s || !row || !row->completion) return;
    if (Proto* p = s->proto(row->name)) row->completion(*p, h, data);
}

void Net::publish() {
    FastTable t{};
    for (int p = 0; p < kMaxPorts; p++) {
        auto& o = owner[p];
        if (!o.s) continue;
        Ipifc* f = o.s->ipifc->ifc(o.ifc);
        if (!f || !f->bound() || f->lifc.empty()) continue;
        PortRt& r = t.port[p];
        r.bound = 1;
        r.stack = uint8_t(o.s->n);
        r.mac = f->mac;
        o.s->self.each([&](const SelfEntry& e) {  // our broadcast addresses on this interface
            if (!(e.type & Rbcast) || !e.a.is_v4() || r.nbcast >= kMaxFastLocal) return;
            for (auto& k : e.link)
                if (k.ifc == f->x) {
                    std::memcpy(&r.bcast[r.nbcast++], e.a.b.data() + 12, 4);
                    return;
                }
        });
        r.forwarding = o.s->ipifc->iprouting;
        r.reflect = f->reflect;
        r.mtu = uint16_t(f->maxtu - medium_info(f->medium)->hsize);
        r.mtu6 = uint16_t(o.s->ip6_mtu(*f));
        r.reassemble = f->reassemble;
        if (o.s->has_null_addr()) r.forwarding = 0;  // accept-all (§4.2.2): all is local
        t.fib[o.s->n] = o.s->fib4 ? o.s->fib4->rt() : nullptr;
        t.fib6[o.s->n] = o.s->fib6 ? o.s->fib6->rt() : nullptr;
        t.ipid[o.s->n] = &o.s->ipid;
        t.rgen[o.s->n] = &o.s->rgen;
        for (auto& l : f->lifc) {
            if (l.local.is_unspecified()) continue;
            if (!(l.type & Rv4)) {
                if (l.local.is_v4() || r.nlocal6 >= kMaxFastLocal) continue;
                std::memcpy(r.local6[r.nlocal6++], l.local.b.data(), 16);
                continue;
            }
            if (r.nlocal >= kMaxFastLocal) continue;
            std::memcpy(&r.local[r.nlocal++], l.local.b.data() + 12, 4);
        }
    }
    for (auto& s : stacks_)
        if (s) tun_publish(*s, t);
    t.gen = fast_.gen + 1;
    fast_ = t;
    if (io) io->publish(t);
}

void Net::tick(uint64_t now) {
    now_ms = now;
    for (auto& s : stacks_)
        if (s) {
            s->tick(now);
            if (s->fib4) s->fib4->commit();
            if (s->fib6) s->fib6->commit();
        }
}

}  // namespace devip::proto
