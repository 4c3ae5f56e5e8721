// NeighbourTable: the router's ARP (IPv4, RFC 826) and neighbour discovery
// (IPv6, RFC 4861) cache: per (port, address) a MAC and a state, read on
// every forwarded packet with no lock, and a bounded queue of packets
// waiting for an address to resolve.
//
// Design note.
// States: RFC 4861 7.3.2's five reduced to four, as Linux's neighbour layer
// collapses them in effect:
//  * kIncomplete: resolution in progress; packets wait (bounded queue);
//    a request goes out at the first packet and every `retrans` until
//    `max_probes` requests went unanswered, then the waiting packets are
//    released and counted (`neighbour_unresolved`; Tick can hand them to the
//    caller instead, which the router answers with ICMP host unreachable)
//    and the entry dropped.
//  * kReachable: confirmed (a solicited answer) within `reachable_time`.
//  * kStale: a MAC we have but have not confirmed recently (reachable_time
//    passed, or learnt from an unsolicited packet: the neighbour's own
//    request, a gratuitous ARP, an unsolicited NA). Usable: packets go out
//    at once. RFC 4861's DELAY and PROBE are folded in here: a stale entry
//    that is used gets up to `max_probes` unicast requests, `retrans`
//    apart, from Tick; an answer makes it reachable, silence removes it
//    (the next packet starts over as kIncomplete). A stale entry unused for
//    `stale_time` is removed (Linux gc_stale_time).
//  * kStatic: from the config; never expires, never changed by the network.
//
// Tunables (all from Linux's and RFC 4861's defaults; see NeighbourOptions).
//
// Threading. What protects what:
//  * the lock-free read side is a fixed open-addressing array of slots,
//    each a seqlock (Boehm, "Can seqlocks get along with programming
//    language memory models?", MSPC 2012): the writer makes the slot's
//    sequence odd, writes the fields, makes it even again; a reader
//    retries while the sequence is odd or changed. Every field is a relaxed
//    atomic, so a torn read is detected, never undefined. Orders: the
//    reader's first sequence load is acquire (pairs with the writer's
//    closing release store); the reader's acquire fence before its second
//    load pairs with the writer's release fence after its opening store.
//    Slots are never freed; a deletion shifts later entries of its probe
//    run back (no tombstones), so a concurrent Lookup may miss an entry
//    that is being moved: a false miss, which sends the caller to Resolve,
//    which takes the lock and finds it. A Lookup never returns a wrong MAC.
//  * everything else (states, timers, probe counts, the waiting packets,
//    the counters' writes) is under mu_, taken by Resolve, Confirm, Tick,
//    AddStatic, Remove, List. Those are the slow path: the first packets to
//    an unresolved neighbour, ARP/NDP answers, and the timer. Resolve
//    allocates once per new neighbour (its queue, queue_per_neighbour
//    pointers); Tick may grow the caller's request vector; Lookup never
//    allocates.
//  * `used` flags (a stale entry was used since its last probe) are relaxed
//    atomics readers set, at most once per stale period per entry.
//
// Packets: every packet given to Resolve is, exactly once, either handed
// back (Resolve says kSend, or Confirm returns it in `ready`) or released
// (netisr::Release) and counted under neighbour_queue_full,
// neighbour_table_full or neighbour_unresolved. stats() proves it:
// taken == sent_after_resolution + queue_full + table_full + unresolved +
// waiting, where taken counts every packet Resolve did not answer kSend. The destructor releases
// what still waits (counted unresolved).
//
// Time is passed in (now_ns, any monotonic clock, never going backwards),
// so tests drive the timers without sleeping.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/counter.h"
#include "base/status.h"
#include "lockprof/lock.h"
#include "netisr/packet.h"
#include "proto/responder.h"
#include "router/route_table.h"

