// Clang thread-safety analysis attributes (-Wthread-safety; `bazel build
// --config=tsa`), after the macros of clang's ThreadSafetyAnalysis
// documentation. They expand to nothing on GCC, which has no such analysis.
//
// What the project annotates with them:
//  * lockprof's locks (Mutex, SpinLock, SharedMutex, PlainMutex)
//    are capabilities; their guards (lockprof::MutexLock, ReaderLock,
//    UniqueLock in lock.h) are scoped capabilities. std::lock_guard and
//    friends are not annotated in libstdc++, so code that wants a field
//    checked takes its lock through lockprof's guards.
//  * a field a lock protects carries GUARDED_BY(lock) (PT_GUARDED_BY for
//    what a pointer field points to); a function that expects the caller to
//    hold a lock carries REQUIRES(lock).
//  * what the analysis cannot follow (RCU/epoch readers, a lock handed from
//    one function to another in a holder object, locks picked at run time)
//    gets the narrowest escape: ASSERT_CAPABILITY on a no-op that vouches
//    for one lock, or NO_THREAD_SAFETY_ANALYSIS on one function, each with a
//    comment saying why.
//  * clang does not analyse constructors and destructors (the object is
//    taken to be unshared there): a destructor that takes a lock to reach
//    shared state calls a function that does it (netisr/packet.cc FreeSlot).
//  * lock order: ACQUIRED_BEFORE/AFTER where both locks are nameable from
//    one declaration (clang checks it only with -Wthread-safety-beta, which
//    the tsa config leaves off, so it is documentation the compiler parses).
#pragma once

#if defined(__clang__)
#define NETISR_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define NETISR_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) NETISR_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY NETISR_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) NETISR_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) NETISR_THREAD_ANNOTATION(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) NETISR_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) NETISR_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define REQUIRES(...) NETISR_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) NETISR_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE(...) NETISR_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) NETISR_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) NETISR_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) NETISR_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...) NETISR_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) NETISR_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define TRY_ACQUIRE_SHARED(...) NETISR_THREAD_ANNOTATION(try_acquire_shared_capability(__VA_ARGS__))
#define EXCLUDES(...) NETISR_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) NETISR_THREAD_ANNOTATION(assert_capability(x))
#define ASSERT_SHARED_CAPABILITY(x) NETISR_THREAD_ANNOTATION(assert_shared_capability(x))
#define RETURN_CAPABILITY(x) NETISR_THREAD_ANNOTATION(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS NETISR_THREAD_ANNOTATION(no_thread_safety_analysis)
