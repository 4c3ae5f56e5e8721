#!/usr/bin/env python3
"""The router_cli_test's trace and its checks (standard library only).

  router_pcaps.py write IN.pcap EMPTY.pcap
      IN.pcap: the frames host 10.1.0.2 (MAC 02:00:00:00:0a:02) sends into
      port a (net_pcap0, MAC 02:70:63:61:70:00); EMPTY.pcap: port b's RX.
  router_pcaps.py write-routed IN.pcap
      Only the routed IPv4 frames (to 10.3.0.7 and 10.4.0.7), for replaying
      forever while routes change.
  router_pcaps.py write-unresolved IN.pcap
      N_UNRESOLVED frames to 10.2.0.9 and N_UNRESOLVED6 to fd00:2::9: on
      port b's prefixes, no neighbour there.
  router_pcaps.py check-unresolved OUT_A.pcap OUT_B.pcap STATS.json
      max_probes (3) ARP requests for 10.2.0.9 and as many neighbour
      solicitations for fd00:2::9 out of b, then an ICMP host unreachable
      (ICMPv6 address unreachable) per frame back out of a, the frames
      counted unresolved.
  router_pcaps.py check OUT_A.pcap OUT_B.pcap STATS.json
      What the router sent out of each port and its final stats, against
      what the trace must produce (the N_* counts below, per kind). Exit 1
      naming the first difference.
"""
import json
import struct
import sys

MAC_A = bytes.fromhex("027063617000")  # net_pcap0, the router's port a
MAC_B = bytes.fromhex("027063617001")  # net_pcap1, port b
HOST_A = bytes.fromhex("020000000a02")  # 10.1.0.2, fd00:1::2 (static neighbour)
HOST_B = bytes.fromhex("020000000b02")  # 10.2.0.2, fd00:2::2 (static neighbour)
GW_B3 = bytes.fromhex("020000000b03")  # 10.2.0.3 (static): the gateway of 10.4.0.0/16
OTHER = bytes.fromhex("020000000c0c")  # a MAC that is not the router's
IP_A, IP_R_A = bytes([10, 1, 0, 2]), bytes([10, 1, 0, 1])
V6_A = bytes.fromhex("fd000001" + "0" * 23 + "2")
V6_B = bytes.fromhex("fd000002" + "0" * 23 + "2")
V6_R_A = bytes.fromhex("fd000001" + "0" * 23 + "1")  # the router's fd00:1::1 on port a
V6_UNROUTED = bytes.fromhex("fd000009" + "0" * 23 + "9")  # fd00:9::9: no route

# What the trace holds (count each) and what must come of it.
N_V4, N_V6, N_TTL1, N_UNROUTED, N_BADSUM = 50, 20, 5, 5, 3
N_ARP, N_ECHO, N_NOT_US, N_TRUNC, N_FILTERED, N_BCAST = 2, 2, 3, 2, 4, 2
# IPv6 to the router: echo requests to fd00:1::1, datagrams to an unrouted
# prefix (ICMPv6 unreachable, no route) and with hop limit 1 (time exceeded).
N_ECHO6, N_UNROUTED6, N_HOPLIM1 = 2, 2, 2


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(dst, proto, body, ttl=64, ident=0):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), ident, 0, ttl, proto, 0, IP_A, dst)
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + body


def udp(i, dport=53):
    payload = bytes((i + k) & 0xFF for k in range(26))
    # Checksum wrong on purpose: transit traffic is not L4-checked.
    return struct.pack("!HHHH", 1000 + i, dport, 8 + len(payload), 0x1234) + payload


def ether(dst, ethertype, body):
    return dst + HOST_A + struct.pack("!H", ethertype) + body


def v4_frame(i, dst=bytes([10, 3, 0, 7]), ttl=64, dport=53):
    return ether(MAC_A, 0x0800, ipv4(dst, 17, udp(i, dport), ttl, ident=i))


def ipv6(dst, nh, body, hop_limit=64):
    return struct.pack("!IHBB16s16s", 0x60000000, len(body), nh, hop_limit, V6_A, dst) + body


