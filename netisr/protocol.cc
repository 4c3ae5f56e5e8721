#include "netisr/protocol.h"

#include "netisr/stats.h"

namespace netisr {

std::string_view ToString(Policy p) {
  switch (p) {
    case Policy::kSource:
      return "source";
    case Policy::kFlow:
      return "flow";
    case Policy::kCpu:
      return "cpu";
  }
  return "?";
}

std::string_view ToString(DispatchMode m) {
  switch (m) {
    case DispatchMode::kDirect:
      return "direct";
    case DispatchMode::kDeferred:
      return "deferred";
    case DispatchMode::kHybrid:
      return "hybrid";
    case DispatchMode::kAdaptive:
      return "adaptive";
  }
  return "?";
}

std::optional<Policy> ParsePolicy(std::string_view s) {
  for (Policy p : {Policy::kSource, Policy::kFlow, Policy::kCpu}) {
    if (ToString(p) == s) return p;
  }
  return std::nullopt;
}

std::optional<DispatchMode> ParseDispatchMode(std::string_view s) {
  for (DispatchMode m : {DispatchMode::kDirect, DispatchMode::kDeferred, DispatchMode::kHybrid,
                         DispatchMode::kAdaptive}) {
    if (ToString(m) == s) return m;
  }
  return std::nullopt;
}

const char* ToString(DropReason r) {
  switch (r) {
    case DropReason::kQueueFull:
      return "queue_full";
    case DropReason::kNoCpu:
      return "no_cpu";
    case DropReason::kNoProtocol:
      return "no_protocol";
    case DropReason::kNoProducer:
      return "no_producer";
    case DropReason::kShutdown:
      return "shutdown";
    case DropReason::kCount:
      break;
  }
  return "?";
}

}  // namespace netisr
