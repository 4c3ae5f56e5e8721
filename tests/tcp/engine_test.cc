// Crafted segments against one engine, one behaviour per test, over the
// four connection-table strategies. The scripted peer is 10.0.0.2; the
// engine listens on 10.0.0.1:80 or connects from it. Virtual time only.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/tcp/tcp_test_util.h"

namespace netisr::tcp::testing {
namespace {

const IpAddr kLocal = IpAddr::V4(Ip4(10, 0, 0, 1));
const IpAddr kRemote = IpAddr::V4(Ip4(10, 0, 0, 2));
constexpr uint32_t kPeerIss = 0xfffff000;  // wraps during the tests

// What the application saw on one connection.
struct Recorder {
  Connection* conn = nullptr;
  std::string data;
  bool auto_read = true;
  int readable = 0;
  int connected = 0;
  bool peer_closed = false;
  bool closed = false;
  Error error = Error::kNone;
  Callbacks Make() {
    Callbacks cb;
    cb.on_connected = [this](Connection&) { ++connected; };
    cb.on_readable = [this](Connection& c) {
      ++readable;
      if (!auto_read) return;
      uint8_t buf[4096];
      while (size_t n = c.Read(buf, sizeof(buf))) data.append(reinterpret_cast<char*>(buf), n);
    };
    cb.on_peer_closed = [this](Connection&) { peer_closed = true; };
    cb.on_closed = [this](Connection&, Error e) {
      closed = true;
      error = e;
      conn = nullptr;
    };
    return cb;
  }
};

class EngineTest : public ::testing::TestWithParam<TableStrategy> {
 protected:
  Host& H() {
    if (!host_) host_ = std::make_unique<Host>(GetParam(), settings_, &clock_);
    return *host_;
  }
  Engine& E() { return *H().engine; }
  void TearDown() override {
    if (host_) host_->ExpectConservation();
  }
  std::vector<Segment> Out() { return H().out.Take(); }
  void Advance(Micros d) {
    clock_.Advance(d);
    E().RunTimers();
  }
  // Advances to the next timer and fires it; returns the time advanced.
  Micros NextTimer() {
    auto t = E().NextTimer();
    EXPECT_TRUE(t.has_value());
    const Micros d = *t > clock_.Now() ? *t - clock_.Now() : 0;
    clock_.Set(std::max(*t, clock_.Now()));
    E().RunTimers();
    return d;
  }
  void Listen() {
    ASSERT_TRUE(E().Listen(Family::kIPv4, kLocal, 80,
                           [this](Connection& c) {
                             rec_.conn = &c;
                             c.set_callbacks(rec_.Make());
                           })
                    .ok());
  }
  // Passive open from the peer with `syn_opt`; returns our ISS. The peer's
  // handshake ACK comes `rtt` after our SYN-ACK.
  uint32_t Establish(Peer& p, Options syn_opt = {}, uint16_t window = 65535,
                     Micros rtt = 50 * kMillisecond) {
    Listen();
    Segment syn = p.Make(kPeerIss, 0, flags::kSyn, 65535);
    syn.opt = syn_opt;
    p.Send(syn);
    auto out = Out();
    EXPECT_EQ(out.size(), 1u);
    if (out.empty()) return 0;
    EXPECT_EQ(out[0].flags, flags::kSyn | flags::kAck);
    EXPECT_EQ(out[0].ack, kPeerIss + 1);
    const uint32_t iss = out[0].seq;
    clock_.Advance(rtt);
    Segment ack = p.Make(kPeerIss + 1, iss + 1, flags::kAck, window);
    if (syn_opt.has_ts) {
      ack.opt.has_ts = true;
      ack.opt.ts_val = syn_opt.ts_val + 1;
      ack.opt.ts_ecr = out[0].opt.ts_val;
    }
    p.Send(ack);
    EXPECT_NE(rec_.conn, nullptr);
    EXPECT_TRUE(Out().empty());
    return iss;
  }
  // Establish with timestamps (the peer's TSval 1000), then the peer's
  // "new" (3 bytes at kPeerIss + 1, TSval 1005) moves TS.Recent to 1005.
  uint32_t EstablishAndMoveTsRecent(Peer& p) {
    Options o;
    o.has_ts = true;
    o.ts_val = 1000;
    const uint32_t iss = Establish(p, o);
    Segment d = p.Make(kPeerIss + 1, iss + 1, flags::kAck, 65535, "new");
    d.opt.has_ts = true;
    d.opt.ts_val = 1005;
    p.Send(d);
    return iss;
  }
  Peer MakePeer(uint16_t fport = 40000) {
    return Peer(&E(), FourTuple::V4(Ip4(10, 0, 0, 1), 80, Ip4(10, 0, 0, 2), fport));
  }
  size_t TableConnections() { return H().table->Counts().connections; }

