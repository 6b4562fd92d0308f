// Fits chosen parameters of the step model to measured op times. The model is the simulator's
// own compute_op_time, so a fitted parameter means in the simulator exactly what it meant in
// the fit. Residuals are relative, log(predicted / measured), so that a 5 us kernel and a 50 ms
// one count alike.
#pragma once

#include <string>
#include <vector>

#include "hardware/cost_model.hpp"

namespace servesim::fit {

struct Sample {
  OpCost op;
  double seconds = 0.0;  // measured
  // Other kernels the measurement includes but a serving step does not (priced with the same
  // parameters, none of them fitted with `op`).
  std::vector<OpCost> also;
};

enum class Param {
  kGemm,
  kGemmMHalf,
  kAttentionPrefill,
  kAttentionDecode,
  kMemory,
  kKnee,
  kKernel,
  kGemmMemory,
  kGemmLatency,
  kAttentionLatency,
  kAttentionSpread,
  kAttentionKeysHalf,
  kAttentionDecodeLatency,
  kAttentionDecodeBlock,
  kAttentionDecodeWaves,
};
std::string param_name(Param p);

struct FitOutcome {
  CostParams params;
  double rms_relative = 0.0;  // RMS of (predicted - measured) / measured at the optimum
  double median_abs_relative = 0.0;
  int points = 0;
  bool converged = false;
};

// Starts from `start` and frees `free`; every other parameter keeps its value.
struct Rates {
  double peak_flops = 0.0;
  double bandwidth = 0.0;
  int sms = 1;
};

FitOutcome fit_params(const std::vector<Sample>& samples, const Rates& rates,
                      const CostParams& start, const std::vector<Param>& free);

// Relative errors (predicted - measured) / measured of `params` over `samples`.
std::vector<double> relative_errors(const std::vector<Sample>& samples, const Rates& rates,
                                    const CostParams& params);

}  // namespace servesim::fit
