// Connection: one TCP connection's state machine (RFC 9293 3.10), its
// output, retransmission and timers. Runs on its engine's thread only; see
// engine.h for the design.
#include <algorithm>
#include <cstring>

#include "tcp/engine.h"
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

constexpr uint32_t kTsOptionLen = 12;
constexpr uint8_t kMaxWscale = 14;
constexpr uint32_t kMaxWindow = 65535;
// ssthresh before any loss: "arbitrarily high" (RFC 5681 3.1).
constexpr uint32_t kInfiniteSsthresh = 0x7fffffff;

uint8_t ShiftFor(uint32_t buffer) {
  uint8_t s = 0;
  while (s < kMaxWscale && (buffer >> s) > kMaxWindow) ++s;
  return s;
}

// RFC 5681 3.1 initial window.
uint32_t InitialWindow(uint32_t smss) {
  if (smss > 2190) return 2 * smss;
  if (smss > 1095) return 3 * smss;
  return 4 * smss;
}

}  // namespace

Connection::Connection(Engine* e, const inpcb::FourTuple& t, uint32_t flowid, inpcb::InpcbRef inp)
    : engine_(e), tuple_(t), flowid_(flowid), inp_(std::move(inp)) {
  rexmt_.Bind(&Connection::OnRexmt, this);
  delack_.Bind(&Connection::OnDelack, this);
  tw_.Bind(&Connection::OnTimeWait, this);
  rto_ = e->s_.rto_initial;
  ts_offset_ = e->Isn(t, 0x7157);
  rcv_mss_ = e->OurMss(t.family);
}

// ------------------------------------------------------------------ opens

void Connection::StartActive() {
  const Settings& s = engine_->s_;
  sndbuf_ = internal::ByteRing(s.send_buffer);
  rcvbuf_ = internal::ByteRing(s.recv_buffer);
  ooo_.reserve(s.max_ooo_ranges + 1);
  iss_ = engine_->Isn(tuple_, 0);
  snd_una_ = iss_;
  snd_nxt_ = snd_max_ = iss_ + 1;
  snd_buf_seq_ = iss_ + 1;
  recover_ = iss_;
  rcv_wscale_ = s.window_scaling ? ShiftFor(s.recv_buffer) : 0;
  state_ = State::kSynSent;
  rtt_timing_ = true;
  rtt_start_ = engine_->now();
  SendSyn();
  ArmRexmt();
}

void Connection::StartPassive(const Segment& syn) {
  const Settings& s = engine_->s_;
  irs_ = syn.seq;
  rcv_nxt_ = syn.seq + 1;
  peer_mss_ = syn.opt.has_mss ? syn.opt.mss : 536;
  ws_ok_ = s.window_scaling && syn.opt.has_wscale;
  snd_wscale_ = ws_ok_ ? std::min(syn.opt.wscale, kMaxWscale) : 0;
  rcv_wscale_ = ws_ok_ ? ShiftFor(s.recv_buffer) : 0;
  ts_ok_ = s.timestamps && syn.opt.has_ts;
  ts_recent_ = syn.opt.ts_val;
  sack_ok_ = s.sack && syn.opt.sack_permitted;
  smss_ = static_cast<uint16_t>(std::min(peer_mss_, engine_->OurMss(tuple_.family)) -
                                (ts_ok_ ? kTsOptionLen : 0));
  rcv_mss_ = static_cast<uint16_t>(engine_->OurMss(tuple_.family) - (ts_ok_ ? kTsOptionLen : 0));
  snd_wnd_ = max_snd_wnd_ = syn.window;  // never scaled on a SYN (RFC 7323 2.2)
  snd_wl1_ = syn.seq;
  iss_ = engine_->Isn(tuple_, 0);
  snd_una_ = iss_;
  snd_nxt_ = snd_max_ = iss_ + 1;
  snd_buf_seq_ = iss_ + 1;
  snd_wl2_ = iss_;
  recover_ = iss_;
  state_ = State::kSynReceived;
  rtt_timing_ = true;
  rtt_start_ = engine_->now();
  SendSyn();
  ArmRexmt();
}

void Connection::SendSyn() {
  const Settings& s = engine_->s_;
  Segment seg;
  seg.tuple = tuple_;
  seg.flowid = flowid_;
  seg.seq = iss_;
  seg.flags = flags::kSyn;
  if (state_ == State::kSynReceived) {
    seg.flags |= flags::kAck;
    seg.ack = rcv_nxt_;
  }
  const bool active = state_ == State::kSynSent;
  const uint32_t wnd = std::min<uint32_t>(RecvWindow(), kMaxWindow);
  seg.window = static_cast<uint16_t>(wnd);
  seg.opt.has_mss = true;
  seg.opt.mss = engine_->OurMss(tuple_.family);
  if (active ? s.window_scaling : ws_ok_) {
    seg.opt.has_wscale = true;
    seg.opt.wscale = rcv_wscale_;
  }
  seg.opt.sack_permitted = active ? s.sack : sack_ok_;
  if (active ? s.timestamps : ts_ok_) {
    seg.opt.has_ts = true;
    seg.opt.ts_val = static_cast<uint32_t>(engine_->now() / kMillisecond) + ts_offset_;
    seg.opt.ts_ecr = active ? 0 : ts_recent_;
  }
  if (!active) {
    rcv_adv_ = rcv_nxt_ + wnd;
    last_ack_sent_ = rcv_nxt_;
  }
  engine_->Emit(seg);
}

