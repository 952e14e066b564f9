// The 9P server driven over a real UNIX socket. The test is the client: it writes encoded
// T-messages, pumps srv.poll() and decodes what comes back. A small mock Fsys stands in for
// the /net tree: a root directory with a few files, one whose read parks until the test
// says data has arrived, one whose open parks the same way, and a directory of 50 entries.
#include "control/srv.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <sys/epoll.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace devip::ctl {
namespace {

using Bytes = std::vector<uint8_t>;

// --- the mock tree ---

enum Node : uint64_t { Root, FileA, FileB, Slow, Listen, Many, Big, Queue, Entry0 = 100 };
constexpr int kManyEntries = 50;

struct Entry {
    const char* name;  // name in the root directory
    Node node;         // its qid path
};
constexpr Entry kRoot[] = {
    {"a", FileA}, {"b", FileB}, {"slow", Slow}, {"listen", Listen}, {"many", Many}, {"big", Big},
    {"q", Queue},
};

class MockFs : public Fsys {
public:
    bool slow_ready = false;     // reads of "slow" complete once set
    bool listen_ready = false;   // opens of "listen" complete once set
    bool b_full = false;         // writes of "b" park (flow control) on key &b_full
    bool slow_keyed = false;     // reads of "slow" park on key &slow_ready, not unkeyed
    std::vector<WaitKey> kicked; // keys ready() hands the server
    std::string slow_data = "slow data";
    std::string b_data;          // what was written to "b"
    std::string big_data;        // "big": 64 KiB of a pattern
    int cancels = 0;             // Fsys::cancel calls
    int clunks = 0;              // Fsys::clunk calls
    Ident last_who;              // identity seen at the last attach
    std::string last_wstat;      // name in the last Twstat
    // "q", a conversation's data: reads take the oldest of q_in (park on key &q_in while it
    // is empty, end of file once q_eof), writes append to q_out (park on &q_full while set,
    // fail with q_werr if set)
    std::vector<std::string> q_in;
    bool q_eof = false;
    bool q_full = false;
    const char* q_werr = nullptr;
    const char* q_rerr = nullptr;  // reads of "q" fail with it if set
    std::string q_out;

    MockFs() {
        for (int i = 0; i < 65536; i++) big_data.push_back(char('a' + i % 26));
    }

    Err attach(Fid& f, std::string_view aname) override {
        if (aname != "" && aname != "0") return Err{"unknown stack"};
        last_who = *f.who;
        f.qid = qid(Root);
        return {};
    }
    Err walk(Fid& f, std::string_view name) override {
        uint64_t at = f.qid.path;
        if (name == "..") {
            f.qid = qid(Root);
            return {};
        }
        if (at == Root) {
            for (const Entry& e : kRoot) {
                if (name == e.name) {
                    f.qid = qid(e.node);
                    return {};
                }
            }
        }
        if (at == Many) {
            for (int i = 0; i < kManyEntries; i++) {
                if (name == entry_name(i)) {
                    f.qid = qid(Node(Entry0 + i));
                    return {};
                }
            }
        }
        return Err{"file does not exist"};
    }
    Err stat(const Fid& f, Dir& d) override {
        d = dir(f.qid.path);
        return {};
    }
    bool dirent(const Fid& f, uint64_t i, Dir& d) override {
        if (f.qid.path == Root && i < std::size(kRoot)) {
            d = dir(kRoot[i].node);
            return true;
        }
        if (f.qid.path == Many && i < kManyEntries) {
            d = dir(Entry0 + i);
            return true;
        }
        return false;
    }
    Answer open(Fid& f, uint8_t mode) override {
        if (f.qid.path == FileA && (mode & 3) != OREAD) return Answer::fail(proto::Eperm);
        if (f.qid.path == Listen && !listen_ready) return Answer::park();
        return Answer::done();
    }
    Answer read(Fid& f, uint64_t off, uint32_t count, std::string& out) override {
        const std::string* s = nullptr;
        switch (f.qid.path) {
        case FileA: s = &a_data; break;
        case FileB: s = &b_data; break;
        case Big: s = &big_data; break;
        case Queue:
            if (q_rerr) return Answer::fail(Err{q_rerr});
            if (q_in.empty()) return q_eof ? Answer::done() : Answer::park(&q_in);
            out = q_in.front();
            q_in.erase(q_in.begin());
            return Answer::done();
        case Slow:
            if (!slow_ready) return Answer::park(slow_keyed ? &slow_ready : nullptr);
            s = &slow_data;
            break;
        default: return Answer::fail(Err{"no data"});
        }
        if (off < s->size()) out = s->substr(off, count);
        return Answer::done();
    }
    Answer write(Fid& f, uint64_t, std::span<const uint8_t> data, uint32_t& n) override {
        if (f.qid.path == Queue) {
            if (q_werr) return Answer::fail(Err{q_werr});
            if (q_full) return Answer::park(&q_full);
            q_out.append(data.begin(), data.end());
            n = uint32_t(data.size());
            return Answer::done();
        }
        if (f.qid.path != FileB) return Answer::fail(proto::Eperm);
        if (b_full) return Answer::park(&b_full);
        b_data.append(data.begin(), data.end());
        n = uint32_t(data.size());
        return Answer::done();
    }
    void ready(std::vector<WaitKey>& keys) override {
        keys.insert(keys.end(), kicked.begin(), kicked.end());
        kicked.clear();
        ready_calls++;
    }
    int ready_calls = 0;
    Err wstat(Fid&, const Dir& d) override {
        last_wstat = d.name;
        return {};
    }
    void clunk(Fid&) override { clunks++; }
    void cancel(Fid&) override { cancels++; }

    static std::string entry_name(uint64_t i) {
        char b[32];
        snprintf(b, sizeof b, "entry-%02d", int(i));
        return b;
    }

private:
    static Qid qid(uint64_t path) {
        bool dir = path == Root || path == Many;
        return {dir ? QTDIR : QTFILE, 0, path};
    }
    Dir dir(uint64_t path) const {
        Dir d;
        d.qid = qid(path);
        d.mode = d.qid.type & QTDIR ? DMDIR | 0555 : 0666;
        d.uid = d.gid = d.muid = "network";
        if (path == Root) d.name = "/";
        if (path == Many) d.name = "many";
        if (path >= Entry0) d.name = entry_name(path - Entry0);
        for (const Entry& e : kRoot) {
            if (e.node == path) d.name = e.name;
        }
        return d;
    }

    std::string a_data = "hello";  // "a": read-only
};

// --- a raw 9P client over the socket, pumping the server while it waits ---

class Client {
public:
    Client(Server& srv, const std::string& path) : srv_(srv) {
        fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path.c_str());
        connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
        fcntl(fd_, F_SETFL, O_NONBLOCK);
        srv_.poll(0);  // accept
    }
    ~Client() { close_now(); }
    bool connected() const { return connected_; }

    void close_now() {
        if (fd_ >= 0) close(fd_);
        fd_ = -1;
    }

