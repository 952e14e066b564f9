// The routing table of one stack, control side (9front iproute.c): the authoritative
// 8-field routes, their /net/iproute text and the /net/iproute write parser.
// Behaviour: ip3.md §2.7 (text), §3.12 (writes), §4.3 (data model, lookup, next hop).
// Workers never read a Rib: the FIB built from it is published to them (STYLE 10.8).
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "proto/cmd.h"
#include "proto/err.h"
#include "proto/ip.h"

namespace devip::proto {

namespace rt {
template <class K>
class RouteTable;  // proto/iproute_table.h
}

// Route type bits. The text form prints them in this order: 4|6, i, one of u b m, p, y, t.
enum RouteType : uint16_t {
    Rv4 = 1,       // "4": a v4 route (only the low 32 bits of its addresses count); else "6"
    Rifc = 2,      // "i": interface route to a connected network; survives flush
    Runi = 4,      // "u": host route to one of our unicast addresses
    Rbcast = 8,    // "b": host route to one of our broadcast addresses
    Rmulti = 16,   // "m": host route to a multicast group we joined
    Rptpt = 32,    // "p": point-to-point
    Rproxy = 64,   // "y": answer ARP/ND for it on other interfaces (§4.2.3)
    Rtrans = 128,  // "t": source NAT (§4.4.3)
};

using RouteTag = std::array<char, 4>;  // strncpy'd: NUL-padded when shorter than 4

// strncpy(tag, s, 4): the first 4 characters, NUL-padded.
RouteTag make_tag(std::string_view s);
inline const RouteTag kTagNone = make_tag("none");  // the default tag of an iproute fd
inline const RouteTag kTagIfc = make_tag("ifc ");   // interface and self routes

// One route. add() normalises it to the form the text shows (ip3.md §2.7): dst and src are
// masked; a v4 route keeps its addresses v4-mapped and ones in the top 96 bits of mask and
// smask, so a v4 route that is not source-specific has src 0.0.0.0 and smask /96.
struct Route {
    Ipaddr dst;          // destination: low end of the range dst & mask
    Ipaddr mask;         // destination mask; non-contiguous is legal (§4.3.1)
    Ipaddr src;          // source-specific match: low end of src & smask
    Ipaddr smask;        // zero (v4: zero low 32 bits) = not source-specific
    Ipaddr gate;         // next hop; the network for i routes, the address itself for u/b/m
    uint16_t type = 0;   // RouteType bits
    int ifc = 0;         // ipifc conversation number
    RouteTag tag{};      // "ifc " for interface and self routes, else the writer's tag
    uint32_t ref = 1;    // i routes: number of adds that installed it (one per logical address)

    bool v4() const { return type & Rv4; }
    bool source_specific() const;  // smask selects something (v4: its low 32 bits)
    // 4.3.3: where a packet using this route goes: its own destination for i/u/b/m routes
    bool on_link() const { return type & (Rifc | Runi | Rbcast | Rmulti); }
};

// "4iu…": the flags field of the text form; at most 6 characters plus NUL.
void route_type_text(uint16_t type, char out[8]);
// The flags field of an 8- or 9-field write (§3.12): 4 or 6, then i u b m p y t each at
// most once, at most one of u b m. Returns -1 when malformed.
int parse_route_type(std::string_view s);

// What the routing table needs to know about interfaces (implemented by the stack).
class IfcView {
public:
    virtual ~IfcView() = default;
    virtual bool ifc_bound(int ifc) const = 0;                // exists and has a medium
    virtual int ifc_of_local(const Ipaddr& a) const = 0;      // interface holding local a, or -1
    virtual int find_ifc(const Ipaddr& gate, const Ipaddr& src) const = 0;  // §4.3.5, or -1
};

class Rib {
public:
    Rib();
    ~Rib();
    Rib(const Rib&) = delete;
    Rib& operator=(const Rib&) = delete;

