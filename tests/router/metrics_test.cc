// router/metrics.h through its public interface: the exposition format's
// rules (escaping, one HELP/TYPE per family, families grouped, no duplicate
// series, *_total counters) and the router's families, with every output
// parsed back by a small checker of the 0.0.4 text format.
#include "router/metrics.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace netisr::router {
namespace {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped values
  std::string value;
};

// A strict reader of what MetricsWriter must produce: every line is
// `# HELP name text`, `# TYPE name counter|gauge` or `name{k="v",...} value`;
// a family's HELP and TYPE come once, before its samples, and its samples
// are contiguous; no series repeats. Fails the test on the first bad line.
std::vector<Sample> Parse(const std::string& text) {
  std::vector<Sample> out;
  std::set<std::string> typed;   // families whose TYPE was seen
  std::set<std::string> closed;  // families whose samples ended
  std::set<std::string> series;  // name + rendered labels
  std::map<std::string, std::string> types;
  std::string current;  // family whose samples may follow
  std::istringstream in(text);
  std::string line;
  int n = 0;
  EXPECT_TRUE(text.empty() || text.back() == '\n') << "no final newline";
  while (std::getline(in, line)) {
    ++n;
    SCOPED_TRACE("line " + std::to_string(n) + ": " + line);
    if (line.starts_with("# HELP ")) {
      std::string name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_FALSE(typed.count(name)) << "HELP after TYPE or twice for " << name;
      if (!current.empty() && current != name) closed.insert(current);
      EXPECT_FALSE(closed.count(name)) << "family " << name << " not grouped";
      current = name;
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      std::istringstream f(line.substr(7));
      std::string name, type;
      f >> name >> type;
      EXPECT_TRUE(type == "counter" || type == "gauge") << type;
      EXPECT_TRUE(typed.insert(name).second) << "TYPE twice for " << name;
      EXPECT_EQ(name, current) << "TYPE without its HELP";
      if (type == "counter") {
        EXPECT_TRUE(name.ends_with("_total")) << name;
      }
      types[name] = type;
      continue;
    }
    EXPECT_FALSE(line.starts_with("#")) << "unknown comment";
    Sample s;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') s.name += line[i++];
    EXPECT_FALSE(s.name.empty());
    for (size_t k = 0; k < s.name.size(); ++k) {
      const char c = s.name[k];
      EXPECT_TRUE(isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
                  (k > 0 && isdigit(static_cast<unsigned char>(c))))
          << "bad metric name " << s.name;
    }
    EXPECT_EQ(s.name, current) << "sample outside its family's block";
    EXPECT_TRUE(typed.count(s.name)) << "sample before its TYPE";
    std::string rendered;
    if (i < line.size() && line[i] == '{') {
      const size_t start = i;
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::string key;
        while (i < line.size() && line[i] != '=') key += line[i++];
        EXPECT_TRUE(i + 1 < line.size() && line[i + 1] == '"') << "label without quotes";
        i += 2;
        std::string value;
        bool closed_quote = false;
        while (i < line.size()) {
          char c = line[i++];
          if (c == '"') {
            closed_quote = true;
            break;
          }
          if (c == '\\') {
            EXPECT_LT(i, line.size()) << "dangling backslash";
            char e = line[i++];
            EXPECT_TRUE(e == '\\' || e == '"' || e == 'n') << "bad escape \\" << e;
            value += e == 'n' ? '\n' : e;
          } else {
            value += c;
          }
        }
        EXPECT_TRUE(closed_quote) << "unterminated label value";
        EXPECT_TRUE(s.labels.emplace(key, value).second) << "label twice: " << key;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) {
        ADD_FAILURE() << "unterminated label set";
        continue;
      }
      ++i;
      rendered = line.substr(start, i - start);
    }
    if (i >= line.size() || line[i] != ' ') {
      ADD_FAILURE() << "no space before the value";
      continue;
    }
    s.value = line.substr(i + 1);
    EXPECT_FALSE(s.value.empty());
    EXPECT_EQ(s.value.find(' '), std::string::npos) << "timestamp or junk after the value";
    if (s.value != "NaN" && s.value != "+Inf" && s.value != "-Inf") {
      size_t used = 0;
      EXPECT_NO_THROW((void)std::stod(s.value, &used)) << s.value;
      EXPECT_EQ(used, s.value.size()) << s.value;
    }
    EXPECT_TRUE(series.insert(s.name + rendered).second) << "duplicate series";
    out.push_back(std::move(s));
  }
  return out;
}

