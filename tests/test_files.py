"""The /net tree through the real daemon: names, modes, qids and the text of every file
(ip3.md §1.1-§1.3, §2.2-§2.10)."""
import re

import pytest

from conftest import DEVIP_IP, LINUX_IP

STATUS_PREFIX = ("device /net/ether0 maxtu 1514 sendra 0 recvra 0 mflag 0 oflag 0 "
                 "maxraint 600000 minraint 200000 linkmtu 0 reachtime 0 rxmitra 0 ttl 255 "
                 "routerlt 1800 pktin ")
ADDR_LINE = "\t%-40s %-10s %-40s %-12s %-12s\n" % ("198.18.0.1", "/120", "198.18.0.0",
                                                  "4294967295", "4294967295")


def route(target, mask, gate, flags, tag, ifc, src, smask):
    return "%-15s %-4s %-15s %-4s %4.4s %3s %-15s %-4s\n" % (target, mask, gate, flags, tag, ifc,
                                                             src, smask)


HOST_ROUTES = {
    route("0.0.0.0", "/96", "198.18.0.2", "4", "none", "0", "0.0.0.0", "/96"),
    route("198.18.0.0", "/120", "198.18.0.0", "4i", "ifc ", "0", "198.18.0.1", "/128"),
    route("198.18.0.0", "/120", "198.18.0.0", "4i", "ifc ", "0", "0.0.0.0", "/96"),
    route("198.18.0.0", "/128", "198.18.0.0", "4b", "ifc ", "0", "198.18.0.1", "/128"),
    route("198.18.0.1", "/128", "198.18.0.1", "4u", "ifc ", "0", "0.0.0.0", "/96"),
    route("198.18.0.255", "/128", "198.18.0.255", "4b", "ifc ", "0", "198.18.0.1", "/128"),
    route("224.0.0.1", "/128", "224.0.0.1", "4m", "ifc ", "0", "198.18.0.1", "/128"),
    route("255.255.255.255", "/128", "255.255.255.255", "4b", "ifc ", "0", "198.18.0.1", "/128"),
}

SELF = {("198.18.0.1", "4u"), ("198.18.0.0", "4b"), ("198.18.0.255", "4b"),
        ("255.255.255.255", "4b"), ("224.0.0.1", "4m")}


def stat(d, path):
    out = d.ipctl("stat", path).stdout.decode()
    return dict(l.split(" ", 1) for l in out.splitlines() if l)


def test_top_level_listing(mhost):
    names = [p.rsplit("/", 1)[1] for p in mhost.ipctl("ls", "/net").stdout.decode().split()]
    # protocols in 9front's registration order (tcp udp rudp ipifc icmp icmpv6 ...: the ones
    # devip has), then the six files, then devip's own config (ipctl save), then the ports
    assert names == ["tcp", "udp", "ipifc", "icmp", "icmpv6", "gre", "esp", "arp", "bootp", "ndb",
                     "iproute", "ipselftab", "log", "config", "ether0"]


@pytest.mark.parametrize("name,mode,qtype", [
    ("arp", "0664", 2), ("bootp", "0666", 3), ("ndb", "0666", 4), ("iproute", "0664", 5),
    ("ipselftab", "0444", 6), ("log", "0666", 7), ("config", "0644", 25)])
def test_top_level_files_modes_owner_and_qids(mhost, name, mode, qtype):
    st = stat(mhost, "/net/" + name)
    assert (st["mode"], st["uid"], st["qid.path"], st["qid.type"]) == \
        (mode, "network", hex(qtype), "0x00")


@pytest.mark.parametrize("name", ["tcp", "udp", "ipifc", "icmp", "icmpv6"])
def test_protocol_directories(mhost, name):
    st = stat(mhost, "/net/" + name)
    assert st["mode"] == "020000000555" and st["qid.type"] == "0x80" and st["uid"] == "network"
    assert int(st["qid.path"], 16) & 0x1f == 8
    entries = [p.rsplit("/", 1)[1] for p in mhost.ipctl("ls", "/net/" + name).stdout.decode()
               .split()]
    assert entries[-2:] == ["clone", "stats"]
    assert all(e.isdigit() for e in entries[:-2])
    assert [int(e) for e in entries[:-2]] == list(range(len(entries) - 2))


