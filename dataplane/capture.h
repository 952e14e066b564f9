// Packet capture (issue 10 §1): the workers copy the packets a capture wants, the control
// thread turns the copies into pcapng for /net/etherN/capture and /net/ipifc/N/capture.
//
// Worker side: capture_rx after each rx burst and capture_tx before each tx burst, both
// behind capture_on() (one load and one branch per burst when nothing is captured). For
// each open capture of the burst's port, its filter (tcpdump syntax compiled by libpcap,
// converted by rte_bpf_convert, run by rte_bpf: the JIT where it loads) picks packets; each
// is copied, truncated to the snaplen, into a mempool of its own and put on the worker's
// capture ring. No copy buffer or a full ring drops the copy (counted per worker and
// capture), never the packet, and never waits.
//
// Control side: drain() takes the copies off the rings and writes them as enhanced packet
// blocks (rte_pcapng) into the capture's memfd, which reads then consume. The capture's
// filter program and runtime table are published by RCU (freed after a grace period).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "proto/err.h"

struct rte_bpf;
struct rte_mbuf;
struct rte_mempool;
struct rte_ring;
struct rte_pcapng;

namespace devip::dp {

inline constexpr int kMaxCaptures = 4;            // open capture files per devipd
inline constexpr uint32_t kCaptureSnapMax = 2048; // bytes a copy keeps at most (a whole mbuf)
inline constexpr size_t kCaptureBuffered = 8 << 20;  // pcapng bytes held for a slow reader
inline constexpr unsigned kCaptureRing = 1024;    // copies in flight per worker

enum class CapDir : uint8_t { In = 1, Out = 2 };  // rte_pcapng_direction's values

// A tcpdump filter compiled for rte_bpf: libpcap (DLT_EN10MB) → classic BPF → eBPF → load.
// Owns the program; jit is its native code when the JIT took it.
struct CapFilter {
    rte_bpf* bpf = nullptr;            // null: every packet matches
    uint64_t (*jit)(void*) = nullptr;  // rte_bpf_get_jit's function, or null
    std::string text;                  // the expression as written
};
// Compiles expr into f; an empty expr matches everything. Errors name libpcap's or
// rte_bpf's complaint ("bad filter: syntax error"), and leave f untouched.
proto::Err capture_compile(std::string_view expr, uint32_t snaplen, CapFilter& f);
void capture_free(CapFilter& f);
// Runs a filter over n packets (n <= 64): match[i] set when packet i passes. The JIT's code
// when there is some, else rte_bpf_exec_burst; no program passes everything.
void capture_match(const rte_bpf* bpf, uint64_t (*jit)(void*), rte_mbuf* const* m, uint16_t n,
                   uint8_t* match);

// One capture as the workers see it (immutable once published).
struct CapSlotRt {
    const rte_bpf* bpf;                // the filter; null: every packet
    uint64_t (*jit)(void*);            // its JIT code, or null
    uint32_t snaplen;                  // bytes kept of each packet
    uint32_t gen;                      // the capture's incarnation, stamped on each copy
    uint16_t port;                     // the port it captures
    uint8_t slot;                      // its index in the control side's table
};
struct CapRt {
    uint8_t n = 0;                     // live entries of s
    CapSlotRt s[kMaxCaptures];
};

// A copy's facts, in the private area of its mbuf.
struct CapMeta {
    uint64_t tsc;                      // TSC when the worker saw the burst
    uint32_t len;                      // the packet's length before truncation
    uint32_t gen;                      // CapSlotRt::gen of the capture that took it
    uint16_t port;                     // port received on or sent to
    uint16_t queue;                    // rx/tx queue: the worker's index
    uint8_t dir;                       // CapDir
    uint8_t slot;                      // CapSlotRt::slot
};

// Counters of one worker (written only by it).
struct alignas(64) CapCounters {
    uint64_t copied[kMaxCaptures] = {};   // copies put on the ring, per slot
    uint64_t dropped[kMaxCaptures] = {};  // no copy buffer or ring full, per slot
};

class Capture {
public:
    // Rings and counters for nworkers workers; retire runs a function after an RCU grace
    // period (Dataplane::retire). The copy pools are made at the first open.
    proto::Err init(int nworkers, std::function<void(std::function<void()>)> retire);
    ~Capture();

