// Router advertisements (RFC 4861 §4.1, §4.2, §6; RFC 4862 §5.5.3): the message layouts,
// building and parsing, the timing of an advertising interface and of a soliciting host, and
// the lifetime rules of autoconfigured addresses. Pure: no stack state; the glue that sends
// and learns is in ra6.cc. Behaviour: ip3.md §3.3 (ra6), §4.8.2 (delivery), §4.14.2.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "proto/ip.h"

namespace devip::proto {

// RFC 4861 §10, times in ms.
inline constexpr uint64_t kMaxInitialRtrAdvertInterval = 16000;
inline constexpr int kMaxInitialRtrAdvertisements = 3;
inline constexpr uint64_t kMinDelayBetweenRas = 3000;
inline constexpr uint64_t kMaxRaDelayTime = 500;
inline constexpr uint64_t kMaxRtrSolicitationDelay = 1000;
inline constexpr uint64_t kRtrSolicitationInterval = 4000;
inline constexpr int kMaxRtrSolicitations = 3;
// RFC 4861 §6.2.1 limits on the advertised values.
inline constexpr uint32_t kMinMaxRaint = 4000, kMaxMaxRaint = 1800000;  // ms
inline constexpr uint32_t kMinMinRaint = 3000;                          // ms
inline constexpr uint32_t kMaxRouterLifetime = 9000;                    // s
inline constexpr uint32_t kMaxReachableTime = 3600000;                  // ms
// RFC 4862 §5.5.3 e: the two hours a received valid lifetime cannot cut below.
inline constexpr uint32_t kTwoHours = 7200;  // s
// What a host takes from RAs at most, so that a flood of made-up routers and prefixes on the
// link cannot grow its tables (Linux keeps 16 addresses per interface too).
inline constexpr size_t kMaxAutoconf = 16;     // autoconfigured addresses per interface
inline constexpr size_t kMaxDefRouters = 16;   // default routers per stack

// Wire layout. The RA body after the ICMPv6 type/code/checksum: cur hop limit at 4, flags at
// 5, router lifetime at 6, reachable time at 8, retrans timer at 12, options from 16. An RS
// has 4 reserved bytes and options from 8. Options: type, length in 8-byte units, data.
inline constexpr size_t kRaHdr = 16, kRsHdr = 8;
inline constexpr uint8_t kNdOptSrcLla = 1, kNdOptTargetLla = 2, kNdOptPrefix = 3, kNdOptMtu = 5;
inline constexpr size_t kNdOptPrefixLen = 32, kNdOptMtuLen = 8, kNdOptLlaLen = 8;
inline constexpr uint8_t kRaManaged = 0x80, kRaOther = 0x40;      // RA flags byte
inline constexpr uint8_t kPfxOnLink = 0x80, kPfxAuto = 0x40;      // prefix option flags

// One prefix information option (RFC 4861 §4.6.2).
struct RaPrefix {
    Ipaddr prefix;          // masked to plen
    uint8_t plen = 0;       // prefix length
    bool onlink = false;    // L flag
    bool autonomous = false;// A flag
    uint32_t valid = 0;     // s; ~0 = infinite
    uint32_t preferred = 0; // s; ~0 = infinite
};

// A router advertisement, decoded.
struct RaMsg {
    uint8_t curhop = 0;            // 0 = unspecified
    bool managed = false;          // M flag
    bool other = false;            // O flag
    uint16_t routerlt = 0;         // s; 0 = not a default router
    uint32_t reachable = 0;        // ms; 0 = unspecified
    uint32_t retrans = 0;          // ms; 0 = unspecified
    uint32_t mtu = 0;              // MTU option; 0 = absent
    bool has_lla = false;          // source link-layer address option present
    Ether lla;                     // its MAC (Ethernet: the option is 8 bytes)
    std::vector<RaPrefix> prefixes;// prefix information options, in message order
};

// The ICMPv6 message (type 134, checksum left 0) carrying m's fields, the source link-layer
// address option, the MTU option and one option per prefix. At most max bytes: prefixes that
// do not fit are left out.
std::string ra_build(const RaMsg& m, size_t max = 1280 - 40);
// The ICMPv6 message of a solicitation (type 133, checksum 0), with the source link-layer
// address option when lla is not null.
std::string rs_build(const Ether* lla);
// Decodes an RA from its ICMPv6 message (type byte first). False when it is shorter than the
// fixed part or an option has length 0 or runs past the end (RFC 4861 §6.1.2); options of
// unknown type, and known ones of the wrong length, are skipped (§4.6).
bool ra_parse(std::span<const uint8_t> icmp, RaMsg& m);
// The source link-layer address of an RS (RFC 4861 §4.1), if it has a well-formed one.
bool rs_lla(std::span<const uint8_t> icmp, Ether& mac);

// RFC 4861 §6.2.1: the intervals an interface advertises at, from its ra6 values (ms). Zero
// means the default (600 s; a third of the maximum); both are brought into the RFC's ranges.
struct RaIntervals {
    uint32_t max;  // MaxRtrAdvInterval
    uint32_t min;  // MinRtrAdvInterval
};
RaIntervals ra_intervals(int maxraint, int minraint);
// The router lifetime advertised for routerlt seconds: 0 stays 0 (not a default router),
// others are brought into [MaxRtrAdvInterval, 9000 s].
uint16_t ra_router_lifetime(int routerlt, const RaIntervals& iv);

// RFC 4862 §5.5.3 e: the valid lifetime an autoconfigured address gets from a prefix option
// with valid lifetime `received` when `remaining` seconds of its own are left (~0 = infinite).
uint32_t slaac_valid_lifetime(uint32_t remaining, uint32_t received);

// When an advertising interface sends its multicast RAs (RFC 4861 §6.2.4, §6.2.6): the first
// at once, the next kMaxInitialRtrAdvertisements - 1 at most 16 s apart, then at random points
// in [min, max]; a solicitation brings the next one forward to within 0–500 ms, but never
// closer than 3 s to the previous multicast RA.
class RaSched {
public:
    bool on() const { return on_; }
    uint64_t next() const { return next_; }  // ms: when the next RA is due (when on)
    void start(uint64_t now);                // became an advertising interface
    void stop() { on_ = false; }
    void restart_initial(uint64_t now);      // what is advertised changed (§6.2.4: MAY resend)
    void solicited(uint64_t now, uint32_t rnd);
    bool due(uint64_t now) const { return on_ && now >= next_; }
    // A multicast RA went out at now; rnd picks the next interval.
    void sent(uint64_t now, const RaIntervals& iv, uint32_t rnd);

private:
    bool on_ = false;       // advertising
    uint64_t next_ = 0;     // ms: next multicast RA
    uint64_t last_ = 0;     // ms: last multicast RA
    bool any_ = false;      // last_ is valid
    int initial_ = 0;       // initial RAs still to send (counting the next)
};

// An entry of a host's default router list (RFC 4861 §6.3.4).
struct DefRouter6 {
    Ipaddr addr;        // the router's link-local address (the RA's source)
    int ifc = -1;       // interface it was heard on
    uint64_t expires;   // ms: when its router lifetime runs out
};

// A host's router solicitations (RFC 4861 §6.3.7): up to three, 4 s apart, the first after a
// random delay of up to 1 s; an RA ends them.
class RsSched {
public:
    bool on() const { return left_ > 0; }
    void start(uint64_t now, uint32_t rnd);
    void stop() { left_ = 0; }
    bool due(uint64_t now) const { return left_ > 0 && now >= next_; }
    void sent(uint64_t now);

private:
    int left_ = 0;          // solicitations still to send
    uint64_t next_ = 0;     // ms: when the next is due
};

}  // namespace devip::proto
