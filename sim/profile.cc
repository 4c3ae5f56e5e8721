// See profile.h.
#include "sim/profile.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

namespace netisr::sim {

namespace {

// Every field by its file key: the one list parsing and formatting share.
constexpr std::array<std::pair<const char*, double CostProfile::*>, 28> kFields{{
    {"rx_burst_ns", &CostProfile::rx_burst_ns},
    {"rx_pkt_ns", &CostProfile::rx_pkt_ns},
    {"adaptive_pkt_ns", &CostProfile::adaptive_pkt_ns},
    {"ether_ns", &CostProfile::ether_ns},
    {"ip_ns", &CostProfile::ip_ns},
    {"tcp_ns", &CostProfile::tcp_ns},
    {"udp_ns", &CostProfile::udp_ns},
    {"syn_ns", &CostProfile::syn_ns},
    {"lookup_global_ns", &CostProfile::lookup_global_ns},
    {"lookup_groups_ns", &CostProfile::lookup_groups_ns},
    {"lookup_epoch_ns", &CostProfile::lookup_epoch_ns},
    {"lookup_partitioned_ns", &CostProfile::lookup_partitioned_ns},
    {"handoff_pkt_ns", &CostProfile::handoff_pkt_ns},
    {"handoff_burst_ns", &CostProfile::handoff_burst_ns},
    {"handoff_producer_ns", &CostProfile::handoff_producer_ns},
    {"wakeup_ns", &CostProfile::wakeup_ns},
    {"cache_move_ns", &CostProfile::cache_move_ns},
    {"spin_ns", &CostProfile::spin_ns},
    {"stall_gap_ns", &CostProfile::stall_gap_ns},
    {"stall_ns", &CostProfile::stall_ns},
    {"stall_shared", &CostProfile::stall_shared},
    {"stall_p10_ns", &CostProfile::stall_p10_ns},
    {"stall_p25_ns", &CostProfile::stall_p25_ns},
    {"stall_p75_ns", &CostProfile::stall_p75_ns},
    {"stall_p90_ns", &CostProfile::stall_p90_ns},
    {"stall_p99_ns", &CostProfile::stall_p99_ns},
    {"stall_p999_ns", &CostProfile::stall_p999_ns},
    {"stall_max_ns", &CostProfile::stall_max_ns},
}};

// The stall length quantiles, at kStallProbabilities.
constexpr std::array<double CostProfile::*, kStallProbabilities.size()> kStallQuantiles{
    &CostProfile::stall_p10_ns,  &CostProfile::stall_p25_ns, &CostProfile::stall_ns,
    &CostProfile::stall_p75_ns,  &CostProfile::stall_p90_ns, &CostProfile::stall_p99_ns,
    &CostProfile::stall_p999_ns, &CostProfile::stall_max_ns,
};

// Largest cost a profile may give one step: 1 s is far past any packet
// step, and keeps virtual time (uint64 ns) from overflowing in a run.
constexpr double kMaxCostNs = 1e9;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

double CostProfile::LookupNs(std::string_view strategy) const {
  if (strategy == "global") return lookup_global_ns;
  if (strategy == "groups") return lookup_groups_ns;
  if (strategy == "epoch") return lookup_epoch_ns;
  return lookup_partitioned_ns;
}

bool CostProfile::StallsVary() const {
  for (double CostProfile::*q : kStallQuantiles)
    if (q != &CostProfile::stall_ns && this->*q > 0) return true;
  return false;
}

double CostProfile::StallNsAt(double u) const {
  if (!StallsVary() || u <= kStallProbabilities[0]) return StallsVary() ? stall_p10_ns : stall_ns;
  for (size_t i = 1; i < kStallProbabilities.size(); ++i) {
    const double p0 = kStallProbabilities[i - 1], p1 = kStallProbabilities[i];
    if (u <= p1) {
      const double v0 = this->*kStallQuantiles[i - 1], v1 = this->*kStallQuantiles[i];
      return v0 + (v1 - v0) * (u - p0) / (p1 - p0);
    }
  }
  return stall_max_ns;
}

double CostProfile::MeanStallNs() const {
  if (!StallsVary()) return stall_ns;
  // The integral of StallNsAt over [0, 1]: a constant below the first
  // quantile, then trapezoids.
  double mean = kStallProbabilities[0] * stall_p10_ns;
  for (size_t i = 1; i < kStallProbabilities.size(); ++i) {
    mean += (kStallProbabilities[i] - kStallProbabilities[i - 1]) *
            (this->*kStallQuantiles[i - 1] + this->*kStallQuantiles[i]) / 2;
  }
  return mean;
}

void CostProfile::SetStallLengths(const std::vector<uint64_t>& sorted) {
  if (sorted.empty()) {
    for (double CostProfile::*q : kStallQuantiles)
      if (q != &CostProfile::stall_ns) this->*q = 0;
    return;
  }
  for (size_t i = 0; i < kStallQuantiles.size(); ++i) {
    const auto rank =
        static_cast<size_t>(std::ceil(kStallProbabilities[i] * static_cast<double>(sorted.size())));
    this->*kStallQuantiles[i] =
        static_cast<double>(sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1]);
  }
}

CostProfile IdealProfile() {
  CostProfile p;
  p.name = "ideal";
  return p;
}

CostProfile DefaultProfile() {
  // sim/profiles/default.profile: one `netisr calibrate` run, stalls left out.
  CostProfile p;
  p.name = "default";
  p.rx_burst_ns = 87;
  p.rx_pkt_ns = 40;
  p.adaptive_pkt_ns = 7;
  p.ether_ns = 8;
  p.ip_ns = 15;
  p.tcp_ns = 25;
  p.udp_ns = 12;
  p.syn_ns = 180;
  p.lookup_global_ns = 76;
  p.lookup_groups_ns = 81;
  p.lookup_epoch_ns = 59;
  p.lookup_partitioned_ns = 33;
  p.handoff_pkt_ns = 54;
  p.handoff_burst_ns = 259;
  p.handoff_producer_ns = 26;
  p.wakeup_ns = 30560;
  p.cache_move_ns = 250;
  p.spin_ns = 50000;
  return p;
}

Result<CostProfile> ParseProfile(std::string_view text, const std::string& name) {
  CostProfile p = IdealProfile();
  p.name = name;
  int line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (const size_t hash = line.find('#'); hash != std::string_view::npos)
      line = line.substr(0, hash);
    line = Trim(line);
    if (line.empty()) continue;
    const std::string where = name + ":" + std::to_string(line_no) + ": ";
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos)
      return Status(ErrorCode::kInvalidArgument, where + "expected `key = value`");
    const std::string_view key = Trim(line.substr(0, eq));
    const std::string value(Trim(line.substr(eq + 1)));
    double CostProfile::*field = nullptr;
    std::string known;
    for (const auto& [k, f] : kFields) {
      if (key == k) field = f;
      known += known.empty() ? k : std::string(", ") + k;
    }
    if (field == nullptr) {
      return Status(ErrorCode::kInvalidArgument,
                    where + "unknown key '" + std::string(key) + "' (known: " + known + ")");
    }
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(value.c_str(), &end);
    if (value.empty() || end != value.c_str() + value.size() || errno != 0 || !(v >= 0) ||
        v > kMaxCostNs) {
      return Status(ErrorCode::kInvalidArgument, where + std::string(key) + " '" + value +
                                                     "' is not a number of ns in [0, 1e9]");
    }
    if (field == &CostProfile::stall_shared && v > 1) {
      return Status(ErrorCode::kInvalidArgument,
                    where + "stall_shared '" + value + "' is not a share in [0, 1]");
    }
    p.*field = v;
  }
  if (p.StallsVary()) {
    // All or none, ascending: a partial or unordered set is no distribution.
    for (size_t i = 0; i < kStallQuantiles.size(); ++i) {
      const double v = p.*kStallQuantiles[i];
      const double prev = i == 0 ? 0 : p.*kStallQuantiles[i - 1];
      if (v <= 0 || v < prev) {
        return Status(ErrorCode::kInvalidArgument,
                      name +
                          ": the stall quantiles (stall_p10_ns, stall_p25_ns, stall_ns, "
                          "stall_p75_ns, stall_p90_ns, stall_p99_ns, stall_p999_ns, "
                          "stall_max_ns) must all be given, above 0 and ascending");
      }
    }
  }
  if (p.stall_gap_ns > 0 && p.MeanStallNs() >= p.stall_gap_ns) {
    // stall_gap_ns is begin to begin: a mean stall as long leaves no time.
    return Status(ErrorCode::kInvalidArgument,
                  name + ": the mean stall " + std::to_string(p.MeanStallNs()) +
                      " ns is not shorter than stall_gap_ns " + std::to_string(p.stall_gap_ns) +
                      " (the mean time from one stall's start to the next): a CPU would never run");
  }
  if (p.handoff_producer_ns > p.handoff_pkt_ns) {
    return Status(ErrorCode::kInvalidArgument,
                  name + ": handoff_producer_ns " + std::to_string(p.handoff_producer_ns) +
                      " exceeds handoff_pkt_ns " + std::to_string(p.handoff_pkt_ns) +
                      " (it is the producer's part of it)");
  }
  return p;
}

Result<CostProfile> LoadProfile(const std::string& spec) {
  if (spec == "ideal") return IdealProfile();
  if (spec == "default") return DefaultProfile();
  std::ifstream in(spec);
  if (!in) {
    return Status(ErrorCode::kNotFound,
                  "--profile '" + spec + "': cannot read the file (or use ideal or default)");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseProfile(ss.str(), spec);
}

std::string FormatProfile(const CostProfile& p) {
  std::ostringstream out;
  for (const auto& [k, f] : kFields) out << k << " = " << p.*f << "\n";
  return out.str();
}

}  // namespace netisr::sim
