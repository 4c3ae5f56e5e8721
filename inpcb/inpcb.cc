#include "inpcb/inpcb.h"

#include <arpa/inet.h>

#include "inpcb/internal/lock_classes.h"

namespace netisr::inpcb {

IpAddr IpAddr::V4(uint32_t host_order) {
  IpAddr a;
  a.bytes[0] = static_cast<uint8_t>(host_order >> 24);
  a.bytes[1] = static_cast<uint8_t>(host_order >> 16);
  a.bytes[2] = static_cast<uint8_t>(host_order >> 8);
  a.bytes[3] = static_cast<uint8_t>(host_order);
  return a;
}

IpAddr IpAddr::V6(const std::array<uint8_t, 16>& network_order) {
  IpAddr a;
  a.bytes = network_order;
  return a;
}

FourTuple FourTuple::V4(uint32_t laddr, uint16_t lport, uint32_t faddr, uint16_t fport) {
  return {IpAddr::V4(laddr), IpAddr::V4(faddr), lport, fport, Family::kIPv4};
}

FourTuple FourTuple::V6(const std::array<uint8_t, 16>& laddr, uint16_t lport,
                        const std::array<uint8_t, 16>& faddr, uint16_t fport) {
  return {IpAddr::V6(laddr), IpAddr::V6(faddr), lport, fport, Family::kIPv6};
}

FourTuple FourTuple::Listener(Family family, const IpAddr& laddr, uint16_t lport) {
  return {laddr, IpAddr{}, lport, 0, family};
}

namespace {

std::string Format(Family f, const IpAddr& a, uint16_t port) {
  if (a.any() && port == 0) return "*:*";
  std::string host = "*";
  if (!a.any()) {
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(f == Family::kIPv6 ? AF_INET6 : AF_INET, a.bytes.data(), buf, sizeof(buf));
    host = buf;
  }
  if (f == Family::kIPv6) host = "[" + host + "]";
  return host + ":" + std::to_string(port);
}

}  // namespace

std::string ToString(const FourTuple& t) {
  return Format(t.family, t.laddr, t.lport) + " <- " + Format(t.family, t.faddr, t.fport);
}

const char* ToString(ConnState s) {
  switch (s) {
    case ConnState::kListen:
      return "listen";
    case ConnState::kSynReceived:
      return "syn_received";
    case ConnState::kEstablished:
      return "established";
    case ConnState::kClosed:
      return "closed";
  }
  return "?";
}

Inpcb::Inpcb(const FourTuple& t, uint64_t hash, uint32_t flowid, uint32_t shard, bool locked,
             FreeHook hook, void* hook_arg)
    : tuple_(t),
      hash_(hash),
      flowid_(flowid),
      shard_(shard),
      has_lock_(locked),
      free_hook_(hook),
      free_hook_arg_(hook_arg),
      mu_(internal::kConnLock),
      state_(t.listener() ? ConnState::kListen : ConnState::kSynReceived) {}

void Inpcb::Unref() const {
  // acq_rel: see the file comment in inpcb.h.
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    if (free_hook_ != nullptr) free_hook_(*this, free_hook_arg_);
    delete this;
  }
}

void InpcbRef::reset() {
  if (Inpcb* p = take()) p->Unref();
}

LockedInpcb InpcbRef::Lock() && {
  Inpcb* p = take();
  if (p != nullptr) p->Lock();
  return LockedInpcb(p);
}

void LockedInpcb::reset() {
  if (Inpcb* p = take()) {
    p->Unlock();
    p->Unref();
  }
}

InpcbRef LockedInpcb::Unlock() && {
  Inpcb* p = take();
  if (p != nullptr) p->Unlock();
  return InpcbRef(p);
}

}  // namespace netisr::inpcb
