// TCP connection lifecycle (RFC 9293 §3.10), the ctl table (ip3.md §3.4), status and stats
// text (§2.4, §2.10), buffer memory, the 4-tuple table, keyed hashing (SipHash-2-4) and
// RFC 6528 ISNs. Input, output and timers are in tcp_input.cc, tcp_output.cc, tcp_timer.cc.
#include <bit>
#include <cstdlib>

#include "proto/tcp_impl.h"

namespace devip::proto {

using namespace tcpi;

void TcpParams::scale(uint32_t f) {
    if (f <= 1) return;
    auto sc = [f](auto& v) { v = std::max<std::remove_reference_t<decltype(v)>>(v / f, 1000); };
    sc(tick_us), sc(rto_init_us), sc(rto_min_us), sc(rto_max_us), sc(syn_giveup_us);
    sc(data_giveup_us), sc(zwnd_hold_us), sc(time_wait_us), sc(keepalive_us), sc(ka_total_us);
    sc(finwait2_us), sc(delack_us), sc(limbo_rto_us);
}

TcpStats& TcpStats::operator+=(const TcpStats& o) {
    auto* a = reinterpret_cast<uint64_t*>(this);
    auto* b = reinterpret_cast<const uint64_t*>(&o);
    for (size_t i = 0; i < sizeof(TcpStats) / 8; i++) a[i] += b[i];
    return *this;
}

// ---- pool ----------------------------------------------------------------------------------

TcpPool::~TcpPool() {
    for (auto& l : free_)
        for (auto* p : l) std::free(p);
}

bool TcpPool::can_get(uint32_t size) const {
    int sh = std::countr_zero(size);
    return !free_[sh].empty() || in_use_ + size <= cap_;
}

uint32_t TcpPool::could_grow_to(uint32_t have) const {
    uint64_t room = cap_ > in_use_ ? cap_ - in_use_ : 0;
    uint32_t best = have;
    for (int sh = kMaxShift; sh >= kMinShift; sh--) {
        uint32_t b = 1u << sh;
        if (b <= best) break;
        if (b <= room || !free_[sh].empty()) return b;
    }
    return best;
}

bool TcpPool::trim(uint64_t need) {
    for (int sh = kMaxShift; sh >= kMinShift && held_ + need > cap_; sh--)
        while (!free_[sh].empty() && held_ + need > cap_) {
            std::free(free_[sh].back());
            free_[sh].pop_back();
            held_ -= uint64_t(1) << sh;
        }
    return held_ + need <= cap_;
}

uint8_t* TcpPool::get(uint32_t size) {
    int sh = std::countr_zero(size);
    uint8_t* p;
    if (!free_[sh].empty()) {
        p = free_[sh].back();
        free_[sh].pop_back();
    } else {
        if (!trim(size)) return nullptr;
        p = static_cast<uint8_t*>(std::malloc(size));
        if (!p) return nullptr;
        held_ += size;
    }
    in_use_ += size;
    return p;
}

void TcpPool::put(uint8_t* p, uint32_t size) {
    free_[std::countr_zero(size)].push_back(p);
    in_use_ -= size;
    pressure = false;
}

// ---- rings ---------------------------------------------------------------------------------

namespace tcpi {

bool ring_reserve(TcpShard& s, TcpRing& r, uint32_t need, uint32_t limit) {
    if (need <= r.cap) return true;
    uint32_t top = std::bit_ceil(std::max(limit, 1u << TcpPool::kMinShift));
    uint32_t nc = std::bit_ceil(std::max(need, 1u << TcpPool::kMinShift));
    nc = std::min(nc, std::min(top, 1u << TcpPool::kMaxShift));
    if (nc <= r.cap) return false;
    uint8_t* p = s.pool.get(nc);
    if (!p) return false;
    if (r.p) {  // linearise the old ring: offsets from head are kept
        uint32_t first = r.cap - r.head;
        std::memcpy(p, r.p + r.head, first);
        std::memcpy(p + first, r.p, r.head);
        s.pool.put(r.p, r.cap);
    }
    r.p = p, r.cap = nc, r.head = 0;
    return need <= nc;
}

void ring_write(TcpRing& r, uint32_t off, const uint8_t* p, uint32_t n) {
    uint32_t pos = (r.head + off) & (r.cap - 1);
    uint32_t a = std::min(n, r.cap - pos);
    std::memcpy(r.p + pos, p, a);
    std::memcpy(r.p, p + a, n - a);
}

void ring_read(const TcpRing& r, uint32_t off, uint8_t* p, uint32_t n) {
    uint32_t pos = (r.head + off) & (r.cap - 1);
    uint32_t a = std::min(n, r.cap - pos);
    std::memcpy(p, r.p + pos, a);
    std::memcpy(p + a, r.p, n - a);
}

void ring_spans(const TcpRing& r, uint32_t off, uint32_t n, TcpTx& t) {
    if (!n) return;
    uint32_t pos = (r.head + off) & (r.cap - 1);
    t.p1 = r.p + pos;
    t.n1 = std::min(n, r.cap - pos);
    t.n2 = n - t.n1;
    t.p2 = t.n2 ? r.p : nullptr;
}

void ring_drop(TcpRing& r, uint32_t n) {
    if (!r.cap) return;
    r.head = (r.head + n) & (r.cap - 1);
    r.len -= n;
}

void ring_release(TcpShard& s, TcpRing& r) {
    if (r.p) s.pool.put(r.p, r.cap);
    r = TcpRing{};
}

// ---- keyed hashing (SipHash-2-4, our own) and RFC 6528 ISNs --------------------------------

static inline uint64_t rotl(uint64_t x, int b) { return x << b | x >> (64 - b); }

uint64_t siphash(uint64_t k0, uint64_t k1, const uint8_t* p, size_t n) {
    uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
    auto round = [&] {
        v0 += v1, v1 = rotl(v1, 13), v1 ^= v0, v0 = rotl(v0, 32);
        v2 += v3, v3 = rotl(v3, 16), v3 ^= v2;
        v0 += v3, v3 = rotl(v3, 21), v3 ^= v0;
        v2 += v1, v1 = rotl(v1, 17), v1 ^= v2, v2 = rotl(v2, 32);
    };
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t m;
        std::memcpy(&m, p + i, 8);
        v3 ^= m, round(), round(), v0 ^= m;
    }
    uint64_t b = uint64_t(n) << 56;
    for (size_t j = 0; i + j < n; j++) b |= uint64_t(p[i + j]) << (8 * j);
    v3 ^= b, round(), round(), v0 ^= b;
    v2 ^= 0xff;
    round(), round(), round(), round();
    return v0 ^ v1 ^ v2 ^ v3;
}

static void tuple_bytes(const TcpTuple& t, uint8_t b[36]) {
    std::memcpy(b, t.laddr.b.data(), 16);
    std::memcpy(b + 16, t.raddr.b.data(), 16);
    put16(b + 32, t.lport);
    put16(b + 34, t.rport);
}

uint64_t tuple_hash(const TcpShard& s, const TcpTuple& t) {
    uint8_t b[36];
    tuple_bytes(t, b);
    return siphash(s.k0, s.k1, b, sizeof b);
}

uint32_t ts_base(const TcpShard& s, const TcpTuple& t) {
    uint8_t b[36];
    tuple_bytes(t, b);  // per 4-tuple, so TSvals grow across incarnations (RFC 6191)
    return uint32_t(siphash(s.k1, s.k0 ^ 0x7323, b, sizeof b));
}

uint32_t isn(const TcpShard& s, const TcpTuple& t, uint64_t now) {
    uint8_t b[36];
    tuple_bytes(t, b);  // RFC 6528: M (a 4 µs clock) + F(4-tuple, secret)
    return uint32_t(now / 4) + uint32_t(siphash(s.k0 ^ 0x6528, s.k1, b, sizeof b));
}

// ---- slab and table ------------------------------------------------------------------------

uint32_t conn_alloc(TcpShard& s, uint64_t now) {
    if (s.free_ids.empty() && s.conns.size() < s.prm.max_conns) {
        uint32_t first = s.conns.size();
        s.conns.grow();
        for (uint32_t i = std::min(s.conns.size(), s.prm.max_conns); i-- > first;)
            s.free_ids.push_back(i);
    }
    if (s.free_ids.empty()) return kTcpNoConn;
    uint32_t id = s.free_ids.back();
    s.free_ids.pop_back();
    TcpConn& c = s.conns[id];
    c = TcpConn{};
    c.id = id, c.in_use = true, c.created = now;
    c.ttl = s.prm.ttl, c.cc = s.prm.cc, c.nagle = s.prm.nagle;
    c.rto_us = s.prm.rto_init_us, c.srtt_us = s.prm.rto_init_us;
    c.ka_period_us = s.prm.keepalive_us, c.backlog = s.prm.backlog;
    c.sndbuf = c.rcvbuf = s.prm.buf_base;
    s.nconns++;
    return id;
}

static void conn_free(TcpShard& s, TcpConn& c) {
    c.in_use = false;
    s.nconns--;
    s.free_ids.push_back(c.id);
}

void table_insert(TcpShard& s, TcpConn& c) {
    uint32_t mask = uint32_t(s.table.size() - 1);
    for (uint32_t i = uint32_t(tuple_hash(s, c.t)) & mask;; i = (i + 1) & mask)
        if (s.table[i] == kTcpNoConn) {
            s.table[i] = c.id;
            c.hashed = true;
            return;
        }
}

void table_remove(TcpShard& s, TcpConn& c) {
    if (!c.hashed) return;
    c.hashed = false;
    uint32_t mask = uint32_t(s.table.size() - 1);
    uint32_t i = uint32_t(tuple_hash(s, c.t)) & mask;
    while (s.table[i] != c.id) i = (i + 1) & mask;
    // backward-shift deletion keeps every probe chain unbroken
    for (uint32_t j = (i + 1) & mask;; j = (j + 1) & mask) {
        uint32_t id = s.table[j];
        if (id == kTcpNoConn) break;
        uint32_t home = uint32_t(tuple_hash(s, s.conns[id].t)) & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            s.table[i] = id;
            i = j;
        }
    }
    s.table[i] = kTcpNoConn;
}

