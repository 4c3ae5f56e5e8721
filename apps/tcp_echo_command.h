// `netisr tcp-echo`: an echo server on our TCP (tcp/host.h) over a DPDK
// port, the way a Linux host reaches it: it answers ARP and ICMP echo for
// --addr, accepts on --port (default 7, RFC 862) and sends every byte back,
// closing after the peer closes and its bytes are echoed. Runs until
// SIGINT/SIGTERM or --duration seconds, then prints connection, segment and
// drop statistics (--json: one JSON object on stdout); --lockprof adds the
// run's lock profile.
//
// The port: the first ethdev EAL finds from --dpdk (e.g. `--no-huge
// --no-pci --no-shconf -m 512 --vdev=net_af_packet0,iface=veth0`), with
// min(--workers, what it offers) RX and TX queues, promiscuous, so our MAC
// is ours to choose: 02:00 followed by the four bytes of --addr (locally
// administered). The /NN of --addr is checked and reported; the host has one
// link and learns its peers (no routing).
#pragma once

#include <atomic>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "base/status.h"
#include "lockprof/lock.h"
#include "netisr/stats.h"
#include "nic/port.h"
#include "tcp/host.h"

namespace netisr::apps {

struct TcpEchoOptions {
  std::string dpdk;                 // --dpdk EAL-ARGS (required)
  std::string addr;                 // --addr A.B.C.D/NN (required)
  int64_t port = 7;                 // --port
  std::string strategy = "groups";  // --strategy (connection table)
  int64_t workers = 1;              // --workers
  std::string model = "poll";       // --model
  double duration_s = 0;            // --duration: 0 = until a signal
  bool json = false;                // --json
  bool lockprof = false;            // --lockprof
  bool bind = true;                 // cleared by --no-bind
};

Status ValidateTcpEchoOptions(const TcpEchoOptions& o);

// "10.1.2.3/24" -> address (host order) and prefix length; errors name --addr.
struct Ipv4Prefix {
  uint32_t addr = 0;
  int prefix_len = 0;
};
Result<Ipv4Prefix> ParseIpv4Prefix(std::string_view s);

struct TcpEchoReport {
  TcpEchoOptions options;
  double seconds = 0;
  std::string mac;                                         // the MAC we answered ARP with
  uint64_t echoed_bytes = 0;                               // bytes the echo application sent back
  tcp::HostStats host;                                     // engines and host, after Stop
  nic::PortStats port;                                     // the DPDK port's own counters
  Stats netisr;                                            // netisr's, after Stop
  std::optional<std::vector<lockprof::ClassStats>> locks;  // --lockprof
};

std::string FormatHuman(const TcpEchoReport& r);
nlohmann::json ToJson(const TcpEchoReport& r);

// Runs until `stop` becomes true or --duration passes.
Result<TcpEchoReport> RunTcpEcho(const TcpEchoOptions& o, const std::atomic<bool>& stop);

// The subcommand: validate, run (SIGINT/SIGTERM end it), print. Exit
// codes: exit_codes.h.
int TcpEchoCommand(const TcpEchoOptions& o, std::ostream& out, std::ostream& err);

}  // namespace netisr::apps
