// Shared by the TCP tests: hosts (table + engine + capture) on virtual
// time, crafted segments from a scripted peer, and an in-memory wire
// between two engines with deterministic loss and reordering.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "inpcb/table.h"
#include "tcp/engine.h"
#include "tcp/segment.h"

namespace netisr::tcp::testing {

using inpcb::Family;
using inpcb::FourTuple;
using inpcb::IpAddr;
using inpcb::TableStrategy;

inline constexpr TableStrategy kAllStrategies[] = {TableStrategy::kGlobal, TableStrategy::kGroups,
                                                   TableStrategy::kEpoch,
                                                   TableStrategy::kPartitioned};
inline std::string StrategyName(const ::testing::TestParamInfo<TableStrategy>& info) {
  return inpcb::ToString(info.param);
}

constexpr uint32_t Ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return (uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d;
}

// One encoded segment as it would cross the wire.
struct Frame {
  Family family = Family::kIPv4;
  IpAddr src, dst;
  std::vector<uint8_t> bytes;
  uint64_t deliver_at = 0;  // wire only
};

// Decodes a frame into the receiver's view (payload points into f.bytes).
inline Segment Decode(const Frame& f) {
  Segment s;
  const DecodeError e =
      DecodeSegment(f.family, f.src, f.dst, f.bytes.data(), f.bytes.size(), true, &s);
  EXPECT_EQ(e, DecodeError::kNone);
  s.flowid = FlowIdOf(s.tuple);
  return s;
}

// Encodes every segment it is given, as a NIC driver would.
class Capture : public Output {
 public:
  void Send(const Segment& s) override {
    Frame f;
    f.family = s.tuple.family;
    f.src = s.tuple.laddr;
    f.dst = s.tuple.faddr;
    f.bytes.resize(kMaxHeaderLen + s.payload_len);
    const size_t n = EncodeSegment(s, f.bytes.data(), f.bytes.size());
    EXPECT_GT(n, 0u);
    f.bytes.resize(n);
    frames.push_back(std::move(f));
  }
  // Decoded copies of what was sent since the last Take.
  std::vector<Segment> Take() {
    taken_.insert(taken_.end(), frames.begin(), frames.end());
    std::vector<Segment> out;
    for (size_t i = taken_.size() - frames.size(); i < taken_.size(); ++i) {
      out.push_back(Decode(taken_[i]));
    }
    frames.clear();
    return out;
  }
  std::vector<Frame> frames;

 private:
  std::deque<Frame> taken_;  // keeps payloads of taken segments alive
};

// A table + engine + capture, on a shared virtual clock.
struct Host {
  Host(TableStrategy strategy, const Settings& s, ManualClock* clock) {
    inpcb::TableSettings ts;
    ts.strategy = strategy;
    ts.cpus = s.cpus;
    ts.groups = 8;
    ts.hash_buckets = 64;
    auto t = inpcb::CreateTable(ts);
    EXPECT_TRUE(t.ok()) << t.status().message();
    table = std::move(t).value();
    EXPECT_TRUE(table->ThreadEnter(static_cast<int>(s.cpu)).ok());
    auto e = Engine::Create(s, table.get(), &out, clock);
    EXPECT_TRUE(e.ok()) << e.status().message();
    engine = std::move(e).value();
  }
  ~Host() {
    engine.reset();
    table->ThreadExit();
    table.reset();
  }
  // Every segment in is accepted or dropped under a reason.
  void ExpectConservation() const {
    const Stats& st = engine->stats();
    EXPECT_EQ(st.segments_in, st.accepted + st.dropped());
  }
  std::unique_ptr<inpcb::ConnectionTable> table;
  Capture out;
  std::unique_ptr<Engine> engine;
};

// Test settings: deterministic secret, small buffers where it helps.
inline Settings TestSettings() {
  Settings s;
  s.secret = 0x1234567890abcdefull;
  return s;
}

// A scripted remote end: builds segments addressed to the engine.
class Peer {
 public:
  Peer(Engine* engine, FourTuple engine_view) : engine_(engine), t_(engine_view) {}
  // tuple as the engine sees it (laddr = engine)
  const FourTuple& tuple() const { return t_; }

