// 9P2000 client (intro(5)): a reader thread matches replies to waiting callers by tag;
// every call is start() + wait(). Tflush (flush(5)) ends a wait that outlives its deadline.
#include "control/client.h"

#include <pwd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace devip::ctl {
namespace {

CErr fail(std::string s) { return CErr{std::move(s)}; }

std::string user_name() {
    char buf[1024];
    passwd pw{}, *res = nullptr;
    if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &res) == 0 && res) return pw.pw_name;
    return std::to_string(getuid());
}

// The non-empty '/'-separated elements of path.
std::vector<std::string> split_path(std::string_view path) {
    std::vector<std::string> v;
    while (!path.empty()) {
        size_t i = path.find('/');
        std::string_view e = path.substr(0, i);
        if (!e.empty()) v.emplace_back(e);
        if (i == std::string_view::npos) break;
        path.remove_prefix(i + 1);
    }
    return v;
}

}  // namespace

std::string_view net_relative(std::string_view path) {
    while (path.starts_with('/')) path.remove_prefix(1);
    if (path == "net") return {};
    if (path.starts_with("net/")) path.remove_prefix(4);
    while (path.starts_with('/')) path.remove_prefix(1);
    return path;
}

// --- connection ---

Client::~Client() {
    hangup();
    if (reader_.joinable()) reader_.join();
    if (fd_ >= 0) ::close(fd_);
}

CErr Client::dial(const std::string& sockpath) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (sockpath.size() >= sizeof sa.sun_path) return fail("socket path too long: " + sockpath);
    std::memcpy(sa.sun_path, sockpath.c_str(), sockpath.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(std::string("socket: ") + std::strerror(errno));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
        int e = errno;
        ::close(fd);
        return fail("cannot connect to " + sockpath + ": " + std::strerror(e));
    }
    fd_ = fd;
    reader_ = std::thread([this] { reader(); });
    return {};
}

