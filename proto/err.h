// Errors are values whose text is exactly the Rerror the user reads.
// Names follow Plan 9's error.h and ip3.md §3.16.
#pragma once
#include <string>
#include <utility>

namespace devip::proto {

struct Err {
    const char* text = nullptr;  // nullptr means success
    constexpr explicit operator bool() const { return text != nullptr; }
    constexpr bool operator==(const Err& o) const {
        if (text == o.text) return true;
        if (!text || !o.text) return false;
        return std::string_view(text) == std::string_view(o.text);
    }
};

inline constexpr Err ok{};

// port/error.h
inline constexpr Err Eperm{"permission denied"};
inline constexpr Err Ebadarg{"bad arg in system call"};
inline constexpr Err Ebadctl{"bad process or channel control request"};
inline constexpr Err Ebadip{"bad ip address syntax"};
inline constexpr Err Enodev{"no free devices"};
inline constexpr Err Econinuse{"connection in use"};
inline constexpr Err Econrefused{"connection refused"};
inline constexpr Err Etimedout{"connection timed out"};
inline constexpr Err Eio{"i/o error"};
inline constexpr Err Enomem{"kernel allocate failed"};
inline constexpr Err Ehungup{"i/o on hungup channel"};
inline constexpr Err Eshortstat{"stat buffer too small"};
inline constexpr Err Ecmdargs{"wrong #args in control message"};
// devip.c
inline constexpr Err Eshortctl{"short control request"};
inline constexpr Err Eunknownctl{"unknown control request"};
inline constexpr Err Econnectns{"connect not supported"};
inline constexpr Err Eannouncens{"announce not supported"};
inline constexpr Err Ebadconnect{"bad args to connect"};
inline constexpr Err Ebadannounce{"bad args to announce"};
inline constexpr Err Ebadbind{"bad args to bind"};
inline constexpr Err Emalformed{"malformed address"};
inline constexpr Err Ebadport{"bad numeric port"};
inline constexpr Err Enotlocal{"not a local IP address"};
inline constexpr Err Eaddrinuse{"address in use"};
inline constexpr Err Enoports{"no ports available"};
inline constexpr Err Enotannounced{"not announced"};
inline constexpr Err Elistenhungup{"listen hungup"};
inline constexpr Err Enostats{"stats not implemented"};
inline constexpr Err Eaddmultineeds{"addmulti needs interface address"};
inline constexpr Err Edelmultineeds{"delmulti needs interface address"};
inline constexpr Err Enotmulti{"addmulti for a non multicast address"};
inline constexpr Err Emultiincompat{"incompatible multicast/interface ip address"};
// ipifc.c
inline constexpr Err Eunknowntype{"unknown interface type"};
inline constexpr Err Ealreadybound{"interface already bound"};
inline constexpr Err Eunbound{"interface not bound"};
inline constexpr Err Enotonifc{"address not on this interface"};
inline constexpr Err Eunsupported{"unsupported ctl"};
inline constexpr Err Enomac{"could not find mac address"};
inline constexpr Err Enullbind{"cannot bind null device"};
// iproute.c
inline constexpr Err Enoifc{"interface not found"};
// arp.c
inline constexpr Err Ebadarp{"bad arp"};
inline constexpr Err Enointerface{"no interface"};
inline constexpr Err Eunreachable{"destination unreachable"};
// netlog.c
inline constexpr Err Elogfewargs{"too few arguments for netlog control message"};
inline constexpr Err Elogempty{"empty control message"};
// devipd's own (not in 9front): a file that names no device we own
inline constexpr Err Enodevice{"file does not exist"};
inline constexpr Err Edevinuse{"device in use"};

// Result<T>: a value or an Err. GCC 12 has no std::expected under C++20.
template <class T>
class Result {
public:
    Result(T v) : v_(std::move(v)) {}  // NOLINT: implicit on purpose
    Result(Err e) : e_(e) {}           // NOLINT
    explicit operator bool() const { return !e_; }
    Err err() const { return e_; }
    T& operator*() { return v_; }
    const T& operator*() const { return v_; }
    T* operator->() { return &v_; }
    const T* operator->() const { return &v_; }
private:
    T v_{};
    Err e_{};
};

}  // namespace devip::proto

namespace devip::proto {
// An error whose text is built at run time (e.g. netlog's `unknown control message "…"`,
// ICMP advice such as "ttl exceeded at 1.2.3.4"). The text lives in a small thread-local
// ring, long enough for the reply that carries it to be sent.
Err err_text(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
}  // namespace devip::proto
