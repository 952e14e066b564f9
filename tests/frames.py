"""Frame building and parsing with scapy (Linux's side crafts, devip answers)."""
import logging

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.all import ARP, ICMP, IP, UDP, Ether, IPOption, Raw, fragment  # noqa: E402
from scapy.utils import checksum  # noqa: E402

from conftest import DEVIP_IP, LINUX_IP, LINUX_MAC, mac_colons  # noqa: E402

__all__ = ["ARP", "ICMP", "IP", "UDP", "Ether", "IPOption", "Raw", "fragment", "checksum",
           "eth", "ip4", "parse", "is_echo_reply", "icmp_of", "udp_of", "arp_of",
           "DEVIP_IP", "LINUX_IP", "LINUX_MAC"]


def eth(d, etype=None):
    """Ethernet header from Linux's MAC to devip's."""
    e = Ether(src=LINUX_MAC, dst=mac_colons(d.mac))
    if etype is not None:
        e.type = etype
    return e


def ip4(**kw):
    kw.setdefault("src", LINUX_IP)
    kw.setdefault("dst", DEVIP_IP)
    return IP(**kw)


def parse(frames):
    return [Ether(f) for f in frames]


def icmp_of(frames, type=None, code=None):
    out = []
    for p in parse(frames):
        if IP in p and ICMP in p and p[IP].src == DEVIP_IP:
            if (type is None or p[ICMP].type == type) and (code is None or p[ICMP].code == code):
                out.append(p)
    return out


def is_echo_reply(p, ident, seq):
    return p[ICMP].type == 0 and p[ICMP].id == ident and p[ICMP].seq == seq


def udp_of(frames, sport=None):
    return [p for p in parse(frames)
            if IP in p and UDP in p and p[IP].src == DEVIP_IP
            and (sport is None or p[UDP].sport == sport)]


def arp_of(frames):
    return [p for p in parse(frames) if ARP in p]
