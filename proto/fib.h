// The workers' forwarding tables of one stack and one address family, built incrementally by
// the control thread from the Rib and the neighbour cache: a longest-prefix-match table
// (proto/lpm.h) from destination prefix to next hop, a small published table for the few
// prefixes with source-specific routes (§4.3.2's second stage), the next hops with their
// gateways' MACs, and a table of on-link neighbours. Workers only read (fib_lookup.h).
//
// Change under load (DESIGN "shared tables"): the LPM is changed in place with single-word
// stores and retires its groups through QSBR; the source table and the neighbour table are
// immutable once published and replaced whole; a next hop's MAC is one 64-bit word.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "proto/err.h"
#include "proto/ip.h"
#include "proto/iproute.h"
#include "proto/lpm.h"

namespace devip::proto {

// LPM values: 0 no route; an index into the next hops; or kFibSrc | an index into the
// source table's prefixes.
inline constexpr uint32_t kFibSrc = 1u << 22;
inline constexpr uint32_t kMaxNh = 1u << 16;    // next hops per stack and family
inline constexpr uint32_t kMaxDest = 1u << 16;  // prefixes with source-specific routes
inline constexpr uint32_t kNhPunt = 1;          // next hop 1: the control thread decides
inline constexpr uint64_t kL2Ok = 1ull << 48;   // in an l2 word: the MAC below is valid

enum class NhKind : uint8_t {
    Punt,    // the control thread decides (no fast-path medium, NAT, odd cases)
    Local,   // one of our unicast, broadcast or multicast addresses: local delivery
    Gate,    // forward to the gateway
    OnLink,  // forward to the destination itself (interface route)
    Tunnel,  // into tunnel interface slot `port` (FastTable::tun)
};

// A MAC as an l2 word: byte i of the address in bits 8i..8i+7, kL2Ok above.
inline uint64_t l2_word(const Ether& m) {
    uint64_t v = kL2Ok;
    for (int i = 0; i < 6; i++) v |= uint64_t(m.b[size_t(i)]) << (8 * i);
    return v;
}

// One next hop as workers see it. N: address bytes (4 or 16).
template <int N>
struct NhRt {
    uint64_t l2;                  // Gate: kL2Ok | the gateway's MAC once resolved, else 0
    NhKind kind;                  // what to do
    uint8_t pad;
    uint16_t port;                // output port (Gate, OnLink)
    std::array<uint8_t, N> gate;  // gateway, network order (Gate)
};

template <int N>
struct SrcRt {                    // one source-specific route of a prefix
    std::array<uint8_t, N> src;   // source prefix, network order
    std::array<uint8_t, N> mask;  // source mask
    uint32_t nh;                  // next hop index
};
struct DestRt {                   // a prefix that has source-specific routes
    uint32_t any;                 // next hop of its any-source route, or 0: punt
    uint32_t first;               // its source routes: src[first .. first+count), narrowest first
    uint32_t count;
};
template <int N>
struct SrcTab {                   // immutable once published; replaced whole on change
    std::vector<DestRt> dest;
    std::vector<SrcRt<N>> src;
};

// On-link neighbours (port, address) → l2 word; immutable once published. A stack has at
// most 256 neighbours (§4.14.1), so 1024 slots keep probes short.
template <int N>
struct NeighRt {
    static constexpr uint32_t kSlots = 1024;
    struct Slot {
        std::array<uint8_t, N> ip;  // network order
        uint16_t port;
        uint16_t used;
        uint64_t l2;                // kL2Ok | MAC
    };
    static uint32_t home(uint16_t port, const uint8_t* ip) {
        uint32_t a;
        std::memcpy(&a, ip + N - 4, 4);
        return ((a ^ port) * 0x9e3779b1u) >> (32 - 10);
    }
    // kL2Ok | the MAC, or 0.
    uint64_t find(uint16_t port, const uint8_t* ip) const {
        for (uint32_t i = home(port, ip);; i = (i + 1) & (kSlots - 1)) {
            const Slot& s = slot[i];
            if (!s.used) return 0;
            if (s.port == port && std::memcmp(s.ip.data(), ip, N) == 0) return s.l2;
        }
    }
    Slot slot[kSlots];
};

// What workers read. Its address is stable for the stack's life.
template <int N>
struct FibRt {
    const LpmRt* lpm = nullptr;                  // destination → value (stable)
    const NhRt<N>* nh = nullptr;                 // kMaxNh next hops (stable)
    std::atomic<const SrcTab<N>*> srctab{nullptr};
    std::atomic<const NeighRt<N>*> neigh{nullptr};
    std::atomic<uint32_t> odd{0};                // non-contiguous masks, or a route that did
                                                 // not fit: the control thread routes all
    std::atomic<uint32_t> prefixes{0};           // for the stats file: prefixes installed,
    std::atomic<uint32_t> groups{0};             // LPM groups in use
    uint32_t groups_max = 0;                     // and the most there can be
};

// Defers a function until every worker has passed a quiescent state.
using Retire = std::function<void(std::function<void()>)>;

template <int N>
class Fib {
public:
    using Addr = std::array<uint8_t, N>;