  ManualClock clock_{1000 * kSecond};
  Settings settings_ = TestSettings();
  std::unique_ptr<Host> host_;
  Recorder rec_;
};

TEST_P(EngineTest, PassiveOpenNegotiatesMssWindowScaleSackTimestamps) {
  Listen();
  Peer p = MakePeer();
  Segment syn = p.Make(kPeerIss, 0, flags::kSyn, 65535);
  syn.opt.has_mss = true;
  syn.opt.mss = 1400;
  syn.opt.has_wscale = true;
  syn.opt.wscale = 7;
  syn.opt.sack_permitted = true;
  syn.opt.has_ts = true;
  syn.opt.ts_val = 777;
  p.Send(syn);
  auto out = Out();
  ASSERT_EQ(out.size(), 1u);
  const Segment& sa = out[0];
  EXPECT_EQ(sa.flags, flags::kSyn | flags::kAck);
  EXPECT_EQ(sa.ack, kPeerIss + 1);
  EXPECT_TRUE(sa.opt.has_mss);
  EXPECT_EQ(sa.opt.mss, 1460);
  EXPECT_TRUE(sa.opt.has_wscale);
  EXPECT_EQ(sa.opt.wscale, 3);  // 256 KiB >> 3 fits 16 bits
  EXPECT_TRUE(sa.opt.sack_permitted);
  EXPECT_TRUE(sa.opt.has_ts);
  EXPECT_EQ(sa.opt.ts_ecr, 777u);
  EXPECT_EQ(sa.window, 65535);  // a SYN's window is never scaled
  EXPECT_EQ(E().syn_queue(Family::kIPv4, kLocal, 80), 1u);
  EXPECT_EQ(TableConnections(), 1u);
  EXPECT_EQ(rec_.conn, nullptr);  // not accepted before the handshake ends

  Segment ack = p.Make(kPeerIss + 1, sa.seq + 1, flags::kAck, 1000);
  ack.opt.has_ts = true;
  ack.opt.ts_val = 778;
  ack.opt.ts_ecr = sa.opt.ts_val;
  p.Send(ack);
  ASSERT_NE(rec_.conn, nullptr);
  EXPECT_EQ(rec_.conn->state(), State::kEstablished);
  EXPECT_EQ(rec_.conn->send_mss(), 1400 - 12);  // timestamps take 12 bytes
  EXPECT_EQ(rec_.conn->send_wscale(), 7);
  EXPECT_EQ(rec_.conn->recv_wscale(), 3);
  EXPECT_EQ(rec_.conn->send_window(), 1000u << 7);
  EXPECT_TRUE(rec_.conn->timestamps());
  EXPECT_TRUE(rec_.conn->sack_permitted());
  EXPECT_EQ(E().syn_queue(Family::kIPv4, kLocal, 80), 0u);
  EXPECT_EQ(E().stats().passive_opens, 1u);
}

TEST_P(EngineTest, ActiveOpenSendsOptionsAndCompletesOnSynAck) {
  Recorder r;
  auto c = E().Connect(FourTuple::V4(Ip4(10, 0, 0, 1), 0, Ip4(10, 0, 0, 2), 7), r.Make());
  ASSERT_TRUE(c.ok()) << c.status().message();
  auto out = Out();
  ASSERT_EQ(out.size(), 1u);
  const Segment syn = out[0];  // a copy: `out` is reassigned below
  EXPECT_EQ(syn.flags, flags::kSyn);
  EXPECT_GE(syn.tuple.fport, settings_.ephemeral_first);  // receiver view: fport = our port
  EXPECT_TRUE(syn.opt.has_mss && syn.opt.has_wscale && syn.opt.sack_permitted && syn.opt.has_ts);
  EXPECT_EQ((*c)->state(), State::kSynSent);

  Peer p(&E(), (*c)->tuple());
  Segment sa = p.Make(5000, syn.seq + 1, flags::kSyn | flags::kAck, 8192);
  sa.opt.has_mss = true;
  sa.opt.mss = 1200;  // no window scale: neither side scales
  p.Send(sa);
  out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, flags::kAck);
  EXPECT_EQ(out[0].seq, syn.seq + 1);
  EXPECT_EQ(out[0].ack, 5001u);
  EXPECT_FALSE(out[0].opt.has_ts);
  EXPECT_EQ(r.connected, 1);
  EXPECT_EQ((*c)->state(), State::kEstablished);
  EXPECT_EQ((*c)->send_mss(), 1200);
  EXPECT_EQ((*c)->send_wscale(), 0);
  EXPECT_EQ((*c)->recv_wscale(), 0);
  EXPECT_EQ((*c)->send_window(), 8192u);
}

TEST_P(EngineTest, ActiveOpenRefusedByReset) {
  Recorder r;
  auto c = E().Connect(FourTuple::V4(Ip4(10, 0, 0, 1), 0, Ip4(10, 0, 0, 2), 7), r.Make());
  ASSERT_TRUE(c.ok());
  const uint32_t iss = Out()[0].seq;
  Peer p(&E(), (*c)->tuple());
  p.Send(p.Make(0, iss + 7, flags::kRst | flags::kAck));  // unacceptable ACK: ignored
  EXPECT_EQ(E().stats().drop(DropReason::kSynSentBadAck), 1u);
  EXPECT_FALSE(r.closed);
  p.Send(p.Make(0, iss + 1, flags::kRst | flags::kAck));
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.error, Error::kRefused);
  EXPECT_EQ(E().stats().reset(ResetCause::kPeerRefused), 1u);
  EXPECT_EQ(E().connections(), 0u);
  EXPECT_EQ(TableConnections(), 0u);
}

TEST_P(EngineTest, SynRetransmittedWithBackoffThenTimesOut) {
  settings_.syn_retries = 2;
  Recorder r;
  auto c = E().Connect(FourTuple::V4(Ip4(10, 0, 0, 1), 0, Ip4(10, 0, 0, 2), 7), r.Make());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(Out().size(), 1u);
  EXPECT_EQ(NextTimer(), 1 * kSecond);  // RFC 6298 2.1 initial RTO
  EXPECT_EQ(Out()[0].flags, flags::kSyn);
  EXPECT_EQ(NextTimer(), 2 * kSecond);
  EXPECT_EQ(Out()[0].flags, flags::kSyn);
  EXPECT_EQ(NextTimer(), 4 * kSecond);
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.error, Error::kTimedOut);
  EXPECT_EQ(E().connections(), 0u);
}

TEST_P(EngineTest, DataIsAckedEverySecondFullSegmentOrByTheDelayedAckTimer) {
  Peer p = MakePeer();
  const uint32_t iss = Establish(p);
  const std::string seg(1460, 'x');
  uint32_t seq = kPeerIss + 1;
  p.Send(p.Make(seq, iss + 1, flags::kAck, 65535, seg));
  seq += 1460;
  EXPECT_TRUE(Out().empty());  // delayed
  Advance(39 * kMillisecond);
  EXPECT_TRUE(Out().empty());
  Advance(1 * kMillisecond);  // 40 ms
  auto out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].ack, seq);
  EXPECT_EQ(E().stats().delayed_acks, 1u);
  p.Send(p.Make(seq, iss + 1, flags::kAck, 65535, seg));
  seq += 1460;
  EXPECT_TRUE(Out().empty());
  p.Send(p.Make(seq, iss + 1, flags::kAck, 65535, seg));
  seq += 1460;
  out = Out();
  ASSERT_EQ(out.size(), 1u);  // second full segment: at once
  EXPECT_EQ(out[0].ack, seq);
  EXPECT_EQ(rec_.data.size(), 3u * 1460);
}

