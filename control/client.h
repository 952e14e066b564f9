// A 9P2000 client for devipd's /net tree (intro(5)), used by ipctl and by tests.
//
// One Client is one UNIX stream connection. A reader thread owns the receive side and
// hands each reply to the caller waiting on its tag, so any number of threads may have a
// request outstanding at once: one thread can sit in a blocking read of a conversation's
// data file (the server parks it) while another writes to the same conversation. A wait
// may carry a deadline; when it passes, the request is cancelled with Tflush and the wait
// ends with either the reply that beat the flush or kInterrupted.
//
// Errors are values: CErr holds the server's Rerror text exactly as the server sent it,
// or one of the client's own texts below.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "control/fcall.h"

namespace devip::ctl {

// The outcome of a client call: empty text means success.
struct CErr {
    std::string text;  // the Rerror text, or a local error; empty on success
    explicit operator bool() const { return !text.empty(); }
};

// The client's own error texts (everything else comes from the server).
inline constexpr const char* kInterrupted = "interrupted";     // flushed (deadline, interrupt)
inline constexpr const char* kHungup = "devipd hung up";        // the connection went away
inline constexpr const char* kBadReply = "bad 9P reply";        // undecodable or wrong type
inline constexpr const char* kNotExist = "file does not exist"; // a walk stopped short

inline constexpr uint32_t kClientMsize = 65560;  // what we ask for in Tversion
inline constexpr const char* kVersion = "9P2000";

using Clock = std::chrono::steady_clock;

// A decoded reply that owns its bytes (Fcall::data points into buf).
struct Reply {
    std::vector<uint8_t> buf;  // the whole message as received
    Fcall f;                   // decoded from buf
};

class WritePipe;

class Client {
public:
    Client() = default;
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Connects to the server's socket and starts the reader thread.
    CErr dial(const std::string& sockpath);
    // Tversion then Tattach of the root fid. aname selects the stack ("" or "0".."15").
    CErr attach(std::string_view aname);
    // Cancels every outstanding request (Tflush each); their waits end with kInterrupted
    // unless the reply was already on its way. Safe from any thread.
    void interrupt();
    // Shuts the connection: every wait ends with kHungup.
    void hangup();

    uint32_t msize() const { return msize_; }
    // The server speaks 9P2000.devip (attach asked for it): splice() works.
    bool can_splice() const { return splice_; }
    uint32_t iounit() const { return msize_ - kIoHdrSize; }  // most data per Tread/Twrite
    uint32_t root() const { return kRootFid; }

    // Fid numbers. new_fid never returns the root or one in use.
    uint32_t new_fid();
    void free_fid(uint32_t fid);

    // --- one 9P message each (walk may send several: 16 names per Twalk) ---
    // Walks fid along path (split on '/', empty elements skipped) to newfid. A walk that
    // stops short fails with the server's error or kNotExist, and newfid stays unused.
    CErr walk(uint32_t fid, uint32_t newfid, std::string_view path, Qid* q = nullptr);
    CErr open(uint32_t fid, uint8_t mode, Qid* q = nullptr, uint32_t* iounit = nullptr);
    CErr create(uint32_t fid, const std::string& name, uint32_t perm, uint8_t mode,
                Qid* q = nullptr);
    // At most count (clamped to iounit) bytes at off; an empty out means end of file.
    // With a deadline, a read still unanswered then is flushed and fails with kInterrupted.
    CErr read(uint32_t fid, uint64_t off, uint32_t count, std::string& out,
              Clock::time_point deadline = Clock::time_point::max());
    // One Twrite (data must fit in iounit); n is what the server accepted.
    CErr write1(uint32_t fid, uint64_t off, std::span<const uint8_t> data, uint32_t& n);
    // Writes all of data in iounit-sized Twrites; stops at the first error or short write.
    CErr write(uint32_t fid, uint64_t off, std::span<const uint8_t> data);
    CErr clunk(uint32_t fid);  // also frees the fid number
    CErr remove(uint32_t fid); // also frees the fid number
    CErr stat(uint32_t fid, Dir& d);
    // Reads a whole directory fid (opened OREAD) and decodes its entries.
    CErr read_dir(uint32_t fid, std::vector<Dir>& out);
    // Tsplice (devip(4)): hands fd, a UNIX stream or seqpacket socket, to the server, which
    // copies between it and fid (open ORDWR) and writes emsg to efid (kNoFid: none) at the
    // end of the socket's input. The caller closes its copy of fd afterwards.
    CErr splice(uint32_t fid, uint32_t efid, std::string_view emsg, int fd);