void Client::hangup() {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

CErr Client::attach(std::string_view aname) {
    Fcall t;
    t.type = Ftype::Tversion;
    t.msize = kClientMsize;
    t.version = kVersionDevip;  // 9P2000 with Tsplice; a server without it answers 9P2000
    Reply r;
    if (CErr e = rpc(t, Ftype::Rversion, r)) return e;
    if (r.f.version != kVersion && r.f.version != kVersionDevip)
        return fail("unsupported 9P version " + r.f.version);
    splice_ = r.f.version == kVersionDevip;
    if (r.f.msize <= kIoHdrSize) return fail("server msize too small");
    msize_ = std::min(kClientMsize, r.f.msize);

    t = Fcall{};
    t.type = Ftype::Tattach;
    t.fid = kRootFid;
    t.afid = kNoFid;
    t.uname = user_name();
    t.aname = std::string(aname);
    return rpc(t, Ftype::Rattach, r);
}

// The receive side: one whole message at a time, handed to its tag's slot.
void Client::reader() {
    // Read in large chunks and settle every whole reply in them under one lock: a pipelined
    // bulk load gets many replies per system call.
    std::vector<uint8_t> in;
    size_t have = 0;
    in.resize(256 * 1024);
    for (;;) {
        if (have == in.size()) in.resize(in.size() * 2);
        ssize_t n = ::read(fd_, in.data() + have, in.size() - have);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        have += size_t(n);
        size_t off = 0;
        bool lost = false, piped = false;
        {
            std::lock_guard lk(mu_);
            while (have - off >= 4) {
                uint32_t size = peek_size({in.data() + off, 4});
                if (size < 7 || size > kClientMsize) {  // framing lost: nothing more to trust
                    lost = true;
                    break;
                }
                if (have - off < size) break;
                uint16_t tag = uint16_t(in[off + 5] | in[off + 6] << 8);
                if (pipe_ && uint16_t(tag - pipe_lo_) < pipe_n_) {
                    pipe_->settle(tag, in.data() + off, size);
                    piped = true;
                } else {
                    complete(tag, std::vector<uint8_t>(in.begin() + long(off),
                                                       in.begin() + long(off + size)));
                }
                off += size;
            }
        }
        if (piped) cv_.notify_all();  // once per chunk: the pipe's writer may be waiting
        if (lost) break;
        std::memmove(in.data(), in.data() + off, have - off);
        have -= off;
    }
    std::lock_guard lk(mu_);
    dead_ = true;
    for (auto it = slots_.begin(); it != slots_.end();) {
        if (it->second.is_flush) {
            it = slots_.erase(it);
            continue;
        }
        if (!it->second.done) {
            it->second.done = true;
            it->second.err = kHungup;
        }
        wake(it->second);
        ++it;
    }
    cv_.notify_all();
}

void Client::complete(uint16_t tag, std::vector<uint8_t> buf) {
    auto it = slots_.find(tag);
    if (it == slots_.end() || it->second.done) return;  // stale: nobody waits for it
    if (it->second.is_flush) {
        // Rflush (or an Rerror to our Tflush): the old request gets no reply from now on.
        auto old = slots_.find(it->second.oldtag);
        if (old != slots_.end() && !old->second.done) {
            old->second.done = true;
            old->second.err = kInterrupted;
            wake(old->second);
        }
        slots_.erase(it);
    } else {
        it->second.done = true;
        it->second.buf = std::move(buf);
        wake(it->second);
    }
}

uint16_t Client::alloc_tag() {
    for (;;) {
        uint16_t t = next_tag_++;
        if (t != kNoTag && !slots_.contains(t) && uint16_t(t - pipe_lo_) >= pipe_n_) return t;
    }
}

CErr Client::send(const Fcall& t) {
    std::vector<uint8_t> out;
    encode(t, out);
    return send_bytes(out);
}

// Writes whole encoded messages; one writer at a time. fd, if any, goes with the first bytes.
CErr Client::send_bytes(const std::vector<uint8_t>& out, int fd) {
    std::lock_guard lk(send_mu_);
    size_t off = 0;
    while (fd >= 0) {
        iovec iov{const_cast<uint8_t*>(out.data()), out.size()};
        alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))] = {};
        msghdr mh{};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cbuf;
        mh.msg_controllen = sizeof cbuf;
        cmsghdr* cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(cm), &fd, sizeof fd);
        ssize_t n = ::sendmsg(fd_, &mh, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return fail(kHungup);
        off = size_t(n);
        break;
    }
    while (off < out.size()) {
        ssize_t n = ::send(fd_, out.data() + off, out.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return fail(kHungup);
        off += size_t(n);
    }
    return {};
}

// --- the asynchronous core ---

CErr Client::start(Fcall& t) {
    {
        std::lock_guard lk(mu_);
        if (dead_ || fd_ < 0) return fail(kHungup);
        t.tag = t.type == Ftype::Tversion ? kNoTag : alloc_tag();
        if (slots_.contains(t.tag)) return fail("Tversion with requests in flight");
        slots_[t.tag] = Slot{};
    }
    if (CErr e = send(t)) {
        std::lock_guard lk(mu_);
        slots_.erase(t.tag);
        return e;
    }
    return {};
}

CErr Client::start_many(std::span<Fcall> ts, int fd) {
    std::vector<uint8_t> out;
    {
        std::lock_guard lk(mu_);
        if (dead_ || fd_ < 0) return fail(kHungup);
        for (Fcall& t : ts) {
            t.tag = alloc_tag();
            slots_[t.tag] = Slot{};
            encode(t, out);
        }
    }
    if (CErr e = send_bytes(out, fd)) {
        std::lock_guard lk(mu_);
        for (Fcall& t : ts) slots_.erase(t.tag);
        return e;
    }
    return {};
}

