// ctl message tokenizer (port/parse.c parsecmd, ip3.md §3.1) and verb tables (STYLE 10.3).
#pragma once
#include <string>
#include <string_view>
#include <span>
#include <vector>

#include "proto/err.h"

namespace devip::proto {

// The fields of one control message, verb included (f[0]).
struct CtlArgs {
    std::vector<std::string> f;
    size_t size() const { return f.size(); }
    bool empty() const { return f.empty(); }
    const std::string& operator[](size_t i) const { return f[i]; }
    // the fields from i on, joined by single spaces (for messages that echo their args)
    std::string join(size_t from = 0) const;
};

// parsecmd: the whole write is one command; one trailing '\n' is removed; fields are split
// by the tokenize rules (blanks, tabs, \r, \n separate; single quotes group, '' is a quote).
CtlArgs parsecmd(std::string_view text);
// The same into a (its previous fields are replaced): a caller that parses many messages
// keeps one CtlArgs and allocates nothing once its strings have grown.
void parsecmd(std::string_view text, CtlArgs& a);

// arp's own parsing (§3.1): at most 255 bytes considered, one trailing '\n' removed, split
// only on spaces (runs of spaces count as one), at most 5 fields; the fifth field is the rest
// of the text, spaces included (9front getfields stops splitting, it does not drop the rest).
CtlArgs parse_arp_cmd(std::string_view text);

// A ctl verb: name, the exact field count including the verb (0 = any count is passed to
// the handler, which checks it), and the handler.
template <class T>
struct CtlCmd {
    std::string_view verb;
    int nfields;
    Err (*fn)(T&, const CtlArgs&);
};

// Runs the first entry whose verb matches a[0]. Field-count mismatch gives bad_count;
// no matching verb gives unknown. An empty message gives Eshortctl.
template <class T>
Err run_ctl(std::span<const CtlCmd<T>> table, T& obj, const CtlArgs& a,
            Err unknown = Eunknownctl, Err bad_count = Ecmdargs) {
    if (a.empty()) return Eshortctl;
    for (const auto& c : table) {
        if (c.verb != a[0]) continue;
        if (c.nfields && int(a.size()) != c.nfields) return bad_count;
        return c.fn(obj, a);
    }
    return unknown;
}

}  // namespace devip::proto
