// servesim sweep, merge and plan as a user runs them: the files they write, identical bytes for
// any --jobs, shards (and MPI ranks) that merge into the whole sweep, and errors with exit 2.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/test_util.hpp"

namespace servesim {
namespace {

namespace fs = std::filesystem;
using testing::shell;
using testing::slurp;

const std::string kBinary = SERVESIM_BINARY;

const char* kScenario = R"(
name = "cli-sweep"
seed = 3
[model]
name = "llama-3-8b"
[hardware]
gpu = "h100-sxm"
[workload]
requests = 120
arrival = "poisson"
rate = 4
prompt_tokens = { distribution = "lognormal", mean = 800, stddev = 400, min = 16, max = 4000 }
output_tokens = { distribution = "uniform", min = 20, max = 200 }
[slo]
ttft_ms = 400
tpot_ms = 40
)";

const std::vector<std::string> kFiles = {"sweep.csv", "sweep.json", "pareto.csv", "pareto.svg",
                                         "knee.svg"};
const std::string kAxes = " --vary workload.rate=1:32:x2 --vary engine.max_num_seqs=16,128";

void expect_same_files(const fs::path& a, const fs::path& b) {
  for (const auto& f : kFiles) {
    ASSERT_TRUE(fs::exists(a / f)) << (a / f);
    EXPECT_EQ(slurp(a / f), slurp(b / f)) << f;
  }
}

TEST(SweepCli, WritesItsFilesAndTheSameBytesForAnyJobs) {
  const fs::path dir = testing::scratch("sweep-cli-jobs");
  const std::string sc = testing::write_temp("cli-sweep.toml", kScenario);
  const auto one =
      shell(kBinary + " sweep " + sc + kAxes + " --jobs 1 --out " + (dir / "one").string(), dir);
  ASSERT_EQ(one.status, 0) << one.err;
  const auto two =
      shell(kBinary + " sweep " + sc + kAxes + " --jobs 2 --out " + (dir / "two").string(), dir);
  ASSERT_EQ(two.status, 0) << two.err;
  expect_same_files(dir / "one", dir / "two");
  EXPECT_NE(one.out.find("Pareto frontier"), std::string::npos) << one.out;
  // Not a terminal: no progress bar on stderr.
  EXPECT_EQ(one.err, "");
  const auto j = nlohmann::json::parse(slurp(dir / "one" / "sweep.json"));
  EXPECT_EQ(j["points"].size(), 12U);  // 6 rates x 2 batch caps
  EXPECT_EQ(j["knees"].size(), 2U);    // one per batch cap
}

TEST(SweepCli, ShardsMergeIntoTheSameFiles) {
  const fs::path dir = testing::scratch("sweep-cli-shards");
  const std::string sc = testing::write_temp("cli-sweep.toml", kScenario);
  ASSERT_EQ(
      shell(kBinary + " sweep " + sc + kAxes + " --out " + (dir / "whole").string(), dir).status,
      0);
  std::string shards;
  for (int i = 0; i < 3; ++i) {
    const fs::path d = dir / ("s" + std::to_string(i));
    const auto r = shell(kBinary + " sweep " + sc + kAxes + " --shard " + std::to_string(i) +
                             "/3 --out " + d.string(),
                         dir);
    ASSERT_EQ(r.status, 0) << r.err;
    shards += " " + d.string();
  }
  const auto m = shell(kBinary + " merge" + shards + " --out " + (dir / "merged").string(), dir);
  ASSERT_EQ(m.status, 0) << m.err;
  expect_same_files(dir / "whole", dir / "merged");
  // Two of the three shards are not the whole sweep.
  const auto partial = shell(kBinary + " merge " + (dir / "s0").string() + " " +
                                 (dir / "s2").string() + " --out " + (dir / "bad").string(),
                             dir);
  EXPECT_EQ(partial.status, 2);
  EXPECT_NE(partial.err.find("missing"), std::string::npos) << partial.err;
}

#ifdef SERVESIM_WITH_MPI
TEST(SweepCli, MpiRanksGiveTheSameFiles) {
  const fs::path dir = testing::scratch("sweep-cli-mpi");
  const std::string sc = testing::write_temp("cli-sweep.toml", kScenario);
  ASSERT_EQ(
      shell(kBinary + " sweep " + sc + kAxes + " --out " + (dir / "whole").string(), dir).status,
      0);
  // Two ranks on this machine; root may run them only when it says so.
  // Under the sanitizers (tests/fuzz/lsan.supp): Open MPI's plugins stay loaded and leaks
  // are unwound in full, so that those of Open MPI's own libraries match the suppressions;
  // without the sanitizers these two settings change nothing.
  const std::string sanitizer_env =
      "OMPI_MCA_mca_base_component_disable_dlclose=1 "
      "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0 ";
  const auto r = shell(sanitizer_env + "timeout 120 mpirun --allow-run-as-root --oversubscribe -n 2 " + kBinary +
                           " sweep " + sc + kAxes + " --jobs 1 --out " + (dir / "mpi").string(),
                       dir);
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  expect_same_files(dir / "whole", dir / "mpi");
}
#endif

TEST(SweepCli, PointsThatCannotRunStillMakeAReport) {
  // "fast" is no rate: that point's row carries the error, the others run, and the report
  // page leaves the failed row out of its plots.
  const fs::path dir = testing::scratch("sweep-cli-failed-point");
  const std::string sc = testing::write_temp("cli-sweep.toml", kScenario);
  const auto s = shell(kBinary + " sweep " + sc + " --vary workload.rate=1,2,fast --out " +
                           (dir / "s").string(), dir);
  ASSERT_EQ(s.status, 0) << s.err;
  EXPECT_NE(slurp(dir / "s" / "sweep.csv").find("workload.rate"), std::string::npos);
  const auto r = shell(kBinary + " report " + (dir / "s").string(), dir);
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST(SweepCli, OptionsMayComeBeforeTheScenario) {
  // Each --vary, --gpus or --tp takes one argument, so the scenario is not taken for a value.
  const fs::path dir = testing::scratch("sweep-cli-order");
  const std::string sc = testing::write_temp("cli-sweep.toml", kScenario);
  const auto s = shell(kBinary + " sweep --vary workload.rate=1,2 --set workload.requests=50 " +
                           sc + " --out " + (dir / "s").string(),
                       dir);
  EXPECT_EQ(s.status, 0) << s.err;
  const auto p = shell(
      kBinary + " plan --gpus h100-sxm --tp 1,2 " + sc + " --rate 2 --out " + (dir / "p").string(),
      dir);
  EXPECT_EQ(p.status, 0) << p.err;
}

TEST(SweepCli, BadInputExitsTwoWithWhatToChange) {
  const fs::path dir = testing::scratch("sweep-cli-bad");
  const std::string sc = testing::write_temp("cli-sweep.toml", kScenario);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {" sweep " + sc + " --vary workload.rate=1:8", "START:END:xFACTOR"},
      {" sweep " + sc + " --vary workload.rat=1,2", "rat"},
      {" sweep " + sc + " --vary workload.rate=1,2 --shard 2/2", "0 <= i < N"},
      {" sweep " + sc + " --vary workload.rate=1,2 --latency ttft.p42", "valid values"},
      {" sweep " + sc + " --vary workload.rate=1,2 --seeds 0", "--seeds"},
      {" sweep " + sc + " --vary workload.rate=-1:-1:+1", "must be above 0"},
      {" sweep " + sc + " --vary workload.rate=fast,slow", "must be a number"},
      // 5% and 6% of 80 GB do not hold Llama-3-8B's 16 GB of weights: every point fails.
      {" sweep " + sc + " --vary engine.gpu_memory_utilization=0.05,0.06 --out " +
           (dir / "none").string(),
       "no point of the sweep could run"},
      {" merge " + (dir / "nowhere").string() + " --out " + (dir / "o").string(), "no such file"},
      {" plan " + sc + " --rate 10 --slo ttft.p99", "metric.stat=time"},
      {" plan " + sc + " --rate 10 --price h100-sxm=cheap", "--price"},
      {" plan " + sc + " --rate 10 --gpus h100-sxm --price a100-80gb=2", "not among"},
      {" plan " + sc + " --rate 10 --gpus h900", "h900"},
  };
  for (const auto& [args, says] : cases) {
    const auto r = shell(kBinary + args, dir);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(says), std::string::npos) << args << "\n" << r.err;
  }
}

