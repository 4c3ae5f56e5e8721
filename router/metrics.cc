#include "router/metrics.h"

#include <charconv>
#include <cmath>
#include <set>

namespace netisr::router {
namespace {

bool ValidMetricName(std::string_view n) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool ValidLabelName(std::string_view n) {
  if (n.empty() || n.starts_with("__")) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// HELP text escapes only \ and newline (the format's rule for docstrings).
std::string EscapeHelp(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
  return std::string(buf, r.ptr);
}

const char* TypeName(MetricType t) { return t == MetricType::kCounter ? "counter" : "gauge"; }

}  // namespace

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

MetricsWriter::Family* MetricsWriter::Find(std::string_view name) {
  for (Family& f : families_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

bool MetricsWriter::Declare(std::string_view name, MetricType type, std::string_view help) {
  const bool total = name.ends_with("_total");
  if (!ValidMetricName(name) || total != (type == MetricType::kCounter)) {
    ++rejected_;
    return false;
  }
  if (Family* f = Find(name)) {
    if (f->type == type && f->help == help) return true;
    ++rejected_;
    return false;
  }
  families_.push_back(Family{std::string(name), type, std::string(help), {}, {}});
  return true;
}

bool MetricsWriter::AddRendered(std::string_view name, const Labels& labels, std::string value) {
  Family* f = Find(name);
  if (f == nullptr) {
    ++rejected_;
    return false;
  }
  std::string key;
  if (!labels.empty()) {
    std::set<std::string_view> seen;
    key += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      const auto& [k, v] = labels[i];
      if (!ValidLabelName(k) || !seen.insert(k).second) {
        ++rejected_;
        return false;
      }
      if (i > 0) key += ',';
      key += k;
      key += "=\"";
      key += EscapeLabelValue(v);
      key += '"';
    }
    key += '}';
  }
  if (!f->index.emplace(key, f->samples.size()).second) {
    ++rejected_;  // duplicate series: the first sample stays
    return false;
  }
  f->samples.emplace_back(std::move(key), std::move(value));
  return true;
}

bool MetricsWriter::Add(std::string_view name, const Labels& labels, uint64_t value) {
  return AddRendered(name, labels, std::to_string(value));
}

bool MetricsWriter::Add(std::string_view name, const Labels& labels, double value) {
  return AddRendered(name, labels, FormatDouble(value));
}

bool MetricsWriter::Counter(std::string_view name, std::string_view help, const Labels& labels,
                            uint64_t value) {
  return Declare(name, MetricType::kCounter, help) && Add(name, labels, value);
}

bool MetricsWriter::Gauge(std::string_view name, std::string_view help, const Labels& labels,
                          double value) {
  return Declare(name, MetricType::kGauge, help) && Add(name, labels, value);
}

std::string MetricsWriter::Render() const {
  std::string out;
  for (const Family& f : families_) {
    out += "# HELP ";
    out += f.name;
    out += ' ';
    out += EscapeHelp(f.help);
    out += "\n# TYPE ";
    out += f.name;
    out += ' ';
    out += TypeName(f.type);
    out += '\n';
    for (const auto& [labels, value] : f.samples) {
      out += f.name;
      out += labels;
      out += ' ';
      out += value;
      out += '\n';
    }
  }
  return out;
}

// --- the router's families -------------------------------------------------

void AppendPort(MetricsWriter& w, std::string_view name, const nic::PortStats& s) {
  const Labels port{{"port", std::string(name)}};
  w.Counter("netisr_router_port_rx_packets_total", "Frames received on the port.", port,
            s.rx_packets);
  w.Counter("netisr_router_port_rx_bytes_total", "Bytes received on the port.", port, s.rx_bytes);
  w.Counter("netisr_router_port_tx_packets_total", "Frames the port accepted for transmission.",
            port, s.tx_packets);
  w.Counter("netisr_router_port_tx_bytes_total", "Bytes the port accepted for transmission.", port,
            s.tx_bytes);
  w.Counter("netisr_router_port_tx_full_total",
            "Frames offered for transmission and refused because the TX queue was full.", port,
            s.tx_full);
  for (size_t r = 0; r < s.rx_drops.size(); ++r) {
    w.Counter("netisr_router_port_rx_drops_total",
              "Frames the port dropped before handing them out, by reason.",
              {{"port", std::string(name)}, {"reason", nic::ToString(static_cast<nic::RxDrop>(r))}},
              s.rx_drops[r]);
  }
}

void AppendRxQueue(MetricsWriter& w, const RxQueueSample& q) {
  const Labels labels{{"port", q.port}, {"queue", std::to_string(q.queue)}};
  w.Counter("netisr_router_rx_queue_drops_total",
            "Frames dropped by the port while taking them off this RX queue.", labels,
            q.rx_dropped);
  if (q.rx_packets) {
    w.Counter("netisr_router_rx_queue_packets_total", "Frames received on this RX queue.", labels,
              *q.rx_packets);
  }
  if (q.worker >= 0) {
    w.Gauge("netisr_router_rx_queue_worker", "The worker (workstream index) this RX queue is on.",
            labels, static_cast<double>(q.worker));
  }
}

void AppendNetisr(MetricsWriter& w, const netisr::Stats& s) {
  for (size_t i = 0; i < s.workstreams.size(); ++i) {
    const netisr::WorkstreamStats& ws = s.workstreams[i];
    const Labels worker{{"worker", std::to_string(i)}};
    w.Counter("netisr_worker_wakeups_total", "Times the worker was woken to run.", worker,
              ws.wakeups);
    w.Gauge("netisr_worker_busy_ratio", "Published busy fraction of the worker (EWMA).", worker,
            ws.busy);
    w.Gauge("netisr_worker_queue_delay_seconds", "Published queueing delay (EWMA).", worker,
            static_cast<double>(ws.queue_delay_ns) * 1e-9);
    w.Gauge("netisr_worker_full_polls_ratio", "Published share of full ingress polls (EWMA).",
            worker, ws.full_polls);
    w.Gauge("netisr_worker_cpu", "OS CPU the worker is bound to, -1 if unbound.", worker,
            static_cast<double>(ws.cpu));
  }
  for (size_t i = 0; i < s.work.size(); ++i) {
    for (size_t p = 0; p < s.work[i].size() && p < s.protocols.size(); ++p) {
      if (s.protocols[p].empty()) continue;  // unused protocol id
      const netisr::WorkStats& c = s.work[i][p];
      const Labels l{{"worker", std::to_string(i)}, {"protocol", s.protocols[p]}};
      w.Counter("netisr_dispatched_total", "Packets handled directly by the caller (direct).", l,
                c.dispatched);
      w.Counter("netisr_hybrid_dispatched_total", "Packets handled directly under the hybrid rule.",
                l, c.hybrid_dispatched);
      w.Counter("netisr_queued_total", "Packets accepted into the workstream's queue.", l,
                c.queued);
      w.Counter("netisr_qdrops_total", "Packets refused because the queue was at its limit.", l,
                c.qdrops);
      w.Counter("netisr_handled_total", "Packets passed to the protocol handler.", l, c.handled);
      w.Gauge("netisr_queue_length", "Packets queued now.", l, static_cast<double>(c.qlen));
      w.Gauge("netisr_queue_watermark", "Highest queue length seen.", l,
              static_cast<double>(c.watermark));
    }
  }
  // Every reason netisr knows, zeroes included, so each series exists from
  // the first scrape (rate() needs the zero); then what the snapshot holds.
  std::map<std::string, uint64_t> drops;
  for (size_t r = 0; r < static_cast<size_t>(netisr::DropReason::kCount); ++r) {
    drops[netisr::ToString(static_cast<netisr::DropReason>(r))] = 0;
  }
  for (const auto& [reason, n] : s.drops) drops[reason] = n;
  for (const auto& [reason, n] : drops) {
    w.Counter("netisr_drops_total", "Packets the dispatcher itself dropped, by reason.",
              {{"reason", reason}}, n);
  }
  for (const auto& [reason, n] : s.decisions) {
    w.Counter("netisr_dispatch_decisions_total",
              "Adaptive mode: per-packet dispatch decisions, by reason.", {{"reason", reason}}, n);
  }
  w.Counter("netisr_flow_migrations_total", "Adaptive mode: flow-bucket moves between workers.", {},
            s.migrations);
}

void AppendDrops(MetricsWriter& w, const std::map<std::string, uint64_t>& drops) {
  w.Declare("netisr_router_drops_total", MetricType::kCounter,
            "Packets the router did not send, by reason.");
  for (const auto& [reason, n] : drops) {
    w.Add("netisr_router_drops_total", {{"reason", reason}}, n);
  }
}

}  // namespace netisr::router
