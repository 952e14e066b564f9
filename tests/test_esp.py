"""/net/esp against an independent ESP: scapy's SecurityAssociation (tunnel mode) decrypts
what devip sends, checking the ICV, and devip decrypts what scapy sends; replayed and
corrupted packets are counted and dropped; an unknown SPI gets ICMP port unreachable
(ip3.md §3.10, §4.9, §4.4.2; RFC 4303); tshark decodes devip's ESP with the keys
(ipsec-interop.md §2)."""
import os
import re
import socket
import subprocess

import pytest
from scapy.layers.inet import ICMP, IP, IPerror, UDP
from scapy.layers.inet6 import ICMPv6DestUnreach, IPv6
from scapy.layers.ipsec import ESP, SecurityAssociation
from scapy.layers.l2 import Ether
from scapy.packet import Raw

import ninep
from conftest import DEVIP_IP, LINUX_IP, LINUX_MAC, wait_for

INNER = IP(src="10.9.0.1", dst="10.9.0.2", id=7, ttl=63) / UDP(sport=4000, dport=5000) / \
    Raw(b"through the tunnel \x00\xff" * 3)
INNER6 = IPv6(src="2001:2:0:9::1", dst="2001:2:0:9::2") / UDP(sport=4000, dport=5000) / \
    Raw(b"six in the tunnel")

# devip's esp/ah names and keys (hex) -> scapy's names and keys; tshark's names when it has
# the algorithm (4.0 has no ChaCha20-Poly1305)
ALGS = {
    "aes_128_gcm": ("aes_128_gcm", "000102030405060708090a0b0c0d0e0f" "a0a1a2a3", "null", "",
                    "AES-GCM", "NULL",
                    "AES-GCM with 16 octet ICV [RFC4106]", "NULL"),
    "aes_128_cbc+hmac_sha1_96": (
        "aes_128_cbc", "00112233445566778899aabbccddeeff", "hmac_sha1_96",
        "0102030405060708090a0b0c0d0e0f1011121314", "AES-CBC", "HMAC-SHA1-96",
        "AES-CBC [RFC3602]", "HMAC-SHA-1-96 [RFC2404]"),
    "aes_ctr+hmac_sha2_256_128": (
        "aes_ctr", "0f0e0d0c0b0a09080706050403020100" "c0c1c2c3", "hmac_sha2_256_128",
        "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f", "AES-CTR",
        "SHA2-256-128", "AES-CTR [RFC3686]", "HMAC-SHA-256-128 [RFC4868]"),
    "null+hmac_sha2_256_128": (
        "null", "", "hmac_sha2_256_128",
        "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f", "NULL",
        "SHA2-256-128", "NULL", "HMAC-SHA-256-128 [RFC4868]"),
    "chacha20_poly1305": (
        "chacha20_poly1305", "00" * 16 + "11" * 16 + "d0d1d2d3", "null", "",
        "CHACHA20-POLY1305", "NULL", None, None),
}


class Conv:
    """One /net/esp conversation over its own 9P session: ctl and data fids."""

    def __init__(self, d, proto="esp"):
        self.c = ninep.Client(d.sock).session()
        self.c.open_path(1, "/net/%s/clone" % proto, ninep.ORDWR)
        self.n = int(self.c.read(1).decode())
        self.dir = "/net/%s/%d" % (proto, self.n)
        self.data = None

    def ctl(self, msg):
        if msg:
            self.c.write(1, msg)

    def open_data(self):
        if self.data is None:
            self.c.open_path(2, self.dir + "/data", ninep.ORDWR)
            self.data = 2
        return self.data

    def write(self, b):
        return self.c.write(self.open_data(), b)

    def read(self):
        return self.c.read(self.open_data(), count=8000)

    def cat(self, name):
        return self.c.cat(self.dir + "/" + name, fid=50).decode()

    def stats(self):
        return dict(l.split(": ", 1) for l in self.cat("stats").splitlines())

    def close(self):
        self.c.close()


@pytest.fixture
def esp_host(host):
    # Linux has no ESP: without a raw socket for protocol 50 its kernel answers each of
    # devip's packets with protocol unreachable, which is advice to the conversation
    host.quiet = host.ns_socket(socket.AF_INET, socket.SOCK_RAW, 50)
    yield host
    host.quiet.close()


