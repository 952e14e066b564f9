// A Netio without DPDK: records what the stack transmits and publishes, so proto/ can be
// driven end to end in unit tests and fuzzers.
#pragma once
#include <vector>

#include "proto/netio.h"
#include "proto/wire.h"

namespace devip::test {

class FakeNetio final : public proto::Netio {
public:
    explicit FakeNetio(int nports = 1) {
        for (int i = 0; i < nports; i++) {
            proto::PortInfo p;
            p.name = "ether" + std::to_string(i);
            p.mac.b = {0x02, 0x00, 0x00, 0x00, 0x00, uint8_t(0x10 + i)};
            p.driver = "fake";
            ports.push_back(p);
        }
    }
    int nports() const override { return int(ports.size()); }
    const proto::PortInfo& port(int i) const override { return ports[size_t(i)]; }
    void tx(uint16_t port, std::span<const uint8_t> f) override {
        sent.push_back({port, std::vector<uint8_t>(f.begin(), f.end())});
    }
    void publish(const proto::FastTable& t) override {
        table = t;
        publishes++;
    }
    void fast_stats(int, proto::FastStats& out) const override { out = fast; }
    void port_counts(uint16_t, uint64_t& in, uint64_t& out) const override {
        in = pktin;
        out = pktout;
    }
    void port_stats(uint16_t, proto::Text& out) const override { out.put("fake\n"); }
    void set_promisc(uint16_t, bool) override {}
    void add_mcast(uint16_t, const proto::Ether&, bool) override {}

    struct Frame {
        uint16_t port;
        std::vector<uint8_t> bytes;
    };
    std::vector<proto::PortInfo> ports;
    std::vector<Frame> sent;       // every frame transmitted, in order
    proto::FastTable table{};      // the last table published
    int publishes = 0;
    proto::FastStats fast{};       // what workers would have counted
    uint64_t pktin = 0, pktout = 0;
};

// Frame builders for tests.
inline std::vector<uint8_t> eth(const proto::Ether& dst, const proto::Ether& src, uint16_t type,
                                const std::vector<uint8_t>& payload) {
    std::vector<uint8_t> f(14);
    std::copy(dst.b.begin(), dst.b.end(), f.begin());
    std::copy(src.b.begin(), src.b.end(), f.begin() + 6);
    proto::put16(f.data() + 12, type);
    f.insert(f.end(), payload.begin(), payload.end());
    return f;
}

inline std::vector<uint8_t> ip4(uint32_t src, uint32_t dst, uint8_t proto,
                                const std::vector<uint8_t>& payload, uint8_t ttl = 64) {
    std::vector<uint8_t> p(20);
    p[0] = 0x45;
    proto::put16(p.data() + 2, uint16_t(20 + payload.size()));
    proto::put16(p.data() + 4, 0x1234);
    p[8] = ttl;
    p[9] = proto;
    proto::put32(p.data() + 12, src);
    proto::put32(p.data() + 16, dst);
    proto::put16(p.data() + 10, proto::csum(p.data(), 20));
    p.insert(p.end(), payload.begin(), payload.end());
    return p;
}

inline std::vector<uint8_t> udp(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                                const std::string& data) {
    std::vector<uint8_t> u(8);
    proto::put16(u.data(), sport);
    proto::put16(u.data() + 2, dport);
    proto::put16(u.data() + 4, uint16_t(8 + data.size()));
    u.insert(u.end(), data.begin(), data.end());
    uint8_t ph[12];
    proto::put32(ph, src);
    proto::put32(ph + 4, dst);
    ph[8] = 0;
    ph[9] = 17;
    proto::put16(ph + 10, uint16_t(u.size()));
    uint32_t s = proto::csum_add(ph, 12);
    uint16_t c = proto::csum(u.data(), u.size(), s);
    proto::put16(u.data() + 6, c ? c : 0xffff);
    return ip4(src, dst, 17, u);
}

inline std::vector<uint8_t> icmp_echo(uint32_t src, uint32_t dst, uint16_t id, uint16_t seq,
                                      uint8_t type = 8) {
    std::vector<uint8_t> m(16);
    m[0] = type;
    proto::put16(m.data() + 4, id);
    proto::put16(m.data() + 6, seq);
    for (int i = 8; i < 16; i++) m[size_t(i)] = uint8_t(i);
    proto::put16(m.data() + 2, proto::csum(m.data(), m.size()));
    return ip4(src, dst, 1, m);
}

inline std::vector<uint8_t> arp(uint16_t op, const proto::Ether& sha, uint32_t spa,
                                const proto::Ether& tha, uint32_t tpa) {
    std::vector<uint8_t> a(28);
    proto::put16(a.data(), 1);
    proto::put16(a.data() + 2, 0x0800);
    a[4] = 6;
    a[5] = 4;
    proto::put16(a.data() + 6, op);
    std::copy(sha.b.begin(), sha.b.end(), a.begin() + 8);
    proto::put32(a.data() + 14, spa);
    std::copy(tha.b.begin(), tha.b.end(), a.begin() + 18);
    proto::put32(a.data() + 24, tpa);
    return a;
}

}  // namespace devip::test
