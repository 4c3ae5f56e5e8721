#!/bin/sh
# The router against DPDK's own l3fwd (LPM mode), in one run: the same vdevs,
# core, trace and table, alternately: l3fwd, router, l3fwd, router, ... (this
# 2-vCPU machine is shared, so its speed drifts between runs; a pair's ratio
# is taken close together).
#
# Inputs (route_trace_gen, one seed): 4,096 flows of 64-byte Ethernet/IPv4/UDP
# frames towards a 1,000-prefix table (disjoint prefixes /16-/28, every
# destination inside one, all routed out of port 1), replayed forever by
# net_pcap0 (rx_pcap, infinite_rx=1) as port 0; port 1 is net_null0,no-rx=1
# (receives nothing, frees what it is sent; both programs take it). One
# forwarding core: lcore 1.
#
# l3fwd: built here from Debian's dpdk-doc examples (22.11) with one line
# patched in (its requested RX offloads masked by the device's
# rx_offload_capa: it asks for RX checksum offload, which the vdevs lack, and
# rte_eth_dev_configure refuses what the device cannot do), run with
# -L (LPM), --parse-ptype (the vdevs set no packet types), --rule_ipv4/6 and
# --eth-dest=1,<next hop MAC>. l3fwd prints no rates: its counters are read
# through DPDK telemetry (/ethdev/stats,1 opackets = forwarded), on the socket
# /var/run/dpdk/<file-prefix>/dpdk_telemetry.v2, which EAL creates with
# --no-huge --no-shconf as well (the runtime dir is made whatever
# --no-shconf says); both programs get the same EAL flags (--no-huge
# --no-pci --no-shconf -m 512 -l 1 --file-prefix=...).
#
# The router: `netisr router --config router.toml --json` (the TOML from the
# same seed: the same routes, via a static neighbour on port 1, so neither
# side resolves anything), once per dispatch mode / work model asked for.
# Its counters: GET /stats on its [control] address (the ROUTER_FORWARDED key
# of that JSON object); if /stats does not answer, the JSON it prints at exit
# (same key) over the whole run, start-up included (said so in the output).
#
# For each run, over a window of `seconds` after a 1 s warm-up: Mpps on the
# wall clock (forwarded packets / window) and Mpps per CPU second (forwarded
# packets / the process's CPU time in the window, utime + stime from
# /proc/PID/stat: every thread it has). Then each pair's ratio router /
# l3fwd and the medians. The last line is the direct/poll pairs' median
# ratio per CPU second.
#
#   benchmarks/router/l3fwd_reference.sh [reps=3] [seconds=5] [combos=all] [flows=4096] [seed=1]
#
#   combos: `all` (direct, deferred, hybrid, adaptive x poll, threads,
#           fibers; direct/poll first) or a comma list of DISPATCH/MODEL,
#           e.g. direct/poll,hybrid/threads. Each is paired with its own
#           l3fwd run.
# Environment:
#   L3FWD=PATH       an l3fwd binary to run instead of building one
#   ROUTER=PATH      the netisr binary to run (default: build //apps:netisr
#                    -c opt); ROUTER=none measures l3fwd alone
#   ROUTER_FORWARDED=KEY   dotted path of the forwarded-packet count in the
#                    router's /stats and exit JSON (default `forwarded`;
#                    integer components index arrays, e.g. ports.1.tx_packets)
#   TESTPMD=1        also run dpdk-testpmd io-forwarding after each l3fwd run
#                    (same vdevs and lcore), for scale: l3fwd / testpmd
#   CONTROL=ADDR:PORT      the router's control address (127.0.0.1:19180; not the
#                    example's 9180, which the e2e test may hold)
#
# Needs: make, cc, pkg-config libdpdk (libdpdk-dev), dpdk-doc, python3, curl.
set -eu
reps=${1:-3}
secs=${2:-5}
combos=${3:-all}
flows=${4:-4096}
seed=${5:-1}
lcore=1
control=${CONTROL:-127.0.0.1:19180}
fwd_key=${ROUTER_FORWARDED:-forwarded}
nexthop_mac=02:00:00:00:00:b2
# net_pcap's MAC for its first device (rte_eth_pcap.c: 02:70:63:61:70:<n>):
# the trace's destination MAC, so that a router that checks it accepts it.
port0_mac=02:70:63:61:70:00
router=${ROUTER:-}
[ "$combos" = all ] &&
  combos=direct/poll,deferred/poll,hybrid/poll,adaptive/poll,direct/threads,deferred/threads,hybrid/threads,adaptive/threads,direct/fibers,deferred/fibers,hybrid/fibers,adaptive/fibers
