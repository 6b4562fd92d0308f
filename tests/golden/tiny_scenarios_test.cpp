// Tiny scenarios whose timelines are worked out by hand from the step model's iteration
// times. The step model itself is checked in unit/step_model_test.cpp; here the question is
// whether the scheduler, KV cache and metrics put those iterations together correctly.
#include <gtest/gtest.h>

#include "sim/metrics/summary.hpp"
#include "sim/cluster/simulator.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

using testing::catalog;

// The engine's CPU time per iteration in these scenarios (engine.cpu_overhead_ms).
constexpr double kEngineMs = 2.0;

// Iteration times as the simulator rounds them: whole nanoseconds, with the engine overhead.
RuntimeOptions golden_runtime() {
  RuntimeOptions rt;
  rt.engine_overhead = milliseconds(kEngineMs);
  return rt;
}
struct Steps {
  StepCostModel model;
  explicit Steps(const char* gpu)
      : model(catalog().model("llama-3-8b"), catalog().gpu(gpu), catalog().link("nvlink4"),
              Parallelism{1}, golden_runtime(), catalog().gpu(gpu).defaults) {}
  std::int64_t prefill(std::vector<int> prompts) {
    BatchShape s;
    for (int p : prompts) s.add_prefill(p, 0);
    return SimTime::from_seconds(model.breakdown(s).total).ns;
  }
  std::int64_t decode(std::vector<int> contexts) {
    BatchShape s;
    for (int c : contexts) s.add_decode(c);
    return SimTime::from_seconds(model.breakdown(s).total).ns;
  }
};

RunResult run_trace(const std::string& rows, const std::vector<std::string>& sets = {}) {
  const std::string trace =
      testing::write_temp("golden.csv", "arrival_s,prompt_tokens,output_tokens\n" + rows);
  const Scenario s = testing::scenario_from(
      "golden",
      "[model]\nname = \"llama-3-8b\"\n[hardware]\ngpu = \"h100-sxm\"\ncalibration = \"none\"\n"
      "[engine]\ncpu_overhead_ms = 2.0\n[workload]\n"
      "arrival = \"trace\"\ntrace = \"" + trace + "\"\n",
      sets);
  Simulator sim(s, catalog());
  return sim.run();
}

