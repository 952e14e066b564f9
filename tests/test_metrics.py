"""devipd --metrics: Prometheus text (format 0.0.4) over HTTP inside devipd's namespace, parsed
with python3-prometheus-client's parser; counters that move by exactly what a test sent; the
responder's 404/405/431 answers and its never blocking the control loop; DPDK's own telemetry
socket beside it (dpdk-telemetry.py)."""
import json
import re
import socket
import subprocess
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import DEVIP_IP, LINUX_IP, Devip, in_netns, wait_for

PORT = 9464
URL = "http://127.0.0.1:%d/metrics" % PORT


@pytest.fixture(scope="module")
def mdev():
    d = Devip(opts=["--metrics", str(PORT)])
    try:
        d.start()
        assert d.ns_run("ping -c 1 -W 2 %s" % DEVIP_IP, check=False).returncode == 0, d.log()
        yield d
        d.stop()
    finally:
        d.close()


def fetch(d, url=URL):
    def get():
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    return in_netns(d.ns, get)


def samples(d):
    """{(name, frozenset(labels.items())): value} of one scrape."""
    status, ctype, body = fetch(d)
    assert status == 200
    out = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(d, name, **labels):
    key = (name, frozenset(labels.items()))
    got = samples(d)
    assert key in got, "%s%s not in the page" % (name, labels)
    return got[key]


def raw_request(d, data):
    """Sends data on a fresh connection, returns everything until the server closes."""
    def run():
        s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
        try:
            s.sendall(data)
            got = b""
            while True:
                b = s.recv(65536)
                if not b:
                    return got
                got += b
        finally:
            s.close()
    return in_netns(d.ns, run)


def test_page_parses_with_help_and_type_for_every_family(mdev):
    status, ctype, body = fetch(mdev)
    assert status == 200
    assert ctype == "text/plain; version=0.0.4; charset=utf-8"
    fams = list(text_string_to_metric_families(body))
    names = {f.name for f in fams}
    for want in ("devip_port_rx_packets", "devip_port_tx_bytes", "devip_worker_loops",
                 "devip_ip_in_receives", "devip_udp_in_datagrams", "devip_icmp_messages",
                 "devip_icmpv6_in_msgs", "devip_mempool_mbufs_in_use", "devip_ifc_info"):
        assert want in names, want
    for f in fams:
        assert f.documentation, f.name
        assert f.type in ("counter", "gauge"), (f.name, f.type)
        for s in f.samples:
            if f.type == "counter":
                assert s.name.endswith("_total"), s.name
            assert s.value >= 0
    help_lines = [l for l in body.splitlines() if l.startswith("# HELP ")]
    type_lines = [l for l in body.splitlines() if l.startswith("# TYPE ")]
    assert len(help_lines) == len(type_lines) == len(fams)


def test_ip_mib_matches_the_stats_file(mdev):
    got = samples(mdev)
    st = mdev.stats("/net/ipifc/stats")
    # counters only grow: the page, read first, cannot be ahead of the file read after it
    assert got[("devip_ip_in_receives_total", frozenset({("stack", "0")}))] <= st["InReceives"]
    assert got[("devip_ip_default_ttl", frozenset({("stack", "0")}))] == st["DefaultTTL"] == 255
    info = [k for k in got if k[0] == "devip_ifc_info"]
    assert [dict(k[1]) for k in info] == [
        {"stack": "0", "ifc": "0", "device": "/net/ether0", "port": "ether0"}]


def test_udp_counter_moves_by_exactly_the_datagrams_sent(mdev):
    n = 25
    key = "devip_udp_in_datagrams_total"
    before = value(mdev, key, stack="0")
    noports = value(mdev, "devip_udp_no_ports_total", stack="0")
    s = mdev.ns_socket()
    try:
        s.bind((LINUX_IP, 0))
        for i in range(n):
            s.sendto(b"metrics %d" % i, (DEVIP_IP, 7999))  # nobody listens: NoPorts too
    finally:
        s.close()
    assert wait_for(lambda: value(mdev, key, stack="0") >= before + n, 10)
    assert value(mdev, key, stack="0") == before + n
    assert value(mdev, "devip_udp_no_ports_total", stack="0") == noports + n
    assert mdev.stats("/net/udp/stats")["InDatagrams"] == before + n