    void send_raw(const Bytes& b) {
        size_t off = 0;
        auto until = deadline();
        while (off < b.size() && std::chrono::steady_clock::now() < until) {
            ssize_t n = ::send(fd_, b.data() + off, b.size() - off, MSG_NOSIGNAL);
            if (n > 0) off += size_t(n);
            else if (n < 0 && errno != EAGAIN) return;
            else srv_.poll(1);
        }
    }
    void send(const Fcall& t) {
        Bytes b;
        encode(t, b);
        send_raw(b);
    }
    // t with fd as SCM_RIGHTS (Tsplice).
    void send_fd(const Fcall& t, int fd) {
        Bytes b;
        encode(t, b);
        iovec iov{b.data(), b.size()};
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
        ASSERT_EQ(sendmsg(fd_, &mh, MSG_NOSIGNAL), ssize_t(b.size()));
    }

    // The next reply, waiting up to wait_ms. Views in r point into this Client.
    bool recv(Fcall& r, int wait_ms = 2000) {
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
        for (;;) {
            if (have_message()) {
                uint32_t n = peek_size(in_);
                msg_.assign(in_.begin(), in_.begin() + n);
                in_.erase(in_.begin(), in_.begin() + n);
                return decode(msg_, r);
            }
            if (!fill() || std::chrono::steady_clock::now() >= until) return false;
            srv_.poll(5);
        }
    }
    Fcall rpc(const Fcall& t) {
        send(t);
        Fcall r;
        EXPECT_TRUE(recv(r)) << "no reply to " << ftype_name(t.type);
        EXPECT_EQ(r.tag, t.tag);
        return r;
    }
    // Whether the server closed the connection within wait_ms (buffered replies skipped).
    bool hung_up(int wait_ms = 2000) {
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
        while (std::chrono::steady_clock::now() < until) {
            in_.clear();
            if (!fill()) return true;
            srv_.poll(5);
        }
        return false;
    }
    // Nothing arrives for ms milliseconds of pumping.
    bool silent(int ms = 100) {
        Fcall r;
        return !recv(r, ms) && in_.empty();
    }

private:
    static std::chrono::steady_clock::time_point deadline() {
        return std::chrono::steady_clock::now() + std::chrono::seconds(5);
    }
    bool have_message() const {
        uint32_t n = peek_size(in_);
        return n != 0 && in_.size() >= n;
    }
    // Reads what is available; false on EOF or error.
    bool fill() {
        uint8_t buf[65536];
        for (;;) {
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n > 0) {
                in_.insert(in_.end(), buf, buf + n);
                continue;
            }
            return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
        }
    }

    Server& srv_;
    int fd_ = -1;
    bool connected_ = false;
    Bytes in_;   // received, not yet returned
    Bytes msg_;  // the last message returned (Fcall views point here)
};

// --- message builders ---

Fcall tversion(uint32_t msize, const char* v = "9P2000") {
    Fcall t;
    t.type = Ftype::Tversion;
    t.tag = kNoTag;
    t.msize = msize;
    t.version = v;
    return t;
}
Fcall tattach(uint32_t fid, const char* aname = "", uint32_t afid = kNoFid) {
    Fcall t;
    t.type = Ftype::Tattach;
    t.tag = 1;
    t.fid = fid;
    t.afid = afid;
    t.uname = "somebody-else";
    t.aname = aname;
    return t;
}
Fcall twalk(uint32_t fid, uint32_t newfid, std::vector<std::string> names, uint16_t tag = 2) {
    Fcall t;
    t.type = Ftype::Twalk;
    t.tag = tag;
    t.fid = fid;
    t.newfid = newfid;
    t.wname = std::move(names);
    return t;
}
Fcall topen(uint32_t fid, uint8_t mode, uint16_t tag = 3) {
    Fcall t;
    t.type = Ftype::Topen;
    t.tag = tag;
    t.fid = fid;
    t.mode = mode;
    return t;
}
Fcall tread(uint32_t fid, uint64_t off, uint32_t count, uint16_t tag = 4) {
    Fcall t;
    t.type = Ftype::Tread;
    t.tag = tag;
    t.fid = fid;
    t.offset = off;
    t.count = count;
    return t;
}
// data must outlive the Fcall (string literals do).
Fcall twrite(uint32_t fid, uint64_t off, std::string_view data, uint16_t tag = 5) {
    Fcall t;
    t.type = Ftype::Twrite;
    t.tag = tag;
    t.fid = fid;
    t.offset = off;
    t.data = {reinterpret_cast<const uint8_t*>(data.data()), data.size()};
    return t;
}

Fcall tfid(Ftype type, uint32_t fid, uint16_t tag = 6) {
    Fcall t;
    t.type = type;
    t.tag = tag;
    t.fid = fid;
    return t;
}
Fcall tflush(uint16_t oldtag, uint16_t tag) {
    Fcall t;
    t.type = Ftype::Tflush;
    t.tag = tag;
    t.oldtag = oldtag;
    return t;
}

std::string text(const Fcall& r) { return std::string(r.data.begin(), r.data.end()); }

// --- the fixture: a server on a socket in a fresh temporary directory ---

class Srv : public testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/devip-srv-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        path_ = dir_ + "/run/devip/net.sock";
        Err e = srv_.listen(path_);
        ASSERT_FALSE(e) << e.text;
    }
    void TearDown() override {
        srv_.shutdown();
        std::string cmd = "rm -rf " + dir_;
        ASSERT_EQ(system(cmd.c_str()), 0);
    }

    // A client past Tversion and Tattach (fid 0 is the root).
    std::unique_ptr<Client> session(uint32_t msize = 8192 + kIoHdrSize) {
        auto c = std::make_unique<Client>(srv_, path_);
        EXPECT_TRUE(c->connected());
        Fcall r = c->rpc(tversion(msize));
        EXPECT_EQ(r.type, Ftype::Rversion);
        r = c->rpc(tattach(0));
        EXPECT_EQ(r.type, Ftype::Rattach);
        return c;
    }
    // Walks fid 0 to name as newfid and opens it.
    void open_file(Client& c, uint32_t newfid, const char* name, uint8_t mode) {
        EXPECT_EQ(c.rpc(twalk(0, newfid, {name})).type, Ftype::Rwalk);
        EXPECT_EQ(c.rpc(topen(newfid, mode)).type, Ftype::Ropen);
    }
    void expect_error(Client& c, const Fcall& t, const char* ename) {
        Fcall r = c.rpc(t);
        EXPECT_EQ(r.type, Ftype::Rerror) << ftype_name(t.type);
        EXPECT_EQ(r.ename, ename) << ftype_name(t.type);
    }

    MockFs fs_;
    Server srv_{fs_};
    std::string dir_;   // temporary directory, removed at the end
    std::string path_;  // the socket, two directories down (listen makes them)
};

// --- version(5) ---

TEST_F(Srv, VersionNegotiatesMsize) {
    Client c(srv_, path_);
    Fcall r = c.rpc(tversion(8192 + kIoHdrSize));
    EXPECT_EQ(r.type, Ftype::Rversion);
    EXPECT_EQ(r.msize, 8192 + kIoHdrSize);
    EXPECT_EQ(r.version, "9P2000");
    r = c.rpc(tversion(1 << 20));
    EXPECT_EQ(r.msize, kMaxMsize);
}

