// IPv4 reassembly for packets addressed to us (ip.c ip4reassemble). Behaviour: ip3.md §4.4.1:
// 100 queues keyed by (source, destination, id) — protocol not part of the key; a queue lives
// 30 s, expiry checked when a fragment arrives; the oldest queue goes when all are in use;
// 64 KB or more fails; newer data wins on overlap; an unfragmented packet with the same key
// cancels a queue in progress. Written over bytes, not rte_ip_frag: the control thread holds
// bytes, and rte_ip_frag rejects the overlaps 9front resolves in favour of newer data.
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>

#include "proto/fast.h"

namespace devip::proto {

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
        std::map<size_t, std::string> part;  // payload pieces by byte offset, no overlaps
        size_t end = 0;               // payload length, once the last fragment came
    };
    std::deque<Queue> q_;             // oldest first
};

}  // namespace devip::proto
