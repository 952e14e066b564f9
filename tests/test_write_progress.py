"""ipctl write -p on a terminal: progress (lines, lines/s, errors) on stderr and a final
summary line; nothing extra when stderr is not a terminal (docs/ipctl.1)."""
import os
import pty
import re
import subprocess


def routes(n, bad_at=None):
    lines = ["add 198.19.%d.%d /32 198.18.0.2\n" % (i // 256, i % 256) for i in range(n)]
    if bad_at is not None:
        lines[bad_at] = "add 198.19.255.1 /32 10.99.0.1\n"  # no interface reaches the gateway
    return "".join(lines).encode()


def run_on_pty(d, data):
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen(d.ipctl_argv(["write", "-p", "/net/iproute"]), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        slave = -1
        out, _ = p.communicate(data, timeout=120)
        err = b""
        while True:
            try:
                b = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed and drained
                break
            if not b:
                break
            err += b
        return p.returncode, out, err.decode().replace("\r\n", "\n")
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


SUMMARY = re.compile(r"\ripctl: (\d+) lines in [0-9.]+ s \((\d+) lines/s\), (\d+) errors\x1b\[K\n")


def test_progress_and_summary_on_a_terminal(host):
    rc, out, err = run_on_pty(host, routes(3000))
    assert rc == 0, err
    m = SUMMARY.search(err)
    assert m, repr(err)
    assert (m.group(1), m.group(3)) == ("3000", "0")
    assert err.endswith(m.group(0))  # the summary is the last thing written
    assert len(host.cat("/net/iproute").splitlines()) > 3000


def test_errors_are_counted_in_the_summary(host):
    rc, out, err = run_on_pty(host, routes(50, bad_at=20))
    assert rc == 1
    m = SUMMARY.search(err)
    assert m, repr(err)
    assert m.group(3) == "1"
    assert "ipctl: line 21: interface not found\n" in err


def test_no_progress_when_stderr_is_not_a_terminal(host):
    r = host.ipctl("write", "-p", "/net/iproute", input=routes(500))
    assert r.stderr == b""
