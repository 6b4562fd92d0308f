// engine.framework_launch: eager kernels launched from Python cost the calibration's measured
// per-kernel framework time. It slows eager decode where the calibration measured it (the
// H200), and changes nothing where it did not (the H100 profile has no framework_launch).
#include <gtest/gtest.h>

#include <sstream>

#include "sim/metrics/summary.hpp"
#include "sim/report/report.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

const char* kScenario = R"(
[model]
name = "llama-3-8b"
[engine]
cuda_graphs = false
max_num_seqs = 32
[workload]
requests = 200
arrival = "poisson"
rate = 4
prompt_tokens = { distribution = "lognormal", mean = 600, stddev = 300, min = 16, max = 4000 }
output_tokens = { distribution = "uniform", min = 20, max = 200 }
[hardware]
)";

std::string bytes_of(const RunResult& r) {
  std::ostringstream csv;
  write_requests_csv(csv, r);
  return csv.str();
}

TEST(FrameworkLaunch, SlowsEagerDecodeWhereMeasured) {
  const RunResult cuda = testing::simulate("fl", kScenario, {"hardware.gpu=\"h200\""});
  const RunResult python = testing::simulate(
      "fl", kScenario, {"hardware.gpu=\"h200\"", "engine.framework_launch=true"});
  const Summary a = summarize(cuda);
  const Summary b = summarize(python);
  // A Llama-3-8B decode step is about 324 kernels; at the H200 host's 24.5 us each the host
  // needs ~7.9 ms to launch it, above the ~5 ms the GPU needs at these batch sizes, so each
  // token takes longer; with the bare CUDA launch cost (~2.5 us) the GPU sets the pace.
  EXPECT_GT(b.tpot.mean, a.tpot.mean + 2.0);
  EXPECT_EQ(summary_json(python, b)["scenario"]["framework_launch"], true);
  EXPECT_EQ(summary_json(cuda, a)["scenario"]["framework_launch"], false);
}

TEST(FrameworkLaunch, ChangesNothingWithoutAMeasurement) {
  const RunResult cuda = testing::simulate("fl", kScenario, {"hardware.gpu=\"h100-sxm\""});
  const RunResult python = testing::simulate(
      "fl", kScenario, {"hardware.gpu=\"h100-sxm\"", "engine.framework_launch=true"});
  EXPECT_EQ(bytes_of(cuda), bytes_of(python));
}

}  // namespace
}  // namespace servesim
