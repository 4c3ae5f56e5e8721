// See scenario.h.
#include "sim/internal/scenario.h"

#include <algorithm>
#include <cmath>

namespace netisr::sim::internal {

namespace {

enum class Popularity { kUniform, kZipf, kElephants };
enum class Placement { kRss, kHotQueue, kPartitioned };

class Builder {
 public:
  Builder(int queues, uint64_t seed) : queues_(queues), rng_(seed) {}

  // `n` connection slots of `kind` carrying `share` of all arrivals.
  void Connections(double share, Kind kind, int n, Popularity pop, Placement where,
                   uint32_t conn_len = 0) {
    std::vector<double> w(n, 1.0);
    if (pop == Popularity::kZipf) {
      for (int i = 0; i < n; ++i) w[i] = 1.0 / std::pow(i + 1, 1.1);
    } else if (pop == Popularity::kElephants) {
      // 10% of the flows carry 90% of the packets.
      const int big = std::max(1, n / 10);
      for (int i = 0; i < n; ++i) w[i] = i < big ? 0.9 / big : 0.1 / std::max(1, n - big);
    }
    double sum = 0;
    for (double x : w) sum += x;
    for (int i = 0; i < n; ++i) {
      Slot s;
      s.kind = kind;
      s.flowid = static_cast<uint32_t>(rng_.Next());
      s.queue = where == Placement::kHotQueue      ? 0
                : where == Placement::kPartitioned ? static_cast<uint16_t>(i % queues_)
                                                   : static_cast<uint16_t>(s.flowid % queues_);
      s.conn_len = conn_len;
      s.weight = share * w[i] / sum;
      slots_.push_back(s);
    }
  }

  // One-packet flows with random flowids (a flood from random sources),
  // `share` of all arrivals, spread evenly over the queues by RSS.
  void Flood(double share, Kind kind) {
    for (int q = 0; q < queues_; ++q) {
      Slot s;
      s.kind = kind;
      s.flood = true;
      s.queue = static_cast<uint16_t>(q);
      s.weight = share / queues_;
      slots_.push_back(s);
    }
  }

  // Scales the weights so that queue 0 carries `share` of all arrivals and
  // the other queues the rest evenly (as harness::SourceQuotas' skew).
  void SkewQueue0(double share) {
    if (queues_ == 1) return;
    std::vector<double> sum(queues_, 0);
    for (const Slot& s : slots_) sum[s.queue] += s.weight;
    for (Slot& s : slots_) {
      if (sum[s.queue] <= 0) continue;
      const double target = s.queue == 0 ? share : (1 - share) / (queues_ - 1);
      s.weight *= target / sum[s.queue];
    }
  }

  ScenarioModel Finish() {
    ScenarioModel m;
    m.queue_slots.resize(queues_);
    m.queue_weights.resize(queues_);
    m.queue_share.assign(queues_, 0);
    for (size_t i = 0; i < slots_.size(); ++i) {
      const Slot& s = slots_[i];
      m.queue_slots[s.queue].push_back(static_cast<uint32_t>(i));
      m.queue_weights[s.queue].push_back(s.weight);
      m.queue_share[s.queue] += s.weight;
    }
    m.slots = std::move(slots_);
    return m;
  }

 private:
  int queues_;
  Rng rng_;
  std::vector<Slot> slots_;
};

}  // namespace

ScenarioModel BuildScenario(const std::string& name, int queues, int flows, uint64_t seed,
                            bool bench) {
  Builder b(queues, seed ^ 0x5ce7a210ull);
  const int n = flows;
  if (bench) {
    // `netisr run`'s bench mode: flow f on source f % sources, flowids a
    // hash unrelated to the source; skew puts 60% on source 0.
    b.Connections(1.0, Kind::kTcp, n, Popularity::kUniform, Placement::kPartitioned);
    if (name == "skew") b.SkewQueue0(kBenchSkew);
    return b.Finish();
  }
  if (name == "zipf") {
    b.Connections(1.0, Kind::kTcp, n, Popularity::kZipf, Placement::kRss);
  } else if (name == "elephants") {
    b.Connections(1.0, Kind::kTcp, n, Popularity::kElephants, Placement::kRss);
  } else if (name == "skew") {
    // 60% of the packets are flows the NIC cannot hash (tunnels): all on
    // queue 0, their software flowids spread over the buckets.
    b.Connections(0.4, Kind::kTcp, n, Popularity::kUniform, Placement::kRss);
    b.Connections(0.6, Kind::kTcp, n, Popularity::kUniform, Placement::kHotQueue);
  } else if (name == "synflood") {
    b.Connections(0.1, Kind::kTcp, n, Popularity::kUniform, Placement::kRss);
    b.Flood(0.9, Kind::kSyn);
  } else if (name == "udpflood") {
    b.Connections(0.1, Kind::kTcp, n, Popularity::kUniform, Placement::kRss);
    b.Flood(0.9, Kind::kUdp);
  } else if (name == "reqresp") {
    b.Connections(1.0, Kind::kReq, n, Popularity::kUniform, Placement::kRss);
  } else if (name == "churn") {
    // Short connections: SYN then 7 segments, then a new flowid.
    b.Connections(1.0, Kind::kTcp, n, Popularity::kUniform, Placement::kRss, 8);
  } else if (name == "mix") {
    b.Connections(0.5, Kind::kTcp, n, Popularity::kZipf, Placement::kRss);
    b.Connections(0.2, Kind::kTcp, n, Popularity::kUniform, Placement::kRss, 8);
    b.Connections(0.2, Kind::kUdp, n, Popularity::kUniform, Placement::kRss);
    b.Flood(0.1, Kind::kSyn);
  } else {  // uniform
    b.Connections(1.0, Kind::kTcp, n, Popularity::kUniform, Placement::kRss);
  }
  return b.Finish();
}

}  // namespace netisr::sim::internal
