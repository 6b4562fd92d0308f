// servesim plan: the rate search brackets the highest rate a replica sustains within the SLO,
// the replica count covers the target rate, costs follow the prices, and candidates that cannot
// serve say why.
#include "sim/sweep/plan.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>

#include "sim/core/error.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

const char* kScenario = R"(
name = "plan-test"
seed = 11
[model]
name = "llama-3-8b"
[hardware]
gpu = "h100-sxm"
[workload]
requests = 200
arrival = "poisson"
rate = 1
prompt_tokens = { distribution = "lognormal", mean = 800, stddev = 400, min = 16, max = 4000 }
output_tokens = { distribution = "uniform", min = 20, max = 200 }
[slo]
ttft_ms = 300
tpot_ms = 30
percentile = 99
)";

PlanSpec spec_for(double rate) {
  PlanSpec s;
  s.scenario = testing::write_temp("plan.toml", kScenario);
  s.rate = rate;
  s.slo = scenario_slo(load_scenario(s.scenario));
  s.jobs = 2;
  return s;
}

// What the plan's own check says of one replica at `rate`.
bool one_replica_meets(const PlanSpec& spec, const Candidate& c, double rate) {
  const Summary s = summarize(testing::simulate(
      "check", kScenario,
      {fmt::format("hardware.gpu=\"{}\"", c.gpu), fmt::format("cluster.tp={}", c.tp),
       "cluster.replicas=1", fmt::format("workload.rate={}", rate)}));
  if (s.overloaded || s.rejected > 0) return false;
  for (const SloTarget& t : spec.slo) {
    if (!(t.value(s) <= t.limit_ms)) return false;
  }
  return true;
}

TEST(Plan, SloTargetsParse) {
  const auto t = parse_slo("ttft.p99=1000ms,tpot.p90=0.06s,e2e.mean=5000");
  ASSERT_EQ(t.size(), 3U);
  EXPECT_EQ(t[0].text(), "ttft.p99 <= 1000 ms");
  EXPECT_DOUBLE_EQ(t[1].limit_ms, 60.0);    // 0.06 s
  EXPECT_DOUBLE_EQ(t[2].limit_ms, 5000.0);  // a bare number is milliseconds
  for (const char* bad : {"ttft.p99", "ttft=100ms", "ttft.p42=1s", "foo.p99=1s", "ttft.p99=-1ms",
                          "ttft.p99=1 parsec"}) {
    EXPECT_THROW(parse_slo(bad), Error) << bad;
  }
  // The scenario's [slo]: P99 TTFT 300 ms and TPOT 30 ms.
  const auto s = scenario_slo(load_scenario(testing::write_temp("plan.toml", kScenario)));
  ASSERT_EQ(s.size(), 2U);
  EXPECT_EQ(s[1].text(), "tpot.p99 <= 30 ms");
}

TEST(Plan, SearchBracketsTheRateAndReplicasCoverTheTarget) {
  PlanSpec spec = spec_for(20.0);
  spec.tps = {1, 2};
  spec.price = {{"h100-sxm", 3.0}};
  const PlanResult plan = run_plan(spec, testing::catalog());
  ASSERT_EQ(plan.candidates.size(), 2U);
  EXPECT_TRUE(plan.priced);
  for (const Candidate& c : plan.candidates) {
    ASSERT_TRUE(c.ok()) << c.label << ": " << c.infeasible;
    // The search stops once the bracket is within 2%: max_rate meets, missed_rate misses.
    ASSERT_GT(c.missed_rate, c.max_rate);
    EXPECT_LE(c.missed_rate, c.max_rate * 1.02);
    EXPECT_TRUE(one_replica_meets(spec, c, c.max_rate)) << c.label;
    EXPECT_FALSE(one_replica_meets(spec, c, c.missed_rate)) << c.label;
    // Enough replicas for 20 requests/s: replicas x max_rate >= 20, less one would not be.
    EXPECT_GE(c.replicas * c.max_rate, 20.0 * (1 - 1e-12));
    EXPECT_LT((c.replicas - c.extra_replicas - 1) * c.max_rate, 20.0);
    EXPECT_EQ(c.gpus_total, c.replicas * c.tp);
    EXPECT_DOUBLE_EQ(c.cost_per_hour, 3.0 * c.gpus_total);
    // $/hour over output tokens per hour, per million.
    EXPECT_NEAR(c.cost_per_million_tokens, c.cost_per_hour / (c.output_tokens_per_s * 3600) * 1e6,
                1e-9);
    EXPECT_GE(c.slo_headroom, 0.0);  // the chosen size meets every target
    EXPECT_GE(c.capacity_headroom, 0.0);
  }
  EXPECT_LE(plan.candidates[0].cost_per_hour, plan.candidates[1].cost_per_hour);
}

TEST(Plan, CandidatesThatCannotServeSayWhy) {
  PlanSpec spec = spec_for(5.0);
  spec.gpus = {"rtx-4090", "h100-sxm"};
  spec.tps = {1};
  spec.sets = {"model.name=\"llama-3-70b\""};
  const PlanResult plan = run_plan(spec, testing::catalog());
  ASSERT_EQ(plan.candidates.size(), 2U);
  // 70B parameters in bf16 are 141 GB: more than one H100 (80 GB) or RTX 4090 (24 GB) holds.
  for (const Candidate& c : plan.candidates) {
    EXPECT_FALSE(c.ok());
    EXPECT_NE(c.infeasible.find("does not fit"), std::string::npos) << c.infeasible;
  }
  // A TTFT target below what a lone request takes: no rate meets it.
  PlanSpec strict = spec_for(5.0);
  strict.slo = parse_slo("ttft.p99=1ms");
  const PlanResult none = run_plan(strict, testing::catalog());
  ASSERT_EQ(none.candidates.size(), 1U);
  EXPECT_NE(none.candidates[0].infeasible.find("misses the SLO even at"), std::string::npos)
      << none.candidates[0].infeasible;
}

TEST(Plan, NeedsARateDrivenWorkloadAndTargets) {
  PlanSpec spec = spec_for(5.0);
  spec.sets = {"workload.arrival=\"closed-loop\""};
  EXPECT_THROW(run_plan(spec, testing::catalog()), Error);
  PlanSpec no_slo = spec_for(5.0);
  no_slo.slo.clear();
  EXPECT_THROW(run_plan(no_slo, testing::catalog()), Error);
  PlanSpec bad_rate = spec_for(0.0);
  EXPECT_THROW(run_plan(bad_rate, testing::catalog()), Error);
}

}  // namespace
}  // namespace servesim
