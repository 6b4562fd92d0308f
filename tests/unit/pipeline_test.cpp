// Pipeline parallelism (stage splits, activation bytes, the two-stage timeline and its bubble)
// and expert parallelism (dispatch bytes per rank, the max-load formula, the layout checks).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "hardware/cost_model.hpp"
#include "models/step_ops.hpp"
#include "sim/cluster/deployment.hpp"
#include "sim/engine/pipeline.hpp"
#include "sim/metrics/summary.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

using testing::catalog;
using testing::error_of;
using testing::scenario_from;

const std::string kHead = R"(name = "pp"
[model]
name = "llama-3-70b"
[hardware]
gpu = "h100-sxm"
[workload]
requests = 10
rate = 1.0
)";

const std::string kMoeHead = R"(name = "ep"
[model]
name = "qwen1.5-moe-a2.7b"
[hardware]
gpu = "h100-sxm"
[workload]
requests = 10
rate = 1.0
)";

std::vector<int> split_of(const std::string& cluster) {
  return resolve(scenario_from("pp", kHead + "[cluster]\n" + cluster), catalog()).pools[0].layer_split;
}

TEST(Pipeline, LayersSplitEvenlyTheFirstStagesTakingTheRest) {
  // 80 layers over 3 stages: 80 = 3 * 26 + 2, so the first two stages take 27.
  EXPECT_EQ(split_of("tp = 8\npp = 3\n"), (std::vector<int>{27, 27, 26}));
  EXPECT_EQ(split_of("tp = 8\npp = 2\n"), (std::vector<int>{40, 40}));
  EXPECT_EQ(split_of("tp = 8\npp = 2\nlayer_split = [50, 30]\n"), (std::vector<int>{50, 30}));
  // The first stage holds the embedding, the last the LM head: Llama-3-70B's 128,256 x 8192
  // table each. Stage 0 of [50, 30]: 50 layers + the embedding; stage 1: 30 layers + final
  // norm + LM head. Their sum is the whole model.
  const ModelSpec m = catalog().model("llama-3-70b");
  const ModelSpec a = stage_slice(m, 0, 50);
  const ModelSpec b = stage_slice(m, 50, 30);
  EXPECT_TRUE(a.has_embedding && !a.has_lm_head);
  EXPECT_TRUE(!b.has_embedding && b.has_lm_head);
  EXPECT_DOUBLE_EQ(a.total_params() + b.total_params(), m.total_params());
}

TEST(Pipeline, LayoutMistakesAreNamed) {
  EXPECT_HAS(error_of([] { split_of("tp = 8\npp = 2\nlayer_split = [50, 20]\n"); }),
             "has 2 stages summing to 70 layers; it needs pp = 2 counts that sum to llama-3-70b's 80");
  EXPECT_HAS(error_of([] { split_of("tp = 8\npp = 81\n"); }), "more stages than llama-3-70b's 80 layers");
  EXPECT_HAS(error_of([] { split_of("tp = 8\nlayer_split = [0]\n"); }), "positive layer counts");
  EXPECT_HAS(error_of([] { split_of("tp = 8\nep = 8\n"); }),
             "sets expert parallelism (ep, dp_attention, moe_comm or expert_skew), but llama-3-70b is a dense model");
  const std::string moe = kMoeHead + "[cluster]\n";
  auto moe_error = [&](const std::string& c) {
    return error_of([&] { resolve(scenario_from("ep", moe + c), catalog()); });
  };
  EXPECT_HAS(moe_error("tp = 4\nep = 3\n"),
             "cluster.ep = 3 does not divide the stage's 4 GPUs: attention tp (4) x dp (1) must equal ep x "
             "moe_tp; valid ep values are: 1, 2, 4");
  EXPECT_HAS(moe_error("tp = 8\nep = 8\n"), "cluster.ep = 8 does not split the 60 experts");
  EXPECT_HAS(moe_error("tp = 4\nep = 4\nmoe_comm = \"nvshmem\"\n"), "all-to-all, allgather-reducescatter");
  EXPECT_EQ(moe_error("tp = 4\nep = 4\ndp_attention = true\n"), "");
  const std::string pd_moe = kMoeHead + R"([[cluster.pool]]
name = "p"
role = "prefill"
tp = 4
ep = 4
dp_attention = true
[[cluster.pool]]
name = "d"
role = "decode"
tp = 4
)";
  EXPECT_HAS(error_of([&] { resolve(scenario_from("pdmoe", pd_moe), catalog()); }),
             "the dp_attention of pool \"p\" = true in a prefill pool");
  // Prefill/decode pools cannot be pipelined.
  const std::string pd = kHead + R"(
