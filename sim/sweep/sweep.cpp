#include "sim/sweep/sweep.hpp"

#include <fmt/format.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <atomic>
#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>

#include "sim/core/error.hpp"
#include "sim/core/random.hpp"
#include "sim/cluster/simulator.hpp"

namespace servesim {

const std::vector<SweepMetric>& sweep_metrics() {
  // Per-GPU throughput divides by the GPUs the configuration occupies (every pool's).
  static const std::vector<SweepMetric> table = {
      {"requests_per_s", [](const Summary& s, int) { return s.requests_per_s; }},
      {"input_tokens_per_s", [](const Summary& s, int) { return s.input_tokens_per_s; }},
      {"output_tokens_per_s", [](const Summary& s, int) { return s.output_tokens_per_s; }},
      {"requests_per_s_per_gpu", [](const Summary& s, int g) { return s.requests_per_s / g; }},
      {"output_tokens_per_s_per_gpu",
       [](const Summary& s, int g) { return s.output_tokens_per_s / g; }},
      {"ttft_mean_ms", [](const Summary& s, int) { return s.ttft.mean; }},
      {"ttft_p50_ms", [](const Summary& s, int) { return s.ttft.p50; }},
      {"ttft_p90_ms", [](const Summary& s, int) { return s.ttft.p90; }},
      {"ttft_p99_ms", [](const Summary& s, int) { return s.ttft.p99; }},
      {"tpot_mean_ms", [](const Summary& s, int) { return s.tpot.mean; }},
      {"tpot_p50_ms", [](const Summary& s, int) { return s.tpot.p50; }},
      {"tpot_p90_ms", [](const Summary& s, int) { return s.tpot.p90; }},
      {"tpot_p99_ms", [](const Summary& s, int) { return s.tpot.p99; }},
      {"itl_p50_ms", [](const Summary& s, int) { return s.itl.p50; }},
      {"itl_p90_ms", [](const Summary& s, int) { return s.itl.p90; }},
      {"itl_p99_ms", [](const Summary& s, int) { return s.itl.p99; }},
      {"e2e_mean_ms", [](const Summary& s, int) { return s.e2e.mean; }},
      {"e2e_p50_ms", [](const Summary& s, int) { return s.e2e.p50; }},
      {"e2e_p90_ms", [](const Summary& s, int) { return s.e2e.p90; }},
      {"e2e_p99_ms", [](const Summary& s, int) { return s.e2e.p99; }},
      {"queue_p50_ms", [](const Summary& s, int) { return s.queue.p50; }},
      {"queue_p90_ms", [](const Summary& s, int) { return s.queue.p90; }},
      {"queue_p99_ms", [](const Summary& s, int) { return s.queue.p99; }},
      {"slo_attainment", [](const Summary& s, int) { return s.slo_attainment; }},
      {"goodput_requests_per_s", [](const Summary& s, int) { return s.goodput_requests_per_s; }},
      {"mfu", [](const Summary& s, int) { return s.mfu; }},
      {"mbu", [](const Summary& s, int) { return s.mbu; }},
      {"busy", [](const Summary& s, int) { return s.busy; }},
      {"kv_cache_peak", [](const Summary& s, int) { return s.kv_cache_peak; }},
      {"preemptions", [](const Summary& s, int) { return static_cast<double>(s.preemptions); }},
      {"rejected", [](const Summary& s, int) { return static_cast<double>(s.rejected); }},
      // Every target the scenario's [slo] sets met at its percentile (1 when it sets none); with
      // several seeds, the share of seeds that met them.
      {"slo_met", [](const Summary& s, int) {
         return (!s.slo_ttft_met || *s.slo_ttft_met) && (!s.slo_tpot_met || *s.slo_tpot_met) ? 1.0 : 0.0;
       }},
      // With several seeds: the share of seeds whose run was overloaded.
      {"overloaded", [](const Summary& s, int) { return s.overloaded ? 1.0 : 0.0; }},
  };
  return table;
}

std::size_t metric_index(const std::string& name, const std::string& option) {
  const auto& t = sweep_metrics();
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (name == t[i].name) return i;
  }
  std::vector<std::string> names;
  for (const auto& m : t) names.emplace_back(m.name);
  throw Error(
      fmt::format("{} \"{}\": not a sweep metric; valid values are: {} (or the short "
                  "form ttft.p99, tpot.p50, e2e.mean, ...)",
                  option, name, join(names)));
}

std::string latency_metric_name(const std::string& spec) {
  const auto dot = spec.find('.');
  if (dot == std::string::npos) return spec;
  return spec.substr(0, dot) + "_" + spec.substr(dot + 1) + "_ms";
}

std::pair<double, double> mean_ci95(const std::vector<double>& x) {
  const auto n = static_cast<double>(x.size());
  if (x.empty()) return {std::numeric_limits<double>::quiet_NaN(), 0.0};
  double sum = 0;
  for (double v : x) sum += v;
  const double mean = sum / n;
  if (x.size() < 2) return {mean, 0.0};
  double ss = 0;
  for (double v : x) ss += (v - mean) * (v - mean);
  const double sd = std::sqrt(ss / (n - 1.0));
  const boost::math::students_t t(n - 1.0);
  return {mean, boost::math::quantile(boost::math::complement(t, 0.025)) * sd / std::sqrt(n)};
}