def test_conversation_directory_listing_and_modes(mhost):
    n = int(mhost.cat("/net/udp/clone"))
    files = mhost.ipctl("ls", "-l", "/net/udp/%d" % n).stdout.decode().splitlines()
    assert [f.split()[-1].rsplit("/", 1)[1] for f in files] == \
        ["ctl", "data", "err", "listen", "local", "remote", "status"]
    modes = {f.split()[-1].rsplit("/", 1)[1]: stat(mhost, f.split()[-1])["mode"] for f in files}
    assert modes == {"ctl": "0660", "data": "0660", "err": "0660", "listen": "0660",
                     "local": "0444", "remote": "0444", "status": "0444"}
    # qid.path = proto<<17 | conv<<5 | type
    assert [int(stat(mhost, "/net/udp/%d/%s" % (n, f))["qid.path"], 16) & 0x1ffff for f in
            ("ctl", "data", "err", "listen", "local", "remote", "status")] == \
        [n << 5 | t for t in (12, 13, 14, 15, 16, 17, 18)]


def test_ipifc_conversation_has_snoop_last(mhost):
    files = [p.rsplit("/", 1)[1] for p in mhost.ipctl("ls", "/net/ipifc/0").stdout.decode().split()]
    # capture (ours, issue 10) follows 9front's files
    assert files == ["ctl", "data", "err", "listen", "local", "remote", "status", "snoop",
                     "capture"]
    assert stat(mhost, "/net/ipifc/0/snoop")["mode"] == "0400"


def test_ctl_read_is_number_without_newline(mhost):
    assert mhost.cat("/net/ipifc/0/ctl") == "0"
    n = mhost.cat("/net/udp/clone")
    assert re.fullmatch(r"\d+", n), repr(n)
    assert mhost.cat("/net/udp/%s/ctl" % n) == n


def test_closed_udp_conversation_files(mhost):
    n = int(mhost.cat("/net/udp/clone"))
    assert mhost.cat("/net/udp/%d/local" % n) == "::!0\n"
    assert mhost.cat("/net/udp/%d/remote" % n) == "::!0\n"
    assert mhost.cat("/net/udp/%d/status" % n) == "Closed qin 0 qout 0\n"


def test_icmp_conversation_status(mhost):
    n = int(mhost.cat("/net/icmp/clone"))
    assert re.fullmatch(r"Datagram qin \d+ qout \d+\n", mhost.cat("/net/icmp/%d/status" % n))


def test_ipifc_status_format(mhost):
    st = mhost.cat("/net/ipifc/0/status")
    assert st.startswith(STATUS_PREFIX), st
    first, rest = st.split("\n", 1)
    assert re.fullmatch(STATUS_PREFIX + r"\d+ pktout \d+ errin \d+ errout \d+ speed 0 delay 40",
                        first), first
    assert rest == ADDR_LINE


def test_ipifc_status_packet_counters_move(mhost):
    def counts():
        m = re.search(r"pktin (\d+) pktout (\d+)", mhost.cat("/net/ipifc/0/status"))
        return int(m.group(1)), int(m.group(2))
    i0, o0 = counts()
    mhost.ns_run("ping -c 3 -i 0.1 %s" % DEVIP_IP)
    i1, o1 = counts()
    assert i1 - i0 >= 3 and o1 - o0 >= 3


def test_ipifc_local_lists_address_and_self_entries(mhost):
    text = mhost.cat("/net/ipifc/0/local")
    assert text.endswith("\n") and text.count("\n") == 1
    head = "%-40s ->" % "198.18.0.1"
    assert text.startswith(head)
    entries = text[len(head):-1]
    assert len(entries) % 41 == 0
    got = {entries[i:i + 41] for i in range(0, len(entries), 41)}
    assert got == {" %-40s" % a for a, _ in SELF}


