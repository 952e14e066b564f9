// Idle workers sleep (idle.h): the epoll set of a worker's rx interrupts and wake eventfd,
// the sleep itself, and the control thread's side of the handshake.
#include "dataplane/idle.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <sched.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

namespace devip::dp {

namespace {
constexpr uint32_t kRxTag = 1, kWakeTag = 0;  // epoll data of the two kinds of fd
}

// Dekker's handshake: the worker sets asleep and then looks at its ring, the control thread
// puts on the ring and then looks at asleep, each behind a full fence; so either the worker
// sees the request or the control thread sees the flag (and then writes once).
void wake_worker(WorkerWake& k) {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!k.asleep.load(std::memory_order_relaxed)) return;
    if (!k.asleep.exchange(false, std::memory_order_relaxed)) return;
    uint64_t one = 1;
    if (write(k.fd, &one, sizeof one) < 0) {
        // the count is full: the worker is being woken anyway
    }
}

Idler::Idler(IdleMode mode, WorkerWake& wake, rte_ring* req, const std::vector<uint16_t>& ports,
             uint16_t q, rte_rcu_qsbr* qsbr, unsigned w)
    : mode_(mode), wake_(wake), req_(req), ports_(ports), q_(q), qsbr_(qsbr), w_(w) {
    if (mode_ != IdleMode::Sleep || wake_.fd < 0) return;
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) return;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = kWakeTag;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, wake_.fd, &ev) != 0) {
        close(ep_);
        ep_ = -1;
        return;
    }
    intr_ = !ports_.empty();
    for (uint16_t p : ports_) {
        // edge-triggered: the PMD reads the fd (a tap's queue); we only want to know it moved
        int fd = rte_eth_dev_rx_intr_ctl_q_get_fd(p, q_);
        epoll_event rx{};
        rx.events = EPOLLIN | EPOLLET;
        rx.data.u32 = kRxTag;
        if (fd < 0 || epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &rx) != 0) intr_ = false;
    }
}

Idler::~Idler() {
    if (ep_ >= 0) close(ep_);
}

bool Idler::past(uint64_t tsc) { return rte_rdtsc() >= tsc; }

// net_tap reads its queue only once the real-time signal it asks for on that fd (F_SETSIG)
// has been handled; a pending signal is handled when its thread next leaves the kernel, and
// a thread that only polls may not enter it for a while. So, after a wake-up, a cheap call
// now and then.
void Idler::settle() {
    if ((++idle_ & 63) == 0) sched_yield();
}

void Idler::arm(bool on) {
    for (uint16_t p : ports_) {
        if (on)
            rte_eth_dev_rx_intr_enable(p, q_);  // -ENOTSUP where the fd is always armed (tap)
        else
            rte_eth_dev_rx_intr_disable(p, q_);
    }
}

// Offline for RCU while asleep (grace periods do not wait for a sleeping worker); the ring
// is looked at after the flag is up, so a request put there before is not slept over.
void Idler::sleep() {
    rte_rcu_qsbr_thread_offline(qsbr_, w_);
    if (ep_ < 0) {  // Nap mode, or no epoll set: the fixed nap of a shared CPU
        timespec ts{0, kNapNs};
        nanosleep(&ts, nullptr);
        rte_rcu_qsbr_thread_online(qsbr_, w_);
        return;
    }
    wake_.asleep.store(true, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (rte_ring_count(req_) == 0 && (!hand_ || rte_ring_count(hand_) == 0)) {
        long ns = intr_ ? sleep_ns_ : nap_;
        if (intr_) arm(true);
        timespec ts{0, ns};
        epoll_event ev[4];
        // Woken by an fd (not the clock): poll for kWokenPollNs before the next sleep. net_tap
        // reads its queue only once its SIGIO handler has counted the packet, which may run
        // a while after the fd woke us; going back to sleep at once would sleep over it.
        // The same holds for the next sleep: it is short (kWokenSleepNs), then they grow again.
        if (epoll_pwait2(ep_, ev, 4, &ts, nullptr) > 0) {
            poll_until_ = rte_rdtsc() + rte_get_tsc_hz() / (1'000'000'000 / kWokenPollNs);
            sleep_ns_ = kWokenSleepNs;
        } else {
            sleep_ns_ = std::min(sleep_ns_ * 2, kMaxSleepNs);
        }
        if (intr_) arm(false);
        if (!intr_) nap_ = std::min(nap_ * 2, kMaxNapNs);
    }
    wake_.asleep.store(false, std::memory_order_relaxed);
    uint64_t n;
    if (read(wake_.fd, &n, sizeof n) < 0) {
        // EAGAIN: nobody woke us
    }
    rte_rcu_qsbr_thread_online(qsbr_, w_);
}

}  // namespace devip::dp
