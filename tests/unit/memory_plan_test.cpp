#include <gtest/gtest.h>

#include "hardware/memory_plan.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

using testing::catalog;

TEST(MemoryPlan, ReproducesTheRtx4090VllmRunsBlockCount) {
  // vLLM 0.19 on an RTX 4090 (25,250,627,584 bytes), Llama-3.1-8B bf16, utilization 0.9,
  // max_num_batched_tokens 2048, max_num_seqs 256 reported 2,588 blocks of 16 tokens
  // (shared/validation/rtx4090-llama31-8b-vllm/meta.json). The runtime reserve is fitted to it:
  // 22.73 GB usable - 16.06 GB weights - 0.34 GB activations - 0.90 GB reserve = 5.43 GB,
  // / (16 tokens * 128 KiB) = 2,588 blocks.
  const ModelSpec m = catalog().model("llama-3-8b");
  MemoryPlanInputs in;
  in.max_num_batched_tokens = 2048;
  in.max_num_seqs = 256;
  const MemoryPlan p = plan_memory(m, catalog().gpu("rtx-4090"), Parallelism{1}, in);
  EXPECT_EQ(p.kv_blocks, 2588);
}

TEST(MemoryPlan, SeventyBDoesNotFitOneH100ButFitsFour) {
  const ModelSpec m = catalog().model("llama-3-70b");
  const DeviceSpec h100 = catalog().gpu("h100-sxm");
  MemoryPlanInputs in;
  // 70.55B params * 2 bytes = 141 GB of weights against 0.9 * 85.5 GB usable.
  const MemoryPlan one = plan_memory(m, h100, Parallelism{1}, in);
  EXPECT_EQ(one.kv_blocks, 0);
  EXPECT_GT(one.shortfall.value, 60e9);
  // At tp 4 each GPU holds 35.3 GB of weights and has KV room left.
  EXPECT_GT(plan_memory(m, h100, Parallelism{4}, in).kv_blocks, 1000);
}

TEST(MemoryPlan, KvHeadsReplicateWhenTpExceedsThem) {
  const ModelSpec m = catalog().model("qwen2.5-7b");  // 4 kv heads
  // At tp 14 (which divides its 28 heads) each GPU still holds one whole kv head:
  // 2 * 28 layers * 1 * 128 * 2 bytes.
  MemoryPlanInputs in;
  EXPECT_DOUBLE_EQ(plan_memory(m, catalog().gpu("h100-sxm"), Parallelism{14}, in).kv_bytes_per_token.value,
                   2.0 * 28 * 1 * 128 * 2);
}

}  // namespace
}  // namespace servesim
