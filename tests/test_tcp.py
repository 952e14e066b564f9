"""TCP between Linux and devip's /net/tcp (ip3.md §1.5, §2.4, §2.10, §3.4, §4.6): ipctl dial
and listen and raw 9P against Linux sockets and socat, with loss, several workers (hand-off
between them), IPv6, and the error strings of a failed connect."""
import hashlib
import os
import re
import socket
import subprocess
import threading
import time

import pytest

import ninep
from conftest import DEVIP_IP, LINUX_IP, parse_stats, wait_for

STATUS_RE = re.compile(
    r"^(Closed|Listen|Syn_sent|Syn_received|Established|Finwait1|Finwait2|Close_wait|Closing|"
    r"Last_ack|Time_wait) qin \d+ qout \d+ rq \d+\.\d+ srtt \d+ mdev \d+ sst \d+ cwin \d+ "
    r"swin \d+>>\d+ rwin \d+>>\d+ qscale \d+ timer\.start \d+ timer\.count \d+ rerecv \d+ "
    r"katimer\.start \d+ katimer\.count \d+\n$")
NINEFRONT_STATS = ["MaxConn", "MaxSegment", "ActiveOpens", "PassiveOpens", "EstabResets",
                   "CurrEstab", "InSegs", "OutSegs", "RetransSegs", "RetransSegsSent",
                   "RetransTimeouts", "InErrs", "OutRsts", "CsumErrs", "HlenErrs", "LenErrs",
                   "Resequenced", "OutOfOrder", "ReseqBytelim", "ReseqPktlim", "Delayack",
                   "Wopenack", "Recovery", "RecoveryDone", "RecoveryRTO", "RecoveryNoSeq",
                   "RecoveryCwind", "RecoveryPA"]


def linux_listener(d, port, family=socket.AF_INET, addr=LINUX_IP):
    s = d.ns_socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(64)
    s.settimeout(30)
    return s


def recv_all(c):
    h = hashlib.sha256()
    n = 0
    while True:
        b = c.recv(1 << 16)
        if not b:
            return n, h.hexdigest()
        n += len(b)
        h.update(b)


def sink(s, box):
    """Accepts one connection on s and hashes what it sends until EOF."""
    c, peer = s.accept()
    c.settimeout(60)
    box["peer"] = peer
    box["n"], box["sha"] = recv_all(c)
    c.close()


def blob(n):
    return os.urandom(n)


def conv_of(stderr):
    m = re.search(rb"/net/tcp/(\d+)", stderr)
    return int(m.group(1)) if m else None


def session(d):
    c = ninep.Client(d.sock, timeout=30)
    c.session()
    return c


def clone_ctl(c, fid=1):
    c.open_path(fid, "tcp/clone", ninep.ORDWR)
    return c.read(fid).decode()


# ---- files and formats ---------------------------------------------------------------------

def test_tcp_directory_and_stats_format(mhost):
    names = [p.rsplit("/", 1)[1] for p in mhost.ipctl("ls", "/net/tcp").stdout.decode().split()]
    assert names[-2:] == ["clone", "stats"]
    stats = mhost.cat("/net/tcp/stats").splitlines()
    labels = [l.split(":")[0] for l in stats]
    assert labels[:28] == NINEFRONT_STATS  # 9front's 28, in its order; ours after them
    assert "ChallengeAcks" in labels[28:] and "TwReuse" in labels[28:]
    assert parse_stats(mhost.cat("/net/tcp/stats"))["MaxConn"] >= 100000


def test_ctl_errors_before_a_connection(mhost):
    c = session(mhost)
    n = clone_ctl(c)
    for msg, err in [("keepalive", "connection must be in Establised state"),
                     ("frobnicate", "unknown control request"),
                     ("tcpporthogdefense", "tcpporthogdefense needs an argument"),
                     ("tcpporthogdefense maybe", "unknown value for tcpporthogdefense"),
                     ("connect", "bad args to connect")]:
        with pytest.raises(ninep.NinepError, match=err):
            c.write(1, msg.encode())
    st = c.cat("tcp/%s/status" % n).decode()
    assert STATUS_RE.match(st) and st.startswith("Closed ")
    c.close()


# ---- transfers with socat, IPv4 and IPv6, with and without loss ---------------------------

