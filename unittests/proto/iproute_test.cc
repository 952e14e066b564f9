// The control-side routing table: ip3.md §2.7 (text), §3.12 (writes), §4.3 (lookup),
// §6 quirks 3 and 4. Test names end with the section they check.
#include "proto/iproute.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <tuple>

#include "proto/cmd.h"
#include "proto/ipaux.h"
#include "proto/text.h"

using namespace devip::proto;

namespace {

Ipaddr A(const char* s) {
    auto r = parseip(s);
    EXPECT_TRUE(bool(r)) << s;
    return r ? *r : Ipaddr{};
}

std::string E(Err e) { return e.text ? e.text : "ok"; }

// A route as the interface code would build it. mask and smask in parseipandmask syntax.
Route R(const char* dst, const char* mask, const char* gate, uint16_t type, int ifc,
        RouteTag tag, const char* src = nullptr, const char* smask = nullptr) {
    Route r;
    EXPECT_FALSE(bool(parseipandmask(r.dst, r.mask, dst, std::string_view(mask))));
    if (src) {
        EXPECT_FALSE(bool(parseipandmask(r.src, r.smask, src, std::string_view(smask))));
    }
    r.gate = A(gate);
    r.type = type;
    r.ifc = ifc;
    r.tag = tag;
    return r;
}

// The stack's interfaces as the routing table sees them, with 9front findipifc's choice.
class FakeIfcs : public IfcView {
public:
    struct Lifc {
        int ifc;
        Ipaddr local, mask, net;
    };
    void addr(int ifc, const char* local, const char* mask) {
        Lifc l{ifc, {}, {}, {}};
        EXPECT_FALSE(bool(parseipandmask(l.local, l.mask, local, std::string_view(mask))));
        l.net = l.local & l.mask;
        lifcs.push_back(l);
        bound.insert(ifc);
    }
    bool ifc_bound(int ifc) const override { return bound.count(ifc) > 0; }
    int ifc_of_local(const Ipaddr& a) const override {
        for (const auto& l : lifcs)
            if (l.local == a) return l.ifc;
        return -1;
    }
    int find_ifc(const Ipaddr& gate, const Ipaddr& src) const override {
        int best = -1, bestspec = 0;
        for (const auto& l : lifcs) {
            if ((gate & l.mask) != l.net) continue;
            int spec = common_prefix(gate, l.local) << 8 | common_prefix(src, l.local);
            if (spec > bestspec) best = l.ifc, bestspec = spec;
        }
        return best;
    }
    std::vector<Lifc> lifcs;
    std::set<int> bound;
};

// ifc 0: 192.168.1.10/24 (the §2.7 example), ifc 1: 198.18.0.1/24, ifc 2: 2001:2::1/64,
// ifc 3: bound without addresses.
class IprouteW : public ::testing::Test {
protected:
    IprouteW() {
        ifcs.addr(0, "192.168.1.10", "/24");
        ifcs.addr(1, "198.18.0.1", "/24");
        ifcs.addr(2, "2001:2::1", "/64");
        ifcs.bound.insert(3);
    }
    Err w(const char* text) { return rib.write(parsecmd(text), tag, ifcs); }
    std::string text() const {
        std::string s;
        rib.text(s);
        return s;
    }
    // the one route there is, as text
    std::string only() const {
        EXPECT_EQ(rib.size(), 1u);
        return text();
    }
    Rib rib;
    RouteTag tag = kTagNone;
    FakeIfcs ifcs;
};

// The routes `add 192.168.1.10 255.255.255.0` on ipifc 0 installs that the §2.7 example shows.
void add_example_ifc(Rib& rib) {
    rib.add(R("192.168.1.0", "/24", "192.168.1.0", Rv4 | Rifc, 0, kTagIfc, "192.168.1.10", "/32"));
    rib.add(R("192.168.1.0", "/24", "192.168.1.0", Rv4 | Rifc, 0, kTagIfc));
    rib.add(R("192.168.1.10", "/32", "192.168.1.10", Rv4 | Runi, 0, kTagIfc));
    rib.add(R("192.168.1.255", "/32", "192.168.1.255", Rv4 | Rbcast, 0, kTagIfc, "192.168.1.10",
              "/32"));
}

// ---- text (§2.7) ------------------------------------------------------------------------

TEST_F(IprouteW, ExampleByteForByte_2_7) {
    add_example_ifc(rib);
    ASSERT_EQ(E(w("add 0.0.0.0 /0 192.168.1.1")), "ok");
    EXPECT_EQ(text(),
              "0.0.0.0         /96  192.168.1.1     4    none   0 0.0.0.0         /96 \n"
              "192.168.1.0     /120 192.168.1.0     4i   ifc    0 192.168.1.10    /128\n"
              "192.168.1.0     /120 192.168.1.0     4i   ifc    0 0.0.0.0         /96 \n"
              "192.168.1.10    /128 192.168.1.10    4u   ifc    0 0.0.0.0         /96 \n"
              "192.168.1.255   /128 192.168.1.255   4b   ifc    0 192.168.1.10    /128\n");
}

TEST_F(IprouteW, V4BeforeV6AndV6AnySource_2_7) {
    ASSERT_EQ(E(w("add 2001:2:0:1:: /64 2001:2::fe")), "ok");
    ASSERT_EQ(E(w("add 198.18.1.0 /24 198.18.0.254")), "ok");
    EXPECT_EQ(text(),
              "198.18.1.0      /120 198.18.0.254    4    none   1 0.0.0.0         /96 \n"
              "2001:2:0:1::    /64  2001:2::fe      6    none   2 ::              /0  \n");
}

TEST_F(IprouteW, WiderMaskFirstThenSourceSpecificFirst_2_7) {
    ASSERT_EQ(E(w("add 198.18.4.0 /25 198.18.0.254")), "ok");
    ASSERT_EQ(E(w("add 198.18.4.0 /24 198.18.0.254")), "ok");
    ASSERT_EQ(E(w("add 198.18.4.0 /24 198.18.0.254 198.18.0.7 /32")), "ok");
    ASSERT_EQ(E(w("add 198.18.4.0 /24 198.18.0.254 198.18.0.0 /24")), "ok");
    ASSERT_EQ(E(w("add 198.18.3.0 /24 198.18.0.254")), "ok");
    EXPECT_EQ(text(),
              "198.18.3.0      /120 198.18.0.254    4    none   1 0.0.0.0         /96 \n"
              "198.18.4.0      /120 198.18.0.254    4    none   1 198.18.0.0      /120\n"
              "198.18.4.0      /120 198.18.0.254    4    none   1 198.18.0.7      /128\n"
              "198.18.4.0      /120 198.18.0.254    4    none   1 0.0.0.0         /96 \n"
              "198.18.4.0      /121 198.18.0.254    4    none   1 0.0.0.0         /96 \n");
}

TEST_F(IprouteW, V6OrderAndSources_2_7) {
    ASSERT_EQ(E(w("add 2001:2:0:1:: /64 2001:2::fe 2001:2::1 /128")), "ok");
    ASSERT_EQ(E(w("add 2001:2:0:1:: /64 2001:2::fe")), "ok");
    ASSERT_EQ(E(w("add 2001:2:0:1:: /48 2001:2::fe")), "ok");
    ASSERT_EQ(E(w("add ::1 /128 2001:2::fe")), "ok");
    ASSERT_EQ(E(w("add 198.18.9.0 /24 198.18.0.254")), "ok");
    EXPECT_EQ(text(),
              "198.18.9.0      /120 198.18.0.254    4    none   1 0.0.0.0         /96 \n"
              "::1             /128 2001:2::fe      6    none   2 ::              /0  \n"
              "2001:2::        /48  2001:2::fe      6    none   2 ::              /0  \n"
              "2001:2:0:1::    /64  2001:2::fe      6    none   2 2001:2::1       /128\n"
              "2001:2:0:1::    /64  2001:2::fe      6    none   2 ::              /0  \n");
}

TEST(Iproute, FlagLettersInOrder_2_7) {
    char b[8];
    route_type_text(0, b);
    EXPECT_STREQ(b, "6");
    route_type_text(Rv4 | Rifc | Runi | Rptpt | Rproxy | Rtrans, b);
    EXPECT_STREQ(b, "4iupyt");
    route_type_text(Rv4 | Rtrans | Rbcast, b);
    EXPECT_STREQ(b, "4bt");
    route_type_text(Rmulti | Rifc, b);
    EXPECT_STREQ(b, "6im");
}

TEST(Iproute, TagRightJustifiedIfcInThreeColumns_2_7) {
    Rib rib;
    rib.add(R("198.18.9.0", "/24", "198.18.0.254", Rv4 | Rproxy | Rptpt | Rtrans, 12,
              make_tag("ab")));
    std::string s;
    rib.text(s);
    EXPECT_EQ(s, "198.18.9.0      /120 198.18.0.254    4pyt   ab  12 0.0.0.0         /96 \n");
}

TEST(Iproute, NoncontiguousMaskPrintsAsAddress_2_7) {
    Rib rib;
    rib.add(R("10.1.2.3", "255.0.255.0", "198.18.0.254", Rv4, 1, kTagNone));
    std::string s;
    rib.text(s);
    EXPECT_EQ(s,
              "10.0.2.0        ffff:ffff:ffff:ffff:ffff:ffff:ff00:ff00 "
              "198.18.0.254    4    none   1 0.0.0.0         /96 \n");
}

TEST_F(IprouteW, ChunkedReadsEqualText_2_7) {
    add_example_ifc(rib);
    ASSERT_EQ(E(w("add 0.0.0.0 /0 192.168.1.1")), "ok");
    ASSERT_EQ(E(w("add 2001:2:0:1:: /64 2001:2::fe")), "ok");
    const std::string all = text();
    for (size_t chunk : {1, 7, 72, 73, 100, 1000}) {
        std::string got;
        for (size_t off = 0;;) {
            size_t n = rib.read(got, off, chunk);
            if (n == 0) break;
            EXPECT_LE(n, chunk);
            off += n;
        }
        EXPECT_EQ(got, all) << "chunk " << chunk;
    }
    std::string mid;  // an offset inside a line, after reading further on
    rib.read(mid, 200, 10);
    mid.clear();
    rib.read(mid, 5, 20);
    EXPECT_EQ(mid, all.substr(5, 20));
    mid.clear();
    EXPECT_EQ(rib.read(mid, all.size(), 10), 0u);
    EXPECT_EQ(rib.read(mid, all.size() + 5, 10), 0u);
}

TEST_F(IprouteW, ReadAfterChangeSeesNewTable_2_7) {
    ASSERT_EQ(E(w("add 198.18.4.0 /24 198.18.0.254")), "ok");
    std::string a;
    rib.read(a, 0, 1000);
    ASSERT_EQ(E(w("add 198.18.3.0 /24 198.18.0.254")), "ok");
    std::string b;
    rib.read(b, 0, 1000);
    EXPECT_EQ(b, text());
    EXPECT_NE(a, b);
}

// ---- write forms (§3.12) ---------------------------------------------------------------

TEST_F(IprouteW, Add4Fields_3_12) {
    ASSERT_EQ(E(w("add 198.18.5.0 255.255.255.0 198.18.0.254")), "ok");
    EXPECT_EQ(only(),
              "198.18.5.0      /120 198.18.0.254    4    none   1 0.0.0.0         /96 \n");
}

TEST_F(IprouteW, Add5FieldsIfcNumberOrLocalAddress_3_12) {
    ASSERT_EQ(E(w("add 198.18.5.0 /24 198.18.0.254 3")), "ok");
    EXPECT_EQ(only(),
              "198.18.5.0      /120 198.18.0.254    4    none   3 0.0.0.0         /96 \n");
    ASSERT_EQ(E(w("add 198.18.5.0 /24 198.18.0.254 192.168.1.10")), "ok");  // replaces
    EXPECT_EQ(only(),
              "198.18.5.0      /120 198.18.0.254    4    none   0 0.0.0.0         /96 \n");
}

TEST_F(IprouteW, Add6FieldsSource_3_12) {
    ASSERT_EQ(E(w("add 0.0.0.0 /0 198.18.0.254 198.18.0.1 /32")), "ok");
    EXPECT_EQ(only(),
              "0.0.0.0         /96  198.18.0.254    4    none   1 198.18.0.1      /128\n");
}

TEST_F(IprouteW, Add7FieldsIfcAndSource_3_12) {
    ASSERT_EQ(E(w("add 0.0.0.0 /96 198.18.0.254 198.18.0.1 198.18.0.0 /24")), "ok");
    EXPECT_EQ(only(),
              "0.0.0.0         /96  198.18.0.254    4    none   1 198.18.0.0      /120\n");
}

TEST_F(IprouteW, Add8FieldsFlags_3_12) {
    ASSERT_EQ(E(w("add 0.0.0.0 /96 198.18.0.254 4t 1 0.0.0.0 /96")), "ok");
    EXPECT_EQ(only(),
              "0.0.0.0         /96  198.18.0.254    4t   none   1 0.0.0.0         /96 \n");
}

TEST_F(IprouteW, Add9FieldsTag_3_12) {
    ASSERT_EQ(E(w("add 2000:: /3 2001:2::fe 6p dhcpx 2 :: /0")), "ok");
    EXPECT_EQ(only(),
              "2000::          /3   2001:2::fe      6p   dhcp   2 ::              /0  \n");
}

TEST_F(IprouteW, FlagsDigitFollowsTarget_3_12) {
    ASSERT_EQ(E(w("add 198.18.5.0 /24 198.18.0.254 6 1 :: /0")), "ok");
    EXPECT_NE(text().find(" 4    none "), std::string::npos) << text();
    rib.flush(std::nullopt);
    ASSERT_EQ(E(w("add 2001:2:0:7:: /64 2001:2::fe 4 2 :: /0")), "ok");
    EXPECT_EQ(only(),
              "2001:2:0:7::    /64  2001:2::fe      6    none   2 ::              /0  \n");
}

TEST_F(IprouteW, FlagsGrammar_3_12) {
    const char* good[] = {"4", "6", "4iuypt", "4ti", "6m", "4b"};
    for (const char* f : good) {
        std::string c = std::string("add 198.18.5.0 /24 198.18.0.254 ") + f + " 1 0.0.0.0 /0";
        EXPECT_EQ(E(w(c.c_str())), "ok") << f;
    }
    const char* bad[] = {"", "5", "i", "4ii", "4ub", "4mu", "4bm", "4x", "44", "4 ", "4pp"};
    for (const char* f : bad) {
        std::string c =
            std::string("add 198.18.5.0 /24 198.18.0.254 '") + f + "' 1 0.0.0.0 /0";
        EXPECT_EQ(E(w(c.c_str())), "bad process or channel control request") << f;
    }
    EXPECT_EQ(parse_route_type("4iuypt"), Rv4 | Rifc | Runi | Rproxy | Rptpt | Rtrans);
    EXPECT_EQ(parse_route_type("6"), 0);
}

TEST_F(IprouteW, DelFormsByFieldCount_3_12) {
    // a ::/0 address on ifc 3 lets a zero gateway resolve (so 3- and 5-field deletes work)
    ifcs.addr(3, "::", "/0");
    auto add_and_del = [&](const char* add, const char* del) {
        ASSERT_EQ(E(w(add)), "ok") << add;
        ASSERT_EQ(rib.size(), 1u) << add;
        EXPECT_EQ(E(w(del)), "ok") << del;
        EXPECT_EQ(rib.size(), 0u) << del;
        rib.flush(std::nullopt);
    };
    add_and_del("add 2001:2:0:5:: /64 :: 3", "del 2001:2:0:5:: /64");
    add_and_del("add 198.18.5.0 /24 198.18.0.254", "del 198.18.5.0 /24 198.18.0.254");
    add_and_del("add 2001:2:0:5:: /64 :: 3 2001:2::/48 /48",
                "remove 2001:2:0:5:: /64 2001:2:: /48");
    add_and_del("add 198.18.5.0 /24 198.18.0.254 198.18.0.1 /32",
                "del 198.18.5.0 /24 198.18.0.254 198.18.0.1 /32");
    add_and_del("add 198.18.5.0 /24 198.18.0.254 1 198.18.0.1 /32",
                "remove 198.18.5.0 /24 198.18.0.254 1 198.18.0.1 /32");
    add_and_del("add 198.18.5.0 /24 198.18.0.254 4y 1 0.0.0.0 /0",
                "del 198.18.5.0 /24 198.18.0.254 4 1 0.0.0.0 /0");
    add_and_del("add 198.18.5.0 /24 198.18.0.254 4 dhcp 1 0.0.0.0 /0",
                "del 198.18.5.0 /24 0.0.0.0 4 dhcp 1 0.0.0.0 /0");
}

TEST_F(IprouteW, ShortDelFormsNeedAnInterface_6_q3) {
    ASSERT_EQ(E(w("add 198.18.5.0 /24 198.18.0.254")), "ok");
    EXPECT_EQ(E(w("del 198.18.5.0 /24")), "interface not found");
    EXPECT_EQ(E(w("del 198.18.5.0 /24 198.18.0.0 /24")), "interface not found");
    EXPECT_EQ(rib.size(), 1u);
}

TEST_F(IprouteW, FieldCountErrors_3_12) {
    const std::string Ebadctl_ = "bad process or channel control request";
    EXPECT_EQ(E(w("add")), Ebadctl_);
    EXPECT_EQ(E(w("add 198.18.5.0")), Ebadctl_);
    EXPECT_EQ(E(w("add 198.18.5.0 /24")), Ebadctl_);
    EXPECT_EQ(E(w("del")), Ebadctl_);
    EXPECT_EQ(E(w("remove 198.18.5.0")), Ebadctl_);
    EXPECT_EQ(E(w("add 198.18.5.0 /24 198.18.0.254 4 none x 1 0.0.0.0 /0")), Ebadctl_);
    EXPECT_EQ(E(w("del 198.18.5.0 /24 198.18.0.254 4 none x 1 0.0.0.0 /0")), Ebadctl_);
    EXPECT_EQ(E(w("add 1 2 3 4 5 6 7 8 9 10 11")), Ebadctl_);
    EXPECT_EQ(rib.size(), 0u);
}

TEST_F(IprouteW, UnknownVerbs_3_12) {
    const std::string Ebadctl_ = "bad process or channel control request";
    EXPECT_EQ(E(w("route add 198.18.5.0 /24 198.18.0.254")), Ebadctl_);
    EXPECT_EQ(E(w("delete 198.18.5.0")), Ebadctl_);
    EXPECT_EQ(E(w("Add 198.18.5.0 /24 198.18.0.254")), Ebadctl_);
    EXPECT_EQ(E(w("flushall")), Ebadctl_);
}

TEST_F(IprouteW, EmptyWriteIsShort_3_16) {
    EXPECT_EQ(E(w("")), "short control request");
    EXPECT_EQ(E(w("  \n")), "short control request");
}

TEST_F(IprouteW, TagWithoutArgument_3_12) {
    EXPECT_EQ(E(w("tag")), "bad arg in system call");
    EXPECT_EQ(tag, kTagNone);
}

TEST_F(IprouteW, AddressErrors_3_12) {
    const std::string Ebadip_ = "bad ip address syntax";
    EXPECT_EQ(E(w("add 198.18.5.x /24 198.18.0.254")), Ebadip_);           // target
    EXPECT_EQ(E(w("add 198.18.5.0 /40 198.18.0.254")), Ebadip_);           // v4 mask /33../95
    EXPECT_EQ(E(w("add 198.18.5.0 ffff:: 198.18.0.254")), Ebadip_);        // v6 mask, v4 target
    EXPECT_EQ(E(w("add 198.18.5.0 /24 gateway")), Ebadip_);                // gate
    EXPECT_EQ(E(w("add 198.18.5.0 /24 198.18.0.254 zz /32")), Ebadip_);    // source
    EXPECT_EQ(E(w("add 198.18.5.0 /24 198.18.0.254 1 198.18.0.1 /45")), Ebadip_);  // smask
    EXPECT_EQ(E(w("del 198.18.5.0 /24 2001:2::zz /32")), Ebadip_);         // 5-field del source
    // v4 target: a non-v4 gate, or a non-v4 source with a non-zero smask
    EXPECT_EQ(E(w("add 198.18.5.0 /24 2001:2::fe")), Ebadip_);
    EXPECT_EQ(E(w("add 198.18.5.0 /24 198.18.0.254 2001:2::1 /64")), Ebadip_);
    EXPECT_EQ(E(w("add 198.18.5.0 /24 :: 1")), "ok");                      // zero gate is fine
    EXPECT_EQ(E(w("add 198.18.6.0 /24 198.18.0.254 1 :: /0")), "ok");      // zero smask too
    EXPECT_EQ(rib.size(), 2u);
}

TEST_F(IprouteW, ErrorPrecedenceFollows9front_3_12) {
    // address faults are found before the field count, the flags and the interface
    EXPECT_EQ(E(w("add 198.18.5.0 /24 198.18.0.254 4 none 1 0.0.0.0 zz x")),
              "bad ip address syntax");
    EXPECT_EQ(E(w("add bad /24")), "bad ip address syntax");
    EXPECT_EQ(E(w("add 198.18.5.0 /24 198.18.0.254 4 none 1 0.0.0.0 /0 x")),
              "bad ip address syntax");  // 10 fields: the last two are source and smask
    EXPECT_EQ(E(w("add 198.18.5.0 /24 198.18.0.254 4 none 99 1 0.0.0.0 /0")),
              "bad process or channel control request");  // count before interface
    EXPECT_EQ(E(w("add 198.18.5.0 /24 2001:2::fe 4 none 99 0.0.0.0 /0")),
              "bad ip address syntax");
    EXPECT_EQ(E(w("add 198.18.5.0 /24 198.18.0.254 4q 99 0.0.0.0 /0")),
              "bad process or channel control request");
}

TEST_F(IprouteW, InterfaceErrors_3_12) {
    const std::string Enoifc_ = "interface not found";
    EXPECT_EQ(E(w("add 198.18.5.0 /24 198.18.0.254 -")), Enoifc_);   // quirk 3: no "-"
    EXPECT_EQ(E(w("add 198.18.5.0 /24 198.18.0.254 7")), Enoifc_);   // not bound
    EXPECT_EQ(E(w("add 198.18.5.0 /24 198.18.0.254 -1")), Enoifc_);
    EXPECT_EQ(E(w("add 198.18.5.0 /24 198.18.0.254 99999999999999999999")), Enoifc_);
    EXPECT_EQ(E(w("add 198.18.5.0 /24 198.18.0.254 ether0")), Enoifc_);
    EXPECT_EQ(E(w("add 198.18.5.0 /24 203.0.113.1")), Enoifc_);      // gate on no network
    EXPECT_EQ(E(w("add 198.18.5.0 /24 203.0.113.1 203.0.113.9")), Enoifc_);  // not ours
    EXPECT_EQ(rib.size(), 0u);
    EXPECT_EQ(E(w("add 198.18.5.0 /24 203.0.113.1 3")), "ok");       // explicit wins
    EXPECT_EQ(E(w("add 198.18.6.0 /24 203.0.113.1 198.18.0.1")), "ok");
    EXPECT_EQ(E(w("add 198.18.7.0 /24 203.0.113.1 198.18.0.77")), "ok");  // on its network
    EXPECT_EQ(text(),
              "198.18.5.0      /120 203.0.113.1     4    none   3 0.0.0.0         /96 \n"
              "198.18.6.0      /120 203.0.113.1     4    none   1 0.0.0.0         /96 \n"
              "198.18.7.0      /120 203.0.113.1     4    none   1 0.0.0.0         /96 \n");
}

TEST_F(IprouteW, FailedWriteChangesNothing_3_12) {
    ASSERT_EQ(E(w("add 198.18.5.0 /24 198.18.0.254")), "ok");
    const uint64_t g = rib.generation();
    const std::string before = text();
    EXPECT_NE(E(w("add 198.18.5.0 /24 198.18.0.99 4 dhcp 7 0.0.0.0 /0")), "ok");
    EXPECT_NE(E(w("add 198.18.5.0 /24 198.18.0.99 4z dhcp 1 0.0.0.0 /0")), "ok");
    EXPECT_NE(E(w("del 198.18.5.0 /24 198.18.0.254 4 none 1 0.0.0.0 /0 extra")), "ok");
    EXPECT_EQ(rib.generation(), g);
    EXPECT_EQ(text(), before);
}

// ---- tags and flush (§3.12, quirk 4) ------------------------------------------------

TEST_F(IprouteW, FdTagAppliesToAdds_3_12) {
    ASSERT_EQ(E(w("tag dhcp")), "ok");
    ASSERT_EQ(E(w("add 198.18.5.0 /24 198.18.0.254")), "ok");
    ASSERT_EQ(E(w("tag ra6extra")), "ok");  // first 4 characters count
    EXPECT_EQ(tag, make_tag("ra6e"));
    ASSERT_EQ(E(w("add 198.18.6.0 /24 198.18.0.254")), "ok");
    ASSERT_EQ(E(w("add 198.18.7.0 /24 198.18.0.254 4 ab 1 0.0.0.0 /0")), "ok");  // 9-field tag
    EXPECT_EQ(text(),
              "198.18.5.0      /120 198.18.0.254    4    dhcp   1 0.0.0.0         /96 \n"
              "198.18.6.0      /120 198.18.0.254    4    ra6e   1 0.0.0.0         /96 \n"
              "198.18.7.0      /120 198.18.0.254    4      ab   1 0.0.0.0         /96 \n");
}

TEST_F(IprouteW, DeleteNeedsFdTag_3_12) {
    ASSERT_EQ(E(w("tag dhcp")), "ok");
    ASSERT_EQ(E(w("add 0.0.0.0 /0 198.18.0.254")), "ok");
    RouteTag other = kTagNone;  // another fd, never tagged
    EXPECT_EQ(E(rib.write(parsecmd("del 0.0.0.0 /0 198.18.0.254"), other, ifcs)), "ok");
    EXPECT_EQ(rib.size(), 1u);  // mismatch silently ignored (quirk 3)
    EXPECT_EQ(E(w("del 0.0.0.0 /0 198.18.0.254")), "ok");
    EXPECT_EQ(rib.size(), 0u);
}

TEST_F(IprouteW, FlushRemovesSelfRoutesToo_6_q4) {
    add_example_ifc(rib);
    ASSERT_EQ(E(w("add 0.0.0.0 /0 192.168.1.1")), "ok");
    ASSERT_EQ(E(w("flush")), "ok");
    EXPECT_EQ(text(),
              "192.168.1.0     /120 192.168.1.0     4i   ifc    0 192.168.1.10    /128\n"
              "192.168.1.0     /120 192.168.1.0     4i   ifc    0 0.0.0.0         /96 \n");
}

TEST_F(IprouteW, FlushTagComparesFourCharacters_3_12) {
    add_example_ifc(rib);
    ASSERT_EQ(E(w("tag dhcp")), "ok");
    ASSERT_EQ(E(w("add 0.0.0.0 /0 192.168.1.1")), "ok");
    ASSERT_EQ(E(w("tag none")), "ok");
    ASSERT_EQ(E(w("add 198.18.5.0 /24 198.18.0.254")), "ok");
    ASSERT_EQ(rib.size(), 6u);
    ASSERT_EQ(E(w("flush dhc")), "ok");
    EXPECT_EQ(rib.size(), 6u);
    ASSERT_EQ(E(w("flush dhcpd")), "ok");
    EXPECT_EQ(rib.size(), 5u);
    ASSERT_EQ(E(w("flush 'ifc '")), "ok");  // self routes carry "ifc "; i routes survive
    EXPECT_EQ(rib.size(), 3u);
    ASSERT_EQ(E(w("flush none")), "ok");
    EXPECT_EQ(rib.size(), 2u);
}

// ---- replace and delete rules (§3.12) -----------------------------------------------

TEST_F(IprouteW, AddReplacesSameRanges_3_12) {
    ASSERT_EQ(E(w("add 198.18.5.0 /24 198.18.0.254")), "ok");
    ASSERT_EQ(E(w("add 198.18.5.1 /24 198.18.0.253 4y dhcp 3 0.0.0.0 /0")), "ok");
    EXPECT_EQ(only(),
              "198.18.5.0      /120 198.18.0.253    4y   dhcp   3 0.0.0.0         /96 \n");
    ASSERT_EQ(E(w("add 198.18.5.0 /24 198.18.0.254 198.18.0.1 /32")), "ok");  // other source
    EXPECT_EQ(rib.size(), 2u);
}

TEST_F(IprouteW, InterfaceRouteIsProtected_3_12) {
    add_example_ifc(rib);
    ASSERT_EQ(E(w("add 192.168.1.0 /24 192.168.1.254")), "ok");
    ASSERT_EQ(E(w("add 192.168.1.0 /24 192.168.1.254 4y dhcp 0 0.0.0.0 /0")), "ok");
    EXPECT_NE(text().find("192.168.1.0     /120 192.168.1.0     4i   ifc    0 0.0.0.0"),
              std::string::npos)
        << text();
    EXPECT_EQ(rib.size(), 4u);
}

TEST(Iproute, InterfaceRoutesAreCounted_4_2_2) {
    // two addresses on one network install the same i route; removing one keeps it
    Rib rib;
    rib.add(R("198.18.0.0", "/24", "198.18.0.0", Rv4 | Rifc, 1, kTagIfc));
    rib.add(R("198.18.0.0", "/24", "198.18.0.0", Rv4 | Rifc | Rtrans, 1, kTagIfc));
    ASSERT_EQ(rib.size(), 1u);
    const Route* r = rib.lookup(A("198.18.0.9"), IPnoaddr);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->type, Rv4 | Rifc | Rtrans);  // the later add's nat bit
    EXPECT_EQ(r->ref, 2u);
    EXPECT_TRUE(rib.remove(R("198.18.0.0", "/24", "198.18.0.0", Rv4 | Rifc, 1, kTagIfc)));
    EXPECT_EQ(rib.size(), 1u);
    EXPECT_TRUE(rib.remove(R("198.18.0.0", "/24", "198.18.0.0", Rv4 | Rifc, 1, kTagIfc)));
    EXPECT_EQ(rib.size(), 0u);
    EXPECT_FALSE(rib.remove(R("198.18.0.0", "/24", "198.18.0.0", Rv4 | Rifc, 1, kTagIfc)));
}

