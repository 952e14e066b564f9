// ARP (RFC 826) and the neighbour cache of a stack (arp.c, ethermedium.c).
// Behaviour: ip3.md §4.14 (cache, protocol), §2.8 (/net/arp text), §3.13 (writes).
#include <algorithm>

#include "proto/ipaux.h"
#include "proto/stack.h"
#include "proto/wire.h"

namespace devip::proto {

namespace {

// ARP packet for Ethernet/IPv4 (28 bytes after the Ethernet header).
struct ArpPkt {
    uint16_t op;        // 1 request, 2 reply
    Ether sha;          // sender MAC
    Ipaddr spa;         // sender IP (v4-mapped)
    Ether tha;          // target MAC
    Ipaddr tpa;         // target IP (v4-mapped)
};

bool arp_parse(std::span<const uint8_t> frame, ArpPkt& a) {
    if (frame.size() < size_t(kEthHdr + 28)) return false;
    const uint8_t* p = frame.data() + kEthHdr;
    if (get16(p) != 1 || get16(p + 2) != kEthIp4 || p[4] != 6 || p[5] != 4) return false;
    a.op = get16(p + 6);
    std::memcpy(a.sha.b.data(), p + 8, 6);
    a.spa = Ipaddr::v4(get32(p + 14));
    std::memcpy(a.tha.b.data(), p + 18, 6);
    a.tpa = Ipaddr::v4(get32(p + 24));
    return true;
}

}  // namespace

void Stack::arp_send_request(Ipifc& f, const Ipaddr& target, const Ipaddr& sender) {
    uint8_t p[28];
    put16(p, 1);
    put16(p + 2, kEthIp4);
    p[4] = 6;
    p[5] = 4;
    put16(p + 6, 1);
    std::memcpy(p + 8, f.mac.b.data(), 6);
    std::memcpy(p + 14, sender.b.data() + 12, 4);
    std::memset(p + 18, 0, 6);
    std::memcpy(p + 24, target.b.data() + 12, 4);
    ether_tx(f, kEtherBcast, kEthArp, {reinterpret_cast<char*>(p), sizeof p});
}

ArpEnt* Stack::arp_find(const Ipaddr& ip, int x) {
    Ipifc* f = ipifc->ifc(x);
    for (auto& e : arp)
        if (e.state != ArpEnt::Empty && e.ip == ip && e.ifc == x && f && e.ifcid == f->ifcid)
            return &e;
    return nullptr;
}

void Stack::arp_drop(ArpEnt& e) {
    if (e.fast) neigh_fast(e, false);
    if (e.state == ArpEnt::Ok) route_changed();
    e = ArpEnt{};
}

void Stack::neigh_fast(ArpEnt& e, bool on) {
    Ipifc* f = ipifc->ifc(e.ifc);
    e.fast = false;
    if (!fib4 || !f || f->port < 0) return;
    uint16_t port = uint16_t(f->port);
    if (e.ip.is_v4()) {
        if (on)
            fib4->neigh_set(port, fib_addr<4>(e.ip), e.mac);
        else
            fib4->neigh_del(port, fib_addr<4>(e.ip));
    } else {
        if (on)
            fib6->neigh_set(port, fib_addr<16>(e.ip), e.mac);
        else
            fib6->neigh_del(port, fib_addr<16>(e.ip));
    }
    e.fast = on;
}

// A fresh entry: an empty slot first, else the least recently used (§4.14.1).
ArpEnt* Stack::arp_new(const Ipaddr& ip, int x) {
    ArpEnt* v = nullptr;
    for (auto& e : arp) {
        if (e.state == ArpEnt::Empty) {
            v = &e;
            break;
        }
        if (!v || e.utime < v->utime) v = &e;
    }
    arp_drop(*v);
    v->ip = ip;
    v->ifc = x;
    Ipifc* f = ipifc->ifc(x);
    v->ifcid = f ? f->ifcid : 0;
    v->utime = v->ctime = net.now_ms;
    return v;
}

void Stack::arp_enter(const Ipaddr& ip, int x, const Ether& mac, bool create) {
    ArpEnt* e = arp_find(ip, x);
    if (!e) {
        if (!create) return;
        e = arp_new(ip, x);
    }
    if (e->state != ArpEnt::Ok || e->mac != mac) route_changed();
    e->mac = mac;
    e->state = ArpEnt::Ok;
    e->ctime = net.now_ms;
    e->rxmit = 0;
    neigh_fast(*e, true);  // the workers may now forward to it
    if (!e->hold.empty()) {
        std::string held = std::move(e->hold);
        e->hold.clear();
        uint16_t type = (uint8_t(held[0]) >> 4) == 6 ? kEthIp6 : kEthIp4;
        if (Ipifc* f = ipifc->ifc(x)) ether_tx(*f, mac, type, held);
    }
}

void Stack::arp_resolve_tx(Ipifc& f, const Ipaddr& nh, std::string pkt) {
    uint64_t now = net.now_ms;
    ArpEnt* e = arp_find(nh, f.x);
    if (e && e->state == ArpEnt::Ok && now - e->ctime < kArpAgeMs) {
        e->utime = now;
        ether_tx(f, e->mac, kEthIp4, pkt);
        return;
    }
    if (!e) {
        e = arp_new(nh, f.x);
        e->rtime = 0;
    }
    if (e->state == ArpEnt::Ok) e->rtime = 0;  // aged: re-resolve, keeping the old MAC
    e->state = ArpEnt::Wait;
    e->utime = now;
    e->hold = std::move(pkt);  // only the latest packet waits
    if (e->rtime == 0 || now - e->rtime >= 1000) {  // at most one request a second
        e->rtime = now;
        e->rxmit++;
        Ipaddr src = ifc_addr_toward(f.x, nh);
        arp_send_request(f, nh, src);
    }
}

void Stack::arp_input(Ipifc& f, std::span<const uint8_t> frame) {
    ArpPkt a;
    if (!arp_parse(frame, a)) return;
    if (a.sha.is_multicast() || f.lifc.empty()) return;
    // someone else using one of our addresses, or our MAC
    bool ours_sender = false;
    for (auto& l : f.lifc)
        if (l.local == a.spa) ours_sender = true;
    if ((ours_sender && a.sha != f.mac) || (!ours_sender && a.sha == f.mac)) {
        log.print(Logip, "arp: %s also claims %s\n", fmt_ether(a.sha).c_str(),
                  fmt_ip(a.spa).c_str());
        return;
    }
    if (ours_sender) return;
    if (a.op == 2) {  // replies refresh existing entries only
        arp_enter(a.spa, f.x, a.sha, false);
        return;
    }
    if (a.op != 1) return;
    bool forus = false;
    for (auto& l : f.lifc)
        if (l.local == a.tpa && !l.tentative) forus = true;
    if (!forus) {  // proxy: the route to the target leaves elsewhere with the y flag
        const Route* r = rib.lookup(a.tpa, a.spa);
        forus = r && r->ifc != f.x && (r->type & Rproxy);
    }
    if (!forus) {
        arp_enter(a.spa, f.x, a.sha, false);
        return;
    }
    arp_enter(a.spa, f.x, a.sha, true);
    uint8_t p[28];
    put16(p, 1);
    put16(p + 2, kEthIp4);
    p[4] = 6;
    p[5] = 4;
    put16(p + 6, 2);
    std::memcpy(p + 8, f.mac.b.data(), 6);
    std::memcpy(p + 14, a.tpa.b.data() + 12, 4);
    std::memcpy(p + 18, a.sha.b.data(), 6);
    std::memcpy(p + 24, a.spa.b.data() + 12, 4);
    ether_tx(f, a.sha, kEthArp, {reinterpret_cast<char*>(p), sizeof p});
}

void Stack::arp_flush_ifc(int x) {
    for (auto& e : arp)
        if (e.state != ArpEnt::Empty && e.ifc == x) arp_drop(e);
}

void Stack::arp_text(std::string& out) const {
    Text t;
    for (auto& e : arp) {
        if (e.state == ArpEnt::Empty) continue;
        Ipifc* f = ipifc->ifc(e.ifc);
        if (!f || !f->bound() || f->ifcid != e.ifcid) continue;
        Ipaddr me = ifc_addr_toward(e.ifc, e.ip);
        if (!e.ip.is_v4() && !nd_ifcaddr(e, me)) continue;
        if (me.is_noaddr()) continue;
        t.pad(medium_info(f->medium)->name, 6, true, 6);
        t.put(" ");
        t.pad(e.state == ArpEnt::Ok ? "OK" : "WAIT", 4, true, 4);
        t.put(" ");
        t.pad(fmt_ip(e.ip), 40, true, 40);
        t.put(" ");
        t.pad(fmt_ether(e.mac), 16, true, 16);
        t.put(" ");
        t.put_ip(me);
        t.put("\n");
    }
    out += t.str();
}

void Stack::arpuser_text(std::string& out) const {
    Text t;
    for (auto& e : arp) {
        if (e.state != ArpEnt::Ok || !e.user) continue;
        Ipifc* f = ipifc->ifc(e.ifc);
        if (!f || !f->bound() || f->ifcid != e.ifcid) continue;
        Ipaddr me = ifc_addr_toward(e.ifc, e.ip);
        if (!e.ip.is_v4() && !nd_ifcaddr(e, me)) continue;
        if (me.is_noaddr()) continue;
        t.put("add %s ", medium_info(f->medium)->name);
        t.put_ip(e.ip);
        t.put(" ");
        t.put_ether(e.mac);
        t.put(" ");
        t.put_ip(me);
        t.put("\n");
    }
    out += t.str();
}

// /net/arp writes (§3.13).
Err Stack::arp_write(std::string_view text) {
    CtlArgs a = parse_arp_cmd(text);
    if (a.empty()) return Ebadarp;
    if (a[0] == "flush") {
        for (auto& e : arp) arp_drop(e);
        return ok;
    }
    if (a[0] == "del") {
        if (a.size() != 2) return Ebadarg;
        auto ip = parseip(a[1]);
        if (!ip) return Ebadip;
        for (auto& e : arp)
            if (e.state != ArpEnt::Empty && e.ip == *ip) {
                std::string held = std::move(e.hold);
                int x = e.ifc;
                arp_drop(e);
                if (!held.empty())
                    icmp_error(x, {reinterpret_cast<const uint8_t*>(held.data()), held.size()},
                               3, 1);
            }
        return ok;
    }
    if (a[0] == "garp") {
        if (a.size() != 2) return Ebadarg;
        auto ip = parseip(a[1]);
        if (!ip) return Ebadip;
        int x = ifc_of_local(*ip);
        if (x < 0) return Enointerface;
        Ipifc* f = ipifc->ifc(x);
        if (f->port >= 0 && ip->is_v4()) arp_send_request(*f, *ip, *ip);
        for (auto& l : f->lifc)  // v6: an unsolicited advertisement (or DAD when tentative)
            if (!ip->is_v4() && l.local == *ip) nd_register(*f, l);
        return ok;
    }
    if (a[0] == "add") {
        std::string_view ipstr, macstr, ifcstr;
        switch (a.size()) {
        case 3: ipstr = a[1]; macstr = a[2]; break;
        case 4:
        case 5:
            if (a[1] != "ether" && a[1] != "gbe") return Ebadarp;
            ipstr = a[2];
            macstr = a[3];
            if (a.size() == 5) ifcstr = a[4];
            break;
        default:
            return Ebadarg;
        }
        auto ip = parseip(ipstr);
        if (!ip) return Ebadip;
        uint8_t mac[8];
        int n = parsemac(mac, macstr);
        if (n <= 0) return Ebadarp;
        if (a.size() >= 4 && n != 6) return Ebadarp;
        Ipaddr ifcaddr;
        if (!ifcstr.empty()) {
            auto ia = parseip(ifcstr);
            if (!ia) return Ebadip;
            ifcaddr = *ia;
        } else {
            ifcaddr = findlocalip(*ip);
        }
        int x = ifc_of_local(ifcaddr);
        if (x < 0) return Enointerface;
        const Route* r = rib.lookup(*ip, ifcaddr);
        if (!r || r->ifc != x || (r->type & (Rbcast | Rmulti))) return Eunreachable;
        Ether e;
        std::memcpy(e.b.data(), mac, 6);
        arp_enter(*ip, x, e, true);
        if (ArpEnt* ent = arp_find(*ip, x)) ent->user = true;
        return ok;
    }
    return Ebadarp;
}

}  // namespace devip::proto
