#!/usr/bin/env python3
"""Linux-side client of the tcp-echo end-to-end test (tcp_echo_e2e_test.sh).

Run inside the peer network namespace against HOST:PORT:
  1. ICMP echo (a raw socket): the reply must carry our id, sequence and data;
  2. one connection: send 10 MB while receiving, compare the 10 MB echoed,
     close (MB/s printed);
  3. 100 short connections in a row, 100 bytes each (connections/s printed);
  4. 8 connections at once, 512 KB each, every byte compared.
Every socket call is bounded by a timeout; any mismatch exits 1 with a
message. `--skip-icmp` for a server that is not ours (the Linux baseline).
Prints one `RESULT name value` line per measurement.
"""
import argparse
import os
import socket
import struct
import sys
import threading
import time

TIMEOUT_S = 20.0


def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    sys.exit(1)


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def icmp_echo(host):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.settimeout(5)
    ident, seq, data = os.getpid() & 0xFFFF, 7, b"netisr-e2e" * 5
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    pkt = struct.pack("!BBHHH", 8, 0, checksum(hdr + data), ident, seq) + data
    s.sendto(pkt, (host, 0))
    deadline = time.time() + 5
    while time.time() < deadline:
        r, addr = s.recvfrom(2048)
        ihl = (r[0] & 0x0F) * 4
        typ, code, _, rid, rseq = struct.unpack("!BBHHH", r[ihl:ihl + 8])
        if addr[0] == host and typ == 0 and rid == ident and rseq == seq:
            if r[ihl + 8:] != data:
                fail("ICMP echo reply data differs")
            if checksum(r[ihl:]) != 0:
                fail("ICMP echo reply checksum wrong")
            print("ok: ICMP echo reply", flush=True)
            return
    fail("no ICMP echo reply")


def pattern(n, seed):
    block = bytes((i * 7 + seed) & 0xFF for i in range(65536))
    return (block * (n // len(block) + 1))[:n]


def echo_once(host, port, data, chunk=65536):
    """Sends data while a thread receives; returns the bytes echoed."""
    s = socket.create_connection((host, port), timeout=TIMEOUT_S)
    s.settimeout(TIMEOUT_S)
    got = bytearray()
    err = []

    def receive():
        try:
            while len(got) < len(data):
                b = s.recv(262144)
                if not b:
                    break
                got.extend(b)
        except Exception as e:  # reported below
            err.append(e)

    t = threading.Thread(target=receive)
    t.start()
    try:
        for off in range(0, len(data), chunk):
            s.sendall(data[off:off + chunk])
    except Exception as e:
        err.append(e)
    t.join(TIMEOUT_S * 3)
    if t.is_alive():
        err.append("receiver did not finish")
    s.shutdown(socket.SHUT_WR)
    # After our FIN the server closes: EOF, nothing more.
    try:
        rest = s.recv(1)
        if rest:
            err.append("data after the echo")
    except Exception as e:
        err.append(e)
    s.close()
    if err:
        fail(f"connection error: {err[0]}")
    return bytes(got)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--skip-icmp", action="store_true")
    ap.add_argument("--megabytes", type=int, default=10)
    ap.add_argument("--short", type=int, default=100)
    ap.add_argument("--parallel", type=int, default=8)
    a = ap.parse_args()

    if not a.skip_icmp:
        icmp_echo(a.host)

    big = pattern(a.megabytes * 1000 * 1000, 1)
    t0 = time.time()
    got = echo_once(a.host, a.port, big)
    dt = time.time() - t0
    if got != big:
        fail(f"10 MB echo differs: {len(got)} bytes back of {len(big)}")
    print(f"ok: {len(big)} bytes echoed and compared", flush=True)
    print(f"RESULT echo_mb_per_s {len(big) / dt / 1e6:.1f}", flush=True)

    msg = pattern(100, 3)
    t0 = time.time()
    for i in range(a.short):
        if echo_once(a.host, a.port, msg) != msg:
            fail(f"short connection {i}: echo differs")
    dt = time.time() - t0
    print(f"ok: {a.short} short connections in a row", flush=True)
    print(f"RESULT connections_per_s {a.short / dt:.0f}", flush=True)

    results = [None] * a.parallel
    datas = [pattern(512 * 1024, 10 + i) for i in range(a.parallel)]

    def one(i):
        results[i] = echo_once(a.host, a.port, datas[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(a.parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT_S * 4)
    for i in range(a.parallel):
        if results[i] != datas[i]:
            fail(f"parallel connection {i}: echo differs")
    print(f"ok: {a.parallel} connections at once", flush=True)


if __name__ == "__main__":
    main()
