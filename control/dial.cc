// libdevip: dial(2) over 9P (control/dial.h, docs/dial.3). The clone/connect/announce/listen
// dance of ip3.md §1.5 on one process-wide Client; each connection's data is a socketpair
// whose library end devipd copies to and from the conversation's data file (Tsplice,
// devip(4)), or, from a server without it or with DEVIP_SPLICE=0, two library threads.
#include "control/dial.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "control/client.h"
#include "control/qpack.h"

namespace devip::ctl {
namespace {

constexpr const char* kDefaultSocket = "/run/devip/net.sock";

// The library's own error texts (everything else is the server's Rerror text).
constexpr const char* kEbaddial = "bad dial string";         // no net!host
constexpr const char* kEbadctl = "bad ctl handle";           // not one of ours
constexpr const char* kEbaddir = "bad conversation directory";
constexpr const char* kEinuse = "devip connection in use";    // devip_connect with convs
constexpr const char* kEbadstack = "bad stack number";
constexpr const char* kEnotconn = "not a devip connection";  // devip_fderr of another fd

// How a protocol's data is carried to the program. Protocols not listed are datagrams.
struct Kind {
    const char* name;      // protocol directory
    int socktype;          // SOCK_STREAM or SOCK_SEQPACKET
    const char* halfclose; // ctl message written at the program's end of output, or null
};
constexpr Kind kKinds[] = {
    {"tcp", SOCK_STREAM, "shutdown"},
};
constexpr Kind kDatagram{"", SOCK_SEQPACKET, nullptr};

const Kind& kind_of(std::string_view proto) {
    for (const Kind& k : kKinds)
        if (proto == k.name) return k;
    return kDatagram;
}

thread_local std::string t_err;      // devip_errstr()
thread_local std::string t_mkaddr;   // devip_netmkaddr()'s result

int seterr(std::string_view s) {
    t_err.assign(s.substr(0, DEVIP_ERRLEN - 1));
    return -1;
}
int seterr(const CErr& e) { return seterr(e.text); }

void copy_out(char* dst, size_t n, std::string_view s) {
    if (!dst || n == 0) return;
    size_t k = std::min(n - 1, s.size());
    std::memcpy(dst, s.data(), k);
    dst[k] = 0;
}

std::string chomp(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
}

// One connection's pump: the library's end of the socketpair and the conversation's files.
// Spliced, devipd holds that end and the two Treads of data report how each direction ended.
struct Pump {
    Client* c = nullptr;           // the connection to devipd
    const Kind* kind = nullptr;    // stream or datagram
    uint32_t data = kNoFid;        // the data file, open ORDWR
    uint32_t ctl = kNoFid;         // its ctl, open for the half close (stream kinds only)
    int fd = -1;                   // the library's end of the socketpair (-1 when spliced)
    bool spliced = false;          // devipd copies; no threads
    uint16_t rd_tag = kNoTag;      // spliced: Tread of data at offset 0 (reads' end), until had
    uint16_t end_tag = kNoTag;     // spliced: Tread of data at offset 1 (the end), until had
    std::mutex mu;                 // guards everything below
    bool stop = false;             // the program has gone: no more reads of data
    uint16_t tag = kNoTag;         // the outstanding Tread of data, if any
    bool done = false;             // both directions have ended
    bool out_done = false;         // program → data has ended (devip_close waits for it)
    bool released = false;         // the files are clunked (devip_close waits for it too)
    std::condition_variable cv;    // signalled when out_done or released is set
    std::string err;               // why data ended, if it failed (either direction)
    std::string werr;              // why a write of data failed
    int running = 2;               // threads still copying
};

// A ctl handle: an open ctl file and the conversation's directory ("udp/3").
struct Ctl {
    uint32_t fid = kNoFid;  // the open ctl
    std::string dir;        // relative to /net
};

// The process-wide state. Never destroyed: pump threads may outlive main().
struct Lib {
    std::mutex mu;                                  // guards everything below
    std::unique_ptr<Client> c;                      // the connection, once made
    std::map<int, Ctl> ctls;                        // handle → ctl
    int next_ctl = 1;                               // next handle number
    std::map<int, std::shared_ptr<Pump>> pumps;     // program's data fd → its pump
    int live = 0;                                   // pumps still running
};

Lib& lib() {
    static Lib* l = new Lib;
    return *l;
}

// DEVIP_SPLICE=0 keeps the copying in library threads even when devipd could splice.
bool splice_wanted() {
    const char* e = std::getenv("DEVIP_SPLICE");
    return !(e && std::strcmp(e, "0") == 0);
}

// Spliced: collects the answer to tag (rd_tag or end_tag) of p, waiting for it if block,
// else only when it has arrived. With p->mu held. True once it is had.
bool collect(Pump& p, uint16_t& tag, bool block) {
    if (tag == kNoTag) return true;
    if (!block && !p.c->ready(tag, Clock::now())) return false;
    Reply r;
    CErr e = p.c->wait(tag, Ftype::Rread, r);
    bool whole = &tag == &p.end_tag;
    tag = kNoTag;
    std::string text = e ? e.text : std::string(r.f.data.begin(), r.f.data.end());
    if (whole && e.text == kInterrupted) text.clear();  // devip_interrupt ended it
    if (text.empty()) return true;
    if (p.err.empty()) p.err = text;
    if (whole) p.werr = text;
    return true;
}

// Spliced: once both answers are had, devipd has clunked the files; their numbers go back.
void release_spliced(Pump& p) {
    if (p.released || p.rd_tag != kNoTag || p.end_tag != kNoTag) return;
    p.c->free_fid(p.data);
    if (p.ctl != kNoFid) p.c->free_fid(p.ctl);
    p.released = p.done = p.out_done = true;
    Lib& l = lib();
    std::lock_guard lk(l.mu);
    l.live--;
}

// Makes the connection (with lib().mu held).
int connect_locked(Lib& l, const char* sock, int stack) {
    std::string path = kDefaultSocket;
    if (const char* e = std::getenv("DEVIP_SOCKET"); e && *e) path = e;
    if (sock && *sock) path = sock;
    if (stack < 0) {
        stack = 0;
        if (const char* e = std::getenv("DEVIP_STACK"); e && *e) stack = std::atoi(e);
    }
    if (stack < 0 || stack > 15) return seterr(kEbadstack);
    auto c = std::make_unique<Client>();
    if (CErr e = c->dial(path)) return seterr(e);
    if (CErr e = c->attach(stack ? std::to_string(stack) : "")) return seterr(e);
    l.c = std::move(c);
    return 0;
}

// The connection, made on first use.
Client* conn() {
    Lib& l = lib();
    std::lock_guard lk(l.mu);
    if (!l.c && connect_locked(l, nullptr, -1) < 0) return nullptr;
    return l.c.get();
}

// Requests sent together in one system call and answered in order (the server serves a
// session's messages one after another): a walk, the open of its new fid, a read of it
// cost one round trip instead of three. Every reply is collected, whatever failed.
class Batch {
public:
    explicit Batch(Client& c) : c_(c) {}
    // Each returns the request's index. Paths are relative to /net, at most 16 names.
    size_t walk(uint32_t newfid, std::string_view path) {
        Fcall& t = add(Ftype::Twalk, Ftype::Rwalk);
        t.fid = c_.root();
        t.newfid = newfid;
        for (size_t at = 0; at <= path.size();) {
            size_t e = std::min(path.find('/', at), path.size());
            if (e > at) t.wname.emplace_back(path.substr(at, e - at));
            at = e + 1;
        }
        return ts_.size() - 1;
    }
    size_t open(uint32_t fid, uint8_t mode) {
        Fcall& t = add(Ftype::Topen, Ftype::Ropen);
        t.fid = fid;
        t.mode = mode;
        return ts_.size() - 1;
    }
    size_t read(uint32_t fid, uint32_t count) {
        Fcall& t = add(Ftype::Tread, Ftype::Rread);
        t.fid = fid;
        t.count = count;
        return ts_.size() - 1;
    }
    size_t write(uint32_t fid, std::string_view msg) {
        Fcall& t = add(Ftype::Twrite, Ftype::Rwrite);
        const std::string& b = bufs_.emplace_back(msg);
        t.fid = fid;
        t.data = std::span(reinterpret_cast<const uint8_t*>(b.data()), b.size());
        return ts_.size() - 1;
    }
    size_t clunk(uint32_t fid) {
        add(Ftype::Tclunk, Ftype::Rclunk).fid = fid;
        return ts_.size() - 1;
    }
    size_t splice(uint32_t fid, uint32_t efid, std::string_view emsg) {
        Fcall& t = add(Ftype::Tsplice, Ftype::Rsplice);
        t.fid = fid;
        t.efid = efid;
        t.emsg = std::string(emsg);
        return ts_.size() - 1;
    }
    // Sends everything (fd, if not -1, with it) and waits for every reply. False when the
    // send failed; err(i) of every request is then that failure.
    bool run(int fd = -1) {
        es_.assign(ts_.size(), CErr{});
        rs_.resize(ts_.size());
        if (CErr e = c_.start_many(ts_, fd)) {
            es_.assign(ts_.size(), e);
            return false;
        }
        for (size_t i = 0; i < ts_.size(); i++) {
            es_[i] = c_.wait(ts_[i].tag, want_[i], rs_[i]);
            if (!es_[i] && ts_[i].type == Ftype::Twalk &&
                rs_[i].f.wqid.size() != ts_[i].wname.size())
                es_[i] = CErr{kNotExist};  // stopped short: newfid was not made
        }
        return true;
    }
    const CErr& err(size_t i) const { return es_[i]; }
    const Reply& reply(size_t i) const { return rs_[i]; }

private:
    Fcall& add(Ftype t, Ftype want) {
        Fcall& f = ts_.emplace_back();
        f.type = t;
        want_.push_back(want);
        return f;
    }

