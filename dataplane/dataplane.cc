// Ports, queues, mempool, rings and the RCU-published table (the setup side; the worker
// loop is in worker.cc).
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>

#include "dataplane/dataplane.h"
#include "proto/fib.h"

namespace devip::dp {

using proto::Err;

namespace {
constexpr uint16_t kRxDesc = 1024;
constexpr uint16_t kTxDesc = 1024;
constexpr unsigned kRingSize = 1024;
constexpr unsigned kCache = 256;

// Entry i of the redirection table is queue i mod n, as owner_of assumes; returns the table's
// size, or 0 when the PMD would not take it (then RSS spreads as it likes and packets that
// land on a worker that does not own their flow are handed over).
uint16_t program_reta(uint16_t pid, uint16_t size, uint16_t n) {
    if (size == 0 || size > RTE_ETH_RSS_RETA_SIZE_512) return 0;
    rte_eth_rss_reta_entry64 conf[RTE_ETH_RSS_RETA_SIZE_512 / RTE_ETH_RETA_GROUP_SIZE]{};
    for (uint16_t i = 0; i < size; i++) {
        auto& g = conf[i / RTE_ETH_RETA_GROUP_SIZE];
        g.mask |= 1ull << (i % RTE_ETH_RETA_GROUP_SIZE);
        g.reta[i % RTE_ETH_RETA_GROUP_SIZE] = uint16_t(i % n);
    }
    return rte_eth_dev_rss_reta_update(pid, conf, size) == 0 ? size : 0;
}

int launch(void* arg) {
    auto* p = static_cast<std::pair<Dataplane*, unsigned>*>(arg);
    int r = p->first->worker_main(p->second);
    delete p;
    return r;
}
}  // namespace

Err Dataplane::init() {
    unsigned lc;
    RTE_LCORE_FOREACH_WORKER(lc) lcores_.push_back(lc);
    nworkers_ = int(lcores_.size());
    if (nworkers_ == 0) return Err{"no worker lcores: give EAL two or more cores (-l 0,1)"};
    uint16_t nports = rte_eth_dev_count_avail();
    if (nports == 0 && geteuid() != 0)
        return Err{"no ports: not root (tap devices and NIC drivers need root)"};
    if (nports == 0)
        return Err{"no ports: give EAL a device (e.g. --vdev=net_tap0,iface=dtap0) or bind a "
                   "NIC to a DPDK driver"};
    if (nports > proto::kMaxPorts) nports = proto::kMaxPorts;

    unsigned nmbufs = nports * nworkers_ * (kRxDesc + kTxDesc) +
                      2 * nworkers_ * kRingSize + (nworkers_ + 1) * kCache + 2048;
    pool_ = rte_pktmbuf_pool_create("devip_mbufs", nmbufs, kCache, 0,
                                    RTE_MBUF_DEFAULT_BUF_SIZE, int(rte_socket_id()));
    if (!pool_) return proto::err_text("cannot create mbuf pool of %u: %s", nmbufs,
                                       rte_strerror(rte_errno));
    // messages (requests, completions, frames the control thread sends) have a pool of their
    // own: conversations never hold receive mbufs, and a flood of them cannot starve rx
    unsigned nmsgs = 2 * kRingSize * unsigned(nworkers_) * 2 + (nworkers_ + 1) * kCache + 1024;
    msgs_ = rte_pktmbuf_pool_create("devip_msgs", nmsgs, kCache, uint16_t(proto::kMsgPriv),
                                    RTE_MBUF_DEFAULT_BUF_SIZE, int(rte_socket_id()));
    if (!msgs_) return proto::err_text("cannot create message pool of %u: %s", nmsgs,
                                       rte_strerror(rte_errno));

    uint16_t pid;
    RTE_ETH_FOREACH_DEV(pid) {
        if (pid >= proto::kMaxPorts) break;
        rte_eth_dev_info info;
        if (rte_eth_dev_info_get(pid, &info) != 0) return proto::err_text("port %u: no info", pid);
        if (info.max_rx_queues < nworkers_ || info.max_tx_queues < nworkers_)
            return proto::err_text("port %u (%s): needs %d queue pairs, has %u/%u", pid,
                                   info.driver_name, nworkers_, info.max_rx_queues,
                                   info.max_tx_queues);
        rte_eth_conf conf{};
        // the symmetric key (proto/owner.h), repeated to the length the device wants
        uint8_t key[64];
        uint8_t keylen = info.hash_key_size ? info.hash_key_size : proto::kRssKeyLen;
        for (unsigned i = 0; i < sizeof key; i++) key[i] = proto::kRssKey[i % 2];
        bool rss = nworkers_ > 1 && info.flow_type_rss_offloads && keylen <= sizeof key;
        if (rss) {
            conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf =
                (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP | RTE_ETH_RSS_TCP) & info.flow_type_rss_offloads;
            conf.rx_adv_conf.rss_conf.rss_key = key;
            conf.rx_adv_conf.rss_conf.rss_key_len = keylen;
        }
        conf.intr_conf.rxq = sleep_;  // rx interrupts wake sleeping workers (idle.h)
        int r = rte_eth_dev_configure(pid, uint16_t(nworkers_), uint16_t(nworkers_), &conf);
        if (r < 0 && conf.intr_conf.rxq) {  // a PMD without them: workers nap instead
            conf.intr_conf.rxq = 0;
            r = rte_eth_dev_configure(pid, uint16_t(nworkers_), uint16_t(nworkers_), &conf);
        }
        if (r < 0) return proto::err_text("port %u: configure: %s", pid, rte_strerror(-r));
        uint16_t nrx = kRxDesc, ntx = kTxDesc;
        rte_eth_dev_adjust_nb_rx_tx_desc(pid, &nrx, &ntx);
        for (int q = 0; q < nworkers_; q++) {
            r = rte_eth_rx_queue_setup(pid, uint16_t(q), nrx, rte_eth_dev_socket_id(pid), nullptr,
                                       pool_);
            if (r < 0) return proto::err_text("port %u: rx queue: %s", pid, rte_strerror(-r));
            r = rte_eth_tx_queue_setup(pid, uint16_t(q), ntx, rte_eth_dev_socket_id(pid),
                                       nullptr);
            if (r < 0) return proto::err_text("port %u: tx queue: %s", pid, rte_strerror(-r));
        }
        r = rte_eth_dev_start(pid);
        if (r < 0) return proto::err_text("port %u: start: %s", pid, rte_strerror(-r));
        uint16_t reta = rss ? program_reta(pid, info.reta_size, uint16_t(nworkers_)) : 0;
        rte_eth_allmulticast_enable(pid);  // promiscuous only on request (/net/etherN/ctl)
        PortFacts f{};
        f.id = pid;
        f.name = "ether" + std::to_string(pid);
        rte_ether_addr mac;
        rte_eth_macaddr_get(pid, &mac);
        std::memcpy(f.mac.b.data(), mac.addr_bytes, 6);
        f.driver = info.driver_name ? info.driver_name : "";
        uint16_t mtu = 1500;
        rte_eth_dev_get_mtu(pid, &mtu);
        f.mtu = mtu;
        f.reta = reta;
        ports_.push_back(f);
    }

    wstats_.resize(size_t(nworkers_));
    wake_ = std::make_unique<WorkerWake[]>(size_t(nworkers_));
    for (int w = 0; w < nworkers_; w++) {
        wake_[size_t(w)].fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (wake_[size_t(w)].fd < 0) return Err{"cannot create a worker's wake-up eventfd"};
    }
    for (int w = 0; w < nworkers_; w++) {
        char name[32];
        snprintf(name, sizeof name, "devip_punt%d", w);
        punt_.push_back(rte_ring_create(name, kRingSize, int(rte_socket_id()),
                                        RING_F_SP_ENQ | RING_F_SC_DEQ));
        snprintf(name, sizeof name, "devip_req%d", w);
        req_.push_back(rte_ring_create(name, kRingSize, int(rte_socket_id()),
                                       RING_F_SP_ENQ | RING_F_SC_DEQ));
        snprintf(name, sizeof name, "devip_cpl%d", w);
        cpl_.push_back(rte_ring_create(name, kRingSize, int(rte_socket_id()),
                                       RING_F_SP_ENQ | RING_F_SC_DEQ));
        snprintf(name, sizeof name, "devip_hand%d", w);  // any worker → this one
        hand_.push_back(rte_ring_create(name, kRingSize, int(rte_socket_id()), RING_F_SC_DEQ));
        if (!punt_.back() || !req_.back() || !cpl_.back() || !hand_.back())
            return Err{"cannot create rings"};
        ctx_.push_back(std::make_unique<proto::Ctx>());
        ctx_.back()->engine = std::make_unique<crypto::Engine>();
    }
    tcpctx_.resize(size_t(nworkers_));
    flow_reta_ = ports_.empty() ? 0 : ports_.front().reta;
    for (auto& p : ports_)
        if (p.reta != flow_reta_) flow_reta_ = 0;
    tsc_per_us_ = double(rte_get_tsc_hz()) / 1e6;
    size_t sz = rte_rcu_qsbr_get_memsize(uint32_t(nworkers_));
    qsbr_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("devip_qsbr", sz, RTE_CACHE_LINE_SIZE));
    if (!qsbr_ || rte_rcu_qsbr_init(qsbr_, uint32_t(nworkers_)) != 0)
        return Err{"cannot create the RCU variable"};
    table_.store(new proto::FastTable{}, std::memory_order_release);
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) return Err{"cannot create the wake-up eventfd"};
    return proto::ok;
}