void Connection::Established() {
  const Settings& s = engine_->s_;
  if (sndbuf_.capacity() == 0) sndbuf_ = internal::ByteRing(s.send_buffer);
  if (rcvbuf_.capacity() == 0) rcvbuf_ = internal::ByteRing(s.recv_buffer);
  ooo_.reserve(s.max_ooo_ranges + 1);
  cwnd_ = InitialWindow(smss_);
  ssthresh_ = kInfiniteSsthresh;
  inp_->set_state(inpcb::ConnState::kEstablished);
  const bool was_syn_rcvd = state_ == State::kSynReceived;
  state_ = fin_queued_ ? State::kFinWait1 : State::kEstablished;
  if (passive_ && was_syn_rcvd) {
    if (Engine::Listener* li = engine_->FindListener(listener_)) --li->syn_queue;
    ++engine_->stats_.passive_opens;
    Queue(kEvAccept);
  }
}

// ------------------------------------------------------------------ input

void Connection::InputSynSent(const Segment& seg) {
  Engine& e = *engine_;
  const Settings& s = e.s_;
  const bool ack_ok = seg.has(flags::kAck) && SeqGt(seg.ack, iss_) && SeqLeq(seg.ack, snd_max_);
  if (seg.has(flags::kAck) && !ack_ok) {
    e.Drop(DropReason::kSynSentBadAck);
    e.SendRst(seg, ResetCause::kBadAck);
    return;
  }
  if (seg.has(flags::kRst)) {
    if (!ack_ok) {
      e.Drop(DropReason::kSynSentBadRst);
      return;
    }
    ++e.stats_.resets[static_cast<size_t>(ResetCause::kPeerRefused)];
    Finish(Error::kRefused);
    return;
  }
  if (!seg.has(flags::kSyn)) {
    e.Drop(DropReason::kSynSentNoSyn);
    return;
  }
  irs_ = seg.seq;
  rcv_nxt_ = seg.seq + 1;
  peer_mss_ = seg.opt.has_mss ? seg.opt.mss : 536;
  ws_ok_ = s.window_scaling && seg.opt.has_wscale;
  snd_wscale_ = ws_ok_ ? std::min(seg.opt.wscale, kMaxWscale) : 0;
  if (!ws_ok_) rcv_wscale_ = 0;
  ts_ok_ = s.timestamps && seg.opt.has_ts;
  ts_recent_ = seg.opt.ts_val;
  sack_ok_ = s.sack && seg.opt.sack_permitted;
  smss_ = static_cast<uint16_t>(std::min(peer_mss_, e.OurMss(tuple_.family)) -
                                (ts_ok_ ? kTsOptionLen : 0));
  rcv_mss_ = static_cast<uint16_t>(e.OurMss(tuple_.family) - (ts_ok_ ? kTsOptionLen : 0));
  snd_wnd_ = max_snd_wnd_ = seg.window;
  snd_wl1_ = seg.seq;
  snd_wl2_ = seg.ack;
  rcv_adv_ = rcv_nxt_ + std::min<uint32_t>(RecvWindow(), kMaxWindow);
  if (ack_ok) {
    snd_una_ = seg.ack;
    if (rtt_timing_ && rexmt_count_ == 0) RttSample(e.now() - rtt_start_);  // Karn
    rtt_timing_ = false;
    rexmt_count_ = 0;
    rexmt_.Cancel();
    Established();
    Queue(kEvConnected);
    ack_now_ = true;
    Output();
    return;
  }
  // Simultaneous open (RFC 9293 3.5, figure 8): SYN_RECEIVED, SYN-ACK.
  state_ = State::kSynReceived;
  SendSyn();
}

