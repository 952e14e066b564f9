// libFuzzer harness for ctl text: the tokenizers (proto/cmd.h) and the address, mask, MAC
// and addr!port parsers (proto/ipaux.h). Any bytes: nothing may crash, and where a parse
// succeeds, what it means must survive a trip through our own formatters (%I, %M, %E, quoting).
// The harness is a list of steps, each fed the whole input; add a step to cover a new parser
// or a ctl handler.
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "proto/cmd.h"
#include "proto/ipaux.h"
#include "proto/text.h"

using namespace devip::proto;

namespace {

void check(bool ok) {
    if (!ok) abort();
}

// Quotes a field so that tokenize gives it back unchanged.
std::string quote(const std::string& f) {
    std::string q = "'";
    for (char c : f) q += c == '\'' ? std::string("''") : std::string(1, c);
    return q + "'";
}

void step_parsecmd(std::string_view s) {
    CtlArgs a = parsecmd(s);
    std::string again;
    for (size_t i = 0; i < a.size(); i++) {
        check(a[i].find('\0') == std::string::npos);
        again += (i ? " " : "") + quote(a[i]);
    }
    check(parsecmd(again).f == a.f);
}

void step_arp(std::string_view s) {
    CtlArgs a = parse_arp_cmd(s);
    check(a.size() <= 5);
    size_t total = 0;
    for (size_t i = 0; i < a.size(); i++) {
        check(!a[i].empty() && a[i][0] != ' ');
        check(i == 4 || a[i].find(' ') == std::string::npos);
        total += a[i].size();
    }
    check(total <= 255);
}

void step_parseip(std::string_view s) {
    Result<Ipaddr> a = parseip(s);
    if (!a) {
        check(a.err() == Ebadip);
        return;
    }
    std::string text = fmt_ip(*a);
    check(text.size() <= 39);
    Result<Ipaddr> back = parseip(text);
    check(back && *back == *a);
    check(mask_len(defmask(*a)) >= 0);
}

void step_parseipmask(std::string_view s) {
    for (bool v4 : {false, true}) {
        Result<Ipaddr> m = parseipmask(s, v4);
        if (!m) {
            check(m.err() == Ebadip);
            continue;
        }
        for (int i = 0; i < 12; i++) check(!v4 || m->b[i] == 0xff);
        Result<Ipaddr> back = parseipmask(fmt_mask(*m), false);
        check(back && *back == *m);
    }
}

void step_parseipandmask(std::string_view s) {
    Ipaddr ip, mask;
    Err whole = parseipandmask(ip, mask, s, std::nullopt);
    check(!whole || whole == Ebadip);
    if (!whole && s.find('/') == std::string_view::npos) check(mask == Ipaddr::ones());

    size_t sp = s.find(' ');  // "addr mask", as the ipifc and iproute handlers see them
    if (sp == std::string_view::npos) return;
    Err e = parseipandmask(ip, mask, s.substr(0, sp), s.substr(sp + 1));
    if (e) return;
    check(parseip(s.substr(0, sp)) && *parseip(s.substr(0, sp)) == ip);
    check(*parseipmask(s.substr(sp + 1), ip.is_v4()) == mask);
}

void step_parse_remote(std::string_view s) {
    Result<RemoteSpec> r = parse_remote(s);
    if (!r) {
        check(r.err() == Emalformed || r.err() == Ebadip || r.err() == Ebadport);
        return;
    }
    std::string again = fmt_ip(r->addr) + "!" + std::to_string(r->port) + (r->restricted ? "!r" : "");
    Result<RemoteSpec> back = parse_remote(again);
    check(back && back->addr == r->addr && back->port == r->port &&
          back->restricted == r->restricted);
}

std::string render(const LocalSpec& l) {
    std::string t;
    if (l.has_addr) t = (l.any_addr ? std::string("*") : fmt_ip(l.addr)) + "!";
    return t + (l.any_port ? std::string("*") : std::to_string(l.port));
}

bool same(const LocalSpec& a, const LocalSpec& b) {
    return a.has_addr == b.has_addr && a.any_addr == b.any_addr && a.addr == b.addr &&
           a.any_port == b.any_port && a.port == b.port;
}

void step_parse_local(std::string_view s) {
    for (bool announcing : {false, true}) {
        Result<LocalSpec> l = parse_local(s, announcing);
        if (!l) {
            check(l.err() == Ebadip || l.err() == Ebadport);
            continue;
        }
        check(announcing || !l->any_port);
        check(!l->any_addr || (l->has_addr && l->addr == IPnoaddr));
        Result<LocalSpec> back = parse_local(render(*l), announcing);
        check(back && same(*back, *l));
        if (!announcing) {
            Result<LocalSpec> ann = parse_local(s, true);
            check(ann && same(*ann, *l));
        }
    }
}

void step_parsemac(std::string_view s) {
    uint8_t mac[8];
    int n = parsemac(mac, s);
    check(n >= 0 && n <= 8);
    for (int i = n; i < 8; i++) check(mac[i] == 0);
    if (n < 6) return;
    Ether e;
    std::memcpy(e.b.data(), mac, 6);
    uint8_t again[8];
    check(parsemac(again, fmt_ether(e)) == 6 && std::memcmp(again, mac, 6) == 0);
}

void step_numbers(std::string_view s) {
    for (int base : {0, 10, 16}) {
        long v = ctl_strtol(s, base);
        check(v >= INT32_MIN && v <= INT32_MAX);
        check(ctl_strtoul(s, base) <= UINT32_MAX);
    }
}

void step_text(std::string_view s) {
    Text t;
    t.pad(s, 40, true, 40);
    check(t.size() >= 40 && t.size() <= 40 * 4);
    t.put("%.*s|%d", int(s.size()), s.data(), int(s.size()));
}

using Step = void (*)(std::string_view);
constexpr Step kSteps[] = {
    step_parsecmd,      step_arp,          step_parseip,     step_parseipmask,
    step_parseipandmask, step_parse_remote, step_parse_local, step_parsemac,
    step_numbers,       step_text,
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view s(reinterpret_cast<const char*>(data), size);
    for (Step step : kSteps) step(s);
    return 0;
}
