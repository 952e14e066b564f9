// 9P2000 codec: round trips for every message type, the wire bytes of a few messages
// checked by hand against intro(5), and the malformed inputs decode must refuse.
#include "control/fcall.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace devip::ctl {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes enc(const Fcall& f) {
    Bytes b;
    encode(f, b);
    return b;
}

void set_size(Bytes& b) {
    uint32_t n = uint32_t(b.size());
    for (int i = 0; i < 4; i++) b[i] = uint8_t(n >> (8 * i));
}

const uint8_t kPayload[] = {'h', 'e', 'l', 'l', 'o', 0, 0xff};

Dir sample_dir() {
    Dir d;
    d.type = 'I';
    d.dev = 7;
    d.qid = {QTDIR, 3, 0x123456789abcull};
    d.mode = DMDIR | 0555;
    d.atime = 1000;
    d.mtime = 2000;
    d.length = 0;
    d.name = "net";
    d.uid = "eve";
    d.gid = "bootes";
    d.muid = "";
    return d;
}

// One filled-in message of every legal type.
std::vector<Fcall> every_type() {
    std::vector<Fcall> v;
    auto add = [&](Ftype t, auto fill) {
        Fcall f;
        f.type = t;
        f.tag = uint16_t(v.size() + 1);
        fill(f);
        v.push_back(f);
    };
    Bytes st;
    encode_dir(sample_dir(), st);
    Qid q{QTFILE, 9, 0xfeedull};
    add(Ftype::Tversion, [](Fcall& f) { f.tag = kNoTag; f.msize = 8216; f.version = "9P2000"; });
    add(Ftype::Rversion, [](Fcall& f) { f.msize = 8216; f.version = "9P2000"; });
    add(Ftype::Tauth, [](Fcall& f) { f.afid = 5; f.uname = "glenda"; f.aname = "1"; });
    add(Ftype::Rauth, [&](Fcall& f) { f.qid = q; });
    add(Ftype::Tattach, [](Fcall& f) { f.fid = 1; f.afid = kNoFid; f.uname = "u"; f.aname = ""; });
    add(Ftype::Rattach, [&](Fcall& f) { f.qid = q; });
    add(Ftype::Rerror, [](Fcall& f) { f.ename = "file does not exist"; });
    add(Ftype::Tflush, [](Fcall& f) { f.oldtag = 77; });
    add(Ftype::Rflush, [](Fcall&) {});
    add(Ftype::Twalk, [](Fcall& f) { f.fid = 1; f.newfid = 2; f.wname = {"udp", "clone"}; });
    add(Ftype::Rwalk, [&](Fcall& f) { f.wqid = {q, q}; });
    add(Ftype::Topen, [](Fcall& f) { f.fid = 2; f.mode = ORDWR | OTRUNC; });
    add(Ftype::Ropen, [&](Fcall& f) { f.qid = q; f.iounit = 8192; });
    add(Ftype::Tcreate, [](Fcall& f) { f.fid = 2; f.name = "x"; f.perm = 0644; f.mode = 1; });
    add(Ftype::Rcreate, [&](Fcall& f) { f.qid = q; f.iounit = 0; });
    add(Ftype::Tread, [](Fcall& f) { f.fid = 2; f.offset = 1ull << 40; f.count = 8192; });
    add(Ftype::Rread, [](Fcall& f) { f.data = kPayload; });
    add(Ftype::Twrite, [](Fcall& f) { f.fid = 2; f.offset = 3; f.data = kPayload; });
    add(Ftype::Rwrite, [](Fcall& f) { f.count = 7; });
    add(Ftype::Tsplice, [](Fcall& f) { f.fid = 2; f.efid = 3; f.emsg = "shutdown"; });
    add(Ftype::Rsplice, [](Fcall&) {});
    add(Ftype::Tclunk, [](Fcall& f) { f.fid = 2; });
    add(Ftype::Rclunk, [](Fcall&) {});
    add(Ftype::Tremove, [](Fcall& f) { f.fid = 3; });
    add(Ftype::Rremove, [](Fcall&) {});
    add(Ftype::Tstat, [](Fcall& f) { f.fid = 4; });
    add(Ftype::Rstat, [&](Fcall& f) { f.stat = st; });
    add(Ftype::Twstat, [&](Fcall& f) { f.fid = 4; f.stat = st; });
    add(Ftype::Rwstat, [](Fcall&) {});
    return v;
}

