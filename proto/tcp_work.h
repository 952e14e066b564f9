// TCP on its owning worker (DESIGN.md "Conversations on workers"): the worker's half of
// /net/tcp. One TcpWork per worker and stack holds the TCP engine's shard (tcp.h) and the glue
// between its connections and the control thread's conversations: requests in (msg.h kinds
// Open … Query), segments and completions out. Pure: no DPDK. The worker loop moves the bytes
// (dataplane/worker.cc); with no workers the control thread runs one itself (tcp_conv.cc).
//
// Order: a conversation's requests come on one ring and are handled in order. Its DataIn
// completions may overtake its Eof and Closed (the caller sends data first, and holds data
// back when its ring is full), so Eof and Closed say how many bytes went up before them and
// the control thread applies them once it has that many.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "proto/msg.h"
#include "proto/tcp.h"

namespace devip::proto {

inline constexpr uint8_t kTcpIndex = 0;           // tcp's registration index (registry.cc)
inline constexpr uint32_t kNoConv = 0xffffffffu;  // a connection with no conversation yet

// Request payloads.
struct TcpOpenMsg {
    TcpTuple t;         // our side first
    uint16_t mss;       // the route's MSS toward the peer
    uint8_t ttl, tos;   // the conversation's
    OutHint hint;       // toward the peer (ok 0: packets go up as TxSlow)
};
struct TcpListenMsg {
    Ipaddr laddr;       // IPnoaddr: any
    uint16_t lport;
    uint16_t backlog;   // 0: the default
};
struct TcpAcceptMsg {
    uint32_t conn;      // the call, as the Call completion named it
    TcpTuple t;         // and its tuple (checked: the id must still be that call)
    OutHint hint;
};
struct TcpSegMsg {
    Ipaddr src, dst;    // the segment's IP addresses (its TCP bytes follow)
    uint16_t route_mss; // MSS the route allows toward src (0: unknown)
};
struct TcpAdviseMsg {
    TcpTuple q;         // the quoted segment's tuple, our side first
    uint32_t seq;       // its sequence number
    uint32_t mtu;       // frag needed / packet too big: the next-hop MTU; else 0
    char why[64];       // the advice text (NUL-terminated)
};
// Completion payloads.
struct TcpCallMsg {
    uint32_t conn;      // the new connection on the sending worker
    TcpTuple t;
};
struct TcpEndMsg {      // Eof, Closed: then the error text, if any
    uint64_t up;        // bytes sent up as DataIn before it
};

// A small completion (events, errors, status lines); data go up by read().
struct TcpCpl {
    MsgHdr h;
    uint16_t n = 0;              // bytes of b
    uint8_t b[320];
};

// One Send piece waiting for room in the send buffer (its message is kept meanwhile).
// A Ctl or Close that came behind such pieces waits in the same line (a shutdown must not
// overtake the data written before it).
struct TcpPend {
    void* m;                     // the request message, freed once the piece is taken
    const uint8_t* p;            // what is left of it
    uint32_t n;
    bool last;                   // the last piece of one write
    MsgHdr h{};                  // a waiting Ctl or Close (h.kind), else kind Send
};

struct TcpGlue {
    uint32_t conv = kNoConv;     // conversation number (kNoConv: a call not yet accepted)
    uint32_t gen = 0;            // its incarnation
    OutHint hint{};              // toward the peer
    uint32_t taken = 0;          // bytes of the current write taken so far
    uint64_t up = 0;             // bytes sent up as DataIn
    std::vector<TcpPend> pend;   // Send pieces waiting, oldest first
    size_t pend_head = 0;        // first live entry of pend
    bool listener = false;       // a listener (on every worker)
    bool readable = false;       // in TcpWork::readable
    bool eof = false;            // the peer's FIN came before the Accept
    bool closed = false;         // its Closed event came (err kept)
    bool user_closed = false;    // tcp_close was called
    Err err{};                   // the Closed event's error (static text)
    char errbuf[64] = {};        // ICMP advice text, copied
};

class TcpWork {
public:
    // emit sends the segments of one engine call (valid only during the call).
    using Emit = void (*)(void* ctx, const TcpWork& w, std::span<const TcpTx> tx);
    TcpWork(const TcpParams& p, const uint8_t key[16], uint8_t stack, uint64_t now, Emit emit,
            void* ctx);
    // A request for this shard. m: the message, kept by a Send piece that must wait (true
    // returned: the caller must not free m; it comes back in freed).
    bool request(const MsgHdr& h, std::span<const uint8_t> data, void* m, uint64_t now);
    void input(const TcpSegIn& seg, uint64_t now);
    void timers(uint64_t now);             // cheap when no tick is due
    // Copies up to dst.size() readable bytes of conn (they count against the window until a
    // Consumed request), counting them as sent up. 0: nothing left.
    uint32_t read(uint32_t conn, std::span<uint8_t> dst, uint64_t now);
    uint32_t readable_bytes(uint32_t conn) const { return tcp_readable(shard, conn); }
    // The caller sent up all conn had: it leaves the readable list.
    void readable_done(uint32_t conn) {
        if (conn < glue_.size()) glue_[conn].readable = false;
    }
    // Something for the caller to drain (completions, data, messages to free).
    bool pending() const { return !cpl.empty() || !readable.empty() || !freed.empty(); }
    // A Call completion could not be sent: the connection is reset and forgotten.
    void reject(uint32_t conn, uint64_t now);
    const TcpGlue* glue_of(uint32_t conn) const {
        return conn < glue_.size() ? &glue_[conn] : nullptr;
    }
    // The MsgHdr of a completion about conn's conversation.
    MsgHdr hdr(MsgKind k, uint32_t conn) const;

    TcpShard shard;
    uint8_t stack;
    // outputs, drained by the caller after each call
    std::vector<TcpCpl> cpl;               // completions, in order
    std::vector<uint32_t> readable;        // connections with bytes to send up (DataIn)
    std::vector<void*> freed;              // Send messages done with
private:
    TcpGlue& g(uint32_t id);
    uint32_t conn_of(const MsgHdr& h) const;  // h.conv's connection here, or kTcpNoConn
    void bind(uint32_t id, uint32_t conv, uint32_t gen, const OutHint& hint);
    void unbind(uint32_t id);              // the id goes back to the engine
    void refuse(uint32_t id);              // reset a call nobody takes
    void after();                          // segments out, events handled, until none
    void flush() { if (!shard.tx.empty()) emit_(ctx_, *this, shard.tx), shard.tx.clear(); }
    void event(const TcpEv& e);
    void push(const MsgHdr& h, const void* a = nullptr, size_t na = 0, const char* text = nullptr);
    void end(MsgKind k, uint32_t id, Err err);  // Eof / Closed with the bytes sent up
    void send_pending(uint32_t id);
    bool ctl_or_close(uint32_t id, const MsgHdr& h, std::span<const uint8_t> d, uint64_t now);
    void drop_pending(uint32_t id);
    Emit emit_;
    void* ctx_;
    std::vector<TcpGlue> glue_;            // by connection id
    std::vector<uint32_t> byconv_;         // conversation number → connection id
    std::vector<TcpEv> evs_;               // events being handled
    uint64_t next_timer_ = 0;              // next time timers() calls the engine
};

}  // namespace devip::proto