[[cluster.pool]]
name = "p"
role = "prefill"
tp = 8
pp = 2
[[cluster.pool]]
name = "d"
role = "decode"
tp = 8
)";
  EXPECT_HAS(error_of([&] { resolve(scenario_from("pd", pd), catalog()); }),
             "the pp of pool \"p\" = 2 in a prefill pool: servesim cannot model pipeline stages in prefill/decode");
}

TEST(Pipeline, ActivationBytesPerBoundary) {
  // The hidden state and the residual of each token: 2 x tokens x hidden x bytes.
  // Llama-3-70B in bf16, 100 tokens: 2 x 100 x 8192 x 2 = 3,276,800 B.
  EventLoop loop;
  PipelineExecutor pipe(loop, {}, 0, 0, 8192, 2.0);
  EXPECT_DOUBLE_EQ(pipe.activation_bytes(100), 3276800.0);
}

struct Recorder final : BatchSink {
  std::vector<SimTime> done;
  void batch_done(SimTime now) override { done.push_back(now); }
};

// Llama-3-8B's 32 layers as two stages, [0, split) and [split, 32), on H100s in bf16.
struct TwoStages {
  explicit TwoStages(int split)
      : model(catalog().model("llama-3-8b")),
        gpu(catalog().gpu("h100-sxm")),
        link(catalog().link("nvlink4")),
        first(stage_slice(model, 0, split), gpu, link, Parallelism{}, RuntimeOptions{}, gpu.defaults),
        second(stage_slice(model, split, 32 - split), gpu, link, Parallelism{}, RuntimeOptions{},
               gpu.defaults) {}
  ModelSpec model;
  DeviceSpec gpu;
  LinkSpec link;
  StepCostModel first;
  StepCostModel second;
};

SimTime ns_of(Seconds s) { return SimTime{std::max<std::int64_t>(1, SimTime::from_seconds(s).ns)}; }

// Two stages of Llama-3-8B (16 layers each, H100, bf16), no network: batch A, a 2048-token
// prefill, and batch B, one decode step, both launched at time 0 by two virtual engines.
TEST(Pipeline, TwoBatchesOverlapAndAShortOneLeavesABubble) {
  TwoStages st2(16);
  const ModelSpec& m = st2.model;
  StepCostModel& s0 = st2.first;
  StepCostModel& s1 = st2.second;
  BatchShape a;
  a.add_prefill(2048, 0);
  BatchShape b;
  b.add_decode(512);
  const SimTime a0 = ns_of(s0.quick(a).time), a1 = ns_of(s1.quick(a).time);
  const SimTime b0 = ns_of(s0.quick(b).time), b1 = ns_of(s1.quick(b).time);
  ASSERT_GT(a0, b1);  // the premise: A's stage is longer than B's

  EventLoop loop;
  PipelineExecutor pipe(loop, {&s0, &s1}, 0, 0, m.hidden, 2.0);
  std::vector<StageRecord> log;
  pipe.record(&log);
  Recorder ra, rb;
  auto pa = pipe.port(ra);
  auto pb = pipe.port(rb);
  pa->launch(a, Seconds(0), SimTime{});
  pb->launch(b, Seconds(0), SimTime{});
  EXPECT_FALSE(pa->accepts());  // its batch is in flight: its sequences cannot run again yet
  loop.run();
  // A: stage 0 [0, a0], stage 1 [a0, a0 + a1]. B waits for stage 0: [a0, a0 + b0], then
  // stage 1 once A has left it: [a0 + a1, a0 + a1 + b1] (b0 < a1). The two overlap on
  // [a0, a0 + b0]: stage 0 runs B while stage 1 runs A.
  ASSERT_EQ(ra.done.size(), 1u);
  ASSERT_EQ(rb.done.size(), 1u);
  EXPECT_EQ(ra.done[0], a0 + a1);
  EXPECT_EQ(rb.done[0], a0 + a1 + b1);
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[0].start, SimTime{});  // A on stage 0
  EXPECT_EQ(log[1].start, a0);         // B on stage 0, beside A on stage 1
  EXPECT_EQ(log[1].stage, 0);
  EXPECT_EQ(log[1].end, a0 + b0);
  // In flight over [0, a0 + a1 + b1]. Stage 0 busy a0 + b0, stage 1 busy a1 + b1. Bubble =
  // idle stage time while in flight / (2 x in flight) = (2T - a0 - b0 - a1 - b1) / 2T with
  // T = a0 + a1 + b1: stage 0 idles while A and B finish on stage 1, stage 1 while A fills.
  const PipelineStats& st = pipe.stats();
  const double t = (a0 + a1 + b1).seconds().value;
  EXPECT_EQ(st.in_flight, a0 + a1 + b1);
  EXPECT_EQ(st.stage_busy[0], a0 + b0);
  EXPECT_EQ(st.stage_busy[1], a1 + b1);
  const double idle = 2.0 * t - (a0 + b0 + a1 + b1).seconds().value;
  // What summary.json reports for it: the bubble, and each stage's busy share of a run as
  // long as its time in flight.
  const PipelineSummary sum = summarize_pipelines({st}, kAllPools, t);
  EXPECT_NEAR(sum.bubble_fraction, idle / (2.0 * t), 1e-12);
  EXPECT_GT(sum.bubble_fraction, 0.4);  // about half: A's prefill fills and drains alone
  ASSERT_EQ(sum.stage_busy.size(), 2u);
  EXPECT_NEAR(sum.stage_busy[0], (a0 + b0).seconds().value / t, 1e-12);
  EXPECT_NEAR(sum.stage_busy[1], (a1 + b1).seconds().value / t, 1e-12);
  EXPECT_TRUE(pipe.idle());
  EXPECT_TRUE(pa->accepts());
}