// Sleeps on a condition variable of its own, named in the slot: the reader wakes only this
// thread for this reply (one shared one woke every waiting thread for every reply).
bool Client::ready(uint16_t tag, Clock::time_point until) {
    std::unique_lock lk(mu_);
    auto it = slots_.find(tag);  // a map: the slot stays put while others come and go
    if (it == slots_.end() || it->second.done) return true;
    std::condition_variable me;
    it->second.waiter = &me;
    auto done = [&] { return it->second.done || dead_; };
    bool ok = true;
    if (until == Clock::time_point::max())
        me.wait(lk, done);
    else
        ok = me.wait_until(lk, until, done);
    it->second.waiter = nullptr;
    return ok;
}

void Client::flush(uint16_t tag) {
    Fcall t;
    {
        std::lock_guard lk(mu_);
        auto it = slots_.find(tag);
        if (it == slots_.end() || it->second.done || it->second.flushing || dead_) return;
        it->second.flushing = true;
        t.type = Ftype::Tflush;
        t.oldtag = tag;
        t.tag = alloc_tag();
        slots_[t.tag] = Slot{.is_flush = true, .oldtag = tag};
    }
    send(t);  // if this fails the reader sees the hangup and ends every wait
}

void Client::interrupt() {
    std::vector<uint16_t> tags;
    {
        std::lock_guard lk(mu_);
        for (const auto& [tag, s] : slots_)
            if (!s.is_flush && !s.done && tag != kNoTag) tags.push_back(tag);
    }
    for (uint16_t t : tags) flush(t);
}

CErr Client::wait(uint16_t tag, Ftype want, Reply& r, Clock::time_point deadline) {
    if (!ready(tag, deadline)) {
        flush(tag);
        ready(tag, Clock::time_point::max());
    }
    Slot s;
    {
        std::lock_guard lk(mu_);
        auto it = slots_.find(tag);
        if (it == slots_.end()) return fail(kHungup);
        s = std::move(it->second);
        slots_.erase(it);
    }
    if (!s.err.empty()) return fail(s.err);
    r.buf = std::move(s.buf);
    if (!decode(r.buf, r.f)) return fail(kBadReply);
    if (r.f.type == Ftype::Rerror) return fail(r.f.ename);
    if (r.f.type != want) return fail(kBadReply);
    return {};
}

CErr Client::rpc(Fcall& t, Ftype want, Reply& r, Clock::time_point deadline) {
    if (CErr e = start(t)) return e;
    return wait(t.tag, want, r, deadline);
}

// --- fids ---

uint32_t Client::new_fid() {
    std::lock_guard lk(mu_);
    if (!free_fids_.empty()) {
        uint32_t f = free_fids_.back();
        free_fids_.pop_back();
        return f;
    }
    return next_fid_++;
}

void Client::free_fid(uint32_t fid) {
    if (fid == kRootFid) return;
    std::lock_guard lk(mu_);
    free_fids_.push_back(fid);
}

// --- one message each ---

CErr Client::walk(uint32_t fid, uint32_t newfid, std::string_view path, Qid* q) {
    std::vector<std::string> names = split_path(path);
    size_t done = 0;
    bool created = false;  // newfid exists on the server
    do {
        Fcall t;
        t.type = Ftype::Twalk;
        t.fid = created ? newfid : fid;
        t.newfid = newfid;
        size_t n = std::min(kMaxWelem, names.size() - done);
        t.wname.assign(names.begin() + long(done), names.begin() + long(done + n));
        Reply r;
        CErr e = rpc(t, Ftype::Rwalk, r);
        if (!e && r.f.wqid.size() != n) e = fail(kNotExist);
        if (e) {
            if (created) tclunk(newfid);  // the number stays the caller's to free
            return e;
        }
        created = true;
        if (q && n > 0) *q = r.f.wqid.back();
        done += n;
    } while (done < names.size());
    return {};
}

