// IPv6 neighbour discovery over Ethernet (RFC 4861), the medium half: resolution through the
// stack's shared neighbour cache, solicitations and their retransmission, advertisements,
// address registration (unsolicited NA, or DAD for `try`). The ICMPv6 half (answering NS,
// learning from NA) is in icmp6.cc. Behaviour: ip3.md §4.14 (cache, protocol), §4.2.2 step 4;
// 9front ethermedium.c etherbwrite/etherareg, arp.c ndpsendsol/rxmt/arpenter/arpforme.
#include "proto/icmp6.h"
#include "proto/ip6.h"
#include "proto/stack.h"

namespace devip::proto {

namespace {

constexpr uint64_t kNdRetransMs = 750;  // 3/4 of RETRANS_TIMER between solicitations
constexpr int kNdSolicits = 4;          // the first and MAX_MULTICAST_SOLICIT (3) more
constexpr uint8_t kOptSrcLla = 1, kOptTargetLla = 2;  // RFC 4861 §4.6.1

// Sends an ND message straight out of f with hop limit 255: ND never leaves the link, so
// unlike 9front (which routes them, with a temporary "dad6" route for DAD) it needs no route.
void nd_xmit(Stack& s, Ipifc& f, const Ipaddr& src, const Ipaddr& dst, std::string m) {
    auto* b = reinterpret_cast<uint8_t*>(m.data());
    put16(b + 2, ip6_csum(src, dst, kProtoIcmp6, b, m.size()));
    std::string p = ip6_packet(src, dst, kProtoIcmp6, 255, m);
    s.ipstat[OutRequests]++;
    s.nd_output(f, dst, std::move(p));
}

// NS or NA body: type, code, checksum, flags and reserved, target, then one link-layer
// address option when opt is not 0.
std::string nd_msg(uint8_t type, uint8_t flags, const Ipaddr& target, uint8_t opt,
                   const Ether& mac) {
    std::string m(24 + (opt ? 8 : 0), '\0');
    auto* b = reinterpret_cast<uint8_t*>(m.data());
    b[0] = type;
    b[4] = flags;
    std::memcpy(b + 8, target.b.data(), 16);
    if (opt) {
        b[24] = opt;
        b[25] = 1;  // in units of 8 bytes
        std::memcpy(b + 26, mac.b.data(), 6);
    }
    return m;
}

// ndpsendsol: one more solicitation for a waiting entry, from the source of the packet that
// waits when that is ours, else from the best address toward the neighbour.
void solicit(Stack& s, Ipifc& f, ArpEnt& e) {
    e.rxmit++;
    e.rtime = s.net.now_ms;
    Ipaddr src;
    bool have = false;
    if (e.hold.size() >= size_t(kIp6Hdr)) {
        src = ip6_src(reinterpret_cast<const uint8_t*>(e.hold.data()));
        have = s.nd_forme(f, src, e.ip) != 0;
    }
    if (have || s.ipv6local(e.ifc, src, 0, e.ip)) s.nd_send_ns(f, src, e.ip);
}

}  // namespace

void Stack::nd_send_ns(Ipifc& f, const Ipaddr& src, const Ipaddr& target) {
    // DAD (source ::) carries no source link-layer address (RFC 4862 §5.4.2)
    std::string m = nd_msg(Icmp6NbrSolicit, 0, target, src.is_noaddr() ? 0 : kOptSrcLla, f.mac);
    icmp6->st.out[Icmp6NbrSolicit]++;
    if (log.on(Logicmp))
        log.print(Logicmp, "icmp6: neighbour solicitation for %s\n", fmt_ip(target).c_str());
    nd_xmit(*this, f, src, solicited_node_of(target), std::move(m));
}

void Stack::nd_send_na(Ipifc& f, const Ipaddr& src, const Ipaddr& dst, const Ipaddr& target,
                       uint8_t flags) {
    std::string m = nd_msg(Icmp6NbrAdvert, flags, target, kOptTargetLla, f.mac);
    icmp6->st.out[Icmp6NbrAdvert]++;
    if (log.on(Logicmp))
        log.print(Logicmp, "icmp6: neighbour advertisement for %s\n", fmt_ip(target).c_str());
    nd_xmit(*this, f, src, dst, std::move(m));
}

// §4.2.2 step 4: a non-tentative address is announced to ff02::1 with the override flag; a
// tentative one gets duplicate address detection (RFC 4862 §5.4), a solicitation from ::.
// 9front sends one and leaves the address tentative: ipconfig reads /net/arp a second later
// and writes `add` again, which clears the flag and announces the address.
void Stack::nd_register(Ipifc& f, const Iplifc& l) {
    if ((f.medium != Medium::Ether && f.medium != Medium::Gbe) || f.port < 0) return;
    if ((l.type & Rv4) || l.local.is_unspecified()) return;
    if (!l.tentative)
        nd_send_na(f, l.local, v6allnodesL, l.local, kNaOverride);
    else
        nd_send_ns(f, IPnoaddr, l.local);
}

int Stack::nd_forme(const Ipifc& f, const Ipaddr& target, const Ipaddr& src) const {
    for (auto& l : f.lifc)
        if (l.local == target) return l.tentative ? 0 : Runi;
    const Route* r = rib.lookup(target, src);
    if (!r || r->ifc == f.x) return 0;
    return r->type & Rproxy;
}

// A neighbour is entered when its route leaves by the interface it spoke on (9front's
// arpenter). A link-local neighbour is on that link by definition (RFC 4291 §2.5.6, RFC 4861
// §7.2.3), so it is entered without a route: an interface with only a global address has
// none to fe80::/64, and would otherwise never answer the solicitations most hosts send.
bool Stack::nd_enter(const Ipaddr& ip, int x, const Ether& mac, const Ipaddr& ia,
                     bool refresh) {
    if (!ip.is_linklocal6()) {
        const Route* r = rib.lookup(ip, ia);
        if (!r || r->ifc != x || (r->type & (Rbcast | Rmulti))) return false;
    }
    if (refresh && !arp_find(ip, x)) return true;  // advertisements only refresh
    arp_enter(ip, x, mac, true);
    return true;
}

// etherbwrite for v6: ourselves, multicast (no resolution), or the neighbour cache.
void Stack::nd_output(Ipifc& f, const Ipaddr& nh, std::string pkt) {
    if ((ipforme(nh) & Runi) && self.find(nh)) {  // to ourselves: loop back without the wire
        ip6_input(f, {reinterpret_cast<const uint8_t*>(pkt.data()), pkt.size()});
        return;
    }
    if (is_v6_mcast(nh)) {
        ether_tx(f, v6_mcast_mac(nh), kEthIp6, pkt);
        return;
    }
    uint64_t now = net.now_ms;
    ArpEnt* e = arp_find(nh, f.x);
    if (e && e->state == ArpEnt::Ok && now - e->ctime < kArpAgeMs) {
        e->utime = now;
        ether_tx(f, e->mac, kEthIp6, pkt);
        return;
    }
    // a new entry, or an aged one re-resolved keeping its MAC: solicit now; an entry already
    // waiting keeps its timer (the retransmissions come from nd_tick)
    bool start = !e || e->state == ArpEnt::Ok;
    if (!e) e = arp_new(nh, f.x);
    e->state = ArpEnt::Wait;
    e->utime = now;
    e->hold = std::move(pkt);  // only the latest packet waits
    if (!start) return;
    e->rxmit = 0;
    solicit(*this, f, *e);
}

// rxmt: a waiting entry solicits every 750 ms, four times in all, then gives up
// and the packet that waited gets ICMPv6 address unreachable (§4.14.1).
void Stack::nd_tick(ArpEnt& e, uint64_t now) {
    if (e.state != ArpEnt::Wait || now - e.rtime <= kNdRetransMs) return;
    Ipifc* f = ipifc->ifc(e.ifc);
    if (e.rxmit < kNdSolicits && f && f->ifcid == e.ifcid) {
        solicit(*this, *f, e);
        return;
    }
    std::string held = std::move(e.hold);
    int x = e.ifc;
    arp_drop(e);
    if (!held.empty())
        icmp6_error(x, {reinterpret_cast<const uint8_t*>(held.data()), held.size()},
                    Icmp6Unreachable, kIcmp6AddrUnreach);
}

// The interface address shown for a v6 entry: the one ipv6local picks; an entry made under a
// tentative address of ours by a duplicate's advertisement shows that address itself, so
// that DAD conflicts are visible whatever other addresses the interface has.
bool Stack::nd_ifcaddr(const ArpEnt& e, Ipaddr& ia) const {
    if (ipv6local(e.ifc, ia, 0, e.ip)) return true;
    if (Ipifc* f = ipifc->ifc(e.ifc))
        for (auto& l : f->lifc)
            if (l.local == e.ip && l.tentative) {
                ia = e.ip;
                return true;
            }
    return false;
}

}  // namespace devip::proto
