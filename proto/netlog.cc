// /net/log (netlog.c). Behaviour: ip3.md §2.11, §3.14.
#include "proto/netlog.h"

#include "proto/conv.h"

#include <cstdarg>
#include <cstdio>

#include "proto/ipaux.h"

namespace devip::proto {

namespace {

struct Cat {
    const char* name;
    uint32_t mask;
};
// tcpwin and tcprxmt switch on tcp; udpmsg udp; ipmsg ip (netlog.c's table).
constexpr Cat kCats[] = {
    {"ppp", Logppp}, {"ip", Logip}, {"fs", Logfs}, {"il", Logil}, {"tcp", Logtcp},
    {"icmp", Logicmp}, {"igmp", Logigmp}, {"udp", Logudp}, {"compress", Logcompress},
    {"logilmsg", Logilmsg}, {"gre", Loggre}, {"tcpwin", Logtcpwin | Logtcp},
    {"tcprxmt", Logtcprxmt | Logtcp}, {"udpmsg", Logudpmsg | Logudp},
    {"ipmsg", Logipmsg | Logip}, {"esp", Logesp}, {"trans", Logtrans},
};

uint32_t catmask(const CtlArgs& a) {
    uint32_t m = 0;
    for (size_t i = 1; i < a.size(); i++)
        for (const auto& c : kCats)
            if (a[i] == c.name) m |= c.mask;
    return m;
}

// rc-style quoting of one word: quoted when it holds a blank or a quote.
std::string rcquote(const std::string& s) {
    if (!s.empty() && s.find_first_of(" \t\n'") == std::string::npos) return s;
    std::string q = "'";
    for (char c : s) {
        if (c == '\'') q += '\'';
        q += c;
    }
    return q + "'";
}

}  // namespace

Err Netlog::ctl(const CtlArgs& a) {
    if (a.empty()) return Elogempty;
    if (a.size() < 2) return Elogfewargs;
    if (a[0] == "set") {
        mask_ |= catmask(a);
        return ok;
    }
    if (a[0] == "clear") {
        mask_ &= ~catmask(a);
        return ok;
    }
    if (a[0] == "only") {
        auto ip = parseip(a[1]);
        if (!ip) return ip.err();
        only_ = *ip;
        return ok;
    }
    std::string words;
    for (size_t i = 0; i < a.size(); i++) {
        if (i) words += ' ';
        words += rcquote(a[i]);
    }
    return err_text("unknown control message \"%s\"", words.c_str());
}

void Netlog::print(uint32_t cat, const char* fmt, ...) {
    if (!on(cat)) return;
    char msg[kMsgMax];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    buf_.append(msg, std::min<size_t>(size_t(n), sizeof msg - 1));
    if (ready_) ready_->kick(this);
    if (buf_.size() > kSize) buf_.erase(0, buf_.size() - kSize);
}

void Netlog::close() {
    if (opens_ > 0 && --opens_ == 0) {
        buf_.clear();
        buf_.shrink_to_fit();
    }
}

std::string Netlog::read(uint32_t count) {
    std::string out = buf_.substr(0, count);
    buf_.erase(0, out.size());
    return out;
}

}  // namespace devip::proto
