#include "router/route_table.h"

#include <arpa/inet.h>
#include <rte_errno.h>
#include <rte_lpm.h>
#include <rte_lpm6.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <thread>
#include <tuple>

#include "lockprof/lock.h"

namespace netisr::router {

namespace {

inline constinit lockprof::LockClass kWriterLock("router.route_table.writer");

// rte_lpm and rte_lpm6 take depths 1..32 / 1..128: a /0 route lives beside
// them, in Instance::default4/default6, consulted on a miss.
constexpr uint32_t kNoHop = UINT32_MAX;

uint32_t V4HostOrder(const IpPrefix& p) {
  return (uint32_t{p.addr[0]} << 24) | (uint32_t{p.addr[1]} << 16) | (uint32_t{p.addr[2]} << 8) |
         p.addr[3];
}

// Ordering key of a prefix: IPv4 first, then address, then length.
using PrefixKey = std::tuple<bool, std::array<uint8_t, 16>, uint8_t>;
PrefixKey KeyOf(const IpPrefix& p) { return {p.v6, p.addr, p.len}; }

Status CheckPrefix(const IpPrefix& p) {
  const unsigned max = p.v6 ? 128 : 32;
  if (p.len > max) {
    return Status(ErrorCode::kInvalidArgument, "route " + p.ToString() + ": prefix length " +
                                                   std::to_string(p.len) + " out of range [0, " +
                                                   std::to_string(max) + "]");
  }
  const unsigned bytes = p.v6 ? 16 : 4;
  for (unsigned bit = p.len; bit < bytes * 8; ++bit) {
    if (p.addr[bit / 8] & (0x80u >> (bit % 8))) {
      return Status(ErrorCode::kInvalidArgument,
                    "route " + p.ToString() + ": host bits set past the prefix length");
    }
  }
  for (unsigned i = bytes; i < 16; ++i) {
    if (p.addr[i] != 0) {
      return Status(ErrorCode::kInvalidArgument, "route: IPv4 prefix with bytes past the 4th");
    }
  }
  return Status::Ok();
}

Status OutOfRange(const char* field, uint64_t v, const char* bound) {
  return Status(ErrorCode::kInvalidArgument, std::string("route table: ") + field + " " +
                                                 std::to_string(v) + " out of range " + bound);
}

std::atomic<uint32_t> g_instance_names{0};  // relaxed: only uniqueness matters

}  // namespace

Result<IpAddr> IpAddr::Parse(std::string_view text) {
  const std::string s(text);
  IpAddr a;
  if (s.find(':') != std::string::npos) {
    a.v6 = true;
    if (inet_pton(AF_INET6, s.c_str(), a.v6_bytes.data()) != 1) {
      return Status(ErrorCode::kInvalidArgument, "bad IPv6 address '" + s + "'");
    }
    return a;
  }
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) != 1) {
    return Status(ErrorCode::kInvalidArgument, "bad IPv4 address '" + s + "' (want a.b.c.d)");
  }
  a.v4 = ntohl(v4.s_addr);
  return a;
}

bool IpAddr::unspecified() const {
  if (!v6) return v4 == 0;
  return std::all_of(v6_bytes.begin(), v6_bytes.end(), [](uint8_t b) { return b == 0; });
}

std::string IpAddr::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (v6) {
    inet_ntop(AF_INET6, v6_bytes.data(), buf, sizeof buf);
  } else {
    const in_addr n{htonl(v4)};
    inet_ntop(AF_INET, &n, buf, sizeof buf);
  }
  return buf;
}

bool PrefixContains(const IpPrefix& p, const IpAddr& a) {
  if (p.v6 != a.v6) return false;
  std::array<uint8_t, 16> bytes = a.v6_bytes;
  if (!a.v6) {
    bytes = {static_cast<uint8_t>(a.v4 >> 24), static_cast<uint8_t>(a.v4 >> 16),
             static_cast<uint8_t>(a.v4 >> 8), static_cast<uint8_t>(a.v4)};
  }
  for (unsigned bit = 0; bit < p.len; ++bit) {
    const uint8_t m = 0x80u >> (bit % 8);
    if ((bytes[bit / 8] & m) != (p.addr[bit / 8] & m)) return false;
  }
  return true;
}

