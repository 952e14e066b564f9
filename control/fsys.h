// The boundary between the 9P server (srv.cc: sessions, fids, tags, parking, Tflush)
// and the file tree (tree.cc/files.cc: what the files are). The server knows nothing of
// /net; the tree knows nothing of sockets or message framing.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "control/fcall.h"
#include "proto/err.h"

namespace devip::ctl {

using proto::Err;

// Who is on the other end of a connection (from SO_PEERCRED).
struct Ident {
    std::string user;  // user name; uid number in decimal if it has no name
    uint32_t uid = 0;
    bool eve = false;  // root: the host owner
};

// Per-fid state. The server creates it at attach and copies it on walk to a new fid;
// the tree interprets path/aux. Copyable: aux is shared between copies only until the
// tree replaces it (open/walk replace, never mutate shared aux in place).
struct Fid {
    uint32_t fid = 0;
    Qid qid;                          // current qid (the tree keeps it up to date)
    const Ident* who = nullptr;       // the connection's identity
    int stack = 0;                    // attach name: stack number
    bool open = false;                // opened (Topen succeeded)
    uint8_t omode = 0;                // open mode as given
    uint64_t dir_index = 0;           // directory reads: index of the next entry
    uint64_t dir_offset = 0;          // directory reads: offset the next read must give
    std::shared_ptr<void> aux;        // tree's per-open state (e.g. iproute tag, log reader)
};

// What a parked request waits on: the tree names it (a queue, a log) and announces it
// through Fsys::ready when it changes; the server then re-runs the requests parked on it.
using WaitKey = const void*;

// Result of an operation that may have to wait.
enum class Status { Done, Error, Park };
struct Answer {
    Status st = Status::Done;
    Err err{};
    WaitKey key = nullptr;  // Park: what to wait for; null = re-run on every round
    static Answer done() { return {}; }
    static Answer park(WaitKey k = nullptr) { return {Status::Park, {}, k}; }
    static Answer fail(Err e) { return {Status::Error, e}; }
};

class Fsys {
public:
    virtual ~Fsys() = default;
    // Sets f to the root of stack `aname` ("" or "0".."15"); fills f.qid.
    virtual Err attach(Fid& f, std::string_view aname) = 0;
    // Moves f one step (name may be ".."); fills f.qid. f is already a copy for newfid.
    virtual Err walk(Fid& f, std::string_view name) = 0;
    virtual Err stat(const Fid& f, Dir& d) = 0;
    // The i-th entry of directory f, or false past the end.
    virtual bool dirent(const Fid& f, uint64_t i, Dir& d) = 0;
    // Open; may Park (listen). Called again with the same arguments when retried.
    // On Done, f.open/f.omode are set by the server; the tree may change f.qid (clone).
    virtual Answer open(Fid& f, uint8_t mode) = 0;
    // Read up to count bytes at off into out; may Park (data, err, log). Retried like open.
    virtual Answer read(Fid& f, uint64_t off, uint32_t count, std::string& out) = 0;
    // Write; n = bytes accepted. May Park (flow control): re-run with the same data when
    // its key is ready.
    virtual Answer write(Fid& f, uint64_t off, std::span<const uint8_t> data, uint32_t& n) = 0;
    virtual Err wstat(Fid& f, const Dir& d) = 0;
    // The fid goes away (Tclunk, Tremove, disconnect).
    virtual void clunk(Fid& f) = 0;
    // A parked open/read on f is abandoned (Tflush, disconnect): undo what parking held.
    virtual void cancel(Fid& f) = 0;
    // Appends the keys that changed since the last call (each parked request on one of them
    // is re-run). The default names none: only unkeyed parks are re-run.
    virtual void ready(std::vector<WaitKey>& keys) { (void)keys; }
    // Whether writes to f may carry keys (esp ctl): the server wipes their bytes from its
    // buffers once they are served, and a parked copy when it goes.
    virtual bool secret(const Fid& f) const {
        (void)f;
        return false;
    }
};

}  // namespace devip::ctl
