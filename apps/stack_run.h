// `netisr run --source ...`: frames from NIC ports through the real parse
// chain.
//
//   port(s) --RxQueueSource (one per RX queue, on worker i % cpus)
//           --[--filter: proto::EarlyFilter, before any queueing]
//           --> netisr: ether -> ip/ip6/arp -> tcp/udp/icmp/icmp6
//           --> sink (proto::DeliverFn): --handler-ns, latency, order check
//
// Ports: `synthetic` is one nic::SyntheticPort, `pcap:FILE` one
// nic::PcapPort, `dpdk:EAL-ARGS` one nic::DpdkPort per ethdev port EAL found
// (ingress_spec.h). Each has --sources RX queues (default: one per worker;
// DPDK: at most what the device offers), RSS spreads flows over them and
// its hash is the netisr flowid. All ports share one --packets budget
// (capped_port.h); pcap also ends after --loops replays, DPDK after
// --idle-ms without a frame.
//
// `seconds` runs from Start until netisr is idle; a DPDK run that ended by
// --idle-ms has that final silence taken off.
//
// Accounting, checked by RunCommand: packets_in = every frame the ports
// received (handed out, or dropped by the port: rx_too_long, ...) =
// delivered + drops, where drops holds the ports', the filter's
// (filtered, rate_limited), the parse chain's (bad_ip_checksum, ...) and
// netisr's (queue_full, ...) reasons. And every buffer of the synthetic and
// pcap ports' pools is back after Stop (RunReport::pools).
//
// Order check: the sink keys a 64K-slot harness::FlowOrderCheck::Hashed
// table by (terminal layer, ingress source, flowid) and counts a packet whose Packet::seq is not
// above the last one of its key as reordered. seq is the queue position for pcap and DPDK, so the
// check is exact there; the synthetic generator numbers each flow's packets, so two of its flows
// whose 32-bit RSS hashes collide look like one flow going back (chance ~flows^2 / 2^33: 5e-7 for
// 64 flows, 1% for 10^4). Keys sharing a slot evict each other (less checking, never a false
// report).
#pragma once

#include "apps/drive.h"
#include "apps/run_options.h"
#include "apps/run_report.h"
#include "base/status.h"

namespace netisr::apps {

// Validates `opts` as ValidateRunOptions does (--source must be set).
// Errors: bad options (kInvalidArgument), a source that cannot open (missing or bad pcap, EAL init,
// no DPDK port or queue), netisr's.
Result<RunReport> RunStack(const RunOptions& opts, const RunHooks& hooks = {});

}  // namespace netisr::apps
