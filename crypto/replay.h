// Anti-replay window, RFC 4303 §3.4.3, with extended sequence numbers (§2.2.1 and
// Appendix A: the receiver infers the high 32 bits from the low 32 on the wire).
// check() runs before the ICV is verified and changes nothing; update() runs after, for
// packets whose ICV was good. Several workers may decrypt one SA at once: update() is
// lock-free. The seen-bits live in a ring of 64-bit slots, each the 32 bits of one block of
// 32 sequence numbers and that block's number (low 32 bits), changed by compare-and-swap
// only, so a block's bits and its number never disagree; the ring (8192 numbers) is more
// than twice the largest window, so a slot's other block is always outside the window.
// The right edge (top) only grows, by compare-and-swap.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>

namespace devip::crypto {

class ReplayWindow {
public:
    static constexpr uint32_t kMin = 64, kMax = 4096;

    explicit ReplayWindow(uint32_t size = kMin, bool esn = false)
        : size_(size < kMin ? kMin : size > kMax ? kMax : size), esn_(esn) {}

    // May a packet with low sequence bits `lo` be accepted? If so, `seq` is its full
    // 64-bit number (high bits inferred under ESN, zero otherwise).
    bool check(uint32_t lo, uint64_t& seq) const {
        uint64_t top = top_.load(std::memory_order_acquire);
        if (!esn_) {
            seq = lo;
        } else {
            uint32_t tl = uint32_t(top), th = uint32_t(top >> 32);
            uint32_t bottom = tl - size_ + 1;  // mod 2^32
            uint32_t hi;
            if (tl >= size_ - 1) {             // window inside one 2^32 subspace (case A)
                hi = lo >= bottom ? th : th + 1;
            } else {                           // window spans two subspaces (case B)
                if (lo >= bottom) {
                    if (th == 0) return false; // there is no subspace before the first
                    hi = th - 1;
                } else {
                    hi = th;
                }
            }
            seq = uint64_t(hi) << 32 | lo;
        }
        if (seq == 0) return false;            // the first packet is number 1
        if (seq > top) return true;
        if (top - seq >= size_) return false;  // left of the window
        return !seen(seq);
    }

    // Record `seq` (from check) after its ICV verified. False if it was seen already (the
    // same packet twice in a burst, or on two workers) or has fallen left of the window.
    bool update(uint64_t seq) {
        uint64_t top = top_.load(std::memory_order_acquire);
        if (seq <= top && top - seq >= size_) return false;
        std::atomic<uint64_t>& sl = slot_[(seq / kBlock) % kSlots];
        const uint32_t blk = uint32_t(seq / kBlock), bit = uint32_t(1) << (seq % kBlock);
        uint64_t w = sl.load(std::memory_order_acquire), next;
        do {
            uint32_t wb = uint32_t(w >> 32), bits = uint32_t(w);
            if (wb == blk) {
                if (bits & bit) return false;
                next = w | bit;
            } else if (int32_t(wb - blk) > 0) {
                return false;                  // a newer block holds the slot: far left
            } else {
                next = uint64_t(blk) << 32 | bit;  // an old block's slot, taken over
            }
        } while (!sl.compare_exchange_weak(w, next, std::memory_order_acq_rel));
        while (top < seq && !top_.compare_exchange_weak(top, seq, std::memory_order_acq_rel)) {
        }
        return true;
    }

    // Start with `t` as the highest number seen (an SA taken over, or a test near 2^32).
    // Not concurrent with check or update (the control thread, before publishing).
    void start(uint64_t t) {
        for (auto& s : slot_) s.store(0, std::memory_order_relaxed);
        top_.store(t, std::memory_order_release);
    }

    uint64_t top() const { return top_.load(std::memory_order_acquire); }  // highest accepted
    uint32_t size() const { return size_; }
    bool esn() const { return esn_; }

private:
    static constexpr uint64_t kBlock = 32;     // sequence numbers per slot
    static constexpr size_t kSlots = 256;      // 8192 numbers: > 2 * kMax

    bool seen(uint64_t s) const {
        uint64_t w = slot_[(s / kBlock) % kSlots].load(std::memory_order_acquire);
        return uint32_t(w >> 32) == uint32_t(s / kBlock) && (uint32_t(w) >> (s % kBlock) & 1);
    }

    std::atomic<uint64_t> top_{0};             // T: highest accepted number, 0 before any
    uint32_t size_;                            // W: window size in packets, 64..4096
    bool esn_;                                 // 64-bit sequence numbers
    std::array<std::atomic<uint64_t>, kSlots> slot_{};  // block number << 32 | seen bits
};

}  // namespace devip::crypto
