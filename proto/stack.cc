#include "proto/stack.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <span>
#include <string>

#include "proto/flow_hash.h"
#include "proto/internal/fast_path.h"

namespace netisr::proto {

struct ProtocolStack::Core {
  Core(Netisr& n, StackOptions o) : nisr(n), options(std::move(o)), drops(options.ip_hook_drops) {}

  void Handle(Layer layer, Burst burst);
  void RunStages(Layer layer, Burst stage);
  // Offers a stage's packets that passed the IP header checks (pkts, at
  // stage positions index[]) to options.ip_hook and files each in slot[]:
  // kTaken, or where the rest of the chain sends a local one.
  void HookStage(Layer layer, bool fused_ether, std::span<Packet* const> pkts, const uint8_t* index,
                 const bool* fragment, uint8_t* slot);
  // Dispatches `pkts` (all bound for `next`) in runs of equal ingress source.
  void DispatchRuns(Layer next, Burst pkts);
  // Stage 1, validation: each packet's slot (the next layer, delivery,
  // dropped, or taken by the IP hook) into `st`. ValidateFusedEther is the
  // fused Ethernet layer without an IP hook; ValidateLayers every other
  // case (the fused Ethernet layer with a hook among them).
  struct StageSlots {
    std::array<uint8_t, kMaxStageBurst> slot;
    uint8_t differs = 0;   // nonzero once a slot differs from the first's
    uint16_t source0 = 0;  // the first packet's ingress source
    // Zero when every packet is known to come from source0 (tracked by
    // ValidateFusedEther only: elsewhere DispatchRuns finds the runs).
    uint16_t other_source = 0;
  };
  void ValidateFusedEther(Burst stage, StageSlots& st);
  void ValidateLayers(Layer layer, Burst stage, StageSlots& st);
  // Stages 2 and 3: drops released, the rest dispatched or delivered by slot.
  void Route(Layer layer, Burst stage, const StageSlots& st);
  // A terminal layer's stage every packet of which the fused Ethernet layer
  // checked: delivered whole, their bytes untouched. False, with every mark
  // as it was (set), if any packet was not.
  bool DeliverChecked(Layer layer, Burst stage);

