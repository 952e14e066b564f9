// IPv6 on the control thread (RFC 8200): input checks, local delivery, the extension headers
// walked to find a fragment header, slow-path forwarding, output by the routing table with
// fragmentation of our own packets, ICMPv6 errors, and v6 source-address selection.
// Behaviour: ip3.md §4.4 (input, output), §4.4.1, §4.4.2 (errors), §4.3.4 (source selection);
// 9front ipv6.c ipiput6/ipoput6, ipifc.c ipv6local/findprimaryipv6, iproute.c v6source.
#include <algorithm>

#include "proto/fastpath.h"
#include "proto/icmp6.h"
#include "proto/ip6.h"
#include "proto/stack.h"

namespace devip::proto {

namespace {

constexpr size_t kIpMax = 64 * 1024;  // IP_MAX: packets of this size or more are dropped

std::span<const uint8_t> bytes(const std::string& s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Leading one bits of a mask (the source prefix of a source-specific route).
int leading_ones(const Ipaddr& m) {
    int n = 0;
    for (uint8_t x : m.b) {
        if (x == 0xff) {
            n += 8;
            continue;
        }
        while (x & 0x80) {
            n++;
            x = uint8_t(x << 1);
        }
        break;
    }
    return n;
}

bool deprecated(const Iplifc& l, uint64_t now_s) {
    return l.preflt != ~0u && l.preflt < now_s - l.origint;
}

}  // namespace

// ---- input ------------------------------------------------------------------------------

void Stack::ip6_input(Ipifc& f, std::span<const uint8_t> pkt) {
    ipstat[InReceives]++;
    if (pkt.size() < size_t(kIp6Hdr) || (pkt[0] >> 4) != 6) {
        ipstat[InHdrErrors]++;
        log.print(Logip, "ip6: bad version or short header\n");
        return;
    }
    size_t len = kIp6Hdr + get16(pkt.data() + kIp6Plen);
    if (len > pkt.size()) {
        ipstat[InHdrErrors]++;
        log.print(Logip, "ip6: bogus packet length %zu\n", len);
        return;
    }
    pkt = pkt.first(len);  // link padding trimmed
    Ipaddr dst = ip6_dst(pkt.data());
    if (!ipforme(dst)) {
        if (!ipifc->iprouting) return;
        // slow-path forwarding: link-local scope never leaves the link
        if (dst.is_linklocal6() || (is_v6_mcast(dst) && v6_mcast_scope(dst) <= 2)) {
            ipstat[OutDiscards]++;
            return;
        }
        Ipaddr src = ip6_src(pkt.data());
        const Route* r = rib.lookup(dst, src);
        if (!r || r->v4() || (r->ifc == f.x && !f.reflect)) {
            ipstat[OutDiscards]++;
            return;
        }
        uint8_t hop = pkt[kIp6Hop];
        if (hop <= 1) {
            ipstat[InHdrErrors]++;
            icmp6_error(f.x, pkt, Icmp6TimeExceed, 0);
            return;
        }
        // fragments are reassembled first when the interface out has `reassemble` (§3.3);
        // the whole packet is then fragmented again if it does not fit there (ip6_output)
        Ipifc* out = ipifc->ifc(r->ifc);
        std::string whole;
        if (!ip6_reassemble(pkt, whole, out && out->reassemble)) return;
        ipstat[ForwDatagrams]++;
        if (whole.empty()) whole.assign(pkt.begin(), pkt.end());
        if (out)
            ip6_mss_clamp(reinterpret_cast<uint8_t*>(whole.data()), whole.size(),
                          std::min(ip6_mtu(f), ip6_mtu(*out)));
        ip6_output(std::move(whole), uint8_t(hop - 1), 0, f.x);
        return;
    }

    std::string whole;  // the reassembled packet, or one without its atomic fragment header
    if (!ip6_reassemble(pkt, whole, true)) return;
    if (!whole.empty()) pkt = bytes(whole);
    // dispatched on the fixed header's next header (quirk 9): other extension headers stay
    uint8_t proto = pkt[kIp6Next];
    if (deliver(proto, true, f, pkt, kIp6Hdr)) return;
    ipstat[InDiscards]++;
    ipstat[InUnknownProtos]++;
    if (log.on(Logip))
        log.print(Logip, "ip6: no protocol %d from %s\n", proto,
                  fmt_ip(ip6_src(pkt.data())).c_str());
}

// 9front's procxtns: the headers in front of the fragmentable part are walked, and with
// doreasm a fragment is reassembled (§4.4.1). False when the packet is consumed: a bad chain
// (InHdrErrors, InDiscards) or a fragment waiting for the rest. whole gets the packet when
// reassembly changed it, else stays empty.
bool Stack::ip6_reassemble(std::span<const uint8_t> pkt, std::string& whole, bool doreasm) {
    Unfrag u = ip6_unfraglen(pkt.data(), pkt.size());
    if (u.len >= kIp6Hdr && u.next == kFragment && doreasm) {
        auto r = reass6.input(pkt, size_t(u.len), size_t(u.prev_next), net.now_ms, ipstat);
        if (!r) return false;
        whole = std::move(*r);
        u = ip6_unfraglen(reinterpret_cast<const uint8_t*>(whole.data()), whole.size());
        if (u.next == kFragment) u.len = -1;
    }
    if (u.len < kIp6Hdr) {
        ipstat[InHdrErrors]++;
        ipstat[InDiscards]++;
        return false;
    }
    return true;
}

// ---- output -----------------------------------------------------------------------------

bool Stack::ip6_send(const Ipaddr& src, const Ipaddr& dst, uint8_t proto, uint8_t hop,
                     uint8_t tos, std::span<const uint8_t> payload) {
    std::string p(kIp6Hdr, '\0');
    p.append(payload.begin(), payload.end());
    auto* b = reinterpret_cast<uint8_t*>(p.data());
    b[kIp6Next] = proto;
    std::memcpy(b + kIp6Src, src.b.data(), 16);
    std::memcpy(b + kIp6Dst, dst.b.data(), 16);
    return ip6_output(std::move(p), hop, tos);
}

bool Stack::ip6_output(std::string p, uint8_t hop, uint8_t tos, int gating) {
    ipstat[OutRequests]++;
    if (p.size() >= kIpMax || p.size() < size_t(kIp6Hdr)) {
        ipstat[OutDiscards]++;
        return false;
    }
    auto* b = reinterpret_cast<uint8_t*>(p.data());
    Ipaddr src = ip6_src(b), dst = ip6_dst(b);
    const Route* r = rib.lookup(dst, src);
    if (!r || r->v4()) {
        ipstat[OutNoRoutes]++;
        if (log.on(Logip))
            log.print(Logip, "ip6: %s -> %s: no interface\n", fmt_ip(src).c_str(),
                      fmt_ip(dst).c_str());
        return false;
    }
    Ipifc* f = ipifc->ifc(r->ifc);
    if (!f || !f->bound()) return false;
    Ipaddr nh = r->on_link() ? dst : r->gate;
    if (gating < 0) {
        b[0] = uint8_t(0x60 | tos >> 4);
        b[1] = uint8_t(tos << 4);
    }
    b[kIp6Hop] = hop;
    size_t room = ip6_mtu(*f);
    if (p.size() <= room) {
        put16(b + kIp6Plen, uint16_t(p.size() - kIp6Hdr));
        medium_output(*f, nh, std::move(p));
        return true;
    }
    if (gating >= 0 && !f->reassemble) {  // routers do not fragment (RFC 8200 §5)
        ipstat[OutDiscards]++;
        icmp6_error(gating, bytes(p), Icmp6TooBig, 0, uint32_t(room));
        return true;
    }
    // RFC 8200 §4.5: the unfragmentable part, a fragment header, 8-byte aligned pieces
    Unfrag u = ip6_unfraglen(b, p.size());
    size_t uf = size_t(u.len);
    if (u.len < kIp6Hdr || u.next == kFragment || uf > room ||
        room < uf + kIp6FragHdr + 8) {
        ipstat[FragFails]++;
        ipstat[OutDiscards]++;
        return true;
    }
    size_t seg = (room - (uf + kIp6FragHdr)) & ~size_t(7);
    uint32_t id = ++ip6id;
    uint8_t next = u.next;
    b[u.prev_next] = kFragment;
    for (size_t off = 0; off < p.size() - uf; off += seg) {
        size_t n = std::min(seg, p.size() - uf - off);
        bool more = off + n < p.size() - uf;
        std::string fr(p, 0, uf);
        uint8_t fh[kIp6FragHdr] = {next, 0, 0, 0};
        put16(fh + 2, uint16_t(off | (more ? 1 : 0)));
        put32(fh + 4, id);
        fr.append(reinterpret_cast<const char*>(fh), sizeof fh);
        fr.append(p, uf + off, n);
        put16(reinterpret_cast<uint8_t*>(fr.data()) + kIp6Plen, uint16_t(fr.size() - kIp6Hdr));
        ipstat[FragCreates]++;
        medium_output(*f, nh, std::move(fr));
    }
    ipstat[FragOKs]++;
    return true;
}

// ---- ICMPv6 errors (§4.4.2; 9front icmp6.c icmpsend6) -------------------------------------

void Stack::icmp6_error(int x, std::span<const uint8_t> pkt, uint8_t type, uint8_t code,
                        uint32_t arg) {
    if (pkt.size() < size_t(kIp6Hdr)) return;
    Ipaddr src = ip6_src(pkt.data()), dst = ip6_dst(pkt.data());
    Ipaddr ia;
    if (is_v6_mcast(dst) || is_v6_mcast(src) || !ipv6local(x, ia, 0, src)) return;
    if (!icmp_allow()) return;
    size_t keep = std::min(pkt.size(), kIp6MinMtu - kIp6Hdr - kIcmp6Hdr);
    std::string m(kIcmp6Hdr, '\0');
    m.append(reinterpret_cast<const char*>(pkt.data()), keep);
    auto* b = reinterpret_cast<uint8_t*>(m.data());
    b[0] = type;
    b[1] = code;
    put32(b + 4, arg);
    put16(b + 2, ip6_csum(ia, src, kProtoIcmp6, b, m.size()));
    icmp6->st.out[type]++;
    if (log.on(Logicmp))
        log.print(Logicmp, "icmp6: type %d code %d %s -> %s\n", type, code, fmt_ip(ia).c_str(),
                  fmt_ip(src).c_str());
    Ipifc* f = ipifc->ifc(x);
    if (f && (ipforme(src) & Runi) && self.find(src)) {  // about our own packet: straight in
        std::string p = ip6_packet(ia, src, kProtoIcmp6, 255, m);
        icmp6->input(*f, bytes(p));
        return;
    }
    ip6_send(ia, src, kProtoIcmp6, 255, 0, {b, m.size()});
}

// ---- source selection (§4.3.4) ----------------------------------------------------------

bool Stack::ipv6local(int x, Ipaddr& local, int prefixlen, const Ipaddr& remote) const {
    Ipifc* f = ipifc->ifc(x);
    if (!f) return false;
    const Iplifc* pick = nullptr;
    if (remote.is_v4()) {  // ipv4local: the v4 address sharing the longest prefix
        int best = -1;
        for (auto& l : f->lifc) {
            if (!(l.type & Rv4) || l.local.is_noaddr()) continue;
            if (prefixlen > 96 && common_prefix(l.local, local) < prefixlen) continue;
            int n = common_prefix(l.local, remote);
            if (n > best) {
                best = n;
                pick = &l;
            }
        }
    } else {
        struct Rank {
            int scope;        // V6Scope
            bool deprecated;  // preferred lifetime over
            int common;       // bits shared with remote
        };
        int want = v6_scope(remote);
        Rank b{ScopeUnknown, true, 0};
        uint64_t now = net.now_ms / 1000;
        for (auto& l : f->lifc) {
            if (l.tentative || (l.type & Rv4)) continue;
            if (prefixlen && common_prefix(l.local, local) < prefixlen) continue;
            Rank a{v6_scope(l.local), deprecated(l, now), common_prefix(l.local, remote)};
            bool better;
            if (a.scope != b.scope)  // the scope closest to remote's without going below it
                better = (a.scope > b.scope && b.scope < want) ||
                         (a.scope < b.scope && b.scope > want);
            else if (a.deprecated != b.deprecated)
                better = b.deprecated;
            else
                better = a.common > b.common;
            if (better) {
                b = a;
                pick = &l;
            }
        }
        if (pick && b.scope < want) return false;
    }
    if (!pick) return false;
    local = pick->local;
    return true;
}

Ipaddr Stack::findlocalip6(const Ipaddr& dst) const {
    // v6source: the most specific route toward dst whose interface yields an address
    std::vector<const Route*> rs;
    rib.matches(dst, rs);
    Ipaddr best;
    bool found = false;
    for (const Route* r : rs) {
        if (r->v4()) continue;
        Ipaddr src = r->src;
        int splen = r->source_specific() ? leading_ones(r->smask) : 0;
        if (!ipv6local(r->ifc, src, splen, dst)) continue;
        best = src;
        found = true;
    }
    if (found) return best;
    // findprimaryipv6: the best current address anywhere, global > ULA > link-local
    uint64_t now = net.now_ms / 1000;
    int scope = ScopeUnspecified;
    best = IPnoaddr;
    for (auto& c : ipifc->convs)
        for (auto& l : static_cast<Ipifc&>(*c).lifc) {
            int t = v6_scope(l.local);
            if (t <= scope || l.tentative || deprecated(l, now)) continue;
            best = l.local;
            scope = t;
            if (t == ScopeGlobal) return best;
        }
    return best;
}

}  // namespace devip::proto
