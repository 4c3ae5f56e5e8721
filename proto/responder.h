// Responder: the two answers a host gives below TCP, made in place in the
// received frame (no allocation, no copy): an ARP reply to a request for
// our address (RFC 826) and an ICMP echo reply to an echo request (RFC 792,
// RFC 1122 3.2.2.6). The caller sends the rewritten frame on the queue it
// transmits on; VLAN tags stay as received.
//
// Both take a frame that passed the parse chain (its Layout in meta: ARP's
// length and opcode, IPv4's header and ICMP's checksum already checked), so
// they only check what is ours to judge: the target address and the type.
#pragma once

#include <array>
#include <cstdint>

#include "netisr/packet.h"
#include "proto/layout.h"

namespace netisr::proto {

using MacAddr = std::array<uint8_t, 6>;

enum class Reply : uint8_t {
  kReplied,   // the frame is now the reply, ready to send
  kNotForUs,  // addressed to another host: leave it
  kIgnored,   // ours but nothing to answer (an ARP reply, another ICMP type)
};

// An ARP packet's sender, to learn a neighbour from (requests and replies).
struct ArpSender {
  uint32_t ip = 0;  // host order
  MacAddr mac{};
};
ArpSender ArpSenderOf(const Packet& pkt, const Layout& l);

// A request "who has `our_ip`" becomes "our_ip is at our_mac", sent back to
// the requester.
Reply MakeArpReply(Packet& pkt, const Layout& l, uint32_t our_ip, const MacAddr& our_mac);
// An IPv4 echo request to `our_ip` becomes the echo reply (addresses and
// MACs swapped, TTL 64, both checksums updated).
Reply MakeIcmpEchoReply(Packet& pkt, const Layout& l, uint32_t our_ip);

}  // namespace netisr::proto
