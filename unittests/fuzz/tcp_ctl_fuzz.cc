// libFuzzer harness for the tcp ctl (ip3.md §3.4 and ours): any text on a listener and on a
// connecting conversation; errors must be one of the known strings, nothing may leak.
#include "unittests/fuzz/tcp_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    devip::proto::fuzz::tcp_ctl_fuzz_one(data, size);
    return 0;
}
