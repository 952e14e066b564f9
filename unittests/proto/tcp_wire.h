// Two TCP shards joined back to back by an in-memory wire the test controls: loss,
// duplication, reordering, corruption and delay, all in virtual time. Every segment put on
// the wire is parsed back (tcp_parse), so what the tests see is what a peer would see.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "proto/tcp.h"
#include "proto/wire.h"

namespace devip::proto::test {

struct WireSeg {                  // one segment as it crossed the wire
    int from;                     // 0 = side A, 1 = side B
    uint64_t at;                  // when it was sent
    TcpSegIn s;                   // parsed (data points into bytes)
    std::vector<uint8_t> bytes;   // TCP header + payload
    bool dropped = false;
};

struct Wire {
    static constexpr uint8_t kKey[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    Ipaddr addr[2] = {Ipaddr::v4(198, 18, 0, 1), Ipaddr::v4(198, 18, 0, 2)};
    uint64_t now = 1000000;       // virtual time (declared before the shards it starts)
    TcpShard a, b;
    uint32_t delay_us = 1000;     // one-way
    double loss = 0, dup = 0, reorder = 0, corrupt = 0;
    std::mt19937_64 rng{42};
    // a filter may drop (return false) or edit a segment before it is delivered
    std::function<bool(WireSeg&)> filter;
    std::vector<WireSeg> log;     // everything sent, in order
    bool keep_log = true;
    struct Pending { uint64_t at; int to; std::vector<uint8_t> bytes; };
    std::vector<Pending> q;
    std::vector<TcpEv> evs[2];    // events seen so far per side
    uint64_t delivered = 0;

    explicit Wire(TcpParams pa = {}, TcpParams pb = {}) : a(pa, kKey, now), b(pb, mkkey(), now) {}
    static const uint8_t* mkkey() {
        static const uint8_t k[16] = {9, 9, 9, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
        return k;
    }
    TcpShard& sh(int i) { return i ? b : a; }
    TcpTuple tuple(int from, uint16_t lport, uint16_t rport) const {
        return TcpTuple{addr[from], addr[1 - from], lport, rport};
    }
    double u() { return std::uniform_real_distribution<double>(0, 1)(rng); }

    // moves what shard i sent onto the wire
    void drain(int i) {
        TcpShard& s = sh(i);
        for (auto& t : s.tx) {
            std::vector<uint8_t> bytes(t.hdr, t.hdr + t.hlen);
            bytes.insert(bytes.end(), t.p1, t.p1 + t.n1);
            if (t.n2) bytes.insert(bytes.end(), t.p2, t.p2 + t.n2);
            EXPECT_EQ(t.t.laddr, addr[i]);
            EXPECT_TRUE(t.df);
            if (keep_log) {
                WireSeg w{i, now, {}, bytes};
                TcpStats st{};
                EXPECT_TRUE(tcp_parse(st, addr[i], addr[1 - i], w.bytes.data(),
                                      uint32_t(w.bytes.size()), w.s));
                log.push_back(std::move(w));
            }
            if (u() < loss) continue;
            uint64_t at = now + delay_us;
            if (u() < reorder) at += 3 * delay_us;
            if (u() < corrupt && bytes.size() > 20) bytes[20 + rng() % (bytes.size() - 20)] ^= 0x5a;
            q.push_back({at, 1 - i, bytes});
            if (u() < dup) q.push_back({at + delay_us / 2, 1 - i, bytes});
        }
        s.tx.clear();
        for (auto& e : s.ev) evs[i].push_back(e);
        s.ev.clear();
    }
    void drain() { drain(0), drain(1); }

    // delivers everything due at now
    void deliver_due() {
        for (;;) {
            size_t best = q.size();
            for (size_t k = 0; k < q.size(); k++)
                if (q[k].at <= now && (best == q.size() || q[k].at < q[best].at)) best = k;
            if (best == q.size()) return;
            Pending p = std::move(q[best]);
            q.erase(q.begin() + long(best));
            int to = p.to;
            TcpSegIn s;
            if (filter) {
                WireSeg w{1 - to, now, {}, p.bytes};
                TcpStats st{};
                uint32_t n = uint32_t(w.bytes.size());
                if (tcp_parse(st, addr[1 - to], addr[to], w.bytes.data(), n, w.s) && !filter(w))
                    continue;
                p.bytes = w.bytes;
            }
            if (tcp_parse(sh(to).st, addr[1 - to], addr[to], p.bytes.data(),
                          uint32_t(p.bytes.size()), s)) {
                tcp_input(sh(to), s, now);
                delivered++;
            }
            drain();
        }
    }

    // advances virtual time by dt, delivering and running timers in order
    void run(uint64_t dt, const std::function<void()>& app = {}) {
        uint64_t end = now + dt;
        while (now < end) {
            uint64_t next = end;
            for (auto& p : q) next = std::min(next, std::max(p.at, now));
            uint64_t tick = (now / a.prm.tick_us + 1) * a.prm.tick_us;
            next = std::min(next, tick);
            now = std::max(next, now);
            deliver_due();
            tcp_timers(a, now);
            tcp_timers(b, now);
            drain();
            if (app) app(), drain();
            if (now == end) break;
        }
    }
    // runs until pred is true or dt passes; returns pred()
    bool run_until(const std::function<bool()>& pred, uint64_t dt,
                   const std::function<void()>& app = {}) {
        uint64_t end = now + dt;
        while (now < end) {
            if (pred()) return true;
            run(std::min<uint64_t>(a.prm.tick_us, end - now), app);
        }
        return pred();
    }
    bool has_ev(int side, TcpEvKind k, uint32_t conn = kTcpNoConn) const {
        for (auto& e : evs[side])
            if (e.kind == k && (conn == kTcpNoConn || e.conn == conn)) return true;
        return false;
    }
    const TcpEv* find_ev(int side, TcpEvKind k) const {
        for (auto& e : evs[side])
            if (e.kind == k) return &e;
        return nullptr;
    }
    // Connects A (port 40000) to a listener on B (port 80); returns {a id, b id}.
    std::pair<uint32_t, uint32_t> connect(uint16_t aport = 40000, uint16_t bport = 80,
                                          bool listen = true) {
        if (listen) {
            auto l = tcp_listen(b, IPnoaddr, bport);
            EXPECT_TRUE(l);
        }
        auto c = tcp_open(a, tuple(0, aport, bport), 1460, now);
        EXPECT_TRUE(c);
        drain();
        uint32_t bid = kTcpNoConn;
        run_until([&] {
            for (auto& e : evs[1])
                if (e.kind == TcpEvKind::CallArrived) bid = e.conn;
            return bid != kTcpNoConn && has_ev(0, TcpEvKind::Connected);
        }, 5000000);
        EXPECT_NE(bid, kTcpNoConn);
        return {*c, bid};
    }
};

// Pumps data from one connection to another and collects what arrives.
struct Pump {
    Wire& w;
    int from;
    uint32_t src, dst;
    std::vector<uint8_t> data;    // to send
    size_t sent = 0;
    std::vector<uint8_t> got;
    bool shut_after = false, shut = false;
    bool reading = true;
    Pump(Wire& wire, int f, uint32_t s, uint32_t d, size_t n, uint64_t seed = 7)
        : w(wire), from(f), src(s), dst(d), data(n) {
        std::mt19937_64 r(seed);
        for (auto& x : data) x = uint8_t(r());
    }
    void step() {
        TcpShard& s = w.sh(from);
        TcpShard& d = w.sh(1 - from);
        while (sent < data.size()) {
            auto n = tcp_send(s, src, std::span(data).subspan(sent), w.now);
            if (!n || !*n) break;
            sent += *n;
        }
        if (sent == data.size() && shut_after && !shut) shut = !tcp_shutdown(s, src, w.now);
        if (!reading) return;
        uint8_t buf[65536];
        for (;;) {
            uint32_t n = tcp_read(d, dst, buf, w.now);
            if (!n) break;
            got.insert(got.end(), buf, buf + n);
            tcp_consumed(d, dst, n, w.now);
        }
    }
    bool done() const { return got.size() == data.size(); }
};

}  // namespace devip::proto::test
