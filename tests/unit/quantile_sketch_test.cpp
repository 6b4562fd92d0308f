#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "sim/core/random.hpp"
#include "sim/core/quantile_sketch.hpp"

namespace servesim {
namespace {

TEST(QuantileSketch, QuantilesWithinRelativeAccuracyOfExactRanks) {
  QuantileSketch sk(0.005);
  RandomStream rng(11, "sketch");
  std::vector<double> values;
  for (int i = 0; i < 50000; ++i) {
    const double v = rng.lognormal(std::log(2e7), 1.0);  // ~20 ms gaps in ns, heavy tail
    values.push_back(v);
    sk.add(v);
  }
  std::sort(values.begin(), values.end());
  for (double q : {0.01, 0.5, 0.9, 0.95, 0.99, 0.999}) {
    // The sketch answers for rank floor(q (n-1)) exactly up to its bucket width.
    const double exact = values[static_cast<std::size_t>(q * (values.size() - 1))];
    EXPECT_NEAR(sk.quantile(q) / exact, 1.0, 0.005 + 1e-9) << "q=" << q;
  }
  EXPECT_EQ(sk.count(), 50000u);
  EXPECT_DOUBLE_EQ(sk.max(), values.back());
}

TEST(QuantileSketch, WeightedAddEqualsRepeatedAdd) {
  QuantileSketch a, b;
  a.add(1e6, 1000);
  a.add(5e6, 10);
  for (int i = 0; i < 1000; ++i) b.add(1e6);
  for (int i = 0; i < 10; ++i) b.add(5e6);
  for (double q : {0.5, 0.99, 0.995}) EXPECT_EQ(a.quantile(q), b.quantile(q));
  EXPECT_DOUBLE_EQ(a.mean(), b.mean());
  // 1010 values; rank 0.995 * 1009 = 1003.96 > 999, so it falls on 5e6 (within 0.5%).
  EXPECT_NEAR(a.quantile(0.995), 5e6, 5e6 * 0.005);
}

TEST(QuantileSketch, MergeEqualsAddingAll) {
  QuantileSketch a, b, all;
  for (int i = 1; i <= 100; ++i) {
    (i % 2 ? a : b).add(i * 1e5);
    all.add(i * 1e5);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.quantile(0.9), all.quantile(0.9));
}

}  // namespace
}  // namespace servesim
