// libip address parsing (ip3.md §4.1), devip's addr!port grammar (§3.2.1), MAC text (§3.13)
// and the ctl number readers (§3.1). Expected values are what 9front computes for the same
// text, including the quirks marked "quirk".
#include "proto/ipaux.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <iterator>
#include <random>
#include <string>

#include "proto/text.h"

namespace devip::proto {
namespace {

Ipaddr g6(std::initializer_list<uint16_t> groups) {
    Ipaddr a;
    int i = 0;
    for (uint16_t g : groups) {
        a.b[i++] = uint8_t(g >> 8);
        a.b[i++] = uint8_t(g);
    }
    return a;
}

// The parsed address in %I form, or the error text.
std::string I(std::string_view s) {
    Result<Ipaddr> a = parseip(s);
    return a ? fmt_ip(*a) : std::string("error: ") + a.err().text;
}

// The parsed mask in %M form, or the error text.
std::string M(std::string_view s, bool v4) {
    Result<Ipaddr> m = parseipmask(s, v4);
    return m ? fmt_mask(*m) : std::string("error: ") + m.err().text;
}

Ipaddr ip(std::string_view s) {
    Result<Ipaddr> a = parseip(s);
    EXPECT_TRUE(a) << s;
    return a ? *a : IPnoaddr;
}

std::string defmask_of(std::string_view s) { return fmt_mask(defmask(ip(s))); }

// ---- parseip: v4 (§4.1.1) ---------------------------------------------------------------

TEST(Ipaux, DottedQuadIsV4Mapped_4_1_1) {
    EXPECT_EQ(ip("1.2.3.4"), Ipaddr::v4(1, 2, 3, 4));
    EXPECT_EQ(ip("255.255.255.255"), v4bcast);
    EXPECT_TRUE(ip("10.0.0.1").is_v4());
}

TEST(Ipaux, V4ZeroIsV4PrefixNotNoaddr_4_1_1) {
    EXPECT_EQ(ip("0.0.0.0"), v4prefix);
    EXPECT_NE(ip("0.0.0.0"), IPnoaddr);
    EXPECT_EQ(ip("0"), v4prefix);
}

TEST(Ipaux, OctalPartsParse_4_1_1) {
    EXPECT_EQ(I("010.1.1.1"), "8.1.1.1");
    EXPECT_EQ(I("1.2.3.0377"), "1.2.3.255");
    EXPECT_EQ(I("0.0.0.010"), "0.0.0.8");
}

TEST(Ipaux, HexPartsParse_4_1_1) {
    EXPECT_EQ(I("0x1f.0.0.1"), "31.0.0.1");
    EXPECT_EQ(I("0X10.1.1.1"), "16.1.1.1");
    EXPECT_EQ(I("1.0xff.0x0.1"), "1.255.0.1");
}

TEST(Ipaux, ClassfulShorthandClassA_4_1_1) {
    EXPECT_EQ(I("10.1"), "10.0.0.1");       // a.b → a.0.0.b
    EXPECT_EQ(I("127.1"), "127.0.0.1");
    EXPECT_EQ(I("10.1.2"), "10.0.1.2");     // a.b.c → a.0.b.c
    EXPECT_EQ(I("0.1.2"), "0.0.1.2");
}

TEST(Ipaux, ClassfulShorthandClassB_4_1_1) {
    EXPECT_EQ(I("128.1.2"), "128.1.0.2");   // a.b.c → a.b.0.c
    EXPECT_EQ(I("191.255.7"), "191.255.0.7");
    EXPECT_EQ(I("128.1"), "128.1.0.0");     // class B a.b: missing parts are 0
}

TEST(Ipaux, ClassfulShorthandClassCAndAbove_4_1_1) {
    EXPECT_EQ(I("192.1.2"), "192.1.2.0");
    EXPECT_EQ(I("192.1"), "192.1.0.0");
    EXPECT_EQ(I("224.5.6"), "224.5.6.0");
}

TEST(Ipaux, SingleNumberIsFirstByte_4_1_1) {
    EXPECT_EQ(I("10"), "10.0.0.0");
    EXPECT_EQ(I("200"), "200.0.0.0");
    EXPECT_EQ(I("0x10"), "16.0.0.0");
    EXPECT_EQ(I("010"), "8.0.0.0");
}

TEST(Ipaux, TrailingDotsAreParts_4_1_1) {
    EXPECT_EQ(I("1.2.3.4."), "1.2.3.4");
    EXPECT_EQ(I("1."), "1.0.0.0");
    EXPECT_EQ(I("10.1."), "10.0.0.1");
}

TEST(Ipaux, PartsAreTruncatedToBytes_4_1_1) {  // quirk: strtoul into a uchar
    EXPECT_EQ(I("256.1.1.1"), "0.1.1.1");
    EXPECT_EQ(I("1.2.3.257"), "1.2.3.1");
    EXPECT_EQ(I("1.2.3.99999999999"), "1.2.3.255");  // 32-bit strtoul saturates
}

TEST(Ipaux, DelimiterAfterAddressIsAccepted_4_1_1) {
    EXPECT_EQ(I("1.2.3.4/24"), "1.2.3.4");
    EXPECT_EQ(I("1.2.3.4 x"), "1.2.3.4");
    EXPECT_EQ(I("1.2.3.4!80"), "1.2.3.4");
    EXPECT_EQ(I("1.2.3.4\n"), "1.2.3.4");
    EXPECT_EQ(I("1.2.3.4-"), "1.2.3.4");
    EXPECT_EQ(I("1.2.3.4\xc3\xa9"), "1.2.3.4");  // bytes >= 0x80 are delimiters
    EXPECT_EQ(I("fe80::1%eth0"), "fe80::1");
    EXPECT_EQ(I("::1/128"), "::1");
}

TEST(Ipaux, AlphanumericAfterAddressIsError_4_1_1) {
    EXPECT_EQ(I("1.2.3.4x"), "error: bad ip address syntax");
    EXPECT_EQ(I("1.2.3.4a"), "error: bad ip address syntax");
    EXPECT_EQ(I("1.2.3.4.5"), "error: bad ip address syntax");
    EXPECT_EQ(I("1.2.3.4:"), "error: bad ip address syntax");
    EXPECT_EQ(I("::1g"), "error: bad ip address syntax");
    EXPECT_EQ(I("1e"), "error: bad ip address syntax");
}

TEST(Ipaux, EmptyStringIsError_4_1_1) {
    EXPECT_EQ(parseip("").err(), Ebadip);
    EXPECT_EQ(parseip(std::string_view("\0" "1.2.3.4", 8)).err(), Ebadip);  // C string ends at NUL
}

TEST(Ipaux, NonAddressTextIsError_4_1_1) {
    for (const char* s : {"x", "*", "delete", "localhost", " 1.2.3.4", "-1", "+1.2.3.4",
                          "g::", "ff", "abc"})
        EXPECT_EQ(parseip(s).err(), Ebadip) << s;
}

TEST(Ipaux, ErrorTextIsBadIpAddressSyntax_4_1_1) {
    EXPECT_STREQ(parseip("nope").err().text, "bad ip address syntax");
}

TEST(Ipaux, StopsAtEmbeddedNul_4_1_1) {
    EXPECT_EQ(I(std::string_view("1.2.3.4\0junk", 12)), "1.2.3.4");
}

TEST(Ipaux, BlanksInsideDottedPartsAreSkipped_4_1_1) {  // quirk: strtoul skips blanks
    EXPECT_EQ(I("1. 2.3.4"), "1.2.3.4");
    EXPECT_EQ(I("1.-1.1.1"), "1.255.1.1");
}

TEST(Ipaux, HexOnlyNumberWithDelimiterIsLowV4_4_1_1) {
    // quirk: "12" alone is 12.0.0.0, but "12" followed by a delimiter is read as one hex
    // group and lands at the end of a v4-mapped address.
    EXPECT_EQ(I("12"), "12.0.0.0");
    EXPECT_EQ(I("12 "), "0.0.0.18");
    EXPECT_EQ(I("12/8"), "0.0.0.18");
}

// ---- parseip: v6 (§4.1.1) ---------------------------------------------------------------

TEST(Ipaux, V6Forms_4_1_1) {
    EXPECT_EQ(ip("::"), IPnoaddr);
    EXPECT_EQ(ip("::1"), g6({0, 0, 0, 0, 0, 0, 0, 1}));
    EXPECT_EQ(ip("1::"), g6({1, 0, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(ip("fe80::1"), g6({0xfe80, 0, 0, 0, 0, 0, 0, 1}));
    EXPECT_EQ(ip("2001:db8::1:0:0:1"), g6({0x2001, 0xdb8, 0, 0, 1, 0, 0, 1}));
    EXPECT_EQ(ip("1:2:3:4:5:6:7:8"), g6({1, 2, 3, 4, 5, 6, 7, 8}));
    EXPECT_EQ(ip("1:2:3:4:5:6:7::"), g6({1, 2, 3, 4, 5, 6, 7, 0}));
    EXPECT_EQ(ip("::2:3:4:5:6:7:8"), g6({0, 2, 3, 4, 5, 6, 7, 8}));
    EXPECT_EQ(ip("ff02::1:ff00:1"), g6({0xff02, 0, 0, 0, 0, 1, 0xff00, 1}));
}

TEST(Ipaux, V6HexDigitsAnyCaseAndLeadingZeros_4_1_1) {
    EXPECT_EQ(ip("ABCD::Ef"), g6({0xabcd, 0, 0, 0, 0, 0, 0, 0xef}));
    EXPECT_EQ(ip("0001:0002::000f"), g6({1, 2, 0, 0, 0, 0, 0, 0xf}));
}

TEST(Ipaux, V6EmbeddedV4Mapped_4_1_1) {
    EXPECT_EQ(ip("::ffff:1.2.3.4"), Ipaddr::v4(1, 2, 3, 4));
    EXPECT_EQ(ip("::ffff:0.0.0.0"), v4prefix);
    EXPECT_EQ(ip("0:0:0:0:0:ffff:10.0.0.1"), Ipaddr::v4(10, 0, 0, 1));
}

TEST(Ipaux, V6EmbeddedV4Other_4_1_1) {
    EXPECT_EQ(ip("::1.2.3.4"), g6({0, 0, 0, 0, 0, 0, 0x0102, 0x0304}));
    EXPECT_EQ(ip("64:ff9b::192.0.2.33"), g6({0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x0221}));
    EXPECT_EQ(ip("1:2:3:4:5:6:1.2.3.4"), g6({1, 2, 3, 4, 5, 6, 0x0102, 0x0304}));
    EXPECT_EQ(I("::10.1"), "::a00:1");  // classful shorthand applies to the embedded part too
}

TEST(Ipaux, V6EmbeddedV4WithoutRoomIsError_4_1_1) {
    EXPECT_EQ(parseip("1:2:3:4:5:6:7:1.2.3.4").err(), Ebadip);
}

TEST(Ipaux, SecondDoubleColonIsError_4_1_1) {
    EXPECT_EQ(parseip("1::2::3").err(), Ebadip);
    EXPECT_EQ(parseip("::1::").err(), Ebadip);
    EXPECT_EQ(parseip("::::").err(), Ebadip);
}

TEST(Ipaux, GroupOver16BitsIsError_4_1_1) {
    EXPECT_EQ(parseip("10000::1").err(), Ebadip);
    EXPECT_EQ(parseip("::1:fffff").err(), Ebadip);
    EXPECT_EQ(parseip("123456789abcdef::").err(), Ebadip);
}

TEST(Ipaux, NineGroupsIsError_4_1_1) {
    EXPECT_EQ(parseip("1:2:3:4:5:6:7:8:9").err(), Ebadip);
    EXPECT_EQ(parseip("1:2:3:4:5:6:7:8::1").err(), Ebadip);
}

TEST(Ipaux, ColonAfterEighthGroupIsAccepted_4_1_1) {  // quirk: the loop ends on 16 bytes
    EXPECT_EQ(I("1:2:3:4:5:6:7:8:"), "1:2:3:4:5:6:7:8");
    EXPECT_EQ(I("1:2:3:4:5:6:7:8::"), "1:2:3:4:5:6:7:8");
}

TEST(Ipaux, DeleteIsNotDeColonColon_4_1_1) { EXPECT_EQ(parseip("delete").err(), Ebadip); }

TEST(Ipaux, ShortV6WithoutDoubleColonIsRightAligned_4_1_1) {  // quirk
    EXPECT_EQ(I("1:2"), "::1:2");
    EXPECT_EQ(I("1:"), "::1");
}

TEST(Ipaux, V6GroupHexPrefixAccepted_4_1_1) {  // quirk: strtoul base 16 takes "0x"
    EXPECT_EQ(I("0x1::1"), "1::1");
}

// ---- parseipmask, parseipandmask (§4.1.2) -----------------------------------------------

TEST(Ipaux, SlashNInV4ContextAdds96_4_1_2) {
    EXPECT_EQ(M("/24", true), "/120");
    EXPECT_EQ(M("/0", true), "/96");
    EXPECT_EQ(M("/32", true), "/128");
    EXPECT_EQ(M("/8", true), "/104");
}

TEST(Ipaux, SlashNInV6ContextIsAsWritten_4_1_2) {
    EXPECT_EQ(M("/24", false), "/24");
    EXPECT_EQ(M("/64", false), "/64");
    EXPECT_EQ(M("/0", false), "/0");
    EXPECT_EQ(M("/128", false), "/128");
}

TEST(Ipaux, Slash120AcceptedForV4_4_1_2) {
    EXPECT_EQ(M("/120", true), "/120");
    EXPECT_EQ(M("/96", true), "/96");
}

TEST(Ipaux, Slash33To95IsErrorInV4Context_4_1_2) {
    for (int n = 33; n <= 95; n++)
        EXPECT_EQ(parseipmask("/" + std::to_string(n), true).err(), Ebadip) << n;
    EXPECT_EQ(M("/33", false), "/33");
    EXPECT_EQ(M("/95", false), "/95");
}

TEST(Ipaux, SlashNClampedTo0To128_4_1_2) {
    EXPECT_EQ(M("/200", false), "/128");
    EXPECT_EQ(M("/200", true), "/128");
    EXPECT_EQ(M("/-3", false), "/0");
    EXPECT_EQ(M("/-3", true), "/96");            // clamped to 0, then 96 added
    EXPECT_EQ(M("/99999999999", false), "/128");  // atoi saturates
}

TEST(Ipaux, SlashNIsAtoi_4_1_2) {  // trailing junk ignored, bad text reads as 0
    EXPECT_EQ(M("/24x", true), "/120");
    EXPECT_EQ(M("/x", true), "/96");
    EXPECT_EQ(M("/", false), "/0");
    EXPECT_EQ(M("/ 16", false), "/16");
}

TEST(Ipaux, V4LookingMaskGetsOnesPrefix_4_1_2) {
    EXPECT_EQ(M("255.255.255.0", true), "/120");
    EXPECT_EQ(M("255.255.255.0", false), "/120");
    EXPECT_EQ(M("0.0.0.0", true), "/96");
    EXPECT_EQ(M("255.255.255.255", true), "/128");
}

TEST(Ipaux, NonContiguousMaskAccepted_4_1_2) {
    EXPECT_EQ(M("255.255.0.255", true), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff");
    EXPECT_EQ(M("255.0.255.0", false), "ffff:ffff:ffff:ffff:ffff:ffff:ff00:ff00");
}

TEST(Ipaux, V6MaskInV4ContextNeedsOnesPrefix_4_1_2) {
    EXPECT_EQ(parseipmask("ffff:ffff:ffff:ffff::", true).err(), Ebadip);
    EXPECT_EQ(M("ffff:ffff:ffff:ffff::", false), "/64");
    EXPECT_EQ(M("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00", true), "/120");
    EXPECT_EQ(M("ffff:ffff:ffff:ffff:ffff:ffff::", true), "/96");
}

TEST(Ipaux, BadMaskTextIsError_4_1_2) {
    EXPECT_EQ(parseipmask("", true).err(), Ebadip);
    EXPECT_EQ(parseipmask("", false).err(), Ebadip);
    EXPECT_EQ(parseipmask("mask", false).err(), Ebadip);
    EXPECT_EQ(parseipmask("1.2.3.4x", true).err(), Ebadip);
}

TEST(Ipaux, AndMaskV4WithSlash_4_1_2) {
    Ipaddr a, m;
    EXPECT_EQ(parseipandmask(a, m, "10.1.2.3", "/24"), ok);
    EXPECT_EQ(a, Ipaddr::v4(10, 1, 2, 3));
    EXPECT_EQ(fmt_mask(m), "/120");
}

TEST(Ipaux, AndMaskV4Dotted_4_1_2) {
    Ipaddr a, m;
    EXPECT_EQ(parseipandmask(a, m, "10.1.2.3", "255.255.0.0"), ok);
    EXPECT_EQ(fmt_mask(m), "/112");
}

TEST(Ipaux, AndMaskV6_4_1_2) {
    Ipaddr a, m;
    EXPECT_EQ(parseipandmask(a, m, "fe80::1", "/64"), ok);
    EXPECT_EQ(fmt_ip(a), "fe80::1");
    EXPECT_EQ(fmt_mask(m), "/64");
    EXPECT_EQ(parseipandmask(a, m, "2001:db8::", "/40"), ok);
    EXPECT_EQ(fmt_mask(m), "/40");
}

TEST(Ipaux, AndMaskV4MappedWrittenAsV6IsV4Context_4_1_2) {
    Ipaddr a, m;
    EXPECT_EQ(parseipandmask(a, m, "::ffff:1.2.3.4", "/24"), ok);
    EXPECT_EQ(fmt_mask(m), "/120");
}

TEST(Ipaux, AndMaskV4ContextRejects33To95_4_1_2) {
    Ipaddr a, m;
    EXPECT_EQ(parseipandmask(a, m, "1.2.3.4", "/40"), Ebadip);
    EXPECT_EQ(parseipandmask(a, m, "1.2.3.4", "ffff::"), Ebadip);
}

TEST(Ipaux, AndMaskMissingMaskIsAllOnes_4_1_2) {
    Ipaddr a, m;
    EXPECT_EQ(parseipandmask(a, m, "1.2.3.4", std::nullopt), ok);
    EXPECT_EQ(m, Ipaddr::ones());
    EXPECT_EQ(parseipandmask(a, m, "fe80::1", std::nullopt), ok);
    EXPECT_EQ(m, Ipaddr::ones());
}

TEST(Ipaux, AndMaskSlashSuffixWhenMaskAbsent_4_1_2) {
    Ipaddr a, m;
    EXPECT_EQ(parseipandmask(a, m, "1.2.3.4/24", std::nullopt), ok);
    EXPECT_EQ(a, Ipaddr::v4(1, 2, 3, 4));
    EXPECT_EQ(fmt_mask(m), "/120");
    EXPECT_EQ(parseipandmask(a, m, "2001:db8::/32", std::nullopt), ok);
    EXPECT_EQ(fmt_mask(m), "/32");
    EXPECT_EQ(parseipandmask(a, m, "1.2.3.4/40", std::nullopt), Ebadip);
    // an explicit mask wins over the suffix
    EXPECT_EQ(parseipandmask(a, m, "1.2.3.4/24", "/16"), ok);
    EXPECT_EQ(fmt_mask(m), "/112");
}

TEST(Ipaux, AndMaskBadAddressIsError_4_1_2) {
    Ipaddr a, m;
    EXPECT_EQ(parseipandmask(a, m, "bogus", "/24"), Ebadip);
    EXPECT_EQ(parseipandmask(a, m, "", std::nullopt), Ebadip);
    EXPECT_EQ(parseipandmask(a, m, "1.2.3.4", ""), Ebadip);
}

// ---- defmask (§4.1.3) -------------------------------------------------------------------

TEST(Ipaux, DefmaskClassA_4_1_3) {
    EXPECT_EQ(defmask_of("0.0.0.0"), "/104");
    EXPECT_EQ(defmask_of("10.1.2.3"), "/104");
    EXPECT_EQ(defmask_of("127.0.0.1"), "/104");
}

TEST(Ipaux, DefmaskClassB_4_1_3) {
    EXPECT_EQ(defmask_of("128.0.0.1"), "/112");
    EXPECT_EQ(defmask_of("172.16.5.4"), "/112");
    EXPECT_EQ(defmask_of("191.255.255.255"), "/112");
}

TEST(Ipaux, DefmaskClassCMulticastAndE_4_1_3) {
    EXPECT_EQ(defmask_of("192.168.1.1"), "/120");
    EXPECT_EQ(defmask_of("224.0.0.1"), "/120");
    EXPECT_EQ(defmask_of("240.0.0.1"), "/120");
    EXPECT_EQ(defmask_of("255.255.255.255"), "/120");
}

TEST(Ipaux, DefmaskV6Loopback_4_1_3) { EXPECT_EQ(defmask_of("::1"), "/128"); }

TEST(Ipaux, DefmaskV6LinkLocal_4_1_3) {
    EXPECT_EQ(defmask_of("fe80::1"), "/64");
    EXPECT_EQ(defmask_of("fe80::1234:5678:9abc:def0"), "/64");
    EXPECT_EQ(defmask_of("fe80:0:0:1::1"), "/128");  // only fe80:0:0:0::/64 itself
    EXPECT_EQ(defmask_of("fe81::1"), "/128");
}

TEST(Ipaux, DefmaskV6SolicitedNode_4_1_3) {
    EXPECT_EQ(defmask_of("ff02::1:ff12:3456"), "/104");
    EXPECT_EQ(defmask_of("ff02::1:ff00:0"), "/104");
}

TEST(Ipaux, DefmaskV6OtherMulticast_4_1_3) {
    EXPECT_EQ(defmask_of("ff02::1"), "/8");
    EXPECT_EQ(defmask_of("ff05::2"), "/8");
    EXPECT_EQ(defmask_of("ff02::1:fe00:1"), "/8");
}

TEST(Ipaux, DefmaskV6OtherIs128_4_1_3) {
    EXPECT_EQ(defmask_of("2001:db8::1"), "/128");
    EXPECT_EQ(defmask_of("::"), "/128");
    EXPECT_EQ(defmask_of("::1.2.3.4"), "/128");
}

// ---- parsemac (§3.13) -------------------------------------------------------------------

struct Mac {
    uint8_t b[8];
    int n;
};
Mac mac(std::string_view s) {
    Mac m;
    std::memset(m.b, 0xee, sizeof m.b);
    m.n = parsemac(m.b, s);
    return m;
}

TEST(Ipaux, MacTwelveHexDigits_3_13) {
    Mac m = mac("0011223344aa");
    ASSERT_EQ(m.n, 6);
    const uint8_t want[8] = {0x00, 0x11, 0x22, 0x33, 0x44, 0xaa, 0, 0};
    EXPECT_EQ(std::memcmp(m.b, want, 8), 0);
}

TEST(Ipaux, MacWithColons_3_13) {
    Mac m = mac("00:11:22:33:44:AA");
    ASSERT_EQ(m.n, 6);
    EXPECT_EQ(m.b[5], 0xaa);
    EXPECT_EQ(m.b[6], 0);
}

TEST(Ipaux, MacMixedColons_3_13) {
    Mac m = mac("0011:2233:44aa");
    ASSERT_EQ(m.n, 6);
    EXPECT_EQ(m.b[2], 0x22);
    EXPECT_EQ(m.b[5], 0xaa);
}

TEST(Ipaux, MacAtMostEightBytes_3_13) {
    Mac m = mac("00112233445566778899");
    ASSERT_EQ(m.n, 8);
    EXPECT_EQ(m.b[7], 0x77);
}

TEST(Ipaux, MacShortTextGivesFewerBytes_3_13) {
    EXPECT_EQ(mac("").n, 0);
    EXPECT_EQ(mac("0").n, 0);
    EXPECT_EQ(mac("001").n, 1);
    EXPECT_EQ(mac("0011").n, 2);
    Mac m = mac("ab");
    EXPECT_EQ(m.n, 1);
    EXPECT_EQ(m.b[0], 0xab);
    EXPECT_EQ(m.b[1], 0);  // the rest is zeroed
}

TEST(Ipaux, MacNonHexPairsReadAsZero_3_13) {  // quirk: any two characters make a byte
    Mac m = mac("zz11zz");
    ASSERT_EQ(m.n, 3);
    EXPECT_EQ(m.b[0], 0);
    EXPECT_EQ(m.b[1], 0x11);
    EXPECT_EQ(m.b[2], 0);
    Mac h = mac("1z");
    ASSERT_EQ(h.n, 1);
    EXPECT_EQ(h.b[0], 1);
}

TEST(Ipaux, MacStopsAtNul_3_13) {
    EXPECT_EQ(mac(std::string_view("0011\0" "2233", 9)).n, 2);
}

TEST(Ipaux, MacRoundTripsWithFmtEther_3_13) {
    Ether e{{0xde, 0xad, 0xbe, 0xef, 0x00, 0x01}};
    Mac m = mac(fmt_ether(e));
    ASSERT_EQ(m.n, 6);
    EXPECT_EQ(std::memcmp(m.b, e.b.data(), 6), 0);
}

// ---- parse_remote (§3.2.1) --------------------------------------------------------------

TEST(Ipaux, RemoteAddrBangPort_3_2_1) {
    Result<RemoteSpec> r = parse_remote("1.2.3.4!80");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->addr, Ipaddr::v4(1, 2, 3, 4));
    EXPECT_EQ(r->port, 80);
    EXPECT_FALSE(r->restricted);
}

TEST(Ipaux, RemoteV6_3_2_1) {
    Result<RemoteSpec> r = parse_remote("fe80::1!22");
    ASSERT_TRUE(r);
    EXPECT_EQ(fmt_ip(r->addr), "fe80::1");
    EXPECT_EQ(r->port, 22);
}

TEST(Ipaux, RemoteRestricted_3_2_1) {
    EXPECT_TRUE(parse_remote("1.2.3.4!80!r")->restricted);
    EXPECT_TRUE(parse_remote("ff02::1!134!r")->restricted);
    EXPECT_FALSE(parse_remote("1.2.3.4!80!x")->restricted);
    EXPECT_FALSE(parse_remote("1.2.3.4!80!")->restricted);
    EXPECT_FALSE(parse_remote("1.2.3.4!80!R")->restricted);
}

TEST(Ipaux, RemoteRestrictedIsAnyBangR_3_2_1) {  // strstr(rest, "!r")
    EXPECT_TRUE(parse_remote("1.2.3.4!80!rx")->restricted);
    EXPECT_TRUE(parse_remote("1.2.3.4!80!x!r")->restricted);
}

TEST(Ipaux, RemoteWithoutBangIsMalformed_3_2_1) {
    EXPECT_EQ(parse_remote("1.2.3.4").err(), Emalformed);
    EXPECT_EQ(parse_remote("").err(), Emalformed);
    EXPECT_STREQ(parse_remote("x").err().text, "malformed address");
}

TEST(Ipaux, RemoteBadAddress_3_2_1) {
    EXPECT_EQ(parse_remote("bad!80").err(), Ebadip);
    EXPECT_EQ(parse_remote("!80").err(), Ebadip);
    EXPECT_EQ(parse_remote("*!80").err(), Ebadip);
    EXPECT_EQ(parse_remote("1.2.3.4x!80").err(), Ebadip);
    EXPECT_EQ(parse_remote("bad!port").err(), Ebadip);  // the address is checked first
}

TEST(Ipaux, RemoteBadPort_3_2_1) {
    for (const char* s : {"1.2.3.4!http", "1.2.3.4!80x", "1.2.3.4!", "1.2.3.4!*",
                          "1.2.3.4!80 ", "1.2.3.4!!80", "1.2.3.4!-"})
        EXPECT_EQ(parse_remote(s).err(), Ebadport) << s;
    EXPECT_STREQ(parse_remote("1.2.3.4!x").err().text, "bad numeric port");
}

TEST(Ipaux, RemotePortZeroAllowed_3_2_1) { EXPECT_EQ(parse_remote("1.2.3.4!0")->port, 0); }

TEST(Ipaux, RemotePortWrapsTo16Bits_3_2_1) {
    EXPECT_EQ(parse_remote("1.2.3.4!65535")->port, 65535);
    EXPECT_EQ(parse_remote("1.2.3.4!65536")->port, 0);
    EXPECT_EQ(parse_remote("1.2.3.4!70000")->port, 4464);
    EXPECT_EQ(parse_remote("1.2.3.4!99999999999")->port, 0xffff);  // strtol saturates
}

TEST(Ipaux, RemotePortIsStrtol_3_2_1) {  // blanks and a sign are accepted, base 10 only
    EXPECT_EQ(parse_remote("1.2.3.4! 80")->port, 80);
    EXPECT_EQ(parse_remote("1.2.3.4!+80")->port, 80);
    EXPECT_EQ(parse_remote("1.2.3.4!-1")->port, 65535);
    EXPECT_EQ(parse_remote("1.2.3.4!010")->port, 10);
    EXPECT_EQ(parse_remote("1.2.3.4!0x10").err(), Ebadport);
}

TEST(Ipaux, RemoteAddressMayEndInDelimiter_3_2_1) {
    EXPECT_EQ(parse_remote("1.2.3.4 !80")->addr, Ipaddr::v4(1, 2, 3, 4));
}

TEST(Ipaux, RemoteClassfulAddress_3_2_1) {
    EXPECT_EQ(parse_remote("10.1!7")->addr, Ipaddr::v4(10, 0, 0, 1));
    EXPECT_EQ(parse_remote("12!7")->addr, Ipaddr::v4(12, 0, 0, 0));
}

// ---- parse_local (§3.2.1) ---------------------------------------------------------------

TEST(Ipaux, LocalPortOnly_3_2_1) {
    for (bool ann : {false, true}) {
        Result<LocalSpec> l = parse_local("80", ann);
        ASSERT_TRUE(l);
        EXPECT_FALSE(l->has_addr);
        EXPECT_FALSE(l->any_port);
        EXPECT_EQ(l->port, 80);
    }
}

TEST(Ipaux, LocalPortZeroMeansPick_3_2_1) {
    Result<LocalSpec> l = parse_local("0", false);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->port, 0);
    EXPECT_FALSE(l->any_port);
}

TEST(Ipaux, LocalAddrBangPort_3_2_1) {
    Result<LocalSpec> l = parse_local("10.0.0.1!80", true);
    ASSERT_TRUE(l);
    EXPECT_TRUE(l->has_addr);
    EXPECT_FALSE(l->any_addr);
    EXPECT_EQ(l->addr, Ipaddr::v4(10, 0, 0, 1));
    EXPECT_EQ(l->port, 80);
}

TEST(Ipaux, LocalStarAddressIsAny_3_2_1) {
    Result<LocalSpec> l = parse_local("*!80", true);
    ASSERT_TRUE(l);
    EXPECT_TRUE(l->has_addr);
    EXPECT_TRUE(l->any_addr);
    EXPECT_EQ(l->addr, IPnoaddr);
    EXPECT_EQ(l->port, 80);
    EXPECT_TRUE(parse_local("*!80", false)->any_addr);
}

TEST(Ipaux, LocalTrailingBangRIgnored_3_2_1) {
    Result<LocalSpec> l = parse_local("10.0.0.1!80!r", false);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->addr, Ipaddr::v4(10, 0, 0, 1));
    EXPECT_EQ(l->port, 80);
}

TEST(Ipaux, LocalPortBangRHasNoAddress_3_2_1) {
    // devip setladdrport: with one '!', the part before it is the port when "r" follows.
    Result<LocalSpec> l = parse_local("80!r", false);
    ASSERT_TRUE(l);
    EXPECT_FALSE(l->has_addr);
    EXPECT_EQ(l->port, 80);
    Result<LocalSpec> star = parse_local("*!r", true);
    ASSERT_TRUE(star);
    EXPECT_FALSE(star->has_addr);
    EXPECT_TRUE(star->any_port);
}

TEST(Ipaux, LocalFirstPartIsAddressWhenBangFollowedByOtherThanR_3_2_1) {
    Result<LocalSpec> l = parse_local("80!81", false);
    ASSERT_TRUE(l);
    EXPECT_TRUE(l->has_addr);
    EXPECT_EQ(l->addr, Ipaddr::v4(80, 0, 0, 0));
    EXPECT_EQ(l->port, 81);
    EXPECT_EQ(parse_local("80!x", false).err(), Ebadport);
    EXPECT_EQ(parse_local("80!rr", false).err(), Ebadport);
}

TEST(Ipaux, LocalStarPortOnlyWhenAnnouncing_3_2_1) {
    Result<LocalSpec> l = parse_local("*", true);
    ASSERT_TRUE(l);
    EXPECT_TRUE(l->any_port);
    EXPECT_EQ(l->port, 0);
    EXPECT_FALSE(l->has_addr);
    EXPECT_EQ(parse_local("*", false).err(), Ebadport);
    EXPECT_EQ(parse_local("10.0.0.1!*", false).err(), Ebadport);
}

TEST(Ipaux, LocalStarStar_3_2_1) {
    Result<LocalSpec> l = parse_local("*!*", true);
    ASSERT_TRUE(l);
    EXPECT_TRUE(l->any_addr);
    EXPECT_TRUE(l->any_port);
}

TEST(Ipaux, LocalStarPortMustBeExact_3_2_1) {
    EXPECT_EQ(parse_local("10.0.0.1!*!r", true).err(), Ebadport);
    EXPECT_EQ(parse_local("**", true).err(), Ebadport);
}

TEST(Ipaux, LocalBadAddress_3_2_1) {
    EXPECT_EQ(parse_local("bad!80", true).err(), Ebadip);
    EXPECT_EQ(parse_local("!80", true).err(), Ebadip);
    EXPECT_EQ(parse_local("bad!port", true).err(), Ebadip);  // the address is checked first
    EXPECT_STREQ(parse_local("x!1", false).err().text, "bad ip address syntax");
}

TEST(Ipaux, LocalBadNumericPort_3_2_1) {
    for (const char* s : {"http", "", "80x", "10.0.0.1!", "10.0.0.1!http", "!r", "0x50"})
        EXPECT_EQ(parse_local(s, false).err(), Ebadport) << s;
    EXPECT_STREQ(parse_local("http", true).err().text, "bad numeric port");
}

TEST(Ipaux, LocalPortJunkAfterBangIgnored_3_2_1) {
    Result<LocalSpec> l = parse_local("10.0.0.1!80!junk", false);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->port, 80);
}

TEST(Ipaux, LocalPortWraps_3_2_1) {
    EXPECT_EQ(parse_local("65537", false)->port, 1);
    EXPECT_EQ(parse_local("-1", false)->port, 65535);
}

TEST(Ipaux, LocalV6Address_3_2_1) {
    Result<LocalSpec> l = parse_local("fe80::1!134", false);
    ASSERT_TRUE(l);
    EXPECT_EQ(fmt_ip(l->addr), "fe80::1");
    EXPECT_EQ(l->port, 134);
}

// ---- ctl numbers (§3.1) -----------------------------------------------------------------

TEST(Ipaux, StrtolDecimal_3_1) {
    EXPECT_EQ(ctl_strtol("12"), 12);
    EXPECT_EQ(ctl_strtol("  12"), 12);
    EXPECT_EQ(ctl_strtol("\t-5"), -5);
    EXPECT_EQ(ctl_strtol("+7"), 7);
    EXPECT_EQ(ctl_strtol("010"), 10);
}

TEST(Ipaux, StrtolTrailingJunkIgnoredBadTextIsZero_3_1) {
    EXPECT_EQ(ctl_strtol("12abc"), 12);
    EXPECT_EQ(ctl_strtol("abc"), 0);
    EXPECT_EQ(ctl_strtol(""), 0);
    EXPECT_EQ(ctl_strtol("-"), 0);
    EXPECT_EQ(ctl_strtol(std::string_view("1\0" "2", 3)), 1);
}

TEST(Ipaux, StrtolBaseZero_3_1) {
    EXPECT_EQ(ctl_strtol("0x10", 0), 16);
    EXPECT_EQ(ctl_strtol("010", 0), 8);
    EXPECT_EQ(ctl_strtol("10", 0), 10);
    EXPECT_EQ(ctl_strtol("-0x10", 0), -16);
    EXPECT_EQ(ctl_strtol("0x", 0), 0);
    EXPECT_EQ(ctl_strtol("09", 0), 0);
}

TEST(Ipaux, StrtolIs32BitAndSaturates_3_1) {  // Plan 9 long is 32 bits
    EXPECT_EQ(ctl_strtol("2147483647"), 2147483647L);
    EXPECT_EQ(ctl_strtol("2147483648"), 2147483647L);
    EXPECT_EQ(ctl_strtol("4294967297"), 2147483647L);
    EXPECT_EQ(ctl_strtol("-2147483648"), -2147483648L);
    EXPECT_EQ(ctl_strtol("-99999999999"), -2147483648L);
}

TEST(Ipaux, StrtoulIs32Bit_3_1) {
    EXPECT_EQ(ctl_strtoul("4294967295"), 4294967295UL);
    EXPECT_EQ(ctl_strtoul("4294967296"), 4294967295UL);
    EXPECT_EQ(ctl_strtoul("-1"), 4294967295UL);
    EXPECT_EQ(ctl_strtoul("-2"), 4294967294UL);
    EXPECT_EQ(ctl_strtoul("1500"), 1500UL);
    EXPECT_EQ(ctl_strtoul("0x5dc", 0), 1500UL);
    EXPECT_EQ(ctl_strtoul("0x", 0), 0UL);
    EXPECT_EQ(ctl_strtoul("ff", 16), 255UL);
    EXPECT_EQ(ctl_strtoul("0xff", 16), 255UL);
    EXPECT_EQ(ctl_strtoul("junk"), 0UL);
}

// ---- round trips --------------------------------------------------------------------------

TEST(Ipaux, FmtIpRoundTrips_2_1) {
    for (const char* s : {"1.2.3.4", "0.0.0.0", "::", "::1", "1::", "fe80::1", "2001:db8::1:0:0:1",
                          "::102:304", "ffff::ffff:102:304", "1:2:3:4:5:6:7:8", "ff02::1:ff00:1",
                          "::fffe:0:0", "1:0:0:2::3"}) {
        Ipaddr a = ip(s);
        EXPECT_EQ(fmt_ip(a), s);
        EXPECT_EQ(ip(fmt_ip(a)), a) << s;
    }
}

TEST(Ipaux, FmtMaskRoundTripsInV6Context_2_1) {
    for (int n = 0; n <= 128; n++) {
        Result<Ipaddr> m = parseipmask(fmt_mask(prefix_mask(n)), false);
        ASSERT_TRUE(m);
        EXPECT_EQ(*m, prefix_mask(n)) << n;
    }
}

}  // namespace
}  // namespace devip::proto

