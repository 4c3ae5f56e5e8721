#!/usr/bin/env bash
# End to end: a router between two Linux hosts (issue 16).
#
#   hA (netns)                    router                     hB (netns)
#   hA-eth 10.1.0.2/24  ---veth---  rA | rB  ---veth---  hB-eth 10.2.0.2/24
#          fd00:1::2/64                                         fd00:2::2/64
#                                                          lo 10.3.0.5/32, 10.4.0.5/32
#
# ROUTER_IMPL picks the router:
#   * a command (default: `netisr router` from the build): run as
#     `$ROUTER_IMPL --config FILE` with the issue's config shape, holding the
#     root-side ends rA and rB (no IP address on them, IPv6 off, so the
#     kernel stays out) through net_af_packet, control API on 127.0.0.1:<free>;
#   * `linux`: a third namespace is the router (ip_forward=1, the router's
#     addresses on rA/rB moved into it, routes by `ip route`); it proves the
#     checks themselves and is the reference to compare with.
# Checks, the same for both:
#   1. ping A->B over IPv4 and IPv6, and to 10.3.0.5 (the config's static
#      route 10.3.0.0/16 via 10.2.0.2);
#   2. a 10 MB TCP transfer A->B arrives intact (sha256 of what B received
#      against what A sent);
#   3. traceroute from A (v4 and v6) shows the router's hop, then B;
#   4. a ping to an unrouted prefix (10.9.9.9) gets "Destination Net
#      Unreachable" from the router;
#   5. while `ping -D -O -i 0.1 10.4.0.5` runs, the route 10.4.0.0/16 via
#      10.2.0.2 is added (POST /routes; linux: ip route add) and later
#      deleted (DELETE /routes; ip route del): no echo sent before the add
#      is answered, every echo sent while the route existed is answered
#      (none lost), none sent after the delete is. Send times are the
#      receive timestamps (-D) less the RTT, with a 0.5 s margin either
#      side of each change.
# Peer offloads off on every veth end (ethtool -K ... tx off tso off gso off
# gro off): af_packet then sees whole, checksummed frames.
#
# Needs root: otherwise, or when a namespace cannot be created, prints
# "SKIPPED: reason" and exits 0 (how scripts/test.sh counts a skipped shell
# test). Every wait and loop is bounded; namespaces, veths and background
# processes go away on any exit (trap).
#
# Run by hand (from the repository root, as root):
#   ROUTER_IMPL=linux tests/router/router_e2e_test.sh
#   ROUTER_IMPL="bazel-bin/apps/netisr router" tests/router/router_e2e_test.sh
# Through Bazel: //tests/router:router_e2e_linux_reference_test (linux) and
# //tests/router:router_e2e_test (the netisr router).
set -uo pipefail

impl="${ROUTER_IMPL:-}"
if [[ -z $impl ]]; then
  binary="${NETISR_BIN:-${TEST_SRCDIR:-.}/netisr/apps/netisr}"
  [[ -x $binary ]] || binary=bazel-bin/apps/netisr
  impl="$binary router"
fi
tmp="${TEST_TMPDIR:-$(mktemp -d)}"

# Names unique to this run (interface names: at most 15 characters).
tag="$$"
nsA="rtr-hA-$tag"
nsB="rtr-hB-$tag"
nsR="rtr-R-$tag" # linux mode only
rA="ra${tag}"    # root-side (router) ends
rB="rb${tag}"
hA="ha${tag}" # host ends, inside the namespaces
hB="hb${tag}"
router_pid=""
bg_pids=()

cleanup() {
  for p in "${bg_pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  if [[ -n $router_pid ]]; then
    kill -TERM "$router_pid" 2>/dev/null
    for _ in $(seq 1 20); do
      kill -0 "$router_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$router_pid" 2>/dev/null
  fi
  ip link del "$rA" 2>/dev/null
  ip link del "$rB" 2>/dev/null
  ip netns del "$nsA" 2>/dev/null
  ip netns del "$nsB" 2>/dev/null
  ip netns del "$nsR" 2>/dev/null
  return 0
}
trap cleanup EXIT

