// UDP (RFC 768) conversations. Behaviour: ip3.md §3.5 (ctl), §4.7 (modes, headers layout),
// §2.10 (stats), v4 and v6.
#pragma once
#include "proto/conv.h"

namespace devip::proto {

struct Ipifc;

struct UdpStats {
    uint64_t in_datagrams = 0;   // every datagram received, bad ones included
    uint64_t no_ports = 0;       // no conversation: ICMP port unreachable sent
    uint64_t in_errors = 0;      // checksum failures
    uint64_t out_datagrams = 0;  // datagrams sent
};

inline constexpr size_t kUdphdrSize = 52;  // headers mode: raddr laddr ifcaddr rport lport

class Udp final : public Proto {
public:
    explicit Udp(Stack& s) : Proto(s, {"udp", 17, 1024, 1}) {}
    std::unique_ptr<Conv> make_conv(int x) override;
    Err ctl(Conv& c, const CtlArgs& a) override;
    Err write_data(Conv& c, std::span<const uint8_t> data) override;
    void close(Conv& c) override;
    void state(const Conv& c, Text& t) const override;
    void stats(Text& t) const override;
    void counters(std::vector<Counter>& out) const override;

    // pkt: a validated IPv4 or IPv6 packet (hlen header bytes) addressed to us, arrived on f.
    void input(Ipifc& f, std::span<const uint8_t> pkt, size_t hlen);
    // An ICMP error about a datagram we sent (emb: the embedded IP header + 8 bytes).
    void advise(std::span<const uint8_t> emb, Err why);
    UdpStats st;

private:
    Ipaddr ifc_addr(const Ipifc& f, const Ipaddr& a) const;
};

}  // namespace devip::proto
