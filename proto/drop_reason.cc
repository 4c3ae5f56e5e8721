#include "proto/drop_reason.h"

#include <array>

namespace netisr::proto {

std::string_view ToString(DropReason r) {
  static constexpr std::array<std::string_view, kNumDropReasons> kNames = {
#define NETISR_PROTO_NAME(e, name) name,
      NETISR_PROTO_DROP_REASONS(NETISR_PROTO_NAME)
#undef NETISR_PROTO_NAME
  };
  const auto i = static_cast<size_t>(r);
  return i < kNames.size() ? kNames[i] : "unknown";
}

}  // namespace netisr::proto
