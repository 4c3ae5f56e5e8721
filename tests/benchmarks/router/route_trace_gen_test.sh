#!/usr/bin/env bash
# route_trace_gen, the input writer of benchmarks/router/l3fwd_reference.sh:
# the trace, l3fwd's rule file and the router's TOML describe the same table
# (every frame's destination inside exactly one of the routes, all out of
# port 1), the outputs are a function of the seed, and bad flags exit 2
# with a message.
set -euo pipefail

binary="${TEST_SRCDIR:-.}/netisr/benchmarks/router/route_trace_gen"
[[ -x $binary ]] || binary=benchmarks/router/route_trace_gen
tmp="${TEST_TMPDIR:-$(mktemp -d)}"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

mkdir -p "$tmp/a" "$tmp/b" "$tmp/c"
"$binary" --out_dir="$tmp/a" --seed=7 --dst_mac=02:70:63:61:70:00 >/dev/null ||
  fail "default run exited $?"
python3 - "$tmp/a" <<'PY' || fail "the outputs do not agree (above)"
import ipaddress, struct, sys, tomllib
d = sys.argv[1]
rules = [l.split() for l in open(d + "/rules_v4.cfg") if l.startswith("R")]
assert len(rules) == 1000, len(rules)
assert all(port == "1" for _, port in rules), "a rule not out of port 1"
nets = [ipaddress.ip_network(r[1:]) for r, _ in rules]  # strict: host bits zero
assert len(set(nets)) == 1000, "duplicate prefixes"
s = sorted(nets, key=lambda n: int(n.network_address))
for a, b in zip(s, s[1:]):
    assert not a.overlaps(b), (a, b)
lens = {n.prefixlen for n in nets}
assert min(lens) == 16 and max(lens) == 28, lens
assert sum(n.prefixlen > 24 for n in nets) < 256, "more tbl8 groups than l3fwd has"
v6 = [l for l in open(d + "/rules_v6.cfg") if l.startswith("R")]
assert len(v6) == 1, v6

cfg = tomllib.load(open(d + "/router.toml", "rb"))
routes = cfg["route"]
v4 = [ipaddress.ip_network(r["prefix"]) for r in routes if ":" not in r["prefix"]]
assert sorted(v4, key=str) == sorted(nets, key=str), "TOML routes differ from the rule file"
assert {r["via"] for r in routes} == {"10.2.0.2", "fd00:2::2"}
neigh = {n["address"]: n for n in cfg["neighbour"]}
assert neigh["10.2.0.2"]["port"] == "b" and cfg["port"][1]["name"] == "b"
assert cfg["port"][0]["device"].startswith("net_pcap0,rx_pcap=" + d)
assert cfg["dataplane"]["workers"] == 1

raw = open(d + "/trace.pcap", "rb").read()
magic, = struct.unpack("<I", raw[:4])
assert magic == 0xa1b2c3d4, hex(magic)
assert struct.unpack("<I", raw[20:24])[0] == 1, "not Ethernet"
off, frames, flows = 24, 0, set()
while off < len(raw):
    _, _, incl, orig = struct.unpack("<IIII", raw[off:off + 16])
    f = raw[off + 16:off + 16 + incl]
    off += 16 + incl
    frames += 1
    assert incl == orig == 64, incl
    assert f[:6] == bytes.fromhex("027063617000"), f[:6].hex()
    assert f[12:14] == b"\x08\x00" and f[23] == 17, "not IPv4/UDP"
    ip = f[14:34]
    words = sum(struct.unpack("!10H", ip))
    while words >> 16:
        words = (words & 0xffff) + (words >> 16)
    assert words == 0xffff, "bad IPv4 header checksum"
    dst = ipaddress.ip_address(ip[16:20])
    hits = [n for n in nets if dst in n]
    assert len(hits) == 1, (dst, hits)
    flows.add((ip[12:20], f[34:38]))
assert frames == 4096, frames
assert len(flows) == 4096, len(flows)
PY

"$binary" --out_dir="$tmp/b" --seed=7 --dst_mac=02:70:63:61:70:00 >/dev/null
"$binary" --out_dir="$tmp/c" --seed=8 --dst_mac=02:70:63:61:70:00 >/dev/null
for f in trace.pcap rules_v4.cfg; do
  cmp -s "$tmp/a/$f" "$tmp/b/$f" || fail "$f differs between two runs of seed 7"
done
cmp -s "$tmp/a/rules_v4.cfg" "$tmp/c/rules_v4.cfg" && fail "seeds 7 and 8 wrote the same table"

# Bad flags: exit 2, and the message names the flag.
expect_usage() {
  local want=$1
  shift
  set +e
  "$binary" "$@" >/dev/null 2>"$tmp/err"
  local rc=$?
  set -e
  [[ $rc == 2 ]] || fail "$* exited $rc, not 2"
  grep -q -- "$want" "$tmp/err" || fail "$*: no '$want' in: $(cat "$tmp/err")"
}
expect_usage "out_dir is required" --seed=1
expect_usage "bad --bytes" --out_dir="$tmp/c" --bytes=10
expect_usage "bad --prefixes" --out_dir="$tmp/c" --prefixes=2000
expect_usage "bad --dst_mac" --out_dir="$tmp/c" --dst_mac=zz
expect_usage "bad --seed" --out_dir="$tmp/c" --seed=x
expect_usage "unknown argument" --out_dir="$tmp/c" --frobnicate
# A directory that does not exist: a runtime failure (1) naming the file.
set +e
"$binary" --out_dir="$tmp/missing/dir" 2>"$tmp/err"
rc=$?
set -e
[[ $rc == 1 ]] || fail "missing out_dir exited $rc, not 1"
grep -q "missing/dir" "$tmp/err" || fail "no path in: $(cat "$tmp/err")"
echo PASS
