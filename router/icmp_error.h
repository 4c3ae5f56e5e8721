// ICMP and ICMPv6 errors a router sends about a frame it could not forward,
// and the per-worker token bucket that limits them.
//
// What it guarantees:
//  * The error is a new frame from the caller's FrameAllocator (the received
//    frame stays the caller's: count it under its drop reason and release
//    it). No other allocation, no syscall, no shared state.
//  * The error quotes the offending datagram as received (so call this
//    before Forward() rewrote it; Forward() leaves an expiring frame as
//    received): IPv4 (RFC 792, RFC 1812 4.3.2.3) as much as keeps the error
//    datagram within kIcmp4ErrorMaxLen = 576 bytes, at least the IP header
//    and 8 bytes when the datagram has them (Linux quotes up to 576 too,
//    icmp_send()); IPv6 as much as keeps it within the minimum MTU, 1280
//    bytes (RFC 4443 2.4(c)). Less only if the allocator's frames are
//    smaller, and never less than the IPv4 header + 8 bytes (else
//    kNoBuffer).
//  * No error is sent about (RFC 1812 4.3.2.7, RFC 4443 2.4(e)): an ICMP
//    error (IPv4 types 3, 4, 5, 11, 12 and, as Linux, any type above 18;
//    ICMPv6 types below 128), a non-first fragment, a packet sent to an IP
//    multicast or broadcast address or as a link-layer multicast/broadcast
//    (the destination MAC's group bit), a packet whose source names no
//    single host (unspecified, loopback, multicast, broadcast). Each is a
//    named ErrorSkip for the caller to count.
//  * Errors within those rules pass a token bucket per worker (RFC 4443
//    2.4(f), RFC 1812 4.3.2.8); the ones over the limit are counted.
//
// Addressing: source IP = the router's address on the port the packet came
// in on (the caller passes it, with that port's MAC); destination = the
// offending packet's source. Ethernet: from the ingress port's MAC back to
// the MAC the frame came from (the previous hop), to be sent out of the
// ingress port. That is right whenever the path back is the path in (stub
// and point-to-point links, the e2e topology); Linux instead routes the
// error (a route lookup on the source); a caller that wants that looks the
// source up and calls WriteMacs() and sends on the port it found.
// Header fields as Linux sets them: TTL / hop limit 64 (ip_default_ttl,
// hop_limit), IPv4 TOS 0xc0 (precedence "internetwork control", RFC 1812
// 4.3.2.5), IPv4 ID 0 with DF (an atomic datagram, RFC 6864).
#pragma once

#include <cstdint>
#include <string_view>

#include "base/counter.h"
#include "base/status.h"
#include "netisr/packet.h"
#include "proto/layout.h"
#include "router/forward.h"

