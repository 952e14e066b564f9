// ipctl: the command-line client of devipd's /net tree (docs/ipctl.1). Every command is
// reads and writes of /net files over 9P, as a Plan 9 user would do with cat, echo,
// ip/ping, dial(2) and listen1: ping follows 9front's ip/ping (ip3.md §4.8.1, §8); ping,
// dial, announce and listen make their connections with the dial library (control/dial.h,
// ip3.md §1.5, §4.7); mount serves the tree to Linux through FUSE (control/fuse.cc); snoop
// copies a capture file's pcapng out (issue 10 §1).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "control/client.h"
#include "control/dial.h"
#include "control/fuse.h"

namespace devip::ctl {
namespace {

constexpr const char* kDefaultSocket = "/run/devip/net.sock";
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

// --- output and errors ---

// Writes all of s to fd (stdout for data), retrying short writes.
bool put_fd(int fd, std::string_view s) {
    while (!s.empty()) {
        ssize_t n = ::write(fd, s.data(), s.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        s.remove_prefix(size_t(n));
    }
    return true;
}

int fail(const CErr& e) {
    std::fprintf(stderr, "ipctl: %s\n", e.text.c_str());
    return kExitError;
}

int fail(const std::string& s) { return fail(CErr{s}); }

// --- arguments ---

// What a command was given: options by letter ("" for a flag) and the positional words.
struct Args {
    std::map<char, std::string> opt;  // option letter → its argument
    std::vector<std::string> pos;     // everything after the options
    bool help = false;                // --help or -h was given

    bool has(char c) const { return opt.contains(c); }
};

// getopt-style parsing of argv[from..]: spec lists the option letters, a letter followed
// by ':' takes an argument ("-c3" or "-c 3"). Options end at "--" or the first word that
// does not start with '-'. Returns an error text, empty on success.
std::string parse_args(int argc, char** argv, int from, const char* spec, Args& a) {
    int i = from;
    for (; i < argc; i++) {
        std::string_view w = argv[i];
        if (w == "--") {
            i++;
            break;
        }
        if (w == "--help" || w == "-h") {
            a.help = true;
            continue;
        }
        if (w.size() < 2 || w[0] != '-') break;
        for (size_t k = 1; k < w.size(); k++) {
            const char* p = std::strchr(spec, w[k]);
            if (!p || w[k] == ':') return std::string("unknown option -") + w[k];
            if (p[1] != ':') {
                a.opt[w[k]] = "";
                continue;
            }
            if (k + 1 < w.size()) {
                a.opt[w[k]] = std::string(w.substr(k + 1));
            } else if (i + 1 < argc) {
                a.opt[w[k]] = argv[++i];
            } else {
                return std::string("option -") + w[k] + " needs an argument";
            }
            break;
        }
    }
    for (; i < argc; i++) a.pos.emplace_back(argv[i]);
    return {};
}

// Numeric option values; false when the text is not a number in [lo, hi].
bool get_num(const Args& a, char c, double lo, double hi, double& v) {
    auto it = a.opt.find(c);
    if (it == a.opt.end()) return true;
    char* end = nullptr;
    errno = 0;
    double d = std::strtod(it->second.c_str(), &end);
    if (it->second.empty() || *end || errno || !std::isfinite(d) || d < lo || d > hi) {
        std::fprintf(stderr, "ipctl: bad value for -%c: %s\n", c, it->second.c_str());
        return false;
    }
    v = d;
    return true;
}

bool get_int(const Args& a, char c, long lo, long hi, long& v) {
    double d = double(v);
    if (!get_num(a, c, double(lo), double(hi), d)) return false;
    if (d != std::floor(d)) {
        std::fprintf(stderr, "ipctl: -%c needs a whole number\n", c);
        return false;
    }
    v = long(d);
    return true;
}

std::chrono::microseconds seconds(double s) {
    return std::chrono::microseconds(long(std::llround(s * 1e6)));
}

// --- interruption: SIGINT, SIGTERM and SIGHUP end ping, dial and announce cleanly ---

std::atomic<bool> g_stop{false};      // a signal arrived, or a worker thread asked to finish
std::atomic<bool> g_graceful{false};  // the command handles g_stop (ping, dial, announce)
int g_wake[2] = {-1, -1};             // a byte here wakes the main thread's poll

void wake() {
    char b = 1;
    [[maybe_unused]] ssize_t n = ::write(g_wake[1], &b, 1);  // full pipe: already awake
}

void drain_wake() {
    char b[64];
    while (::read(g_wake[0], b, sizeof b) > 0) {
    }
}

// Blocks the signals in this thread, before the client starts its reader, so that every
// thread has them blocked, and waits for them in a thread of its own. A command that is
// not graceful just exits; the others see g_stop, and every request the client has
// outstanding is flushed so that no thread stays parked in the server.
bool watch_signals(Client& c) {
    if (::pipe2(g_wake, O_CLOEXEC | O_NONBLOCK) < 0) return false;
    static sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread([&c] {
        for (;;) {
            int sig = 0;
            if (sigwait(&set, &sig) != 0) continue;
            if (!g_graceful) _exit(128 + sig);
            g_stop = true;
            wake();
            c.interrupt();
            devip_interrupt();
#ifdef DEVIP_FUSE
            mount_stop();
#endif
        }
    }).detach();
    return true;
}

// --- dial strings ---

// Splits "proto!rest" into its two parts; false without a protocol or a rest.
bool split_dialstring(const std::string& s, std::string& proto, std::string& rest) {
    size_t i = s.find('!');
    if (i == std::string::npos || i == 0 || i + 1 == s.size()) return false;
    proto = s.substr(0, i);
    rest = s.substr(i + 1);
    return true;
}

// ===================================================================== ls, cat, write, stat

// Plan 9's mode string: d (directory), a (append), l (exclusive) or -, t (temporary) or
// -, then rwx three times.
std::string mode_string(uint32_t m) {
    std::string s;
    s += (m & DMDIR) ? 'd' : (m & 0x40000000) ? 'a' : (m & 0x20000000) ? 'l' : '-';
    s += (m & 0x04000000) ? 't' : '-';
    for (int sh = 6; sh >= 0; sh -= 3) {
        s += (m >> sh & 4) ? 'r' : '-';
        s += (m >> sh & 2) ? 'w' : '-';
        s += (m >> sh & 1) ? 'x' : '-';
    }
    return s;
}

std::string join_path(const std::string& dir, const std::string& name) {
    if (dir.empty()) return name;
    return dir.back() == '/' ? dir + name : dir + "/" + name;
}

void print_dirs(const std::vector<Dir>& ds, const std::vector<std::string>& names, bool lng) {
    if (!lng) {
        for (const std::string& n : names) std::printf("%s\n", n.c_str());
        return;
    }
    int wu = 0, wg = 0, wl = 0;
    for (const Dir& d : ds) {
        wu = std::max(wu, int(d.uid.size()));
        wg = std::max(wg, int(d.gid.size()));
        wl = std::max(wl, std::snprintf(nullptr, 0, "%llu", (unsigned long long)d.length));
    }
    for (size_t i = 0; i < ds.size(); i++) {
        const Dir& d = ds[i];
        std::printf("%s %-*s %-*s %*llu %s\n", mode_string(d.mode).c_str(), wu, d.uid.c_str(),
                    wg, d.gid.c_str(), wl, (unsigned long long)d.length, names[i].c_str());
    }
}

int cmd_ls(Client& c, const Args& a) {
    std::vector<std::string> paths = a.pos;
    if (paths.empty()) paths.push_back("/net");
    int rc = 0;
    for (const std::string& p : paths) {
        Dir d;
        if (CErr e = c.stat_path(p, d)) {
            rc = fail(e);
            continue;
        }
        std::vector<Dir> ds;
        std::vector<std::string> names;
        if (d.mode & DMDIR) {
            if (CErr e = c.list(p, ds)) {
                rc = fail(e);
                continue;
            }
            for (const Dir& x : ds) names.push_back(join_path(p, x.name));
        } else {
            ds.push_back(d);
            names.push_back(p);
        }
        print_dirs(ds, names, a.has('l'));
    }
    std::fflush(stdout);
    return rc;
}

int cmd_cat(Client& c, const Args& a) {
    int rc = 0;
    for (const std::string& p : a.pos) {
        CFid f;
        CErr e = CFid::open(c, p, OREAD, f);
        std::string buf;
        while (!e) {
            e = f.read(buf);
            if (e || buf.empty()) break;
            if (!put_fd(1, buf)) return fail(std::string("write stdout: ") + std::strerror(errno));
        }
        if (e) rc = fail(e);
    }
    return rc;
}

// True for lines the stdin form of write skips: blank, or a # comment.
bool skip_line(std::string_view l) {
    size_t i = l.find_first_not_of(" \t\r\n");
    return i == std::string_view::npos || l[i] == '#';
}

// write -p's progress on a terminal: lines read, their rate, errors; at most 4 times a second
// on one rewritten line, then a summary line. Silent when stderr is not a tty.
class Progress {
public:
    explicit Progress(const WritePipe& p) : pipe_(p), on_(::isatty(2)), t0_(Clock::now()) {}
    void tick(uint64_t lines) {
        if (!on_) return;
        auto now = Clock::now();
        if (now - last_ < std::chrono::milliseconds(250)) return;
        last_ = now;
        show(lines, now, false);
    }
    void done(uint64_t lines) {
        if (on_) show(lines, Clock::now(), true);
    }

private:
    void show(uint64_t lines, Clock::time_point now, bool final) {
        double s = std::chrono::duration<double>(now - t0_).count();
        double rate = s > 0 ? double(lines) / s : 0;
        auto n = [](uint64_t v) { return (unsigned long long)v; };
        if (final)  // the \033[K clears what is left of the longer progress line
            std::fprintf(stderr,
                         "\ripctl: %llu lines in %.1f s (%.0f lines/s), %llu errors\033[K\n",
                         n(lines), s, rate, n(pipe_.errors()));
        else
            std::fprintf(stderr,
                         "\ripctl: %llu lines, %.0f lines/s, %llu answered, %llu errors\033[K",
                         n(lines), rate, n(pipe_.answered()), n(pipe_.errors()));
        std::fflush(stderr);
    }
    const WritePipe& pipe_;
    bool on_;                        // stderr is a terminal
    Clock::time_point t0_, last_{};  // start, last refresh
};

// write -p: every line of stdin through one WritePipe. Stdin is read in big blocks and cut
// into lines in place; the first failure stops the reading, and every failure is reported
// with its line number once the writes in flight are answered.
int write_pipelined(Client& c, CFid& f) {
    WritePipe pipe(c, f.fid(), f.offset());
    Progress progress(pipe);
    std::vector<char> buf(1 << 20);
    size_t have = 0;     // bytes in buf
    uint64_t line = 0;   // lines read
    int rc = 0;
    for (bool eof = false, stop = false; !eof && !stop;) {
        if (have == buf.size()) buf.resize(2 * buf.size());  // a line longer than buf
        ssize_t n = ::read(0, buf.data() + have, buf.size() - have);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = fail(std::string("read stdin: ") + std::strerror(errno));
            break;
        }
        eof = n == 0;
        have += size_t(n);
        size_t at = 0;  // start of the next line
        while (at < have && !stop) {
            const void* nl = std::memchr(buf.data() + at, '\n', have - at);
            size_t end = nl ? size_t(static_cast<const char*>(nl) - buf.data()) + 1 : have;
            if (!nl && !eof) break;  // the rest of this line has not been read yet
            std::string_view l(buf.data() + at, end - at);
            at = end;
            line++;
            if (!skip_line(l)) stop = !pipe.put(l, line);
            if ((line & 1023) == 0) progress.tick(line);
        }
        progress.tick(line);
        std::memmove(buf.data(), buf.data() + at, have - at);
        have -= at;
    }
    std::vector<WritePipe::Failure> failed = pipe.finish();
    progress.done(line);
    for (const WritePipe::Failure& x : failed) {
        std::fprintf(stderr, "ipctl: line %llu: %s\n", (unsigned long long)x.label,
                     x.err.c_str());
        rc = kExitError;
    }
    f.close();
    return rc;
}

int cmd_write(Client& c, const Args& a) {
    CFid f;
    uint8_t mode = OWRITE | (a.has('t') ? OTRUNC : 0);
    if (CErr e = CFid::open(c, a.pos[0], mode, f)) return fail(e);
    if (a.pos.size() > 1) {
        std::string msg;
        for (size_t i = 1; i < a.pos.size(); i++) msg += (i > 1 ? " " : "") + a.pos[i];
        if (CErr e = f.write(msg)) return fail(e);
        if (CErr e = f.close()) return fail(e);
        return 0;
    }
    if (a.has('p')) return write_pipelined(c, f);
    char* line = nullptr;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    while ((n = ::getline(&line, &cap, stdin)) > 0) {
        std::string l(line, size_t(n));
        if (skip_line(l)) continue;
        if (CErr e = f.write(l)) {
            rc = fail(e);
            break;
        }
    }
    std::free(line);
    f.close();
    return rc;
}

int cmd_stat(Client& c, const Args& a) {
    int rc = 0;
    for (const std::string& p : a.pos) {
        Dir d;
        if (CErr e = c.stat_path(p, d)) {
            rc = fail(e);
            continue;
        }
        std::printf("name %s\nqid.path 0x%llx\nqid.vers %u\nqid.type 0x%02x\nmode %#o\n"
                    "length %llu\nuid %s\ngid %s\nmuid %s\natime %u\nmtime %u\ntype %u\n"
                    "dev %u\n",
                    d.name.c_str(), (unsigned long long)d.qid.path, d.qid.vers, d.qid.type,
                    d.mode, (unsigned long long)d.length, d.uid.c_str(), d.gid.c_str(),
                    d.muid.c_str(), d.atime, d.mtime, d.type, d.dev);
        if (a.pos.size() > 1) std::printf("\n");
    }
    std::fflush(stdout);
    return rc;
}

// ===================================================================== the dial library

// ping, dial, announce and listen are clients of the dial library (control/dial.h, dial(3)):
// it makes its own 9P connection, to the socket and stack ipctl was given.
std::string g_sock;   // -s, $DEVIP_SOCKET or the default
int g_stack = 0;      // -n

int fail_lib(const char* what = nullptr) {
    std::string t = devip_errstr();
    return fail(what ? std::string(what) + ": " + t : t);
}

// Sleeps in poll on the wake pipe and fds until `until`. The revents of fds are set.
void wait_fds(std::vector<pollfd>& fds, Clock::time_point until) {
    int timeout = -1;
    if (until != Clock::time_point::max()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
        timeout = int(std::max<long long>(0, left.count()));
    }
    fds.insert(fds.begin(), pollfd{g_wake[0], POLLIN, 0});
    int n = ::poll(fds.data(), fds.size(), timeout);
    if (n > 0 && fds[0].revents) drain_wake();
    if (n <= 0)
        for (pollfd& p : fds) p.revents = 0;
    fds.erase(fds.begin());
}

// Reads one block from fd: its size, 0 at end of file, -1 on error.
ssize_t read_fd(int fd, std::vector<uint8_t>& buf) {
    for (;;) {
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        return n;
    }
}

// Sends n bytes to a connection's fd: one datagram (SOCK_SEQPACKET), or all of them.
bool send_conn(int fd, const uint8_t* p, size_t n) {
    do {
        ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return false;
        p += k;
        n -= size_t(k);
    } while (n > 0);
    return true;
}

bool is_stream(int fd) {
    int t = 0;
    socklen_t len = sizeof t;
    return ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &t, &len) == 0 && t == SOCK_STREAM;
}

// ===================================================================== ping

// What differs between ICMP and ICMPv6 echo (RFC 792, RFC 4443).
struct PingProto {
    const char* dir;  // protocol directory
    size_t hdr;       // IP header space at the front of every write and read
    uint8_t request;  // echo request type
    uint8_t reply;    // echo reply type
    size_t ttl_at;    // offset of TTL / hop limit in the received IP header
};
constexpr PingProto kPing4{"icmp", 20, 8, 0, 8};
constexpr PingProto kPing6{"icmpv6", 40, 128, 129, 7};
constexpr size_t kIcmpHdr = 8;  // type[1] code[1] cksum[2] id[2] seq[2]

// The Internet checksum (RFC 1071).
uint16_t ip_cksum(const uint8_t* p, size_t n) {
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2) s += uint32_t(p[i] << 8 | p[i + 1]);
    if (n & 1) s += uint32_t(p[n - 1] << 8);
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return uint16_t(~s);
}

