"""Tunnel interfaces on the workers (issue 9 §4): `bind esp` and `bind gre` on /net/ipifc.

hostH (198.18.1.2/24) -- dtap0 -- devip ether0 198.18.1.1 | ether1 198.18.2.1 -- dtap1 --
the far gateway: this test process with scapy on dtap1's Linux side, outer address
198.18.2.2, inner network 198.19.5.0/24 behind it (scapy's SecurityAssociation in tunnel
mode, or GRE). devip routes 198.19.5.0/24 into the tunnel interface; hostH pings through it
and the gateway answers for 198.19.5.2. The tunnel's status line shows the workers did it.
"""
import re
import subprocess
import threading
import time

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
from scapy.layers.ipsec import ESP, SecurityAssociation
from scapy.layers.l2 import ARP, GRE, Ether
from scapy.packet import Raw
from scapy.utils import wrpcap

import ninep
from conftest import Devip, linux_mac, parse_stats, wait_for
from hosts_util import Hosts
from test_esp import Conv

CONF = """\
/net/ipifc/clone bind ether /net/ether0
/net/ipifc/0/ctl add 198.18.1.1 255.255.255.0
/net/ipifc/0/ctl add 2001:2:0:1::1 /64
/net/ipifc/clone bind ether /net/ether1
/net/ipifc/1/ctl add 198.18.2.1 255.255.255.0
/net/ipifc/0/ctl iprouting 1
"""
DEV_OUTER, GW_OUTER, GW_MAC = "198.18.2.1", "198.18.2.2", linux_mac(1)
HOST, FAR = "198.18.1.2", "198.19.5.2"
HOST6, FAR6 = "2001:2:0:1::2", "2001:2:0:5::2"
SPI_OUT, SPI_IN = 0x1001, 0x2001  # devip -> gateway, gateway -> devip

# devip esp/ah (name, hex key) -> scapy's names; tshark's when 4.0 has the algorithm
ALGS = {
    "aes_128_gcm": ("aes_128_gcm", "000102030405060708090a0b0c0d0e0f" "a0a1a2a3", "null", "",
                    "AES-GCM", None, "AES-GCM with 16 octet ICV [RFC4106]", "NULL"),
    "aes_256_gcm": ("aes_256_gcm", "11" * 32 + "b0b1b2b3", "null", "", "AES-GCM", None,
                    "AES-GCM with 16 octet ICV [RFC4106]", "NULL"),
    "aes_128_cbc+hmac_sha1_96": (
        "aes_128_cbc", "00112233445566778899aabbccddeeff", "hmac_sha1_96",
        "0102030405060708090a0b0c0d0e0f1011121314", "AES-CBC", "HMAC-SHA1-96",
        "AES-CBC [RFC3602]", "HMAC-SHA-1-96 [RFC2404]"),
    "aes_256_cbc+hmac_sha2_512_256": (
        "aes_256_cbc", "22" * 32, "hmac_sha2_512_256", "33" * 64, "AES-CBC", "SHA2-512-256",
        "AES-CBC [RFC3602]", "HMAC-SHA-512-256 [RFC4868]"),
    "aes_ctr+hmac_sha2_256_128": (
        "aes_ctr", "0f0e0d0c0b0a09080706050403020100" "c0c1c2c3", "hmac_sha2_256_128",
        "20" * 32, "AES-CTR", "SHA2-256-128", "AES-CTR [RFC3686]",
        "HMAC-SHA-256-128 [RFC4868]"),
    "des3_cbc+hmac_sha2_384_192": (
        "des3_cbc", "0123456789abcdef" "fedcba9876543210" "89abcdef01234567",
        "hmac_sha2_384_192", "44" * 48, "3DES", "SHA2-384-192", "TripleDES-CBC [RFC2451]",
        "HMAC-SHA-384-192 [RFC4868]"),
    "des_56_cbc+hmac_md5_96": (
        "des_56_cbc", "0123456789abcdef", "hmac_md5_96", "55" * 16, "DES", "HMAC-MD5-96",
        "DES-CBC [RFC2405]", "HMAC-MD5-96 [RFC2403]"),
    "null+hmac_sha2_256_128": (
        "null", "", "hmac_sha2_256_128", "66" * 32, "NULL", "SHA2-256-128", "NULL",
        "HMAC-SHA-256-128 [RFC4868]"),
    "chacha20_poly1305": ("chacha20_poly1305", "77" * 32 + "d0d1d2d3", "null", "",
                          "CHACHA20-POLY1305", None, None, None),
}


def sa_for(name, spi, src, dst, natt=False):
    _, ckey, _, akey, calg, aalg, _, _ = ALGS[name]
    return SecurityAssociation(ESP, spi=spi, crypt_algo=calg, crypt_key=bytes.fromhex(ckey),
                               auth_algo=aalg or "NULL",
                               auth_key=bytes.fromhex(akey) if akey else None,
                               tunnel_header=IP(src=src, dst=dst),
                               nat_t_header=UDP(sport=4500, dport=4500) if natt else None)


