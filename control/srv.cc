// 9P2000 server over a UNIX stream socket (intro(5), version(5) … wstat(5)).
// One epoll loop on the control thread; every socket is nonblocking and nothing here ever
// waits for a client. A request the tree cannot answer yet (Fsys returns Park) is kept
// in parked_ and re-run by retry_parked() until it completes, is flushed (Tflush) or its
// client goes away; this is lib9p's respond-later, without threads.
#include "control/srv.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace devip::ctl {
namespace {

using proto::err_text;

// 9P-level errors: lib9p's and the Plan 9 kernel's wording.
constexpr Err Eunknownfid{"unknown fid"};
constexpr Err Efidinuse{"fid in use"};
constexpr Err Enotopen{"fid not open"};
constexpr Err Eisopen{"fid already open"};
constexpr Err Ewalkopen{"cannot walk an open fid"};
constexpr Err Ebusy{"fid busy"};
constexpr Err Ewalknodir{"walk in non-directory"};
constexpr Err Eisdir{"is a directory"};
constexpr Err Ebaddiroff{"bad offset in directory read"};
constexpr Err Eshort{"read or write too short"};
constexpr Err Enoauth{"authentication not required"};
constexpr Err Eduptag{"duplicate tag"};
constexpr Err Ebotch{"9P protocol botch"};
constexpr Err Enoversion{"version not negotiated"};
constexpr Err Emsize{"msize too small"};
constexpr Err Ebadstat{"bad stat"};
constexpr Err Estatsize{"stat too big"};
constexpr Err Eintr{"interrupted"};

constexpr size_t kChunk = 64 * 1024;     // one recv
constexpr size_t kMaxEvents = 64;        // events per epoll_wait
constexpr uint64_t kListenId = 0;        // epoll key of the listening socket
constexpr uint64_t kWatchBit = 1ull << 63;  // keys of watch()ed fds; connections count from 1

bool is_request(Ftype t) { return (uint8_t(t) & 1) == 0; }

// version(5): the part before the first period names the protocol.
bool speaks_9p2000(const std::string& v) {
    return v == "9P2000" || v.starts_with("9P2000.");
}

bool can_read(uint8_t omode) { return (omode & 3) != OWRITE; }
bool can_write(uint8_t omode) { return (omode & 3) == OWRITE || (omode & 3) == ORDWR; }

// The peer's identity from SO_PEERCRED; false if the kernel will not say.
bool peer_ident(int fd, Ident& who) {
    ucred cr{};
    socklen_t len = sizeof cr;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0) return false;
    who.uid = cr.uid;
    who.eve = cr.uid == 0;
    passwd pw{};
    passwd* res = nullptr;
    char buf[1024];
    if (getpwuid_r(cr.uid, &pw, buf, sizeof buf, &res) == 0 && res)
        who.user = pw.pw_name;
    else
        who.user = std::to_string(cr.uid);
    return true;
}

// mkdir -p of the directory that will hold path.
Err make_parent(const std::string& path) {
    size_t end = path.rfind('/');
    if (end == std::string::npos || end == 0) return {};
    std::string dir = path.substr(0, end);
    for (size_t i = 1; i <= dir.size(); i++) {
        if (i < dir.size() && dir[i] != '/') continue;
        std::string part = dir.substr(0, i);
        if (mkdir(part.c_str(), 0755) != 0 && errno != EEXIST)
            return err_text("mkdir %s: %s", part.c_str(), strerror(errno));
    }
    struct stat st{};
    if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        return err_text("%s: not a directory", dir.c_str());
    return {};
}

// Removes a socket left by a dead server. A live one (it accepts) or a non-socket stays.
Err clear_stale(const std::string& path, const sockaddr_un& sa) {
    struct stat st{};
    if (lstat(path.c_str(), &st) != 0) return {};
    if (!S_ISSOCK(st.st_mode)) return err_text("%s: exists and is not a socket", path.c_str());
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return err_text("socket: %s", strerror(errno));
    int r = connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
    int e = errno;
    close(fd);
    if (r == 0 || e == EAGAIN || e == EINPROGRESS)
        return err_text("%s: another server is listening", path.c_str());
    if (unlink(path.c_str()) != 0) return err_text("unlink %s: %s", path.c_str(), strerror(errno));
    return {};
}

}  // namespace

struct Server::Conn {
    uint64_t id = 0;                          // epoll key
    int fd = -1;                              // the socket; -1 once dropped
    Ident who;                                // SO_PEERCRED, fixed for the connection
    uint32_t msize = kMaxMsize;               // negotiated; framing limit before Tversion
    bool versioned = false;                   // a Tversion has succeeded
    bool dead = false;                        // dropped; reaped at the end of the round
    std::vector<uint8_t> in;                  // received bytes not yet served
    size_t in_off = 0;                        // first unserved byte of in
    std::vector<uint8_t> out;                 // encoded replies not yet sent
    size_t out_off = 0;                       // first unsent byte of out
    uint32_t events = 0;                      // epoll interest now registered
    std::unordered_map<uint32_t, Fid> fids;   // this session's fids
    bool devip = false;                       // Tversion 9P2000.devip: Tsplice allowed
    std::deque<int> fds_in;                   // descriptors received (SCM_RIGHTS), oldest first

    size_t unsent() const { return out.size() - out_off; }
    Fid* fid(uint32_t n) {
        auto it = fids.find(n);
        return it == fids.end() ? nullptr : &it->second;
    }
};

// The bytes of a parked write; wiped when they go if they may hold keys (Fsys::secret).
struct WriteBytes {
    std::vector<uint8_t> v;
    bool secret = false;
    WriteBytes() = default;
    WriteBytes(std::span<const uint8_t> b, bool s) : v(b.begin(), b.end()), secret(s) {}
    WriteBytes(WriteBytes&& o) noexcept : v(std::move(o.v)), secret(o.secret) { o.v.clear(); }
    WriteBytes& operator=(WriteBytes&& o) noexcept {
        wipe();
        v = std::move(o.v);
        secret = o.secret;
        o.v.clear();
        return *this;
    }
    ~WriteBytes() { wipe(); }
    void wipe() {
        if (secret && !v.empty()) explicit_bzero(v.data(), v.size());
    }
};