// One ping run: the echo template, what was sent when, and what came back.
class Pinger {
public:
    Pinger(int fd, const PingProto& pr, size_t msglen, long count)
        : fd_(fd), pr_(pr), msg_(msglen), buf_(65536), sent_(size_t(count)),
          replied_(size_t(count)) {
        std::random_device rd;
        seq0_ = uint16_t(rd());
        for (size_t i = pr.hdr + kIcmpHdr; i < msglen; i++) msg_[i] = uint8_t(i);
        msg_[pr.hdr] = pr.request;
    }

    // Sends echo i; false (with the error printed) if the write failed.
    bool send(size_t i) {
        uint8_t* icmp = msg_.data() + pr_.hdr;
        uint16_t seq = uint16_t(seq0_ + i);
        icmp[2] = icmp[3] = 0;
        icmp[6] = uint8_t(seq >> 8);
        icmp[7] = uint8_t(seq);
        if (&pr_ == &kPing4) {  // ICMPv6's sum covers a pseudo-header: left to devipd
            uint16_t ck = ip_cksum(icmp, msg_.size() - pr_.hdr);
            icmp[2] = uint8_t(ck >> 8);
            icmp[3] = uint8_t(ck);
        }
        sent_[i] = Clock::now();
        nsent_ = i + 1;
        if (!send_conn(fd_, msg_.data(), msg_.size())) {
            ended();
            return false;
        }
        return true;
    }

