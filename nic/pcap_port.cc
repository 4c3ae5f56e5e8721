#include "nic/pcap_port.h"

#include <pcap/pcap.h>
#include <time.h>

#include <algorithm>
#include <cstring>

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

// A pcap output file (libpcap's dumper on a "dead" Ethernet handle).
struct PcapWriter {
  pcap_t* dead = nullptr;
  pcap_dumper_t* dumper = nullptr;

  ~PcapWriter() {
    if (dumper != nullptr) pcap_dump_close(dumper);
    if (dead != nullptr) pcap_close(dead);
  }

  static Result<std::unique_ptr<PcapWriter>> Create(const std::string& path) {
    auto w = std::make_unique<PcapWriter>();
    w->dead = pcap_open_dead(DLT_EN10MB, 65535);
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

Result<std::vector<PcapRecord>> ReadPcap(const std::string& path) {
  char errbuf[PCAP_ERRBUF_SIZE] = "";
  // Nanosecond precision when the file has it; microseconds scaled otherwise.
  pcap_t* p =
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (p == nullptr) {
    return Status(ErrorCode::kNotFound, "pcap: cannot read '" + path + "': " + errbuf);
  }
  std::unique_ptr<pcap_t, void (*)(pcap_t*)> closer(p, pcap_close);
  if (pcap_datalink(p) != DLT_EN10MB) {
    return Bad("'" + path + "' is not an Ethernet capture (link type " +
               std::to_string(pcap_datalink(p)) + ")");
  }
  std::vector<PcapRecord> out;
  for (;;) {
    pcap_pkthdr* h;
    const u_char* data;
    const int rc = pcap_next_ex(p, &h, &data);
    if (rc == PCAP_ERROR_BREAK) break;  // end of file
    if (rc != 1) {
      return Bad("'" + path + "' is corrupt after " + std::to_string(out.size()) +
                 " records: " + pcap_geterr(p));
    }
    PcapRecord r;
    r.bytes.assign(data, data + h->caplen);
    r.wire_len = h->len;
    r.ts_ns =
        static_cast<uint64_t>(h->ts.tv_sec) * 1000000000u + static_cast<uint64_t>(h->ts.tv_usec);
    out.push_back(std::move(r));
  }
  return out;
}

Status WritePcap(const std::string& path, std::span<const std::vector<uint8_t>> frames,
                 uint64_t start_ns) {
  auto w = internal::PcapWriter::Create(path);
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

Status PcapPort::Load() {
  if (config_.rx_path.empty()) return Status::Ok();
  auto records = ReadPcap(config_.rx_path);
  if (!records.ok()) return records.status();
  size_t total = 0;
  for (const PcapRecord& r : *records) total += r.bytes.size();
  bytes_.reserve(total);
  for (const PcapRecord& r : *records) {
    const RssHash h = HashFrame(Toeplitz::Default(), r.bytes, config_.rss);
    Frame f{bytes_.size(), static_cast<uint32_t>(r.bytes.size()), r.wire_len, h.hash, h.type};
    const uint16_t q = h.type == HashType::kNone ? 0 : reta_.Queue(h.hash);
    rx_[q]->frames.push_back(static_cast<uint32_t>(frames_.size()));
    frames_.push_back(f);
    bytes_.insert(bytes_.end(), r.bytes.begin(), r.bytes.end());
  }
  return Status::Ok();
}

size_t PcapPort::RxBurst(uint16_t queue, std::span<Packet*> out) {
  if (queue >= rx_.size()) return 0;
  internal::PcapRxQueue& q = *rx_[queue];
  if (q.frames.empty()) return 0;
  const uint64_t now = sched::FastClock::Global().NowNs();
  const uint32_t buf = config_.pool->buf_size();
  size_t n = 0;
  uint64_t bytes = 0;
  while (n < out.size() && !RxExhausted(queue)) {
    const Frame& f = frames_[q.frames[q.pos]];
    const uint64_t seq = q.loop * frames_.size() + q.frames[q.pos] + 1;
    if (f.caplen < f.wire_len || f.caplen > buf) {
      const RxDrop why = f.caplen < f.wire_len ? RxDrop::kTruncated : RxDrop::kTooLong;
      q.counters.drops[static_cast<size_t>(why)].Add(1);
    } else {
      Packet* p = config_.pool->Alloc();
      if (p == nullptr) break;  // backpressure: retry this frame next time
      std::memcpy(p->data, bytes_.data() + f.offset, f.caplen);
      p->len = f.caplen;
      p->SetFlowId(f.hash, f.type);
      p->source = SourceId(config_.port_id, queue);
      p->ingress_ns = now;
      p->seq = seq;
      out[n++] = p;
      bytes += f.caplen;
    }
    if (++q.pos == q.frames.size()) {
      q.pos = 0;
      ++q.loop;
    }
  }
  q.counters.packets.Add(n);
  q.counters.bytes.Add(bytes);
  return n;
}

size_t PcapPort::TxBurst(uint16_t queue, std::span<Packet* const> pkts) {
  if (queue >= tx_.size()) return 0;
  uint64_t bytes = 0;
  {
    std::lock_guard<lockprof::Mutex> lock(tx_mu_);
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
  std::lock_guard<lockprof::Mutex> lock(tx_mu_);
  if (writer_ != nullptr) pcap_dump_flush(writer_->dumper);
}

}  // namespace netisr::nic
