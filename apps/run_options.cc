// Validation of `netisr run`'s options (run_options.h): ranges, choices,
// low/high pairs, the paced length bound, and the flags that only one mode,
// source, dispatch or model takes.
#include "apps/run_options.h"

#include <fmt/format.h>

#include <utility>

#include "apps/ingress_spec.h"
#include "apps/option_checks.h"
#include "netisr/netisr.h"
#include "proto/filter.h"

namespace netisr::apps {

namespace {

constexpr int64_t kMaxFlows = int64_t{1} << 20;  // order state is a cache line per flow
constexpr int64_t kMaxPackets = 1'000'000'000'000;
constexpr int64_t kMaxSources = 64;
constexpr int64_t kMaxHandlerNs = 1'000'000;
constexpr double kMaxRate = 1e9;  // packets per second
constexpr int64_t kMaxTraceUs = 10'000'000;
// --frame-size: Ethernet's minimum (60 B without FCS) to a standard
// 1514-byte frame; jumbo frames are for pcap traces.
constexpr int64_t kMinFrameBytes = 60;
constexpr int64_t kMaxFrameBytes = 1514;
constexpr int64_t kMaxLoops = 1'000'000'000;
constexpr int64_t kMaxIdleMs = 3'600'000;  // an hour
// --adaptive-* bounds, as netisr's Validate(Settings) has them, in us.
constexpr int64_t kMaxAdaptiveDelayUs = 1'000'000;
constexpr int64_t kMaxAdaptiveIntervalUs = 1'000'000;
constexpr int64_t kMinAdaptiveWindowUs = 10;
constexpr int64_t kMaxAdaptiveWindowUs = 100'000;
constexpr int64_t kMaxAdaptiveSettleWindows = 1000;

// A flag that belongs to one mode or source kind.
struct OnlyWith {
  const char* flag;
  bool given;
  bool allowed;
  const char* where;  // "with --source synthetic", ...
};

// Flags of a dispatch mode or work model given with another one.
Status ValidateModeOptions(const RunOptions& o) {
  const AdaptiveOptions& a = o.adaptive;
  const std::pair<const char*, bool> adaptive_flags[] = {
      {"--adaptive-busy-high", a.busy_high.has_value()},
      {"--adaptive-busy-low", a.busy_low.has_value()},
      {"--adaptive-full-polls", a.full_polls.has_value()},
      {"--adaptive-room-busy", a.room_busy.has_value()},
      {"--adaptive-delay-low-us", a.delay_low_us.has_value()},
      {"--adaptive-delay-high-us", a.delay_high_us.has_value()},
      {"--adaptive-interval-us", a.interval_us.has_value()},
      {"--adaptive-step", a.step.has_value()},
      {"--adaptive-window-us", a.window_us.has_value()},
      {"--adaptive-alpha", a.alpha.has_value()},
      {"--adaptive-backpressure", a.backpressure.has_value()},
      {"--adaptive-spill", a.spill.has_value()},
      {"--adaptive-settle-windows", a.settle_windows.has_value()},
  };
  for (const auto& [flag, given] : adaptive_flags) {
    if (given && o.dispatch != "adaptive")
      return Invalid(fmt::format("{} applies only with --dispatch adaptive", flag));
  }
  if (o.trace_us != 0 && o.model == "inline")
    return Invalid(
        "--trace-us applies only with a self-driven work model (threads, poll, fibers): inline "
        "runs the workers on the caller's thread, which has none left to sample with");
  return Status::Ok();
}

// The --source flags: the source syntax, the flags that only some sources
// take, the traffic mix's ranges and the filter's rule text.
Status ValidateSourceOptions(const RunOptions& o) {
  auto ingress = ParseIngress(o.source);
  if (!ingress.ok()) return ingress.status();
  const IngressKind kind = ingress->kind;
  const bool bench = kind == IngressKind::kBench;
  const bool synthetic = kind == IngressKind::kSynthetic;
  const OnlyWith only[] = {
      {"--distribution", o.distribution.has_value(), synthetic, "with --source synthetic"},
      {"--zipf-s", o.zipf_s.has_value(), synthetic && o.distribution == "zipf",
       "with --source synthetic --distribution zipf"},
      {"--attack", o.attack.has_value(), synthetic, "with --source synthetic"},
      {"--attack-share", o.attack_share.has_value(),
       synthetic && o.attack.value_or("none") != "none",
       "with --source synthetic --attack synflood|udpflood"},
      {"--ipv6-share", o.ipv6_share.has_value(), synthetic, "with --source synthetic"},
      {"--l4", o.l4.has_value(), synthetic, "with --source synthetic"},
      {"--frame-size", o.frame_size.has_value(), synthetic, "with --source synthetic"},
      {"--loops", o.loops.has_value(), kind == IngressKind::kPcap, "with --source pcap:FILE"},
      {"--idle-ms", o.idle_ms.has_value(), kind == IngressKind::kDpdk,
       "with --source dpdk:EAL-ARGS"},
      {"--filter", !o.filter.empty(), !bench,
       "with --source (the bench mode has no frames to match)"},
      {"--skew", o.skew.has_value(), bench, "in the bench mode (without --source)"},
      {"--rate", o.rate != 0, bench || synthetic,
       "in the bench mode or with --source synthetic (pcap and dpdk run as fast as they "
       "are polled)"},
      {"--policy", o.policy.has_value(), bench,
       "in the bench mode (the parse chain's layers have their own policies: ether by "
       "source, ip and up by flow)"},
      {"--flows", o.flows.has_value(), bench || synthetic,
       "in the bench mode or with --source synthetic (pcap and dpdk frames bring their own "
       "flows)"},
      {"--seed", o.seed.has_value(), bench || synthetic,
       "in the bench mode or with --source synthetic (pcap and dpdk frames are not "
       "generated)"},
  };
  for (const OnlyWith& w : only) {
    if (w.given && !w.allowed) return Invalid(fmt::format("{} applies only {}", w.flag, w.where));
  }
  const std::string distribution = o.distribution.value_or("uniform");
  const std::string attack = o.attack.value_or("none");
  const std::string l4 = o.l4.value_or("tcp");
  const Choice choices[] = {
      {"--distribution", distribution, kDistributionChoices},
      {"--attack", attack, kAttackChoices},
      {"--l4", l4, kL4Choices},
  };
  for (const Choice& c : choices) {
    if (Status st = Check(c); !st.ok()) return st;
  }
  const Bound bounds[] = {
      {"--frame-size", o.frame_size.value_or(kMinFrameBytes), kMinFrameBytes, kMaxFrameBytes},
      {"--loops", o.loops.value_or(0), 0, kMaxLoops},
      {"--idle-ms", o.idle_ms.value_or(0), 0, kMaxIdleMs},
  };
  for (const Bound& b : bounds) {
    if (Status st = Check(b); !st.ok()) return st;
  }
  const RealBound reals[] = {
      {"--zipf-s", o.zipf_s, 1e-6, 10},
      {"--attack-share", o.attack_share, 0, 1, /*hi_open=*/true},
      {"--ipv6-share", o.ipv6_share, 0, 1},
  };
  for (const RealBound& b : reals) {
    if (Status st = Check(b); !st.ok()) return st;
  }
  if (!o.filter.empty()) {
    auto rules = proto::EarlyFilter::ParseRules(o.filter);
    if (!rules.ok()) {
      // The filter's messages open with "filter: "; the flag replaces it.
      std::string_view why = rules.status().message();
      if (why.starts_with("filter: ")) why.remove_prefix(8);
      return Invalid(fmt::format("--filter: {}", why));
    }
  }
  return Status::Ok();
}

}  // namespace

AdaptiveSettings ResolveAdaptive(const AdaptiveOptions& o) {
  AdaptiveSettings a;
  auto us = [](int64_t v) { return static_cast<uint64_t>(v) * 1000; };
  if (o.busy_high) a.busy_high = *o.busy_high;
  if (o.busy_low) a.busy_low = *o.busy_low;
  if (o.full_polls) a.full_polls_high = *o.full_polls;
  if (o.room_busy) a.room_busy = *o.room_busy;
  if (o.delay_low_us) a.delay_low_ns = us(*o.delay_low_us);
  if (o.delay_high_us) a.delay_high_ns = us(*o.delay_high_us);
  if (o.interval_us) a.migration_interval_ns = us(*o.interval_us);
  if (o.step) a.migration_step = *o.step;
  if (o.window_us) a.load_window_ns = us(*o.window_us);
  if (o.alpha) a.load_alpha = *o.alpha;
  if (o.backpressure) a.backpressure_fill = *o.backpressure;
  if (o.spill) a.spill_fill = *o.spill;
  if (o.settle_windows) a.settle_windows = static_cast<uint32_t>(*o.settle_windows);
  return a;
}

Status ValidateRunOptions(const RunOptions& o) {
  const std::string policy = o.policy_name();
  const Choice choices[] = {
      {"--dispatch", o.dispatch, kDispatchChoices},
      {"--policy", policy, kPolicyChoices},
      {"--model", o.model, kModelChoices},
  };
  for (const Choice& c : choices) {
    if (Status st = Check(c); !st.ok()) return st;
  }
  const Bound bounds[] = {
      {"--cpus", o.cpus, 1, kMaxWorkstreams},
      {"--flows", o.flow_count(), 1, kMaxFlows},
      {"--packets", o.packets, 1, kMaxPackets},
      {"--sources", o.sources.value_or(1), 1, kMaxSources},
      {"--handler-ns", o.handler_ns, 0, kMaxHandlerNs},
      {"--qlimit", o.qlimit, 0, Settings{}.max_qlimit},
      {"--burst", o.burst, 0, 256},
      {"--trace-us", o.trace_us, 0, kMaxTraceUs},
      {"--adaptive-delay-low-us", o.adaptive.delay_low_us.value_or(1), 1, kMaxAdaptiveDelayUs},
      {"--adaptive-delay-high-us", o.adaptive.delay_high_us.value_or(1), 1, kMaxAdaptiveDelayUs},
      {"--adaptive-interval-us", o.adaptive.interval_us.value_or(0), 0, kMaxAdaptiveIntervalUs},
      {"--adaptive-window-us", o.adaptive.window_us.value_or(kMinAdaptiveWindowUs),
       kMinAdaptiveWindowUs, kMaxAdaptiveWindowUs},
      {"--adaptive-settle-windows", o.adaptive.settle_windows.value_or(0), 0,
       kMaxAdaptiveSettleWindows},
  };
  for (const Bound& b : bounds) {
    if (Status st = Check(b); !st.ok()) return st;
  }
  const RealBound reals[] = {
      {"--skew", o.skew, 0, 1, /*hi_open=*/true},
      {"--rate", o.rate, 0, kMaxRate},
      // Fractions in (0, 1]: a zero would make the rule's thresholds
      // meaningless, so the lower bound is the smallest positive step.
      {"--adaptive-busy-high", o.adaptive.busy_high, 1e-6, 1},
      {"--adaptive-busy-low", o.adaptive.busy_low, 1e-6, 1},
      {"--adaptive-full-polls", o.adaptive.full_polls, 1e-6, 1},
      {"--adaptive-room-busy", o.adaptive.room_busy, 1e-6, 1},
      {"--adaptive-alpha", o.adaptive.alpha, 1e-6, 1},
      {"--adaptive-backpressure", o.adaptive.backpressure, 1e-6, 1},
      {"--adaptive-spill", o.adaptive.spill, 1e-6, 1},
      {"--adaptive-step", o.adaptive.step, 0, 64},
  };
  for (const RealBound& b : reals) {
    if (Status st = Check(b); !st.ok()) return st;
  }
  if (o.rate > 0 && static_cast<double>(o.packets) / o.rate > kMaxPacedSeconds) {
    return Invalid(fmt::format(
        "--rate {} paces --packets {} over {:.3g} s, more than the {:.0f} s bound (raise --rate "
        "or lower --packets)",
        o.rate, o.packets, static_cast<double>(o.packets) / o.rate, kMaxPacedSeconds));
  }
  // Low/high pairs, each side as given or netisr's default.
  const AdaptiveSettings a = ResolveAdaptive(o.adaptive);
  const Ordered pairs[] = {
      {"--adaptive-busy-low", a.busy_low, "--adaptive-busy-high", a.busy_high},
      {"--adaptive-delay-low-us", a.delay_low_ns / 1e3, "--adaptive-delay-high-us",
       a.delay_high_ns / 1e3},
  };
  for (const Ordered& p : pairs) {
    if (Status st = Check(p); !st.ok()) return st;
  }
  if (Status st = ValidateModeOptions(o); !st.ok()) return st;
  return ValidateSourceOptions(o);
}

Settings NetisrSettingsFor(const RunOptions& o) {
  Settings s;
  s.max_threads = static_cast<int>(o.cpus);
  s.bind_threads = o.bind;
  s.max_external_producers = 0;  // only workers produce; saves their lanes
  s.adaptive = ResolveAdaptive(o.adaptive);
  if (o.burst > 0) s.burst = static_cast<uint32_t>(o.burst);
  return s;
}
}  // namespace netisr::apps
