// `servesim step` refuses what `run` would (a batch over the context, weights or KV that do not
// fit) unless --no-check, takes the precision flags, and shows the CUDA-graph saving as its
// own line.
#include <gtest/gtest.h>

#include "tests/test_util.hpp"

namespace servesim {
namespace {

testing::Ran step(const std::string& args) {
  static const auto dir = testing::scratch("step_checks");
  return testing::shell(std::string(SERVESIM_BINARY) + " step " + args, dir);
}

TEST(StepChecks, ContextLongerThanTheModelsIsRefusedUnlessNoCheck) {
  // Llama-3-8B's max_position_embeddings is 8,192: a 9,000-token prompt does not fit.
  const auto r = step("--model llama-3-8b --gpu h100-sxm --prefill 1x9000");
  EXPECT_EQ(r.status, 2);
  EXPECT_HAS(r.err, "a sequence of 9000 tokens (cached + new) exceeds llama-3-8b's context");
  EXPECT_HAS(r.err, "--no-check");
  EXPECT_EQ(step("--model llama-3-8b --gpu h100-sxm --prefill 1x9000 --no-check").status, 0);
  // --max-model-len lowers the limit: 4 decodes at 1,000 cached + 1 new exceed 900.
  EXPECT_HAS(step("--model llama-3-8b --gpu h100-sxm --decode 4x1000 --max-model-len 900").err,
             "exceeds --max-model-len of 900 tokens");
  EXPECT_HAS(step("--model llama-3-8b --gpu h100-sxm --decode 1x10 --max-model-len 9000").err,
             "--max-model-len 9000: give 1 to llama-3-8b's context of 8192");
}

TEST(StepChecks, WeightsAndKvThatDoNotFitAreRefusedAsRunRefusesThem) {
  // Llama-3-70B's 131.4 GiB of bf16 weights on one 80 GB GPU.
  const auto big = step("--model llama-3-70b --gpu h100-sxm --decode 1x100");
  EXPECT_EQ(big.status, 2);
  EXPECT_HAS(big.err, "llama-3-70b (131.4 GiB of bf16 weights per GPU at tp = 1) does not fit");
  EXPECT_EQ(step("--model llama-3-70b --gpu h100-sxm --decode 1x100 --no-check").status, 0);
  // At tp = 4 it fits (32.9 GiB a GPU).
  EXPECT_EQ(step("--model llama-3-70b --gpu h100-sxm --tp 4 --decode 1x100").status, 0);
  // 256 sequences of 8,001 tokens need 256 x ceil(8001 / 16) = 256 x 501 = 128,256 blocks of
  // 16 tokens, far over the ~28.5k an H100 holds beside Llama-3-8B's weights.
  const auto kv = step("--model llama-3-8b --gpu h100-sxm --decode 256x8000");
  EXPECT_EQ(kv.status, 2);
  EXPECT_HAS(kv.err, "needs 128256 blocks of 16 tokens");
  // An fp8 cache does not halve the need in blocks, it doubles the room: still too little.
  EXPECT_EQ(step("--model llama-3-8b --gpu h100-sxm --decode 256x8000 --kv-cache-dtype fp8").status, 2);
  EXPECT_EQ(step("--model llama-3-8b --gpu h100-sxm --decode 32x8000").status, 0);
}

TEST(StepChecks, PrecisionFlagsAndTheirErrors) {
  const auto w4 = step("--model llama-3.1-8b --gpu rtx-4090 --dtype fp16 --weight-dtype int4 "
                       "--decode 1x1000 --json");
  ASSERT_EQ(w4.status, 0) << w4.err;
  EXPECT_HAS(w4.out, "\"weight_dtype\": \"int4\"");
  EXPECT_HAS(w4.out, "\"gemm_format\": \"w4a16\"");
  EXPECT_HAS(w4.out, "\"group_size\": 128");
  EXPECT_HAS(w4.out, "derived");  // no W4A16 kernel measured on a 4090
  EXPECT_HAS(step("--model llama-3-8b --gpu a100-80gb --dtype fp8 --decode 1x10").err,
             "a100-80gb has no FP8 tensor cores");
  EXPECT_HAS(step("--model llama-3-8b --gpu h100-sxm --weight-dtype int4 --group-size 96 --decode 1x10").err,
             "--group-size = 96 does not divide");
  EXPECT_HAS(step("--model llama-3-8b --gpu h100-sxm --kv-cache-dtype fp4 --decode 1x10").err,
             "--kv-cache-dtype = \"fp4\": valid values are");
  EXPECT_HAS(step("--model llama-3-8b --gpu h100-sxm --activation-dtype fp8 --decode 1x10").err,
             "--weight-dtype = bf16 with --activation-dtype = fp8");
}

TEST(StepChecks, GraphSavingIsItsOwnLineAndNothingIsNegative) {
  const auto r = step("--model llama-3-8b --gpu h100-sxm --decode 8x1000");
  ASSERT_EQ(r.status, 0) << r.err;
  // h100-sxm.toml: graph_node = -1.79 us, so 32 layers' ~324 kernels save ~0.58 ms.
  EXPECT_HAS(r.out, "cuda-graph saving");
  EXPECT_HAS(r.out, "(subtracted: ");
  // No time in the table is negative: every number after a name is >= 0.
  EXPECT_EQ(r.out.find(" -"), std::string::npos) << r.out;
  // Eager steps have no saving line.
  EXPECT_EQ(step("--model llama-3-8b --gpu h100-sxm --decode 8x1000 --cuda-graphs off").out.find("cuda-graph saving"),
            std::string::npos);
}

}  // namespace
}  // namespace servesim
