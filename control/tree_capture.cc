// The capture files: /net/etherN/capture (a port) and /net/ipifc/N/capture (the port the
// interface is bound to). Ours, not 9front's (its ipifc snoop file stays as it is): mode
// 0400 and only their owner may open them (the host owner for etherN, the interface's
// owner for ipifc/N), since a capture sees what tunnels decrypt. An open may also write,
// to configure the capture; reads return pcapng (docs/devip.4, CAPTURE).
//
//   filter EXPR   tcpdump syntax, compiled by libpcap; empty: every packet; live
//   snaplen N     bytes kept of each packet (0 or more than 2048: 2048)
//   stop          no more packets: the statistics block follows, then end of file
//
// The first read starts the capture: the section and interface blocks come first, then a
// block per packet as they come (a read with nothing to give waits).
#include <cstdlib>

#include "control/tree.h"
#include "proto/conv.h"

namespace devip::ctl {

using namespace devip::proto;

namespace {

constexpr Err Enocapture{"capture not supported"};
constexpr Err Enonexist{"file does not exist"};

struct CapCtl {
    CaptureIo* io;  // the capture machinery
    int id;         // the capture
};

Err cap_snaplen(CapCtl& c, const CtlArgs& a) {
    char* end = nullptr;
    long n = std::strtol(a[1].c_str(), &end, 10);
    if (a[1].empty() || *end || n < 0 || n > 65535) return Ebadarg;
    return c.io->snaplen(c.id, uint32_t(n));
}

Err cap_stop(CapCtl& c, const CtlArgs&) {
    c.io->stop(c.id);
    return ok;
}

constexpr CtlCmd<CapCtl> kCaptureCtl[] = {
    {"snaplen", 2, cap_snaplen},
    {"stop", 1, cap_stop},
};

}  // namespace

int Tree::capture_port(const Fid& f) const {
    unsigned x = qconv(f.qid.path);
    if (qproto(f.qid.path) == kEtherProto)
        return net_.io && int(x) < net_.io->nports() ? int(x) : -1;
    Conv* c = conv_of(f);
    auto* ifc = c ? static_cast<Ipifc*>(c) : nullptr;
    return ifc && ifc->bound() && ifc->port >= 0 ? ifc->port : -2;
}

Answer Tree::open_capture(Fid& f, uint8_t mode, int& id) {
    const Ident& who = *f.who;
    bool ether = qproto(f.qid.path) == kEtherProto;
    Conv* c = ether ? nullptr : conv_of(f);
    if (!ether && !c) return Answer::fail(Enonexist);
    if ((mode & 3) == OEXEC || (mode & OTRUNC)) return Answer::fail(Eperm);
    if (!who.eve && (ether || c->owner != who.user)) return Answer::fail(Eperm);
    int port = capture_port(f);
    if (port == -1) return Answer::fail(Enonexist);
    if (port < 0) return Answer::fail(Eunbound);
    if (!cap_) return Answer::fail(Enocapture);
    auto r = cap_->open(uint16_t(port));
    if (!r) return Answer::fail(r.err());
    id = *r;
    return Answer::done();
}

Answer Tree::read_capture(Fid& f, int id, uint32_t count, std::string& out) {
    if (id < 0 || !cap_) return Answer::fail(Enocapture);
    if (!cap_->running(id)) {
        int port = capture_port(f);
        Text t;
        t.put("devip capture of ");
        if (qproto(f.qid.path) == kEtherProto)
            t.put("/net/ether%u", qconv(f.qid.path));
        else
            t.put("/net/ipifc/%u (/net/ether%d)", qconv(f.qid.path), port);
        if (Err e = cap_->start(id, t.str())) return Answer::fail(e);
    }
    switch (cap_->read(id, count, out)) {
    case CaptureIo::R::Data: return Answer::done();
    case CaptureIo::R::Wait: return Answer::park(cap_->key(id));
    case CaptureIo::R::End: out.clear(); return Answer::done();
    }
    return Answer::fail(Eio);
}

// filter takes the rest of the message as written (tcpdump's quoting is not ctl's);
// the other verbs go through the table.
Err Tree::write_capture(int id, std::string_view text) {
    if (id < 0 || !cap_) return Enocapture;
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    size_t b = text.find_first_not_of(" \t");
    std::string_view rest = b == std::string_view::npos ? "" : text.substr(b);
    if (rest.starts_with("filter") && (rest.size() == 6 || rest[6] == ' ' || rest[6] == '\t')) {
        std::string_view expr = rest.substr(6);
        size_t e = expr.find_first_not_of(" \t");
        return cap_->filter(id, e == std::string_view::npos ? "" : expr.substr(e));
    }
    CapCtl c{cap_, id};
    return run_ctl<CapCtl>(kCaptureCtl, c, parsecmd(text));
}

}  // namespace devip::ctl
