// The pictures of a sweep: the Pareto frontier, and each configuration's rate sweep with its
// saturation knee.
#pragma once

#include <string>

#include "sim/sweep/analysis.hpp"

namespace servesim {

// Throughput per GPU against the analysis's latency: dominated and overloaded points faded,
// the frontier drawn as a line, points labelled with their configuration (all of them up to
// 40 points; beyond that only the frontier's).
std::string pareto_svg(const SweepResult& sweep, const SweepAnalysis& analysis);
// Output tokens/s against latency, one line per configuration as its rate rises, each knee
// marked.
std::string knee_svg(const SweepResult& sweep, const SweepAnalysis& analysis);

}  // namespace servesim
