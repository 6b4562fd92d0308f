// A sweep: one scenario run at every point of a grid of scenario keys, each point with the
// same N seeds, in parallel (oneTBB). Every point is an independent simulation, so the results
// do not depend on the number of threads, and rows come out in point order.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hardware/catalog.hpp"
#include "sim/metrics/summary.hpp"
#include "sim/sweep/axes.hpp"

namespace servesim {

// One number a sweep reports per point. The table is fixed: its order is the column order of
// sweep.csv.
struct SweepMetric {
  const char* name;  // column name, e.g. "ttft_p99_ms"
  double (*get)(const Summary& s, int gpus);
};
const std::vector<SweepMetric>& sweep_metrics();
// The index of `name` in sweep_metrics(); throws Error listing the valid names.
std::size_t metric_index(const std::string& name, const std::string& option);
// "ttft.p99" -> "ttft_p99_ms", "tpot.mean" -> "tpot_mean_ms", or a column name as it is.
std::string latency_metric_name(const std::string& spec);

struct SweepSpec {
  std::string scenario;           // scenario file
  std::vector<std::string> sets;  // overrides for every point (--set, --seed, --calibration)
  std::vector<Axis> axes;
  int seeds = 1;  // seeds per point: the scenario's seed, +1, +2, ...
  int jobs = 0;   // threads; 0: all cores
  int shard = 0;  // run only the points i with i % shards == shard
  int shards = 1;
};

struct PointResult {
  std::size_t index = 0;            // position in the whole grid
  std::vector<std::string> values;  // one per axis
  int gpus = 0;                     // replicas x tp
  std::string error;                // why the point could not run; then no metrics
  std::vector<double> mean;         // per sweep_metrics() entry, over the seeds
  std::vector<double> ci95;         // half-width of the 95% confidence interval of the mean
  bool ok() const { return error.empty(); }
};

struct SweepResult {
  std::string scenario_name;
  std::string scenario_file;
  std::vector<std::string> overrides;  // SweepSpec::sets
  // FNV-1a of the scenario file's text and the overrides, in hex: shards of one sweep agree
  // on it, shards of another (a changed file, other --set values) do not.
  std::string fingerprint;
  std::vector<Axis> axes;
  std::vector<std::uint64_t> seeds;
  std::size_t total_points = 0;  // of the whole grid, all shards together
  int shard = 0;
  int shards = 1;
  std::vector<PointResult> points;  // this shard's points, in grid order
};

// Called from worker threads after each simulation: (simulations done, simulations in all).
using Progress = std::function<void(std::size_t done, std::size_t total)>;

// Runs the grid. Errors in the sweep itself (a key no scenario has, a bad value at the first
// point) throw Error; a point that cannot run (a model too large for its GPUs, a value out of
// range) is reported in its row.
SweepResult run_sweep(const SweepSpec& spec, const Catalog& catalog, const Progress& progress = {});

// Mean and 95% confidence half-width (Student's t with n - 1 degrees of freedom) of `x`;
// the half-width is 0 for fewer than two values.
std::pair<double, double> mean_ci95(const std::vector<double>& x);

// "workload.rate=4, engine.max_num_seqs=64" with each key shortened to its last part.
std::string point_label(const std::vector<Axis>& axes, const std::vector<std::string>& values);

}  // namespace servesim