def v6_frame(i, dst=V6_B, hop_limit=64):
    return ether(MAC_A, 0x86DD, ipv6(dst, 17, udp(i), hop_limit))


def csum6(src, dst, nh, body):
    """The ICMPv6 / UDP checksum over the IPv6 pseudo-header and body."""
    return csum(src + dst + struct.pack("!IxxxB", len(body), nh) + body)


def echo6_request(i):
    icmp = struct.pack("!BBHHH", 128, 0, 0, 0x66, i) + b"y" * 24
    icmp = icmp[:2] + struct.pack("!H", csum6(V6_A, V6_R_A, 58, icmp)) + icmp[4:]
    return ether(MAC_A, 0x86DD, ipv6(V6_R_A, 58, icmp))


def arp_request():
    a = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, HOST_A, IP_A, b"\0" * 6, IP_R_A)
    return ether(b"\xff" * 6, 0x0806, a + b"\0" * 18)


def echo_request(i, dst_mac=MAC_A):
    icmp = struct.pack("!BBHHH", 8, 0, 0, 0x77, i) + b"x" * 32
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    return ether(dst_mac, 0x0800, ipv4(IP_R_A, 1, icmp, ident=900 + i))


def routed_v4(i):
    """Routed frame i: even ones via 10.2.0.2 (10.3.0.0/16), odd ones via
    10.2.0.3 (10.4.0.0/16), interleaved in each burst: a neighbour memo
    keyed wrongly sends some to the other gateway's MAC."""
    return v4_frame(i, dst=bytes([10, 3 + (i & 1), 0, 7]))


def trace():
    f = [routed_v4(i) for i in range(N_V4)]
    f += [v6_frame(i) for i in range(N_V6)]
    f += [v4_frame(100 + i, ttl=1) for i in range(N_TTL1)]
    f += [v4_frame(200 + i, dst=bytes([10, 9, 9, 9])) for i in range(N_UNROUTED)]
    for i in range(N_BADSUM):
        fr = bytearray(v4_frame(300 + i))
        fr[14 + 10] ^= 0xFF  # IPv4 header checksum
        f.append(bytes(fr))
    f += [arp_request() for _ in range(N_ARP)]
    # The last echo request is sent to the broadcast MAC: the reply still
    # comes from port a's own MAC.
    f += [echo_request(i, MAC_A if i + 1 < N_ECHO else b"\xff" * 6) for i in range(N_ECHO)]
    f += [OTHER + v4_frame(400 + i)[6:] for i in range(N_NOT_US)]
    f += [v4_frame(500 + i)[: 14 + 12] for i in range(N_TRUNC)]  # IPv4 header cut
    f += [v4_frame(600 + i, dport=9999) for i in range(N_FILTERED)]
    f += [v4_frame(800 + i, dst=bytes([10, 2, 0, 255])) for i in range(N_BCAST)]
    f += [echo6_request(i) for i in range(N_ECHO6)]
    f += [v6_frame(900 + i, dst=V6_UNROUTED) for i in range(N_UNROUTED6)]
    f += [v6_frame(950 + i, hop_limit=1) for i in range(N_HOPLIM1)]
    return f


def write(path, frames):
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for fr in frames:
            out.write(struct.pack("<IIII", 0, 0, len(fr), len(fr)) + fr)


