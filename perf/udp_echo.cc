// UDP echo latency, devip's /net/udp against Linux sockets (perf/latency.sh).
//   udp_echo serve9p SOCKET PORT   echo server on /net/udp: announce *!PORT in headers mode,
//                                  then Tread data / Twrite the same bytes back, synchronous
//                                  9P on the UNIX socket (no client library, no threads)
//   udp_echo servesock ADDR PORT   the same on a Linux UDP socket (recvfrom / sendto)
//   udp_echo client ADDR PORT N    N 64-byte datagrams one at a time; prints
//                                  "p50 P p90 P p99 P us" of the round trips
//   udp_echo ping9p SOCKET ADDR N [GAP]  N ICMP echoes through /net/icmp, the same figures;
//                                  GAP µs of sleep between echoes (default 0)
//   udp_echo pingdial SOCKET ADDR N [GAP]  the same through the dial library (devip_dial,
//                                  write and read of its data fd): what ipctl ping uses
//   udp_echo tcpserve9p SOCKET PORT  a TCP echo server on /net/tcp: announce, listen, then
//                                  each read of the call's data written back (one call after
//                                  another), synchronous 9P as serve9p
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "control/dial.h"
#include "control/fcall.h"
#include "proto/wire.h"

namespace {

using namespace devip::ctl;


[[noreturn]] void die(const char* what) {
    perror(what);
    exit(1);
}

// One synchronous 9P session: each call sends a request and waits for its reply.
class P9 {
public:
    explicit P9(const char* path) {
        fd_ = socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        if (fd_ < 0 || connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
            die("connect");
        Fcall t;
        t.type = Ftype::Tversion;
        t.msize = 8192 + 24;
        t.version = "9P2000";
        rpc(t);
        t = {};
        t.type = Ftype::Tattach;
        t.fid = 0;
        t.uname = "none";
        rpc(t);
    }
    // Sends t (tag 1) and returns the reply; an Rerror ends the program.
    const Fcall& rpc(Fcall& t) {
        t.tag = 1;
        out_.clear();
        encode(t, out_);
        for (size_t o = 0; o < out_.size();) {
            ssize_t n = write(fd_, out_.data() + o, out_.size() - o);
            if (n <= 0) die("write");
            o += size_t(n);
        }
        uint8_t sz[4];
        read_full(sz, 4);
        uint32_t len = uint32_t(sz[0]) | sz[1] << 8 | sz[2] << 16 | uint32_t(sz[3]) << 24;
        in_.resize(len);
        std::memcpy(in_.data(), sz, 4);
        read_full(in_.data() + 4, len - 4);
        if (!decode(in_, r_)) die("decode");
        if (r_.type == Ftype::Rerror) {
            fprintf(stderr, "udp_echo: %s\n", r_.ename.c_str());
            exit(1);
        }
        return r_;
    }
    uint32_t walk_open(uint32_t fid, std::vector<std::string> names, uint8_t mode) {
        Fcall t;
        t.type = Ftype::Twalk;
        t.fid = 0;
        t.newfid = fid;
        t.wname = std::move(names);
        rpc(t);
        t = {};
        t.type = Ftype::Topen;
        t.fid = fid;
        t.mode = mode;
        rpc(t);
        return fid;
    }
    // Opens /net/PROTO/clone on fid: its ctl, with the conversation's number in n.
    uint32_t clone(uint32_t fid, const char* proto, std::string& n) {
        walk_open(fid, {proto, "clone"}, 2);
        Fcall t;
        t.type = Ftype::Tread;
        t.fid = fid;
        t.count = 32;
        const Fcall& r = rpc(t);
        n.assign(reinterpret_cast<const char*>(r.data.data()), r.data.size());
        return fid;
    }
    void write_str(uint32_t fid, const std::string& s) {
        Fcall t;
        t.type = Ftype::Twrite;
        t.fid = fid;
        t.data = {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
        rpc(t);
    }
private:
    void read_full(uint8_t* p, size_t n) {
        while (n) {
            ssize_t k = read(fd_, p, n);
            if (k <= 0) die("read");
            p += k;
            n -= size_t(k);
        }
    }
    int fd_;
    std::vector<uint8_t> out_, in_;
    Fcall r_;
};

int serve9p(const char* sock, const char* port) {
    P9 p(sock);
    std::string n;
    uint32_t ctl = p.clone(1, "udp", n);
    p.write_str(ctl, std::string("announce *!") + port);
    p.write_str(ctl, "headers");
    uint32_t data = p.walk_open(2, {"udp", n, "data"}, 2);
    printf("ready\n");
    fflush(stdout);
    std::vector<uint8_t> buf;
    for (;;) {
        Fcall r;
        r.type = Ftype::Tread;
        r.fid = data;
        r.count = 8192;
        const Fcall& got = p.rpc(r);
        buf.assign(got.data.begin(), got.data.end());  // header: raddr laddr ifcaddr rport lport
        Fcall w;
        w.type = Ftype::Twrite;
        w.fid = data;
        w.data = buf;  // the same 52-byte header sends the reply back to the sender
        p.rpc(w);
    }
}

int tcpserve9p(const char* sock, const char* port) {
    P9 p(sock);
    std::string n;
    uint32_t ctl = p.clone(1, "tcp", n);
    p.write_str(ctl, std::string("announce *!") + port);
    printf("ready\n");
    fflush(stdout);
    std::vector<uint8_t> buf;
    for (uint32_t fid = 10;; fid += 2) {
        uint32_t call = p.walk_open(fid, {"tcp", n, "listen"}, 2);  // parks until a call
        Fcall t;
        t.type = Ftype::Tread;
        t.fid = call;
        t.count = 32;
        const Fcall& r = p.rpc(t);
        std::string cn(reinterpret_cast<const char*>(r.data.data()), r.data.size());
        uint32_t data = p.walk_open(fid + 1, {"tcp", cn, "data"}, 2);
        for (;;) {
            Fcall rd;
            rd.type = Ftype::Tread;
            rd.fid = data;
            rd.count = 8192;
            const Fcall& got = p.rpc(rd);
            if (got.data.empty()) break;  // the caller closed
            buf.assign(got.data.begin(), got.data.end());
            Fcall w;
            w.type = Ftype::Twrite;
            w.fid = data;
            w.data = buf;
            p.rpc(w);
        }
        for (uint32_t f : {data, call}) {
            Fcall c;
            c.type = Ftype::Tclunk;
            c.fid = f;
            p.rpc(c);
        }
    }
}

// ICMP echo round trips through /net/icmp (ip3.md §4.8.1: 20 bytes of IP header space, then
// the ICMP message), synchronous 9P as above: what `ipctl ping` measures, without ipctl.
// Fills msg (20 bytes of IP header space, then ICMP) as echo request i.
void echo_request(std::vector<uint8_t>& msg, int i) {
    uint8_t* icmp = msg.data() + 20;
    icmp[0] = 8;
    icmp[1] = 0;
    icmp[2] = icmp[3] = 0;
    icmp[6] = uint8_t(i >> 8);
    icmp[7] = uint8_t(i);
    uint16_t ck = devip::proto::csum(icmp, msg.size() - 20);
    icmp[2] = uint8_t(ck >> 8);
    icmp[3] = uint8_t(ck);
}

void print_pct(std::vector<double>& us) {
    std::sort(us.begin(), us.end());
    auto pct = [&](double q) { return us[std::min(us.size() - 1, size_t(q * double(us.size())))]; };
    printf("p50 %.1f p90 %.1f p99 %.1f us (%zu round trips)\n", pct(0.5), pct(0.9), pct(0.99),
           us.size());
}

void gap(int us) {
    if (us > 0) usleep(useconds_t(us));
}

int ping9p(const char* sock, const char* addr, int count, int gap_us) {
    P9 p(sock);
    std::string n;
    uint32_t ctl = p.clone(1, "icmp", n);
    p.write_str(ctl, std::string("connect ") + addr + "!1");
    uint32_t data = p.walk_open(2, {"icmp", n, "data"}, 2);
    std::vector<uint8_t> msg(20 + 8 + 56);
    std::vector<double> us;
    for (int i = 0; i < count + 20; i++) {
        gap(gap_us);
        echo_request(msg, i);
        auto t0 = std::chrono::steady_clock::now();
        Fcall w;
        w.type = Ftype::Twrite;
        w.fid = data;
        w.data = msg;
        p.rpc(w);
        Fcall rd;
        rd.type = Ftype::Tread;
        rd.fid = data;
        rd.count = 8192;
        p.rpc(rd);
        auto t1 = std::chrono::steady_clock::now();
        if (i >= 20) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
    print_pct(us);
    return 0;
}

// The same echoes through the dial library's data fd.
int pingdial(const char* sock, const char* addr, int count, int gap_us) {
    if (devip_connect(sock, 0) < 0) {
        fprintf(stderr, "udp_echo: %s\n", devip_errstr());
        return 1;
    }
    int fd = devip_dial((std::string("icmp!") + addr + "!1").c_str(), nullptr, nullptr, nullptr);
    if (fd < 0) {
        fprintf(stderr, "udp_echo: dial: %s\n", devip_errstr());
        return 1;
    }
    std::vector<uint8_t> msg(20 + 8 + 56), buf(65536);
    std::vector<double> us;
    for (int i = 0; i < count + 20; i++) {
        gap(gap_us);
        echo_request(msg, i);
        auto t0 = std::chrono::steady_clock::now();
        if (send(fd, msg.data(), msg.size(), 0) < 0) die("send");
        if (recv(fd, buf.data(), buf.size(), 0) <= 0) die("recv");
        auto t1 = std::chrono::steady_clock::now();
        if (i >= 20) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
    print_pct(us);
    devip_close(fd);
    return 0;
}

int servesock(const char* addr, const char* port) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(uint16_t(atoi(port)));
    inet_pton(AF_INET, addr, &sa.sin_addr);
    if (bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) die("bind");
    printf("ready\n");
    fflush(stdout);
    char buf[65536];
    for (;;) {
        sockaddr_in from{};
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(s, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
        if (n < 0) die("recvfrom");
        sendto(s, buf, size_t(n), 0, reinterpret_cast<sockaddr*>(&from), fl);
    }
}

int client(const char* addr, const char* port, int count) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(uint16_t(atoi(port)));
    inet_pton(AF_INET, addr, &sa.sin_addr);
    if (connect(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) die("connect");
    timeval tv{1, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char msg[64] = "devip udp echo", buf[2048];
    std::vector<double> us;
    int lost = 0;
    for (int i = 0; i < count + 100; i++) {  // the first 100 warm up (ARP, caches)
        auto t0 = std::chrono::steady_clock::now();
        if (send(s, msg, sizeof msg, 0) < 0) die("send");
        ssize_t n = recv(s, buf, sizeof buf, 0);
        auto t1 = std::chrono::steady_clock::now();
        if (n != ssize_t(sizeof msg)) {
            lost++;
            continue;
        }
        if (i >= 100) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
    if (us.empty()) {
        fprintf(stderr, "udp_echo: no replies\n");
        return 1;
    }
    std::sort(us.begin(), us.end());
    auto pct = [&](double q) { return us[std::min(us.size() - 1, size_t(q * double(us.size())))]; };
    printf("p50 %.1f p90 %.1f p99 %.1f us (%zu round trips, %d lost)\n", pct(0.5), pct(0.9),
           pct(0.99), us.size(), lost);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::string m = argc > 1 ? argv[1] : "";
    if (m == "serve9p" && argc == 4) return serve9p(argv[2], argv[3]);
    if (m == "tcpserve9p" && argc == 4) return tcpserve9p(argv[2], argv[3]);
    if (m == "servesock" && argc == 4) return servesock(argv[2], argv[3]);
    int gap_us = argc == 6 ? atoi(argv[5]) : 0;
    if (m == "ping9p" && (argc == 5 || argc == 6))
        return ping9p(argv[2], argv[3], atoi(argv[4]), gap_us);
    if (m == "pingdial" && (argc == 5 || argc == 6))
        return pingdial(argv[2], argv[3], atoi(argv[4]), gap_us);
    if (m == "client" && argc == 5) return client(argv[2], argv[3], atoi(argv[4]));
    fprintf(stderr, "usage: udp_echo serve9p SOCKET PORT | tcpserve9p SOCKET PORT | "
                    "servesock ADDR PORT | "
                    "client ADDR PORT COUNT | ping9p|pingdial SOCKET ADDR COUNT [GAP]\n");
    return 2;
}