def status(d, n):
    """The tunnel interface's first status line as a dict (9front's fields, then ours)."""
    line = d.cat("/net/ipifc/%d/status" % n).splitlines()[0].split()
    return dict(zip(line[::2], line[1::2]))


class Gateway(threading.Thread):
    """The far gateway on dtap1: answers ARP for its outer address, takes devip's tunnel
    packets apart (scapy decrypts, checking the ICV; or GRE) and answers echo requests to
    FAR through the tunnel."""

    def __init__(self, d):
        super().__init__(daemon=True)
        self.wire = d.wire(1)
        self.devmac = bytes.fromhex(d.cat("/net/ether1/addr"))
        self.lock = threading.Lock()
        self.mode = None
        self.rx = self.tx = None    # SAs: devip -> us, us -> devip
        self.grekey = None
        self.outer = []             # devip's tunnel frames as received
        self.inner = []             # what was inside them
        self.errors = []
        self.unreach = 0            # ICMP unreachables devip sent us
        self.running = True
        self.start()

    def esp(self, name, natt=False):
        with self.lock:
            self.mode = "esp"
            self.natt = natt
            self.rx = {SPI_OUT: sa_for(name, SPI_OUT, DEV_OUTER, GW_OUTER)}  # by SPI
            self.tx = sa_for(name, SPI_IN, GW_OUTER, DEV_OUTER, natt)
            self.outer, self.inner, self.errors = [], [], []

    def gre(self, key=None):
        with self.lock:
            self.mode = "gre"
            self.grekey = key
            self.outer, self.inner, self.errors = [], [], []

    def frame(self, ip):
        return Ether(dst=self.devmac, src=GW_MAC) / ip

    def seal(self, inner):
        """inner through the tunnel toward devip, as an Ethernet frame (bytes)."""
        if self.mode == "esp":
            return bytes(self.frame(self.tx.encrypt(inner)))
        g = GRE(key_present=1, key=self.grekey) if self.grekey is not None else GRE()
        g.proto = 0x86dd if isinstance(inner, IPv6) else 0x0800
        return bytes(self.frame(IP(src=GW_OUTER, dst=DEV_OUTER) / g / inner))

    def send(self, frames):
        self.wire.send(frames)

    def stop(self):
        self.running = False
        self.join(5)

    def run(self):
        while self.running:
            for f in self.wire.recv(until=lambda g: len(g) > 0, timeout=0.2):
                try:
                    self.handle(Ether(f))
                except Exception as e:  # noqa: BLE001: reported by the test
                    self.errors.append(repr(e))

    def handle(self, e):
        if ARP in e and e[ARP].op == 1 and e[ARP].pdst == GW_OUTER:
            self.send([bytes(Ether(dst=e.src, src=GW_MAC) / ARP(
                op=2, hwsrc=GW_MAC, psrc=GW_OUTER, hwdst=e.src, pdst=e[ARP].psrc))])
            return
        if IP not in e or e[IP].dst != GW_OUTER:
            return
        if ICMP in e and e[ICMP].type == 3 and e[IP].proto == 1:
            self.unreach += 1  # devip refused something we sent
            return
        with self.lock:
            if self.mode == "esp" and (e[IP].proto == 50 or (
                    self.natt and UDP in e and e[UDP].dport == 4500)):
                self.outer.append(e.copy())  # decrypt changes what it is given
                inner = self.rx[e[ESP].spi].decrypt(e[IP])  # raises on a bad ICV
            elif self.mode == "gre" and e[IP].proto == 47:
                self.outer.append(e.copy())
                inner = e[GRE].payload
            else:
                return
            raw = bytes(inner)
            if raw[0] >> 4 == 6:
                inner = IPv6(raw)
                self.inner.append(inner)
                if ICMPv6EchoRequest in inner and inner.dst == FAR6:
                    q = inner[ICMPv6EchoRequest]
                    self.send([self.seal(IPv6(src=FAR6, dst=inner.src, hlim=64) /
                                         ICMPv6EchoReply(id=q.id, seq=q.seq, data=q.data))])
                return
            inner = IP(raw)
            self.inner.append(inner)
            if ICMP in inner and inner[ICMP].type == 8 and inner.dst == FAR:
                reply = IP(src=FAR, dst=inner.src, ttl=64) / ICMP(
                    type=0, id=inner[ICMP].id, seq=inner[ICMP].seq) / inner[ICMP].payload
                self.send([self.seal(reply)])


