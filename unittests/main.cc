// Unit test entry point. Tests that need real mbufs call devip::test::eal() first; EAL then
// starts unprivileged with --no-huge --no-pci --no-shconf (STYLE.md §6).
#include <gtest/gtest.h>

int main(int argc, char** argv) {
    testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