void push_ev(TcpShard& s, const TcpConn& c, TcpEvKind k, Err e) {
    s.ev.push_back(TcpEv{k, c.id, c.user, c.listener, e, c.state});
}

void set_state(TcpShard& s, TcpConn& c, TcpState st) {
    if (c.state == st) return;
    if (c.state == TcpState::Established) s.st.curr_estab--;
    if (st == TcpState::Established) s.st.curr_estab++;
    c.state = st;
    c.state_at = s.now;
    push_ev(s, c, TcpEvKind::StateChanged);
}

void conn_init_buffers(TcpShard& s, TcpConn& c) {
    c.qscale = c.ws_ok ? std::min(c.snd_ws, s.prm.qscale_max) : 0;
    c.sndbuf = c.rcvbuf = s.prm.buf_base << c.qscale;
}

uint32_t rcv_window(const TcpShard& s, const TcpConn& c) {
    uint32_t used = c.rq.len + c.unconsumed;
    uint32_t w = used >= c.rcvbuf ? 0 : c.rcvbuf - used;
    // at the memory cap the window is what the ring can still grow to hold
    uint32_t want = std::bit_ceil(std::max(c.rcvbuf, 1u << TcpPool::kMinShift));
    if (c.rq.cap < want) {
        uint32_t most = s.pool.could_grow_to(c.rq.cap);
        if (most < want) w = std::min(w, most > c.rq.len ? most - c.rq.len : 0);
    }
    return w;
}

