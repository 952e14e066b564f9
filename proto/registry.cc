// The protocol table (registry.h). Rows are in 9front's registration order; a protocol not
// built yet keeps its row (and so its index in qids) with a null make.
#include "proto/registry.h"

#include "proto/esp.h"
#include "proto/gre.h"
#include "proto/icmp.h"
#include "proto/icmp6.h"
#include "proto/ipifc.h"
#include "proto/tcp_conv.h"
#include "proto/udp.h"

namespace devip::proto {

namespace {

void tcp_in(Proto& p, Ipifc& f, std::span<const uint8_t> pkt, size_t hlen) {
    static_cast<Tcp&>(p).input(f, pkt, hlen);
}
void tcp_advise(Proto& p, std::span<const uint8_t> emb, Err why) {
    static_cast<Tcp&>(p).advise(emb, why);
}
void tcp_done(Proto& p, const MsgHdr& h, std::span<const uint8_t> data) {
    static_cast<Tcp&>(p).completion(h, data);
}
void udp_in(Proto& p, Ipifc& f, std::span<const uint8_t> pkt, size_t hlen) {
    static_cast<Udp&>(p).input(f, pkt, hlen);
}
void udp_advise(Proto& p, std::span<const uint8_t> emb, Err why) {
    static_cast<Udp&>(p).advise(emb, why);
}
void udp_done(Proto& p, const MsgHdr& h, std::span<const uint8_t> data) {
    static_cast<Udp&>(p).completion(h, data);
}
void gre_in(Proto& p, Ipifc& f, std::span<const uint8_t> pkt, size_t hlen) {
    static_cast<Gre&>(p).input(f, pkt, hlen);
}
void esp_in(Proto& p, Ipifc& f, std::span<const uint8_t> pkt, size_t hlen) {
    static_cast<Esp&>(p).input(f, pkt, hlen);
}
void esp_adv(Proto& p, std::span<const uint8_t> emb, Err why) {
    static_cast<Esp&>(p).advise(emb, why);
}
void icmp_in(Proto& p, Ipifc& f, std::span<const uint8_t> pkt, size_t hlen) {
    static_cast<Icmp&>(p).input(f, pkt, hlen);
}
void icmp_adv(Proto& p, std::span<const uint8_t> emb, Err why) {
    static_cast<Icmp&>(p).advise(emb, why);
}
void icmp_done(Proto& p, const MsgHdr& h, std::span<const uint8_t> data) {
    static_cast<Icmp&>(p).completion(h, data);
}
void icmp6_in(Proto& p, Ipifc& f, std::span<const uint8_t> pkt, size_t) {
    static_cast<Icmp6&>(p).input(f, pkt);
}
void icmp6_adv(Proto& p, std::span<const uint8_t> emb, Err why) {
    static_cast<Icmp6&>(p).advise(emb, why);
}
void icmp6_done(Proto& p, const MsgHdr& h, std::span<const uint8_t> data) {
    static_cast<Icmp6&>(p).completion(h, data);
}

// name, IP protocol, conversations, hidden, make, IPv4 input, IPv6 input, advice, completion
constexpr ProtoRow kTable[] = {
    {"tcp", 6, 131072, false, make_proto<Tcp>, tcp_in, tcp_in, tcp_advise, tcp_done},
    {"udp", 17, 1024, false, make_proto<Udp>, udp_in, udp_in, udp_advise, udp_done},
    {"rudp", 254, 32, false, nullptr, nullptr, nullptr, nullptr, nullptr},
    {"ipifc", -1, 32, false, make_proto<Ipifcproto>, nullptr, nullptr, nullptr, nullptr},
    {"icmp", 1, 128, false, make_proto<Icmp>, icmp_in, nullptr, icmp_adv, icmp_done},
    {"icmpv6", 58, 16, false, make_proto<Icmp6>, nullptr, icmp6_in, icmp6_adv, icmp6_done},
    {"igmp", 2, 0, true, nullptr, nullptr, nullptr, nullptr, nullptr},
    {"mld", 0, 0, true, nullptr, nullptr, nullptr, nullptr, nullptr},
    {"gre", 47, 64, false, make_proto<Gre>, gre_in, nullptr, nullptr, nullptr},
    {"ipmux", -1, 64, false, nullptr, nullptr, nullptr, nullptr, nullptr},
    {"esp", 50, 1024, false, make_proto<Esp>, esp_in, esp_in, esp_adv, nullptr},
    {"il", 40, 1024, false, nullptr, nullptr, nullptr, nullptr, nullptr},
};

}  // namespace

std::span<const ProtoRow> proto_table() { return kTable; }

const ProtoRow* proto_row(size_t index) {
    return index < std::size(kTable) ? &kTable[index] : nullptr;
}

}  // namespace devip::proto
