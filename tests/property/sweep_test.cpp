// Sweeps: each point is exactly the run its settings describe, results do not depend on the
// thread count, seeds give confidence intervals, shards merge into the whole, and a point that
// cannot run is reported without stopping the others.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "sim/core/error.hpp"
#include "sim/sweep/analysis.hpp"
#include "sim/sweep/sweep_io.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

const char* kScenario = R"(
name = "sweep-test"
seed = 5
[model]
name = "llama-3-8b"
[hardware]
gpu = "h100-sxm"
[engine]
max_num_seqs = 64
[workload]
requests = 150
arrival = "poisson"
rate = 4
prompt_tokens = { distribution = "lognormal", mean = 800, stddev = 400, min = 16, max = 4000 }
output_tokens = { distribution = "uniform", min = 20, max = 200 }
)";

SweepSpec spec_for(std::vector<std::string> axes, int seeds = 1, int jobs = 2) {
  SweepSpec s;
  s.scenario = testing::write_temp("sweep.toml", kScenario);
  for (const auto& a : axes) s.axes.push_back(parse_axis(a));
  s.seeds = seeds;
  s.jobs = jobs;
  return s;
}

std::string csv_of(const SweepResult& r) {
  std::ostringstream out;
  write_sweep_csv(out, r);
  return out.str();
}

TEST(Sweep, EachPointIsTheRunItsSettingsDescribe) {
  const SweepResult r =
      run_sweep(spec_for({"workload.rate=2:16:x2", "cluster.replicas=1,2"}), testing::catalog());
  ASSERT_EQ(r.points.size(), 8U);  // 4 rates x 2 replica counts
  for (const PointResult& p : r.points) {
    ASSERT_TRUE(p.ok()) << p.error;
    const RunResult run = testing::simulate(
        "one", kScenario, {"workload.rate=" + p.values[0], "cluster.replicas=" + p.values[1]});
    const Summary s = summarize(run);
    const int gpus = std::stoi(p.values[1]);  // tp 1
    EXPECT_EQ(p.gpus, gpus);
    for (std::size_t m = 0; m < sweep_metrics().size(); ++m) {
      EXPECT_EQ(p.mean[m], sweep_metrics()[m].get(s, gpus)) << sweep_metrics()[m].name;
      EXPECT_EQ(p.ci95[m], 0.0);  // one seed
    }
  }
}

TEST(Sweep, ResultsDoNotDependOnThreads) {
  const auto axes = std::vector<std::string>{"workload.rate=1,3,9", "engine.max_num_seqs=8,64"};
  const std::string one = csv_of(run_sweep(spec_for(axes, 2, 1), testing::catalog()));
  const std::string two = csv_of(run_sweep(spec_for(axes, 2, 2), testing::catalog()));
  const std::string many = csv_of(run_sweep(spec_for(axes, 2, 5), testing::catalog()));
  EXPECT_EQ(one, two);
  EXPECT_EQ(one, many);
}

TEST(Sweep, SeedsGiveMeansAndIntervals) {
  const SweepResult r = run_sweep(spec_for({"workload.rate=4"}, 4), testing::catalog());
  // Seeds are the scenario's (5) and the next three.
  EXPECT_EQ(r.seeds, (std::vector<std::uint64_t>{5, 6, 7, 8}));
  const std::size_t ttft = metric_index("ttft_p99_ms", "");
  std::vector<double> x;
  for (std::uint64_t seed : r.seeds) {
    const Summary s = summarize(testing::simulate("s", kScenario, {fmt::format("seed={}", seed)}));
    x.push_back(s.ttft.p99);
  }
  const auto [mean, ci] = mean_ci95(x);
  EXPECT_DOUBLE_EQ(r.points[0].mean[ttft], mean);
  EXPECT_DOUBLE_EQ(r.points[0].ci95[ttft], ci);
  EXPECT_GT(ci, 0.0);  // four different seeds do not agree to the last bit
}