TEST_F(Srv, VersionWithDotExtensionAnswers9P2000) {
    Client c(srv_, path_);
    EXPECT_EQ(c.rpc(tversion(9000, "9P2000.L")).version, "9P2000");
}

TEST_F(Srv, VersionUnknownRefusesSession) {
    Client c(srv_, path_);
    Fcall r = c.rpc(tversion(9000, "9P1999"));
    EXPECT_EQ(r.type, Ftype::Rversion);
    EXPECT_EQ(r.version, "unknown");
    expect_error(c, tattach(0), "version not negotiated");
    EXPECT_EQ(c.rpc(tversion(9000, "9P20001")).version, "unknown");
}

TEST_F(Srv, VersionMsizeTooSmall) {
    Client c(srv_, path_);
    expect_error(c, tversion(100), "msize too small");
}

TEST_F(Srv, RequestBeforeVersionRefused) {
    Client c(srv_, path_);
    expect_error(c, tattach(0), "version not negotiated");
}

TEST_F(Srv, VersionResetsSession) {
    auto c = session();
    EXPECT_EQ(c->rpc(twalk(0, 1, {"a"})).type, Ftype::Rwalk);
    EXPECT_EQ(c->rpc(tversion(8216)).type, Ftype::Rversion);
    EXPECT_EQ(fs_.clunks, 2);
    expect_error(*c, tfid(Ftype::Tstat, 1), "unknown fid");
    EXPECT_EQ(c->rpc(tattach(0)).type, Ftype::Rattach);  // fid 0 is free again
}

// --- attach(5), auth(5) ---

TEST_F(Srv, AttachIdentityFromPeerCredentials) {
    auto c = session();
    EXPECT_EQ(fs_.last_who.uid, getuid());
    EXPECT_EQ(fs_.last_who.eve, getuid() == 0);
    passwd* pw = getpwuid(getuid());
    EXPECT_EQ(fs_.last_who.user, pw ? std::string(pw->pw_name) : std::to_string(getuid()));
    EXPECT_NE(fs_.last_who.user, "somebody-else");  // uname is not believed
}

TEST_F(Srv, AttachErrors) {
    auto c = session();
    expect_error(*c, tattach(0), "fid in use");
    expect_error(*c, tattach(5, "", 7), "authentication not required");
    expect_error(*c, tattach(5, "99"), "unknown stack");
    Fcall t = tattach(5);
    t.type = Ftype::Tauth;
    expect_error(*c, t, "authentication not required");
}

// --- walk(5) ---

TEST_F(Srv, WalkClone) {
    auto c = session();
    Fcall r = c->rpc(twalk(0, 1, {}));
    EXPECT_EQ(r.type, Ftype::Rwalk);
    EXPECT_TRUE(r.wqid.empty());
    r = c->rpc(tfid(Ftype::Tstat, 1));
    ASSERT_EQ(r.type, Ftype::Rstat);
    Dir d;
    ASSERT_EQ(decode_dir(r.stat, d), r.stat.size());
    EXPECT_EQ(d.name, "/");
    EXPECT_EQ(c->rpc(twalk(0, 0, {})).type, Ftype::Rwalk);  // newfid == fid: no-op
}

TEST_F(Srv, WalkMoves) {
    auto c = session();
    Fcall r = c->rpc(twalk(0, 1, {"many", "entry-07"}));
    ASSERT_EQ(r.type, Ftype::Rwalk);
    ASSERT_EQ(r.wqid.size(), 2u);
    EXPECT_EQ(r.wqid[0].type, QTDIR);
    EXPECT_EQ(r.wqid[1].path, Entry0 + 7u);
    r = c->rpc(twalk(0, 0, {"a"}));  // newfid == fid moves fid itself
    ASSERT_EQ(r.wqid.size(), 1u);
    EXPECT_EQ(r.wqid[0].path, uint64_t(FileA));
    expect_error(*c, twalk(0, 2, {"x"}), "walk in non-directory");
    expect_error(*c, twalk(1, 2, {".."}), "walk in non-directory");  // fid 1 is a file
    EXPECT_EQ(c->rpc(twalk(1, 3, {})).type, Ftype::Rwalk);               // but clones
    EXPECT_EQ(c->rpc(tattach(4)).type, Ftype::Rattach);
    EXPECT_EQ(c->rpc(twalk(4, 4, {"many"})).type, Ftype::Rwalk);
    r = c->rpc(twalk(4, 2, {"..", "b"}));
    ASSERT_EQ(r.wqid.size(), 2u);
    EXPECT_EQ(r.wqid[1].path, uint64_t(FileB));
}

TEST_F(Srv, WalkPartialDoesNotMakeNewfid) {
    auto c = session();
    Fcall r = c->rpc(twalk(0, 1, {"many", "entry-03", "nope"}));
    ASSERT_EQ(r.type, Ftype::Rwalk);
    EXPECT_EQ(r.wqid.size(), 2u);
    expect_error(*c, tfid(Ftype::Tstat, 1), "unknown fid");
    r = c->rpc(twalk(0, 0, {"many", "nope"}));  // partial with newfid == fid: fid unchanged
    EXPECT_EQ(r.wqid.size(), 1u);
    r = c->rpc(tfid(Ftype::Tstat, 0));
    Dir d;
    decode_dir(r.stat, d);
    EXPECT_EQ(d.name, "/");
}

TEST_F(Srv, WalkFirstElementFails) {
    auto c = session();
    expect_error(*c, twalk(0, 1, {"nope", "a"}), "file does not exist");
    expect_error(*c, tfid(Ftype::Tstat, 1), "unknown fid");
}

TEST_F(Srv, WalkErrors) {
    auto c = session();
    expect_error(*c, twalk(9, 1, {}), "unknown fid");
    EXPECT_EQ(c->rpc(twalk(0, 1, {"a"})).type, Ftype::Rwalk);
    expect_error(*c, twalk(0, 1, {"b"}), "fid in use");
    EXPECT_EQ(c->rpc(topen(1, OREAD)).type, Ftype::Ropen);
    expect_error(*c, twalk(1, 2, {}), "cannot walk an open fid");
}

// --- open(5), read(5), write(5), clunk(5), stat(5) ---

TEST_F(Srv, OpenReadClunk) {
    auto c = session();
    EXPECT_EQ(c->rpc(twalk(0, 1, {"a"})).type, Ftype::Rwalk);
    expect_error(*c, tread(1, 0, 10), "fid not open");
    Fcall r = c->rpc(topen(1, OREAD));
    ASSERT_EQ(r.type, Ftype::Ropen);
    EXPECT_EQ(r.qid.path, uint64_t(FileA));
    EXPECT_EQ(r.iounit, 8192u);
    r = c->rpc(tread(1, 0, 100));
    ASSERT_EQ(r.type, Ftype::Rread);
    EXPECT_EQ(text(r), "hello");
    EXPECT_EQ(text(c->rpc(tread(1, 1, 2))), "el");
    EXPECT_EQ(text(c->rpc(tread(1, 5, 2))), "");
    expect_error(*c, topen(1, OREAD), "fid already open");
    EXPECT_EQ(c->rpc(tfid(Ftype::Tclunk, 1)).type, Ftype::Rclunk);
    EXPECT_EQ(fs_.clunks, 1);
    expect_error(*c, tread(1, 0, 10), "unknown fid");
    expect_error(*c, tfid(Ftype::Tclunk, 1), "unknown fid");
}

