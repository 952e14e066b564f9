"""/net/esp against DPDK's ipsec-secgw (built from Debian's dpdk-doc by
scripts/build-secgw.sh), the independent ESP that checks ICVs, padding and next headers and,
on its librte_ipsec path, anti-replay and ESN (ipsec-interop.md §3; issue 9 §5):
- packets devip encrypted, captured on its tap and given to ipsec-secgw as a net_pcap file,
  come out of it decrypted, and packets ipsec-secgw encrypted are decrypted by devip;
- the same with ESN across the 2^32 boundary, both ways;
- one live exchange over net_memif: Linux programs behind ipsec-secgw talk to /net/esp."""
import os
import signal
import socket
import struct
import subprocess

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.ipsec import ESP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import rdpcap, wrpcap

from conftest import DEVIP_IP, LINUX_IP, LINUX_MAC, REPO, in_netns, wait_for
from test_esp import Conv, esp_frames

SECGW_MAC = "02:5e:c0:00:00:01"   # the neighbour ipsec-secgw sends decrypted packets to

# devip's esp/ah names and hex keys -> ipsec-secgw's SA keywords (keys as aa:bb:..)
ALGS = {
    "aes_128_gcm": ("aes_128_gcm", "2b7e151628aed2a6abf7158809cf4f3c" "deadbeef", "null", "",
                    "aead_algo aes-128-gcm aead_key {c}"),
    "aes_256_gcm": ("aes_256_gcm", "000102030405060708090a0b0c0d0e0f"
                    "101112131415161718191a1b1c1d1e1f" "cafef00d", "null", "",
                    "aead_algo aes-256-gcm aead_key {c}"),
    "aes_128_cbc+hmac_sha1_96": (
        "aes_128_cbc", "00112233445566778899aabbccddeeff", "hmac_sha1_96",
        "0102030405060708090a0b0c0d0e0f1011121314",
        "cipher_algo aes-128-cbc cipher_key {c} auth_algo sha1-hmac auth_key {a}"),
    "aes_ctr+hmac_sha2_256_128": (
        "aes_ctr", "0f0e0d0c0b0a09080706050403020100" "c0c1c2c3", "hmac_sha2_256_128",
        "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
        "cipher_algo aes-128-ctr cipher_key {c} auth_algo sha256-hmac auth_key {a}"),
    "chacha20_poly1305": ("chacha20_poly1305", "00" * 16 + "11" * 16 + "d0d1d2d3", "null", "",
                          "aead_algo chacha20-poly1305 aead_key {c}"),
}
# What ipsec-secgw's legacy path takes (the rest run on its librte_ipsec path, -l)
LEGACY = {"aes_128_gcm", "aes_128_cbc+hmac_sha1_96"}


def colons(h):
    return ":".join(h[i:i + 2] for i in range(0, len(h), 2))


def sa_line(direction, spi, name, src, dst, extra=""):
    _, ckey, _, akey, kw = ALGS[name]
    return "sa %s %d %s mode ipv4-tunnel src %s dst %s %s\n" % (
        direction, spi, kw.format(c=colons(ckey), a=colons(akey)), src, dst, extra)


def inner(i, src="10.9.0.1", dst="10.9.0.2", size=40):
    return IP(src=src, dst=dst, id=100 + i, ttl=64) / UDP(sport=4000 + i, dport=5000) / \
        Raw(bytes((i + j) & 0xff for j in range(size)))


def pcap_count(path):
    """Records in a pcap file ipsec-secgw is still writing (net_pcap flushes every burst)."""
    try:
        b = open(path, "rb").read()
    except FileNotFoundError:
        return 0
    n, off = 0, 24
    while off + 16 <= len(b):
        caplen = struct.unpack_from("<I", b, off + 8)[0]
        if off + 16 + caplen > len(b):
            break
        off += 16 + caplen
        n += 1
    return n


_seq = 0


