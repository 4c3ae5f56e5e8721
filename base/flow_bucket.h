// Flow buckets: where the flow policy places a flow. One definition for
// netisr (which workstream runs a flow), inpcb (the partition and the group
// that hold its connection) and tcp (the ephemeral port that lands a new
// connection on the calling CPU), so that all three agree.
//
// A flowid maps to a flow bucket, flowid & (buckets - 1) (an entry of an
// RSS-RETA-like indirection table), and a bucket to a workstream,
// bucket % workstreams (the table's default fill, round robin, as a NIC's
// RETA and FreeBSD's rss_getcpu). Never a flowid straight to a workstream:
// all that netisr moves or pins is a bucket (affinity hints, adaptive
// migration, and the rule that queues a packet behind its bucket's
// outstanding one to keep order), so every flow of a bucket must start on
// one workstream. The old rule, flowid % workstreams, agrees with this one
// for a power-of-two workstream count up to the bucket count; for any other
// count it spread a bucket's flows over workstreams, and a flow whose
// packet was queued behind another flow of its bucket ran on the wrong
// workstream: its request/response replies then left from two producers
// and were reordered (3 CPUs, sim reqresp: 5-6 of 40,000; docs/sim.md).
//
// `buckets` is a power of two (netisr's Settings::flow_buckets, validated
// there); `workstreams` >= 1. Workstreams above the bucket count get no
// flows, so netisr refuses fewer buckets than workstreams.
#pragma once

#include <cstdint>

namespace netisr::base {

inline uint32_t FlowBucketOf(uint32_t flowid, uint32_t buckets) { return flowid & (buckets - 1); }

inline uint32_t FlowWorkstreamOf(uint32_t flowid, uint32_t workstreams, uint32_t buckets) {
  return FlowBucketOf(flowid, buckets) % workstreams;
}

}  // namespace netisr::base