    // Processes replies until `until`. False once the conversation fails (e.g. hung up
    // by ICMP advice: "host unreachable").
    bool pump(Clock::time_point until, bool stop_when_all) {
        for (;;) {
            if (g_stop || failed_) return false;
            if (stop_when_all && nrcvd_ == nsent_) return true;
            std::vector<pollfd> fds = {{fd_, POLLIN, 0}};
            wait_fds(fds, until);
            if (!fds[0].revents) {
                if (Clock::now() >= until) return true;
                continue;
            }
            ssize_t n = ::recv(fd_, buf_.data(), buf_.size(), 0);
            if (n <= 0) {
                ended();
                return false;
            }
            check(std::span(buf_.data(), size_t(n)), Clock::now());
        }
    }

    // Prints the lost sequence numbers and the summary; returns the exit status.
    int summary(const std::string& dest) {
        size_t lost = 0;
        for (size_t i = 0; i < nsent_; i++) {
            if (replied_[i]) continue;
            std::printf("lost %zu\n", i);
            lost++;
        }
        std::printf("%zu out of %zu messages lost\n", lost, nsent_);
        std::fflush(stdout);
        if (nrcvd_ == 0) return fail("ping: no reply from " + dest);
        return 0;
    }

private:
    // The data ended (read or write failed): the error, as ip/ping prints a read error.
    void ended() {
        failed_ = true;
        char err[DEVIP_ERRLEN];
        if (!g_stop && devip_fderr(fd_, err, sizeof err) == 1) {
            std::printf("%s\n", err);
            std::fflush(stdout);
        }
    }

    // One received packet: IP header space, then the ICMP message.
    void check(std::span<const uint8_t> p, Clock::time_point now) {
        if (p.size() < msg_.size()) {
            std::printf("bad len %zu/%zu\n", p.size(), msg_.size());
            return;
        }
        const uint8_t* icmp = p.data() + pr_.hdr;
        unsigned seq = unsigned(icmp[6] << 8 | icmp[7]);
        if (icmp[0] != pr_.reply || icmp[1] != 0) {
            std::printf("bad type/code/sequence %d/%d/%u (want %d/%d/%u)\n", icmp[0], icmp[1],
                        seq, pr_.reply, 0, seq);
            return;
        }
        size_t i = uint16_t(seq - seq0_);
        if (i >= nsent_ || replied_[i]) return;  // not ours, or a duplicate
        for (size_t k = pr_.hdr + kIcmpHdr; k < msg_.size(); k++) {
            if (p[k] != uint8_t(k)) {
                std::printf("corrupted reply\n");
                break;
            }
        }
        replied_[i] = true;
        nrcvd_++;
        long long rtt =
            std::chrono::duration_cast<std::chrono::microseconds>(now - sent_[i]).count();
        sum_ += rtt;
        std::printf("%zu: rtt %lld µs, avg rtt %lld µs, ttl = %d\n", i, rtt,
                    sum_ / (long long)nrcvd_, p[pr_.ttl_at]);
        std::fflush(stdout);
    }