class Secgw:
    """One ipsec-secgw: port 0 and port 1 as given (vdev strings), crypto_aesni_mb."""

    def __init__(self, binary, tmp, cfg, port0, port1, unprotected, lib=False, esn=False,
                 netns=None):
        global _seq
        _seq += 1
        self.prefix = "devsg%d_%d" % (os.getpid(), _seq)
        self.cfg = os.path.join(tmp, "secgw%d.cfg" % _seq)
        with open(self.cfg, "w") as f:
            f.write(cfg)
        self.log = os.path.join(tmp, "secgw%d.log" % _seq)
        core = os.cpu_count() - 1
        argv = [binary, "--no-huge", "-m", "512", "--no-pci", "--file-prefix", self.prefix,
                "-l", str(core), "--vdev", "crypto_aesni_mb0", "--vdev", port0,
                "--vdev", port1, "--", "-p", "0x3", "-P", "-u", "0x%x" % unprotected,
                "--config", "(0,0,%d),(1,0,%d)" % (core, core), "-f", self.cfg]
        if lib or esn:
            argv += ["-l", "-w", "64"]
        if esn:
            argv += ["-e"]
        if netns:
            argv = ["ip", "netns", "exec", netns] + argv
        self.proc = subprocess.Popen(argv, stdout=open(self.log, "w"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def text(self):
        return open(self.log).read()

    def running(self):
        """Waits until its lcore loop started; fails with its log if it exited first."""
        ok = wait_for(lambda: self.proc.poll() is not None or
                      "entering main loop" in self.text(), 30)
        assert ok and self.proc.poll() is None, "ipsec-secgw did not start:\n" + self.text()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        subprocess.run(["rm", "-rf", "/var/run/dpdk/" + self.prefix])


@pytest.fixture(scope="module")
def secgw_bin():
    r = subprocess.run(["bash", os.path.join(REPO, "scripts/build-secgw.sh")],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().splitlines()[-1]


@pytest.fixture
def esp_host(host):
    host.quiet = host.ns_socket(socket.AF_INET, socket.SOCK_RAW, 50)
    yield host
    host.quiet.close()


def run_pcap(secgw_bin, tmp, cfg, rx, unprotected, want, wait=20, **kw):
    """ipsec-secgw reading rx (a pcap) on the port in `unprotected` (mask 1: port 0 is the
    ESP side) and writing what it sends on the other port; returns those frames."""
    rxport, txport = (0, 1)
    out = os.path.join(tmp, "out%d.pcap" % (_seq + 1))
    g = Secgw(secgw_bin, tmp, cfg, "net_pcap%d,rx_pcap=%s" % (rxport, rx),
              "net_pcap%d,tx_pcap=%s" % (txport, out), unprotected, **kw)
    try:
        g.running()
        wait_for(lambda: pcap_count(out) >= want, wait)
    finally:
        g.stop()
    return [Ether(bytes(p)) for p in rdpcap(out)] if os.path.exists(out) else [], g


def decrypt_cfg(name, spi, esn=None):
    """ipsec-secgw taking ESP from devip (DEVIP_IP -> LINUX_IP) on port 0, sending the inner
    packets to 10.9.0.0/16 out of port 1."""
    extra = "esn %d" % esn if esn is not None else ""
    return ("sp ipv4 in esp protect %d pri 1 dst 10.9.0.0/16 sport 0:65535 dport 0:65535\n"
            % spi + sa_line("in", spi, name, DEVIP_IP, LINUX_IP, extra) +
            "sp ipv4 out esp protect 777 pri 1 dst 10.77.0.0/16 sport 0:65535 dport 0:65535\n" +
            sa_line("out", 777, name, LINUX_IP, "198.18.77.1") +
            "rt ipv4 dst 10.9.0.0/16 port 1\nrt ipv4 dst 198.18.77.0/24 port 0\n"
            "neigh port 1 %s\nneigh port 0 %s\n" % (SECGW_MAC, SECGW_MAC))


def encrypt_cfg(name, spi, devip_mac, esn=None):
    """ipsec-secgw taking plain packets to 10.9.0.0/16 on port 0 and sending them as ESP
    (LINUX_IP -> DEVIP_IP) to devip's MAC out of port 1."""
    extra = "esn %d" % esn if esn is not None else ""
    return ("sp ipv4 out esp protect %d pri 1 dst 10.9.0.0/16 sport 0:65535 dport 0:65535\n"
            % spi + sa_line("out", spi, name, LINUX_IP, DEVIP_IP, extra) +
            "sp ipv4 in esp protect 778 pri 1 dst 10.78.0.0/16 sport 0:65535 dport 0:65535\n" +
            sa_line("in", 778, name, "198.18.78.1", LINUX_IP) +
            "rt ipv4 dst %s/32 port 1\nrt ipv4 dst 10.78.0.0/16 port 0\n"
            "neigh port 1 %s\nneigh port 0 %s\n" % (DEVIP_IP, devip_mac, SECGW_MAC))


def devip_sa(d, name, connect, spi=None, seq=None, esn=False):
    """A keyed /net/esp conversation: connect, then (inbound) spi, esn, keys, seq."""
    ealg, ckey, aalg, akey, _ = ALGS[name]
    c = Conv(d)
    c.ctl("connect " + connect)
    if spi is not None:
        c.ctl("spi %d" % spi)
    if esn:
        c.ctl("esn")
    c.ctl(("esp %s %s" % (ealg, ckey)).strip())
    c.ctl(("ah %s %s" % (aalg, akey)).strip())
    if seq is not None:
        c.ctl("seq %d" % seq)
    return c


def devip_out(d, name, spi, seq=None, esn=False, peer=LINUX_IP):
    return devip_sa(d, name, "%s!%d" % (peer, spi), seq=seq, esn=esn)


def devip_in(d, name, spi, seq=None, esn=False, peer=LINUX_IP):
    return devip_sa(d, name, "%s!*" % peer, spi=spi, seq=seq, esn=esn)


def same_inner(got, sent):
    """ipsec-secgw forwards the inner packet as a router: TTL one less, checksum updated."""
    g, s = IP(bytes(got)), IP(bytes(sent))
    assert (g.src, g.dst, g.id) == (s.src, s.dst, s.id)
    assert g.ttl in (s.ttl, s.ttl - 1)
    assert bytes(g.payload) == bytes(s.payload)
    c = g.copy()
    del c.chksum
    assert IP(bytes(c)).chksum == g.chksum


def devip_to_secgw(d, secgw_bin, tmp, name, spi, n=8, seq=None, esn=None):
    w = d.wire()
    c = devip_out(d, name, spi, seq=seq, esn=esn is not None)
    w.drain()
    sent = [inner(i, size=40 + 97 * i) for i in range(n)]
    for p in sent:
        c.write(bytes(p))
    got = esp_frames(w.recv(until=lambda g: len(esp_frames(g)) >= n, timeout=10))
    assert len(got) == n
    rx = os.path.join(tmp, "esp-%s.pcap" % name)
    wrpcap(rx, got)
    out, g = run_pcap(secgw_bin, tmp, decrypt_cfg(name, spi, esn), rx, 0x1, n,
                      lib=name not in LEGACY, esn=esn is not None)
    assert len(out) == n, "ipsec-secgw passed %d of %d:\n%s" % (len(out), n, g.text())
    for o, s in zip(out, sent):
        assert o[Ether].dst == SECGW_MAC
        same_inner(o[IP], s)
    c.close()
    return got


def secgw_to_devip(d, secgw_bin, tmp, name, spi, n=8, seq=None, esn=None):
    sent = [Ether(dst=SECGW_MAC, src=LINUX_MAC) / inner(i, size=40 + 97 * i)
            for i in range(n)]
    rx = os.path.join(tmp, "plain-%s.pcap" % name)
    wrpcap(rx, sent)
    out, g = run_pcap(secgw_bin, tmp, encrypt_cfg(name, spi, colons(d.mac), esn), rx, 0x2,
                      n, lib=name not in LEGACY, esn=esn is not None)
    assert len(out) == n, "ipsec-secgw encrypted %d of %d:\n%s" % (len(out), n, g.text())
    for o in out:
        assert o[IP].proto == 50 and o[ESP].spi == spi, o.show(dump=True)
    c = devip_in(d, name, spi, seq=seq, esn=esn is not None)
    w = d.wire()
    w.send([bytes(Ether(dst=bytes.fromhex(d.mac), src=LINUX_MAC) / o[IP]) for o in out])
    for s in sent:
        same_inner(c.read(), s[IP])
    st = c.stats()
    assert st["Packets"] == str(n), st
    assert st["IcvFailures"] == "0" and st["ReplayDrops"] == "0", st
    c.close()
    return out


@pytest.mark.parametrize("name", list(ALGS))
def test_secgw_decrypts_devip(esp_host, secgw_bin, tmp_path, name):
    devip_to_secgw(esp_host, secgw_bin, str(tmp_path), name, 0x1100)


@pytest.mark.parametrize("name", list(ALGS))
def test_devip_decrypts_secgw(esp_host, secgw_bin, tmp_path, name):
    secgw_to_devip(esp_host, secgw_bin, str(tmp_path), name, 0x1200)


@pytest.mark.parametrize("name", ["aes_128_gcm", "aes_128_cbc+hmac_sha1_96"])
def test_esn_across_2_32_devip_to_secgw(esp_host, secgw_bin, tmp_path, name):
    # devip's last sequence number sent is 2^32 - 4: its 8 packets carry 2^32-3 .. 2^32+4,
    # the high half only in the ICV (or the GCM AAD); ipsec-secgw's window starts at 2^32-5
    got = devip_to_secgw(esp_host, secgw_bin, str(tmp_path), name, 0x1300,
                         seq=2**32 - 4, esn=2**32 - 5)
    assert [e[ESP].seq for e in got] == [(2**32 - 3 + i) & 0xffffffff for i in range(8)]


@pytest.mark.parametrize("name", ["aes_128_gcm", "aes_128_cbc+hmac_sha1_96"])
def test_esn_across_2_32_secgw_to_devip(esp_host, secgw_bin, tmp_path, name):
    out = secgw_to_devip(esp_host, secgw_bin, str(tmp_path), name, 0x1400,
                         seq=2**32 - 5, esn=2**32 - 5)
    seqs = [o[ESP].seq for o in out]
    assert seqs[0] > 2**31 and seqs[-1] < 16, seqs   # the low half wrapped on the wire


def test_without_esn_secgw_rejects_devip_esn(esp_host, secgw_bin, tmp_path):
    # The check above can fail: the same ESN packets to an ipsec-secgw without -e fail ICV
    d = esp_host
    w = d.wire()
    c = devip_out(d, "aes_128_gcm", 0x1500, seq=2**32 + 10, esn=True)
    w.drain()
    c.write(bytes(inner(0)))
    got = esp_frames(w.recv(until=lambda g: len(esp_frames(g)) >= 1, timeout=10))
    rx = os.path.join(str(tmp_path), "esn.pcap")
    wrpcap(rx, got)
    out, _ = run_pcap(secgw_bin, str(tmp_path), decrypt_cfg("aes_128_gcm", 0x1500), rx,
                      0x1, 1, wait=3, lib=True)
    assert out == []
    c.close()


MEMIF_CONF = """\
/net/ipifc/clone bind ether /net/ether0
/net/ipifc/0/ctl add 198.18.0.1 255.255.255.0
/net/ipifc/clone bind ether /net/ether1
/net/ipifc/1/ctl add 198.18.50.1 255.255.255.0
/net/arp add ether 198.18.50.2 021850000002
"""


@pytest.mark.parametrize("name", ["aes_128_gcm", "aes_128_cbc+hmac_sha1_96"])
def test_live_over_memif(devip_factory, secgw_bin, tmp_path, name):
    """devip's ether1 is a net_memif server; ipsec-secgw (client) joins it to a net_tap in
    a namespace where Linux is 10.9.0.2. Linux's ping and a UDP socket reach 10.9.0.1, an
    address only /net/esp conversations speak for: what Linux sends arrives decrypted in
    devip's inbound conversation, what devip writes to its outbound one reaches Linux."""
    tmp = str(tmp_path)
    os.chmod(tmp, 0o755)
    sockpath = os.path.join(tmp, "memif.sock")
    d = devip_factory(config=MEMIF_CONF, eal=[
        "--vdev=net_memif0,role=server,socket=%s,socket-abstract=no,id=0,"
        "mac=02:18:50:00:00:01" % sockpath])
    ns = "devsgl%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", ns], check=True)
    g = None
    try:
        cfg = ("sp ipv4 out esp protect 5633 pri 1 dst 10.9.0.1/32 sport 0:65535 dport 0:65535\n"
               + sa_line("out", 5633, name, "198.18.50.2", "198.18.50.1") +
               "sp ipv4 in esp protect 5634 pri 1 dst 10.9.0.2/32 sport 0:65535 dport 0:65535\n"
               + sa_line("in", 5634, name, "198.18.50.1", "198.18.50.2") +
               "rt ipv4 dst 198.18.50.1/32 port 1\nrt ipv4 dst 10.9.0.2/32 port 0\n"
               "neigh port 1 02:18:50:00:00:01\nneigh port 0 02:5e:00:00:00:0a\n")
        g = Secgw(secgw_bin, tmp, cfg, "net_tap0,iface=sgtap0,mac=%s" % SECGW_MAC,
                  "net_memif0,role=client,socket=%s,socket-abstract=no,id=0,"
                  "mac=02:18:50:00:00:02" % sockpath, 0x2, netns=ns)
        g.running()

        def sh(cmd):
            subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", cmd], check=True)
        sh("sysctl -qw net.ipv6.conf.all.disable_ipv6=1; ip link set lo up; "
           "ip link set sgtap0 down; ip link set sgtap0 address 02:5e:00:00:00:0a; "
           "ip addr add 10.9.0.2/24 dev sgtap0; ip link set sgtap0 up; "
           "ip neigh replace 10.9.0.1 lladdr %s dev sgtap0 nud permanent" % SECGW_MAC)
        inn = devip_in(d, name, 5633, peer="198.18.50.2")
        out = devip_out(d, name, 5634, peer="198.18.50.2")

        # a UDP datagram from a Linux socket
        def mk():
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("10.9.0.2", 5000))
            s.settimeout(10)
            return s
        u = in_netns(ns, mk)
        u.sendto(b"from linux through ipsec-secgw", ("10.9.0.1", 4000))
        p = IP(inn.read())
        assert p.src == "10.9.0.2" and p[UDP].dport == 4000
        assert bytes(p[UDP].payload) == b"from linux through ipsec-secgw"
        # devip's answer, written as an inner packet, reaches the socket
        out.write(bytes(IP(src="10.9.0.1", dst="10.9.0.2", ttl=64) /
                        UDP(sport=4000, dport=5000) / Raw(b"from devip")))
        data, addr = u.recvfrom(2000)
        assert data == b"from devip" and addr == ("10.9.0.1", 4000)
        u.close()
        # Linux's ping: its echo request arrives in devip's conversation, the reply we
        # write goes back through ipsec-secgw
        ping = subprocess.Popen(["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "10",
                                 "10.9.0.1"], stdout=subprocess.PIPE, text=True)
        req = IP(inn.read())
        assert ICMP in req and req[ICMP].type == 8
        rep = IP(src="10.9.0.1", dst=req.src, ttl=64) / ICMP(type=0, id=req[ICMP].id,
                                                            seq=req[ICMP].seq) / \
            req[ICMP].payload
        out.write(bytes(rep))
        assert ping.wait(15) == 0, ping.stdout.read()
        st = inn.stats()
        assert st["Packets"] == "2" and st["IcvFailures"] == "0", st
        assert out.stats()["Packets"] == "2"
        inn.close()
        out.close()
    finally:
        if g:
            g.stop()
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