def read(path):
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):
        raise SystemExit(f"FAIL: {path}: not a pcap file")
    off, frames = 24, []
    while off + 16 <= len(data):
        incl = struct.unpack("<IIII", data[off : off + 16])[2]
        frames.append(data[off + 16 : off + 16 + incl])
        off += 16 + incl
    return frames


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check_b(frames):
    """Port b: the routed IPv4 (TTL 63, header checksum right, payload as
    sent) and IPv6 (hop limit 63) frames, MACs rewritten. Each is a flow of
    its own (source port i), so workers may interleave them: matched by
    source port, not by position."""
    v4 = [f for f in frames if f[12:14] == b"\x08\x00"]
    v6 = [f for f in frames if f[12:14] == b"\x86\xdd"]
    if len(v4) != N_V4 or len(v6) != N_V6 or len(frames) != N_V4 + N_V6:
        fail(f"port b sent {len(v4)} IPv4, {len(v6)} IPv6, {len(frames)} in all; "
             f"want {N_V4}, {N_V6}")
    seen = set()
    for f in v4:
        i = struct.unpack("!H", f[34:36])[0] - 1000
        want = routed_v4(i) if 0 <= i < N_V4 else b""
        gw = GW_B3 if i & 1 else HOST_B
        if f[:6] != gw or f[6:12] != MAC_B:
            fail(f"port b IPv4 #{i}: MACs {f[:12].hex()} not rewritten to {gw.hex()}/{MAC_B.hex()}")
        if f[14 + 8] != 63 or csum(f[14:34]) != 0:
            fail(f"port b IPv4 #{i}: TTL {f[22]} or header checksum wrong")
        if f[34:] != want[34:] or f[14:22] != want[14:22]:
            fail(f"port b IPv4 #{i}: changed beyond TTL and checksum")
        seen.add(("v4", i))
    for f in v6:
        i = struct.unpack("!H", f[54:56])[0] - 1000
        want = v6_frame(i) if 0 <= i < N_V6 else b""
        if f[:6] != HOST_B or f[14 + 7] != 63 or f[22:] != want[22:]:
            fail(f"port b IPv6 #{i}: wrong MAC, hop limit or payload")
        seen.add(("v6", i))
    if len(seen) != N_V4 + N_V6:
        fail(f"port b: {N_V4 + N_V6 - len(seen)} frames duplicated (others missing)")


def check_a(frames):
    """Port a: the ICMP errors (time exceeded, net unreachable) quoting the
    offending header, the ARP replies and the echo replies, to host A; and
    for IPv6 the ICMPv6 echo replies, unreachables (no route) and hop limit
    errors (check_icmp6_to_a)."""
    kinds = {"ttl": 0, "unreach": 0, "arp": 0, "echo": 0, "echo6": 0, "unreach6": 0, "hoplim": 0,
             "addr6": 0}
    for f in frames:
        if f[:6] != HOST_A or f[6:12] != MAC_A:
            fail(f"port a frame with MACs {f[:12].hex()}")
        et = f[12:14]
        if et == b"\x86\xdd":
            kinds[check_icmp6_to_a(f)] += 1
            continue
        if et == b"\x08\x06":
            op = struct.unpack("!H", f[20:22])[0]
            if op != 2 or f[22:28] != MAC_A or f[28:32] != IP_R_A:
                fail("port a: ARP frame is not a reply for 10.1.0.1 with port a's MAC")
            kinds["arp"] += 1
            continue
        if et != b"\x08\x00" or f[23] != 1:
            fail(f"port a: unexpected frame {f[:40].hex()}")
        ihl = (f[14] & 0xF) * 4
        icmp = f[14 + ihl :]
        if csum(f[14 : 14 + ihl]) != 0 or csum(icmp) != 0 or f[30:34] != IP_A:
            fail("port a: ICMP with a bad checksum or not to 10.1.0.2")
        if f[26:30] != IP_R_A:
            fail(f"port a: ICMP from {f[26:30].hex()}, not from port a's 10.1.0.1")
        quoted = icmp[8:]
        if (icmp[0], icmp[1]) == (11, 0):
            kinds["ttl"] += 1
        elif (icmp[0], icmp[1]) == (3, 0):
            kinds["unreach"] += 1
            if quoted[16:20] != bytes([10, 9, 9, 9]):
                fail("port a: unreachable does not quote the datagram to 10.9.9.9")
        elif icmp[0] == 0:
            kinds["echo"] += 1
            continue
        else:
            fail(f"port a: ICMP type {icmp[0]} code {icmp[1]}")
        if len(quoted) < 28 or quoted[0] >> 4 != 4:
            fail("port a: ICMP error quotes less than the IPv4 header and 8 bytes")
    want = {"ttl": N_TTL1, "unreach": N_UNROUTED, "arp": N_ARP, "echo": N_ECHO,
            "echo6": N_ECHO6, "unreach6": N_UNROUTED6, "hoplim": N_HOPLIM1, "addr6": 0}
    if kinds != want:
        fail(f"port a sent {kinds}, want {want}")


