// Router advertisements (RFC 4861 §6, RFC 4862 §5.5.3), both sides. An interface with
// `ra6 sendra 1` on a stack with `iprouting 1` is an advertising interface: it joins ff02::2,
// sends unsolicited RAs from its link-local address and answers solicitations; leaving that
// state (sendra 0, iprouting 0, unbind, no link-local address) sends a final RA with router
// lifetime 0. An interface with `ra6 recvra 1` (and sendra 0: ipconfig's IsHostRecv) solicits
// and learns from RAs what 9front's ipconfig learns for a host: the parameters shown in its
// status, a default route tagged ra6, addresses for autonomous prefixes (as add6 makes them)
// and the MTU option. Behaviour: ip3.md §3.3 (ra6, add6), §4.8.2, §4.14.2; 9front ipconfig
// ipv6.c (sendra6, recvrahost), which devipd replaces here since it has no ipconfig.
#include "proto/ra6.h"

#include <algorithm>

#include "proto/icmp6.h"
#include "proto/ip6.h"
#include "proto/stack.h"

namespace devip::proto {

// ---- messages (RFC 4861 §4.1, §4.2, §4.6) ------------------------------------------------

namespace {

void put_lla(std::string& m, uint8_t type, const Ether& mac) {
    uint8_t o[kNdOptLlaLen] = {type, 1};
    std::memcpy(o + 2, mac.b.data(), 6);
    m.append(reinterpret_cast<const char*>(o), sizeof o);
}

// Walks the options of an ND message from off: calls fn(type, option bytes) for each; false
// when one has length 0 or runs past the end.
template <class F>
bool each_option(std::span<const uint8_t> p, size_t off, F fn) {
    while (off < p.size()) {
        if (off + 2 > p.size()) return false;
        size_t n = size_t(p[off + 1]) * 8;
        if (n == 0 || off + n > p.size()) return false;
        fn(p[off], p.subspan(off, n));
        off += n;
    }
    return true;
}

}  // namespace

std::string ra_build(const RaMsg& m, size_t max) {
    std::string s(kRaHdr, '\0');
    auto* b = reinterpret_cast<uint8_t*>(s.data());
    b[0] = Icmp6RouterAdvert;
    b[4] = m.curhop;
    b[5] = uint8_t((m.managed ? kRaManaged : 0) | (m.other ? kRaOther : 0));
    put16(b + 6, m.routerlt);
    put32(b + 8, m.reachable);
    put32(b + 12, m.retrans);
    if (m.has_lla) put_lla(s, kNdOptSrcLla, m.lla);
    if (m.mtu) {
        uint8_t o[kNdOptMtuLen] = {kNdOptMtu, 1};
        put32(o + 4, m.mtu);
        s.append(reinterpret_cast<const char*>(o), sizeof o);
    }
    for (const RaPrefix& p : m.prefixes) {
        if (s.size() + kNdOptPrefixLen > max) break;
        uint8_t o[kNdOptPrefixLen] = {kNdOptPrefix, 4, p.plen,
                                    uint8_t((p.onlink ? kPfxOnLink : 0) |
                                            (p.autonomous ? kPfxAuto : 0))};
        put32(o + 4, p.valid);
        put32(o + 8, p.preferred);
        std::memcpy(o + 16, p.prefix.b.data(), 16);
        s.append(reinterpret_cast<const char*>(o), sizeof o);
    }
    return s;
}

std::string rs_build(const Ether* lla) {
    std::string s(kRsHdr, '\0');
    s[0] = char(Icmp6RouterSolicit);
    if (lla) put_lla(s, kNdOptSrcLla, *lla);
    return s;
}

bool ra_parse(std::span<const uint8_t> p, RaMsg& m) {
    if (p.size() < kRaHdr || p[0] != Icmp6RouterAdvert) return false;
    m = RaMsg{};
    m.curhop = p[4];
    m.managed = p[5] & kRaManaged;
    m.other = p[5] & kRaOther;
    m.routerlt = get16(p.data() + 6);
    m.reachable = get32(p.data() + 8);
    m.retrans = get32(p.data() + 12);
    return each_option(p, kRaHdr, [&](uint8_t type, std::span<const uint8_t> o) {
        if (type == kNdOptSrcLla && o.size() == kNdOptLlaLen && !m.has_lla) {
            m.has_lla = true;
            std::memcpy(m.lla.b.data(), o.data() + 2, 6);
        } else if (type == kNdOptMtu && o.size() == kNdOptMtuLen) {
            m.mtu = get32(o.data() + 4);
        } else if (type == kNdOptPrefix && o.size() == kNdOptPrefixLen && o[2] <= 128) {
            RaPrefix x;
            x.plen = o[2];
            x.onlink = o[3] & kPfxOnLink;
            x.autonomous = o[3] & kPfxAuto;
            x.valid = get32(o.data() + 4);
            x.preferred = get32(o.data() + 8);
            x.prefix = Ipaddr::from_bytes(o.data() + 16) & prefix_mask(x.plen);
            m.prefixes.push_back(x);
        }
    });
}

bool rs_lla(std::span<const uint8_t> p, Ether& mac) {
    bool found = false;
    if (p.size() < kRsHdr) return false;
    bool ok = each_option(p, kRsHdr, [&](uint8_t type, std::span<const uint8_t> o) {
        if (type == kNdOptSrcLla && o.size() == kNdOptLlaLen && !found) {
            found = true;
            std::memcpy(mac.b.data(), o.data() + 2, 6);
        }
    });
    return ok && found;
}

// ---- values and timing (RFC 4861 §6.2.1, §6.2.4, §6.2.6, §6.3.7) -------------------------

RaIntervals ra_intervals(int maxraint, int minraint) {
    RaIntervals iv;
    iv.max = maxraint > 0 ? uint32_t(maxraint) : 600000;
    iv.max = std::clamp(iv.max, kMinMaxRaint, kMaxMaxRaint);
    iv.min = minraint > 0 ? uint32_t(minraint) : iv.max >= 9000 ? iv.max / 3 : iv.max;
    iv.min = std::clamp(iv.min, kMinMinRaint, iv.max * 3 / 4);
    return iv;
}

uint16_t ra_router_lifetime(int routerlt, const RaIntervals& iv) {
    if (routerlt <= 0) return 0;
    uint32_t lo = (iv.max + 999) / 1000;
    return uint16_t(std::clamp(uint32_t(routerlt), lo, kMaxRouterLifetime));
}

uint32_t slaac_valid_lifetime(uint32_t remaining, uint32_t received) {
    if (received > kTwoHours || (remaining != ~0u && received > remaining)) return received;
    if (remaining != ~0u && remaining <= kTwoHours) return remaining;  // ignored
    return kTwoHours;
}

void RaSched::start(uint64_t now) {
    on_ = true;
    initial_ = kMaxInitialRtrAdvertisements;
    next_ = any_ ? std::max(now, last_ + kMinDelayBetweenRas) : now;
}

void RaSched::restart_initial(uint64_t now) {
    if (!on_) return;
    initial_ = kMaxInitialRtrAdvertisements;
    uint64_t soon = any_ ? std::max(now, last_ + kMinDelayBetweenRas) : now;
    next_ = std::min(next_, soon);
}

void RaSched::solicited(uint64_t now, uint32_t rnd) {
    if (!on_) return;
    uint64_t t = now + rnd % (kMaxRaDelayTime + 1);
    if (any_) t = std::max(t, last_ + kMinDelayBetweenRas);
    next_ = std::min(next_, t);
}

void RaSched::sent(uint64_t now, const RaIntervals& iv, uint32_t rnd) {
    last_ = now;
    any_ = true;
    if (initial_ > 0) initial_--;
    uint64_t gap = iv.min + rnd % (uint64_t(iv.max - iv.min) + 1);
    if (initial_ > 0) gap = std::min(gap, kMaxInitialRtrAdvertInterval);
    next_ = now + std::max<uint64_t>(gap, kMinDelayBetweenRas);
}

void RsSched::start(uint64_t now, uint32_t rnd) {
    left_ = kMaxRtrSolicitations;
    next_ = now + rnd % (kMaxRtrSolicitationDelay + 1);
}

void RsSched::sent(uint64_t now) {
    if (left_ > 0) left_--;
    next_ = now + kRtrSolicitationInterval;
}

// ---- the stack: router side (RFC 4861 §6.2) ---------------------------------------------

namespace {

bool ethernet(const Ipifc& f) {
    return (f.medium == Medium::Ether || f.medium == Medium::Gbe) && f.port >= 0;
}

const Iplifc* linklocal_of(const Ipifc& f) {
    for (auto& l : f.lifc)
        if (l.local.is_linklocal6() && !l.tentative) return &l;
    return nullptr;
}

// An advertising interface (RFC 4861 §6.2.2): sendra on a router (iprouting: hosts never
// send RAs, §6.3), Ethernet, with a link-local address to send from.
bool wants_to_advertise(const Stack& s, const Ipifc& f) {
    return f.bound() && ethernet(f) && f.ra.sendra && s.ipifc->iprouting && !f.ra_held &&
           linklocal_of(f);
}

// A host that learns from RAs: recvra without sendra (ipconfig's IsHostRecv).
bool wants_to_learn(const Ipifc& f) {
    return f.bound() && f.ra.recvra && !f.ra.sendra && linklocal_of(f);
}

uint32_t remaining(uint32_t lt, uint64_t origint, uint64_t now_s) {
    if (lt == ~0u) return ~0u;
    uint64_t age = now_s - origint;
    return age < lt ? uint32_t(lt - age) : 0;
}

// One prefix option per global or ULA prefix on f (9front ipconfig's sendra), with the flags
// and the lifetimes left of the address that brought it.
void advertised_prefixes(const Ipifc& f, uint64_t now_s, std::vector<RaPrefix>& out) {
    for (auto& l : f.lifc) {
        int plen = mask_len(l.mask);
        if ((l.type & Rv4) || l.tentative || l.local.is_noaddr() || l.local == v6loopback ||
            l.local.is_linklocal6() || is_v6_mcast(l.local) || plen <= 0 || plen >= 128)
            continue;
        RaPrefix p;
        p.prefix = l.local & l.mask;
        p.plen = uint8_t(plen);
        bool dup = false;
        for (auto& q : out) dup |= q.prefix == p.prefix && q.plen == p.plen;
        p.valid = remaining(l.validlt, l.origint, now_s);
        if (dup || p.valid == 0) continue;
        p.preferred = std::min(remaining(l.preflt, l.origint, now_s), p.valid);
        p.onlink = l.onlink;
        p.autonomous = l.autoflag;
        out.push_back(p);
    }
}

// Sends an ND message (router solicitation or advertisement) from src straight out of f.
void nd_send(Stack& s, Ipifc& f, const Ipaddr& src, const Ipaddr& dst, std::string m) {
    auto* b = reinterpret_cast<uint8_t*>(m.data());
    put16(b + 2, ip6_csum(src, dst, kProtoIcmp6, b, m.size()));
    s.icmp6->st.out[b[0]]++;
    s.ipstat[OutRequests]++;
    s.nd_output(f, dst, ip6_packet(src, dst, kProtoIcmp6, 255, m));
}

}  // namespace

size_t Stack::ip6_mtu(const Ipifc& f) const {
    size_t room = size_t(f.maxtu - medium_info(f.medium)->hsize);
    if (f.ra.linkmtu >= int(kIp6MinMtu) && size_t(f.ra.linkmtu) < room)
        room = size_t(f.ra.linkmtu);
    return room;
}

// The RA of f (RFC 4861 §6.2.3) from the ra6 values (§6.2.1 for the zeros): cur hop limit
// ttl, M and O, router lifetime routerlt (0 in a final RA), reachable time, retrans timer,
// our MAC, the MTU option when linkmtu is set and, except in a final RA, the prefixes.
void Stack::ra6_send(Ipifc& f, bool final) {
    RaIntervals iv = ra_intervals(f.ra.maxraint, f.ra.minraint);
    RaMsg m;
    m.curhop = uint8_t(std::clamp(f.ra.ttl, 0, 255));
    m.managed = f.ra.mflag;
    m.other = f.ra.oflag;
    m.routerlt = final ? 0 : ra_router_lifetime(f.ra.routerlt, iv);
    m.reachable = uint32_t(std::clamp<int64_t>(f.ra.reachtime, 0, kMaxReachableTime));
    m.retrans = uint32_t(std::max(f.ra.rxmitra, 0));
    m.mtu = uint32_t(std::max(f.ra.linkmtu, 0));
    m.has_lla = true;
    m.lla = f.mac;
    if (!final) advertised_prefixes(f, net.now_ms / 1000, m.prefixes);
    if (log.on(Logicmp))
        log.print(Logicmp, "icmp6: router advertisement from %s, lifetime %d, %zu prefixes\n",
                  fmt_ip(f.ra_src).c_str(), m.routerlt, m.prefixes.size());
    nd_send(*this, f, f.ra_src, v6allnodesL, ra_build(m, ip6_mtu(f) - kIp6Hdr));
}

void Stack::ra6_update(Ipifc& f, bool changed) {
    uint64_t now = net.now_ms;
    const Iplifc* ll = linklocal_of(f);
    bool adv = wants_to_advertise(*this, f);
    if (f.rasched.on() && (!adv || ll->local != f.ra_src)) {  // §6.2.5: ceasing
        ra6_send(f, true);
        f.rasched.stop();
        ipifc->join6(f, f.ra_src, v6allroutersL, false);
    }
    if (adv && !f.rasched.on()) {
        f.ra_src = ll->local;
        ipifc->join6(f, f.ra_src, v6allroutersL, true);  // solicitations come to ff02::2
        f.rasched.start(now);
    } else if (adv && changed) {
        f.rasched.restart_initial(now);
    }
    if (!wants_to_learn(f)) {
        f.rssched.stop();
        f.rs_started = false;
    } else if (!f.rs_started && ethernet(f)) {
        f.rs_started = true;
        f.rssched.start(now, net.random());
    }
}

void Stack::ra6_unbind(Ipifc& f) {
    if (f.rasched.on()) {
        ra6_send(f, true);
        f.rasched.stop();
        ipifc->join6(f, f.ra_src, v6allroutersL, false);
    }
    f.ra_held = true;
    f.rssched.stop();
    std::erase_if(routers6, [&](const DefRouter6& r) { return r.ifc == f.x; });
    if (defroute6_set && defroute6.ifc == f.x) {
        rib.remove(defroute6);
        defroute6_set = false;
    }
    defroute_sync();
}

// A solicitation on an advertising interface (§6.2.6): the solicitor's link-layer address is
// entered, and the next multicast RA comes within 0.5 s, rate-limited to one every 3 s.
void Stack::rs_input(Ipifc& f, std::span<const uint8_t> pkt) {
    if (!f.rasched.on()) return;
    Ipaddr src = ip6_src(pkt.data()), ia;
    Ether mac;
    if (!src.is_noaddr() && rs_lla(pkt.subspan(kIp6Hdr), mac) && ipv6local(f.x, ia, 0, src))
        nd_enter(src, f.x, mac, ia, false);
    f.rasched.solicited(net.now_ms, net.random());
}

// ---- the stack: host side (RFC 4861 §6.3.4, RFC 4862 §5.5.3) -----------------------------

// The default route follows the first router of the list that is still alive.
void Stack::defroute_sync() {
    const DefRouter6* r = routers6.empty() ? nullptr : &routers6.front();
    if (defroute6_set && (!r || r->addr != defroute6.gate || r->ifc != defroute6.ifc)) {
        rib.remove(defroute6);
        defroute6_set = false;
    }
    if (!r || defroute6_set) return;
    Route d{};
    d.gate = r->addr;
    d.ifc = r->ifc;
    d.tag = make_tag("ra6");
    rib.add(d);
    defroute6 = d;
    defroute6_set = true;
}

// An autonomous prefix (RFC 4862 §5.5.3): an address from the prefix and our interface
// identifier, made as add6 makes it, or, when we have it already, its lifetimes refreshed
// under the two-hour rule.
void Stack::ra6_autoconf(Ipifc& f, const RaPrefix& p) {
    if (p.plen != 64 || p.prefix.is_linklocal6() || is_v6_mcast(p.prefix) ||
        p.preferred > p.valid)
        return;
    Ipaddr ip = p.prefix;
    if (!ipifc->ifc_id(f, ip)) return;
    uint64_t now_s = net.now_ms / 1000;
    Iplifc lp;
    lp.onlink = p.onlink;
    lp.autoflag = true;
    lp.origint = now_s;
    Iplifc* old = nullptr;
    for (auto& l : f.lifc)
        if (l.local == ip) old = &l;
    if (old) {
        lp.validlt = slaac_valid_lifetime(remaining(old->validlt, old->origint, now_s), p.valid);
    } else {
        size_t n = std::count_if(f.lifc.begin(), f.lifc.end(), [](auto& l) { return l.fromra; });
        if (p.valid == 0 || n >= kMaxAutoconf) return;
        lp.validlt = p.valid;
    }
    lp.preflt = std::min(p.preferred, lp.validlt);
    Ipaddr mask = prefix_mask(64);
    if (ipifc->add_lifc(f, ip, mask, ip & mask, 0, false, &lp)) return;
    if (!old) {
        for (auto& l : f.lifc)
            if (l.local == ip) l.fromra = true;
        if (log.on(Logicmp))
            log.print(Logicmp, "icmp6: autoconfigured %s/64\n", fmt_ip(ip).c_str());
    }
}

// What 9front's ipconfig does with an RA for a host (recvrahost): the parameters become the
// interface's ra6 values (zeros, "unspecified", change nothing), the source link-layer
// address is entered, the router lifetime adds, refreshes or ends a default router, the MTU
// option sets the v6 MTU, and autonomous prefixes give addresses.
void Stack::ra6_input(Ipifc& f, std::span<const uint8_t> pkt) {
    if (!f.ra.recvra || f.ra.sendra || !f.bound()) return;
    Ipaddr src = ip6_src(pkt.data());
    RaMsg m;
    if (self.find(src) || !ra_parse(pkt.subspan(kIp6Hdr), m)) return;
    f.rssched.stop();
    if (m.curhop) f.ra.ttl = m.curhop;
    f.ra.mflag = m.managed;
    f.ra.oflag = m.other;
    if (m.reachable) f.ra.reachtime = int(std::min<uint32_t>(m.reachable, kMaxReachableTime));
    if (m.retrans) f.ra.rxmitra = int(std::min<uint32_t>(m.retrans, INT32_MAX));
    f.ra.routerlt = m.routerlt;
    size_t room = size_t(f.maxtu - medium_info(f.medium)->hsize);
    if (m.mtu >= kIp6MinMtu && m.mtu <= room && f.ra.linkmtu != int(m.mtu)) {
        f.ra.linkmtu = int(m.mtu);
        ifc_changed();  // the workers' IPv6 MTU of this port
    }
    Ipaddr ia;
    if (m.has_lla && ethernet(f) && ipv6local(f.x, ia, 0, src))
        nd_enter(src, f.x, m.lla, ia, false);

    auto it = std::find_if(routers6.begin(), routers6.end(),
                           [&](const DefRouter6& r) { return r.addr == src && r.ifc == f.x; });
    if (m.routerlt == 0) {
        if (it != routers6.end()) routers6.erase(it);
    } else if (it == routers6.end()) {
        if (routers6.size() < kMaxDefRouters)
            routers6.push_back({src, f.x, net.now_ms + uint64_t(m.routerlt) * 1000});
    } else {
        it->expires = net.now_ms + uint64_t(m.routerlt) * 1000;
    }
    defroute_sync();
    for (const RaPrefix& p : m.prefixes)
        if (p.autonomous) ra6_autoconf(f, p);
    if (log.on(Logicmp))
        log.print(Logicmp, "icmp6: router advertisement from %s, lifetime %d\n",
                  fmt_ip(src).c_str(), m.routerlt);
}

// ---- timers -------------------------------------------------------------------------------

void Stack::ra6_tick(uint64_t now) {
    if (ra6_last != kNever && now >= ra6_last && now - ra6_last < 10) return;  // 10 ms is plenty
    ra6_last = now;
    uint64_t now_s = now / 1000;
    for (auto& c : ipifc->convs) {
        auto& f = static_cast<Ipifc&>(*c);
        if (!f.bound()) continue;
        if (f.rasched.due(now)) {
            ra6_send(f, false);
            f.rasched.sent(now, ra_intervals(f.ra.maxraint, f.ra.minraint), net.random());
        }
        if (f.rssched.due(now)) {
            if (const Iplifc* ll = linklocal_of(f)) {
                Ipaddr src = ll->local;
                nd_send(*this, f, src, v6allroutersL, rs_build(&f.mac));
            }
            f.rssched.sent(now);
        }
        for (size_t i = f.lifc.size(); i-- > 0;) {  // autoconfigured addresses run out
            const Iplifc& l = f.lifc[i];
            if (l.fromra && remaining(l.validlt, l.origint, now_s) == 0) {
                if (log.on(Logicmp))
                    log.print(Logicmp, "icmp6: %s expired\n", fmt_ip(l.local).c_str());
                ipifc->remove_lifc(f, i);
            }
        }
    }
    size_t n = routers6.size();
    std::erase_if(routers6, [&](const DefRouter6& r) { return r.expires <= now; });
    if (routers6.size() != n) defroute_sync();
}

void Net::stop_advertising() {
    for (auto& s : stacks_)
        if (s)
            for (auto& c : s->ipifc->convs) {
                auto& f = static_cast<Ipifc&>(*c);
                if (f.bound() && f.rasched.on()) {
                    s->ra6_send(f, true);
                    f.rasched.stop();
                }
            }
}

}  // namespace devip::proto