TEST(Iproute, AcceptAllAddressMakesAV4DefaultRoute_4_2_2) {
    // `add :: /0` on an interface: the address is IPnoaddr, so its routes are v4 (Rv4), and a
    // v4 route only looks at the low 32 bits (9front mkroute)
    Rib rib;
    rib.add(R("::", "/0", "::", Rv4 | Rifc, 3, kTagIfc));
    std::string s;
    rib.text(s);
    EXPECT_EQ(s, "0.0.0.0         /96  0.0.0.0         4i   ifc    3 0.0.0.0         /96 \n");
    ASSERT_NE(rib.lookup(A("198.18.0.1"), IPnoaddr), nullptr);
    EXPECT_EQ(rib.lookup(A("2001:2::1"), IPnoaddr), nullptr);
}

TEST(Iproute, AnAddWithIfcTakesOverAUserRoute_3_12) {
    Rib rib;
    rib.add(R("198.18.0.0", "/24", "198.18.0.254", Rv4, 3, kTagNone));
    rib.add(R("198.18.0.0", "/24", "198.18.0.0", Rv4 | Rifc, 1, kTagIfc));
    std::string s;
    rib.text(s);
    EXPECT_EQ(s, "198.18.0.0      /120 198.18.0.0      4i   ifc    1 0.0.0.0         /96 \n");
}