void Dataplane::start() {
    running_.store(true);
    for (int w = 0; w < nworkers_; w++)
        rte_eal_remote_launch(launch, new std::pair<Dataplane*, unsigned>(this, unsigned(w)),
                              lcores_[size_t(w)]);
}

void Dataplane::stop() {
    running_.store(false);
    for (int w = 0; w < nworkers_ && wake_; w++) wake_worker(wake_[size_t(w)]);
    rte_eal_mp_wait_lcore();
    for (auto& p : ports_) {
        rte_eth_dev_stop(p.id);
        rte_eth_dev_close(p.id);
    }
    reclaim();
    if (wake_fd_ >= 0) close(wake_fd_);
    wake_fd_ = -1;
    for (int w = 0; w < nworkers_ && wake_; w++) {
        if (wake_[size_t(w)].fd >= 0) close(wake_[size_t(w)].fd);
        wake_[size_t(w)].fd = -1;
    }
}

// The workers are stopped by now (or never started): what waits for a grace period goes
// at once, and the table the workers read last with it (the sanitizer build's leak check
// found it left behind at every exit).
Dataplane::~Dataplane() {
    running_.store(false);
    reclaim();
    delete table_.exchange(nullptr, std::memory_order_acq_rel);
}

// ---- control side -----------------------------------------------------------------------