TEST(Sweep, ShardsMergeIntoTheWhole) {
  const auto axes = std::vector<std::string>{"workload.rate=1:16:x2", "engine.max_num_seqs=8,64"};
  const SweepResult whole = run_sweep(spec_for(axes), testing::catalog());
  std::vector<SweepResult> parts;
  for (int i = 2; i >= 0; --i) {  // in any order
    SweepSpec s = spec_for(axes);
    s.shard = i;
    s.shards = 3;
    const SweepResult part = run_sweep(s, testing::catalog());
    // 10 points over 3 shards: shard i holds points i, i + 3, ...: 4, 3 and 3 points.
    EXPECT_EQ(part.points.size(), i == 0 ? 4U : 3U);
    // Through the JSON a shard writes and merge reads.
    parts.push_back(sweep_from_json(nlohmann::json::parse(sweep_json(part, nullptr).dump()), "t"));
  }
  const SweepResult merged = merge_sweeps(parts);
  EXPECT_EQ(csv_of(merged), csv_of(whole));
  const SweepAnalysis a = analyse_sweep(whole, "ttft.p99");
  const SweepAnalysis b = analyse_sweep(merged, "ttft.p99");
  EXPECT_EQ(sweep_json(merged, &b).dump(), sweep_json(whole, &a).dump());

  // A shard of the same axes run with another --set is of another sweep.
  SweepSpec other = spec_for(axes);
  other.shard = 0;
  other.shards = 3;
  other.sets = {"cluster.tp=2"};
  std::vector<SweepResult> mixed(parts.begin(), parts.end() - 1);
  mixed.push_back(run_sweep(other, testing::catalog()));
  EXPECT_THROW(merge_sweeps(mixed), Error);

  parts.pop_back();
  EXPECT_THROW(merge_sweeps(parts), Error);  // a shard missing
  parts.push_back(parts.front());
  EXPECT_THROW(merge_sweeps(parts), Error);  // a shard twice
}

TEST(Sweep, APointThatCannotRunIsReportedAndTheOthersRun) {
  // At 5% of 80 GB (4 GB) the 16 GB of Llama-3-8B weights do not fit; at 90% they do.
  const SweepResult r =
      run_sweep(spec_for({"engine.gpu_memory_utilization=0.9,0.05"}), testing::catalog());
  ASSERT_EQ(r.points.size(), 2U);
  EXPECT_TRUE(r.points[0].ok());
  EXPECT_NE(r.points[1].error.find("does not fit"), std::string::npos) << r.points[1].error;
  std::ostringstream csv;
  write_sweep_csv(csv, r);
  EXPECT_NE(csv.str().find("does not fit"), std::string::npos);
}

TEST(Sweep, MistakesInTheSweepItselfAreErrors) {
  EXPECT_THROW(run_sweep(spec_for({"workload.rte=1,2"}), testing::catalog()), Error);
  EXPECT_THROW(run_sweep(spec_for({"workload.rate=-1,2"}), testing::catalog()), Error);
  EXPECT_THROW(run_sweep(spec_for({"workload.rate=1"}, 0), testing::catalog()), Error);
  SweepSpec s = spec_for({"workload.rate=1"});
  s.shard = 3;
  s.shards = 3;
  EXPECT_THROW(run_sweep(s, testing::catalog()), Error);
}

TEST(Sweep, KneeAndFrontierOfARateSweep) {
  // One replica of Llama-3-8B on an H100 keeps up with 16 requests/s of these lengths (mean
  // 110 output tokens) and is overloaded at 32 (servesim sweep over this scenario, seed 5):
  // rates 1..64 cross saturation, so the knee lies strictly inside.
  const SweepResult r = run_sweep(spec_for({"workload.rate=1:64:x2"}), testing::catalog());
  const SweepAnalysis a = analyse_sweep(r, "ttft.p99");
  ASSERT_EQ(a.knees.size(), 1U);
  ASSERT_TRUE(a.knees[0].knee.has_value());
  const std::size_t k = *a.knees[0].knee;
  EXPECT_GT(k, 0U);
  EXPECT_LT(k, r.points.size() - 1);
  // One configuration: its frontier is its one best point within the SLO (no [slo] here, so
  // the steady point of most throughput per GPU).
  const std::size_t over = metric_index("overloaded", "");
  ASSERT_TRUE(a.knees[0].best.has_value());
  for (std::size_t i = 0; i < r.points.size(); ++i) {
    EXPECT_EQ(a.frontier[i], i == *a.knees[0].best) << i;
    if (r.points[i].mean[over] == 0.0) {
      EXPECT_LE(r.points[i].mean[a.throughput_index], r.points[*a.knees[0].best].mean[a.throughput_index]);
    }
  }
  EXPECT_EQ(r.points[*a.knees[0].best].mean[over], 0.0);
}