// A request waiting for the stack; re-run with the same arguments when its key is ready.
struct Server::Parked {
    Conn* c = nullptr;       // owner; entries go before the Conn does (drop)
    uint16_t tag = 0;        // reply tag, and what Tflush names
    uint32_t fid = 0;        // the fid opened, read or written
    Ftype op = Ftype::Tread; // Topen, Tread or Twrite
    uint8_t mode = 0;        // Topen: mode
    uint64_t offset = 0;     // Tread, Twrite: offset
    uint32_t count = 0;      // Tread: count, already clamped to the msize
    WaitKey key = nullptr;   // what it waits on (null: re-run every round)
    WriteBytes data;         // Twrite: the bytes to write
    uint64_t splice = 0;     // a splice's own read or write (no tag, no reply), else 0
};

Server::Server(Fsys& fs) : fs_(fs) { ep_ = epoll_create1(EPOLL_CLOEXEC); }

Server::~Server() {
    shutdown();
    if (ep_ >= 0) close(ep_);
}

// --- socket and connection handling ---

proto::Err Server::listen(const std::string& path) {
    if (ep_ < 0) return err_text("epoll: %s", strerror(errno));
    if (lfd_ >= 0) return Err{"already listening"};
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof sa.sun_path) return Err{"bad socket path"};
    memcpy(sa.sun_path, path.c_str(), path.size());
    if (Err e = make_parent(path)) return e;
    if (Err e = clear_stale(path, sa)) return e;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return err_text("socket: %s", strerror(errno));
    const char* step = nullptr;
    if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
        step = "bind";
    else if (chmod(path.c_str(), 0666) != 0)
        step = "chmod";
    else if (::listen(fd, 128) != 0)
        step = "listen";
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenId;
    if (!step && epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) step = "epoll_ctl";
    if (step) {
        Err e = err_text("%s %s: %s", step, path.c_str(), strerror(errno));
        close(fd);
        return e;
    }
    lfd_ = fd;
    path_ = path;
    return {};
}

int Server::poll(int timeout_ms) {
    if (ep_ < 0) return 0;
    if (accept_paused_) accept_all();  // once per round, not once per wakeup
    epoll_event ev[kMaxEvents];
    int n = epoll_wait(ep_, ev, kMaxEvents, timeout_ms);
    for (int i = 0; i < n; i++) on_event(ev[i].data.u64, ev[i].events);
    reap();
    retry_parked();
    return n < 0 ? 0 : n;
}

bool Server::watch(int fd, uint32_t events, std::function<void(uint32_t)> fn) {
    if (ep_ < 0 || watches_.count(fd)) return false;
    uint64_t key = kWatchBit | uint64_t(++watch_gen_ & 0x7fffffff) << 32 | uint32_t(fd);
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = key;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) return false;
    watches_[fd] = {key, std::move(fn)};
    return true;
}

bool Server::rewatch(int fd, uint32_t events) {
    auto it = watches_.find(fd);
    if (it == watches_.end()) return false;
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = it->second.key;
    return epoll_ctl(ep_, EPOLL_CTL_MOD, fd, &ev) == 0;
}

void Server::unwatch(int fd) {
    if (watches_.erase(fd)) epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
}

void Server::on_event(uint64_t id, uint32_t events) {
    if (id & kWatchBit) {
        auto it = watches_.find(int(uint32_t(id)));
        if (it == watches_.end() || it->second.key != id) return;  // unwatched this round
        auto fn = it->second.fn;  // fn may unwatch itself
        fn(events);
        return;
    }
    if (id == kListenId) {
        accept_all();
        return;
    }
    auto it = conns_.find(id);
    if (it == conns_.end() || it->second->dead) return;
    Conn& c = *it->second;
    if (events & EPOLLOUT) {
        flush_output(c);
        serve_input(c);  // requests held back while the output was over kOutThrottle
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) read_input(c);
    flush_output(c);
    update_events(c);
}

// Accepts every pending connection. Out of descriptors, the listener would stay readable
// and epoll_wait would return at once forever; so it leaves epoll, and poll() retries it
// once per round until a descriptor is free.
void Server::accept_all() {
    if (lfd_ < 0) return;
    for (;;) {
        int fd = accept4(lfd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EINTR || errno == ECONNABORTED)) continue;
        bool full = fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                               errno == ENOMEM);
        if (full != accept_paused_) {
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u64 = kListenId;
            epoll_ctl(ep_, full ? EPOLL_CTL_DEL : EPOLL_CTL_ADD, lfd_, &ev);
            accept_paused_ = full;
        }
        if (fd < 0) return;
        auto c = std::make_unique<Conn>();
        c->id = next_id_++;
        c->fd = fd;
        epoll_event ev{};
        ev.events = c->events = EPOLLIN | EPOLLRDHUP;
        ev.data.u64 = c->id;
        if (!peer_ident(fd, c->who) || epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            continue;
        }
        conns_.emplace(c->id, std::move(c));
    }
}

