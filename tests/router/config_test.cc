#include "router/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace netisr::router {
namespace {

// Issue 16's example, verbatim.
constexpr const char* kIssueExample = R"([dataplane]
eal = "--no-huge --no-pci --no-shconf -m 512"
workers = 1
model = "poll"
dispatch = "direct"
[[port]]
name = "a"
device = "net_af_packet0,iface=rA"
address = ["10.1.0.1/24", "fd00:1::1/64"]
[[port]]
name = "b"
device = "net_af_packet1,iface=rB"
address = ["10.2.0.1/24", "fd00:2::1/64"]
[[route]]
prefix = "10.3.0.0/16"
via = "10.2.0.2"
[control]
listen = "127.0.0.1:9180"
)";

IpAddr A(const char* s) { return *IpAddr::Parse(s); }

TEST(RouterConfig, TheIssueExampleParses) {
  auto c = ParseRouterConfig(kIssueExample, "router.toml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->dataplane.eal, "--no-huge --no-pci --no-shconf -m 512");
  EXPECT_EQ(c->dataplane.workers, 1u);
  EXPECT_EQ(c->dataplane.model, "poll");
  EXPECT_EQ(c->dataplane.dispatch, DispatchMode::kDirect);
  EXPECT_EQ(c->dataplane.stats_interval_s, 0u);
  ASSERT_EQ(c->ports.size(), 2u);
  EXPECT_EQ(c->ports[1].name, "b");
  EXPECT_EQ(c->ports[1].device, "net_af_packet1,iface=rB");
  EXPECT_EQ(c->ports[1].rx_queues, 1u);  // = workers
  ASSERT_EQ(c->ports[0].addresses.size(), 2u);
  EXPECT_EQ(c->ports[0].addresses[0].addr, A("10.1.0.1"));
  EXPECT_EQ(c->ports[0].addresses[0].len, 24);
  EXPECT_EQ(c->ports[0].addresses[1].Connected().ToString(), "fd00:1::/64");
  ASSERT_EQ(c->routes.size(), 1u);
  EXPECT_EQ(c->routes[0].prefix.ToString(), "10.3.0.0/16");
  EXPECT_EQ(c->routes[0].next_hop.port, 1);  // 10.2.0.2 is on b's 10.2.0.0/24
  EXPECT_EQ(c->routes[0].next_hop.gateway, A("10.2.0.2"));
  EXPECT_TRUE(c->neighbours.empty());
  EXPECT_TRUE(c->filter_rules.empty());
  EXPECT_TRUE(c->control.enabled);
  EXPECT_EQ(c->control.host, "127.0.0.1");
  EXPECT_EQ(c->control.port, 9180);
  const std::vector<Route> connected = c->ConnectedRoutes();
  ASSERT_EQ(connected.size(), 4u);
  EXPECT_EQ(connected[2].prefix.ToString(), "10.2.0.0/24");
  EXPECT_EQ(connected[2].next_hop.port, 1);
  EXPECT_TRUE(connected[2].next_hop.connected());
  EXPECT_TRUE(connected[3].next_hop.connected());
  EXPECT_TRUE(connected[3].prefix.v6);
}

TEST(RouterConfig, EveryOptionalPartParses) {
  const std::string text = R"([dataplane]
workers = 2
model = "threads"
dispatch = "hybrid"
stats_interval = 5
[[port]]
name = "a"
device = "net_ring0"
address = "10.1.0.1/24"
rx_queues = 1
[[port]]
name = "b"
device = "net_ring1"
address = ["fd00:2::1/64"]
[[route]]
prefix = "fd00:3::/48"
via = "fd00:2::2"
[[route]]
prefix = "10.9.0.0/16"
port = "a"
[[neighbour]]
address = "10.1.0.7"
mac = "02:00:00:00:00:07"
port = "a"
[filter]
rules = ["drop src 192.0.2.0/24", "limit proto icmp rate 100"]
[control]
listen = "[::1]:9999"
)";
  auto c = ParseRouterConfig(text, "full.toml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->dataplane.dispatch, DispatchMode::kHybrid);
  EXPECT_EQ(c->dataplane.stats_interval_s, 5u);
  EXPECT_EQ(c->ports[0].rx_queues, 1u);
  EXPECT_EQ(c->ports[1].rx_queues, 2u);  // default = workers
  EXPECT_EQ(c->routes[0].next_hop.port, 1);
  EXPECT_EQ(c->routes[1].next_hop.port, 0);
  EXPECT_TRUE(c->routes[1].next_hop.connected());
  ASSERT_EQ(c->neighbours.size(), 1u);
  EXPECT_EQ(c->neighbours[0].mac, (proto::MacAddr{2, 0, 0, 0, 0, 7}));
  ASSERT_EQ(c->filter_rules.size(), 2u);
  EXPECT_EQ(c->filter_rules[1].rate_pps, 100u);
  EXPECT_EQ(c->control.host, "::1");
  EXPECT_EQ(c->control.port, 9999);
}

TEST(RouterConfig, ControlDefaultsAndOff) {
  std::string text = kIssueExample;
  text = text.substr(0, text.find("[control]"));
  auto c = ParseRouterConfig(text, "r.toml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->control.listen, "127.0.0.1:9180");
  EXPECT_TRUE(c->control.enabled);
  c = ParseRouterConfig(text + "[control]\nlisten = \"\"\n", "r.toml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_FALSE(c->control.enabled);
  c = ParseRouterConfig(text + "[control]\nlisten = \"0.0.0.0:80\"\nallow_remote = true\n",
                        "r.toml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->control.host, "0.0.0.0");
}

// The example with line `line` (1-based) replaced by `replacement`
// ("" deletes it), or with `extra` appended.
std::string Edit(int line, const std::string& replacement) {
  std::string out;
  std::string text = kIssueExample;
  int n = 1;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    const std::string l = text.substr(pos, nl - pos);
    out += (n == line ? replacement : l) + "\n";
    pos = nl + 1;
    ++n;
  }
  return out;
}

// Parses `text` and expects an error at router.toml:`line` containing `what`.
void ExpectError(const std::string& text, int line, const std::string& what) {
  auto c = ParseRouterConfig(text, "router.toml");
  ASSERT_FALSE(c.ok()) << "parsed:\n" << text;
  EXPECT_EQ(c.status().code(), ErrorCode::kInvalidArgument);
  const std::string& m = c.status().message();
  EXPECT_EQ(m.rfind("router.toml:" + std::to_string(line) + ": ", 0), 0u) << m;
  EXPECT_NE(m.find(what), std::string::npos) << m;
}

// [tables] sizes the routing and neighbour tables; what does not fit is an
// error at the route that would not fit.
TEST(RouterConfig, TablesSizeTheTables) {
  auto c = ParseRouterConfig(std::string(kIssueExample) + R"([tables]
max_routes4 = 100
max_routes6 = 10
tbl8_groups4 = 16
tbl8_groups6 = 64
max_next_hops = 32
neighbours = 64
neighbour_queue = 4
neighbour_queue_total = 128
)",
                             "router.toml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->route_table.max_routes4, 100u);
  EXPECT_EQ(c->route_table.max_routes6, 10u);
  EXPECT_EQ(c->route_table.tbl8_groups4, 16u);
  EXPECT_EQ(c->route_table.tbl8_groups6, 64u);
  EXPECT_EQ(c->route_table.max_next_hops, 32u);
  EXPECT_EQ(c->neighbour_table.capacity, 64u);
  EXPECT_EQ(c->neighbour_table.queue_per_neighbour, 4u);
  EXPECT_EQ(c->neighbour_table.queue_total, 128u);
  auto d = ParseRouterConfig(kIssueExample, "router.toml");  // no [tables]: the tables' defaults
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->route_table.max_routes4, RouteTableOptions{}.max_routes4);
  EXPECT_EQ(d->neighbour_table.capacity, NeighbourOptions{}.capacity);
}

TEST(RouterConfigErrors, Tables) {
  const std::string base = kIssueExample;
  ExpectError(base + "[tables]\nneighbours = 100\n", 20,
              "tables.neighbours = 100 is not a power of two");
  ExpectError(base + "[tables]\nneighbours = 8\n", 20, "out of range [16, 1048576]");
  ExpectError(base + "[tables]\nmax_routes4 = 0\n", 20, "tables.max_routes4 = 0 out of range");
  ExpectError(base + "[tables]\nrouts = 5\n", 20, "unknown key 'routs' in [tables]");
  // The two ports' connected IPv4 prefixes alone do not fit in 1.
  ExpectError(base + "[tables]\nmax_routes4 = 1\n", 20,
              "tables.max_routes4 = 1 is less than the 2 connected IPv4 prefixes of the ports");
  // Two connected IPv4 prefixes (ports a and b) and 10.3.0.0/16: 3 > 2.
  ExpectError(base + "[tables]\nmax_routes4 = 2\n", 15,
              "route 10.3.0.0/16: more IPv4 routes than tables.max_routes4 = 2 (connected routes "
              "count too)");
}

TEST(RouterConfigErrors, MoreStaticNeighboursThanTheTableHolds) {
  // neighbours = 16 holds 15 (a slot stays free): the 16th is refused.
  std::string text = std::string(kIssueExample) + "[tables]\nneighbours = 16\n";
  for (int i = 1; i <= 16; ++i) {
    text += "[[neighbour]]\naddress = \"10.2.0." + std::to_string(10 + i) +
            "\"\nmac = \"02:00:00:00:00:01\"\nport = \"b\"\n";
  }
  // The 16th [[neighbour]]'s address: 20 lines of example and [tables],
  // then 4 lines a neighbour.
  ExpectError(text, 20 + 15 * 4 + 2,
              "more static neighbours than tables.neighbours = 16 holds (15)");
}

TEST(RouterConfigErrors, OverlappingConnectedPrefixes) {
  // b's 10.1.0.0/16 holds a's 10.1.0.0/24: which port owns 10.1.0.9?
  ExpectError(Edit(13, "address = [\"10.1.7.1/16\", \"fd00:2::1/64\"]"), 13,
              "'b' address 10.1.7.1/16: its prefix 10.1.0.0/16 overlaps port 'a''s 10.1.0.0/24");
  ExpectError(Edit(13, "address = [\"10.2.0.1/24\", \"fd00:1:0:0:8000::1/65\"]"), 13,
              "overlaps port 'a''s fd00:1::/64");
  // Two addresses of one port in one prefix are fine (one connected route).
  auto c = ParseRouterConfig(Edit(9, "address = [\"10.1.0.1/24\", \"10.1.0.2/24\"]"), "r.toml");
  ASSERT_TRUE(c.ok()) << c.status().message();
}

TEST(RouterConfigErrors, BadPrefix) {
  ExpectError(Edit(15, "prefix = \"10.3.0.0/33\""), 15,
              "route prefix '10.3.0.0/33': bad prefix length (want 0-32)");
  ExpectError(Edit(15, "prefix = \"10.3.0.1/16\""), 15, "host bits");
  ExpectError(Edit(9, "address = [\"10.1.0.1\"]"), 9, "has no prefix length");
  ExpectError(Edit(9, "address = [\"10.1.0.300/24\"]"), 9, "bad IPv4 address '10.1.0.300'");
}

// [dataplane] cpus: an integer or an array of them, each a CPU number.
TEST(RouterConfig, CpusPinTheWorkers) {
  auto c = ParseRouterConfig(Edit(3, "workers = 2\ncpus = [1, 0]"), "r.toml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->dataplane.cpus, (std::vector<int>{1, 0}));
  c = ParseRouterConfig(Edit(3, "workers = 1\ncpus = 1"), "r.toml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->dataplane.cpus, (std::vector<int>{1}));
  c = ParseRouterConfig(kIssueExample, "r.toml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->dataplane.cpus.empty());
}

TEST(RouterConfigErrors, Cpus) {
  ExpectError(Edit(3, "cpus = [0, -1]"), 3, "dataplane.cpus: -1 out of range [0, 1023]");
  ExpectError(Edit(3, "cpus = [\"1\"]"), 3, "dataplane.cpus: each element must be an integer");
  ExpectError(Edit(3, "cpus = \"1\""), 3, "dataplane.cpus must be an integer or an array");
  ExpectError(Edit(3, "cpus = 4096"), 3, "dataplane.cpus = 4096 out of range [0, 1023]");
}

TEST(RouterConfigErrors, UnknownKey) {
  ExpectError(Edit(9, "adress = [\"10.1.0.1/24\"]"), 9,
              "unknown key 'adress' in [[port]] #1 (valid: name, device, address, rx_queues)");
  ExpectError(Edit(4, "modle = \"poll\""), 4, "unknown key 'modle' in [dataplane]");
  ExpectError(Edit(17, "[controll]"), 17, "unknown key 'controll' in the file");
}

TEST(RouterConfigErrors, WrongType) {
  ExpectError(Edit(3, "workers = \"1\""), 3, "dataplane.workers must be an integer, not a string");
  ExpectError(Edit(9, "address = 10"), 9,
              "must be a string or an array of strings, not an integer");
  ExpectError(Edit(9, "address = [\"10.1.0.1/24\", 5]"), 9, "each element must be a string");
  ExpectError(Edit(3, "workers = 0"), 3, "dataplane.workers = 0 out of range [1, 64]");
}

TEST(RouterConfigErrors, UnknownPortName) {
  ExpectError(Edit(16, "port = \"c\""), 16, "unknown port 'c' (ports: a, b)");
  ExpectError(kIssueExample + std::string("[[neighbour]]\naddress = \"10.2.0.2\"\nmac = "
                                          "\"02:00:00:00:00:02\"\nport = \"z\"\n"),
              22, "neighbour 10.2.0.2: unknown port 'z' (ports: a, b)");
}

TEST(RouterConfigErrors, DuplicateAddressAndName) {
  ExpectError(Edit(13, "address = [\"10.2.0.1/24\", \"fd00:1::1/64\"]"), 13,
              "duplicate address fd00:1::1 (also on port 'a', line 9)");
  ExpectError(Edit(11, "name = \"a\""), 11, "duplicate port name 'a' (also [[port]] #1)");
  ExpectError(
      kIssueExample + std::string("[[route]]\nprefix = \"10.3.0.0/16\"\nvia = \"10.1.0.9\"\n"), 20,
      "duplicate route 10.3.0.0/16 (also line 15)");
}

TEST(RouterConfigErrors, NextHopNotOnAnyPort) {
  ExpectError(Edit(16, "via = \"10.7.0.2\""), 16,
              "route 10.3.0.0/16: next hop 10.7.0.2 is not on any port's connected prefix");
  ExpectError(Edit(16, "via = \"fd00:2::2\""), 16, "not of the prefix's address family");
  ExpectError(Edit(16, ""), 15, "needs 'via' (a gateway) or 'port' (on-link)");
}

TEST(RouterConfigErrors, OnLinkRouteNeedsAnAddressOfItsFamily) {
  ExpectError(Edit(13, "address = [\"10.2.0.1/24\"]") +
                  "[[route]]\nprefix = \"fd00:9::/64\"\nport = \"b\"\n",
              20, "route fd00:9::/64: port 'b' has no IPv6 address for an on-link route");
}

TEST(RouterConfigErrors, InlineModelIsRefused) {
  ExpectError(Edit(4, "model = \"inline\""), 4, "'inline' runs only when its caller pumps it");
}

TEST(RouterConfigErrors, BadMac) {
  ExpectError(kIssueExample + std::string("[[neighbour]]\naddress = \"10.2.0.2\"\nmac = "
                                          "\"02:00:00:00:00\"\nport = \"b\"\n"),
              21, "neighbour 10.2.0.2: bad MAC '02:00:00:00:00'");
  ExpectError(kIssueExample + std::string("[[neighbour]]\naddress = \"10.1.0.2\"\nmac = "
                                          "\"02:00:00:00:00:02\"\nport = \"b\"\n"),
              20, "neighbour 10.1.0.2 is not on a connected prefix of port 'b'");
}

TEST(RouterConfigErrors, BadModelOrDispatchListsTheValidOnes) {
  ExpectError(Edit(4, "model = \"spin\""), 4,
              "unknown work model 'spin' (choose threads, poll, fibers or inline)");
  ExpectError(Edit(5, "dispatch = \"now\""), 5,
              "unknown dispatch mode 'now' (choose direct, deferred, hybrid or adaptive)");
}

TEST(RouterConfigErrors, ControlListen) {
  ExpectError(Edit(18, "listen = \"10.1.0.1:9180\""), 18,
              "is not a loopback address: the control API is localhost-only unless [control] "
              "allow_remote = true");
  ExpectError(Edit(18, "listen = \"127.0.0.1\""), 18, "want HOST:PORT");
  ExpectError(Edit(18, "listen = \"127.0.0.1:99999\""), 18, "bad port '99999'");
  ExpectError(Edit(18, "listen = \"127.0.0.1:-1\""), 18, "bad port '-1'");
  // Port 0: any free port (the router prints the one it got).
  auto any = ParseRouterConfig(Edit(18, "listen = \"127.0.0.1:0\""), "r.toml");
  ASSERT_TRUE(any.ok()) << any.status().message();
}

TEST(RouterConfigErrors, FilterRuleUsesTheFilterParser) {
  ExpectError(kIssueExample + std::string("[filter]\nrules = [\"drop proto udpx\"]\n"), 20,
              "filter rule 'drop proto udpx': ");
}

TEST(RouterConfigErrors, TomlSyntaxAndMissingPieces) {
  ExpectError(Edit(3, "workers = "), 3, "TOML syntax");
  ExpectError("[dataplane]\nworkers = 1\n", 1, "no [[port]]");
  ExpectError(Edit(8, ""), 6, "[[port]] #1 'a' has no 'device' (required)");
}

TEST(RouterConfig, LoadNamesTheFile) {
  const std::string path = ::testing::TempDir() + "/router_config_test.toml";
  {
    std::ofstream out(path);
    out << Edit(15, "prefix = \"10.3.0.0/99\"");
  }
  auto c = LoadRouterConfig(path);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message().rfind(path + ":15: ", 0), 0u) << c.status().message();
  auto missing = LoadRouterConfig(path + ".nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("cannot read config file"), std::string::npos);
  unlink(path.c_str());
}

TEST(RouterConfig, ResolveRouteForTheControlApi) {
  auto c = ParseRouterConfig(kIssueExample, "router.toml");
  ASSERT_TRUE(c.ok());
  auto r = ResolveRoute(*c, "10.4.0.0/16", "10.2.0.2", "");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->next_hop.port, 1);
  auto bad = ResolveRoute(*c, "10.4.0.0/16", "10.9.0.2", "");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("not on any port"), std::string::npos);
  auto wrong_port = ResolveRoute(*c, "10.4.0.0/16", "10.2.0.2", "a");
  ASSERT_FALSE(wrong_port.ok());
  EXPECT_NE(wrong_port.status().message().find("is on port 'b', not on port 'a'"),
            std::string::npos);
}

TEST(RouterConfig, ParseMac) {
  EXPECT_EQ(ParseMac("02:aB:00:00:00:ff"), (proto::MacAddr{2, 0xab, 0, 0, 0, 0xff}));
  EXPECT_EQ(ParseMac("02-00-00-00-00-01"), (proto::MacAddr{2, 0, 0, 0, 0, 1}));
  EXPECT_FALSE(ParseMac("02:00:00:00:00:0g"));
  EXPECT_FALSE(ParseMac("02:00:00:00:00:001"));
  EXPECT_FALSE(ParseMac("02.00:00:00:00:00"));
}

}  // namespace
}  // namespace netisr::router
