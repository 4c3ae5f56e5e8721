// MakeWorkModel: the one place that maps a model's name to its constructor.
#include "netisr/work_model.h"

#include <string>

#include "netisr/internal/work_models.h"

namespace netisr {

Result<std::unique_ptr<WorkModel>> MakeWorkModel(std::string_view name) {
  if (name == "threads") return internal::MakeThreadsModel();
  if (name == "inline") return internal::MakeInlineModel();
  if (name == "poll") return internal::MakePollModel();
  if (name == "fibers") return internal::MakeFibersModel();
  return Status(ErrorCode::kNotFound, "unknown work model '" + std::string(name) +
                                          "' (choose threads, poll, fibers or inline)");
}

}  // namespace netisr