void teardown(TcpShard& s, TcpConn& c, Err e) {
    if (c.state == TcpState::Closed) return;
    bool connecting = c.state == TcpState::Syn_sent;
    if (c.state == TcpState::Listen) {
        limbo_clear_listener(s, c.id);
        std::erase(s.listeners, c.id);
        for (auto& o : s.conns) {  // calls not yet accepted are closed (§4.6.2)
            if (!o.in_use || o.listener != c.id) continue;
            o.taken = true;        // nothing to count against any more
            if (!o.accepted) {
                o.accepted = true;
                tcp_close(s, o.id, s.now);
            }
        }
    }
    if (c.listener != kTcpNoConn && !c.taken) {
        c.taken = true;
        TcpConn& l = s.conns[c.listener];
        if (l.in_use && l.state == TcpState::Listen && l.pending) l.pending--;
    }
    c.err = e;
    unarm(s, c);
    table_remove(s, c);
    ring_release(s, c.sq);
    ring_release(s, c.rq);
    c.noos = c.nsack = 0;
    set_state(s, c, TcpState::Closed);
    if (connecting) push_ev(s, c, TcpEvKind::ConnectFailed, e);
    push_ev(s, c, TcpEvKind::Closed, e);
    if (c.closed_by_user) conn_free(s, c);
}