CErr Client::open(uint32_t fid, uint8_t mode, Qid* q, uint32_t* iounit) {
    Fcall t;
    t.type = Ftype::Topen;
    t.fid = fid;
    t.mode = mode;
    Reply r;
    if (CErr e = rpc(t, Ftype::Ropen, r)) return e;
    if (q) *q = r.f.qid;
    if (iounit) *iounit = r.f.iounit;
    return {};
}

CErr Client::create(uint32_t fid, const std::string& name, uint32_t perm, uint8_t mode,
                    Qid* q) {
    Fcall t;
    t.type = Ftype::Tcreate;
    t.fid = fid;
    t.name = name;
    t.perm = perm;
    t.mode = mode;
    Reply r;
    if (CErr e = rpc(t, Ftype::Rcreate, r)) return e;
    if (q) *q = r.f.qid;
    return {};
}

CErr Client::read(uint32_t fid, uint64_t off, uint32_t count, std::string& out,
                  Clock::time_point deadline) {
    Fcall t;
    t.type = Ftype::Tread;
    t.fid = fid;
    t.offset = off;
    t.count = std::min(count, iounit());
    Reply r;
    out.clear();
    if (CErr e = rpc(t, Ftype::Rread, r, deadline)) return e;
    out.assign(r.f.data.begin(), r.f.data.end());
    return {};
}

CErr Client::write1(uint32_t fid, uint64_t off, std::span<const uint8_t> data, uint32_t& n) {
    Fcall t;
    t.type = Ftype::Twrite;
    t.fid = fid;
    t.offset = off;
    t.data = data.first(std::min<size_t>(data.size(), iounit()));
    t.count = uint32_t(t.data.size());
    Reply r;
    n = 0;
    if (CErr e = rpc(t, Ftype::Rwrite, r)) return e;
    n = r.f.count;
    return {};
}

CErr Client::write(uint32_t fid, uint64_t off, std::span<const uint8_t> data) {
    do {
        uint32_t n = 0;
        if (CErr e = write1(fid, off, data, n)) return e;
        size_t want = std::min<size_t>(data.size(), iounit());
        if (n < want) return fail("short write");
        data = data.subspan(n);
        off += n;
    } while (!data.empty());
    return {};
}

CErr Client::splice(uint32_t fid, uint32_t efid, std::string_view emsg, int fd) {
    Fcall t;
    t.type = Ftype::Tsplice;
    t.fid = fid;
    t.efid = efid;
    t.emsg = std::string(emsg);
    std::vector<uint8_t> out;
    {
        std::lock_guard lk(mu_);
        if (dead_ || fd_ < 0) return fail(kHungup);
        t.tag = alloc_tag();
        slots_[t.tag] = Slot{};
        encode(t, out);
    }
    if (CErr e = send_bytes(out, fd)) {
        std::lock_guard lk(mu_);
        slots_.erase(t.tag);
        return e;
    }
    Reply r;
    return wait(t.tag, Ftype::Rsplice, r);
}

CErr Client::tclunk(uint32_t fid) {
    Fcall t;
    t.type = Ftype::Tclunk;
    t.fid = fid;
    Reply r;
    return rpc(t, Ftype::Rclunk, r);
}

CErr Client::clunk(uint32_t fid) {
    CErr e = tclunk(fid);
    free_fid(fid);  // clunked even when the server answers Rerror (clunk(5))
    return e;
}

CErr Client::remove(uint32_t fid) {
    Fcall t;
    t.type = Ftype::Tremove;
    t.fid = fid;
    Reply r;
    CErr e = rpc(t, Ftype::Rremove, r);
    free_fid(fid);  // remove(5): the fid is clunked whatever the outcome
    return e;
}

CErr Client::stat(uint32_t fid, Dir& d) {
    Fcall t;
    t.type = Ftype::Tstat;
    t.fid = fid;
    Reply r;
    if (CErr e = rpc(t, Ftype::Rstat, r)) return e;
    if (decode_dir(r.f.stat, d) == 0) return fail(kBadReply);
    return {};
}