    // --- path helpers, relative to the root fid ---
    CErr read_all(std::string_view path, std::string& out);
    CErr write_file(std::string_view path, std::string_view msg);  // one write from offset 0
    CErr stat_path(std::string_view path, Dir& d);
    CErr list(std::string_view path, std::vector<Dir>& out);

    // --- the asynchronous core every call above is built on ---
    // Sends t with a fresh tag (fills t.tag).
    CErr start(Fcall& t);
    // Sends several requests in one system call (fills their tags); fd, if not -1, goes
    // with them as SCM_RIGHTS (for a Tsplice among them). The server answers in order.
    CErr start_many(std::span<Fcall> ts, int fd = -1);
    // Waits for tag's reply. Past the deadline the request is flushed and the wait goes
    // on until the flush settles it. Rerror becomes a CErr; so does a reply whose type is
    // not `want`.
    CErr wait(uint16_t tag, Ftype want, Reply& r,
              Clock::time_point deadline = Clock::time_point::max());
    // Waits until tag's reply has arrived (true) or until passes (false), without
    // consuming or flushing it: a later wait() collects it.
    bool ready(uint16_t tag, Clock::time_point until);
    // start + wait.
    CErr rpc(Fcall& t, Ftype want, Reply& r,
             Clock::time_point deadline = Clock::time_point::max());
    // Sends Tflush for tag; its waiter then ends with its reply or kInterrupted.
    void flush(uint16_t tag);

private:
    friend class WritePipe;
    static constexpr uint32_t kRootFid = 0;

    // One request in flight, keyed by tag.
    struct Slot {
        bool done = false;          // reply (or cancellation) arrived
        bool is_flush = false;      // this slot is a Tflush we sent
        bool flushing = false;      // a Tflush for this slot is in flight
        uint16_t oldtag = kNoTag;   // Tflush slots: the tag being flushed
        std::string err;            // set when ended locally (flush, hangup)
        std::vector<uint8_t> buf;   // the reply's bytes
        std::condition_variable* waiter = nullptr;  // the thread in ready() for it, if any
    };
    void wake(Slot& s) { if (s.waiter) s.waiter->notify_one(); }  // with mu_ held

    CErr send(const Fcall& t);
    CErr send_bytes(const std::vector<uint8_t>& out, int fd = -1);  // fd: as SCM_RIGHTS
    CErr tclunk(uint32_t fid);  // Tclunk without giving the number back
    void reader();
    void complete(uint16_t tag, std::vector<uint8_t> buf);  // with mu_ held
    uint16_t alloc_tag();                                   // with mu_ held

    int fd_ = -1;                       // the connection
    std::thread reader_;                // owns the receive side
    std::atomic<bool> dead_{false};     // reader saw EOF or an error
    uint32_t msize_ = kClientMsize;     // negotiated in Tversion
    bool splice_ = false;               // Rversion said 9P2000.devip

    std::mutex send_mu_;                // one writer of the socket at a time
    std::mutex mu_;                     // guards everything below
    std::condition_variable cv_;        // the pipe's room, and the end of the connection (a
                                        // reply wakes only the thread waiting for it)
    std::map<uint16_t, Slot> slots_;    // requests in flight
    uint16_t next_tag_ = 0;             // where the tag search starts
    std::vector<uint32_t> free_fids_;   // clunked fid numbers for reuse
    uint32_t next_fid_ = kRootFid + 1;  // next never-used fid number
    WritePipe* pipe_ = nullptr;         // the pipeline whose tags are [pipe_lo_, +pipe_n_)
    uint16_t pipe_lo_ = 0;              // its first tag
    uint16_t pipe_n_ = 0;               // its window: how many tags it owns
};

// Pipelined writes to one fid (ipctl write -p): up to kWindow Twrites in flight, encoded
// straight into a send buffer and sent kSendBytes at a time, in as few system calls as
// that takes. The Client's reader thread settles their replies in bulk, without a slot
// each, and wakes the writer only when it waits for room. One pipe per Client at a time;
// the Client's other calls keep working beside it.
class WritePipe {
public:
    static constexpr uint16_t kWindow = 4096;      // writes in flight at most
    static constexpr size_t kSendBytes = 64 * 1024;  // send when this much is queued

