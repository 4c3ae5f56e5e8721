#include "pipeline/pipeline.h"

#include <algorithm>
#include <array>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "base/counter.h"
#include "lockprof/lock.h"
#include "nic/rx_source.h"
#include "sched_feedback/clock.h"

namespace netisr::pipeline {

namespace {

inline constinit lockprof::LockClass kTxQueueLock("pipeline.txq");

constexpr uint32_t kMaxFlushUs = 10000;
constexpr uint32_t kMinFramePool = 64, kMaxFramePool = 1u << 22;
constexpr uint32_t kMinFrameBuf = 128, kMaxFrameBuf = 65535;
constexpr size_t kMaxPorts = 1024;  // nic::SourceId's port range

enum class State : uint8_t { kCreated, kStarted, kStopped };

Status OutOfRange(const char* what, uint64_t v, uint64_t lo, uint64_t hi) {
  return Status(ErrorCode::kInvalidArgument,
                std::string("pipeline: ") + what + " " + std::to_string(v) + " out of range [" +
                    std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

}  // namespace

int WorkerOfSource(uint16_t source, int workers) { return workers > 0 ? source % workers : 0; }

int WorkerOfRxQueue(const Netisr& nisr, uint16_t port_id, uint16_t queue) {
  return WorkerOfSource(nic::SourceId(port_id, queue), nisr.num_workstreams());
}

class RxSource;

// The frames staged for one (port, worker): written by that worker only (or
// by the control thread once the workers stopped), so no lock; the counters
// are single-writer (base/counter.h), read by Stats() from any thread.
struct alignas(64) TxStage {
  std::array<Packet*, kMaxTxBurst> pkts{};
  uint32_t n = 0;
  uint64_t first_ns = 0;   // when pkts[0] was staged (FastClock)
  base::Counter sent;      // accepted by TxBurst
  base::Counter full;      // refused by TxBurst: released
  base::Counter no_queue;  // sent to a port without TX queue: released
};

// A worker's own state; only that worker writes it.
struct alignas(64) WorkerState {
  // Inside one of this worker's RX polls: the poll's end flushes, so the
  // hook and deliver wrappers do not.
  bool in_rx_poll = false;
  std::vector<RxSource*> rx;  // the RX sources attached here (set at Start)
  base::Counter tx_bad_port;
  base::Counter local_unclaimed;
};

struct PortSlot {
  std::unique_ptr<nic::Port> port;
  uint16_t ntx = 0;
  bool shared_tx = false;  // fewer TX queues than workers: lock per queue
  std::vector<std::unique_ptr<lockprof::SpinLock>> tx_locks;
};

struct Pipeline::Core {
  explicit Core(PipelineOptions o) : options(std::move(o)) {}

  // Member order is destruction order reversed: pools last, then the ports,
  // then what polls or stages for them.
  const PipelineOptions options;
  int nws = 0;
  uint64_t flush_ns = 0;
  const sched::FastClock* clock = nullptr;
  std::vector<std::unique_ptr<PacketPool>> pools;  // AdoptPool's
  std::unique_ptr<PacketPool> frame_pool;          // AllocFrame's
  std::vector<PortSlot> ports;
  std::unique_ptr<proto::EarlyFilter> filter;
  std::vector<std::unique_ptr<RxSource>> rx_sources;
  std::vector<std::unique_ptr<IngressSource>> ticks;
  // [port * nws + worker], allocated at Start; immutable after.
  std::vector<std::unique_ptr<TxStage>> stages;
  std::vector<std::unique_ptr<WorkerState>> workers;
  // Sends from threads that are no worker (several writers: AddShared).
  base::Counter tx_off_worker;
  base::Counter local_unclaimed_off_worker;
  // Guards the structure of ports, rx_sources and stages against Stats()
  // while the control thread adds ports or starts; the workers never take
  // it (the structure is fixed before they run).
  mutable std::mutex config_mu;
  // Written by the control thread only; read by started() from any thread
  // (relaxed: a hint, it orders nothing).
  std::atomic<State> state{State::kCreated};

  TxStage& stage(size_t port, int ws) { return *stages[port * nws + static_cast<size_t>(ws)]; }

  void SendStage(size_t port, int ws);
  void FlushWorker(int ws) {
    for (size_t p = 0; p < ports.size(); ++p) SendStage(p, ws);
  }
  // The end of a burst the hook or deliver ran for: flush unless an RX poll
  // of this worker is under way (its end flushes).
  void AfterBurst() {
    const int ws = Netisr::CurrentWorkstream();
    if (ws >= 0 && ws < nws && !workers[ws]->in_rx_poll) FlushWorker(ws);
  }
  void Deliver(proto::Layer layer, Burst burst);
  size_t Tick(int ws);
  bool WorkerDone(int ws) const;
};

// One RX queue's source: nic's RxQueueSource, then the flush at the end of
// the poll.
class RxSource final : public IngressSource {
 public:
  RxSource(Pipeline::Core& core, nic::Port& port, uint16_t index, uint16_t queue, int worker,
           nic::RxProtocols protos, nic::RxFilter* filter)
      : core_(core),
        inner_(port, queue, protos, filter),
        port_(port),
        index_(index),
        queue_(queue),
        worker_(worker) {}

  size_t Poll(Netisr& nisr, size_t budget) override {
    WorkerState& w = *core_.workers[worker_];
    w.in_rx_poll = true;
    const size_t got = inner_.Poll(nisr, budget);
    w.in_rx_poll = false;
    received_.Add(got);
    core_.FlushWorker(worker_);
    return got;
  }
  bool Exhausted() const override { return inner_.Exhausted(); }

  RxQueueStats Stats() const { return {queue_, worker_, received_.Get(), port_.RxDropped(queue_)}; }
  uint16_t index() const { return index_; }

 private:
  Pipeline::Core& core_;
  nic::RxQueueSource inner_;
  nic::Port& port_;
  const uint16_t index_, queue_;
  const int worker_;
  base::Counter received_;  // written by the polling worker
};

namespace {

// Per worker, after its RX sources: the application's on_poll, then the
// flush of stages older than tx_flush_us.
class TickSource final : public IngressSource {
 public:
  TickSource(Pipeline::Core& core, int worker) : core_(core), worker_(worker) {}
  size_t Poll(Netisr&, size_t) override { return core_.Tick(worker_); }
  bool Exhausted() const override { return core_.WorkerDone(worker_); }

 private:
  Pipeline::Core& core_;
  const int worker_;
};

}  // namespace

void Pipeline::Core::SendStage(size_t port, int ws) {
  TxStage& s = stage(port, ws);
  if (s.n == 0) return;
  PortSlot& ps = ports[port];
  const auto q = static_cast<uint16_t>(ws % ps.ntx);  // ntx > 0: Send checked
  const std::span<Packet* const> pkts(s.pkts.data(), s.n);
  size_t sent;
  if (ps.shared_tx) {
    lockprof::MutexLock lock(*ps.tx_locks[q]);
    sent = ps.port->TxBurst(q, pkts);
  } else {
    sent = ps.port->TxBurst(q, pkts);
  }
  // The port owns pkts[0, sent); the rest are still ours (nic/port.h).
  for (size_t i = sent; i < s.n; ++i) Release(s.pkts[i]);
  s.sent.Add(sent);
  if (sent < s.n) s.full.Add(s.n - sent);
  s.n = 0;
}

void Pipeline::Core::Deliver(proto::Layer layer, Burst burst) {
  if (options.deliver) {
    options.deliver(layer, burst);
  } else {
    for (Packet* p : burst) Release(p);
    const int ws = Netisr::CurrentWorkstream();
    if (ws >= 0 && ws < nws) {
      workers[ws]->local_unclaimed.Add(burst.size());
    } else {
      local_unclaimed_off_worker.AddShared(burst.size());
    }
  }
  AfterBurst();
}

size_t Pipeline::Core::Tick(int ws) {
  const size_t did = options.on_poll ? options.on_poll(ws) : 0;
  uint64_t now = 0;
  for (size_t p = 0; p < ports.size(); ++p) {
    TxStage& s = stage(p, ws);
    if (s.n == 0) continue;
    if (flush_ns != 0 && now == 0) now = clock->NowNs();
    if (flush_ns == 0 || now - s.first_ns >= flush_ns) SendStage(p, ws);
  }
  return did;
}

bool Pipeline::Core::WorkerDone(int ws) const {
  // Only once nothing more can come to this worker's own queues from its
  // RX sources, and nothing is staged: netisr never polls a worker's
  // sources again once all of them said so. Frames staged later (by a
  // drained burst, flushed at its end; or by the application's protocols)
  // are flushed at Stop at the latest. A live NIC is never exhausted.
  if (options.on_poll) return false;
  for (const RxSource* src : workers[ws]->rx) {
    if (!src->Exhausted()) return false;
  }
  for (size_t p = 0; p < ports.size(); ++p) {
    if (stages[p * nws + static_cast<size_t>(ws)]->n != 0) return false;
  }
  return true;
}

Result<std::unique_ptr<Pipeline>> Pipeline::Create(PipelineOptions options) {
  if (options.tx_burst < 1 || options.tx_burst > kMaxTxBurst)
    return OutOfRange("tx_burst", options.tx_burst, 1, kMaxTxBurst);
  if (options.tx_flush_us > kMaxFlushUs)
    return OutOfRange("tx_flush_us", options.tx_flush_us, 0, kMaxFlushUs);
  if (options.frame_pool_packets < kMinFramePool || options.frame_pool_packets > kMaxFramePool)
    return OutOfRange("frame_pool_packets", options.frame_pool_packets, kMinFramePool,
                      kMaxFramePool);
  if (options.frame_buf_bytes < kMinFrameBuf || options.frame_buf_bytes > kMaxFrameBuf)
    return OutOfRange("frame_buf_bytes", options.frame_buf_bytes, kMinFrameBuf, kMaxFrameBuf);
  auto model = MakeWorkModel(options.model);
  if (!model.ok()) return model.status();
  auto nisr = Netisr::Create(options.netisr, std::move(*model));
  if (!nisr.ok()) return nisr.status();

  auto core = std::make_shared<Core>(std::move(options));
  Core& c = *core;
  c.nws = (*nisr)->num_workstreams();
  c.flush_ns = uint64_t{c.options.tx_flush_us} * 1000;
  c.clock = &sched::FastClock::Global();  // calibrated here, not on a worker
  for (int w = 0; w < c.nws; ++w) c.workers.push_back(std::make_unique<WorkerState>());
  auto pool = PacketPool::Create(c.options.frame_pool_packets, c.options.frame_buf_bytes,
                                 c.options.frame_pool_packets >= 1024 ? 256 : 0);
  if (!pool.ok()) return pool.status();
  c.frame_pool = std::move(*pool);

  std::unique_ptr<Pipeline> p(new Pipeline(core, std::move(*nisr)));
  proto::StackOptions so;
  Core* raw = core.get();  // outlives the Netisr: see the member order
  so.deliver = [raw](proto::Layer layer, Burst burst) { raw->Deliver(layer, burst); };
  if (c.options.ip_hook) {
    so.ip_hook = [raw](proto::Layer l3, std::span<Packet* const> pkts, proto::IpVerdict* v) {
      raw->options.ip_hook(l3, pkts, v);
      raw->AfterBurst();
    };
  }
  so.dispatch = c.options.dispatch;
  so.stage_burst = c.options.stage_burst;
  so.qlimit = c.options.qlimit;
  so.fused_ipv4 = c.options.fused_ipv4;
  so.ip_hook_drops = c.options.ip_hook_drops;
  auto stack = proto::ProtocolStack::Register(*p->nisr_, std::move(so));
  if (!stack.ok()) return stack.status();
  p->stack_ = std::move(*stack);
  return p;
}

Pipeline::Pipeline(std::shared_ptr<Core> core, std::unique_ptr<Netisr> nisr)
    : core_(std::move(core)), nisr_(std::move(nisr)) {}

Pipeline::~Pipeline() {
  Stop();
  // Then, by member order: the Netisr, the stack, Core (sources, ports,
  // pools).
  nisr_.reset();
  stack_.reset();
}

Result<uint16_t> Pipeline::AddPort(std::unique_ptr<nic::Port> port) {
  Core& c = *core_;
  if (port == nullptr) return Status(ErrorCode::kInvalidArgument, "pipeline: AddPort(nullptr)");
  if (c.state.load(std::memory_order_relaxed) != State::kCreated)
    return Status(ErrorCode::kFailedPrecondition,
                  "pipeline: AddPort(" + std::string(port->name()) + ") after Start");
  if (c.ports.size() >= kMaxPorts)
    return Status(ErrorCode::kResourceExhausted, "pipeline: more than 1024 ports");
  for (const PortSlot& ps : c.ports) {
    if (ps.port->port_id() == port->port_id())
      return Status(ErrorCode::kAlreadyExists,
                    "pipeline: port " + std::string(port->name()) + " has port_id " +
                        std::to_string(port->port_id()) + ", already that of " +
                        std::string(ps.port->name()) + " (their RX queues' source ids collide)");
  }
  PortSlot ps;
  ps.ntx = port->num_tx_queues();
  ps.shared_tx = ps.ntx < c.nws;
  for (uint16_t q = 0; q < ps.ntx; ++q)
    ps.tx_locks.push_back(std::make_unique<lockprof::SpinLock>(kTxQueueLock));
  ps.port = std::move(port);
  std::lock_guard<std::mutex> lock(c.config_mu);
  c.ports.push_back(std::move(ps));
  return static_cast<uint16_t>(c.ports.size() - 1);
}

Result<uint16_t> Pipeline::AddDpdkPort(const nic::DpdkConfig& config) {
  if (core_->state.load(std::memory_order_relaxed) != State::kCreated)
    return Status(ErrorCode::kFailedPrecondition, "pipeline: AddDpdkPort after Start");
  auto port = nic::DpdkPort::Create(config);
  if (!port.ok()) return port.status();
  return AddPort(std::move(*port));
}

Status Pipeline::AdoptPool(std::unique_ptr<PacketPool> pool) {
  if (pool == nullptr) return Status(ErrorCode::kInvalidArgument, "pipeline: AdoptPool(nullptr)");
  if (core_->state.load(std::memory_order_relaxed) != State::kCreated)
    return Status(ErrorCode::kFailedPrecondition, "pipeline: AdoptPool after Start");
  core_->pools.push_back(std::move(pool));
  return Status::Ok();
}

Status Pipeline::SetFilter(std::unique_ptr<proto::EarlyFilter> filter) {
  if (core_->state.load(std::memory_order_relaxed) != State::kCreated)
    return Status(ErrorCode::kFailedPrecondition, "pipeline: SetFilter after Start");
  std::lock_guard<std::mutex> lock(core_->config_mu);  // Stats() reads it
  core_->filter = std::move(filter);
  return Status::Ok();
}

Status Pipeline::Start() {
  Core& c = *core_;
  switch (c.state.load(std::memory_order_relaxed)) {
    case State::kStarted:
      return Status(ErrorCode::kFailedPrecondition, "pipeline: Start called twice");
    case State::kStopped:
      return Status(ErrorCode::kFailedPrecondition, "pipeline: Start after Stop");
    case State::kCreated:
      break;
  }
  if (c.ports.empty())
    return Status(ErrorCode::kFailedPrecondition, "pipeline: Start with no port");
  // From here a failure leaves sources half attached: the pipeline is
  // stopped (a second Start would attach them twice), destroyable as ever.
  Status st = Attach();
  if (st.ok()) st = nisr_->Start();
  if (!st.ok()) {
    nisr_->Stop();
    c.state.store(State::kStopped, std::memory_order_relaxed);
    return st;
  }
  c.state.store(State::kStarted, std::memory_order_relaxed);
  return Status::Ok();
}

Status Pipeline::Attach() {
  Core& c = *core_;
  {
    std::lock_guard<std::mutex> lock(c.config_mu);
    c.stages.clear();
    for (size_t i = 0; i < c.ports.size() * static_cast<size_t>(c.nws); ++i)
      c.stages.push_back(std::make_unique<TxStage>());
    // Ethernet frames enter at ether; an IP port's packets at ip / ip6.
    const nic::RxProtocols entry{stack_->ether(), stack_->id(proto::Layer::kIp),
                                 stack_->id(proto::Layer::kIp6)};
    for (size_t i = 0; i < c.ports.size(); ++i) {
      nic::Port& port = *c.ports[i].port;
      for (uint16_t q = 0; q < port.num_rx_queues(); ++q) {
        const int w = WorkerOfRxQueue(*nisr_, port.port_id(), q);
        c.rx_sources.push_back(std::make_unique<RxSource>(c, port, static_cast<uint16_t>(i), q, w,
                                                          entry, c.filter.get()));
        c.workers[w]->rx.push_back(c.rx_sources.back().get());
        if (Status st = nisr_->AttachSource(w, c.rx_sources.back().get()); !st.ok()) return st;
      }
    }
    // After the RX sources: each round's tick sees what the polls left.
    for (int w = 0; w < c.nws; ++w) {
      c.ticks.push_back(std::make_unique<TickSource>(c, w));
      if (Status st = nisr_->AttachSource(w, c.ticks.back().get()); !st.ok()) return st;
    }
  }
  return Status::Ok();
}

void Pipeline::Stop() {
  Core& c = *core_;
  if (c.state.load(std::memory_order_relaxed) != State::kStarted) {
    // Never started: nothing runs, nothing is staged. Still close netisr
    // (its sources must not outlive us in a started state).
    if (c.state.load(std::memory_order_relaxed) == State::kCreated) {
      nisr_->Stop();
      c.state.store(State::kStopped, std::memory_order_relaxed);
    }
    return;
  }
  nisr_->Stop();
  // No worker runs now: this thread may act for each of them.
  for (int w = 0; w < c.nws; ++w) c.FlushWorker(w);
  c.state.store(State::kStopped, std::memory_order_relaxed);
}

void Pipeline::Send(uint16_t port, Packet* frame) { SendBurst(port, {&frame, 1}); }

void Pipeline::SendBurst(uint16_t port, std::span<Packet* const> frames) {
  Core& c = *core_;
  const uint64_t n = frames.size();
  const int ws = Netisr::CurrentWorkstream();
  if (ws < 0 || ws >= c.nws || c.stages.empty()) {
    ReleaseBulk(frames);
    c.tx_off_worker.AddShared(n);
    return;
  }
  if (port >= c.ports.size()) {
    ReleaseBulk(frames);
    c.workers[ws]->tx_bad_port.Add(n);
    return;
  }
  TxStage& s = c.stage(port, ws);
  if (c.ports[port].ntx == 0) {
    ReleaseBulk(frames);
    s.no_queue.Add(n);
    return;
  }
  // Copied in runs up to the stage's room: a frame at a time, each store
  // into pkts (a Packet*) made the compiler load n and tx_burst again.
  const uint32_t burst = c.options.tx_burst;
  while (!frames.empty()) {
    if (s.n == 0) s.first_ns = c.clock->NowNs();
    const size_t k = std::min<size_t>(frames.size(), burst - s.n);
    std::copy_n(frames.begin(), k, s.pkts.begin() + s.n);
    s.n += static_cast<uint32_t>(k);
    frames = frames.subspan(k);
    if (s.n >= burst) c.SendStage(port, ws);
  }
}

Packet* Pipeline::AllocFrame() { return core_->frame_pool->Alloc(); }

void Pipeline::FlushTx() {
  const int ws = Netisr::CurrentWorkstream();
  if (ws >= 0 && ws < core_->nws && !core_->stages.empty()) core_->FlushWorker(ws);
}

PipelineStats Pipeline::Stats() const {
  const Core& c = *core_;
  PipelineStats s;
  uint64_t full = 0, no_queue = 0, bad_port = 0, unclaimed = 0;
  std::map<std::string, uint64_t> filter_drops;
  {
    std::lock_guard<std::mutex> lock(c.config_mu);
    if (c.filter) filter_drops = c.filter->DropSnapshot();  // SetFilter writes it under config_mu
    for (size_t i = 0; i < c.ports.size(); ++i) {
      const nic::Port& port = *c.ports[i].port;
      PortCounters pc;
      pc.index = static_cast<uint16_t>(i);
      pc.port_id = port.port_id();
      pc.name = std::string(port.name());
      pc.port = port.Stats();
      if (!c.stages.empty()) {
        for (int w = 0; w < c.nws; ++w) {
          const TxStage& st = *c.stages[i * c.nws + static_cast<size_t>(w)];
          pc.tx_sent += st.sent.Get();
          pc.tx_full += st.full.Get();
          no_queue += st.no_queue.Get();
        }
      }
      for (const auto& src : c.rx_sources) {
        if (src->index() == i) pc.rx_queues.push_back(src->Stats());
      }
      for (size_t d = 0; d < pc.port.rx_drops.size(); ++d) {
        if (pc.port.rx_drops[d] == 0) continue;
        s.drops[std::string("rx_") + nic::ToString(static_cast<nic::RxDrop>(d))] +=
            pc.port.rx_drops[d];
      }
      s.rx_packets += pc.port.rx_packets;
      s.tx_packets += pc.tx_sent;
      full += pc.tx_full;
      s.ports.push_back(std::move(pc));
    }
  }
  for (const auto& w : c.workers) {
    bad_port += w->tx_bad_port.Get();
    unclaimed += w->local_unclaimed.Get();
  }
  unclaimed += c.local_unclaimed_off_worker.Get();
  s.netisr = nisr_->GetStats();
  auto add = [&s](const std::map<std::string, uint64_t>& from) {
    for (const auto& [reason, n] : from)
      if (n != 0) s.drops[reason] += n;
  };
  add(s.netisr.drops);
  add(stack_->DropSnapshot());
  add(filter_drops);
  add({{"tx_full", full},
       {"tx_no_queue", no_queue},
       {"tx_bad_port", bad_port},
       {"tx_off_worker", c.tx_off_worker.Get()},
       {"local_unclaimed", unclaimed}});
  return s;
}

size_t Pipeline::num_ports() const {
  std::lock_guard<std::mutex> lock(core_->config_mu);
  return core_->ports.size();
}

nic::Port& Pipeline::port(uint16_t index) { return *core_->ports.at(index).port; }

int Pipeline::workers() const { return core_->nws; }

bool Pipeline::started() const {
  return core_->state.load(std::memory_order_relaxed) == State::kStarted;
}

}  // namespace netisr::pipeline
