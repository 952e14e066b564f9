// 9P2000 codec (intro(5) and the per-message pages of Plan 9's section 5).
// Each message's layout after size[4] type[1] tag[2] is written once, in layout(), as a
// template over the direction: Reader decodes into an Fcall, Writer encodes from one.
// So the two directions cannot disagree, and decode is strict by construction: a field
// that runs past the end, a count over the limits or a byte left over fails the message.
#include "control/fcall.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace devip::ctl {
namespace {

constexpr size_t kHdrSize = 7;        // size[4] type[1] tag[2]
constexpr size_t kQidSize = 13;       // type[1] vers[4] path[8]
constexpr size_t kDirFixed = 2 + 2 + 4 + kQidSize + 4 + 4 + 4 + 8;  // size … length
constexpr size_t kMaxStr = 0xffff;    // a string's length field is 2 bytes

// Little-endian cursor over a received message. The first overrun latches `bad`; later
// reads then yield zeros, and the caller checks once at the end.
class Reader {
public:
    explicit Reader(std::span<const uint8_t> b) : b_(b) {}
    bool bad() const { return bad_; }
    bool at_end() const { return pos_ == b_.size(); }

    void u8(uint8_t& v) { v = uint8_t(take(1)); }
    void u16(uint16_t& v) { v = uint16_t(take(2)); }
    void u32(uint32_t& v) { v = uint32_t(take(4)); }
    void u64(uint64_t& v) { v = take(8); }
    void qid(Qid& q) {
        u8(q.type);
        u32(q.vers);
        u64(q.path);
    }
    void str(std::string& s) {
        uint16_t n = 0;
        u16(n);
        std::span<const uint8_t> p = bytes(n);
        s.assign(p.begin(), p.end());
    }
    // count[4] data[count] (Rread, Twrite)
    void data(std::span<const uint8_t>& d, uint32_t& count) {
        u32(count);
        d = bytes(count);
    }
    // n[2] stat[n] (Rstat, Twstat)
    void stat(std::vector<uint8_t>& st) {
        uint16_t n = 0;
        u16(n);
        std::span<const uint8_t> p = bytes(n);
        st.assign(p.begin(), p.end());
    }
    // nwname[2] nwname*(wname[s])
    void names(std::vector<std::string>& v) {
        uint16_t n = 0;
        u16(n);
        if (n > kMaxWelem) bad_ = true;
        v.assign(bad_ ? 0 : n, {});
        for (std::string& s : v) str(s);
    }
    // nwqid[2] nwqid*(wqid[13])
    void qids(std::vector<Qid>& v) {
        uint16_t n = 0;
        u16(n);
        if (n > kMaxWelem || size_t(n) * kQidSize > left()) bad_ = true;
        v.assign(bad_ ? 0 : n, {});
        for (Qid& q : v) qid(q);
    }

private:
    size_t left() const { return b_.size() - pos_; }
    uint64_t take(size_t n) {
        if (bad_ || n > left()) {
            bad_ = true;
            return 0;
        }
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++) v |= uint64_t(b_[pos_ + i]) << (8 * i);
        pos_ += n;
        return v;
    }
    std::span<const uint8_t> bytes(size_t n) {
        if (bad_ || n > left()) {
            bad_ = true;
            return {};
        }
        std::span<const uint8_t> p = b_.subspan(pos_, n);
        pos_ += n;
        return p;
    }

    std::span<const uint8_t> b_;  // the whole message
    size_t pos_ = 0;              // next byte to read
    bool bad_ = false;            // a read ran past the end or a limit was broken
};

// Little-endian appender; the mirror of Reader. Lengths that do not fit their field are
// clamped, so the output always decodes (a caller bug shows as a short string, not junk).
class Writer {
public:
    explicit Writer(std::vector<uint8_t>& out) : out_(out) {}