uint32_t conn_limbo_count(const TcpShard& s) { return s.nlimbo; }

}  // namespace tcpi

TcpShard::TcpShard(const TcpParams& p, const uint8_t key[16], uint64_t now_us)
    : prm(p), pool(p.mem_cap) {
    std::memcpy(&k0, key, 8);
    std::memcpy(&k1, key + 8, 8);
    free_ids.reserve(prm.max_conns);
    table.assign(std::bit_ceil(uint64_t(prm.max_conns) * 2), kTcpNoConn);
    limbo.resize(prm.limbo_max);
    for (uint32_t i = prm.limbo_max; i-- > 0;) limbo_free.push_back(i);
    limbo_head.assign(std::bit_ceil(std::max(prm.limbo_max, 16u)), kTcpNoConn);
    wheel.assign(1024, kTcpNoConn);
    wheel_tick = now_us / prm.tick_us;
    now = now_us;
    tx.reserve(256);
    ev.reserve(256);
    st.max_conn = prm.max_conns;
}

TcpShard::~TcpShard() {
    for (auto& c : conns) {
        if (c.sq.p) pool.put(c.sq.p, c.sq.cap);
        if (c.rq.p) pool.put(c.rq.p, c.rq.cap);
    }
}

uint32_t tcp_lookup(const TcpShard& s, const TcpTuple& t) {
    uint32_t mask = uint32_t(s.table.size() - 1);
    for (uint32_t i = uint32_t(tuple_hash(s, t)) & mask;; i = (i + 1) & mask) {
        uint32_t id = s.table[i];
        if (id == kTcpNoConn || s.conns[id].t == t) return id;
    }
}

uint16_t tcpi::clamp_mss(uint16_t route, bool v4) {
    if (!route) return v4 ? 1460 : 1220;
    return std::max<uint16_t>(route, 88);  // below this nothing useful fits
}

// ---- the calls ------------------------------------------------------------------------------

Result<uint32_t> tcp_open(TcpShard& s, const TcpTuple& t, uint16_t mss, uint64_t now,
                          uint32_t user) {
    s.now = now;
    uint32_t old = tcp_lookup(s, t);
    if (old != kTcpNoConn) {
        TcpConn& o = s.conns[old];
        if (o.state != TcpState::Time_wait) return Econinuse;
        teardown(s, o, {});  // RFC 6191 spirit: our own new SYN supersedes our TIME_WAIT
        s.st.tw_reuse++;
    }
    if (s.pool.pressure || !s.pool.can_get(1u << TcpPool::kMinShift)) {
        s.st.mem_refused++;
        return Enomem;
    }
    uint32_t id = conn_alloc(s, now);
    if (id == kTcpNoConn) {
        s.st.mem_refused++;
        return Enodev;
    }
    TcpConn& c = s.conns[id];
    c.t = t, c.user = user;
    c.iss = isn(s, t, now);
    c.snd_una = c.snd_nxt = c.snd_max = c.iss;
    c.our_mss = c.mss = clamp_mss(mss, t.v4());
    s.st.max_segment = c.mss;
    c.ts_offset = ts_base(s, t);
    table_insert(s, c);
    set_state(s, c, TcpState::Syn_sent);
    s.st.active_opens++;
    cc_init(s, c);
    c.giveup_start = now;
    send_syn(s, c, false);
    rto_restart(s, c);
    return id;
}

