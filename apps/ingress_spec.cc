#include "apps/ingress_spec.h"

#include <fmt/format.h>

namespace netisr::apps {

std::string_view ToString(IngressKind k) {
  switch (k) {
    case IngressKind::kBench:
      return "bench";
    case IngressKind::kSynthetic:
      return "synthetic";
    case IngressKind::kPcap:
      return "pcap";
    case IngressKind::kDpdk:
      return "dpdk";
  }
  return "?";
}

Result<IngressSpec> ParseIngress(std::string_view text) {
  auto bad = [&](std::string why) {
    return Status(ErrorCode::kInvalidArgument, fmt::format("--source '{}': {}", text, why));
  };
  if (text.empty()) return IngressSpec{};
  const size_t colon = text.find(':');
  const std::string_view kind = text.substr(0, colon);
  const std::string_view arg =
      colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
  if (kind == "synthetic") {
    if (colon != std::string_view::npos)
      return bad(
          "synthetic takes no argument; set its traffic with --distribution, --attack, "
          "--ipv6-share, --l4, --frame-size, --flows, --rate");
    return IngressSpec{IngressKind::kSynthetic, ""};
  }
  if (kind == "pcap") {
    if (arg.empty()) return bad("needs a file: pcap:FILE");
    return IngressSpec{IngressKind::kPcap, std::string(arg)};
  }
  if (kind == "dpdk") {
    if (arg.find_first_not_of(' ') == std::string_view::npos)
      return bad(
          "needs EAL arguments, e.g. 'dpdk:--no-huge --no-pci --no-shconf -m 512 "
          "--vdev=net_pcap0,rx_pcap=FILE,infinite_rx=1'");
    return IngressSpec{IngressKind::kDpdk, std::string(arg)};
  }
  return bad("unknown kind; expected synthetic, pcap:FILE or dpdk:EAL-ARGS");
}

}  // namespace netisr::apps
