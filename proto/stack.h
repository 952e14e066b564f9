// A stack (9front's Fs): one independent /net instance with its interfaces, self table,
// routes, neighbour cache and protocols. Net holds the stacks (0–15) and the ports.
// Everything here runs on the control thread; workers see only proto/fast.h.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "proto/conv.h"
#include "proto/dlog.h"
#include "proto/fast.h"
#include "proto/fib.h"
#include "proto/ip.h"
#include "proto/ipifc.h"
#include "proto/iproute.h"
#include "proto/netio.h"
#include "proto/netlog.h"
#include "proto/reass.h"

namespace devip::proto {

class Net;
class Icmp;
class Icmp6;

// ipselftab (§2.9): every address this stack answers for.
struct SelfLink {
    int ifc;         // interface holding the logical address
    Ipaddr local;    // the logical address that links here
    int ref;         // times that logical address added this entry
};
struct SelfEntry {
    Ipaddr a;                     // the address
    uint16_t type;                // Runi | Rbcast | Rmulti | Rproxy (| Rv4)
    std::vector<SelfLink> link;   // one per logical address
};
class Selftab {
public:
    // Returns true when this (address, logical address) link is new.
    bool add(const Ipaddr& a, uint16_t type, int ifc, const Ipaddr& local);
    // Drops one reference; returns true when the link went away.
    bool remove(const Ipaddr& a, int ifc, const Ipaddr& local);
    const SelfEntry* find(const Ipaddr& a) const;
    void text(std::string& out) const;
    template <class F> void each(F f) const {
        for (auto& b : bucket_)
            for (auto& e : b) f(e);
    }
private:
    static int hash(const Ipaddr& a) { return ((a.b[14] << 8) | a.b[15]) % 64; }
    std::array<std::deque<SelfEntry>, 64> bucket_;  // newest first within a bucket
};

// The neighbour cache (§4.14.1): 256 entries shared by every interface, LRU.
struct ArpEnt {
    enum State : uint8_t { Empty, Wait, Ok };
    State state = Empty;     // Empty slots are free
    Ipaddr ip;               // the neighbour
    int ifc = -1;            // interface it is reached on
    uint8_t ifcid = 0;       // interface generation when entered
    Ether mac;               // resolved MAC (kept while re-resolving)
    uint64_t ctime = 0;      // ms: created or last refreshed
    uint64_t utime = 0;      // ms: last used (LRU)
    uint64_t rtime = 0;      // ms: last request sent
    int rxmit = 0;           // requests sent while waiting
    bool fast = false;       // published in the FIB's neighbour hash
    bool user = false;       // written by a user (`add` on /net/arp): ipctl save keeps it;
                             // it ages like any other (9front), only the origin is noted
    std::string hold;        // the latest IP packet waiting for resolution
};
inline constexpr uint64_t kArpAgeMs = 15 * 60 * 1000;
inline constexpr uint64_t kArpWaitMs = 3000;

struct IcmpStats {
    uint64_t inmsgs = 0, inerrors = 0, outmsgs = 0, csumerrs = 0, lenerrs = 0, hlenerrs = 0;
    uint64_t in[19] = {}, out[19] = {};
};

class Stack : public IfcView {
public:
    Stack(Net& net, int n);
    ~Stack() override;

