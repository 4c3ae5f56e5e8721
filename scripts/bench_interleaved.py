#!/usr/bin/env python3
"""Interleaved A/B/C... runs of `netisr run --json`, for a shared, noisy machine.

Usage: scripts/bench_interleaved.py ROUNDS LABEL=BINARY:ARGS [LABEL=BINARY:ARGS ...]

Round r runs every configuration once, in an order rotated by r, so that slow
phases of the machine hit every configuration alike. Each run is started through
$NETISR_PRIO (a wrapper such as the autogroup nice -20 one in docs/adaptive.md)
if set. Prints each run, then per configuration the median Mpps (min-max),
p50/p99 latency, drops, migrations, the worst reordering count and whether
every run conserved packets (delivered + dropped == in). Writes all runs as JSON
to $OUT (default bench_interleaved.json).

With $BASELINE set to a label, also prints each configuration's throughput as a
ratio to that label's run in the same round (paired, so that a slow round
slows both), as the median and range over rounds and how many rounds reached
$TARGET (default 1.5); and each configuration's median latency on each
workstream (where the handler ran), from `latency_by_workstream`.
"""
import json
import os
import statistics
import subprocess
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    rounds = int(sys.argv[1])
    cfgs = []
    for a in sys.argv[2:]:
        label, rest = a.split('=', 1)
        binary, args = rest.split(':', 1)
        cfgs.append((label, binary, args.split()))
    prio = [os.environ['NETISR_PRIO']] if os.environ.get('NETISR_PRIO') else []
    res = {c[0]: [] for c in cfgs}
    for r in range(rounds):
        k = r % len(cfgs)
        for label, binary, args in cfgs[k:] + cfgs[:k]:
            out = subprocess.run(prio + [binary, 'run', '--json'] + args,
                                 capture_output=True, text=True)
            if out.returncode != 0:
                print('FAIL', label, out.stderr[:300], flush=True)
                continue
            j = json.loads(out.stdout)
            d = dict(round=r, mpps=j['mpps'], p50=j['p50_us'], p99=j['p99_us'],
                     drops=j['dropped_total'], reordered=j['reordered'],
                     conserved=j['delivered'] + j['dropped_total'] == j['packets_in'],
                     migrations=j['migrations'], decisions=j['decisions'],
                     p50_by_ws=[w['p50_us'] for w in j.get('latency_by_workstream', [])])
            res[label].append(d)
            print(f"{label} r{r} {d['mpps']:.3f} Mpps p50 {d['p50']:.1f} p99 {d['p99']:.1f} "
                  f"drops {d['drops']} reordered {d['reordered']} conserved {d['conserved']} "
                  f"migrations {d['migrations']}", flush=True)
    print('--- medians')
    for label, runs in res.items():
        if not runs:
            continue
        med = lambda key: statistics.median(x[key] for x in runs)
        print(f"{label}: n={len(runs)} Mpps {med('mpps'):.3f} "
              f"[{min(x['mpps'] for x in runs):.2f}-{max(x['mpps'] for x in runs):.2f}] "
              f"p50 {med('p50'):.1f} p99 {med('p99'):.1f} drops {med('drops')} "
              f"migrations {med('migrations')} reordered_max {max(x['reordered'] for x in runs)} "
              f"all_conserved {all(x['conserved'] for x in runs)}")
    base = os.environ.get('BASELINE')
    if base in res:
        target = float(os.environ.get('TARGET', '1.5'))
        print(f'--- paired ratios to {base} (same round)')
        by_round = {x['round']: x['mpps'] for x in res[base]}
        for label, runs in res.items():
            rs = [x['mpps'] / by_round[x['round']] for x in runs if x['round'] in by_round]
            if not rs:
                continue
            ws = list(zip(*[x['p50_by_ws'] for x in runs if x['p50_by_ws']]))
            print(f"{label}: ratio {statistics.median(rs):.3f} [{min(rs):.2f}-{max(rs):.2f}] "
                  f">= {target} in {sum(r >= target for r in rs)}/{len(rs)} rounds; "
                  f"p50 by workstream {[round(statistics.median(w), 1) for w in ws]}")
    with open(os.environ.get('OUT', 'bench_interleaved.json'), 'w') as f:
        json.dump(res, f)


if __name__ == '__main__':
    main()