skip() {
  echo "SKIPPED: $*"
  exit 0
}
fail() {
  echo "FAIL: $*" >&2
  if [[ -f $tmp/router.out ]]; then
    echo "--- router output (last 40 lines):" >&2
    tail -n 40 "$tmp/router.out" >&2
  fi
  exit 1
}
inA() { ip netns exec "$nsA" "$@"; }
inB() { ip netns exec "$nsB" "$@"; }

[[ $(id -u) -eq 0 ]] || skip "not root: network namespaces and af_packet need root"
for tool in ip ethtool ping traceroute python3 sha256sum timeout; do
  command -v "$tool" >/dev/null || skip "$tool not installed (scripts/bootstrap.sh installs it)"
done
if [[ $impl != linux ]]; then
  read -r -a router_cmd <<<"$impl"
  [[ -x ${router_cmd[0]} ]] || command -v "${router_cmd[0]}" >/dev/null ||
    fail "router command not found: ${router_cmd[0]} (set ROUTER_IMPL)"
  command -v curl >/dev/null || skip "curl not installed (scripts/bootstrap.sh installs it)"
fi

# --- topology ----------------------------------------------------------------
ip netns add "$nsA" 2>"$tmp/netns.err" || skip "cannot create a network namespace: $(cat "$tmp/netns.err")"
ip netns add "$nsB" 2>"$tmp/netns.err" || skip "cannot create a network namespace: $(cat "$tmp/netns.err")"
ip link add "$rA" type veth peer name "$hA" 2>"$tmp/veth.err" ||
  skip "cannot create a veth pair: $(cat "$tmp/veth.err")"
ip link add "$rB" type veth peer name "$hB" 2>"$tmp/veth.err" ||
  skip "cannot create a veth pair: $(cat "$tmp/veth.err")"

# host NS IF V4 V6 GW4 GW6: one host end of a veth pair, offloads off.
host_setup() {
  local ns=$1 ifc=$2 v4=$3 v6=$4 gw4=$5 gw6=$6
  ip link set "$ifc" netns "$ns" || fail "moving $ifc into $ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$v4" dev "$ifc" || fail "address $v4 on $ifc"
  ip -n "$ns" addr add "$v6" dev "$ifc" nodad || fail "address $v6 on $ifc"
  ip -n "$ns" link set "$ifc" up || fail "$ifc up"
  ip -n "$ns" route add default via "$gw4" || fail "default route via $gw4 in $ns"
  ip -n "$ns" -6 route add default via "$gw6" || fail "default route via $gw6 in $ns"
  ip netns exec "$ns" ethtool -K "$ifc" tx off tso off gso off gro off >/dev/null 2>&1 ||
    fail "ethtool -K $ifc"
}
host_setup "$nsA" "$hA" 10.1.0.2/24 fd00:1::2/64 10.1.0.1 fd00:1::1
host_setup "$nsB" "$hB" 10.2.0.2/24 fd00:2::2/64 10.2.0.1 fd00:2::1
# Behind B: the config's static route (10.3.0.0/16) and the dynamic one (10.4.0.0/16).
ip -n "$nsB" addr add 10.3.0.5/32 dev lo || fail "10.3.0.5 on hB"
ip -n "$nsB" addr add 10.4.0.5/32 dev lo || fail "10.4.0.5 on hB"

for ifc in "$rA" "$rB"; do
  ethtool -K "$ifc" tx off tso off gso off gro off >/dev/null 2>&1 || fail "ethtool -K $ifc"
done

