// Conversations: queues, clone/close, generic ctl verbs and the addr!port rules of devip.c.
// Behaviour: ip3.md §1.4–§1.6, §3.2, §3.2.1.
#include "proto/conv.h"

#include <algorithm>

#include "proto/ipaux.h"
#include "proto/msg.h"
#include "proto/netio.h"
#include "proto/registry.h"
#include "proto/stack.h"

namespace devip::proto {

// ---- ReadySet and Queue -------------------------------------------------------------------

void ReadySet::take(std::vector<const void*>& out) {
    std::sort(keys_.begin(), keys_.end());
    keys_.erase(std::unique(keys_.begin(), keys_.end()), keys_.end());
    out.insert(out.end(), keys_.begin(), keys_.end());
    keys_.clear();
}

bool Queue::put(std::string b) {
    if (closed_ || bytes_ + b.size() > limit_) return false;
    bytes_ += b.size();
    q_.push_back(std::move(b));
    kick();
    return true;
}

Queue::R Queue::read(uint32_t count, std::string& out, Err& e) {
    out.clear();
    if (!q_.empty()) {
        std::string& b = q_.front();
        if (b.size() <= count || msg_) {
            out = b.substr(0, count);
            bytes_ -= b.size();
            q_.pop_front();
        } else {
            out = b.substr(0, count);
            b.erase(0, count);
            bytes_ -= count;
        }
        return R::Data;
    }
    if (!closed_) return R::Wait;
    if (reason_) {
        e = reason_;
        return R::Error;
    }
    if (eofs_++ < 3) return R::Data;  // EOF: zero bytes
    e = Ehungup;
    return R::Error;
}

void Queue::hangup(Err reason) {
    if (closed_) return;
    closed_ = true;
    kick();
    if (reason) {
        reason_buf_ = reason.text;
        reason_ = Err{reason_buf_.c_str()};
    }
}

void Queue::reset() {
    kick();
    q_.clear();
    bytes_ = 0;
    closed_ = false;
    reason_ = {};
    reason_buf_.clear();
    eofs_ = 0;
}

// ---- Conv and Proto: construction, clone and close

Conv::Conv(Proto& p, int x, size_t rqlimit, bool rqmsg)
    : p(&p), x(x), rq(rqlimit, rqmsg), eq(64 * 1024, true) {
    rq.attach(&p.stack.net.ready);
    eq.attach(&p.stack.net.ready);
}

ReadySet* Conv::rq_ready() const { return &p->stack.net.ready; }

Proto::Proto(Stack& s, const ProtoRow& row)
    : stack(s), info{row.name, row.ipproto, row.nconv, int(&row - proto_table().data())} {}

// ---- clone and close -------------------------------------------------------------

Result<Conv*> Proto::clone(const std::string& user) {
    Conv* c = nullptr;
    for (auto& p : convs)
        if (p->inuse == 0 && !busy(*p)) {
            c = p.get();
            break;
        }
    if (!c) {
        if (int(convs.size()) >= info.nconv) return Enodev;
        convs.push_back(make_conv(int(convs.size())));
        c = convs.back().get();
    }
    c->inuse = 1;
    c->gen++;
    c->owner = user;
    c->perm = 0660;
    c->state = ConvState::Idle;
    c->laddr = c->raddr = IPnoaddr;
    c->lport = c->rport = 0;
    c->restricted = c->ignoreadvice = c->headers = false;
    c->ttl = 255;
    c->tos = 0;
    c->rq.reset();
    c->eq.reset();
    c->incall.clear();
    c->listening = 0;
    create(*c);
    return c;
}

int Proto::take_call(Conv& l) {
    if (l.incall.empty()) return -1;
    int x = l.incall.front();
    l.incall.pop_front();
    if (Conv* n = conv(x)) taken(*n);
    return x;
}

void Proto::last_close(Conv& c) {
    for (int x : c.incall)  // calls never taken
        if (Conv* n = conv(x); n && n->inuse > 0 && --n->inuse == 0) last_close(*n);
    c.incall.clear();
    c.owner = "network";
    c.perm = 0660;
    c.multi.clear();
    close(c);
    c.state = ConvState::Idle;
}

// ---- generic ctl (devip.c ipwrite) ------------------------------------------------------

// One write = one message (64 KB pieces for writes larger than that).
Err Proto::data_async(Conv& c, std::span<const uint8_t> data, Pend&, uint32_t& n) {
    n = uint32_t(data.size());
    for (size_t o = 0; o < data.size() || o == 0; o += 64 * 1024) {
        if (Err e = write_data(c, data.subspan(o, std::min<size_t>(64 * 1024, data.size() - o))))
            return e;
        if (data.empty()) break;
    }
    return ok;
}

Err Proto::write_ctl(Conv& c, const CtlArgs& a) {
    if (a.empty()) return Eshortctl;
    const std::string& v = a[0];
    if (v == "connect") {
        if (c.state != ConvState::Idle) return Econinuse;
        c.state = ConvState::Connecting;  // a failure leaves it so (quirk 1)
        if (Err e = connect(c, a)) return e;
        c.state = ConvState::Connected;
        return ok;
    }
    if (v == "announce") {
        if (c.state != ConvState::Idle) return Econinuse;
        c.state = ConvState::Announcing;
        if (Err e = announce(c, a)) return e;
        c.state = ConvState::Announced;
        return ok;
    }
    if (v == "bind") return bind(c, a);
    if (v == "ttl") {
        c.ttl = a.size() > 1 ? uint8_t(ctl_strtol(a[1])) : 255;
        return ok;
    }
    if (v == "tos") {
        c.tos = a.size() > 1 ? uint8_t(ctl_strtol(a[1])) : 0;
        return ok;
    }
    if (v == "ignoreadvice") {
        c.ignoreadvice = true;
        return ok;
    }
    if (v == "addmulti" || v == "delmulti" || v == "remmulti") {
        bool add = v == "addmulti";
        if (a.size() < 2) return add ? Eaddmultineeds : Edelmultineeds;
        auto ifcaddr = parseip(a[1]);
        if (!ifcaddr) return Ebadip;
        Ipaddr group;
        if (a.size() > 2 && add) {
            auto g = parseip(a[2]);
            if (!g) return Ebadip;
            group = *g;
        } else {
            group = c.raddr.is_noaddr() || c.laddr.is_multicast() ? c.laddr : c.raddr;
        }
        if (!add) {
            std::erase_if(c.multi, [&](auto& m) { return m.first == *ifcaddr && m.second == group; });
            return ok;
        }
        if (!group.is_multicast()) return Enotmulti;
        if (group.is_v4() != ifcaddr->is_v4()) return Emultiincompat;
        for (auto& m : c.multi)
            if (m.first == *ifcaddr && m.second == group) return ok;
        c.multi.emplace_back(*ifcaddr, group);
        return ok;
    }
    return ctl(c, a);
}

Err Proto::connect(Conv& c, const CtlArgs& a) {
    if (a.size() != 2 && a.size() != 3) return Ebadconnect;
    if (Err e = setraddrport(c, a[1])) return e;
    if (a.size() == 2) {
        setladdr(c);
        if (Err e = setlport(c)) return e;
    } else if (Err e = setladdrport(c, a[2], false, caller_eve)) {
        return e;
    }
    c.ipversion = (c.raddr.is_v4() && c.laddr.is_v4()) || c.raddr.is_noaddr() ? Version::V4
                                                                                : Version::V6;
    return ok;
}

Err Proto::announce(Conv& c, const CtlArgs& a) {
    if (a.size() != 2) return Ebadannounce;
    c.raddr = IPnoaddr;
    c.rport = 0;
    return setladdrport(c, a[1], true, caller_eve);
}

Err Proto::bind(Conv& c, const CtlArgs& a) {
    if (a.size() != 2) return Ebadbind;
    return setladdrport(c, a[1], false, caller_eve);
}

void Proto::local(const Conv& c, Text& t) const {
    t.put_ip(c.laddr);
    t.put("!%d\n", c.lport);
}

void Proto::remote(const Conv& c, Text& t) const {
    t.put_ip(c.raddr);
    t.put("!%d\n", c.rport);
}

// ---- addresses and ports (§3.2.1) -------------------------------------------------------

Err Proto::setraddrport(Conv& c, std::string_view s) {
    auto r = parse_remote(s);
    if (!r) return r.err();
    c.raddr = r->addr;
    c.rport = r->port;
    c.restricted = r->restricted;
    return ok;
}

void Proto::setladdr(Conv& c) {
    // a v4 remote gets a v4 source; an unset remote gets "any"
    c.laddr = c.raddr.is_noaddr() ? IPnoaddr : stack.findlocalip(c.raddr);
}

Err Proto::setladdrport(Conv& c, std::string_view s, bool announcing, bool eve) {
    auto l = parse_local(s, announcing);
    if (!l) return l.err();
    c.lport = 0;
    if (!l->has_addr) {
        if (announcing)
            c.laddr = IPnoaddr;
        else
            setladdr(c);
    } else if (l->any_addr) {
        c.laddr = IPnoaddr;
    } else {
        if (!stack.ipforme(l->addr) && !l->addr.is_multicast()) return Enotlocal;
        c.laddr = l->addr;
    }
    if (l->any_port) {
        if (!eve) return Eperm;
        return setluniqueport(c, 0);
    }
    if (l->port == 0) return setlport(c);
    return setluniqueport(c, l->port);
}

Err Proto::setluniqueport(Conv& c, uint16_t port) {
    if (port != 0)
        for (auto& p : convs) {
            if (p.get() == &c) continue;
            if (p->state != ConvState::Connected && p->state != ConvState::Announced) continue;
            if (p->lport == port && p->rport == c.rport && p->raddr == c.raddr &&
                p->laddr == c.laddr)
                return Eaddrinuse;
        }
    c.lport = port;
    return ok;
}

Err Proto::setlport(Conv& c) {
    auto taken = [&](uint16_t port) {
        for (auto& p : convs)
            if (p.get() != &c && p->lport == port) return true;
        return false;
    };
    if (c.restricted) {
        for (int i = 0; i < 1024 - 600; i++) {
            uint16_t port = next_restricted++;
            if (next_restricted >= 1024) next_restricted = 600;
            if (!taken(port)) {
                c.lport = port;
                return ok;
            }
        }
        return Enoports;
    }
    for (int i = 0; i < 64; i++) {
        uint16_t port = uint16_t(32768 + stack.net.random() % 32768);
        if (!taken(port)) {
            c.lport = port;
            return ok;
        }
    }
    return Enoports;
}

void Proto::flow_sync(Conv& c, bool on, FlowMsg& f, bool hint) {
    Netio* io = stack.net.io;
    if (!io || io->workers() == 0 || (!on && !c.flowed)) return;
    MsgHdr h{};
    h.kind = on ? MsgKind::FlowAdd : MsgKind::FlowDel;
    h.stack = uint8_t(stack.n);
    h.proto = uint8_t(info.index);
    h.conv = uint32_t(c.x);
    h.gen = c.gen;
    if (on && hint) f.hint = stack.out_hint(c.laddr, c.raddr);
    if (!io->request(h, {reinterpret_cast<const uint8_t*>(&f), sizeof f}, -1)) return;
    c.flowed = on;
    c.hint_gen = on && f.hint.ok ? f.hint.gen : 0;
}

bool Proto::flow_send(Conv& c, std::span<const uint8_t> msg, size_t max) {
    Netio* io = stack.net.io;
    if (!c.flowed || !io || io->workers() == 0 || msg.size() > max) return false;
    if (c.hint_gen != stack.rgen.load(std::memory_order_relaxed)) {
        if (!stack.out_hint(c.laddr, c.raddr).ok) return false;
        sync_flow(c);
        if (!c.hint_gen) return false;
    }
    MsgHdr h{};
    h.kind = MsgKind::Send;
    h.stack = uint8_t(stack.n);
    h.proto = uint8_t(info.index);
    h.conv = uint32_t(c.x);
    h.gen = c.gen;
    return io->request(h, msg, c.x % io->workers());  // one conv, one worker: in order
}

}  // namespace devip::proto
