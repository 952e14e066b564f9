// 9P2000 codec: every message type, decoded from and encoded to byte spans.
// Pure (no I/O); fuzzed by unittests/fuzz/fcall_fuzz.cc.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace devip::ctl {

enum class Ftype : uint8_t {
    Tversion = 100, Rversion, Tauth, Rauth, Tattach, Rattach, Terror, Rerror,
    Tflush, Rflush, Twalk, Rwalk, Topen, Ropen, Tcreate, Rcreate, Tread, Rread,
    Twrite, Rwrite, Tclunk, Rclunk, Tremove, Rremove, Tstat, Rstat, Twstat, Rwstat,
    // devip's extension (devip(4) "Splicing a data file"), outside 9P2000's 100-127: the
    // request carries a UNIX socket (SCM_RIGHTS) that the server then copies to and from fid.
    Tsplice = 152, Rsplice,
};

inline constexpr const char* kVersionDevip = "9P2000.devip";  // 9P2000 plus Tsplice
inline constexpr uint16_t kNoTag = 0xffff;
inline constexpr uint32_t kNoFid = 0xffffffff;
inline constexpr size_t kMaxWelem = 16;      // walk elements per Twalk
inline constexpr uint32_t kIoHdrSize = 24;   // size[4] type[1] tag[2] fid[4] offset[8] count[4] + slack

// Qid types and open modes (intro(5)).
inline constexpr uint8_t QTDIR = 0x80;
inline constexpr uint8_t QTFILE = 0x00;
inline constexpr uint32_t DMDIR = 0x80000000;
inline constexpr uint8_t OREAD = 0, OWRITE = 1, ORDWR = 2, OEXEC = 3, OTRUNC = 0x10,
                         ORCLOSE = 0x40;

struct Qid {
    uint8_t type = 0;
    uint32_t vers = 0;
    uint64_t path = 0;
    bool operator==(const Qid&) const = default;
};

// A directory entry (stat(5)). ~0 fields mean "don't change" in Twstat.
struct Dir {
    uint16_t type = 0;
    uint32_t dev = 0;
    Qid qid;
    uint32_t mode = 0;
    uint32_t atime = 0;
    uint32_t mtime = 0;
    uint64_t length = 0;
    std::string name, uid, gid, muid;
};

// One message. Only the fields of its type are meaningful.
struct Fcall {
    Ftype type = Ftype::Rerror;
    uint16_t tag = kNoTag;
    uint32_t fid = 0;
    uint32_t msize = 0;                  // Tversion, Rversion
    std::string version;                 // Tversion, Rversion
    uint16_t oldtag = 0;                 // Tflush
    std::string ename;                   // Rerror
    Qid qid;                             // Rattach, Ropen, Rcreate, Rauth (aqid)
    uint32_t afid = kNoFid;              // Tauth, Tattach
    std::string uname, aname;            // Tauth, Tattach
    uint32_t perm = 0;                   // Tcreate
    std::string name;                    // Tcreate
    uint8_t mode = 0;                    // Topen, Tcreate
    uint32_t newfid = 0;                 // Twalk
    std::vector<std::string> wname;      // Twalk
    std::vector<Qid> wqid;               // Rwalk
    uint64_t offset = 0;                 // Tread, Twrite
    uint32_t count = 0;                  // Tread, Rwrite
    uint32_t iounit = 0;                 // Ropen, Rcreate
    std::span<const uint8_t> data;       // Rread, Twrite: a view into the decoded buffer or
                                         // the caller's bytes when encoding
    std::vector<uint8_t> stat;           // Rstat, Twstat: one packed Dir (without the outer n[2])
    uint32_t efid = kNoFid;              // Tsplice: written emsg at the socket's end of input
    std::string emsg;                    // Tsplice
};

// Size of the message starting at buf if its 4-byte size field is available, else 0.
uint32_t peek_size(std::span<const uint8_t> buf);

// Decodes one whole message (buf.size() must equal its size field). Returns false for any
// malformed message: wrong size, unknown type, a string or array running past the end,
// more than kMaxWelem walk elements, trailing bytes. Views in f point into buf.
bool decode(std::span<const uint8_t> buf, Fcall& f);

// Appends the encoded message to out.
void encode(const Fcall& f, std::vector<uint8_t>& out);
// Appends a Twrite, the same bytes encode() makes of one, without building an Fcall (bulk
// writers send a million of these).
void encode_twrite(std::vector<uint8_t>& out, uint16_t tag, uint32_t fid, uint64_t offset,
                   std::span<const uint8_t> data);

// A packed Dir as stat(5) lays it out (size[2] first). Returns bytes appended.
size_t encode_dir(const Dir& d, std::vector<uint8_t>& out);
// Decodes one packed Dir (size[2] first) from the front of buf; returns bytes consumed or 0.
size_t decode_dir(std::span<const uint8_t> buf, Dir& d);

const char* ftype_name(Ftype t);

}  // namespace devip::ctl
