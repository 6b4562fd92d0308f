// Requests that share a prompt prefix skip computing it while it stays cached.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "sim/metrics/summary.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

const char* kShared = R"(
[model]
name = "llama-3-8b"
[hardware]
gpu = "h100-sxm"
[workload]
requests = 1000
rate = 6
prompt_tokens = { distribution = "uniform", min = 600, max = 1500 }
output_tokens = { distribution = "uniform", min = 20, max = 200 }
prefix = { share = 1.0, tokens = 512, distinct = 1 }
)";

double computed(const RunResult& r) {
  double t = 0;
  for (const ReplicaStats& st : r.replicas) t += st.computed_tokens;
  return t;
}

TEST(PrefixCaching, OnePromptPrefixIsComputedAlmostOnce) {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    const std::string sd = fmt::format("seed={}", seed);
    const RunResult on = testing::simulate("prefix", kShared, {sd});
    const RunResult off = testing::simulate("prefix", kShared, {sd, "engine.prefix_caching=false"});
    const Summary s_on = summarize(on);
    const Summary s_off = summarize(off);
    // Every request shares the one 512-token prefix (32 blocks). Only requests admitted
    // before the first prefill has finished miss: a handful of 1000.
    EXPECT_GT(s_on.prefix_hit_rate, 0.99) << sd;
    EXPECT_EQ(s_off.prefix_hit_rate, 0.0);
    // Each hit skips 512 prefill tokens.
    const double hits = s_on.prefix_hit_rate * 1000;
    EXPECT_NEAR(computed(off) - computed(on), hits * 512, 512.0) << sd;
    EXPECT_LT(s_on.ttft.p50, s_off.ttft.p50) << sd;
  }
}

TEST(PrefixCaching, ManyPrefixesInASmallCacheAreEvictedAndMissed) {
  // 200 distinct prefixes of 512 tokens need 6,400 blocks to stay resident; with 1,500 the
  // cache keeps few, so most lookups miss, and runs still finish within capacity.
  const RunResult r = testing::simulate(
      "prefix-evict", kShared,
      {"workload.prefix={ share = 1.0, tokens = 512, distinct = 200 }", "engine.num_gpu_blocks=1500"});
  const Summary s = summarize(r);
  EXPECT_LT(s.prefix_hit_rate, 0.5);
  EXPECT_EQ(s.completed, 1000);
  for (std::int64_t peak : r.kv_peak_blocks) EXPECT_LE(peak, 1500);
}

}  // namespace
}  // namespace servesim
