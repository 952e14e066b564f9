// libFuzzer harness for the ESP and GRE input parsers (proto/esp.cc, proto/gre.cc) and
// their ctl verbs. The first byte chooses: 0 an IPv4 ESP packet, 1 an IPv6 ESP packet, 2 an
// IPv4 GRE packet (the rest of the input is the IP payload), 3 an esp ctl message, 4 a gre
// ctl message (on conversations of their own). The SAs: null/null, AES-GCM, a 9front one and
// a header-mode one, so mutations of a sealed packet's SPI reach each; GRE: a connected, a raw
// and a retunnelling conversation. Tunnel interfaces (proto/tunnel.h): an esp one on a
// null/null SA pair (SPI 260, so decrypted inner packets reach the reverse-path check and IP
// input on the tunnel) and a gre one to 198.18.0.4; 5 a GRE packet from 198.18.0.4; 6 the
// workers' pure tunnel decisions (gre_parse, tun_match on the published table, ECN).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "proto/esp.h"
#include "proto/gre.h"
#include "proto/ip6.h"
#include "proto/stack.h"
#include "proto/tunnel.h"
#include "unittests/fake_netio.h"

using namespace devip;

namespace {

proto::Conv& conv(proto::Proto& p, std::initializer_list<const char*> msgs) {
    proto::Conv& c = **p.clone("eve");
    for (const char* m : msgs) p.write_ctl(c, proto::parsecmd(m));
    return c;
}

struct World {
    test::FakeNetio io{1};
    proto::Net net{&io};
    proto::Stack& s = net.stack(0);
    proto::Esp& esp = *proto::esp_of(s);
    proto::Proto& gre = *s.proto("gre");
    proto::Conv* esp_ctl;
    proto::Conv* gre_ctl;
    World() {
        auto& f = **s.ipifc->clone("eve");
        f.p->write_ctl(f, proto::parsecmd("bind ether /net/ether0"));
        f.p->write_ctl(f, proto::parsecmd("add 198.18.0.1 255.255.255.0"));
        f.p->write_ctl(f, proto::parsecmd("add 2001:2:0:1::1 /64"));
        conv(esp, {"connect 198.18.0.2!*", "spi 256"});
        conv(esp, {"connect 198.18.0.2!*", "spi 257",
                   "esp aes_128_gcm 000102030405060708090a0b0c0d0e0fa0a1a2a3"});
        conv(esp, {"connect 198.18.0.2!*", "spi 258", "9front",
                   "ah hmac_sha1_96 000102030405060708090a0b0c0d0e0f"});
        conv(esp, {"connect 2001:2:0:1::2!*", "spi 259", "header", "esn"});
        conv(esp, {"connect 198.18.0.2!4096"});
        conv(gre, {"connect 198.18.0.2!2048"});
        conv(gre, {"connect 198.18.0.3!34827", "raw"});
        conv(gre, {"retunnel 10.0.0.5 198.18.0.2 198.18.0.3 198.18.0.1", "ulkey 7", "ulresume"});
        esp_ctl = &conv(esp, {"connect 198.18.0.2!*"});
        gre_ctl = &conv(gre, {});
        s.fib_enable();
        proto::Conv& o = conv(esp, {"connect 198.18.0.2!4097"});
        proto::Conv& i = conv(esp, {"connect 198.18.0.2!*", "spi 260"});
        auto& t = **s.ipifc->clone("eve");
        t.p->write_ctl(t, proto::parsecmd("bind esp /net/esp/" + std::to_string(o.x) +
                                          " /net/esp/" + std::to_string(i.x)));
        t.p->write_ctl(t, proto::parsecmd("add 10.0.9.1 255.255.255.0"));
        auto& g = **s.ipifc->clone("eve");
        g.p->write_ctl(g, proto::parsecmd("bind gre 198.18.0.1 198.18.0.4 csum"));
        g.p->write_ctl(g, proto::parsecmd("add 10.0.10.1 255.255.255.0"));
    }
    void packet(bool v6, uint8_t proto, const uint8_t* d, size_t n, uint32_t src = 0xc6120002) {
        std::vector<uint8_t> p(v6 ? proto::kIp6Hdr : proto::kIp4Hdr);
        if (v6) {
            p[0] = 0x60;
            proto::put16(p.data() + 4, uint16_t(n));
            p[6] = proto;
            p[7] = 64;
            uint8_t src[16] = {0x20, 0x01, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2};
            uint8_t dst[16] = {0x20, 0x01, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1};
            std::copy(src, src + 16, p.begin() + 8);
            std::copy(dst, dst + 16, p.begin() + 24);
            p.insert(p.end(), d, d + n);
        } else {
            p = test::ip4(src, 0xc6120001, proto, std::vector<uint8_t>(d, d + n));
        }
        s.ip_input(*s.ipifc->ifc(0), p);
    }
    void clear() {
        io.sent.clear();
        for (auto& c : esp.convs) c->rq.reset();
        for (auto& c : gre.convs) c->rq.reset();
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static World w;
    if (size < 1 || size > 4096) return 0;
    const uint8_t* d = data + 1;
    size_t n = size - 1;
    switch (data[0] % 7) {
    case 0: w.packet(false, 50, d, n); break;
    case 1: w.packet(true, 50, d, n); break;
    case 2: w.packet(false, 47, d, n); break;
    case 3:
        w.esp.write_ctl(*w.esp_ctl, proto::parsecmd(std::string(d, d + n)));
        break;
    case 4:
        w.gre.write_ctl(*w.gre_ctl, proto::parsecmd(std::string(d, d + n)));
        break;
    case 5: w.packet(false, 47, d, n, 0xc6120004); break;
    case 6: {
        std::vector<uint8_t> p = test::ip4(0xc6120004, 0xc6120001, n && d[0] & 1 ? 50 : 47,
                                           std::vector<uint8_t>(d, d + n));
        proto::tun_match(w.io.table, 0, p.data(), 20, p.size());
        proto::GreHdr h = proto::gre_parse(p.data() + 20, p.size() - 20);
        if (h.ok && p.size() - 20 >= size_t(h.hlen) + 40)
            proto::tun_ecn_decap(n > 1 ? d[1] : 0, p.data() + 20 + h.hlen);
        break;
    }
    }
    w.clear();
    return 0;
}
