// `netisr router` (see router_command.h).
#include "apps/router_command.h"

#include <fmt/format.h>

#include <chrono>
#include <csignal>
#include <thread>

#include "apps/exit_codes.h"
#include "apps/option_checks.h"
#include "lockprof/report.h"
#include "router/router.h"

namespace netisr::apps {

namespace {

constexpr double kMaxSeconds = 7 * 24 * 3600.0;  // a week: any real run
// How often the control thread looks at the stop flag and the clock: the
// exit latency after a signal, not a cost on any packet.
constexpr auto kStopPoll = std::chrono::milliseconds(20);

std::atomic<bool> g_signalled{false};
extern "C" void OnRouterSignal(int) { g_signalled.store(true, std::memory_order_relaxed); }

void Print(const router::Router& r, const RouterOptions& o, bool final, std::ostream& out) {
  const router::RouterStats s = r.Stats();
  if (o.json) {
    nlohmann::json j = router::ToJson(s, r.config());
    j["final"] = final;
    if (final && o.lockprof) j["locks"] = lockprof::ToJson(lockprof::Snapshot());
    out << j.dump() << "\n";
  } else {
    out << (final ? "--- final ---\n" : fmt::format("--- {:.1f} s ---\n", s.seconds))
        << router::FormatStats(s, r.config());
    if (final && o.lockprof) out << "\n" << lockprof::FormatTable(lockprof::Snapshot());
  }
  out.flush();
}

}  // namespace

Status ValidateRouterOptions(const RouterOptions& o) {
  if (o.config.empty()) return Invalid("--config is required: the router's TOML file");
  if (o.stats_interval && *o.stats_interval != 0)  // 0: only at exit
    if (Status st = Check(RealBound{"--stats-interval", *o.stats_interval, 0.1, kMaxSeconds});
        !st.ok())
      return st;
  if (o.duration_s != 0)
    if (Status st = Check(RealBound{"--duration", o.duration_s, 0.001, kMaxSeconds}); !st.ok())
      return st;
  return Status::Ok();
}

int RunRouter(const RouterOptions& o, const std::atomic<bool>& stop, std::ostream& out,
              std::ostream& err) {
  auto config = router::LoadRouterConfig(o.config);
  if (!config.ok()) {
    err << "netisr router: " << config.status().message() << "\n";
    return config.status().code() == ErrorCode::kNotFound ? kExitFailure : kExitUsage;
  }
  auto r = router::Router::Create(*config);
  if (!r.ok()) {
    err << "netisr router: " << r.status().message() << "\n";
    return kExitFailure;
  }
  if (o.lockprof) lockprof::Reset();
  if (Status st = (*r)->Start(); !st.ok()) {
    err << "netisr router: " << st.message() << "\n";
    return kExitFailure;
  }
  if ((*r)->control_port() != 0)
    err << fmt::format(  // [V6]:PORT for an IPv6 host, as the config takes it
        "netisr router: control on {}:{}\n",
        config->control.host.find(':') == std::string::npos ? config->control.host
                                                            : "[" + config->control.host + "]",
        (*r)->control_port());
  const double interval = o.stats_interval.value_or(config->dataplane.stats_interval_s);
  using Clock = std::chrono::steady_clock;
  auto secs = [](double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  const auto t0 = Clock::now();
  const auto deadline = t0 + secs(o.duration_s > 0 ? o.duration_s : kMaxSeconds);
  auto next = interval > 0 ? t0 + secs(interval) : Clock::time_point::max();
  while (!stop.load(std::memory_order_relaxed) && Clock::now() < deadline) {
    std::this_thread::sleep_for(kStopPoll);
    if (Clock::now() >= next) {
      Print(**r, o, false, out);
      next += secs(interval);
    }
  }
  (*r)->Stop();
  Print(**r, o, true, out);
  const int64_t balance = (*r)->Stats().Balance();
  if (balance != 0) {
    err << fmt::format("netisr router: {} frames unaccounted for (conservation broken)\n", balance);
    return kExitFailure;
  }
  return kExitOk;
}

int RouterCommand(const RouterOptions& o, std::ostream& out, std::ostream& err) {
  if (Status st = ValidateRouterOptions(o); !st.ok()) {
    err << "netisr router: " << st.message() << "\n";
    return kExitUsage;
  }
  g_signalled.store(false, std::memory_order_relaxed);
  std::signal(SIGINT, OnRouterSignal);
  std::signal(SIGTERM, OnRouterSignal);
  const int code = RunRouter(o, g_signalled, out, err);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  return code;
}

}  // namespace netisr::apps
