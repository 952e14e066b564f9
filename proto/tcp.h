// TCP engine (RFC 9293), sans-I/O: one TcpShard per worker and stack owns its connections,
// listeners, SYN limbo, timer wheel and counters. It knows nothing of DPDK, 9P, Stack, Conv
// or threads. The caller parses segments into TcpSegIn, calls the tcp_* functions with a
// monotonic time in microseconds, then drains shard.tx (segments to wrap in IP) and shard.ev
// (events for the conversation layer) after every call.
// Behaviour: ip3.md §4.6 (9front's tcp.c) with the departures listed in devip(4): RFC 7323
// (window scaling without the shift-0 quirk, timestamps with PAWS), RFC 2018 SACK, NewReno
// (RFC 6582) or CUBIC (RFC 9438), RFC 6298 RTO, RFC 5961 challenge ACKs, RFC 6528 ISNs,
// SYN cookies, RFC 6191 TIME_WAIT reuse, RFC 5927 checked PMTU advice, DF on every segment.
// Formats: status §2.4, stats §2.10; ctl §3.4.
//
// Rules for the caller (the glue):
// * Every call takes `now` (monotonic µs); call tcp_timers at least once a tick (50 ms).
// * After every call, send shard.tx (the spans point into send rings and stay valid only
//   until the next call) and handle shard.ev, then clear both.
// * A connection id stays valid until its Closed event has been seen AND tcp_close was
//   called (the last close); tcp_close on an already Closed connection frees it at once.
// * Readable and WriteSpace are edge-triggered: after Readable read until tcp_read returns
//   0 (tcp_readable tells what is left); WriteSpace follows a send that was short.
// * Err texts in events are static strings, except ICMP advice, which lives in err_text's
//   small ring: copy it out when handling the event.
// * CallArrived passes the new id and its listener; tcp_accepted when the glue gives the
//   call a conversation (the listener's teardown no longer closes it), tcp_taken when a
//   listen open takes it off the listener's queue (the backlog counts the calls not yet
//   taken, whether or not they have a conversation).
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "proto/cmd.h"
#include "proto/err.h"
#include "proto/ip.h"
#include "proto/text.h"

