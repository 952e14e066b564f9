// ICMP (RFC 792): the kernel's echo replies and errors, and user conversations as Plan 9's
// ping uses them. Behaviour: ip3.md §3.7, §4.8.1, §4.8.3, §2.10.
#pragma once
#include "proto/conv.h"
#include "proto/msg.h"

namespace devip::proto {

struct Ipifc;

enum IcmpType : uint8_t {
    EchoReply = 0, Unreachable = 3, SrcQuench = 4, Redirect = 5, EchoRequest = 8,
    TimeExceed = 11, InParmProblem = 12,
};

class Icmp final : public Proto {
public:
    Icmp(Stack& s, const ProtoRow& row) : Proto(s, row) {}
    std::unique_ptr<Conv> make_conv(int x) override;
    Err write_ctl(Conv& c, const CtlArgs& a) override;  // then the flow follows the conv
    Err write_data(Conv& c, std::span<const uint8_t> data) override;
    void close(Conv& c) override;
    void state(const Conv& c, Text& t) const override;
    void stats(Text& t) const override;
    void counters(std::vector<Counter>& out) const override;

    // pkt: a validated IPv4 packet (hlen header bytes) addressed to us, arrived on f.
    void input(Ipifc& f, std::span<const uint8_t> pkt, size_t hlen);
    // An ICMP error about an ICMP message we sent.
    void advise(std::span<const uint8_t> emb, Err why);
    // What a worker sent up: an echo reply for a conversation's flow (DataIn), or a message
    // it could not send itself (TxSlow).
    void completion(const MsgHdr& h, std::span<const uint8_t> data);

private:
    // A connected conversation's flow on every worker (its echo replies come up as
    // completions, its echo requests go out from a route hint), or none.
    void sync_flow(Conv& c) override;
    bool worker_send(Conv& c, std::span<const uint8_t> msg);
};

// The advice text for an ICMP unreachable or time-exceeded message (§4.8.3).
Err icmp_advice(uint8_t type, uint8_t code, const Ipaddr& src, const Ipaddr& dst,
                const Ipaddr& router);

}  // namespace devip::proto
