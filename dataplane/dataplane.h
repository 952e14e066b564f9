// The packet machinery: EAL, ports, queues, the mempool, rings between the control thread
// and the workers, the RCU-published table, and the worker loop. The only code that calls
// rte_eal_*, rte_eth_* and rte_lcore_* (DESIGN.md "Layout").
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dataplane/idle.h"
#include "proto/ctx.h"
#include "proto/err.h"
#include "proto/fast.h"
#include "proto/ip.h"
#include "proto/msg.h"
#include "proto/owner.h"
#include "proto/tunnel.h"

struct rte_mbuf;
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
    uint16_t reta;         // RSS redirection table entries as programmed (0: no RSS)
};

// Counters of one worker (written only by it; read by the control thread).
struct alignas(64) WorkerStats {
    proto::FastStats s[proto::kMaxStacks];  // per stack, summed into the stats files
    uint64_t rx = 0, tx = 0;                // packets received / sent by this worker
    uint64_t punted = 0;                    // sent up to the control thread
    uint64_t punt_drops = 0;                // punt ring full
    uint64_t tx_drops = 0;                  // tx queue full
    uint64_t loops = 0;                     // poll loops run
    uint64_t naps = 0;                      // idle sleeps and naps (dataplane/idle.h)
    uint64_t delivered = 0;                 // datagrams handed to conversations (completions)
    uint64_t cpl_drops = 0;                 // completions lost: ring full or no message mbuf
    uint64_t sent = 0;                      // conversation packets built and sent here
    uint64_t sent_slow = 0;                 // conversation packets handed to IP output up there
    uint64_t handed = 0;                    // TCP segments handed to their owning worker
    uint64_t hand_drops = 0;                // and lost: its hand-off ring was full
    uint64_t tcp_in = 0;                    // TCP segments given to this worker's connections
    uint64_t tun_handed = 0;                // ESP packets handed to another worker to decrypt
    uint64_t tun_taken = 0;                 // and decrypted here for another worker
    uint64_t spread_turn = 0;               // tun_spread's round-robin over the workers
    proto::TunStats tun[proto::kMaxTun];    // tunnel interfaces, by slot (dataplane/tunnel.cc)
};

struct TxBuf;
// Sends b's frames on (port, queue q) and empties it; counts in ws.
void tx_flush(TxBuf& b, uint16_t port, uint16_t q, WorkerStats& ws);

class Dataplane {
public:
    // Sets up every probed port with one rx/tx queue pair per worker, the mempool sized from
    // ports × queues, the rings and the RCU variable. Errors are one line.
    proto::Err init();
    // Before init: idle workers sleep (rx interrupts, growing naps; the default) or poll
    // (devipd --idle poll: as fast as possible to wake, a CPU each).
    void set_idle_sleep(bool on) { sleep_ = on; }
    bool idle_sleep() const { return sleep_; }
    ~Dataplane();                  // frees the live table and whatever waits for reclaim()
    void start();                  // launch the workers on every lcore but the main one
    void stop();                   // stop workers, wait for them, stop and close ports
    const std::vector<PortFacts>& ports() const { return ports_; }
    int workers() const { return nworkers_; }
    // The worker that receives a flow on port (proto/owner.h), either direction.
    int owner_of(uint16_t port, const proto::Ipaddr& a, const proto::Ipaddr& b, uint16_t pa,
                 uint16_t pb) const;
    // The worker owning a TCP connection, whatever port its packets use (proto/owner.h with
    // the ports' common redirection table, or the flow hash when they have none in common).
    int flow_owner(const proto::Ipaddr& a, const proto::Ipaddr& b, uint16_t pa,
                   uint16_t pb) const;
    // TCP: timers divided by scale (tests), the ISN/cookie key every shard shares. Before start.
    void tcp_config(uint32_t scale, const uint8_t key[16]);
    void tcp_stats(int stack, proto::TcpStats& out) const;  // the workers' counters, summed

