#!/usr/bin/env bash
# End to end against Linux: `netisr tcp-echo` on the root-side end of a veth
# pair through DPDK net_af_packet (that end has no IP address, so the kernel
# does not answer for it), a Linux host in a network namespace on the other
# end (checksum and segmentation offloads off, so af_packet sees whole,
# checksummed frames). The Linux host pings us, connects, sends 10 MB and
# compares the 10 MB echoed, closes; then 100 short connections in a row;
# then 8 at once (tcp_echo_client.py). Our stack's report must then show no
# unexplained drop and every connection closed.
#
# Then, on the same veth with the same client, Linux's own echo server
# (linux_echo_server.py, on the root side with an address added for it)
# gives the baseline; both figures are printed (RESULT lines), never checked.
#
# Needs root (network namespaces, af_packet): otherwise, or when a namespace
# cannot be created, it prints "SKIPPED: reason" and exits 0 (how
# scripts/test.sh counts a skipped shell test). Every wait is bounded and the
# namespace, the veth pair and the server go away on any exit.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# NETISR_BIN: another build of the binary (docs/tcp.md measures a -c opt one).
binary="${NETISR_BIN:-${TEST_SRCDIR:-.}/netisr/apps/netisr}"
[[ -x $binary ]] || binary=apps/netisr
client="${TEST_SRCDIR:-.}/netisr/tests/apps/tcp_echo_client.py"
[[ -f $client ]] || client="$here/tcp_echo_client.py"
linux_server="${TEST_SRCDIR:-.}/netisr/tests/apps/linux_echo_server.py"
[[ -f $linux_server ]] || linux_server="$here/linux_echo_server.py"
tmp="${TEST_TMPDIR:-$(mktemp -d)}"

# Names unique to this run (interface names: at most 15 characters).
tag="$$"
ns="netisr-e2e-$tag"
root_if="ne${tag}r"
peer_if="ne${tag}p"
our_addr=10.199.0.1
peer_addr=10.199.0.2
linux_addr=10.199.0.3
port=7
linux_port=7007
server_pid=""
linux_pid=""

cleanup() {
  [[ -n $server_pid ]] && kill -TERM "$server_pid" 2>/dev/null && sleep 0.5 &&
    kill -KILL "$server_pid" 2>/dev/null
  [[ -n $linux_pid ]] && kill -KILL "$linux_pid" 2>/dev/null
  ip link del "$root_if" 2>/dev/null
  ip netns del "$ns" 2>/dev/null
  return 0
}
trap cleanup EXIT

skip() {
  echo "SKIPPED: $*"
  exit 0
}
fail() {
  echo "FAIL: $*" >&2
  [[ -f $tmp/server.out ]] && { echo "--- tcp-echo output:" >&2; cat "$tmp/server.out" >&2; }
  exit 1
}

[[ $(id -u) -eq 0 ]] || skip "not root: network namespaces and af_packet need root"
command -v ip >/dev/null || skip "iproute2 (ip) not installed"
command -v ethtool >/dev/null || skip "ethtool not installed (scripts/bootstrap.sh installs it)"
command -v python3 >/dev/null || skip "python3 not installed"
ip netns add "$ns" 2>"$tmp/netns.err" || skip "cannot create a network namespace: $(cat "$tmp/netns.err")"
ip link add "$root_if" type veth peer name "$peer_if" 2>"$tmp/veth.err" ||
  skip "cannot create a veth pair: $(cat "$tmp/veth.err")"
ip link set "$peer_if" netns "$ns" || fail "moving $peer_if into $ns"
ip -n "$ns" addr add "$peer_addr/24" dev "$peer_if" || fail "address on $peer_if"
ip -n "$ns" link set lo up
ip -n "$ns" link set "$peer_if" up || fail "$peer_if up"
ip link set "$root_if" up || fail "$root_if up"
# No IPv6 on our end: the kernel would send its own solicitations from it.
sysctl -qw "net.ipv6.conf.$root_if.disable_ipv6=1" 2>/dev/null
ip netns exec "$ns" ethtool -K "$peer_if" tx off tso off gso off gro off >/dev/null 2>&1 ||
  fail "ethtool -K $peer_if"