TEST(PlanCli, RanksCandidatesAndWritesItsFiles) {
  const fs::path dir = testing::scratch("plan-cli");
  const std::string sc = testing::write_temp("cli-sweep.toml", kScenario);
  const auto r = shell(kBinary + " plan " + sc + " --rate 12 --gpus h100-sxm,a100-80gb --tp 1,2 " +
                           "--price h100-sxm=4 --price a100-80gb=2 --out " + dir.string(),
                       dir);
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* f : {"plan.json", "plan.csv", "plan.svg"}) EXPECT_TRUE(fs::exists(dir / f)) << f;
  const auto j = nlohmann::json::parse(slurp(dir / "plan.json"));
  ASSERT_EQ(j["candidates"].size(), 4U);  // 2 GPUs x 2 tp
  EXPECT_EQ(j["ranked_by"], "cost_per_hour");
  double last = 0;
  for (const auto& c : j["candidates"]) {
    if (!c["feasible"].get<bool>()) continue;
    const double cost = c["cost_per_hour"].get<double>();
    EXPECT_LE(last, cost);  // cheapest first
    last = cost;
    // Each GPU costs its price per hour: 4 $ for an H100, 2 $ for an A100.
    const double price = c["gpu"] == "h100-sxm" ? 4.0 : 2.0;
    EXPECT_DOUBLE_EQ(cost, price * c["gpus"].get<double>());
  }
}

}  // namespace
}  // namespace servesim
