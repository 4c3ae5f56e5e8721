#!/usr/bin/env bash
# `netisr router` as a user runs it, without root or namespaces: two DPDK
# net_pcap ports replay a crafted trace (tests/router/router_pcaps.py) and
# record what the router sends; the trace's every frame must come out right
# or be counted under its reason, in every dispatch mode and work model
# that differ in how frames cross workers. Then the usage and runtime
# errors: exit 2 naming the flag or FILE:LINE, exit 1 for what is missing
# at run time.
set -euo pipefail

binary="${TEST_SRCDIR:-.}/netisr/apps/netisr"
[[ -x $binary ]] || binary=bazel-bin/apps/netisr
here="$(dirname "$0")"
pcaps="$here/router_pcaps.py"
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
# Under ASan: libpcap's allocation that DPDK's failed net_pcap probe leaks
# (the missing-device case below) is not ours.
export LSAN_OPTIONS="suppressions=$here/lsan_libpcap.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

python3 "$pcaps" write "$tmp/in.pcap" "$tmp/empty.pcap"

# config <workers> <model> <dispatch>: the router between the two pcap
# ports, static neighbours (nothing to resolve on a pcap), one filter rule.
config() {
  cat <<EOF
[dataplane]
eal = "--no-huge --no-pci --no-shconf -m 512"
workers = $1
model = "$2"
dispatch = "$3"
[[port]]
name = "a"
device = "net_pcap0,rx_pcap=$tmp/in.pcap,tx_pcap=$tmp/out_a.pcap"
address = ["10.1.0.1/24", "fd00:1::1/64"]
[[port]]
name = "b"
device = "net_pcap1,rx_pcap=$tmp/empty.pcap,tx_pcap=$tmp/out_b.pcap"
address = ["10.2.0.1/24", "fd00:2::1/64"]
[[route]]
prefix = "10.3.0.0/16"
via = "10.2.0.2"
[[route]]
prefix = "10.4.0.0/16"
via = "10.2.0.3"
[[neighbour]]
port = "b"
address = "10.2.0.3"
mac = "02:00:00:00:0b:03"
[[neighbour]]
port = "a"
address = "10.1.0.2"
mac = "02:00:00:00:0a:02"
[[neighbour]]
port = "b"
address = "10.2.0.2"
mac = "02:00:00:00:0b:02"
[[neighbour]]
port = "b"
address = "fd00:2::2"
mac = "02:00:00:00:0b:02"
[filter]
rules = ["drop proto udp dport 9999"]
[control]
listen = ""
[tables]
max_routes4 = 8
max_routes6 = 4
tbl8_groups4 = 4
tbl8_groups6 = 64
max_next_hops = ${MAX_NEXT_HOPS:-8}
neighbours = 16
neighbour_queue = 4
neighbour_queue_total = 64
EOF
}

for combo in "1 poll direct" "2 threads deferred" "2 poll hybrid"; do
  read -r workers model dispatch <<<"$combo"
  config "$workers" "$model" "$dispatch" >"$tmp/r.toml"
  rm -f "$tmp/out_a.pcap" "$tmp/out_b.pcap"
  timeout 60 "$binary" router --config "$tmp/r.toml" --duration 1.5 --json >"$tmp/out.json" \
    2>"$tmp/err" || fail "router ($combo) exited $?: $(tail -5 "$tmp/err")"
  python3 "$pcaps" check "$tmp/out_a.pcap" "$tmp/out_b.pcap" "$tmp/out.json" ||
    fail "router ($combo): output or stats wrong"
  echo "ok: forwarding with $combo"
done

# Next hops that never answer ARP or NDP: three requests a second apart,
# then each waiting frame is counted and answered with ICMP host
# unreachable (ICMPv6 address unreachable).
python3 "$pcaps" write-unresolved "$tmp/unres.pcap"
config 1 poll direct | sed "s|rx_pcap=$tmp/in.pcap|rx_pcap=$tmp/unres.pcap|" >"$tmp/r.toml"
rm -f "$tmp/out_a.pcap" "$tmp/out_b.pcap"
timeout 60 "$binary" router --config "$tmp/r.toml" --duration 4.5 --json >"$tmp/out.json" \
  2>"$tmp/err" || fail "router (unresolved) exited $?: $(tail -5 "$tmp/err")"
python3 "$pcaps" check-unresolved "$tmp/out_a.pcap" "$tmp/out_b.pcap" "$tmp/out.json" ||
  fail "router (unresolved): output or stats wrong"

# The text report (netstat -Q style) names the ports and the drops.
config 1 poll direct >"$tmp/r.toml"
timeout 60 "$binary" router --config "$tmp/r.toml" --duration 1 >"$tmp/out.txt" 2>"$tmp/err" ||
  fail "router (text) exited $?"
grep -q "^a .* 104 " "$tmp/out.txt" || fail "text report: no row for port a: $(cat "$tmp/out.txt")"
grep -q "drops:.*no_route 7" "$tmp/out.txt" || fail "text report: drops line missing: $(cat "$tmp/out.txt")"

