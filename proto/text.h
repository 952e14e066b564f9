// Bounded, printf-checked text builder and the libip formatters (ip3.md §2.1):
// %I (address), %M (mask), %E (MAC), with the field widths the /net files use.
#pragma once
#include <string>
#include <string_view>

#include "proto/ip.h"

namespace devip::proto {

std::string fmt_ip(const Ipaddr& a);     // %I: dotted quad for v4-mapped, else RFC 5952-ish hex
std::string fmt_mask(const Ipaddr& m);   // %M: "/N" over 128 bits if contiguous, else %I
std::string fmt_ether(const Ether& e);   // %E: 12 lowercase hex digits

class Text {
public:
    void put(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
    void put(std::string_view s) { s_.append(s); }
    // s padded to width (left-justified when left), truncated to prec chars when prec >= 0:
    // the effect of printf's %-W.Ps / %W.Ps on a string.
    void pad(std::string_view s, int width, bool left = true, int prec = -1);
    void put_ip(const Ipaddr& a) { s_ += fmt_ip(a); }
    void put_mask(const Ipaddr& m) { s_ += fmt_mask(m); }
    void put_ether(const Ether& e) { s_ += fmt_ether(e); }
    const std::string& str() const { return s_; }
    std::string take() { return std::move(s_); }
    size_t size() const { return s_.size(); }
private:
    std::string s_;
};

}  // namespace devip::proto