    void u8(uint8_t v) { put(v, 1); }
    void u16(uint16_t v) { put(v, 2); }
    void u32(uint32_t v) { put(v, 4); }
    void u64(uint64_t v) { put(v, 8); }
    void qid(const Qid& q) {
        u8(q.type);
        u32(q.vers);
        u64(q.path);
    }
    void str(const std::string& s) {
        size_t n = std::min(s.size(), kMaxStr);
        u16(uint16_t(n));
        out_.insert(out_.end(), s.begin(), s.begin() + n);
    }
    void data(std::span<const uint8_t> d, uint32_t) {
        u32(uint32_t(d.size()));
        out_.insert(out_.end(), d.begin(), d.end());
    }
    void stat(const std::vector<uint8_t>& st) {
        size_t n = std::min(st.size(), kMaxStr);
        u16(uint16_t(n));
        out_.insert(out_.end(), st.begin(), st.begin() + n);
    }
    void names(const std::vector<std::string>& v) {
        size_t n = std::min(v.size(), kMaxStr);
        u16(uint16_t(n));
        for (size_t i = 0; i < n; i++) str(v[i]);
    }
    void qids(const std::vector<Qid>& v) {
        size_t n = std::min(v.size(), kMaxStr);
        u16(uint16_t(n));
        for (size_t i = 0; i < n; i++) qid(v[i]);
    }

private:
    void put(uint64_t v, size_t n) {
        for (size_t i = 0; i < n; i++) out_.push_back(uint8_t(v >> (8 * i)));
    }

    std::vector<uint8_t>& out_;  // the caller's buffer; we only append
};

// The body of each message, after size[4] type[1] tag[2]. F is Fcall (decode) or
// const Fcall (encode). Returns false for a type that has no layout (Terror, unknown).
template <class IO, class F>
bool layout(IO& io, F& f) {
    switch (f.type) {
    case Ftype::Tversion:
    case Ftype::Rversion: io.u32(f.msize); io.str(f.version); return true;
    case Ftype::Tauth: io.u32(f.afid); io.str(f.uname); io.str(f.aname); return true;
    case Ftype::Rauth: io.qid(f.qid); return true;
    case Ftype::Tattach:
        io.u32(f.fid); io.u32(f.afid); io.str(f.uname); io.str(f.aname);
        return true;
    case Ftype::Rattach: io.qid(f.qid); return true;
    case Ftype::Rerror: io.str(f.ename); return true;
    case Ftype::Tflush: io.u16(f.oldtag); return true;
    case Ftype::Twalk: io.u32(f.fid); io.u32(f.newfid); io.names(f.wname); return true;
    case Ftype::Rwalk: io.qids(f.wqid); return true;
    case Ftype::Topen: io.u32(f.fid); io.u8(f.mode); return true;
    case Ftype::Tcreate:
        io.u32(f.fid); io.str(f.name); io.u32(f.perm); io.u8(f.mode);
        return true;
    case Ftype::Ropen:
    case Ftype::Rcreate: io.qid(f.qid); io.u32(f.iounit); return true;
    case Ftype::Tread: io.u32(f.fid); io.u64(f.offset); io.u32(f.count); return true;
    case Ftype::Rread: io.data(f.data, f.count); return true;
    case Ftype::Twrite: io.u32(f.fid); io.u64(f.offset); io.data(f.data, f.count); return true;
    case Ftype::Rwrite: io.u32(f.count); return true;
    case Ftype::Tclunk:
    case Ftype::Tremove:
    case Ftype::Tstat: io.u32(f.fid); return true;
    case Ftype::Rstat: io.stat(f.stat); return true;
    case Ftype::Twstat: io.u32(f.fid); io.stat(f.stat); return true;
    case Ftype::Rflush:
    case Ftype::Rclunk:
    case Ftype::Rremove:
    case Ftype::Rwstat: return true;
    case Ftype::Tsplice: io.u32(f.fid); io.u32(f.efid); io.str(f.emsg); return true;
    case Ftype::Rsplice: return true;
    case Ftype::Terror: return false;  // 9P has no Terror; it is never legal
    }
    return false;
}

void put_le(std::vector<uint8_t>& out, size_t at, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; i++) out[at + i] = uint8_t(v >> (8 * i));
}

}  // namespace

uint32_t peek_size(std::span<const uint8_t> buf) {
    if (buf.size() < 4) return 0;
    return uint32_t(buf[0]) | uint32_t(buf[1]) << 8 | uint32_t(buf[2]) << 16 |
           uint32_t(buf[3]) << 24;
}

