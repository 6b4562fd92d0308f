// Parses quantities written with their unit, as catalog and scenario files carry them:
// "80 GB", "81559 MiB", "3.35 TB/s", "989 TFLOP/s", "5 us", "1.5 ms", "700 W".
#pragma once

#include <string>
#include <string_view>

#include "sim/core/units.hpp"

namespace servesim {

enum class Dimension { kBytes, kBandwidth, kFlopRate, kTime, kPower };

// Returns the value in base units (bytes, bytes/s, flop/s, seconds, watts). Throws Error that
// names `where` and lists the units valid for the dimension.
double parse_quantity(std::string_view text, Dimension dim, const std::string& where,
                      bool allow_negative = false);

}  // namespace servesim
