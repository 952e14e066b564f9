// TCP input: parsing and checksums (ip3.md §4.6.9), the SYN limbo and SYN cookies
// (§4.6.1), the state machine of RFC 9293 §3.10.7 with RFC 5961 (challenge ACKs), RFC 7323
// (PAWS, RTTM), RFC 2018 (SACK scoreboard), NewReno (RFC 6582) duplicate-ACK handling,
// out-of-order reassembly into the receive ring (§4.6.4), delayed and immediate ACKs
// (§4.6.6), TIME_WAIT reuse (RFC 6191) and ICMP advice (§4.6.12, RFC 5927).
#include "proto/tcp_impl.h"

namespace devip::proto {

using namespace tcpi;

// ---- parsing --------------------------------------------------------------------------------

static bool parse_opts(const uint8_t* p, uint32_t n, TcpOpts& o) {
    for (uint32_t i = 0; i < n;) {
        uint8_t k = p[i];
        if (k == 0) break;
        if (k == 1) { i++; continue; }
        if (i + 1 >= n) return false;
        uint8_t l = p[i + 1];
        if (l < 2 || i + l > n) return false;
        const uint8_t* v = p + i + 2;
        switch (k) {
        case 2: if (l != 4) return false; o.has_mss = true, o.mss = get16(v); break;
        case 3:
            if (l != 3) return false;
            o.has_ws = true, o.ws = std::min<uint8_t>(v[0], 14);
            break;
        case 4: if (l != 2) return false; o.sack_ok = true; break;
        case 5:
            if ((l - 2) % 8 || l < 10) return false;
            o.nsack = uint8_t(std::min<int>((l - 2) / 8, kTcpMaxSack));
            for (int b = 0; b < o.nsack; b++)
                o.sack[b][0] = get32(v + 8 * b), o.sack[b][1] = get32(v + 8 * b + 4);
            break;
        case 8:
            if (l != 10) return false;
            o.has_ts = true, o.tsval = get32(v), o.tsecr = get32(v + 4);
            break;
        default: break;
        }
        i += l;
    }
    return true;
}

bool tcp_parse(TcpStats& st, const Ipaddr& src, const Ipaddr& dst, const uint8_t* p,
               uint32_t n, TcpSegIn& s, bool verify) {
    st.in_segs++;
    if (n < 20) return st.len_errs++, st.in_errs++, false;
    uint32_t hlen = (p[12] >> 4) * 4u;
    if (hlen < 20 || hlen > n) return st.hlen_errs++, st.in_errs++, false;
    if (verify && get16(p + 16) != 0 && tcp_checksum(src, dst, p, n) != 0)
        return st.csum_errs++, st.in_errs++, false;
    s = TcpSegIn{};
    s.t.laddr = dst, s.t.raddr = src;
    s.t.rport = get16(p), s.t.lport = get16(p + 2);
    s.seq = get32(p + 4), s.ack = get32(p + 8);
    s.flags = p[13] & 0x3f;
    s.wnd = get16(p + 14);
    s.urg = get16(p + 18);
    if (!parse_opts(p + 20, hlen - 20, s.o)) return st.opt_errs++, st.in_errs++, false;
    s.data = p + hlen;
    s.len = n - hlen;
    return true;
}

// ---- limbo (§4.6.1) -------------------------------------------------------------------------

namespace tcpi {

static uint32_t limbo_bucket(const TcpShard& s, const TcpTuple& t) {
    return uint32_t(tuple_hash(s, t) >> 32) & uint32_t(s.limbo_head.size() - 1);
}

static uint32_t limbo_find(const TcpShard& s, const TcpTuple& t) {
    for (uint32_t i = s.limbo_head[limbo_bucket(s, t)]; i != kTcpNoConn; i = s.limbo[i].next)
        if (s.limbo[i].t == t) return i;
    return kTcpNoConn;
}

void limbo_remove(TcpShard& s, uint32_t i) {
    TcpLimbo& l = s.limbo[i];
    uint32_t* pp = &s.limbo_head[limbo_bucket(s, l.t)];
    while (*pp != i) pp = &s.limbo[*pp].next;
    *pp = l.next;
    l.used = false;
    s.nlimbo--;
    s.limbo_free.push_back(i);
}

void limbo_clear_listener(TcpShard& s, uint32_t lid) {
    for (uint32_t i = 0; i < s.limbo.size(); i++)
        if (s.limbo[i].used && s.limbo[i].listener == lid) limbo_remove(s, i);
}

}  // namespace tcpi

namespace {

// SYN cookies: ISS = age (5 bits, 64 s units) | MSS index (3 bits) | 24-bit keyed hash.
constexpr uint16_t kCookieMss[8] = {536, 1220, 1300, 1360, 1400, 1440, 1460, 8960};
constexpr uint64_t kCookiePeriod = 64000000;

uint32_t cookie_hash(const TcpShard& s, const TcpTuple& t, uint32_t irs, uint32_t age_mss) {
    uint8_t b[44];
    std::memcpy(b, t.laddr.b.data(), 16);
    std::memcpy(b + 16, t.raddr.b.data(), 16);
    put16(b + 32, t.lport), put16(b + 34, t.rport);
    put32(b + 36, irs), put32(b + 40, age_mss);
    return uint32_t(siphash(s.k0 ^ 0x4987, s.k1 ^ 0xc00c, b, sizeof b)) & 0xffffff;
}

uint32_t cookie_make(const TcpShard& s, const TcpTuple& t, uint32_t irs, uint16_t peer_mss) {
    uint32_t idx = 0;
    for (uint32_t i = 0; i < 8; i++)
        if (kCookieMss[i] <= peer_mss) idx = i;
    uint32_t am = uint32_t(s.now / kCookiePeriod) % 32 << 3 | idx;
    return am << 24 | cookie_hash(s, t, irs, am);
}

// The MSS of a valid cookie (0 if it is not one of ours or too old).
uint16_t cookie_check(const TcpShard& s, const TcpTuple& t, uint32_t irs, uint32_t iss) {
    uint32_t am = iss >> 24;
    uint32_t age = (uint32_t(s.now / kCookiePeriod) - (am >> 3)) % 32;
    if (age > 1 || cookie_hash(s, t, irs, am) != (iss & 0xffffff)) return 0;
    return kCookieMss[am & 7];
}

uint32_t find_listener(const TcpShard& s, const TcpTuple& t) {
    uint32_t any = kTcpNoConn;
    for (uint32_t id : s.listeners) {
        const TcpConn& l = s.conns[id];
        if (l.t.lport != t.lport) continue;
        if (l.t.laddr == t.laddr) return id;
        if (l.t.laddr.is_noaddr() || (l.t.laddr.is_v4_zero() && t.laddr.is_v4())) any = id;
    }
    return any;
}

uint32_t cwnd_initial(uint32_t mss) {  // RFC 3390, as 9front
    return mss < 1095 ? 4 * mss : mss < 2190 ? 4380 : 2 * mss;
}

void established(TcpShard& s, TcpConn& c) {
    conn_init_buffers(s, c);
    c.cwnd = cwnd_initial(c.mss);
    c.ssthresh = 1u << 30;
    c.recover = c.iss;
    set_state(s, c, TcpState::Established);
    ka_heard(s, c);
    ka_restart(s, c);
}

// Options of a SYN into c (RFC 7323 §2.2: scaling only if both offered).
void syn_options(TcpShard& s, TcpConn& c, const TcpOpts& o) {
    if (o.has_mss) c.mss = std::min(c.our_mss, std::max<uint16_t>(o.mss, 88));
    else c.mss = c.our_mss;
    c.ws_ok = o.has_ws;
    c.snd_ws = o.has_ws ? o.ws : 0;
    c.rcv_ws = o.has_ws ? s.prm.wscale : 0;
    c.sack_ok = s.prm.sack && o.sack_ok;
    c.ts_ok = s.prm.timestamps && o.has_ts;
    if (c.ts_ok) c.ts_recent = o.tsval, c.ts_recent_at = s.now;
    s.st.max_segment = c.mss;
}

void complete_passive(TcpShard& s, TcpConn& l, const TcpSegIn& g, uint32_t irs, uint32_t iss,
                      const TcpOpts& o, uint16_t our_mss, uint64_t syn_at, bool rexmitted) {
    if (l.pending >= l.backlog) {
        s.st.backlog_drops++;
        send_rst_reply(s, g, false);
        return;
    }
    bool mem = !s.pool.pressure && s.pool.can_get(1u << TcpPool::kMinShift);
    uint32_t id = mem ? conn_alloc(s, s.now) : kTcpNoConn;
    if (id == kTcpNoConn) {
        s.st.mem_refused++;
        send_rst_reply(s, g, false);
        return;
    }
    TcpConn& c = s.conns[id];
    c.t = g.t;
    c.user = l.user, c.listener = l.id, c.accepted = false, c.taken = false;
    c.cc = l.cc, c.nagle = l.nagle, c.nocsum = l.nocsum, c.ttl = l.ttl, c.tos = l.tos;
    c.iss = iss, c.irs = irs;
    c.snd_una = c.snd_nxt = c.snd_max = iss + 1;
    c.syn_acked = true;
    c.rcv_nxt = irs + 1;
    c.rcv_adv = irs + 1 + 65535;  // what the SYN-ACK advertised
    c.our_mss = our_mss;
    c.ts_offset = ts_base(s, c.t);
    syn_options(s, c, o);
    if (c.ts_ok && g.o.has_ts) c.ts_recent = g.o.tsval;
    c.snd_wnd = c.max_snd_wnd = uint32_t(g.wnd) << c.snd_ws;
    c.snd_wl1 = g.seq, c.snd_wl2 = g.ack;
    l.pending++;
    table_insert(s, c);
    established(s, c);
    if (!rexmitted && s.now > syn_at) rtt_sample(s, c, uint32_t(s.now - syn_at));
    push_ev(s, c, TcpEvKind::CallArrived);
    c.last_rcv = s.now;
    if (g.len || (g.flags & TcpFin)) {
        TcpSegIn rest = g;
        rest.flags &= uint8_t(~TcpSyn);
        tcp_input(s, rest, s.now);
    }
}

void listen_syn(TcpShard& s, TcpConn& l, const TcpSegIn& g) {
    uint16_t our_mss = clamp_mss(g.route_mss, g.t.v4());
    s.st.max_segment = our_mss;
    uint32_t i = limbo_find(s, g.t);
    if (i != kTcpNoConn) {  // repeated SYN: new peer ISN, immediate SYN-ACK (rule 6)
        TcpLimbo& e = s.limbo[i];
        e.irs = g.seq, e.tsval = g.o.tsval, e.last_sent = s.now;
        send_limbo_synack(s, e, e.iss);
        return;
    }
    TcpLimbo tmp;
    TcpLimbo* e = &tmp;
    if (s.nlimbo >= s.limbo.size()) {
        if (s.prm.syncookies) {
            tmp.t = g.t, tmp.irs = g.seq, tmp.tsval = g.o.tsval, tmp.our_mss = our_mss;
            tmp.has_ws = g.o.has_ws, tmp.ws = g.o.ws, tmp.sack_ok = g.o.sack_ok;
            tmp.has_ts = g.o.has_ts;
            tmp.used = false;  // marks a cookie SYN-ACK
            uint16_t pm = g.o.has_mss ? g.o.mss : 536;
            send_limbo_synack(s, tmp, cookie_make(s, g.t, g.seq, std::min(pm, our_mss)));
            s.st.cookies_sent++;
            return;
        }
        uint32_t b = limbo_bucket(s, g.t), old = s.limbo_head[b];  // recycle (rule 5)
        for (uint32_t j = old; j != kTcpNoConn; j = s.limbo[j].next)
            if (s.limbo[j].last_sent < s.limbo[old].last_sent) old = j;
        if (old == kTcpNoConn)  // its bucket is empty: the oldest entry of all
            for (uint32_t j = 0; j < s.limbo.size(); j++)
                if (s.limbo[j].used && (old == kTcpNoConn ||
                                        s.limbo[j].last_sent < s.limbo[old].last_sent))
                    old = j;
        limbo_remove(s, old);
        s.st.limbo_recycled++;
    }
    uint32_t slot = s.limbo_free.back();
    s.limbo_free.pop_back();
    e = &s.limbo[slot];
    *e = TcpLimbo{};
    e->t = g.t, e->irs = g.seq, e->listener = l.id, e->tsval = g.o.tsval;
    e->mss = g.o.has_mss ? g.o.mss : 0, e->our_mss = our_mss;
    e->has_ws = g.o.has_ws, e->ws = g.o.ws, e->sack_ok = g.o.sack_ok, e->has_ts = g.o.has_ts;
    e->iss = isn(s, g.t, s.now);
    e->used = true, e->last_sent = s.now;
    uint32_t b = limbo_bucket(s, g.t);
    e->next = s.limbo_head[b];
    s.limbo_head[b] = slot;
    s.nlimbo++;
    send_limbo_synack(s, *e, e->iss);
}

void listen_input(TcpShard& s, TcpConn& l, const TcpSegIn& g) {
    uint8_t f = g.flags;
    if (f & TcpRst) {  // rule 7: an RST with seq = peer ISN + 1 removes the entry
        uint32_t i = limbo_find(s, g.t);
        if (i != kTcpNoConn && g.seq == s.limbo[i].irs + 1) limbo_remove(s, i);
        return;
    }
    if ((f & TcpSyn) && !(f & TcpAck)) return listen_syn(s, l, g);
    if ((f & TcpAck) && !(f & TcpSyn)) {
        uint32_t i = limbo_find(s, g.t);
        if (i != kTcpNoConn) {
            TcpLimbo e = s.limbo[i];
            if (g.seq != e.irs + 1 || g.ack != e.iss + 1) return send_rst_reply(s, g, true);
            limbo_remove(s, i);
            TcpOpts o;
            o.has_mss = e.mss != 0, o.mss = e.mss, o.has_ws = e.has_ws, o.ws = e.ws;
            o.sack_ok = e.sack_ok, o.has_ts = e.has_ts, o.tsval = g.o.tsval;
            return complete_passive(s, l, g, e.irs, e.iss, o, e.our_mss, e.last_sent,
                                    e.rexmits != 0);
        }
        uint16_t mss = s.prm.syncookies ? cookie_check(s, g.t, g.seq - 1, g.ack - 1) : 0;
        if (mss) {
            s.st.cookies_ok++;
            TcpOpts o;
            o.has_mss = true, o.mss = mss;
            if (g.o.has_ts) {  // wscale and SACK-permitted came back in TSecr
                o.has_ts = true, o.tsval = g.o.tsval;
                o.has_ws = g.o.tsecr & 0x20, o.sack_ok = g.o.tsecr & 0x10;
                o.ws = uint8_t(std::min<uint32_t>(g.o.tsecr & 0xf, 14));
            }
            uint16_t our = clamp_mss(g.route_mss, g.t.v4());
            return complete_passive(s, l, g, g.seq - 1, g.ack - 1, o, our, s.now, true);
        }
        if (s.prm.syncookies) s.st.cookies_bad++;
    }
    send_rst_reply(s, g, true);  // rule 9
}

// ---- synchronized states ---------------------------------------------------------------------

void to_time_wait(TcpShard& s, TcpConn& c) {
    set_state(s, c, TcpState::Time_wait);
    c.rto_at = c.ka_at = c.delack_at = 0;
    c.tw_at = s.now + s.prm.time_wait_us;
    ring_release(s, c.sq);
    arm(s, c);
}

void enter_finwait2(TcpShard& s, TcpConn& c) {
    set_state(s, c, TcpState::Finwait2);
    c.ka_left = s.prm.finwait2_first;
    c.ka_at = s.now + s.prm.finwait2_us;
    arm(s, c);
}

// Merges [l, r) into a sorted range list of at most kTcpOooMax; false when full.
bool range_add(TcpSackRange* v, uint8_t& n, uint32_t l, uint32_t r, bool* before = nullptr) {
    int i = 0;
    while (i < n && lt(v[i].r, l)) i++;
    if (before) *before = i < n && lt(r, v[i].l);
    if (i < n && le(v[i].l, r)) {  // overlaps or touches v[i]: grow it, then swallow
        if (lt(l, v[i].l)) v[i].l = l;
        if (gt(r, v[i].r)) v[i].r = r;
        int j = i + 1;
        while (j < n && le(v[j].l, v[i].r)) {
            if (gt(v[j].r, v[i].r)) v[i].r = v[j].r;
            j++;
        }
        std::memmove(v + i + 1, v + j, (n - j) * sizeof *v);
        n = uint8_t(n - (j - i - 1));
        return true;
    }
    if (n == kTcpOooMax) return false;
    std::memmove(v + i + 1, v + i, (n - i) * sizeof *v);
    v[i] = {l, r};
    n++;
    return true;
}

void sack_update(TcpShard& s, TcpConn& c, const TcpSegIn& g) {
    while (c.nsack && le(c.sacked[0].r, c.snd_una)) {
        std::memmove(c.sacked, c.sacked + 1, (c.nsack - 1) * sizeof c.sacked[0]);
        c.nsack--;
    }
    if (c.nsack && lt(c.sacked[0].l, c.snd_una)) c.sacked[0].l = c.snd_una;
    if (!c.sack_ok) return;
    for (int b = 0; b < g.o.nsack; b++) {
        uint32_t l = g.o.sack[b][0], r = g.o.sack[b][1];
        if (!lt(l, r) || le(r, c.snd_una) || gt(r, c.snd_max)) continue;  // D-SACK or bogus
        s.st.sack_blocks_in++;
        if (lt(l, c.snd_una)) l = c.snd_una;
        range_add(c.sacked, c.nsack, l, r);
    }
}

void fin_received(TcpShard& s, TcpConn& c) {
    c.rcv_nxt++;
    c.rcv_fin = true;
    c.ack_now = true;
    push_ev(s, c, TcpEvKind::Eof);
    switch (c.state) {
    case TcpState::Syn_received: case TcpState::Established:
        set_state(s, c, TcpState::Close_wait);
        break;
    case TcpState::Finwait1:
        if (c.fin_sent && ge(c.snd_una, c.fin_seq + 1)) to_time_wait(s, c);
        else set_state(s, c, TcpState::Closing);
        break;
    case TcpState::Finwait2:
        to_time_wait(s, c);
        break;
    default:
        break;
    }
}

void dump_reseq(TcpConn& c) { c.noos = 0; c.ooo_fin = false; }

// In-order and out-of-order data into the receive ring (§4.6.4).
void take_data(TcpShard& s, TcpConn& c, uint32_t seq, const uint8_t* p, uint32_t len,
               bool fin) {
    uint32_t off = c.rq.len + (seq - c.rcv_nxt);
    if (len) {
        uint32_t need = off + len;
        if (!ring_reserve(s, c.rq, need, c.rcvbuf)) {
            uint32_t fit = c.rq.cap > off ? c.rq.cap - off : 0;
            if (fit < len) s.st.mem_wnd_clamps++, fin = false;
            len = std::min(len, fit);
        }
        if (len) ring_write(c.rq, off, p, len);
    }
    if (seq != c.rcv_nxt) {  // out of order
        if (!len && !fin) return;
        bool before = false;
        if (len && !range_add(c.ooo, c.noos, seq, seq + len, &before)) {
            s.st.reseq_pktlim++;  // too many pieces: the queue is dumped (§4.6.4)
            dump_reseq(c);
            c.ack_now = true;
            return;
        }
        s.st.resequenced++;
        if (before) s.st.out_of_order++;
        c.ooo_recent = seq;
        for (int i = 0; i < c.noos; i++)
            if (le(c.ooo[i].l, seq) && le(seq + len, c.ooo[i].r)) c.ooo_recent = c.ooo[i].l;
        uint32_t total = 0;
        for (int i = 0; i < c.noos; i++) total += c.ooo[i].r - c.ooo[i].l;
        if (total > c.rcvbuf) s.st.reseq_bytelim++, dump_reseq(c);
        if (fin) c.ooo_fin = true, c.ooo_fin_seq = seq + len;
        c.ack_now = true;  // duplicate ACK (with SACK blocks)
        return;
    }
    bool hole_filled = false;
    c.rq.len += len, c.rcv_nxt += len;
    while (c.noos && le(c.ooo[0].l, c.rcv_nxt)) {
        if (gt(c.ooo[0].r, c.rcv_nxt)) {
            c.rq.len += c.ooo[0].r - c.rcv_nxt;
            c.rcv_nxt = c.ooo[0].r;
        }
        std::memmove(c.ooo, c.ooo + 1, (c.noos - 1) * sizeof c.ooo[0]);
        c.noos--;
        hole_filled = true;
    }
    if (hole_filled) c.ack_now = true;
    c.since_ack += len;
    if (c.since_ack >= 2u * c.our_mss) {
        c.ack_now = true;
        s.st.delayack++;
    } else if (len && !c.ack_now) {
        c.ack_pending = true;
        if (!c.delack_at) c.delack_at = s.now + s.prm.delack_us;
    }
    if (c.closed_by_user && c.rq.len) ring_drop(c.rq, c.rq.len);  // nobody will read it
    if (c.rq.len && !c.readable_sent) {
        c.readable_sent = true;
        push_ev(s, c, TcpEvKind::Readable);
    }
    if (fin || (c.ooo_fin && c.rcv_nxt == c.ooo_fin_seq && !c.noos)) {
        c.ooo_fin = false;
        fin_received(s, c);
    }
}

// RFC 9293 §3.10.7.4 acceptability, against the window we advertised.
bool acceptable(const TcpShard& s, const TcpConn& c, uint32_t seq, uint32_t seglen) {
    uint32_t w = gt(c.rcv_adv, c.rcv_nxt) ? c.rcv_adv - c.rcv_nxt : 0;
    if (!seglen) return w ? ge(seq, c.rcv_nxt) && lt(seq, c.rcv_nxt + w) : seq == c.rcv_nxt;
    if (!w) return false;
    return (ge(seq, c.rcv_nxt) && lt(seq, c.rcv_nxt + w)) ||
           (ge(seq + seglen - 1, c.rcv_nxt) && lt(seq + seglen - 1, c.rcv_nxt + w));
}

void newly_acked(TcpShard& s, TcpConn& c, const TcpSegIn& g) {
    uint32_t acked = g.ack - c.snd_una;
    uint32_t base = snd_base(c);
    uint32_t data = gt(g.ack, base) ? std::min(g.ack - base, c.sq.len) : 0;
    ring_drop(c.sq, data);
    c.snd_una = g.ack;
    c.syn_acked = true;
    if (lt(c.snd_nxt, c.snd_una)) c.snd_nxt = c.snd_una;
    if (lt(c.rexmit_nxt, c.snd_una)) c.rexmit_nxt = c.snd_una;
    if (c.ts_ok && g.o.has_ts && g.o.tsecr) {
        uint32_t ms = ts_now(s, c) - g.o.tsecr;
        if (ms < 600000) rtt_sample(s, c, ms * 1000 + 1);
    } else if (c.rtt_at && ge(g.ack, c.rtt_seq)) {
        rtt_sample(s, c, uint32_t(s.now - c.rtt_at));
        c.rtt_at = 0;
    }
    c.backoff = 0;
    c.giveup_start = 0;
    c.tlp_out = false;
    c.tlp_at = 0;
    if (c.in_recovery) {
        if (ge(g.ack, c.recover)) {  // full ACK: recovery done
            c.in_recovery = false;
            c.cwnd = std::min(flight(c) + c.mss, c.ssthresh);
            s.st.recovery_done++;
        } else {  // partial ACK (RFC 6582 §3.2 step 5)
            s.st.recovery_pa++;
            c.cwnd = c.cwnd > acked ? c.cwnd - acked : c.mss;
            if (acked >= c.mss) c.cwnd += c.mss;
            c.rexmit_bytes -= std::min(c.rexmit_bytes, acked);
            s.st.retrans_segs++;
            if (!rexmit_hole(s, c)) retransmit_from(s, c, c.snd_una, c.snd_max);
        }
    } else {
        cc_ack(s, c, acked);
        c.rto_backoff = false;
    }
    c.dupacks = 0;
    if (flight(c)) rto_restart(s, c), tlp_arm(s, c);  // RFC 8985 §7.2: re-armed on an ACK
    else c.rto_at = 0;
    if (c.wspace_wanted && c.sq.len < c.sndbuf && !c.shut_wr) {
        c.wspace_wanted = false;
        push_ev(s, c, TcpEvKind::WriteSpace);
    }
    if (!c.sq.len && c.sq.p && !c.shut_wr) ring_release(s, c.sq);
}

void dup_ack(TcpShard& s, TcpConn& c) {
    c.dupacks++;
    if (c.in_recovery) {
        c.cwnd += c.mss;
        s.st.recovery_cwind++;
        return;
    }
    bool sack_loss = c.nsack && sacked_bytes(c) >= 3u * c.mss;
    if (c.dupacks != 3 && !(sack_loss && c.dupacks < 3)) return;
    if (!gt(c.snd_una, c.recover)) {
        s.st.recovery_noseq++;  // RFC 6582 §3.2 step 1: below the recovery point
        return;
    }
    c.dupacks = 3;
    s.st.recovery++;
    s.st.retrans_segs++;
    c.in_recovery = true;
    c.recover = c.snd_max;
    cc_loss(s, c, false);
    c.cwnd = c.ssthresh + 3u * c.mss;
    c.rexmit_nxt = c.snd_una;
    c.rexmit_bytes = 0;
    c.rtt_at = 0;
    // the first retransmission goes now, whatever the pipe (RFC 6675 §5 step 4.3)
    if (!rexmit_hole(s, c)) retransmit_from(s, c, c.snd_una, c.snd_max);
}

// The ACK field (RFC 9293 §3.10.7.4 fifth check, RFC 5961 §5). false: drop the segment.
bool process_ack(TcpShard& s, TcpConn& c, const TcpSegIn& g) {
    if (c.state == TcpState::Syn_received) {
        if (!gt(g.ack, c.snd_una) || gt(g.ack, c.snd_max)) {
            send_rst_reply(s, g, true);
            return false;
        }
        c.snd_wnd = c.max_snd_wnd = uint32_t(g.wnd) << c.snd_ws;
        c.snd_wl1 = g.seq, c.snd_wl2 = g.ack;
        established(s, c);
        if (c.listener == kTcpNoConn) push_ev(s, c, TcpEvKind::Connected);
        if (c.shut_wr) set_state(s, c, TcpState::Finwait1);
    }
    if (gt(g.ack, c.snd_max)) {  // acks what we never sent
        c.ack_now = true;
        return false;
    }
    if (s.porthog && ge(g.ack, c.snd_una - (1u << 31)) && le(g.ack, c.snd_una - (1u << 29))) {
        teardown(s, c, Ehog);  // it answered a port-hog probe (§4.6.10)
        return false;
    }
    if (lt(g.ack, c.snd_una - c.max_snd_wnd)) {  // too old: challenge (RFC 5961 §5.2)
        send_challenge_ack(s, c);
        return false;
    }
    uint32_t wnd = uint32_t(g.wnd) << c.snd_ws;
    bool wnd_update = lt(c.snd_wl1, g.seq) || (c.snd_wl1 == g.seq && le(c.snd_wl2, g.ack));
    if (gt(g.ack, c.snd_una)) {
        newly_acked(s, c, g);
        sack_update(s, c, g);
    } else {
        sack_update(s, c, g);
        if (g.ack == c.snd_una && !g.len && !(g.flags & (TcpSyn | TcpFin)) && flight(c) &&
            (wnd == c.snd_wnd || g.o.nsack))
            dup_ack(s, c);
    }
    if (wnd_update) {
        c.snd_wnd = wnd;
        c.snd_wl1 = g.seq, c.snd_wl2 = g.ack;
        if (wnd > c.max_snd_wnd) c.max_snd_wnd = wnd;
    }
    if (!c.snd_wnd && c.giveup_start && s.now - c.giveup_start > s.prm.zwnd_hold_us)
        c.giveup_start = s.now - s.prm.zwnd_hold_us;  // a zero-window peer is not timed out
    bool fin_acked = c.fin_sent && ge(c.snd_una, c.fin_seq + 1);
    switch (c.state) {
    case TcpState::Finwait1:
        if (fin_acked) enter_finwait2(s, c);
        break;
    case TcpState::Closing:
        if (fin_acked) to_time_wait(s, c);
        break;
    case TcpState::Last_ack:
        if (fin_acked) {
            teardown(s, c, {});
            return false;
        }
        break;
    default:
        break;
    }
    return true;
}

// Time_wait: a new SYN may reuse the 4-tuple (RFC 6191); returns true if c was removed.
bool time_wait_input(TcpShard& s, TcpConn& c, const TcpSegIn& g) {
    if ((g.flags & TcpSyn) && !(g.flags & TcpAck)) {
        bool newer = c.ts_ok && g.o.has_ts ? gt(g.o.tsval, c.ts_recent) : gt(g.seq, c.rcv_nxt);
        if (newer) {
            s.st.tw_reuse++;
            teardown(s, c, {});
            return true;
        }
        send_ack(s, c);
        return false;
    }
    if (g.flags & TcpRst) return false;  // RFC 1337: TIME_WAIT is not assassinated
    if (g.flags & TcpFin) c.tw_at = s.now + s.prm.time_wait_us;
    send_ack(s, c);
    return false;
}

void syn_sent_input(TcpShard& s, TcpConn& c, const TcpSegIn& g) {
    uint8_t f = g.flags;
    if ((f & TcpAck) && (le(g.ack, c.iss) || gt(g.ack, c.snd_max))) {
        send_rst_reply(s, g, true);
        return;
    }
    if (f & TcpRst) {
        if (f & TcpAck) teardown(s, c, Econrefused);
        return;
    }
    if (!(f & TcpSyn)) return;
    c.irs = g.seq;
    c.rcv_nxt = c.rcv_adv = g.seq + 1;
    syn_options(s, c, g.o);
    c.last_rcv = s.now;
    if (f & TcpAck) {
        c.snd_una = g.ack;
        c.syn_acked = true;
        c.snd_wnd = c.max_snd_wnd = g.wnd;  // never scaled in a SYN
        c.snd_wl1 = g.seq, c.snd_wl2 = g.ack;
        if (c.rtt_at && !c.backoff) rtt_sample(s, c, uint32_t(s.now - c.rtt_at));
        c.rtt_at = 0;
        c.backoff = 0;
        c.giveup_start = 0;
        c.rto_at = 0;
        established(s, c);
        push_ev(s, c, TcpEvKind::Connected);
        if (c.shut_wr) set_state(s, c, TcpState::Finwait1);
        c.ack_now = true;
        output(s, c);
        arm(s, c);
        return;
    }
    set_state(s, c, TcpState::Syn_received);  // simultaneous open
    c.snd_nxt = c.iss;
    send_syn(s, c, true);
    rto_restart(s, c);
}

void sync_input(TcpShard& s, TcpConn& c, const TcpSegIn& g) {
    uint8_t f = g.flags;
    uint32_t seq = g.seq, len = g.len;
    const uint8_t* p = g.data;
    bool fin = f & TcpFin;
    // PAWS (RFC 7323 §5.3)
    if (c.ts_ok && g.o.has_ts && !(f & TcpRst) && lt(g.o.tsval, c.ts_recent) &&
        s.now - c.ts_recent_at < 24ull * 86400 * 1000000) {
        s.st.paws_drops++;
        send_ack(s, c);
        return;
    }
    uint32_t seglen = len + (f & TcpSyn ? 1 : 0) + (fin ? 1 : 0);
    if (!acceptable(s, c, seq, seglen)) {
        if (!(f & TcpRst)) {
            if (seglen && le(seq + seglen, c.rcv_nxt)) s.st.dup_segs++, c.rerecv += len;
            send_ack(s, c);
        }
        return;
    }
    if (f & TcpRst) {  // RFC 5961 §3.2: exact match resets, others get a challenge
        if (seq != c.rcv_nxt) return send_challenge_ack(s, c);
        if (c.state == TcpState::Established) s.st.estab_resets++;
        teardown(s, c, Econrefused);
        return;
    }
    if (f & TcpSyn) return send_challenge_ack(s, c);  // RFC 5961 §4
    if (!(f & TcpAck)) return;
    c.last_rcv = s.now;
    ka_heard(s, c);
    if (c.ts_ok && g.o.has_ts && le(seq, c.rcv_nxt))
        c.ts_recent = g.o.tsval, c.ts_recent_at = s.now;
    if (!process_ack(s, c, g)) {
        if (c.state != TcpState::Closed) output(s, c), arm(s, c);
        return;
    }
    // trim to the window
    if (lt(seq, c.rcv_nxt)) {
        uint32_t d = c.rcv_nxt - seq;
        if (d > len) d = len;
        c.rerecv += d;
        seq += d, p += d, len -= d;
        if (lt(seq, c.rcv_nxt)) fin = false;  // the FIN was old too
        c.ack_now = true;
    }
    uint32_t w = gt(c.rcv_adv, c.rcv_nxt) ? c.rcv_adv - c.rcv_nxt : 0;
    uint32_t wr = std::max(w, rcv_window(s, c));
    if (gt(seq + len, c.rcv_nxt + wr)) {
        len = gt(c.rcv_nxt + wr, seq) ? c.rcv_nxt + wr - seq : 0;
        fin = false;
        c.ack_now = true;
    }
    bool can_take = c.state == TcpState::Established || c.state == TcpState::Finwait1 ||
                    c.state == TcpState::Finwait2;
    if (can_take && (len || fin) && !c.rcv_fin) take_data(s, c, seq, p, len, fin);
    if (c.state == TcpState::Closed) return;
    output(s, c);
    arm(s, c);
}

}  // namespace

void tcp_input(TcpShard& s, const TcpSegIn& g, uint64_t now) {
    s.now = now;
    uint32_t id = tcp_lookup(s, g.t);
    if (id != kTcpNoConn) {
        TcpConn& c = s.conns[id];
        if (c.state == TcpState::Time_wait) {
            if (!time_wait_input(s, c, g)) return;
        } else if (c.state == TcpState::Syn_sent) {
            return syn_sent_input(s, c, g);
        } else {
            return sync_input(s, c, g);
        }
    }
    uint32_t l = find_listener(s, g.t);
    if (l == kTcpNoConn) return send_rst_reply(s, g, true);  // §4.6.1: RST, no ICMP
    listen_input(s, s.conns[l], g);
}

void tcp_advise(TcpShard& s, const TcpTuple& q, uint32_t qseq, bool frag, uint32_t mtu,
                const char* advice, uint64_t now) {
    s.now = now;
    uint32_t id = tcp_lookup(s, q);
    if (id == kTcpNoConn) return void(s.st.advice_ignored++);
    TcpConn& c = s.conns[id];
    if (!frag) {  // §4.6.12: only a connect in progress fails
        if (c.state != TcpState::Syn_sent || qseq != c.iss) return void(s.st.advice_ignored++);
        teardown(s, c, err_text("%s", advice ? advice : "destination unreachable"));
        return;
    }
    // RFC 5927 §4.1: the quoted sequence must be in flight
    if (!synchronized(c.state) || lt(qseq, c.snd_una) || ge(qseq, c.snd_nxt))
        return void(s.st.advice_ignored++);
    uint32_t hdr = q.v4() ? 40 : 60;
    uint32_t floor_mtu = q.v4() ? 576 : 1280;  // RFC 1191 / RFC 8201 minima
    mtu = std::max(mtu, floor_mtu);
    uint32_t m = mtu - hdr;
    if (m >= c.mss) return void(s.st.advice_ignored++);
    c.mss = uint16_t(m);
    s.st.pmtu_lowered++;
    s.st.max_segment = m;
    c.snd_nxt = c.snd_una;  // what was sent was too big: send it again, smaller
    c.rtt_at = 0;
    output(s, c);
    arm(s, c);
}

}  // namespace devip::proto
