#!/usr/bin/env bash
# Runs the `netisr` binary as a user would: its JSON report must parse and
# account for every packet, and a bad flag must exit 2 with a message.
set -euo pipefail

binary="${TEST_SRCDIR:-.}/netisr/apps/netisr"
[[ -x $binary ]] || binary=apps/netisr
tmp="${TEST_TMPDIR:-$(mktemp -d)}"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# check_json <netisr run flags...>: the report balances and nothing reordered.
# 20000 packets unless the flags say otherwise.
check_json() {
  local packets=(--packets 20000)
  [[ " $* " == *" --packets "* ]] && packets=()
  "$binary" run --json --no-bind "${packets[@]}" "$@" >"$tmp/out.json" ||
    fail "run $* exited $?"
  python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
dropped = sum(r["dropped"].values())
assert r["packets_in"] == r["delivered"] + dropped, r
assert r["dropped_total"] == dropped, r
assert r["reordered"] == 0, r
assert r["packets_in"] == r["config"]["packets"], r
assert "workstreams" in r["netisr"], r
assert r["latency_samples"] == r["delivered"], r
assert r["p50_us"] <= r["p99_us"] <= r["p999_us"] <= r["max_us"], r
assert isinstance(r["decisions"], dict), r
assert (len(r["decisions"]) > 0) == (r["config"]["dispatch"] == "adaptive"), r
assert r["migrations"] >= 0, r
assert isinstance(r["trace"], list), r
' "$tmp/out.json" || fail "bad JSON report for: $*"
}

# check_usage <flag> <value>: exits 2 and names the flag on stderr.
check_usage() {
  local rc=0
  "$binary" run "$1" "$2" >"$tmp/out" 2>"$tmp/err" || rc=$?
  [[ $rc -eq 2 ]] || fail "$1 $2: exit $rc, want 2"
  grep -q -- "$1" "$tmp/err" || fail "$1 $2: stderr does not name the flag: $(cat "$tmp/err")"
}

check_json
check_json --model inline --dispatch deferred --policy cpu
check_json --dispatch direct --policy source --sources 3 --qlimit 8
check_json --dispatch adaptive --skew 0.9 --handler-ns 200 --adaptive-interval-us 50
check_json --dispatch adaptive --model poll --packets 4000
check_json --dispatch adaptive --model fibers
check_json --dispatch hybrid --rate 200000 --packets 2000 --trace-us 1000

check_usage --cpus 0
check_usage --cpus 65
check_usage --dispatch sideways
check_usage --cpus not-a-number
check_usage --skew 1.5
check_usage --rate -1
check_usage --model bogus
check_usage --adaptive-window-us 5

rc=0
"$binary" >/dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || fail "no subcommand: exit $rc, want 2"

echo PASS