    Fib() = default;
    ~Fib();
    Fib(const Fib&) = delete;
    Fib& operator=(const Fib&) = delete;
    // routes: capacity hint (sizes the LPM's groups); grace/retire: the workers' QSBR.
    Err init(uint32_t routes, LpmGrace grace, Retire retire);
    // A route of this family appeared (present) or is going away; kind/port resolved by the
    // stack. Takes effect at once.
    void route(const Route& r, bool present, NhKind kind, uint16_t port);
    // The neighbour cache learned or dropped a MAC (published at the next commit()).
    void neigh_set(uint16_t port, const Addr& ip, const Ether& mac);
    void neigh_del(uint16_t port, const Addr& ip);
    // Once per control loop: publishes the neighbour table if it changed, returns groups whose
    // grace period is over, retries routes that did not fit.
    void commit();
    FibRt<N>* rt() { return &rt_; }
    const Lpm<N>& lpm() const { return lpm_; }
    size_t prefixes() const { return lpm_.size() + unfit_.size(); }
    bool full() const { return !unfit_.empty(); }

private:
    struct NhKey {
        NhKind kind;
        uint16_t port;
        Addr gate;
        auto operator<=>(const NhKey&) const = default;
    };
    struct Src {
        Addr src, mask;
        uint32_t nh;
    };
    struct SrcPrefix {              // a prefix with source-specific routes
        uint32_t any = 0;           // its any-source route's next hop, 0 if none
        std::vector<Src> src;       // narrowest source first
        uint32_t dest = 0;          // index in the published source table
    };
    using PKey = std::pair<Addr, int>;  // prefix, length
    using NKey = std::pair<uint16_t, Addr>;  // port, neighbour

    uint32_t nh_index(const NhKey& k);
    void install(const Addr& dst, int len, uint32_t value);
    void uninstall(const Addr& dst, int len);
    void publish_srctab();
    void publish_neigh();
    void set_odd();

    FibRt<N> rt_;
    Lpm<N> lpm_;
    Retire retire_;
    std::unique_ptr<NhRt<N>[]> nh_;              // rt_.nh
    std::map<NhKey, uint32_t> nhidx_;            // next hop → index
    uint32_t nnh_ = 2;                           // next hops used (0: none, 1: punt)
    std::map<PKey, SrcPrefix> srcpfx_;           // prefixes with source-specific routes
    std::vector<uint32_t> free_dest_;            // source-table indexes free for reuse
    uint32_t ndest_ = 0;                         // source-table indexes handed out
    std::map<NKey, uint64_t> neigh_;             // on-link neighbours → l2 word
    bool neigh_dirty_ = false;                   // neigh_ changed since the last publish
    std::map<PKey, uint32_t> unfit_;             // routes the LPM had no room for
    uint32_t odd_ = 0;                           // non-contiguous routes present
};

using Fib4 = Fib<4>;
using Fib6 = Fib<16>;
extern template class Fib<4>;
extern template class Fib<16>;

// A v4-mapped or v6 Ipaddr as a family's address bytes.
template <int N>
std::array<uint8_t, N> fib_addr(const Ipaddr& a) {
    std::array<uint8_t, N> r;
    std::memcpy(r.data(), a.b.data() + 16 - N, N);
    return r;
}

}  // namespace devip::proto
