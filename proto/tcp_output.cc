// TCP output: header and options (RFC 9293 §3.1, RFC 7323, RFC 2018), checksums over the
// pseudo header, the send loop (ip3.md §4.6.5: MSS, min(cwnd, window), PSH, FIN on the last
// segment, 9front's small-segment rule or Nagle, zero-window probes, 100 segments a pass),
// ACKs, RSTs and SYN-ACKs of the limbo.
#include "proto/tcp_impl.h"

namespace devip::proto {

using namespace tcpi;

namespace {

constexpr uint8_t kOptEol = 0, kOptNop = 1, kOptMss = 2, kOptWs = 3, kOptSackOk = 4,
                  kOptSack = 5, kOptTs = 8;

uint32_t pseudo_sum(const Ipaddr& src, const Ipaddr& dst, uint32_t n) {
    uint32_t sum;
    if (src.is_v4() && dst.is_v4()) {
        sum = csum_add(src.b.data() + 12, 4);
        sum = csum_add(dst.b.data() + 12, 4, sum);
    } else {
        sum = csum_add(src.b.data(), 16);
        sum = csum_add(dst.b.data(), 16, sum);
        sum += n >> 16;
    }
    return sum + kProtoTcp + (n & 0xffff);
}

// adds n bytes that start at an odd offset of the summed stream when odd is true
uint32_t sum_span(const uint8_t* p, uint32_t n, bool odd, uint32_t sum) {
    if (!n) return sum;
    uint16_t s = csum_fold(csum_add(p, n));
    if (odd) s = uint16_t(s << 8 | s >> 8);  // RFC 1071 §2(B): byte order independence
    return sum + s;
}

struct Opts {
    uint8_t b[40];
    uint8_t n = 0;
    void put(uint8_t v) { b[n++] = v; }
    void mss(uint16_t v) { put(kOptMss), put(4), put(uint8_t(v >> 8)), put(uint8_t(v)); }
    void ts(uint32_t val, uint32_t ecr) {
        put(kOptTs), put(10);
        put32(b + n, val), n += 4;
        put32(b + n, ecr), n += 4;
    }
    void pad() {
        while (n & 3) put(kOptEol);
    }
};

}  // namespace

uint16_t tcp_checksum(const Ipaddr& src, const Ipaddr& dst, const uint8_t* p, uint32_t n) {
    return uint16_t(~csum_fold(csum_add(p, n, pseudo_sum(src, dst, n))));
}

namespace tcpi {

uint32_t ts_now(const TcpShard& s, const TcpConn& c) {
    return uint32_t(s.now / 1000) + c.ts_offset;  // a 1 ms clock (RFC 7323 §5.4)
}

// Fills the header of x; payload spans must already be set.
static void finish(TcpShard& s, TcpTx& x, uint32_t seq, uint32_t ack, uint8_t flags,
                   uint16_t wnd, const Opts& o, bool nocsum) {
    uint8_t* h = x.hdr;
    put16(h, x.t.lport);
    put16(h + 2, x.t.rport);
    put32(h + 4, seq);
    put32(h + 8, ack);
    x.hlen = uint8_t(20 + o.n);
    h[12] = uint8_t((x.hlen / 4) << 4);
    h[13] = flags;
    put16(h + 14, wnd);
    put16(h + 16, 0);
    put16(h + 18, 0);
    std::memcpy(h + 20, o.b, o.n);
    if (nocsum) return;
    uint32_t n = x.hlen + x.n1 + x.n2;
    uint32_t sum = csum_add(h, x.hlen, pseudo_sum(x.t.laddr, x.t.raddr, n));
    sum = sum_span(x.p1, x.n1, false, sum);
    sum = sum_span(x.p2, x.n2, x.n1 & 1, sum);
    uint16_t c = uint16_t(~csum_fold(sum));
    put16(h + 16, c);
}

static TcpTx& new_tx(TcpShard& s, const TcpTuple& t, uint32_t conn, uint8_t ttl, uint8_t tos) {
    TcpTx& x = s.tx.emplace_back();
    x.t = t, x.conn = conn, x.ttl = ttl, x.tos = tos, x.df = true;
    return x;
}

// The window we advertise (never moving the right edge left), and rcv_adv.
static uint16_t adv_window(TcpShard& s, TcpConn& c, bool syn) {
    uint32_t w = rcv_window(s, c);
    uint32_t used = c.rq.len + c.unconsumed;
    bool clamped = w < (used < c.rcvbuf ? c.rcvbuf - used : 0);
    if (clamped) s.pool.pressure = true;
    // the right edge never moves left (§4.6.4), except when memory ran out (RFC 7323 §2.4)
    if (!clamped && gt(c.rcv_adv, c.rcv_nxt) && c.rcv_adv - c.rcv_nxt > w)
        w = c.rcv_adv - c.rcv_nxt;
    if (clamped) c.rcv_adv = c.rcv_nxt;
    uint32_t f = syn ? std::min<uint32_t>(w, 65535) : std::min<uint32_t>(w >> c.rcv_ws, 65535);
    if (!syn || c.state != TcpState::Syn_sent) {
        uint32_t edge = c.rcv_nxt + (syn ? f : f << c.rcv_ws);
        if (gt(edge, c.rcv_adv)) c.rcv_adv = edge;
    }
    c.was_zero_wnd = f == 0;
    return uint16_t(f);
}

// Options of a non-SYN segment: timestamps, SACK blocks (most recent first, RFC 2018 §4).
static void data_opts(TcpShard& s, TcpConn& c, Opts& o) {
    if (c.ts_ok) o.put(kOptNop), o.put(kOptNop), o.ts(ts_now(s, c), c.ts_recent);
    if (c.sack_ok && c.noos) {
        int room = (40 - o.n - 2) / 8;
        int n = std::min<int>(c.noos, room);
        o.put(kOptNop), o.put(kOptNop), o.put(kOptSack), o.put(uint8_t(2 + 8 * n));
        int first = 0;
        for (int i = 0; i < c.noos; i++)
            if (c.ooo[i].l == c.ooo_recent) first = i;
        auto put_range = [&](const TcpSackRange& r) {
            put32(o.b + o.n, r.l), o.n += 4;
            put32(o.b + o.n, r.r), o.n += 4;
        };
        put_range(c.ooo[first]);
        for (int i = 0, k = 1; i < c.noos && k < n; i++)
            if (i != first) put_range(c.ooo[i]), k++;
        s.st.sack_blocks_out += n;
    }
}

static void sent_common(TcpShard& s, TcpConn& c) {
    c.ack_pending = c.ack_now = false;
    c.delack_at = 0;
    c.since_ack = 0;
    ka_restart(s, c);
}

// One segment of c from seq with len data bytes (and FIN when it reaches fin_seq).
static void send_seg(TcpShard& s, TcpConn& c, uint32_t seq, uint32_t len, bool fin) {
    TcpTx& x = new_tx(s, c.t, c.id, c.ttl, c.tos);
    ring_spans(c.sq, seq - snd_base(c), len, x);
    Opts o;
    data_opts(s, c, o);
    uint8_t fl = TcpAck;
    if (fin) fl |= TcpFin;
    if (len && seq + len == snd_base(c) + c.sq.len) fl |= TcpPsh;
    finish(s, x, seq, c.rcv_nxt, fl, adv_window(s, c, false), o, c.nocsum);
    s.st.out_segs++;
    if (lt(seq, c.snd_max)) s.st.retrans_segs_sent++;
    sent_common(s, c);
}

void send_syn(TcpShard& s, TcpConn& c, bool ack) {
    TcpTx& x = new_tx(s, c.t, c.id, c.ttl, c.tos);
    Opts o;
    o.mss(c.our_mss);
    bool passive = ack && c.state == TcpState::Syn_received && c.listener != kTcpNoConn;
    bool sack = s.prm.sack && (!ack || c.sack_ok);
    bool ts = s.prm.timestamps && (!ack || c.ts_ok);
    bool ws = !ack || c.ws_ok || !passive;  // our SYN always offers; a reply only if offered
    if (ack && c.state == TcpState::Syn_received && !passive) ws = c.ws_ok;
    if (sack && ts) o.put(kOptSackOk), o.put(2), o.ts(ts_now(s, c), c.ts_recent);
    else if (ts) o.put(kOptNop), o.put(kOptNop), o.ts(ts_now(s, c), c.ts_recent);
    else if (sack) o.put(kOptNop), o.put(kOptNop), o.put(kOptSackOk), o.put(2);
    if (ws) o.put(kOptNop), o.put(kOptWs), o.put(3), o.put(s.prm.wscale);
    o.pad();
    finish(s, x, c.iss, ack ? c.rcv_nxt : 0, uint8_t(TcpSyn | (ack ? TcpAck : 0)),
           adv_window(s, c, true), o, c.nocsum);
    s.st.out_segs++;
    if (gt(c.iss + 1, c.snd_max)) c.snd_max = c.iss + 1;
    c.snd_nxt = c.iss + 1;
    sent_common(s, c);
}

void send_limbo_synack(TcpShard& s, const TcpLimbo& l, uint32_t iss) {
    TcpTx& x = new_tx(s, l.t, kTcpNoConn, s.prm.ttl, 0);
    Opts o;
    o.mss(l.our_mss);
    bool sack = s.prm.sack && l.sack_ok, ts = s.prm.timestamps && l.has_ts;
    // cookies with timestamps carry wscale and SACK-permitted in the low bits of TSval
    uint32_t tsval = uint32_t(s.now / 1000) + ts_base(s, l.t);
    if (!l.used) tsval = (tsval & ~0x3fu) | (l.has_ws ? 0x20u : 0) | (sack ? 0x10u : 0) |
                         (l.ws & 0xfu);
    if (sack && ts) o.put(kOptSackOk), o.put(2), o.ts(tsval, l.tsval);
    else if (ts) o.put(kOptNop), o.put(kOptNop), o.ts(tsval, l.tsval);
    else if (sack) o.put(kOptNop), o.put(kOptNop), o.put(kOptSackOk), o.put(2);
    if (l.has_ws) o.put(kOptNop), o.put(kOptWs), o.put(3), o.put(s.prm.wscale);
    o.pad();
    finish(s, x, iss, l.irs + 1, TcpSyn | TcpAck, 65535, o, false);
    s.st.out_segs++;
}

void send_ctl(TcpShard& s, TcpConn& c, uint32_t seq, uint8_t flags, uint32_t plen) {
    static const uint8_t zero[1] = {0};
    TcpTx& x = new_tx(s, c.t, c.id, c.ttl, c.tos);
    if (plen) x.p1 = zero, x.n1 = 1;
    Opts o;
    if (!(flags & TcpRst)) data_opts(s, c, o);
    else if (c.ts_ok) o.put(kOptNop), o.put(kOptNop), o.ts(ts_now(s, c), c.ts_recent);
    finish(s, x, seq, c.rcv_nxt, flags, adv_window(s, c, false), o, c.nocsum);
}

void send_ack(TcpShard& s, TcpConn& c) {
    TcpTx& x = new_tx(s, c.t, c.id, c.ttl, c.tos);
    Opts o;
    data_opts(s, c, o);
    finish(s, x, c.snd_nxt, c.rcv_nxt, TcpAck, adv_window(s, c, false), o, c.nocsum);
    s.st.out_segs++;
    sent_common(s, c);
}

static bool rate_ok(uint64_t now, uint64_t& at, uint32_t& n, uint32_t limit) {
    if (now - at >= 1000000) at = now, n = 0;
    if (n >= limit) return false;
    n++;
    return true;
}

void send_challenge_ack(TcpShard& s, TcpConn& c) {
    if (!rate_ok(s.now, s.rl_ch_at, s.rl_ch_n, s.prm.challenge_per_s)) {
        s.st.challenge_limited++;
        return;
    }
    s.st.challenge_acks++;
    send_ack(s, c);
}

void send_rst_reply(TcpShard& s, const TcpSegIn& g, bool limited) {
    if (g.flags & TcpRst) return;
    if (limited && !rate_ok(s.now, s.rl_rst_at, s.rl_rst_n, s.prm.rst_per_s)) {
        s.st.rst_limited++;
        return;
    }
    TcpTx& x = new_tx(s, g.t, kTcpNoConn, s.prm.ttl, 0);
    Opts o;
    if (g.flags & TcpAck) {
        finish(s, x, g.ack, 0, TcpRst, 0, o, false);
    } else {
        uint32_t ack = g.seq + g.len + (g.flags & TcpSyn ? 1 : 0) + (g.flags & TcpFin ? 1 : 0);
        finish(s, x, 0, ack, TcpRst | TcpAck, 0, o, false);
    }
    s.st.out_rsts++;
}

void retransmit_from(TcpShard& s, TcpConn& c, uint32_t seq, uint32_t max) {
    uint32_t end = snd_base(c) + c.sq.len;
    if (lt(seq, snd_base(c))) seq = snd_base(c);
    uint32_t len = ge(seq, end) ? 0 : std::min<uint32_t>({seg_max(c), end - seq, max - seq});
    bool fin = c.fin_sent && seq + len == c.fin_seq && lt(seq + len, c.snd_max);
    if (!len && !fin) return;
    if (c.rtt_at && le(seq, c.rtt_seq)) c.rtt_at = 0;  // Karn: no sample from retransmissions
    send_seg(s, c, seq, len, fin);
}

// Retransmits the next hole of the scoreboard at or after rexmit_nxt, below the highest
// SACKed byte; false if there is none.
bool rexmit_hole(TcpShard& s, TcpConn& c) {
    if (!c.nsack) return false;
    uint32_t top = c.sacked[c.nsack - 1].r;
    uint32_t h = lt(c.rexmit_nxt, c.snd_una) ? c.snd_una : c.rexmit_nxt;
    for (int i = 0; i < c.nsack; i++)
        if (le(c.sacked[i].l, h) && lt(h, c.sacked[i].r)) h = c.sacked[i].r;
    if (!lt(h, top)) return false;
    uint32_t lim = top;
    for (int i = 0; i < c.nsack; i++)
        if (gt(c.sacked[i].l, h)) {
            lim = c.sacked[i].l;
            break;
        }
    uint32_t before = uint32_t(s.tx.size());
    retransmit_from(s, c, h, lim);
    if (s.tx.size() == before) return false;
    uint32_t len = std::min<uint32_t>(seg_max(c), lim - h);
    c.rexmit_nxt = h + len;
    c.rexmit_bytes += len;
    s.st.sack_rexmits++;
    return true;
}

// Sends what the windows allow (§4.6.5); ends with a pure ACK if one is owed now.
void output(TcpShard& s, TcpConn& c) {
    if (!synchronized(c.state) || c.state == TcpState::Time_wait || !c.syn_acked) {
        if (c.ack_now && c.state == TcpState::Time_wait) send_ack(s, c);
        return;
    }
    uint32_t base = snd_base(c), end = base + c.sq.len;
    bool can_fin = c.shut_wr && (c.state == TcpState::Finwait1 || c.state == TcpState::Closing ||
                                 c.state == TcpState::Last_ack);
    if (can_fin && !c.fin_sent) c.fin_seq = end, c.fin_sent = true;
    for (uint32_t n = 0; n < s.prm.max_burst; n++) {
        uint32_t wnd = std::min(c.cwnd, c.snd_wnd);
        uint32_t fl = flight(c);
        // SACK recovery: holes below the highest SACKed byte first, while the estimate of
        // what is in the network (RFC 6675 §4 pipe, roughly) leaves room in cwnd
        if (c.in_recovery && c.nsack) {
            uint32_t sk = std::min(sacked_bytes(c), fl);
            if (fl - sk + c.rexmit_bytes + c.mss <= c.cwnd && rexmit_hole(s, c)) continue;
        }
        uint32_t avail = lt(c.snd_nxt, end) ? end - c.snd_nxt : 0;
        uint32_t usable = wnd > fl ? wnd - fl : 0;
        uint32_t smax = seg_max(c);
        uint32_t len = std::min<uint32_t>({avail, usable, smax});
        if (!len && avail && c.snd_wnd == 0 && fl == 0 && c.rto_at == 0) {
            len = 1;  // zero-window probe (§4.6.5), re-sent by the retransmission timer
            s.st.zwnd_probes++;
        }
        bool fin = can_fin && c.snd_nxt + len == c.fin_seq && lt(c.snd_nxt + len, c.fin_seq + 1);
        if (!len && !fin) break;
        if (len && len < smax && len < avail && fl) break;  // sender SWS avoidance
        if (len && len < smax && len == avail && !fin && fl) {
            if (c.nagle) break;                                   // RFC 896
            if (fl > 3u * smax && !c.in_recovery) break;           // 9front's rule
        }
        if (!c.rtt_at && !c.ts_ok && len && ge(c.snd_nxt, c.snd_max))
            c.rtt_seq = c.snd_nxt + len, c.rtt_at = s.now;
        bool fresh = ge(c.snd_nxt, c.snd_max);
        send_seg(s, c, c.snd_nxt, len, fin);
        c.snd_nxt += len + (fin ? 1 : 0);
        if (gt(c.snd_nxt, c.snd_max)) c.snd_max = c.snd_nxt;
        if (!c.rto_at) rto_restart(s, c);
        if (fresh) tlp_arm(s, c);
        if (fin) break;
    }
    if (c.ack_now) send_ack(s, c);
}

}  // namespace tcpi
}  // namespace devip::proto
