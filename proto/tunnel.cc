// Tunnel interfaces, control side (issue 9 §4, DESIGN.md "Tunnels"): `bind esp` holds an
// outbound and an inbound /net/esp conversation, `bind gre` names the outer endpoints; both
// make an ipifc whose routes the workers follow into the tunnel (NhKind::Tunnel, slot in
// FastTable::tun). What the workers do not finish comes here: output by medium_output,
// input by Esp::input, the GRE protocol's input and TunIn completions.
#include "proto/tunnel.h"

#include "proto/esp.h"
#include "proto/ip6.h"
#include "proto/ipaux.h"
#include "proto/stack.h"

namespace devip::proto {

namespace {

// NAT-T runs over IPv4 only: the outbound conversation's peer.
bool out_is_v4(Stack& s, const std::string& path);

// "/net/esp/N" (or "N"): the conversation number, or -1.
int esp_conv_number(std::string_view path) {
    size_t slash = path.rfind('/');
    std::string_view n = slash == std::string_view::npos ? path : path.substr(slash + 1);
    if (slash != std::string_view::npos) {
        std::string_view dir = path.substr(0, slash);
        if (dir != "/net/esp" && dir != "esp") return -1;
    }
    if (n.empty() || n.size() > 5) return -1;
    int v = 0;
    for (char c : n) {
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (c - '0');
    }
    return v;
}

bool out_is_v4(Stack& s, const std::string& path) {
    Esp* esp = esp_of(s);
    int o = esp_conv_number(path);
    EspConv* c = esp && o >= 0 ? esp->esp_conv(o) : nullptr;
    return !c || c->raddr.is_v4();  // no such conversation: parse_esp says so
}

bool bound_esp(const Stack& s, int conv) {
    for (auto& c : s.ipifc->convs) {
        auto& f = static_cast<const Ipifc&>(*c);
        if (f.medium == Medium::Esp &&
            (f.tun.esp_out == conv || f.tun.esp_in == conv || f.tun.esp_in2 == conv))
            return true;
    }
    return false;
}

Err parse_esp(Stack& s, const CtlArgs& a, TunBind& b) {
    if (a.size() != 4 && !(a.size() == 5 && a[4] == "natt")) return Ebadarg;
    if (a.size() == 5 && !out_is_v4(s, a[2])) return Ebadarg;
    Esp* esp = esp_of(s);
    if (!esp) return Enodevice;
    int o = esp_conv_number(a[2]), i = esp_conv_number(a[3]);
    EspConv* out = o >= 0 ? esp->esp_conv(o) : nullptr;
    EspConv* in = i >= 0 ? esp->esp_conv(i) : nullptr;
    if (!out || !in || !out->inuse || !in->inuse) return Enodevice;
    if (out->state != ConvState::Connected || in->state != ConvState::Connected)
        return Enotconnected;
    if (out->incoming) return Enotoutgoing;
    if (!in->incoming) return Enotincoming;
    if (out->tunnel >= 0 || in->tunnel >= 0 || bound_esp(s, o) || bound_esp(s, i))
        return Edevinuse;
    if (out->raddr != in->raddr) return Etunpeers;
    if (out->nine || in->nine || out->header || in->header) return Ebadarg;  // RFC 4303 only
    for (EspConv* c : {out, in})
        if (crypto::Err e = c->cfg.check()) return Err{e.text};
    if (!esp->sa(*out) || !esp->sa(*in)) return Enomem;
    b.out = o;
    b.in = i;
    b.natt = a.size() == 5;
    b.dst = out->raddr;
    b.src = out->laddr.is_noaddr() ? s.findlocalip(out->raddr) : out->laddr;
    return ok;
}

Err parse_gre(Stack& s, const CtlArgs& a, TunBind& b) {
    if (a.size() < 4) return Ebadarg;
    auto l = parseip(a[2]), r = parseip(a[3]);
    if (!l || !r) return Ebadip;
    if (l->is_v4() != r->is_v4() || r->is_unspecified() || r->is_multicast()) return Ebadip;
    uint16_t flags = 0;
    uint32_t key = 0;
    for (size_t k = 4; k < a.size(); k++) {
        if (a[k] == "key" && k + 1 < a.size()) {
            std::string_view v = a[++k];
            if (v.empty() || v.size() > 10 || v.find_first_not_of("0123456789") != v.npos)
                return Ebadarg;
            uint64_t x = std::stoull(std::string(v));
            if (x > UINT32_MAX) return Ebadarg;
            key = uint32_t(x);
            flags |= kGreK;
        } else if (a[k] == "csum") {
            flags |= kGreC;
        } else if (a[k] == "seq") {
            flags |= kGreS;
        } else {
            return Ebadarg;
        }
    }
    for (auto& c : s.ipifc->convs) {  // one interface per (endpoints, key)
        auto& f = static_cast<const Ipifc&>(*c);
        if (f.medium == Medium::Gre && f.tun.dst == *r && f.tun.src == *l &&
            (f.tun.greflags & kGreK) == (flags & kGreK) && f.tun.grekey == key)
            return Edevinuse;
    }
    b.src = *l;
    b.dst = *r;
    b.greflags = flags;
    b.grekey = key;
    return ok;
}

// The workers' counters of f since it was bound.
TunStats tun_total(const Stack& s, const Ipifc& f) {
    TunStats t = f.tun.slow;
    if (f.tun.id >= 0 && s.net.io) {
        TunStats w;
        s.net.io->tun_stats(f.tun.id, w);
        for (auto& k : kTunStats) t.*k.field += w.*k.field - f.tun.base.*k.field;
    }
    return t;
}

}  // namespace

int tun_outer_mtu(Stack& s, const Ipaddr& src, const Ipaddr& dst) {
    const Route* r = s.rib.lookup(dst, src);
    Ipifc* f = r ? s.ipifc->ifc(r->ifc) : nullptr;
    if (!f || !f->bound() || f->tunnel()) return 1500;
    return dst.is_v4() ? f->maxtu - medium_info(f->medium)->hsize : int(s.ip6_mtu(*f));
}

Err tun_parse(Stack& s, bool esp, const CtlArgs& a, TunBind& b) {
    return esp ? parse_esp(s, a, b) : parse_gre(s, a, b);
}

void tun_attach(Stack& s, Ipifc& f, const TunBind& b) {
    TunCfg& t = f.tun;
    t.esp_out = b.out;
    t.esp_in = b.in;
    t.esp_in2 = -1;
    t.src = b.src;
    t.dst = b.dst;
    t.greflags = b.greflags;
    t.grekey = b.grekey;
    t.natt = b.natt;
    t.slow = TunStats{};
    t.base = TunStats{};
    t.greseq.store(0);
    t.id = -1;
    bool v6 = !b.dst.is_v4();
    int mtu = tun_outer_mtu(s, b.src, b.dst);
    if (f.medium == Medium::Esp) {
        Esp* esp = esp_of(s);
        EspConv* out = esp->esp_conv(b.out);
        EspConv* in = esp->esp_conv(b.in);
        for (EspConv* c : {out, in}) {  // held: closing their fds does not free them
            c->tunnel = f.x;
            c->inuse++;
        }
        const crypto::SaRt* rt = esp->sa(*out);
        f.maxtu = tun_esp_maxtu(mtu, v6, rt->ivlen, rt->align, rt->icvlen) - (b.natt ? 8 : 0);
    } else {
        f.maxtu = tun_gre_maxtu(mtu, v6, b.greflags);
    }
    if (f.maxtu < 68) f.maxtu = 68;
    if (v6 || !s.net.io) return;  // the workers take IPv4 outer headers only
    for (int i = 0; i < kMaxTun; i++)
        if (!s.net.tun_slot[size_t(i)]) {
            s.net.tun_slot[size_t(i)] = 1;
            t.id = i;
            s.net.io->tun_stats(i, t.base);
            break;
        }
}

void tun_unbind(Stack& s, Ipifc& f) {
    TunCfg& t = f.tun;
    if (t.id >= 0) s.net.tun_slot[size_t(t.id)] = 0;
    t.id = -1;
    if (Esp* esp = esp_of(s); esp && t.esp_out >= 0) {
        for (int x : {t.esp_out, t.esp_in, t.esp_in2})
            if (EspConv* c = esp->esp_conv(x); c && c->tunnel == f.x) esp->tunnel_release(*c);
    }
    t.esp_out = t.esp_in = t.esp_in2 = -1;
    t.greflags = 0;
    t.grekey = 0;
    t.natt = false;
}

Err tun_addsa(Stack& s, Ipifc& f, const CtlArgs& a) {
    if (!f.bound()) return Eunbound;
    if (f.medium != Medium::Esp) return Eunsupported;
    if (a.size() != 2) return Ebadarg;
    Esp* esp = esp_of(s);
    int x = esp_conv_number(a[1]);
    EspConv* c = x >= 0 ? esp->esp_conv(x) : nullptr;
    EspConv* peer = esp->esp_conv(f.tun.esp_out);
    if (!c || !c->inuse) return Enodevice;
    if (c->state != ConvState::Connected) return Enotconnected;
    if (c->tunnel >= 0 || bound_esp(s, x)) return Edevinuse;
    if (!peer || c->raddr != peer->raddr) return Etunpeers;
    if (c->nine || c->header) return Ebadarg;
    if (crypto::Err e = c->cfg.check()) return Err{e.text};
    if (c->incoming && f.tun.esp_in2 >= 0) return Etwoin;
    if (!esp->sa(*c)) return Enomem;
    c->tunnel = f.x;
    c->inuse++;
    int old = -1;
    if (c->incoming) {
        f.tun.esp_in2 = x;
    } else {  // make: the new outbound SA; break: the old one goes after the publish
        old = f.tun.esp_out;
        f.tun.esp_out = x;
        const crypto::SaRt* rt = esp->sa(*c);
        f.maxtu = tun_esp_maxtu(tun_outer_mtu(s, f.tun.src, f.tun.dst), !f.tun.dst.is_v4(),
                                rt->ivlen, rt->align, rt->icvlen) - (f.tun.natt ? 8 : 0);
    }
    s.ifc_changed();
    if (EspConv* o = old >= 0 ? esp->esp_conv(old) : nullptr) esp->tunnel_release(*o);
    return ok;
}

Err tun_delsa(Stack& s, Ipifc& f, const CtlArgs& a) {
    if (!f.bound()) return Eunbound;
    if (f.medium != Medium::Esp) return Eunsupported;
    if (a.size() != 2) return Ebadarg;
    Esp* esp = esp_of(s);
    int x = esp_conv_number(a[1]);
    if (x < 0 || (x != f.tun.esp_in && x != f.tun.esp_in2)) return Enotonifc;
    if (f.tun.esp_in2 < 0) return Elastin;
    if (x == f.tun.esp_in) f.tun.esp_in = f.tun.esp_in2;
    f.tun.esp_in2 = -1;
    s.ifc_changed();  // the workers stop using it before it is released
    if (EspConv* c = esp->esp_conv(x)) esp->tunnel_release(*c);
    return ok;
}

bool tun_natt_input(Stack& s, Ipifc& f, std::span<const uint8_t> pkt, size_t hlen) {
    (void)f;
    if ((pkt[0] >> 4) != 4 || pkt.size() < hlen + 9) return false;
    const uint8_t* u = pkt.data() + hlen;
    if (get16(u + 2) != kNattPort) return false;
    Ipaddr src = Ipaddr::v4(get32(pkt.data() + 12));
    for (auto& c : s.ipifc->convs) {
        auto& t = static_cast<Ipifc&>(*c);
        if (t.medium != Medium::Esp || !t.tun.natt || t.tun.dst != src) continue;
        if (pkt.size() == hlen + 9 && u[8] == 0xff) return true;  // NAT-keepalive (§2.3)
        if (pkt.size() < hlen + 16 || get32(u + 8) == 0) return false;  // IKE: not ours
        Esp* esp = esp_of(s);
        EspConv* in = esp ? esp->esp_conv(t.tun.esp_in) : nullptr;
        EspConv* in2 = esp ? esp->esp_conv(t.tun.esp_in2) : nullptr;
        uint32_t spi = get32(u + 8);
        if (!(in && in->cfg.spi == spi) && !(in2 && t.tun.esp_in2 >= 0 && in2->cfg.spi == spi))
            continue;
        esp->input(f, pkt, hlen + 8);  // the ESP after the UDP header
        return true;
    }
    return false;
}

void tun_output(Stack& s, Ipifc& f, std::string pkt) {
    auto in = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(pkt.data()), pkt.size());
    f.pktout++;
    if (f.medium == Medium::Esp) {
        Esp* esp = esp_of(s);
        EspConv* c = esp ? esp->esp_conv(f.tun.esp_out) : nullptr;
        if (!c) return;
        esp->tunnel_send(*c, f, in);
        return;
    }
    TunStats& ts = f.tun.slow;
    int v = in.empty() ? 0 : in[0] >> 4;
    if (v != 4 && v != 6) {
        ts.errors++;
        return;
    }
    uint16_t fl = f.tun.greflags;
    std::string g(size_t(gre_hdrlen(fl)), '\0');
    auto* gh = reinterpret_cast<uint8_t*>(g.data());
    uint32_t seq = fl & kGreS ? f.tun.greseq.fetch_add(1) + 1 : 0;
    gre_build(gh, fl, v == 4 ? kEtherIp4 : kEtherIp6, f.tun.grekey, seq);
    g.append(pkt);
    gh = reinterpret_cast<uint8_t*>(g.data());
    if (fl & kGreC) gre_csum(gh, g.size());
    ts.outpkts++;
    ts.outbytes += pkt.size();
    std::span<const uint8_t> payload(gh, g.size());
    uint8_t tos = inner_tos(in.data());
    if (f.tun.dst.is_v4())
        s.ip4_send(f.tun.src, f.tun.dst, kProtoGre, kTunTtl, tos, payload, inner_df(in.data()));
    else
        s.ip6_send(f.tun.src, f.tun.dst, kProtoGre, kTunTtl, tos, payload);
}

