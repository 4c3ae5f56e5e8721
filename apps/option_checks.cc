// Shared option checks (see option_checks.h).
#include "apps/option_checks.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace netisr::apps {

Status Invalid(std::string message) {
  return Status(ErrorCode::kInvalidArgument, std::move(message));
}

Status Check(const Bound& b) {
  if (b.value >= b.lo && b.value <= b.hi) return Status::Ok();
  return Invalid(fmt::format("{} {} out of range [{}, {}]", b.flag, b.value, b.lo, b.hi));
}

Status Check(const RealBound& b) {
  if (!b.value) return Status::Ok();
  const double v = *b.value;
  // Written so that NaN fails.
  if (v >= b.lo && (b.hi_open ? v < b.hi : v <= b.hi)) return Status::Ok();
  return Invalid(
      fmt::format("{} {} out of range [{}, {}{}", b.flag, v, b.lo, b.hi, b.hi_open ? ")" : "]"));
}

Status Check(const Ordered& o) {
  if (o.low <= o.high) return Status::Ok();
  return Invalid(fmt::format("{} {} exceeds {} {}", o.low_flag, o.low, o.high_flag, o.high));
}

Status Check(const Choice& c) {
  if (std::find(c.accepted.begin(), c.accepted.end(), c.value) != c.accepted.end())
    return Status::Ok();
  return Invalid(
      fmt::format("{} '{}' is not one of: {}", c.flag, c.value, fmt::join(c.accepted, ", ")));
}

std::string DescribeChoices(std::span<const std::string_view> choices) {
  std::string out;
  for (size_t i = 0; i < choices.size(); ++i) {
    if (i > 0) out += i + 1 == choices.size() ? " or " : ", ";
    out += choices[i];
  }
  return out;
}

}  // namespace netisr::apps