void Connection::Input(const Segment& seg) {
  Engine& e = *engine_;
  if (state_ == State::kSynSent) {
    InputSynSent(seg);
    return;
  }
  // A retransmitted SYN while our SYN-ACK is unanswered: answer it again.
  if (state_ == State::kSynReceived && seg.has(flags::kSyn) && !seg.has(flags::kAck) &&
      seg.seq == irs_) {
    ++e.stats_.retransmits;
    SendSyn();
    return;
  }
  // RFC 6191: a SYN newer than what TIME_WAIT remembers may reopen the pair.
  if (state_ == State::kTimeWait && seg.has(flags::kSyn) && !seg.has(flags::kAck) &&
      ((ts_ok_ && seg.opt.has_ts && SeqGt(seg.opt.ts_val, ts_recent_)) ||
       (!(ts_ok_ && seg.opt.has_ts) && SeqGt(seg.seq, rcv_nxt_)))) {
    ++e.stats_.time_wait_recycled;
    Finish(Error::kNone);
    e.recycle_ = true;
    return;
  }
  // RFC 7323 5.3 R1 (PAWS): an older timestamp than TS.Recent is a stale
  // duplicate from an earlier incarnation of the sequence space.
  if (ts_ok_ && seg.opt.has_ts && !seg.has(flags::kRst) && SeqLt(seg.opt.ts_val, ts_recent_)) {
    // Except a pure ACK that acknowledges nothing new (its ACK at most
    // MAX.SND.WND behind SND.UNA, its sequence at most a receive buffer
    // behind RCV.NXT; accepted, it would count at most as a duplicate
    // ACK): a host that sends from two CPUs (Linux: data from the writer,
    // ACKs from softirq; a veth queues each CPU's frames apart) delivers
    // such an ACK behind its own later segment that moved TS.Recent on,
    // which supersedes it.
    // Dropped under its own reason and not answered: PAWS's ACK would reach
    // the peer as a duplicate ACK. (Linux accepts the narrower case at
    // RCV.NXT with SND.UNA and the same window, tcp_disordered_ack.)
    if (IsStalePureAck(seg)) {
      e.Drop(DropReason::kStaleAck);
      return;
    }
    e.Drop(DropReason::kPaws);
    e.stats_.last_paws = {.valid = true,
                          .at_us = e.now(),
                          .state = static_cast<uint8_t>(state_),
                          .lport = seg.tuple.lport,
                          .fport = seg.tuple.fport,
                          .flags = seg.flags,
                          .seq = seg.seq,
                          .ack = seg.ack,
                          .payload_len = seg.payload_len,
                          .ts_val = seg.opt.ts_val,
                          .ts_recent = ts_recent_,
                          .rcv_nxt = rcv_nxt_,
                          .snd_una = snd_una_};
    SendAck();
    return;
  }
  // First: sequence number acceptability (RFC 9293 3.10.7.4, four cases).
  const uint32_t wnd = SeqGt(rcv_adv_, rcv_nxt_) ? rcv_adv_ - rcv_nxt_ : 0;
  const uint32_t len = seg.seg_len();
  bool ok;
  if (len == 0) {
    ok = wnd == 0 ? seg.seq == rcv_nxt_ : SeqInWindow(seg.seq, rcv_nxt_, rcv_nxt_ + wnd);
  } else {
    ok = wnd > 0 && (SeqInWindow(seg.seq, rcv_nxt_, rcv_nxt_ + wnd) ||
                     SeqInWindow(seg.seq + len - 1, rcv_nxt_, rcv_nxt_ + wnd));
  }
  // A bare FIN (or RST) at RCV.NXT needs no room: accept it at a zero
  // window too, or a peer could not close while we do not read.
  if (!ok && wnd == 0 && seg.payload_len == 0 && seg.seq == rcv_nxt_) ok = true;
  if (!ok) {
    if (seg.has(flags::kRst)) {  // RFC 5961 3.2: out of window, silently
      e.Drop(DropReason::kRstOutOfWindow);
      return;
    }
    if (wnd == 0 && seg.seq == rcv_nxt_ && seg.has(flags::kAck) && !seg.has(flags::kSyn)) {
      // A zero-window probe: its data has no room, its ACK still counts.
      e.Drop(DropReason::kZeroWindow);
      Segment ack_only = seg;
      ack_only.payload_len = 0;
      ack_only.flags = static_cast<uint8_t>(seg.flags & ~flags::kFin);
      ProcessAck(ack_only);
      if (finished_) return;
      SendAck();
      Output();
      return;
    }
    if (SeqLeq(seg.seq + len, rcv_nxt_)) {
      e.Drop(DropReason::kDuplicate);
      // A retransmitted FIN in TIME_WAIT: ACK it and restart 2 MSL.
      if (state_ == State::kTimeWait && seg.has(flags::kFin)) {
        e.wheel_->Schedule(tw_, e.now() + 2 * e.s_.msl);
      }
      // Its ACK field is still news (BSD and Linux use it too): when both
      // ends retransmit, each one's retransmissions carry the only ACKs of
      // the other's data. Found by LossySeedTest (seed 10): RFC 9293's
      // plain drop left both sides retransmitting into timeouts.
      if (seg.has(flags::kAck) && !seg.has(flags::kSyn)) {
        Segment ack_only = seg;
        ack_only.payload_len = 0;
        ack_only.flags = static_cast<uint8_t>(seg.flags & ~flags::kFin);
        ProcessAck(ack_only);
        if (finished_) return;
        SendAck();
        Output();
        return;
      }
    } else {
      e.Drop(DropReason::kOutOfWindow);
    }
    SendAck();
    return;
  }
  // Second: RST (RFC 5961 3.2: only an exact RCV.NXT match resets).
  if (seg.has(flags::kRst)) {
    if (seg.seq != rcv_nxt_) {
      e.Drop(DropReason::kRstChallenge);
      ChallengeAck();
      return;
    }
    if (state_ == State::kTimeWait) {
      return;  // RFC 1337: TIME_WAIT ignores RSTs (no assassination)
    }
    const ResetCause cause =
        state_ == State::kSynReceived ? ResetCause::kPeerResetSynRcvd : ResetCause::kPeerReset;
    ++e.stats_.resets[static_cast<size_t>(cause)];
    Finish(Error::kReset);
    return;
  }
  // Fourth: SYN in a synchronized state (RFC 5961 4.2): challenge ACK.
  if (seg.has(flags::kSyn)) {
    e.Drop(DropReason::kSynChallenge);
    ChallengeAck();
    return;
  }
  // Fifth: ACK.
  if (!ProcessAck(seg)) return;
  if (finished_) return;
  // Trim to the window: bytes before RCV.NXT and beyond the right edge.
  uint32_t seq = seg.seq;
  const uint8_t* data = seg.payload;
  uint32_t dlen = seg.payload_len;
  bool fin = seg.has(flags::kFin);
  if (SeqLt(seq, rcv_nxt_)) {
    const uint32_t cut = std::min(rcv_nxt_ - seq, dlen);
    data += cut;
    dlen -= cut;
    seq += cut;
    if (SeqLt(seq, rcv_nxt_)) fin = false;  // the FIN itself was old
  }
  if (dlen > 0 && SeqGt(seq + dlen, rcv_nxt_ + wnd)) {
    dlen = rcv_nxt_ + wnd - seq;
    fin = false;
  }
  // RFC 7323 4.3: TS.Recent follows the segment that covers Last.ACK.sent.
  if (ts_ok_ && seg.opt.has_ts && SeqLeq(seg.seq, last_ack_sent_)) ts_recent_ = seg.opt.ts_val;
  // Seventh/eighth: text and FIN.
  if (dlen > 0 || fin) {
    if (state_ == State::kEstablished || state_ == State::kFinWait1 || state_ == State::kFinWait2) {
      ProcessData(seg, seq, data, dlen, fin);
    } else {
      e.Drop(DropReason::kDataAfterFin);
      ack_now_ = true;
    }
  }
  if (finished_) return;
  Output();
}

