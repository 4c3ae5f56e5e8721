#include "proto/responder.h"

#include <cstring>

#include "base/checksum.h"
#include "base/wire.h"
#include "proto/wire.h"

namespace netisr::proto {

namespace {

using base::Checksum;
using base::Load16;
using base::Load32;
using base::Store16;
using base::Store32;
using base::UpdateChecksum;

// ARP for IPv4 over Ethernet (RFC 826): htype 2, ptype 2, hlen 1, plen 1,
// op 2, sha 6, spa 4, tha 6, tpa 4.
constexpr uint32_t kArpOpOff = 6, kArpShaOff = 8, kArpSpaOff = 14, kArpThaOff = 18, kArpTpaOff = 24;
constexpr uint8_t kReplyTtl = 64;  // RFC 1700's default TTL, as Linux's

void SwapMacs(Packet& pkt, const MacAddr& src) {
  std::memcpy(pkt.data, pkt.data + 6, 6);  // destination = the sender
  std::memcpy(pkt.data + 6, src.data(), 6);
}

}  // namespace

ArpSender ArpSenderOf(const Packet& pkt, const Layout& l) {
  const uint8_t* a = pkt.data + l.l3_off;
  ArpSender s;
  s.ip = Load32(a + kArpSpaOff);
  std::memcpy(s.mac.data(), a + kArpShaOff, 6);
  return s;
}

Reply MakeArpReply(Packet& pkt, const Layout& l, uint32_t our_ip, const MacAddr& our_mac) {
  uint8_t* a = pkt.data + l.l3_off;
  if (Load32(a + kArpTpaOff) != our_ip) return Reply::kNotForUs;
  if (Load16(a + kArpOpOff) != wire::kArpOpRequest) return Reply::kIgnored;
  Store16(a + kArpOpOff, wire::kArpOpReply);
  std::memcpy(a + kArpThaOff, a + kArpShaOff, 10);  // tha, tpa = sha, spa
  std::memcpy(a + kArpShaOff, our_mac.data(), 6);
  Store32(a + kArpSpaOff, our_ip);
  std::memcpy(pkt.data, a + kArpThaOff, 6);
  std::memcpy(pkt.data + 6, our_mac.data(), 6);
  return Reply::kReplied;
}

Reply MakeIcmpEchoReply(Packet& pkt, const Layout& l, uint32_t our_ip) {
  uint8_t* ip = pkt.data + l.l3_off;
  uint8_t* icmp = pkt.data + l.l4_off;
  if (l.ethertype != wire::kEtherTypeIpv4 || Load32(ip + wire::kIpv4DstOffset) != our_ip)
    return Reply::kNotForUs;
  if (icmp[0] != wire::kIcmpEchoRequest || icmp[1] != 0) return Reply::kIgnored;
  MacAddr our_mac;
  std::memcpy(our_mac.data(), pkt.data, 6);
  SwapMacs(pkt, our_mac);
  uint8_t addr[4];
  std::memcpy(addr, ip + wire::kIpv4SrcOffset, 4);
  std::memcpy(ip + wire::kIpv4SrcOffset, ip + wire::kIpv4DstOffset, 4);
  std::memcpy(ip + wire::kIpv4DstOffset, addr, 4);
  ip[wire::kIpv4TtlOffset] = kReplyTtl;
  const uint32_t ihl = (ip[0] & 0x0f) * 4u;
  Store16(ip + wire::kIpv4ChecksumOffset, 0);
  Store16(ip + wire::kIpv4ChecksumOffset, Checksum(ip, ihl));
  // Type 8 -> 0 changes the first 16-bit word (type, code): RFC 1624.
  const uint16_t old_word = Load16(icmp);
  icmp[0] = wire::kIcmpEchoReply;
  Store16(icmp + wire::kIcmpChecksumOffset,
          UpdateChecksum(Load16(icmp + wire::kIcmpChecksumOffset), old_word, Load16(icmp)));
  return Reply::kReplied;
}

}  // namespace netisr::proto
