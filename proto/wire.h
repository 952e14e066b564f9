// Wire layouts and byte-order helpers shared by the slow path and the fast path.
#pragma once
#include <cstdint>
#include <cstring>

namespace devip::proto {

inline uint16_t get16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
inline uint32_t get32(const uint8_t* p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
inline void put16(uint8_t* p, uint16_t v) {
    p[0] = uint8_t(v >> 8);
    p[1] = uint8_t(v);
}
inline void put32(uint8_t* p, uint32_t v) {
    p[0] = uint8_t(v >> 24);
    p[1] = uint8_t(v >> 16);
    p[2] = uint8_t(v >> 8);
    p[3] = uint8_t(v);
}

inline constexpr uint16_t kEthIp4 = 0x0800;
inline constexpr uint16_t kEthArp = 0x0806;
inline constexpr uint16_t kEthIp6 = 0x86dd;
inline constexpr int kEthHdr = 14;
inline constexpr int kIp4Hdr = 20;
inline constexpr uint8_t kProtoIcmp = 1, kProtoTcp = 6, kProtoUdp = 17;

// Internet checksum (RFC 1071) of n bytes, folded, not inverted.
inline uint32_t csum_add(const uint8_t* p, size_t n, uint32_t sum = 0) {
    for (; n > 1; p += 2, n -= 2) sum += uint32_t(p[0] << 8 | p[1]);
    if (n) sum += uint32_t(p[0] << 8);
    return sum;
}
inline uint16_t csum_fold(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return uint16_t(sum);
}
inline uint16_t csum(const uint8_t* p, size_t n, uint32_t sum = 0) {
    return uint16_t(~csum_fold(csum_add(p, n, sum)));
}

// Whether an IPv4 header of hlen bytes (a multiple of 4) sums to all ones: the one's
// complement sum taken 32 bits at a time in host order (RFC 1071 §2: byte order and word
// size do not change whether it is all ones).
inline bool ip4_csum_ok(const uint8_t* p, size_t hlen) {
    uint64_t sum = 0;
    for (size_t i = 0; i < hlen; i += 4) {
        uint32_t w;
        std::memcpy(&w, p + i, 4);
        sum += w;
    }
    sum = (sum & 0xffffffff) + (sum >> 32);
    sum = (sum & 0xffffffff) + (sum >> 32);
    uint32_t s32 = uint32_t(sum);
    s32 = (s32 & 0xffff) + (s32 >> 16);
    s32 = (s32 & 0xffff) + (s32 >> 16);
    return s32 == 0xffff;
}

// The same for a 20-byte header, unrolled.
inline bool ip4_csum20_ok(const uint8_t* p) {
    uint32_t w[5];
    std::memcpy(w, p, 20);
    uint64_t sum = uint64_t(w[0]) + w[1] + w[2] + w[3] + w[4];
    sum = (sum & 0xffffffff) + (sum >> 32);
    uint32_t s32 = uint32_t(sum) + uint32_t(sum >> 32);
    s32 = (s32 & 0xffff) + (s32 >> 16);
    s32 = (s32 & 0xffff) + (s32 >> 16);
    return s32 == 0xffff;
}

// Result of the RFC 1812 §5.2.2 header checks (ip3.md §4.4 Input).
struct Ip4Check {
    bool ok;        // false: count InHdrErrors and drop
    uint16_t hlen;  // header length in bytes
    uint16_t tlen;  // total length (the packet is trimmed to it)
};
// p/len: the IP packet (after the medium header).
inline Ip4Check ip4_check(const uint8_t* p, size_t len, bool verify_csum) {
    if (len < kIp4Hdr || (p[0] >> 4) != 4) return {false, 0, 0};
    uint16_t hlen = uint16_t((p[0] & 0xf) * 4);
    uint16_t tlen = get16(p + 2);
    if (hlen < kIp4Hdr || hlen > len || tlen < hlen || tlen > len) return {false, 0, 0};
    if (verify_csum && !ip4_csum_ok(p, hlen)) return {false, 0, 0};
    return {true, hlen, tlen};
}

}  // namespace devip::proto
