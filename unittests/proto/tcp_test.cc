// The TCP engine against itself over an in-memory wire (tcp_wire.h): handshakes, transfers
// with loss and reordering, teardown, RSTs, timers. Reference: ip3.md §4.6, formats §2.4 and
// §2.10, ctl §3.4; RFCs named per test.
#include "proto/tcp.h"

#include <gtest/gtest.h>

#include "unittests/proto/tcp_wire.h"

namespace devip::proto {
namespace {

using test::Pump;
using test::Wire;
using test::WireSeg;

const TcpConn& C(Wire& w, int side, uint32_t id) { return w.sh(side).conn(id); }

// ---- parsing and checksums (§4.6.9) ------------------------------------------------------

std::vector<uint8_t> raw_seg(uint8_t flags, std::vector<uint8_t> opts = {}, size_t payload = 0) {
    std::vector<uint8_t> b(20 + opts.size() + payload, 0);
    put16(b.data(), 1234), put16(b.data() + 2, 80);
    put32(b.data() + 4, 1000), put32(b.data() + 8, 0);
    b[12] = uint8_t((20 + opts.size()) / 4 << 4);
    b[13] = flags;
    put16(b.data() + 14, 65535);
    std::copy(opts.begin(), opts.end(), b.begin() + 20);
    return b;
}

TEST(TcpParse, ChecksumVerifiedAndZeroAccepted_4_6_9) {
    Ipaddr s = Ipaddr::v4(198, 18, 0, 1), d = Ipaddr::v4(198, 18, 0, 2);
    auto b = raw_seg(TcpSyn, {2, 4, 5, 0xb4}, 3);
    TcpStats st{};
    TcpSegIn g;
    EXPECT_TRUE(tcp_parse(st, s, d, b.data(), uint32_t(b.size()), g));  // zero: accepted
    put16(b.data() + 16, tcp_checksum(s, d, b.data(), uint32_t(b.size())));
    EXPECT_TRUE(tcp_parse(st, s, d, b.data(), uint32_t(b.size()), g));
    EXPECT_EQ(g.o.mss, 1460);
    EXPECT_EQ(g.len, 3u);
    EXPECT_EQ(g.t.lport, 80);
    EXPECT_EQ(g.t.rport, 1234);
    b[21] ^= 1;
    EXPECT_FALSE(tcp_parse(st, s, d, b.data(), uint32_t(b.size()), g));
    EXPECT_EQ(st.csum_errs, 1u);
    EXPECT_EQ(st.in_errs, 1u);
    EXPECT_EQ(st.in_segs, 3u);
}

TEST(TcpParse, V6PseudoHeader_4_6_9) {
    Ipaddr s{}, d{};
    s.b[0] = 0x20, s.b[1] = 0x01, s.b[2] = 0, s.b[3] = 2, s.b[15] = 1;
    d = s, d.b[15] = 2;
    auto b = raw_seg(TcpAck, {}, 5);
    put16(b.data() + 16, tcp_checksum(s, d, b.data(), uint32_t(b.size())));
    TcpStats st{};
    TcpSegIn g;
    EXPECT_TRUE(tcp_parse(st, s, d, b.data(), uint32_t(b.size()), g));
    EXPECT_FALSE(tcp_parse(st, d, s, b.data(), uint32_t(b.size()) - 1, g));
}

TEST(TcpParse, MalformedHeadersCounted) {
    Ipaddr s = Ipaddr::v4(1, 1, 1, 1), d = Ipaddr::v4(2, 2, 2, 2);
    TcpStats st{};
    TcpSegIn g;
    auto b = raw_seg(TcpSyn);
    EXPECT_FALSE(tcp_parse(st, s, d, b.data(), 19, g));
    EXPECT_EQ(st.len_errs, 1u);
    b[12] = 0x40;  // header length 16
    EXPECT_FALSE(tcp_parse(st, s, d, b.data(), 20, g));
    b[12] = 0xf0;  // 60 > 20
    EXPECT_FALSE(tcp_parse(st, s, d, b.data(), 20, g));
    EXPECT_EQ(st.hlen_errs, 2u);
    for (auto opts : std::vector<std::vector<uint8_t>>{{2, 3, 5, 0}, {3, 4, 7, 0}, {8, 9, 0, 0},
                                                       {5, 6, 0, 0}, {2, 0, 0, 0}, {2, 40, 0, 0}}) {
        auto o = raw_seg(TcpSyn, opts);
        EXPECT_FALSE(tcp_parse(st, s, d, o.data(), uint32_t(o.size()), g));
    }
    EXPECT_EQ(st.opt_errs, 6u);
    EXPECT_EQ(st.in_errs, 9u);
    auto ok = raw_seg(TcpSyn, {1, 0x1e, 2, 3, 3, 20, 0, 0});  // unknown option
    EXPECT_TRUE(tcp_parse(st, s, d, ok.data(), uint32_t(ok.size()), g));
    EXPECT_EQ(g.o.ws, 14);  // RFC 7323 §2.3: clamped
}

// ---- handshakes (§4.6.1) ---------------------------------------------------------------------

TEST(TcpOpen, HandshakeNegotiatesOptions_4_6_1) {
    Wire w;
    auto [a, b] = w.connect();
    EXPECT_EQ(C(w, 0, a).state, TcpState::Established);
    EXPECT_EQ(C(w, 1, b).state, TcpState::Established);
    const WireSeg& syn = w.log[0];
    EXPECT_EQ(syn.s.flags, TcpSyn);
    EXPECT_TRUE(syn.s.o.has_mss && syn.s.o.has_ws && syn.s.o.sack_ok && syn.s.o.has_ts);
    EXPECT_EQ(syn.s.o.mss, 1460);
    EXPECT_EQ(syn.s.o.ws, 4);
    const WireSeg& sa = w.log[1];
    EXPECT_EQ(sa.s.flags, TcpSyn | TcpAck);
    EXPECT_EQ(sa.s.wnd, 65535);
    EXPECT_EQ(sa.s.ack, syn.s.seq + 1);
    EXPECT_TRUE(C(w, 0, a).ts_ok && C(w, 0, a).sack_ok && C(w, 0, a).ws_ok);
    EXPECT_EQ(C(w, 1, b).qscale, 4);
    EXPECT_EQ(C(w, 1, b).rcvbuf, 65535u << 4);
    EXPECT_EQ(w.b.st.passive_opens, 1u);  // the announce
    EXPECT_EQ(w.a.st.active_opens, 1u);
    EXPECT_EQ(w.a.st.curr_estab, 1u);
    EXPECT_EQ(w.b.nlimbo, 0u);
    const TcpEv* ca = w.find_ev(1, TcpEvKind::CallArrived);
    ASSERT_TRUE(ca);
    EXPECT_EQ(C(w, 1, ca->listener).state, TcpState::Listen);
}

TEST(TcpOpen, NoWindowScaleOfferedNoneAnswered_RFC7323) {
    TcpParams p;
    Wire w;
    w.filter = [](WireSeg& s) {  // strip A's options from its SYN: 20-byte header
        if (s.from == 0 && (s.s.flags & TcpSyn)) {
            s.bytes.resize(20);
            s.bytes[12] = 0x50;
            put16(s.bytes.data() + 16, 0);
        }
        return true;
    };
    auto [a, b] = w.connect();
    const WireSeg& sa = w.log[1];
    EXPECT_FALSE(sa.s.o.has_ws);  // not the unsolicited v4 option of 9front
    EXPECT_FALSE(sa.s.o.sack_ok);
    EXPECT_FALSE(sa.s.o.has_ts);
    EXPECT_FALSE(C(w, 1, b).ws_ok);
    EXPECT_EQ(C(w, 1, b).rcv_ws, 0);
    EXPECT_EQ(C(w, 1, b).qscale, 0);
    EXPECT_EQ(C(w, 1, b).mss, 1460);  // no MSS option: our own, no 536 default (§4.6.3)
}

TEST(TcpOpen, WindowScaleShiftZeroIsAnOption_RFC7323) {
    Wire w;
    w.filter = [](WireSeg& s) {
        if (s.from == 0 && (s.s.flags & TcpSyn)) {
            for (size_t i = 20; i + 2 < s.bytes.size(); i++)
                if (s.bytes[i] == 3 && s.bytes[i + 1] == 3) s.bytes[i + 2] = 0;
            put16(s.bytes.data() + 16, 0);
        }
        return true;
    };
    auto [a, b] = w.connect();
    EXPECT_TRUE(C(w, 1, b).ws_ok);     // 9front's quirk would turn its own scaling off
    EXPECT_EQ(C(w, 1, b).rcv_ws, 4);
    EXPECT_EQ(C(w, 1, b).snd_ws, 0);
    Pump p(w, 1, b, a, 300000);
    EXPECT_TRUE(w.run_until([&] { return p.done(); }, 30000000, [&] { p.step(); }));
    EXPECT_EQ(p.got, p.data);
}

TEST(TcpOpen, SimultaneousOpen_4_6_1) {
    Wire w;
    auto ca = tcp_open(w.a, w.tuple(0, 5000, 6000), 1460, w.now);
    auto cb = tcp_open(w.b, w.tuple(1, 6000, 5000), 1460, w.now);
    ASSERT_TRUE(ca && cb);
    w.drain();
    EXPECT_TRUE(w.run_until([&] {
        return C(w, 0, *ca).state == TcpState::Established &&
               C(w, 1, *cb).state == TcpState::Established;
    }, 5000000));
    EXPECT_TRUE(w.has_ev(0, TcpEvKind::Connected));
    EXPECT_TRUE(w.has_ev(1, TcpEvKind::Connected));
    Pump p(w, 0, *ca, *cb, 100000);
    EXPECT_TRUE(w.run_until([&] { return p.done(); }, 20000000, [&] { p.step(); }));
    EXPECT_EQ(p.got, p.data);
}

TEST(TcpOpen, ClosedPortRefused_4_6_1) {
    Wire w;
    auto c = tcp_open(w.a, w.tuple(0, 40000, 81), 1460, w.now);
    ASSERT_TRUE(c);
    w.drain();
    w.run(100000);
    const TcpEv* e = w.find_ev(0, TcpEvKind::ConnectFailed);
    ASSERT_TRUE(e);
    EXPECT_STREQ(e->err.text, "connection refused");
    EXPECT_TRUE(w.has_ev(0, TcpEvKind::Closed));
    EXPECT_EQ(w.b.st.out_rsts, 1u);
    EXPECT_EQ(C(w, 0, *c).state, TcpState::Closed);
}

TEST(TcpOpen, SynGiveUpTimesOut_4_6_7) {
    Wire w;
    w.loss = 1;
    auto c = tcp_open(w.a, w.tuple(0, 40000, 80), 1460, w.now);
    ASSERT_TRUE(c);
    w.drain();
    uint64_t t0 = w.now;
    EXPECT_TRUE(w.run_until([&] { return w.has_ev(0, TcpEvKind::ConnectFailed); }, 400000000));
    EXPECT_STREQ(w.find_ev(0, TcpEvKind::ConnectFailed)->err.text, "connection timed out");
    uint64_t took = w.now - t0;
    EXPECT_GE(took, 270000000u);               // 4.5 min of backoff
    EXPECT_LE(took, 270000000u + 64000000u);   // within one RTO cap after it
    EXPECT_GT(w.a.st.retrans_timeouts, 5u);
}

TEST(TcpOpen, ScaledTimersForTests) {
    TcpParams p;
    p.scale(100);
    Wire w(p, p);
    w.loss = 1;
    auto c = tcp_open(w.a, w.tuple(0, 40000, 80), 1460, w.now);
    ASSERT_TRUE(c);
    w.drain();
    EXPECT_TRUE(w.run_until([&] { return w.has_ev(0, TcpEvKind::ConnectFailed); }, 4000000));
    EXPECT_STREQ(w.find_ev(0, TcpEvKind::ConnectFailed)->err.text, "connection timed out");
}

TEST(TcpOpen, FourTupleInUse_3_16) {
    Wire w;
    auto c = tcp_open(w.a, w.tuple(0, 40000, 80), 1460, w.now);
    ASSERT_TRUE(c);
    auto d = tcp_open(w.a, w.tuple(0, 40000, 80), 1460, w.now);
    ASSERT_FALSE(d);
    EXPECT_STREQ(d.err().text, "connection in use");
    auto l = tcp_listen(w.b, IPnoaddr, 80);
    auto l2 = tcp_listen(w.b, IPnoaddr, 80);
    ASSERT_TRUE(l);
    EXPECT_STREQ(l2.err().text, "address in use");
}

TEST(TcpOpen, IcmpAdviceFailsConnect_4_6_12) {
    Wire w;
    w.loss = 1;
    auto c = tcp_open(w.a, w.tuple(0, 40000, 80), 1460, w.now);
    ASSERT_TRUE(c);
    uint32_t iss = C(w, 0, *c).iss;
    w.drain();
    tcp_advise(w.a, w.tuple(0, 40000, 80), iss + 5, false, 0, "no route", w.now);
    EXPECT_EQ(C(w, 0, *c).state, TcpState::Syn_sent);  // not our sequence
    tcp_advise(w.a, w.tuple(0, 40000, 80), iss, false, 0, "host unreachable from 1.2.3.4",
               w.now);
    w.drain();
    const TcpEv* e = w.find_ev(0, TcpEvKind::ConnectFailed);
    ASSERT_TRUE(e);
    EXPECT_STREQ(e->err.text, "host unreachable from 1.2.3.4");
}

// ---- limbo (§4.6.1) and SYN cookies ------------------------------------------------------------

TcpSegIn syn_to(Wire& w, uint16_t rport, uint32_t seq, uint8_t flags = TcpSyn) {
    TcpSegIn g;
    g.t = w.tuple(1, 80, rport);
    g.seq = seq, g.flags = flags, g.wnd = 65535;
    g.o.has_mss = true, g.o.mss = 1460;
    return g;
}

TEST(TcpLimbo, RepeatedSynResendsSameIss_4_6_1) {
    Wire w;
    ASSERT_TRUE(tcp_listen(w.b, IPnoaddr, 80));
    tcp_input(w.b, syn_to(w, 999, 100), w.now);
    ASSERT_EQ(w.b.tx.size(), 1u);
    uint32_t iss = get32(w.b.tx[0].hdr + 4);
    EXPECT_EQ(get32(w.b.tx[0].hdr + 8), 101u);
    w.b.tx.clear();
    tcp_input(w.b, syn_to(w, 999, 500), w.now + 1000);
    ASSERT_EQ(w.b.tx.size(), 1u);
    EXPECT_EQ(get32(w.b.tx[0].hdr + 4), iss);
    EXPECT_EQ(get32(w.b.tx[0].hdr + 8), 501u);  // the new peer ISN
    EXPECT_EQ(w.b.nlimbo, 1u);
}

TEST(TcpLimbo, RstRemovesEntry_4_6_1) {
    Wire w;
    ASSERT_TRUE(tcp_listen(w.b, IPnoaddr, 80));
    tcp_input(w.b, syn_to(w, 999, 100), w.now);
    tcp_input(w.b, syn_to(w, 999, 50, TcpRst), w.now);
    EXPECT_EQ(w.b.nlimbo, 1u);  // wrong sequence
    tcp_input(w.b, syn_to(w, 999, 101, TcpRst), w.now);
    EXPECT_EQ(w.b.nlimbo, 0u);
}

TEST(TcpLimbo, SynAckResentThenDropped_4_6_1) {
    Wire w;
    ASSERT_TRUE(tcp_listen(w.b, IPnoaddr, 80));
    tcp_input(w.b, syn_to(w, 999, 100), w.now);
    w.b.tx.clear();
    size_t sent = 0;
    for (int i = 0; i < 200; i++) {
        w.now += 50000;
        tcp_timers(w.b, w.now);
        sent += w.b.tx.size();
        w.b.tx.clear();
    }
    EXPECT_EQ(sent, 5u);  // dropped after the 5th resend
    EXPECT_EQ(w.b.nlimbo, 0u);
    EXPECT_EQ(w.b.st.limbo_drops, 1u);
}

TEST(TcpLimbo, BacklogFullRefused_4_6_1) {
    Wire w;
    auto l = tcp_listen(w.b, IPnoaddr, 80, 1);
    ASSERT_TRUE(l);
    auto c1 = tcp_open(w.a, w.tuple(0, 40001, 80), 1460, w.now);
    w.drain();
    w.run(100000);
    EXPECT_TRUE(w.has_ev(1, TcpEvKind::CallArrived));
    auto c2 = tcp_open(w.a, w.tuple(0, 40002, 80), 1460, w.now);
    w.drain();
    w.run(100000);
    EXPECT_EQ(w.b.st.backlog_drops, 1u);
    EXPECT_EQ(C(w, 0, *c2).state, TcpState::Closed);  // the RST reset it
    EXPECT_EQ(C(w, 0, *c1).state, TcpState::Established);
    // accepting the first call does not make room; taking it off the queue does
    uint32_t first = w.find_ev(1, TcpEvKind::CallArrived)->conn;
    tcp_accepted(w.b, first);
    auto c2b = tcp_open(w.a, w.tuple(0, 40004, 80), 1460, w.now);
    w.drain();
    w.run(100000);
    EXPECT_EQ(w.b.st.backlog_drops, 2u);
    EXPECT_EQ(C(w, 0, *c2b).state, TcpState::Closed);
    tcp_taken(w.b, first);
    auto c3 = tcp_open(w.a, w.tuple(0, 40003, 80), 1460, w.now);
    w.drain();
    w.run(100000);
    EXPECT_EQ(C(w, 0, *c3).state, TcpState::Established);
}

TEST(TcpLimbo, SynCookiesWhenFull) {
    TcpParams pb;
    pb.limbo_max = 2;
    Wire w({}, pb);
    ASSERT_TRUE(tcp_listen(w.b, IPnoaddr, 80));
    tcp_input(w.b, syn_to(w, 1, 100), w.now);
    tcp_input(w.b, syn_to(w, 2, 100), w.now);
    w.b.tx.clear();
    EXPECT_EQ(w.b.nlimbo, 2u);
    auto c = tcp_open(w.a, w.tuple(0, 40000, 80), 1460, w.now);
    ASSERT_TRUE(c);
    w.drain();
    w.run(100000);
    EXPECT_EQ(w.b.st.cookies_sent, 1u);
    EXPECT_EQ(w.b.st.cookies_ok, 1u);
    EXPECT_EQ(C(w, 0, *c).state, TcpState::Established);
    const TcpEv* e = w.find_ev(1, TcpEvKind::CallArrived);
    ASSERT_TRUE(e);
    const TcpConn& bc = C(w, 1, e->conn);
    EXPECT_TRUE(bc.ws_ok);  // wscale and SACK-permitted came back through the timestamp
    EXPECT_TRUE(bc.sack_ok);
    EXPECT_EQ(bc.snd_ws, 4);
    EXPECT_EQ(bc.mss, 1460);
    Pump p(w, 0, *c, e->conn, 200000);
    EXPECT_TRUE(w.run_until([&] { return p.done(); }, 20000000, [&] { p.step(); }));
    EXPECT_EQ(p.got, p.data);
    // a forged ACK fails the cookie
    tcp_input(w.b, syn_to(w, 3, 12345, TcpAck), w.now);
    EXPECT_EQ(w.b.st.cookies_bad, 1u);
}

// ---- data transfer -----------------------------------------------------------------------------

struct Bulk {
    uint64_t retrans, sack_rexmits, sack_out, timeouts;
};

Bulk bulk(double loss, double reorder, size_t n, TcpCc cc = TcpCc::NewReno, bool both = false) {
    TcpParams p;
    p.cc = cc;
    Wire w(p, p);
    w.keep_log = false;
    auto [a, b] = w.connect();
    w.loss = loss, w.reorder = reorder;
    Pump p1(w, 0, a, b, n, 1);
    Pump p2(w, 1, b, a, both ? n : 0, 2);
    bool ok = w.run_until([&] { return p1.done() && p2.done(); }, 600000000,
                          [&] { p1.step(), p2.step(); });
    EXPECT_TRUE(ok) << "got " << p1.got.size() << " of " << n;
    EXPECT_TRUE(p1.got == p1.data);
    EXPECT_TRUE(p2.got == p2.data);
    return {w.a.st.retrans_segs_sent, w.a.st.sack_rexmits, w.b.st.sack_blocks_out,
            w.a.st.retrans_timeouts};
}

TEST(TcpData, BulkNoLoss) {
    Bulk r = bulk(0, 0, 4 << 20);
    EXPECT_EQ(r.retrans, 0u);
}

TEST(TcpData, BulkBothWays) { bulk(0, 0, 1 << 20, TcpCc::NewReno, true); }

TEST(TcpData, BulkTwoPercentLoss) {
    Bulk r = bulk(0.02, 0, 3 << 20);
    EXPECT_GT(r.retrans, 0u);
    EXPECT_GT(r.sack_out, 0u);
    EXPECT_GT(r.sack_rexmits, 0u);
}

TEST(TcpData, BulkTenPercentLoss) {
    Bulk r = bulk(0.10, 0, 2 << 20);
    EXPECT_GT(r.retrans, 0u);
    EXPECT_GT(r.timeouts, 0u);
}

TEST(TcpData, BulkReordering) {
    Bulk r = bulk(0, 0.05, 3 << 20);
    EXPECT_GT(r.sack_out, 0u);
}

TEST(TcpData, BulkCubicWithLoss_RFC9438) {
    Bulk r = bulk(0.02, 0.02, 3 << 20, TcpCc::Cubic);
    EXPECT_GT(r.retrans, 0u);
}

TEST(TcpData, DuplicationAndCorruption) {
    Wire w;
    w.keep_log = false;
    auto [a, b] = w.connect();
    w.dup = 0.05, w.corrupt = 0.03;
    Pump p(w, 0, a, b, 1 << 20);
    EXPECT_TRUE(w.run_until([&] { return p.done(); }, 300000000, [&] { p.step(); }));
    EXPECT_EQ(p.got, p.data);
    EXPECT_GT(w.b.st.csum_errs, 0u);
    EXPECT_GT(w.b.st.dup_segs + w.b.st.paws_drops, 0u);
}

TEST(TcpData, ZeroWindowProbes_4_6_5) {
    Wire w;
    auto [a, b] = w.connect();
    Pump p(w, 0, a, b, 3 << 20);
    p.reading = false;
    w.run(5000000, [&] { p.step(); });
    EXPECT_EQ(C(w, 0, a).snd_wnd, 0u);
    uint64_t probes = w.a.st.zwnd_probes;
    w.run(20000000, [&] { p.step(); });
    EXPECT_GT(w.a.st.zwnd_probes, probes);
    EXPECT_EQ(C(w, 0, a).state, TcpState::Established);
    p.reading = true;
    EXPECT_TRUE(w.run_until([&] { return p.done(); }, 120000000, [&] { p.step(); }));
    EXPECT_EQ(p.got, p.data);
}

TEST(TcpData, ZeroWindowPeerNeverTimedOut_4_6_7) {
    Wire w;
    auto [a, b] = w.connect();
    Pump p(w, 0, a, b, 3 << 20);
    p.reading = false;
    w.keep_log = false;
    w.run(20 * 60 * 1000000ull, [&] { p.step(); });  // 20 minutes of zero window
    EXPECT_EQ(C(w, 0, a).state, TcpState::Established);
}

TEST(TcpData, UnconsumedBytesCountAgainstWindow) {
    Wire w;
    auto [a, b] = w.connect();
    uint8_t buf[4000] = {};
    ASSERT_TRUE(tcp_send(w.a, a, buf, w.now));
    w.run(100000);
    uint8_t got[4000];
    EXPECT_EQ(tcp_read(w.b, b, got, w.now), 4000u);
    const TcpConn& c = C(w, 1, b);
    EXPECT_EQ(c.unconsumed, 4000u);
    Text t;
    tcp_state_text(w.b, c, w.now, t);
    EXPECT_NE(t.str().find("qin 4000 "), std::string::npos) << t.str();
    tcp_consumed(w.b, b, 4000, w.now);
    EXPECT_EQ(c.unconsumed, 0u);
}

TEST(TcpData, SmallSegmentRuleAndNagle_4_6_5) {
    for (bool nagle : {false, true}) {
        Wire w;
        auto [a, b] = w.connect();
        if (nagle) {
            ASSERT_FALSE(tcp_ctl(w.a, a, parsecmd("nagle on"), w.now));
        }
        w.drain();
        size_t before = w.log.size();
        uint8_t x[10] = {};
        tcp_send(w.a, a, x, w.now);
        tcp_send(w.a, a, x, w.now);  // the first is unacknowledged
        w.drain();
        size_t data = 0;
        for (size_t i = before; i < w.log.size(); i++) data += w.log[i].s.len ? 1 : 0;
        EXPECT_EQ(data, nagle ? 1u : 2u) << "nagle " << nagle;
    }
}

TEST(TcpData, DelayedAckOneTick_4_6_6) {
    Wire w;
    auto [a, b] = w.connect();
    w.drain();
    uint8_t x[100] = {};
    tcp_send(w.a, a, x, w.now);
    w.drain();
    size_t before = w.log.size();
    w.run(2000);  // delivered, not yet acked
    for (size_t i = before; i < w.log.size(); i++) EXPECT_NE(w.log[i].from, 1);
    w.run(100000);
    bool acked = false;
    for (size_t i = before; i < w.log.size(); i++) acked |= w.log[i].from == 1;
    EXPECT_TRUE(acked);
    // 2 × MSS received forces an immediate ACK
    uint8_t big[2920] = {};
    uint64_t d = w.b.st.delayack;
    tcp_send(w.a, a, big, w.now);
    w.drain();
    w.run(2000);
    EXPECT_EQ(w.b.st.delayack, d + 1);
}

TEST(TcpData, PmtuAdviceLowersMss_RFC5927) {
    Wire w;
    auto [a, b] = w.connect();
    w.loss = 1;
    std::vector<uint8_t> x(10000);
    tcp_send(w.a, a, x, w.now);
    w.drain();
    const TcpConn& c = C(w, 0, a);
    tcp_advise(w.a, w.tuple(0, 40000, 80), c.snd_nxt + 10, true, 1400, nullptr, w.now);
    EXPECT_EQ(c.mss, 1460);  // not in flight: ignored
    size_t before = w.log.size();
    tcp_advise(w.a, w.tuple(0, 40000, 80), c.snd_una, true, 1400, nullptr, w.now);
    EXPECT_EQ(c.mss, 1360);
    EXPECT_EQ(w.a.st.pmtu_lowered, 1u);
    w.drain();
    w.loss = 0;
    ASSERT_GT(w.log.size(), before);
    for (size_t i = before; i < w.log.size(); i++) EXPECT_LE(w.log[i].s.len, 1360u);
}

// ---- teardown (§4.6.2) -------------------------------------------------------------------------

TEST(TcpClose, HalfCloseThenPeerSends) {
    Wire w;
    auto [a, b] = w.connect();
    Pump p(w, 0, a, b, 100000);
    p.shut_after = true;
    EXPECT_TRUE(w.run_until([&] { return p.done() && w.has_ev(1, TcpEvKind::Eof); }, 10000000,
                            [&] { p.step(); }));
    EXPECT_EQ(C(w, 1, b).state, TcpState::Close_wait);
    EXPECT_EQ(C(w, 0, a).state, TcpState::Finwait2);
    auto r = tcp_send(w.a, a, std::vector<uint8_t>(10), w.now);
    EXPECT_STREQ(r.err().text, "i/o on hungup channel");
    Pump back(w, 1, b, a, 50000);
    EXPECT_TRUE(w.run_until([&] { return back.done(); }, 10000000, [&] { back.step(); }));
    EXPECT_EQ(back.got, back.data);
    tcp_close(w.b, b, w.now);
    w.drain();
    EXPECT_TRUE(w.run_until([&] { return C(w, 0, a).state == TcpState::Time_wait; }, 1000000));
    EXPECT_TRUE(w.has_ev(0, TcpEvKind::Eof));
    uint64_t t = w.now;
    EXPECT_TRUE(w.run_until([&] { return C(w, 0, a).state == TcpState::Closed; }, 20000000));
    EXPECT_GE(w.now - t, 10000000u - 100000);  // TIME_WAIT 10 s
    EXPECT_LE(w.now - t, 10000000u + 100000);
    EXPECT_TRUE(w.has_ev(1, TcpEvKind::Closed, b));
}

TEST(TcpClose, EveryState_4_6_2) {
    // Established: FIN, Finwait1
    {
        Wire w;
        auto [a, b] = w.connect();
        tcp_close(w.a, a, w.now);
        EXPECT_EQ(C(w, 0, a).state, TcpState::Finwait1);
        w.drain();
        EXPECT_TRUE(w.log.back().s.flags & TcpFin);
        w.run(100000);
        EXPECT_EQ(C(w, 0, a).state, TcpState::Finwait2);
        EXPECT_EQ(C(w, 1, b).state, TcpState::Close_wait);
        tcp_close(w.b, b, w.now);  // Close_wait: Last_ack
        EXPECT_EQ(C(w, 1, b).state, TcpState::Last_ack);
        w.drain();
        w.run(100000);
        EXPECT_TRUE(w.has_ev(1, TcpEvKind::Closed));
        EXPECT_EQ(C(w, 0, a).state, TcpState::Time_wait);
    }
    // Listen and Syn_sent: torn down at once
    {
        Wire w;
        w.loss = 1;
        auto l = tcp_listen(w.b, IPnoaddr, 80);
        tcp_close(w.b, *l, w.now);
        w.drain();
        EXPECT_TRUE(w.has_ev(1, TcpEvKind::Closed));
        auto c = tcp_open(w.a, w.tuple(0, 1, 2), 1460, w.now);
        tcp_close(w.a, *c, w.now);
        w.drain();
        const TcpEv* e = w.find_ev(0, TcpEvKind::ConnectFailed);
        ASSERT_TRUE(e);
        EXPECT_STREQ(e->err.text, "Hangup");
        EXPECT_EQ(w.a.nconns, 0u);  // the id went back
    }
    // simultaneous close: Closing, then both Time_wait
    {
        Wire w;
        auto [a, b] = w.connect();
        tcp_close(w.a, a, w.now);
        tcp_close(w.b, b, w.now);
        w.drain();
        w.run(1500);
        EXPECT_EQ(C(w, 0, a).state, TcpState::Closing);
        w.run(100000);
        EXPECT_EQ(C(w, 0, a).state, TcpState::Time_wait);
        EXPECT_EQ(C(w, 1, b).state, TcpState::Time_wait);
        w.run(11000000);
        EXPECT_EQ(w.a.nconns, 0u);
        EXPECT_EQ(w.b.nconns, 1u);  // the listener
    }
}

TEST(TcpClose, ListenerCloseClosesPendingCalls_4_6_2) {
    Wire w;
    auto [a, b] = w.connect();
    uint32_t lid = w.find_ev(1, TcpEvKind::CallArrived)->listener;
    tcp_close(w.b, lid, w.now);
    w.drain();
    EXPECT_EQ(C(w, 1, b).state, TcpState::Finwait1);
    w.run(100000);
    EXPECT_EQ(C(w, 0, a).state, TcpState::Close_wait);
}

TEST(TcpClose, Finwait2TimesOut_4_6_2) {
    Wire w;
    auto [a, b] = w.connect();
    tcp_close(w.a, a, w.now);
    w.drain();
    w.run(100000);
    ASSERT_EQ(C(w, 0, a).state, TcpState::Finwait2);
    w.loss = 1;  // the peer is gone
    uint64_t t = w.now;
    EXPECT_TRUE(w.run_until([&] { return C(w, 0, a).state == TcpState::Closed ||
                                         !C(w, 0, a).in_use; }, 200000000));
    EXPECT_NEAR(double(w.now - t), 60e6, 11e6);
    bool timed_out = false;
    for (auto& e : w.evs[0])
        if (e.kind == TcpEvKind::Closed && e.err)
            timed_out = !strcmp(e.err.text, "connection timed out");
    EXPECT_TRUE(timed_out);
}

TEST(TcpClose, WriteInFinwaitHangsUp_4_6_2) {
    Wire w;
    auto [a, b] = w.connect();
    ASSERT_FALSE(tcp_shutdown(w.a, a, w.now));
    auto r = tcp_send(w.a, a, std::vector<uint8_t>(1), w.now);
    EXPECT_STREQ(r.err().text, "i/o on hungup channel");
    TcpConn& c = w.a.conn(a);
    c.shut_wr = false;  // as 9front's close does not set it: a write in Finwait1
    r = tcp_send(w.a, a, std::vector<uint8_t>(1), w.now);
    EXPECT_STREQ(r.err().text, "Hangup");
    EXPECT_EQ(c.state, TcpState::Closed);
}

TEST(TcpClose, HangupSendsRst_3_4) {
    Wire w;
    auto [a, b] = w.connect();
    w.drain();
    ASSERT_FALSE(tcp_ctl(w.a, a, parsecmd("hangup"), w.now));
    w.drain();
    EXPECT_EQ(w.log.back().s.flags, TcpRst | TcpAck);
    w.run(100000);
    const TcpEv* e = nullptr;
    for (auto& x : w.evs[1])
        if (x.kind == TcpEvKind::Closed) e = &x;
    ASSERT_TRUE(e);
    EXPECT_STREQ(e->err.text, "connection refused");
    EXPECT_EQ(w.b.st.estab_resets, 1u);
}

TEST(TcpClose, TimeWaitReuseWithNewerTimestamp_RFC6191) {
    Wire w;
    auto [a, b] = w.connect();
    tcp_close(w.b, b, w.now);  // B closes first: B is in TIME_WAIT
    w.drain();
    w.run(100000);
    tcp_close(w.a, a, w.now);
    w.drain();
    w.run(100000);
    ASSERT_EQ(C(w, 1, b).state, TcpState::Time_wait);
    w.run(500000);
    auto c = tcp_open(w.a, w.tuple(0, 40000, 80), 1460, w.now);  // the same 4-tuple
    ASSERT_TRUE(c);
    w.drain();
    EXPECT_TRUE(w.run_until([&] { return C(w, 0, *c).state == TcpState::Established; }, 2000000));
    EXPECT_EQ(w.b.st.tw_reuse, 1u);
}

// ---- RST, SYN and ACK checks (RFC 5961) ------------------------------------------------------

TcpSegIn from_a(Wire& w, uint32_t a, uint8_t flags, int32_t seq_off) {
    const TcpConn& c = C(w, 0, a);
    TcpSegIn g;
    g.t = w.tuple(1, 80, 40000);
    g.seq = c.snd_nxt + uint32_t(seq_off), g.ack = c.rcv_nxt, g.flags = flags, g.wnd = 1000;
    return g;
}

TEST(TcpRst, InWindowRstGetsChallengeAck_RFC5961) {
    Wire w;
    auto [a, b] = w.connect();
    w.drain();
    tcp_input(w.b, from_a(w, a, TcpRst, 100), w.now);
    EXPECT_EQ(C(w, 1, b).state, TcpState::Established);
    EXPECT_EQ(w.b.st.challenge_acks, 1u);
    ASSERT_EQ(w.b.tx.size(), 1u);
    EXPECT_EQ(w.b.tx[0].hdr[13], TcpAck);
    w.b.tx.clear();
    tcp_input(w.b, from_a(w, a, TcpRst, 1 << 30), w.now);  // out of window: ignored
    EXPECT_TRUE(w.b.tx.empty());
    tcp_input(w.b, from_a(w, a, TcpRst, 0), w.now);  // exact: reset
    EXPECT_EQ(C(w, 1, b).state, TcpState::Closed);
    EXPECT_STREQ(C(w, 1, b).err.text, "connection refused");
}

TEST(TcpRst, SynInWindowGetsChallengeAck_RFC5961) {
    Wire w;
    auto [a, b] = w.connect();
    w.drain();
    tcp_input(w.b, from_a(w, a, TcpSyn, 10), w.now);
    EXPECT_EQ(C(w, 1, b).state, TcpState::Established);
    EXPECT_EQ(w.b.st.challenge_acks, 1u);
}

TEST(TcpRst, ChallengeAcksRateLimited_RFC5961) {
    TcpParams p;
    p.challenge_per_s = 5;
    Wire w(p, p);
    auto [a, b] = w.connect();
    w.drain();
    for (int i = 0; i < 20; i++) tcp_input(w.b, from_a(w, a, TcpRst, 100 + i), w.now);
    EXPECT_EQ(w.b.st.challenge_acks, 5u);
    EXPECT_EQ(w.b.st.challenge_limited, 15u);
}

TEST(TcpRst, NoConversationRateLimited) {
    TcpParams p;
    p.rst_per_s = 3;
    Wire w(p, p);
    for (int i = 0; i < 10; i++) tcp_input(w.b, syn_to(w, uint16_t(1000 + i), 5), w.now);
    EXPECT_EQ(w.b.st.out_rsts, 3u);
    EXPECT_EQ(w.b.st.rst_limited, 7u);
    w.b.tx.clear();
    tcp_input(w.b, syn_to(w, 1, 5, TcpRst), w.now + 2000000);  // never an RST to an RST
    EXPECT_TRUE(w.b.tx.empty());
}

TEST(TcpRst, OldAckChallenged_RFC5961_5) {
    Wire w;
    auto [a, b] = w.connect();
    w.drain();
    TcpSegIn g = from_a(w, a, TcpAck, 0);
    g.ack = C(w, 1, b).snd_una - (1u << 31) + 10;
    tcp_input(w.b, g, w.now);
    EXPECT_EQ(w.b.st.challenge_acks, 1u);
}

TEST(TcpRst, PawsDropsOldTimestamp_RFC7323) {
    Wire w;
    auto [a, b] = w.connect();
    w.drain();
    TcpSegIn g = from_a(w, a, TcpAck, 0);
    g.o.has_ts = true;
    g.o.tsval = C(w, 1, b).ts_recent - 1000;
    uint8_t x[10] = {};
    g.data = x, g.len = 10;
    tcp_input(w.b, g, w.now);
    EXPECT_EQ(w.b.st.paws_drops, 1u);
    EXPECT_EQ(tcp_readable(w.b, b), 0u);
}

// ---- keepalive (§4.6.10) -----------------------------------------------------------------------

TEST(TcpKeepalive, SilentPeerTimesOut_4_6_10) {
    Wire w;
    auto [a, b] = w.connect();
    w.keep_log = false;
    w.run(10 * 60 * 1000000ull);  // idle but alive: probes are answered
    EXPECT_EQ(C(w, 0, a).state, TcpState::Established);
    EXPECT_GT(w.a.st.ka_probes, 0u);
    w.loss = 1;
    uint64_t t = w.now;
    EXPECT_TRUE(w.run_until([&] { return w.has_ev(0, TcpEvKind::Closed); }, 30 * 60 * 1000000ull));
    const TcpEv* e = w.find_ev(0, TcpEvKind::Closed);
    EXPECT_STREQ(e->err.text, "connection timed out");
    EXPECT_NEAR(double(w.now - t) / 60e6, 12.0, 2.5);
}

TEST(TcpKeepalive, CtlNeedsEstablished_3_4) {
    Wire w;
    auto l = tcp_listen(w.b, IPnoaddr, 80);
    Err e = tcp_ctl(w.b, *l, parsecmd("keepalive 1000"), w.now);
    EXPECT_STREQ(e.text, "connection must be in Establised state");
    auto [a, b] = w.connect(40000, 81);
    EXPECT_FALSE(tcp_ctl(w.a, a, parsecmd("keepalive 1049"), w.now));
    EXPECT_EQ(C(w, 0, a).ka_period_us, 1000000u);  // rounded down to ticks
    EXPECT_FALSE(tcp_ctl(w.a, a, parsecmd("keepalive"), w.now));
}

// ---- ctl (§3.4) ----------------------------------------------------------------------------------

TEST(TcpCtl, ErrorStrings_3_4) {
    Wire w;
    auto [a, b] = w.connect();
    auto ctl = [&](const char* s) { return tcp_ctl(w.a, a, parsecmd(s), w.now); };
    EXPECT_STREQ(ctl("frob").text, "unknown control request");
    EXPECT_STREQ(ctl("close now").text, "unknown control request");  // close only alone
    EXPECT_STREQ(ctl("hangup x").text, "unknown control request");
    EXPECT_STREQ(ctl("checksum").text, "bad arg in system call");  // §6 quirk 2
    EXPECT_STREQ(ctl("tcpporthogdefense").text, "bad arg in system call");
    EXPECT_STREQ(ctl("tcpporthogdefense maybe").text, "unknown value for tcpporthogdefense");
    EXPECT_FALSE(ctl("tcpporthogdefense on"));
    EXPECT_TRUE(w.a.porthog);
    EXPECT_FALSE(ctl("checksum 0"));
    EXPECT_TRUE(C(w, 0, a).nocsum);
    EXPECT_STREQ(ctl("nagle maybe").text, "bad arg in system call");
    EXPECT_STREQ(ctl("nagle").text, "wrong #args in control message");
    EXPECT_FALSE(ctl("cc cubic"));
    EXPECT_EQ(C(w, 0, a).cc, TcpCc::Cubic);
    EXPECT_STREQ(ctl("cc vegas").text, "bad arg in system call");
    EXPECT_FALSE(ctl("mss 1000"));
    EXPECT_EQ(C(w, 0, a).mss, 1000);
    EXPECT_FALSE(ctl("backlog 20"));
    EXPECT_STREQ(tcp_ctl(w.a, a, CtlArgs{}, w.now).text, "short control request");
}

TEST(TcpCtl, ChecksumZeroSendsZero_4_6_9) {
    Wire w;
    auto [a, b] = w.connect();
    ASSERT_FALSE(tcp_ctl(w.a, a, parsecmd("checksum 0"), w.now));
    w.drain();
    tcp_send(w.a, a, std::vector<uint8_t>(100, 1), w.now);
    ASSERT_FALSE(w.a.tx.empty());
    EXPECT_EQ(get16(w.a.tx.back().hdr + 16), 0);
    w.drain();
    w.run(100000);
    EXPECT_EQ(tcp_readable(w.b, b), 100u);  // accepted without verification
}

// ---- status and stats text (§2.4, §2.10) -------------------------------------------------------

TEST(TcpText, FreshListenerStatus_2_4) {
    Wire w;
    auto l = tcp_listen(w.b, IPnoaddr, 80);
    Text t;
    tcp_state_text(w.b, w.b.conn(*l), w.now, t);
    EXPECT_EQ(t.str(), "Listen qin 0 qout 0 rq 0.0 srtt 4000 mdev 0 sst 65535 cwin 1460 "
                       "swin 0>>0 rwin 65535>>0 qscale 0 timer.start 10 timer.count 0 "
                       "rerecv 0 katimer.start 2400 katimer.count 0\n");
}

TEST(TcpText, EstablishedStatusFields_2_4) {
    Wire w;
    auto [a, b] = w.connect();
    Text t;
    tcp_state_text(w.b, w.b.conn(b), w.now, t);
    std::string s = t.str();
    EXPECT_EQ(s.rfind("Established qin 0 qout 0 rq 0.0 srtt ", 0), 0u) << s;
    EXPECT_NE(s.find(" swin "), std::string::npos);
    EXPECT_NE(s.find(">>4 rwin "), std::string::npos) << s;  // swin pairs with our shift
    EXPECT_NE(s.find(" qscale 4 "), std::string::npos) << s;
    EXPECT_NE(s.find(" katimer.start 2400 katimer.count "), std::string::npos);
    EXPECT_EQ(s.back(), '\n');
}

TEST(TcpText, StatsNinefrontOrderThenOurs_2_10) {
    TcpStats st{};
    st.max_conn = 4096, st.in_segs = 7, st.recovery_pa = 3;
    Text t;
    tcp_stats_text(st, t);
    const char* names[] = {"MaxConn", "MaxSegment", "ActiveOpens", "PassiveOpens", "EstabResets",
                           "CurrEstab", "InSegs", "OutSegs", "RetransSegs", "RetransSegsSent",
                           "RetransTimeouts", "InErrs", "OutRsts", "CsumErrs", "HlenErrs",
                           "LenErrs", "Resequenced", "OutOfOrder", "ReseqBytelim", "ReseqPktlim",
                           "Delayack", "Wopenack", "Recovery", "RecoveryDone", "RecoveryRTO",
                           "RecoveryNoSeq", "RecoveryCwind", "RecoveryPA"};
    std::string s = t.str();
    size_t pos = 0;
    for (const char* n : names) {
        std::string want = std::string(n) + ": ";
        ASSERT_EQ(s.compare(pos, want.size(), want), 0) << n;
        pos = s.find('\n', pos) + 1;
    }
    EXPECT_EQ(s.rfind("MaxConn: 4096\n", 0), 0u);
    EXPECT_NE(s.find("\nInSegs: 7\n"), std::string::npos);
    EXPECT_NE(s.find("\nRecoveryPA: 3\nOptErrs: 0\n"), std::string::npos);
    TcpStats sum = st;
    sum += st;
    EXPECT_EQ(sum.in_segs, 14u);
}

// ---- memory --------------------------------------------------------------------------------------

TEST(TcpMem, IdleEstablishedConnectionCost) {
    Wire w;
    auto [a, b] = w.connect();
    Pump p(w, 0, a, b, 200000);
    EXPECT_TRUE(w.run_until([&] { return p.done(); }, 10000000, [&] { p.step(); }));
    w.run(1000000);
    // an idle connection holds no buffer: its cost is its slab entry and table slots
    EXPECT_EQ(w.a.pool.in_use(), 0u);
    EXPECT_EQ(w.b.pool.in_use(), 0u);
    uint64_t per = sizeof(TcpConn) + 2 * 2 * sizeof(uint32_t);
    std::printf("[ memory ] idle established connection: %llu bytes (TcpConn %zu + table)\n",
                static_cast<unsigned long long>(per), sizeof(TcpConn));
    EXPECT_LE(per, 32u * 1024);
    // a shard allocates its slab by chunks: an almost empty one stays small
    std::printf("[ memory ] shard with one connection: %llu bytes\n",
                static_cast<unsigned long long>(tcp_mem(w.a)));
    EXPECT_LE(tcp_mem(w.a), 8u << 20);
}

TEST(TcpMem, CapRefusesAndClosesWindow) {
    TcpParams pb;
    pb.mem_cap = 64 * 1024;
    Wire w({}, pb);
    auto [a, b] = w.connect();
    Pump p(w, 0, a, b, 2 << 20);
    p.reading = false;
    w.run(5000000, [&] { p.step(); });
    EXPECT_LE(w.b.pool.held(), 64u * 1024);
    EXPECT_LE(tcp_readable(w.b, b), 64u * 1024);
    EXPECT_EQ(C(w, 0, a).snd_wnd, 0u);  // the window closed at the cap
    // the shard is full: a new call is refused with a counted reason
    auto c2 = tcp_open(w.a, w.tuple(0, 40001, 80), 1460, w.now);
    w.drain();
    w.run(200000, [&] { p.step(); });
    EXPECT_GE(w.b.st.mem_refused, 1u);
    EXPECT_EQ(C(w, 0, *c2).state, TcpState::Closed);
    p.reading = true;
    EXPECT_TRUE(w.run_until([&] { return p.done(); }, 120000000, [&] { p.step(); }));
    EXPECT_EQ(p.got, p.data);
}

TEST(TcpMem, ManyConnectionsInTheTable) {
    TcpParams p;
    p.max_conns = 120000;
    uint8_t key[16] = {};
    TcpShard s(p, key);
    for (uint32_t i = 0; i < 110000; i++) {
        TcpTuple t{Ipaddr::v4(198, 18, 0, 1), Ipaddr::v4(0xc6130000 | (i >> 16)), uint16_t(i), 80};
        ASSERT_TRUE(tcp_open(s, t, 1460, 1000));
    }
    s.tx.clear(), s.ev.clear();
    TcpTuple t{Ipaddr::v4(198, 18, 0, 1), Ipaddr::v4(0xc6130000 | (777 >> 16)), 777, 80};
    uint32_t id = tcp_lookup(s, t);
    ASSERT_NE(id, kTcpNoConn);
    tcp_close(s, id, 2000);
    EXPECT_EQ(tcp_lookup(s, t), kTcpNoConn);
    TcpTuple t2{Ipaddr::v4(198, 18, 0, 1), Ipaddr::v4(0xc6130000 | (778 >> 16)), 778, 80};
    EXPECT_NE(tcp_lookup(s, t2), kTcpNoConn);
    std::printf("[ memory ] shard of %u slots: %llu bytes\n", p.max_conns,
                static_cast<unsigned long long>(tcp_mem(s)));
}

TEST(TcpIsn, Rfc6528DiffersPerTupleAndAdvances) {
    Wire w;
    auto c1 = tcp_open(w.a, w.tuple(0, 1, 80), 1460, w.now);
    auto c2 = tcp_open(w.a, w.tuple(0, 2, 80), 1460, w.now);
    uint32_t iss1 = C(w, 0, *c1).iss;
    EXPECT_NE(iss1, C(w, 0, *c2).iss);
    tcp_close(w.a, *c1, w.now);
    auto c3 = tcp_open(w.a, w.tuple(0, 1, 80), 1460, w.now + 4000);
    EXPECT_EQ(C(w, 0, *c3).iss - 1000u, iss1);  // 4 µs clock
}

}  // namespace
}  // namespace devip::proto

