#!/bin/sh
# The speed reference for dpdk_bench: dpdk-testpmd io-forwarding between two
# net_pcap vdevs that replay the same synthetic trace forever (each port's
# RX is forwarded to the other's TX, which net_pcap without tx_pcap/tx_iface
# drops), one forwarding core, no hugepages. Prints each port's Rx Mpps
# (mean of the per-second figures after the first), then runs dpdk_bench
# on the same trace and prints the ratio.
#
#   benchmarks/nic/testpmd_reference.sh [seconds=5] [frames=4096] [frame_bytes=64]
#
# Needs dpdk-testpmd (Debian package dpdk) and a -c opt build of
# //benchmarks/nic:dpdk_bench (built here).
set -eu
secs=${1:-5}
frames=${2:-4096}
bytes=${3:-64}
cd "$(dirname "$0")/../.."
# bazel-out/k8-opt, not bazel-bin: bazel-bin follows the last build's -c.
bazel build -c opt //benchmarks/nic:dpdk_bench
bench=bazel-out/k8-opt/bin/benchmarks/nic/dpdk_bench
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trace=$tmp/trace.pcap
"$bench" 0 "$frames" "$bytes" "$trace"

# testpmd: non-interactive (no -i) starts forwarding at once and, with
# --stats-period, prints port statistics every second until SIGINT.
timeout -s INT "$((secs + 2))" dpdk-testpmd --no-huge --no-pci --no-shconf -m 512 \
  --file-prefix="nisr_testpmd_$$" -l 0-1 --log-level=lib.eal:warning \
  --vdev="net_pcap0,rx_pcap=$trace,infinite_rx=1" \
  --vdev="net_pcap1,rx_pcap=$trace,infinite_rx=1" \
  -- --forward-mode=io --stats-period 1 --tx-first --nb-cores=1 \
  --total-num-mbufs=32768 \
  >"$tmp/testpmd.log" 2>&1 || true

# Rx-pps lines come in port order, one per port per period; skip the first
# period of each port (start-up). --total-num-mbufs: testpmd's default pool
# (155456 mbufs) does not fit in -m 512.
awk '
  /NIC statistics for port/ { for (i = 1; i < NF; i++) if ($i == "port") port = $(i + 1) + 0 }
  /Rx-pps:/ {
    seen[port]++
    if (seen[port] > 1) { sum[port] += $2; n[port]++ }
  }
  END {
    total = 0
    for (p in n) {
      printf "testpmd io-fwd port %d: %.2f Mpps RX\n", p, sum[p] / n[p] / 1e6
      total += sum[p] / n[p]
    }
    if (total == 0) { print "testpmd: no Rx-pps lines (see its log)"; exit 1 }
    printf "testpmd io-fwd total (1 core): %.2f Mpps\n", total / 1e6
    printf "%f\n", total / 1e6 > "/dev/stderr"
  }' "$tmp/testpmd.log" 2>"$tmp/total" || { cat "$tmp/testpmd.log"; exit 1; }
testpmd_total=$(cat "$tmp/total")

ours=$("$bench" "$secs" "$frames" "$bytes" "$trace")
echo "$ours"
ours_mpps=$(echo "$ours" | sed -n 's/.*: \([0-9.]*\) Mpps.*/\1/p')
awk -v a="$ours_mpps" -v b="$testpmd_total" \
  'BEGIN { printf "DpdkPort RX / testpmd io-fwd RX: %.2f\n", a / b }'