Status Validate(const RouteTableOptions& o) {
  if (o.max_readers < 1 || o.max_readers > 1024) {
    return OutOfRange("max_readers", o.max_readers, "[1, 1024]");
  }
  if (o.max_routes4 < 1 || o.max_routes4 > (1u << 20)) {
    return OutOfRange("max_routes4", o.max_routes4, "[1, 1048576]");
  }
  if (o.max_routes6 < 1 || o.max_routes6 > (1u << 20)) {
    return OutOfRange("max_routes6", o.max_routes6, "[1, 1048576]");
  }
  if (o.tbl8_groups4 < 1 || o.tbl8_groups4 > (1u << 16)) {
    return OutOfRange("tbl8_groups4", o.tbl8_groups4, "[1, 65536]");
  }
  if (o.tbl8_groups6 < 1 || o.tbl8_groups6 > (1u << 20)) {
    return OutOfRange("tbl8_groups6", o.tbl8_groups6, "[1, 1048576]");
  }
  if (o.max_next_hops < 1 || o.max_next_hops > (1u << 20)) {
    return OutOfRange("max_next_hops", o.max_next_hops, "[1, 1048576]");
  }
  return Status::Ok();
}

// One complete table. The published one (Impl::current) is read-only; only
// the standby one is written, by the writer holding Impl::mu. Its fields are
// plain: the pointer publication and the grace period order every access
// (see the design note in the header).
struct Instance {
  rte_lpm* v4 = nullptr;
  rte_lpm6* v6 = nullptr;
  std::unique_ptr<NextHop[]> hops;  // by next-hop id
  uint32_t default4 = kNoHop;       // the /0 route's next-hop id
  uint32_t default6 = kNoHop;
};

struct RouteTable::Impl {
  RouteTableOptions opts;
  Instance inst[2];
  // The instance lookups read. Writer: release store after filling it;
  // readers: acquire load (pairs with that store).
  std::atomic<Instance*> current{nullptr};
  // DPDK's QSBR state: one counter line per reader id (rte_zmalloc'd,
  // cache-line aligned). Its own atomics carry the grace-period orders.
  rte_rcu_qsbr* qsbr = nullptr;

  mutable lockprof::Mutex mu{kWriterLock};
  // The routes, the writer's truth both instances are built from.
  std::map<PrefixKey, Route> routes GUARDED_BY(mu);
  // routes' size by family ([0] IPv4, [1] IPv6): Add's max_routes check
  // without a scan (a 1M-route load would be quadratic).
  std::array<size_t, 2> family_routes GUARDED_BY(mu){};
  struct HopRef {
    uint32_t id;
    uint32_t refs;  // routes using it
  };
  std::map<NextHop, HopRef> hop_ids GUARDED_BY(mu);
  std::vector<uint32_t> free_ids GUARDED_BY(mu);
  uint32_t next_id GUARDED_BY(mu) = 0;
  std::vector<uint8_t> reader_taken GUARDED_BY(mu);

  Instance& Standby() REQUIRES(mu) {
    return current.load(std::memory_order_relaxed) == &inst[0] ? inst[1] : inst[0];
  }

  static int ApplyAdd(Instance& in, const Route& r, uint32_t id) {
    in.hops[id] = r.next_hop;
    const IpPrefix& p = r.prefix;
    if (p.len == 0) {
      (p.v6 ? in.default6 : in.default4) = id;
      return 0;
    }
    return p.v6 ? rte_lpm6_add(in.v6, p.addr.data(), p.len, id)
                : rte_lpm_add(in.v4, V4HostOrder(p), p.len, id);
  }

  static int ApplyDelete(Instance& in, const IpPrefix& p) {
    if (p.len == 0) {
      (p.v6 ? in.default6 : in.default4) = kNoHop;
      return 0;
    }
    return p.v6 ? rte_lpm6_delete(in.v6, p.addr.data(), p.len)
                : rte_lpm_delete(in.v4, V4HostOrder(p), p.len);
  }

  // Rebuilds an unpublished instance from `routes` (after a failed change,
  // so that both instances stay equal to the writer's truth).
  void Rebuild(Instance& in) REQUIRES(mu) {
    rte_lpm_delete_all(in.v4);
    rte_lpm6_delete_all(in.v6);
    in.default4 = in.default6 = kNoHop;
    for (const auto& [key, r] : routes) {
      if (ApplyAdd(in, r, hop_ids.at(r.next_hop).id) != 0) {
        // The same routes fitted before the failed change: cannot happen
        // unless memory was corrupted.
        std::fprintf(stderr, "router: route table rebuild failed at %s\n",
                     r.prefix.ToString().c_str());
        std::abort();
      }
    }
  }

