// The /net tree over 9P: generators for each level and the file operations of devip.c.
// Behaviour: ip3.md §1.1–§1.6 (tree, permissions, clone, listen, queues), §2, §3.
#include "control/tree.h"

#include <ctime>

#include "proto/conv.h"
#include "proto/ipaux.h"

namespace devip::ctl {

using namespace devip::proto;

namespace {

struct NodeInfo {
    std::string_view name;
    Q type;
    uint32_t mode;
};

// Top-level files after the protocol directories, in listing order (§1.1).
constexpr NodeInfo kTopFiles[] = {
    {"arp", Q::Arp, 0664},         {"bootp", Q::Bootp, 0666},
    {"ndb", Q::Ndb, 0666},         {"iproute", Q::Iproute, 0664},
    {"ipselftab", Q::Ipselftab, 0444}, {"log", Q::Log, 0666},
    {"config", Q::Config, 0644},  // ours, after 9front's files
};
// Conversation files, in listing order (§1.3); mode 0 = the conv's perm.
constexpr NodeInfo kConvFiles[] = {
    {"ctl", Q::Ctl, 0},        {"data", Q::Data, 0},          {"err", Q::Err, 0},
    {"listen", Q::Listen, 0},  {"local", Q::Local, 0444},     {"remote", Q::Remote, 0444},
    {"status", Q::Status, 0444}, {"snoop", Q::Snoop, 0400},
    {"capture", Q::Capture, 0400},  // ours, after 9front's snoop; ipifc only, like snoop
};
constexpr NodeInfo kEtherFiles[] = {
    {"addr", Q::Etheraddr, 0444}, {"stats", Q::Etherstats, 0444},
    {"ifstats", Q::Etherifstats, 0444}, {"ctl", Q::Etherctl, 0664},
    {"capture", Q::Capture, 0400},
};

constexpr Err Enonexist{"file does not exist"};
constexpr Err Enotdir{"not a directory"};
constexpr Err Ebadusefd{"inappropriate use of fd"};

bool isdir(Q t) {
    return t == Q::Topdir || t == Q::Protodir || t == Q::Convdir || t == Q::Etherdir;
}

// Per-open state kept in Fid::aux.
struct OpenState {
    bool counted = false;    // holds one of the conv's open counts (ctl/data/err/clone/listen)
    bool listening = false;  // a parked listen raised the listener's count
    bool log = false;        // /net/log reader
    bool snoop = false;      // ipifc snoop reader
    RouteTag tag = kTagNone; // iproute fd tag
    bool answer = false;     // iproute: reads return `route`'s answer, not the table
    std::string route;       // iproute: that answer
    bool keys = false;       // config: "keys" was written (eve only): secrets included
    bool config_built = false;  // config: text holds this open's configuration
    std::string text;        // config: the text being read
    Pend wop, rop;           // a write, a status read a worker must finish (conv.h)
    int capture = -1;        // capture: the capture this open holds (CaptureIo id)
};

OpenState& st(Fid& f) {
    if (!f.aux) f.aux = std::make_shared<OpenState>();
    return *static_cast<OpenState*>(f.aux.get());
}

// A string read: the text is built fresh and the offset honoured (§1.3).
Answer string_read(const std::string& text, uint64_t off, uint32_t count, std::string& out) {
    out = off < text.size() ? text.substr(off, count) : std::string();
    return Answer::done();
}

int access_bits(uint8_t mode) {
    switch (mode & 3) {
    case OREAD: return 4;
    case OWRITE: return 2;
    case ORDWR: return 6;
    default: return 1;
    }
}

}  // namespace

// ---- helpers ----------------------------------------------------------------------------

Proto* Tree::proto_of(const Fid& f) const {
    unsigned idx = qproto(f.qid.path);
    for (auto& p : stack(f).protos)
        if (unsigned(p->info.index) == idx) return p.get();
    return nullptr;
}

Conv* Tree::conv_of(const Fid& f) const {
    Proto* p = proto_of(f);
    return p ? p->conv(int(qconv(f.qid.path))) : nullptr;
}

void Tree::fill(Dir& d, std::string name, uint64_t path, uint32_t mode, const std::string& owner,
                uint64_t len) const {
    d = Dir{};
    d.type = 'I';
    d.qid.path = path;
    d.qid.type = isdir(qtype(path)) ? QTDIR : QTFILE;
    d.mode = mode | (isdir(qtype(path)) ? DMDIR : 0);
    d.atime = d.mtime = boot_ ? boot_ : uint32_t(time(nullptr));
    d.length = len;
    d.name = std::move(name);
    d.uid = d.gid = d.muid = owner;
}

bool Tree::gen_top(const Fid& f, uint64_t i, Dir& d) const {
    Stack& s = stack(f);
    if (i < s.protos.size()) {
        Proto& p = *s.protos[i];
        fill(d, p.info.name, qpath(unsigned(p.info.index), 0, Q::Protodir), 0555, "network");
        return true;
    }
    i -= s.protos.size();
    if (i < std::size(kTopFiles)) {
        const NodeInfo& n = kTopFiles[i];
        fill(d, std::string(n.name), qpath(0, 0, n.type), n.mode, "network",
             n.type == Q::Ndb ? s.ndb.size() : 0);
        if (n.type == Q::Ndb) d.qid.vers = s.ndbvers;
        return true;
    }
    i -= std::size(kTopFiles);
    int nports = net_.io ? net_.io->nports() : 0;
    if (i < uint64_t(nports)) {
        fill(d, net_.io->port(int(i)).name, qpath(kEtherProto, unsigned(i), Q::Etherdir), 0555,
             "network");
        return true;
    }
    return false;
}

bool Tree::gen_proto(const Fid&, Proto& p, uint64_t i, Dir& d) const {
    unsigned pi = unsigned(p.info.index);
    if (i < p.convs.size()) {
        Conv& c = *p.convs[i];
        fill(d, std::to_string(i), qpath(pi, unsigned(i), Q::Convdir), 0555, c.owner);
        return true;
    }
    i -= p.convs.size();
    if (i == 0) {
        fill(d, "clone", qpath(pi, 0, Q::Clone), 0666, "network");
        return true;
    }
    if (i == 1) {
        fill(d, "stats", qpath(pi, 0, Q::Stats), 0444, "network");
        return true;
    }
    return false;
}

bool Tree::gen_conv(const Fid&, Proto& p, Conv& c, uint64_t i, Dir& d) const {
    size_t n = std::size(kConvFiles) - (p.has_snoop() ? 0 : 2);  // snoop, capture: ipifc
    if (i == n && p.has_conv_stats()) {
        fill(d, "stats", qpath(unsigned(p.info.index), unsigned(c.x), Q::Convstats), 0444,
             c.owner);
        return true;
    }
    if (i >= n) return false;
    const NodeInfo& k = kConvFiles[i];
    uint64_t len = 0;
    if (k.type == Q::Data) len = c.rq.bytes();
    if (k.type == Q::Err) len = c.eq.bytes();
    if (k.type == Q::Snoop) len = static_cast<Ipifc&>(c).snoopq.bytes();
    fill(d, std::string(k.name), qpath(unsigned(p.info.index), unsigned(c.x), k.type),
         k.mode ? k.mode : c.perm, c.owner, len);
    return true;
}

bool Tree::gen_ether(unsigned port, uint64_t i, Dir& d) const {
    if (i >= std::size(kEtherFiles)) return false;
    fill(d, std::string(kEtherFiles[i].name), qpath(kEtherProto, port, kEtherFiles[i].type),
         kEtherFiles[i].mode, "network");
    return true;
}

// ---- attach, walk, stat -----------------------------------------------------------------

Err Tree::attach(Fid& f, std::string_view aname) {
    int n = 0;
    if (!aname.empty()) {
        for (char ch : aname)
            if (ch < '0' || ch > '9') return Enodev;
        if (aname.size() > 3) return Enodev;
        n = std::stoi(std::string(aname));
    }
    if (n >= kMaxStacks) return Enodev;
    if (!boot_) boot_ = uint32_t(time(nullptr));
    net_.stack(n);
    f.stack = n;
    f.qid = {QTDIR, 0, qpath(0, 0, Q::Topdir)};
    return ok;
}

Err Tree::walk(Fid& f, std::string_view name) {
    Q t = qtype(f.qid.path);
    if (!isdir(t)) return Enotdir;
    Dir d;
    if (name == "..") {
        if (t == Q::Convdir)
            f.qid = {QTDIR, 0, qpath(qproto(f.qid.path), 0, Q::Protodir)};
        else
            f.qid = {QTDIR, 0, qpath(0, 0, Q::Topdir)};
        return ok;
    }
    if (name == ".") return ok;
    auto find = [&](auto gen) -> bool {
        for (uint64_t i = 0;; i++) {
            if (!gen(i, d)) return false;
            if (d.name == name) {
                f.qid = d.qid;
                return true;
            }
        }
    };
    bool found = false;
    switch (t) {
    case Q::Topdir:
        found = find([&](uint64_t i, Dir& x) { return gen_top(f, i, x); });
        break;
    case Q::Protodir: {
        Proto* p = proto_of(f);
        if (!p) return Enonexist;
        found = find([&](uint64_t i, Dir& x) { return gen_proto(f, *p, i, x); });
        break;
    }
    case Q::Convdir: {
        Proto* p = proto_of(f);
        Conv* c = conv_of(f);
        if (!p || !c) return Enonexist;
        found = find([&](uint64_t i, Dir& x) { return gen_conv(f, *p, *c, i, x); });
        break;
    }
    case Q::Etherdir:
        found = find([&](uint64_t i, Dir& x) { return gen_ether(qconv(f.qid.path), i, x); });
        break;
    default:
        break;
    }
    return found ? ok : Enonexist;
}

Err Tree::stat(const Fid& f, Dir& d) {
    Q t = qtype(f.qid.path);
    Fid parent = f;
    std::string self;
    switch (t) {
    case Q::Topdir:
        fill(d, "#I" + std::to_string(f.stack), f.qid.path, 0555, "network");
        return ok;
    case Q::Protodir:
    case Q::Etherdir:
        parent.qid = {QTDIR, 0, qpath(0, 0, Q::Topdir)};
        break;
    case Q::Convdir:
    case Q::Clone:
    case Q::Stats:
        parent.qid = {QTDIR, 0, qpath(qproto(f.qid.path), 0, Q::Protodir)};
        break;
    case Q::Etheraddr:
    case Q::Etherstats:
    case Q::Etherifstats:
    case Q::Etherctl:
        parent.qid = {QTDIR, 0, qpath(kEtherProto, qconv(f.qid.path), Q::Etherdir)};
        break;
    case Q::Capture:
        parent.qid = {QTDIR, 0, qpath(qproto(f.qid.path), qconv(f.qid.path),
                                      qproto(f.qid.path) == kEtherProto ? Q::Etherdir
                                                                        : Q::Convdir)};
        break;
    case Q::Arp: case Q::Bootp: case Q::Ndb: case Q::Iproute: case Q::Ipselftab: case Q::Log:
    case Q::Config:
        parent.qid = {QTDIR, 0, qpath(0, 0, Q::Topdir)};
        break;
    default:  // conversation files
        parent.qid = {QTDIR, 0, qpath(qproto(f.qid.path), qconv(f.qid.path), Q::Convdir)};
        break;
    }
    for (uint64_t i = 0; dirent(parent, i, d); i++)
        if (d.qid.path == f.qid.path) return ok;
    return Enonexist;
}

bool Tree::dirent(const Fid& f, uint64_t i, Dir& d) {
    switch (qtype(f.qid.path)) {
    case Q::Topdir:
        return gen_top(f, i, d);
    case Q::Protodir:
        if (Proto* p = proto_of(f)) return gen_proto(f, *p, i, d);
        return false;
    case Q::Convdir: {
        Proto* p = proto_of(f);
        Conv* c = conv_of(f);
        return p && c && gen_conv(f, *p, *c, i, d);
    }
    case Q::Etherdir:
        return gen_ether(qconv(f.qid.path), i, d);
    default:
        return false;
    }
}

// ---- open (§1.1, §1.3, §1.4, §1.5) ------------------------------------------------------

Answer Tree::open(Fid& f, uint8_t mode) {
    const Ident& who = *f.who;
    Q t = qtype(f.qid.path);
    uint8_t rw = mode & 3;
    switch (t) {
    case Q::Topdir: case Q::Protodir: case Q::Convdir: case Q::Status: case Q::Remote:
    case Q::Local: case Q::Stats: case Q::Bootp: case Q::Ipselftab: case Q::Etherdir:
    case Q::Etheraddr: case Q::Etherstats: case Q::Etherifstats: case Q::Convstats:
        if (rw != OREAD || (mode & OTRUNC)) return Answer::fail(Eperm);
        return Answer::done();
    case Q::Log:
        stack(f).log.open();
        st(f).log = true;
        return Answer::done();
    case Q::Ndb:
        if (rw != OREAD || (mode & OTRUNC)) {
            if (!who.eve) return Answer::fail(Eperm);
            if (mode & OTRUNC) {
                Stack& s = stack(f);
                s.ndb.clear();
                s.ndbvers++;
                s.ndbmtime = uint32_t(time(nullptr));
            }
        }
        return Answer::done();
    case Q::Arp:
    case Q::Iproute:
    case Q::Etherctl:
    case Q::Config:
        if (rw != OREAD && !who.eve) return Answer::fail(Eperm);
        if (t == Q::Iproute) st(f).tag = kTagNone;
        return Answer::done();
    case Q::Clone: {
        Proto* p = proto_of(f);
        if (!p) return Answer::fail(Enonexist);
        auto c = p->clone(who.user);
        if (!c) return Answer::fail(c.err());
        f.qid = {QTFILE, 0, qpath(unsigned(p->info.index), unsigned((*c)->x), Q::Ctl)};
        st(f).counted = true;
        return Answer::done();
    }
    case Q::Ctl:
    case Q::Data:
    case Q::Err:
    case Q::Listen: {
        Proto* p = proto_of(f);
        Conv* c = conv_of(f);
        if (!p || !c) return Answer::fail(Enonexist);
        OpenState& o = st(f);
        if (!o.listening) {  // first attempt: the permission check (group bits never)
            if (!who.eve) {
                uint32_t bits = c->owner == who.user ? (c->perm >> 6) & 7 : c->perm & 7;
                int want = access_bits(mode);
                if ((bits & uint32_t(want)) != uint32_t(want)) return Answer::fail(Eperm);
            }
        }
        if (t != Q::Listen) {
            if (c->inuse == 0) {
                c->owner = who.user;
                c->perm = 0660;
            }
            c->inuse++;
            o.counted = true;
            return Answer::done();
        }
        if (c->state != ConvState::Announced) {
            if (o.listening) {
                o.listening = false;
                if (--c->inuse == 0) p->last_close(*c);
            }
            return Answer::fail(Enotannounced);
        }
        if (!o.listening) {
            o.listening = true;
            c->inuse++;
        }
        if (c->incall.empty()) {
            if (c->rq.closed()) {
                o.listening = false;
                if (--c->inuse == 0) p->last_close(*c);
                return Answer::fail(Elistenhungup);
            }
            return Answer::park(&c->rq);  // a call or the listener's hangup kicks it
        }
        int x = p->take_call(*c);  // oldest call first; it is already counted as open
        o.listening = false;
        c->inuse--;
        f.qid = {QTFILE, 0, qpath(unsigned(p->info.index), unsigned(x), Q::Ctl)};
        o.counted = true;
        return Answer::done();
    }
    case Q::Snoop: {
        Conv* c = conv_of(f);
        if (!c) return Answer::fail(Enonexist);
        if (rw != OREAD || (!who.eve && c->owner != who.user)) return Answer::fail(Eperm);
        static_cast<Ipifc*>(c)->snoopers++;
        st(f).snoop = true;
        return Answer::done();
    }
    case Q::Capture:
        return open_capture(f, mode, st(f).capture);
    default:
        return Answer::fail(Eperm);
    }
}

// ---- read -------------------------------------------------------------------------------

Answer Tree::read(Fid& f, uint64_t off, uint32_t count, std::string& out) {
    Q t = qtype(f.qid.path);
    Stack& s = stack(f);
    Text text;
    switch (t) {
    case Q::Arp: {  // whole lines only: a line is sent if it ends beyond the offset (§2.8)
        std::string all;
        s.arp_text(all);
        out.clear();
        size_t pos = 0;
        while (pos < all.size()) {
            size_t e = all.find('\n', pos);
            e = e == std::string::npos ? all.size() : e + 1;
            if (e > off) {
                if (out.size() + (e - pos) > count) break;
                out.append(all, pos, e - pos);
            }
            pos = e;
        }
        return Answer::done();
    }
    case Q::Bootp:
        out.clear();
        return Answer::done();
    case Q::Config: {  // built at the first read of an open, so chunked reads agree
        OpenState& o = st(f);
        if (off == 0 || !o.config_built) {
            Text all;
            s.config_text(all, o.keys);
            o.text = all.take();
            o.config_built = true;
        }
        return string_read(o.text, off, count, out);
    }
    case Q::Ndb:
        return string_read(s.ndb, off, count, out);
    case Q::Iproute:
        if (st(f).answer) return string_read(st(f).route, off, count, out);
        out.clear();
        s.rib.read(out, size_t(off), count);
        return Answer::done();
    case Q::Ipselftab: {  // formatted lines are dropped while the offset is positive (§2.9)
        std::string all;
        s.self.text(all);
        out.clear();
        int64_t skip = int64_t(off);
        size_t pos = 0;
        while (pos < all.size() && out.size() < count) {
            size_t e = all.find('\n', pos) + 1;
            if (skip > 0)
                skip -= int64_t(e - pos);
            else
                out.append(all, pos, std::min<size_t>(e - pos, count - out.size()));
            pos = e;
        }
        return Answer::done();
    }
    case Q::Log:
        if (s.log.available() == 0) return Answer::park(&s.log);
        out = s.log.read(count);
        return Answer::done();
    case Q::Stats: {
        Proto* p = proto_of(f);
        if (!p) return Answer::fail(Enonexist);
        p->stats(text);
        return string_read(text.str(), off, count, out);
    }
    case Q::Etherctl:
        out.clear();
        return Answer::done();
    case Q::Capture:
        return read_capture(f, st(f).capture, count, out);
    case Q::Etheraddr:
    case Q::Etherstats:
    case Q::Etherifstats: {
        unsigned port = qconv(f.qid.path);
        if (!net_.io || int(port) >= net_.io->nports()) return Answer::fail(Enonexist);
        if (t == Q::Etheraddr)
            text.put_ether(net_.io->port(int(port)).mac);
        else
            net_.io->port_stats(uint16_t(port), text);
        return string_read(text.str(), off, count, out);
    }
    default:
        break;
    }
    Proto* p = proto_of(f);
    Conv* c = conv_of(f);
    if (!p || !c) return Answer::fail(Enonexist);
    Err e;
    switch (t) {
    case Q::Ctl:
        return string_read(std::to_string(c->x), off, count, out);
    case Q::Local:
        p->local(*c, text);
        return string_read(text.str(), off, count, out);
    case Q::Remote:
        p->remote(*c, text);
        return string_read(text.str(), off, count, out);
    case Q::Status: {
        Pend& op = st(f).rop;
        Err se = p->status(*c, text, op);
        if (op.key) return Answer::park(op.key);
        if (se) return Answer::fail(se);
        return string_read(text.str(), off, count, out);
    }
    case Q::Convstats:
        p->conv_stats(*c, text);
        return string_read(text.str(), off, count, out);
    case Q::Data:
    case Q::Err:
    case Q::Snoop: {
        Queue& q = t == Q::Data ? c->rq : t == Q::Err ? c->eq : static_cast<Ipifc*>(c)->snoopq;
        switch (q.read(count, out, e)) {
        case Queue::R::Data:
            if (t == Q::Data && !out.empty()) p->consumed(*c, out.size());
            return Answer::done();
        case Queue::R::Wait: return Answer::park(&q);
        case Queue::R::Error: return Answer::fail(e);
        }
        return Answer::fail(Eio);
    }
    default:
        return Answer::fail(Ebadusefd);
    }
}

// ---- write ------------------------------------------------------------------------------

Answer Tree::write(Fid& f, uint64_t off, std::span<const uint8_t> data, uint32_t& n) {
    Q t = qtype(f.qid.path);
    if ((t == Q::Ctl || t == Q::Data) && (f.omode & 3) != OREAD) {
        Proto* p = proto_of(f);
        Conv* c = conv_of(f);
        if (!p || !c) return Answer::fail(Enonexist);
        Pend& op = st(f).wop;
        Err e;
        if (t == Q::Ctl) {
            std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
            n = uint32_t(data.size());
            p->caller_eve = f.who->eve;
            e = p->ctl_async(*c, parsecmd(text), op);
            p->caller_eve = false;
        } else {
            e = p->data_async(*c, data, op, n);
        }
        if (op.key) return Answer::park(op.key);
        if (e) return Answer::fail(e);
        return Answer::done();
    }
    if (Err e = write_now(f, off, data, n)) return Answer::fail(e);
    return Answer::done();
}

Err Tree::write_now(Fid& f, uint64_t off, std::span<const uint8_t> data, uint32_t& n) {
    if ((f.omode & 3) == OREAD) return Ebadusefd;
    Q t = qtype(f.qid.path);
    Stack& s = stack(f);
    std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
    n = uint32_t(data.size());
    switch (t) {
    case Q::Arp:
        return s.arp_write(text);
    case Q::Config: {  // "keys": later reads include secrets (open for writing is eve's)
        CtlArgs& a = args_;
        parsecmd(text, a);
        if (a.size() != 1 || a[0] != "keys") return Ebadctl;
        st(f).keys = true;
        st(f).config_built = false;
        return ok;
    }
    case Q::Iproute: {
        CtlArgs& a = args_;  // reused: a route load is a million of these
        parsecmd(text, a);
        OpenState& o = st(f);
        o.answer = false;
        if (!a.empty() && a[0] == "route") {  // Bell Labs' lookup: read the fd for the answer
            if (a.size() < 2 || a.size() > 3) return Ebadarg;
            auto dst = parseip(a[1]);
            if (!dst) return Ebadip;
            Ipaddr src = dst->is_v4() ? v4prefix : IPnoaddr;
            if (a.size() == 3) {
                auto sa = parseip(a[2]);
                if (!sa) return Ebadip;
                src = *sa;
            }
            const Route* r = s.rib.lookup(*dst, src.is_v4_zero() ? IPnoaddr : src);
            if (!r) return Err{"no route"};
            o.route.clear();
            s.rib.line(o.route, *r);
            o.answer = true;
            return ok;
        }
        return s.rib.write(a, o.tag, s);
    }
    case Q::Ndb: {
        if (off > s.ndb.size() || off + data.size() >= 32768) return Eio;
        if (off + data.size() > s.ndb.size()) s.ndb.resize(off + data.size());
        std::memcpy(s.ndb.data() + off, data.data(), data.size());
        s.ndbvers++;
        s.ndbmtime = uint32_t(time(nullptr));
        return ok;
    }
    case Q::Log:
        return s.log.ctl(parsecmd(text));
    case Q::Capture:
        return write_capture(st(f).capture, text);
    case Q::Etherctl: {  // the Ethernet device's own messages (netif): promiscuous [0|1]
        CtlArgs a = parsecmd(text);
        if (a.empty()) return Eshortctl;
        if (a[0] != "promiscuous") return Eunsupported;
        if (net_.io) net_.io->set_promisc(uint16_t(qconv(f.qid.path)),
                                          a.size() < 2 || ctl_strtol(a[1]) != 0);
        return ok;
    }
    case Q::Ctl: {
        Proto* p = proto_of(f);
        Conv* c = conv_of(f);
        if (!p || !c) return Enonexist;
        p->caller_eve = f.who->eve;
        Pend op;  // configuration writes do not wait
        Err e = p->ctl_async(*c, parsecmd(text), op);
        p->caller_eve = false;
        return e;
    }
    case Q::Data: {
        Proto* p = proto_of(f);
        Conv* c = conv_of(f);
        if (!p || !c) return Enonexist;
        Pend op;  // configuration writes do not wait
        return p->data_async(*c, data, op, n);
    }
    default:
        return Eperm;
    }
}

Err Tree::wstat(Fid& f, const Dir& d) {
    Q t = qtype(f.qid.path);
    if (t != Q::Ctl && t != Q::Data) return Eperm;
    Conv* c = conv_of(f);
    if (!c) return Enonexist;
    const Ident& who = *f.who;
    if (!who.eve && c->owner != who.user) return Eperm;
    if (!d.uid.empty()) {
        if (!who.eve && d.uid != who.user) return Eperm;
        c->owner = d.uid;
    }
    if (d.mode != ~0u) c->perm = d.mode & 0666;
    return ok;
}

// ---- clunk and cancel -------------------------------------------------------------------

Err Tree::closeconv(Proto& p, Conv& c) {
    if (c.inuse > 0 && --c.inuse == 0) p.last_close(c);
    return ok;
}

void Tree::clunk(Fid& f) {
    if (!f.aux) return;
    OpenState& o = st(f);
    if (o.listening) cancel(f);
    if (o.counted) {
        o.counted = false;
        Proto* p = proto_of(f);
        Conv* c = conv_of(f);
        if (p && c) closeconv(*p, *c);
    }
    if (o.log) {
        o.log = false;
        stack(f).log.close();
    }
    if (o.snoop) {
        o.snoop = false;
        if (Conv* c = conv_of(f)) static_cast<Ipifc*>(c)->snoopers--;
    }
    if (o.capture >= 0 && cap_) {
        cap_->close(o.capture);
        o.capture = -1;
    }
}

void Tree::cancel(Fid& f) {
    if (!f.aux) return;
    OpenState& o = st(f);
    o.wop = {};  // a worker may still finish it: its answer is dropped
    o.rop = {};
    if (!o.listening) return;
    o.listening = false;
    Proto* p = proto_of(f);
    Conv* c = conv_of(f);
    if (p && c) closeconv(*p, *c);
}

// ---- configuration writes ---------------------------------------------------------------

Err Tree::config_write(int n, std::string_view path, std::string_view msg, uint64_t off,
                       bool trunc, std::vector<Fid>* keep) {
    static const Ident eve{"root", 0, true};
    Fid f;
    f.who = &eve;
    if (Err e = attach(f, std::to_string(n))) return e;
    if (path.starts_with("/net/")) path.remove_prefix(5);
    while (path.starts_with("/")) path.remove_prefix(1);
    std::vector<std::string> names;
    for (size_t p = 0; p <= path.size();) {
        size_t e = path.find('/', p);
        if (e == std::string_view::npos) e = path.size();
        if (e > p) names.emplace_back(path.substr(p, e - p));
        p = e + 1;
    }
    for (auto& nm : names)
        if (Err e = walk(f, nm)) return e;
    uint8_t mode = OWRITE | (trunc ? OTRUNC : 0);
    Answer a = open(f, mode);
    if (a.st != Status::Done) return a.st == Status::Error ? a.err : Eio;
    f.open = true;
    f.omode = mode;
    uint32_t n_ = 0;
    Err e = write_now(f, off, {reinterpret_cast<const uint8_t*>(msg.data()), msg.size()}, n_);
    if (!e && keep && !names.empty() && names.back() == "clone") {
        keep->push_back(std::move(f));
        return e;
    }
    clunk(f);
    return e;
}

}  // namespace devip::ctl
