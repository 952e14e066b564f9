// Which worker owns a flow (DESIGN.md "Ownership"): the one whose receive queue the NIC's
// RSS puts the flow's packets on. Ports are configured with a symmetric Toeplitz key (the
// 16-bit pattern 0x6d5a repeated, so that swapping source and destination, addresses and
// ports alike, gives the same hash) and a redirection table whose entry i is queue
// i mod workers; owner_of computes the same in software, for the control thread (where to
// send a request) and the workers (where to hand a packet over) alike.
#pragma once
#include <rte_thash.h>

#include <cstdint>
#include <cstring>

#include "proto/ip.h"

namespace devip::proto {

inline constexpr uint8_t kRssKeyLen = 40;
inline constexpr uint8_t kRssKey[kRssKeyLen] = {
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
};

// The Toeplitz hash the NIC computes for a TCP or UDP packet from src!sport to dst!dport.
inline uint32_t flow_hash(const Ipaddr& src, const Ipaddr& dst, uint16_t sport, uint16_t dport) {
    if (src.is_v4() && dst.is_v4()) {
        uint32_t t[3];
        t[0] = uint32_t(src.b[12]) << 24 | src.b[13] << 16 | src.b[14] << 8 | src.b[15];
        t[1] = uint32_t(dst.b[12]) << 24 | dst.b[13] << 16 | dst.b[14] << 8 | dst.b[15];
        t[2] = uint32_t(sport) << 16 | dport;
        return rte_softrss(t, 3, kRssKey);
    }
    uint32_t t[9];
    for (int i = 0; i < 4; i++) {
        t[i] = uint32_t(src.b[4 * i]) << 24 | src.b[4 * i + 1] << 16 | src.b[4 * i + 2] << 8 |
               src.b[4 * i + 3];
        t[4 + i] = uint32_t(dst.b[4 * i]) << 24 | dst.b[4 * i + 1] << 16 |
                   dst.b[4 * i + 2] << 8 | dst.b[4 * i + 3];
    }
    t[8] = uint32_t(sport) << 16 | dport;
    return rte_softrss(t, 9, kRssKey);
}

// The worker of a flow (either direction) among n, with a redirection table of reta entries
// (0: the port has no RSS and queue 0, worker 0, takes everything).
inline int owner_of(const Ipaddr& a, const Ipaddr& b, uint16_t pa, uint16_t pb, int n,
                    uint16_t reta) {
    if (n <= 1 || reta == 0) return 0;
    return int(flow_hash(a, b, pa, pb) % reta % uint32_t(n));
}

}  // namespace devip::proto