ethtool -K "$root_if" tx off tso off gso off gro off >/dev/null 2>&1 || fail "ethtool -K $root_if"

# --- our stack -------------------------------------------------------------
# Bounded: --duration ends it even if the client hangs; the client finishes
# in a few seconds and SIGINT ends it then. The threads model: its workers
# sleep when idle, so the Linux client gets CPU on a small machine (the
# poll model's two spinning workers starve it: 8 MB/s, 43 connections/s
# on 2 CPUs).
"$binary" tcp-echo --dpdk "--no-huge --no-pci --no-shconf -m 512 --vdev=net_af_packet0,iface=$root_if" \
  --addr "$our_addr/24" --port "$port" --workers 2 --model threads --no-bind --duration 300 --json --lockprof \
  >"$tmp/server.json" 2>"$tmp/server.out" &
server_pid=$!
# Ready when it answers ARP: the kernel's neighbour entry becomes reachable.
ready=""
for _ in $(seq 1 100); do
  kill -0 "$server_pid" 2>/dev/null || fail "tcp-echo exited early"
  if ip netns exec "$ns" python3 -c "
import socket,sys
s=socket.socket(); s.settimeout(0.2)
try: s.connect(('$our_addr',$port)); s.close()
except Exception: sys.exit(1)" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
[[ -n $ready ]] || fail "tcp-echo never accepted a connection"

timeout 240 ip netns exec "$ns" python3 "$client" "$our_addr" "$port" >"$tmp/client.out" 2>&1
rc=$?
cat "$tmp/client.out"
[[ $rc -eq 0 ]] || fail "client against tcp-echo exited $rc"

kill -INT "$server_pid"
for _ in $(seq 1 100); do
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$server_pid" 2>/dev/null && fail "tcp-echo did not exit within 10 s of SIGINT"
wait "$server_pid"
rc=$?
server_pid=""
[[ $rc -eq 0 ]] || fail "tcp-echo exited $rc"

python3 - "$tmp/server.json" <<'PY' || fail "tcp-echo report"
import json, sys
r = json.load(open(sys.argv[1]))
c = r["connections"]
# readiness probe + 1 + 100 + 8
assert c["accepted"] >= 110, c
assert c["open"] == 0 or c["open"] <= 2, c  # at most TIME_WAIT/probe leftovers
assert r["frames"]["icmp_replies"] >= 1, r["frames"]
assert r["frames"]["arp_replies"] >= 1, r["frames"]
assert r["echoed_bytes"] >= 10_000_000 + 100 * 100 + 8 * 512 * 1024, r["echoed_bytes"]
assert isinstance(r["locks"], dict) and r["locks"], "--lockprof: no lock profile"
s = r["segments"]
assert s["in"] == s["accepted"] + s["dropped"], s
# tcp_stale_ack: a pure ACK Linux sent from one CPU arriving behind its
# data sent from the other (veth queues each CPU's frames apart); tcp_paws
# (any other old timestamp) stays unexplained.
bad = {k: v for k, v in r["drops"].items()
       if k not in ("no_service", "tcp_duplicate", "tcp_out_of_window", "tcp_no_connection",
                    "tcp_stale_ack",
                    "tcp_closed", "host_not_for_us", "arp_ignored", "icmp_ignored")}
assert not bad, (bad, r.get("last_paws"))
print("ok: tcp-echo report", json.dumps({k: r[k] for k in ("connections", "echoed_bytes", "drops")}))
PY

# --- Linux's own echo server, same veth, same client (baseline) -------------
ip addr add "$linux_addr/24" dev "$root_if" || fail "address for the Linux baseline"
python3 "$linux_server" "$linux_addr" "$linux_port" &
linux_pid=$!
sleep 0.5
if timeout 240 ip netns exec "$ns" python3 "$client" "$linux_addr" "$linux_port" --skip-icmp \
  >"$tmp/linux.out" 2>&1; then
  sed 's/^RESULT /RESULT linux_/' "$tmp/linux.out"
else
  echo "note: Linux baseline run failed (not a test failure):"
  cat "$tmp/linux.out"
fi
echo "PASS"
