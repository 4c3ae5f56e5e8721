// Constructors of the shipped work models; MakeWorkModel picks by name.
#pragma once

#include <memory>

#include "netisr/work_model.h"

namespace netisr::internal {

std::unique_ptr<WorkModel> MakeThreadsModel();
std::unique_ptr<WorkModel> MakeInlineModel();
std::unique_ptr<WorkModel> MakePollModel();
std::unique_ptr<WorkModel> MakeFibersModel();

}  // namespace netisr::internal