Result<uint32_t> tcp_listen(TcpShard& s, const Ipaddr& laddr, uint16_t lport, uint16_t backlog,
                            uint32_t user) {
    for (uint32_t l : s.listeners) {
        const TcpConn& o = s.conns[l];
        if (o.t.lport == lport && o.t.laddr == laddr) return Eaddrinuse;
    }
    uint32_t id = conn_alloc(s, s.now);
    if (id == kTcpNoConn) return Enodev;
    TcpConn& c = s.conns[id];
    c.t.laddr = laddr, c.t.lport = lport, c.user = user;
    if (backlog) c.backlog = backlog;
    cc_init(s, c);
    set_state(s, c, TcpState::Listen);
    s.listeners.push_back(id);
    s.st.passive_opens++;  // 9front counts announces (§4.16)
    return id;
}

void tcp_unlisten(TcpShard& s, uint32_t id, uint64_t now) {
    s.now = now;
    TcpConn& c = s.conns[id];
    if (c.state == TcpState::Listen) teardown(s, c, {});
}

uint32_t tcp_reclaim(TcpShard& s, uint64_t now) {
    s.now = now;
    uint32_t n = 0;
    for (auto& c : s.conns) {
        if (!c.in_use) continue;
        bool old = (c.state == TcpState::Syn_received && now - c.state_at > 5000000) ||
                   (c.state == TcpState::Finwait2 && now - c.state_at > 300000000);
        if (old) teardown(s, c, Etimedout), n++;
    }
    return n;
}

uint32_t tcp_readable(const TcpShard& s, uint32_t id) { return s.conns[id].rq.len; }

void tcp_accepted(TcpShard& s, uint32_t id) { s.conns[id].accepted = true; }

void tcp_taken(TcpShard& s, uint32_t id) {
    TcpConn& c = s.conns[id];
    if (c.taken || c.listener == kTcpNoConn) return;
    c.taken = true;
    TcpConn& l = s.conns[c.listener];
    if (l.in_use && l.state == TcpState::Listen && l.pending) l.pending--;
}

Result<uint32_t> tcp_send(TcpShard& s, uint32_t id, std::span<const uint8_t> d, uint64_t now) {
    s.now = now;
    TcpConn& c = s.conns[id];
    if (c.shut_wr) return Ehungup;
    switch (c.state) {
    case TcpState::Syn_sent: case TcpState::Syn_received: case TcpState::Established:
    case TcpState::Close_wait:
        break;
    case TcpState::Closed:
        return c.err ? c.err : Ehangup;
    default:  // 9front tears the conversation down (§4.6.2)
        teardown(s, c, Ehangup);
        return Ehangup;
    }
    uint32_t room = c.sndbuf > c.sq.len ? c.sndbuf - c.sq.len : 0;
    uint32_t n = std::min<uint32_t>(uint32_t(d.size()), room);
    if (n && !ring_reserve(s, c.sq, c.sq.len + n, c.sndbuf)) {
        n = std::min(n, c.sq.cap - c.sq.len);
        s.st.mem_wnd_clamps++;
    }
    if (n) {
        ring_write(c.sq, c.sq.len, d.data(), n);
        c.sq.len += n;
    }
    if (n < d.size()) c.wspace_wanted = true;
    output(s, c);
    return n;
}

uint32_t tcp_read(TcpShard& s, uint32_t id, std::span<uint8_t> dst, uint64_t now) {
    s.now = now;
    TcpConn& c = s.conns[id];
    uint32_t n = std::min<uint32_t>(c.rq.len, uint32_t(dst.size()));
    if (n) {
        ring_read(c.rq, 0, dst.data(), n);
        ring_drop(c.rq, n);
        c.unconsumed += n;
    }
    c.readable_sent = false;
    if (!c.rq.len && !c.noos && c.rq.p) ring_release(s, c.rq);
    return n;
}

void tcp_consumed(TcpShard& s, uint32_t id, uint32_t n, uint64_t now) {
    s.now = now;
    TcpConn& c = s.conns[id];
    c.unconsumed -= std::min(n, c.unconsumed);
    if (!synchronized(c.state) || c.state == TcpState::Time_wait || c.rcv_fin) return;
    uint32_t adv = gt(c.rcv_adv, c.rcv_nxt) ? c.rcv_adv - c.rcv_nxt : 0;
    uint32_t w = rcv_window(s, c);
    // window update (§4.6.4): reopened from zero / below an MSS, or grown by 2 MSS
    if ((adv < c.our_mss && w >= c.our_mss) || w >= adv + 2u * c.our_mss) send_ack(s, c);
}

