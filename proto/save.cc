// The running configuration as a replayable config file (ipctl save, /net/config): the
// /net writes that rebuild this stack in a fresh devipd, one "PATH MESSAGE" per line, the
// format of devipd --config. Only what a user made: interfaces and their settings, their
// addresses (not SLAAC's), routes but no interface/self routes (tag "ifc ") nor the default
// route router advertisements installed, the ndb text, the neighbour entries written to
// /net/arp. Protocols add theirs through Proto::save (tunnels, and their keys with -k).
#include <algorithm>

#include "proto/stack.h"
#include "proto/tunnel.h"

namespace devip::proto {
namespace {

// A mask as an add/iproute write takes it: "/N" (v4: a v4 prefix length), else the address.
std::string mask_arg(const Ipaddr& m, bool v4) {
    int n = mask_len(m);
    if (v4) {
        if (n >= 96) return "/" + std::to_string(n - 96);
        return fmt_ip(Ipaddr::v4(uint32_t(m.b[12]) << 24 | m.b[13] << 16 | m.b[14] << 8 |
                                 m.b[15]));
    }
    return n >= 0 ? "/" + std::to_string(n) : fmt_ip(m);
}

std::string tag_text(const RouteTag& t) {
    std::string s(t.data(), 4);
    s.resize(std::min(s.find('\0'), s.size()));
    return s.empty() ? "none" : s;
}

uint32_t remaining(uint32_t lt, uint64_t origin, uint64_t now) {
    if (lt == ~0u) return lt;
    uint64_t end = origin + lt;
    return now >= end ? 0 : uint32_t(end - now);
}

}  // namespace

// One interface: bind, settings, addresses. x is the number it gets when replayed.
void Stack::save_ifc(Text& t, const Ipifc& f, int x, bool first) const {
    const MediumInfo* m = medium_info(f.medium);
    std::string dflt = std::string(m->name) + std::to_string(f.x);  // bind without a device
    if (f.medium == Medium::Gre) {  // the endpoints and options as bound
        t.put("/net/ipifc/clone bind gre %s %s", fmt_ip(f.tun.src).c_str(),
              fmt_ip(f.tun.dst).c_str());
        if (f.tun.greflags & kGreK) t.put(" key %u", f.tun.grekey);
        if (f.tun.greflags & kGreC) t.put(" csum");
        if (f.tun.greflags & kGreS) t.put(" seq");
        t.put("\n");
    } else {
        t.put("/net/ipifc/clone bind %s%s%s\n", m->name, f.dev == dflt ? "" : " ",
              f.dev == dflt ? "" : f.dev.c_str());
    }
    const std::string ctl = "/net/ipifc/" + std::to_string(x) + "/ctl";
    if (first && ipifc->iprouting_set)  // stack-wide, written through any interface
        t.put("%s iprouting %d\n", ctl.c_str(), ipifc->iprouting ? 1 : 0);
    // a tunnel's maxtu follows from its outer path when bound
    if (f.maxtu != m->maxtu && !f.tunnel()) t.put("%s mtu %d\n", ctl.c_str(), f.maxtu);
    if (f.speed) t.put("%s speed %ld\n", ctl.c_str(), f.speed);
    if (f.delay != 40) t.put("%s delay %d\n", ctl.c_str(), f.delay);
    if (f.reflect) t.put("%s reflect 1\n", ctl.c_str());
    if (f.reassemble) t.put("%s reassemble 1\n", ctl.c_str());
    struct Key {
        const char* name;
        int RaParams::*field;
        bool learned;   // recvra: router advertisements set it (ra6.cc), so it is not saved
    };
    static constexpr Key kRa[] = {
        {"recvra", &RaParams::recvra, false},     {"sendra", &RaParams::sendra, false},
        {"mflag", &RaParams::mflag, true},        {"oflag", &RaParams::oflag, true},
        {"maxraint", &RaParams::maxraint, false}, {"minraint", &RaParams::minraint, false},
        {"linkmtu", &RaParams::linkmtu, true},    {"reachtime", &RaParams::reachtime, true},
        {"rxmitra", &RaParams::rxmitra, true},    {"ttl", &RaParams::ttl, true},
        {"routerlt", &RaParams::routerlt, true},
    };
    const RaParams def{};
    std::string ra;
    for (auto& k : kRa)
        if (f.ra.*k.field != def.*k.field && !(k.learned && f.ra.recvra))
            ra += " " + std::string(k.name) + " " + std::to_string(f.ra.*k.field);
    if (!ra.empty()) t.put("%s ra6%s\n", ctl.c_str(), ra.c_str());
    const uint64_t now = net.now_ms / 1000;
    for (const Iplifc& l : f.lifc) {
        if (l.fromra) continue;  // SLAAC: the next router advertisement makes it again
        bool v4 = l.local.is_v4();
        Ipaddr id = l.local & l.mask;
        bool six = !v4 && mask_len(l.mask) >= 0 && mask_len(l.mask) <= 64 &&
                   ipifc->ifc_id(f, id) && id == l.local;
        if (six && (!l.onlink || !l.autoflag || l.validlt != ~0u || l.preflt != ~0u)) {
            t.put("%s add6 %s %d %d %d %u %u\n", ctl.c_str(),
                  fmt_ip(l.local & l.mask).c_str(), mask_len(l.mask), l.onlink, l.autoflag,
                  remaining(l.validlt, l.origint, now), remaining(l.preflt, l.origint, now));
            continue;
        }
        t.put("%s %s %s %s", ctl.c_str(), l.tentative ? "try" : "add",
              fmt_ip(l.local).c_str(), mask_arg(l.mask, v4).c_str());
        uint16_t flags = l.type & (Rproxy | Rtrans);
        if (l.remote != (l.local & l.mask) || flags) t.put(" %s", fmt_ip(l.remote).c_str());
        if (flags)
            t.put(" 0 %s%s%s", flags & Rproxy ? "proxy" : "",
                  flags == (Rproxy | Rtrans) ? "," : "", flags & Rtrans ? "trans" : "");
        t.put("\n");
    }
}

void Stack::config_text(Text& t, bool keys) const {
    t.put("# devip stack %d: the running configuration (ipctl save)\n", n);
    std::vector<int> renum(ipifc->convs.size(), -1);  // interface number when replayed
    int next = 0;
    for (auto& c : ipifc->convs) {
        auto& f = static_cast<const Ipifc&>(*c);
        if (!f.bound()) continue;
        if (medium_info(f.medium)->unbind_on_close) {
            t.put("# ipifc %d (%s) not saved: it lives while its ctl is open\n", f.x,
                  f.dev.c_str());
            continue;
        }
        // an ESP tunnel: its conversations live only while something holds them, and a
        // replay of manual keys would start the sequence numbers (GCM, CTR and ChaCha20
        // nonces) again at 1; a config file of its own keys it (configs/ipsec-gateway.conf)
        if (f.medium == Medium::Esp) {
            t.put("# ipifc %d (esp %s) not saved: an ESP tunnel interface (keys: its own "
                  "config file)\n", f.x, f.dev.c_str());
            continue;
        }
        renum[size_t(f.x)] = next;
        save_ifc(t, f, next, next == 0);
        next++;
    }
    std::vector<std::string> routes;
    rib.for_each([&](const Route& r) {
        if (r.tag == kTagIfc) return;  // interface and self routes: the adds make them
        if (defroute6_set && r.dst == defroute6.dst && r.mask == defroute6.mask &&
            r.gate == defroute6.gate && r.ifc == defroute6.ifc && r.tag == defroute6.tag)
            return;  // the default route router advertisements installed
        if (r.ifc < 0 || size_t(r.ifc) >= renum.size() || renum[size_t(r.ifc)] < 0) return;
        char flags[8];
        route_type_text(r.type, flags);
        bool v4 = r.v4();
        routes.push_back("/net/iproute add " + fmt_ip(r.dst) + " " + mask_arg(r.mask, v4) +
                         " " + fmt_ip(r.gate) + " " + flags + " " + tag_text(r.tag) + " " +
                         std::to_string(renum[size_t(r.ifc)]) + " " + fmt_ip(r.src) + " " +
                         mask_arg(r.smask, v4) + "\n");
    });
    std::sort(routes.begin(), routes.end());
    for (auto& r : routes) t.put(r);
    std::string arps;
    arpuser_text(arps);
    for (size_t p = 0; p < arps.size();) {
        size_t e = arps.find('\n', p);
        t.put("/net/arp ");
        t.put(std::string_view(arps).substr(p, e + 1 - p));
        p = e + 1;
    }
    for (size_t p = 0; p < ndb.size();) {  // one write per line; devipd --config appends them
        size_t e = ndb.find('\n', p);
        if (e == std::string::npos) e = ndb.size();
        std::string_view l = std::string_view(ndb).substr(p, e - p);
        t.put(l.empty() ? "/net/ndb\n" : "/net/ndb ");
        if (!l.empty()) {
            t.put(l);
            t.put("\n");
        }
        p = e + 1;
    }
    for (auto& p : protos) p->save(t, keys);
}

}  // namespace devip::proto