class Net(Hosts):
    def __init__(self, opts=()):
        self.d = Devip(ports=2, config=CONF, linux_addrs={}, opts=opts)
        self.names = []

    def start(self):
        self.d.start()
        ns = self.d.ns + "H"
        subprocess.run(["ip", "netns", "add", ns], check=True)
        self.names.append(ns)
        self.d.ns_run("ip link set dtap0 netns %s" % ns)
        self.run("H", "ip link set lo up; ip link set dtap0 address %s; "
                      "ip addr add %s/24 dev dtap0; ip link set dtap0 up; "
                      "ip route add default via 198.18.1.1; "
                      "sysctl -qw net.ipv6.conf.dtap0.disable_ipv6=0; "
                      "ip -6 addr add %s/64 dev dtap0 nodad; "
                      "ip -6 route add default via 2001:2:0:1::1" % (linux_mac(0), HOST, HOST6))
        self.gw = Gateway(self.d)
        return self

    def close(self):
        self.gw.stop()
        super().close()

    def ping(self, n, extra="", to=FAR):
        return self.run("H", "ping -n -c %d -i 0.05 -W 5 %s %s" % (n, extra, to),
                        check=False).stdout.decode()

    def warm(self, to=FAR):
        """Pings until one round loses nothing (neighbours resolved on both sides; a loaded
        machine may drop one of the first): the output of the last round."""
        for _ in range(3):
            out = self.ping(3, to=to)
            if " 0% packet loss" in out:
                break
        return out


@pytest.fixture(scope="module")
def net():
    n = Net().start()
    yield n
    n.close()


def esp_tunnel(d, name, natt=False, out_ctl=(), in_ctl=()):
    """Keyed /net/esp conversations and a tunnel interface of them; returns (ifc number,
    out conv, in conv): the convs' sessions stay open (the test closes them). out_ctl:
    more ctl messages for the outbound conversation before the bind."""
    ealg, ckey, aalg, akey = ALGS[name][:4]
    out, inn = Conv(d), Conv(d)
    out.ctl("connect %s!%d" % (GW_OUTER, SPI_OUT))
    inn.ctl("connect %s!*" % GW_OUTER)
    inn.ctl("spi %d" % SPI_IN)
    for m in out_ctl:
        out.ctl(m)
    for m in in_ctl:
        inn.ctl(m)
    for c in (out, inn):
        c.ctl(("esp %s %s" % (ealg, ckey)).strip())
        c.ctl(("ah %s %s" % (aalg, akey)).strip())
    ifc = Conv(d, "ipifc")
    ifc.ctl("bind esp /net/esp/%d /net/esp/%d%s" % (out.n, inn.n, " natt" if natt else ""))
    n = ifc.n
    ifc.ctl("add 198.19.0.1 255.255.255.0")
    ifc.close()
    d.ipctl("write", "/net/iproute", "add 198.19.5.0 255.255.255.0 198.19.0.2")
    return n, out, inn


def unbind(d, n):
    d.ipctl("write", "/net/ipifc/%d/ctl" % n, "unbind")


def counts(st):
    return {k: int(st[k]) for k in ("inpkts", "outpkts", "fastin", "fastout", "replay", "icv",
                                    "rpf", "errors")}


@pytest.mark.parametrize("name", list(ALGS))
def test_esp_tunnel_both_ways_on_the_workers(net, name):
    d = net.d
    net.gw.esp(name)
    n, out, inn = esp_tunnel(d, name)
    try:
        st = status(d, n)
        assert st["device"] == "/net/esp/%d" % out.n
        out.close()  # held by the interface: closing the fds frees nothing
        warm = net.warm()  # resolves the neighbours on both sides
        assert " 0% packet loss" in warm, (warm, net.gw.errors, d.log())
        before = counts(status(d, n))
        got = net.ping(20)
        assert " 20 received" in got, (got, net.gw.errors)
        assert "ttl=63" in got  # one router hop: devip decremented the inner TTL once
        after = counts(status(d, n))
        # every one of the 20 each way was done by a worker, none by the control thread
        assert after["outpkts"] - before["outpkts"] == 20, (before, after)
        assert after["fastout"] - before["fastout"] == 20, (before, after)
        assert after["inpkts"] - before["inpkts"] == 20, (before, after)
        assert after["fastin"] - before["fastin"] == 20, (before, after)
        assert not net.gw.errors, net.gw.errors
        assert int(st["maxtu"]) < 1500 - 20
        # the conversations' own counters are the control thread's: they did not move
        assert inn.stats()["Packets"] == "0"
    finally:
        unbind(d, n)
        inn.close()


def test_sa_lifetime_in_packets_on_the_workers(net):
    # RFC 4301 §4.4.2.1 hard lifetime: the workers stop using the outbound SA after 12
    # packets and count what they refuse; the inbound SA goes on
    d = net.d
    name = "aes_128_gcm"
    net.gw.esp(name)
    n, out, inn = esp_tunnel(d, name, out_ctl=["lifetime packets 12"])
    try:
        warm = net.warm()
        assert " 0% packet loss" in warm, (warm, net.gw.errors, d.log())
        used = int(out.stats()["Used"].split()[1])
        assert 3 <= used < 12
        got = net.ping(20 - used)
        assert " %d received" % (12 - used) in got, (got, out.stats())
        st = out.stats()
        assert st["Error"] == "security association expired", st
        assert st["Used"].startswith("packets 12 "), st
        assert int(st["ExpiredDrops"]) == 8, st
        # the tunnel counts the refused packets among its errors, on the workers
        assert int(status(d, n)["errors"]) >= 8
        assert "Error" not in inn.stats()
    finally:
        unbind(d, n)
        inn.close()


