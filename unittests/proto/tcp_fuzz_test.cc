// The TCP fuzz harness bodies (unittests/fuzz/tcp_fuzz.h) on a few thousand seeded random
// programs, so the ordinary build exercises them too; scripts/fuzz.sh runs the real fuzzers.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "unittests/fuzz/tcp_fuzz.h"

namespace devip::proto {
namespace {

TEST(TcpFuzz, RandomSegmentProgramsNeitherCrashNorLeak) {
    std::mt19937_64 r(8);
    for (int i = 0; i < 3000; i++) {
        std::vector<uint8_t> p(r() % 600);
        for (auto& b : p) b = uint8_t(r());
        fuzz::tcp_input_fuzz_one(p.data(), p.size());
    }
}

TEST(TcpFuzz, HandshakeThenChaos) {
    // a program that completes a passive handshake first, then random segments
    std::mt19937_64 r(9);
    for (int i = 0; i < 500; i++) {
        fuzz::TcpFuzzWorld w;
        ASSERT_TRUE(tcp_listen(w.s, IPnoaddr, 80));
        TcpSegIn g;
        g.t = TcpTuple{w.us, w.peer, 80, 1000};
        g.seq = 100, g.flags = TcpSyn, g.wnd = 65535;
        tcp_input(w.s, g, w.now);
        ASSERT_EQ(w.s.tx.size(), 1u);
        uint32_t iss = get32(w.s.tx[0].hdr + 4);
        w.drain();
        g.seq = 101, g.ack = iss + 1, g.flags = TcpAck;
        tcp_input(w.s, g, w.now);
        w.drain();
        ASSERT_NE(w.ids[0], kTcpNoConn);
        std::vector<uint8_t> p(r() % 800);
        for (auto& b : p) b = uint8_t(r());
        for (size_t k = 0; k < p.size(); k += 3) p[k] = uint8_t(p[k] & 0xf0);  // ops on id 0
        fuzz::TcpFuzzIn in{p.data(), p.size()};
        while (in.n) w.step(in);
        w.finish();
    }
}

TEST(TcpFuzz, CtlTexts) {
    for (const char* t : {"", "close", "close x", "hangup", "keepalive", "keepalive 10 20",
                          "checksum", "checksum 0", "tcpporthogdefense on", "tcpporthogdefense",
                          "shutdown", "backlog", "backlog 0", "backlog 5", "nagle on", "cc",
                          "cc cubic", "mss 1", "mss 900", "'' ''", "\n"})
        fuzz::tcp_ctl_fuzz_one(reinterpret_cast<const uint8_t*>(t), strlen(t));
}

}  // namespace
}  // namespace devip::proto
