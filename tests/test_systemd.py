"""configs/devipd.service.in: systemd-analyze verify accepts the unit (ExecStart pointed at
the built devipd, its man pages findable), meson install puts it, with ExecStart at the
installed binary, in the unit directory; the unit's devipd command line starts devipd."""
import json
import os
import shlex
import shutil
import subprocess
import tempfile

from conftest import BUILD, REPO, Devip

UNIT_IN = os.path.join(REPO, "configs", "devipd.service.in")
MANS = {"man8": "devipd.8", "man1": "ipctl.1", "man4": "devip.4"}


def unit_with_bindir(bindir, d):
    text = open(UNIT_IN).read().replace("@BINDIR@", bindir)
    path = os.path.join(d, "devipd.service")
    with open(path, "w") as f:
        f.write(text)
    return path, text


def man_tree(d):
    for sec, page in MANS.items():
        os.makedirs(os.path.join(d, sec), exist_ok=True)
        shutil.copy(os.path.join(REPO, "docs", page), os.path.join(d, sec, page))
    return d


def verify(path, mandir):
    env = dict(os.environ, MANPATH=mandir)
    return subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True,
                          env=env, timeout=120)


def test_verify_passes():
    with tempfile.TemporaryDirectory() as d:
        path, _ = unit_with_bindir(os.path.join(BUILD, "control"), d)
        r = verify(path, man_tree(os.path.join(d, "man")))
        assert r.returncode == 0 and r.stderr == "", r.stderr


def test_verify_fails_without_the_binary():
    """The check above can fail: a unit whose devipd does not exist is refused."""
    with tempfile.TemporaryDirectory() as d:
        path, _ = unit_with_bindir(os.path.join(d, "nowhere"), d)
        r = verify(path, man_tree(os.path.join(d, "man")))
        assert r.returncode != 0 and "nowhere/devipd" in r.stderr, r.stderr


def service_lines(text):
    return dict(l.split("=", 1) for l in text.splitlines() if "=" in l and not l.startswith("#"))


def test_unit_contents():
    u = service_lines(open(UNIT_IN).read())
    assert u["Restart"] == "on-failure"
    assert u["RuntimeDirectory"] == "devip"
    assert u["EnvironmentFile"] == "-/etc/default/devipd"
    argv = shlex.split(u["ExecStart"])
    assert argv[0] == "@BINDIR@/devipd"
    assert argv[argv.index("--socket") + 1] == "/run/devip/net.sock"
    assert argv[argv.index("--config") + 1] == "/etc/devip/devipd.conf"


def test_meson_install_puts_the_unit():
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run(["meson", "install", "-C", BUILD, "--no-rebuild", "--destdir", d],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        info = subprocess.run(["meson", "introspect", BUILD, "--buildoptions"],
                                capture_output=True, text=True, check=True).stdout
        opts = {o["name"]: o["value"] for o in json.loads(info)}
        root = d + opts["prefix"]
        unit = os.path.join(root, "lib", "systemd", "system", "devipd.service")
        assert os.path.exists(unit), os.listdir(root)
        u = service_lines(open(unit).read())
        assert shlex.split(u["ExecStart"])[0] == os.path.join(opts["prefix"], opts["bindir"],
                                                              "devipd")
        assert os.path.exists(os.path.join(root, opts["bindir"], "devipd"))


def test_the_units_command_line_starts_devipd():
    """ExecStart with empty DEVIPD_EAL_ARGS and DEVIPD_OPTS, as systemd expands them
    (unbraced $VAR: split into words, nothing when empty), with the test's paths."""
    u = service_lines(open(UNIT_IN).read())
    argv = [a for a in shlex.split(u["ExecStart"])
            if a not in ("$DEVIPD_EAL_ARGS", "$DEVIPD_OPTS")]
    d = Devip()
    try:
        argv[0] = argv[0].replace("@BINDIR@", os.path.join(BUILD, "control"))
        argv[argv.index("--socket") + 1] = d.sock
        argv[argv.index("--config") + 1] = d.conf
        # devipd needs a port: the vdev goes first, as DEVIPD_EAL_ARGS would give it
        argv[1:1] = ["--no-pci", "--vdev=net_tap0,iface=dtap0,mac=fixed"]
        d.argv = lambda: ["ip", "netns", "exec", d.ns] + argv
        d.start()
        d.assert_serving()
        d.stop()
    finally:
        d.close()