std::string point_label(const std::vector<Axis>& axes, const std::vector<std::string>& values) {
  std::string out;
  for (std::size_t k = 0; k < axes.size(); ++k) {
    const auto dot = axes[k].key.rfind('.');
    if (!out.empty()) out += ", ";
    out += (dot == std::string::npos ? axes[k].key : axes[k].key.substr(dot + 1)) + "=" + values[k];
  }
  return out;
}

SweepResult run_sweep(const SweepSpec& spec, const Catalog& catalog, const Progress& progress) {
  if (spec.seeds < 1 || spec.seeds > 10000) {
    throw Error(fmt::format("--seeds {}: must be from 1 to 10000", spec.seeds));
  }
  if (spec.shards < 1 || spec.shard < 0 || spec.shard >= spec.shards) {
    throw Error(fmt::format("--shard {}/{}: need 0 <= i < N", spec.shard, spec.shards));
  }
  const Grid grid(spec.axes);
  SweepResult out;
  out.axes = spec.axes;
  out.total_points = grid.size();
  out.shard = spec.shard;
  out.shards = spec.shards;

  // The base scenario, and the first point, are checked here: a mistyped key or a bad value
  // there is an error in the sweep itself, not in one of its points.
  const Scenario base = load_scenario(spec.scenario, spec.sets);
  out.scenario_name = base.name;
  out.scenario_file = spec.scenario;
  out.overrides = spec.sets;
  {
    std::ifstream in(spec.scenario, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (const auto& o : spec.sets) text += "\n" + o;
    out.fingerprint = fmt::format("{:016x}", fnv1a(text));
  }
  for (int k = 0; k < spec.seeds; ++k)
    out.seeds.push_back(base.seed + static_cast<std::uint64_t>(k));
  {
    std::vector<std::string> sets = spec.sets;
    for (auto& a : grid.assignments(0)) sets.push_back(a);
    load_scenario(spec.scenario, sets);
  }

  std::vector<std::size_t> mine;
  for (std::size_t i = static_cast<std::size_t>(spec.shard); i < grid.size();
       i += static_cast<std::size_t>(spec.shards)) {
    mine.push_back(i);
  }
  const std::size_t n_metrics = sweep_metrics().size();
  const auto seeds = static_cast<std::size_t>(spec.seeds);
  const std::size_t tasks = mine.size() * seeds;
  // Each (point, seed) simulation writes only its own slots.
  std::vector<double> values(tasks * n_metrics, 0.0);
  std::vector<std::string> errors(tasks);
  std::vector<int> gpus(mine.size(), 0);
  std::atomic<std::size_t> done{0};

  auto simulate = [&](std::size_t task) {
    const std::size_t p = task / seeds;
    const std::size_t k = task % seeds;
    try {
      std::vector<std::string> sets = spec.sets;
      for (auto& a : grid.assignments(mine[p])) sets.push_back(a);
      sets.push_back(fmt::format("seed={}", out.seeds[k]));
      const Scenario s = load_scenario(spec.scenario, sets);
      const int g = s.gpus();
      if (k == 0) gpus[p] = g;
      Simulator sim(s, catalog);
      const Summary sum = summarize(sim.run());
      for (std::size_t m = 0; m < n_metrics; ++m) {
        values[task * n_metrics + m] = sweep_metrics()[m].get(sum, g);
      }
    } catch (const Error& e) {
      errors[task] = e.what();
    }
    const std::size_t d = ++done;
    if (progress) progress(d, tasks);
  };

  const int threads = spec.jobs > 0 ? spec.jobs : tbb::this_task_arena::max_concurrency();
  tbb::task_arena arena(threads);
  arena.execute([&] {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, tasks, 1),
                      [&](const tbb::blocked_range<std::size_t>& r) {
                        for (std::size_t t = r.begin(); t != r.end(); ++t) simulate(t);
                      });
  });

  for (std::size_t p = 0; p < mine.size(); ++p) {
    PointResult row;
    row.index = mine[p];
    row.values = grid.values(mine[p]);
    row.gpus = gpus[p];
    for (std::size_t k = 0; k < seeds && row.error.empty(); ++k) row.error = errors[p * seeds + k];
    if (row.ok()) {
      std::vector<double> x(seeds);
      for (std::size_t m = 0; m < n_metrics; ++m) {
        for (std::size_t k = 0; k < seeds; ++k) x[k] = values[(p * seeds + k) * n_metrics + m];
        const auto [mean, ci] = mean_ci95(x);
        row.mean.push_back(mean);
        row.ci95.push_back(ci);
      }
    }
    out.points.push_back(std::move(row));
  }
  return out;
}

}  // namespace servesim
