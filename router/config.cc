#include "router/config.h"

#include <arpa/inet.h>
#include <toml++/toml.h>

#include <algorithm>
#include <bit>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "netisr/settings.h"
#include "netisr/work_model.h"

namespace netisr::router {

namespace {

constexpr uint32_t kMaxPorts = 64;
constexpr uint32_t kMaxRxQueues = 64;
constexpr uint32_t kMaxStatsInterval = 86400;
// Largest CPU number [dataplane] cpus takes: glibc's CPU_SETSIZE - 1.
constexpr int64_t kMaxCpu = 1023;

// A mistake found while parsing: thrown inside this file only, turned into
// the Status the API returns (one exit path instead of a check per call).
struct ConfigError {
  std::string message;
};

std::string TypeName(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    default:
      return "a date/time";
  }
}

std::string Field(const std::string& where, std::string_view key);

class Parser {
 public:
  explicit Parser(std::string_view name) : name_(name) {}

  [[noreturn]] void Fail(const toml::source_region& where, const std::string& what) const {
    throw ConfigError{name_ + ":" + std::to_string(where.begin.line) + ": " + what};
  }
  [[noreturn]] void Fail(const toml::node& n, const std::string& what) const {
    Fail(n.source(), what);
  }

  // Every key of `t` must be in `allowed`.
  void OnlyKeys(const toml::table& t, const std::string& where,
                std::initializer_list<std::string_view> allowed) const {
    for (auto&& [key, value] : t) {
      bool ok = false;
      std::string list;
      for (std::string_view a : allowed) {
        ok = ok || key.str() == a;
        list += (list.empty() ? "" : ", ") + std::string(a);
      }
      if (!ok) {
        Fail(key.source(),
             "unknown key '" + std::string(key.str()) + "' in " + where + " (valid: " + list + ")");
      }
    }
  }

  const toml::table* Table(const toml::table& root, std::string_view key) const {
    const toml::node* n = root.get(key);
    if (n == nullptr) return nullptr;
    if (!n->is_table()) {
      Fail(*n, "'" + std::string(key) + "' must be a table ([" + std::string(key) + "]), not " +
                   TypeName(*n));
    }
    return n->as_table();
  }

  // The tables of an array of tables ([[key]]), empty if absent.
  std::vector<const toml::table*> Tables(const toml::table& root, std::string_view key) const {
    std::vector<const toml::table*> out;
    const toml::node* n = root.get(key);
    if (n == nullptr) return out;
    if (!n->is_array_of_tables()) {
      Fail(*n, "'" + std::string(key) + "' must be an array of tables ([[" + std::string(key) +
                   "]]), not " + TypeName(*n));
    }
    for (const toml::node& e : *n->as_array()) out.push_back(e.as_table());
    return out;
  }

  std::optional<std::string> String(const toml::table& t, std::string_view key,
                                    const std::string& where) const {
    const toml::node* n = t.get(key);
    if (n == nullptr) return std::nullopt;
    if (!n->is_string()) {
      Fail(*n, Field(where, key) + " must be a string, not " + TypeName(*n));
    }
    return n->as_string()->get();
  }

  std::string RequiredString(const toml::table& t, std::string_view key,
                             const std::string& where) const {
    auto s = String(t, key, where);
    if (!s) Fail(t.source(), where + " has no '" + std::string(key) + "' (required)");
    return *s;
  }

