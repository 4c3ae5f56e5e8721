// Synthetic ingress (see synthetic_source.h). Everything a source touches
// per packet is its own: its pool, its RNG, its per-flow sequence counters,
// so sources on different workers share nothing but netisr itself.
#include "harness/synthetic_source.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "sched_feedback/clock.h"

namespace netisr::harness {

namespace {

// A source hands netisr at most this many packets per Poll; netisr's own
// burst setting is bounded by the same number.
constexpr size_t kMaxBurst = 256;

// SplitMix64: cheap, and good enough that consecutive seeds give unrelated
// streams, so sources seeded seed ^ id do not pick flows in lockstep.
uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// MurmurHash3's finaliser: a bijection on 32 bits, so distinct flows keep
// distinct flowids, with every input bit affecting the low bits that the
// flow bucket (base/flow_bucket.h) looks at.
uint32_t Fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

// How many of flows 0..flows-1 belong to sources 0..s-1 (flow f belongs to
// source f % sources).
uint64_t FlowsBefore(uint32_t flows, uint16_t sources, uint16_t s) {
  return uint64_t{s} * (flows / sources) + std::min<uint64_t>(s, flows % sources);
}

// floor(a * b / c) without overflow.
uint64_t MulDiv(uint64_t a, uint64_t b, uint64_t c) {
  return static_cast<uint64_t>(static_cast<unsigned __int128>(a) * b / c);
}

}  // namespace

std::vector<uint64_t> SourceQuotas(uint64_t total, uint32_t flows, uint16_t sources,
                                   std::optional<double> skew) {
  std::vector<uint64_t> q(sources, 0);
  if (sources == 0 || flows == 0) return q;
  const uint16_t owners = static_cast<uint16_t>(std::min<uint32_t>(flows, sources));
  if (!skew) {
    // Cumulative rounding: the quotas telescope to exactly `total`.
    for (uint16_t s = 0; s < sources; ++s)
      q[s] = MulDiv(total, FlowsBefore(flows, sources, s + 1), flows) -
             MulDiv(total, FlowsBefore(flows, sources, s), flows);
    return q;
  }
  if (owners == 1) {
    q[0] = total;
    return q;
  }
  q[0] = std::min(total, static_cast<uint64_t>(std::llround(*skew * static_cast<double>(total))));
  const uint64_t rest = total - q[0];
  const uint64_t others = owners - 1u;
  for (uint16_t s = 1; s < owners; ++s)
    q[s] = MulDiv(rest, s, others) - MulDiv(rest, s - 1u, others);
  return q;
}

uint32_t FlowIdOf(uint32_t flow, uint64_t seed) {
  uint64_t state = seed;
  return Fmix32(flow ^ static_cast<uint32_t>(SplitMix64(state)));
}

uint32_t FlowOfPayload(const Packet& pkt) {
  uint32_t flow;
  std::memcpy(&flow, pkt.data, sizeof(flow));
  return flow;
}

SyntheticSource::SyntheticSource(const SourceSpec& spec)
    : spec_(spec),
      owned_flows_(
          static_cast<uint32_t>(FlowsBefore(spec.num_flows, spec.num_sources, spec.id + 1) -
                                FlowsBefore(spec.num_flows, spec.num_sources, spec.id))),
      pacer_(spec.rate_pps),
      next_seq_(owned_flows_, 0),
      rng_state_(spec.seed ^ (uint64_t{spec.id} << 48)) {}

size_t SyntheticSource::Poll(Netisr& nisr, size_t budget) {
  Packet* burst[kMaxBurst];
  size_t want = std::min<uint64_t>({budget, kMaxBurst, spec_.packets - emitted_});
  const uint64_t now = sched::FastClock::Global().NowNs();
  const uint64_t arrived = pacer_.Arrived(now);
  if (arrived <= emitted_) return 0;  // ahead of schedule
  want = std::min<uint64_t>(want, arrived - emitted_);
  // A short or empty allocation is backpressure: handlers free packets as
  // they finish, and the next round picks up where this one stopped.
  const size_t got = spec_.pool->AllocBulk({burst, want});
  if (got == 0) return 0;
  // Recycled buffers may sit in the cache of the CPU that handled them:
  // ask for all of them before writing any.
  for (size_t i = 0; i < got; ++i) __builtin_prefetch(burst[i]->data, 1);
  for (size_t i = 0; i < got; ++i) {
    // Unpaced: one clock read per burst, as packets of a burst arrive
    // together on a NIC. Paced: each packet's scheduled arrival (<= now).
    Fill(*burst[i], pacer_.StampNs(emitted_ + i, now));
  }
  nisr.DispatchBurst(spec_.id, spec_.proto, {burst, got});
  emitted_ += got;
  return got;
}

void SyntheticSource::Fill(Packet& pkt, uint64_t ingress_ns) {
  const uint32_t local = owned_flows_ == 1 ? 0 : NextRandom() % owned_flows_;
  const uint32_t flow = spec_.id + local * spec_.num_sources;
  pkt.SetFlowId(FlowIdOf(flow, spec_.seed), HashType::kOpaque);
  pkt.seq = ++next_seq_[local];
  pkt.ingress_ns = ingress_ns;
  pkt.len = kPayloadBytes;
  std::memcpy(pkt.data, &flow, sizeof(flow));
  std::memset(pkt.data + sizeof(flow), 0xa5, kPayloadBytes - sizeof(flow));
}

uint64_t SyntheticSource::NextRandom() { return SplitMix64(rng_state_); }

}  // namespace netisr::harness