TEST_F(IprouteW, InterfaceRouteDeletableWithoutGateOrTag_3_12) {
    add_example_ifc(rib);
    ASSERT_EQ(E(w("tag xyz")), "ok");
    ASSERT_EQ(E(w("del 192.168.1.0 /24 192.168.1.99")), "ok");
    EXPECT_EQ(text().find("4i   ifc    0 0.0.0.0"), std::string::npos) << text();
    EXPECT_EQ(rib.size(), 3u);
}

TEST_F(IprouteW, DeleteMatchRules_3_12) {
    ASSERT_EQ(E(w("add 198.18.5.0 /24 198.18.0.254 4y 1 0.0.0.0 /0")), "ok");
    const uint64_t g = rib.generation();
    // each of these differs in one respect and is silently ignored
    const char* misses[] = {
        "del 198.18.5.0 /24 198.18.0.253",                        // gate
        "del 198.18.5.0 /24 198.18.0.254 3 0.0.0.0 /0",           // ifc
        "del 198.18.5.0 /24 198.18.0.254 4u 1 0.0.0.0 /0",        // u bit
        "del 198.18.5.0 /24 198.18.0.254 4i 1 0.0.0.0 /0",        // i bit
        "del 198.18.5.0 /24 198.18.0.254 4 dhcp 1 0.0.0.0 /0",    // tag
        "del 198.18.5.0 /25 198.18.0.254",                        // destination range
        "del 198.18.5.0 /24 198.18.0.254 198.18.0.1 /32",         // source range
    };
    for (const char* m : misses) {
        EXPECT_EQ(E(w(m)), "ok") << m;
        EXPECT_EQ(rib.size(), 1u) << m;
    }
    EXPECT_EQ(rib.generation(), g);
    // p, y and t do not count; a zero gate matches any gate
    ASSERT_EQ(E(w("del 198.18.5.0 /24 0.0.0.0 4pt 1 0.0.0.0 /0")), "ok");
    EXPECT_EQ(rib.size(), 0u);
    EXPECT_GT(rib.generation(), g);
}