namespace devip::proto {

// ---- constants and tables ------------------------------------------------------------------

enum class TcpState : uint8_t {
    Closed, Listen, Syn_sent, Syn_received, Established, Finwait1, Finwait2, Close_wait,
    Closing, Last_ack, Time_wait,
};
inline constexpr std::string_view kTcpStateNames[] = {
    "Closed", "Listen", "Syn_sent", "Syn_received", "Established", "Finwait1", "Finwait2",
    "Close_wait", "Closing", "Last_ack", "Time_wait",
};

enum TcpFlag : uint8_t {
    TcpFin = 0x01, TcpSyn = 0x02, TcpRst = 0x04, TcpPsh = 0x08, TcpAck = 0x10, TcpUrg = 0x20,
};

enum class TcpCc : uint8_t { NewReno, Cubic };

inline constexpr uint32_t kTcpNoConn = 0xffffffffu;  // TcpTx.conn of a reply to no conversation
inline constexpr int kTcpMaxSack = 4;                // SACK blocks parsed from one segment
inline constexpr int kTcpOooMax = 16;                // out-of-order ranges kept per connection

// Every tunable in one place. Defaults are 9front's (§4.6, §4.17) where it has one.
struct TcpParams {
    uint32_t tick_us = 50000;             // timer granularity; status counts these ticks
    uint32_t rto_init_us = 500000;        // RTO before the first RTT sample
    uint32_t rto_min_us = 300000;         // RTO clamp, low end
    uint32_t rto_max_us = 64000000;       // RTO clamp, high end
    uint64_t syn_giveup_us = 270000000;   // Syn_sent: give up after 4.5 min of backoff
    uint64_t data_giveup_us = 540000000;  // synchronized: give up after 9 min of backoff
    uint64_t zwnd_hold_us = 135000000;    // zero window: ACKs hold the give-up clock here
    uint32_t time_wait_us = 10000000;     // TIME_WAIT (9front's MSL2 = 10 s)
    uint32_t keepalive_us = 120000000;    // keepalive period (DEF_KAT, 2 min)
    uint64_t ka_total_us = 720000000;     // silence before "connection timed out" (12 min)
    uint32_t finwait2_us = 10000000;      // Finwait2 probe period
    uint32_t finwait2_count = 72;         // probes after the last segment received (12 min)
    uint32_t finwait2_first = 6;          // probes before anything came back (~60 s)
    uint32_t delack_us = 50000;           // delayed ACK: one tick
    uint32_t limbo_max = 1000;            // SYN limbo entries
    uint32_t limbo_resend_max = 100;      // more entries than this: no SYN-ACK resends
    uint32_t limbo_retries = 5;           // SYN-ACK resends before the entry is dropped
    uint32_t limbo_rto_us = 250000;       // resend after (retries + 1) × this
    uint16_t backlog = 10;                // pending calls per listener
    uint32_t buf_base = 65535;            // queue and window base (64 KB − 1)
    uint8_t qscale_max = 4;               // queues = buf_base << min(peer shift, this)
    uint8_t wscale = 4;                   // the shift we advertise when scaling is in use
    uint32_t max_conns = 131072;          // connection slab size (≥ 100 000)
    uint64_t mem_cap = 256u << 20;        // buffer memory per shard, bytes
    uint32_t max_burst = 100;             // segments per output pass
    uint32_t rst_per_s = 200;             // RSTs to no conversation, per second
    uint32_t challenge_per_s = 100;       // RFC 5961 challenge ACKs, per second
    uint8_t ttl = 255;                    // default TTL / hop limit of a connection
    TcpCc cc = TcpCc::NewReno;            // default congestion control
    bool sack = true;                     // offer and use SACK (RFC 2018)
    bool timestamps = true;               // offer and use timestamps (RFC 7323)
    bool syncookies = true;               // SYN cookies when the limbo is full
    bool tlp = true;                      // tail loss probes (RFC 8985 §7) when SACK is on
    uint32_t tlp_delack_us = 200000;      // worst-case delayed ACK of the peer (WCDelAckT)
    bool nagle = false;                   // default: 9front's small-segment rule
    // Divides every timer and give-up period by f (a devipd test option: "connection timed
    // out" in seconds). The tick is not scaled below 1 ms.
    void scale(uint32_t f);
};

// The 4-tuple, from our side: laddr/lport are ours. Addresses are v4-mapped for IPv4.
struct TcpTuple {
    Ipaddr laddr, raddr;
    uint16_t lport = 0, rport = 0;
    bool operator==(const TcpTuple&) const = default;
    bool v4() const { return raddr.is_v4(); }
};

// Options of one segment (only what we understand).
struct TcpOpts {
    bool has_mss = false, has_ws = false, sack_ok = false, has_ts = false;
    uint16_t mss = 0;             // MSS option value
    uint8_t ws = 0;               // window-scale shift (clamped to 14, RFC 7323 §2.3)
    uint8_t nsack = 0;            // SACK blocks present
    uint32_t tsval = 0, tsecr = 0;
    uint32_t sack[kTcpMaxSack][2];  // [left, right) edges
};

// A parsed, checksum-verified (or checksum-zero) inbound segment.
struct TcpSegIn {
    TcpTuple t;                   // from the IP header, our side first
    uint32_t seq = 0, ack = 0;
    uint8_t flags = 0;
    uint16_t wnd = 0;             // raw window field, unscaled
    uint16_t urg = 0;             // urgent pointer
    TcpOpts o;
    const uint8_t* data = nullptr;  // payload
    uint32_t len = 0;             // payload bytes
    uint16_t route_mss = 0;       // MSS the route allows toward the peer (0: 1460 v4 / 1220 v6)
};

// One segment to send: the TCP header is complete, checksum included (unless the
// connection has `checksum 0`); the payload is up to two spans into the send buffer, valid
// until the next call into the engine. The caller builds the IP header.
struct TcpTx {
    TcpTuple t;
    uint8_t hdr[60];
    uint8_t hlen = 0;
    const uint8_t* p1 = nullptr;
    uint32_t n1 = 0;
    const uint8_t* p2 = nullptr;
    uint32_t n2 = 0;
    uint8_t ttl = 255, tos = 0;
    bool df = true;               // path MTU discovery: always set
    uint32_t conn = kTcpNoConn;   // sending connection, kTcpNoConn for replies to none
};

enum class TcpEvKind : uint8_t {
    Connected,      // active open completed
    ConnectFailed,  // active open failed: err
    CallArrived,    // passive open completed: listener has a new conn
    Readable,       // new in-order bytes for tcp_read
    WriteSpace,     // the send buffer has room again
    Eof,            // peer FIN: read side hung up without a reason
    Closed,         // TCP reached Closed: err (or none); the id may be recycled after this
    StateChanged,   // state changed (status readers)
};
struct TcpEv {
    TcpEvKind kind;
    uint32_t conn;                // the connection the event is about
    uint32_t user;                // its user field (the glue's conversation number)
    uint32_t listener = kTcpNoConn;  // CallArrived: the listener
    Err err{};                    // ConnectFailed, Closed
    TcpState state = TcpState::Closed;  // the state after the event
};

// Counters. The first 28 are 9front's in its order (§2.10, §4.16); ours follow.
struct TcpStats {
    uint64_t max_conn, max_segment, active_opens, passive_opens, estab_resets, curr_estab;
    uint64_t in_segs, out_segs, retrans_segs, retrans_segs_sent, retrans_timeouts, in_errs;
    uint64_t out_rsts, csum_errs, hlen_errs, len_errs, resequenced, out_of_order;
    uint64_t reseq_bytelim, reseq_pktlim, delayack, wopenack, recovery, recovery_done;
    uint64_t recovery_rto, recovery_noseq, recovery_cwind, recovery_pa;
    // devip's own
    uint64_t opt_errs;            // malformed options (segment dropped, counted in InErrs)
    uint64_t challenge_acks;      // RFC 5961 challenge ACKs sent
    uint64_t challenge_limited;   // challenge ACKs suppressed by the rate limit
    uint64_t rst_limited;         // RSTs to no conversation suppressed by the rate limit
    uint64_t paws_drops;          // segments dropped by PAWS (RFC 7323 §5)
    uint64_t sack_blocks_out;     // SACK blocks sent
    uint64_t sack_blocks_in;      // SACK blocks received
    uint64_t sack_rexmits;        // retransmissions chosen from the SACK scoreboard
    uint64_t cookies_sent;        // SYN-ACKs carrying a SYN cookie (limbo full)
    uint64_t cookies_ok;          // connections made from a valid cookie
    uint64_t cookies_bad;         // ACKs to a listener with no entry and a bad cookie
    uint64_t limbo_drops;         // limbo entries dropped after their last SYN-ACK
    uint64_t limbo_recycled;      // limbo entries recycled by a new SYN
    uint64_t backlog_drops;       // completed handshakes refused: backlog full
    uint64_t mem_refused;         // connections refused: memory cap or no free slot
    uint64_t mem_wnd_clamps;      // data dropped because the buffer memory cap was reached
    uint64_t tw_reuse;            // TIME_WAIT connections reused by a new SYN (RFC 6191)
    uint64_t zwnd_probes;         // zero-window probes sent
    uint64_t ka_probes;           // keepalive probes sent
    uint64_t pmtu_lowered;        // MSS lowered by ICMP frag-needed / packet too big
    uint64_t advice_ignored;      // ICMP advice ignored (state or quoted sequence)
    uint64_t dup_segs;            // segments entirely duplicate
    uint64_t tlp_probes;          // tail loss probes sent (RFC 8985 §7)
    uint64_t calls_refused;       // calls reset after the handshake: the control thread could
                                  // not queue them (listener gone, no free conversation)
    TcpStats& operator+=(const TcpStats& o);
};

// ---- buffers -------------------------------------------------------------------------------

// A ring of bytes in pool memory; cap is a power of two (0 when nothing is allocated).
struct TcpRing {
    uint8_t* p = nullptr;
    uint32_t cap = 0;
    uint32_t head = 0;            // offset of the first byte (send: snd_base; recv: rcv_base)
    uint32_t len = 0;             // bytes held from head
};

// Per-shard buffer memory: free lists of power-of-two blocks (4 KB .. 16 MB), a cap on the
// total held. No allocation once the free lists are warm.
class TcpPool {
public:
    static constexpr int kMinShift = 12, kMaxShift = 24;
    explicit TcpPool(uint64_t cap = 0) : cap_(cap) {}
    ~TcpPool();
    TcpPool(const TcpPool&) = delete;
    TcpPool& operator=(const TcpPool&) = delete;
    uint8_t* get(uint32_t size);  // size is a power of two in range; nullptr at the cap
    bool can_get(uint32_t size) const;
    // the largest block a ring holding `have` bytes could grow to now
    uint32_t could_grow_to(uint32_t have) const;
    bool pressure = false;        // a window was clamped by the cap: new connections refused
    void put(uint8_t* p, uint32_t size);
    uint64_t in_use() const { return in_use_; }
    uint64_t held() const { return held_; }
    void set_cap(uint64_t c) { cap_ = c; }
    uint64_t cap() const { return cap_; }
private:
    bool trim(uint64_t need);     // frees cached blocks until need more bytes fit
    std::vector<uint8_t*> free_[kMaxShift + 1];
    uint64_t cap_, in_use_ = 0, held_ = 0;
};

// ---- connection ----------------------------------------------------------------------------

struct TcpSackRange { uint32_t l, r; };  // [l, r) in sequence space

struct TcpConn {
    TcpTuple t;
    TcpState state = TcpState::Closed;
    uint32_t id = kTcpNoConn;     // slab index
    uint32_t user = 0;            // set by the glue (its conversation number)
    uint32_t listener = kTcpNoConn;  // passive: the listener it arrived on
    bool in_use = false;          // slab slot taken
    bool hashed = false;          // in the 4-tuple table
    bool accepted = true;         // passive: the glue gave it a conversation
    bool taken = true;            // passive: taken off the listener's queue (backlog)
    bool closed_by_user = false;  // tcp_close was called (read side flushed)
    bool syn_acked = false;       // our SYN is acknowledged (send data starts at snd_una)
    bool shut_wr = false;         // no more sends (shutdown/close): FIN after queued data
    bool fin_sent = false;        // our FIN has a sequence number (fin_seq)
    bool rcv_fin = false;         // peer FIN received (in order)
    bool ooo_fin = false;         // peer FIN seen beyond a hole (at ooo_fin_seq)
    bool nocsum = false;          // `checksum 0`: send zero checksums
    bool nagle = false;           // RFC 896 instead of 9front's small-segment rule
    bool ts_ok = false;           // timestamps negotiated
    bool sack_ok = false;         // SACK negotiated
    bool ws_ok = false;           // window scaling negotiated
    bool in_recovery = false;     // fast recovery (NewReno)
    bool rto_backoff = false;     // since the last RTO, no new ack
    bool ack_now = false;         // send an ACK at the end of this input
    bool ack_pending = false;     // a delayed ACK is owed
    bool was_zero_wnd = false;    // we advertised a zero window (force update on reopen)
    bool readable_sent = false;   // a Readable event is outstanding
    bool wspace_wanted = false;   // a send was short: send WriteSpace when room appears
    bool tlp_out = false;         // a tail loss probe is unanswered
    TcpCc cc = TcpCc::NewReno;
    uint8_t ttl = 255, tos = 0;
    uint8_t snd_ws = 0;           // shift the peer applies to its windows (peer's option)
    uint8_t rcv_ws = 0;           // shift we apply to the windows we advertise
    uint8_t qscale = 0;           // queue scale (status)
    uint8_t backoff = 0;          // RTO doublings
    uint8_t dupacks = 0;
    uint8_t noos = 0;             // out-of-order ranges held
    uint8_t nsack = 0;            // scoreboard ranges held
    uint16_t mss = 1460;          // send MSS
    uint16_t our_mss = 1460;      // the MSS we advertised
    uint16_t backlog = 10;        // listener: pending calls allowed
    uint16_t pending = 0;         // listener: calls not yet taken
    // send sequence space
    uint32_t iss = 0, snd_una = 0, snd_nxt = 0, snd_max = 0;  // snd_max: highest sent
    uint32_t snd_wnd = 0;         // peer's window, scaled
    uint32_t max_snd_wnd = 0;     // largest window the peer offered (RFC 5961 §5.2)
    uint32_t snd_wl1 = 0, snd_wl2 = 0;
    uint32_t fin_seq = 0;
    uint32_t recover = 0;         // NewReno recovery point
    uint32_t rexmit_nxt = 0;      // next hole to retransmit in recovery (SACK)
    uint32_t rexmit_bytes = 0;    // retransmitted in this recovery, not yet acked (pipe)
    uint32_t cwnd = 0, ssthresh = 0;
    uint32_t abc_acked = 0;       // bytes acked toward the next CA increase
    uint32_t sndbuf = 65535;      // send queue limit
    TcpRing sq;                   // data from snd_una (head = offset of snd_una's byte)
    // receive sequence space
    uint32_t irs = 0, rcv_nxt = 0, rcv_adv = 0;  // rcv_adv: right edge advertised
    uint32_t rcvbuf = 65535;      // receive queue limit
    uint32_t unconsumed = 0;      // bytes given by tcp_read not yet tcp_consumed
    uint32_t ooo_fin_seq = 0;
    uint32_t ooo_recent = 0;      // left edge of the range the last out-of-order data joined
    uint32_t since_ack = 0;       // bytes received since the last ACK we sent
    uint32_t rerecv = 0;          // bytes received twice
    TcpRing rq;                   // unread in-order bytes, then out-of-order data
    TcpSackRange ooo[kTcpOooMax];  // out-of-order ranges, sorted
    TcpSackRange sacked[kTcpOooMax];  // peer's SACK scoreboard, sorted
    // timestamps
    uint32_t ts_recent = 0;       // peer's TSval to echo
    uint32_t ts_offset = 0;       // added to our clock in TSval
    uint64_t ts_recent_at = 0;    // when ts_recent was taken (PAWS 24-day rule)
    // RTT and timers (microseconds)
    uint32_t srtt_us = 500000, rttvar_us = 0, rto_us = 500000;
    uint32_t rtt_seq = 0;         // sequence being timed (no timestamps)
    uint64_t rtt_at = 0;          // when it was sent (0: none timed)
    uint64_t rto_at = 0;          // retransmit / persist deadline (0: off)
    uint64_t delack_at = 0;       // delayed ACK deadline
    uint64_t ka_at = 0;           // keepalive / Finwait2 probe deadline
    uint64_t tw_at = 0;           // TIME_WAIT expiry
    uint64_t tlp_at = 0;          // tail loss probe (RFC 8985 §7) deadline
    uint64_t giveup_start = 0;    // first unanswered retransmission (0: none)
    uint64_t last_rcv = 0;        // last segment received
    uint64_t created = 0;         // when the state machine started
    uint64_t state_at = 0;        // when the present state was entered (resource recovery)
    uint32_t ka_period_us = 0;    // keepalive period (ctl keepalive changes it)
    uint32_t ka_left = 0;         // probes left before "connection timed out"
    // CUBIC (RFC 9438)
    uint32_t w_max = 0;           // cwnd before the last reduction, bytes
    uint64_t epoch_at = 0;        // start of the current congestion-avoidance epoch
    uint32_t w_est = 0;           // Reno-friendly estimate, bytes
    // timer wheel links
    uint32_t wnext = kTcpNoConn, wprev = kTcpNoConn;
    uint32_t wslot = kTcpNoConn;  // slot it is linked in (kTcpNoConn: none)
    uint64_t wat = 0;             // the deadline it is filed under
    Err err{};                    // the teardown reason
};

// A half-open passive connection (§4.6.1): no conversation until the handshake completes.
struct TcpLimbo {
    TcpTuple t;
    uint32_t irs = 0, iss = 0;
    uint32_t listener = kTcpNoConn;
    uint32_t tsval = 0;           // peer's last TSval
    uint16_t mss = 0;             // peer's MSS (0: none offered)
    uint16_t our_mss = 0;
    uint8_t ws = 0;
    bool has_ws = false, sack_ok = false, has_ts = false;
    uint8_t rexmits = 0;
    bool used = false;
    uint64_t last_sent = 0;
    uint32_t next = kTcpNoConn;   // bucket chain
};

// Connections in chunks of 4096, taken when the free ids run out: references stay valid
// while the slab grows, and a quiet shard holds one chunk, not max_conns entries.
class TcpSlab {
public:
    static constexpr uint32_t kChunk = 4096;
    TcpConn& operator[](uint32_t id) { return chunks_[id / kChunk][id % kChunk]; }
    const TcpConn& operator[](uint32_t id) const { return chunks_[id / kChunk][id % kChunk]; }
    uint32_t size() const { return uint32_t(chunks_.size()) * kChunk; }  // entries allocated
    void grow() { chunks_.push_back(std::make_unique<TcpConn[]>(kChunk)); }
    template <class S, class C>
    struct It {
        S* s;
        uint32_t i;
        C& operator*() const { return (*s)[i]; }
        It& operator++() { return ++i, *this; }
        bool operator!=(const It& o) const { return i != o.i; }
    };
    It<TcpSlab, TcpConn> begin() { return {this, 0}; }
    It<TcpSlab, TcpConn> end() { return {this, size()}; }
    It<const TcpSlab, const TcpConn> begin() const { return {this, 0}; }
    It<const TcpSlab, const TcpConn> end() const { return {this, size()}; }
private:
    std::vector<std::unique_ptr<TcpConn[]>> chunks_;
};

// ---- the shard -----------------------------------------------------------------------------

struct TcpShard {
    TcpShard(const TcpParams& p, const uint8_t key[16], uint64_t now_us = 0);
    ~TcpShard();
    TcpShard(const TcpShard&) = delete;
    TcpShard& operator=(const TcpShard&) = delete;

