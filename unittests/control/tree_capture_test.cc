// The capture files in the tree (control/tree_capture.cc) over a fake capture: who may open
// them, which port an ipifc's file captures, how writes reach the capture (filter verbatim,
// snaplen checked, stop), the first read starting it, reads that wait and end.
#include <gtest/gtest.h>

#include "control/tree.h"
#include "unittests/fake_netio.h"

namespace devip::ctl {
namespace {

using namespace devip::proto;

class FakeCapture final : public CaptureIo {
public:
    Result<int> open(uint16_t port) override {
        if (opened - closed >= 2) return Enodev;
        ports.push_back(port);
        return opened++;
    }
    Err filter(int, std::string_view e) override {
        if (e == "bad (") return Err{"bad filter: syntax error"};
        filters.emplace_back(e);
        return ok;
    }
    Err snaplen(int, uint32_t n) override {
        snap = n;
        return ok;
    }
    Err start(int, const std::string& c) override {
        comment = c;
        started = true;
        return ok;
    }
    bool running(int) const override { return started; }
    void stop(int) override { stopped = true; }
    R read(int, uint32_t, std::string& out) override {
        if (pending.empty()) return stopped ? R::End : R::Wait;
        out = pending;
        pending.clear();
        return R::Data;
    }
    const void* key(int id) const override { return &keys[id]; }
    void close(int) override { closed++; }

    int opened = 0, closed = 0;
    std::vector<uint16_t> ports;
    std::vector<std::string> filters;
    uint32_t snap = 0;
    std::string comment, pending;
    bool started = false, stopped = false;
    char keys[8] = {};
};

struct TreeCaptureTest : ::testing::Test {
    test::FakeNetio io{2};
    Net net{&io};
    Tree tree{net};
    FakeCapture cap;
    Ident eve{"root", 0, true};
    Ident glenda{"glenda", 1000, false};

    void SetUp() override { tree.set_capture(&cap); }
    Fid at(const Ident& who, std::string_view path) {
        Fid f;
        f.who = &who;
        EXPECT_FALSE(tree.attach(f, ""));
        for (size_t p = 0; p < path.size();) {
            size_t e = path.find('/', p);
            if (e == std::string_view::npos) e = path.size();
            if (e > p) {
                EXPECT_FALSE(tree.walk(f, path.substr(p, e - p))) << path;
            }
            p = e + 1;
        }
        return f;
    }
    Answer open(Fid& f, uint8_t mode) {
        Answer a = tree.open(f, mode);
        if (a.st == Status::Done) f.open = true, f.omode = mode;
        return a;
    }
    Err write(Fid& f, std::string_view s) {
        uint32_t n;
        return tree.write(f, 0, {reinterpret_cast<const uint8_t*>(s.data()), s.size()}, n).err;
    }
    // ipifc/0 bound to ether1, owned by glenda
    void ifc_on_ether1() {
        Fid c = at(glenda, "ipifc/clone");
        ASSERT_EQ(open(c, ORDWR).st, Status::Done);
        ASSERT_FALSE(write(c, "bind ether /net/ether1"));
    }
};

TEST_F(TreeCaptureTest, EtherCaptureIsTheHostOwners) {
    Fid g = at(glenda, "ether0/capture");
    EXPECT_EQ(open(g, OREAD).err, Eperm);
    Fid e = at(eve, "ether0/capture");
    ASSERT_EQ(open(e, ORDWR).st, Status::Done);
    EXPECT_EQ(cap.ports, (std::vector<uint16_t>{0}));
    Dir d;
    ASSERT_FALSE(tree.stat(e, d));
    EXPECT_EQ(d.mode, 0400u);
    EXPECT_EQ(d.name, "capture");
    tree.clunk(e);
    EXPECT_EQ(cap.closed, 1);
}

TEST_F(TreeCaptureTest, IpifcCaptureIsItsOwnersAndItsPorts) {
    ifc_on_ether1();
    Fid g = at(glenda, "ipifc/0/capture");
    ASSERT_EQ(open(g, OREAD).st, Status::Done);
    EXPECT_EQ(cap.ports, (std::vector<uint16_t>{1}));
    static const Ident other{"other", 1001, false};
    Fid o = at(other, "ipifc/0/capture");
    EXPECT_EQ(open(o, OREAD).err, Eperm);
}

TEST_F(TreeCaptureTest, UnboundInterfaceHasNoPortToCapture) {
    Fid c = at(eve, "ipifc/clone");
    ASSERT_EQ(open(c, ORDWR).st, Status::Done);
    Fid f = at(eve, "ipifc/0/capture");
    EXPECT_EQ(open(f, OREAD).err, Eunbound);
}

TEST_F(TreeCaptureTest, WritesConfigureTheCapture) {
    Fid f = at(eve, "ether0/capture");
    ASSERT_EQ(open(f, ORDWR).st, Status::Done);
    EXPECT_FALSE(write(f, "filter  udp port 7 and 'quoted'\n"));
    EXPECT_EQ(cap.filters, (std::vector<std::string>{"udp port 7 and 'quoted'"}));
    EXPECT_FALSE(write(f, "filter"));
    EXPECT_EQ(cap.filters.back(), "");
    EXPECT_EQ(std::string(write(f, "filter bad (").text), "bad filter: syntax error");
    EXPECT_FALSE(write(f, "snaplen 96"));
    EXPECT_EQ(cap.snap, 96u);
    EXPECT_EQ(write(f, "snaplen -1"), Ebadarg);
    EXPECT_EQ(write(f, "snaplen"), Ecmdargs);
    EXPECT_EQ(write(f, "filtering"), Eunknownctl);
    EXPECT_EQ(write(f, ""), Eshortctl);
    Fid r = at(eve, "ether0/capture");
    ASSERT_EQ(open(r, OREAD).st, Status::Done);
    EXPECT_EQ(write(r, "stop"), Err{"inappropriate use of fd"});  // opened for reading only
}

TEST_F(TreeCaptureTest, FirstReadStartsThenWaitsThenEnds) {
    Fid f = at(eve, "ether0/capture");
    ASSERT_EQ(open(f, ORDWR).st, Status::Done);
    cap.pending = "SHB";
    std::string out;
    ASSERT_EQ(tree.read(f, 0, 100, out).st, Status::Done);
    EXPECT_TRUE(cap.started);
    EXPECT_EQ(cap.comment, "devip capture of /net/ether0");
    EXPECT_EQ(out, "SHB");
    Answer a = tree.read(f, 3, 100, out);
    EXPECT_EQ(a.st, Status::Park);
    EXPECT_EQ(a.key, cap.key(0));
    ASSERT_FALSE(write(f, "stop"));
    EXPECT_TRUE(cap.stopped);
    ASSERT_EQ(tree.read(f, 3, 100, out).st, Status::Done);
    EXPECT_EQ(out, "");
}

TEST_F(TreeCaptureTest, NoFreeCaptureIsNoFreeDevices) {
    Fid a = at(eve, "ether0/capture"), b = at(eve, "ether1/capture"), c = at(eve, "ether0/capture");
    ASSERT_EQ(open(a, OREAD).st, Status::Done);
    ASSERT_EQ(open(b, OREAD).st, Status::Done);
    EXPECT_EQ(open(c, OREAD).err, Enodev);
}

}  // namespace
}  // namespace devip::ctl
