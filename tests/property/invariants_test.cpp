// Invariants that must hold for any seed and configuration: every request completes or is
// rejected with a reason, tokens are conserved, KV use never exceeds capacity, time never
// goes back, the same seed gives byte-identical output and different seeds differ.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "sim/metrics/summary.hpp"
#include "sim/report/report.hpp"
#include "sim/cluster/simulator.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

using testing::catalog;
using testing::scenario_from;

struct Config {
  const char* name;
  std::vector<std::string> sets;
};

using testing::kBusyPair;

const std::vector<Config>& configs() {
  static const std::vector<Config> c = {
      {"poisson-round-robin", {}},
      {"gamma-least-outstanding",
       {"workload.arrival=\"gamma\"", "workload.burstiness=3.0", "cluster.router=\"least-outstanding\""}},
      {"closed-loop-random-router",
       {"workload.arrival=\"closed-loop\"", "workload.concurrency=24", "cluster.router=\"random\""}},
      {"constant-eager-small-batch",
       {"workload.arrival=\"constant\"", "engine.cuda_graphs=false",
        "engine.max_num_batched_tokens=2048", "engine.block_size=32", "engine.num_gpu_blocks=120"}},
      {"roomy-kv-least-kv", {"engine.num_gpu_blocks=100000", "engine.max_num_seqs=256",
                             "cluster.router=\"least-kv\""}},
      {"static-timeout", {"engine.scheduler=\"static\"", "engine.max_num_seqs=8",
                          "engine.batch_timeout_ms=20", "engine.num_gpu_blocks=100000"}},
      {"mixed-tight-kv-least-tokens", {"engine.scheduler=\"mixed\"", "engine.max_num_batched_tokens=1024",
                                       "cluster.router=\"least-tokens\""}},
      {"swap-continuous-response-cache",
       {"engine.preemption=\"swap\"", "engine.swap_space_gib=0.05",
        "cluster.response_cache_hit_rate=0.2"}},
      {"prefix-mixed-swap",
       {"engine.scheduler=\"mixed\"", "engine.preemption=\"swap\"",
        "workload.prefix={ share = 0.7, tokens = 300, distinct = 3 }"}},
      {"staggered", {"engine.scheduler=\"staggered\"", "engine.stagger_window_ms=10"}},
      {"chunked-tight-kv-least-outstanding",
       {"engine.scheduler=\"chunked\"", "engine.chunk_size=256", "engine.num_gpu_blocks=120",
        "cluster.router=\"least-outstanding\"", "workload.arrival=\"gamma\"",
        "workload.burstiness=2.0"}},
  };
  return c;
}

RunResult run_with(const Config& c, std::uint64_t seed) {
  std::vector<std::string> sets = c.sets;
  sets.push_back(fmt::format("seed={}", seed));
  const Scenario s = scenario_from("prop", kBusyPair, sets);
  Simulator sim(s, catalog());
  return sim.run();
}

class Invariants : public ::testing::TestWithParam<std::tuple<std::size_t, std::uint64_t>> {};

TEST_P(Invariants, HoldForThisSeed) {
  const Config& c = configs()[std::get<0>(GetParam())];
  const std::uint64_t seed = std::get<1>(GetParam());
  const RunResult r = run_with(c, seed);
  const Summary s = summarize(r);

  ASSERT_EQ(s.total, 300);
  std::uint64_t expected_gaps = 0;
  double out_tokens = 0;
  for (const Request& q : r.requests) {
    // Every request ends done or rejected-with-a-reason.
    ASSERT_TRUE(q.state == RequestState::kDone || q.state == RequestState::kRejected);
    if (q.state == RequestState::kRejected) {
      EXPECT_NE(q.reject, RejectReason::kNone);
      continue;
    }
    // Tokens are conserved: all asked-for tokens were emitted.
    EXPECT_EQ(q.generated, q.output_tokens);
    // Generated answers have a gap before each token after the first; cached ones arrive whole.
    if (!q.cached) expected_gaps += static_cast<std::uint64_t>(q.output_tokens - 1);
    out_tokens += q.output_tokens;
    // Time runs forward through a request's life.
    EXPECT_LE(q.arrival, q.first_scheduled);
    EXPECT_LE(q.first_scheduled, q.first_token);
    EXPECT_LE(q.first_token, q.finish);
    EXPECT_LE(q.finish, r.end);
  }
  // Each token after a request's first yields exactly one inter-token gap.
  EXPECT_EQ(r.itl_ns.count(), expected_gaps);
  EXPECT_NEAR(s.output_tokens_per_s * s.simulated_seconds, out_tokens, 1e-6 * out_tokens);
  // KV use never exceeds capacity (the peak is the running maximum of blocks in use).
  for (std::size_t i = 0; i < r.kv_peak_blocks.size(); ++i) {
    EXPECT_LE(r.kv_peak_blocks[i], r.pool_of(i).kv_blocks);
  }
  EXPECT_LE(s.kv_cache_peak, 1.0);
  EXPECT_LE(s.busy, 1.0 + 1e-12);
  EXPECT_LE(s.mfu, 1.0);
  EXPECT_LE(s.mbu, 1.0);
}

INSTANTIATE_TEST_SUITE_P(ManySeeds, Invariants,
                         ::testing::Combine(::testing::Range<std::size_t>(0, 11),
                                            ::testing::Range<std::uint64_t>(1, 13)));

TEST(Invariants, ShortKvCausesPreemptionAndRoomyKvDoesNot) {
  const Summary tight = summarize(run_with(configs()[0], 3));
  const Summary roomy = summarize(run_with(configs()[4], 3));
  EXPECT_GT(tight.preemptions, 0);
  EXPECT_EQ(roomy.preemptions, 0);
}

TEST(Determinism, SameSeedGivesByteIdenticalOutput) {
  for (const Config& c : configs()) {
    const RunResult a = run_with(c, 77);
    const RunResult b = run_with(c, 77);
    EXPECT_EQ(summary_json(a, summarize(a)).dump(), summary_json(b, summarize(b)).dump()) << c.name;
    std::ostringstream ca, cb;
    write_requests_csv(ca, a);
    write_requests_csv(cb, b);
    EXPECT_EQ(ca.str(), cb.str()) << c.name;
  }
}

TEST(Determinism, DifferentSeedsDiffer) {
  const RunResult a = run_with(configs()[0], 1);
  const RunResult b = run_with(configs()[0], 2);
  EXPECT_NE(summary_json(a, summarize(a)).dump(), summary_json(b, summarize(b)).dump());
}

}  // namespace
}  // namespace servesim
