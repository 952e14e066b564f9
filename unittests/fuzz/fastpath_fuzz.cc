// libFuzzer harness for the worker's forwarding decisions with real FIBs: each input is one
// Ethernet frame arriving on a forwarding port. Besides memory safety it checks that the
// short road (fast4_plain, fast6_frame) agrees with the general path (fast_ingress), and
// that a forwarded IPv4 header still sums right after the TTL rewrite; and that the l4
// stage's UDP classifiers (udp_shard.h, v4 and v6) keep a payload they take inside the packet.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "proto/fastpath.h"
#include "proto/fib_lookup.h"
#include "proto/udp_shard.h"

using namespace devip::proto;

namespace {

Route route(const Ipaddr& dst, int len, const Ipaddr& gate, uint16_t type, int ifc) {
    Route r{};
    r.mask = prefix_mask(len);
    r.dst = dst & r.mask;
    r.gate = gate;
    r.type = type;
    r.ifc = ifc;
    return r;
}

struct World {
    FastTable t{};
    Fib4 fib4;
    Fib6 fib6;
    std::atomic<uint32_t> ipid{0};
    World() {
        Retire now = [](std::function<void()> f) { f(); };
        fib4.init(1024, {}, now);
        fib6.init(1024, {}, now);
        for (int p = 0; p < 2; p++) {
            PortRt& r = t.port[size_t(p)];
            r.bound = 1;
            r.forwarding = 1;
            r.mtu = r.mtu6 = uint16_t(p ? 1000 : 1500);
            r.mac = Ether{{2, 0, 0, 0, 0, uint8_t(0x10 + p)}};
        }
        t.port[0].nlocal = 1;
        t.port[0].local[0] = __builtin_bswap32(0xc6120001);
        t.port[0].nbcast = 1;
        t.port[0].bcast[0] = __builtin_bswap32(0xc61200ff);
        t.fib[0] = fib4.rt();
        t.fib6[0] = fib6.rt();
        t.ipid[0] = &ipid;
        Ipaddr gw4 = Ipaddr::v4(0xc6130002);
        fib4.route(route(Ipaddr::v4(0), 96, gw4, Rv4, 1), true, NhKind::Gate, 1);
        fib4.route(route(Ipaddr::v4(0xc6120000), 120, Ipaddr::v4(0xc6120000), Rv4 | Rifc, 0),
                   true, NhKind::OnLink, 0);
        fib4.route(route(Ipaddr::v4(0xc6120001), 128, Ipaddr::v4(0xc6120001), Rv4 | Runi, 0),
                   true, NhKind::Local, 0);
        Route sp = route(Ipaddr::v4(0x0a000000), 104, gw4, Rv4, 1);
        sp.src = Ipaddr::v4(0xc6120000);
        sp.smask = prefix_mask(120);
        fib4.route(sp, true, NhKind::Gate, 1);
        fib4.route(route(Ipaddr::v4(0x0b000080), 121, gw4, Rv4, 1), true, NhKind::Gate, 1);
        fib4.neigh_set(1, fib_addr<4>(gw4), Ether{{2, 0, 0, 0, 0, 2}});
        fib4.neigh_set(0, fib_addr<4>(Ipaddr::v4(0xc6120002)), Ether{{2, 0, 0, 0, 0, 3}});
        Ipaddr gw6 = Ipaddr::ones();
        gw6.b = {0x20, 0x01, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2};
        Ipaddr net6{};
        net6.b = {0x20, 0x01, 0, 2};
        fib6.route(route(net6, 32, gw6, 0, 1), true, NhKind::Gate, 1);
        fib6.neigh_set(1, fib_addr<16>(gw6), Ether{{2, 0, 0, 0, 0, 4}});
        fib4.commit();
        fib6.commit();
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static World w;
    std::vector<uint8_t> a(data, data + size), b = a;
    FastStats st{};
    uint64_t mac48 = 0;
    std::memcpy(&mac48, w.t.port[0].mac.b.data(), 6);
    uint16_t tl = 0;
    size_t n = 0;
    uint16_t op = 0;
    Ip4Check ck{};
    if (size >= 14) {  // the short road's promises, checked against the general path
        if (fast4_plain(a.data(), size, mac48, &tl)) {
            FastNext g = fast_ingress(b.data(), size, 0, w.t, st, &ck, &n, &op);
            if (!((g == FastNext::Fwd && ck.tlen == tl) || g == FastNext::Tx ||
                  g == FastNext::Punt))
                __builtin_trap();
        } else if (fast6_frame(a.data(), size, mac48, &tl)) {
            FastNext g = fast_ingress(b.data(), size, 0, w.t, st, &ck, &n, &op);
            if (g != FastNext::Fwd6 || ck.tlen != tl) __builtin_trap();
        }
    }
    std::vector<uint8_t> c(data, data + size);
    FastNext r = fast_classify(c.data(), c.size(), 0, w.t, st, FibView4{w.fib4.rt()}, &n, &op,
                               FibView6{w.fib6.rt()});
    if (r == FastNext::Fwd) {
        if (n > size || op != 1 || !ip4_csum_ok(c.data() + kEthHdr, size_t(c[kEthHdr] & 0xf) * 4))
            __builtin_trap();
    }
    if (r == FastNext::Fwd6 && (n > size || op != 1)) __builtin_trap();
    static const UdpShard any = [] {  // a conversation announced on every address and port
        UdpShard s;
        s.add(FlowMsg{IPnoaddr, IPnoaddr, 0, 0, 0, 255, 0, {}}, 1, 1);
        return s;
    }();
    if (size > size_t(kEthHdr)) {
        const uint8_t* ip = data + kEthHdr;
        size_t room = size - kEthHdr;
        if ((ip[0] >> 4) == 6 && room >= size_t(kIp6Hdr)) {
            size_t tlen = std::min(room, size_t(kIp6Hdr) + get16(ip + kIp6Plen));
            UdpVerdict v = udp_classify6(any, ip, tlen);
            if (v.flow && (v.off < size_t(kIp6Hdr) + 8 || v.off + v.len > tlen)) __builtin_trap();
        } else if (Ip4Check k = ip4_check(ip, room, true); k.ok) {
            UdpVerdict v = udp_classify4(any, ip, k.hlen, k.tlen);
            if (v.flow && (v.off < k.hlen + 8 || v.off + v.len > k.tlen)) __builtin_trap();
        }
    }
    return 0;
}