TEST_P(EngineTest, OutOfOrderSegmentsAreSackedAndReassembled) {
  Peer p = MakePeer();
  Options o;
  o.sack_permitted = true;
  const uint32_t iss = Establish(p, o);
  const uint32_t s = kPeerIss + 1;
  const std::string a(100, 'a'), b(100, 'b'), c(100, 'c'), d(100, 'd'), e(100, 'e');
  p.Send(p.Make(s + 200, iss + 1, flags::kAck, 65535, c));
  auto out = Out();
  ASSERT_EQ(out.size(), 1u);  // immediate duplicate ACK
  EXPECT_EQ(out[0].ack, s);
  ASSERT_EQ(out[0].opt.sack_count, 1);
  EXPECT_EQ(out[0].opt.sack[0].left, s + 200);
  EXPECT_EQ(out[0].opt.sack[0].right, s + 300);
  p.Send(p.Make(s + 400, iss + 1, flags::kAck, 65535, e));
  out = Out();
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].opt.sack_count, 2);
  EXPECT_EQ(out[0].opt.sack[0].left, s + 400);  // most recent first (RFC 2018 4)
  EXPECT_EQ(out[0].opt.sack[1].left, s + 200);
  p.Send(p.Make(s + 100, iss + 1, flags::kAck, 65535, b));  // merges with c
  out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].opt.sack[0].left, s + 100);
  EXPECT_EQ(out[0].opt.sack[0].right, s + 300);
  EXPECT_TRUE(rec_.data.empty());
  p.Send(p.Make(s, iss + 1, flags::kAck, 65535, a));  // fills the first hole
  out = Out();
  ASSERT_EQ(out.size(), 1u);  // hole filled: ACK at once
  EXPECT_EQ(out[0].ack, s + 300);
  ASSERT_EQ(out[0].opt.sack_count, 1);
  p.Send(p.Make(s + 300, iss + 1, flags::kAck, 65535, d));
  out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].ack, s + 500);
  EXPECT_EQ(out[0].opt.sack_count, 0);
  EXPECT_EQ(rec_.data, a + b + c + d + e);
}

TEST_P(EngineTest, ReassemblyHoldsAtMostMaxOooRanges) {
  settings_.max_ooo_ranges = 2;
  Peer p = MakePeer();
  const uint32_t iss = Establish(p);
  const uint32_t s = kPeerIss + 1;
  p.Send(p.Make(s + 100, iss + 1, flags::kAck, 65535, std::string(10, 'x')));
  p.Send(p.Make(s + 200, iss + 1, flags::kAck, 65535, std::string(10, 'y')));
  p.Send(p.Make(s + 300, iss + 1, flags::kAck, 65535, std::string(10, 'z')));
  EXPECT_EQ(E().stats().drop(DropReason::kOooLimit), 1u);
  p.Send(p.Make(s + 110, iss + 1, flags::kAck, 65535, std::string(10, 'w')));  // merges: fine
  EXPECT_EQ(E().stats().drop(DropReason::kOooLimit), 1u);
  Out();
}

TEST_P(EngineTest, DuplicateAndOutOfWindowSegmentsAreAckedAndDropped) {
  Peer p = MakePeer();
  const uint32_t iss = Establish(p);
  const uint32_t s = kPeerIss + 1;
  p.Send(p.Make(s, iss + 1, flags::kAck | flags::kPsh, 65535, "hello"));
  Advance(settings_.delayed_ack);
  Out();
  p.Send(p.Make(s, iss + 1, flags::kAck, 65535, "hello"));  // retransmitted
  EXPECT_EQ(E().stats().drop(DropReason::kDuplicate), 1u);
  auto out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].ack, s + 5);
  p.Send(p.Make(s + 5 + 70000, iss + 1, flags::kAck, 65535, "far"));  // beyond 65535
  EXPECT_EQ(E().stats().drop(DropReason::kOutOfWindow), 1u);
  EXPECT_EQ(Out().size(), 1u);
  EXPECT_EQ(rec_.data, "hello");
}

TEST_P(EngineTest, RetransmissionTimeoutBacksOffThenResets) {
  settings_.max_retransmits = 3;
  Peer p = MakePeer();
  const uint32_t iss = Establish(p);  // RTT 50 ms: RTO = max(200 ms, 50 + 4 x 25)
  Connection* c = rec_.conn;
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->rto(), 200 * kMillisecond);
  EXPECT_EQ(c->Send(reinterpret_cast<const uint8_t*>("data!"), 5), 5u);
  auto out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].seq, iss + 1);
  Micros expect = 200 * kMillisecond;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(NextTimer(), expect) << "retransmission " << i;
    out = Out();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].seq, iss + 1);
    EXPECT_EQ(out[0].payload_len, 5u);
    expect *= 2;
  }
  EXPECT_EQ(E().stats().rto_timeouts, 3u);
  EXPECT_EQ(c->cwnd(), c->send_mss());  // RFC 5681: one segment after a timeout
  EXPECT_EQ(NextTimer(), expect);
  out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].has(flags::kRst));
  EXPECT_TRUE(rec_.closed);
  EXPECT_EQ(rec_.error, Error::kTimedOut);
  EXPECT_EQ(E().stats().reset(ResetCause::kTimeout), 1u);
  EXPECT_EQ(TableConnections(), 0u);
}

TEST_P(EngineTest, KarnKeepsTheBackedOffRtoUntilAFreshSample) {
  Peer p = MakePeer();
  const uint32_t iss = Establish(p);
  Connection* c = rec_.conn;
  c->Send(reinterpret_cast<const uint8_t*>("a"), 1);
  Out();
  NextTimer();  // timeout: RTO 400 ms
  Out();
  EXPECT_EQ(c->rto(), 400 * kMillisecond);
  clock_.Advance(10 * kMillisecond);
  p.Send(p.Make(kPeerIss + 1, iss + 2, flags::kAck));  // acks the retransmission
  EXPECT_EQ(c->rto(), 400 * kMillisecond);             // ambiguous: no sample (Karn)
  c->Send(reinterpret_cast<const uint8_t*>("b"), 1);
  Out();
  clock_.Advance(10 * kMillisecond);
  p.Send(p.Make(kPeerIss + 1, iss + 3, flags::kAck));
  // srtt = (7 x 50 + 10) / 8 = 45, rttvar = (3 x 25 + 40) / 4 = 28.75 ->
  // 45 + 115 = 160 ms, clamped to rto_min.
  EXPECT_EQ(c->rto(), 200 * kMillisecond);
}

