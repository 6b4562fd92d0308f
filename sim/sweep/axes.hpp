// The axes of a sweep: `--vary key.path=v1,v2,...` lists and `--vary key.path=a:b:xF` or
// `a:b:+S` ranges, and the cartesian product of their values in a fixed order.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace servesim {

struct Axis {
  std::string key;                  // a scenario key path, as for --set
  std::vector<std::string> values;  // TOML text of each value, as given or as the range made it
};

// Parses one --vary argument. Lists split on commas outside quotes, braces and brackets, so
// `workload.prompt_tokens={ distribution = "fixed", value = 512 },...` works. Ranges run from
// a to b inclusive, multiplying by F (> 1) or adding S (> 0); at most 10,000 values.
Axis parse_axis(const std::string& text);

// The points of the product: each point is one value index per axis. The first axis varies
// slowest, as in nested loops written in the order the axes were given.
class Grid {
 public:
  explicit Grid(std::vector<Axis> axes);
  std::size_t size() const { return size_; }
  const std::vector<Axis>& axes() const { return axes_; }
  // The value of each axis at point `i` (0 <= i < size()).
  std::vector<std::string> values(std::size_t i) const;
  // "key=value" assignments of point `i`, for load_scenario's overrides.
  std::vector<std::string> assignments(std::size_t i) const;

 private:
  std::vector<Axis> axes_;
  std::size_t size_ = 1;
};

// "1" for 1.0, "0.25", "1e+06" style shortest text that reads back as the same double.
std::string format_number(double v);

}  // namespace servesim
