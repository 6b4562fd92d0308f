// Replay, compare and fit: a simulated run replayed through its own scenario is reproduced
// exactly; fit recovers planted engine parameters; the frontend model and warm-up behave as
// docs/calibration-runs.md defines them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "sim/core/csv_table.hpp"
#include "sim/replay/measured.hpp"
#include "sim/replay/replay.hpp"
#include "sim/report/report.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

namespace fs = std::filesystem;

constexpr const char* kEngine = R"(
[model]
name = "llama-3-8b"
[hardware]
gpu = "h100-sxm"
[engine]
scheduler = "mixed"
max_num_batched_tokens = 2048
cpu_overhead_ms = 1.0
[workload]
requests = 300
arrival = "poisson"
rate = 6
prompt_tokens = { distribution = "lognormal", mean = 800, stddev = 500, min = 16, max = 4000 }
output_tokens = { distribution = "uniform", min = 16, max = 300 }
)";

// A simulated run written as a run folder (summary.json, requests.csv, trace.csv): a
// "measured" run whose true engine parameters are known.
std::string run_folder(const std::string& name, const std::vector<std::string>& sets) {
  const RunResult r = testing::simulate(name, kEngine, sets);
  const fs::path dir = testing::scratch(name);
  std::ofstream(dir / "summary.json") << summary_json(r, summarize(r)).dump(2);
  std::ofstream csv(dir / "requests.csv");
  write_requests_csv(csv, r);
  std::ofstream trace(dir / "trace.csv");
  write_trace_csv(trace, r);
  return dir.string();
}

FitRun fit_run(const std::string& dir) {
  FitRun f;
  f.measured = read_run_folder(dir);
  f.targets = metric_values(f.measured.summary);
  return f;
}

TEST(Replay, ARunReplayedThroughItsOwnScenarioIsReproducedExactly) {
  const std::string scenario = testing::write_temp("replay-self.toml", kEngine);
  for (int seed : {1, 2, 3}) {
    const std::string dir = run_folder(fmt::format("self-{}", seed), {fmt::format("seed={}", seed)});
    const RunFolder a = read_run_folder(dir);
    Simulator sim(replay_scenario(scenario, {}, a), testing::catalog());
    const RunResult r = sim.run();
    const Comparison c = compare_metrics(metric_values(a.summary), {metric_values(nlohmann::json::parse(
                                                                        summary_json(r, summarize(r)).dump()))});
    // Same arrivals (to the ns the trace prints), same lengths, same engine: every metric
    // within 1e-6 relative (the trace's 9 decimals of a second).
    ASSERT_GE(c.metrics.size(), 19u);
    for (const auto& [name, m] : c.metrics) EXPECT_NEAR(m.error, 0.0, 1e-6) << name << " seed " << seed;
  }
}

TEST(Replay, ASlowerEngineShowsAsAPositiveErrorOnEveryLatency) {
  const std::string scenario = testing::write_temp("replay-slow.toml", kEngine);
  const RunFolder a = read_run_folder(run_folder("slow", {}));
  Simulator sim(replay_scenario(scenario, {"engine.step_time_scale=1.2"}, a), testing::catalog());
  const RunResult r = sim.run();
  const Comparison c =
      compare_metrics(metric_values(a.summary), {metric_values(nlohmann::json::parse(summary_json(r, summarize(r)).dump()))});
  // 20% more GPU time per step: a step of the same batch takes 1 ms + 1.2 x GPU, so TPOT
  // grows by over 10% (GPU time is most of a step at these batches); slower steps also let
  // more sequences gather per batch, which adds some more, but not another 20%.
  EXPECT_GT(c.metrics.at("tpot.p50").error, 0.10);
  EXPECT_LT(c.metrics.at("tpot.p50").error, 0.40);
  for (const char* m : {"ttft.p50", "itl.p50", "e2e.p50"}) EXPECT_GT(c.metrics.at(m).error, 0.0) << m;
  EXPECT_FALSE(c.worst.empty());
}

