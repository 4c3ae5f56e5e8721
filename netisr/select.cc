#include "netisr/internal/select.h"

namespace netisr::internal {

namespace {
int BySource(uint16_t source, int nws) { return source % nws; }
}  // namespace

int SelectWorkstream(const ProtocolSpec& spec, Packet& pkt, uint16_t source, int nws) {
  switch (spec.policy) {
    case Policy::kSource:
      return BySource(source, nws);
    case Policy::kFlow:
      if (pkt.has_flowid() || (spec.m2flow && spec.m2flow(pkt))) {
        return static_cast<int>(pkt.flowid % static_cast<uint32_t>(nws));
      }
      return BySource(source, nws);  // FreeBSD's fallback when no flow id exists
    case Policy::kCpu: {
      const std::optional<int> ws = spec.m2cpuid(pkt, source);
      return (ws && *ws >= 0 && *ws < nws) ? *ws : -1;
    }
  }
  return -1;
}

}  // namespace netisr::internal
