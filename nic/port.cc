#include "nic/port.h"

namespace netisr::nic {

const char* ToString(RxDrop r) {
  switch (r) {
    case RxDrop::kNoBuffer:
      return "no_buffer";
    case RxDrop::kTooLong:
      return "too_long";
    case RxDrop::kTruncated:
      return "truncated";
    case RxDrop::kNotIp:
      return "not_ip";
    case RxDrop::kCount:
      break;
  }
  return "?";
}

uint64_t PortStats::rx_dropped() const {
  uint64_t n = 0;
  for (uint64_t d : rx_drops) n += d;
  return n;
}

}  // namespace netisr::nic
