// The worker's per-packet decision for one Ethernet frame (STYLE 10.4): answer an ICMP echo
// to one of our unicast addresses in place, punt the rest of our traffic to the control
// thread, drop what is not ours. Pure: no DPDK calls, so unit tests and the packet-input
// fuzzer drive exactly what the worker runs.
#pragma once
#include <cstdint>
#include <cstring>

#include "proto/fast.h"
#include "proto/fib.h"
#include "proto/wire.h"

namespace devip::proto {

enum class FastNext : uint8_t { Drop, Punt, Tx, Fwd };

inline bool fast_is_local(const PortRt& p, uint32_t dst_be) {
    for (unsigned i = 0; i < p.nlocal; i++)
        if (p.local[i] == dst_be) return true;
    return false;
}

// ICMP echo request turned into the reply in place (§4.8.1: TTL 255, TOS 0, an ID from the
// stack's counter, DF clear); not to sources that are multicast or our broadcast addresses.
inline bool fast_echo(uint8_t* ip, size_t hlen, size_t tlen, const PortRt& p,
                      std::atomic<uint32_t>* ipid, FastStats& s) {
    if (ip[9] != kProtoIcmp || (get16(ip + 6) & 0x3fff) || hlen != size_t(kIp4Hdr)) return false;
    if ((ip[12] & 0xf0) == 0xe0 || !ipid) return false;
    uint32_t src;
    std::memcpy(&src, ip + 12, 4);
    for (unsigned i = 0; i < p.nbcast; i++)
        if (p.bcast[i] == src) return false;
    uint8_t* icmp = ip + hlen;
    size_t ilen = tlen - hlen;
    if (ilen < 8 || icmp[0] != 8 || icmp[1] != 0 || csum(icmp, ilen) != 0) return false;
    icmp[0] = 0;  // type 8 → 0 lowers the sum by 0x0800: the checksum rises by it
    uint32_t c = uint32_t(get16(icmp + 2)) + 0x0800;
    put16(icmp + 2, uint16_t(c + (c >> 16)));
    uint8_t tmp[4];
    std::memcpy(tmp, ip + 12, 4);
    std::memcpy(ip + 12, ip + 16, 4);
    std::memcpy(ip + 16, tmp, 4);
    ip[1] = 0;
    ip[8] = 255;
    put16(ip + 4, uint16_t(ipid->fetch_add(1, std::memory_order_relaxed)));
    put16(ip + 6, 0);
    put16(ip + 10, 0);
    put16(ip + 10, csum(ip, hlen));
    s.ip[InReceives]++;
    s.ip[InDelivers]++;
    s.ip[OutRequests]++;
    s.icmp_inmsgs++;
    s.icmp_in[8]++;
    s.icmp_out[0]++;
    return true;
}

// A FIB that knows nothing: every forwarding decision goes to the control thread.
struct NoFib {
    bool usable() const { return false; }
    uint64_t lookup1(uint32_t) const { return kFibMiss; }
    bool resolve(uint64_t, uint32_t, NhRt&) const { return false; }
    bool neigh(uint16_t, uint32_t, Ether&) const { return false; }
};

// Everything up to the route lookup, for one frame received on inport (STYLE 10.4). Returns
// Drop, Punt, Tx (an echo answered in place: *newlen, *outport set) or Fwd, meaning "wants
// forwarding": *ck holds its IPv4 header facts and the caller looks the route up (in bulk)
// and finishes with fast_forward. Counts what it consumes; punted packets are counted by
// the control thread.
inline FastNext fast_ingress(uint8_t* frame, size_t len, uint16_t inport, const FastTable& t,
                             FastStats& s, Ip4Check* ck, size_t* newlen, uint16_t* outport) {
    const PortRt& p = t.port[inport];
    if (!p.bound) return FastNext::Drop;
    if (len <= size_t(kEthHdr)) return FastNext::Drop;  // ethermedium drops these
    if (!(frame[0] & 1) && std::memcmp(frame, p.mac.b.data(), 6) != 0)
        return FastNext::Drop;  // unicast for another station (promiscuous port)
    uint16_t type = get16(frame + 12);
    if (type == kEthArp || type == kEthIp6) return FastNext::Punt;
    if (type != kEthIp4) return FastNext::Drop;
    uint8_t* ip = frame + kEthHdr;
    *ck = ip4_check(ip, len - kEthHdr, true);
    if (!ck->ok) {
        s.ip[InReceives]++;
        s.ip[InHdrErrors]++;
        return FastNext::Drop;
    }
    uint32_t dst;
    std::memcpy(&dst, ip + 16, 4);
    if (fast_is_local(p, dst)) {
        if (!fast_echo(ip, ck->hlen, ck->tlen, p, t.ipid[p.stack], s)) return FastNext::Punt;
        uint8_t tmp[6];
        std::memcpy(tmp, frame, 6);
        std::memcpy(frame, frame + 6, 6);
        std::memcpy(frame + 6, tmp, 6);
        *newlen = kEthHdr + ck->tlen;
        *outport = inport;
        return FastNext::Tx;
    }
    if (!p.forwarding || (frame[0] & 1)) return FastNext::Punt;  // ours to deliver, or drop
    return FastNext::Fwd;
}

// Forwarding (RFC 1812 §5.2.4–§5.3.1) once the route value is known: second stage, TTL, MTU,
// reflect, neighbour, rewrite. Anything unusual (no route, local routes, TTL expiry, too big,
// unresolved neighbour) is punted untouched: the control thread then does exactly what
// 9front does, ICMP errors included.
template <class Fib>
inline FastNext fast_forward(uint8_t* frame, const Ip4Check& ck, uint16_t inport,
                             const FastTable& t, FastStats& s, const Fib& fib, uint64_t value,
                             size_t* newlen, uint16_t* outport) {
    uint8_t* ip = frame + kEthHdr;
    NhRt nh;
    auto punt = [&](PuntWhy why) {
        s.punt[why]++;
        return FastNext::Punt;
    };
    if (!fib.resolve(value, get32(ip + 12), nh)) return punt(PuntNoRoute);
    if (nh.kind == NhKind::Local) return punt(PuntLocal);
    if (nh.kind != NhKind::Gate && nh.kind != NhKind::OnLink) return punt(PuntOther);
    if (ip[8] <= 1) return punt(PuntTtl);  // time exceeded comes from the control thread
    const PortRt& o = t.port[nh.port];
    if (!o.bound) return punt(PuntOther);
    if (ck.tlen > o.mtu) return punt(PuntMtu);
    if (nh.port == inport && !t.port[inport].reflect) {
        s.ip[InReceives]++;
        s.ip[OutDiscards]++;
        return FastNext::Drop;
    }
    uint32_t nhip;
    if (nh.kind == NhKind::Gate)
        nhip = nh.gate;
    else
        std::memcpy(&nhip, ip + 16, 4);
    Ether mac;
    if (!fib.neigh(nh.port, nhip, mac)) return punt(PuntNeigh);
    ip[8]--;  // RFC 1624: the TTL byte fell by one, the checksum rises by 0x0100
    uint32_t c = uint32_t(get16(ip + 10)) + 0x0100;
    put16(ip + 10, uint16_t(c + (c >> 16)));
    std::memcpy(frame, mac.b.data(), 6);
    std::memcpy(frame + 6, o.mac.b.data(), 6);
    *newlen = kEthHdr + ck.tlen;
    *outport = nh.port;
    s.ip[InReceives]++;
    s.ip[ForwDatagrams]++;
    s.ip[OutRequests]++;
    return FastNext::Fwd;
}

// One frame, start to end (tests, the fuzzer): ingress, a single lookup, forward.
template <class Fib>
inline FastNext fast_classify(uint8_t* frame, size_t len, uint16_t inport, const FastTable& t,
                              FastStats& s, const Fib& fib, size_t* newlen, uint16_t* outport) {
    Ip4Check ck{};
    FastNext n = fast_ingress(frame, len, inport, t, s, &ck, newlen, outport);
    if (n != FastNext::Fwd) return n;
    if (!fib.usable()) return FastNext::Punt;
    return fast_forward(frame, ck, inport, t, s, fib, fib.lookup1(get32(frame + kEthHdr + 16)),
                        newlen, outport);
}

}  // namespace devip::proto
