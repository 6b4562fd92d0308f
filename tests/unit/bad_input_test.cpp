// Every kind of bad input gets one clear error: what was wrong, where, and what is valid.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "sim/core/error.hpp"
#include "sim/cluster/simulator.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

using testing::catalog;
using testing::scenario_from;

const char* kBase = R"(name = "base"
[model]
name = "llama-3-8b"
[hardware]
gpu = "h100-sxm"
[workload]
requests = 10
rate = 2.0
)";

using testing::error_of;

std::string scenario_error(const std::string& toml, const std::vector<std::string>& sets = {}) {
  return error_of([&] {
    const Scenario s = scenario_from("bad", toml, sets);
    Simulator sim(s, catalog());
    sim.run();
  });
}


TEST(BadInput, MalformedTomlGivesLineAndColumn) {
  const std::string msg = scenario_error("name = \"x\"\n[model\nname = 1\n");
  EXPECT_HAS(msg, "bad.toml:2:");
  EXPECT_HAS(msg, "malformed TOML");
}

TEST(BadInput, UnknownKeyIsNamedWithValidKeys) {
  const std::string msg = scenario_error(std::string(kBase) + "[engine]\nmax_num_seq = 8\n");
  EXPECT_HAS(msg, "unknown key \"engine.max_num_seq\"");
  EXPECT_HAS(msg, "max_num_seqs");  // listed among the valid keys
  EXPECT_HAS(msg, "bad.toml:10:");  // where it stands
}

TEST(BadInput, UnknownSectionIsNamed) {
  const std::string msg = scenario_error(std::string(kBase) + "[engines]\nx = 1\n");
  EXPECT_HAS(msg, "unknown key \"engines\"");
  EXPECT_HAS(msg, "engine");
}

TEST(BadInput, WrongTypeSaysWhatWasExpected) {
  const std::string msg = scenario_error(kBase, {"engine.max_num_seqs=\"many\""});
  EXPECT_HAS(msg, "engine.max_num_seqs");
  EXPECT_HAS(msg, "must be an integer, got a string");
}

TEST(BadInput, ZeroOrNegativeRate) {
  EXPECT_HAS(scenario_error(kBase, {"workload.rate=0"}), "workload.rate\" must be above 0");
  EXPECT_HAS(scenario_error(kBase, {"workload.rate=-3.5"}), "must be above 0 and at most 10000000, got -3.5");
}

TEST(BadInput, UnknownModelAndGpuListValidNames) {
  const std::string m = scenario_error(kBase, {"model.name=llama-4"});
  EXPECT_HAS(m, "unknown model \"llama-4\"");
  EXPECT_HAS(m, "mixtral-8x7b");
  const std::string g = scenario_error(kBase, {"hardware.gpu=b200"});
  EXPECT_HAS(g, "unknown GPU \"b200\"");
  EXPECT_HAS(g, "a100-40gb, a100-80gb, h100-pcie, h100-sxm, h200, rtx-4090");
}

TEST(BadInput, UnknownPolicyListsValidOnes) {
  EXPECT_HAS(scenario_error(kBase, {"cluster.router=fastest"}),
             "valid values are: round-robin, random, least-outstanding, least-tokens, least-kv");
  EXPECT_HAS(scenario_error(kBase, {"engine.scheduler=magic"}), "valid values are: static, continuous, mixed, chunked");
}

TEST(BadInput, ModelThatDoesNotFitSaysHowMuchAndSuggestsTp) {
  const std::string msg = scenario_error(kBase, {"model.name=llama-3-70b"});
  EXPECT_HAS(msg, "does not fit in h100-sxm");
  EXPECT_HAS(msg, "GiB more is needed");
  // 70.55B params * 2 bytes / 2 GPUs = 70.6 GB per GPU, under the 77 GB usable at 0.9.
  EXPECT_HAS(msg, "Try cluster.tp = 2");
}

