// ICMPv6 (RFC 4443) and the neighbour-discovery messages the stack consumes (RFC 4861):
// echo replies and errors by the stack, user conversations as ping and ipconfig use them.
// Behaviour: ip3.md §3.7 (ctl), §4.8.2 (data format, delivery), §4.8.3 (advice texts),
// §4.14.2 (ND), §2.10 (stats).
#pragma once
#include "proto/conv.h"
#include "proto/msg.h"

namespace devip::proto {

struct Ipifc;

enum Icmp6Type : uint8_t {
    Icmp6Unreachable = 1, Icmp6TooBig = 2, Icmp6TimeExceed = 3, Icmp6ParamProblem = 4,
    Icmp6EchoRequest = 128, Icmp6EchoReply = 129, Icmp6RouterSolicit = 133,
    Icmp6RouterAdvert = 134, Icmp6NbrSolicit = 135, Icmp6NbrAdvert = 136, Icmp6Redirect = 137,
    Icmp6MaxType = 137,
};
// Unreachable codes (RFC 4443 §3.1) the stack sends.
inline constexpr uint8_t kIcmp6AddrUnreach = 3, kIcmp6PortUnreach = 4;
// Neighbour advertisement flags (RFC 4861 §4.4), in the byte after the checksum.
inline constexpr uint8_t kNaRouter = 0x80, kNaSolicited = 0x40, kNaOverride = 0x20;

// The 12 counters of /net/icmpv6/stats, in file order.
enum Icmp6Stat : uint8_t {
    InMsgs6, InErrors6, OutMsgs6, CsumErrs6, LenErrs6, HlenErrs6, HoplimErrs6, IcmpCodeErrs6,
    TargetErrs6, OptlenErrs6, AddrmxpErrs6, RouterAddrErrs6, kIcmp6Stats
};

struct Icmp6Stats {
    uint64_t n[kIcmp6Stats] = {};           // Icmp6Stat-indexed
    uint64_t in[Icmp6MaxType + 1] = {};     // messages received, by type
    uint64_t out[Icmp6MaxType + 1] = {};    // messages sent, by type (echo replies under 0)
};

inline constexpr size_t kIcmp6Hdr = 8;       // type code cksum[2] id[2] seq[2]
inline constexpr size_t kIcmp6Headers = 40;  // `headers` mode: IPv6-header-shaped prefix

class Icmp6 final : public Proto {
public:
    Icmp6(Stack& s, const ProtoRow& row) : Proto(s, row) {}
    std::unique_ptr<Conv> make_conv(int x) override;
    Err write_ctl(Conv& c, const CtlArgs& a) override;  // then the flow follows the conv
    Err ctl(Conv& c, const CtlArgs& a) override;
    Err write_data(Conv& c, std::span<const uint8_t> data) override;
    void close(Conv& c) override;
    void state(const Conv& c, Text& t) const override;
    void stats(Text& t) const override;
    void counters(std::vector<Counter>& out) const override;

    // pkt: a whole IPv6 packet addressed to us whose fixed header says ICMPv6, arrived on f.
    void input(Ipifc& f, std::span<const uint8_t> pkt);
    // An ICMPv6 error about an ICMPv6 message we sent (emb: the embedded IPv6 packet).
    void advise(std::span<const uint8_t> emb, Err why);
    // What a worker sent up: an echo reply for a conversation's flow (DataIn), or a message
    // it could not send itself (TxSlow).
    void completion(const MsgHdr& h, std::span<const uint8_t> data);

    Icmp6Stats st;

private:
    // A connected conversation (not headers, global or unique-local addresses) has a flow on
    // every worker: its echo replies come up as completions, its messages go out from a
    // route hint (icmp_shard.h).
    void sync_flow(Conv& c) override;
    bool worker_send(Conv& c, std::span<const uint8_t> msg);
    bool valid(std::span<const uint8_t> pkt);
    void echo(Ipifc& f, std::span<const uint8_t> pkt);
    void error_in(Ipifc& f, std::span<const uint8_t> pkt, Err why);
    void deliver(Ipifc& f, std::span<const uint8_t> pkt, int muxkey);
    void nbr_solicit(Ipifc& f, std::span<const uint8_t> pkt);
    void nbr_advert(Ipifc& f, std::span<const uint8_t> pkt);
};

}  // namespace devip::proto
