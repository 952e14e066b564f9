// The metrics page built from a stack on a fake Netio and a fake MetricsSource: names and
// labels per Prometheus' conventions, 64-bit values as they are, one HELP/TYPE per family;
// the --metrics address syntax.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/metrics.h"
#include "proto/stack.h"
#include "proto/udp.h"
#include "unittests/fake_netio.h"

namespace devip::ctl {
namespace {

using namespace devip::proto;

class FakeSource final : public MetricsSource {
public:
    std::vector<PortMetrics> ports() const override { return port; }
    std::vector<WorkerMetrics> workers() const override { return worker; }
    uint64_t mbufs_in_use() const override { return 7; }
    uint64_t mbufs_total() const override { return 4096; }
    uint64_t control_tx_drops() const override { return 3; }
    std::vector<PortMetrics> port;
    std::vector<WorkerMetrics> worker;
};

struct MetricsTest : ::testing::Test {
    test::FakeNetio io{1};
    Net net{&io};
    FakeSource src;
    Stack& s = net.stack(0);

    void SetUp() override {
        auto c = s.ipifc->clone("eve");
        Conv& f = **c;
        ASSERT_FALSE(f.p->write_ctl(f, parsecmd("bind ether /net/ether0")));
        ASSERT_FALSE(f.p->write_ctl(f, parsecmd("add 198.18.0.1 255.255.255.0")));
        PortMetrics p;
        p.name = "ether0";
        p.rx_packets = 42;
        p.tx_bytes = 1ull << 40;  // beyond 32 bits: printed as it is
        src.port = {p};
        WorkerMetrics w;
        w.loops = 123456789012ull;
        src.worker = {w, WorkerMetrics{}};
    }
    std::string page() { return metrics_text(net, src); }
    bool has_line(const std::string& l) { return ("\n" + page()).find("\n" + l + "\n") !=
                                                 std::string::npos; }
};

TEST_F(MetricsTest, PortAndWorkerCountersWithLabels) {
    EXPECT_TRUE(has_line("devip_port_rx_packets_total{port=\"ether0\"} 42"));
    EXPECT_TRUE(has_line("devip_port_tx_bytes_total{port=\"ether0\"} 1099511627776"));
    EXPECT_TRUE(has_line("devip_worker_loops_total{worker=\"0\"} 123456789012"));
    EXPECT_TRUE(has_line("devip_worker_loops_total{worker=\"1\"} 0"));
    EXPECT_TRUE(has_line("# TYPE devip_port_rx_packets_total counter"));
    EXPECT_TRUE(has_line("devip_mempool_mbufs_in_use 7"));
    EXPECT_TRUE(has_line("# TYPE devip_mempool_mbufs gauge"));
    EXPECT_TRUE(has_line("devip_control_tx_drops_total 3"));
    net.lim_noport.suppressed_total = 9;
    EXPECT_TRUE(has_line("devip_log_suppressed_total 9"));
}

TEST_F(MetricsTest, IpMibSumsControlAndWorkerCounters) {
    s.ipstat[InReceives] = 5;
    io.fast.ip[InReceives] = 1ull << 33;
    EXPECT_TRUE(has_line("devip_ip_in_receives_total{stack=\"0\"} 8589934597"));
    EXPECT_TRUE(has_line("devip_ip_reasm_oks_total{stack=\"0\"} 0"));
    EXPECT_TRUE(has_line("devip_ip_default_ttl{stack=\"0\"} 255"));
    EXPECT_TRUE(has_line("# TYPE devip_ip_forwarding gauge"));
}

TEST_F(MetricsTest, EveryProtocolExportsItsStatsThroughTheHook) {
    udp_of(s)->st.in_datagrams = 11;
    udp_of(s)->st.no_ports = 4;
    EXPECT_TRUE(has_line("devip_udp_in_datagrams_total{stack=\"0\"} 11"));
    EXPECT_TRUE(has_line("devip_udp_no_ports_total{stack=\"0\"} 4"));
    EXPECT_TRUE(has_line("devip_icmp_in_msgs_total{stack=\"0\"} 0"));
    EXPECT_TRUE(has_line(
        "devip_icmp_messages_total{stack=\"0\",direction=\"in\",type=\"EchoRequest\"} 0"));
    EXPECT_TRUE(has_line(  // 9front pads this name in the stats file; the label is trimmed
        "devip_icmp_messages_total{stack=\"0\",direction=\"out\",type=\"AddrMaskReply\"} 0"));
    EXPECT_TRUE(has_line("devip_icmpv6_router_addr_errs_total{stack=\"0\"} 0"));
    EXPECT_TRUE(has_line(
        "devip_ifc_info{stack=\"0\",ifc=\"0\",device=\"/net/ether0\",port=\"ether0\"} 1"));
    EXPECT_TRUE(has_line("devip_neighbours{stack=\"0\",state=\"OK\"} 0"));
    EXPECT_TRUE(has_line("devip_routes{stack=\"0\"} " + std::to_string(s.rib.size())));
    EXPECT_GT(s.rib.size(), 0u);  // the interface and self routes of the address
}

TEST_F(MetricsTest, OneHelpAndTypePerFamilyAndItsSamplesTogether) {
    net.stack(3);  // a second stack: its samples join the first stack's families
    std::string p = page();
    std::map<std::string, int> types;
    std::string current;
    size_t pos = 0;
    while (pos < p.size()) {
        size_t e = p.find('\n', pos);
        std::string l = p.substr(pos, e - pos);
        pos = e + 1;
        if (l.rfind("# TYPE ", 0) == 0) {
            current = l.substr(7, l.find(' ', 7) - 7);
            types[current]++;
        } else if (l[0] != '#') {
            std::string name = l.substr(0, l.find_first_of("{ "));
            EXPECT_EQ(name, current) << "sample outside its family: " << l;
        }
    }
    for (auto& [name, n] : types) EXPECT_EQ(n, 1) << name;
    EXPECT_NE(p.find("devip_udp_in_datagrams_total{stack=\"3\"} 0\n"), std::string::npos);
}

TEST(HttpAddr, PortAloneIsLoopback) {
    HttpAddr a;
    ASSERT_FALSE(parse_http_addr("9464", a));
    EXPECT_EQ(a.family, AF_INET);
    EXPECT_EQ(a.addr, "127.0.0.1");
    EXPECT_EQ(a.port, 9464);
}

TEST(HttpAddr, AddressesV4AndV6) {
    HttpAddr a;
    ASSERT_FALSE(parse_http_addr("0.0.0.0:80", a));
    EXPECT_EQ(a.addr, "0.0.0.0");
    EXPECT_EQ(a.port, 80);
    ASSERT_FALSE(parse_http_addr("[::1]:9100", a));
    EXPECT_EQ(a.family, AF_INET6);
    EXPECT_EQ(a.addr, "::1");
    EXPECT_EQ(a.port, 9100);
}

TEST(HttpAddr, BadOnesAreNamed) {
    HttpAddr a;
    EXPECT_STREQ(parse_http_addr("0", a).text, "bad metrics port 0");
    EXPECT_STREQ(parse_http_addr("x:80", a).text, "bad metrics address x");
    EXPECT_STREQ(parse_http_addr("[::1]9100", a).text, "bad metrics address [::1]9100");
    EXPECT_STREQ(parse_http_addr("127.0.0.1:", a).text, "bad metrics port ");
}

}  // namespace
}  // namespace devip::ctl