TEST(BadInput, TpThatDoesNotDivideHeads) {
  // Llama-3-8B: 32 heads, 8 KV heads; tp must divide 32 and divide or be divided by 8.
  EXPECT_HAS(scenario_error(kBase, {"cluster.tp=3"}), "valid tp values are: 1, 2, 4, 8, 16, 32");
}

TEST(BadInput, UnknownLengthDistribution) {
  EXPECT_HAS(scenario_error(kBase, {"workload.prompt_tokens={ distribution = \"zipf\", mean = 3 }"}),
             "valid values are: fixed, uniform, normal, lognormal");
}

TEST(BadInput, TraceWithABadRowNamesTheRow) {
  const std::string trace = testing::write_temp(
      "bad_trace.csv", "arrival_s,prompt_tokens,output_tokens\n0.0,100,10\n0.5,abc,10\n");
  const std::string msg = scenario_error(
      "[model]\nname = \"llama-3-8b\"\n[hardware]\ngpu = \"h100-sxm\"\n[workload]\n"
      "arrival = \"trace\"\ntrace = \"" + trace + "\"\n");
  EXPECT_HAS(msg, "bad_trace.csv:3 (row 2)");
  EXPECT_HAS(msg, "prompt_tokens is \"abc\", not a number");
}

TEST(BadInput, TraceMissingAColumn) {
  const std::string trace =
      testing::write_temp("nocol.csv", "arrival_s,prompt_tokens\n0.0,100\n");
  EXPECT_HAS(scenario_error("[model]\nname = \"llama-3-8b\"\n[hardware]\ngpu = \"h100-sxm\"\n"
                            "[workload]\narrival = \"trace\"\ntrace = \"" + trace + "\"\n"),
             "arrival_s, prompt_tokens and output_tokens");
}

TEST(BadInput, OutOfRangeNumbersNameTheRange) {
  EXPECT_HAS(scenario_error(kBase, {"cluster.replicas=4294967296"}),
             "must be an integer from 1 to 100000, got 4294967296");
  EXPECT_HAS(scenario_error(kBase, {"engine.block_size=0"}), "from 1 to 1024");
  EXPECT_HAS(scenario_error(kBase, {"engine.cpu_overhead_ms=1e300"}), "at most 60000");
  EXPECT_HAS(scenario_error(kBase, {"workload.rate=1e-300"}), "keep workload.requests / workload.rate under 1e9 s");
  EXPECT_HAS(scenario_error(kBase, {"workload.prompt_tokens={ distribution = \"fixed\", value = 10, min = 50 }"}),
             "must lie in [min, max]");
  EXPECT_HAS(scenario_error(kBase, {"workload.output_tokens=3000000000"}), "from 1 to 10000000 tokens");
}

TEST(BadInput, PinnedKvBlocksDoNotHideAModelThatDoesNotFit) {
  // Llama-3-70B's 141 GB of weights on one 24 GB RTX 4090, KV count pinned or not.
  EXPECT_HAS(scenario_error(kBase, {"model.name=\"llama-3-70b\"", "hardware.gpu=\"rtx-4090\"",
                                    "engine.num_gpu_blocks=100"}),
             "does not fit in rtx-4090");
}

TEST(BadInput, CatalogErrorsNameTheScenarioFile) {
  EXPECT_HAS(scenario_error(kBase, {"hardware.gpu=\"b200\""}), "bad.toml: unknown GPU");
}

TEST(BadInput, CliExitsNonZeroWithTheMessage) {
  const std::string path = testing::write_temp("cli_bad.toml", std::string(kBase) + "[slo]\nttft = 5\n");
  const std::string cmd = std::string(SERVESIM_BINARY) + " run " + path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  const int status = pclose(p);
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_HAS(out, "error: ");
  EXPECT_HAS(out, "unknown key \"slo.ttft\"");
  EXPECT_HAS(out, "ttft_ms");
}

}  // namespace
}  // namespace servesim