CErr Client::read_dir(uint32_t fid, std::vector<Dir>& out) {
    uint64_t off = 0;
    std::string buf;
    for (;;) {
        if (CErr e = read(fid, off, iounit(), buf)) return e;
        if (buf.empty()) return {};
        off += buf.size();
        std::span<const uint8_t> p(reinterpret_cast<const uint8_t*>(buf.data()), buf.size());
        while (!p.empty()) {
            Dir d;
            size_t n = decode_dir(p, d);
            if (n == 0) return fail(kBadReply);
            out.push_back(std::move(d));
            p = p.subspan(n);
        }
    }
}

// --- path helpers ---

CErr Client::read_all(std::string_view path, std::string& out) {
    CFid f;
    if (CErr e = CFid::open(*this, path, OREAD, f)) return e;
    return f.read_all(out);
}

CErr Client::write_file(std::string_view path, std::string_view msg) {
    CFid f;
    if (CErr e = CFid::open(*this, path, OWRITE, f)) return e;
    if (CErr e = f.write(msg)) return e;
    return f.close();
}

CErr Client::stat_path(std::string_view path, Dir& d) {
    uint32_t fid = new_fid();
    if (CErr e = walk(kRootFid, fid, net_relative(path))) {
        free_fid(fid);
        return e;
    }
    CErr e = stat(fid, d);
    clunk(fid);
    return e;
}

CErr Client::list(std::string_view path, std::vector<Dir>& out) {
    CFid f;
    if (CErr e = CFid::open(*this, path, OREAD, f)) return e;
    return read_dir(f.fid(), out);
}

// --- CFid ---

CFid& CFid::operator=(CFid&& o) noexcept {
    if (this != &o) {
        close();
        c_ = o.c_;
        fid_ = o.fid_;
        qid_ = o.qid_;
        off_ = o.off_;
        o.c_ = nullptr;
    }
    return *this;
}

CErr CFid::open(Client& c, std::string_view path, uint8_t mode, CFid& out) {
    uint32_t fid = c.new_fid();
    Qid q;
    if (CErr e = c.walk(c.root(), fid, net_relative(path), &q)) {
        c.free_fid(fid);
        return e;
    }
    if (CErr e = c.open(fid, mode, &q)) {
        c.clunk(fid);
        return e;
    }
    out = CFid(&c, fid, q);
    return {};
}

CErr CFid::read(std::string& out, Clock::time_point deadline) {
    if (!c_) return fail("file not open");
    CErr e = c_->read(fid_, off_, c_->iounit(), out, deadline);
    off_ += out.size();
    return e;
}

CErr CFid::read_all(std::string& out) {
    out.clear();
    std::string buf;
    for (;;) {
        if (CErr e = read(buf)) return e;
        if (buf.empty()) return {};
        out += buf;
    }
}

CErr CFid::write(std::string_view data) {
    if (!c_) return fail("file not open");
    std::span<const uint8_t> p(reinterpret_cast<const uint8_t*>(data.data()), data.size());
    CErr e = c_->write(fid_, off_, p);
    if (!e) off_ += data.size();
    return e;
}

CErr CFid::close() {
    if (!c_) return {};
    Client* c = c_;
    c_ = nullptr;
    return c->clunk(fid_);
}

}  // namespace devip::ctl

