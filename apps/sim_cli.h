// The command-line wiring of the simulator's subcommands (`netisr sim`,
// `compare`, `calibrate`, `sweep`), kept out of main.cc so that main only
// constructs it and asks it to dispatch. CLI11 rejects only what cannot be
// parsed; choices and bounds are the jobs' (sim_command.h, compare_command.h).
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <ostream>

#include "apps/compare_command.h"
#include "apps/sim_command.h"

namespace netisr::apps {

class SimCli {
 public:
  // Adds the subcommands to `app`; `app` must outlive this object.
  explicit SimCli(CLI::App& app);
  // Runs whichever of them was parsed and returns its exit code; nullopt
  // if none was.
  std::optional<int> Dispatch(std::ostream& out, std::ostream& err);

 private:
  SimOptions sim_;
  CompareOptions compare_;
  CalibrateOptions calibrate_;
  SweepOptions sweep_;
  CLI::App* sim_cmd_ = nullptr;
  CLI::App* compare_cmd_ = nullptr;
  CLI::App* calibrate_cmd_ = nullptr;
  CLI::App* sweep_cmd_ = nullptr;
};

}  // namespace netisr::apps
