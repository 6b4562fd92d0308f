// The router's response cache answers a share of requests without any GPU work.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "sim/metrics/summary.hpp"
#include "sim/cluster/simulator.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

RunResult run(double hit_rate, std::uint64_t seed) {
  return testing::simulate(
      "cache", R"(
[model]
name = "llama-3-8b"
[hardware]
gpu = "h100-sxm"
[cluster]
response_cache_latency_ms = 7
[workload]
requests = 2000
rate = 8
prompt_tokens = { distribution = "uniform", min = 100, max = 1000 }
output_tokens = { distribution = "uniform", min = 20, max = 200 }
)",
      {fmt::format("cluster.response_cache_hit_rate={}", hit_rate), fmt::format("seed={}", seed)});
}

TEST(ResponseCache, AnswersItsShareAtItsLatencyAndSavesGpuWork) {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    const RunResult with = run(0.25, seed);
    const RunResult without = run(0.0, seed);
    const Summary s = summarize(with);
    // 2000 draws at 25%: the hit count is within 4 sd (sd = sqrt(2000 * 0.25 * 0.75) = 19).
    EXPECT_NEAR(static_cast<double>(s.cache_hits), 500.0, 80.0) << "seed " << seed;
    for (const Request& r : with.requests) {
      if (!r.cached) continue;
      // Answered whole, 7 ms after arrival, never routed to a replica.
      EXPECT_EQ((r.finish - r.arrival).ns, 7'000'000);
      EXPECT_EQ(r.first_token, r.finish);
      EXPECT_EQ(r.replica, -1);
    }
    EXPECT_EQ(s.completed, 2000);
    // Fewer requests reach the GPU, so it computes fewer tokens.
    double computed_with = 0, computed_without = 0;
    for (const ReplicaStats& st : with.replicas) computed_with += st.computed_tokens;
    for (const ReplicaStats& st : without.replicas) computed_without += st.computed_tokens;
    EXPECT_LT(computed_with, 0.85 * computed_without);
    EXPECT_EQ(summarize(without).cache_hits, 0);
  }
}

}  // namespace
}  // namespace servesim
