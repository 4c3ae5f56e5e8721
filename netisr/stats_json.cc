#include "netisr/stats_json.h"

namespace netisr {

nlohmann::json ToJson(const Stats& s) {
  nlohmann::json j;
  j["dispatch_override"] =
      s.dispatch_override.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.dispatch_override);
  j["drops"] = s.drops;
  j["decisions"] = s.decisions;
  j["migrations"] = s.migrations;
  nlohmann::json wss = nlohmann::json::array();
  for (size_t w = 0; w < s.work.size(); ++w) {
    nlohmann::json protos = nlohmann::json::object();
    for (size_t x = 0; x < s.protocols.size(); ++x) {
      const WorkStats& c = s.work[w][x];
      protos[s.protocols[x]] = {
          {"dispatched", c.dispatched}, {"hybrid_dispatched", c.hybrid_dispatched},
          {"queued", c.queued},         {"qdrops", c.qdrops},
          {"handled", c.handled},       {"qlen", c.qlen},
          {"watermark", c.watermark},   {"bursts", c.bursts}};
    }
    wss.push_back({{"workstream", w},
                   {"cpu", s.workstreams[w].cpu},
                   {"wakeups", s.workstreams[w].wakeups},
                   {"busy", s.workstreams[w].busy},
                   {"queue_delay_ns", s.workstreams[w].queue_delay_ns},
                   {"full_polls", s.workstreams[w].full_polls},
                   {"protocols", protos}});
  }
  j["workstreams"] = wss;
  return j;
}

}  // namespace netisr
