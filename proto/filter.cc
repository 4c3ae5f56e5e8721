#include "proto/filter.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <random>

#include "base/counter.h"
#include "base/wire.h"
#include "netisr/netisr.h"
#include "netisr/settings.h"
#include "proto/internal/filter_key.h"
#include "proto/wire.h"
#include "sched_feedback/clock.h"

namespace netisr::proto {
namespace {

constexpr uint32_t kMaxRatePps = 1000000000;  // one packet per ns

// Per-lane counter slots: totals first, then (hits, dropped) per rule.
enum Slot : size_t { kPassedSlot, kUnclassifiedSlot, kFilteredSlot, kRateLimitedSlot, kRule0 };
constexpr size_t HitsSlot(size_t rule) { return kRule0 + 2 * rule; }
constexpr size_t DroppedSlot(size_t rule) { return kRule0 + 2 * rule + 1; }
constexpr size_t DropSlot(FilterDrop d) {
  return d == FilterDrop::kFiltered ? kFilteredSlot : kRateLimitedSlot;
}

using base::Load64;

bool HasPorts(uint8_t proto) { return proto == wire::kProtoTcp || proto == wire::kProtoUdp; }

using internal::ClassifyForFilter;
using Key = internal::FilterKey;

// Mask of the first `bits` bits of a 64-bit word (bits may be out of [0, 64]).
uint64_t TopBits(int bits) {
  if (bits <= 0) return 0;
  if (bits >= 64) return ~uint64_t{0};
  return ~uint64_t{0} << (64 - bits);
}

int AddrBytes(bool v6) { return v6 ? 16 : 4; }
int MaxLen(bool v6) { return v6 ? 128 : 32; }

// The prefix's address bytes as (hi, lo), left-aligned like Key.
std::pair<uint64_t, uint64_t> AddrWords(const IpPrefix& p) {
  if (!p.v6) return {uint64_t{base::Load32(p.addr.data())} << 32, 0};
  return {Load64(p.addr.data()), Load64(p.addr.data() + 8)};
}

// Shared by Parse (with positions) and Create (with rule indices).
const char* PrefixError(const IpPrefix& p) {
  if (p.len > MaxLen(p.v6)) return "prefix length out of range";
  const auto [hi, lo] = AddrWords(p);
  if ((hi & ~TopBits(p.len)) != 0 || (lo & ~TopBits(p.len - 64)) != 0) {
    return "host bits set after the prefix length";
  }
  for (int i = AddrBytes(p.v6); i < 16; ++i) {
    if (p.addr[i] != 0) return "IPv4 prefix with bytes past its 4";
  }
  return nullptr;
}
const char* DportError(const FilterRule& r) {
  if (r.dport && r.dport->lo > r.dport->hi) return "port range low end above its high end";
  if (r.dport && r.proto && !HasPorts(*r.proto)) return "dport needs proto tcp or udp";
  return nullptr;
}
const char* RateError(const FilterRule& r) {
  if (r.action != FilterAction::kLimit) {
    return r.rate_pps != 0 || r.burst != 0 ? "rate and burst are only for limit rules" : nullptr;
  }
  if (r.rate_pps < 1 || r.rate_pps > kMaxRatePps) return "limit needs rate in [1, 1000000000]";
  if (r.burst > kMaxRatePps) return "burst out of range [1, 1000000000]";
  return nullptr;
}

uint32_t EffectiveBurst(const FilterRule& r) {
  return r.burst != 0 ? r.burst : std::max<uint32_t>(1, r.rate_pps / 10);
}

std::string ProtoName(uint8_t p) {
  switch (p) {
    case wire::kProtoTcp:
      return "tcp";
    case wire::kProtoUdp:
      return "udp";
    case wire::kProtoIcmp:
      return "icmp";
    case wire::kProtoIcmp6:
      return "icmp6";
  }
  return std::to_string(p);
}

// --- Rule text -----------------------------------------------------------

struct Token {
  std::string_view text;
  size_t pos = 0;  // byte offset in the whole rule text
};

Status TokenError(const Token& t, std::string_view what) {
  return Status(ErrorCode::kInvalidArgument, "filter: '" + std::string(t.text) + "' at " +
                                                 std::to_string(t.pos) + ": " + std::string(what));
}

template <typename T>
bool ParseNumber(std::string_view s, T max, T& out) {
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v > max) return false;
  out = static_cast<T>(v);
  return true;
}

std::optional<uint8_t> ParseProto(std::string_view s) {
  if (s == "tcp") return wire::kProtoTcp;
  if (s == "udp") return wire::kProtoUdp;
  if (s == "icmp") return wire::kProtoIcmp;
  if (s == "icmp6") return wire::kProtoIcmp6;
  uint8_t n;
  if (ParseNumber<uint8_t>(s, 255, n)) return n;
  return std::nullopt;
}

std::optional<PortRange> ParsePorts(std::string_view s) {
  const size_t dash = s.find('-');
  PortRange r;
  if (!ParseNumber<uint16_t>(s.substr(0, dash), 65535, r.lo)) return std::nullopt;
  r.hi = r.lo;
  if (dash != std::string_view::npos && !ParseNumber<uint16_t>(s.substr(dash + 1), 65535, r.hi)) {
    return std::nullopt;
  }
  return r;
}

// Splits one rule (starting at byte `base` of the text) into tokens.
std::vector<Token> Tokenize(std::string_view rule, size_t base) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < rule.size()) {
    while (i < rule.size() && std::isspace(static_cast<unsigned char>(rule[i]))) ++i;
    const size_t start = i;
    while (i < rule.size() && !std::isspace(static_cast<unsigned char>(rule[i]))) ++i;
    if (i > start) out.push_back({rule.substr(start, i - start), base + start});
  }
  return out;
}

