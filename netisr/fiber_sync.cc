// Event, Mutex and Yield over the fibers model's FiberWorker. See
// fiber_sync.h for the rules and internal/fibers_model.cc for the model.
// Waiters are kept in FIFO lists of nodes on their own stacks; everything
// here runs on one worker thread, so plain fields suffice.
#include "netisr/fiber_sync.h"

#include <boost/fiber/operations.hpp>

#include "netisr/internal/fiber_worker.h"

namespace netisr::fiber {

namespace {

using internal::WaitList;
using internal::WaitNode;
using netisr::internal::FiberFrame;
using netisr::internal::tls_fiber_frame;

void Append(WaitList& l, WaitNode* n) {
  n->next = nullptr;
  if (l.tail != nullptr) {
    l.tail->next = n;
  } else {
    l.head = n;
  }
  l.tail = n;
}

WaitNode* PopFront(WaitList& l) {
  WaitNode* n = l.head;
  if (n == nullptr) return nullptr;
  l.head = n->next;
  if (l.head == nullptr) l.tail = nullptr;
  n->next = nullptr;
  return n;
}

void Remove(WaitList& l, WaitNode* n) {
  WaitNode* prev = nullptr;
  for (WaitNode* c = l.head; c != nullptr; prev = c, c = c->next) {
    if (c != n) continue;
    (prev != nullptr ? prev->next : l.head) = c->next;
    if (l.tail == c) l.tail = prev;
    c->next = nullptr;
    return;
  }
}

Status CannotWait(const char* what) {
  return Status(ErrorCode::kFailedPrecondition,
                std::string(what) +
                    " would block where the caller cannot wait (only handlers a fibers-model "
                    "worker runs from its queues may wait, not direct dispatch, sources or "
                    "other work models)");
}

// Links a node for the caller into `l` and blocks on it; unlinks it unless
// it was woken (a waker unlinks what it wakes).
Status BlockOn(WaitList& l) {
  WaitNode n;
  n.worker = tls_fiber_frame.worker;
  Append(l, &n);
  Status st = n.worker->Block(n);
  if (!n.woken) Remove(l, &n);
  return st;
}

}  // namespace

bool CanWait() {
  const FiberFrame& f = tls_fiber_frame;
  return f.worker != nullptr && f.drain && f.no_wait == 0 && !f.worker->cancelling();
}

bool Yield() { return CanWait() && tls_fiber_frame.worker->YieldOnce(); }

void Event::Set() {
  set_ = true;
  while (WaitNode* n = PopFront(waiters_)) n->worker->Wake(*n);
}

Status Event::Wait() {
  if (set_) return Status::Ok();
  if (!CanWait()) return CannotWait("fiber::Event::Wait");
  return BlockOn(waiters_);
}

bool Mutex::TryLock() {
  if (locked_) return false;
  locked_ = true;
  return true;
}

Status Mutex::Lock() {
  if (TryLock()) return Status::Ok();
  if (!CanWait()) return CannotWait("fiber::Mutex::Lock");
  // Woken means Unlock handed the mutex over: locked_ stayed true for us.
  return BlockOn(waiters_);
}

void Mutex::Unlock() {
  if (WaitNode* n = PopFront(waiters_)) {
    n->worker->Wake(*n);  // locked_ stays true: the waiter holds it now
  } else {
    locked_ = false;
  }
}

}  // namespace netisr::fiber

namespace netisr::internal {

Status FiberWorker::Block(fiber::internal::WaitNode& n) {
  if (cancelling_) return Status(ErrorCode::kFailedPrecondition, "worker stopping");
  if (!OnBlock()) {
    return Status(ErrorCode::kResourceExhausted,
                  "already " + std::to_string(fiber::kMaxWaitingHandlers) +
                      " handlers wait on this worker (fiber::kMaxWaitingHandlers)");
  }
  FlushCurrentProducer();
  const FiberFrame saved = tls_fiber_frame;
  NullLock lock;
  while (!n.woken && !cancelling_) cv_.wait(lock);
  tls_fiber_frame = saved;
  OnUnblock();
  // A hand-off that raced with Cancel still counts: the waiter owns it.
  if (n.woken) return Status::Ok();
  return Status(ErrorCode::kFailedPrecondition, "worker stopping");
}

bool FiberWorker::YieldOnce() {
  // The same hand-off as a wait: without it the yielding fiber stays the
  // only drainer, and nothing but the receive fiber runs while it yields,
  // so a handler yielding until another lane's handler acts never returns.
  if (cancelling_ || !OnBlock()) return false;
  FlushCurrentProducer();
  // This fiber is ready again at once: the drainer must not sleep on the
  // futex before it runs.
  woken_ = true;
  const FiberFrame saved = tls_fiber_frame;
  boost::this_fiber::yield();
  tls_fiber_frame = saved;
  OnUnblock();
  return !cancelling_;
}

void FiberWorker::Wake(fiber::internal::WaitNode& n) {
  n.woken = true;
  woken_ = true;
  cv_.notify_all();
}

void FiberWorker::Cancel() {
  cancelling_ = true;
  cv_.notify_all();
}

}  // namespace netisr::internal
