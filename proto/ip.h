// Vocabulary of the stack: 16-byte addresses (v4 stored v4-mapped, as 9front does),
// Ethernet addresses, conversation states. ip3.md §0, §2.1.
#pragma once
#include <array>
#include <compare>
#include <cstdint>
#include <cstring>

namespace devip::proto {

// A 16-byte IP address. IPv4 is stored v4-mapped (::ffff:a.b.c.d). The all-zero
// address (IPnoaddr, "::") is not the same value as ::ffff:0.0.0.0 (v4prefix).
struct Ipaddr {
    std::array<uint8_t, 16> b{};  // network byte order

    static constexpr Ipaddr v4(uint32_t host) {  // from a host-order v4 address
        Ipaddr a;
        a.b[10] = a.b[11] = 0xff;
        a.b[12] = uint8_t(host >> 24);
        a.b[13] = uint8_t(host >> 16);
        a.b[14] = uint8_t(host >> 8);
        a.b[15] = uint8_t(host);
        return a;
    }
    static constexpr Ipaddr v4(uint8_t x, uint8_t y, uint8_t z, uint8_t w) {
        return v4(uint32_t(x) << 24 | uint32_t(y) << 16 | uint32_t(z) << 8 | w);
    }
    static Ipaddr from_bytes(const uint8_t* p16) {
        Ipaddr a;
        std::memcpy(a.b.data(), p16, 16);
        return a;
    }
    static Ipaddr ones() {
        Ipaddr a;
        a.b.fill(0xff);
        return a;
    }
    constexpr bool is_v4() const {  // first 12 bytes are the v4 prefix
        for (int i = 0; i < 10; i++)
            if (b[i]) return false;
        return b[10] == 0xff && b[11] == 0xff;
    }
    constexpr uint32_t v4host() const {  // low 32 bits, host order
        return uint32_t(b[12]) << 24 | uint32_t(b[13]) << 16 | uint32_t(b[14]) << 8 | b[15];
    }
    constexpr bool is_noaddr() const {  // "::"
        for (auto x : b)
            if (x) return false;
        return true;
    }
    constexpr bool is_v4_zero() const { return is_v4() && v4host() == 0; }
    constexpr bool is_unspecified() const { return is_noaddr() || is_v4_zero(); }
    constexpr bool is_multicast() const {
        return is_v4() ? (b[12] & 0xf0) == 0xe0 : b[0] == 0xff;
    }
    constexpr bool is_linklocal6() const { return b[0] == 0xfe && (b[1] & 0xc0) == 0x80; }
    Ipaddr operator&(const Ipaddr& m) const {
        Ipaddr r;
        for (int i = 0; i < 16; i++) r.b[i] = b[i] & m.b[i];
        return r;
    }
    Ipaddr operator|(const Ipaddr& m) const {
        Ipaddr r;
        for (int i = 0; i < 16; i++) r.b[i] = b[i] | m.b[i];
        return r;
    }
    Ipaddr operator~() const {
        Ipaddr r;
        for (int i = 0; i < 16; i++) r.b[i] = uint8_t(~b[i]);
        return r;
    }
    constexpr auto operator<=>(const Ipaddr&) const = default;
};

inline constexpr Ipaddr IPnoaddr{};
inline constexpr Ipaddr v4prefix = Ipaddr::v4(0);
inline constexpr Ipaddr v4bcast = Ipaddr::v4(0xffffffffu);
inline constexpr Ipaddr v4allsys = Ipaddr::v4(224, 0, 0, 1);

// A mask of n leading one bits over 128 bits (the %M view).
inline Ipaddr prefix_mask(int n) {
    Ipaddr m;
    for (int i = 0; i < 16; i++) {
        int bits = n - 8 * i;
        m.b[i] = bits >= 8 ? 0xff : bits <= 0 ? 0 : uint8_t(0xff << (8 - bits));
    }
    return m;
}
// Length of a contiguous mask, or -1 if the mask is not a prefix.
inline int mask_len(const Ipaddr& m) {
    int n = 0, i = 0;
    for (; i < 16 && m.b[i] == 0xff; i++) n += 8;
    if (i < 16) {
        uint8_t x = m.b[i];
        while (x & 0x80) { n++; x = uint8_t(x << 1); }
        if (x) return -1;
        for (i++; i < 16; i++)
            if (m.b[i]) return -1;
    }
    return n;
}
// Number of leading bits two addresses share.
inline int common_prefix(const Ipaddr& a, const Ipaddr& b) {
    int n = 0;
    for (int i = 0; i < 16; i++) {
        uint8_t x = a.b[i] ^ b.b[i];
        if (!x) { n += 8; continue; }
        while (!(x & 0x80)) { n++; x = uint8_t(x << 1); }
        break;
    }
    return n;
}

struct Ether {
    std::array<uint8_t, 6> b{};  // a MAC address
    constexpr auto operator<=>(const Ether&) const = default;
    constexpr bool is_multicast() const { return b[0] & 1; }
    constexpr bool is_zero() const { return !(b[0] | b[1] | b[2] | b[3] | b[4] | b[5]); }
};
inline constexpr Ether kEtherBcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

enum class Version : uint8_t { V4 = 4, V6 = 6 };

// devip-level conversation states (devip.c), not protocol states.
enum class ConvState : uint8_t { Idle, Announcing, Announced, Connecting, Connected };

}  // namespace devip::proto