namespace devip::proto {
namespace {

TEST(TcpReclaim, OldSynReceivedAndFinwait2_4_6_11) {
    Wire w;
    w.loss = 1;  // B's SYN never arrives: A answers a simultaneous open and waits
    auto c = tcp_open(w.a, w.tuple(0, 5000, 6000), 1460, w.now);
    ASSERT_TRUE(c);
    TcpSegIn g;
    g.t = w.tuple(0, 5000, 6000);
    g.seq = 777, g.flags = TcpSyn, g.wnd = 65535;
    tcp_input(w.a, g, w.now);
    w.drain();
    ASSERT_EQ(C(w, 0, *c).state, TcpState::Syn_received);
    EXPECT_EQ(tcp_reclaim(w.a, w.now + 1000000), 0u);
    EXPECT_EQ(tcp_reclaim(w.a, w.now + 6000000), 1u);
    EXPECT_STREQ(C(w, 0, *c).err.text, "connection timed out");
}

TEST(TcpKeepalive, PortHogAnswerClosesStatelessHog_4_6_10) {
    Wire w;
    auto [a, b] = w.connect();
    ASSERT_FALSE(tcp_ctl(w.b, b, parsecmd("tcpporthogdefense on"), w.now));
    w.drain();
    TcpSegIn g = from_a(w, a, TcpAck, 0);
    g.ack = C(w, 1, b).snd_una - (1u << 30);
    tcp_input(w.b, g, w.now);
    EXPECT_EQ(C(w, 1, b).state, TcpState::Closed);
    EXPECT_STREQ(C(w, 1, b).err.text, "stateless hog");
}

}  // namespace
}  // namespace devip::proto

