// Anti-replay window, RFC 4303 §3.4.3, with extended sequence numbers (§2.2.1 and
// Appendix A: the receiver infers the high 32 bits from the low 32 on the wire).
// check() runs before the ICV is verified and changes nothing; update() runs after, for
// packets whose ICV was good, and is the only writer. One writer (the SA's worker).
#pragma once
#include <array>
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
        if (!esn_) {
            seq = lo;
        } else {
            uint32_t tl = uint32_t(top_), th = uint32_t(top_ >> 32);
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
        if (seq > top_) return true;
        if (top_ - seq >= size_) return false; // left of the window
        return !bit(seq);
    }

    // Record `seq` (from check) after its ICV verified. False if it was already seen,
    // which happens when a burst holds the same packet twice.
    bool update(uint64_t seq) {
        if (seq > top_) {
            advance(seq);
        } else {
            if (top_ - seq >= size_ || bit(seq)) return false;
        }
        bits_[(seq / 64) % kWords] |= uint64_t(1) << (seq % 64);
        return true;
    }

    // Start with `t` as the highest number seen (an SA taken over, or a test near 2^32).
    void start(uint64_t t) {
        bits_.fill(0);
        top_ = t;
    }

    uint64_t top() const { return top_; }      // highest authenticated sequence number
    uint32_t size() const { return size_; }
    bool esn() const { return esn_; }

private:
    static constexpr uint64_t kRingBits = 8192;  // > kMax: bits for seq s at s mod 8192
    static constexpr size_t kWords = kRingBits / 64;

    bool bit(uint64_t s) const { return bits_[(s / 64) % kWords] >> (s % 64) & 1; }

    // Move the right edge to t, clearing the bits of every number in (top_, t].
    void advance(uint64_t t) {
        if (t - top_ >= kRingBits) {
            bits_.fill(0);
        } else {
            for (uint64_t s = top_ + 1; s <= t;) {
                if (s % 64 == 0 && t - s >= 63) {
                    bits_[(s / 64) % kWords] = 0;
                    s += 64;
                } else {
                    bits_[(s / 64) % kWords] &= ~(uint64_t(1) << (s % 64));
                    s++;
                }
            }
        }
        top_ = t;
    }

    uint64_t top_ = 0;                         // T: highest accepted number, 0 before any
    uint32_t size_;                            // W: window size in packets, 64..4096
    bool esn_;                                 // 64-bit sequence numbers
    std::array<uint64_t, kWords> bits_{};      // seen-bitmap ring
};

}  // namespace devip::crypto
