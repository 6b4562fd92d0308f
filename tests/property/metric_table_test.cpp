// summary.json and requests.csv are written from one metric table (request_records), so the
// latencies a script recomputes from requests.csv are the summary's, for every scheduler.
#include <gtest/gtest.h>

#include <sstream>

#include <fmt/format.h>

#include "sim/core/csv_table.hpp"
#include "sim/metrics/summary.hpp"
#include "sim/report/report.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

TEST(MetricTable, RequestsCsvReproducesTheSummaryForEverySchedulerAndSeed) {
  for (const auto& config : testing::scheduler_variety()) {
    for (std::uint64_t seed = 1; seed <= 2; ++seed) {
      std::vector<std::string> sets = config;
      sets.push_back(fmt::format("seed={}", seed));
      // A response cache answers some requests whole: they have a TTFT and no TPOT.
      if (config.empty()) sets.push_back("cluster.response_cache_hit_rate=0.3");
      const RunResult run = testing::simulate("table", testing::kBusyPair, sets);
      const Summary s = summarize(run);
      const auto js = summary_json(run, s);
      std::ostringstream csv;
      write_requests_csv(csv, run);
      const auto path = testing::write_temp("requests.csv", csv.str());
      const CsvTable t = CsvTable::read(path);
      ASSERT_EQ(t.rows(), run.requests.size());
      std::vector<double> ttft, tpot, e2e;
      std::int64_t done = 0, rejected = 0, cached_with_tpot = 0;
      double first = 1e300, end = 0;
      for (std::size_t i = 0; i < t.rows(); ++i) {
        const std::string state = t.text(i, "state");
        first = std::min(first, t.number(i, "arrival_s"));
        rejected += state == "rejected";
        if (state != "done") continue;
        ++done;
        end = std::max(end, t.number(i, "arrival_s") + 1e-3 * t.number(i, "e2e_ms"));
        ttft.push_back(t.number(i, "ttft_ms"));
        e2e.push_back(t.number(i, "e2e_ms"));
        // -1 marks "no TPOT": one-token answers and cached answers.
        if (t.number(i, "tpot_ms") >= 0) tpot.push_back(t.number(i, "tpot_ms"));
        if (run.requests[i].cached && t.number(i, "tpot_ms") >= 0) ++cached_with_tpot;
      }
      const std::string where = fmt::format("config {} seed {}", fmt::join(config, " "), seed);
      EXPECT_EQ(cached_with_tpot, 0) << where;
      EXPECT_EQ(js["requests"]["completed"].get<std::int64_t>(), done) << where;
      EXPECT_EQ(js["requests"]["rejected"].get<std::int64_t>(), rejected) << where;
      const auto& lat = js["latency_ms"];
      auto same = [&](const char* metric, std::vector<double> v) {
        const LatencyStats ref = exact_stats(std::move(v));
        EXPECT_EQ(lat[metric]["count"].get<std::uint64_t>(), ref.count) << where << " " << metric;
        // The CSV prints 6 decimals of a millisecond: 1 ns.
        for (const char* k : {"mean", "p50", "p90", "p99", "max"}) {
          const double want = k == std::string("mean") ? ref.mean
                              : k == std::string("p50") ? ref.p50
                              : k == std::string("p90") ? ref.p90
                              : k == std::string("p99") ? ref.p99
                                                        : ref.max;
          EXPECT_NEAR(lat[metric][k].get<double>(), want, 1e-6) << where << " " << metric << "." << k;
        }
      };
      // The busy span: first arrival to the last done request's end (to the CSV's ns).
      EXPECT_NEAR(js["span_s"].get<double>(), end - first, 1e-8) << where;
      same("ttft", ttft);
      same("tpot", tpot);
      same("e2e", e2e);
    }
  }
}

}  // namespace
}  // namespace servesim