void tcp_close(TcpShard& s, uint32_t id, uint64_t now) {
    s.now = now;
    TcpConn& c = s.conns[id];
    if (!c.in_use) return;
    bool was_closed = c.state == TcpState::Closed;
    c.closed_by_user = true;
    c.unconsumed = 0;  // the read side is flushed and hung up
    if (c.rq.len) ring_drop(c.rq, c.rq.len);
    c.noos = 0;
    switch (c.state) {
    case TcpState::Syn_received:  // the FIN follows once our SYN is acknowledged
        c.shut_wr = true;
        break;
    case TcpState::Established:
        c.shut_wr = true;
        set_state(s, c, TcpState::Finwait1);
        output(s, c);
        break;
    case TcpState::Close_wait:
        c.shut_wr = true;
        set_state(s, c, TcpState::Last_ack);
        output(s, c);
        break;
    case TcpState::Listen: case TcpState::Syn_sent:
        teardown(s, c, Ehangup);
        break;
    case TcpState::Closed:
        if (was_closed) {
            c.in_use = false;
            s.nconns--;
            s.free_ids.push_back(c.id);
        }
        break;
    default:
        break;
    }
}

void tcp_hangup(TcpShard& s, uint32_t id, uint64_t now) {
    s.now = now;
    TcpConn& c = s.conns[id];
    if (c.state == TcpState::Closed) return;
    if (c.state != TcpState::Listen && !c.t.raddr.is_noaddr() && c.state != TcpState::Syn_sent)
        send_ctl(s, c, c.snd_nxt, TcpRst | TcpAck, 0);
    teardown(s, c, {});
}

Err tcp_shutdown(TcpShard& s, uint32_t id, uint64_t now) {
    s.now = now;
    TcpConn& c = s.conns[id];
    if (c.shut_wr) return ok;
    switch (c.state) {
    case TcpState::Syn_sent: case TcpState::Syn_received:
        c.shut_wr = true;  // FIN once connected
        return ok;
    case TcpState::Established:
        c.shut_wr = true;
        set_state(s, c, TcpState::Finwait1);
        break;
    case TcpState::Close_wait:
        c.shut_wr = true;
        set_state(s, c, TcpState::Last_ack);
        break;
    default:
        return Ehungup;
    }
    output(s, c);
    return ok;
}

// ---- ctl (§3.4 and ours) --------------------------------------------------------------------

