#include "nic/pcap_port.h"

#include <pcap/pcap.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <span>

#include "nic/internal/queue_counters.h"
#include "sched_feedback/clock.h"

namespace netisr::nic {

namespace internal {

struct alignas(64) PcapRxQueue {
  std::vector<uint32_t> frames;  // indices into PcapPort::frames_, file order
  size_t pos = 0;                // next frame to replay
  uint64_t loop = 0;             // completed replays
  RxQueueCounters counters;
};

// A pcap output file (libpcap's dumper on a "dead" handle of one link type).
struct PcapWriter {
  pcap_t* dead = nullptr;
  pcap_dumper_t* dumper = nullptr;

  ~PcapWriter() {
    if (dumper != nullptr) pcap_dump_close(dumper);
    if (dead != nullptr) pcap_close(dead);
  }

  static Result<std::unique_ptr<PcapWriter>> Create(const std::string& path, int dlt = DLT_EN10MB) {
    auto w = std::make_unique<PcapWriter>();
    w->dead = pcap_open_dead(dlt, 65535);
    if (w->dead == nullptr)
      return Status(ErrorCode::kUnavailable, "pcap: cannot create a writer for '" + path + "'");
    w->dumper = pcap_dump_open(w->dead, path.c_str());
    if (w->dumper == nullptr)
      return Status(ErrorCode::kInvalidArgument,
                    "pcap: cannot create '" + path + "': " + pcap_geterr(w->dead));
    return w;
  }