Result<FilterRule> ParseRule(const std::vector<Token>& toks) {
  FilterRule r;
  const Token& act = toks[0];
  if (act.text == "drop") {
    r.action = FilterAction::kDrop;
  } else if (act.text == "pass") {
    r.action = FilterAction::kPass;
  } else if (act.text == "limit") {
    r.action = FilterAction::kLimit;
  } else {
    return TokenError(act, "unknown action (want drop, pass or limit)");
  }
  std::optional<Token> dport_tok, rate_tok;
  bool seen_rate = false, seen_burst = false;
  for (size_t i = 1; i < toks.size(); i += 2) {
    const Token& key = toks[i];
    if (key.text != "src" && key.text != "proto" && key.text != "dport" && key.text != "rate" &&
        key.text != "burst") {
      return TokenError(key, "unknown keyword (want src, proto, dport, rate or burst)");
    }
    if (i + 1 == toks.size()) return TokenError(key, "missing value");
    const Token& val = toks[i + 1];
    const bool dup = (key.text == "src" && r.src) || (key.text == "proto" && r.proto) ||
                     (key.text == "dport" && r.dport) || (key.text == "rate" && seen_rate) ||
                     (key.text == "burst" && seen_burst);
    if (dup) return TokenError(key, "given twice in one rule");
    if (key.text == "src") {
      auto p = IpPrefix::Parse(val.text);
      if (!p.ok()) return TokenError(val, p.status().message());
      r.src = *p;
    } else if (key.text == "proto") {
      r.proto = ParseProto(val.text);
      if (!r.proto)
        return TokenError(val, "unknown protocol (want tcp, udp, icmp, icmp6 or 0-255)");
    } else if (key.text == "dport") {
      r.dport = ParsePorts(val.text);
      if (!r.dport) return TokenError(val, "bad port (want 0-65535 or LO-HI)");
      dport_tok = key;
    } else if (key.text == "rate" || key.text == "burst") {
      uint32_t& field = key.text == "rate" ? r.rate_pps : r.burst;
      if (!ParseNumber<uint32_t>(val.text, kMaxRatePps, field) || field == 0) {
        return TokenError(val, "bad number (want 1-1000000000)");
      }
      (key.text == "rate" ? seen_rate : seen_burst) = true;
      if (r.action != FilterAction::kLimit) return TokenError(key, RateError(r));
      rate_tok = key;
    }
  }
  if (const char* e = DportError(r)) return TokenError(*dport_tok, e);
  if (const char* e = RateError(r)) return TokenError(rate_tok && seen_rate ? *rate_tok : act, e);
  return r;
}

}  // namespace

