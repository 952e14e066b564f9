// devipd: the composition root. EAL arguments first, then "--", then devipd's own options.
// Starts the workers, serves /net over 9P on a UNIX socket from the main lcore, and applies
// a configuration file (a sequence of /net writes) at start.
#include <signal.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "control/capture.h"
#include "control/metrics.h"
#include "control/srv.h"
#include "control/tree.h"
#include "dataplane/capture.h"
#include "dataplane/dataplane.h"
#include "proto/dlog.h"
#include "proto/stack.h"

#include <rte_eal.h>

namespace {

using namespace devip;
using proto::dlog::Level;
using proto::dlog::msg;

volatile sig_atomic_t g_stop = 0;
uint32_t g_tcp_scale = 1;  // --tcp-timer-scale
void on_signal(int) { g_stop = 1; }

const char kUsage[] =
    "usage: devipd [EAL options --] [--socket PATH] [--config FILE] [--workers N]\n"
    "              [--tcp-timer-scale N] [--metrics [ADDR:]PORT] [--log-level LEVEL]\n"
    "              [--log stderr|syslog] [--idle sleep|poll]\n"
    "\n"
    "Plan 9's ip(3) /net served over 9P2000 on a UNIX socket, on DPDK ports.\n"
    "\n"
    "EAL options come first and end with \"--\" (e.g. --vdev=net_tap0,iface=dtap0).\n"
    "Without them devipd uses -l 0,1, and --no-huge -m 1024 when no hugetlbfs is mounted.\n"
    "\n"
    "  --socket PATH   9P socket (default /run/devip/net.sock; env DEVIP_SOCKET)\n"
    "  --config FILE   apply FILE at start: one \"PATH MESSAGE\" write per line, '#' comments\n"
    "  --workers N     worker lcores when no EAL lcore option is given (default 1)\n"
    "  --fib-routes N  IPv4 routes the forwarding table is sized for (default 65536): it\n"
    "                  takes N/16 groups of 1 KB for routes longer than /24 (at least 4096)\n"
    "  --fib6-routes N IPv6 routes the forwarding table is sized for (default 16384): 4N\n"
    "                  groups of 1 KB (at least 16384); both tables are made when iprouting\n"
    "                  is first turned on and use memory only as routes fill them\n"
    "  --metrics [ADDR:]PORT  serve Prometheus metrics at http://ADDR:PORT/metrics (ADDR\n"
    "                  defaults to 127.0.0.1, in devipd's network namespace; [V6ADDR]:PORT)\n"
    "  --tcp-timer-scale N  divide every TCP timer and give-up period by N (tests: a\n"
    "                  connection times out in seconds, not minutes; default 1)\n"
    "  --log-level L   devipd's own messages: error, warn, info (default) or debug\n"
    "  --log SINK      stderr (default) or syslog (daemon facility); /net/log is separate\n"
    "  --idle MODE     sleep (default): idle workers sleep on rx interrupts (or naps) and\n"
    "                  wake for packets and requests; poll: they spin, a CPU each\n"
    "  --help          this text\n";

// The capture files' view of the workers' capture (dataplane/capture.h).
class DpCapture final : public ctl::CaptureIo {
public:
    explicit DpCapture(dp::Capture& c) : c_(c) {}
    proto::Result<int> open(uint16_t port) override { return c_.open(port); }
    proto::Err filter(int id, std::string_view e) override { return c_.filter(id, e); }
    proto::Err snaplen(int id, uint32_t n) override { return c_.snaplen(id, n); }
    proto::Err start(int id, const std::string& c) override { return c_.start(id, c); }
    bool running(int id) const override { return c_.running(id); }
    void stop(int id) override { c_.stop(id); }
    R read(int id, uint32_t count, std::string& out) override {
        return R(int(c_.read(id, count, out)));
    }
    const void* key(int id) const override { return c_.key(id); }
    void close(int id) override { c_.close(id); }
private:
    dp::Capture& c_;
};

// The stack's view of the packet machinery.
class DpNetio final : public proto::Netio {
public:
    DpNetio(dp::Dataplane& d, const dp::Capture& c) : d_(d), cap_(c) {
        for (auto& p : d.ports()) ports_.push_back({p.name, p.mac, p.driver, p.mtu});
    }
    int nports() const override { return int(ports_.size()); }
    const proto::PortInfo& port(int i) const override { return ports_[size_t(i)]; }
    void tx(uint16_t port, std::span<const uint8_t> f) override { d_.tx(port, f); }
    void publish(const proto::FastTable& t) override { d_.publish(t); }
    void fast_stats(int s, proto::FastStats& out) const override { d_.fast_stats(s, out); }
    void port_counts(uint16_t p, uint64_t& in, uint64_t& out) const override {
        d_.port_counts(p, in, out);
    }
    void port_stats(uint16_t p, proto::Text& out) const override {
        out.put(d_.port_stats(p));
        std::string caps;  // one line per capture of the port
        cap_.stats_text(p, caps);
        out.put(caps);
    }
    void set_promisc(uint16_t p, bool on) override { d_.set_promisc(p, on); }
    void add_mcast(uint16_t p, const proto::Ether& m, bool add) override {
        d_.add_mcast(p, m, add);
    }
    rte_rcu_qsbr* qsbr() const override { return d_.qsbr(); }
    int workers() const override { return d_.workers(); }
    int owner_of(uint16_t port, const proto::Ipaddr& a, const proto::Ipaddr& b, uint16_t pa,
                 uint16_t pb) const override {
        return d_.owner_of(port, a, b, pa, pb);
    }
    int flow_owner(const proto::Ipaddr& a, const proto::Ipaddr& b, uint16_t pa,
                   uint16_t pb) const override {
        return d_.flow_owner(a, b, pa, pb);
    }
    void tcp_stats(int stack, proto::TcpStats& out) const override { d_.tcp_stats(stack, out); }
    void tun_stats(int slot, proto::TunStats& out) const override { d_.tun_stats(slot, out); }
    bool request(const proto::MsgHdr& h, std::span<const uint8_t> data, int w) override {
        return d_.request(h, data, w);
    }
    void retire(std::function<void()> fn) override { d_.retire(std::move(fn)); }
private:
    dp::Dataplane& d_;
    const dp::Capture& cap_;
    std::vector<proto::PortInfo> ports_;
};

// Timers (ARP and ND retransmissions, router advertisements, reassembly, FIB commits) run on
// this tick; nothing that answers a packet or a client waits for it.
constexpr uint64_t kTickMs = 10;
// How long the loop keeps polling after it last had something to do.
constexpr auto kSpin = std::chrono::microseconds(200);
// What the metrics page needs from the packet machinery.
class DpMetrics final : public ctl::MetricsSource {
public:
    explicit DpMetrics(const dp::Dataplane& d) : d_(d) {}
    std::vector<ctl::PortMetrics> ports() const override {
        std::vector<ctl::PortMetrics> v;
        for (auto& p : d_.ports()) {
            dp::Dataplane::EthCounters e{};
            d_.eth_counters(p.id, e);
            v.push_back({p.name, e.ipackets, e.opackets, e.ibytes, e.obytes, e.ierrors,
                         e.oerrors, e.imissed, e.rx_nombuf});
        }
        return v;
    }
    std::vector<ctl::WorkerMetrics> workers() const override {
        std::vector<ctl::WorkerMetrics> v;
        for (auto& w : d_.worker_stats())
            v.push_back({w.loops, w.naps, w.rx, w.tx, w.punted, w.punt_drops, w.tx_drops});
        return v;
    }
    uint64_t mbufs_in_use() const override { return d_.mbufs_in_use(); }
    uint64_t mbufs_total() const override { return d_.mbufs_total(); }
    uint64_t control_tx_drops() const override { return d_.control_tx_drops(); }
private:
    const dp::Dataplane& d_;
};

uint64_t now_ms() {
    using namespace std::chrono;
    return uint64_t(duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
}

// A config file: "PATH MESSAGE" per line; blank lines and '#' comments are skipped. MESSAGE
// starts after the blank that ends PATH (ctl messages are tokenized anyway; ndb lines keep
// their leading tabs). /net/ndb lines build the ndb text: the first truncates it, each adds
// its MESSAGE and a newline. A write to a clone file keeps its conversation open until the
// whole file is applied (as an rc script's `<>` would), so later lines reach it by number:
// the ESP SAs of a tunnel interface are made, keyed and bound in one file.
bool apply_config(ctl::Tree& tree, const char* file) {
    std::ifstream in(file);
    if (!in) {
        msg(Level::Error, "%s: %s", file, strerror(errno));
        return false;
    }
    std::vector<ctl::Fid> held;  // clone writes' conversations, released at the end
    struct Release {
        ctl::Tree& t;
        std::vector<ctl::Fid>& v;
        ~Release() {
            for (auto& f : v) t.clunk(f);
        }
    } release{tree, held};
    std::string line;
    uint64_t ndb = 0;      // bytes of ndb text this file has written
    bool ndb_seen = false;
    for (int n = 1; std::getline(in, line); n++) {
        size_t b = line.find_first_not_of(" \t");
        if (b == std::string::npos || line[b] == '#') continue;
        line = line.substr(b);
        while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
            line.pop_back();
        size_t sp = line.find_first_of(" \t");
        std::string path = line.substr(0, sp);
        std::string m = sp == std::string::npos ? "" : line.substr(sp + 1);
        proto::Err e;
        if (path == "/net/ndb" || path == "ndb") {
            m += '\n';
            e = tree.config_write(0, path, m, ndb, !ndb_seen);
            ndb += m.size();
            ndb_seen = true;
        } else {
            e = tree.config_write(0, path, m, 0, false, &held);
        }
        if (e) {
            msg(Level::Error, "%s:%d: %s: %s", file, n, path.c_str(), e.text);
            return false;
        }
        msg(Level::Debug, "%s:%d: %s %s", file, n, path.c_str(), m.c_str());
    }
    msg(Level::Info, "applied %s", file);
    return true;
}

// Runs devipd on an initialised EAL until a signal; returns the exit status. Everything it
// creates (the dataplane, the stacks and their FIBs in EAL memory) is destroyed on return,
// before EAL is cleaned up.
int serve(const std::string& sock, const char* config, uint32_t fib_routes,
          uint32_t fib6_routes, const ctl::HttpAddr* metrics, bool idle_sleep) {
    dp::Capture cap;  // before the dataplane: its retired callbacks may use it until the end
    dp::Dataplane dplane;
    dplane.set_idle_sleep(idle_sleep);
    if (proto::Err e = dplane.init()) {
        msg(Level::Error, "%s", e.text);
        return 1;
    }
    if (proto::Err e = cap.init(dplane.workers(),
                                [&](std::function<void()> fn) { dplane.retire(std::move(fn)); })) {
        msg(Level::Error, "%s", e.text);
        return 1;
    }
    DpNetio io(dplane, cap);
    proto::Net net(&io);
    if (fib_routes) net.fib_routes = fib_routes;
    if (fib6_routes) net.fib6_routes = fib6_routes;
    net.now_ms = now_ms();
    net.rng ^= uint64_t(getpid()) << 20 ^ net.now_ms;
    net.tcp_scale = g_tcp_scale;
    dplane.tcp_config(g_tcp_scale, net.tcp_key.data());
    net.stack(0);
    ctl::Tree tree(net);
    DpCapture capio(cap);
    tree.set_capture(&capio);
    dplane.start();

    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);

    int rc = 0;
    ctl::Server srv(tree);
    DpMetrics dpm(dplane);
    ctl::MetricsHttp http(srv, [&] { return ctl::metrics_text(net, dpm); });
    proto::Err merr = metrics ? http.listen(*metrics) : proto::ok;
    if (merr) {
        msg(Level::Error, "%s", merr.text);
        rc = 1;
        g_stop = 1;
    } else if (config && !apply_config(tree, config)) {
        rc = 1;
        g_stop = 1;
    } else if (proto::Err e = srv.listen(sock)) {
        msg(Level::Error, "%s: %s", sock.c_str(), e.text);
        rc = 1;
        g_stop = 1;
    } else {
        if (metrics) msg(Level::Info, "metrics on http://%s/metrics", http.where().c_str());
        printf("devipd: %zu port(s), %d worker(s), serving /net on %s\n", dplane.ports().size(),
               dplane.workers(), sock.c_str());
        fflush(stdout);
    }
    // The loop sleeps in epoll until a client speaks, a worker punts (it signals the wake-up
    // eventfd), or the next timer tick is due; punted frames are served at once, not on a tick.
    if (!srv.watch(dplane.wake_fd(), EPOLLIN, [&](uint32_t) { dplane.woken(); })) {
        fprintf(stderr, "devipd: cannot watch the wake-up eventfd\n");
        g_stop = 1;
        rc = 1;
    }
    uint64_t next_tick = now_ms();
    auto busy_until = std::chrono::steady_clock::now();
    while (!g_stop) {
        uint64_t now = now_ms();
        int timeout = next_tick > now ? int(next_tick - now) : 0;
        if (dplane.retiring()) timeout = std::min(timeout, 1);  // grace periods end soon
        // Right after work, poll instead of sleeping for a while: the answer to what we just
        // sent (a client's next request, a worker's completion) usually comes within it, and
        // a sleep and wake-up would cost more than the wait.
        if (std::chrono::steady_clock::now() < busy_until) timeout = 0;
        if (timeout && dplane.sleep_prepare()) timeout = 0;
        int ready = srv.poll(timeout);
        dplane.awake();
        net.now_ms = now_ms();
        size_t got = dplane.drain(
            [&](uint16_t port, std::span<const uint8_t> f) { net.input(port, f); },
            [&](const proto::MsgHdr& h, std::span<const uint8_t> d) { net.completion(h, d); });
        // capture copies: at least once a tick (the workers do not wake us for them)
        cap.drain([&](const void* k) { net.ready.kick(k); });
        if (ready || got) busy_until = std::chrono::steady_clock::now() + kSpin;
        if (net.now_ms >= next_tick) {
            net.tick(net.now_ms);
            next_tick = net.now_ms + kTickMs;
        }
        dplane.reclaim();
        srv.retry_parked();
    }
    net.stop_advertising();  // final router advertisements while the ports still send
    srv.shutdown();
    dplane.stop();
    return rc;
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(kUsage, stdout);
            return 0;
        }
    int used = 1;
    std::vector<std::string> eal = dp::eal_args(argc, argv, &used);
    std::string sock = getenv("DEVIP_SOCKET") ? getenv("DEVIP_SOCKET") : "/run/devip/net.sock";
    const char* config = nullptr;
    int workers = 0;
    uint32_t fib_routes = 0, fib6_routes = 0;
    ctl::HttpAddr metrics;
    bool want_metrics = false;
    bool idle_sleep = true;
    for (int i = used; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--socket" && i + 1 < argc) {
            sock = argv[++i];
        } else if (a == "--config" && i + 1 < argc) {
            config = argv[++i];
        } else if (a == "--workers" && i + 1 < argc) {
            workers = atoi(argv[++i]);
        } else if (a == "--fib-routes" && i + 1 < argc) {
            fib_routes = uint32_t(strtoul(argv[++i], nullptr, 0));
        } else if (a == "--tcp-timer-scale" && i + 1 < argc) {
            long v = strtol(argv[++i], nullptr, 10);
            if (v < 1 || v > 1000) {
                msg(Level::Error, "bad --tcp-timer-scale %s (1 to 1000)", argv[i]);
                return 2;
            }
            g_tcp_scale = uint32_t(v);
        } else if (a == "--fib6-routes" && i + 1 < argc) {
            fib6_routes = uint32_t(strtoul(argv[++i], nullptr, 0));
        } else if (a == "--metrics" && i + 1 < argc) {
            if (proto::Err e = ctl::parse_http_addr(argv[++i], metrics)) {
                msg(Level::Error, "%s", e.text);
                return 2;
            }
            want_metrics = true;
        } else if (a == "--log-level" && i + 1 < argc) {
            if (!proto::dlog::set_level(argv[++i])) {
                msg(Level::Error, "bad log level %s (error, warn, info, debug)", argv[i]);
                return 2;
            }
        } else if (a == "--idle" && i + 1 < argc) {
            std::string m = argv[++i];
            if (m != "sleep" && m != "poll") {
                msg(Level::Error, "bad idle mode %s (sleep, poll)", m.c_str());
                return 2;
            }
            idle_sleep = m == "sleep";
        } else if (a == "--log" && i + 1 < argc) {
            if (!proto::dlog::set_sink(argv[++i])) {
                msg(Level::Error, "bad log sink %s (stderr, syslog)", argv[i]);
                return 2;
            }
        } else {
            msg(Level::Error, "unknown option %s", a.c_str());
            fputs(kUsage, stderr);
            return 2;
        }
    }
    if (workers > 0)  // only when EAL was given no lcore option: rewrite our default
        for (size_t i = 0; i + 1 < eal.size(); i++)
            if (eal[i] == "-l" && (eal[i + 1] == "0,1" || eal[i + 1] == "0")) {
                // lcore i on CPU i mod ncpu: more workers than CPUs still start (shared CPUs)
                long ncpu = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
                std::string map;
                for (int l = 0; l <= workers; l++)
                    map += (l ? "," : "") + std::to_string(l) + "@" + std::to_string(l % ncpu);
                eal[i] = "--lcores=" + map;
                eal.erase(eal.begin() + long(i) + 1);
                break;
            }

    if (proto::Err e = dp::eal_init(eal)) {
        msg(Level::Error, "%s", e.text);
        return 1;
    }
    // our own per-process prefix: nobody else can attach to it, so its runtime directory
    // (/var/run/dpdk/devipPID) goes when we do; a prefix given by the user stays
    std::string rundir;
    if (std::find(eal.begin(), eal.end(), dp::own_file_prefix_arg()) != eal.end())
        rundir = rte_eal_get_runtime_dir();
    // owns everything that lives in EAL memory
    int rc = serve(sock, config, fib_routes, fib6_routes, want_metrics ? &metrics : nullptr,
                   idle_sleep);
    rte_eal_cleanup();
    if (!rundir.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(rundir, ec);
    }
    return rc;
}
