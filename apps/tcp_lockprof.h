// `netisr lockprof --tcp`: the churn, steady and synflood workloads as real
// TCP connections between two tcp::Hosts in one process, each on its own
// Netisr with --workers workers, joined by an in-memory WirePort pair
// (tcp/wire_port.h), so that the lock profile is that of real TCP input
// (engine, connection table, TX) rather than of table operations alone.
//
//   client host (10.0.0.2)  --wire-->  server host (10.0.0.1:80, echo)
//
// The table strategy (and --groups) applies to both hosts. Each client
// workstream keeps its share of --connections open (an on_poll hook, so on
// its worker); a connection sends --segments messages of kMessageBytes, one
// at a time, each echoed back before the next (churn, synflood: then it
// closes and a new one opens; steady: it goes on until the end). synflood
// adds SYNs from random sources in 172.16/12 (--flood-share of the segments
// the client sends), which the server answers (SYN-ACK or SYN cookie) and
// the client host resets as segments of no connection. Generation lasts
// --duration; then open connections are given kDrainSeconds to finish.
// Counted: connections completed and failed, connections/s, the server's
// segments, both hosts' conservation.
#pragma once

#include "apps/lockprof_command.h"
#include "base/status.h"

namespace netisr::apps {

// Options already validated (ValidateLockprofOptions).
Result<LockprofReport> RunTcpLockprof(const LockprofOptions& o);

}  // namespace netisr::apps
