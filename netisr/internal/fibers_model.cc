// The `fibers` work model: cooperative scheduling with Boost.Fiber on one
// pinned thread per workstream, after the rump kernel's idea that a virtual
// CPU is scheduled by its host thread and that a thread which blocks gives
// the CPU to another. What it offers over `threads`: a protocol handler may
// wait (netisr/fiber_sync.h: fiber::Event, fiber::Mutex, fiber::Yield), and
// the worker runs its other protocol work meanwhile, on the same thread,
// with no lock for per-CPU state.
//
// Fibers of one worker (all on its thread, never preempted, never at once):
//  * "receive" polls the workstream's ingress sources (PollSources) and
//    yields. Direct-dispatched handlers run here and may not wait.
//  * drain fibers run the queued protocol work (DrainQueues). Exactly one
//    is active at a time unless a handler waits: when the last active one
//    blocks in a wait, another is started (or a parked one resumed) so the
//    queues keep draining; when a waiter resumes, the surplus drainer parks
//    at the top of its next round. At most fiber::kMaxWaitingHandlers wait.
//
// Rules for the dispatcher's per-worker state while a handler waits:
//  * Lane: a lane whose handler waits is busy (Lane::busy): no other fiber
//    pops it until the handler returns, and its `handled` count moves only
//    then, by the waiting burst's size. So its later packets (the same flow
//    from the same producer) stay behind it: queued ones in the ring, and
//    the producer's later ones, whose LaneDrainedTo / outstanding checks
//    still see the waiting burst in flight, queue behind it instead of
//    running directly or moving to another CPU. Other lanes (other
//    producers, other protocols) run.
//  * Workstream::draining and ::dispatching count handler runs in
//    progress on the worker, waiting ones included, so every fiber's
//    dispatch sees the worker as running handlers (the order fence) and
//    holding the workstream (hybrid queues instead of recursing), and
//    interleaved runs keep the counts balanced.
//  * Producer (chunk, buckets, wake_mask, feedback): only queued handlers
//    wait, and they run outside any Enter of the worker's producer; a
//    handler run inside Enter (direct dispatch, nested or not) may not wait
//    (NoWaitScope; fiber_sync.h), so Enter calls on one producer still nest
//    strictly (LIFO), as they did with one fiber. `chunk` only grows, so
//    chunk numbers stay unique however fibers interleave between Enters.
//    wake_mask is flushed before a fiber blocks (FlushCurrentProducer), so
//    a wait never holds back a wakeup the handler's dispatches owe.
//  * Load metering: a waiting handler's burst counts its wall time as busy
//    and service time, wait included, and the worker's other work during
//    the wait counts too; busy may so read high while handlers wait.
//
// When a whole round found nothing to do (no packet drained or received and
// no waiter woken), the active drainer idles as a threads-model worker does
// (WorkerThreads::SleepUntilWoken): it spins, returning every 64 pauses
// while sources are live so that it yields to the receiver, and then sleeps
// with the WorkerSignal futex handshake (timed by idle_sleep_us while
// sources are live). Blocking the whole thread is right: the receiver would
// find nothing either until the timeout or a wake, and a waiting handler can
// only be woken by work this thread runs. While a waiting handler's lane has
// packets queued behind it, HasQueued stays true and the idle drainer spins
// rather than sleeps.
//
// Stop: the active drainer that sees the stop flag cancels every wait
// (FiberWorker::Cancel: waits in progress and later ones return "worker
// stopping"), wakes parked drainers, and every fiber then leaves its loop;
// the thread's main context waits for all of them, and Stop joins the
// threads, so no fiber outlives its thread (its scheduler is thread-local)
// or the model it captures.
//
// Sanitizers: Boost 1.74's fcontext switches stacks without telling
// ThreadSanitizer or AddressSanitizer (its fiber annotations exist only in
// the ucontext backend, which Debian's libboost_fiber is not built with);
// see tests/netisr/BUILD for what that means for the tests.
#include <boost/fiber/condition_variable.hpp>
#include <boost/fiber/fiber.hpp>
#include <boost/fiber/operations.hpp>
#include <boost/fiber/protected_fixedsize_stack.hpp>
#include <memory>

#include "netisr/fiber_sync.h"
#include "netisr/internal/fiber_worker.h"
#include "netisr/internal/work_models.h"
#include "netisr/internal/worker_threads.h"

