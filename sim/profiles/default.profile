# netisr simulator cost profile, virtual ns (sim/profile.h); DefaultProfile()
# in sim/profile.cc holds the same values (sim_test checks).
# What follows is one `netisr calibrate` run's output, as it wrote it, on the
# development VM (2-vCPU AMD EPYC KVM guest) on 2026-12-08 00:31 UTC (nine
# rounds a calibration, adaptive's chunk fast path taken when saturated
# too): the middle one of five in a row by the crossing's cost at full
# bursts (deferred less direct over the share that crossed: 63, 75, 69, 75
# and 64 ns; it reads 2x in other spells: the cost of a cache line moving
# between the two vCPUs depends on where the host runs them, docs/sim.md
# "Calibration"); adaptive's decision read 11, 6, 7, 9 and 11 ns in them.
# Only its stall lines are left out: the default models the dispatcher on a
# machine of its own, and compare's validation simulates its real runs with
# stalls measured between them. Until 2026-12-07 the default was assembled
# from medians of ten earlier calibrations, without per-burst costs (rx 53,
# crossing 180 of which the producer 147, adaptive 0).
#
# Measured by `netisr calibrate` on 2 CPUs with `netisr run`'s bench mode
# (threads model, 1024 flows, handler work 300 ns, 2000000 packets; the cheapest
# of 9 interleaved rounds, CPU ns per packet less the handler's work):
#   rx_pkt_ns      = direct dispatch (43.0; median 45.8, most 59.0)
#   handoff_pkt_ns = deferred (77.7; median 83.4, most 161.9) minus direct,
#                    over the share of packets that crossed CPUs (0.50)
#   rx_burst_ns, handoff_burst_ns = the same with bursts of one packet
#                    (direct 127.1, deferred 283.7): the cost at one packet
#                    a burst less that at full bursts is the per-burst
#                    part's (1 - 1/B), B = 32 for receive and 16.8 for the
#                    crossing (deferred's mean drained burst); rx_pkt_ns and
#                    handoff_pkt_ns above are net of it (the figures in
#                    brackets are not)
#   adaptive_pkt_ns = adaptive minus direct, paired by round (least
#                    -4.4, median 6.8, most 22.9): balanced
#                    layout, moves held off (interval 1 s)
#   handoff_producer_ns = handoff_pkt_ns less the consumer's part a packet:
#                    one source on worker 0, every flow to worker 1, that
#                    worker's wall ns per packet less the handler's work
#                    (36.2; median 41.3, most 49.1; on one CPU 0),
#                    less handoff_burst_ns over its mean drain (32.0)
#   stall_gap_ns, stall_ns, stall_p10_ns .. stall_max_ns = gaps over 2000 ns
#                    in a clock-spinning thread bound to each CPU, 1 s
#                    (1.71% of the time lost; the CPU times above are
#                    taken net of that share): their mean interval, median
#                    and quantiles; stall_shared = the share of them that
#                    met a stall of another CPU, beyond chance
#   wakeup_ns      = median latency of packets pushed to a sleeping worker
#                    less that of packets its producer polled (paced;
#                    on one CPU the default's: there is no worker to wake)
#   lookup_*_ns    = locked connection lookup, one thread, 4,096
#                    connections, the cheapest of 3 runs of 1 M
# The parse stages, syn_ns, cache_move_ns and spin_ns are the default profile's,
# not measured here.
rx_burst_ns = 87
rx_pkt_ns = 40
adaptive_pkt_ns = 7
ether_ns = 8
ip_ns = 15
tcp_ns = 25
udp_ns = 12
syn_ns = 180
lookup_global_ns = 76
lookup_groups_ns = 81
lookup_epoch_ns = 59
lookup_partitioned_ns = 33
handoff_pkt_ns = 54
handoff_burst_ns = 259
handoff_producer_ns = 26
wakeup_ns = 30560
cache_move_ns = 250
spin_ns = 50000