TEST(Iproute, RemoveIfcTakesEverythingOnIt_4_3_6) {
    Rib rib;
    rib.add(R("198.18.0.0", "/24", "198.18.0.0", Rv4 | Rifc, 1, kTagIfc));
    rib.add(R("198.18.0.0", "/24", "198.18.0.0", Rv4 | Rifc, 1, kTagIfc));  // ref 2
    rib.add(R("198.18.0.1", "/32", "198.18.0.1", Rv4 | Runi, 1, kTagIfc));
    rib.add(R("0.0.0.0", "/0", "198.18.0.254", Rv4, 1, kTagNone));
    rib.add(R("2001:2::", "/64", "2001:2::", Rifc, 2, kTagIfc));
    rib.remove_ifc(1);
    std::string s;
    rib.text(s);
    EXPECT_EQ(s, "2001:2::        /64  2001:2::        6i   ifc    2 ::              /0  \n");
}

TEST(Iproute, GenerationCountsChanges_4_3) {
    Rib rib;
    uint64_t g = rib.generation();
    rib.add(R("198.18.5.0", "/24", "198.18.0.254", Rv4, 1, kTagNone));
    EXPECT_GT(rib.generation(), g);
    g = rib.generation();
    EXPECT_FALSE(rib.remove(R("198.18.6.0", "/24", "198.18.0.254", Rv4, 1, kTagNone)));
    rib.flush("zz");
    rib.remove_ifc(9);
    EXPECT_EQ(rib.generation(), g);
    rib.flush(std::nullopt);
    EXPECT_GT(rib.generation(), g);
}

