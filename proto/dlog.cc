// devipd's own log: level filter, stderr or syslog sink, token-bucket limiter.
#include "proto/dlog.h"

#include <syslog.h>

#include <cstdarg>
#include <cstdio>

namespace devip::proto::dlog {
namespace {

struct LevelName {
    Level l;
    const char* name;   // the --log-level spelling and the stderr prefix
    int prio;           // syslog priority
};
constexpr LevelName kLevels[] = {
    {Level::Error, "error", LOG_ERR}, {Level::Warn, "warn", LOG_WARNING},
    {Level::Info, "info", LOG_INFO},  {Level::Debug, "debug", LOG_DEBUG},
};
constexpr bool in_level_order() {
    for (size_t i = 0; i < std::size(kLevels); i++)
        if (size_t(kLevels[i].l) != i) return false;
    return true;
}
static_assert(in_level_order());

Level g_level = Level::Info;
bool g_syslog = false;

void vmsg(Level l, const char* fmt, va_list ap) {
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    const LevelName& n = kLevels[size_t(l)];
    if (g_syslog) {
        syslog(n.prio, "%s", buf);
    } else if (l == Level::Error) {
        fprintf(stderr, "devipd: %s\n", buf);
    } else {
        fprintf(stderr, "devipd: %s: %s\n", n.name, buf);
    }
}

}  // namespace

bool set_level(std::string_view name) {
    for (auto& n : kLevels)
        if (name == n.name) {
            g_level = n.l;
            return true;
        }
    return false;
}

void set_level(Level l) { g_level = l; }
Level level() { return g_level; }
bool enabled(Level l) { return l <= g_level; }

bool set_sink(std::string_view name) {
    if (name == "stderr") {
        if (g_syslog) closelog();
        g_syslog = false;
        return true;
    }
    if (name == "syslog") {
        openlog("devipd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
        g_syslog = true;
        return true;
    }
    return false;
}

void msg(Level l, const char* fmt, ...) {
    if (!enabled(l)) return;
    va_list ap;
    va_start(ap, fmt);
    vmsg(l, fmt, ap);
    va_end(ap);
}

bool Limiter::allow(uint64_t now_ms) {
    if (now_ms > last_ms) {
        tokens += double(now_ms - last_ms) * rate / 1000;
        if (tokens > burst) tokens = burst;
        last_ms = now_ms;
    }
    if (tokens >= 1) {
        tokens -= 1;
        return true;
    }
    suppressed++;
    suppressed_total++;
    return false;
}

void limited(Limiter& lim, uint64_t now_ms, Level l, const char* fmt, ...) {
    if (!enabled(l) || !lim.allow(now_ms)) return;
    char buf[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (lim.suppressed)
        msg(l, "%s (%llu similar messages suppressed)", buf, (unsigned long long)lim.suppressed);
    else
        msg(l, "%s", buf);
    lim.suppressed = 0;
}

}  // namespace devip::proto::dlog
