// RouterConfig: the `netisr router --config FILE` file (TOML, read with
// toml++), checked whole before anything starts.
//
// Design note. Every mistake is reported as "FILE:LINE: what is wrong"
// (toml++ keeps each key's and value's source position), naming the key,
// the offending value and, where there is a choice, the valid ones; the
// first mistake ends the parse (Status kInvalidArgument; the command exits
// 2). Unknown keys are errors, not ignored: a misspelt `adress` would
// otherwise silently leave a port without an address. Cross-checks done
// here, so that the tables only ever get consistent input: port names
// unique; no address on two ports (or twice on one); no connected prefix
// of one port overlapping another port's (which port would own the
// addresses in both?); each route's prefix unique and its `via` on the
// connected prefix of some port (that port becomes the route's next-hop
// port); no more routes of a family, connected ones included, than
// [tables] allows, nor more static neighbours than its table holds; static
// neighbours on a named port, with a MAC that parses and an address inside
// one of that port's prefixes; [control] listen on a loopback address
// unless allow_remote = true. Names reuse the tree's parsers:
// proto::IpPrefix::Parse for prefixes, proto::EarlyFilter::ParseRules for
// filter rules, netisr's ParseDispatchMode and MakeWorkModel for the data
// plane's names.
//
// The shape (every key but port.name/device/address optional):
//   [dataplane]
//   eal = "--no-huge --no-pci --no-shconf -m 512"   # default ""
//   workers = 1              # [1, 64]; default 1
//   cpus = [1]               # an integer or an array, each [0, 1023]: worker w pinned to
//                            # cpus[w % len] (entries past `workers` unused); default
//                            # (absent or []): one CPU each, distinct cores first
//   model = "poll"           # threads | poll | fibers; default poll (not
//                            # inline: nothing would pump its one thread)
//   dispatch = "direct"      # direct | deferred | hybrid | adaptive; default direct
//   stats_interval = 0       # seconds, [0, 86400], 0 = off; default 0
//   [tables]                 # sizes of the routing and neighbour tables
//   max_routes4 = 65536      # IPv4 routes, connected ones included; [1, 1048576]
//   max_routes6 = 65536      # IPv6 routes, likewise; [1, 1048576]
//   tbl8_groups4 = 256       # rte_lpm tbl8 groups (1 KiB each); [1, 65536]
//   tbl8_groups6 = 4096      # rte_lpm6 tbl8 groups (1 KiB each); [1, 1048576]
//   max_next_hops = 4096     # distinct next hops; [1, 1048576]
//   neighbours = 1024        # neighbour slots, a power of two in [16, 1048576]
//   neighbour_queue = 16     # packets waiting per unresolved neighbour; [1, 1024]
//   neighbour_queue_total = 1024  # packets waiting over all; [1, 1048576]
//   [[port]]                 # 1..64 ports; index = order here
//   name = "a"
//   device = "net_af_packet0,iface=rA"     # DPDK device string
//   address = ["10.1.0.1/24", "fd00:1::1/64"]  # ADDR/LEN, one or more
//   rx_queues = 1            # [1, 64]; default = workers, at most the device's
//   [[route]]
//   prefix = "10.3.0.0/16"
//   via = "10.2.0.2"         # gateway; or `port = "b"` alone for on-link
//   [[neighbour]]            # static ARP/NDP entry
//   address = "10.2.0.2"
//   mac = "02:00:00:00:00:02"
//   port = "b"
//   [filter]
//   rules = ["drop src 192.0.2.0/24", "drop proto udp dport 53"]  # proto/filter.h syntax
//   [control]
//   listen = "127.0.0.1:9180"   # HOST:PORT, [V6]:PORT; "" = no control server; port 0 =
//                               # any free one, printed at start ("control on HOST:PORT")
//   allow_remote = false        # a non-loopback listen needs true
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "netisr/protocol.h"
#include "proto/filter.h"
#include "proto/responder.h"
#include "router/neighbor_table.h"
#include "router/route_table.h"

namespace netisr::router {

struct DataplaneConfig {
  std::string eal;  // EAL arguments, split on blanks by the caller
  uint32_t workers = 1;
  // CPUs to pin the workers to, worker w on cpus[w % size()] (netisr's
  // Settings::worker_cpus; entries past `workers` unused); empty = netisr's
  // own order. Each in [0, 1023]; one the process may not run on fails Create.
  std::vector<int> cpus;
  std::string model = "poll";  // a name MakeWorkModel accepts
  DispatchMode dispatch = DispatchMode::kDirect;
  uint32_t stats_interval_s = 0;  // 0 = off
};

// One of a port's addresses: the router's own address and the connected
// prefix it implies.
struct PortAddress {
  IpAddr addr;
  uint8_t len = 0;
  IpPrefix Connected() const;  // addr with the host bits cleared, /len
};

struct PortConfig {
  std::string name;
  std::string device;
  std::vector<PortAddress> addresses;
  uint32_t rx_queues = 1;      // resolved: the file's value or `workers`
  bool rx_queues_set = false;  // in the file (else the router caps it at the device's)
};

struct StaticNeighbour {
  uint16_t port = 0;
  IpAddr addr;
  proto::MacAddr mac{};
};

struct ControlConfig {
  bool enabled = true;  // false when listen = ""
  std::string listen = "127.0.0.1:9180";
  std::string host = "127.0.0.1";  // without brackets for IPv6
  uint16_t port = 9180;
  bool allow_remote = false;
};

struct RouterConfig {
  std::string source;  // the file name errors and messages use
  DataplaneConfig dataplane;
  std::vector<PortConfig> ports;  // index = port index = nic::Port port_id
  // [[route]] tables, resolved: next_hop.port is the port whose connected
  // prefix holds the gateway (or the named port for an on-link route).
  std::vector<Route> routes;
  std::vector<StaticNeighbour> neighbours;
  std::vector<proto::FilterRule> filter_rules;  // empty: no filter
  ControlConfig control;
  // [tables]: the table sizes (max_readers is the router's: one per worker).
  RouteTableOptions route_table;
  NeighbourOptions neighbour_table;

  // One connected route per distinct prefix of the ports' addresses
  // (prefix -> port, no gateway), in port order; what the router adds to
  // the RouteTable before `routes`.
  std::vector<Route> ConnectedRoutes() const;
};

// Parses `text`; `name` is the file name used in messages.
Result<RouterConfig> ParseRouterConfig(std::string_view text, std::string_view name);
// Reads and parses `path` (kNotFound / kInvalidArgument naming the path).
Result<RouterConfig> LoadRouterConfig(const std::string& path);

// "02:00:00:00:00:01" (also with '-'); nullopt if malformed.
std::optional<proto::MacAddr> ParseMac(std::string_view text);

// Checks a `[[route]]`-shaped request (the control API's POST /routes body:
// prefix and via, or prefix and port name) against the config's ports and
// resolves it to a Route; the file's per-route checks and messages, without
// file:line (not the ones across routes: duplicates, a connected prefix and
// max_routes are the RouteTable's to refuse then). An on-link route may
// overlap a connected prefix: the longest prefix decides, as in Linux.
// `port_name` may be empty when `via` is given.
Result<Route> ResolveRoute(const RouterConfig& config, std::string_view prefix,
                           std::string_view via, std::string_view port_name);

}  // namespace netisr::router