TEST(Golden, TwoRequestsOneSecondApart) {
  // Two requests of 100 prompt and 3 output tokens, at t = 0 and t = 1 s. Each is alone:
  //   prefill of 100 tokens (P) -> token 1 at P;
  //   decode attending 101 tokens (D1) -> token 2; decode attending 102 (D2) -> token 3.
  // P + D1 + D2 is a few tens of ms, so the second finds the replica idle and repeats it.
  Steps st("h100-sxm");
  const std::int64_t P = st.prefill({100});
  const std::int64_t D1 = st.decode({101});
  const std::int64_t D2 = st.decode({102});
  const RunResult r = run_trace("0.0,100,3\n1.0,100,3\n");
  const Summary s = summarize(r);
  ASSERT_EQ(s.completed, 2);
  for (const Request& q : r.requests) {
    EXPECT_EQ((q.first_token - q.arrival).ns, P);
    EXPECT_EQ((q.finish - q.arrival).ns, P + D1 + D2);
    EXPECT_EQ(q.first_scheduled, q.arrival);  // no queueing
  }
  EXPECT_EQ(r.end.ns, 1'000'000'000 + P + D1 + D2);
  EXPECT_NEAR(s.ttft.p50, P * 1e-6, 1e-9);
  // TPOT = (E2E - TTFT) / (3 - 1) = (D1 + D2) / 2.
  EXPECT_NEAR(s.tpot.mean, (D1 + D2) / 2.0 * 1e-6, 1e-9);
  // ITL: gaps D1 and D2 for each request, 4 in all; the max is the larger of the two.
  EXPECT_EQ(s.itl.count, 4u);
  EXPECT_NEAR(s.itl.max, std::max(D1, D2) * 1e-6, 1e-9);
  // Throughput: 2 requests, 6 output tokens over the run.
  EXPECT_NEAR(s.output_tokens_per_s, 6.0 / (r.end.ns * 1e-9), 1e-9);
}

TEST(Golden, SimultaneousRequestsShareThePrefillThenTheDecodes) {
  // Two requests at t = 0 (prompts 100 and 200, 2 output tokens each): one prefill iteration of
  // both (P2), then one decode step of both, attending 101 and 201 tokens (D).
  Steps st("h100-sxm");
  const std::int64_t P2 = st.prefill({100, 200});
  const std::int64_t D = st.decode({101, 201});
  const RunResult r = run_trace("0.0,100,2\n0.0,200,2\n");
  for (const Request& q : r.requests) {
    EXPECT_EQ(q.first_token.ns, P2);
    EXPECT_EQ(q.finish.ns, P2 + D);
  }
}

TEST(Golden, RequestWaitsForKvBlocksThenRuns) {
  // KV pinned to 10 blocks of 16 tokens. The first request (prompt 100, 3 outputs) takes
  // ceil(100/16) = 7 blocks; the second, arriving at once, needs 7 more and only 3 are free,
  // so it waits until the first finishes at P + D1 + D2, then runs the same timeline.
  Steps st("h100-sxm");
  const std::int64_t P = st.prefill({100});
  const std::int64_t D1 = st.decode({101});
  const std::int64_t D2 = st.decode({102});
  const RunResult r = run_trace("0.0,100,3\n0.0,100,3\n", {"engine.num_gpu_blocks=10"});
  const Request& first = r.requests[0];
  const Request& second = r.requests[1];
  EXPECT_EQ(first.finish.ns, P + D1 + D2);
  EXPECT_EQ(second.first_scheduled.ns, P + D1 + D2);
  EXPECT_EQ(second.first_token.ns, 2 * P + D1 + D2);
  EXPECT_EQ(second.finish.ns, 2 * (P + D1 + D2));
  // Peak KV: 7 blocks for the prompt, an 8th when the 101st token's KV is written? No: tokens
  // 101 and 102 land in block 7 (which holds positions 97..112), so the peak stays 7.
  EXPECT_EQ(r.kv_peak_blocks[0], 7);
}

TEST(Golden, OversizedRequestsAreRejectedWithReasons) {
  // Llama-3-8B's context is 8192 tokens: 8000 + 500 exceeds it.
  const RunResult r = run_trace("0.0,8000,500\n0.0,100,5\n");
  EXPECT_EQ(r.requests[0].state, RequestState::kRejected);
  EXPECT_EQ(r.requests[0].reject, RejectReason::kLongerThanContext);
  EXPECT_EQ(r.requests[1].state, RequestState::kDone);
  // With 4 blocks of 16 tokens, a 100-token prompt can never fit.
  const RunResult k = run_trace("0.0,100,5\n", {"engine.num_gpu_blocks=4"});
  EXPECT_EQ(k.requests[0].reject, RejectReason::kLongerThanKvCache);
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

// Iteration time of an arbitrary shape, rounded as the simulator rounds it.
std::int64_t step_ns(const BatchShape& s) {
  const StepCostModel m(catalog().model("llama-3-8b"), catalog().gpu("h100-sxm"),
                        catalog().link("nvlink4"), Parallelism{1}, golden_runtime(),
                        catalog().gpu("h100-sxm").defaults);
  return SimTime::from_seconds(m.breakdown(s).total).ns;
}

TEST(Golden, ChunkedSplitsALongPromptAroundARunningDecode) {
  // chunk_size 256. Request A (prompt 100, 4 outputs) arrives at 0; request B (prompt 600,
  // 2 outputs) at 1 ns, while A's prefill runs.
  //   it1: A prefills 100                                   -> A token 1
  //   it2: A decodes (ctx 101) + B chunk 255 (budget 256 - 1 decode)
  //   it3: A decodes (ctx 102) + B chunk 255 (255..510)     -> A token 3
  //   it4: A decodes (ctx 103) + B chunk 90 (510..600)      -> A token 4 (done), B token 1
  //   it5: B decodes (ctx 601)                              -> B token 2 (done)
  BatchShape i1;
  i1.add_prefill(100, 0);
  BatchShape i2;
  i2.add_decode(101);
  i2.add_prefill(255, 0);
  BatchShape i3;
  i3.add_decode(102);
  i3.add_prefill(255, 255);
  BatchShape i4;
  i4.add_decode(103);
  i4.add_prefill(90, 510);
  BatchShape i5;
  i5.add_decode(601);
  const std::int64_t t1 = step_ns(i1), t2 = t1 + step_ns(i2), t3 = t2 + step_ns(i3),
                     t4 = t3 + step_ns(i4), t5 = t4 + step_ns(i5);
  const RunResult r = run_trace("0.0,100,4\n0.000000001,600,2\n",
                                {"engine.scheduler=\"chunked\"", "engine.chunk_size=256"});
  const Request& a = r.requests[0];
  const Request& b = r.requests[1];
  EXPECT_EQ(a.first_token.ns, t1);
  EXPECT_EQ(a.finish.ns, t4);
  EXPECT_EQ(b.first_scheduled.ns, t1);  // its first chunk ran in iteration 2
  EXPECT_EQ(b.first_token.ns, t4);
  EXPECT_EQ(b.finish.ns, t5);
  // A's gaps: t2 - t1, t3 - t2, t4 - t3; B's: t5 - t4. Four in all.
  EXPECT_EQ(r.itl_ns.count(), 4u);
}

TEST(Golden, MixedFillsTheBudgetWithWholePromptsWhenTheyFit) {
  // Budget 2048: A (prompt 100, 3 outputs) at 0, B (prompt 600, 2 outputs) at 1 ns.
  //   it1: A prefills 100 -> A token 1
  //   it2: A decodes (ctx 101) + B prefills all 600 -> A token 2, B token 1
  //   it3: A decodes (ctx 102) + B decodes (ctx 601) -> both done
  BatchShape i1;
  i1.add_prefill(100, 0);
  BatchShape i2;
  i2.add_decode(101);
  i2.add_prefill(600, 0);
  BatchShape i3;
  i3.add_decode(102);
  i3.add_decode(601);
  const std::int64_t t1 = step_ns(i1), t2 = t1 + step_ns(i2), t3 = t2 + step_ns(i3);
  const RunResult r = run_trace("0.0,100,3\n0.000000001,600,2\n", {"engine.scheduler=\"mixed\""});
  EXPECT_EQ(r.requests[0].finish.ns, t3);
  EXPECT_EQ(r.requests[1].first_token.ns, t2);
  EXPECT_EQ(r.requests[1].finish.ns, t3);
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

TEST(Golden, StaticPadsPromptsAndHoldsSlotsUntilTheLongestOutput) {
  // A (prompt 100, 2 outputs) and B (prompt 50, 4 outputs) at 0, batch of up to 2.
  //   it1: prefill 2 slots x 100 (B padded)          -> both token 1
  //   it2: decode 2 slots, context 101               -> A token 2 (A done), B token 2
  //   it3: decode 2 slots, context 102 (A's padding) -> B token 3
  //   it4: decode 2 slots, context 103               -> B token 4 (done); the batch ends
  BatchShape i1;
  i1.add_prefill(100, 0);
  i1.add_prefill(100, 0);
  auto decode2 = [](std::int64_t ctx) {
    BatchShape s;
    s.add_decode(ctx);
    s.add_decode(ctx);
    return s;
  };
  const std::int64_t t1 = step_ns(i1), t2 = t1 + step_ns(decode2(101)),
                     t3 = t2 + step_ns(decode2(102)), t4 = t3 + step_ns(decode2(103));
  const RunResult r = run_trace("0.0,100,2\n0.0,50,4\n",
                                {"engine.scheduler=\"static\"", "engine.max_num_seqs=2"});
  EXPECT_EQ(r.requests[0].first_token.ns, t1);
  EXPECT_EQ(r.requests[1].first_token.ns, t1);
  EXPECT_EQ(r.requests[0].finish.ns, t2);  // its tokens streamed; its slot ran on
  EXPECT_EQ(r.requests[1].finish.ns, t4);
  // KV: 2 slots x ceil((100 + 4 - 1) / 16) = 2 x 7 blocks, held for the whole batch.
  EXPECT_EQ(r.kv_peak_blocks[0], 14);
  // Padding: prefill 200 computed for 150 real tokens; A's slot in it3 and it4. 52 of 206.
  EXPECT_DOUBLE_EQ(summarize(r).padding_waste, 52.0 / 206.0);
  EXPECT_EQ(summarize(r).batches, 1);
}

TEST(Golden, StaticWaitsForItsTimeoutOrAFullBatch) {
  // Timeout 50 ms, batches of up to 3. A at 0 and B at 10 ms do not fill a batch, so it forms
  // at A's deadline, 50 ms, with both. C at 60 ms waits for its own deadline (110 ms) because
  // the first batch ends long before it (a few tens of ms of work).
  const RunResult r = run_trace(
      "0.0,100,2\n0.010,100,2\n0.060,100,2\n",
      {"engine.scheduler=\"static\"", "engine.max_num_seqs=3", "engine.batch_timeout_ms=50"});
  EXPECT_EQ(r.requests[0].first_scheduled.ns, 50'000'000);
  EXPECT_EQ(r.requests[1].first_scheduled.ns, 50'000'000);
  ASSERT_LT(r.requests[1].finish.ns, 110'000'000);
  EXPECT_EQ(r.requests[2].first_scheduled.ns, 110'000'000);
  // A full batch does not wait: A and B fill a batch of 2 the moment B arrives.
  const RunResult full = run_trace("0.0,100,2\n0.010,100,2\n",
                                   {"engine.scheduler=\"static\"", "engine.max_num_seqs=2",
                                    "engine.batch_timeout_ms=50"});
  EXPECT_EQ(full.requests[0].first_scheduled.ns, 10'000'000);
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

TEST(Golden, RequestsArrivingTogetherShareOnePrefill) {
  // Ten prompts of 100 tokens at t = 0: the replica plans after all ten have arrived, so one
  // prefill of 10 x 100 tokens gives every request its first token at once.
  std::string rows;
  for (int i = 0; i < 10; ++i) rows += "0.0,100,2\n";
  std::vector<int> prompts(10, 100);
  BatchShape ten;
  for (int i = 0; i < 10; ++i) ten.add_prefill(100, 0);
  const RunResult r = run_trace(rows);
  for (const Request& q : r.requests) EXPECT_EQ(q.first_token.ns, step_ns(ten));
}

TEST(Golden, StaleTimeoutWakeDoesNotLengthenTheRun) {
  // A batch timeout of 100 s, but batches of 2 fill at once: nothing waits for the timeout,
  // so the run ends with the last request, not when the unneeded wake fires.
  const RunResult r = run_trace("0.0,100,2\n0.0,100,2\n",
                                {"engine.scheduler=\"static\"", "engine.max_num_seqs=2",
                                 "engine.batch_timeout_ms=100000"});
  EXPECT_EQ(r.end, r.requests[1].finish);
  EXPECT_LT(r.end.ns, 1'000'000'000);
}

TEST(Golden, StaticBatchesOnSeveralReplicasAreIndependent) {
  // Two replicas, each with its own batches: no request can get tokens faster than one
  // iteration of a one-sequence batch allows, and every replica ends with an empty cache.
  const RunResult r = run_trace("0.0,100,20\n0.0,100,20\n0.001,100,20\n0.001,100,20\n",
                                {"engine.scheduler=\"static\"", "engine.max_num_seqs=2",
                                 "cluster.replicas=2"});
  BatchShape one;
  one.add_decode(101);
  EXPECT_GE(r.itl_ns.min(), static_cast<double>(step_ns(one)) * 0.99);
  for (const Request& q : r.requests) EXPECT_EQ(q.state, RequestState::kDone);
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

TEST(Golden, StaggeredDispatchWaitsForTheNextReplicaTick) {
  // Two replicas, window 50 ms: replica 0 takes work at 0, 50, 100 ms..., replica 1 at 25,
  // 75 ms.... A request arriving at 1 ms waits in the global buffer for the next tick
  // (replica 1's, at 25 ms: both are idle, and a tie goes to the replica whose tick it is).
  // The next, at 30 ms, goes to replica 0 at 50 ms: replica 1 now carries the first.
  const RunResult r = run_trace("0.001,100,2\n0.030,100,2\n",
                                {"engine.scheduler=\"staggered\"", "cluster.replicas=2",
                                 "engine.stagger_window_ms=50"});
  EXPECT_EQ(r.requests[0].replica, 1);
  EXPECT_EQ(r.requests[0].first_scheduled.ns, 25'000'000);
  EXPECT_EQ(r.requests[1].replica, 0);
  EXPECT_EQ(r.requests[1].first_scheduled.ns, 50'000'000);
}

}  // namespace
}  // namespace servesim
