#!/usr/bin/env bash
# The simulator's subcommands as a user runs them: `netisr sim` (JSON keys,
# determinism, usage errors), `netisr compare` on a small mix (report files:
# tables present, plots non-empty, HTML and JSON parse), and `netisr sweep`
# through GNU parallel and back with --merge.
set -euo pipefail

binary="${TEST_SRCDIR:-.}/netisr/apps/netisr"
[[ -x $binary ]] || binary="$PWD/bazel-bin/apps/netisr"
profile="${TEST_SRCDIR:-.}/netisr/sim/profiles/default.profile"
[[ -f $profile ]] || profile="$PWD/sim/profiles/default.profile"
tmp="${TEST_TMPDIR:-$(mktemp -d)}"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# bounded <seconds> <command...>: the command, killed if it runs longer, so a
# hang fails here, named (exit 124; 137 if it ignored TERM), not at bazel's
# 900 s with no output.
# The bounds are a few times what each takes under ASan beside the
# suite's other tests (the whole script: ~240 s there, ~110 s without).
bounded() {
  local secs=$1
  shift
  timeout --kill-after=10 "$secs" "$@"
}

# --- netisr sim ---------------------------------------------------------
bounded 300 "$binary" sim --cpus 4 --packets 50000 --scenario mix --dispatch adaptive --load 2e6 --json \
  >"$tmp/a.json" || fail "sim exited $?"
bounded 300 "$binary" sim --cpus 4 --packets 50000 --scenario mix --dispatch adaptive --load 2e6 --json \
  >"$tmp/b.json" || fail "sim exited $?"
python3 - "$tmp/a.json" "$tmp/b.json" <<'PY' || fail "bad sim JSON"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
for k in ["packets", "wall_s", "sim_pps", "throughput_pps", "mean_us", "p50_us", "p99_us",
          "p999_us", "reordered", "dropped", "cpu_util"]:
    assert k in a, k
assert isinstance(a["dropped"], dict) and len(a["cpu_util"]) == 4, a
assert a["packets"] == a["delivered"] + sum(a["dropped"].values()), a
assert a["reordered"] == 0 and a["conserved"], a
for k in ["wall_s", "cpu_s", "sim_pps"]:
    a.pop(k); b.pop(k)
assert a == b, "same seed, different result"
PY

# check_usage <expected text> <sim flags...>: exit 2, the text on stderr.
check_usage() {
  local want=$1
  shift
  set +e
  "$binary" "$@" >"$tmp/out" 2>"$tmp/err"
  local code=$?
  set -e
  [[ $code -eq 2 ]] || fail "$* exited $code, not 2"
  grep -qF -- "$want" "$tmp/err" || fail "$*: stderr lacks '$want': $(cat "$tmp/err")"
}
check_usage "--scenario 'nope' is not one of: uniform, zipf, elephants, skew, synflood" \
  sim --scenario nope
check_usage "--dispatch 'fast' is not one of: direct, deferred, hybrid, adaptive, oracle" \
  sim --dispatch fast
check_usage "--policy 'rss' is not one of: flow, source, cpu" sim --policy rss
check_usage "--arrival 'bursty' is not one of: poisson, fixed" sim --arrival bursty
check_usage "--service-dist 'pareto' is not one of: fixed, exp, bimodal" sim --service-dist pareto
check_usage "--load 'lots' is neither saturate nor packets per second" sim --load lots
check_usage "--cpus 65 out of range [1, 64]" sim --cpus 65
check_usage "--profile '/nonexistent.profile': cannot read the file" sim --profile /nonexistent.profile
check_usage "needs --policy flow" sim --dispatch oracle --policy cpu
check_usage "--policies 'fast' is not one of" compare --policies direct,fast
check_usage "--cpus '99' is not a CPU count in [1, 64]" compare --cpus 2,99
check_usage "--sim-ms 2000 out of range [0, 1000]" compare --sim-ms 2000
check_usage "--real-reps 10 out of range [1, 9]" compare --real-reps 10
check_usage "--packets 5 out of range [10000, 1e8]" calibrate --packets 5
check_usage "--service-ns -1 out of range [0, 100000]" calibrate --service-ns -1
check_usage "--stdout goes with --emit-jobs" sweep --stdout --merge "$tmp"
check_usage "is neither a folder of results nor a file of JSON lines" sweep --merge /nonexistent