    int fd_;                                // the connection's data (dial(3))
    const PingProto& pr_;
    std::vector<uint8_t> msg_;              // the echo as written, header space included
    std::vector<uint8_t> buf_;              // one received packet
    std::vector<Clock::time_point> sent_;   // when echo i went out
    std::vector<bool> replied_;             // echo i has been answered
    uint16_t seq0_ = 0;                     // sequence number of echo 0 (random)
    size_t nsent_ = 0, nrcvd_ = 0;          // echoes written, replies matched
    long long sum_ = 0;                     // total rtt of matched replies, µs
    bool failed_ = false;                   // the data ended: no more reads
};

// ping's command line, checked before connecting.
struct PingOpts {
    long count = 3;                  // -c
    long size = 56;                  // -s: ICMP payload bytes
    double interval = 1;             // -i, seconds
    double wait = 1;                 // -w, seconds
    const PingProto* pr = &kPing4;   // icmp or icmpv6
    std::string addr;                // the address as given, without a protocol prefix
    std::string dest;                // what connect is given: addr!1 unless it has a port
};

bool ping_opts(const Args& a, PingOpts& o) {
    o.addr = a.pos[0];
    o.pr = o.addr.find(':') != std::string::npos ? &kPing6 : &kPing4;
    for (const PingProto* p : {&kPing6, &kPing4}) {  // an explicit icmp! or icmpv6! prefix
        std::string pre = std::string(p->dir) + "!";
        if (o.addr.starts_with(pre)) {
            o.pr = p;
            o.addr.erase(0, pre.size());
            break;
        }
    }
    o.dest = o.addr.find('!') == std::string::npos ? o.addr + "!1" : o.addr;
    long maxsize = 65535L - long(o.pr->hdr + kIcmpHdr);
    return get_int(a, 'c', 1, 65535, o.count) && get_num(a, 'i', 0, 3600, o.interval) &&
           get_num(a, 'w', 0, 3600, o.wait) && get_int(a, 's', 0, maxsize, o.size);
}

int cmd_ping(Client& c, const Args& a) {
    PingOpts o;
    if (!ping_opts(a, o)) return kExitUsage;
    size_t msglen = o.pr->hdr + kIcmpHdr + size_t(o.size);
    if (msglen > c.iounit()) return fail("ping: size too large");

    // dial("icmp!addr!1"); remote names the peer as devipd has it.
    if (devip_connect(g_sock.c_str(), g_stack) < 0) return fail_lib();
    char dir[DEVIP_DIRLEN];
    int fd = devip_dial((std::string(o.pr->dir) + "!" + o.dest).c_str(), nullptr, dir, nullptr);
    if (fd < 0) return fail_lib();
    DevipConnInfo ci;
    std::string remote = devip_conninfo(dir, &ci) == 0 && *ci.remote ? ci.remote : o.dest;
    std::printf("sending %ld %zu byte messages %lld ms apart to %s\n", o.count, msglen,
                (long long)std::llround(o.interval * 1000), remote.c_str());
    std::fflush(stdout);

    Pinger p(fd, *o.pr, msglen, o.count);
    Clock::time_point t0 = Clock::now();
    for (long i = 0; i < o.count && !g_stop; i++) {
        if (i > 0 && !p.pump(t0 + seconds(o.interval * double(i)), false)) break;
        if (g_stop || !p.send(size_t(i))) break;
    }
    p.pump(Clock::now() + seconds(o.wait), true);
    devip_close(fd);
    return p.summary(o.addr);
}

// ===================================================================== dial, announce, listen

// The exit status of a connection whose data has ended: 1 with its error on stderr.
int conn_status(int fd) {
    char err[DEVIP_ERRLEN];
    if (devip_fderr(fd, err, sizeof err) == 1 && !g_stop) return fail(std::string(err));
    return 0;
}

// Checks dial's, announce's and listen's command line: the dial string and numbers.
bool dial_opts(const Args& a) {
    std::string proto, rest;
    if (!split_dialstring(a.pos[0], proto, rest)) {
        std::fprintf(stderr, "ipctl: want PROTO!ADDR!PORT, not %s\n", a.pos[0].c_str());
        return false;
    }
    double w = 0;
    long n = 0;
    return get_num(a, 'w', 0, 1e6, w) && get_int(a, 'n', 1, 1L << 40, n);
}

int cmd_dial(Client&, const Args& a) {
    double wait = 1;
    if (!dial_opts(a) || !get_num(a, 'w', 0, 1e6, wait)) return kExitUsage;
    if (devip_connect(g_sock.c_str(), g_stack) < 0) return fail_lib();
    char dir[DEVIP_DIRLEN];
    const char* local = a.has('l') ? a.opt.at('l').c_str() : nullptr;
    int fd = devip_dial(a.pos[0].c_str(), local, dir, nullptr);
    if (fd < 0) return fail_lib();
    if (a.has('v')) std::fprintf(stderr, "ipctl: dial: %s\n", dir);
    // A datagram conversation has no end the peer can signal: after end of stdin it is read
    // for -w seconds. A stream one is read until the peer closes (or -w, if given).
    bool timed = !is_stream(fd) || a.has('w');

    std::vector<uint8_t> buf(65536);
    bool eof = false;
    int rc = 0;
    Clock::time_point until = Clock::time_point::max();
    while (!g_stop) {
        std::vector<pollfd> fds = {{fd, POLLIN, 0}, {eof ? -1 : 0, POLLIN, 0}};
        wait_fds(fds, until);
        if (eof && Clock::now() >= until) break;
        if (fds[0].revents) {
            ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
            if (n <= 0) {  // the conversation's data ended
                rc = conn_status(fd);
                break;
            }
            if (!put_fd(1, std::string_view(reinterpret_cast<char*>(buf.data()), size_t(n)))) {
                rc = fail(std::string("write stdout: ") + std::strerror(errno));
                break;
            }
        }
        if (!eof && fds[1].revents) {
            ssize_t n = read_fd(0, buf);
            if (n < 0) {
                rc = fail(std::string("read stdin: ") + std::strerror(errno));
                break;
            }
            if (n == 0) {
                eof = true;
                ::shutdown(fd, SHUT_WR);  // tcp: the library half-closes
                if (timed) until = Clock::now() + seconds(wait);
                continue;
            }
            if (!send_conn(fd, buf.data(), size_t(n))) {
                rc = conn_status(fd);
                if (!rc) rc = fail(std::string("send: ") + std::strerror(errno));
                break;
            }
        }
    }
    if (devip_close(fd) < 0 && !rc && !g_stop) rc = fail_lib();
    return rc;
}

// One call handed out by listen: its ctl handle, data fd and directory.
struct Call {
    int ctl = -1;             // devip_listen's handle
    int fd = -1;              // devip_accept's data fd; -1 once ended
    std::string dir;          // /net/udp/N
    DevipConnInfo info{};     // local and remote
};

