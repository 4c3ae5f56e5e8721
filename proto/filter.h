// EarlyFilter: a rule set checked on each RX burst before anything is
// queued or parsed in full, so that a flood costs the receive path a few
// header loads per packet instead of a trip through netisr's queues and the
// whole parse chain (checksums included). This is the "drop as early as
// possible" idea of XDP and of the Netdev 1.1 performance BoF (J. Brouer et
// al., "Network stack challenges at increasing speeds", 2016: drop before
// the SKB is even allocated) applied to this stack: the filter runs on the
// RX worker, on the descriptor burst the port returned, before DispatchBurst.
//
// Rules (first match wins; no match passes):
//   drop|pass  [src PREFIX] [proto P] [dport PORT|LO-HI]
//   limit      [src PREFIX] [proto P] [dport PORT|LO-HI] rate PPS [burst N]
// PREFIX is IPv4 or IPv6 CIDR (a bare address is /32 or /128; host bits
// must be zero); P is tcp, udp, icmp, icmp6 or a number 0-255; dport needs
// proto tcp or udp, or no proto (then it matches TCP and UDP). A rule with a
// src matches only its address family. `limit` polices each source address
// the rule matches with a token bucket of PPS packets/s and depth N (default
// max(1, PPS/10): 100 ms of traffic): conforming packets pass (and stop the
// rule walk, as any match does), the rest are dropped as rate_limited.
// Rule text: rules separated by ';', tokens by blanks, e.g.
//   drop src 10.0.0.0/8; drop proto udp dport 53;
//   limit src 0.0.0.0/0 rate 1000 burst 50; pass proto tcp dport 80-443
//
// What it classifies, and what it leaves to the parser: the filter reads
// the fields where the parsers (parse.h) find them, with the same offsets
// (up to kMaxVlanTags VLAN tags, the IPv4 IHL, ParseIpv6's extension-header
// walk and limits) but only bounds checks, no validation: no IPv4 header
// checksum, option walk or TTL, no length consistency beyond what a read
// needs. A packet it passes is validated by the parse chain anyway, and one
// the chain would accept is classified on exactly the fields the chain then
// sees; a packet the chain would refuse may be classified from its bytes all
// the same (a bad checksum still has a source address), and dropped here or
// passed on to be dropped there under its ParseDrop. So a flood packet
// costs a few bounded loads, not a parse. Per field:
//  * family and source address: IPv4 (version 4, >= 20 bytes after the
//    tags) or IPv6 (version 6, >= 40 bytes); anything else (ARP, other
//    EtherTypes, runts, a wrong version nibble, too many tags) is
//    `unclassified` and matches only rules without src/proto/dport.
//  * proto: IPv4's protocol byte; IPv6's upper-layer header after the
//    extension-header walk (unknown when the payload length exceeds the
//    frame or the walk is refused: too many, misplaced hop-by-hop, past the
//    end), or the header after a non-first fragment's fragment header.
//  * dport: TCP/UDP only, not in a non-first fragment, and only when the
//    4 bytes lie within the IP datagram (IPv4: IHL >= 5 and IHL x 4 + 4 <=
//    total length <= frame; IPv6: within the payload length).
// A packet without link header (nic::LinkType::kIp: a raw-IP, cooked or
// loopback capture replayed by PcapPort) is read from its IP header at
// offset 0, the version nibble standing for the EtherType.
// The filter never writes a packet (pkt.len is not trimmed).
// Cost: 11.8 ns per dropped packet with one rule, 64-byte UDP flood frames
// in bursts of 32 (benchmarks/proto/parse_bench BM_EarlyFilterFlood, CPU
// time, the shared lane and its mutex included), against 21.7 ns in the same run
// for the Ethernet + IPv4 parsers alone on those frames (BM_IpParseFlood),
// which the filter used to run on every packet before matching. Per burst
// it works in stages over chunks of 64: prefetch every frame's first line,
// read the fields, walk the rules, then release the drops with one
// ReleaseBulk; rule hit counters are kept per run of equal rules.
//
// Rate limiting: GCRA (ITU-T I.371's virtual scheduling, the token bucket's
// exact equivalent) in one 128-bit word per bucket: the theoretical arrival
// time in 2^-32 ns units, so a rate's interval keeps its fraction of a
// nanosecond (filter.cc). Buckets live in a fixed-size table
// (FilterOptions::rate_buckets, default 1024 = 16 KiB per lane) indexed by
// a seeded hash of (rule, source address): bounded memory, no allocation or
// lookup chain on the packet path, but no tag either: sources that collide
// share one bucket and so share its rate (an attacker and a legitimate host
// colliding are limited together). With B buckets and S active sources a
// given source shares its bucket with probability 1 - (1 - 1/B)^(S-1): ~9%
// for S = 100, B = 1024. The hash seed is random per filter so collisions
// cannot be aimed at. Limits are per lane (below): a source whose packets
// reach K RX workers (RSS hashes ports too) gets up to K x PPS. One shared
// atomic bucket table would be exact but puts a contended read-modify-write
// on every packet.
//
// Threading: state is split into lanes (base::PerWorkstream), one per netisr
// workstream (Netisr::CurrentWorkstream() = ws -> its lane) and the shared
// lane for every other thread. A worker lane's counters and buckets have one
// writer, its workstream (netisr runs a workstream on one thread at a time,
// the contract DropCounters relies on too); the shared lane is serialised by
// a mutex taken once per Apply. Counters are relaxed atomics, so Stats() may run on
// any thread at any time; a snapshot taken while traffic flows may miss
// packets in flight, and is exact once the workers are stopped. Rules are
// immutable after Create.
// Memory: lanes x (rules x 2 + 4) x 8 B of counters (64-byte aligned) plus,
// with any limit rule, lanes x rate_buckets x 16 B (~1 MiB by default).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/per_workstream.h"
#include "base/status.h"
#include "lockprof/lock.h"
#include "netisr/packet.h"
#include "nic/rx_filter.h"

