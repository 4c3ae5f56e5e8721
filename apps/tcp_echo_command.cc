// `netisr tcp-echo` (see tcp_echo_command.h).
#include "apps/tcp_echo_command.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <memory>
#include <thread>

#include "apps/exit_codes.h"
#include "apps/lockprof_command.h"
#include "apps/option_checks.h"
#include "base/counter.h"
#include "base/per_workstream.h"
#include "lockprof/report.h"
#include "netisr/netisr.h"
#include "netisr/stats_json.h"
#include "netisr/work_model.h"
#include "nic/dpdk_port.h"
#include "nic/rx_source.h"
#include "sched_feedback/clock.h"

namespace netisr::apps {

namespace {

constexpr int64_t kMaxWorkers = 64;
constexpr double kMaxDurationS = 7 * 24 * 3600.0;  // a week: any real run
// How often the control thread looks at the stop flag and the clock: the
// exit latency after a signal, not a cost on any packet.
constexpr auto kStopPoll = std::chrono::milliseconds(20);

std::atomic<bool> g_signalled{false};
extern "C" void OnSignal(int) { g_signalled.store(true, std::memory_order_relaxed); }

// The echo application's counters, one slot per workstream (its worker is
// the only writer; read after Stop).
struct EchoCounters {
  base::Counter accepted, closed, bytes;
};

tcp::AcceptFn EchoAccept(base::PerWorkstream<EchoCounters>* counters) {
  return [counters](tcp::Connection& c) {
    counters->For(Netisr::CurrentWorkstream()).accepted.Add();
    auto echo = [counters](tcp::Connection& c) {
      uint8_t buf[16384];
      uint64_t moved = 0;
      while (size_t n = c.Read(buf, std::min(sizeof(buf), c.send_space()))) moved += c.Send(buf, n);
      if (moved != 0) counters->For(Netisr::CurrentWorkstream()).bytes.Add(moved);
      if (c.peer_closed() && c.readable() == 0) c.Close();  // FIN after the echo
    };
    tcp::Callbacks cb;
    cb.on_readable = cb.on_writable = cb.on_peer_closed = echo;
    cb.on_closed = [counters](tcp::Connection&, tcp::Error) {
      counters->For(Netisr::CurrentWorkstream()).closed.Add();
    };
    c.set_callbacks(std::move(cb));
  };
}

std::string MacString(const tcp::MacAddr& m) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4],
                     m[5]);
}

}  // namespace

Result<Ipv4Prefix> ParseIpv4Prefix(std::string_view s) {
  auto bad = [&](std::string_view why) {
    return Invalid(fmt::format("--addr '{}' {}: want A.B.C.D/NN, e.g. 10.0.0.1/24", s, why));
  };
  const size_t slash = s.find('/');
  if (slash == std::string_view::npos) return bad("has no /prefix length");
  Ipv4Prefix p;
  std::string_view a = s.substr(0, slash);
  for (int i = 0; i < 4; ++i) {
    size_t end = i < 3 ? a.find('.') : a.size();
    if (end == std::string_view::npos || end == 0 || end > 3) return bad("is not a dotted quad");
    int v = 0;
    for (char ch : a.substr(0, end)) {
      if (ch < '0' || ch > '9') return bad("is not a dotted quad");
      v = v * 10 + (ch - '0');
    }
    if (v > 255) return bad("has a byte over 255");
    p.addr = (p.addr << 8) | static_cast<uint32_t>(v);
    a = i < 3 ? a.substr(end + 1) : a.substr(end);
  }
  std::string_view n = s.substr(slash + 1);
  if (n.empty() || n.size() > 2) return bad("has a bad prefix length");
  for (char ch : n) {
    if (ch < '0' || ch > '9') return bad("has a bad prefix length");
    p.prefix_len = p.prefix_len * 10 + (ch - '0');
  }
  if (p.prefix_len < 1 || p.prefix_len > 32) return bad("has a prefix length outside [1, 32]");
  if (p.addr == 0 || (p.addr >> 24) == 127 || (p.addr >> 28) >= 14)
    return bad("is not a unicast host address");
  return p;
}

Status ValidateTcpEchoOptions(const TcpEchoOptions& o) {
  if (o.dpdk.empty())
    return Invalid(
        "--dpdk is required: EAL arguments, e.g. '--no-huge --no-pci --no-shconf -m 512 "
        "--vdev=net_af_packet0,iface=veth0'");
  if (o.addr.empty()) return Invalid("--addr is required: A.B.C.D/NN");
  if (auto p = ParseIpv4Prefix(o.addr); !p.ok()) return p.status();
  for (const Choice& c : {Choice{"--strategy", o.strategy, kStrategyChoices},
                          Choice{"--model", o.model, kLockprofModelChoices}}) {
    if (Status st = Check(c); !st.ok()) return st;
  }
  for (const Bound& b :
       {Bound{"--port", o.port, 1, 65535}, Bound{"--workers", o.workers, 1, kMaxWorkers}}) {
    if (Status st = Check(b); !st.ok()) return st;
  }
  if (o.duration_s != 0) {
    if (Status st = Check(RealBound{"--duration", o.duration_s, 0.001, kMaxDurationS}); !st.ok())
      return st;
  }
  return Status::Ok();
}

