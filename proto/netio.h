// What the stack needs from the packet machinery. Implemented in devipd's composition root
// over dataplane/ (and by fakes in unit tests), so proto/ never includes dataplane/.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "proto/fast.h"
#include "proto/ip.h"
#include "proto/msg.h"
#include "proto/tcp.h"
#include "proto/text.h"
#include "proto/tunnel.h"

struct rte_rcu_qsbr;

namespace devip::proto {

struct PortInfo {
    std::string name;     // "ether0": the /net directory name
    Ether mac;            // the port's MAC address
    std::string driver;   // PMD name, e.g. "net_tap"
    uint32_t mtu = 1500;  // the port's IP MTU
};

class Netio {
public:
    virtual ~Netio() = default;
    virtual int nports() const = 0;
    virtual const PortInfo& port(int i) const = 0;
    // Slow-path transmit of one whole Ethernet frame (copied).
    virtual void tx(uint16_t port, std::span<const uint8_t> frame) = 0;
    // Publishes a new table to the workers (copied; the old one retired after a grace period).
    virtual void publish(const FastTable& t) = 0;
    // Sums the workers' counters for one stack.
    virtual void fast_stats(int stack, FastStats& out) const = 0;
    // Port counters for ipifc status (pktin/pktout), and /net/etherN/stats text.
    virtual void port_counts(uint16_t port, uint64_t& pktin, uint64_t& pktout) const = 0;
    virtual void port_stats(uint16_t port, Text& out) const = 0;
    virtual void set_promisc(uint16_t port, bool on) = 0;
    virtual void add_mcast(uint16_t port, const Ether& mac, bool add) = 0;
    // The workers' RCU variable, for tables updated in place (rte_lpm, rte_hash); null when
    // there are no workers (unit tests): then nothing needs a grace period and the stack
    // keeps no FIB.
    virtual rte_rcu_qsbr* qsbr() const { return nullptr; }
    // Runs fn on the control thread once every worker has passed a quiescent state.
    virtual void retire(std::function<void()> fn) { fn(); }
    // Workers serving conversations (0 in unit tests: everything stays on this thread).
    virtual int workers() const { return 0; }
    // The worker whose queue of port receives the flow a!pa ⇄ b!pb (proto/owner.h).
    virtual int owner_of(uint16_t port, const Ipaddr& a, const Ipaddr& b, uint16_t pa,
                         uint16_t pb) const {
        (void)port, (void)a, (void)b, (void)pa, (void)pb;
        return 0;
    }
    // The worker that owns a TCP connection between a!pa and b!pb (either order), the same
    // whatever port its packets come by (proto/owner.h).
    virtual int flow_owner(const Ipaddr& a, const Ipaddr& b, uint16_t pa, uint16_t pb) const {
        (void)a, (void)b, (void)pa, (void)pb;
        return 0;
    }
    // Adds the workers' counters of tunnel slot `slot` (fast.h TunRt) to out.
    virtual void tun_stats(int slot, TunStats& out) const { (void)slot, (void)out; }
    // Adds the workers' TCP counters of one stack to out.
    virtual void tcp_stats(int stack, TcpStats& out) const { (void)stack, (void)out; }
    // A request to worker w (every worker when w < 0), data copied. False: not sent.
    virtual bool request(const MsgHdr& hdr, std::span<const uint8_t> data, int w) {
        (void)hdr, (void)data, (void)w;
        return false;
    }
};

}  // namespace devip::proto
