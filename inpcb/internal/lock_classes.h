// The inpcb component's lock classes (lockprof names, see table.h for the
// order they are taken in).
#pragma once

#include "lockprof/lock.h"

namespace netisr::inpcb::internal {

inline constinit lockprof::LockClass kConnLock("inpcb.conn");
inline constinit lockprof::LockClass kInfoLock("inpcb.info");
inline constinit lockprof::LockClass kGroupLock("inpcb.group");
inline constinit lockprof::LockClass kListenLock("inpcb.listen");
inline constinit lockprof::LockClass kEpochWriterLock("inpcb.epoch.writer");
// qsbr::Barrier's handshake with the call_rcu thread (tests, shutdown).
inline constinit lockprof::LockClass kBarrierLock("inpcb.barrier");

}  // namespace netisr::inpcb::internal