  void Write(const uint8_t* data, uint32_t len, uint64_t ts_ns) {
    pcap_pkthdr h{};
    h.ts.tv_sec = static_cast<time_t>(ts_ns / 1000000000u);
    h.ts.tv_usec = static_cast<suseconds_t>(ts_ns % 1000000000u / 1000u);
    h.caplen = len;
    h.len = len;
    pcap_dump(reinterpret_cast<u_char*>(dumper), &h, data);
  }
};

}  // namespace internal

namespace {

Status Bad(const std::string& m) { return Status(ErrorCode::kInvalidArgument, "pcap: " + m); }

uint64_t RealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

Result<PcapTrace> ReadPcapTrace(const std::string& path) {
  char errbuf[PCAP_ERRBUF_SIZE] = "";
  // Nanosecond precision when the file has it; microseconds scaled otherwise.
  pcap_t* p =
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (p == nullptr) {
    return Status(ErrorCode::kNotFound, "pcap: cannot read '" + path + "': " + errbuf);
  }
  std::unique_ptr<pcap_t, void (*)(pcap_t*)> closer(p, pcap_close);
  PcapTrace trace;
  trace.link_type = pcap_datalink(p);
  const char* name = pcap_datalink_val_to_name(trace.link_type);
  trace.link_name = name != nullptr ? name : "unknown";
  for (;;) {
    pcap_pkthdr* h;
    const u_char* data;
    const int rc = pcap_next_ex(p, &h, &data);
    if (rc == PCAP_ERROR_BREAK) break;  // end of file
    if (rc != 1) {
      return Bad("'" + path + "' is corrupt after " + std::to_string(trace.records.size()) +
                 " records: " + pcap_geterr(p));
    }
    PcapRecord r;
    r.bytes.assign(data, data + h->caplen);
    r.wire_len = h->len;
    r.ts_ns =
        static_cast<uint64_t>(h->ts.tv_sec) * 1000000000u + static_cast<uint64_t>(h->ts.tv_usec);
    trace.records.push_back(std::move(r));
  }
  return trace;
}

Result<std::vector<PcapRecord>> ReadPcap(const std::string& path) {
  auto trace = ReadPcapTrace(path);
  if (!trace.ok()) return trace.status();
  if (trace->link_type != DLT_EN10MB) {
    return Bad("'" + path + "' is not an Ethernet capture (link type " +
               std::to_string(trace->link_type) + " (" + trace->link_name + "))");
  }
  return std::move(trace->records);
}

Status WritePcap(const std::string& path, std::span<const std::vector<uint8_t>> frames,
                 uint64_t start_ns, std::string_view link_type) {
  const int dlt = pcap_datalink_name_to_val(std::string(link_type).c_str());
  if (dlt < 0) return Bad("unknown link type name '" + std::string(link_type) + "'");
  auto w = internal::PcapWriter::Create(path, dlt);
  if (!w.ok()) return w.status();
  for (size_t i = 0; i < frames.size(); ++i) {
    (*w)->Write(frames[i].data(), static_cast<uint32_t>(frames[i].size()), start_ns + i * 1000);
  }
  if (pcap_dump_flush((*w)->dumper) != 0) return Bad("cannot write '" + path + "'");
  return Status::Ok();
}

Result<std::unique_ptr<PcapPort>> PcapPort::Open(const PcapConfig& config) {
  if (config.port_id > 1023)
    return Bad("port_id " + std::to_string(config.port_id) + " out of range [0, 1023]");
  if (config.num_rx_queues < 1 || config.num_rx_queues > kMaxQueuesPerPort)
    return Bad("num_rx_queues " + std::to_string(config.num_rx_queues) + " out of range [1, 64]");
  if (!config.tx_path.empty() &&
      (config.num_tx_queues < 1 || config.num_tx_queues > kMaxQueuesPerPort))
    return Bad("num_tx_queues " + std::to_string(config.num_tx_queues) + " out of range [1, 64]");
  if (!config.rx_path.empty() && config.pool == nullptr)
    return Bad("replaying '" + config.rx_path + "' needs a packet pool");
  auto reta = Reta::Create(config.num_rx_queues, config.reta_size);
  if (!reta.ok()) return Bad(reta.status().message());
  sched::FastClock::Global();
  auto port = std::unique_ptr<PcapPort>(new PcapPort(config, std::move(reta).value()));
  if (Status st = port->Load(); !st.ok()) return st;
  if (!config.tx_path.empty()) {
    auto w = internal::PcapWriter::Create(config.tx_path);
    if (!w.ok()) return w.status();
    port->writer_ = std::move(w).value();
    for (uint16_t q = 0; q < config.num_tx_queues; ++q)
      port->tx_.push_back(std::make_unique<internal::TxQueueCounters>());
  }
  return port;
}

PcapPort::PcapPort(const PcapConfig& config, Reta reta)
    : config_(config),
      reta_(std::move(reta)),
      name_("pcap:" + (config.rx_path.empty() ? config.tx_path : config.rx_path)) {
  for (uint16_t q = 0; q < config.num_rx_queues; ++q)
    rx_.push_back(std::make_unique<internal::PcapRxQueue>());
}

PcapPort::~PcapPort() = default;

namespace {

// How a capture's link header is read: its length, and where the field that
// says whether an IP packet follows (an EtherType, or a BSD address family).
struct LinkFormat {
  int dlt;
  LinkType link;
  uint32_t header;  // bytes before the network-layer packet
  enum class Proto : uint8_t { kNone, kEtherType, kFamilyAnyOrder, kFamilyNet } proto;
  uint32_t proto_off;  // of the field, in the header
};

// The order of the refusal message's list.
constexpr LinkFormat kLinkFormats[] = {
    {DLT_EN10MB, LinkType::kEthernet, 0, LinkFormat::Proto::kNone, 0},
    {DLT_LINUX_SLL, LinkType::kIp, 16, LinkFormat::Proto::kEtherType, 14},
    {DLT_LINUX_SLL2, LinkType::kIp, 20, LinkFormat::Proto::kEtherType, 0},
    {DLT_RAW, LinkType::kIp, 0, LinkFormat::Proto::kNone, 0},
    {DLT_IPV4, LinkType::kIp, 0, LinkFormat::Proto::kNone, 0},
    {DLT_IPV6, LinkType::kIp, 0, LinkFormat::Proto::kNone, 0},
    {DLT_NULL, LinkType::kIp, 4, LinkFormat::Proto::kFamilyAnyOrder, 0},
    {DLT_LOOP, LinkType::kIp, 4, LinkFormat::Proto::kFamilyNet, 0},
};

const LinkFormat* FindLinkFormat(int dlt) {
  for (const LinkFormat& f : kLinkFormats)
    if (f.dlt == dlt) return &f;
  return nullptr;
}

std::string SupportedLinkNames() {
  std::string s;
  for (const LinkFormat& f : kLinkFormats) {
    const char* name = pcap_datalink_val_to_name(f.dlt);
    s += (s.empty() ? "" : ", ") + std::string(name != nullptr ? name : "?");
  }
  return s;
}

uint16_t Load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t Load32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

// Whether the link header `hdr` (the whole header is there) announces IPv4 or IPv6.
bool CarriesIp(const LinkFormat& f, const uint8_t* hdr) {
  switch (f.proto) {
    case LinkFormat::Proto::kNone:
      return true;
    case LinkFormat::Proto::kEtherType: {
      const uint16_t type = Load16(hdr + f.proto_off);
      return type == 0x0800 || type == 0x86dd;
    }
    case LinkFormat::Proto::kFamilyAnyOrder:
    case LinkFormat::Proto::kFamilyNet: {
      uint32_t af = Load32(hdr + f.proto_off);
      // NULL is in the capturing host's order: families are small, so a
      // value with high bits set is the other order (libpcap's rule).
      if (f.proto == LinkFormat::Proto::kFamilyAnyOrder && (af & 0xffff0000u) != 0)
        af = __builtin_bswap32(af);
      // AF_INET; AF_INET6 of Linux, the other BSDs, FreeBSD, Darwin.
      return af == 2 || af == 10 || af == 24 || af == 28 || af == 30;
    }
  }
  return false;
}

}  // namespace

Status PcapPort::Load() {
  if (config_.rx_path.empty()) return Status::Ok();
  auto trace = ReadPcapTrace(config_.rx_path);
  if (!trace.ok()) return trace.status();
  const LinkFormat* format = FindLinkFormat(trace->link_type);
  if (format == nullptr) {
    return Bad("'" + config_.rx_path + "': pcap link type " + std::to_string(trace->link_type) +
               " (" + trace->link_name + ") is not supported; supported: " + SupportedLinkNames());
  }
  link_ = format->link;
  const std::vector<PcapRecord>& records = trace->records;
  size_t total = 0;
  for (const PcapRecord& r : records) total += r.bytes.size();
  bytes_.reserve(total);
  const uint32_t buf = config_.pool->buf_size();
  for (const PcapRecord& r : records) {
    const auto caplen = static_cast<uint32_t>(r.bytes.size());
    Frame f{bytes_.size(), 0, 0, HashType::kNone, RxDrop::kCount};
    // Verdicts in the order a receiver finds them: no header to read, not
    // IP, cut short by the snaplen, too long for a buffer.
    if (caplen < format->header) {
      f.drop = caplen < r.wire_len ? RxDrop::kTruncated : RxDrop::kNotIp;
    } else if (!CarriesIp(*format, r.bytes.data())) {
      f.drop = RxDrop::kNotIp;
    } else if (caplen < r.wire_len) {
      f.drop = RxDrop::kTruncated;
    } else if (caplen - format->header > buf) {
      f.drop = RxDrop::kTooLong;
    } else {
      const std::span<const uint8_t> packet =
          std::span<const uint8_t>(r.bytes).subspan(format->header);
      const RssHash h = link_ == LinkType::kEthernet
                            ? HashFrame(Toeplitz::Default(), packet, config_.rss)
                            : HashIpPacket(Toeplitz::Default(), packet, config_.rss);
      f.len = static_cast<uint32_t>(packet.size());
      f.hash = h.hash;
      f.type = h.type;
      bytes_.insert(bytes_.end(), packet.begin(), packet.end());
    }
    const uint16_t q = f.type == HashType::kNone ? 0 : reta_.Queue(f.hash);
    rx_[q]->frames.push_back(static_cast<uint32_t>(frames_.size()));
    frames_.push_back(f);
  }
  return Status::Ok();
}

size_t PcapPort::RxBurst(uint16_t queue, std::span<Packet*> out) {
  if (queue >= rx_.size()) return 0;
  internal::PcapRxQueue& q = *rx_[queue];
  if (q.frames.empty()) return 0;
  const uint64_t now = sched::FastClock::Global().NowNs();
  size_t n = 0;
  uint64_t bytes = 0;
  std::array<uint64_t, static_cast<size_t>(RxDrop::kCount)> drops{};
  // At most out.size() frames taken, delivered or dropped (Port::RxBurst):
  // a trace of nothing but bad frames must not spin here.
  for (size_t taken = 0; taken < out.size() && !RxExhausted(queue); ++taken) {
    const Frame& f = frames_[q.frames[q.pos]];
    if (f.drop != RxDrop::kCount) {
      ++drops[static_cast<size_t>(f.drop)];
    } else {
      Packet* p = config_.pool->Alloc();
      if (p == nullptr) break;  // backpressure: retry this frame next time
      std::memcpy(p->data, bytes_.data() + f.offset, f.len);
      p->len = f.len;
      p->SetFlowId(f.hash, f.type);
      p->source = SourceId(config_.port_id, queue);
      p->ingress_ns = now;
      p->seq = q.loop * frames_.size() + q.frames[q.pos] + 1;
      out[n++] = p;
      bytes += f.len;
    }
    if (++q.pos == q.frames.size()) {
      q.pos = 0;
      ++q.loop;
    }
  }
  q.counters.packets.Add(n);
  q.counters.bytes.Add(bytes);
  for (size_t d = 0; d < drops.size(); ++d)
    if (drops[d] != 0) q.counters.drops[d].Add(drops[d]);
  return n;
}

uint64_t PcapPort::RxDropped(uint16_t queue) const {
  return queue < rx_.size() ? rx_[queue]->counters.dropped() : 0;
}

size_t PcapPort::TxBurst(uint16_t queue, std::span<Packet* const> pkts) {
  if (queue >= tx_.size()) return 0;
  uint64_t bytes = 0;
  {
    lockprof::MutexLock lock(tx_mu_);
    const uint64_t ts = RealtimeNs();
    for (Packet* p : pkts) {
      writer_->Write(p->data, p->len, ts);
      bytes += p->len;
    }
  }
  for (Packet* p : pkts) Release(p);
  tx_[queue]->packets.Add(pkts.size());
  tx_[queue]->bytes.Add(bytes);
  return pkts.size();
}

bool PcapPort::RxExhausted(uint16_t queue) const {
  if (queue >= rx_.size()) return true;
  const internal::PcapRxQueue& q = *rx_[queue];
  return q.frames.empty() || (config_.loops != 0 && q.loop >= config_.loops);
}

PortStats PcapPort::Stats() const {
  PortStats s;
  for (const auto& q : rx_) q->counters.AddTo(s);
  for (const auto& t : tx_) t->AddTo(s);
  return s;
}

size_t PcapPort::frames_on(uint16_t queue) const { return rx_.at(queue)->frames.size(); }

void PcapPort::FlushTx() {
  lockprof::MutexLock lock(tx_mu_);
  if (writer_ != nullptr) pcap_dump_flush(writer_->dumper);
}

}  // namespace netisr::nic
