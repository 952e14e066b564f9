// ipctl mount: devipd's /net through FUSE's low-level API, so Plan 9's idioms work with
// Linux tools (cat, echo, ls, shell redirections). One 9P fid per open; direct I/O and no
// caching of entries or attributes (files report length 0, as on Plan 9); a FUSE
// interrupt of a waiting request becomes a Tflush of its tag (flush(5)). Every request is
// served by a thread of libfuse's multi-threaded loop, so a read that parks in devipd
// (data, listen, log) holds only the process that made it. A failure gives the caller an
// errno; the Plan 9 text goes to ipctl's stderr and to the file's user.errstr attribute.
#define FUSE_USE_VERSION 312
#include "control/fuse.h"

#include <fuse_lowlevel.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace devip::ctl {
namespace {

// Plan 9 error texts → errno; any other text is EIO for reads and EINVAL for writes (a
// ctl message the stack refused). The text itself is printed on ipctl's stderr.
struct Errmap {
    const char* text;  // the Rerror text, or its start
    int err;           // the errno the caller gets
};
constexpr Errmap kErrmap[] = {
    {"permission denied", EACCES},
    {"file does not exist", ENOENT},
    {"file is a directory", EISDIR},
    {"address in use", EADDRINUSE},
    {"no ports available", EADDRNOTAVAIL},
    {"not a local IP address", EADDRNOTAVAIL},
    {"port unreachable", ECONNREFUSED},
    {"connection refused", ECONNREFUSED},
    {"host unreachable", EHOSTUNREACH},
    {"net unreachable", ENETUNREACH},
    {"no route", ENETUNREACH},
    {"connection timed out", ETIMEDOUT},
    {"i/o on hungup channel", EPIPE},
    {"interrupted", EINTR},
    {kHungup, ENOTCONN},
};

int errno_of(const std::string& text, int dflt) {
    for (const Errmap& m : kErrmap)
        if (text.starts_with(m.text)) return m.err;
    return dflt;
}

// One open directory: its entries, read whole at opendir.
struct OpenDir {
    std::vector<Dir> ents;  // as the server listed them
};

// The mounted tree: inode numbers for the paths looked up, and the 9P connection.
class Mount {
public:
    explicit Mount(Client& c) : c_(c), uid_(getuid()), gid_(getgid()) {
        paths_[FUSE_ROOT_ID] = "";
        inos_[""] = FUSE_ROOT_ID;
    }

    Client& c() { return c_; }

    // The path (relative to /net) of an inode; false if it was never looked up.
    bool path(fuse_ino_t ino, std::string& out) {
        std::lock_guard lk(mu_);
        auto it = paths_.find(ino);
        if (it == paths_.end()) return false;
        out = it->second;
        return true;
    }

    // The inode of a path, made on first use. Inodes are never reused: /net is small and a
    // conversation directory's path names the same conversation slot for ever.
    fuse_ino_t ino(const std::string& p) {
        std::lock_guard lk(mu_);
        auto [it, fresh] = inos_.try_emplace(p, next_);
        if (fresh) paths_[next_++] = p;
        return it->second;
    }

    void fill(const Dir& d, fuse_ino_t ino, struct stat& st) const {
        st = {};
        st.st_ino = ino;
        st.st_mode = ((d.mode & DMDIR) ? S_IFDIR : S_IFREG) | (d.mode & 0777);
        st.st_nlink = (d.mode & DMDIR) ? 2 : 1;
        st.st_uid = uid_;  // the mounter: 9P identity is the mounter's (see ipctl(1))
        st.st_gid = gid_;
        st.st_size = 0;    // lengths are not known before reading, as on Plan 9
        st.st_atime = d.atime;
        st.st_mtime = st.st_ctime = d.mtime;
        st.st_blksize = 8192;
    }

    // Prints a failed operation with the Plan 9 text, keeps the text as the file's
    // user.errstr attribute, and gives its errno.
    int report(fuse_req_t req, const char* op, const std::string& p, const CErr& e, int dflt) {
        const fuse_ctx* x = fuse_req_ctx(req);
        std::fprintf(stderr, "ipctl: mount: pid %d: %s /%s: %s\n", x ? int(x->pid) : 0, op,
                     p.c_str(), e.text.c_str());
        fuse_ino_t i = ino(p);
        std::lock_guard lk(mu_);
        errstr_[i] = e.text;
        return errno_of(e.text, dflt);
    }

