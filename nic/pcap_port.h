// PcapPort: a Port over pcap files through libpcap. RX replays a trace
// (optionally looping, for benchmarks); TX captures what is sent. Plus
// WritePcap / ReadPcap, the plain file utilities tests and the synthetic
// generator (WriteSyntheticTrace) use.
//
// RX: the whole trace is read into memory when the port opens (as DPDK's
// pcap PMD does with infinite_rx, and tcpreplay --preload), so replay
// costs a memcpy per frame and no I/O, and looping is free. The software
// RSS (Toeplitz, default key, RssFields) of every frame is computed once at
// open; its RETA queue decides which RX queue replays the frame, so, as on
// a NIC, a flow's frames come out of one queue in file order. Each queue
// has its own cursor and counters (one thread per queue, no shared mutable
// state but the lock-free pool); replay runs at ~44 Mpps of 64-byte
// frames on one thread (nic_bench, same machine as rss.h). Per packet: flowid/hash_type from RSS
// (kNone for non-IP frames), seq = the frame's 1-based position in the file
// plus loop * frames (so per-flow order is checkable), ingress_ns = time of
// the burst. Replay is as fast as the caller polls: the file's timestamps
// are not honoured. Memory: the trace's bytes plus 24 B per frame.
//
// Link types (pcap's LINKTYPE_ / DLT_ values, named as libpcap names them):
//   EN10MB (1)                 Ethernet: frames replay whole (link_type()
//                              kEthernet).
//   LINUX_SLL (113), LINUX_SLL2 (276)
//                              Linux cooked captures (tcpdump -i any): a 16
//                              or 20-byte header with the EtherType.
//   RAW (101), IPV4 (228), IPV6 (229)
//                              raw IP: no link header.
//   NULL (0), LOOP (108)       BSD loopback: a 4-byte address family, in
//                              the capturing host's byte order (NULL; either
//                              order is recognised) or network order (LOOP).
// Every link type but Ethernet replays the network-layer packet alone, the
// link header stripped at open (link_type() kIp, see link_type.h), so the
// receive path starts it at the IP layer. A cooked or loopback record that
// carries no IPv4/IPv6 packet (ARP, another EtherType or address family, a
// record shorter than its header) is dropped as kNotIp. AF_INET6 is 10, 24,
// 28 or 30 depending on the capturing OS; all are accepted. Other link types
// are refused at open, by name and number.
//
// Drops: frames larger than the pool's buffers (kTooLong), frames captured
// shorter than sent (snaplen; kTruncated) and kNotIp records are dropped
// each time they come up, counted in Stats and RxDropped; an empty pool is
// backpressure (the same frame is tried on the next call), not loss. One
// RxBurst takes at most out.size() frames off its queue, delivered or
// dropped (Port::RxBurst): a looping trace whose frames are all bad costs a
// call out.size() drops and returns 0, it does not spin.
//
// TX: frames are appended to one pcap file (Ethernet link type, stamped
// with CLOCK_REALTIME) and released. All TX queues write the same file
// under one mutex: a capture is a debugging and testing aid, not a fast
// path. The file is complete once the port is destroyed.
//
// Errors (missing or unreadable file, not a pcap, an unsupported link type,
// cannot create the output) come back as a Status naming the file; nothing
// throws and nothing crashes.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "lockprof/lock.h"
#include "netisr/packet.h"
#include "nic/port.h"
#include "nic/rss.h"

