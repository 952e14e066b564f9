// The longest-prefix-match table against a brute-force reference, its group accounting, and
// a reader thread that looks up while routes churn (what a worker sees).
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <cstring>
#include <unordered_map>
#include <random>
#include <thread>

#include "proto/lpm.h"

namespace devip::proto {
namespace {

template <int N>
using Key = std::array<uint8_t, N>;

template <int N>
Key<N> mask_key(Key<N> k, int len) {
    for (int i = 0; i < N; i++) {
        int keep = std::clamp(len - 8 * i, 0, 8);
        k[size_t(i)] &= uint8_t(0xff00 >> keep);
    }
    return k;
}

// The routes as plain maps, one per length, looked up by trying every length from the
// longest.
struct KeyHash {
    template <size_t N>
    size_t operator()(const std::array<uint8_t, N>& k) const {
        uint64_t a = 0, b = 0;
        std::memcpy(&a, k.data(), std::min<size_t>(N, 8));
        if (N > 8) std::memcpy(&b, k.data() + 8, N - 8);
        uint64_t h = a * 0x9e3779b97f4a7c15ull ^ b * 0xc2b2ae3d27d4eb4full;
        return size_t(h ^ h >> 31);
    }
};
template <int N>
struct Reference {
    std::map<std::pair<Key<N>, int>, uint32_t> routes;
    std::array<std::unordered_map<Key<N>, uint32_t, KeyHash>, 8 * N + 1> by_len;
    void set(const Key<N>& k, int len, uint32_t v) {
        routes[{k, len}] = v;
        by_len[size_t(len)][k] = v;
    }
    bool erase(const Key<N>& k, int len) {
        by_len[size_t(len)].erase(k);
        return routes.erase({k, len}) == 1;
    }
    uint32_t lookup(const Key<N>& k) const {
        for (int len = 8 * N; len >= 0; len--) {
            auto& m = by_len[size_t(len)];
            if (m.empty()) continue;
            auto it = m.find(mask_key<N>(k, len));
            if (it != m.end()) return it->second;
        }
        return 0;
    }
};

Key<4> key4(uint32_t host) {
    return {uint8_t(host >> 24), uint8_t(host >> 16), uint8_t(host >> 8), uint8_t(host)};
}

TEST(Lpm, EmptyDefaultAndLongest) {
    Lpm<4> t;
    ASSERT_FALSE(t.init(64));
    EXPECT_EQ(t.rt()->lookup4(0x01020304), 0u);
    ASSERT_TRUE(t.add(key4(0), 0, 7));
    EXPECT_EQ(t.rt()->lookup4(0x01020304), 7u);
    ASSERT_TRUE(t.add(key4(0xc6120000), 16, 8));
    ASSERT_TRUE(t.add(key4(0xc6120180), 25, 9));
    ASSERT_TRUE(t.add(key4(0xc6120181), 32, 10));
    EXPECT_EQ(t.rt()->lookup4(0xc6120105), 8u);
    EXPECT_EQ(t.rt()->lookup4(0xc6120190), 9u);
    EXPECT_EQ(t.rt()->lookup4(0xc6120181), 10u);
    EXPECT_EQ(t.rt()->lookup4(0xc6130000), 7u);
    EXPECT_EQ(t.groups_used(), 1u);
    ASSERT_TRUE(t.del(key4(0xc6120180), 25));
    EXPECT_EQ(t.rt()->lookup4(0xc6120190), 8u);
    EXPECT_EQ(t.rt()->lookup4(0xc6120181), 10u);
    ASSERT_TRUE(t.del(key4(0xc6120181), 32));
    EXPECT_EQ(t.rt()->lookup4(0xc6120181), 8u);
    EXPECT_EQ(t.groups_used(), 0u);  // no route longer than /24 left in 198.18.1/24
    EXPECT_FALSE(t.del(key4(0xc6120181), 32));
    ASSERT_TRUE(t.del(key4(0), 0));
    EXPECT_EQ(t.rt()->lookup4(0x01020304), 0u);
    EXPECT_EQ(t.rt()->lookup4(0xc6120181), 8u);
    EXPECT_EQ(t.size(), 1u);
}

TEST(Lpm, ReplaceKeepsMoreSpecifics) {
    Lpm<4> t;
    ASSERT_FALSE(t.init(64));
    ASSERT_TRUE(t.add(key4(0x0a000000), 8, 1));
    ASSERT_TRUE(t.add(key4(0x0a010200), 30, 2));
    ASSERT_TRUE(t.add(key4(0x0a000000), 8, 3));  // same prefix, new value
    EXPECT_EQ(t.rt()->lookup4(0x0a7f0000), 3u);
    EXPECT_EQ(t.rt()->lookup4(0x0a010201), 2u);
    EXPECT_EQ(t.rt()->lookup4(0x0a010205), 3u);
    EXPECT_EQ(*t.get(key4(0x0a000000), 8), 3u);
    EXPECT_EQ(t.size(), 2u);
    ASSERT_TRUE(t.del(key4(0x0a000000), 8));
    EXPECT_EQ(t.rt()->lookup4(0x0a010205), 0u);
    EXPECT_EQ(t.rt()->lookup4(0x0a010202), 2u);
}

TEST(Lpm, HostBitsOfTheKeyAreIgnored) {
    Lpm<4> t;
    ASSERT_FALSE(t.init(64));
    ASSERT_TRUE(t.add(key4(0xc61201ff), 24, 5));
    EXPECT_EQ(*t.get(key4(0xc6120100), 24), 5u);
    EXPECT_TRUE(t.del(key4(0xc6120123), 24));
    EXPECT_EQ(t.size(), 0u);
}

TEST(Lpm, RunsOutOfGroupsWithoutChangingAnything) {
    Lpm<4> t;
    ASSERT_FALSE(t.init(16));
    for (uint32_t i = 0; i < 16; i++) ASSERT_TRUE(t.add(key4(0x0a000000 | i << 8), 32, 1 + i));
    EXPECT_FALSE(t.add(key4(0x0b000001), 32, 99));
    EXPECT_EQ(t.rt()->lookup4(0x0b000001), 0u);
    EXPECT_FALSE(t.get(key4(0x0b000001), 32));
    EXPECT_TRUE(t.add(key4(0x0a000005), 32, 50));  // an existing group still takes routes
    ASSERT_TRUE(t.del(key4(0x0a000300), 32));
    EXPECT_TRUE(t.add(key4(0x0b000001), 32, 99));   // the freed group is reused (no readers)
    EXPECT_EQ(t.rt()->lookup4(0x0b000001), 99u);
}

TEST(Lpm, V6NestedGroups) {
    Lpm<16> t;
    ASSERT_FALSE(t.init(256));
    Key<16> a{0x20, 0x01, 0x00, 0x02};
    ASSERT_TRUE(t.add(a, 32, 1));
    Key<16> b = a;
    b[7] = 0x01;
    ASSERT_TRUE(t.add(b, 64, 2));
    Key<16> h = b;
    h[15] = 0x05;
    ASSERT_TRUE(t.add(h, 128, 3));
    EXPECT_EQ(t.find(h), 3u);
    Key<16> h2 = h;
    h2[15] = 6;
    EXPECT_EQ(t.find(h2), 2u);
    Key<16> o = a;
    o[7] = 0x02;
    EXPECT_EQ(t.find(o), 1u);
    EXPECT_EQ(t.groups_used(), 13u);  // one per byte past the third, down to the /128
    ASSERT_TRUE(t.del(h, 128));
    EXPECT_EQ(t.groups_used(), 5u);   // the /64 still needs bytes 3..7
    ASSERT_TRUE(t.del(b, 64));
    EXPECT_EQ(t.groups_used(), 1u);   // the /32 needs byte 3
    ASSERT_TRUE(t.del(a, 32));
    EXPECT_EQ(t.groups_used(), 0u);
    EXPECT_EQ(t.find(h), 0u);
}

template <int N>
Key<N> random_key(std::mt19937& rng) {
    Key<N> k;
    for (auto& b : k) b = uint8_t(rng());
    if (N == 16) {  // keep v6 keys in a few /16s so that routes nest
        k[0] = 0x20;
        k[1] = uint8_t(rng() % 3);
    }
    return k;
}

template <int N>
int random_len(std::mt19937& rng) {
    int x = int(rng() % 100);
    if (x == 0 && rng() % 100 == 0) return int(rng() % 8);  // a few very short prefixes
    if (N == 4)
        return x < 55 ? 24 : x < 85 ? 16 + int(rng() % 8) : x < 88 ? 8 + int(rng() % 8)
                                                                  : 25 + int(rng() % 8);
    return x < 40 ? 48 : x < 60 ? 64 : x < 70 ? 128 : x < 80 ? 32 : 16 + int(rng() % 113);
}

// Random adds, replaces and deletes against the reference; lookups of random keys and of keys
// inside the routes; at the end every route is deleted and no group may be left.
template <int N>
void random_agreement(int routes, int lookups, uint32_t seed) {
    Lpm<N> t;
    ASSERT_FALSE(t.init(uint32_t(routes) * (N == 4 ? 1 : 8)));
    Reference<N> ref;
    std::mt19937 rng(seed);
    std::vector<std::pair<Key<N>, int>> keys;
    auto check = [&](int n) {
        std::vector<Key<N>> batch;
        for (int i = 0; i < n; i++) {
            Key<N> k = random_key<N>(rng);
            if (i % 2 && !keys.empty()) {  // an address inside a route, low bits random
                auto [p, len] = keys[rng() % keys.size()];
                for (int b = 0; b < N; b++) {
                    int keep = std::clamp(len - 8 * b, 0, 8);
                    k[size_t(b)] = uint8_t((p[size_t(b)] & (0xff00 >> keep)) |
                                           (k[size_t(b)] & ~(0xff00 >> keep)));
                }
            }
            ASSERT_EQ(t.find(k), ref.lookup(k)) << "lookup " << i;
            batch.push_back(k);
            if (batch.size() == 32 || i == n - 1) {  // the bulk lookups agree with single ones
                uint32_t dst4[32], val4[32];
                for (size_t j = 0; j < batch.size(); j++) {
                    dst4[j] = uint32_t(batch[j][0]) << 24 | uint32_t(batch[j][1]) << 16 |
                              uint32_t(batch[j][2]) << 8 | batch[j][3];
                }
                if (N == 4) t.rt()->lookup4_bulk(dst4, val4, unsigned(batch.size()));
                for (size_t j = 0; j < batch.size(); j++) {
                    if (N == 4) ASSERT_EQ(val4[j], t.find(batch[j])) << "bulk4 " << j;
                    if (N == 4) ASSERT_EQ(t.rt()->lookup4(dst4[j]), t.find(batch[j]));
                }
                batch.clear();
            }
        }
    };
    for (int i = 0; i < routes; i++) {
        Key<N> k = random_key<N>(rng);
        int len = random_len<N>(rng);
        uint32_t v = 1 + rng() % 5000;
        k = mask_key<N>(k, len);
        ASSERT_TRUE(t.add(k, len, v));
        ref.set(k, len, v);
        keys.push_back({k, len});
    }
    ASSERT_EQ(t.size(), ref.routes.size());
    check(lookups);
    // churn: delete a third, replace a third, add new ones
    for (size_t i = 0; i < keys.size(); i++) {
        auto [k, len] = keys[i];
        if (i % 3 == 0) {
            EXPECT_EQ(t.del(k, len), ref.erase(k, len));
        } else if (i % 3 == 1) {
            uint32_t v = 1 + rng() % 5000;
            ASSERT_TRUE(t.add(k, len, v));
            ref.set(k, len, v);
        }
    }
    for (int i = 0; i < routes / 4; i++) {
        int len = random_len<N>(rng);
        Key<N> k = mask_key<N>(random_key<N>(rng), len);
        ASSERT_TRUE(t.add(k, len, 7));
        ref.set(k, len, 7);
        keys.push_back({k, len});
    }
    ASSERT_EQ(t.size(), ref.routes.size());
    check(lookups);
    for (auto& [kl, v] : ref.routes) ASSERT_TRUE(t.del(kl.first, kl.second));
    EXPECT_EQ(t.size(), 0u);
    EXPECT_EQ(t.groups_used(), 0u);
    for (int i = 0; i < 1000; i++) EXPECT_EQ(t.find(random_key<N>(rng)), 0u);
}

// The acceptance: 100 k random routes and 1 M lookups against brute force.
TEST(Lpm, RandomV4AgreesWithBruteForce) { random_agreement<4>(100000, 1000000, 11); }
TEST(Lpm, RandomV6AgreesWithBruteForce) { random_agreement<16>(30000, 200000, 12); }

// A reader thread looks up while the writer churns routes longer than /24 in many /24s, each
// /24 with its own values, so a group reused before the reader left it would show a value of
// another /24. Grace periods are the reader's loop count.
TEST(Lpm, ReaderNeverSeesAnotherPrefixsValue) {
    Lpm<4> t;
    std::atomic<uint64_t> epoch{0};    // writer's counter
    std::atomic<uint64_t> seen{0};     // the last epoch the reader started a loop in
    std::atomic<bool> stop{false};
    LpmGrace g;
    g.start = [&] { return epoch.fetch_add(1) + 1; };
    g.done = [&](uint64_t token, bool wait) {
        while (seen.load() < token) {
            if (!wait) return false;
            std::this_thread::yield();
        }
        return true;
    };
    ASSERT_FALSE(t.init(64, g));
    constexpr uint32_t kNets = 48;     // more /24s than groups: reuse is forced
    for (uint32_t n = 0; n < kNets; n++) ASSERT_TRUE(t.add(key4(0x0a000000 | n << 8), 24, 1000 + n));
    std::atomic<uint64_t> bad{0}, reads{0};
    std::thread reader([&] {
        std::mt19937 rng(3);
        while (!stop.load(std::memory_order_relaxed)) {
            seen.store(epoch.load());
            for (int i = 0; i < 64; i++) {
                uint32_t n = rng() % kNets;
                uint32_t v = t.rt()->lookup4(0x0a000000 | n << 8 | (rng() & 0xff));
                // the /24's own value, or one of its /25-/32 values (2000 + n*8 + k)
                if (v != 1000 + n && (v < 2000 + n * 8 || v >= 2000 + n * 8 + 8)) bad++;
                reads++;
            }
        }
    });
    std::mt19937 rng(5);
    std::vector<std::pair<uint32_t, int>> live;
    for (int i = 0; i < 200000; i++) {
        uint32_t n = rng() % kNets;
        if (live.size() > 40 || (rng() % 2 && !live.empty())) {
            size_t k = rng() % live.size();
            ASSERT_TRUE(t.del(key4(live[k].first), live[k].second));
            live.erase(live.begin() + long(k));
        } else {
            int len = 25 + int(rng() % 8);
            uint32_t a = (0x0a000000 | n << 8 | (rng() & 0xff)) & (~0u << (32 - len));
            if (t.get(key4(a), len)) continue;
            if (!t.add(key4(a), len, 2000 + n * 8 + uint32_t(rng() % 8))) continue;
            live.push_back({a, len});
        }
        if (i % 64 == 0) t.reclaim();
    }
    stop = true;
    reader.join();
    EXPECT_EQ(bad.load(), 0u) << "of " << reads.load() << " reads";
    EXPECT_GT(reads.load(), 0u);
}

}  // namespace
}  // namespace devip::proto