// Dekker's handshake with the workers: the flag is set before the rings are looked at, and a
// worker looks at the flag after its enqueue, each behind a full fence, so either the control
// thread sees the frames or the worker sees the flag (or both).
bool Dataplane::sleep_prepare() {
    ctl_sleeping_.store(true, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    for (auto* rings : {&punt_, &cpl_})
        for (auto* r : *rings)
            if (rte_ring_count(r)) {
                ctl_sleeping_.store(false, std::memory_order_relaxed);
                return true;
            }
    return false;
}

void Dataplane::woken() {
    uint64_t n;
    if (wake_fd_ >= 0 && read(wake_fd_, &n, sizeof n) < 0) {
        // EAGAIN: already read
    }
}

// Worker side: one system call per control-thread sleep at most, never per packet.
void Dataplane::wake_control() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!ctl_sleeping_.load(std::memory_order_relaxed)) return;
    if (!ctl_sleeping_.exchange(false, std::memory_order_relaxed)) return;
    uint64_t one = 1;
    if (write(wake_fd_, &one, sizeof one) < 0) {
        // the count is full (cannot happen: awake() reads it); the flag is clear either way
    }
}

namespace {
// A message mbuf holding hdr and a copy of data (one segment: data fits the data room).
rte_mbuf* make_msg(rte_mempool* pool, const proto::MsgHdr& hdr, std::span<const uint8_t> data) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (!m) return nullptr;
    char* p = data.size() <= 0xffff ? rte_pktmbuf_append(m, uint16_t(data.size())) : nullptr;
    if (!p) {
        rte_pktmbuf_free(m);
        return nullptr;
    }
    if (!data.empty()) std::memcpy(p, data.data(), data.size());
    *static_cast<proto::MsgHdr*>(rte_mbuf_to_priv(m)) = hdr;
    m->port = hdr.port;
    return m;
}
}  // namespace

