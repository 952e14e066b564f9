// Interfaces (ipifc.c): media, logical addresses, the ipifc ctl verbs and status text.
// Behaviour: ip3.md §3.3 (ctl), §2.5 (status), §2.3 (local), §4.2 (media, what add installs).
#pragma once
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "proto/conv.h"
#include "proto/iproute.h"
#include "proto/ra6.h"
#include "proto/tunnel.h"

namespace devip::proto {

enum class Medium : uint8_t { None, Ether, Gbe, Pkt, Loopback, Esp, Gre };

struct MediumInfo {
    const char* name;       // as written in `bind`
    Medium m;
    int hsize;              // medium header bytes
    int mintu;              // smallest settable maxtu
    int maxtu;              // default and largest maxtu (header included)
    int maclen;             // MAC bytes; 0 = no ARP
    bool unbind_on_close;   // pkt: unbinds when the last ctl/data fd closes
};
const MediumInfo* medium_info(Medium m);

// A logical address on an interface.
struct Iplifc {
    Ipaddr local;            // our address
    Ipaddr mask;             // its mask
    Ipaddr remote;           // the network, or the peer of a point-to-point link
    Ipaddr net;              // remote & mask
    uint16_t type = 0;       // Rv4 | Rptpt | Rproxy | Rtrans
    bool tentative = false;  // v6 `try`: not used as a source until DAD passes
    bool onlink = true;      // add6 onlink flag: install the interface routes
    bool autoflag = true;    // add6 autonomous flag
    uint32_t validlt = ~0u;  // seconds from origint; ~0 = infinite
    uint32_t preflt = ~0u;   // seconds from origint; ~0 = infinite
    uint64_t origint = 0;    // when added, in seconds
    bool fromra = false;     // made from a router advertisement: removed when validlt ends
};

// Router-advertisement parameters (ra6), copied from the stack defaults at bind.
struct RaParams {
    int sendra = 0, recvra = 0, mflag = 0, oflag = 0;
    int maxraint = 600000, minraint = 200000;  // ms
    int linkmtu = 0, reachtime = 0, rxmitra = 0, ttl = 255, routerlt = 1800;
};

// A tunnel interface's configuration (esp and gre media, tunnel.cc).
struct TunCfg {
    int esp_out = -1, esp_in = -1;  // esp: the /net/esp conversations held while bound
    int esp_in2 = -1;               // esp: a second inbound one while rekeying (addsa)
    Ipaddr src, dst;                // outer addresses
    uint16_t greflags = 0;          // gre: kGreK | kGreC | kGreS as bound
    uint32_t grekey = 0;            // gre: the key (kGreK)
    int id = -1;                    // slot in the workers' tunnel table; -1: control only
    bool natt = false;              // esp: ESP in UDP port 4500 (RFC 3948)
    TunStats slow;                  // counted on the control thread
    TunStats base;                  // the workers' sums for slot id at bind (slots are reused)
    std::atomic<uint32_t> greseq{0};  // gre: last sequence number sent (workers too)
};

// One interface: the ipifc conversation that holds it.
struct Ipifc : Conv {
    Ipifc(Proto& p, int x) : Conv(p, x, 192 * 1024, false), snoopq(192 * 1024, false) {
        snoopq.attach(rq_ready());
    }
    Medium medium = Medium::None;   // None = unbound
    std::string dev;                // the device string given at bind
    int port = -1;                  // DPDK port for ether/gbe
    Ether mac;                      // the medium's MAC (ether/gbe)
    int maxtu = 0;                  // MTU including the medium header
    std::vector<Iplifc> lifc;       // logical addresses, in the order added
    RaParams ra;                    // ra6 parameters
    uint32_t pktin = 0, pktout = 0; // medium packet counters (32-bit, wrapping), slow path
    uint32_t errin = 0, errout = 0;
    long speed = 0;                 // output rate limit, bits/s (stored only)
    int delay = 40;                 // burst window, ms (stored only)
    bool reflect = false;           // forwarded packets may leave by the arrival interface
    bool reassemble = false;        // reassemble before forwarding out of here
    uint8_t ifcid = 0;              // bumped on bind/unbind/add/remove
    Queue snoopq;                   // copies of pkt-medium packets while snooped
    int snoopers = 0;               // open snoop fds
    RaSched rasched;                // advertising interface: when its next RA is due (ra6.cc)
    RsSched rssched;                // recvra: router solicitations still to send
    Ipaddr ra_src;                  // link-local address the RAs go out from (ff02::2 joined)
    bool ra_held = false;           // unbinding: no more RAs until the next bind
    TunCfg tun;                     // esp and gre media
    bool rs_started = false;        // recvra's solicitations started since recvra went on
    bool bound() const { return medium != Medium::None; }
    bool tunnel() const { return medium == Medium::Esp || medium == Medium::Gre; }
};

class Ipifcproto final : public Proto {
public:
    Ipifcproto(Stack& s, const ProtoRow& row);
    std::unique_ptr<Conv> make_conv(int x) override;
    Err write_ctl(Conv& c, const CtlArgs& a) override;
    Err write_data(Conv& c, std::span<const uint8_t> data) override;
    void close(Conv& c) override;
    bool busy(const Conv& c) const override;
    void state(const Conv& c, Text& t) const override;
    void local(const Conv& c, Text& t) const override;
    void stats(Text& t) const override;
    bool has_snoop() const override { return true; }

    Ipifc* ifc(int x) const { return static_cast<Ipifc*>(conv(x)); }
    // ctl verbs, also used by config code and tests
    Err bind_medium(Ipifc& f, const CtlArgs& a);
    Err unbind(Ipifc& f);
    Err add(Ipifc& f, const CtlArgs& a, bool tentative);
    // v6 (add6) passes lp for onlink, autoflag and the lifetimes; else the defaults apply.
    Err add_lifc(Ipifc& f, const Ipaddr& ip, const Ipaddr& mask, const Ipaddr& rem,
                 uint16_t flags, bool tentative, const Iplifc* lp = nullptr);
    Err remove(Ipifc& f, const CtlArgs& a);
    Err remove_lifc(Ipifc& f, size_t i);
    // The interface identifier of f (modified EUI-64, or the low 64 bits of its link-local
    // address on media without a MAC) put into the low 64 bits of ip; false when it has none.
    bool ifc_id(const Ipifc& f, Ipaddr& ip) const;
    void add_linklocal(Ipifc& f, const Ipaddr& ip);  // EUI-64 fe80:: before the first v6
    // Joins (or leaves) a v6 group on f as the logical address local does (self table entry,
    // source-specific host route, medium filter): ff02::2 for advertising interfaces.
    void join6(Ipifc& f, const Ipaddr& local, const Ipaddr& group, bool join);
    bool iprouting_set = false;
    bool iprouting = false;
};

}  // namespace devip::proto