// ---- lookup (§4.3.2) --------------------------------------------------------------------

class RibLookup : public ::testing::Test {
protected:
    void add(const char* dst, const char* mask, const char* gate, const char* src = nullptr,
             const char* smask = nullptr) {
        bool v4 = A(dst).is_v4();
        rib.add(R(dst, mask, gate, v4 ? Rv4 : 0, 1, kTagNone, src, smask));
    }
    std::string via(const char* dst, const char* src = "::") {
        const Route* r = rib.lookup(A(dst), A(src));
        return r ? fmt_gate(*r) : "none";
    }
    static std::string fmt_gate(const Route& r) {
        char b[64];
        const auto& g = r.gate.b;
        if (r.v4()) snprintf(b, sizeof b, "%d.%d.%d.%d", g[12], g[13], g[14], g[15]);
        else snprintf(b, sizeof b, "v6:%02x%02x", g[14], g[15]);
        return b;
    }
    Rib rib;
};

TEST_F(RibLookup, LongestDestinationWinsWhateverTheSource_4_3_2) {
    add("198.18.0.0", "/16", "1.1.1.1", "198.19.0.1", "/32");
    add("198.18.4.0", "/24", "2.2.2.2");
    EXPECT_EQ(via("198.18.4.9", "198.19.0.1"), "2.2.2.2");
    EXPECT_EQ(via("198.18.5.9", "198.19.0.1"), "1.1.1.1");
}

TEST_F(RibLookup, SameDestinationMatchingSourceBeatsAnySource_4_3_2) {
    add("198.18.4.0", "/24", "2.2.2.2");
    add("198.18.4.0", "/24", "3.3.3.3", "198.19.0.0", "/16");
    add("198.18.4.0", "/24", "4.4.4.4", "198.19.7.0", "/24");
    EXPECT_EQ(via("198.18.4.9", "198.19.7.1"), "4.4.4.4");   // narrower source wins
    EXPECT_EQ(via("198.18.4.9", "198.19.8.1"), "3.3.3.3");
    EXPECT_EQ(via("198.18.4.9", "198.20.0.1"), "2.2.2.2");   // non-matching skipped
    EXPECT_EQ(via("198.18.4.9"), "2.2.2.2");                 // no source
    EXPECT_EQ(via("198.18.4.9", "0.0.0.0"), "2.2.2.2");
}

TEST_F(RibLookup, NonMatchingSourceSpecificFallsBackToShorter_4_3_2) {
    add("0.0.0.0", "/0", "9.9.9.9");
    add("198.18.4.0", "/24", "3.3.3.3", "198.19.0.0", "/16");
    EXPECT_EQ(via("198.18.4.9", "198.20.0.1"), "9.9.9.9");
    EXPECT_EQ(via("198.18.4.9", "198.19.0.1"), "3.3.3.3");
}

