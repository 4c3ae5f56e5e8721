// The TCP engine: RFC 9293 TCP for one workstream, on the connection table.
//
// Design note (docs/tcp.md has the state diagram and the full account).
//  * One Engine per workstream (CPU). It owns that CPU's connections, their
//    timers (a hashed TimerWheel, no lock) and its statistics; everything it
//    does runs on the workstream's thread. Input is one decoded segment
//    (Segment, from the parse chain or DecodeSegment); output is segments
//    handed to an Output, which turns them into frames (or, in tests,
//    captures them). Time comes from an injected Clock.
//  * Every segment is looked up in the inpcb ConnectionTable (any of its four
//    strategies), which returns the connection or listener locked; the lock
//    is held while the segment is processed (FreeBSD's INP_WLOCK across
//    tcp_input/tcp_output). The TCP control block (Connection) hangs off the
//    inpcb through the engine's own map (inpcb has no protocol pointer yet,
//    FreeBSD's inp_ppcb). A connection found in the table but owned by
//    another engine is dropped as not_owner: segments and timers of one
//    connection run on one CPU.
//  * Application callbacks are not made under any lock: events are queued
//    on the connection while the segment is processed and delivered after
//    the inpcb lock is dropped, so a callback may Send, Close, Connect or
//    Listen (the latter two take table locks, which come before inpcb locks).
//  * Memory is bounded: a connection's buffers are fixed rings allocated when
//    it is established (so a half-open connection costs only its control
//    block); out-of-order data lives in the receive ring at its offset with
//    at most max_ooo_ranges holes; half-open connections per listener are
//    capped by syn_backlog, beyond which SYN cookies answer statelessly.
//  * Implemented: passive/active/simultaneous open, MSS, window scale,
//    timestamps with PAWS, SACK-permitted and SACK blocks on out-of-order
//    receipt, acceptability checks, persist probes, delayed ACKs, every
//    closing state, TIME_WAIT (2MSL) with RFC 6191 reuse by a newer SYN,
//    RFC 5961 challenge ACKs (rate limited), RFC 6298 RTO with Karn's rule
//    and backoff, NewReno (RFC 5681/6582), SYN cookies.
//    Not implemented: SACK-based loss recovery on the sending side (received
//    SACK blocks are decoded and ignored; NewReno recovers), urgent data,
//    keepalives, Nagle (the engine sends as TCP_NODELAY does), ECN, data on
//    SYN (dropped, the peer resends it), the 24-day TS.Recent invalidation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "inpcb/table.h"
#include "tcp/clock.h"
#include "tcp/internal/byte_ring.h"
#include "tcp/internal/siphash.h"
#include "tcp/segment.h"
#include "tcp/stats.h"
#include "tcp/timer_wheel.h"

