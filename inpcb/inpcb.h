// Inpcb: one connection's (or listening socket's) protocol control block,
// and the two holder types through which code reaches it.
//
// Lifetime (R. Watson, "TCP/IP and the network stack in FreeBSD: locking",
// BSDCan 2007, option 1: true reference counting): an inpcb carries an
// intrusive atomic reference count. The connection table holds one reference
// while the inpcb is linked; every InpcbRef / LockedInpcb holds one more. So
// a holder may drop the inpcb's lock, take other locks in the documented
// order, lock it again and find it still there (removed() then says whether
// it was closed meanwhile) — FreeBSD's in_pcbref / in_pcbrele_wlocked. The
// last reference frees it (the table's free hook runs first). Under the
// epoch strategy the table drops its reference only after an RCU grace
// period, so a lock-free reader that found the inpcb can still take a
// reference (see table.h).
//
// Memory orders of the count (the Boost intrusive_ptr argument): an
// increment is relaxed, because whoever increments already owns a reference
// (or is inside an RCU read-side section, during which the table's reference
// cannot be dropped), so the object cannot be freed concurrently and nothing
// is published by the increment. The decrement is acq_rel: release so that
// every holder's writes happen before the free, acquire so that the thread
// that sees the count reach zero sees all those writes before freeing.
//
// Locking: each inpcb has its own lock (lockprof class "inpcb.conn"). The
// mutable fields below are protected by it; the identity fields (tuple, flow
// id, shard) are immutable after creation and read without it. Lock order:
// a table lock (info, group, listen, epoch writer) before an inpcb lock; so
// never call a table operation that takes a table lock (Insert, Remove by
// tuple, Lookup, ForEach) while holding a LockedInpcb, except Remove() of
// that same inpcb, which drops and retakes it (see ConnectionTable::Remove).
// Under the partitioned strategy a connection is touched by its owner thread
// only, so it has no lock at all: LockedInpcb then holds just the reference.
//
// Thread-safety analysis (lockprof/thread_annotations.h): the mutable fields
// are GUARDED_BY(mu_), but the analysis cannot follow this lock: it is taken
// in one function (a table's Insert or Lookup) and handed to the caller
// inside a LockedInpcb, which releases it in another; and a partitioned
// connection has no lock at all. So Lock()/Unlock() are not annotated, and
// the accessors vouch for the lock with AssertHeld() (the caller holds a
// LockedInpcb, or is the partition owner) instead of requiring it: the
// checked part is that no other code in Inpcb touches the fields.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include "lockprof/lock.h"

namespace netisr::inpcb {

namespace internal {
struct InpcbAccess;
}  // namespace internal

enum class Family : uint8_t { kIPv4 = 4, kIPv6 = 6 };

// An IPv4 or IPv6 address in network byte order. IPv4 uses bytes [0, 4) and
// keeps the rest zero, so equality and hashing are the same for both.
struct IpAddr {
  std::array<uint8_t, 16> bytes{};

  // `host_order` as from ntohl (10.0.0.1 = 0x0a000001).
  static IpAddr V4(uint32_t host_order);
  static IpAddr V6(const std::array<uint8_t, 16>& network_order);
  bool any() const {  // INADDR_ANY / in6addr_any; two 8-byte loads, no loop
    uint64_t w[2];
    std::memcpy(w, bytes.data(), sizeof(w));
    return (w[0] | w[1]) == 0;
  }
  bool operator==(const IpAddr& o) const {
    uint64_t a[2], b[2];
    std::memcpy(a, bytes.data(), sizeof(a));
    std::memcpy(b, o.bytes.data(), sizeof(b));
    return ((a[0] ^ b[0]) | (a[1] ^ b[1])) == 0;
  }
};

// A connection's identity as TCP input sees it: local = the segment's
// destination, foreign = its source; ports in host byte order. A listening
// socket's tuple has foreign any:0 (Listener()), its local address may be
// any (a wildcard bind).
struct FourTuple {
  IpAddr laddr;
  IpAddr faddr;
  uint16_t lport = 0;
  uint16_t fport = 0;
  Family family = Family::kIPv4;

