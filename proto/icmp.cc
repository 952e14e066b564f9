// ICMP (RFC 792): echo replies, delivery to user conversations, advice to the protocols.
// Behaviour: ip3.md §4.8.1 (data format, delivery), §4.8.3 (advice texts), §2.10 (stats).
#include "proto/icmp.h"

#include "proto/stack.h"
#include "proto/wire.h"

namespace devip::proto {

namespace {

constexpr size_t kIcmpQmax = 64 * 1024;
constexpr int kIcmpHdr = 8;

constexpr const char* kUnreach[16] = {
    "net unreachable", "host unreachable", "protocol unreachable", "port unreachable",
    "fragmentation needed and DF set", "source route failed", "destination network unknown",
    "destination host unknown", "source host isolated", "network administratively prohibited",
    "host administratively prohibited", "network unreachable for tos",
    "host unreachable for tos", "communication administratively prohibited",
    "host precedence violation", "precedence cutoff in effect",
};

constexpr const char* kTypeNames[19] = {
    "EchoReply", nullptr, nullptr, "Unreachable", "SrcQuench", "Redirect", nullptr, nullptr,
    "EchoRequest", nullptr, nullptr, "TimeExceed", "InParmProblem", "Timestamp",
    "TimestampReply", "InfoRequest", "InfoReply", "AddrMaskRequest", "AddrMaskReply  ",
};

}  // namespace

Err icmp_advice(uint8_t type, uint8_t code, const Ipaddr& src, const Ipaddr& dst,
                const Ipaddr& router) {
    if (type == TimeExceed) return err_text("ttl exceeded at %s", fmt_ip(router).c_str());
    if (code < 16) return Err{kUnreach[code]};
    return err_text("unreachable %s -> %s code %d", fmt_ip(src).c_str(), fmt_ip(dst).c_str(),
                    code);
}

std::unique_ptr<Conv> Icmp::make_conv(int x) {
    return std::make_unique<Conv>(*this, x, kIcmpQmax, true);
}

Err Icmp::write_ctl(Conv& c, const CtlArgs& a) {
    Err e = Proto::write_ctl(c, a);
    sync_flow(c);
    return e;
}

void Icmp::sync_flow(Conv& c) {
    bool on = c.inuse > 0 && c.state == ConvState::Connected && c.raddr.is_v4() &&
              !c.raddr.is_v4_zero() && c.laddr.is_v4() && !c.laddr.is_v4_zero();
    FlowMsg f{c.laddr, c.raddr, c.lport, 0, 0, c.ttl, c.tos, {}};
    flow_sync(c, on, f, true);
}

// A connected conversation's message goes out from a worker when the workers' hint is
// current (one conversation, one worker: in order); else IP output here.
bool Icmp::worker_send(Conv& c, std::span<const uint8_t> msg) {
    return flow_send(c, msg, 1472);
}

void Icmp::completion(const MsgHdr& h, std::span<const uint8_t> data) {
    if (h.kind == MsgKind::TxSlow) {
        stack.ip4_output(std::string(data.begin(), data.end()));
        return;
    }
    if (h.kind != MsgKind::DataIn || data.size() < size_t(kIp4Hdr + kIcmpHdr)) return;
    Conv* c = conv(int(h.conv));
    stack.icmpstat.inmsgs++;  // the worker checked it; the type is counted here
    stack.icmpstat.in[data[kIp4Hdr] < 19 ? data[kIp4Hdr] : 0]++;
    if (!c || c->gen != h.gen || c->inuse == 0) return;
    c->rq.put(std::string(data.begin(), data.end()));
}

void Icmp::close(Conv& c) {
    sync_flow(c);  // the open count is 0: the flow goes
    c.rq.hangup();
    c.eq.hangup();
    c.laddr = c.raddr = IPnoaddr;
    c.lport = c.rport = 0;
}

void Icmp::state(const Conv& c, Text& t) const {
    t.put("Datagram qin %zu qout 0\n", c.rq.bytes());
}

void Icmp::stats(Text& t) const {
    const IcmpStats& s = stack.icmpstat;
    FastStats fs{};
    if (stack.net.io) stack.net.io->fast_stats(stack.n, fs);
    t.put("InMsgs: %llu\nInErrors: %llu\nOutMsgs: %llu\nCsumErrs: %llu\nLenErrs: %llu\n"
          "HlenErrs: %llu\n",
          (unsigned long long)(s.inmsgs + fs.icmp_inmsgs), (unsigned long long)s.inerrors,
          (unsigned long long)s.outmsgs, (unsigned long long)s.csumerrs,
          (unsigned long long)s.lenerrs, (unsigned long long)s.hlenerrs);
    for (int i = 0; i < 19; i++) {
        unsigned long long in = s.in[i] + fs.icmp_in[i], out = s.out[i] + fs.icmp_out[i];
        if (kTypeNames[i])
            t.put("%s: %llu %llu\n", kTypeNames[i], in, out);
        else
            t.put("%d: %llu %llu\n", i, in, out);
    }
}

void Icmp::counters(std::vector<Counter>& out) const {
    const IcmpStats& s = stack.icmpstat;
    FastStats fs{};
    if (stack.net.io) stack.net.io->fast_stats(stack.n, fs);
    out.push_back({"InMsgs", s.inmsgs + fs.icmp_inmsgs, {}});
    out.push_back({"InErrors", s.inerrors, {}});
    out.push_back({"OutMsgs", s.outmsgs, {}});
    out.push_back({"CsumErrs", s.csumerrs, {}});
    out.push_back({"LenErrs", s.lenerrs, {}});
    out.push_back({"HlenErrs", s.hlenerrs, {}});
    for (int i = 0; i < 19; i++) {
        std::string type = kTypeNames[i] ? kTypeNames[i] : std::to_string(i);
        while (type.back() == ' ') type.pop_back();  // the file pads AddrMaskReply
        out.push_back({"In", s.in[i] + fs.icmp_in[i], type});
        out.push_back({"Out", s.out[i] + fs.icmp_out[i], type});
    }
}

// One write = one message: 20 bytes of IPv4 header space, then the ICMP message (§4.8.1).
Err Icmp::write_data(Conv& c, std::span<const uint8_t> data) {
    if (data.size() < size_t(kIp4Hdr + kIcmpHdr)) return ok;  // silently dropped
    std::string m(data.begin() + kIp4Hdr, data.end());
    auto* b = reinterpret_cast<uint8_t*>(m.data());
    put16(b + 4, c.lport);  // the identifier is the conversation's local port
    put16(b + 2, 0);
    put16(b + 2, csum(b, m.size()));
    stack.icmpstat.outmsgs++;
    if (b[0] < 19) stack.icmpstat.out[b[0]]++;
    if (worker_send(c, {b, m.size()})) return ok;
    Ipaddr laddr = c.laddr.is_noaddr() ? stack.findlocalip(c.raddr) : c.laddr;
    stack.ip4_send(laddr, c.raddr, kProtoIcmp, c.ttl, c.tos, {b, m.size()});
    return ok;
}

void Icmp::input(Ipifc& f, std::span<const uint8_t> pkt, size_t hlen) {
    IcmpStats& s = stack.icmpstat;
    s.inmsgs++;
    if (pkt.size() < hlen + kIcmpHdr) {
        s.hlenerrs++;
        s.inerrors++;
        return;
    }
    const uint8_t* m = pkt.data() + hlen;
    size_t mlen = pkt.size() - hlen;
    if (csum(m, mlen) != 0) {
        s.csumerrs++;
        s.inerrors++;
        stack.log.print(Logicmp, "icmp: checksum error\n");
        return;
    }
    uint8_t type = m[0], code = m[1];
    if (type < 19) s.in[type]++;
    Ipaddr src = Ipaddr::v4(get32(pkt.data() + 12)), dst = Ipaddr::v4(get32(pkt.data() + 16));
    stack.log.print(Logicmp, "icmp: type %d code %d from %s\n", type, code, fmt_ip(src).c_str());

    if (type == EchoRequest) {  // answered by the stack, never delivered (§4.8.1)
        uint16_t t = stack.ipforme(dst);
        if (!(t & Runi) || !stack.self.find(dst)) return;
        if (stack.ipforme(src) & (Rbcast | Rmulti)) return;
        std::string r(reinterpret_cast<const char*>(m), mlen);
        auto* b = reinterpret_cast<uint8_t*>(r.data());
        b[0] = EchoReply;
        put16(b + 2, 0);
        put16(b + 2, csum(b, r.size()));
        s.out[EchoReply]++;
        stack.ip4_send(dst, src, kProtoIcmp, 255, 0, {b, r.size()});
        return;
    }
    if ((type == Unreachable || (type == TimeExceed && code == 0)) && mlen >= kIcmpHdr + 20u) {
        std::span<const uint8_t> emb(m + kIcmpHdr, mlen - kIcmpHdr);
        size_t ehl = (emb[0] & 0xf) * 4u;
        if ((emb[0] >> 4) == 4 && ehl >= 20 && emb.size() >= ehl + 8) {
            Ipaddr esrc = Ipaddr::v4(get32(emb.data() + 12));
            Ipaddr edst = Ipaddr::v4(get32(emb.data() + 16));
            Err why = icmp_advice(type, code, esrc, edst, src);
            // frag needed: the next-hop MTU, for TCP's path MTU discovery (RFC 1191)
            stack.icmp_mtu = type == Unreachable && code == 4 ? get16(m + 6) : 0;
            bool taken = stack.advise(emb[9], emb, why);
            stack.icmp_mtu = 0;
            if (taken) return;
            // no advice handler: delivered as a plain message below
        } else {
            s.lenerrs++;
        }
    }
    // deliver with the IPv4 header (options stripped) to every matching conversation
    if (mlen < kIcmpHdr) return;
    uint16_t id = get16(m + 4);
    std::string msg(reinterpret_cast<const char*>(pkt.data()), kIp4Hdr);
    msg[0] = 0x45;
    msg.append(reinterpret_cast<const char*>(m), mlen);
    put16(reinterpret_cast<uint8_t*>(msg.data()) + 2, uint16_t(msg.size()));
    for (auto& c : convs) {
        if (c->inuse == 0 || c->lport != id) continue;
        if (c->laddr == dst || c->raddr == src) c->rq.put(msg);
    }
    (void)f;
}

void Icmp::advise(std::span<const uint8_t> emb, Err why) {
    size_t hl = (emb[0] & 0xf) * 4u;
    Ipaddr src = Ipaddr::v4(get32(emb.data() + 12)), dst = Ipaddr::v4(get32(emb.data() + 16));
    uint16_t id = get16(emb.data() + hl + 4);
    for (auto& c : convs) {
        if (c->inuse == 0 || c->ignoreadvice || c->lport != id) continue;
        if ((c->laddr == src || c->laddr.is_noaddr()) && c->raddr == dst) c->rq.hangup(why);
    }
}

}  // namespace devip::proto