  // Waits until every reader that could have loaded the previous `current`
  // has announced a quiescent state (or is offline). Polls rather than
  // spinning: the writer is the control thread, and on a small machine a
  // spinning writer takes a core from the workers it waits for.
  void WaitForReaders() REQUIRES(mu) {
    const uint64_t token = rte_rcu_qsbr_start(qsbr);
    const auto start = std::chrono::steady_clock::now();
    bool warned = false;
    while (rte_rcu_qsbr_check(qsbr, token, false) == 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(20));
      if (!warned && std::chrono::steady_clock::now() - start > std::chrono::seconds(1)) {
        warned = true;
        std::fprintf(stderr,
                     "router: route change waiting > 1 s for a reader's quiescent state "
                     "(a registered worker neither calls Quiescent nor went Offline)\n");
      }
    }
  }

  // Runs `op` on the standby instance, publishes it, waits a grace period,
  // runs `op` on the old one. On failure the standby is rebuilt and nothing
  // is published. Returns op's first result.
  template <class Op>
  int Change(Op op) REQUIRES(mu) {
    Instance& standby = Standby();
    if (int rc = op(standby); rc != 0) {
      Rebuild(standby);
      return rc;
    }
    Instance* old = current.load(std::memory_order_relaxed);
    current.store(&standby, std::memory_order_release);
    WaitForReaders();
    if (op(*old) != 0) Rebuild(*old);  // same contents as standby had: never expected
    return 0;
  }

  std::optional<NextHop> Hop(const Instance* in, uint32_t id) const {
    if (id == kNoHop) return std::nullopt;
    return in->hops[id];
  }
};

