// ctl tokenizing (ip3.md §3.1): parsecmd with libc tokenize's quoting, arp's getfields
// split, CtlArgs::join and run_ctl.
#include "proto/cmd.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace devip::proto {
namespace {

using Fields = std::vector<std::string>;

Fields F(std::string_view s) { return parsecmd(s).f; }
Fields A(std::string_view s) { return parse_arp_cmd(s).f; }

// ---- parsecmd ---------------------------------------------------------------------------

TEST(Cmd, SplitsOnBlanks_3_1) {
    EXPECT_EQ(F("connect 1.2.3.4!80"), (Fields{"connect", "1.2.3.4!80"}));
    EXPECT_EQ(F("add 10.0.0.1 /120 10.0.0.0 1500"),
              (Fields{"add", "10.0.0.1", "/120", "10.0.0.0", "1500"}));
}

TEST(Cmd, TabsCarriageReturnsAndNewlinesSeparate_3_1) {
    EXPECT_EQ(F("a\tb\rc\nd e"), (Fields{"a", "b", "c", "d", "e"}));
}

TEST(Cmd, RunsOfSeparatorsAndEdgesIgnored_3_1) {
    EXPECT_EQ(F("  a \t\t b  "), (Fields{"a", "b"}));
    EXPECT_EQ(F("\n\nverb\n\n"), (Fields{"verb"}));
}

TEST(Cmd, OneTrailingNewlineRemoved_3_1) {
    EXPECT_EQ(F("headers\n"), (Fields{"headers"}));
    EXPECT_EQ(F("ttl 5\n"), (Fields{"ttl", "5"}));
    // Only one is dropped: visible inside an unterminated quote.
    EXPECT_EQ(F("'a\n"), (Fields{"a"}));
    EXPECT_EQ(F("'a\n\n"), (Fields{"a\n"}));
}

TEST(Cmd, EmptyMessageHasNoFields_3_1) {
    EXPECT_TRUE(parsecmd("").empty());
    EXPECT_TRUE(parsecmd("\n").empty());
    EXPECT_TRUE(parsecmd(" \t\r\n").empty());
}

TEST(Cmd, SingleQuotesGroup_3_1) {
    EXPECT_EQ(F("tag 'a b'"), (Fields{"tag", "a b"}));
    EXPECT_EQ(F("'a\tb\nc'"), (Fields{"a\tb\nc"}));
}

TEST(Cmd, DoubledQuoteInsideQuotesIsLiteral_3_1) {
    EXPECT_EQ(F("'it''s'"), (Fields{"it's"}));
    EXPECT_EQ(F("''''"), (Fields{"'"}));
    EXPECT_EQ(F("'a''''b'"), (Fields{"a''b"}));
}

TEST(Cmd, QuotesInsideAWordJoin_3_1) {
    EXPECT_EQ(F("a'b c'd"), (Fields{"ab cd"}));
    EXPECT_EQ(F("'a'b"), (Fields{"ab"}));
    EXPECT_EQ(F("a''b"), (Fields{"ab"}));  // outside quotes '' is an empty quoted part
}

TEST(Cmd, EmptyQuotedFieldIsAField_3_1) {
    EXPECT_EQ(F("''"), (Fields{""}));
    EXPECT_EQ(F("x '' y"), (Fields{"x", "", "y"}));
}

TEST(Cmd, UnterminatedQuoteRunsToEnd_3_1) {
    EXPECT_EQ(F("say 'hello world"), (Fields{"say", "hello world"}));
    EXPECT_EQ(F("'"), (Fields{""}));
}

TEST(Cmd, QuoteAfterFieldEndStartsNewField_3_1) {
    EXPECT_EQ(F("a 'b'"), (Fields{"a", "b"}));
    EXPECT_EQ(F("'a' 'b'"), (Fields{"a", "b"}));
}

TEST(Cmd, DoubleQuotesAndBackslashesAreOrdinary_3_1) {
    EXPECT_EQ(F("\"a b\" c\\ d"), (Fields{"\"a", "b\"", "c\\", "d"}));
}

TEST(Cmd, EndsAtNul_3_1) {
    EXPECT_EQ(F(std::string_view("a b\0c d", 7)), (Fields{"a", "b"}));
    EXPECT_EQ(F(std::string_view("\0" "x", 2)), Fields{});
}

TEST(Cmd, BytesAbove0x7fAreOrdinary_3_1) {
    EXPECT_EQ(F("caf\xc3\xa9 \xff\xfe"), (Fields{"caf\xc3\xa9", "\xff\xfe"}));
}

TEST(Cmd, FormFeedAndVerticalTabDoNotSeparate_3_1) {
    EXPECT_EQ(F("a\fb\vc"), (Fields{"a\fb\vc"}));
}

TEST(Cmd, ManyFields_3_1) {
    std::string s;
    for (int i = 0; i < 1000; i++) s += std::to_string(i) + " ";
    CtlArgs a = parsecmd(s);
    ASSERT_EQ(a.size(), 1000u);
    EXPECT_EQ(a[999], "999");
}

TEST(Cmd, VerbIsFieldZero_3_2) {
    CtlArgs a = parsecmd("bind 10.0.0.1!53\n");
    ASSERT_EQ(a.size(), 2u);
    EXPECT_EQ(a[0], "bind");
    EXPECT_EQ(a[1], "10.0.0.1!53");
}

TEST(Cmd, ReusedArgsHoldOnlyTheNewMessage_3_1) {
    CtlArgs a;
    parsecmd("add 198.18.5.0 /24 198.18.0.254 a-rather-long-field-beyond-small-strings", a);
    ASSERT_EQ(a.size(), 5u);
    parsecmd("x\n", a);
    EXPECT_EQ(a.f, (Fields{"x"}));
    parsecmd("q 'a b'c d''e 'f", a);
    EXPECT_EQ(a.f, (Fields{"q", "a bc", "de", "f"}));
    parsecmd("", a);
    EXPECT_TRUE(a.empty());
}

// ---- arp (§3.1, §3.13) ------------------------------------------------------------------

TEST(Cmd, ArpSplitsOnSpaces_3_13) {
    EXPECT_EQ(A("add 10.0.0.2 001122334455"), (Fields{"add", "10.0.0.2", "001122334455"}));
    EXPECT_EQ(A("add ether 10.0.0.2 001122334455 10.0.0.1"),
              (Fields{"add", "ether", "10.0.0.2", "001122334455", "10.0.0.1"}));
}

TEST(Cmd, ArpRunsOfSpacesAreOneSeparator_3_13) {
    EXPECT_EQ(A("  del   10.0.0.2  "), (Fields{"del", "10.0.0.2"}));
}

TEST(Cmd, ArpTabsAndQuotesAreOrdinary_3_1) {
    EXPECT_EQ(A("del\t10.0.0.2"), (Fields{"del\t10.0.0.2"}));
    EXPECT_EQ(A("'a b'"), (Fields{"'a", "b'"}));
    EXPECT_EQ(A("a\rb c"), (Fields{"a\rb", "c"}));
}

TEST(Cmd, ArpAtMostFiveFields_3_1) {
    EXPECT_EQ(A("a b c d efgh"), (Fields{"a", "b", "c", "d", "efgh"}));
    EXPECT_EQ(A("  a  b c d e"), (Fields{"a", "b", "c", "d", "e"}));
}

TEST(Cmd, ArpFifthFieldIsTheRest_3_1) {  // getfields stops splitting at the fifth field
    EXPECT_EQ(A("a b c d e f g"), (Fields{"a", "b", "c", "d", "e f g"}));
    EXPECT_EQ(A("a b c d e  "), (Fields{"a", "b", "c", "d", "e  "}));
    EXPECT_EQ(A("add ether 10.0.0.2 001122334455 10.0.0.1 junk"),
              (Fields{"add", "ether", "10.0.0.2", "001122334455", "10.0.0.1 junk"}));
}

TEST(Cmd, ArpTrailingNewlineRemoved_3_13) {
    EXPECT_EQ(A("flush\n"), (Fields{"flush"}));
    EXPECT_EQ(A("flush\n\n"), (Fields{"flush\n"}));  // only one, and '\n' does not separate
    EXPECT_EQ(A("a\nb"), (Fields{"a\nb"}));
}

TEST(Cmd, ArpAtMost255Bytes_3_1) {
    std::string s(300, 'x');
    Fields f = A(s);
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].size(), 255u);
    // The newline strip looks at the last of the 255 bytes only.
    Fields g = A(std::string(255, 'y') + "\n");
    ASSERT_EQ(g.size(), 1u);
    EXPECT_EQ(g[0], std::string(255, 'y'));
    Fields h = A(std::string(254, 'z') + "\n");
    ASSERT_EQ(h.size(), 1u);
    EXPECT_EQ(h[0], std::string(254, 'z'));
    Fields k = A("del " + std::string(251, '1') + " tail");
    ASSERT_EQ(k.size(), 2u);
    EXPECT_EQ(k[1].size(), 251u);
}

