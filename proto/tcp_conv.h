// /net/tcp: the conversations' file side on the control thread. The connections themselves
// live on their owning workers (tcp_work.h): a connect, a ctl message, a status read and a
// write beyond the flow-control window wait (park) for the worker's completion. Behaviour:
// ip3.md §3.4 (ctl), §4.6 (TCP), §2.4 (status), §2.10 (stats), with the departures devip(4)
// lists. With no workers (unit tests) the control thread runs the shard itself.
#pragma once
#include <deque>
#include <memory>

#include "proto/conv.h"
#include "proto/tcp_work.h"

namespace devip::proto {

struct Ipifc;

struct TcpConv final : Conv {
    TcpConv(Proto& p, int x);
    int w = -1;                   // the owning worker (-1: none yet)
    bool live = false;            // a connection exists: the conv is busy until its Closed
    bool glued = false;           // the worker knows the conv: a Close is owed at last close
    bool listener = false;        // announced: a listener on every worker
    // a ctl write the worker finishes (connect, TCP ctl messages), one at a time
    bool ctl_busy = false;
    uint64_t ctl_ticket = 0, ctl_done = 0;
    std::string ctl_err;          // the finished one's error; empty: none
    // status lines from the worker, one query at a time
    bool q_busy = false;
    uint64_t q_ticket = 0, q_done = 0;
    std::string q_text;
    // flow control
    uint32_t inflight = 0;        // bytes written, not yet taken into the send buffer
    uint32_t unreported = 0;      // bytes read, not yet reported as Consumed
    uint64_t rcvd = 0;            // bytes that came up (DataIn)
    uint64_t eof_at = kNone;      // a pending Eof: applied once rcvd reaches it
    uint64_t closed_at = kNone;   // a pending Closed
    std::string close_err;        // its error
    std::string err_text;         // why the connection ended: later writes fail with it
    uint16_t backlog = 10;        // a listener's calls not yet taken (9front's 10)
    std::vector<std::string> early;  // TCP ctl messages before there is a connection
    char kctl = 0, kwrite = 0, kstat = 0;  // park keys (their addresses)
    static constexpr uint64_t kNone = ~0ull;
};

class Tcp final : public Proto {
public:
    Tcp(Stack& s, const ProtoRow& row);
    ~Tcp() override;
    std::unique_ptr<Conv> make_conv(int x) override;
    Err write_ctl(Conv& c, const CtlArgs& a) override;
    Err ctl_async(Conv& c, const CtlArgs& a, Pend& op) override;
    Err write_data(Conv& c, std::span<const uint8_t> data) override;
    Err data_async(Conv& c, std::span<const uint8_t> data, Pend& op, uint32_t& n) override;
    Err status(Conv& c, Text& t, Pend& op) override;
    void consumed(Conv& c, size_t n) override;
    void taken(Conv& c) override;
    void close(Conv& c) override;
    bool busy(const Conv& c) const override;
    void state(const Conv& c, Text& t) const override;
    void stats(Text& t) const override;
    void counters(std::vector<Counter>& out) const override;
    void tick(uint64_t now_ms) override;

    // A segment the control thread received (fragments reassembled, IPv6, or what the
    // workers did not take): to its owner.
    void input(Ipifc& f, std::span<const uint8_t> pkt, size_t hlen);
    void advise(std::span<const uint8_t> emb, Err why);
    void completion(const MsgHdr& h, std::span<const uint8_t> data);
    TcpStats sum() const;         // every shard's counters
    static constexpr uint32_t kWindow = 512 * 1024;  // written bytes in flight per conv
    static constexpr uint32_t kPiece = 1920;         // data bytes per Send message
private:
    TcpConv& tc(Conv& c) { return static_cast<TcpConv&>(c); }
    MsgHdr hdr(MsgKind k, const TcpConv& c) const;
    // A request to worker w (every worker when w < 0); queued in order when a ring is full.
    void send(const MsgHdr& h, std::span<const uint8_t> d, int w);
    void flush_backlog();
    Err start_ctl(TcpConv& c, const CtlArgs& a, Pend& op);
    void finish_ctl(TcpConv& c, std::string_view err);
    Err connect_tcp(TcpConv& c, Pend& op);
    void end(TcpConv& c);         // apply a pending Eof / Closed whose data have all come up
    void on_call(const MsgHdr& h, const TcpCallMsg& m);
    void tx_slow(const MsgHdr& h, std::span<const uint8_t> pkt);
    uint16_t route_mss(const Ipaddr& src, const Ipaddr& dst);
    int workers() const;
    // no workers: the control thread's own shard
    void drain_local();
    static void emit_local(void* ctx, const TcpWork& w, std::span<const TcpTx> tx);
    std::unique_ptr<TcpWork> local_;
    std::unique_ptr<TcpShard> scratch_;  // formats the status of a conv with no connection
    struct Req {
        MsgHdr h;
        std::string d;
        int w;
    };
    std::deque<Req> backlog_;     // requests a full ring refused, oldest first
    std::deque<Req> local_q_;     // no workers: requests for the local shard, in order
    bool in_local_ = false;       // the local shard is running: queue, do not recurse
    static constexpr size_t kLocalBatch = 256;  // local requests run per call
    void run_local(size_t limit);
    bool draining_ = false;
    bool porthog_ = false;
    uint64_t announces_ = 0;      // PassiveOpens (9front counts announces; workers each listen)
};

Tcp* tcp_of(Stack& s);

}  // namespace devip::proto