bool Connection::IsStalePureAck(const Segment& seg) const {
  // The lower bounds: nothing the peer sent before a segment we accepted
  // can be further behind (RFC 5961 5.2's for the ACK); anything further
  // is PAWS's old duplicate, answered.
  return seg.has(flags::kAck) && !seg.has(flags::kSyn | flags::kFin | flags::kRst) &&
         seg.payload_len == 0 && SeqLeq(seg.seq, rcv_nxt_) &&
         SeqGeq(seg.seq, rcv_nxt_ - static_cast<uint32_t>(rcvbuf_.capacity())) &&
         SeqLeq(seg.ack, snd_una_) && SeqGeq(seg.ack, snd_una_ - max_snd_wnd_);
}

bool Connection::ProcessAck(const Segment& seg) {
  Engine& e = *engine_;
  if (!seg.has(flags::kAck)) {
    e.Drop(DropReason::kNoAck);
    return false;
  }
  if (state_ == State::kSynReceived) {
    if (SeqLeq(seg.ack, snd_una_) || SeqGt(seg.ack, snd_max_)) {
      e.Drop(DropReason::kSynRcvdBadAck);
      e.SendRst(seg, ResetCause::kBadAck);
      return false;
    }
    if (rtt_timing_ && rexmt_count_ == 0) RttSample(e.now() - rtt_start_);
    rtt_timing_ = false;
    rexmt_count_ = 0;
    rexmt_.Cancel();
    snd_una_ = seg.ack;
    snd_wnd_ = static_cast<uint32_t>(seg.window) << snd_wscale_;
    max_snd_wnd_ = std::max(max_snd_wnd_, snd_wnd_);
    snd_wl1_ = seg.seq;
    snd_wl2_ = seg.ack;
    Established();
    return true;
  }
  // RFC 5961 5.2: SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.NXT.
  if (SeqGt(seg.ack, snd_max_)) {
    e.Drop(DropReason::kAckTooNew);
    ChallengeAck();
    return false;
  }
  if (SeqLt(seg.ack, snd_una_ - max_snd_wnd_)) {
    e.Drop(DropReason::kAckTooOld);
    ChallengeAck();
    return false;
  }
  const uint32_t new_wnd = static_cast<uint32_t>(seg.window) << snd_wscale_;
  if (SeqGt(seg.ack, snd_una_)) {
    NewAck(seg, seg.ack - snd_una_);
  } else if (seg.ack == snd_una_ && seg.payload_len == 0 && !seg.has(flags::kSyn | flags::kFin) &&
             snd_max_ != snd_una_ && new_wnd == snd_wnd_ && !persist_) {
    DupAck();  // RFC 5681 2, "duplicate acknowledgment"
  }
  // Send window update (RFC 9293 3.10.7.4, SND.WL1/SND.WL2 rule).
  if (SeqLt(snd_wl1_, seg.seq) || (snd_wl1_ == seg.seq && SeqLeq(snd_wl2_, seg.ack))) {
    snd_wnd_ = new_wnd;
    snd_wl1_ = seg.seq;
    snd_wl2_ = seg.ack;
    max_snd_wnd_ = std::max(max_snd_wnd_, snd_wnd_);
  }
  if (fin_acked_) OurFinAcked();
  return true;
}

