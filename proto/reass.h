// Reassembly for packets addressed to us, IPv4 (ip.c ip4reassemble) and IPv6 (ipv6.c
// ip6reassemble). Behaviour: ip3.md §4.4.1, the same for both families: 100 queues per family
// keyed by (source, destination, id) — protocol not part of the key; a queue lives 30 s,
// expiry checked when a fragment arrives; the oldest queue goes when all are in use; 64 KB or
// more fails; newer data wins on overlap, and a fragment lying wholly inside an earlier one is
// discarded; an unfragmented packet with the same key cancels a queue in progress (v6: an
// atomic fragment, offset 0 without M; 9front looks no further for packets without a
// fragment header). Written over bytes, not rte_ip_frag: the control thread holds bytes, and
// rte_ip_frag rejects the overlaps 9front resolves in favour of newer data.
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>

#include "proto/fast.h"
#include "proto/ip.h"

namespace devip::proto {

// The payload pieces of one datagram being reassembled, by byte offset, never overlapping.
class FragPieces {
public:
    // Adds the fragment payload data at byte offset off; more: not the last fragment. Newer
    // data wins; returns false (and keeps nothing) when data lies wholly inside an earlier piece.
    bool add(size_t off, std::string data, bool more);
    bool complete() const;      // the last fragment came and the pieces leave no hole from 0
    std::string payload() const;  // the pieces in order (once complete)
private:
    std::map<size_t, std::string> part_;  // payload pieces by byte offset
    size_t end_ = 0;                      // payload length, once the last fragment came
    bool last_ = false;                   // the last fragment came
};

class Reass4 {
public:
    static constexpr size_t kQueues = 100;
    static constexpr uint64_t kLifeMs = 30000;
    // pkt: one whole, checked IPv4 packet. Returns the reassembled packet when pkt completes
    // one, pkt itself (copied) when it is not a fragment, nothing while waiting or dropped.
    std::optional<std::string> input(std::span<const uint8_t> pkt, uint64_t now_ms,
                                     uint64_t* stats);
    size_t queues() const { return q_.size(); }
private:
    struct Queue {
        uint32_t src, dst;            // key
        uint16_t id;                  // key
        uint64_t born;                // ms
        std::string hdr;              // header of the offset-0 fragment (empty until it comes)
        FragPieces pieces;            // the payload so far
    };
    std::deque<Queue> q_;             // oldest first
};

class Reass6 {
public:
    static constexpr size_t kQueues = 100;
    static constexpr uint64_t kLifeMs = 30000;
    // pkt: one whole IPv6 packet (payload length checked) whose unfragmentable part is uflen
    // bytes long and is followed by a fragment header; prev_next is the offset of the
    // next-header byte that names the fragment header (ip6_unfraglen). Returns the datagram
    // without its fragment header when pkt completes one or is an atomic fragment, nothing
    // while waiting or dropped.
    std::optional<std::string> input(std::span<const uint8_t> pkt, size_t uflen,
                                     size_t prev_next, uint64_t now_ms, uint64_t* stats);
    size_t queues() const { return q_.size(); }
private:
    struct Queue {
        Ipaddr src, dst;              // key
        uint32_t id;                  // key
        uint64_t born;                // ms
        std::string hdr;              // unfragmentable part of the offset-0 fragment, its last
                                      // next header naming the fragment's (empty until it comes)
        FragPieces pieces;            // the fragmentable part so far
    };
    std::deque<Queue> q_;             // oldest first
};

}  // namespace devip::proto
