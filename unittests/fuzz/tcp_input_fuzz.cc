// libFuzzer harness for TCP input: random segment sequences, application calls, ctl, ICMP
// advice and time steps against one shard (the program format is in tcp_fuzz.h). The state
// machine must never crash, break an invariant or leak a connection, limbo entry or buffer.
#include "unittests/fuzz/tcp_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    devip::proto::fuzz::tcp_input_fuzz_one(data, size);
    return 0;
}
