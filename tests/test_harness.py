"""The harness itself (issue 10 §6): a sanitizer report or an abort in a daemon fails the test
that owned it, with the report printed, and under CI a skipped test fails. Most daemons here
are stand-ins (a shell that prints what ASan or UBSan print and aborts), so that these run
against any build; the last test makes devipd itself report (a SEGV), under build-asan."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest

import conftest
from conftest import Devip, SanitizerReport, sanitizer_report

ASAN = ("=================================================================\n"
        "==4242==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010\n"
        "READ of size 1 at 0x602000000010 thread T0\n"
        "    #0 0x55 in devip::proto::Stack::nd_output proto/nd.cc:110\n"
        "SUMMARY: AddressSanitizer: heap-use-after-free proto/nd.cc:110\n")
UBSAN = "proto/ipaux.cc:57:12: runtime error: shift exponent 40 is too large\n"
LSAN = ("==4242==ERROR: LeakSanitizer: detected memory leaks\n"
        "Direct leak of 64 byte(s) in 1 object(s) allocated from:\n")


def test_reports_are_recognised():
    for text in (ASAN, UBSAN, LSAN):
        rep = sanitizer_report("devipd: serving /net on /tmp/x\n" + text)
        assert rep is not None and text.splitlines()[1 if text is ASAN else 0] in rep, text
    assert sanitizer_report("devipd: serving /net on /tmp/x\nicmp6: runtime ok\n") is None


class FakeDevip(Devip):
    """A 'devipd' that prints `text` to its log and aborts as halt_on_error makes it."""

    def __init__(self, text, **kw):
        super().__init__(**kw)
        self.script = "printf '%%s' '%s' >&2; kill -ABRT $$" % text.replace("'", "")

    def argv(self):
        return ["ip", "netns", "exec", self.ns, "sh", "-c", self.script]


@pytest.mark.parametrize("text", [ASAN, UBSAN, LSAN], ids=["asan", "ubsan", "lsan"])
def test_report_in_a_failed_start_fails(text):
    d = FakeDevip(text)
    try:
        with pytest.raises(SanitizerReport) as e:
            d.run_to_exit()
        assert text.strip().splitlines()[-1] in str(e.value)
    finally:
        d.proc = None
        d.close()


def test_report_in_a_running_daemon_fails_at_close():
    d = FakeDevip(ASAN)
    subprocess.run(["ip", "netns", "add", d.ns], check=True)
    d._log = open(d.logpath, "wb")
    d.proc = subprocess.Popen(d.argv(), stdout=d._log, stderr=subprocess.STDOUT)
    d.proc.wait(10)
    with pytest.raises(SanitizerReport) as e:
        d.close()  # everything is released first, then the report is raised
    assert "heap-use-after-free" in str(e.value) and "exit -6" in str(e.value)
    assert not os.path.exists(d.dir)
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert d.ns not in ns.split()


def test_report_in_an_ipctl_child_fails_at_close():
    d = FakeDevip(UBSAN)
    subprocess.run(["ip", "netns", "add", d.ns], check=True)
    # an "ipctl" started as ipctl_popen starts it, that reports, aborts, and is never read
    p = subprocess.Popen(["sh", "-c", d.script, conftest.IPCTL], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    d.children.append(p)
    p.wait(10)
    with pytest.raises(SanitizerReport) as e:
        d.close()
    assert "runtime error: shift exponent" in str(e.value) and "exit -6" in str(e.value)


def test_abort_without_report_fails_too():
    d = FakeDevip("")
    try:
        with pytest.raises(SanitizerReport):
            d.run_to_exit()
    finally:
        d.proc = None
        d.close()


SKIPPING = """
    import pytest

    def test_cannot_run_here():
        pytest.skip("EAL unavailable")
"""


@pytest.mark.parametrize("ci", ["", "1"])
def test_skip_fails_under_ci(tmp_path, ci):
    f = tmp_path / "test_skipping.py"
    f.write_text(textwrap.dedent(SKIPPING))
    env = dict(os.environ, CI=ci, PYTHONPATH=os.path.dirname(conftest.__file__))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-p", "conftest", str(f)], capture_output=True, text=True, env=env,
                       cwd=str(tmp_path), timeout=120)
    if ci:
        assert r.returncode == 1 and "1 failed" in r.stdout, r.stdout + r.stderr
        assert "a skip fails under CI" in r.stdout and "EAL unavailable" in r.stdout, r.stdout
    else:
        assert r.returncode == 0 and "1 skipped" in r.stdout, r.stdout + r.stderr


def sanitized(path):
    """Whether a program was built with the sanitizers (-Dsanitize=true)."""
    with open(path, "rb") as f:
        return b"__asan_default_options" in f.read()


def test_real_daemon_report_fails():
    """devipd itself, killed with SIGSEGV: a sanitized one reports the SEGV and aborts, which
    fails its test with the report; a plain one just dies, which is no sanitizer report."""
    d = Devip()
    try:
        d.start()
        d.proc.send_signal(signal.SIGSEGV)
        d.proc.wait(30)
        if sanitized(conftest.DEVIPD):
            with pytest.raises(SanitizerReport) as e:
                d.close()
            assert "ERROR: AddressSanitizer: SEGV" in str(e.value), str(e.value)
        else:
            assert d.proc.returncode == -signal.SIGSEGV
            d.close()  # no report to find
    finally:
        d.close()
