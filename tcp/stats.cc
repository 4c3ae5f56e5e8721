#include "tcp/stats.h"

namespace netisr::tcp {

std::string_view ToString(DropReason r) {
  switch (r) {
#define NETISR_TCP_CASE(e, s) \
  case DropReason::e:         \
    return s;
    NETISR_TCP_DROP_REASONS(NETISR_TCP_CASE)
#undef NETISR_TCP_CASE
    case DropReason::kCount:
      break;
  }
  return "?";
}

std::string_view ToString(ResetCause c) {
  switch (c) {
#define NETISR_TCP_CASE(e, s) \
  case ResetCause::e:         \
    return s;
    NETISR_TCP_RESET_CAUSES(NETISR_TCP_CASE)
#undef NETISR_TCP_CASE
    case ResetCause::kCount:
      break;
  }
  return "?";
}

}  // namespace netisr::tcp