namespace netisr::tcp {

namespace internal {
class EngineAccess;
}  // namespace internal

// RFC 9293 3.3.2 states.
enum class State : uint8_t {
  kClosed,
  kListen,
  kSynSent,
  kSynReceived,
  kEstablished,
  kFinWait1,
  kFinWait2,
  kCloseWait,
  kClosing,
  kLastAck,
  kTimeWait,
};
const char* ToString(State s);

// Why a connection ended, as the application sees it.
enum class Error : uint8_t {
  kNone,      // orderly close: both FINs exchanged (or our Abort)
  kReset,     // the peer reset it
  kRefused,   // RST in answer to our SYN
  kTimedOut,  // retransmission (or SYN) limit reached
  kAborted,   // Abort() by the application
};
const char* ToString(Error e);

class Output {
 public:
  virtual ~Output() = default;
  // One segment to send (sender's view, see segment.h). seg.payload is
  // valid for the duration of the call only.
  virtual void Send(const Segment& seg) = 0;
};

struct Settings {
  // MSS we advertise over IPv4 (IPv6: 20 bytes less); [88, 65495]. 1460 =
  // a 1500-byte Ethernet MTU minus 40 bytes of IPv4 and TCP headers.
  uint16_t mss = 1460;
  // Per-connection buffers, bytes; [4 * mss, 1 GiB]. The receive buffer
  // is the most we advertise (with window scaling; without it 65535); the
  // send buffer bounds what Send accepts. 256 KiB: enough for ~20 ms at
  // 100 Mb/s per connection and 1 Gb/s over 2 ms.
  uint32_t send_buffer = 256 * 1024;
  uint32_t recv_buffer = 256 * 1024;
  bool window_scaling = true;  // RFC 7323
  bool timestamps = true;      // RFC 7323 (and PAWS)
  bool sack = true;            // RFC 2018 (receiver side)
  // RTO bounds (RFC 6298). Initial 1 s (RFC 6298 2.1). Minimum 200 ms, as
  // Linux and FreeBSD (RFC 6298 2.4 says 1 s, which halves throughput after
  // any loss on a LAN); [1 ms, 1 s]. Maximum 60 s (the RFC's upper bound
  // example); [rto_min, 120 s].
  Micros rto_initial = 1 * kSecond;
  Micros rto_min = 200 * kMillisecond;
  Micros rto_max = 60 * kSecond;
  // Consecutive retransmission timeouts before a connection is dropped
  // (with a RST, cause timeout); [1, 30]. 12 as FreeBSD's TCP_MAXRXTSHIFT.
  uint32_t max_retransmits = 12;
  // SYN and SYN-ACK retransmissions before giving up; [1, 30]. 6 as Linux.
  uint32_t syn_retries = 6;
  // Delayed-ACK timer (RFC 1122 4.2.3.2: < 500 ms; RFC 5681: ACK at least
  // every second full-sized segment); [1 ms, 500 ms]. 40 ms as Linux's
  // minimum; FreeBSD uses 100 ms.
  Micros delayed_ack = 40 * kMillisecond;
  // Maximum segment lifetime; TIME_WAIT lasts 2 MSL; [1 ms, 120 s]. 30 s as
  // Linux and FreeBSD (RFC 9293 says 2 minutes).
  Micros msl = 30 * kSecond;
  // How long FIN_WAIT_2 waits for the peer's FIN once we have closed;
  // [1 ms, 600 s]. 60 s as Linux's tcp_fin_timeout.
  Micros fin_wait_2_timeout = 60 * kSecond;
  // Half-open (SYN_RECEIVED) connections per listener; [1, 65535]. Beyond
  // it SYNs are answered with SYN cookies (or dropped if syncookies is off).
  uint32_t syn_backlog = 128;
  bool syncookies = true;
  // Connections this engine holds (any state); [1, 16M]. Beyond it SYNs are
  // answered with cookies and cookie ACKs dropped (connection_limit).
  uint32_t max_connections = 65536;
  // Challenge ACKs (RFC 5961 7) per second per engine; [1, 1000000]. 1000
  // as Linux's tcp_challenge_ack_limit.
  uint32_t challenge_ack_limit = 1000;
  // Holes held in the reassembly (out-of-order ranges) per connection;
  // [1, 64]. Data that would make more is dropped (ooo_limit). 8 covers
  // any realistic loss pattern within one window; memory is the receive
  // ring either way.
  uint32_t max_ooo_ranges = 8;
  // Timer wheel: tick [1 us, 1 s], slots a power of two in [16, 1 << 20].
  // 1 ms x 4096: one rotation is 4.1 s, covering every RTO and delayed ACK.
  Micros timer_tick = 1 * kMillisecond;
  uint32_t timer_slots = 4096;
  // This engine's CPU (workstream), the CPU count the table was created
  // with and netisr's flow bucket count (a power of two in [1, 65536], at
  // least `cpus`);
  // connections it opens pick a local port whose flow maps to `cpu`
  // (inpcb::CpuOf), as FreeBSD's RSS does, so that their segments come back
  // to this workstream (required under the partitioned strategy).
  uint32_t cpu = 0;
  uint32_t cpus = 1;
  uint32_t flow_buckets = 256;
  // The flowid the segments of a connection carry when they arrive: what the
  // NIC's RSS computes (nic::TcpFlowHash, set by Host from the port), or,
  // when null, FlowIdOf (proto's hash, which the stack computes for frames
  // a port left without one). Connect files a connection under it and picks
  // its port by it; a wrong one would file active opens where the lookups
  // of their segments do not look.
  std::function<uint32_t(const inpcb::FourTuple&)> flow_id;
  // Ephemeral port range for Connect with lport 0 (IANA: 49152-65535).
  uint16_t ephemeral_first = 49152;
  uint16_t ephemeral_last = 65535;
  // Key of the ISN and SYN-cookie hash (SipHash); 0 = random at creation.
  uint64_t secret = 0;
};

Status Validate(const Settings& s);

class Engine;
class Connection;

// What the application hears. Every callback is optional and runs on the
// engine's thread with no lock held. A Connection* is valid from the
// callback that introduces it until on_closed returns.
struct Callbacks {
  // The handshake completed (active open; passive opens are announced by the
  // listener's accept function instead).
  std::function<void(Connection&)> on_connected;
  // New in-order bytes are readable (Read), or the peer's FIN arrived after
  // them (Read then returns 0 and peer_closed() is true).
  std::function<void(Connection&)> on_readable;
  // Send-buffer space was freed by acknowledgments.
  std::function<void(Connection&)> on_writable;
  // The peer closed its direction (FIN, all data before it read or not).
  std::function<void(Connection&)> on_peer_closed;
  // The connection is gone for the application (kNone: orderly close, which
  // the engine reports when our FIN is acknowledged and the peer's received,
  // even if TIME_WAIT goes on). Last callback; the pointer dies after it.
  std::function<void(Connection&, Error)> on_closed;
};

// Called for each passively opened connection once ESTABLISHED; set its
// callbacks there (Connection::set_callbacks).
using AcceptFn = std::function<void(Connection&)>;

class Connection {
 public:
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Queues up to send_space() bytes; returns how many were taken (0 once
  // closed for sending).
  size_t Send(const uint8_t* data, size_t len);
  size_t send_space() const;
  // Copies up to len in-order bytes out and frees their receive-window room
  // (a window update follows when it opens by >= min(recv_buffer/2, MSS)).
  size_t Read(uint8_t* out, size_t len);
  size_t readable() const;
  bool peer_closed() const { return peer_fin_; }
  // Orderly close of our direction: a FIN after the queued data.
  void Close();
  // Drops the connection now with a RST (cause abort).
  void Abort();
  void set_callbacks(Callbacks cb) { cb_ = std::move(cb); }

  State state() const { return state_; }
  const inpcb::FourTuple& tuple() const { return tuple_; }
  // The flow's RSS hash, as the table and netisr know it.
  uint32_t flowid() const { return flowid_; }
  // Negotiated on the handshake.
  uint16_t send_mss() const { return smss_; }
  bool timestamps() const { return ts_ok_; }
  bool sack_permitted() const { return sack_ok_; }
  uint8_t send_wscale() const { return snd_wscale_; }
  uint8_t recv_wscale() const { return rcv_wscale_; }
  // Congestion and timer state, for tests and statistics.
  uint32_t cwnd() const { return cwnd_; }
  uint32_t ssthresh() const { return ssthresh_; }
  Micros rto() const { return rto_; }
  uint32_t send_window() const { return snd_wnd_; }
  uint32_t max_send_window() const { return max_snd_wnd_; }  // MAX.SND.WND (RFC 5961)
  uint32_t flight_size() const { return snd_nxt_ - snd_una_; }

 private:
  friend class Engine;
  friend class internal::EngineAccess;
  enum Event : uint8_t {
    kEvConnected = 1,
    kEvReadable = 2,
    kEvWritable = 4,
    kEvPeerClosed = 8,
    kEvClosed = 16,
    kEvAccept = 32,
    // Internal, no callback: the application's Read opened the receive
    // window; announce it when the outermost engine call settles, unless a
    // segment sent meanwhile (the echo's data) already carried it.
    kEvWindowUpdate = 64,
  };
  struct Range {
    uint32_t left, right;  // [left, right) received beyond RCV.NXT
  };

  Connection(Engine* e, const inpcb::FourTuple& t, uint32_t flowid, inpcb::InpcbRef inp);

  // Opens: send the SYN (active) or the SYN-ACK (passive, from the SYN).
  void StartActive();
  void StartPassive(const Segment& syn);
  // Input, by state (RFC 9293 3.10.7); the engine holds the inpcb's lock.
  void Input(const Segment& seg);
  void InputSynSent(const Segment& seg);
  bool ProcessAck(const Segment& seg);  // false: segment dropped
  // A pure ACK whose sequence is in [RCV.NXT - receive buffer, RCV.NXT]
  // and whose ACK is in [SND.UNA - MAX.SND.WND, SND.UNA]: it acknowledges
  // nothing new, and its window is older than what a segment the peer sent
  // after it already set.
  bool IsStalePureAck(const Segment& seg) const;
  void ProcessData(const Segment& seg, uint32_t seq, const uint8_t* data, uint32_t len, bool fin);
  void NewAck(const Segment& seg, uint32_t acked);
  void DupAck();
  void OurFinAcked();
  void PeerFin();
  void Established();
  void EnterTimeWait();

  // Output.
  void Output();
  void SendSegment(uint32_t seq, uint32_t len, uint8_t flags);  // data from the send ring
  void SendSyn();
  // A pure ACK carries SND.MAX, not SND.NXT: after a go-back-N timeout
  // SND.NXT is behind what the peer already received, and an ACK with an old
  // sequence number would be dropped as a duplicate (BSD tcp_output does
  // the same). Found by LossySeedTest (seed 10).
  void SendAck() { SendSegment(snd_max_, 0, flags::kAck); }
  void MaybeSendWindowUpdate();
  void ChallengeAck();
  void Retransmit();  // one segment at SND.UNA
  uint32_t RecvWindow() const;
  uint32_t data_end() const;  // sequence number after the last queued byte

  // Timers.
  static void OnRexmt(Timer* t, void* arg);
  static void OnDelack(Timer* t, void* arg);
  static void OnTimeWait(Timer* t, void* arg);
  void ArmRexmt();
  void RttSample(Micros rtt);

  // Ends the connection: timers off, event queued, freed by the engine.
  void Finish(Error err);
  void Queue(uint8_t ev);

  Engine* const engine_;
  const inpcb::FourTuple tuple_;
  const uint32_t flowid_;
  inpcb::InpcbRef inp_;
  Callbacks cb_;
  State state_ = State::kClosed;
  uint8_t events_ = 0;
  bool queued_ = false;  // in the engine's event list
  bool finished_ = false;
  Error error_ = Error::kNone;
  bool passive_ = false;       // from a listener (accept on ESTABLISHED)
  inpcb::FourTuple listener_;  // passive: the listener's tuple, for its SYN queue count

  // Send side (RFC 9293 3.3.1 names).
  uint32_t iss_ = 0, snd_una_ = 0, snd_nxt_ = 0, snd_max_ = 0;
  uint32_t snd_wnd_ = 0, snd_wl1_ = 0, snd_wl2_ = 0, max_snd_wnd_ = 0;
  uint16_t smss_ = 536;      // effective send MSS (options space subtracted)
  uint16_t peer_mss_ = 536;  // RFC 9293 3.7.1 default
  uint8_t snd_wscale_ = 0, rcv_wscale_ = 0;
  bool ws_ok_ = false, ts_ok_ = false, sack_ok_ = false;
  // Send ring: bytes from snd_buf_seq_ (the first unacknowledged data byte)
  // on, acknowledged bytes dropped from its head.
  internal::ByteRing sndbuf_;
  uint32_t snd_buf_seq_ = 0;
  bool fin_queued_ = false;  // Close() called: FIN after the queued data
  bool fin_acked_ = false;
  // Congestion control (RFC 5681, NewReno RFC 6582).
  uint32_t cwnd_ = 0, ssthresh_ = 0, recover_ = 0;
  bool in_recovery_ = false;
  uint32_t dupacks_ = 0;
  // RTO (RFC 6298): one segment timed at a time, never a retransmitted one.
  Micros srtt_ = 0, rttvar_ = 0, rto_ = 0;
  bool have_rtt_ = false, rtt_timing_ = false;
  uint32_t rtt_seq_ = 0;
  Micros rtt_start_ = 0;
  uint32_t rexmt_count_ = 0;  // consecutive timeouts (SYN retries in SYN states)
  bool persist_ = false;      // rexmt_ is the persist timer
  uint32_t persist_shift_ = 0;

  // Receive side.
  uint32_t irs_ = 0, rcv_nxt_ = 0, rcv_adv_ = 0;
  uint16_t rcv_mss_ = 536;     // full-sized segment we expect (delayed-ACK rule)
  internal::ByteRing rcvbuf_;  // unread bytes, then out-of-order room
  std::vector<Range> ooo_;     // sorted, disjoint, non-adjacent; beyond RCV.NXT
  uint32_t last_ooo_seq_ = 0;  // first SACK block reports the range holding it
  bool peer_fin_ = false;
  bool fin_pending_ = false;  // a FIN beyond a hole, held until RCV.NXT gets there
  uint32_t fin_seq_ = 0;
  uint32_t last_ack_sent_ = 0;
  bool ack_now_ = false;
  uint32_t ts_recent_ = 0;
  uint32_t ts_offset_ = 0;
  bool closed_notified_ = false;  // on_closed queued

  Timer rexmt_;  // retransmission, SYN retransmission, or persist
  Timer delack_;
  Timer tw_;  // TIME_WAIT (2 MSL) or FIN_WAIT_2 timeout
};

class Engine {
 public:
  // `table`, `out` and `clock` must outlive the engine. The calling thread
  // must have done table->ThreadEnter(settings.cpu) where the strategy needs
  // it; the engine is then used from that thread only.
  static Result<std::unique_ptr<Engine>> Create(const Settings& s, inpcb::ConnectionTable* table,
                                                Output* out, const Clock* clock);
  // Removes and frees every connection and listener (no callbacks).
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // One segment in (receiver's view, see segment.h).
  void Input(const Segment& seg);
  // Decodes `len` bytes of TCP header + payload from an IP datagram src ->
  // dst and inputs it; bad checksum / malformed are counted as drops.
  void InputBytes(inpcb::Family family, const inpcb::IpAddr& src, const inpcb::IpAddr& dst,
                  const uint8_t* l4, size_t len, uint32_t flowid, bool verify_checksum = true);
  // Fires the timers due at clock->Now().
  void RunTimers();
  // Earliest armed timer, if any (tests drive virtual time with it).
  std::optional<Micros> NextTimer() const { return wheel_->NextDeadline(); }