TEST_P(EngineTest, ThreeDuplicateAcksFastRetransmitAndNewRenoRecovers) {
  Peer p = MakePeer();
  Options o;
  o.has_mss = true;
  o.mss = 1460;
  const uint32_t iss = Establish(p, o);
  Connection* c = rec_.conn;
  const std::string big(20 * 1460, 'q');
  EXPECT_EQ(c->Send(reinterpret_cast<const uint8_t*>(big.data()), big.size()), big.size());
  auto out = Out();
  ASSERT_EQ(out.size(), 3u);  // initial window: 3 x 1460 (RFC 5681)
  uint32_t una = iss + 1;
  for (int i = 0; i < 3; ++i) {  // slow start: +1 SMSS per ACK
    una += 1460;
    p.Send(p.Make(kPeerIss + 1, una, flags::kAck));
  }
  out = Out();
  ASSERT_EQ(out.size(), 6u);
  EXPECT_EQ(c->cwnd(), 6u * 1460);
  const uint32_t lost = una;
  for (int i = 0; i < 3; ++i) p.Send(p.Make(kPeerIss + 1, lost, flags::kAck));
  out = Out();
  ASSERT_EQ(out.size(), 1u);  // fast retransmit of the first unacknowledged segment
  EXPECT_EQ(out[0].seq, lost);
  EXPECT_EQ(E().stats().fast_retransmits, 1u);
  EXPECT_EQ(c->ssthresh(), 3u * 1460);              // FlightSize / 2
  EXPECT_EQ(c->cwnd(), 6u * 1460);                  // ssthresh + 3 SMSS
  p.Send(p.Make(kPeerIss + 1, lost, flags::kAck));  // fourth: inflate, one new segment
  out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].seq, lost + 6 * 1460);
  // Partial ACK: the next hole is retransmitted at once (RFC 6582).
  p.Send(p.Make(kPeerIss + 1, lost + 2 * 1460, flags::kAck));
  out = Out();
  ASSERT_GE(out.size(), 1u);
  EXPECT_EQ(out[0].seq, lost + 2 * 1460);
  // Full ACK: recovery ends, cwnd deflates to ssthresh.
  p.Send(p.Make(kPeerIss + 1, lost + 7 * 1460, flags::kAck));
  EXPECT_LE(c->cwnd(), 3u * 1460 + 1460);
  EXPECT_EQ(E().stats().rto_timeouts, 0u);
  Out();
}

TEST_P(EngineTest, PassiveCloseGoesThroughCloseWaitAndLastAck) {
  Peer p = MakePeer();
  const uint32_t iss = Establish(p);
  Connection* c = rec_.conn;
  p.Send(p.Make(kPeerIss + 1, iss + 1, flags::kAck | flags::kFin, 65535, "bye"));
  auto out = Out();
  ASSERT_EQ(out.size(), 1u);  // FIN: ACK at once
  EXPECT_EQ(out[0].ack, kPeerIss + 1 + 3 + 1);
  EXPECT_EQ(c->state(), State::kCloseWait);
  EXPECT_TRUE(rec_.peer_closed);
  EXPECT_EQ(rec_.data, "bye");
  c->Send(reinterpret_cast<const uint8_t*>("ok"), 2);
  c->Close();
  out = Out();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[1].has(flags::kFin) || out[0].has(flags::kFin));
  EXPECT_EQ(c->state(), State::kLastAck);
  p.Send(p.Make(kPeerIss + 5, iss + 1 + 2 + 1, flags::kAck));
  EXPECT_TRUE(rec_.closed);
  EXPECT_EQ(rec_.error, Error::kNone);
  EXPECT_EQ(E().connections(), 0u);
  EXPECT_EQ(TableConnections(), 0u);
}

TEST_P(EngineTest, ActiveCloseWaitsTwoMslInTimeWait) {
  settings_.msl = 1 * kSecond;
  Peer p = MakePeer();
  const uint32_t iss = Establish(p);
  Connection* c = rec_.conn;
  c->Close();
  auto out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, flags::kFin | flags::kAck);
  EXPECT_EQ(c->state(), State::kFinWait1);
  p.Send(p.Make(kPeerIss + 1, iss + 2, flags::kAck));
  EXPECT_EQ(c->state(), State::kFinWait2);
  p.Send(p.Make(kPeerIss + 1, iss + 2, flags::kAck | flags::kFin));
  out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].ack, kPeerIss + 2);
  EXPECT_TRUE(rec_.closed);  // the application is done; the pair waits
  EXPECT_EQ(E().connections(), 1u);
  EXPECT_EQ(TableConnections(), 1u);
  Advance(1500 * kMillisecond);
  p.Send(p.Make(kPeerIss + 1, iss + 2, flags::kAck | flags::kFin));  // FIN again
  out = Out();
  ASSERT_EQ(out.size(), 1u);  // re-ACKed, 2 MSL restarts
  EXPECT_EQ(out[0].ack, kPeerIss + 2);
  Advance(1999 * kMillisecond);
  EXPECT_EQ(E().connections(), 1u);
  Advance(1 * kMillisecond);
  EXPECT_EQ(E().connections(), 0u);
  EXPECT_EQ(TableConnections(), 0u);
  // The pair is gone: the peer now gets a RST.
  p.Send(p.Make(kPeerIss + 2, iss + 2, flags::kAck));
  out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].has(flags::kRst));
}

TEST_P(EngineTest, SimultaneousCloseGoesThroughClosing) {
  settings_.msl = 1 * kSecond;
  Peer p = MakePeer();
  const uint32_t iss = Establish(p);
  Connection* c = rec_.conn;
  c->Close();
  Out();
  p.Send(p.Make(kPeerIss + 1, iss + 1, flags::kAck | flags::kFin));  // crosses our FIN
  EXPECT_EQ(c->state(), State::kClosing);
  EXPECT_EQ(Out().size(), 1u);
  p.Send(p.Make(kPeerIss + 2, iss + 2, flags::kAck));
  EXPECT_EQ(c->state(), State::kTimeWait);
  Advance(2 * kSecond);
  EXPECT_EQ(E().connections(), 0u);
}

TEST_P(EngineTest, FinWait2TimesOut) {
  settings_.fin_wait_2_timeout = 5 * kSecond;
  Peer p = MakePeer();
  const uint32_t iss = Establish(p);
  rec_.conn->Close();
  Out();
  p.Send(p.Make(kPeerIss + 1, iss + 2, flags::kAck));
  Advance(5 * kSecond);
  EXPECT_EQ(E().connections(), 0u);
  EXPECT_TRUE(rec_.closed);
}

