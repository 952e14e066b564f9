"""devipd's own log (devipd(8)): --log-level filters its messages, configuration lines show at
debug, per-packet events are rate-limited with the suppressed ones counted. A bad level or
sink is a usage error."""
import re

import pytest

from conftest import DEVIP_IP, LINUX_IP, Devip, wait_for


def test_default_level_is_info(devip_factory):
    d = devip_factory()
    assert "devipd: info: applied %s\n" % d.conf in d.log()
    assert "devipd: debug:" not in d.log()


def test_error_level_hides_info(devip_factory):
    d = devip_factory(opts=["--log-level", "error"])
    log = d.log()
    assert "serving /net" in log
    assert "info:" not in log and "debug:" not in log


def test_debug_level_shows_each_config_write(devip_factory):
    d = devip_factory(opts=["--log-level", "debug"])
    assert ("devipd: debug: %s:3: /net/ipifc/clone bind ether /net/ether0\n" % d.conf) in d.log()


def noports(d):
    return d.stats("/net/udp/stats")["NoPorts"]


def test_per_packet_messages_are_rate_limited_and_counted(devip_factory):
    d = devip_factory(opts=["--log-level", "debug"])
    pat = re.compile(r"^devipd: debug: stack 0: udp: %s!\d+ to %s!7999: no conversation"
                     r"(?: \((\d+) similar messages suppressed\))?$" % (LINUX_IP, DEVIP_IP), re.M)
    s = d.ns_socket()
    sent = 0
    try:
        s.bind((LINUX_IP, 0))
        base = noports(d)

        def send(n):
            nonlocal sent
            for _ in range(n):
                s.sendto(b"x", (DEVIP_IP, 7999))
            sent += n
            assert wait_for(lambda: noports(d) == base + sent, 10), (noports(d), base, sent)

        send(40)  # far beyond the burst
        # then one at a time until a message reports what was held back: every datagram is
        # then either a line of its own or counted in a suppressed count
        def reported():
            send(1)
            return any(m.group(1) for m in pat.finditer(d.log()))
        assert wait_for(reported, 10, interval=0.2)
    finally:
        s.close()
    lines = list(pat.finditer(d.log()))
    held = sum(int(m.group(1) or 0) for m in lines)
    assert held > 0
    assert len(lines) + held == sent, (len(lines), held, sent)


@pytest.mark.parametrize("opts,err", [
    (["--log-level", "loud"], "devipd: bad log level loud (error, warn, info, debug)"),
    (["--log", "file"], "devipd: bad log sink file (stderr, syslog)"),
])
def test_bad_log_options_are_usage_errors(opts, err):
    d = Devip(opts=opts)
    try:
        r = d.run_to_exit()
        assert r.returncode == 2
        assert err in r.stderr.splitlines()
    finally:
        d.close()
