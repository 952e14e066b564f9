// What workers see of the stacks: a small per-port table published by the control thread
// (RCU pointer swap), and the per-worker counters the control thread sums when a stats file
// is read. Worker code includes only this header of proto's tables (STYLE 10.8).
#pragma once
#include <array>
#include <atomic>
#include <cstdint>

#include "proto/ip.h"

namespace devip::crypto {
struct SaRt;
}

namespace devip::proto {

template <int N>
struct FibRt;

inline constexpr int kMaxPorts = 32;
inline constexpr int kMaxStacks = 16;
inline constexpr int kMaxFastLocal = 16;  // unicast v4 addresses per port answered in workers

// IP-layer MIB (§2.6), in file order.
enum IpStat : uint8_t {
    Forwarding, DefaultTTL, InReceives, InHdrErrors, InAddrErrors, ForwDatagrams,
    InUnknownProtos, InDiscards, InDelivers, OutRequests, OutDiscards, OutNoRoutes,
    ReasmTimeout, ReasmReqds, ReasmOKs, ReasmFails, FragOKs, FragFails, FragCreates,
    kIpStats
};

// Why the fast path handed a forwarding candidate to the control thread.
enum PuntWhy : uint8_t { PuntNoRoute, PuntLocal, PuntTtl, PuntMtu, PuntNeigh, PuntOther,
                         kPuntWhy };
inline constexpr const char* kPuntWhyNames[kPuntWhy] = {"no route", "local", "ttl",
                                                        "too big", "no neighbour", "other"};

// Counters one worker keeps for one stack; summed over workers on read.
struct FastStats {
    uint64_t ip[kIpStats];      // IpStat-indexed
    uint64_t icmp_inmsgs;       // icmp InMsgs
    uint64_t icmp_in[19];       // icmp per-type received
    uint64_t icmp_out[19];      // icmp per-type sent
    uint64_t pktin;             // medium packets received (ipifc status pktin), per port below
    uint64_t punt[kPuntWhy];    // forwarding candidates punted, by reason
};

// One port as workers see it.
struct PortRt {
    uint8_t bound;                          // an ether ipifc is bound: accept traffic
    uint8_t stack;                          // the stack it belongs to
    uint8_t nlocal;                         // entries used in local[]
    uint8_t forwarding;                     // the stack has iprouting on
    uint8_t reflect;                        // forwarded packets may leave by this port again
    uint8_t reassemble;                     // fragments leaving by it go to the control thread
    uint16_t mtu;                           // largest IPv4 packet out of this port
    uint16_t mtu6;                          // largest IPv6 packet (a learned linkmtu may be less)
    Ether mac;                              // the port's MAC: unicast frames must carry it
    uint32_t local[kMaxFastLocal];          // unicast v4 addresses, network byte order
    uint32_t bcast[kMaxFastLocal];          // our v4 broadcast addresses here, network order
    uint8_t nbcast;                         // entries used in bcast[]
    uint8_t nlocal6;                        // entries used in local6[]
    uint8_t local6[kMaxFastLocal][16];      // unicast v6 addresses (TCP taken on the workers)
};

inline constexpr int kMaxTun = 16;  // tunnel interfaces the workers run, all stacks

// One tunnel interface as workers see it (proto/tunnel.h): IPv4 outer headers only.
struct TunRt {
    uint8_t kind;                           // TunKind; 0: slot unused
    uint8_t stack;                          // the stack it belongs to
    uint16_t ifc;                           // its interface (TunIn completions name it)
    uint32_t src, dst;                      // outer addresses, network order
    uint16_t mtu;                           // largest inner packet (the interface's maxtu)
    uint8_t ttl;                            // outer TTL
    uint16_t greflags;                      // gre: kGreK | kGreC | kGreS
    uint32_t grekey;                        // gre: key
    std::atomic<uint32_t>* greseq;          // gre: sequence counter (reserved a burst at a time)
    crypto::SaRt* out;                      // esp: outbound SA (held while bound)
    crypto::SaRt* in;                       // esp: inbound SA
    uint32_t spi;                           // esp: inbound SPI
    crypto::SaRt* in2;                      // esp: a second inbound SA (rekeying), or null
    uint32_t spi2;                          // esp: its SPI
    uint8_t natt;                           // esp: in UDP port 4500 (RFC 3948)
};

// The whole published table: immutable once published.
struct FastTable {
    std::array<PortRt, kMaxPorts> port{};   // indexed by DPDK port id
    std::array<FibRt<4>*, kMaxStacks> fib{};    // each stack's IPv4 FIB (stable; null: slow path)
    std::array<FibRt<16>*, kMaxStacks> fib6{};  // and its IPv6 FIB
    std::array<std::atomic<uint32_t>*, kMaxStacks> ipid{};  // each stack's v4 ID counter
    std::array<std::atomic<uint32_t>*, kMaxStacks> rgen{};  // each stack's route generation
    std::array<TunRt, kMaxTun> tun{};       // tunnel interfaces, by slot
    uint8_t ntun = 0;                       // slots in use (0: skip the tunnel checks)
    uint64_t gen = 0;                       // bumped on every publish
};

}  // namespace devip::proto