  // A listening socket on laddr:port (laddr may be any). `accept` is called
  // with each connection that reaches ESTABLISHED.
  Status Listen(inpcb::Family family, const inpcb::IpAddr& laddr, uint16_t port, AcceptFn accept);
  Status Unlisten(inpcb::Family family, const inpcb::IpAddr& laddr, uint16_t port);
  // Serves, on this engine, SYNs that reach it for a listener already in the
  // table (inserted by another engine's Listen or by the table's owner): a
  // listener shared by every workstream's engine, each with its own SYN
  // queue count (per-CPU backlogs, as Linux's SO_REUSEPORT groups). The
  // engine never removes an attached listener (Unlisten only detaches it).
  // Errors: kNotFound if no listener is on laddr:port.
  Status AttachListener(inpcb::Family family, const inpcb::IpAddr& laddr, uint16_t port,
                        AcceptFn accept);
  // Active open of t (laddr:lport -> faddr:fport); lport 0 picks an
  // ephemeral port whose flow maps to this engine's CPU.
  Result<Connection*> Connect(const inpcb::FourTuple& t, Callbacks cb);
  // The flowid the segments of connection t will arrive with
  // (Settings::flow_id): whose CPU (inpcb::CpuOf) Connect requires.
  uint32_t InboundFlowId(const inpcb::FourTuple& t) const {
    return s_.flow_id ? s_.flow_id(t) : FlowIdOf(t);
  }

