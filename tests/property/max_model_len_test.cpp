// engine.max_model_len, as vLLM's --max-model-len: the longest prompt + output served. Longer
// requests are rejected with that reason, and the scheduler's default token budget follows it.
#include <gtest/gtest.h>

#include "sim/metrics/summary.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

const char* kScenario = R"(
[model]
name = "llama-3-8b"
[hardware]
gpu = "h100-sxm"
[workload]
requests = 300
rate = 4
prompt_tokens = { distribution = "uniform", min = 100, max = 3000 }
output_tokens = { distribution = "uniform", min = 10, max = 200 }
)";

TEST(MaxModelLen, LongerRequestsAreRejectedWithThatReason) {
  const RunResult r = testing::simulate("mml", kScenario, {"engine.max_model_len=2000"});
  const Summary s = summarize(r);
  // Exactly the requests of prompt + output above 2,000 tokens, each with the reason.
  std::int64_t longer = 0;
  for (const Request& q : r.requests) {
    const bool over = q.prompt_tokens + q.output_tokens > 2000;
    longer += over;
    EXPECT_EQ(q.state == RequestState::kRejected, over) << q.prompt_tokens << "+" << q.output_tokens;
    if (over) EXPECT_EQ(q.reject, RejectReason::kLongerThanMaxModelLen);
  }
  EXPECT_GT(longer, 0);
  EXPECT_EQ(s.rejected, longer);
  EXPECT_EQ(s.rejected_by_reason.at("prompt + output exceed engine.max_model_len"), longer);
  // Without it, Llama-3-8B's 8,192-token context takes them all.
  EXPECT_EQ(summarize(testing::simulate("mml-none", kScenario)).rejected, 0);
}

TEST(MaxModelLen, TheDefaultTokenBudgetFollowsIt) {
  // The continuous scheduler's default budget is max(context, 2048), vLLM V0's: 8,192 for
  // Llama-3-8B, 4,000 with max_model_len = 4000, and 2,048 below that.
  auto budget = [](const std::vector<std::string>& sets) {
    std::vector<std::string> all = {"engine.scheduler=\"continuous\""};
    all.insert(all.end(), sets.begin(), sets.end());
    return resolve(testing::scenario_from("mml-b", kScenario, all), testing::catalog())
        .pools.front()
        .max_num_batched_tokens;
  };
  EXPECT_EQ(budget({}), 8192);
  EXPECT_EQ(budget({"engine.max_model_len=4000"}), 4000);
  EXPECT_EQ(budget({"engine.max_model_len=1000"}), 2048);
  EXPECT_EQ(budget({"engine.max_model_len=4000", "engine.max_num_batched_tokens=512"}), 512);
}

TEST(EngineDefaults, MixedIsTheDefaultWithVllmV1sBudgetPerGpu) {
  // vLLM V1's OpenAI server (EngineArgs.get_batch_defaults): 8,192 tokens and 1,024 sequences
  // on GPUs of 70 GiB or more other than A100s, 2,048 and 256 elsewhere; independent of the
  // context (chunked prefill splits long prompts).
  auto pool = [](const std::vector<std::string>& sets) {
    return resolve(testing::scenario_from("defaults", kScenario, sets), testing::catalog()).pools.front();
  };
  const PoolSetup h100 = pool({});
  EXPECT_EQ(h100.engine.scheduler, "mixed");
  EXPECT_EQ(h100.max_num_batched_tokens, 8192);
  EXPECT_EQ(h100.engine.max_num_seqs, 1024);
  EXPECT_EQ(pool({"engine.max_model_len=1000"}).max_num_batched_tokens, 8192);
  for (const char* gpu : {"a100-80gb", "rtx-4090"}) {
    const PoolSetup p = pool({std::string("hardware.gpu=\"") + gpu + "\""});
    EXPECT_EQ(p.max_num_batched_tokens, 2048) << gpu;
    EXPECT_EQ(p.engine.max_num_seqs, 256) << gpu;
  }
  // V0's continuous batching keeps 256 sequences anywhere; a value given is kept.
  EXPECT_EQ(pool({"engine.scheduler=\"continuous\""}).engine.max_num_seqs, 256);
  EXPECT_EQ(pool({"engine.max_num_seqs=64"}).engine.max_num_seqs, 64);
}

TEST(MaxModelLen, BadValuesAreErrors) {
  EXPECT_HAS(testing::error_of([] { testing::scenario_from("mml-0", kScenario, {"engine.max_model_len=0"}); }),
             "\"engine.max_model_len\" must be an integer from 1 to 1073741824, got 0");
  EXPECT_HAS(testing::error_of([] { testing::scenario_from("mml-s", kScenario, {"engine.max_model_len=\"long\""}); }),
             "\"engine.max_model_len\" must be an integer");
  EXPECT_HAS(testing::error_of([] {
               resolve(testing::scenario_from("mml-big", kScenario, {"engine.max_model_len=100000"}),
                       testing::catalog());
             }),
             "engine.max_model_len = 100000 exceeds llama-3-8b's context of 8192 tokens");
}

}  // namespace
}  // namespace servesim
