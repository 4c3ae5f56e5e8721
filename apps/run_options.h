// `netisr run`'s options: one field per flag, as the user gave it, and the
// validation that says whether they make sense together. Every refusal
// names its flag and what it accepts (option_checks.h); a flag that means
// nothing in the chosen mode, source, dispatch or model is refused, never
// ignored, so that a report never describes a configuration that did not
// run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "netisr/settings.h"

namespace netisr::apps {

// Accepted values of the choice flags: the one list that validation, its
// messages and the CLI's --help all use.
inline constexpr std::string_view kDispatchChoices[] = {"direct", "deferred", "hybrid", "adaptive"};
inline constexpr std::string_view kPolicyChoices[] = {"flow", "source", "cpu"};
inline constexpr std::string_view kModelChoices[] = {"threads", "inline", "poll", "fibers"};
// --source synthetic traffic mix.
inline constexpr std::string_view kDistributionChoices[] = {"uniform", "zipf", "elephants"};
inline constexpr std::string_view kAttackChoices[] = {"none", "synflood", "udpflood"};
inline constexpr std::string_view kL4Choices[] = {"tcp", "udp", "mix"};

// Overrides of netisr's AdaptiveSettings (settings.h), one per
// --adaptive-* flag; unset fields keep netisr's defaults. Times in
// microseconds on the command line.
struct AdaptiveOptions {
  std::optional<double> busy_high;        // --adaptive-busy-high
  std::optional<double> busy_low;         // --adaptive-busy-low
  std::optional<double> full_polls;       // --adaptive-full-polls
  std::optional<double> room_busy;        // --adaptive-room-busy
  std::optional<int64_t> delay_low_us;    // --adaptive-delay-low-us
  std::optional<int64_t> delay_high_us;   // --adaptive-delay-high-us
  std::optional<int64_t> interval_us;     // --adaptive-interval-us: migration interval
  std::optional<double> step;             // --adaptive-step: load moved out per interval
  std::optional<int64_t> window_us;       // --adaptive-window-us: load window
  std::optional<double> alpha;            // --adaptive-alpha: load EWMA weight
  std::optional<double> backpressure;     // --adaptive-backpressure: queue fill
  std::optional<double> spill;            // --adaptive-spill: queue fill
  std::optional<int64_t> settle_windows;  // --adaptive-settle-windows
};

// Defaults of the flags that only some modes take (optional in RunOptions,
// so that giving one where it means nothing is refused by name).
inline constexpr std::string_view kDefaultPolicy = "flow";
inline constexpr int64_t kDefaultFlows = 64;
inline constexpr uint64_t kDefaultSeed = 1;
// --rate bound: the paced arrivals of a run (--packets / --rate) may span at
// most an hour. Paced experiments last seconds; a rate that stretches a run
// beyond an hour is a unit slip (pps for Mpps) more often than a soak test,
// and a run that silently lasts days looks hung. It also keeps every
// inter-packet gap finite: --rate 1e-300 would make it infinite, and its
// conversion to an integer undefined behaviour.
inline constexpr double kMaxPacedSeconds = 3600;

// The run's knobs, one per flag, as the user gave them; ValidateRunOptions
// says whether they make sense. Numbers are signed so that a negative value
// gets the same range message as any other out-of-range one.
struct RunOptions {
  int64_t cpus = 2;                   // --cpus: workstreams
  std::string dispatch = "hybrid";    // --dispatch: the protocol's dispatch mode
  std::optional<std::string> policy;  // --policy (bench mode); unset = kDefaultPolicy
  std::string model = "threads";      // --model: netisr work model
  std::optional<int64_t> flows;       // --flows (bench, synthetic); unset = kDefaultFlows
  int64_t packets = 1000000;          // --packets: total, over all sources
  std::optional<int64_t> sources;     // --sources: ingress sources; unset = cpus
  // --skew F in [0, 1): source 0 brings in a share F of the packets, the
  // other sources the rest evenly. Unset: shares follow owned flows
  // (uniform). Flows stay partitioned across sources either way.
  std::optional<double> skew;
  // --rate: offered load over all sources, packets per second, split by
  // their packet shares; 0 = every source as fast as it can.
  double rate = 0;
  int64_t handler_ns = 0;  // --handler-ns: busy work per packet
  int64_t qlimit = 0;      // --qlimit: 0 = netisr's default
  // --burst: packets a poll and a drain take at most (Settings::burst);
  // 0 = netisr's default.
  int64_t burst = 0;
  bool bind = true;              // cleared by --no-bind
  bool json = false;             // --json
  bool lockprof = false;         // --lockprof: print the run's lock profile
  std::optional<uint64_t> seed;  // --seed (bench, synthetic); unset = kDefaultSeed
  AdaptiveOptions adaptive;      // --adaptive-* (--dispatch adaptive only)
  // --trace-us: sample netisr's statistics this often while the run lasts
  // (self-driven models only: refused with inline; 0 = off), for watching
  // the adaptive rule.
  int64_t trace_us = 0;

  // --source: "" = the bench mode (the trivial protocol fed by
  // harness/synthetic_source.h); otherwise `synthetic`, `pcap:FILE` or
  // `dpdk:EAL-ARGS` (ingress_spec.h), whose frames go through the parse
  // chain (stack_run.h). In that mode --sources is the RX queues per port.
  std::string source;
  std::string filter;  // --filter: proto::EarlyFilter rule text; "" = none
  // --source synthetic's traffic mix (nic::SyntheticConfig); unset = its
  // defaults. Refused with any other source.
  std::optional<std::string> distribution;  // --distribution
  std::optional<double> zipf_s;             // --zipf-s
  std::optional<std::string> attack;        // --attack
  std::optional<double> attack_share;       // --attack-share: flood share of all packets
  std::optional<double> ipv6_share;         // --ipv6-share: share of flows on IPv6
  std::optional<std::string> l4;            // --l4: tcp, udp or mix (half each)
  std::optional<int64_t> frame_size;        // --frame-size: bytes without FCS
  std::optional<int64_t> loops;             // --loops: pcap replays (0 = until --packets)
  std::optional<int64_t> idle_ms;           // --idle-ms: dpdk ends after this long silent

  std::string policy_name() const { return policy.value_or(std::string(kDefaultPolicy)); }
  int64_t flow_count() const { return flows.value_or(kDefaultFlows); }
  uint64_t seed_value() const { return seed.value_or(kDefaultSeed); }
};

// netisr's AdaptiveSettings with `o`'s overrides applied.
AdaptiveSettings ResolveAdaptive(const AdaptiveOptions& o);

// Ok, or kInvalidArgument naming the first bad flag and what it accepts.
Status ValidateRunOptions(const RunOptions& opts);

// netisr's Settings for a run (workstreams, binding, adaptive tunables).
Settings NetisrSettingsFor(const RunOptions& o);

}  // namespace netisr::apps
