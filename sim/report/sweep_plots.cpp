#include "sim/report/sweep_plots.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "sim/report/plot.hpp"

namespace servesim {
namespace {

constexpr std::size_t kLabelAll = 40;

// "ttft_p99_ms" -> "TTFT P99 (ms)".
std::string latency_title(const std::string& metric) {
  std::string t = metric;
  std::string unit;
  if (t.size() > 3 && t.compare(t.size() - 3, 3, "_ms") == 0) {
    t.resize(t.size() - 3);
    unit = " (ms)";
  }
  for (char& c : t)
    c = c == '_' ? ' ' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return t + unit;
}

// Log scale when the values span more than a factor of 30.
bool wide(const std::vector<double>& v) {
  double lo = INFINITY;
  double hi = 0;
  for (double x : v) {
    if (std::isfinite(x) && x > 0) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
  }
  return hi > 30 * lo;
}

}  // namespace

std::string pareto_svg(const SweepResult& sw, const SweepAnalysis& a) {
  plot::Series dominated{"dominated or overloaded", {}, {}, plot::Mark::kPoints, 0.3, {}, 0};
  plot::Series front{"Pareto frontier", {}, {}, plot::Mark::kLinePoints, 1.0, {}, 1};
  std::vector<std::size_t> on;
  std::size_t ok = 0;
  for (const PointResult& p : sw.points) ok += p.ok() ? 1 : 0;
  const bool label_all = ok <= kLabelAll;
  for (std::size_t i = 0; i < sw.points.size(); ++i) {
    const PointResult& p = sw.points[i];
    if (!p.ok()) continue;
    if (a.frontier[i]) {
      on.push_back(i);
      continue;
    }
    dominated.x.push_back(p.mean[a.latency_index]);
    dominated.y.push_back(p.mean[a.throughput_index]);
    if (label_all) dominated.point_labels.push_back(point_label(sw.axes, p.values));
  }
  std::stable_sort(on.begin(), on.end(), [&](std::size_t x, std::size_t y) {
    return sw.points[x].mean[a.latency_index] < sw.points[y].mean[a.latency_index];
  });
  // Points that coincide (settings that made no difference) share one marker and one label.
  for (std::size_t i : on) {
    const double x = sw.points[i].mean[a.latency_index];
    const double y = sw.points[i].mean[a.throughput_index];
    const std::string label = point_label(sw.axes, sw.points[i].values);
    if (!front.x.empty() && front.x.back() == x && front.y.back() == y) {
      front.point_labels.back() += " | " + label;
      continue;
    }
    front.x.push_back(x);
    front.y.push_back(y);
    front.point_labels.push_back(label);
  }
  plot::Figure f;
  f.title =
      fmt::format("{}: throughput per GPU against {}", sw.scenario_name, latency_title(a.latency));
  f.x_label = latency_title(a.latency);
  f.y_label = "output tokens/s per GPU";
  std::vector<double> all = dominated.x;
  all.insert(all.end(), front.x.begin(), front.x.end());
  f.log_x = wide(all);
  f.series = {dominated, front};
  f.width = 900;
  f.height = 560;
  return plot::to_svg(f);
}

std::string knee_svg(const SweepResult& sw, const SweepAnalysis& a) {
  const std::size_t tps = metric_index("output_tokens_per_s", "");
  plot::Figure f;
  f.title = fmt::format("{}: throughput against {} as the request rate rises", sw.scenario_name,
                        latency_title(a.latency));
  f.x_label = "output tokens/s";
  f.y_label = latency_title(a.latency);
  std::vector<double> ys;
  for (std::size_t g = 0; g < a.knees.size(); ++g) {
    const Knee& k = a.knees[g];
    plot::Series s{k.group.empty() ? "rate sweep" : k.group,
                   {},
                   {},
                   plot::Mark::kLinePoints,
                   1.0,
                   {},
                   static_cast<int>(g)};
    for (std::size_t p : k.points) {
      s.x.push_back(sw.points[p].mean[tps]);
      s.y.push_back(sw.points[p].mean[a.latency_index]);
      ys.push_back(s.y.back());
    }
    f.series.push_back(s);
    if (k.knee) {
      const PointResult& p = sw.points[*k.knee];
      f.annotations.push_back(plot::Annotation{p.mean[tps], p.mean[a.latency_index],
                                               fmt::format("knee: rate {}", k.knee_rate)});
    }
  }
  f.log_y = wide(ys);
  f.width = 900;
  f.height = 560;
  return plot::to_svg(f);
}

}  // namespace servesim
