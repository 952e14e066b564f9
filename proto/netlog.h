// /net/log (netlog.c): categories set and cleared by ctl, a 16 KB ring read by blocking
// reads. ip3.md §2.11, §3.14.
#pragma once
#include <cstdint>
#include <string>

#include "proto/cmd.h"
#include "proto/err.h"
#include "proto/ip.h"

namespace devip::proto {
class ReadySet;
}

namespace devip::proto {

enum Logcat : uint32_t {
    Logppp = 1 << 0, Logip = 1 << 1, Logfs = 1 << 2, Logil = 1 << 3, Logtcp = 1 << 4,
    Logicmp = 1 << 5, Logigmp = 1 << 6, Logudp = 1 << 7, Logcompress = 1 << 8,
    Logilmsg = 1 << 9, Loggre = 1 << 10, Logtcpwin = 1 << 11, Logtcprxmt = 1 << 12,
    Logudpmsg = 1 << 13, Logipmsg = 1 << 14, Logesp = 1 << 15, Logtrans = 1 << 16,
};

class Netlog {
public:
    static constexpr size_t kSize = 16 * 1024;
    static constexpr size_t kMsgMax = 256;
    Err ctl(const CtlArgs& a);               // set / clear / only
    bool on(uint32_t cat) const { return opens_ > 0 && (mask_ & cat); }
    void print(uint32_t cat, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
    void open() { opens_++; }
    void close();                            // last close frees the buffer
    size_t available() const { return buf_.size(); }
    std::string read(uint32_t count);        // consumes
    uint32_t mask() const { return mask_; }
    void attach(ReadySet* r) { ready_ = r; }  // kicked (key: this log) when text arrives
private:
    ReadySet* ready_ = nullptr;
    uint32_t mask_ = 0;     // enabled categories
    Ipaddr only_;           // recorded, never applied (quirk 14)
    int opens_ = 0;         // open fds; text accumulates only while > 0
    std::string buf_;       // the ring: oldest bytes dropped beyond kSize
};

}  // namespace devip::proto
