// RxFilter: the receive filter RxQueueSource runs on each RX burst before
// dispatching it (drop and rate-limit rules, the "drop as early as
// possible" hook). Declared here, by its one caller, so that the NIC layer
// depends on no protocol code: proto's EarlyFilter (proto/filter.h)
// implements it, and the dependencies point one way (nic and proto both on
// netisr; proto's filter on this header; nic on nothing of proto).
#pragma once

#include <cstddef>
#include <span>

#include "netisr/packet.h"
#include "nic/link_type.h"

namespace netisr::nic {

class RxFilter {
 public:
  virtual ~RxFilter() = default;

  // Filters `burst` in place: the packets it keeps move to the front, in
  // their order; the ones it drops it counts (under its own drop reasons)
  // and releases. Returns how many it kept. `link` says what the packets
  // start with (link_type.h). Called by the RX queue's polling thread; one
  // filter may serve several queues at once, so an implementation keeps its
  // mutable state per thread or behind its own synchronisation.
  virtual size_t Apply(std::span<Packet*> burst, LinkType link) = 0;
};

}  // namespace netisr::nic