void Connection::NewAck(const Segment& seg, uint32_t acked) {
  Engine& e = *engine_;
  if (rtt_timing_ && SeqGt(seg.ack, rtt_seq_)) {
    RttSample(e.now() - rtt_start_);
    rtt_timing_ = false;
  }
  rexmt_count_ = 0;
  // Drop the acknowledged bytes (and note our FIN's acknowledgment).
  uint32_t n = acked;
  if (SeqLt(snd_una_, snd_buf_seq_)) --n;  // our SYN
  const uint32_t data = std::min<uint32_t>(n, static_cast<uint32_t>(sndbuf_.size()));
  sndbuf_.Consume(data);
  snd_buf_seq_ += data;
  n -= data;
  if (n > 0 && fin_queued_ && !fin_acked_) fin_acked_ = true;
  snd_una_ = seg.ack;
  if (SeqLt(snd_nxt_, snd_una_)) snd_nxt_ = snd_una_;
  const uint32_t flight = snd_max_ - snd_una_;
  // Congestion control.
  if (in_recovery_) {
    if (SeqGeq(seg.ack, recover_)) {
      // Full acknowledgment (RFC 6582 3.2 step 3): deflate.
      cwnd_ = std::min(ssthresh_, std::max(flight, uint32_t{smss_}) + smss_);
      in_recovery_ = false;
      dupacks_ = 0;
    } else {
      // Partial acknowledgment (step 4): retransmit the next hole, deflate
      // by what was acked, add back one SMSS.
      Retransmit();
      cwnd_ = cwnd_ > acked ? cwnd_ - acked : 0;
      if (acked >= smss_) cwnd_ += smss_;
      cwnd_ = std::max(cwnd_, uint32_t{smss_});
    }
  } else {
    dupacks_ = 0;
    if (cwnd_ < ssthresh_) {
      cwnd_ += std::min<uint32_t>(acked, smss_);  // slow start (RFC 5681 3.1, L = 1 SMSS)
    } else {
      cwnd_ += std::max<uint32_t>(1, uint32_t{smss_} * smss_ / std::max<uint32_t>(cwnd_, 1));
    }
  }
  // RFC 6298 5.2/5.3: all acknowledged -> stop the timer, else restart it.
  if (!persist_) {
    if (snd_una_ == snd_max_) {
      rexmt_.Cancel();
    } else {
      ArmRexmt();
    }
  }
  if (data > 0) Queue(kEvWritable);
}

void Connection::DupAck() {
  Engine& e = *engine_;
  ++dupacks_;
  if (dupacks_ == 3 && !in_recovery_) {
    // RFC 6582 3.2 step 2: only if the ACK covers more than `recover`.
    if (!SeqGt(snd_una_, recover_)) return;
    const uint32_t flight = snd_max_ - snd_una_;
    ssthresh_ = std::max(flight / 2, 2u * smss_);
    recover_ = snd_max_;
    in_recovery_ = true;
    ++e.stats_.fast_retransmits;
    Retransmit();
    cwnd_ = ssthresh_ + 3u * smss_;
  } else if (dupacks_ > 3 && in_recovery_) {
    cwnd_ += smss_;  // inflation: a segment has left the network
  }
}

void Connection::OurFinAcked() {
  switch (state_) {
    case State::kFinWait1:
      state_ = State::kFinWait2;
      engine_->wheel_->Schedule(tw_, engine_->now() + engine_->s_.fin_wait_2_timeout);
      break;
    case State::kClosing:
      EnterTimeWait();
      break;
    case State::kLastAck:
      Finish(Error::kNone);
      break;
    default:
      break;
  }
}

void Connection::ProcessData(const Segment& seg, uint32_t seq, const uint8_t* data, uint32_t len,
                             bool fin) {
  Engine& e = *engine_;
  (void)seg;
  if (len > 0) {
    if (seq == rcv_nxt_) {
      rcvbuf_.WriteAt(rcvbuf_.size(), data, len);
      rcvbuf_.Grow(len);
      rcv_nxt_ += len;
      bool filled = false;
      while (!ooo_.empty() && SeqLeq(ooo_.front().left, rcv_nxt_)) {
        if (SeqGt(ooo_.front().right, rcv_nxt_)) {
          rcvbuf_.Grow(ooo_.front().right - rcv_nxt_);
          rcv_nxt_ = ooo_.front().right;
        }
        ooo_.erase(ooo_.begin());
        filled = true;
      }
      Queue(kEvReadable);
      // RFC 5681 4.2: ACK at once when a hole fills; else at least every
      // second full-sized segment (RFC 1122 4.2.3.2), else after the timer.
      if (filled || !ooo_.empty() || rcv_nxt_ - last_ack_sent_ >= 2u * rcv_mss_) {
        ack_now_ = true;
      } else if (!delack_.armed()) {
        e.wheel_->Schedule(delack_, e.now() + e.s_.delayed_ack);
      }
    } else {
      // Out of order: into the ring at its offset; the ranges say what is held.
      const uint32_t a = seq, b = seq + len;
      size_t i = 0;
      while (i < ooo_.size() && SeqLt(ooo_[i].right, a)) ++i;
      size_t j = i;
      uint32_t na = a, nb = b;
      while (j < ooo_.size() && SeqLeq(ooo_[j].left, b)) {
        na = SeqMin(na, ooo_[j].left);
        nb = SeqMax(nb, ooo_[j].right);
        ++j;
      }
      if (ooo_.size() - (j - i) + 1 > e.s_.max_ooo_ranges) {
        e.Drop(DropReason::kOooLimit);
        ack_now_ = true;
        return;
      }
      rcvbuf_.WriteAt(rcvbuf_.size() + (seq - rcv_nxt_), data, len);
      ooo_.erase(ooo_.begin() + static_cast<ptrdiff_t>(i),
                 ooo_.begin() + static_cast<ptrdiff_t>(j));
      ooo_.insert(ooo_.begin() + static_cast<ptrdiff_t>(i), Range{na, nb});
      last_ooo_seq_ = seq;
      ack_now_ = true;  // RFC 5681 4.2: a duplicate ACK at once (with SACK)
    }
  }
  if (fin) {
    const uint32_t fseq = seq + len;
    if (fseq == rcv_nxt_) {
      PeerFin();
    } else {
      fin_pending_ = true;
      fin_seq_ = fseq;
    }
  }
  if (fin_pending_ && !peer_fin_ && rcv_nxt_ == fin_seq_) PeerFin();
}