  Segment Make(uint32_t seq, uint32_t ack, uint8_t fl, uint16_t window = 65535,
               const std::string& payload = "") {
    payloads_.push_back(payload);
    Segment s;
    s.tuple = t_;
    s.flowid = FlowIdOf(t_);
    s.seq = seq;
    s.ack = ack;
    s.flags = fl;
    s.window = window;
    s.payload = reinterpret_cast<const uint8_t*>(payloads_.back().data());
    s.payload_len = static_cast<uint32_t>(payloads_.back().size());
    return s;
  }
  void Send(const Segment& s) { engine_->Input(s); }

 private:
  Engine* engine_;
  FourTuple t_;
  std::deque<std::string> payloads_;
};

// Two hosts joined by an in-memory wire: every frame takes `latency`, a
// deterministic generator (std::mt19937, fully specified by the standard)
// drops `loss_permille` of them and delays `reorder_permille` by
// `reorder_delay` so that later frames overtake them.
class Wire {
 public:
  Wire(Host* a, Host* b, ManualClock* clock) : a_(a), b_(b), clock_(clock) {}
  uint32_t loss_permille = 0;
  uint32_t reorder_permille = 0;
  Micros latency = 1 * kMillisecond;
  Micros reorder_delay = 3 * kMillisecond;
  uint64_t lost = 0, reordered = 0, delivered = 0;
  void Seed(uint32_t seed) { rng_.seed(seed); }

  // Runs until done() or `limit` of virtual time passes; false on timeout.
  bool RunUntil(const std::function<bool()>& done, Micros limit) {
    const Micros end = clock_->Now() + limit;
    for (;;) {
      Collect();
      if (done()) return true;
      // Next event: the first frame due, or the first timer.
      Micros next = end;
      for (auto* q : {&to_a_, &to_b_}) {
        for (const Frame& f : *q) next = std::min(next, f.deliver_at);
      }
      for (Host* h : {a_, b_}) {
        if (auto t = h->engine->NextTimer()) next = std::min(next, *t);
      }
      if (next > end) return false;
      if (next > clock_->Now()) clock_->Set(next);
      Deliver(&to_a_, a_);
      Deliver(&to_b_, b_);
      a_->engine->RunTimers();
      b_->engine->RunTimers();
      if (clock_->Now() >= end && !done()) {
        Collect();
        return done();
      }
    }
  }

 private:
  void Collect() {
    Move(&a_->out, &to_b_);
    Move(&b_->out, &to_a_);
  }
  void Move(Capture* from, std::deque<Frame>* to) {
    for (Frame& f : from->frames) {
      if (loss_permille > 0 && rng_() % 1000 < loss_permille) {
        ++lost;
        continue;
      }
      f.deliver_at = clock_->Now() + latency;
      if (reorder_permille > 0 && rng_() % 1000 < reorder_permille) {
        f.deliver_at += reorder_delay;
        ++reordered;
      }
      to->push_back(std::move(f));
    }
    from->frames.clear();
  }
  void Deliver(std::deque<Frame>* q, Host* h) {
    std::vector<Frame> due;
    for (auto it = q->begin(); it != q->end();) {
      if (it->deliver_at <= clock_->Now()) {
        due.push_back(std::move(*it));
        it = q->erase(it);
      } else {
        ++it;
      }
    }
    for (const Frame& f : due) {
      ++delivered;
      FourTuple rt;  // the receiver's view, for the flowid
      rt.family = f.family;
      rt.laddr = f.dst;
      rt.faddr = f.src;
      rt.fport = static_cast<uint16_t>(f.bytes[0] << 8 | f.bytes[1]);
      rt.lport = static_cast<uint16_t>(f.bytes[2] << 8 | f.bytes[3]);
      h->engine->InputBytes(f.family, f.src, f.dst, f.bytes.data(), f.bytes.size(), FlowIdOf(rt));
    }
  }
  Host* a_;
  Host* b_;
  ManualClock* clock_;
  std::deque<Frame> to_a_, to_b_;
  std::mt19937 rng_{1};
};

}  // namespace netisr::tcp::testing
