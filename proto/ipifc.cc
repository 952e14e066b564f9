// Interfaces (ipifc.c): binding media, logical addresses and what they install in the self
// table and the routing table, the ipifc ctl verbs, the status and local texts.
// Behaviour: ip3.md §3.3, §2.5, §2.3, §4.2.
#include "proto/ipifc.h"

#include <algorithm>

#include "proto/ipaux.h"
#include "proto/stack.h"

namespace devip::proto {

namespace {

constexpr MediumInfo kMedia[] = {
    {"ether", Medium::Ether, 14, 60, 1514, 6, false},
    {"gbe", Medium::Gbe, 14, 60, 9014, 6, false},
    {"pkt", Medium::Pkt, 0, 0, 4096, 0, true},
    {"loopback", Medium::Loopback, 0, 0, 16384, 0, false},
    {"esp", Medium::Esp, 0, 68, 9000, 0, false},  // maxtu set by bind (tunnel.h)
    {"gre", Medium::Gre, 0, 68, 9000, 0, false},
};

const MediumInfo* medium_by_name(std::string_view name) {
    for (const auto& m : kMedia)
        if (name == m.name) return &m;
    return nullptr;
}

Route mkroute(const Ipaddr& dst, const Ipaddr& mask, const Ipaddr& src, const Ipaddr& smask,
              const Ipaddr& gate, uint16_t type, int ifc) {
    Route r{};
    r.dst = dst & mask;
    r.mask = mask;
    r.src = src & smask;
    r.smask = smask;
    r.gate = gate;
    r.type = type;
    r.ifc = ifc;
    r.tag = kTagIfc;
    return r;
}

// Solicited-node multicast group of a v6 address: ff02::1:ffXX:XXXX.
Ipaddr solicited_node(const Ipaddr& a) {
    Ipaddr m;
    m.b[0] = 0xff;
    m.b[1] = 0x02;
    m.b[11] = 0x01;
    m.b[12] = 0xff;
    m.b[13] = a.b[13];
    m.b[14] = a.b[14];
    m.b[15] = a.b[15];
    return m;
}

bool linklocal6(const Ipaddr& a) {
    if (a.is_v4() || a.is_noaddr()) return false;
    return a.is_linklocal6() || (a.b[0] == 0xff && (a.b[1] & 0xf) <= 2);
}

const Ipaddr kAllnodesL = [] {
    Ipaddr a;
    a.b[0] = 0xff;
    a.b[1] = 0x02;
    a.b[15] = 1;
    return a;
}();
const Ipaddr kAllnodesN = [] {
    Ipaddr a;
    a.b[0] = 0xff;
    a.b[1] = 0x01;
    a.b[15] = 1;
    return a;
}();
const Ipaddr kV6loopback = [] {
    Ipaddr a;
    a.b[15] = 1;
    return a;
}();

}  // namespace

const MediumInfo* medium_info(Medium m) {
    for (const auto& i : kMedia)
        if (i.m == m) return &i;
    return nullptr;
}

Ipifcproto::Ipifcproto(Stack& s, const ProtoRow& row) : Proto(s, row) {}

std::unique_ptr<Conv> Ipifcproto::make_conv(int x) { return std::make_unique<Ipifc>(*this, x); }

bool Ipifcproto::busy(const Conv& c) const { return static_cast<const Ipifc&>(c).bound(); }

// ---- self cache: an address and its host route --------------------------------------------

namespace {

void addself(Stack& s, Ipifc& f, const Iplifc& l, const Ipaddr& a, uint16_t type) {
    type |= l.type & Rv4;
    if (!s.self.add(a, type, f.x, l.local)) return;
    bool srcspec = (type & (Rbcast | Rmulti)) || linklocal6(a);
    s.rib.add(mkroute(a, Ipaddr::ones(), l.local, srcspec ? Ipaddr::ones() : IPnoaddr, a, type,
                      f.x));
    if ((type & Rmulti) && f.port >= 0 && s.net.io) {
        Ether m;
        if (a.is_v4()) {
            m.b = {0x01, 0x00, 0x5e, uint8_t(a.b[13] & 0x7f), a.b[14], a.b[15]};
        } else {
            m.b = {0x33, 0x33, a.b[12], a.b[13], a.b[14], a.b[15]};
        }
        s.net.io->add_mcast(uint16_t(f.port), m, true);
    }
}

void remself(Stack& s, Ipifc& f, const Iplifc& l, const Ipaddr& a) {
    const SelfEntry* e = s.self.find(a);
    if (!e) return;
    uint16_t type = e->type;
    if (!s.self.remove(a, f.x, l.local)) return;
    bool srcspec = (type & (Rbcast | Rmulti)) || linklocal6(a);
    s.rib.remove(mkroute(a, Ipaddr::ones(), l.local, srcspec ? Ipaddr::ones() : IPnoaddr, a,
                         type, f.x));
}

// The self-table addresses one logical address links to, in the order ipifcadd adds them.
std::vector<std::pair<Ipaddr, uint16_t>> self_addrs(const Iplifc& l) {
    std::vector<std::pair<Ipaddr, uint16_t>> v;
    v.push_back({l.local, Runi});
    if (l.type & Rptpt) return v;
    const Ipaddr& ip = l.local;
    if (l.type & Rv4) {
        v.push_back({(ip & l.mask) | ~l.mask, Rbcast});
        v.push_back({ip & l.mask, Rbcast});
        Ipaddr cm = defmask(ip);
        v.push_back({(ip & cm) | ~cm, Rbcast});
        v.push_back({ip & cm, Rbcast});
        v.push_back({v4bcast, Rbcast});
        v.push_back({v4allsys, Rmulti});
    } else {
        if (ip == kV6loopback) v.push_back({kAllnodesN, Rmulti});
        v.push_back({kAllnodesL, Rmulti});
        v.push_back({solicited_node(ip), Rmulti});
    }
    return v;
}

// The routes for the all-nodes groups of a v6 address, valid only from that address:
// ff02::/16, and ff01::/16 for ::1 (§4.2.2 step 3).
void add_mcast_routes(Stack& s, Ipifc& f, const Iplifc& l, bool add) {
    auto one = [&](const Ipaddr& group) {
        Route r = mkroute(group, prefix_mask(16), l.local, Ipaddr::ones(), group, Rmulti, f.x);
        if (add)
            s.rib.add(r);
        else
            s.rib.remove(r);
    };
    if (l.local == kV6loopback) one(kAllnodesN);
    one(kAllnodesL);
}

}  // namespace

// ---- add / remove (§4.2.2) --------------------------------------------------------------

Err Ipifcproto::add_lifc(Ipifc& f, const Ipaddr& ip, const Ipaddr& mask, const Ipaddr& rem,
                         uint16_t flags, bool tentative, const Iplifc* lp) {
    uint16_t type = Rifc | flags;
    if (ip != kV6loopback && mask == Ipaddr::ones()) type |= Rptpt;
    if (ip.is_v4() || ip.is_noaddr()) {
        type |= Rv4;
        tentative = false;
    }
    Stack& s = stack;
    for (auto& l : f.lifc)
        if (l.local == ip) {  // already ours: only the tentative flag changes (quirk 12)
            if (lp) {  // add6 also refreshes the lifetimes and may turn on-link on
                if (!l.onlink && lp->onlink) {
                    l.onlink = true;
                    s.rib.add(mkroute(l.remote, l.mask, ip, Ipaddr::ones(), l.remote,
                                      l.type & ~Rtrans, f.x));
                    if (!linklocal6(ip))
                        s.rib.add(mkroute(l.remote, l.mask, IPnoaddr, IPnoaddr, l.remote,
                                          l.type, f.x));
                }
                l.autoflag = lp->autoflag;
                l.validlt = lp->validlt;
                l.preflt = lp->preflt;
                l.origint = lp->origint;
            }
            if (l.tentative != tentative) {  // `add` after `try`: announce it (§4.2.2)
                l.tentative = tentative;
                s.nd_register(f, l);
            }
            return ok;
        }
    if (!(type & Rv4)) add_linklocal(f, ip);
    Iplifc l;
    l.local = ip;
    l.mask = mask;
    l.remote = rem;
    l.net = rem & mask;
    l.type = type;
    l.tentative = tentative;
    l.origint = stack.net.now_ms / 1000;
    if (lp) {
        l.onlink = lp->onlink;
        l.autoflag = lp->autoflag;
        l.validlt = lp->validlt;
        l.preflt = lp->preflt;
        l.origint = lp->origint;
    }
    f.lifc.push_back(l);
    if (l.onlink) {
        s.rib.add(mkroute(rem, mask, ip, Ipaddr::ones(), rem, type & ~Rtrans, f.x));
        if (!linklocal6(ip)) s.rib.add(mkroute(rem, mask, IPnoaddr, IPnoaddr, rem, type, f.x));
    }
    for (auto& [a, t] : self_addrs(l)) addself(s, f, l, a, t | (t == Runi ? type & Rproxy : 0));
    if (!(type & (Rv4 | Rptpt))) add_mcast_routes(s, f, l, true);
    // register the address on the medium: gratuitous ARP request for v4 on Ethernet, an
    // unsolicited neighbour advertisement or DAD for v6
    if ((type & Rv4) && !ip.is_unspecified() && f.port >= 0) s.arp_send_request(f, ip, ip);
    if (!(type & Rv4)) s.nd_register(f, f.lifc.back());
    s.ifc_changed();
    if (!(type & Rv4)) s.ra6_update(f, true);  // a prefix or a link-local address came
    return ok;
}

// The first IPv6 address of an Ethernet interface brings the interface's modified EUI-64
// link-local address (fe80::/64) in before it, as Plan 9's ipconfig adds one when it
// configures IPv6: neighbour discovery and router messages want a link-local source. Not
// for a link-local or loopback address, nor when the interface has a link-local already.
// It is never tentative, so that it serves as a source at once even under `try`.
void Ipifcproto::add_linklocal(Ipifc& f, const Ipaddr& ip) {
    if (f.medium != Medium::Ether && f.medium != Medium::Gbe) return;
    if (ip.is_linklocal6() || ip == kV6loopback || ip.b[0] == 0xff) return;  // or a group
    for (auto& l : f.lifc)
        if (!(l.type & Rv4) && l.local.is_linklocal6()) return;
    Ipaddr ll;
    ll.b[0] = 0xfe;
    ll.b[1] = 0x80;
    ifc_id(f, ll);
    add_lifc(f, ll, prefix_mask(64), ll & prefix_mask(64), 0, false, nullptr);
}

Err Ipifcproto::remove_lifc(Ipifc& f, size_t i) {
    if (i >= f.lifc.size()) return Enotonifc;
    Iplifc l = f.lifc[i];
    Stack& s = stack;
    auto addrs = self_addrs(l);
    for (auto it = addrs.rbegin(); it != addrs.rend(); ++it)
        while (s.self.find(it->first)) {  // drop every reference this lifc holds
            const SelfEntry* e = s.self.find(it->first);
            bool linked = false;
            for (auto& k : e->link)
                if (k.ifc == f.x && k.local == l.local) linked = true;
            if (!linked) break;
            remself(s, f, l, it->first);
        }
    if (l.onlink) {
        s.rib.remove(mkroute(l.remote, l.mask, l.local, Ipaddr::ones(), l.remote,
                             l.type & ~Rtrans, f.x));
        if (!linklocal6(l.local))
            s.rib.remove(mkroute(l.remote, l.mask, IPnoaddr, IPnoaddr, l.remote, l.type, f.x));
    }
    if (!(l.type & (Rv4 | Rptpt))) add_mcast_routes(s, f, l, false);
    f.lifc.erase(f.lifc.begin() + long(i));
    s.ifc_changed();
    if (!(l.type & Rv4)) s.ra6_update(f, true);
    return ok;
}

bool Ipifcproto::ifc_id(const Ipifc& f, Ipaddr& ip) const {
    if (f.medium == Medium::Ether || f.medium == Medium::Gbe) {  // modified EUI-64
        ip.b[8] = f.mac.b[0] ^ 0x02;
        ip.b[9] = f.mac.b[1];
        ip.b[10] = f.mac.b[2];
        ip.b[11] = 0xff;
        ip.b[12] = 0xfe;
        ip.b[13] = f.mac.b[3];
        ip.b[14] = f.mac.b[4];
        ip.b[15] = f.mac.b[5];
        return true;
    }
    const Iplifc* ll = nullptr;
    for (auto& l : f.lifc)
        if (l.local.is_linklocal6()) ll = &l;
    if (!ll) return false;
    for (int i = 8; i < 16; i++) ip.b[i] = ll->local.b[i];
    return true;
}

void Ipifcproto::join6(Ipifc& f, const Ipaddr& local, const Ipaddr& group, bool join) {
    Iplifc l;
    l.local = local;
    if (join)
        addself(stack, f, l, group, Rmulti);
    else
        remself(stack, f, l, group);
}

Err Ipifcproto::add(Ipifc& f, const CtlArgs& a, bool tentative) {
    if (a.size() < 2 || a.size() > 6) return Ebadarg;
    if (!f.bound()) return Eunbound;
    Ipaddr ip, mask, rem;
    auto pip = parseip(a[1]);
    if (!pip) return Ebadip;
    ip = *pip;
    if (a.size() >= 3) {
        auto m = parseipmask(a[2], ip.is_v4());
        if (!m) return Ebadip;
        mask = *m;
    } else {
        mask = defmask(ip);
    }
    if (a.size() >= 4) {
        auto r = parseip(a[3]);
        if (!r) return Ebadip;
        rem = *r;
    } else {
        rem = ip & mask;
    }
    uint16_t flags = 0;
    if (a.size() >= 6) {
        if (a[5].find("proxy") != std::string::npos) flags |= Rproxy;
        if (a[5].find("trans") != std::string::npos) flags |= Rtrans;
    }
    if (a.size() >= 5) {  // an out-of-range mtu is silently ignored
        long mtu = long(ctl_strtoul(a[4], 0));
        const MediumInfo* m = medium_info(f.medium);
        if (mtu > 0 && mtu >= m->mintu && mtu <= m->maxtu) f.maxtu = int(mtu);  // published by add_lifc
    }
    return add_lifc(f, ip, mask, rem, flags, tentative);
}

Err Ipifcproto::remove(Ipifc& f, const CtlArgs& a) {
    if (a.size() < 3) return Ebadarg;
    auto ip = parseip(a[1]);
    if (!ip) return Ebadip;
    auto mask = parseipmask(a[2], ip->is_v4());
    if (!mask) return Ebadip;
    Ipaddr rem = *ip & *mask;
    if (a.size() >= 4) {
        auto r = parseip(a[3]);
        if (!r) return Ebadip;
        rem = *r;
    }
    for (size_t i = 0; i < f.lifc.size(); i++)
        if (f.lifc[i].local == *ip && f.lifc[i].mask == *mask && f.lifc[i].remote == rem)
            return remove_lifc(f, i);
    return Enotonifc;
}

// ---- bind / unbind ----------------------------------------------------------------------

Err Ipifcproto::bind_medium(Ipifc& f, const CtlArgs& a) {
    if (a.size() < 2) return Ebadarg;
    const MediumInfo* m = medium_by_name(a[1]);
    if (!m) return a[1] == "null" ? Enullbind : Eunknowntype;
    if (f.bound()) return Ealreadybound;
    TunBind tb;
    if (m->m == Medium::Esp || m->m == Medium::Gre)
        if (Err e = tun_parse(stack, m->m == Medium::Esp, a, tb)) return e;
    int port = -1;
    if (m->maclen) {
        if (a.size() < 3) return Ebadarg;  // quirk 2: the kernel would crash
        port = stack.net.port_by_dev(a[2]);
        if (port < 0) return Enodevice;
        if (stack.net.owner[port].s) return Edevinuse;
        f.mac = stack.net.io->port(port).mac;
        if (f.mac.is_zero()) return Enomac;
    }
    f.medium = m->m;
    f.port = port;
    f.dev = a.size() > 2 ? a[2] : std::string(m->name) + std::to_string(f.x);
    f.maxtu = m->maxtu;
    if (f.tunnel()) {
        f.dev = f.medium == Medium::Esp ? a[2] : a[3];  // the outbound SA, the peer
        tun_attach(stack, f, tb);  // holds the conversations, takes a workers' slot, maxtu
    }
    f.ra = RaParams{};
    f.rasched = RaSched{};
    f.rssched = RsSched{};
    f.ra_held = f.rs_started = false;
    f.reflect = f.reassemble = false;
    f.speed = 0;
    f.delay = 40;
    if (!m->unbind_on_close) f.inuse++;
    f.ifcid++;
    f.rq.reset();
    f.eq.reset();
    f.snoopq.reset();
    stack.rib.remove_ifc(f.x);
    if (port >= 0) stack.net.owner[port] = {&stack, f.x};
    stack.ifc_changed();
    return ok;
}

Err Ipifcproto::unbind(Ipifc& f) {
    if (!f.bound()) return Eunbound;
    stack.ra6_unbind(f);  // the final RA goes out while the addresses are still there
    while (!f.lifc.empty()) remove_lifc(f, f.lifc.size() - 1);
    if (f.port >= 0) stack.net.owner[f.port] = {};
    const MediumInfo* m = medium_info(f.medium);
    bool tun = f.tunnel();
    f.dev.clear();
    f.reflect = f.reassemble = false;
    f.rq.hangup();
    f.snoopq.hangup();
    f.ifcid++;
    stack.rib.remove_ifc(f.x);
    stack.arp_flush_ifc(f.x);
    if (!m->unbind_on_close) f.inuse--;
    f.medium = Medium::None;
    f.port = -1;
    stack.ifc_changed();
    if (tun) tun_unbind(stack, f);  // after the workers' table lost it: the SAs retire
    return ok;
}

void Ipifcproto::close(Conv& c) {
    auto& f = static_cast<Ipifc&>(c);
    if (f.bound() && medium_info(f.medium)->unbind_on_close) unbind(f);
}

// ---- ctl --------------------------------------------------------------------------------

namespace {

Err ctl_add(Ipifcproto& p, Ipifc& f, const CtlArgs& a) { return p.add(f, a, false); }
Err ctl_try(Ipifcproto& p, Ipifc& f, const CtlArgs& a) { return p.add(f, a, true); }
Err ctl_remove(Ipifcproto& p, Ipifc& f, const CtlArgs& a) { return p.remove(f, a); }
Err ctl_unbind(Ipifcproto& p, Ipifc& f, const CtlArgs&) { return p.unbind(f); }
Err ctl_addsa(Ipifcproto& p, Ipifc& f, const CtlArgs& a) { return tun_addsa(p.stack, f, a); }
Err ctl_delsa(Ipifcproto& p, Ipifc& f, const CtlArgs& a) { return tun_delsa(p.stack, f, a); }

Err ctl_mtu(Ipifcproto&, Ipifc& f, const CtlArgs& a) {
    if (!f.bound()) return Eunbound;
    const MediumInfo* m = medium_info(f.medium);
    long mtu = a.size() > 1 ? long(ctl_strtoul(a[1], 0)) : 0;
    if (a.size() < 2 && m->mintu == 0) return Ebadarg;  // quirk 13: reject a bare "mtu"
    if (mtu < m->mintu || mtu > m->maxtu) return Ebadarg;
    f.maxtu = int(mtu);
    f.p->stack.ifc_changed();
    return ok;
}

Err ctl_speed(Ipifcproto&, Ipifc& f, const CtlArgs& a) {
    if (!f.bound()) return Eunbound;
    long v = a.size() > 1 ? ctl_strtol(a[1]) : 0;
    f.speed = v < 0 ? 0 : v;
    return ok;
}

Err ctl_delay(Ipifcproto&, Ipifc& f, const CtlArgs& a) {
    if (!f.bound()) return Eunbound;
    long v = a.size() > 1 ? ctl_strtol(a[1]) : 0;
    f.delay = int(std::clamp(v, 0L, 1000L));
    return ok;
}

Err ctl_iprouting(Ipifcproto& p, Ipifc&, const CtlArgs& a) {
    p.iprouting = a.size() > 1 ? ctl_strtol(a[1]) != 0 : true;
    p.iprouting_set = true;
    if (p.iprouting) p.stack.fib_enable();
    p.stack.ifc_changed();
    for (auto& c : p.convs)  // advertising interfaces start or stop (ra6.cc)
        if (auto& g = static_cast<Ipifc&>(*c); g.bound()) p.stack.ra6_update(g, false);
    return ok;
}

Err ctl_reflect(Ipifcproto&, Ipifc& f, const CtlArgs& a) {
    if (!f.bound()) return Eunbound;
    f.reflect = a.size() > 1 ? ctl_strtol(a[1]) != 0 : true;
    f.p->stack.ifc_changed();
    return ok;
}

Err ctl_reassemble(Ipifcproto&, Ipifc& f, const CtlArgs& a) {
    if (!f.bound()) return Eunbound;
    f.reassemble = a.size() > 1 ? ctl_strtol(a[1]) != 0 : true;
    f.p->stack.ifc_changed();  // the workers send fragments leaving by f to us
    return ok;
}

Err ctl_ra6(Ipifcproto& p, Ipifc& f, const CtlArgs& a) {
    if (!f.bound()) return Eunbound;
    if ((a.size() - 1) % 2) return Ebadarg;
    RaParams r = f.ra;
    struct Key {
        const char* name;
        int RaParams::*field;
        bool boolean;
    };
    static constexpr Key kKeys[] = {
        {"recvra", &RaParams::recvra, true}, {"sendra", &RaParams::sendra, true},
        {"mflag", &RaParams::mflag, true},   {"oflag", &RaParams::oflag, true},
        {"maxraint", &RaParams::maxraint, false}, {"minraint", &RaParams::minraint, false},
        {"linkmtu", &RaParams::linkmtu, false},   {"reachtime", &RaParams::reachtime, false},
        {"rxmitra", &RaParams::rxmitra, false},   {"ttl", &RaParams::ttl, false},
        {"routerlt", &RaParams::routerlt, false},
    };
    for (size_t i = 1; i + 1 < a.size(); i += 2) {
        const Key* k = nullptr;
        for (const auto& kk : kKeys)
            if (a[i] == kk.name) k = &kk;
        if (!k) return Ebadarg;
        long v = ctl_strtol(a[i + 1]);
        r.*(k->field) = k->boolean ? v != 0 : int(v);
    }
    if (r.maxraint < r.minraint) return Ebadarg;
    bool mtu = r.linkmtu != f.ra.linkmtu;
    f.ra = r;
    p.stack.ra6_update(f, true);  // start or stop advertising or soliciting; new values
    if (mtu) p.stack.ifc_changed();  // the workers' IPv6 MTU of this port
    return ok;
}

Err ctl_add6(Ipifcproto& p, Ipifc& f, const CtlArgs& a) {
    if (a.size() < 2 || a.size() > 7) return Ebadarg;
    if (!f.bound()) return Eunbound;
    auto pre = parseip(a[1]);
    if (!pre || pre->is_v4()) return Ebadarg;
    if (pre->is_linklocal6()) return Ebadarg;
    long plen = a.size() > 2 ? ctl_strtol(a[2]) : 64;
    if (plen < 0 || plen > 64) return Ebadarg;
    uint32_t valid = a.size() > 5 ? uint32_t(ctl_strtoul(a[5])) : ~0u;
    uint32_t pref = a.size() > 6 ? uint32_t(ctl_strtoul(a[6])) : ~0u;
    if (valid < pref) return Ebadarg;
    Ipaddr ip = *pre & prefix_mask(int(plen));
    if (!p.ifc_id(f, ip)) return Eunbound;
    Iplifc lp;  // what the add carries besides the address
    lp.validlt = valid;
    lp.preflt = pref;
    lp.onlink = a.size() > 3 ? ctl_strtol(a[3]) != 0 : true;
    lp.autoflag = a.size() > 4 ? ctl_strtol(a[4]) != 0 : true;
    lp.origint = p.stack.net.now_ms / 1000;
    return p.add_lifc(f, ip, prefix_mask(int(plen)), ip & prefix_mask(int(plen)), 0, false, &lp);
}

Err ctl_remove6(Ipifcproto& p, Ipifc& f, const CtlArgs& a) {
    if (a.size() != 1) return Ebadarg;
    uint64_t now = p.stack.net.now_ms / 1000;
    for (size_t i = f.lifc.size(); i-- > 0;) {
        const Iplifc& l = f.lifc[i];
        if (!(l.type & Rv4) && l.validlt != ~0u && l.origint + l.validlt < now) p.remove_lifc(f, i);
    }
    return ok;
}

using IfcVerb = Err (*)(Ipifcproto&, Ipifc&, const CtlArgs&);
struct IfcCmd {
    std::string_view verb;
    IfcVerb fn;
};
constexpr IfcCmd kIfcCtl[] = {
    {"add", ctl_add},         {"try", ctl_try},           {"del", ctl_remove},
    {"remove", ctl_remove},   {"unbind", ctl_unbind},     {"mtu", ctl_mtu},
    {"speed", ctl_speed},     {"delay", ctl_delay},       {"iprouting", ctl_iprouting},
    {"reflect", ctl_reflect}, {"reassemble", ctl_reassemble}, {"add6", ctl_add6},
    {"del6", ctl_remove6},    {"remove6", ctl_remove6},   {"ra6", ctl_ra6},
    {"addsa", ctl_addsa},     {"delsa", ctl_delsa},  // esp tunnels (tunnel.h)
};

}  // namespace

Err Ipifcproto::write_ctl(Conv& c, const CtlArgs& a) {
    auto& f = static_cast<Ipifc&>(c);
    if (a.empty()) return Eshortctl;
    const std::string& v = a[0];
    if (v == "bind") return bind_medium(f, a);
    if (v == "announce") return Eannouncens;
    if (v == "connect") {  // replace every address, then Connected
        if (c.state != ConvState::Idle) return Econinuse;
        c.state = ConvState::Connecting;
        if (!f.bound()) return Eunbound;
        while (!f.lifc.empty()) remove_lifc(f, f.lifc.size() - 1);
        if (Err e = add(f, a, false)) return e;
        c.state = ConvState::Connected;
        return ok;
    }
    if (v == "ttl" || v == "tos" || v == "ignoreadvice" || v == "addmulti" ||
        v == "delmulti" || v == "remmulti")
        return Proto::write_ctl(c, a);
    for (const auto& k : kIfcCtl)
        if (k.verb == v) return k.fn(*this, f, a);
    return f.bound() ? Eunsupported : Eunbound;
}

// The data file: the pkt medium's packets in (writes) and out (reads, queued by output).
Err Ipifcproto::write_data(Conv& c, std::span<const uint8_t> data) {
    auto& f = static_cast<Ipifc&>(c);
    if (f.medium != Medium::Pkt) return ok;  // other media discard writes
    f.pktin++;
    if (f.snoopers) f.snoopq.put(std::string(data.begin(), data.end()));
    stack.ip_input(f, data);
    return ok;
}

// ---- text -------------------------------------------------------------------------------

void Ipifcproto::state(const Conv& c, Text& t) const {
    auto& f = static_cast<const Ipifc&>(c);
    uint32_t in = f.pktin, out = f.pktout;
    if (f.port >= 0 && stack.net.io) {
        uint64_t pin = 0, pout = 0;
        stack.net.io->port_counts(uint16_t(f.port), pin, pout);
        in = uint32_t(pin);
        out = uint32_t(pout);
    }
    t.put("device %s maxtu %d sendra %d recvra %d mflag %d oflag %d maxraint %d minraint %d "
          "linkmtu %d reachtime %d rxmitra %d ttl %d routerlt %d pktin %u pktout %u errin %u "
          "errout %u speed %ld delay %d",
          f.dev.c_str(), f.maxtu, f.ra.sendra, f.ra.recvra, f.ra.mflag, f.ra.oflag,
          f.ra.maxraint, f.ra.minraint, f.ra.linkmtu, f.ra.reachtime, f.ra.rxmitra, f.ra.ttl,
          f.ra.routerlt, in, out, f.errin, f.errout, f.speed, f.delay);
    if (f.tunnel()) tun_state(stack, f, t);  // beyond 9front: the tunnel's counters
    t.put("\n");
    for (const auto& l : f.lifc) {
        t.put("\t");
        t.pad(fmt_ip(l.local), 40);
        t.put(" ");
        t.pad(fmt_mask(l.mask), 10);
        t.put(" ");
        t.pad(fmt_ip(l.remote), 40);
        t.put(" ");
        t.pad(std::to_string(l.validlt), 12);
        t.put(" ");
        t.pad(std::to_string(l.preflt), 12);
        t.put("\n");
    }
    if (f.lifc.empty()) t.put("\n");
}

void Ipifcproto::local(const Conv& c, Text& t) const {
    auto& f = static_cast<const Ipifc&>(c);
    for (const auto& l : f.lifc) {
        t.pad(fmt_ip(l.local), 40, true, 40);
        t.put(" ->");
        // the self entries linked to this logical address, newest link first (9front order)
        std::vector<Ipaddr> linked;
        stack.self.each([&](const SelfEntry& e) {
            for (auto& k : e.link)
                if (k.ifc == f.x && k.local == l.local) linked.push_back(e.a);
        });
        for (auto& a : linked) {
            t.put(" ");
            t.pad(fmt_ip(a), 40, true, 40);
        }
        t.put("\n");
    }
}

void Ipifcproto::stats(Text& t) const { stack.ipstats_text(t); }

}  // namespace devip::proto
