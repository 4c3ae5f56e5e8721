// RouteTable: the router's IPv4 and IPv6 longest-prefix-match tables (DPDK
// rte_lpm and rte_lpm6) and the next hops behind them, read by every worker
// on every packet with no lock and changed rarely by the control thread.
//
// Design note.
// What it guarantees: a lookup sees one whole table, either the one before a
// change or the one after it, never a half-applied change; so an address
// covered by some route before and after an Add or Delete always finds a
// route while the change is made (the "no loss of the packets that were
// routable" of issue 16). Readers take no lock and write no shared memory
// per lookup.
//
// How: copy-and-swap of two complete instances (each an rte_lpm, an
// rte_lpm6 and a next-hop array), with quiescent-state-based reclamation
// (DPDK's rte_rcu_qsbr, the QSBR flavour inpcb/table.h uses through
// liburcu) to know when no reader is left in the old one. A writer (one at a
// time, mu_) applies the change to the standby instance, publishes it with
// one pointer store, waits for a grace period (every registered online
// reader has announced a quiescent state since the store), then applies the
// same change to the now-idle old instance. Both instances end each change
// identical; the writer never touches the published one.
//
// Why not rte_lpm's in-place update with rte_lpm_rcu_qsbr_add (one copy):
// rte_lpm rewrites tbl24/tbl8 entries under the readers' feet, entry by
// entry, so a lookup can see part of a change (harmless for one route, but
// not "old or new table"); its RCU only defers tbl8 group reuse. rte_lpm6
// has no RCU support at all and also updates its tables in place. The next-hop array would need its
// own scheme on top. Copy-and-swap gives one rule for all three. Costs: twice the memory (each
// rte_lpm's tbl24 is 64 MiB, each rte_lpm6's 64 MiB plus 1 KiB per tbl8 group: ~265 MiB of EAL
// memory with the default options, which fits the issue's `-m 512`), every change applied twice,
// and a writer waits for the slowest reader's next quiescent state
// (a burst, microseconds; unbounded if a registered reader stops announcing
// without going offline, so a worker must go Offline before it sleeps).
// Reader cost: one acquire load of the instance pointer (a plain MOV on
// x86-64) plus the rte_lpm lookup; per burst, one Quiescent (an acquire load
// and a release store to the reader's own cache line).
//
// Readers: each worker registers once with a reader id in
// [0, max_readers) (its worker index), calls Quiescent(id) between bursts
// (no NextHop reference kept across it: Lookup4/Lookup6 return copies,
// Lookup4Burst pointers valid until then),
// Offline(id) before it blocks and Online(id) after, and UnregisterReader
// before it exits (all four from the reader's own thread). A Lookup from a
// thread that is not a registered, online reader is a use-after-reuse risk
// while a writer runs; the control thread uses List() instead. A thread that
// is an online reader must not call Add or Delete (it would wait for its own
// quiescent state forever): go Offline first.
// /0 routes: rte_lpm and rte_lpm6 take depths from 1, so each instance keeps
// the default route's next-hop id beside its LPMs, used on a miss.
//
// Memory orders: current_ is stored with release by the writer (after it
// filled the standby instance) and loaded with acquire by readers, so a
// reader that sees the new pointer sees its contents. The grace period is
// rte_rcu_qsbr_start (a release increment of the token) and
// rte_rcu_qsbr_check (acquire loads of each reader's counter), pairing with
// rte_rcu_qsbr_quiescent (acquire load of the token, release store of the
// reader's counter after its lookups): every read of the old instance
// happens before the writer's first write to it.
//
// Needs DPDK's EAL (rte_lpm_create allocates from EAL memory and registers
// in its tailq): call rte_eal_init first (the router does, for its ports;
// tests use `--no-huge --no-pci --no-shconf -m 512`).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "proto/filter.h"

namespace netisr::router {

// An IPv4 or IPv6 address. IPv4 in host byte order (ROUTER.md convention),
// IPv6 in network order.
struct IpAddr {
  bool v6 = false;
  uint32_t v4 = 0;
  std::array<uint8_t, 16> v6_bytes{};

  static IpAddr V4(uint32_t a) { return IpAddr{false, a, {}}; }
  static IpAddr V6(const std::array<uint8_t, 16>& a) { return IpAddr{true, 0, a}; }
  // "10.1.0.1", "fd00::1"; errors say what is wrong.
  static Result<IpAddr> Parse(std::string_view text);
  // The unspecified address of its family (0.0.0.0 or ::).
  bool unspecified() const;
  std::string ToString() const;
  friend bool operator==(const IpAddr&, const IpAddr&) = default;
  friend auto operator<=>(const IpAddr&, const IpAddr&) = default;
};

// A route's prefix is proto's IpPrefix (addr: 4 or 16 bytes in network
// order, host bits zero; len in [0, 32] or [0, 128]), so the filter's CIDR
// parser is the one parser of prefixes in the tree.
using IpPrefix = proto::IpPrefix;

// True if `a` lies in `p` (same family, first p.len bits equal).
bool PrefixContains(const IpPrefix& p, const IpAddr& a);

// Where a routed packet goes.
struct NextHop {
  uint16_t port = 0;  // port index (position in the config's [[port]] list)
  // The neighbour to send to; unspecified (the default, 0.0.0.0) = directly
  // connected: the packet's destination itself is the neighbour.
  IpAddr gateway;

