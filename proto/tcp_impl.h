// What the TCP files share and nobody else uses: sequence arithmetic, rings, the table,
// state changes, output and timer entry points. Included only by proto/tcp*.cc.
#pragma once
#include <algorithm>
#include <cstring>

#include "proto/tcp.h"
#include "proto/wire.h"

namespace devip::proto::tcpi {

// sequence space (RFC 9293 §3.4)
inline bool lt(uint32_t a, uint32_t b) { return int32_t(a - b) < 0; }
inline bool le(uint32_t a, uint32_t b) { return int32_t(a - b) <= 0; }
inline bool gt(uint32_t a, uint32_t b) { return int32_t(a - b) > 0; }
inline bool ge(uint32_t a, uint32_t b) { return int32_t(a - b) >= 0; }

inline constexpr Err Ehangup{"Hangup"};
inline constexpr Err Eestablised{"connection must be in Establised state"};
inline constexpr Err Eporthog{"unknown value for tcpporthogdefense"};
inline constexpr Err Ehog{"stateless hog"};

uint64_t siphash(uint64_t k0, uint64_t k1, const uint8_t* p, size_t n);
uint64_t tuple_hash(const TcpShard& s, const TcpTuple& t);
uint32_t isn(const TcpShard& s, const TcpTuple& t, uint64_t now);
uint32_t ts_base(const TcpShard& s, const TcpTuple& t);

// rings (tcp.cc)
bool ring_reserve(TcpShard& s, TcpRing& r, uint32_t need, uint32_t limit);
void ring_write(TcpRing& r, uint32_t off, const uint8_t* p, uint32_t n);  // off from head
void ring_read(const TcpRing& r, uint32_t off, uint8_t* p, uint32_t n);
void ring_spans(const TcpRing& r, uint32_t off, uint32_t n, TcpTx& t);
void ring_drop(TcpRing& r, uint32_t n);  // n bytes off the head
void ring_release(TcpShard& s, TcpRing& r);  // give the block back when empty

// table and slab (tcp.cc)
uint32_t conn_alloc(TcpShard& s, uint64_t now);
void table_insert(TcpShard& s, TcpConn& c);
void table_remove(TcpShard& s, TcpConn& c);
void set_state(TcpShard& s, TcpConn& c, TcpState st);
void push_ev(TcpShard& s, const TcpConn& c, TcpEvKind k, Err e = {});
// Reaches Closed with reason e: buffers released, timers off, Closed event.
void teardown(TcpShard& s, TcpConn& c, Err e);
void conn_init_buffers(TcpShard& s, TcpConn& c);  // queue limits from qscale
uint32_t rcv_window(const TcpShard& s, const TcpConn& c);  // free space, unscaled bytes
uint32_t conn_limbo_count(const TcpShard& s);

// output (tcp_output.cc)
void output(TcpShard& s, TcpConn& c);             // data, FIN, pending ACK
void send_ack(TcpShard& s, TcpConn& c);
void send_syn(TcpShard& s, TcpConn& c, bool ack);  // SYN or SYN-ACK of a conn
void send_ctl(TcpShard& s, TcpConn& c, uint32_t seq, uint8_t flags, uint32_t plen);
void send_rst_reply(TcpShard& s, const TcpSegIn& seg, bool limited);
void send_limbo_synack(TcpShard& s, const TcpLimbo& l, uint32_t iss);
void send_challenge_ack(TcpShard& s, TcpConn& c);
void retransmit_from(TcpShard& s, TcpConn& c, uint32_t seq, uint32_t max);  // one segment
bool rexmit_hole(TcpShard& s, TcpConn& c);        // the next SACK hole, one segment
uint16_t clamp_mss(uint16_t route, bool v4);
uint32_t ts_now(const TcpShard& s, const TcpConn& c);

// timers (tcp_timer.cc)
void arm(TcpShard& s, TcpConn& c);               // file c under its earliest deadline
void unarm(TcpShard& s, TcpConn& c);
void rto_restart(TcpShard& s, TcpConn& c);
void tlp_arm(TcpShard& s, TcpConn& c);            // after new data was sent
void rtt_sample(TcpShard& s, TcpConn& c, uint32_t rtt_us);
void ka_restart(TcpShard& s, TcpConn& c);         // a segment was sent
void ka_heard(TcpShard& s, TcpConn& c);           // a segment was received
void cc_init(TcpShard& s, TcpConn& c);
void cc_ack(TcpShard& s, TcpConn& c, uint32_t acked);   // new data acked, not in recovery
void cc_loss(TcpShard& s, TcpConn& c, bool rto);        // ssthresh/cwnd on loss
void limbo_timers(TcpShard& s);

// input (tcp_input.cc)
void limbo_remove(TcpShard& s, uint32_t i);
void limbo_clear_listener(TcpShard& s, uint32_t lid);

inline uint32_t flight(const TcpConn& c) { return c.snd_nxt - c.snd_una; }
// Payload bytes one segment may carry: the MSS less the options the segment goes with
// (RFC 6691: the MSS counts none), timestamps and the SACK blocks owed now (data_opts).
inline uint32_t seg_max(const TcpConn& c) {
    uint32_t opt = c.ts_ok ? 12 : 0;
    if (c.sack_ok && c.noos) opt += 4 + 8 * std::min<uint32_t>(c.noos, (38 - opt) / 8);
    return c.mss > opt + 64 ? c.mss - opt : 64;
}
inline uint32_t sacked_bytes(const TcpConn& c) {
    uint32_t n = 0;
    for (int i = 0; i < c.nsack; i++) n += c.sacked[i].r - c.sacked[i].l;
    return n;
}
// first sequence number of the data in the send ring
inline uint32_t snd_base(const TcpConn& c) { return c.syn_acked ? c.snd_una : c.iss + 1; }
inline bool synchronized(TcpState st) { return st >= TcpState::Established; }

}  // namespace devip::proto::tcpi