    Net& net;                          // the world: ports, clock, other stacks
    const int n;                       // stack number (attach name)
    std::vector<std::unique_ptr<Proto>> protos;  // user-visible protocols, listing order
    std::array<Proto*, 256> byproto{};  // by IP protocol number: IP input and ICMP advice
    Ipifcproto* ipifc = nullptr;       // the interfaces (registered like a protocol)
    Icmp* icmp = nullptr;              // the stack's own ICMP and ICMPv6 messages go through
    Icmp6* icmp6 = nullptr;            // these two
    Rib rib;                           // routes (§2.7)
    Selftab self;                      // local addresses (§2.9)
    std::array<ArpEnt, 256> arp;       // neighbour cache, in slot order
    uint64_t ipstat[kIpStats] = {};    // control-side IP counters; workers' added on read
    IcmpStats icmpstat;                // control-side ICMP counters
    Netlog log;                        // /net/log
    std::string ndb;                   // /net/ndb contents
    uint32_t ndbvers = 0;              // bumped on every ndb change
    uint32_t ndbmtime = 0;             // seconds, last ndb change
    std::atomic<uint32_t> ipid{0};     // v4 ID counter (low 16 bits), shared with workers' echo replies
    std::atomic<uint32_t> rgen{1};     // route generation: workers' route hints go stale with it
    uint32_t ip6id = 0;                // v6 fragment identification counter
    std::unique_ptr<Fib4> fib4;        // what workers forward IPv4 with; null without workers
    std::unique_ptr<Fib6> fib6;        // and IPv6
    Reass4 reass4;                     // v4 fragments waiting for their datagram
    Reass6 reass6;                     // v6 fragments waiting for their datagram
    std::vector<DefRouter6> routers6;  // default routers learned from RAs (ra6.cc)
    Route defroute6{};                 // the ::/0 route installed for routers6.front()
    bool defroute6_set = false;        // defroute6 is in the table
    static constexpr uint64_t kNever = ~0ull;
    uint64_t ra6_last = kNever;        // ms: last run of the RA timers
    static constexpr double kIcmpRate = 1000, kIcmpBurst = 200;  // ICMP errors a second, burst
    double icmp_tokens = kIcmpBurst;   // ICMP error token bucket
    uint64_t icmp_last = 0;            // ms: last refill
    uint64_t icmp_limited = 0;         // errors not sent because of the limit
    uint32_t icmp_mtu = 0;             // set around advise(): the next-hop MTU of a frag
                                       // needed / packet too big, else 0

    Proto* proto(std::string_view name) const;
    // Local delivery by the protocol table (registry.h); false: no such protocol here.
    bool deliver(uint8_t proto, bool v6, Ipifc& f, std::span<const uint8_t> pkt, size_t hlen);
    // ICMP or ICMPv6 advice about a packet we sent (emb: the quoted packet, family from its
    // version); false: no protocol takes advice for emb's protocol.
    bool advise(uint8_t proto, std::span<const uint8_t> emb, Err why);

    // IfcView for the routing table
    bool ifc_bound(int ifc) const override;
    int ifc_of_local(const Ipaddr& a) const override;
    int find_ifc(const Ipaddr& gate, const Ipaddr& src) const override;

    // §4.3.4 source-address selection toward dst.
    Ipaddr findlocalip(const Ipaddr& dst) const;
    // Self-table type of a (Runi/Rbcast/Rmulti), or 0; accept-all when a null address exists.
    uint16_t ipforme(const Ipaddr& a) const;
    bool has_null_addr() const;
    // The address on interface ifc closest to a (for replies to broadcasts, ICMP sources).
    Ipaddr ifc_addr_toward(int ifc, const Ipaddr& a) const;

    // Input: one frame from a port bound to interface f (Ethernet), or one IP packet.
    void ether_input(Ipifc& f, std::span<const uint8_t> frame);
    void ip_input(Ipifc& f, std::span<const uint8_t> pkt);
    // Output: pkt holds a complete IPv4 header (20 bytes) and payload; output fills length,
    // ID, checksum and sends it by the route toward dst. Returns false when there is no route.
    // df: set DF (a tunnel's outer header copies it from the inner packet, RFC 4301 §8.1).
    bool ip4_output(std::string pkt, int from_ifc = -1, bool df = false);
    // A whole IPv4 or IPv6 packet a worker could not send from its route hint (a TxSlow
    // completion; v6: MsgHdr flags kMsgV6): IP output here, of the family its flag says.
    void tx_slow(bool v6, std::span<const uint8_t> pkt);
    // Builds the 20-byte header and calls ip4_output.
    bool ip4_send(const Ipaddr& src, const Ipaddr& dst, uint8_t proto, uint8_t ttl,
                  uint8_t tos, std::span<const uint8_t> payload, bool df = false);
    // Fragments p (a whole IPv4 packet) out of f toward nh.
    bool ip4_fragment(Ipifc& f, const Ipaddr& nh, const std::string& p);
    // ICMP error about pkt (an IPv4 packet received on ifc): §4.4.2 rules, rate-limited.
    void icmp_error(int ifc, std::span<const uint8_t> pkt, uint8_t type, uint8_t code,
                    uint16_t mtu = 0);
    bool icmp_allow();                 // the ICMP error token bucket, v4 and v6

