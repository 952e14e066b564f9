// ESP conversations (RFC 4303, tunnel mode, manual keys), v4 and v6 outer headers.
// Behaviour: ip3.md §3.10 (ctl), §4.9 (conversations, wire), §2.3 (local/remote), §2.4;
// issue 9 §2 for what devip adds: `spi`, `9front`, `seq`, `esn`, `window`, the per-conv
// stats file. The per-packet work is crypto/'s Engine; this edition runs it on the control
// thread (input by the registry's input4/input6, output by ip4_send/ip6_send).
#pragma once
#include <memory>

#include "crypto/engine.h"
#include "crypto/sa.h"
#include "proto/conv.h"

namespace devip::proto {

struct Ipifc;

inline constexpr Err Espinuse{"spi in use"};
inline constexpr Err Ebadspi{"bad spi"};
inline constexpr Err Enotincoming{"not an incoming conversation"};
inline constexpr Err Enotconnected{"not connected"};
inline constexpr Err Ekeysset{"keys already set"};
inline constexpr Err Eseqover{"sequence number overflow"};
inline constexpr Err Eexpired{"security association expired"};
inline constexpr Err Enotoutgoing{"not an outgoing conversation"};
inline constexpr Err Etunbound{"conversation bound to an interface"};
inline constexpr Err Etunpeers{"conversations have different peers"};
inline constexpr Err Etwoin{"two inbound sas already"};
inline constexpr Err Elastin{"last inbound sa"};

// One conversation's counters (its stats file), in the order the file prints them.
struct EspConvStats {
    uint64_t packets = 0;   // packets sent (out) or delivered (in)
    uint64_t bytes = 0;     // their inner bytes
    uint64_t replay = 0;    // in: seen already or left of the anti-replay window
    uint64_t icv = 0;       // in: integrity check failed
    uint64_t pad = 0;       // in: padding not 1,2,3… or longer than the text
    uint64_t len = 0;       // in: too short or misaligned; out: no room
    uint64_t nexthdr = 0;   // in: next header not 4 or 41, or not the inner version
    uint64_t dummy = 0;     // in: next header 59 (RFC 4303 §2.6), dropped silently
    uint64_t badinner = 0;  // out: payload neither IPv4 nor IPv6 (RFC mode, no header)
    uint64_t seqover = 0;   // out: not sent, the non-ESN SA reached 2^32-1
};

struct EspConv final : Conv {
    EspConv(Proto& p, int x);
    bool incoming = false;        // connect addr!*: receives; else sends
    bool header = false;          // `header`: a 4-byte next-header prefix on data
    bool nine = false;            // `9front`: 9front's keys, aes_ctr and next header
    bool keyed = false;           // an `esp` or `ah` ctl succeeded: spi/9front/esn too late
    crypto::SaCfg cfg;            // algorithms, keys, SPI, ESN, window, start sequence
    crypto::SaRt::Ptr rt;         // built from cfg on first use; null when cfg changed
    EspConvStats st;              // the stats file
    Err error{};                  // the SA's last fatal condition (Eseqover), for stats
    int tunnel = -1;              // held by this ipifc (bind esp); -1: none
    uint32_t life_secs = 0;       // `lifetime seconds N`: from the keys being set; 0: none
    uint64_t keyed_ms = 0;        // when the keys were set (the stack's clock)
    uint64_t expired_drops = 0;   // packets refused by runtimes since retired (drop_rt)
};

class Esp final : public Proto {
public:
    Esp(Stack& s, const ProtoRow& row);
    ~Esp() override;
    std::unique_ptr<Conv> make_conv(int x) override;
    Err connect(Conv& c, const CtlArgs& a) override;
    Err announce(Conv&, const CtlArgs&) override { return Eannouncens; }
    Err ctl(Conv& c, const CtlArgs& a) override;
    Err write_data(Conv& c, std::span<const uint8_t> data) override;
    void close(Conv& c) override;
    void state(const Conv& c, Text& t) const override;
    void local(const Conv& c, Text& t) const override;
    void remote(const Conv& c, Text& t) const override;
    void stats(Text& t) const override;
    void counters(std::vector<Counter>& out) const override;
    bool has_conv_stats() const override { return true; }
    void conv_stats(const Conv& c, Text& t) const override;
    void tick(uint64_t now_ms) override;  // lifetimes in seconds

    // pkt: a validated IPv4 or IPv6 packet (hlen header bytes) for us, arrived on f.
    void input(Ipifc& f, std::span<const uint8_t> pkt, size_t hlen);
    // An ICMP error about an ESP packet we sent: the outgoing SA of its SPI hangs up.
    void advise(std::span<const uint8_t> emb, Err why);

    EspConv* incoming(uint32_t spi) const;  // the inbound SA of spi, or null
    EspConv* esp_conv(int x) const { return static_cast<EspConv*>(conv(x)); }
    crypto::SaRt* sa(EspConv& c) { return runtime(c); }  // built when missing; null: unusable
    // Tunnel interface f's output on this thread: inner (a whole IPv4 or IPv6 packet) in
    // tunnel mode on the outbound SA c, outer TOS and DF copied (tunnel.h).
    void tunnel_send(EspConv& c, Ipifc& f, std::span<const uint8_t> inner);
    // An SA held by a tunnel is released (unbind): its runtime retires after the workers'
    // grace period, its sequence state kept in cfg.
    void tunnel_release(EspConv& c);
    uint64_t in = 0;                         // ESP packets received
    uint64_t inerrors = 0;                   // of those, dropped (unknown SPI, bad, replay)
    uint64_t nospi = 0;                      // of those, for no inbound SA

private:
    crypto::SaRt* runtime(EspConv& c);       // c's SaRt, built when missing; null: unusable
    crypto::Engine& engine();
    std::unique_ptr<crypto::Engine> engine_; // made on first packet (one ipsec-mb manager)
    std::vector<uint8_t> buf_;               // one packet's ESP bytes, encrypted in place
};

// The stack's ESP (tests and tools).
Esp* esp_of(Stack& s);

}  // namespace devip::proto