TEST_F(Srv, WriteAndModes) {
    auto c = session();
    open_file(*c, 1, "b", OWRITE);
    Fcall t;
    t.type = Ftype::Twrite;
    t.tag = 9;
    t.fid = 1;
    const uint8_t d[] = {'x', 'y', 'z'};
    t.data = d;
    Fcall r = c->rpc(t);
    ASSERT_EQ(r.type, Ftype::Rwrite);
    EXPECT_EQ(r.count, 3u);
    EXPECT_EQ(fs_.b_data, "xyz");
    expect_error(*c, tread(1, 0, 10), "permission denied");  // opened OWRITE
    open_file(*c, 2, "a", OREAD);
    t.fid = 2;
    expect_error(*c, t, "permission denied");  // opened OREAD
    EXPECT_EQ(c->rpc(twalk(0, 3, {"a"})).type, Ftype::Rwalk);
    expect_error(*c, topen(3, ORDWR), "permission denied");  // the tree says no
}

TEST_F(Srv, DirectoryOpenForWriteRefused) {
    auto c = session();
    expect_error(*c, topen(0, OWRITE), "is a directory");
    expect_error(*c, topen(0, OREAD | OTRUNC), "is a directory");
    EXPECT_EQ(c->rpc(topen(0, OREAD)).type, Ftype::Ropen);
}

TEST_F(Srv, CreateAndRemoveRefused) {
    auto c = session();
    EXPECT_EQ(c->rpc(twalk(0, 1, {"a"})).type, Ftype::Rwalk);
    Fcall t = tfid(Ftype::Tcreate, 0);
    t.name = "new";
    t.perm = 0644;
    expect_error(*c, t, "permission denied");
    expect_error(*c, tfid(Ftype::Tremove, 1), "permission denied");
    EXPECT_EQ(fs_.clunks, 1);  // remove clunks even when it fails
    expect_error(*c, tfid(Ftype::Tstat, 1), "unknown fid");
}

TEST_F(Srv, StatAndWstat) {
    auto c = session();
    EXPECT_EQ(c->rpc(twalk(0, 1, {"b"})).type, Ftype::Rwalk);
    Fcall r = c->rpc(tfid(Ftype::Tstat, 1));
    ASSERT_EQ(r.type, Ftype::Rstat);
    Dir d;
    ASSERT_EQ(decode_dir(r.stat, d), r.stat.size());
    EXPECT_EQ(d.name, "b");
    EXPECT_EQ(d.qid.path, uint64_t(FileB));
    Fcall t = tfid(Ftype::Twstat, 1);
    d.name = "renamed";
    encode_dir(d, t.stat);
    EXPECT_EQ(c->rpc(t).type, Ftype::Rwstat);
    EXPECT_EQ(fs_.last_wstat, "renamed");
    t.stat.pop_back();
    expect_error(*c, t, "bad stat");
}

TEST_F(Srv, ReadCountClampedToMsize) {
    auto c = session(512);
    open_file(*c, 1, "big", OREAD);
    Fcall r = c->rpc(tread(1, 0, 60000));
    ASSERT_EQ(r.type, Ftype::Rread);
    EXPECT_EQ(r.data.size(), 512 - kIoHdrSize);
}

TEST_F(Srv, BigReadAtMaxMsize) {
    auto c = session(kMaxMsize);
    open_file(*c, 1, "big", OREAD);
    Fcall r = c->rpc(tread(1, 0, 65536));
    ASSERT_EQ(r.type, Ftype::Rread);
    EXPECT_EQ(text(r), fs_.big_data);
}

TEST_F(Srv, ResponseMessageFromClientIsBotch) {
    auto c = session();
    Fcall t;
    t.type = Ftype::Rclunk;
    t.tag = 5;
    expect_error(*c, t, "9P protocol botch");
}

// --- directory reads ---

// Reads the whole of directory fid with reads of count bytes; checks every reply holds
// only whole entries.
std::vector<std::string> list_dir(Client& c, uint32_t fid, uint32_t count, size_t* nreads) {
    std::vector<std::string> names;
    uint64_t off = 0;
    for (*nreads = 0;; (*nreads)++) {
        Fcall r = c.rpc(tread(fid, off, count));
        EXPECT_EQ(r.type, Ftype::Rread) << r.ename;
        if (r.type != Ftype::Rread || r.data.empty()) break;
        EXPECT_LE(r.data.size(), count);
        for (size_t at = 0; at < r.data.size();) {
            Dir d;
            size_t n = decode_dir(r.data.subspan(at), d);
            EXPECT_NE(n, 0u);
            if (n == 0) return names;
            names.push_back(d.name);
            at += n;
        }
        off += r.data.size();
    }
    return names;
}

TEST_F(Srv, DirReadPacksWholeEntries) {
    auto c = session();
    open_file(*c, 1, "many", OREAD);
    size_t nreads = 0;
    std::vector<std::string> names = list_dir(*c, 1, 200, &nreads);
    ASSERT_EQ(names.size(), size_t(kManyEntries));
    for (int i = 0; i < kManyEntries; i++) EXPECT_EQ(names[i], MockFs::entry_name(i));
    EXPECT_GT(nreads, 10u);  // 200 bytes hold two 71-byte entries, not three
}

TEST_F(Srv, DirReadRoot) {
    auto c = session();
    EXPECT_EQ(c->rpc(topen(0, OREAD)).type, Ftype::Ropen);
    size_t nreads = 0;
    std::vector<std::string> names = list_dir(*c, 0, 8192, &nreads);
    EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "slow", "listen", "many", "big", "q"}));
    EXPECT_EQ(nreads, 1u);
}

TEST_F(Srv, DirReadOffsets) {
    auto c = session();
    open_file(*c, 1, "many", OREAD);
    Fcall r = c->rpc(tread(1, 0, 200));
    ASSERT_EQ(r.type, Ftype::Rread);
    size_t first = r.data.size();
    Bytes first_bytes(r.data.begin(), r.data.end());
    expect_error(*c, tread(1, first + 1, 200), "bad offset in directory read");
    expect_error(*c, tread(1, 1, 200), "bad offset in directory read");
    r = c->rpc(tread(1, first, 200));  // the previous end: continues
    ASSERT_EQ(r.type, Ftype::Rread);
    Dir d;
    ASSERT_NE(decode_dir(r.data, d), 0u);
    EXPECT_EQ(d.name, "entry-02");
    r = c->rpc(tread(1, 0, 200));  // 0: starts again
    EXPECT_EQ(Bytes(r.data.begin(), r.data.end()), first_bytes);
}

TEST_F(Srv, DirReadEntryTooBigForCount) {
    auto c = session();
    open_file(*c, 1, "many", OREAD);
    expect_error(*c, tread(1, 0, 20), "read or write too short");
}

// --- parked requests and flush(5) ---

