// The iteration log is a faithful record that changes nothing: recording it leaves every output
// byte the same, and per replica its iterations follow one another without overlap, add up to
// the busy time, and never hold more KV than the cache has.
#include <gtest/gtest.h>

#include <sstream>

#include <fmt/format.h>

#include "sim/metrics/summary.hpp"
#include "sim/report/report.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {


RunResult run(const std::vector<std::string>& sets, std::uint64_t seed, bool record) {
  std::vector<std::string> all = sets;
  all.push_back("workload.requests=200");
  all.push_back(fmt::format("seed={}", seed));
  Simulator sim(testing::scenario_from("itlog", testing::kBusyPair, all), testing::catalog());
  if (record) sim.record_iterations();
  return sim.run();
}

std::string outputs(const RunResult& r) {
  std::ostringstream csv;
  write_requests_csv(csv, r);
  return summary_json(r, summarize(r)).dump() + csv.str();
}

TEST(IterationLog, IsFaithfulAndChangesNothing) {
  for (std::size_t c = 0; c < testing::scheduler_variety().size(); ++c) {
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
      SCOPED_TRACE(fmt::format("config {} seed {}", c, seed));
      const RunResult plain = run(testing::scheduler_variety()[c], seed, false);
      const RunResult logged = run(testing::scheduler_variety()[c], seed, true);
      EXPECT_TRUE(plain.iterations.empty());
      EXPECT_EQ(outputs(plain), outputs(logged));

      std::vector<SimTime> last_end(logged.replicas.size(), SimTime{0});
      std::vector<std::int64_t> count(logged.replicas.size(), 0);
      std::vector<std::int64_t> busy_ns(logged.replicas.size(), 0);
      SimTime last_start{0};
      for (const IterationRecord& it : logged.iterations) {
        ASSERT_LT(it.replica, logged.replicas.size());
        EXPECT_LE(last_start, it.start);  // in start order
        last_start = it.start;
        EXPECT_LE(last_end[it.replica], it.start);  // one iteration at a time per replica
        EXPECT_LT(it.start, it.end);
        last_end[it.replica] = it.end;
        ++count[it.replica];
        busy_ns[it.replica] += (it.end - it.start).ns;
        EXPECT_GT(it.prefill_seqs + it.decode_seqs, 0);
        EXPECT_LE(it.kv_used_blocks, logged.pool_of(it.replica).kv_blocks);
        EXPECT_LE(it.end, logged.end);
      }
      for (std::size_t k = 0; k < logged.replicas.size(); ++k) {
        EXPECT_EQ(count[k], logged.replicas[k].iterations);
        EXPECT_EQ(busy_ns[k], logged.replicas[k].busy.ns);
      }
    }
  }
}

}  // namespace
}  // namespace servesim