// Route-based tunnels have no SPD: the inner source must route back through f (strict
// reverse-path check, RFC 3704 §2.2), or the packet is dropped and counted.
void tun_inner_input(Stack& s, Ipifc& f, std::span<const uint8_t> inner, TunStats& st) {
    int v = inner.empty() ? 0 : inner[0] >> 4;
    if ((v != 4 || inner.size() < size_t(kIp4Hdr)) && (v != 6 || inner.size() < size_t(kIp6Hdr))) {
        st.errors++;
        return;
    }
    Ipaddr src = v == 4 ? Ipaddr::v4(get32(inner.data() + 12)) : ip6_src(inner.data());
    Ipaddr dst = v == 4 ? Ipaddr::v4(get32(inner.data() + 16)) : ip6_dst(inner.data());
    const Route* r = s.rib.lookup(src, dst);
    if (!r || r->ifc != f.x) {
        st.rpf++;
        s.log.print(Logip, "tunnel %d: %s does not route back through it: dropped\n", f.x,
                    fmt_ip(src).c_str());
        return;
    }
    st.inpkts++;
    st.inbytes += inner.size();
    f.pktin++;
    s.ip_input(f, inner);
}

bool tun_gre_input(Stack& s, std::span<const uint8_t> pkt, size_t hlen) {
    if (pkt.size() < hlen + 4) return false;
    Ipaddr osrc = Ipaddr::v4(get32(pkt.data() + 12)), odst = Ipaddr::v4(get32(pkt.data() + 16));
    GreHdr g = gre_parse(pkt.data() + hlen, pkt.size() - hlen);
    for (auto& c : s.ipifc->convs) {
        auto& f = static_cast<Ipifc&>(*c);
        if (f.medium != Medium::Gre || f.tun.dst != osrc) continue;
        if (!f.tun.src.is_unspecified() && f.tun.src != odst) continue;
        if (g.ok && ((g.flags & kGreK) != (f.tun.greflags & kGreK) || g.key != f.tun.grekey))
            continue;
        TunStats& st = f.tun.slow;
        if (!g.ok || (g.ptype != kEtherIp4 && g.ptype != kEtherIp6)) {
            st.errors++;
            return true;
        }
        if (!g.csum_ok) {
            st.icv++;
            return true;
        }
        std::string inner(pkt.begin() + long(hlen) + g.hlen, pkt.end());
        auto* ip = reinterpret_cast<uint8_t*>(inner.data());
        if (inner.empty() || (ip[0] >> 4) != (g.ptype == kEtherIp4 ? 4 : 6) ||
            !tun_ecn_decap(pkt[1], ip)) {
            st.errors++;
            return true;
        }
        tun_inner_input(s, f, std::span<const uint8_t>(ip, inner.size()), st);
        return true;
    }
    return false;
}