ME6, LINUX6 = "2001:2::1", "2001:2::2"


@pytest.fixture(scope="module")
def dual():
    """devip with 198.18.0.1/24 and 2001:2::1/64, Linux at .2 and ::2."""
    from conftest import Devip
    d = Devip(linux_ipv6=True)
    d.start()
    try:
        d.ipctl("write", "/net/ipifc/0/ctl", "add %s /64" % ME6)
        d.ns_run("ip -6 addr add %s/64 dev dtap0 nodad" % LINUX6)
        assert wait_for(lambda: d.ns_run("ping -c 1 -W 1 %s" % DEVIP_IP,
                                         check=False).returncode == 0, 20)
        assert wait_for(lambda: d.ns_run("ping -6 -c 1 -W 1 %s" % ME6,
                                         check=False).returncode == 0, 20)
    except BaseException:
        d.close()
        raise
    yield d
    try:
        d.stop()
    finally:
        d.close()


# Loss on the Linux side, both directions: devip's segments dropped on input, and the
# peer's dropped where Linux forwards them (a drop at the sender's own output or egress hook
# only makes its TCP send again at once: nothing would be lost on the wire). The peer is a
# namespace behind the devip namespace's Linux, which routes between it and the tap.
LOSS = """table inet loss {
    chain in { type filter hook input priority 0; tcp dport %(p)d numgen random mod 100 < 2 drop;
               tcp sport %(p)d numgen random mod 100 < 2 drop; }
    chain through { type filter hook forward priority 0;
                tcp dport %(p)d numgen random mod 100 < 2 drop;
                tcp sport %(p)d numgen random mod 100 < 2 drop; }
}"""
FAR4, FAR6 = "198.18.5.2", "2001:2:5::2"


@pytest.fixture(scope="module")
def far(dual):
    """A namespace routed through the devip namespace's Linux: 198.18.5.2, 2001:2:5::2."""
    ns = dual.ns + "f"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        v = "vf%d" % os.getpid()
        dual.ns_run("ip link add %s type veth peer name %sp && ip link set %sp netns %s && "
                    "ip addr add 198.18.5.1/24 dev %s && ip -6 addr add 2001:2:5::1/64 dev %s "
                    "nodad && ip link set %s up && sysctl -qw net.ipv4.ip_forward=1 && "
                    "sysctl -qw net.ipv6.conf.all.forwarding=1" % (v, v, v, ns, v, v, v))
        for cmd in ["ip link set lo up", "ip link set %sp up" % v,
                    "ip addr add %s/24 dev %sp" % (FAR4, v),
                    "ip -6 addr add %s/64 dev %sp nodad" % (FAR6, v),
                    "ip route add default via 198.18.5.1",
                    "ip -6 route add default via 2001:2:5::1"]:
            subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", cmd], check=True)
        dual.ipctl("write", "/net/iproute", "add 198.18.5.0 255.255.255.0 %s" % LINUX_IP)
        dual.ipctl("write", "/net/iproute", "add 2001:2:5:: /64 %s" % LINUX6)
        assert wait_for(lambda: subprocess.run(["ip", "netns", "exec", ns, "ping", "-c", "1",
                                                "-W", "1", DEVIP_IP]).returncode == 0, 20)
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns])


