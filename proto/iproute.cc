// The routing table of one stack, control side (9front iproute.c). Behaviour: ip3.md §2.7
// (text), §3.12 (writes), §4.3 (lookup). 9front keeps 1024 trees of nested ranges; we keep,
// per family and prefix length, a hash from a destination's low end to the chain of routes
// that differ only by source, plus a list of the rare routes with a non-contiguous
// destination mask (slow path). A lookup probes the prefix lengths present,
// longest first. "Most deeply nested" (§4.3.2) is computed as the largest (destination
// mask, source mask) pair, compared as numbers: a range nested in another has a larger
// mask, and any-source routes have source mask 0.
#include "proto/iproute.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <utility>

#include "proto/ipaux.h"
#include "proto/text.h"

namespace devip::proto {

namespace {

__extension__ typedef unsigned __int128 U128;

// An address as a number in its family: the low 32 bits for v4, all 128 otherwise.
U128 val(const Ipaddr& a, bool v4) {
    if (v4) return a.v4host();
    uint64_t hi = 0, lo = 0;
    for (int i = 0; i < 8; i++) hi = hi << 8 | a.b[i];
    for (int i = 8; i < 16; i++) lo = lo << 8 | a.b[i];
    return U128(hi) << 64 | lo;
}

// The address of a number; a v4 mask gets ones in its top 96 bits (as convroute does).
Ipaddr addr_of(U128 x, bool v4, bool is_mask) {
    if (v4) {
        Ipaddr a = Ipaddr::v4(uint32_t(x));
        if (is_mask) std::fill(a.b.begin(), a.b.begin() + 12, 0xff);
        return a;
    }
    Ipaddr a;
    for (int i = 15; i >= 0; i--, x >>= 8) a.b[i] = uint8_t(x);
    return a;
}

U128 ones(int width) { return width == 32 ? U128(0xffffffffu) : ~U128(0); }

U128 prefix(int len, int width) {
    return len == 0 ? 0 : (ones(width) << (width - len)) & ones(width);
}

// Prefix length of a mask in a family of width bits, or -1 if it is not contiguous.
int prefix_len(U128 m, int width) {
    U128 inv = ~m & ones(width);
    if (inv & (inv + 1)) return -1;
    return width - std::popcount(uint64_t(inv)) - std::popcount(uint64_t(inv >> 64));
}

bool in_range(U128 x, U128 lo, U128 mask, int width) {
    return x >= lo && x <= (lo | (~mask & ones(width)));
}

// The route as the table keeps it (ip3.md §2.7, 9front mkroute + convroute).
Route normalise(const Route& in, int& dlen) {
    bool v4 = in.type & Rv4;
    int w = v4 ? 32 : 128;
    Route n = in;
    U128 m = val(in.mask, v4), sm = val(in.smask, v4);
    n.dst = addr_of(val(in.dst, v4) & m, v4, false);
    n.mask = addr_of(m, v4, true);
    n.src = addr_of(val(in.src, v4) & sm, v4, false);
    n.smask = addr_of(sm, v4, true);
    if (v4) n.gate = Ipaddr::v4(in.gate.v4host());
    n.ref = 1;
    dlen = prefix_len(m, w);
    return n;
}

bool same_source(const Route& a, const Route& b) { return a.src == b.src && a.smask == b.smask; }

bool gate_is_zero(const Route& r) { return r.v4() ? r.gate.v4host() == 0 : r.gate.is_noaddr(); }

// 9front matchroute: may probe p delete existing route e (e is not an i route)?
bool delete_matches(const Route& p, const Route& e) {
    if ((p.type ^ e.type) & (Rifc | Runi | Rmulti | Rbcast)) return false;
    if (!gate_is_zero(p) && p.gate != e.gate) return false;
    if (p.ifc != e.ifc) return false;
    if (p.tag[0] && p.tag != e.tag) return false;
    return true;
}

int cmp(const Ipaddr& a, const Ipaddr& b) { return std::memcmp(a.b.data(), b.b.data(), 16); }

// Text order within a family: destination, wider mask first, source-specific first, source.
bool text_before(const Route& a, const Route& b) {
    if (int c = cmp(a.dst, b.dst)) return c < 0;
    if (int c = cmp(a.mask, b.mask)) return c < 0;
    bool as = a.source_specific(), bs = b.source_specific();
    if (as != bs) return as;
    if (int c = cmp(a.src, b.src)) return c < 0;
    return cmp(a.smask, b.smask) < 0;
}

}  // namespace

RouteTag make_tag(std::string_view s) {
    RouteTag t{};
    for (size_t i = 0; i < t.size() && i < s.size() && s[i]; i++) t[i] = s[i];
    return t;
}

bool Route::source_specific() const { return v4() ? smask.v4host() != 0 : !smask.is_noaddr(); }

void route_type_text(uint16_t type, char out[8]) {
    char* p = out;
    *p++ = type & Rv4 ? '4' : '6';
    if (type & Rifc) *p++ = 'i';
    if (type & Runi) *p++ = 'u';
    else if (type & Rbcast) *p++ = 'b';
    else if (type & Rmulti) *p++ = 'm';
    if (type & Rptpt) *p++ = 'p';
    if (type & Rproxy) *p++ = 'y';
    if (type & Rtrans) *p++ = 't';
    *p = 0;
}

int parse_route_type(std::string_view s) {
    static constexpr struct { char c; uint16_t bit; } kLetters[] = {
        {'i', Rifc}, {'u', Runi}, {'b', Rbcast}, {'m', Rmulti},
        {'p', Rptpt}, {'y', Rproxy}, {'t', Rtrans},
    };
    if (s.empty() || (s[0] != '4' && s[0] != '6')) return -1;
    int type = s[0] == '4' ? Rv4 : 0;
    for (char c : s.substr(1)) {
        auto l = std::find_if(std::begin(kLetters), std::end(kLetters),
                              [c](const auto& x) { return x.c == c; });
        if (l == std::end(kLetters) || (type & l->bit)) return -1;
        type |= l->bit;
        if (std::popcount(unsigned(type & (Runi | Rbcast | Rmulti))) > 1) return -1;
    }
    return type;
}

// ---- Prefixes: one prefix length's hash ------------------------------------------------

size_t Rib::Prefixes::home(uint64_t hi, uint64_t lo) const {
    uint64_t h = lo * 0x9e3779b97f4a7c15ull ^ hi * 0xc2b2ae3d27d4eb4full;
    h ^= h >> 32;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 29;
    return size_t(h) & (s_.size() - 1);
}

size_t Rib::Prefixes::probe(U128 key) const {
    uint64_t hi = uint64_t(key >> 64), lo = uint64_t(key);
    size_t i = home(hi, lo);
    while (s_[i].head != kNone && (s_[i].lo != lo || s_[i].hi != hi)) i = (i + 1) & (s_.size() - 1);
    return i;
}

const uint32_t* Rib::Prefixes::find(U128 lo) const {
    if (!n_) return nullptr;
    const Slot& s = s_[probe(lo)];
    return s.head == kNone ? nullptr : &s.head;
}

uint32_t* Rib::Prefixes::find(U128 lo) {
    return const_cast<uint32_t*>(std::as_const(*this).find(lo));
}

uint32_t& Rib::Prefixes::insert(U128 lo, bool& fresh) {
    if (2 * (n_ + 1) > s_.size()) grow();
    Slot& s = s_[probe(lo)];
    fresh = s.head == kNone;
    if (fresh) {
        s = Slot{uint64_t(lo >> 64), uint64_t(lo), kNone};
        n_++;
    }
    return s.head;
}

void Rib::Prefixes::grow() {
    std::vector<Slot> old(std::max<size_t>(16, 2 * s_.size()), Slot{0, 0, kNone});
    old.swap(s_);
    for (const Slot& o : old)
        if (o.head != kNone) s_[probe(U128(o.hi) << 64 | o.lo)] = o;
}

// Backward-shift deletion: later slots of the run whose home is not between the hole and
// them move back, so that lookups never need tombstones.
void Rib::Prefixes::erase(U128 lo) {
    const size_t mask = s_.size() - 1;
    size_t i = probe(lo);
    for (size_t j = (i + 1) & mask; s_[j].head != kNone; j = (j + 1) & mask) {
        size_t k = home(s_[j].hi, s_[j].lo);
        if (((j - k) & mask) >= ((j - i) & mask)) {  // k is cyclically at or before i
            s_[i] = s_[j];
            i = j;
        }
    }
    s_[i].head = kNone;
    n_--;
}

// ---- the table --------------------------------------------------------------------------

Rib::Rib() = default;
Rib::~Rib() = default;

// The live entry with n's destination and source ranges, or kNone.
uint32_t Rib::find(const Route& n, int dlen) const {
    const Family& f = fam(n.v4());
    if (dlen < 0) {
        for (uint32_t id : f.odd) {
            const Route& o = slab_[id].r;
            if (o.dst == n.dst && o.mask == n.mask && same_source(o, n)) return id;
        }
        return kNone;
    }
    const uint32_t* head = f.by_len[dlen].find(val(n.dst, n.v4()));
    if (!head) return kNone;
    for (uint32_t id = *head; id != kNone; id = slab_[id].next)
        if (same_source(slab_[id].r, n)) return id;
    return kNone;
}

void Rib::insert(const Route& n, int dlen) {
    uint32_t id = free_;
    if (id == kNone) {
        id = uint32_t(slab_.size());
        slab_.emplace_back();
    } else {
        free_ = slab_[id].next;
    }
    Entry& e = slab_[id];
    e = Entry{n, kNone, int16_t(dlen), true};
    if (on_change) on_change(e.r, true);
    Family& f = fam(n.v4());
    if (dlen < 0) {
        f.odd.push_back(id);
    } else {
        bool fresh;
        uint32_t& head = f.by_len[dlen].insert(val(n.dst, n.v4()), fresh);
        e.next = std::exchange(head, id);
    }
    nlive_++;
}

void Rib::erase(uint32_t id) {
    Entry& e = slab_[id];
    if (on_change) on_change(e.r, false);
    Family& f = fam(e.r.v4());
    if (e.dlen < 0) {
        f.odd.erase(std::find(f.odd.begin(), f.odd.end(), id));
    } else {
        Prefixes& p = f.by_len[e.dlen];
        U128 lo = val(e.r.dst, e.r.v4());
        uint32_t* link = p.find(lo);
        if (*link == id && e.next == kNone) {
            p.erase(lo);  // the last route to this destination
        } else {
            while (*link != id) link = &slab_[*link].next;
            *link = e.next;
        }
    }
    e.live = false;
    e.next = std::exchange(free_, id);
    nlive_--;
}

template <class Pred>
void Rib::erase_if(Pred p) {
    bool any = false;
    for (uint32_t id = 0; id < slab_.size(); id++) {
        if (!slab_[id].live || !p(slab_[id].r)) continue;
        erase(id);
        any = true;
    }
    if (any) gen_++;
}

void Rib::add(const Route& r) {
    int dlen;
    Route n = normalise(r, dlen);
    uint32_t id = find(n, dlen);
    if (id == kNone) {
        insert(n, dlen);
    } else if (Route& o = slab_[id].r; !(o.type & Rifc)) {
        if (on_change) on_change(o, false);
        o.type = n.type;
        o.gate = n.gate;
        o.ifc = n.ifc;
        o.tag = n.tag;
        if (on_change) on_change(o, true);
    } else if (n.type & Rifc) {
        if (on_change) on_change(o, false);
        o.type = uint16_t((o.type & ~(Rproxy | Rtrans)) | (n.type & (Rproxy | Rtrans)));
        o.ref++;
        if (on_change) on_change(o, true);
    }
    gen_++;  // 9front bumps the generation even when an add is ignored
}

bool Rib::remove(const Route& r) {
    int dlen;
    Route n = normalise(r, dlen);
    uint32_t id = find(n, dlen);
    if (id == kNone) return false;
    Route& o = slab_[id].r;
    if (!(o.type & Rifc) && !delete_matches(n, o)) return false;
    if (--o.ref == 0) erase(id);
    gen_++;
    return true;
}

void Rib::flush(std::optional<std::string_view> tag) {
    RouteTag t = tag ? make_tag(*tag) : RouteTag{};
    erase_if([&](const Route& r) { return !(r.type & Rifc) && (!tag || r.tag == t); });
}

void Rib::remove_ifc(int ifc) {
    erase_if([ifc](const Route& r) { return r.ifc == ifc; });
}

// ---- lookup -----------------------------------------------------------------------------

// §4.3.2: among routes whose destination range holds d and whose source range holds s
// (or that are not source-specific), the one with the largest (dst mask, src mask).
const Rib::Entry* Rib::lookup_in(const Family& f, U128 d, U128 s) const {
    const bool v4 = f.width == 32;
    const Entry* best = nullptr;
    U128 best_dm = 0, best_sm = 0;
    for (int len = f.width; len >= 0 && !best; len--) {
        if (!f.by_len[len].size()) continue;
        U128 dm = prefix(len, f.width);
        const uint32_t* head = f.by_len[len].find(d & dm);
        if (!head) continue;
        for (uint32_t id = *head; id != kNone; id = slab_[id].next) {
            const Entry& e = slab_[id];
            U128 sm = val(e.r.smask, v4);
            if (!in_range(s, val(e.r.src, v4), sm, f.width)) continue;
            if (!best || sm > best_sm) best = &e, best_dm = dm, best_sm = sm;
        }
    }
    for (uint32_t id : f.odd) {  // non-contiguous destination masks: the slow path
        const Entry& e = slab_[id];
        U128 dm = val(e.r.mask, v4), sm = val(e.r.smask, v4);
        if (!in_range(d, val(e.r.dst, v4), dm, f.width)) continue;
        if (!in_range(s, val(e.r.src, v4), sm, f.width)) continue;
        if (!best || dm > best_dm || (dm == best_dm && sm > best_sm))
            best = &e, best_dm = dm, best_sm = sm;
    }
    return best;
}

const Route* Rib::lookup(const Ipaddr& dst, const Ipaddr& src) const {
    bool v4 = dst.is_v4();
    if (v4 ? !(src.is_v4() || src.is_noaddr()) : src.is_v4()) return nullptr;
    const Entry* e = lookup_in(fam(v4), val(dst, v4), val(src, v4));
    return e ? &e->r : nullptr;
}

void Rib::matches(const Ipaddr& dst, std::vector<const Route*>& out) const {
    bool v4 = dst.is_v4();
    const Family& f = fam(v4);
    U128 d = val(dst, v4);
    size_t first = out.size();
    for (int len = 0; len <= f.width; len++) {
        const uint32_t* head = f.by_len[len].find(d & prefix(len, f.width));
        if (!head) continue;
        for (uint32_t id = *head; id != kNone; id = slab_[id].next) out.push_back(&slab_[id].r);
    }
    for (uint32_t id : f.odd)
        if (in_range(d, val(slab_[id].r.dst, v4), val(slab_[id].r.mask, v4), f.width))
            out.push_back(&slab_[id].r);
    std::stable_sort(out.begin() + long(first), out.end(), [v4](const Route* a, const Route* b) {
        U128 am = val(a->mask, v4), bm = val(b->mask, v4);
        if (am != bm) return am < bm;
        return val(a->smask, v4) < val(b->smask, v4);
    });
}

// ---- text -------------------------------------------------------------------------------

// One line of §2.7: "%-15I %-4M %-15I %-4s %4.4s %3s %-15I %-4M\n".
void Rib::line(std::string& out, const Route& r) const {
    char type[8], ifc[4];
    route_type_text(r.type, type);
    snprintf(ifc, sizeof ifc, "%d", r.ifc);  // 9front's 4-byte buffer: at most 3 digits
    int taglen = int(strnlen(r.tag.data(), r.tag.size()));
    Text t;
    t.put("%-15s %-4s %-15s %-4s %4.*s %3s %-15s %-4s\n", fmt_ip(r.dst).c_str(),
          fmt_mask(r.mask).c_str(), fmt_ip(r.gate).c_str(), type, taglen, r.tag.data(), ifc,
          fmt_ip(r.src).c_str(), fmt_mask(r.smask).c_str());
    out += t.str();
}

// The text order, sorted on numeric keys: v4 first; for v4 the whole order fits in
// (dst.mask, src.smask), with any-source (b = 2^64) after every source-specific route; v6
// sorts on (dst, mask) and breaks ties with the full comparison.
void Rib::build_order() const {
    if (order_gen_ == gen_) return;
    struct SortKey {
        bool v6;      // v4 routes first
        U128 a, b;    // see above
        uint32_t id;  // the entry
    };
    std::vector<SortKey> keys;
    keys.reserve(nlive_);
    for (uint32_t id = 0; id < slab_.size(); id++) {
        if (!slab_[id].live) continue;
        const Route& r = slab_[id].r;
        bool v4 = r.v4();
        U128 a = val(r.dst, v4), b = val(r.mask, v4);
        if (v4) {
            a = a << 32 | b;
            b = r.source_specific() ? val(r.src, true) << 32 | val(r.smask, true) : U128(1) << 64;
        }
        keys.push_back({!v4, a, b, id});
    }
    std::sort(keys.begin(), keys.end(), [this](const SortKey& x, const SortKey& y) {
        if (x.v6 != y.v6) return y.v6;
        if (x.a != y.a) return x.a < y.a;
        if (x.b != y.b) return x.b < y.b;
        return text_before(slab_[x.id].r, slab_[y.id].r);
    });
    order_.resize(keys.size());
    for (size_t i = 0; i < keys.size(); i++) order_[i] = keys[i].id;
    order_gen_ = gen_;
    cur_line_ = cur_off_ = 0;
}

void Rib::text(std::string& out) const {
    build_order();
    for (uint32_t id : order_) line(out, slab_[id].r);
}

size_t Rib::read(std::string& out, size_t offset, size_t max) const {
    build_order();
    if (offset < cur_off_) cur_line_ = cur_off_ = 0;
    size_t start = out.size();
    std::string l;
    while (cur_line_ < order_.size() && out.size() - start < max) {
        l.clear();
        line(l, slab_[order_[cur_line_]].r);
        size_t end = cur_off_ + l.size();
        if (end > offset) {  // this line holds bytes at or after offset
            size_t from = offset > cur_off_ ? offset - cur_off_ : 0;
            size_t want = std::min(l.size() - from, max - (out.size() - start));
            out.append(l, from, want);
            offset = cur_off_ + from + want;
            if (from + want < l.size()) break;  // the next read starts inside this line
        }
        cur_off_ = end;
        cur_line_++;
    }
    return out.size() - start;
}

// ---- /net/iproute writes ----------------------------------------------------------------

namespace {

struct WriteCtx {           // what one write may touch
    Rib& rib;               // the stack's table
    RouteTag& fdtag;        // the writing fd's tag
    const IfcView& ifcs;    // the stack's interfaces
};

// 9front findipifcstr: a whole decimal number names a bound interface; anything else must
// be an address, mapped to the interface holding it or else the one whose network has it.
int ifc_by_name(std::string_view s, const IfcView& v) {
    std::string z(s);
    char* end;
    errno = 0;
    long x = strtol(z.c_str(), &end, 10);
    if (end > z.c_str() && *end == 0) {
        if (x < 0 || errno == ERANGE || x > INT32_MAX || !v.ifc_bound(int(x))) return -1;
        return int(x);
    }
    auto ip = parseip(s);
    if (!ip) return -1;
    int ifc = v.ifc_of_local(*ip);
    return ifc >= 0 ? ifc : v.find_ifc(*ip, *ip);
}

// 9front parseroute: fields by count (§3.12 table), checked in 9front's order so that a
// message with several faults gives the same error.
Result<Route> parse_route(const CtlArgs& a, const WriteCtx& x) {
    const size_t n = a.size();
    const bool add = a[0] == "add";
    Route r;
    if (n < 3) return Ebadctl;
    if (parseipandmask(r.dst, r.mask, a[1], a[2])) return Ebadip;
    if (add || (n > 3 && n != 5)) {
        if (n < 4) return Ebadctl;
        auto gate = parseip(a[3]);
        if (!gate) return Ebadip;
        r.gate = *gate;
    }
    if (n > 4 && (!add || n != 5))
        if (parseipandmask(r.src, r.smask, a[n - 2], a[n - 1])) return Ebadip;
    std::optional<std::string_view> ifcstr;
    if (add && n == 5) ifcstr = a[4];
    else if (n > 6) ifcstr = a[n - 3];
    int type = 0;
    if (n > 7 && (type = parse_route_type(a[4])) < 0) return Ebadctl;
    // the family follows the target, whatever the digit (a "4" on a v6 target is ignored)
    r.type = uint16_t((type & ~Rv4) | (r.dst.is_v4() ? Rv4 : 0));
    if (n > 8) r.tag = make_tag(a[5]);
    if (n > 9) return Ebadctl;
    if (r.v4()) {
        if (!r.smask.is_noaddr() && !r.src.is_v4()) return Ebadip;
        if (!r.gate.is_noaddr() && !r.gate.is_v4()) return Ebadip;
    }
    r.ifc = ifcstr ? ifc_by_name(*ifcstr, x.ifcs) : x.ifcs.find_ifc(r.gate, r.src);
    if (r.ifc < 0) return Enoifc;
    if (!r.tag[0]) r.tag = x.fdtag;
    return r;
}

Err route_flush(WriteCtx& x, const CtlArgs& a) {
    x.rib.flush(a.size() < 2 ? std::nullopt : std::optional<std::string_view>(a[1]));
    return ok;
}

Err route_tag(WriteCtx& x, const CtlArgs& a) {
    if (a.size() < 2) return Ebadarg;
    x.fdtag = make_tag(a[1]);
    return ok;
}

Err route_add(WriteCtx& x, const CtlArgs& a) {
    auto r = parse_route(a, x);
    if (!r) return r.err();
    x.rib.add(*r);
    return ok;
}

Err route_del(WriteCtx& x, const CtlArgs& a) {
    auto r = parse_route(a, x);
    if (!r) return r.err();
    x.rib.remove(*r);  // a delete that matches nothing still succeeds
    return ok;
}

// "del" and "remove" are synonyms; Bell Labs' "route" and rip's "delete" are not verbs here.
constexpr CtlCmd<WriteCtx> kRouteCtl[] = {
    {"flush", 0, route_flush}, {"tag", 0, route_tag}, {"add", 0, route_add},
    {"del", 0, route_del},     {"remove", 0, route_del},
};

}  // namespace

Err Rib::write(const CtlArgs& a, RouteTag& fdtag, const IfcView& v) {
    WriteCtx x{*this, fdtag, v};
    return run_ctl<WriteCtx>(kRouteCtl, x, a, Ebadctl, Ebadctl);
}

}  // namespace devip::proto