    // The last Plan 9 error text of an operation on ino, from any process.
    bool errstr(fuse_ino_t ino, std::string& out) {
        std::lock_guard lk(mu_);
        auto it = errstr_.find(ino);
        if (it == errstr_.end()) return false;
        out = it->second;
        return true;
    }

private:
    Client& c_;                                // the connection
    uid_t uid_;                                // reported as every file's owner
    gid_t gid_;                                // and group
    std::mutex mu_;                            // guards the maps
    std::map<fuse_ino_t, std::string> paths_;  // inode → path relative to /net
    std::map<std::string, fuse_ino_t> inos_;   // path → inode
    std::map<fuse_ino_t, std::string> errstr_; // inode → last error text (user.errstr)
    fuse_ino_t next_ = FUSE_ROOT_ID + 1;       // next inode number
};

Mount& mnt(fuse_req_t req) { return *static_cast<Mount*>(fuse_req_userdata(req)); }

std::string join(const std::string& dir, const char* name) {
    return dir.empty() ? std::string(name) : dir + "/" + name;
}

// Walks a fresh fid to p and stats it; the fid is clunked.
CErr stat_walk(Client& c, const std::string& p, Dir& d) {
    uint32_t fid = c.new_fid();
    if (CErr e = c.walk(c.root(), fid, p)) {
        c.free_fid(fid);
        return e;
    }
    CErr e = c.stat(fid, d);
    c.clunk(fid);
    return e;
}

// A request waiting for its reply that a FUSE interrupt may flush. The callback runs under
// the request's lock in libfuse; unregistering takes that lock, so once disarm() returns
// the tag is never flushed again (and cannot have been reused: its reply is still unread).
struct Flushable {
    Client* c;
    uint16_t tag;
    fuse_req_t req;

    static void on_interrupt(fuse_req_t, void* self) {
        auto* f = static_cast<Flushable*>(self);
        f->c->flush(f->tag);
    }
    void arm() { fuse_req_interrupt_func(req, on_interrupt, this); }
    void disarm() { fuse_req_interrupt_func(req, nullptr, nullptr); }
};

// Sends t and waits for its reply, flushing it if the caller is interrupted.
CErr rpc_interruptible(fuse_req_t req, Client& c, Fcall& t, Ftype want, Reply& r) {
    if (CErr e = c.start(t)) return e;
    Flushable f{&c, t.tag, req};
    f.arm();
    c.ready(t.tag, Clock::time_point::max());
    f.disarm();
    return c.wait(t.tag, want, r);
}

// ---- the operations ---------------------------------------------------------------------

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    Mount& m = mnt(req);
    std::string dir;
    if (!m.path(parent, dir)) return (void)fuse_reply_err(req, ENOENT);
    std::string p = join(dir, name);
    Dir d;
    if (CErr e = stat_walk(m.c(), p, d)) return (void)fuse_reply_err(req, errno_of(e.text, ENOENT));
    fuse_entry_param ep{};
    ep.ino = m.ino(p);
    ep.generation = 1;
    m.fill(d, ep.ino, ep.attr);
    ep.attr_timeout = 0;   // nothing cached: every stat asks devipd
    ep.entry_timeout = 0;
    fuse_reply_entry(req, &ep);
}

// By path even for an open file (fstat): a directory's fh is its OpenDir, not a fid.
void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
    Mount& m = mnt(req);
    std::string p;
    if (!m.path(ino, p)) return (void)fuse_reply_err(req, ENOENT);
    Dir d;
    if (CErr e = stat_walk(m.c(), p, d)) return (void)fuse_reply_err(req, errno_of(e.text, ENOENT));
    struct stat st;
    m.fill(d, ino, st);
    fuse_reply_attr(req, &st, 0);
}

// Truncation (the shell's `>` opens with O_TRUNC) succeeds on every file, as rc's `>` does
// on Plan 9: the open passes OTRUNC to devipd (atomic_o_trunc), so a truncating setattr
// has nothing left to do. Mode and time changes are ignored the same way.
void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat*, int, fuse_file_info* fi) {
    op_getattr(req, ino, fi);
}

