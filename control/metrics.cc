// The metrics page (Prometheus text format 0.0.4: "# HELP", "# TYPE", then one sample per
// line, every sample of a family together) and the HTTP responder that serves it.
#include "control/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <unordered_map>

#include "proto/stack.h"

namespace devip::ctl {

using proto::Err;
using proto::err_text;

namespace {

// ---- the exposition ---------------------------------------------------------------------

// "InHdrErrors" → "in_hdr_errors", "ReasmOKs" → "reasm_oks", "DefaultTTL" → "default_ttl".
std::string snake(std::string_view s) {
    std::string o;
    for (size_t i = 0; i < s.size(); i++) {
        char c = s[i];
        bool upper = c >= 'A' && c <= 'Z';
        if (upper && i && ((s[i - 1] >= 'a' && s[i - 1] <= 'z') || (s[i - 1] >= '0' &&
                                                                    s[i - 1] <= '9')))
            o += '_';
        if (upper) c = char(c - 'A' + 'a');
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        o += ok ? c : '_';
    }
    return o;
}

// A label value: backslash, double quote and newline escaped (the format's rule).
std::string escape(std::string_view v) {
    std::string o;
    for (char c : v) {
        if (c == '\\' || c == '"') o += '\\';
        if (c == '\n') {
            o += "\\n";
            continue;
        }
        o += c;
    }
    return o;
}

struct Label {
    const char* name;   // "stack", "port", ...
    std::string value;  // unescaped
};

// Families in the order first seen, each with its samples.
class Page {
public:
    void counter(const std::string& name, const char* help, std::initializer_list<Label> l,
                 uint64_t v) {
        sample(name, help, "counter", l, v);
    }
    void gauge(const std::string& name, const char* help, std::initializer_list<Label> l,
               uint64_t v) {
        sample(name, help, "gauge", l, v);
    }
    std::string text() const {
        std::string o;
        for (auto& f : fam_) {
            o += "# HELP " + f.name + " " + f.help + "\n# TYPE " + f.name + " " + f.type + "\n";
            o += f.samples;
        }
        return o;
    }

private:
    struct Family {
        std::string name, help;  // the metric's name and its HELP text
        const char* type;        // "counter" or "gauge"
        std::string samples;     // its sample lines so far
    };
    void sample(const std::string& name, const char* help, const char* type,
                std::initializer_list<Label> labels, uint64_t v) {
        auto [it, fresh] = index_.try_emplace(name, fam_.size());
        if (fresh) fam_.push_back({name, help, type, {}});
        std::string& s = fam_[it->second].samples;
        s += name;
        if (labels.size()) {
            s += '{';
            bool first = true;
            for (auto& l : labels) {
                s += (first ? "" : ",") + std::string(l.name) + "=\"" + escape(l.value) + "\"";
                first = false;
            }
            s += '}';
        }
        s += ' ' + std::to_string(v) + '\n';
    }
    std::vector<Family> fam_;                        // in the order first seen
    std::unordered_map<std::string, size_t> index_;  // name → index in fam_
};

void port_metrics(Page& p, const MetricsSource& src) {
    struct Row {
        const char* name;              // after the family prefix, before _total
        const char* help;              // the HELP text
        uint64_t PortMetrics::*field;  // the value
    };
    static constexpr Row kRows[] = {
        {"rx_packets", "Packets received by the port (rte_eth_stats ipackets).",
         &PortMetrics::rx_packets},
        {"tx_packets", "Packets sent by the port (opackets).", &PortMetrics::tx_packets},
        {"rx_bytes", "Bytes received by the port (ibytes).", &PortMetrics::rx_bytes},
        {"tx_bytes", "Bytes sent by the port (obytes).", &PortMetrics::tx_bytes},
        {"rx_errors", "Erroneous packets received (ierrors).", &PortMetrics::rx_errors},
        {"tx_errors", "Packets the port failed to send (oerrors).", &PortMetrics::tx_errors},
        {"rx_dropped", "Packets dropped with the rx ring full (imissed).",
         &PortMetrics::rx_missed},
        {"rx_nombuf", "Receive failures for want of an mbuf (rx_nombuf).",
         &PortMetrics::rx_nombuf},
    };
    std::vector<PortMetrics> ports = src.ports();
    for (auto& r : kRows)
        for (auto& m : ports)
            p.counter(std::string("devip_port_") + r.name + "_total", r.help, {{"port", m.name}},
                      m.*r.field);
}

void worker_metrics(Page& p, const MetricsSource& src) {
    struct Row {
        const char* name;              // after the family prefix, before _total
        const char* help;              // the HELP text
        uint64_t WorkerMetrics::*field;  // the value
    };
    static constexpr Row kRows[] = {
        {"loops", "Poll loops the worker has run.", &WorkerMetrics::loops},
        {"naps", "Idle sleeps and naps the worker has taken.", &WorkerMetrics::naps},
        {"rx_packets", "Packets the worker received.", &WorkerMetrics::rx},
        {"tx_packets", "Packets the worker sent.", &WorkerMetrics::tx},
        {"punts", "Packets the worker handed to the control thread.", &WorkerMetrics::punts},
        {"punt_drops", "Packets dropped with the punt ring full.", &WorkerMetrics::punt_drops},
        {"tx_drops", "Packets dropped with the tx queue full.", &WorkerMetrics::tx_drops},
    };
    std::vector<WorkerMetrics> ws = src.workers();
    for (auto& r : kRows)
        for (size_t w = 0; w < ws.size(); w++)
            p.counter(std::string("devip_worker_") + r.name + "_total", r.help,
                      {{"worker", std::to_string(w)}}, ws[w].*r.field);
    p.counter("devip_control_tx_drops_total",
              "Frames of the control thread not sent (no mbuf, ring full).", {},
              src.control_tx_drops());
    p.gauge("devip_mempool_mbufs_in_use", "Mbufs of the packet pool in use.", {},
            src.mbufs_in_use());
    p.gauge("devip_mempool_mbufs", "Mbufs in the packet pool.", {}, src.mbufs_total());
}

void ip_metrics(Page& p, const proto::Stack& s) {
    const std::string st = std::to_string(s.n);
    uint64_t v[proto::kIpStats];
    s.ipstats(v);
    p.gauge("devip_ip_forwarding", "/net/ipifc/stats Forwarding: 1 forwarding, 2 not, 0 unset.",
            {{"stack", st}}, v[proto::Forwarding]);
    p.gauge("devip_ip_default_ttl", "/net/ipifc/stats DefaultTTL.", {{"stack", st}},
            v[proto::DefaultTTL]);
    for (int i = proto::InReceives; i < proto::kIpStats; i++)
        p.counter("devip_ip_" + snake(proto::ipstat_name(i)) + "_total",
                  "A counter of the IP MIB in /net/ipifc/stats.", {{"stack", st}}, v[i]);
    proto::FastStats fs{};
    if (s.net.io) s.net.io->fast_stats(s.n, fs);
    for (int r = 0; r < proto::kPuntWhy; r++)
        p.counter("devip_forward_punts_total",
                  "Forwarding candidates the workers handed to the control thread, by reason.",
                  {{"stack", st}, {"reason", proto::kPuntWhyNames[r]}}, fs.punt[r]);
}

// Every protocol's counters through Proto::counters: a new protocol appears by itself.
void proto_metrics(Page& p, const proto::Stack& s) {
    const std::string st = std::to_string(s.n);
    std::vector<proto::Counter> rows;
    for (auto& pr : s.protos) {
        rows.clear();
        pr->counters(rows);
        const std::string base = "devip_" + snake(pr->info.name);
        for (auto& c : rows) {
            if (!c.type.empty())
                p.counter(base + "_messages_total", "Messages by type, as in the stats file.",
                          {{"stack", st}, {"direction", c.name == "In" ? "in" : "out"},
                           {"type", c.type}}, c.value);
            else
                p.counter(base + "_" + snake(c.name) + "_total",
                          "A counter of the protocol's stats file.", {{"stack", st}}, c.value);
        }
    }
}

void table_metrics(Page& p, const proto::Stack& s) {
    const std::string st = std::to_string(s.n);
    auto fib = [&](const char* fam, auto* f) {
        if (!f) return;
        const auto* rt = f->rt();  // the workers' view: groups in use
        p.gauge("devip_fib_prefixes", "Prefixes in the workers' forwarding table.",
                {{"stack", st}, {"family", fam}}, f->prefixes());
        p.gauge("devip_fib_groups", "Forwarding-table groups in use.",
                {{"stack", st}, {"family", fam}}, rt->groups.load());
        p.gauge("devip_fib_groups_max", "Forwarding-table groups there can be.",
                {{"stack", st}, {"family", fam}}, rt->groups_max);
    };
    fib("ipv4", s.fib4.get());
    fib("ipv6", s.fib6.get());
    p.gauge("devip_routes", "Routes in /net/iproute, interface and self routes included.",
            {{"stack", st}}, s.rib.size());
    uint64_t wait = 0, okay = 0;
    for (auto& e : s.arp) {
        if (e.state == proto::ArpEnt::Wait) wait++;
        if (e.state == proto::ArpEnt::Ok) okay++;
    }
    p.gauge("devip_neighbours", "Neighbour cache entries (/net/arp), by state.",
            {{"stack", st}, {"state", "OK"}}, okay);
    p.gauge("devip_neighbours", "Neighbour cache entries (/net/arp), by state.",
            {{"stack", st}, {"state", "WAIT"}}, wait);
    for (auto& c : s.ipifc->convs) {
        auto* f = static_cast<const proto::Ipifc*>(c.get());
        if (!f->bound()) continue;
        std::string ifc = std::to_string(f->x);
        std::string port = f->port >= 0 && s.net.io && f->port < s.net.io->nports()
                               ? s.net.io->port(f->port).name : "";
        p.gauge("devip_ifc_info", "An interface (/net/ipifc/N): its device and port.",
                {{"stack", st}, {"ifc", ifc}, {"device", f->dev}, {"port", port}}, 1);
        p.gauge("devip_ifc_mtu", "The interface's maxtu.", {{"stack", st}, {"ifc", ifc}},
                uint64_t(f->maxtu));
        p.gauge("devip_ifc_addresses", "Logical addresses on the interface.",
                {{"stack", st}, {"ifc", ifc}}, f->lifc.size());
    }
}

uint64_t now_ms() {
    using namespace std::chrono;
    return uint64_t(duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
}

}  // namespace

std::string metrics_text(const proto::Net& net, const MetricsSource& src) {
    Page p;
    port_metrics(p, src);
    worker_metrics(p, src);
    for (int n = 0; n < proto::kMaxStacks; n++) {
        const proto::Stack* s = net.find_stack(n);
        if (!s) continue;
        ip_metrics(p, *s);
        proto_metrics(p, *s);
        table_metrics(p, *s);
    }
    p.counter("devip_log_suppressed_total",
              "Per-packet messages of devipd's own log held back by its rate limit.", {},
              net.lim_unbound.suppressed_total + net.lim_hdr.suppressed_total +
                  net.lim_icmp.suppressed_total + net.lim_noport.suppressed_total);
    return p.text();
}

Err parse_http_addr(const std::string& spec, HttpAddr& out) {
    std::string addr = "127.0.0.1", port = spec;
    out.family = AF_INET;
    if (!spec.empty() && spec[0] == '[') {
        size_t e = spec.find("]:");
        if (e == std::string::npos) return err_text("bad metrics address %s", spec.c_str());
        addr = spec.substr(1, e - 1);
        port = spec.substr(e + 2);
        out.family = AF_INET6;
    } else if (size_t c = spec.rfind(':'); c != std::string::npos) {
        addr = spec.substr(0, c);
        port = spec.substr(c + 1);
    }
    uint8_t buf[16];
    if (inet_pton(out.family, addr.c_str(), buf) != 1)
        return err_text("bad metrics address %s", addr.c_str());
    char* end = nullptr;
    unsigned long n = strtoul(port.c_str(), &end, 10);
    if (port.empty() || *end || n == 0 || n > 65535)
        return err_text("bad metrics port %s", port.c_str());
    out.addr = addr;
    out.port = uint16_t(n);
    return proto::ok;
}

// ---- HTTP ---------------------------------------------------------------------------------

struct MetricsHttp::Client {
    int fd = -1;
    std::string in;        // request bytes so far
    std::string out;       // the reply
    size_t off = 0;        // bytes of out sent
    bool answered = false; // out is complete: send it, then close
    uint64_t since = 0;    // ms: accepted
};

MetricsHttp::MetricsHttp(Server& srv, std::function<std::string()> body)
    : srv_(srv), body_(std::move(body)) {}

MetricsHttp::~MetricsHttp() {
    while (!clients_.empty()) close_client(clients_.front()->fd);
    if (lfd_ >= 0) {
        srv_.unwatch(lfd_);
        close(lfd_);
    }
}

Err MetricsHttp::listen(const HttpAddr& a) {
    sockaddr_storage ss{};
    socklen_t len;
    if (a.family == AF_INET6) {
        auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(a.port);
        inet_pton(AF_INET6, a.addr.c_str(), &s6->sin6_addr);
        len = sizeof *s6;
        where_ = "[" + a.addr + "]:" + std::to_string(a.port);
    } else {
        auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
        s4->sin_family = AF_INET;
        s4->sin_port = htons(a.port);
        inet_pton(AF_INET, a.addr.c_str(), &s4->sin_addr);
        len = sizeof *s4;
        where_ = a.addr + ":" + std::to_string(a.port);
    }
    int fd = socket(a.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return err_text("metrics: socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 16) != 0) {
        int e = errno;
        close(fd);
        return err_text("metrics: %s: %s", where_.c_str(), strerror(e));
    }
    sockaddr_storage got{};
    socklen_t glen = sizeof got;
    getsockname(fd, reinterpret_cast<sockaddr*>(&got), &glen);
    port_ = ntohs(a.family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&got)->sin6_port
                                       : reinterpret_cast<sockaddr_in*>(&got)->sin_port);
    if (!srv_.watch(fd, EPOLLIN, [this](uint32_t) { accept_all(); })) {
        close(fd);
        return err_text("metrics: epoll: %s", strerror(errno));
    }
    lfd_ = fd;
    return proto::ok;
}

void MetricsHttp::accept_all() {
    uint64_t now = now_ms();
    reap_idle(now);
    for (;;) {
        int fd = accept4(lfd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;  // EAGAIN, or out of descriptors: the rest wait in the backlog
        if (clients_.size() >= kHttpMaxClients) close_client(clients_.front()->fd);
        auto fn = [this, fd](uint32_t ev) { on_client(fd, ev); };
        if (!srv_.watch(fd, EPOLLIN | EPOLLRDHUP, fn)) {
            close(fd);
            continue;
        }
        auto c = std::make_unique<Client>();
        c->fd = fd;
        c->since = now;
        clients_.push_back(std::move(c));
    }
}

void MetricsHttp::reap_idle(uint64_t now) {
    std::vector<int> old;
    for (auto& c : clients_)
        if (now - c->since >= kHttpIdleMs) old.push_back(c->fd);
    for (int fd : old) close_client(fd);
}

void MetricsHttp::close_client(int fd) {
    srv_.unwatch(fd);
    close(fd);
    std::erase_if(clients_, [fd](const std::unique_ptr<Client>& c) { return c->fd == fd; });
}

void MetricsHttp::on_client(int fd, uint32_t) {  // any event: try to read, then to send
    Client* c = nullptr;
    for (auto& k : clients_)
        if (k->fd == fd) c = k.get();
    if (!c) return;
    if (!c->answered) {
        char buf[2048];
        for (;;) {
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n > 0) {
                c->in.append(buf, size_t(n));
                if (c->in.size() > kHttpMaxRequest || c->in.find("\n\r\n") != std::string::npos ||
                    c->in.find("\n\n") != std::string::npos)
                    break;
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;  // more to come
            return close_client(fd);  // closed (or failed) before a whole request
        }
        answer(*c);
    }
    while (c->off < c->out.size()) {
        ssize_t n = send(fd, c->out.data() + c->off, c->out.size() - c->off, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) {
            srv_.rewatch(fd, EPOLLOUT | EPOLLRDHUP);
            return;
        }
        if (n <= 0) break;
        c->off += size_t(n);
    }
    close_client(fd);
}

// The request line: METHOD SP TARGET SP HTTP/1.x. Headers are read and ignored.
void MetricsHttp::answer(Client& c) {
    auto reply = [&](const char* status, const std::string& type, const std::string& body,
                     bool head) {
        c.out = std::string("HTTP/1.1 ") + status + "\r\nContent-Type: " + type +
                "\r\nContent-Length: " + std::to_string(body.size()) +
                "\r\nConnection: close\r\n\r\n" + (head ? "" : body);
        c.answered = true;
    };
    const std::string text = "text/plain; charset=utf-8";
    if (c.in.size() > kHttpMaxRequest)
        return reply("431 Request Header Fields Too Large", text, "request too large\n", false);
    std::string line = c.in.substr(0, c.in.find('\n'));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t s1 = line.find(' '), s2 = line.rfind(' ');
    if (s1 == std::string::npos || s2 == s1 || !line.substr(s2 + 1).starts_with("HTTP/1."))
        return reply("400 Bad Request", text, "bad request\n", false);
    std::string method = line.substr(0, s1), target = line.substr(s1 + 1, s2 - s1 - 1);
    target = target.substr(0, target.find('?'));
    bool head = method == "HEAD";
    if (method != "GET" && !head)
        return reply("405 Method Not Allowed", text, "only GET and HEAD\n", false);
    if (target != "/metrics")
        return reply("404 Not Found", text, "not found: try /metrics\n", head);
    reply("200 OK", "text/plain; version=0.0.4; charset=utf-8", body_(), head);
}

}  // namespace devip::ctl
