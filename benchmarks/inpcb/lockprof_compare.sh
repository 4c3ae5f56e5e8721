#!/usr/bin/env bash
# Compares the four connection-table strategies under `netisr lockprof`, as
# docs/locking.md reports them: ROUNDS interleaved rounds (global, groups,
# epoch, partitioned, global, ...) so that the machine's noise hits every
# strategy alike, then per strategy the median ops/s, its ratio to global's
# median, the total lock wait per second of run, and the top waiter class.
#
# Usage: benchmarks/inpcb/lockprof_compare.sh [ROUNDS] [extra lockprof flags]
#   e.g. benchmarks/inpcb/lockprof_compare.sh 5 --workload churn --workers 2
# Needs python3 for the JSON summary.
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${1:-5}
shift || true
bazel build -c opt //apps:netisr >/dev/null 2>&1
BIN=$(mktemp -d)/netisr
cp bazel-bin/apps/netisr "$BIN"
OUT=$(mktemp -d)

for ((r = 1; r <= ROUNDS; r++)); do
  for s in global groups epoch partitioned; do
    "$BIN" lockprof --json --strategy "$s" "$@" >"$OUT/$s.$r.json"
  done
done

python3 - "$OUT" "$ROUNDS" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
rows = {}
for s in ["global", "groups", "epoch", "partitioned"]:
    runs = [json.load(open(f"{out}/{s}.{r}.json")) for r in range(1, rounds + 1)]
    ops = [j["ops_per_s"] for j in runs]
    wait = [sum(c["wait_ns"] for c in j["locks"].values()) / j["seconds"] for j in runs]
    top = max(runs[0]["locks"].items(), key=lambda kv: kv[1]["wait_ns"], default=("-", {}))[0]
    lost = sum(j["segments"]["lost"] for j in runs)
    conserved = all(j["conserved"] for j in runs)
    rows[s] = (statistics.median(ops), min(ops), max(ops), statistics.median(wait), top, lost, conserved)
g = rows["global"][0]
gw = rows["global"][3]
print(f"{'strategy':12} {'Mops/s med':>10} {'min-max':>13} {'x global':>8} {'wait ms/s':>10} {'wait / global':>13}  top waiter (round 1)  lost conserved")
for s, (m, lo, hi, w, top, lost, cons) in rows.items():
    wr = f"{w / gw:.4f}" if gw > 0 else "-"
    print(f"{s:12} {m/1e6:10.3f} {lo/1e6:6.2f}-{hi/1e6:<6.2f} {m/g:8.2f} {w/1e6:10.2f} {wr:>13}  {top:20} {lost:4} {cons}")
PY
