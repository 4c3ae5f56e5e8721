// Packet: the one packet handle every layer passes around, and PacketPool,
// the recycling allocator behind it.
//
// A Packet is a descriptor, not a buffer: it points at bytes owned by someone
// else (a pool buffer, a DPDK rte_mbuf, a test's array) and carries the
// metadata netisr dispatches on (flowid and its hash type, ingress source).
// Whoever finally consumes a packet calls Release(), which hands it back to
// its owner through `release`; that indirection is what lets a Packet live
// in an rte_mbuf's private area and wrap the mbuf without a copy.
//
// PacketPool follows DPDK's mempool: every descriptor and buffer is
// allocated once, up front; Alloc/Release only move a 32-bit index, with no
// allocation and no syscall. The shared store of free indices is a
// lock-free stack (internal/index_stack.h): the index freed last is handed
// out first, so a pool far larger than what is in flight still reuses
// cache-warm buffers. Until 2026-12-06 it was a FIFO MPMC ring, which gave
// every allocation the coldest buffer in the pool (`lockprof --tcp`: 14% of
// all cycles on a frame's first store). (Boost.Lockfree's stack was the
// first choice before the ring; its Treiber stack reads node links
// non-atomically, which ThreadSanitizer rightly reports; ours keeps its
// links in an array of atomics that lives as long as the pool.)
//
// Per-thread caches (rte_mempool_cache; Bonwick's magazines, USENIX 2001),
// opt-in with `cache_size`: each thread keeps up to cache_size free indices
// of each pool to itself and trades with the shared stack only in bulk,
// half a cache at a time, one CAS per transfer. Why: when a producer on one CPU
// allocates and a handler on another frees, the uncached pool costs one
// contended CAS plus a cell's cache line per packet on each side; perf put
// 51% of all cycles of a cross-CPU dispatch run in the pool
// (section 4(d) of docs/adaptive.md before its rewrite: `git show
// 62a6b8e:docs/adaptive.md`). With a cache of 256, a thread touches the
// stack once per 128 packets, and a thread that frees what it allocated (direct
// dispatch) never touches it.
//
// The price, as in DPDK: free packets parked in other threads' caches are
// invisible to Alloc, so Alloc may return nullptr while up to
// (threads - 1) x cache_size packets are free elsewhere. Hence caches are
// off by default (exact exhaustion, which small test pools rely on) and
// bounded to a quarter of the pool. available() counts cached packets too,
// so it is exact whenever no Alloc/Release runs; FlushCache() hands the
// calling thread's cache back to the shared stack for other threads to use.
//
// A thread gets a cache slot (one of kPoolCacheSlots, shared by all pools)
// on its first cached operation and gives it back when it exits; the next
// thread to take the slot inherits whatever that slot caches (the slot
// mutex orders the handover). Threads beyond kPoolCacheSlots run uncached.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/status.h"

namespace netisr {

// Protocol numbers are small dense indices assigned at registration.
using ProtocolId = uint8_t;

// What `flowid` was computed from; kNone means "no flowid yet", in which
// case the flow policy asks the protocol's m2flow. Values follow the RSS hash
// types FreeBSD records in M_HASHTYPE.
enum class HashType : uint8_t {
  kNone,
  kOpaque,  // a flowid with no defined derivation (e.g. a generator's)
  kIpv4,
  kTcpIpv4,
  kUdpIpv4,
  kIpv6,
  kTcpIpv6,
  kUdpIpv6,
};

// Packet::rx_csum_good bits: the outermost IPv4 header's checksum, and the
// TCP/UDP checksum, as the NIC verified them.
inline constexpr uint8_t kRxCsumIpGood = 1;
inline constexpr uint8_t kRxCsumL4Good = 2;

struct Packet;
using ReleaseFn = void (*)(Packet* pkt);
// Returns several packets to one kind of owner at once (e.g. DPDK's
// rte_pktmbuf_free_bulk); every packet passed has this same function.
using ReleaseBulkFn = void (*)(std::span<Packet* const> pkts);

// Two cache lines, laid out by who touches what when a packet crosses CPUs:
// the first line holds everything the dispatcher, a handler on another CPU
// and the free path read; the second (backing, meta) stays in the
// allocating CPU's cache unless a protocol layer uses meta. A producer that
// recycles a packet its consumer read then reclaims one line, not two
// (+8% and +13% in the skew benchmark; docs/adaptive.md 4, "The cost of a
// crossing").
struct alignas(64) Packet {
  // Bytes of the frame; `len` valid bytes at `data`.
  uint8_t* data = nullptr;
  uint32_t len = 0;
  // Flowid (e.g. the RSS hash) and what it was computed from.
  uint32_t flowid = 0;
  HashType hash_type = HashType::kNone;
  // (No protocol field: netisr's queues are per protocol and a handler is
  // registered per protocol, so nothing read one; stamping it cost ~3
  // instructions a packet on each dispatch, docs/benchmarks.md.)
  // Ingress identity (NIC port/queue or synthetic source); the source policy
  // maps it to a workstream.
  uint16_t source = 0;
  // When netisr queued the packet: the low 32 bits of its clock (ns), or 0
  // for not stamped; feeds queueing delay. 32 bits keep the first line
  // whole; a wait is their difference modulo 2^32, exact below 4.29 s.
  uint32_t queued_ns = 0;
  // Time the packet entered the system, in the clock the ingress chose (ns).
  uint64_t ingress_ns = 0;
  // Driver metadata, e.g. a per-flow sequence number used to check ordering.
  uint64_t seq = 0;