    TcpParams prm;
    TcpStats st{};
    std::vector<TcpTx> tx;        // drained by the caller after every call
    std::vector<TcpEv> ev;        // drained by the caller after every call
    TcpPool pool;
    // connections
    TcpSlab conns;                // grows by chunks up to prm.max_conns
    std::vector<uint32_t> free_ids;
    std::vector<uint32_t> table;  // open addressing on the 4-tuple, kTcpNoConn = empty
    uint32_t nconns = 0;          // slots in use
    std::vector<uint32_t> listeners;  // ids in Listen
    // limbo
    std::vector<TcpLimbo> limbo;
    std::vector<uint32_t> limbo_head;  // bucket heads
    std::vector<uint32_t> limbo_free;  // free entries
    uint32_t nlimbo = 0;
    // timer wheel: slot = tick mod size; entries past the horizon are refiled when reached
    std::vector<uint32_t> wheel;
    uint64_t wheel_tick = 0;      // next tick to process
    std::vector<uint32_t> due;    // the slot being processed
    // keys and rate limiters
    uint64_t k0, k1;              // SipHash key (ISNs, cookies, hashing)
    uint64_t rl_rst_at = 0, rl_ch_at = 0;  // start of the current 1 s window
    uint32_t rl_rst_n = 0, rl_ch_n = 0;
    uint64_t now = 0;             // time of the current call
    bool porthog = false;         // tcpporthogdefense (9front: global; the glue sets every shard)
    TcpConn& conn(uint32_t id) { return conns[id]; }
    const TcpConn& conn(uint32_t id) const { return conns[id]; }
};

// ---- the calls -----------------------------------------------------------------------------

// Parses raw TCP bytes (header + payload) that arrived from src to dst. Verifies the
// checksum unless it is zero (§4.6.9) or verify is false (offloaded). Counts InSegs and,
// on failure, the reason (CsumErrs, HlenErrs, LenErrs, opt_errs, all in InErrs).
bool tcp_parse(TcpStats& st, const Ipaddr& src, const Ipaddr& dst, const uint8_t* p,
               uint32_t n, TcpSegIn& s, bool verify = true);
// The checksum field value for n bytes of TCP (whose checksum field is zero) over the
// pseudo header (v4 when both addresses are v4-mapped, else v6).
uint16_t tcp_checksum(const Ipaddr& src, const Ipaddr& dst, const uint8_t* p, uint32_t n);

// Active open: the glue chose the addresses and ports; mss is the route's (§4.6.3).
// Sends the SYN. Errors: "connection in use" (the 4-tuple exists), "no free devices" (no
// slot or memory cap).
Result<uint32_t> tcp_open(TcpShard& s, const TcpTuple& t, uint16_t mss, uint64_t now,
                          uint32_t user = 0);
// A listener on laddr (unspecified = any) and lport. Errors: "address in use".
Result<uint32_t> tcp_listen(TcpShard& s, const Ipaddr& laddr, uint16_t lport,
                            uint16_t backlog = 0, uint32_t user = 0);
void tcp_unlisten(TcpShard& s, uint32_t id, uint64_t now);
// One inbound segment (finds the conn, the limbo or the listener; RST for none).
void tcp_input(TcpShard& s, const TcpSegIn& seg, uint64_t now);
// Queues data for sending; returns the bytes accepted (the rest waits for WriteSpace), or
// an error: "i/o on hungup channel" after shutdown, "Hangup" in a state that cannot send.
Result<uint32_t> tcp_send(TcpShard& s, uint32_t id, std::span<const uint8_t> d, uint64_t now);
// Copies in-order received bytes out; they still count against the window until
// tcp_consumed says the reader took them.
uint32_t tcp_read(TcpShard& s, uint32_t id, std::span<uint8_t> dst, uint64_t now);
void tcp_consumed(TcpShard& s, uint32_t id, uint32_t n, uint64_t now);
// Bytes readable now (in order, not yet tcp_read).
uint32_t tcp_readable(const TcpShard& s, uint32_t id);
// The glue gave call id a conversation: it no longer goes with its listener.
void tcp_accepted(TcpShard& s, uint32_t id);
// A listen open took call id off its listener's queue: the backlog has room again.
void tcp_taken(TcpShard& s, uint32_t id);
// The TCP ctl verbs (§3.4 and ours): close, hangup, keepalive, checksum,
// tcpporthogdefense, shutdown, backlog, nagle, cc, mss.
Err tcp_ctl(TcpShard& s, uint32_t id, const CtlArgs& a, uint64_t now);
// Last close of the fds (§4.6.2). The id stays valid until the connection is Closed and
// tcp_close has been called; it is recycled then (after its Closed event).
void tcp_close(TcpShard& s, uint32_t id, uint64_t now);
// RST+ACK and local teardown (the `hangup` ctl).
void tcp_hangup(TcpShard& s, uint32_t id, uint64_t now);
// Half close: FIN after the queued data; later sends fail.
Err tcp_shutdown(TcpShard& s, uint32_t id, uint64_t now);
// ICMP about a segment we sent. q: the quoted tuple (as we sent it, our side first) and
// sequence. frag = frag-needed / packet too big with the next-hop mtu (bytes of IP packet);
// else unreachable/ttl with its advice text (fails a Syn_sent connect).
void tcp_advise(TcpShard& s, const TcpTuple& q, uint32_t qseq, bool frag, uint32_t mtu,
                const char* advice, uint64_t now);
// 9front's resource recovery (§4.6.11), for a clone that found no free conversation:
// closes Syn_received connections older than 5 s and Finwait2 ones older than 5 min with
// "connection timed out". Returns how many were closed.
uint32_t tcp_reclaim(TcpShard& s, uint64_t now);
// Advances the timer wheel to now.
void tcp_timers(TcpShard& s, uint64_t now);
// Lookup by tuple (our side first); kTcpNoConn if none.
uint32_t tcp_lookup(const TcpShard& s, const TcpTuple& t);

void tcp_state_text(const TcpShard& s, const TcpConn& c, uint64_t now, Text& out);
void tcp_stats_text(const TcpStats& st, Text& out);
uint64_t tcp_mem(const TcpShard& s);  // bytes: slab + table + buffers held

}  // namespace devip::proto