// Descriptors come with Tsplice (SCM_RIGHTS); they queue in c.fds_in, at most kMaxFdsIn.
void Server::read_input(Conn& c) {
    uint8_t buf[kChunk];
    alignas(cmsghdr) char cbuf[CMSG_SPACE(4 * sizeof(int))];
    while (!c.dead && c.unsent() < kOutThrottle) {
        iovec iov{buf, sizeof buf};
        msghdr mh{};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cbuf;
        mh.msg_controllen = sizeof cbuf;
        ssize_t n = recvmsg(c.fd, &mh, MSG_CMSG_CLOEXEC);
        for (cmsghdr* cm = n >= 0 ? CMSG_FIRSTHDR(&mh) : nullptr; cm; cm = CMSG_NXTHDR(&mh, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
            size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
                if (c.fds_in.size() < kMaxFdsIn)
                    c.fds_in.push_back(fd);
                else
                    close(fd);
            }
        }
        if (n > 0) {
            c.in.insert(c.in.end(), buf, buf + n);
            explicit_bzero(buf, size_t(n));  // key text lives on in c.in only (write wipes it)
            serve_input(c);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        flush_output(c);  // EOF or error: answer what we can, then go
        drop(c);
    }
}

// Serves every whole message in c.in, unless the client is not reading its answers.
void Server::serve_input(Conn& c) {
    while (!c.dead && c.unsent() < kOutThrottle) {
        std::span<const uint8_t> avail = std::span(c.in).subspan(c.in_off);
        if (avail.size() < 4) break;
        uint32_t n = peek_size(avail);
        if (n < 7 || n > c.msize) return drop(c);  // framing is lost: nothing to resync on
        if (n > avail.size()) break;
        Fcall t;
        if (!decode(avail.first(n), t)) return drop(c);
        dispatch(c, t);  // t's data view points into c.in: keep it until this returns
        c.in_off += n;
    }
    if (c.in_off == c.in.size()) {
        c.in.clear();
        c.in_off = 0;
    } else if (c.in_off >= kChunk) {
        c.in.erase(c.in.begin(), c.in.begin() + long(c.in_off));
        c.in_off = 0;
    }
}

void Server::flush_output(Conn& c) {
    while (!c.dead && c.unsent() > 0) {
        ssize_t n = send(c.fd, c.out.data() + c.out_off, c.unsent(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c.out_off += size_t(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        drop(c);
        return;
    }
    if (c.dead) return;
    if (c.unsent() == 0) {
        c.out.clear();
        c.out_off = 0;
    } else if (c.unsent() > kOutMax) {
        drop(c);  // a client that does not read its answers
    } else if (c.out_off >= kChunk) {
        c.out.erase(c.out.begin(), c.out.begin() + long(c.out_off));
        c.out_off = 0;
    }
}

void Server::update_events(Conn& c) {
    if (c.dead) return;
    uint32_t want = c.unsent() < kOutThrottle ? EPOLLIN | EPOLLRDHUP : 0;
    if (c.unsent() > 0) want |= EPOLLOUT;
    if (want == c.events) return;
    epoll_event ev{};
    ev.events = c.events = want;
    ev.data.u64 = c.id;
    if (epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev) != 0) drop(c);
}

// Ends the session now; the Conn itself goes in reap(), after the caller is done with it.
void Server::drop(Conn& c) {
    if (c.dead) return;
    c.dead = true;
    reset_session(c);
    for (int fd : c.fds_in) close(fd);
    c.fds_in.clear();
    epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
    close(c.fd);
    c.fd = -1;
}

void Server::reap() {
    std::erase_if(splices_, [](const auto& kv) { return kv.second->ended; });
    std::erase_if(conns_, [](const auto& kv) { return kv.second->dead; });
}

void Server::shutdown() {
    for (auto& [id, c] : conns_) {
        flush_output(*c);
        drop(*c);
    }
    reap();
    if (lfd_ >= 0) {
        if (!accept_paused_) epoll_ctl(ep_, EPOLL_CTL_DEL, lfd_, nullptr);
        accept_paused_ = false;
        close(lfd_);
        unlink(path_.c_str());
        lfd_ = -1;
    }
}

// --- parked requests ---

void Server::park(Parked p) {
    WaitKey k = p.key;
    parked_.push_back(std::move(p));
    bykey_[k].push_back(std::prev(parked_.end()));
}

std::list<Server::Parked>::iterator Server::unpark(std::list<Parked>::iterator it) {
    auto b = bykey_.find(it->key);
    if (b != bykey_.end()) {
        std::erase(b->second, it);
        if (b->second.empty()) bykey_.erase(b);
    }
    return parked_.erase(it);
}

// Re-runs the requests parked on k, oldest first; one that parks again on another key moves.
void Server::run_key(WaitKey k) {
    auto b = bykey_.find(k);
    if (b == bykey_.end()) return;
    std::vector<std::list<Parked>::iterator> waiting = b->second;  // runs may change the index
    for (auto it : waiting) {
        bool done = run_parked(*it);  // sets it->key to what it waits on now
        WaitKey now = it->key;
        it->key = k;                  // where the index has it
        if (done) {
            unpark(it);
        } else if (now != k) {
            auto& old = bykey_[k];
            std::erase(old, it);
            if (old.empty()) bykey_.erase(k);
            it->key = now;
            bykey_[now].push_back(it);
        }
    }
}

// Only requests whose key the tree announced are re-run (and the unkeyed ones); what they
// change may announce more keys, so this repeats until nothing is left to announce.
void Server::retry_parked() {
    run_key(nullptr);
    run_kicks();
    for (int round = 0; round < 16; round++) {
        ready_.clear();
        fs_.ready(ready_);
        if (ready_.empty()) break;
        for (WaitKey k : ready_)
            if (k) run_key(k);
        run_kicks();
    }
    for (auto& [id, c] : conns_) {
        if (c->unsent() == 0) continue;
        flush_output(*c);
        update_events(*c);
    }
    reap();
}

// True when p is finished with (answered), false when it must stay parked.
bool Server::run_parked(Parked& p) {
    if (p.splice) return splice_run(p);
    Conn& c = *p.c;
    Fid* f = c.fid(p.fid);
    if (!f) {  // cannot happen: clunk cancels first; answer rather than park forever
        error(c, p.tag, Eunknownfid);
        return true;
    }
    if (p.op == Ftype::Topen) {
        Answer a = fs_.open(*f, p.mode);
        p.key = a.key;
        return finish_open(c, p.tag, *f, p.mode, a);
    }
    if (p.op == Ftype::Twrite) {
        uint32_t n = 0;
        Answer a = fs_.write(*f, p.offset, p.data.v, n);
        p.key = a.key;
        return finish_write(c, p.tag, a, n, p.data.v.size());
    }
    std::string out;
    Answer a = fs_.read(*f, p.offset, p.count, out);
    p.key = a.key;
    return finish_read(c, p.tag, a, out, p.count);
}

// Abandons c's parked requests on fid (every fid when fid is kNoFid). With answer, each
// gets Rerror "interrupted" (its fid is being clunked); without, none is answered
// (Tversion and disconnect end the tags too).
void Server::cancel_parked(Conn& c, uint32_t fid, bool answer) {
    for (auto it = parked_.begin(); it != parked_.end();) {
        if (it->c != &c || (fid != kNoFid && it->fid != fid)) {
            ++it;
            continue;
        }
        if (Fid* f = c.fid(it->fid)) fs_.cancel(*f);
        if (it->splice)
            splice_cancelled(*it);
        else if (answer)
            error(c, it->tag, Eintr);
        it = unpark(it);
    }
}

bool Server::is_parked(const Conn& c, uint16_t tag) const {
    return std::any_of(parked_.begin(), parked_.end(), [&](const Parked& p) {
        return p.c == &c && p.tag == tag && !p.splice;
    });
}

bool Server::is_opening(const Conn& c, uint32_t fid) const {
    return std::any_of(parked_.begin(), parked_.end(), [&](const Parked& p) {
        return p.c == &c && p.fid == fid && p.op == Ftype::Topen && !p.splice;
    });
}

// Tversion and disconnect: every outstanding request is abandoned, every fid clunked.
void Server::reset_session(Conn& c) {
    unsplice_all(c);
    cancel_parked(c, kNoFid, false);
    for (auto& [n, f] : c.fids) fs_.clunk(f);
    c.fids.clear();
}

// --- replies ---

void Server::reply(Conn& c, Fcall& r) {
    if (!c.dead) encode(r, c.out);
}

void Server::error(Conn& c, uint16_t tag, Err e) {
    Fcall r;
    r.type = Ftype::Rerror;
    r.tag = tag;
    r.ename = e.text ? e.text : "error";
    reply(c, r);
}

// --- requests ---

void Server::dispatch(Conn& c, const Fcall& t) {
    if (!is_request(t.type)) return error(c, t.tag, Ebotch);
    if (t.type == Ftype::Tversion) return version(c, t);
    if (!c.versioned) return error(c, t.tag, Enoversion);
    if (is_parked(c, t.tag)) return error(c, t.tag, Eduptag);
    switch (t.type) {
    case Ftype::Tauth: return error(c, t.tag, Enoauth);
    case Ftype::Tattach: return attach(c, t);
    case Ftype::Tflush: return flush(c, t);
    case Ftype::Twalk: return walk(c, t);
    case Ftype::Topen: return open(c, t);
    case Ftype::Tcreate:
        return error(c, t.tag, c.fid(t.fid) ? proto::Eperm : Eunknownfid);
    case Ftype::Tread: return read(c, t);
    case Ftype::Twrite: return write(c, t);
    case Ftype::Tclunk: return clunk(c, t, false);
    case Ftype::Tremove: return clunk(c, t, true);
    case Ftype::Tstat: return stat(c, t);
    case Ftype::Twstat: return wstat(c, t);
    case Ftype::Tsplice: return splice(c, t);
    default: return error(c, t.tag, Ebotch);
    }
}

// version(5): negotiates msize and ends whatever session there was.
void Server::version(Conn& c, const Fcall& t) {
    reset_session(c);
    c.versioned = false;
    c.msize = kMaxMsize;
    if (t.msize < kMinMsize) return error(c, t.tag, Emsize);
    Fcall r;
    r.type = Ftype::Rversion;
    r.tag = t.tag;
    r.msize = std::min(t.msize, kMaxMsize);
    r.version = "unknown";
    c.devip = false;
    if (speaks_9p2000(t.version)) {
        c.devip = t.version == kVersionDevip;  // asked for by name; anything else is 9P2000
        r.version = c.devip ? kVersionDevip : "9P2000";
        c.msize = r.msize;
        c.versioned = true;
    }
    reply(c, r);
}

void Server::attach(Conn& c, const Fcall& t) {
    if (t.afid != kNoFid) return error(c, t.tag, Enoauth);
    if (c.fid(t.fid)) return error(c, t.tag, Efidinuse);
    Fid f;
    f.fid = t.fid;
    f.who = &c.who;
    if (Err e = fs_.attach(f, t.aname)) return error(c, t.tag, e);
    Fcall r;
    r.type = Ftype::Rattach;
    r.tag = t.tag;
    r.qid = f.qid;
    c.fids.emplace(t.fid, std::move(f));
    reply(c, r);
}

// flush(5): a parked request is dropped unanswered; Rflush is always sent.
void Server::flush(Conn& c, const Fcall& t) {
    bool done = splice_flush(c, t.oldtag);  // a Tread waiting for a splice's end
    for (auto it = parked_.begin(); !done && it != parked_.end(); ++it) {
        if (it->c != &c || it->tag != t.oldtag || it->splice) continue;
        if (Fid* f = c.fid(it->fid)) fs_.cancel(*f);
        unpark(it);
        break;
    }
    Fcall r;
    r.type = Ftype::Rflush;
    r.tag = t.tag;
    reply(c, r);
}

// walk(5): newfid is made only when every element is walked; an error on the first
// element is an Rerror, a later one a short Rwalk.
void Server::walk(Conn& c, const Fcall& t) {
    Fid* f = c.fid(t.fid);
    if (!f) return error(c, t.tag, Eunknownfid);
    if (f->open) return error(c, t.tag, Ewalkopen);
    if (is_opening(c, t.fid)) return error(c, t.tag, Ebusy);
    if (t.newfid != t.fid && c.fid(t.newfid)) return error(c, t.tag, Efidinuse);
    if (!t.wname.empty() && !(f->qid.type & QTDIR)) return error(c, t.tag, Ewalknodir);
    Fid nf = *f;
    nf.fid = t.newfid;
    nf.omode = 0;
    nf.dir_index = nf.dir_offset = 0;
    Fcall r;
    r.type = Ftype::Rwalk;
    r.tag = t.tag;
    for (const std::string& name : t.wname) {
        if (!(nf.qid.type & QTDIR)) break;
        Err e = fs_.walk(nf, name);
        if (e && r.wqid.empty()) return error(c, t.tag, e);
        if (e) break;
        r.wqid.push_back(nf.qid);
    }
    if (r.wqid.size() == t.wname.size()) c.fids.insert_or_assign(t.newfid, std::move(nf));
    reply(c, r);
}

void Server::open(Conn& c, const Fcall& t) {
    Fid* f = c.fid(t.fid);
    if (!f) return error(c, t.tag, Eunknownfid);
    if (f->open) return error(c, t.tag, Eisopen);
    if (is_opening(c, t.fid)) return error(c, t.tag, Ebusy);
    bool rdonly = (t.mode & 3) == OREAD || (t.mode & 3) == OEXEC;
    if ((f->qid.type & QTDIR) && (!rdonly || (t.mode & OTRUNC))) return error(c, t.tag, Eisdir);
    Answer a = fs_.open(*f, t.mode);
    if (!finish_open(c, t.tag, *f, t.mode, a))
        park({&c, t.tag, t.fid, Ftype::Topen, t.mode, 0, 0, a.key, {}});
}

bool Server::finish_open(Conn& c, uint16_t tag, Fid& f, uint8_t mode, Answer a) {
    if (a.st == Status::Park) return false;
    if (a.st == Status::Error) {
        error(c, tag, a.err);
        return true;
    }
    f.open = true;
    f.omode = mode;
    f.dir_index = f.dir_offset = 0;
    Fcall r;
    r.type = Ftype::Ropen;
    r.tag = tag;
    r.qid = f.qid;
    r.iounit = c.msize - kIoHdrSize;
    reply(c, r);
    return true;
}

void Server::read(Conn& c, const Fcall& t) {
    Fid* f = c.fid(t.fid);
    if (!f) return error(c, t.tag, Eunknownfid);
    if (!f->open) return error(c, t.tag, Enotopen);
    if (!can_read(f->omode)) return error(c, t.tag, proto::Eperm);
    if (Splice* s = spliced(c, t.fid)) return splice_wait(c, *s, t);
    uint32_t count = std::min(t.count, c.msize - kIoHdrSize);
    if (f->qid.type & QTDIR) return read_dir(c, t.tag, *f, t.offset, count);
    std::string out;
    Answer a = fs_.read(*f, t.offset, count, out);
    if (!finish_read(c, t.tag, a, out, count))
        park({&c, t.tag, t.fid, Ftype::Tread, 0, t.offset, count, a.key, {}});
}

bool Server::finish_read(Conn& c, uint16_t tag, Answer a, const std::string& out,
                         uint32_t count) {
    if (a.st == Status::Park) return false;
    if (a.st == Status::Error) {
        error(c, tag, a.err);
        return true;
    }
    Fcall r;
    r.type = Ftype::Rread;
    r.tag = tag;
    r.data = std::span(reinterpret_cast<const uint8_t*>(out.data()),
                       std::min<size_t>(out.size(), count));
    reply(c, r);
    return true;
}

// Packs whole entries from Fsys::dirent into at most count bytes. The offset is 0 (start
// again) or where the previous read ended, as read(5) requires of directories.
void Server::read_dir(Conn& c, uint16_t tag, Fid& f, uint64_t off, uint32_t count) {
    if (off == 0) {
        f.dir_index = 0;
        f.dir_offset = 0;
    } else if (off != f.dir_offset) {
        return error(c, tag, Ebaddiroff);
    }
    std::vector<uint8_t> buf;
    Dir d;
    uint64_t i = f.dir_index;
    while (fs_.dirent(f, i, d)) {
        size_t before = buf.size();
        if (encode_dir(d, buf) == 0 || buf.size() > count) {
            buf.resize(before);
            if (before == 0) return error(c, tag, Eshort);
            break;
        }
        i++;
    }
    f.dir_index = i;
    f.dir_offset += buf.size();
    Fcall r;
    r.type = Ftype::Rread;
    r.tag = tag;
    r.data = buf;
    reply(c, r);
}

void Server::write(Conn& c, const Fcall& t) {
    Fid* f = c.fid(t.fid);
    if (!f) return error(c, t.tag, Eunknownfid);
    if (!f->open) return error(c, t.tag, Enotopen);
    if (!can_write(f->omode)) return error(c, t.tag, proto::Eperm);
    if (f->qid.type & QTDIR) return error(c, t.tag, Eisdir);
    if (spliced(c, t.fid)) return error(c, t.tag, Ebusy);
    uint32_t n = 0;
    Answer a = fs_.write(*f, t.offset, t.data, n);
    bool secret = fs_.secret(*f);
    if (!finish_write(c, t.tag, a, n, t.data.size()))
        park({&c, t.tag, t.fid, Ftype::Twrite, 0, t.offset, 0, a.key, WriteBytes(t.data, secret)});
    // key text (esp ctl): gone from the receive buffer once served; t.data points into c.in
    if (secret && !t.data.empty())
        explicit_bzero(const_cast<uint8_t*>(t.data.data()), t.data.size());
}

bool Server::finish_write(Conn& c, uint16_t tag, Answer a, uint32_t n, size_t len) {
    if (a.st == Status::Park) return false;
    if (a.st == Status::Error) {
        error(c, tag, a.err);
        return true;
    }
    Fcall r;
    r.type = Ftype::Rwrite;
    r.tag = tag;
    r.count = std::min<uint32_t>(n, uint32_t(len));
    reply(c, r);
    return true;
}

// clunk(5), remove(5): the fid goes either way; nothing can be removed here.
void Server::clunk(Conn& c, const Fcall& t, bool remove) {
    Fid* f = c.fid(t.fid);
    if (!f) return error(c, t.tag, Eunknownfid);
    unsplice(c, t.fid);
    cancel_parked(c, t.fid, true);
    fs_.clunk(*f);
    c.fids.erase(t.fid);
    if (remove) return error(c, t.tag, proto::Eperm);
    Fcall r;
    r.type = Ftype::Rclunk;
    r.tag = t.tag;
    reply(c, r);
}

void Server::stat(Conn& c, const Fcall& t) {
    Fid* f = c.fid(t.fid);
    if (!f) return error(c, t.tag, Eunknownfid);
    Dir d;
    if (Err e = fs_.stat(*f, d)) return error(c, t.tag, e);
    Fcall r;
    r.type = Ftype::Rstat;
    r.tag = t.tag;
    if (encode_dir(d, r.stat) == 0 || r.stat.size() + 9 > c.msize)
        return error(c, t.tag, Estatsize);
    reply(c, r);
}

void Server::wstat(Conn& c, const Fcall& t) {
    Fid* f = c.fid(t.fid);
    if (!f) return error(c, t.tag, Eunknownfid);
    Dir d;
    if (t.stat.empty() || decode_dir(t.stat, d) != t.stat.size()) return error(c, t.tag, Ebadstat);
    if (is_opening(c, t.fid)) return error(c, t.tag, Ebusy);
    if (Err e = fs_.wstat(*f, d)) return error(c, t.tag, e);
    Fcall r;
    r.type = Ftype::Rwstat;
    r.tag = t.tag;
    reply(c, r);
}

// --- Tsplice: devip's extension (devip(4) "Splicing a data file") ---
//
// Tsplice fid efid emsg, sent with one UNIX socket (SOCK_STREAM or SOCK_SEQPACKET) as
// SCM_RIGHTS, on a session that asked for 9P2000.devip. From then on the server copies
// what fid reads to the socket (one read, one send: a record on SOCK_SEQPACKET) and what
// the socket gives to fid's writes, with the flow control of parked reads and writes and
// no 9P message per transfer. At the socket's end of input emsg is written to efid (a
// ctl: "shutdown"); when the program has shut the socket both ways (or closed it) reads
// stop. A Tread of fid at offset 0 is answered when the read direction has ended, with its
// error text ("" after end of file); at any other offset when the splice has ended, with
// the write direction's error text. At the end the server clunks fid and efid itself.
// Flushing that second Tread ends the splice at once.
namespace {
constexpr Err Enofd{"no descriptor with Tsplice"};
constexpr Err Ebadfd{"descriptor is not a UNIX stream or seqpacket socket"};
constexpr Err Espliced{"fid already spliced"};
constexpr size_t kMaxEmsg = 256;
}  // namespace

struct Server::Splice {
    uint64_t id = 0;               // splices_ key, and Parked::splice
    Conn* c = nullptr;             // the session whose fids these are
    uint32_t fid = 0;              // the file copied, open ORDWR
    uint32_t efid = kNoFid;        // written emsg at the end of input, or kNoFid
    std::string emsg;              // "shutdown", or empty
    int fd = -1;                   // the server's end of the program's socket; -1 once closed
    bool stream = true;            // SOCK_STREAM (bytes) or SOCK_SEQPACKET (records)
    uint32_t iounit = 0;           // most bytes per read or write of fid
    bool watched = false;          // fd is in epoll (through watch())
    bool hup = false;              // epoll said hangup: out of epoll for good
    uint32_t events = 0;           // the interest registered
    // fid → socket
    bool rd_parked = false;        // a read of fid is parked
    bool rd_done = false;          // ended: end of file, error, or the program stopped reading
    std::string pend;              // read from fid, not yet sent
    size_t pend_off = 0;           // first unsent byte of pend
    std::string rerr;              // why reads ended, if they failed
    // socket → fid (or efid)
    bool wr_parked = false;        // a write is parked
    bool wr_eof = false;           // the socket's input has ended
    bool wr_done = false;          // ended: after emsg, or on an error
    std::vector<uint8_t> wbuf;     // bytes to write
    size_t woff = 0;               // first unwritten byte of wbuf
    uint32_t wfid = 0;             // where wbuf goes: fid, or efid for emsg
    std::string werr;              // why a write of fid failed
    bool ended = false;            // both directions over; fids clunked
    uint16_t rd_tag = kNoTag;      // Tread at offset 0 waiting for the read direction's end
    uint16_t end_tag = kNoTag;     // Tread waiting for the end
};

Server::Splice* Server::spliced(const Conn& c, uint32_t fid) const {
    for (const auto& [id, s] : splices_)
        if (s->c == &c && s->fid == fid && !s->ended) return s.get();
    return nullptr;
}

void Server::splice(Conn& c, const Fcall& t) {
    int fd = -1;
    if (!c.fds_in.empty()) {
        fd = c.fds_in.front();
        c.fds_in.pop_front();
    }
    auto fail = [&](Err e) {
        if (fd >= 0) close(fd);
        error(c, t.tag, e);
    };
    if (!c.devip) return fail(Ebotch);
    Fid* f = c.fid(t.fid);
    if (!f) return fail(Eunknownfid);
    if (!f->open) return fail(Enotopen);
    if (!can_read(f->omode) || !can_write(f->omode)) return fail(proto::Eperm);
    if (f->qid.type & QTDIR) return fail(Eisdir);
    if (spliced(c, t.fid)) return fail(Espliced);
    if (std::any_of(parked_.begin(), parked_.end(),
                    [&](const Parked& p) { return p.c == &c && p.fid == t.fid; }))
        return fail(Ebusy);
    if (t.efid != kNoFid) {
        Fid* e = c.fid(t.efid);
        if (!e) return fail(Eunknownfid);
        if (!e->open) return fail(Enotopen);
        if (!can_write(e->omode) || t.efid == t.fid) return fail(proto::Eperm);
    }
    if (t.emsg.size() > kMaxEmsg) return fail(proto::Ecmdargs);
    if (fd < 0) return fail(Enofd);
    int type = 0, domain = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
        getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_UNIX ||
        (type != SOCK_STREAM && type != SOCK_SEQPACKET))
        return fail(Ebadfd);
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return fail(Ebadfd);
    auto s = std::make_unique<Splice>();
    s->id = next_splice_++;
    s->c = &c;
    s->fid = t.fid;
    s->efid = t.efid;
    s->emsg = t.emsg;
    s->fd = fd;
    s->stream = type == SOCK_STREAM;
    s->iounit = c.msize - kIoHdrSize;
    s->wfid = t.fid;
    Splice& sp = *s;
    splices_.emplace(s->id, std::move(s));
    Fcall r;
    r.type = Ftype::Rsplice;
    r.tag = t.tag;
    reply(c, r);
    splice_pump(sp);
}

// A Tread of a spliced fid: the end of the read direction (offset 0) or of the splice.
void Server::splice_wait(Conn& c, Splice& s, const Fcall& t) {
    bool whole = t.offset != 0;
    uint16_t& tag = whole ? s.end_tag : s.rd_tag;
    if (tag != kNoTag) return error(c, t.tag, Ebusy);
    tag = t.tag;
    if (whole ? s.ended : s.rd_done) splice_answer(s, whole);
}

// Answers the Tread waiting for the read direction's end (whole: for the splice's end).
void Server::splice_answer(Splice& s, bool whole) {
    uint16_t& tag = whole ? s.end_tag : s.rd_tag;
    if (tag == kNoTag) return;
    const std::string& text = whole ? s.werr : s.rerr;
    Fcall r;
    r.type = Ftype::Rread;
    r.tag = tag;
    r.data = std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size());
    reply(*s.c, r);
    tag = kNoTag;
}

bool Server::splice_flush(Conn& c, uint16_t oldtag) {
    for (auto& [id, s] : splices_) {
        if (s->c != &c) continue;
        if (s->rd_tag == oldtag) {
            s->rd_tag = kNoTag;
            return true;
        }
        if (s->end_tag == oldtag) {
            s->end_tag = kNoTag;
            splice_abort(*s);
            return true;
        }
    }
    return false;
}

// Ends both directions now: parked I/O cancelled, unsent data dropped, the socket shut.
void Server::splice_abort(Splice& s) {
    for (auto it = parked_.begin(); it != parked_.end();) {
        if (it->splice != s.id) {
            ++it;
            continue;
        }
        if (Fid* f = s.c->fid(it->fid)) fs_.cancel(*f);
        it = unpark(it);
    }
    s.rd_parked = s.wr_parked = false;
    s.rd_done = s.wr_done = true;
    if (s.fd >= 0) ::shutdown(s.fd, SHUT_RDWR);
    splice_answer(s, false);
    splice_check_end(s);
}

void Server::splice_event(uint64_t id, uint32_t events) {
    auto it = splices_.find(id);
    if (it == splices_.end()) return;
    Splice& s = *it->second;
    if (events & (EPOLLHUP | EPOLLERR)) {  // shut both ways: its input ends, sends fail
        splice_stop_reads(s);
        if (s.watched) unwatch(s.fd);
        s.watched = false;
        s.hup = true;
    }
    Conn& c = *s.c;  // a failed send drops c, and its splices with it; c itself stays
    splice_pump(s);
    flush_output(c);
    update_events(c);
}

// The program takes no more: the parked read is cancelled and what was read is dropped.
void Server::splice_stop_reads(Splice& s) {
    if (s.rd_done) return;
    for (auto it = parked_.begin(); it != parked_.end(); ++it) {
        if (it->splice != s.id || it->op != Ftype::Tread) continue;
        if (Fid* f = s.c->fid(it->fid)) fs_.cancel(*f);
        unpark(it);
        break;
    }
    s.rd_parked = false;
    s.rd_done = true;
    s.pend.clear();
    s.pend_off = 0;
    splice_answer(s, false);
}

// Sends what is pending to the program; false while the socket is full.
bool Server::splice_send(Splice& s) {
    while (s.pend_off < s.pend.size()) {
        ssize_t n = ::send(s.fd, s.pend.data() + s.pend_off, s.pend.size() - s.pend_off,
                           MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
        if (n < 0) {  // EPIPE: the program shut its end
            splice_stop_reads(s);
            return true;
        }
        s.pend_off = s.stream ? s.pend_off + size_t(n) : s.pend.size();
    }
    s.pend.clear();
    s.pend_off = 0;
    return true;
}

// The outcome of a read of fid; false when it parked.
bool Server::splice_read_done(Splice& s, Answer a, std::string& out) {
    if (a.st == Status::Park) return false;
    if (a.st == Status::Error || out.empty()) {  // failed, or end of file: hung up
        if (a.st == Status::Error) s.rerr = a.err.text ? a.err.text : "error";
        s.rd_done = true;
        if (s.fd >= 0) ::shutdown(s.fd, SHUT_WR);  // the program reads end of file
        splice_answer(s, false);
        return true;
    }
    s.pend = std::move(out);
    s.pend_off = 0;
    return true;
}

// The outcome of a write of wbuf; false when it parked.
bool Server::splice_write_done(Splice& s, Answer a, uint32_t n) {
    if (a.st == Status::Park) return false;
    if (s.wfid != s.fid) {  // emsg: its outcome is the protocol's business, as in dial(3)
        s.wr_done = true;
        return true;
    }
    if (a.st == Status::Done && n == 0 && s.woff < s.wbuf.size()) a = Answer::fail(Eshort);
    if (a.st == Status::Error) {
        s.werr = a.err.text ? a.err.text : "error";
        s.wr_done = true;
        if (s.fd >= 0) ::shutdown(s.fd, SHUT_RDWR);  // the program's writes fail from now on
        return true;  // the pump stops the reads (here run_key may hold their iterator)
    }
    s.woff += n;
    return true;
}

// Moves everything that can move now, in both directions, then registers the interest.
void Server::splice_pump(Splice& s) {
    if (!s.werr.empty()) splice_stop_reads(s);
    while (!s.ended && !s.rd_done && !s.rd_parked) {
        if (s.pend_off < s.pend.size()) {
            if (!splice_send(s)) break;
            continue;
        }
        Fid* f = s.c->fid(s.fid);
        std::string out;
        Answer a = f ? fs_.read(*f, 0, s.iounit, out) : Answer::fail(Eunknownfid);
        if (!splice_read_done(s, a, out)) {
            park({s.c, kNoTag, s.fid, Ftype::Tread, 0, 0, s.iounit, a.key, {}, s.id});
            s.rd_parked = true;
        }
    }
    while (!s.ended && !s.wr_done && !s.wr_parked) {
        if (s.woff == s.wbuf.size()) {
            if (s.wr_eof) {
                s.wr_done = true;
                break;
            }
            s.wbuf.resize(s.iounit);
            s.woff = 0;
            ssize_t n = ::recv(s.fd, s.wbuf.data(), s.wbuf.size(), MSG_DONTWAIT);
            if (n < 0 && errno == EINTR) {
                s.wbuf.clear();
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                s.wbuf.clear();
                break;
            }
            if (n <= 0) {  // end of input (or a reset): emsg, then done
                s.wr_eof = true;
                s.wbuf.clear();
                if (s.emsg.empty() || s.efid == kNoFid || !s.c->fid(s.efid)) continue;
                s.wbuf.assign(s.emsg.begin(), s.emsg.end());
                s.wfid = s.efid;
            } else {
                s.wbuf.resize(size_t(n));
                s.wfid = s.fid;
            }
        }
        Fid* f = s.c->fid(s.wfid);
        uint32_t n = 0;
        Answer a = f ? fs_.write(*f, 0, std::span(s.wbuf).subspan(s.woff), n)
                     : Answer::fail(Eunknownfid);
        if (!splice_write_done(s, a, n)) {
            park({s.c, kNoTag, s.wfid, Ftype::Twrite, 0, 0, 0, a.key, {}, s.id});
            s.wr_parked = true;
        }
    }
    splice_check_end(s);
    if (!s.ended) splice_watch(s);
}

// Registers what the pump waits for on the socket: input, room, or only its hangup.
void Server::splice_watch(Splice& s) {
    if (s.hup || s.fd < 0) return;
    uint32_t want = 0;
    if (!s.wr_done && !s.wr_eof && !s.wr_parked && s.woff == s.wbuf.size())
        want |= EPOLLIN | EPOLLRDHUP;
    if (!s.rd_done && s.pend_off < s.pend.size()) want |= EPOLLOUT;
    if (!s.watched) {
        uint64_t id = s.id;
        s.watched = watch(s.fd, want, [this, id](uint32_t ev) { splice_event(id, ev); });
        s.events = want;
        if (!s.watched) splice_abort(s);
        return;
    }
    if (want != s.events && rewatch(s.fd, want)) s.events = want;
}

// A parked read or write of a splice came back (run_parked).
bool Server::splice_run(Parked& p) {
    auto it = splices_.find(p.splice);
    if (it == splices_.end()) return true;
    Splice& s = *it->second;
    Fid* f = s.c->fid(p.fid);
    if (p.op == Ftype::Tread) {
        std::string out;
        Answer a = f ? fs_.read(*f, 0, s.iounit, out) : Answer::fail(Eunknownfid);
        p.key = a.key;
        if (!splice_read_done(s, a, out)) return false;
        s.rd_parked = false;
    } else {
        uint32_t n = 0;
        Answer a = f ? fs_.write(*f, 0, std::span(s.wbuf).subspan(s.woff), n)
                     : Answer::fail(Eunknownfid);
        p.key = a.key;
        if (!splice_write_done(s, a, n)) return false;
        s.wr_parked = false;
    }
    kicks_.push_back(s.id);  // the pump goes on after the parked round (it may park again)
    return true;
}

// A splice's parked I/O was cancelled by a clunk of its fid or efid (cancel_parked).
void Server::splice_cancelled(Parked& p) {
    auto it = splices_.find(p.splice);
    if (it == splices_.end()) return;
    Splice& s = *it->second;
    if (p.op == Ftype::Tread) {
        s.rd_parked = false;
        s.rd_done = true;
        splice_answer(s, false);
    } else {
        s.wr_parked = false;
        s.wr_done = true;
    }
    kicks_.push_back(s.id);
}

void Server::run_kicks() {
    while (!kicks_.empty()) {
        std::vector<uint64_t> k;
        k.swap(kicks_);
        for (uint64_t id : k) {
            auto it = splices_.find(id);
            if (it != splices_.end()) splice_pump(*it->second);
        }
    }
}

// Both directions over: the socket is closed, fid and efid clunked, the end answered. The
// Splice goes in reap(), after its callers are done with it.
void Server::splice_check_end(Splice& s) {
    if (s.ended || !s.rd_done || !s.wr_done || s.rd_parked || s.wr_parked) return;
    s.ended = true;
    if (s.watched) unwatch(s.fd);
    s.watched = false;
    if (s.fd >= 0) close(s.fd);
    s.fd = -1;
    Conn& c = *s.c;
    splice_answer(s, false);
    splice_answer(s, true);
    for (uint32_t n : {s.fid, s.efid}) {
        if (n == kNoFid) continue;
        if (Fid* f = c.fid(n)) {
            cancel_parked(c, n, true);
            fs_.clunk(*f);
            c.fids.erase(n);
        }
    }
    s.efid = kNoFid;
}

// Splice s of c goes: its parked requests unanswered, its socket unwatched and closed (the
// caller erases it).
void Server::drop_splice(Conn& c, Splice& s) {
    for (auto p = parked_.begin(); p != parked_.end();) {
        if (p->splice != s.id) {
            ++p;
            continue;
        }
        if (Fid* f = c.fid(p->fid)) fs_.cancel(*f);
        p = unpark(p);
    }
    if (s.watched) unwatch(s.fd);
    if (s.fd >= 0) close(s.fd);
}

// fid is being clunked: a splice of it goes (its waiting Treads get "interrupted"); a
// splice whose efid it is forgets it.
void Server::unsplice(Conn& c, uint32_t fid) {
    for (auto it = splices_.begin(); it != splices_.end();) {
        Splice& s = *it->second;
        if (s.c == &c && s.efid == fid) s.efid = kNoFid;
        if (s.c != &c || s.fid != fid || s.ended) {
            ++it;
            continue;
        }
        for (uint16_t* tag : {&s.rd_tag, &s.end_tag})
            if (*tag != kNoTag) error(c, *tag, Eintr);
        s.rd_tag = s.end_tag = kNoTag;
        drop_splice(c, s);
        it = splices_.erase(it);
    }
}

// The session ends (Tversion, disconnect): every splice goes, unanswered.
void Server::unsplice_all(Conn& c) {
    for (auto it = splices_.begin(); it != splices_.end();) {
        Splice& s = *it->second;
        if (s.c != &c) {
            ++it;
            continue;
        }
        drop_splice(c, s);
        it = splices_.erase(it);
    }
}

}  // namespace devip::ctl