cport=""
if [[ $impl == linux ]]; then
  ip netns add "$nsR" 2>"$tmp/netns.err" || skip "cannot create a network namespace: $(cat "$tmp/netns.err")"
  ip link set "$rA" netns "$nsR" || fail "moving $rA into $nsR"
  ip link set "$rB" netns "$nsR" || fail "moving $rB into $nsR"
  ip -n "$nsR" link set lo up
  ip -n "$nsR" addr add 10.1.0.1/24 dev "$rA" || fail "10.1.0.1 on $rA"
  ip -n "$nsR" addr add fd00:1::1/64 dev "$rA" nodad || fail "fd00:1::1 on $rA"
  ip -n "$nsR" addr add 10.2.0.1/24 dev "$rB" || fail "10.2.0.1 on $rB"
  ip -n "$nsR" addr add fd00:2::1/64 dev "$rB" nodad || fail "fd00:2::1 on $rB"
  ip -n "$nsR" link set "$rA" up || fail "$rA up"
  ip -n "$nsR" link set "$rB" up || fail "$rB up"
  ip netns exec "$nsR" sysctl -qw net.ipv4.ip_forward=1 || fail "ip_forward in $nsR"
  ip netns exec "$nsR" sysctl -qw net.ipv6.conf.all.forwarding=1 || fail "IPv6 forwarding in $nsR"
  # The config's [[route]]: 10.3.0.0/16 via 10.2.0.2.
  ip -n "$nsR" route add 10.3.0.0/16 via 10.2.0.2 || fail "static route in $nsR"
  echo "router: Linux in namespace $nsR"
else
  for ifc in "$rA" "$rB"; do
    # No IPv6 on the router's ends: the kernel would send its own solicitations.
    sysctl -qw "net.ipv6.conf.$ifc.disable_ipv6=1" 2>/dev/null
    ip link set "$ifc" up || fail "$ifc up"
  done
  cport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') ||
    fail "no free TCP port for the control API"
  cat >"$tmp/router.toml" <<EOF
[dataplane]
eal = "--no-huge --no-pci --no-shconf -m 512"
workers = 1
model = "poll"
dispatch = "direct"

[[port]]
name = "a"
device = "net_af_packet0,iface=$rA"
address = ["10.1.0.1/24", "fd00:1::1/64"]

[[port]]
name = "b"
device = "net_af_packet1,iface=$rB"
address = ["10.2.0.1/24", "fd00:2::1/64"]

[[route]]
prefix = "10.3.0.0/16"
via = "10.2.0.2"

[control]
listen = "127.0.0.1:$cport"
EOF
  echo "router: ${router_cmd[*]} --config $tmp/router.toml"
  "${router_cmd[@]}" --config "$tmp/router.toml" >"$tmp/router.out" 2>&1 &
  router_pid=$!
  ready=""
  for _ in $(seq 1 300); do # 30 s: EAL start-up
    kill -0 "$router_pid" 2>/dev/null || fail "the router exited early"
    if curl -sf --max-time 1 "http://127.0.0.1:$cport/stats" >/dev/null 2>&1; then
      ready=1
      break
    fi
    sleep 0.1
  done
  [[ -n $ready ]] || fail "the router's control API never answered on 127.0.0.1:$cport"
fi