namespace netisr::proto {

enum class FilterAction : uint8_t { kPass, kDrop, kLimit };
std::string_view ToString(FilterAction a);

// Why the filter dropped a packet (printed names "filtered", "rate_limited").
enum class FilterDrop : uint8_t { kFiltered, kRateLimited, kCount };
inline constexpr size_t kNumFilterDrops = static_cast<size_t>(FilterDrop::kCount);
std::string_view ToString(FilterDrop d);

// An IPv4 or IPv6 CIDR prefix. addr holds 4 (IPv4) or 16 bytes, host bits zero.
struct IpPrefix {
  bool v6 = false;
  std::array<uint8_t, 16> addr{};
  uint8_t len = 0;  // [0, 32] or [0, 128]

  // "10.0.0.0/8", "2001:db8::/32", "10.1.2.3" (= /32). Errors say what is wrong.
  static Result<IpPrefix> Parse(std::string_view text);
  std::string ToString() const;
  friend bool operator==(const IpPrefix&, const IpPrefix&) = default;
};

struct PortRange {
  uint16_t lo = 0, hi = 0;  // inclusive, lo <= hi
  friend bool operator==(const PortRange&, const PortRange&) = default;
};

struct FilterRule {
  FilterAction action = FilterAction::kPass;
  std::optional<IpPrefix> src;
  std::optional<uint8_t> proto;  // IANA protocol number
  std::optional<PortRange> dport;
  uint32_t rate_pps = 0;  // kLimit only: > 0
  uint32_t burst = 0;     // kLimit only: 0 = default max(1, rate_pps / 10)

  // The rule in the text syntax (parsing it gives this rule back).
  std::string ToString() const;
  friend bool operator==(const FilterRule&, const FilterRule&) = default;
};

struct FilterOptions {
  // Token buckets per lane, shared by all limit rules; power of two in
  // [16, 1 << 20].
  uint32_t rate_buckets = 1024;
  // Hash seed for the bucket index; 0 = random.
  uint64_t seed = 0;
};

// Counters summed over lanes.
struct FilterStats {
  struct Rule {
    std::string text;
    uint64_t hits = 0;     // packets the rule matched (it decided their fate)
    uint64_t dropped = 0;  // of those, dropped (all hits of a drop rule)
  };
  std::vector<Rule> rules;
  uint64_t passed = 0;  // kept: by a pass rule, a conforming limit or no match
  std::array<uint64_t, kNumFilterDrops> dropped{};
  uint64_t unclassified = 0;  // not IPv4/IPv6, or too short for the source address