// Three engines' batches launched at once queue at each stage in the order they came: stage
// 0 runs them 0, 1, 2, and so does stage 1, which is 7 times as long (4 layers, then 28), so
// batches 1 and 2 both wait there.
TEST(Pipeline, StagesServeWaitingBatchesInArrivalOrder) {
  TwoStages st2(4);
  const ModelSpec& m = st2.model;
  StepCostModel& s0 = st2.first;
  StepCostModel& s1 = st2.second;
  EventLoop loop;
  PipelineExecutor pipe(loop, {&s0, &s1}, 0, 0, m.hidden, 2.0);
  std::vector<StageRecord> log;
  pipe.record(&log);
  Recorder r0, r1, r2;
  std::vector<std::unique_ptr<Executor>> ports;
  ports.push_back(pipe.port(r0));
  ports.push_back(pipe.port(r1));
  ports.push_back(pipe.port(r2));
  BatchShape shape;
  shape.add_prefill(512, 0);
  for (auto& p : ports) p->launch(shape, Seconds(0), SimTime{});
  // The premise: batch 2 leaves stage 0 while batch 0 still runs on stage 1.
  ASSERT_LT(3 * ns_of(s0.quick(shape).time).ns, (ns_of(s0.quick(shape).time) + ns_of(s1.quick(shape).time)).ns);
  loop.run();
  std::vector<std::int32_t> stage0, stage1;
  for (const StageRecord& r : log) (r.stage == 0 ? stage0 : stage1).push_back(r.engine);
  EXPECT_EQ(stage0, (std::vector<std::int32_t>{0, 1, 2}));
  EXPECT_EQ(stage1, (std::vector<std::int32_t>{0, 1, 2}));
  EXPECT_LT(r0.done[0], r1.done[0]);
  EXPECT_LT(r1.done[0], r2.done[0]);
}

