// The protocol registry: one row per protocol in 9front's registration order (the pc64
// configuration: tcp udp rudp ipifc icmp icmpv6 igmp mld gre ipmux esp il, ip3.md §0, §1.2).
// A row says what a protocol is called, which IP protocol number it takes, how many
// conversations it may have, how a stack makes it, and the plain functions IP input and ICMP
// advice reach it by. Adding a protocol is one file plus one row in registry.cc.
#pragma once
#include <cstdint>
#include <memory>
#include <span>

#include "proto/err.h"

namespace devip::proto {

class Proto;
class Stack;
struct Ipifc;
struct MsgHdr;

// Local delivery of pkt (a validated IP packet of hlen header bytes, for this host) on f.
using ProtoInput = void (*)(Proto& p, Ipifc& f, std::span<const uint8_t> pkt, size_t hlen);
// An ICMP error about a packet this protocol sent: emb is the quoted IP header and what
// follows it (at least 8 bytes), why the advice text (ip3.md §4.8.3).
using ProtoAdvise = void (*)(Proto& p, std::span<const uint8_t> emb, Err why);
// A worker's completion about one of this protocol's conversations (msg.h).
using ProtoCompletion = void (*)(Proto& p, const MsgHdr& h, std::span<const uint8_t> data);

struct ProtoRow {
    const char* name;         // directory under /net (9front's spelling)
    int ipproto;              // IP protocol number; -1 for ipifc and ipmux
    int nconv;                // conversation limit (ip3.md §1.2)
    bool hidden;              // kernel-only (igmp, mld): no directory, keeps its index
    std::unique_ptr<Proto> (*make)(Stack& s, const ProtoRow& row);  // null: not built yet
    ProtoInput input4;        // IPv4 local delivery; null: not an IPv4 protocol
    ProtoInput input6;        // IPv6 local delivery (by the fixed header's next header)
    ProtoAdvise advise;       // ICMP and ICMPv6 errors about our packets; null: none
    ProtoCompletion completion;  // what its conversations' workers report; null: none
};

// The table, indexed by registration index (the qid's proto field).
std::span<const ProtoRow> proto_table();

// The row of a registration index, or null.
const ProtoRow* proto_row(size_t index);

template <class P>
std::unique_ptr<Proto> make_proto(Stack& s, const ProtoRow& row) {
    return std::make_unique<P>(s, row);
}

}  // namespace devip::proto
