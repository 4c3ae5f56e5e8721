#include "proto/parse_drop.h"

#include <array>

namespace netisr::proto {

std::string_view ToString(ParseDrop r) {
  static constexpr std::array<std::string_view, kNumParseDrops> kNames = {
#define NETISR_PROTO_NAME(e, name) name,
      NETISR_PROTO_PARSE_DROPS(NETISR_PROTO_NAME)
#undef NETISR_PROTO_NAME
  };
  const auto i = static_cast<size_t>(r);
  return i < kNames.size() ? kNames[i] : "unknown";
}

}  // namespace netisr::proto
