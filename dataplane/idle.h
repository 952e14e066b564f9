// Idle workers sleep (issue 10 §5). A worker that has polled kIdleRounds times in vain
// goes offline for RCU and sleeps in epoll on its rx queues' interrupt fds (where the PMD
// gives them: net_tap does, its queue fds; real NICs their vfio eventfds once the queue's
// interrupt is enabled) and on its own eventfd, which the control thread writes after it
// puts a request on the worker's ring while the worker sleeps (the Dekker handshake of
// Dataplane::wake_control, the other way round). A worker with a queue that has no
// interrupt fd sleeps in growing naps instead (50 µs doubling to 1 ms), which the eventfd
// still cuts short. Sleeps are at most kMaxSleepNs: the bound on how late a worker timer
// (none yet: TCP's wheel is next) or a lost interrupt is seen. After a wake-up by an fd the
// worker polls for kWokenPollNs and then sleeps kWokenSleepNs at most (doubling back to
// kMaxSleepNs): net_tap delivers a queue's packets only after its signal handler has run,
// which can be later than the fd's wake-up (idle.cc, settle).
//
// Modes: Sleep (the default), Nap (devipd --idle poll on a worker that shares a CPU with the
// control thread: the fixed 50 µs naps of before), Poll (--idle poll otherwise: spin).
#pragma once
#include <atomic>
#include <cstdint>
#include <vector>

struct rte_ring;
struct rte_rcu_qsbr;

namespace devip::dp {

// How the control thread wakes one sleeping worker.
struct alignas(64) WorkerWake {
    std::atomic<bool> asleep{false};   // the worker is in (or about to enter) its sleep
    int fd = -1;                       // eventfd: a write ends the sleep
};

// Control side, after putting something on the worker's request ring: one write per sleep
// at most, none while the worker is awake.
void wake_worker(WorkerWake& k);

enum class IdleMode : uint8_t { Poll, Nap, Sleep };

class Idler {
public:
    static constexpr uint32_t kIdleRounds = 2048;      // empty loops (~100 µs) before a sleep
    static constexpr long kNapNs = 50'000;             // first nap; Nap mode's only one
    static constexpr long kMaxNapNs = 1'000'000;       // naps grow to this
    static constexpr long kMaxSleepNs = 10'000'000;    // a sleep on interrupts lasts at most
    static constexpr long kWokenPollNs = 1'000'000;    // polling after a wake-up, at least
    static constexpr long kWokenSleepNs = 1'000'000;   // the sleep after that, at most

    // For worker w polling queue q of ports; req is its request ring (looked at last before
    // sleeping). Sets up the epoll set on the calling (worker) thread.
    Idler(IdleMode mode, WorkerWake& wake, rte_ring* req, const std::vector<uint16_t>& ports,
          uint16_t q, rte_rcu_qsbr* qsbr, unsigned w);
    ~Idler();
    Idler(const Idler&) = delete;
    Idler& operator=(const Idler&) = delete;

    // Once per loop, after quiescence: busy (the loop had work) resets the count; enough
    // empty loops in a row and the worker sleeps. True when it slept.
    void watch_hand(rte_ring* r) { hand_ = r; }  // another ring that wakes it (wake_worker)
    bool after(bool busy) {
        if (busy) {
            idle_ = 0;
            nap_ = kNapNs;
            poll_until_ = 0;
            return false;
        }
        if (mode_ == IdleMode::Poll || ++idle_ < kIdleRounds) return false;
        if (poll_until_ && !past(poll_until_)) {
            settle();
            return false;
        }
        poll_until_ = 0;
        sleep();
        return true;
    }
    bool interrupts() const { return intr_; }  // every queue has an interrupt fd

private:
    void sleep();
    void arm(bool on);                  // rx interrupts on or off (where the PMD has them)
    static bool past(uint64_t tsc);     // the TSC has passed tsc
    void settle();                      // now and then a system call: pending signals land

    IdleMode mode_;
    WorkerWake& wake_;
    rte_ring* req_;
    rte_ring* hand_ = nullptr;     // segments other workers hand over (checked like req_)
    std::vector<uint16_t> ports_;       // ports whose queue q this worker polls
    uint16_t q_;
    rte_rcu_qsbr* qsbr_;
    unsigned w_;
    int ep_ = -1;                       // epoll set: rx interrupt fds and wake_.fd
    bool intr_ = false;                 // every rx queue is in ep_
    uint32_t idle_ = 0;                 // empty loops in a row
    long nap_ = kNapNs;                 // next nap (no interrupts)
    uint64_t poll_until_ = 0;           // TSC: woken by an fd, poll at least until then
    long sleep_ns_ = kMaxSleepNs;       // next sleep on interrupts
};

}  // namespace devip::dp