// The responder on a real socket, pumped by the Server's poll: a reply far larger than the
// socket buffers reaches a client that reads slowly, while another client is answered.
namespace devip::ctl {
namespace {

struct NoFs final : Fsys {
    Err attach(Fid&, std::string_view) override { return Err{"no"}; }
    Err walk(Fid&, std::string_view) override { return Err{"no"}; }
    Err stat(const Fid&, Dir&) override { return Err{"no"}; }
    bool dirent(const Fid&, uint64_t, Dir&) override { return false; }
    Answer open(Fid&, uint8_t) override { return Answer::fail(Err{"no"}); }
    Answer read(Fid&, uint64_t, uint32_t, std::string&) override {
        return Answer::fail(Err{"no"});
    }
    Answer write(Fid&, uint64_t, std::span<const uint8_t>, uint32_t&) override {
        return Answer::fail(Err{"no"});
    }
    Err wstat(Fid&, const Dir&) override { return Err{"no"}; }
    void clunk(Fid&) override {}
    void cancel(Fid&) override {}
};

int connect_to(uint16_t port, int rcvbuf) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (rcvbuf) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

// Reads what is there now; true at end of file.
bool drain(int fd, std::string& got) {
    char b[65536];
    for (;;) {
        ssize_t n = recv(fd, b, sizeof b, 0);
        if (n > 0) {
            got.append(b, size_t(n));
            continue;
        }
        return n == 0;
    }
}

TEST(MetricsHttp, LargeReplyToASlowReaderWhileOthersAreServed) {
    NoFs fs;
    Server srv(fs);
    const std::string big(8 << 20, 'x');  // far beyond any socket buffer
    MetricsHttp http(srv, [&] { return big; });
    ASSERT_FALSE(http.listen(HttpAddr{AF_INET, "127.0.0.1", 0}));
    ASSERT_NE(http.port(), 0);
    int slow = connect_to(http.port(), 4096);
    const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
    ASSERT_EQ(send(slow, req, sizeof req - 1, 0), ssize_t(sizeof req - 1));
    for (int i = 0; i < 20; i++) srv.poll(5);  // sends what fits, then waits for EPOLLOUT
    EXPECT_EQ(http.clients(), 1u);
    int quick = connect_to(http.port(), 0);
    const char bad[] = "GET /other HTTP/1.1\r\n\r\n";
    ASSERT_EQ(send(quick, bad, sizeof bad - 1, 0), ssize_t(sizeof bad - 1));
    std::string q;
    for (int i = 0; i < 200 && !drain(quick, q); i++) srv.poll(5);
    EXPECT_EQ(q.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u) << q;
    std::string got;
    for (int i = 0; i < 20000 && !drain(slow, got); i++) srv.poll(1);
    size_t body = got.find("\r\n\r\n");
    ASSERT_NE(body, std::string::npos);
    EXPECT_NE(got.find("\r\nContent-Length: 8388608\r\n"), std::string::npos);
    EXPECT_EQ(got.size() - body - 4, big.size());
    EXPECT_EQ(http.clients(), 0u);
    close(slow);
    close(quick);
}

}  // namespace
}  // namespace devip::ctl
