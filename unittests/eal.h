#pragma once
#include <gtest/gtest.h>

#include <cstdlib>

namespace devip::test {
bool eal();  // starts EAL once (no hugepages, no PCI); false if it cannot

// True when the environment variable CI is set (not empty): a test that cannot run there
// must fail, not skip, so that a broken environment cannot pass as green.
inline bool under_ci() {
    const char* v = std::getenv("CI");
    return v && *v;
}
}  // namespace devip::test

// For a test's SetUp or body that needs DPDK memory: skips the test when EAL cannot start,
// and fails it instead under CI.
#define DEVIP_REQUIRE_EAL()                                                                 \
    do {                                                                                    \
        if (!devip::test::eal()) {                                                          \
            if (devip::test::under_ci()) FAIL() << "EAL unavailable (and CI is set)";       \
            GTEST_SKIP() << "EAL unavailable";                                              \
        }                                                                                   \
    } while (0)
