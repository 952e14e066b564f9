// devipd's own log (not /net/log, which stays 9front's): start-up, configuration errors,
// trouble the daemon meets, and rate-limited per-packet events. To stderr (default) or
// syslog(3), filtered by level. Control thread only: nothing here is thread-safe, and the
// workers never log.
#pragma once
#include <cstdint>
#include <string_view>

namespace devip::proto::dlog {

enum class Level : uint8_t { Error, Warn, Info, Debug };

// "error", "warn", "info", "debug"; false (level unchanged) for anything else.
bool set_level(std::string_view name);
void set_level(Level l);
Level level();
// "stderr" or "syslog" (facility daemon, ident devipd); false for anything else.
bool set_sink(std::string_view name);
bool enabled(Level l);

// One message: on stderr "devipd: TEXT" for errors, "devipd: LEVEL: TEXT" otherwise.
void msg(Level l, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// A token bucket for one kind of per-packet event: at most burst messages at once, rate a
// second after that; what it holds back is counted and reported with the next message let
// through ("(N similar messages suppressed)").
struct Limiter {
    double rate = 1;            // messages a second once the burst is spent
    double burst = 5;           // messages at once
    double tokens = 5;          // what is left of the burst
    uint64_t last_ms = 0;       // last refill
    uint64_t suppressed = 0;    // held back since the last message let through
    uint64_t suppressed_total = 0;  // held back since start
    bool allow(uint64_t now_ms);    // takes a token, or counts one suppressed
};

// msg() through a limiter: nothing is formatted when the level is off or the bucket empty.
void limited(Limiter& lim, uint64_t now_ms, Level l, const char* fmt, ...)
    __attribute__((format(printf, 4, 5)));

}  // namespace devip::proto::dlog