  // Returns the packet to its owner. Set by whoever made the descriptor.
  ReleaseFn release = nullptr;
  void* release_ctx = nullptr;
  // Optional: frees a batch of packets that all have this function, for an
  // owner whose bulk free is cheaper than one `release` each (DPDK frees an
  // array of mbufs to their mempools in one call). nullptr: per packet only.
  ReleaseBulkFn release_bulk = nullptr;

  // --- second cache line ---
  // The buffer this descriptor wraps when it does not own one (rte_mbuf*).
  void* backing = nullptr;
  // Scratch for protocol layers (offsets of parsed headers and the like).
  std::array<uint64_t, 4> meta{};
  // Checksums the receiving NIC vouches for (kRxCsum* bits: for DPDK, a
  // "good" or "none" verdict on a non-tunnel packet), 0 when the port
  // reports none: the parse chain then verifies in software. A bad or
  // unknown verdict is checked again. A vouched-for checksum field may
  // still be unfilled ("none"): whoever forwards the frame recomputes it.
  uint8_t rx_csum_good = 0;

  bool has_flowid() const { return hash_type != HashType::kNone; }
  void SetFlowId(uint32_t id, HashType type) {
    flowid = id;
    hash_type = type;
  }
  // Clears metadata, keeping the buffer binding and owner.
  void ResetMetadata();
};

static_assert(sizeof(Packet) == 128);
static_assert(offsetof(Packet, release_bulk) + sizeof(ReleaseBulkFn) <= 64,
              "what a consumer on another CPU reads must fit the first line");

// Hands `pkt` back to its owner. Every packet that enters netisr ends in
// exactly one Release (by the final handler or by a drop).
inline void Release(Packet* pkt) { pkt->release(pkt); }

// Releases every packet of `pkts`, handing each run of consecutive packets
// with the same non-null `release_bulk` to it in one call, and the others to
// `release` one by one. For drop paths that free a burst (the early filter)
// and handlers finishing a burst: packets of a PacketPool go back in one
// cache operation per run of one pool.
inline void ReleaseBulk(std::span<Packet* const> pkts) {
  for (size_t i = 0; i < pkts.size();) {
    const ReleaseBulkFn bulk = pkts[i]->release_bulk;
    if (bulk == nullptr) {
      Release(pkts[i++]);
      continue;
    }
    size_t j = i + 1;
    while (j < pkts.size() && pkts[j]->release_bulk == bulk) ++j;
    bulk(pkts.subspan(i, j - i));
    i = j;
  }
}

// Threads that can hold a PacketPool cache at once (across all pools).
inline constexpr int kPoolCacheSlots = 64;
// Largest per-thread cache a PacketPool accepts, packets.
inline constexpr uint32_t kMaxPoolCache = 512;

// Fixed-size pool of packet descriptors, each with its own buffer.
//
// Thread safety: Alloc/Release may be called from any thread concurrently
// (lock-free; the cache is the calling thread's own). The pool must outlive
// every packet it handed out.
class PacketPool {
 public:
  // `count` descriptors in [1, 1<<24], each with `buf_size` bytes in [0, 64 KiB].
  // `cache_size`: per-thread cache in packets, 0 (off) or in
  // [2, min(kMaxPoolCache, count / 4)]: at most a quarter of the pool may be
  // parked in any one thread's cache. DPDK's default of 256-512 suits bursts
  // of 32; a cache moves half its size per transfer to the shared stack.
  static Result<std::unique_ptr<PacketPool>> Create(uint32_t count, uint32_t buf_size,
                                                    uint32_t cache_size = 0);
  ~PacketPool();
  PacketPool(const PacketPool&) = delete;
  PacketPool& operator=(const PacketPool&) = delete;

  // A fresh packet (data at the start of its buffer, len 0, no flowid), or
  // nullptr if every packet is in use.
  Packet* Alloc();
  // Fills `out` as far as packets are free; returns how many were filled.
  size_t AllocBulk(std::span<Packet*> out);

  // Moves the calling thread's cached packets back to the shared stack, where
  // any thread can allocate them. No-op without a cache.
  void FlushCache();

  uint32_t capacity() const { return count_; }
  uint32_t buf_size() const { return buf_size_; }
  uint32_t cache_size() const { return cache_size_; }
  // Packets currently free, in the shared stack or in any thread's cache. Exact when
  // no Alloc/Release runs concurrently (e.g. after Netisr::Stop).
  uint32_t available() const;

 private:
  struct FreeList;
  struct Cache;
  PacketPool(uint32_t count, uint32_t buf_size, uint32_t cache_size);
  static void FreeToPool(Packet* pkt);
  // Packet::release_bulk of pool packets: runs of one pool at once (a
  // run handed over may mix pools; each goes to its own).
  static void FreeBulkToPool(std::span<Packet* const> pkts);
  Packet* Prepare(uint32_t idx);
  uint32_t IndexOf(const Packet* pkt) const { return static_cast<uint32_t>(pkt - packets_.data()); }
  // The calling thread's cache of this pool, or nullptr (caches off, or
  // no slot left).
  Cache* ThreadCache();
  void FreeIndices(const uint32_t* idx, size_t n);

  const uint32_t count_;
  const uint32_t buf_size_;
  const uint32_t cache_size_;
  std::vector<Packet> packets_;
  std::unique_ptr<uint8_t[]> buffers_;
  std::unique_ptr<FreeList> free_;
};

}  // namespace netisr
