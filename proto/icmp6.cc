// ICMPv6 (RFC 4443, RFC 4861): validity checks, echo replies, advice to the protocols,
// delivery to user conversations by identifier (or by type for router messages), the
// neighbour solicitations and advertisements the stack consumes, user writes, stats.
// Behaviour: ip3.md §4.8.2, §4.8.3, §4.14.2, §2.10; 9front icmp6.c.
#include "proto/icmp6.h"

#include "proto/icmp_shard.h"
#include "proto/ip6.h"
#include "proto/stack.h"

namespace devip::proto {

namespace {

constexpr size_t kIcmp6Qmax = 64 * 1024;
constexpr size_t kIpIcmp = kIp6Hdr + kIcmp6Hdr;  // IPICMPSZ: both headers, 48 bytes
constexpr size_t kNdHdr = kIpIcmp + 16;          // NS/NA with the target: 64 bytes
constexpr size_t kMinAdvise = kIp6Hdr + 4;       // an embedded packet we can advise about
constexpr uint8_t kOptSrcLla = 1, kOptTargetLla = 2;

// Unreachable codes 0–6, then the text for any other code.
constexpr const char* kUnreach[8] = {
    "no route to destination", "comm with destination administratively prohibited",
    "beyond scope of source address", "address unreachable", "port unreachable",
    "source address failed ingress/egress policy", "reject route to destination",
    "icmp unreachable: unknown code",
};

constexpr const char* kStatNames[kIcmp6Stats] = {
    "InMsgs", "InErrors", "OutMsgs", "CsumErrs", "LenErrs", "HlenErrs", "HoplimErrs",
    "IcmpCodeErrs", "TargetErrs", "OptlenErrs", "AddrmxpErrs", "RouterAddrErrs",
};

// The named types, in numeric order: only these get a line in the stats file. Type 4 is both
// SrcQuench and the v6 parameter problem; 9front names it SrcQuench.
struct TypeName {
    uint8_t type;
    const char* name;
};
constexpr TypeName kTypeNames[] = {
    {0, "EchoReply"}, {1, "UnreachableV6"}, {2, "PacketTooBigV6"}, {3, "TimeExceedV6"},
    {4, "SrcQuench"}, {5, "Redirect"}, {8, "EchoRequest"}, {11, "TimeExceed"},
    {12, "InParmProblem"}, {13, "Timestamp"}, {14, "TimestampReply"}, {15, "InfoRequest"},
    {16, "InfoReply"}, {17, "AddrMaskRequest"}, {18, "AddrMaskReply"}, {128, "EchoRequestV6"},
    {129, "EchoReplyV6"}, {133, "RouterSolicit"}, {134, "RouterAdvert"}, {135, "NbrSolicit"},
    {136, "NbrAdvert"}, {137, "RedirectV6"},
};
constexpr bool in_type_order(const TypeName* t, size_t n) {
    for (size_t i = 1; i < n; i++)
        if (t[i].type <= t[i - 1].type) return false;
    return true;
}
static_assert(in_type_order(kTypeNames, std::size(kTypeNames)));

std::span<const uint8_t> bytes(const std::string& s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Walks the ND options from off to the end: false when one has length 0 or runs past the
// end (RFC 4861 §6.1.1, §7.1). *lla gets the MAC of the first option of type want, or null.
bool nd_options(std::span<const uint8_t> p, size_t off, uint8_t want, const uint8_t** lla) {
    if (lla) *lla = nullptr;
    while (off + 2 <= p.size()) {
        size_t n = size_t(p[off + 1]) * 8;
        if (n == 0 || off + n > p.size()) return false;
        if (lla && !*lla && p[off] == want && n >= 8) *lla = p.data() + off + 2;
        off += n;
    }
    return off == p.size();
}

bool has_option(std::span<const uint8_t> p, size_t off, uint8_t type) {
    for (; off + 2 <= p.size() && p[off + 1]; off += size_t(p[off + 1]) * 8)
        if (p[off] == type) return true;
    return false;
}

}  // namespace

// ---- conversations (§4.8.2) -------------------------------------------------------------

std::unique_ptr<Conv> Icmp6::make_conv(int x) {
    return std::make_unique<Conv>(*this, x, kIcmp6Qmax, true);
}

Err Icmp6::write_ctl(Conv& c, const CtlArgs& a) {
    Err e = Proto::write_ctl(c, a);
    sync_flow(c);
    return e;
}

Err Icmp6::ctl(Conv& c, const CtlArgs& a) {
    if (a.size() == 1 && a[0] == "headers") {
        c.headers = true;
        return ok;
    }
    return Eunknownctl;
}

// Link-local conversations stay here: delivery checks the arrival interface (deliver).
void Icmp6::sync_flow(Conv& c) {
    auto global = [](const Ipaddr& a) {
        return !a.is_v4() && !a.is_noaddr() && !a.is_linklocal6() && !is_v6_mcast(a);
    };
    bool on = c.inuse > 0 && c.state == ConvState::Connected && !c.headers &&
              global(c.raddr) && global(c.laddr);
    FlowMsg f{c.laddr, c.raddr, c.lport, 0, 0, c.ttl, c.tos, {}};
    flow_sync(c, on, f, true);
}

// As Icmp::worker_send: from a worker while its hint is current, else IP output here.
bool Icmp6::worker_send(Conv& c, std::span<const uint8_t> msg) {
    return !c.headers && flow_send(c, msg, 1452);
}

// The worker checked the message (an echo reply, its checksum) and matched the flow.
void Icmp6::completion(const MsgHdr& h, std::span<const uint8_t> data) {
    if (h.kind == MsgKind::TxSlow) {
        stack.tx_slow(true, data);
        return;
    }
    if (h.kind != MsgKind::DataIn || data.size() < kIpIcmp) return;
    if (data[kIp6Hdr] <= Icmp6MaxType) st.in[data[kIp6Hdr]]++;
    Conv* c = conv(int(h.conv));
    if (!c || c->gen != h.gen || c->inuse == 0) return;
    if (!c->rq.put(std::string(data.begin(), data.end()))) c->qin_dropped++;
}

void Icmp6::close(Conv& c) {
    sync_flow(c);  // the open count is 0: the flow goes
    c.headers = false;
    c.rq.hangup();
    c.eq.hangup();
    c.laddr = c.raddr = IPnoaddr;
    c.lport = c.rport = 0;
}

void Icmp6::state(const Conv& c, Text& t) const {
    t.put("Datagram qin %zu qout 0\n", c.rq.bytes());
}

// InMsgs and OutMsgs are never counted, and echo replies are counted under type 0, as in
// 9front (§2.10, quirk 15).
void Icmp6::stats(Text& t) const {
    for (int i = 0; i < kIcmp6Stats; i++)
        t.put("%s: %llu\n", kStatNames[i], (unsigned long long)st.n[i]);
    for (auto& k : kTypeNames)
        t.put("%s: %llu %llu\n", k.name, (unsigned long long)st.in[k.type],
              (unsigned long long)st.out[k.type]);
}

void Icmp6::counters(std::vector<Counter>& out) const {
    for (int i = 0; i < kIcmp6Stats; i++) out.push_back({kStatNames[i], st.n[i], {}});
    for (auto& k : kTypeNames) {
        out.push_back({"In", st.in[k.type], k.name});
        out.push_back({"Out", st.out[k.type], k.name});
    }
}

// One write = one message. Without headers: 40 bytes of IPv6 header space, then the message,
// whose identifier becomes the local port. With headers: the 40 bytes carry the source at
// 8 and the destination at 24, and the message goes out as written (icmpkick6).
Err Icmp6::write_data(Conv& c, std::span<const uint8_t> data) {
    if (data.size() < kIpIcmp) return ok;  // silently dropped
    Ipaddr src = c.laddr, dst = c.raddr;
    if (c.headers) {
        src = Ipaddr::from_bytes(data.data() + kIp6Src);
        dst = Ipaddr::from_bytes(data.data() + kIp6Dst);
    } else if (src.is_noaddr()) {
        src = stack.findlocalip(dst);
    }
    std::string m(data.begin() + kIp6Hdr, data.end());
    auto* b = reinterpret_cast<uint8_t*>(m.data());
    if (!c.headers) put16(b + 4, c.lport);
    put16(b + 2, 0);
    put16(b + 2, ip6_csum(src, dst, kProtoIcmp6, b, m.size()));
    if (b[0] <= Icmp6MaxType) st.out[b[0]]++;
    if (!c.headers && worker_send(c, {b, m.size()})) return ok;
    stack.ip6_send(src, dst, kProtoIcmp6, c.ttl, c.tos, {b, m.size()});
    return ok;
}

// ---- input ------------------------------------------------------------------------------

// RFC 4861 §6.1, §7.1 and RFC 4443 §2.4 checks (9front `valid`), counted by reason.
bool Icmp6::valid(std::span<const uint8_t> pkt) {
    auto bad = [&](Icmp6Stat why) {
        if (why != kIcmp6Stats) st.n[why]++;
        st.n[InErrors6]++;
        return false;
    };
    if (pkt.size() < kIpIcmp) return bad(HlenErrs6);
    const uint8_t* p = pkt.data();
    if (p[kIp6Next] != kProtoIcmp6) return bad(kIcmp6Stats);  // an extension header
    Ipaddr src = ip6_src(p), dst = ip6_dst(p);
    if (ip6_csum(src, dst, kProtoIcmp6, p + kIp6Hdr, pkt.size() - kIp6Hdr) != 0)
        return bad(CsumErrs6);
    uint8_t type = p[kIp6Hdr], code = p[kIp6Hdr + 1];
    bool nd = type == Icmp6NbrSolicit || type == Icmp6NbrAdvert;
    if (!nd && type != Icmp6RouterSolicit && type != Icmp6RouterAdvert && type != Icmp6Redirect)
        return true;
    if (p[kIp6Hop] != 255) return bad(HoplimErrs6);  // from off the link
    if (code != 0) return bad(IcmpCodeErrs6);
    if (nd) {
        if (pkt.size() < kNdHdr) return bad(HlenErrs6);
        if (is_v6_mcast(Ipaddr::from_bytes(p + kIpIcmp))) return bad(TargetErrs6);
        if (!nd_options(pkt, kNdHdr, 0, nullptr)) return bad(OptlenErrs6);
        // DAD goes to the solicited-node group without a source link-layer address. 9front
        // refuses any option; Linux adds a nonce (RFC 7527) that must not be refused.
        if (type == Icmp6NbrSolicit && src.is_noaddr() &&
            (!is_solicited_node(dst) || has_option(pkt, kNdHdr, kOptSrcLla)))
            return bad(AddrmxpErrs6);
        if (type == Icmp6NbrAdvert && is_v6_mcast(dst) && (p[kIp6Hdr + 4] & kNaSolicited))
            return bad(AddrmxpErrs6);
        return true;
    }
    if (type == Icmp6RouterAdvert) {
        if (pkt.size() < kIp6Hdr + 16) return bad(HlenErrs6);
        if (!src.is_linklocal6()) return bad(RouterAddrErrs6);
        if (!nd_options(pkt, kIp6Hdr + 16, 0, nullptr)) return bad(OptlenErrs6);
    } else if (type == Icmp6RouterSolicit) {
        if (pkt.size() < kIpIcmp) return bad(HlenErrs6);
        if (!nd_options(pkt, kIpIcmp, 0, nullptr)) return bad(OptlenErrs6);
        if (src.is_noaddr() && has_option(pkt, kIpIcmp, kOptSrcLla)) return bad(OptlenErrs6);
    }
    return true;
}

void Icmp6::input(Ipifc& f, std::span<const uint8_t> pkt) {
    if (!valid(pkt)) return;
    const uint8_t* p = pkt.data();
    uint8_t type = p[kIp6Hdr], code = p[kIp6Hdr + 1];
    if (type > Icmp6MaxType) return;
    st.in[type]++;
    Ipaddr src = ip6_src(p);
    if (stack.log.on(Logicmp))
        stack.log.print(Logicmp, "icmp6: type %d code %d from %s\n", type, code,
                        fmt_ip(src).c_str());
    switch (type) {
    case Icmp6EchoRequest:
        echo(f, pkt);
        return;
    case Icmp6Unreachable:
        error_in(f, pkt, Err{kUnreach[code < 7 ? code : 7]});
        return;
    case Icmp6TimeExceed:
        if (code > 1) break;
        error_in(f, pkt, err_text("%s exceeded at %s", code ? "frag time" : "ttl",
                                  fmt_ip(src).c_str()));
        return;
    case Icmp6TooBig:
        stack.icmp_mtu = get32(p + kIp6Hdr + 4);  // for TCP's path MTU discovery
        error_in(f, pkt, err_text("packet too big for %u mtu at %s", get32(p + kIp6Hdr + 4),
                                  fmt_ip(src).c_str()));
        stack.icmp_mtu = 0;
        return;
    case Icmp6RouterAdvert:  // learned from (recvra), and delivered by type as in 9front
        stack.ra6_input(f, pkt);
        deliver(f, pkt, type);
        return;
    case Icmp6RouterSolicit:  // answered on advertising interfaces, and delivered by type
        stack.rs_input(f, pkt);
        deliver(f, pkt, type);
        return;
    case Icmp6NbrSolicit:
        nbr_solicit(f, pkt);
        return;
    case Icmp6NbrAdvert:
        nbr_advert(f, pkt);
        return;
    default:
        break;
    }
    deliver(f, pkt, 0);
}

// An echo request to us: answered, never delivered (§4.8.2). A request to a group we joined
// is answered from our best address toward the sender.
void Icmp6::echo(Ipifc& f, std::span<const uint8_t> pkt) {
    Ipaddr src = ip6_src(pkt.data()), dst = ip6_dst(pkt.data()), me = dst;
    if (is_v6_mcast(src)) return;
    if (is_v6_mcast(dst) && !stack.ipv6local(f.x, me, 0, src)) return;
    std::string m(pkt.begin() + kIp6Hdr, pkt.end());
    auto* b = reinterpret_cast<uint8_t*>(m.data());
    b[0] = Icmp6EchoReply;
    put16(b + 2, 0);
    put16(b + 2, ip6_csum(me, src, kProtoIcmp6, b, m.size()));
    st.out[0]++;  // quirk 15: under EchoReply, not EchoReplyV6
    stack.ip6_send(me, src, kProtoIcmp6, 255, 0, {b, m.size()});
}

// Unreachable, time exceeded, packet too big: advice to the protocol that sent the packet
// inside, else delivered like any message.
void Icmp6::error_in(Ipifc& f, std::span<const uint8_t> pkt, Err why) {
    std::span<const uint8_t> emb = pkt.subspan(kIpIcmp);
    if (emb.size() < kMinAdvise) {
        st.n[LenErrs6]++;
        return;
    }
    std::string unfrag;  // a first fragment without its fragment header
    if ((emb[0] >> 4) == 6 && emb[kIp6Next] == kFragment &&
        emb.size() >= kMinAdvise + kIp6FragHdr &&
        (get16(emb.data() + kIp6Hdr + 2) & ~7) == 0) {
        unfrag.assign(emb.begin(), emb.begin() + kIp6Hdr);
        unfrag[kIp6Next] = char(emb[kIp6Hdr]);
        unfrag.append(emb.begin() + kIp6Hdr + kIp6FragHdr, emb.end());
        emb = bytes(unfrag);
    }
    if ((emb[0] >> 4) == 6) {
        if (stack.log.on(Logicmp))
            stack.log.print(Logicmp, "icmp6: advising %d %s -> %s: %s\n", emb[kIp6Next],
                            fmt_ip(ip6_src(emb.data())).c_str(),
                            fmt_ip(ip6_dst(emb.data())).c_str(), why.text);
        if (stack.advise(emb[kIp6Next], emb, why)) return;
    }
    deliver(f, pkt, 0);
}

void Icmp6::advise(std::span<const uint8_t> emb, Err why) {
    if (emb.size() < kIp6Hdr + 6) return;
    Ipaddr src = ip6_src(emb.data()), dst = ip6_dst(emb.data());
    uint16_t id = get16(emb.data() + kIp6Hdr + 4);
    for (auto& c : convs) {
        if (c->inuse == 0 || c->lport != id || c->raddr != dst) continue;
        if (c->laddr != src && !c->laddr.is_noaddr()) continue;
        if (!c->ignoreadvice) c->rq.hangup(why);
        return;  // the first match only
    }
}

// goticmpkt6: to every conversation whose local port is the identifier (muxkey 0) or the
// type (router messages), and whose local address is the packet's destination or whose
// remote address is its source (for router messages: its destination). A link-local local
// address must also be on the arrival interface. The IPv6 header comes along.
void Icmp6::deliver(Ipifc& f, std::span<const uint8_t> pkt, int muxkey) {
    const uint8_t* p = pkt.data();
    uint16_t key = muxkey ? uint16_t(muxkey) : get16(p + kIp6Hdr + 4);
    Ipaddr dst = ip6_dst(p), addr = muxkey ? dst : ip6_src(p);
    for (auto& c : convs) {
        if (c->inuse == 0 || c->lport != key) continue;
        if (c->laddr != dst && c->raddr != addr) continue;
        if (c->laddr.is_linklocal6()) {
            bool here = false;
            for (auto& l : f.lifc) here |= l.local == c->laddr;
            if (!here) continue;
        }
        if (!c->rq.put(std::string(pkt.begin(), pkt.end()))) c->qin_dropped++;
    }
}

// ---- neighbour discovery (§4.14.2) ------------------------------------------------------

// A solicitation for our non-tentative address, or one we proxy, is answered. Flags: R when
// this interface sends RAs, O for our own address, S when solicited from a unicast source.
// 9front sends nothing for DAD (its source :: slips through ipv6local) and nothing when the
// solicitation carries no source link-layer address; here DAD is answered to ff02::1 as RFC
// 4861 §7.2.4 says, and a unicast solicitation without the option is answered unicast, the
// destination's MAC then coming from the cache. The answer goes out on the receiving link
// with no route lookup (a link-local solicitor is entered without a route: nd_enter), from
// the target itself when it is ours, as Linux and the BSDs answer: 9front's source toward the
// solicitor would be a link-local address for a global target, which tools that match the
// reply's scope to the target's (ndisc6) ignore. A proxied target is answered from our best
// address toward the solicitor.
void Icmp6::nbr_solicit(Ipifc& f, std::span<const uint8_t> pkt) {
    if (f.medium != Medium::Ether && f.medium != Medium::Gbe) return;
    const uint8_t* p = pkt.data();
    Ipaddr src = ip6_src(p), target = Ipaddr::from_bytes(p + kIpIcmp);
    int t = stack.nd_forme(f, target, src);
    if (!t) return;  // not ours, or tentative: 9front leaves DAD conflicts to ipconfig
    uint8_t flags = f.ra.sendra ? kNaRouter : 0;
    if (t == Runi) flags |= kNaOverride;
    Ipaddr ia, dst = v6allnodesL;
    if (!src.is_noaddr() && stack.ipv6local(f.x, ia, 0, src)) {
        const uint8_t* lla;
        nd_options(pkt, kNdHdr, kOptSrcLla, &lla);
        if (lla) {
            Ether mac;
            std::memcpy(mac.b.data(), lla, 6);
            if (!stack.nd_enter(src, f.x, mac, ia, false)) return;
        }
        flags |= kNaSolicited;
        dst = src;
    }
    stack.nd_send_na(f, t == Runi || dst == v6allnodesL ? target : ia, dst, target, flags);
}

// An advertisement refreshes an existing entry. For a tentative address of ours it is entered
// under that address, so that a duplicate shows in /net/arp (ipconfig's DAD check).
void Icmp6::nbr_advert(Ipifc& f, std::span<const uint8_t> pkt) {
    if (f.medium != Medium::Ether && f.medium != Medium::Gbe) return;
    Ipaddr target = Ipaddr::from_bytes(pkt.data() + kIpIcmp);
    const uint8_t* lla;
    nd_options(pkt, kNdHdr, kOptTargetLla, &lla);
    if (!lla) return;
    Ether mac;
    std::memcpy(mac.b.data(), lla, 6);
    const Iplifc* mine = nullptr;
    for (auto& l : f.lifc)
        if (l.local == target) mine = &l;
    Ipaddr ia;
    if (mine && mine->tentative) {
        if (stack.log.on(Logicmp))
            stack.log.print(Logicmp, "icmp6: %s is a duplicate (%s)\n", fmt_ip(target).c_str(),
                            fmt_ether(mac).c_str());
        stack.nd_enter(target, f.x, mac, target, false);
    } else if (stack.ipv6local(f.x, ia, 0, target)) {
        stack.nd_enter(target, f.x, mac, ia, true);
    }
}

}  // namespace devip::proto