void Connection::PeerFin() {
  ++rcv_nxt_;
  peer_fin_ = true;
  fin_pending_ = false;
  ack_now_ = true;
  Queue(kEvReadable | kEvPeerClosed);
  switch (state_) {
    case State::kSynReceived:
    case State::kEstablished:
      state_ = State::kCloseWait;
      break;
    case State::kFinWait1:
      state_ = State::kClosing;  // our FIN not yet acknowledged
      break;
    case State::kFinWait2:
      EnterTimeWait();
      break;
    default:
      break;
  }
}

void Connection::EnterTimeWait() {
  Engine& e = *engine_;
  state_ = State::kTimeWait;
  rexmt_.Cancel();
  delack_.Cancel();
  e.wheel_->Schedule(tw_, e.now() + 2 * e.s_.msl);
  if (!closed_notified_) {
    closed_notified_ = true;
    Queue(kEvClosed);
  }
}

// ----------------------------------------------------------------- output

uint32_t Connection::RecvWindow() const {
  if (rcvbuf_.capacity() == 0) return engine_->s_.recv_buffer;
  return static_cast<uint32_t>(rcvbuf_.free());
}

uint32_t Connection::data_end() const {
  return snd_buf_seq_ + static_cast<uint32_t>(sndbuf_.size());
}

void Connection::SendSegment(uint32_t seq, uint32_t len, uint8_t fl) {
  Engine& e = *engine_;
  Segment seg;
  seg.tuple = tuple_;
  seg.flowid = flowid_;
  seg.seq = seq;
  seg.ack = rcv_nxt_;
  seg.flags = fl | flags::kAck;
  if (fl & flags::kRst) seg.flags = fl;
  const uint32_t field = std::min<uint32_t>(RecvWindow() >> rcv_wscale_, kMaxWindow);
  seg.window = static_cast<uint16_t>(field);
  const uint32_t edge = rcv_nxt_ + (field << rcv_wscale_);
  if (SeqGt(edge, rcv_adv_)) rcv_adv_ = edge;
  if (ts_ok_) {
    seg.opt.has_ts = true;
    seg.opt.ts_val = static_cast<uint32_t>(e.now() / kMillisecond) + ts_offset_;
    seg.opt.ts_ecr = ts_recent_;
  }
  if (sack_ok_ && !ooo_.empty()) {
    // RFC 2018 4: the first block holds the most recently received segment,
    // then the others (here in sequence order).
    size_t first = 0;
    for (size_t i = 0; i < ooo_.size(); ++i) {
      if (SeqInWindow(last_ooo_seq_, ooo_[i].left, ooo_[i].right)) first = i;
    }
    seg.opt.sack[seg.opt.sack_count++] = {ooo_[first].left, ooo_[first].right};
    for (size_t i = 0; i < ooo_.size() && seg.opt.sack_count < 4; ++i) {
      if (i != first) seg.opt.sack[seg.opt.sack_count++] = {ooo_[i].left, ooo_[i].right};
    }
  }
  if (len > 0) {
    sndbuf_.CopyOut(seq - snd_buf_seq_, e.scratch_.get(), len);
    seg.payload = e.scratch_.get();
    seg.payload_len = len;
  }
  if ((len > 0 || (fl & flags::kFin)) && SeqLt(seq, snd_max_)) ++e.stats_.retransmits;
  if (seg.has(flags::kAck)) {
    last_ack_sent_ = rcv_nxt_;
    ack_now_ = false;
    delack_.Cancel();
  }
  e.Emit(seg);
}

void Connection::ChallengeAck() {
  if (engine_->ChallengeAllowed()) SendAck();
}

void Connection::Retransmit() {
  const uint32_t end = data_end();
  const uint32_t avail = SeqLt(snd_una_, end) ? end - snd_una_ : 0;
  const uint32_t len = std::min<uint32_t>(avail, smss_);
  const bool fin = fin_queued_ && snd_una_ + len == end && SeqGt(snd_max_, end);
  rtt_timing_ = false;  // Karn: never time a retransmitted segment
  SendSegment(snd_una_, len,
              static_cast<uint8_t>((len > 0 ? flags::kPsh : 0) | (fin ? flags::kFin : 0)));
}