void Dataplane::tx(uint16_t port, std::span<const uint8_t> frame) {
    proto::MsgHdr h{};
    h.kind = proto::MsgKind::Tx;
    h.port = port;
    if (!request(h, frame, 0)) tx_alloc_fail_++;
}

bool Dataplane::request(const proto::MsgHdr& hdr, std::span<const uint8_t> data, int w) {
    bool ok = true;
    for (int i = w < 0 ? 0 : w; i < (w < 0 ? nworkers_ : w + 1); i++) {
        rte_mbuf* m = make_msg(msgs_, hdr, data);
        if (!m) return false;
        if (rte_ring_enqueue(req_[size_t(i)], m) != 0) {
            rte_pktmbuf_free(m);
            ok = false;
        } else {
            wake_worker(wake_[size_t(i)]);
        }
    }
    return ok;
}

size_t Dataplane::drain(
    const std::function<void(uint16_t, std::span<const uint8_t>)>& fn,
    const std::function<void(const proto::MsgHdr&, std::span<const uint8_t>)>& cpl) {
    size_t total = 0;
    rte_mbuf* ms[64];
    std::vector<uint8_t> buf;
    // At most kDrainBudget from each ring per call: a worker punting as fast as we take
    // (a flood for the control thread) must not keep the loop from serving 9P and timers.
    for (auto* r : punt_) {
        unsigned n;
        for (size_t took = 0; took < kDrainBudget &&
             (n = rte_ring_dequeue_burst(r, reinterpret_cast<void**>(ms), 64, nullptr)) > 0;
             took += n) {
            for (unsigned i = 0; i < n; i++) {
                rte_mbuf* m = ms[i];
                if (rte_pktmbuf_is_contiguous(m)) {
                    fn(m->port, {rte_pktmbuf_mtod(m, const uint8_t*), m->data_len});
                } else {
                    std::vector<uint8_t> buf(m->pkt_len);
                    rte_pktmbuf_read(m, 0, m->pkt_len, buf.data());
                    fn(m->port, buf);
                }
                rte_pktmbuf_free(m);
            }
            total += n;
        }
    }
    for (auto* r : cpl_) {
        unsigned n;
        for (size_t took = 0; took < kDrainBudget &&
             (n = rte_ring_dequeue_burst(r, reinterpret_cast<void**>(ms), 64, nullptr)) > 0;
             took += n) {
            for (unsigned i = 0; i < n; i++) {
                rte_mbuf* m = ms[i];
                const auto& h = *static_cast<const proto::MsgHdr*>(rte_mbuf_to_priv(m));
                buf.resize(m->pkt_len);
                const void* p = rte_pktmbuf_read(m, 0, m->pkt_len, buf.data());
                cpl(h, {static_cast<const uint8_t*>(p), m->pkt_len});
                rte_pktmbuf_free(m);
            }
            total += n;
        }
    }
    return total;
}

void Dataplane::publish(const proto::FastTable& t) {
    auto* n = new proto::FastTable(t);
    const proto::FastTable* old = table_.exchange(n, std::memory_order_acq_rel);
    if (old) retired_.push_back({old, rte_rcu_qsbr_start(qsbr_)});
}

void Dataplane::retire(std::function<void()> fn) {
    retired_fn_.push_back({std::move(fn), rte_rcu_qsbr_start(qsbr_)});
}

