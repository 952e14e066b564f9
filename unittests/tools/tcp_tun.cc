// tcp_tun: one TcpShard on a Linux TUN device, for interop tests against the kernel's TCP
// (tests/test_tcp_tun.py). One connection: it listens or connects, sends a file, then
// half-closes, and writes what it receives to another file; it exits 0 once the
// connection reaches Closed without an error, 1 otherwise. Stats go to stderr at exit.
//
//   tcp_tun --dev NAME --addr OURS --peer LINUX (--listen PORT | --connect PORT)
//           [--send FILE] [--recv FILE] [--timeout S] [--scale F] [--cc cubic] [--nagle]
//           [--loss PCT]
// --loss drops that percentage of the packets in each direction (this machine's kernel has
// no netem or nftables), so both stacks' loss recovery is exercised.
//
// The device must exist (ip tuntap add NAME mode tun) and be up with the Linux side's
// address; OURS is an address Linux routes through it. IPv4 or IPv6 by the addresses.
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "proto/ipaux.h"
#include "proto/tcp.h"
#include "proto/wire.h"

using namespace devip::proto;

namespace {

uint64_t now_us() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000 + uint64_t(ts.tv_nsec) / 1000;
}

int tun_open(const char* name) {
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
    if (fd < 0) return -1;
    ifreq ifr{};
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) return close(fd), -1;
    return fd;
}

// the IP packet of one TcpTx
size_t build_ip(const TcpTx& t, uint8_t* out, uint16_t& ipid) {
    size_t tl = t.hlen + t.n1 + t.n2;
    size_t h;
    if (t.t.v4()) {
        h = 20;
        std::memset(out, 0, 20);
        out[0] = 0x45, out[1] = t.tos;
        put16(out + 2, uint16_t(h + tl));
        put16(out + 4, ipid++);
        put16(out + 6, t.df ? 0x4000 : 0);
        out[8] = t.ttl, out[9] = kProtoTcp;
        std::memcpy(out + 12, t.t.laddr.b.data() + 12, 4);
        std::memcpy(out + 16, t.t.raddr.b.data() + 12, 4);
        put16(out + 10, csum(out, 20));
    } else {
        h = 40;
        std::memset(out, 0, 40);
        out[0] = 0x60 | (t.tos >> 4), out[1] = uint8_t(t.tos << 4);
        put16(out + 4, uint16_t(tl));
        out[6] = kProtoTcp, out[7] = t.ttl;
        std::memcpy(out + 8, t.t.laddr.b.data(), 16);
        std::memcpy(out + 24, t.t.raddr.b.data(), 16);
    }
    std::memcpy(out + h, t.hdr, t.hlen);
    std::memcpy(out + h + t.hlen, t.p1, t.n1);
    if (t.n2) std::memcpy(out + h + t.hlen + t.n1, t.p2, t.n2);
    return h + tl;
}