// Waits in listen for calls, one after another, handing each to take(). Ends at g_stop, on
// an error (reported, and rc set) or after the first call with once. The call's local and
// remote are read only when verbose or info asks for them (a round trip per call).
class Listener {
public:
    template <class F>
    Listener(std::string dir, bool once, bool verbose, bool info, F take)
        : dir_(std::move(dir)), once_(once), verbose_(verbose), info_(info || verbose),
          take_(take) {
        th_ = std::thread([this] { run(); });
    }
    ~Listener() { stop(); }

    // Ends the thread: a listen started just before g_stop was seen is caught by the next
    // round of flushes.
    void stop() {
        if (!th_.joinable()) return;
        while (!done_) {
            devip_interrupt();
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        th_.join();
    }
    int rc() const { return rc_; }

private:
    void run() {
        while (!g_stop) {
            auto call = std::make_unique<Call>();
            char nd[DEVIP_DIRLEN];
            call->ctl = devip_listen(dir_.c_str(), nd);
            if (call->ctl >= 0) {
                call->dir = nd;
                call->fd = devip_accept(call->ctl, nd);
                if (call->fd < 0) devip_closectl(call->ctl);
            }
            if (call->ctl < 0 || call->fd < 0) {
                if (!g_stop && std::string(devip_errstr()) != kInterrupted) rc_ = fail_lib();
                g_stop = true;
                break;
            }
            if (info_) devip_conninfo(nd, &call->info);
            if (verbose_)
                std::fprintf(stderr, "ipctl: call %s from %s\n", nd, call->info.remote);
            // The call lives on its data alone (whoever copies it holds the conversation
            // open): its ctl goes while the taker already serves it, so that the
            // conversation closes as soon as the data ends.
            int ctl = call->ctl;
            call->ctl = -1;
            take_(std::move(call));
            devip_closectl(ctl);
            if (once_) break;
        }
        done_ = true;
        wake();
    }

    std::string dir_;
    bool once_, verbose_, info_;
    std::function<void(std::unique_ptr<Call>)> take_;
    std::atomic<int> rc_{0};
    std::atomic<bool> done_{false};
    std::thread th_;
};

int announce_opts(const Args& a, long& limit) {
    if (!dial_opts(a) || !get_int(a, 'n', 1, 1L << 40, limit)) return kExitUsage;
    return 0;
}

// announce, and listen without a command: every call's data to stdout, stdin to the
// latest call.
int cmd_announce(Client&, const Args& a) {
    long limit = 0;
    if (int r = announce_opts(a, limit)) return r;
    bool once = a.has('1'), verbose = a.has('v');
    if (devip_connect(g_sock.c_str(), g_stack) < 0) return fail_lib();
    char dir[DEVIP_DIRLEN];
    int actl = devip_announce(a.pos[0].c_str(), dir);
    if (actl < 0) return fail_lib();
    if (verbose) std::fprintf(stderr, "ipctl: announce: %s\n", dir);

    std::mutex mu;
    std::vector<std::unique_ptr<Call>> incoming;  // taken by the listener, not yet polled
    std::vector<std::unique_ptr<Call>> calls;     // every call so far; the last is current
    Listener l(dir, once, verbose, false, [&](std::unique_ptr<Call> c) {
        std::lock_guard lk(mu);
        incoming.push_back(std::move(c));
        wake();
    });

    std::vector<uint8_t> buf(65536);
    bool eof = false;
    long printed = 0;
    int rc = 0;
    while (!g_stop) {
        {
            std::lock_guard lk(mu);
            for (auto& c : incoming) calls.push_back(std::move(c));
            incoming.clear();
        }
        std::vector<pollfd> fds = {{eof ? -1 : 0, POLLIN, 0}};
        for (auto& c : calls) fds.push_back({c->fd, POLLIN, 0});
        wait_fds(fds, Clock::time_point::max());
        for (size_t i = 0; i < calls.size() && !g_stop; i++) {
            Call& c = *calls[i];
            if (c.fd < 0 || !fds[i + 1].revents) continue;
            ssize_t n = ::recv(c.fd, buf.data(), buf.size(), 0);
            if (n <= 0) {  // hung up or failed: with -1, the end
                if (int r = conn_status(c.fd)) rc = r;
                devip_close(c.fd);
                if (c.ctl >= 0) devip_closectl(c.ctl);
                c.fd = -1;
                if (once) g_stop = true;
                continue;
            }
            if (!put_fd(1, std::string_view(reinterpret_cast<char*>(buf.data()), size_t(n)))) {
                rc = fail(std::string("write stdout: ") + std::strerror(errno));
                g_stop = true;
            }
            if (limit && ++printed >= limit) g_stop = true;
        }
        if (g_stop || eof || !fds[0].revents) continue;
        ssize_t n = read_fd(0, buf);
        if (n <= 0) {
            eof = true;  // a server keeps serving without input
            continue;
        }
        Call* cur = nullptr;
        for (auto& c : calls)
            if (c->fd >= 0) cur = c.get();
        if (!cur) {
            std::fprintf(stderr, "ipctl: announce: no call yet; input dropped\n");
            continue;
        }
        if (!send_conn(cur->fd, buf.data(), size_t(n))) fail(std::string(devip_errstr()));
    }
    g_stop = true;
    l.stop();
    if (l.rc()) rc = l.rc();
    for (auto& c : calls) {
        if (c->fd >= 0) {
            devip_close(c->fd);
            if (c->ctl >= 0) devip_closectl(c->ctl);
        }
    }
    devip_closectl(actl);
    return rc;
}
// The running configuration (/net/config) on stdout: a file devipd --config replays. -k
// writes "keys" first, which only the host owner may (open for writing is eve's).
int cmd_save(Client& c, const Args& a) {
    CFid f;
    bool keys = a.has('k');
    if (CErr e = CFid::open(c, "config", keys ? ORDWR : OREAD, f))
        return fail(keys ? "save -k: " + e.text + " (secrets are for the host owner)" : e.text);
    if (keys) {
        if (CErr e = f.write("keys")) return fail(e);
        f.seek(0);
    }
    std::string text;
    if (CErr e = f.read_all(text)) return fail(e);
    if (!put_fd(1, text)) return fail(std::string("write stdout: ") + std::strerror(errno));
    return f.close() ? kExitError : 0;
}

// The environment of a call's command: ours, then net= and remote= (listen(8)).
std::vector<std::string> call_env(const Call& c) {
    std::vector<std::string> env;
    for (char** e = environ; *e; e++) {
        std::string_view v = *e;
        if (!v.starts_with("net=") && !v.starts_with("remote=")) env.emplace_back(v);
    }
    env.push_back("net=" + c.dir);
    env.push_back(std::string("remote=") + c.info.remote);
    return env;
}

// Runs argv with stdin and stdout on the call; returns its pid, or -1 with errno.
pid_t spawn_call(const Call& c, const std::vector<std::string>& argv) {
    std::vector<std::string> env = call_env(c);
    std::vector<char*> av, ev;
    for (const std::string& s : argv) av.push_back(const_cast<char*>(s.c_str()));
    av.push_back(nullptr);
    for (const std::string& s : env) ev.push_back(const_cast<char*>(s.c_str()));
    ev.push_back(nullptr);
    std::string nocmd = "ipctl: listen: cannot run " + argv[0] + "\n";
    pid_t pid = ::fork();
    if (pid != 0) return pid;
    // The child of a threaded process: only async-signal-safe calls until exec.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_UNBLOCK, &all, nullptr);  // ipctl blocks them for sigwait
    if (::dup2(c.fd, 0) < 0 || ::dup2(c.fd, 1) < 0) _exit(127);
    ::execvpe(av[0], av.data(), ev.data());
    [[maybe_unused]] ssize_t n = ::write(2, nocmd.data(), nocmd.size());
    _exit(127);
}

// listen with a command: listen1(8). Each call runs the command in a process of its own,
// concurrently; a thread per call waits for it and releases the call.
int cmd_listen(Client& cl, const Args& a) {
    if (a.pos.size() == 1) return cmd_announce(cl, a);
    long limit = 0;
    if (int r = announce_opts(a, limit)) return r;
    bool once = a.has('1'), verbose = a.has('v');
    std::vector<std::string> argv(a.pos.begin() + 1, a.pos.end());
    if (devip_connect(g_sock.c_str(), g_stack) < 0) return fail_lib();
    char dir[DEVIP_DIRLEN];
    int actl = devip_announce(a.pos[0].c_str(), dir);
    if (actl < 0) return fail_lib();
    if (verbose) std::fprintf(stderr, "ipctl: announce: %s\n", dir);

    static std::atomic<int> status{0};          // the last command's exit status
    static std::atomic<bool> spawn_failed{false};
    Listener l(dir, once, verbose, true, [&argv, once, verbose](std::unique_ptr<Call> c) {
        pid_t pid = spawn_call(*c, argv);
        if (pid < 0) {
            fail(std::string("fork: ") + std::strerror(errno));
            devip_close(c->fd);
            if (c->ctl >= 0) devip_closectl(c->ctl);
            spawn_failed = true;
            return;
        }
        // ipctl keeps its copy of the fd so that, once the command has exited, devip_close
        // can wait until its last writes have reached devipd (-1 exits right after).
        std::thread([once, verbose, pid, fd = c->fd, ctl = c->ctl] {
            int st = 0;
            while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
            }
            devip_close(fd);
            if (ctl >= 0) devip_closectl(ctl);
            if (verbose) std::fprintf(stderr, "ipctl: listen: pid %d exited %d\n", pid, st);
            status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            if (once) g_stop = true;
            wake();
        }).detach();
    });
    while (!g_stop && !(once && spawn_failed)) {
        std::vector<pollfd> none;
        wait_fds(none, Clock::time_point::max());
    }
    g_stop = true;  // commands still running keep their calls until ipctl exits
    l.stop();
    devip_closectl(actl);
    if (l.rc()) return l.rc();
    if (spawn_failed) return kExitError;
    return once ? int(status) : 0;
}