void expect_same(const Fcall& a, const Fcall& b) {
    EXPECT_EQ(a.type, b.type);
    EXPECT_EQ(a.tag, b.tag);
    switch (a.type) {
    case Ftype::Tversion:
    case Ftype::Rversion:
        EXPECT_EQ(a.msize, b.msize);
        EXPECT_EQ(a.version, b.version);
        break;
    case Ftype::Tauth:
    case Ftype::Tattach:
        EXPECT_EQ(a.fid, b.fid);
        EXPECT_EQ(a.afid, b.afid);
        EXPECT_EQ(a.uname, b.uname);
        EXPECT_EQ(a.aname, b.aname);
        break;
    case Ftype::Rerror: EXPECT_EQ(a.ename, b.ename); break;
    case Ftype::Tflush: EXPECT_EQ(a.oldtag, b.oldtag); break;
    case Ftype::Twalk:
        EXPECT_EQ(a.fid, b.fid);
        EXPECT_EQ(a.newfid, b.newfid);
        EXPECT_EQ(a.wname, b.wname);
        break;
    case Ftype::Rwalk: EXPECT_EQ(a.wqid, b.wqid); break;
    case Ftype::Topen: EXPECT_EQ(a.mode, b.mode); break;
    case Ftype::Tcreate:
        EXPECT_EQ(a.name, b.name);
        EXPECT_EQ(a.perm, b.perm);
        EXPECT_EQ(a.mode, b.mode);
        break;
    case Ftype::Tread:
        EXPECT_EQ(a.offset, b.offset);
        EXPECT_EQ(a.count, b.count);
        break;
    case Ftype::Rread:
    case Ftype::Twrite:
        EXPECT_EQ(a.offset, b.offset);
        EXPECT_EQ(Bytes(a.data.begin(), a.data.end()), Bytes(b.data.begin(), b.data.end()));
        EXPECT_EQ(b.count, b.data.size());
        break;
    case Ftype::Rwrite: EXPECT_EQ(a.count, b.count); break;
    case Ftype::Tsplice:
        EXPECT_EQ(a.fid, b.fid);
        EXPECT_EQ(a.efid, b.efid);
        EXPECT_EQ(a.emsg, b.emsg);
        break;
    case Ftype::Rstat:
    case Ftype::Twstat: EXPECT_EQ(a.stat, b.stat); break;
    default: break;
    }
    if (a.type == Ftype::Rauth || a.type == Ftype::Rattach || a.type == Ftype::Ropen ||
        a.type == Ftype::Rcreate) {
        EXPECT_EQ(a.qid, b.qid);
    }
    if (a.type == Ftype::Ropen || a.type == Ftype::Rcreate) {
        EXPECT_EQ(a.iounit, b.iounit);
    }
}

TEST(Fcall, RoundTripEveryType) {
    std::vector<Fcall> all = every_type();
    ASSERT_EQ(all.size(), 29u);  // 28 codes, Terror excluded, and Tsplice/Rsplice
    for (const Fcall& f : all) {
        SCOPED_TRACE(ftype_name(f.type));
        Bytes b = enc(f);
        EXPECT_EQ(peek_size(b), b.size());
        Fcall g;
        ASSERT_TRUE(decode(b, g));
        expect_same(f, g);
        EXPECT_EQ(enc(g), b);  // re-encoding is byte for byte the same
    }
}

TEST(Fcall, TversionWireBytes) {
    Fcall f;
    f.type = Ftype::Tversion;
    f.tag = kNoTag;
    f.msize = 8216;
    f.version = "9P2000";
    Bytes want = {19, 0, 0, 0, 100, 0xff, 0xff, 0x18, 0x20, 0, 0, 6, 0,
                  '9', 'P', '2', '0', '0', '0'};
    EXPECT_EQ(enc(f), want);
}

TEST(Fcall, TwalkWireBytes) {
    Fcall f;
    f.type = Ftype::Twalk;
    f.tag = 1;
    f.fid = 0x01020304;
    f.newfid = 5;
    f.wname = {"ab", ""};
    Bytes want = {23, 0, 0, 0, 110, 1, 0, 4, 3, 2, 1, 5, 0, 0, 0, 2, 0,
                  2, 0, 'a', 'b', 0, 0};
    EXPECT_EQ(enc(f), want);
}