def test_echo_requests_counted_by_type(mdev):
    labels = dict(stack="0", direction="in", type="EchoRequest")
    before = value(mdev, "devip_icmp_messages_total", **labels)
    r = mdev.ns_run("ping -c 4 -i 0.2 -W 2 %s" % DEVIP_IP, check=False)
    assert r.returncode == 0, r.stdout
    assert value(mdev, "devip_icmp_messages_total", **labels) == before + 4


def test_port_counters_never_go_backwards(mdev):
    a = samples(mdev)
    mdev.ns_run("ping -c 2 -i 0.2 -W 2 %s" % DEVIP_IP)
    b = samples(mdev)
    for k, v in a.items():
        if k[0].endswith("_total"):
            assert b[k] >= v, k


def test_other_paths_404_and_methods_405(mdev):
    with pytest.raises(urllib.error.HTTPError) as e:
        fetch(mdev, "http://127.0.0.1:%d/" % PORT)
    assert e.value.code == 404
    r = raw_request(mdev, b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 405 ")
    r = raw_request(mdev, b"GET /metrics HTTP/1.0\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\nConnection: close\r\n" in r
    assert b"devip_port_rx_packets_total" in r


def test_oversized_request_is_refused(mdev):
    r = raw_request(mdev, b"GET /metrics HTTP/1.1\r\nX-Pad: " + b"a" * 10000 + b"\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 431 ")
    r = raw_request(mdev, b"nonsense\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 400 ")


def test_a_silent_client_blocks_nothing(mdev):
    """A client that connects and says nothing holds no one up: /net and /metrics answer."""
    def connect():
        return socket.create_connection(("127.0.0.1", PORT), timeout=10)
    idle = [in_netns(mdev.ns, connect) for _ in range(3)]
    try:
        idle[0].sendall(b"GET /met")  # half a request line
        assert fetch(mdev)[0] == 200
        assert mdev.cat("/net/ipifc/0/status").startswith("device /net/ether0 ")
    finally:
        for s in idle:
            s.close()


def test_dpdk_telemetry_still_answers(mdev):
    r = subprocess.run(["dpdk-telemetry.py", "-f", "devip%d" % mdev.proc.pid],
                       input="/ethdev/list\n", capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    replies = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
    assert {"/ethdev/list": [0]} in replies, r.stdout


@pytest.mark.parametrize("spec,err", [
    ("70000", "devipd: bad metrics port 70000"),
    ("1.2.3:9000", "devipd: bad metrics address 1.2.3"),
])
def test_bad_metrics_address_is_a_usage_error(spec, err):
    d = Devip(opts=["--metrics", spec])
    try:
        r = d.run_to_exit()
        assert r.returncode == 2
        assert err in r.stderr.splitlines()
    finally:
        d.close()


def test_a_slow_reader_gets_the_whole_page_and_blocks_nothing(mdev):
    """A big page (every stack) to a client with a small receive buffer that does not read
    yet: others are served meanwhile, and it gets the whole page when it reads. (A reply
    larger than the kernel's buffers is unittests' MetricsHttp test.)"""
    for n in range(1, 16):  # every stack adds its families' samples: a page of ~100 KB
        mdev.ipctl("-n", str(n), "cat", "/net/ipifc/stats")

    def slow():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        s.settimeout(10)
        s.connect(("127.0.0.1", PORT))
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: devip\r\n\r\n")
        return s
    s = in_netns(mdev.ns, slow)
    try:
        status, _, body = fetch(mdev)  # answered while the first reply waits
        assert status == 200 and len(body) > 65536, len(body)
        assert mdev.cat("/net/ipifc/0/status").startswith("device /net/ether0 ")
        got = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    finally:
        s.close()
    head, _, page = got.partition(b"\r\n\r\n")
    length = int(re.search(rb"\r\nContent-Length: (\d+)", head).group(1))
    assert len(page) == length > 65536
    assert {f.name for f in text_string_to_metric_families(page.decode())} == \
        {f.name for f in text_string_to_metric_families(body)}