namespace devip::proto {
namespace {

TEST(TcpTlp, TailLossRecoveredByProbeNotRto_RFC8985) {
    Wire w;
    auto [a, b] = w.connect();
    const uint32_t n = 20000;
    uint32_t end = C(w, 0, a).snd_nxt + n;
    bool dropped = false;
    w.filter = [&](WireSeg& s) {  // the segment carrying the last byte, once
        if (s.from == 0 && s.s.len && s.s.seq + s.s.len == end && !dropped) {
            dropped = true;
            return false;
        }
        return true;
    };
    Pump p(w, 0, a, b, n);
    EXPECT_TRUE(w.run_until([&] { return p.done(); }, 10000000, [&] { p.step(); }));
    EXPECT_TRUE(dropped);
    EXPECT_EQ(p.got, p.data);
    EXPECT_GE(w.a.st.tlp_probes, 1u);
    EXPECT_EQ(w.a.st.retrans_timeouts, 0u);
}

TEST(TcpTlp, OffWithoutSack) {
    TcpParams p;
    p.sack = false;
    Wire w(p, p);
    auto [a, b] = w.connect();
    Pump q(w, 0, a, b, 50000);
    EXPECT_TRUE(w.run_until([&] { return q.done(); }, 10000000, [&] { q.step(); }));
    EXPECT_EQ(w.a.st.tlp_probes, 0u);
}

}  // namespace
}  // namespace devip::proto

