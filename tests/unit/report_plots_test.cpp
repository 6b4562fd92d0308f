#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "sim/cluster/simulator.hpp"
#include "sim/core/csv_table.hpp"
#include "sim/core/error.hpp"
#include "sim/report/html_report.hpp"
#include "sim/report/report.hpp"
#include "sim/report/run_plots.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

RequestRow done(int replica, double arrival_s, int output, double ttft_ms, double e2e_ms) {
  RequestRow r;
  r.replica = replica;
  r.arrival_s = arrival_s;
  r.prompt_tokens = 100;
  r.output_tokens = output;
  r.done = true;
  r.ttft_ms = ttft_ms;
  r.e2e_ms = e2e_ms;
  r.tpot_ms = output > 1 ? (e2e_ms - ttft_ms) / (output - 1) : -1;
  return r;
}

IterationRow iteration(int replica, double start, double end, int decode_seqs) {
  IterationRow it;
  it.replica = replica;
  it.start_s = start;
  it.end_s = end;
  it.decode_seqs = decode_seqs;
  return it;
}

TEST(ReportPlots, ItlByPositionFromTheIterationLog) {
  // Replica 0: a prefill ending at 0.9 s, then decodes ending at 1.0, 1.1, 1.3 and 1.6 s.
  const std::vector<IterationRow> its = {iteration(0, 0.8, 0.9, 0), iteration(0, 0.9, 1.0, 1),
                                         iteration(0, 1.0, 1.1, 1), iteration(0, 1.1, 1.3, 1),
                                         iteration(0, 1.3, 1.6, 1)};
  std::vector<RequestRow> reqs;
  // Arrives at 0.5 s, first token at 0.5 + 0.4 = 0.9 s; tokens 2, 3, 4 at 1.0, 1.1, 1.3 s
  // (finish 0.5 + 0.8 = 1.3 s): 3 = output - 1, so it is used. Gaps 100, 100, 200 ms.
  reqs.push_back(done(0, 0.5, 4, 400, 800));
  // First token 1.0 s, finish 1.6 s: tokens at 1.1, 1.3, 1.6: gaps 100, 200, 300 ms.
  reqs.push_back(done(0, 0.6, 4, 400, 1000));
  // Claims 5 tokens but only 3 decodes lie in (0.9, 1.3]: a mismatch, skipped.
  reqs.push_back(done(0, 0.5, 5, 400, 800));
  // Preempted, cached (replica -1) and one-token requests are not eligible at all.
  reqs.push_back(done(0, 0.5, 4, 400, 800));
  reqs.back().preemptions = 1;
  reqs.push_back(done(-1, 0.5, 4, 400, 800));
  reqs.push_back(done(0, 0.5, 1, 400, 400));

  const ItlByPosition itl = itl_by_position(reqs, its);
  EXPECT_EQ(itl.requests_used, 2u);
  EXPECT_EQ(itl.requests_skipped, 1u);
  // The longest eligible request has 5 tokens: gap positions 2..5, bins of 1. Position 5 has
  // no used request, so three points. Mean gaps: (100+100)/2, (100+200)/2, (200+300)/2 ms.
  ASSERT_EQ(itl.position, (std::vector<double>{2, 3, 4}));
  EXPECT_NEAR(itl.mean_ms[0], 100, 1e-6);
  EXPECT_NEAR(itl.mean_ms[1], 150, 1e-6);
  EXPECT_NEAR(itl.mean_ms[2], 250, 1e-6);
  // P90 of {200, 300} at rank 0.9 × 1 -> the lower rank of the sketch: 200 ms within 0.5%.
  EXPECT_NEAR(itl.p90_ms[2], 200, 1.0);
}

