// IPv4 reassembly (ip3.md §4.4.1).
#include "proto/reass.h"

#include "proto/wire.h"

namespace devip::proto {

std::optional<std::string> Reass4::input(std::span<const uint8_t> pkt, uint64_t now,
                                         uint64_t* st) {
    const uint8_t* b = pkt.data();
    size_t hlen = (b[0] & 0xf) * 4u;
    uint32_t src = get32(b + 12), dst = get32(b + 16);
    uint16_t id = get16(b + 4), frag = get16(b + 6);
    auto same = [&](const Queue& x) { return x.src == src && x.dst == dst && x.id == id; };

    for (auto it = q_.begin(); it != q_.end();) {  // expiry is checked lazily
        if (now - it->born >= kLifeMs) {
            st[ReasmTimeout]++;
            it = q_.erase(it);
        } else {
            ++it;
        }
    }
    if (!(frag & 0x3fff)) {  // not a fragment: it cancels a queue with its key
        for (auto it = q_.begin(); it != q_.end(); ++it)
            if (same(*it)) {
                st[ReasmFails]++;
                q_.erase(it);
                break;
            }
        return std::string(pkt.begin(), pkt.end());
    }
    size_t off = size_t(frag & 0x1fff) * 8;
    bool more = frag & 0x2000;
    std::string data(reinterpret_cast<const char*>(b + hlen), pkt.size() - hlen);
    if (off + data.size() >= 65536 - hlen) {  // would reassemble to 64 KB or more
        for (auto it = q_.begin(); it != q_.end(); ++it)
            if (same(*it)) {
                q_.erase(it);
                break;
            }
        st[ReasmFails]++;
        return std::nullopt;
    }
    Queue* q = nullptr;
    for (auto& x : q_)
        if (same(x)) q = &x;
    if (!q) {
        if (q_.size() >= kQueues) {
            q_.pop_front();
            st[ReasmFails]++;
        }
        q_.push_back(Queue{src, dst, id, now, {}, {}, 0});
        q = &q_.back();
        st[ReasmReqds]++;
    }
    if (off == 0) q->hdr.assign(reinterpret_cast<const char*>(b), hlen);
    if (!more) q->end = off + data.size();

    // newer data wins: trim the piece before, drop or front-trim the pieces after
    size_t lo = off, hi = off + data.size();
    auto it = q->part.lower_bound(lo);
    if (it != q->part.begin()) {
        auto prev = std::prev(it);
        size_t pend = prev->first + prev->second.size();
        if (prev->first <= lo && pend >= hi && !data.empty() && prev->first < lo) {
            // wholly inside an earlier piece: 9front discards the newcomer
            return std::nullopt;
        }
        if (pend > lo) prev->second.resize(lo - prev->first);
    }
    while (it != q->part.end() && it->first < hi) {
        size_t pend = it->first + it->second.size();
        if (pend <= hi) {
            it = q->part.erase(it);
        } else {
            std::string rest = it->second.substr(hi - it->first);
            q->part.erase(it);
            q->part.emplace(hi, std::move(rest));
            break;
        }
    }
    if (!data.empty()) q->part[lo] = std::move(data);

    // complete: the first and last fragments came and the pieces leave no hole
    if (q->hdr.empty() || q->end == 0) return std::nullopt;
    size_t at = 0;
    for (auto& [o, d] : q->part) {
        if (o != at) return std::nullopt;
        at += d.size();
    }
    if (at != q->end) return std::nullopt;
    std::string whole = q->hdr;
    for (auto& [o, d] : q->part) whole += d;
    auto* h = reinterpret_cast<uint8_t*>(whole.data());
    put16(h + 2, uint16_t(whole.size()));
    put16(h + 6, 0);
    put16(h + 10, 0);
    put16(h + 10, csum(h, q->hdr.size()));
    for (auto x = q_.begin(); x != q_.end(); ++x)
        if (&*x == q) {
            q_.erase(x);
            break;
        }
    st[ReasmOKs]++;
    return whole;
}

}  // namespace devip::proto