TEST_F(Srv, ParkedReadCompletes) {
    auto c = session();
    open_file(*c, 1, "slow", OREAD);
    c->send(tread(1, 0, 100, 5));
    EXPECT_TRUE(c->silent());
    EXPECT_EQ(srv_.parked(), 1u);
    fs_.slow_ready = true;
    srv_.retry_parked();
    Fcall r;
    ASSERT_TRUE(c->recv(r));
    EXPECT_EQ(r.type, Ftype::Rread);
    EXPECT_EQ(r.tag, 5);
    EXPECT_EQ(text(r), "slow data");
    EXPECT_EQ(srv_.parked(), 0u);
}

TEST_F(Srv, ParkedOpenCompletes) {
    auto c = session();
    EXPECT_EQ(c->rpc(twalk(0, 1, {"listen"})).type, Ftype::Rwalk);
    c->send(topen(1, ORDWR, 7));
    EXPECT_TRUE(c->silent());
    EXPECT_EQ(srv_.parked(), 1u);
    expect_error(*c, topen(1, ORDWR, 8), "fid busy");
    fs_.listen_ready = true;
    Fcall r;
    ASSERT_TRUE(c->recv(r));  // recv pumps poll(), which retries parked requests
    EXPECT_EQ(r.type, Ftype::Ropen);
    EXPECT_EQ(r.tag, 7);
    EXPECT_EQ(c->rpc(tread(1, 0, 10)).type, Ftype::Rerror);  // open now: the mock says no data
}

TEST_F(Srv, KeyedParkedReadRunsOnlyWhenItsKeyIsReady) {
    auto c = session();
    fs_.slow_keyed = true;
    open_file(*c, 1, "slow", OREAD);
    c->send(tread(1, 0, 100, 5));
    EXPECT_TRUE(c->silent());
    fs_.slow_ready = true;  // ready, but nobody announced it: not re-run
    srv_.retry_parked();
    EXPECT_TRUE(c->silent());
    EXPECT_EQ(srv_.parked(), 1u);
    fs_.kicked.push_back(&fs_.b_full);  // another key: still not
    srv_.retry_parked();
    EXPECT_TRUE(c->silent());
    fs_.kicked.push_back(&fs_.slow_ready);
    srv_.retry_parked();
    Fcall r;
    ASSERT_TRUE(c->recv(r));
    EXPECT_EQ(text(r), "slow data");
    EXPECT_EQ(srv_.parked(), 0u);
}

TEST_F(Srv, ParkedWriteCompletesWithItsData) {
    auto c = session();
    open_file(*c, 1, "b", OWRITE);
    fs_.b_full = true;
    c->send(twrite(1, 0, "queued", 9));
    EXPECT_TRUE(c->silent());
    EXPECT_EQ(srv_.parked(), 1u);
    expect_error(*c, tread(2, 0, 10), "unknown fid");  // other requests go on meanwhile
    fs_.b_full = false;
    fs_.kicked.push_back(&fs_.b_full);
    srv_.retry_parked();
    Fcall r;
    ASSERT_TRUE(c->recv(r));
    EXPECT_EQ(r.type, Ftype::Rwrite);
    EXPECT_EQ(r.tag, 9);
    EXPECT_EQ(r.count, 6u);
    EXPECT_EQ(fs_.b_data.substr(fs_.b_data.size() - 6), "queued");
    EXPECT_EQ(srv_.parked(), 0u);
}

TEST_F(Srv, FlushParkedWrite) {
    auto c = session();
    open_file(*c, 1, "b", OWRITE);
    fs_.b_full = true;
    size_t before = fs_.b_data.size();
    c->send(twrite(1, 0, "never", 9));
    EXPECT_TRUE(c->silent());
    EXPECT_EQ(c->rpc(tflush(9, 10)).type, Ftype::Rflush);
    EXPECT_EQ(srv_.parked(), 0u);
    fs_.b_full = false;
    fs_.kicked.push_back(&fs_.b_full);
    srv_.retry_parked();
    EXPECT_TRUE(c->silent());
    EXPECT_EQ(fs_.b_data.size(), before);  // a flushed write writes nothing
}

TEST_F(Srv, FlushParkedRead) {
    auto c = session();
    open_file(*c, 1, "slow", OREAD);
    c->send(tread(1, 0, 100, 5));
    EXPECT_TRUE(c->silent());
    Fcall r = c->rpc(tflush(5, 6));
    EXPECT_EQ(r.type, Ftype::Rflush);
    EXPECT_EQ(fs_.cancels, 1);
    EXPECT_EQ(srv_.parked(), 0u);
    fs_.slow_ready = true;
    srv_.retry_parked();
    EXPECT_TRUE(c->silent());  // the flushed read is never answered
    EXPECT_EQ(text(c->rpc(tread(1, 0, 100, 5))), "slow data");  // and its tag is free
}

TEST_F(Srv, FlushOfNothingStillAnswers) {
    auto c = session();
    EXPECT_EQ(c->rpc(tflush(42, 6)).type, Ftype::Rflush);
    EXPECT_EQ(fs_.cancels, 0);
}

TEST_F(Srv, DuplicateTagRefused) {
    auto c = session();
    open_file(*c, 1, "slow", OREAD);
    c->send(tread(1, 0, 100, 5));
    EXPECT_TRUE(c->silent());
    expect_error(*c, tfid(Ftype::Tstat, 1, 5), "duplicate tag");
    EXPECT_EQ(srv_.parked(), 1u);
}

TEST_F(Srv, ClunkInterruptsParkedRead) {
    auto c = session();
    open_file(*c, 1, "slow", OREAD);
    c->send(tread(1, 0, 100, 5));
    c->send(tfid(Ftype::Tclunk, 1, 6));
    Fcall r;
    ASSERT_TRUE(c->recv(r));
    EXPECT_EQ(r.tag, 5);
    EXPECT_EQ(r.type, Ftype::Rerror);
    EXPECT_EQ(r.ename, "interrupted");
    ASSERT_TRUE(c->recv(r));
    EXPECT_EQ(r.tag, 6);
    EXPECT_EQ(r.type, Ftype::Rclunk);
    EXPECT_EQ(fs_.cancels, 1);
    EXPECT_EQ(srv_.parked(), 0u);
}

TEST_F(Srv, ClientVanishesWhileParked) {
    auto a = session();
    open_file(*a, 1, "slow", OREAD);
    a->send(tread(1, 0, 100, 5));
    a->send(tread(1, 0, 100, 6));
    EXPECT_TRUE(a->silent());
    EXPECT_EQ(srv_.parked(), 2u);
    auto b = session();
    EXPECT_EQ(srv_.clients(), 2u);
    a->close_now();
    for (int i = 0; i < 20 && srv_.clients() > 1; i++) srv_.poll(10);
    EXPECT_EQ(srv_.clients(), 1u);
    EXPECT_EQ(srv_.parked(), 0u);
    EXPECT_EQ(fs_.cancels, 2);
    EXPECT_EQ(fs_.clunks, 2);  // a's fids 0 and 1
    open_file(*b, 1, "a", OREAD);
    EXPECT_EQ(text(b->rpc(tread(1, 0, 100))), "hello");
}

// --- many clients, slow clients ---

