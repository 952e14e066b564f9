// Unit test entry point. Tests that need DPDK memory (mbufs, rte_lpm, rte_hash) call
// devip::test::eal() first; EAL then starts unprivileged with --no-huge --no-pci --no-shconf
// (STYLE.md §6), once per process.
#include <gtest/gtest.h>
#include <rte_eal.h>

#include "unittests/eal.h"

namespace devip::test {

bool eal() {
    static int state = 0;  // 0 untried, 1 up, -1 failed
    if (state == 0) {
        const char* argv[] = {"unittests", "--no-huge", "--no-pci", "--no-shconf", "-m", "256",
                              "--no-telemetry", "--log-level=*:error", "-l", "0"};
        state = rte_eal_init(int(std::size(argv)), const_cast<char**>(argv)) >= 0 ? 1 : -1;
    }
    return state == 1;
}

}  // namespace devip::test

int main(int argc, char** argv) {
    testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
