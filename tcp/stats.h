// TCP statistics: every segment the engine is given is either accepted
// (acted on) or dropped under exactly one DropReason; every reset, sent or
// received, is counted under its ResetCause. So
//   segments_in == accepted + sum(drops)
// holds at every moment between calls (tests check it), as the parse
// chain's conservation does for frames (proto/parse_drop.h).
//
// Names follow FreeBSD's tcpstat where one exists (tcps_rcvbadsum ->
// bad_checksum, tcps_rcvpackafterwin -> out_of_window, tcps_pawsdrop ->
// paws, ...).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace netisr::tcp {

// X-macro: (enumerator, printed name) — one list, so names cannot drift.
#define NETISR_TCP_DROP_REASONS(X)                                                                \
  X(kBadChecksum, "bad_checksum")         /* checksum with the pseudo-header */                   \
  X(kMalformed, "malformed")              /* short header, data offset, option list */            \
  X(kBadFlags, "bad_flags")               /* SYN with FIN or RST */                               \
  X(kNoConnection, "no_connection")       /* no connection, no listener (RST sent) */             \
  X(kNotOwner, "not_owner")               /* connection owned by another engine (CPU) */          \
  X(kListenRst, "listen_rst")             /* RST to a listener: ignored */                        \
  X(kListenNoSyn, "listen_no_syn")        /* neither SYN nor ACK to a listener */                 \
  X(kListenBadAck, "listen_bad_ack")      /* ACK to a listener, no valid cookie (RST) */          \
  X(kSynQueueFull, "syn_queue_full")      /* backlog full, cookies off */                         \
  X(kConnectionLimit, "connection_limit") /* Settings::max_connections reached */                 \
  X(kSynSentBadAck, "syn_sent_bad_ack")   /* ACK outside our SYN in SYN_SENT (RST sent) */        \
  X(kSynSentNoSyn, "syn_sent_no_syn")     /* neither SYN nor RST in SYN_SENT */                   \
  X(kSynSentBadRst, "syn_sent_bad_rst")   /* RST without an acceptable ACK */                     \
  X(kPaws, "paws")                        /* old timestamp (RFC 7323 5) */                        \
  X(kStaleAck, "stale_ack")               /* old timestamp, pure ACK of nothing new: reordered */ \
  X(kOutOfWindow, "out_of_window")        /* sequence outside the receive window */               \
  X(kDuplicate, "duplicate")              /* wholly before RCV.NXT: a retransmission */           \
  X(kZeroWindow, "zero_window")           /* data while our window is zero (a probe) */           \
  X(kRstOutOfWindow, "rst_out_of_window") /* RFC 5961 3.2: silently dropped */                    \
  X(kRstChallenge, "rst_challenge")       /* in window, not exact: challenge ACK */               \
  X(kSynChallenge, "syn_challenge")       /* SYN on a synchronized connection */                  \
  X(kAckTooNew, "ack_too_new")            /* acknowledges data never sent */                      \
  X(kAckTooOld, "ack_too_old")            /* RFC 5961 5.2: below SND.UNA - MAX.SND.WND */         \
  X(kNoAck, "no_ack")                     /* synchronized state, ACK bit clear */                 \
  X(kSynRcvdBadAck, "syn_rcvd_bad_ack")   /* ACK not of our SYN-ACK (RST sent) */                 \
  X(kOooLimit, "ooo_limit")               /* too many holes (Settings::max_ooo_ranges) */         \
  X(kDataAfterFin, "data_after_fin")      /* data beyond the peer's FIN */                        \
  X(kClosed, "closed")                    /* connection closing/closed in this call */

enum class DropReason : uint8_t {
#define NETISR_TCP_ENUM(e, s) e,
  NETISR_TCP_DROP_REASONS(NETISR_TCP_ENUM)
#undef NETISR_TCP_ENUM
      kCount
};
inline constexpr size_t kNumDropReasons = static_cast<size_t>(DropReason::kCount);
std::string_view ToString(DropReason r);

// Resets: the ones we send (first group) and the ones we receive that end a
// connection (second group).
#define NETISR_TCP_RESET_CAUSES(X)                                                           \
  X(kNoConnection, "no_connection") /* sent: segment for no connection or listener */        \
  X(kBadAck, "bad_ack")             /* sent: unacceptable ACK in LISTEN/SYN_SENT/SYN_RCVD */ \
  X(kAbort, "abort")                /* sent: the application aborted */                      \
  X(kTimeout, "timeout")            /* sent: retransmission limit reached */                 \
  X(kPeerReset, "peer_reset")       /* received: connection reset by peer */                 \
  X(kPeerRefused, "peer_refused")   /* received in SYN_SENT: connection refused */           \
  X(kPeerResetSynRcvd, "peer_reset_syn_rcvd") /* received in SYN_RCVD: half-open dropped */

enum class ResetCause : uint8_t {
#define NETISR_TCP_ENUM(e, s) e,
  NETISR_TCP_RESET_CAUSES(NETISR_TCP_ENUM)
#undef NETISR_TCP_ENUM
      kCount
};
inline constexpr size_t kNumResetCauses = static_cast<size_t>(ResetCause::kCount);
std::string_view ToString(ResetCause c);

// The last segment PAWS dropped (DropReason::kPaws) and the state it met:
// an unexplained drop, shown in reports (tcp-echo's JSON) so that one seen
// once can be told apart from a reordering (docs/tcp.md).
struct PawsSample {
  bool valid = false;
  uint64_t at_us = 0;  // the engine's clock (Engine::now) at the drop
  uint8_t state = 0;   // the connection's tcp::State
  uint16_t lport = 0, fport = 0;
  uint8_t flags = 0;
  uint32_t seq = 0, ack = 0, payload_len = 0, ts_val = 0;
  uint32_t ts_recent = 0, rcv_nxt = 0, snd_una = 0;
};

// One engine's counters. Plain integers: an engine and its stats belong to
// one thread (its workstream); readers on other threads take a snapshot at
// a quiescent point (phase 2 will publish per-worker copies).
struct Stats {
  uint64_t segments_in = 0;
  uint64_t accepted = 0;
  std::array<uint64_t, kNumDropReasons> drops{};
  std::array<uint64_t, kNumResetCauses> resets{};

  uint64_t segments_out = 0;
  uint64_t data_segments_out = 0;
  uint64_t bytes_out = 0;    // payload, retransmissions included
  uint64_t retransmits = 0;  // segments sent again (any cause)
  uint64_t fast_retransmits = 0;
  uint64_t rto_timeouts = 0;
  uint64_t persist_probes = 0;
  uint64_t delayed_acks = 0;  // ACKs sent by the delayed-ACK timer
  uint64_t challenge_acks = 0;
  uint64_t challenge_acks_suppressed = 0;  // over Settings::challenge_ack_limit
  uint64_t syncookies_sent = 0;
  uint64_t syncookies_accepted = 0;
  uint64_t active_opens = 0;
  uint64_t passive_opens = 0;       // connections accepted (reached ESTABLISHED)
  uint64_t closed = 0;              // connections freed
  uint64_t time_wait_recycled = 0;  // TIME_WAIT ended early by a new SYN (RFC 6191)
  PawsSample last_paws;

  uint64_t dropped() const {
    uint64_t n = 0;
    for (uint64_t d : drops) n += d;
    return n;
  }
  uint64_t drop(DropReason r) const { return drops[static_cast<size_t>(r)]; }
  uint64_t reset(ResetCause c) const { return resets[static_cast<size_t>(c)]; }
};

}  // namespace netisr::tcp