namespace devip::proto {
namespace {

TEST(TcpClose, CloseInLaterStatesIsHarmless_4_6_2) {
    Wire w;
    auto [a, b] = w.connect();
    tcp_close(w.a, a, w.now);
    w.drain();
    w.run(100000);
    ASSERT_EQ(C(w, 0, a).state, TcpState::Finwait2);
    tcp_close(w.a, a, w.now);  // again: nothing changes
    EXPECT_EQ(C(w, 0, a).state, TcpState::Finwait2);
    tcp_close(w.b, b, w.now);
    w.drain();
    w.run(100000);
    ASSERT_EQ(C(w, 0, a).state, TcpState::Time_wait);
    tcp_close(w.a, a, w.now);
    EXPECT_EQ(C(w, 0, a).state, TcpState::Time_wait);
    w.run(11000000);
    EXPECT_EQ(w.a.nconns, 0u);  // TIME_WAIT ended and the closed id went back
}

TEST(TcpClose, PeerResetThenLastCloseFreesId_4_6_2) {
    Wire w;
    auto [a, b] = w.connect();
    tcp_hangup(w.b, b, w.now);
    w.drain();
    w.run(100000);
    EXPECT_EQ(C(w, 0, a).state, TcpState::Closed);
    EXPECT_TRUE(C(w, 0, a).in_use);  // the user still holds it
    auto r = tcp_send(w.a, a, std::vector<uint8_t>(5), w.now);
    EXPECT_STREQ(r.err().text, "connection refused");  // the teardown reason
    tcp_close(w.a, a, w.now);
    EXPECT_EQ(w.a.nconns, 0u);
}

TEST(TcpClose, TimeWaitNotAssassinated_RFC1337) {
    Wire w;
    auto [a, b] = w.connect();
    tcp_close(w.a, a, w.now);
    w.drain();
    w.run(100000);
    tcp_close(w.b, b, w.now);
    w.drain();
    w.run(100000);
    ASSERT_EQ(C(w, 0, a).state, TcpState::Time_wait);
    TcpSegIn g;
    g.t = w.tuple(0, 40000, 80);
    g.seq = C(w, 0, a).rcv_nxt, g.flags = TcpRst;
    tcp_input(w.a, g, w.now);
    EXPECT_EQ(C(w, 0, a).state, TcpState::Time_wait);
}

TEST(TcpClose, DataAfterLastCloseAckedAndDropped_4_6_2) {
    Wire w;
    auto [a, b] = w.connect();
    tcp_close(w.b, b, w.now);
    w.drain();
    w.run(100000);
    Pump p(w, 0, a, b, 100000);
    p.reading = false;
    w.run(2000000, [&] { p.step(); });
    EXPECT_EQ(p.sent, p.data.size());
    EXPECT_EQ(C(w, 0, a).snd_una, C(w, 0, a).snd_nxt);  // everything acknowledged
    EXPECT_EQ(tcp_readable(w.b, b), 0u);
}

TEST(TcpWindow, ScaledWindowsBothWays_RFC7323) {
    Wire w;
    auto [a, b] = w.connect();
    Pump p1(w, 0, a, b, 1 << 20, 1), p2(w, 1, b, a, 1 << 20, 2);
    EXPECT_TRUE(w.run_until([&] { return p1.done() && p2.done(); }, 30000000,
                            [&] { p1.step(), p2.step(); }));
    uint32_t maxw[2] = {0, 0};
    for (auto& s : w.log)
        if (!(s.s.flags & TcpSyn))
            maxw[s.from] = std::max<uint32_t>(maxw[s.from], uint32_t(s.s.wnd) << 4);
    EXPECT_GT(maxw[0], 65535u);  // each side advertised more than 64 KB through its shift
    EXPECT_GT(maxw[1], 65535u);
    EXPECT_EQ(C(w, 0, a).snd_ws, 4);
    EXPECT_EQ(C(w, 0, a).rcv_ws, 4);
    EXPECT_GT(C(w, 0, a).max_snd_wnd, 65535u);
    EXPECT_GT(C(w, 1, b).max_snd_wnd, 65535u);
}

TEST(TcpKeepalive, ProbeIsOneByteBelowSndUna_4_6_10) {
    Wire w;
    auto [a, b] = w.connect();
    size_t before = w.log.size();
    w.run(125000000);
    const WireSeg* probe = nullptr;
    for (size_t i = before; i < w.log.size(); i++)
        if (w.log[i].from == 0 && w.log[i].s.len == 1) probe = &w.log[i];
    ASSERT_TRUE(probe);
    EXPECT_EQ(probe->s.seq, C(w, 0, a).snd_una - 1);
    EXPECT_EQ(probe->s.flags, TcpAck | TcpPsh);
    EXPECT_EQ(w.a.st.ka_probes, 1u);
}

}  // namespace
}  // namespace devip::proto

