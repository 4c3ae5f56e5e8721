// LinkType: what a port's frames start with, so that the receive path knows
// which protocol parses them first.
//
// A port of an Ethernet device hands out whole Ethernet frames. A port that
// replays a capture taken above the link layer (pcap's raw-IP, Linux cooked
// and BSD loopback link types, see pcap_port.h) hands out the network-layer
// packet alone, the link header stripped: byte 0 is the IPv4 or IPv6 header,
// its version nibble says which. The receive path (RxQueueSource) then
// dispatches such packets to the IPv4 / IPv6 protocol instead of the
// Ethernet one, and the early filter (rx_filter.h) reads their addresses at
// offset 0. Stripping in the port, not marking an offset, keeps this layer
// free of the parse chain's metadata layout: a packet whose IP header is at
// offset 0 and whose protocol scratch (Packet::meta) is zero, as
// PacketPool::Alloc leaves it, is what the chain's IP layers expect when no
// Ethernet layer ran before them.
#pragma once

#include <cstdint>
#include <string_view>

namespace netisr::nic {

enum class LinkType : uint8_t {
  kEthernet,  // Ethernet frames (no FCS), as from a NIC
  kIp,        // IPv4 or IPv6 packets, no link header
};

constexpr std::string_view ToString(LinkType t) {
  return t == LinkType::kEthernet ? "ethernet" : "ip";
}

}  // namespace netisr::nic
