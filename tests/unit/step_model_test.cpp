#include <gtest/gtest.h>

#include <string_view>

#include <algorithm>

#include "hardware/cost_model.hpp"
#include "models/step_ops.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

using testing::catalog;

double find_op(const std::vector<OpCost>& ops, const std::string& name, double OpCost::*field) {
  for (const auto& op : ops) {
    if (op.name == name) return op.*field;
  }
  ADD_FAILURE() << "no op " << name;
  return 0;
}

TEST(StepOps, DecodeOfOneSequenceByHand) {
  const ModelSpec m = catalog().model("llama-3-8b");
  BatchShape s;
  s.add_decode(1000);
  std::vector<OpCost> ops;
  step_ops(m, Precision{}, s, Parallelism{1}, ops);
  // QKV: M=1, K=4096, N=(32+2*8)*128=6144, 32 layers: 2*1*4096*6144*32 flops; bytes are the
  // weight plus input and output rows, 2 bytes each: (4096*6144 + 4096 + 6144)*2*32.
  EXPECT_DOUBLE_EQ(find_op(ops, "qkv_proj", &OpCost::flops), 1610612736.0);
  EXPECT_DOUBLE_EQ(find_op(ops, "qkv_proj", &OpCost::bytes), (4096.0 * 6144 + 4096 + 6144) * 2 * 32);
  // Attention: 4 * 32 heads * 128 * 1000 context * 32 layers flops; K and V of 1000 tokens *
  // 8 kv heads * 128 * 2 bytes, plus q and o (2 * 32 * 128 * 2 bytes), per layer.
  EXPECT_DOUBLE_EQ(find_op(ops, "attention_decode", &OpCost::flops), 524288000.0);
  EXPECT_DOUBLE_EQ(find_op(ops, "attention_decode", &OpCost::bytes),
                   (2.0 * 1000 * 1024 + 2.0 * 32 * 128) * 2 * 32);
  // All flops: 2 per parameter outside the embedding table (norm weights aside) plus
  // attention: 2 * (8,030,261,248 - 525,336,576 embed - 266,240 norms) + 524,288,000.
  double flops = 0;
  for (const auto& op : ops) flops += op.flops;
  EXPECT_DOUBLE_EQ(flops, 2.0 * (8030261248.0 - 525336576.0 - 266240.0) + 524288000.0);
}

TEST(StepOps, CausalPrefillFlopsByHand) {
  const ModelSpec m = catalog().model("llama-3-8b");
  BatchShape s;
  s.add_prefill(512, 0);
  s.add_prefill(256, 1024);  // a chunk after 1024 cached tokens
  std::vector<OpCost> ops;
  step_ops(m, Precision{}, s, Parallelism{1}, ops);
  // Pairs scored: 512*513/2 = 131,328 for the first; 256*1024 + 256*257/2 = 295,040 for the
  // second; 426,368 in all; 4 * 32 heads * 128 dims * 32 layers flops per pair.
  EXPECT_DOUBLE_EQ(find_op(ops, "attention_prefill", &OpCost::flops), 426368.0 * 4 * 32 * 128 * 32);
  // GEMMs see all 768 tokens; the LM head sees one row per sequence (2).
  EXPECT_DOUBLE_EQ(find_op(ops, "down_proj", &OpCost::flops), 2.0 * 768 * 14336 * 4096 * 32);
  EXPECT_DOUBLE_EQ(find_op(ops, "lm_head", &OpCost::flops), 2.0 * 2 * 4096 * 128256);
}

TEST(StepOps, TensorParallelSplitsWorkAndAddsAllReduces) {
  const ModelSpec m = catalog().model("llama-3-70b");
  BatchShape s;
  s.add_prefill(1000, 0);
  std::vector<OpCost> tp1, tp4;
  step_ops(m, Precision{}, s, Parallelism{1}, tp1);
  step_ops(m, Precision{}, s, Parallelism{4}, tp4);
  EXPECT_DOUBLE_EQ(find_op(tp4, "gate_up_proj", &OpCost::flops),
                   find_op(tp1, "gate_up_proj", &OpCost::flops) / 4);
  // Two all-reduces per layer and one after the embedding, each of 1000 tokens * 8192 hidden *
  // 2 bytes: 161 of them.
  EXPECT_DOUBLE_EQ(find_op(tp4, "all_reduce", &OpCost::bytes), 161.0 * 1000 * 8192 * 2);
  EXPECT_DOUBLE_EQ(find_op(tp4, "all_reduce", &OpCost::kernels), 161);
}

TEST(StepOps, MoeTouchesOnlyRoutedExpertsAtSmallBatch) {
  const ModelSpec m = catalog().model("mixtral-8x7b");
  BatchShape one;
  one.add_decode(100);
  std::vector<OpCost> ops;
  step_ops(m, Precision{}, one, Parallelism{1}, ops);
  // One token, top-2: expected distinct experts 8 * (1 - (1 - 2/8)^1) = 2, so weight bytes of
  // 2 experts' gate/up (4096 x 28672) are read per layer.
  const double up_bytes = find_op(ops, "expert_gate_up", &OpCost::bytes);
  EXPECT_NEAR(up_bytes, 2.0 * 4096 * 28672 * 2 * 32, 2.0 * (4096 + 28672) * 2 * 32 * 2);
}

