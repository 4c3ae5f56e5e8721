#include "router/neighbor_table.h"

#include <bit>
#include <cstring>

namespace netisr::router {

namespace {

inline constinit lockprof::LockClass kNeighbourLock("router.neighbour_table");

constexpr uint64_t kOccupied = uint64_t{1} << 63;
constexpr uint64_t kV6Bit = uint64_t{1} << 16;

struct Key {
  uint64_t k0, k1, k2;
};

Key KeyOf(uint16_t port, const IpAddr& a) {
  Key k{kOccupied | port | (a.v6 ? kV6Bit : 0), 0, 0};
  if (a.v6) {
    std::memcpy(&k.k1, a.v6_bytes.data(), 8);
    std::memcpy(&k.k2, a.v6_bytes.data() + 8, 8);
  } else {
    k.k1 = a.v4;
  }
  return k;
}

uint64_t Mix(uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t HashOf(const Key& k) { return Mix(k.k0 ^ Mix(k.k1 ^ Mix(k.k2))); }

uint64_t PackValue(const MacAddr& mac, NeighbourState st) {
  uint64_t v = 0;
  for (int i = 0; i < 6; ++i) v |= uint64_t{mac[i]} << (8 * i);
  return v | (uint64_t{static_cast<uint8_t>(st)} << 48);
}

MacAddr MacOf(uint64_t v) {
  MacAddr m;
  for (int i = 0; i < 6; ++i) m[i] = static_cast<uint8_t>(v >> (8 * i));
  return m;
}

NeighbourState StateOf(uint64_t v) { return static_cast<NeighbourState>((v >> 48) & 0xff); }

bool Usable(NeighbourState s) { return s != NeighbourState::kIncomplete; }

Status OutOfRange(const char* field, uint64_t v, const char* bound) {
  return Status(ErrorCode::kInvalidArgument, std::string("neighbour table: ") + field + " " +
                                                 std::to_string(v) + " out of range " + bound);
}

}  // namespace

// The lock-free read side of one entry (see the threading note).
struct NeighbourTable::Slot {
  std::atomic<uint32_t> seq{0};  // odd while the writer changes the slot
  std::atomic<uint8_t> used{0};  // a reader used this stale entry (relaxed, no pairing)
  std::atomic<uint64_t> k0{0}, k1{0}, k2{0};  // Key; k0 == 0: empty
  std::atomic<uint64_t> value{0};             // PackValue
};

// The writer's side of one entry, under mu_.
struct NeighbourTable::Entry {
  bool in_use = false;
  uint16_t port = 0;
  IpAddr addr;
  MacAddr mac{};
  NeighbourState state = NeighbourState::kIncomplete;
  // kReachable: when confirmed; kStale: since when stale (or last probe).
  uint64_t since_ns = 0;
  uint64_t next_probe_ns = 0;  // kIncomplete, or kStale while probing
  uint32_t probes = 0;         // requests sent in this round
  std::vector<Packet*> queue;  // kIncomplete: waiting packets, arrival order
};

std::string_view ToString(NeighbourState s) {
  switch (s) {
    case NeighbourState::kIncomplete:
      return "incomplete";
    case NeighbourState::kReachable:
      return "reachable";
    case NeighbourState::kStale:
      return "stale";
    case NeighbourState::kStatic:
      return "static";
  }
  return "unknown";
}

Status Validate(const NeighbourOptions& o) {
  if (o.capacity < 16 || o.capacity > (1u << 20) || !std::has_single_bit(o.capacity)) {
    return OutOfRange("capacity", o.capacity, "(want a power of two in [16, 1048576])");
  }
  if (o.queue_per_neighbour < 1 || o.queue_per_neighbour > 1024) {
    return OutOfRange("queue_per_neighbour", o.queue_per_neighbour, "[1, 1024]");
  }
  if (o.queue_total < 1 || o.queue_total > (1u << 20)) {
    return OutOfRange("queue_total", o.queue_total, "[1, 1048576]");
  }
  if (o.retrans_ns < 10'000'000 || o.retrans_ns > 60'000'000'000) {
    return OutOfRange("retrans_ns", o.retrans_ns, "[10 ms, 60 s]");
  }
  if (o.max_probes < 1 || o.max_probes > 16) {
    return OutOfRange("max_probes", o.max_probes, "[1, 16]");
  }
  if (o.reachable_ns < 1'000'000'000 || o.reachable_ns > 3'600'000'000'000) {
    return OutOfRange("reachable_ns", o.reachable_ns, "[1 s, 1 h]");
  }
  if (o.stale_ns < 1'000'000'000 || o.stale_ns > 86'400'000'000'000) {
    return OutOfRange("stale_ns", o.stale_ns, "[1 s, 1 day]");
  }
  return Status::Ok();
}

Result<std::unique_ptr<NeighbourTable>> NeighbourTable::Create(const NeighbourOptions& o) {
  if (Status s = Validate(o); !s.ok()) return s;
  return std::unique_ptr<NeighbourTable>(new NeighbourTable(o));
}

NeighbourTable::NeighbourTable(const NeighbourOptions& o)
    : options_(o),
      slots_(new Slot[o.capacity]),
      mu_(kNeighbourLock),
      entries_(new Entry[o.capacity]) {}

NeighbourTable::~NeighbourTable() {
  std::vector<Packet*> release;
  {
    lockprof::MutexLock g(mu_);
    for (uint32_t i = 0; i < options_.capacity; ++i) {
      Entry& e = entries_[i];
      release.insert(release.end(), e.queue.begin(), e.queue.end());
      waiting_total_ -= e.queue.size();
      e.queue.clear();
    }
  }
  ReleaseUnresolved(release);
}

void NeighbourTable::ReleaseUnresolved(std::vector<Packet*>& pkts) {
  if (pkts.empty()) return;
  {
    lockprof::MutexLock g(mu_);
    unresolved_.Add(pkts.size());
  }
  ReleaseBulk(pkts);
  pkts.clear();
}

std::optional<MacAddr> NeighbourTable::Lookup(uint16_t port, const IpAddr& addr) const {
  const Key k = KeyOf(port, addr);
  const uint32_t mask = options_.capacity - 1;
  uint32_t i = static_cast<uint32_t>(HashOf(k)) & mask;
  for (uint32_t n = 0; n < options_.capacity; ++n, i = (i + 1) & mask) {
    Slot& s = slots_[i];
    uint64_t k0, k1, k2, v;
    for (;;) {
      const uint32_t s1 = s.seq.load(std::memory_order_acquire);  // pairs: closing release
      if (s1 & 1) continue;
      k0 = s.k0.load(std::memory_order_relaxed);
      k1 = s.k1.load(std::memory_order_relaxed);
      k2 = s.k2.load(std::memory_order_relaxed);
      v = s.value.load(std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_acquire);  // pairs: opening release fence
      if (s.seq.load(std::memory_order_relaxed) == s1) break;
    }
    if (k0 == 0) return std::nullopt;  // end of the probe run
    if (k0 != k.k0 || k1 != k.k1 || k2 != k.k2) continue;
    const NeighbourState st = StateOf(v);
    if (!Usable(st)) return std::nullopt;
    if (st == NeighbourState::kStale && s.used.load(std::memory_order_relaxed) == 0) {
      s.used.store(1, std::memory_order_relaxed);  // Tick reads it under mu_; a hint only
    }
    return MacOf(v);
  }
  return std::nullopt;
}

void NeighbourTable::PublishSlot(size_t i, const Entry& e) {
  Slot& s = slots_[i];
  const Key k = e.in_use ? KeyOf(e.port, e.addr) : Key{0, 0, 0};
  const uint32_t seq = s.seq.load(std::memory_order_relaxed);
  s.seq.store(seq + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);  // pairs: the reader's acquire fence
  s.k0.store(k.k0, std::memory_order_relaxed);
  s.k1.store(k.k1, std::memory_order_relaxed);
  s.k2.store(k.k2, std::memory_order_relaxed);
  s.value.store(e.in_use ? PackValue(e.mac, e.state) : 0, std::memory_order_relaxed);
  s.seq.store(seq + 2, std::memory_order_release);  // pairs: the reader's first acquire load
}

int64_t NeighbourTable::FindSlot(uint16_t port, const IpAddr& addr) const {
  const uint32_t mask = options_.capacity - 1;
  uint32_t i = static_cast<uint32_t>(HashOf(KeyOf(port, addr))) & mask;
  for (uint32_t n = 0; n < options_.capacity; ++n, i = (i + 1) & mask) {
    const Entry& e = entries_[i];
    if (!e.in_use) return -1;
    if (e.port == port && e.addr == addr) return i;
  }
  return -1;
}

int64_t NeighbourTable::InsertSlot(uint16_t port, const IpAddr& addr) {
  // One slot always stays empty, so every probe run ends.
  if (entries_count_ + 1 >= options_.capacity) return -1;
  const uint32_t mask = options_.capacity - 1;
  uint32_t i = static_cast<uint32_t>(HashOf(KeyOf(port, addr))) & mask;
  while (entries_[i].in_use) i = (i + 1) & mask;
  Entry& e = entries_[i];
  e = Entry{};
  e.in_use = true;
  e.port = port;
  e.addr = addr;
  ++entries_count_;
  slots_[i].used.store(0, std::memory_order_relaxed);
  return i;
}

// Backward-shift deletion (Knuth 6.4 Algorithm R): entries after the hole
// whose home is not between the hole and them move into it.
void NeighbourTable::EraseSlot(size_t hole) {
  const uint32_t mask = options_.capacity - 1;
  size_t j = hole;
  for (;;) {
    j = (j + 1) & mask;
    if (!entries_[j].in_use) break;
    const size_t home =
        static_cast<uint32_t>(HashOf(KeyOf(entries_[j].port, entries_[j].addr))) & mask;
    const bool stays = (hole <= j) ? (hole < home && home <= j) : (hole < home || home <= j);
    if (stays) continue;
    entries_[hole] = std::move(entries_[j]);
    slots_[hole].used.store(slots_[j].used.load(std::memory_order_relaxed),
                            std::memory_order_relaxed);
    PublishSlot(hole, entries_[hole]);
    hole = j;
  }
  entries_[hole] = Entry{};
  PublishSlot(hole, entries_[hole]);
  --entries_count_;
}

NeighbourTable::Entry* NeighbourTable::FindEntry(uint16_t port, const IpAddr& addr) {
  const int64_t i = FindSlot(port, addr);
  return i < 0 ? nullptr : &entries_[i];
}

void NeighbourTable::Drop(size_t i, std::vector<Packet*>& release) {
  Entry& e = entries_[i];
  release.insert(release.end(), e.queue.begin(), e.queue.end());
  waiting_total_ -= e.queue.size();
  e.queue.clear();
  EraseSlot(i);
}

NeighbourTable::ResolveResult NeighbourTable::Resolve(uint16_t port, const IpAddr& addr,
                                                      Packet* pkt, uint64_t now_ns) {
  ResolveResult r;
  {
    lockprof::MutexLock g(mu_);
    int64_t i = FindSlot(port, addr);
    if (i >= 0 && Usable(entries_[i].state)) {
      r.outcome = Outcome::kSend;
      r.mac = entries_[i].mac;
      if (entries_[i].state == NeighbourState::kStale) {
        slots_[i].used.store(1, std::memory_order_relaxed);
      }
      return r;
    }
    taken_.Add();
    if (waiting_total_ >= options_.queue_total ||
        (i >= 0 && entries_[i].queue.size() >= options_.queue_per_neighbour)) {
      queue_full_.Add();
      r.outcome = Outcome::kDropped;
    } else if (i < 0 && (i = InsertSlot(port, addr)) < 0) {
      table_full_.Add();
      r.outcome = Outcome::kDropped;
    } else {
      Entry& e = entries_[i];
      if (e.queue.empty() && e.probes == 0) {
        // A new entry: the first request goes out now.
        e.queue.reserve(options_.queue_per_neighbour);
        e.state = NeighbourState::kIncomplete;
        e.probes = 1;
        e.next_probe_ns = now_ns + options_.retrans_ns;
        PublishSlot(i, e);
        requests_.Add();
        r.outcome = Outcome::kQueuedSolicit;
        r.solicit = SolicitRequest{port, addr, std::nullopt};
      } else {
        r.outcome = Outcome::kQueued;
      }
      e.queue.push_back(pkt);
      ++waiting_total_;
      queued_.Add();
      return r;
    }
  }
  Release(pkt);  // outside the lock: the owner's release may take its own locks
  return r;
}

size_t NeighbourTable::Confirm(uint16_t port, const IpAddr& addr, const MacAddr& mac,
                               bool solicited, bool create, uint64_t now_ns,
                               std::span<Packet*> ready) {
  std::vector<Packet*> overflow;
  size_t n = 0;
  {
    lockprof::MutexLock g(mu_);
    int64_t i = FindSlot(port, addr);
    if (i < 0) {
      if (!create || (i = InsertSlot(port, addr)) < 0) return 0;
      Entry& e = entries_[i];
      e.mac = mac;
      e.state = NeighbourState::kStale;
      e.since_ns = now_ns;
      PublishSlot(i, e);
      return 0;
    }
    Entry& e = entries_[i];
    if (e.state == NeighbourState::kStatic) return 0;
    if (e.state == NeighbourState::kIncomplete) {
      for (Packet* p : e.queue) {
        if (n < ready.size()) {
          ready[n++] = p;
        } else {
          overflow.push_back(p);
        }
      }
      sent_after_resolution_.Add(n);
      waiting_total_ -= e.queue.size();
      e.queue.clear();
      e.mac = mac;
      e.state = solicited ? NeighbourState::kReachable : NeighbourState::kStale;
      e.since_ns = now_ns;
      e.probes = 0;
    } else if (solicited) {
      e.mac = mac;
      e.state = NeighbourState::kReachable;
      e.since_ns = now_ns;
      e.probes = 0;
    } else if (e.mac != mac) {
      e.mac = mac;
      e.state = NeighbourState::kStale;
      e.since_ns = now_ns;
      e.probes = 0;
    }
    slots_[i].used.store(0, std::memory_order_relaxed);
    PublishSlot(i, e);
  }
  ReleaseUnresolved(overflow);  // only if the caller's span was short of the contract
  return n;
}

void NeighbourTable::Tick(uint64_t now_ns, std::vector<SolicitRequest>& requests,
                          std::vector<Packet*>* unresolved) {
  std::vector<Packet*> release;
  {
    lockprof::MutexLock g(mu_);
    for (uint32_t i = 0; i < options_.capacity; ++i) {
      // A Drop shifts a later entry into i: look at slot i again.
      for (bool again = true; again;) {
        again = false;
        Entry& e = entries_[i];
        if (!e.in_use) break;
        switch (e.state) {
          case NeighbourState::kStatic:
            break;
          case NeighbourState::kIncomplete:
            if (now_ns < e.next_probe_ns) break;
            if (e.probes >= options_.max_probes) {
              Drop(i, release);
              again = true;
              break;
            }
            ++e.probes;
            e.next_probe_ns = now_ns + options_.retrans_ns;
            requests.push_back({e.port, e.addr, std::nullopt});
            requests_.Add();
            break;
          case NeighbourState::kReachable:
            if (now_ns - e.since_ns < options_.reachable_ns) break;
            e.state = NeighbourState::kStale;
            e.since_ns = now_ns;
            e.probes = 0;
            slots_[i].used.store(0, std::memory_order_relaxed);
            PublishSlot(i, e);
            break;
          case NeighbourState::kStale:
            if (e.probes > 0) {  // probing (RFC 4861 PROBE)
              if (now_ns < e.next_probe_ns) break;
              if (e.probes >= options_.max_probes) {
                Drop(i, release);
                again = true;
                break;
              }
            } else if (slots_[i].used.load(std::memory_order_relaxed) == 0) {
              if (now_ns - e.since_ns >= options_.stale_ns) {
                Drop(i, release);
                again = true;
              }
              break;
            }
            ++e.probes;
            e.next_probe_ns = now_ns + options_.retrans_ns;
            requests.push_back({e.port, e.addr, e.mac});
            requests_.Add();
            break;
        }
      }
    }
  }
  if (unresolved != nullptr && !release.empty()) {
    {
      lockprof::MutexLock g(mu_);
      unresolved_.Add(release.size());
    }
    unresolved->insert(unresolved->end(), release.begin(), release.end());
    return;
  }
  ReleaseUnresolved(release);
}

Status NeighbourTable::AddStatic(uint16_t port, const IpAddr& addr, const MacAddr& mac) {
  std::vector<Packet*> release;
  {
    lockprof::MutexLock g(mu_);
    int64_t i = FindSlot(port, addr);
    if (i < 0 && (i = InsertSlot(port, addr)) < 0) {
      return Status(ErrorCode::kResourceExhausted, "neighbour table full (" +
                                                       std::to_string(options_.capacity - 1) +
                                                       " entries): raise capacity");
    }
    Entry& e = entries_[i];
    release.swap(e.queue);
    waiting_total_ -= release.size();
    e.mac = mac;
    e.state = NeighbourState::kStatic;
    e.probes = 0;
    PublishSlot(i, e);
  }
  ReleaseUnresolved(release);
  return Status::Ok();
}

Status NeighbourTable::Remove(uint16_t port, const IpAddr& addr) {
  std::vector<Packet*> release;
  {
    lockprof::MutexLock g(mu_);
    const int64_t i = FindSlot(port, addr);
    if (i < 0) {
      return Status(ErrorCode::kNotFound,
                    "no neighbour " + addr.ToString() + " on port " + std::to_string(port));
    }
    Drop(i, release);
  }
  ReleaseUnresolved(release);
  return Status::Ok();
}

std::vector<NeighbourEntry> NeighbourTable::List() const {
  lockprof::MutexLock g(mu_);
  std::vector<NeighbourEntry> out;
  for (uint32_t i = 0; i < options_.capacity; ++i) {
    const Entry& e = entries_[i];
    if (!e.in_use) continue;
    out.push_back({e.port, e.addr, e.mac, e.state, static_cast<uint32_t>(e.queue.size())});
  }
  return out;
}

NeighbourStats NeighbourTable::stats() const {
  NeighbourStats s;
  {
    lockprof::MutexLock g(mu_);
    s.entries = entries_count_;
    s.waiting = waiting_total_;
    s.taken = taken_.Get();
    s.queued = queued_.Get();
    s.sent_after_resolution = sent_after_resolution_.Get();
    s.queue_full = queue_full_.Get();
    s.table_full = table_full_.Get();
    s.unresolved = unresolved_.Get();
    s.requests = requests_.Get();
  }
  return s;
}

}  // namespace netisr::router
