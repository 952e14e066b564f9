// How a /net qid path packs file type, conversation and protocol (devip(4), /net/tcp):
// 9front's layout (type 5 bits, conversation 12, protocol 5), the conversation number's
// higher bits from bit 22 on. Shared by the tree and the dial library, which reads a
// call's number from the qid its listen open returns.
#pragma once
#include <cstdint>

namespace devip::ctl {

inline constexpr unsigned kQtypeCtl = 12;  // Q::Ctl in tree.h

constexpr unsigned qtype_bits(uint64_t path) { return unsigned(path & 0x1f); }
constexpr unsigned qconv(uint64_t path) {
    return (unsigned(path >> 5) & 0xfff) | unsigned(path >> 22) << 12;
}
constexpr unsigned qproto(uint64_t path) { return unsigned(path >> 17) & 0x1f; }

}  // namespace devip::ctl