def test_iproute_after_host_conf(mhost):
    lines = mhost.cat("/net/iproute").splitlines(keepends=True)
    assert len(lines) == len(set(lines))
    assert set(lines) == HOST_ROUTES
    assert all(len(l.split()) == 8 for l in lines)


def test_ipselftab_format(mhost):
    lines = mhost.cat("/net/ipselftab").splitlines(keepends=True)
    assert set(lines) == {"%-44s %2s %4s\n" % (a, "01", f) for a, f in SELF}


def test_ipifc_stats_names_in_order(mhost):
    text = mhost.cat("/net/ipifc/stats")
    names = [l.split(":")[0] for l in text.splitlines()]
    assert names == ["Forwarding", "DefaultTTL", "InReceives", "InHdrErrors", "InAddrErrors",
                     "ForwDatagrams", "InUnknownProtos", "InDiscards", "InDelivers",
                     "OutRequests", "OutDiscards", "OutNoRoutes", "ReasmTimeout", "ReasmReqds",
                     "ReasmOKs", "ReasmFails", "FragOKs", "FragFails", "FragCreates"]
    assert all(re.fullmatch(r"\w+: \d+", l) for l in text.splitlines())
    st = mhost.stats("/net/ipifc/stats")
    assert (st["Forwarding"], st["DefaultTTL"], st["InAddrErrors"]) == (0, 255, 0)


def test_udp_stats_format(mhost):
    text = mhost.cat("/net/udp/stats")
    assert re.fullmatch(r"InDatagrams: \d+\nNoPorts: \d+\nInErrors: \d+\nOutDatagrams: \d+\n", text)


def test_icmp_stats_format(mhost):
    lines = mhost.cat("/net/icmp/stats").splitlines()
    assert [l.split(":")[0] for l in lines[:6]] == ["InMsgs", "InErrors", "OutMsgs", "CsumErrs",
                                                     "LenErrs", "HlenErrs"]
    assert [l.split(":")[0] for l in lines[6:]] == [
        "EchoReply", "1", "2", "Unreachable", "SrcQuench", "Redirect", "6", "7", "EchoRequest",
        "9", "10", "TimeExceed", "InParmProblem", "Timestamp", "TimestampReply", "InfoRequest",
        "InfoReply", "AddrMaskRequest", "AddrMaskReply  "]
    assert all(re.fullmatch(r"[^:]+: \d+ \d+", l) for l in lines[6:])


def test_arp_line_format(mhost):
    mhost.ipctl("ping", "-c", "1", LINUX_IP)
    lines = mhost.cat("/net/arp").splitlines(keepends=True)
    assert lines
    for l in lines:
        assert re.fullmatch(r"ether  (OK  |WAIT) [0-9.]{7,15} {26,34} [0-9a-f]{12}     "
                            r"[0-9.]+\n", l), repr(l)


def test_bootp_reads_empty(mhost):
    assert mhost.cat("/net/bootp") == ""


def test_ether_directory(mhost):
    files = [p.rsplit("/", 1)[1] for p in mhost.ipctl("ls", "/net/ether0").stdout.decode().split()]
    assert {"addr", "stats", "ifstats"} <= set(files)
    assert re.search(r"^mbufs in use: \d+$", mhost.cat("/net/ether0/stats"), re.M)


def test_ndb_write_read_and_version(host):
    v0 = int(stat(host, "/net/ndb")["qid.vers"])
    text = "ip=198.18.0.1 sys=devip\n\tdom=devip.test\n"
    host.ipctl("write", "-t", "/net/ndb", input=text)
    assert host.cat("/net/ndb") == text
    st = stat(host, "/net/ndb")
    assert int(st["qid.vers"]) > v0 and int(st["length"]) == len(text)
