// libip's address parsing (ip3.md §4.1) and devip's addr!port grammar (§3.2.1), reproduced
// from 9front's behaviour down to its quirks: the kernel reads every number with Plan 9's
// strtol/strtoul, where long is 32 bits, so those are emulated here (p9_strto) rather than
// taken from the host libc. All parsers see their input as a C string would: the text ends
// at the first NUL byte.
#include "proto/ipaux.h"

#include <cstring>
#include <optional>
#include <string>

namespace devip::proto {

namespace {

// The input as the kernel's C code sees it: up to the first NUL, then NUL-terminated, so the
// parsers below may look one character past the end without a bounds check.
std::string cstr(std::string_view s) {
    return std::string(s.substr(0, s.find('\0')));
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_xdigit(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// One number read the Plan 9 way: v is the 32-bit value the C type would hold (for strtol the
// two's-complement bit pattern), end is where reading stopped (the start when no digit was
// read, even if blanks, a sign or "0x" were skipped).
struct Scan {
    uint32_t v = 0;
    const char* end = nullptr;
};

int digit_value(char c) {
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'z') return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
    return 99;
}

// Plan 9 libc strtol (is_signed) and strtoul: skip " \t\n\f\r\v", optional sign, base 0
// picks 8 for a leading 0 and 16 for 0x. They differ on "0x": strtol always skips it (then
// "0x" alone reads no digit at all), strtoul only when a hex digit follows. Overflow
// saturates at LONG_MAX/LONG_MIN or ULONG_MAX; strtoul negates a "-" value modulo 2^32.
Scan p9_strto(const char* s, int base, bool is_signed) {
    const char* p = s;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\f' || *p == '\r' || *p == '\v') p++;
    bool neg = false;
    if (*p == '-' || *p == '+') neg = *p++ == '-';
    bool zx = p[0] == '0' && (p[1] == 'x' || p[1] == 'X');
    if (base == 0) base = p[0] != '0' ? 10 : zx ? 16 : 8;
    if (base == 16 && zx && (is_signed || is_xdigit(p[2]))) p += 2;
    if (base < 2 || base > 36) return {0, s};

    const uint64_t limit = is_signed ? 0x7fffffffu : 0xffffffffu;
    uint64_t mag = 0;
    bool ovfl = false;
    int ndig = 0;
    for (int v; (v = digit_value(*p)) < base; p++, ndig++) {
        mag = mag * uint64_t(base) + uint64_t(v);
        if (mag > limit) {
            ovfl = true;
            mag = limit;  // keeps the arithmetic in range; the result saturates anyway
        }
    }
    Scan r;
    r.end = ndig ? p : s;
    if (ovfl)
        r.v = !is_signed ? 0xffffffffu : neg ? 0x80000000u : 0x7fffffffu;
    else
        r.v = neg ? uint32_t(0 - mag) : uint32_t(mag);
    return r;
}

Scan p9_strtoul(const char* s, int base) { return p9_strto(s, base, false); }
Scan p9_strtol(const char* s, int base) { return p9_strto(s, base, true); }

// libip: characters that may continue an address, and what may follow one. NUL and every
// byte >= 0x80 count as delimiters.
bool ip_char(char c) { return c == '.' || c == ':' || is_xdigit(c); }
bool ip_delim(char c) { return !(c == '.' || c == ':' || is_digit(c) || is_alpha(c)); }

// The classful shorthand of §4.1.1: with n parts read, a class A address (first byte < 128)
// a.b becomes a.0.0.b and a.b.c becomes a.0.b.c; class B a.b.c becomes a.b.0.c. Parts not
// written stay 0.
void classful_fill(uint8_t v4[4], int n) {
    switch (v4[0] >> 6) {
    case 0:
    case 1:  // class A
        if (n == 3) {
            v4[3] = v4[2];
            v4[2] = v4[1];
            v4[1] = 0;
        } else if (n == 2) {
            v4[3] = v4[1];
            v4[1] = 0;
        }
        break;
    case 2:  // class B
        if (n == 3) {
            v4[3] = v4[2];
            v4[2] = 0;
        }
        break;
    }
}

// Dotted v4 into v4[0..3] (already zero): up to four parts, each strtoul base 0 truncated to
// a byte, each optionally followed by one '.'. A part that reads nothing still counts as a
// part. Returns where reading stopped.
const char* parse_v4_parts(uint8_t v4[4], const char* p) {
    int n = 0;
    for (; n < 4 && *p; n++) {
        Scan part = p9_strtoul(p, 0);
        v4[n] = uint8_t(part.v);
        p = part.end;
        if (*p == '.') p++;
    }
    classful_fill(v4, n);
    return p;
}

// The byte image of a parseip: colon groups fill b from the front; when the text ends early,
// everything after the "::" (or all of it, when there was none) slides to the end.
struct Groups {
    uint8_t b[16] = {};
    int used = 0;     // bytes written
    int gap = 0;      // byte offset of the "::", 0 when there is none
    bool v4 = true;   // no ':' was seen, so the result is v4-mapped
};

// One colon group at p (which is an ip_char). Returns false on a syntax error, else sets
// *stop when the address ended inside this group.
bool parse_group(Groups& g, const char*& p, bool& stop) {
    const char* start = p;
    Scan x = p9_strtoul(p, 16);
    p = x.end;
    if (*p == '.' || (*p == '\0' && g.used == 0)) {  // the rest is a dotted quad
        if (g.used > 16 - 4) return false;
        p = parse_v4_parts(g.b + g.used, start);
        g.used += 4;
        stop = true;
        return true;
    }
    if (x.v > 0xffff || (*p != ':' && !ip_delim(*p))) return false;
    g.b[g.used] = uint8_t(x.v >> 8);
    g.b[g.used + 1] = uint8_t(x.v);
    if (*p == ':') {
        g.v4 = false;
        if (*++p == ':') {  // "::": elided zero groups
            if (g.gap) return false;
            g.gap = g.used + 2;
            p++;
        }
    } else if (p == start) {
        stop = true;
    }
    if (!stop) g.used += 2;
    return true;
}

// The address is the first 16 bytes of every 16-byte mask view (§4.1.2).
constexpr int kV4Off = 12;

bool prefix_is(const Ipaddr& a, const Ipaddr& ref) {
    return std::memcmp(a.b.data(), ref.b.data(), kV4Off) == 0;
}

// devip's port: strtol base 10, which must read a digit and stop at the end or a '!'.
bool parse_port(const char* s, uint16_t& port, const char** rest) {
    Scan n = p9_strtol(s, 10);
    if (n.end == s || (*n.end != '\0' && *n.end != '!')) return false;
    port = uint16_t(n.v);  // ushort in 9front: larger values wrap
    if (rest) *rest = n.end;
    return true;
}

// The common case of parseip, four plain decimal parts each at most 255 and without a
// leading zero (which would make the part octal), and nothing after them: its value.
// Anything else (including what parseip would reject) is left to the general parser.
std::optional<uint32_t> dotted_quad(std::string_view s) {
    if (s.size() < 7 || s.size() > 15) return std::nullopt;
    uint32_t v = 0;
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part && (i == s.size() || s[i++] != '.')) return std::nullopt;
        size_t start = i;
        unsigned x = 0;
        while (i < s.size() && i - start < 3 && is_digit(s[i])) x = x * 10 + unsigned(s[i++] - '0');
        if (i == start || x > 255 || (s[start] == '0' && i - start > 1)) return std::nullopt;
        v = v << 8 | x;
    }
    if (i != s.size()) return std::nullopt;
    return v;
}

// The common case of parseipmask, "/" and one to three decimal digits: the prefix length.
std::optional<int> slash_len(std::string_view s) {
    if (s.size() < 2 || s.size() > 4 || s[0] != '/') return std::nullopt;
    int n = 0;
    for (char c : s.substr(1)) {
        if (!is_digit(c)) return std::nullopt;
        n = n * 10 + (c - '0');
    }
    return n;
}

}  // namespace

