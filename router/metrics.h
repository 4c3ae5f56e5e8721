// Prometheus text exposition (format 0.0.4) for the router's GET /metrics.
//
// Design note. MetricsWriter collects samples and renders them at the end,
// so the output is well formed whatever order the caller adds them in:
//  * one `# HELP` and one `# TYPE` line per family, all of a family's
//    samples together under them, families in the order first declared;
//  * no duplicate series: a second sample with the same name and labels is
//    refused (Add returns false) and the first one stays;
//  * names are checked ([a-zA-Z_:][a-zA-Z0-9_:]*, label names without the
//    reserved "__" prefix), counters must end in `_total` and gauges must
//    not, a family declared twice must keep its type and help;
//  * label values are escaped as the format asks (\ as \\, " as \", newline
//    as \n) and HELP text likewise (\ and newline).
// A refused declaration or sample is a programming error of the caller, not
// of the scraped data: Add/Declare return false and the writer counts it in
// rejected() (tests assert it is 0) rather than emitting a line a scraper
// would reject. The writer allocates; it runs on the control thread per
// scrape, never on the packet path.
//
// On top of it, Append* write the router's families from the structures the
// data plane already keeps (nic::PortStats, netisr::Stats, drop maps), so
// the glue only gathers snapshots and calls them. Names: `netisr_router_*`
// for the router's ports, queues and drops, `netisr_*` for the dispatcher's
// workstreams (netisr/stats.h) -- the same counters `netisr run --json`
// prints, so a dashboard and the JSON agree.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "netisr/stats.h"
#include "nic/port.h"

namespace netisr::router {

enum class MetricType { kCounter, kGauge };

// (name, value) pairs in the order they should print.
using Labels = std::vector<std::pair<std::string, std::string>>;

class MetricsWriter {
 public:
  // Declares a family (idempotent when type and help match). False, and
  // nothing declared, for a bad name or a mismatch with an earlier declaration.
  bool Declare(std::string_view name, MetricType type, std::string_view help);

  // One sample of a declared family. Integers print exactly (counters are
  // uint64); doubles print with full precision (NaN/Inf as the format spells them).
  // False, and nothing added, for an undeclared family, a bad label name
  // or a duplicate series.
  bool Add(std::string_view name, const Labels& labels, uint64_t value);
  bool Add(std::string_view name, const Labels& labels, double value);

  // Declare + Add in one call, for the common case.
  bool Counter(std::string_view name, std::string_view help, const Labels& labels, uint64_t value);
  bool Gauge(std::string_view name, std::string_view help, const Labels& labels, double value);

  // The exposition text; ends with a newline unless empty.
  std::string Render() const;

  // Declarations and samples refused so far.
  uint64_t rejected() const { return rejected_; }

 private:
  struct Family {
    std::string name;
    MetricType type;
    std::string help;
    // rendered "{labels}" -> rendered value; the key gives duplicate detection.
    std::vector<std::pair<std::string, std::string>> samples;
    std::map<std::string, size_t> index;  // rendered labels -> position in samples
  };
  bool AddRendered(std::string_view name, const Labels& labels, std::string value);
  Family* Find(std::string_view name);

  std::vector<Family> families_;
  uint64_t rejected_ = 0;
};

// Escapes a label value: \ -> \\, " -> \", newline -> \n.
std::string EscapeLabelValue(std::string_view v);

// --- the router's families -------------------------------------------------

// One port: `name` is the config's [[port]] name (the `port` label).
// Families: netisr_router_port_{rx,tx}_{packets,bytes}_total,
// netisr_router_port_tx_full_total, netisr_router_port_rx_drops_total{reason}
// (nic::RxDrop names, zeroes included so every series exists from the start).
void AppendPort(MetricsWriter& w, std::string_view name, const nic::PortStats& s);

// One RX queue (labels port, queue). worker: the workstream its source id
// maps to, -1 when unknown (then no netisr_router_rx_queue_worker sample).
// rx_packets: when the caller counts per queue (the Port interface does
// not), else no netisr_router_rx_queue_packets_total sample.
struct RxQueueSample {
  std::string port;
  uint16_t queue = 0;
  int worker = -1;
  uint64_t rx_dropped = 0;  // nic::Port::RxDropped(queue)
  std::optional<uint64_t> rx_packets;
};
void AppendRxQueue(MetricsWriter& w, const RxQueueSample& q);

// The dispatcher: per worker (label worker = workstream index) wakeups,
// busy, queue delay, full-poll share and bound CPU; per (worker, protocol)
// with any traffic the netstat -Q columns; netisr's own drops by reason,
// adaptive decisions by reason, flow-bucket migrations.
void AppendNetisr(MetricsWriter& w, const netisr::Stats& s);

// The router's own drops: reason (snake_case, e.g. "no_route") -> count,
// as netisr_router_drops_total{reason}.
void AppendDrops(MetricsWriter& w, const std::map<std::string, uint64_t>& drops);

}  // namespace netisr::router
