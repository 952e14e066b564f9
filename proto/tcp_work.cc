// TCP on its owning worker: requests → engine calls, engine events → completions (tcp_work.h).
#include "proto/tcp_work.h"

#include <cstring>

#include "proto/cmd.h"

namespace devip::proto {

TcpWork::TcpWork(const TcpParams& p, const uint8_t key[16], uint8_t stack, uint64_t now,
                 Emit emit, void* ctx)
    : shard(p, key, now), stack(stack), emit_(emit), ctx_(ctx) {
    cpl.reserve(64);
    readable.reserve(64);
    freed.reserve(64);
    evs_.reserve(64);
}

TcpGlue& TcpWork::g(uint32_t id) {
    if (id >= glue_.size()) glue_.resize(std::max<size_t>(id + 1, glue_.size() + 4096));
    return glue_[id];
}

uint32_t TcpWork::conn_of(const MsgHdr& h) const {
    if (h.conv >= byconv_.size()) return kTcpNoConn;
    uint32_t id = byconv_[h.conv];
    if (id == kTcpNoConn || id >= glue_.size()) return kTcpNoConn;
    const TcpGlue& x = glue_[id];
    return x.conv == h.conv && x.gen == h.gen ? id : kTcpNoConn;
}

void TcpWork::bind(uint32_t id, uint32_t conv, uint32_t gen, const OutHint& hint) {
    TcpGlue& x = g(id);
    x.conv = conv;
    x.gen = gen;
    x.hint = hint;
    if (conv >= byconv_.size()) byconv_.resize(std::max<size_t>(conv + 1, byconv_.size() + 1024),
                                               kTcpNoConn);
    byconv_[conv] = id;
    shard.conn(id).user = conv;
}

void TcpWork::unbind(uint32_t id) {
    TcpGlue& x = g(id);
    drop_pending(id);
    if (x.conv < byconv_.size() && byconv_[x.conv] == id) byconv_[x.conv] = kTcpNoConn;
    std::vector<TcpPend> keep;
    keep.swap(x.pend);  // keeps its capacity for the next connection of this id
    x = TcpGlue{};
    x.pend.swap(keep);
}

MsgHdr TcpWork::hdr(MsgKind k, uint32_t conn) const {
    MsgHdr h{};
    h.kind = k;
    h.stack = stack;
    h.proto = kTcpIndex;
    if (conn < glue_.size()) {
        h.conv = glue_[conn].conv;
        h.gen = glue_[conn].gen;
    }
    return h;
}

void TcpWork::push(const MsgHdr& h, const void* a, size_t na, const char* text) {
    TcpCpl& c = cpl.emplace_back();
    c.h = h;
    size_t n = std::min(na, sizeof c.b);
    if (n) std::memcpy(c.b, a, n);
    if (text) {
        size_t t = std::min(std::strlen(text), sizeof c.b - n);
        std::memcpy(c.b + n, text, t);
        n += t;
    }
    c.n = uint16_t(n);
}

void TcpWork::end(MsgKind k, uint32_t id, Err err) {
    TcpEndMsg m{glue_[id].up};
    push(hdr(k, id), &m, sizeof m, err.text);
}

// ---- requests -------------------------------------------------------------------------------

bool TcpWork::request(const MsgHdr& h, std::span<const uint8_t> d, void* m, uint64_t now) {
    uint32_t id = conn_of(h);
    switch (h.kind) {
    case MsgKind::Open: {
        TcpOpenMsg o;
        if (d.size() < sizeof o) return false;
        std::memcpy(&o, d.data(), sizeof o);
        auto r = tcp_open(shard, o.t, o.mss, now, h.conv);
        if (!r) {
            MsgHdr f = h;
            f.kind = MsgKind::Failed;
            push(f, nullptr, 0, r.err().text);
            TcpEndMsg e{0};
            f.kind = MsgKind::Closed;
            push(f, &e, sizeof e, r.err().text);
            flush();
            return false;
        }
        bind(*r, h.conv, h.gen, o.hint);
        TcpConn& c = shard.conn(*r);
        c.ttl = o.ttl;
        c.tos = o.tos;
        break;
    }
    case MsgKind::Listen: {
        TcpListenMsg o;
        if (d.size() < sizeof o) return false;
        std::memcpy(&o, d.data(), sizeof o);
        auto r = tcp_listen(shard, o.laddr, o.lport, o.backlog, h.conv);
        if (!r) {
            MsgHdr f = h;
            f.kind = MsgKind::Failed;
            push(f, nullptr, 0, r.err().text);
            return false;
        }
        bind(*r, h.conv, h.gen, OutHint{});
        glue_[*r].listener = true;
        return false;
    }
    case MsgKind::Accept: {
        TcpAcceptMsg o;
        if (d.size() < sizeof o) return false;
        std::memcpy(&o, d.data(), sizeof o);
        if (o.conn >= glue_.size() || glue_[o.conn].conv != kNoConv ||
            !shard.conn(o.conn).in_use || !(shard.conn(o.conn).t == o.t))
            return false;  // cannot happen: an unaccepted call keeps its id
        TcpGlue& x = glue_[o.conn];
        bool eof = x.eof, closed = x.closed;
        bind(o.conn, h.conv, h.gen, o.hint);
        tcp_accepted(shard, o.conn);  // the backlog still counts it until Taken
        if (tcp_readable(shard, o.conn) && !x.readable) {
            x.readable = true;
            readable.push_back(o.conn);
        }
        if (eof) end(MsgKind::Eof, o.conn, {});
        if (closed) end(MsgKind::Closed, o.conn, x.err);
        break;
    }
    case MsgKind::Send: {
        if (id == kTcpNoConn) return false;  // gone meanwhile: its Closed says why
        TcpGlue& x = glue_[id];
        bool last = h.flags & kMsgLast;
        if (x.pend.size() > x.pend_head) {  // behind others: wait in line
            x.pend.push_back({m, d.data(), uint32_t(d.size()), last, h});
            return true;
        }
        auto r = tcp_send(shard, id, d, now);
        uint32_t took = r ? *r : uint32_t(d.size());  // an error drops the rest
        x.taken += took;
        if (took < d.size()) {
            x.pend.push_back({m, d.data() + took, uint32_t(d.size() - took), last, h});
            after();
            return true;
        }
        if (last) {
            uint32_t n = x.taken;
            x.taken = 0;
            push(hdr(MsgKind::WriteDone, id), &n, sizeof n);
        }
        break;
    }
    case MsgKind::Taken:
        if (id != kTcpNoConn) tcp_taken(shard, id);
        return false;
    case MsgKind::Consumed: {
        uint32_t n;
        if (id == kTcpNoConn || d.size() < sizeof n) return false;
        std::memcpy(&n, d.data(), sizeof n);
        tcp_consumed(shard, id, n, now);
        break;
    }
    case MsgKind::Ctl: {
        MsgHdr r = h;
        r.kind = MsgKind::CtlDone;
        if (id == kTcpNoConn) {
            push(r, nullptr, 0, Ehungup.text);
            return false;
        }
        TcpGlue& x = glue_[id];
        if (x.pend.size() > x.pend_head) {  // behind data not yet in the send buffer
            x.pend.push_back({m, d.data(), uint32_t(d.size()), false, h});
            return true;
        }
        ctl_or_close(id, h, d, now);
        break;
    }
    case MsgKind::Close: {
        if (id == kTcpNoConn) {  // a refused call: the conn is named in the data
            TcpAcceptMsg o;
            if (d.size() < sizeof o) return false;
            std::memcpy(&o, d.data(), sizeof o);
            if (o.conn < glue_.size() && glue_[o.conn].conv == kNoConv &&
                shard.conn(o.conn).in_use && shard.conn(o.conn).t == o.t) {
                shard.st.calls_refused++;
                refuse(o.conn);
            }
            break;
        }
        TcpGlue& x = glue_[id];
        if (x.pend.size() > x.pend_head && !(h.flags & kMsgHangup)) {  // FIN after the data
            x.pend.push_back({m, d.data(), uint32_t(d.size()), false, h});
            return true;
        }
        ctl_or_close(id, h, d, now);
        break;
    }
    case MsgKind::Hint: {
        if (id == kTcpNoConn || d.size() < sizeof(OutHint)) return false;
        std::memcpy(&glue_[id].hint, d.data(), sizeof(OutHint));
        return false;
    }
    case MsgKind::SegIn: {
        TcpSegMsg o;
        if (d.size() < sizeof o) return false;
        std::memcpy(&o, d.data(), sizeof o);
        TcpSegIn s;
        if (!tcp_parse(shard.st, o.src, o.dst, d.data() + sizeof o,
                       uint32_t(d.size() - sizeof o), s))
            return false;
        s.route_mss = o.route_mss;
        input(s, now);
        return false;
    }
    case MsgKind::Advise: {
        TcpAdviseMsg o;
        if (d.size() < sizeof o) return false;
        std::memcpy(&o, d.data(), sizeof o);
        o.why[sizeof o.why - 1] = 0;
        tcp_advise(shard, o.q, o.seq, o.mtu != 0, o.mtu, o.why, now);
        break;
    }
    case MsgKind::Query: {
        MsgHdr r = h;
        r.kind = MsgKind::QueryDone;
        if (id == kTcpNoConn) {
            push(r);
            return false;
        }
        Text t;
        tcp_state_text(shard, shard.conn(id), now, t);
        push(r, t.str().data(), t.str().size());
        return false;
    }
    default:
        return false;
    }
    after();
    return false;
}

// A Ctl or Close of a bound connection, now that nothing waits before it. True: the id
// went back to the engine.
bool TcpWork::ctl_or_close(uint32_t id, const MsgHdr& h, std::span<const uint8_t> d,
                           uint64_t now) {
    TcpGlue& x = glue_[id];
    if (h.kind == MsgKind::Ctl) {
        MsgHdr r = h;
        r.kind = MsgKind::CtlDone;
        CtlArgs a = parsecmd({reinterpret_cast<const char*>(d.data()), d.size()});
        Err e = tcp_ctl(shard, id, a, now);
        push(r, nullptr, 0, e.text);
        return false;
    }
    drop_pending(id);
    if (x.listener) {
        tcp_unlisten(shard, id, now);
        unbind(id);
        return true;
    }
    if (h.flags & kMsgHangup) tcp_hangup(shard, id, now);
    x.user_closed = true;
    bool gone = x.closed;
    tcp_close(shard, id, now);
    if (gone) unbind(id);  // the engine freed it at once
    return gone;
}

void TcpWork::reject(uint32_t id, uint64_t now) {
    shard.now = now;
    refuse(id);
    after();
}

// Resets a call nobody takes; its events (if any) are handled by the caller's after().
void TcpWork::refuse(uint32_t id) {
    TcpGlue& x = g(id);
    x.user_closed = true;
    bool gone = x.closed;
    tcp_hangup(shard, id, shard.now);
    flush();
    tcp_close(shard, id, shard.now);
    flush();
    if (gone || !shard.conn(id).in_use) unbind(id);
}

void TcpWork::input(const TcpSegIn& seg, uint64_t now) {
    tcp_input(shard, seg, now);
    after();
}

void TcpWork::timers(uint64_t now) {
    if (now < next_timer_) return;
    next_timer_ = now + 1000;
    tcp_timers(shard, now);
    after();
}

uint32_t TcpWork::read(uint32_t id, std::span<uint8_t> dst, uint64_t now) {
    uint32_t n = tcp_read(shard, id, dst, now);
    glue_[id].up += n;
    return n;
}

// ---- engine output --------------------------------------------------------------------------

void TcpWork::after() {
    flush();
    while (!shard.ev.empty()) {
        evs_.swap(shard.ev);
        shard.ev.clear();
        for (const TcpEv& e : evs_) event(e);
        evs_.clear();
        flush();
    }
}

void TcpWork::event(const TcpEv& e) {
    if (e.conn >= shard.conns.size()) return;
    TcpGlue& x = g(e.conn);
    bool bound = x.conv != kNoConv;
    switch (e.kind) {
    case TcpEvKind::Connected:
        if (bound) push(hdr(MsgKind::Connected, e.conn));
        break;
    case TcpEvKind::ConnectFailed:
        if (bound) push(hdr(MsgKind::Failed, e.conn), nullptr, 0, e.err.text);
        break;
    case TcpEvKind::CallArrived: {
        g(e.conn);  // unbound until the control thread accepts it
        glue_[e.conn] = TcpGlue{};
        const TcpGlue* l = e.listener < glue_.size() ? &glue_[e.listener] : nullptr;
        if (!l || l->conv == kNoConv) {
            shard.st.calls_refused++;
            refuse(e.conn);
            break;
        }
        TcpCallMsg c{e.conn, shard.conn(e.conn).t};
        MsgHdr h = hdr(MsgKind::Call, e.listener);
        push(h, &c, sizeof c);
        break;
    }
    case TcpEvKind::Readable:
        if (bound && !x.readable) {
            x.readable = true;
            readable.push_back(e.conn);
        }
        break;
    case TcpEvKind::WriteSpace:
        send_pending(e.conn);
        break;
    case TcpEvKind::Eof:
        if (bound)
            end(MsgKind::Eof, e.conn, {});
        else
            x.eof = true;
        break;
    case TcpEvKind::Closed:
        x.closed = true;
        if (e.err.text) {  // advice texts live in a small ring: keep a copy
            std::strncpy(x.errbuf, e.err.text, sizeof x.errbuf - 1);
            x.err = Err{x.errbuf};
        }
        drop_pending(e.conn);
        if (bound) end(MsgKind::Closed, e.conn, x.err);
        if (x.user_closed) unbind(e.conn);  // the engine recycles the id now
        break;
    case TcpEvKind::StateChanged:
        break;
    }
}

void TcpWork::send_pending(uint32_t id) {
    TcpGlue& x = glue_[id];
    while (x.pend_head < x.pend.size()) {
        TcpPend& p = x.pend[x.pend_head];
        if (p.h.kind != MsgKind::Send) {  // a Ctl or Close that waited for the data before it
            TcpPend q = p;
            x.pend_head++;
            freed.push_back(q.m);
            if (q.h.kind == MsgKind::Close) {
                x.pend_head = x.pend.size();  // nothing comes after a last close
                ctl_or_close(id, q.h, {q.p, q.n}, shard.now);
                flush();
                return;
            }
            ctl_or_close(id, q.h, {q.p, q.n}, shard.now);
            flush();
            continue;
        }
        auto r = tcp_send(shard, id, {p.p, p.n}, shard.now);
        flush();
        uint32_t took = r ? *r : p.n;
        x.taken += took;
        p.p += took;
        p.n -= took;
        if (p.n) return;  // still no room: the next WriteSpace
        freed.push_back(p.m);
        if (p.last) {
            uint32_t n = x.taken;
            x.taken = 0;
            push(hdr(MsgKind::WriteDone, id), &n, sizeof n);
        }
        x.pend_head++;
    }
    x.pend.clear();
    x.pend_head = 0;
}

void TcpWork::drop_pending(uint32_t id) {
    if (id >= glue_.size()) return;
    TcpGlue& x = glue_[id];
    for (size_t i = x.pend_head; i < x.pend.size(); i++) freed.push_back(x.pend[i].m);
    x.pend.clear();
    x.pend_head = 0;
    x.taken = 0;
}

}  // namespace devip::proto