# --- netisr calibrate: a profile that sim and compare read back ------------
bounded 300 "$binary" calibrate --packets 20000 --service-ns 100 --out "$tmp/cal.profile" >/dev/null ||
  fail "calibrate exited $?"
grep -q "^rx_pkt_ns = [0-9]" "$tmp/cal.profile" || fail "no rx_pkt_ns: $(cat "$tmp/cal.profile")"
grep -q "^handoff_pkt_ns = [0-9]" "$tmp/cal.profile" || fail "no handoff_pkt_ns"
grep -q "^handoff_producer_ns = [0-9]" "$tmp/cal.profile" || fail "no handoff_producer_ns"
grep -q "lookup_\*_ns    = locked connection lookup" "$tmp/cal.profile" ||
  fail "calibrate does not say it measured the lookups"
grep -q "handler work 100 ns, 20000 packets; the cheapest" "$tmp/cal.profile" ||
  fail "calibrate's header does not say how it measured: $(head -8 "$tmp/cal.profile")"
bounded 300 "$binary" sim --cpus 2 --packets 20000 --profile "$tmp/cal.profile" --json >/dev/null ||
  fail "sim could not read the calibrated profile"
check_usage "--grid: key 'speed' is not one of" sweep --grid 'speed=1' --emit-jobs "$tmp/j"
check_usage "give exactly one of" sweep --grid 'cpus=2'

# --- netisr compare -------------------------------------------------------
bounded 600 "$binary" compare --scenario uniform,skew --cpus 2,4 --policies direct,hybrid,adaptive,oracle \
  --packets 20000 --sim-ms 0 --real-packets 50000 --out "$tmp/report" >"$tmp/table" 2>"$tmp/cmp_err" ||
  fail "compare exited $?: $(cat "$tmp/cmp_err")"
grep -q "^verdict: uniform: " "$tmp/table" || fail "no verdict line: $(cat "$tmp/table")"
grep -q "^verdict: skew: .*adaptive/oracle" "$tmp/table" || fail "no adaptive/oracle in verdict"
# stderr is a pipe here: no progress bar, nothing but warnings.
if grep -qv "^netisr compare: warning" "$tmp/cmp_err"; then
  fail "compare wrote more than warnings to a piped stderr (a progress bar?): $(head -c 500 "$tmp/cmp_err")"
fi
for f in report.md report.html results.csv results.json; do
  [[ -s "$tmp/report/$f" ]] || fail "report file $f missing or empty"
done
python3 - "$tmp/report" "$profile" <<'PY' || fail "bad compare report"
import csv, html.parser, json, os, sys
d = sys.argv[1]
shipped = dict(l.split("=") for l in open(sys.argv[2]) if "=" in l and not l.startswith("#"))
shipped = {k.strip(): float(v) for k, v in shipped.items()}
j = json.load(open(os.path.join(d, "results.json")))
for scen in ["uniform", "skew"]:
    s = j["scenarios"][scen]
    for pol in ["direct", "hybrid", "adaptive", "oracle"]:
        r = s["results"][pol]
        assert r["throughput_pps"] > 0 and r["p50_us"] <= r["p99_us"], r
        assert "dropped" in r
    assert s["adaptive_vs_oracle"] > 0, s
    v = s["validation"]
    for k in ["throughput_gap", "p99_gap", "same_ranking"]:
        assert k in v, v
    assert isinstance(v["same_ranking"], bool)
    # Three interleaved real runs per policy: the median and their range;
    # the ranking check names every pair it holds against the simulation.
    assert v["real_reps"] == 3, v
    assert v["same_ranking"] == (v["ranking_conflicts"] == []), v
    for e in v["policies"].values():
        assert 0 < e["real_lo_pps"] <= e["real_pps"] <= e["real_hi_pps"], e
    # The validation simulates with the dispatch costs measured in this run.
    # (>= 0: beside other tests the runs' threads lose the CPU mid-handler.)
    assert v["costs_now"]["rx_pkt_ns"] >= 0 and v["costs_now"]["handoff_pkt_ns"] >= 0, v
    assert 0 <= v["costs_now"]["handoff_producer_ns"] <= v["costs_now"]["handoff_pkt_ns"], v
    # Beside them, the shipped profile's, per packet at full bursts.
    want = shipped["rx_pkt_ns"] + shipped["rx_burst_ns"] / 32
    assert abs(v["profile_costs"]["rx_pkt_ns"] - want) < 1e-9, (v, want)
    # The real dispatcher runs the oracle too (its placement as affinity hints).
    assert "oracle" in v["policies"] and v["policies"]["oracle"]["real_pps"] > 0, v
