#include "sim/report/sweep_plots.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

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

// Which points take part in the frontier: with a rate axis each configuration's best point
// within the SLO, labelled with its configuration and rate; else every point that ran.
struct Contender {
  std::size_t point;
  std::string label;
};

std::vector<Contender> contenders(const SweepResult& sw, const SweepAnalysis& a) {
  std::vector<Contender> out;
  if (!a.knees.empty()) {
    std::size_t rate_axis = 0;
    for (std::size_t k = 0; k < sw.axes.size(); ++k) {
      if (sw.axes[k].key == kRateKey) rate_axis = k;
    }
    for (const Knee& k : a.knees) {
      if (!k.best) continue;
      const std::string rate = "rate " + sw.points[*k.best].values[rate_axis];
      out.push_back({*k.best, k.group.empty() ? rate : k.group + " @ " + rate});
    }
    return out;
  }
  for (std::size_t i = 0; i < sw.points.size(); ++i) {
    if (sw.points[i].ok()) out.push_back({i, point_label(sw.axes, sw.points[i].values)});
  }
  return out;
}

}  // namespace

std::string pareto_svg(const SweepResult& sw, const SweepAnalysis& a) {
  const bool by_configuration = !a.knees.empty();
  plot::Series dominated{by_configuration ? "dominated configurations" : "dominated or overloaded",
                         {}, {}, plot::Mark::kPoints, 0.3, {}, 0, {}, false};
  plot::Series front{"Pareto frontier", {}, {}, plot::Mark::kLinePoints, 1.0, {}, 1, {}, false};
  std::vector<std::size_t> on;
  const std::vector<Contender> all = contenders(sw, a);
  const bool label_all = all.size() <= kLabelAll;
  std::map<std::size_t, std::string> label_of;
  for (const Contender& c : all) {
    label_of[c.point] = c.label;
    const PointResult& p = sw.points[c.point];
    if (a.frontier[c.point]) {
      on.push_back(c.point);
      continue;
    }
    dominated.x.push_back(p.mean[a.latency_index]);
    dominated.y.push_back(p.mean[a.throughput_index]);
    if (label_all) dominated.point_labels.push_back(c.label);
  }
  std::stable_sort(on.begin(), on.end(), [&](std::size_t x, std::size_t y) {
    return sw.points[x].mean[a.latency_index] < sw.points[y].mean[a.latency_index];
  });
  // Points that coincide (settings that made no difference) share one marker and one label.
  for (std::size_t i : on) {
    const double x = sw.points[i].mean[a.latency_index];
    const double y = sw.points[i].mean[a.throughput_index];
    const std::string& label = label_of[i];
    if (!front.x.empty() && front.x.back() == x && front.y.back() == y) {
      front.point_labels.back() += " | " + label;
      continue;
    }
    front.x.push_back(x);
    front.y.push_back(y);
    front.point_labels.push_back(label);
  }
  plot::Figure f;
  f.title = by_configuration
                ? fmt::format("{}: each configuration at its best point within the SLO",
                              sw.scenario_name)
                : fmt::format("{}: throughput per GPU against {}", sw.scenario_name,
                              latency_title(a.latency));
  f.x_label = latency_title(a.latency);
  f.y_label = "output tokens/s per GPU";
  std::vector<double> xs = dominated.x;
  xs.insert(xs.end(), front.x.begin(), front.x.end());
  f.log_x = wide(xs);
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
  const std::size_t over = metric_index("overloaded", "");
  bool any_overloaded = false;
  std::vector<double> ys;
  for (std::size_t g = 0; g < a.knees.size(); ++g) {
    const Knee& k = a.knees[g];
    plot::Series s{k.group.empty() ? "rate sweep" : k.group,
                   {},
                   {},
                   plot::Mark::kLinePoints,
                   1.0,
                   {},
                   static_cast<int>(g),
                   {},
                   false};
    for (std::size_t p : k.points) {
      s.x.push_back(sw.points[p].mean[tps]);
      s.y.push_back(sw.points[p].mean[a.latency_index]);
      s.hollow.push_back(sw.points[p].mean[over] > 0);
      any_overloaded = any_overloaded || s.hollow.back();
      ys.push_back(s.y.back());
    }
    f.series.push_back(s);
    if (k.knee) {
      const PointResult& p = sw.points[*k.knee];
      f.annotations.push_back(plot::Annotation{p.mean[tps], p.mean[a.latency_index],
                                               fmt::format("knee: rate {}", k.knee_rate)});
    }
  }
  if (any_overloaded) f.series.push_back(plot::ring_legend("overloaded (open rings)"));
  f.log_y = wide(ys);
  f.width = 900;
  f.height = 560;
  return plot::to_svg(f);
}

}  // namespace servesim
