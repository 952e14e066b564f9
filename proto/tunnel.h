// Tunnel interfaces (issue 9 §4, DESIGN.md "Tunnels"): the esp and gre media of ipifc.
// The pure parts both the control thread and the workers use: the outer IPv4 header
// (RFC 4301 §8.1: DF copied; RFC 6040 normal mode: DSCP and ECN copied out, CE copied in),
// the GRE header (RFC 2784, RFC 2890 key and sequence number), the tunnel MTU, the counters
// and their status text. The control side (bind, unbind, slow-path output and input) is
// declared at the end and lives in tunnel.cc.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

#include "proto/conv.h"
#include "proto/fast.h"
#include "proto/text.h"
#include "proto/wire.h"

namespace devip::proto {

enum class TunKind : uint8_t { None, Esp, Gre };

inline constexpr uint8_t kProtoEsp = 50;
inline constexpr uint8_t kProtoGre = 47;
inline constexpr uint8_t kNhIp4 = 4, kNhIp6 = 41, kNhNone = 59;  // ESP next headers
inline constexpr uint16_t kGreC = 0x8000, kGreK = 0x2000, kGreS = 0x1000;  // RFC 2890 flags
inline constexpr uint16_t kEtherIp4 = 0x0800, kEtherIp6 = 0x86dd;        // GRE protocol types
inline constexpr uint8_t kTunTtl = 64;                                   // outer TTL
inline constexpr uint16_t kNattPort = 4500;                              // RFC 3948 §2
inline constexpr uint8_t kProtoUdpT = 17;                                // UDP, for NAT-T

// One tunnel's counters: kept per worker (summed on read) and on the control thread.
struct TunStats {
    uint64_t inpkts = 0;    // inner packets received (decrypted or decapsulated, accepted)
    uint64_t inbytes = 0;   // their bytes
    uint64_t outpkts = 0;   // inner packets sent
    uint64_t outbytes = 0;  // their bytes
    uint64_t replay = 0;    // in: anti-replay drops
    uint64_t icv = 0;       // in: integrity failures (ESP ICV, GRE checksum)
    uint64_t rpf = 0;       // in: source would not route back through the tunnel
    uint64_t errors = 0;    // in and out: other drops (length, padding, next header, key)
    uint64_t fastin = 0;    // of inpkts, done by a worker
    uint64_t fastout = 0;   // of outpkts, done by a worker
};
inline constexpr Stat<TunStats> kTunStats[] = {
    {"inpkts", &TunStats::inpkts},   {"inbytes", &TunStats::inbytes},
    {"outpkts", &TunStats::outpkts}, {"outbytes", &TunStats::outbytes},
    {"replay", &TunStats::replay},   {"icv", &TunStats::icv},
    {"rpf", &TunStats::rpf},         {"errors", &TunStats::errors},
    {"fastin", &TunStats::fastin},   {"fastout", &TunStats::fastout},
};
inline void tun_add(TunStats& a, const TunStats& b) {
    for (auto& k : kTunStats) a.*k.field += b.*k.field;
}

// The `key value` pairs after 9front's fields on the first status line (with a leading
// space, no newline); seq: the outbound sequence number (ESP SA or GRE).
inline void tun_status(Text& t, const TunStats& s, uint64_t seq) {
    for (auto& k : kTunStats) t.put(" %s %llu", k.name, (unsigned long long)(s.*k.field));
    t.put(" seq %llu", (unsigned long long)seq);
}

// Largest inner packet through an ESP tunnel: the outer path's IP MTU less the outer header
// and the worst-case ESP overhead, SPI + sequence (8) + IV + padding (align - 1) + pad
// length and next header (2) + ICV. For GRE: less the outer header and the GRE header
// (4, plus 4 each for checksum, key and sequence number).
inline int tun_esp_maxtu(int outer_mtu, bool v6outer, int ivlen, int align, int icvlen) {
    return outer_mtu - (v6outer ? 40 : 20) - (8 + ivlen + align - 1 + 2 + icvlen);
}
inline int gre_hdrlen(uint16_t flags) {
    return 4 + (flags & kGreC ? 4 : 0) + (flags & kGreK ? 4 : 0) + (flags & kGreS ? 4 : 0);
}
inline int tun_gre_maxtu(int outer_mtu, bool v6outer, uint16_t flags) {
    return outer_mtu - (v6outer ? 40 : 20) - gre_hdrlen(flags);
}

// The inner packet's traffic class (DSCP and ECN) and whether it says DF (IPv4 only).
inline uint8_t inner_tos(const uint8_t* ip) {
    return (ip[0] >> 4) == 4 ? ip[1] : uint8_t((ip[0] & 0xf) << 4 | ip[1] >> 4);
}
inline bool inner_df(const uint8_t* ip) { return (ip[0] >> 4) == 4 && (ip[6] & 0x40); }

// The outer IPv4 header (20 bytes at h) for len bytes of payload after it: TOS copied from
// the inner packet (DSCP and ECN, RFC 6040 §4.1 normal mode), DF copied (RFC 4301 §8.1).
inline void tun_ip4_hdr(uint8_t* h, uint32_t src_be, uint32_t dst_be, uint8_t proto,
                        uint8_t ttl, uint8_t tos, bool df, uint16_t id, size_t len) {
    h[0] = 0x45;
    h[1] = tos;
    put16(h + 2, uint16_t(kIp4Hdr + len));
    put16(h + 4, id);
    put16(h + 6, df ? 0x4000 : 0);
    h[8] = ttl;
    h[9] = proto;
    put16(h + 10, 0);
    std::memcpy(h + 12, &src_be, 4);
    std::memcpy(h + 16, &dst_be, 4);
    put16(h + 10, csum(h, kIp4Hdr));
}

// RFC 6040 §4.2 decapsulation: outer CE marks an ECN-capable inner packet CE; outer CE on a
// Not-ECT inner packet means drop (false). Other combinations leave the inner packet alone.
// An IPv4 inner header's checksum is updated (RFC 1624).
inline bool tun_ecn_decap(uint8_t outer_tos, uint8_t* ip) {
    if ((outer_tos & 3) != 3) return true;
    bool v4 = (ip[0] >> 4) == 4;
    uint8_t ecn = v4 ? ip[1] & 3 : (ip[1] >> 4) & 3;
    if (ecn == 0) return false;
    if (ecn == 3) return true;
    if (v4) {
        uint16_t old = get16(ip);
        ip[1] |= 3;
        uint32_t c = uint32_t(uint16_t(~get16(ip + 10))) + uint16_t(~old) + get16(ip);
        while (c >> 16) c = (c & 0xffff) + (c >> 16);
        put16(ip + 10, uint16_t(~c));
    } else {
        ip[1] |= 0x30;
    }
    return true;
}

// The GRE header (RFC 2784/2890) at g for an inner packet of protocol type ptype; the
// checksum field stays 0 until gre_csum fills it over header and payload.
inline int gre_build(uint8_t* g, uint16_t flags, uint16_t ptype, uint32_t key, uint32_t seq) {
    put16(g, flags & (kGreC | kGreK | kGreS));
    put16(g + 2, ptype);
    int n = 4;
    if (flags & kGreC) put32(g + n, 0), n += 4;
    if (flags & kGreK) put32(g + n, key), n += 4;
    if (flags & kGreS) put32(g + n, seq), n += 4;
    return n;
}
inline void gre_csum(uint8_t* g, size_t len) { put16(g + 4, csum(g, len)); }

// A received GRE header: version 0, no routing, its options as flagged.
struct GreHdr {
    bool ok = false;        // parsed
    uint16_t flags = 0;     // C, K, S as received
    uint16_t ptype = 0;     // protocol type
    int hlen = 0;           // header bytes
    uint32_t key = 0;       // when K
    uint32_t seq = 0;       // when S
    bool csum_ok = true;    // C: the checksum over header and payload is right
};
inline GreHdr gre_parse(const uint8_t* g, size_t len) {
    GreHdr h;
    if (len < 4) return h;
    uint16_t f = get16(g);
    if ((f & 0x7) != 0 || (f & 0x4000) || (f & 0x0ff8)) return h;  // version, routing, reserved
    h.flags = f & (kGreC | kGreK | kGreS);
    h.ptype = get16(g + 2);
    h.hlen = gre_hdrlen(h.flags);
    if (len < size_t(h.hlen)) return h;
    int n = 4;
    if (f & kGreC) {
        h.csum_ok = csum(g, len) == 0;
        n += 4;
    }
    if (f & kGreK) h.key = get32(g + n), n += 4;
    if (f & kGreS) h.seq = get32(g + n);
    h.ok = true;
    return h;
}

// The workers' tunnel slot an outer IPv4 packet (hlen header bytes, tlen in all, to one of
// stack's addresses) belongs to, or -1: ESP by inbound SPI and peer, GRE by endpoints and
// key (a key-less tunnel takes key-less packets only).
inline int tun_match(const FastTable& t, uint8_t stack, const uint8_t* ip, size_t hlen,
                     size_t tlen) {
    if (tlen < hlen + 8) return -1;
    uint32_t src, dst;
    std::memcpy(&src, ip + 12, 4);
    std::memcpy(&dst, ip + 16, 4);
    const uint8_t* l4 = ip + hlen;
    bool natt = ip[9] == kProtoUdpT;  // RFC 3948: UDP to 4500, a non-zero SPI after it
    if (natt && (tlen < hlen + 16 || get16(l4 + 2) != kNattPort || get32(l4 + 8) == 0))
        return -1;
    bool esp = ip[9] == kProtoEsp || natt;
    uint32_t spi = get32(l4 + (natt ? 8 : 0));
    uint16_t gf = get16(l4);
    bool k = gf & kGreK;
    size_t koff = gf & kGreC ? 8 : 4;
    for (int i = 0; i < t.ntun; i++) {
        const TunRt& r = t.tun[size_t(i)];
        if (r.stack != stack || r.dst != src) continue;
        if (esp) {
            if (r.kind == uint8_t(TunKind::Esp) && (r.spi == spi || (r.in2 && r.spi2 == spi)) &&
                bool(r.natt) == natt)
                return i;
            continue;
        }
        if (r.kind != uint8_t(TunKind::Gre) || r.src != dst) continue;
        if (k != bool(r.greflags & kGreK)) continue;
        if (k && (tlen < hlen + koff + 4 || get32(l4 + koff) != r.grekey)) continue;
        return i;
    }
    return -1;
}

// ---- control side (tunnel.cc) -----------------------------------------------------------

class Ipifcproto;
struct Ipifc;
class Stack;
struct FastTable;

// What a tunnel bind names, checked before anything changes.
struct TunBind {
    int out = -1, in = -1;          // esp: conversations
    Ipaddr src, dst;                // outer addresses
    uint16_t greflags = 0;          // gre: kGreK | kGreC | kGreS
    uint32_t grekey = 0;            // gre: key
    bool natt = false;              // esp: UDP-encapsulated (`natt`, RFC 3948)
};
// `bind esp /net/esp/OUT /net/esp/IN [natt]` and `bind gre LOCAL REMOTE [key N] [csum] [seq]`
// (a[0] is "bind"): checks only; nothing changes on error.
Err tun_parse(Stack& s, bool esp, const CtlArgs& a, TunBind& b);
void tun_attach(Stack& s, Ipifc& f, const TunBind& b);  // bind_medium's tunnel part
void tun_unbind(Stack& s, Ipifc& f);               // releases the held conversations
// Rekeying without loss (make-before-break), ctl verbs of an esp interface:
// `addsa /net/esp/N`: an inbound N is accepted besides the current one (two at most); an
// outbound N replaces the outbound SA (the old one is released). `delsa /net/esp/N`
// releases inbound N while another remains.
Err tun_addsa(Stack& s, Ipifc& f, const CtlArgs& a);
Err tun_delsa(Stack& s, Ipifc& f, const CtlArgs& a);
void tun_output(Stack& s, Ipifc& f, std::string pkt);  // medium output on the control thread
// A decrypted or decapsulated inner packet arrived on tunnel f (its counters: st): the
// strict reverse-path check, then IP input as received on f.
void tun_inner_input(Stack& s, Ipifc& f, std::span<const uint8_t> inner, TunStats& st);
// GRE packet for us (pkt: outer IPv4, hlen header bytes): true when a gre tunnel took it.
bool tun_gre_input(Stack& s, std::span<const uint8_t> pkt, size_t hlen);
// UDP to port 4500 for us (pkt: outer IPv4, hlen header bytes): true when a NAT-T tunnel
// took it (ESP of its inbound SPI, or a NAT-keepalive from its peer).
bool tun_natt_input(Stack& s, Ipifc& f, std::span<const uint8_t> pkt, size_t hlen);
void tun_state(const Stack& s, const Ipifc& f, Text& t);  // the status suffix
void tun_publish(Stack& s, FastTable& t);          // this stack's tunnels for the workers
int tun_outer_mtu(Stack& s, const Ipaddr& src, const Ipaddr& dst);  // IP MTU toward dst

}  // namespace devip::proto