  bool connected() const { return gateway.unspecified(); }
  friend bool operator==(const NextHop&, const NextHop&) = default;
  friend auto operator<=>(const NextHop&, const NextHop&) = default;
};

struct Route {
  IpPrefix prefix;
  NextHop next_hop;
  friend bool operator==(const Route&, const Route&) = default;
};

struct RouteTableOptions {
  // Reader ids [0, max_readers): workers plus any other thread that looks up
  // on the packet path; [1, 1024]. rte_rcu_qsbr keeps one 64-byte counter per id.
  uint32_t max_readers = 64;
  // Routes per family; [1, 1 << 20]. rte_lpm/rte_lpm6 max_rules (32 B/rule).
  uint32_t max_routes4 = 65536;
  uint32_t max_routes6 = 65536;
  // tbl8 groups, 1 KiB (v4) each: an IPv4 prefix longer than /24 takes one per
  // distinct /24 it falls in; [1, 1 << 16] (DPDK l3fwd uses 256).
  uint32_t tbl8_groups4 = 256;
  // rte_lpm6 tbl8 groups, 1 KiB each: an IPv6 prefix takes one per byte past
  // the 24th bit it reaches, shared along common paths; [1, 1 << 20]. 4096 =
  // 4 MiB, room for ~1,000 /64 routes (l3fwd uses 65536 = 64 MiB).
  uint32_t tbl8_groups6 = 4096;
  // Distinct next hops (routes share an id when their NextHop is equal);
  // [1, 1 << 20]. rte_lpm6 next hops are 21 bits, rte_lpm's 24.
  uint32_t max_next_hops = 4096;
};
// Ok, or the first field out of range named with its bound.
Status Validate(const RouteTableOptions& o);

class RouteTable {
 public:
  // Errors: options out of range (kInvalidArgument), EAL not initialised or
  // out of memory (kUnavailable, with rte_errno's text).
  static Result<std::unique_ptr<RouteTable>> Create(const RouteTableOptions& options = {});
  ~RouteTable();
  RouteTable(const RouteTable&) = delete;
  RouteTable& operator=(const RouteTable&) = delete;

  // --- control plane: any thread, serialised on an internal mutex; each
  // returns after the change is visible to every lookup that starts later
  // (it waits one grace period) ---
  // Errors: kInvalidArgument (prefix length past 32/128, host bits set, a
  // gateway of the other family), kAlreadyExists (the prefix has a route:
  // delete it first), kResourceExhausted (max_routes, tbl8 groups or
  // next-hop ids used up; the table is unchanged). That the gateway is on
  // the port's connected prefix is the config's check (config.h), not this.
  Status Add(const Route& route);
  // kInvalidArgument (bad prefix), kNotFound (no route for exactly this
  // prefix, or `match` refuses its next hop: checked and deleted under one
  // lock, so a route replaced meanwhile is never deleted by mistake).
  Status Delete(const IpPrefix& prefix, const std::function<bool(const NextHop&)>& match = nullptr);
  // Every route, IPv4 first, each family by address then length.
  std::vector<Route> List() const;
  size_t size() const;

  // --- readers (registered threads only; see the design note) ---
  // kInvalidArgument if id >= max_readers, kAlreadyExists if taken.
  // Registers the calling thread online.
  Status RegisterReader(uint32_t id);
  void UnregisterReader(uint32_t id);
  // Between bursts: "this reader holds nothing from an earlier lookup".
  void Quiescent(uint32_t id);
  // Around a blocking wait: an offline reader does not hold up writers.
  void Offline(uint32_t id);
  void Online(uint32_t id);

  // The next hop for dst, or nullopt (no route: the caller counts no_route).
  std::optional<NextHop> Lookup4(uint32_t dst) const;
  std::optional<NextHop> Lookup6(const std::array<uint8_t, 16>& dst) const;
  // Burst form of Lookup4 (rte_lpm_lookup_bulk): out[i] for dst[i], a
  // pointer into the table's current instance (nullptr: no route), valid
  // until this reader's next Quiescent or Offline; out.size() >=
  // dst.size(). Returns how many have a route. Pointers, not copies: a
  // burst's packets mostly share a next hop, and the caller tells them
  // apart by address (the copies, 28 bytes a packet, were ~5% of the
  // router's CPU).
  size_t Lookup4Burst(std::span<const uint32_t> dst, std::span<const NextHop*> out) const;

  struct Impl;

 private:
  explicit RouteTable(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace netisr::router