TEST_F(RibLookup, FamiliesAreSeparate_4_3_2) {
    add("0.0.0.0", "/0", "9.9.9.9");
    EXPECT_EQ(via("2001:2::1"), "none");
    EXPECT_EQ(via("::ffff:198.18.0.1"), "9.9.9.9");
    add("::", "/0", "2001:2::fe");
    EXPECT_EQ(via("2001:2::1"), "v6:00fe");
    EXPECT_EQ(via("2001:2::1", "198.18.0.1"), "none");  // v4 source, v6 destination
    EXPECT_EQ(via("198.18.0.1", "2001:2::1"), "none");  // v6 source, v4 destination
    EXPECT_EQ(via("198.18.0.1", "198.18.0.7"), "9.9.9.9");
}

TEST_F(RibLookup, V6SourceSpecific_4_3_2) {
    add("2000::", "/3", "2001:2::fe");
    add("2000::", "/3", "2001:2::fd", "2001:2:0:1::", "/64");
    add("2001:2:0:9::", "/64", "2001:2::fc");
    EXPECT_EQ(via("2600::1", "2001:2:0:1::5"), "v6:00fd");
    EXPECT_EQ(via("2600::1", "2001:2:0:2::5"), "v6:00fe");
    EXPECT_EQ(via("2001:2:0:9::1", "2001:2:0:1::5"), "v6:00fc");
    EXPECT_EQ(via("fe80::1"), "none");
}

TEST_F(RibLookup, NoncontiguousMasksAreRanges_4_3_1) {
    // 10.1.2.3 & 255.0.255.0 .. 10.1.2.3 | 0.255.0.255 = 10.0.2.0 .. 10.255.2.255
    add("10.1.2.3", "255.0.255.0", "5.5.5.5");
    add("10.0.0.0", "/8", "6.6.6.6");
    add("10.5.0.0", "/16", "7.7.7.7");
    EXPECT_EQ(via("10.0.2.0"), "5.5.5.5");
    EXPECT_EQ(via("10.9.7.1"), "5.5.5.5");   // in the range, not in the mask pattern
    EXPECT_EQ(via("10.255.3.0"), "6.6.6.6");  // past the range
    EXPECT_EQ(via("10.5.1.1"), "7.7.7.7");   // a /16 nested inside the range
    EXPECT_TRUE(rib.remove(R("10.1.2.3", "255.0.255.0", "0.0.0.0", Rv4, 1, {})));
    EXPECT_EQ(via("10.9.7.1"), "6.6.6.6");
}

TEST_F(RibLookup, MatchesLeastToMostSpecific_4_3_4) {
    add("0.0.0.0", "/0", "1.1.1.1");
    add("198.18.4.0", "/24", "3.3.3.3", "198.19.0.0", "/16");
    add("198.18.4.0", "/24", "2.2.2.2");
    add("198.18.0.0", "/15", "4.4.4.4");
    add("198.18.4.0", "/24", "5.5.5.5", "198.19.0.0", "/24");
    add("198.18.4.128", "/25", "6.6.6.6");
    add("2001:2::", "/48", "2001:2::fe");
    std::vector<const Route*> out;
    rib.matches(A("198.18.4.9"), out);
    std::string got;
    for (const Route* r : out) got += fmt_gate(*r) + " ";
    EXPECT_EQ(got, "1.1.1.1 4.4.4.4 2.2.2.2 3.3.3.3 5.5.5.5 ");
}

// ---- randomized: the table against §4.3.2 applied literally -------------------------

__extension__ typedef unsigned __int128 U128;

U128 num(const Ipaddr& a, bool v4) {
    if (v4) return a.v4host();
    U128 x = 0;
    for (auto c : a.b) x = x << 8 | c;
    return x;
}

struct Ranges {            // one route as §4.3.1 ranges
    U128 lo, hi, slo, shi;
    bool specific;
    Route r;               // a copy: for_each hands out copies
};

Ranges ranges(const Route& r) {
    bool v4 = r.v4();
    U128 all = v4 ? U128(0xffffffffu) : ~U128(0);
    U128 m = num(r.mask, v4), sm = num(r.smask, v4);
    U128 d = num(r.dst, v4), s = num(r.src, v4);
    return {d & m, (d & m) | (~m & all), s & sm, (s & sm) | (~sm & all), sm != 0, r};
}

bool inside(U128 lo, U128 hi, U128 olo, U128 ohi) { return lo >= olo && hi <= ohi; }

// §4.3.2: candidates hold D, and S unless not source-specific; the most deeply nested wins.
// rs is sorted by lo, so only the routes starting at or below D are looked at.
const Route* literal_lookup(const std::vector<Ranges>& rs, U128 d, U128 s) {
    const Ranges* best = nullptr;
    auto end = std::upper_bound(rs.begin(), rs.end(), d,
                                [](U128 x, const Ranges& r) { return x < r.lo; });
    for (auto it = rs.begin(); it != end; ++it) {
        const Ranges& c = *it;
        if (d < c.lo || d > c.hi) continue;
        if (c.specific && (s < c.slo || s > c.shi)) continue;
        if (!best) { best = &c; continue; }
        bool deeper = (c.lo != best->lo || c.hi != best->hi)
                          ? inside(c.lo, c.hi, best->lo, best->hi)
                          : inside(c.slo, c.shi, best->slo, best->shi);
        if (deeper) best = &c;
    }
    return best ? &best->r : nullptr;
}

// The same route: the table holds at most one per (destination, source) pair.
bool same_route(const Route* a, const Route* b) {
    if (!a || !b) return a == b;
    return a->dst == b->dst && a->mask == b->mask && a->src == b->src && a->smask == b->smask &&
           a->gate == b->gate && a->type == b->type;
}