TEST(Fit, RecoversPlantedEngineParametersWithinTwoPercent) {
  const std::string scenario = testing::write_temp("fit.toml", kEngine);
  // Two loads, 3 and 14 requests/s, so that per-iteration overhead and GPU scale move the
  // latencies differently (more sequences per iteration at the higher load).
  const std::vector<std::string> planted = {"engine.cpu_overhead_ms=2.5", "engine.step_time_scale=1.3",
                                            "engine.first_token_overhead_ms=30"};
  std::vector<FitRun> runs;
  for (int rate : {3, 14}) {
    auto sets = planted;
    sets.push_back(fmt::format("workload.rate={}", rate));
    runs.push_back(fit_run(run_folder(fmt::format("planted-{}", rate), sets)));
  }
  const auto metrics = default_fit_metrics(runs.front().targets);
  {
    // The engine's two: from 1.0 and 1.0, with the frontend's planted 30 ms given.
    std::vector<FitParam> p = {parse_fit_param("engine.cpu_overhead_ms"), parse_fit_param("engine.step_time_scale")};
    p[0].start = 1.0;
    p[1].start = 1.0;
    const FitResult f = fit_params(scenario, {"engine.first_token_overhead_ms=30"}, p, runs, metrics);
    EXPECT_NEAR(f.params[0].value, 2.5, 0.02 * 2.5);
    EXPECT_NEAR(f.params[1].value, 1.3, 0.02 * 1.3);
    EXPECT_LT(f.error_after, 0.01);
    EXPECT_GT(f.error_before, 0.3);
  }
  {
    // All three at once, from 1.0, 1.0 and 0 ms.
    std::vector<FitParam> p = {parse_fit_param("engine.cpu_overhead_ms"), parse_fit_param("engine.step_time_scale"),
                               parse_fit_param("engine.first_token_overhead_ms")};
    p[0].start = 1.0;
    p[1].start = 1.0;
    const FitResult f = fit_params(scenario, {}, p, runs, metrics);
    EXPECT_NEAR(f.params[0].value, 2.5, 0.02 * 2.5);
    EXPECT_NEAR(f.params[1].value, 1.3, 0.02 * 1.3);
    EXPECT_NEAR(f.params[2].value, 30.0, 0.02 * 30.0);
  }
  {
    // The frontend's two on one run, the engine's given: 30 ms and 0 ms per token.
    std::vector<FitParam> p = {parse_fit_param("engine.first_token_overhead_ms"),
                               parse_fit_param("engine.token_overhead_ms")};
    p[1].start = 3.0;
    const FitResult f = fit_params(scenario, {"engine.cpu_overhead_ms=2.5", "engine.step_time_scale=1.3"}, p,
                                   {runs.front()}, metrics);
    EXPECT_NEAR(f.params[0].value, 30.0, 0.02 * 30.0);
    EXPECT_NEAR(f.params[1].value, 0.0, 0.02);  // 2% of a 1 ms token overhead
  }
}

TEST(Fit, RecoversAPlantedPerSequenceOverhead) {
  const std::string scenario = testing::write_temp("fit-seq.toml", kEngine);
  std::vector<FitRun> runs;
  for (int rate : {3, 14}) {
    runs.push_back(fit_run(run_folder(fmt::format("planted-seq-{}", rate),
                                      {"engine.seq_overhead_us=40", "engine.step_time_scale=1.3",
                                       fmt::format("workload.rate={}", rate)})));
  }
  std::vector<FitParam> p = {parse_fit_param("engine.seq_overhead_us"), parse_fit_param("engine.step_time_scale")};
  p[1].start = 1.0;
  const FitResult f = fit_params(scenario, {}, p, runs, default_fit_metrics(runs.front().targets));
  // 40 us per sequence and x1.3, from 0 and 1.
  EXPECT_NEAR(f.params[0].value, 40.0, 0.02 * 40.0);
  EXPECT_NEAR(f.params[1].value, 1.3, 0.02 * 1.3);
}

TEST(Fit, PerSequenceOverheadIsRefusedForPipelines) {
  EXPECT_HAS(testing::error_of([] {
               testing::simulate("seq-pp", kEngine, {"cluster.pp=2", "engine.seq_overhead_us=10"});
             }),
             "seq_overhead_us");
  // The GPU-time scale applies to every stage: a pipeline runs with it.
  const RunResult r = testing::simulate("scale-pp", kEngine, {"cluster.pp=2", "engine.step_time_scale=1.2",
                                                              "workload.requests=20"});
  EXPECT_EQ(summarize(r).completed, 20);
}

