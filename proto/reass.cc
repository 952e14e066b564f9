// IPv4 and IPv6 reassembly (ip3.md §4.4.1; 9front ip.c ip4reassemble, ipv6.c ip6reassemble).
#include "proto/reass.h"

#include "proto/wire.h"

namespace devip::proto {

namespace {

constexpr size_t kIpMax = 64 * 1024;  // IP_MAX: a datagram of this size or more fails
constexpr size_t kIp6Hdr = 40, kIp6FragHdr = 8, kIp6Plen = 4;

// Drops the queues older than life (lazily, when a fragment arrives), counting them.
template <class Q>
void expire(std::deque<Q>& q, uint64_t now, uint64_t life, uint64_t* st) {
    for (auto it = q.begin(); it != q.end();) {
        if (now - it->born >= life) {
            st[ReasmTimeout]++;
            it = q.erase(it);
        } else {
            ++it;
        }
    }
}

// Removes the queue matching same; true when there was one.
template <class Q, class Same>
bool cancel(std::deque<Q>& q, Same same) {
    for (auto it = q.begin(); it != q.end(); ++it)
        if (same(*it)) {
            q.erase(it);
            return true;
        }
    return false;
}

// The queue matching same, or a new one at the back (the oldest goes when all are in use).
template <class Q, class Same>
Q& find_or_make(std::deque<Q>& q, size_t max, Same same, Q fresh, uint64_t* st) {
    for (auto& x : q)
        if (same(x)) return x;
    if (q.size() >= max) {
        q.pop_front();
        st[ReasmFails]++;
    }
    q.push_back(std::move(fresh));
    st[ReasmReqds]++;
    return q.back();
}

template <class Q>
void drop(std::deque<Q>& q, const Q* which) {
    for (auto x = q.begin(); x != q.end(); ++x)
        if (&*x == which) {
            q.erase(x);
            return;
        }
}

}  // namespace

// ---- the pieces of one datagram -----------------------------------------------------------

bool FragPieces::add(size_t off, std::string data, bool more) {
    size_t lo = off, hi = off + data.size();
    auto it = part_.lower_bound(lo);
    if (it != part_.begin()) {  // the piece before: trimmed, unless it holds all of ours
        auto prev = std::prev(it);
        size_t pend = prev->first + prev->second.size();
        if (pend > lo) {
            if (pend >= hi) return false;
            prev->second.resize(lo - prev->first);
        }
    }
    while (it != part_.end() && it->first < hi) {  // the pieces after: dropped or front-trimmed
        size_t pend = it->first + it->second.size();
        if (pend <= hi) {
            it = part_.erase(it);
        } else {
            std::string rest = it->second.substr(hi - it->first);
            part_.erase(it);
            part_.emplace(hi, std::move(rest));
            break;
        }
    }
    if (!data.empty()) part_[lo] = std::move(data);
    if (!more) {
        end_ = hi;
        last_ = true;
    }
    return true;
}

bool FragPieces::complete() const {
    if (!last_) return false;
    size_t at = 0;
    for (auto& [o, d] : part_) {
        if (o != at) return false;
        at += d.size();
    }
    return at == end_;
}

std::string FragPieces::payload() const {
    std::string s;
    s.reserve(end_);
    for (auto& [o, d] : part_) s += d;
    return s;
}

// ---- IPv4 -----------------------------------------------------------------------------------

std::optional<std::string> Reass4::input(std::span<const uint8_t> pkt, uint64_t now,
                                         uint64_t* st) {
    const uint8_t* b = pkt.data();
    size_t hlen = (b[0] & 0xf) * 4u;
    uint32_t src = get32(b + 12), dst = get32(b + 16);
    uint16_t id = get16(b + 4), frag = get16(b + 6);
    auto same = [&](const Queue& x) { return x.src == src && x.dst == dst && x.id == id; };

    expire(q_, now, kLifeMs, st);
    if (!(frag & 0x3fff)) {  // not a fragment: it cancels a queue with its key
        if (cancel(q_, same)) st[ReasmFails]++;
        return std::string(pkt.begin(), pkt.end());
    }
    size_t off = size_t(frag & 0x1fff) * 8;
    bool more = frag & 0x2000;
    std::string data(reinterpret_cast<const char*>(b + hlen), pkt.size() - hlen);
    if (off + data.size() >= kIpMax - hlen) {  // would reassemble to 64 KB or more
        cancel(q_, same);
        st[ReasmFails]++;
        return std::nullopt;
    }
    Queue& q = find_or_make(q_, kQueues, same, Queue{src, dst, id, now, {}, {}}, st);
    if (!q.pieces.add(off, std::move(data), more)) return std::nullopt;
    if (off == 0) q.hdr.assign(reinterpret_cast<const char*>(b), hlen);
    if (q.hdr.empty() || !q.pieces.complete()) return std::nullopt;

    std::string whole = q.hdr + q.pieces.payload();
    auto* h = reinterpret_cast<uint8_t*>(whole.data());
    put16(h + 2, uint16_t(whole.size()));
    put16(h + 6, 0);
    put16(h + 10, 0);
    put16(h + 10, csum(h, q.hdr.size()));
    drop(q_, &q);
    st[ReasmOKs]++;
    return whole;
}

// ---- IPv6 -----------------------------------------------------------------------------------

std::optional<std::string> Reass6::input(std::span<const uint8_t> pkt, size_t uflen,
                                         size_t prev_next, uint64_t now, uint64_t* st) {
    const uint8_t* b = pkt.data();
    const uint8_t* fh = b + uflen;  // next header, reserved, offset|M, id
    Ipaddr src = Ipaddr::from_bytes(b + 8), dst = Ipaddr::from_bytes(b + 24);
    uint32_t id = get32(fh + 4);
    uint16_t offm = get16(fh + 2);
    auto same = [&](const Queue& x) { return x.id == id && x.src == src && x.dst == dst; };

    expire(q_, now, kLifeMs, st);
    if ((offm & ~6) == 0) {  // an atomic fragment: delivered without its fragment header, and
        // it cancels a queue with its key
        if (cancel(q_, same)) st[ReasmFails]++;
        std::string p(pkt.begin(), pkt.end());
        p[prev_next] = char(fh[0]);
        p.erase(uflen, kIp6FragHdr);
        put16(reinterpret_cast<uint8_t*>(p.data()) + kIp6Plen, uint16_t(p.size() - kIp6Hdr));
        return p;
    }
    size_t off = offm & ~7u;
    bool more = offm & 1;
    std::string data(reinterpret_cast<const char*>(fh + kIp6FragHdr),
                     pkt.size() - uflen - kIp6FragHdr);
    if (uflen + off + data.size() >= kIpMax) {  // would reassemble to 64 KB or more
        cancel(q_, same);
        st[ReasmFails]++;
        return std::nullopt;
    }
    Queue& q = find_or_make(q_, kQueues, same, Queue{src, dst, id, now, {}, {}}, st);
    if (!q.pieces.add(off, std::move(data), more)) return std::nullopt;
    if (off == 0) {
        q.hdr.assign(reinterpret_cast<const char*>(b), uflen);
        q.hdr[prev_next] = char(fh[0]);
    }
    if (q.hdr.empty() || !q.pieces.complete()) return std::nullopt;

    std::string whole = q.hdr + q.pieces.payload();
    drop(q_, &q);
    if (whole.size() >= kIpMax) {  // a first fragment with a longer unfragmentable part
        st[ReasmFails]++;
        return std::nullopt;
    }
    put16(reinterpret_cast<uint8_t*>(whole.data()) + kIp6Plen, uint16_t(whole.size() - kIp6Hdr));
    st[ReasmOKs]++;
    return whole;
}

}  // namespace devip::proto
