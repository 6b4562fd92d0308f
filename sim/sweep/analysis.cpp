#include "sim/sweep/analysis.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

#include "sim/sweep/frontier.hpp"

namespace servesim {
namespace {

double as_number(const std::string& s) {
  double v = NAN;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc{} ? v : NAN;
}

void find_knees(const SweepResult& sw, SweepAnalysis& a) {
  std::size_t rate_axis = sw.axes.size();
  for (std::size_t k = 0; k < sw.axes.size(); ++k) {
    if (sw.axes[k].key == kRateKey) rate_axis = k;
  }
  if (rate_axis == sw.axes.size()) return;
  // Group the points by the values of the other axes, in order of first appearance.
  std::vector<Axis> others;
  for (std::size_t k = 0; k < sw.axes.size(); ++k) {
    if (k != rate_axis) others.push_back(sw.axes[k]);
  }
  std::map<std::vector<std::string>, std::size_t> group_of;
  for (std::size_t p = 0; p < sw.points.size(); ++p) {
    const PointResult& pt = sw.points[p];
    if (!pt.ok()) continue;
    std::vector<std::string> key;
    for (std::size_t k = 0; k < pt.values.size(); ++k) {
      if (k != rate_axis) key.push_back(pt.values[k]);
    }
    auto [it, fresh] = group_of.emplace(key, a.knees.size());
    if (fresh) a.knees.push_back(Knee{point_label(others, key), {}, std::nullopt, "", 0.0, NAN, std::nullopt});
    a.knees[it->second].points.push_back(p);
  }
  const std::size_t tput = metric_index("output_tokens_per_s", "");
  const std::size_t over = metric_index("overloaded", "");
  for (Knee& kn : a.knees) {
    auto rate = [&](std::size_t p) { return as_number(sw.points[p].values[rate_axis]); };
    std::stable_sort(kn.points.begin(), kn.points.end(),
                     [&](std::size_t x, std::size_t y) { return rate(x) < rate(y); });
    std::vector<double> xs;  // log rate and log latency (frontier.hpp says why)
    std::vector<double> ys;
    for (std::size_t p : kn.points) {
      const PointResult& pt = sw.points[p];
      xs.push_back(std::log(rate(p)));
      const double lat = pt.mean[a.latency_index];
      ys.push_back(lat > 0 ? std::log(lat) : NAN);
      kn.max_output_tokens_per_s = std::max(kn.max_output_tokens_per_s, pt.mean[tput]);
      if (pt.mean[over] == 0.0) kn.max_rate_not_overloaded = rate(p);
    }
    if (auto i = knee_point(xs, ys)) {
      kn.knee = kn.points[*i];
      kn.knee_rate = sw.points[*kn.knee].values[rate_axis];
    }
  }
}

}  // namespace

SweepAnalysis analyse_sweep(const SweepResult& sw, const std::string& latency) {
  SweepAnalysis a;
  a.latency = latency_metric_name(latency);
  a.latency_index = metric_index(a.latency, "--latency");
  a.throughput_index = metric_index("output_tokens_per_s_per_gpu", "");
  // Overloaded points stay off the frontier: their latency grows with the length of the run,
  // so it is no property of the configuration.
  const std::size_t over = metric_index("overloaded", "");
  std::vector<double> lat;
  std::vector<double> thr;
  for (const PointResult& p : sw.points) {
    const bool steady = p.ok() && p.mean[over] == 0.0;
    lat.push_back(steady ? p.mean[a.latency_index] : NAN);
    thr.push_back(steady ? p.mean[a.throughput_index] : NAN);
  }
  find_knees(sw, a);
  if (!a.knees.empty()) {
    // A rate sweep: each configuration competes with its best point within the SLO.
    const std::size_t met = metric_index("slo_met", "");
    std::vector<bool> best(sw.points.size(), false);
    for (Knee& k : a.knees) {
      for (std::size_t p : k.points) {
        const PointResult& pt = sw.points[p];
        if (pt.mean[over] != 0.0 || pt.mean[met] != 1.0) continue;
        if (!k.best || pt.mean[a.throughput_index] > sw.points[*k.best].mean[a.throughput_index]) k.best = p;
      }
      if (k.best) best[*k.best] = true;
    }
    for (std::size_t i = 0; i < sw.points.size(); ++i) {
      if (!best[i]) lat[i] = thr[i] = NAN;
    }
  }
  a.frontier = pareto_frontier(lat, thr);
  a.idle_axes = idle_axes(sw);
  return a;
}

std::vector<std::string> idle_axes(const SweepResult& sw) {
  std::vector<std::string> out;
  for (std::size_t k = 0; k < sw.axes.size(); ++k) {
    if (sw.axes[k].values.size() < 2) continue;
    // Points that differ only in axis k, grouped by the other axes' values: each group's
    // points must all have run and have the same figures.
    std::map<std::vector<std::string>, std::vector<const PointResult*>> groups;
    for (const PointResult& p : sw.points) {
      std::vector<std::string> rest = p.values;
      rest.erase(rest.begin() + static_cast<std::ptrdiff_t>(k));
      groups[rest].push_back(&p);
    }
    bool idle = !groups.empty();
    for (const auto& [rest, points] : groups) {
      if (points.size() < 2) idle = false;
      for (const PointResult* p : points) {
        if (!p->ok() || p->mean != points.front()->mean) idle = false;
      }
      if (!idle) break;
    }
    if (idle) out.push_back(sw.axes[k].key);
  }
  return out;
}

}  // namespace servesim
