#!/usr/bin/python3
"""perf/ipsec.sh's devipd side: makes an ESP tunnel interface over 9P and routes into it.
  ipsec_setup.py SOCK KEYS.json ALG encrypt|decrypt
encrypt: ether0 is the inner side (198.18.0.1/24, the pcap's senders), ether1 the outer
(198.19.0.1/24, the far gateway 198.19.0.2); 198.18.1.0/24 is routed into the tunnel.
decrypt: ether0 is the outer side (198.19.0.1/24, the pcap's ESP from 198.19.0.2), ether1
the inner (198.18.0.1/24, 198.18.2.0/24 behind 198.18.0.2); 198.18.1.0/24 (the decrypted
packets' sources) is routed into the tunnel, as the reverse-path check wants, and the
inbound SA has anti-replay off (`replay off`: the pcap repeats its sequence numbers)."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import ninep  # noqa: E402

sock, keys, alg, mode = sys.argv[1:5]
ckey, akey = json.load(open(keys))[alg]
ealg = {"aes_128_cbc+hmac_sha1_96": "aes_128_cbc"}.get(alg, alg)
aalg = "hmac_sha1_96" if "hmac_sha1" in alg else "null"
c = ninep.Client(sock, timeout=30)
c.session()


def w(fid, text):
    c.write(fid, text.encode())


def conv(fid, *ctl):
    c.open_path(fid, "/net/esp/clone", ninep.ORDWR)
    n = int(c.read(fid).decode())
    for t in ctl:
        w(fid, t)
    return n


inner, outer = ("0", "1") if mode == "encrypt" else ("1", "0")
c.open_path(1, "/net/ipifc/clone", ninep.ORDWR)
w(1, "bind ether /net/ether" + inner)
w(1, "add 198.18.0.1 255.255.255.0")
c.open_path(2, "/net/ipifc/clone", ninep.ORDWR)
w(2, "bind ether /net/ether" + outer)
w(2, "add 198.19.0.1 255.255.255.0")
w(2, "iprouting 1")
c.open_path(3, "/net/arp", ninep.ORDWR)
w(3, "add ether 198.19.0.2 020000000001")
w(3, "add ether 198.18.0.2 020000000001")
c.open_path(4, "/net/iproute", ninep.ORDWR)
w(4, "add 198.18.2.0 255.255.255.0 198.18.0.2")
o = conv(10, "connect 198.19.0.2!8193", "esp %s %s" % (ealg, ckey), "ah %s %s" % (aalg, akey))
i = conv(11, "connect 198.19.0.2!*", "spi 8192", *(["replay off"] if mode == "decrypt" else []),
         "esp %s %s" % (ealg, ckey), "ah %s %s" % (aalg, akey))
c.open_path(12, "/net/ipifc/clone", ninep.ORDWR)
w(12, "bind esp /net/esp/%d /net/esp/%d" % (o, i))
w(12, "add 198.19.200.1 255.255.255.0")
w(4, "add 198.18.1.0 255.255.255.0 198.19.200.2")
print(c.cat("/net/ipifc/2/status").decode().splitlines()[0])
c.close()  # the interfaces stay, and the tunnel holds its SAs
