// The libip formatters (ip3.md §2.1, 9front eipfmt) and the Text builder.
#include "proto/text.h"

#include <cstdarg>
#include <cstdio>

namespace devip::proto {

namespace {

// Where the longest run of zero 16-bit groups starts and how long it is (in groups); the
// first run wins a tie and a single zero group counts. start is -1 when no group is zero.
struct ZeroRun {
    int start = -1;
    int len = 0;
};

ZeroRun longest_zero_run(const uint16_t g[8]) {
    ZeroRun best;
    for (int i = 0; i < 8;) {
        if (g[i]) {
            i++;
            continue;
        }
        int j = i;
        while (j < 8 && !g[j]) j++;
        if (j - i > best.len) best = {i, j - i};
        i = j;
    }
    return best;
}

// Bytes in the rune starting at s[0] (s is not empty). Plan 9's print counts width and
// precision in runes; as in its chartorune, a byte that does not start a complete UTF-8
// sequence is a rune by itself.
size_t rune_bytes(std::string_view s) {
    uint8_t c = uint8_t(s[0]);
    size_t n = c < 0x80 ? 1 : c >= 0xc0 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3
             : c >= 0xf0 && c < 0xf8 ? 4 : 1;
    if (n > s.size()) return 1;
    for (size_t i = 1; i < n; i++)
        if ((uint8_t(s[i]) & 0xc0) != 0x80) return 1;
    return n;
}

}  // namespace

std::string fmt_ip(const Ipaddr& a) {
    char buf[48];
    const uint8_t* p = a.b.data();
    if (a.is_v4()) {
        std::snprintf(buf, sizeof buf, "%d.%d.%d.%d", p[12], p[13], p[14], p[15]);
        return buf;
    }
    uint16_t g[8];
    for (int i = 0; i < 8; i++) g[i] = uint16_t(p[2 * i] << 8 | p[2 * i + 1]);
    ZeroRun z = longest_zero_run(g);

    std::string out;
    for (int i = 0; i < 8; i++) {
        if (i == z.start) {
            out += "::";
            i += z.len;
            if (i >= 8) break;
        } else if (i) {
            out += ':';
        }
        std::snprintf(buf, sizeof buf, "%x", g[i]);
        out += buf;
    }
    return out;
}

std::string fmt_mask(const Ipaddr& m) {
    int n = mask_len(m);
    if (n < 0) return fmt_ip(m);
    return "/" + std::to_string(n);
}

std::string fmt_ether(const Ether& e) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%02x%02x%02x%02x%02x%02x", e.b[0], e.b[1], e.b[2], e.b[3],
                  e.b[4], e.b[5]);
    return buf;
}

void Text::put(const char* fmt, ...) {
    char small[256];
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int n = std::vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n >= 0 && size_t(n) < sizeof small) {
        s_.append(small, size_t(n));
    } else if (n > 0) {
        size_t old = s_.size();
        s_.resize(old + size_t(n) + 1);
        std::vsnprintf(s_.data() + old, size_t(n) + 1, fmt, again);
        s_.resize(old + size_t(n));
    }
    va_end(again);
}

void Text::pad(std::string_view s, int width, bool left, int prec) {
    size_t cut = 0;
    int runes = 0;
    while (cut < s.size() && (prec < 0 || runes < prec)) {
        cut += rune_bytes(s.substr(cut));
        runes++;
    }
    s = s.substr(0, cut);
    size_t fill = width > runes ? size_t(width - runes) : 0;
    if (!left) s_.append(fill, ' ');
    s_.append(s);
    if (left) s_.append(fill, ' ');
}

}  // namespace devip::proto