TEST_P(EngineTest, ExactResetClosesInWindowResetGetsChallengeAck) {
  Peer p = MakePeer();
  const uint32_t iss = Establish(p);
  p.Send(p.Make(kPeerIss + 1 + 1000, 0, flags::kRst));  // in window, not exact
  auto out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, flags::kAck);
  EXPECT_EQ(out[0].seq, iss + 1);
  EXPECT_EQ(out[0].ack, kPeerIss + 1);
  EXPECT_EQ(E().stats().drop(DropReason::kRstChallenge), 1u);
  EXPECT_EQ(E().stats().challenge_acks, 1u);
  EXPECT_FALSE(rec_.closed);
  p.Send(p.Make(kPeerIss + 1 + 100000, 0, flags::kRst));  // out of window: silent
  EXPECT_TRUE(Out().empty());
  EXPECT_EQ(E().stats().drop(DropReason::kRstOutOfWindow), 1u);
  p.Send(p.Make(kPeerIss + 1, 0, flags::kRst));  // exact
  EXPECT_TRUE(Out().empty());
  EXPECT_TRUE(rec_.closed);
  EXPECT_EQ(rec_.error, Error::kReset);
  EXPECT_EQ(E().stats().reset(ResetCause::kPeerReset), 1u);
  EXPECT_EQ(TableConnections(), 0u);
}

TEST_P(EngineTest, SynOnEstablishedConnectionGetsChallengeAck) {
  Peer p = MakePeer();
  const uint32_t iss = Establish(p);
  p.Send(p.Make(kPeerIss + 500, 0, flags::kSyn));
  auto out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, flags::kAck);
  EXPECT_EQ(out[0].seq, iss + 1);
  EXPECT_EQ(E().stats().drop(DropReason::kSynChallenge), 1u);
  EXPECT_EQ(rec_.conn->state(), State::kEstablished);
}

TEST_P(EngineTest, ChallengeAcksAreRateLimited) {
  settings_.challenge_ack_limit = 2;
  Peer p = MakePeer();
  Establish(p);
  for (int i = 0; i < 5; ++i) p.Send(p.Make(kPeerIss + 100 + i, 0, flags::kRst));
  EXPECT_EQ(Out().size(), 2u);
  EXPECT_EQ(E().stats().challenge_acks_suppressed, 3u);
  Advance(1 * kSecond);
  p.Send(p.Make(kPeerIss + 100, 0, flags::kRst));
  EXPECT_EQ(Out().size(), 1u);
  EXPECT_EQ(E().stats().drop(DropReason::kRstChallenge), 6u);
}

TEST_P(EngineTest, AckOfUnsentDataIsDroppedAndAnswered) {
  Peer p = MakePeer();
  const uint32_t iss = Establish(p);
  p.Send(p.Make(kPeerIss + 1, iss + 1000, flags::kAck, 65535, "zz"));
  EXPECT_EQ(E().stats().drop(DropReason::kAckTooNew), 1u);
  EXPECT_EQ(Out().size(), 1u);
  EXPECT_TRUE(rec_.data.empty());                               // the segment is discarded whole
  p.Send(p.Make(kPeerIss + 1, iss + 1 - 200000, flags::kAck));  // below SND.UNA - MAX.SND.WND
  EXPECT_EQ(E().stats().drop(DropReason::kAckTooOld), 1u);
  Out();
}

TEST_P(EngineTest, SegmentForNoConnectionIsAnsweredWithReset) {
  Peer p = MakePeer(5555);
  p.Send(p.Make(100, 200, flags::kAck, 1000, "abc"));
  auto out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, flags::kRst);
  EXPECT_EQ(out[0].seq, 200u);
  p.Send(p.Make(100, 0, flags::kSyn));
  out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, flags::kRst | flags::kAck);
  EXPECT_EQ(out[0].ack, 101u);
  p.Send(p.Make(100, 0, flags::kRst));  // never answer a RST
  EXPECT_TRUE(Out().empty());
  EXPECT_EQ(E().stats().drop(DropReason::kNoConnection), 3u);
  EXPECT_EQ(E().stats().reset(ResetCause::kNoConnection), 2u);
  p.Send(p.Make(100, 0, flags::kSyn | flags::kFin));
  EXPECT_EQ(E().stats().drop(DropReason::kBadFlags), 1u);
}

TEST_P(EngineTest, BadChecksumAndMalformedHeadersAreCounted) {
  Peer p = MakePeer();
  Capture cap;
  Segment s = p.Make(1, 0, flags::kSyn);
  // Encode from the peer's side: swap to the sender's view.
  Segment tx = s;
  std::swap(tx.tuple.laddr, tx.tuple.faddr);
  std::swap(tx.tuple.lport, tx.tuple.fport);
  cap.Send(tx);
  Frame f = cap.frames[0];
  f.bytes[4] ^= 1;  // sequence number bit
  E().InputBytes(f.family, f.src, f.dst, f.bytes.data(), f.bytes.size(), 0);
  EXPECT_EQ(E().stats().drop(DropReason::kBadChecksum), 1u);
  f.bytes[12] = 0xf0;  // data offset 60 > 20 bytes
  E().InputBytes(f.family, f.src, f.dst, f.bytes.data(), f.bytes.size(), 0);
  EXPECT_EQ(E().stats().drop(DropReason::kMalformed), 1u);
  E().InputBytes(f.family, f.src, f.dst, f.bytes.data(), 10, 0);
  EXPECT_EQ(E().stats().drop(DropReason::kMalformed), 2u);
  EXPECT_TRUE(Out().empty());
}

TEST_P(EngineTest, PeerZeroWindowIsProbedWithBackoffUntilItOpens) {
  Peer p = MakePeer();
  const uint32_t iss = Establish(p, {}, /*window=*/0);
  Connection* c = rec_.conn;
  EXPECT_EQ(c->Send(reinterpret_cast<const uint8_t*>("0123456789"), 10), 10u);
  EXPECT_TRUE(Out().empty());  // nothing fits a zero window
  const Micros first = NextTimer();
  auto out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].seq, iss + 1);
  EXPECT_EQ(out[0].payload_len, 1u);                      // a one-byte probe
  p.Send(p.Make(kPeerIss + 1, iss + 1, flags::kAck, 0));  // still closed
  EXPECT_TRUE(Out().empty());
  const Micros second = NextTimer();
  EXPECT_GT(second, first);  // backed off
  out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].seq, iss + 1);  // the same byte again
  EXPECT_EQ(E().stats().persist_probes, 2u);
  EXPECT_EQ(E().stats().fast_retransmits, 0u);
  p.Send(p.Make(kPeerIss + 1, iss + 2, flags::kAck, 1000));  // takes the byte, opens
  out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].seq, iss + 2);
  EXPECT_EQ(out[0].payload_len, 9u);
}