TEST(ReportPlots, ItlReconstructionMatchesSimulatedRuns) {
  // Every request that was not preempted must rebuild to exactly output - 1 later tokens,
  // whatever the scheduler; a mismatch would mean the rule in docs/outputs.md is wrong.
  const char* toml = R"(
[model]
name = "llama-3-8b"
[hardware]
gpu = "h100-sxm"
[cluster]
replicas = 2
[engine]
max_num_seqs = 32
[workload]
requests = 150
arrival = "poisson"
rate = 30
prompt_tokens = { distribution = "lognormal", mean = 600, stddev = 500, min = 1, max = 4000 }
output_tokens = { distribution = "uniform", min = 1, max = 200 }
)";
  for (const std::vector<std::string>& sets :
       {std::vector<std::string>{}, {"engine.scheduler=\"mixed\""}, {"engine.scheduler=\"chunked\""}}) {
    Simulator sim(testing::scenario_from("itl", toml, sets), testing::catalog());
    sim.record_iterations();
    const RunResult run = sim.run();
    const auto req_path = testing::write_temp("itl_requests.csv", "");
    const auto it_path = testing::write_temp("itl_iterations.csv", "");
    {
      std::ofstream r(req_path), i(it_path);
      write_requests_csv(r, run);
      write_iterations_csv(i, run);
    }
    const auto reqs = read_requests(CsvTable::read(req_path));
    const auto its = read_iterations(CsvTable::read(it_path));
    std::size_t eligible = 0;
    for (const auto& r : reqs) eligible += r.done && r.replica >= 0 && r.preemptions == 0 && r.output_tokens >= 2;
    const ItlByPosition itl = itl_by_position(reqs, its);
    EXPECT_EQ(itl.requests_skipped, 0u) << (sets.empty() ? "continuous" : sets[0]);
    EXPECT_EQ(itl.requests_used, eligible);
    EXPECT_GT(eligible, 100u);
  }
}

TEST(ReportPlots, CdfsAndTimelinesAreReducedToAFewThousandPoints) {
  std::vector<RequestRow> reqs;
  for (int i = 0; i < 10000; ++i) reqs.push_back(done(0, i * 0.01, 10, 50 + i % 97, 500 + i % 89));
  reqs[3].done = false;  // not completed: left out
  ReportFigure f = latency_cdf_figure(reqs, "ttft");
  ASSERT_EQ(f.figure.series.size(), 1u);
  EXPECT_EQ(f.figure.series[0].x.size(), kMaxPlotPoints);
  EXPECT_DOUBLE_EQ(f.figure.series[0].y.back(), 1.0);  // the last rank is kept
  EXPECT_NE(f.caption.find("9999 completed requests"), std::string::npos) << f.caption;
  EXPECT_THROW(latency_cdf_figure(reqs, "itl"), Error);

  std::vector<IterationRow> its;
  for (int i = 0; i < 5000; ++i) {
    its.push_back(iteration(i % 2, i * 0.01, i * 0.01 + 0.01, 1));
    its.back().waiting = i % 7;
  }
  f = queue_figure(its);
  ASSERT_EQ(f.figure.series.size(), 2u);  // one per replica
  // 2500 iterations per replica > 2000: 1000 time buckets of the maximum, each non-empty.
  EXPECT_EQ(f.figure.series[0].x.size(), 1000u);
  EXPECT_NE(f.caption.find("maximum over each of 1000"), std::string::npos);
  for (double y : f.figure.series[0].y) EXPECT_LE(y, 6);
}

TEST(ReportPlots, SweepKeysAndRateSeries) {
  const auto path = testing::write_temp(
      "sweep.csv",
      "point,workload.rate,engine.max_num_seqs,seeds,output_tokens_per_s,ttft_p99_ms,extra\n"
      "0,10,64,1,1000,50,x\n1,5,64,1,600,40,x\n2,10,128,1,1100,45,x\n3,5,128,1,620,,x\n");
  const CsvTable t = CsvTable::read(path);
  EXPECT_EQ(sweep_keys(t), (std::vector<std::string>{"workload.rate", "engine.max_num_seqs"}));
  const auto figs = sweep_figures(t);
  ASSERT_EQ(figs.size(), 2u);  // tpot_p99_ms and e2e_p50_ms are not in this file
  EXPECT_EQ(figs[0].id, "sweep-throughput");
  ASSERT_EQ(figs[0].figure.series.size(), 2u);
  EXPECT_EQ(figs[0].figure.series[0].label, "max_num_seqs=64");
  EXPECT_EQ(figs[0].figure.series[0].x, (std::vector<double>{5, 10}));  // sorted by rate
  EXPECT_EQ(figs[0].figure.series[0].y, (std::vector<double>{600, 1000}));
  EXPECT_TRUE(std::isnan(figs[1].figure.series[1].y[0]));  // an empty cell is no point

  const auto bad = testing::write_temp("bad_sweep.csv", "rate,seeds\n1,1\n");
  EXPECT_THROW(sweep_keys(CsvTable::read(bad)), Error);
}

