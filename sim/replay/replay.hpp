// Replaying a measured run through a scenario, comparing two runs metric by metric, and
// fitting engine parameters to measured runs (docs/calibration-runs.md).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/cluster/simulator.hpp"
#include "sim/config/scenario.hpp"
#include "sim/metrics/summary.hpp"

namespace servesim {

// A run folder (servesim import --out, run --out or compare's) read back.
struct RunFolder {
  std::string dir;
  nlohmann::json summary;
  nlohmann::json provenance;  // null for a simulated run
  std::string trace;          // DIR/trace.csv, or "" when it has none
  bool measured() const { return summary.contains("source") && summary["source"] == "measured"; }
};
RunFolder read_run_folder(const std::string& dir);

// The metrics compare reports, as "ttft.p50" -> value: TTFT, TPOT, ITL and E2E (mean, p50,
// p90, p99, ms), throughput.output_tokens_per_s, throughput.requests_per_s and span_s. A
// metric the run lacks (ITL of a client that records no chunks) is left out.
std::map<std::string, double> metric_values(const nlohmann::json& summary);
// The same figures of a summary just made (a simulated run's).
std::map<std::string, double> metric_values(const Summary& s);
const std::vector<std::string>& compare_metric_names();

// The scenario with its workload replaced by the measured run's trace: its recorded arrivals,
// or when the client's were not recorded, its lengths at arrivals drawn as the client made
// them (rate or concurrency).
Scenario replay_scenario(const std::string& scenario_path, const std::vector<std::string>& overrides,
                         const RunFolder& measured);

struct MetricComparison {
  double a = 0, b = 0;
  double error = 0;  // (b - a) / a
  // With several seeds: b is their mean, and [lo, hi] the seed-to-seed 95% interval
  // (mean -/+ 1.96 standard deviations of the seeds' values).
  std::optional<double> lo, hi;
};
struct Comparison {
  std::map<std::string, MetricComparison> metrics;
  std::string worst;  // the metric with the largest |error|
  int seeds = 1;
};
Comparison compare_metrics(const std::map<std::string, double>& a,
                           const std::vector<std::map<std::string, double>>& b_per_seed);
nlohmann::ordered_json comparison_json(const Comparison& c, const std::string& a, const std::string& b);

// One engine parameter a fit may move, with its bounds.
struct FitParam {
  std::string key;  // "engine.cpu_overhead_ms"
  double lo = 0, hi = 0;
  // The key's value in a scenario's [engine]: where the search starts.
  double (*current)(const EngineConfig&) = nullptr;
  double start = 0;
  double value = 0;  // fitted
};
// The keys servesim fit knows, with their default bounds.
const std::vector<FitParam>& fittable_params();
// "engine.cpu_overhead_ms" or "engine.cpu_overhead_ms=0:5".
FitParam parse_fit_param(const std::string& text);

struct FitRun {
  RunFolder measured;
  std::map<std::string, double> targets;  // the measured metrics fitted
};

struct FitResult {
  std::vector<FitParam> params;
  double error_before = 0;  // RMS of log(simulated / measured) over every run's metrics
  double error_after = 0;
  int evaluations = 0;
};

// Fits `params` to `runs` through the scenario (Nelder-Mead on the sum of squared log
// errors over `metrics`, which is piecewise constant in the parameters). Refuses, with the
// reason, more parameters than the metrics can determine: one that moves none of them, or
// two that move them alike.
FitResult fit_params(const std::string& scenario_path, const std::vector<std::string>& overrides,
                     std::vector<FitParam> params, const std::vector<FitRun>& runs,
                     const std::vector<std::string>& metrics);

// The RMS log error and the worst metric of `params` on one run.
struct RunError {
  double rms = 0;
  std::string worst;
  double worst_error = 0;
};
RunError run_error(const std::string& scenario_path, const std::vector<std::string>& overrides,
                   const std::vector<FitParam>& params, bool fitted, const FitRun& run,
                   const std::vector<std::string>& metrics);

// The metrics a fit uses by default: TTFT, TPOT, ITL and E2E, their means (which move almost
// continuously with the parameters, where a percentile of a few hundred requests moves in
// steps) and P50, P90 and P99; those the measured run has.
std::vector<std::string> default_fit_metrics(const std::map<std::string, double>& measured);

}  // namespace servesim
