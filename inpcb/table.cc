#include "inpcb/table.h"

#include <bit>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "inpcb/internal/access.h"
#include "inpcb/internal/table_base.h"

namespace netisr::inpcb {

const char* ToString(TableStrategy s) {
  switch (s) {
    case TableStrategy::kGlobal:
      return "global";
    case TableStrategy::kGroups:
      return "groups";
    case TableStrategy::kEpoch:
      return "epoch";
    case TableStrategy::kPartitioned:
      return "partitioned";
  }
  return "?";
}

Result<TableStrategy> ParseTableStrategy(std::string_view name) {
  for (TableStrategy s : {TableStrategy::kGlobal, TableStrategy::kGroups, TableStrategy::kEpoch,
                          TableStrategy::kPartitioned}) {
    if (name == ToString(s)) return s;
  }
  return Status(ErrorCode::kInvalidArgument, "unknown table strategy '" + std::string(name) +
                                                 "' (want global, groups, epoch or partitioned)");
}

namespace {

Status OutOfRange(const char* field, uint64_t v, const std::string& bound) {
  return Status(ErrorCode::kInvalidArgument,
                std::string("inpcb: ") + field + " " + std::to_string(v) + " " + bound);
}

}  // namespace

Status Validate(const TableSettings& s) {
  if (s.strategy > TableStrategy::kPartitioned) {
    return OutOfRange("strategy", static_cast<uint64_t>(s.strategy), "is not a TableStrategy");
  }
  if (s.cpus < 1 || s.cpus > 1024) return OutOfRange("cpus", s.cpus, "out of range [1, 1024]");
  if (s.groups < 1 || s.groups > 4096 || !std::has_single_bit(s.groups)) {
    return OutOfRange("groups", s.groups, "is not a power of two in [1, 4096]");
  }
  if (s.flow_buckets < 1 || s.flow_buckets > 65536 || !std::has_single_bit(s.flow_buckets)) {
    return OutOfRange("flow_buckets", s.flow_buckets, "is not a power of two in [1, 65536]");
  }
  if (s.strategy == TableStrategy::kPartitioned && s.flow_buckets < s.cpus) {
    // Partitions past the bucket count would never hold a connection.
    return OutOfRange("flow_buckets", s.flow_buckets,
                      "is fewer than the " + std::to_string(s.cpus) + " partitions");
  }
  if (s.hash_buckets < 16 || s.hash_buckets > (1u << 22) || !std::has_single_bit(s.hash_buckets)) {
    return OutOfRange("hash_buckets", s.hash_buckets, "is not a power of two in [16, 4194304]");
  }
  return Status::Ok();
}

Result<std::unique_ptr<ConnectionTable>> CreateTable(const TableSettings& s) {
  if (Status st = Validate(s); !st.ok()) return st;
  switch (s.strategy) {
    case TableStrategy::kGlobal:
      return internal::NewGlobalTable(s);
    case TableStrategy::kGroups:
      return internal::NewGroupsTable(s);
    case TableStrategy::kEpoch:
      return internal::NewEpochTable(s);
    case TableStrategy::kPartitioned:
      return internal::NewPartitionedTable(s);
  }
  return Status(ErrorCode::kInvalidArgument, "inpcb: unknown strategy");
}

Status ConnectionTable::Remove(const FourTuple& t, uint32_t flowid) {
  // A listener tuple can only match a listener (the connection search
  // needs a foreign end); the wildcard search may return the any-address
  // listener for a specific one, hence the tuple comparison.
  InpcbRef ref = LookupRef(t, flowid, /*wildcard=*/t.listener());
  if (!ref || !(ref->tuple() == t)) {
    return Status(
        ErrorCode::kNotFound,
        std::string("inpcb: no ") + (t.listener() ? "listener " : "connection ") + ToString(t));
  }
  LockedInpcb locked = std::move(ref).Lock();
  return Remove(locked);
}

namespace internal {

void Fatal(const std::string& msg) {
  std::fprintf(stderr, "inpcb: FATAL: %s\n", msg.c_str());
  std::fflush(stderr);
  std::abort();
}

LockedInpcb TableBase::Lookup(const FourTuple& t, uint32_t flowid, bool wildcard) {
  const uint64_t h = TupleHash(t);
  for (;;) {
    Inpcb* inp = FindRef(t, h, flowid, wildcard);
    if (inp == nullptr) return {};
    InpcbAccess::Lock(*inp);
    // removed() is set under the inpcb's lock, so holding it makes this
    // check final: a returned inpcb is linked until the caller unlocks it.
    if (!inp->removed()) return InpcbAccess::AdoptLocked(inp);
    InpcbAccess::Unlock(*inp);
    InpcbAccess::Unref(*inp);
  }
}

InpcbRef TableBase::LookupRef(const FourTuple& t, uint32_t flowid, bool wildcard) {
  const uint64_t h = TupleHash(t);
  for (;;) {
    Inpcb* inp = FindRef(t, h, flowid, wildcard);
    if (inp == nullptr) return {};
    if (!inp->removed()) return InpcbAccess::AdoptRef(inp);
    InpcbAccess::Unref(*inp);
  }
}

Status TableBase::CheckTuple(const FourTuple& t) {
  if (t.family != Family::kIPv4 && t.family != Family::kIPv6) {
    return Status(ErrorCode::kInvalidArgument, "inpcb: address family " +
                                                   std::to_string(static_cast<int>(t.family)) +
                                                   " is neither IPv4 (4) nor IPv6 (6)");
  }
  if (t.family == Family::kIPv4) {
    for (int i = 4; i < 16; ++i) {
      if (t.laddr.bytes[i] != 0 || t.faddr.bytes[i] != 0) {
        return Status(ErrorCode::kInvalidArgument,
                      "inpcb: IPv4 address with bytes set past the first four (use IpAddr::V4)");
      }
    }
  }
  if (t.lport == 0) {
    return Status(ErrorCode::kInvalidArgument, "inpcb: local port 0 in " + ToString(t));
  }
  if (t.listener()) return Status::Ok();
  if (t.fport == 0) {
    return Status(ErrorCode::kInvalidArgument, "inpcb: foreign port 0 in " + ToString(t));
  }
  if (t.faddr.any()) {
    return Status(ErrorCode::kInvalidArgument,
                  "inpcb: connection with a wildcard foreign address: " + ToString(t));
  }
  if (t.laddr.any()) {
    return Status(ErrorCode::kInvalidArgument,
                  "inpcb: connection with a wildcard local address: " + ToString(t));
  }
  return Status::Ok();
}

Status TableBase::CheckCpu(int cpu, uint32_t cpus) {
  if (cpu < -1 || cpu >= static_cast<int>(cpus)) {
    return Status(ErrorCode::kInvalidArgument, "inpcb: ThreadEnter cpu " + std::to_string(cpu) +
                                                   " out of range [-1, " + std::to_string(cpus) +
                                                   ")");
  }
  return Status::Ok();
}

Status TableBase::NotFound(const Inpcb& inp) {
  return Status(ErrorCode::kNotFound, "inpcb: " + ToString(inp.tuple()) + " was already removed");
}

Status TableBase::EmptyRemove() {
  return Status(ErrorCode::kInvalidArgument, "inpcb: Remove of an empty LockedInpcb");
}

Status TableBase::Duplicate(const FourTuple& t) {
  return Status(ErrorCode::kAlreadyExists, std::string("inpcb: ") +
                                               (t.listener() ? "listener " : "connection ") +
                                               ToString(t) + " already exists");
}

uint32_t ChainsPerTable(const TableSettings& s, uint32_t tables) {
  const uint32_t per = s.hash_buckets / tables;
  return per == 0 ? 1 : std::bit_floor(per);
}

}  // namespace internal

void InputSection::End() {
  if (table_ != nullptr) table_->EndInput();
  table_ = nullptr;
}

}  // namespace netisr::inpcb
