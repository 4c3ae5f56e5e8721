// Process exit codes of every `netisr` subcommand.
#pragma once

namespace netisr::apps {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // runtime error or a failed self-check
inline constexpr int kExitUsage = 2;    // bad command line

}  // namespace netisr::apps