def scapy_sa(name, spi, src, dst, v6=False):
    _, ckey, _, akey, calg, aalg, _, _ = ALGS[name]
    hdr = IPv6(src=src, dst=dst) if v6 else IP(src=src, dst=dst)
    return SecurityAssociation(ESP, spi=spi, crypt_algo=calg, crypt_key=bytes.fromhex(ckey),
                               auth_algo=aalg, auth_key=bytes.fromhex(akey) if akey else None,
                               tunnel_header=hdr)


def keyed(d, name, where):
    ealg, ckey, aalg, akey = ALGS[name][:4]
    c = Conv(d)
    c.ctl("connect " + where)
    return c, ealg, ckey, aalg, akey


def set_keys(c, ealg, ckey, aalg, akey):
    c.ctl(("esp %s %s" % (ealg, ckey)).strip())
    c.ctl(("ah %s %s" % (aalg, akey)).strip())


def outbound(d, name, spi, peer=LINUX_IP):
    c, *k = keyed(d, name, "%s!%d" % (peer, spi))
    set_keys(c, *k)
    return c


def inbound(d, name, spi, peer=LINUX_IP):
    c, *k = keyed(d, name, "%s!*" % peer)
    c.ctl("spi %d" % spi)
    set_keys(c, *k)
    return c


def esp_frames(frames):
    out = []
    for f in frames:
        e = Ether(f)
        if (IP in e and e[IP].proto == 50) or (IPv6 in e and e[IPv6].nh == 50):
            out.append(e)
    return out


@pytest.mark.parametrize("name", list(ALGS))
def test_scapy_decrypts_what_devip_sends(esp_host, name):
    d = esp_host
    w = d.wire()
    c = outbound(d, name, 0x2001)
    w.drain()
    c.write(bytes(INNER))
    c.write(bytes(INNER))
    got = esp_frames(w.recv(until=lambda g: len(esp_frames(g)) >= 2, timeout=5))
    assert len(got) == 2, got
    sa = scapy_sa(name, 0x2001, DEVIP_IP, LINUX_IP)
    for i, e in enumerate(got):
        assert e[IP].src == DEVIP_IP and e[IP].dst == LINUX_IP
        assert e[ESP].spi == 0x2001 and e[ESP].seq == i + 1
        inner = sa.decrypt(e[IP])  # raises IPSecIntegrityError on a bad ICV
        assert bytes(inner) == bytes(INNER)
    st = c.stats()
    assert st["Packets"] == "2" and st["Seq"] == "2", st
    c.close()


@pytest.mark.parametrize("name", list(ALGS))
def test_devip_decrypts_what_scapy_sends(esp_host, name):
    d = esp_host
    w = d.wire()
    c = inbound(d, name, 0x3001)
    assert c.cat("local") == "%s!%d\n" % (DEVIP_IP, 0x3001)
    sa = scapy_sa(name, 0x3001, LINUX_IP, DEVIP_IP)
    mac = bytes.fromhex(d.mac)
    frames = [Ether(dst=mac, src=LINUX_MAC) / sa.encrypt(INNER, seq_num=n) for n in (1, 2)]
    w.send([bytes(f) for f in frames])
    assert c.read() == bytes(INNER)
    assert c.read() == bytes(INNER)
    # the same packet again, a too-old one, and one with a flipped ciphertext bit
    bad = bytearray(bytes(Ether(dst=mac, src=LINUX_MAC) / sa.encrypt(INNER, seq_num=3)))
    bad[14 + 20 + 8 + 12] ^= 0x01
    w.send([bytes(frames[1]), bytes(bad)])
    w.sync()
    st = c.stats()
    assert st["Packets"] == "2", st
    assert st["ReplayDrops"] == "1", st
    assert st["IcvFailures"] == "1", st
    assert st["Seq"] == "2", st
    c.close()