namespace devip::proto {
namespace {

TEST(TcpLimbo, FullWithoutCookiesRecyclesOldest_4_6_1) {
    TcpParams pb;
    pb.limbo_max = 3;
    pb.syncookies = false;
    Wire w({}, pb);
    ASSERT_TRUE(tcp_listen(w.b, IPnoaddr, 80));
    for (uint16_t i = 0; i < 3; i++) tcp_input(w.b, syn_to(w, uint16_t(1 + i), 100), w.now + i);
    EXPECT_EQ(w.b.nlimbo, 3u);
    tcp_input(w.b, syn_to(w, 9, 100), w.now + 10);
    EXPECT_EQ(w.b.nlimbo, 3u);
    EXPECT_EQ(w.b.st.limbo_recycled, 1u);
    EXPECT_EQ(w.b.st.cookies_sent, 0u);
}

TEST(TcpScale, ThousandsOfConnectionsComeAndGo) {
    Wire w;
    w.keep_log = false;
    ASSERT_TRUE(tcp_listen(w.b, IPnoaddr, 80, 5000));
    const int n = 3000;
    std::vector<uint32_t> ids;
    for (int i = 0; i < n; i++) {
        auto c = tcp_open(w.a, w.tuple(0, uint16_t(10000 + i), 80), 1460, w.now);
        ASSERT_TRUE(c);
        ids.push_back(*c);
    }
    w.drain();
    w.run(200000);
    EXPECT_EQ(w.a.st.curr_estab, uint64_t(n));
    EXPECT_EQ(w.b.st.curr_estab, uint64_t(n));
    std::vector<uint8_t> msg(1000, 7);
    for (uint32_t id : ids) ASSERT_TRUE(tcp_send(w.a, id, msg, w.now));
    w.drain();
    w.run(300000);
    uint64_t got = 0;
    uint8_t buf[2000];
    for (auto& e : w.evs[1])
        if (e.kind == TcpEvKind::CallArrived) {
            got += tcp_read(w.b, e.conn, buf, w.now);
            tcp_accepted(w.b, e.conn);
            tcp_taken(w.b, e.conn);
            tcp_close(w.b, e.conn, w.now);
        }
    EXPECT_EQ(got, uint64_t(n) * 1000);
    w.drain();
    w.run(300000);
    for (uint32_t id : ids) tcp_close(w.a, id, w.now);  // Close_wait: Last_ack
    w.drain();
    w.run(12000000);  // B's side passes TIME_WAIT
    EXPECT_EQ(w.a.nconns, 0u);
    EXPECT_EQ(w.b.nconns, 1u);  // the listener
    EXPECT_EQ(w.a.pool.in_use() + w.b.pool.in_use(), 0u);
}

}  // namespace
}  // namespace devip::proto

