// Messages between the control thread and the workers (DESIGN.md "Conversations on
// workers"). Each is an mbuf of the message pool (never the receive pool) whose private area
// holds a MsgHdr; its data is the kind's payload. Requests go control → worker on the
// worker's request ring; completions come back on its completion ring.
#pragma once
#include <cstdint>

#include "proto/ip.h"

namespace devip::proto {

enum class MsgKind : uint8_t {
    // requests (control → worker)
    Tx,         // data: a whole Ethernet frame to send on MsgHdr::port
    FlowAdd,    // data: a FlowMsg; the worker demultiplexes that flow to conv from now on
    FlowDel,    // data: a FlowMsg; it stops (last close, a new connect)
    Send,       // data: a datagram's payload for conv's flow to build and send
    // completions (worker → control)
    DataIn,     // data: a DatagramMeta, then the payload, for conv (or a new caller: Call)
    Call,       // the same, for a listener whose caller has no conversation yet
    TxSlow,     // data: a whole IPv4 (flags 0) or IPv6 (flags kMsgV6) packet the worker could
                // not send itself (no usable route hint: unresolved neighbour, a route
                // change, too big): IP output
    TunIn,      // data: an inner IP packet a worker decrypted or decapsulated on tunnel
                // interface conv, that it did not forward itself: IP input there
    TunOut,     // data: an outer IPv4 packet a worker built for a tunnel and could not send
                // (no resolved outer next hop): IP output here, DF as the packet says
    // TCP (tcp_work.h): requests
    Open,       // data: a TcpOpenMsg; the owner makes the connection and sends the SYN
    Listen,     // data: a TcpListenMsg; every worker listens for conv
    Accept,     // data: a TcpAcceptMsg; conv (new) takes the call conn of this worker
    Taken,      // a listen open took conv's call off the listener's queue: backlog room
    Consumed,   // data: uint32 bytes the reader took: the window reopens
    Ctl,        // data: a ctl message's text, run on the conversation's connection
    Close,      // last close (flags kMsgHangup: the call was refused, reset it)
    Hint,       // data: an OutHint toward conv's peer
    SegIn,      // data: TcpSegMsg, then a TCP segment the control thread received
    Advise,     // data: a TcpAdviseMsg (ICMP about a segment we sent), to every worker
    Query,      // conv's status line is wanted
    // TCP: completions
    Connected,  // conv's active open completed
    Failed,     // data: the error text: the active open failed
    Eof,        // the peer's FIN: conv's reads end
    Closed,     // data: the error text, or none: conv's connection is gone
    WriteDone,  // data: uint32 bytes of conv's writes taken into its send buffer
    CtlDone,    // data: the error text of the Ctl, or none
    QueryDone,  // data: conv's status line
};

inline constexpr uint8_t kMsgV6 = 1;       // TxSlow: the packet is IPv6
inline constexpr uint8_t kMsgLast = 1;     // Send: the last piece of one write
inline constexpr uint8_t kMsgHangup = 1;   // Close: reset the connection
inline constexpr uint8_t kMsgChecked = 1;  // TunIn: the worker checked the reverse path and
                                           // counted the packet

// How a worker sends to one remote without the routing table: the output port, the
// Ethernet addresses, the IP MTU there, valid while the stack's route generation (bumped on
// every route, neighbour and interface change) is what it was when the hint was made.
struct OutHint {
    uint8_t ok;        // usable: a resolved neighbour on an Ethernet port
    uint16_t port;     // output port
    uint16_t mtu;      // largest IP packet out of it
    uint8_t eth[12];   // destination and source MAC
    uint32_t gen;      // the stack's route generation it is good for
};

// In each message mbuf's private area.
struct MsgHdr {
    MsgKind kind;      // what the message is
    uint8_t stack;     // stack number
    uint8_t proto;     // registration index of the protocol (registry.h)
    uint8_t flags;     // kind-specific
    uint16_t port;     // Tx: output port; DataIn, Call: arrival port
    uint16_t tag;      // 9P tag the request answers, when one waits on it
    uint32_t conv;     // conversation number
    uint32_t gen;      // the conversation's incarnation: completions for an older one are stale
    uint32_t uid;      // the caller's identity (uid), for requests made on its behalf
};

// FlowAdd / FlowDel: one conversation's addresses as its protocol demultiplexes them
// (ip3.md §4.5: raddr unset = announced).
struct FlowMsg {
    Ipaddr laddr;      // IPnoaddr: any local address
    Ipaddr raddr;      // IPnoaddr: any remote (an announced conversation)
    uint16_t lport;    // 0: any port (§4.5's "la with port *")
    uint16_t rport;
    uint8_t headers;   // udp headers mode: every datagram to the conv itself, no calls
    uint8_t ttl, tos;  // for what the worker sends
    OutHint hint;      // toward raddr (connected conversations)
};

// Before the payload of DataIn and Call.
struct DatagramMeta {
    Ipaddr src, dst;   // the datagram's addresses
    uint16_t sport, dport;
};

}  // namespace devip::proto
