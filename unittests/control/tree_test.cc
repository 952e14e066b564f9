// The /net tree driven directly (no socket): listing order, qids, modes and owners (§1.1–
// §1.3), clone and listen (§1.5), permissions (§1.4), the iproute, ndb and log files.
#include <gtest/gtest.h>

#include "control/tree.h"
#include "proto/udp.h"
#include "unittests/fake_netio.h"

namespace devip::ctl {
namespace {

using namespace devip::proto;

struct TreeTest : ::testing::Test {
    test::FakeNetio io{1};
    Net net{&io};
    Tree tree{net};
    Ident eve{"root", 0, true};
    Ident glenda{"glenda", 1000, false};
    Ident nobody{"nobody", 65534, false};

    Fid at(const Ident& who, std::string_view path) {
        Fid f;
        f.who = &who;
        EXPECT_FALSE(tree.attach(f, ""));
        size_t p = 0;
        while (p < path.size()) {
            size_t e = path.find('/', p);
            if (e == std::string_view::npos) e = path.size();
            if (e > p) {
                Err err = tree.walk(f, path.substr(p, e - p));
                EXPECT_FALSE(err) << path << ": " << err.text;
            }
            p = e + 1;
        }
        return f;
    }
    Answer open(Fid& f, uint8_t mode) {
        Answer a = tree.open(f, mode);
        if (a.st == Status::Done) {
            f.open = true;
            f.omode = mode;
        }
        return a;
    }
    std::string read(Fid& f, uint64_t off = 0) {
        std::string out;
        Answer a = tree.read(f, off, 65536, out);
        EXPECT_EQ(a.st, Status::Done) << (a.err.text ? a.err.text : "");
        return out;
    }
    Err write(Fid& f, std::string_view s) {
        uint32_t n;
        Answer a = tree.write(f, 0, {reinterpret_cast<const uint8_t*>(s.data()), s.size()}, n);
        EXPECT_NE(a.st, Status::Park);
        return a.err;
    }
    std::vector<std::string> list(const Fid& f) {
        std::vector<std::string> v;
        Dir d;
        for (uint64_t i = 0; tree.dirent(f, i, d); i++) v.push_back(d.name);
        return v;
    }
};

TEST_F(TreeTest, TopLevelListingOrder_1_1) {
    Fid f = at(eve, "");
    EXPECT_EQ(list(f), (std::vector<std::string>{"tcp", "udp", "ipifc", "icmp", "icmpv6", "gre",
                                                 "esp", "arp", "bootp", "ndb", "iproute",
                                                 "ipselftab", "log", "config", "ether0"}));
    Dir d;
    ASSERT_TRUE(tree.dirent(f, 7, d));  // arp
    EXPECT_EQ(d.qid.path, 2u);
    EXPECT_EQ(d.mode, 0664u);
    EXPECT_EQ(d.uid, "network");
    ASSERT_TRUE(tree.dirent(f, 1, d));  // udp: registration index 1, protodir 8
    EXPECT_EQ(d.qid.path, (1u << 17) | 8u);
    EXPECT_EQ(d.mode, DMDIR | 0555);
    EXPECT_EQ(d.qid.type, QTDIR);
}

TEST_F(TreeTest, CloneGivesCtlOfNewConvAndReadsNumber_1_5) {
    Fid c = at(glenda, "udp/clone");
    ASSERT_EQ(open(c, ORDWR).st, Status::Done);
    EXPECT_EQ(c.qid.path, (1u << 17) | (0u << 5) | 12u);  // udp/0/ctl
    EXPECT_EQ(read(c), "0");                              // no newline
    Fid d = at(glenda, "udp");
    EXPECT_EQ(list(d), (std::vector<std::string>{"0", "clone", "stats"}));
    Fid cd = at(glenda, "udp/0");
    EXPECT_EQ(list(cd), (std::vector<std::string>{"ctl", "data", "err", "listen", "local",
                                                  "remote", "status"}));
    Dir st;
    Fid ctl = at(glenda, "udp/0/ctl");
    ASSERT_FALSE(tree.stat(ctl, st));
    EXPECT_EQ(st.uid, "glenda");
    EXPECT_EQ(st.mode, 0660u);
    Fid loc = at(glenda, "udp/0/local");
    ASSERT_EQ(open(loc, OREAD).st, Status::Done);
    EXPECT_EQ(read(loc), "::!0\n");
    Fid stf = at(glenda, "udp/0/status");
    ASSERT_EQ(open(stf, OREAD).st, Status::Done);
    EXPECT_EQ(read(stf), "Open qin 0 qout 0\n");
    tree.clunk(c);
    Fid again = at(glenda, "udp/0/status");
    ASSERT_EQ(open(again, OREAD).st, Status::Done);
    EXPECT_EQ(read(again), "Closed qin 0 qout 0\n");
    ASSERT_FALSE(tree.stat(ctl, st));
    EXPECT_EQ(st.uid, "network");  // last close resets the owner (§1.4)
}

TEST_F(TreeTest, ReadOnlyFilesRefuseWrites_1_3) {
    Fid c = at(eve, "udp/clone");
    ASSERT_EQ(open(c, ORDWR).st, Status::Done);
    for (const char* p : {"udp/0/local", "udp/0/remote", "udp/0/status", "udp/stats", "bootp",
                          "ipselftab", "udp"}) {
        Fid f = at(eve, p);
        Answer a = open(f, OWRITE);
        EXPECT_EQ(a.st, Status::Error) << p;
        EXPECT_EQ(a.err, Eperm) << p;
    }
}

TEST_F(TreeTest, OthersCannotOpenAConversation_1_4) {
    Fid c = at(glenda, "udp/clone");
    ASSERT_EQ(open(c, ORDWR).st, Status::Done);
    for (const char* p : {"udp/0/ctl", "udp/0/data", "udp/0/err"}) {
        Fid f = at(nobody, p);
        Answer a = open(f, OREAD);
        EXPECT_EQ(a.st, Status::Error) << p;
        EXPECT_EQ(a.err, Eperm);
        Fid e = at(eve, p);  // eve bypasses the check
        EXPECT_EQ(open(e, OREAD).st, Status::Done);
        tree.clunk(e);
    }
    Fid own = at(glenda, "udp/0/data");
    EXPECT_EQ(open(own, ORDWR).st, Status::Done);
}

TEST_F(TreeTest, OnlyEveWritesIprouteAndArp_3_12_3_13) {
    for (const char* p : {"iproute", "arp"}) {
        Fid f = at(glenda, p);
        EXPECT_EQ(open(f, OWRITE).err, Eperm) << p;
        Fid r = at(glenda, p);
        EXPECT_EQ(open(r, OREAD).st, Status::Done) << p;
    }
    Fid n = at(glenda, "ndb");
    EXPECT_EQ(open(n, OWRITE).err, Eperm);
    Fid l = at(nobody, "log");
    EXPECT_EQ(open(l, ORDWR).st, Status::Done);  // anyone
}

TEST_F(TreeTest, ConfigIsReadByAnyoneAndKeysAreEves) {
    ASSERT_FALSE(tree.config_write(0, "/net/ipifc/clone", "bind ether /net/ether0"));
    ASSERT_FALSE(tree.config_write(0, "ipifc/0/ctl", "add 198.18.0.1 /24"));
    Fid g = at(glenda, "config");
    ASSERT_EQ(open(g, OREAD).st, Status::Done);
    std::string all = read(g);
    EXPECT_EQ(all, "# devip stack 0: the running configuration (ipctl save)\n"
                   "/net/ipifc/clone bind ether /net/ether0\n"
                   "/net/ipifc/0/ctl add 198.18.0.1 /24\n");
    // chunked reads of one open see one text, even when the stack changes between them
    std::string first;
    ASSERT_EQ(tree.read(g, 0, 10, first).st, Status::Done);
    ASSERT_FALSE(tree.config_write(0, "ipifc/0/ctl", "mtu 1400"));
    EXPECT_EQ(first + read(g, 10), all);
    Fid w = at(glenda, "config");
    EXPECT_EQ(open(w, ORDWR).err, Eperm);
    Fid e = at(eve, "config");
    ASSERT_EQ(open(e, ORDWR).st, Status::Done);
    EXPECT_EQ(write(e, "secrets please"), Ebadctl);
    EXPECT_FALSE(write(e, "keys"));
    EXPECT_NE(read(e).find("mtu 1400"), std::string::npos);
}

TEST_F(TreeTest, ListenParksUntilACallArrives_1_5) {
    Fid c = at(eve, "udp/clone");
    ASSERT_EQ(open(c, ORDWR).st, Status::Done);
    Fid early = at(eve, "udp/0/listen");
    EXPECT_EQ(open(early, ORDWR).err, Enotannounced);
    ASSERT_FALSE(write(c, "announce 7"));
    Fid l = at(eve, "udp/0/listen");
    EXPECT_EQ(open(l, ORDWR).st, Status::Park);
    Conv* lc = udp_of(net.stack(0))->conv(0);
    EXPECT_EQ(lc->inuse, 2);  // the parked listen holds a count
    // a caller: bring up an interface and deliver a datagram to port 7
    Fid ic = at(eve, "ipifc/clone");
    ASSERT_EQ(open(ic, ORDWR).st, Status::Done);
    ASSERT_FALSE(write(ic, "bind ether /net/ether0"));
    ASSERT_FALSE(write(ic, "add 198.18.0.1 255.255.255.0"));
    Ether peer{{0, 1, 2, 3, 4, 5}};
    net.input(0, test::eth(io.ports[0].mac, peer, 0x0800,
                           test::udp(0xc6120002, 0xc6120001, 5000, 7, "hi")));
    ASSERT_EQ(open(l, ORDWR).st, Status::Done);  // the retry completes
    EXPECT_EQ(read(l), "1");                      // the new conversation's ctl
    EXPECT_EQ(lc->inuse, 1);
    Fid r = at(eve, "udp/1/remote");
    ASSERT_EQ(open(r, OREAD).st, Status::Done);
    EXPECT_EQ(read(r), "198.18.0.2!5000\n");
}

TEST_F(TreeTest, CancelledListenRestoresCount_1_5) {
    Fid c = at(eve, "udp/clone");
    ASSERT_EQ(open(c, ORDWR).st, Status::Done);
    ASSERT_FALSE(write(c, "announce 7"));
    Fid l = at(eve, "udp/0/listen");
    EXPECT_EQ(open(l, ORDWR).st, Status::Park);
    tree.cancel(l);
    EXPECT_EQ(udp_of(net.stack(0))->conv(0)->inuse, 1);
}

TEST_F(TreeTest, NdbWritesAtOffsetWithLimit_3_15) {
    Fid n = at(eve, "ndb");
    ASSERT_EQ(open(n, ORDWR | OTRUNC).st, Status::Done);
    ASSERT_FALSE(write(n, "ip=198.18.0.1\n"));
    EXPECT_EQ(read(n), "ip=198.18.0.1\n");
    uint32_t cnt;
    std::string big(40000, 'x');
    EXPECT_EQ(tree.write(n, 0, {reinterpret_cast<const uint8_t*>(big.data()), big.size()}, cnt)
                  .err,
              Eio);
    EXPECT_EQ(tree.write(n, 100, {reinterpret_cast<const uint8_t*>("a"), 1}, cnt).err, Eio);
    Dir d;
    ASSERT_FALSE(tree.stat(n, d));
    EXPECT_EQ(d.length, 14u);
    EXPECT_GE(d.qid.vers, 1u);
}

TEST_F(TreeTest, LogReadParksUntilText_2_11) {
    Fid l = at(eve, "log");
    ASSERT_EQ(open(l, ORDWR).st, Status::Done);
    std::string out;
    EXPECT_EQ(tree.read(l, 0, 100, out).st, Status::Park);
    ASSERT_FALSE(write(l, "set udp"));
    net.stack(0).log.print(Logudp, "udp: hello\n");
    EXPECT_EQ(tree.read(l, 0, 100, out).st, Status::Done);
    EXPECT_EQ(out, "udp: hello\n");
    EXPECT_STREQ(write(l, "set").text, Elogfewargs.text);
}

TEST_F(TreeTest, RouteLookupAnswersOnTheSameFd) {
    Fid ic = at(eve, "ipifc/clone");
    ASSERT_EQ(open(ic, ORDWR).st, Status::Done);
    ASSERT_FALSE(write(ic, "bind ether /net/ether0"));
    ASSERT_FALSE(write(ic, "add 198.18.0.1 255.255.255.0"));
    Fid r = at(eve, "iproute");
    ASSERT_EQ(open(r, ORDWR).st, Status::Done);
    ASSERT_FALSE(write(r, "add 0.0.0.0 /0 198.18.0.2"));
    ASSERT_FALSE(write(r, "route 8.8.8.8"));
    EXPECT_EQ(read(r), "0.0.0.0         /96  198.18.0.2      4    none   0 0.0.0.0         /96 \n");
    ASSERT_FALSE(write(r, "route 198.18.0.77"));
    EXPECT_EQ(read(r).substr(0, 24), "198.18.0.0      /120 198");
    EXPECT_EQ(write(r, "route bogus"), Ebadip);
    EXPECT_EQ(write(r, "frob"), Ebadctl);
    EXPECT_EQ(read(r).substr(0, 7), "0.0.0.0");  // back to the table
}

TEST_F(TreeTest, EtherDirectoryFiles) {
    Fid e = at(eve, "ether0");
    EXPECT_EQ(list(e), (std::vector<std::string>{"addr", "stats", "ifstats", "ctl", "capture"}));
    Fid a = at(eve, "ether0/addr");
    ASSERT_EQ(open(a, OREAD).st, Status::Done);
    EXPECT_EQ(read(a), "020000000010");
    Fid c = at(glenda, "ether0/ctl");
    EXPECT_EQ(open(c, OWRITE).err, Eperm);
}

TEST_F(TreeTest, EspConvHasStatsFile) {
    Fid c = at(eve, "esp/clone");
    ASSERT_EQ(open(c, ORDWR).st, Status::Done);
    EXPECT_EQ(read(c), "0");
    Fid cd = at(eve, "esp/0");
    EXPECT_EQ(list(cd), (std::vector<std::string>{"ctl", "data", "err", "listen", "local",
                                                  "remote", "status", "stats"}));
    Dir st;
    Fid sf = at(eve, "esp/0/stats");
    ASSERT_FALSE(tree.stat(sf, st));
    EXPECT_EQ(st.mode, 0444u);
    EXPECT_EQ(st.name, "stats");
    ASSERT_FALSE(write(c, "connect 198.18.0.2!4096"));
    ASSERT_FALSE(write(c, "esp aes_128_cbc 00112233445566778899aabbccddeeff"));
    ASSERT_EQ(open(sf, OREAD).st, Status::Done);
    EXPECT_NE(read(sf).find("Esp: aes_128_cbc\n"), std::string::npos);
}

}  // namespace
}  // namespace devip::ctl