    // Control thread side.
    void tx(uint16_t port, std::span<const uint8_t> frame);   // copy into an mbuf; to a worker
    // A request (hdr, data copied) to worker w, or to every worker when w < 0. False when
    // there is no message mbuf or a ring is full.
    bool request(const proto::MsgHdr& hdr, std::span<const uint8_t> data, int w);
    // Frames punted by the workers: fn(port, bytes) for each, then freed; then completions:
    // cpl(header, data); at most kDrainBudget of each ring per call. Returns how many.
    static constexpr size_t kDrainBudget = 512;
    size_t drain(const std::function<void(uint16_t, std::span<const uint8_t>)>& fn,
                 const std::function<void(const proto::MsgHdr&, std::span<const uint8_t>)>& cpl);
    void publish(const proto::FastTable& t);
    rte_rcu_qsbr* qsbr() const { return qsbr_; }
    void retire(std::function<void()> fn);   // run fn after a grace period (control thread)
    void reclaim();                // free tables retired before the last grace period
    bool retiring() const { return !retired_.empty() || !retired_fn_.empty(); }
    void fast_stats(int stack, proto::FastStats& out) const;
    void tun_stats(int slot, proto::TunStats& out) const;  // adds the workers' counters
    void port_counts(uint16_t port, uint64_t& in, uint64_t& out) const;
    std::string port_stats(uint16_t port) const;
    void set_promisc(uint16_t port, bool on);
    void add_mcast(uint16_t port, const proto::Ether& mac, bool add);
    unsigned mbufs_in_use() const;
    unsigned msgs_in_use() const;
    unsigned mbufs_total() const;
    // For the metrics endpoint: rte_eth_stats of a port (false: the PMD would not say), each
    // worker's counters (plain loads of 64-bit fields only that worker writes), and the
    // control thread's failed slow-path transmits.
    struct EthCounters {
        uint64_t ipackets, opackets, ibytes, obytes, ierrors, oerrors, imissed, rx_nombuf;
    };
    bool eth_counters(uint16_t port, EthCounters& out) const;
    const std::vector<WorkerStats>& worker_stats() const { return wstats_; }
    uint64_t control_tx_drops() const { return tx_alloc_fail_; }

    // Waking the control thread: it sleeps in epoll with wake_fd() in its set. Before it
    // sleeps it calls sleep_prepare(); true means frames are already waiting (do not sleep).
    // A worker that punts while the control thread sleeps signals wake_fd once; awake()
    // (after epoll returns) clears the flag; woken() (when wake_fd is readable) its count.
    int wake_fd() const { return wake_fd_; }
    bool sleep_prepare();
    void awake() { ctl_sleeping_.store(false, std::memory_order_relaxed); }
    void woken();