TEST_F(Srv, ManyClientsInterleaved) {
    std::vector<std::unique_ptr<Client>> cs;
    for (int i = 0; i < 16; i++) cs.push_back(session());
    for (auto& c : cs) EXPECT_EQ(c->rpc(twalk(0, 1, {"a"})).type, Ftype::Rwalk);
    for (auto& c : cs) c->send(topen(1, OREAD));
    for (auto& c : cs) {
        Fcall r;
        ASSERT_TRUE(c->recv(r));
        EXPECT_EQ(r.type, Ftype::Ropen);
    }
    for (auto& c : cs) EXPECT_EQ(text(c->rpc(tread(1, 0, 100))), "hello");
    EXPECT_EQ(srv_.clients(), 16u);
}

TEST_F(Srv, PipelinedRequestsBeyondThrottleAllAnswered) {
    auto c = session(kMaxMsize);
    open_file(*c, 1, "big", OREAD);
    constexpr int kReqs = 64;  // 4 MiB of answers: past kOutThrottle
    Bytes all;
    for (int i = 0; i < kReqs; i++) encode(tread(1, 0, 65536, uint16_t(100 + i)), all);
    c->send_raw(all);
    for (int i = 0; i < kReqs; i++) {
        Fcall r;
        ASSERT_TRUE(c->recv(r)) << i;
        EXPECT_EQ(r.tag, 100 + i);
        EXPECT_EQ(r.data.size(), 65536u);
    }
    EXPECT_EQ(srv_.clients(), 1u);
}

TEST_F(Srv, ClientNotReadingIsDropped) {
    auto c = session(kMaxMsize);
    open_file(*c, 1, "slow", OREAD);
    fs_.slow_data = fs_.big_data;
    Bytes all;
    for (int i = 0; i < 200; i++) encode(tread(1, 0, 65536, uint16_t(100 + i)), all);
    c->send_raw(all);
    for (int i = 0; i < 10; i++) srv_.poll(1);
    EXPECT_EQ(srv_.parked(), 200u);
    fs_.slow_ready = true;  // 12.5 MiB of answers at once to a client that does not read
    srv_.retry_parked();
    EXPECT_EQ(srv_.clients(), 0u);
    EXPECT_EQ(srv_.parked(), 0u);
    auto b = session();
    EXPECT_EQ(srv_.clients(), 1u);
}

// --- malformed input ---

TEST_F(Srv, GarbageClosesOnlyThatConnection) {
    auto good = session();
    Client bad(srv_, path_);
    const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    bad.send_raw(Bytes(junk, junk + sizeof junk - 1));
    EXPECT_TRUE(bad.hung_up());
    EXPECT_EQ(srv_.clients(), 1u);
    EXPECT_EQ(good->rpc(twalk(0, 1, {"a"})).type, Ftype::Rwalk);
}

TEST_F(Srv, SizeBelowHeaderCloses) {
    auto good = session();
    Client bad(srv_, path_);
    bad.send_raw(Bytes{6, 0, 0, 0, 100, 0});
    EXPECT_TRUE(bad.hung_up());
    EXPECT_EQ(good->rpc(twalk(0, 1, {"a"})).type, Ftype::Rwalk);
}

TEST_F(Srv, OversizedMessageCloses) {
    auto good = session();
    auto bad = session(1024);
    Fcall t;
    t.type = Ftype::Twrite;
    t.tag = 3;
    Bytes payload(1024, 'x');  // 1024 + 23 > msize 1024
    t.data = payload;
    bad->send(t);
    EXPECT_TRUE(bad->hung_up());
    EXPECT_EQ(srv_.clients(), 1u);
    EXPECT_EQ(fs_.clunks, 1);  // bad's root fid
    EXPECT_EQ(good->rpc(twalk(0, 1, {"a"})).type, Ftype::Rwalk);
}

TEST_F(Srv, UndecodableMessageCloses) {
    auto good = session();
    auto bad = session();
    Fcall t = twalk(0, 1, {});
    t.wname.assign(kMaxWelem + 1, "a");  // well framed, but 17 names
    bad->send(t);
    EXPECT_TRUE(bad->hung_up());
    Client bad2(srv_, path_);
    bad2.send_raw(Bytes{7, 0, 0, 0, 106, 0, 0});  // Terror
    EXPECT_TRUE(bad2.hung_up());
    EXPECT_EQ(good->rpc(twalk(0, 1, {"a"})).type, Ftype::Rwalk);
}

TEST_F(Srv, TruncatedMessageThenHangupIsHarmless) {
    auto good = session();
    {
        Client bad(srv_, path_);
        Bytes b;
        encode(tversion(8216), b);
        b.resize(b.size() - 3);
        bad.send_raw(b);
        EXPECT_TRUE(bad.silent());  // waits for the rest
        EXPECT_EQ(srv_.clients(), 2u);
    }
    for (int i = 0; i < 20 && srv_.clients() > 1; i++) srv_.poll(10);
    EXPECT_EQ(srv_.clients(), 1u);
    EXPECT_EQ(good->rpc(twalk(0, 1, {"a"})).type, Ftype::Rwalk);
}

TEST_F(Srv, MessagesSplitAcrossWrites) {
    Client c(srv_, path_);
    Bytes b;
    encode(tversion(8216), b);
    for (uint8_t byte : b) {
        c.send_raw(Bytes{byte});
        srv_.poll(0);
    }
    Fcall r;
    ASSERT_TRUE(c.recv(r));
    EXPECT_EQ(r.type, Ftype::Rversion);
}

TEST_F(Srv, OutOfDescriptorsDoesNotSpin) {
    int cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(cfd, 0);
    rlimit old{};
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
    rlimit low = old;
    low.rlim_cur = 256;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    std::vector<int> hog;
    for (int fd; (fd = dup(0)) >= 0;) hog.push_back(fd);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path_.c_str());
    ASSERT_EQ(connect(cfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    srv_.poll(0);  // accept fails: no descriptor
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 3; i++) srv_.poll(20);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(50));  // waited
    EXPECT_EQ(srv_.clients(), 0u);
    for (int fd : hog) close(fd);
    setrlimit(RLIMIT_NOFILE, &old);
    srv_.poll(0);
    EXPECT_EQ(srv_.clients(), 1u);  // accepted once a descriptor was free
    close(cfd);
    auto c = session();  // the listener is back in epoll; the closed one is gone
    EXPECT_EQ(srv_.clients(), 1u);
}

// --- the socket itself ---