md = open(os.path.join(d, "report.md")).read()
assert "## uniform" in md and "| policy | Mpps | p50 us | p99 us | dropped |" in md, md[:500]
assert "Validation against the real dispatcher" in md and "median of 3 interleaved runs" in md
assert "dispatch costs measured now" in md
# Each scenario's validation note says the simulation misses the real run
# exactly when a gap is beyond 15%, and names which.
for scen in ["uniform", "skew"]:
    v = j["scenarios"][scen]["validation"]
    sec = md.split("\n## " + scen + "\n", 1)[1].split("\n## ", 1)[0]
    thr_bad, p99_bad = abs(v["throughput_gap"]) > 0.15, abs(v["p99_gap"]) > 0.15
    assert v["within_15pct"] == (not thr_bad) and v["p99_within_15pct"] == (not p99_bad), v
    assert ("misses the real run here" in sec) == (thr_bad or p99_bad), (scen, v, sec)
    assert ("throughput by" in sec) == thr_bad and ("p99 by" in sec) == p99_bad, (scen, sec)
plots = [f for f in os.listdir(os.path.join(d, "plots")) if f.endswith(".svg")]
assert len(plots) == 6, plots
for p in plots:
    t = open(os.path.join(d, "plots", p)).read()
    assert "<svg" in t and "</svg>" in t and "<path" in t, p
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.tags = {}; self.refs = []
    def handle_starttag(self, tag, a):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.refs += [v for k, v in a if k in ("src", "href") and tag != "a"]
p = P(); p.feed(open(os.path.join(d, "report.html")).read()); p.close()
# Self-contained: the 6 plots inline, nothing loaded from elsewhere; the
# tables as tables (per scenario the policies and the validation).
assert p.tags.get("svg") == 6, p.tags
assert not p.refs, p.refs
assert p.tags.get("table", 0) >= 4 and p.tags.get("th", 0) >= 20, p.tags
rows = list(csv.DictReader(open(os.path.join(d, "results.csv"))))
assert {r["kind"] for r in rows} >= {"sim", "sim-load", "sim-bench", "real"}, {r["kind"] for r in rows}
PY

# --- netisr sweep through GNU parallel --------------------------------------
command -v parallel >/dev/null || fail "GNU parallel missing (scripts/bootstrap.sh installs it)"
"$binary" sweep --grid 'cpus=2,4;dispatch=direct,adaptive;load=1e6,2e6;packets=20000' \
  --emit-jobs "$tmp/jobs.txt" --binary "$binary" --out "$tmp/sweep" >/dev/null ||
  fail "sweep --emit-jobs exited $?"
[[ $(wc -l <"$tmp/jobs.txt") -eq 8 ]] || fail "expected 8 jobs: $(cat "$tmp/jobs.txt")"
bounded 600 parallel --will-cite -j 2 <"$tmp/jobs.txt" || fail "a sweep job failed ($?)"
"$binary" sweep --merge "$tmp/sweep/runs" --out "$tmp/sweep" --json >"$tmp/merged.json" ||
  fail "sweep --merge exited $?"
