// ctl message tokenizing (ip3.md §3.1): port/parse.c parsecmd over libc tokenize's quoting
// rules, and arp's own getfields split.
#include "proto/cmd.h"

namespace devip::proto {

namespace {

bool is_sep(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// One tokenize field starting at t[i] (not a separator), into f. A quote toggles quoting and
// is dropped; inside quotes a doubled quote is one literal quote and separators are
// ordinary. An unterminated quote runs to the end. A field without quotes (nearly all) is
// one copy.
void take_field(std::string_view t, size_t& i, std::string& f) {
    size_t j = i;
    while (j < t.size() && !is_sep(t[j]) && t[j] != '\'') j++;
    f.assign(t.data() + i, j - i);
    i = j;
    bool quoting = false;
    while (i < t.size() && (quoting || !is_sep(t[i]))) {
        if (t[i] != '\'') {
            f += t[i++];
        } else if (!quoting) {
            quoting = true;
            i++;
        } else if (i + 1 < t.size() && t[i + 1] == '\'') {
            f += '\'';
            i += 2;
        } else {
            quoting = false;
            i++;
        }
    }
}

}  // namespace

std::string CtlArgs::join(size_t from) const {
    std::string s;
    for (size_t i = from; i < f.size(); i++) {
        if (i > from) s += ' ';
        s += f[i];
    }
    return s;
}

void parsecmd(std::string_view text, CtlArgs& a) {
    // The kernel drops the write's last byte if it is '\n', then sees a C string.
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    text = text.substr(0, text.find('\0'));
    size_t n = 0;  // fields so far; a.f's strings beyond are reused, not freed
    for (size_t i = 0;;) {
        while (i < text.size() && is_sep(text[i])) i++;
        if (i == text.size()) break;
        if (n == a.f.size()) a.f.emplace_back();
        take_field(text, i, a.f[n++]);
    }
    a.f.resize(n);
}

CtlArgs parsecmd(std::string_view text) {
    CtlArgs a;
    parsecmd(text, a);
    return a;
}

CtlArgs parse_arp_cmd(std::string_view text) {
    constexpr size_t kMaxLen = 255;  // arpwrite's buf[256]
    constexpr size_t kMaxFields = 5;
    text = text.substr(0, kMaxLen);
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    text = text.substr(0, text.find('\0'));
    // getfields(…, 5, 1, " "): runs of blanks are one separator, and the fifth field is not
    // cut at a blank: it holds the rest of the text, blanks included.
    CtlArgs a;
    for (size_t i = 0; i < text.size();) {
        if (text[i] == ' ') {
            i++;
            continue;
        }
        size_t end = a.f.size() + 1 == kMaxFields ? text.size() : text.find(' ', i);
        if (end == std::string_view::npos) end = text.size();
        a.f.emplace_back(text.substr(i, end - i));
        i = end;
    }
    return a;
}

}  // namespace devip::proto
