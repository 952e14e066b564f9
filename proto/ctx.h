// One worker's view of the conversations it serves (STYLE.md §2 "ctx.h"): a shard of each
// protocol's flows per stack. Owned by the worker; changed only by its requests.
#pragma once
#include <array>
#include <memory>

#include "crypto/engine.h"
#include "proto/fast.h"
#include "proto/icmp_shard.h"
#include "proto/tcp_work.h"
#include "proto/udp_shard.h"

namespace devip::proto {

struct Ctx {
    std::array<UdpShard, kMaxStacks> udp;  // UDP flows, per stack
    std::array<IcmpShard, kMaxStacks> icmp;  // ICMP conversations' flows, per stack
    std::array<IcmpShard, kMaxStacks> icmp6;  // ICMPv6 conversations' flows, per stack
    std::array<std::unique_ptr<TcpWork>, kMaxStacks> tcp;  // TCP connections it owns, per
                                                           // stack (made on first use)
    std::unique_ptr<crypto::Engine> engine;  // ESP bursts of tunnel interfaces (one ipsec-mb
                                             // manager per worker)
};

// The message mbuf's private area holds a MsgHdr: its size, rounded as the mempool wants.
inline constexpr unsigned kMsgPriv = (sizeof(MsgHdr) + 7) & ~7u;

}  // namespace devip::proto
