// The routing table of one stack, control side (9front iproute.c). Behaviour: ip3.md §2.7
// (text), §3.12 (writes), §4.3 (lookup). 9front keeps 1024 trees of nested ranges; we keep,
// per family, compact records and, per prefix length, a hash from a destination's low end to
// the chain of routes that differ only by source, plus a list of the rare routes with a
// non-contiguous destination mask (slow path); see proto/iproute_table.h. A lookup probes
// the prefix lengths present, longest first. "Most deeply nested" (§4.3.2) is computed as
// the largest (destination mask, source mask) pair, compared as numbers: a range nested in
// another has a larger mask, and any-source routes have source mask 0.
#include "proto/iproute.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <utility>

#include "proto/iproute_table.h"
#include "proto/ipaux.h"
#include "proto/text.h"

namespace devip::proto {

using rt::Rec;
using rt::RouteTable;
using rt::U128;

namespace {

// 9front matchroute: may probe p delete existing route e (e is not an i route)?
template <class K>
bool delete_matches(const Rec<K>& p, const Rec<K>& e) {
    if ((p.type ^ e.type) & (Rifc | Runi | Rmulti | Rbcast)) return false;
    if (p.gate != 0 && p.gate != e.gate) return false;
    if (p.ifc != e.ifc) return false;
    if (p.tag[0] && p.tag != e.tag) return false;
    return true;
}

// Text order among routes with the same destination and mask: source-specific first, then
// by source range.
template <class K>
bool source_before(const Rec<K>& a, const Rec<K>& b) {
    bool as = a.smask != 0, bs = b.smask != 0;
    if (as != bs) return as;
    if (a.src != b.src) return a.src < b.src;
    return a.smask < b.smask;
}

// ---- the text of one v4 route, without printf ------------------------------------------

char* put_u8(char* p, unsigned v) {  // 0..255
    if (v >= 100) *p++ = char('0' + v / 100);
    if (v >= 10) *p++ = char('0' + v / 10 % 10);
    *p++ = char('0' + v % 10);
    return p;
}

// s padded with blanks to width w (left-justified); returns the end.
char* pad_to(char* start, char* p, int w) {
    while (p < start + w) *p++ = ' ';
    return p;
}

char* put_ip4(char* p, uint32_t a, int w) {  // %-wI
    char* s = p;
    p = put_u8(p, a >> 24);
    *p++ = '.';
    p = put_u8(p, a >> 16 & 255);
    *p++ = '.';
    p = put_u8(p, a >> 8 & 255);
    *p++ = '.';
    p = put_u8(p, a & 255);
    return pad_to(s, p, w);
}

char* put_len4(char* p, int len) {  // %-4M of a contiguous v4 mask: "/96".."/128"
    char* s = p;
    int n = 96 + len;
    *p++ = '/';
    if (n >= 100) *p++ = char('0' + n / 100);
    *p++ = char('0' + n / 10 % 10);
    *p++ = char('0' + n % 10);
    return pad_to(s, p, 4);
}

// The §2.7 line of a v4 record whose masks are contiguous and whose ifc has at most three
// digits (the common case, byte for byte what Rib::line prints); false for anything else.
bool line4(std::string& out, const Rec<uint32_t>& e) {
    int slen = rt::prefix_len(e.smask);
    if (e.dlen < 0 || slen < 0 || e.ifc < 0 || e.ifc > 999) return false;
    char b[128];
    char* p = put_ip4(b, e.dst, 15);
    *p++ = ' ';
    p = put_len4(p, e.dlen);
    *p++ = ' ';
    p = put_ip4(p, e.gate, 15);
    *p++ = ' ';
    char* s = p;
    route_type_text(e.type, p);
    p = pad_to(s, p + strlen(p), 4);
    *p++ = ' ';
    size_t taglen = strnlen(e.tag.data(), e.tag.size());
    p = pad_to(p, p, int(4 - taglen));
    std::memcpy(p, e.tag.data(), taglen);
    p += taglen;
    *p++ = ' ';
    int ifc = e.ifc;  // %3s of 0..999
    *p++ = ifc >= 100 ? char('0' + ifc / 100) : ' ';
    *p++ = ifc >= 10 ? char('0' + ifc / 10 % 10) : ' ';
    *p++ = char('0' + ifc % 10);
    *p++ = ' ';
    p = put_ip4(p, e.src, 15);
    *p++ = ' ';
    p = put_len4(p, slen);
    *p++ = '\n';
    out.append(b, size_t(p - b));
    return true;
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

// ---- the table --------------------------------------------------------------------------

struct Rib::Tables {
    RouteTable<uint32_t> v4;                       // v4 routes (Rv4)
    RouteTable<U128> v6;                           // the rest
    std::array<Route, kLookupCopies> copies;       // lookup()'s answers, round robin
    unsigned next_copy = 0;                        // the next of copies to hand out
    std::vector<Route> matched;                    // matches()'s answers
    std::vector<uint32_t> ids;                     // matches()'s scratch

    // read()'s cache: the text order and a cursor at the start of a line
    std::vector<uint32_t> order;                   // v4 ids, then v6 ids, in text order
    size_t order_v4 = 0;                           // how many of order are v4
    uint64_t order_gen = UINT64_MAX;               // generation order was built for
    size_t cur_line = 0;                           // index into order
    size_t cur_off = 0;                            // byte offset where that line starts

    const Route* hand_out(const Route& r) {
        Route& c = copies[next_copy++ % kLookupCopies];
        c = r;
        return &c;
    }
    void drop_order() {
        std::vector<uint32_t>().swap(order);
        order_gen = UINT64_MAX;
        cur_line = cur_off = 0;
    }
};

Rib::Rib() : t_(std::make_unique<Tables>()) {}
Rib::~Rib() = default;

size_t Rib::size() const { return t_->v4.size() + t_->v6.size(); }

size_t Rib::memory() const {
    return t_->v4.bytes() + t_->v6.bytes() + t_->order.capacity() * sizeof(uint32_t);
}

template <class Rec>
void Rib::notify(const Rec& r, bool present) {
    if (on_change) on_change(rt::to_route(r), present);
}

template <class K>
void Rib::add_in(RouteTable<K>& t, const Route& r) {
    Rec<K> n = rt::to_rec<K>(r);
    uint32_t id = t.find(n);
    if (!id) {
        notify(t.at(t.insert(n)), true);
        return;
    }
    Rec<K>& o = t.at(id);
    if (!(o.type & Rifc)) {
        notify(o, false);
        o.type = n.type;
        o.gate = n.gate;
        o.ifc = n.ifc;
        o.tag = n.tag;
        notify(o, true);
    } else if (n.type & Rifc) {
        notify(o, false);
        o.type = uint16_t((o.type & ~(Rproxy | Rtrans)) | (n.type & (Rproxy | Rtrans)));
        o.ref++;
        notify(o, true);
    }
}

template <class K>
bool Rib::remove_in(RouteTable<K>& t, const Route& r) {
    Rec<K> n = rt::to_rec<K>(r);
    uint32_t id = t.find(n);
    if (!id) return false;
    Rec<K>& o = t.at(id);
    if (!(o.type & Rifc) && !delete_matches(n, o)) return false;
    if (--o.ref == 0) {
        notify(o, false);
        t.erase(id);
    }
    return true;
}

template <class Pred>
void Rib::erase_if(Pred p) {
    auto gone = [this](const auto& r) { this->notify(r, false); };
    size_t n = t_->v4.erase_if([&](const Rec<uint32_t>& r) { return p(r.type, r.tag, r.ifc); },
                               gone);
    n += t_->v6.erase_if([&](const Rec<U128>& r) { return p(r.type, r.tag, r.ifc); }, gone);
    if (n) gen_++;
}

void Rib::add(const Route& r) {
    if (r.type & Rv4) add_in(t_->v4, r);
    else add_in(t_->v6, r);
    gen_++;  // 9front bumps the generation even when an add is ignored
}

bool Rib::remove(const Route& r) {
    bool hit = r.type & Rv4 ? remove_in(t_->v4, r) : remove_in(t_->v6, r);
    if (hit) gen_++;
    return hit;
}

void Rib::flush(std::optional<std::string_view> tag) {
    RouteTag t = tag ? make_tag(*tag) : RouteTag{};
    erase_if([&](uint16_t type, const RouteTag& rtag, int) {
        return !(type & Rifc) && (!tag || rtag == t);
    });
}

void Rib::remove_ifc(int ifc) {
    erase_if([ifc](uint16_t, const RouteTag&, int x) { return x == ifc; });
}

void Rib::each(void (*fn)(void*, const Route&), void* ctx) const {
    for (uint32_t id = 1; id < t_->v4.end(); id++)
        if (t_->v4.live(id)) fn(ctx, rt::to_route(t_->v4.at(id)));
    for (uint32_t id = 1; id < t_->v6.end(); id++)
        if (t_->v6.live(id)) fn(ctx, rt::to_route(t_->v6.at(id)));
}

// ---- lookup -----------------------------------------------------------------------------

const Route* Rib::lookup(const Ipaddr& dst, const Ipaddr& src) const {
    bool v4 = dst.is_v4();
    if (v4 ? !(src.is_v4() || src.is_noaddr()) : src.is_v4()) return nullptr;
    if (v4) {
        using F = rt::Fam<uint32_t>;
        uint32_t id = t_->v4.lookup(F::num(dst), F::num(src));
        return id ? t_->hand_out(rt::to_route(t_->v4.at(id))) : nullptr;
    }
    using F = rt::Fam<U128>;
    uint32_t id = t_->v6.lookup(F::num(dst), F::num(src));
    return id ? t_->hand_out(rt::to_route(t_->v6.at(id))) : nullptr;
}

void Rib::matches(const Ipaddr& dst, std::vector<const Route*>& out) const {
    bool v4 = dst.is_v4();
    Tables& t = *t_;
    t.ids.clear();
    t.matched.clear();
    if (v4) {
        t.v4.matches(rt::Fam<uint32_t>::num(dst), t.ids);
        for (uint32_t id : t.ids) t.matched.push_back(rt::to_route(t.v4.at(id)));
    } else {
        t.v6.matches(rt::Fam<U128>::num(dst), t.ids);
        for (uint32_t id : t.ids) t.matched.push_back(rt::to_route(t.v6.at(id)));
    }
    size_t first = out.size();
    for (const Route& r : t.matched) out.push_back(&r);
    auto num = [v4](const Ipaddr& a) {
        return v4 ? U128(rt::Fam<uint32_t>::num(a)) : rt::Fam<U128>::num(a);
    };
    std::stable_sort(out.begin() + long(first), out.end(), [&](const Route* a, const Route* b) {
        U128 am = num(a->mask), bm = num(b->mask);
        if (am != bm) return am < bm;
        return num(a->smask) < num(b->smask);
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

namespace {

// LSD radix sort of keys on their bits from lo up, 13 bits a pass (a pass whose digit every
// key shares is skipped).
void radix_sort(std::vector<uint64_t>& keys, int lo) {
    constexpr int kBits = 13;
    constexpr size_t kBuckets = size_t(1) << kBits;
    std::vector<uint64_t> tmp(keys.size());
    std::vector<uint32_t> at(kBuckets);
    for (int shift = lo; shift < 64; shift += kBits) {
        std::fill(at.begin(), at.end(), 0);
        for (uint64_t k : keys) at[(k >> shift) & (kBuckets - 1)]++;
        if (std::find(at.begin(), at.end(), keys.size()) != at.end()) continue;
        uint32_t sum = 0;
        for (uint32_t& c : at) sum += std::exchange(c, sum);
        for (uint64_t k : keys) tmp[at[(k >> shift) & (kBuckets - 1)]++] = k;
        keys.swap(tmp);
    }
}

// The v4 text order: by destination, then mask, then source (source_before). Each route
// becomes one 64-bit key, destination | rank of its mask among the masks in use | id, sorted
// by radix; only routes sharing destination and mask (a source-specific chain) need the
// comparison of their records. Tables too odd for the key (over 64 distinct masks, or ids
// of more than 26 bits) sort on (destination, mask, id) triples instead.
void order_v4(const RouteTable<uint32_t>& t, std::vector<uint32_t>& out) {
    constexpr int kIdBits = 26;
    constexpr uint64_t kIdMask = (uint64_t(1) << kIdBits) - 1;
    std::vector<uint32_t> masks;  // every mask in use, ascending
    for (int len = 0; len <= 32; len++) masks.push_back(rt::prefix<uint32_t>(len));
    for (uint32_t id : t.odd()) masks.push_back(t.at(id).mask);
    std::sort(masks.begin(), masks.end());
    masks.erase(std::unique(masks.begin(), masks.end()), masks.end());
    auto by_source = [&t](uint32_t x, uint32_t y) { return source_before(t.at(x), t.at(y)); };
    if (masks.size() > 64 || t.end() > kIdMask) {
        struct Key {
            uint64_t a;   // dst << 32 | mask
            uint32_t id;  // the record
        };
        std::vector<Key> keys;
        for (uint32_t id = 1; id < t.end(); id++)
            if (t.live(id)) keys.push_back({uint64_t(t.at(id).dst) << 32 | t.at(id).mask, id});
        std::sort(keys.begin(), keys.end(), [&](const Key& x, const Key& y) {
            return x.a != y.a ? x.a < y.a : by_source(x.id, y.id);
        });
        for (const Key& k : keys) out.push_back(k.id);
        return;
    }
    std::array<uint64_t, 33> len_rank;
    for (int len = 0; len <= 32; len++)
        len_rank[size_t(len)] = uint64_t(std::lower_bound(masks.begin(), masks.end(),
                                                          rt::prefix<uint32_t>(len)) -
                                         masks.begin());
    std::vector<uint64_t> keys;
    keys.reserve(t.size());
    for (uint32_t id = 1; id < t.end(); id++) {
        const auto& r = t.at(id);
        if (r.dlen == rt::kFree) continue;
        uint64_t rank = r.dlen >= 0 ? len_rank[size_t(r.dlen)]
                                    : uint64_t(std::lower_bound(masks.begin(), masks.end(),
                                                                r.mask) - masks.begin());
        keys.push_back(uint64_t(r.dst) << 32 | rank << kIdBits | id);
    }
    radix_sort(keys, kIdBits);
    size_t first = out.size();
    for (uint64_t k : keys) out.push_back(uint32_t(k & kIdMask));
    for (size_t i = 0, j; i < keys.size(); i = j) {  // chains: equal keys but for the id
        for (j = i + 1; j < keys.size() && keys[j] >> kIdBits == keys[i] >> kIdBits; j++) {
        }
        if (j - i > 1)
            std::sort(out.begin() + long(first + i), out.begin() + long(first + j), by_source);
    }
}

}  // namespace

// The text order: v4 first (order_v4), then v6 sorted on the pair of 128-bit numbers and
// then by source.
void Rib::build_order() const {
    Tables& t = *t_;
    if (t.order_gen == gen_) return;
    t.order.clear();
    t.order.reserve(size());
    order_v4(t.v4, t.order);
    t.order_v4 = t.order.size();
    {
        std::vector<uint32_t> ids;
        for (uint32_t id = 1; id < t.v6.end(); id++)
            if (t.v6.live(id)) ids.push_back(id);
        std::sort(ids.begin(), ids.end(), [&t](uint32_t x, uint32_t y) {
            const auto &a = t.v6.at(x), &b = t.v6.at(y);
            if (a.dst != b.dst) return a.dst < b.dst;
            if (a.mask != b.mask) return a.mask < b.mask;
            return source_before(a, b);
        });
        t.order.insert(t.order.end(), ids.begin(), ids.end());
    }
    t.order_gen = gen_;
    t.cur_line = t.cur_off = 0;
}

namespace {

// The i-th line of the text order. The records are visited in an order unrelated to where
// they lie: fetch the one needed a few lines on while this one is printed.
template <class Tables>
void order_line(const Rib& rib, const Tables& t, size_t i, std::string& out) {
    constexpr size_t kAhead = 16;
    if (i + kAhead < t.order_v4) __builtin_prefetch(&t.v4.at(t.order[i + kAhead]));
    uint32_t id = t.order[i];
    if (i < t.order_v4) {
        const auto& e = t.v4.at(id);
        if (!line4(out, e)) rib.line(out, rt::to_route(e));
    } else {
        rib.line(out, rt::to_route(t.v6.at(id)));
    }
}

}  // namespace

void Rib::text(std::string& out) const {
    build_order();
    for (size_t i = 0; i < t_->order.size(); i++) order_line(*this, *t_, i, out);
}

size_t Rib::read(std::string& out, size_t offset, size_t max) const {
    build_order();
    Tables& t = *t_;
    if (offset < t.cur_off) t.cur_line = t.cur_off = 0;
    size_t start = out.size();
    std::string l;
    while (t.cur_line < t.order.size() && out.size() - start < max) {
        l.clear();
        order_line(*this, t, t.cur_line, l);
        size_t end = t.cur_off + l.size();
        if (end > offset) {  // this line holds bytes at or after offset
            size_t from = offset > t.cur_off ? offset - t.cur_off : 0;
            size_t want = std::min(l.size() - from, max - (out.size() - start));
            out.append(l, from, want);
            offset = t.cur_off + from + want;
            if (from + want < l.size()) break;  // the next read starts inside this line
        }
        t.cur_off = end;
        t.cur_line++;
    }
    size_t n = out.size() - start;
    if (n == 0 && t.cur_line == t.order.size()) t.drop_order();  // the reader is done
    return n;
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
