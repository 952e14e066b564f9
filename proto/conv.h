// Conversations: the generic machinery every protocol shares (devip.c), ip3.md §1.3–§1.6,
// §3.2. A Conv is one /net/<proto>/<n> directory; a Proto is one protocol directory.
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "proto/cmd.h"
#include "proto/err.h"
#include "proto/ip.h"
#include "proto/text.h"

namespace devip::proto {

class Stack;
class Proto;
struct ProtoRow;
struct FlowMsg;

// One counter of a protocol's stats file as the metrics endpoint exports it (64-bit, never
// going backwards): name as the file labels it; for per-message-type counters name is "In"
// or "Out" and type the message type's name.
struct Counter {
    std::string name;   // "InDatagrams", or "In"/"Out" with type
    uint64_t value;     // summed over the control thread and the workers
    std::string type;   // "EchoRequest", or empty
};

// What changed since the 9P server last looked: the keys (queues, logs) that parked requests
// wait on. The server re-runs only the requests parked on a kicked key (srv.cc).
class ReadySet {
public:
    void kick(const void* key) { keys_.push_back(key); }
    // Moves the kicked keys (each once) into out.
    void take(std::vector<const void*>& out);
    bool empty() const { return keys_.empty(); }
private:
    std::vector<const void*> keys_;  // kicked since the last take, duplicates allowed
};

// A queue of messages (or a byte stream) with qio.c's hangup semantics (§1.6). Reads that
// find it empty park on it (its address is the key); put, hangup and reset kick it.
class Queue {
public:
    Queue(size_t limit, bool msg) : limit_(limit), msg_(msg) {}
    void attach(ReadySet* r) { ready_ = r; }  // where this queue's changes are announced
    void kick() { if (ready_) ready_->kick(this); }
    // Appends one block; false (dropped) when over the limit or closed.
    bool put(std::string b);
    enum class R { Data, Wait, Error };
    // One read of at most count bytes. Message queues return one block per read and discard
    // what does not fit; stream queues keep the rest for the next read. After a plain hangup
    // reads return 0 bytes (EOF) three times, then Ehungup; after a hangup with a reason,
    // queued data first, then the reason.
    R read(uint32_t count, std::string& out, Err& e);
    void hangup(Err reason = {});   // close; reason empty = plain hangup
    void reset();                   // empty and reopen (conversation reuse)
    size_t bytes() const { return bytes_; }
    bool closed() const { return closed_; }
    Err reason() const { return reason_; }
    void set_limit(size_t l) { limit_ = l; }
private:
    std::deque<std::string> q_;  // queued blocks, oldest first
    size_t bytes_ = 0;           // bytes in q_
    size_t limit_;               // put() drops beyond this many bytes
    bool msg_;                   // message queue (one block per read) or stream
    bool closed_ = false;        // hung up
    Err reason_{};               // hangup reason; empty for a plain hangup
    std::string reason_buf_;     // owns reason_'s text
    int eofs_ = 0;               // EOFs returned since a plain hangup
    ReadySet* ready_ = nullptr;  // kicked on every change that may end a parked read
};

inline constexpr int kMaxIncall = 10;  // queued, untaken calls per listener (§1.5)

struct Conv {
    Conv(Proto& p, int x, size_t rqlimit, bool rqmsg);
    ReadySet* rq_ready() const;   // where this conv's queues announce changes
    virtual ~Conv() = default;

    Proto* p;                     // the protocol this conv belongs to
    int x;                        // conversation number (directory name)
    std::string owner = "network";  // reset to the opener on first open (§1.4)
    uint32_t perm = 0660;         // only the 0666 bits are stored
    int inuse = 0;                // open count: ctl/data/err opens, clone, in-progress listen
    ConvState state = ConvState::Idle;  // devip-level state
    Version ipversion = Version::V4;    // after connect: v4 iff both ends v4 (or raddr unset)
    Ipaddr laddr;                 // local address; IPnoaddr = any
    Ipaddr raddr;                 // remote address; IPnoaddr = unset
    uint16_t lport = 0;           // local port (ICMP: the identifier)
    uint16_t rport = 0;           // remote port
    bool restricted = false;      // "!r": local port from 600–1023
    bool ignoreadvice = false;    // ICMP errors may not hang this conv up
    uint8_t ttl = 255;            // outgoing TTL / hop limit
    uint8_t tos = 0;              // outgoing TOS / traffic class
    bool headers = false;         // udp/icmpv6 header mode
    Queue rq;                     // data read queue
    Queue eq;                     // err queue
    std::deque<int> incall;       // calls queued on this listener, oldest first
    int listening = 0;            // listen opens waiting on this conv
    std::vector<std::pair<Ipaddr, Ipaddr>> multi;  // joined groups: (ifc address, group)
    uint32_t qin_dropped = 0;     // datagrams dropped because rq was full
    uint32_t gen = 0;             // incarnation: bumped by clone; workers' messages carry it
    bool flowed = false;          // its flow is installed on the workers (udp)
    uint32_t hint_gen = 0;        // route generation of the usable hint the workers have; 0: none
};

// One file operation a worker must finish (a TCP connect, a ctl, a status line, a write
// under flow control), kept in the open file's state between re-runs of the same request:
// a protocol that sets key makes the 9P request park on it; the request is re-run (with
// the same Pend) when the key is kicked.
struct Pend {
    uint64_t ticket = 0;          // 0: not started; else what it waits for
    const void* key = nullptr;    // set on return: park on this
};

// One protocol directory. Virtual calls happen once per ctl message or file read, never
// per packet.
class Proto {
public:
    struct Info {
        const char* name;   // directory under /net
        int ipproto;        // IP protocol number; -1 for ipifc
        int nconv;          // conversation limit (§1.2)
        int index;          // registration index in 9front's pc64 order (qid proto field)
    };
    // The row of the protocol table (registry.h) this protocol was made from.
    Proto(Stack& s, const ProtoRow& row);
    virtual ~Proto() = default;

