#include "netisr/packet.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "lockprof/lock.h"
#include "netisr/internal/index_stack.h"

namespace netisr {

void Packet::ResetMetadata() {
  flowid = 0;
  hash_type = HashType::kNone;
  source = 0;
  ingress_ns = 0;
  queued_ns = 0;
  seq = 0;
  meta = {};
  rx_csum_good = 0;
}

namespace {

// Cache slots: a thread takes the lowest free slot on its first cached pool
// operation and returns it when it exits. `g_slots_used` is guarded by
// `g_slot_mu`, which also orders a slot's handover from an exiting thread to
// its next holder (so the new holder sees the cache contents the old one
// left). Taken once per thread, never on the packet path after that. A
// lockprof::PlainMutex (std::mutex as a capability, unprofiled) rather than a
// lockprof::Mutex: it is also taken in a thread_local destructor at thread
// exit, when lockprof's per-thread state may already be destroyed, and twice
// per thread there is nothing to profile. It is a leaf: nothing else is
// locked while it is held.
lockprof::PlainMutex g_slot_mu;
uint64_t g_slots_used GUARDED_BY(g_slot_mu) = 0;  // bit per slot

constexpr int kSlotUnassigned = -2;
constexpr int kNoSlot = -1;  // all kPoolCacheSlots taken: run uncached
static_assert(kPoolCacheSlots <= 64, "g_slots_used is a 64-bit mask");

thread_local int tls_slot = kSlotUnassigned;

// Out of ~SlotReturn because clang's thread-safety analysis skips
// destructors: here it checks that g_slots_used is written under g_slot_mu.
void FreeSlot() {
  if (tls_slot < 0) return;
  lockprof::MutexLock lock(g_slot_mu);
  g_slots_used &= ~(uint64_t{1} << tls_slot);
  tls_slot = kNoSlot;
}

struct SlotReturn {
  ~SlotReturn() { FreeSlot(); }
};

int AssignSlot() {
  // Constructed on the first call in each thread; its destructor runs at
  // thread exit and frees the slot.
  thread_local SlotReturn slot_return;
  lockprof::MutexLock lock(g_slot_mu);
  const uint64_t free = ~g_slots_used;
  if (free == 0) return tls_slot = kNoSlot;
  const int s = __builtin_ctzll(free);
  if (s >= kPoolCacheSlots) return tls_slot = kNoSlot;
  g_slots_used |= uint64_t{1} << s;
  return tls_slot = s;
}

inline int CacheSlot() {
  const int s = tls_slot;
  return s != kSlotUnassigned ? s : AssignSlot();
}

// Indices converted per step when releasing a run of packets.
constexpr size_t kReleaseStep = 64;

}  // namespace

// One thread's cache of free indices of one pool (a DPDK rte_mempool_cache).
struct alignas(64) PacketPool::Cache {
  // Cached indices are idx[0, len), newest last. `idx` and the value of
  // `len` belong to the thread holding the slot. `len` is atomic only so
  // that available() may read it from any thread: relaxed store by the
  // owner, relaxed load by readers, pairing with nothing (a statistic).
  std::atomic<uint32_t> len{0};
  uint32_t* idx = nullptr;
};

struct PacketPool::FreeList {
  FreeList(uint32_t n, uint32_t cache_size) : stack(n) {
    if (cache_size == 0) return;
    // Each slot's array starts on its own cache line: neighbours are
    // different threads.
    const size_t stride = (cache_size + 15) / 16 * 16;
    storage = std::make_unique<uint32_t[]>(stride * kPoolCacheSlots + 16);
    auto* base = reinterpret_cast<uint32_t*>((reinterpret_cast<uintptr_t>(storage.get()) + 63) &
                                             ~uintptr_t{63});
    caches = std::make_unique<Cache[]>(kPoolCacheSlots);
    for (int i = 0; i < kPoolCacheSlots; ++i) caches[i].idx = base + stride * i;
  }
  // Indices into packets_ of the free packets not in any cache, the most
  // recently freed on top (internal/index_stack.h).
  internal::IndexStack stack;
  std::unique_ptr<Cache[]> caches;  // by cache slot; null when caches are off
  std::unique_ptr<uint32_t[]> storage;
#ifndef NDEBUG
  // Debug builds (the tests, under the sanitizers too): by index, 1 while
  // the packet is handed out. A second Release of one packet would put its
  // index on the stack twice, and two later Allocs would share a buffer,
  // far from the bug; this stops the program at the second Release. An
  // atomic exchange per Alloc and Release: not paid in -c opt.
  std::unique_ptr<std::atomic<uint8_t>[]> out {};
#endif
};

namespace {

// Debug builds: records packet `idx` of a pool handed out (Alloc) or back
// (Release), and aborts on a Release of a packet not handed out.
[[maybe_unused]] void CheckOwnership(std::atomic<uint8_t>* out, uint32_t idx, bool alloc) {
  // Relaxed: the flag orders nothing; the free list's own CAS orders the
  // packet's hand-over.
  const uint8_t was = out[idx].exchange(alloc ? 1 : 0, std::memory_order_relaxed);
  if (!alloc && was == 0) {
    std::fprintf(stderr,
                 "netisr: PacketPool: packet %u released twice (or never allocated from this "
                 "pool)\n",
                 idx);
    std::abort();
  }
}

}  // namespace

Result<std::unique_ptr<PacketPool>> PacketPool::Create(uint32_t count, uint32_t buf_size,
                                                       uint32_t cache_size) {
  constexpr uint32_t kMaxCount = 1u << 24;
  constexpr uint32_t kMaxBuf = 64 * 1024;
  if (count == 0 || count > kMaxCount) {
    return Status(ErrorCode::kInvalidArgument, "packet pool count " + std::to_string(count) +
                                                   " out of range [1, " +
                                                   std::to_string(kMaxCount) + "]");
  }
  if (buf_size > kMaxBuf) {
    return Status(
        ErrorCode::kInvalidArgument,
        "packet pool buffer size " + std::to_string(buf_size) + " out of range [0, 65536]");
  }
  if (cache_size != 0 && (cache_size < 2 || cache_size > kMaxPoolCache || cache_size > count / 4)) {
    return Status(ErrorCode::kInvalidArgument,
                  "packet pool cache size " + std::to_string(cache_size) +
                      " out of range: 0 (off) or [2, min(" + std::to_string(kMaxPoolCache) +
                      ", count / 4 = " + std::to_string(count / 4) + ")]");
  }
  return std::unique_ptr<PacketPool>(new PacketPool(count, buf_size, cache_size));
}

PacketPool::PacketPool(uint32_t count, uint32_t buf_size, uint32_t cache_size)
    : count_(count),
      buf_size_(buf_size),
      cache_size_(cache_size),
      packets_(count),
      buffers_(new uint8_t[static_cast<size_t>(count) * buf_size]),
      free_(std::make_unique<FreeList>(count, cache_size)) {
#ifndef NDEBUG
  free_->out = std::make_unique<std::atomic<uint8_t>[]>(count);
#endif
  for (uint32_t i = count; i-- > 0;) {
    Packet& p = packets_[i];
    p.data = buffers_.get() + static_cast<size_t>(i) * buf_size;
    p.release = &PacketPool::FreeToPool;
    p.release_bulk = &PacketPool::FreeBulkToPool;
    p.release_ctx = this;
  }
  // Index 0 on top, so that a fresh pool hands out its buffers in address
  // order.
  uint32_t chunk[kReleaseStep];
  for (uint32_t hi = count; hi > 0;) {
    const uint32_t lo = hi - std::min<uint32_t>(hi, kReleaseStep);
    for (uint32_t i = 0; i < hi - lo; ++i) chunk[i] = hi - 1 - i;
    free_->stack.PushBulk(chunk, hi - lo);
    hi = lo;
  }
}

PacketPool::~PacketPool() = default;

// Read off the shared stack (its top's depth) and the caches' lengths rather
// than kept in a counter of its own: a shared counter cost one contended
// read-modify-write per Alloc and per Release (37% of Release's cycles
// under cross-CPU traffic). A flush in progress counts its packets twice
// for a moment, hence the clamp.
uint32_t PacketPool::available() const {
  uint64_t n = free_->stack.size();
  if (free_->caches) {
    for (int i = 0; i < kPoolCacheSlots; ++i)
      n += free_->caches[i].len.load(std::memory_order_relaxed);
  }
  return static_cast<uint32_t>(std::min<uint64_t>(n, count_));
}

PacketPool::Cache* PacketPool::ThreadCache() {
  if (!free_->caches) return nullptr;
  const int s = CacheSlot();
  return s >= 0 ? &free_->caches[s] : nullptr;
}

Packet* PacketPool::Prepare(uint32_t idx) {
#ifndef NDEBUG
  CheckOwnership(free_->out.get(), idx, /*alloc=*/true);
#endif
  Packet* p = &packets_[idx];
  p->data = buffers_.get() + static_cast<size_t>(idx) * buf_size_;
  p->len = 0;
  p->backing = nullptr;
  p->ResetMetadata();
  return p;
}

Packet* PacketPool::Alloc() {
  Packet* p = nullptr;
  return AllocBulk({&p, 1}) == 1 ? p : nullptr;
}

size_t PacketPool::AllocBulk(std::span<Packet*> out) {
  const size_t want = out.size();
  size_t n = 0;
  Cache* c = ThreadCache();
  if (c == nullptr) {
    uint32_t idx[kReleaseStep];
    while (n < want) {
      const size_t k = free_->stack.PopBulk(idx, std::min(kReleaseStep, want - n));
      if (k == 0) break;
      for (size_t i = 0; i < k; ++i) out[n++] = Prepare(idx[i]);
    }
    return n;
  }
  uint32_t len = c->len.load(std::memory_order_relaxed);
  while (n < want) {
    if (len == 0) {
      // Refill half a cache, or what this call still wants if more, in one
      // transfer. The stack's top (the most recently freed) comes first;
      // reversed, it is the cache's newest and is handed out first.
      const size_t fill =
          std::min<size_t>(cache_size_, std::max<size_t>(cache_size_ / 2, want - n));
      len = static_cast<uint32_t>(free_->stack.PopBulk(c->idx, fill));
      if (len == 0) break;  // the stack is empty too
      std::reverse(c->idx, c->idx + len);
    }
    const size_t take = std::min<size_t>(len, want - n);
    // Packets freed on another CPU have their descriptor lines there:
    // request all of them for writing before Prepare stores into each, so
    // the transfers overlap instead of stalling one after another.
    for (size_t i = 1; i <= take; ++i) __builtin_prefetch(&packets_[c->idx[len - i]], 1);
    // Newest first: the most recently freed packets are the likeliest to
    // be in this core's cache.
    for (size_t i = 0; i < take; ++i) out[n++] = Prepare(c->idx[--len]);
  }
  c->len.store(len, std::memory_order_relaxed);
  return n;
}

void PacketPool::FreeIndices(const uint32_t* idx, size_t n) {
#ifndef NDEBUG
  for (size_t i = 0; i < n; ++i) CheckOwnership(free_->out.get(), idx[i], /*alloc=*/false);
#endif
  Cache* c = ThreadCache();
  if (c == nullptr) {
    free_->stack.PushBulk(idx, n);
    return;
  }
  uint32_t len = c->len.load(std::memory_order_relaxed);
  for (size_t i = 0; i < n; ++i) {
    if (len == cache_size_) {
      // Full: the older half goes back to the stack in one transfer; the
      // newer half, likelier to be in this core's cache, stays.
      const uint32_t half = cache_size_ / 2;
      free_->stack.PushBulk(c->idx, half);
      std::memmove(c->idx, c->idx + half, (len - half) * sizeof(uint32_t));
      len -= half;
    }
    c->idx[len++] = idx[i];
  }
  c->len.store(len, std::memory_order_relaxed);
}

void PacketPool::FlushCache() {
  Cache* c = ThreadCache();
  if (c == nullptr) return;
  free_->stack.PushBulk(c->idx, c->len.load(std::memory_order_relaxed));
  c->len.store(0, std::memory_order_relaxed);
}

void PacketPool::FreeToPool(Packet* pkt) {
  auto* pool = static_cast<PacketPool*>(pkt->release_ctx);
  const uint32_t idx = pool->IndexOf(pkt);
  pool->FreeIndices(&idx, 1);
}

void PacketPool::FreeBulkToPool(std::span<Packet* const> pkts) {
  size_t i = 0;
  while (i < pkts.size()) {
    // A run of packets of one pool goes back in steps of kReleaseStep.
    auto* pool = static_cast<PacketPool*>(pkts[i]->release_ctx);
    uint32_t idx[kReleaseStep];
    size_t k = 0;
    while (i < pkts.size() && pkts[i]->release_ctx == pool) {
      idx[k++] = pool->IndexOf(pkts[i++]);
      if (k == kReleaseStep) {
        pool->FreeIndices(idx, k);
        k = 0;
      }
    }
    pool->FreeIndices(idx, k);
  }
}

}  // namespace netisr