    // ---- control thread ------------------------------------------------------------------
    // A new capture of port (not yet running): its id, or Enodev when kMaxCaptures are open.
    proto::Result<int> open(uint16_t port);
    proto::Err filter(int id, std::string_view expr);  // live when running
    proto::Err snaplen(int id, uint32_t n);            // 1..kCaptureSnapMax; 0 = the most
    // Runs it: the section and interface blocks are written, the workers start copying.
    proto::Err start(int id, const std::string& comment);
    // The workers stop copying; once the last copies are in, an interface statistics block
    // follows and reads end (end of file).
    void stop(int id);
    enum class R { Data, Wait, End };
    R read(int id, uint32_t count, std::string& out);
    void close(int id);                // the file is clunked: stop and free, after a grace
    bool running(int id) const;
    const void* key(int id) const { return &slots_[size_t(id)]; }  // what parked reads wait on
    // Moves the workers' copies into their captures; kick(key) for each that got data.
    // Returns the copies taken.
    size_t drain(const std::function<void(const void*)>& kick);
    // Lines for /net/etherN/stats: each capture of port with its counters.
    void stats_text(uint16_t port, std::string& out) const;
    // A capture's totals: copies, and drops (the workers' and the control thread's).
    void totals(int id, uint64_t& captured, uint64_t& dropped, std::string& per_worker) const;

    // ---- workers -------------------------------------------------------------------------
    void burst(unsigned w, uint16_t port, rte_mbuf* const* m, uint16_t n, CapDir d);

private:
    struct Slot {
        bool used = false;             // open (or closing, until its grace period ends)
        bool live = false;             // published to the workers
        bool stopping = false;         // stop asked: end once the last copies are in
        bool ended = false;            // statistics written: reads reach end of file
        uint32_t gen = 0;              // incarnation
        uint16_t port = 0;             // port captured
        uint32_t snap = kCaptureSnapMax;  // snaplen
        CapFilter f;                   // the filter (freed after a grace period when replaced)
        rte_pcapng* png = nullptr;     // the writer, on fd
        int fd = -1;                   // memfd holding the pcapng bytes not yet read
        uint64_t rd = 0;               // bytes of fd read
        uint64_t wr = 0;               // bytes of fd written
        uint64_t punched = 0;          // bytes of fd given back (hole punched)
        uint64_t start_ns = 0;         // realtime when started
        std::vector<uint64_t> base_copied, base_dropped;  // per worker, at start
        std::vector<uint64_t> ctl_dropped;                 // per worker: over kCaptureBuffered
        uint64_t written = 0;          // packet blocks written
    };
    void publish();                    // the live slots → a new CapRt for the workers
    uint64_t buffered(const Slot& s) const;
    void finish(int id);               // the statistics block; reads then end
    void worker_counts(const Slot& s, int id, std::vector<uint64_t>& copied,
                       std::vector<uint64_t>& dropped) const;
    proto::Err make_pools();
    // Worker w: n copies for slot onto its ring; what does not fit is dropped and counted.
    void copy(unsigned w, const CapSlotRt& s, rte_mbuf* const* m, uint16_t n, CapDir d,
              uint64_t tsc);             // filter and copy n <= 64 packets for one capture
    void put(unsigned w, uint8_t slot, rte_mbuf** out, unsigned n);

    int nworkers_ = 0;
    std::function<void(std::function<void()>)> retire_;
    rte_mempool* pool_ = nullptr;      // workers' copies (CapMeta in the private area)
    rte_mempool* png_pool_ = nullptr;  // control thread: the copies as pcapng blocks
    std::vector<rte_ring*> rings_;     // worker → control, one per worker
    std::vector<CapCounters> ctr_;     // one per worker
    std::atomic<const CapRt*> rt_{nullptr};  // what the workers read
    Slot slots_[kMaxCaptures];
    uint32_t next_gen_ = 1;
    std::vector<const void*> kicked_;  // keys to announce at the next drain (ended captures)
};

// The one Capture of this process, for the worker loop's calls (null: never initialised).
extern Capture* g_capture;
extern std::atomic<bool> g_capture_on;  // a capture is live: the one branch per burst
inline bool capture_on() { return g_capture_on.load(std::memory_order_relaxed); }
inline void capture_rx(uint16_t port, uint16_t q, rte_mbuf* const* m, uint16_t n) {
    g_capture->burst(q, port, m, n, CapDir::In);
}
inline void capture_tx(uint16_t port, uint16_t q, rte_mbuf* const* m, uint16_t n) {
    g_capture->burst(q, port, m, n, CapDir::Out);
}

}  // namespace devip::dp