uint8_t mode_of(int flags) {
    uint8_t m = OREAD;
    switch (flags & O_ACCMODE) {
    case O_WRONLY: m = OWRITE; break;
    case O_RDWR: m = ORDWR; break;
    }
    if (flags & O_TRUNC) m |= OTRUNC;
    return m;
}

// Walks a fresh fid to p and opens it (interruptibly: a listen parks in the open).
CErr open_fid(fuse_req_t req, Client& c, const std::string& p, uint8_t mode, uint32_t& fid) {
    fid = c.new_fid();
    if (CErr e = c.walk(c.root(), fid, p)) {
        c.free_fid(fid);
        return e;
    }
    Fcall t;
    t.type = Ftype::Topen;
    t.fid = fid;
    t.mode = mode;
    Reply r;
    if (CErr e = rpc_interruptible(req, c, t, Ftype::Ropen, r)) {
        c.clunk(fid);
        return e;
    }
    return {};
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    Mount& m = mnt(req);
    std::string p;
    if (!m.path(ino, p)) return (void)fuse_reply_err(req, ENOENT);
    uint32_t fid;
    if (CErr e = open_fid(req, m.c(), p, mode_of(fi->flags), fid))
        return (void)fuse_reply_err(req, m.report(req, "open", p, e, EIO));
    fi->fh = fid;
    fi->direct_io = 1;  // every read and write goes to devipd, in the caller's sizes
    fi->keep_cache = 0;
    if (fuse_reply_open(req, fi) == -ENOENT) m.c().clunk(fid);  // the caller has gone
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
    Mount& m = mnt(req);
    Client& c = m.c();
    Fcall t;
    t.type = Ftype::Tread;
    t.fid = uint32_t(fi->fh);
    t.offset = uint64_t(off);
    t.count = uint32_t(std::min<size_t>(size, c.iounit()));
    Reply r;
    if (CErr e = rpc_interruptible(req, c, t, Ftype::Rread, r)) {
        std::string p;
        m.path(ino, p);
        return (void)fuse_reply_err(req, m.report(req, "read", p, e, EIO));
    }
    fuse_reply_buf(req, reinterpret_cast<const char*>(r.f.data.data()), r.f.data.size());
}

void op_write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
              fuse_file_info* fi) {
    Mount& m = mnt(req);
    Client& c = m.c();
    size_t done = 0;
    while (done < size || size == 0) {
        Fcall t;
        t.type = Ftype::Twrite;
        t.fid = uint32_t(fi->fh);
        t.offset = uint64_t(off) + done;
        t.data = std::span(reinterpret_cast<const uint8_t*>(buf) + done,
                           std::min<size_t>(size - done, c.iounit()));
        t.count = uint32_t(t.data.size());
        Reply r;
        if (CErr e = rpc_interruptible(req, c, t, Ftype::Rwrite, r)) {
            if (done > 0) break;  // a short write: the caller learns of the error next time
            std::string p;
            m.path(ino, p);
            return (void)fuse_reply_err(req, m.report(req, "write", p, e, EINVAL));
        }
        done += r.f.count;
        if (r.f.count < t.count || size == 0) break;
    }
    fuse_reply_write(req, done);
}

void op_release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    mnt(req).c().clunk(uint32_t(fi->fh));
    fuse_reply_err(req, 0);
}

void op_flush(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    Mount& m = mnt(req);
    Client& c = m.c();
    std::string p;
    if (!m.path(ino, p)) return (void)fuse_reply_err(req, ENOENT);
    auto od = std::make_unique<OpenDir>();
    if (CErr e = c.list(p, od->ents))
        return (void)fuse_reply_err(req, m.report(req, "ls", p, e, EIO));
    fi->fh = reinterpret_cast<uint64_t>(od.release());
    fi->cache_readdir = 0;
    fuse_reply_open(req, fi);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
    Mount& m = mnt(req);
    auto* od = reinterpret_cast<OpenDir*>(fi->fh);
    std::string dir;
    m.path(ino, dir);
    std::vector<char> buf(size);
    size_t used = 0;
    size_t n = od->ents.size() + 2;  // ".", "..", then the server's entries
    for (size_t i = size_t(off); i < n; i++) {
        struct stat st{};
        std::string name;
        if (i < 2) {
            name = i == 0 ? "." : "..";
            st.st_mode = S_IFDIR;
        } else {
            const Dir& d = od->ents[i - 2];
            name = d.name;
            m.fill(d, m.ino(join(dir, d.name.c_str())), st);
        }
        size_t need = fuse_add_direntry(req, buf.data() + used, size - used, name.c_str(), &st,
                                        off_t(i + 1));
        if (need > size - used) break;
        used += need;
    }
    fuse_reply_buf(req, buf.data(), used);
}

