// ESP conversations (RFC 4303 tunnel mode, manual keys) over IPv4 and IPv6. Behaviour:
// ip3.md §3.10 (ctl and its errors), §4.9 (one direction per conversation, SPI choice, data
// = whole inner packets, header mode), §2.3 (local/remote), §2.4 (status), §4.4.2 (unknown
// SPI: port unreachable). RFC 4303 on the wire by default; `9front` reproduces esp.c's
// quirks (ipsec-interop.md §6). Cold face: class Esp. Per packet: crypto::Engine.
#include "proto/esp.h"

#include <algorithm>
#include <cstring>

#include "proto/dlog.h"
#include "proto/icmp.h"
#include "proto/icmp6.h"
#include "proto/ip6.h"
#include "proto/ipaux.h"
#include "proto/ipifc.h"
#include "proto/stack.h"
#include "proto/wire.h"

namespace devip::proto {

namespace {

constexpr size_t kEspQmax = 64 * 1024;  // esp.c's read queue
constexpr size_t kEspHdr = 8;           // SPI, sequence number
constexpr size_t kUserHdr = 4;          // header mode: next header, 3 zero bytes
// kProtoEsp and the next headers (RFC 4303 §2.6: 59 is a dummy) are in tunnel.h
constexpr uint32_t kSpiLo = 256, kSpiSpan = 1 << 16;      // esp.c: addr!* picks 256..65791

Err err(crypto::Err e) { return Err{e.text}; }

// The algorithms esp.c has (§4.9); `9front` conversations take only these.
constexpr std::string_view kNineEsp[] = {"null", "des3_cbc", "aes_128_cbc", "aes_ctr",
                                         "des_56_cbc"};
constexpr std::string_view kNineAh[] = {"null", "hmac_sha1_96", "aes_xcbc_mac_96",
                                        "hmac_md5_96"};

bool in(std::span<const std::string_view> names, std::string_view n) {
    return std::find(names.begin(), names.end(), n) != names.end();
}

// ctl text holding a key is wiped once parsed (the fields are the caller's temporaries).
void wipe(const CtlArgs& a) {
    for (size_t i = 1; i < a.size(); i++) {
        auto& s = const_cast<std::string&>(a[i]);
        if (!s.empty()) explicit_bzero(s.data(), s.size());
    }
}

Esp& esp_proto(EspConv& c) { return static_cast<Esp&>(*c.p); }

// The SaRt goes (zeroed by its deleter); its sequence state carries over into cfg.
void drop_rt(EspConv& c) {
    if (!c.rt) return;
    c.cfg.seq = c.cfg.dir == crypto::Dir::out ? c.rt->seq.load() : c.rt->win.top();
    c.cfg.used_pkts = c.rt->used_pkts.load();
    c.cfg.used_bytes = c.rt->used_bytes.load();
    c.cfg.expired = c.rt->expired.load();
    c.expired_drops += c.rt->expired_drops.load();
    c.rt.reset();
}

// `esp ALG [KEY]` and `ah ALG [KEY]`: esp.c's checks and errors, then ours (AEAD pairing).
Err set_alg(EspConv& c, const CtlArgs& a, bool cipher) {
    if (a.size() != 2 && a.size() != 3) return err(crypto::Ebadformat);
    std::string name = a[1];
    std::string_view hex = a.size() == 3 ? std::string_view(a[2]) : std::string_view();
    if (c.nine && !(cipher ? in(kNineEsp, name) : in(kNineAh, name)))
        return err(crypto::Eunknownalg);
    if (c.nine && name == "aes_ctr") name = "aes_128_cbc";  // esp.c's aes_ctr is CBC
    crypto::SaCfg next = c.cfg;
    crypto::Err e = cipher ? next.set_esp(name, hex) : next.set_ah(name, hex);
    if (!e && c.nine && !cipher && next.auth->hash == IMB_AUTH_HMAC_SHA_1 &&
        next.akey.size() != 16)
        e = crypto::Ekeylen;  // esp.c's shaahinit takes 128 bits only
    if (!e && next.cipher->aead() && next.auth->hash != IMB_AUTH_NULL) e = crypto::Eaeadah;
    if (e) {
        next.wipe();
        return err(e);
    }
    if (c.nine) {  // esp.c collects the hex digits into bytes in reverse order
        auto& k = cipher ? next.ckey : next.akey;
        std::reverse(k.begin(), k.end());
    }
    drop_rt(c);
    next.seq = c.cfg.seq;
    next.used_pkts = next.used_bytes = 0;  // new keys: the lifetimes start again
    next.expired = false;
    c.cfg.wipe();
    c.cfg = next;
    next.wipe();
    c.keyed = true;
    c.keyed_ms = esp_proto(c).stack.net.now_ms;
    return ok;
}

Err ctl_esp(EspConv& c, const CtlArgs& a) {
    Err e = set_alg(c, a, true);
    wipe(a);
    return e;
}

Err ctl_ah(EspConv& c, const CtlArgs& a) {
    Err e = set_alg(c, a, false);
    wipe(a);
    return e;
}

Err ctl_header(EspConv& c, const CtlArgs&) {
    c.header = true;
    return ok;
}

Err ctl_noheader(EspConv& c, const CtlArgs&) {
    c.header = false;
    return ok;
}

// Decimal, the whole field, at most max.
bool parse_dec(std::string_view s, uint64_t max, uint64_t& v) {
    if (s.empty() || s.size() > 20) return false;
    v = 0;
    for (char ch : s) {
        if (ch < '0' || ch > '9') return false;
        uint64_t d = uint64_t(ch - '0');
        if (v > (max - d) / 10) return false;
        v = v * 10 + d;
    }
    return true;
}

// `spi N`: the inbound SPI chosen by hand (another gateway's configuration), before keys.
Err ctl_spi(EspConv& c, const CtlArgs& a) {
    if (c.state != ConvState::Connected) return Enotconnected;
    if (!c.incoming) return Enotincoming;
    if (c.keyed) return Ekeysset;
    uint64_t v;
    if (!parse_dec(a[1], UINT32_MAX, v) || v < kSpiLo) return Ebadspi;
    EspConv* o = esp_proto(c).incoming(uint32_t(v));
    if (o && o != &c) return Espinuse;
    drop_rt(c);
    c.cfg.spi = uint32_t(v);
    return ok;
}

// `9front`: esp.c's wire (reversed keys, aes_ctr as CBC, next header 0, pad unchecked).
Err ctl_9front(EspConv& c, const CtlArgs&) {
    if (c.keyed) return Ekeysset;
    c.nine = true;
    c.cfg.padcheck = false;
    return ok;
}

// `seq N`: the last sequence number sent (outbound) or the highest seen (inbound).
Err ctl_seq(EspConv& c, const CtlArgs& a) {
    uint64_t v;
    if (!parse_dec(a[1], c.cfg.esn ? UINT64_MAX : UINT32_MAX, v)) return Ebadarg;
    drop_rt(c);
    c.cfg.seq = v;
    c.error = {};
    return ok;
}

Err ctl_esn(EspConv& c, const CtlArgs&) {
    if (c.keyed) return Ekeysset;
    if (!c.cfg.replay) return err(crypto::Ereplayesn);
    c.cfg.esn = true;
    return ok;
}

// `replay off|on` on an inbound SA: RFC 4303 §3.4.3's receiver choice (benchmarks replaying
// one capture; a peer that restarts its counter). Not with ESN, whose high half the window
// infers.
Err ctl_replay(EspConv& c, const CtlArgs& a) {
    if (!c.incoming) return Enotincoming;
    if (a[1] != "on" && a[1] != "off") return Ebadarg;
    if (a[1] == "off" && c.cfg.esn) return err(crypto::Ereplayesn);
    drop_rt(c);
    c.cfg.replay = a[1] == "on";
    return ok;
}

Err ctl_window(EspConv& c, const CtlArgs& a) {
    uint64_t v;
    if (!parse_dec(a[1], UINT32_MAX, v)) return err(crypto::Ewindow);
    if (crypto::Err e = c.cfg.set_window(uint32_t(v))) return err(e);
    drop_rt(c);
    return ok;
}

// The lifetime in seconds of c has run out at now_ms.
bool secs_spent(const EspConv& c, uint64_t now_ms) {
    return c.life_secs && c.keyed && now_ms - c.keyed_ms >= uint64_t(c.life_secs) * 1000;
}

// `lifetime [packets N] [bytes N] [seconds N]`: hard lifetimes (RFC 4301 §4.4.2.1), 0 or
// absent: none; packets and inner bytes count from the keys being set (new keys start them
// again), seconds from then too. Once one runs out the SA refuses every packet, counted.
Err ctl_lifetime(EspConv& c, const CtlArgs& a) {
    if (a.size() < 3 || a.size() % 2 == 0) return Ebadarg;
    uint64_t pk = 0, by = 0, se = 0;
    for (size_t i = 1; i + 1 < a.size(); i += 2) {
        uint64_t* to = a[i] == "packets" ? &pk : a[i] == "bytes" ? &by
                       : a[i] == "seconds" ? &se : nullptr;
        if (!to || !parse_dec(a[i + 1], to == &se ? UINT32_MAX : UINT64_MAX, *to))
            return Ebadarg;
    }
    drop_rt(c);
    c.cfg.life_pkts = pk;
    c.cfg.life_bytes = by;
    c.life_secs = uint32_t(se);
    c.cfg.expired = crypto::SaCfg::spent(pk, by, c.cfg.used_pkts, c.cfg.used_bytes) ||
                    secs_spent(c, esp_proto(c).stack.net.now_ms);
    return ok;
}

// esp.c checks the verb whatever the field count (§3.10); our verbs check theirs.
constexpr CtlCmd<EspConv> kEspCtl[] = {
    {"esp", 0, ctl_esp},       {"ah", 0, ctl_ah},         {"header", 0, ctl_header},
    {"noheader", 0, ctl_noheader}, {"spi", 2, ctl_spi},   {"9front", 1, ctl_9front},
    {"seq", 2, ctl_seq},       {"esn", 1, ctl_esn},       {"window", 2, ctl_window},
    {"replay", 2, ctl_replay}, {"lifetime", 0, ctl_lifetime},
};

constexpr Stat<EspConvStats> kConvStats[] = {
    {"Packets", &EspConvStats::packets},      {"Bytes", &EspConvStats::bytes},
    {"ReplayDrops", &EspConvStats::replay},   {"IcvFailures", &EspConvStats::icv},
    {"PadErrors", &EspConvStats::pad},        {"LenErrors", &EspConvStats::len},
    {"NextHdrErrors", &EspConvStats::nexthdr}, {"Dummies", &EspConvStats::dummy},
    {"BadInner", &EspConvStats::badinner},    {"SeqOverflows", &EspConvStats::seqover},
};

void reset(EspConv& c) {
    c.rt.reset();
    c.cfg.wipe();
    c.cfg = crypto::SaCfg{};
    c.incoming = c.header = c.nine = c.keyed = false;
    c.st = {};
    c.error = {};
    c.life_secs = 0;
    c.keyed_ms = 0;
    c.expired_drops = 0;
}

}  // namespace

EspConv::EspConv(Proto& p, int x) : Conv(p, x, kEspQmax, true) {}

Esp* esp_of(Stack& s) { return static_cast<Esp*>(s.proto("esp")); }

Esp::Esp(Stack& s, const ProtoRow& row) : Proto(s, row) {}

Esp::~Esp() {
    if (!buf_.empty()) explicit_bzero(buf_.data(), buf_.size());
}

std::unique_ptr<Conv> Esp::make_conv(int x) { return std::make_unique<EspConv>(*this, x); }

crypto::Engine& Esp::engine() {
    if (!engine_) engine_ = std::make_unique<crypto::Engine>();
    return *engine_;
}

EspConv* Esp::incoming(uint32_t spi) const {
    for (auto& p : convs) {
        auto* c = static_cast<EspConv*>(p.get());
        if (c->inuse && c->incoming && c->state == ConvState::Connected && c->cfg.spi == spi)
            return c;
    }
    return nullptr;
}

// connect addr!spi (outbound) or addr!* (inbound, SPI chosen here): esp.c espconnect.
Err Esp::connect(Conv& cv, const CtlArgs& a) {
    auto& c = static_cast<EspConv&>(cv);
    if (a.size() != 2) return Ebadconnect;
    size_t bang = a[1].find('!');
    if (bang == std::string::npos) return Emalformed;
    auto addr = parseip(std::string_view(a[1]).substr(0, bang));
    if (!addr) return Ebadip;
    std::string_view spi = std::string_view(a[1]).substr(bang + 1);
    uint32_t v = 0;
    bool inbound = spi == "*";
    if (inbound) {
        do v = kSpiLo + stack.net.random() % kSpiSpan;
        while (incoming(v));
    } else {  // strtoul(p, &pp, 10): leading digits, at least one
        size_t n = 0;
        uint64_t x = 0;
        while (n < spi.size() && spi[n] >= '0' && spi[n] <= '9' && x <= UINT32_MAX)
            x = x * 10 + uint64_t(spi[n++] - '0');
        if (n == 0) return Emalformed;
        v = x > UINT32_MAX ? UINT32_MAX : uint32_t(x);
    }
    bool nine = c.nine, header = c.header;
    crypto::SaCfg kept;
    kept.padcheck = c.cfg.padcheck;
    kept.esn = c.cfg.esn;
    kept.window = c.cfg.window;
    reset(c);  // both algorithms start as null
    c.nine = nine;
    c.header = header;
    c.cfg.padcheck = kept.padcheck;
    c.cfg.esn = kept.esn;
    c.cfg.window = kept.window;
    c.raddr = *addr;
    c.laddr = stack.findlocalip(c.raddr);
    c.lport = c.rport = 0;
    c.incoming = inbound;
    c.cfg.spi = v;
    c.cfg.dir = inbound ? crypto::Dir::in : crypto::Dir::out;
    c.ipversion = c.raddr.is_v4() ? Version::V4 : Version::V6;
    if (!inbound) c.rq.hangup();  // one direction per conversation
    return ok;
}

Err Esp::ctl(Conv& c, const CtlArgs& a) {
    auto& e = static_cast<EspConv&>(c);
    if (e.tunnel >= 0) {  // the workers hold its SaRt: keys, SPI and sequence stay put
        wipe(a);
        return Etunbound;
    }
    return run_ctl<EspConv>(kEspCtl, e, a);
}

void Esp::close(Conv& cv) {
    auto& c = static_cast<EspConv&>(cv);
    reset(c);  // keys zeroed: the SaRt by its deleter, the configuration by wipe
    c.rq.hangup();
    c.eq.hangup();
    c.laddr = c.raddr = IPnoaddr;
    c.lport = c.rport = 0;
}

void Esp::state(const Conv& c, Text& t) const { t.put("%s", c.inuse ? "Open\n" : "Closed\n"); }

void Esp::local(const Conv& cv, Text& t) const {
    auto& c = static_cast<const EspConv&>(cv);
    t.put_ip(c.laddr);
    if (c.incoming) t.put("!%u", c.cfg.spi);
    t.put("\n");
}

void Esp::remote(const Conv& cv, Text& t) const {
    auto& c = static_cast<const EspConv&>(cv);
    t.put_ip(c.raddr);
    if (!c.incoming) t.put("!%u", c.cfg.spi);
    t.put("\n");
}

// esp.c prints two counters it never moves; ours move: received, and dropped of those.
void Esp::stats(Text& t) const {
    t.put("%llu %llu\n", (unsigned long long)in, (unsigned long long)inerrors);
}

void Esp::counters(std::vector<Counter>& out) const {
    out.push_back({"InPackets", in, {}});
    out.push_back({"InErrors", inerrors, {}});
    out.push_back({"NoSpi", nospi, {}});
}

void Esp::conv_stats(const Conv& cv, Text& t) const {
    auto& c = static_cast<const EspConv&>(cv);
    bool out = !c.incoming;
    t.put("Dir: %s\nSpi: %u\nMode: %s\nEsp: %s\nAh: %s\n", out ? "out" : "in", c.cfg.spi,
          c.nine ? "9front" : "rfc4303", std::string(c.cfg.cipher->name).c_str(),
          std::string(c.cfg.auth->name).c_str());
    for (auto& k : kConvStats) t.put("%s: %llu\n", k.name, (unsigned long long)(c.st.*k.field));
    uint64_t seq = c.cfg.seq;
    if (c.rt) seq = out ? c.rt->seq.load() : c.rt->win.top();
    if (out && !c.cfg.esn && seq > UINT32_MAX) seq = UINT32_MAX;  // the last one it could send
    t.put("Seq: %llu\n", (unsigned long long)seq);
    bool expired = c.rt ? c.rt->expired.load() : c.cfg.expired;
    Err error = expired && !c.error ? Eexpired : c.error;  // expiry is the SA's state
    if (error) t.put("Error: %s\n", error.text);
    if (!out && !c.cfg.replay) t.put("Replay: off\n");
    if (c.cfg.life_pkts || c.cfg.life_bytes || c.life_secs) {
        uint64_t up = c.rt ? c.rt->used_pkts.load() : c.cfg.used_pkts;
        uint64_t ub = c.rt ? c.rt->used_bytes.load() : c.cfg.used_bytes;
        uint64_t drops = c.expired_drops + (c.rt ? c.rt->expired_drops.load() : 0);
        uint64_t age = c.keyed ? (stack.net.now_ms - c.keyed_ms) / 1000 : 0;
        t.put("Lifetime: packets %llu bytes %llu seconds %u\n"
              "Used: packets %llu bytes %llu seconds %llu\nExpiredDrops: %llu\n",
              (unsigned long long)c.cfg.life_pkts, (unsigned long long)c.cfg.life_bytes,
              c.life_secs, (unsigned long long)up, (unsigned long long)ub,
              (unsigned long long)age, (unsigned long long)drops);
    }
}

void Esp::tick(uint64_t now_ms) {
    for (auto& p : convs) {
        auto& c = static_cast<EspConv&>(*p);
        if (!c.inuse || c.cfg.expired || !secs_spent(c, now_ms)) continue;
        c.cfg.expired = true;  // a runtime built later starts expired
        if (c.rt) c.rt->expired.store(true);
        stack.log.print(Logesp, "esp: spi %u: lifetime of %u s ran out\n", c.cfg.spi,
                        c.life_secs);
    }
}

crypto::SaRt* Esp::runtime(EspConv& c) {
    if (c.rt) return c.rt.get();
    crypto::Err e;
    c.rt = crypto::SaRt::make(c.cfg, &e);
    if (!c.rt)
        stack.log.print(Logesp, "esp: spi %u: %s\n", c.cfg.spi, e.text ? e.text : "no sa");
    return c.rt.get();
}

// One write = one inner packet (after 4 header bytes in header mode), sealed and sent.
Err Esp::write_data(Conv& cv, std::span<const uint8_t> data) {
    auto& c = static_cast<EspConv&>(cv);
    if (c.state != ConvState::Connected) return ok;  // nowhere to send it
    if (c.incoming) return Ehungup;                  // esp.c hangs up an inbound write side
    uint8_t next;
    if (c.header) {
        if (data.size() < kUserHdr) return ok;
        next = data[0];
        data = data.subspan(kUserHdr);
    } else if (c.nine) {
        next = 0;  // esp.c: "what should this be?"
    } else {
        int v = data.empty() ? 0 : data[0] >> 4;
        if (v != 4 && v != 6) {
            c.st.badinner++;
            return ok;
        }
        next = v == 4 ? kNhIp4 : kNhIp6;
    }
    crypto::SaRt* rt = runtime(c);
    if (!rt) return ok;
    bool v6 = c.ipversion == Version::V6;
    size_t room = 65535 - (v6 ? 0 : size_t(kIp4Hdr));
    if (data.size() + rt->overhead_max() > room) {
        c.st.len++;
        return ok;
    }
    buf_.resize(rt->hdrlen() + data.size() + rt->overhead_max());
    std::memcpy(buf_.data() + rt->hdrlen(), data.data(), data.size());
    crypto::Pkt p;
    p.buf = std::span<uint8_t>(buf_.data(), buf_.size());
    p.len = uint32_t(data.size());
    p.next = next;
    engine().encrypt(*rt, std::span(&p, 1));
    if (p.st == crypto::Status::seqover) {  // RFC 4303 §3.3.3: a new SA is needed
        c.st.seqover++;
        c.error = Eseqover;
        return ok;
    }
    if (p.st == crypto::Status::expired) return ok;  // counted by the SA, shown in stats
    if (p.st != crypto::Status::ok) {
        c.st.len++;
        return ok;
    }
    c.st.packets++;
    c.st.bytes += data.size();
    Ipaddr laddr = c.laddr.is_noaddr() ? stack.findlocalip(c.raddr) : c.laddr;
    stack.log.print(Logesp, "esp: spi %u seq %llu -> %s len %u\n", c.cfg.spi,
                    (unsigned long long)p.seq, fmt_ip(c.raddr).c_str(), p.len);
    std::span<const uint8_t> esp(buf_.data(), p.len);
    if (v6)
        stack.ip6_send(laddr, c.raddr, kProtoEsp, c.ttl, c.tos, esp);
    else
        stack.ip4_send(laddr, c.raddr, kProtoEsp, c.ttl, c.tos, esp);
    return ok;  // no route: dropped, the write still succeeds
}

void Esp::input(Ipifc& f, std::span<const uint8_t> pkt, size_t hlen) {
    in++;
    bool v6 = (pkt[0] >> 4) == 6;
    if (pkt.size() < hlen + kEspHdr) {
        inerrors++;
        return;
    }
    std::span<const uint8_t> esp = pkt.subspan(hlen);
    uint32_t spi = get32(esp.data());
    EspConv* c = incoming(spi);
    if (!c) {  // §4.4.2; the ICMP errors are rate-limited by the stack's token bucket
        nospi++;
        inerrors++;
        Ipaddr src = v6 ? ip6_src(pkt.data()) : Ipaddr::v4(get32(pkt.data() + 12));
        dlog::limited(stack.net.lim_noport, stack.net.now_ms, dlog::Level::Debug,
                      "stack %d: esp: spi %u from %s: no sa", stack.n, spi,
                      fmt_ip(src).c_str());
        stack.log.print(Logesp, "esp: no sa for spi %u from %s\n", spi, fmt_ip(src).c_str());
        if (v6)
            stack.icmp6_error(f.x, pkt, Icmp6Unreachable, kIcmp6PortUnreach);
        else
            stack.icmp_error(f.x, pkt, Unreachable, 3);
        return;
    }
    crypto::SaRt* rt = runtime(*c);
    if (!rt) {
        inerrors++;
        return;
    }
    buf_.assign(esp.begin(), esp.end());
    crypto::Pkt p;
    p.buf = std::span<uint8_t>(buf_.data(), buf_.size());
    p.len = uint32_t(buf_.size());
    engine().decrypt(*rt, std::span(&p, 1));
    EspConvStats& s = c->st;
    if (c->tunnel >= 0 && p.st != crypto::Status::ok)
        if (Ipifc* t = stack.ipifc->ifc(c->tunnel)) {
            TunStats& ts = t->tun.slow;
            (p.st == crypto::Status::replay ? ts.replay
             : p.st == crypto::Status::icv  ? ts.icv
                                            : ts.errors)++;
        }
    switch (p.st) {
    case crypto::Status::ok: break;
    case crypto::Status::replay: s.replay++; break;
    case crypto::Status::icv: s.icv++; break;
    case crypto::Status::pad: s.pad++; break;
    default: s.len++; break;
    }
    if (p.st != crypto::Status::ok) {
        inerrors++;
        stack.log.print(Logesp, "esp: spi %u: dropped (status %d)\n", spi, int(p.st));
        return;
    }
    if (p.next == kNhNone) {  // a dummy packet (traffic flow confidentiality)
        s.dummy++;
        return;
    }
    const uint8_t* inner = buf_.data() + rt->hdrlen();
    if (c->tunnel >= 0) {  // a tunnel interface's SA: IP input there (tunnel.cc)
        Ipifc* t = stack.ipifc->ifc(c->tunnel);
        int v = p.len ? inner[0] >> 4 : 0;
        if (!t || !((p.next == kNhIp4 && v == 4) || (p.next == kNhIp6 && v == 6))) {
            s.nexthdr++;
            inerrors++;
            if (t) t->tun.slow.errors++;
            return;
        }
        uint8_t* w = buf_.data() + rt->hdrlen();
        if (!tun_ecn_decap(inner_tos(pkt.data()), w)) {  // the outer TOS or traffic class
            t->tun.slow.errors++;
            return;
        }
        s.packets++;
        s.bytes += p.len;
        tun_inner_input(stack, *t, std::span<const uint8_t>(inner, p.len), t->tun.slow);
        return;
    }
    if (!c->header && !c->nine) {  // the next header must say what the payload is
        int v = p.len ? inner[0] >> 4 : 0;
        if (!((p.next == kNhIp4 && v == 4) || (p.next == kNhIp6 && v == 6))) {
            s.nexthdr++;
            inerrors++;
            return;
        }
    }
    std::string b;
    if (c->header) {
        b.assign(kUserHdr, '\0');
        b[0] = char(p.next);
    }
    b.append(reinterpret_cast<const char*>(inner), p.len);
    s.packets++;
    s.bytes += p.len;
    if (!c->rq.put(std::move(b))) c->qin_dropped++;
}

void Esp::tunnel_send(EspConv& c, Ipifc& f, std::span<const uint8_t> inner) {
    TunStats& ts = f.tun.slow;
    crypto::SaRt* rt = runtime(c);
    int v = inner.empty() ? 0 : inner[0] >> 4;
    if (!rt || (v != 4 && v != 6) || inner.size() < size_t(v == 4 ? kIp4Hdr : kIp6Hdr)) {
        ts.errors++;
        return;
    }
    bool v6 = c.ipversion == Version::V6;
    if (inner.size() + rt->overhead_max() > 65535 - size_t(v6 ? 0 : kIp4Hdr)) {
        ts.errors++;
        return;
    }
    uint8_t tos = inner_tos(inner.data());
    bool df = inner_df(inner.data());
    buf_.resize(rt->hdrlen() + inner.size() + rt->overhead_max());
    std::memcpy(buf_.data() + rt->hdrlen(), inner.data(), inner.size());
    crypto::Pkt p;
    p.buf = std::span<uint8_t>(buf_.data(), buf_.size());
    p.len = uint32_t(inner.size());
    p.next = v == 4 ? kNhIp4 : kNhIp6;
    engine().encrypt(*rt, std::span(&p, 1));
    if (p.st != crypto::Status::ok) {
        if (p.st == crypto::Status::seqover) {
            c.st.seqover++;
            c.error = Eseqover;
        }
        ts.errors++;
        return;
    }
    c.st.packets++;
    c.st.bytes += inner.size();
    ts.outpkts++;
    ts.outbytes += inner.size();
    std::span<const uint8_t> esp(buf_.data(), p.len);
    if (f.tun.natt) {  // RFC 3948 §2.1: UDP from and to 4500, checksum 0
        std::vector<uint8_t> u(8 + p.len);
        put16(u.data(), kNattPort);
        put16(u.data() + 2, kNattPort);
        put16(u.data() + 4, uint16_t(u.size()));
        std::memcpy(u.data() + 8, buf_.data(), p.len);
        stack.ip4_send(f.tun.src, f.tun.dst, kProtoUdpT, kTunTtl, tos, u, df);
        return;
    }
    if (v6)
        stack.ip6_send(f.tun.src, f.tun.dst, kProtoEsp, kTunTtl, tos, esp);
    else
        stack.ip4_send(f.tun.src, f.tun.dst, kProtoEsp, kTunTtl, tos, esp, df);
}

void Esp::tunnel_release(EspConv& c) {
    c.tunnel = -1;
    if (c.rt) {
        c.cfg.seq = c.cfg.dir == crypto::Dir::out ? c.rt->seq.load() : c.rt->win.top();
        crypto::SaRt* raw = c.rt.release();
        auto gone = [raw] { crypto::SaRt::Ptr(raw).reset(); };  // zeroed by its deleter
        if (stack.net.io) stack.net.io->retire(gone);
        else gone();
    }
    if (c.inuse > 0 && --c.inuse == 0) last_close(c);
}

// The quoted packet's SPI names an outbound SA of ours: its conversation hangs up (its read
// side reports why, as esp.c's qhangup of an already hung-up queue does).
void Esp::advise(std::span<const uint8_t> emb, Err why) {
    bool v6 = (emb[0] >> 4) == 6;
    size_t hl = v6 ? size_t(kIp6Hdr) : (emb[0] & 0xf) * 4u;
    if (emb.size() < hl + 4) return;
    uint32_t spi = get32(emb.data() + hl);
    Ipaddr dst = v6 ? ip6_dst(emb.data()) : Ipaddr::v4(get32(emb.data() + 16));
    for (auto& p : convs) {  // a tunnel's SA never hangs up: the outer path's MTU lowers maxtu
        auto* c = static_cast<EspConv*>(p.get());
        if (c->tunnel < 0 || c->incoming || c->cfg.spi != spi || c->raddr != dst) continue;
        Ipifc* f = stack.ipifc->ifc(c->tunnel);
        if (!f || f->tun.esp_out != c->x || !c->rt || stack.icmp_mtu == 0) return;
        int m = tun_esp_maxtu(int(stack.icmp_mtu), v6, c->rt->ivlen, c->rt->align,
                              c->rt->icvlen) - (f->tun.natt ? 8 : 0);
        if (m >= 68 && m < f->maxtu) {
            f->maxtu = m;
            stack.log.print(Logesp, "esp: tunnel %d: path mtu %u: maxtu %d\n", f->x,
                            stack.icmp_mtu, m);
            stack.ifc_changed();
        }
        return;
    }
    for (auto& p : convs) {
        auto* c = static_cast<EspConv*>(p.get());
        if (!c->inuse || c->incoming || c->ignoreadvice || c->state != ConvState::Connected)
            continue;
        if (c->cfg.spi != spi || c->raddr != dst) continue;
        c->rq.reset();
        c->rq.hangup(why);
    }
}

}  // namespace devip::proto
