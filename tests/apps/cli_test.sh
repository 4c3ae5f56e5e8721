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

# --lockprof: the run's lock profile, in the JSON (a non-empty `locks` with
# per-class acquisitions) and as a table after the text report.
"$binary" run --json --no-bind --packets 20000 --lockprof >"$tmp/out.json" ||
  fail "run --lockprof --json exited $?"
python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
locks = r["locks"]
assert isinstance(locks, dict) and locks, r.get("locks")
assert sum(c["acquisitions"] for c in locks.values()) > 0, locks
' "$tmp/out.json" || fail "run --lockprof: no lock profile in the JSON"
"$binary" run --no-bind --packets 20000 --json >"$tmp/out.json" || fail "run --json exited $?"
python3 -c '
import json, sys
assert "locks" not in json.load(open(sys.argv[1]))
' "$tmp/out.json" || fail "run without --lockprof printed a lock profile"
"$binary" run --no-bind --packets 20000 --lockprof >"$tmp/out" || fail "run --lockprof exited $?"
grep -q "acquisitions" "$tmp/out" || fail "run --lockprof: no lock table: $(cat "$tmp/out")"

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

# check_source_json <netisr run flags...>: a --source run's report balances
# (packets_in == delivered + every drop reason), delivered splits by layer
# and every filter rule reports its hits. Prints the report for more checks.
check_source_json() {
  "$binary" run --json --no-bind "$@" >"$tmp/src.json" || fail "run $* exited $?"
  python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
dropped = sum(r["dropped"].values())
assert r["packets_in"] == r["delivered"] + dropped, r
assert r["dropped_total"] == dropped, r
assert r["delivered"] == sum(r["delivered_by_layer"].values()), r
assert r["reordered"] == 0, r
assert r["source"] in ("synthetic", "pcap", "dpdk"), r
f = r["filter"]
if f is not None:
    assert sum(x["hits"] for x in f["rules"]) <= r["packets_in"], r
    assert f["filtered"] == r["dropped"].get("filtered", 0), r
' "$tmp/src.json" || fail "bad --source JSON report for: $*"
}

# A UDP flood filtered at receive: every flood packet is a hit, the TCP
# traffic is delivered untouched (queues deep enough for exact counts).
check_source_json --source synthetic --packets 20000 --qlimit 10240 --attack udpflood \
  --attack-share 0.5 --filter "drop proto udp dport 53"
python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
hits = r["filter"]["rules"][0]["hits"]
assert 8000 < hits < 12000, r
assert r["dropped"] == {"filtered": hits}, r
assert r["delivered_by_layer"] == {"tcp": 20000 - hits}, r
' "$tmp/src.json" || fail "udpflood filter report"
check_source_json --source synthetic --packets 5000 --distribution zipf --zipf-s 1.1 \
  --ipv6-share 0.5 --l4 mix --frame-size 200 --model inline --dispatch deferred

# check_fails <exit code> <stderr pattern> <netisr run flags...>
check_fails() {
  local want=$1 pattern=$2 rc=0
  shift 2
  "$binary" run "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  [[ $rc -eq $want ]] || fail "$*: exit $rc, want $want"
  grep -q -- "$pattern" "$tmp/err" || fail "$*: stderr lacks '$pattern': $(cat "$tmp/err")"
}

check_fails 2 "needs a file" --source pcap:
check_fails 2 "unknown kind" --source carrier-pigeon
check_fails 1 "$tmp/missing.pcap" --source "pcap:$tmp/missing.pcap"
check_fails 2 "--filter: 'udpx'" --source synthetic --filter "drop proto udpx"
check_fails 2 "--attack applies only with --source synthetic" --attack synflood
check_usage --frame-size 10
check_usage --l4 sctp

# Flags of another mode are refused by name, never ignored; --rate may not
# pace a run over more than an hour (1e-300 pps: an infinite gap).
check_fails 2 "--rate 1e-300 paces" --rate 1e-300
check_fails 2 "--rate 1000 paces --packets 10000000" --rate 1000 --packets 10000000
check_fails 2 "--flows applies only" --source "pcap:$tmp/missing.pcap" --flows 8
check_fails 2 "--seed applies only" --source "pcap:$tmp/missing.pcap" --seed 3
check_fails 2 "--flows applies only" --source "dpdk:--no-pci" --flows 8
check_fails 2 "--seed applies only" --source "dpdk:--no-pci" --seed 3
check_fails 2 "--policy applies only" --source synthetic --policy flow
check_fails 2 "--adaptive-alpha applies only with --dispatch adaptive" --adaptive-alpha 0.5
check_fails 2 "--adaptive-interval-us applies only with --dispatch adaptive" \
  --dispatch direct --adaptive-interval-us 10
check_fails 2 "--trace-us applies only" --model inline --trace-us 100
check_json --dispatch adaptive --model inline --adaptive-alpha 0.5 --flows 8 --seed 3 \
  --policy flow

# netisr lockprof: the JSON the issue names, every segment accounted for.
for strategy in global groups epoch partitioned; do
  "$binary" lockprof --json --no-bind --strategy "$strategy" --workload synflood \
    --connections 64 --duration 0.05 >"$tmp/lp.json" || fail "lockprof $strategy exited $?"
  python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["strategy"] == sys.argv[2] and r["workload"] == "synflood" and r["workers"] == 2, r
assert r["ops_per_s"] > 0 and r["conserved"] and r["segments"]["lost"] == 0, r
for c in r["locks"].values():
    assert {"acquisitions", "contended", "wait_ns", "hold_ns"} <= c.keys(), c
' "$tmp/lp.json" "$strategy" || fail "bad lockprof JSON for $strategy"
done

# check_lockprof_usage <flag> <value>: exits 2 and names the flag on stderr.
check_lockprof_usage() {
  local rc=0
  "$binary" lockprof "$1" "$2" >"$tmp/out" 2>"$tmp/err" || rc=$?
  [[ $rc -eq 2 ]] || fail "lockprof $1 $2: exit $rc, want 2"
  grep -q -- "$1" "$tmp/err" || fail "lockprof $1 $2: stderr does not name the flag: $(cat "$tmp/err")"
}
check_lockprof_usage --strategy rcu
check_lockprof_usage --workers 0
check_lockprof_usage --groups 3
check_lockprof_usage --duration soon

# check_lockprof_fails <stderr pattern> <netisr lockprof flags...>: exit 2.
check_lockprof_fails() {
  local pattern=$1 rc=0
  shift
  "$binary" lockprof "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  [[ $rc -eq 2 ]] || fail "lockprof $*: exit $rc, want 2"
  grep -q -- "$pattern" "$tmp/err" || fail "lockprof $*: stderr lacks '$pattern': $(cat "$tmp/err")"
}
check_lockprof_fails "--segments applies only" --workload steady --segments 3
check_lockprof_fails "--flood-share applies only" --workload churn --flood-share 0.2
check_lockprof_fails "--groups applies only" --strategy global --groups 64
check_lockprof_fails "--groups applies only" --strategy partitioned --groups 64

rc=0
"$binary" >/dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || fail "no subcommand: exit $rc, want 2"

echo PASS
