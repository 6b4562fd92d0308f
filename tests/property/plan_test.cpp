// servesim plan: the rate search brackets the highest rate a replica sustains within the SLO,
// the replica count covers the target rate, costs follow the prices, and candidates that cannot
// serve say why.
#include "sim/sweep/plan.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "sim/report/plan_report.hpp"

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

TEST(Plan, ATensorGroupAcrossNodesIsProposedOnlyWhenAskedAndSaysSo) {
  // An H100 server holds 8 GPUs: tp 16 spans two of them.
  PlanSpec spec = spec_for(5.0);
  spec.tps = {8, 16};
  const PlanResult refused = run_plan(spec, testing::catalog());
  ASSERT_EQ(refused.candidates.size(), 2U);
  const Candidate& tp16 = refused.candidates[1];  // infeasible ones rank last
  EXPECT_EQ(tp16.tp, 16);
  EXPECT_FALSE(tp16.ok());
  EXPECT_HAS(tp16.infeasible, "more GPUs than a node holds (8 h100-sxm GPUs");
  EXPECT_HAS(tp16.infeasible, "--cross-node-tp");
  EXPECT_TRUE(refused.candidates[0].ok());
  EXPECT_FALSE(refused.candidates[0].crosses_nodes);

  spec.cross_node_tp = true;
  const PlanResult allowed = run_plan(spec, testing::catalog());
  bool seen = false;
  for (const Candidate& c : allowed.candidates) {
    EXPECT_EQ(c.crosses_nodes, c.tp == 16) << c.label;
    if (c.tp != 16) continue;
    seen = true;
    EXPECT_TRUE(c.ok()) << c.infeasible;
    EXPECT_HAS(c.label, "(crosses nodes)");
  }
  EXPECT_TRUE(seen);
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

// One candidate (h100-sxm tp 1) of the test scenario with `slo` and `sets`, planned for one
// request/s so that one replica serves it.
Candidate plan_one(const std::string& slo, std::vector<std::string> sets = {}) {
  PlanSpec spec = spec_for(1.0);
  spec.slo = parse_slo(slo);
  spec.sets = std::move(sets);
  const PlanResult plan = run_plan(spec, testing::catalog());
  EXPECT_EQ(plan.candidates.size(), 1U);
  return plan.candidates.front();
}

// The test scenario, one replica at `rate`, with `sets`.
Summary one_replica(double rate, std::vector<std::string> sets = {}) {
  sets.push_back(fmt::format("workload.rate={}", rate));
  return summarize(testing::simulate("binding", kScenario, sets));
}

TEST(Plan, TheBindingLimitIsTheTargetThatMissesJustAboveTheRate) {
  // TTFT: a 300 ms P99 target with TPOT left loose (1 s). Queueing grows with the rate, so
  // TTFT crosses 300 ms first, long before one replica stops keeping up.
  const Candidate ttft = plan_one("ttft.p99=300ms,tpot.p99=1000ms");
  ASSERT_TRUE(ttft.ok()) << ttft.infeasible;
  EXPECT_EQ(ttft.binding, "ttft.p99") << ttft.binding_detail;
  const Summary ttft_above = one_replica(ttft.missed_rate);
  EXPECT_GT(ttft_above.ttft.p99, 300.0);     // the miss is TTFT's ...
  EXPECT_LE(ttft_above.tpot.p99, 1000.0);    // ... not TPOT's,
  EXPECT_FALSE(ttft_above.overloaded);       // and the replica still keeps up.
  EXPECT_LT(ttft_above.kv_cache_peak, 0.95);

  // TPOT: 12 ms P99 against a loose 20 s TTFT. A lone Llama-3-8B decode step on an H100 reads
  // 16 GB of weights at ~3 TB/s (about 5 ms) plus the engine's 1.5 ms CPU work, so TPOT
  // starts near 7 ms and reaches 12 ms as batches grow, at a few requests/s.
  const Candidate tpot = plan_one("ttft.p99=20s,tpot.p99=12ms");
  ASSERT_TRUE(tpot.ok()) << tpot.infeasible;
  EXPECT_EQ(tpot.binding, "tpot.p99") << tpot.binding_detail;
  const Summary tpot_above = one_replica(tpot.missed_rate);
  EXPECT_GT(tpot_above.tpot.p99, 12.0);
  EXPECT_LE(tpot_above.ttft.p99, 20000.0);
  EXPECT_FALSE(tpot_above.overloaded);

  // Compute: both targets loose (60 s, 5 s), so the replica is stopped by no longer keeping
  // up. Its KV cache cannot fill first: at most max_num_seqs = 256 sequences of at most
  // 4,000 + 200 tokens, ~900 on average, are ~230k tokens against the ~430k that 72 GB less
  // 16 GB of weights hold at 128 KiB per token.
  const Candidate compute = plan_one("ttft.p99=60s,tpot.p99=5s");
  ASSERT_TRUE(compute.ok()) << compute.infeasible;
  EXPECT_EQ(compute.binding, "compute") << compute.binding_detail;
  const Summary compute_above = one_replica(compute.missed_rate);
  EXPECT_TRUE(compute_above.overloaded);
  EXPECT_EQ(compute_above.preemptions, 0);
  EXPECT_LT(compute_above.kv_cache_peak, 0.95);

  // KV capacity: the same loose targets with the KV cache pinned to 1,000 blocks of 16 tokens
  // (16,000 tokens, some 17 average sequences): it fills, and the replica preempts or stalls
  // admission before its compute runs out.
  const std::vector<std::string> small_kv = {"engine.num_gpu_blocks=1000"};
  const Candidate kv = plan_one("ttft.p99=60s,tpot.p99=5s", small_kv);
  ASSERT_TRUE(kv.ok()) << kv.infeasible;
  EXPECT_EQ(kv.binding, "kv-capacity") << kv.binding_detail;
  const Summary kv_above = one_replica(kv.missed_rate, small_kv);
  EXPECT_TRUE(kv_above.preemptions > 0 || kv_above.kv_cache_peak >= 0.95);
  // A KV-bound replica sustains less than the compute-bound one.
  EXPECT_LT(kv.max_rate, compute.max_rate);

  // Headroom at the sustainable rate: 1 - value / limit for each target, from the replica's
  // run at max_rate.
  const Summary at = one_replica(ttft.max_rate);
  ASSERT_EQ(ttft.headroom.size(), 2U);
  EXPECT_NEAR(ttft.headroom[0], 1.0 - at.ttft.p99 / 300.0, 1e-12);
  EXPECT_NEAR(ttft.headroom[1], 1.0 - at.tpot.p99 / 1000.0, 1e-12);
  EXPECT_GE(ttft.headroom[0], 0.0);  // it meets the target there
  // h100-sxm has calibration/results/h100-sxm.toml fitted on that GPU; a100-80gb's is derived.
  EXPECT_EQ(ttft.calibration, "measured");
}

TEST(Plan, KnobsThatDoNotApplyAreDroppedAndTheirCandidatesMerged) {
  PlanSpec spec = spec_for(1.0);
  spec.slo = parse_slo("ttft.p99=1000ms,tpot.p99=100ms");
  spec.vary = {parse_axis("engine.scheduler=mixed,chunked,continuous"),
               parse_axis("engine.chunk_size=256,512")};
  const PlanResult plan = run_plan(spec, testing::catalog());
  // 3 x 2 settings; chunk_size is read by chunked alone, so mixed and continuous each keep
  // one: 2 (chunked) + 1 + 1 = 4 candidates.
  ASSERT_EQ(plan.candidates.size(), 4U);
  int chunked = 0;
  for (const Candidate& c : plan.candidates) {
    const bool reads = c.values[0] == "chunked";
    chunked += reads;
    EXPECT_EQ(c.values[1] == "-", !reads) << c.label;
    EXPECT_EQ(c.label.find("chunk_size") != std::string::npos, reads) << c.label;
  }
  EXPECT_EQ(chunked, 2);
  ASSERT_EQ(plan.notices.size(), 2U);
  EXPECT_HAS(plan.notices[0], "engine.chunk_size does not apply to the mixed scheduler or the "
                              "continuous scheduler (only chunked reads it)");
  EXPECT_HAS(plan.notices[0], "dropped from 4 of 6");
  EXPECT_HAS(plan.notices[1], "6 knob settings merge into 4");
  // A value only one setting gets wrong fails that candidate, not the plan.
  PlanSpec one_bad = spec;
  one_bad.vary = {parse_axis("engine.max_num_seqs=64,0")};  // (a bad first value stops the plan, as a sweep)
  const PlanResult mixed = run_plan(one_bad, testing::catalog());
  ASSERT_EQ(mixed.candidates.size(), 2U);
  EXPECT_TRUE(mixed.candidates[0].ok());  // feasible ones rank first
  EXPECT_HAS(mixed.candidates[1].infeasible, "max_num_seqs");
  // A knob every candidate reads draws no notice.
  PlanSpec all = spec;
  all.vary = {parse_axis("engine.scheduler=chunked"), parse_axis("engine.chunk_size=256,512")};
  const PlanResult kept = run_plan(all, testing::catalog());
  EXPECT_EQ(kept.candidates.size(), 2U);
  EXPECT_TRUE(kept.notices.empty());
}

TEST(Plan, LabelsAndKnobValuesAreNeverCut) {
  PlanSpec spec = spec_for(1.0);
  spec.slo = parse_slo("ttft.p99=1000ms,tpot.p99=100ms");
  // Two settings that differ only after their first 60 characters.
  const std::string a = R"({ distribution = "lognormal", mean = 800, stddev = 400, min = 16, max = 4000 })";
  const std::string b = R"({ distribution = "lognormal", mean = 800, stddev = 400, min = 16, max = 3000 })";
  spec.vary = {parse_axis("workload.prompt_tokens=" + a + "," + b)};
  const PlanResult plan = run_plan(spec, testing::catalog());
  ASSERT_EQ(plan.candidates.size(), 2U);
  std::ostringstream text;
  write_plan_text(text, plan, 0.0);
  const auto json = plan_json(plan);
  for (std::size_t i = 0; i < plan.candidates.size(); ++i) {
    const Candidate& c = plan.candidates[i];
    ASSERT_TRUE(c.ok()) << c.infeasible;
    // Row #i+1 of the text table carries the value in full.
    const std::string row = fmt::format("\n{}  h100-sxm", i + 1);
    const auto at = text.str().find(row);
    ASSERT_NE(at, std::string::npos) << text.str();
    const std::string line = text.str().substr(at + 1, text.str().find('\n', at + 1) - at - 1);
    EXPECT_HAS(line, c.values[0]);
    EXPECT_EQ(json["candidates"][i]["label"], c.label);
    EXPECT_HAS(c.label, c.values[0]);
  }
  // The closing sentence names both by their full labels.
  EXPECT_HAS(text.str(), "#1 (" + plan.candidates[0].label + ")");
  EXPECT_HAS(text.str(), "#2 (" + plan.candidates[1].label + ")");
}

// What the plan's own check says of `units` units of a disaggregated candidate at `rate`.
Summary pd_run(const Candidate& c, int units, double rate, std::int64_t requests) {
  const std::string pools = fmt::format(R"(
[[cluster.pool]]
name = "prefill"
role = "prefill"
replicas = {}
tp = {}
[[cluster.pool]]
name = "decode"
role = "decode"
replicas = {}
tp = {}
[disaggregation]
transfer = "{}"
)",
                                        units * c.pd.prefill, c.pd.prefill_tp, units * c.pd.decode,
                                        c.pd.decode_tp, transfer_mode_name(c.pd.transfer));
  return summarize(testing::simulate(
      "check-pd", std::string(kScenario) + pools,
      {fmt::format("workload.rate={}", rate), fmt::format("workload.requests={}", requests)}));
}