TEST(ReportPlots, AGeometricRateAxisIsLogAndOverloadedPointsAreOpenRings) {
  EXPECT_TRUE(geometric({1, 2, 4, 8, 16}));
  EXPECT_TRUE(geometric({16, 1, 4, 2, 8, 4}));  // order and repeats do not matter
  EXPECT_FALSE(geometric({1, 2, 3, 4}));        // a linear grid
  EXPECT_FALSE(geometric({1, 2}));              // two values make any ratio
  EXPECT_FALSE(geometric({0, 1, 2}));
  // A x2 grid (1, 2, 4, 8) with the two highest rates overloaded.
  const auto x2 = testing::write_temp(
      "sweep_x2.csv",
      "point,workload.rate,seeds,output_tokens_per_s,ttft_p99_ms,overloaded\n"
      "0,1,1,100,50,0\n1,2,1,200,60,0\n2,4,1,380,900,1\n3,8,1,400,9000,1\n");
  const auto figs = sweep_figures(CsvTable::read(x2));
  ASSERT_EQ(figs.size(), 2U);
  for (const auto& f : figs) {
    EXPECT_TRUE(f.figure.log_x) << f.id;
    ASSERT_EQ(f.figure.series.size(), 2U);  // the sweep's line and the "overloaded" entry
    EXPECT_EQ(f.figure.series[0].hollow, (std::vector<bool>{false, false, true, true}));
    EXPECT_TRUE(f.figure.series[1].hollow_legend);
    EXPECT_TRUE(f.figure.series[1].x.empty());
    EXPECT_HAS(f.figure.series[1].label, "overloaded");
  }
  // A linear grid with nothing overloaded: a linear axis and no legend entry for rings.
  const auto lin = testing::write_temp(
      "sweep_lin.csv",
      "point,workload.rate,seeds,output_tokens_per_s,overloaded\n"
      "0,2,1,200,0\n1,4,1,400,0\n2,6,1,590,0\n");
  const auto flat = sweep_figures(CsvTable::read(lin));
  ASSERT_EQ(flat.size(), 1U);
  EXPECT_FALSE(flat[0].figure.log_x);
  EXPECT_EQ(flat[0].figure.series.size(), 1U);
}

TEST(ReportHtml, FoldersWithoutOutputsAreErrors) {
  const auto dir = std::filesystem::path(testing::write_temp("unrelated.txt", "")).parent_path() / "empty_out";
  std::filesystem::create_directories(dir);
  EXPECT_THROW(detect_output((dir / "missing").string()), Error);
  try {
    detect_output(dir.string());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sweep.csv"), std::string::npos) << e.what();
  }
}

TEST(ReportPlots, LinkUseOverTimeHoldsEveryByteTheLinksCarried) {
  // Two prefill and two decode instances on one node: KV crosses NVLink.
  const char* pd = R"(
[model]
name = "llama-3-8b"
[hardware]
gpu = "h100-sxm"
[topology]
gpus_per_node = 4
[[cluster.pool]]
name = "p"
role = "prefill"
replicas = 2
[[cluster.pool]]
name = "d"
role = "decode"
replicas = 2
[workload]
requests = 100
rate = 10
)";
  Simulator sim(testing::scenario_from("links", pd), testing::catalog());
  sim.record_iterations();
  const RunResult r = sim.run();
  const auto dir = testing::scratch("links-plot");
  {
    std::ofstream out(dir / "links.csv");
    write_links_csv(out, r);
  }
  const CsvTable t = CsvTable::read((dir / "links.csv").string());
  const ReportFigure f = link_use_figure(t);
  // Four links carry KV: each prefill GPU into the node's switch, and out of it to each
  // decode GPU.
  ASSERT_EQ(f.figure.series.size(), 4u);
  const double width = r.network.bin_width.seconds().value;
  for (const plot::Series& s : f.figure.series) {
    const auto it = std::find_if(r.network.links.begin(), r.network.links.end(),
                                 [&](const FlowLink& k) { return k.name == s.label; });
    ASSERT_NE(it, r.network.links.end()) << s.label;
    const auto l = static_cast<std::size_t>(it - r.network.links.begin());
    // Each point (but the closing one) is a bin: its % of capacity x capacity x width is the
    // bytes it carried; together, all the link carried.
    double bytes = 0;
    for (std::size_t i = 0; i + 1 < s.y.size(); ++i) {
      EXPECT_GE(s.y[i], 0.0);
      EXPECT_LE(s.y[i], 100.0);
      bytes += s.y[i] / 100.0 * r.network.links[l].capacity * width;
    }
    EXPECT_NEAR(bytes, r.network.stats[l].bytes, 1e-6 * r.network.stats[l].bytes) << s.label;
  }
  EXPECT_EQ(f.id, "links");
}

}  // namespace
}  // namespace servesim