namespace devip::proto {
namespace {

// Plain dotted quads and "/N" masks take a short cut; a trailing NUL (the text ends there,
// §4.1.1) sends the same text the general way. Both must agree on anything quad-shaped.
TEST(Ipaux, DottedQuadShortCutAgreesWithParser_4_1_1) {
    std::mt19937 rng(11);
    const char* parts[] = {"0", "00", "01", "9", "10", "99", "100", "255", "256", "300",
                           "999", "012", "0x1", "1a", "", " 1"};
    for (int i = 0; i < 20000; i++) {
        std::string s;
        int n = 3 + int(rng() % 3);  // 3 to 5 parts
        for (int k = 0; k < n; k++) {
            if (k) s += '.';
            s += rng() % 4 ? std::to_string(rng() % 256) : parts[rng() % std::size(parts)];
        }
        auto fast = parseip(s), slow = parseip(s + std::string(1, '\0'));
        ASSERT_EQ(bool(fast), bool(slow)) << s;
        if (fast) ASSERT_EQ(*fast, *slow) << s;
    }
}

TEST(Ipaux, SlashMaskShortCutAgreesWithParser_4_1_2) {
    for (std::string n : {"0", "1", "8", "24", "32", "33", "95", "96", "120", "128", "129",
                          "999", "024", "", "x", "-1", "+3", "2x"})
        for (bool v4 : {true, false}) {
            std::string s = "/" + n;
            auto fast = parseipmask(s, v4), slow = parseipmask(s + std::string(1, '\0'), v4);
            ASSERT_EQ(bool(fast), bool(slow)) << s << " v4 " << v4;
            if (fast) EXPECT_EQ(*fast, *slow) << s << " v4 " << v4;
        }
}

}  // namespace
}  // namespace devip::proto
