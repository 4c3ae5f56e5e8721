// IngressSpec: the `--source` argument of `netisr run`, parsed.
//
// Syntax (exactly one of):
//   synthetic         nic::SyntheticPort, traffic mix from the --distribution,
//                     --attack, ... flags
//   pcap:FILE         nic::PcapPort replaying FILE (everything after the
//                     first ':' is the path, so it may contain ':')
//   dpdk:EAL-ARGS     nic::DpdkEal::Init(EAL-ARGS) and one nic::DpdkPort per
//                     ethdev port EAL finds. EAL-ARGS are split on spaces,
//                     as a shell would split them, never on commas: commas
//                     belong to DPDK's own device syntax
//                     (--vdev=net_pcap0,rx_pcap=F,infinite_rx=1), so one
//                     shell word holds the whole list:
//                     --source 'dpdk:--no-huge --no-pci -m 512 --vdev=...'
// An empty --source is the bench mode (no NIC, no parse chain).
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace netisr::apps {

enum class IngressKind { kBench, kSynthetic, kPcap, kDpdk };
std::string_view ToString(IngressKind k);  // "bench", "synthetic", "pcap", "dpdk"

struct IngressSpec {
  IngressKind kind = IngressKind::kBench;
  std::string arg;  // the pcap file, or the EAL arguments
};

// Errors (kInvalidArgument) name --source and say what was expected.
Result<IngressSpec> ParseIngress(std::string_view text);

}  // namespace netisr::apps
