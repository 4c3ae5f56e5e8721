// What the strategies need of Inpcb beyond its public interface: creation,
// the reference count, the lock, the hash link. One friend for all of them.
#pragma once

#include <cstdint>
#include <cstring>

#include "inpcb/inpcb.h"

namespace netisr::inpcb::internal {

// Hash of a tuple for the tables' chains. inpcb cannot use proto's
// HashBytes (proto's TCP will sit on top of inpcb) nor trust the caller's
// flowid to spread chains (under kGroups its low bits already chose the
// group), so: the tuple's five 64-bit words, each xored with its own odd
// constant and multiplied independently (the five multiplies overlap in the
// pipeline; a serial chain cost ~10 ns, measured in table_bench), summed,
// and finished with the MurmurHash3 finalizer so every input bit reaches
// every output bit.
inline uint64_t TupleHash(const FourTuple& t) {
  uint64_t w[5];
  std::memcpy(&w[0], t.laddr.bytes.data(), 16);
  std::memcpy(&w[2], t.faddr.bytes.data(), 16);
  w[4] = (uint64_t{t.lport} << 32) | (uint64_t{t.fport} << 8) | static_cast<uint8_t>(t.family);
  uint64_t h = ((w[0] ^ 0x9e3779b97f4a7c15ULL) * 0xff51afd7ed558ccdULL) +
               ((w[1] ^ 0xc2b2ae3d27d4eb4fULL) * 0xc4ceb9fe1a85ec53ULL) +
               ((w[2] ^ 0x165667b19e3779f9ULL) * 0x94d049bb133111ebULL) +
               ((w[3] ^ 0x27d4eb2f165667c5ULL) * 0xbf58476d1ce4e5b9ULL) +
               ((w[4] ^ 0x85ebca77c2b2ae63ULL) * 0x9e3779b97f4a7c15ULL);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

struct InpcbAccess {
  // A new inpcb with one reference (the caller's, normally the table's).
  template <class T = Inpcb>
  static T* New(const FourTuple& t, uint32_t flowid, uint32_t shard, bool locked, FreeHook hook,
                void* hook_arg) {
    return new T(t, TupleHash(t), flowid, shard, locked, hook, hook_arg);
  }
  static uint64_t Hash(const Inpcb& inp) { return inp.hash_; }
  static std::atomic<Inpcb*>& Next(Inpcb& inp) { return inp.hash_next_; }
  static const std::atomic<Inpcb*>& Next(const Inpcb& inp) { return inp.hash_next_; }
  static void Ref(const Inpcb& inp) { inp.Ref(); }
  static void Unref(const Inpcb& inp) { inp.Unref(); }
  static void Lock(Inpcb& inp) { inp.Lock(); }
  static void Unlock(Inpcb& inp) { inp.Unlock(); }
  // Under the inpcb's lock and the table's writer lock. The inpcb's lock is
  // beyond the analysis (inpcb.h), so it is vouched for here.
  static void MarkRemoved(Inpcb& inp) {
    inp.AssertHeld();
    inp.state_ = ConnState::kClosed;
    inp.removed_.store(true, std::memory_order_release);  // pairs with removed()'s acquire
  }
  // Wrap a reference the caller owns (and, for Locked, the lock it holds).
  static InpcbRef AdoptRef(Inpcb* inp) { return InpcbRef(inp); }
  static LockedInpcb AdoptLocked(Inpcb* inp) { return LockedInpcb(inp); }
  // Give up the holder's reference (and lock) without releasing them.
  static Inpcb* Release(LockedInpcb& l) { return l.take(); }
};

}  // namespace netisr::inpcb::internal
