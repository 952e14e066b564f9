"""ICMP echo both ways between Linux and devip, and the neighbour tables it fills
(ip3.md §2.8, §4.8.1)."""
import re

import pytest

from conftest import DEVIP_IP, LINUX_IP, LINUX_MAC, mac_colons


def linux_ping(d, args, target=DEVIP_IP):
    r = d.ns_run("ping %s %s" % (args, target), check=False, timeout=120)
    return r.returncode, r.stdout.decode()


def received(out):
    m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    assert m, out
    return int(m.group(1)), int(m.group(2))


def test_linux_ping_flood_loses_nothing(mhost):
    rc, out = linux_ping(mhost, "-q -c 200 -i 0.01 -W 2")
    assert received(out) == (200, 200), out
    assert rc == 0
    assert "DUP" not in out and "wrong data" not in out, out


def test_echo_reply_ttl_is_255(mhost):
    rc, out = linux_ping(mhost, "-c 2 -i 0.2 -W 2")
    assert rc == 0, out
    ttls = re.findall(r"ttl=(\d+)", out)
    assert ttls == ["255", "255"], out


@pytest.mark.parametrize("size", [0, 1, 56, 1472])
def test_echo_payload_returned_intact_unfragmented(mhost, size):
    # Linux checks the pattern of every reply byte and reports "wrong data byte" if not.
    rc, out = linux_ping(mhost, "-c 2 -i 0.2 -W 2 -p a55a0ff0 -s %d" % size)
    assert received(out) == (2, 2), out
    assert "wrong data" not in out and "DUP" not in out, out


@pytest.mark.parametrize("size", [1473, 8000, 65507])
def test_fragmented_echo_reassembled_and_reply_fragmented(mhost, size):
    # 1473 is the first size Linux fragments; 65507 makes a 65535-byte IP datagram,
    # the largest there is: devip must reassemble it and fragment its reply.
    before = mhost.stats("/net/ipifc/stats")
    rc, out = linux_ping(mhost, "-c 2 -i 0.3 -W 3 -p c3 -s %d" % size)
    assert received(out) == (2, 2), out
    assert "wrong data" not in out and "DUP" not in out, out
    after = mhost.stats("/net/ipifc/stats")
    assert after["ReasmOKs"] - before["ReasmOKs"] == 2
    assert after["ReasmReqds"] - before["ReasmReqds"] == 2
    assert after["FragOKs"] - before["FragOKs"] == 2
    assert after["FragCreates"] > before["FragCreates"]


def test_echo_to_subnet_broadcast_not_answered(mhost):
    # Echo replies go only to requests for one of our unicast addresses (§4.8.1).
    before = mhost.stats("/net/icmp/stats")["EchoReply"]
    rc, out = linux_ping(mhost, "-b -c 2 -i 0.3 -W 1", target="198.18.0.255")
    assert received(out)[1] == 0, out
    assert mhost.stats("/net/icmp/stats")["EchoReply"][1] == before[1]


def test_linux_neighbour_table_has_devip_mac(mhost):
    linux_ping(mhost, "-c 1 -W 2")
    out = mhost.ns_run("ip neigh show %s dev dtap0" % DEVIP_IP).stdout.decode()
    assert "lladdr %s" % mac_colons(mhost.mac) in out, out


def test_devip_arp_table_has_linux_mac_ok(mhost):
    mhost.ipctl("ping", "-c", "1", LINUX_IP)
    line = "ether  OK   %-40s %-16s %s\n" % (LINUX_IP, LINUX_MAC.replace(":", ""), DEVIP_IP)
    assert line in mhost.cat("/net/arp").splitlines(keepends=True)


def test_devip_mac_is_12_hex_digits(mhost):
    assert re.fullmatch(r"[0-9a-f]{12}", mhost.mac), repr(mhost.mac)


def eth_stats(d):
    return dict(l.split(": ", 1) for l in d.cat("/net/ether0/stats").splitlines() if ": " in l)


def test_ipctl_ping_gets_replies(mhost):
    e0 = eth_stats(mhost)
    r = mhost.ipctl("ping", "-c", "3", "-i", "0.2", LINUX_IP)
    out = r.stdout.decode()
    assert r.returncode == 0
    # the conversation's flow is on the workers: they send the requests from its route hint
    # (the first may go the slow way while the neighbour is resolved) and hand the replies up
    e1 = eth_stats(mhost)
    assert int(e1["delivered"]) - int(e0["delivered"]) >= 3
    assert int(e1["conversation tx"]) - int(e0["conversation tx"]) >= 2
    # Plan 9 ping's format; Linux answers with its default TTL, 64.
    assert len(re.findall(r"^\d+: rtt \d+ µs, avg rtt \d+ µs, ttl = 64$", out, re.M)) == 3, out
    assert "0 out of 3 messages lost" in out, out


@pytest.mark.parametrize("size", [0, 1472, 3000])
def test_ipctl_ping_sizes(mhost, size):
    # 3000 bytes: devip fragments the request, Linux fragments the reply.
    r = mhost.ipctl("ping", "-c", "2", "-i", "0.2", "-s", str(size), LINUX_IP, check=False)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    assert "0 out of 2 messages lost" in r.stdout.decode()


def test_ipctl_ping_counts_icmp_stats(mhost):
    before = mhost.stats("/net/icmp/stats")
    mhost.ipctl("ping", "-c", "3", "-i", "0.1", LINUX_IP)
    after = mhost.stats("/net/icmp/stats")
    assert after["EchoRequest"][1] - before["EchoRequest"][1] == 3  # out
    assert after["EchoReply"][0] - before["EchoReply"][0] == 3      # in
    assert after["OutMsgs"] - before["OutMsgs"] == 3                # user-written messages


def test_ipctl_ping_unresolvable_neighbour_is_host_unreachable(mhost):
    # Nobody has 198.18.0.99: ARP gives up after 3 s and the held echo request produces
    # ICMP host unreachable, which hangs up ping's conversation (§4.4.2, §4.8.1, §4.14.1).
    r = mhost.ipctl("ping", "-c", "1", "-w", "6", "198.18.0.99", check=False)
    assert r.returncode == 1
    assert "host unreachable" in r.stdout.decode() + r.stderr.decode()
    assert "198.18.0.99 " not in mhost.cat("/net/arp")