bool decode(std::span<const uint8_t> buf, Fcall& f) {
    if (buf.size() < kHdrSize || peek_size(buf) != buf.size()) return false;
    Reader r(buf.subspan(4));
    uint8_t type = 0;
    r.u8(type);
    bool known = (type >= uint8_t(Ftype::Tversion) && type <= uint8_t(Ftype::Rwstat)) ||
                 type == uint8_t(Ftype::Tsplice) || type == uint8_t(Ftype::Rsplice);
    if (!known) return false;
    f = Fcall{};
    f.type = Ftype(type);
    r.u16(f.tag);
    if (!layout(r, f)) return false;
    return !r.bad() && r.at_end();
}

void encode(const Fcall& f, std::vector<uint8_t>& out) {
    size_t start = out.size();
    Writer w(out);
    w.u32(0);  // size, patched below
    w.u8(uint8_t(f.type));
    w.u16(f.tag);
    layout(w, f);
    put_le(out, start, out.size() - start, 4);
}

void encode_twrite(std::vector<uint8_t>& out, uint16_t tag, uint32_t fid, uint64_t offset,
                   std::span<const uint8_t> data) {
    constexpr size_t kFixed = kHdrSize + 4 + 8 + 4;  // fid[4] offset[8] count[4]
    size_t at = out.size();
    out.resize(at + kFixed + data.size());
    put_le(out, at, kFixed + data.size(), 4);
    out[at + 4] = uint8_t(Ftype::Twrite);
    put_le(out, at + 5, tag, 2);
    put_le(out, at + 7, fid, 4);
    put_le(out, at + 11, offset, 8);
    put_le(out, at + 19, data.size(), 4);
    if (!data.empty()) std::memcpy(out.data() + at + kFixed, data.data(), data.size());
}

size_t encode_dir(const Dir& d, std::vector<uint8_t>& out) {
    size_t strs = 0;
    for (const std::string* s : {&d.name, &d.uid, &d.gid, &d.muid}) strs += 2 + s->size();
    if (kDirFixed - 2 + strs > kMaxStr) return 0;  // cannot be described by size[2]
    size_t start = out.size();
    Writer w(out);
    w.u16(uint16_t(kDirFixed - 2 + strs));
    w.u16(d.type);
    w.u32(d.dev);
    w.qid(d.qid);
    w.u32(d.mode);
    w.u32(d.atime);
    w.u32(d.mtime);
    w.u64(d.length);
    for (const std::string* s : {&d.name, &d.uid, &d.gid, &d.muid}) w.str(*s);
    return out.size() - start;
}

size_t decode_dir(std::span<const uint8_t> buf, Dir& d) {
    if (buf.size() < 2) return 0;
    size_t n = 2 + (size_t(buf[0]) | size_t(buf[1]) << 8);
    if (n < kDirFixed + 4 * 2 || n > buf.size()) return 0;
    Reader r(buf.subspan(2, n - 2));
    d = Dir{};
    r.u16(d.type);
    r.u32(d.dev);
    r.qid(d.qid);
    r.u32(d.mode);
    r.u32(d.atime);
    r.u32(d.mtime);
    r.u64(d.length);
    for (std::string* s : {&d.name, &d.uid, &d.gid, &d.muid}) r.str(*s);
    return !r.bad() && r.at_end() ? n : 0;
}

const char* ftype_name(Ftype t) {
    static constexpr std::array<const char*, 28> kNames = {
        "Tversion", "Rversion", "Tauth",   "Rauth",   "Tattach", "Rattach", "Terror",
        "Rerror",   "Tflush",   "Rflush",  "Twalk",   "Rwalk",   "Topen",   "Ropen",
        "Tcreate",  "Rcreate",  "Tread",   "Rread",   "Twrite",  "Rwrite",  "Tclunk",
        "Rclunk",   "Tremove",  "Rremove", "Tstat",   "Rstat",   "Twstat",  "Rwstat",
    };
    if (t == Ftype::Tsplice) return "Tsplice";
    if (t == Ftype::Rsplice) return "Rsplice";
    size_t i = uint8_t(t) - uint8_t(Ftype::Tversion);
    return i < kNames.size() ? kNames[i] : "T?";
}

}  // namespace devip::ctl
