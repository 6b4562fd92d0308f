#include <gtest/gtest.h>

#include <cmath>

#include "sim/core/random.hpp"

namespace servesim {
namespace {

TEST(RandomStream, SameSeedAndPurposeGiveTheSameDraws) {
  RandomStream a(7, "arrivals");
  RandomStream b(7, "arrivals");
  RandomStream c(7, "prompt_tokens");
  int same_as_c = 0;
  for (int i = 0; i < 100; ++i) {
    const double x = a.uniform01();
    EXPECT_EQ(x, b.uniform01());
    same_as_c += x == c.uniform01();
  }
  EXPECT_EQ(same_as_c, 0);  // purposes are independent streams
}

TEST(RandomStream, DrawsArePinned) {
  // mt19937_64's output is fixed by the C++ standard and our distributions are our own code,
  // so these values must be the same with any compiler or standard library. If this fails,
  // every seeded result in the project has changed.
  RandomStream r(42, "pinned");
  const double u = r.uniform01();
  const double e = r.exponential(2.0);
  RandomStream r2(42, "pinned");
  EXPECT_EQ(r2.uniform01(), u);
  EXPECT_EQ(r2.exponential(2.0), e);
  // Exact bits, printed once from this implementation:
  EXPECT_EQ(std::bit_cast<std::uint64_t>(u), 0x3fc066616cd6f3ecULL) << std::hexfloat << u;
}

TEST(RandomStream, DistributionMomentsMatchTheory) {
  RandomStream r(1, "moments");
  const int n = 200000;
  double se = 0, sg = 0, sg2 = 0, sn = 0;
  for (int i = 0; i < n; ++i) {
    se += r.exponential(4.0);  // mean 1/4
    const double g = r.gamma(0.25, 2.0);  // mean k theta = 0.5, var k theta^2 = 1
    sg += g;
    sg2 += g * g;
    sn += r.normal(3.0, 2.0);
  }
  // Standard errors: exp sd 0.25/sqrt(n) = 5.6e-4; tolerances are about 5 of them.
  EXPECT_NEAR(se / n, 0.25, 3e-3);
  EXPECT_NEAR(sg / n, 0.5, 0.012);
  EXPECT_NEAR(sg2 / n - (sg / n) * (sg / n), 1.0, 0.1);
  EXPECT_NEAR(sn / n, 3.0, 0.03);
}

TEST(RandomStream, BelowIsUniformOverResidues) {
  RandomStream r(3, "below");
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 30000; ++i) ++counts[r.below(3)];
  for (int c : counts) EXPECT_NEAR(c, 10000, 400);  // sd ~ 82
}

}  // namespace
}  // namespace servesim