namespace netisr::router {

// Largest IPv4 error datagram (RFC 1812 4.3.2.3), bytes.
inline constexpr uint32_t kIcmp4ErrorMaxLen = 576;
// Largest IPv6 error datagram: the IPv6 minimum MTU (RFC 4443 2.4(c)), bytes.
inline constexpr uint32_t kIcmp6ErrorMaxLen = 1280;
// TTL / hop limit of the errors (and of the frames nd.h builds off-ND).
inline constexpr uint8_t kErrorTtl = 64;

enum class IcmpError : uint8_t {
  kTimeExceeded,     // ICMP 11/0, ICMPv6 3/0 (TTL / hop limit exceeded in transit)
  kNetUnreachable,   // ICMP 3/0, ICMPv6 1/0 (no route)
  kHostUnreachable,  // ICMP 3/1, ICMPv6 1/3 (address unreachable: neighbour
                     // resolution failed)
};

// Why no error frame was made.
#define NETISR_ROUTER_ERROR_SKIPS(X)                                                 \
  X(kAboutError, "icmp_error_about_error")   /* offending packet is an ICMP error */ \
  X(kFragment, "icmp_error_fragment")        /* non-first fragment */                \
  X(kMulticast, "icmp_error_multicast")      /* IP or link-layer group dst */        \
  X(kBadSource, "icmp_error_bad_source")     /* source names no single host */       \
  X(kRateLimited, "icmp_error_rate_limited") /* over the token bucket */             \
  X(kNoBuffer, "icmp_error_no_buffer")       /* allocator empty or too small */      \
  X(kNotIp, "icmp_error_not_ip")             /* not IP, or its header cut short */   \
  X(kNoSource, "icmp_error_no_source")       /* the router has no address of the family */

enum class ErrorSkip : uint8_t {
#define NETISR_ROUTER_ENUMERATOR(e, name) e,
  NETISR_ROUTER_ERROR_SKIPS(NETISR_ROUTER_ENUMERATOR)
#undef NETISR_ROUTER_ENUMERATOR
      kCount,
};
inline constexpr size_t kNumErrorSkips = static_cast<size_t>(ErrorSkip::kCount);
std::string_view ToString(ErrorSkip s);

struct IcmpRateConfig {
  // Errors per second per worker, in [1, IcmpRateLimiter::kMaxRate]. Linux's default:
  // net.ipv4.icmp_msgs_per_sec = 1000 (shared by ICMPv6).
  uint32_t rate = 1000;
  // Bucket depth, errors, in [1, IcmpRateLimiter::kMaxBurst]. Linux: icmp_msgs_burst = 50.
  // A traceroute sends 3 probes per hop, so 50 never limits one.
  uint32_t burst = 50;
};

// Token bucket: `rate` errors per second on average, up to `burst` at once.
// One per worker (each worker's own: no lock, no atomic RMW); the router's
// total is workers x rate. The clock is the caller's (now_ns, any
// monotonic nanosecond clock, e.g. the dispatcher's), so the hot path makes
// no clock call of its own and tests step time by hand. Aligned to a cache
// line so that the workers' limiters, kept side by side in an array, never
// share one (each is written on every error its worker sends).
class alignas(64) IcmpRateLimiter {
 public:
  using Config = IcmpRateConfig;
  // Bounds: above 1M/s a worker would spend most of its time on errors
  // (each is an allocation and a ~600-byte copy); the burst bound keeps
  // the token arithmetic (nano-tokens, 64-bit) far from overflow.
  static constexpr uint32_t kMaxRate = 1'000'000;
  static constexpr uint32_t kMaxBurst = 10'000;

  // Names the field out of range ("icmp rate 0 out of range [1, 1000000]").
  static Status Validate(const Config& c);
  // `c` must pass Validate (out-of-range fields are clamped to the bounds).
  // Starts full.
  explicit IcmpRateLimiter(Config c = {});

  // True (and one token spent) if an error may go out at now_ns. A clock
  // that steps back adds nothing. Only the owning worker calls this.
  bool Allow(uint64_t now_ns);

  // Any thread (base::Counter: the owning worker is the one writer).
  uint64_t allowed() const { return allowed_.Get(); }
  uint64_t limited() const { return limited_.Get(); }

 private:
  // Fixed at construction.
  uint64_t rate_;  // errors per second
  uint64_t cap_;   // burst x 1e9: nano-tokens
  // The owning worker's only (Allow): not shared, no synchronisation.
  uint64_t tokens_;       // nano-tokens
  uint64_t last_ns_ = 0;  // clock of the last refill
  bool started_ = false;  // false until the first Allow sets last_ns_
  base::Counter allowed_, limited_;
};
static_assert(sizeof(IcmpRateLimiter) == 64, "one cache line per worker's limiter");

// The router's addresses on the port the offending frame came in on (or,
// where that port has none of a family, another port's: RFC 1812 4.3.2.4
// allows any of the router's addresses). Zero / :: = none: no error is sent.
struct ErrorOrigin {
  MacAddr mac{};
  uint32_t ip4 = 0;  // host order
  Ip6Addr ip6{};
};

struct ErrorResult {
  Packet* frame = nullptr;             // the error, ready to send; nullptr if skipped
  ErrorSkip skip = ErrorSkip::kCount;  // why not, when frame is nullptr
};

// The ICMP (IPv4 frame) or ICMPv6 (IPv6 frame) error `type` about
// `offending` (with its Layout from the parse chain), from `in`. The rules
// above are checked first (no token spent on a packet that gets no error),
// then `limiter`, then `alloc`. The new frame's Layout is in its meta.
ErrorResult MakeIcmpError(const Packet& offending, const proto::Layout& l, IcmpError type,
                          const ErrorOrigin& in, IcmpRateLimiter& limiter, uint64_t now_ns,
                          const FrameAllocator& alloc);

}  // namespace netisr::router