@pytest.mark.parametrize("kind", ["esp", "gre"])
def test_ipv6_inside_ipv4_on_the_workers(net, kind):
    d = net.d
    if kind == "esp":
        net.gw.esp("aes_128_gcm")
        n, out, inn = esp_tunnel(d, "aes_128_gcm")
        out.close()
        inn.close()
    else:
        net.gw.gre()
        ifc = Conv(d, "ipifc")
        ifc.ctl("bind gre %s %s" % (DEV_OUTER, GW_OUTER))
        n = ifc.n
        ifc.close()
    d.ipctl("write", "/net/ipifc/%d/ctl" % n, "add 2001:2:0:9::1 /64")
    d.ipctl("write", "/net/iproute", "add 2001:2:0:5:: /64 2001:2:0:9::2")
    try:
        warm = net.warm(to=FAR6)
        assert " 0% packet loss" in warm, (warm, net.gw.errors)
        before = counts(status(d, n))
        got = net.ping(10, to=FAR6)
        assert " 10 received" in got, got
        assert "ttl=63" in got  # the hop limit fell by one
        after = counts(status(d, n))
        assert after["fastout"] - before["fastout"] == 10, (before, after)
        assert after["fastin"] - before["fastin"] == 10, (before, after)
        assert isinstance(net.gw.inner[-1], IPv6)
    finally:
        unbind(d, n)


def test_replay_bad_icv_and_rpf_counted(net):
    d = net.d
    gw = net.gw
    gw.esp("aes_128_gcm")
    n, out, inn = esp_tunnel(d, "aes_128_gcm")
    try:
        assert " 0% packet loss" in net.warm(), gw.errors
        before = counts(status(d, n))
        echo = IP(src=FAR, dst=HOST) / UDP(sport=7, dport=9) / Raw(b"x" * 20)
        good = gw.seal(echo)
        bad = bytearray(gw.seal(echo))
        bad[14 + 20 + 8 + 8 + 3] ^= 1  # a ciphertext bit
        spoof = gw.seal(IP(src="198.18.77.1", dst=HOST) / UDP(sport=7, dport=9))
        gw.send([good, good, bytes(bad), spoof])
        assert wait_for(lambda: counts(status(d, n))["rpf"] > before["rpf"], 5)
        after = counts(status(d, n))
        assert after["replay"] - before["replay"] == 1, (before, after)
        assert after["icv"] - before["icv"] == 1, (before, after)
        assert after["rpf"] - before["rpf"] == 1, (before, after)
        assert after["inpkts"] - before["inpkts"] == 1, (before, after)
    finally:
        unbind(d, n)
        out.close()
        inn.close()


def test_too_big_with_df_gets_frag_needed_with_tunnel_mtu(net):
    d = net.d
    net.gw.esp("aes_128_gcm")
    n, out, inn = esp_tunnel(d, "aes_128_gcm")
    try:
        maxtu = int(status(d, n)["maxtu"])
        # 1500 less the outer header, SPI and sequence, IV, padding, trailer, ICV
        assert maxtu == 1500 - 20 - (8 + 8 + 3 + 2 + 16)
        assert " 0% packet loss" in net.warm()
        r = net.ping(1, "-M do -s %d" % (maxtu - 28 + 1))
        assert "mtu=%d" % maxtu in r or "mtu = %d" % maxtu in r, r
        r = net.ping(2, "-M do -s %d" % (maxtu - 28))
        assert " 0% packet loss" in r, r
    finally:
        unbind(d, n)
        out.close()
        inn.close()


def test_outer_frag_needed_lowers_the_tunnel_mtu(net):
    d = net.d
    gw = net.gw
    gw.esp("aes_128_gcm")
    n, out, inn = esp_tunnel(d, "aes_128_gcm")
    try:
        assert " 0% packet loss" in net.warm()
        quoted = bytes(gw.outer[-1][IP])[:28]  # devip's outer header and 8 bytes of ESP
        icmp = IP(src=GW_OUTER, dst=DEV_OUTER) / ICMP(type=3, code=4, nexthopmtu=1400) / \
            Raw(quoted)
        gw.send([bytes(gw.frame(icmp))])
        want = 1400 - 20 - (8 + 8 + 3 + 2 + 16)
        assert wait_for(lambda: int(status(d, n)["maxtu"]) == want, 5), status(d, n)
        r = net.ping(1, "-M do -s %d" % (want - 28 + 1))
        assert "mtu=%d" % want in r or "mtu = %d" % want in r, r
        # a larger MTU later does not raise it (no path MTU increase in this edition)
        icmp[ICMP].nexthopmtu = 1480
        gw.send([bytes(gw.frame(icmp))])
        assert " 0% packet loss" in net.warm()
        assert int(status(d, n)["maxtu"]) == want
    finally:
        unbind(d, n)
        out.close()
        inn.close()