    virtual std::unique_ptr<Conv> make_conv(int x) = 0;
    // ctl: generic verbs first (devip.c ipwrite), then ctl(); ipifc overrides all of it.
    virtual Err write_ctl(Conv& c, const CtlArgs& a);
    virtual Err connect(Conv& c, const CtlArgs& a);
    virtual Err announce(Conv& c, const CtlArgs& a);
    virtual Err bind(Conv& c, const CtlArgs& a);
    virtual Err ctl(Conv&, const CtlArgs&) { return Eunknownctl; }
    virtual Err write_data(Conv& c, std::span<const uint8_t> data) = 0;
    // The same, for protocols whose operations wait for a worker (pend.key set: park); n is
    // the bytes taken. By default they finish at once.
    virtual Err ctl_async(Conv& c, const CtlArgs& a, Pend&) { return write_ctl(c, a); }
    virtual Err data_async(Conv& c, std::span<const uint8_t> data, Pend&, uint32_t& n);
    virtual Err status(Conv& c, Text& t, Pend&) {
        state(c, t);
        return ok;
    }
    // A data read took n bytes from c's read queue.
    virtual void consumed(Conv&, size_t) {}
    // A listen open took call off its listener's queue (take_call).
    virtual void taken(Conv&) {}
    // The control thread's timer tick (every 10 ms or so).
    virtual void tick(uint64_t now_ms) { (void)now_ms; }
    virtual void create(Conv&) {}     // after clone picks the conv
    virtual void close(Conv& c) = 0;  // last close
    virtual bool busy(const Conv&) const { return false; }
    virtual void state(const Conv& c, Text& t) const = 0;
    virtual void local(const Conv& c, Text& t) const;
    virtual void remote(const Conv& c, Text& t) const;
    virtual void stats(Text& t) const = 0;
    // The stats file's counters as rows (devipd --metrics); a protocol adds its own here.
    virtual void counters(std::vector<Counter>&) const {}
    // Appends the /net writes that remake this protocol's configuration (ipctl save), with
    // secrets only when keys. Interfaces, routes, ARP and ndb are the stack's (save.cc).
    virtual void save(Text&, bool keys) const {}
    virtual bool has_snoop() const { return false; }
    // A per-conversation stats file (esp): listed after status when true.
    virtual bool has_conv_stats() const { return false; }
    virtual void conv_stats(const Conv&, Text&) const {}

    // clone (§1.4 reuse rule): lowest conv with inuse 0 and not busy; Enodev when full.
    Result<Conv*> clone(const std::string& user);
    // The open count reached 0: queued calls closed, owner reset, protocol close, Idle.
    void last_close(Conv& c);
    // The oldest call queued on listener l, taken off its queue (taken() told); -1: none.
    int take_call(Conv& l);
    Conv* conv(int x) const { return x >= 0 && x < int(convs.size()) ? convs[x].get() : nullptr; }

    // devip.c address helpers, shared by protocols.
    Err setraddrport(Conv& c, std::string_view s);
    Err setladdrport(Conv& c, std::string_view s, bool announcing, bool eve);
    Err setluniqueport(Conv& c, uint16_t port);
    Err setlport(Conv& c);            // automatic port (§3.2.1)
    void setladdr(Conv& c);           // source selection toward raddr

    // Conversations whose datagrams the workers demultiplex and send (UDP, ICMP, ICMPv6):
    // sync_flow puts c's flow on the workers or takes it away, by flow_sync: installed on
    // every worker (FlowAdd, with the route hint toward raddr when hint) when on, else
    // removed if it was there; a lost request leaves it as it was. flow_send: c's message
    // (at most max bytes) from its worker while the workers' hint is current (refreshed by
    // sync_flow when the routes changed); false: the caller sends it here (IP output: ARP
    // resolution, ICMP errors).
    virtual void sync_flow(Conv&) {}
    void flow_sync(Conv& c, bool on, FlowMsg& f, bool hint);
    bool flow_send(Conv& c, std::span<const uint8_t> msg, size_t max);

    Stack& stack;
    Info info;
    std::vector<std::unique_ptr<Conv>> convs;  // every conv ever allocated
    uint16_t next_restricted = 600;            // restricted-port cursor
    bool caller_eve = false;                   // set around write_ctl by the file layer
};

// Counter tables (STYLE 10.6): a label and a member, printed in table order.
template <class C>
struct Stat {
    const char* name;
    uint64_t C::*field;
};

}  // namespace devip::proto
