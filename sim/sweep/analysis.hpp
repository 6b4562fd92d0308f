// What a whole sweep says beyond its rows: which points are on the throughput-latency Pareto
// frontier, and, when the request rate was swept, where each configuration saturates.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sim/sweep/sweep.hpp"

namespace servesim {

// The saturation knee of one configuration's rate sweep.
struct Knee {
  std::string group;                   // the other axes' values ("" when only the rate was varied)
  std::vector<std::size_t> points;     // positions in SweepResult::points, by increasing rate
  std::optional<std::size_t> knee;     // position in SweepResult::points
  std::string knee_rate;               // the rate at the knee, as the axis gave it
  double max_output_tokens_per_s = 0;  // the most any rate reached: the saturation throughput
  // The highest rate at which no seed's run was overloaded (NaN: none).
  double max_rate_not_overloaded = 0;
  // The configuration's best point within the SLO: of its points that no seed overloaded and
  // every seed met the [slo] at (slo_met), the one of most output tokens/s per GPU.
  std::optional<std::size_t> best;
};

struct SweepAnalysis {
  std::string latency;  // the metric the frontier uses, e.g. "ttft_p99_ms"
  std::size_t latency_index = 0;
  std::size_t throughput_index = 0;  // output_tokens_per_s_per_gpu
  // Per SweepResult::points. With workload.rate among the axes, the frontier is across
  // configurations: only each configuration's best point (Knee::best) takes part. Without, each
  // point is a configuration and every point that is not overloaded takes part.
  std::vector<bool> frontier;
  std::vector<Knee> knees;           // empty unless workload.rate is an axis
  // Axes (of two or more values) that changed nothing: at every setting of the other axes,
  // each of their values gave the same figures, bit for bit. A key the scenario's scheduler
  // never reads, for example.
  std::vector<std::string> idle_axes;
};

// `latency` is a metric name or its short form ("ttft.p99").
SweepAnalysis analyse_sweep(const SweepResult& sweep, const std::string& latency);
std::vector<std::string> idle_axes(const SweepResult& sweep);

// The rate axis's key.
inline constexpr const char* kRateKey = "workload.rate";

}  // namespace servesim