def test_bind_errors_change_nothing(net):
    d = net.d
    ealg, ckey = ALGS["aes_128_gcm"][:2]
    out, inn = Conv(d), Conv(d)
    out.ctl("connect %s!%d" % (GW_OUTER, SPI_OUT))
    inn.ctl("connect %s!*" % GW_OUTER)
    for c in (out, inn):
        c.ctl("esp %s %s" % (ealg, ckey))
    ifc = Conv(d, "ipifc")
    try:
        with pytest.raises(ninep.NinepError, match="^not an incoming conversation$"):
            ifc.ctl("bind esp /net/esp/%d /net/esp/%d" % (out.n, out.n))
        with pytest.raises(ninep.NinepError, match="^not an outgoing conversation$"):
            ifc.ctl("bind esp /net/esp/%d /net/esp/%d" % (inn.n, inn.n))
        with pytest.raises(ninep.NinepError, match="^file does not exist$"):
            ifc.ctl("bind esp /net/esp/999 /net/esp/%d" % inn.n)
        with pytest.raises(ninep.NinepError, match="^bad arg in system call$"):
            ifc.ctl("bind esp /net/esp/%d" % out.n)
        with pytest.raises(ninep.NinepError, match="^bad arg in system call$"):
            ifc.ctl("bind gre 198.18.2.1 198.18.2.2 key")
        with pytest.raises(ninep.NinepError, match="^bad ip address syntax$"):
            ifc.ctl("bind gre 198.18.2.1 nowhere")
        assert ifc.cat("status").startswith("device  maxtu ")  # still unbound: no device
        ifc.ctl("bind esp /net/esp/%d /net/esp/%d" % (out.n, inn.n))
        with pytest.raises(ninep.NinepError, match="^conversation bound to an interface$"):
            out.ctl("esp aes_128_gcm " + ckey)
        other = Conv(d, "ipifc")
        with pytest.raises(ninep.NinepError, match="^device in use$"):
            other.ctl("bind esp /net/esp/%d /net/esp/%d" % (out.n, inn.n))
        other.close()
        ifc.ctl("unbind")
        out.ctl("esp aes_128_gcm " + ckey)  # released: its ctl works again
    finally:
        ifc.close()
        out.close()
        inn.close()


def test_nat_traversal_udp_4500_on_the_workers(net):
    d = net.d
    gw = net.gw
    gw.esp("aes_128_cbc+hmac_sha1_96", natt=True)
    n, out, inn = esp_tunnel(d, "aes_128_cbc+hmac_sha1_96", natt=True)
    try:
        st = status(d, n)
        assert int(st["maxtu"]) == 1500 - 20 - 8 - (8 + 16 + 15 + 2 + 12)  # and the UDP header
        assert " 0% packet loss" in net.warm(), (gw.errors, d.log())
        before = counts(status(d, n))
        assert " 10 received" in net.ping(10)
        after = counts(status(d, n))
        assert after["fastout"] - before["fastout"] == 10, (before, after)
        assert after["fastin"] - before["fastin"] == 10, (before, after)
        e = gw.outer[-1]
        assert e[IP].proto == 17 and e[UDP].sport == 4500 and e[UDP].dport == 4500
        assert e[UDP].chksum == 0 and e[ESP].spi == SPI_OUT
        # a NAT-keepalive (one 0xff byte) from the peer is taken and dropped silently
        udp = d.cat("/net/udp/stats")
        gw.send([bytes(gw.frame(IP(src=GW_OUTER, dst=DEV_OUTER) / UDP(sport=4500, dport=4500) /
                                Raw(b"\xff")))])
        # the same to port 4501 is UDP's, which has no conversation: port unreachable
        gw.send([bytes(gw.frame(IP(src=GW_OUTER, dst=DEV_OUTER) / UDP(sport=4500, dport=4501) /
                                Raw(b"\xff")))])
        assert wait_for(lambda: gw.unreach == 1, 5), gw.unreach
        assert counts(status(d, n))["errors"] == after["errors"]
        got = parse_stats(d.cat("/net/udp/stats"))
        assert got["InDatagrams"] == parse_stats(udp)["InDatagrams"] + 1, (udp, got)
    finally:
        unbind(d, n)
        out.close()
        inn.close()


