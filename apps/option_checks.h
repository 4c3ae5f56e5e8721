// Range and choice checks shared by the subcommands' option validation, so
// that every flag error reads the same: "--flag VALUE out of range [lo, hi]"
// or "--flag 'x' is not one of: a, b, c".
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"

namespace netisr::apps {

Status Invalid(std::string message);

// An integer flag that must lie in [lo, hi].
struct Bound {
  const char* flag;
  int64_t value;
  int64_t lo;
  int64_t hi;
};

// A real-valued flag; `hi_open` excludes the upper bound. Unset passes.
struct RealBound {
  const char* flag;
  std::optional<double> value;
  double lo;
  double hi;
  bool hi_open = false;
};

// Two flags (or defaults) that must satisfy low <= high.
struct Ordered {
  const char* low_flag;
  double low;
  const char* high_flag;
  double high;
};

// A flag whose value must be one of `accepted`.
struct Choice {
  const char* flag;
  const std::string& value;
  std::span<const std::string_view> accepted;
};

Status Check(const Bound& b);
Status Check(const RealBound& b);
Status Check(const Ordered& o);
Status Check(const Choice& c);

// "a, b or c", for help texts.
std::string DescribeChoices(std::span<const std::string_view> choices);

}  // namespace netisr::apps