    // Worker side (public for the lcore launcher).
    int worker_main(unsigned idx);

private:
    std::vector<PortFacts> ports_;
    int nworkers_ = 0;
    std::vector<unsigned> lcores_;               // worker lcore ids, in worker order
    rte_mempool* pool_ = nullptr;                // every port's mbufs (receive)
    rte_mempool* msgs_ = nullptr;                // message mbufs (MsgHdr in the private area)
    std::vector<rte_ring*> punt_;                // worker → control: frames, one per worker
    std::vector<rte_ring*> req_;                 // control → worker: requests (Tx frames, flows)
    std::vector<rte_ring*> cpl_;                 // worker → control: completions
    std::vector<std::unique_ptr<proto::Ctx>> ctx_;  // each worker's conversation shards
    // Local datagrams among a burst's punts that a conversation of worker w takes leave the
    // list as completions; the rest stay punted.
    // ESP and GRE packets of the workers' tunnels leave it too, into tin (slots in tinid).
    void l4_stage(unsigned w, const proto::FastTable& t, rte_mbuf** punt, uint16_t& npunt,
                  rte_mbuf** tin, uint8_t* tinid, uint16_t& ntin);
    // Tunnel interfaces (tunnel.cc): packets forwarded into tunnel slots ids[i] are
    // encapsulated, encrypted and sent; received ones decrypted or decapsulated and
    // forwarded, or handed up as TunIn. Bursts of one slot at a time.
    void tun_output(unsigned w, const proto::FastTable& t, rte_mbuf** m, const uint8_t* ids,
                    uint16_t n, TxBuf* txb);
    // spread: a burst of an ESP slot may go to another worker (tun_spread); false for
    // bursts another worker handed over.
    void tun_input(unsigned w, const proto::FastTable& t, rte_mbuf** m, const uint8_t* ids,
                   uint16_t n, TxBuf* txb, bool spread);
    // One SA over many workers: hands the burst g of ESP slot id to the next worker in
    // turn on its hand-off ring; returns how many packets went (the rest stay here).
    uint16_t tun_spread(unsigned w, const proto::TunRt& r, int id, rte_mbuf** g, uint16_t n);
    void tun_esp_out(unsigned w, const proto::FastTable& t, int id, rte_mbuf** m, uint16_t n,
                     TxBuf* txb);
    void tun_gre_out(unsigned w, const proto::FastTable& t, int id, rte_mbuf** m, uint16_t n,
                     TxBuf* txb);
    void tun_esp_in(unsigned w, const proto::FastTable& t, int id, rte_mbuf** m, uint16_t n,
                    TxBuf* txb);
    void tun_esp_in_sa(unsigned w, const proto::FastTable& t, int id, crypto::SaRt& sa,
                       rte_mbuf** m, uint16_t n, TxBuf* txb);
    void tun_gre_in(unsigned w, const proto::FastTable& t, int id, rte_mbuf** m, uint16_t n,
                    TxBuf* txb);
    // The encapsulated frame m (outer IPv4 at byte 14) out by the outer route, or up.
    void tun_send(unsigned w, const proto::FastTable& t, const proto::TunRt& r, rte_mbuf* m,
                  TxBuf* txb);
    // The inner packet at byte 14 of m, received on tunnel slot id: reverse-path check, then
    // forwarded from here or handed to the control thread's IP input.
    void tun_inner(unsigned w, const proto::FastTable& t, int id, rte_mbuf* m, TxBuf* txb);
    void tun_up(unsigned w, proto::MsgKind k, uint8_t stack, uint32_t ifc, const uint8_t* p,
                size_t len, uint8_t flags = 0);
    void flow_request(unsigned w, const proto::MsgHdr& h, rte_mbuf* m);  // FlowAdd, FlowDel
    bool udp_send(unsigned w, const proto::FastTable& t, proto::MsgHdr& h, rte_mbuf* m);
    bool icmp_send(unsigned w, const proto::FastTable& t, proto::MsgHdr& h, rte_mbuf* m);
    // udp_send's and icmp_send's common end: out from the flow's hint, else up as TxSlow
    bool send_hinted(unsigned w, const proto::FastTable& t, proto::MsgHdr& h, rte_mbuf* m,
                     const proto::OutHint& hint, size_t len);
    // An echo reply to us that ICMP conversations' flows take: completions; false: not one
    bool icmp_deliver(unsigned w, const proto::PortRt& p, const uint8_t* ip, size_t hlen,
                      size_t tlen, uint16_t port);
    // TCP (worker.cc): a local segment to this worker's connections, or to its owner's
    struct TcpCtx {                               // what a shard's segment output needs
        Dataplane* d;
        unsigned w;
        const proto::FastTable* t;
        void* txb;                                // the worker's TxBuf array
    };
    std::vector<TcpCtx> tcpctx_;                  // one per worker
    proto::TcpWork& tcp_work(unsigned w, uint8_t stack);
    bool tcp_segment(unsigned w, const proto::FastTable& t, rte_mbuf* m, bool handed);
    void tcp_request(unsigned w, proto::MsgHdr& h, rte_mbuf* m);
    void tcp_drain(unsigned w, proto::TcpWork& k);   // completions, data, freed messages
    void tcp_drain_all(unsigned w);                  // every stack's, once per stage
    void tcp_out(unsigned w, const proto::TcpWork& k, std::span<const proto::TcpTx> tx);
    static void tcp_emit(void* ctx, const proto::TcpWork& k, std::span<const proto::TcpTx> tx);
    uint64_t now_us() const;                      // the workers' clock (TSC)
    std::vector<rte_ring*> hand_;                 // worker → worker: segments for their owner
    uint16_t flow_reta_ = 0;                      // the redirection table all ports share
    uint32_t tcp_scale_ = 1;
    uint8_t tcp_key_[16] = {};
    double tsc_per_us_ = 1;
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
    bool sleep_ = true;                          // idle workers sleep (set_idle_sleep)
    std::unique_ptr<WorkerWake[]> wake_;         // per worker: its sleep flag and eventfd
    int wake_fd_ = -1;                           // eventfd the control thread sleeps on
    alignas(64) std::atomic<bool> ctl_sleeping_{false};  // it does now: wake it after a punt
    void wake_control();                         // worker side: signal wake_fd_ if asleep
    uint64_t tx_alloc_fail_ = 0;                 // control tx: no mbuf
};

}  // namespace devip::dp
