// devipd's own log: the level names and the token bucket that limits per-packet messages.
#include <gtest/gtest.h>

#include "proto/dlog.h"

namespace devip::proto::dlog {
namespace {

TEST(Dlog, LevelNames) {
    Level was = level();
    EXPECT_TRUE(set_level("debug"));
    EXPECT_TRUE(enabled(Level::Debug));
    EXPECT_TRUE(set_level("warn"));
    EXPECT_TRUE(enabled(Level::Error));
    EXPECT_TRUE(enabled(Level::Warn));
    EXPECT_FALSE(enabled(Level::Info));
    EXPECT_FALSE(set_level("verbose"));
    EXPECT_EQ(level(), Level::Warn);  // unchanged by a bad name
    EXPECT_FALSE(set_sink("file"));
    EXPECT_TRUE(set_sink("syslog"));  // openlog only: nothing is sent until a message
    EXPECT_TRUE(set_sink("stderr"));
    set_level(was);
}

TEST(Dlog, LimiterLetsTheBurstThroughThenCountsWhatItHolds) {
    Limiter l;  // 5 at once, then 1 a second
    l.last_ms = 1000;
    int let = 0;
    for (int i = 0; i < 20; i++) let += l.allow(1000);
    EXPECT_EQ(let, 5);
    EXPECT_EQ(l.suppressed, 15u);
    EXPECT_TRUE(l.allow(2000));   // one token a second
    EXPECT_FALSE(l.allow(2500));
    EXPECT_EQ(l.suppressed_total, 16u);
}

TEST(Dlog, LimitedResetsTheSuppressedCountWhenItReports) {
    Level was = level();
    set_level(Level::Debug);
    Limiter l;
    l.burst = l.tokens = 1;
    l.last_ms = 0;
    testing::internal::CaptureStderr();
    limited(l, 0, Level::Debug, "packet %d", 1);
    limited(l, 0, Level::Debug, "packet %d", 2);
    limited(l, 0, Level::Debug, "packet %d", 3);
    limited(l, 1000, Level::Debug, "packet %d", 4);
    std::string out = testing::internal::GetCapturedStderr();
    EXPECT_EQ(out, "devipd: debug: packet 1\n"
                   "devipd: debug: packet 4 (2 similar messages suppressed)\n");
    EXPECT_EQ(l.suppressed, 0u);
    set_level(Level::Info);
    testing::internal::CaptureStderr();
    limited(l, 5000, Level::Debug, "not shown");
    msg(Level::Error, "an error");
    EXPECT_EQ(testing::internal::GetCapturedStderr(), "devipd: an error\n");
    set_level(was);
}

}  // namespace
}  // namespace devip::proto::dlog