// The engine's CPU work per batch holds the pipeline's one driver thread, not a stage: with
// 5 ms of it, two batches launched at 0 enter stage 0 at 5 ms and 10 ms, and stage 0's busy
// time is only the batches' GPU time.
TEST(Pipeline, TheDriverPreparesBatchesOneAfterAnother) {
  TwoStages st2(16);
  const ModelSpec& m = st2.model;
  StepCostModel& s0 = st2.first;
  StepCostModel& s1 = st2.second;
  EventLoop loop;
  PipelineExecutor pipe(loop, {&s0, &s1}, 0, 0, m.hidden, 2.0, Seconds(5e-3));
  std::vector<StageRecord> log;
  pipe.record(&log);
  Recorder ra, rb;
  auto pa = pipe.port(ra);
  auto pb = pipe.port(rb);
  BatchShape d;
  d.add_decode(100);
  pa->launch(d, Seconds(0), SimTime{});
  pb->launch(d, Seconds(0), SimTime{});
  loop.run();
  const SimTime cpu = SimTime::from_seconds(Seconds(5e-3));
  const SimTime g0 = ns_of(s0.quick(d).time);
  const SimTime g1 = ns_of(s1.quick(d).time);
  ASSERT_GT(cpu, g0);  // the premise: the driver is the slower step here
  auto start_of = [&](std::int32_t engine, std::int32_t stage) {
    for (const StageRecord& r : log) {
      if (r.engine == engine && r.stage == stage) return r.start;
    }
    ADD_FAILURE() << "no record";
    return SimTime{};
  };
  EXPECT_EQ(start_of(0, 0), cpu);        // A after 5 ms of CPU work
  EXPECT_EQ(start_of(1, 0), cpu + cpu);  // B after A's, on the one driver
  EXPECT_EQ(rb.done[0], cpu + cpu + g0 + g1);
  EXPECT_EQ(pipe.stats().stage_busy[0], g0 + g0);  // CPU time is not stage time
}

TEST(ExpertParallel, DataParallelAttentionKeepsEachPrefillChunkOnOneRank) {
  // 1 prefill chunk of 2,048 tokens and 63 decodes over 8 ranks: the busiest holds ceil(64/8)
  // = 8 of the 64 sequences, but at least the whole chunk, so 2,048 prefill tokens plus
  // ceil(63 x 8/64) = 8 decodes: 2,056 tokens.
  BatchShape mixed;
  mixed.add_prefill(2048, 0);
  for (int i = 0; i < 63; ++i) mixed.add_decode(1000);
  EXPECT_EQ(busiest_rank_tokens(mixed, 8), 2056);
  EXPECT_EQ(busiest_rank_shape(mixed, 8).decode_seqs, 8);
  // 16 equal decodes over 8 ranks: 2 each.
  BatchShape decode;
  for (int i = 0; i < 16; ++i) decode.add_decode(1000);
  EXPECT_EQ(busiest_rank_tokens(decode, 8), 2);
  // 8 equal chunks of 100 over 8 ranks: one each (sum q^2 / sum q = 100).
  BatchShape chunks;
  for (int i = 0; i < 8; ++i) chunks.add_prefill(100, 0);
  EXPECT_EQ(busiest_rank_tokens(chunks, 8), 100);
  // One rank: the whole batch.
  EXPECT_EQ(busiest_rank_tokens(mixed, 1), mixed.tokens());
}

TEST(ExpertParallel, DataParallelAttentionHoldsDpTimesOneGpusBlocks) {
  // Each of the 4 GPUs holds whole heads for its own sequences: the replica's blocks are 4
  // times one GPU's plan.
  const std::string toml = kMoeHead + "[cluster]\ntp = 4\nep = 4\ndp_attention = true\n";
  const Deployment d = resolve(scenario_from("dp", toml), catalog());
  EXPECT_EQ(d.pools[0].kv_blocks, 4 * d.pools[0].memory.kv_blocks);
  EXPECT_GT(d.pools[0].memory.kv_blocks, 0);
}