  const Stats& stats() const { return stats_; }
  const Settings& settings() const { return s_; }
  size_t connections() const { return conns_.size(); }
  // Half-open connections of the listener on laddr:port (0 if none).
  uint32_t syn_queue(inpcb::Family family, const inpcb::IpAddr& laddr, uint16_t port) const;
  // Calls fn for each connection this engine holds.
  void ForEachConnection(const std::function<void(const Connection&)>& fn) const;

 private:
  friend class Connection;
  friend class internal::EngineAccess;
  struct Listener {
    inpcb::FourTuple tuple;
    AcceptFn accept;
    uint32_t syn_queue = 0;
    inpcb::InpcbRef inp;
    bool attached = false;  // AttachListener: the table entry is not ours to remove
  };
  // Runs DeliverEvents and Reap when the outermost engine entry returns.
  class Scope {
   public:
    explicit Scope(Engine* e) : e_(e) { ++e_->depth_; }
    ~Scope();

   private:
    Engine* e_;
  };

  Engine(const Settings& s, inpcb::ConnectionTable* table, Output* out, const Clock* clock,
         std::unique_ptr<TimerWheel> wheel);
  void InputOne(const Segment& seg);
  void ListenInput(inpcb::LockedInpcb& l, Listener& li, const Segment& seg);
  Connection* NewConnection(const inpcb::FourTuple& t, uint32_t flowid, inpcb::LockedInpcb& l);
  // A listener, or a connection of this engine not ESTABLISHED: its
  // segment takes the global strategy's input section (InputOne).
  bool ChangesState(const inpcb::LockedInpcb& l) const;
  Listener* FindListener(const inpcb::FourTuple& t);
  void Drop(DropReason r);
  void SendRst(const Segment& in, ResetCause cause);
  void Emit(const Segment& seg);
  uint32_t Isn(const inpcb::FourTuple& t, uint32_t salt);
  uint32_t CookieHash(const inpcb::FourTuple& t, uint32_t peer_isn, uint32_t count);
  void SendCookieSynAck(const Segment& syn);
  int CookieMss(const Segment& ack);  // the MSS it encodes, -1 if not a valid cookie
  bool ChallengeAllowed();
  void DeliverEvents();
  void Reap();
  Micros now() const { return clock_->Now(); }
  uint16_t OurMss(inpcb::Family f) const;

  const Settings s_;
  inpcb::ConnectionTable* const table_;
  Output* const out_;
  const Clock* const clock_;
  internal::SipKey key_;
  Stats stats_;
  bool verdict_ = false;  // the current segment was counted (dropped)
  bool recycle_ = false;  // a TIME_WAIT connection gave way to a new SYN
  int depth_ = 0;         // nesting of engine entries (Scope)
  Micros challenge_epoch_ = 0;
  uint32_t challenge_count_ = 0;
  std::unique_ptr<uint8_t[]> scratch_;  // payload of the segment being built
  // Declared before the connections: their timers unlink from it on free.
  std::unique_ptr<TimerWheel> wheel_;
  std::unordered_map<const inpcb::Inpcb*, std::unique_ptr<Connection>> conns_;
  std::unordered_map<const inpcb::Inpcb*, Listener> listeners_;
  std::vector<Connection*> events_;  // connections with queued events
  std::vector<Connection*> batch_;   // the events being delivered
  std::vector<Connection*> dead_;    // finished, to free once events are out
};

}  // namespace netisr::tcp