# Reachable at all (ARP/NDP resolved on every hop), bounded.
wait_ping() {
  for _ in $(seq 1 30); do
    inA ping -c 1 -W 1 "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}
wait_ping 10.2.0.2 || fail "A never reached B over IPv4"
wait_ping -6 fd00:2::2 || fail "A never reached B over IPv6"

# --- 1. ping v4, v6, static route ------------------------------------------
for dst in 10.2.0.2 fd00:2::2 10.3.0.5; do
  inA timeout 20 ping -c 5 -i 0.2 -W 2 "$dst" >"$tmp/ping.out" 2>&1
  rc=$?
  tail -n 2 "$tmp/ping.out"
  [[ $rc -eq 0 ]] || fail "ping $dst exited $rc: $(cat "$tmp/ping.out")"
  grep -q " 0% packet loss" "$tmp/ping.out" || fail "ping $dst lost packets"
  echo "ok: ping A -> $dst"
done

# --- 2. 10 MB TCP A -> B, sha256 compared ----------------------------------
head -c $((10 * 1024 * 1024)) /dev/urandom >"$tmp/send.bin"
inB timeout 120 python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.2.0.2", 5001)); s.listen(1); s.settimeout(60)
c, _ = s.accept(); c.settimeout(60)
with open(sys.argv[1], "wb") as f:
    while True:
        b = c.recv(65536)
        if not b: break
        f.write(b)
' "$tmp/recv.bin" &
recv_pid=$!
bg_pids+=("$recv_pid")
sent=""
for _ in $(seq 1 50); do # the listener may take a moment to bind
  if inA timeout 120 python3 -c '
import socket, sys
s = socket.create_connection(("10.2.0.2", 5001), timeout=2); s.settimeout(60)
with open(sys.argv[1], "rb") as f:
    s.sendall(f.read())
s.shutdown(socket.SHUT_WR)
s.recv(1)  # until B closes: everything was read
' "$tmp/send.bin" 2>"$tmp/send.err"; then
    sent=1
    break
  fi
  grep -q "Connection refused\|timed out" "$tmp/send.err" || fail "TCP sender: $(cat "$tmp/send.err")"
  sleep 0.2
done
[[ -n $sent ]] || fail "TCP sender never connected: $(cat "$tmp/send.err")"
wait "$recv_pid" || fail "TCP receiver exited $?"
a=$(sha256sum <"$tmp/send.bin" | cut -d' ' -f1)
b=$(sha256sum <"$tmp/recv.bin" | cut -d' ' -f1)
[[ $a == "$b" ]] || fail "10 MB transfer corrupted: sent $a, received $b ($(stat -c %s "$tmp/recv.bin") bytes)"
echo "ok: 10 MB TCP A -> B intact (sha256 $a)"

# --- 3. traceroute shows the router's hop -----------------------------------
# trace DST ROUTER_HOP: hop 1 is the router, a later hop the destination.
trace() {
  local dst=$1 hop=$2 fam=$3
  inA timeout 60 traceroute "$fam" -n -q 1 -w 2 -m 5 "$dst" >"$tmp/trace.out" 2>&1 ||
    fail "traceroute $dst: $(cat "$tmp/trace.out")"
  cat "$tmp/trace.out"
  awk '$1 == "1" {print $2}' "$tmp/trace.out" | grep -qx "$hop" ||
    fail "traceroute $dst: hop 1 is not the router ($hop)"
  awk '$1 >= 2 {print $2}' "$tmp/trace.out" | grep -qx "$dst" ||
    fail "traceroute $dst: never reached $dst"
  echo "ok: traceroute $dst via $hop"
}
trace 10.2.0.2 10.1.0.1 -4
trace fd00:2::2 fd00:1::1 -6

# --- 4. unrouted prefix: ICMP destination unreachable -----------------------
inA timeout 20 ping -c 3 -i 0.5 -W 2 10.9.9.9 >"$tmp/unreach.out" 2>&1
cat "$tmp/unreach.out"
grep -q "From 10.1.0.1 .*Destination Net Unreachable" "$tmp/unreach.out" ||
  fail "no ICMP net unreachable from the router for 10.9.9.9"
echo "ok: 10.9.9.9 unreachable, said the router"

# --- 5. a route added and deleted while a ping runs -------------------------
route_change() { # add|del
  if [[ $impl == linux ]]; then
    if [[ $1 == add ]]; then
      ip -n "$nsR" route add 10.4.0.0/16 via 10.2.0.2
    else
      ip -n "$nsR" route del 10.4.0.0/16 via 10.2.0.2
    fi
    return
  fi
  local method=POST want=201
  [[ $1 == del ]] && method=DELETE want=200
  local code
  code=$(curl -s --max-time 5 -o "$tmp/curl.out" -w '%{http_code}' -X "$method" \
    -H 'Content-Type: application/json' -d '{"prefix": "10.4.0.0/16", "via": "10.2.0.2"}' \
    "http://127.0.0.1:$cport/routes")
  [[ $code == "$want" ]] || {
    echo "$method /routes: HTTP $code $(cat "$tmp/curl.out")" >&2
    return 1
  }
}
now() { date +%s.%N; }

# 80 echoes at 0.1 s: about 1.5 s without the route, 3 s with it, the rest without.
inA timeout 30 ping -D -O -n -i 0.1 -c 80 -W 1 10.4.0.5 >"$tmp/dyn.out" 2>&1 &
ping_pid=$!
bg_pids+=("$ping_pid")
sleep 1.5
t_add0=$(now)
route_change add || fail "adding 10.4.0.0/16"
t_add1=$(now)
if [[ $impl != linux ]]; then
  curl -sf --max-time 5 "http://127.0.0.1:$cport/routes" | grep -q '10.4.0.0/16' ||
    fail "GET /routes does not list 10.4.0.0/16 after POST"
fi
sleep 3
t_del0=$(now)
route_change del || fail "deleting 10.4.0.0/16"
t_del1=$(now)
wait "$ping_pid" # exits 1 when some echoes went unanswered: expected
python3 - "$tmp/dyn.out" "$t_add0" "$t_add1" "$t_del0" "$t_del1" <<'PY' || fail "route change while pinging"
import re, sys
lines = open(sys.argv[1]).read().splitlines()
t_add0, t_add1, t_del0, t_del1 = map(float, sys.argv[2:6])
MARGIN = 0.5     # s either side of a change: in flight, not judged
INTERVAL = 0.1
sent = {}        # icmp_seq -> estimated send time
answered = set()
for line in lines:
    m = re.match(r"\[(\d+\.\d+)\] (.*)", line)
    if not m:
        continue
    t, rest = float(m.group(1)), m.group(2)
    seq = re.search(r"icmp_seq=(\d+)", rest)
    if not seq:
        continue
    seq = int(seq.group(1))
    if "bytes from" in rest:
        rtt = re.search(r"time=([\d.]+) ms", rest)
        sent[seq] = t - (float(rtt.group(1)) / 1000 if rtt else 0)
        answered.add(seq)
    elif "no answer yet" in rest:   # -O: printed when the next echo goes out
        sent.setdefault(seq, t - INTERVAL)
    else:                            # an ICMP error: comes back at once
        sent.setdefault(seq, t)
if not sent:
    sys.exit("no ping output parsed:\n" + "\n".join(lines))
# Echoes without any line (the last ones): from their neighbours.
known = sorted(sent)
for s in range(1, max(known) + 1):
    if s not in sent:
        lower = max([k for k in known if k < s], default=None)
        if lower is None:
            upper = min(k for k in known if k > s)
            sent[s] = sent[upper] - (upper - s) * INTERVAL
        else:
            sent[s] = sent[lower] + (s - lower) * INTERVAL
before = [s for s in sent if sent[s] < t_add0 - MARGIN]
during = [s for s in sent if t_add1 + MARGIN < sent[s] < t_del0 - MARGIN]
after = [s for s in sent if sent[s] > t_del1 + MARGIN]
lost = sorted(s for s in during if s not in answered)
early = sorted(s for s in before if s in answered)
late = sorted(s for s in after if s in answered)
print(f"route change: {len(before)} echoes before (answered {len(early)}), "
      f"{len(during)} while routed (lost {len(lost)}), {len(after)} after (answered {len(late)})")
problems = []
if len(during) < 15:
    problems.append(f"only {len(during)} echoes fell while the route existed")
if len(before) < 3 or len(after) < 3:
    problems.append("too few echoes before the add or after the delete to judge")
if lost:
    problems.append(f"echoes sent while 10.4.0.0/16 existed were lost: icmp_seq {lost}")
if early:
    problems.append(f"answered before the route was added: icmp_seq {early}")
if late:
    problems.append(f"answered after the route was deleted: icmp_seq {late}")
if problems:
    print("\n".join(lines), file=sys.stderr)
    sys.exit("; ".join(problems))
PY
echo "ok: 10.4.0.0/16 added and deleted while pinging: no routable echo lost"

# --- the router stops cleanly -----------------------------------------------
if [[ -n $router_pid ]]; then
  curl -sf --max-time 5 "http://127.0.0.1:$cport/metrics" >"$tmp/metrics.out" ||
    fail "GET /metrics failed"
  grep -q '^# TYPE ' "$tmp/metrics.out" || fail "GET /metrics: no Prometheus text"
  kill -INT "$router_pid"
  for _ in $(seq 1 100); do
    kill -0 "$router_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$router_pid" 2>/dev/null && fail "the router did not exit within 10 s of SIGINT"
  wait "$router_pid"
  rc=$?
  router_pid=""
  [[ $rc -eq 0 ]] || fail "the router exited $rc"
  echo "--- router output (last 20 lines):"
  tail -n 20 "$tmp/router.out"
fi
echo "PASS ($impl)"