TEST(ExpertParallel, MaxLoadAtUniformRoutingFollowsTheFormula) {
  // 1024 tokens x top-8 = 8192 assignments over 256 experts on 8 ranks: m/n = 1024, plus
  // sqrt(2 x 1024 x ln 8) = 65.26: 1089.26.
  EXPECT_NEAR(expert_max_load(8192, 256, 8, 0.0), 1089.26, 0.01);
  // One rank takes everything.
  EXPECT_DOUBLE_EQ(expert_max_load(8192, 256, 1, 0.0), 8192.0);
  // Against random routing (each assignment to a uniform expert, 32 experts a rank): the mean
  // of the busiest rank's load over 200 draws. The formula is the leading order of Raab and
  // Steger's bound, so it lies above it, here by about 2%.
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> expert(0, 255);
  double mean_max = 0;
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<int> load(8, 0);
    for (int i = 0; i < 8192; ++i) ++load[static_cast<std::size_t>(expert(rng) / 32)];
    mean_max += *std::max_element(load.begin(), load.end()) / 200.0;
  }
  EXPECT_GT(1089.26, mean_max);
  EXPECT_LT(1089.26 / mean_max - 1.0, 0.04);
  // Skew 1 over 8 experts on 2 ranks: shares 1/i; rank 0 holds experts 1, 3, 5, 7:
  // (1 + 1/3 + 1/5 + 1/7) / H_8 = 1.6762 / 2.7179 = 0.6167. 800 assignments: 800 x 0.6167 +
  // sqrt(2 x 493.4 x ln 2) = 493.39 + 26.15 = 519.54.
  EXPECT_NEAR(expert_max_load(800, 8, 2, 1.0), 519.54, 0.01);
}

OpCost op_named(const std::vector<OpCost>& ops, const std::string& name) {
  for (const OpCost& o : ops) {
    if (name == o.name) return o;
  }
  ADD_FAILURE() << "no op " << name;
  return {};
}

TEST(ExpertParallel, AllToAllBytesPerRank) {
  // Qwen3-30B-A3B (48 MoE layers, hidden 2048, top-8) on 8 GPUs, ep 8, a batch of 64 tokens:
  // each GPU sends its 64 / 8 tokens' 8 expert copies of 2048 bf16 values, 8 x 8 x 2048 x 2 =
  // 262,144 B per layer, and gets as much back in the combine. With attention tp 8 the outputs
  // are all-gathered back: 64 x 2048 x 2 = 262,144 B per layer too.
  const ModelSpec m = catalog().model("qwen3-30b-a3b");
  Parallelism par;
  par.tp = 8;
  par.ep = 8;
  std::vector<OpCost> ops;
  token_ops(m, Precision{}, 64, par, ops);
  const OpCost dispatch = op_named(ops, "moe_dispatch");
  EXPECT_EQ(dispatch.cls, OpClass::kAllToAll);
  EXPECT_EQ(dispatch.kernels, 48.0);
  EXPECT_DOUBLE_EQ(dispatch.bytes / dispatch.kernels, 262144.0);
  EXPECT_DOUBLE_EQ(op_named(ops, "moe_combine").bytes, dispatch.bytes);
  EXPECT_DOUBLE_EQ(op_named(ops, "moe_gather").bytes / 48.0, 262144.0);
  // The attention all-reduce stays (one a layer, and the embedding's): 49 of 64 x 2048 x 2.
  EXPECT_EQ(op_named(ops, "all_reduce").kernels, 49.0);
  // The busiest rank's expert rows: 512 assignments over 8 ranks, 64 + sqrt(2 x 64 x ln 8) =
  // 80.97, over its touched experts of 16: 16 x (1 - (1 - 8/128)^64) = 15.70.
  const double touched = 16.0 * (1.0 - std::pow(1.0 - 8.0 / 128.0, 64.0));
  EXPECT_NEAR(op_named(ops, "expert_gate_up").m, expert_max_load(512, 128, 8, 0) / touched, 1e-9);
  // The allgather/reduce-scatter form with data-parallel attention: each GPU gathers all 64
  // tokens (64 x 2048 x 2 = 262,144 B gathered per layer) and reduce-scatters the outputs.
  par.dp_attention = true;
  par.moe_comm = MoeComm::kAllGatherReduceScatter;
  ops.clear();
  token_ops(m, Precision{}, 64, par, ops);
  EXPECT_EQ(op_named(ops, "moe_dispatch").cls, OpClass::kAllGather);
  EXPECT_DOUBLE_EQ(op_named(ops, "moe_dispatch").bytes / 48.0, 262144.0);
  EXPECT_EQ(op_named(ops, "moe_combine").cls, OpClass::kReduceScatter);
  // Data-parallel attention: each GPU runs 64 / 8 = 8 tokens through q/k/v, whole heads.
  EXPECT_EQ(op_named(ops, "qkv_proj").m, 8.0);
}

}  // namespace
}  // namespace servesim