namespace devip::proto {
namespace {

TEST(TcpV6, HandshakeAndTransferOverIpv6_4_6_3) {
    Wire w;
    for (int i = 0; i < 2; i++) {
        Ipaddr a{};
        a.b[0] = 0x20, a.b[1] = 0x01, a.b[3] = 0x02, a.b[15] = uint8_t(1 + i);  // 2001:2::1, ::2
        w.addr[i] = a;
    }
    ASSERT_TRUE(tcp_listen(w.b, IPnoaddr, 80));
    auto c = tcp_open(w.a, w.tuple(0, 40000, 80), 0, w.now);  // no route MSS: 1220
    ASSERT_TRUE(c);
    w.drain();
    uint32_t bid = kTcpNoConn;
    ASSERT_TRUE(w.run_until([&] {
        const TcpEv* e = w.find_ev(1, TcpEvKind::CallArrived);
        if (e) bid = e->conn;
        return e && w.has_ev(0, TcpEvKind::Connected);
    }, 2000000));
    EXPECT_EQ(w.log[0].s.o.mss, 1220);
    EXPECT_EQ(C(w, 1, bid).mss, 1220);
    Pump p(w, 0, *c, bid, 500000);
    w.loss = 0.02;
    EXPECT_TRUE(w.run_until([&] { return p.done(); }, 60000000, [&] { p.step(); }));
    EXPECT_EQ(p.got, p.data);
    EXPECT_EQ(w.b.st.csum_errs, 0u);
}

}  // namespace
}  // namespace devip::proto