def test_rekey_make_before_break(net):
    d = net.d
    gw = net.gw
    name = "aes_128_gcm"
    ealg, ckey = ALGS[name][:2]
    gw.esp(name)
    n, out, inn = esp_tunnel(d, name)
    new_in, new_out = Conv(d), Conv(d)
    try:
        assert " 0% packet loss" in net.warm()
        old_tx = gw.tx
        # make: a second inbound SA; packets of both SPIs are the tunnel's
        new_in.ctl("connect %s!*" % GW_OUTER)
        new_in.ctl("spi %d" % (SPI_IN + 1))
        new_in.ctl("esp %s %s" % (ealg, ckey))
        d.ipctl("write", "/net/ipifc/%d/ctl" % n, "addsa /net/esp/%d" % new_in.n)
        r = d.ipctl("write", "/net/ipifc/%d/ctl" % n, "addsa /net/esp/%d" % new_in.n,
                    check=False)
        assert b"device in use" in r.stderr, r.stderr
        with gw.lock:
            gw.tx = sa_for(name, SPI_IN + 1, GW_OUTER, DEV_OUTER)
        assert " 5 received" in net.ping(5)  # replies on the new SPI
        before = counts(status(d, n))
        gw.send([bytes(gw.frame(old_tx.encrypt(IP(src=FAR, dst=HOST) / UDP(sport=7, dport=9))))])
        assert wait_for(lambda: counts(status(d, n))["inpkts"] == before["inpkts"] + 1, 5)
        # the outbound SA replaced: the gateway decrypts the new SPI
        new_out.ctl("connect %s!%d" % (GW_OUTER, SPI_OUT + 1))
        new_out.ctl("esp %s %s" % (ealg, ckey))
        with gw.lock:
            gw.rx[SPI_OUT + 1] = sa_for(name, SPI_OUT + 1, DEV_OUTER, GW_OUTER)
        d.ipctl("write", "/net/ipifc/%d/ctl" % n, "addsa /net/esp/%d" % new_out.n)
        assert " 5 received" in net.ping(5)
        assert gw.outer[-1][ESP].spi == SPI_OUT + 1
        assert status(d, n)["device"] == "/net/esp/%d" % out.n  # bind's name stays
        out.ctl("esp %s %s" % (ealg, ckey))  # the old outbound was released
        # break: the old inbound goes; its packets are its conversation's again
        d.ipctl("write", "/net/ipifc/%d/ctl" % n, "delsa /net/esp/%d" % inn.n)
        r = d.ipctl("write", "/net/ipifc/%d/ctl" % n, "delsa /net/esp/%d" % new_in.n,
                    check=False)
        assert b"last inbound sa" in r.stderr, r.stderr
        inner = IP(src=FAR, dst=HOST) / UDP(sport=7, dport=9) / Raw(b"old sa")
        gw.send([bytes(gw.frame(old_tx.encrypt(inner)))])
        assert inn.read() == bytes(inner)
        assert " 3 received" in net.ping(3)
        assert not gw.errors, gw.errors
    finally:
        unbind(d, n)
        for c in (out, inn, new_in, new_out):
            c.close()


def test_unbind_restores_the_conversation(net):
    d = net.d
    gw = net.gw
    gw.esp("aes_128_gcm")
    n, out, inn = esp_tunnel(d, "aes_128_gcm")
    assert " 0% packet loss" in net.warm()
    unbind(d, n)
    assert "100% packet loss" in net.ping(1)  # its routes went with it
    inner = IP(src=FAR, dst=HOST) / UDP(sport=7, dport=9) / Raw(b"to the conversation")
    gw.send([gw.seal(inner)])
    assert inn.read() == bytes(inner)  # the inbound SA's data file again
    out.close()
    inn.close()