namespace {

struct TcpCtx {
    TcpShard& s;
    TcpConn& c;
    uint64_t now;
};

Err ctl_close(TcpCtx& x, const CtlArgs& a) {
    if (a.size() != 1) return Eunknownctl;  // recognised only alone (§3.4)
    tcp_close(x.s, x.c.id, x.now);
    return ok;
}
Err ctl_hangup(TcpCtx& x, const CtlArgs& a) {
    if (a.size() != 1) return Eunknownctl;
    tcp_hangup(x.s, x.c.id, x.now);
    return ok;
}
Err ctl_shutdown(TcpCtx& x, const CtlArgs& a) {
    if (a.size() != 1) return Ecmdargs;
    return tcp_shutdown(x.s, x.c.id, x.now);
}

bool parse_num(const std::string& f, uint64_t& v) {
    if (f.empty() || f.size() > 10) return false;
    v = 0;
    for (char ch : f) {
        if (ch < '0' || ch > '9') return false;
        v = v * 10 + uint64_t(ch - '0');
    }
    return true;
}

Err ctl_keepalive(TcpCtx& x, const CtlArgs& a) {
    if (a.size() > 2) return Ecmdargs;
    if (x.c.state != TcpState::Established) return Eestablised;
    uint64_t ms = 0;
    if (a.size() == 2 && !parse_num(a[1], ms)) return Ebadarg;
    uint64_t tick_ms = x.s.prm.tick_us / 1000;
    if (a.size() == 2 && ms >= 50 && tick_ms)
        x.c.ka_period_us = uint32_t(ms / tick_ms * tick_ms * 1000);
    ka_heard(x.s, x.c);
    ka_restart(x.s, x.c);
    return ok;
}
Err ctl_checksum(TcpCtx& x, const CtlArgs& a) {
    uint64_t v;
    if (a.size() != 2 || !parse_num(a[1], v)) return Ebadarg;  // §6 quirk 2: rejected
    x.c.nocsum = v == 0;
    return ok;
}
Err ctl_porthog(TcpCtx& x, const CtlArgs& a) {
    if (a.size() != 2) return Ebadarg;
    if (a[1] == "on") x.s.porthog = true;
    else if (a[1] == "off") x.s.porthog = false;
    else return Eporthog;
    return ok;
}
Err ctl_backlog(TcpCtx& x, const CtlArgs& a) {
    uint64_t v;
    if (!parse_num(a[1], v) || v < 1 || v > 65535) return Ebadarg;
    x.c.backlog = uint16_t(v);
    return ok;
}
Err ctl_nagle(TcpCtx& x, const CtlArgs& a) {
    if (a[1] == "on") x.c.nagle = true;
    else if (a[1] == "off") x.c.nagle = false;
    else return Ebadarg;
    output(x.s, x.c);
    return ok;
}
Err ctl_cc(TcpCtx& x, const CtlArgs& a) {
    if (a[1] == "newreno") x.c.cc = TcpCc::NewReno;
    else if (a[1] == "cubic") x.c.cc = TcpCc::Cubic;
    else return Ebadarg;
    x.c.epoch_at = 0;
    return ok;
}
Err ctl_mss(TcpCtx& x, const CtlArgs& a) {  // lowers the send MSS (never raises it)
    uint64_t v;
    if (!parse_num(a[1], v) || v < 88 || v > 65535) return Ebadarg;
    if (v < x.c.mss) x.c.mss = uint16_t(v);
    return ok;
}

constexpr CtlCmd<TcpCtx> kTcpCtl[] = {
    {"close", 0, ctl_close},
    {"hangup", 0, ctl_hangup},
    {"keepalive", 0, ctl_keepalive},
    {"checksum", 0, ctl_checksum},
    {"tcpporthogdefense", 0, ctl_porthog},
    {"shutdown", 0, ctl_shutdown},
    {"backlog", 2, ctl_backlog},
    {"nagle", 2, ctl_nagle},
    {"cc", 2, ctl_cc},
    {"mss", 2, ctl_mss},
};

}  // namespace

Err tcp_ctl(TcpShard& s, uint32_t id, const CtlArgs& a, uint64_t now) {
    s.now = now;
    TcpCtx x{s, s.conns[id], now};
    return run_ctl(std::span<const CtlCmd<TcpCtx>>(kTcpCtl), x, a);
}

// ---- status and stats -----------------------------------------------------------------------

void tcp_state_text(const TcpShard& s, const TcpConn& c, uint64_t now, Text& out) {
    uint32_t tick = s.prm.tick_us;
    auto left = [&](uint64_t at) { return at > now ? uint32_t((at - now + tick - 1) / tick) : 0; };
    uint32_t rqb = 0;
    for (int i = 0; i < c.noos; i++) rqb += c.ooo[i].r - c.ooo[i].l;
    uint32_t rwin = c.state == TcpState::Closed || c.state == TcpState::Listen
                        ? c.rcvbuf : rcv_window(s, c);
    uint64_t ka_at = c.state == TcpState::Time_wait ? 0 : c.ka_at;
    out.put("%s qin %u qout %u rq %u.%u srtt %u mdev %u sst %u cwin %u swin %u>>%u rwin %u>>%u "
            "qscale %u timer.start %u timer.count %u rerecv %u katimer.start %u "
            "katimer.count %u\n",
            kTcpStateNames[int(c.state)].data(), c.rq.len + c.unconsumed, c.sq.len,
            unsigned(c.noos),
            rqb, c.srtt_us / 1000 * 8, c.rttvar_us / 1000 * 4, c.ssthresh, c.cwnd, c.snd_wnd,
            unsigned(c.rcv_ws), rwin, unsigned(c.snd_ws), unsigned(c.qscale), c.rto_us / tick,
            left(c.rto_at), c.rerecv, c.ka_period_us / tick, left(ka_at));
}