TEST(RibRandom, MatchesLiteralRule_4_3_2) {
    std::mt19937_64 rng(20240327);
    auto rnd = [&](uint64_t n) { return uint64_t(rng() % n); };
    // addresses from a small space so that prefixes nest and collide often
    auto v4addr = [&] {
        return Ipaddr::v4(0xc6120000u | uint32_t(rnd(4)) << 14 | uint32_t(rnd(1 << 14)));
    };
    auto v6addr = [&] {
        Ipaddr a = A("2001:2::");
        a.b[5] = uint8_t(rnd(4));
        a.b[6] = uint8_t(rnd(256));
        for (int i = 7; i < 16; i++) a.b[i] = uint8_t(rnd(4) == 0 ? rnd(256) : 0);
        return a;
    };
    auto v4src = [&] { return Ipaddr::v4(0xc6130000u | uint32_t(rnd(1 << 10))); };
    Rib rib;
    std::set<std::tuple<Ipaddr, Ipaddr, Ipaddr, Ipaddr>> keys;
    for (int i = 0; i < 20000; i++) {
        bool v4 = rnd(2);
        Route r;
        r.type = v4 ? Rv4 : 0;
        r.ifc = 1;
        r.tag = kTagNone;
        if (v4) {
            r.dst = v4addr();
            r.mask = prefix_mask(96 + int(14 + rnd(19)) - (rnd(8) == 0 ? int(rnd(14)) : 0));
            if (rnd(4) == 0) {
                r.src = v4src();
                r.smask = prefix_mask(96 + int(rnd(33)));
            }
            r.gate = Ipaddr::v4(uint32_t(i));
        } else {
            r.dst = v6addr();
            r.mask = prefix_mask(int(rnd(129)));
            if (rnd(4) == 0) {
                r.src = A("2001:2:ff::");
                r.src.b[15] = uint8_t(rnd(256));
                r.smask = prefix_mask(int(rnd(129)));
            }
            r.gate = A("2001:2::");
            r.gate.b[12] = uint8_t(i >> 8);
            r.gate.b[13] = uint8_t(i);
        }
        rib.add(r);
        // the table's own key: masked ranges in the family
        Route n = r;
        if (v4) {
            uint32_t m = r.mask.v4host(), sm = r.smask.v4host();
            n.dst = Ipaddr::v4(r.dst.v4host() & m);
            n.src = Ipaddr::v4(r.src.v4host() & sm);
            n.mask = r.mask;
            n.smask = prefix_mask(96 + std::popcount(sm));
        } else {
            n.dst = r.dst & r.mask;
            n.src = r.src & r.smask;
        }
        keys.insert({n.dst, n.mask, n.src, n.smask});
        if (i % 5 == 4 && rnd(2)) {  // delete a recent route now and then
            EXPECT_TRUE(rib.remove(r));
            keys.erase({n.dst, n.mask, n.src, n.smask});
        }
    }
    ASSERT_EQ(rib.size(), keys.size());
    std::vector<Ranges> v4s, v6s;
    rib.for_each([&](const Route& r) { (r.v4() ? v4s : v6s).push_back(ranges(r)); });
    for (auto* v : {&v4s, &v6s})
        std::sort(v->begin(), v->end(),
                  [](const Ranges& a, const Ranges& b) { return a.lo < b.lo; });

    int found = 0;
    for (int i = 0; i < 200000; i++) {
        bool v4 = rnd(2);
        Ipaddr d = v4 ? v4addr() : v6addr();
        Ipaddr s;
        if (v4) s = rnd(3) ? v4src() : IPnoaddr;
        else if (rnd(3)) s = A("2001:2:ff::"), s.b[15] = uint8_t(rnd(256));
        const Route* want = literal_lookup(v4 ? v4s : v6s, num(d, v4), num(s, v4));
        const Route* got = rib.lookup(d, s);
        ASSERT_TRUE(same_route(got, want)) << fmt_ip(d) << " from " << fmt_ip(s);
        found += got != nullptr;
    }
    EXPECT_GT(found, 100000);  // most lookups hit something

    // §2.7 order: v4 then v6; destination, wider mask, source-specific first, source
    std::string t;
    rib.text(t);
    std::vector<std::tuple<bool, Ipaddr, Ipaddr, bool, Ipaddr, Ipaddr>> lines;
    for (size_t at = 0; at < t.size();) {
        size_t nl = t.find('\n', at);
        CtlArgs f = parsecmd(t.substr(at, nl - at));
        at = nl + 1;
        ASSERT_EQ(f.size(), 8u);
        Ipaddr d = A(f[0].c_str()), src = A(f[6].c_str());
        auto m = parseipmask(f[1], d.is_v4()), sm = parseipmask(f[7], src.is_v4());
        ASSERT_TRUE(m && sm);
        bool any = d.is_v4() ? sm->v4host() == 0 : sm->is_noaddr();
        lines.emplace_back(!d.is_v4(), d, *m, any, src, *sm);
    }
    ASSERT_EQ(lines.size(), rib.size());
    EXPECT_TRUE(std::is_sorted(lines.begin(), lines.end()));
}

TEST(RibRandom, ChurnKeepsEveryRoute_4_3_2) {
    // many destinations of one length, deleted and re-added in random order, exercise the
    // per-length hash's growth and backward-shift deletion
    std::mt19937_64 rng(7);
    Rib rib;
    std::map<uint32_t, bool> in;  // /28 destinations (host-order v4) -> present
    auto route = [](uint32_t a) {
        Route r;
        r.dst = Ipaddr::v4(a);
        r.mask = prefix_mask(124);
        r.gate = Ipaddr::v4(a | 1);
        r.type = Rv4;
        r.ifc = 1;
        r.tag = kTagNone;
        return r;
    };
    for (int round = 0; round < 200000; round++) {
        uint32_t a = 0xc6120000u | uint32_t(rng() % 4096) << 4;
        if (in[a]) EXPECT_TRUE(rib.remove(route(a)));
        else rib.add(route(a));
        in[a] = !in[a];
    }
    size_t n = 0;
    for (auto [a, present] : in) {
        const Route* r = rib.lookup(Ipaddr::v4(a | 5), IPnoaddr);
        if (present) {
            n++;
            ASSERT_NE(r, nullptr);
            EXPECT_EQ(r->gate, Ipaddr::v4(a | 1));
        } else {
            EXPECT_EQ(r, nullptr);
        }
    }
    EXPECT_EQ(rib.size(), n);
    rib.flush(std::nullopt);
    EXPECT_EQ(rib.size(), 0u);
    EXPECT_EQ(rib.lookup(Ipaddr::v4(0xc6120005u), IPnoaddr), nullptr);
}

// ---- the compact table: copies, text, bulk erases ---------------------------------------

// The §2.7 order, applied literally to Routes: v4 first, then destination, mask,
// source-specific first, source, source mask (addresses compared as bytes).
bool text_order(const Route& a, const Route& b) {
    auto cmp = [](const Ipaddr& x, const Ipaddr& y) {
        return std::memcmp(x.b.data(), y.b.data(), 16);
    };
    if (a.v4() != b.v4()) return a.v4();
    if (int c = cmp(a.dst, b.dst)) return c < 0;
    if (int c = cmp(a.mask, b.mask)) return c < 0;
    if (a.source_specific() != b.source_specific()) return a.source_specific();
    if (int c = cmp(a.src, b.src)) return c < 0;
    return cmp(a.smask, b.smask) < 0;
}

// Random routes of every shape the text has: odd masks (any, or only a few distinct ones),
// sources, all flags, odd tags and interface numbers that do not fit three columns.
Route random_route(std::mt19937_64& rng, bool few_odd_masks = false) {
    auto rnd = [&](uint64_t n) { return uint64_t(rng() % n); };
    Route r;
    bool v4 = rnd(4) != 0;
    if (v4) {
        r.type = Rv4;
        r.dst = Ipaddr::v4(uint32_t(rng()));
        uint32_t odd = few_odd_masks ? 0xff00ff00u >> rnd(5) : uint32_t(rng());
        r.mask = rnd(16) ? prefix_mask(96 + int(rnd(33))) : Ipaddr::v4(odd);
        if (!rnd(16)) std::fill(r.mask.b.begin(), r.mask.b.begin() + 12, 0xff);
        if (rnd(3) == 0) {
            r.src = Ipaddr::v4(uint32_t(rng()));
            r.smask = prefix_mask(96 + int(rnd(33)));
        }
        r.gate = Ipaddr::v4(uint32_t(rng()));
    } else {
        for (auto& b : r.dst.b) b = uint8_t(rng());
        r.mask = prefix_mask(int(rnd(129)));
        if (rnd(3) == 0) {
            for (auto& b : r.src.b) b = uint8_t(rng());
            r.smask = prefix_mask(int(rnd(129)));
        }
        for (auto& b : r.gate.b) b = uint8_t(rng());
    }
    static const uint16_t kKinds[] = {0, Rifc, Runi, Rbcast, Rmulti, Rifc | Runi};
    r.type |= kKinds[rnd(6)] | uint16_t(rnd(8) << 5);  // p, y, t in any mix
    static const int kIfcs[] = {0, 1, 7, 42, 999, 1000, 12345, -1};
    r.ifc = kIfcs[rnd(8)];
    static const char* kTags[] = {"", "a", "ab", "none", "ifc ", "dhcpx"};
    r.tag = make_tag(kTags[rnd(6)]);
    return r;
}

// The text order is sorted two ways: by radix on packed keys when there are few distinct
// masks, by comparison otherwise.
class RibText : public ::testing::TestWithParam<bool> {};
INSTANTIATE_TEST_SUITE_P(FewOddMasks, RibText, ::testing::Bool());