  Netisr& nisr;
  const StackOptions options;
  std::array<ProtocolId, kNumLayers> ids{};
  DropCounters drops;
};

namespace {

// Where stage 2 files a packet: a next layer, or the sink.
constexpr size_t kDeliverSlot = kNumLayers;
constexpr uint8_t kDropped = 0xff;
// Taken by the IP-layer hook: neither released nor counted by the stack.
constexpr uint8_t kTaken = 0xfe;
// Passed the IP header checks; waits for the hook's verdict.
constexpr uint8_t kAtHook = 0xfd;

// The stage-2 slot of a layer's decision; a drop is counted here.
inline uint8_t SlotOf(const Step& s, DropCounters& drops) {
  switch (s.kind) {
    case Step::Kind::kNext:
      return static_cast<uint8_t>(s.next);
    case Step::Kind::kDeliver:
      return static_cast<uint8_t>(kDeliverSlot);
    case Step::Kind::kDrop:
      break;
  }
  drops.Add(s.why);
  return kDropped;
}

// The layers the fused Ethernet layer sends an IPv4 packet to, checked.
constexpr bool IsFusedTerminal(Layer l) {
  return l == Layer::kTcp || l == Layer::kUdp || l == Layer::kIcmp;
}

struct LayerSpec {
  Layer layer;
  Policy policy;
};
// Registration order: terminal layers first (see Register).
constexpr std::array<LayerSpec, kNumLayers> kLayers = {{
    {Layer::kTcp, Policy::kFlow},
    {Layer::kUdp, Policy::kFlow},
    {Layer::kIcmp, Policy::kFlow},
    {Layer::kIcmp6, Policy::kFlow},
    {Layer::kArp, Policy::kSource},
    {Layer::kIp, Policy::kFlow},
    {Layer::kIp6, Policy::kFlow},
    {Layer::kEther, Policy::kSource},
}};

// Layout::checked_l4 in place: the one byte of meta a checked packet's
// terminal layer reads and clears (the whole Layout's load and store cost
// ~25 instructions a packet more; callgrind, benchmarks/nic's pipeline).
uint8_t* CheckedL4(Packet& pkt) {
  return reinterpret_cast<uint8_t*>(pkt.meta.data()) + offsetof(Layout, checked_l4);
}

// The bytes stage 1 will read of a packet that has been through `layer`'s
// parent: its header at the Layout's offset. The Ethernet layer starts at 0.
const uint8_t* HeaderOf(Layer layer, const Packet& pkt) {
  switch (layer) {
    case Layer::kEther:
      return pkt.data;
    case Layer::kArp:
    case Layer::kIp:
    case Layer::kIp6:
      return pkt.data + GetLayout(pkt).l3_off;
    default:
      return pkt.data + GetLayout(pkt).l4_off;
  }
}

}  // namespace

void ProtocolStack::Core::Handle(Layer layer, Burst burst) {
  for (size_t i = 0; i < burst.size(); i += options.stage_burst) {
    RunStages(layer, burst.subspan(i, std::min<size_t>(options.stage_burst, burst.size() - i)));
  }
}

bool ProtocolStack::Core::DeliverChecked(Layer layer, Burst stage) {
  // Cleared on delivery, so the Layout handed on is the layered chain's,
  // and a packet a handler re-injects with this meta is parsed again. One
  // pass: cleared as checked, set again if a packet was not.
  for (size_t i = 0; i < stage.size(); ++i) {
    uint8_t* checked = CheckedL4(*stage[i]);
    if (*checked == 0) [[unlikely]] {
      for (size_t j = 0; j < i; ++j) *CheckedL4(*stage[j]) = 1;
      return false;
    }
    *checked = 0;
  }
  options.deliver(layer, stage);
  return true;
}

void ProtocolStack::Core::RunStages(Layer layer, Burst stage) {
  if (IsFusedTerminal(layer) && DeliverChecked(layer, stage)) return;
  StageSlots st;
  st.source0 = stage.empty() ? 0 : stage[0]->source;
  if (layer == Layer::kEther && options.fused_ipv4 && !options.ip_hook) {
    ValidateFusedEther(stage, st);
  } else {
    ValidateLayers(layer, stage, st);
  }
  Route(layer, stage, st);
}

// Stage 1 prefetches two descriptors ahead and the next packet's header (its
// descriptor was prefetched one iteration earlier), so that neither miss
// stalls the parser when frames arrive cold from DMA.

void ProtocolStack::Core::ValidateFusedEther(Burst stage, StageSlots& st) {
  // The IPv4 chain in place (ParseEtherFused: its fast path writing the
  // Layout straight into meta); a packet it delivers goes to its terminal
  // layer, which hands it on unparsed. Its own loop, not ValidateLayers':
  // the layer's tests and the Layout on the stack cost ~12 instructions a
  // packet there (callgrind, benchmarks/nic's pipeline).
  const size_t n = stage.size();
  if (n > 1) __builtin_prefetch(stage[1]);
  for (size_t i = 0; i < n; ++i) {
    if (i + 2 < n) __builtin_prefetch(stage[i + 2]);
    if (i + 1 < n) __builtin_prefetch(stage[i + 1]->data);
    Packet& pkt = *stage[i];
    st.other_source |= pkt.source ^ st.source0;
    Layer terminal;
    Step s;
    if (internal::FastPathToMeta(pkt, &terminal, /*checked_l4=*/1)) [[likely]] {
      s = Step::Next(terminal);
    } else {
      Layout l;
      const ChainResult r = internal::EtherLayered(pkt, l);
      s = r.step;
      if (s.kind == Step::Kind::kDeliver) {
        l.checked_l4 = 1;
        s = Step::Next(r.layer);
      }
      SetLayout(pkt, l);
    }
    st.slot[i] = SlotOf(s, drops);
    st.differs |= st.slot[i] ^ st.slot[0];
  }
}

void ProtocolStack::Core::ValidateLayers(Layer layer, Burst stage, StageSlots& st) {
  const size_t n = stage.size();
  const bool fused_ether = layer == Layer::kEther && options.fused_ipv4;
  // The layers that offer IP packets to the hook (see stack.h).
  const bool hooked =
      options.ip_hook && (fused_ether || layer == Layer::kIp || layer == Layer::kIp6);
  // The packets at the hook, in stage order, and their fragment flags.
  std::array<Packet*, kMaxStageBurst> at_hook;
  std::array<uint8_t, kMaxStageBurst> at_hook_index;
  std::array<bool, kMaxStageBurst> fragment;
  size_t n_hook = 0;
  st.other_source = 1;  // not tracked here

  if (n > 1) __builtin_prefetch(stage[1]);
  for (size_t i = 0; i < n; ++i) {
    if (i + 2 < n) __builtin_prefetch(stage[i + 2]);
    if (i + 1 < n) __builtin_prefetch(HeaderOf(layer, *stage[i + 1]));
    Packet& pkt = *stage[i];
    Layout l;
    Step s;
    if (hooked) {
      // The IP header checks only; L4 (and, for a local packet, the
      // fragment and upper-layer checks) after the hook.
      bool frag = false;
      if (fused_ether && internal::Ipv4HeaderFast(pkt, &frag)) {  // Layout into meta
        s = Step::Deliver();
      } else {
        if (fused_ether) {
          s = ParseEther(pkt, l);
          if (s.kind == Step::Kind::kNext && s.next == Layer::kIp)
            s = ParseIpv4Header(pkt, l, &frag);
        } else {
          l = GetLayout(pkt);
          s = layer == Layer::kIp ? ParseIpv4Header(pkt, l, &frag) : ParseIpv6Header(pkt, l, &frag);
        }
        SetLayout(pkt, l);
      }
      if (s.kind == Step::Kind::kDeliver) {
        st.slot[i] = kAtHook;
        fragment[i] = frag;
        at_hook[n_hook] = &pkt;
        at_hook_index[n_hook++] = static_cast<uint8_t>(i);
        continue;
      }
    } else {
      l = GetLayout(pkt);
      if (l.checked_l4 != 0 && IsFusedTerminal(layer)) {
        // Checked by the fused Ethernet layer, in a stage with packets that
        // were not (cleared as in DeliverChecked).
        s = Step::Deliver();
        l.checked_l4 = 0;
        SetLayout(pkt, l);
      } else {
        s = ParseLayer(layer, pkt, l);
        SetLayout(pkt, l);
      }
    }
    st.slot[i] = SlotOf(s, drops);
    st.differs |= st.slot[i] ^ st.slot[0];
  }

  if (n_hook > 0) {
    HookStage(layer, fused_ether, {at_hook.data(), n_hook}, at_hook_index.data(), fragment.data(),
              st.slot.data());
    st.differs = 0;
    for (size_t i = 1; i < n; ++i) st.differs |= st.slot[i] ^ st.slot[0];
  }
}

void ProtocolStack::Core::Route(Layer layer, Burst stage, const StageSlots& st) {
  const size_t n = stage.size();
  const auto& slot = st.slot;
  // A router's stage: the IP hook took every packet. Nothing left to do
  // (the pass below costs ~20 instructions a packet to find nothing;
  // callgrind, `netisr router`).
  if (n > 0 && st.differs == 0 && slot[0] == kTaken) return;
  // The common stage: every packet bound for one place (all TCP from the
  // fused Ethernet layer, all delivered at a terminal layer). The stage is
  // its own group; no sort.
  if (n > 0 && st.differs == 0 && slot[0] != kDropped) {
    if (slot[0] == kDeliverSlot) {
      options.deliver(layer, stage);
    } else if (st.other_source == 0) {  // one RX queue's burst: one run
      nisr.DispatchBurst(st.source0, ids[slot[0]], stage);
    } else {
      DispatchRuns(static_cast<Layer>(slot[0]), stage);
    }
    return;
  }

  // 2. Classify: release drops, counting-sort survivors by slot (stable).
  std::array<uint32_t, kDeliverSlot + 2> start{};
  for (size_t i = 0; i < n; ++i) {
    if (slot[i] == kDropped) {
      Release(stage[i]);
    } else if (slot[i] != kTaken) {
      ++start[slot[i] + 1];
    }
  }
  for (size_t d = 1; d < start.size(); ++d) start[d] += start[d - 1];
  std::array<Packet*, kMaxStageBurst> sorted;
  std::array<uint32_t, kDeliverSlot + 1> fill;
  std::copy(start.begin(), start.end() - 1, fill.begin());
  for (size_t i = 0; i < n; ++i) {
    if (slot[i] != kDropped && slot[i] != kTaken) sorted[fill[slot[i]]++] = stage[i];
  }

  // 3. Dispatch each group.
  for (size_t d = 0; d <= kDeliverSlot; ++d) {
    const Burst group(sorted.data() + start[d], start[d + 1] - start[d]);
    if (group.empty()) continue;
    if (d == kDeliverSlot) {
      options.deliver(layer, group);
    } else {
      DispatchRuns(static_cast<Layer>(d), group);
    }
  }
}

void ProtocolStack::Core::HookStage(Layer layer, bool fused_ether, std::span<Packet* const> pkts,
                                    const uint8_t* index, const bool* fragment, uint8_t* slot) {
  std::array<IpVerdict, kMaxStageBurst> verdict;
  std::fill_n(verdict.begin(), pkts.size(), IpVerdict::kLocal);
  // One family per stage: the fused Ethernet layer offers IPv4 only (IPv6
  // goes on to ip6), the ip and ip6 layers their own.
  options.ip_hook(layer == Layer::kIp6 ? Layer::kIp6 : Layer::kIp, pkts, verdict.data());
  for (size_t k = 0; k < pkts.size(); ++k) {
    const size_t i = index[k];
    if (verdict[k] == IpVerdict::kTaken) {
      slot[i] = kTaken;
      continue;
    }
    if (verdict[k] >= IpVerdict::kDrop) {
      // Released by Route with the parse drops; counted here.
      drops.AddHook(static_cast<size_t>(verdict[k]) - static_cast<size_t>(IpVerdict::kDrop));
      slot[i] = kDropped;
      continue;
    }
    // Local: the rest of the IP layer's checks, then (fused) the upper
    // layer's, as ParseEtherFused's layered path runs them.
    Packet& pkt = *pkts[k];
    Layout l = GetLayout(pkt);
    Step s = FinishIpLocal(l, fragment[i]);
    if (fused_ether && s.kind == Step::Kind::kNext) {
      const Layer terminal = s.next;
      s = ParseLayer(terminal, pkt, l);
      if (s.kind == Step::Kind::kDeliver) {
        l.checked_l4 = 1;
        s = Step::Next(terminal);
      }
      SetLayout(pkt, l);
    }
    slot[i] = SlotOf(s, drops);
  }
}

void ProtocolStack::Core::DispatchRuns(Layer next, Burst pkts) {
  const ProtocolId id = ids[static_cast<size_t>(next)];
  size_t begin = 0;
  for (size_t i = 1; i <= pkts.size(); ++i) {
    if (i == pkts.size() || pkts[i]->source != pkts[begin]->source) {
      nisr.DispatchBurst(pkts[begin]->source, id, pkts.subspan(begin, i - begin));
      begin = i;
    }
  }
}

namespace {

// StackOptions::ip_hook_drops: at most kMaxIpHookDrops names, each nonempty,
// used once, and not a parse reason's (the snapshot would merge them).
Status CheckHookDrops(const std::vector<std::string>& names) {
  auto bad = [](const std::string& why) {
    return Status(ErrorCode::kInvalidArgument, "proto stack: ip_hook_drops: " + why);
  };
  if (names.size() > kMaxIpHookDrops)
    return bad(std::to_string(names.size()) + " reasons, at most " +
               std::to_string(kMaxIpHookDrops));
  for (size_t r = 0; r < names.size(); ++r) {
    const std::string& n = names[r];
    if (n.empty()) return bad("reason " + std::to_string(r) + " has no name");
    if (std::find(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(r), n) !=
        names.begin() + static_cast<std::ptrdiff_t>(r))
      return bad("'" + n + "' named twice");
    bool own = n == kIpHookUnnamedDrop;
    for (size_t p = 0; p < kNumParseDrops && !own; ++p)
      own = n == ToString(static_cast<ParseDrop>(p));
    if (own) return bad("'" + n + "' is a reason of the stack's own");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<ProtocolStack>> ProtocolStack::Register(Netisr& nisr, StackOptions options) {
  if (!options.deliver) {
    return Status(ErrorCode::kInvalidArgument, "proto stack: no deliver function");
  }
  if (options.stage_burst < 1 || options.stage_burst > kMaxStageBurst) {
    return Status(ErrorCode::kInvalidArgument,
                  "proto stack: stage_burst " + std::to_string(options.stage_burst) +
                      " out of range [1, " + std::to_string(kMaxStageBurst) + "]");
  }
  if (Status st = CheckHookDrops(options.ip_hook_drops); !st.ok()) return st;
  auto core = std::make_shared<Core>(nisr, std::move(options));
  for (const LayerSpec& ls : kLayers) {
    ProtocolSpec spec;
    spec.name = std::string(ToString(ls.layer));
    spec.handler = [core, layer = ls.layer](Burst b) { core->Handle(layer, b); };
    spec.policy = ls.policy;
    if (ls.policy == Policy::kFlow) spec.m2flow = SetFlowIdFromHeaders;
    // Ethernet direct under the hybrid mode, but for the fibers model
    // (StackOptions::dispatch).
    const bool ether_direct = ls.layer == Layer::kEther &&
                              core->options.dispatch == DispatchMode::kHybrid &&
                              nisr.model_name() != "fibers";
    spec.dispatch = ether_direct ? DispatchMode::kDirect : core->options.dispatch;
    spec.qlimit = core->options.qlimit;
    auto id = nisr.Register(spec);
    if (!id.ok()) return id.status();
    core->ids[static_cast<size_t>(ls.layer)] = *id;
  }
  return std::unique_ptr<ProtocolStack>(new ProtocolStack(std::move(core)));
}

ProtocolStack::ProtocolStack(std::shared_ptr<Core> core) : core_(std::move(core)) {}
ProtocolStack::~ProtocolStack() = default;

ProtocolId ProtocolStack::id(Layer layer) const { return core_->ids[static_cast<size_t>(layer)]; }

const DropCounters& ProtocolStack::drops() const { return core_->drops; }

}  // namespace netisr::proto
