// See compare_command.h.
#include "apps/compare_command.h"

#include "apps/exit_codes.h"

namespace netisr::apps {

int CompareCommand(const CompareOptions&, std::ostream&, std::ostream& err) {
  err << "netisr compare: not built yet\n";
  return kExitFailure;
}
int CalibrateCommand(const CalibrateOptions&, std::ostream&, std::ostream& err) {
  err << "netisr calibrate: not built yet\n";
  return kExitFailure;
}
int SweepCommand(const SweepOptions&, std::ostream&, std::ostream& err) {
  err << "netisr sweep: not built yet\n";
  return kExitFailure;
}

}  // namespace netisr::apps
