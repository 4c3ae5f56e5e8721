#include "netisr/stats.h"

#include <fmt/format.h>

namespace netisr {

WorkStats Stats::Total(int protocol) const {
  WorkStats t;
  for (const auto& row : work) {
    const WorkStats& c = row[protocol];
    t.dispatched += c.dispatched;
    t.hybrid_dispatched += c.hybrid_dispatched;
    t.queued += c.queued;
    t.qdrops += c.qdrops;
    t.handled += c.handled;
    t.qlen += c.qlen;
    t.watermark = std::max(t.watermark, c.watermark);
  }
  return t;
}

uint64_t Stats::TotalDrops() const {
  uint64_t n = 0;
  for (const auto& [reason, count] : drops) n += count;
  return n;
}

std::string FormatTable(const Stats& s) {
  std::string out = fmt::format(
      "{:>4} {:>4} {:<10} {:>6} {:>6} {:>12} {:>12} {:>12} {:>10} {:>12} {:>8}\n", "WSID", "CPU",
      "Name", "Len", "WMark", "Disp'd", "HDisp'd", "QDrops", "Queued", "Handled", "Wakeups");
  for (size_t w = 0; w < s.work.size(); ++w) {
    for (size_t x = 0; x < s.protocols.size(); ++x) {
      const WorkStats& c = s.work[w][x];
      out +=
          fmt::format("{:>4} {:>4} {:<10} {:>6} {:>6} {:>12} {:>12} {:>12} {:>10} {:>12} {:>8}\n",
                      w, s.workstreams[w].cpu, s.protocols[x], c.qlen, c.watermark, c.dispatched,
                      c.hybrid_dispatched, c.qdrops, c.queued, c.handled, s.workstreams[w].wakeups);
    }
  }
  if (!s.decisions.empty()) {
    out += fmt::format("Adaptive: migrations={}", s.migrations);
    for (const auto& [reason, count] : s.decisions) out += fmt::format(" {}={}", reason, count);
    out += "\n";
  }
  if (!s.drops.empty()) {
    out += "Drops:";
    for (const auto& [reason, count] : s.drops) out += fmt::format(" {}={}", reason, count);
    out += "\n";
  }
  return out;
}

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
          {"watermark", c.watermark}};
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