    // IPv6 (ip6.cc): §4.4 input and output, §4.3.4 source selection, §4.4.2 errors.
    void ip6_input(Ipifc& f, std::span<const uint8_t> pkt);
    // pkt: a whole IPv6 packet whose next header, source and destination are set. Fills
    // version, traffic class (unless forwarding), payload length and hop limit, routes it and
    // fragments local packets that do not fit. gating: the arrival interface of a forwarded
    // packet, -1 for our own. Returns false when there is no route.
    bool ip6_output(std::string pkt, uint8_t hop, uint8_t tos, int gating = -1);
    // The header walk of v6 input, reassembling fragments when doreasm (ip6.cc).
    bool ip6_reassemble(std::span<const uint8_t> pkt, std::string& whole, bool doreasm);
    bool ip6_send(const Ipaddr& src, const Ipaddr& dst, uint8_t proto, uint8_t hop,
                  uint8_t tos, std::span<const uint8_t> payload);
    // ICMPv6 error about pkt (an IPv6 packet received on ifc, or ours): §4.4.2 rules.
    void icmp6_error(int ifc, std::span<const uint8_t> pkt, uint8_t type, uint8_t code,
                     uint32_t arg = 0);
    // 9front's ipv6local: the address on ifc to use toward remote (v4 or v6), restricted to
    // those sharing prefixlen leading bits with local when prefixlen > 0; false when ifc has
    // none of at least remote's scope.
    bool ipv6local(int ifc, Ipaddr& local, int prefixlen, const Ipaddr& remote) const;
    Ipaddr findlocalip6(const Ipaddr& dst) const;

    // Neighbour discovery over Ethernet (nd.cc): §4.14, §4.2.2 step 4.
    void nd_output(Ipifc& f, const Ipaddr& nh, std::string pkt);  // resolve, hold, send
    void nd_register(Ipifc& f, const Iplifc& l);   // unsolicited NA, or DAD when tentative
    void nd_send_ns(Ipifc& f, const Ipaddr& src, const Ipaddr& target);
    void nd_send_na(Ipifc& f, const Ipaddr& src, const Ipaddr& dst, const Ipaddr& target,
                    uint8_t flags);
    // 9front's arpenter for v6: false when the route to ip from ia does not leave by ifc.
    bool nd_enter(const Ipaddr& ip, int ifc, const Ether& mac, const Ipaddr& ia, bool refresh);
    // 9front's arpforme for v6: Runi, Rproxy or 0.
    int nd_forme(const Ipifc& f, const Ipaddr& target, const Ipaddr& src) const;
    void nd_tick(ArpEnt& e, uint64_t now);         // retransmit solicitations, give up
    bool nd_ifcaddr(const ArpEnt& e, Ipaddr& ia) const;  // /net/arp's last column

    // Router advertisements (ra6.cc): RFC 4861 §6.2 as a router, §6.3 as a host.
    void ra6_input(Ipifc& f, std::span<const uint8_t> pkt);  // a valid RA arrived on f
    void rs_input(Ipifc& f, std::span<const uint8_t> pkt);   // a valid RS arrived on f
    // f's ra6 values, addresses or the stack's iprouting changed: start or stop advertising
    // (a final RA when it stops) and soliciting; changed: what is advertised may differ.
    void ra6_update(Ipifc& f, bool changed);
    void ra6_unbind(Ipifc& f);         // f goes away: final RA; forget routers learned on it
    void ra6_send(Ipifc& f, bool final);  // one RA to ff02::1 from f's link-local address
    void ra6_tick(uint64_t now);       // due RAs and RSs; lifetimes of routers and addresses
    void ra6_autoconf(Ipifc& f, const RaPrefix& p);  // an address from an autonomous prefix
    void defroute_sync();              // ::/0 (tag ra6) via the first router of routers6
    size_t ip6_mtu(const Ipifc& f) const;  // IPv6 MTU of f: its maxtu, or a smaller linkmtu

