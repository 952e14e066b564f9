// %I, %M, %E and the Text builder (ip3.md §2.1). Expected strings are what 9front's eipfmt
// prints for the same bytes.
#include "proto/text.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

namespace devip::proto {
namespace {

// An address from its eight 16-bit groups.
Ipaddr g6(std::initializer_list<uint16_t> groups) {
    Ipaddr a;
    int i = 0;
    for (uint16_t g : groups) {
        a.b[i++] = uint8_t(g >> 8);
        a.b[i++] = uint8_t(g);
    }
    return a;
}

// ---- %I ---------------------------------------------------------------------------------

TEST(Text, V4MappedPrintsDottedQuad_2_1) {
    EXPECT_EQ(fmt_ip(Ipaddr::v4(1, 2, 3, 4)), "1.2.3.4");
    EXPECT_EQ(fmt_ip(Ipaddr::v4(192, 168, 1, 10)), "192.168.1.10");
    EXPECT_EQ(fmt_ip(v4bcast), "255.255.255.255");
}

TEST(Text, V4MappedZeroPrints0000_2_1) {
    EXPECT_EQ(fmt_ip(v4prefix), "0.0.0.0");
    EXPECT_EQ(fmt_ip(g6({0, 0, 0, 0, 0, 0xffff, 0, 0})), "0.0.0.0");  // ::ffff:0:0
}

TEST(Text, NoaddrPrintsDoubleColon_2_1) { EXPECT_EQ(fmt_ip(IPnoaddr), "::"); }

TEST(Text, LoopbackAndTrailingRun_2_1) {
    EXPECT_EQ(fmt_ip(g6({0, 0, 0, 0, 0, 0, 0, 1})), "::1");
    EXPECT_EQ(fmt_ip(g6({1, 0, 0, 0, 0, 0, 0, 0})), "1::");
    EXPECT_EQ(fmt_ip(g6({0xfe80, 0, 0, 0, 0, 0, 0, 1})), "fe80::1");
    EXPECT_EQ(fmt_ip(g6({0, 0, 1, 0, 0, 0, 0, 0})), "0:0:1::");
}

TEST(Text, HexGroupsLowercaseNoLeadingZeros_2_1) {
    EXPECT_EQ(fmt_ip(g6({0x2001, 0x0db8, 0x00ab, 0xCDEF, 1, 2, 3, 4})),
              "2001:db8:ab:cdef:1:2:3:4");
    EXPECT_EQ(fmt_ip(g6({1, 2, 3, 4, 5, 6, 7, 8})), "1:2:3:4:5:6:7:8");
}

TEST(Text, SingleZeroGroupIsElided_2_1) {
    EXPECT_EQ(fmt_ip(g6({0x2001, 0xdb8, 0, 1, 1, 1, 1, 1})), "2001:db8::1:1:1:1:1");
    EXPECT_EQ(fmt_ip(g6({0, 1, 2, 3, 4, 5, 6, 7})), "::1:2:3:4:5:6:7");
    EXPECT_EQ(fmt_ip(g6({1, 2, 3, 4, 5, 6, 7, 0})), "1:2:3:4:5:6:7::");
}

TEST(Text, LongestZeroRunWins_2_1) {
    EXPECT_EQ(fmt_ip(g6({1, 0, 0, 2, 0, 0, 0, 3})), "1:0:0:2::3");
    EXPECT_EQ(fmt_ip(g6({0, 0, 0, 0, 0, 0xfffe, 0, 0})), "::fffe:0:0");
}

TEST(Text, FirstZeroRunWinsTies_2_1) {
    EXPECT_EQ(fmt_ip(g6({0x2001, 0xdb8, 0, 0, 1, 0, 0, 1})), "2001:db8::1:0:0:1");
    EXPECT_EQ(fmt_ip(g6({1, 0, 2, 0, 3, 0, 4, 0})), "1::2:0:3:0:4:0");
}

TEST(Text, V4CompatibleAndOtherEmbeddedV4PrintAsHex_2_1) {
    EXPECT_EQ(fmt_ip(g6({0, 0, 0, 0, 0, 0, 0x0102, 0x0304})), "::102:304");   // ::1.2.3.4
    EXPECT_EQ(fmt_ip(g6({0xffff, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304})), "ffff::ffff:102:304");
    EXPECT_EQ(fmt_ip(g6({0, 0, 0, 0, 0, 0xfffe, 0x0102, 0x0304})), "::fffe:102:304");
    EXPECT_EQ(fmt_ip(g6({0, 0, 0, 0, 1, 0xffff, 0x0102, 0x0304})), "::1:ffff:102:304");
}

TEST(Text, SolicitedNodeMulticast_2_1) {
    EXPECT_EQ(fmt_ip(g6({0xff02, 0, 0, 0, 0, 1, 0xff00, 1})), "ff02::1:ff00:1");
}

TEST(Text, AllOnesV6_2_1) {
    EXPECT_EQ(fmt_ip(Ipaddr::ones()), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
}

// ---- %M ---------------------------------------------------------------------------------

TEST(Text, MaskV4Slash24PrintsSlash120_2_1) { EXPECT_EQ(fmt_mask(prefix_mask(120)), "/120"); }

TEST(Text, MaskV4ZeroPrintsSlash96_2_1) { EXPECT_EQ(fmt_mask(prefix_mask(96)), "/96"); }

TEST(Text, MaskAllOnesPrintsSlash128_2_1) { EXPECT_EQ(fmt_mask(Ipaddr::ones()), "/128"); }

TEST(Text, MaskPrefixesEveryLength_2_1) {
    for (int n = 0; n <= 128; n++)
        EXPECT_EQ(fmt_mask(prefix_mask(n)), "/" + std::to_string(n)) << n;
}

TEST(Text, MaskNonContiguousPrintsAsAddress_2_1) {
    Ipaddr m = prefix_mask(96);
    m.b[12] = 0xff;
    m.b[14] = 0xff;  // ffff:…:ff00:ff00
    EXPECT_EQ(fmt_mask(m), "ffff:ffff:ffff:ffff:ffff:ffff:ff00:ff00");
    Ipaddr hole = prefix_mask(120);
    hole.b[13] = 0xfe;
    EXPECT_EQ(fmt_mask(hole), "ffff:ffff:ffff:ffff:ffff:ffff:fffe:ff00");
    Ipaddr bad_byte = prefix_mask(112);
    bad_byte.b[14] = 0xfd;  // not a prefix byte
    EXPECT_EQ(fmt_mask(bad_byte), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fd00");
}

TEST(Text, MaskNonContiguousV4LookingPrintsDotted_2_1) {
    EXPECT_EQ(fmt_mask(Ipaddr::v4(255, 0, 255, 0)), "255.0.255.0");
}

TEST(Text, MaskZeroPrintsSlash0_2_1) { EXPECT_EQ(fmt_mask(IPnoaddr), "/0"); }

TEST(Text, MaskTrailingBitAfterPrefixIsNotContiguous_2_1) {
    Ipaddr m = prefix_mask(64);
    m.b[15] = 1;
    EXPECT_EQ(fmt_mask(m), "ffff:ffff:ffff:ffff::1");
}

// ---- %E ---------------------------------------------------------------------------------

TEST(Text, EtherTwelveLowercaseHexDigits_2_1) {
    EXPECT_EQ(fmt_ether(Ether{{0x00, 0x11, 0x22, 0xAA, 0xBB, 0xCC}}), "001122aabbcc");
    EXPECT_EQ(fmt_ether(kEtherBcast), "ffffffffffff");
    EXPECT_EQ(fmt_ether(Ether{}), "000000000000");
    EXPECT_EQ(fmt_ether(Ether{{0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f}}), "0a0b0c0d0e0f");
}

// ---- Text -------------------------------------------------------------------------------

TEST(Text, PutFormatsAndAppends_2_3) {
    Text t;
    t.put("%s!%d\n", "192.168.1.10", 43712);
    t.put("x");
    t.put("%d", 7);
    EXPECT_EQ(t.str(), "192.168.1.10!43712\nx7");
    EXPECT_EQ(t.size(), t.str().size());
}

TEST(Text, PutAnyLength_2_4) {
    Text t;
    t.put("<");
    std::string big(100000, 'q');
    t.put("%s|%s", big.c_str(), big.c_str());
    EXPECT_EQ(t.size(), 1 + 2 * big.size() + 1);
    EXPECT_EQ(t.str().substr(0, 3), "<qq");
    EXPECT_EQ(t.str()[1 + big.size()], '|');
    for (int i = 0; i < 300; i++) t.put("%03d,", i);  // many appends crossing the small buffer
    EXPECT_EQ(t.str().substr(t.size() - 8), "298,299,");
}

TEST(Text, PutExactlyBufferSized_2_4) {
    for (size_t n : {254u, 255u, 256u, 257u}) {
        Text t;
        t.put("%s", std::string(n, 'a').c_str());
        EXPECT_EQ(t.str(), std::string(n, 'a')) << n;
    }
}

TEST(Text, PutEmptyFormat_2_4) {
    Text t;
    t.put("%s", "");
    EXPECT_EQ(t.str(), "");
}

TEST(Text, PutPrintfWidths_2_5) {
    Text t;
    t.put("%-10s|%6d|%-6lu|", "abc", 42, 7ul);
    EXPECT_EQ(t.str(), "abc       |    42|7     |");
}

TEST(Text, PadLeftJustified_2_3) {
    Text t;
    t.pad("10.0.0.1", 12);
    t.put("|");
    EXPECT_EQ(t.str(), "10.0.0.1    |");
}

TEST(Text, PadRightJustified_2_3) {
    Text t;
    t.pad("42", 6, false);
    EXPECT_EQ(t.str(), "    42");
}

TEST(Text, PadWiderStringIsNotTruncatedWithoutPrecision_2_3) {
    Text t;
    t.pad("abcdefgh", 4);
    EXPECT_EQ(t.str(), "abcdefgh");
}

TEST(Text, PadPrecisionTruncates_2_7) {
    Text t;
    t.pad("abcdefgh", 4, true, 4);  // %-4.4s
    t.put("|");
    t.pad("ab", 4, true, 4);
    t.put("|");
    t.pad("abcdef", 6, false, 3);  // %6.3s
    t.put("|");
    t.pad("abc", 0, true, 0);
    t.put("|");
    EXPECT_EQ(t.str(), "abcd|ab  |   abc||");
}

TEST(Text, PadCountsRunesNotBytes_2_7) {
    Text t;
    t.pad("\xc3\xa9t\xc3\xa9", 5);  // "été": 3 runes, 5 bytes
    t.put("|");
    t.pad("\xc3\xa9t\xc3\xa9", 0, true, 2);
    t.put("|");
    EXPECT_EQ(t.str(), "\xc3\xa9t\xc3\xa9  |\xc3\xa9t|");
}

TEST(Text, PutHelpers_2_1) {
    Text t;
    t.put_ip(Ipaddr::v4(10, 0, 0, 1));
    t.put(" ");
    t.put_mask(prefix_mask(120));
    t.put(" ");
    t.put_ether(kEtherBcast);
    EXPECT_EQ(t.str(), "10.0.0.1 /120 ffffffffffff");
    std::string s = t.take();
    EXPECT_EQ(s, "10.0.0.1 /120 ffffffffffff");
}

TEST(Text, AddressLine40Columns_2_3) {
    // ipifc local: the address left-justified in 40 columns, then " ->".
    Text t;
    t.pad(fmt_ip(Ipaddr::v4(10, 0, 0, 1)), 40);
    t.put(" ->");
    EXPECT_EQ(t.str(), "10.0.0.1" + std::string(32, ' ') + " ->");
}

}  // namespace
}  // namespace devip::proto
