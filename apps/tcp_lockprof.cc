// `netisr lockprof --tcp` (see tcp_lockprof.h).
#include "apps/tcp_lockprof.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "lockprof/lock.h"
#include "netisr/netisr.h"
#include "netisr/work_model.h"
#include "nic/rx_source.h"
#include "sched_feedback/clock.h"
#include "tcp/host.h"
#include "tcp/wire_port.h"

namespace netisr::apps {

namespace {

constexpr uint32_t kServerAddr = 0x0a000001;  // 10.0.0.1
constexpr uint32_t kClientAddr = 0x0a000002;  // 10.0.0.2
constexpr uint16_t kServerPort = 80;
constexpr tcp::MacAddr kServerMac = {0x02, 0, 0, 0, 0, 1};
constexpr tcp::MacAddr kClientMac = {0x02, 0, 0, 0, 0, 2};
constexpr uint32_t kFloodNet = 0xac100000;  // 172.16/12
constexpr uint32_t kFloodMask = 0x000fffff;
// Bytes per message: a small request, as the table-only workloads' segments.
constexpr size_t kMessageBytes = 64;
// Per-connection buffers: 8 KiB (>= 4 MSS, Validate's floor) keeps 2 x
// --connections connections at ~16 KiB each (64 MiB at the default 4096).
constexpr uint32_t kBufferBytes = 8192;
// Client TIME_WAIT: 2 x 10 ms, so churned ephemeral ports come back fast
// (each workstream has ~8K ports whose flows map to it).
constexpr tcp::Micros kClientMsl = 10 * tcp::kMillisecond;
// Connections opened per poll at most: bounds one poll's work.
constexpr uint32_t kOpensPerPoll = 32;
constexpr double kDrainSeconds = 5;
constexpr uint32_t kRing = 8192;  // wire ring per queue and direction

// The client application of one workstream; touched only by its worker
// (on_poll and the connections' callbacks), read after Stop.
struct alignas(64) ClientWs {
  uint32_t slots = 0;  // connections to keep open
  uint32_t open = 0;
  uint64_t completed = 0, failed = 0, messages = 0, flood_syns = 0, sent_segments = 0;
  std::mt19937_64 rng;
  double flood_credit = 0;
};

struct Shared {
  LockprofOptions o;
  bool churn = true;
  double flood_share = 0;
  uint32_t segments = 1;
  std::atomic<bool> generating{true};
  std::vector<ClientWs> ws;
  uint32_t flow_buckets = 256;  // the client dispatcher's Settings::flow_buckets
  tcp::Host* client = nullptr;
};

struct ConnState {
  uint32_t sent = 0;   // messages sent
  size_t pending = 0;  // bytes of the current message not yet echoed
};

void SendMessage(tcp::Connection& c, ConnState& st, ClientWs& w) {
  static const uint8_t kMsg[kMessageBytes] = {};
  if (c.Send(kMsg, kMessageBytes) != kMessageBytes) return;  // cannot happen: 8 KiB buffer
  ++st.sent;
  st.pending = kMessageBytes;
  ++w.messages;
}

void Open(Shared& sh, int ws, tcp::Engine& e) {
  ClientWs& w = sh.ws[static_cast<size_t>(ws)];
  auto st = std::make_shared<ConnState>();
  tcp::Callbacks cb;
  cb.on_connected = [&sh, ws, st](tcp::Connection& c) {
    SendMessage(c, *st, sh.ws[static_cast<size_t>(ws)]);
  };
  cb.on_readable = [&sh, ws, st](tcp::Connection& c) {
    ClientWs& w = sh.ws[static_cast<size_t>(ws)];
    uint8_t buf[kMessageBytes * 4];
    while (size_t n = c.Read(buf, sizeof(buf))) st->pending -= std::min(st->pending, n);
    if (st->pending != 0) return;
    const bool more =
        !sh.churn ? sh.generating.load(std::memory_order_relaxed) : st->sent < sh.segments;
    if (more) {
      SendMessage(c, *st, w);
    } else {
      c.Close();
    }
  };
  cb.on_closed = [&sh, ws](tcp::Connection&, tcp::Error err) {
    ClientWs& w = sh.ws[static_cast<size_t>(ws)];
    --w.open;
    if (err == tcp::Error::kNone) {
      ++w.completed;
    } else {
      ++w.failed;
    }
  };
  auto c = e.Connect(inpcb::FourTuple::V4(kClientAddr, 0, kServerAddr, kServerPort), std::move(cb));
  if (c.ok()) {
    ++w.open;
  } else {
    ++w.failed;
  }
}

// A SYN from a random 172.16/12 source whose flow is this workstream's on
// the client side (so the SYN-ACK and RST stay here).
void FloodSyn(Shared& sh, int ws) {
  ClientWs& w = sh.ws[static_cast<size_t>(ws)];
  tcp::Segment s;
  const auto nws = static_cast<uint32_t>(sh.ws.size());
  const uint32_t buckets = sh.flow_buckets;
  do {
    s.tuple = inpcb::FourTuple::V4(kFloodNet | (static_cast<uint32_t>(w.rng()) & kFloodMask),
                                   static_cast<uint16_t>(1024 + w.rng() % 60000), kServerAddr,
                                   kServerPort);
    s.flowid = tcp::FlowIdOf(s.tuple);
  } while (inpcb::CpuOf(s.flowid, nws, buckets) != static_cast<uint32_t>(ws));
  s.seq = static_cast<uint32_t>(w.rng());
  s.flags = tcp::flags::kSyn;
  s.window = 65535;
  s.opt.has_mss = true;
  s.opt.mss = 1460;
  sh.client->SendSegment(ws, s);
  ++w.flood_syns;
}

size_t ClientPoll(Shared& sh, int ws, tcp::Engine& e) {
  ClientWs& w = sh.ws[static_cast<size_t>(ws)];
  if (!sh.generating.load(std::memory_order_relaxed)) return 0;
  size_t did = 0;
  const uint64_t before = e.stats().segments_out;
  for (uint32_t k = 0; k < kOpensPerPoll && w.open < w.slots; ++k) {
    Open(sh, ws, e);
    ++did;
  }
  if (sh.flood_share > 0) {
    // Flood SYNs in proportion to the segments the client sent since the
    // last poll: share f of all segments means f / (1 - f) per real one.
    w.flood_credit += static_cast<double>(e.stats().segments_out - w.sent_segments) *
                      sh.flood_share / (1 - sh.flood_share);
    w.sent_segments = e.stats().segments_out;
    for (int k = 0; w.flood_credit >= 1 && k < 256; ++k, w.flood_credit -= 1) {
      FloodSyn(sh, ws);
      ++did;
    }
  }
  (void)before;
  return did;
}

std::unique_ptr<Netisr> MakeNetisr(const LockprofOptions& o, Status* st) {
  auto model = MakeWorkModel(o.model);
  if (!model.ok()) {
    *st = model.status();
    return nullptr;
  }
  Settings s;
  s.max_threads = static_cast<int>(o.workers);
  s.bind_threads = o.bind;
  auto n = Netisr::Create(s, std::move(*model));
  if (!n.ok()) {
    *st = n.status();
    return nullptr;
  }
  return std::move(*n);
}

bool WaitFor(const std::function<bool()>& pred, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

}  // namespace

Result<LockprofReport> RunTcpLockprof(const LockprofOptions& o) {
  (void)sched::FastClock::Global();
  const int workers = static_cast<int>(o.workers);
  auto strategy = inpcb::ParseTableStrategy(o.strategy);
  if (!strategy.ok()) return strategy.status();
  auto wire = tcp::WirePort::CreatePair(static_cast<uint16_t>(workers), kRing);
  if (!wire.ok()) return wire.status();
  // Plain references, not a structured binding: clang 14 cannot capture
  // those in a lambda.
  std::unique_ptr<tcp::WirePort>& server_port = wire->first;
  std::unique_ptr<tcp::WirePort>& client_port = wire->second;

  auto sh = std::make_unique<Shared>();
  sh->o = o;
  sh->churn = o.workload != "steady";
  sh->flood_share = o.workload == "synflood" ? o.flood_share_value() : 0;
  sh->segments = static_cast<uint32_t>(o.segment_count());
  sh->ws.resize(static_cast<size_t>(workers));
  for (int w = 0; w < workers; ++w) {
    ClientWs& c = sh->ws[static_cast<size_t>(w)];
    c.slots = static_cast<uint32_t>(
        std::max<int64_t>(1, o.connections / workers + (w < o.connections % workers ? 1 : 0)));
    c.rng.seed(o.seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(w));
  }

  Status st = Status::Ok();
  std::unique_ptr<Netisr> snisr = MakeNetisr(o, &st);
  if (!snisr) return st;
  std::unique_ptr<Netisr> cnisr = MakeNetisr(o, &st);
  if (!cnisr) return st;
  sh->flow_buckets = cnisr->settings().flow_buckets;

  auto config = [&](uint32_t addr, const tcp::MacAddr& mac, const tcp::MacAddr& peer,
                    nic::Port* port) {
    tcp::HostConfig c;
    c.addr = addr;
    c.mac = mac;
    c.default_peer_mac = peer;
    c.port = port;
    c.table.strategy = *strategy;
    c.table.cpus = static_cast<uint32_t>(workers);
    if (o.groups) c.table.groups = static_cast<uint32_t>(*o.groups);
    c.tcp.send_buffer = c.tcp.recv_buffer = kBufferBytes;
    c.tcp.secret = o.seed;
    // The host's default, 16384 (32 MiB): enough for --connections 4096
    // with no tx_no_buffer. It was 65536, slower while the pool's shared
    // free list was a FIFO that handed out the coldest buffer first (churn
    // 26.8-34.0 k connections/s against 35.2-38.8 k; docs/tcp.md).
    return c;
  };
  auto server =
      tcp::Host::Create(*snisr, config(kServerAddr, kServerMac, kClientMac, server_port.get()));
  if (!server.ok()) return server.status();
  tcp::HostConfig cc = config(kClientAddr, kClientMac, kServerMac, client_port.get());
  cc.tcp.msl = kClientMsl;
  cc.tcp.secret = o.seed + 1;
  Shared* shp = sh.get();
  cc.on_poll = [shp](int ws, tcp::Engine& e) { return ClientPoll(*shp, ws, e); };
  auto client = tcp::Host::Create(*cnisr, cc);
  if (!client.ok()) return client.status();
  sh->client = client->get();

  auto echo = [](tcp::Connection& c) {
    auto fn = [](tcp::Connection& c) {
      uint8_t buf[4096];
      while (size_t n = c.Read(buf, std::min(sizeof(buf), c.send_space()))) c.Send(buf, n);
      if (c.peer_closed() && c.readable() == 0) c.Close();
    };
    tcp::Callbacks cb;
    cb.on_readable = cb.on_writable = cb.on_peer_closed = fn;
    c.set_callbacks(std::move(cb));
  };
  if (Status s = (*server)->Listen(kServerPort, echo); !s.ok()) return s;

  std::vector<std::unique_ptr<nic::RxQueueSource>> sources;
  for (int q = 0; q < workers; ++q) {
    sources.push_back(std::make_unique<nic::RxQueueSource>(*server_port, static_cast<uint16_t>(q),
                                                           (*server)->rx_protocols()));
    if (Status s = snisr->AttachSource(q, sources.back().get()); !s.ok()) return s;
    sources.push_back(std::make_unique<nic::RxQueueSource>(*client_port, static_cast<uint16_t>(q),
                                                           (*client)->rx_protocols()));
    if (Status s = cnisr->AttachSource(q, sources.back().get()); !s.ok()) return s;
  }

  lockprof::Reset();
  const auto t0 = std::chrono::steady_clock::now();
  if (Status s = snisr->Start(); !s.ok()) return s;
  if (Status s = cnisr->Start(); !s.ok()) {
    snisr->Stop();
    return s;
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.duration_s));
  sh->generating.store(false, std::memory_order_relaxed);
  const std::chrono::duration<double> gen = std::chrono::steady_clock::now() - t0;
  // Churn: the open connections finish their messages and close (the
  // client's table empties once their short TIME_WAITs end; the server's
  // may keep flood half-opens). Steady: they stop sending; the end cuts
  // them (counted open).
  if (sh->churn) {
    WaitFor([&] { return (*client)->table().Counts().connections == 0; }, kDrainSeconds);
  }
  cnisr->Stop();
  // What the client sent before it stopped reaches the server's workers.
  WaitFor([&] { return server_port->Stats().rx_packets == client_port->Stats().tx_packets; }, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  snisr->Stop();

  LockprofReport r;
  r.locks = lockprof::Snapshot();
  r.options = o;
  r.seconds = gen.count();
  const tcp::HostStats ss = (*server)->Stats();
  const tcp::HostStats cs = (*client)->Stats();
  TcpLoad& t = r.tcp.emplace();
  for (const ClientWs& w : sh->ws) {
    t.completed += w.completed;
    t.failed += w.failed;
    t.messages += w.messages;
    t.flood_syns += w.flood_syns;
    t.open_at_end += w.open;
  }
  t.connections_per_s = r.seconds > 0 ? static_cast<double>(t.completed) / r.seconds : 0;
  t.server_segments_in = ss.tcp.segments_in;
  t.server_segments_out = ss.tcp.segments_out;
  t.syncookies_sent = ss.tcp.syncookies_sent;
  t.server_drops = ss.DropMap();
  t.client_drops = cs.DropMap();
  t.conserved = ss.Conserved() && cs.Conserved();
  // The table-operation view of the same run, from the server's side:
  // handshakes completed (opened), segments with data (data), connections
  // freed (closed), flood SYNs sent; lost = connections that failed.
  r.segments.opened = ss.tcp.passive_opens;
  r.segments.data = ss.tcp.segments_in;
  r.segments.closed = ss.tcp.closed;
  r.segments.flood_syns = t.flood_syns;
  r.segments.lost = t.failed;
  r.ops = ss.tcp.segments_in;
  r.ops_per_s = r.seconds > 0 ? static_cast<double>(r.ops) / r.seconds : 0;
  r.live_connections = ss.connections;
  r.stats = snisr->GetStats();
  r.packets_in = r.ops + r.stats.TotalDrops();
  // Netisr first (its handlers hold the hosts), then the hosts, the wire.
  cnisr.reset();
  snisr.reset();
  sources.clear();
  return r;
}

}  // namespace netisr::apps
