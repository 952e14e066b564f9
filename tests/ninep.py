"""A minimal raw 9P2000 client for poking at devipd's server (intro(5))."""
import socket
import struct

Tversion, Rversion = 100, 101
Tattach, Rattach = 104, 105
Rerror = 107
Tflush, Rflush = 108, 109
Twalk, Rwalk = 110, 111
Topen, Ropen = 112, 113
Tread, Rread = 116, 117
Twrite, Rwrite = 118, 119
Tclunk, Rclunk = 120, 121
Tstat, Rstat = 124, 125
NOTAG = 0xFFFF
NOFID = 0xFFFFFFFF
OREAD, OWRITE, ORDWR = 0, 1, 2


def s(x):
    b = x.encode() if isinstance(x, str) else x
    return struct.pack("<H", len(b)) + b


def msg(type, tag, body=b""):
    return struct.pack("<IBH", 7 + len(body), type, tag) + body


class NinepError(Exception):
    pass


class Client:
    def __init__(self, path, timeout=5):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.tag = 0
        self.buf = b""

    def close(self):
        self.sock.close()

    def send_raw(self, b):
        self.sock.sendall(b)

    def recv_msg(self):
        """(type, tag, body) of the next reply; None at EOF."""
        while len(self.buf) < 4 or len(self.buf) < struct.unpack("<I", self.buf[:4])[0]:
            b = self.sock.recv(65536)
            if not b:
                return None
            self.buf += b
        n = struct.unpack("<I", self.buf[:4])[0]
        m, self.buf = self.buf[:n], self.buf[n:]
        return m[4], struct.unpack("<H", m[5:7])[0], m[7:]

    def closed_by_server(self):
        """True if the server closed the connection (EOF or reset) within the timeout."""
        try:
            while True:
                b = self.sock.recv(65536)
                if not b:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def rpc(self, type, body=b"", tag=None):
        if tag is None:
            self.tag = (self.tag + 1) % 0xFFFF
            tag = self.tag
        self.send_raw(msg(type, tag, body))
        r = self.recv_msg()
        if r is None:
            raise ConnectionError("server closed the connection")
        rtype, rtag, rbody = r
        assert rtag == tag, "reply tag %d for request tag %d" % (rtag, tag)
        if rtype == Rerror:
            raise NinepError(rbody[2:2 + struct.unpack("<H", rbody[:2])[0]].decode())
        assert rtype == type + 1, "reply type %d to %d" % (rtype, type)
        return rbody

    def version(self, msize=8192, version="9P2000"):
        b = self.rpc(Tversion, struct.pack("<I", msize) + s(version), tag=NOTAG)
        msize = struct.unpack("<I", b[:4])[0]
        return msize, b[6:6 + struct.unpack("<H", b[4:6])[0]].decode()

    def attach(self, fid=0, uname="none", aname=""):
        return self.rpc(Tattach, struct.pack("<II", fid, NOFID) + s(uname) + s(aname))

    def walk(self, fid, newfid, *names):
        b = struct.pack("<IIH", fid, newfid, len(names)) + b"".join(s(n) for n in names)
        r = self.rpc(Twalk, b)
        return struct.unpack("<H", r[:2])[0]

    def open(self, fid, mode=OREAD):
        return self.rpc(Topen, struct.pack("<IB", fid, mode))

    def read(self, fid, offset=0, count=8192):
        r = self.rpc(Tread, struct.pack("<IQI", fid, offset, count))
        return r[4:4 + struct.unpack("<I", r[:4])[0]]

    def write(self, fid, data, offset=0):
        data = data.encode() if isinstance(data, str) else data
        r = self.rpc(Twrite, struct.pack("<IQI", fid, offset, len(data)) + data)
        return struct.unpack("<I", r[:4])[0]

    def clunk(self, fid):
        return self.rpc(Tclunk, struct.pack("<I", fid))

    def session(self):
        self.version()
        self.attach(0)
        return self

    def open_path(self, fid, path, mode=OREAD):
        names = [n for n in path.split("/") if n and n != "net"]
        self.walk(0, fid, *names)
        self.open(fid, mode)
        return fid

    def cat(self, path, fid=99):
        self.open_path(fid, path)
        out, off = b"", 0
        while True:
            b = self.read(fid, off)
            if not b:
                break
            out += b
            off += len(b)
        self.clunk(fid)
        return out