void op_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
    delete reinterpret_cast<OpenDir*>(fi->fh);
    fuse_reply_err(req, 0);
}

// The attribute user.errstr: the Plan 9 text of the last failed operation on the file, so
// that a shell user can see why `echo ... > iproute` failed (getfattr -n user.errstr).
constexpr const char* kErrstrAttr = "user.errstr";

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
    std::string t;
    if (std::strcmp(name, kErrstrAttr) != 0 || !mnt(req).errstr(ino, t))
        return (void)fuse_reply_err(req, ENODATA);
    if (size == 0) return (void)fuse_reply_xattr(req, t.size());
    if (size < t.size()) return (void)fuse_reply_err(req, ERANGE);
    fuse_reply_buf(req, t.data(), t.size());
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
    std::string t;
    std::string names = mnt(req).errstr(ino, t) ? std::string(kErrstrAttr) + '\0' : "";
    if (size == 0) return (void)fuse_reply_xattr(req, names.size());
    if (size < names.size()) return (void)fuse_reply_err(req, ERANGE);
    fuse_reply_buf(req, names.data(), names.size());
}

void op_init(void*, fuse_conn_info* conn) {
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
}

std::mutex g_mu;               // guards g_session
fuse_session* g_session;       // the session being served, for mount_stop
bool g_stopped;                // mount_stop ended it

}  // namespace

int mount_net(Client& c, const std::string& mountpoint, const std::string& options, bool debug) {
    fuse_lowlevel_ops ops{};
    ops.init = op_init;
    ops.lookup = op_lookup;
    ops.getattr = op_getattr;
    ops.setattr = op_setattr;
    ops.open = op_open;
    ops.read = op_read;
    ops.write = op_write;
    ops.flush = op_flush;
    ops.release = op_release;
    ops.opendir = op_opendir;
    ops.readdir = op_readdir;
    ops.releasedir = op_releasedir;
    ops.getxattr = op_getxattr;
    ops.listxattr = op_listxattr;

    std::vector<std::string> words = {"ipctl", "-o", "fsname=devip,subtype=devip"};
    if (!options.empty()) words.insert(words.end(), {"-o", options});
    if (debug) words.push_back("-d");
    std::vector<char*> argv;
    for (std::string& w : words) argv.push_back(w.data());
    fuse_args args = FUSE_ARGS_INIT(int(argv.size()), argv.data());

    Mount m(c);
    fuse_session* se = fuse_session_new(&args, &ops, sizeof ops, &m);
    fuse_opt_free_args(&args);  // the session copied what it needs (it may have added some)
    if (!se) {
        std::fprintf(stderr, "ipctl: mount: bad FUSE options: %s\n", options.c_str());
        return 1;
    }
    if (fuse_session_mount(se, mountpoint.c_str()) != 0) {
        fuse_session_destroy(se);
        std::fprintf(stderr, "ipctl: mount: cannot mount on %s\n", mountpoint.c_str());
        return 1;
    }
    {
        std::lock_guard lk(g_mu);
        g_session = se;
    }
    fuse_loop_config* cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(cfg, 4096);  // parked reads each hold a thread
    fuse_loop_cfg_set_idle_threads(cfg, 4);
    int r = fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
    {
        std::lock_guard lk(g_mu);
        g_session = nullptr;
    }
    fuse_session_unmount(se);
    fuse_session_destroy(se);
    std::lock_guard lk(g_mu);
    return r == 0 || g_stopped ? 0 : 1;
}

void mount_stop() {
    std::lock_guard lk(g_mu);
    if (!g_session) return;
    g_stopped = true;
    fuse_session_exit(g_session);
    fuse_session_unmount(g_session);  // wakes the loop's threads reading /dev/fuse
}

}  // namespace devip::ctl
