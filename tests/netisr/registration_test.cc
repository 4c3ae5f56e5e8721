// Registration, settings and work-model selection reject bad input with a
// message that names what was wrong, and leave the dispatcher usable.
#include <gtest/gtest.h>

#include <cmath>

#include "netisr/netisr.h"
#include "tests/netisr/test_util.h"

namespace netisr::testing {
namespace {

ProtocolSpec Valid(const std::string& name) {
  ProtocolSpec s;
  s.name = name;
  s.handler = [](Burst b) {
    for (Packet* p : b) Release(p);
  };
  return s;
}

class Registration : public ::testing::Test {
 protected:
  void SetUp() override {
    Settings s = UnboundWorkers(2);
    s.max_qlimit = 1000;
    nisr_ = MakeNetisr("inline", s);
    ASSERT_NE(nisr_, nullptr);
  }
  void ExpectError(const ProtocolSpec& spec, ErrorCode code, const std::string& needle) {
    auto r = nisr_->Register(spec);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), code);
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  }
  std::unique_ptr<Netisr> nisr_;
};

TEST_F(Registration, AssignsDenseIdsAndFindsByName) {
  auto a = nisr_->Register(Valid("ip"));
  auto b = nisr_->Register(Valid("ip6"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, 0);
  EXPECT_EQ(*b, 1);
  EXPECT_EQ(*nisr_->Find("ip6"), 1);
  EXPECT_EQ(nisr_->Find("arp").status().code(), ErrorCode::kNotFound);
}

TEST_F(Registration, RejectsDuplicate) {
  ASSERT_TRUE(nisr_->Register(Valid("ip")).ok());
  ExpectError(Valid("ip"), ErrorCode::kAlreadyExists, "already registered");
}

TEST_F(Registration, RejectsBadNameAndMissingHandler) {
  ExpectError(Valid(""), ErrorCode::kInvalidArgument, "name");
  ExpectError(Valid(std::string(32, 'x')), ErrorCode::kInvalidArgument, "1..31");
  ProtocolSpec s = Valid("nohandler");
  s.handler = nullptr;
  ExpectError(s, ErrorCode::kInvalidArgument, "no handler");
}

TEST_F(Registration, RejectsCpuPolicyWithoutM2cpuid) {
  ProtocolSpec s = Valid("tcp");
  s.policy = Policy::kCpu;
  ExpectError(s, ErrorCode::kInvalidArgument, "m2cpuid");
}

TEST_F(Registration, RejectsQlimitAboveMax) {
  ProtocolSpec s = Valid("big");
  s.qlimit = 1001;
  ExpectError(s, ErrorCode::kInvalidArgument, "qlimit 1001 out of range [1, 1000]");
}

TEST_F(Registration, RejectsSeventeenthProtocol) {
  for (int i = 0; i < kMaxProtocols; ++i) {
    ASSERT_TRUE(nisr_->Register(Valid("p" + std::to_string(i))).ok());
  }
  ExpectError(Valid("one-too-many"), ErrorCode::kResourceExhausted, "16 protocol slots");
}

TEST_F(Registration, UnknownProtocolIsDroppedAndCounted) {
  auto pool = MakePool(4);
  Netisr::ProducerScope scope(*nisr_);
  ASSERT_TRUE(scope.status().ok());
  EXPECT_EQ(nisr_->DispatchSrc(0, 7, pool->Alloc()), Outcome::kDropped);
  EXPECT_EQ(nisr_->GetStats().drops.at("no_protocol"), 1u);
  EXPECT_EQ(pool->available(), pool->capacity());
}

TEST_F(Registration, CallerWithoutProducerIsDroppedAndCounted) {
  auto pool = MakePool(4);
  auto id = nisr_->Register(Valid("ip"));
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(nisr_->DispatchSrc(0, *id, pool->Alloc()), Outcome::kDropped);
  EXPECT_EQ(nisr_->GetStats().drops.at("no_producer"), 1u);
  EXPECT_EQ(pool->available(), pool->capacity());
}

TEST_F(Registration, ExternalProducerSlotsAreBounded) {
  std::vector<std::unique_ptr<Netisr::ProducerScope>> scopes;
  for (int i = 0; i < nisr_->settings().max_external_producers; ++i) {
    scopes.push_back(std::make_unique<Netisr::ProducerScope>(*nisr_));
    EXPECT_TRUE(scopes.back()->status().ok());
  }
  Netisr::ProducerScope extra(*nisr_);
  EXPECT_EQ(extra.status().code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(extra.status().message().find("max_external_producers"), std::string::npos);
}

TEST_F(Registration, FlowAffinityChecksProtocolAndWorkstream) {
  auto id = nisr_->Register(Valid("tcp"));
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(nisr_->SetFlowAffinity(*id, 42, 1).ok());
  EXPECT_TRUE(nisr_->ClearFlowAffinity(*id, 42).ok());
  EXPECT_EQ(nisr_->SetFlowAffinity(*id, 42, 2).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(nisr_->SetFlowAffinity(5, 42, 0).code(), ErrorCode::kNotFound);
}

TEST_F(Registration, AttachSourceChecksWorkerAndState) {
  auto pool = MakePool(4);
  SeqSource src(*pool, 0, 0, {1}, 1);
  EXPECT_EQ(nisr_->AttachSource(2, &src).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(nisr_->AttachSource(0, nullptr).code(), ErrorCode::kInvalidArgument);
  ASSERT_TRUE(nisr_->Start().ok());
  EXPECT_EQ(nisr_->AttachSource(0, &src).code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(nisr_->Start().code(), ErrorCode::kFailedPrecondition);
}

TEST(Settings, ValidateNamesTheField) {
  struct Case {
    void (*mutate)(Settings&);
    const char* needle;
  } cases[] = {
      {[](Settings& s) { s.max_threads = 65; }, "max_threads 65 out of range [0, 64]"},
      {[](Settings& s) { s.max_threads = -1; }, "max_threads"},
      {[](Settings& s) { s.default_qlimit = 0; }, "default_qlimit 0"},
      {[](Settings& s) { s.default_qlimit = 20000; },
       "default_qlimit 20000 out of range [1, 10240]"},
      {[](Settings& s) { s.max_qlimit = 0; }, "max_qlimit"},
      {[](Settings& s) { s.burst = 0; }, "burst 0"},
      {[](Settings& s) { s.burst = 257; }, "burst 257"},
      {[](Settings& s) { s.idle_sleep_us = 0; }, "idle_sleep_us"},
      {[](Settings& s) { s.max_external_producers = 65; }, "max_external_producers"},
      {[](Settings& s) { s.flow_buckets = 100; }, "flow_buckets 100 must be a power of two"},
      {[](Settings& s) { s.adaptive.busy_low = 0.95; }, "adaptive.busy_low/busy_high"},
      {[](Settings& s) { s.adaptive.delay_high_ns = 1; }, "adaptive.delay_low_ns"},
      {[](Settings& s) { s.adaptive.load_window_ns = 5; }, "adaptive.load_window_ns 5"},
      {[](Settings& s) { s.adaptive.load_alpha = 0; }, "adaptive.load_alpha"},
      {[](Settings& s) { s.adaptive.migration_step = -0.25; }, "migration_step -0.25"},
      {[](Settings& s) { s.adaptive.migration_step = 65; }, "out of range [0, 64]"},
      {[](Settings& s) { s.adaptive.migration_step = std::nan(""); }, "adaptive.migration_step"},
      {[](Settings& s) { s.adaptive.backpressure_fill = 0; }, "adaptive.backpressure_fill"},
      {[](Settings& s) { s.adaptive.spill_fill = 1.5; }, "adaptive.spill_fill"},
      {[](Settings& s) { s.adaptive.full_polls_high = 0; }, "adaptive.full_polls_high"},
  };
  for (const Case& c : cases) {
    Settings s;
    c.mutate(s);
    const Status st = Validate(s);
    EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(st.message().find(c.needle), std::string::npos) << st.message();
    auto model = MakeWorkModel("inline");
    EXPECT_FALSE(Netisr::Create(s, std::move(model).value()).ok());
  }
  EXPECT_TRUE(Validate(Settings{}).ok());
  for (double step : {0.0, 64.0}) {  // both ends of the bound are valid
    Settings s;
    s.adaptive.migration_step = step;
    EXPECT_TRUE(Validate(s).ok()) << step;
  }
}

TEST(WorkModels, UnknownNameIsRejected) {
  auto m = MakeWorkModel("fibres");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(m.status().message().find("'fibres'"), std::string::npos);
  for (const char* name : {"threads", "poll", "fibers", "inline"}) {
    // The error lists every choice, and every choice builds that model.
    EXPECT_NE(m.status().message().find(name), std::string::npos) << name;
    auto model = MakeWorkModel(name);
    ASSERT_TRUE(model.ok()) << name;
    EXPECT_EQ((*model)->name(), name);
  }
}

TEST(Names, PolicyAndModeRoundTrip) {
  for (Policy p : {Policy::kSource, Policy::kFlow, Policy::kCpu})
    EXPECT_EQ(ParsePolicy(ToString(p)), p);
  for (DispatchMode m : {DispatchMode::kDirect, DispatchMode::kDeferred, DispatchMode::kHybrid,
                         DispatchMode::kAdaptive})
    EXPECT_EQ(ParseDispatchMode(ToString(m)), m);
  EXPECT_FALSE(ParsePolicy("random").has_value());
  EXPECT_FALSE(ParseDispatchMode("adaptiv").has_value());
}

}  // namespace
}  // namespace netisr::testing