  uint64_t total_dropped() const { return dropped[0] + dropped[1]; }
  // Flat, for stats/JSON: "passed", "unclassified", "filtered",
  // "rate_limited", "rule<i>_hits", "rule<i>_dropped" (all, zeroes too).
  std::map<std::string, uint64_t> ToMap() const;
};

// Lock class of EarlyFilter::shared_lane_mu_.
inline constinit lockprof::LockClass kSharedLaneLock("proto.filter.shared_lane");

// The receive path's filter (nic/rx_filter.h): RxQueueSource calls the
// LinkType overload of Apply.
class EarlyFilter final : public nic::RxFilter {
 public:
  // At most kMaxRules rules.
  static constexpr size_t kMaxRules = 256;

  // Programmatic: errors name the rule (by index) and the field.
  static Result<std::unique_ptr<EarlyFilter>> Create(std::vector<FilterRule> rules,
                                                     FilterOptions options = {});
  // From rule text (syntax above); errors name the offending token and its
  // byte offset, e.g. "filter: 'udpx' at 17: unknown protocol ...".
  static Result<std::unique_ptr<EarlyFilter>> Parse(std::string_view text,
                                                    FilterOptions options = {});
  static Result<std::vector<FilterRule>> ParseRules(std::string_view text);

  ~EarlyFilter() override;
  EarlyFilter(const EarlyFilter&) = delete;
  EarlyFilter& operator=(const EarlyFilter&) = delete;

  // Filters `burst` in place: the kept packets move to the front in their
  // order, dropped ones are counted and released (ReleaseBulk, once per
  // chunk of 64). Returns how many were
  // kept. The token buckets read the clock once per call
  // (sched::FastClock::Global().NowNs()); the overload takes `now_ns`
  // instead (tests, simulators; must not go backwards per lane).
  // Both read Ethernet frames; the nic::RxFilter overload reads what `link`
  // says (kIp: the IP header at offset 0, its version nibble the family).
  size_t Apply(std::span<Packet*> burst);
  size_t Apply(std::span<Packet*> burst, uint64_t now_ns);
  size_t Apply(std::span<Packet*> burst, nic::LinkType link) override;

  const std::vector<FilterRule>& rules() const { return rules_; }
  // Rule set in the text syntax.
  std::string ToString() const;
  FilterStats Stats() const;
  // Reason name -> count, zeroes omitted (the shape of DropCounters::Snapshot).
  std::map<std::string, uint64_t> DropSnapshot() const;

  struct Compiled;  // a rule in match form (filter.cc)
  struct Lane;

 private:
  EarlyFilter(std::vector<FilterRule> rules, FilterOptions options);
  size_t Apply(std::span<Packet*> burst, uint64_t now_ns, bool at_ip);
  size_t ApplyOnLane(Lane& lane, std::span<Packet*> burst, uint64_t now_ns, bool at_ip);
  // The lane shared_lane_mu_ protects. It is a slot of lanes_, not a field,
  // so GUARDED_BY cannot name it; this accessor carries the requirement
  // instead, and Apply reaches the shared lane only through it.
  Lane& SharedLane() REQUIRES(shared_lane_mu_);

  const std::vector<FilterRule> rules_;
  const FilterOptions options_;
  std::vector<Compiled> compiled_;
  bool has_limit_ = false;
  uint64_t seed_ = 0;
  // A lane per workstream and the shared lane; see the threading note.
  base::PerWorkstream<Lane> lanes_;
  // Protects lanes_.Shared() (its counters' writes and its token buckets): Apply
  // from threads that are not netisr workers. A leaf: ApplyOnLane takes no
  // other lock (releasing dropped packets to the pool is lock-free). Worker
  // lanes are single-writer and never take it. Profiled as
  // "proto.filter.shared_lane".
  lockprof::Mutex shared_lane_mu_{kSharedLaneLock};
};

}  // namespace netisr::proto