cd "$(dirname "$0")/../.."
repo=$(pwd)
tmp=$(mktemp -d)
l3fwd_prefix="nisr_l3fwd_$$"
trap 'rm -rf "$tmp" "/var/run/dpdk/$l3fwd_prefix" /var/run/dpdk/nisr_router_bench' EXIT

# bazel-out/k8-opt, not bazel-bin: bazel-bin follows the last build's -c.
targets=//benchmarks/router:route_trace_gen
[ -z "$router" ] && targets="$targets //apps:netisr"
bazel build -c opt $targets
[ -z "$router" ] && router=$repo/bazel-out/k8-opt/bin/apps/netisr
bazel-out/k8-opt/bin/benchmarks/router/route_trace_gen --out_dir="$tmp" --seed="$seed" \
  --flows="$flows" --frames="$flows" --dst_mac="$port0_mac" --nexthop_mac="$nexthop_mac" \
  --control="$control" --lcore="$lcore" >/dev/null

if [ -n "${L3FWD:-}" ]; then
  l3fwd=$L3FWD
else
  # Its code is Debian's, built in the temp dir, never committed. The patch:
  # l3fwd requests RTE_ETH_RX_OFFLOAD_CHECKSUM on every port (port_conf) and
  # copies port_conf's RX offloads into each RX queue's config, so the mask
  # goes on port_conf itself, before the port is configured.
  cp -r /usr/share/dpdk/examples/l3fwd /usr/share/dpdk/examples/common "$tmp/"
  sed -i 's/^\(\t*\)local_port_conf\.rx_adv_conf\.rss_conf\.rss_hf &=$/\1port_conf.rxmode.offloads \&= dev_info.rx_offload_capa; local_port_conf.rxmode.offloads = port_conf.rxmode.offloads;\n&/' \
    "$tmp/l3fwd/main.c"
  grep -q 'port_conf.rxmode.offloads &= dev_info.rx_offload_capa' "$tmp/l3fwd/main.c" || {
    echo "l3fwd patch did not apply (not dpdk-doc 22.11's main.c?)" >&2
    exit 1
  }
  make -s -C "$tmp/l3fwd" >"$tmp/l3fwd_build.log" 2>&1 || { cat "$tmp/l3fwd_build.log"; exit 1; }
  l3fwd=$tmp/l3fwd/build/l3fwd
fi

hz=$(getconf CLK_TCK)
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
now() { date +%s.%N; }

# DPDK telemetry client: prints port 0's ipackets and port 1's opackets.
cat >"$tmp/telemetry.py" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
json.loads(s.recv(1 << 16))  # the greeting: version, pid, max_output_len
out = []
for port, field in ((0, "ipackets"), (1, "opackets")):
    s.send(("/ethdev/stats,%d" % port).encode())
    out.append(str(json.loads(s.recv(1 << 20))["/ethdev/stats"][field]))
print(" ".join(out))
EOF
# Reads KEY (dotted; integer parts index arrays) from the last JSON value on stdin.
cat >"$tmp/jsonkey.py" <<'EOF'
import json, sys
# The last JSON value on stdin (a router may print more than one).
text, dec, pos, v = sys.stdin.read(), json.JSONDecoder(), 0, None
while True:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if pos >= len(text):
        break
    v, pos = dec.raw_decode(text, pos)
for k in sys.argv[1].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(int(v))
EOF

# Measures the DPDK process $2 (named $1, log $3, ready once its log
# matches $4) through its telemetry socket in /var/run/dpdk/$5: prints
# "WALL_MPPS CPU_MPPS RX FORWARDED" over the window, FORWARDED = port 1's
# opackets, RX = port 0's ipackets; then stops it.
measure_dpdk() {
  sock=/var/run/dpdk/$5/dpdk_telemetry.v2
  # Start-up (EAL without hugepages zeroes its memory) takes ~1 s here.
  deadline=$(($(date +%s) + 20))
  until [ -S "$sock" ] && grep -q "$4" "$3"; do
    if [ "$(date +%s)" -ge "$deadline" ] || ! kill -0 "$2" 2>/dev/null; then
      echo "$1 did not start; its log:" >&2
      cat "$3" >&2
      kill -INT "$2" 2>/dev/null || true
      exit 1
    fi
    sleep 0.1
  done
  sleep 1
  t0=$(now)
  c0=$(ticks "$2")
  s0=$(python3 "$tmp/telemetry.py" "$sock")
  sleep "$secs"
  t1=$(now)
  c1=$(ticks "$2")
  s1=$(python3 "$tmp/telemetry.py" "$sock")
  kill -INT "$2"
  wait "$2" || true
  echo "$s0 $s1 $t0 $t1 $c0 $c1" | awk -v hz="$hz" -v name="$1" '{
    rx = $3 - $1; fwd = $4 - $2; wall = $6 - $5; cpu = ($8 - $7) / hz
    if (fwd <= 0 || cpu <= 0) { printf "%s: nothing forwarded (%d packets, %.2f CPU s)\n", name, fwd, cpu > "/dev/stderr"; exit 1 }
    printf "%.3f %.3f %d %d\n", fwd / wall / 1e6, fwd / cpu / 1e6, rx, fwd
  }' || { cat "$3" >&2; exit 1; }
}

