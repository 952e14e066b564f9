// TCP timers and congestion control: a hashed timer wheel of 50 ms ticks (ip3.md §4.6.7)
// advanced by tcp_timers; retransmission (RFC 6298 RTO, 9front's give-up times), delayed
// ACK, keepalive (§4.6.10), Finwait2 probes and TIME_WAIT (§4.6.2), SYN-ACK resends of the
// limbo (§4.6.1); NewReno with ABC (§4.6.8, RFC 6582, RFC 3465) and CUBIC (RFC 9438).
#include <cmath>

#include "proto/tcp_impl.h"

namespace devip::proto {

using namespace tcpi;

namespace tcpi {

static constexpr uint32_t kWheel = 1024;  // slots; the wheel spans 51.2 s of 50 ms ticks

static void wheel_unlink(TcpShard& s, TcpConn& c) {
    if (c.wslot == kTcpNoConn) return;
    if (c.wprev != kTcpNoConn) s.conns[c.wprev].wnext = c.wnext;
    else s.wheel[c.wslot] = c.wnext;
    if (c.wnext != kTcpNoConn) s.conns[c.wnext].wprev = c.wprev;
    c.wslot = c.wnext = c.wprev = kTcpNoConn;
}

static uint64_t earliest(const TcpConn& c) {
    uint64_t t = 0;
    for (uint64_t d : {c.rto_at, c.delack_at, c.ka_at, c.tw_at, c.tlp_at})
        if (d && (!t || d < t)) t = d;
    return t;
}

void unarm(TcpShard& s, TcpConn& c) {
    wheel_unlink(s, c);
    c.rto_at = c.delack_at = c.ka_at = c.tw_at = c.tlp_at = 0;
}

void arm(TcpShard& s, TcpConn& c) {
    uint64_t at = earliest(c);
    if (!at) return wheel_unlink(s, c);
    uint64_t tick = std::max<uint64_t>(at / s.prm.tick_us, s.wheel_tick);
    tick = std::min<uint64_t>(tick, s.wheel_tick + kWheel - 1);  // refiled when reached
    if (c.wslot != kTcpNoConn && c.wat <= tick) return;  // filed earlier: refiled then
    wheel_unlink(s, c);
    uint32_t slot = uint32_t(tick % kWheel);
    c.wslot = slot, c.wat = tick;
    c.wprev = kTcpNoConn;
    c.wnext = s.wheel[slot];
    if (c.wnext != kTcpNoConn) s.conns[c.wnext].wprev = c.id;
    s.wheel[slot] = c.id;
}

void rto_restart(TcpShard& s, TcpConn& c) {
    uint64_t t = uint64_t(c.rto_us) << std::min<uint8_t>(c.backoff, 12);
    c.rto_at = s.now + std::min<uint64_t>(t, s.prm.rto_max_us);
    arm(s, c);
}

// RFC 8985 §7.2: PTO = 2·SRTT (+ the peer's delayed ACK when one segment is out), not
// later than the RTO.
void tlp_arm(TcpShard& s, TcpConn& c) {
    if (!s.prm.tlp || !c.sack_ok || c.in_recovery || c.tlp_out || !flight(c)) return;
    uint64_t pto = 2ull * c.srtt_us;
    if (flight(c) <= c.mss) pto += s.prm.tlp_delack_us;
    pto = std::max<uint64_t>(pto, 10000);
    if (c.rto_at && s.now + pto >= c.rto_at) return;
    c.tlp_at = s.now + pto;
    arm(s, c);
}

// The probe: one new segment if the windows allow, else the last segment again.
static void on_tlp(TcpShard& s, TcpConn& c) {
    if (!flight(c) || c.in_recovery || !synchronized(c.state) || c.state == TcpState::Time_wait)
        return;
    c.tlp_out = true;
    s.st.tlp_probes++;
    uint32_t end = snd_base(c) + c.sq.len;
    uint32_t before = uint32_t(s.tx.size());
    if (lt(c.snd_nxt, end) && c.snd_wnd > flight(c)) {
        uint32_t cw = c.cwnd;
        c.cwnd = std::max(c.cwnd, flight(c) + c.mss);  // the probe is outside cwnd
        output(s, c);
        c.cwnd = cw;
    }
    if (s.tx.size() == before) {
        uint32_t len = std::min<uint32_t>(seg_max(c), flight(c));
        retransmit_from(s, c, c.snd_max - len, c.snd_max);  // a FIN rides along
    }
    rto_restart(s, c);
}

void rtt_sample(TcpShard& s, TcpConn& c, uint32_t r) {  // RFC 6298 §2
    if (!r) r = 1;
    if (!c.rttvar_us && c.srtt_us == s.prm.rto_init_us) {
        c.srtt_us = r, c.rttvar_us = r / 2;
    } else {
        uint32_t d = c.srtt_us > r ? c.srtt_us - r : r - c.srtt_us;
        c.rttvar_us = (3 * c.rttvar_us + d) / 4;
        c.srtt_us = (7 * uint64_t(c.srtt_us) + r) / 8;
    }
    uint64_t rto = c.srtt_us + std::max<uint64_t>(s.prm.tick_us, 4ull * c.rttvar_us);
    c.rto_us = uint32_t(std::clamp<uint64_t>(rto, s.prm.rto_min_us, s.prm.rto_max_us));
}

void ka_restart(TcpShard& s, TcpConn& c) {
    if (c.state == TcpState::Finwait2 || c.state == TcpState::Time_wait || !synchronized(c.state))
        return;
    c.ka_at = s.now + c.ka_period_us;
}

void ka_heard(TcpShard& s, TcpConn& c) {
    if (c.state == TcpState::Finwait2) {
        c.ka_left = s.prm.finwait2_count;
        return;
    }
    uint64_t n = c.ka_period_us ? s.prm.ka_total_us / c.ka_period_us : 6;
    c.ka_left = uint32_t(std::max<uint64_t>(n, 3));
}

// ---- congestion control ----------------------------------------------------------------------

void cc_init(TcpShard& s, TcpConn& c) {
    c.cwnd = c.mss;
    c.ssthresh = 65535;
}

static void cubic_ca(TcpShard& s, TcpConn& c, uint32_t acked) {
    constexpr double C = 0.4, beta = 0.7;
    double mss = c.mss;
    if (!c.epoch_at) {
        c.epoch_at = s.now;
        if (c.w_max < c.cwnd) c.w_max = c.cwnd;
        c.w_est = c.cwnd;
    }
    double t = double(s.now - c.epoch_at) / 1e6 + double(c.srtt_us) / 1e6;
    double wmax = c.w_max / mss;
    double k = std::cbrt(wmax * (1 - beta) / C);
    double target = (C * (t - k) * (t - k) * (t - k) + wmax) * mss;
    double cw = c.cwnd;
    if (target > cw) cw += std::min(target - cw, cw / 2) * acked / cw;
    else cw += mss * acked / (100.0 * cw);
    c.w_est += uint32_t(3 * (1 - beta) / (1 + beta) * mss * acked / c.cwnd);  // §4.3
    c.cwnd = uint32_t(std::max(cw, double(c.w_est)));
}

void cc_ack(TcpShard& s, TcpConn& c, uint32_t acked) {
    if (c.cwnd < c.ssthresh) {  // slow start with ABC, L = 2 (1 right after an RTO)
        uint32_t l = c.rto_backoff ? 1 : 2;
        c.cwnd += std::min<uint32_t>(acked, l * c.mss);
    } else if (c.cc == TcpCc::Cubic) {
        cubic_ca(s, c, acked);
    } else {
        c.abc_acked += acked;
        if (c.abc_acked >= c.cwnd) {
            c.abc_acked -= c.cwnd;
            c.cwnd += c.mss;
        }
    }
    c.cwnd = std::min(c.cwnd, 1u << 30);
}

void cc_loss(TcpShard& s, TcpConn& c, bool rto) {
    if (rto && c.rto_backoff) return;  // already backed off: keep ssthresh
    uint32_t f = std::min(flight(c), c.cwnd);
    if (c.cc == TcpCc::Cubic) {
        c.w_max = c.cwnd;
        c.epoch_at = 0;
        c.ssthresh = std::max<uint32_t>(uint32_t(f * 0.7), 2u * c.mss);
    } else {
        c.ssthresh = std::max<uint32_t>(f / 2, 2u * c.mss);
    }
    c.abc_acked = 0;
}

// ---- expiries --------------------------------------------------------------------------------

static void on_rto(TcpShard& s, TcpConn& c) {
    bool syn = c.state == TcpState::Syn_sent || c.state == TcpState::Syn_received;
    uint64_t limit = syn ? s.prm.syn_giveup_us : s.prm.data_giveup_us;
    if (!c.giveup_start) c.giveup_start = s.now;
    else if (s.now - c.giveup_start >= limit) return teardown(s, c, Etimedout);
    s.st.retrans_timeouts++;
    s.st.retrans_segs++;
    if (c.backoff < 30) c.backoff++;
    c.rtt_at = 0;
    if (c.state == TcpState::Syn_sent) {
        send_syn(s, c, false);
        return rto_restart(s, c);
    }
    if (c.state == TcpState::Syn_received) {
        send_syn(s, c, true);
        return rto_restart(s, c);
    }
    if (c.in_recovery) {
        c.in_recovery = false;
        s.st.recovery_rto++;
    }
    cc_loss(s, c, true);
    c.rto_backoff = true;
    c.cwnd = c.mss;
    c.nsack = 0;  // the peer may renege (RFC 2018 §8): start again from snd_una
    c.dupacks = 0;
    c.snd_nxt = c.snd_una;
    c.recover = c.snd_max;
    output(s, c);
    if (flight(c) && !c.rto_at) rto_restart(s, c);
}

static void on_ka(TcpShard& s, TcpConn& c) {
    if (c.state == TcpState::Finwait2) {
        if (!c.ka_left) return teardown(s, c, Etimedout);
        c.ka_left--;
        send_ctl(s, c, c.fin_seq, TcpFin | TcpAck, 0);
        c.ka_at = s.now + s.prm.finwait2_us;
        return;
    }
    if (!synchronized(c.state) || c.state == TcpState::Time_wait) return;
    if (c.ka_left <= 1) return teardown(s, c, Etimedout);
    c.ka_left--;
    uint32_t seq = c.snd_una - 1;
    if (s.porthog) seq = c.snd_una - (1u << 30) - uint32_t(s.now % (1u << 20));
    send_ctl(s, c, seq, TcpAck | TcpPsh, 1);
    s.st.ka_probes++;
    c.ka_at = s.now + c.ka_period_us;
}

static void fire(TcpShard& s, TcpConn& c) {
    uint64_t now = s.now;
    if (c.tw_at && c.tw_at <= now) return teardown(s, c, {});
    if (c.delack_at && c.delack_at <= now) {
        c.delack_at = 0;
        if (c.ack_pending) send_ack(s, c);
    }
    if (c.tlp_at && c.tlp_at <= now) {
        c.tlp_at = 0;
        on_tlp(s, c);
    }
    if (c.rto_at && c.rto_at <= now) {
        c.rto_at = 0;
        c.tlp_at = 0;
        on_rto(s, c);
        if (c.state == TcpState::Closed) return;
    }
    if (c.ka_at && c.ka_at <= now) {
        c.ka_at = 0;
        on_ka(s, c);
    }
}

void limbo_timers(TcpShard& s) {
    bool resend = s.nlimbo <= s.prm.limbo_resend_max;
    for (uint32_t i = 0; i < s.limbo.size() && s.nlimbo; i++) {
        TcpLimbo& l = s.limbo[i];
        if (!l.used) continue;
        if (s.now - l.last_sent <= uint64_t(l.rexmits + 1) * s.prm.limbo_rto_us) continue;
        if (l.rexmits >= s.prm.limbo_retries) {
            s.st.limbo_drops++;
            limbo_remove(s, i);
            continue;
        }
        l.rexmits++;
        l.last_sent = s.now;
        if (resend) send_limbo_synack(s, l, l.iss);
    }
}

}  // namespace tcpi

void tcp_timers(TcpShard& s, uint64_t now) {
    s.now = now;
    uint64_t target = now / s.prm.tick_us;
    if (target + 1 > s.wheel_tick + 2 * kWheel) s.wheel_tick = target + 1 - kWheel;  // a jump
    bool ticked = false;
    while (s.wheel_tick <= target) {
        uint64_t t = s.wheel_tick++;
        uint32_t slot = uint32_t(t % kWheel);
        s.due.clear();  // detach the slot first: firing may unlink or free others
        for (uint32_t id = s.wheel[slot]; id != kTcpNoConn;) {
            TcpConn& c = s.conns[id];
            s.due.push_back(id);
            id = c.wnext;
            c.wslot = c.wnext = c.wprev = kTcpNoConn;
        }
        s.wheel[slot] = kTcpNoConn;
        for (uint32_t id : s.due) {
            TcpConn& c = s.conns[id];
            if (!c.in_use || c.wslot != kTcpNoConn) continue;
            fire(s, c);
            if (c.in_use && c.state != TcpState::Closed) arm(s, c);
        }
        ticked = true;
    }
    if (ticked && s.nlimbo) limbo_timers(s);
}

}  // namespace devip::proto