TEST_P(RibText, EveryLineInOrderByteForByte_2_7) {
    std::mt19937_64 rng(99);
    Rib rib;
    for (int i = 0; i < 30000; i++) {
        Route r = random_route(rng, GetParam());
        rib.add(r);
        if (rng() % 8 == 0) {  // chains: the same destination from other sources
            r.src = Ipaddr::v4(uint32_t(rng()));
            r.smask = prefix_mask(96 + int(rng() % 33));
            rib.add(r);
        }
    }
    std::vector<Route> all;
    rib.for_each([&](const Route& r) { all.push_back(r); });
    ASSERT_EQ(all.size(), rib.size());
    std::stable_sort(all.begin(), all.end(), text_order);
    std::string want;
    for (const Route& r : all) rib.line(want, r);
    std::string got;
    rib.text(got);
    EXPECT_EQ(got, want);
    // read in chunks twice: the second pass rebuilds the order the first dropped at its end
    for (int pass = 0; pass < 2; pass++) {
        std::string chunks;
        for (size_t off = 0;;) {
            size_t n = rib.read(chunks, off, 8000);
            if (!n) break;
            off += n;
        }
        EXPECT_EQ(chunks, want) << pass;
    }
}

TEST(RibCopies, LookupCopyOutlivesLaterLookups_4_3_2) {
    Rib rib;
    rib.add(R("198.18.0.0", "/16", "198.18.0.1", Rv4, 1, kTagNone));
    rib.add(R("198.19.0.0", "/16", "198.19.0.1", Rv4, 2, kTagNone));
    const Route* r = rib.lookup(A("198.18.7.7"), IPnoaddr);
    ASSERT_NE(r, nullptr);
    for (unsigned i = 0; i + 1 < Rib::kLookupCopies; i++)
        ASSERT_NE(rib.lookup(A("198.19.7.7"), IPnoaddr), nullptr);
    EXPECT_EQ(r->gate, A("198.18.0.1"));
    EXPECT_EQ(r->ifc, 1);
}

// Renders what a table answers: its text, and its lookups and matches for many addresses.
std::string behaviour(const Rib& rib, uint64_t seed) {
    std::string out;
    rib.text(out);
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 3000; i++) {
        Ipaddr d = Ipaddr::v4(0xc6120000u | uint32_t(rng() % 0x20000));
        Ipaddr s = rng() % 2 ? Ipaddr::v4(0xc6130000u | uint32_t(rng() % 0x400)) : IPnoaddr;
        if (const Route* r = rib.lookup(d, s)) rib.line(out, *r);
        else out += "none\n";
        std::vector<const Route*> m;
        rib.matches(d, m);
        for (const Route* x : m) rib.line(out, *x);
    }
    return out;
}

TEST(RibFlush, BulkFlushLeavesTheRestAsIfNeverAdded_3_12) {
    // chains of routes that differ only by source, half of each flushed; survivors added to
    // a second table in the same order must give the same text, lookups and matches
    std::mt19937_64 rng(5);
    Rib rib, ref;
    std::set<std::tuple<Ipaddr, Ipaddr, Ipaddr, Ipaddr>> keys;  // one route per key: no
                                                                 // replacements
    for (int i = 0; i < 20000; i++) {
        Route r;
        r.type = Rv4 | (rng() % 50 == 0 ? Rifc : 0);
        r.dst = Ipaddr::v4(0xc6120000u | uint32_t(rng() % 0x20000));
        r.mask = prefix_mask(96 + 15 + int(rng() % 10));
        if (rng() % 2) {
            r.src = Ipaddr::v4(0xc6130000u | uint32_t(rng() % 0x400));
            r.smask = prefix_mask(96 + 22 + int(rng() % 11));
        }
        r.gate = Ipaddr::v4(uint32_t(i));
        r.ifc = 1;
        if (!keys.insert({r.dst & r.mask, r.mask, r.src & r.smask, r.smask}).second) continue;
        bool doomed = rng() % 3 != 0;
        r.tag = make_tag(doomed ? "dead" : "live");
        rib.add(r);
        if (!doomed || (r.type & Rifc)) ref.add(r);
    }
    ASSERT_GT(rib.size(), ref.size() + ref.size() / 2);
    rib.flush("dead");
    ASSERT_EQ(rib.size(), ref.size());
    EXPECT_EQ(behaviour(rib, 1), behaviour(ref, 1));
    // and both go on alike: new routes fill the table the flush left
    for (int i = 0; i < 3000; i++) {  // (replacing some of the survivors, in both alike)
        Route r = R("198.18.0.0", "/24", "198.18.0.9", Rv4, 2, kTagNone);
        r.dst = Ipaddr::v4(0xc6120000u | uint32_t(rng() % 0x20000));
        r.gate = Ipaddr::v4(uint32_t(i));
        rib.add(r);
        ref.add(r);
    }
    EXPECT_EQ(behaviour(rib, 2), behaviour(ref, 2));
    rib.flush(std::nullopt);
    ref.flush(std::nullopt);
    EXPECT_EQ(behaviour(rib, 3), behaviour(ref, 3));
}

TEST(RibMemory, AV4RouteTakesFewBytes_2_7) {
    Rib rib;
    for (uint32_t i = 0; i < 100000; i++) {
        Route r = R("1.0.0.0", "/24", "198.18.0.254", Rv4, 1, kTagNone);
        r.dst = Ipaddr::v4((i * 0x9e3779b1u) << 8);
        rib.add(r);
    }
    ASSERT_EQ(rib.size(), 100000u);
    // 40 bytes of record (at most twice that before the slab's next doubling) and 8-byte hash
    // slots at most 3/4 full: the 16-byte Ipaddrs of a Route are not what is kept
    EXPECT_LT(rib.memory() / rib.size(), 96u);
}

// ---- a quick local measurement (run with --gtest_also_run_disabled_tests) ----------

TEST(RibPerf, DISABLED_Add1MThroughWrite) {
    FakeIfcs ifcs;
    ifcs.addr(1, "198.18.0.1", "/24");
    Rib rib;
    RouteTag tag = kTagNone;
    std::vector<std::string> cmds;
    cmds.reserve(1000000);
    // a full-table shape: mostly distinct /24s in scrambled order, a tenth of any length
    std::mt19937 rng(1);
    for (uint32_t i = 0; i < 1000000; i++) {
        uint32_t a = (i * 0x9e3779b1u) << 8;  // an odd multiplier permutes the 24-bit i
        int len = 24;
        if (i % 10 == 0) {
            len = 8 + int(rng() % 25);
            a = rng() & (0xffffffffu << (32 - len));
        }
        char b[80];
        snprintf(b, sizeof b, "add %u.%u.%u.%u /%d 198.18.0.254", a >> 24, a >> 16 & 255,
                 a >> 8 & 255, a & 255, len);
        cmds.emplace_back(b);
    }
    // CPU time, not wall time: the build machine is shared
    auto now = [] { return double(std::clock()) * 1000.0 / CLOCKS_PER_SEC; };
    double t0 = now();
    for (const auto& c : cmds) ASSERT_FALSE(bool(rib.write(parsecmd(c), tag, ifcs)));
    double t1 = now();
    std::mt19937 rng2(2);
    int hits = 0;
    for (int i = 0; i < 1000000; i++) hits += rib.lookup(Ipaddr::v4(rng2()), IPnoaddr) != nullptr;
    double t2 = now();
    std::string s;
    rib.text(s);
    double t3 = now();
    printf("1M writes: %.0f ms (%zu routes); 1M lookups: %.0f ms (%d hits); text: %.0f ms "
           "(%zu bytes)\n",
           t1 - t0, rib.size(), t2 - t1, hits, t3 - t2, s.size());
}

}  // namespace