const Sample* Find(const std::vector<Sample>& v, const std::string& name,
                   const std::map<std::string, std::string>& labels) {
  for (const Sample& s : v) {
    if (s.name == name && s.labels == labels) return &s;
  }
  return nullptr;
}

TEST(MetricsWriter, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  MetricsWriter w;
  ASSERT_TRUE(w.Counter("x_total", "help with \\ and\nnewline", {{"port", "we\"ird\\na\nme"}}, 7));
  const std::string text = w.Render();
  EXPECT_EQ(text,
            "# HELP x_total help with \\\\ and\\nnewline\n"
            "# TYPE x_total counter\n"
            "x_total{port=\"we\\\"ird\\\\na\\nme\"} 7\n");
  std::vector<Sample> s = Parse(text);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].labels.at("port"), "we\"ird\\na\nme");  // round trip
}

TEST(MetricsWriter, GroupsFamiliesWhateverTheOrderOfAdds) {
  MetricsWriter w;
  ASSERT_TRUE(w.Declare("a_total", MetricType::kCounter, "A."));
  ASSERT_TRUE(w.Declare("b", MetricType::kGauge, "B."));
  // Interleaved, as a caller looping over ports adds them.
  EXPECT_TRUE(w.Add("a_total", {{"port", "p0"}}, uint64_t{1}));
  EXPECT_TRUE(w.Add("b", {{"port", "p0"}}, 0.5));
  EXPECT_TRUE(w.Add("a_total", {{"port", "p1"}}, uint64_t{2}));
  EXPECT_TRUE(w.Add("b", {{"port", "p1"}}, 1.5));
  EXPECT_TRUE(w.Declare("a_total", MetricType::kCounter, "A."));  // idempotent
  EXPECT_EQ(w.Render(),
            "# HELP a_total A.\n# TYPE a_total counter\n"
            "a_total{port=\"p0\"} 1\na_total{port=\"p1\"} 2\n"
            "# HELP b B.\n# TYPE b gauge\n"
            "b{port=\"p0\"} 0.5\nb{port=\"p1\"} 1.5\n");
  EXPECT_EQ(Parse(w.Render()).size(), 4u);
  EXPECT_EQ(w.rejected(), 0u);
}

TEST(MetricsWriter, RefusesDuplicatesBadNamesAndMismatches) {
  MetricsWriter w;
  ASSERT_TRUE(w.Counter("c_total", "C.", {{"k", "v"}}, 1));
  EXPECT_FALSE(w.Add("c_total", {{"k", "v"}}, uint64_t{2}));     // duplicate series
  EXPECT_FALSE(w.Declare("c_total", MetricType::kGauge, "C."));  // type changed
  EXPECT_FALSE(w.Declare("c_total", MetricType::kCounter, "other help"));
  EXPECT_FALSE(w.Declare("packets", MetricType::kCounter, "counter without _total"));
  EXPECT_FALSE(w.Declare("g_total", MetricType::kGauge, "gauge named like a counter"));
  EXPECT_FALSE(w.Declare("1bad", MetricType::kGauge, "leading digit"));
  EXPECT_FALSE(w.Declare("bad-name", MetricType::kGauge, "dash"));
  EXPECT_FALSE(w.Add("undeclared", {}, 1.0));
  EXPECT_FALSE(w.Add("c_total", {{"__reserved", "v"}}, uint64_t{1}));
  EXPECT_FALSE(w.Add("c_total", {{"a", "1"}, {"a", "2"}}, uint64_t{1}));  // label twice
  EXPECT_FALSE(w.Add("c_total", {{"bad-label", "v"}}, uint64_t{1}));
  EXPECT_EQ(w.rejected(), 11u);
  // Only the first sample is there.
  EXPECT_EQ(w.Render(), "# HELP c_total C.\n# TYPE c_total counter\nc_total{k=\"v\"} 1\n");
}