def socat_transfer(d, v6, upload, port, size, tmp, ns=None):
    """ipctl dial against socat: upload sends size random bytes to socat, download receives
    them from it; returns (sent sha, received sha, ipctl's result)."""
    src = os.path.join(tmp, "src")
    dst = os.path.join(tmp, "dst")
    with open(src, "wb") as f:
        f.write(os.urandom(size))
    want = hashlib.sha256(open(src, "rb").read()).hexdigest()
    peer = (FAR6 if v6 else FAR4) if ns else (LINUX6 if v6 else LINUX_IP)
    listen = "TCP6-LISTEN:%d,bind=[%s],reuseaddr" % (port, peer) if v6 else \
        "TCP4-LISTEN:%d,bind=%s,reuseaddr" % (port, peer)
    dial = "tcp!%s!%d" % (peer, port)
    def run(argv):  # socat in d's namespace, or in ns behind it
        if not ns:
            return d.ns_popen(argv)
        p = subprocess.Popen(["ip", "netns", "exec", ns] + argv, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        d.children.append(p)
        return p

    if upload:
        sp = run(["socat", "-u", listen, "CREATE:" + dst])
    else:
        sp = run(["socat", "-u", "OPEN:" + src, listen])
    time.sleep(0.3)
    for attempt in range(20):
        if upload:
            r = d.ipctl("dial", dial, input=open(src, "rb").read(), check=False, timeout=300)
        else:
            with open(dst, "wb") as out:
                r = subprocess.run(d.ipctl_argv(["dial", dial]), stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=subprocess.PIPE, timeout=300)
        if b"connection refused" not in r.stderr:  # socat not listening yet
            break
        time.sleep(0.2)
    sp.wait(60)
    got = hashlib.sha256(open(dst, "rb").read()).hexdigest()
    return want, got, r


@pytest.mark.parametrize("v6", [False, True], ids=["v4", "v6"])
@pytest.mark.parametrize("upload", [True, False], ids=["upload", "download"])
def test_socat_10mb(dual, v6, upload, tmp_path):
    def eth():
        return dict(l.split(": ", 1) for l in dual.cat("/net/ether0/stats").splitlines()
                    if ": " in l)
    e0 = eth()
    want, got, r = socat_transfer(dual, v6, upload, 7110 + 2 * v6 + upload, 10 << 20, tmp_path)
    assert r.returncode == 0, r.stderr
    assert got == want
    # IPv4 and IPv6 alike, the segments went in and out on the worker, not up the slow path
    e1 = eth()
    ins = int(e1["tcp segments in"]) - int(e0["tcp segments in"])
    outs = int(e1["conversation tx"]) - int(e0["conversation tx"])
    data, acks = (outs, ins) if upload else (ins, outs)  # 10 MB is 7 000-odd segments
    assert data > 5000 and acks > 100, (ins, outs)


@pytest.mark.parametrize("v6", [False, True], ids=["v4", "v6"])
@pytest.mark.parametrize("upload", [True, False], ids=["upload", "download"])
def test_socat_10mb_with_2_percent_loss(dual, far, v6, upload, tmp_path):
    """2 % of the segments dropped on the Linux side, both directions (nftables numgen):
    byte-exact, retransmissions counted, SACK blocks in the capture."""
    port = 7120 + 2 * v6 + upload
    dual.ns_run("nft -f -", input=(LOSS % {"p": port}).encode())
    before = parse_stats(dual.cat("/net/tcp/stats"))
    pcap = os.path.join(tmp_path, "cap.pcap")
    cap = dual.ns_popen(["tshark", "-i", "dtap0", "-q", "-f", "tcp port %d" % port, "-w", pcap])
    time.sleep(2)
    try:
        want, got, r = socat_transfer(dual, v6, upload, port, 10 << 20, tmp_path, far)
    finally:
        dual.ns_run("nft delete table inet loss")
        time.sleep(0.5)
        cap.terminate()
        cap.wait(30)
    assert r.returncode == 0, r.stderr
    assert got == want
    after = parse_stats(dual.cat("/net/tcp/stats"))
    if upload:
        assert after["RetransSegs"] > before["RetransSegs"]
    me = ME6 if v6 else DEVIP_IP
    ipf = "ipv6.src" if v6 else "ip.src"
    # whoever receives the data SACKs the holes: devip on download, Linux on upload
    sacker = "%s == %s" % (ipf, me) if not upload else "%s != %s" % (ipf, me)
    n = subprocess.run(["tshark", "-r", pcap, "-Y", "tcp.options.sack_le && " + sacker],
                       capture_output=True, text=True).stdout.count("\n")
    assert n > 0, "no SACK blocks from the receiver in the capture"
    if not upload:
        assert after["SackBlocksOut"] > before["SackBlocksOut"]
    else:
        assert after["SackBlocksIn"] > before["SackBlocksIn"]


NFQ_REORDER = os.path.join(os.environ.get("DEVIP_BUILD", "build"), "unittests", "nfq_reorder")


@pytest.mark.parametrize("v6", [False, True], ids=["v4", "v6"])
@pytest.mark.parametrize("upload", [True, False], ids=["upload", "download"])
def test_socat_10mb_with_reordering(dual, far, v6, upload, tmp_path):
    """Where Linux forwards between the peer and the tap, an NFQUEUE helper (C on
    libnetfilter-queue) holds back 3 % of the segments, both directions, for 6 others:
    byte-exact, and the receiver saw them out of order."""
    port = 7140 + 2 * v6 + upload
    q = subprocess.Popen(["ip", "netns", "exec", dual.ns, NFQ_REORDER, str(port % 100), "3", "6"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dual.children.append(q)
    assert q.stdout.readline() == b"ready\n", q.stderr.read()
    # the kernel has xt_NFQUEUE but not nft's queue expression: iptables (legacy tables)
    ipt = "ip6tables-legacy" if v6 else "iptables-legacy"
    rules = ["FORWARD -p tcp --sport %d -j NFQUEUE --queue-num %d" % (port, port % 100),
             "FORWARD -p tcp --dport %d -j NFQUEUE --queue-num %d" % (port, port % 100)]
    for r_ in rules:
        dual.ns_run("%s -A %s" % (ipt, r_))
    before = parse_stats(dual.cat("/net/tcp/stats"))
    try:
        want, got, r = socat_transfer(dual, v6, upload, port, 10 << 20, tmp_path, far)
    finally:
        for r_ in rules:
            dual.ns_run("%s -D %s" % (ipt, r_))
        q.terminate()
        out, _ = q.communicate(timeout=30)
    assert r.returncode == 0, r.stderr
    assert got == want
    seen, held = [int(x) for x in out.split()[-3::2]]
    assert held > 0 and seen > 1000, out
    after = parse_stats(dual.cat("/net/tcp/stats"))
    if upload:  # Linux SACKed what came early; devip recovered without losing a byte
        assert after["SackBlocksIn"] > before["SackBlocksIn"]
    else:  # devip kept the early segments and SACKed the gaps
        assert after["Resequenced"] > before["Resequenced"]
        assert after["SackBlocksOut"] > before["SackBlocksOut"]


def test_capture_of_a_2mb_transfer_is_clean(dual, tmp_path):
    """tshark on a 2 MB upload: valid TCP checksums on what devip sent, the handshake's
    options, nothing malformed (counted only when the capture and devip's tx dropped
    nothing)."""
    pcap = os.path.join(tmp_path, "cap.pcap")
    cap = dual.ns_popen(["tshark", "-i", "dtap0", "-f", "tcp port 7130", "-w", pcap])
    time.sleep(2)
    txd = dict(l.split(": ", 1) for l in dual.cat("/net/ether0/stats").splitlines()
               if ": " in l)["tx drops"]
    want, got, r = socat_transfer(dual, False, True, 7130, 2 << 20, tmp_path)
    time.sleep(0.5)
    cap.terminate()
    _, err = cap.communicate(timeout=30)
    assert r.returncode == 0 and got == want
    assert b"dropped" not in err or b"0 packets dropped" in err or b"(0.0%)" in err, err
    assert dict(l.split(": ", 1) for l in dual.cat("/net/ether0/stats").splitlines()
                if ": " in l)["tx drops"] == txd

    def fields(filt, *f):
        args = ["tshark", "-r", pcap, "-o", "tcp.check_checksum:TRUE", "-Y", filt, "-T", "fields"]
        for x in f:
            args += ["-e", x]
        return subprocess.run(args, capture_output=True, text=True).stdout.splitlines()
    ours = "ip.src == %s" % DEVIP_IP
    assert len(fields(ours, "frame.number")) > 100
    assert fields(ours + " && tcp.checksum.status != 1", "frame.number") == []  # 1: good
    bad = fields("_ws.malformed || _ws.expert.severity >= 8388608", "frame.number",
                 "_ws.expert.message")
    assert bad == [], bad
    syn = fields(ours + " && tcp.flags.syn == 1", "tcp.options.mss_val",
                 "tcp.options.wscale.shift", "tcp.options.sack_perm", "tcp.options.timestamp.tsval")
    assert syn and all(x for x in syn[0].split("\t")), syn


# ---- active opens --------------------------------------------------------------------------

def test_connect_refused(mhost):
    c = session(mhost)
    n = clone_ctl(c)
    with pytest.raises(ninep.NinepError, match="^connection refused$"):
        c.write(1, b"connect %s!7199" % LINUX_IP.encode())
    # a failed connect leaves the conversation unusable for another (9front's Connecting)
    with pytest.raises(ninep.NinepError, match="connection in use"):
        c.write(1, b"connect %s!7199" % LINUX_IP.encode())
    c.close()
    assert n.isdigit()


def test_status_local_remote_of_a_connection(mhost):
    s = linux_listener(mhost, 7102)
    c = session(mhost)
    n = clone_ctl(c)
    c.write(1, b"connect %s!7102" % LINUX_IP.encode())
    peer, addr = s.accept()
    st = c.cat("tcp/%s/status" % n).decode()
    assert STATUS_RE.match(st), st
    assert st.startswith("Established ")
    assert c.cat("tcp/%s/remote" % n).decode() == "%s!7102\n" % LINUX_IP
    assert c.cat("tcp/%s/local" % n).decode() == "%s!%d\n" % (DEVIP_IP, addr[1])
    # 9front's ctl verbs on a connection: keepalive in Established, checksum, and ours
    c.write(1, b"keepalive 1000")
    assert re.search(r"katimer\.start 20 ", c.cat("tcp/%s/status" % n).decode())
    with pytest.raises(ninep.NinepError, match="unknown control request"):
        c.write(1, b"bogus")
    c.write(1, b"nagle on")
    c.write(1, b"cc cubic")
    c.write(1, b"close")  # graceful: Linux reads end of file
    peer.settimeout(10)
    assert peer.recv(10) == b""
    peer.close()
    s.close()
    c.close()


# ---- passive opens -------------------------------------------------------------------------

def test_listen_echo_linux_client(mhost):
    p = mhost.ipctl_popen("listen", "-1", "tcp!*!7200", "cat")
    data = blob(3 << 20)

    def connect():
        s = mhost.ns_socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(30)
        try:
            s.connect((DEVIP_IP, 7200))
            return s
        except OSError:
            s.close()
            return None

    box = {}
    assert wait_for(lambda: box.setdefault("s", connect()) or box.pop("s"), 20)
    s = box["s"]
    got = {}

    def reader():
        got["n"], got["sha"] = recv_all(s)

    t = threading.Thread(target=reader)
    t.start()
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    t.join(60)
    s.close()
    assert got["n"] == len(data) and got["sha"] == hashlib.sha256(data).hexdigest()
    assert p.wait(30) == 0


def test_listen_backlog_and_calls_queue(mhost):
    c = session(mhost)
    n = clone_ctl(c)
    c.write(1, b"announce 7201")
    c.write(1, b"backlog 2")
    st = c.cat("tcp/%s/status" % n).decode()
    assert st.startswith("Listen "), st
    socks = []
    for _ in range(2):
        s = mhost.ns_socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect((DEVIP_IP, 7201))
        socks.append(s)
    # both calls wait on the listener; listen takes the oldest first
    c.walk(0, 5, "tcp", n, "listen")
    c.open(5, ninep.ORDWR)
    call = c.read(5).decode()
    assert call != n
    remote = c.cat("tcp/%s/remote" % call).decode()
    assert remote == "%s!%d\n" % (LINUX_IP, socks[0].getsockname()[1])
    assert c.cat("tcp/%s/status" % call).decode().startswith("Established ")
    c.walk(0, 6, "tcp", call, "data")
    c.open(6, ninep.ORDWR)
    socks[0].sendall(b"hello devip")
    assert c.read(6) == b"hello devip"
    c.write(6, b"hello linux")
    assert socks[0].recv(100) == b"hello linux"
    c.clunk(6)
    c.clunk(5)
    socks[0].settimeout(10)
    assert socks[0].recv(10) == b""  # last close: FIN
    for s in socks:
        s.close()
    c.close()


# ---- several workers, loss, IPv6 -----------------------------------------------------------

def test_many_connections_over_two_workers(devip_factory):
    d = devip_factory(opts=["--workers", "2"])
    assert d.ns_run("ping -c 1 -W 2 %s" % DEVIP_IP, check=False).returncode == 0
    p = d.ipctl_popen("listen", "tcp!*!7300", "cat")
    time.sleep(0.5)
    errors = []

    def client(i):
        try:
            s = d.ns_socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(30)
            for attempt in range(50):
                try:
                    s.connect((DEVIP_IP, 7300))
                    break
                except ConnectionRefusedError:
                    s.close()
                    time.sleep(0.1)
                    s = d.ns_socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.settimeout(30)
            msg = (b"%d:" % i) * 500
            s.sendall(msg)
            s.shutdown(socket.SHUT_WR)
            got = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                got += b
            s.close()
            if got != msg:
                errors.append("conn %d: %d bytes back of %d" % (i, len(got), len(msg)))
        except OSError as e:
            errors.append("conn %d: %s" % (i, e))

    # eight at a time: listen takes calls one by one, and a listener holds 10 (§4.6.1)
    for batch in range(8):
        ts = [threading.Thread(target=client, args=(batch * 8 + i,)) for i in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(90)
    p.terminate()
    p.wait(10)
    assert not errors, errors[:5]
    eth = d.cat("/net/ether0/stats")
    stats = parse_stats(d.cat("/net/tcp/stats"))
    assert stats["PassiveOpens"] == 1  # 9front counts announces (§4.16)
    assert stats["InSegs"] >= 64 * 4
    assert "workers: 2" in eth
    # the tap spreads flows over both queues its own way: segments that reach the worker
    # not owning their connection are handed over, and none is lost on the way
    e = dict(l.split(": ", 1) for l in eth.splitlines() if ": " in l)
    assert int(e["tcp handed over"]) > 0 and int(e["tcp hand-off drops"]) == 0


# ---- failed connects, resets, what goes on the wire ----------------------------------------

def test_connect_times_out_and_icmp_advice(devip_factory):
    # timers divided by 100: Syn_sent gives up after 2.7 s of backoff instead of 4.5 min
    d = devip_factory(opts=["--tcp-timer-scale", "100"])
    assert d.ns_run("ping -c 1 -W 2 %s" % DEVIP_IP, check=False).returncode == 0
    d.ns_run("nft -f -", input=b"""table inet t {
        chain in { type filter hook input priority 0;
            tcp dport 7600 drop;
            tcp dport 7601 reject with icmp type host-unreachable; }
    }""")
    c = session(d)
    clone_ctl(c)
    t0 = time.monotonic()
    with pytest.raises(ninep.NinepError, match="^connection timed out$"):
        c.write(1, b"connect %s!7600" % LINUX_IP.encode())
    assert time.monotonic() - t0 < 60
    clone_ctl(c, 2)
    # ICMP advice in Syn_sent fails the connect with the advice text (§4.6.1, §4.8.3)
    with pytest.raises(ninep.NinepError, match="host unreachable"):
        c.write(2, b"connect %s!7601" % LINUX_IP.encode())
    stats = parse_stats(d.cat("/net/tcp/stats"))
    assert stats["ActiveOpens"] == 2 and stats["RetransTimeouts"] > 0
    c.close()


def test_segment_to_no_conversation_gets_rst(mhost):
    s = mhost.ns_socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    with pytest.raises(ConnectionRefusedError):
        s.connect((DEVIP_IP, 7698))
    s.close()


def test_syn_options_and_df_on_the_wire(mhost):
    """tshark decodes devip's SYN: MSS from the route (1460), window scale, SACK permitted,
    timestamps, and DF set (path MTU discovery, a departure from §4.4)."""
    s = linux_listener(mhost, 7602)
    cap = mhost.ns_popen(["tshark", "-i", "dtap0", "-c", "1", "-l", "-f",
                          "tcp dst port 7602 and tcp[tcpflags] & tcp-syn != 0", "-T", "fields",
                          "-e", "tcp.options.mss_val", "-e", "tcp.options.wscale.shift",
                          "-e", "tcp.options.sack_perm", "-e", "tcp.options.timestamp.tsval",
                          "-e", "ip.flags.df", "-e", "ip.ttl"])
    time.sleep(2)  # tshark starts capturing
    c = session(mhost)
    clone_ctl(c)
    c.write(1, b"connect %s!7602" % LINUX_IP.encode())
    out, err = cap.communicate(timeout=30)
    c.close()
    s.close()
    f = out.decode().strip().split("\t")
    assert f[0] == "1460" and f[1] == "4" and f[2] != "" and f[3] != "", (f, err)
    assert f[4] in ("1", "True") and f[5] == "255"
