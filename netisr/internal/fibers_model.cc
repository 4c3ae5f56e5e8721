// The `fibers` work model: cooperative scheduling with Boost.Fiber on one
// pinned thread per workstream, after the rump kernel's idea that a virtual
// CPU is scheduled by its host thread and runs its work to completion.
//
// Each worker thread runs two fibers under Boost.Fiber's default round-robin
// scheduler, which alternates them: "receive" polls the workstream's ingress
// sources (PollSources) and yields; "softirq" runs the queued protocol work
// (DrainQueues) and yields. Deferred work thus runs when the receiving
// fiber yields, as a soft interrupt runs when the interrupted code lets it,
// not on another thread. Fibers are never preempted and never run at once,
// so per-workstream state needs no locks, just as in the threads model.
//
// When a whole round of both fibers found nothing to do, the softirq fiber
// idles as a threads-model worker does (WorkerThreads::SleepUntilWoken): it
// spins, returning every 64 pauses while sources are live so that it yields
// to the receiver, and then sleeps with the WorkerSignal futex handshake
// (timed by idle_sleep_us while sources are live). Blocking the whole
// thread is right: its only other fiber is the receiver, which would find
// nothing either until the timeout or a wake.
//
// Contract for handlers and sources on this model: they must not suspend
// the fiber (no boost::this_fiber::yield, fiber mutexes or channels).
// Otherwise the other fiber could run PollSources inside DrainQueues, which
// WorkerRuntime forbids.
//
// Lifetime: both fibers are joined before the worker's loop returns, and
// Stop joins the threads, so no fiber outlives the thread it runs on (its
// scheduler is thread-local) nor the model it captures.
//
// Sanitizers: Boost 1.74's fcontext switches stacks without telling
// ThreadSanitizer or AddressSanitizer (its fiber annotations exist only in
// the ucontext backend, which Debian's libboost_fiber is not built with);
// see tests/netisr/BUILD for what that means for the tests.
#include <boost/fiber/fiber.hpp>
#include <boost/fiber/operations.hpp>
#include <boost/fiber/protected_fixedsize_stack.hpp>
#include <memory>

#include "netisr/internal/work_models.h"
#include "netisr/internal/worker_threads.h"

namespace netisr::internal {

namespace {

// Handlers run on fiber stacks, so give them what a thread would have
// rather than Boost's 128 KiB default: pages are only committed when
// touched, and the guard page turns an overflow into a fault instead of
// silent corruption of the neighbouring mapping.
constexpr size_t kFiberStackBytes = 1 << 20;

class FibersModel final : public ThreadPerWorkerModel {
 public:
  FibersModel() : ThreadPerWorkerModel(WorkerThreads::Idle::kSleep) {}
  ~FibersModel() override { Stop(); }
  std::string_view name() const override { return "fibers"; }

 private:
  void Loop(int w) override {
    // Whether the receive fiber brought packets in since softirq last
    // looked. Both fibers run on this thread and never at once: plain bool.
    bool received = false;
    auto receive_loop = [&] {
      while (!threads_.stopping()) {
        received |= rt_->PollSources(w);
        boost::this_fiber::yield();
      }
    };
    auto softirq_loop = [&] {
      while (!threads_.stopping()) {
        const bool drained = rt_->DrainQueues(w);
        if (drained || received) {
          threads_.Worked(w);
        } else {
          threads_.SleepUntilWoken(w);
        }
        received = false;
        boost::this_fiber::yield();
      }
    };
    boost::fibers::protected_fixedsize_stack stack(kFiberStackBytes);
    boost::fibers::fiber receive(std::allocator_arg, stack, receive_loop);
    boost::fibers::fiber softirq(std::allocator_arg, stack, softirq_loop);
    // The thread's main context waits here, so `received` and the lambdas
    // outlive both fibers; they end at their next look at the flag (a
    // sleeping softirq is woken by Stop).
    receive.join();
    softirq.join();
  }
};

}  // namespace

std::unique_ptr<WorkModel> MakeFibersModel() { return std::make_unique<FibersModel>(); }

}  // namespace netisr::internal
