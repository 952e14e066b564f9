// The /net tree: qid packing, one generator per level (as devip.c does), and the file
// operations, as an Fsys the 9P server drives. Behaviour: ip3.md §1 (tree, modes, owners,
// clone/listen, permissions), §2 (what reads return), §3 (what writes do).
#pragma once
#include <cstdint>

#include "control/capture.h"
#include "control/fsys.h"
#include "control/qpack.h"
#include "proto/stack.h"

namespace devip::ctl {

// File types; values are 9front's (§1.1) so stat results match. Ether* are ours: the
// /net/etherN directories that stand where Plan 9 binds #l; so are Config (/net/config,
// the running configuration for ipctl save) and Capture (/net/etherN/capture and
// /net/ipifc/N/capture: pcapng of a port's packets, issue 10).
enum class Q : uint8_t {
    Topdir = 1, Arp, Bootp, Ndb, Iproute, Ipselftab, Log,
    Protodir, Clone, Stats,
    Convdir, Ctl, Data, Err, Listen, Local, Remote, Status, Snoop,
    Etherdir, Etheraddr, Etherstats, Etherifstats, Etherctl,
    Config, Capture,
    Convstats,  // ours: a conversation's own counters (esp), after status in the listing
};
inline constexpr unsigned kEtherProto = 31;  // qid proto field of /net/etherN files

// 9front's packing (type 5 bits, conversation 12, protocol 5) for conversations below 4096;
// the conversation number's higher bits go above the protocol (bits 22 on), so that /net/tcp
// can have more than 4096 conversations and the qids of the first 4096 stay 9front's.
constexpr uint64_t qpath(unsigned proto, unsigned conv, Q t) {
    return uint64_t(conv >> 12) << 22 | uint64_t(proto) << 17 | uint64_t(conv & 0xfff) << 5 |
           uint64_t(t);
}
constexpr Q qtype(uint64_t path) { return Q(path & 0x1f); }
static_assert(unsigned(Q::Ctl) == kQtypeCtl && qconv(qpath(3, 70000, Q::Ctl)) == 70000 &&
              qproto(qpath(3, 70000, Q::Ctl)) == 3);

class Tree final : public Fsys {
public:
    explicit Tree(proto::Net& net) : net_(net) {}
    Err attach(Fid& f, std::string_view aname) override;
    Err walk(Fid& f, std::string_view name) override;
    Err stat(const Fid& f, Dir& d) override;
    bool dirent(const Fid& f, uint64_t i, Dir& d) override;
    Answer open(Fid& f, uint8_t mode) override;
    Answer read(Fid& f, uint64_t off, uint32_t count, std::string& out) override;
    Answer write(Fid& f, uint64_t off, std::span<const uint8_t> data, uint32_t& n) override;
    // Conversation ctl files: esp's carry keys, and every ctl write is small, so all of them.
    bool secret(const Fid& f) const override { return qtype(f.qid.path) == Q::Ctl; }
    Err wstat(Fid& f, const Dir& d) override;
    void clunk(Fid& f) override;
    void cancel(Fid& f) override;
    void ready(std::vector<WaitKey>& keys) override { net_.ready.take(keys); }
    // The packet capture behind the capture files (none: opening them fails).
    void set_capture(CaptureIo* c) { cap_ = c; }

    // Applies one configuration write as eve (devipd --config): path relative to /net; the
    // write goes at offset off, after an open with OTRUNC when trunc. With keep, a write to
    // a clone file leaves the new conversation's ctl open in *keep (the caller clunks it once
    // the whole file is applied), so later lines can use it by number.
    Err config_write(int stack, std::string_view path, std::string_view msg, uint64_t off = 0,
                     bool trunc = false, std::vector<Fid>* keep = nullptr);

private:
    proto::Stack& stack(const Fid& f) const { return net_.stack(f.stack); }
    proto::Proto* proto_of(const Fid& f) const;
    proto::Conv* conv_of(const Fid& f) const;
    bool gen_top(const Fid& f, uint64_t i, Dir& d) const;
    bool gen_proto(const Fid& f, proto::Proto& p, uint64_t i, Dir& d) const;
    bool gen_conv(const Fid& f, proto::Proto& p, proto::Conv& c, uint64_t i, Dir& d) const;
    bool gen_ether(unsigned port, uint64_t i, Dir& d) const;
    void fill(Dir& d, std::string name, uint64_t path, uint32_t mode, const std::string& owner,
              uint64_t len = 0) const;
    Err closeconv(proto::Proto& p, proto::Conv& c);
    Err write_now(Fid& f, uint64_t off, std::span<const uint8_t> data, uint32_t& n);
    // The capture files (tree_capture.cc); id: the open's capture, -1 before open.
    int capture_port(const Fid& f) const;
    Answer open_capture(Fid& f, uint8_t mode, int& id);
    Answer read_capture(Fid& f, int id, uint32_t count, std::string& out);
    Err write_capture(int id, std::string_view text);

    proto::Net& net_;
    uint32_t boot_ = 0;     // seconds: atime/mtime of every file
    proto::CtlArgs args_;   // the fields of the iproute write being served
    CaptureIo* cap_ = nullptr;  // capture files' packets; null in unit tests without one
};

}  // namespace devip::ctl