// --- Names and printing --------------------------------------------------

std::string_view ToString(FilterAction a) {
  switch (a) {
    case FilterAction::kPass:
      return "pass";
    case FilterAction::kDrop:
      return "drop";
    case FilterAction::kLimit:
      return "limit";
  }
  return "unknown";
}

std::string_view ToString(FilterDrop d) {
  switch (d) {
    case FilterDrop::kFiltered:
      return "filtered";
    case FilterDrop::kRateLimited:
      return "rate_limited";
    case FilterDrop::kCount:
      break;
  }
  return "unknown";
}

Result<IpPrefix> IpPrefix::Parse(std::string_view text) {
  const size_t slash = text.find('/');
  const std::string addr(text.substr(0, slash));
  IpPrefix p;
  p.v6 = addr.find(':') != std::string::npos;
  if (inet_pton(p.v6 ? AF_INET6 : AF_INET, addr.c_str(), p.addr.data()) != 1) {
    return Status(ErrorCode::kInvalidArgument,
                  p.v6 ? "bad IPv6 address" : "bad IPv4 address (want a.b.c.d[/len])");
  }
  p.len = static_cast<uint8_t>(MaxLen(p.v6));
  if (slash != std::string_view::npos &&
      !ParseNumber<uint8_t>(text.substr(slash + 1), static_cast<uint8_t>(MaxLen(p.v6)), p.len)) {
    return Status(ErrorCode::kInvalidArgument,
                  p.v6 ? "bad prefix length (want 0-128)" : "bad prefix length (want 0-32)");
  }
  if (const char* e = PrefixError(p)) return Status(ErrorCode::kInvalidArgument, e);
  return p;
}

std::string IpPrefix::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(v6 ? AF_INET6 : AF_INET, addr.data(), buf, sizeof(buf));
  return std::string(buf) + "/" + std::to_string(len);
}

std::string FilterRule::ToString() const {
  std::string s(proto::ToString(action));
  if (src) s += " src " + src->ToString();
  if (proto) s += " proto " + ProtoName(*proto);
  if (dport) {
    s += " dport " + std::to_string(dport->lo);
    if (dport->hi != dport->lo) s += "-" + std::to_string(dport->hi);
  }
  if (action == FilterAction::kLimit) {
    s += " rate " + std::to_string(rate_pps);
    if (burst != 0) s += " burst " + std::to_string(burst);
  }
  return s;
}

std::map<std::string, uint64_t> FilterStats::ToMap() const {
  std::map<std::string, uint64_t> m;
  m["passed"] = passed;
  m["unclassified"] = unclassified;
  for (size_t d = 0; d < kNumFilterDrops; ++d) {
    m[std::string(ToString(static_cast<FilterDrop>(d)))] = dropped[d];
  }
  for (size_t i = 0; i < rules.size(); ++i) {
    m["rule" + std::to_string(i) + "_hits"] = rules[i].hits;
    m["rule" + std::to_string(i) + "_dropped"] = rules[i].dropped;
  }
  return m;
}

// --- The filter ----------------------------------------------------------

// GCRA times (theoretical arrival, interval, tolerance) in fixed point,
// 2^-kTickFracBits ns per unit, 128 bits wide. The largest sum, now +
// tolerance + interval, stays below 2^96 (a 64-bit ns clock) + 2^92 (burst
// 1e9 x 1 s at rate 1) + 2^62 units, so nothing wraps; an interval rounds
// down by under 2^-32 ns, which adds up to under 1 ns over 4e9 packets.
// A 64-bit word cannot do both: with k fraction bits the clock's range is
// 2^(64-k) ns, and CLOCK_MONOTONIC counts from boot. 16 B per bucket.
__extension__ using Tick = unsigned __int128;
constexpr int kTickFracBits = 32;
constexpr Tick ToTick(uint64_t ns) { return static_cast<Tick>(ns) << kTickFracBits; }