class Floors : public ::testing::TestWithParam<const char*> {};

TEST_P(Floors, NoOpIsFasterThanItsPhysicalFloor) {
  const DeviceSpec gpu = catalog().gpu(GetParam());
  for (const char* model : {"llama-3-8b", "mixtral-8x7b", "qwen2.5-7b"}) {
    const ModelSpec m = catalog().model(model);
    const StepCostModel cost(m, gpu, catalog().link(gpu.interconnect), Parallelism{2},
                             RuntimeOptions{}, gpu.defaults);
    for (int b : {1, 8, 64, 256}) {
      for (int len : {1, 16, 512, 4096}) {
        BatchShape s;
        for (int i = 0; i < b; ++i) len == 1 ? s.add_decode(2048) : s.add_prefill(len, 0);
        const StepCost c = cost.breakdown(s);
        double floor_sum = 0;
        for (const OpTime& t : c.ops) {
          if (is_collective(t.op.cls)) continue;
          const double floor = std::max(t.op.flops / gpu.peak_for(DType::kBF16).value,
                                        t.op.bytes / gpu.memory_bandwidth.value);
          EXPECT_GE(t.time.value, floor) << model << " " << t.op.name << " b=" << b;
          floor_sum += floor;
        }
        EXPECT_GE(c.total.value, floor_sum);
      }
    }
  }
}
INSTANTIATE_TEST_SUITE_P(AllGpus, Floors,
                         ::testing::Values("a100-40gb", "a100-80gb", "h100-sxm", "h100-pcie", "h200",
                                           "rtx-4090"));

TEST(StepCostModel, QuickPathEqualsBreakdown) {
  const DeviceSpec gpu = catalog().gpu("h100-sxm");
  StepCostModel cost(catalog().model("llama-3-8b"), gpu, catalog().link("nvlink4"), Parallelism{1},
                     RuntimeOptions{}, gpu.defaults);
  BatchShape s;
  s.add_prefill(700, 0);
  s.add_decode(900);
  s.add_decode(50);
  EXPECT_NEAR(cost.quick(s).time.value, cost.breakdown(s).total.value, 1e-15);
  BatchShape d;
  for (int i = 0; i < 33; ++i) d.add_decode(100 + i);
  EXPECT_NEAR(cost.quick(d).time.value, cost.breakdown(d).total.value, 1e-15);
}

TEST(StepCostModel, DecodeIsMemoryBoundAndLargePrefillComputeBound) {
  const DeviceSpec gpu = catalog().gpu("h100-sxm");
  const StepCostModel cost(catalog().model("llama-3-8b"), gpu, catalog().link("nvlink4"),
                           Parallelism{1}, RuntimeOptions{}, gpu.defaults);
  BatchShape decode;
  decode.add_decode(512);
  BatchShape prefill;
  prefill.add_prefill(4096, 0);
  for (const OpTime& t : cost.breakdown(decode).ops) {
    if (t.op.cls == OpClass::kGemm) {
      EXPECT_FALSE(t.compute_bound) << t.op.name;
    }
  }
  for (const OpTime& t : cost.breakdown(prefill).ops) {
    if (std::string_view(t.op.name) == "gate_up_proj") {
      EXPECT_TRUE(t.compute_bound);
    }
  }
  // A decode step of one sequence reads the 16 GB of weights at least once: at 3.35 TB/s that is
  // at least 4.8 ms.
  EXPECT_GT(cost.breakdown(decode).total.value, 16.06e9 / 3.35e12);
}

TEST(StepCostModel, EagerModeAddsLaunchCostAtSmallBatch) {
  const DeviceSpec gpu = catalog().gpu("h100-sxm");
  RuntimeOptions eager;
  eager.cuda_graphs = false;
  const StepCostModel g(catalog().model("llama-3-8b"), gpu, catalog().link("nvlink4"),
                        Parallelism{1}, RuntimeOptions{}, gpu.defaults);
  const StepCostModel e(catalog().model("llama-3-8b"), gpu, catalog().link("nvlink4"),
                        Parallelism{1}, eager, gpu.defaults);
  BatchShape s;
  s.add_decode(100);
  const StepCost cg = g.breakdown(s);
  const StepCost ce = e.breakdown(s);
  EXPECT_TRUE(cg.graphs);
  EXPECT_FALSE(ce.graphs);
  // Eager: step_eager + max(GPU time, kernels * launch); graphs: step_graphs + GPU + nodes.
  const CostParams& p = gpu.defaults;
  EXPECT_NEAR(ce.total.value,
              p.step_eager.value + std::max(ce.gpu.value, ce.kernels * p.launch.value), 1e-12);
  EXPECT_NEAR(cg.total.value, p.step_graphs.value + cg.gpu.value + cg.kernels * p.graph_node.value,
              1e-12);
  EXPECT_GT(ce.total.value, cg.total.value);
}