Result<Ipaddr> parseip(std::string_view s) {
    if (auto v = dotted_quad(s)) return Ipaddr::v4(*v);
    std::string text = cstr(s);
    const char* from = text.c_str();
    const char* p = from;
    Groups g;
    for (bool stop = false; !stop && g.used < 16 && ip_char(*p);)
        if (!parse_group(g, p, stop)) return Ebadip;
    if (p == from || !ip_delim(*p)) return Ebadip;

    if (g.used < 16) {
        int tail = g.used - g.gap;
        std::memmove(g.b + 16 - tail, g.b + g.gap, size_t(tail));
        std::memset(g.b + g.gap, 0, size_t(16 - g.used));
    }
    if (g.v4) g.b[10] = g.b[11] = 0xff;
    return Ipaddr::from_bytes(g.b);
}

Result<Ipaddr> parseipmask(std::string_view s, bool v4) {
    std::optional<int> len = slash_len(s);
    std::string text = len ? std::string() : cstr(s);
    if (len || text[0] == '/') {
        int n = len ? *len : int32_t(p9_strtol(text.c_str() + 1, 10).v);  // atoi
        if (n < 0) n = 0;
        if (n <= 32 && v4) n += 96;
        if (n > 128) n = 128;
        if (v4 && n < 96) return Ebadip;
        return prefix_mask(n);
    }
    Result<Ipaddr> m = parseip(text);
    if (!m) return Ebadip;
    if (prefix_is(*m, v4prefix))
        std::memset(m->b.data(), 0xff, kV4Off);
    else if (v4 && !prefix_is(*m, Ipaddr::ones()))
        return Ebadip;
    return m;
}

