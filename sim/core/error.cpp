#include "sim/core/error.hpp"

namespace servesim {

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += items[i];
  }
  return out;
}

}  // namespace servesim

#include <fmt/format.h>

#include "sim/core/units.hpp"

namespace servesim {

void SimTime::past_horizon(double seconds) {
  throw Error(fmt::format(
      "simulated time would reach {:.4g} s, past the horizon of about 9.2e9 s (292 years) that "
      "int64 nanoseconds hold: a step, a wait or a trace's timing is that long; check the step "
      "time inputs (GPU and calibration files, engine.step_time_scale) and the workload's timing",
      seconds));
}

}  // namespace servesim
