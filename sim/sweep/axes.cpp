#include "sim/sweep/axes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "sim/core/error.hpp"

namespace servesim {
namespace {

constexpr std::size_t kMaxValues = 10000;
constexpr std::size_t kMaxPoints = 10'000'000;

std::vector<std::string> split_top_level(const std::string& s) {
  std::vector<std::string> parts;
  std::string cur;
  int depth = 0;
  char quote = 0;
  for (char c : s) {
    if (quote != 0) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      --depth;
    } else if (c == ',' && depth == 0) {
      parts.push_back(cur);
      cur.clear();
      continue;
    }
    cur += c;
  }
  parts.push_back(cur);
  return parts;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

bool parse_double(const std::string& s, double& out) {
  const char* end = s.data() + s.size();
  auto r = std::from_chars(s.data(), end, out);
  return r.ec == std::errc{} && r.ptr == end && std::isfinite(out);
}

// "a:b:x2" or "a:b:+0.5"; false when the text is not of that form at all.
bool parse_range(const std::string& arg, const std::string& text, std::vector<std::string>& out) {
  const auto c1 = text.find(':');
  if (c1 == std::string::npos || text.find_first_of("\"'{[") != std::string::npos) return false;
  const auto c2 = text.find(':', c1 + 1);
  auto bad = [&](const std::string& why) {
    return Error(
        fmt::format("--vary \"{}\": {}; a range is START:END:xFACTOR (e.g. 1:64:x2) or "
                    "START:END:+STEP (e.g. 100:1000:+100)",
                    arg, why));
  };
  if (c2 == std::string::npos) throw bad("a range needs three parts");
  double a = 0;
  double b = 0;
  double step = 0;
  const std::string st = text.substr(c2 + 1);
  if (!parse_double(text.substr(0, c1), a) || !parse_double(text.substr(c1 + 1, c2 - c1 - 1), b)) {
    throw bad("START and END must be numbers");
  }
  if (st.size() < 2 || (st[0] != 'x' && st[0] != '+') || !parse_double(st.substr(1), step)) {
    throw bad("the step must be xFACTOR or +STEP");
  }
  const bool mult = st[0] == 'x';
  if (b < a) throw bad("END must not be below START");
  if (mult && !(step > 1.0)) throw bad("a factor must be above 1");
  if (mult && !(a > 0.0)) throw bad("a multiplicative range must start above 0");
  if (!mult && !(step > 0.0)) throw bad("a step must be above 0");
  // Values are computed from the start each time (a * F^k, a + k S), so rounding does not
  // accumulate; END itself is included when the sequence lands on it within 1e-9.
  for (std::size_t k = 0;; ++k) {
    const double kd = static_cast<double>(k);
    const double v = mult ? a * std::pow(step, kd) : a + kd * step;
    if (v > b + 1e-9 * std::max(std::abs(b), std::abs(a)) + 1e-12) break;
    if (out.size() == kMaxValues) throw bad(fmt::format("more than {} values", kMaxValues));
    out.push_back(format_number(v));
  }
  return true;
}

}  // namespace

std::string format_number(double v) {
  if (v == std::floor(v) && std::abs(v) < 1e15) return fmt::format("{}", static_cast<long long>(v));
  return fmt::format("{}", v);  // fmt's shortest round-trip form
}

Axis parse_axis(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
    throw Error(
        fmt::format("--vary \"{}\": expected key.path=v1,v2,... or key.path=START:END:xF "
                    "(for example --vary workload.rate=1:64:x2)",
                    text));
  }
  Axis axis;
  axis.key = trim(text.substr(0, eq));
  const std::string rest = trim(text.substr(eq + 1));
  if (!parse_range(text, rest, axis.values)) {
    for (const std::string& part : split_top_level(rest)) {
      const std::string v = trim(part);
      if (v.empty()) throw Error(fmt::format("--vary \"{}\": an empty value in the list", text));
      axis.values.push_back(v);
    }
  }
  if (axis.values.empty()) {
    throw Error(fmt::format("--vary \"{}\": the axis has no values", text));
  }
  if (axis.values.size() > kMaxValues) {
    throw Error(fmt::format("--vary \"{}\": more than {} values", text, kMaxValues));
  }
  return axis;
}

Grid::Grid(std::vector<Axis> axes) : axes_(std::move(axes)) {
  for (std::size_t i = 0; i < axes_.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (axes_[i].key == axes_[j].key) {
        throw Error(fmt::format("--vary {} is given twice; give all its values in one --vary",
                                axes_[i].key));
      }
    }
    if (axes_[i].values.empty()) {
      throw Error(fmt::format("--vary {}: the axis has no values", axes_[i].key));
    }
    size_ *= axes_[i].values.size();
    if (size_ > kMaxPoints) {
      throw Error(
          fmt::format("the --vary axes make more than {} points; split the sweep with "
                      "--shard or vary fewer values",
                      kMaxPoints));
    }
  }
}

std::vector<std::string> Grid::values(std::size_t i) const {
  std::vector<std::string> out(axes_.size());
  for (std::size_t k = axes_.size(); k-- > 0;) {
    const std::size_t n = axes_[k].values.size();
    out[k] = axes_[k].values[i % n];
    i /= n;
  }
  return out;
}

std::vector<std::string> Grid::assignments(std::size_t i) const {
  std::vector<std::string> v = values(i);
  for (std::size_t k = 0; k < v.size(); ++k) v[k] = axes_[k].key + "=" + v[k];
  return v;
}

}  // namespace servesim
