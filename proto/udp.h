// UDP (RFC 768) conversations. Behaviour: ip3.md §3.5 (ctl), §4.7 (modes, headers layout),
// §2.10 (stats), v4 and v6.
#pragma once
#include "proto/conv.h"
#include "proto/msg.h"

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
    Udp(Stack& s, const ProtoRow& row) : Proto(s, row) {}
    std::unique_ptr<Conv> make_conv(int x) override;
    Err write_ctl(Conv& c, const CtlArgs& a) override;  // then the flow follows the conv
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
    // A datagram a worker demultiplexed (DataIn, Call: a DatagramMeta, then the payload).
    void completion(const MsgHdr& h, std::span<const uint8_t> data);
    UdpStats st;

private:
    Ipaddr ifc_addr(const Ipifc& f, const Ipaddr& a) const;
    // Queues payload for c (a listener: a new caller's conversation first), arrived on f.
    void deliver(Ipifc& f, Conv* c, const DatagramMeta& m, bool v6,
                 std::span<const uint8_t> payload);
    // Installs c's flow on every worker (it is connected or announced), or withdraws it.
    void sync_flow(Conv& c) override;
    bool worker_send(Conv& c, std::span<const uint8_t> data);
    static constexpr size_t kWorkerMax = 1472;   // larger datagrams are fragmented here
    static constexpr size_t kWorkerMax6 = 1452;  // the same for IPv6
};

// The stack's UDP (tests and tools; the stack itself reaches protocols by the table).
Udp* udp_of(Stack& s);

}  // namespace devip::proto