TEST_P(EngineTest, OurZeroWindowDropsProbeDataAndReopensOnRead) {
  settings_.recv_buffer = 4 * 1460;
  Peer p = MakePeer();
  rec_.auto_read = false;
  const uint32_t iss = Establish(p);
  uint32_t seq = kPeerIss + 1;
  const std::string seg(1460, 'r');
  for (int i = 0; i < 4; ++i) {
    p.Send(p.Make(seq, iss + 1, flags::kAck, 65535, seg));
    seq += 1460;
  }
  auto out = Out();
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back().window, 0);
  EXPECT_EQ(out.back().ack, seq);
  p.Send(p.Make(seq, iss + 1, flags::kAck, 65535, "p"));  // a probe
  EXPECT_EQ(E().stats().drop(DropReason::kZeroWindow), 1u);
  out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].ack, seq);
  EXPECT_EQ(out[0].window, 0);
  std::string got(4 * 1460, '\0');
  EXPECT_EQ(rec_.conn->Read(reinterpret_cast<uint8_t*>(got.data()), got.size()), got.size());
  out = Out();
  ASSERT_EQ(out.size(), 1u);  // window update
  EXPECT_EQ(out[0].window, 4 * 1460);
}

// An echo reads and sends in one callback: the data it sends carries the
// opened window, so no pure window-update ACK goes out before it. Found
// against Linux: one extra pure ACK per Read (1287 per 6292 echoed segments,
// each a frame the worker builds and sends).
TEST_P(EngineTest, EchoedDataCarriesTheWindowUpdateWithoutASeparateAck) {
  settings_.recv_buffer = 16 * 1460;  // an unscaled window below 64 KiB
  Peer p = MakePeer();
  rec_.auto_read = false;
  Options o;
  o.has_mss = true;
  o.mss = 1460;
  const uint32_t iss = Establish(p, o);
  ASSERT_NE(rec_.conn, nullptr);
  uint32_t seq = kPeerIss + 1;
  const std::string seg(1460, 'e');
  // Two segments wait unread (the application was busy): ACKed, window
  // 14 x 1460.
  for (int i = 0; i < 2; ++i) {
    p.Send(p.Make(seq, iss + 1, flags::kAck, 65535, seg));
    seq += 1460;
  }
  auto out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].window, 14 * 1460);
  // Now an echo: the third segment's callback reads all three (the window
  // opens by 3 x 1460 >= 2 MSS) and sends them back at once.
  Callbacks cb;
  cb.on_readable = [](Connection& c) {
    uint8_t buf[8192];
    while (size_t n = c.Read(buf, std::min(sizeof(buf), c.send_space()))) c.Send(buf, n);
  };
  rec_.conn->set_callbacks(std::move(cb));
  p.Send(p.Make(seq, iss + 1, flags::kAck, 65535, seg));
  seq += 1460;
  out = Out();
  size_t pure = 0, data = 0;
  for (const Segment& s : out) (s.payload_len == 0 ? pure : data) += 1;
  EXPECT_EQ(data, 3u);  // the echo
  EXPECT_EQ(pure, 0u) << "the echoed data carries the ACK and the reopened window";
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.front().ack, seq);
  EXPECT_EQ(out.front().window, 16 * 1460);  // all read: the whole buffer
  // Reading without sending still announces the window, when the call ends.
  rec_.conn->set_callbacks(rec_.Make());
  for (int i = 0; i < 2; ++i) {
    p.Send(p.Make(seq, iss + 1, flags::kAck, 65535, seg));
    seq += 1460;
  }
  out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].window, 14 * 1460);
  std::string got(2 * 1460, '\0');
  EXPECT_EQ(rec_.conn->Read(reinterpret_cast<uint8_t*>(got.data()), got.size()), got.size());
  out = Out();
  ASSERT_EQ(out.size(), 1u);  // the window update
  EXPECT_EQ(out[0].payload_len, 0u);
  EXPECT_EQ(out[0].window, 16 * 1460);
}

TEST_P(EngineTest, PawsDropsOldTimestamps) {
  Peer p = MakePeer();
  const uint32_t iss = EstablishAndMoveTsRecent(p);
  Segment old = p.Make(kPeerIss + 4, iss + 1, flags::kAck, 65535, "old");
  old.opt.has_ts = true;
  old.opt.ts_val = 900;
  p.Send(old);
  EXPECT_EQ(E().stats().drop(DropReason::kPaws), 1u);
  const PawsSample& sample = E().stats().last_paws;
  EXPECT_TRUE(sample.valid);
  EXPECT_EQ(sample.seq, kPeerIss + 4);
  EXPECT_EQ(sample.payload_len, 3u);
  EXPECT_EQ(sample.ts_val, 900u);
  EXPECT_EQ(sample.ts_recent, 1005u);
  EXPECT_EQ(sample.rcv_nxt, kPeerIss + 4);
  EXPECT_EQ(static_cast<State>(sample.state), State::kEstablished);
  EXPECT_EQ(sample.lport, rec_.conn->tuple().lport);
  auto out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].ack, kPeerIss + 4);
  EXPECT_EQ(out[0].opt.ts_ecr, 1005u);
  EXPECT_EQ(rec_.data, "new");
}

