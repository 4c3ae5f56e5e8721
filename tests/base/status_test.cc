// Status and Result: the error value and the value-or-error every fallible
// call returns.
#include "base/status.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>

namespace netisr {
namespace {

TEST(Status, DefaultIsOk) {
  const Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kOk);
  EXPECT_EQ(s.ToString(), "ok");
  EXPECT_TRUE(Status::Ok().ok());
}

TEST(Status, ErrorKeepsCodeAndMessage) {
  const Status s(ErrorCode::kInvalidArgument, "qlimit 0 out of range [1, 10240]");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "qlimit 0 out of range [1, 10240]");
  EXPECT_EQ(s.ToString(), s.message());
}

TEST(Result, HoldsAValue) {
  Result<int> r(42);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.status().ok());
  EXPECT_EQ(r.value(), 42);
  EXPECT_EQ(*r, 42);
  *r = 7;
  EXPECT_EQ(r.value(), 7);
}

TEST(Result, HoldsAnError) {
  const Result<int> r(Status(ErrorCode::kNotFound, "no protocol 9"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(r.status().message(), "no protocol 9");
}

TEST(Result, MovesAMoveOnlyValueOut) {
  Result<std::unique_ptr<std::string>> r(std::make_unique<std::string>("frame"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->get()->size(), 5u);
  std::unique_ptr<std::string> p = std::move(r).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, "frame");
}

}  // namespace
}  // namespace netisr
