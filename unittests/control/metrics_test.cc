// The metrics page built from a stack on a fake Netio and a fake MetricsSource: names and
// labels per Prometheus' conventions, 64-bit values as they are, one HELP/TYPE per family;
// the --metrics address syntax.
#include <gtest/gtest.h>
#include <sys/socket.h>

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
    s.udp->st.in_datagrams = 11;
    s.udp->st.no_ports = 4;
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