    // Adds r (§3.12). A route with the same destination and source ranges as an existing
    // one replaces its type, gate, ifc and tag, unless the existing one is an i route: then
    // a non-i add is ignored, and an i add takes over r's proxy and trans bits and counts
    // one more reference (ref). r.ref is ignored.
    void add(const Route& r);

    // Deletes the route with r's destination and source ranges (§3.12). An existing i route
    // matches any r (9front's looknode) and loses one reference. Any other route must have
    // r's i/u/b/m bits and ifc, r's gate unless r's gate is zero, and r's tag unless r's tag
    // is empty. Returns false when nothing matched (the file write still succeeds then).
    bool remove(const Route& r);

    // `flush` (no tag) or `flush tag`: deletes every route without the i flag (quirk 4:
    // self routes too), or those of them whose tag equals the first 4 characters of tag.
    void flush(std::optional<std::string_view> tag);

    // bind and unbind (§4.3.6): every route through ifc, whatever its kind or references.
    void remove_ifc(int ifc);

    // §4.3.2: the route for a packet to dst from src. The family is dst's; src must be of
    // the same family or IPnoaddr (no source); a mixed pair finds nothing. The table keeps
    // routes in a compact form, so the Route is a copy: it stays valid for the next
    // kLookupCopies - 1 lookups, whatever else changes. Use it at once.
    static constexpr unsigned kLookupCopies = 16;
    const Route* lookup(const Ipaddr& dst, const Ipaddr& src) const;

    // The routes whose destination range holds dst, whatever their source, from least to
    // most specific (the walk of source selection, §4.3.4). Appended to out as copies that
    // stay valid until the next matches().
    void matches(const Ipaddr& dst, std::vector<const Route*>& out) const;

    // One write to /net/iproute (§3.12): flush, tag, add, del, remove. fdtag is the
    // writing fd's tag (kTagNone when opened). Everything is validated before anything
    // changes; a delete that matches nothing succeeds.
    Err write(const CtlArgs& a, RouteTag& fdtag, const IfcView& v);

    // The whole /net/iproute text (§2.7): v4 routes then v6 routes, each family ordered by
    // destination, then wider mask first, then source-specific before any-source.
    void text(std::string& out) const;
    // Bytes [offset, offset + max) of that text, appended to out (partial lines included, as
    // 9front's regenerate-and-skip gives). Sequential reads continue from a cached cursor,
    // so reading the whole table in chunks costs O(size); a change restarts the cache, and
    // a read that reaches the end drops it.
    size_t read(std::string& out, size_t offset, size_t max) const;

    // One route as its /net/iproute line.
    void line(std::string& out, const Route& r) const;

    // Every route, in no particular order (for building the FIB). fn gets a copy.
    template <class F>
    void for_each(F&& fn) const {
        using Fn = std::remove_reference_t<F>;
        each([](void* f, const Route& r) { (*static_cast<Fn*>(f))(r); },
             const_cast<void*>(static_cast<const void*>(&fn)));
    }

    // Called after a route appears and before one goes away (a replacement is a removal
    // then an addition); the worker-side FIB follows the table through it. The Route is a
    // copy, valid during the call.
    std::function<void(const Route& r, bool present)> on_change;

    size_t size() const;
    uint64_t generation() const { return gen_; }  // bumped on every change
    size_t memory() const;                        // bytes held by the table's arrays

private:
    struct Tables;  // proto/iproute.cc: one rt::RouteTable per family, the text order

    void each(void (*fn)(void*, const Route&), void* ctx) const;
    template <class K>
    void add_in(rt::RouteTable<K>& t, const Route& r);
    template <class K>
    bool remove_in(rt::RouteTable<K>& t, const Route& r);
    template <class Pred>
    void erase_if(Pred p);
    template <class Rec>
    void notify(const Rec& r, bool present);
    void build_order() const;

    std::unique_ptr<Tables> t_;  // the routes
    uint64_t gen_ = 0;           // bumped on every change
};

}  // namespace devip::proto
