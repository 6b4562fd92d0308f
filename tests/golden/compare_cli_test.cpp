// servesim import | compare | fit | report end to end through the CLI: the contract's files
// and keys, and clear errors with exit code 2.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/test_util.hpp"

namespace servesim {
namespace {

namespace fs = std::filesystem;
const std::string kData = std::string(SERVESIM_TEST_DATA) + "/import/";

constexpr const char* kScenario = R"(
[model]
name = "llama-3-8b"
[hardware]
gpu = "h100-sxm"
[engine]
scheduler = "mixed"
[workload]
requests = 10
rate = 1
)";

TEST(CompareCli, ImportCompareReportAndTheContractKeys) {
  const fs::path dir = testing::scratch("compare-cli");
  const std::string scenario = testing::write_temp("compare-cli.toml", kScenario);
  const std::string bin = SERVESIM_BINARY;
  auto run = [&](const std::string& args) { return testing::shell(bin + " " + args, dir); };
  auto r = run(fmt::format("import {}vllm_detailed.json --out {}", kData, (dir / "m").string()));
  ASSERT_EQ(r.status, 0) << r.err;
  r = run(fmt::format("compare {} {} --out {}", (dir / "m").string(), scenario, (dir / "c").string()));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_HAS(r.out, "verdict: the worst metric is");
  const auto c = nlohmann::json::parse(testing::slurp(dir / "c" / "compare.json"));
  // {"metrics": {"ttft.p50": {"a", "b", "error"}, ...}, "worst": "<metric>"}, error = (b - a) / a.
  for (const char* m : {"ttft.mean", "ttft.p50", "ttft.p90", "ttft.p99", "tpot.p50", "itl.p99", "e2e.p99",
                        "throughput.output_tokens_per_s", "span_s"}) {
    ASSERT_TRUE(c["metrics"].contains(m)) << m;
    const auto& row = c["metrics"][m];
    const double a = row["a"], b = row["b"];
    EXPECT_NEAR(row["error"].get<double>(), (b - a) / a, 1e-12) << m;
    EXPECT_NEAR(row["change"].get<double>(), b - a, 1e-9 * std::max(1.0, std::abs(a))) << m;
  }
  // The fixture's measured TTFT P50: the median of {120, 150} ms.
  EXPECT_NEAR(c["metrics"]["ttft.p50"]["a"].get<double>(), 135.0, 1e-9);
  ASSERT_TRUE(c["worst"].is_string());
  EXPECT_TRUE(c["metrics"].contains(c["worst"].get<std::string>()));
  // Several seeds: each metric's seed-to-seed interval.
  r = run(fmt::format("compare {} {} --seeds 3 --json", (dir / "m").string(), scenario));
  ASSERT_EQ(r.status, 0) << r.err;
  const auto s = nlohmann::json::parse(r.out);
  EXPECT_EQ(s["seeds"], 3);
  EXPECT_TRUE(s["metrics"]["ttft.p50"].contains("b_interval_95"));
  // Two run folders: no replay, their summaries compared; a run with itself is all zeros.
  r = run(fmt::format("compare {0} {0} --json", (dir / "m").string()));
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json self = nlohmann::json::parse(r.out);
  for (const auto& [k, v] : self["metrics"].items()) EXPECT_EQ(v["error"], 0.0) << k;
  // The report of a compare folder overlays both runs.
  r = run(fmt::format("report {}", (dir / "c").string()));
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string html = testing::slurp(dir / "c" / "report.html");
  for (const char* id : {"compare-ttft-cdf", "compare-tpot-cdf", "compare-itl-cdf", "compare-ttft-by-prompt"}) {
    EXPECT_HAS(html, id);
  }
  EXPECT_HAS(html, "ttft.p50");
  // The legends say which run is which.
  EXPECT_HAS(html, "A: measured");
  EXPECT_HAS(html, "B: simulated");
}

TEST(CompareCli, AnImportedRunHasAReportPage) {
  // GuideLLM records no per-token times: the imported summary's ITL is null, and its page
  // has the other latencies.
  const fs::path dir = testing::scratch("import-report");
  const std::string bin = SERVESIM_BINARY;
  auto run = [&](const std::string& args) { return testing::shell(bin + " " + args, dir); };
  ASSERT_EQ(run(fmt::format("import {}guidellm_benchmarks.json --out {}", kData, (dir / "m").string())).status, 0);
  const auto r = run(fmt::format("report {}", (dir / "m").string()));
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string html = testing::slurp(dir / "m" / "report.html");
  EXPECT_HAS(html, "TTFT");
  EXPECT_HAS(html, "ttft-cdf");
  // A summary.json of the wrong shape (load a list) is a clear error, exit 2.
  std::string js = testing::slurp(dir / "m" / "summary.json");
  js.replace(js.find("\"load\": {"), 9, "\"load\": [1], \"x\": {");
  std::ofstream(dir / "m" / "summary.json") << js;
  const auto bad = run(fmt::format("report {}", (dir / "m").string()));
  EXPECT_EQ(bad.status, 2) << bad.err;
  EXPECT_HAS(bad.err, "does not have the shape servesim writes");
}

TEST(CompareCli, FitWritesAProfileThatRunTakes) {
  const fs::path dir = testing::scratch("fit-cli");
  std::string text = kScenario;
  text.replace(text.find("requests = 10"), 13, "requests = 60");
  const std::string scenario = testing::write_temp("fit-cli.toml", text);
  const std::string bin = SERVESIM_BINARY;
  auto run = [&](const std::string& args) { return testing::shell(bin + " " + args, dir); };
  ASSERT_EQ(run(fmt::format("run {} --set engine.step_time_scale=1.4 --out {}", scenario, (dir / "m").string())).status, 0);
  auto r = run(fmt::format("fit {} {} --params engine.step_time_scale --out {}", (dir / "m").string(), scenario,
                           (dir / "p.toml").string()));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_HAS(r.out, "engine.step_time_scale");
  EXPECT_HAS(r.out, "before");
  const std::string profile = testing::slurp(dir / "p.toml");
  // The planted 1.4, within 2%: 60 requests give a rugged objective (each request's place
  // against the iteration boundaries moves in steps as the scale changes).
  const auto at = profile.find("[engine]\nstep_time_scale = ");
  ASSERT_NE(at, std::string::npos) << profile;
  EXPECT_NEAR(std::stod(profile.substr(at + 27)), 1.4, 0.02 * 1.4) << profile;
  r = run(fmt::format("run {} --profile {} --json", scenario, (dir / "p.toml").string()));
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST(CompareCli, SweepAndPlanTakeAProfile) {
  const fs::path dir = testing::scratch("profile-cli");
  const std::string scenario = testing::write_temp("profile-cli.toml", kScenario);
  std::ofstream(dir / "slow.toml") << "[engine]\nstep_time_scale = 2.0\n";
  const std::string bin = SERVESIM_BINARY;
  auto run = [&](const std::string& args) { return testing::shell(bin + " " + args, dir); };
  auto e2e = [&](const std::string& profile) {
    const auto r = run(fmt::format("sweep {} --vary workload.rate=1,2 --json --out {}{}", scenario,
                                   (dir / ("s" + std::to_string(profile.size()))).string(), profile));
    EXPECT_EQ(r.status, 0) << r.err;
    return nlohmann::json::parse(r.out)["points"][0]["metrics"]["e2e_p50_ms"].get<double>();
  };
  // Twice the GPU time per step: E2E P50 grows (by less than 2x: the CPU overhead is not
  // scaled), and it does grow.
  const double base = e2e(""), slow = e2e(" --profile " + (dir / "slow.toml").string());
  EXPECT_GT(slow, 1.3 * base);
  EXPECT_LT(slow, 2.0 * base);
  // A slower engine sustains a lower rate per replica.
  auto per_replica = [&](const std::string& profile) {
    const auto r = run(fmt::format("plan {} --rate 2 --slo ttft.p99=500ms --json --out {}{}", scenario,
                                   (dir / ("p" + std::to_string(profile.size()))).string(), profile));
    EXPECT_EQ(r.status, 0) << r.err;
    return nlohmann::json::parse(r.out)["candidates"][0]["max_rate_per_replica"].get<double>();
  };
  EXPECT_LT(per_replica(" --profile " + (dir / "slow.toml").string()), per_replica(""));
}

TEST(CompareCli, BadInputExitsTwo) {
  const fs::path dir = testing::scratch("compare-bad");
  const std::string scenario = testing::write_temp("compare-bad.toml", kScenario);
  const std::string bin = SERVESIM_BINARY;
  auto run = [&](const std::string& args) { return testing::shell(bin + " " + args, dir); };
  auto r = run(fmt::format("compare {} {}", (dir / "nowhere").string(), scenario));
  EXPECT_EQ(r.status, 2);
  EXPECT_HAS(r.err, "no such folder");
  ASSERT_EQ(run(fmt::format("import {}genai_perf_export.json --out {}", kData, (dir / "g").string())).status, 0);
  r = run(fmt::format("compare {} {}", (dir / "g").string(), scenario));
  EXPECT_EQ(r.status, 2);
  EXPECT_HAS(r.err, "no token counts");
  ASSERT_EQ(run(fmt::format("import {}vllm_detailed.json --out {}", kData, (dir / "m").string())).status, 0);
  r = run(fmt::format("compare {} {} --seeds 0", (dir / "m").string(), scenario));
  EXPECT_EQ(r.status, 2);
  r = run(fmt::format("fit {} {} --params engine.gpu_memory_utilization --out x.toml", (dir / "m").string(), scenario));
  EXPECT_EQ(r.status, 2);
  EXPECT_HAS(r.err, "servesim fit can fit");
  r = run(fmt::format("fit {} --params engine.step_time_scale --out x.toml", (dir / "m").string()));
  EXPECT_EQ(r.status, 2);
}

}  // namespace
}  // namespace servesim
