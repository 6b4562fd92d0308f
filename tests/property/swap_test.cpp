// Preemption by swap moves KV to host memory and back; nothing is computed twice.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "sim/metrics/summary.hpp"
#include "sim/cluster/simulator.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

const char* kTight = R"(
[model]
name = "llama-3-8b"
[hardware]
gpu = "h100-sxm"
calibration = "none"
[engine]
max_num_seqs = 64
num_gpu_blocks = 400
[workload]
requests = 300
arrival = "poisson"
rate = 30
prompt_tokens = { distribution = "lognormal", mean = 600, stddev = 400, min = 16, max = 4000 }
output_tokens = { distribution = "uniform", min = 50, max = 400 }
)";

struct Outcome {
  RunResult run;
  double computed = 0;
};

Outcome run(const std::string& preemption, const std::string& scheduler, std::uint64_t seed) {
  Outcome o{testing::simulate(
      "swap", kTight,
      {fmt::format("engine.preemption=\"{}\"", preemption),
       fmt::format("engine.scheduler=\"{}\"", scheduler), fmt::format("seed={}", seed)})};
  for (const ReplicaStats& st : o.run.replicas) o.computed += st.computed_tokens;
  return o;
}

TEST(Swap, EveryTokenIsComputedOnceAndRecomputeComputesMore) {
  for (const char* scheduler : {"continuous", "mixed"}) {
    for (std::uint64_t seed = 1; seed <= 3; ++seed) {
      const Outcome swap = run("swap", scheduler, seed);
      const Outcome recompute = run("recompute", scheduler, seed);
      const Summary s = summarize(swap.run);
      ASSERT_GT(s.swaps, 0) << scheduler << " seed " << seed;  // memory is short here
      EXPECT_EQ(s.swaps, s.preemptions);  // 4 GiB of host space holds every victim
      // Each prompt token is prefilled once and each later token decoded once:
      // sum(prompt) + sum(output - 1) tokens go through the model.
      double once = 0;
      for (const Request& r : swap.run.requests) once += r.prompt_tokens + r.output_tokens - 1;
      EXPECT_DOUBLE_EQ(swap.computed, once) << scheduler << " seed " << seed;
      EXPECT_GT(recompute.computed, once) << scheduler << " seed " << seed;
      for (std::int64_t peak : swap.run.kv_peak_blocks) EXPECT_LE(peak, 400);
    }
  }
}

TEST(Swap, NoHostSpaceFallsBackToRecompute) {
  const Summary sum = summarize(
      testing::simulate("noswap", kTight, {"engine.preemption=\"swap\"", "engine.swap_space_gib=0"}));
  EXPECT_GT(sum.preemptions, 0);
  EXPECT_EQ(sum.swaps, 0);
}

TEST(Swap, CopiesCrossTheNetworkAndEveryByteComesBack) {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    const Outcome o = run("swap", "continuous", seed);
    const NetworkResult& n = o.run.network;
    ASSERT_TRUE(n.built);  // swap preemption needs host links: the network is built for them
    EXPECT_GT(n.flows, 0);
    EXPECT_DOUBLE_EQ(n.bytes_delivered, n.bytes_started);
    double carried = 0;
    for (const FlowLinkStats& st : n.stats) carried += st.bytes;
    EXPECT_NEAR(carried, n.bytes_routed, 1e-6 * n.bytes_routed);  // two links a copy
    // One replica of one GPU: its own PCIe link to host and back. Every block swapped out is
    // swapped in again (every request finishes), so both directions carry the same bytes.
    double out = -1;
    double in = -1;
    for (std::size_t l = 0; l < n.links.size(); ++l) {
      if (n.links[l].name == "gpu0>n0.pcie0") out = n.stats[l].bytes;
      if (n.links[l].name == "n0.pcie0>gpu0") in = n.stats[l].bytes;
      EXPECT_LE(n.stats[l].peak_load, 1.0 + 1e-9);
    }
    EXPECT_GT(out, 0);
    EXPECT_NEAR(out, in, 1e-6 * out);
  }
}

}  // namespace
}  // namespace servesim
