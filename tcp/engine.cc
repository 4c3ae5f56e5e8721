// The engine's segment processing follows RFC 9293 3.10.7 ("SEGMENT
// ARRIVES") step by step; the comments name the step or the RFC that adds a
// rule. See engine.h for the design and docs/tcp.md for the state diagram.
#include "tcp/engine.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <random>
#include <string>

#include "tcp/internal/seq.h"

namespace netisr::tcp {

using internal::SeqGeq;
using internal::SeqGt;
using internal::SeqInWindow;
using internal::SeqLeq;
using internal::SeqLt;
using internal::SeqMax;
using internal::SeqMin;

namespace {

constexpr uint32_t kMaxWindow = 65535;
// SYN cookie MSS values (3 bits); the largest <= the peer's MSS is encoded.
constexpr uint16_t kCookieMss[8] = {536, 1200, 1360, 1400, 1440, 1460, 4312, 8960};
constexpr Micros kCookiePeriod = 64 * kSecond;  // a cookie is valid 64-128 s

std::string Range(const char* what, uint64_t v, uint64_t lo, uint64_t hi) {
  return std::string(what) + " " + std::to_string(v) + " out of range [" + std::to_string(lo) +
         ", " + std::to_string(hi) + "]";
}

}  // namespace

const char* ToString(State s) {
  switch (s) {
    case State::kClosed:
      return "CLOSED";
    case State::kListen:
      return "LISTEN";
    case State::kSynSent:
      return "SYN_SENT";
    case State::kSynReceived:
      return "SYN_RECEIVED";
    case State::kEstablished:
      return "ESTABLISHED";
    case State::kFinWait1:
      return "FIN_WAIT_1";
    case State::kFinWait2:
      return "FIN_WAIT_2";
    case State::kCloseWait:
      return "CLOSE_WAIT";
    case State::kClosing:
      return "CLOSING";
    case State::kLastAck:
      return "LAST_ACK";
    case State::kTimeWait:
      return "TIME_WAIT";
  }
  return "?";
}

const char* ToString(Error e) {
  switch (e) {
    case Error::kNone:
      return "none";
    case Error::kReset:
      return "reset";
    case Error::kRefused:
      return "refused";
    case Error::kTimedOut:
      return "timed_out";
    case Error::kAborted:
      return "aborted";
  }
  return "?";
}

Status Validate(const Settings& s) {
  auto bad = [](std::string m) { return Status(ErrorCode::kInvalidArgument, std::move(m)); };
  if (s.mss < 88 || s.mss > 65495) return bad(Range("mss", s.mss, 88, 65495));
  const uint64_t gib = 1ull << 30;
  if (s.send_buffer < 4u * s.mss || s.send_buffer > gib) {
    return bad(Range("send_buffer", s.send_buffer, 4u * s.mss, gib));
  }
  if (s.recv_buffer < 4u * s.mss || s.recv_buffer > gib) {
    return bad(Range("recv_buffer", s.recv_buffer, 4u * s.mss, gib));
  }
  if (s.rto_min < kMillisecond || s.rto_min > kSecond) {
    return bad(Range("rto_min (us)", s.rto_min, kMillisecond, kSecond));
  }
  if (s.rto_max < s.rto_min || s.rto_max > 120 * kSecond) {
    return bad(Range("rto_max (us)", s.rto_max, s.rto_min, 120 * kSecond));
  }
  if (s.rto_initial < s.rto_min || s.rto_initial > s.rto_max) {
    return bad(Range("rto_initial (us)", s.rto_initial, s.rto_min, s.rto_max));
  }
  if (s.max_retransmits < 1 || s.max_retransmits > 30) {
    return bad(Range("max_retransmits", s.max_retransmits, 1, 30));
  }
  if (s.syn_retries < 1 || s.syn_retries > 30)
    return bad(Range("syn_retries", s.syn_retries, 1, 30));
  if (s.delayed_ack < kMillisecond || s.delayed_ack > 500 * kMillisecond) {
    return bad(Range("delayed_ack (us)", s.delayed_ack, kMillisecond, 500 * kMillisecond));
  }
  if (s.msl < kMillisecond || s.msl > 120 * kSecond) {
    return bad(Range("msl (us)", s.msl, kMillisecond, 120 * kSecond));
  }
  if (s.fin_wait_2_timeout < kMillisecond || s.fin_wait_2_timeout > 600 * kSecond) {
    return bad(Range("fin_wait_2_timeout (us)", s.fin_wait_2_timeout, kMillisecond, 600 * kSecond));
  }
  if (s.syn_backlog < 1 || s.syn_backlog > 65535)
    return bad(Range("syn_backlog", s.syn_backlog, 1, 65535));
  if (s.max_connections < 1 || s.max_connections > (1u << 24)) {
    return bad(Range("max_connections", s.max_connections, 1, 1u << 24));
  }
  if (s.challenge_ack_limit < 1 || s.challenge_ack_limit > 1000000) {
    return bad(Range("challenge_ack_limit", s.challenge_ack_limit, 1, 1000000));
  }
  if (s.max_ooo_ranges < 1 || s.max_ooo_ranges > 64) {
    return bad(Range("max_ooo_ranges", s.max_ooo_ranges, 1, 64));
  }
  if (s.cpus < 1 || s.cpus > 1024) return bad(Range("cpus", s.cpus, 1, 1024));
  if (s.cpu >= s.cpus) return bad(Range("cpu", s.cpu, 0, s.cpus - 1));
  if (s.flow_buckets < 1 || s.flow_buckets > 65536 || !std::has_single_bit(s.flow_buckets)) {
    return bad("flow_buckets " + std::to_string(s.flow_buckets) +
               " is not a power of two in [1, 65536]");
  }
  if (s.flow_buckets < s.cpus) {
    // CPUs past the bucket count get no flow (base/flow_bucket.h): Connect
    // on one of them could never find a port.
    return bad("flow_buckets " + std::to_string(s.flow_buckets) + " is fewer than the " +
               std::to_string(s.cpus) + " cpus");
  }
  if (s.ephemeral_first == 0 || s.ephemeral_first > s.ephemeral_last) {
    return bad("ephemeral port range " + std::to_string(s.ephemeral_first) + "-" +
               std::to_string(s.ephemeral_last) + " empty or starting at 0");
  }
  return Status::Ok();
}

// ---------------------------------------------------------------- Engine

Engine::Scope::~Scope() {
  if (--e_->depth_ == 0) {
    ++e_->depth_;  // callbacks re-entering the engine must not settle again
    e_->DeliverEvents();
    e_->Reap();
    --e_->depth_;
  }
}

Result<std::unique_ptr<Engine>> Engine::Create(const Settings& s, inpcb::ConnectionTable* table,
                                               Output* out, const Clock* clock) {
  if (Status st = Validate(s); !st.ok()) return st;
  if (table == nullptr || out == nullptr || clock == nullptr) {
    return Status(ErrorCode::kInvalidArgument, "engine needs a table, an output and a clock");
  }
  auto wheel = TimerWheel::Create(s.timer_tick, s.timer_slots, clock->Now());
  if (!wheel.ok()) return wheel.status();
  return std::unique_ptr<Engine>(new Engine(s, table, out, clock, std::move(wheel).value()));
}

Engine::Engine(const Settings& s, inpcb::ConnectionTable* table, Output* out, const Clock* clock,
               std::unique_ptr<TimerWheel> wheel)
    : s_(s),
      table_(table),
      out_(out),
      clock_(clock),
      scratch_(new uint8_t[65536]),
      wheel_(std::move(wheel)) {
  uint64_t secret = s.secret;
  if (secret == 0) {
    std::random_device rd;
    secret = (uint64_t{rd()} << 32) | rd();
  }
  key_.k0 = secret;
  key_.k1 = secret * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
  events_.reserve(64);
  batch_.reserve(64);
  dead_.reserve(64);
}

Engine::~Engine() {
  for (auto& [inp, c] : conns_) {
    c->rexmt_.Cancel();
    c->delack_.Cancel();
    c->tw_.Cancel();
    inpcb::LockedInpcb l = inpcb::InpcbRef(c->inp_).Lock();
    if (!l->removed()) (void)table_->Remove(l);
  }
  conns_.clear();
  for (auto& [inp, li] : listeners_) {
    if (li.attached) continue;
    inpcb::LockedInpcb l = inpcb::InpcbRef(li.inp).Lock();
    if (!l->removed()) (void)table_->Remove(l);
  }
  listeners_.clear();
}

uint16_t Engine::OurMss(inpcb::Family f) const {
  return f == inpcb::Family::kIPv4 ? s_.mss : static_cast<uint16_t>(s_.mss - 20);
}

void Engine::Drop(DropReason r) {
  ++stats_.drops[static_cast<size_t>(r)];
  verdict_ = true;
}

void Engine::Emit(const Segment& seg) {
  ++stats_.segments_out;
  if (seg.payload_len > 0) {
    ++stats_.data_segments_out;
    stats_.bytes_out += seg.payload_len;
  }
  out_->Send(seg);
}

// RFC 9293 3.10.7.1: the reset for a segment that has no connection.
void Engine::SendRst(const Segment& in, ResetCause cause) {
  if (in.has(flags::kRst)) return;
  Segment r;
  r.tuple = in.tuple;
  r.flowid = in.flowid;
  if (in.has(flags::kAck)) {
    r.seq = in.ack;
    r.flags = flags::kRst;
  } else {
    r.seq = 0;
    r.ack = in.seq + in.seg_len();
    r.flags = flags::kRst | flags::kAck;
  }
  ++stats_.resets[static_cast<size_t>(cause)];
  Emit(r);
}

// RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secret),
// M a 4-microsecond timer.
uint32_t Engine::Isn(const inpcb::FourTuple& t, uint32_t salt) {
  uint8_t b[40];
  std::memcpy(b, t.laddr.bytes.data(), 16);
  std::memcpy(b + 16, t.faddr.bytes.data(), 16);
  std::memcpy(b + 32, &t.lport, 2);
  std::memcpy(b + 34, &t.fport, 2);
  std::memcpy(b + 36, &salt, 4);
  return static_cast<uint32_t>(internal::SipHash24(key_, b, sizeof(b))) +
         static_cast<uint32_t>(now() / 4);
}

uint32_t Engine::CookieHash(const inpcb::FourTuple& t, uint32_t peer_isn, uint32_t count) {
  uint8_t b[44];
  std::memcpy(b, t.laddr.bytes.data(), 16);
  std::memcpy(b + 16, t.faddr.bytes.data(), 16);
  std::memcpy(b + 32, &t.lport, 2);
  std::memcpy(b + 34, &t.fport, 2);
  std::memcpy(b + 36, &peer_isn, 4);
  std::memcpy(b + 40, &count, 4);
  return static_cast<uint32_t>(internal::SipHash24(key_, b, sizeof(b)) >> 8) & 0xffffff;
}

// SYN cookie (a stateless SYN-ACK), as D. J. Bernstein's: the ISS carries
// a 5-bit time counter (64 s periods), a 3-bit MSS index and a 24-bit keyed
// hash of the tuple, the peer's ISN and the counter. Trade-off: no window
// scale, timestamps or SACK on a cookie connection (the SYN-ACK offers only
// MSS, so the peer uses none of them either); Linux encodes them in the
// timestamp instead.
void Engine::SendCookieSynAck(const Segment& syn) {
  const uint16_t peer_mss = syn.opt.has_mss ? syn.opt.mss : 536;
  uint32_t idx = 0;
  for (uint32_t i = 0; i < 8; ++i) {
    if (kCookieMss[i] <= peer_mss && kCookieMss[i] <= OurMss(syn.tuple.family)) idx = i;
  }
  const uint32_t count = static_cast<uint32_t>(now() / kCookiePeriod);
  const uint32_t iss = (count & 31) << 27 | idx << 24 | CookieHash(syn.tuple, syn.seq, count);
  Segment r;
  r.tuple = syn.tuple;
  r.flowid = syn.flowid;
  r.seq = iss;
  r.ack = syn.seq + 1;
  r.flags = flags::kSyn | flags::kAck;
  r.window = static_cast<uint16_t>(std::min<uint32_t>(s_.recv_buffer, kMaxWindow));
  r.opt.has_mss = true;
  r.opt.mss = OurMss(syn.tuple.family);
  ++stats_.syncookies_sent;
  Emit(r);
}

int Engine::CookieMss(const Segment& ack) {
  const uint32_t iss = ack.ack - 1;
  const uint32_t now_count = static_cast<uint32_t>(now() / kCookiePeriod);
  for (uint32_t age = 0; age < 2; ++age) {
    const uint32_t count = now_count - age;
    if ((count & 31) != iss >> 27) continue;
    if (CookieHash(ack.tuple, ack.seq - 1, count) == (iss & 0xffffff)) {
      return kCookieMss[(iss >> 24) & 7];
    }
  }
  return -1;
}

// RFC 5961 7: at most challenge_ack_limit challenge ACKs per second.
bool Engine::ChallengeAllowed() {
  const Micros t = now();
  if (t - challenge_epoch_ >= kSecond) {
    challenge_epoch_ = t;
    challenge_count_ = 0;
  }
  if (challenge_count_ >= s_.challenge_ack_limit) {
    ++stats_.challenge_acks_suppressed;
    return false;
  }
  ++challenge_count_;
  ++stats_.challenge_acks;
  return true;
}

void Engine::InputBytes(inpcb::Family family, const inpcb::IpAddr& src, const inpcb::IpAddr& dst,
                        const uint8_t* l4, size_t len, uint32_t flowid, bool verify_checksum) {
  Segment seg;
  seg.flowid = flowid;
  const DecodeError e = DecodeSegment(family, src, dst, l4, len, verify_checksum, &seg);
  if (e != DecodeError::kNone) {
    Scope scope(this);
    ++stats_.segments_in;
    Drop(e == DecodeError::kBadChecksum ? DropReason::kBadChecksum : DropReason::kMalformed);
    return;
  }
  Input(seg);
}

void Engine::Input(const Segment& seg) {
  Scope scope(this);
  ++stats_.segments_in;
  verdict_ = false;
  InputOne(seg);
  if (recycle_) {
    // A TIME_WAIT connection gave way to a new SYN (RFC 6191): free it now
    // (no lock held here), then give the SYN to the listener.
    recycle_ = false;
    Reap();
    InputOne(seg);
  }
  if (!verdict_) ++stats_.accepted;
}

void Engine::InputOne(const Segment& seg) {
  if (seg.has(flags::kSyn) && (seg.has(flags::kFin) || seg.has(flags::kRst))) {
    Drop(DropReason::kBadFlags);
    return;
  }
  // The global strategy's baseline (inpcb::InputSection): a segment with
  // SYN, FIN or RST, or one that finds a listener or a connection not
  // ESTABLISHED, is processed with the table's info lock held exclusively,
  // as FreeBSD 8-10's tcp_input did; such a segment that looked up under
  // the shared lock looks up again under the exclusive one (FreeBSD's
  // relock and retry). Other strategies hold nothing.
  inpcb::InputSection section;
  const bool serialise = table_->strategy() == inpcb::TableStrategy::kGlobal;
  if (serialise && seg.has(flags::kSyn | flags::kFin | flags::kRst)) section = table_->BeginInput();
  inpcb::LockedInpcb l = table_->Lookup(seg.tuple, seg.flowid, true);
  if (serialise && !section && l && ChangesState(l)) {
    l.reset();
    section = table_->BeginInput();
    l = table_->Lookup(seg.tuple, seg.flowid, true);
  }
  if (!l) {
    Drop(DropReason::kNoConnection);
    SendRst(seg, ResetCause::kNoConnection);
    return;
  }
  if (l->listener()) {
    auto it = listeners_.find(l.get());
    if (it == listeners_.end()) {
      Drop(DropReason::kNotOwner);
      return;
    }
    ListenInput(l, it->second, seg);
    return;
  }
  auto it = conns_.find(l.get());
  if (it == conns_.end() || it->second->finished_) {
    Drop(it == conns_.end() ? DropReason::kNotOwner : DropReason::kClosed);
    return;
  }
  l->CountSegmentIn(seg.payload_len);
  it->second->Input(seg);
}

bool Engine::ChangesState(const inpcb::LockedInpcb& l) const {
  if (l->listener()) return true;
  auto it = conns_.find(l.get());
  return it != conns_.end() && it->second->state_ != State::kEstablished;
}

Connection* Engine::NewConnection(const inpcb::FourTuple& t, uint32_t flowid,
                                  inpcb::LockedInpcb& l) {
  auto c = std::unique_ptr<Connection>(new Connection(this, t, flowid, std::move(l).Unlock()));
  Connection* raw = c.get();
  conns_.emplace(raw->inp_.get(), std::move(c));
  l = inpcb::InpcbRef(raw->inp_).Lock();  // processed under its lock, like any segment
  return raw;
}

Engine::Listener* Engine::FindListener(const inpcb::FourTuple& t) {
  for (auto& [inp, li] : listeners_) {
    if (li.tuple == t) return &li;
  }
  return nullptr;
}

// RFC 9293 3.10.7.2 (LISTEN), with SYN cookies past the backlog.
void Engine::ListenInput(inpcb::LockedInpcb& l, Listener& li, const Segment& seg) {
  if (seg.has(flags::kRst)) {
    Drop(DropReason::kListenRst);
    return;
  }
  if (seg.has(flags::kAck)) {
    const int mss = (!seg.has(flags::kSyn) && s_.syncookies) ? CookieMss(seg) : -1;
    if (mss < 0) {
      Drop(DropReason::kListenBadAck);
      SendRst(seg, ResetCause::kBadAck);
      return;
    }
    if (conns_.size() >= s_.max_connections) {
      Drop(DropReason::kConnectionLimit);
      return;
    }
    l.reset();  // table lock before inpcb lock: drop the listener's first
    auto ins = table_->Insert(seg.tuple, seg.flowid);
    if (!ins.ok()) {
      Drop(DropReason::kNotOwner);
      return;
    }
    Connection* c = NewConnection(seg.tuple, seg.flowid, ins.value());
    ++stats_.syncookies_accepted;
    c->passive_ = true;
    c->listener_ = li.tuple;
    c->irs_ = seg.seq - 1;
    c->rcv_nxt_ = seg.seq;
    c->iss_ = seg.ack - 1;
    c->snd_una_ = c->snd_nxt_ = c->snd_max_ = seg.ack;
    c->snd_buf_seq_ = seg.ack;
    c->recover_ = c->iss_;
    c->peer_mss_ = static_cast<uint16_t>(mss);
    c->smss_ = static_cast<uint16_t>(std::min<int>(mss, OurMss(seg.tuple.family)));
    c->rcv_mss_ = OurMss(seg.tuple.family);
    c->snd_wnd_ = c->max_snd_wnd_ = seg.window;
    c->snd_wl1_ = seg.seq;
    c->snd_wl2_ = seg.ack;
    c->rcv_adv_ = c->rcv_nxt_ + std::min<uint32_t>(s_.recv_buffer, kMaxWindow);
    c->last_ack_sent_ = c->rcv_nxt_;
    c->state_ = State::kSynReceived;
    ++li.syn_queue;  // Established() takes it back
    c->Established();
    c->Input(seg);  // its data, if any
    return;
  }
  if (!seg.has(flags::kSyn)) {
    Drop(DropReason::kListenNoSyn);
    return;
  }
  if (li.syn_queue >= s_.syn_backlog || conns_.size() >= s_.max_connections) {
    if (s_.syncookies) {
      SendCookieSynAck(seg);
      return;
    }
    Drop(li.syn_queue >= s_.syn_backlog ? DropReason::kSynQueueFull : DropReason::kConnectionLimit);
    return;
  }
  l.reset();
  auto ins = table_->Insert(seg.tuple, seg.flowid);
  if (!ins.ok()) {
    Drop(DropReason::kNotOwner);
    return;
  }
  Connection* c = NewConnection(seg.tuple, seg.flowid, ins.value());
  c->passive_ = true;
  c->listener_ = li.tuple;
  ++li.syn_queue;
  c->StartPassive(seg);
}

Status Engine::Listen(inpcb::Family family, const inpcb::IpAddr& laddr, uint16_t port,
                      AcceptFn accept) {
  Scope scope(this);
  const inpcb::FourTuple t = inpcb::FourTuple::Listener(family, laddr, port);
  auto ins = table_->Insert(t, 0);
  if (!ins.ok()) return ins.status();
  Listener li;
  li.tuple = t;
  li.accept = std::move(accept);
  li.inp = std::move(ins.value()).Unlock();
  const inpcb::Inpcb* key = li.inp.get();
  listeners_.emplace(key, std::move(li));
  return Status::Ok();
}

Status Engine::AttachListener(inpcb::Family family, const inpcb::IpAddr& laddr, uint16_t port,
                              AcceptFn accept) {
  Scope scope(this);
  const inpcb::FourTuple t = inpcb::FourTuple::Listener(family, laddr, port);
  // A listener tuple finds no connection, so the wildcard search returns
  // the listener on laddr:port (or on any:port, which is not this one).
  inpcb::InpcbRef inp = table_->LookupRef(t, 0, /*wildcard=*/true);
  if (!inp || !inp->listener() || !(inp->tuple() == t))
    return Status(ErrorCode::kNotFound, "no listener on " + inpcb::ToString(t));
  Listener li;
  li.tuple = t;
  li.accept = std::move(accept);
  li.inp = std::move(inp);
  li.attached = true;
  const inpcb::Inpcb* key = li.inp.get();
  listeners_.emplace(key, std::move(li));
  return Status::Ok();
}

Status Engine::Unlisten(inpcb::Family family, const inpcb::IpAddr& laddr, uint16_t port) {
  Scope scope(this);
  const inpcb::FourTuple t = inpcb::FourTuple::Listener(family, laddr, port);
  for (auto it = listeners_.begin(); it != listeners_.end(); ++it) {
    if (it->second.tuple == t) {
      if (it->second.attached) {
        listeners_.erase(it);
        return Status::Ok();
      }
      inpcb::LockedInpcb l = inpcb::InpcbRef(it->second.inp).Lock();
      Status st = l->removed() ? Status::Ok() : table_->Remove(l);
      l.reset();
      listeners_.erase(it);
      return st;
    }
  }
  return Status(ErrorCode::kNotFound, "no listener on " + inpcb::ToString(t));
}

uint32_t Engine::syn_queue(inpcb::Family family, const inpcb::IpAddr& laddr, uint16_t port) const {
  const inpcb::FourTuple t = inpcb::FourTuple::Listener(family, laddr, port);
  for (const auto& [inp, li] : listeners_) {
    if (li.tuple == t) return li.syn_queue;
  }
  return 0;
}

void Engine::ForEachConnection(const std::function<void(const Connection&)>& fn) const {
  for (const auto& [inp, c] : conns_) fn(*c);
}

Result<Connection*> Engine::Connect(const inpcb::FourTuple& t, Callbacks cb) {
  Scope scope(this);
  if (t.laddr.any() || t.faddr.any() || t.fport == 0) {
    return Status(
        ErrorCode::kInvalidArgument,
        "connect needs local and foreign addresses and a foreign port: " + inpcb::ToString(t));
  }
  if (conns_.size() >= s_.max_connections) {
    return Status(ErrorCode::kResourceExhausted,
                  "max_connections " + std::to_string(s_.max_connections) + " reached");
  }
  inpcb::FourTuple tuple = t;
  uint32_t flowid = InboundFlowId(tuple);
  Result<inpcb::LockedInpcb> ins = Status(ErrorCode::kResourceExhausted, "no ephemeral port");
  if (t.lport != 0) {
    const uint32_t cpu = inpcb::CpuOf(flowid, s_.cpus, s_.flow_buckets);
    if (cpu != s_.cpu) {
      return Status(ErrorCode::kInvalidArgument, "flow of " + inpcb::ToString(t) + " maps to cpu " +
                                                     std::to_string(cpu) + ", this engine is cpu " +
                                                     std::to_string(s_.cpu));
    }
    ins = table_->Insert(tuple, flowid);
  } else {
    // Start at a keyed offset so port choice is not predictable (RFC 6056).
    const uint32_t span = uint32_t{s_.ephemeral_last} - s_.ephemeral_first + 1;
    const uint32_t start = Isn(t, 0x5eed) % span;
    for (uint32_t i = 0; i < span; ++i) {
      tuple.lport = static_cast<uint16_t>(s_.ephemeral_first + (start + i) % span);
      flowid = InboundFlowId(tuple);
      if (inpcb::CpuOf(flowid, s_.cpus, s_.flow_buckets) != s_.cpu) continue;
      ins = table_->Insert(tuple, flowid);
      if (ins.ok() || ins.status().code() != ErrorCode::kAlreadyExists) break;
    }
  }
  if (!ins.ok()) return ins.status();
  Connection* c = NewConnection(tuple, flowid, ins.value());
  c->cb_ = std::move(cb);
  c->StartActive();
  ++stats_.active_opens;
  return c;
}

void Engine::RunTimers() {
  Scope scope(this);
  wheel_->Advance(now());
}

void Engine::DeliverEvents() {
  // batch_ and events_ swap buffers, so neither allocates once warmed up.
  std::vector<Connection*>& batch = batch_;
  while (!events_.empty()) {
    batch.swap(events_);
    for (Connection* c : batch) {
      const uint8_t ev = c->events_;
      c->events_ = 0;
      c->queued_ = false;
      if (ev & Connection::kEvAccept) {
        Listener* li = FindListener(c->listener_);
        if (li != nullptr && li->accept) {
          li->accept(*c);
        } else if (li == nullptr) {
          c->Abort();  // the listener went away meanwhile
        }
      }
      if ((ev & Connection::kEvConnected) && c->cb_.on_connected) c->cb_.on_connected(*c);
      if ((ev & Connection::kEvReadable) && c->cb_.on_readable) c->cb_.on_readable(*c);
      if ((ev & Connection::kEvPeerClosed) && c->cb_.on_peer_closed) c->cb_.on_peer_closed(*c);
      if ((ev & Connection::kEvWritable) && c->cb_.on_writable) c->cb_.on_writable(*c);
      if (ev & Connection::kEvWindowUpdate) c->MaybeSendWindowUpdate();
      if (ev & Connection::kEvClosed) {
        if (c->cb_.on_closed) c->cb_.on_closed(*c, c->error_);
        c->cb_ = Callbacks{};
      }
    }
    batch.clear();
  }
}

void Engine::Reap() {
  size_t keep = 0;
  for (size_t i = 0; i < dead_.size(); ++i) {
    Connection* c = dead_[i];
    if (c->queued_) {
      dead_[keep++] = c;  // its on_closed is still to be delivered
      continue;
    }
    const inpcb::Inpcb* key = c->inp_.get();
    {
      inpcb::LockedInpcb l = inpcb::InpcbRef(c->inp_).Lock();
      if (!l->removed()) (void)table_->Remove(l);
    }
    conns_.erase(key);
    ++stats_.closed;
  }
  dead_.resize(keep);
}

}  // namespace netisr::tcp