TEST(Cmd, ArpEmpty_3_13) {
    EXPECT_TRUE(parse_arp_cmd("").empty());
    EXPECT_TRUE(parse_arp_cmd("   ").empty());
    EXPECT_TRUE(parse_arp_cmd("\n").empty());
}

TEST(Cmd, ArpEndsAtNul_3_13) {
    EXPECT_EQ(A(std::string_view("del 1\0 2", 8)), (Fields{"del", "1"}));
}

// ---- CtlArgs::join, run_ctl -------------------------------------------------------------

TEST(Cmd, JoinFromIndex_3_14) {
    CtlArgs a = parsecmd("set tcp udp  ip");
    EXPECT_EQ(a.join(), "set tcp udp ip");
    EXPECT_EQ(a.join(1), "tcp udp ip");
    EXPECT_EQ(a.join(3), "ip");
    EXPECT_EQ(a.join(4), "");
    EXPECT_EQ(a.join(10), "");
    EXPECT_EQ(CtlArgs{}.join(), "");
}

struct Obj {
    int calls = 0;
    std::string last;
};
Err obj_a(Obj& o, const CtlArgs& a) {
    o.calls++;
    o.last = a.join();
    return ok;
}
Err obj_b(Obj& o, const CtlArgs&) {
    o.calls++;
    return Ebadarg;
}
inline constexpr CtlCmd<Obj> kObjCtl[] = {{"a", 2, obj_a}, {"b", 0, obj_b}};

TEST(Cmd, RunCtlTable_10_3) {
    Obj o;
    EXPECT_EQ(run_ctl<Obj>(kObjCtl, o, parsecmd("a x")), ok);
    EXPECT_EQ(o.last, "a x");
    EXPECT_EQ(run_ctl<Obj>(kObjCtl, o, parsecmd("a")), Ecmdargs);
    EXPECT_EQ(run_ctl<Obj>(kObjCtl, o, parsecmd("a x y")), Ecmdargs);
    EXPECT_EQ(run_ctl<Obj>(kObjCtl, o, parsecmd("b 1 2 3 4")), Ebadarg);
    EXPECT_EQ(run_ctl<Obj>(kObjCtl, o, parsecmd("c")), Eunknownctl);
    EXPECT_EQ(run_ctl<Obj>(kObjCtl, o, parsecmd("c"), Ebadctl), Ebadctl);
    EXPECT_EQ(run_ctl<Obj>(kObjCtl, o, parsecmd("\n")), Eshortctl);
    EXPECT_EQ(o.calls, 2);
}

}  // namespace
}  // namespace devip::proto