# --stats-interval: a JSON report every interval while it runs, then the
# final one (the only one marked final), which balances.
config 1 poll direct >"$tmp/r.toml"
timeout 60 "$binary" router --config "$tmp/r.toml" --duration 1.8 --stats-interval 0.5 --json \
  >"$tmp/out.json" 2>"$tmp/err" || fail "router (stats interval) exited $?"
python3 - "$tmp/out.json" <<'PY' || fail "router (stats interval): reports wrong"
import json, sys
reports = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
finals = [r.get("final", False) for r in reports]
if len(reports) < 3 or finals != [False] * (len(reports) - 1) + [True]:
    sys.exit(f"want periodic reports then one final; got finals {finals}")
if reports[-1]["balance"] != 0:
    sys.exit(f"final report does not balance: {reports[-1]['balance']}")
PY
echo "ok: periodic reports"

# wait_for <seconds> <command...>: runs the command every 0.1 s until it
# succeeds; fails after the deadline.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# GET /metrics on the running router: per-port counters and drops by
# reason in the Prometheus text format, with the trace's figures. The
# control port is the kernel's choice (":0"), read from the router's
# "control on HOST:PORT" line.
config 1 poll direct | sed 's|^listen = ""|listen = "127.0.0.1:0"|' >"$tmp/rc.toml"
timeout 60 "$binary" router --config "$tmp/rc.toml" >/dev/null 2>"$tmp/err" &
pid=$!
control_port() { sed -n 's/^netisr router: control on 127.0.0.1:\([0-9]*\)$/\1/p' "$tmp/err"; }
wait_for 30 grep -q "control on" "$tmp/err" || fail "router (control) never said its port: $(cat "$tmp/err")"
# Every line at once in one scrape (a burst is counted received before it
# is sent): waits until the whole trace is through.
want_metrics=('netisr_router_port_rx_packets_total{port="a"} 104'
  'netisr_router_port_tx_packets_total{port="b"} 70'
  'netisr_router_drops_total{reason="no_route"} 7'
  'netisr_router_drops_total{reason="hop_limit_exceeded"} 2'
  '# TYPE netisr_handled_total counter')
metrics() {
  curl -sf --max-time 2 "http://127.0.0.1:$(control_port)/metrics" >"$tmp/metrics" || return 1
  local want
  for want in "${want_metrics[@]}"; do grep -qxF "$want" "$tmp/metrics" || return 1; done
}
wait_for 30 metrics ||
  fail "/metrics never had all of ${want_metrics[*]}: $(head -c 3000 "$tmp/metrics")"
kill -INT "$pid"
wait "$pid" || fail "router (control) exited $? after SIGINT: $(tail -5 "$tmp/err")"
echo "ok: /metrics"

# Routes changed through the control API while traffic flows lose nothing:
# the trace's routed frames replayed forever (net_pcap infinite_rx) into
# net_null, while a more specific route over the traffic (10.3.0.0/24 via
# the other gateway) and an unrelated one are added and deleted 40 times.
# Every frame is forwarded (through one gateway or the other), none is
# dropped for want of a route, and the books balance.
python3 "$pcaps" write-routed "$tmp/routed.pcap"
config 1 poll direct |
  sed -e "s|^device = \"net_pcap0,.*|device = \"net_pcap0,rx_pcap=$tmp/routed.pcap,infinite_rx=1\"|" \
    -e 's|^device = "net_pcap1,.*|device = "net_null0,no-rx=1"|' \
    -e 's|^listen = ""|listen = "127.0.0.1:0"|' >"$tmp/churn.toml"
timeout 120 "$binary" router --config "$tmp/churn.toml" --json >"$tmp/churn.json" 2>"$tmp/err" &
pid=$!
wait_for 30 grep -q "control on" "$tmp/err" || fail "router (churn) never said its port: $(cat "$tmp/err")"
route() {  # route METHOD JSON WANT_CODE
  local code
  code=$(curl -s --max-time 5 -o "$tmp/curl.out" -w '%{http_code}' -X "$1" \
    -H 'Content-Type: application/json' -d "$2" "http://127.0.0.1:$(control_port)/routes")
  [[ $code == "$3" ]] || fail "$1 /routes $2: HTTP $code $(cat "$tmp/curl.out")"
}
route POST '{"prefix": "10.3.0.0/24", "via": "10.2.0.3"}' 201
curl -sf --max-time 5 "http://127.0.0.1:$(control_port)/routes" | grep -q '10.3.0.0/24' ||
  fail "GET /routes does not list 10.3.0.0/24 after POST"
route DELETE '{"prefix": "10.3.0.0/24", "via": "10.2.0.3"}' 200
for _ in $(seq 40); do
  route POST '{"prefix": "10.3.0.0/24", "via": "10.2.0.3"}' 201
  route POST '{"prefix": "10.5.0.0/16", "via": "10.2.0.2"}' 201
  route DELETE '{"prefix": "10.3.0.0/24", "via": "10.2.0.3"}' 200
  route DELETE '{"prefix": "10.5.0.0/16", "via": "10.2.0.2"}' 200
