// GRE conversations over IPv4 (RFC 1701/1702, as pptp uses them) and 9front's mobile-IP
// style retunnelling. Behaviour: ip3.md §3.9 (ctl), §4.10 (data format, delivery,
// retunnel), §2.4 (status line), §2.10 (stats).
#pragma once
#include <deque>

#include "proto/conv.h"

namespace devip::proto {

struct Ipifc;

inline constexpr Err Egrefew{"too few arguments"};
inline constexpr Err Egrenocmd{"no such command"};
inline constexpr Err Egreargs{"incorrect number of arguments"};
inline constexpr Err Egreannounce{"gre does not support announce"};
inline constexpr Err Egreinuse{"already connected to that addr/proto"};
inline constexpr Err Egretunnel{"tunnel already set up"};
inline constexpr Err Egrehoa{"bad hoa"};
inline constexpr Err Egresusp{"already suspended"};
inline constexpr Err Egrenotsusp{"not suspended"};
inline constexpr Err Egresessend{"session end"};

// GRE header flags (RFC 1701 §2.1).
inline constexpr uint16_t kGreCsum = 0x8000, kGreRouting = 0x4000, kGreKey = 0x2000,
                          kGreSeq = 0x1000;
inline constexpr uint16_t kGreIp4 = 0x0800;   // protocol type of IPv4 payloads

// A retunnelled packet held in a ring: its GRE header and payload, and how to send it.
struct GrePkt {
    std::string gre;              // GRE header (options included) and payload
    uint32_t src = 0, dst = 0;    // outer addresses it goes with (uplink: set when buffered)
    uint8_t ttl = 0, tos = 0;     // as received; sent with ttl - 1
    uint32_t seq = 0;             // downlink sequence number it was given
};

// gre.c's Bring: 1024 slots; a full ring drops its oldest. produced and consumed are what
// the status line prints.
struct GreRing {
    static constexpr size_t kSlots = 1024;
    std::deque<GrePkt> q;         // consumed .. produced-1
    uint32_t produced = 0;        // packets ever added
    uint32_t consumed = 0;        // packets ever taken or dropped
    void add(GrePkt p);
    bool take(GrePkt& p);
    void clear() { q.clear(); produced = consumed = 0; }
};

struct GreConv final : Conv {
    GreConv(Proto& p, int x);
    bool raw = false;             // no fill-in on write; any source on read
    uint32_t north = 0;           // retunnel: home agent (uplink destination)
    uint32_t south = 0;           // retunnel: base station (downlink destination)
    uint32_t hoa = 0;             // retunnel: home address; 0 = no tunnel
    uint32_t coa = 0;             // retunnel: care-of address (outer source); close keeps it
    uint32_t seq = 0;             // next downlink sequence number
    bool dlsusp = false;          // downlink suspended (close sets it, clone keeps it)
    bool ulsusp = false;          // uplink suspended (likewise)
    uint32_t ulkey = 0;           // key put into uplink packets; 0 = none; close keeps it
    GreRing dlpending;            // downlink sent, waiting for `report`
    GreRing dlbuffered;           // downlink received while suspended
    GreRing ulbuffered;           // uplink received while suspended
};

// gre.c's counters are globals, shared by every stack (ip3.md §2.10).
struct GreCounters {
    uint64_t pdin = 0, pdout = 0, puin = 0, puout = 0;  // packets: downlink, uplink
    uint64_t bdin = 0, bdout = 0, buin = 0, buout = 0;  // bytes, IP header included
};
extern GreCounters gre_counters;

class Gre final : public Proto {
public:
    Gre(Stack& s, const ProtoRow& row) : Proto(s, row) {}
    std::unique_ptr<Conv> make_conv(int x) override;
    Err connect(Conv& c, const CtlArgs& a) override;
    Err announce(Conv&, const CtlArgs&) override { return Egreannounce; }
    Err ctl(Conv& c, const CtlArgs& a) override;
    Err write_data(Conv& c, std::span<const uint8_t> data) override;
    void close(Conv& c) override;
    void state(const Conv& c, Text& t) const override;
    void stats(Text& t) const override;
    void counters(std::vector<Counter>& out) const override;

    // pkt: a validated IPv4 packet (hlen header bytes) for us, arrived on f.
    void input(Ipifc& f, std::span<const uint8_t> pkt, size_t hlen);
    // Sends a retunnelled packet (gre.c's ipoput4 with ttl - 1).
    void send(const GrePkt& p, uint32_t src, uint32_t dst);
    uint64_t lenerrs = 0;         // packets shorter than their GRE header (per stack)

private:
    void downlink(GreConv& c, const uint8_t* ip, size_t hlen, std::string gre, size_t opt);
    void uplink(GreConv& c, const uint8_t* ip, std::string gre, size_t opt);
};

}  // namespace devip::proto