TEST(MetricsWriter, ValuesPrintExactly) {
  MetricsWriter w;
  ASSERT_TRUE(w.Counter("big_total", "B.", {}, UINT64_MAX));
  ASSERT_TRUE(w.Gauge("g", "G.", {{"i", "0"}}, 0.1));
  ASSERT_TRUE(w.Gauge("g", "G.", {{"i", "1"}}, -2.0));
  ASSERT_TRUE(w.Gauge("g", "G.", {{"i", "2"}}, std::numeric_limits<double>::infinity()));
  ASSERT_TRUE(w.Gauge("g", "G.", {{"i", "3"}}, std::numeric_limits<double>::quiet_NaN()));
  std::vector<Sample> s = Parse(w.Render());
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(s[0].value, "18446744073709551615");
  EXPECT_EQ(s[1].value, "0.1");
  EXPECT_EQ(s[2].value, "-2");
  EXPECT_EQ(s[3].value, "+Inf");
  EXPECT_EQ(s[4].value, "NaN");
}

TEST(RouterMetrics, PortsQueuesWorkersAndDropsParseBack) {
  MetricsWriter w;
  nic::PortStats a;
  a.rx_packets = 10;
  a.rx_bytes = 1000;
  a.tx_packets = 9;
  a.tx_bytes = 900;
  a.tx_full = 1;
  a.rx_drops[static_cast<size_t>(nic::RxDrop::kNoBuffer)] = 3;
  nic::PortStats b;
  b.rx_packets = 5;
  AppendPort(w, "a", a);
  AppendRxQueue(w, {.port = "a", .queue = 0, .worker = 0, .rx_dropped = 3, .rx_packets = 10});
  AppendPort(w, "b", b);  // after a queue: families must still be grouped
  AppendRxQueue(
      w, {.port = "b", .queue = 0, .worker = -1, .rx_dropped = 0, .rx_packets = std::nullopt});

  netisr::Stats st;
  st.protocols = {"", "ip", "arp"};
  st.workstreams.resize(2);
  st.workstreams[0].cpu = 1;
  st.workstreams[0].wakeups = 4;
  st.workstreams[0].queue_delay_ns = 1500;
  st.workstreams[1].cpu = -1;
  st.work.assign(2, std::vector<netisr::WorkStats>(3));
  st.work[0][1].dispatched = 7;
  st.work[0][1].handled = 7;
  st.work[1][2].queued = 2;
  st.work[1][2].qdrops = 1;
  st.drops["queue_full"] = 1;
  st.decisions["overloaded"] = 2;
  st.migrations = 3;
  AppendNetisr(w, st);
  AppendDrops(w, {{"no_route", 4}, {"ttl_exceeded", 2}});
  EXPECT_EQ(w.rejected(), 0u);

  const std::string text = w.Render();
  std::vector<Sample> s = Parse(text);
  auto value = [&](const std::string& name, const std::map<std::string, std::string>& labels) {
    const Sample* p = Find(s, name, labels);
    EXPECT_NE(p, nullptr) << name << " missing in\n" << text;
    return p ? p->value : std::string("<missing>");
  };
  EXPECT_EQ(value("netisr_router_port_rx_packets_total", {{"port", "a"}}), "10");
  EXPECT_EQ(value("netisr_router_port_rx_packets_total", {{"port", "b"}}), "5");
  EXPECT_EQ(value("netisr_router_port_tx_bytes_total", {{"port", "a"}}), "900");
  EXPECT_EQ(value("netisr_router_port_tx_full_total", {{"port", "a"}}), "1");
  EXPECT_EQ(value("netisr_router_port_rx_drops_total", {{"port", "a"}, {"reason", "no_buffer"}}),
            "3");
  // Every reason is there from the start, zero or not.
  for (size_t r = 0; r < static_cast<size_t>(nic::RxDrop::kCount); ++r) {
    value("netisr_router_port_rx_drops_total",
          {{"port", "b"}, {"reason", nic::ToString(static_cast<nic::RxDrop>(r))}});
  }
  EXPECT_EQ(value("netisr_router_rx_queue_drops_total", {{"port", "a"}, {"queue", "0"}}), "3");
  EXPECT_EQ(value("netisr_router_rx_queue_packets_total", {{"port", "a"}, {"queue", "0"}}), "10");
  EXPECT_EQ(value("netisr_router_rx_queue_worker", {{"port", "a"}, {"queue", "0"}}), "0");
  EXPECT_EQ(Find(s, "netisr_router_rx_queue_worker", {{"port", "b"}, {"queue", "0"}}), nullptr);
  EXPECT_EQ(Find(s, "netisr_router_rx_queue_packets_total", {{"port", "b"}, {"queue", "0"}}),
            nullptr);

  EXPECT_EQ(value("netisr_worker_wakeups_total", {{"worker", "0"}}), "4");
  EXPECT_EQ(value("netisr_worker_cpu", {{"worker", "1"}}), "-1");
  EXPECT_EQ(value("netisr_worker_queue_delay_seconds", {{"worker", "0"}}), "1.5e-06");
  EXPECT_EQ(value("netisr_dispatched_total", {{"worker", "0"}, {"protocol", "ip"}}), "7");
  EXPECT_EQ(value("netisr_qdrops_total", {{"worker", "1"}, {"protocol", "arp"}}), "1");
  EXPECT_EQ(Find(s, "netisr_dispatched_total", {{"worker", "0"}, {"protocol", ""}}), nullptr)
      << "unused protocol ids get no series";
  EXPECT_EQ(value("netisr_drops_total", {{"reason", "queue_full"}}), "1");
  EXPECT_EQ(value("netisr_drops_total", {{"reason", "shutdown"}}), "0");
  EXPECT_EQ(value("netisr_dispatch_decisions_total", {{"reason", "overloaded"}}), "2");
  EXPECT_EQ(value("netisr_flow_migrations_total", {}), "3");
  EXPECT_EQ(value("netisr_router_drops_total", {{"reason", "no_route"}}), "4");
  EXPECT_EQ(value("netisr_router_drops_total", {{"reason", "ttl_exceeded"}}), "2");
}

