// Scenarios as flow slots: who sends what, on which RX queue, how often.
//
// A slot is a connection (or, for floods, a stream of one-packet flows with
// random flowids). Each RX queue draws its next packet's slot from its own
// alias table, so queues are independent arrival processes whose rates add
// up to the offered load (Poisson splitting). Flowids are the RSS hash: a
// flow arrives on queue flowid % queues, as a NIC's RETA puts it, except the
// skew scenario's "tunnel" flows, which the NIC cannot hash and puts all on
// queue 0 while their software flowid spreads them (one hot RX queue).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/internal/random.h"
#include "sim/simulator.h"

namespace netisr::sim::internal {

enum class Kind : uint8_t { kTcp, kUdp, kSyn, kReq, kResp, kCount };

struct Slot {
  Kind kind = Kind::kTcp;
  bool flood = false;     // a new random flowid (and connection) per packet
  uint16_t queue = 0;     // RX queue it arrives on
  uint32_t flowid = 0;    // current connection's flowid (not for floods)
  uint32_t conn_len = 0;  // churn: packets per connection (SYN first); 0 = forever
  double weight = 0;      // share of all arrivals
  // Run-time state, owned by the engine.
  uint32_t left = 0;  // packets left in the current connection (churn)
  uint64_t conn = 0;  // order key of the current connection
  uint64_t seq = 0;   // last sequence number sent on it
  uint64_t resp_conn = 0;
  uint64_t resp_seq = 0;
  int16_t last_cpu = -1;  // where its last packet was handled (cache penalty)
  int16_t resp_last_cpu = -1;
};

struct ScenarioModel {
  std::vector<Slot> slots;
  // Per RX queue: its slots and their weights (for the alias table), and
  // its share of all arrivals.
  std::vector<std::vector<uint32_t>> queue_slots;
  std::vector<std::vector<double>> queue_weights;
  std::vector<double> queue_share;
};

// Builds `name` (one of kScenarioChoices) for `queues` RX queues and
// `flows` connection slots; deterministic in `seed`. `bench`: the layout of
// `netisr run`'s bench mode instead (SimConfig::bench; uniform or skew).
ScenarioModel BuildScenario(const std::string& name, int queues, int flows, uint64_t seed,
                            bool bench);

// The flowid a request's response carries (reqresp), a fixed function of the
// request's so each connection's responses form one flow.
inline uint32_t ResponseFlowid(uint32_t flowid) {
  return static_cast<uint32_t>(Mix64(flowid ^ 0x5bd1e995u));
}

}  // namespace netisr::sim::internal
