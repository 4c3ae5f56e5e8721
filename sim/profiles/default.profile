# netisr simulator cost profile (virtual ns). Measured on the development VM
# (2-vCPU AMD EPYC KVM guest) with `netisr calibrate`, then rounded; the
# protocol stages and lookups come from benchmarks/proto and benchmarks/inpcb
# figures in docs/. DefaultProfile() in sim/profile.cc holds the same values.
rx_burst_ns = 60
rx_pkt_ns = 12
ether_ns = 8
ip_ns = 15
tcp_ns = 25
udp_ns = 12
syn_ns = 180
lookup_global_ns = 45
lookup_groups_ns = 30
lookup_epoch_ns = 22
lookup_partitioned_ns = 18
handoff_pkt_ns = 35
handoff_burst_ns = 120
wakeup_ns = 12000
cache_move_ns = 250
spin_ns = 50000
