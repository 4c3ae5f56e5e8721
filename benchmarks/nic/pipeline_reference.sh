#!/bin/sh
# The pipeline against its speed reference, in one run: dpdk-testpmd
# io-forwarding (RX burst, TX burst, no byte touched) and pipeline_bench
# (RX -> netisr, one worker -> the whole parse chain, checksums included ->
# TX) on the same vdev, net_pcap0 replaying the same synthetic trace forever
# (real Ethernet/IPv4/TCP headers), one core each, alternately: testpmd,
# pipeline, testpmd, pipeline, ... (this 2-vCPU machine is shared, so its
# speed drifts between runs; a pair's ratio is taken close together).
#
# For each run: Mpps on the wall clock (testpmd's Rx-pps, mean of its
# per-period figures; its first print is always 0, having no earlier
# sample; pipeline_bench's window after a 0.2 s warm-up) and Mpps per CPU second of the forwarding thread (testpmd: its
# rte-worker-1 thread's CPU time from /proc against all the packets it
# received; pipeline_bench: the process's CPU time over its window). Then
# each pair's ratio pipeline / testpmd, and the medians.
#
#   benchmarks/nic/pipeline_reference.sh [reps=3] [seconds=5] [frames=4096] [frame_bytes=64] [model=poll] [dispatch=hybrid]
#
# dispatch is the stack's mode (pipeline_bench --dispatch): hybrid, the
# default and the figure docs/benchmarks.md tracks (Ethernet direct, the
# TCP hop under the hybrid rule); direct runs every layer direct.
#
# Needs dpdk-testpmd (Debian package dpdk) and builds //benchmarks/nic:pipeline_bench -c opt.
# PIPELINE_BENCH=PATH runs that pipeline_bench binary instead (no build), so that two builds
# (before/after a change) can be measured by two runs of this script, interleaved.
set -eu
reps=${1:-3}
secs=${2:-5}
frames=${3:-4096}
bytes=${4:-64}
model=${5:-poll}
dispatch=${6:-hybrid}
# Passed only when not the default, so that a PIPELINE_BENCH built before
# the flag existed still runs (hybrid).
dispatch_flag=""
[ "$dispatch" = hybrid ] || dispatch_flag="--dispatch=$dispatch"
cd "$(dirname "$0")/../.."
if [ -n "${PIPELINE_BENCH:-}" ]; then
  bench=$PIPELINE_BENCH
else
  bazel build -c opt //benchmarks/nic:pipeline_bench
  # bazel-out/k8-opt, not bazel-bin: bazel-bin follows the last build's -c.
  bench=bazel-out/k8-opt/bin/benchmarks/nic/pipeline_bench
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trace=$tmp/trace.pcap
"$bench" --write_trace="$trace" --frames="$frames" --bytes="$bytes"
hz=$(getconf CLK_TCK)

# testpmd on one port (--port-topology=loop: port 0 forwards to itself),
# non-interactive (starts at once; --stats-period prints every second).
# --total-num-mbufs: its default pool (155456 mbufs) does not fit -m 512.
# Prints "WALL_MPPS CPU_MPPS".
run_testpmd() {
  dpdk-testpmd --no-huge --no-pci --no-shconf -m 512 --file-prefix="nisr_pipe_tp_$$" \
    -l 0-1 --log-level=lib.eal:warning \
    --vdev="net_pcap0,rx_pcap=$trace,infinite_rx=1" \
    -- --forward-mode=io --port-topology=loop --stats-period 1 --tx-first --nb-cores=1 \
    --total-num-mbufs=32768 >"$tmp/testpmd.log" 2>&1 &
  pid=$!
  # Start-up (EAL without hugepages zeroes its memory) takes ~1 s here.
  sleep "$((secs + 2))"
  worker=""
  for t in /proc/"$pid"/task/*; do
    [ "$(cat "$t/comm" 2>/dev/null)" = "rte-worker-1" ] && worker=$t
  done
  ticks=0
  [ -n "$worker" ] && ticks=$(awk '{ print $14 + $15 }' "$worker/stat")
  kill -INT "$pid"
  wait "$pid" || true
  awk -v ticks="$ticks" -v hz="$hz" '
    /Rx-pps:/ { if ($2 > 0) { sum += $2; n++ } }
    /Accumulated forward statistics/ { acc = 1 }
    acc && /RX-packets:/ { total = $2; acc = 0 }
    END {
      if (n == 0 || ticks == 0) { printf "testpmd: no statistics (%d periods, %d ticks; its log follows)\n", n, ticks > "/dev/stderr"; exit 1 }
      printf "%.3f %.3f\n", sum / n / 1e6, total / (ticks / hz) / 1e6
    }' "$tmp/testpmd.log" || { cat "$tmp/testpmd.log" >&2; exit 1; }
}

# Prints "WALL_MPPS CPU_MPPS" (and keeps pipeline_bench's output in a log).
run_pipeline() {
  "$bench" --trace="$trace" --seconds="$secs" --bytes="$bytes" --model="$model" $dispatch_flag \
    >"$tmp/pipeline.log" 2>&1 || { cat "$tmp/pipeline.log"; exit 1; }
  sed -n 's/.*: \([0-9.]*\) Mpps received.*: \([0-9.]*\) Mpps per CPU second.*/\1 \2/p' \
    "$tmp/pipeline.log"
}

echo "trace: $frames frames of $bytes bytes; $reps pairs of $secs s runs; pipeline model $model, dispatch $dispatch"
: >"$tmp/ratios"
i=1
while [ "$i" -le "$reps" ]; do
  t=$(run_testpmd)
  p=$(run_pipeline)
  echo "pair $i: testpmd io-fwd $(echo "$t" | awk '{ printf "%.2f Mpps wall, %.2f Mpps/CPU-s", $1, $2 }');" \
    "pipeline $(echo "$p" | awk '{ printf "%.2f Mpps wall, %.2f Mpps/CPU-s", $1, $2 }')"
  grep -E "delivered|conservation|received =" "$tmp/pipeline.log" | sed 's/^ */    /'
  echo "$t $p" | awk '{ printf "    ratio pipeline/testpmd: wall %.3f, per CPU second %.3f\n", $3 / $1, $4 / $2 }'
  echo "$t $p" | awk '{ print $3 / $1, $4 / $2 }' >>"$tmp/ratios"
  i=$((i + 1))
done
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
echo "median ratio pipeline/testpmd: wall $(cut -d' ' -f1 "$tmp/ratios" | median)," \
  "per CPU second $(cut -d' ' -f2 "$tmp/ratios" | median)"
