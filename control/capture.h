// What the capture files (/net/etherN/capture, /net/ipifc/N/capture) need from the packet
// machinery. devipd implements it over dataplane/capture.h; control/ never includes
// dataplane/ (DESIGN.md "Layout"). Single-threaded: the control thread calls everything.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "proto/err.h"

namespace devip::ctl {

class CaptureIo {
public:
    virtual ~CaptureIo() = default;
    // A capture of port, configured but not running: its id, or Enodev when every capture
    // (dp::kMaxCaptures) is taken.
    virtual proto::Result<int> open(uint16_t port) = 0;
    // tcpdump syntax (libpcap); "" captures everything. A bad expression changes nothing.
    virtual proto::Err filter(int id, std::string_view expr) = 0;
    virtual proto::Err snaplen(int id, uint32_t n) = 0;
    // The first read starts it (section and interface blocks first); comment goes into the
    // section header.
    virtual proto::Err start(int id, const std::string& comment) = 0;
    virtual bool running(int id) const = 0;
    // No more packets; the statistics block, then end of file.
    virtual void stop(int id) = 0;
    enum class R { Data, Wait, End };
    virtual R read(int id, uint32_t count, std::string& out) = 0;
    virtual const void* key(int id) const = 0;  // what a parked read waits on
    virtual void close(int id) = 0;
};

}  // namespace devip::ctl