def check_icmp6_to_a(f, src=V6_R_A):
    """An ICMPv6 frame out of port a from `src` to fd00:1::2, its checksum
    right: "echo6" (a reply to echo6_request, payload returned),
    "unreach6" (no route, quoting the datagram to fd00:9::9), "addr6"
    (address unreachable) or "hoplim" (hop limit exceeded)."""
    ip, icmp = f[14:54], f[54:]
    if ip[6] != 58 or ip[8:24] != src or ip[24:40] != V6_A:
        fail(f"port a: IPv6 frame not ICMPv6 from {src.hex()} to fd00:1::2: {ip.hex()}")
    if struct.unpack("!H", ip[4:6])[0] != len(icmp) or csum6(src, V6_A, 58, icmp) != 0:
        fail("port a: ICMPv6 length or checksum wrong")
    quoted = icmp[8:]
    if icmp[0] == 129:
        i = struct.unpack("!H", icmp[6:8])[0]
        want = echo6_request(i)[54:] if 0 <= i < N_ECHO6 else b""
        if icmp[1] != 0 or icmp[4:] != want[4:]:
            fail("port a: ICMPv6 echo reply does not return the request's id, seq and data")
        return "echo6"
    if len(quoted) < 48 or quoted[0] >> 4 != 6 or quoted[8:24] != V6_A:
        fail("port a: ICMPv6 error does not quote the offending IPv6 header and 8 bytes")
    if (icmp[0], icmp[1]) == (1, 0) and quoted[24:40] == V6_UNROUTED:
        return "unreach6"
    if (icmp[0], icmp[1]) == (1, 3):
        return "addr6"
    if (icmp[0], icmp[1]) == (3, 0) and quoted[24:40] == V6_B and quoted[7] == 1:
        return "hoplim"
    fail(f"port a: ICMPv6 type {icmp[0]} code {icmp[1]} quoting {quoted[:40].hex()}")


def check_stats(s):
    d = s["drops"]
    want = {
        "ttl_exceeded": N_TTL1,
        "no_route": N_UNROUTED + N_UNROUTED6,
        "hop_limit_exceeded": N_HOPLIM1,
        "bad_ip_checksum": N_BADSUM,
        "l2_not_for_us": N_NOT_US,
        "truncated_ip": N_TRUNC,
        "filtered": N_FILTERED,
        "directed_broadcast": N_BCAST,
    }
    for k, v in want.items():
        if d.get(k) != v:
            fail(f"drop {k}: {d.get(k)}, want {v} (drops: {d})")
    n_in = len(trace())
    if s["frames_in"] != n_in:
        fail(f"frames_in {s['frames_in']}, want {n_in}")
    if s["forwarded"] != N_V4 + N_V6:
        fail(f"forwarded {s['forwarded']}, want {N_V4 + N_V6}")
    if s["balance"] != 0 or not s.get("final"):
        fail(f"final stats do not balance: {s['balance']}")


N_UNRESOLVED, N_UNRESOLVED6, MAX_PROBES = 3, 2, 3
NOBODY = bytes([10, 2, 0, 9])
NOBODY6 = bytes.fromhex("fd000002" + "0" * 23 + "9")  # fd00:2::9, on b's prefix
V6_R_B = bytes.fromhex("fd000002" + "0" * 23 + "1")  # the router's fd00:2::1


def unresolved_trace():
    return [v4_frame(700 + i, dst=NOBODY) for i in range(N_UNRESOLVED)] + [
        v6_frame(750 + i, dst=NOBODY6) for i in range(N_UNRESOLVED6)
    ]