def test_tshark_decodes_tunnel_esp(net, tmp_path):
    d = net.d
    names = [k for k in ALGS if ALGS[k][6]]
    frames = []
    for name in names:
        net.gw.esp(name)
        n, out, inn = esp_tunnel(d, name)
        try:
            assert " 0% packet loss" in net.warm(), (name, net.gw.errors)
            frames.append(net.gw.outer[-1])
        finally:
            unbind(d, n)
            out.close()
            inn.close()
    pcap = tmp_path / "tun.pcap"
    wrpcap(str(pcap), frames)
    for i, name in enumerate(names):
        _, ckey, _, akey, _, _, tenc, tauth = ALGS[name]
        argv = ["tshark", "-r", str(pcap), "-Y", "frame.number == %d" % (i + 1),
                "-o", "esp.enable_encryption_decode:TRUE",
                "-o", "esp.enable_authentication_check:TRUE",
                "-o", 'uat:esp_sa:"IPv4","%s","%s","0x%08x","%s","%s","%s","%s"' % (
                    DEV_OUTER, GW_OUTER, SPI_OUT, tenc, "0x" + ckey if ckey else "", tauth,
                    "0x" + akey if akey else ""),
                "-T", "fields", "-e", "esp.protocol", "-e", "ip.dst", "-e", "icmp.type"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        f = r.stdout.strip("\n").split("\t")
        assert f[0] and int(f[0], 0) == 4 and f[1] == "%s,%s" % (GW_OUTER, FAR) and f[2] == "8", \
            (name, r.stdout)


@pytest.mark.parametrize("key", [None, 7])
def test_gre_tunnel_both_ways_on_the_workers(net, key):
    d = net.d
    net.gw.gre(key)
    ifc = Conv(d, "ipifc")
    ifc.ctl("bind gre %s %s%s" % (DEV_OUTER, GW_OUTER, "" if key is None else " key %d" % key))
    n = ifc.n
    ifc.ctl("add 198.19.0.1 255.255.255.0")
    ifc.close()
    d.ipctl("write", "/net/iproute", "add 198.19.5.0 255.255.255.0 198.19.0.2")
    try:
        assert int(status(d, n)["maxtu"]) == 1500 - 20 - (4 if key is None else 8)
        assert " 0% packet loss" in net.warm(), net.gw.errors
        before = counts(status(d, n))
        got = net.ping(20)
        assert " 20 received" in got, got
        after = counts(status(d, n))
        assert after["fastout"] - before["fastout"] == 20, (before, after)
        assert after["fastin"] - before["fastin"] == 20, (before, after)
        g = net.gw.outer[-1][GRE]
        assert g.proto == 0x0800
        assert (g.key_present, g.key) == ((1, key) if key is not None else (0, None))
        # a packet with the wrong key is no tunnel's: the GRE protocol's
        net.gw.grekey = None if key is not None else 9
        net.gw.send([net.gw.seal(IP(src=FAR, dst=HOST) / UDP(sport=7, dport=9))])
        assert counts(status(d, n))["inpkts"] == after["inpkts"]
    finally:
        unbind(d, n)


def test_gre_tshark_decodes(net, tmp_path):
    d = net.d
    net.gw.gre(7)
    ifc = Conv(d, "ipifc")
    ifc.ctl("bind gre %s %s key 7 csum seq" % (DEV_OUTER, GW_OUTER))
    n = ifc.n
    ifc.ctl("add 198.19.0.1 255.255.255.0")
    ifc.close()
    d.ipctl("write", "/net/iproute", "add 198.19.5.0 255.255.255.0 198.19.0.2")
    try:
        assert int(status(d, n)["maxtu"]) == 1500 - 20 - 16
        net.ping(3)
        assert len(net.gw.outer) >= 3, net.gw.errors
        seqs = [e[GRE].sequence_number for e in net.gw.outer]
        assert seqs == list(range(1, len(seqs) + 1)), seqs  # RFC 2890: 1, 2, 3 ...
        assert int(status(d, n)["seq"]) == len(seqs)
        pcap = tmp_path / "gre.pcap"
        wrpcap(str(pcap), net.gw.outer[-1:])
        r = subprocess.run(["tshark", "-r", str(pcap), "-T", "fields", "-e", "gre.proto", "-e", "gre.key",
                            "-e", "gre.checksum.status", "-e", "ip.dst"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        f = r.stdout.strip("\n").split("\t")
        assert f[0] == "0x0800" and int(f[1], 0) == 7, r.stdout
        assert f[2] == "1", r.stdout  # checksum good
        assert f[3] == "%s,%s" % (GW_OUTER, FAR), r.stdout
    finally:
        unbind(d, n)


def test_ipsec_gateway_config(devip_factory):
    """configs/ipsec-gateway.conf as shipped: devipd boots with the SAs made, keyed and bound
    by the file alone, and a Linux host on the LAN pings the far network through the
    tunnel; the far gateway (scapy on ether1's tap) decrypts with the file's keys."""
    import os
    from conftest import REPO
    conf = open(os.path.join(REPO, "configs", "ipsec-gateway.conf")).read()
    keys = dict(re.findall(r"^/net/esp/(\d)/ctl esp aes_128_gcm ([0-9a-f]+)$", conf, re.M))
    d = devip_factory(ports=2, config=conf, linux_addrs={0: "198.18.0.2/24"})
    d.ns_run("ip route add 198.18.5.0/24 via 198.18.0.1")
    st = status(d, 2)
    assert st["device"] == "/net/esp/0" and int(st["maxtu"]) == 1443, st
    # the SAs are held by the interface: the config's fids are gone, the convs are not
    assert d.cat("/net/esp/0/remote") == "198.19.0.2!4096\n"
    assert d.cat("/net/esp/1/local").endswith("!4097\n")
    key = lambda n: bytes.fromhex(keys[n])  # noqa: E731
    rx = SecurityAssociation(ESP, spi=4096, crypt_algo="AES-GCM", crypt_key=key("0"),
                             tunnel_header=IP(src="198.19.0.1", dst="198.19.0.2"))
    tx = SecurityAssociation(ESP, spi=4097, crypt_algo="AES-GCM", crypt_key=key("1"),
                             tunnel_header=IP(src="198.19.0.2", dst="198.19.0.1"))
    w = d.wire(1)
    gwmac, devmac = linux_mac(1), bytes.fromhex(d.cat("/net/ether1/addr"))
    ping = subprocess.Popen(["ip", "netns", "exec", d.ns, "ping", "-n", "-c", "3", "-i", "0.2",
                             "-W", "5", "198.18.5.2"], stdout=subprocess.PIPE, text=True)
    answered = 0
    end = time.monotonic() + 20
    while ping.poll() is None and time.monotonic() < end:
        for f in w.recv(until=lambda g: len(g) > 0, timeout=0.2):
            e = Ether(f)
            if ARP in e and e[ARP].op == 1 and e[ARP].pdst == "198.19.0.2":
                w.send([bytes(Ether(dst=e.src, src=gwmac) / ARP(
                    op=2, hwsrc=gwmac, psrc="198.19.0.2", hwdst=e.src, pdst=e[ARP].psrc))])
            elif IP in e and e[IP].proto == 50 and e[ESP].spi == 4096:
                q = rx.decrypt(e[IP])  # raises on a bad ICV
                assert q.src == "198.18.0.2" and q.dst == "198.18.5.2" and q[ICMP].type == 8
                r = IP(src="198.18.5.2", dst=q.src, ttl=64) / ICMP(
                    type=0, id=q[ICMP].id, seq=q[ICMP].seq) / q[ICMP].payload
                w.send([bytes(Ether(dst=devmac, src=gwmac) / tx.encrypt(r))])
                answered += 1
    out = ping.communicate(timeout=10)[0]
    assert ping.returncode == 0 and answered >= 3, out
    st = status(d, 2)
    assert int(st["outpkts"]) >= 3 and int(st["inpkts"]) >= 3, st


# A UDP sink in a namespace: counts datagrams until 3 s pass without one, prints
# "received unique" (the payloads are distinct numbers).
UDP_SINK = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
s.settimeout(20)
got = []
try:
    while True:
        got.append(s.recv(2048))
        s.settimeout(3)
except socket.timeout:
    pass
print(len(got), len(set(got)), flush=True)
"""


def test_one_sa_over_two_workers():
    """Issue 9 §4: one tunnel's ESP arrives on one queue; its receiving worker hands bursts
    to the other worker, both decrypt the one inbound SA: every packet is delivered once and
    none is taken for a replay. Outbound, flows from many ports reach both workers, which
    encrypt on the one outbound SA: the gateway sees each sequence number once."""
    net = Net(opts=["--workers", "2"]).start()
    try:
        d = net.d
        name = "aes_128_gcm"
        net.gw.esp(name)
        # a window wide enough for bursts decrypted on two workers to finish out of order
        n, out, inn = esp_tunnel(d, name, in_ctl=["window 1024"])
        warm = net.warm()
        assert " 0% packet loss" in warm, (warm, net.gw.errors, d.log())
        def eth():
            lines = (l.split(": ", 1) for l in d.cat("/net/ether1/stats").splitlines())
            return {k: int(v) for k, v in (l for l in lines if len(l) == 2) if v.isdigit()}
        assert eth()["workers"] == 2
        before = counts(status(d, n))
        sink = net.popen("H", ["/usr/bin/python3", "-c", UDP_SINK, "7001"], text=True)
        assert sink.stdout.readline().strip() == "ready"
        count = 2000
        frames = [net.gw.seal(IP(src=FAR, dst=HOST, ttl=64) / UDP(sport=7000, dport=7001) /
                              Raw(b"%06d" % i)) for i in range(count)]
        net.gw.send(frames)
        got, unique = (int(x) for x in sink.communicate(timeout=60)[0].split())
        after = counts(status(d, n))
        e = eth()
        info = (before, after, e, inn.stats())
        assert e["esp handed over"] > 0 and e["esp taken over"] == e["esp handed over"], info
        assert after["replay"] == before["replay"] and after["icv"] == before["icv"], info
        # each decrypted exactly once (a second time would be a replay drop)
        assert after["inpkts"] - before["inpkts"] == count, info
        # and delivered once; Linux's receive path may drop a few of a fast burst
        assert got == unique and got >= count * 0.98, (got, unique, info)
        # outbound: 64 flows, so the tap spreads them over both queues and workers
        net.gw.outer.clear()
        sender = ("import socket\n"
                  "ss = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(64)]\n"
                  "for i in range(1000):\n"
                  "    ss[i %% 64].sendto(b'%%06d' %% i, ('%s', 7002))\n" % FAR)
        net.run("H", "/usr/bin/python3 -c \"%s\"" % sender)
        wait_for(lambda: len(net.gw.outer) >= 1000, 30)
        with net.gw.lock:
            seqs = [f[ESP].seq for f in net.gw.outer if ESP in f and f[ESP].spi == SPI_OUT]
        assert len(seqs) >= 900, (len(seqs), net.gw.errors, status(d, n))
        assert len(set(seqs)) == len(seqs), "sequence numbers sent twice"
        assert not net.gw.errors, net.gw.errors[:3]
    finally:
        net.close()
