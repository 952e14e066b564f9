// GRE conversations (RFC 1701/1702), IPv4 only, and 9front's retunnelling. Behaviour:
// ip3.md §3.9 (ctl verbs and errors), §4.10.1 (connect addr!proto, the 8-byte address
// prefix on data, raw and cooked, delivery), §4.10.2 (retunnel: downlink, uplink, rings),
// §2.4 (status line), §2.10 (stats). Runs on the control thread.
#include "proto/gre.h"

#include "proto/tunnel.h"

#include <cstdlib>
#include <cstring>

#include "proto/ipaux.h"
#include "proto/stack.h"
#include "proto/wire.h"

namespace devip::proto {

GreCounters gre_counters;

namespace {

constexpr size_t kGreQmax = 256 * 1024;  // gre.c GREqlen
constexpr size_t kAddrs = 8;             // the data's IPv4 source and destination
constexpr size_t kMinData = 12;          // addresses, flags, protocol type

Gre& gre_proto(GreConv& c) { return static_cast<Gre&>(*c.p); }

// The optional fields' length for flags (RFC 1701 §2.1); gre.c drops routing.
size_t opt_len(uint16_t flags) {
    size_t n = 0;
    if (flags & (kGreCsum | kGreRouting)) n += 4;  // checksum and offset
    if (flags & kGreKey) n += 4;
    if (flags & kGreSeq) n += 4;
    return n;
}

// gre.c's v4parseip: a dotted quad; what does not parse is 0.0.0.0.
uint32_t v4(std::string_view s) {
    auto a = parseip(s);
    if (!a || !a->is_v4()) return 0;
    return get32(a->b.data() + 12);
}

std::string quad(uint32_t a) { return fmt_ip(Ipaddr::v4(a)); }

Err gre_raw(GreConv& c, const CtlArgs&) {
    c.raw = true;
    return ok;
}

Err gre_cooked(GreConv& c, const CtlArgs&) {
    c.raw = false;
    return ok;
}

Err gre_retunnel(GreConv& c, const CtlArgs& a) {
    if (c.hoa) return Egretunnel;
    uint32_t hoa = v4(a[1]);
    if (!hoa) return Egrehoa;
    c.hoa = hoa;
    c.north = v4(a[2]);
    c.south = v4(a[3]);
    c.coa = v4(a[4]);
    c.ulsusp = true;
    c.dlsusp = false;
    return ok;
}

// Frees pending downlink packets numbered before seq (serial-number order).
Err gre_report(GreConv& c, const CtlArgs& a) {
    uint32_t seq = uint32_t(std::strtoul(a[1].c_str(), nullptr, 0));
    GreRing& r = c.dlpending;
    while (!r.q.empty() && int32_t(seq - r.q.front().seq) > 0) {
        r.q.pop_front();
        r.consumed++;
    }
    return ok;
}

Err gre_dlsuspend(GreConv& c, const CtlArgs&) {
    if (c.dlsusp) return Egresusp;
    c.dlsusp = true;
    return ok;
}

Err gre_ulsuspend(GreConv& c, const CtlArgs&) {
    if (c.ulsusp) return Egresusp;
    c.ulsusp = true;
    return ok;
}

// The buffered downlink goes to south (from coa) and becomes pending.
Err gre_dlresume(GreConv& c, const CtlArgs&) {
    if (!c.dlsusp) return Egrenotsusp;
    GrePkt p;
    while (c.dlbuffered.take(p)) {
        gre_proto(c).send(p, c.coa, c.south);
        c.dlpending.add(std::move(p));
    }
    c.dlsusp = false;
    return ok;
}

Err gre_ulresume(GreConv& c, const CtlArgs&) {
    GrePkt p;
    while (c.ulbuffered.take(p)) gre_proto(c).send(p, p.src, p.dst);
    c.ulsusp = false;
    return ok;
}

// Hand-over to newsouth: south and north change first (even when the error follows, as in
// gre.c), then pending and buffered packets are sent there.
Err gre_forward(GreConv& c, const CtlArgs& a) {
    c.south = c.north = v4(a[1]);
    if (!c.dlsusp) return Egrenotsusp;
    c.dlsusp = c.ulsusp = false;
    Gre& g = gre_proto(c);
    GrePkt p;
    while (c.dlpending.take(p)) g.send(p, c.coa, c.south);
    while (c.dlbuffered.take(p)) g.send(p, c.coa, c.south);
    while (c.ulbuffered.take(p)) g.send(p, c.coa, c.south);
    return ok;
}

Err gre_ulkey(GreConv& c, const CtlArgs& a) {
    c.ulkey = uint32_t(std::strtoul(a[1].c_str(), nullptr, 0));
    return ok;
}

constexpr CtlCmd<GreConv> kGreCtl[] = {
    {"raw", 1, gre_raw},             {"cooked", 1, gre_cooked},
    {"retunnel", 5, gre_retunnel},   {"report", 2, gre_report},
    {"dlsuspend", 1, gre_dlsuspend}, {"ulsuspend", 1, gre_ulsuspend},
    {"dlresume", 1, gre_dlresume},   {"ulresume", 1, gre_ulresume},
    {"forward", 2, gre_forward},     {"ulkey", 2, gre_ulkey},
};

}  // namespace

void GreRing::add(GrePkt p) {
    if (produced - consumed >= kSlots) {  // full: the oldest goes
        q.pop_front();
        consumed++;
    }
    q.push_back(std::move(p));
    produced++;
}

bool GreRing::take(GrePkt& p) {
    if (q.empty()) return false;
    p = std::move(q.front());
    q.pop_front();
    consumed++;
    return true;
}

GreConv::GreConv(Proto& p, int x) : Conv(p, x, kGreQmax, true) {}

std::unique_ptr<Conv> Gre::make_conv(int x) { return std::make_unique<GreConv>(*this, x); }

// The standard connect, then one conversation per (remote address, protocol type).
Err Gre::connect(Conv& c, const CtlArgs& a) {
    if (Err e = Proto::connect(c, a)) return e;
    for (auto& t : convs) {
        if (t.get() == &c) continue;
        if (t->rport == c.rport && t->raddr == c.raddr) {
            c.laddr = c.raddr = IPnoaddr;
            return Egreinuse;
        }
    }
    return ok;
}

Err Gre::ctl(Conv& c, const CtlArgs& a) {
    if (a.empty()) return Egrefew;
    return run_ctl<GreConv>(kGreCtl, static_cast<GreConv&>(c), a, Egrenocmd, Egreargs);
}

void Gre::close(Conv& cv) {
    auto& c = static_cast<GreConv&>(cv);
    c.hoa = c.north = c.south = 0;  // forward nothing more; coa and ulkey stay (gre.c)
    c.dlpending.clear();
    c.dlbuffered.clear();
    c.ulbuffered.clear();
    c.raw = false;
    c.seq = 0;
    c.dlsusp = c.ulsusp = true;
    c.rq.hangup(Egresessend);
    c.eq.hangup(Egresessend);
    c.laddr = c.raddr = IPnoaddr;
    c.lport = c.rport = 0;
}

void Gre::state(const Conv& cv, Text& t) const {
    auto& c = static_cast<const GreConv&>(cv);
    t.put("%s%s%s%shoa %s north %s south %s seq %x pending %u  %u buffered dl %u %u ul %u %u "
          "ulkey %.8x\n",
          c.inuse ? "Open " : "Closed ", c.raw ? "raw " : "", c.dlsusp ? "DL suspended " : "",
          c.ulsusp ? "UL suspended " : "", quad(c.hoa).c_str(), quad(c.north).c_str(),
          quad(c.south).c_str(), c.seq, c.dlpending.consumed, c.dlpending.produced,
          c.dlbuffered.consumed, c.dlbuffered.produced, c.ulbuffered.consumed,
          c.ulbuffered.produced, c.ulkey);
}

void Gre::stats(Text& t) const {
    const GreCounters& g = gre_counters;
    t.put("gre: %llu %llu %llu %llu %llu %llu %llu %llu, lenerrs %llu\n",
          (unsigned long long)g.pdin, (unsigned long long)g.pdout, (unsigned long long)g.puin,
          (unsigned long long)g.puout, (unsigned long long)g.bdin, (unsigned long long)g.bdout,
          (unsigned long long)g.buin, (unsigned long long)g.buout, (unsigned long long)lenerrs);
}

void Gre::counters(std::vector<Counter>& out) const {
    const GreCounters& g = gre_counters;
    out.push_back({"PktsDownIn", g.pdin, {}});
    out.push_back({"PktsDownOut", g.pdout, {}});
    out.push_back({"PktsUpIn", g.puin, {}});
    out.push_back({"PktsUpOut", g.puout, {}});
    out.push_back({"BytesDownIn", g.bdin, {}});
    out.push_back({"BytesDownOut", g.bdout, {}});
    out.push_back({"BytesUpIn", g.buin, {}});
    out.push_back({"BytesUpOut", g.buout, {}});
    out.push_back({"LenErrs", lenerrs, {}});
}

void Gre::send(const GrePkt& p, uint32_t src, uint32_t dst) {
    stack.ip4_send(Ipaddr::v4(src), Ipaddr::v4(dst), kProtoGre, uint8_t(p.ttl - 1), p.tos,
                   {reinterpret_cast<const uint8_t*>(p.gre.data()), p.gre.size()});
}

// Data: IPv4 source, destination, then the GRE header and payload (§4.10.1). Cooked mode
// fills in zero addresses and the protocol type.
Err Gre::write_data(Conv& c, std::span<const uint8_t> data) {
    if (data.size() < kMinData) return ok;  // dropped
    std::string gre(data.begin() + kAddrs, data.end());
    uint32_t src = get32(data.data()), dst = get32(data.data() + 4);
    if (!static_cast<GreConv&>(c).raw) {
        if (dst == 0 && !c.raddr.is_v4()) return ok;  // IPv4 only: nowhere to send it
        if (dst == 0) dst = get32(c.raddr.b.data() + 12);
        if (src == 0) {
            if (c.laddr.is_noaddr()) c.laddr = stack.findlocalip(Ipaddr::v4(dst));
            src = get32(c.laddr.b.data() + 12);
        }
        put16(reinterpret_cast<uint8_t*>(gre.data()) + 2, c.rport);
    }
    gre_counters.pdout++;
    gre_counters.bdout += kIp4Hdr + gre.size();
    stack.log.print(Loggre, "gre: %s -> %s len %zu\n", quad(src).c_str(), quad(dst).c_str(),
                    gre.size());
    stack.ip4_send(Ipaddr::v4(src), Ipaddr::v4(dst), kProtoGre, c.ttl, c.tos,
                   {reinterpret_cast<const uint8_t*>(gre.data()), gre.size()});
    return ok;
}

// Downlink (inner destination is hoa): the options become one sequence number, the packet
// goes from coa to south (or into the buffer while suspended) and stays pending.
void Gre::downlink(GreConv& c, const uint8_t* ip, size_t hlen, std::string gre, size_t opt) {
    if (ip[8] == 1) return;  // TTL would expire
    GrePkt p;
    p.ttl = ip[8];
    p.tos = ip[1];
    p.seq = c.seq++;
    std::string out(8, '\0');
    auto* b = reinterpret_cast<uint8_t*>(out.data());
    put16(b, kGreSeq);
    std::memcpy(b + 2, gre.data() + 2, 2);
    put32(b + 4, p.seq);
    out.append(gre, 4 + opt, std::string::npos);
    p.gre = std::move(out);
    (void)hlen;
    if (c.dlsusp) {
        c.dlbuffered.add(std::move(p));
        return;
    }
    send(p, c.coa, c.south);
    gre_counters.pdout++;
    gre_counters.bdout += kIp4Hdr + p.gre.size();
    c.dlpending.add(std::move(p));
}

// Uplink (inner source is hoa): from coa to north, with ulkey put in when set.
void Gre::uplink(GreConv& c, const uint8_t* ip, std::string gre, size_t opt) {
    if (ip[8] == 1) return;
    GrePkt p;
    p.ttl = ip[8];
    p.tos = ip[1];
    p.src = c.coa;
    p.dst = c.north;
    if (c.ulkey) {
        uint16_t flags = get16(reinterpret_cast<const uint8_t*>(gre.data()));
        if (flags & (kGreCsum | kGreRouting)) return;
        if (!(flags & kGreKey)) {  // room for the key, the first optional field now
            gre.insert(4, 4, '\0');
            put16(reinterpret_cast<uint8_t*>(gre.data()), uint16_t(flags | kGreKey));
        }
        put32(reinterpret_cast<uint8_t*>(gre.data()) + 4, c.ulkey);
    }
    (void)opt;
    p.gre = std::move(gre);
    if (c.ulsusp) {
        c.ulbuffered.add(std::move(p));
        return;
    }
    send(p, p.src, p.dst);
    gre_counters.puout++;
    gre_counters.buout += kIp4Hdr + p.gre.size();
}

void Gre::input(Ipifc& f, std::span<const uint8_t> pkt, size_t hlen) {
    (void)f;
    if (tun_gre_input(stack, pkt, hlen)) return;  // a gre tunnel interface's (tunnel.cc)
    if (pkt.size() < hlen + 4) {
        lenerrs++;
        return;
    }
    const uint8_t* g = pkt.data() + hlen;
    uint16_t flags = get16(g), eproto = get16(g + 2);
    uint32_t src = get32(pkt.data() + 12);
    if (flags & kGreRouting) {
        stack.log.print(Loggre, "gre: %s routing info present; packet discarded\n",
                        quad(src).c_str());
        return;
    }
    size_t opt = opt_len(flags);
    if (pkt.size() < hlen + 4 + opt) {
        lenerrs++;
        return;
    }
    // gre.c wants an IPv4 header's worth of payload, whatever the protocol type
    if (pkt.size() - hlen - 4 - opt < size_t(kIp4Hdr)) {
        stack.log.print(Loggre, "gre: packet too short from %s\n", quad(src).c_str());
        return;
    }
    const uint8_t* inner = g + 4 + opt;
    std::string gre(reinterpret_cast<const char*>(g), pkt.size() - hlen);
    if (eproto == kGreIp4) {  // retunnelling first (§4.10.2)
        uint32_t idst = get32(inner + 16), isrc = get32(inner + 12);
        for (auto& p : convs) {
            auto* c = static_cast<GreConv*>(p.get());
            if (!c->inuse || !c->hoa) continue;
            if (idst == c->hoa) {
                gre_counters.pdin++;
                gre_counters.bdin += pkt.size();
                downlink(*c, pkt.data(), hlen, std::move(gre), opt);
                return;
            }
            if (isrc == c->hoa) {
                gre_counters.puin++;
                gre_counters.buin += pkt.size();
                uplink(*c, pkt.data(), std::move(gre), opt);
                return;
            }
        }
    }
    Ipaddr from = Ipaddr::v4(src);
    for (auto& p : convs) {
        auto* c = static_cast<GreConv*>(p.get());
        if (!c->inuse || c->rport != eproto) continue;
        if (!c->raw && c->raddr != from) continue;
        std::string b(reinterpret_cast<const char*>(pkt.data()) + 12, kAddrs);
        b += gre;
        if (!c->rq.put(std::move(b))) c->qin_dropped++;
        return;
    }
}

}  // namespace devip::proto