// ===================================================================== snoop

// pcapng as devipd's capture files give it (rte_pcapng, host byte order): blocks of
// type, total length, body, total length again.
constexpr uint32_t kPngIsb = 5;            // interface statistics block
constexpr uint32_t kPngEpb = 6;            // enhanced packet block
constexpr uint16_t kIsbIfdrop = 5;         // isb_ifdrop option: packets dropped (u64)

uint32_t get32le(const std::string& b, size_t at) {
    uint32_t v;
    std::memcpy(&v, b.data() + at, 4);
    return v;
}

// The isb_ifdrop of an interface statistics block (0 when it has none).
uint64_t isb_drops(const std::string& b, size_t at, uint32_t len) {
    for (size_t o = at + 20; o + 4 <= at + len - 4;) {
        uint16_t code, olen;
        std::memcpy(&code, b.data() + o, 2);
        std::memcpy(&olen, b.data() + o + 2, 2);
        if (code == 0) break;
        if (code == kIsbIfdrop && olen == 8 && o + 12 <= at + len) {
            uint64_t v;
            std::memcpy(&v, b.data() + o + 4, 8);
            return v;
        }
        o += 4 + ((olen + 3u) & ~3u);
    }
    return 0;
}

// -i IFC: etherN (a port) or ipifc/N or N (an interface), with or without /net.
std::string capture_path(std::string ifc) {
    std::string_view v = net_relative(ifc);
    while (!v.empty() && v.back() == '/') v.remove_suffix(1);
    bool digits = !v.empty() && v.find_first_not_of("0123456789") == std::string_view::npos;
    if (digits) return "ipifc/" + std::string(v) + "/capture";
    if (v.starts_with("ether") || v.starts_with("ipifc/")) return std::string(v) + "/capture";
    return {};
}

// The state of one snoop: the bytes not yet split into blocks, what has been counted.
struct Snoop {
    int out = 1;                 // where the pcapng goes
    long count = 0;              // -c: packets to pass on (0: until a signal)
    uint64_t packets = 0;        // packet blocks passed on
    uint64_t drops = 0;          // from the statistics blocks
    bool stopping = false;       // "stop" written: only the end is still to come
    std::string buf;             // bytes read and not yet a whole block

    // Passes on every whole block in buf; false when the output fails.
    bool blocks() {
        size_t at = 0;
        bool ok = true;
        while (ok && buf.size() - at >= 12) {
            uint32_t type = get32le(buf, at), len = get32le(buf, at + 4);
            if (len < 12 || len % 4) return false;  // not pcapng: give up on it
            if (buf.size() - at < len) break;
            bool pass = true;
            if (type == kPngEpb) {
                pass = !stopping || count == 0;
                if (pass && count && long(packets) >= count) pass = false;
                if (pass) packets++;
            } else if (type == kPngIsb) {
                drops += isb_drops(buf, at, len);
            }
            if (pass) ok = put_fd(out, std::string_view(buf).substr(at, len));
            at += len;
        }
        buf.erase(0, at);
        return ok;
    }
};