struct EarlyFilter::Compiled {
  FilterAction action;
  uint8_t family;  // 0: any packet, classified or not
  bool has_proto;
  uint8_t proto;
  bool has_dport;
  uint16_t port_lo, port_hi;
  uint64_t hi, lo, mask_hi, mask_lo;  // source prefix, left-aligned
  // limit: GCRA emission interval 1e9 / rate and tolerance (burst - 1) x
  // interval, in Tick units (above): exact to 2^-32 ns, where whole
  // nanoseconds would turn 3e8 pps into 3.33e8 and every rate above 5e8
  // into 1e9.
  Tick interval;
  Tick tolerance;

  bool Matches(const Key& k) const {
    if (family != 0 &&
        (family != k.family || ((k.hi ^ hi) & mask_hi) != 0 || ((k.lo ^ lo) & mask_lo) != 0)) {
      return false;
    }
    if (has_proto && (!k.has_proto || k.proto != proto)) return false;
    if (has_dport && (!k.has_port || k.dport < port_lo || k.dport > port_hi)) return false;
    return true;
  }
};

struct EarlyFilter::Lane {
  struct alignas(64) Line {
    std::array<base::Counter, 8> c;
  };
  std::unique_ptr<Line[]> lines;  // counters, see Slot
  std::unique_ptr<Tick[]> tat;    // GCRA theoretical arrival time per bucket (limit rules)

  base::Counter& counter(size_t slot) { return lines[slot / 8].c[slot % 8]; }
  const base::Counter& counter(size_t slot) const { return lines[slot / 8].c[slot % 8]; }
  // Single writer (the lane's owner, or the shared lane's mutex holder): no RMW.
  void Add(size_t slot, uint64_t n) { counter(slot).Add(n); }
};

Result<std::unique_ptr<EarlyFilter>> EarlyFilter::Create(std::vector<FilterRule> rules,
                                                         FilterOptions options) {
  auto bad = [](std::string msg) { return Status(ErrorCode::kInvalidArgument, "filter: " + msg); };
  if (rules.size() > kMaxRules) {
    return bad(std::to_string(rules.size()) + " rules, more than " + std::to_string(kMaxRules));
  }
  const uint32_t nb = options.rate_buckets;
  if (nb < 16 || nb > (1u << 20) || (nb & (nb - 1)) != 0) {
    return bad("rate_buckets " + std::to_string(nb) + " not a power of two in [16, 1048576]");
  }
  for (size_t i = 0; i < rules.size(); ++i) {
    const FilterRule& r = rules[i];
    const char* e = r.src ? PrefixError(*r.src) : nullptr;
    if (!e) e = DportError(r);
    if (!e) e = RateError(r);
    if (e) return bad("rule " + std::to_string(i) + " (" + r.ToString() + "): " + e);
  }
  return std::unique_ptr<EarlyFilter>(new EarlyFilter(std::move(rules), options));
}

Result<std::vector<FilterRule>> EarlyFilter::ParseRules(std::string_view text) {
  std::vector<FilterRule> rules;
  size_t base = 0;
  while (base <= text.size()) {
    const size_t semi = std::min(text.find(';', base), text.size());
    const auto toks = Tokenize(text.substr(base, semi - base), base);
    if (!toks.empty()) {  // empty rules (";;", a trailing ';') are skipped
      if (rules.size() == kMaxRules) {
        return TokenError(toks[0], "more than " + std::to_string(kMaxRules) + " rules");
      }
      auto r = ParseRule(toks);
      if (!r.ok()) return r.status();
      rules.push_back(std::move(r).value());
    }
    base = semi + 1;
  }
  return rules;
}

Result<std::unique_ptr<EarlyFilter>> EarlyFilter::Parse(std::string_view text,
                                                        FilterOptions options) {
  auto rules = ParseRules(text);
  if (!rules.ok()) return rules.status();
  return Create(std::move(rules).value(), options);
}

