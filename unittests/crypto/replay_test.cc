// crypto/replay.h: RFC 4303 §3.4.3 window and Appendix A ESN inference.
#include <gtest/gtest.h>

#include "crypto/replay.h"

#include <thread>
#include <vector>

namespace devip::crypto {
namespace {

// check then update, as the engine does around the ICV check
bool accept(ReplayWindow& w, uint32_t lo, uint64_t* full = nullptr) {
    uint64_t s;
    if (!w.check(lo, s)) return false;
    if (full) *full = s;
    return w.update(s);
}

TEST(CryptoReplay, InOrderDuplicatesAndOld) {
    ReplayWindow w(64);
    uint64_t s;
    EXPECT_FALSE(w.check(0, s));  // sequence numbers start at 1
    for (uint32_t i = 1; i <= 100; i++) EXPECT_TRUE(accept(w, i)) << i;
    EXPECT_EQ(w.top(), 100u);
    EXPECT_FALSE(accept(w, 100));
    EXPECT_FALSE(accept(w, 50));
    EXPECT_FALSE(accept(w, 36));  // 100-36 = 64: left of the window
    EXPECT_FALSE(accept(w, 37));  // in the window but seen
}

TEST(CryptoReplay, OutOfOrderInsideTheWindow) {
    ReplayWindow w(64);
    EXPECT_TRUE(accept(w, 200));
    EXPECT_TRUE(accept(w, 137));  // 200-137 = 63: the last slot
    EXPECT_FALSE(accept(w, 136));
    EXPECT_TRUE(accept(w, 199));
    EXPECT_FALSE(accept(w, 199));
    EXPECT_TRUE(accept(w, 150));
    EXPECT_TRUE(accept(w, 300));  // slides by 100: everything from 237 up is fresh
    EXPECT_TRUE(accept(w, 250));
    EXPECT_FALSE(accept(w, 200));
}

TEST(CryptoReplay, CheckAloneChangesNothing) {
    ReplayWindow w(64);
    uint64_t s;
    EXPECT_TRUE(w.check(5, s));
    EXPECT_TRUE(w.check(5, s));  // an ICV failure leaves no trace
    EXPECT_EQ(w.top(), 0u);
    EXPECT_TRUE(w.update(5));
    EXPECT_FALSE(w.update(5));   // a second copy in the same burst
}

TEST(CryptoReplay, WindowSizes) {
    EXPECT_EQ(ReplayWindow(10).size(), 64u);
    EXPECT_EQ(ReplayWindow(10000).size(), 4096u);
    ReplayWindow w(4096);
    EXPECT_TRUE(accept(w, 10000));
    EXPECT_TRUE(accept(w, 10000 - 4095));
    EXPECT_FALSE(accept(w, 10000 - 4096));
    for (uint32_t i = 10000 - 4094; i < 10000; i += 7) EXPECT_TRUE(accept(w, i)) << i;
    for (uint32_t i = 10000 - 4094; i < 10000; i += 7) EXPECT_FALSE(accept(w, i)) << i;
    // a jump larger than the bitmap ring clears it
    EXPECT_TRUE(accept(w, 100000));
    EXPECT_TRUE(accept(w, 100000 - 8));
}

TEST(CryptoReplay, NonEsnTopOfTheSpace) {
    ReplayWindow w(64);
    EXPECT_TRUE(accept(w, 0xfffffffe));
    EXPECT_TRUE(accept(w, 0xffffffff));
    EXPECT_FALSE(accept(w, 0xffffffff));
    EXPECT_FALSE(accept(w, 1));  // no wrap without ESN
    EXPECT_TRUE(accept(w, 0xffffffc1));
}

TEST(CryptoReplay, EsnCrossesTwoToThe32) {
    ReplayWindow w(64, true);
    w.start(0xffffffe0);
    uint64_t s;
    EXPECT_TRUE(accept(w, 0xfffffff0, &s));
    EXPECT_EQ(s, 0xfffffff0u);
    EXPECT_TRUE(accept(w, 0x00000003, &s));  // case A: low bits below the window: next space
    EXPECT_EQ(s, 0x100000003u);
    EXPECT_EQ(w.top(), 0x100000003u);
    // case B: the window spans 2^32; a large low value belongs to the previous space
    EXPECT_TRUE(accept(w, 0xfffffffa, &s));
    EXPECT_EQ(s, 0xfffffffau);
    EXPECT_FALSE(accept(w, 0xfffffff0));     // seen before the wrap
    EXPECT_FALSE(accept(w, 0x00000003));
    EXPECT_TRUE(accept(w, 0x00000000, &s));  // 2^32 itself is a valid number under ESN
    EXPECT_EQ(s, 0x100000000u);
    EXPECT_TRUE(accept(w, 0xffffffc4, &s));  // 63 back: the window's last slot
    EXPECT_EQ(s, 0xffffffc4u);
}

TEST(CryptoReplay, EsnBeforeAnyPacket) {
    ReplayWindow w(64, true);
    uint64_t s;
    EXPECT_FALSE(w.check(0xffffffff, s));  // no space before the first
    EXPECT_TRUE(w.check(1, s));
    EXPECT_EQ(s, 1u);
}

TEST(CryptoReplay, EsnFarAhead) {
    ReplayWindow w(128, true);
    uint64_t s;
    EXPECT_TRUE(accept(w, 0x80000000, &s));
    EXPECT_EQ(s, 0x80000000u);
    EXPECT_TRUE(accept(w, 0x10, &s));  // below the window's bottom: the next space
    EXPECT_EQ(s, 0x100000010u);
    EXPECT_TRUE(accept(w, 0xffffffa0, &s));  // 0x100000010 - 0xffffffa0 = 0x70 < 128
    EXPECT_EQ(s, 0xffffffa0u);
    EXPECT_FALSE(accept(w, 0xffffffa0));     // seen
    // Below the window's bottom the low bits are read as the next space (Appendix A);
    // such a packet fails its ICV, and check() alone never moves the window.
    EXPECT_TRUE(w.check(0xffffff8f, s));
    EXPECT_EQ(s, 0x1ffffff8fu);
    EXPECT_EQ(w.top(), 0x100000010u);
}

// Two workers decrypting one SA: each is given every packet (a duplicate of every one, in a
// slightly different order, so blocks of the ring are taken over while the other writes);
// every number is accepted exactly once, whatever the interleaving.
TEST(CryptoReplay, TwoWritersAcceptEachNumberOnce) {
    ReplayWindow w(4096);
    constexpr uint32_t kN = 200000;
    std::vector<uint8_t> won(kN + 1);
    std::atomic<uint64_t> accepted{0};
    auto run = [&](bool swap) {
        uint64_t mine = 0;
        for (uint32_t i = 1; i <= kN; i++) {
            uint32_t s = swap && i % 2 == 0 && i < kN ? i + 1 : swap && i % 2 == 1 && i > 1 ? i - 1 : i;
            uint64_t full;
            if (w.check(s, full) && w.update(full)) {
                mine++;
                won[s]++;  // each s is won by one thread only: no race on the byte
            }
        }
        accepted += mine;
    };
    std::thread a(run, false), b(run, true);
    a.join();
    b.join();
    EXPECT_EQ(accepted.load(), kN);
    for (uint32_t i = 1; i <= kN; i++) ASSERT_EQ(won[i], 1) << i;
    EXPECT_EQ(w.top(), kN);
}

}  // namespace
}  // namespace devip::crypto
