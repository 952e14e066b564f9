// The packet machinery: EAL, ports, queues, the mempool, rings between the control thread
// and the workers, the RCU-published table, and the worker loop. The only code that calls
// rte_eal_*, rte_eth_* and rte_lcore_* (DESIGN.md "Layout").
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "proto/err.h"
#include "proto/fast.h"
#include "proto/ip.h"

struct rte_mempool;
struct rte_ring;
struct rte_rcu_qsbr;

namespace devip::dp {

// EAL arguments: argv up to "--" are EAL's. Adds the defaults devipd needs when absent
// (lcores, --no-huge when no hugetlbfs is mounted, a per-process file prefix).
std::vector<std::string> eal_args(int argc, char** argv, int* consumed);
// The file prefix eal_args adds when none is given: this process's own.
std::string own_file_prefix_arg();
// rte_eal_init with a one-line error on failure (not root, no memory, bad arguments).
proto::Err eal_init(const std::vector<std::string>& args);

struct PortFacts {
    uint16_t id;           // DPDK port id
    std::string name;      // "ether<id>"
    proto::Ether mac;      // its MAC
    std::string driver;    // PMD name
    uint32_t mtu;          // IP MTU
};

// Counters of one worker (written only by it; read by the control thread).
struct alignas(64) WorkerStats {
    proto::FastStats s[proto::kMaxStacks];  // per stack, summed into the stats files
    uint64_t rx = 0, tx = 0;                // packets received / sent by this worker
    uint64_t punted = 0;                    // sent up to the control thread
    uint64_t punt_drops = 0;                // punt ring full
    uint64_t tx_drops = 0;                  // tx queue full
    uint64_t loops = 0;                     // poll loops run
    uint64_t naps = 0;                      // idle naps (only when sharing the main CPU)
};

class Dataplane {
public:
    // Sets up every probed port with one rx/tx queue pair per worker, the mempool sized from
    // ports × queues, the rings and the RCU variable. Errors are one line.
    proto::Err init();
    ~Dataplane();                  // frees the live table and whatever waits for reclaim()
    void start();                  // launch the workers on every lcore but the main one
    void stop();                   // stop workers, wait for them, stop and close ports
    const std::vector<PortFacts>& ports() const { return ports_; }
    int workers() const { return nworkers_; }

    // Control thread side.
    void tx(uint16_t port, std::span<const uint8_t> frame);   // copy into an mbuf; to a worker
    // Frames punted by the workers: fn(port, bytes) for each, then freed. Returns how many.
    size_t drain(const std::function<void(uint16_t, std::span<const uint8_t>)>& fn);
    void publish(const proto::FastTable& t);
    rte_rcu_qsbr* qsbr() const { return qsbr_; }
    void retire(std::function<void()> fn);   // run fn after a grace period (control thread)
    void reclaim();                // free tables retired before the last grace period
    void fast_stats(int stack, proto::FastStats& out) const;
    void port_counts(uint16_t port, uint64_t& in, uint64_t& out) const;
    std::string port_stats(uint16_t port) const;
    void set_promisc(uint16_t port, bool on);
    void add_mcast(uint16_t port, const proto::Ether& mac, bool add);
    unsigned mbufs_in_use() const;

    // Worker side (public for the lcore launcher).
    int worker_main(unsigned idx);

private:
    std::vector<PortFacts> ports_;
    int nworkers_ = 0;
    std::vector<unsigned> lcores_;               // worker lcore ids, in worker order
    rte_mempool* pool_ = nullptr;                // every port's mbufs
    std::vector<rte_ring*> punt_;                // worker → control, one per worker
    std::vector<rte_ring*> down_;                // control → worker (frames to send)
    rte_rcu_qsbr* qsbr_ = nullptr;               // workers report quiescence once per loop
    std::atomic<const proto::FastTable*> table_{nullptr};  // what workers read
    struct Retired {
        const proto::FastTable* t;               // the table to free
        uint64_t token;                          // rcu token taken when retired
    };
    std::vector<Retired> retired_;
    struct RetiredFn {
        std::function<void()> fn;                // what to run
        uint64_t token;                          // rcu token taken when retired
    };
    std::vector<RetiredFn> retired_fn_;
    std::vector<WorkerStats> wstats_;            // one per worker
    std::atomic<bool> running_{false};
    uint64_t tx_alloc_fail_ = 0;                 // control tx: no mbuf
};

}  // namespace devip::dp