    Client& c_;
    std::vector<Fcall> ts_;        // the requests (their tags once sent)
    std::vector<Ftype> want_;      // the reply type each expects
    std::deque<std::string> bufs_; // bytes the Twrites point at
    std::vector<Reply> rs_;        // the replies
    std::vector<CErr> es_;         // each request's outcome
};

// Walks to path and opens it (one round trip); the fid or kNoFid with the error set.
uint32_t open_path(Client& c, std::string_view path, uint8_t mode, Qid* q = nullptr) {
    uint32_t fid = c.new_fid();
    Batch b(c);
    size_t w = b.walk(fid, path), o = b.open(fid, mode);
    b.run();
    if (const CErr& e = b.err(w)) {
        c.free_fid(fid);
        seterr(e);
        return kNoFid;
    }
    if (const CErr& e = b.err(o)) {
        c.clunk(fid);
        seterr(e);
        return kNoFid;
    }
    if (q) *q = b.reply(o).f.qid;
    return fid;
}

int write_ctl(Client& c, uint32_t fid, std::string_view msg) {
    if (CErr e = c.write(fid, 0, std::span(reinterpret_cast<const uint8_t*>(msg.data()),
                                           msg.size())))
        return seterr(e);
    return 0;
}

int new_ctl(uint32_t fid, std::string dir) {
    Lib& l = lib();
    std::lock_guard lk(l.mu);
    int h = l.next_ctl++;
    l.ctls[h] = Ctl{fid, std::move(dir)};
    return h;
}

bool get_ctl(int h, Ctl& out) {
    Lib& l = lib();
    std::lock_guard lk(l.mu);
    auto it = l.ctls.find(h);
    if (it == l.ctls.end()) return false;
    out = it->second;
    return true;
}

// The protocol of a directory relative to /net ("udp/3" → "udp").
std::string proto_of(std::string_view dir) { return std::string(dir.substr(0, dir.find('/'))); }

// Sends all of b to the program's end; false once it has gone.
bool send_all(int fd, const std::string& b, bool stream) {
    size_t at = 0;
    do {
        ssize_t n = ::send(fd, b.data() + at, b.size() - at, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        at += size_t(n);
    } while (stream && at < b.size());
    return true;
}

// Ends one direction; the last one releases the files and the library's end.
void finish(const std::shared_ptr<Pump>& p) {
    {
        std::lock_guard lk(p->mu);
        if (--p->running > 0) return;
        p->done = true;
    }
    p->c->clunk(p->data);
    if (p->ctl != kNoFid) p->c->clunk(p->ctl);
    ::close(p->fd);
    {
        Lib& l = lib();
        std::lock_guard lk(l.mu);
        l.live--;
    }
    {
        std::lock_guard lk(p->mu);
        p->released = true;
    }
    p->cv.notify_all();
}

// Stops the data reads (the program has gone or data failed), flushing the one in flight.
void stop_reads(Pump& p) {
    uint16_t tag;
    {
        std::lock_guard lk(p.mu);
        p.stop = true;
        tag = p.tag;
    }
    if (tag != kNoTag) p.c->flush(tag);
}

// data → program. Each Rread is one send (one record for datagram kinds). The tag stays
// published until the reply has arrived, so stop_reads never flushes a reused tag.
void from_net(std::shared_ptr<Pump> p) {
    Client& c = *p->c;
    for (;;) {
        Fcall t;
        t.type = Ftype::Tread;
        t.fid = p->data;
        t.count = c.iounit();
        {
            std::lock_guard lk(p->mu);
            if (p->stop) break;
            if (CErr e = c.start(t)) {
                p->err = e.text;
                break;
            }
            p->tag = t.tag;
        }
        c.ready(t.tag, Clock::time_point::max());
        {
            std::lock_guard lk(p->mu);
            p->tag = kNoTag;
        }
        Reply r;
        CErr e = c.wait(t.tag, Ftype::Rread, r);
        if (e) {
            std::lock_guard lk(p->mu);
            if (!p->stop) p->err = e.text;
            break;
        }
        if (r.f.data.empty()) break;  // end of file: hung up
        std::string b(r.f.data.begin(), r.f.data.end());
        if (!send_all(p->fd, b, p->kind->socktype == SOCK_STREAM)) break;
    }
    ::shutdown(p->fd, SHUT_WR);  // the program reads end of file
    finish(p);
}

// program → data. At the program's end of output: the half close (stream kinds), then wait
// until the program has closed its end, or has stopped reading too, to stop the reads.
void to_net(std::shared_ptr<Pump> p) {
    Client& c = *p->c;
    std::vector<uint8_t> buf(c.iounit());
    for (;;) {
        ssize_t n = ::recv(p->fd, buf.data(), buf.size(), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (CErr e = c.write(p->data, 0, std::span(buf.data(), size_t(n)))) {
            {
                std::lock_guard lk(p->mu);
                if (p->err.empty()) p->err = e.text;
                p->werr = e.text;
            }
            ::shutdown(p->fd, SHUT_RDWR);
            break;
        }
    }
    if (p->kind->halfclose && p->ctl != kNoFid) {
        std::string_view m = p->kind->halfclose;
        c.write(p->ctl, 0, std::span(reinterpret_cast<const uint8_t*>(m.data()), m.size()));
    }
    {
        std::lock_guard lk(p->mu);
        p->out_done = true;
    }
    p->cv.notify_all();
    for (;;) {  // POLLHUP: both directions of the library's end are shut
        pollfd pf{p->fd, 0, 0};
        int r = ::poll(&pf, 1, -1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 || (pf.revents & (POLLHUP | POLLERR | POLLNVAL))) break;
    }
    stop_reads(*p);
    finish(p);
}

// Starts the library threads' pump of an open data fid; returns the program's fd.
int start_pump(Client& c, const std::string& dir, uint32_t data) {
    const Kind& k = kind_of(proto_of(dir));
    int sv[2];
    if (::socketpair(AF_UNIX, k.socktype | SOCK_CLOEXEC, 0, sv) < 0) {
        c.clunk(data);
        return seterr(std::string("socketpair: ") + std::strerror(errno));
    }
    auto p = std::make_shared<Pump>();
    p->c = &c;
    p->kind = &k;
    p->data = data;
    p->fd = sv[1];
    if (k.halfclose) p->ctl = open_path(c, dir + "/ctl", ORDWR);
    {
        Lib& l = lib();
        std::lock_guard lk(l.mu);
        l.pumps[sv[0]] = p;
        l.live++;
    }
    std::thread(from_net, p).detach();
    std::thread(to_net, p).detach();
    return sv[0];
}

// Opens dir's data and returns the program's fd: spliced by devipd when it can (one round
// trip: data and, for the half close, ctl opened, Tsplice), else pumped by threads. First,
// if actl is not kNoFid, amsg is written to it and its outcome ignored (accept N).
int open_conn(Client& c, const std::string& dir, uint32_t actl, std::string_view amsg) {
    std::string saved = t_err;
    if (!c.can_splice() || !splice_wanted()) {
        if (actl != kNoFid) write_ctl(c, actl, amsg);
        t_err = saved;
        uint32_t data = open_path(c, dir + "/data", ORDWR);
        return data == kNoFid ? -1 : start_pump(c, dir, data);
    }
    const Kind& k = kind_of(proto_of(dir));
    int sv[2];
    if (::socketpair(AF_UNIX, k.socktype | SOCK_CLOEXEC, 0, sv) < 0)
        return seterr(std::string("socketpair: ") + std::strerror(errno));
    auto p = std::make_shared<Pump>();
    p->c = &c;
    p->kind = &k;
    p->data = c.new_fid();
    if (k.halfclose) p->ctl = c.new_fid();
    Batch b(c);
    if (actl != kNoFid) b.write(actl, amsg);
    size_t steps[5], n = 0;  // walk, open of data (and ctl), then Tsplice
    steps[n++] = b.walk(p->data, dir + "/data");
    steps[n++] = b.open(p->data, ORDWR);
    if (k.halfclose) {
        steps[n++] = b.walk(p->ctl, dir + "/ctl");
        steps[n++] = b.open(p->ctl, ORDWR);
    }
    steps[n++] = b.splice(p->data, p->ctl, k.halfclose ? k.halfclose : "");
    b.run(sv[1]);
    ::close(sv[1]);
    for (size_t i = 0; i < n; i++) {
        if (!b.err(steps[i])) continue;
        seterr(b.err(steps[i]));  // the first failure; what was made is clunked
        bool data_made = !b.err(steps[0]), ctl_made = k.halfclose && !b.err(steps[2]);
        data_made ? (void)c.clunk(p->data) : c.free_fid(p->data);
        if (k.halfclose) ctl_made ? (void)c.clunk(p->ctl) : c.free_fid(p->ctl);
        ::close(sv[0]);
        return -1;
    }
    p->spliced = true;
    Fcall t[2];  // how each direction ends
    for (int i = 0; i < 2; i++) {
        t[i].type = Ftype::Tread;
        t[i].fid = p->data;
        t[i].offset = uint64_t(i);
        t[i].count = DEVIP_ERRLEN;
    }
    if (CErr e = c.start_many(t)) {  // the connection is gone: so is the splice
        ::close(sv[0]);
        return seterr(e);
    }
    p->rd_tag = t[0].tag;
    p->end_tag = t[1].tag;
    Lib& l = lib();
    std::lock_guard lk(l.mu);
    l.pumps[sv[0]] = p;
    l.live++;
    return sv[0];
}

// "proto!rest" → its parts; "net" is tcp (there is no connection server to try others).
bool split_dial(std::string_view addr, std::string& proto, std::string& rest) {
    if (addr.starts_with("/net/")) addr.remove_prefix(5);
    size_t i = addr.find('!');
    if (i == std::string_view::npos || i == 0 || i + 1 == addr.size()) return false;
    proto = std::string(addr.substr(0, i));
    if (proto == "net") proto = "tcp";
    if (proto.find('/') != std::string::npos) return false;
    rest = std::string(addr.substr(i + 1));
    return true;
}

// Clones a conversation of proto (walk, open and read in one round trip); its ctl fid and
// directory.
uint32_t clone_conv(Client& c, const std::string& proto, std::string& dir) {
    uint32_t fid = c.new_fid();
    Batch b(c);
    size_t w = b.walk(fid, proto + "/clone"), o = b.open(fid, ORDWR), r = b.read(fid, 64);
    b.run();
    if (const CErr& e = b.err(w)) {
        c.free_fid(fid);
        seterr(e);
        return kNoFid;
    }
    for (size_t i : {o, r}) {
        if (const CErr& e = b.err(i)) {
            c.clunk(fid);
            seterr(e);
            return kNoFid;
        }
    }
    std::span<const uint8_t> num = b.reply(r).f.data;
    dir = proto + "/" + chomp(std::string(num.begin(), num.end()));
    return fid;
}

}  // namespace
}  // namespace devip::ctl

using namespace devip::ctl;

extern "C" {

int devip_connect(const char* socket, int stack) {
    Lib& l = lib();
    std::vector<std::shared_ptr<Pump>> ps;  // spliced ones closed with close(2) end here
    {
        std::lock_guard lk(l.mu);
        for (auto& [fd, p] : l.pumps)
            if (p->spliced) ps.push_back(p);
    }
    for (auto& p : ps) {
        std::lock_guard lk(p->mu);
        if (collect(*p, p->end_tag, false) && collect(*p, p->rd_tag, false))
            release_spliced(*p);
    }
    std::lock_guard lk(l.mu);
    if (l.c && (l.live > 0 || !l.ctls.empty())) return seterr(kEinuse);
    l.c.reset();
    return connect_locked(l, socket, stack);
}

const char* devip_errstr(void) { return t_err.c_str(); }

const char* devip_netmkaddr(const char* addr, const char* defnet, const char* defsvc) {
    std::string_view a = addr ? addr : "";
    std::string net = defnet && *defnet ? defnet : "net";
    size_t bang = a.find('!');
    if (bang == std::string_view::npos) {  // host alone, or a path
        if (a.starts_with('/')) {
            t_mkaddr = a;
        } else {
            t_mkaddr = net + "!" + std::string(a);
            if (defsvc && *defsvc) t_mkaddr += std::string("!") + defsvc;
        }
        return t_mkaddr.c_str();
    }
    t_mkaddr = a;
    if (a.find('!', bang + 1) == std::string_view::npos && defsvc && *defsvc)
        t_mkaddr += std::string("!") + defsvc;  // net!host: add the service
    return t_mkaddr.c_str();
}

int devip_dial(const char* addr, const char* local, char* dir, int* cfdp) {
    std::string proto, rest, d;
    if (!addr || !split_dial(addr, proto, rest)) return seterr(kEbaddial);
    Client* c = conn();
    if (!c) return -1;
    uint32_t ctl = clone_conv(*c, proto, d);
    if (ctl == kNoFid) return -1;
    std::string msg = "connect " + rest;
    if (local && *local) msg += std::string(" ") + local;
    if (write_ctl(*c, ctl, msg) < 0) {
        c->clunk(ctl);
        return -1;
    }
    int fd = open_conn(*c, d, kNoFid, {});
    if (fd < 0) {
        c->clunk(ctl);
        return -1;
    }
    copy_out(dir, DEVIP_DIRLEN, "/net/" + d);
    if (cfdp) {
        *cfdp = new_ctl(ctl, d);
    } else {
        c->clunk(ctl);
    }
    return fd;
}

int devip_announce(const char* addr, char* dir) {
    std::string proto, rest, d;
    if (!addr || !split_dial(addr, proto, rest)) return seterr(kEbaddial);
    Client* c = conn();
    if (!c) return -1;
    uint32_t ctl = clone_conv(*c, proto, d);
    if (ctl == kNoFid) return -1;
    if (write_ctl(*c, ctl, "announce " + rest) < 0) {
        c->clunk(ctl);
        return -1;
    }
    copy_out(dir, DEVIP_DIRLEN, "/net/" + d);
    return new_ctl(ctl, d);
}

int devip_listen(const char* dir, char* newdir) {
    std::string d(net_relative(dir ? dir : ""));
    if (d.empty() || d.find('/') == std::string::npos) return seterr(kEbaddir);
    Client* c = conn();
    if (!c) return -1;
    Qid q;
    uint32_t fid = open_path(*c, d + "/listen", ORDWR, &q);
    if (fid == kNoFid) return -1;
    std::string num;
    if (qtype_bits(q.path) == kQtypeCtl) {  // the call's ctl: its number is in the qid
        num = std::to_string(qconv(q.path));
    } else if (CErr e = c->read(fid, 0, 64, num)) {
        c->clunk(fid);
        return seterr(e);
    }
    std::string nd = proto_of(d) + "/" + chomp(num);
    copy_out(newdir, DEVIP_DIRLEN, "/net/" + nd);
    return new_ctl(fid, nd);
}

int devip_accept(int ctl, const char* dir) {
    Ctl h;
    if (!get_ctl(ctl, h)) return seterr(kEbadctl);
    std::string d = dir && *dir ? std::string(net_relative(dir)) : h.dir;
    Client* c = conn();
    if (!c) return -1;
    std::string num = d.substr(d.rfind('/') + 1);
    return open_conn(*c, d, h.fid, "accept " + num);  // as libc's: no protocol implements it
}

int devip_reject(int ctl, const char* dir, const char* cause) {
    Ctl h;
    if (!get_ctl(ctl, h)) return seterr(kEbadctl);
    std::string d = dir && *dir ? std::string(net_relative(dir)) : h.dir;
    Client* c = conn();
    if (!c) return -1;
    std::string msg = "reject " + d.substr(d.rfind('/') + 1) + " " + (cause ? cause : "");
    int r = write_ctl(*c, h.fid, chomp(msg));
    std::string saved = t_err;
    devip_closectl(ctl);
    t_err = saved;
    return r;
}

int devip_hangup(int ctl) { return devip_ctl(ctl, "hangup"); }

int devip_ctl(int ctl, const char* msg) {
    Ctl h;
    if (!get_ctl(ctl, h)) return seterr(kEbadctl);
    Client* c = conn();
    if (!c) return -1;
    return write_ctl(*c, h.fid, msg ? msg : "");
}

int devip_closectl(int ctl) {
    Lib& l = lib();
    Ctl h;
    Client* c;
    {
        std::lock_guard lk(l.mu);
        auto it = l.ctls.find(ctl);
        if (it == l.ctls.end()) return seterr(kEbadctl);
        h = it->second;
        l.ctls.erase(it);
        c = l.c.get();
    }
    if (CErr e = c->clunk(h.fid)) return seterr(e);
    return 0;
}

int devip_conninfo(const char* dir, DevipConnInfo* ci) {
    std::string d(net_relative(dir ? dir : ""));
    if (d.empty() || d.find('/') == std::string::npos || !ci) return seterr(kEbaddir);
    Client* c = conn();
    if (!c) return -1;
    // both files in one round trip: walk, open, read and clunk each (they are short)
    Batch b(*c);
    uint32_t fids[2];
    size_t steps[2][4];
    const char* names[2] = {"/local", "/remote"};
    for (int i = 0; i < 2; i++) {
        fids[i] = c->new_fid();
        steps[i][0] = b.walk(fids[i], d + names[i]);
        steps[i][1] = b.open(fids[i], OREAD);
        steps[i][2] = b.read(fids[i], c->iounit());
        steps[i][3] = b.clunk(fids[i]);
    }
    b.run();
    std::string text[2];
    const CErr* fail = nullptr;
    for (int i = 0; i < 2; i++) {
        c->free_fid(fids[i]);  // clunked, or never made
        for (int k = 0; k < 3 && !fail; k++)
            if (b.err(steps[i][k])) fail = &b.err(steps[i][k]);
        std::span<const uint8_t> v = b.reply(steps[i][2]).f.data;
        if (!fail) text[i].assign(v.begin(), v.end());
    }
    if (fail) return seterr(*fail);
    std::string& loc = text[0];
    std::string& rem = text[1];
    copy_out(ci->dir, sizeof ci->dir, "/net/" + d);
    copy_out(ci->proto, sizeof ci->proto, proto_of(d));
    copy_out(ci->local, sizeof ci->local, chomp(loc));
    copy_out(ci->remote, sizeof ci->remote, chomp(rem));
    return 0;
}

int devip_fderr(int fd, char* err, size_t n) {
    std::shared_ptr<Pump> p;
    {
        Lib& l = lib();
        std::lock_guard lk(l.mu);
        auto it = l.pumps.find(fd);
        if (it == l.pumps.end()) return seterr(kEnotconn);
        p = it->second;
    }
    std::lock_guard lk(p->mu);
    if (p->spliced && p->rd_tag != kNoTag) {
        // devipd answers before it shuts the program's end: after end of file, wait for it
        char b;
        bool eof = ::recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
        collect(*p, p->rd_tag, eof);
    }
    if (p->spliced && p->rd_tag == kNoTag) collect(*p, p->end_tag, false);
    if (p->err.empty()) return 0;
    copy_out(err, n, p->err);
    return 1;
}

int devip_close(int fd) {
    std::shared_ptr<Pump> p;
    {
        Lib& l = lib();
        std::lock_guard lk(l.mu);
        auto it = l.pumps.find(fd);
        if (it != l.pumps.end()) p = it->second;
    }
    if (!p) {
        ::close(fd);
        return seterr(kEnotconn);
    }
    ::shutdown(fd, SHUT_RDWR);  // both ways: copies of fd elsewhere do not keep it going
    if (p->spliced) {  // devipd writes what is left, then answers the end
        std::string werr;
        {
            std::lock_guard lk(p->mu);
            collect(*p, p->end_tag, true);
            collect(*p, p->rd_tag, true);
            release_spliced(*p);
            werr = p->werr;
        }
        ::close(fd);
        if (!werr.empty()) return seterr(werr);
        return 0;
    }
    std::string werr;
    {
        std::unique_lock lk(p->mu);
        p->cv.wait(lk, [&] { return p->out_done; });
        werr = p->werr;
    }
    ::close(fd);
    {  // the library's end sees the hangup, flushes its read and releases the files
        std::unique_lock lk(p->mu);
        p->cv.wait(lk, [&] { return p->released; });
    }
    if (!werr.empty()) return seterr(werr);
    return 0;
}

void devip_interrupt(void) {
    Lib& l = lib();
    Client* c;
    {
        std::lock_guard lk(l.mu);
        c = l.c.get();
    }
    if (c) c->interrupt();
}

}  // extern "C"
