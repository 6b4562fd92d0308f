#include "sim/core/quantile_sketch.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace servesim {
namespace {
constexpr double kMaxValue = 1e13;
}

QuantileSketch::QuantileSketch(double relative_accuracy)
    : alpha_(relative_accuracy),
      gamma_((1.0 + relative_accuracy) / (1.0 - relative_accuracy)),
      log_gamma_(std::log(gamma_)) {
  buckets_.assign(static_cast<std::size_t>(std::ceil(std::log(kMaxValue) / log_gamma_)) + 1, 0);
}

void QuantileSketch::add(double value, std::uint64_t count) {
  if (count == 0) return;
  if (count_ == 0) {
    min_ = max_ = value;
  } else {
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
  }
  count_ += count;
  sum_ += value * static_cast<double>(count);
  if (value <= 0.0) {
    zeros_ += count;
    return;
  }
  const double idx = std::ceil(std::log(std::clamp(value, 1.0, kMaxValue)) / log_gamma_);
  buckets_[std::min(buckets_.size() - 1, static_cast<std::size_t>(std::max(0.0, idx)))] += count;
}

void QuantileSketch::merge(const QuantileSketch& o) {
  if (o.alpha_ != alpha_) throw std::invalid_argument("merging sketches of different accuracy");
  if (o.count_ == 0) return;
  if (count_ == 0) {
    min_ = o.min_;
    max_ = o.max_;
  } else {
    min_ = std::min(min_, o.min_);
    max_ = std::max(max_, o.max_);
  }
  for (std::size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += o.buckets_[i];
  zeros_ += o.zeros_;
  count_ += o.count_;
  sum_ += o.sum_;
}

double QuantileSketch::quantile(double q) const {
  if (count_ == 0) return 0.0;
  if (q <= 0.0) return min_;
  if (q >= 1.0) return max_;
  const double rank = q * static_cast<double>(count_ - 1);
  std::uint64_t seen = zeros_;
  if (static_cast<double>(seen) > rank) return 0.0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (static_cast<double>(seen) > rank) {
      const double v = 2.0 * std::pow(gamma_, static_cast<double>(i)) / (gamma_ + 1.0);
      return std::clamp(v, min_, max_);
    }
  }
  return max_;
}

}  // namespace servesim