bool meets(const PlanSpec& spec, const Summary& s) {
  if (s.overloaded || s.rejected > 0) return false;
  for (const SloTarget& t : spec.slo) {
    if (!(t.value(s) <= t.limit_ms)) return false;
  }
  return true;
}

TEST(Plan, DisaggregatedCandidatesAreSearchedSizedInUnitsAndCompared) {
  PlanSpec spec = spec_for(60.0);
  spec.tps = {1};
  spec.disaggregated = true;
  spec.pd_ratios = {{1, 1}, {1, 2}};
  spec.transfers = {TransferMode::kLayerwise};
  spec.price = {{"h100-sxm", 3.0}};
  const PlanResult plan = run_plan(spec, testing::catalog());
  // One colocated candidate (tp 1) and two disaggregated shapes (1P+1D, 1P+2D at tp 1).
  ASSERT_EQ(plan.candidates.size(), 3U);
  int disaggregated = 0;
  for (const Candidate& c : plan.candidates) {
    ASSERT_TRUE(c.ok()) << c.label << ": " << c.infeasible;
    if (!c.disaggregated) continue;
    ++disaggregated;
    // A unit of x prefill and y decode replicas of one GPU each: x + y GPUs.
    EXPECT_EQ(c.gpus_per_unit, c.pd.prefill + c.pd.decode);
    EXPECT_EQ(c.gpus_total, c.replicas * c.gpus_per_unit);
    EXPECT_DOUBLE_EQ(c.cost_per_hour, 3.0 * c.gpus_total);
    // The bracket: one unit meets at max_rate and misses at missed_rate, for the reason named.
    ASSERT_GT(c.missed_rate, c.max_rate);
    EXPECT_LE(c.missed_rate, c.max_rate * 1.02);
    EXPECT_TRUE(meets(spec, pd_run(c, 1, c.max_rate, 200))) << c.label;
    const Summary missed = pd_run(c, 1, c.missed_rate, 200);
    EXPECT_FALSE(meets(spec, missed)) << c.label;
    EXPECT_FALSE(c.limit.empty());
    // Units enough for 60 requests/s (more than one), and the cluster of that size meets the
    // SLO.
    EXPECT_GT(c.replicas, 1);
    EXPECT_GE(c.replicas * c.max_rate, 60.0 * (1 - 1e-12));
    EXPECT_TRUE(meets(spec, pd_run(c, c.replicas, 60.0, std::min<std::int64_t>(200 * c.replicas, 200000))));
  }
  EXPECT_EQ(disaggregated, 2);
  // The comparison takes the cheapest of each kind (the ranking's first) and names the winner
  // by cost.
  const PlanComparison cmp = plan.comparison();
  ASSERT_NE(cmp.colocated, nullptr);
  ASSERT_NE(cmp.disaggregated, nullptr);
  EXPECT_FALSE(cmp.colocated->disaggregated);
  EXPECT_TRUE(cmp.disaggregated->disaggregated);
  for (const Candidate& c : plan.candidates) {
    const Candidate* best = c.disaggregated ? cmp.disaggregated : cmp.colocated;
    EXPECT_LE(best->cost_per_hour, c.cost_per_hour);
  }
  const bool split = cmp.disaggregated->cost_per_hour < cmp.colocated->cost_per_hour;
  if (cmp.disaggregated->cost_per_hour != cmp.colocated->cost_per_hour) {
    EXPECT_EQ(cmp.winner, split ? "disaggregated" : "colocated");
    EXPECT_NE(cmp.reason.find(cmp.winner + " wins"), std::string::npos) << cmp.reason;
  }
}

}  // namespace
}  // namespace servesim