# Prints "WALL_MPPS CPU_MPPS RX FORWARDED" (log in $tmp/l3fwd.log).
run_l3fwd() {
  "$l3fwd" --no-huge --no-pci --no-shconf -m 512 -l "$lcore" --file-prefix="$l3fwd_prefix" \
    --log-level=lib.eal:warning \
    --vdev="net_pcap0,rx_pcap=$tmp/trace.pcap,infinite_rx=1" --vdev="net_null0,no-rx=1" \
    -- -p 0x3 -L --config="(0,0,$lcore)" --parse-ptype \
    --rule_ipv4="$tmp/rules_v4.cfg" --rule_ipv6="$tmp/rules_v6.cfg" \
    --eth-dest=1,"$nexthop_mac" >"$tmp/l3fwd.log" 2>&1 &
  measure_dpdk l3fwd $! "$tmp/l3fwd.log" "entering main loop" "$l3fwd_prefix"
}

# TESTPMD=1: dpdk-testpmd io-forwarding port 0 -> port 1 on the same vdevs
# (no lookup, no byte touched), forwarding lcore $lcore, for scale. Non-
# interactive; --stats-period keeps it running (without it, it exits at
# stdin's EOF); --total-num-mbufs: its default pool does not fit -m 512.
run_testpmd() {
  dpdk-testpmd --no-huge --no-pci --no-shconf -m 512 -l "0-$lcore" \
    --file-prefix="$l3fwd_prefix" --log-level=lib.eal:warning \
    --vdev="net_pcap0,rx_pcap=$tmp/trace.pcap,infinite_rx=1" --vdev="net_null0,no-rx=1" \
    -- --forward-mode=io --port-topology=paired --stats-period 1 --nb-cores=1 \
    --total-num-mbufs=32768 >"$tmp/testpmd.log" 2>&1 &
  measure_dpdk testpmd $! "$tmp/testpmd.log" "Rx-pps" "$l3fwd_prefix"
}

# The router part, one function: runs `netisr router` on router.toml with
# DISPATCH and MODEL ($1, $2), prints "WALL_MPPS CPU_MPPS WHOLE FORWARDED" (WHOLE 1
# when the figures come from the exit JSON over the whole run, /stats having
# not answered). Log: $tmp/router.log, exit JSON $tmp/router.json.
router_stat() {
  curl -sf --connect-timeout 1 --max-time 1 "http://$control/stats" | python3 "$tmp/jsonkey.py" "$fwd_key" 2>/dev/null
}
run_router() {
  if curl -s --max-time 1 -o /dev/null "http://$control/"; then
    echo "something already answers on $control: set CONTROL to a free address" >&2
    exit 1
  fi
  sed -e "s/^dispatch = .*/dispatch = \"$1\"/" -e "s/^model = .*/model = \"$2\"/" \
    "$tmp/router.toml" >"$tmp/router_run.toml"
  start=$(now)
  "$router" router --config "$tmp/router_run.toml" --json >"$tmp/router.json" 2>"$tmp/router.log" &
  pid=$!
  # Up to 10 s for its start-up and first forwarded packet on /stats.
  deadline=$(($(date +%s) + 10))
  whole=0
  until r0=$(router_stat) && [ "$r0" -gt 0 ]; do
    kill -0 "$pid" 2>/dev/null || break
    if [ "$(date +%s)" -ge "$deadline" ]; then
      whole=1  # no /stats: the exit JSON it is
      break
    fi
    sleep 0.1
  done
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" || true
    echo "router ($1/$2) exited early; its output:" >&2
    cat "$tmp/router.log" "$tmp/router.json" >&2
    exit 1
  fi
  sleep 1
  t0=$(now)
  c0=$(ticks "$pid")
  r0=$(router_stat || echo 0)
  sleep "$secs"
  t1=$(now)
  c1=$(ticks "$pid")
  r1=$(router_stat || echo 0)
  kill -INT "$pid"
  wait "$pid" || { echo "router ($1/$2) failed at exit; its output:" >&2; cat "$tmp/router.log" "$tmp/router.json" >&2; exit 1; }
  if [ "$whole" = 1 ]; then
    r0=0
    r1=$(python3 "$tmp/jsonkey.py" "$fwd_key" <"$tmp/router.json") || {
      echo "router: no \"$fwd_key\" in its exit JSON:" >&2
      cat "$tmp/router.json" >&2
      exit 1
    }
    t0=$start
    c0=0
  fi
  echo "$r0 $r1 $t0 $t1 $c0 $c1 $whole" | awk -v hz="$hz" '{
    fwd = $2 - $1; wall = $4 - $3; cpu = ($6 - $5) / hz
    if (fwd <= 0 || cpu <= 0) { printf "router: nothing forwarded (%d packets, %.2f CPU s)\n", fwd, cpu > "/dev/stderr"; exit 1 }
    printf "%.3f %.3f %d %d\n", fwd / wall / 1e6, fwd / cpu / 1e6, $7, fwd
  }' || { cat "$tmp/router.log" >&2; exit 1; }
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

