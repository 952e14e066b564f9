// The worker's per-packet decision for one Ethernet frame (STYLE 10.4): answer an ICMP echo
// to one of our unicast addresses in place, punt the rest of our traffic to the control
// thread, drop what is not ours. Pure: no DPDK calls, so unit tests and the packet-input
// fuzzer drive exactly what the worker runs.
#pragma once
#include <cstdint>
#include <cstring>

#include "proto/fast.h"
#include "proto/wire.h"

namespace devip::proto {

enum class FastNext : uint8_t { Drop, Punt, Tx };

inline bool fast_is_local(const PortRt& p, uint32_t dst_be) {
    for (unsigned i = 0; i < p.nlocal; i++)
        if (p.local[i] == dst_be) return true;
    return false;
}

// ICMP echo request turned into the reply in place (§4.8.1: TTL 255, TOS 0).
inline bool fast_echo(uint8_t* ip, size_t hlen, size_t tlen, FastStats& s) {
    if (ip[9] != kProtoIcmp || (get16(ip + 6) & 0x3fff) || hlen != size_t(kIp4Hdr)) return false;
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

// frame/len: one whole frame. On Tx the frame has become the reply and *newlen its length.
// Counts what it consumes (echoes, bad headers) in s; punted packets are counted by the
// control thread.
inline FastNext fast_classify(uint8_t* frame, size_t len, const PortRt& p, FastStats& s,
                              size_t* newlen) {
    if (!p.bound) return FastNext::Drop;
    if (len <= size_t(kEthHdr)) return FastNext::Drop;  // ethermedium drops these
    if (!(frame[0] & 1) && std::memcmp(frame, p.mac.b.data(), 6) != 0)
        return FastNext::Drop;  // unicast for another station (promiscuous port)
    uint16_t type = get16(frame + 12);
    if (type == kEthArp || type == kEthIp6) return FastNext::Punt;
    if (type != kEthIp4) return FastNext::Drop;
    uint8_t* ip = frame + kEthHdr;
    Ip4Check ck = ip4_check(ip, len - kEthHdr, true);
    if (!ck.ok) {
        s.ip[InReceives]++;
        s.ip[InHdrErrors]++;
        return FastNext::Drop;
    }
    uint32_t dst;
    std::memcpy(&dst, ip + 16, 4);
    if (!fast_is_local(p, dst) || !fast_echo(ip, ck.hlen, ck.tlen, s)) return FastNext::Punt;
    uint8_t tmp[6];
    std::memcpy(tmp, frame, 6);
    std::memcpy(frame, frame + 6, 6);
    std::memcpy(frame + 6, tmp, 6);
    *newlen = kEthHdr + ck.tlen;
    return FastNext::Tx;
}

}  // namespace devip::proto
