#!/usr/bin/python3
"""TCP load for perf/tcp.sh, run in the client's namespace:
  tcp_client.py bulk HOST PORT MBYTES   send MBYTES, print "MB/s N" when the server closed
  tcp_client.py rate HOST PORT N        N connections one after another (connect, 1 byte,
                                        half close, read to EOF): "conn/s N"
  tcp_client.py rr HOST PORT N          N one-byte request/response round trips on one
                                        connection (TCP_NODELAY): "p50 US p99 US"
  tcp_client.py serve HOST PORT ECHO    the Linux baseline's server: each connection read
                                        to its end (ECHO 1: echoed back), then closed """
import socket
import sys
import time


def bulk(host, port, mb):
    s = socket.create_connection((host, port))
    buf = b"\0" * (1 << 16)
    t0 = time.monotonic()
    for _ in range(mb * 16):
        s.sendall(buf)
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
    el = time.monotonic() - t0
    s.close()
    print("MB/s %.1f" % (mb / el))


def rate(host, port, n):
    t0 = time.monotonic()
    for _ in range(n):
        s = socket.create_connection((host, port))
        s.sendall(b"x")
        s.shutdown(socket.SHUT_WR)
        while s.recv(100):
            pass
        s.close()
    print("conn/s %.0f" % (n / (time.monotonic() - t0)))


def rr(host, port, n):
    s = socket.create_connection((host, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    lat = []
    for i in range(n + 20):
        t0 = time.perf_counter_ns()
        s.sendall(b"x")
        if s.recv(1) != b"x":
            raise SystemExit("short echo")
        if i >= 20:
            lat.append((time.perf_counter_ns() - t0) / 1000)
    s.close()
    lat.sort()
    print("p50 %.0f p99 %.0f" % (lat[len(lat) // 2], lat[int(len(lat) * 0.99)]))


def serve(host, port, echo):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(128)
    print("ready", flush=True)
    while True:
        c, _ = ls.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            b = c.recv(1 << 16)
            if not b:
                break
            if echo:
                c.sendall(b)
        c.close()


if __name__ == "__main__":
    {"bulk": bulk, "rate": rate, "rr": rr, "serve": serve}[sys.argv[1]](sys.argv[2], int(sys.argv[3]),
                                                         int(sys.argv[4]))