TEST(Fit, RefusesWhatTheDataCannotDetermine) {
  const std::string scenario = testing::write_temp("fit-refuse.toml", kEngine);
  const std::vector<FitRun> runs = {fit_run(run_folder("refuse", {}))};
  const auto metrics = default_fit_metrics(runs.front().targets);
  // framework_launch_us prices eager framework launches, which this CUDA-graph engine with
  // framework_launch = false never makes.
  std::string e = testing::error_of([&] {
    fit_params(scenario, {}, {parse_fit_param("engine.framework_launch_us")}, runs, metrics);
  });
  EXPECT_HAS(e, "does not move the fitted metrics");
  // Per-iteration CPU time and per-token streaming time both add a constant to every token
  // gap at one load: alike on one run.
  // (Each starts at the scenario's value, as servesim fit starts them: the scale at 1.)
  std::vector<FitParam> alike = {parse_fit_param("engine.cpu_overhead_ms"), parse_fit_param("engine.step_time_scale"),
                                 parse_fit_param("engine.token_overhead_ms")};
  alike[0].start = 1.5;
  alike[1].start = 1.0;
  e = testing::error_of([&] { fit_params(scenario, {}, alike, runs, metrics); });
  EXPECT_HAS(e, "almost alike");
  // Started where steps would beat the GPU's memory bandwidth (half the modelled time): the
  // simulator refuses the point, and fit says so instead of searching from it.
  std::vector<FitParam> fast = {parse_fit_param("engine.step_time_scale")};
  fast[0].start = 0.5;
  e = testing::error_of([&] { fit_params(scenario, {}, fast, runs, metrics); });
  EXPECT_HAS(e, "servesim fit would start at engine.step_time_scale = 0.5, which the simulator refuses");
  EXPECT_HAS(e, "faster than the h100-sxm's peaks allow");
  e = testing::error_of([&] {
    fit_params(scenario, {}, {parse_fit_param("engine.cpu_overhead_ms"), parse_fit_param("engine.step_time_scale")},
               runs, {"ttft.p50"});
  });
  EXPECT_HAS(e, "cannot be determined by 1 measured figures");
  // One parameter, one figure: determined (TTFT P50 of this run at the 1.0 ms it was made
  // with).
  const FitResult one = fit_params(scenario, {}, {parse_fit_param("engine.cpu_overhead_ms")}, runs, {"ttft.p50"});
  EXPECT_LT(one.error_after, 0.01);
  EXPECT_HAS(testing::error_of([] { parse_fit_param("engine.max_num_seqs"); }), "servesim fit can fit");
  EXPECT_HAS(testing::error_of([] { parse_fit_param("engine.cpu_overhead_ms=5:1"); }), "LO:HI");
}

// The committed profile of the H200 sample keeps what docs/validation.md reports: RMS of the
// 16 log errors 37.1% before, 4.8% after.
TEST(Fit, TheCommittedH200ProfileStillPredictsItsRun) {
  const std::string src = SERVESIM_SOURCE_DIR;
  const MeasuredRun m = import_run(src + "/calibration/validation/h200-llama3-8b-cb/vllm_a_r8.json");
  const fs::path dir = testing::scratch("h200-profile");
  write_measured(m, dir.string());
  const FitRun run = fit_run(dir.string());
  const auto metrics = default_fit_metrics(run.targets);
  ASSERT_EQ(metrics.size(), 16u);
  const std::string scenario = src + "/scenarios/h200-cb-replay.toml";
  const RunError before = run_error(scenario, {}, {}, false, run, metrics);
  const RunError after = run_error(scenario, profile_overrides(src + "/engine-profiles/h200-llama3-8b-cb.toml"), {},
                                   false, run, metrics);
  EXPECT_NEAR(before.rms, 0.371, 0.005);
  EXPECT_NEAR(after.rms, 0.048, 0.005);
}

