// A streaming quantile sketch with bounded relative error (the log-bucket scheme of DDSketch,
// Masson et al., VLDB 2019): a value x > 0 falls in bucket ceil(log_g x) with
// g = (1 + a) / (1 - a), and a bucket is reported as 2 g^i / (g + 1), within a relative
// error a of every value in it. Memory is fixed (a few thousand counters) however many values
// are added, so a million requests' inter-token gaps cost nothing per token. Exact count, sum,
// min and max are kept beside the buckets.
#pragma once

#include <cstdint>
#include <vector>

namespace servesim {

class QuantileSketch {
 public:
  // `relative_accuracy` a; values are expected in [1, 1e13] (nanoseconds: 1 ns to ~3 hours);
  // values outside are clamped into the first or last bucket, zero is counted exactly.
  explicit QuantileSketch(double relative_accuracy = 0.005);

  void add(double value, std::uint64_t count = 1);
  void merge(const QuantileSketch& other);

  std::uint64_t count() const { return count_; }
  double sum() const { return sum_; }
  double mean() const { return count_ ? sum_ / static_cast<double>(count_) : 0.0; }
  double min() const { return count_ ? min_ : 0.0; }
  double max() const { return count_ ? max_ : 0.0; }
  // q in [0, 1]: the value of rank q (count - 1), within the relative accuracy.
  double quantile(double q) const;
  double relative_accuracy() const { return alpha_; }

 private:
  double alpha_;
  double gamma_;
  double log_gamma_;
  std::vector<std::uint64_t> buckets_;
  std::uint64_t zeros_ = 0;
  std::uint64_t count_ = 0;
  double sum_ = 0.0;
  double min_ = 0.0;
  double max_ = 0.0;
};

}  // namespace servesim