namespace netisr::router {

using proto::MacAddr;

enum class NeighbourState : uint8_t { kIncomplete, kReachable, kStale, kStatic };
// "incomplete", "reachable", "stale", "static".
std::string_view ToString(NeighbourState s);

struct NeighbourOptions {
  // Slots of the lock-free array: neighbours at most; power of two in
  // [16, 1 << 20]. Open addressing: keep it 2x the expected neighbours
  // (each slot 40 B: 1024 = 40 KiB).
  uint32_t capacity = 1024;
  // Packets waiting per unresolved neighbour; [1, 1024]. 16: a burst's
  // worth to one new destination (Linux's unres_qlen was 3 until 3.3, now
  // 101 packets / 64 KiB; 16 bounds memory while covering a TCP window
  // opening). The rest are released as neighbour_queue_full.
  uint32_t queue_per_neighbour = 16;
  // Packets waiting over all neighbours; [1, 1 << 20]. Bounds the mbufs a
  // scan of unused addresses can pin: 1024 x 2 KiB buffers = 2 MiB.
  uint32_t queue_total = 1024;
  // Between requests for one neighbour, ns; [10 ms, 60 s]. RFC 4861
  // RETRANS_TIMER 1 s (Linux retrans_time_ms).
  uint64_t retrans_ns = 1'000'000'000;
  // Requests before giving up; [1, 16]. RFC 4861 MAX_MULTICAST_SOLICIT and
  // MAX_UNICAST_SOLICIT are 3 (Linux mcast_solicit/ucast_solicit).
  uint32_t max_probes = 3;
  // A confirmation is good for this long, ns; [1 s, 1 h]. RFC 4861
  // REACHABLE_TIME 30 s (Linux base_reachable_time; not randomised here).
  uint64_t reachable_ns = 30'000'000'000;
  // An unused stale entry is removed after this, ns; [1 s, 1 day]. Linux
  // gc_stale_time 60 s.
  uint64_t stale_ns = 60'000'000'000;
};
// Ok, or the first field out of range named with its bound.
Status Validate(const NeighbourOptions& o);

struct NeighbourEntry {
  uint16_t port = 0;
  IpAddr addr;
  MacAddr mac{};  // zero while kIncomplete
  NeighbourState state = NeighbourState::kIncomplete;
  uint32_t waiting = 0;  // packets queued (kIncomplete)
};

// A request the caller must send: an ARP request or an NDP neighbour
// solicitation for `addr` out of `port`; to the broadcast / solicited-node
// multicast address if `unicast_to` is empty, else to that MAC (probing a
// stale entry, RFC 4861 7.3.3).
struct SolicitRequest {
  uint16_t port = 0;
  IpAddr addr;
  std::optional<MacAddr> unicast_to;
};

struct NeighbourStats {
  uint64_t entries = 0;
  uint64_t taken = 0;                  // packets Resolve took (every outcome but kSend)
  uint64_t queued = 0;                 // of those, put in a queue to wait
  uint64_t sent_after_resolution = 0;  // of those, handed back by Confirm
  uint64_t queue_full = 0;             // neighbour_queue_full: released at Resolve
  uint64_t table_full = 0;             // neighbour_table_full: no slot for a new neighbour
  uint64_t unresolved = 0;             // neighbour_unresolved: released when resolution failed
  uint64_t waiting = 0;                // queued now
  uint64_t requests = 0;               // SolicitRequests handed out
};

class NeighbourTable {
 public:
  static Result<std::unique_ptr<NeighbourTable>> Create(const NeighbourOptions& o = {});
  ~NeighbourTable();
  NeighbourTable(const NeighbourTable&) = delete;
  NeighbourTable& operator=(const NeighbourTable&) = delete;

  // --- hot path: any thread, no lock, no allocation ---
  // The MAC to send to if the entry is usable (reachable, stale, static);
  // nullopt otherwise (unknown, incomplete, or a false miss during a
  // concurrent removal): then call Resolve.
  std::optional<MacAddr> Lookup(uint16_t port, const IpAddr& addr) const;

