// The protocol table (proto/registry.h): 9front's registration order and numbers, and what a
// stack makes of it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proto/registry.h"
#include "proto/stack.h"

namespace devip::proto {
namespace {

TEST(Registry, NineFrontRegistrationOrder_0) {
    std::vector<std::string> names;
    for (const ProtoRow& r : proto_table()) names.push_back(r.name);
    EXPECT_EQ(names, (std::vector<std::string>{"tcp", "udp", "rudp", "ipifc", "icmp", "icmpv6",
                                               "igmp", "mld", "gre", "ipmux", "esp", "il"}));
}

TEST(Registry, ProtocolNumbersAndLimits_1_2) {
    auto row = [](const char* n) -> const ProtoRow& {
        for (const ProtoRow& r : proto_table())
            if (std::string(r.name) == n) return r;
        ADD_FAILURE() << n;
        return proto_table()[0];
    };
    EXPECT_EQ(row("rudp").ipproto, 254);  // not 17
    EXPECT_EQ(row("udp").nconv, 1024);
    EXPECT_EQ(row("icmpv6").nconv, 16);
    EXPECT_EQ(row("ipifc").ipproto, -1);
    EXPECT_TRUE(row("igmp").hidden);
    EXPECT_TRUE(row("mld").hidden);
}

TEST(Registry, StackMakesBuiltProtocolsWithTheirIndex) {
    Net net{nullptr};
    Stack& s = net.stack(0);
    for (auto& p : s.protos) {
        const ProtoRow* r = proto_row(size_t(p->info.index));
        ASSERT_TRUE(r);
        EXPECT_STREQ(r->name, p->info.name);
        if (r->ipproto >= 0) {
            EXPECT_EQ(s.byproto[size_t(r->ipproto)], p.get());
        }
    }
    EXPECT_EQ(s.byproto[17], s.proto("udp"));
    EXPECT_EQ(s.byproto[6], s.proto("tcp"));
    EXPECT_EQ(s.byproto[40], nullptr);  // il, not built yet: delivery counts an unknown protocol
    EXPECT_EQ(proto_row(12), nullptr);
}

TEST(Registry, AdviceOnlyForTheProtocolsFamily) {
    Net net{nullptr};
    Stack& s = net.stack(0);
    uint8_t v4[28] = {0x45};  // IPv4 header quoting an "ICMPv6" payload: not icmpv6's advice
    v4[9] = 58;
    EXPECT_FALSE(s.advise(58, v4, Eio));
    EXPECT_FALSE(s.advise(40, v4, Eio));  // il: not built
}

}  // namespace
}  // namespace devip::proto