namespace netisr::internal {

namespace {

// Handlers run on fiber stacks, so give them what a thread would have
// rather than Boost's 128 KiB default: pages are only committed when
// touched, and the guard page turns an overflow into a fault instead of
// silent corruption of the neighbouring mapping.
constexpr size_t kFiberStackBytes = 1 << 20;

class FibersModel;

// One worker's fibers; lives on its thread's stack for the whole Loop and
// is touched only by that thread (no locks, no atomics).
class WorkerFibers final : public FiberWorker {
 public:
  WorkerFibers(WorkerRuntime& rt, WorkerThreads& threads, int w)
      : rt_(rt), threads_(threads), w_(w), stack_(kFiberStackBytes) {}

  // Runs the worker until Stop; returns once all its fibers have ended.
  void Run() {
    Spawn([this] { ReceiveLoop(); });
    ++active_;
    Spawn([this] { DrainLoop(); });
    NullLock lock;
    while (live_ > 0) done_.wait(lock);
  }

 protected:
  bool OnBlock() override {
    if (waiting_ >= fiber::kMaxWaitingHandlers) return false;
    if (active_ == 1) {
      // The blocking fiber was the last to drain the queues: hand over.
      ++active_;
      if (parked_ > 0) {
        ++unpark_;
        park_.notify_one();
      } else {
        Spawn([this] { DrainLoop(); });
      }
    }
    --active_;
    ++waiting_;
    return true;
  }
  void OnUnblock() override {
    --waiting_;
    ++active_;
  }

 private:
  template <typename Fn>
  void Spawn(Fn fn) {
    ++live_;
    boost::fibers::fiber(std::allocator_arg, stack_, [this, fn] {
      fn();
      --live_;
      done_.notify_all();
    }).detach();
  }

  void ReceiveLoop() {
    const FiberFrame mine{this, /*drain=*/false, 0};
    tls_fiber_frame = mine;
    while (!threads_.stopping()) {
      received_ |= rt_.PollSources(w_);
      boost::this_fiber::yield();
      tls_fiber_frame = mine;
    }
  }

  void DrainLoop() {
    const FiberFrame mine{this, /*drain=*/true, 0};
    tls_fiber_frame = mine;
    while (!threads_.stopping()) {
      if (active_ > 1 && !Park()) break;
      tls_fiber_frame = mine;
      const bool drained = rt_.DrainQueues(w_);
      const bool woken = TakeWoken();
      if (drained || received_ || woken) {
        threads_.Worked(w_);
      } else {
        threads_.SleepUntilWoken(w_);
      }
      received_ = false;
      boost::this_fiber::yield();
      tls_fiber_frame = mine;
    }
    // The first drainer out ends every wait, so that waiting handlers
    // return and their fibers see the flag too.
    if (!cancelling()) {
      Cancel();
      unpark_ += parked_;
      park_.notify_all();
    }
  }

  // A surplus drainer waits here until OnBlock needs it again; false when
  // woken to stop instead.
  bool Park() {
    --active_;
    ++parked_;
    NullLock lock;
    while (unpark_ == 0 && !cancelling()) park_.wait(lock);
    --parked_;
    if (unpark_ > 0) --unpark_;
    if (cancelling()) return false;
    // OnBlock counted this fiber active already.
    return true;
  }

  WorkerRuntime& rt_;
  WorkerThreads& threads_;
  const int w_;
  boost::fibers::protected_fixedsize_stack stack_;
  // Whether the receive fiber brought packets in since the active drainer
  // last looked.
  bool received_ = false;
  int live_ = 0;     // fibers started and not yet ended
  int active_ = 0;   // drain fibers neither waiting in a handler nor parked
  int waiting_ = 0;  // drain fibers blocked in a handler's wait
  int parked_ = 0;   // surplus drain fibers parked for reuse
  int unpark_ = 0;   // parked drainers asked to resume and not yet resumed
  boost::fibers::condition_variable_any park_;
  boost::fibers::condition_variable_any done_;
};

class FibersModel final : public ThreadPerWorkerModel {
 public:
  FibersModel() : ThreadPerWorkerModel(WorkerThreads::Idle::kSleep) {}
  ~FibersModel() override { Stop(); }
  std::string_view name() const override { return "fibers"; }

 private:
  void Loop(int w) override {
    WorkerFibers fibers(*rt_, threads_, w);
    fibers.Run();
    tls_fiber_frame = FiberFrame{};
  }
};

}  // namespace

std::unique_ptr<WorkModel> MakeFibersModel() { return std::make_unique<FibersModel>(); }

}  // namespace netisr::internal