    // ARP (§4.14, §3.13)
    void arp_input(Ipifc& f, std::span<const uint8_t> frame);
    void arp_resolve_tx(Ipifc& f, const Ipaddr& nexthop, std::string pkt);
    void arp_send_request(Ipifc& f, const Ipaddr& target, const Ipaddr& sender);
    ArpEnt* arp_find(const Ipaddr& ip, int ifc);
    ArpEnt* arp_new(const Ipaddr& ip, int ifc);
    void arp_enter(const Ipaddr& ip, int ifc, const Ether& mac, bool create);
    void arp_flush_ifc(int ifc);
    void arp_drop(ArpEnt& e);          // frees a slot, withdrawing it from the fast path
    void neigh_fast(ArpEnt& e, bool on);  // publish a resolved neighbour to the workers, or not
    void fib_route(const Route& r, bool present);  // Rib change → FIB
    void fib_enable();                 // make the FIB (iprouting turned on)
    void arp_text(std::string& out) const;
    // /net/arpuser: the entries a user wrote, as the /net/arp writes that make them again.
    void arpuser_text(std::string& out) const;
    Err arp_write(std::string_view text);

    // Medium output of a whole IP packet on interface f toward next hop nh.
    void medium_output(Ipifc& f, const Ipaddr& nh, std::string pkt);
    void ether_tx(Ipifc& f, const Ether& dst, uint16_t type, std::string_view payload);

    // Interface changes: rebuild what workers see.
    void ifc_changed();
    // A route, neighbour or interface changed: every worker route hint goes stale.
    void route_changed() { rgen.fetch_add(1, std::memory_order_release); }
    // A hint for a worker sending from src to dst (msg.h), or one with ok 0 when the
    // packets must come this way (no route, unresolved or non-Ethernet next hop, broadcast).
    OutHint out_hint(const Ipaddr& src, const Ipaddr& dst);
    void ipstats_text(Text& t) const;
    // The running configuration as devipd --config lines (save.cc); keys: secrets too (the
    // caller checked that the reader is the host owner).
    void config_text(Text& t, bool keys) const;
    void save_ifc(Text& t, const Ipifc& f, int x, bool first) const;
    void ipstats(uint64_t (&v)[kIpStats]) const;  // the MIB of ipstats_text, as numbers
    void icmpstats_text(Text& t) const;
    void tick(uint64_t now_ms);
};

// All stacks and the ports. One per devipd.
class Net {
public:
    explicit Net(Netio* io);
    ~Net();
    Stack& stack(int n);                     // created on first attach
    Stack* find_stack(int n) const { return n >= 0 && n < kMaxStacks ? stacks_[n].get() : nullptr; }
    // Port binding: which (stack, ifc) owns each port.
    struct Owner { Stack* s = nullptr; int ifc = -1; };
    std::array<Owner, kMaxPorts> owner{};
    int port_by_dev(std::string_view dev) const;  // "/net/ether0" → 0, or -1
    // A frame received on a port (punted by a worker).
    void input(uint16_t port, std::span<const uint8_t> frame);
    // A worker's completion (msg.h), for the protocol it names.
    void completion(const MsgHdr& h, std::span<const uint8_t> data);
    void publish();                          // rebuild the FastTable from every stack
    void stop_advertising();                 // devipd stops: final RAs (RFC 4861 §6.2.5)
    void tick(uint64_t now_ms);
    Netio* io;                               // may be null in unit tests (no ports)
    uint64_t now_ms = 0;                     // control-thread clock
    uint64_t now_us() const;                 // monotonic microseconds (TCP on this thread)
    uint32_t tcp_scale = 1;                  // TCP timers divided by this (devipd --tcp-timer-scale)
    std::array<uint8_t, 16> tcp_key{};       // TCP ISN/cookie key, the same on every shard
    uint32_t fib_routes = 1u << 16;          // IPv4 FIB size hint per stack (--fib-routes)
    uint32_t fib6_routes = 1u << 14;         // IPv6 FIB size hint per stack (--fib6-routes)
    uint64_t rng = 0x9e3779b97f4a7c15ull;    // port choice, ping ids
    ReadySet ready;                          // queues and logs changed: parked 9P to re-run
    dlog::Limiter lim_unbound, lim_hdr, lim_icmp, lim_noport;  // devipd's own per-packet log
    uint32_t random();
    std::array<uint8_t, kMaxTun> tun_slot{};  // workers' tunnel slots in use (tunnel.cc)
private:
    std::array<std::unique_ptr<Stack>, kMaxStacks> stacks_;
    FastTable fast_;
};

uint16_t ip_csum(const void* p, size_t n, uint32_t sum = 0);
const char* ipstat_name(int i);  // "InReceives": the /net/ipifc/stats label of IpStat i

}  // namespace devip::proto