  // --- slow path: any thread, takes the table's mutex ---
  enum class Outcome : uint8_t {
    kSend,           // usable now: send pkt to `mac`; the caller keeps pkt
    kQueued,         // pkt waits for the answer; nothing to send
    kQueuedSolicit,  // pkt waits; send `solicit` now (first packet)
    kDropped,        // pkt released and counted: neighbour_queue_full (this
                     // neighbour's or the global bound) or neighbour_table_full
  };
  struct ResolveResult {
    Outcome outcome = Outcome::kDropped;
    MacAddr mac{};
    SolicitRequest solicit;
  };
  // For a packet that Lookup found no MAC for. Takes pkt unless kSend.
  ResolveResult Resolve(uint16_t port, const IpAddr& addr, Packet* pkt, uint64_t now_ns);

  // An ARP reply/request or an NA/NS from `addr` on `port` with its MAC.
  // `solicited`: an answer to our request (ARP reply to us, NA with the S
  // flag) -> kReachable; otherwise (their request, gratuitous) the entry
  // becomes kStale if new or its MAC changed, keeps its state if not.
  // Unsolicited news of an unknown address creates an entry only if
  // `create` (RFC 826: when we are the target of their request).
  // Static entries are left alone. Packets that waited for this neighbour
  // go to `ready` (in arrival order) for the caller to send to `mac`;
  // `ready` must hold queue_per_neighbour. Returns how many.
  size_t Confirm(uint16_t port, const IpAddr& addr, const MacAddr& mac, bool solicited, bool create,
                 uint64_t now_ns, std::span<Packet*> ready);

  // The timers: call every ~100 ms (retrans / 10). Appends the requests to
  // send. The packets of neighbours that did not answer are counted
  // (unresolved) and released, or, with `unresolved`, appended there for
  // the caller to answer (ICMP host unreachable) and release.
  void Tick(uint64_t now_ns, std::vector<SolicitRequest>& requests,
            std::vector<Packet*>* unresolved = nullptr);

  // Static neighbours (config): replace any dynamic entry (packets waiting
  // on it are released, counted unresolved: call it before traffic flows).
  // kResourceExhausted if the table is full.
  Status AddStatic(uint16_t port, const IpAddr& addr, const MacAddr& mac);
  // kNotFound if absent. Waiting packets are released as unresolved.
  Status Remove(uint16_t port, const IpAddr& addr);

  std::vector<NeighbourEntry> List() const;
  NeighbourStats stats() const;
  const NeighbourOptions& options() const { return options_; }

  struct Slot;
  struct Entry;

 private:
  explicit NeighbourTable(const NeighbourOptions& o);
  // Index of the slot holding key (port, addr) for the writer, or -1.
  int64_t FindSlot(uint16_t port, const IpAddr& addr) const REQUIRES(mu_);
  int64_t InsertSlot(uint16_t port, const IpAddr& addr) REQUIRES(mu_);
  void PublishSlot(size_t i, const Entry& e) REQUIRES(mu_);
  void EraseSlot(size_t i) REQUIRES(mu_);
  Entry* FindEntry(uint16_t port, const IpAddr& addr) REQUIRES(mu_);
  // Removes entry i, moving its waiting packets to `release` (unresolved).
  void Drop(size_t i, std::vector<Packet*>& release) REQUIRES(mu_);
  void ReleaseUnresolved(std::vector<Packet*>& pkts);

  const NeighbourOptions options_;
  // The lock-free read side; written under mu_ only (seqlocks).
  std::unique_ptr<Slot[]> slots_;
  mutable lockprof::Mutex mu_;
  // The writer's side, parallel to slots_ (entries_[i] describes slots_[i]).
  std::unique_ptr<Entry[]> entries_ GUARDED_BY(mu_);
  uint64_t waiting_total_ GUARDED_BY(mu_) = 0;
  uint64_t entries_count_ GUARDED_BY(mu_) = 0;
  // Written under mu_ (one writer at a time), read by stats() from any thread.
  base::Counter taken_, queued_, sent_after_resolution_, queue_full_, table_full_, unresolved_,
      requests_;
};

}  // namespace netisr::router