RouteTable::RouteTable(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RouteTable::~RouteTable() {
  for (Instance& in : impl_->inst) {
    rte_lpm_free(in.v4);
    rte_lpm6_free(in.v6);
  }
  rte_free(impl_->qsbr);
}

Result<std::unique_ptr<RouteTable>> RouteTable::Create(const RouteTableOptions& options) {
  if (Status s = Validate(options); !s.ok()) return s;
  auto impl = std::make_unique<Impl>();
  impl->opts = options;
  auto table = std::unique_ptr<RouteTable>(new RouteTable(std::move(impl)));
  Impl& m = *table->impl_;
  auto unavailable = [](const char* what) {
    return Status(ErrorCode::kUnavailable,
                  std::string("route table: ") + what + " failed: " + rte_strerror(rte_errno) +
                      " (is DPDK's EAL initialised, with enough memory? see route_table.h)");
  };
  const size_t qsbr_size = rte_rcu_qsbr_get_memsize(options.max_readers);
  m.qsbr = static_cast<rte_rcu_qsbr*>(rte_zmalloc("router_qsbr", qsbr_size, RTE_CACHE_LINE_SIZE));
  if (m.qsbr == nullptr) return unavailable("rte_zmalloc of the QSBR state");
  if (rte_rcu_qsbr_init(m.qsbr, options.max_readers) != 0) return unavailable("rte_rcu_qsbr_init");
  for (Instance& in : m.inst) {
    const uint32_t n = g_instance_names.fetch_add(1, std::memory_order_relaxed);
    char name[RTE_LPM_NAMESIZE];
    std::snprintf(name, sizeof name, "rt4_%u", n);
    rte_lpm_config c4{};
    c4.max_rules = options.max_routes4;
    c4.number_tbl8s = options.tbl8_groups4;
    in.v4 = rte_lpm_create(name, SOCKET_ID_ANY, &c4);
    if (in.v4 == nullptr) return unavailable("rte_lpm_create");
    std::snprintf(name, sizeof name, "rt6_%u", n);
    rte_lpm6_config c6{};
    c6.max_rules = options.max_routes6;
    c6.number_tbl8s = options.tbl8_groups6;
    in.v6 = rte_lpm6_create(name, SOCKET_ID_ANY, &c6);
    if (in.v6 == nullptr) return unavailable("rte_lpm6_create");
    in.hops = std::make_unique<NextHop[]>(options.max_next_hops);
  }
  {
    lockprof::MutexLock g(m.mu);
    m.reader_taken.assign(options.max_readers, 0);
  }
  m.current.store(&m.inst[0], std::memory_order_release);
  return table;
}

Status RouteTable::Add(const Route& route) {
  const IpPrefix& p = route.prefix;
  if (Status s = CheckPrefix(p); !s.ok()) return s;
  if (!route.next_hop.connected() && route.next_hop.gateway.v6 != p.v6) {
    return Status(ErrorCode::kInvalidArgument, "route " + p.ToString() + ": gateway " +
                                                   route.next_hop.gateway.ToString() +
                                                   " is not of the prefix's address family");
  }
  Impl& m = *impl_;
  lockprof::MutexLock g(m.mu);
  const PrefixKey key = KeyOf(p);
  if (m.routes.count(key) != 0) {
    return Status(ErrorCode::kAlreadyExists,
                  "route " + p.ToString() + " already exists (delete it first)");
  }
  const size_t family_routes = m.family_routes[p.v6];
  if (family_routes >= (p.v6 ? m.opts.max_routes6 : m.opts.max_routes4)) {
    return Status(ErrorCode::kResourceExhausted,
                  std::string("route table full: ") + std::to_string(family_routes) + " " +
                      (p.v6 ? "IPv6" : "IPv4") + " routes (max_routes" + (p.v6 ? "6" : "4") + ")");
  }
  // The next-hop id: shared with routes of the same next hop.
  uint32_t id;
  bool new_id = false;
  if (auto it = m.hop_ids.find(route.next_hop); it != m.hop_ids.end()) {
    id = it->second.id;
  } else if (!m.free_ids.empty()) {
    id = m.free_ids.back();
    new_id = true;
  } else if (m.next_id < m.opts.max_next_hops) {
    id = m.next_id;
    new_id = true;
  } else {
    return Status(ErrorCode::kResourceExhausted,
                  "route table full: " + std::to_string(m.opts.max_next_hops) +
                      " distinct next hops (max_next_hops)");
  }
  if (new_id) {
    // Rebuild (on failure) looks ids up here; undone below if the add fails.
    m.hop_ids[route.next_hop] = Impl::HopRef{id, 0};
  }
  const int rc = m.Change([&](Instance& in) { return Impl::ApplyAdd(in, route, id); });
  if (rc != 0) {
    if (new_id) m.hop_ids.erase(route.next_hop);
    return Status(ErrorCode::kResourceExhausted,
                  "route " + p.ToString() + ": " + (p.v6 ? "rte_lpm6_add" : "rte_lpm_add") +
                      " failed: " + std::strerror(-rc) + " (tbl8 groups used up: raise " +
                      (p.v6 ? "tbl8_groups6" : "tbl8_groups4") + ")");
  }
  if (new_id) {
    if (!m.free_ids.empty() && m.free_ids.back() == id) {
      m.free_ids.pop_back();
    } else {
      ++m.next_id;
    }
  }
  ++m.hop_ids[route.next_hop].refs;
  m.routes.emplace(key, route);
  ++m.family_routes[p.v6];
  return Status::Ok();
}

Status RouteTable::Delete(const IpPrefix& prefix,
                          const std::function<bool(const NextHop&)>& match) {
  if (Status s = CheckPrefix(prefix); !s.ok()) return s;
  Impl& m = *impl_;
  lockprof::MutexLock g(m.mu);
  auto it = m.routes.find(KeyOf(prefix));
  if (it == m.routes.end()) {
    return Status(ErrorCode::kNotFound, "no route " + prefix.ToString());
  }
  if (match && !match(it->second.next_hop)) {  // under mu_: no race with a replace
    return Status(ErrorCode::kNotFound,
                  "no route " + prefix.ToString() + " with that next hop (it has another)");
  }
  const NextHop nh = it->second.next_hop;
  // Out of the truth first: a Rebuild after a failed delete then leaves it out.
  m.routes.erase(it);
  --m.family_routes[prefix.v6];
  if (int rc = m.Change([&](Instance& in) { return Impl::ApplyDelete(in, prefix); }); rc != 0) {
    // Not expected (the rule is in both instances); Change rebuilt the
    // standby without it: publish that and rebuild the other one too.
    Instance* old = m.current.load(std::memory_order_relaxed);
    m.current.store(&m.Standby(), std::memory_order_release);
    m.WaitForReaders();
    m.Rebuild(*old);
  }
  auto h = m.hop_ids.find(nh);
  if (--h->second.refs == 0) {
    // No instance maps a prefix to the id any more (both had the route
    // removed), so it may be reused; its hops[] slot is overwritten in the
    // standby first, as any write.
    m.free_ids.push_back(h->second.id);
    m.hop_ids.erase(h);
  }
  return Status::Ok();
}

std::vector<Route> RouteTable::List() const {
  lockprof::MutexLock g(impl_->mu);
  std::vector<Route> out;
  out.reserve(impl_->routes.size());
  for (const auto& [key, r] : impl_->routes) out.push_back(r);
  return out;
}

size_t RouteTable::size() const {
  lockprof::MutexLock g(impl_->mu);
  return impl_->routes.size();
}

Status RouteTable::RegisterReader(uint32_t id) {
  Impl& m = *impl_;
  {
    lockprof::MutexLock g(m.mu);
    if (id >= m.opts.max_readers) {
      return Status(ErrorCode::kInvalidArgument, "route table: reader id " + std::to_string(id) +
                                                     " out of range [0, " +
                                                     std::to_string(m.opts.max_readers) + ")");
    }
    if (m.reader_taken[id]) {
      return Status(ErrorCode::kAlreadyExists,
                    "route table: reader id " + std::to_string(id) + " already registered");
    }
    m.reader_taken[id] = 1;
    rte_rcu_qsbr_thread_register(m.qsbr, id);
  }
  rte_rcu_qsbr_thread_online(m.qsbr, id);
  return Status::Ok();
}

void RouteTable::UnregisterReader(uint32_t id) {
  Impl& m = *impl_;
  lockprof::MutexLock g(m.mu);
  if (id >= m.opts.max_readers || !m.reader_taken[id]) return;
  rte_rcu_qsbr_thread_offline(m.qsbr, id);
  rte_rcu_qsbr_thread_unregister(m.qsbr, id);
  m.reader_taken[id] = 0;
}

void RouteTable::Quiescent(uint32_t id) { rte_rcu_qsbr_quiescent(impl_->qsbr, id); }
void RouteTable::Offline(uint32_t id) { rte_rcu_qsbr_thread_offline(impl_->qsbr, id); }
void RouteTable::Online(uint32_t id) { rte_rcu_qsbr_thread_online(impl_->qsbr, id); }

std::optional<NextHop> RouteTable::Lookup4(uint32_t dst) const {
  const Instance* in = impl_->current.load(std::memory_order_acquire);
  uint32_t id;
  if (rte_lpm_lookup(in->v4, dst, &id) != 0) id = in->default4;
  return impl_->Hop(in, id);
}

std::optional<NextHop> RouteTable::Lookup6(const std::array<uint8_t, 16>& dst) const {
  const Instance* in = impl_->current.load(std::memory_order_acquire);
  uint32_t id;
  if (rte_lpm6_lookup(in->v6, dst.data(), &id) != 0) id = in->default6;
  return impl_->Hop(in, id);
}

size_t RouteTable::Lookup4Burst(std::span<const uint32_t> dst,
                                std::span<const NextHop*> out) const {
  // One instance for the whole burst: each packet still sees one whole table.
  const Instance* in = impl_->current.load(std::memory_order_acquire);
  constexpr size_t kChunk = 64;
  uint32_t hops[kChunk];
  size_t found = 0;
  for (size_t base = 0; base < dst.size(); base += kChunk) {
    const size_t n = std::min(kChunk, dst.size() - base);
    rte_lpm_lookup_bulk(in->v4, dst.data() + base, hops, static_cast<unsigned>(n));
    for (size_t i = 0; i < n; ++i) {
      const uint32_t id =
          (hops[i] & RTE_LPM_LOOKUP_SUCCESS) ? (hops[i] & 0x00FFFFFF) : in->default4;
      out[base + i] = id == kNoHop ? nullptr : &in->hops[id];
      found += out[base + i] != nullptr;
    }
  }
  return found;
}

}  // namespace netisr::router