done
kill -INT "$pid"
wait "$pid" || fail "router (churn) exited $?: $(tail -5 "$tmp/err")"
python3 - "$tmp/churn.json" <<'PY' || fail "router (churn): frames lost while routes changed"
import json, sys
r = json.loads([l for l in open(sys.argv[1]) if l.strip()][-1])
drops = {k: v for k, v in r["drops"].items() if v}
if r["frames_in"] == 0 or drops or r["forwarded"] != r["frames_in"] or r["balance"] != 0:
    sys.exit(f"frames_in {r['frames_in']}, forwarded {r['forwarded']}, drops {drops}, "
             f"balance {r['balance']}")
print(f"ok: {r['forwarded']} frames forwarded while 160 route changes were made")
PY

# SIGTERM stops it like SIGINT: exit 0, a final report that balances. Sent
# once a periodic report shows the trace arriving (not after a guess).
timeout 60 "$binary" router --config "$tmp/r.toml" --stats-interval 0.2 --json >"$tmp/out.json" \
  2>"$tmp/err" &
pid=$!
running() { grep -q '"frames_in":[1-9]' "$tmp/out.json"; }
wait_for 30 running || fail "router (SIGTERM) never reported frames: $(tail -5 "$tmp/err")"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[[ $rc -eq 0 ]] || fail "router after SIGTERM exited $rc: $(tail -5 "$tmp/err")"
python3 - "$tmp/out.json" <<'PY' || fail "router (SIGTERM): no balanced final report"
import json, sys
r = json.loads([l for l in open(sys.argv[1]) if l.strip()][-1])
if not r.get("final") or r["balance"] != 0 or r["frames_in"] == 0:
    sys.exit(f"final {r.get('final')}, balance {r['balance']}, frames_in {r['frames_in']}")
PY
echo "ok: SIGTERM"

# expect <code> <stderr pattern> <args...>
expect() {
  local code="$1" pattern="$2"
  shift 2
  local rc=0
  # Bounded: a usage error must not start a router that runs forever.
  timeout 30 "$binary" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  [[ $rc -eq $code ]] || fail "netisr $*: exit $rc, want $code: $(cat "$tmp/err")"
  grep -qE -- "$pattern" "$tmp/err" ||
    fail "netisr $*: stderr does not say '$pattern': $(cat "$tmp/err")"
}

expect 2 "config" router
expect 2 "stats-interval" router --config "$tmp/r.toml" --stats-interval -3
expect 2 "duration" router --config "$tmp/r.toml" --duration 0.0000001
expect 2 "frobnicate" router --config "$tmp/r.toml" --frobnicate
expect 1 "nope.toml" router --config "$tmp/nope.toml"

# Config mistakes: FILE:LINE and what is wrong, exit 2.
config 1 poll direct | sed 's|prefix = "10.3.0.0/16"|prefix = "10.3.0.0/33"|' >"$tmp/bad.toml"
expect 2 "bad.toml:[0-9]+.*10.3.0.0/33" router --config "$tmp/bad.toml"
config 1 poll direct | sed 's|via = "10.2.0.2"|via = "10.7.0.2"|' >"$tmp/bad.toml"
expect 2 "bad.toml:[0-9]+.*10.7.0.2" router --config "$tmp/bad.toml"
config 1 poll direct | sed 's|port = "a"|port = "zz"|' >"$tmp/bad.toml"
expect 2 "bad.toml:[0-9]+.*zz" router --config "$tmp/bad.toml"
config 1 poll direct | sed 's|"10.2.0.1/24", |"10.1.0.1/24", |' >"$tmp/bad.toml"
expect 2 "bad.toml:[0-9]+.*10.1.0.1" router --config "$tmp/bad.toml"
config 1 sideways direct >"$tmp/bad.toml"
expect 2 "bad.toml:[0-9]+.*sideways" router --config "$tmp/bad.toml"
config 1 poll direct | sed 's|rules = \[.*|rules = ["drop proto xyz"]|' >"$tmp/bad.toml"
expect 2 "bad.toml:[0-9]+.*xyz" router --config "$tmp/bad.toml"

# [dataplane] cpus naming a CPU this process may not run on: exit 1, naming
# the file and the key.
config 1 poll direct | sed 's|^workers = 1$|workers = 1\ncpus = [1000]|' >"$tmp/bad.toml"
expect 1 "bad.toml: \\[dataplane\\] cpus: worker_cpus: CPU 1000" router --config "$tmp/bad.toml"

# A device that is not there: a runtime failure naming the port, exit 1.
config 1 poll direct | sed "s|rx_pcap=$tmp/in.pcap|rx_pcap=$tmp/missing.pcap|" >"$tmp/bad.toml"
expect 1 "port 'a'" router --config "$tmp/bad.toml"
# [tables] reaches the tables: the distinct next hops (4 connected, 2
# gateways: 6) do not fit in 4.
MAX_NEXT_HOPS=4 config 1 poll direct >"$tmp/bad.toml"
expect 1 "max_next_hops" router --config "$tmp/bad.toml"
echo PASS