[[noreturn]] void usage() {
    std::fprintf(stderr, "usage: tcp_tun --dev NAME --addr OURS --peer LINUX (--listen PORT | "
                         "--connect PORT) [--send FILE] [--recv FILE] [--timeout S] "
                         "[--scale F] [--cc cubic] [--nagle]\n");
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    const char *dev = nullptr, *send_path = nullptr, *recv_path = nullptr, *cc = nullptr;
    std::string ours, peer;
    int lport = 0, cport = 0, timeout = 60, scale = 1;
    bool nagle = false;
    double loss = 0;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto val = [&]() -> const char* { return ++i < argc ? argv[i] : (usage(), nullptr); };
        if (a == "--dev") dev = val();
        else if (a == "--addr") ours = val();
        else if (a == "--peer") peer = val();
        else if (a == "--listen") lport = std::atoi(val());
        else if (a == "--connect") cport = std::atoi(val());
        else if (a == "--send") send_path = val();
        else if (a == "--recv") recv_path = val();
        else if (a == "--timeout") timeout = std::atoi(val());
        else if (a == "--scale") scale = std::atoi(val());
        else if (a == "--cc") cc = val();
        else if (a == "--nagle") nagle = true;
        else if (a == "--loss") loss = std::atof(val()) / 100;
        else usage();
    }
    auto us = parseip(ours), them = parseip(peer);
    if (!dev || !us || !them || (!lport == !cport)) usage();
    std::vector<uint8_t> out_data;
    if (send_path) {
        FILE* f = std::fopen(send_path, "rb");
        if (!f) return std::perror(send_path), 1;
        uint8_t b[65536];
        for (size_t n; (n = std::fread(b, 1, sizeof b, f)) > 0;)
            out_data.insert(out_data.end(), b, b + n);
        std::fclose(f);
    }
    FILE* rf = recv_path ? std::fopen(recv_path, "wb") : nullptr;
    int fd = tun_open(dev);
    if (fd < 0) return std::perror("tun"), 1;

    TcpParams prm;
    prm.max_conns = 64;
    prm.scale(uint32_t(scale));
    if (cc && std::string(cc) == "cubic") prm.cc = TcpCc::Cubic;
    else if (cc && std::string(cc) != "newreno") usage();
    prm.nagle = nagle;
    uint8_t key[16];
    for (int i = 0; i < 16; i++) key[i] = uint8_t(now_us() >> (i % 8 * 8)) ^ uint8_t(i * 37);
    uint64_t start = now_us();
    TcpShard s(prm, key, start);
    uint32_t conn = kTcpNoConn;
    if (lport) {
        if (!tcp_listen(s, *us, uint16_t(lport))) return std::fprintf(stderr, "listen failed\n"), 1;
    } else {
        auto r = tcp_open(s, TcpTuple{*us, *them, uint16_t(40000 + getpid() % 20000),
                                      uint16_t(cport)}, 0, start);
        if (!r) return std::fprintf(stderr, "open: %s\n", r.err().text), 1;
        conn = *r;
    }
    size_t sent = 0;
    bool shut = false, closed = false, failed = false, eof = false;
    uint16_t ipid = 1;
    std::mt19937_64 rng{uint64_t(getpid())};
    auto lose = [&] { return loss > 0 && std::uniform_real_distribution<>(0, 1)(rng) < loss; };
    uint64_t lost_in = 0, lost_out = 0;
    std::vector<uint8_t> pkt(70000), rbuf(1 << 16);
    while (!closed) {
        uint64_t now = now_us();
        if (now - start > uint64_t(timeout) * 1000000) {
            std::fprintf(stderr, "tcp_tun: timeout\n");
            failed = true;
            break;
        }
        pollfd p{fd, POLLIN, 0};
        poll(&p, 1, 5);
        for (int k = 0; k < 256; k++) {
            ssize_t n = read(fd, pkt.data(), pkt.size());
            if (n <= 0) break;
            now = now_us();
            const uint8_t* ip = pkt.data();
            Ipaddr src, dst;
            size_t h;
            if ((ip[0] >> 4) == 4 && n >= 20 && ip[9] == kProtoTcp) {
                h = (ip[0] & 0xf) * 4u;
                n = std::min<ssize_t>(n, get16(ip + 2));
                src = Ipaddr::v4(get32(ip + 12)), dst = Ipaddr::v4(get32(ip + 16));
            } else if ((ip[0] >> 4) == 6 && n >= 40 && ip[6] == kProtoTcp) {
                h = 40;
                src = Ipaddr::from_bytes(ip + 8), dst = Ipaddr::from_bytes(ip + 24);
            } else {
                continue;
            }
            if (dst != *us || ssize_t(h) > n) continue;
            if (lose()) {
                lost_in++;
                continue;
            }
            TcpSegIn g;
            if (tcp_parse(s.st, src, dst, ip + h, uint32_t(n - h), g)) tcp_input(s, g, now);
        }
        tcp_timers(s, now);
        for (auto& e : s.ev) {
            if (e.kind == TcpEvKind::CallArrived && conn == kTcpNoConn) {
                conn = e.conn;
                tcp_accepted(s, conn);
                tcp_taken(s, conn);
            }
            if (e.kind == TcpEvKind::Eof && e.conn == conn) eof = true;
            if (e.kind == TcpEvKind::Closed && e.conn == conn) {
                closed = true;
                if (e.err) std::fprintf(stderr, "tcp_tun: closed: %s\n", e.err.text), failed = true;
            }
        }
        s.ev.clear();
        if (conn != kTcpNoConn && !closed) {
            const TcpConn& c = s.conn(conn);
            if (c.state >= TcpState::Established) {
                while (sent < out_data.size()) {
                    auto r = tcp_send(s, conn, std::span(out_data).subspan(sent), now);
                    if (!r || !*r) break;
                    sent += *r;
                }
                if (sent == out_data.size() && !shut) shut = !tcp_shutdown(s, conn, now);
            }
            for (uint32_t n; (n = tcp_read(s, conn, rbuf, now)) > 0;) {
                if (rf) std::fwrite(rbuf.data(), 1, n, rf);
                tcp_consumed(s, conn, n, now);
            }
            if (eof && shut && s.conn(conn).state == TcpState::Time_wait) closed = true;
        }
        for (auto& t : s.tx) {
            if (lose()) {
                lost_out++;
                continue;
            }
            size_t n = build_ip(t, pkt.data(), ipid);
            if (write(fd, pkt.data(), n) < 0 && errno != EAGAIN) std::perror("tun write");
        }
        s.tx.clear();
    }
    if (rf) std::fclose(rf);
    Text t;
    tcp_stats_text(s.st, t);
    std::fputs(t.str().c_str(), stderr);
    std::fprintf(stderr, "lost: in %llu out %llu\n", (unsigned long long)lost_in,
                 (unsigned long long)lost_out);
    if (conn != kTcpNoConn) {
        Text st;
        tcp_state_text(s, s.conn(conn), now_us(), st);
        std::fprintf(stderr, "status: %s", st.str().c_str());
    }
    close(fd);
    return failed ? 1 : 0;
}