TEST_F(Srv, SocketIsWorldWritable) {
    struct stat st{};
    ASSERT_EQ(stat(path_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0666u);
}

TEST_F(Srv, SecondServerRefusedWhileFirstLives) {
    MockFs fs2;
    Server s2(fs2);
    EXPECT_TRUE(s2.listen(path_));
    auto c = session();  // the first still serves
    EXPECT_EQ(srv_.clients(), 1u);
}

TEST_F(Srv, StaleSocketReplaced) {
    std::string p = dir_ + "/stale.sock";
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", p.c_str());
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    close(fd);  // bound, never listened, now nobody's: stale
    MockFs fs2;
    Server s2(fs2);
    Err e = s2.listen(p);
    EXPECT_FALSE(e) << e.text;
    Client c(s2, p);
    EXPECT_EQ(c.rpc(tversion(8216)).type, Ftype::Rversion);
}

TEST_F(Srv, RegularFileNotReplaced) {
    std::string p = dir_ + "/file";
    FILE* f = fopen(p.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fclose(f);
    MockFs fs2;
    Server s2(fs2);
    EXPECT_TRUE(s2.listen(p));
    struct stat st{};
    ASSERT_EQ(stat(p.c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST_F(Srv, ShutdownClunksAndUnlinks) {
    auto c = session();
    EXPECT_EQ(c->rpc(twalk(0, 1, {"a"})).type, Ftype::Rwalk);
    open_file(*c, 2, "slow", OREAD);
    c->send(tread(2, 0, 10, 9));
    EXPECT_TRUE(c->silent());
    srv_.shutdown();
    EXPECT_EQ(srv_.clients(), 0u);
    EXPECT_EQ(fs_.cancels, 1);
    EXPECT_EQ(fs_.clunks, 3);
    struct stat st{};
    EXPECT_NE(stat(path_.c_str(), &st), 0);
    EXPECT_TRUE(c->hung_up());
}

}  // namespace
}  // namespace devip::ctl

// --- watch(): other descriptors in the server's loop (the metrics endpoint) ---

namespace devip::ctl {
namespace {

TEST_F(Srv, WatchedFdRunsItsHandlerFromPoll) {
    int p[2];
    ASSERT_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    int calls = 0;
    uint32_t seen = 0;
    ASSERT_TRUE(srv_.watch(p[0], EPOLLIN, [&](uint32_t ev) {
        calls++;
        seen = ev;
        char b[8];
        while (read(p[0], b, sizeof b) > 0) {
        }
    }));
    EXPECT_FALSE(srv_.watch(p[0], EPOLLIN, [](uint32_t) {}));  // one handler per fd
    srv_.poll(0);
    EXPECT_EQ(calls, 0);
    ASSERT_EQ(write(p[1], "x", 1), 1);
    srv_.poll(100);
    EXPECT_EQ(calls, 1);
    EXPECT_TRUE(seen & EPOLLIN);
    srv_.unwatch(p[0]);
    ASSERT_EQ(write(p[1], "x", 1), 1);
    srv_.poll(0);
    EXPECT_EQ(calls, 1);
    close(p[0]);
    close(p[1]);
}

TEST_F(Srv, HandlerMayUnwatchAnotherFdReadyInTheSameRound) {
    int a[2], b[2];
    ASSERT_EQ(pipe2(a, O_NONBLOCK | O_CLOEXEC), 0);
    ASSERT_EQ(pipe2(b, O_NONBLOCK | O_CLOEXEC), 0);
    int calls = 0;
    auto h = [&](int self, int other) {
        return [&, self, other](uint32_t) {
            calls++;
            srv_.unwatch(self);
            srv_.unwatch(other);  // its event, if already fetched, must not run
        };
    };
    ASSERT_TRUE(srv_.watch(a[0], EPOLLIN, h(a[0], b[0])));
    ASSERT_TRUE(srv_.watch(b[0], EPOLLIN, h(b[0], a[0])));
    ASSERT_EQ(write(a[1], "x", 1), 1);
    ASSERT_EQ(write(b[1], "x", 1), 1);
    srv_.poll(100);
    EXPECT_EQ(calls, 1);
    for (int fd : {a[0], a[1], b[0], b[1]}) close(fd);
}

// --- Tsplice (9P2000.devip) ---

Fcall tsplice(uint32_t fid, uint32_t efid, const char* emsg, uint16_t tag = 7) {
    Fcall t;
    t.type = Ftype::Tsplice;
    t.tag = tag;
    t.fid = fid;
    t.efid = efid;
    t.emsg = emsg;
    return t;
}

class Splice : public Srv {
protected:
    void SetUp() override {
        Srv::SetUp();
        c_ = std::make_unique<Client>(srv_, path_);
        Fcall r = c_->rpc(tversion(8192 + kIoHdrSize, kVersionDevip));
        EXPECT_EQ(r.version, kVersionDevip);
        EXPECT_EQ(c_->rpc(tattach(0)).type, Ftype::Rattach);
        open_file(*c_, 1, "q", ORDWR);
        open_file(*c_, 2, "b", OWRITE);
    }
    void TearDown() override {
        for (int fd : sv_)
            if (fd >= 0) close(fd);
        c_.reset();
        Srv::TearDown();
    }
    // Splices fid 1 (efid 2, "shutdown") to a new socketpair of type; the test keeps sv_[0].
    void splice(int type = SOCK_SEQPACKET) {
        ASSERT_EQ(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv_), 0);
        c_->send_fd(tsplice(1, 2, "shutdown"), sv_[1]);
        close(sv_[1]);
        sv_[1] = -1;
        Fcall r;
        ASSERT_TRUE(c_->recv(r));
        ASSERT_EQ(r.type, Ftype::Rsplice) << r.ename;
        fcntl(sv_[0], F_SETFL, O_NONBLOCK);
    }
    // What the program's end receives within a few rounds ("" at end of file, "-" if none).
    std::string take() {
        char b[256];
        for (int i = 0; i < 100; i++) {
            ssize_t n = ::recv(sv_[0], b, sizeof b, 0);
            if (n >= 0) return std::string(b, size_t(n));
            srv_.poll(5);
        }
        return "-";
    }
    void pump(int rounds = 5) {
        for (int i = 0; i < rounds; i++) srv_.poll(2);
    }
    void kick(WaitKey k) {
        fs_.kicked.push_back(k);
        srv_.retry_parked();
    }

    std::unique_ptr<Client> c_;
    int sv_[2] = {-1, -1};
};

TEST_F(Srv, SpliceNeedsTheDevipVersion) {
    auto c = session();
    EXPECT_EQ(c->rpc(tversion(8192 + kIoHdrSize)).version, "9P2000");  // as before
    EXPECT_EQ(c->rpc(tattach(0)).type, Ftype::Rattach);
    open_file(*c, 1, "q", ORDWR);
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    c->send_fd(tsplice(1, kNoFid, ""), sv[1]);
    Fcall r;
    ASSERT_TRUE(c->recv(r));
    EXPECT_EQ(r.ename, "9P protocol botch");
    EXPECT_EQ(srv_.splices(), 0u);
    close(sv[0]);
    close(sv[1]);
}

TEST_F(Splice, CopiesRecordsBothWaysAndReportsTheEnds) {
    splice();
    EXPECT_EQ(srv_.splices(), 1u);
    c_->send(tread(1, 0, 64, 20));  // the read direction's end
    c_->send(tread(1, 1, 64, 21));  // the end
    fs_.q_in = {"one", "two"};
    kick(&fs_.q_in);
    EXPECT_EQ(take(), "one");  // one read, one record
    EXPECT_EQ(take(), "two");
    ASSERT_EQ(::send(sv_[0], "up", 2, 0), 2);
    ASSERT_EQ(::send(sv_[0], "stream", 6, 0), 6);
    pump();
    EXPECT_EQ(fs_.q_out, "upstream");
    EXPECT_EQ(fs_.b_data, "");
    ::shutdown(sv_[0], SHUT_WR);  // end of the program's output: emsg to efid
    pump();
    EXPECT_EQ(fs_.b_data, "shutdown");
    EXPECT_TRUE(c_->silent());
    int clunks = fs_.clunks;
    fs_.q_eof = true;  // hung up: the program reads end of file, the first Tread answers ""
    kick(&fs_.q_in);
    EXPECT_EQ(take(), "");
    Fcall r;
    ASSERT_TRUE(c_->recv(r));
    EXPECT_EQ(r.tag, 20);
    EXPECT_EQ(text(r), "");
    // both directions are over: the end, fid and efid clunked by the server
    ASSERT_TRUE(c_->recv(r));
    EXPECT_EQ(r.tag, 21);
    EXPECT_EQ(r.type, Ftype::Rread);
    EXPECT_EQ(text(r), "");
    EXPECT_EQ(fs_.clunks, clunks + 2);
    expect_error(*c_, tfid(Ftype::Tclunk, 1), "unknown fid");
    srv_.poll(0);
    EXPECT_EQ(srv_.splices(), 0u);
    EXPECT_EQ(srv_.parked(), 0u);
}

TEST_F(Splice, ParkedWriteHoldsTheProgramBack) {
    splice(SOCK_STREAM);
    fs_.q_full = true;
    ASSERT_EQ(::send(sv_[0], "abc", 3, 0), 3);
    pump();
    EXPECT_EQ(fs_.q_out, "");
    ASSERT_EQ(::send(sv_[0], "def", 3, 0), 3);  // waits in the socket meanwhile
    fs_.q_full = false;
    kick(&fs_.q_full);
    pump();
    EXPECT_EQ(fs_.q_out, "abcdef");
}

TEST_F(Splice, ReadErrorEndsReadsWithItsText) {
    splice();
    c_->send(tread(1, 0, 64, 20));
    fs_.q_in = {"x"};
    kick(&fs_.q_in);
    EXPECT_EQ(take(), "x");
    fs_.q_rerr = "port unreachable";
    kick(&fs_.q_in);
    EXPECT_EQ(take(), "");  // end of file for the program
    Fcall r;
    ASSERT_TRUE(c_->recv(r));
    EXPECT_EQ(r.tag, 20);
    EXPECT_EQ(text(r), "port unreachable");
    ASSERT_EQ(::send(sv_[0], "y", 1, 0), 1);  // writes go on
    pump();
    EXPECT_EQ(fs_.q_out, "y");
}

TEST_F(Splice, ClunkedEfidGetsNoMessage) {
    splice();
    fs_.q_in = {"x"};
    kick(&fs_.q_in);
    EXPECT_EQ(take(), "x");
    EXPECT_EQ(c_->rpc(tfid(Ftype::Tclunk, 2)).type, Ftype::Rclunk);
    ASSERT_EQ(::send(sv_[0], "y", 1, 0), 1);
    pump();
    EXPECT_EQ(fs_.q_out, "y");
    ::shutdown(sv_[0], SHUT_WR);  // no efid any more: nothing written at the end
    pump();
    EXPECT_EQ(fs_.b_data, "");
    EXPECT_TRUE(c_->silent());
}

TEST_F(Splice, WriteErrorShutsTheProgramOutAndEndsWithTheText) {
    splice();
    c_->send(tread(1, 1, 64, 21));
    fs_.q_werr = "connection refused";
    ASSERT_EQ(::send(sv_[0], "z", 1, 0), 1);
    pump();
    EXPECT_EQ(take(), "");  // both ways shut: end of file
    EXPECT_LT(::send(sv_[0], "w", 1, MSG_NOSIGNAL), 0);
    Fcall r;
    ASSERT_TRUE(c_->recv(r));
    EXPECT_EQ(r.tag, 21);
    EXPECT_EQ(text(r), "connection refused");
}

TEST_F(Splice, FlushOfTheEndReadAbortsIt) {
    splice();
    c_->send(tread(1, 1, 64, 21));
    pump();
    EXPECT_EQ(srv_.parked(), 1u);  // the splice's own read of q
    Fcall r = c_->rpc(tflush(21, 22));
    EXPECT_EQ(r.type, Ftype::Rflush);
    EXPECT_EQ(take(), "");
    EXPECT_EQ(srv_.parked(), 0u);
    EXPECT_TRUE(c_->silent());  // the flushed Tread gets no answer
    srv_.poll(0);
    EXPECT_EQ(srv_.splices(), 0u);
}

TEST_F(Splice, ClunkOfTheFidEndsItAndInterruptsItsReads) {
    splice();
    c_->send(tread(1, 1, 64, 21));
    pump();
    c_->send(tfid(Ftype::Tclunk, 1, 9));
    Fcall r;
    ASSERT_TRUE(c_->recv(r));
    EXPECT_EQ(r.tag, 21);
    EXPECT_EQ(r.ename, "interrupted");
    ASSERT_TRUE(c_->recv(r));
    EXPECT_EQ(r.type, Ftype::Rclunk);
    EXPECT_EQ(take(), "");  // the server's end is closed
    EXPECT_EQ(srv_.splices(), 0u);
    EXPECT_EQ(srv_.parked(), 0u);
}

TEST_F(Splice, Refusals) {
    expect_error(*c_, tsplice(1, kNoFid, ""), "no descriptor with Tsplice");
    int p[2];
    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
    c_->send_fd(tsplice(1, kNoFid, ""), p[0]);
    Fcall r;
    ASSERT_TRUE(c_->recv(r));
    EXPECT_EQ(r.ename, "descriptor is not a UNIX stream or seqpacket socket");
    close(p[0]);
    close(p[1]);
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    c_->send_fd(tsplice(2, kNoFid, ""), sv[1]);  // b is open OWRITE only
    ASSERT_TRUE(c_->recv(r));
    EXPECT_EQ(r.ename, "permission denied");
    c_->send_fd(tsplice(1, 1, ""), sv[1]);  // efid must be another fid
    ASSERT_TRUE(c_->recv(r));
    EXPECT_EQ(r.ename, "permission denied");
    c_->send_fd(tsplice(9, kNoFid, ""), sv[1]);
    ASSERT_TRUE(c_->recv(r));
    EXPECT_EQ(r.ename, "unknown fid");
    close(sv[0]);
    close(sv[1]);
    EXPECT_EQ(srv_.splices(), 0u);
    splice();
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    c_->send_fd(tsplice(1, kNoFid, ""), sv[1]);
    ASSERT_TRUE(c_->recv(r));
    EXPECT_EQ(r.ename, "fid already spliced");
    expect_error(*c_, twrite(1, 0, "x"), "fid busy");
    close(sv[0]);
    close(sv[1]);
}

TEST_F(Splice, SessionEndClosesTheSocket) {
    splice();
    pump();
    c_->close_now();
    pump();
    EXPECT_EQ(take(), "");
    EXPECT_EQ(srv_.splices(), 0u);
    EXPECT_EQ(srv_.parked(), 0u);
}

}  // namespace
}  // namespace devip::ctl
