// Pipeline: netisr embedded as the packet pipeline of an application (a
// router, a host): ports, their RX queues each polled by the worker netisr's
// source policy names, the parse chain with an IP-layer hook, and TX in
// bursts per (port, worker), with one teardown order, enforced.
//
// What it owns, in this order (and builds in this order):
//   1. the Netisr (settings, work model by name, dispatch mode);
//   2. the ports (nic::Port: given by the caller, or opened from a
//      nic::DpdkConfig), and any packet pools the caller hands over for them;
//   3. one RX source per (port, RX queue), attached to the worker that
//      netisr's source policy maps SourceId(port_id, queue) to
//      (WorkerOfRxQueue), so that in every dispatch mode the Ethernet layer
//      (policy source) runs where the queue is polled: no hop between
//      workers before the IP-layer hook; plus one TX tick source per worker;
//   4. the ProtocolStack, with the caller's deliver and ip_hook;
//   5. the TX stages, one per (port, worker), and a pool of frame buffers
//      for frames the application builds (ARP requests, ICMP errors).
//
// Teardown order (the destructor runs it whatever the caller did; Stop()
// runs steps 1-2 early and is idempotent):
//   1. Netisr::Stop: sources and workers stop; what is still queued is
//      drained (handlers run, may Send) or dropped as netisr's settings say;
//   2. every TX stage is flushed (the control thread, no worker running);
//   3. the Netisr is destroyed (no handler can run after this), then the
//      stack, the sources, the ports (a DpdkPort closes its device), and
//      last the pools (every packet is back by then: ports free theirs on
//      close, stages are empty).
// Misuse is an error Status, not undefined behaviour: AddPort/AdoptPool/
// SetFilter after Start (kFailedPrecondition), Start twice or after Stop,
// Start with no port; Send from a thread that is no worker, or to a port
// index out of range, releases the frame and counts it (tx_off_worker,
// tx_bad_port).
//
// TX batching (TxStage): Send(port, frame) on a worker stages the frame for
// (port, this worker's TX queue); the stage is sent with one TxBurst
//   * when it holds PipelineOptions::tx_burst frames;
//   * at the end of every burst the worker processed: after each RX
//     source's Poll returns (direct dispatch: the whole poll's hook and
//     deliver calls, one TxBurst per port; in hybrid dispatch too when
//     the layers ran in place), and after each ip_hook or deliver call
//     made outside an RX poll (a drained netisr burst in deferred or
//     hybrid dispatch);
//   * else (frames staged by the application's own netisr protocols or its
//     on_poll callback) by the worker's tick source once the oldest frame
//     has waited tx_flush_us, and at Stop.
// Every frame TxBurst refuses is released and counted (tx_full, per port).
// TX queue of worker w on a port with n TX queues: w % n. When n >= workers
// each (port, worker) has its own queue and the path takes no lock, makes
// no syscall and allocates nothing (the stages are allocated at Start); when
// n < workers, queues are shared and a spin lock per TX queue (lockprof
// class pipeline.txq) serialises their TxBursts, as tcp/host does; n = 0 (an
// RX-only port) drops what is sent to it as tx_no_queue.
//
// Threads: Create, AddPort, AdoptPool, SetFilter, Start, Stop and the
// destructor from one control thread. Send, AllocFrame and FlushTx from
// workers (inside ip_hook, deliver, on_poll or a handler of a protocol the
// application registered on netisr()). Stats() from any thread at any time.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "netisr/netisr.h"
#include "nic/dpdk_port.h"
#include "nic/port.h"
#include "proto/filter.h"
#include "proto/stack.h"

