# netisr simulator cost profile, virtual ns (sim/profile.h); DefaultProfile()
# in sim/profile.cc holds the same values (sim_test checks).
# What follows is one `netisr calibrate` run's output, as it wrote it, on the
# development VM (2-vCPU AMD EPYC KVM guest) on 2026-12-08 00:05 UTC (nine
# rounds a calibration): the middle one of five in a row by the crossing's
# cost at full bursts (deferred less direct over the share that crossed:
# 134, 76, 69, 73 and 75 ns: the cost of a cache line moving between the
# two vCPUs depends on where the host runs them, docs/sim.md
# "Calibration"); adaptive's decision read 28, 46, 17, 31 and 27 ns in them.
# Only its stall lines are left out: the default models the dispatcher on a
# machine of its own, and compare's validation simulates its real runs with
# stalls measured between them. Until 2026-12-07 the default was assembled
# from medians of ten earlier calibrations, without per-burst costs (rx 53,
# crossing 180 of which the producer 147, adaptive 0).
#
# Measured by `netisr calibrate` on 2 CPUs with `netisr run`'s bench mode
# (threads model, 1024 flows, handler work 300 ns, 2000000 packets; the cheapest
# of 9 interleaved rounds, CPU ns per packet less the handler's work):
#   rx_pkt_ns      = direct dispatch (46.3; median 60.0, most 77.5)
#   handoff_pkt_ns = deferred (83.6; median 96.8, most 204.5) minus direct,
#                    over the share of packets that crossed CPUs (0.50)
#   rx_burst_ns, handoff_burst_ns = the same with bursts of one packet
#                    (direct 127.9, deferred 291.8): the cost at one packet
#                    a burst less that at full bursts is the per-burst
#                    part's (1 - 1/B), B = 32 for receive and 17.0 for the
#                    crossing (deferred's mean drained burst); rx_pkt_ns and
#                    handoff_pkt_ns above are net of it (the figures in
#                    brackets are not)
#   adaptive_pkt_ns = adaptive minus direct, paired by round (least
#                    -1.0, median 26.7, most 68.7): balanced
#                    layout, moves held off (interval 1 s)
#   handoff_producer_ns = handoff_pkt_ns less the consumer's part a packet:
#                    one source on worker 0, every flow to worker 1, that
#                    worker's wall ns per packet less the handler's work
#                    (32.7; median 51.8, most 68.8; on one CPU 0),
#                    less handoff_burst_ns over its mean drain (32.0)
#   stall_gap_ns, stall_ns, stall_p10_ns .. stall_max_ns = gaps over 2000 ns
#                    in a clock-spinning thread bound to each CPU, 1 s
#                    (1.97% of the time lost; the CPU times above are
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
rx_burst_ns = 84
rx_pkt_ns = 44
adaptive_pkt_ns = 27
ether_ns = 8
ip_ns = 15
tcp_ns = 25
udp_ns = 12
syn_ns = 180
lookup_global_ns = 74
lookup_groups_ns = 83
lookup_epoch_ns = 59
lookup_partitioned_ns = 33
handoff_pkt_ns = 59
handoff_burst_ns = 269
handoff_producer_ns = 34
wakeup_ns = 38512
cache_move_ns = 250
spin_ns = 50000
