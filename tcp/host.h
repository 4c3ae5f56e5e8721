// Host: an IPv4 host on netisr — the parse chain (proto/stack.h) below, the
// TCP engine (engine.h) above, one engine per workstream, ARP and ICMP echo
// answered, frames sent on a nic::Port.
//
// Design note (docs/tcp.md, "netisr integration", has the full account).
//  * Receive: the proto chain delivers each terminal layer's burst on the
//    worker that ran it. A TCP segment is handed, decoded from the chain's
//    Layout (no re-parse, no checksum again), to the engine of its home
//    workstream, CpuOf(flowid) (its flow bucket's, base/flow_bucket.h): the
//    one netisr's flow policy picks and the one the connection table's
//    partitions assume.
//    Hybrid and deferred dispatch already run it there; when a packet runs
//    elsewhere (direct dispatch, an adaptive bucket move) the host forwards
//    it, with its Layout, to its home through a second protocol,
//    "tcp_home" (policy cpu, deferred), so that an engine is only ever
//    touched by its own worker: no lock on per-workstream state.
//  * Affinity: each new connection's flowid is told to netisr as the tcp
//    layer's affinity hint for its workstream (SetFlowAffinity), so adaptive
//    dispatch leaves its bucket there. Hints are per flow bucket, and a
//    bucket's flows all have one home, so a hint never pulls another
//    connection away from its engine.
//  * Timers: each worker polls a HostSource attached to it, which runs its
//    engine's timer wheel (and an application hook, and functions posted to
//    that workstream): timers are per workstream, driven by its worker, with
//    no global timer lock.
//  * Transmit: segments are framed (Ethernet, IPv4, TCP by EncodeSegment)
//    into packets of the host's pool and sent in bursts on TX queue
//    ws % num_tx_queues at the end of each burst or poll. When the port has
//    fewer TX queues than workstreams, a queue is shared and a lock (class
//    tcp.txq) serialises its senders; otherwise there is none. ARP and echo
//    replies are the received frame rewritten in place (proto/responder.h).
//  * Neighbours: a per-workstream map learned from ARP and from the source
//    MAC of SYNs (a connection's segments all run on its workstream, so its
//    SYN taught that map); an unknown destination gets
//    HostConfig::default_peer_mac. No ARP requests are sent (a server learns
//    its peers; a client on a point-to-point wire names its peer).
//  * Engines are created on their worker (the table's ThreadEnter is
//    per-thread) at its first segment or poll, and destroyed there when the
//    worker thread ends (Netisr::Stop), their statistics kept. Never once
//    Stop has begun (Netisr::stopping): its final drain runs on the
//    stopping thread, and a segment that finds no engine then is dropped as
//    no_engine. Caller-driven work models (inline) are refused: they run
//    every workstream on the caller's thread.
//
// Accounting: every frame the chain delivers is counted once, as a segment
// given to an engine (tcp_segments, then the engine's own accounting), a
// reply sent (arp_replies, icmp_replies), forwarded (then counted again
// where it lands) or a HostDrop. Every frame built for TX (the engines'
// segments_out, raw_segments, the replies) is sent or counted (tx_full,
// tx_no_buffer).
//
// Threads: Create/Listen before Netisr::Start, from the control thread;
// Stats after Netisr::Stop. Call Netisr::Stop before destroying the host;
// netisr's handlers keep the host's state alive until the Netisr is gone.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "inpcb/table.h"
#include "netisr/netisr.h"
#include "nic/port.h"
#include "nic/rx_source.h"
#include "proto/responder.h"
#include "proto/stack.h"
#include "tcp/engine.h"

