// Pipeline through its header: RX queue placement by the source policy,
// the TX flush rules (end of the RX poll in direct dispatch, end of each
// drained burst in deferred, a full stage, the timer, Stop), conservation
// (every frame in is sent on, delivered or counted; every buffer back),
// shared TX queues, the teardown misuse errors, and the hook with the fused
// and the layered chain.
#include "pipeline/pipeline.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "proto/frame_builder.h"
#include "proto/wire.h"
#include "tests/pipeline/scripted_port.h"

namespace netisr::pipeline {
namespace {

using testing::ScriptedPort;

constexpr uint32_t kPool = 1024;

// IPv4 UDP to 10.9.0.x: transit (the test hook forwards it); to 10.0.0.2:
// local.
std::vector<uint8_t> Transit4(uint8_t host, bool bad_udp_checksum = false) {
  proto::FrameSpec s;
  s.dst4 = {10, 9, 0, host};
  s.src_port = static_cast<uint16_t>(1000 + host);
  s.payload = 20;
  std::vector<uint8_t> f = proto::BuildFrame(s);
  if (bad_udp_checksum) f[proto::OffsetsOf(s).l4 + 6] ^= 0x33;
  return f;
}
std::vector<uint8_t> Transit6(uint8_t host) {
  proto::FrameSpec s;
  s.ipv6 = true;
  s.dst6[1] = 0x99;  // not the default 2001:db8::2
  s.dst6[15] = host;
  s.payload = 20;
  return proto::BuildFrame(s);
}
std::vector<uint8_t> Local4() {
  proto::FrameSpec s;
  s.l4 = proto::FrameSpec::L4::kTcp;
  s.payload = 10;
  return proto::BuildFrame(s);
}
std::vector<uint8_t> Garbage() { return std::vector<uint8_t>(60, 0xee); }  // unknown_ethertype

std::vector<std::vector<uint8_t>> Many(size_t n, bool v6 = false) {
  std::vector<std::vector<uint8_t>> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back(v6 ? Transit6(static_cast<uint8_t>(i)) : Transit4(static_cast<uint8_t>(i)));
  return out;
}

bool IsTransit(const Packet& p, proto::Layer l3) {
  const proto::Layout l = proto::GetLayout(p);
  const uint8_t* ip = p.data + l.l3_off;
  return l3 == proto::Layer::kIp ? ip[proto::wire::kIpv4DstOffset + 1] == 9
                                 : ip[proto::wire::kIpv6DstOffset + 1] == 0x99;
}

// A pipeline over ScriptedPorts whose hook sends transit frames out of the
// other port of a pair (0 <-> 1) and counts what it forwarded.
struct Rig {
  Rig(PipelineOptions o, int ports = 2, uint16_t rx_queues = 1, uint16_t tx_queues = 1,
      size_t tx_accept = SIZE_MAX) {
    pool = std::move(PacketPool::Create(kPool, 2048)).value();
    if (!o.ip_hook) {
      o.ip_hook = [this](proto::Layer l3, std::span<Packet* const> pkts, proto::IpVerdict* v) {
        for (size_t i = 0; i < pkts.size(); ++i) {
          if (!IsTransit(*pkts[i], l3)) continue;
          v[i] = proto::IpVerdict::kTaken;
          const uint16_t in = static_cast<uint16_t>(pkts[i]->source / nic::kMaxQueuesPerPort);
          forwarded.fetch_add(1, std::memory_order_relaxed);
          // Not pipe->: the hook may run inside ~Pipeline (Stop's drain),
          // when the unique_ptr already reads null.
          raw->Send(static_cast<uint16_t>(in ^ 1), pkts[i]);
        }
      };
    }
    if (!o.deliver) {
      o.deliver = [this](proto::Layer, Burst b) {
        delivered.fetch_add(b.size(), std::memory_order_relaxed);
        for (Packet* p : b) Release(p);
      };
    }
    auto p = Pipeline::Create(std::move(o));
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    pipe = std::move(*p);
    raw = pipe.get();
    for (int i = 0; i < ports; ++i) {
      auto port = std::make_unique<ScriptedPort>(static_cast<uint16_t>(i), rx_queues, tx_queues,
                                                 pool.get(), tx_accept);
      this->ports.push_back(port.get());
      auto idx = pipe->AddPort(std::move(port));
      EXPECT_TRUE(idx.ok()) << idx.status().ToString();
      EXPECT_EQ(*idx, i);
    }
  }
  // The pipeline first: it sends into the ports' pool until it stops.
  ~Rig() { pipe.reset(); }