Result<TcpEchoReport> RunTcpEcho(const TcpEchoOptions& o, const std::atomic<bool>& stop) {
  if (Status st = ValidateTcpEchoOptions(o); !st.ok()) return st;
  const Ipv4Prefix prefix = *ParseIpv4Prefix(o.addr);
  const int workers = static_cast<int>(o.workers);
  (void)sched::FastClock::Global();  // calibrate before any worker runs
  if (Status st = nic::DpdkEal::Init(o.dpdk); !st.ok()) return st;
  const std::vector<uint16_t> ids = nic::DpdkEal::PortIds();
  if (ids.empty())
    return Status(ErrorCode::kNotFound,
                  fmt::format("--dpdk: EAL found no ethernet port (EAL args '{}'); add "
                              "--vdev=net_af_packet0,iface=IFACE",
                              o.dpdk));
  auto max_queues = nic::DpdkEal::MaxRxQueues(ids[0]);
  if (!max_queues.ok()) return max_queues.status();
  nic::DpdkConfig pc;
  pc.port_id = ids[0];
  pc.num_rx_queues =
      std::max<uint16_t>(1, std::min<uint16_t>(static_cast<uint16_t>(workers), *max_queues));
  pc.num_tx_queues = pc.num_rx_queues;
  auto port = nic::DpdkPort::Create(pc);
  if (!port.ok()) return port.status();

  auto model = MakeWorkModel(o.model);
  if (!model.ok()) return model.status();
  Settings s;
  s.max_threads = workers;
  s.bind_threads = o.bind;
  auto nisr = Netisr::Create(s, std::move(*model));
  if (!nisr.ok()) return nisr.status();

  tcp::HostConfig hc;
  hc.addr = prefix.addr;
  hc.mac = {0x02,
            0x00,
            static_cast<uint8_t>(prefix.addr >> 24),
            static_cast<uint8_t>(prefix.addr >> 16),
            static_cast<uint8_t>(prefix.addr >> 8),
            static_cast<uint8_t>(prefix.addr)};
  hc.port = port->get();
  auto strategy = inpcb::ParseTableStrategy(o.strategy);
  if (!strategy.ok()) return strategy.status();
  hc.table.strategy = *strategy;
  auto host = tcp::Host::Create(**nisr, hc);
  if (!host.ok()) return host.status();
  base::PerWorkstream<EchoCounters> counters(static_cast<size_t>(workers));
  if (Status st = (*host)->Listen(static_cast<uint16_t>(o.port), EchoAccept(&counters)); !st.ok())
    return st;
  std::vector<std::unique_ptr<nic::RxQueueSource>> sources;
  for (uint16_t q = 0; q < (*port)->num_rx_queues(); ++q) {
    sources.push_back(std::make_unique<nic::RxQueueSource>(**port, q, (*host)->rx_protocols()));
    if (Status st = (*nisr)->AttachSource(q % workers, sources.back().get()); !st.ok()) return st;
  }

  if (o.lockprof) lockprof::Reset();
  const auto t0 = std::chrono::steady_clock::now();
  if (Status st = (*nisr)->Start(); !st.ok()) return st;
  const auto deadline =
      t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
               std::chrono::duration<double>(o.duration_s > 0 ? o.duration_s : kMaxDurationS));
  while (!stop.load(std::memory_order_relaxed) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(kStopPoll);
  (*nisr)->Stop();
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - t0;

  TcpEchoReport r;
  r.options = o;
  r.seconds = took.count();
  r.mac = MacString(hc.mac);
  counters.ForEach([&](const EchoCounters& c) { r.echoed_bytes += c.bytes.Get(); });
  r.host = (*host)->Stats();
  r.port = (*port)->Stats();
  r.netisr = (*nisr)->GetStats();
  if (o.lockprof) r.locks = lockprof::Snapshot();
  // Teardown order: netisr (its handlers hold the host), the sources, the
  // host (its pool), then the port, once every packet is back.
  nisr->reset();
  sources.clear();
  host->reset();
  return r;
}