TEST(Frontend, OverheadsMoveEachRequestsClientTimesExactly) {
  for (int seed : {1, 2}) {
    const auto seed_set = fmt::format("seed={}", seed);
    const RunResult base = testing::simulate("fe0", kEngine, {seed_set});
    const RunResult with = testing::simulate(
        "fe1", kEngine, {seed_set, "engine.first_token_overhead_ms=40", "engine.token_overhead_ms=0.5"});
    ASSERT_EQ(base.requests.size(), with.requests.size());
    for (std::size_t i = 0; i < base.requests.size(); ++i) {
      const Request& b = base.requests[i];
      const Request& w = with.requests[i];
      // Open loop: the engine's timeline is untouched; the client sees the first token 40 ms
      // later and the last 40 + 0.5 x (tokens - 1) ms later.
      EXPECT_EQ((w.first_token - b.first_token).ns, 40'000'000) << i;
      EXPECT_EQ((w.finish - b.finish).ns, 40'000'000 + 500'000LL * (b.output_tokens - 1)) << i;
      EXPECT_EQ(w.first_scheduled, b.first_scheduled) << i;
    }
    // Every gap 0.5 ms longer: the ITL sketch's mean moves by 0.5 ms (within its accuracy).
    EXPECT_NEAR(summarize(with).itl.mean - summarize(base).itl.mean, 0.5, 0.02 * summarize(with).itl.mean);
  }
  // Tokenizing 10 us per prompt token delays the engine's first sight of each request by
  // exactly that: its queueing starts 10 us x prompt later (the first request finds the
  // engine idle, so its first iteration starts when it is tokenized).
  const RunResult tok = testing::simulate("fe2", kEngine, {"engine.tokenize_us_per_token=10"});
  const Request& r0 = tok.requests.front();
  EXPECT_EQ((r0.first_scheduled - r0.arrival).ns, 10'000LL * r0.prompt_tokens);
  EXPECT_HAS(testing::error_of([] {
               testing::simulate("fe3", std::string(kEngine) + "[[cluster.pool]]\nname = \"a\"\n[cluster.pool.engine]\ntoken_overhead_ms = 1\n");
             }),
             "frontend");
}

TEST(Workload, WarmupRequestsAreSimulatedButLeftOutOfTheMetrics) {
  for (const auto& config : testing::scheduler_variety()) {
    auto sets = config;
    sets.push_back("workload.warmup_requests=50");
    const RunResult r = testing::simulate("warm", kEngine, sets);
    const Summary s = summarize(r);
    const std::string where = fmt::format("config {}", fmt::join(config, " "));
    // 300 issued, the first 50 warm-up: the rest are counted (done or rejected).
    EXPECT_EQ(s.total, 300) << where;
    EXPECT_EQ(s.warmup, 50) << where;
    std::int64_t done = 0;
    std::uint64_t gaps = 0;
    for (std::size_t i = 0; i < r.requests.size(); ++i) {
      const Request& q = r.requests[i];
      EXPECT_EQ(q.warmup, i < 50) << i << " " << where;
      if (i < 50 || q.state != RequestState::kDone) continue;
      ++done;
      // ITL: the counted requests' gaps only, O - 1 each (none for a cached answer).
      if (!q.cached) gaps += static_cast<std::uint64_t>(q.output_tokens - 1);
    }
    EXPECT_EQ(s.completed, done) << where;
    EXPECT_EQ(s.ttft.count, static_cast<std::uint64_t>(done)) << where;
    EXPECT_EQ(s.itl.count, gaps) << where;
    std::ostringstream csv;
    write_requests_csv(csv, r);
    const CsvTable t = CsvTable::read(testing::write_temp("warm.csv", csv.str()));
    int marked = 0;
    for (std::size_t i = 0; i < t.rows(); ++i) marked += t.text(i, "warmup") == "1";
    EXPECT_EQ(marked, 50) << where;
  }
}

TEST(Workload, ClosedLoopWarmupCountsTheFirstIssued) {
  const RunResult r = testing::simulate(
      "warm-closed", kEngine, {"workload.arrival=\"closed-loop\"", "workload.concurrency=4", "workload.warmup_requests=8"});
  // 300 requests from 4 users; the first 8 issued (the 4 at t = 0 and the next 4) are warm-up.
  EXPECT_EQ(summarize(r).warmup, 8);
  std::uint64_t gaps = 0;
  for (std::size_t i = 8; i < r.requests.size(); ++i) gaps += static_cast<std::uint64_t>(r.requests[i].output_tokens - 1);
  EXPECT_EQ(summarize(r).itl.count, gaps);
  for (std::size_t i = 0; i < r.requests.size(); ++i) EXPECT_EQ(r.requests[i].warmup, i < 8) << i;
}

TEST(Replay, ARunWithoutStartTimesReplaysAsTheClientSent) {
  // vLLM's legacy fixture: request_rate inf, max_concurrency 2, no start times: a closed
  // loop of 2 users.
  const MeasuredRun m = import_run(std::string(SERVESIM_TEST_DATA) + "/import/vllm_legacy_inf_rate.json");
  const fs::path dir = testing::scratch("legacy-replay");
  write_measured(m, dir.string());
  const Scenario sc = replay_scenario(testing::write_temp("legacy.toml", kEngine), {}, read_run_folder(dir.string()));
  EXPECT_EQ(sc.workload.trace_timing, WorkloadConfig::TraceTiming::kConcurrency);
  EXPECT_EQ(sc.workload.concurrency, 2);
  Simulator sim(sc, testing::catalog());
  const RunResult r = sim.run();
  // Two users: the first two requests at 0, the third when one of them is answered.
  ASSERT_EQ(r.requests.size(), 3u);
  EXPECT_EQ(r.requests[0].arrival.ns, 0);
  EXPECT_EQ(r.requests[1].arrival.ns, 0);
  EXPECT_GT(r.requests[2].arrival.ns, 0);
}

TEST(Workload, ClosedLoopUsersRampUpEvenly) {
  const RunResult r = testing::simulate(
      "ramp", kEngine, {"workload.arrival=\"closed-loop\"", "workload.concurrency=8", "workload.ramp_up_s=4"});
  // User u's first request at u x 4 s / 8: 0, 0.5, ..., 3.5 s.
  for (int u = 0; u < 8; ++u) EXPECT_EQ(r.requests[static_cast<std::size_t>(u)].arrival.ns, u * 500'000'000LL) << u;
  EXPECT_HAS(testing::error_of([] { testing::simulate("ramp2", kEngine, {"workload.ramp_up_s=4"}); }),
             "closed-loop users only");
}

TEST(Workload, TheRunReportNamesTheClosedLoopStartUpBurst) {
  const std::vector<std::string> closed = {"workload.arrival=\"closed-loop\"", "workload.concurrency=8",
                                           "workload.requests=80"};
  const RunResult r = testing::simulate("burst", kEngine, closed);
  std::ostringstream text;
  write_text_report(text, r, summarize(r));
  // The first 8 requests (one per user, all at t = 0) against the other 72, from the records.
  const auto rec = request_records(r);
  double first = 0, rest = 0;
  for (std::size_t i = 0; i < rec.size(); ++i) (i < 8 ? first : rest) += rec[i].ttft_ms;
  EXPECT_HAS(text.str(), fmt::format("all 8 users send their first request at t = 0; those requests' "
                                     "mean TTFT is {:.1f} ms against {:.1f} ms for the rest",
                                     first / 8, rest / 72));
  EXPECT_GT(first / 8, rest / 72);  // they queue behind one another
  // With a ramp-up, or the burst left out as warm-up, there is nothing to warn of.
  for (const char* fix : {"workload.ramp_up_s=2", "workload.warmup_requests=8"}) {
    std::vector<std::string> sets = closed;
    sets.push_back(fix);
    const RunResult f = testing::simulate("burst-fixed", kEngine, sets);
    std::ostringstream t;
    write_text_report(t, f, summarize(f));
    EXPECT_EQ(t.str().find("START-UP"), std::string::npos) << fix;
  }
}

TEST(Workload, ClosedLoopUsersThinkBeforeTheirNextRequest) {
  // One user, 0.5 s of thinking: each request is sent 0.5 s after the previous answer.
  const RunResult r = testing::simulate("think", kEngine,
                                        {"workload.arrival=\"closed-loop\"", "workload.concurrency=1",
                                         "workload.requests=20", "workload.think_time=0.5"});
  ASSERT_EQ(r.requests.size(), 20u);
  EXPECT_EQ(r.requests[0].arrival.ns, 0);
  for (std::size_t i = 1; i < r.requests.size(); ++i) {
    EXPECT_EQ((r.requests[i].arrival - r.requests[i - 1].finish).ns, 500'000'000) << i;
  }
  // Four users, lognormal think times (mean 1 s): every user's next request is at least its
  // previous answer's end, and the run lasts longer than without thinking.
  const RunResult l = testing::simulate(
      "think2", kEngine,
      {"workload.arrival=\"closed-loop\"", "workload.concurrency=4", "workload.requests=60",
       "workload.think_time={ distribution = \"lognormal\", mean = 1.0, stddev = 0.5, min = 0.1, max = 5 }"});
  const RunResult none = testing::simulate(
      "think3", kEngine, {"workload.arrival=\"closed-loop\"", "workload.concurrency=4", "workload.requests=60"});
  EXPECT_GT(l.end.ns, none.end.ns + 10'000'000'000LL);  // 56 later requests x ~1 s / 4 users
  EXPECT_HAS(testing::error_of([] { testing::simulate("think4", kEngine, {"workload.think_time=1"}); }),
             "closed-loop users only");
  EXPECT_HAS(testing::error_of([] {
               testing::simulate("think5", kEngine, {"workload.arrival=\"closed-loop\"", "workload.think_time=-1"});
             }),
             "from 0 to");
}

TEST(Workload, TraceLengthsAtRebuiltArrivals) {
  const std::string trace = testing::write_temp("rebuilt.csv", "arrival_s,prompt_tokens,output_tokens\n0,100,10\n0,200,20\n0,300,30\n0,400,40\n");
  const std::string toml = fmt::format(R"(
[model]
name = "llama-3-8b"
[hardware]
gpu = "h100-sxm"
[workload]
arrival = "trace"
trace = "{}"
trace_timing = "rate"
rate = 2
)",
                                       trace);
  const RunResult a = testing::simulate("rb1", toml, {"seed=1"});
  const RunResult b = testing::simulate("rb2", toml, {"seed=2"});
  ASSERT_EQ(a.requests.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    // Lengths in row order; arrivals drawn at 2/s, differently per seed.
    EXPECT_EQ(a.requests[i].prompt_tokens, 100 * static_cast<int>(i + 1));
    EXPECT_EQ(b.requests[i].output_tokens, 10 * static_cast<int>(i + 1));
  }
  EXPECT_NE(a.requests[3].arrival, b.requests[3].arrival);
  EXPECT_GT(a.requests[3].arrival.ns, 0);
}

TEST(Profile, LaysEngineKeysUnderTheScenarioAndRefusesConflicts) {
  const fs::path dir = testing::scratch("profiles");
  fs::create_directories(dir / "engine-profiles");
  std::ofstream(dir / "engine-profiles" / "slow.toml") << "[engine]\ncpu_overhead_ms = 3.25\nstep_time_scale = 1.5\n";
  std::string named = kEngine;
  named.replace(named.find("cpu_overhead_ms = 1.0\n"), 22, "cpu_overhead_ms = 1.0\nprofile = \"slow\"\n");
  std::ofstream(dir / "named.toml") << named;
  // kEngine's [engine] sets cpu_overhead_ms = 1.0 itself: a conflict with the profile.
  EXPECT_HAS(testing::error_of([&] { load_scenario((dir / "named.toml").string()); }), "set both here and in the profile");
  std::string plain = kEngine;
  plain.replace(plain.find("cpu_overhead_ms = 1.0\n"), 22, "profile = \"slow\"\n");
  std::ofstream(dir / "plain.toml") << plain;
  const Scenario s = load_scenario((dir / "plain.toml").string());
  EXPECT_EQ(s.engine.profile, "slow");
  EXPECT_EQ(s.engine.cpu_overhead_ms, 3.25);
  EXPECT_EQ(s.engine.step_time_scale, 1.5);
  // --set wins over the profile.
  EXPECT_EQ(load_scenario((dir / "plain.toml").string(), {"engine.step_time_scale=1.1"}).engine.step_time_scale, 1.1);
  // --profile FILE: its keys as overrides, under --set.
  const auto laid = profile_overrides((dir / "engine-profiles" / "slow.toml").string());
  ASSERT_EQ(laid.size(), 2u);
  EXPECT_EQ(laid[0], "engine.cpu_overhead_ms=3.25");
  std::ofstream(dir / "bad.toml") << "[engine]\ncpu_overhead_ms = 1\n[workload]\nrate = 3\n";
  EXPECT_HAS(testing::error_of([&] { profile_overrides((dir / "bad.toml").string()); }), "one [engine] table");
  std::string missing = kEngine;
  missing.replace(missing.find("cpu_overhead_ms = 1.0\n"), 22, "profile = \"nowhere\"\n");
  std::ofstream(dir / "missing.toml") << missing;
  EXPECT_HAS(testing::error_of([&] { load_scenario((dir / "missing.toml").string()); }), "not found");
}

}  // namespace
}  // namespace servesim