EarlyFilter::EarlyFilter(std::vector<FilterRule> rules, FilterOptions options)
    : rules_(std::move(rules)), options_(options), lanes_(kMaxWorkstreams) {
  seed_ = options.seed != 0 ? options.seed : std::random_device{}() * 0x9e3779b97f4a7c15ull | 1;
  for (const FilterRule& r : rules_) {
    Compiled c{};
    c.action = r.action;
    if (r.src) {
      c.family = r.src->v6 ? 6 : 4;
      std::tie(c.hi, c.lo) = AddrWords(*r.src);
      c.mask_hi = TopBits(r.src->len);
      c.mask_lo = TopBits(r.src->len - 64);
    }
    c.has_proto = r.proto.has_value();
    c.proto = r.proto.value_or(0);
    c.has_dport = r.dport.has_value();
    if (r.dport) {
      c.port_lo = r.dport->lo;
      c.port_hi = r.dport->hi;
    }
    if (r.action == FilterAction::kLimit) {
      has_limit_ = true;
      c.interval = ToTick(1'000'000'000) / r.rate_pps;  // rounds down by < 1 unit
      c.tolerance = (EffectiveBurst(r) - 1ull) * c.interval;
    }
    compiled_.push_back(c);
  }
  const size_t lines = (HitsSlot(rules_.size()) + 7) / 8;
  lanes_.ForEach([&](Lane& lane) {
    lane.lines.reset(new Lane::Line[lines]);
    if (has_limit_) lane.tat.reset(new Tick[options_.rate_buckets]());
  });
}

EarlyFilter::~EarlyFilter() = default;

size_t EarlyFilter::Apply(std::span<Packet*> burst) {
  // One clock read per burst: its packets arrived together.
  return Apply(burst, has_limit_ ? sched::FastClock::Global().NowNs() : 0);
}

size_t EarlyFilter::Apply(std::span<Packet*> burst, uint64_t now_ns) {
  return Apply(burst, now_ns, /*at_ip=*/false);
}

size_t EarlyFilter::Apply(std::span<Packet*> burst, nic::LinkType link) {
  return Apply(burst, has_limit_ ? sched::FastClock::Global().NowNs() : 0,
               link == nic::LinkType::kIp);
}

size_t EarlyFilter::Apply(std::span<Packet*> burst, uint64_t now_ns, bool at_ip) {
  const int ws = Netisr::CurrentWorkstream();
  if (lanes_.IsWorker(ws)) return ApplyOnLane(lanes_.For(ws), burst, now_ns, at_ip);
  lockprof::MutexLock lock(shared_lane_mu_);
  return ApplyOnLane(SharedLane(), burst, now_ns, at_ip);
}

EarlyFilter::Lane& EarlyFilter::SharedLane() { return lanes_.Shared(); }

size_t EarlyFilter::ApplyOnLane(Lane& lane, std::span<Packet*> burst, uint64_t now_ns, bool at_ip) {
  const size_t n = burst.size();
  if (compiled_.empty()) {
    lane.Add(kPassedSlot, n);
    return n;
  }
  // Stages over chunks of the burst (the stack's bundling, stack.h): read
  // every packet's fields first, so that the cache misses on descriptors and
  // headers overlap (the loads of one packet do not wait on the rule walk of
  // the last), then walk the rules, then free the drops in one bulk call.
  constexpr size_t kChunk = 64;
  constexpr uint32_t kNoRule = ~0u;
  Key keys[kChunk];
  Packet* drops[kChunk];
  size_t kept = 0;
  uint64_t unclassified = 0;
  std::array<uint64_t, kNumFilterDrops> dropped{};
  // Rule hits and drops accumulate over runs of packets that hit the same
  // rule (a flood is one long run) and go to the lane's counters when the
  // rule changes, instead of a store per packet.
  uint32_t run_rule = kNoRule;
  uint64_t run_hits = 0, run_dropped = 0;
  auto flush_run = [&] {
    if (run_rule == kNoRule) return;
    lane.Add(HitsSlot(run_rule), run_hits);
    if (run_dropped != 0) lane.Add(DroppedSlot(run_rule), run_dropped);
  };
  const uint64_t bucket_mask = options_.rate_buckets - 1;
  const Tick now = ToTick(now_ns);
  const size_t num_rules = compiled_.size();
  for (size_t base = 0; base < n; base += kChunk) {
    const size_t m = std::min(kChunk, n - base);
    Packet** pkts = burst.data() + base;
    // 1. Classify. The driver just wrote the descriptors (hot), but the
    // frames' first lines may be anywhere: ask for all of them up front so
    // that their misses overlap (as many as the core has fill buffers)
    // instead of stalling ~70% of Classify's time on one at a time.
    for (size_t i = 0; i < m; ++i) __builtin_prefetch(pkts[i]->data);
    for (size_t i = 0; i < m; ++i) {
      keys[i] = ClassifyForFilter(*pkts[i], at_ip);
      unclassified += keys[i].family == 0;
    }
    // 2. First matching rule of each packet, and its fate.
    size_t nd = 0;
    for (size_t i = 0; i < m; ++i) {
      const Key& k = keys[i];
      uint32_t r = 0;
      while (r < num_rules && !compiled_[r].Matches(k)) ++r;
      bool drop = false;
      if (r < num_rules) {
        const Compiled& c = compiled_[r];
        if (c.action == FilterAction::kDrop) {
          drop = true;
          ++dropped[static_cast<size_t>(FilterDrop::kFiltered)];
        } else if (c.action == FilterAction::kLimit) {
          // Seeded multiply-xorshift of (rule, source): see the note on collisions.
          uint64_t h = (k.hi ^ seed_) * 0x9e3779b97f4a7c15ull ^ (k.lo + r) * 0xc2b2ae3d27d4eb4full;
          h ^= h >> 29;
          h *= 0xbf58476d1ce4e5b9ull;
          h ^= h >> 32;
          Tick& tat = lane.tat[h & bucket_mask];
          const Tick t = std::max(tat, now);
          if (t - now > c.tolerance) {
            drop = true;
            ++dropped[static_cast<size_t>(FilterDrop::kRateLimited)];
          } else {
            tat = t + c.interval;
          }
        }
        if (r != run_rule) {
          flush_run();
          run_rule = r;
          run_hits = run_dropped = 0;
        }
        ++run_hits;
        run_dropped += drop;
      }
      // 3. Compact the kept ones (order kept), gather the drops.
      if (drop) {
        drops[nd++] = pkts[i];
      } else {
        burst[kept++] = pkts[i];
      }
    }
    ReleaseBulk({drops, nd});
  }
  flush_run();
  lane.Add(kPassedSlot, kept);
  lane.Add(kUnclassifiedSlot, unclassified);
  for (size_t d = 0; d < kNumFilterDrops; ++d) {
    if (dropped[d] != 0) lane.Add(DropSlot(static_cast<FilterDrop>(d)), dropped[d]);
  }
  return kept;
}

std::string EarlyFilter::ToString() const {
  std::string s;
  for (const FilterRule& r : rules_) s += (s.empty() ? "" : "; ") + r.ToString();
  return s;
}

FilterStats EarlyFilter::Stats() const {
  auto sum = [this](size_t slot) {
    uint64_t v = 0;
    lanes_.ForEach([&](const Lane& lane) { v += lane.counter(slot).Get(); });
    return v;
  };
  FilterStats s;
  s.passed = sum(kPassedSlot);
  s.unclassified = sum(kUnclassifiedSlot);
  for (size_t d = 0; d < kNumFilterDrops; ++d) {
    s.dropped[d] = sum(DropSlot(static_cast<FilterDrop>(d)));
  }
  for (size_t r = 0; r < rules_.size(); ++r) {
    s.rules.push_back({rules_[r].ToString(), sum(HitsSlot(r)), sum(DroppedSlot(r))});
  }
  return s;
}

std::map<std::string, uint64_t> EarlyFilter::DropSnapshot() const {
  const FilterStats s = Stats();
  std::map<std::string, uint64_t> m;
  for (size_t d = 0; d < kNumFilterDrops; ++d) {
    if (s.dropped[d] != 0) m.emplace(proto::ToString(static_cast<FilterDrop>(d)), s.dropped[d]);
  }
  return m;
}

}  // namespace netisr::proto