def test_replay_off_accepts_repeats(esp_host):
    d = esp_host
    w = d.wire()
    c = Conv(d)
    c.ctl("connect %s!*" % LINUX_IP)
    c.ctl("spi %d" % 0x3101)
    with pytest.raises(ninep.NinepError, match="^bad arg in system call$"):
        c.ctl("replay maybe")
    c.ctl("replay off")
    set_keys(c, *ALGS["aes_128_gcm"][:4])
    assert "Replay: off" in c.cat("stats")
    sa = scapy_sa("aes_128_gcm", 0x3101, LINUX_IP, DEVIP_IP)
    f = bytes(Ether(dst=bytes.fromhex(d.mac), src=LINUX_MAC) / sa.encrypt(INNER, seq_num=5))
    w.send([f, f, f])
    for _ in range(3):
        assert c.read() == bytes(INNER)
    st = c.stats()
    assert st["Packets"] == "3" and st["ReplayDrops"] == "0", st
    out = outbound(d, "aes_128_gcm", 0x3102)
    with pytest.raises(ninep.NinepError, match="^not an incoming conversation$"):
        out.ctl("replay off")
    e = Conv(d)
    e.ctl("connect %s!*" % LINUX_IP)
    e.ctl("esn")
    with pytest.raises(ninep.NinepError,
                       match="^extended sequence numbers need the replay window$"):
        e.ctl("replay off")
    for x in (c, out, e):
        x.close()


def test_unknown_spi_gets_port_unreachable(esp_host):
    d = esp_host
    w = d.wire()
    sa = scapy_sa("aes_128_gcm", 0x7777, LINUX_IP, DEVIP_IP)
    f = Ether(dst=bytes.fromhex(d.mac), src=LINUX_MAC) / sa.encrypt(INNER, seq_num=1)
    got = [Ether(x) for x in w.exchange([bytes(f)])]
    icmp = [e for e in got if ICMP in e and e[ICMP].type == 3]
    assert len(icmp) == 1, got
    assert icmp[0][ICMP].code == 3 and icmp[0][IP].dst == LINUX_IP
    assert icmp[0][IPerror].proto == 50 and icmp[0][IPerror].src == LINUX_IP  # quoting our packet
    assert d.cat("/net/esp/stats") == "1 1\n"


def test_spi_in_use_and_ctl_errors(esp_host):
    d = esp_host
    a = inbound(d, "aes_128_gcm", 0x4001)
    b = Conv(d)
    b.ctl("connect %s!*" % LINUX_IP)
    with pytest.raises(ninep.NinepError, match="^spi in use$"):
        b.ctl("spi %d" % 0x4001)
    with pytest.raises(ninep.NinepError, match="^key not required length$"):
        b.ctl("esp aes_128_cbc 0011")
    with pytest.raises(ninep.NinepError, match="^unknown algorithm$"):
        b.ctl("ah hmac_sha3")
    with pytest.raises(ninep.NinepError, match="^bad format$"):
        b.ctl("esp")
    assert b.cat("status") == "Open\n"
    assert re.fullmatch(r"%s!\d+\n" % re.escape(DEVIP_IP), b.cat("local"))
    assert b.cat("remote") == LINUX_IP + "\n"
    a.close()
    b.close()