  static FourTuple V4(uint32_t laddr, uint16_t lport, uint32_t faddr, uint16_t fport);
  static FourTuple V6(const std::array<uint8_t, 16>& laddr, uint16_t lport,
                      const std::array<uint8_t, 16>& faddr, uint16_t fport);
  static FourTuple Listener(Family family, const IpAddr& laddr, uint16_t lport);
  bool listener() const { return faddr.any() && fport == 0; }
  // Field by field in 8-byte words (a defaulted == calls memcmp per array;
  // this runs once per chain entry on every lookup).
  bool operator==(const FourTuple& o) const {
    return lport == o.lport && fport == o.fport && family == o.family && laddr == o.laddr &&
           faddr == o.faddr;
  }
};

// "10.0.0.1:80 <- 10.0.0.2:4242", "[2001:db8::1]:80 <- *:*".
std::string ToString(const FourTuple& t);

// A small TCP-like state, enough for the table's users to track a
// connection's life (the real TCP state machine is not part of inpcb).
enum class ConnState : uint8_t {
  kListen,       // a listening socket (wildcard foreign end)
  kSynReceived,  // inserted on a SYN, handshake not finished
  kEstablished,
  kClosed,  // removed from the table (set by Remove)
};
const char* ToString(ConnState s);

class Inpcb;
// Called once per inpcb, just before it is freed, on whichever thread
// dropped the last reference (the RCU callback thread under epoch). `arg`
// is TableSettings::free_hook_arg and must outlive every inpcb.
using FreeHook = void (*)(const Inpcb& inp, void* arg);

class Inpcb {
 public:
  Inpcb(const Inpcb&) = delete;
  Inpcb& operator=(const Inpcb&) = delete;

  // Immutable after creation: read without the lock.
  const FourTuple& tuple() const { return tuple_; }
  bool listener() const { return tuple_.listener(); }
  // The flowid (RSS hash) the connection was inserted with; 0 for listeners.
  uint32_t flowid() const { return flowid_; }
  // Group (groups) or partition (partitioned) holding it; 0 otherwise and
  // for listeners.
  uint32_t shard() const { return shard_; }

  // Protected by the inpcb's lock (hold a LockedInpcb).
  ConnState state() const {
    AssertHeld();
    return state_;
  }
  void set_state(ConnState s) {
    AssertHeld();
    state_ = s;
  }
  uint64_t segments_in() const {
    AssertHeld();
    return segments_in_;
  }
  uint64_t segments_out() const {
    AssertHeld();
    return segments_out_;
  }
  uint64_t bytes_in() const {
    AssertHeld();
    return bytes_in_;
  }
  void CountSegmentIn(uint32_t payload_bytes) {
    AssertHeld();
    ++segments_in_;
    bytes_in_ += payload_bytes;
  }
  void CountSegmentOut() {
    AssertHeld();
    ++segments_out_;
  }

  // True once removed from the table. Written under the inpcb's lock (and
  // the table's writer lock) with release; acquire here, so a holder that
  // does not hold the lock gets a valid hint (it may change right after).
  bool removed() const { return removed_.load(std::memory_order_acquire); }
  // Current reference count; relaxed, for tests and diagnostics only.
  uint32_t refs() const { return refs_.load(std::memory_order_relaxed); }

 protected:
  // Created by the table only (internal::InpcbAccess), with one reference
  // (the table's). `locked`: false for partitioned connections (owner only).
  Inpcb(const FourTuple& t, uint64_t hash, uint32_t flowid, uint32_t shard, bool locked,
        FreeHook hook, void* hook_arg);
  virtual ~Inpcb() = default;  // the epoch strategy allocates a subclass

 private:
  friend struct internal::InpcbAccess;
  friend class InpcbRef;
  friend class LockedInpcb;

  // Relaxed: see the file comment (the caller already owns a reference).
  void Ref() const { refs_.fetch_add(1, std::memory_order_relaxed); }
  // acq_rel: see the file comment. Frees on the last reference.
  void Unref() const;
  // Conditional (no lock under partitioned) and handed over to a
  // LockedInpcb: beyond the analysis (see the file comment).
  void Lock() NO_THREAD_SAFETY_ANALYSIS {
    if (has_lock_) mu_.lock();
  }
  void Unlock() NO_THREAD_SAFETY_ANALYSIS {
    if (has_lock_) mu_.unlock();
  }
  // The analysis' escape for the fields below: the caller holds the inpcb
  // through a LockedInpcb (or owns its partition). Checks nothing at run
  // time.
  void AssertHeld() const ASSERT_CAPABILITY(mu_) {}

