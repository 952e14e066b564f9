// The running configuration (ipctl save, /net/config): what is written, what is derived and
// left out (interface and self routes, SLAAC addresses, the router-advertised default
// route, learned neighbours), and interface numbers as a replay will give them.
#include <gtest/gtest.h>

#include "proto/ipaux.h"
#include "proto/stack.h"
#include "proto/text.h"
#include "unittests/fake_netio.h"

namespace devip::proto {
namespace {

struct SaveTest : ::testing::Test {
    test::FakeNetio io{2};
    Net net{&io};
    Stack& s = net.stack(0);

    Ipifc& ifc() { return static_cast<Ipifc&>(**s.ipifc->clone("eve")); }
    void ctl(Conv& c, const std::string& m) {
        Err e = c.p->write_ctl(c, parsecmd(m));
        ASSERT_FALSE(e) << m << ": " << e.text;
    }
    // A route as a routing daemon writes it (tag), through ifc.
    void route(const char* dst, const char* mask, const char* gate, int ifc, const char* tag) {
        Route r{};
        r.dst = *parseip(dst);
        r.mask = *parseipmask(mask, true);
        r.gate = *parseip(gate);
        r.type = Rv4;
        r.ifc = ifc;
        r.tag = make_tag(tag);
        s.rib.add(r);
    }
    std::string save(bool keys = false) {
        Text t;
        s.config_text(t, keys);
        return t.str();
    }
};

TEST_F(SaveTest, AnInterfaceWithSettingsAndAddresses) {
    Ipifc& f = ifc();
    ctl(f, "bind ether /net/ether0");
    ctl(f, "add 198.18.0.1 255.255.255.0");
    ctl(f, "add 198.18.3.1 255.255.255.0 198.18.3.1 0 proxy");
    ctl(f, "mtu 1400");
    ctl(f, "delay 10");
    EXPECT_EQ(save(), "# devip stack 0: the running configuration (ipctl save)\n"
                      "/net/ipifc/clone bind ether /net/ether0\n"
                      "/net/ipifc/0/ctl mtu 1400\n"
                      "/net/ipifc/0/ctl delay 10\n"
                      "/net/ipifc/0/ctl add 198.18.0.1 /24\n"
                      "/net/ipifc/0/ctl add 198.18.3.1 /24 198.18.3.1 0 proxy\n");
}

TEST_F(SaveTest, SlaacAddressesAndTheAdvertisedDefaultRouteStayOut) {
    Ipifc& f = ifc();
    ctl(f, "bind ether /net/ether0");
    ctl(f, "add 2001:2:0:1::1 /64");
    ctl(f, "add6 2001:2:0:7:: 64 1 1 3600 1800");
    f.lifc.back().fromra = true;  // as ra6_autoconf marks it
    s.routers6.push_back(DefRouter6{*parseip("fe80::1"), f.x, ~0ull});
    s.defroute_sync();
    ASSERT_TRUE(s.defroute6_set);
    std::string out = save();
    EXPECT_EQ(out.find("2001:2:0:7"), std::string::npos) << out;
    EXPECT_EQ(out.find("/net/iproute"), std::string::npos) << out;  // derived routes only
    EXPECT_NE(out.find("/net/ipifc/0/ctl add 2001:2:0:1::1 /64\n"), std::string::npos) << out;
}

TEST_F(SaveTest, InterfaceNumbersAreTheReplaysOnes) {
    Ipifc& a = ifc();
    Ipifc& b = ifc();
    ctl(a, "bind ether /net/ether0");
    ctl(b, "bind ether /net/ether1");
    ctl(b, "add 198.18.1.1 /24");
    ctl(a, "unbind");  // ipifc 0 goes: a replay makes ipifc 1 as number 0
    ASSERT_FALSE(s.arp_write("add ether 198.18.1.9 02180000010a"));
    route("198.18.9.0", "/24", "198.18.1.2", b.x, "ospf");
    std::string out = save();
    EXPECT_NE(out.find("/net/ipifc/clone bind ether /net/ether1\n"
                       "/net/ipifc/0/ctl add 198.18.1.1 /24\n"), std::string::npos) << out;
    EXPECT_NE(out.find("/net/iproute add 198.18.9.0 /24 198.18.1.2 4 ospf 0 0.0.0.0 /0\n"),
              std::string::npos) << out;
    EXPECT_NE(out.find("/net/arp add ether 198.18.1.9 02180000010a 198.18.1.1\n"),
              std::string::npos) << out;
}

TEST_F(SaveTest, OnlyUserWrittenNeighboursAreSaved) {
    Ipifc& f = ifc();
    ctl(f, "bind ether /net/ether0");
    ctl(f, "add 198.18.0.1 /24");
    s.arp_enter(*parseip("198.18.0.7"), f.x, Ether{{2, 0, 0, 0, 0, 7}}, true);  // learned
    ASSERT_FALSE(s.arp_write("add ether 198.18.0.8 020000000008"));
    std::string arp;
    s.arp_text(arp);
    EXPECT_NE(arp.find("198.18.0.7"), std::string::npos);  // /net/arp shows both alike
    std::string out = save();
    EXPECT_EQ(out.find("198.18.0.7"), std::string::npos) << out;
    EXPECT_NE(out.find("/net/arp add ether 198.18.0.8 020000000008 198.18.0.1\n"),
              std::string::npos) << out;
}

TEST_F(SaveTest, NdbLinesKeepTheirLeadingTabs) {
    s.ndb = "ip=198.18.0.1 sys=devip\n\tdom=devip.test\n\nsys=other\n";
    std::string out = save();
    EXPECT_NE(out.find("/net/ndb ip=198.18.0.1 sys=devip\n/net/ndb \tdom=devip.test\n"
                       "/net/ndb\n/net/ndb sys=other\n"), std::string::npos) << out;
}

TEST_F(SaveTest, GreTunnelsAreSavedWithTheirOptionsAndRoutes) {
    Ipifc& e = ifc();
    ctl(e, "bind ether /net/ether0");
    ctl(e, "add 198.18.0.1 255.255.255.0");
    Ipifc& g = ifc();
    ctl(g, "bind gre 198.18.0.1 198.18.0.2 key 7 csum seq");
    ctl(g, "add 198.19.200.1 255.255.255.252");
    Ipifc& h = ifc();
    ctl(h, "bind gre 198.18.0.1 198.18.0.3");
    route("198.18.5.0", "/24", "198.19.200.2", g.x, "none");
    EXPECT_EQ(save(), "# devip stack 0: the running configuration (ipctl save)\n"
                      "/net/ipifc/clone bind ether /net/ether0\n"
                      "/net/ipifc/0/ctl add 198.18.0.1 /24\n"
                      "/net/ipifc/clone bind gre 198.18.0.1 198.18.0.2 key 7 csum seq\n"
                      "/net/ipifc/1/ctl add 198.19.200.1 /30\n"
                      "/net/ipifc/clone bind gre 198.18.0.1 198.18.0.3\n"
                      "/net/iproute add 198.18.5.0 /24 198.19.200.2 4 none 1 0.0.0.0 /0\n");
}

}  // namespace
}  // namespace devip::proto