TEST(StepCostModel, FrameworkLaunchesPriceEagerKernelsAtTheFrameworkCost) {
  const DeviceSpec gpu = catalog().gpu("h100-sxm");
  CostParams p = gpu.defaults;
  p.launch = microseconds(4.0);
  p.framework_launch = microseconds(25.0);
  p.step_eager = microseconds(8.0);
  RuntimeOptions eager;
  eager.cuda_graphs = false;
  RuntimeOptions python = eager;
  python.framework_launches = true;
  const ModelSpec m = catalog().model("llama-3-8b");
  const LinkSpec link = catalog().link("nvlink4");
  StepCostModel plain(m, gpu, link, Parallelism{1}, eager, p);
  StepCostModel framework(m, gpu, link, Parallelism{1}, python, p);
  BatchShape s;
  s.add_decode(129);
  const StepCost a = plain.breakdown(s);
  const StepCost b = framework.breakdown(s);
  // Llama-3-8B decode, one sequence: 32 layers x 10 kernels (4 GEMMs, attention, rotary, KV
  // write, 2 add + RMSNorm, SiLU-multiply) + embedding, final norm, lm_head, sampler = 324.
  EXPECT_DOUBLE_EQ(b.kernels, 324.0);
  EXPECT_DOUBLE_EQ(a.gpu.value, b.gpu.value);  // the GPU's work does not change
  // The host chain, 324 x 25 us = 8.1 ms, is longer than the GPU's (about 6 ms of weight
  // streaming at batch 1), so the step is 8 us + 8.1 ms = 8.108 ms.
  ASSERT_LT(b.gpu.value, 8.1e-3);
  EXPECT_NEAR(b.total.value, 8.108e-3, 1e-12);
  // Without the flag the same calibration prices each eager kernel at `launch`.
  EXPECT_NEAR(a.total.value, 8e-6 + std::max(a.gpu.value, 324 * 4e-6), 1e-12);
  // The fast path gives the same total.
  EXPECT_NEAR(framework.quick(s).time.value, b.total.value, 1e-12);
  // Graph replays never pay it.
  RuntimeOptions graphs = python;
  graphs.cuda_graphs = true;
  StepCostModel g(m, gpu, link, Parallelism{1}, graphs, p);
  EXPECT_NEAR(g.breakdown(s).total.value,
              p.step_graphs.value + a.gpu.value + 324 * p.graph_node.value, 1e-9);
}

TEST(StepCostModel, UnmeasuredFrameworkLaunchFallsBackToLaunch) {
  const DeviceSpec gpu = catalog().gpu("h100-sxm");
  CostParams p = gpu.defaults;  // framework_launch 0: not measured
  ASSERT_EQ(p.framework_launch.value, 0.0);
  RuntimeOptions eager;
  eager.cuda_graphs = false;
  RuntimeOptions python = eager;
  python.framework_launches = true;
  const ModelSpec m = catalog().model("llama-3-8b");
  const LinkSpec link = catalog().link("nvlink4");
  const StepCostModel a(m, gpu, link, Parallelism{1}, eager, p);
  const StepCostModel b(m, gpu, link, Parallelism{1}, python, p);
  BatchShape s;
  s.add_decode(129);
  EXPECT_DOUBLE_EQ(a.breakdown(s).total.value, b.breakdown(s).total.value);
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

TEST(StepCost, EngineOverheadPerSequenceAndGpuScaleComposeAsDefined) {
  const auto make = [](double per_seq_us, double scale) {
    RuntimeOptions rt;
    rt.engine_overhead = Seconds(1e-3);
    rt.engine_overhead_per_seq = Seconds(per_seq_us * 1e-6);
    rt.gpu_time_scale = scale;
    return StepCostModel(catalog().model("llama-3-8b"), catalog().gpu("h100-sxm"), catalog().link("nvlink4"),
                         Parallelism{1}, rt, catalog().gpu("h100-sxm").defaults);
  };
  BatchShape s;
  for (int i = 0; i < 24; ++i) s.add_decode(900);
  s.add_prefill(300, 0);
  const StepCost base = make(0, 1.0).breakdown(s);
  const StepCost per_seq = make(20, 1.0).breakdown(s);
  const StepCost scaled = make(0, 1.5).breakdown(s);
  // 25 sequences x 20 us = 0.5 ms more, and the GPU part unchanged.
  EXPECT_NEAR(per_seq.total.value - base.total.value, 25 * 20e-6, 1e-12);
  EXPECT_DOUBLE_EQ(per_seq.gpu.value, base.gpu.value);
  // x1.5 on the GPU time alone (this eager mixed batch is GPU-bound, not launch-bound).
  EXPECT_NEAR(scaled.gpu.value, 1.5 * base.gpu.value, 1e-12);
  EXPECT_NEAR(scaled.total.value - base.total.value, 0.5 * base.gpu.value, 1e-12);
  // quick() prices the same.
  StepCostModel q = make(20, 1.5);
  EXPECT_NEAR(q.quick(s).time.value, q.breakdown(s).total.value, 1e-9);
}

}  // namespace
}  // namespace servesim