// A pure ACK sent before a data segment but delivered after it (a peer
// sending from two CPUs) has an older timestamp than TS.Recent: dropped as
// stale without an answer when it could move nothing; a pure ACK beyond
// RCV.NXT is PAWS's, answered as usual.
TEST_P(EngineTest, PawsDropsAReorderedPureAckSilently) {
  Peer p = MakePeer();
  const uint32_t iss = EstablishAndMoveTsRecent(p);
  (void)Out();
  // Sent before `d` (its sequence is d's), with another window.
  Segment ack = p.Make(kPeerIss + 1, iss + 1, flags::kAck, 60000);
  ack.opt.has_ts = true;
  ack.opt.ts_val = 1004;
  p.Send(ack);
  // At RCV.NXT, as if sent after `d` from a clock that read lower.
  Segment at_nxt = ack;
  at_nxt.seq = kPeerIss + 4;
  p.Send(at_nxt);
  EXPECT_EQ(E().stats().drop(DropReason::kStaleAck), 2u);
  EXPECT_EQ(E().stats().drop(DropReason::kPaws), 0u);
  EXPECT_TRUE(Out().empty()) << "a stale pure ACK is not answered";
  EXPECT_EQ(rec_.conn->send_window(), 65535u << rec_.conn->send_wscale()) << "its window is old";
  // Not explained by reordering: PAWS, answered. Beyond RCV.NXT; beyond
  // SND.UNA; further behind RCV.NXT than a receive buffer (and across the
  // sequence space's wrap); further behind SND.UNA than MAX.SND.WND; a FIN.
  std::vector<Segment> paws(5, ack);
  paws[0].seq = kPeerIss + 10;
  paws[1].ack = iss + 2;
  paws[2].seq = kPeerIss + 4 - settings_.recv_buffer - 1;
  paws[3].ack = iss + 1 - rec_.conn->max_send_window() - 1;
  paws[4].flags |= flags::kFin;
  for (const Segment& s : paws) p.Send(s);
  EXPECT_EQ(E().stats().drop(DropReason::kPaws), paws.size());
  EXPECT_EQ(E().stats().drop(DropReason::kStaleAck), 2u);
  auto out = Out();
  ASSERT_EQ(out.size(), paws.size());
  EXPECT_EQ(out[0].ack, kPeerIss + 4);
  EXPECT_EQ(out[0].opt.ts_ecr, 1005u);
  EXPECT_EQ(rec_.data, "new");
  EXPECT_EQ(E().stats().segments_in, E().stats().accepted + E().stats().dropped());
}

TEST_P(EngineTest, SynCookiesKeepMemoryBoundedUnderFlood) {
  settings_.syn_backlog = 4;
  Peer good = MakePeer(30000);
  const uint32_t iss = Establish(good);
  Connection* established = rec_.conn;
  for (uint16_t port = 1000; port < 1100; ++port) {
    Peer f = MakePeer(port);
    Segment syn = f.Make(kPeerIss, 0, flags::kSyn);
    syn.opt.has_mss = true;
    syn.opt.mss = 1460;
    f.Send(syn);
  }
  auto out = Out();
  ASSERT_EQ(out.size(), 100u);
  EXPECT_EQ(E().syn_queue(Family::kIPv4, kLocal, 80), 4u);
  EXPECT_EQ(E().connections(), 5u);  // 4 half-open + the established one
  EXPECT_EQ(E().stats().syncookies_sent, 96u);
  // The established connection still works.
  good.Send(good.Make(kPeerIss + 1, iss + 1, flags::kAck | flags::kPsh, 65535, "still here"));
  EXPECT_EQ(rec_.data, "still here");
  // A cookie completes without state (flood port 1050 = the 51st SYN-ACK).
  const Segment& cookie = out[50];
  EXPECT_FALSE(cookie.opt.has_ts);  // cookies carry only the MSS
  Peer f = MakePeer(1050);
  rec_.conn = nullptr;
  f.Send(f.Make(kPeerIss + 1, cookie.seq + 2, flags::kAck));  // wrong cookie
  EXPECT_EQ(E().stats().drop(DropReason::kListenBadAck), 1u);
  EXPECT_TRUE(Out()[0].has(flags::kRst));
  f.Send(f.Make(kPeerIss + 1, cookie.seq + 1, flags::kAck | flags::kPsh, 65535, "hi"));
  ASSERT_NE(rec_.conn, nullptr);
  EXPECT_EQ(rec_.conn->state(), State::kEstablished);
  EXPECT_EQ(rec_.conn->send_mss(), 1460);
  EXPECT_EQ(rec_.data, "still herehi");
  EXPECT_EQ(E().stats().syncookies_accepted, 1u);
  EXPECT_NE(established, rec_.conn);
  // A cookie expires after two 64-second periods.
  Peer g = MakePeer(1051);
  clock_.Advance(200 * kSecond);
  g.Send(g.Make(kPeerIss + 1, out[51].seq + 1, flags::kAck));
  EXPECT_EQ(E().stats().drop(DropReason::kListenBadAck), 2u);
  Out();
}

TEST_P(EngineTest, HalfOpenConnectionsGiveUpAfterSynAckRetries) {
  settings_.syn_retries = 1;
  Listen();
  Peer p = MakePeer();
  p.Send(p.Make(kPeerIss, 0, flags::kSyn));
  EXPECT_EQ(Out().size(), 1u);
  NextTimer();
  EXPECT_EQ(Out().size(), 1u);  // SYN-ACK again
  NextTimer();
  EXPECT_EQ(E().connections(), 0u);
  EXPECT_EQ(E().syn_queue(Family::kIPv4, kLocal, 80), 0u);
  EXPECT_EQ(rec_.conn, nullptr);
}

TEST_P(EngineTest, NewerSynReusesTimeWait) {
  Peer p = MakePeer();
  const uint32_t iss = Establish(p);
  rec_.conn->Close();
  p.Send(p.Make(kPeerIss + 1, iss + 2, flags::kAck | flags::kFin));
  EXPECT_EQ(E().stats().time_wait_recycled, 0u);
  Out();
  p.Send(p.Make(kPeerIss + 100000, 0, flags::kSyn));
  auto out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].flags, flags::kSyn | flags::kAck);
  EXPECT_EQ(out[0].ack, kPeerIss + 100001);
  EXPECT_EQ(E().stats().time_wait_recycled, 1u);
  EXPECT_EQ(E().connections(), 1u);
}

TEST_P(EngineTest, RetransmittedSynGetsTheSameSynAck) {
  Listen();
  Peer p = MakePeer();
  p.Send(p.Make(kPeerIss, 0, flags::kSyn));
  const uint32_t iss = Out()[0].seq;
  p.Send(p.Make(kPeerIss, 0, flags::kSyn));
  auto out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].seq, iss);
  EXPECT_EQ(E().connections(), 1u);
}