def test_tshark_decodes_devip_esp(esp_host, tmp_path):
    d = esp_host
    w = d.wire()
    names = [n for n in ALGS if ALGS[n][6]]
    convs = []
    for i, n in enumerate(names):
        convs.append(outbound(d, n, 0x5000 + i))
    w.drain()
    for c in convs:
        c.write(bytes(INNER))
    got = esp_frames(w.recv(until=lambda g: len(esp_frames(g)) >= len(names), timeout=5))
    assert len(got) == len(names)
    pcap = tmp_path / "esp.pcap"
    from scapy.utils import wrpcap
    wrpcap(str(pcap), got)
    argv = ["tshark", "-r", str(pcap), "-o", "esp.enable_encryption_decode:TRUE",
            "-o", "esp.enable_authentication_check:TRUE"]
    for i, n in enumerate(names):
        _, ckey, _, akey, _, _, tenc, tauth = ALGS[n]
        argv += ["-o", 'uat:esp_sa:"IPv4","%s","%s","0x%08x","%s","%s","%s","%s"' % (
            DEVIP_IP, LINUX_IP, 0x5000 + i, tenc, "0x" + ckey if ckey else "", tauth,
            "0x" + akey if akey else "")]
    argv += ["-T", "fields", "-e", "esp.spi", "-e", "esp.protocol", "-e", "ip.dst",
             "-e", "udp.dstport", "-e", "esp.pad_len"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = [l.split("\t") for l in r.stdout.splitlines()]
    assert len(lines) == len(names), r.stdout
    for i, f in enumerate(lines):
        assert int(f[0], 0) == 0x5000 + i
        assert int(f[1], 0) == 4, (names[i], f)              # the real next header
        assert f[2] == "%s,10.9.0.2" % LINUX_IP, (names[i], f)  # the inner packet decoded
        assert f[3] == "5000", (names[i], f)
    for c in convs:
        c.close()


V6_CONF = """\
/net/ipifc/clone bind ether /net/ether0
/net/ipifc/0/ctl add 198.18.0.1 255.255.255.0
/net/ipifc/0/ctl add 2001:2:0:8::1 /64
"""


def test_ipv6_outer_both_ways(devip_factory):
    d = devip_factory(config=V6_CONF, linux_ipv6=True,
                      linux_addrs={0: LINUX_IP + "/24"})
    d.ns_run("ip -6 addr add 2001:2:0:8::2/64 dev dtap0 nodad")
    quiet = d.ns_socket(socket.AF_INET6, socket.SOCK_RAW, 50)
    try:
        assert wait_for(lambda: d.ns_run("ping -6 -c 1 -W 1 2001:2:0:8::1",
                                         check=False).returncode == 0, 15)
        w = d.wire()
        out = outbound(d, "aes_128_gcm", 0x6001, peer="2001:2:0:8::2")
        inn = inbound(d, "aes_128_gcm", 0x6002, peer="2001:2:0:8::2")
        w.drain()
        out.write(bytes(INNER6))
        got = esp_frames(w.recv(until=lambda g: len(esp_frames(g)) >= 1, timeout=5))
        assert len(got) == 1
        sa = scapy_sa("aes_128_gcm", 0x6001, "2001:2:0:8::1", "2001:2:0:8::2", v6=True)
        assert bytes(sa.decrypt(got[0][IPv6])) == bytes(INNER6)
        sa2 = scapy_sa("aes_128_gcm", 0x6002, "2001:2:0:8::2", "2001:2:0:8::1", v6=True)
        f = Ether(dst=bytes.fromhex(d.mac), src=got[0].dst) / sa2.encrypt(INNER6, seq_num=1)
        w.send([bytes(f)])
        assert inn.read() == bytes(INNER6)
        # an unknown SPI over IPv6 gets ICMPv6 port unreachable (esp.c runs its v4 routine)
        sa3 = scapy_sa("aes_128_gcm", 0x6fff, "2001:2:0:8::2", "2001:2:0:8::1", v6=True)
        f = Ether(dst=bytes.fromhex(d.mac), src=got[0].dst) / sa3.encrypt(INNER6, seq_num=1)
        back = [Ether(x) for x in w.exchange([bytes(f)])]
        unreach = [e for e in back if ICMPv6DestUnreach in e]
        assert len(unreach) == 1, back
        assert unreach[0][ICMPv6DestUnreach].code == 4
        assert unreach[0][IPv6].dst == "2001:2:0:8::2"
        out.close()
        inn.close()
    finally:
        quiet.close()


def nine_seal(spi, seq, inner, ckey, akey):
    """An ESP packet as 9front's esp.c sends it with `esp aes_ctr` and `ah hmac_sha1_96`:
    AES-128-CBC, the key bytes reversed from the hex written, pad bytes left as they were
    (not 1, 2, 3...), next header 0, HMAC-SHA1 with a 16-byte key (reversed too)."""
    import hashlib
    import hmac
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    pad = (16 - (len(inner) + 2) % 16) % 16
    text = inner + b"\xee" * pad + bytes([pad, 0])
    iv = os.urandom(16)
    enc = Cipher(algorithms.AES(ckey[::-1]), modes.CBC(iv)).encryptor()
    body = spi.to_bytes(4, "big") + seq.to_bytes(4, "big") + iv + enc.update(text) + \
        enc.finalize()
    return body + hmac.new(akey[::-1], body, hashlib.sha1).digest()[:12]


def nine_open(esp, ckey, akey):
    """What a 9front peer makes of devip's packet: (next header, inner packet)."""
    import hashlib
    import hmac
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    body, icv = esp[:-12], esp[-12:]
    assert hmac.compare_digest(hmac.new(akey[::-1], body, hashlib.sha1).digest()[:12], icv)
    dec = Cipher(algorithms.AES(ckey[::-1]), modes.CBC(body[8:24])).decryptor()
    text = dec.update(body[24:]) + dec.finalize()
    return text[-1], text[:len(text) - 2 - text[-2]]


def test_9front_peer_both_ways(esp_host):
    d = esp_host
    w = d.wire()
    ckey, akey = bytes(range(16)), bytes(range(0x40, 0x50))
    out = Conv(d)
    out.ctl("connect %s!4242" % LINUX_IP)
    out.ctl("9front")
    out.ctl("esp aes_ctr " + ckey.hex())
    out.ctl("ah hmac_sha1_96 " + akey.hex())
    inn = Conv(d)
    inn.ctl("connect %s!*" % LINUX_IP)
    inn.ctl("spi 4343")
    inn.ctl("9front")
    inn.ctl("esp aes_ctr " + ckey.hex())
    inn.ctl("ah hmac_sha1_96 " + akey.hex())
    assert "Mode: 9front" in inn.cat("stats")
    w.drain()
    out.write(bytes(INNER))
    got = esp_frames(w.recv(until=lambda g: len(esp_frames(g)) >= 1, timeout=5))
    assert len(got) == 1
    nh, inner = nine_open(bytes(got[0][IP].payload), ckey, akey)
    assert nh == 0 and inner == bytes(INNER)
    pkt = IP(src=LINUX_IP, dst=DEVIP_IP, proto=50) / Raw(nine_seal(4343, 1, bytes(INNER),
                                                                     ckey, akey))
    w.send([bytes(Ether(dst=bytes.fromhex(d.mac), src=LINUX_MAC) / pkt)])
    assert inn.read() == bytes(INNER)
    out.close()
    inn.close()


def process_holds(pid, needle):
    """Whether any readable private mapping of process pid holds the bytes needle."""
    found = False
    with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            f = line.split()
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            if not f[1].startswith("rw") or (len(f) > 5 and f[5].startswith("/dev/")):
                continue
            if hi - lo > 64 << 30:  # ASan's shadow (terabytes reserved): no program data
                continue
            at = lo
            tail = b""
            while at < hi:
                n = min(hi - at, 16 << 20)
                try:
                    mem.seek(at)
                    chunk = mem.read(n)
                except OSError:
                    break
                if needle in tail + chunk:
                    found = True
                    break
                tail = chunk[-len(needle):]
                at += n
            if found:
                break
    return found


def test_key_text_is_wiped_from_devipd_memory(esp_host):
    # §1 key hygiene: the hex key written to ctl leaves no copy in devipd (9P receive
    # buffers, the parsed fields); the SA holds the key in binary only
    d = esp_host
    key = "5ec7e75ec7e75ec7e75ec7e75ec7e75e" "a5a5a5a5"
    akey = "c0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ff"
    c = Conv(d)
    c.ctl("connect %s!4242" % LINUX_IP)
    c.ctl("esp aes_128_cbc %s" % key[:32])
    c.ctl("ah hmac_sha1_96 %s" % akey)
    c2 = Conv(d)
    c2.ctl("connect %s!4243" % LINUX_IP)
    c2.ctl("esp aes_128_gcm %s" % key)
    c2.ctl("ah null")
    assert c.write(bytes(INNER)) and c2.write(bytes(INNER))  # keyed: they encrypt
    pid = d.proc.pid
    assert os.path.basename(os.readlink("/proc/%d/exe" % pid)) == "devipd"
    # the scan finds what is left in those buffers: the data written (not wiped, no keys)
    assert process_holds(pid, b"through the tunnel \x00\xff")
    for k in (key[:32].encode(), key.encode(), akey.encode()):
        assert not process_holds(pid, k), "key text %s found in devipd" % k.decode()