void Connection::Output() {
  Engine& e = *engine_;
  switch (state_) {
    case State::kEstablished:
    case State::kFinWait1:
    case State::kCloseWait:
    case State::kClosing:
    case State::kLastAck:
    case State::kFinWait2:
      break;
    case State::kTimeWait:
      if (ack_now_) SendAck();
      return;
    default:
      return;
  }
  bool sent = false;
  for (;;) {
    const uint32_t end = data_end();
    const uint32_t unsent = SeqLt(snd_nxt_, end) ? end - snd_nxt_ : 0;
    const uint32_t flight = snd_nxt_ - snd_una_;
    const uint32_t wnd = std::min(snd_wnd_, cwnd_);
    const uint32_t usable = wnd > flight ? wnd - flight : 0;
    uint32_t len = std::min({unsent, usable, uint32_t{smss_}});
    // Sender SWS avoidance (RFC 9293 3.8.6.2.1), without Nagle: send a full
    // segment, everything queued, or at least half the largest window seen.
    if (len > 0 && len < smss_ && len < unsent && len < max_snd_wnd_ / 2) len = 0;
    const bool fin = fin_queued_ && snd_nxt_ + len == end;
    if (len == 0 && !fin) break;
    const uint32_t seq = snd_nxt_;
    if (!rtt_timing_ && len > 0 && seq == snd_max_) {
      rtt_timing_ = true;
      rtt_seq_ = seq;
      rtt_start_ = e.now();
    }
    SendSegment(seq, len,
                static_cast<uint8_t>((len > 0 && len == unsent ? flags::kPsh : 0) |
                                     (fin ? flags::kFin : 0)));
    snd_nxt_ = seq + len + (fin ? 1 : 0);
    if (SeqGt(snd_nxt_, snd_max_)) snd_max_ = snd_nxt_;
    sent = true;
    if (!rexmt_.armed() || persist_) {
      persist_ = false;
      persist_shift_ = 0;
      ArmRexmt();
    }
    if (fin) break;
  }
  if (ack_now_) SendAck();
  // Persist (RFC 9293 3.8.6.1): data waits, nothing in flight, no timer ->
  // probe the window when the persist timer fires.
  const uint32_t end = data_end();
  if (!sent && !rexmt_.armed() && SeqLt(snd_nxt_, end) && snd_nxt_ == snd_una_) {
    persist_ = true;
    const Micros t = std::min(e.s_.rto_max, std::max(rto_, e.s_.rto_min) << persist_shift_);
    e.wheel_->Schedule(rexmt_, e.now() + t);
  }
}

// ----------------------------------------------------------------- timers

void Connection::ArmRexmt() { engine_->wheel_->Schedule(rexmt_, engine_->now() + rto_); }

// RFC 6298 2.2/2.3, in microseconds; G = the timer tick.
void Connection::RttSample(Micros r) {
  const Settings& s = engine_->s_;
  if (!have_rtt_) {
    srtt_ = r;
    rttvar_ = r / 2;
    have_rtt_ = true;
  } else {
    const Micros delta = srtt_ > r ? srtt_ - r : r - srtt_;
    rttvar_ = (3 * rttvar_ + delta) / 4;
    srtt_ = (7 * srtt_ + r) / 8;
  }
  rto_ = std::clamp(srtt_ + std::max(s.timer_tick, 4 * rttvar_), s.rto_min, s.rto_max);
}

void Connection::OnRexmt(Timer*, void* arg) {
  auto* c = static_cast<Connection*>(arg);
  Engine& e = *c->engine_;
  const Settings& s = e.s_;
  if (c->finished_) return;
  inpcb::LockedInpcb l = inpcb::InpcbRef(c->inp_).Lock();
  if (c->state_ == State::kSynSent || c->state_ == State::kSynReceived) {
    if (++c->rexmt_count_ > s.syn_retries) {
      c->Finish(Error::kTimedOut);
      return;
    }
    c->rto_ = std::min(c->rto_ * 2, s.rto_max);
    ++e.stats_.retransmits;
    c->SendSyn();
    c->ArmRexmt();
    return;
  }
  if (c->persist_) {
    ++e.stats_.persist_probes;
    const uint32_t end = c->data_end();
    if (c->snd_nxt_ == c->snd_una_ && SeqLt(c->snd_nxt_, end)) {
      c->SendSegment(c->snd_nxt_, 1, flags::kAck);  // one byte past the window
      ++c->snd_nxt_;
      if (SeqGt(c->snd_nxt_, c->snd_max_)) c->snd_max_ = c->snd_nxt_;
    } else if (c->snd_nxt_ != c->snd_una_) {
      c->SendSegment(c->snd_una_, 1, flags::kAck);  // the probe byte again
    } else {
      c->persist_ = false;  // nothing left to probe for
      return;
    }
    if (c->persist_shift_ < 16) ++c->persist_shift_;
    const Micros t = std::min(s.rto_max, std::max(c->rto_, s.rto_min) << c->persist_shift_);
    e.wheel_->Schedule(c->rexmt_, e.now() + t);
    return;
  }
  if (c->snd_una_ == c->snd_max_) return;  // nothing outstanding (stale)
  if (++c->rexmt_count_ > s.max_retransmits) {
    c->SendSegment(c->snd_nxt_, 0, flags::kRst | flags::kAck);
    ++e.stats_.resets[static_cast<size_t>(ResetCause::kTimeout)];
    c->Finish(Error::kTimedOut);
    return;
  }
  ++e.stats_.rto_timeouts;
  // RFC 5681 (4): ssthresh = max(FlightSize / 2, 2 SMSS), cwnd = 1 SMSS;
  // RFC 6582 4: recover = the highest sequence sent; RFC 6298 5.5: back off.
  const uint32_t flight = c->snd_max_ - c->snd_una_;
  c->ssthresh_ = std::max(flight / 2, 2u * c->smss_);
  c->cwnd_ = c->smss_;
  c->recover_ = c->snd_max_;
  c->in_recovery_ = false;
  c->dupacks_ = 0;
  c->rto_ = std::min(c->rto_ * 2, s.rto_max);
  c->rtt_timing_ = false;
  c->snd_nxt_ = c->snd_una_;  // go back N
  c->Output();
  if (!c->rexmt_.armed()) c->ArmRexmt();
}