TEST(Fcall, RreadWireBytes) {
    Fcall f;
    f.type = Ftype::Rread;
    f.tag = 2;
    const uint8_t d[] = {'x', 'y'};
    f.data = d;
    Bytes want = {13, 0, 0, 0, 117, 2, 0, 2, 0, 0, 0, 'x', 'y'};
    EXPECT_EQ(enc(f), want);
}

TEST(Fcall, EncodeAppends) {
    Bytes b = {0xaa};
    Fcall f;
    f.type = Ftype::Rclunk;
    f.tag = 3;
    encode(f, b);
    EXPECT_EQ(b, (Bytes{0xaa, 7, 0, 0, 0, 121, 3, 0}));
}

TEST(Fcall, DataViewsPointIntoBuffer) {
    Fcall f;
    f.type = Ftype::Twrite;
    f.data = kPayload;
    Bytes b = enc(f);
    Fcall g;
    ASSERT_TRUE(decode(b, g));
    EXPECT_EQ(g.data.data(), b.data() + 4 + 1 + 2 + 4 + 8 + 4);
}

// Every proper prefix fails: once with the original size field (size mismatch) and once
// with the size field rewritten to the prefix length (a field runs past the end).
TEST(Fcall, TruncatedAtEveryOffset) {
    for (const Fcall& f : every_type()) {
        SCOPED_TRACE(ftype_name(f.type));
        Bytes b = enc(f);
        for (size_t n = 0; n < b.size(); n++) {
            Bytes p(b.begin(), b.begin() + n);
            Fcall g;
            EXPECT_FALSE(decode(p, g)) << "prefix " << n;
            if (n >= 4) {
                set_size(p);
                EXPECT_FALSE(decode(p, g)) << "resized prefix " << n;
            }
        }
    }
}

TEST(Fcall, TrailingBytesRejected) {
    for (const Fcall& f : every_type()) {
        SCOPED_TRACE(ftype_name(f.type));
        Bytes b = enc(f);
        b.push_back(0);
        Fcall g;
        EXPECT_FALSE(decode(b, g));  // size field says one less
        set_size(b);
        EXPECT_FALSE(decode(b, g));  // size field agrees, but a byte is left over
    }
}

TEST(Fcall, BadTypesRejected) {
    Fcall f;
    f.type = Ftype::Rclunk;
    Bytes b = enc(f);
    for (int t : {0, 1, 99, 106, 128, 200, 255}) {
        b[4] = uint8_t(t);
        Fcall g;
        EXPECT_FALSE(decode(b, g)) << t;
    }
}

TEST(Fcall, TerrorNeverDecodes) {
    Bytes b = {9, 0, 0, 0, 106, 1, 0, 0, 0};  // Terror with an empty "ename"
    Fcall g;
    EXPECT_FALSE(decode(b, g));
}

TEST(Fcall, SizeFieldMustMatch) {
    Fcall f;
    f.type = Ftype::Tclunk;
    f.fid = 1;
    Bytes b = enc(f);
    Fcall g;
    b[0]++;
    EXPECT_FALSE(decode(b, g));
    b[0] -= 2;
    EXPECT_FALSE(decode(b, g));
    Bytes tiny = {6, 0, 0, 0, 121, 0};
    EXPECT_FALSE(decode(tiny, g));
    EXPECT_FALSE(decode({}, g));
}

TEST(Fcall, WalkOfSixteenAcceptedSeventeenRejected) {
    Fcall f;
    f.type = Ftype::Twalk;
    f.wname.assign(kMaxWelem, "a");
    Fcall g;
    EXPECT_TRUE(decode(enc(f), g));
    EXPECT_EQ(g.wname.size(), kMaxWelem);
    f.wname.push_back("a");
    EXPECT_FALSE(decode(enc(f), g));
}

TEST(Fcall, RwalkOfSeventeenRejected) {
    Fcall f;
    f.type = Ftype::Rwalk;
    f.wqid.assign(kMaxWelem + 1, Qid{});
    Fcall g;
    EXPECT_FALSE(decode(enc(f), g));
    f.wqid.pop_back();
    EXPECT_TRUE(decode(enc(f), g));
}

TEST(Fcall, HugeWalkCountRejected) {
    // nwname 0xffff with nothing behind it: must fail fast, not allocate.
    Bytes b = {17, 0, 0, 0, 110, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0xff, 0xff};
    Fcall g;
    EXPECT_FALSE(decode(b, g));
}