// Regression (found by LossySeedTest seed 10): after a go-back-N timeout a
// pure ACK must carry SND.MAX, or the peer, which already has those bytes,
// drops it as a duplicate.
TEST_P(EngineTest, PureAckAfterTimeoutCarriesSndMax) {
  Peer p = MakePeer();
  Options o;
  o.has_mss = true;
  o.mss = 1460;
  const uint32_t iss = Establish(p, o);
  const std::string big(3 * 1460, 'm');
  rec_.conn->Send(reinterpret_cast<const uint8_t*>(big.data()), big.size());
  EXPECT_EQ(Out().size(), 3u);
  NextTimer();  // RTO: cwnd 1 SMSS, the first segment again
  auto out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].seq, iss + 1);
  p.Send(p.Make(kPeerIss + 1, iss + 1, flags::kAck, 65535, "x"));
  Advance(settings_.delayed_ack);
  out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload_len, 0u);
  EXPECT_EQ(out[0].seq, iss + 1 + 3 * 1460);
}

// Regression (found by LossySeedTest seed 10): a wholly duplicate segment
// still delivers its acknowledgment.
TEST_P(EngineTest, DuplicateSegmentStillAcknowledgesOurData) {
  Peer p = MakePeer();
  const uint32_t iss = Establish(p);
  rec_.conn->Send(reinterpret_cast<const uint8_t*>("ping"), 4);
  Out();
  p.Send(p.Make(kPeerIss + 1, iss + 1, flags::kAck, 65535, "hello"));
  EXPECT_EQ(rec_.conn->flight_size(), 4u);
  p.Send(p.Make(kPeerIss + 1, iss + 5, flags::kAck, 65535, "hello"));  // retransmitted, new ACK
  EXPECT_EQ(E().stats().drop(DropReason::kDuplicate), 1u);
  EXPECT_EQ(rec_.conn->flight_size(), 0u);
  EXPECT_EQ(rec_.data, "hello");
  Out();
}

TEST_P(EngineTest, AbortSendsResetAndReportsAborted) {
  Peer p = MakePeer();
  const uint32_t iss = Establish(p);
  rec_.conn->Abort();
  auto out = Out();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].has(flags::kRst));
  EXPECT_EQ(out[0].seq, iss + 1);
  EXPECT_TRUE(rec_.closed);
  EXPECT_EQ(rec_.error, Error::kAborted);
  EXPECT_EQ(E().stats().reset(ResetCause::kAbort), 1u);
  EXPECT_EQ(E().connections(), 0u);
  EXPECT_EQ(TableConnections(), 0u);
}

// Two engines (CPUs 0 and 1) on one table: each opens connections whose flow
// maps to its own CPU, refuses a port that maps elsewhere, and drops a
// segment of a connection the other engine owns.
TEST_P(EngineTest, EnginesShareATableAndKeepTheirConnectionsOnTheirCpu) {
  inpcb::TableSettings ts;
  ts.strategy = GetParam();
  ts.cpus = 2;
  ts.groups = 8;
  ts.hash_buckets = 64;
  auto table = inpcb::CreateTable(ts);
  ASSERT_TRUE(table.ok());
  ASSERT_TRUE((*table)->ThreadEnter(0).ok());
  ASSERT_TRUE((*table)->ThreadEnter(1).ok());  // this one thread plays both CPUs
  {
    Capture out0, out1;
    Settings s0 = TestSettings(), s1 = TestSettings();
    s0.cpus = s1.cpus = 2;
    s1.cpu = 1;
    auto e0 = Engine::Create(s0, table->get(), &out0, &clock_);
    auto e1 = Engine::Create(s1, table->get(), &out1, &clock_);
    ASSERT_TRUE(e0.ok() && e1.ok());
    Recorder r0;
    std::vector<FourTuple> mine;
    for (int i = 0; i < 8; ++i) {
      auto c = (*e0)->Connect(FourTuple::V4(Ip4(10, 0, 0, 1), 0, Ip4(10, 0, 0, 2), 7), r0.Make());
      ASSERT_TRUE(c.ok()) << c.status().message();
      EXPECT_EQ(inpcb::CpuOf(FlowIdOf((*c)->tuple()), 2, s0.flow_buckets), 0u);
      mine.push_back((*c)->tuple());
    }
    // A port whose flow maps to CPU 1 is refused by engine 0, with the reason.
    FourTuple t = FourTuple::V4(Ip4(10, 0, 0, 1), 50000, Ip4(10, 0, 0, 2), 7);
    while (inpcb::CpuOf(FlowIdOf(t), 2, s0.flow_buckets) != 1) ++t.lport;
    auto bad = (*e0)->Connect(t, {});
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("maps to cpu 1"), std::string::npos);
    // Engine 1 receives a segment of engine 0's connection: not its own.
    Peer p(e1->get(), mine[0]);
    p.Send(p.Make(1, 1, flags::kAck));
    EXPECT_EQ((*e1)->stats().drop(DropReason::kNotOwner), 1u);
    EXPECT_TRUE(out1.frames.empty());
    EXPECT_EQ((*table)->Counts().connections, 8u);
  }
  (*table)->ThreadExit();
}

TEST(EngineSettingsTest, BadSettingsAreNamedWithTheirBounds) {
  Settings s = TestSettings();
  s.delayed_ack = 600 * kMillisecond;
  EXPECT_NE(Validate(s).message().find("delayed_ack"), std::string::npos);
  s = TestSettings();
  s.recv_buffer = 100;
  EXPECT_NE(Validate(s).message().find("recv_buffer 100 out of range"), std::string::npos);
  s = TestSettings();
  s.cpu = 2;
  EXPECT_NE(Validate(s).message().find("cpu 2"), std::string::npos);
  s = TestSettings();
  s.flow_buckets = 96;
  EXPECT_NE(Validate(s).message().find("flow_buckets 96 is not a power of two"), std::string::npos);
  s = TestSettings();
  s.cpus = 8;
  s.flow_buckets = 4;  // CPUs 4-7 would get no flow: Connect there finds no port
  EXPECT_NE(Validate(s).message().find("flow_buckets 4 is fewer than the 8 cpus"),
            std::string::npos);
  s.flow_buckets = 8;
  EXPECT_TRUE(Validate(s).ok());
  s = TestSettings();
  s.timer_slots = 1000;
  ManualClock clock;
  Capture out;
  auto e = Engine::Create(s, nullptr, &out, &clock);
  EXPECT_FALSE(e.ok());
  EXPECT_TRUE(Validate(TestSettings()).ok());
}

INSTANTIATE_TEST_SUITE_P(Strategies, EngineTest, ::testing::ValuesIn(kAllStrategies), StrategyName);

}  // namespace
}  // namespace netisr::tcp::testing
