// The class registry's bound: names past kMaxClasses share the overflow
// class, with a warning naming each one. Its own binary: it fills the
// registry.
#include <gtest/gtest.h>

#include <deque>
#include <mutex>
#include <set>
#include <string>

#include "lockprof/lock.h"
#include "tests/lockprof/test_util.h"

namespace netisr::lockprof {
namespace {

using testing::StatsOf;

TEST(ClassBoundTest, NamesPastTheBoundShareTheOverflowClass) {
  LOCKPROF_SKIP_IF_COMPILED_OUT();
  std::deque<std::string> names;
  std::deque<LockClass> classes;  // LockClass does not move; deque never moves elements
  std::set<uint32_t> ids;
  for (uint32_t i = 0; i < kMaxClasses; ++i) {
    names.push_back("bound.class." + std::to_string(i));
    ids.insert(classes.emplace_back(names.back().c_str()).id());
  }
  EXPECT_EQ(ids.size(), size_t{kMaxClasses});
  EXPECT_EQ(*ids.rbegin(), kMaxClasses - 1);

  ::testing::internal::CaptureStderr();
  const LockClass past1("bound.past.1");
  const LockClass past2("bound.past.2");
  EXPECT_EQ(past1.id(), kOverflowClassId);
  EXPECT_EQ(past2.id(), kOverflowClassId);
  const std::string warnings = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(warnings.find("\"bound.past.1\" is past the bound of 256 classes"), std::string::npos)
      << warnings;
  EXPECT_NE(warnings.find("\"bound.past.2\""), std::string::npos) << warnings;

  // Registered names still resolve to their own ids.
  const LockClass again("bound.class.7");
  EXPECT_EQ(again.id(), classes[7].id());

  Mutex a(past1), b(past2);
  { std::lock_guard<Mutex> g(a); }
  { std::lock_guard<Mutex> g(b); }
  EXPECT_EQ(StatsOf("lockprof.overflow").acquisitions, 2u);
}

}  // namespace
}  // namespace netisr::lockprof
