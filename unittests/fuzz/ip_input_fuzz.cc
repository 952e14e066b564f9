// libFuzzer harness for the packet input path: each input is one Ethernet frame, given to
// the worker's decision (fast_classify) and then, when punted, to the stack's input on the
// control thread (ARP, IPv4, ICMP, UDP, conversations), exactly as devipd does; and IPv6 on a
// host learning from RAs (ether0) and on a router advertising (ether1).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "proto/fastpath.h"
#include "proto/icmp.h"
#include "proto/ip6.h"
#include "proto/stack.h"
#include "proto/tcp_conv.h"
#include "proto/udp.h"
#include "unittests/fake_netio.h"

using namespace devip;

namespace {

struct World {
    test::FakeNetio io{2};
    proto::Net net{&io};
    proto::Stack& s = net.stack(0);
    World() {
        auto c = s.ipifc->clone("eve");
        auto& f = **c;
        f.p->write_ctl(f, proto::parsecmd("bind ether /net/ether0"));
        f.p->write_ctl(f, proto::parsecmd("add 198.18.0.1 255.255.255.0"));
        f.p->write_ctl(f, proto::parsecmd("add fe80::1 /64"));
        f.p->write_ctl(f, proto::parsecmd("add 2001:2:0:1::1 /64"));
        f.p->write_ctl(f, proto::parsecmd("ra6 recvra 1"));  // a host learning from RAs
        auto g = s.ipifc->clone("eve");  // and a router advertising on ether1
        (*g)->p->write_ctl(**g, proto::parsecmd("bind ether /net/ether1"));
        (*g)->p->write_ctl(**g, proto::parsecmd("add fe80::2:1 /64"));
        (*g)->p->write_ctl(**g, proto::parsecmd("add 2001:2:0:2::1 /64"));
        (*g)->p->write_ctl(**g, proto::parsecmd("reassemble"));
        (*g)->p->write_ctl(**g, proto::parsecmd("ra6 sendra 1"));
        f.p->write_ctl(f, proto::parsecmd("iprouting 1"));
        proto::RouteTag tag = proto::kTagNone;
        s.rib.write(proto::parsecmd("add 0.0.0.0 /0 198.18.0.2"), tag, s);
        // conversations for the input to find: an announced and a connected udp, an icmp
        auto u = udp_of(s)->clone("eve");
        (*u)->p->write_ctl(**u, proto::parsecmd("announce 7"));
        auto h = udp_of(s)->clone("eve");
        (*h)->p->write_ctl(**h, proto::parsecmd("announce 53"));
        (*h)->p->write_ctl(**h, proto::parsecmd("headers"));
        auto k = udp_of(s)->clone("eve");
        (*k)->p->write_ctl(**k, proto::parsecmd("connect 198.18.0.2!9"));
        auto i = s.icmp->clone("eve");
        (*i)->p->write_ctl(**i, proto::parsecmd("connect 198.18.0.2!1"));
        // and tcp: a listener (its calls), a connection being made (the local shard: no
        // workers here, so segments to our own addresses come back as input)
        auto t = proto::tcp_of(s)->clone("eve");
        (*t)->p->write_ctl(**t, proto::parsecmd("announce 80"));
        auto tc = proto::tcp_of(s)->clone("eve");
        proto::Pend op;
        (*tc)->p->ctl_async(**tc, proto::parsecmd("connect 198.18.0.2!80"), op);
    }
};

// An ICMPv6 frame with its checksum made right, so that mutations reach neighbour discovery
// and router advertisements instead of stopping at the checksum; false for anything else.
bool fix_icmp6(std::vector<uint8_t>& f) {
    constexpr size_t h = 14;
    if (f.size() < h + proto::kIp6Hdr + 4 || proto::get16(f.data() + 12) != proto::kEthIp6)
        return false;
    uint8_t* ip = f.data() + h;
    size_t len = proto::get16(ip + proto::kIp6Plen);
    if (ip[proto::kIp6Next] != proto::kProtoIcmp6 || len < 4 || h + proto::kIp6Hdr + len > f.size())
        return false;
    uint8_t* m = ip + proto::kIp6Hdr;
    proto::put16(m + 2, 0);
    proto::put16(m + 2, proto::ip6_csum(proto::ip6_src(ip), proto::ip6_dst(ip),
                                        proto::kProtoIcmp6, m, len));
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static World w;
    if (size == 0) return 0;  // no frame (and no pointer to offset)
    std::vector<uint8_t> frame(data, data + size);
    proto::FastStats st{};
    size_t n = 0;
    uint16_t op = 0;
    proto::FastNext next = proto::fast_classify(frame.data(), frame.size(), 0, w.io.table, st,
                                                proto::NoFib{}, &n, &op);
    if (next == proto::FastNext::Punt) w.net.input(0, {data, size});
    // the stack's own input also sees the raw frame (pkt-medium path, no worker checks)
    w.net.input(0, {data, size});
    w.net.input(1, {data, size});  // the advertising interface (solicitations, v6 routing)
    if (fix_icmp6(frame)) {
        w.net.input(0, frame);
        w.net.input(1, frame);
    }
    w.net.tick(w.net.now_ms += 500);
    if (w.io.sent.size() > 1000) w.io.sent.clear();
    for (auto& c : proto::udp_of(w.s)->convs) {  // drain queues so memory stays bounded
        std::string out;
        proto::Err e;
        while (c->rq.read(65536, out, e) == proto::Queue::R::Data && !out.empty()) {}
        c->incall.clear();
    }
    return 0;
}
