// libFuzzer harness for every ctl parser behind a file of the stack: ipifc ctl, conversation
// ctl (udp, icmp), /net/iproute, /net/arp and /net/log writes. The first byte picks the
// target; the rest is the message. Any state the messages build up is kept across inputs
// (bounded: the stack resets every 4096 inputs).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "proto/stack.h"
#include "proto/icmp.h"
#include "proto/udp.h"
#include "unittests/fake_netio.h"

using namespace devip;

namespace {

struct World {
    test::FakeNetio io{2};
    proto::Net net{&io};
    proto::Stack& s = net.stack(0);
    proto::RouteTag tag = proto::kTagNone;
    World() {
        auto c = s.ipifc->clone("eve");
        (*c)->p->write_ctl(**c, proto::parsecmd("bind ether /net/ether0"));
        (*c)->p->write_ctl(**c, proto::parsecmd("add 198.18.0.1 255.255.255.0"));
    }
};

std::unique_ptr<World> w;
unsigned runs;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (!w || ++runs % 4096 == 0) w = std::make_unique<World>();
    if (size == 0) return 0;
    std::string msg(reinterpret_cast<const char*>(data + 1), size - 1);
    proto::Stack& s = w->s;
    switch (data[0] % 6) {
    case 0: {  // an interface: existing or new
        proto::Proto& p = *s.ipifc;
        proto::Conv* c = p.convs.size() < 4 ? *p.clone("eve") : p.conv(data[0] / 6 % 4);
        if (c) p.write_ctl(*c, proto::parsecmd(msg));
        break;
    }
    case 1:
    case 2: {
        proto::Proto& p = data[0] % 6 == 1 ? static_cast<proto::Proto&>(*udp_of(s))
                                               : static_cast<proto::Proto&>(*s.icmp);
        auto c = p.clone("eve");
        if (c) {
            p.caller_eve = data[0] & 0x80;
            p.write_ctl(**c, proto::parsecmd(msg));
            p.write_data(**c, {data, size});
            (*c)->inuse = 0;
            p.last_close(**c);
        }
        break;
    }
    case 3:
        s.rib.write(proto::parsecmd(msg), w->tag, s);
        break;
    case 4:
        s.arp_write(msg);
        break;
    case 5:
        s.log.ctl(proto::parsecmd(msg));
        break;
    }
    std::string out;
    s.rib.text(out);
    s.arp_text(out);
    s.self.text(out);
    if (w->io.sent.size() > 1000) w->io.sent.clear();
    return 0;
}