int cmd_snoop(Client& c, const Args& a) {
    Snoop sn;
    long snap = 0;
    if (!get_int(a, 'c', 1, 1L << 40, sn.count) || !get_int(a, 's', 0, 65535, snap))
        return kExitUsage;
    std::string path = capture_path(a.has('i') ? a.opt.at('i') : "ether0");
    if (path.empty()) return fail("snoop: -i wants etherN, ipifc/N or N, not " + a.opt.at('i'));
    if (a.has('w')) {
        sn.out = ::open(a.opt.at('w').c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (sn.out < 0) return fail("snoop: " + a.opt.at('w') + ": " + std::strerror(errno));
    } else if (::isatty(1)) {
        return fail("snoop: pcapng is binary: give -w FILE or redirect stdout (| tshark -r -)");
    }
    CFid f;
    if (CErr e = CFid::open(c, path, ORDWR, f)) return fail("snoop: " + path + ": " + e.text);
    if (a.has('s'))
        if (CErr e = f.write("snaplen " + std::to_string(snap))) return fail("snoop: " + e.text);
    std::string expr;
    for (const std::string& w : a.pos) expr += (expr.empty() ? "" : " ") + w;
    if (!expr.empty())
        if (CErr e = f.write("filter " + expr)) return fail("snoop: " + e.text);
    int rc = 0;
    for (;;) {
        bool want_stop = !sn.stopping && (g_stop || (sn.count && long(sn.packets) >= sn.count));
        if (want_stop) {
            sn.stopping = true;
            if (CErr e = f.write("stop")) {
                rc = fail("snoop: stop: " + e.text);
                break;
            }
        }
        std::string chunk;
        CErr e = f.read(chunk);
        if (e && e.text == kInterrupted && !sn.stopping) continue;  // a signal: stop, drain
        if (e) {
            rc = fail("snoop: " + e.text);
            break;
        }
        if (chunk.empty()) break;  // the capture has ended
        sn.buf += chunk;
        if (!sn.blocks()) {
            rc = fail(std::string("snoop: write: ") + std::strerror(errno));
            break;
        }
    }
    std::fprintf(stderr, "%lu packets captured, %lu dropped\n", (unsigned long)sn.packets,
                 (unsigned long)sn.drops);
    if (sn.out != 1) ::close(sn.out);
    f.close();
    return rc;
}

// ===================================================================== mount

int cmd_mount(Client& c, const Args& a) {
#ifdef DEVIP_FUSE
    std::string o = a.has('o') ? a.opt.at('o') : "";
    return mount_net(c, a.pos[0], o, a.has('d'));
#else
    return fail("mount: ipctl was built without libfuse3");
#endif
}

// ===================================================================== the command table

struct Command {
    const char* name;
    const char* spec;      // option letters, getopt style
    size_t min_args;       // positional words required
    size_t max_args;       // positional words allowed (SIZE_MAX: any)
    const char* synopsis;  // after "ipctl [-s SOCKET] [-n STACK] "
    const char* help;      // what it does and its options
    bool graceful;         // handles signals itself (g_stop) instead of exiting at once
    int (*run)(Client&, const Args&);
    bool (*check)(const Args&);  // validates the options before connecting (may be null)
};

constexpr size_t kAny = SIZE_MAX;

constexpr Command kCommands[] = {
    {"ls", "l", 0, kAny, "ls [-l] [PATH...]",
     "List directories (entries in the server's order, each as PATH/NAME) or name files.\n"
     "With no PATH, lists /net.\n"
     "  -l   long form: mode, owner, group, length, name\n",
     false, cmd_ls},
    {"cat", "", 1, kAny, "cat PATH...",
     "Copy each file to stdout, reading until end of file. Reads of data, err, listen\n"
     "and log files block in the server until something arrives.\n",
     false, cmd_cat},
    {"write", "tp", 1, kAny, "write [-t] [-p] PATH [MESSAGE...]",
     "Write to a file. With MESSAGE, the words joined by single spaces are written in\n"
     "one write (no newline added). Without, each line of stdin (newline included) is\n"
     "one write; blank lines and lines starting with # are skipped; the first error stops.\n"
     "  -t   open with OTRUNC (e.g. to replace /net/ndb)\n"
     "  -p   pipeline the stdin writes (up to 4096 in flight): much faster for bulk loads\n"
     "       such as a routing table; every error names its line, the first stops the\n"
     "       reading, and lines already sent after it may have been applied\n",
     false, cmd_write},
    {"save", "kn:", 0, 0, "save [-k] [-n STACK]",
     "Print the running configuration of the stack (/net/config) as a file that\n"
     "devipd --config replays: interfaces with their settings and addresses, routes\n"
     "that are not derived (no interface or self routes, nothing learned from router\n"
     "advertisements), the neighbour entries written to /net/arp, the /net/ndb text.\n"
     "  -k        include secrets (host owner only; none exist yet: ESP keys later)\n"
     "  -n STACK  the stack to save (as ipctl -n); devipd --config applies to stack 0\n",
     false, cmd_save},
    {"stat", "", 1, kAny, "stat PATH...",
     "Print a file's directory entry: name, qid.path (hex), qid.vers, qid.type (hex),\n"
     "mode (octal), length, uid, gid, muid, atime, mtime, type, dev; one per line.\n",
     false, cmd_stat},
    {"ping", "c:i:s:w:", 1, 1, "ping [-c COUNT] [-i SECONDS] [-s SIZE] [-w SECONDS] ADDR",
     "Send ICMP echo requests through /net/icmp (/net/icmpv6 for an address with ':' or\n"
     "an icmpv6! prefix) and report replies as Plan 9's ping does. Exit status 0 if any\n"
     "reply came back, 1 if none.\n"
     "  -c COUNT    echoes to send (default 3)\n"
     "  -i SECONDS  interval between echoes, fractions allowed (default 1)\n"
     "  -s SIZE     ICMP payload bytes after the 8-byte ICMP header (default 56)\n"
     "  -w SECONDS  how long to wait for replies after the last echo (default 1)\n",
     true, cmd_ping,
     [](const Args& a) {
         PingOpts o;
         return ping_opts(a, o);
     }},
    {"dial", "l:vw:", 1, 1, "dial [-v] [-l LOCAL] [-w SECONDS] PROTO!ADDR!PORT",
     "Dial ADDR!PORT (dial(3): clone /net/PROTO, connect) and copy stdin to the\n"
     "connection while copying the connection to stdout. For a datagram protocol (udp)\n"
     "each read of stdin is one datagram and each datagram is printed as it comes. At\n"
     "end of stdin the connection is half-closed (tcp: `shutdown`) and the output goes\n"
     "on until the peer closes it, or, for udp, for -w seconds. Exit status 0 on a clean\n"
     "end, 1 with the error (e.g. \"port unreachable\") on stderr otherwise.\n"
     "  -l LOCAL    local address: connect ADDR!PORT LOCAL\n"
     "  -w SECONDS  how long to keep reading after end of stdin (udp default 1; tcp:\n"
     "              until the peer closes unless given)\n"
     "  -v          print the conversation directory on stderr\n",
     true, cmd_dial, dial_opts},
    {"announce", "1n:v", 1, 1, "announce [-1v] [-n COUNT] PROTO!ADDR!PORT",
     "Announce ADDR!PORT (ADDR may be *), then accept calls through listen and copy\n"
     "every call's data to stdout. Stdin is copied to the most recent call (so replies\n"
     "work); end of stdin does not stop the server. Runs until a signal, or:\n"
     "  -1        take only the first call; exit when it ends (hangup or error)\n"
     "  -n COUNT  exit after COUNT messages (datagrams) have been printed\n"
     "  -v        print the announced directory and each call on stderr\n",
     true, cmd_announce, dial_opts},
    {"listen", "1n:v", 1, kAny, "listen [-1v] [-n COUNT] PROTO!ADDR!PORT [CMD [ARG...]]",
     "Plan 9's listen1: announce ADDR!PORT and, for each call, run CMD with ARGs (no\n"
     "shell; searched in $PATH) with stdin and stdout on the connection and, in its\n"
     "environment, net=/net/PROTO/N (the call's directory) and remote=ADDR!PORT (the\n"
     "caller). Calls are served concurrently, each by its own process; a call ends when\n"
     "its command exits. For udp, one read of stdin is one datagram and one write one\n"
     "reply. Without CMD, listen is announce.\n"
     "  -1        take one call; exit when its command has, with the command's status\n"
     "  -n COUNT  without CMD: as announce's\n"
     "  -v        print the announced directory, each call and each exit on stderr\n",
     true, cmd_listen, dial_opts},
    {"snoop", "c:i:s:w:", 0, kAny, "snoop [-i IFC] [-c COUNT] [-s SNAPLEN] [-w FILE] [FILTER...]",
     "Capture the packets received and sent on a port or an interface as pcapng, on\n"
     "stdout (for tshark -r - or a file) or in FILE. Reads /net/etherN/capture or\n"
     "/net/ipifc/N/capture (host owner, or the interface's owner). FILTER is tcpdump's\n"
     "syntax (pcap-filter(7)), its words joined by spaces, compiled by devipd and run on\n"
     "its workers, so only matching packets are copied. Ends after COUNT packets or at a\n"
     "signal, then prints \"N packets captured, M dropped\" on stderr: M counts what the\n"
     "capture lost because it could not keep up (its copy pool, ring or buffer was full).\n"
     "  -i IFC      etherN (a DPDK port), ipifc/N or N (that interface's port); default\n"
     "              ether0\n"
     "  -c COUNT    stop after COUNT packets\n"
     "  -s SNAPLEN  bytes kept of each packet (default and most: 2048)\n"
     "  -w FILE     write the pcapng to FILE instead of stdout\n",
     true, cmd_snoop},
    {"mount", "do:", 1, 1, "mount [-d] [-o OPTIONS] MOUNTPOINT",
     "Mount devipd's /net (the stack given by -n) on MOUNTPOINT through FUSE and serve it\n"
     "until unmounted (fusermount3 -u MOUNTPOINT) or a signal. Every open is one 9P fid;\n"
     "I/O is direct and uncached (files report length 0), so cat, echo, ls and shell\n"
     "redirections work as on Plan 9. A read that waits (data, listen, log) blocks only\n"
     "its process; interrupting it (a signal) sends Tflush. A failed operation fails with\n"
     "an errno (EACCES, ENOENT, EADDRINUSE, ECONNREFUSED ... where the Plan 9 text has a\n"
     "counterpart, else EINVAL for a write and EIO for the rest) and the Plan 9 text\n"
     "is printed on ipctl's stderr as \"ipctl: mount: pid P: OP PATH: TEXT\" and kept as\n"
     "the file's attribute user.errstr (getfattr -n user.errstr FILE).\n"
     "  -o OPTIONS  FUSE mount options, comma separated; allow_other lets every local\n"
     "              user in, all with the mounter's 9P identity (see ipctl(1))\n"
     "  -d          FUSE debug output on stderr\n",
     true, cmd_mount},
};

const Command* find_command(std::string_view name) {
    for (const Command& c : kCommands)
        if (name == c.name) return &c;
    return nullptr;
}

void usage_top(FILE* f) {
    std::fprintf(f,
                 "usage: ipctl [-s SOCKET] [-n STACK] COMMAND [ARGS...]\n"
                 "Reads and writes devipd's /net tree over 9P. Paths may omit /net.\n"
                 "  -s SOCKET  devipd's 9P socket (default $DEVIP_SOCKET, else %s)\n"
                 "  -n STACK   stack number to attach (default 0)\n"
                 "commands:\n",
                 kDefaultSocket);
    for (const Command& c : kCommands) std::fprintf(f, "  %s\n", c.synopsis);
    std::fprintf(f, "'ipctl COMMAND --help' describes a command.\n");
}

void usage_cmd(FILE* f, const Command& c) {
    std::fprintf(f, "usage: ipctl [-s SOCKET] [-n STACK] %s\n%s", c.synopsis, c.help);
}

int run(int argc, char** argv) {
    Args top;
    if (std::string e = parse_args(argc, argv, 1, "s:n:", top); !e.empty()) {
        std::fprintf(stderr, "ipctl: %s\n", e.c_str());
        usage_top(stderr);
        return kExitUsage;
    }
    if (top.help || top.pos.empty() || top.pos[0] == "help") {
        const Command* c = top.pos.size() > 1 ? find_command(top.pos[1]) : nullptr;
        if (c) {
            usage_cmd(stdout, *c);
            return 0;
        }
        usage_top(top.pos.empty() && !top.help ? stderr : stdout);
        return top.pos.empty() && !top.help ? kExitUsage : 0;
    }
    const Command* cmd = find_command(top.pos[0]);
    if (!cmd) {
        std::fprintf(stderr, "ipctl: unknown command %s\n", top.pos[0].c_str());
        usage_top(stderr);
        return kExitUsage;
    }
    int at = argc - int(top.pos.size()) + 1;  // argv index of the command's first word
    Args a;
    if (std::string e = parse_args(argc, argv, at, cmd->spec, a); !e.empty()) {
        std::fprintf(stderr, "ipctl: %s: %s\n", cmd->name, e.c_str());
        usage_cmd(stderr, *cmd);
        return kExitUsage;
    }
    if (a.help) {
        usage_cmd(stdout, *cmd);
        return 0;
    }
    if (a.pos.size() < cmd->min_args || a.pos.size() > cmd->max_args) {
        usage_cmd(stderr, *cmd);
        return kExitUsage;
    }
    if (cmd->check && !cmd->check(a)) return kExitUsage;

    std::string sock = kDefaultSocket;
    if (const char* env = std::getenv("DEVIP_SOCKET"); env && *env) sock = env;
    if (top.has('s')) sock = top.opt['s'];
    std::string stack = top.has('n') ? top.opt['n'] : "";
    if (cmd->run == cmd_save && a.has('n')) stack = a.opt.at('n');
    g_sock = sock;
    g_stack = stack.empty() ? 0 : std::atoi(stack.c_str());

    // Never destroyed: the signal thread may use it until the process has gone. Files are
    // clunked by the commands; the connection closes with the process.
    Client& c = *new Client;
    if (!watch_signals(c)) return fail(std::string("pipe: ") + std::strerror(errno));
    g_graceful = cmd->graceful;
    if (CErr e = c.dial(sock)) return fail(e);
    if (CErr e = c.attach(stack)) return fail(e);
    return cmd->run(c, a);
}

}  // namespace
}  // namespace devip::ctl

int main(int argc, char** argv) { return devip::ctl::run(argc, argv); }