echo "trace: $flows flows of 64-byte frames, $(grep -c '^R' "$tmp/rules_v4.cfg") IPv4 routes (seed $seed);" \
  "$reps reps of $secs s windows; lcore $lcore"
[ "$router" = none ] && combos=none
: >"$tmp/results"
i=1
while [ "$i" -le "$reps" ]; do
  for combo in $(echo "$combos" | tr ',' ' '); do
    l=$(run_l3fwd)
    echo "rep $i: l3fwd $(echo "$l" | awk '{ printf "%.2f Mpps wall, %.2f Mpps/CPU-s (rx %d, forwarded %d)", $1, $2, $3, $4 }')"
    echo "l3fwd $(echo "$l" | cut -d' ' -f1-2)" >>"$tmp/results"
    if [ "${TESTPMD:-0}" = 1 ]; then
      t=$(run_testpmd)
      echo "rep $i: testpmd io-fwd $(echo "$t" | awk '{ printf "%.2f Mpps wall, %.2f Mpps/CPU-s", $1, $2 }');" \
        "l3fwd/testpmd per CPU second $(echo "$l $t" | awk '{ printf "%.3f", $2 / $6 }')"
      echo "$l $t" | awk '{ print "testpmd", $5, $6, $2 / $6 }' >>"$tmp/results"
    fi
    [ "$combo" = none ] && break
    d=${combo%/*}
    m=${combo#*/}
    r=$(run_router "$d" "$m")
    echo "rep $i: router $combo $(echo "$r" | awk '{ printf "%.2f Mpps wall, %.2f Mpps/CPU-s (forwarded %d%s)", $1, $2, $4, $3 ? "; whole run from the exit JSON: /stats did not answer" : "" }')"
    echo "$l $r" | awk -v c="$combo" '{ printf "    ratio router/l3fwd: wall %.3f, per CPU second %.3f\n", $5 / $1, $6 / $2
      print c, $5, $6, $5 / $1, $6 / $2 >> "'"$tmp/results"'" }'
  done
  i=$((i + 1))
done

l3=$(grep '^l3fwd ' "$tmp/results")
echo "l3fwd median: $(echo "$l3" | cut -d' ' -f2 | median) Mpps wall, $(echo "$l3" | cut -d' ' -f3 | median) Mpps/CPU-s"
grep -q '^testpmd ' "$tmp/results" && echo "testpmd io-fwd median: $(grep '^testpmd ' "$tmp/results" | cut -d' ' -f2 | median) Mpps wall," \
  "$(grep '^testpmd ' "$tmp/results" | cut -d' ' -f3 | median) Mpps/CPU-s; l3fwd/testpmd per CPU second" \
  "$(grep '^testpmd ' "$tmp/results" | cut -d' ' -f4 | median)"
[ "$router" = none ] && exit 0
for combo in $(echo "$combos" | tr ',' ' '); do
  rc=$(grep "^$combo " "$tmp/results")
  echo "router $combo median: $(echo "$rc" | cut -d' ' -f2 | median) Mpps wall," \
    "$(echo "$rc" | cut -d' ' -f3 | median) Mpps/CPU-s; ratio router/l3fwd wall" \
    "$(echo "$rc" | cut -d' ' -f4 | median), per CPU second $(echo "$rc" | cut -d' ' -f5 | median)"
done
# The headline: direct/poll if it ran, else the first combination.
head=direct/poll
grep -q "^$head " "$tmp/results" || head=${combos%%,*}
echo "median ratio router/l3fwd: $(grep "^$head " "$tmp/results" | cut -d' ' -f5 | median)"
