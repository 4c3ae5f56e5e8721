# netisr simulator cost profile, virtual ns (sim/profile.h); DefaultProfile()
# in sim/profile.cc holds the same values (sim_test checks).
# Measured lines: `netisr calibrate --packets 400000` on the development VM
# (2-vCPU AMD EPYC KVM guest, shared with two other builds), process CPU time
# per packet of `netisr run`'s bench mode, median of 3, two calibrations
# (rx 144.5 and 152.8; handoff 144.3 and 201.7), rounded:
rx_burst_ns = 0
rx_pkt_ns = 150
handoff_pkt_ns = 170
handoff_burst_ns = 0
# Not measured by calibrate (the bench protocol has none of these steps):
# estimates in proportion to the per-layer costs in docs/ (parse chain,
# connection-table lookups by strategy), the ~10-25 us pickup of a sleeping
# threads-model worker (settings.h, AdaptiveSettings::delay_low_ns) and its
# idle spin (Settings::idle_spin, ~50 us).
ether_ns = 8
ip_ns = 15
tcp_ns = 25
udp_ns = 12
syn_ns = 180
lookup_global_ns = 45
lookup_groups_ns = 30
lookup_epoch_ns = 22
lookup_partitioned_ns = 18
wakeup_ns = 12000
cache_move_ns = 250
spin_ns = 50000
