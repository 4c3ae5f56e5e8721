// Test-only access to a dispatcher's internals, for regression tests of
// states the public interface cannot reach in a unit test's time: a
// producer's chunk count near where a 32-bit count wrapped (2^32 chunks, ~7
// minutes at 10 Mpps), and a queue length that reads lower than its ring's
// fill (a relaxed-ordering outcome x86 never shows). Not part of the user's
// API: only tests include it.
#pragma once

#include <cstdint>

#include "netisr/internal/dispatcher.h"
#include "netisr/netisr.h"

namespace netisr::internal {

struct TestPeer {
  // Sets producer `p`'s count of classified chunks (Producer::chunk); the
  // caller's next chunk is `chunk` + 1. Only while nothing runs on `p`.
  static void SetProducerChunk(Netisr& n, int p, uint64_t chunk) {
    Dispatcher::Of(n).producers_[p]->chunk = chunk;
  }
  // Adds `delta` to workstream `ws`'s queue length for `proto`, as a
  // producer sees it (WorkstreamProto::admitted).
  static void AddQueueLength(Netisr& n, int ws, ProtocolId proto, int64_t delta) {
    Dispatcher::Of(n).workstreams_[ws]->protos[proto].admitted.fetch_add(delta,
                                                                         std::memory_order_relaxed);
  }
  // Index of the first external producer slot (a ProducerScope's).
  static int FirstExternalProducer(const Netisr& n) { return Dispatcher::Of(n).nws_; }
};

}  // namespace netisr::internal