TEST(RouterMetrics, EmptyDropMapStillDeclaresTheFamily) {
  MetricsWriter w;
  AppendDrops(w, {});
  EXPECT_EQ(w.Render(),
            "# HELP netisr_router_drops_total Packets the router did not send, by reason.\n"
            "# TYPE netisr_router_drops_total counter\n");
  Parse(w.Render());
}

// The checker itself must be able to fail: feed it what the writer must
// never produce.
TEST(MetricsChecker, RejectsMalformedText) {
  const char* bad[] = {
      "# TYPE x_total counter\nx_total 1\n",                                // no HELP
      "# HELP x_total X.\n# TYPE x_total counter\nx_total{a=\"b} 1\n",      // unterminated
      "# HELP x_total X.\n# TYPE x_total counter\nx_total 1\nx_total 2\n",  // duplicate
      "# HELP x X.\n# TYPE x counter\nx 1\n",                               // counter name
      ("# HELP a A.\n# TYPE a gauge\na 1\n# HELP b B.\n# TYPE b gauge\nb 1\n"
       "# HELP a A.\n# TYPE a gauge\na{k=\"v\"} 1\n"),  // a not grouped
  };
  for (const char* text : bad) {
    ::testing::TestPartResultArray failures;
    {
      ::testing::ScopedFakeTestPartResultReporter reporter(
          ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
      Parse(text);
    }
    EXPECT_GT(failures.size(), 0) << "checker accepted:\n" << text;
  }
}

}  // namespace
}  // namespace netisr::router
