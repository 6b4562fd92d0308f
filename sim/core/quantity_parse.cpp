#include "sim/core/quantity_parse.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <utility>

#include "sim/core/error.hpp"

namespace servesim {
namespace {

struct UnitRow {
  std::string_view name;
  double scale;
};

constexpr std::array kBytesUnits{
    UnitRow{"B", 1.0},        UnitRow{"KB", 1e3},
    UnitRow{"MB", 1e6},       UnitRow{"GB", 1e9},
    UnitRow{"TB", 1e12},      UnitRow{"KiB", 1024.0},
    UnitRow{"MiB", 1048576.0}, UnitRow{"GiB", 1073741824.0},
    UnitRow{"TiB", 1099511627776.0},
};
constexpr std::array kBandwidthUnits{
    UnitRow{"B/s", 1.0},  UnitRow{"KB/s", 1e3},  UnitRow{"MB/s", 1e6},
    UnitRow{"GB/s", 1e9}, UnitRow{"TB/s", 1e12}, UnitRow{"GiB/s", 1073741824.0},
    UnitRow{"Gb/s", 1e9 / 8},
};
constexpr std::array kFlopRateUnits{
    UnitRow{"FLOP/s", 1.0},   UnitRow{"GFLOP/s", 1e9},  UnitRow{"TFLOP/s", 1e12},
    UnitRow{"PFLOP/s", 1e15}, UnitRow{"TOPS", 1e12},
};
constexpr std::array kTimeUnits{
    UnitRow{"ns", 1e-9}, UnitRow{"us", 1e-6}, UnitRow{"ms", 1e-3}, UnitRow{"s", 1.0},
};
constexpr std::array kPowerUnits{UnitRow{"W", 1.0}, UnitRow{"kW", 1e3}};

template <std::size_t N>
std::pair<const UnitRow*, std::string> lookup(const std::array<UnitRow, N>& table,
                                               std::string_view unit) {
  std::string valid;
  const UnitRow* hit = nullptr;
  for (const auto& row : table) {
    if (row.name == unit) hit = &row;
    if (!valid.empty()) valid += ", ";
    valid += row.name;
  }
  return {hit, valid};
}

std::string_view dimension_name(Dimension dim) {
  switch (dim) {
    case Dimension::kBytes: return "a size";
    case Dimension::kBandwidth: return "a bandwidth";
    case Dimension::kFlopRate: return "a compute rate";
    case Dimension::kTime: return "a time";
    case Dimension::kPower: return "a power";
  }
  return "a quantity";
}

}  // namespace

double parse_quantity(std::string_view text, Dimension dim, const std::string& where,
                      bool allow_negative) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
  };
  const std::string_view s = trim(text);
  double number = 0.0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), number);
  if (ec != std::errc{} || !std::isfinite(number)) {
    throw Error(fmt::format("{}: expected {} with its unit (for example \"80 GB\", \"3.35 TB/s\", "
                            "\"989 TFLOP/s\", \"5 us\"), got \"{}\"",
                            where, dimension_name(dim), text));
  }
  const std::string_view unit = trim(std::string_view(end, static_cast<std::size_t>(s.data() + s.size() - end)));
  std::pair<const UnitRow*, std::string> found;
  switch (dim) {
    case Dimension::kBytes: found = lookup(kBytesUnits, unit); break;
    case Dimension::kBandwidth: found = lookup(kBandwidthUnits, unit); break;
    case Dimension::kFlopRate: found = lookup(kFlopRateUnits, unit); break;
    case Dimension::kTime: found = lookup(kTimeUnits, unit); break;
    case Dimension::kPower: found = lookup(kPowerUnits, unit); break;
  }
  if (found.first == nullptr) {
    throw Error(fmt::format("{}: \"{}\" has unit \"{}\", which is not {} unit; valid units are: {}",
                            where, text, unit, dimension_name(dim), found.second));
  }
  if (number < 0 && !allow_negative) {
    throw Error(fmt::format("{}: \"{}\" must not be negative", where, text));
  }
  const double value = number * found.first->scale;
  // A rate divides: zero would make times infinite.
  if ((dim == Dimension::kBandwidth || dim == Dimension::kFlopRate) && !(value > 0)) {
    throw Error(fmt::format("{}: \"{}\" must be positive (a rate of zero makes every transfer or "
                            "computation take forever)",
                            where, text));
  }
  // Far beyond any device, and inside what the arithmetic downstream handles.
  double limit = 0;
  const char* words = "";
  switch (dim) {
    case Dimension::kBytes: limit = 1e18; words = "1 EB"; break;
    case Dimension::kBandwidth: limit = 1e16; words = "10 PB/s"; break;
    case Dimension::kFlopRate: limit = 1e19; words = "10 EFLOP/s"; break;
    case Dimension::kTime: limit = 1e6; words = "1e6 s (11.6 days)"; break;
    case Dimension::kPower: limit = 1e7; words = "10 MW"; break;
  }
  if (!(std::abs(value) <= limit)) {
    throw Error(fmt::format("{}: \"{}\" is out of physical range: at most {}", where, text, words));
  }
  return value;
}

}  // namespace servesim
