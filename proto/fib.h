// The worker-side IPv4 forwarding table of one stack, built incrementally from the Rib by
// the control thread: rte_fib (DIR24_8 over a tree RIB, so a million routes load in about a
// second) from destination prefix to a next hop, a small published table for the few
// source-specific prefixes (§4.3.2's second stage), and the neighbour hash (port, address)
// → MAC that ARP fills. Workers only read.
//
// rte_fib has no RCU in DPDK 22.11: a tbl8 group freed by an update may be reused while a
// worker is still reading it. So there are two copies. A batch of changes goes to the
// inactive copy, the copies swap, and after a grace period the same batch goes to the other
// copy; changes arriving meanwhile wait for the next batch (commit(), once per control loop).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <unordered_map>
#include <vector>

#include "proto/err.h"
#include "proto/ip.h"
#include "proto/iproute.h"

struct rte_fib;
struct rte_hash;
struct rte_rcu_qsbr;

namespace devip::proto {

// FIB values (2-byte DIR24_8 next hops, 15 bits usable).
inline constexpr uint32_t kMaxNh = 1u << 14;       // distinct next hops per stack
inline constexpr uint32_t kFibSrcFlag = 1u << 14;  // value names a source-table entry
inline constexpr uint32_t kMaxDest = 1u << 14;     // source-specific prefixes
inline constexpr uint32_t kFibMiss = 0x7fff;       // no route (rte_fib's default value)
inline constexpr uint32_t kFibPunt = 0x7ffe;       // a route the fast path cannot use
inline constexpr uint32_t kNoNh = kMaxNh;          // "no any-source route here": punt

enum class NhKind : uint8_t {
    Punt,    // the control thread decides (no fast-path medium, NAT, odd cases)
    Local,   // one of our unicast, broadcast or multicast addresses: local delivery
    Gate,    // forward to the gateway
    OnLink,  // forward to the destination itself (interface route)
};

struct NhRt {
    NhKind kind;      // what to do
    uint8_t pad;
    uint16_t port;    // output port (Gate, OnLink)
    uint32_t gate;    // gateway, network byte order (Gate)
};

struct SrcRt {        // one source-specific route of a prefix
    uint32_t src;     // source prefix, host order
    uint32_t mask;    // source mask, host order
    uint32_t nh;      // next hop index
};
struct DestRt {       // a prefix that has source-specific routes
    uint32_t any;     // next hop of its any-source route, or kNoNh
    uint32_t first;   // its source routes: src[first .. first+count), narrowest first
    uint32_t count;
};
struct SrcTab {       // immutable once published; replaced whole on change
    std::vector<DestRt> dest;
    std::vector<SrcRt> src;
};

// What workers read. Its address is stable for the stack's life.
struct FibRt {
    std::atomic<rte_fib*> fib{nullptr};         // the active copy
    NhRt* nh = nullptr;                         // kMaxNh next hops (written before use)
    std::atomic<const SrcTab*> srctab{nullptr}; // source-specific prefixes
    rte_hash* neigh = nullptr;                  // NeighKey → packed MAC (1 << 48 | mac)
    std::atomic<uint32_t> odd{0};               // non-contiguous masks, or full: punt all
};

struct NeighKey {
    uint32_t ip;      // network byte order
    uint16_t port;
    uint16_t pad;
};

// Defers a function until every worker has passed a quiescent state.
using Retire = std::function<void(std::function<void()>)>;

class Fib4 {
public:
    Fib4() = default;
    ~Fib4();
    Fib4(const Fib4&) = delete;
    Fib4& operator=(const Fib4&) = delete;
    // routes: capacity; qsbr may be null (no workers: nothing to wait for).
    Err init(int stack, uint32_t routes, rte_rcu_qsbr* qsbr, Retire retire);
    // A v4 route appeared (present) or is going away; kind/port resolved by the stack.
    void route(const Route& r, bool present, NhKind kind, uint16_t port);
    // Applies the changes queued since the last batch (see the header comment).
    void commit();
    bool settled() const { return pending_.empty() && !waiting_; }
    void queue(uint32_t dst, int len, uint32_t value) {
        pending_[uint64_t(len) << 32 | dst] = value;
    }
    void neigh_set(uint16_t port, uint32_t ip_be, const Ether& mac);
    void neigh_del(uint16_t port, uint32_t ip_be);
    FibRt* rt() { return &rt_; }
    size_t prefixes() const { return prefix_.size(); }
private:
    struct NhKey {
        NhKind kind;
        uint16_t port;
        uint32_t gate;
        auto operator<=>(const NhKey&) const = default;
    };
    struct Src {
        uint32_t src, mask, nh;
    };
    struct Prefix {                 // every route of one destination prefix
        uint32_t any = kNoNh;       // the any-source route's next hop
        std::vector<Src> src;       // source-specific routes
    };
    struct Op {                     // one change to both copies
        uint32_t dst;               // host order
        uint8_t len;
        uint32_t value;             // kFibMiss: delete
    };
    uint32_t nh_index(const NhKey& k);
    void install(uint32_t dst, int len, const Prefix& p);
    void publish_srctab();
    void apply(rte_fib* f, const std::vector<Op>& ops);

    FibRt rt_;
    Retire retire_;
    rte_fib* copy_[2] = {nullptr, nullptr};      // the two copies; rt_.fib is one of them
    int active_ = 0;                             // index of the active copy
    std::map<uint64_t, uint32_t> pending_;       // (len << 32 | dst) → value, not yet in
                                                 // either copy: one change per prefix
    std::vector<Op> lagging_;                    // in the active copy, not yet in the other
    bool waiting_ = false;                       // lagging_ waits for a grace period
    std::vector<uint32_t> dest_unref_;           // dest indexes dropped by pending_ ops
    std::map<NhKey, uint32_t> nhidx_;            // next hop → index in rt_.nh
    uint32_t nnh_ = 0;                           // next hops used
    std::unordered_map<uint64_t, Prefix> prefix_;  // (dst << 8 | len) → its routes
    std::map<uint64_t, uint32_t> srcdest_;       // prefixes with source routes → dest index
    std::vector<uint32_t> free_dest_;            // dest indexes no copy refers to
    uint32_t ndest_ = 0;                         // dest indexes ever handed out
    uint32_t odd_ = 0;                           // non-contiguous routes present
    bool full_ = false;                          // an add failed: the slow path routes all
};

}  // namespace devip::proto
