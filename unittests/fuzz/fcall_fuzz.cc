// libFuzzer harness for the 9P2000 codec. Any bytes: decode must not crash. When decode
// accepts, the message is canonical: encoding it gives back exactly the input, and that
// encoding decodes again. Packed Dirs inside Rstat/Twstat go through decode_dir and
// encode_dir the same way.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "control/fcall.h"

using namespace devip::ctl;

namespace {

void check(bool ok) {
    if (!ok) abort();
}

void check_dir(std::span<const uint8_t> st) {
    Dir d;
    size_t n = decode_dir(st, d);
    if (n == 0) return;
    std::vector<uint8_t> again;
    check(encode_dir(d, again) == n);
    check(std::memcmp(again.data(), st.data(), n) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::span<const uint8_t> in(data, size);
    Fcall f;
    if (!decode(in, f)) {
        check_dir(in);  // the same bytes as a packed Dir
        return 0;
    }
    check(peek_size(in) == size);
    std::vector<uint8_t> out;
    encode(f, out);
    check(out.size() == size && std::memcmp(out.data(), data, size) == 0);
    Fcall g;
    check(decode(out, g));
    check(g.type == f.type && g.tag == f.tag);
    if (f.type == Ftype::Rstat || f.type == Ftype::Twstat) check_dir(f.stat);
    return 0;
}
