// /net/tcp on the control thread (tcp_conv.h): what the files do, what is asked of the owning
// worker, and what its completions change.
#include "proto/tcp_conv.h"

#include <cstring>

#include "proto/ip6.h"
#include "proto/ipaux.h"
#include "proto/ipifc.h"
#include "proto/netio.h"
#include "proto/stack.h"
#include "proto/wire.h"

namespace devip::proto {

namespace {

constexpr Err Ehangup{"Hangup"};
constexpr Err Eestab{"connection must be in Establised state"};  // sic (9front)
constexpr size_t kTcpQmax = 64u << 20;  // never reached: the window bounds what comes up

// TCP ctl verbs that may be written before there is a connection (applied when it is made).
bool early_verb(std::string_view v) {
    return v == "checksum" || v == "nagle" || v == "cc" || v == "mss";
}

}  // namespace

TcpConv::TcpConv(Proto& p, int x) : Conv(p, x, kTcpQmax, false) {}

Tcp* tcp_of(Stack& s) { return static_cast<Tcp*>(s.proto("tcp")); }

Tcp::Tcp(Stack& s, const ProtoRow& row) : Proto(s, row) {
    TcpParams prm;
    prm.scale(s.net.tcp_scale);
    scratch_ = std::make_unique<TcpShard>(prm, s.net.tcp_key.data());
}

Tcp::~Tcp() = default;

std::unique_ptr<Conv> Tcp::make_conv(int x) { return std::make_unique<TcpConv>(*this, x); }

int Tcp::workers() const { return stack.net.io ? stack.net.io->workers() : 0; }

bool Tcp::busy(const Conv& c) const { return static_cast<const TcpConv&>(c).live; }

MsgHdr Tcp::hdr(MsgKind k, const TcpConv& c) const {
    MsgHdr h{};
    h.kind = k;
    h.stack = uint8_t(stack.n);
    h.proto = uint8_t(info.index);
    h.conv = uint32_t(c.x);
    h.gen = c.gen;
    return h;
}

// ---- requests -------------------------------------------------------------------------------

void Tcp::send(const MsgHdr& h, std::span<const uint8_t> d, int w) {
    if (workers() == 0) {  // the local shard, through a queue: what it sends to ourselves
        if (!local_) {     // comes back as input, later in the same loop, not recursively
            TcpParams prm;
            prm.scale(stack.net.tcp_scale);
            local_ = std::make_unique<TcpWork>(prm, stack.net.tcp_key.data(), uint8_t(stack.n),
                                               stack.net.now_us(), emit_local, this);
            local_->shard.porthog = porthog_;
        }
        local_q_.push_back({h, std::string(d.begin(), d.end()), 0});
        if (!in_local_) run_local(kLocalBatch);
        return;
    }
    if (w >= 0 && backlog_.empty() && stack.net.io->request(h, d, w)) return;
    if (w < 0) {  // every worker: one queued request each, so that none is sent twice
        for (int i = 0; i < workers(); i++) send(h, d, i);
        return;
    }
    backlog_.push_back({h, std::string(d.begin(), d.end()), w});
}

void Tcp::flush_backlog() {
    while (!backlog_.empty()) {
        Req& r = backlog_.front();
        if (!stack.net.io->request(r.h, {reinterpret_cast<const uint8_t*>(r.d.data()), r.d.size()},
                                   r.w))
            return;
        backlog_.pop_front();
    }
}

// Runs up to limit queued requests on the local shard; what they make (segments to ourselves
// over loopback, requests of completions) queues behind them. A connection talking to itself
// cannot recurse, and cannot keep one call busy for ever: the rest waits for the tick.
void Tcp::run_local(size_t limit) {
    in_local_ = true;
    uint64_t now = stack.net.now_us();
    while (!local_q_.empty() && limit--) {
        Req r = std::move(local_q_.front());
        local_q_.pop_front();
        auto* copy = new std::string(std::move(r.d));  // a Send piece may have to wait
        auto b = std::span(reinterpret_cast<const uint8_t*>(copy->data()), copy->size());
        if (!local_->request(r.h, b, copy, now)) delete copy;
        drain_local();
    }
    in_local_ = false;
}

void Tcp::tick(uint64_t) {
    if (workers() == 0) {
        if (local_) {
            in_local_ = true;
            local_->timers(stack.net.now_us());
            drain_local();
            in_local_ = false;
            run_local(kLocalBatch * 16);
        }
        return;
    }
    flush_backlog();
}

// ---- ctl ------------------------------------------------------------------------------------

Err Tcp::write_ctl(Conv& c, const CtlArgs& a) {
    Pend op;
    Err e = ctl_async(c, a, op);
    return op.key ? Err{"operation would block"} : e;
}

Err Tcp::ctl_async(Conv& cv, const CtlArgs& a, Pend& op) {
    TcpConv& c = tc(cv);
    op.key = nullptr;
    if (op.ticket) {  // a re-run: is ours done?
        if (c.ctl_done < op.ticket) {
            op.key = &c.kctl;
            return ok;
        }
        op.ticket = 0;
        return c.ctl_err.empty() ? ok : Err{c.ctl_err.c_str()};
    }
    if (c.ctl_busy) {  // another ctl write is waiting for the worker: after it
        op.key = &c.kctl;
        return ok;
    }
    Err e = start_ctl(c, a, op);
    drain_local();
    if (!op.key) return e;
    if (workers() == 0 && c.ctl_done >= op.ticket) {  // the local shard answered at once
        op.key = nullptr;
        op.ticket = 0;
        return c.ctl_err.empty() ? ok : Err{c.ctl_err.c_str()};
    }
    return e;
}

void Tcp::finish_ctl(TcpConv& c, std::string_view err) {
    if (!c.ctl_busy) return;
    c.ctl_busy = false;
    c.ctl_err.assign(err);
    c.ctl_done = c.ctl_ticket;
    stack.net.ready.kick(&c.kctl);
}

Err Tcp::start_ctl(TcpConv& c, const CtlArgs& a, Pend& op) {
    if (a.empty()) return Eshortctl;
    const std::string& v = a[0];
    auto wait = [&] {  // the worker answers
        c.ctl_busy = true;
        op.ticket = ++c.ctl_ticket;
        op.key = &c.kctl;
    };
    if (v == "connect") {  // the generic connect, then Connecting until the worker says
        if (Err e = Proto::write_ctl(c, a)) return e;
        c.state = ConvState::Connecting;  // a failure leaves it so (quirk 1)
        if (Err e = connect_tcp(c, op)) return e;
        wait();
        return ok;
    }
    if (v == "announce") {
        if (Err e = Proto::write_ctl(c, a)) return e;
        announces_++;
        TcpListenMsg m{c.laddr, c.lport, c.backlog};
        c.listener = true;
        c.live = c.glued = true;
        c.w = 0;
        send(hdr(MsgKind::Listen, c), {reinterpret_cast<const uint8_t*>(&m), sizeof m}, -1);
        for (auto& t : c.early)
            send(hdr(MsgKind::Ctl, c), {reinterpret_cast<const uint8_t*>(t.data()), t.size()}, -1);
        c.early.clear();
        return ok;
    }
    if (v == "bind" || v == "ttl" || v == "tos" || v == "ignoreadvice" || v == "addmulti" ||
        v == "delmulti" || v == "remmulti")
        return Proto::write_ctl(c, a);
    // TCP's own (§3.4 and ours)
    if (v == "tcpporthogdefense") {  // every shard of the stack (9front: the whole kernel)
        if (a.size() != 2) return Err{"tcpporthogdefense needs an argument"};
        if (a[1] != "on" && a[1] != "off") return Err{"unknown value for tcpporthogdefense"};
        porthog_ = a[1] == "on";
        std::string t = a.join();
        MsgHdr h = hdr(MsgKind::Ctl, c);
        h.conv = kNoConv;
        send(h, {reinterpret_cast<const uint8_t*>(t.data()), t.size()}, -1);
        return ok;
    }
    if (v == "backlog") {
        if (a.size() != 2) return Ebadarg;
        long n = ctl_strtol(a[1]);
        if (n < 1 || n > 65535) return Ebadarg;
        c.backlog = uint16_t(n);
        if (!c.listener) return ok;
        std::string t = a.join();
        send(hdr(MsgKind::Ctl, c), {reinterpret_cast<const uint8_t*>(t.data()), t.size()}, -1);
        return ok;
    }
    if (c.listener) {  // a listener is on every worker: what it takes goes to all of them
        if (a.size() == 1 && (v == "close" || v == "hangup")) {
            c.rq.hangup();
            return ok;
        }
        if (!early_verb(v)) return v == "keepalive" ? Eestab : Eunknownctl;
        std::string t = a.join();
        send(hdr(MsgKind::Ctl, c), {reinterpret_cast<const uint8_t*>(t.data()), t.size()}, -1);
        return ok;
    }
    if (!c.live || !c.glued) {  // no connection (yet, or any more)
        if (a.size() == 1 && (v == "close" || v == "hangup")) return ok;
        if (v == "keepalive") return Eestab;
        if (!early_verb(v)) return Eunknownctl;
        if (c.live) return Ehangup;
        c.early.push_back(a.join());
        return ok;
    }
    std::string t = a.join();
    send(hdr(MsgKind::Ctl, c), {reinterpret_cast<const uint8_t*>(t.data()), t.size()}, c.w);
    wait();
    return ok;
}

// The MSS our SYN offers toward dst (§4.6.3).
uint16_t Tcp::route_mss(const Ipaddr& src, const Ipaddr& dst) {
    bool v4 = dst.is_v4();
    const Route* r = stack.rib.lookup(dst, src);
    Ipifc* f = r ? stack.ipifc->ifc(r->ifc) : nullptr;
    if (!f) return v4 ? 1460 : 1220;
    if (!v4 && !(r->type & (Rifc | Runi))) return 1220;
    size_t mtu = v4 ? f->maxtu - medium_info(f->medium)->hsize : stack.ip6_mtu(*f);
    size_t h = v4 ? 40 : 60;
    return uint16_t(mtu > h + 64 ? mtu - h : 536);
}

Err Tcp::connect_tcp(TcpConv& c, Pend&) {
    if (c.raddr.is_noaddr() || c.rport == 0) return Ebadconnect;
    if (c.laddr.is_noaddr() || c.laddr.is_v4_zero()) {
        c.laddr = stack.findlocalip(c.raddr);
        if (c.laddr.is_noaddr() || c.laddr.is_v4_zero()) return Err{"no route"};
    }
    TcpOpenMsg m{};
    m.t = {c.laddr, c.raddr, c.lport, c.rport};
    m.mss = route_mss(c.laddr, c.raddr);
    m.ttl = c.ttl;
    m.tos = c.tos;
    m.hint = stack.out_hint(c.laddr, c.raddr);
    c.hint_gen = m.hint.ok ? m.hint.gen : 0;
    c.w = workers() ? stack.net.io->flow_owner(c.laddr, c.raddr, c.lport, c.rport) : 0;
    c.live = c.glued = true;
    c.err_text.clear();
    send(hdr(MsgKind::Open, c), {reinterpret_cast<const uint8_t*>(&m), sizeof m}, c.w);
    for (auto& t : c.early)
        send(hdr(MsgKind::Ctl, c), {reinterpret_cast<const uint8_t*>(t.data()), t.size()}, c.w);
    c.early.clear();
    return ok;
}

// ---- data -----------------------------------------------------------------------------------

Err Tcp::write_data(Conv& c, std::span<const uint8_t> data) {
    Pend op;
    uint32_t n;
    Err e = data_async(c, data, op, n);
    return op.key ? Err{"operation would block"} : e;
}

Err Tcp::data_async(Conv& cv, std::span<const uint8_t> data, Pend& op, uint32_t& n) {
    TcpConv& c = tc(cv);
    op.key = nullptr;
    n = 0;
    if (c.listener) return Ehangup;
    if (!c.live || !c.glued) {
        if (!c.err_text.empty()) return Err{c.err_text.c_str()};
        return c.state == ConvState::Idle || c.state == ConvState::Announced ? Ehangup : Ehungup;
    }
    if (data.empty()) return ok;
    // flow control: a write waits while the conv has a window's worth in flight
    if (c.inflight > 0 && c.inflight + data.size() > kWindow) {
        op.key = &c.kwrite;
        return ok;
    }
    for (size_t o = 0; o < data.size(); o += kPiece) {
        size_t len = std::min<size_t>(kPiece, data.size() - o);
        MsgHdr h = hdr(MsgKind::Send, c);
        if (o + len == data.size()) h.flags = kMsgLast;
        c.inflight += uint32_t(len);
        send(h, data.subspan(o, len), c.w);
    }
    n = uint32_t(data.size());
    drain_local();
    return ok;
}

void Tcp::consumed(Conv& cv, size_t n) {
    TcpConv& c = tc(cv);
    c.unreported += uint32_t(n);
    if (!c.live || !c.glued) {
        c.unreported = 0;
        return;
    }
    if (c.unreported < 16384 && c.rq.bytes() > 0) return;
    uint32_t u = c.unreported;
    c.unreported = 0;
    send(hdr(MsgKind::Consumed, c), {reinterpret_cast<const uint8_t*>(&u), sizeof u}, c.w);
    drain_local();
}

// The call's connection counts against its listener's backlog on its worker until now.
void Tcp::taken(Conv& cv) {
    TcpConv& c = tc(cv);
    if (!c.live || !c.glued) return;  // gone: its teardown gave the room back
    send(hdr(MsgKind::Taken, c), {}, c.w);
    drain_local();
}

// ---- status and close -----------------------------------------------------------------------

void Tcp::state(const Conv& c, Text& t) const {  // a conv with no connection
    (void)c;
    TcpConn none;
    tcp_state_text(*scratch_, none, 0, t);
}

Err Tcp::status(Conv& cv, Text& t, Pend& op) {
    TcpConv& c = tc(cv);
    op.key = nullptr;
    if (op.ticket) {
        if (c.q_done < op.ticket) {
            op.key = &c.kstat;
            return ok;
        }
        op.ticket = 0;
        if (c.q_text.empty()) state(c, t);
        t.put(c.q_text);
        return ok;
    }
    if (!c.live || !c.glued) {
        state(c, t);
        return ok;
    }
    if (c.q_busy) {
        op.key = &c.kstat;
        return ok;
    }
    c.q_busy = true;
    op.ticket = ++c.q_ticket;
    op.key = &c.kstat;
    send(hdr(MsgKind::Query, c), {}, c.w);
    drain_local();
    if (c.q_done >= op.ticket) return status(c, t, op);
    return ok;
}

void Tcp::close(Conv& cv) {
    TcpConv& c = tc(cv);
    if (c.glued) {
        send(hdr(MsgKind::Close, c), {}, c.listener ? -1 : c.w);
        c.glued = false;
    }
    if (c.listener) c.live = false;  // listeners go at once (the workers unlisten)
    c.listener = false;
    c.rq.hangup();
    c.eq.hangup();
    c.early.clear();
    c.inflight = c.unreported = 0;
    c.rcvd = 0;
    c.eof_at = c.closed_at = TcpConv::kNone;
    c.backlog = 10;
    if (c.ctl_busy) finish_ctl(c, Ehangup.text);
    if (c.q_busy) {
        c.q_busy = false;
        c.q_done = c.q_ticket;
        c.q_text.clear();
        stack.net.ready.kick(&c.kstat);
    }
    stack.net.ready.kick(&c.kwrite);
    drain_local();
}

// ---- stats ----------------------------------------------------------------------------------

TcpStats Tcp::sum() const {
    TcpStats s{};
    if (local_) s += local_->shard.st;
    if (stack.net.io) stack.net.io->tcp_stats(stack.n, s);
    s.max_conn = scratch_->prm.max_conns;
    s.passive_opens = announces_;
    return s;
}

void Tcp::stats(Text& t) const { tcp_stats_text(sum(), t); }

void Tcp::counters(std::vector<Counter>& out) const {
    Text t;
    stats(t);
    std::string_view s = t.str();
    while (!s.empty()) {
        size_t nl = s.find('\n');
        std::string_view line = s.substr(0, nl);
        size_t colon = line.find(':');
        if (colon != std::string_view::npos)
            out.push_back({std::string(line.substr(0, colon)),
                           std::strtoull(std::string(line.substr(colon + 1)).c_str(), nullptr, 10),
                           {}});
        if (nl == std::string_view::npos) break;
        s.remove_prefix(nl + 1);
    }
}

// ---- input and advice -----------------------------------------------------------------------

void Tcp::input(Ipifc& f, std::span<const uint8_t> pkt, size_t hlen) {
    (void)f;
    bool v6 = (pkt[0] >> 4) == 6;
    TcpSegMsg m{};
    m.src = v6 ? ip6_src(pkt.data()) : Ipaddr::v4(get32(pkt.data() + 12));
    m.dst = v6 ? ip6_dst(pkt.data()) : Ipaddr::v4(get32(pkt.data() + 16));
    m.route_mss = route_mss(m.dst, m.src);
    size_t tl = v6 ? std::min(pkt.size(), size_t(kIp6Hdr) + get16(pkt.data() + 4))
                   : std::min(pkt.size(), size_t(get16(pkt.data() + 2)));
    if (tl < hlen) return;
    const uint8_t* tcp = pkt.data() + hlen;  // the owner's tcp_parse counts what is wrong
    std::string d(reinterpret_cast<const char*>(&m), sizeof m);
    d.append(reinterpret_cast<const char*>(tcp), tl - hlen);
    MsgHdr h{};
    h.kind = MsgKind::SegIn;
    h.stack = uint8_t(stack.n);
    h.proto = uint8_t(info.index);
    h.conv = kNoConv;
    int w = workers() && tl >= hlen + 4
                ? stack.net.io->flow_owner(m.dst, m.src, get16(tcp + 2), get16(tcp)) : 0;
    send(h, {reinterpret_cast<const uint8_t*>(d.data()), d.size()}, w);
}

void Tcp::advise(std::span<const uint8_t> emb, Err why) {
    bool v6 = (emb[0] >> 4) == 6;
    size_t hl = v6 ? size_t(kIp6Hdr) : (emb[0] & 0xf) * 4u;
    if (emb.size() < hl + 8) return;
    TcpAdviseMsg m{};
    Ipaddr src = v6 ? ip6_src(emb.data()) : Ipaddr::v4(get32(emb.data() + 12));
    Ipaddr dst = v6 ? ip6_dst(emb.data()) : Ipaddr::v4(get32(emb.data() + 16));
    m.q = {src, dst, get16(emb.data() + hl), get16(emb.data() + hl + 2)};
    m.seq = get32(emb.data() + hl + 4);
    m.mtu = stack.icmp_mtu;
    if (why.text) std::strncpy(m.why, why.text, sizeof m.why - 1);
    MsgHdr h{};
    h.kind = MsgKind::Advise;
    h.stack = uint8_t(stack.n);
    h.proto = uint8_t(info.index);
    h.conv = kNoConv;
    int w = workers() ? stack.net.io->flow_owner(src, dst, m.q.lport, m.q.rport) : 0;
    send(h, {reinterpret_cast<const uint8_t*>(&m), sizeof m}, w);
}

// ---- completions ----------------------------------------------------------------------------

void Tcp::tx_slow(const MsgHdr& h, std::span<const uint8_t> pkt) {
    bool v6 = h.flags & kMsgV6;
    if (pkt.size() < size_t(v6 ? kIp6Hdr : kIp4Hdr)) return;
    if (v6)
        stack.ip6_output(std::string(pkt.begin(), pkt.end()), pkt[7],
                         uint8_t((get16(pkt.data()) >> 4) & 0xff));
    else
        stack.ip4_output(std::string(pkt.begin(), pkt.end()));
    // a fresh hint for the worker, once the neighbour is known
    Conv* cv = h.conv != kNoConv ? conv(int(h.conv)) : nullptr;
    if (!cv || cv->gen != h.gen || workers() == 0) return;
    TcpConv& c = tc(*cv);
    if (!c.live || !c.glued) return;
    OutHint hint = stack.out_hint(c.laddr, c.raddr);
    if (!hint.ok || hint.gen == c.hint_gen) return;
    c.hint_gen = hint.gen;
    send(hdr(MsgKind::Hint, c), {reinterpret_cast<const uint8_t*>(&hint), sizeof hint}, c.w);
}

void Tcp::on_call(const MsgHdr& h, const TcpCallMsg& m) {
    Conv* lc = conv(int(h.conv));
    int w = h.port;  // the worker that has the call
    auto refuse = [&] {
        MsgHdr r{};
        r.kind = MsgKind::Close;
        r.stack = uint8_t(stack.n);
        r.proto = uint8_t(info.index);
        r.conv = kNoConv;
        r.flags = kMsgHangup;
        TcpAcceptMsg a{m.conn, m.t, {}};
        send(r, {reinterpret_cast<const uint8_t*>(&a), sizeof a}, w);
    };
    if (!lc || lc->gen != h.gen || lc->inuse == 0 || lc->state != ConvState::Announced ||
        lc->rq.closed()) {
        refuse();
        return;
    }
    TcpConv& l = tc(*lc);
    // no backlog check here: the worker counted the call against it (tcp_taken)
    auto n = clone(l.owner);
    if (!n) {
        refuse();
        return;
    }
    TcpConv& c = tc(**n);
    c.state = ConvState::Connected;
    c.laddr = m.t.laddr;
    c.raddr = m.t.raddr;
    c.lport = m.t.lport;
    c.rport = m.t.rport;
    c.ipversion = m.t.raddr.is_v4() ? Version::V4 : Version::V6;
    c.w = w;
    c.live = c.glued = true;
    TcpAcceptMsg a{m.conn, m.t, stack.out_hint(c.laddr, c.raddr)};
    c.hint_gen = a.hint.ok ? a.hint.gen : 0;
    send(hdr(MsgKind::Accept, c), {reinterpret_cast<const uint8_t*>(&a), sizeof a}, w);
    l.incall.push_back(c.x);
    l.rq.kick();
}

void Tcp::end(TcpConv& c) {
    if (c.eof_at != TcpConv::kNone && c.rcvd >= c.eof_at) {
        c.eof_at = TcpConv::kNone;
        if (!c.rq.closed()) c.rq.hangup();
    }
    // after close() (unglued) nobody reads: rcvd was reset there, the end is the end
    if (c.closed_at != TcpConv::kNone && (c.rcvd >= c.closed_at || !c.glued)) {
        c.closed_at = TcpConv::kNone;
        c.live = false;
        c.err_text = c.close_err;
        if (!c.rq.closed()) {
            if (c.err_text.empty())
                c.rq.hangup();
            else
                c.rq.hangup(Err{c.err_text.c_str()});
        }
        c.inflight = 0;
        stack.net.ready.kick(&c.kwrite);
        if (c.state == ConvState::Connecting) finish_ctl(c, c.err_text.empty() ? Ehangup.text
                                                                              : c.err_text);
    }
}

void Tcp::completion(const MsgHdr& h, std::span<const uint8_t> d) {
    if (h.kind == MsgKind::TxSlow) {
        tx_slow(h, d);
        return;
    }
    if (h.kind == MsgKind::Call) {
        TcpCallMsg m;
        if (d.size() >= sizeof m) {
            std::memcpy(&m, d.data(), sizeof m);
            on_call(h, m);
        }
        return;
    }
    Conv* cv = conv(int(h.conv));
    if (!cv || cv->gen != h.gen) return;  // an older incarnation's
    TcpConv& c = tc(*cv);
    std::string_view text(reinterpret_cast<const char*>(d.data()), d.size());
    switch (h.kind) {
    case MsgKind::Connected:
        if (c.state == ConvState::Connecting) c.state = ConvState::Connected;
        finish_ctl(c, {});
        break;
    case MsgKind::Failed:
        c.err_text.assign(text);
        if (c.listener) break;
        finish_ctl(c, text.empty() ? Ehangup.text : text);
        break;
    case MsgKind::DataIn:
        c.rcvd += d.size();
        if (c.inuse > 0 && !c.rq.closed()) c.rq.put(std::string(text));
        end(c);
        break;
    case MsgKind::Eof:
    case MsgKind::Closed: {
        TcpEndMsg m{};
        if (d.size() < sizeof m) break;
        std::memcpy(&m, d.data(), sizeof m);
        if (h.kind == MsgKind::Eof) {
            c.eof_at = m.up;
        } else {
            c.closed_at = m.up;
            c.close_err.assign(text.substr(sizeof m));
        }
        end(c);
        break;
    }
    case MsgKind::WriteDone: {
        uint32_t n = 0;
        if (d.size() >= sizeof n) std::memcpy(&n, d.data(), sizeof n);
        c.inflight -= std::min(n, c.inflight);
        stack.net.ready.kick(&c.kwrite);
        break;
    }
    case MsgKind::CtlDone:
        finish_ctl(c, text);
        break;
    case MsgKind::QueryDone:
        if (!c.q_busy) break;
        c.q_busy = false;
        c.q_done = c.q_ticket;
        c.q_text.assign(text);
        stack.net.ready.kick(&c.kstat);
        break;
    default:
        break;
    }
}

// ---- no workers: the control thread's own shard -------------------------------------------

void Tcp::emit_local(void* ctx, const TcpWork&, std::span<const TcpTx> tx) {
    Tcp& p = *static_cast<Tcp*>(ctx);
    for (const TcpTx& t : tx) {
        std::string seg(reinterpret_cast<const char*>(t.hdr), t.hlen);
        seg.append(reinterpret_cast<const char*>(t.p1), t.n1);
        if (t.n2) seg.append(reinterpret_cast<const char*>(t.p2), t.n2);
        auto b = std::span(reinterpret_cast<const uint8_t*>(seg.data()), seg.size());
        if (t.t.v4())
            p.stack.ip4_send(t.t.laddr, t.t.raddr, kProtoTcp, t.ttl, t.tos, b);
        else
            p.stack.ip6_send(t.t.laddr, t.t.raddr, kProtoTcp, t.ttl, t.tos, b);
    }
}

void Tcp::drain_local() {
    if (!local_ || draining_) return;
    draining_ = true;
    uint64_t now = stack.net.now_us();
    while (!local_->cpl.empty() || !local_->readable.empty()) {
        std::vector<uint32_t> rd;
        rd.swap(local_->readable);
        for (uint32_t id : rd) {
            const TcpGlue* g = local_->glue_of(id);
            if (!g) continue;
            const_cast<TcpGlue*>(g)->readable = false;
            uint8_t buf[4096];
            uint32_t n;
            while ((n = local_->read(id, buf, now)) > 0) {
                MsgHdr h = local_->hdr(MsgKind::DataIn, id);
                completion(h, {buf, n});
            }
        }
        std::vector<TcpCpl> cs;
        cs.swap(local_->cpl);
        for (TcpCpl& x : cs) {
            if (x.h.kind == MsgKind::Call) x.h.port = 0;
            completion(x.h, {x.b, x.n});
        }
    }
    for (void* m : local_->freed) delete static_cast<std::string*>(m);
    local_->freed.clear();
    draining_ = false;
}

}  // namespace devip::proto
