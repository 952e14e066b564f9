// devipd --metrics: the Prometheus text exposition format (version 0.0.4) over a tiny
// HTTP/1.0–1.1 responder on the control thread. metrics_text() builds the page from the
// stacks (proto/) and from what the packet machinery reports through MetricsSource, which
// devipd's composition root implements over dataplane/ (control/ never includes it).
// Every counter is 64-bit and never goes backwards: the sources are rte_eth_stats, the
// workers' uint64 counters and the stacks' uint64 MIBs, never 9front's 32-bit ipifc fields.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "control/srv.h"
#include "proto/err.h"

namespace devip::proto {
class Net;
}

namespace devip::ctl {

// One DPDK port (rte_eth_stats).
struct PortMetrics {
    std::string name;         // "ether0": the port label
    uint64_t rx_packets = 0;  // ipackets
    uint64_t tx_packets = 0;  // opackets
    uint64_t rx_bytes = 0;    // ibytes
    uint64_t tx_bytes = 0;    // obytes
    uint64_t rx_errors = 0;   // ierrors
    uint64_t tx_errors = 0;   // oerrors
    uint64_t rx_missed = 0;   // imissed: the rx ring was full
    uint64_t rx_nombuf = 0;   // rx_nombuf: no mbuf for a received frame
};

// One worker lcore (its own counters).
struct WorkerMetrics {
    uint64_t loops = 0;       // poll loops run
    uint64_t naps = 0;        // idle naps
    uint64_t rx = 0;          // packets received
    uint64_t tx = 0;          // packets sent
    uint64_t punts = 0;       // packets handed to the control thread
    uint64_t punt_drops = 0;  // dropped: punt ring full
    uint64_t tx_drops = 0;    // dropped: tx queue full
};

// What the packet machinery reports; read on the control thread at each scrape.
class MetricsSource {
public:
    virtual ~MetricsSource() = default;
    virtual std::vector<PortMetrics> ports() const = 0;
    virtual std::vector<WorkerMetrics> workers() const = 0;
    virtual uint64_t mbufs_in_use() const = 0;
    virtual uint64_t mbufs_total() const = 0;
    virtual uint64_t control_tx_drops() const = 0;  // slow-path frames not sent (no mbuf, ring)
};

// The whole exposition page.
std::string metrics_text(const proto::Net& net, const MetricsSource& src);

// "[ADDR:]PORT", "[V6ADDR]:PORT": ADDR defaults to 127.0.0.1.
struct HttpAddr {
    int family = 0;           // AF_INET or AF_INET6
    std::string addr;         // numeric address
    uint16_t port = 0;        // TCP port
};
proto::Err parse_http_addr(const std::string& spec, HttpAddr& out);

inline constexpr size_t kHttpMaxRequest = 8192;  // request line and headers; longer: 431
inline constexpr size_t kHttpMaxClients = 32;    // more at once: the oldest goes
inline constexpr uint64_t kHttpIdleMs = 10000;   // a client silent this long goes

// GET /metrics → 200 with body(); any other path → 404; other methods → 405. One request per
// connection, closed after the reply. Nonblocking throughout: fds live in the Server's epoll.
class MetricsHttp {
public:
    MetricsHttp(Server& srv, std::function<std::string()> body);
    ~MetricsHttp();
    MetricsHttp(const MetricsHttp&) = delete;
    MetricsHttp& operator=(const MetricsHttp&) = delete;
    proto::Err listen(const HttpAddr& a);
    std::string where() const { return where_; }  // "127.0.0.1:9100"
    uint16_t port() const { return port_; }        // the bound port (a given 0: the kernel's)
    size_t clients() const { return clients_.size(); }

private:
    struct Client;
    void accept_all();
    void on_client(int fd, uint32_t events);  // readable, writable or hung up
    void answer(Client& c);
    void close_client(int fd);
    void reap_idle(uint64_t now);

    Server& srv_;                                  // whose epoll we join
    std::function<std::string()> body_;            // the page for /metrics
    int lfd_ = -1;                                 // listening socket
    std::string where_;                            // what we listen on, for the log
    uint16_t port_ = 0;                            // the port bound
    std::vector<std::unique_ptr<Client>> clients_;  // open connections, oldest first
};

}  // namespace devip::ctl