namespace devip::ctl {

// --- WritePipe ---

WritePipe::WritePipe(Client& c, uint32_t fid, uint64_t offset)
    : c_(c), fid_(fid), offset_(offset), slots_(kWindow) {
    out_.reserve(kSendBytes + c.msize());
    std::lock_guard lk(c_.mu_);
    // kWindow consecutive tags that no request in flight has (slots_ is ordered by tag)
    uint32_t lo = 0;
    for (const auto& [tag, s] : c_.slots_) {
        if (tag >= lo + kWindow) break;
        lo = std::max<uint32_t>(lo, tag + 1u);
    }
    if (lo + kWindow > kNoTag || c_.pipe_) {
        failures_.push_back({0, "too many requests in flight"});
        failed_ = true;
        return;
    }
    c_.pipe_ = this;
    c_.pipe_lo_ = uint16_t(lo);
    c_.pipe_n_ = kWindow;
}

WritePipe::~WritePipe() {
    finish();
    std::lock_guard lk(c_.mu_);
    if (c_.pipe_ == this) {
        c_.pipe_ = nullptr;
        c_.pipe_n_ = 0;
    }
}

bool WritePipe::put(std::string_view data, uint64_t label) {
    if (failed_ || finished_) return false;
    do {
        size_t n = std::min<size_t>(data.size(), c_.iounit());
        Slot& s = slots_[next_ % kWindow];
        if (s.busy.load(std::memory_order_acquire)) {  // the window is full: wait for its end
            send_queued();
            std::unique_lock lk(c_.mu_);
            c_.cv_.wait(lk, [&] { return !s.busy.load() || c_.dead_; });
            if (c_.dead_) fail_busy(kHungup);
        }
        if (failed_) return false;
        s.label = label;
        s.len = uint32_t(n);
        s.busy.store(true, std::memory_order_release);  // label and len before the send
        encode_twrite(out_, uint16_t(c_.pipe_lo_ + next_ % kWindow), fid_, offset_,
                      {reinterpret_cast<const uint8_t*>(data.data()), n});
        offset_ += n;
        next_++;
        if (out_.size() >= kSendBytes) send_queued();
        data.remove_prefix(n);
    } while (!data.empty());
    return !failed_;
}

void WritePipe::send_queued() {
    if (out_.empty()) return;
    CErr e = c_.send_bytes(out_);
    out_.clear();
    if (!e) return;
    std::lock_guard lk(c_.mu_);
    fail_busy(e.text.c_str());  // unsent writes are never answered
}

// Every write still waiting fails with why.
void WritePipe::fail_busy(const char* why) {
    for (Slot& s : slots_)
        if (s.busy.load()) {
            failures_.push_back({s.label, why});
            s.busy.store(false);
        }
    failed_ = true;
}

// One reply to a pipelined write: an Rwrite of the whole count, or a failure.
void WritePipe::settle(uint16_t tag, const uint8_t* msg, uint32_t size) {
    Slot& s = slots_[uint16_t(tag - c_.pipe_lo_)];
    if (!s.busy.load(std::memory_order_acquire)) return;  // not ours: nobody waits for it
    constexpr uint32_t kRwriteSize = 7 + 4;
    std::string err;
    if (size == kRwriteSize && msg[4] == uint8_t(Ftype::Rwrite)) {
        uint32_t count = uint32_t(msg[7] | msg[8] << 8 | msg[9] << 16 | uint32_t(msg[10]) << 24);
        if (count < s.len) err = "short write";
    } else {
        Fcall f;
        err = decode({msg, size}, f) && f.type == Ftype::Rerror ? f.ename : kBadReply;
    }
    if (!err.empty()) {
        failures_.push_back({s.label, std::move(err)});
        failed_ = true;
        errors_.fetch_add(1, std::memory_order_relaxed);
    }
    answered_.fetch_add(1, std::memory_order_relaxed);
    s.busy.store(false, std::memory_order_release);
}

std::vector<WritePipe::Failure> WritePipe::finish() {
    if (!finished_) {
        finished_ = true;
        send_queued();
        std::unique_lock lk(c_.mu_);
        for (Slot& s : slots_) c_.cv_.wait(lk, [&] { return !s.busy.load() || c_.dead_; });
        if (c_.dead_) fail_busy(kHungup);
        std::stable_sort(failures_.begin(), failures_.end(),
                         [](const Failure& a, const Failure& b) { return a.label < b.label; });
    }
    std::lock_guard lk(c_.mu_);
    return failures_;
}

}  // namespace devip::ctl