def check_solicit(f):
    """A neighbour solicitation for fd00:2::9 from fd00:2::1 (port b's MAC)
    to its solicited-node group ff02::1:ff00:9, checksum right."""
    group = bytes.fromhex("ff02" + "0" * 18 + "01ff000009")
    ip, icmp = f[14:54], f[54:]
    if f[:6] != bytes.fromhex("3333ff000009") or f[6:12] != MAC_B or ip[6] != 58 or ip[7] != 255:
        fail(f"port b: not a solicitation to 33:33:ff:00:00:09 with hop limit 255: {f[:22].hex()}")
    if ip[8:24] != V6_R_B or ip[24:40] != group or icmp[0] != 135 or icmp[8:24] != NOBODY6:
        fail(f"port b: not an NS from fd00:2::1 for fd00:2::9: {f[14:78].hex()}")
    if csum6(V6_R_B, group, 58, icmp) != 0:
        fail("port b: neighbour solicitation checksum wrong")


def check_unresolved(out_a, out_b, s):
    arp = [f for f in out_b if f[12:14] == b"\x08\x06"]
    ns = [f for f in out_b if f[12:14] == b"\x86\xdd"]
    if len(arp) != MAX_PROBES or len(ns) != MAX_PROBES or len(out_b) != 2 * MAX_PROBES:
        fail(f"port b sent {len(out_b)} frames, {len(arp)} ARP, {len(ns)} IPv6; "
             f"want {MAX_PROBES} ARP requests and {MAX_PROBES} solicitations")
    for f in ns:
        check_solicit(f)
    for f in arp:
        op = struct.unpack("!H", f[20:22])[0]
        if op != 1 or f[38:42] != NOBODY or f[:6] != b"\xff" * 6 or f[28:32] != bytes([10, 2, 0, 1]):
            fail(f"port b: not a broadcast ARP request from 10.2.0.1 for 10.2.0.9: {f[:42].hex()}")
    n = n6 = 0
    for f in out_a:
        if f[12:14] == b"\x86\xdd":
            if f[:6] != HOST_A or check_icmp6_to_a(f) != "addr6" or f[54 + 8 + 24 : 54 + 8 + 40] != NOBODY6:
                fail(f"port a: not an ICMPv6 address unreachable about fd00:2::9: {f[:80].hex()}")
            n6 += 1
            continue
        ihl = (f[14] & 0xF) * 4
        icmp = f[14 + ihl :]
        if f[12:14] != b"\x08\x00" or f[23] != 1 or (icmp[0], icmp[1]) != (3, 1):
            fail(f"port a: not an ICMP host unreachable: {f[:40].hex()}")
        if f[:6] != HOST_A or f[30:34] != IP_A or icmp[8 + 16 : 8 + 20] != NOBODY or csum(icmp):
            fail("port a: host unreachable not to 10.1.0.2 or not quoting the datagram")
        n += 1
    if n != N_UNRESOLVED or n6 != N_UNRESOLVED6:
        fail(f"port a sent {n} host and {n6} address unreachables, "
             f"want {N_UNRESOLVED} and {N_UNRESOLVED6}")
    if s["drops"].get("neighbour_unresolved") != N_UNRESOLVED + N_UNRESOLVED6 or s["balance"] != 0:
        fail(f"stats: drops {s['drops']}, balance {s['balance']}")


def last_json(path):
    lines = [l for l in open(path).read().splitlines() if l.strip()]
    return json.loads(lines[-1])


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "write":
        write(sys.argv[2], trace())
        write(sys.argv[3], [])
    elif len(sys.argv) == 3 and sys.argv[1] == "write-routed":
        write(sys.argv[2], [routed_v4(i) for i in range(N_V4)])
    elif len(sys.argv) == 3 and sys.argv[1] == "write-unresolved":
        write(sys.argv[2], unresolved_trace())
    elif len(sys.argv) == 5 and sys.argv[1] == "check-unresolved":
        check_unresolved(read(sys.argv[2]), read(sys.argv[3]), last_json(sys.argv[4]))
        print("ok: unresolved next hop answered with host unreachable")
    elif len(sys.argv) == 5 and sys.argv[1] == "check":
        check_b(read(sys.argv[3]))
        check_a(read(sys.argv[2]))
        check_stats(last_json(sys.argv[4]))
        print("ok: router output and stats")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