  void RunToIdle() {
    ASSERT_TRUE(pipe->Start().ok());
    pipe->netisr().RunUntilIdle();
    pipe->Stop();
  }

  // in = sent on + delivered + counted drops; every buffer back.
  void ExpectConservation() {
    const PipelineStats s = pipe->Stats();
    uint64_t drops = 0;
    for (const auto& [reason, n] : s.drops) drops += n;
    EXPECT_EQ(s.rx_packets, s.tx_packets + delivered.load() + drops);
    EXPECT_EQ(pool->available(), kPool);
    Packet* f = pipe->AllocFrame();  // the frame pool works
    EXPECT_NE(f, nullptr);
    if (f != nullptr) Release(f);
  }

  std::unique_ptr<PacketPool> pool;
  std::vector<ScriptedPort*> ports;
  std::unique_ptr<Pipeline> pipe;
  Pipeline* raw = nullptr;
  std::atomic<uint64_t> forwarded{0}, delivered{0};
};

PipelineOptions Inline(DispatchMode mode) {
  PipelineOptions o;
  o.model = "inline";
  o.netisr.max_threads = 1;
  o.netisr.bind_threads = false;
  o.dispatch = mode;
  return o;
}

TEST(Placement, WorkerOfSourceIsNetisrsSourcePolicy) {
  Settings s;
  s.max_threads = 3;
  s.bind_threads = false;
  auto nisr = std::move(Netisr::Create(s, std::move(MakeWorkModel("inline")).value())).value();
  std::vector<std::pair<uint16_t, int>> seen;  // (source, worker that ran it)
  ProtocolSpec spec;
  spec.name = "src";
  spec.policy = Policy::kSource;
  spec.dispatch = DispatchMode::kDeferred;
  spec.handler = [&seen](Burst b) {
    for (Packet* p : b) {
      seen.emplace_back(p->source, Netisr::CurrentWorkstream());
      Release(p);
    }
  };
  const ProtocolId id = std::move(nisr->Register(spec)).value();
  ASSERT_TRUE(nisr->Start().ok());
  auto pool = std::move(PacketPool::Create(256, 64)).value();
  {
    Netisr::ProducerScope scope(*nisr);
    for (uint16_t port : {0, 1, 5}) {
      for (uint16_t q : {0, 1, 2, 3, 7}) {
        Packet* p = pool->Alloc();
        p->len = 1;
        nisr->QueueSrc(nic::SourceId(port, q), id, p);
      }
    }
  }
  nisr->RunUntilIdle();
  nisr->Stop();
  ASSERT_EQ(seen.size(), 15u);
  for (const auto& [source, worker] : seen) {
    EXPECT_EQ(worker, WorkerOfSource(source, 3)) << "source " << source;
    EXPECT_EQ(worker, WorkerOfRxQueue(*nisr, source / nic::kMaxQueuesPerPort,
                                      source % nic::kMaxQueuesPerPort));
  }
}

TEST(Placement, EachRxQueueIsPolledByTheWorkerTheSourcePolicyNames) {
  PipelineOptions o;
  o.model = "threads";
  o.netisr.max_threads = 3;
  o.netisr.bind_threads = false;
  Rig rig(std::move(o), /*ports=*/2, /*rx_queues=*/4);
  for (ScriptedPort* port : rig.ports)
    for (uint16_t q = 0; q < 4; ++q) port->AddFrames(q, Many(40));
  rig.RunToIdle();
  const PipelineStats s = rig.pipe->Stats();
  for (ScriptedPort* port : rig.ports) {
    for (uint16_t q = 0; q < 4; ++q) {
      const int want = WorkerOfRxQueue(rig.pipe->netisr(), port->port_id(), q);
      EXPECT_EQ(port->rx_poller(q), want) << port->name() << " queue " << q;
      EXPECT_FALSE(port->rx_mixed(q));
      EXPECT_EQ(s.ports[port->port_id()].rx_queues[q].worker, want);
      EXPECT_EQ(s.ports[port->port_id()].rx_queues[q].received, 40u);
    }
  }
  // 3 workers, 4 queues per port: the policy does not put them all on one.
  EXPECT_NE(rig.ports[0]->rx_poller(0), rig.ports[0]->rx_poller(1));
  rig.ExpectConservation();
}

TEST(TxFlush, DirectDispatchSendsOnceAtTheEndOfTheRxPoll) {
  PipelineOptions o = Inline(DispatchMode::kDirect);
  o.stage_burst = 4;  // the hook runs 3 times for 10 frames
  o.tx_flush_us = 10000;
  Rig rig(std::move(o));
  rig.ports[0]->AddFrames(0, Many(10));
  rig.RunToIdle();
  EXPECT_EQ(rig.forwarded.load(), 10u);
  EXPECT_EQ(rig.ports[1]->tx_bursts(0), std::vector<size_t>{10});
  rig.ExpectConservation();
}

TEST(TxFlush, AFullStageIsSentAtOnce) {
  PipelineOptions o = Inline(DispatchMode::kDirect);
  o.tx_burst = 4;
  Rig rig(std::move(o));
  rig.ports[0]->AddFrames(0, Many(10));
  rig.RunToIdle();
  EXPECT_EQ(rig.ports[1]->tx_bursts(0), (std::vector<size_t>{4, 4, 2}));
  rig.ExpectConservation();
}

// SendBurst: a hook that sends its stage's transit frames in one call
// gets the same TX bursts and order as one Send each, and off a worker the
// frames are released and counted, as Send's are.
TEST(TxFlush, SendBurstStagesLikeSendsInOrder) {
  PipelineOptions o = Inline(DispatchMode::kDirect);
  o.tx_burst = 4;
  Pipeline* raw = nullptr;
  o.ip_hook = [&raw](proto::Layer l3, std::span<Packet* const> pkts, proto::IpVerdict* v) {
    std::vector<Packet*> out;
    for (size_t i = 0; i < pkts.size(); ++i) {
      if (!IsTransit(*pkts[i], l3)) continue;
      v[i] = proto::IpVerdict::kTaken;
      out.push_back(pkts[i]);
    }
    raw->SendBurst(1, out);
  };
  Rig rig(std::move(o));
  raw = rig.raw;
  const auto frames = Many(10);
  rig.ports[0]->AddFrames(0, frames);
  rig.RunToIdle();
  EXPECT_EQ(rig.ports[1]->tx_bursts(0), (std::vector<size_t>{4, 4, 2}));
  EXPECT_EQ(rig.ports[1]->tx_frames(0), frames);
  const PipelineStats st = rig.pipe->Stats();
  EXPECT_EQ(st.rx_packets, st.tx_packets);
  EXPECT_EQ(rig.pool->available(), kPool);

  Packet* f[2] = {rig.pipe->AllocFrame(), rig.pipe->AllocFrame()};
  ASSERT_NE(f[0], nullptr);
  ASSERT_NE(f[1], nullptr);
  rig.pipe->SendBurst(0, f);  // from this (control) thread
  EXPECT_EQ(rig.pipe->Stats().drops.at("tx_off_worker"), 2u);
}

// The hook's third answer: drop, with a reason of its own, which the
// pipeline's statistics show beside the stack's; the frames come back to
// the pool.
TEST(TxFlush, AHookDropIsCountedUnderTheHooksReason) {
  PipelineOptions o = Inline(DispatchMode::kDirect);
  o.ip_hook_drops = {"policy_denied"};
  o.ip_hook = [](proto::Layer l3, std::span<Packet* const> pkts, proto::IpVerdict* v) {
    for (size_t i = 0; i < pkts.size(); ++i) {
      if (IsTransit(*pkts[i], l3)) v[i] = proto::IpDrop(0);
    }
  };
  Rig rig(std::move(o));
  rig.ports[0]->AddFrames(0, Many(10));
  rig.RunToIdle();
  const PipelineStats st = rig.pipe->Stats();
  EXPECT_EQ(st.drops.at("policy_denied"), 10u);
  EXPECT_EQ(st.tx_packets, 0u);
  EXPECT_EQ(rig.pool->available(), kPool);
}

TEST(TxFlush, DeferredDispatchSendsAtTheEndOfEachDrainedBurst) {
  PipelineOptions o = Inline(DispatchMode::kDeferred);
  o.tx_flush_us = 10000;
  o.netisr.burst = 8;  // the RX poll and each drained burst: 8 frames
  Rig rig(std::move(o));
  rig.ports[0]->AddFrames(0, Many(20));
  ASSERT_TRUE(rig.pipe->Start().ok());
  // One round = poll 8 (queued), drain them (the hook stages 8): sent by
  // the round's end, not by the next round's poll, nor the timer.
  for (int round = 0; round < 4; ++round) {
    rig.pipe->netisr().Step();
    EXPECT_EQ(rig.ports[1]->tx_sent(), rig.forwarded.load()) << "round " << round;
  }
  EXPECT_EQ(rig.forwarded.load(), 20u);
  rig.pipe->Stop();
  EXPECT_EQ(rig.ports[1]->tx_bursts(0), (std::vector<size_t>{8, 8, 4}));
  rig.ExpectConservation();
}

// Frames staged outside a pipeline burst (here by on_poll) go when the
// oldest has waited tx_flush_us, never before, and at Stop at the latest.
TEST(TxFlush, TheTimerBoundsFramesStagedOutsideABurst) {
  PipelineOptions o = Inline(DispatchMode::kDirect);
  o.tx_flush_us = 2000;
  Pipeline* pipe = nullptr;
  std::atomic<int> calls{0};
  std::chrono::steady_clock::time_point staged;
  o.on_poll = [&](int) -> size_t {
    if (calls.fetch_add(1) == 0) {
      Packet* f = pipe->AllocFrame();
      const auto frame = Transit4(1);
      std::memcpy(f->data, frame.data(), frame.size());
      f->len = static_cast<uint32_t>(frame.size());
      staged = std::chrono::steady_clock::now();
      pipe->Send(1, f);
    }
    return 0;
  };
  Rig rig(std::move(o));
  pipe = rig.pipe.get();
  ASSERT_TRUE(pipe->Start().ok());
  bool sent = false;
  for (int i = 0; i < 100000 && !sent; ++i) {
    pipe->netisr().Step();
    sent = rig.ports[1]->Stats().tx_packets == 1;
    if (sent) {
      // 1.8 ms: FastClock's TSC calibration against steady_clock's.
      EXPECT_GE(std::chrono::steady_clock::now() - staged, std::chrono::microseconds(1800));
    } else if (i % 100 == 99) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  EXPECT_TRUE(sent);
  pipe->Stop();
  EXPECT_EQ(rig.ports[1]->tx_bursts(0), std::vector<size_t>{1});
}

TEST(TxFlush, StopFlushesWhatIsStaged) {
  PipelineOptions o = Inline(DispatchMode::kDirect);
  o.tx_flush_us = 10000;
  Pipeline* pipe = nullptr;
  bool once = false;
  o.on_poll = [&](int) -> size_t {
    if (!once) {
      once = true;
      Packet* f = pipe->AllocFrame();
      f->len = 60;
      std::memset(f->data, 0, 60);
      pipe->Send(0, f);
    }
    return 0;
  };
  Rig rig(std::move(o));
  pipe = rig.pipe.get();
  ASSERT_TRUE(pipe->Start().ok());
  pipe->netisr().Step();
  pipe->Stop();
  EXPECT_EQ(rig.ports[0]->Stats().tx_packets, 1u);
}

// Threads model, two workers, two ports of two RX queues; transit (v4, v6,
// a bad UDP checksum, which transit is not checked for), local, garbage;
// TX rings that accept 3 frames a burst: the rest is tx_full.
TEST(Conservation, EveryFrameIsSentDeliveredOrCountedAndEveryBufferComesBack) {
  for (DispatchMode mode :
       {DispatchMode::kDirect, DispatchMode::kDeferred, DispatchMode::kHybrid}) {
    PipelineOptions o;
    o.model = "threads";
    o.netisr.max_threads = 2;
    o.netisr.bind_threads = false;
    o.dispatch = mode;
    Rig rig(std::move(o), 2, /*rx_queues=*/2, /*tx_queues=*/2, /*tx_accept=*/3);
    for (ScriptedPort* port : rig.ports) {
      for (uint16_t q = 0; q < 2; ++q) {
        auto frames = Many(100);
        auto v6 = Many(50, true);
        frames.insert(frames.end(), v6.begin(), v6.end());
        for (int i = 0; i < 20; ++i) {
          frames.push_back(Local4());
          frames.push_back(Garbage());
          frames.push_back(Transit4(static_cast<uint8_t>(i), /*bad_udp_checksum=*/true));
        }
        port->AddFrames(q, frames);
      }
    }
    rig.RunToIdle();
    const PipelineStats s = rig.pipe->Stats();
    EXPECT_EQ(s.rx_packets, 4u * 210);
    EXPECT_EQ(rig.forwarded.load(), 4u * 170);
    EXPECT_EQ(rig.delivered.load(), 4u * 20);
    EXPECT_EQ(s.drops.at("unknown_ethertype"), 4u * 20);
    EXPECT_EQ(s.drops.count("bad_udp_checksum"), 0u);
    EXPECT_GT(s.drops.at("tx_full"), 0u);
    EXPECT_EQ(s.drops.at("tx_full"), s.ports[0].tx_full + s.ports[1].tx_full);
    EXPECT_EQ(s.tx_packets + s.drops.at("tx_full"), rig.forwarded.load());
    EXPECT_EQ(s.ports[0].port.tx_packets, s.ports[0].tx_sent);
    rig.ExpectConservation();
  }
}

// One TX queue per port, two workers: both send on it, under the lock
// (ThreadSanitizer checks ScriptedPort's unlocked TX state).
TEST(SharedTxQueue, FewerTxQueuesThanWorkersShareUnderALock) {
  PipelineOptions o;
  o.model = "threads";
  o.netisr.max_threads = 2;
  o.netisr.bind_threads = false;
  Rig rig(std::move(o), 2, /*rx_queues=*/2, /*tx_queues=*/1);
  for (ScriptedPort* port : rig.ports)
    for (uint16_t q = 0; q < 2; ++q) port->AddFrames(q, Many(200));
  rig.RunToIdle();
  EXPECT_EQ(rig.pipe->Stats().tx_packets, 800u);
  rig.ExpectConservation();
}

TEST(Misuse, ErrorsNotUndefinedBehaviour) {
  {
    PipelineOptions o = Inline(DispatchMode::kDirect);
    o.tx_burst = 0;
    EXPECT_EQ(Pipeline::Create(std::move(o)).status().code(), ErrorCode::kInvalidArgument);
  }
  {
    PipelineOptions o = Inline(DispatchMode::kDirect);
    o.tx_flush_us = 10001;
    EXPECT_EQ(Pipeline::Create(std::move(o)).status().code(), ErrorCode::kInvalidArgument);
  }
  {
    PipelineOptions o = Inline(DispatchMode::kDirect);
    o.model = "nope";
    EXPECT_EQ(Pipeline::Create(std::move(o)).status().code(), ErrorCode::kNotFound);
  }
  {
    auto p = std::move(Pipeline::Create(Inline(DispatchMode::kDirect))).value();
    EXPECT_EQ(p->Start().code(), ErrorCode::kFailedPrecondition);  // no port
  }
  Rig rig(Inline(DispatchMode::kDirect));
  auto pool = std::move(PacketPool::Create(16, 128)).value();
  EXPECT_EQ(rig.pipe->AddPort(std::make_unique<ScriptedPort>(1, 1, 1, pool.get())).status().code(),
            ErrorCode::kAlreadyExists);  // port_id 1 twice
  EXPECT_EQ(rig.pipe->AddPort(nullptr).status().code(), ErrorCode::kInvalidArgument);
  ASSERT_TRUE(rig.pipe->Start().ok());
  EXPECT_EQ(rig.pipe->Start().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(rig.pipe->AddPort(std::make_unique<ScriptedPort>(7, 1, 1, pool.get())).status().code(),
            ErrorCode::kFailedPrecondition);
  EXPECT_EQ(rig.pipe->AdoptPool(std::move(pool)).code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(rig.pipe->SetFilter(nullptr).code(), ErrorCode::kFailedPrecondition);
  // Send from this (control) thread: released and counted, not staged.
  Packet* f = rig.pipe->AllocFrame();
  ASSERT_NE(f, nullptr);
  rig.pipe->Send(0, f);
  EXPECT_EQ(rig.pipe->Stats().drops.at("tx_off_worker"), 1u);
  rig.pipe->Stop();
  rig.pipe->Stop();  // idempotent
  EXPECT_EQ(rig.pipe->Start().code(), ErrorCode::kFailedPrecondition);
}

// Destroyed while running, without Stop: the destructor stops netisr,
// flushes and frees in order (ASan checks nothing is touched after free;
// the ports' pool, which outlives the pipeline here, gets everything back).
TEST(Misuse, DestroyedWhileRunningTearsDownInOrder) {
  PipelineOptions o;
  o.model = "threads";
  o.netisr.max_threads = 2;
  o.netisr.bind_threads = false;
  o.dispatch = DispatchMode::kDeferred;
  {
    Rig rig(std::move(o));
    for (ScriptedPort* port : rig.ports) port->AddFrames(0, Many(300));
    ASSERT_TRUE(rig.pipe->Start().ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    rig.pipe.reset();
    EXPECT_EQ(rig.pool->available(), kPool);
  }
}

class Hook : public ::testing::TestWithParam<bool> {};  // fused_ipv4

TEST_P(Hook, TransitIsForwardedUncheckedLocalIsCheckedWithBothChains) {
  PipelineOptions o = Inline(DispatchMode::kHybrid);
  o.fused_ipv4 = GetParam();
  Rig rig(std::move(o));
  auto bad_local = Local4();
  bad_local[bad_local.size() - 1] ^= 0xff;  // payload byte: TCP checksum now wrong
  rig.ports[0]->AddFrames(
      0, {Transit4(1, true), Transit6(2), Local4(), bad_local, Transit4(3, false), Garbage()});
  rig.RunToIdle();
  const PipelineStats s = rig.pipe->Stats();
  EXPECT_EQ(rig.forwarded.load(), 3u);
  EXPECT_EQ(rig.delivered.load(), 1u);
  EXPECT_EQ(s.drops.at("bad_tcp_checksum"), 1u);
  EXPECT_EQ(s.drops.at("unknown_ethertype"), 1u);
  EXPECT_EQ(s.drops.count("bad_udp_checksum"), 0u);
  EXPECT_EQ(rig.ports[1]->tx_frames(0).size(), 3u);
  rig.ExpectConservation();
}

INSTANTIATE_TEST_SUITE_P(FusedAndLayered, Hook, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "fused" : "layered"; });

}  // namespace
}  // namespace netisr::pipeline