  const FourTuple tuple_;
  const uint64_t hash_;  // internal::TupleHash(tuple_), cached for the hash chains
  const uint32_t flowid_;
  const uint32_t shard_;
  const bool has_lock_;
  const FreeHook free_hook_;
  void* const free_hook_arg_;

  mutable std::atomic<uint32_t> refs_{1};
  lockprof::Mutex mu_;
  // Protected by mu_ (or the owner thread when !has_lock_).
  ConnState state_ GUARDED_BY(mu_);
  uint64_t segments_in_ GUARDED_BY(mu_) = 0;
  uint64_t segments_out_ GUARDED_BY(mu_) = 0;
  uint64_t bytes_in_ GUARDED_BY(mu_) = 0;
  // Set under mu_ and the table's writer lock; see removed().
  std::atomic<bool> removed_{false};
  // Next inpcb in its hash chain. Written only under the owning table's
  // writer lock (or by the partition owner), with release; read with
  // acquire by lookups (under the table lock, or lock-free under RCU).
  std::atomic<Inpcb*> hash_next_{nullptr};
};

class LockedInpcb;

namespace internal {

// What the two holders share: the pointer, access to it, and moves that
// leave the source empty (Derived::reset releases what it held). Not a
// holder by itself.
template <class Derived>
class InpcbHolder {
 public:
  Inpcb* get() const { return inp_; }
  Inpcb* operator->() const { return inp_; }
  Inpcb& operator*() const { return *inp_; }
  explicit operator bool() const { return inp_ != nullptr; }

 protected:
  InpcbHolder() = default;
  explicit InpcbHolder(Inpcb* adopt) : inp_(adopt) {}
  InpcbHolder(InpcbHolder&& o) noexcept : inp_(o.take()) {}
  InpcbHolder& operator=(InpcbHolder&& o) noexcept {
    std::swap(inp_, o.inp_);
    static_cast<Derived&>(o).reset();
    return *this;
  }
  ~InpcbHolder() = default;
  // Empties the holder without releasing anything; returns what it held.
  Inpcb* take() { return std::exchange(inp_, nullptr); }

  Inpcb* inp_ = nullptr;
};

}  // namespace internal

// A counted reference, not locked: the inpcb stays allocated while held.
class InpcbRef : public internal::InpcbHolder<InpcbRef> {
 public:
  InpcbRef() = default;
  ~InpcbRef() { reset(); }
  InpcbRef(const InpcbRef& o) : InpcbHolder(o.inp_) {
    if (inp_) inp_->Ref();
  }
  InpcbRef& operator=(const InpcbRef& o) {
    InpcbRef copy(o);
    std::swap(inp_, copy.inp_);
    return *this;
  }
  InpcbRef(InpcbRef&&) noexcept = default;
  InpcbRef& operator=(InpcbRef&&) noexcept = default;

  // Takes the inpcb's lock (blocking), keeping the reference. The inpcb may
  // have been removed while unlocked: check removed() after.
  LockedInpcb Lock() &&;
  void reset();

 private:
  friend struct internal::InpcbAccess;
  friend class LockedInpcb;
  explicit InpcbRef(Inpcb* adopt) : InpcbHolder(adopt) {}
};

// A counted reference holding the inpcb's lock (FreeBSD's INP_WLOCK after
// in_pcblookup(..., INPLOOKUP_WLOCKPCB)). Move-only; unlocks and drops the
// reference when destroyed.
class LockedInpcb : public internal::InpcbHolder<LockedInpcb> {
 public:
  LockedInpcb() = default;
  ~LockedInpcb() { reset(); }
  LockedInpcb(const LockedInpcb&) = delete;
  LockedInpcb& operator=(const LockedInpcb&) = delete;
  LockedInpcb(LockedInpcb&&) noexcept = default;
  LockedInpcb& operator=(LockedInpcb&&) noexcept = default;

  // Drops the lock, keeps the reference (to take other locks first).
  InpcbRef Unlock() &&;
  void reset();

 private:
  friend struct internal::InpcbAccess;
  friend class InpcbRef;
  explicit LockedInpcb(Inpcb* adopt_locked) : InpcbHolder(adopt_locked) {}
};

}  // namespace netisr::inpcb