python3 - "$tmp/merged.json" "$tmp/sweep" <<'PY' || fail "bad merged sweep"
import json, os, sys
j = json.load(open(sys.argv[1]))
assert len([p for p in j["points"] if p["kind"] == "sim"]) == 8, j["points"]
s = j["scenarios"]["uniform"]
assert set(s["results"]) == {"direct", "adaptive"}, s
assert os.path.getsize(os.path.join(sys.argv[2], "report.md")) > 0
PY

# --- the same sweep across hosts that share no folder ------------------------
# A stand-in for ssh: runs each job in a fresh folder of its own, as a remote
# host would (it shares this one's files here, but not the working folder).
# --stdout jobs print their result, and parallel brings standard output back.
cat >"$tmp/fakessh" <<'EOF'
#!/bin/bash
while [[ $1 == -* ]]; do shift; done
shift
[[ $1 == -- ]] && shift
cd "$(mktemp -d "$REMOTE_ROOT/host.XXXXXX")" || exit 255
export SHELL=/bin/bash  # as an ssh login sets it (Bazel's test environment has none)
exec bash -c "$*"
EOF
chmod +x "$tmp/fakessh"
echo "1/fakehost" >"$tmp/hosts"
export REMOTE_ROOT="$tmp/remote"
mkdir -p "$REMOTE_ROOT"
remote_sweep() {
  bounded 600 parallel --will-cite --ssh "$tmp/fakessh" --sshloginfile "$tmp/hosts" "$@"
}
"$binary" sweep --grid 'cpus=2,4;dispatch=direct,adaptive;load=1e6,2e6;packets=20000' \
  --emit-jobs "$tmp/jobs_stdout.txt" --stdout --binary "$binary" >"$tmp/out" ||
  fail "sweep --emit-jobs --stdout exited $?"
grep -q ' > ' "$tmp/jobs_stdout.txt" && fail "--stdout job lines still redirect: $(head -1 "$tmp/jobs_stdout.txt")"
remote_sweep <"$tmp/jobs_stdout.txt" >"$tmp/results.jsonl" || fail "a remote sweep job failed ($?)"
[[ $(grep -c . "$tmp/results.jsonl") -eq 8 ]] || fail "expected 8 result lines: $(head -c 300 "$tmp/results.jsonl")"
"$binary" sweep --merge "$tmp/results.jsonl" --out "$tmp/sweep_remote" --json >"$tmp/merged_remote.json" ||
  fail "sweep --merge results.jsonl exited $?"
python3 - "$tmp/merged.json" "$tmp/merged_remote.json" <<'PY' || fail "remote sweep differs from the local one"
import json, sys
def points(f):
    return sorted((p["cpus"], p["policy"], p["offered_pps"], p["throughput_pps"], p["p99_us"])
                  for p in json.load(open(f))["points"] if p["kind"] == "sim")
a, b = points(sys.argv[1]), points(sys.argv[2])
assert len(a) == 8 and a == b, (a, b)
PY
# The same lines from standard input.
"$binary" sweep --merge - --out "$tmp/sweep_stdin" --json <"$tmp/results.jsonl" >"$tmp/merged_stdin.json" ||
  fail "sweep --merge - exited $?"
python3 - "$tmp/merged_remote.json" "$tmp/merged_stdin.json" <<'PY' || fail "--merge - differs"
import json, sys
a, b = (json.load(open(f))["points"] for f in sys.argv[1:])
assert a == b and len(a) >= 8, (len(a), len(b))
PY
# A line that is not a result is named by file and line.
{ head -1 "$tmp/results.jsonl"; echo '{"not": "a result"}'; } >"$tmp/bad.jsonl"
set +e
"$binary" sweep --merge "$tmp/bad.jsonl" --out "$tmp/sweep_bad" >/dev/null 2>"$tmp/err"
code=$?
set -e
[[ $code -eq 1 ]] || fail "merging a bad line exited $code, not 1"
grep -qF 'bad.jsonl:2: not a `netisr sim --json` result' "$tmp/err" || fail "bad line not named: $(cat "$tmp/err")"
echo PASS
