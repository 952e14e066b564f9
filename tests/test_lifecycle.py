"""Starting and stopping devipd: clean shutdown under load and with clients parked, start-up
failures that say exactly what is wrong, and the socket's life."""
import os
import re
import signal

import pytest

from conftest import DEVIP_IP, HOST_CONF, LINUX_IP, Devip
from udp_util import start_announce

BIND = "/net/ipifc/clone bind ether /net/ether0\n"
ADD = "/net/ipifc/0/ctl add 198.18.0.1 255.255.255.0\n"


def devipd_lines(text):
    """devipd's own messages, without EAL and driver chatter."""
    return [l for l in text.splitlines() if l.startswith("devipd:")]


def test_banner_names_ports_workers_and_socket(devip_factory):
    d = devip_factory(ports=2, linux_addrs={})
    assert "devipd: 2 port(s), 1 worker(s), serving /net on %s" % d.sock in d.log()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_and_removes_socket(devip_factory, sig):
    d = devip_factory()
    d.ipctl("ping", "-c", "1", LINUX_IP)
    d.stop(sig)  # asserts exit 0 and the socket gone


def test_sigterm_under_traffic_with_clients_parked(devip_factory):
    d = devip_factory()
    flood = d.ns_popen(["ping", "-q", "-f", "-w", "20", DEVIP_IP])
    ann, n = start_announce(d, "udp!*!7500")              # parked in listen
    log = d.ipctl_popen("cat", "/net/log")                 # parked read
    d.ipctl("write", "/net/log", "set udp")
    d.stop()
    # the clients see the server go away: they end, they do not hang
    for p in (ann, log):
        p.wait(20)
    flood.kill()


def test_bad_config_line_names_file_line_and_error():
    d = Devip(config=BIND + "# a comment\n" + ADD + "/net/iproute add 198.18.9.0 /24 198.18.7.7\n")
    r = d.run_to_exit()
    try:
        assert r.returncode == 1
        assert devipd_lines(r.stdout + r.stderr) == [
            "devipd: %s:4: /net/iproute: interface not found" % d.conf]
        assert not os.path.exists(d.sock)
    finally:
        d.close()


CONFIG_ERRORS = {
    "unknown_file": ("/net/nosuch hello\n", 1, "/net/nosuch", "file does not exist"),
    "conversation_not_there": (ADD, 1, "/net/ipifc/0/ctl", "file does not exist"),
    "unknown_medium": ("/net/ipifc/clone bind nonsense /net/ether0\n", 1, "/net/ipifc/clone",
                       "unknown interface type"),
    "unknown_route_verb": (BIND + "/net/iproute frobnicate\n", 2, "/net/iproute",
                           "bad process or channel control request"),
    "empty_route_write": (BIND + "/net/iproute\n", 2, "/net/iproute", "short control request"),
    "bad_address": (BIND + "/net/ipifc/0/ctl add 198.18.0.1.9 255.255.255.0\n", 2,
                    "/net/ipifc/0/ctl", "bad ip address syntax"),
    "bound_twice": (BIND + "/net/ipifc/0/ctl bind ether /net/ether0\n", 2, "/net/ipifc/0/ctl",
                    "interface already bound"),
    "arp_garbage": (BIND + ADD + "/net/arp frobnicate\n", 3, "/net/arp", "bad arp"),
}


@pytest.mark.parametrize("kind", sorted(CONFIG_ERRORS))
def test_config_error_exits_1_with_reference_error(kind):
    text, line, path, err = CONFIG_ERRORS[kind]
    d = Devip(config=text)
    try:
        r = d.run_to_exit()
        assert r.returncode == 1, r.stdout + r.stderr
        assert devipd_lines(r.stdout + r.stderr) == [
            "devipd: %s:%d: %s: %s" % (d.conf, line, path, err)]
        assert not os.path.exists(d.sock)
    finally:
        d.close()


def test_missing_config_file():
    d = Devip()
    try:
        os.unlink(d.conf)
        r = d.run_to_exit()
        assert r.returncode == 1
        assert devipd_lines(r.stdout + r.stderr) == [
            "devipd: %s: No such file or directory" % d.conf]
        assert not os.path.exists(d.sock)
    finally:
        d.close()


def test_no_ports_is_one_clear_error():
    d = Devip(ports=0)
    try:
        r = d.run_to_exit()
        assert r.returncode == 1
        lines = devipd_lines(r.stdout + r.stderr)
        assert len(lines) == 1 and "no ports" in lines[0], r.stdout + r.stderr
        assert not os.path.exists(d.sock)
    finally:
        d.close()


def test_unknown_option_prints_usage():
    d = Devip()
    try:
        argv = d.argv()
        argv.insert(argv.index("--socket"), "--frobnicate")
        r = d.run_to_exit(argv)
        assert r.returncode != 0
        assert "devipd: unknown option --frobnicate" in r.stderr and "usage: devipd" in r.stderr
    finally:
        d.close()


def test_second_daemon_does_not_steal_live_socket(devip_factory):
    a = devip_factory()
    b = Devip()
    b.sock = a.sock
    try:
        r = b.run_to_exit()
        assert r.returncode == 1
        assert any("another server is listening" in l for l in devipd_lines(r.stdout + r.stderr))
    finally:
        b.close()
    a.assert_serving()


def test_restart_over_stale_socket(devip_factory):
    a = devip_factory()
    a.proc.kill()  # no chance to clean up: the socket file stays
    a.proc.wait()
    a.stopped = True
    assert os.path.exists(a.sock)
    b = Devip()
    b.sock = a.sock
    try:
        b.start()
        b.assert_serving()
        b.stop()
    finally:
        b.close()


def test_two_ports_two_interfaces(devip_factory):
    conf = open(HOST_CONF).read() + "/net/ipifc/clone bind ether /net/ether1\n" \
        "/net/ipifc/1/ctl add 198.18.1.1 255.255.255.0\n"
    d = devip_factory(ports=2, config=conf, linux_addrs={0: "198.18.0.2/24", 1: "198.18.1.2/24"})
    assert d.ipctl("ls", "/net").stdout.decode().split()[-2:] == ["/net/ether0", "/net/ether1"]
    macs = d.cat("/net/ether0/addr"), d.cat("/net/ether1/addr")
    assert macs[0] != macs[1]
    assert d.cat("/net/ipifc/1/status").startswith("device /net/ether1 maxtu 1514 ")
    for ip, port in (("198.18.0.1", 0), ("198.18.1.1", 1)):
        r = d.ns_run("ping -c 3 -i 0.2 -W 2 -I dtap%d %s" % (port, ip), check=False)
        assert "3 received" in r.stdout.decode(), r.stdout.decode()
        out = d.ns_run("ip neigh show %s dev dtap%d" % (ip, port)).stdout.decode()
        assert "lladdr " + ":".join(macs[port][i:i + 2] for i in range(0, 12, 2)) in out, out
    d.ipctl("ping", "-c", "1", "198.18.1.2")
    arp = d.cat("/net/arp")
    assert re.search(r"^ether  OK   198\.18\.1\.2 +021800000003 +198\.18\.1\.1$", arp, re.M), arp