void Dataplane::reclaim() {
    std::erase_if(retired_, [&](const Retired& r) {
        if (running_.load() && rte_rcu_qsbr_check(qsbr_, r.token, false) != 1) return false;
        delete r.t;
        return true;
    });
    if (retired_fn_.empty()) return;
    std::vector<RetiredFn> due;  // callbacks may retire more: run them outside the list
    std::erase_if(retired_fn_, [&](RetiredFn& r) {
        if (running_.load() && rte_rcu_qsbr_check(qsbr_, r.token, false) != 1) return false;
        due.push_back(std::move(r));
        return true;
    });
    for (auto& r : due) r.fn();
}

void Dataplane::fast_stats(int stack, proto::FastStats& out) const {
    out = {};
    for (auto& w : wstats_) {
        const proto::FastStats& s = w.s[stack];
        for (int i = 0; i < proto::kIpStats; i++) out.ip[i] += s.ip[i];
        out.icmp_inmsgs += s.icmp_inmsgs;
        for (int i = 0; i < 19; i++) {
            out.icmp_in[i] += s.icmp_in[i];
            out.icmp_out[i] += s.icmp_out[i];
        }
    }
}

void Dataplane::tun_stats(int slot, proto::TunStats& out) const {
    if (slot < 0 || slot >= proto::kMaxTun) return;
    for (auto& w : wstats_) proto::tun_add(out, w.tun[slot]);
}

void Dataplane::port_counts(uint16_t port, uint64_t& in, uint64_t& out) const {
    rte_eth_stats s;
    in = out = 0;
    if (rte_eth_stats_get(port, &s) == 0) {
        in = s.ipackets;
        out = s.opackets;
    }
}

int Dataplane::owner_of(uint16_t port, const proto::Ipaddr& a, const proto::Ipaddr& b,
                        uint16_t pa, uint16_t pb) const {
    for (auto& p : ports_)
        if (p.id == port) return proto::owner_of(a, b, pa, pb, nworkers_, p.reta);
    return 0;
}

int Dataplane::flow_owner(const proto::Ipaddr& a, const proto::Ipaddr& b, uint16_t pa,
                          uint16_t pb) const {
    if (nworkers_ <= 1) return 0;
    if (flow_reta_) return proto::owner_of(a, b, pa, pb, nworkers_, flow_reta_);
    return int(proto::flow_hash(a, b, pa, pb) % uint32_t(nworkers_));
}

void Dataplane::tcp_config(uint32_t scale, const uint8_t key[16]) {
    tcp_scale_ = scale ? scale : 1;
    std::memcpy(tcp_key_, key, sizeof tcp_key_);
}

// Plain loads of counters only their worker writes (64-bit, aligned: never torn).
void Dataplane::tcp_stats(int stack, proto::TcpStats& out) const {
    if (stack < 0 || stack >= proto::kMaxStacks) return;
    for (auto& x : ctx_)
        if (const proto::TcpWork* k = x->tcp[size_t(stack)].get()) out += k->shard.st;
}

unsigned Dataplane::mbufs_in_use() const { return rte_mempool_in_use_count(pool_); }
unsigned Dataplane::msgs_in_use() const { return rte_mempool_in_use_count(msgs_); }
unsigned Dataplane::mbufs_total() const { return pool_->size; }

bool Dataplane::eth_counters(uint16_t port, EthCounters& out) const {
    rte_eth_stats s{};
    if (rte_eth_stats_get(port, &s) != 0) return false;
    out = {s.ipackets, s.opackets, s.ibytes, s.obytes, s.ierrors, s.oerrors, s.imissed,
           s.rx_nombuf};
    return true;
}