Err parseipandmask(Ipaddr& ip, Ipaddr& mask, std::string_view ipstr,
                   std::optional<std::string_view> maskstr) {
    Result<Ipaddr> a = parseip(ipstr);
    ip = a ? *a : IPnoaddr;
    if (!maskstr) {
        // devip extension (libip reads a nil mask as all ones): "addr/N" carries its mask.
        size_t slash = ipstr.substr(0, ipstr.find('\0')).find('/');
        if (slash != std::string_view::npos) maskstr = ipstr.substr(slash);
    }
    Err e = a ? ok : Ebadip;
    if (!maskstr) {
        mask = Ipaddr::ones();
        return e;
    }
    Result<Ipaddr> m = parseipmask(*maskstr, ip.is_v4());
    if (!m) {
        mask = IPnoaddr;
        return Ebadip;
    }
    mask = *m;
    return e;
}

Ipaddr defmask(const Ipaddr& a) {
    if (a.is_v4()) {
        static constexpr int kClassLen[4] = {8, 8, 16, 24};  // class A, A, B, C and above
        return prefix_mask(96 + kClassLen[a.b[kV4Off] >> 6]);
    }
    static constexpr uint8_t kLinkLocal[8] = {0xfe, 0x80, 0, 0, 0, 0, 0, 0};
    static constexpr uint8_t kSolicited[13] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff};
    Ipaddr loopback;
    loopback.b[15] = 1;
    if (a == loopback) return Ipaddr::ones();
    if (std::memcmp(a.b.data(), kLinkLocal, sizeof kLinkLocal) == 0) return prefix_mask(64);
    if (std::memcmp(a.b.data(), kSolicited, sizeof kSolicited) == 0) return prefix_mask(104);
    if (a.b[0] == 0xff) return prefix_mask(8);
    return Ipaddr::ones();
}

int parsemac(uint8_t out[8], std::string_view s) {
    std::memset(out, 0, 8);
    std::string text = cstr(s);
    const char* p = text.c_str();
    int n = 0;
    for (; n < 8 && p[0] && p[1]; n++) {
        const char pair[3] = {p[0], p[1], '\0'};  // any two characters, read as hex
        out[n] = uint8_t(p9_strtoul(pair, 16).v);
        p += 2;
        if (*p == ':') p++;
    }
    return n;
}

Result<RemoteSpec> parse_remote(std::string_view s) {
    std::string text = cstr(s);
    size_t bang = text.find('!');
    if (bang == std::string::npos) return Emalformed;
    RemoteSpec r;
    Result<Ipaddr> a = parseip(std::string_view(text).substr(0, bang));
    if (!a) return Ebadip;
    r.addr = *a;
    const char* rest = nullptr;
    if (!parse_port(text.c_str() + bang + 1, r.port, &rest)) return Ebadport;
    r.restricted = std::strstr(rest, "!r") != nullptr;
    return r;
}

Result<LocalSpec> parse_local(std::string_view s, bool announcing) {
    std::string text = cstr(s);
    std::string_view addr, port = text;
    size_t bang = text.find('!');
    LocalSpec l;
    // "port!r" has no address; otherwise whatever precedes the first '!' is the address.
    if (bang != std::string::npos && port.substr(bang + 1) != "r") {
        addr = port.substr(0, bang);
        port = port.substr(bang + 1);
        l.has_addr = true;
    } else if (bang != std::string::npos) {
        port = port.substr(0, bang);
    }
    if (l.has_addr && addr == "*") {
        l.any_addr = true;
    } else if (l.has_addr) {
        Result<Ipaddr> a = parseip(addr);
        if (!a) return Ebadip;
        l.addr = *a;
    }
    if (announcing && port == "*") {
        l.any_port = true;
        return l;
    }
    if (!parse_port(std::string(port).c_str(), l.port, nullptr)) return Ebadport;
    return l;
}

long ctl_strtol(std::string_view s, int base) {
    return int32_t(p9_strtol(cstr(s).c_str(), base).v);
}

unsigned long ctl_strtoul(std::string_view s, int base) {
    return p9_strtoul(cstr(s).c_str(), base).v;
}

}  // namespace devip::proto
