#include <gtest/gtest.h>

#include "sim/policy/routers.hpp"

namespace servesim {
namespace {

TEST(Routers, EachPicksItsLeastLoadedReplica) {
  RandomStream rng(1, "routing");
  // Replica 0: few requests but long ones; 1: many short ones; 2: fullest KV cache.
  const std::vector<ReplicaLoad> loads = {{2, 9000, 0.30}, {5, 1200, 0.20}, {3, 3000, 0.90}};
  EXPECT_EQ(LeastOutstandingRouter().route(loads, rng), 0u);  // 2 requests
  EXPECT_EQ(LeastTokensRouter().route(loads, rng), 1u);       // 1,200 tokens
  EXPECT_EQ(LeastKvRouter().route(loads, rng), 1u);           // 20% full
  RoundRobinRouter rr;
  EXPECT_EQ(rr.route(loads, rng), 0u);
  EXPECT_EQ(rr.route(loads, rng), 1u);
  EXPECT_EQ(rr.route(loads, rng), 2u);
  EXPECT_EQ(rr.route(loads, rng), 0u);
}

TEST(Routers, RandomSpreadsEvenly) {
  RandomStream rng(7, "routing");
  const std::vector<ReplicaLoad> loads(4);
  int counts[4] = {0, 0, 0, 0};
  RandomRouter r;
  for (int i = 0; i < 4000; ++i) ++counts[r.route(loads, rng)];
  for (int c : counts) EXPECT_NEAR(c, 1000, 100);  // sd ~27
}

}  // namespace
}  // namespace servesim
