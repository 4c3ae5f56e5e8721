#!/usr/bin/env bash
# Builds-and-runs examples/minimal_forwarder: on two synthetic ports, and on
# two DPDK net_pcap vdevs (port 0 replays a trace, both write what they
# send), frames out = frames in - counted drops; the forwarded frames carry
# the rewritten MACs; bad usage exits 2.
set -euo pipefail

runfiles="${TEST_SRCDIR:-.}/netisr"
binary="$runfiles/examples/minimal_forwarder"
pcaps="$runfiles/tests/examples/forwarder_pcaps.py"
tmp="${TEST_TMPDIR:-$(mktemp -d)}"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Synthetic: 4000 frames per port, two workers.
out=$("$binary" --workers 2 --synthetic 4000) || fail "synthetic run exited $?: $out"
echo "$out"
[[ $out == *"in=8000 out=8000 dropped=0"* ]] || fail "synthetic: $out"

# DPDK net_pcap: 95 frames in on port 0, 90 IP frames out of port 1, the 5
# ARP frames counted (local_unclaimed: the example delivers nothing locally).
python3 "$pcaps" "$tmp/in.pcap" "$tmp/empty.pcap"
eal=(--no-huge --no-pci --no-shconf -m 512 --log-level=lib.eal:warning
  "--vdev=net_pcap0,rx_pcap=$tmp/in.pcap,tx_pcap=$tmp/out0.pcap"
  "--vdev=net_pcap1,rx_pcap=$tmp/empty.pcap,tx_pcap=$tmp/out1.pcap")
out=$("$binary" --seconds 1 -- "${eal[@]}") || fail "dpdk run exited $?: $out"
echo "$out"
[[ $out == *"in=95 out=90 dropped=5"* ]] || fail "dpdk: $out"
[[ $out == *"local_unclaimed=5"* ]] || fail "dpdk drops: $out"
python3 - "$tmp/out1.pcap" "$tmp/out0.pcap" <<'PY' || fail "dpdk: the frames sent"
import struct, sys
def frames(path):
    data = open(path, "rb").read()
    out, off = [], 24
    while off < len(data):
        n = struct.unpack("<IIII", data[off:off + 16])[2]
        out.append(data[off + 16:off + 16 + n])
        off += 16 + n
    return out
sent = frames(sys.argv[1])
assert len(sent) == 90, len(sent)
assert len(frames(sys.argv[2])) == 0
for f in sent:
    assert f[0:6] == bytes([2, 0, 0, 0, 2, 1]) and f[6:12] == bytes([2, 0, 0, 0, 1, 1]), f[:12].hex()
assert sum(1 for f in sent if f[12:14] == b"\x08\x00") == 60
assert sum(1 for f in sent if f[12:14] == b"\x86\xdd") == 30
PY

# Usage errors: exit 2 with a message.
set +e
msg=$("$binary" --synthetic 0 2>&1)
rc=$?
set -e
[[ $rc == 2 && $msg == *"positive integer"* ]] || fail "--synthetic 0: rc $rc, $msg"
set +e
msg=$("$binary" 2>&1)
rc=$?
set -e
[[ $rc == 2 && $msg == *"--synthetic or --seconds"* ]] || fail "no mode: rc $rc, $msg"
echo PASS
