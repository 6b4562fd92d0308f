// --vary parsing, the grid's order, and the statistics a multi-seed sweep reports.
#include <gtest/gtest.h>

#include "sim/core/error.hpp"
#include "sim/sweep/axes.hpp"
#include "sim/sweep/frontier.hpp"
#include "sim/sweep/sweep.hpp"

namespace servesim {
namespace {

using Values = std::vector<std::string>;

TEST(SweepAxes, ListsAndRanges) {
  EXPECT_EQ(parse_axis("engine.max_num_seqs=64,128, 256").values, (Values{"64", "128", "256"}));
  // 1 x 2^k for k = 0..6 reaches 64 exactly.
  EXPECT_EQ(parse_axis("workload.rate=1:64:x2").values,
            (Values{"1", "2", "4", "8", "16", "32", "64"}));
  // 1.5 x 2^k: 1.5, 3, 6, 12; 24 is past 20.
  EXPECT_EQ(parse_axis("workload.rate=1.5:20:x2").values, (Values{"1.5", "3", "6", "12"}));
  // a + k S from the start each time: 0.1 + 2 x 0.1 is 0.30000000000000004 in binary, and the
  // end 0.5 is kept although 0.1 + 4 x 0.1 lands a rounding error away from it.
  EXPECT_EQ(parse_axis("workload.rate=0.1:0.5:+0.1").values,
            (Values{"0.1", "0.2", "0.30000000000000004", "0.4", "0.5"}));
  // Negative ranges keep their end too: -3 + 2 x 1 = -1.
  EXPECT_EQ(parse_axis("a.b=-3:-1:+1").values, (Values{"-3", "-2", "-1"}));
  EXPECT_EQ(parse_axis("a.b=-1:-1:+1").values, (Values{"-1"}));
  EXPECT_EQ(parse_axis("engine.chunk_size=256:1024:+256").values,
            (Values{"256", "512", "768", "1024"}));
  // Commas inside a TOML inline table or a string do not split the list.
  const Axis t = parse_axis(
      "workload.prompt_tokens={ distribution = \"fixed\", value = 512 },"
      "{ distribution = \"uniform\", min = 1, max = 9 }");
  ASSERT_EQ(t.values.size(), 2U);
  EXPECT_EQ(t.values[1], "{ distribution = \"uniform\", min = 1, max = 9 }");
  EXPECT_EQ(parse_axis("engine.scheduler=\"a,b\",chunked").values, (Values{"\"a,b\"", "chunked"}));
}

TEST(SweepAxes, BadAxesSayWhatIsValid) {
  for (const char* bad :
       {"workload.rate", "=1,2", "workload.rate=", "workload.rate=1:4", "workload.rate=1:4:x1",
        "workload.rate=0:4:x2", "workload.rate=4:1:x2", "workload.rate=1:4:*2",
        "workload.rate=1:4:+0", "workload.rate=1,,2", "workload.rate=1:1e9:+1"}) {
    EXPECT_THROW(parse_axis(bad), Error) << bad;
  }
  try {
    parse_axis("workload.rate=1:4:*2");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("START:END:xFACTOR"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Grid({parse_axis("a.b=1,2"), parse_axis("a.b=3")}), Error);
  EXPECT_THROW(Grid({Axis{"a.b", {}}}), Error);  // an axis with no values: no points at all
}

TEST(SweepAxes, GridRunsTheFirstAxisSlowest) {
  const Grid g({parse_axis("a.x=1,2"), parse_axis("b.y=p,q,r")});
  ASSERT_EQ(g.size(), 6U);  // 2 x 3
  EXPECT_EQ(g.values(0), (Values{"1", "p"}));
  EXPECT_EQ(g.values(2), (Values{"1", "r"}));
  EXPECT_EQ(g.values(3), (Values{"2", "p"}));
  EXPECT_EQ(g.assignments(5), (Values{"a.x=2", "b.y=r"}));
  EXPECT_EQ(Grid({}).size(), 1U);  // no axes: the scenario itself, once
}

TEST(SweepStats, MeanAndStudentTInterval) {
  // x = 1..5: mean 3, sample sd sqrt(2.5) = 1.5811; t(0.975, 4 dof) = 2.7764;
  // half-width = 2.7764 x 1.5811 / sqrt(5) = 1.9632.
  const auto [mean, ci] = mean_ci95({1, 2, 3, 4, 5});
  EXPECT_DOUBLE_EQ(mean, 3.0);
  EXPECT_NEAR(ci, 1.9632, 1e-4);
  // Two values 10 and 12: sd sqrt(2), t(0.975, 1) = 12.706; 12.706 x 1.4142 / 1.4142 = 12.706.
  EXPECT_NEAR(mean_ci95({10, 12}).second, 12.7062, 1e-3);
  EXPECT_EQ(mean_ci95({7}).second, 0.0);  // one seed: no interval
}

TEST(SweepFrontier, KeepsTheUndominated) {
  // (latency, throughput): a (10, 100) b (20, 150) c (30, 140) d (15, 90) e (20, 150) f (NaN).
  // c is dominated by b (lower latency, more throughput), d by a; b and e coincide.
  const std::vector<double> lat = {10, 20, 30, 15, 20, NAN};
  const std::vector<double> thr = {100, 150, 140, 90, 150, 200};
  EXPECT_EQ(pareto_frontier(lat, thr), (std::vector<bool>{true, true, false, false, true, false}));
}

TEST(SweepFrontier, KneeIsWhereTheCurveBends) {
  // Flat, then steep: x' = 0, .25, .5, .75, 1 and y' = 0, .01, .03, .5, 1 give x' - y' =
  // 0, .24, .47, .25, 0, largest at the third point.
  EXPECT_EQ(knee_point({0, 1, 2, 3, 4}, {0, 1, 3, 50, 100}), std::optional<std::size_t>(2));
  // A straight line bends nowhere; nor does a falling curve; two points are too few.
  EXPECT_EQ(knee_point({0, 1, 2, 3}, {0, 1, 2, 3}), std::nullopt);
  EXPECT_EQ(knee_point({0, 1, 2}, {5, 3, 1}), std::nullopt);
  EXPECT_EQ(knee_point({0, 1}, {0, 1}), std::nullopt);
}

TEST(SweepMetrics, NamesAndShortForms) {
  EXPECT_EQ(latency_metric_name("ttft.p99"), "ttft_p99_ms");
  EXPECT_EQ(latency_metric_name("e2e_p50_ms"), "e2e_p50_ms");
  EXPECT_EQ(sweep_metrics()[metric_index("tpot_p90_ms", "--latency")].name,
            std::string("tpot_p90_ms"));
  EXPECT_THROW(metric_index("ttft_p42_ms", "--latency"), Error);
}

}  // namespace
}  // namespace servesim
