// Stats as JSON (nlohmann), apart from stats.h so that including netisr.h
// does not pull in the JSON library. Keys are the `netisr` object of
// `netisr run --json` (README.md).
#pragma once

#include <nlohmann/json.hpp>

#include "netisr/stats.h"

namespace netisr {

nlohmann::json ToJson(const Stats& s);

}  // namespace netisr