  std::optional<uint32_t> Integer(const toml::table& t, std::string_view key,
                                  const std::string& where, int64_t lo, int64_t hi) const {
    const toml::node* n = t.get(key);
    if (n == nullptr) return std::nullopt;
    if (!n->is_integer()) {
      Fail(*n, Field(where, key) + " must be an integer, not " + TypeName(*n));
    }
    const int64_t v = n->as_integer()->get();
    if (v < lo || v > hi) {
      Fail(*n, Field(where, key) + " = " + std::to_string(v) + " out of range [" +
                   std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
    return static_cast<uint32_t>(v);
  }

  // The values of key (an integer or an array of integers), each in [lo, hi]
  // (within int's range).
  std::vector<int> Integers(const toml::table& t, std::string_view key, const std::string& where,
                            int64_t lo, int64_t hi) const {
    std::vector<int> out;
    const toml::node* n = t.get(key);
    if (n == nullptr) return out;
    if (n->is_integer()) return {static_cast<int>(*Integer(t, key, where, lo, hi))};
    if (!n->is_array()) {
      Fail(*n,
           Field(where, key) + " must be an integer or an array of integers, not " + TypeName(*n));
    }
    for (const toml::node& e : *n->as_array()) {
      if (!e.is_integer()) {
        Fail(e, Field(where, key) + ": each element must be an integer, not " + TypeName(e));
      }
      const int64_t v = e.as_integer()->get();
      if (v < lo || v > hi) {
        Fail(e, Field(where, key) + ": " + std::to_string(v) + " out of range [" +
                    std::to_string(lo) + ", " + std::to_string(hi) + "]");
      }
      out.push_back(static_cast<int>(v));
    }
    return out;
  }

  std::optional<bool> Bool(const toml::table& t, std::string_view key,
                           const std::string& where) const {
    const toml::node* n = t.get(key);
    if (n == nullptr) return std::nullopt;
    if (!n->is_boolean()) {
      Fail(*n, Field(where, key) + " must be true or false, not " + TypeName(*n));
    }
    return n->as_boolean()->get();
  }

  // The string values of key (a string or an array of strings), each with its node.
  std::vector<std::pair<std::string, const toml::node*>> Strings(const toml::table& t,
                                                                 std::string_view key,
                                                                 const std::string& where) const {
    std::vector<std::pair<std::string, const toml::node*>> out;
    const toml::node* n = t.get(key);
    if (n == nullptr) return out;
    if (n->is_string()) {
      out.emplace_back(n->as_string()->get(), n);
      return out;
    }
    if (!n->is_array()) {
      Fail(*n, Field(where, key) + " must be a string or an array of strings, not " + TypeName(*n));
    }
    for (const toml::node& e : *n->as_array()) {
      if (!e.is_string()) {
        Fail(e, Field(where, key) + ": each element must be a string, not " + TypeName(e));
      }
      out.emplace_back(e.as_string()->get(), &e);
    }
    return out;
  }

  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

// "dataplane.workers", "[[port]] #1 'a': address".
std::string Field(const std::string& where, std::string_view key) {
  return where + (where[0] == '[' ? ": " : ".") + std::string(key);
}

std::string PortWhere(size_t i, const std::string& name) {
  return "[[port]] #" + std::to_string(i + 1) + (name.empty() ? "" : " '" + name + "'");
}

// The first port (in order) with a connected prefix holding `a`, or -1.
int PortOn(const RouterConfig& c, const IpAddr& a) {
  for (size_t i = 0; i < c.ports.size(); ++i) {
    for (const PortAddress& pa : c.ports[i].addresses) {
      if (PrefixContains(pa.Connected(), a)) return static_cast<int>(i);
    }
  }
  return -1;
}

int PortNamed(const RouterConfig& c, std::string_view name) {
  for (size_t i = 0; i < c.ports.size(); ++i) {
    if (c.ports[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

std::string PortNames(const RouterConfig& c) {
  std::string s;
  for (const PortConfig& p : c.ports) s += (s.empty() ? "" : ", ") + p.name;
  return s;
}

bool IsLoopback(const std::string& host) {
  if (host == "localhost") return true;
  auto a = IpAddr::Parse(host);
  if (!a.ok()) return false;
  if (!a->v6) return (a->v4 >> 24) == 127;
  std::array<uint8_t, 16> one{};
  one[15] = 1;
  return a->v6_bytes == one;
}

// "HOST:PORT" / "[V6]:PORT" into host and port; error text or empty.
std::string SplitListen(const std::string& s, std::string& host, uint16_t& port) {
  size_t colon;
  if (!s.empty() && s[0] == '[') {
    const size_t close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      return "want [IPV6]:PORT";
    }
    host = s.substr(1, close - 1);
    colon = close + 1;
  } else {
    colon = s.rfind(':');
    if (colon == std::string::npos || colon == 0) return "want HOST:PORT";
    host = s.substr(0, colon);
    if (host.find(':') != std::string::npos) return "an IPv6 host needs brackets: [V6]:PORT";
  }
  const std::string p = s.substr(colon + 1);
  // 0: any free port, which the router prints at start ("control on").
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(p) > 65535) {
    return "bad port '" + p + "' (want 0-65535; 0 = any free port)";
  }
  port = static_cast<uint16_t>(std::stoul(p));
  return "";
}

// "ADDR/LEN" (host bits allowed: it is an interface address).
std::optional<PortAddress> ParsePortAddress(const std::string& s, std::string& error) {
  const size_t slash = s.find('/');
  if (slash == std::string::npos) {
    error = "'" + s + "' has no prefix length (want ADDR/LEN, e.g. 10.1.0.1/24)";
    return std::nullopt;
  }
  auto a = IpAddr::Parse(s.substr(0, slash));
  if (!a.ok()) {
    error = "'" + s + "': " + a.status().message();
    return std::nullopt;
  }
  const std::string l = s.substr(slash + 1);
  const unsigned max = a->v6 ? 128 : 32;
  if (l.empty() || l.size() > 3 || l.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(l) > max) {
    error = "'" + s + "': bad prefix length (want 0-" + std::to_string(max) + ")";
    return std::nullopt;
  }
  if (a->unspecified()) {
    error = "'" + s + "': the unspecified address cannot be a port's address";
    return std::nullopt;
  }
  return PortAddress{*a, static_cast<uint8_t>(std::stoul(l))};
}

}  // namespace

IpPrefix PortAddress::Connected() const {
  IpPrefix p;
  p.v6 = addr.v6;
  p.len = len;
  if (addr.v6) {
    p.addr = addr.v6_bytes;
  } else {
    p.addr = {static_cast<uint8_t>(addr.v4 >> 24), static_cast<uint8_t>(addr.v4 >> 16),
              static_cast<uint8_t>(addr.v4 >> 8), static_cast<uint8_t>(addr.v4)};
  }
  for (unsigned bit = len; bit < (addr.v6 ? 128u : 32u); ++bit) {
    p.addr[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  }
  return p;
}

std::vector<Route> RouterConfig::ConnectedRoutes() const {
  std::vector<Route> out;
  // One route per distinct prefix: two addresses of one port in one
  // prefix give one (a parsed config has no prefix on two ports; for one
  // built in code, the first port keeps it).
  std::set<std::string> seen;
  for (size_t i = 0; i < ports.size(); ++i) {
    for (const PortAddress& a : ports[i].addresses) {
      const IpPrefix p = a.Connected();
      if (seen.insert(p.ToString()).second) {
        out.push_back(Route{p, NextHop{static_cast<uint16_t>(i), IpAddr{a.addr.v6, 0, {}}}});
      }
    }
  }
  return out;
}

std::optional<proto::MacAddr> ParseMac(std::string_view text) {
  proto::MacAddr m{};
  if (text.size() != 17) return std::nullopt;
  for (size_t i = 0; i < 6; ++i) {
    const std::string_view b = text.substr(i * 3, 2);
    if (i < 5 && text[i * 3 + 2] != ':' && text[i * 3 + 2] != '-') return std::nullopt;
    unsigned v = 0;
    for (char c : b) {
      const int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                    : (c >= 'a' && c <= 'f')                    ? c - 'a' + 10
                    : (c >= 'A' && c <= 'F')                    ? c - 'A' + 10
                                                                : -1;
      if (d < 0) return std::nullopt;
      v = v * 16 + static_cast<unsigned>(d);
    }
    m[i] = static_cast<uint8_t>(v);
  }
  return m;
}

Result<Route> ResolveRoute(const RouterConfig& c, std::string_view prefix_text,
                           std::string_view via_text, std::string_view port_name) {
  auto bad = [](std::string m) { return Status(ErrorCode::kInvalidArgument, std::move(m)); };
  auto prefix = IpPrefix::Parse(prefix_text);
  if (!prefix.ok()) {
    return bad("route prefix '" + std::string(prefix_text) + "': " + prefix.status().message());
  }
  Route r{*prefix, {}};
  int named = -1;
  if (!port_name.empty()) {
    named = PortNamed(c, port_name);
    if (named < 0) {
      return bad("route " + prefix->ToString() + ": unknown port '" + std::string(port_name) +
                 "' (ports: " + PortNames(c) + ")");
    }
  }
  if (via_text.empty()) {
    if (named < 0) {
      return bad("route " + prefix->ToString() + ": needs 'via' (a gateway) or 'port' (on-link)");
    }
    const auto& addrs = c.ports[static_cast<size_t>(named)].addresses;
    if (std::none_of(addrs.begin(), addrs.end(),
                     [&](const PortAddress& a) { return a.addr.v6 == prefix->v6; })) {
      // It could neither resolve neighbours nor source errors on that port.
      return bad("route " + prefix->ToString() + ": port '" + std::string(port_name) + "' has no " +
                 (prefix->v6 ? "IPv6" : "IPv4") + " address for an on-link route");
    }
    r.next_hop = NextHop{static_cast<uint16_t>(named), IpAddr{prefix->v6, 0, {}}};
    return r;
  }
  auto via = IpAddr::Parse(via_text);
  if (!via.ok()) {
    return bad("route " + prefix->ToString() + ": via '" + std::string(via_text) +
               "': " + via.status().message());
  }
  if (via->v6 != prefix->v6) {
    return bad("route " + prefix->ToString() + ": via " + via->ToString() +
               " is not of the prefix's address family");
  }
  if (via->unspecified()) {
    return bad("route " + prefix->ToString() + ": via " + via->ToString() +
               " is the unspecified address (for an on-link route give 'port' instead)");
  }
  const int on = PortOn(c, *via);
  if (on < 0) {
    return bad("route " + prefix->ToString() + ": next hop " + via->ToString() +
               " is not on any port's connected prefix");
  }
  if (named >= 0 && named != on) {
    return bad("route " + prefix->ToString() + ": next hop " + via->ToString() + " is on port '" +
               c.ports[on].name + "', not on port '" + std::string(port_name) + "'");
  }
  r.next_hop = NextHop{static_cast<uint16_t>(on), *via};
  return r;
}

Result<RouterConfig> ParseRouterConfig(std::string_view text, std::string_view name) {
  Parser p(name);
  RouterConfig c;
  c.source = std::string(name);
  try {
    toml::table root;
    try {
      root = toml::parse(text, name);
    } catch (const toml::parse_error& e) {
      p.Fail(e.source(), "TOML syntax: " + std::string(e.description()));
    }
    p.OnlyKeys(root, "the file",
               {"dataplane", "tables", "port", "route", "neighbour", "filter", "control"});

    // [dataplane]
    if (const toml::table* d = p.Table(root, "dataplane")) {
      p.OnlyKeys(*d, "[dataplane]",
                 {"eal", "workers", "cpus", "model", "dispatch", "stats_interval"});
      if (auto s = p.String(*d, "eal", "dataplane")) c.dataplane.eal = *s;
      if (auto v = p.Integer(*d, "workers", "dataplane", 1, kMaxWorkstreams)) {
        c.dataplane.workers = *v;
      }
      c.dataplane.cpus = p.Integers(*d, "cpus", "dataplane", 0, kMaxCpu);
      if (auto s = p.String(*d, "model", "dataplane")) {
        auto m = MakeWorkModel(*s);
        if (!m.ok()) p.Fail(*d->get("model"), "dataplane.model: " + m.status().message());
        if (*s == "inline") {
          p.Fail(*d->get("model"),
                 "dataplane.model: 'inline' runs only when its caller pumps it; a router "
                 "needs threads, poll or fibers");
        }
        c.dataplane.model = *s;
      }
      if (auto s = p.String(*d, "dispatch", "dataplane")) {
        auto m = ParseDispatchMode(*s);
        if (!m) {
          p.Fail(*d->get("dispatch"), "dataplane.dispatch: unknown dispatch mode '" + *s +
                                          "' (choose direct, deferred, hybrid or adaptive)");
        }
        c.dataplane.dispatch = *m;
      }
      if (auto v = p.Integer(*d, "stats_interval", "dataplane", 0, kMaxStatsInterval)) {
        c.dataplane.stats_interval_s = *v;
      }
    }

    // [tables]: the bounds are RouteTable's and NeighbourTable's Validate's.
    if (const toml::table* t = p.Table(root, "tables")) {
      p.OnlyKeys(*t, "[tables]",
                 {"max_routes4", "max_routes6", "tbl8_groups4", "tbl8_groups6", "max_next_hops",
                  "neighbours", "neighbour_queue", "neighbour_queue_total"});
      RouteTableOptions& r = c.route_table;
      NeighbourOptions& n = c.neighbour_table;
      r.max_routes4 = p.Integer(*t, "max_routes4", "tables", 1, 1 << 20).value_or(r.max_routes4);
      r.max_routes6 = p.Integer(*t, "max_routes6", "tables", 1, 1 << 20).value_or(r.max_routes6);
      r.tbl8_groups4 = p.Integer(*t, "tbl8_groups4", "tables", 1, 1 << 16).value_or(r.tbl8_groups4);
      r.tbl8_groups6 = p.Integer(*t, "tbl8_groups6", "tables", 1, 1 << 20).value_or(r.tbl8_groups6);
      r.max_next_hops =
          p.Integer(*t, "max_next_hops", "tables", 1, 1 << 20).value_or(r.max_next_hops);
      n.capacity = p.Integer(*t, "neighbours", "tables", 16, 1 << 20).value_or(n.capacity);
      if (!std::has_single_bit(n.capacity)) {
        p.Fail(*t->get("neighbours"),
               "tables.neighbours = " + std::to_string(n.capacity) + " is not a power of two");
      }
      n.queue_per_neighbour =
          p.Integer(*t, "neighbour_queue", "tables", 1, 1024).value_or(n.queue_per_neighbour);
      n.queue_total =
          p.Integer(*t, "neighbour_queue_total", "tables", 1, 1 << 20).value_or(n.queue_total);
      // The tables' own checks too, should their bounds ever tighten.
      for (const Status& st : {Validate(r), Validate(n)}) {
        if (!st.ok()) p.Fail(*t, "[tables]: " + st.message());
      }
    }

    // [[port]]
    std::map<std::string, std::pair<std::string, uint32_t>> addr_seen;  // addr -> (port, line)
    const auto ports = p.Tables(root, "port");
    if (ports.empty()) p.Fail(root.source(), "no [[port]]: the router needs at least one port");
    if (ports.size() > kMaxPorts) {
      p.Fail(*ports[kMaxPorts], "too many ports (at most " + std::to_string(kMaxPorts) + ")");
    }
    for (size_t i = 0; i < ports.size(); ++i) {
      const toml::table& t = *ports[i];
      PortConfig pc;
      p.OnlyKeys(t, PortWhere(i, ""), {"name", "device", "address", "rx_queues"});
      pc.name = p.RequiredString(t, "name", PortWhere(i, ""));
      const std::string where = PortWhere(i, pc.name);
      if (pc.name.empty()) p.Fail(*t.get("name"), where + ": name is empty");
      if (int other = PortNamed(c, pc.name); other >= 0) {
        p.Fail(*t.get("name"), "duplicate port name '" + pc.name + "' (also [[port]] #" +
                                   std::to_string(other + 1) + ")");
      }
      pc.device = p.RequiredString(t, "device", where);
      const auto addrs = p.Strings(t, "address", where);
      if (addrs.empty()) p.Fail(t.source(), where + " has no 'address' (required)");
      for (const auto& [s, node] : addrs) {
        std::string err;
        auto pa = ParsePortAddress(s, err);
        if (!pa) p.Fail(*node, where + " address " + err);
        const std::string key = pa->addr.ToString();
        auto [it, fresh] =
            addr_seen.emplace(key, std::make_pair(pc.name, node->source().begin.line));
        if (!fresh) {
          p.Fail(*node, "duplicate address " + key + " (also on port '" + it->second.first +
                            "', line " + std::to_string(it->second.second) + ")");
        }
        // A connected prefix belongs to one port: overlapping another
        // port's, the router could not tell which port its hosts are on.
        const IpPrefix mine = pa->Connected();
        for (const PortConfig& other : c.ports) {
          for (const PortAddress& oa : other.addresses) {
            const IpPrefix theirs = oa.Connected();
            if (theirs.v6 != mine.v6) continue;
            const bool overlap = mine.len <= theirs.len ? PrefixContains(mine, oa.addr)
                                                        : PrefixContains(theirs, pa->addr);
            if (overlap) {
              p.Fail(*node, where + " address " + s + ": its prefix " + mine.ToString() +
                                " overlaps port '" + other.name + "''s " + theirs.ToString());
            }
          }
        }
        pc.addresses.push_back(*pa);
      }
      const auto rxq = p.Integer(t, "rx_queues", where, 1, kMaxRxQueues);
      pc.rx_queues_set = rxq.has_value();
      pc.rx_queues = rxq.value_or(c.dataplane.workers);
      c.ports.push_back(std::move(pc));
    }

    // Routes of each family so far ([false] IPv4, [true] IPv6), the
    // connected ones first, against [tables]' max_routes4/6.
    size_t routes_of[2] = {0, 0};
    for (const Route& cr : c.ConnectedRoutes()) ++routes_of[cr.prefix.v6];
    for (const bool v6 : {false, true}) {
      const uint32_t max = v6 ? c.route_table.max_routes6 : c.route_table.max_routes4;
      if (routes_of[v6] > max) {
        const char* k = v6 ? "max_routes6" : "max_routes4";
        const toml::table* tt = root.get_as<toml::table>("tables");
        p.Fail(tt != nullptr && tt->get(k) != nullptr ? tt->get(k)->source() : root.source(),
               std::string("tables.") + k + " = " + std::to_string(max) + " is less than the " +
                   std::to_string(routes_of[v6]) + " connected " + (v6 ? "IPv6" : "IPv4") +
                   " prefixes of the ports");
      }
    }

    // [[route]]
    std::map<std::string, uint32_t> prefix_seen;
    for (const toml::table* t : p.Tables(root, "route")) {
      p.OnlyKeys(*t, "[[route]]", {"prefix", "via", "port"});
      const std::string prefix = p.RequiredString(*t, "prefix", "[[route]]");
      const std::string via = p.String(*t, "via", "route").value_or("");
      const std::string port = p.String(*t, "port", "route").value_or("");
      auto r = ResolveRoute(c, prefix, via, port);
      if (!r.ok()) {
        // Point at the value the message is about.
        const std::string& m = r.status().message();
        const toml::node* at = t->get("prefix");
        if (m.find("unknown port") != std::string::npos && t->get("port")) at = t->get("port");
        if (m.find("via") != std::string::npos || m.find("next hop") != std::string::npos) {
          if (t->get("via")) at = t->get("via");
        }
        p.Fail(*at, m);
      }
      const std::string key = r->prefix.ToString();
      for (const Route& cr : c.ConnectedRoutes()) {
        if (cr.prefix == r->prefix) {
          p.Fail(*t->get("prefix"), "route " + key + " is port '" + c.ports[cr.next_hop.port].name +
                                        "''s connected prefix (the router adds it from the port's "
                                        "address)");
        }
      }
      auto [it, fresh] = prefix_seen.emplace(key, t->get("prefix")->source().begin.line);
      if (!fresh) {
        p.Fail(*t->get("prefix"),
               "duplicate route " + key + " (also line " + std::to_string(it->second) + ")");
      }
      // Connected routes count against the same bound (the router adds them first).
      const bool v6 = r->prefix.v6;
      const uint32_t max = v6 ? c.route_table.max_routes6 : c.route_table.max_routes4;
      if (++routes_of[v6] > max) {
        p.Fail(*t->get("prefix"), "route " + key + ": more " + (v6 ? "IPv6" : "IPv4") +
                                      " routes than tables." +
                                      (v6 ? "max_routes6" : "max_routes4") + " = " +
                                      std::to_string(max) + " (connected routes count too)");
      }
      c.routes.push_back(*r);
    }

    // [[neighbour]]
    for (const toml::table* t : p.Tables(root, "neighbour")) {
      p.OnlyKeys(*t, "[[neighbour]]", {"address", "mac", "port"});
      const std::string addr = p.RequiredString(*t, "address", "[[neighbour]]");
      const std::string mac = p.RequiredString(*t, "mac", "[[neighbour]]");
      const std::string port = p.RequiredString(*t, "port", "[[neighbour]]");
      StaticNeighbour n;
      auto a = IpAddr::Parse(addr);
      if (!a.ok()) p.Fail(*t->get("address"), "neighbour address: " + a.status().message());
      n.addr = *a;
      auto m = ParseMac(mac);
      if (!m) {
        p.Fail(*t->get("mac"), "neighbour " + addr + ": bad MAC '" + mac +
                                   "' (want six hex bytes, e.g. 02:00:00:00:00:01)");
      }
      n.mac = *m;
      const int pi = PortNamed(c, port);
      if (pi < 0) {
        p.Fail(*t->get("port"),
               "neighbour " + addr + ": unknown port '" + port + "' (ports: " + PortNames(c) + ")");
      }
      n.port = static_cast<uint16_t>(pi);
      bool on = false;
      for (const PortAddress& pa : c.ports[pi].addresses)
        on = on || PrefixContains(pa.Connected(), n.addr);
      if (!on) {
        p.Fail(*t->get("address"), "neighbour " + n.addr.ToString() +
                                       " is not on a connected prefix of port '" + port + "'");
      }
      // The table keeps a slot free (open addressing): capacity - 1 entries.
      if (c.neighbours.size() + 1 > c.neighbour_table.capacity - 1) {
        p.Fail(*t->get("address"), "neighbour " + n.addr.ToString() +
                                       ": more static neighbours than tables.neighbours" + " = " +
                                       std::to_string(c.neighbour_table.capacity) + " holds (" +
                                       std::to_string(c.neighbour_table.capacity - 1) + ")");
      }
      for (const StaticNeighbour& o : c.neighbours) {
        if (o.port == n.port && o.addr == n.addr) {
          p.Fail(*t->get("address"),
                 "duplicate neighbour " + n.addr.ToString() + " on port '" + port + "'");
        }
      }
      c.neighbours.push_back(n);
    }

    // [filter]
    if (const toml::table* f = p.Table(root, "filter")) {
      p.OnlyKeys(*f, "[filter]", {"rules"});
      for (const auto& [s, node] : p.Strings(*f, "rules", "filter")) {
        auto rules = proto::EarlyFilter::ParseRules(s);
        if (!rules.ok()) p.Fail(*node, "filter rule '" + s + "': " + rules.status().message());
        c.filter_rules.insert(c.filter_rules.end(), rules->begin(), rules->end());
      }
      if (c.filter_rules.size() > proto::EarlyFilter::kMaxRules) {
        p.Fail(*f, "too many filter rules (" + std::to_string(c.filter_rules.size()) +
                       ", at most " + std::to_string(proto::EarlyFilter::kMaxRules) + ")");
      }
    }

    // [control]
    if (const toml::table* ct = p.Table(root, "control")) {
      p.OnlyKeys(*ct, "[control]", {"listen", "allow_remote"});
      c.control.allow_remote = p.Bool(*ct, "allow_remote", "control").value_or(false);
      if (auto s = p.String(*ct, "listen", "control")) c.control.listen = *s;
    }
    if (c.control.listen.empty()) {
      c.control.enabled = false;
    } else {
      const toml::node* at = nullptr;
      if (const toml::table* ct = root.get_as<toml::table>("control")) at = ct->get("listen");
      const std::string e = SplitListen(c.control.listen, c.control.host, c.control.port);
      if (!e.empty()) {
        const std::string m = "control.listen '" + c.control.listen + "': " + e;
        at ? p.Fail(*at, m) : p.Fail(root.source(), m);
      }
      if (!IsLoopback(c.control.host) && !c.control.allow_remote) {
        p.Fail(*at, "control.listen '" + c.control.listen +
                        "' is not a loopback address: the control API is localhost-only unless "
                        "[control] allow_remote = true");
      }
    }
  } catch (const ConfigError& e) {
    return Status(ErrorCode::kInvalidArgument, e.message);
  }
  return c;
}

Result<RouterConfig> LoadRouterConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(ErrorCode::kNotFound, "cannot read config file '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad())
    return Status(ErrorCode::kInvalidArgument, "error reading config file '" + path + "'");
  return ParseRouterConfig(ss.str(), path);
}

}  // namespace netisr::router