namespace netisr::tcp {

using proto::MacAddr;
inline constexpr MacAddr kBroadcastMac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

#define NETISR_TCP_HOST_DROPS(X)                                                        \
  X(kNotForUs, "host_not_for_us")       /* another host's address (IP or ARP target) */ \
  X(kArpIgnored, "arp_ignored")         /* an ARP reply: learned, nothing to send */    \
  X(kIcmpIgnored, "icmp_ignored")       /* ICMP other than echo request */              \
  X(kNoService, "no_service")           /* UDP, ICMPv6: nothing listens */              \
  X(kIpv6, "tcp_ipv6")                  /* TCP over IPv6: the host is IPv4 only */      \
  X(kTcpMalformed, "tcp_malformed")     /* the decoder refused what the chain passed */ \
  X(kForwardDropped, "forward_dropped") /* netisr dropped it on the way home */         \
  X(kOffWorker, "off_worker")           /* handled on no workstream (Stop's drain) */   \
  X(kNoEngine, "no_engine")             /* no engine: it could not start, or is gone */ \
  X(kTxFull, "tx_full")                 /* the TX queue refused the frame */            \
  X(kTxNoBuffer, "tx_no_buffer")        /* no packet in the host's pool */

enum class HostDrop : uint8_t {
#define NETISR_TCP_ENUM(e, s) e,
  NETISR_TCP_HOST_DROPS(NETISR_TCP_ENUM)
#undef NETISR_TCP_ENUM
      kCount
};
inline constexpr size_t kNumHostDrops = static_cast<size_t>(HostDrop::kCount);
std::string_view ToString(HostDrop d);

struct HostConfig {
  uint32_t addr = 0;  // our IPv4 address, host order (10.0.0.1 = 0x0a000001); required
  MacAddr mac = {0x02, 0, 0, 0, 0, 1};
  // Where segments to a peer not yet learned go (see Neighbours).
  MacAddr default_peer_mac = kBroadcastMac;
  nic::Port* port = nullptr;  // required: TX on queue ws % num_tx_queues (>= 1)
  // TCP settings of every engine (cpu and cpus are set per workstream).
  Settings tcp;
  // The connection table (cpus is set to the workstream count).
  inpcb::TableSettings table;
  // The parse chain's dispatch mode (netisr's override still wins).
  DispatchMode dispatch = DispatchMode::kHybrid;
  // Packets for framed TX segments; [64, 1 << 22]. Each is 2 KiB; 16384 =
  // 32 MiB, enough for the send windows of a few hundred busy connections
  // in flight on the wire (a short pool is counted as tx_no_buffer and
  // recovered by retransmission).
  uint32_t tx_pool_packets = 16384;
  // Time of every engine; nullptr: CLOCK_MONOTONIC.
  const Clock* clock = nullptr;
  // Called on every poll of each workstream's HostSource, on its worker,
  // after the timers: an application's load generator (lockprof --tcp).
  // Returns how much work it did (0 = none).
  std::function<size_t(int ws, Engine& engine)> on_poll;
};

struct HostCounters {
  uint64_t frames_in = 0;     // frames the chain delivered to the host
  uint64_t tcp_segments = 0;  // given to an engine
  uint64_t forwarded = 0;     // sent to their home workstream first
  uint64_t raw_segments = 0;  // framed for SendSegment (no engine's output)
  uint64_t arp_replies = 0;
  uint64_t icmp_replies = 0;
  uint64_t tx_frames = 0;  // accepted by the port
  uint64_t tx_bytes = 0;
  std::array<uint64_t, kNumHostDrops> drops{};
  // Every drop, received or built.
  uint64_t dropped() const {
    uint64_t n = 0;
    for (uint64_t d : drops) n += d;
    return n;
  }
  // Frames built for sending that were not sent (tx_full, tx_no_buffer).
  uint64_t tx_dropped() const {
    return drops[static_cast<size_t>(HostDrop::kTxFull)] +
           drops[static_cast<size_t>(HostDrop::kTxNoBuffer)];
  }
  // Received frames dropped: every other reason (a new TX reason must be
  // added to tx_dropped).
  uint64_t rx_dropped() const { return dropped() - tx_dropped(); }
};

struct HostStats {
  Stats tcp;                         // every engine's, summed
  std::vector<Stats> by_workstream;  // each engine's (zero if it never started)
  HostCounters host;                 // summed over workstreams
  uint64_t connections = 0;          // connections engines still held when they stopped
  // Reason -> count, zeroes omitted: the host's and the engines' drops.
  std::map<std::string, uint64_t> DropMap() const;
  // Nothing lost uncounted: every frame the chain delivered is a segment
  // given to an engine, an ARP or ICMP reply, or a received-frame drop;
  // every segment an engine or SendSegment emitted, and every reply, is a
  // frame the port accepted or a TX drop; every segment an engine got is
  // accepted or dropped with a reason, and is one the host gave it. Exact
  // once the host's netisr stopped.
  bool Conserved() const;
};

class Host {
 public:
  // Registers the parse chain and "tcp_home" on `nisr` (before Start), and
  // attaches one HostSource to each worker. Errors: bad config (address,
  // port, TCP settings), the table's, netisr's (protocol slots: 9 needed).
  static Result<std::unique_ptr<Host>> Create(Netisr& nisr, HostConfig config);
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  // A listener on our address:port (before Start), shared by every
  // workstream's engine (Engine::AttachListener); `accept` runs on the
  // connection's worker.
  Status Listen(uint16_t port, AcceptFn accept);

  // Frames and queues `seg` (sender's view) on workstream ws's TX batch as
  // an engine's output is (sent at the end of the burst or poll): segments
  // of no connection, for load generators (lockprof --tcp's flood SYNs).
  // Only on ws's worker (an on_poll hook or a callback).
  void SendSegment(int ws, const Segment& seg);

  // Where a port's RX frames enter (nic::RxQueueSource).
  nic::RxProtocols rx_protocols() const;
  ProtocolId tcp_protocol() const;  // the chain's tcp layer
  inpcb::ConnectionTable& table();
  const HostConfig& config() const;

  // Exact after Netisr::Stop.
  HostStats Stats() const;

  struct Core;

 private:
  explicit Host(std::shared_ptr<Core> core);
  std::shared_ptr<Core> core_;
};

}  // namespace netisr::tcp