TEST(Fcall, StringPastEndRejected) {
    Fcall f;
    f.type = Ftype::Rerror;
    f.ename = "abc";
    Bytes b = enc(f);
    b[7] = 4;  // length 4, only 3 bytes follow
    Fcall g;
    EXPECT_FALSE(decode(b, g));
    b[7] = 2;  // length 2: one byte left over
    EXPECT_FALSE(decode(b, g));
}

TEST(Fcall, CountMismatchRejected) {
    for (Ftype t : {Ftype::Rread, Ftype::Twrite}) {
        SCOPED_TRACE(ftype_name(t));
        Fcall f;
        f.type = t;
        f.data = kPayload;
        Bytes b = enc(f);
        size_t at = b.size() - sizeof kPayload - 4;
        Fcall g;
        b[at] = sizeof kPayload + 1;
        EXPECT_FALSE(decode(b, g));
        b[at] = sizeof kPayload - 1;
        EXPECT_FALSE(decode(b, g));
        b[at + 3] = 0x80;  // huge
        EXPECT_FALSE(decode(b, g));
    }
}

TEST(Fcall, StatLengthMustFit) {
    Fcall f;
    f.type = Ftype::Twstat;
    f.stat = {1, 2, 3};
    Bytes b = enc(f);
    b[11] = 4;  // n[2] after fid says 4 bytes, 3 follow
    Fcall g;
    EXPECT_FALSE(decode(b, g));
}

TEST(Fcall, EncodeClampsOversizedStrings) {
    Fcall f;
    f.type = Ftype::Rerror;
    f.ename.assign(70000, 'e');
    Fcall g;
    ASSERT_TRUE(decode(enc(f), g));
    EXPECT_EQ(g.ename.size(), 0xffffu);
}

TEST(Fcall, DirRoundTrip) {
    Dir d = sample_dir();
    Bytes b = {0xee};
    size_t n = encode_dir(d, b);
    EXPECT_EQ(n, b.size() - 1);
    EXPECT_EQ(n, 2 + 2 + 4 + 13 + 4 + 4 + 4 + 8 + 2 + 3 + 2 + 3 + 2 + 6 + 2 + 0);
    b.push_back(0x55);  // a following entry's first byte: not consumed
    Dir e;
    ASSERT_EQ(decode_dir(std::span(b).subspan(1), e), n);
    EXPECT_EQ(e.type, d.type);
    EXPECT_EQ(e.dev, d.dev);
    EXPECT_EQ(e.qid, d.qid);
    EXPECT_EQ(e.mode, d.mode);
    EXPECT_EQ(e.atime, d.atime);
    EXPECT_EQ(e.mtime, d.mtime);
    EXPECT_EQ(e.length, d.length);
    EXPECT_EQ(e.name, d.name);
    EXPECT_EQ(e.uid, d.uid);
    EXPECT_EQ(e.gid, d.gid);
    EXPECT_EQ(e.muid, d.muid);
}

TEST(Fcall, DirMalformedRejected) {
    Bytes b;
    size_t n = encode_dir(sample_dir(), b);
    Dir e;
    for (size_t k = 0; k < n; k++) {
        EXPECT_EQ(decode_dir(std::span(b).first(k), e), 0u) << k;
    }
    Bytes shorter = b;
    shorter[0]--;  // size one short: the last string overruns
    EXPECT_EQ(decode_dir(shorter, e), 0u);
    Bytes longer = b;
    longer[0]++;   // size one long: a byte is left inside the entry
    longer.push_back(0);
    EXPECT_EQ(decode_dir(longer, e), 0u);
}

TEST(Fcall, DirTooBigNotEncoded) {
    Dir d;
    d.name.assign(40000, 'n');
    d.uid.assign(40000, 'u');
    Bytes b;
    EXPECT_EQ(encode_dir(d, b), 0u);
    EXPECT_TRUE(b.empty());
}

TEST(Fcall, PeekSize) {
    EXPECT_EQ(peek_size(Bytes{1, 2, 3}), 0u);
    EXPECT_EQ(peek_size(Bytes{0x10, 0x20, 0x30, 0x40, 9}), 0x40302010u);
}

TEST(Fcall, Names) {
    EXPECT_STREQ(ftype_name(Ftype::Tversion), "Tversion");
    EXPECT_STREQ(ftype_name(Ftype::Rerror), "Rerror");
    EXPECT_STREQ(ftype_name(Ftype::Rwstat), "Rwstat");
    EXPECT_STREQ(ftype_name(Ftype(7)), "T?");
}

}  // namespace
}  // namespace devip::ctl