    // One write that failed: the caller's label for it and the error text.
    struct Failure {
        uint64_t label;
        std::string err;
    };

    // Writes go to fid, the first at offset and each next one after the previous one's
    // bytes, as Client::write's do.
    WritePipe(Client& c, uint32_t fid, uint64_t offset);
    ~WritePipe();
    WritePipe(const WritePipe&) = delete;
    WritePipe& operator=(const WritePipe&) = delete;

    // Queues data (copied) as one write, or as several if it is longer than the iounit,
    // reported as label if it fails. Blocks while the window is full. Returns false once
    // any write has failed (the caller should stop) or the connection is gone.
    bool put(std::string_view data, uint64_t label);
    // Sends what is queued and waits for every answer. The failures, in label order.
    std::vector<Failure> finish();
    // Answers so far and how many were errors (for progress; safe from the writing thread).
    uint64_t answered() const { return answered_.load(std::memory_order_relaxed); }
    uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }

private:
    struct Slot {
        uint64_t label = 0;  // the caller's label
        uint32_t len = 0;    // bytes written: a shorter Rwrite count is a failure
        std::atomic<bool> busy{false};  // queued or sent, and not answered yet
    };
    void send_queued();
    void settle(uint16_t tag, const uint8_t* msg, uint32_t size);  // reader thread, mu_ held
    void fail_busy(const char* why);                                // mu_ held

    Client& c_;                      // the connection
    uint32_t fid_;                   // the file written
    uint64_t offset_;                // where the next write goes
    std::vector<Slot> slots_;        // by tag - c_.pipe_lo_
    uint64_t next_ = 0;              // writes queued so far; the next uses slot next_ % kWindow
    std::vector<uint8_t> out_;       // encoded writes not yet sent
    std::vector<Failure> failures_;  // guarded by the Client's mu_
    std::atomic<bool> failed_{false};  // a write failed, a send failed, or the window is lost
    std::atomic<uint64_t> answered_{0};  // Rwrite or Rerror received
    std::atomic<uint64_t> errors_{0};    // of which failures
    bool finished_ = false;          // finish() has run
    friend class Client;
};

// An open file on a Client: a fid plus the offset of the next read or write, so that
// several files can be open at once (clone's ctl, a conversation's data, a listen).
// Closing (or destroying) clunks the fid. A CFid belongs to one thread at a time (its
// offset is unguarded); a second thread using the same open file calls Client directly
// with fid(), as ipctl's dial writes data while its reader thread reads it.
class CFid {
public:
    CFid() = default;
    CFid(Client* c, uint32_t fid, Qid q) : c_(c), fid_(fid), qid_(q) {}
    ~CFid() { close(); }
    CFid(CFid&& o) noexcept { *this = std::move(o); }
    CFid& operator=(CFid&& o) noexcept;
    CFid(const CFid&) = delete;
    CFid& operator=(const CFid&) = delete;

    // Walks from the root to path and opens it with mode.
    static CErr open(Client& c, std::string_view path, uint8_t mode, CFid& out);

    bool valid() const { return c_ != nullptr; }
    uint32_t fid() const { return fid_; }
    const Qid& qid() const { return qid_; }
    uint64_t offset() const { return off_; }
    void seek(uint64_t off) { off_ = off; }

    // Reads at the current offset and advances it. Empty out means end of file.
    CErr read(std::string& out, Clock::time_point deadline = Clock::time_point::max());
    // The whole file from the current offset to end of file.
    CErr read_all(std::string& out);
    // One logical write at the current offset (split only if longer than iounit).
    CErr write(std::string_view data);
    CErr close();

private:
    Client* c_ = nullptr;  // null once closed
    uint32_t fid_ = 0;     // the open fid
    Qid qid_;              // as Ropen returned it (clone: the new conversation's ctl)
    uint64_t off_ = 0;     // offset of the next read or write
};

// Strips an optional leading "/net" (and leading slashes), so "/net/ipifc/clone",
// "ipifc/clone" and "/ipifc/clone" name the same file. "/net" itself is "".
std::string_view net_relative(std::string_view path);

}  // namespace devip::ctl