namespace netisr::nic {

namespace internal {
struct PcapRxQueue;
struct TxQueueCounters;
struct PcapWriter;
}  // namespace internal

struct PcapRecord {
  std::vector<uint8_t> bytes;  // as captured
  uint32_t wire_len = 0;       // length on the wire (> bytes.size() if cut by snaplen)
  uint64_t ts_ns = 0;          // capture time, ns since the epoch
};

// A whole capture: its link type (libpcap's DLT_ value and name, e.g. 1
// "EN10MB", 113 "LINUX_SLL") and every record, as captured.
struct PcapTrace {
  int link_type = 0;
  std::string link_name;
  std::vector<PcapRecord> records;
};

// Reads every record of a pcap file, whatever its link type.
Result<PcapTrace> ReadPcapTrace(const std::string& path);
// Reads every record of an Ethernet pcap file (other link types are an error).
Result<std::vector<PcapRecord>> ReadPcap(const std::string& path);

// Writes `frames` to a new pcap file (overwriting `path`) of link type
// `link_type` (libpcap's name, e.g. "EN10MB", "LINUX_SLL", "RAW"; the bytes
// are written as given), stamped start_ns, start_ns + 1 us, ...
Status WritePcap(const std::string& path, std::span<const std::vector<uint8_t>> frames,
                 uint64_t start_ns = 0, std::string_view link_type = "EN10MB");

struct PcapConfig {
  std::string rx_path;         // trace to replay; "" = RX queues that are always exhausted
  std::string tx_path;         // capture file to write; "" = no TX queues
  uint16_t port_id = 0;        // [0, 1023]
  uint16_t num_rx_queues = 1;  // [1, 64]
  uint16_t num_tx_queues = 1;  // [1, 64] when tx_path is set
  uint32_t reta_size = 128;
  RssFields rss;
  uint64_t loops = 1;          // replays of the trace; 0 = forever
  PacketPool* pool = nullptr;  // required when rx_path is set
};

// Lock class of PcapPort::tx_mu_.
inline constinit lockprof::LockClass kPcapTxLock("nic.pcap.tx");

class PcapPort final : public Port {
 public:
  static Result<std::unique_ptr<PcapPort>> Open(const PcapConfig& config);
  ~PcapPort() override;

  std::string_view name() const override { return name_; }
  uint16_t port_id() const override { return config_.port_id; }
  uint16_t num_rx_queues() const override { return config_.num_rx_queues; }
  uint16_t num_tx_queues() const override {
    return config_.tx_path.empty() ? 0 : config_.num_tx_queues;
  }
  // kIp for every capture link type but Ethernet (the link header is stripped).
  LinkType link_type() const override { return link_; }
  RxFlowHash rx_flow_hash() const override { return {&Toeplitz::Default(), config_.rss}; }
  size_t RxBurst(uint16_t queue, std::span<Packet*> out) override;
  uint64_t RxDropped(uint16_t queue) const override;
  // Writes and releases every packet; never full.
  size_t TxBurst(uint16_t queue, std::span<Packet* const> pkts) override;
  bool RxExhausted(uint16_t queue) const override;
  PortStats Stats() const override;

  // Frames in the trace, and how many RSS put on `queue`.
  size_t trace_frames() const { return frames_.size(); }
  size_t frames_on(uint16_t queue) const;
  // Writes buffered capture frames to the file.
  void FlushTx();

 private:
  struct Frame {
    uint64_t offset;  // into bytes_ of what replays (after the link header)
    uint32_t len;     // bytes that replay
    uint32_t hash;
    HashType type;
    RxDrop drop;  // why it never replays; kCount: it does
  };
  PcapPort(const PcapConfig& config, Reta reta);
  Status Load();

  const PcapConfig config_;
  const Reta reta_;
  const std::string name_;
  LinkType link_ = LinkType::kEthernet;  // set by Load
  std::vector<uint8_t> bytes_;           // every frame, back to back
  std::vector<Frame> frames_;            // file order
  std::vector<std::unique_ptr<internal::PcapRxQueue>> rx_;
  std::vector<std::unique_ptr<internal::TxQueueCounters>> tx_;
  // Protects the capture file behind writer_ (writes and flushes from any TX
  // queue's thread); writer_ itself is set in Create, before the port is
  // shared, and never changes. A leaf: nothing else is taken under it; it is
  // held across the buffered pcap_dump writes (a write(2) when stdio's
  // buffer fills), so it is not for packet-rate TX. Profiled as
  // "nic.pcap.tx".
  lockprof::Mutex tx_mu_{kPcapTxLock};
  std::unique_ptr<internal::PcapWriter> writer_ PT_GUARDED_BY(tx_mu_);
};

}  // namespace netisr::nic