namespace netisr::pipeline {

// The worker netisr's source policy (Policy::kSource) maps ingress source
// `source` to, with `workers` workstreams: the worker that should poll the
// RX queue behind it. netisr/select.cc's BySource; tests/pipeline check the
// two agree by dispatching through netisr.
int WorkerOfSource(uint16_t source, int workers);
// The same for RX queue `queue` of the port numbered `port_id`
// (nic::SourceId).
int WorkerOfRxQueue(const Netisr& nisr, uint16_t port_id, uint16_t queue);

// Largest TX stage, frames (the stage array lives in the (port, worker)
// slot: 64 x 8 B).
inline constexpr uint32_t kMaxTxBurst = 64;

struct PipelineOptions {
  // netisr's settings; max_threads is the number of workers.
  Settings netisr;
  // Work model by name: "threads", "poll", "fibers" or "inline".
  std::string model = "poll";
  // Dispatch mode of every layer of the chain.
  DispatchMode dispatch = DispatchMode::kDirect;
  // proto::StackOptions' fused_ipv4, stage_burst and qlimit.
  bool fused_ipv4 = true;
  uint32_t stage_burst = 32;
  uint32_t qlimit = 0;
  // Local delivery (proto::StackOptions::deliver): owns the packets. Empty:
  // every delivered packet is released and counted as local_unclaimed.
  proto::DeliverFn deliver;
  // The IP-layer hook (proto::IpHookFn; see proto/stack.h for its
  // contract). Empty: no hook, the chain is the host stack.
  proto::IpHookFn ip_hook;
  // The hook's drop reasons (proto::StackOptions::ip_hook_drops): a packet
  // it answers proto::IpDrop(r) is released and counted under
  // ip_hook_drops[r] with the stack's drops (PipelineStats::drops, where a
  // name equal to one of the pipeline's own reasons would add to it).
  std::vector<std::string> ip_hook_drops;
  // Called on every worker once per round of its sources (after its RX
  // queues were polled): the application's timers (neighbour retries).
  // Returns work done (0 when idle). May Send.
  std::function<size_t(int worker)> on_poll;
  // Frames per TX stage, [1, kMaxTxBurst]: a full stage is sent at once.
  // 32 is DPDK's and netisr's burst.
  uint32_t tx_burst = 32;
  // Longest a frame staged outside a pipeline burst (see above) waits for
  // more, microseconds, [0, 10000]; 0 = flushed every worker round. 50: a
  // tenth of a LAN round trip at most, while frames sent from an
  // application's own handlers a few microseconds apart still share a
  // TxBurst. Above 10 ms a timer would be visible to TCP's RTT estimate.
  uint32_t tx_flush_us = 50;
  // Frame buffers for AllocFrame: count in [64, 1 << 22], bytes per buffer
  // in [128, 65535]. 8192 x 2048 B = 16 MiB: ICMP errors and ARP requests
  // are a small share of traffic; an empty pool makes AllocFrame return
  // nullptr (the caller counts that).
  uint32_t frame_pool_packets = 8192;
  uint32_t frame_buf_bytes = 2048;
};

// One RX queue of a port.
struct RxQueueStats {
  uint16_t queue = 0;
  int worker = 0;             // the worker that polls it
  uint64_t received = 0;      // frames its source took, filtered ones included
  uint64_t port_dropped = 0;  // Port::RxDropped(queue)
};

struct PortCounters {
  uint16_t index = 0;  // position in AddPort order: what Send takes
  uint16_t port_id = 0;
  std::string name;
  nic::PortStats port;   // the port's own counters (rx, rx_drops, tx, tx_full)
  uint64_t tx_sent = 0;  // frames the pipeline's TxBursts handed to the port
  uint64_t tx_full = 0;  // frames TxBurst refused: released, counted
  std::vector<RxQueueStats> rx_queues;
};

// A plain snapshot. Read while running, every counter is a recent value of
// a single-writer counter (torn-free, not one instant across counters);
// exact, and conserving (rx = delivered + taken + sent on + drops), only
// after Stop().
struct PipelineStats {
  std::vector<PortCounters> ports;
  Stats netisr;  // per worker and protocol (netisr's), its drops included
  // Every drop by reason: the ports' (rx_no_buffer, ...), netisr's, the
  // filter's, proto's (DropSnapshot) and the pipeline's (tx_full,
  // tx_no_queue, tx_bad_port, tx_off_worker, local_unclaimed).
  std::map<std::string, uint64_t> drops;
  uint64_t rx_packets = 0;  // all ports: frames handed out by RxBurst
  uint64_t tx_packets = 0;  // all ports: frames the pipeline's TxBursts sent
};

class Pipeline {
 public:
  // Creates the Netisr and registers the stack. Errors: the model name, the
  // settings (Netisr::Create's), the stack's (stage_burst), tx_burst,
  // tx_flush_us or the frame pool out of range.
  static Result<std::unique_ptr<Pipeline>> Create(PipelineOptions options);
  // The teardown above.
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // --- Before Start ------------------------------------------------------
  // Adds a port; returns its index (0, 1, ... in call order; the router's
  // convention makes it equal to port_id(), which is not required). Errors:
  // after Start, a port_id already added, more than 1024 ports.
  Result<uint16_t> AddPort(std::unique_ptr<nic::Port> port);
  // Opens a DPDK port (DpdkEal::Init must have run) and adds it.
  Result<uint16_t> AddDpdkPort(const nic::DpdkConfig& config);
  // Keeps a pool (a synthetic or pcap port's) alive until after the ports.
  Status AdoptPool(std::unique_ptr<PacketPool> pool);
  // An early filter applied by every RX source (proto/filter.h).
  Status SetFilter(std::unique_ptr<proto::EarlyFilter> filter);

  // Attaches the sources (each RX queue on WorkerOfRxQueue's worker, one
  // tick source per worker), allocates the TX stages and starts netisr.
  // Errors: no port, called twice or after Stop, netisr's (the pipeline is
  // then stopped: destroy it).
  Status Start();
  // Steps 1-2 of the teardown. Idempotent; a no-op before Start.
  void Stop();

  // --- On a worker -------------------------------------------------------
  // Stages `frame` (a whole Ethernet frame, pkt->len bytes) for port
  // `port` (an AddPort index); the pipeline owns it from here.
  void Send(uint16_t port, Packet* frame);
  // Send of each of `frames`, in order, all for `port`, with the worker
  // and port checks once (a router's routed chunk: ~40 instructions a
  // frame less than one Send each).
  void SendBurst(uint16_t port, std::span<Packet* const> frames);
  // A fresh frame buffer (len 0, frame_buf_bytes of room) from the
  // pipeline's pool, or nullptr when it is empty. Any thread.
  Packet* AllocFrame();
  // Sends what this worker has staged, on every port. No-op elsewhere.
  void FlushTx();

  // --- Any thread ----------------------------------------------------------
  PipelineStats Stats() const;
  Netisr& netisr() { return *nisr_; }
  proto::ProtocolStack& stack() { return *stack_; }
  size_t num_ports() const;
  nic::Port& port(uint16_t index);  // index < num_ports()
  int workers() const;
  bool started() const;

  struct Core;  // the workers' state (pipeline.cc)

 private:
  explicit Pipeline(std::shared_ptr<Core> core, std::unique_ptr<Netisr> nisr);
  // Start's part before netisr starts: the stages and the sources.
  Status Attach();

  // Declared in reverse of the destruction order the header states: the
  // Netisr goes first, then the stack, then Core (sources, ports, pools).
  std::shared_ptr<Core> core_;
  std::unique_ptr<proto::ProtocolStack> stack_;
  std::unique_ptr<Netisr> nisr_;
};

}  // namespace netisr::pipeline