std::string Dataplane::port_stats(uint16_t port) const {
    rte_eth_stats s{};
    rte_eth_stats_get(port, &s);
    uint64_t punted = 0, pdrops = 0, txdrops = 0, rx = 0, tx = 0, delivered = 0, cdrops = 0;
    uint64_t sent = 0, slow = 0;
    for (auto& w : wstats_) {
        sent += w.sent;
        slow += w.sent_slow;
        delivered += w.delivered;
        cdrops += w.cpl_drops;
        punted += w.punted;
        pdrops += w.punt_drops;
        txdrops += w.tx_drops;
        rx += w.rx;
        tx += w.tx;
    }
    char buf[2048];
    const PortFacts* f = nullptr;
    for (auto& p : ports_)
        if (p.id == port) f = &p;
    snprintf(buf, sizeof buf,
             "in: %lu\nout: %lu\nin bytes: %lu\nout bytes: %lu\nin errors: %lu\n"
             "out errors: %lu\nin missed: %lu\nno mbufs: %lu\ndriver: %s\nmtu: %u\n"
             "workers: %d\nworker rx: %lu\nworker tx: %lu\npunted: %lu\npunt drops: %lu\n"
             "tx drops: %lu\ncontrol tx drops: %lu\nmbufs in use: %u\nmbufs total: %u\n"
             "message mbufs in use: %u\nmessage mbufs total: %u\ndelivered: %lu\n"
             "completion drops: %lu\nconversation tx: %lu\nconversation tx slow: %lu\n",
             s.ipackets, s.opackets, s.ibytes, s.obytes, s.ierrors, s.oerrors, s.imissed,
             s.rx_nombuf, f ? f->driver.c_str() : "", f ? f->mtu : 0, nworkers_, rx, tx,
             punted, pdrops, txdrops, tx_alloc_fail_, mbufs_in_use(), pool_->size,
             msgs_in_use(), msgs_->size, delivered, cdrops, sent, slow);
    std::string out = buf;
    uint64_t tin = 0, handed = 0, hdrops = 0, thanded = 0, ttaken = 0;
    for (auto& w : wstats_) {
        tin += w.tcp_in;
        handed += w.handed;
        hdrops += w.hand_drops;
        thanded += w.tun_handed;
        ttaken += w.tun_taken;
    }
    snprintf(buf, sizeof buf,
             "tcp segments in: %lu\ntcp handed over: %lu\ntcp hand-off drops: %lu\n"
             "esp handed over: %lu\nesp taken over: %lu\n", tin, handed, hdrops, thanded,
             ttaken);
    out += buf;
    const proto::FastTable& t = *table_.load(std::memory_order_acquire);
    const proto::PortRt& pr = t.port[port];
    auto state = [](const auto* fib) {
        return !fib ? "none" : fib->odd.load() ? "bypassed" : "on";
    };
    snprintf(buf, sizeof buf, "fast path: bound %d forwarding %d fib %s fib6 %s\n", pr.bound,
             pr.forwarding, state(t.fib[pr.stack]), state(t.fib6[pr.stack]));
    out += buf;
    auto occupancy = [&](const char* name, const auto* fib) {
        if (!fib) return;
        snprintf(buf, sizeof buf, "%s: %u prefixes, groups %u/%u\n", name, fib->prefixes.load(),
                 fib->groups.load(), fib->groups_max);
        out += buf;
    };
    occupancy("fib", t.fib[pr.stack]);
    occupancy("fib6", t.fib6[pr.stack]);
    out += "forwarding punts:";
    for (int r = 0; r < proto::kPuntWhy; r++) {
        uint64_t v = 0;
        for (auto& w : wstats_)
            for (auto& st : w.s) v += st.punt[r];
        snprintf(buf, sizeof buf, " %s %lu%s", proto::kPuntWhyNames[r], v,
                 r + 1 < proto::kPuntWhy ? "," : "\n");
        out += buf;
    }
    for (size_t w = 0; w < wstats_.size(); w++) {  // how the queues spread over the workers
        snprintf(buf, sizeof buf, "worker%zu: rx %lu tx %lu punted %lu loops %lu naps %lu\n", w,
                 wstats_[w].rx, wstats_[w].tx, wstats_[w].punted, wstats_[w].loops,
                 wstats_[w].naps);
        out += buf;
    }
    return out;
}

void Dataplane::set_promisc(uint16_t port, bool on) {
    if (on)
        rte_eth_promiscuous_enable(port);
    else
        rte_eth_promiscuous_disable(port);
}

void Dataplane::add_mcast(uint16_t, const proto::Ether&, bool) {
    // ports run with all-multicast on (init); a per-group filter is a NIC refinement
}

}  // namespace devip::dp