namespace {
struct StatName {
    const char* name;
    uint64_t TcpStats::*f;
};
constexpr StatName kTcpStatNames[] = {
    {"MaxConn", &TcpStats::max_conn}, {"MaxSegment", &TcpStats::max_segment},
    {"ActiveOpens", &TcpStats::active_opens}, {"PassiveOpens", &TcpStats::passive_opens},
    {"EstabResets", &TcpStats::estab_resets}, {"CurrEstab", &TcpStats::curr_estab},
    {"InSegs", &TcpStats::in_segs}, {"OutSegs", &TcpStats::out_segs},
    {"RetransSegs", &TcpStats::retrans_segs}, {"RetransSegsSent", &TcpStats::retrans_segs_sent},
    {"RetransTimeouts", &TcpStats::retrans_timeouts}, {"InErrs", &TcpStats::in_errs},
    {"OutRsts", &TcpStats::out_rsts}, {"CsumErrs", &TcpStats::csum_errs},
    {"HlenErrs", &TcpStats::hlen_errs}, {"LenErrs", &TcpStats::len_errs},
    {"Resequenced", &TcpStats::resequenced}, {"OutOfOrder", &TcpStats::out_of_order},
    {"ReseqBytelim", &TcpStats::reseq_bytelim}, {"ReseqPktlim", &TcpStats::reseq_pktlim},
    {"Delayack", &TcpStats::delayack}, {"Wopenack", &TcpStats::wopenack},
    {"Recovery", &TcpStats::recovery}, {"RecoveryDone", &TcpStats::recovery_done},
    {"RecoveryRTO", &TcpStats::recovery_rto}, {"RecoveryNoSeq", &TcpStats::recovery_noseq},
    {"RecoveryCwind", &TcpStats::recovery_cwind}, {"RecoveryPA", &TcpStats::recovery_pa},
    // devip's own, after 9front's 28
    {"OptErrs", &TcpStats::opt_errs}, {"ChallengeAcks", &TcpStats::challenge_acks},
    {"ChallengeLimited", &TcpStats::challenge_limited}, {"RstLimited", &TcpStats::rst_limited},
    {"PawsDrops", &TcpStats::paws_drops}, {"SackBlocksOut", &TcpStats::sack_blocks_out},
    {"SackBlocksIn", &TcpStats::sack_blocks_in}, {"SackRexmits", &TcpStats::sack_rexmits},
    {"CookiesSent", &TcpStats::cookies_sent}, {"CookiesOk", &TcpStats::cookies_ok},
    {"CookiesBad", &TcpStats::cookies_bad}, {"LimboDrops", &TcpStats::limbo_drops},
    {"LimboRecycled", &TcpStats::limbo_recycled}, {"BacklogDrops", &TcpStats::backlog_drops},
    {"MemRefused", &TcpStats::mem_refused}, {"MemWndClamps", &TcpStats::mem_wnd_clamps},
    {"TwReuse", &TcpStats::tw_reuse}, {"ZwndProbes", &TcpStats::zwnd_probes},
    {"KaProbes", &TcpStats::ka_probes}, {"PmtuLowered", &TcpStats::pmtu_lowered},
    {"AdviceIgnored", &TcpStats::advice_ignored}, {"DupSegs", &TcpStats::dup_segs},
    {"TlpProbes", &TcpStats::tlp_probes}, {"CallsRefused", &TcpStats::calls_refused},
};
static_assert(std::size(kTcpStatNames) == sizeof(TcpStats) / 8, "every counter is printed");
}  // namespace

void tcp_stats_text(const TcpStats& st, Text& out) {
    for (const auto& n : kTcpStatNames)
        out.put("%s: %llu\n", n.name, static_cast<unsigned long long>(st.*n.f));
}

uint64_t tcp_mem(const TcpShard& s) {
    return s.conns.size() * sizeof(TcpConn) + s.table.size() * 4 +
           s.limbo.size() * sizeof(TcpLimbo) + s.pool.in_use();
}

}  // namespace devip::proto
