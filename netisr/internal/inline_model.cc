// The `inline` work model: no threads. The caller drives every worker in
// index order through Pump(), so a run is a deterministic function of its
// inputs — what tests and the simulator need. Wake is a no-op: nothing ever
// sleeps.
#include "netisr/internal/work_models.h"

namespace netisr::internal {

namespace {

class InlineModel final : public WorkModel {
 public:
  std::string_view name() const override { return "inline"; }
  bool self_driven() const override { return false; }
  Status Start(WorkerRuntime& rt) override {
    rt_ = &rt;
    return Status::Ok();
  }
  void Wake(int) override {}
  bool sleeps() const override { return false; }
  void Stop() override {}
  bool Pump() override {
    bool did = false;
    for (int w = 0; w < rt_->num_workers(); ++w) did |= rt_->RunOnce(w);
    return did;
  }

 private:
  WorkerRuntime* rt_ = nullptr;
};

}  // namespace

std::unique_ptr<WorkModel> MakeInlineModel() { return std::make_unique<InlineModel>(); }

}  // namespace netisr::internal
