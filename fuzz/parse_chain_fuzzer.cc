// libFuzzer target over the whole parse chain: arbitrary bytes as an
// Ethernet frame through proto::ParseFrame (the functions the stack's
// handlers run, without netisr or threads), and through the flow hash the
// flow layers' m2flow runs on frames whose IP header is not yet checked.
//
// Beyond "no crash, no sanitizer report", it checks the parsers' promises:
// a packet only ever shrinks, and a delivered packet's Layout points inside
// it; and the early filter's (proto/filter.h): its bounds-checked field
// reader (internal/filter_key.h) reads nothing past the frame, and on every
// IP frame the chain delivers sees the family, source, protocol and port the
// chain saw. And the one-pass IPv4 path agrees with the layered parsers.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "base/wire.h"
#include "netisr/packet.h"
#include "proto/flow_hash.h"
#include "proto/internal/filter_key.h"
#include "proto/parse.h"
#include "proto/wire.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace netisr::proto;
  // An exact-size heap copy, so ASan flags any read past the frame.
  std::vector<uint8_t> buf(data, data + size);
  netisr::Packet pkt;
  pkt.data = buf.data();
  pkt.len = static_cast<uint32_t>(size);
  // The filter runs before the chain, on the untrimmed frame, and writes nothing.
  const internal::FilterKey key = internal::ClassifyForFilter(pkt);
  Check(pkt.len == size);
  const ChainResult r = ParseFrame(pkt);
  Check(pkt.len <= size);
  if (r.step.kind == Step::Kind::kDrop) {
    Check(r.step.why < ParseDrop::kCount);
  } else {
    Check(r.step.kind == Step::Kind::kDeliver);
    const Layout l = GetLayout(pkt);
    Check(l.l3_off <= pkt.len);
    if (r.layer != Layer::kArp) {
      Check(l.l3_off <= l.l4_off && l.l4_off + l.l4_len == pkt.len);
      Check(l.l4_off < l.payload_off && l.payload_off <= pkt.len);
      const uint8_t* ip = pkt.data + l.l3_off;
      if (l.ethertype == wire::kEtherTypeIpv4) {
        Check(key.family == 4 && key.lo == 0 &&
              key.hi >> 32 == netisr::base::Load32(ip + wire::kIpv4SrcOffset));
      } else {
        Check(key.family == 6 && key.hi >> 32 == netisr::base::Load32(ip + wire::kIpv6SrcOffset) &&
              static_cast<uint32_t>(key.lo) ==
                  netisr::base::Load32(ip + wire::kIpv6SrcOffset + 12));
      }
      Check(key.has_proto && key.proto == l.ip_proto);
      const bool ports = l.ip_proto == wire::kProtoTcp || l.ip_proto == wire::kProtoUdp;
      Check(key.has_port == ports);
      if (ports) Check(key.dport == netisr::base::Load16(pkt.data + l.l4_off + 2));
    }
  }

  // The one-pass IPv4 path (ParseFrameFast) gives the very same result,
  // Layout and length as the layered chain, with or without the NIC's
  // checksum-good flags (the first input byte picks them).
  for (uint8_t flags : {uint8_t{0}, static_cast<uint8_t>(size > 0 ? data[0] & 3 : 0)}) {
    std::vector<uint8_t> a(data, data + size), b(data, data + size);
    netisr::Packet pa, pb;
    pa.data = a.data();
    pb.data = b.data();
    pa.len = pb.len = static_cast<uint32_t>(size);
    pa.rx_csum_good = pb.rx_csum_good = flags;
    const ChainResult ra = ParseFrame(pa), rb = ParseFrameFast(pb);
    Check(ra.step.kind == rb.step.kind && ra.layer == rb.layer && ra.step.why == rb.step.why &&
          pa.len == pb.len && GetLayout(pa) == GetLayout(pb));
  }

  // m2flow's view: Ethernet parsed, IP not yet.
  std::vector<uint8_t> buf2(data, data + size);
  netisr::Packet raw;
  raw.data = buf2.data();
  raw.len = static_cast<uint32_t>(size);
  Layout l;
  if (ParseEther(raw, l).kind == Step::Kind::kNext) {
    SetLayout(raw, l);
    SetFlowIdFromHeaders(raw);
  }
  return 0;
}
