#!/bin/sh
# dispatch_bench binaries against each other on a noisy machine: ROUNDS
# rounds, each running every binary once (5 repetitions of each benchmark
# the filter picks; round r starts with binary r, so that no binary always
# runs first), then per benchmark and binary the median and
# minimum over all repetitions of real time per iteration and of `per_item`
# (ns a packet). Interleaving spreads the machine's slow spells over every
# binary; single figures here swing 2-3x between minutes (docs/benchmarks.md).
#
#   benchmarks/netisr/interleaved.sh ROUNDS FILTER BIN [BIN ...]
#   e.g. benchmarks/netisr/interleaved.sh 4 'BareSpsc|DeferredHandoffPoll' before/dispatch_bench after/dispatch_bench
set -eu
if [ $# -lt 3 ]; then
  sed -n '2,10p' "$0" >&2
  exit 2
fi
rounds=$1
filter=$2
shift 2
for bin in "$@"; do
  [ -x "$bin" ] || { echo "interleaved.sh: $bin is not an executable" >&2; exit 2; }
done
runs=$(mktemp)
trap 'rm -f "$runs"' EXIT
r=1
while [ "$r" -le "$rounds" ]; do
  # Rotate the order by one binary a round.
  first=$1
  shift
  set -- "$@" "$first"
  for bin in "$@"; do
    "$bin" --benchmark_filter="$filter" --benchmark_repetitions=5 --benchmark_format=json \
        2>/dev/null | BIN="$bin" python3 -c '
import json, os, sys
text = sys.stdin.read()
if not text.strip():
    sys.exit(os.environ["BIN"] + ": no output (does the filter match a benchmark?)")
for b in json.loads(text)["benchmarks"]:
    if b.get("run_type") != "iteration":
        continue
    if b.get("error_occurred"):
        print(os.environ["BIN"], b["name"], "failed:", b.get("error_message"), file=sys.stderr)
        continue
    print(os.environ["BIN"].replace(" ", "_"), b["name"], b["real_time"], b.get("per_item", 0) * 1e9)
' >> "$runs"
  done
  r=$((r + 1))
done
python3 - "$runs" <<'EOF'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    binary, name, real, per_item = line.split()
    runs[(name, binary)].append((float(real), float(per_item)))
print(f"{'benchmark':40s} {'binary':36s} {'real median':>11s} {'min':>8s} {'ns/pkt median':>13s} {'min':>7s}  n")
for (name, binary), xs in sorted(runs.items()):
    real = [x[0] for x in xs]
    item = [x[1] for x in xs]
    print(f"{name:40s} {binary:36s} {statistics.median(real):11.1f} {min(real):8.1f} "
          f"{statistics.median(item):13.2f} {min(item):7.2f}  {len(xs)}")
EOF
