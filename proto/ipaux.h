// libip's address parsing (ip3.md §4.1) and devip's addr!port grammar (§3.2.1).
// Pure functions: no stack state, fuzzed by unittests/fuzz/ctl_fuzz.cc.
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

#include "proto/err.h"
#include "proto/ip.h"

namespace devip::proto {

// parseip (§4.1.1): v6 groups with one "::" and an optional trailing dotted quad, or v4
// with strtoul base-0 parts and classful shorthand; the address must be followed by the end
// or a delimiter (anything but alphanumerics, '.', ':'). Errors: Ebadip.
Result<Ipaddr> parseip(std::string_view s);

// parseipmask (§4.1.2): "/N" (96 added when v4 and N <= 32; clamped to 0..128; in v4
// context a result below 96 is Ebadip) or an address-shaped mask (v4-looking masks get
// their first 12 bytes set to 0xff; in v4 context a v6-looking mask whose first 12 bytes
// are not all 0xff is Ebadip).
Result<Ipaddr> parseipmask(std::string_view s, bool v4);

// parseipandmask: the address from ipstr; the mask from maskstr (read in v4 context when
// the address is v4-mapped), or when maskstr is absent from a "/N" suffix of ipstr (libip
// itself would give all ones here; 9front's kernel always passes a mask), or all ones when
// there is neither. Errors: Ebadip for either part.
Err parseipandmask(Ipaddr& ip, Ipaddr& mask, std::string_view ipstr,
                   std::optional<std::string_view> maskstr);

// defmask (§4.1.3): class mask for v4, /128 for ::1, /64 link-local, /104 solicited-node,
// /8 other multicast, /128 anything else v6.
Ipaddr defmask(const Ipaddr& a);

// MAC text (§3.13, 9front ipaux.c parsemac): up to 8 bytes, each from the next two
// characters read as hex by strtoul (so a pair without hex digits gives 0, it does not stop
// the parse), with one optional ':' after each pair. Parsing stops at the end of the string
// or when one character is left. out[0..7] is zeroed first. Returns the bytes parsed.
int parsemac(uint8_t out[8], std::string_view s);

// Remote endpoint "addr!port[!r]" (connect's first argument).
struct RemoteSpec {
    Ipaddr addr;             // parsed by parseip
    uint16_t port = 0;       // 16 bits; larger values wrap
    bool restricted = false; // "!r" occurs anywhere after the port (devip uses strstr)
};
// Errors: Emalformed (no '!'), Ebadip, Ebadport (port not followed by end or '!').
Result<RemoteSpec> parse_remote(std::string_view s);

// Local endpoint "[addr!]port[!r]" (connect's 2nd argument, announce, bind).
struct LocalSpec {
    bool has_addr = false;   // an address was written
    bool any_addr = false;   // it was "*" (IPnoaddr)
    Ipaddr addr;             // the parsed address when has_addr && !any_addr
    bool any_port = false;   // port was "*" (announce only; caller checks eve)
    uint16_t port = 0;       // 0 = pick one
};
// Errors: Ebadip, Ebadport ("*" port is accepted only when announcing).
Result<LocalSpec> parse_local(std::string_view s, bool announcing);

// C atoi/strtol semantics used by ctl messages: leading space, sign, base (10 or 0 for
// auto), trailing junk ignored, bad text reads as 0. Plan 9's long is 32 bits, so values
// saturate at INT32_MIN/INT32_MAX (strtoul: UINT32_MAX, and "-n" wraps modulo 2^32).
long ctl_strtol(std::string_view s, int base = 10);
unsigned long ctl_strtoul(std::string_view s, int base = 10);

}  // namespace devip::proto