void Connection::OnDelack(Timer*, void* arg) {
  auto* c = static_cast<Connection*>(arg);
  if (c->finished_) return;
  inpcb::LockedInpcb l = inpcb::InpcbRef(c->inp_).Lock();
  ++c->engine_->stats_.delayed_acks;
  c->SendAck();
}

void Connection::OnTimeWait(Timer*, void* arg) {
  auto* c = static_cast<Connection*>(arg);
  if (c->finished_) return;
  inpcb::LockedInpcb l = inpcb::InpcbRef(c->inp_).Lock();
  c->Finish(Error::kNone);  // end of 2 MSL, or FIN_WAIT_2 gave up
}

// ------------------------------------------------------------ application

size_t Connection::send_space() const {
  if (fin_queued_ || finished_) return 0;
  switch (state_) {
    case State::kSynSent:
    case State::kSynReceived:
    case State::kEstablished:
    case State::kCloseWait:
      return sndbuf_.free();
    default:
      return 0;
  }
}

size_t Connection::Send(const uint8_t* data, size_t len) {
  Engine::Scope scope(engine_);
  if (send_space() == 0) return 0;
  const size_t n = sndbuf_.Append(data, len);
  Output();
  return n;
}

size_t Connection::readable() const { return rcvbuf_.size(); }

size_t Connection::Read(uint8_t* out, size_t len) {
  Engine::Scope scope(engine_);
  const size_t n = std::min(len, rcvbuf_.size());
  if (n == 0) return 0;
  rcvbuf_.CopyOut(0, out, n);
  rcvbuf_.Consume(n);
  // Not at once: an application that reads in a callback usually sends
  // next (an echo), and that data carries the window. BSD likewise
  // announces it from tcp_output after the read. Sending it here cost one
  // pure ACK per Read against Linux (1287 per 6292 echoed segments).
  Queue(kEvWindowUpdate);
  return n;
}

// Receiver SWS avoidance (RFC 9293 3.8.6.2.2): announce the opened window
// once it has grown by min(buffer / 2, 2 MSS) beyond what was advertised
// last (rcv_adv_, which every segment sent moves), as BSD does.
void Connection::MaybeSendWindowUpdate() {
  if (finished_ || state_ == State::kTimeWait) return;
  const uint32_t adv = SeqGt(rcv_adv_, rcv_nxt_) ? rcv_adv_ - rcv_nxt_ : 0;
  const uint32_t now_wnd = std::min<uint32_t>(RecvWindow(), kMaxWindow << rcv_wscale_);
  if (now_wnd > adv && now_wnd - adv >= std::min<uint32_t>(rcvbuf_.capacity() / 2, 2u * rcv_mss_)) {
    SendAck();
  }
}

void Connection::Close() {
  Engine::Scope scope(engine_);
  switch (state_) {
    case State::kSynSent:
      Finish(Error::kNone);
      break;
    case State::kSynReceived:
      fin_queued_ = true;  // the FIN follows the handshake (Established)
      break;
    case State::kEstablished:
      fin_queued_ = true;
      state_ = State::kFinWait1;
      Output();
      break;
    case State::kCloseWait:
      fin_queued_ = true;
      state_ = State::kLastAck;
      Output();
      break;
    default:
      break;
  }
}

void Connection::Abort() {
  Engine::Scope scope(engine_);
  if (finished_) return;
  if (state_ != State::kSynSent && state_ != State::kTimeWait) {
    SendSegment(snd_nxt_, 0, flags::kRst | flags::kAck);
    ++engine_->stats_.resets[static_cast<size_t>(ResetCause::kAbort)];
  }
  Finish(Error::kAborted);
}

void Connection::Queue(uint8_t ev) {
  events_ |= ev;
  if (!queued_) {
    queued_ = true;
    engine_->events_.push_back(this);
  }
}

void Connection::Finish(Error err) {
  if (finished_) return;
  finished_ = true;
  rexmt_.Cancel();
  delack_.Cancel();
  tw_.Cancel();
  if (passive_ && state_ == State::kSynReceived) {
    if (Engine::Listener* li = engine_->FindListener(listener_)) --li->syn_queue;
  }
  state_ = State::kClosed;
  if (!closed_notified_) {
    closed_notified_ = true;
    error_ = err;
    // A half-open passive connection was never announced: no callback.
    if (!(passive_ && !cb_.on_closed && (events_ & kEvAccept) == 0)) Queue(kEvClosed);
  }
  engine_->dead_.push_back(this);
}

}  // namespace netisr::tcp
