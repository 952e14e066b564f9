// The bodies of the TCP fuzz harnesses, shared by the libFuzzer targets (tcp_input_fuzz.cc,
// tcp_ctl_fuzz.cc) and a unit test that runs them on random inputs in the ordinary build.
// Input: a program of one-byte opcodes and their operands driving one shard as a peer and
// as the application would. After every step the engine's invariants are checked; at the
// end every connection is closed and time runs on: nothing may stay allocated.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <string>

#include "proto/cmd.h"
#include "proto/tcp.h"
#include "proto/wire.h"

namespace devip::proto::fuzz {

inline void tcp_check(bool ok) {
    if (!ok) abort();
}

struct TcpFuzzIn {
    const uint8_t* p;
    size_t n;
    uint8_t u8() { return n ? (n--, *p++) : 0; }
    uint16_t u16() { return uint16_t(u8() << 8 | u8()); }
    uint32_t u32() { return uint32_t(u16()) << 16 | u16(); }
};

inline void tcp_invariants(const TcpShard& s) {
    uint32_t used = 0;
    for (const auto& c : s.conns) {
        if (!c.in_use) continue;
        used++;
        tcp_check(c.sq.len <= c.sndbuf || c.sq.len <= c.sq.cap);
        tcp_check(!c.sq.cap || c.sq.len <= c.sq.cap);
        tcp_check(!c.rq.cap || c.rq.len <= c.rq.cap);
        tcp_check(c.noos <= kTcpOooMax && c.nsack <= kTcpOooMax);
        if (c.state == TcpState::Closed) tcp_check(!c.hashed && !c.sq.p && !c.rq.p);
        if (c.state >= TcpState::Established && c.state != TcpState::Time_wait) {
            tcp_check(int32_t(c.snd_nxt - c.snd_una) >= 0);
            tcp_check(int32_t(c.snd_max - c.snd_nxt) >= 0);
        }
    }
    tcp_check(used == s.nconns);
}

// ids the program refers to by a small index
struct TcpFuzzWorld {
    static constexpr uint8_t kKey[16] = {7, 7, 7, 7, 7, 7, 7, 7, 3, 3, 3, 3, 3, 3, 3, 3};
    uint64_t now = 1000000;       // before the shard it starts
    TcpParams prm;
    TcpShard s;
    uint32_t ids[8];
    Ipaddr us = Ipaddr::v4(198, 18, 0, 1), peer = Ipaddr::v4(198, 18, 0, 2);
    uint8_t buf[4096] = {};
    static TcpParams small() {
        TcpParams p;
        p.max_conns = 64, p.limbo_max = 8, p.mem_cap = 1 << 20, p.limbo_resend_max = 4;
        return p;
    }
    TcpFuzzWorld() : prm(small()), s(prm, kKey, now) {
        for (auto& i : ids) i = kTcpNoConn;
    }
    void drain() {
        for (auto& t : s.tx) {  // every header we build must parse back
            uint8_t seg[60 + 2 * 4096];
            if (t.n1 + t.n2 > sizeof seg - t.hlen) continue;
            std::memcpy(seg, t.hdr, t.hlen);
            if (t.n1) std::memcpy(seg + t.hlen, t.p1, t.n1);
            if (t.n2) std::memcpy(seg + t.hlen + t.n1, t.p2, t.n2);
            TcpStats st{};
            TcpSegIn g;
            tcp_check(tcp_parse(st, t.t.laddr, t.t.raddr, seg, t.hlen + t.n1 + t.n2, g));
        }
        s.tx.clear();
        for (auto& e : s.ev)
            if (e.kind == TcpEvKind::CallArrived)
                for (auto& i : ids)
                    if (i == kTcpNoConn) {
                        i = e.conn;
                        break;
                    }
        s.ev.clear();
        tcp_invariants(s);
    }
    TcpConn* conn(uint8_t k) {
        uint32_t id = ids[k % 8];
        if (id == kTcpNoConn || !s.conns[id].in_use) return nullptr;
        return &s.conns[id];
    }
    void forget_closed() {
        for (auto& i : ids)
            if (i != kTcpNoConn && (!s.conns[i].in_use)) i = kTcpNoConn;
    }
    void segment(TcpFuzzIn& in) {
        TcpSegIn g;
        uint8_t k = in.u8();
        TcpConn* c = conn(k);
        g.t = c ? c->t : TcpTuple{us, peer, uint16_t(80 + (k & 1)), uint16_t(1000 + (k >> 4))};
        if (g.t.raddr.is_noaddr()) g.t.raddr = peer;
        uint8_t mode = in.u8();
        uint32_t dseq = in.u16(), dack = in.u16();
        g.seq = c && (mode & 1) ? c->rcv_nxt + dseq - 0x100 : in.u32();
        g.ack = c && (mode & 2) ? c->snd_una + dack - 0x100 : in.u32();
        g.flags = in.u8() & 0x3f;
        g.wnd = in.u16();
        if (mode & 4) g.o.has_mss = true, g.o.mss = in.u16();
        if (mode & 8) g.o.has_ws = true, g.o.ws = in.u8() % 15;
        if (mode & 16) g.o.sack_ok = true;
        if (mode & 32) g.o.has_ts = true, g.o.tsval = in.u32(), g.o.tsecr = in.u32();
        if (mode & 64) {
            g.o.nsack = in.u8() % (kTcpMaxSack + 1);
            for (int b = 0; b < g.o.nsack; b++) {
                uint32_t base = c ? c->snd_una : 0;
                g.o.sack[b][0] = base + in.u16(), g.o.sack[b][1] = base + in.u16();
            }
        }
        g.len = in.u16() % 3000;
        if (g.len > sizeof buf) g.len = sizeof buf;
        g.data = buf;
        tcp_input(s, g, now);
    }
    void step(TcpFuzzIn& in) {
        uint8_t op = in.u8();
        switch (op % 12) {
        case 0: case 1: case 2: segment(in); break;
        case 3: now += uint64_t(in.u16()) * (op & 0x80 ? 10000 : 100); tcp_timers(s, now); break;
        case 4: {
            TcpConn* c = conn(in.u8());
            uint16_t n = in.u16() % 4096;
            if (c) (void)tcp_send(s, c->id, std::span<const uint8_t>(buf, n), now);
            break;
        }
        case 5: {
            TcpConn* c = conn(in.u8());
            if (!c) break;
            uint32_t n = tcp_read(s, c->id, std::span<uint8_t>(buf, in.u16() % 4096), now);
            tcp_consumed(s, c->id, n, now);
            break;
        }
        case 6: { TcpConn* c = conn(in.u8()); if (c) tcp_close(s, c->id, now); break; }
        case 7: {
            uint8_t k = in.u8();
            auto r = tcp_open(s, TcpTuple{us, peer, uint16_t(2000 + (k & 7)), 80}, in.u16(), now);
            if (r) ids[k % 8] = *r;
            break;
        }
        case 8: {
            uint8_t k = in.u8();
            auto r = tcp_listen(s, k & 1 ? us : IPnoaddr, uint16_t(80 + (k >> 7)), k & 3);
            if (r) ids[k % 8] = *r;
            break;
        }
        case 9: {
            TcpConn* c = conn(in.u8());
            uint32_t q = in.u32();
            bool frag = in.u8() & 1;
            uint32_t mtu = in.u16();
            if (c) tcp_advise(s, c->t, c->snd_una + (q & 0xffff), frag, mtu, "no route", now);
            break;
        }
        case 10: {
            TcpConn* c = conn(in.u8());
            static const char* verbs[] = {"close", "hangup", "shutdown", "keepalive 1000",
                                          "checksum 0", "checksum 1", "nagle on", "cc cubic",
                                          "mss 600", "backlog 2"};
            if (c) (void)tcp_ctl(s, c->id, parsecmd(verbs[in.u8() % 10]), now);
            break;
        }
        case 11: {  // raw bytes through the parser
            uint16_t n = in.u16() % 80;
            uint8_t raw[80];
            for (uint16_t i = 0; i < n; i++) raw[i] = in.u8();
            TcpSegIn g;
            if (tcp_parse(s.st, peer, us, raw, n, g, false)) tcp_input(s, g, now);
            break;
        }
        }
        drain();
        forget_closed();
    }
    // everything closed and time run on: nothing stays allocated
    void finish() {
        for (auto& c : s.conns)
            if (c.in_use) tcp_close(s, c.id, now);
        drain();
        for (int i = 0; i < 40; i++) {
            now += 60000000;
            tcp_timers(s, now);
            drain();
            for (auto& c : s.conns)  // ids closed by the peer are freed by their last close
                if (c.in_use && c.state == TcpState::Closed) tcp_close(s, c.id, now);
        }
        tcp_check(s.nconns == 0);
        tcp_check(s.pool.in_use() == 0);
        tcp_check(s.nlimbo == 0);
    }
};

inline void tcp_input_fuzz_one(const uint8_t* data, size_t size) {
    TcpFuzzWorld w;
    TcpFuzzIn in{data, size};
    while (in.n) w.step(in);
    w.finish();
}

// tcp ctl text on a connection in each interesting state: nothing may crash, errors are
// one of the known strings.
inline void tcp_ctl_fuzz_one(const uint8_t* data, size_t size) {
    TcpFuzzWorld w;
    std::string text(reinterpret_cast<const char*>(data), size);
    auto l = tcp_listen(w.s, IPnoaddr, 80);
    auto c = tcp_open(w.s, TcpTuple{w.us, w.peer, 2000, 80}, 1460, w.now);
    w.drain();
    for (uint32_t id : {*l, *c}) {
        Err e = tcp_ctl(w.s, id, parsecmd(text), w.now);
        if (e) {
            static const char* known[] = {
                "unknown control request", "wrong #args in control message",
                "bad arg in system call", "short control request", "i/o on hungup channel",
                "connection must be in Establised state", "unknown value for tcpporthogdefense"};
            bool ok = false;
            for (const char* k : known) ok |= std::string_view(e.text) == k;
            tcp_check(ok);
        }
        w.drain();
    }
    w.forget_closed();
    w.finish();
}

}  // namespace devip::proto::fuzz