void tun_state(const Stack& s, const Ipifc& f, Text& t) {
    uint64_t seq = f.tun.greseq.load();
    if (f.medium == Medium::Esp)
        if (Esp* esp = esp_of(const_cast<Stack&>(s)))
            if (EspConv* c = esp->esp_conv(f.tun.esp_out))
                seq = c->rt ? c->rt->seq.load() : c->cfg.seq;
    tun_status(t, tun_total(s, f), seq);
}

void tun_publish(Stack& s, FastTable& t) {
    Esp* esp = esp_of(s);
    for (auto& c : s.ipifc->convs) {
        auto& f = static_cast<Ipifc&>(*c);
        if (!f.tunnel() || f.tun.id < 0) continue;
        TunRt& r = t.tun[size_t(f.tun.id)];
        r = TunRt{};
        r.stack = uint8_t(s.n);
        r.ifc = uint16_t(f.x);
        std::memcpy(&r.src, f.tun.src.b.data() + 12, 4);
        std::memcpy(&r.dst, f.tun.dst.b.data() + 12, 4);
        r.mtu = uint16_t(f.maxtu);
        r.ttl = kTunTtl;
        if (f.medium == Medium::Esp) {
            EspConv* o = esp ? esp->esp_conv(f.tun.esp_out) : nullptr;
            EspConv* i = esp ? esp->esp_conv(f.tun.esp_in) : nullptr;
            if (!o || !i || !o->rt || !i->rt) continue;  // stays unused: the slow path runs it
            r.out = o->rt.get();
            r.in = i->rt.get();
            r.spi = i->cfg.spi;
            r.natt = f.tun.natt;
            if (EspConv* j = esp->esp_conv(f.tun.esp_in2); j && j->rt && f.tun.esp_in2 >= 0) {
                r.in2 = j->rt.get();
                r.spi2 = j->cfg.spi;
            }
            r.kind = uint8_t(TunKind::Esp);
        } else {
            r.greflags = f.tun.greflags;
            r.grekey = f.tun.grekey;
            r.greseq = &f.tun.greseq;
            r.kind = uint8_t(TunKind::Gre);
        }
        t.ntun = uint8_t(std::max<int>(t.ntun, f.tun.id + 1));
    }
}

}  // namespace devip::proto