std::string FormatHuman(const TcpEchoReport& r) {
  const TcpEchoOptions& o = r.options;
  const tcp::HostStats& h = r.host;
  std::string out = fmt::format(
      "tcp-echo: {} port {} (mac {}), strategy {}, {} workers, {:.2f} s\n"
      "connections: {} accepted, {} closed, {} still open; {} bytes echoed\n"
      "segments: {} in ({} accepted, {} dropped), {} out ({} with data, {} retransmitted)\n"
      "frames: {} in, {} out; ARP replies {}, ICMP echo replies {}, forwarded to home {}\n"
      "resets sent/received:",
      o.addr, o.port, r.mac, o.strategy, o.workers, r.seconds, h.tcp.passive_opens, h.tcp.closed,
      h.connections, r.echoed_bytes, h.tcp.segments_in, h.tcp.accepted, h.tcp.dropped(),
      h.tcp.segments_out, h.tcp.data_segments_out, h.tcp.retransmits, h.host.frames_in,
      h.host.tx_frames, h.host.arp_replies, h.host.icmp_replies, h.host.forwarded);
  bool any = false;
  for (size_t i = 0; i < tcp::kNumResetCauses; ++i) {
    if (h.tcp.resets[i] == 0) continue;
    out += fmt::format(" {} {}", tcp::ToString(static_cast<tcp::ResetCause>(i)), h.tcp.resets[i]);
    any = true;
  }
  out += any ? "\ndrops:" : " none\ndrops:";
  std::map<std::string, uint64_t> drops = h.DropMap();
  for (const auto& [k, v] : r.netisr.drops) drops[k] += v;
  for (size_t i = 0; i < r.port.rx_drops.size(); ++i)
    if (r.port.rx_drops[i] != 0)
      drops[std::string("rx_") + nic::ToString(static_cast<nic::RxDrop>(i))] += r.port.rx_drops[i];
  for (const auto& [k, v] : drops) out += fmt::format(" {} {}", k, v);
  out += drops.empty() ? " none\n" : "\n";
  if (r.locks) {
    out += "\n";
    out += lockprof::FormatTable(*r.locks);
  }
  return out;
}

nlohmann::json ToJson(const TcpEchoReport& r) {
  const TcpEchoOptions& o = r.options;
  const tcp::HostStats& h = r.host;
  nlohmann::json j;
  j["addr"] = o.addr;
  j["port"] = o.port;
  j["mac"] = r.mac;
  j["strategy"] = o.strategy;
  j["workers"] = o.workers;
  j["model"] = o.model;
  j["seconds"] = r.seconds;
  j["connections"] = {{"accepted", h.tcp.passive_opens},
                      {"closed", h.tcp.closed},
                      {"open", h.connections},
                      {"syncookies_accepted", h.tcp.syncookies_accepted}};
  j["echoed_bytes"] = r.echoed_bytes;
  j["segments"] = {{"in", h.tcp.segments_in},
                   {"accepted", h.tcp.accepted},
                   {"dropped", h.tcp.dropped()},
                   {"out", h.tcp.segments_out},
                   {"data_out", h.tcp.data_segments_out},
                   {"bytes_out", h.tcp.bytes_out},
                   {"retransmits", h.tcp.retransmits},
                   {"fast_retransmits", h.tcp.fast_retransmits},
                   {"rto_timeouts", h.tcp.rto_timeouts}};
  j["frames"] = {{"in", h.host.frames_in},
                 {"out", h.host.tx_frames},
                 {"arp_replies", h.host.arp_replies},
                 {"icmp_replies", h.host.icmp_replies},
                 {"forwarded", h.host.forwarded}};
  nlohmann::json resets = nlohmann::json::object();
  for (size_t i = 0; i < tcp::kNumResetCauses; ++i)
    if (h.tcp.resets[i] != 0)
      resets[std::string(tcp::ToString(static_cast<tcp::ResetCause>(i)))] = h.tcp.resets[i];
  j["resets"] = resets;
  j["drops"] = h.DropMap();
  if (const tcp::PawsSample& p = h.tcp.last_paws; p.valid) {
    // What the last unexplained old-timestamp drop was (docs/tcp.md).
    j["last_paws"] = {{"state", tcp::ToString(static_cast<tcp::State>(p.state))},
                      {"lport", p.lport},
                      {"fport", p.fport},
                      {"flags", p.flags},
                      {"seq", p.seq},
                      {"ack", p.ack},
                      {"payload_len", p.payload_len},
                      {"ts_val", p.ts_val},
                      {"ts_recent", p.ts_recent},
                      {"rcv_nxt", p.rcv_nxt},
                      {"snd_una", p.snd_una}};
  }
  j["port"] = {{"rx_packets", r.port.rx_packets},
               {"tx_packets", r.port.tx_packets},
               {"tx_full", r.port.tx_full},
               {"rx_dropped", r.port.rx_dropped()}};
  j["netisr"] = netisr::ToJson(r.netisr);
  if (r.locks) j["locks"] = lockprof::ToJson(*r.locks);
  return j;
}

int TcpEchoCommand(const TcpEchoOptions& o, std::ostream& out, std::ostream& err) {
  if (Status st = ValidateTcpEchoOptions(o); !st.ok()) {
    err << "netisr tcp-echo: " << st.message() << "\n";
    return kExitUsage;
  }
  g_signalled.store(false, std::memory_order_relaxed);
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  auto r = RunTcpEcho(o, g_signalled);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (!r.ok()) {
    err << "netisr tcp-echo: " << r.status().message() << "\n";
    return kExitFailure;
  }
  if (o.json) {
    out << ToJson(*r).dump(2) << "\n";
  } else {
    out << FormatHuman(*r);
  }
  return kExitOk;
}

}  // namespace netisr::apps
