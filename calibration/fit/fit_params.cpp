#include "calibration/fit/fit_params.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "calibration/fit/least_squares.hpp"

namespace servesim::fit {

namespace {

// The cost-parameter key each fit parameter stands for (hardware/device_spec.hpp's table).
const CostParamField& field(Param p) {
  switch (p) {
    case Param::kGemm: return cost_param_field("gemm");
    case Param::kGemmMHalf: return cost_param_field("gemm_m_half");
    case Param::kAttentionPrefill: return cost_param_field("attention_prefill");
    case Param::kAttentionDecode: return cost_param_field("attention_decode");
    case Param::kMemory: return cost_param_field("memory");
    case Param::kKnee: return cost_param_field("knee");
    case Param::kKernel: return cost_param_field("kernel");
    case Param::kGemmMemory: return cost_param_field("gemm_memory");
    case Param::kGemmLatency: return cost_param_field("gemm_latency");
    case Param::kAttentionLatency: return cost_param_field("attention_latency");
    case Param::kAttentionSpread: return cost_param_field("attention_spread");
    case Param::kAttentionKeysHalf: return cost_param_field("attention_keys_half");
    case Param::kAttentionDecodeLatency: return cost_param_field("attention_decode_latency");
    case Param::kAttentionDecodeBlock: return cost_param_field("attention_decode_block");
    case Param::kAttentionDecodeWaves: return cost_param_field("attention_decode_waves");
  }
  throw std::logic_error("unknown fit parameter");
}

bool is_fraction(Param p) { return field(p).range == CostParamField::Range::kFraction; }

// Unconstrained coordinates: fractions through a logistic (0, 1), the rest through log (> 0).
double to_free(Param p, double v) {
  if (is_fraction(p)) {
    const double c = std::clamp(v, 1e-6, 1.0 - 1e-9);
    return std::log(c / (1.0 - c));
  }
  return std::log(std::max(v, 1e-12));
}
double from_free(Param p, double z) {
  return is_fraction(p) ? 1.0 / (1.0 + std::exp(-z)) : std::exp(z);
}

void set(CostParams& c, Param p, double v) { field(p).set(c, v); }
double get(const CostParams& c, Param p) { return field(p).get(c); }

double predicted(const Sample& s, const Rates& rates, const CostParams& params) {
  double t = compute_op_time(s.op, params, rates.peak_flops, rates.bandwidth, rates.sms).time.value;
  for (const OpCost& op : s.also) {
    t += compute_op_time(op, params, rates.peak_flops, rates.bandwidth, rates.sms).time.value;
  }
  return t;
}

}  // namespace

std::string param_name(Param p) { return field(p).key; }

std::vector<double> relative_errors(const std::vector<Sample>& samples, const Rates& rates,
                                    const CostParams& params) {
  std::vector<double> out;
  out.reserve(samples.size());
  for (const Sample& s : samples) {
    out.push_back((predicted(s, rates, params) - s.seconds) / s.seconds);
  }
  return out;
}

FitOutcome fit_params(const std::vector<Sample>& samples, const Rates& rates,
                      const CostParams& start, const std::vector<Param>& free) {
  FitOutcome out;
  out.params = start;
  out.points = static_cast<int>(samples.size());
  if (samples.empty()) return out;
  Eigen::VectorXd x0(static_cast<Eigen::Index>(free.size()));
  for (std::size_t i = 0; i < free.size(); ++i) {
    // A parameter at zero (no effect) starts from a small positive value so it can grow:
    // 1 us for times, 0.1 otherwise.
    const double v = get(start, free[i]);
    const double small = field(free[i]).is_time() ? 1e-6 : 0.1;
    x0[static_cast<Eigen::Index>(i)] = to_free(free[i], v > 0.0 ? v : small);
  }
  auto params_at = [&](const Eigen::VectorXd& x) {
    CostParams c = start;
    for (std::size_t i = 0; i < free.size(); ++i) set(c, free[i], from_free(free[i], x[static_cast<Eigen::Index>(i)]));
    return c;
  };
  auto residuals = [&](const Eigen::VectorXd& x, Eigen::VectorXd& r) {
    const CostParams c = params_at(x);
    r.resize(static_cast<Eigen::Index>(samples.size()));
    for (std::size_t i = 0; i < samples.size(); ++i) {
      r[static_cast<Eigen::Index>(i)] = std::log(predicted(samples[i], rates, c) / samples[i].seconds);
    }
  };
  const LeastSquaresResult res =
      levenberg_marquardt(residuals, x0, static_cast<Eigen::Index>(samples.size()));
  out.params = params_at(res.x);
  out.converged = res.converged;
  std::vector<double> errs = relative_errors(samples, rates, out.params);
  double ss = 0.0;
  for (double e : errs) ss += e * e;
  out.rms_relative = std::sqrt(ss / static_cast<double>(errs.size()));
  for (double& e : errs) e = std::abs(e);
  std::nth_element(errs.begin(), errs.begin() + static_cast<std::ptrdiff_t>(errs.size() / 2), errs.end());
  out.median_abs_relative = errs[errs.size() / 2];
  return out;
}

}  // namespace servesim::fit
