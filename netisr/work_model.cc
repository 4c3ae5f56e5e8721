#include "netisr/work_model.h"

#include <string>

#include "netisr/internal/work_models.h"

namespace netisr {

Result<std::unique_ptr<WorkModel>> MakeWorkModel(std::string_view name) {
  if (name == "threads") return internal::MakeThreadsModel();
  if (name == "inline") return internal::MakeInlineModel();
  return Status(ErrorCode::kNotFound,
                "unknown work model '" + std::string(name) + "' (choose threads or inline)");
}

}  // namespace netisr