TEST(Sweep, WithARateAxisTheFrontierIsAcrossConfigurations) {
  // Three configurations (max_num_seqs 8, 64, 256) over rates 1..64, under a 1 s P99 TTFT
  // target: each competes with its best point within the SLO.
  SweepSpec spec = spec_for({"workload.rate=1:64:x2", "engine.max_num_seqs=8,64,256"});
  spec.sets = {"slo.ttft_ms=1000", "slo.percentile=99"};
  const SweepResult r = run_sweep(spec, testing::catalog());
  const SweepAnalysis a = analyse_sweep(r, "ttft.p99");
  ASSERT_EQ(a.knees.size(), 3U);
  const std::size_t over = metric_index("overloaded", "");
  const std::size_t met = metric_index("slo_met", "");
  std::vector<std::size_t> best;
  for (const Knee& k : a.knees) {
    ASSERT_TRUE(k.best.has_value()) << k.group;
    const PointResult& b = r.points[*k.best];
    EXPECT_EQ(b.mean[over], 0.0) << k.group;
    EXPECT_EQ(b.mean[met], 1.0) << k.group;
    EXPECT_LE(b.mean[a.latency_index], 1000.0) << k.group;  // slo_met: P99 TTFT within 1 s
    // No other point of the configuration within the SLO does more per GPU.
    for (std::size_t p : k.points) {
      const PointResult& q = r.points[p];
      if (q.mean[over] == 0.0 && q.mean[met] == 1.0) {
        EXPECT_LE(q.mean[a.throughput_index], b.mean[a.throughput_index]) << k.group << " " << p;
      }
    }
    best.push_back(*k.best);
  }
  // Only best points are on the frontier; a best point is on it exactly when no other best
  // point is at least as fast and as productive, strictly better in one.
  std::size_t on = 0;
  for (std::size_t i = 0; i < r.points.size(); ++i) {
    const bool is_best = std::find(best.begin(), best.end(), i) != best.end();
    if (!is_best) {
      EXPECT_FALSE(a.frontier[i]) << i;
      continue;
    }
    bool dominated = false;
    for (std::size_t j : best) {
      const double li = r.points[i].mean[a.latency_index], lj = r.points[j].mean[a.latency_index];
      const double ti = r.points[i].mean[a.throughput_index], tj = r.points[j].mean[a.throughput_index];
      dominated = dominated || (lj <= li && tj >= ti && (lj < li || tj > ti));
    }
    EXPECT_EQ(a.frontier[i], !dominated) << i;
    on += a.frontier[i];
  }
  EXPECT_GE(on, 1U);
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

TEST(SweepIdleAxes, AKnobTheSchedulerNeverReadsIsNamed) {
  // The default scheduler (continuous) never reads engine.chunk_size: every pair of points
  // that differ only in it gives identical figures, so it is named; the rate is not.
  const SweepResult idle = run_sweep(spec_for({"engine.chunk_size=128,256", "workload.rate=2,6"}), testing::catalog());
  EXPECT_EQ(idle_axes(idle), std::vector<std::string>{"engine.chunk_size"});
  // The chunked scheduler reads it: nothing is idle.
  SweepSpec chunked = spec_for({"engine.chunk_size=128,256", "workload.rate=2,6"});
  chunked.sets.push_back("engine.scheduler=\"chunked\"");
  EXPECT_TRUE(idle_axes(run_sweep(chunked, testing::catalog())).empty());
  // sweep.json says it too.
  const auto j = sweep_json(idle, nullptr);
  const SweepAnalysis a = analyse_sweep(idle, "ttft.p99");
  EXPECT_EQ(sweep_json(idle, &a)["idle_axes"], nlohmann::ordered_json::array({"engine.chunk_size"}));
  EXPECT_FALSE(j.contains("idle_axes"));
}

}  // namespace
}  // namespace servesim
